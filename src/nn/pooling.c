/* Max and average pooling, parallel over the images of the batch. Max pooling remembers the winning
 * input index so backward is a scatter; padded cells never win and are not averaged. */
#include "nn_internal.h"

#include <string.h>

typedef struct pool_ctx {
    const cnn__layer *L;
    const float *x;
    const float *dy;
    float *dx;
    bool relu_below;
} pool_ctx;

/* The common 2x2 window, stride 2, no padding: two input rows per output row, no bounds checks.
 * Same visiting order and strict '>' as the general loop, so ties and NaNs resolve identically. */
static bool is_max2x2(const cnn__layer *L)
{
    return L->kind == CNN_LAYER_MAXPOOL && L->kh == 2 && L->kw == 2 && L->sh == 2 && L->sw == 2 && L->pt == 0 &&
           L->pl == 0 && 2 * L->out_h <= L->in_h && 2 * L->out_w <= L->in_w;
}

static void max2x2(const cnn__layer *L, const float *x, float *y, int32_t *arg, size_t planes)
{
    const int H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * (size_t)H * W;
        for (int oh = 0; oh < OH; oh++) {
            const float *r0 = xp + (size_t)(2 * oh) * W, *r1 = r0 + W;
            float *yo = y + (pl * (size_t)OH + (size_t)oh) * OW;
            int32_t *ao = arg + (pl * (size_t)OH + (size_t)oh) * OW;
            int base = 2 * oh * W;
            for (int ow = 0; ow < OW; ow++) {
                int w = 2 * ow;
                float bv = r0[w];
                int best = base + w;
                if (r0[w + 1] > bv) {
                    bv = r0[w + 1];
                    best = base + w + 1;
                }
                if (r1[w] > bv) {
                    bv = r1[w];
                    best = base + W + w;
                }
                if (r1[w + 1] > bv) {
                    bv = r1[w + 1];
                    best = base + W + w + 1;
                }
                yo[ow] = bv;
                ao[ow] = best;
            }
        }
    }
}

static void fwd_task(void *p, size_t b, size_t e)
{
    pool_ctx *c = p;
    const cnn__layer *L = c->L;
    const int H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    bool is_max = L->kind == CNN_LAYER_MAXPOOL;
    if (is_max2x2(L)) {
        max2x2(L, c->x + b * L->in_size, L->out + b * L->out_size, L->argmax + b * L->out_size,
               (e - b) * (size_t)L->in_c);
        return;
    }
    for (size_t i = b; i < e; i++) {
        for (int ch = 0; ch < L->in_c; ch++) {
            const float *xp = c->x + i * L->in_size + (size_t)ch * H * W;
            size_t obase = i * L->out_size + (size_t)ch * OH * OW;
            for (int oh = 0; oh < OH; oh++) {
                int h0 = oh * L->sh - L->pt, h1 = h0 + L->kh;
                if (h0 < 0)
                    h0 = 0;
                if (h1 > H)
                    h1 = H;
                for (int ow = 0; ow < OW; ow++) {
                    int w0 = ow * L->sw - L->pl, w1 = w0 + L->kw;
                    if (w0 < 0)
                        w0 = 0;
                    if (w1 > W)
                        w1 = W;
                    size_t o = obase + (size_t)oh * OW + ow;
                    if (is_max) {
                        int best = -1;
                        float bv = 0.0f;
                        for (int h = h0; h < h1; h++)
                            for (int w = w0; w < w1; w++) {
                                float v = xp[h * W + w];
                                if (best < 0 || v > bv) {
                                    bv = v;
                                    best = h * W + w;
                                }
                            }
                        L->out[o] = bv;
                        L->argmax[o] = best;
                    } else {
                        float s = 0.0f;
                        int cnt = (h1 - h0) * (w1 - w0);
                        for (int h = h0; h < h1; h++)
                            for (int w = w0; w < w1; w++)
                                s += xp[h * W + w];
                        L->out[o] = cnt > 0 ? s / (float)cnt : 0.0f;
                    }
                }
            }
        }
    }
}

/* Backward of the 2x2 fast path: every input cell is written once (the winner gets dy, the other three
 * zero), so dx needs no clearing pass and no scattered adds. With relu_below the ReLU under the pool is
 * folded in: the winner's value is the ReLU's output there, so its gradient passes only if that is > 0. */
