/* Finite-difference gradient checks: every layer kind and the loss, including stride, SAME/VALID/explicit
 * padding and dilation. Loss is evaluated in float32 by the engine, so the comparison uses the relative
 * error of the whole sampled gradient vector rather than element by element. */
#include <tbw/cnn.h>

#include <stdlib.h>

#include "../check.h"
#include "nn_data.h"
#include "isa.h"

#include <cblas.h>

#define N 2
#define EPS 1e-3
#define TOL 2e-2

static double loss_at(cnn_model *m, const float *x, const int32_t *y)
{
    double l = 0;
    cnn_model_forward(m, x, N, false);
    cnn_model_loss(m, y, N, &l, NULL);
    return l;
}

/* Compares analytic and central-difference gradients for up to 40 entries of v. */
static double rel_err(cnn_model *m, float *v, const float *g, size_t count, float *x, const int32_t *y)
{
    double num2 = 0, den2a = 0, den2n = 0;
    size_t step = count > 40 ? count / 40 : 1;
    for (size_t i = 0; i < count; i += step) {
        float keep = v[i];
        v[i] = keep + (float)EPS;
        double lp = loss_at(m, x, y);
        v[i] = keep - (float)EPS;
        double lm = loss_at(m, x, y);
        v[i] = keep;
        double num = (lp - lm) / (2 * EPS);
        num2 += (num - g[i]) * (num - g[i]);
        den2a += (double)g[i] * g[i];
        den2n += num * num;
    }
    double den = sqrt(den2a) + sqrt(den2n);
    return den > 0 ? sqrt(num2) / den : 0.0;
}

typedef int (*build_fn)(cnn_model *m);

static void grad_check(const char *label, int conv_algo, int c, int h, int w, build_fn add)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    mo.input_grad = true;
    mo.seed = 7;
    mo.conv_algo = conv_algo;
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, c, h, w, &mo, NULL, 0));
    CHECK_INT(0, add(m));
    CHECK_INT(0, cnn_model_build(m, N));
    size_t nx = (size_t)N * c * h * w;
    float *x = malloc(nx * sizeof *x);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)(test_uniform() * 2 - 1);
    int classes = cnn_model_classes(m);
    int32_t y[N];
    for (int i = 0; i < N; i++)
        y[i] = (int32_t)(test_uniform() * classes) % classes;
    /* Biases start non-zero so their gradients and ReLU kinks are exercised away from 0. */
    for (size_t li = 0; li < cnn_model_layer_count(m); li++) {
        cnn_layer_info info;
        cnn_model_layer_info(m, li, &info);
        if (info.nparams == 2)
            for (size_t j = 0; j < info.params[1].count; j++)
                info.params[1].data[j] = (float)(test_uniform() * 0.2 - 0.1);
    }
    cnn_model_forward(m, x, N, false);
    CHECK_INT(0, cnn_model_loss(m, y, N, NULL, NULL));
    CHECK_INT(0, cnn_model_backward(m));
    /* Copy analytic gradients: the finite-difference forwards do not touch them, but be explicit. */
    for (size_t li = 0; li < cnn_model_layer_count(m); li++) {
        cnn_layer_info info;
        cnn_model_layer_info(m, li, &info);
        for (int p = 0; p < info.nparams; p++) {
            float *g = malloc(info.grads[p].count * sizeof *g);
            memcpy(g, info.grads[p].data, info.grads[p].count * sizeof *g);
            double e = rel_err(m, info.params[p].data, g, info.params[p].count, x, y);
            CHECK_(e < TOL, "%s: %s relative error %.3g >= %g", label, info.params[p].name, e, TOL);
            free(g);
        }
    }
    float *gx = malloc(nx * sizeof *gx);
    memcpy(gx, cnn_model_input_grad(m), nx * sizeof *gx);
    double e = rel_err(m, x, gx, nx, x, y);
    CHECK_(e < TOL, "%s: input relative error %.3g >= %g", label, e, TOL);
    free(gx);
    free(x);
    cnn_model_free(m);
}

