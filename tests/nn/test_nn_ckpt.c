/* Checkpoints: save + restore + continue equals an uninterrupted run bit for bit; damaged, truncated,
 * foreign and mismatched files fail with a clear code and leave the model untouched. */
#include <tbw/cnn.h>

#include <stdlib.h>
#include <unistd.h>

#include "../check.h"
#include "nn_data.h"

static cnn_model *net(int filters, int optimizer)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    mo.seed = 42;
    mo.optimizer = optimizer;
    mo.learning_rate = 1e-3f;
    cnn_model *m = NULL;
    if (cnn_model_create(&m, 1, 10, 10, &mo, NULL, 0))
        return NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = filters;
    c.kernel_h = c.kernel_w = 3;
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    int rc = cnn_model_add_conv2d(m, "conv1", &c) | cnn_model_add_relu(m, "relu1") |
             cnn_model_add_maxpool(m, "pool1", &p) | cnn_model_add_dropout(m, "drop", 0.25f) |
             cnn_model_add_dense(m, "fc1", &d);
    if (rc || cnn_model_build(m, 8)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

static float X[8 * 100];
static int32_t Y[8];

static void train(cnn_model *m, int steps)
{
    for (int i = 0; i < steps; i++)
        cnn_model_train_step(m, X, Y, 8, NULL, NULL);
}

static int same_weights(cnn_model *a, cnn_model *b)
{
    for (size_t l = 0; l < cnn_model_layer_count(a); l++) {
        cnn_layer_info ia, ib;
        cnn_model_layer_info(a, l, &ia);
        cnn_model_layer_info(b, l, &ib);
        for (int p = 0; p < ia.nparams; p++)
            if (memcmp(ia.params[p].data, ib.params[p].data, ia.params[p].count * sizeof(float)) != 0)
                return 0;
    }
    return 1;
}

static long fsize(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void copy_prefix(const char *src, const char *dst, long n, long flip_at)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    for (long i = 0; i < n; i++) {
        int ch = fgetc(a);
        if (i == flip_at)
            ch ^= 0x01;
        fputc(ch, b);
    }
    fclose(a);
    fclose(b);
}

static char g_dir[] = "/tmp/tbw-ckpt-XXXXXX";

static void roundtrip(int optimizer)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model-%d.ckpt", g_dir, optimizer);
    cnn_model *full = net(8, optimizer), *first = net(8, optimizer), *second = net(8, optimizer);
    CHECK_TRUE(full && first && second);
    if (!full || !first || !second)
        goto done;
    train(full, 10);
    train(first, 5);
    CHECK_INT(0, cnn_model_save(first, path));
    train(second, 2); /* diverge, then restore over it */
    CHECK_INT(0, cnn_model_load(second, path));
    CHECK_INT(5, cnn_model_step_count(second));
    train(second, 5);
    CHECK_INT(10, cnn_model_step_count(second));
    CHECK_TRUE(same_weights(full, second));
    /* restoring into a fresh model and continuing gives the same too (RNG state for dropout included) */
    cnn_model *third = net(8, optimizer);
    CHECK_INT(0, cnn_model_load(third, path));
    train(third, 5);
    CHECK_TRUE(same_weights(full, third));
    cnn_model_free(third);
done:
    cnn_model_free(full);
    cnn_model_free(first);
    cnn_model_free(second);
}

TEST(adam_resumed_from_a_checkpoint_matches_an_uninterrupted_run_bit_for_bit)
{
    roundtrip(CNN_OPT_ADAM);
}

TEST(sgd_resumed_from_a_checkpoint_matches_an_uninterrupted_run_bit_for_bit)
{
    roundtrip(CNN_OPT_SGD);
}

/* Writes good.ckpt from *saved, an Adam model of 8 filters after 3 steps. *ref (when asked for) gets the
 * same 3 steps and is the model the refused loads must leave untouched. Returns the file's size. */
static char g_good[512], g_bad[512];

static long save_good(cnn_model **saved, cnn_model **ref)
{
    *saved = net(8, CNN_OPT_ADAM);
    train(*saved, 3);
    CHECK_INT(0, cnn_model_save(*saved, g_good));
    if (!ref)
        return 0;
    *ref = net(8, CNN_OPT_ADAM);
    train(*ref, 3);
    long n = fsize(g_good);
    CHECK_TRUE(n > 100);
    return n;
}

