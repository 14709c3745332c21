/* Training behaviour: Adam and SGD steps against hand-computed values, overfitting a fixed batch,
 * the zero-init stall at ln 10, and run-to-run reproducibility. */
#include <tbw/cnn.h>

#include <stdlib.h>

#include "../check.h"
#include "nn_data.h"

#include <cblas.h>
#if defined(__x86_64__)
#include <fenv.h>
#include <xmmintrin.h>
#endif

/* One dense layer 2 -> 2 without bias; weights and input chosen so the gradient is known. */
static cnn_model *tiny(int optimizer, float lr)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    mo.optimizer = optimizer;
    mo.learning_rate = lr;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, 2, 1, 1, &mo, NULL, 0))
        return NULL;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 2;
    d.use_bias = false;
    d.init = CNN_INIT_ZEROS;
    if (cnn_model_add_dense(m, "fc", &d) || cnn_model_build(m, 1)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

TEST(adam_steps_match_the_hand_computed_update)
{
    cnn_model *m = tiny(CNN_OPT_ADAM, 0.1f);
    CHECK_TRUE(m != NULL);
    if (!m)
        return;
    cnn_layer_info li;
    cnn_model_layer_info(m, 0, &li);
    float *w = li.params[0].data; /* [in=2, out=2], zero */
    float x[2] = {1.0f, 2.0f};
    int32_t y = 0;
    /* zero weights: logits 0, softmax 0.5/0.5, dz = (-0.5, 0.5); dW[i][j] = x[i] * dz[j] */
    const double g[4] = {-0.5, 0.5, -1.0, 1.0};
    double mm[4] = {0}, v[4] = {0}, ref[4] = {0};
    for (int t = 1; t <= 2; t++) {
        double l;
        CHECK_INT(0, cnn_model_train_step(m, x, &y, 1, &l, NULL));
        if (t == 1)
            CHECK_NEAR(log(2.0), l, 1e-6);
        /* second step: recompute the gradient from the updated reference weights */
        double gg[4];
        if (t == 1) {
            memcpy(gg, g, sizeof gg);
        } else {
            double z0 = x[0] * ref[0] + x[1] * ref[2], z1 = x[0] * ref[1] + x[1] * ref[3];
            double p0 = 1 / (1 + exp(z1 - z0)), dz[2] = {p0 - 1, 1 - p0};
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                    gg[i * 2 + j] = x[i] * dz[j];
        }
        double lr_t = 0.1 * sqrt(1 - pow(0.999, t)) / (1 - pow(0.9, t));
        for (int k = 0; k < 4; k++) {
            mm[k] = 0.9 * mm[k] + 0.1 * gg[k];
            v[k] = 0.999 * v[k] + 0.001 * gg[k] * gg[k];
            ref[k] -= lr_t * mm[k] / (sqrt(v[k]) + 1e-8);
        }
        for (int k = 0; k < 4; k++)
            CHECK_NEAR(ref[k], w[k], 1e-6);
    }
    /* Hand value of the first step: lr_t = 0.1*sqrt(0.001)/0.1, m = 0.1 g, sqrt(v) = sqrt(0.001)|g|,
     * so every weight moves by about 0.1 against its gradient's sign. */
    CHECK_INT(2, cnn_model_step_count(m));
    cnn_model_free(m);

    m = tiny(CNN_OPT_ADAM, 0.1f);
    cnn_model_layer_info(m, 0, &li);
    CHECK_INT(0, cnn_model_train_step(m, x, &y, 1, NULL, NULL));
    CHECK_NEAR(0.1 * 0.5 / (0.5 + 1e-8 / sqrt(0.001)), li.params[0].data[0], 1e-6);
    CHECK_NEAR(-0.1, li.params[0].data[1], 1e-6);
    cnn_model_free(m);
}

TEST(sgd_momentum_steps_match_the_hand_computed_update)
{
    cnn_model *m = tiny(CNN_OPT_SGD, 0.5f);
    CHECK_TRUE(m != NULL);
    if (!m)
        return;
    cnn_layer_info li;
    cnn_model_layer_info(m, 0, &li);
    float x[2] = {1.0f, 2.0f};
    int32_t y = 0;
    CHECK_INT(0, cnn_model_train_step(m, x, &y, 1, NULL, NULL));
    /* v = -lr g */
    CHECK_NEAR(0.25, li.params[0].data[0], 1e-7);
    CHECK_NEAR(-0.5, li.params[0].data[3], 1e-7);
    /* second step gradient on the new weights, then v = 0.9 v - lr g */
    double z0 = 0.25 * 1 + 0.5 * 2, z1 = -0.25 * 1 - 0.5 * 2;
    double p0 = 1 / (1 + exp(z1 - z0));
    double g00 = 1 * (p0 - 1);
    double expect = 0.25 + (0.9 * 0.25 - 0.5 * g00);
    CHECK_INT(0, cnn_model_train_step(m, x, &y, 1, NULL, NULL));
    CHECK_NEAR(expect, li.params[0].data[0], 1e-6);
    cnn_model_free(m);
}

static cnn_model *small_cnn(int init, uint64_t seed, int threads, float lr)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = threads;
    mo.seed = seed;
    mo.learning_rate = lr;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, 1, 12, 12, &mo, NULL, 0))
        return NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = 8;
    c.kernel_h = c.kernel_w = 3;
    c.init = init;
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    cnn_dense_opts d1 = CNN_DENSE_OPTS_INIT, d2 = CNN_DENSE_OPTS_INIT;
    d1.units = 32;
    d1.init = init;
    d2.units = 10;
    d2.init = init;
    int rc = cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_relu(m, "relu1") |
             cnn_model_add_maxpool(m, "pool1", &p) | cnn_model_add_flatten(m, "flatten") |
             cnn_model_add_dense(m, "fc1", &d1) | cnn_model_add_relu(m, "relu2") |
             cnn_model_add_dropout(m, "dropout", 0.1f) | cnn_model_add_dense(m, "fc2", &d2);
    if (rc || cnn_model_build(m, 20)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

static void make_batch(float *x, int32_t *y)
{
    for (int i = 0; i < 20 * 144; i++)
        x[i] = (float)test_uniform();
    for (int i = 0; i < 20; i++)
        y[i] = i % 10;
}

static void overfit(void)
{
    cnn_model *m = small_cnn(CNN_INIT_HE, 3, 2, 3e-3f);
    CHECK_TRUE(m != NULL);
    if (!m)
        return;
    float x[20 * 144];
    int32_t y[20];
    make_batch(x, y);
    double loss = 0, acc = 0, first = 0;
    for (int it = 0; it < 300; it++) {
        CHECK_INT(0, cnn_model_train_step(m, x, y, 20, &loss, &acc));
        if (it == 0)
            first = loss;
    }
    double el, ea;
    CHECK_INT(0, cnn_model_evaluate(m, x, y, 20, &el, &ea));
    CHECK_NEAR(1.0, ea, 0.0);
    CHECK_TRUE(el < 0.05 && el < first);
    int32_t pred[20];
    CHECK_INT(0, cnn_model_predict(m, x, 20, pred));
    int right = 0;
    for (int i = 0; i < 20; i++)
        right += pred[i] == y[i];
    CHECK_INT(20, right);
    cnn_model_free(m);
}

/* With every weight zero, all ReLU pre-activations are 0, every gradient except the last bias is 0,
 * and with balanced labels the last bias gradient is 0 too: the loss stays at ln 10. */
TEST(zero_initialised_weights_stall_the_loss_at_ln_10)
{
    cnn_model *m = small_cnn(CNN_INIT_ZEROS, 3, 1, 1e-2f);
    CHECK_TRUE(m != NULL);
    if (!m)
        return;
    float x[20 * 144];
    int32_t y[20];
    make_batch(x, y);
    double loss = 0;
    for (int it = 0; it < 20; it++)
        CHECK_INT(0, cnn_model_train_step(m, x, y, 20, &loss, NULL));
    CHECK_NEAR(log(10.0), loss, 1e-5);
    cnn_model_free(m);
}

static void reproducible(int threads)
{
    float x[20 * 144];
    int32_t y[20];
    make_batch(x, y);
    cnn_model *a = small_cnn(CNN_INIT_GLOROT, 11, threads, 1e-3f), *b = small_cnn(CNN_INIT_GLOROT, 11, threads, 1e-3f);
    CHECK_TRUE(a && b);
    if (!a || !b) {
        cnn_model_free(a);
        cnn_model_free(b);
        return;
    }
    for (int it = 0; it < 5; it++) {
        cnn_model_train_step(a, x, y, 20, NULL, NULL);
        cnn_model_train_step(b, x, y, 17, NULL, NULL); /* partial batch path */
        cnn_model_train_step(a, x, y, 17, NULL, NULL);
        cnn_model_train_step(b, x, y, 20, NULL, NULL);
    }
    /* a and b ran different orders, so compare a against a fresh replica instead */
    cnn_model *c = small_cnn(CNN_INIT_GLOROT, 11, threads, 1e-3f);
    for (int it = 0; it < 5; it++) {
        cnn_model_train_step(c, x, y, 20, NULL, NULL);
        cnn_model_train_step(c, x, y, 17, NULL, NULL);
    }
    size_t diff = 0;
    for (size_t l = 0; l < cnn_model_layer_count(a); l++) {
        cnn_layer_info ia, ic;
        cnn_model_layer_info(a, l, &ia);
        cnn_model_layer_info(c, l, &ic);
        for (int p = 0; p < ia.nparams; p++)
            diff += memcmp(ia.params[p].data, ic.params[p].data, ia.params[p].count * sizeof(float)) != 0;
    }
    CHECK_INT(0, diff);
    cnn_model_free(a);
    cnn_model_free(b);
    cnn_model_free(c);
}

TEST(he_init_depends_on_the_seed_alone_and_has_the_he_variance)
{
    cnn_model *a = small_cnn(CNN_INIT_HE, 5, 1, 1e-3f), *b = small_cnn(CNN_INIT_HE, 5, 2, 1e-3f),
              *c = small_cnn(CNN_INIT_HE, 6, 1, 1e-3f);
    cnn_layer_info ia, ib, ic;
    cnn_model_layer_info(a, 0, &ia);
    cnn_model_layer_info(b, 0, &ib);
    cnn_model_layer_info(c, 0, &ic);
    CHECK_TRUE(memcmp(ia.params[0].data, ib.params[0].data, ia.params[0].count * sizeof(float)) == 0);
    CHECK_TRUE(memcmp(ia.params[0].data, ic.params[0].data, ia.params[0].count * sizeof(float)) != 0);
    /* He: stddev sqrt(2 / fan_in) = sqrt(2/9) for 3x3x1 */
    double s2 = 0;
    for (size_t i = 0; i < ia.params[0].count; i++)
        s2 += (double)ia.params[0].data[i] * ia.params[0].data[i];
    CHECK_NEAR(2.0 / 9.0, s2 / (double)ia.params[0].count, 0.1);
    cnn_model_layer_info(a, 4, &ia);
    double lim = sqrt(6.0 / (72 * 4 + 32)), mx = 0;
    (void)lim;
    for (size_t i = 0; i < ia.params[0].count; i++)
        mx = fmax(mx, fabs(ia.params[0].data[i]));
    CHECK_TRUE(mx > 0);
    cnn_model_free(a);
    cnn_model_free(b);
    cnn_model_free(c);
}

/* Denormals are flushed inside the engine's work (as in TensorFlow's CPU kernels) and the caller's
 * floating-point mode is left as it was. With a denormal input every dense output is exactly its bias
 * (DAZ); without the flush it would be a tiny non-zero product. */
static void denormals_flushed(int threads)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = threads;
    cnn_model *m = NULL;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 4;
    d.bias_init = 0.0f;
    CHECK_INT(0, cnn_model_create(&m, 8, 1, 1, &mo, NULL, 0));
    CHECK_INT(0, cnn_model_add_dense(m, "fc", &d));
    CHECK_INT(0, cnn_model_build(m, 2));
    float x[16];
    for (int i = 0; i < 16; i++)
        x[i] = 1e-40f * (float)(i + 1); /* all below FLT_MIN: denormal */
    CHECK_TRUE(x[0] != 0.0f && x[15] < 1.17549435e-38f);
#if defined(__x86_64__)
    unsigned before = _mm_getcsr();
#endif
    CHECK_INT(0, cnn_model_forward(m, x, 2, false));
#if defined(__x86_64__)
    CHECK_INT(before & ~0x3Fu, _mm_getcsr() & ~0x3Fu); /* modes and masks as they were; flags may rise */
    const float *y = cnn_model_output(m);
    int zeros = 0;
    for (int i = 0; i < 8; i++)
        zeros += y[i] == 0.0f;
    CHECK_INT(8, zeros);
    /* the caller's own arithmetic still keeps denormals */
    volatile float a = x[0], b = 0.5f;
    CHECK_TRUE(a * b != 0.0f);
    if (threads == 1) { /* work on the calling thread: its exception flags stay visible */
        cnn_layer_info li;
        cnn_model_layer_info(m, 0, &li);
        for (size_t i = 0; i < li.params[0].count; i++)
            li.params[0].data[i] = 1.0f;
        for (int i = 0; i < 16; i++)
            x[i] = 3e38f;
        feclearexcept(FE_ALL_EXCEPT);
        CHECK_INT(0, cnn_model_forward(m, x, 2, false));
        CHECK_TRUE(fetestexcept(FE_OVERFLOW) != 0);
        CHECK_TRUE(isinf(cnn_model_output(m)[0]));
    }
#endif
    cnn_model_free(m);
}

