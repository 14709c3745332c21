/* 2-D convolution as im2col + sgemm over chunks of the batch.
 *
 * For a chunk of nb images the column matrix is [K, nb*P] (K = C*kh*kw, P = out_h*out_w) and one GEMM
 * W[OC,K] x col[K,nb*P] does the chunk; its [OC, nb*P] result is scattered back to NCHW with the bias
 * added on the way. The chunk is chosen at build time so the columns fit in the cache: a whole-batch
 * column matrix (63 MB for the lecture's conv2) made im2col, the dcol GEMM and col2im memory-bound,
 * while a few images per chunk still give the GEMM a wide enough N. Backward recomputes each chunk's
 * columns instead of keeping them from the forward pass, which is cheaper than reading them back. */
#include "nn_internal.h"

#include <cblas.h>
#include <string.h>

#define CONV_CHUNK_FLOATS ((size_t)1 << 20)

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

/* Work of one pass over the images [b0, b0+nb) of a chunk. The columns and the [OC, nb*P] matrix
 * only ever hold one chunk, so they stay in cache between the copy loops and the GEMMs. */
typedef struct conv_ctx {
    const cnn__layer *L;
    const float *x;  /* layer input, NCHW */
    const float *dy; /* gradient of the output, NCHW (backward) */
    const float *b;  /* bias or NULL */
    float *y;        /* output (forward) or input gradient (backward), NCHW */
    float *col;      /* columns being filled for the chunk starting at next */
    float *dcol;     /* column gradients of the chunk starting at cur (spent by col2im) */
    float *tmp;      /* [OC, nb*P] of the chunk starting at cur (forward: read; backward: written) */
    size_t cur, cur_n, next, next_n;
    double *dbias;
} conv_ctx;

/* Writes image i's receptive fields into columns [i*P, (i+1)*P) of col, one output row at a time. */
static void im2col_rows(const cnn__layer *L, const float *x, float *col, size_t ld)
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

/* Adds image i's column gradients back onto its input gradient (dx must start at zero), row by row. */
static void col2im_rows(const cnn__layer *L, const float *col, size_t ld, float *dx)
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

/* Stride 1 in both directions with out_w == in_w (SAME, or explicit padding that keeps the width):
 * for one tap (c, ki, kj) the valid output rows read consecutive input rows, so column index q maps to
 * input index q + hoff*W + woff over the whole block of valid rows. One contiguous copy per tap then
 * replaces a short copy per output row (thousands of calls per image); the cells that copy wrongly are
 * exactly the left/right padding columns of each row and are zeroed afterwards. The zeroing runs are
 * 1-56 floats, so they stay inline loops (meson.build stops the compiler from turning them into
 * memset calls, whose call overhead cost more than the stores). */
static bool block_layout(const cnn__layer *L)
{
    return L->sh == 1 && L->sw == 1 && L->out_w == L->in_w;
}

/* Valid output rows [*oh0, *oh1) and columns [*lo, *hi) of one tap with offsets hoff, woff. */
static void tap_range(const cnn__layer *L, int hoff, int woff, int *oh0, int *oh1, int *lo, int *hi)
{
    const int H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    *oh0 = hoff < 0 ? -hoff : 0;
    *oh1 = H - hoff < OH ? H - hoff : OH;
    if (*oh0 > OH)
        *oh0 = OH;
    if (*oh1 < *oh0)
        *oh1 = *oh0;
    *lo = woff < 0 ? -woff : 0;
    *hi = W - woff < OW ? W - woff : OW;
    if (*lo > OW)
        *lo = OW;
    if (*hi < *lo)
        *hi = *lo;
}

