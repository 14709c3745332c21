/* Histograms in TensorBoard 2.x's tensor form: [k,3] DT_DOUBLE rows of
   (left, right, count) over k equal-width buckets, bucketed as TensorBoard's
   own histogram summary does it. */
/* The min/max and counting loops are worth full vectorization (GCC; clang vectorizes at -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cpu.h"
#include "../writer/writer_internal.h"
#include "encode.h"
#include <tbw/summary.h>

#define MAX_BUCKETS 65536

/*
 * Both element types share one body. The minimum/maximum pass is written
 * branch-free so it vectorizes. The counting pass multiplies by the
 * reciprocal of the bucket width and falls back to TensorBoard's exact
 * division only when the quotient lies within 1e-6 of a bucket edge, where
 * the two could round apart; so the buckets equal TensorBoard's bit for bit.
 * Counts go into 4 interleaved tables so that runs of one bucket index do not
 * serialize on one memory location; counts is 4*k zeroed slots.
 */
/*
 * Bucket edges follow numpy.linspace over [lo, hi] in float64. Two double ranges need care, and
 * float data never reaches either: hi - lo can overflow (-1e308..1e308), so the arithmetic then runs
 * on halved values, which is exact and keeps every edge finite; and the bucket width can be
 * subnormal, so its reciprocal overflows, and each index then comes from a division. Indices are
 * clamped as doubles before the conversion, which is undefined for values out of range.
 * Returns TBW_ERANGE only when the width rounds to 0 (a range of a few subnormals).
 */
#define DEFINE_BUCKETS(NAME, T, C)                                                                              \
    static int NAME(const T *x, size_t n, int k, double *out, C *counts, size_t *nonfinite_out)                 \
    {                                                                                                           \
        size_t bad = 0;                                                                                         \
        T lo_t = (T)INFINITY, hi_t = (T)-INFINITY;                                                              \
        for (size_t i = 0; i < n; i++) {                                                                        \
            T v = x[i];                                                                                         \
            T d = v - v; /* 0 for finite values, NaN for NaN and +-Inf */                                       \
            bool ok = d == d;                                                                                   \
            bad += !ok;                                                                                         \
            T vl = ok ? v : (T)INFINITY;                                                                        \
            T vh = ok ? v : (T)-INFINITY;                                                                       \
            lo_t = vl < lo_t ? vl : lo_t;                                                                       \
            hi_t = vh > hi_t ? vh : hi_t;                                                                       \
        }                                                                                                       \
        double lo = (double)lo_t, hi = (double)hi_t;                                                            \
        size_t good = n - bad;                                                                                  \
        memset(out, 0, (size_t)k * 3 * sizeof *out);                                                            \
        if (nonfinite_out)                                                                                      \
            *nonfinite_out = bad;                                                                               \
        if (good == 0)                                                                                          \
            return TBW_OK;                                                                                      \
        if (hi - lo == 0) {                                                                                     \
            for (int b = 0; b < k; b++) {                                                                       \
                out[b * 3] = lo;                                                                                \
                out[b * 3 + 1] = lo;                                                                            \
            }                                                                                                   \
            out[(k - 1) * 3 + 2] = (double)good;                                                                \
            return TBW_OK;                                                                                      \
        }                                                                                                       \
        double scale = isfinite(hi - lo) ? 1.0 : 0.5;                                                           \
        double los = lo * scale;                                                                                \
        double width = (hi * scale - los) / k;                                                                  \
        if (!(width > 0))                                                                                       \
            return TBW_ERANGE;                                                                                  \
        double inv = 1.0 / width;                                                                               \
        bool divide = !isfinite(inv);                                                                           \
        int32_t last = k - 1;                                                                                   \
        for (size_t i = 0; i < n; i++) {                                                                        \
            double v = (double)x[i];                                                                            \
            if (!(v - v == 0))                                                                                  \
                continue;                                                                                       \
            double off = v * scale - los; /* >= 0, so truncation is floor */                                    \
            double q = divide ? off / width : off * inv;                                                        \
            int32_t b = q < (double)last ? (int32_t)q : last;                                                   \
            double frac = q - (double)b;                                                                        \
            if ((frac < 1e-6 || frac > 1.0 - 1e-6) && off != 0) {                                              \
                double qd = off / width;                                                                        \
                b = qd < (double)last ? (int32_t)qd : last;                                                     \
            }                                                                                                   \
            counts[(size_t)b * 4 + (i & 3)]++;                                                                  \
        }                                                                                                       \
        for (int b = 0; b < k; b++) {                                                                           \
            /* numpy.linspace: start + i * step, with the last edge exactly hi. */                              \
            out[b * 3] = (los + b * width) / scale;                                                             \
            out[b * 3 + 1] = b == k - 1 ? hi : (los + (b + 1) * width) / scale;                                 \
            const C *c = counts + (size_t)b * 4;                                                                \
            out[b * 3 + 2] = (double)c[0] + (double)c[1] + (double)c[2] + (double)c[3];                         \
        }                                                                                                       \
        return TBW_OK;                                                                                          \
    }

