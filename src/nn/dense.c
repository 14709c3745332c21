/* Fully connected layer: y[N,out] = x[N,in] W[in,out] + b, with W in TensorFlow's MatMul layout so an
 * exported graph needs no transpose.
 *
 * Two ways to compute the three products, chosen per layer when the model is built (L->mm_own):
 *
 * - The engine's own kernel (gemm16.c), on AVX-512F or AVX2 CPUs for layers whose width is a multiple of 16.
 *   The forward packs W block by block: a thread owns 64 output columns at a time, copies a block of
 *   their rows of W into a contiguous [rows][64] panel that stays in its L2, and multiplies the batch
 *   by it. dW = x^T dy reads x transposed through the kernel's strides, in blocks of input rows that
 *   keep their part of x and all of dy in L2. dx comes out transposed, dx^T = W dy^T: W's rows are read
 *   in place and dy^T (small: out x batch) is made once per step; each block of rows of dx^T goes
 *   back into dx while it is in L1. No product copies W whole, so the layer holds no second W.
 * - Otherwise sgemm. When BLAS runs single-threaded (cnn__blas_single) the engine's threads split each
 *   GEMM themselves, forward and the bias gradient by blocks of output columns, dW and dx by blocks of
 *   input rows; otherwise each product is one sgemm call and BLAS parallelises it.
 *
 * Either way every block is written by exactly one thread, so no reduction is needed and the result does
 * not depend on timing. */
#include "nn_internal.h"

#include <cblas.h>
#include <string.h>

enum {
    LANES = 16,
    PANEL = 64,     /* output columns per packed panel: one kernel call's width */
    KBLOCK = 768,   /* most rows of W per packed block: 768 x 64 floats = 192 KB */
    WROWS = 224,    /* input rows per dW block: with batch 100, 88 KB of x and dy's 400 KB */
    XROWS = 32      /* input rows per block of dx^T: two cache lines of dx per sample */
};

typedef struct dense_ctx {
    const cnn_model *m;
    const cnn__layer *L;
    const float *x, *dy;
    float *dx;
    size_t n;
} dense_ctx;

static size_t round16(size_t n)
{
    return (n + LANES - 1) / LANES * LANES;
}

/* Block t of T over [0, len) in units of 16 floats (one cache line), so threads never share a line. */
static void block(size_t len, size_t T, size_t t, size_t *b, size_t *e)
{
    size_t units = (len + 15) / 16;
    *b = units * t / T * 16;
    *e = units * (t + 1) / T * 16;
    if (*b > len)
        *b = len;
    if (*e > len)
        *e = len;
}

bool cnn__dense_own_fits(const cnn__layer *L)
{
    return L->isa && L->out_size % LANES == 0;
}

size_t cnn__dense_pack_floats(const cnn__layer *L)
{
    return (size_t)(L->in_size < KBLOCK ? round16(L->in_size) : KBLOCK) * PANEL;
}

/* Rows of round16(batch) floats: dy^T [out], then per thread [XROWS] for its block of dx^T */
size_t cnn__dense_trans_rows(const cnn__layer *L, int threads)
{
    return L->out_size + (size_t)threads * XROWS;
}

static void bias_rows(const dense_ctx *c, size_t j0, size_t j1)
{
    const cnn__layer *L = c->L;
    const float *b = cnn__B(c->m, L);
    for (size_t i = 0; i < c->n; i++)
        memcpy(L->out + i * L->out_size + j0, b + j0, sizeof(float) * (j1 - j0));
}

static void bias_grad(const dense_ctx *c, size_t j0, size_t j1)
{
    const cnn__layer *L = c->L;
    size_t out = L->out_size;
    float *db = cnn__dB(c->m, L);
    for (size_t j = j0; j < j1; j++)
        db[j] = 0.0f;
    for (size_t i = 0; i < c->n; i++) {
        const float *row = c->dy + i * out;
        for (size_t j = j0; j < j1; j++)
            db[j] += row[j];
    }
}

/* ---- the engine's kernel ---- */

/* Output columns [j0, j1) (multiples of 16) in panels of 64, each over blocks of W's rows. */
static void own_fwd_cols(const dense_ctx *c, size_t j0, size_t j1, int t)
{
    const cnn__layer *L = c->L;
    const size_t in = L->in_size, out = L->out_size;
    const size_t nb = (in + KBLOCK - 1) / KBLOCK, kb = (in + nb - 1) / nb; /* even blocks */
    const float *w = cnn__W(c->m, L);
    float *pk = L->mmpk + (size_t)t * cnn__dense_pack_floats(L);
    if (j1 <= j0)
        return;
    if (L->use_bias)
        bias_rows(c, j0, j1);
    for (size_t j = j0; j < j1; j += PANEL) {
        const size_t cols = j1 - j < PANEL ? j1 - j : PANEL;
        for (size_t k0 = 0; k0 < in; k0 += kb) {
            const size_t rows = in - k0 < kb ? in - k0 : kb;
            cnn__copy16(L->isa, w + k0 * out + j, rows, out, cols, pk, cols);
            cnn__gemm16(L->isa, (int)c->n, (int)rows, c->x + k0, in, 1, pk, cols, (int)cols, L->out + j, out,
                         L->use_bias || k0 > 0);
        }
    }
}