static void im2col_block(const cnn__layer *L, const float *x, float *col, size_t ld)
{
    const int C = L->in_c, H = L->in_h, W = L->in_w, OH = L->out_h, OW = L->out_w;
    const long HW = (long)H * W;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * HW;
        for (int ki = 0; ki < L->kh; ki++) {
            for (int kj = 0; kj < L->kw; kj++) {
                float *row = col + (size_t)((c * L->kh + ki) * L->kw + kj) * ld;
                int hoff = ki * L->dh - L->pt, woff = kj * L->dw - L->pl, oh0, oh1, lo, hi;
                tap_range(L, hoff, woff, &oh0, &oh1, &lo, &hi);
                for (size_t q = 0; q < (size_t)oh0 * OW; q++)
                    row[q] = 0.0f;
                for (size_t q = (size_t)oh1 * OW; q < (size_t)OH * OW; q++)
                    row[q] = 0.0f;
                if (oh1 == oh0)
                    continue;
                long shift = (long)hoff * W + woff, a = (long)oh0 * W, e = (long)oh1 * W;
                if (a < -shift)
                    a = -shift;
                if (e > HW - shift)
                    e = HW - shift;
                if (e > a)
                    memcpy(row + a, xc + a + shift, sizeof(float) * (size_t)(e - a));
                if (lo > 0 || hi < OW)
                    for (int oh = oh0; oh < oh1; oh++) {
                        float *r = row + (size_t)oh * OW;
                        for (int ow = 0; ow < lo; ow++)
                            r[ow] = 0.0f;
                        for (int ow = hi; ow < OW; ow++)
                            r[ow] = 0.0f;
                    }
            }
        }
    }
}

/* The same mapping backwards. The padding columns' gradients are cleared first (the columns are spent),
 * so the one contiguous add per tap adds exactly +0 where it wraps into a neighbouring row. Each input
 * cell still receives its taps in (c, ki, kj) order. */
static void col2im_block(const cnn__layer *L, float *col, size_t ld, float *dx)
{
    const int C = L->in_c, H = L->in_h, W = L->in_w, OW = L->out_w;
    const long HW = (long)H * W;
    for (int c = 0; c < C; c++) {
        float *dxc = dx + (size_t)c * HW;
        for (int ki = 0; ki < L->kh; ki++) {
            for (int kj = 0; kj < L->kw; kj++) {
                float *row = col + (size_t)((c * L->kh + ki) * L->kw + kj) * ld;
                int hoff = ki * L->dh - L->pt, woff = kj * L->dw - L->pl, oh0, oh1, lo, hi;
                tap_range(L, hoff, woff, &oh0, &oh1, &lo, &hi);
                if (oh1 == oh0)
                    continue;
                if (lo > 0 || hi < OW)
                    for (int oh = oh0; oh < oh1; oh++) {
                        float *r = row + (size_t)oh * OW;
                        for (int ow = 0; ow < lo; ow++)
                            r[ow] = 0.0f;
                        for (int ow = hi; ow < OW; ow++)
                            r[ow] = 0.0f;
                    }
                long shift = (long)hoff * W + woff, a = (long)oh0 * W, e = (long)oh1 * W;
                if (a < -shift)
                    a = -shift;
                if (e > HW - shift)
                    e = HW - shift;
                float *d = dxc + shift;
                for (long q = a; q < e; q++)
                    d[q] += row[q];
            }
        }
    }
}

void cnn__im2col(const cnn__layer *L, const float *x, float *col, size_t ld, bool rows)
{
    if (!rows && block_layout(L))
        im2col_block(L, x, col, ld);
    else
        im2col_rows(L, x, col, ld);
}

void cnn__col2im(const cnn__layer *L, float *col, size_t ld, float *dx, bool rows)
{
    if (!rows && block_layout(L))
        col2im_block(L, col, ld, dx);
    else
        col2im_rows(L, col, ld, dx);
}

static void im2col_one(const cnn__layer *L, const float *x, float *col, size_t ld)
{
    cnn__im2col(L, x, col, ld, false);
}

static void col2im_one(const cnn__layer *L, float *col, size_t ld, float *dx)
{
    cnn__col2im(L, col, ld, dx, false);
}

/* One parallel pass that finishes chunk `cur` (scatter of the GEMM result in forward, col2im in backward)
 * and prepares chunk `next` (im2col, plus the dY gather in backward). Merging them halves the number of
 * hand-offs between the worker threads and the BLAS threads. */
static void fwd_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w;
    size_t ldt = c->cur_n * P, ldc = c->next_n * P;
    for (size_t i = b; i < e; i++) {
        if (i < c->cur_n) {
            float *yi = c->y + (c->cur + i) * L->out_size;
            for (int oc = 0; oc < L->out_c; oc++) {
                const float *src = c->tmp + (size_t)oc * ldt + i * P;
                float *dst = yi + (size_t)oc * P;
                float bias = c->b ? c->b[oc] : 0.0f;
                for (size_t q = 0; q < P; q++)
                    dst[q] = src[q] + bias;
            }
        }
        if (i < c->next_n)
            im2col_one(L, c->x + (c->next + i) * L->in_size, c->col + i * P, ldc);
    }
}