static cnn_conv2d_opts conv(int f, int k, int s, int pad)
{
    cnn_conv2d_opts o = CNN_CONV2D_OPTS_INIT;
    o.filters = f;
    o.kernel_h = o.kernel_w = k;
    o.stride_h = o.stride_w = s;
    o.padding = pad;
    return o;
}

static cnn_dense_opts dense(int units)
{
    cnn_dense_opts o = CNN_DENSE_OPTS_INIT;
    o.units = units;
    return o;
}

static int net_conv_valid(cnn_model *m)
{
    cnn_conv2d_opts c = conv(3, 3, 1, CNN_PAD_VALID);
    cnn_dense_opts d = dense(4);
    return cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_flatten(m, "flat") | cnn_model_add_dense(m, "fc", &d);
}

static int net_conv_same_stride(cnn_model *m)
{
    cnn_conv2d_opts c = conv(3, 3, 2, CNN_PAD_SAME);
    c.stride_w = 1;
    cnn_dense_opts d = dense(3);
    return cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_dense(m, "fc", &d);
}

static int net_conv_explicit_dilated(cnn_model *m)
{
    cnn_conv2d_opts c = conv(2, 3, 1, CNN_PAD_EXPLICIT);
    c.pad_top = 1;
    c.pad_bottom = 2;
    c.pad_left = 0;
    c.pad_right = 1;
    c.dilation_h = 2;
    c.dilation_w = 2;
    c.stride_w = 2;
    cnn_dense_opts d = dense(3);
    return cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_dense(m, "fc", &d);
}

static void explicit_pads(cnn_conv2d_opts *c, int top, int bottom, int left, int right)
{
    c->padding = CNN_PAD_EXPLICIT;
    c->pad_top = top;
    c->pad_bottom = bottom;
    c->pad_left = left;
    c->pad_right = right;
}

/* Two stacked stride-1 convs (the second has an input gradient), dilation, explicit uneven padding and
 * 17 filters (two vector registers, one partly used): the shapes the direct kernels must get right. */
static int net_conv_direct_mix(cnn_model *m)
{
    cnn_conv2d_opts c1 = conv(17, 3, 1, CNN_PAD_EXPLICIT), c2 = conv(5, 3, 1, CNN_PAD_SAME);
    explicit_pads(&c1, 2, 0, 1, 3);
    c1.dilation_h = 1;
    c1.dilation_w = 2;
    c2.kernel_w = 2;
    cnn_dense_opts d = dense(3);
    return cnn_model_add_conv2d(m, "conv1", &c1) | cnn_model_add_tanh(m, "tanh1") |
           cnn_model_add_conv2d(m, "conv2", &c2) | cnn_model_add_dense(m, "fc", &d);
}

/* two 5x5 layers for Winograd: odd sizes, SAME then uneven explicit padding, a ReLU and a pool above */
static int net_conv_winograd(cnn_model *m)
{
    cnn_conv2d_opts c1 = conv(9, 5, 1, CNN_PAD_SAME), c2 = conv(5, 5, 1, CNN_PAD_EXPLICIT);
    explicit_pads(&c2, 1, 0, 2, 3);
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    cnn_dense_opts d = dense(3);
    return cnn_model_add_conv2d(m, "conv1", &c1) | cnn_model_add_tanh(m, "tanh1") |
           cnn_model_add_conv2d(m, "conv2", &c2) | cnn_model_add_relu(m, "relu2") |
           cnn_model_add_maxpool(m, "pool2", &p) | cnn_model_add_dense(m, "fc", &d);
}