TEST(denormals_are_flushed_on_the_calling_thread_and_its_fp_mode_and_flags_are_kept)
{
    denormals_flushed(1);
}

TEST(denormals_are_flushed_on_the_engine_threads_and_the_callers_fp_mode_is_kept)
{
    denormals_flushed(2);
}

TEST(a_small_cnn_overfits_a_fixed_batch_to_full_accuracy)
{
    overfit();
}

/* the engine's threads split the GEMMs when BLAS runs on one thread */
TEST(a_small_cnn_overfits_a_fixed_batch_to_full_accuracy_with_blas_on_one_thread)
{
    openblas_set_num_threads(1);
    overfit();
}

TEST(training_on_one_engine_thread_is_reproducible_bit_for_bit)
{
    reproducible(1);
}

TEST(training_on_two_engine_threads_is_reproducible_bit_for_bit)
{
    reproducible(2);
}

TEST(training_on_one_engine_thread_with_blas_on_one_thread_is_reproducible_bit_for_bit)
{
    openblas_set_num_threads(1);
    reproducible(1);
}

TEST(training_on_two_engine_threads_with_blas_on_one_thread_is_reproducible_bit_for_bit)
{
    openblas_set_num_threads(1);
    reproducible(2);
}

static const check_case tests[] = {
    CASE(denormals_are_flushed_on_the_calling_thread_and_its_fp_mode_and_flags_are_kept),
    CASE(denormals_are_flushed_on_the_engine_threads_and_the_callers_fp_mode_is_kept),
    CASE(adam_steps_match_the_hand_computed_update),
    CASE(sgd_momentum_steps_match_the_hand_computed_update),
    CASE(a_small_cnn_overfits_a_fixed_batch_to_full_accuracy),
    CASE(zero_initialised_weights_stall_the_loss_at_ln_10),
    CASE(training_on_one_engine_thread_is_reproducible_bit_for_bit),
    CASE(training_on_two_engine_threads_is_reproducible_bit_for_bit),
    CASE(he_init_depends_on_the_seed_alone_and_has_the_he_variance),
    CASE(a_small_cnn_overfits_a_fixed_batch_to_full_accuracy_with_blas_on_one_thread),
    CASE(training_on_one_engine_thread_with_blas_on_one_thread_is_reproducible_bit_for_bit),
    CASE(training_on_two_engine_threads_with_blas_on_one_thread_is_reproducible_bit_for_bit),
};
CHECK_MAIN(tests)