static void bwd_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w;
    size_t ldd = c->cur_n * P, ldc = c->next_n * P;
    for (size_t i = b; i < e; i++) {
        if (i < c->cur_n) {
            float *dx = c->y + (c->cur + i) * L->in_size;
            memset(dx, 0, sizeof(float) * L->in_size);
            col2im_one(L, c->dcol + i * P, ldd, dx);
        }
        if (i < c->next_n) {
            const float *dyi = c->dy + (c->next + i) * L->out_size;
            for (int oc = 0; oc < L->out_c; oc++)
                memcpy(c->tmp + (size_t)oc * ldc + i * P, dyi + (size_t)oc * P, sizeof(float) * P);
            im2col_one(L, c->x + (c->next + i) * L->in_size, c->col + i * P, ldc);
        }
    }
}

/* Bias gradient straight from the NCHW dY, split over output channels, summed in double. */
static void dbias_task(void *p, size_t b, size_t e)
{
    conv_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t P = (size_t)L->out_h * L->out_w;
    for (size_t oc = b; oc < e; oc++) {
        double s = 0.0;
        for (size_t i = 0; i < c->cur_n; i++) {
            const float *row = c->dy + i * L->out_size + oc * P;
            /* eight explicit lanes so the compiler can vectorise without reassociating */
            float part[8] = {0};
            size_t q = 0;
            for (; q + 8 <= P; q += 8)
                for (int l = 0; l < 8; l++)
                    part[l] += row[q + l];
            for (; q < P; q++)
                part[0] += row[q];
            for (int l = 0; l < 8; l++)
                s += part[l];
        }
        c->dbias[oc] = s;
    }
}

size_t cnn__conv_chunk(const cnn__layer *L, size_t batch)
{
    size_t per = (size_t)L->in_c * L->kh * L->kw * (size_t)L->out_h * L->out_w;
    size_t target = CONV_CHUNK_FLOATS;
    size_t c = per ? target / per : batch;
    if (c < 1)
        c = 1;
    return c < batch ? c : batch;
}

static size_t chunk_len(const cnn__layer *L, size_t start, size_t n)
{
    size_t left = n > start ? n - start : 0;
    return left < L->chunk ? left : L->chunk;
}

/* ---- one image per GEMM, images split over the engine's threads ----
 *
 * Used when the application runs BLAS single-threaded. Each thread takes a fixed contiguous share of
 * the batch and calls sgemm itself: per image, W[OC,K] x col[K,P] lands directly in the image's NCHW
 * output, dY's NCHW slice is already the [OC,P] operand of both backward GEMMs, and the columns of one
 * image (627 KB for conv2) stay in the core's L2. On 2 cores a single-threaded per-image GEMM runs near
 * the 1-thread sgemm peak, so two of them side by side beat one 2-thread GEMM over a chunk, and all the
 * copy loops run in parallel without hand-offs to the BLAS threads. */
typedef struct par_ctx {
    const cnn_model *m;
    const cnn__layer *L;
    const float *x, *dy;
    float *y; /* output (forward) or input gradient (backward, may be NULL) */
    size_t n;
    cnn__layer *relu, *pool; /* forward: ReLU and max pool computed per image right after the GEMM */
} par_ctx;

/* Direct and Winograd layers run their own kernels per image, never the chunked GEMMs. */
static bool own_kernels(const cnn__layer *L)
{
    return L->direct || L->wino;
}

/* Whether a call runs image by image on the engine's threads (else in chunks, BLAS threading the GEMMs):
 * always on the engine's kernels, and with sgemm when BLAS runs on one thread. */
