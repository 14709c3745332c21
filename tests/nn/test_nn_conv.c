/* The conv layer's work splits (im2col chunks of the batch, or one image per GEMM on the engine's threads
 * when BLAS runs on one thread) give the same forward outputs and gradients as one chunk holding the
 * whole batch. Links the static library for the internal hook. */
#include "../check.h"
#include "nn_data.h"
#include "nn_compare.h"
#include "nn_internal.h"
#include "isa.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

enum { BATCH = 7 };

static cnn_model *two_conv_net(int threads)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = threads;
    mo.seed = 5;
    mo.input_grad = true;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, 2, 11, 9, &mo, NULL, 0))
        return NULL;
    cnn_conv2d_opts c1 = CNN_CONV2D_OPTS_INIT, c2 = CNN_CONV2D_OPTS_INIT;
    c1.filters = 5;
    c1.bias_init = 0.1f;
    c2.filters = 6;
    c2.kernel_h = c2.kernel_w = 3;
    c2.stride_h = 2;
    c2.dilation_w = 2;
    c2.padding = CNN_PAD_VALID;
    c2.bias_init = -0.05f;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 4;
    int rc = cnn_model_add_conv2d(m, "conv1", &c1) | cnn_model_add_relu(m, "relu1") |
             cnn_model_add_maxpool(m, "pool1", NULL) | cnn_model_add_conv2d(m, "conv2", &c2) |
             cnn_model_add_tanh(m, "tanh2") | cnn_model_add_flatten(m, "flatten") |
             cnn_model_add_dense(m, "fc", &d);
    if (rc || cnn_model_build(m, BATCH)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

/* Runs forward + loss + backward on both models and compares every layer's output and every gradient. */
static int blas_a, blas_b; /* BLAS threads while running model a / model b */

static void use(int blas)
{
    openblas_set_num_threads(blas);
}

static void compare(cnn_model *a, cnn_model *b, size_t n)
{
    static float x[BATCH * 2 * 11 * 9];
    int32_t y[BATCH];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(test_uniform() * 2 - 1);
    for (size_t i = 0; i < BATCH; i++)
        y[i] = (int32_t)(i % 4);
    double la, lb;
    use(blas_a);
    CHECK_INT(0, cnn_model_forward(a, x, n, true));
    CHECK_INT(0, cnn_model_loss(a, y, n, &la, NULL));
    CHECK_INT(0, cnn_model_backward(a));
    use(blas_b);
    CHECK_INT(0, cnn_model_forward(b, x, n, true));
    CHECK_INT(0, cnn_model_loss(b, y, n, &lb, NULL));
    CHECK_INT(0, cnn_model_backward(b));
    CHECK_NEAR(la, lb, 1e-6);
    for (size_t l = 0; l < cnn_model_layer_count(a); l++) {
        cnn_layer_info ia, ib;
        cnn_model_layer_info(a, l, &ia);
        cnn_model_layer_info(b, l, &ib);
        size_t per = (size_t)ia.out_c * ia.out_h * ia.out_w;
        CHECK_NEAR(0.0, max_rel_diff(ia.output, ib.output, n * per), 1e-5);
        for (int p = 0; p < ia.nparams; p++)
            CHECK_NEAR(0.0, max_rel_diff(ia.grads[p].data, ib.grads[p].data, ia.grads[p].count), 1e-5);
    }
    CHECK_NEAR(0.0, max_rel_diff(cnn_model_input_grad(a), cnn_model_input_grad(b), n * 2 * 11 * 9), 1e-5);
}

static void chunks_match_whole(int threads, size_t chunk, size_t n)
{
    cnn_model *whole = two_conv_net(threads), *split = two_conv_net(threads);
    CHECK_TRUE(whole && split);
    if (!whole || !split)
        goto done;
    cnn__conv_limit_chunk(split, chunk);
    compare(whole, split, n);
done:
    cnn_model_free(whole);
    cnn_model_free(split);
}

/* The 2x2 stride-2 max pool fast path against the definition, with many ties (first in row-major order
 * wins, as in TensorFlow) and an odd width whose last column is dropped. Gradients go to the winner. */
TEST(max_pool_2x2_fast_path_takes_the_first_maximum_and_sends_its_gradient_to_it)
{
    enum { C = 3, H = 6, W = 9, OH = 3, OW = 4, N = 2 };
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 2;
    mo.input_grad = true;
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, C, H, W, &mo, NULL, 0));
    cnn_pool_opts po = CNN_POOL_OPTS_INIT;
    po.padding = CNN_PAD_VALID;
    CHECK_INT(0, cnn_model_add_maxpool(m, "pool", &po));
    CHECK_INT(0, cnn_model_add_flatten(m, "flat"));
    CHECK_INT(0, cnn_model_build(m, N));
    static float x[N * C * H * W];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(int)(test_uniform() * 3); /* values 0..2: plenty of ties */
    int32_t y[N] = {0, 1};
    CHECK_INT(0, cnn_model_forward(m, x, N, true));
    CHECK_INT(0, cnn_model_loss(m, y, N, NULL, NULL));
    CHECK_INT(0, cnn_model_backward(m));
    const float *out = cnn_model_output(m), *dx = cnn_model_input_grad(m);
    cnn_layer_info li;
    cnn_model_layer_info(m, 0, &li);
    CHECK_INT(OH, li.out_h);
    CHECK_INT(OW, li.out_w);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const float *xp = x + ((size_t)(n * C + c) * H) * W;
                    int best = -1;
                    for (int h = 2 * oh; h < 2 * oh + 2; h++)
                        for (int w = 2 * ow; w < 2 * ow + 2; w++)
                            if (best < 0 || xp[h * W + w] > xp[best])
                                best = h * W + w;
                    size_t o = ((size_t)(n * C + c) * OH + oh) * OW + ow;
                    CHECK_NEAR(xp[best], out[o], 0);
                    /* the winner's input gradient is nonzero and the other three cells get nothing */
                    const float *dp = dx + ((size_t)(n * C + c) * H) * W;
                    for (int h = 2 * oh; h < 2 * oh + 2; h++)
                        for (int w = 2 * ow; w < 2 * ow + 2; w++)
                            CHECK_TRUE((h * W + w == best) == (dp[h * W + w] != 0.0f));
                }
    cnn_model_free(m);
}

