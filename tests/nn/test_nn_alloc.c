/* Allocation failure in the engine: every allocation the engine makes goes through the wrapped malloc
 * family below (and strdup). A whole scenario (read an IDX dataset, create a model on both convolution paths, build
 * it, train a step, save and load a checkpoint) is run with the Nth allocation failing for N = 0, 1,
 * 2, ... until it succeeds. Each failure must come back as TBW_ENOMEM with a message, never a crash,
 * and leave no allocation behind (the live count is compared; the sanitizer build checks too). */
#include <tbw/cnn.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t s);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);

/* Per case: the runner allocates in the parent before it forks (and the child inherits the counts), so
 * every case starts from reset_counters(). */
static long g_countdown = -1; /* fail when it reaches 0; -1 = never */
static long g_live;           /* allocations made through the wrappers and not yet freed */

static void reset_counters(void)
{
    g_countdown = -1;
    g_live = 0;
}

static int should_fail(void)
{
    if (g_countdown < 0)
        return 0;
    return g_countdown-- == 0;
}

void *__wrap_malloc(size_t n)
{
    void *p = should_fail() ? NULL : __real_malloc(n);
    g_live += p != NULL;
    return p;
}
void *__wrap_calloc(size_t n, size_t s)
{
    void *p = should_fail() ? NULL : __real_calloc(n, s);
    g_live += p != NULL;
    return p;
}
void *__wrap_realloc(void *old, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __real_realloc(old, n);
    g_live += old == NULL && p != NULL;
    return p;
}
char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = should_fail() ? NULL : __real_malloc(n);
    if (p) {
        memcpy(p, s, n);
        g_live++;
    }
    return p;
}
void __wrap_free(void *p)
{
    g_live -= p != NULL;
    __real_free(p);
}

static char g_dir[] = "/tmp/tbw_nn_alloc_XXXXXX";
static char g_images[256], g_labels[256], g_ckpt[256];

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* Six 12x12 images and their labels, plain IDX. */
static void write_idx(void)
{
    FILE *f = fopen(g_images, "wb");
    put_be32(f, 0x00000803);
    put_be32(f, 6);
    put_be32(f, 12);
    put_be32(f, 12);
    for (int i = 0; i < 6 * 144; i++)
        fputc((i * 37) % 256, f);
    fclose(f);
    f = fopen(g_labels, "wb");
    put_be32(f, 0x00000801);
    put_be32(f, 6);
    for (int i = 0; i < 6; i++)
        fputc(i % 10, f);
    fclose(f);
}

/* Returns 0 when every call succeeded, else the first failing status (msg gets its message). */
static int scenario(int algo, char *msg, size_t cap)
{
    int rc;
    cnn_dataset *ds = NULL;
    cnn_model *m = NULL;
    float x[4 * 144];
    int32_t y[4];
    msg[0] = '\0';
    if ((rc = cnn_dataset_create(&ds, NULL, 0)) != 0)
        return rc;
    if ((rc = cnn_dataset_load_idx(ds, g_images, g_labels)) != 0) {
        snprintf(msg, cap, "%s", cnn_dataset_errmsg(ds));
        goto out;
    }
    if ((rc = cnn_dataset_batch(ds, 0, 4, x, y)) != 0)
        goto out;
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 2;
    mo.conv_algo = algo;
    if ((rc = cnn_model_create(&m, 1, 12, 12, &mo, NULL, 0)) != 0)
        goto out;
    cnn_conv2d_opts c1 = CNN_CONV2D_OPTS_INIT, c2 = CNN_CONV2D_OPTS_INIT;
    c1.filters = 8;
    c1.kernel_h = c1.kernel_w = 3;
    c2.filters = 16;
    c2.kernel_h = c2.kernel_w = 3; /* 8x3x3 = 72 taps: direct under AUTO */
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 10;
    rc = cnn_model_add_conv2d(m, "conv1", &c1);
    rc = rc ? rc : cnn_model_add_relu(m, "relu1");
    rc = rc ? rc : cnn_model_add_maxpool(m, "pool1", NULL);
    rc = rc ? rc : cnn_model_add_conv2d(m, "conv2", &c2);
    rc = rc ? rc : cnn_model_add_relu(m, "relu2");
    rc = rc ? rc : cnn_model_add_flatten(m, "flatten");
    rc = rc ? rc : cnn_model_add_dropout(m, "dropout", 0.5f);
    rc = rc ? rc : cnn_model_add_dense(m, "fc", &d);
    rc = rc ? rc : cnn_model_build(m, 4);
    double loss, acc;
    rc = rc ? rc : cnn_model_train_step(m, x, y, 4, &loss, &acc);
    rc = rc ? rc : cnn_model_save(m, g_ckpt);
    rc = rc ? rc : cnn_model_load(m, g_ckpt);
    rc = rc ? rc : cnn_model_evaluate_dataset(m, ds, &loss, &acc);
    if (rc)
        snprintf(msg, cap, "%s", cnn_model_errmsg(m));
out:
    cnn_model_free(m);
    cnn_dataset_free(ds);
    return rc;
}

static void sweep(int algo)
{
    reset_counters();
    char msg[512];
    long baseline = g_live;
    int failures = 0;
    for (long n = 0; n < 10000; n++) {
        g_countdown = n;
        int rc = scenario(algo, msg, sizeof msg);
        g_countdown = -1;
        CHECK_INT(baseline, g_live);
        if (rc == 0)
            break;
        failures++;
        CHECK_(rc == TBW_ENOMEM, "conv_algo %d, allocation %ld failing: status %d (%s)", algo, n, rc, msg);
    }
    CHECK_TRUE(failures > 10); /* the scenario really allocates through the wrappers */
    CHECK_INT(0, scenario(algo, msg, sizeof msg));
}

TEST(every_failed_allocation_under_auto_conv_returns_enomem_and_leaks_nothing)
{
    sweep(CNN_CONV_AUTO);
}

TEST(every_failed_allocation_under_im2col_conv_returns_enomem_and_leaks_nothing)
{
    sweep(CNN_CONV_IM2COL);
}

TEST(every_failed_allocation_under_direct_conv_returns_enomem_and_leaks_nothing)
{
    if (!cnn_conv_direct_available())
        return; /* no AVX-512F: the direct path cannot be built */
    sweep(CNN_CONV_DIRECT);
}

static const check_case tests[] = {
    CASE(every_failed_allocation_under_auto_conv_returns_enomem_and_leaks_nothing),
    CASE(every_failed_allocation_under_im2col_conv_returns_enomem_and_leaks_nothing),
    CASE(every_failed_allocation_under_direct_conv_returns_enomem_and_leaks_nothing),
};

int main(int argc, char **argv)
{
    if (!mkdtemp(g_dir))
        return 1;
    snprintf(g_images, sizeof g_images, "%s/images-idx3-ubyte", g_dir);
    snprintf(g_labels, sizeof g_labels, "%s/labels-idx1-ubyte", g_dir);
    snprintf(g_ckpt, sizeof g_ckpt, "%s/model.ckpt", g_dir);
    write_idx();
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    unlink(g_images);
    unlink(g_labels);
    unlink(g_ckpt);
    rmdir(g_dir);
    return rc;
}