static bool per_image(const cnn__layer *L)
{
    return own_kernels(L) || L->col_own || cnn__blas_single();
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

/* Floats of one thread's columns and of its partial weight gradient on the per-image im2col path. */
static size_t tcol_floats(const cnn__layer *L)
{
    const size_t K = (size_t)L->in_c * L->kh * L->kw, P = (size_t)L->out_h * L->out_w;
    return L->col_own ? (K + round16(K)) * P : K * P;
}

static size_t tdw_floats(const cnn__layer *L)
{
    const size_t K = (size_t)L->in_c * L->kh * L->kw;
    return (size_t)L->out_c * (L->col_own ? round16(K) : K);
}

typedef struct pack_ctx {
    const cnn__layer *L;
    const float *w;
    bool backward;
} pack_ctx;

static void wino_pack_task(void *p, size_t b, size_t e)
{
    const pack_ctx *c = p;
    cnn__wino_pack(c->L, c->w, c->backward, b, e);
}

static void pack(cnn_model *m, const cnn__layer *L, bool backward)
{
    if (L->wino) { /* 2 x 5 x 5 -> 8 x 8 per channel pair: worth the engine's threads */
        pack_ctx c = {L, cnn__W(m, L), backward};
        cnn__workers_run(m->workers, (size_t)L->out_c, wino_pack_task, &c);
    } else if (L->direct)
        cnn__direct_pack(L, cnn__W(m, L), backward);
}

static void share(size_t n, size_t parts, size_t t, size_t *b, size_t *e)
{
    *b = n * t / parts;
    *e = n * (t + 1) / parts;
}

static void par_fwd_task(void *p, size_t t0, size_t t1)
{
    const par_ctx *c = p;
    const cnn__layer *L = c->L;
    const int K = L->in_c * L->kh * L->kw, P = L->out_h * L->out_w;
    const float *w = cnn__W(c->m, L), *bias = L->use_bias ? cnn__B(c->m, L) : NULL;
    for (size_t t = t0; t < t1; t++) {
        float *col = own_kernels(L) ? NULL : L->tcol + t * tcol_floats(L);
        size_t b, e;
        share(c->n, (size_t)c->m->threads, t, &b, &e);
        for (size_t i = b; i < e; i++) {
            float *yi = c->y + i * L->out_size;
            if (L->wino) {
                cnn__wino_forward(L, c->x + i * L->in_size, yi, (int)t);
            } else if (L->direct) {
                cnn__direct_forward(L, c->x + i * L->in_size, yi, (int)t);
            } else {
                im2col_one(L, c->x + i * L->in_size, col, (size_t)P);
                if (L->col_own) /* y[OC][P] = W[OC][K] col[K][P] */
                    cnn__gemm16(L->isa, L->out_c, K, w, (size_t)K, 1, col, (size_t)P, P, yi, (size_t)P, false);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->out_c, P, K, 1.0f, w, K, col, P, 0.0f,
                                yi, P);
            }
            if (c->relu) {
                /* the image's output is still in cache: bias, ReLU (the same select as activ.c) and
                 * the pool here save re-reading the whole batch's activations twice */
                float *ri = c->relu->out + i * L->out_size;
                for (int oc = 0; oc < L->out_c; oc++) {
                    float *restrict row = yi + (size_t)oc * P, *restrict rr = ri + (size_t)oc * P;
                    const float bo = bias ? bias[oc] : 0.0f;
                    for (int q = 0; q < P; q++) {
                        float v = bias ? row[q] + bo : row[q];
                        row[q] = v;
                        rr[q] = v > 0.0f ? v : 0.0f;
                    }
                }
                const cnn__layer *pl = c->pool;
                cnn__max2x2_forward(pl, ri, pl->out + i * pl->out_size, pl->argmax + i * pl->out_size,
                                    (size_t)pl->in_c);
            } else if (bias)
                for (int oc = 0; oc < L->out_c; oc++) {
                    float *row = yi + (size_t)oc * P;
                    for (int q = 0; q < P; q++)
                        row[q] += bias[oc];
                }
        }
    }
}