static int net_conv_relu_maxpool(cnn_model *m)
{
    cnn_conv2d_opts c = conv(4, 3, 1, CNN_PAD_SAME);
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    cnn_dense_opts d = dense(3);
    return cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_relu(m, "relu1") | cnn_model_add_maxpool(m, "pool1", &p) |
           cnn_model_add_dense(m, "fc", &d);
}

static int net_maxpool_general(cnn_model *m)
{
    cnn_pool_opts p = {3, 3, 2, 2, CNN_PAD_SAME, 0, 0, 0, 0};
    cnn_dense_opts d = dense(3);
    return cnn_model_add_maxpool(m, "pool", &p) | cnn_model_add_dense(m, "fc", &d);
}

static int net_avgpool_same(cnn_model *m)
{
    cnn_pool_opts p = {3, 2, 1, 2, CNN_PAD_SAME, 0, 0, 0, 0};
    cnn_dense_opts d = dense(3);
    return cnn_model_add_avgpool(m, "pool", &p) | cnn_model_add_dense(m, "fc", &d);
}

static int net_avgpool_explicit(cnn_model *m)
{
    cnn_pool_opts p = {2, 3, 2, 2, CNN_PAD_EXPLICIT, 1, 0, 2, 1};
    cnn_dense_opts d = dense(3);
    return cnn_model_add_avgpool(m, "pool", &p) | cnn_model_add_dense(m, "fc", &d);
}

static int net_sigmoid_tanh(cnn_model *m)
{
    cnn_dense_opts d1 = dense(6), d2 = dense(5), d3 = dense(3);
    d1.init = CNN_INIT_GLOROT;
    return cnn_model_add_dense(m, "fc1", &d1) | cnn_model_add_sigmoid(m, "sig") | cnn_model_add_dense(m, "fc2", &d2) |
           cnn_model_add_tanh(m, "tanh") | cnn_model_add_dense(m, "fc3", &d3);
}

/* widths that are multiples of 16, so both layers run on the engine's kernel where it runs */
static int net_dense_wide(cnn_model *m)
{
    cnn_dense_opts d1 = dense(48), d2 = dense(32), d3 = dense(3);
    return cnn_model_add_dense(m, "fc1", &d1) | cnn_model_add_relu(m, "relu") | cnn_model_add_dense(m, "fc2", &d2) |
           cnn_model_add_tanh(m, "tanh") | cnn_model_add_dense(m, "fc3", &d3);
}

static int net_dense_relu(cnn_model *m)
{
    cnn_dense_opts d1 = dense(8), d2 = dense(4);
    return cnn_model_add_dense(m, "fc1", &d1) | cnn_model_add_relu(m, "relu") | cnn_model_add_dense(m, "fc2", &d2);
}

/* Logits are the input itself, so this checks the softmax cross-entropy gradient alone. */
static int net_loss_only(cnn_model *m)
{
    return cnn_model_add_flatten(m, "logits");
}

/* Dropout's mask is random per forward, so check backward against the mask seen in the forward:
 * with dropout as the last layer, d loss / d x = mask * (softmax(z) - onehot) / n. */
static void dropout_check(void)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    mo.input_grad = true;
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, 50, 1, 1, &mo, NULL, 0));
    CHECK_INT(0, cnn_model_add_dropout(m, "drop", 0.3f));
    CHECK_INT(0, cnn_model_build(m, N));
    float x[N * 50];
    for (int i = 0; i < N * 50; i++)
        x[i] = (float)(test_uniform() + 0.5);
    int32_t y[N] = {3, 17};
    double loss;
    CHECK_INT(0, cnn_model_forward(m, x, N, true));
    CHECK_INT(0, cnn_model_loss(m, y, N, &loss, NULL));
    CHECK_INT(0, cnn_model_backward(m));
    const float *z = cnn_model_output(m), *gx = cnn_model_input_grad(m);
    int dropped = 0, bad = 0;
    for (int s = 0; s < N; s++) {
        double mx = -1e30, sum = 0;
        for (int k = 0; k < 50; k++)
            mx = fmax(mx, z[s * 50 + k]);
        for (int k = 0; k < 50; k++)
            sum += exp(z[s * 50 + k] - mx);
        for (int k = 0; k < 50; k++) {
            int i = s * 50 + k;
            double mask = z[i] / x[i];
            if (z[i] == 0.0f)
                dropped++;
            else if (fabs(mask - 1 / 0.7) > 1e-5)
                bad++;
            double dz = (exp(z[i] - mx) / sum - (k == y[s])) / N;
            if (fabs(gx[i] - mask * dz) > 1e-6)
                bad++;
        }
    }
    CHECK_INT(0, bad);
    CHECK_TRUE(dropped > 10 && dropped < 50);
    /* eval mode is the identity */
    CHECK_INT(0, cnn_model_forward(m, x, N, false));
    CHECK_TRUE(memcmp(cnn_model_output(m), x, sizeof x) == 0);
    cnn_model_free(m);
}