#if defined(__SSE2__)
#include <emmintrin.h>

/* The vector loops' last floats (from i on, fewer than a vector) folded into their lo, hi and count. */
static inline size_t minmax_tail(const float *x, size_t i, size_t n, float lo, float hi, size_t good, float *lo_out,
                                 float *hi_out)
{
    for (; i < n; i++) {
        float v = x[i];
        if (v - v == 0) {
            good++;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    *lo_out = lo;
    *hi_out = hi;
    return good;
}

/* The lanes' minima, maxima and counts (nl of each, in lane order), then the last floats. */
static inline size_t minmax_lanes(const float *l, const float *h, const uint32_t *c, int nl, const float *x,
                                  size_t i, size_t n, float *lo_out, float *hi_out)
{
    float lo = INFINITY, hi = -INFINITY;
    size_t good = 0;
    for (int j = 0; j < nl; j++) {
        lo = l[j] < lo ? l[j] : lo;
        hi = h[j] > hi ? h[j] : hi;
        good += c[j];
    }
    return minmax_tail(x, i, n, lo, hi, good, lo_out, hi_out);
}

/* Finite minimum, maximum and count of float data, 8 lanes in flight. */
static size_t minmax_f32_sse2(const float *x, size_t n, float *lo_out, float *hi_out)
{
    const __m128 pinf = _mm_set1_ps(INFINITY), ninf = _mm_set1_ps(-INFINITY);
    __m128 lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
    __m128i ok0 = _mm_setzero_si128(), ok1 = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
        __m128 ma = _mm_sub_ps(a, a), mb = _mm_sub_ps(b, b);
        ma = _mm_cmpeq_ps(ma, ma); /* all ones where finite */
        mb = _mm_cmpeq_ps(mb, mb);
        lo0 = _mm_min_ps(_mm_or_ps(_mm_and_ps(ma, a), _mm_andnot_ps(ma, pinf)), lo0);
        lo1 = _mm_min_ps(_mm_or_ps(_mm_and_ps(mb, b), _mm_andnot_ps(mb, pinf)), lo1);
        hi0 = _mm_max_ps(_mm_or_ps(_mm_and_ps(ma, a), _mm_andnot_ps(ma, ninf)), hi0);
        hi1 = _mm_max_ps(_mm_or_ps(_mm_and_ps(mb, b), _mm_andnot_ps(mb, ninf)), hi1);
        ok0 = _mm_sub_epi32(ok0, _mm_castps_si128(ma));
        ok1 = _mm_sub_epi32(ok1, _mm_castps_si128(mb));
    }
    float l[8], h[8];
    uint32_t c[8];
    _mm_storeu_ps(l, lo0);
    _mm_storeu_ps(l + 4, lo1);
    _mm_storeu_ps(h, hi0);
    _mm_storeu_ps(h + 4, hi1);
    _mm_storeu_si128((__m128i *)c, ok0);
    _mm_storeu_si128((__m128i *)(c + 4), ok1);
    return minmax_lanes(l, h, c, 8, x, i, n, lo_out, hi_out);
}

/* Lanes of e whose bit is set in edge (lane j, bit j) take TensorBoard's exact float64 division. */
static inline void exact_edges(int32_t *e, unsigned edge, const float *xs, double lo, double width)
{
    for (int j = 0; edge; j++, edge >>= 1)
        if (edge & 1)
            e[j] = (int32_t)(((double)xs[j] - lo) / width);
}

/*
 * Bucket indices of 4 floats at a time in float64, as TensorBoard computes
 * them; lanes that are not finite go to the spare slot k. Lanes whose
 * quotient is within 1e-6 of an edge are redone with the exact division.
 */
static void count_f32_sse2(const float *x, size_t n, double lo, double width, int k, uint32_t *counts)
{
    const __m128d vlo = _mm_set1_pd(lo), vinv = _mm_set1_pd(1.0 / width);
    const __m128d eps = _mm_set1_pd(1e-6), one_m = _mm_set1_pd(1.0 - 1e-6);
    const int last = k - 1;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 f = _mm_loadu_ps(x + i);
        __m128 fin = _mm_sub_ps(f, f);
        int finite = _mm_movemask_ps(_mm_cmpeq_ps(fin, fin));
        f = _mm_and_ps(f, _mm_cmpeq_ps(fin, fin)); /* non-finite lanes become 0 for the arithmetic */
        __m128d d0 = _mm_cvtps_pd(f), d1 = _mm_cvtps_pd(_mm_movehl_ps(f, f));
        __m128d o0 = _mm_sub_pd(d0, vlo), o1 = _mm_sub_pd(d1, vlo);
        __m128d q0 = _mm_mul_pd(o0, vinv), q1 = _mm_mul_pd(o1, vinv);
        __m128i b0 = _mm_cvttpd_epi32(q0), b1 = _mm_cvttpd_epi32(q1);
        __m128d r0 = _mm_sub_pd(q0, _mm_cvtepi32_pd(b0)), r1 = _mm_sub_pd(q1, _mm_cvtepi32_pd(b1));
        /* an offset of exactly 0 (the minimum: every zero of a ReLU output) is bucket 0 either way */
        const __m128d zero = _mm_setzero_pd();
        int edge = _mm_movemask_pd(_mm_and_pd(_mm_or_pd(_mm_cmplt_pd(r0, eps), _mm_cmpgt_pd(r0, one_m)),
                                              _mm_cmpneq_pd(o0, zero))) |
                   _mm_movemask_pd(_mm_and_pd(_mm_or_pd(_mm_cmplt_pd(r1, eps), _mm_cmpgt_pd(r1, one_m)),
                                              _mm_cmpneq_pd(o1, zero)))
                       << 2;
        int32_t idx[4];
        idx[0] = _mm_cvtsi128_si32(b0);
        idx[1] = _mm_cvtsi128_si32(_mm_srli_si128(b0, 4));
        idx[2] = _mm_cvtsi128_si32(b1);
        idx[3] = _mm_cvtsi128_si32(_mm_srli_si128(b1, 4));
        exact_edges(idx, (unsigned)(edge & finite), x + i, lo, width);
        for (int j = 0; j < 4; j++) {
            int32_t b = idx[j] < last ? idx[j] : last;
            b = (finite >> j & 1) ? b : k;
            counts[(size_t)b * 4 + (size_t)j]++;
        }
    }
    for (; i < n; i++) {
        double v = (double)x[i];
        if (!(v - v == 0))
            continue;
        int32_t b = (int32_t)((v - lo) / width);
        counts[(size_t)(b < last ? b : last) * 4]++;
    }
}
#endif


