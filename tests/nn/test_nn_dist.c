/* The engine's side of data-parallel training, in one process: K models that each see a shard of
 * a global batch, scale their loss gradient by n_r / B and sum their gradients, train exactly as
 * one model on the whole batch. The MPI suite checks the same across real processes. */
#include <tbw/cnn.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "dist_net.h"
#include "nn_data.h"

static cnn_model *net_with(size_t batch, int threads, cnn_optimizer opt)
{
    return dist_net(batch, threads, opt, 11);
}

static cnn_model *net(size_t batch, int threads) { return net_with(batch, threads, CNN_OPT_ADAM); }

/* Trains K shard models and one whole-batch model for `steps` steps of global batch B and returns
   max|w_shard - w_whole| / max|w_whole|; the K shard models must also stay bitwise equal. SGD
   moves by the gradient's size, so it catches a wrong scale; Adam nearly cancels one. */
static double shards_against_whole(size_t B, size_t K, int steps, cnn_optimizer opt)
{
    cnn_model *whole = net_with(B, 1, opt), *rank[4] = {0};
    CHECK_TRUE(whole != NULL && K <= 4);
    size_t count = 0;
    for (size_t r = 0; r < K; r++) {
        size_t n_r = B / K + (r < B % K); /* the first ranks take one more */
        rank[r] = net_with(n_r, 1, opt);
        CHECK_TRUE(rank[r] != NULL);
        if (!rank[r])
            return INFINITY;
        CHECK_RC(0, cnn_model_set_loss_grad_scale(rank[r], (float)n_r / (float)B), cnn_model_errmsg(rank[r]));
    }
    if (!whole)
        return INFINITY;
    float *w0 = cnn_model_params_flat(whole, &count);
    CHECK_TRUE(w0 != NULL && count == cnn_model_param_count(whole));
    float *x = malloc(B * PX * sizeof *x);
    int32_t *y = malloc(B * sizeof *y);
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < B * PX; i++)
            x[i] = (float)test_uniform();
        for (size_t i = 0; i < B; i++)
            y[i] = (int32_t)((i * 7 + (size_t)s) % 10);
        CHECK_RC(0, cnn_model_train_step(whole, x, y, B, NULL, NULL), cnn_model_errmsg(whole));
        size_t first = 0;
        for (size_t r = 0; r < K; r++) {
            size_t n_r = B / K + (r < B % K);
            CHECK_RC(0, cnn_model_forward(rank[r], x + first * PX, n_r, true), cnn_model_errmsg(rank[r]));
            CHECK_RC(0, cnn_model_loss(rank[r], y + first, n_r, NULL, NULL), cnn_model_errmsg(rank[r]));
            CHECK_RC(0, cnn_model_backward(rank[r]), cnn_model_errmsg(rank[r]));
            first += n_r;
        }
        /* the allreduce: a sum, in rank order, given to every rank */
        size_t n;
        float *g0 = cnn_model_grads_flat(rank[0], &n);
        for (size_t r = 1; r < K; r++) {
            const float *g = cnn_model_grads_flat(rank[r], NULL);
            for (size_t i = 0; i < n; i++)
                g0[i] += g[i];
        }
        for (size_t r = 1; r < K; r++)
            memcpy(cnn_model_grads_flat(rank[r], NULL), g0, n * sizeof *g0);
        for (size_t r = 0; r < K; r++)
            CHECK_RC(0, cnn_model_step(rank[r]), cnn_model_errmsg(rank[r]));
    }
    double worst = 0, biggest = 0;
    const float *w = cnn_model_params_flat(rank[0], NULL);
    for (size_t i = 0; i < count; i++) {
        worst = fmax(worst, fabs((double)w[i] - (double)w0[i]));
        biggest = fmax(biggest, fabs((double)w0[i]));
    }
    for (size_t r = 1; r < K; r++)
        CHECK_TRUE(memcmp(w, cnn_model_params_flat(rank[r], NULL), count * sizeof *w) == 0);
    free(x);
    free(y);
    for (size_t r = 0; r < K; r++)
        cnn_model_free(rank[r]);
    cnn_model_free(whole);
    return worst / biggest;
}

TEST(two_shards_of_an_even_batch_train_like_the_whole_batch)
{
    double adam = shards_against_whole(8, 2, 20, CNN_OPT_ADAM), sgd = shards_against_whole(8, 2, 20, CNN_OPT_SGD);
    CHECK_(adam <= 1e-5, "Adam: max relative weight difference %g after 20 steps", adam);
    CHECK_(sgd <= 1e-5, "SGD: max relative weight difference %g after 20 steps", sgd);
}

TEST(an_uneven_split_of_7_as_4_and_3_trains_like_the_whole_batch)
{
    double adam = shards_against_whole(7, 2, 20, CNN_OPT_ADAM), sgd = shards_against_whole(7, 2, 20, CNN_OPT_SGD);
    CHECK_(adam <= 1e-5, "Adam: max relative weight difference %g after 20 steps", adam);
    CHECK_(sgd <= 1e-5, "SGD: max relative weight difference %g after 20 steps", sgd);
}

