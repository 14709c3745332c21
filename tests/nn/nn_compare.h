/* Two models of one net, built to compute differently, trained side by side on the same batch. Include
 * after check.h and nn_data.h. */
#ifndef TBW_NN_COMPARE_H
#define TBW_NN_COMPARE_H

#include <tbw/cnn.h>

/* `steps` rounds of forward, loss, backward and optimizer step on a and b; after each backward the loss,
 * every layer's output, every gradient and, with input_grad, the input gradient (nx floats) must agree
 * within tol (max_rel_diff). The rounds after the first run on weights the optimizer moved. `what`
 * names the case in a failure. */
static inline void same_training_steps(cnn_model *a, cnn_model *b, const float *x, const int32_t *y, size_t n,
                                       size_t nx, bool input_grad, int steps, double tol, const char *what)
{
    for (int step = 0; step < steps; step++) {
        double la, lb;
        CHECK_INT(0, cnn_model_forward(a, x, n, true));
        CHECK_INT(0, cnn_model_loss(a, y, n, &la, NULL));
        CHECK_INT(0, cnn_model_backward(a));
        CHECK_INT(0, cnn_model_forward(b, x, n, true));
        CHECK_INT(0, cnn_model_loss(b, y, n, &lb, NULL));
        CHECK_INT(0, cnn_model_backward(b));
        CHECK_NEAR(la, lb, tol);
        for (size_t l = 0; l < cnn_model_layer_count(a); l++) {
            cnn_layer_info ia, ib;
            cnn_model_layer_info(a, l, &ia);
            cnn_model_layer_info(b, l, &ib);
            size_t per = (size_t)ia.out_c * ia.out_h * ia.out_w;
            double od = max_rel_diff(ia.output, ib.output, n * per);
            CHECK_(od <= tol, "%s step %d: layer %zu output differs by %g", what, step, l, od);
            for (int p = 0; p < ia.nparams; p++) {
                double gd = max_rel_diff(ia.grads[p].data, ib.grads[p].data, ia.grads[p].count);
                CHECK_(gd <= tol, "%s step %d: layer %zu gradient %d differs by %g", what, step, l, p, gd);
            }
        }
        if (input_grad) {
            double xd = max_rel_diff(cnn_model_input_grad(a), cnn_model_input_grad(b), nx);
            CHECK_(xd <= tol, "%s step %d: input gradient differs by %g", what, step, xd);
        }
        CHECK_INT(0, cnn_model_step(a));
        CHECK_INT(0, cnn_model_step(b));
    }
}

#endif
