/* PR curves: the [6, T] float tensor of TensorBoard's pr_curve summary, with
   its bucketing reproduced exactly (numpy.histogram over integer bucket
   indices, then reverse cumulative sums). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "../writer/writer_internal.h"
#include "encode.h"
#include "plugin_data.pb-c.h"
#include <tbw/summary.h>

#define MIN_COUNT 1e-7

/* The bin numpy.histogram(bins=T, range=(0, T-1)) gives the integer x in [0, T-1]. */
static int histogram_bin(int x, int t)
{
    double last = (double)(t - 1);
    double step = last / t; /* numpy.linspace(0, T-1, T+1) edge spacing */
    int b = (int)((double)x * ((double)t / last));
    if (b > t - 1)
        b = t - 1;
    /* numpy corrects the computed index against the actual edges. */
    double lo_edge = b == t ? last : (double)b * step;
    if ((double)x < lo_edge)
        b--;
    else if (b != t - 1 && (double)x >= (b + 1 == t ? last : (double)(b + 1) * step))
        b++;
    return b;
}

int tbw_pr_curve(tbw_writer *w, const char *name, int64_t step, const bool *labels, const float *predictions,
                 const float *weights, size_t n, int num_thresholds)
{
    if (!w)
        return TBW_EINVAL;
    if (!name || !name[0] || !tbw__utf8_valid(name, strlen(name)))
        return tbw__writer_fail(w, TBW_EINVAL, "pr curve name is empty or not valid UTF-8");
    int t = num_thresholds ? num_thresholds : TBW_PR_DEFAULT_THRESHOLDS;
    if (t < 2 || t > 10000)
        return tbw__writer_fail(w, TBW_EINVAL, "pr curve '%s': num_thresholds %d is outside 2..10000", name, t);
    if (n && (!labels || !predictions))
        return tbw__writer_fail(w, TBW_EINVAL, "pr curve '%s': labels or predictions is NULL", name);
    for (size_t i = 0; i < n; i++) {
        if (!(predictions[i] >= 0.0f && predictions[i] <= 1.0f))
            return tbw__writer_fail(w, TBW_EINVAL, "pr curve '%s': prediction %zu is %g, outside [0, 1]", name, i,
                                    (double)predictions[i]);
        if (weights && !isfinite(weights[i]))
            return tbw__writer_fail(w, TBW_EINVAL, "pr curve '%s': weight %zu is not finite", name, i);
    }
    size_t tag_len = strlen(name) + sizeof "/pr_curves";
    char *tag = malloc(tag_len);
    double *tp = calloc((size_t)t, sizeof *tp), *fp = calloc((size_t)t, sizeof *fp);
    float *data = malloc((size_t)t * 6 * sizeof *data);
    int rc;
    if (!tag || !tp || !fp || !data) {
        rc = tbw__writer_fail(w, TBW_ENOMEM, "pr curve '%s': out of memory", name);
        goto done;
    }
    snprintf(tag, tag_len, "%s/pr_curves", name);
    for (size_t i = 0; i < n; i++) {
        /* float32 product, as numpy computes predictions * (T - 1) for float32 input */
        int idx = (int)floorf(predictions[i] * (float)(t - 1));
        int b = histogram_bin(idx, t);
        double wgt = weights ? (double)weights[i] : 1.0;
        if (labels[i])
            tp[b] += wgt;
        else
            fp[b] += wgt;
    }
    for (int i = t - 2; i >= 0; i--) {
        tp[i] += tp[i + 1];
        fp[i] += fp[i + 1];
    }
    for (int i = 0; i < t; i++) {
        double tn = fp[0] - fp[i], fn = tp[0] - tp[i];
        data[i] = (float)tp[i];
        data[t + i] = (float)fp[i];
        data[2 * t + i] = (float)tn;
        data[3 * t + i] = (float)fn;
        data[4 * t + i] = (float)(tp[i] / fmax(MIN_COUNT, tp[i] + fp[i]));
        data[5 * t + i] = (float)(tp[i] / fmax(MIN_COUNT, tp[i] + fn));
    }
    tbw__shape shape;
    Tensorboard__TensorProto tensor = TENSORBOARD__TENSOR_PROTO__INIT;
    tensor.dtype = TENSORBOARD__DATA_TYPE__DT_FLOAT;
    tensor.tensor_shape = tbw__shape_init(&shape, 2, 6, t);
    tensor.tensor_content.data = (uint8_t *)data;
    tensor.tensor_content.len = (size_t)t * 6 * sizeof *data;
    Tensorboard__PrCurvePluginData pd = TENSORBOARD__PR_CURVE_PLUGIN_DATA__INIT;
    pd.num_thresholds = (uint32_t)t;
    uint8_t content[16];
    size_t clen = tensorboard__pr_curve_plugin_data__pack(&pd, content);
    tbw__meta meta;
    tbw__meta_make(&meta, "pr_curves", content, clen);
    rc = tbw__write_tensor(w, tag, step, &tensor, &meta);
done:
    free(tag);
    free(tp);
    free(fp);
    free(data);
    return rc;
}