TEST(three_shards_of_7_as_3_2_2_train_like_the_whole_batch)
{
    double adam = shards_against_whole(7, 3, 20, CNN_OPT_ADAM), sgd = shards_against_whole(7, 3, 20, CNN_OPT_SGD);
    CHECK_(adam <= 1e-5, "Adam: max relative weight difference %g after 20 steps", adam);
    CHECK_(sgd <= 1e-5, "SGD: max relative weight difference %g after 20 steps", sgd);
}

TEST(without_the_scale_the_summed_gradient_is_k_times_too_large)
{
    /* the check above can fail: shards without the n_r / B scale drift from the whole batch */
    cnn_model *a = net(4, 1), *b = net(8, 1);
    CHECK_TRUE(a && b);
    if (!a || !b)
        return;
    float x[8 * PX];
    int32_t y[8];
    for (size_t i = 0; i < 8 * PX; i++)
        x[i] = (float)test_uniform();
    for (int i = 0; i < 8; i++)
        y[i] = i % 10;
    CHECK_RC(0, cnn_model_forward(b, x, 8, true) | cnn_model_loss(b, y, 8, NULL, NULL) | cnn_model_backward(b),
             cnn_model_errmsg(b));
    CHECK_RC(0, cnn_model_forward(a, x, 4, true) | cnn_model_loss(a, y, 4, NULL, NULL) | cnn_model_backward(a),
             cnn_model_errmsg(a));
    size_t n;
    float *ga = cnn_model_grads_flat(a, &n);
    float *keep = malloc(n * sizeof *keep);
    memcpy(keep, ga, n * sizeof *keep);
    /* the same shard with scale 1/2 gives exactly half of each gradient */
    CHECK_RC(0, cnn_model_set_loss_grad_scale(a, 0.5f), cnn_model_errmsg(a));
    CHECK_RC(0, cnn_model_forward(a, x, 4, true) | cnn_model_loss(a, y, 4, NULL, NULL) | cnn_model_backward(a),
             cnn_model_errmsg(a));
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)ga[i] - 0.5 * keep[i]));
    CHECK_(worst <= 1e-6, "scaled gradient off by %g", worst);
    free(keep);
    cnn_model_free(a);
    cnn_model_free(b);
}

TEST(writing_the_flat_parameters_changes_the_model_as_a_broadcast_does)
{
    cnn_model *a = net(4, 1), *b = net(4, 2);
    CHECK_TRUE(a && b);
    if (!a || !b)
        return;
    size_t na, nb;
    float *pa = cnn_model_params_flat(a, &na), *pb = cnn_model_params_flat(b, &nb);
    CHECK_U64(na, nb);
    for (size_t i = 0; i < na; i++)
        pa[i] = (float)(test_uniform() - 0.5) * 0.2f;
    memcpy(pb, pa, na * sizeof *pa);
    float x[4 * PX];
    for (size_t i = 0; i < 4 * PX; i++)
        x[i] = (float)test_uniform();
    CHECK_RC(0, cnn_model_forward(a, x, 4, false), cnn_model_errmsg(a));
    CHECK_RC(0, cnn_model_forward(b, x, 4, false), cnn_model_errmsg(b));
    const float *oa = cnn_model_output(a), *ob = cnn_model_output(b);
    for (int i = 0; i < 40; i++)
        CHECK_NEAR(oa[i], ob[i], 1e-5);
    cnn_layer_info li;
    CHECK_INT(0, cnn_model_layer_info(a, 0, &li));
    CHECK_TRUE(li.params[0].data == pa); /* the first layer's weights start the span */
    cnn_model_free(a);
    cnn_model_free(b);
}

TEST(flat_views_are_null_before_build_and_a_bad_scale_is_refused)
{
    cnn_model *m = NULL;
    CHECK_INT(0, cnn_model_create(&m, 1, 4, 4, NULL, NULL, 0));
    size_t n = 99;
    CHECK_TRUE(cnn_model_params_flat(m, &n) == NULL);
    CHECK_U64(0, n);
    CHECK_TRUE(cnn_model_grads_flat(m, NULL) == NULL);
    CHECK_TRUE(cnn_model_params_flat(NULL, NULL) == NULL);
    CHECK_INT(TBW_EINVAL, cnn_model_set_loss_grad_scale(m, 0.0f));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss gradient scale must be finite and > 0");
    CHECK_INT(TBW_EINVAL, cnn_model_set_loss_grad_scale(m, NAN));
    CHECK_INT(TBW_EINVAL, cnn_model_set_loss_grad_scale(m, -1.0f));
    CHECK_INT(TBW_EINVAL, cnn_model_set_loss_grad_scale(m, INFINITY));
    CHECK_INT(TBW_EINVAL, cnn_model_set_loss_grad_scale(NULL, 1.0f));
    cnn_model_free(m);
}

static const check_case tests[] = {
    CASE(two_shards_of_an_even_batch_train_like_the_whole_batch),
    CASE(an_uneven_split_of_7_as_4_and_3_trains_like_the_whole_batch),
    CASE(three_shards_of_7_as_3_2_2_train_like_the_whole_batch),
    CASE(without_the_scale_the_summed_gradient_is_k_times_too_large),
    CASE(writing_the_flat_parameters_changes_the_model_as_a_broadcast_does),
    CASE(flat_views_are_null_before_build_and_a_bad_scale_is_refused),
};
CHECK_MAIN(tests)
