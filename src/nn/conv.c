/* 2-D convolution as im2col + one sgemm over the whole batch.
 *
 * The column matrix is [K, N*P] (K = C*kh*kw, P = out_h*out_w), so a single large GEMM
 * W[OC,K] x col[K,N*P] does the batch; its [OC, N*P] result is scattered back to NCHW with the bias
 * added on the way. Large GEMMs reach a much higher fraction of the sgemm peak than N small ones. */
#include "nn_internal.h"

#include <cblas.h>
#include <string.h>

int cnn_conv_out_size(int in, int k, int stride, int dilation, int padding, int pad_lo, int pad_hi, int *out,
                      int *pad_before)
{
    if (!out || in < 1 || k < 1 || stride < 1 || dilation < 1)
        return TBW_EINVAL;
    long long eff = (long long)(k - 1) * dilation + 1;
    long long o, before = 0;
    switch (padding) {
    case CNN_PAD_VALID:
        if (eff > in)
            return TBW_ERANGE;
        o = (in - eff) / stride + 1;
        break;
    case CNN_PAD_SAME: {
        o = (in + stride - 1) / stride;
        long long total = (o - 1) * stride + eff - in;
        if (total < 0)
            total = 0;
        before = total / 2;
        break;
    }
    case CNN_PAD_EXPLICIT:
        if (pad_lo < 0 || pad_hi < 0)
            return TBW_EINVAL;
        if ((long long)in + pad_lo + pad_hi < eff)
            return TBW_ERANGE;
        o = ((long long)in + pad_lo + pad_hi - eff) / stride + 1;
        before = pad_lo;
        break;
    default:
        return TBW_EINVAL;
    }
    if (o < 1 || o > (1 << 24))
        return TBW_ERANGE;
    *out = (int)o;
    if (pad_before)
        *pad_before = (int)before;
    return TBW_OK;
}

typedef struct conv_ctx {
    const cnn__layer *L;
    const float *x;
    const float *w, *b;
    float *col, *tmp, *y;
    size_t n;
} conv_ctx;

/* Writes image i's receptive fields into columns [i*P, (i+1)*P) of col. */
static void im2col_one(const cnn__layer *L, const float *x, float *col, size_t ld)
{
    const int C = L->in_c, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int ki = 0; ki < L->kh; ki++) {
            for (int kj = 0; kj < L->kw; kj++) {
                float *row = col + (size_t)((c * L->kh + ki) * L->kw + kj) * ld;
                int hoff = ki * L->dh - L->pt;
                int woff = kj * L->dw - L->pl;
                for (int oh = 0; oh < OH; oh++) {
                    float *dst = row + (size_t)oh * OW;
                    int ih = oh * L->sh + hoff;
                    if (ih < 0 || ih >= H) {
                        memset(dst, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    const float *src = xc + (size_t)ih * W;
                    if (L->sw == 1) {
                        int lo = woff < 0 ? -woff : 0;
                        int hi = W - woff < OW ? W - woff : OW;
                        if (hi < lo)
                            hi = lo;
                        for (int ow = 0; ow < lo; ow++)
                            dst[ow] = 0.0f;
                        if (hi > lo)
                            memcpy(dst + lo, src + lo + woff, sizeof(float) * (size_t)(hi - lo));
                        for (int ow = hi; ow < OW; ow++)
                            dst[ow] = 0.0f;
                    } else {
                        for (int ow = 0; ow < OW; ow++) {
                            int iw = ow * L->sw + woff;
                            dst[ow] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

/* Adds image i's column gradients back onto its input gradient (dx must start at zero). */
static void col2im_one(const cnn__layer *L, const float *col, size_t ld, float *dx)
{
    const int C = L->in_c, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    for (int c = 0; c < C; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int ki = 0; ki < L->kh; ki++) {
            for (int kj = 0; kj < L->kw; kj++) {
                const float *row = col + (size_t)((c * L->kh + ki) * L->kw + kj) * ld;
                int hoff = ki * L->dh - L->pt;
                int woff = kj * L->dw - L->pl;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * L->sh + hoff;
                    if (ih < 0 || ih >= H)
                        continue;
                    const float *src = row + (size_t)oh * OW;
                    float *dst = dxc + (size_t)ih * W;
                    if (L->sw == 1) {
                        int lo = woff < 0 ? -woff : 0;
                        int hi = W - woff < OW ? W - woff : OW;
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow + woff] += src[ow];
                    } else {
                        for (int ow = 0; ow < OW; ow++) {
                            int iw = ow * L->sw + woff;
                            if (iw >= 0 && iw < W)
                                dst[iw] += src[ow];
                        }
                    }
                }
            }
        }
    }
}

static void im2col_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w, ld = c->n * P;
    for (size_t i = b; i < e; i++)
        im2col_one(L, c->x + i * L->in_size, c->col + i * P, ld);
}

static void col2im_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w, ld = c->n * P;
    for (size_t i = b; i < e; i++) {
        float *dx = c->y + i * L->in_size;
        memset(dx, 0, sizeof(float) * L->in_size);
        col2im_one(L, c->col + i * P, ld, dx);
    }
}

/* tmp[OC, N*P] (+ bias) -> y[N, OC, P] */
static void scatter_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w, ld = c->n * P;
    for (size_t i = b; i < e; i++) {
        for (int oc = 0; oc < L->out_c; oc++) {
            const float *src = c->tmp + (size_t)oc * ld + i * P;
            float *dst = c->y + i * L->out_size + (size_t)oc * P;
            float bias = c->b ? c->b[oc] : 0.0f;
            for (size_t q = 0; q < P; q++)
                dst[q] = src[q] + bias;
        }
    }
}

/* dy[N, OC, P] -> tmp[OC, N*P] */
static void gather_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w, ld = c->n * P;
    for (size_t i = b; i < e; i++)
        for (int oc = 0; oc < L->out_c; oc++)
            memcpy(c->tmp + (size_t)oc * ld + i * P, c->x + i * L->out_size + (size_t)oc * P,
                   sizeof(float) * P);
}

