/* Dense layers on the engine's own kernel, on each instruction set the CPU has, against the same layers
 * on sgemm (built with TBW_NO_AVX512=1 and TBW_NO_AVX2=1):
 * outputs, every gradient and the input gradient agree over two optimizer steps, on shapes that cover a
 * reduction in several packed blocks and one shorter than a vector, more than one 64-column panel and a
 * 16-column one, batches that are not a multiple of 16, more threads than blocks of work, layers without
 * bias and a first layer without an input gradient. Each case runs in its own process, so the
 * environment it sets stays there. */
#include <tbw/cnn.h>

#include <stdlib.h>

#include "../check.h"
#include "nn_data.h"
#include "nn_compare.h"
#include "isa.h"

typedef struct dshape {
    int c, h, w;  /* input, flattened by the dense layer */
    int units;    /* the layer under test */
    bool bias, input_grad;
    int threads, n;
} dshape;

/* isa: the engine's kernels on that set, or NULL for sgemm */
static cnn_model *dense_net(const dshape *s, const char *isa)
{
    test_isa_use(isa);
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = s->threads;
    mo.seed = 13;
    mo.input_grad = s->input_grad;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, s->c, s->h, s->w, &mo, NULL, 0))
        return NULL;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT, top = CNN_DENSE_OPTS_INIT;
    d.units = s->units;
    d.use_bias = s->bias;
    d.bias_init = 0.05f;
    top.units = 3;
    int rc = cnn_model_add_dense(m, "fc", &d) | cnn_model_add_relu(m, "relu") | cnn_model_add_dense(m, "top", &top);
    if (rc || cnn_model_build(m, (size_t)s->n)) {
        fprintf(stderr, "dense_net: %s\n", cnn_model_errmsg(m));
        cnn_model_free(m);
        m = NULL;
    }
    test_isa_reset();
    return m;
}

static void isa_matches_sgemm(dshape s, const char *isa)
{
    cnn_model *a = dense_net(&s, isa), *b = dense_net(&s, NULL);
    size_t nx = (size_t)s.n * s.c * s.h * s.w;
    float *x = malloc(nx * sizeof *x);
    int32_t *y = malloc((size_t)s.n * sizeof *y);
    CHECK_TRUE(a && b && x && y);
    if (!a || !b || !x || !y)
        goto done;
    cnn_layer_info ia, ib;
    cnn_model_layer_info(a, 0, &ia);
    cnn_model_layer_info(b, 0, &ib);
    CHECK_STR("engine", ia.matmul);
    CHECK_STR("sgemm", ib.matmul);
    cnn_model_layer_info(a, 2, &ia);
    CHECK_STR("sgemm", ia.matmul); /* 3 units: not a multiple of 16 */
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(test_uniform() * 2 - 1);
    for (int i = 0; i < s.n; i++)
        y[i] = i % 3;
    char what[96];
    snprintf(what, sizeof what, "%s: in %dx%dx%d units %d t%d n%d", isa, s.c, s.h, s.w, s.units, s.threads, s.n);
    same_training_steps(a, b, x, y, (size_t)s.n, nx, s.input_grad, 2, 1e-5, what);
done:
    free(x);
    free(y);
    cnn_model_free(a);
    cnn_model_free(b);
}

static void engine_matches_sgemm(dshape s)
{
    for (int i = 0; i < TEST_NISAS; i++)
        if (test_isa_use(TEST_ISAS[i]))
            isa_matches_sgemm(s, TEST_ISAS[i]);
    test_isa_reset();
}

TEST(the_lectures_fc1_on_the_engine_kernel_matches_sgemm_over_two_steps)
{
    engine_matches_sgemm((dshape){64, 7, 7, 1024, true, true, 2, 100});
}

TEST(dense_shapes_on_the_engine_kernel_match_sgemm_over_two_steps)
{
    const dshape cases[] = {
        /* c   h   w  units bias  input_grad thr n */
        {5, 3, 3, 48, true, true, 1, 2},      /* a reduction of 45: not a multiple of 16 */
        {10, 10, 10, 80, true, true, 3, 37},  /* 2 packed blocks, panels of 64 and 16 */
        {1, 1, 20, 16, true, true, 4, 1},     /* one block of columns for 4 threads */
        {3, 40, 20, 32, false, true, 2, 17},  /* 2400 inputs: 4 packed blocks; no bias */
        {2, 3, 3, 64, true, false, 2, 5},     /* first layer, no input gradient wanted */
        {1, 1, 7, 1040, true, true, 2, 33},   /* 17 panels, the last one of 16 columns */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        engine_matches_sgemm(cases[i]);
}

/* The engine kernel's finite-difference check sits with the others in test_nn_grad.c; this one asks that
 * the switches documented for older CPUs reach the dense layers too. */
TEST(the_isa_switches_put_every_dense_layer_on_sgemm)
{
    dshape s = {4, 4, 4, 32, true, true, 1, 3};
    cnn_model *m = dense_net(&s, NULL);
    CHECK_TRUE(m != NULL);
    if (!m)
        return;
    cnn_layer_info info;
    cnn_model_layer_info(m, 0, &info);
    CHECK_STR("sgemm", info.matmul);
    cnn_model_layer_info(m, 1, &info);
    CHECK_TRUE(info.matmul == NULL); /* a ReLU has no product */
    cnn_model_free(m);
}

static const check_case tests[] = {
    CASE(the_lectures_fc1_on_the_engine_kernel_matches_sgemm_over_two_steps),
    CASE(dense_shapes_on_the_engine_kernel_match_sgemm_over_two_steps),
    CASE(the_isa_switches_put_every_dense_layer_on_sgemm),
};

CHECK_MAIN(tests)