/* Twice: with BLAS threads (one GEMM per product) and with BLAS on one thread (the engine's threads split
 * the GEMMs: per-image conv, blocked dense). */
static void on_both_blas_modes(const char *label, int c, int h, int w, build_fn add)
{
    char one[128];
    snprintf(one, sizeof one, "%s, BLAS on one thread", label);
    grad_check(label, CNN_CONV_AUTO, c, h, w, add);
    openblas_set_num_threads(1);
    grad_check(one, CNN_CONV_AUTO, c, h, w, add);
}

TEST(valid_conv_gradients_match_finite_differences)
{
    on_both_blas_modes("conv valid", 2, 6, 5, net_conv_valid);
}

TEST(same_padded_conv_with_stride_2x1_gradients_match_finite_differences)
{
    on_both_blas_modes("conv same stride 2x1", 2, 7, 6, net_conv_same_stride);
}

TEST(conv_with_explicit_padding_dilation_2_and_stride_1x2_gradients_match_finite_differences)
{
    on_both_blas_modes("conv explicit pad, dilation 2, stride 1x2", 2, 7, 8, net_conv_explicit_dilated);
}

TEST(conv_relu_maxpool_gradients_match_finite_differences)
{
    on_both_blas_modes("conv+relu+maxpool", 2, 6, 6, net_conv_relu_maxpool);
}

TEST(maxpool_3x3_stride_2_same_gradients_match_finite_differences)
{
    on_both_blas_modes("maxpool 3x3 s2 same", 3, 7, 7, net_maxpool_general);
}

TEST(same_padded_avgpool_gradients_match_finite_differences)
{
    on_both_blas_modes("avgpool same", 2, 5, 6, net_avgpool_same);
}

TEST(explicitly_padded_avgpool_gradients_match_finite_differences)
{
    on_both_blas_modes("avgpool explicit", 2, 5, 7, net_avgpool_explicit);
}

TEST(dense_sigmoid_tanh_gradients_match_finite_differences)
{
    on_both_blas_modes("dense sigmoid tanh", 3, 2, 2, net_sigmoid_tanh);
}

TEST(dense_relu_gradients_match_finite_differences)
{
    on_both_blas_modes("dense relu", 5, 1, 1, net_dense_relu);
}

/* grad_check once per instruction set of the engine's kernels this CPU has */
static void per_isa_grad_check(const char *what, int conv_algo, int c, int h, int w, build_fn add)
{
    for (int k = 0; k < TEST_NISAS; k++)
        if (test_isa_use(TEST_ISAS[k])) {
            char label[96];
            snprintf(label, sizeof label, "%s, %s", what, TEST_ISAS[k]);
            grad_check(label, conv_algo, c, h, w, add);
        }
    test_isa_reset();
}

TEST(dense_layers_on_the_engine_kernel_gradients_match_finite_differences)
{
    per_isa_grad_check("wide dense on the engine kernel", CNN_CONV_AUTO, 5, 3, 3, net_dense_wide);
}