/* The one-copy-per-tap im2col/col2im (stride 1, output width = input width) against the row-by-row
 * loops: identical columns, and identical input gradients up to the sign of zero. Covers odd and even
 * kernels, dilation, asymmetric explicit padding and kernels larger than the image (whole padded rows). */
static void block_case(int C, int H, int W, int k_h, int k_w, int dil_h, int dil_w, int padding, int pt, int pb,
                       int pl, int pr)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, C, H, W, &mo, NULL, 0));
    cnn_conv2d_opts co = CNN_CONV2D_OPTS_INIT;
    co.filters = 2;
    co.kernel_h = k_h;
    co.kernel_w = k_w;
    co.dilation_h = dil_h;
    co.dilation_w = dil_w;
    co.padding = padding;
    co.pad_top = pt;
    co.pad_bottom = pb;
    co.pad_left = pl;
    co.pad_right = pr;
    CHECK_INT(0, cnn_model_add_conv2d(m, "conv", &co));
    CHECK_INT(0, cnn_model_add_flatten(m, "flat"));
    CHECK_INT(0, cnn_model_build(m, 1));
    const cnn__layer *L = &m->layers[0];
    CHECK_INT(W, L->out_w);
    size_t K = (size_t)C * k_h * k_w, P = (size_t)L->out_h * L->out_w, ld = P + 3, in = (size_t)C * H * W;
    float *x = malloc(sizeof(float) * in), *a = malloc(sizeof(float) * K * ld), *b = malloc(sizeof(float) * K * ld);
    float *da = calloc(in, sizeof(float)), *db = calloc(in, sizeof(float));
    CHECK_TRUE(x && a && b && da && db);
    if (x && a && b && da && db) {
        for (size_t i = 0; i < in; i++)
            x[i] = (float)(test_uniform() * 2 - 1);
        for (size_t i = 0; i < K * ld; i++)
            a[i] = b[i] = 7.0f; /* the gaps between rows must stay untouched */
        cnn__im2col(L, x, a, ld, false);
        cnn__im2col(L, x, b, ld, true);
        CHECK_TRUE(memcmp(a, b, sizeof(float) * K * ld) == 0);
        for (size_t i = 0; i < K * ld; i++)
            a[i] = b[i] = (float)(test_uniform() * 2 - 1);
        cnn__col2im(L, a, ld, da, false);
        cnn__col2im(L, b, ld, db, true);
        size_t same = 0;
        for (size_t i = 0; i < in; i++)
            same += da[i] == db[i];
        CHECK_INT((int)in, (int)same);
    }
    free(x);
    free(a);
    free(b);
    free(da);
    free(db);
    cnn_model_free(m);
}