static void par_bwd_task(void *p, size_t t0, size_t t1)
{
    const par_ctx *c = p;
    const cnn__layer *L = c->L;
    const int K = L->in_c * L->kh * L->kw, P = L->out_h * L->out_w, OC = L->out_c;
    const float *w = cnn__W(c->m, L);
    for (size_t t = t0; t < t1; t++) {
        float *col = own_kernels(L) ? NULL : L->tcol + t * tcol_floats(L);
        size_t dwn = L->wino ? cnn__wino_wgrad_floats(L) : L->direct ? cnn__direct_wgrad_floats(L) : tdw_floats(L);
        const size_t K16 = round16((size_t)K);
        float *dw = own_kernels(L) ? L->dwt + t * dwn : L->tdw + t * dwn;
        double *db = c->m->dscratch + t * c->m->dscratch_ld;
        size_t b, e;
        share(c->n, (size_t)c->m->threads, t, &b, &e);
        if (own_kernels(L) || b == e)
            memset(dw, 0, sizeof(float) * dwn);
        for (int oc = 0; oc < OC; oc++)
            db[oc] = 0.0;
        for (size_t i = b; i < e; i++) {
            const float *dyi = c->dy + i * L->out_size;
            if (L->wino) {
                cnn__wino_backward(L, c->x + i * L->in_size, dyi, c->y ? c->y + i * L->in_size : NULL, (int)t);
            } else if (L->direct) {
                cnn__direct_backward(L, c->x + i * L->in_size, dyi, c->y ? c->y + i * L->in_size : NULL, (int)t);
            } else {
                im2col_one(L, c->x + i * L->in_size, col, (size_t)P);
                if (L->col_own) { /* dW[OC][K16] (+)= dY[OC][P] colT[P][K16] */
                    float *colt = col + (size_t)K * P;
                    cnn__transpose16(L->isa, col, (size_t)K, (size_t)P, (size_t)P, colt, K16);
                    cnn__gemm16(L->isa, OC, P, dyi, (size_t)P, 1, colt, K16, (int)K16, dw, K16, i != b);
                } else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, K, P, 1.0f, dyi, P, col, P,
                                i == b ? 0.0f : 1.0f, dw, K);
            }
            if (L->use_bias)
                for (int oc = 0; oc < OC; oc++) {
                    const float *row = dyi + (size_t)oc * P;
                    float part[8] = {0};
                    int q = 0;
                    for (; q + 8 <= P; q += 8)
                        for (int l = 0; l < 8; l++)
                            part[l] += row[q + l];
                    for (; q < P; q++)
                        part[0] += row[q];
                    for (int l = 0; l < 8; l++)
                        db[oc] += part[l];
                }
            if (!c->y || own_kernels(L))
                continue;
            /* the columns are spent, so their gradient overwrites them: dcol[K][P] = W^T dY */
            if (L->col_own)
                cnn__gemm16(L->isa, K, OC, w, 1, (size_t)K, dyi, (size_t)P, P, col, (size_t)P, false);
            else
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, OC, 1.0f, w, K, dyi, P, 0.0f, col, P);
            float *dx = c->y + i * L->in_size;
            memset(dx, 0, sizeof(float) * L->in_size);
            col2im_one(L, col, (size_t)P, dx);
        }
    }
}

/* dW = sum of the per-thread partial sums, always added in thread order. */
static void par_reduce_task(void *p, size_t b, size_t e)
{
    const par_ctx *c = p;
    const cnn__layer *L = c->L;
    float *dw = cnn__dW(c->m, L);
    if (L->wino) { /* j runs over cnn__wino_reduce_parts */
        cnn__wino_reduce(L, c->m->threads, dw, b, e);
        return;
    }
    if (L->direct) { /* partials are [K][OC rounded to 16]; dW is [OC][K]; j runs over K */
        const size_t K = (size_t)L->in_c * L->kh * L->kw, ld = cnn__direct_wgrad_floats(L) / K;
        for (size_t k = b; k < e; k++)
            for (size_t oc = 0; oc < (size_t)L->out_c; oc++) {
                float s = L->dwt[k * ld + oc];
                for (int t = 1; t < c->m->threads; t++)
                    s += L->dwt[(size_t)t * K * ld + k * ld + oc];
                dw[oc * K + k] = s;
            }
        return;
    }
    const size_t K = (size_t)L->in_c * L->kh * L->kw, part = tdw_floats(L), ld = part / (size_t)L->out_c;
    for (size_t j = b; j < e; j++) { /* partials are [OC][ld] */
        const size_t at = j / K * ld + j % K;
        float s = L->tdw[at];
        for (int t = 1; t < c->m->threads; t++)
            s += L->tdw[(size_t)t * part + at];
        dw[j] = s;
    }
}

bool cnn__blas_single(void)
{
    return openblas_get_num_threads() == 1;
}

void cnn__conv_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n)
{
    pack(m, L, false);
    if (per_image(L)) {
        par_ctx pc = {m, L, x, NULL, L->out, n, NULL, NULL};
        cnn__workers_run(m->workers, (size_t)m->threads, par_fwd_task, &pc);
        return;
    }
    size_t P = (size_t)L->out_h * L->out_w;
    size_t K = (size_t)L->in_c * L->kh * L->kw;
    conv_ctx c = {0};
    c.L = L;
    c.x = x;
    c.b = L->use_bias ? cnn__B(m, L) : NULL;
    c.y = L->out;
    c.col = L->col;
    c.tmp = m->tmp;
    c.next = 0;
    c.next_n = chunk_len(L, 0, n);
    cnn__workers_run(m->workers, c.next_n, fwd_task, &c);
    for (size_t s = 0; s < n; s += L->chunk) {
        size_t nb = chunk_len(L, s, n);
        int NP = (int)(nb * P);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->out_c, NP, (int)K, 1.0f, cnn__W(m, L), (int)K,
                    L->col, NP, 0.0f, m->tmp, NP);
        c.cur = s;
        c.cur_n = nb;
        c.next = s + L->chunk;
        c.next_n = chunk_len(L, c.next, n);
        cnn__workers_run(m->workers, nb > c.next_n ? nb : c.next_n, fwd_task, &c);
    }
}