#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* count_f32_sse2 with 4 doubles per instruction, on CPUs that have AVX2. */
__attribute__((target("avx2"))) static void count_f32_avx2(const float *x, size_t n, double lo, double width, int k,
                                                            uint32_t *counts)
{
    const __m256d vlo = _mm256_set1_pd(lo), vinv = _mm256_set1_pd(1.0 / width);
    const __m256d eps = _mm256_set1_pd(1e-6), one_m = _mm256_set1_pd(1.0 - 1e-6);
    const __m128i vlast = _mm_set1_epi32(k - 1), vk = _mm_set1_epi32(k);
    const __m128i lane = _mm_setr_epi32(0, 1, 2, 3);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 f = _mm_loadu_ps(x + i);
        __m128 fin = _mm_sub_ps(f, f);
        __m128 okm = _mm_cmpeq_ps(fin, fin);
        f = _mm_and_ps(f, okm);
        __m256d o = _mm256_sub_pd(_mm256_cvtps_pd(f), vlo);
        __m256d q = _mm256_mul_pd(o, vinv);
        __m128i b = _mm256_cvttpd_epi32(q);
        __m256d r = _mm256_sub_pd(q, _mm256_cvtepi32_pd(b));
        /* an offset of exactly 0 (the minimum: every zero of a ReLU output) is bucket 0 either way,
         * so it skips the exact division that edges take */
        int edge = _mm256_movemask_pd(
            _mm256_and_pd(_mm256_or_pd(_mm256_cmp_pd(r, eps, _CMP_LT_OQ), _mm256_cmp_pd(r, one_m, _CMP_GT_OQ)),
                          _mm256_cmp_pd(o, _mm256_setzero_pd(), _CMP_NEQ_OQ)));
        int finite = _mm_movemask_ps(okm);
        if (edge & finite) {
            int32_t idx[4];
            _mm_storeu_si128((__m128i *)idx, b);
            exact_edges(idx, (unsigned)(edge & finite), x + i, lo, width);
            b = _mm_loadu_si128((const __m128i *)idx);
        }
        b = _mm_min_epi32(b, vlast);
        b = _mm_blendv_epi8(vk, b, _mm_castps_si128(okm));
        __m128i slot = _mm_add_epi32(_mm_slli_epi32(b, 2), lane);
        uint32_t sl[4];
        _mm_storeu_si128((__m128i *)sl, slot);
        counts[sl[0]]++;
        counts[sl[1]]++;
        counts[sl[2]]++;
        counts[sl[3]]++;
    }
    const int last = k - 1;
    for (; i < n; i++) {
        double v = (double)x[i];
        if (!(v - v == 0))
            continue;
        int32_t b = (int32_t)((v - lo) / width);
        counts[(size_t)(b < last ? b : last) * 4]++;
    }
}