TEST(one_copy_per_tap_im2col_and_col2im_match_the_row_by_row_loops)
{
    block_case(3, 7, 6, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0);
    block_case(2, 14, 14, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0);
    block_case(2, 5, 8, 4, 4, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0);
    block_case(2, 6, 5, 3, 3, 2, 3, CNN_PAD_SAME, 0, 0, 0, 0);
    block_case(1, 3, 4, 7, 7, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0);
    block_case(2, 4, 5, 2, 6, 3, 1, CNN_PAD_SAME, 0, 0, 0, 0);
    block_case(2, 6, 7, 3, 5, 1, 1, CNN_PAD_EXPLICIT, 4, 0, 3, 1);
    block_case(1, 5, 6, 3, 3, 1, 1, CNN_PAD_EXPLICIT, 0, 0, 0, 2);
    block_case(1, 5, 1, 3, 1, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0);
}

/* With one BLAS thread conv -> ReLU -> 2x2 max pool runs as one pass per image; each of the three
 * reported outputs must still be exactly its layer's definition applied to the layer below, and the
 * gradients must match the same net run unfused (threaded BLAS, whole-batch chunks). */
static cnn_model *fused_net(int threads)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = threads;
    mo.seed = 9;
    mo.input_grad = true;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, 2, 11, 9, &mo, NULL, 0))
        return NULL;
    cnn_pool_opts po = CNN_POOL_OPTS_INIT;
    po.padding = CNN_PAD_VALID; /* 11x9 -> 5x4: the last row and column are dropped */
    cnn_conv2d_opts c1 = CNN_CONV2D_OPTS_INIT;
    c1.filters = 4;
    c1.kernel_h = c1.kernel_w = 3;
    c1.bias_init = 0.05f;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 4;
    int rc = cnn_model_add_conv2d(m, "conv", &c1) | cnn_model_add_relu(m, "relu") |
             cnn_model_add_maxpool(m, "pool", &po) | cnn_model_add_flatten(m, "flat") |
             cnn_model_add_dense(m, "fc", &d);
    if (rc || cnn_model_build(m, BATCH)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

static void conv_relu_pool_fused(int threads)
{
    use(1);
    cnn_model *m = fused_net(threads), *ref = fused_net(threads);
    CHECK_TRUE(m && ref);
    if (!m || !ref)
        goto done;
    CHECK_TRUE(cnn__conv_fuses(&m->layers[0], &m->layers[1], &m->layers[2]));
    static float x[BATCH * 2 * 11 * 9];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(test_uniform() * 2 - 1);
    CHECK_INT(0, cnn_model_forward(m, x, BATCH, true));
    cnn_layer_info ci, ri, pi;
    cnn_model_layer_info(m, 0, &ci);
    cnn_model_layer_info(m, 1, &ri);
    cnn_model_layer_info(m, 2, &pi);
    size_t per = (size_t)ci.out_c * ci.out_h * ci.out_w, bad = 0, negative = 0;
    for (size_t i = 0; i < BATCH * per; i++) {
        bad += ri.output[i] != (ci.output[i] > 0.0f ? ci.output[i] : 0.0f);
        negative += ci.output[i] < 0.0f;
    }
    CHECK_INT(0, (int)bad);
    CHECK_TRUE(negative > 0);
    CHECK_INT(5, pi.out_h);
    CHECK_INT(4, pi.out_w);
    for (int n = 0; n < BATCH; n++)
        for (int c = 0; c < pi.out_c; c++)
            for (int oh = 0; oh < pi.out_h; oh++)
                for (int ow = 0; ow < pi.out_w; ow++) {
                    const float *rp = ri.output + (size_t)(n * ri.out_c + c) * ri.out_h * ri.out_w;
                    float best = rp[2 * oh * ri.out_w + 2 * ow];
                    for (int h = 2 * oh; h < 2 * oh + 2; h++)
                        for (int w = 2 * ow; w < 2 * ow + 2; w++)
                            best = rp[h * ri.out_w + w] > best ? rp[h * ri.out_w + w] : best;
                    size_t o = ((size_t)(n * pi.out_c + c) * pi.out_h + oh) * pi.out_w + ow;
                    CHECK_NEAR(best, pi.output[o], 0);
                }
    blas_a = 2;
    blas_b = 1;
    compare(ref, m, BATCH);
done:
    cnn_model_free(m);
    cnn_model_free(ref);
}

/* ---- direct kernels against im2col + sgemm ----
 * One conv layer (then ReLU or not, flatten, dense) built twice with the same seed, CNN_CONV_DIRECT and
 * CNN_CONV_IM2COL: outputs, every gradient and the input gradient must agree. The shapes cover 1-4
 * vector registers of channels and more than one 64-channel block on both sides (output channels for
 * the forward and the weight gradient, input channels for the input gradient), pixel and tap counts
 * that leave a short last tile, dilation, asymmetric kernels and every padding the kernels accept. */
typedef struct dcase {
    int C, H, W, OC, kh, kw, dh, dw, padding, pt, pb, pl, pr, threads, n;
    bool relu_pool;
} dcase;

/* isa: the engine's kernels on that set ("avx512", "avx2"), or NULL: every product on sgemm */
static cnn_model *direct_net(const dcase *d, int algo, const char *isa)
{
    test_isa_use(isa);
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = d->threads;
    mo.seed = 11;
    mo.input_grad = true;
    mo.conv_algo = algo;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, d->C, d->H, d->W, &mo, NULL, 0))
        return NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = d->OC;
    c.kernel_h = d->kh;
    c.kernel_w = d->kw;
    c.dilation_h = d->dh;
    c.dilation_w = d->dw;
    c.padding = d->padding;
    c.pad_top = d->pt;
    c.pad_bottom = d->pb;
    c.pad_left = d->pl;
    c.pad_right = d->pr;
    c.bias_init = 0.05f;
    cnn_dense_opts f = CNN_DENSE_OPTS_INIT;
    f.units = 3;
    int rc = cnn_model_add_conv2d(m, "conv", &c);
    if (d->relu_pool)
        rc |= cnn_model_add_relu(m, "relu") | cnn_model_add_maxpool(m, "pool", NULL);
    rc |= cnn_model_add_flatten(m, "flat") | cnn_model_add_dense(m, "fc", &f);
    rc = rc ? rc : cnn_model_build(m, (size_t)d->n);
    test_isa_reset();
    if (rc) {
        fprintf(stderr, "direct_net: %s\n", cnn_model_errmsg(m));
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

/* Layer a on `algo` (named `name`) with the kernels on `isa` against layer b on im2col (on the same set,
 * or on sgemm), every value within `tol` relatively. */
static void algo_case(dcase d, int algo, const char *name, double tol, bool b_on_sgemm, const char *isa)
{
    cnn_model *a = direct_net(&d, algo, isa), *b = direct_net(&d, CNN_CONV_IM2COL, b_on_sgemm ? NULL : isa);
    CHECK_TRUE(a && b);
    size_t nx = (size_t)d.n * d.C * d.H * d.W;
    float *x = malloc(nx * sizeof *x);
    int32_t *y = malloc((size_t)d.n * sizeof *y);
    if (!a || !b || !x || !y)
        goto done;
    cnn_layer_info ia, ib;
    cnn_model_layer_info(a, 0, &ia);
    cnn_model_layer_info(b, 0, &ib);
    CHECK_TRUE(ia.conv_algo && strcmp(ia.conv_algo, name) == 0);
    CHECK_TRUE(ib.conv_algo && strcmp(ib.conv_algo, "im2col") == 0);
    if (b_on_sgemm) /* a on the engine's kernel wherever its rows are whole vectors */
        CHECK_STR(d.H * d.W % 16 == 0 ? "engine" : "sgemm", ia.matmul);
    if (b_on_sgemm)
        CHECK_STR("sgemm", ib.matmul);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(test_uniform() * 2 - 1);
    for (int i = 0; i < d.n; i++)
        y[i] = i % 3;
    /* two steps, so the second runs on weights the optimizer moved (the packing is redone per call) */
    char what[160];
    snprintf(what, sizeof what, "%s C%d %dx%d OC%d k%dx%d d%dx%d pad %d/%d/%d/%d t%d n%d", name, d.C, d.H, d.W,
             d.OC, d.kh, d.kw, d.dh, d.dw, d.pt, d.pb, d.pl, d.pr, d.threads, d.n);
    same_training_steps(a, b, x, y, (size_t)d.n, nx, true, 2, tol, what);
done:
    free(x);
    free(y);
    cnn_model_free(a);
    cnn_model_free(b);
}

/* algo_case for every case, once per instruction set of the engine's kernels this CPU has */
static void per_isa_cases(const dcase *cases, size_t n, int algo, const char *name, double tol, bool b_on_sgemm)
{
    for (int k = 0; k < TEST_NISAS; k++)
        if (test_isa_use(TEST_ISAS[k]))
            for (size_t i = 0; i < n; i++)
                algo_case(cases[i], algo, name, tol, b_on_sgemm, TEST_ISAS[k]);
    test_isa_reset();
}

static void direct_case(dcase d)
{
    algo_case(d, CNN_CONV_DIRECT, "direct", 1e-5, false, "avx512");
}

/* a one-conv net on 12x12 images that `algo` must refuse at build time with `msg` */
static void algo_refused(int algo, const cnn_conv2d_opts *c, const char *msg)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.conv_algo = algo;
    cnn_dense_opts f = CNN_DENSE_OPTS_INIT;
    f.units = 2;
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, 1, 12, 12, &mo, NULL, 0));
    CHECK_INT(0, cnn_model_add_conv2d(m, "conv", c) | cnn_model_add_dense(m, "fc", &f));
    CHECK_INT(TBW_EINVAL, cnn_model_build(m, 2));
    CHECK_STR_HAS(cnn_model_errmsg(m), msg);
    cnn_model_free(m);
}