TEST(softmax_cross_entropy_gradient_matches_finite_differences)
{
    on_both_blas_modes("softmax cross-entropy", 10, 1, 1, net_loss_only);
}

TEST(dropout_backward_applies_its_forward_mask_and_eval_mode_is_the_identity)
{
    dropout_check();
    openblas_set_num_threads(1);
    dropout_check();
}

/* The direct kernels (stride-1 convs only) and the im2col path on the same mix, with BLAS on one thread
 * as they ran after the two passes above. */
static void direct_grad_check(const char *label, int c, int h, int w, build_fn add)
{
    if (!cnn_conv_direct_available()) {
        fprintf(stderr, "note: no AVX-512F on this CPU, direct kernels not checked\n");
        return;
    }
    openblas_set_num_threads(1);
    grad_check(label, CNN_CONV_DIRECT, c, h, w, add);
}

TEST(direct_valid_conv_gradients_match_finite_differences)
{
    direct_grad_check("direct conv valid", 2, 6, 5, net_conv_valid);
}

TEST(direct_conv_relu_maxpool_gradients_match_finite_differences)
{
    direct_grad_check("direct conv+relu+maxpool", 2, 6, 6, net_conv_relu_maxpool);
}

TEST(direct_conv_padding_and_dilation_mix_gradients_match_finite_differences)
{
    direct_grad_check("direct conv pad/dilation mix", 3, 6, 7, net_conv_direct_mix);
}

TEST(winograd_conv_gradients_match_finite_differences)
{
    openblas_set_num_threads(1);
    per_isa_grad_check("winograd conv mix", CNN_CONV_WINOGRAD, 3, 7, 6, net_conv_winograd);
}

/* an 8x8 SAME plane is 64 pixels, whole vectors, so these products run on the engine's kernel */
TEST(im2col_on_the_engine_kernel_gradients_match_finite_differences)
{
    per_isa_grad_check("im2col conv+relu+maxpool, 8x8", CNN_CONV_IM2COL, 2, 8, 8, net_conv_relu_maxpool);
}

TEST(im2col_conv_padding_and_dilation_mix_gradients_match_finite_differences)
{
    openblas_set_num_threads(1);
    grad_check("im2col conv pad/dilation mix", CNN_CONV_IM2COL, 3, 6, 7, net_conv_direct_mix);
}

static const check_case tests[] = {
    CASE(valid_conv_gradients_match_finite_differences),
    CASE(same_padded_conv_with_stride_2x1_gradients_match_finite_differences),
    CASE(conv_with_explicit_padding_dilation_2_and_stride_1x2_gradients_match_finite_differences),
    CASE(conv_relu_maxpool_gradients_match_finite_differences),
    CASE(maxpool_3x3_stride_2_same_gradients_match_finite_differences),
    CASE(same_padded_avgpool_gradients_match_finite_differences),
    CASE(explicitly_padded_avgpool_gradients_match_finite_differences),
    CASE(dense_sigmoid_tanh_gradients_match_finite_differences),
    CASE(dense_relu_gradients_match_finite_differences),
    CASE(dense_layers_on_the_engine_kernel_gradients_match_finite_differences),
    CASE(softmax_cross_entropy_gradient_matches_finite_differences),
    CASE(dropout_backward_applies_its_forward_mask_and_eval_mode_is_the_identity),
    CASE(direct_valid_conv_gradients_match_finite_differences),
    CASE(direct_conv_relu_maxpool_gradients_match_finite_differences),
    CASE(direct_conv_padding_and_dilation_mix_gradients_match_finite_differences),
    CASE(winograd_conv_gradients_match_finite_differences),
    CASE(im2col_on_the_engine_kernel_gradients_match_finite_differences),
    CASE(im2col_conv_padding_and_dilation_mix_gradients_match_finite_differences),
};
CHECK_MAIN(tests)
