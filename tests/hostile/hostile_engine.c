/* Hostile input to the engine's loaders: checkpoints whose CRC is right but whose fields are not,
   IDX headers that promise more than the file holds. */
#include "hostile.h"

#include <sys/resource.h>
#include <zlib.h>

#include <tbw/cnn.h>

#define HERE (__func__ + 5)

static cnn_model *small_model(void)
{
    cnn_model *m = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, NULL, why, sizeof why), why);
    if (!m)
        return NULL;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 3;
    CHECK_RC(0, cnn_model_add_flatten(m, "flat") | cnn_model_add_dense(m, "fc", &d) | cnn_model_build(m, 2),
             cnn_model_errmsg(m));
    return m;
}

/* A trained model saved to <run>/model.ckpt; returns its path. */
static const char *saved_checkpoint(const char *name, cnn_model *m)
{
    static char path[1024];
    mkdir(hostile_run(name), 0777);
    snprintf(path, sizeof path, "%s/model.ckpt", hostile_run(name));
    float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)i / 32;
    const int32_t y[2] = {0, 2};
    double loss, acc;
    for (int s = 0; s < 3; s++)
        CHECK_RC(0, cnn_model_train_step(m, x, y, 2, &loss, &acc), cnn_model_errmsg(m));
    CHECK_RC(0, cnn_model_save(m, path), cnn_model_errmsg(m));
    return path;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    if (b && fread(b, 1, *len, f) != *len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

/* Rewrites the checkpoint with patch applied to its payload and the payload CRC made right again, so
   only the meaning of the fields can reveal the damage. */
static void patch_checkpoint(const char *path, void (*patch)(uint8_t *payload, size_t len))
{
    size_t len = 0;
    uint8_t *b = slurp(path, &len);
    CHECK(b != NULL && len > 32);
    if (!b)
        return;
    patch(b + 32, len - 32);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + 32, (uInt)(len - 32));
    for (int i = 0; i < 4; i++)
        b[24 + i] = (uint8_t)(crc >> (8 * i));
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, len, f) == len);
    if (f)
        fclose(f);
    free(b);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void step_minus_one(uint8_t *p, size_t n) { (void)n, put_le64(p, UINT64_MAX); }
static void step_int64_max(uint8_t *p, size_t n) { (void)n, put_le64(p, (uint64_t)INT64_MAX); }
static void step_2_pow_53_plus_1(uint8_t *p, size_t n) { (void)n, put_le64(p, ((uint64_t)1 << 53) + 1); }
static void rng_zero(uint8_t *p, size_t n) { (void)n, memset(p + 8, 0, 32); }
/* The last float of the payload is the last Adam second moment (fc's bias, "/Adam_1"). */
static void last_float_nan(uint8_t *p, size_t n) { const uint8_t nan[4] = {0, 0, 0xC0, 0x7F}; memcpy(p + n - 4, nan, 4); }
static void last_float_negative(uint8_t *p, size_t n) { const uint8_t neg[4] = {0, 0, 0x80, 0xBF}; memcpy(p + n - 4, neg, 4); }

/* The first weight of fc: after the 40-byte step and RNG block, "fc/weights" with rank 2. */
static void first_weight_inf(uint8_t *p, size_t n)
{
    (void)n;
    size_t at = 40 + 4 + strlen("fc/weights") + 4 + 8;
    const uint8_t inf[4] = {0, 0, 0x80, 0x7F};
    memcpy(p + at, inf, 4);
}

static void refused(const char *name, void (*patch)(uint8_t *, size_t), const char *needle)
{
    cnn_model *m = small_model();
    if (!m)
        return;
    const char *path = saved_checkpoint(name, m);
    patch_checkpoint(path, patch);
    cnn_model *fresh = small_model();
    cnn_layer_info before, after;
    CHECK_INT(0, cnn_model_layer_info(fresh, 1, &before));
    float w0 = before.params[0].data[0];
    int64_t step0 = cnn_model_step_count(fresh);
    CHECK_RC(TBW_ECORRUPT, cnn_model_load(fresh, path), cnn_model_errmsg(fresh));
    CHECK_STR_HAS(cnn_model_errmsg(fresh), needle);
    CHECK_INT(0, cnn_model_layer_info(fresh, 1, &after));
    CHECK_DBL(w0, after.params[0].data[0]); /* nothing changed */
    CHECK_INT(step0, cnn_model_step_count(fresh));
    cnn_model_free(fresh);
    cnn_model_free(m);
    expect_nothing(name);
}