/* Columns [j0, j1) of dy into dy^T, and of the bias gradient. */
static void own_trans_task(void *p, size_t t0, size_t t1)
{
    const dense_ctx *c = p;
    const cnn__layer *L = c->L;
    const size_t out = L->out_size, np = round16(c->n);
    for (size_t t = t0; t < t1; t++) {
        size_t j0, j1;
        block(out, (size_t)c->m->threads, t, &j0, &j1);
        for (size_t j = j0; c->dx && j < j1; j++) {
            float *row = L->mmt + j * np;
            for (size_t i = 0; i < c->n; i++)
                row[i] = c->dy[i * out + j];
            for (size_t i = c->n; i < np; i++)
                row[i] = 0.0f;
        }
        if (L->use_bias)
            bias_grad(c, j0, j1);
    }
}

/* Rows [r0, r1) of dW and columns [r0, r1) of dx. */
static void own_bwd_rows(const dense_ctx *c, size_t r0, size_t r1, int t)
{
    const cnn__layer *L = c->L;
    const size_t in = L->in_size, out = L->out_size, n = c->n, np = round16(n);
    const size_t npa = round16(c->m->batch);
    float *dw = cnn__dW(c->m, L);
    for (size_t r = r0; r < r1; r += WROWS) { /* dW[r][:] = sum_i x[i][r] dy[i][:] */
        const size_t rows = r1 - r < WROWS ? r1 - r : WROWS;
        cnn__gemm16(L->isa, (int)rows, (int)n, c->x + r, 1, in, c->dy, out, (int)out, dw + r * out, out, false);
    }
    if (!c->dx)
        return;
    const float *w = cnn__W(c->m, L);
    float *xt = L->mmt + out * npa + (size_t)t * XROWS * npa;
    for (size_t r = r0; r < r1; r += XROWS) { /* dx^T[r][:] = sum_j W[r][j] dy^T[j][:] */
        const size_t rows = r1 - r < XROWS ? r1 - r : XROWS;
        cnn__gemm16(L->isa, (int)rows, (int)out, w + r * out, out, 1, L->mmt, np, (int)np, xt, np, false);
        for (size_t i = 0; i < n; i++) {
            float *d = c->dx + i * in + r;
            for (size_t q = 0; q < rows; q++)
                d[q] = xt[q * np + i];
        }
    }
}

/* ---- sgemm ---- */

static void fwd_cols(const dense_ctx *c, size_t j0, size_t j1)
{
    const cnn__layer *L = c->L;
    size_t in = L->in_size, out = L->out_size;
    if (j1 <= j0)
        return;
    if (L->use_bias)
        bias_rows(c, j0, j1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->n, (int)(j1 - j0), (int)in, 1.0f, c->x, (int)in,
                cnn__W(c->m, L) + j0, (int)out, L->use_bias ? 1.0f : 0.0f, L->out + j0, (int)out);
}



/* Rows [r0, r1) of dW (= x[:, r0:r1]^T dy) and columns [r0, r1) of dx (= dy W[r0:r1, :]^T). */
static void bwd_rows(const dense_ctx *c, size_t r0, size_t r1)
{
    const cnn__layer *L = c->L;
    int in = (int)L->in_size, out = (int)L->out_size, n = (int)c->n, rows = (int)(r1 - r0);
    if (r1 <= r0)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, out, n, 1.0f, c->x + r0, in, c->dy, out, 0.0f,
                cnn__dW(c->m, L) + r0 * (size_t)out, out);
    if (c->dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, out, 1.0f, c->dy, out,
                    cnn__W(c->m, L) + r0 * (size_t)out, out, 0.0f, c->dx + r0, in);
}

/* ---- split over the engine's threads, on either kernel ---- */

static void fwd_task(void *p, size_t t0, size_t t1)
{
    const dense_ctx *c = p;
    for (size_t t = t0; t < t1; t++) {
        size_t b, e;
        block(c->L->out_size, (size_t)c->m->threads, t, &b, &e);
        if (c->L->mm_own)
            own_fwd_cols(c, b, e, (int)t);
        else
            fwd_cols(c, b, e);
    }
}

/* on the engine's kernel the bias gradient was taken with dy^T (own_trans_task) */
static void bwd_task(void *p, size_t t0, size_t t1)
{
    const dense_ctx *c = p;
    size_t T = (size_t)c->m->threads;
    for (size_t t = t0; t < t1; t++) {
        size_t b, e;
        block(c->L->in_size, T, t, &b, &e);
        if (c->L->mm_own) {
            own_bwd_rows(c, b, e, (int)t);
            continue;
        }
        bwd_rows(c, b, e);
        if (c->L->use_bias) {
            block(c->L->out_size, T, t, &b, &e);
            bias_grad(c, b, e);
        }
    }
}

void cnn__dense_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n)
{
    dense_ctx c = {m, L, x, NULL, NULL, n};
    if (L->mm_own || cnn__blas_single())
        cnn__workers_run(m->workers, (size_t)m->threads, fwd_task, &c);
    else
        fwd_cols(&c, 0, L->out_size);
}

void cnn__dense_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n)
{
    dense_ctx c = {m, L, x, dy, dx, n};
    if (L->mm_own)
        cnn__workers_run(m->workers, (size_t)m->threads, own_trans_task, &c);
    if (L->mm_own || cnn__blas_single()) {
        cnn__workers_run(m->workers, (size_t)m->threads, bwd_task, &c);
        return;
    }
    bwd_rows(&c, 0, L->in_size);
    if (L->use_bias)
        bias_grad(&c, 0, L->out_size);
}
