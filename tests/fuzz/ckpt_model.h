/* The small model the checkpoint fuzz target loads into and make_seeds saves from. */
#ifndef TBW_FUZZ_CKPT_MODEL_H
#define TBW_FUZZ_CKPT_MODEL_H

#include <tbw/cnn.h>

static inline cnn_model *fuzz_ckpt_model(void)
{
    cnn_model_opts o = CNN_MODEL_OPTS_INIT;
    o.threads = 1;
    cnn_model *m;
    if (cnn_model_create(&m, 1, 4, 4, &o, NULL, 0))
        return NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = 2;
    c.kernel_h = c.kernel_w = 3;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 3;
    if (cnn_model_add_conv2d(m, "conv", &c) || cnn_model_add_flatten(m, "flat") || cnn_model_add_dense(m, "fc", &d) ||
        cnn_model_build(m, 2)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

#endif