/* The bucket indices of 4 floats (k for lanes that are not finite), as count_f32_avx2 computes them. */
__attribute__((target("avx2"))) static inline __m128i index4_avx2(const float *x, __m256d vlo, __m256d vinv,
                                                                   double lo, double width, __m128i vlast,
                                                                   __m128i vk)
{
    const __m256d eps = _mm256_set1_pd(1e-6), one_m = _mm256_set1_pd(1.0 - 1e-6);
    __m128 f = _mm_loadu_ps(x);
    __m128 fin = _mm_sub_ps(f, f);
    __m128 okm = _mm_cmpeq_ps(fin, fin);
    f = _mm_and_ps(f, okm);
    __m256d o = _mm256_sub_pd(_mm256_cvtps_pd(f), vlo);
    __m256d q = _mm256_mul_pd(o, vinv);
    __m128i b = _mm256_cvttpd_epi32(q);
    __m256d r = _mm256_sub_pd(q, _mm256_cvtepi32_pd(b));
    int edge = _mm256_movemask_pd(
        _mm256_and_pd(_mm256_or_pd(_mm256_cmp_pd(r, eps, _CMP_LT_OQ), _mm256_cmp_pd(r, one_m, _CMP_GT_OQ)),
                      _mm256_cmp_pd(o, _mm256_setzero_pd(), _CMP_NEQ_OQ))) &
               _mm_movemask_ps(okm);
    if (edge) {
        int32_t idx[4];
        _mm_storeu_si128((__m128i *)idx, b);
        exact_edges(idx, (unsigned)edge, x, lo, width);
        b = _mm_loadu_si128((const __m128i *)idx);
    }
    b = _mm_min_epi32(b, vlast);
    return _mm_blendv_epi8(vk, b, _mm_castps_si128(okm));
}

/* The indices of a block's last floats (from i to m, fewer than a vector), for up to 255 buckets. */
static inline void tail_indices(const float *xs, size_t i, size_t m, double lo, double width, int k, uint8_t *idx)
{
    const int last = k - 1;
    for (; i < m; i++) {
        double v = (double)xs[i];
        int32_t b = k;
        if (v - v == 0) {
            double q = (v - lo) / width;
            b = q < (double)last ? (int32_t)q : last;
        }
        idx[i] = (uint8_t)b;
    }
}

/* Every index of a block counted (idx[j] <= k), spread over 8 tables so that runs of one bucket (the
   zeros of a ReLU output) do not wait on each other's increments. */
static inline void count_bytes(const uint8_t *idx, size_t m, int k, uint32_t (*t)[256])
{
    (void)k;
    size_t j = 0;
    for (; j + 8 <= m; j += 8)
        for (int l = 0; l < 8; l++)
            t[l][idx[j + (size_t)l]]++;
    for (; j < m; j++)
        t[j & 7][idx[j]]++;
}