static void max2x2_bwd(const cnn__layer *L, const float *dy, float *dx, size_t b, size_t e, bool relu_below)
{
    const int H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    size_t planes = (e - b) * (size_t)L->in_c, o0 = b * L->out_size;
    float *dxb = dx + b * L->in_size;
    if (2 * OH != H || 2 * OW != W)
        memset(dxb, 0, sizeof(float) * (e - b) * L->in_size);
    for (size_t pl = 0; pl < planes; pl++) {
        float *dp = dxb + pl * (size_t)H * W;
        for (int oh = 0; oh < OH; oh++) {
            /* restrict-qualified row pointers and a branch-free body let the compiler vectorise */
            float *restrict r0 = dp + (size_t)(2 * oh) * W, *restrict r1 = r0 + W;
            size_t o = o0 + (pl * (size_t)OH + (size_t)oh) * OW;
            const float *restrict g_row = dy + o, *restrict y_row = L->out + o;
            const int32_t *restrict a_row = L->argmax + o;
            const int base = 2 * oh * W;
            for (int ow = 0; ow < OW; ow++) {
                float g = g_row[ow];
                if (relu_below)
                    g = y_row[ow] > 0.0f ? g : 0.0f;
                int at = a_row[ow] - base - 2 * ow;
                r0[2 * ow] = at == 0 ? g : 0.0f;
                r0[2 * ow + 1] = at == 1 ? g : 0.0f;
                r1[2 * ow] = at == W ? g : 0.0f;
                r1[2 * ow + 1] = at == W + 1 ? g : 0.0f;
            }
        }
    }
}

static void bwd_task(void *p, size_t b, size_t e)
{
    pool_ctx *c = p;
    const cnn__layer *L = c->L;
    const int H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    bool is_max = L->kind == CNN_LAYER_MAXPOOL;
    if (is_max2x2(L)) {
        max2x2_bwd(L, c->dy, c->dx, b, e, c->relu_below);
        return;
    }
    memset(c->dx + b * L->in_size, 0, sizeof(float) * (e - b) * L->in_size);
    for (size_t i = b; i < e; i++) {
        for (int ch = 0; ch < L->in_c; ch++) {
            float *dxp = c->dx + i * L->in_size + (size_t)ch * H * W;
            size_t obase = i * L->out_size + (size_t)ch * OH * OW;
            for (int oh = 0; oh < OH; oh++) {
                for (int ow = 0; ow < OW; ow++) {
                    size_t o = obase + (size_t)oh * OW + ow;
                    if (is_max) {
                        if (L->argmax[o] >= 0)
                            dxp[L->argmax[o]] += c->dy[o];
                        continue;
                    }
                    int h0 = oh * L->sh - L->pt, h1 = h0 + L->kh;
                    int w0 = ow * L->sw - L->pl, w1 = w0 + L->kw;
                    if (h0 < 0)
                        h0 = 0;
                    if (h1 > H)
                        h1 = H;
                    if (w0 < 0)
                        w0 = 0;
                    if (w1 > W)
                        w1 = W;
                    int cnt = (h1 - h0) * (w1 - w0);
                    if (cnt <= 0)
                        continue;
                    float g = c->dy[o] / (float)cnt;
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                            dxp[h * W + w] += g;
                }
            }
        }
    }
}

void cnn__pool_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n)
{
    pool_ctx c = {L, x, NULL, NULL, false};
    cnn__workers_run(m->workers, n, fwd_task, &c);
}

void cnn__pool_backward(cnn_model *m, cnn__layer *L, const float *dy, float *dx, size_t n)
{
    pool_ctx c = {L, NULL, dy, dx, false};
    cnn__workers_run(m->workers, n, bwd_task, &c);
}

bool cnn__pool_is_max2x2(const cnn__layer *L)
{
    return is_max2x2(L);
}

void cnn__max2x2_forward(const cnn__layer *L, const float *x, float *y, int32_t *arg, size_t planes)
{
    max2x2(L, x, y, arg, planes);
}

bool cnn__pool_folds_relu(const cnn__layer *L, const cnn__layer *below)
{
    return is_max2x2(L) && below->kind == CNN_LAYER_RELU;
}

void cnn__pool_relu_backward(cnn_model *m, cnn__layer *L, const float *dy, float *dx, size_t n)
{
    pool_ctx c = {L, NULL, dy, dx, true};
    cnn__workers_run(m->workers, n, bwd_task, &c);
}