TEST(a_flipped_payload_byte_fails_the_crc_and_leaves_the_model_untouched)
{
    cnn_model *m, *ref;
    long n = save_good(&m, &ref);
    copy_prefix(g_good, g_bad, n, n / 2); /* flipped payload byte */
    CHECK_INT(TBW_ECORRUPT, cnn_model_load(ref, g_bad));
    CHECK_STR_HAS(cnn_model_errmsg(ref), "CRC");
    CHECK_TRUE(same_weights(m, ref)); /* unchanged */
    cnn_model_free(m);
    cnn_model_free(ref);
}

TEST(truncated_foreign_and_missing_files_fail_with_their_own_code_and_leave_the_model_untouched)
{
    cnn_model *m, *ref;
    long n = save_good(&m, &ref);
    copy_prefix(g_good, g_bad, n - 10, -1);
    CHECK_INT(TBW_ETRUNCATED, cnn_model_load(ref, g_bad));
    CHECK_STR_HAS(cnn_model_errmsg(ref), "truncated");
    copy_prefix(g_good, g_bad, 20, -1);
    CHECK_INT(TBW_ETRUNCATED, cnn_model_load(ref, g_bad));

    copy_prefix(g_good, g_bad, n, 0); /* foreign magic */
    CHECK_INT(TBW_ECORRUPT, cnn_model_load(ref, g_bad));
    CHECK_STR_HAS(cnn_model_errmsg(ref), "magic");
    FILE *f = fopen(g_bad, "wb");
    fputs("hello, this is not a checkpoint at all", f);
    fclose(f);
    CHECK_INT(TBW_ECORRUPT, cnn_model_load(ref, g_bad));

    char missing[512];
    snprintf(missing, sizeof missing, "%s/none.ckpt", g_dir);
    CHECK_INT(TBW_ENOTFOUND, cnn_model_load(ref, missing));
    CHECK_TRUE(same_weights(m, ref));
    cnn_model_free(m);
    cnn_model_free(ref);
}

TEST(a_checkpoint_of_other_shapes_or_another_optimizer_is_refused_as_a_mismatch)
{
    cnn_model *m;
    save_good(&m, NULL);
    cnn_model *other = net(4, CNN_OPT_ADAM); /* other shapes */
    CHECK_INT(TBW_EMISMATCH, cnn_model_load(other, g_good));
    CHECK_STR_HAS(cnn_model_errmsg(other), "conv1/weights");
    CHECK_STR_HAS(cnn_model_errmsg(other), "shape");
    cnn_model_free(other);
    other = net(8, CNN_OPT_SGD);
    CHECK_INT(TBW_EMISMATCH, cnn_model_load(other, g_good));
    CHECK_STR_HAS(cnn_model_errmsg(other), "optimizer");
    cnn_model_free(other);
    cnn_model_free(m);
}

TEST(saving_into_a_missing_directory_fails_naming_the_temporary_file)
{
    cnn_model *m = net(8, CNN_OPT_ADAM);
    train(m, 3);
    char nodir[512];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.ckpt", g_dir);
    CHECK_TRUE(cnn_model_save(m, nodir) < 0);
    CHECK_STR_HAS(cnn_model_errmsg(m), "temporary");
    cnn_model_free(m);
}

static const check_case tests[] = {
    CASE(adam_resumed_from_a_checkpoint_matches_an_uninterrupted_run_bit_for_bit),
    CASE(sgd_resumed_from_a_checkpoint_matches_an_uninterrupted_run_bit_for_bit),
    CASE(a_flipped_payload_byte_fails_the_crc_and_leaves_the_model_untouched),
    CASE(truncated_foreign_and_missing_files_fail_with_their_own_code_and_leave_the_model_untouched),
    CASE(a_checkpoint_of_other_shapes_or_another_optimizer_is_refused_as_a_mismatch),
    CASE(saving_into_a_missing_directory_fails_naming_the_temporary_file),
};

int main(int argc, char **argv)
{
    if (!mkdtemp(g_dir)) {
        CHECK_TRUE(!"mkdtemp failed");
        return check_main(argc, argv, tests, CHECK_COUNT(tests));
    }
    snprintf(g_good, sizeof g_good, "%s/good.ckpt", g_dir);
    snprintf(g_bad, sizeof g_bad, "%s/bad.ckpt", g_dir);
    for (int i = 0; i < 8 * 100; i++)
        X[i] = (float)test_uniform();
    for (int i = 0; i < 8; i++)
        Y[i] = i;
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    char p[600];
    for (int o = 0; o < 2; o++) {
        snprintf(p, sizeof p, "%s/model-%d.ckpt", g_dir, o);
        unlink(p);
    }
    unlink(g_good);
    unlink(g_bad);
    rmdir(g_dir);
    return rc;
}