/* The 8 tables into the caller's 4 interleaved ones (slot k holds what was not finite). */
static inline void merge_tables(uint32_t (*t)[256], int k, uint32_t *counts)
{
    for (int b = 0; b <= k; b++)
        for (int l = 0; l < 8; l++)
            counts[(size_t)b * 4 + (size_t)(l & 3)] += t[l][b];
}

/*
 * count_f32_avx2 for up to 255 buckets (the default is 30), in two passes over blocks that stay in
 * L1: the indices of 8 floats at a time into a byte array, then the counting (count_bytes).
 */
#define INDEX_BLOCK 4096
/* The block loop of the byte-index kernels: the statement given stores the bucket indices of
   xs[i..i+8) at idx + i (k where not finite); tail_indices, COUNT (count_bytes or one like it) and
   merge_tables do the rest. It uses the kernel's arguments x, n, lo, width, k and counts by name. */
#define BLOCKED_COUNT(COUNT, ...)                                                                              \
    do {                                                                                                       \
        uint32_t t[8][256];                                                                                    \
        memset(t, 0, sizeof t);                                                                                \
        uint8_t idx[INDEX_BLOCK];                                                                              \
        for (size_t base = 0; base < n; base += INDEX_BLOCK) {                                                 \
            const float *xs = x + base;                                                                        \
            size_t m = n - base < INDEX_BLOCK ? n - base : INDEX_BLOCK;                                        \
            size_t i = 0;                                                                                      \
            for (; i + 8 <= m; i += 8)                                                                         \
                __VA_ARGS__                                                                                    \
            tail_indices(xs, i, m, lo, width, k, idx);                                                         \
            COUNT(idx, m, k, t);                                                                               \
        }                                                                                                      \
        merge_tables(t, k, counts);                                                                            \
    } while (0)
__attribute__((target("avx2"))) static void count_f32_avx2_small(const float *x, size_t n, double lo, double width,
                                                                  int k, uint32_t *counts)
{
    const __m256d vlo = _mm256_set1_pd(lo), vinv = _mm256_set1_pd(1.0 / width);
    const __m128i vlast = _mm_set1_epi32(k - 1), vk = _mm_set1_epi32(k);
    BLOCKED_COUNT(count_bytes, {
        __m128i b0 = index4_avx2(xs + i, vlo, vinv, lo, width, vlast, vk);
        __m128i b1 = index4_avx2(xs + i + 4, vlo, vinv, lo, width, vlast, vk);
        __m128i w16 = _mm_packus_epi32(b0, b1); /* 0..255 fit unchanged */
        _mm_storel_epi64((__m128i *)(idx + i), _mm_packus_epi16(w16, w16));
    });
}
#define HAVE_AVX2_PATH 1

/*
 * count_bytes for up to 31 buckets (and the non-finite slot), with compares instead of increments:
 * per 32 indices and bucket one compare and one subtract into byte counters, 8 buckets at a time,
 * so a run of one bucket costs what any other data does. A block of INDEX_BLOCK indices is at most
 * 128 steps, so no byte counter wraps before the block's sums are taken.
 */
