/* The small net both data-parallel suites train (test_nn_dist in one process, mpi_equiv across
   ranks): conv-relu-pool-dense-relu-dense on 12x12 images, without dropout, so shards and the
   whole batch see one function. */
#ifndef TBW_TEST_DIST_NET_H
#define TBW_TEST_DIST_NET_H

#include <stddef.h>
#include <stdint.h>

#include <tbw/cnn.h>

#define SIDE 12
#define PX (SIDE * SIDE)

static inline cnn_model *dist_net(size_t batch, int threads, cnn_optimizer opt, uint64_t seed)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = threads;
    mo.optimizer = opt;
    mo.seed = seed;
    mo.learning_rate = 1e-3f;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, 1, SIDE, SIDE, &mo, NULL, 0))
        return NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = 6;
    c.kernel_h = c.kernel_w = 3;
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    cnn_dense_opts d1 = CNN_DENSE_OPTS_INIT, d2 = CNN_DENSE_OPTS_INIT;
    d1.units = 24;
    d2.units = 10;
    d2.init = CNN_INIT_GLOROT;
    int rc = cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_relu(m, "relu1") |
             cnn_model_add_maxpool(m, "pool1", &p) | cnn_model_add_flatten(m, "flatten") |
             cnn_model_add_dense(m, "fc1", &d1) | cnn_model_add_relu(m, "relu2") | cnn_model_add_dense(m, "fc2", &d2);
    if (rc || cnn_model_build(m, batch)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

#endif
