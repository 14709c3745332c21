/* Histograms in TensorBoard 2.x's tensor form: [k,3] DT_DOUBLE rows of
   (left, right, count) over k equal-width buckets, bucketed as TensorBoard's
   own histogram summary does it. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../writer/writer_internal.h"
#include "encode.h"
#include <tbw/summary.h>

#define MAX_BUCKETS 65536

/*
 * Both element types share one body. Counting goes into 4 interleaved count
 * tables so that runs of equal bucket indices do not serialize on one memory
 * location; counts is 4*k zeroed uint32 (n < 2^32) or uint64 slots.
 */
#define DEFINE_BUCKETS(NAME, T, C)                                                                              \
    static void NAME(const T *x, size_t n, int k, double *out, C *counts, size_t *nonfinite_out)                \
    {                                                                                                           \
        size_t bad = 0;                                                                                         \
        double lo = INFINITY, hi = -INFINITY;                                                                   \
        for (size_t i = 0; i < n; i++) {                                                                        \
            double v = (double)x[i];                                                                            \
            bool ok = isfinite(v);                                                                              \
            bad += !ok;                                                                                         \
            lo = ok && v < lo ? v : lo;                                                                         \
            hi = ok && v > hi ? v : hi;                                                                         \
        }                                                                                                       \
        size_t good = n - bad;                                                                                  \
        memset(out, 0, (size_t)k * 3 * sizeof *out);                                                            \
        if (nonfinite_out)                                                                                      \
            *nonfinite_out = bad;                                                                               \
        if (good == 0)                                                                                          \
            return;                                                                                             \
        if (hi - lo == 0) {                                                                                     \
            for (int b = 0; b < k; b++) {                                                                       \
                out[b * 3] = lo;                                                                                \
                out[b * 3 + 1] = lo;                                                                            \
            }                                                                                                   \
            out[(k - 1) * 3 + 2] = (double)good;                                                                \
            return;                                                                                             \
        }                                                                                                       \
        double width = (hi - lo) / k;                                                                           \
        double last = (double)(k - 1);                                                                          \
        size_t i = 0;                                                                                           \
        for (; i + 4 <= n; i += 4) {                                                                            \
            for (int j = 0; j < 4; j++) {                                                                       \
                double v = (double)x[i + j];                                                                    \
                if (!isfinite(v))                                                                               \
                    continue;                                                                                   \
                double q = floor((v - lo) / width);                                                             \
                counts[(size_t)(q < last ? q : last) * 4 + j]++;                                                \
            }                                                                                                   \
        }                                                                                                       \
        for (; i < n; i++) {                                                                                    \
            double v = (double)x[i];                                                                            \
            if (!isfinite(v))                                                                                   \
                continue;                                                                                       \
            double q = floor((v - lo) / width);                                                                 \
            counts[(size_t)(q < last ? q : last) * 4]++;                                                        \
        }                                                                                                       \
        for (int b = 0; b < k; b++) {                                                                           \
            /* numpy.linspace: start + i * step, with the last edge exactly hi. */                              \
            out[b * 3] = lo + b * width;                                                                        \
            out[b * 3 + 1] = b == k - 1 ? hi : lo + (b + 1) * width;                                            \
            const C *c = counts + (size_t)b * 4;                                                                \
            out[b * 3 + 2] = (double)c[0] + (double)c[1] + (double)c[2] + (double)c[3];                         \
        }                                                                                                       \
    }

DEFINE_BUCKETS(buckets_f32_32, float, uint32_t)
DEFINE_BUCKETS(buckets_f64_32, double, uint32_t)
DEFINE_BUCKETS(buckets_f32_64, float, uint64_t)
DEFINE_BUCKETS(buckets_f64_64, double, uint64_t)