/* Bias gradient: row sums of tmp, split over output channels. */
static void dbias_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    size_t ld = c->n * (size_t)c->L->out_h * c->L->out_w;
    float *db = c->col; /* reused as the output pointer here */
    for (size_t oc = b; oc < e; oc++) {
        const float *row = c->tmp + oc * ld;
        double s = 0.0;
        for (size_t q = 0; q < ld; q++)
            s += row[q];
        db[oc] = (float)s;
    }
}

void cnn__conv_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n)
{
    size_t P = (size_t)L->out_h * L->out_w;
    size_t K = (size_t)L->in_c * L->kh * L->kw;
    conv_ctx c = {L, x, cnn__W(m, L), L->use_bias ? cnn__B(m, L) : NULL, L->col, m->tmp, L->out, n};
    cnn__pool_run(m->pool, n, im2col_task, &c);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->out_c, (int)(n * P), (int)K, 1.0f, c.w, (int)K,
                L->col, (int)(n * P), 0.0f, m->tmp, (int)(n * P));
    cnn__pool_run(m->pool, n, scatter_task, &c);
}

void cnn__conv_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n)
{
    (void)x; /* the forward pass left x's columns in L->col */
    size_t P = (size_t)L->out_h * L->out_w;
    size_t K = (size_t)L->in_c * L->kh * L->kw;
    int NP = (int)(n * P);
    conv_ctx c = {L, dy, NULL, NULL, L->col, m->tmp, NULL, n};
    cnn__pool_run(m->pool, n, gather_task, &c);
    if (L->use_bias) {
        conv_ctx cb = c;
        cb.col = cnn__dB(m, L);
        cnn__pool_run(m->pool, (size_t)L->out_c, dbias_task, &cb);
    }
    /* dW[OC,K] = dY[OC,NP] * col[K,NP]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L->out_c, (int)K, NP, 1.0f, m->tmp, NP, L->col, NP, 0.0f,
                cnn__dW(m, L), (int)K);
    if (!dx)
        return;
    /* dcol[K,NP] = W[OC,K]^T * dY[OC,NP], written over the columns which are no longer needed */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, NP, L->out_c, 1.0f, cnn__W(m, L), (int)K, m->tmp,
                NP, 0.0f, L->col, NP);
    c.y = dx;
    cnn__pool_run(m->pool, n, col2im_task, &c);
}