/* the kernels need AVX-512F; without it (or with TBW_NO_AVX512=1, as here) CNN_CONV_DIRECT must
 * refuse clearly */
TEST(direct_convolution_is_refused_on_a_cpu_without_avx512f)
{
    dcase d = {2, 5, 5, 4, 3, 3, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 1, 2, false};
    setenv("TBW_NO_AVX512", "1", 1);
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.conv_algo = CNN_CONV_DIRECT;
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, d.C, d.H, d.W, &mo, NULL, 0));
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    CHECK_INT(0, cnn_model_add_conv2d(m, "conv", &c));
    CHECK_INT(TBW_EINVAL, cnn_model_build(m, (size_t)d.n));
    CHECK_STR_HAS(cnn_model_errmsg(m),
                  "layer 'conv': direct convolution does not support a CPU without AVX-512F");
    cnn_model_free(m);
    test_isa_reset();
}

static bool direct_kernels_run(void)
{
    if (!cnn__direct_cpu())
        fprintf(stderr, "note: no AVX-512F on this CPU, direct kernels not exercised\n");
    return cnn__direct_cpu();
}

TEST(direct_kernels_match_im2col_outputs_and_gradients_over_two_steps)
{
    if (!direct_kernels_run())
        return;
    const dcase cases[] = {
        /* C  H   W  OC kh kw dh dw padding          pt pb pl pr thr n  relu_pool */
        {32, 14, 14, 64, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 5, true}, /* the lecture's conv2 */
        {1, 28, 28, 32, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 3, true},  /* its conv1 */
        {3, 9, 7, 5, 3, 3, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 1, 2, false},    /* 1 register, short tiles */
        {4, 8, 9, 17, 3, 5, 1, 1, CNN_PAD_VALID, 0, 0, 0, 0, 3, 4, false},  /* 2 registers, 3x5 */
        {5, 7, 6, 40, 3, 3, 2, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 3, false},   /* 3 registers, dilated */
        {6, 6, 8, 70, 3, 3, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 3, false},   /* two blocks of outputs */
        {70, 5, 6, 9, 3, 3, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 2, false},   /* two blocks of inputs */
        {3, 9, 8, 6, 3, 3, 2, 2, CNN_PAD_EXPLICIT, 4, 0, 1, 3, 2, 3, false}, /* uneven explicit pads */
        {2, 6, 6, 4, 1, 1, 1, 1, CNN_PAD_VALID, 0, 0, 0, 0, 1, 2, false},   /* 1x1 */
        {2, 5, 5, 16, 5, 5, 1, 1, CNN_PAD_VALID, 0, 0, 0, 0, 3, 1, false},  /* one output pixel, idle threads */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        direct_case(cases[i]);
}

/* Winograd F(2x2, 5x5) computes another sum than the convolution's (through the transformed tiles),
 * so it agrees to rounding, not bit for bit. The shapes cover the lecture's conv2, odd output sizes
 * (a last tile that hangs over the edge), VALID and uneven explicit padding, channel counts that are
 * not a multiple of 16, more than one 64-lane block of inputs and of outputs, and more threads than
 * images. */
TEST(winograd_matches_im2col_outputs_and_gradients_over_two_steps)
{
    const dcase cases[] = {
        /* C  H   W  OC kh kw dh dw padding          pt pb pl pr thr n  relu_pool */
        {32, 14, 14, 64, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 5, true}, /* the lecture's conv2 */
        {3, 9, 7, 5, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 1, 2, false},    /* odd sizes, few lanes */
        {17, 8, 11, 20, 5, 5, 1, 1, CNN_PAD_VALID, 0, 0, 0, 0, 3, 4, false}, /* VALID, 2 registers */
        {8, 7, 6, 70, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 3, false},   /* two blocks of outputs */
        {70, 6, 5, 9, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 2, false},   /* two blocks of inputs */
        {3, 9, 8, 6, 5, 5, 1, 1, CNN_PAD_EXPLICIT, 4, 0, 1, 3, 2, 3, false}, /* uneven explicit pads */
        {2, 5, 5, 16, 5, 5, 1, 1, CNN_PAD_VALID, 0, 0, 0, 0, 3, 1, false},  /* one output pixel, idle threads */
    };
    per_isa_cases(cases, sizeof cases / sizeof cases[0], CNN_CONV_WINOGRAD, "winograd", 5e-5, false);
}

/* what Winograd refuses, by name */
/* im2col with its products on the engine's kernel against im2col on sgemm. Every case keeps the output
 * plane the size of the input (SAME, or explicit pads that add back what the dilated kernel takes), so
 * H x W is the plane: whole vectors of pixels (64, 784, 32, 16) take the engine's kernel, 36 does not.
 * They cover reductions shorter than a vector and not a multiple of 16, one of 630, dilation, 1 to 3
 * threads and the lecture's conv1 with its ReLU and pool. */
TEST(im2col_on_the_engine_kernel_matches_im2col_on_sgemm_over_two_steps)
{
    const dcase cases[] = {
        /* C  H   W  OC kh kw dh dw padding          pt pb pl pr thr n  relu_pool */
        {1, 28, 28, 32, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 3, true},   /* the lecture's conv1 */
        {3, 8, 8, 5, 3, 3, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 1, 2, false},     /* K 27 */
        {17, 4, 8, 20, 3, 3, 2, 2, CNN_PAD_EXPLICIT, 2, 2, 2, 2, 3, 4, false}, /* dilated, K 153 */
        {70, 4, 4, 9, 3, 3, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 2, 2, false},    /* K 630 */
        {2, 6, 6, 4, 1, 1, 1, 1, CNN_PAD_VALID, 0, 0, 0, 0, 2, 2, false},    /* 36 pixels: sgemm both */
    };
    per_isa_cases(cases, sizeof cases / sizeof cases[0], CNN_CONV_IM2COL, "im2col", 1e-5, true);
}

static bool own_kernels_run(void)
{
    if (!cnn_kernel_isa())
        fprintf(stderr, "note: neither AVX-512F nor AVX2 on this CPU, the engine's kernels not exercised\n");
    return cnn_kernel_isa() != NULL;
}

/* with neither instruction set (both switches set, as here) CNN_CONV_WINOGRAD must refuse clearly */
TEST(winograd_is_refused_on_a_cpu_without_avx512f_or_avx2)
{
    test_isa_use(NULL);
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    algo_refused(CNN_CONV_WINOGRAD, &c,
                 "layer 'conv': Winograd convolution does not support a CPU without AVX-512F or AVX2");
    test_isa_reset();
}

TEST(winograd_names_the_kernel_stride_or_dilation_it_refuses)
{
    if (!own_kernels_run())
        return;
    cnn_conv2d_opts k3 = CNN_CONV2D_OPTS_INIT, strided = CNN_CONV2D_OPTS_INIT, dilated = CNN_CONV2D_OPTS_INIT;
    k3.kernel_h = 3;
    strided.stride_h = 2;
    dilated.dilation_w = 2;
    dilated.padding = CNN_PAD_VALID;
    const struct { const cnn_conv2d_opts *c; const char *msg; } refused[] = {
        {&k3, "layer 'conv': Winograd convolution does not support a kernel other than 5x5"},
        {&strided, "layer 'conv': Winograd convolution does not support a stride other than 1"},
        {&dilated, "layer 'conv': Winograd convolution does not support dilation"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        algo_refused(CNN_CONV_WINOGRAD, refused[i].c, refused[i].msg);
}

/* what the direct kernels refuse, by name */
TEST(direct_convolution_names_the_stride_or_padding_it_refuses)
{
    if (!direct_kernels_run())
        return;
    cnn_conv2d_opts strided = CNN_CONV2D_OPTS_INIT, wide = CNN_CONV2D_OPTS_INIT;
    strided.stride_w = 2;
    wide.kernel_h = wide.kernel_w = 3;
    wide.padding = CNN_PAD_EXPLICIT;
    wide.pad_top = 3;
    algo_refused(CNN_CONV_DIRECT, &strided, "layer 'conv': direct convolution does not support a stride other than 1");
    algo_refused(CNN_CONV_DIRECT, &wide,
                   "layer 'conv': direct convolution does not support padding wider than the dilated kernel");
}

/* AUTO takes im2col for a stride of 2, Winograd for a 5x5 layer on 32 channels and the direct kernels
 * for a 3x3 one (a 32x3x3 reduction) where they run (AVX-512F), else im2col */
TEST(auto_takes_im2col_for_a_stride_of_2_winograd_for_5x5_and_direct_for_a_large_reduction)
{
    if (!own_kernels_run())
        return;
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    cnn_model *m = NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT, plain = CNN_CONV2D_OPTS_INIT, k3 = CNN_CONV2D_OPTS_INIT;
    c.stride_w = 2;
    k3.kernel_h = k3.kernel_w = 3;
    cnn_dense_opts f = CNN_DENSE_OPTS_INIT;
    f.units = 2;
    CHECK_INT(0, cnn_model_create(&m, 1, 8, 8, &mo, NULL, 0));
    CHECK_INT(0, cnn_model_add_conv2d(m, "strided", &c) | cnn_model_add_conv2d(m, "plain", &plain) |
                     cnn_model_add_conv2d(m, "k3", &k3) | cnn_model_add_dense(m, "fc", &f));
    CHECK_INT(0, cnn_model_build(m, 2));
    const char *want[] = {"im2col", "winograd", cnn_conv_direct_available() ? "direct" : "im2col"};
    for (size_t i = 0; i < 3; i++) {
        cnn_layer_info li;
        cnn_model_layer_info(m, i, &li);
        CHECK_(li.conv_algo && strcmp(li.conv_algo, want[i]) == 0, "layer %zu: %s, not %s", i,
               li.conv_algo ? li.conv_algo : "(none)", want[i]);
    }
    cnn_model_free(m);
}

TEST(an_unknown_conv_algorithm_is_a_bad_option)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    cnn_model *m = NULL;
    mo.conv_algo = 4;
    CHECK_INT(TBW_EINVAL, cnn_model_create(&m, 1, 8, 8, &mo, NULL, 0));
}

TEST(fused_conv_relu_pool_on_one_engine_thread_matches_the_definitions_and_the_unfused_gradients)
{
    conv_relu_pool_fused(1);
}

TEST(fused_conv_relu_pool_on_two_engine_threads_matches_the_definitions_and_the_unfused_gradients)
{
    conv_relu_pool_fused(2);
}

TEST(fused_conv_relu_pool_on_three_engine_threads_matches_the_definitions_and_the_unfused_gradients)
{
    conv_relu_pool_fused(3);
}

/* im2col chunks of 1, 2, 3 and 4 images (on a batch of 7, 7, 5 and 1) against one chunk of the whole
 * batch, with threaded BLAS on both */
TEST(im2col_chunks_of_the_batch_match_one_chunk_of_the_whole_batch)
{
    blas_a = blas_b = 2;
    for (int threads = 1; threads <= 3; threads++) {
        chunks_match_whole(threads, 1, BATCH);
        chunks_match_whole(threads, 2, BATCH);
        chunks_match_whole(threads, 3, 5);
        chunks_match_whole(threads, 4, 1);
    }
}

/* one image per GEMM on the engine's threads (BLAS on one thread) against the whole-batch chunk */
TEST(one_image_per_gemm_on_the_engine_threads_matches_one_chunk_of_the_whole_batch)
{
    blas_a = 2;
    blas_b = 1;
    for (int threads = 1; threads <= 3; threads++) {
        chunks_match_whole(threads, BATCH, BATCH);
        chunks_match_whole(threads, BATCH, 2);
        chunks_match_whole(threads, BATCH, 1);
    }
}

static const check_case tests[] = {
    CASE(direct_convolution_is_refused_on_a_cpu_without_avx512f),
    CASE(direct_kernels_match_im2col_outputs_and_gradients_over_two_steps),
    CASE(direct_convolution_names_the_stride_or_padding_it_refuses),
    CASE(winograd_matches_im2col_outputs_and_gradients_over_two_steps),
    CASE(im2col_on_the_engine_kernel_matches_im2col_on_sgemm_over_two_steps),
    CASE(winograd_is_refused_on_a_cpu_without_avx512f_or_avx2),
    CASE(winograd_names_the_kernel_stride_or_dilation_it_refuses),
    CASE(auto_takes_im2col_for_a_stride_of_2_winograd_for_5x5_and_direct_for_a_large_reduction),
    CASE(an_unknown_conv_algorithm_is_a_bad_option),
    CASE(fused_conv_relu_pool_on_one_engine_thread_matches_the_definitions_and_the_unfused_gradients),
    CASE(fused_conv_relu_pool_on_two_engine_threads_matches_the_definitions_and_the_unfused_gradients),
    CASE(fused_conv_relu_pool_on_three_engine_threads_matches_the_definitions_and_the_unfused_gradients),
    CASE(one_copy_per_tap_im2col_and_col2im_match_the_row_by_row_loops),
    CASE(max_pool_2x2_fast_path_takes_the_first_maximum_and_sends_its_gradient_to_it),
    CASE(im2col_chunks_of_the_batch_match_one_chunk_of_the_whole_batch),
    CASE(one_image_per_gemm_on_the_engine_threads_matches_one_chunk_of_the_whole_batch),
};
CHECK_MAIN(tests)