/* Buckets with scratch from the stack for the default size, the heap beyond. */
static int bucketize(const void *x, bool f64, size_t n, int k, double *out, size_t *nonfinite)
{
    bool wide = n > UINT32_MAX;
    uint32_t stack_counts[4 * 64];
    void *counts = stack_counts;
    if (k > 64 || wide) {
        counts = calloc((size_t)k * 4, wide ? sizeof(uint64_t) : sizeof(uint32_t));
        if (!counts)
            return TBW_ENOMEM;
    } else {
        memset(stack_counts, 0, sizeof stack_counts);
    }
    if (wide) {
        if (f64)
            buckets_f64_64(x, n, k, out, counts, nonfinite);
        else
            buckets_f32_64(x, n, k, out, counts, nonfinite);
    } else {
        if (f64)
            buckets_f64_32(x, n, k, out, counts, nonfinite);
        else
            buckets_f32_32(x, n, k, out, counts, nonfinite);
    }
    if (counts != stack_counts)
        free(counts);
    return TBW_OK;
}

int tbw_histogram_buckets_f32(const float *x, size_t n, int k, double *out, size_t *nonfinite)
{
    if ((n && !x) || !out || k < 1 || k > MAX_BUCKETS)
        return TBW_EINVAL;
    return bucketize(x, false, n, k, out, nonfinite);
}

int tbw_histogram_buckets_f64(const double *x, size_t n, int k, double *out, size_t *nonfinite)
{
    if ((n && !x) || !out || k < 1 || k > MAX_BUCKETS)
        return TBW_EINVAL;
    return bucketize(x, true, n, k, out, nonfinite);
}

static int write_histogram(tbw_writer *w, const char *tag, int64_t step, const void *x, bool f64, size_t n,
                           int buckets, size_t *nonfinite)
{
    int rc = tbw__check_tag(w, tag);
    if (rc)
        return rc;
    if (n && !x)
        return tbw__writer_fail(w, TBW_EINVAL, "histogram '%s': data is NULL with n=%zu", tag, n);
    int k = buckets ? buckets : TBW_HISTOGRAM_DEFAULT_BUCKETS;
    if (k < 1 || k > MAX_BUCKETS)
        return tbw__writer_fail(w, TBW_EINVAL, "histogram '%s': bucket count %d is outside 1..%d", tag, buckets,
                                MAX_BUCKETS);
    double stack_rows[TBW_HISTOGRAM_DEFAULT_BUCKETS * 3];
    double *rows = k <= TBW_HISTOGRAM_DEFAULT_BUCKETS ? stack_rows : malloc((size_t)k * 3 * sizeof *rows);
    if (!rows)
        return tbw__writer_fail(w, TBW_ENOMEM, "histogram '%s': out of memory for %d buckets", tag, k);
    rc = bucketize(x, f64, n, k, rows, nonfinite);
    if (rc) {
        if (rows != stack_rows)
            free(rows);
        return tbw__writer_fail(w, rc, "histogram '%s': out of memory for %d buckets", tag, k);
    }

    Tensorboard__TensorShapeProto__Dim d0 = TENSORBOARD__TENSOR_SHAPE_PROTO__DIM__INIT;
    Tensorboard__TensorShapeProto__Dim d1 = TENSORBOARD__TENSOR_SHAPE_PROTO__DIM__INIT;
    Tensorboard__TensorShapeProto__Dim *dims[2] = {&d0, &d1};
    d0.size = k;
    d1.size = 3;
    Tensorboard__TensorShapeProto shape = TENSORBOARD__TENSOR_SHAPE_PROTO__INIT;
    shape.n_dim = 2;
    shape.dim = dims;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_DOUBLE;
    t.tensor_shape = &shape;
    t.tensor_content.data = (uint8_t *)rows; /* little-endian doubles on every supported target */
    t.tensor_content.len = (size_t)k * 3 * sizeof(double);
    tbw__meta meta;
    tbw__meta_make(&meta, "histograms", NULL, 0);
    rc = tbw__write_tensor(w, tag, step, &t, &meta);
    if (rows != stack_rows)
        free(rows);
    return rc;
}

int tbw_histogram(tbw_writer *w, const char *tag, int64_t step, const float *x, size_t n, int buckets,
                  size_t *nonfinite)
{
    return write_histogram(w, tag, step, x, false, n, buckets, nonfinite);
}

int tbw_histogram_f64(tbw_writer *w, const char *tag, int64_t step, const double *x, size_t n, int buckets,
                      size_t *nonfinite)
{
    return write_histogram(w, tag, step, x, true, n, buckets, nonfinite);
}