__attribute__((target("avx2"))) static void count_bytes_avx2(const uint8_t *idx, size_t m, int k,
                                                             uint32_t (*t)[256])
{
    _Static_assert(INDEX_BLOCK / 32 <= 255, "byte counters would wrap within a block");
    if (k >= 32) {
        count_bytes(idx, m, k, t);
        return;
    }
    const size_t m32 = m & ~(size_t)31;
    for (int b0 = 0; b0 <= k; b0 += 8) {
        __m256i acc[8];
        for (int q = 0; q < 8; q++)
            acc[q] = _mm256_setzero_si256();
        for (size_t j = 0; j < m32; j += 32) {
            __m256i c = _mm256_loadu_si256((const __m256i *)(idx + j));
            for (int q = 0; q < 8; q++)
                acc[q] = _mm256_sub_epi8(acc[q], _mm256_cmpeq_epi8(c, _mm256_set1_epi8((char)(b0 + q))));
        }
        for (int q = 0; q < 8 && b0 + q <= k; q++) {
            __m256i sums = _mm256_sad_epu8(acc[q], _mm256_setzero_si256()); /* four 64-bit sums */
            __m128i two = _mm_add_epi64(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
            t[0][b0 + q] += (uint32_t)(_mm_cvtsi128_si64(two) + _mm_extract_epi64(two, 1));
        }
    }
    for (size_t j = m32; j < m; j++)
        t[j & 7][idx[j]]++;
}

/*
 * count_f32_avx2_small with the quotient in float32, 8 lanes per instruction instead of 4. Used
 * only where that is safe (f32_index_ok): the range and the reciprocal of the width are normal
 * floats, so each rounding (the offset, the reciprocal, the product) moves the quotient by at most
 * 2^-24 of itself, under 5e-5 of a bucket for k <= 255. Lanes whose quotient lies within
 * F32_EDGE (2.4e-4) of an edge take TensorBoard's exact float64 division, as in the other kernels,
 * so the buckets stay the same bit for bit.
 */
#define F32_EDGE (1.0f / 4096.0f)
__attribute__((target("avx2"))) static void count_f32_avx2_f32(const float *x, size_t n, double lo, double width,
                                                                int k, uint32_t *counts)
{
    const __m256 vlo = _mm256_set1_ps((float)lo), vinv = _mm256_set1_ps((float)(1.0 / width));
    const __m256 eps = _mm256_set1_ps(F32_EDGE), one_m = _mm256_set1_ps(1.0f - F32_EDGE);
    const __m256 zero = _mm256_setzero_ps();
    const __m256i vlast = _mm256_set1_epi32(k - 1), vk = _mm256_set1_epi32(k);
    BLOCKED_COUNT(count_bytes_avx2, {
        __m256 f = _mm256_loadu_ps(xs + i);
        __m256 fin = _mm256_sub_ps(f, f);
        __m256 ok = _mm256_cmp_ps(fin, fin, _CMP_EQ_OQ);
        __m256 o = _mm256_sub_ps(_mm256_blendv_ps(vlo, f, ok), vlo); /* not finite: offset 0 */
        __m256 q = _mm256_mul_ps(o, vinv);
        __m256i b = _mm256_cvttps_epi32(q);
        __m256 r = _mm256_sub_ps(q, _mm256_cvtepi32_ps(b));
        int edge = _mm256_movemask_ps(
            _mm256_and_ps(_mm256_or_ps(_mm256_cmp_ps(r, eps, _CMP_LT_OQ), _mm256_cmp_ps(r, one_m, _CMP_GT_OQ)),
                          _mm256_cmp_ps(o, zero, _CMP_NEQ_OQ)));
        if (edge) {
            int32_t e[8];
            _mm256_storeu_si256((__m256i *)e, b);
            exact_edges(e, (unsigned)edge, xs + i, lo, width);
            b = _mm256_loadu_si256((const __m256i *)e);
        }
        b = _mm256_blendv_epi8(vk, _mm256_min_epi32(b, vlast), _mm256_castps_si256(ok));
        __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
        _mm_storel_epi64((__m128i *)(idx + i), _mm_packus_epi16(w16, w16));
    });
}

/* Whether count_f32_avx2_f32 gives the exact buckets of [lo_f, hi_f] in k (see there). */
static bool f32_index_ok(float lo_f, float hi_f, double width, int k)
{
    float span = hi_f - lo_f, inv = (float)(1.0 / width);
    return k <= 255 && isnormal(span) && isnormal(inv);
}

/* minmax_f32_sse2 with 8 lanes per instruction, 16 in flight. */
__attribute__((target("avx2"))) static size_t minmax_f32_avx2(const float *x, size_t n, float *lo_out,
                                                               float *hi_out)
{
    const __m256 pinf = _mm256_set1_ps(INFINITY), ninf = _mm256_set1_ps(-INFINITY);
    __m256 lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
    __m256i ok0 = _mm256_setzero_si256(), ok1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        __m256 da = _mm256_sub_ps(a, a), db = _mm256_sub_ps(b, b);
        __m256 ma = _mm256_cmp_ps(da, da, _CMP_EQ_OQ), mb = _mm256_cmp_ps(db, db, _CMP_EQ_OQ);
        /* operands in the SSE2 loop's order, so ties (-0 and +0) resolve alike */
        lo0 = _mm256_min_ps(_mm256_blendv_ps(pinf, a, ma), lo0);
        lo1 = _mm256_min_ps(_mm256_blendv_ps(pinf, b, mb), lo1);
        hi0 = _mm256_max_ps(_mm256_blendv_ps(ninf, a, ma), hi0);
        hi1 = _mm256_max_ps(_mm256_blendv_ps(ninf, b, mb), hi1);
        ok0 = _mm256_sub_epi32(ok0, _mm256_castps_si256(ma));
        ok1 = _mm256_sub_epi32(ok1, _mm256_castps_si256(mb));
    }
    float l[16], h[16];
    uint32_t c[16];
    _mm256_storeu_ps(l, lo0);
    _mm256_storeu_ps(l + 8, lo1);
    _mm256_storeu_ps(h, hi0);
    _mm256_storeu_ps(h + 8, hi1);
    _mm256_storeu_si256((__m256i *)c, ok0);
    _mm256_storeu_si256((__m256i *)(c + 8), ok1);
    return minmax_lanes(l, h, c, 16, x, i, n, lo_out, hi_out);
}

