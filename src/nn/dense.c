/* Fully connected layer: y[N,out] = x[N,in] W[in,out] + b, with W in TensorFlow's MatMul layout so an
 * exported graph needs no transpose.
 *
 * When BLAS runs single-threaded (cnn__blas_single) the engine's threads split each GEMM themselves:
 * forward and the bias gradient by blocks of output columns, dW and dx by blocks of input rows. Every
 * block is written by exactly one thread, so no reduction is needed and the result does not depend on
 * timing. Otherwise each product is one sgemm call and BLAS parallelises it. */
#include "nn_internal.h"

#include <cblas.h>
#include <string.h>

typedef struct dense_ctx {
    const cnn_model *m;
    const cnn__layer *L;
    const float *x, *dy;
    float *dx;
    size_t n;
} dense_ctx;

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

static void fwd_cols(const dense_ctx *c, size_t j0, size_t j1)
{
    const cnn__layer *L = c->L;
    size_t in = L->in_size, out = L->out_size;
    float beta = 0.0f;
    if (j1 <= j0)
        return;
    if (L->use_bias) {
        const float *b = cnn__B(c->m, L);
        for (size_t i = 0; i < c->n; i++)
            memcpy(L->out + i * out + j0, b + j0, sizeof(float) * (j1 - j0));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->n, (int)(j1 - j0), (int)in, 1.0f, c->x, (int)in,
                cnn__W(c->m, L) + j0, (int)out, beta, L->out + j0, (int)out);
}

static void fwd_task(void *p, size_t t0, size_t t1)
{
    const dense_ctx *c = p;
    for (size_t t = t0; t < t1; t++) {
        size_t b, e;
        block(c->L->out_size, (size_t)c->m->threads, t, &b, &e);
        fwd_cols(c, b, e);
    }
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

static void bwd_task(void *p, size_t t0, size_t t1)
{
    const dense_ctx *c = p;
    size_t T = (size_t)c->m->threads;
    for (size_t t = t0; t < t1; t++) {
        size_t b, e;
        block(c->L->in_size, T, t, &b, &e);
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
    if (cnn__blas_single())
        cnn__workers_run(m->workers, (size_t)m->threads, fwd_task, &c);
    else
        fwd_cols(&c, 0, L->out_size);
}

void cnn__dense_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n)
{
    dense_ctx c = {m, L, x, dy, dx, n};
    if (cnn__blas_single()) {
        cnn__workers_run(m->workers, (size_t)m->threads, bwd_task, &c);
        return;
    }
    bwd_rows(&c, 0, L->in_size);
    if (L->use_bias)
        bias_grad(&c, 0, L->out_size);
}