bool cnn__conv_fuses(const cnn__layer *L, const cnn__layer *relu, const cnn__layer *pool)
{
    return L->kind == CNN_LAYER_CONV2D && relu->kind == CNN_LAYER_RELU && cnn__pool_is_max2x2(pool) &&
           per_image(L);
}

void cnn__conv_relu_pool_forward(cnn_model *m, cnn__layer *L, cnn__layer *relu, cnn__layer *pool, const float *x,
                                 size_t n)
{
    pack(m, L, false);
    par_ctx pc = {m, L, x, NULL, L->out, n, relu, pool};
    cnn__workers_run(m->workers, (size_t)m->threads, par_fwd_task, &pc);
}

void cnn__conv_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n)
{
    if (dx)
        pack(m, L, true);
    if (per_image(L)) {
        par_ctx pc = {m, L, x, dy, dx, n, NULL, NULL};
        cnn__workers_run(m->workers, (size_t)m->threads, par_bwd_task, &pc);
        size_t parts = L->wino ? cnn__wino_reduce_parts(L) : L->direct ? (size_t)L->in_c * L->kh * L->kw : L->w_count;
        cnn__workers_run(m->workers, parts, par_reduce_task, &pc);
        if (L->use_bias) {
            float *db = cnn__dB(m, L);
            for (int oc = 0; oc < L->out_c; oc++) {
                double sum = 0.0;
                for (int t = 0; t < m->threads; t++)
                    sum += m->dscratch[(size_t)t * m->dscratch_ld + (size_t)oc];
                db[oc] = (float)sum;
            }
        }
        return;
    }
    size_t P = (size_t)L->out_h * L->out_w;
    size_t K = (size_t)L->in_c * L->kh * L->kw;
    conv_ctx c = {0};
    c.L = L;
    c.x = x;
    c.dy = dy;
    c.y = dx;
    c.col = L->col;
    c.dcol = L->dcol;
    c.tmp = m->tmp;
    if (L->use_bias) {
        c.cur_n = n;
        c.dbias = m->dscratch;
        cnn__workers_run(m->workers, (size_t)L->out_c, dbias_task, &c);
        float *db = cnn__dB(m, L);
        for (int oc = 0; oc < L->out_c; oc++)
            db[oc] = (float)m->dscratch[oc];
    }
    c.cur_n = 0;
    c.next = 0;
    c.next_n = chunk_len(L, 0, n);
    cnn__workers_run(m->workers, c.next_n, bwd_task, &c);
    for (size_t s = 0; s < n; s += L->chunk) {
        size_t nb = chunk_len(L, s, n);
        int NP = (int)(nb * P);
        /* dW[OC,K] (+)= dY[OC,NP] * col[K,NP]^T, accumulated over the chunks in a fixed order */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L->out_c, (int)K, NP, 1.0f, m->tmp, NP, L->col, NP,
                    s == 0 ? 0.0f : 1.0f, cnn__dW(m, L), (int)K);
        /* dcol[K,NP] = W[OC,K]^T * dY[OC,NP] */
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, NP, L->out_c, 1.0f, cnn__W(m, L), (int)K,
                        m->tmp, NP, 0.0f, L->dcol, NP);
        c.cur = s;
        c.cur_n = dx ? nb : 0;
        c.next = s + L->chunk;
        c.next_n = chunk_len(L, c.next, n);
        size_t work = c.cur_n > c.next_n ? c.cur_n : c.next_n;
        if (work)
            cnn__workers_run(m->workers, work, bwd_task, &c);
    }
}

void cnn__conv_limit_chunk(cnn_model *m, size_t images)
{
    for (size_t i = 0; m && i < m->nlayers; i++) {
        cnn__layer *L = &m->layers[i];
        if (L->kind == CNN_LAYER_CONV2D && images >= 1 && images < L->chunk)
            L->chunk = images;
    }
}