/* count_f32_avx2_small with 8 doubles per instruction and mask registers, on CPUs with AVX-512. */
__attribute__((target("avx512f,avx512vl,avx512bw"))) static void count_f32_avx512_small(const float *x, size_t n,
                                                                                        double lo, double width,
                                                                                        int k, uint32_t *counts)
{
    const __m512d vlo = _mm512_set1_pd(lo), vinv = _mm512_set1_pd(1.0 / width);
    const __m512d eps = _mm512_set1_pd(1e-6), one_m = _mm512_set1_pd(1.0 - 1e-6), zero = _mm512_setzero_pd();
    const __m256i vlast = _mm256_set1_epi32(k - 1), vk = _mm256_set1_epi32(k);
    BLOCKED_COUNT(count_bytes, {
        __m256 f = _mm256_loadu_ps(xs + i);
        __m256 fin = _mm256_sub_ps(f, f);
        __mmask8 ok = _mm256_cmp_ps_mask(fin, fin, _CMP_EQ_OQ);
        __m512d o = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_maskz_mov_ps(ok, f)), vlo);
        __m512d q = _mm512_mul_pd(o, vinv);
        __m256i b = _mm512_cvttpd_epi32(q);
        __m512d r = _mm512_sub_pd(q, _mm512_cvtepi32_pd(b));
        __mmask8 edge = (__mmask8)((_mm512_cmp_pd_mask(r, eps, _CMP_LT_OQ) | _mm512_cmp_pd_mask(r, one_m, _CMP_GT_OQ)) &
                                   _mm512_cmp_pd_mask(o, zero, _CMP_NEQ_OQ) & ok);
        if (edge) {
            int32_t e[8];
            _mm256_storeu_si256((__m256i *)e, b);
            exact_edges(e, (unsigned)edge, xs + i, lo, width);
            b = _mm256_loadu_si256((const __m256i *)e);
        }
        b = _mm256_mask_blend_epi32(ok, vk, _mm256_min_epi32(b, vlast));
        _mm_storel_epi64((__m128i *)(idx + i), _mm256_cvtepi32_epi8(b));
    });
}

/* minmax_f32_sse2 with 16 lanes and mask registers. */
__attribute__((target("avx512f,avx512vl,avx512bw"))) static size_t minmax_f32_avx512(const float *x, size_t n,
                                                                                    float *lo_out, float *hi_out)
{
    const __m512 pinf = _mm512_set1_ps(INFINITY), ninf = _mm512_set1_ps(-INFINITY);
    __m512 lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
    size_t good = 0, i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        __m512 da = _mm512_sub_ps(a, a), db = _mm512_sub_ps(b, b);
        __mmask16 ma = _mm512_cmp_ps_mask(da, da, _CMP_EQ_OQ), mb = _mm512_cmp_ps_mask(db, db, _CMP_EQ_OQ);
        /* operands in the SSE2 loop's order, so ties (-0 and +0) resolve alike */
        lo0 = _mm512_mask_min_ps(lo0, ma, a, lo0);
        hi0 = _mm512_mask_max_ps(hi0, ma, a, hi0);
        lo1 = _mm512_mask_min_ps(lo1, mb, b, lo1);
        hi1 = _mm512_mask_max_ps(hi1, mb, b, hi1);
        good += (size_t)__builtin_popcount(ma) + (size_t)__builtin_popcount(mb);
    }
    float lo = _mm512_reduce_min_ps(_mm512_min_ps(lo0, lo1)), hi = _mm512_reduce_max_ps(_mm512_max_ps(hi0, hi1));
    return minmax_tail(x, i, n, lo, hi, good, lo_out, hi_out);
}
#define HAVE_AVX512_PATH 1
#endif