TEST(checkpoint_with_step_minus_one_is_refused_and_changes_nothing) { refused(HERE, step_minus_one, "outside 0..2^53"); }
TEST(checkpoint_with_step_int64_max_is_refused) { refused(HERE, step_int64_max, "outside 0..2^53"); }
TEST(checkpoint_with_step_past_2_pow_53_is_refused) { refused(HERE, step_2_pow_53_plus_1, "outside 0..2^53"); }
TEST(checkpoint_with_an_all_zero_generator_state_is_refused) { refused(HERE, rng_zero, "all zero"); }
TEST(checkpoint_with_a_nan_optimizer_slot_is_refused) { refused(HERE, last_float_nan, "not a finite non-negative"); }
TEST(checkpoint_with_a_negative_adam_second_moment_is_refused) { refused(HERE, last_float_negative, "is -1"); }
TEST(checkpoint_with_an_infinite_weight_is_refused) { refused(HERE, first_weight_inf, "'fc/weights' value 0 is inf"); }

TEST(checkpoint_saved_and_loaded_unchanged_still_loads)
{
    cnn_model *m = small_model();
    if (!m)
        return;
    const char *path = saved_checkpoint(HERE, m);
    cnn_model *fresh = small_model();
    CHECK_RC(0, cnn_model_load(fresh, path), cnn_model_errmsg(fresh));
    CHECK_INT(3, cnn_model_step_count(fresh));
    cnn_model_free(fresh);
    cnn_model_free(m);
    expect_nothing(HERE);
}

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* A 16-byte images header claiming n x 28 x 28 with no data, and a matching labels file. */
static void claim_files(const char *dir, uint32_t n, bool gz, char *img, char *lab, size_t cap)
{
    mkdir(dir, 0777);
    snprintf(img, cap, "%s/images%s", dir, gz ? ".gz" : "");
    snprintf(lab, cap, "%s/labels", dir);
    if (gz) {
        gzFile g = gzopen(img, "wb");
        const uint8_t h[16] = {0, 0, 8, 3, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n,
                               0, 0, 0, 28, 0, 0, 0, 28};
        CHECK(g && gzwrite(g, h, 16) == 16);
        if (g)
            gzclose(g);
    } else {
        FILE *f = fopen(img, "wb");
        CHECK(f != NULL);
        if (f) {
            put_be32(f, 0x803);
            put_be32(f, n);
            put_be32(f, 28);
            put_be32(f, 28);
            fclose(f);
        }
    }
    FILE *f = fopen(lab, "wb");
    if (f) {
        put_be32(f, 0x801);
        put_be32(f, n);
        fclose(f);
    }
}

static void header_claims_4_gib(const char *name, bool gz)
{
#if !defined(__SANITIZE_ADDRESS__)
    /* Without the fix the loader asked for 4 GiB at once; with 1 GiB of address space that fails
       with ENOMEM instead of reporting the truncation. (ASan reserves far more, so not there.) */
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    CHECK_INT(0, setrlimit(RLIMIT_AS, &rl));
#endif
    char img[1200], lab[1200];
    claim_files(hostile_run(name), 0xFFFFFFFFu / 784, gz, img, lab, sizeof img);
    cnn_dataset *ds = NULL;
    char why[256];
    CHECK_RC(0, cnn_dataset_create(&ds, why, sizeof why), why);
    CHECK_RC(TBW_ETRUNCATED, cnn_dataset_load_idx(ds, img, lab), cnn_dataset_errmsg(ds));
    CHECK_STR_HAS(cnn_dataset_errmsg(ds), "the header declares 4294966816 data bytes");
    cnn_dataset_free(ds);
    expect_nothing(name);
}

TEST(idx_header_claiming_4_gib_in_a_16_byte_file_is_refused_without_allocating_it)
{
    header_claims_4_gib(HERE, false);
}

TEST(gzip_idx_header_claiming_4_gib_is_refused_without_allocating_it)
{
    header_claims_4_gib(HERE, true);
}

static const check_case tests[] = {
    CASE(checkpoint_with_step_minus_one_is_refused_and_changes_nothing),
    CASE(checkpoint_with_step_int64_max_is_refused),
    CASE(checkpoint_with_step_past_2_pow_53_is_refused),
    CASE(checkpoint_with_an_all_zero_generator_state_is_refused),
    CASE(checkpoint_with_a_nan_optimizer_slot_is_refused),
    CASE(checkpoint_with_a_negative_adam_second_moment_is_refused),
    CASE(checkpoint_with_an_infinite_weight_is_refused),
    CASE(checkpoint_saved_and_loaded_unchanged_still_loads),
    CASE(idx_header_claiming_4_gib_in_a_16_byte_file_is_refused_without_allocating_it),
    CASE(gzip_idx_header_claiming_4_gib_is_refused_without_allocating_it),
};
HOSTILE_MAIN(tests)
