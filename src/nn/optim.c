/* Optimizers over the single parameter arena, one fused pass split across the model's threads.
 * Adam follows TensorFlow: the bias correction is folded into the step size,
 *   lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t),  w -= lr_t * m / (sqrt(v) + eps),
 * so eps acts on the uncorrected sqrt(v) exactly as tf.compat.v1.train.AdamOptimizer does. */
#include "nn_internal.h"

#include <math.h>

typedef struct opt_ctx {
    cnn_model *m;
    float lr_t, b1, b2, eps, mu;
} opt_ctx;

static void adam_task(void *p, size_t b, size_t e)
{
    opt_ctx *c = p;
    float *w = c->m->params, *g = c->m->grads, *mm = c->m->slot1, *v = c->m->slot2;
    const float b1 = c->b1, b2 = c->b2, ob1 = 1.0f - c->b1, ob2 = 1.0f - c->b2, lr = c->lr_t, eps = c->eps;
    for (size_t i = b; i < e; i++) {
        float gi = g[i];
        float mi = b1 * mm[i] + ob1 * gi;
        float vi = b2 * v[i] + ob2 * gi * gi;
        mm[i] = mi;
        v[i] = vi;
        w[i] -= lr * mi / (sqrtf(vi) + eps);
    }
}

static void sgd_task(void *p, size_t b, size_t e)
{
    opt_ctx *c = p;
    float *w = c->m->params, *g = c->m->grads, *v = c->m->slot1;
    const float mu = c->mu, lr = c->lr_t;
    for (size_t i = b; i < e; i++) {
        float vi = mu * v[i] - lr * g[i];
        v[i] = vi;
        w[i] += vi;
    }
}

void cnn__optim_step(cnn_model *m)
{
    opt_ctx c = {m, m->opts.learning_rate, m->opts.beta1, m->opts.beta2, m->opts.epsilon, m->opts.momentum};
    m->step++;
    if (m->opts.optimizer == CNN_OPT_ADAM) {
        double t = (double)m->step;
        double corr = sqrt(1.0 - pow((double)m->opts.beta2, t)) / (1.0 - pow((double)m->opts.beta1, t));
        c.lr_t = (float)((double)m->opts.learning_rate * corr);
        cnn__workers_run(m->workers, m->nparams, adam_task, &c);
    } else {
        cnn__workers_run(m->workers, m->nparams, sgd_task, &c);
    }
}