#if !defined(__SSE2__)
DEFINE_BUCKETS(buckets_f32_32, float, uint32_t)
#endif
DEFINE_BUCKETS(buckets_f64_32, double, uint32_t)
DEFINE_BUCKETS(buckets_f32_64, float, uint64_t)
DEFINE_BUCKETS(buckets_f64_64, double, uint64_t)

#if defined(__SSE2__)
/* The float path most callers take (weights and activations), hand-vectorized. */
static void buckets_f32_sse2(const float *x, size_t n, int k, double *out, uint32_t *counts, size_t *nonfinite_out)
{
    float lo_f, hi_f;
#ifdef HAVE_AVX512_PATH
    bool wide = tbw__cpu_avx512(), avx2 = tbw__cpu_avx2();
    size_t good = wide   ? minmax_f32_avx512(x, n, &lo_f, &hi_f)
                  : avx2 ? minmax_f32_avx2(x, n, &lo_f, &hi_f)
                         : minmax_f32_sse2(x, n, &lo_f, &hi_f);
#else
    size_t good = minmax_f32_sse2(x, n, &lo_f, &hi_f);
#endif
    double lo = lo_f, hi = hi_f;
    memset(out, 0, (size_t)k * 3 * sizeof *out);
    if (nonfinite_out)
        *nonfinite_out = n - good;
    if (good == 0)
        return;
    if (hi - lo == 0) {
        for (int b = 0; b < k; b++) {
            out[b * 3] = lo;
            out[b * 3 + 1] = lo;
        }
        out[(k - 1) * 3 + 2] = (double)good;
        return;
    }
    double width = (hi - lo) / k;
#ifdef HAVE_AVX2_PATH
    if (k <= 255 && wide)
        count_f32_avx512_small(x, n, lo, width, k, counts);
    else if (avx2 && f32_index_ok(lo_f, hi_f, width, k))
        count_f32_avx2_f32(x, n, lo, width, k, counts);
    else if (avx2 && k <= 255)
        count_f32_avx2_small(x, n, lo, width, k, counts);
    else if (avx2)
        count_f32_avx2(x, n, lo, width, k, counts);
    else
#endif
        count_f32_sse2(x, n, lo, width, k, counts);
    for (int b = 0; b < k; b++) {
        out[b * 3] = lo + b * width;
        out[b * 3 + 1] = b == k - 1 ? hi : lo + (b + 1) * width;
        const uint32_t *c = counts + (size_t)b * 4;
        out[b * 3 + 2] = (double)c[0] + (double)c[1] + (double)c[2] + (double)c[3];
    }
}
#endif

/* Buckets with scratch from the stack for the default size, the heap beyond. */
static int bucketize(const void *x, bool f64, size_t n, int k, double *out, size_t *nonfinite)
{
    bool wide = n > UINT32_MAX;
    uint32_t stack_counts[4 * 65];
    void *counts = stack_counts;
    if (k > 64 || wide) {
        /* One spare bucket: the vector path counts non-finite lanes there. */
        counts = calloc((size_t)(k + 1) * 4, wide ? sizeof(uint64_t) : sizeof(uint32_t));
        if (!counts)
            return TBW_ENOMEM;
    } else {
        memset(stack_counts, 0, sizeof stack_counts);
    }
    int rc = TBW_OK;
    if (wide) {
        if (f64)
            rc = buckets_f64_64(x, n, k, out, counts, nonfinite);
        else
            rc = buckets_f32_64(x, n, k, out, counts, nonfinite);
    } else if (f64) {
        rc = buckets_f64_32(x, n, k, out, counts, nonfinite);
    } else {
#if defined(__SSE2__)
        buckets_f32_sse2(x, n, k, out, counts, nonfinite);
#else
        rc = buckets_f32_32(x, n, k, out, counts, nonfinite);
#endif
    }
    if (counts != stack_counts)
        free(counts);
    return rc;
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
        if (rc == TBW_ERANGE)
            return tbw__writer_fail(w, rc, "histogram '%s': the value range is too narrow to split into %d buckets",
                                    tag, k);
        return tbw__writer_fail(w, rc, "histogram '%s': out of memory for %d buckets", tag, k);
    }

    tbw__shape shape;
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_DOUBLE;
    t.tensor_shape = tbw__shape_init(&shape, 2, k, 3);
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
