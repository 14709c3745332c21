/* Elementwise layers: ReLU, sigmoid, tanh, flatten (a copy) and inverted dropout. The elementwise loops
 * are split over the batch; dropout draws its mask on the calling thread so the mask depends only on the
 * model's RNG state. */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

typedef struct act_ctx {
    const cnn__layer *L;
    const float *x;
    const float *dy;
    float *dx;
} act_ctx;

static void fwd_task(void *p, size_t b, size_t e)
{
    act_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t lo = b * L->out_size, hi = e * L->out_size;
    const float *x = c->x;
    float *y = L->out;
    switch (L->kind) {
    case CNN_LAYER_RELU:
        for (size_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case CNN_LAYER_SIGMOID:
        for (size_t i = lo; i < hi; i++)
            y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + expf(-x[i])) : expf(x[i]) / (1.0f + expf(x[i]));
        break;
    case CNN_LAYER_TANH:
        for (size_t i = lo; i < hi; i++)
            y[i] = tanhf(x[i]);
        break;
    default:
        memcpy(y + lo, x + lo, sizeof(float) * (hi - lo));
        break;
    }
}

static void bwd_task(void *p, size_t b, size_t e)
{
    act_ctx *c = p;
    const cnn__layer *L = c->L;
    size_t lo = b * L->out_size, hi = e * L->out_size;
    const float *y = L->out, *dy = c->dy;
    float *dx = c->dx;
    switch (L->kind) {
    case CNN_LAYER_RELU:
        /* dy is read unconditionally so the select vectorises (a conditional load stays a branch,
         * mispredicted on half the cells) */
        for (size_t i = lo; i < hi; i++) {
            const float g = dy[i];
            dx[i] = y[i] > 0.0f ? g : 0.0f;
        }
        break;
    case CNN_LAYER_SIGMOID:
        for (size_t i = lo; i < hi; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case CNN_LAYER_TANH:
        for (size_t i = lo; i < hi; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case CNN_LAYER_DROPOUT:
        for (size_t i = lo; i < hi; i++)
            dx[i] = dy[i] * L->mask[i];
        break;
    default:
        memcpy(dx + lo, dy + lo, sizeof(float) * (hi - lo));
        break;
    }
}

void cnn__act_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n, bool training)
{
    if (L->kind == CNN_LAYER_DROPOUT) {
        size_t total = n * L->out_size;
        if (!training || L->rate <= 0.0f) {
            memcpy(L->out, x, sizeof(float) * total);
            for (size_t i = 0; i < total; i++)
                L->mask[i] = 1.0f;
            return;
        }
        float keep = 1.0f - L->rate, scale = 1.0f / keep;
        for (size_t i = 0; i < total; i++) {
            L->mask[i] = cnn__rng_uniform(&m->rng) < keep ? scale : 0.0f;
            L->out[i] = x[i] * L->mask[i];
        }
        return;
    }
    act_ctx c = {L, x, NULL, NULL};
    cnn__workers_run(m->workers, n, fwd_task, &c);
}

void cnn__act_backward(cnn_model *m, cnn__layer *L, const float *dy, float *dx, size_t n)
{
    act_ctx c = {L, NULL, dy, dx};
    cnn__workers_run(m->workers, n, bwd_task, &c);
}
