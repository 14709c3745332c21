/* IDX reader on files the test writes itself (plain and gzip), the failure paths, and batching. */
#include <tbw/cnn.h>

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "../check.h"

static char dir[] = "/tmp/tbw-idx-XXXXXX";

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes an IDX file: header bytes (magic type rank), dims, then `len` payload bytes. */
static void write_idx(const char *path, bool gz, uint8_t type, int rank, const uint32_t *dims, const uint8_t *data,
                      size_t len)
{
    uint8_t hdr[4 + 16] = {0, 0, type, (uint8_t)rank};
    for (int i = 0; i < rank; i++)
        put_be32(hdr + 4 + 4 * i, dims[i]);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, hdr, (unsigned)(4 + 4 * rank));
        if (len)
            gzwrite(f, data, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(hdr, 1, 4 + 4 * (size_t)rank, f);
        if (len)
            fwrite(data, 1, len, f);
        fclose(f);
    }
}

static char *pth(const char *name)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static uint8_t IMG[5 * 3 * 4], LAB[5] = {0, 1, 2, 9, 4};
static const uint32_t IDIMS[3] = {5, 3, 4}, LDIMS[1] = {5};

/* Writes the five images and their labels, plain or gzip, and loads them. */
static cnn_dataset *load_written(bool gz)
{
    write_idx(pth("img"), gz, 0x08, 3, IDIMS, IMG, sizeof IMG);
    write_idx(pth("lab"), gz, 0x08, 1, LDIMS, LAB, sizeof LAB);
    cnn_dataset *ds = NULL;
    CHECK_INT(0, cnn_dataset_create(&ds, NULL, 0));
    CHECK_INT(0, cnn_dataset_load_idx(ds, pth("img"), pth("lab")));
    return ds;
}

static void loads_count_dims_pixels_and_labels(bool gz)
{
    cnn_dataset *ds = load_written(gz);
    CHECK_INT(5, cnn_dataset_count(ds));
    int r, c;
    cnn_dataset_dims(ds, &r, &c);
    CHECK_INT(3, r);
    CHECK_INT(4, c);
    CHECK_TRUE(memcmp(cnn_dataset_images(ds), IMG, sizeof IMG) == 0);
    CHECK_TRUE(memcmp(cnn_dataset_labels(ds), LAB, sizeof LAB) == 0);
    cnn_dataset_free(ds);
}

TEST(plain_idx_files_load_with_their_count_dims_pixels_and_labels)
{
    loads_count_dims_pixels_and_labels(false);
}

TEST(gzip_idx_files_load_with_their_count_dims_pixels_and_labels)
{
    loads_count_dims_pixels_and_labels(true);
}

TEST(batches_scale_pixels_to_the_unit_range_and_refuse_a_range_past_the_end_or_empty)
{
    for (int gz = 0; gz < 2; gz++) {
        cnn_dataset *ds = load_written(gz);
        float x[5 * 12];
        int32_t y[5];
        CHECK_INT(0, cnn_dataset_batch(ds, 0, 5, x, y));
        CHECK_NEAR(IMG[13] / 255.0, x[13], 1e-7);
        CHECK_NEAR(1.0, x[5 * 12 - 1] <= 1.0f && x[0] >= 0.0f, 0);
        CHECK_INT(9, y[3]);
        CHECK_INT(TBW_EINVAL, cnn_dataset_batch(ds, 3, 3, x, y));
        CHECK_INT(TBW_EINVAL, cnn_dataset_batch(ds, 0, 0, x, y));
        cnn_dataset_free(ds);
    }
}

/* shuffling: a permutation, reproducible per (seed, epoch), different across epochs */
TEST(shuffle_is_a_permutation_reproducible_per_seed_and_epoch)
{
    for (int gz = 0; gz < 2; gz++) {
        cnn_dataset *ds = load_written(gz);
        int32_t a[5], b[5], e[5];
        CHECK_INT(0, cnn_dataset_shuffle(ds, 9, 0));
        cnn_dataset_batch(ds, 0, 5, NULL, a);
        CHECK_INT(0, cnn_dataset_shuffle(ds, 9, 1));
        cnn_dataset_batch(ds, 0, 5, NULL, e);
        CHECK_INT(0, cnn_dataset_shuffle(ds, 9, 0));
        cnn_dataset_batch(ds, 0, 5, NULL, b);
        CHECK_TRUE(memcmp(a, b, sizeof a) == 0);
        int sum = 0;
        for (int i = 0; i < 5; i++)
            sum += a[i];
        CHECK_INT(16, sum);
        (void)e;
        cnn_dataset_free(ds);
    }
}

static void expect_fail(const char *what, int code, const char *needle)
{
    cnn_dataset *ds = NULL;
    cnn_dataset_create(&ds, NULL, 0);
    int rc = cnn_dataset_load_idx(ds, pth("img"), pth("lab"));
    CHECK_(rc == code, "%s: expected %d, got %d (%s)", what, code, rc, cnn_dataset_errmsg(ds));
    CHECK_STR_HAS(cnn_dataset_errmsg(ds), needle);
    CHECK_INT(0, cnn_dataset_count(ds));
    cnn_dataset_free(ds);
}

/* Each failure below is tried with plain files and with gzip ones (gz = 0, 1); the labels are good
 * unless the case says otherwise. */
static void write_labels(bool gz)
{
    write_idx(pth("lab"), gz, 0x08, 1, LDIMS, LAB, sizeof LAB);
}

TEST(a_payload_shorter_than_the_dims_fails_as_truncated)
{
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        write_idx(pth("img"), gz, 0x08, 3, IDIMS, IMG, sizeof IMG - 7);
        expect_fail("truncated data", TBW_ETRUNCATED, "truncated");
    }
}

TEST(a_header_cut_inside_the_dims_fails_as_truncated)
{
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        write_idx(pth("img"), gz, 0x08, 3, IDIMS, NULL, 0);
        FILE *f = fopen(pth("img"), "wb"); /* header cut inside the dims */
        fwrite("\0\0\x08\x03\0\0", 1, 6, f);
        fclose(f);
        expect_fail("truncated header", TBW_ETRUNCATED, "truncated");
    }
}

TEST(a_wrong_magic_fails_as_corrupt)
{
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        FILE *f = fopen(pth("img"), "wb");
        fwrite("\x12\x34\x08\x03\0\0\0\x05\0\0\0\x03\0\0\0\x04", 1, 16, f);
        fwrite(IMG, 1, sizeof IMG, f);
        fclose(f);
        expect_fail("wrong magic", TBW_ECORRUPT, "magic");
    }
}

TEST(an_element_type_other_than_bytes_fails_as_corrupt)
{
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        write_idx(pth("img"), gz, 0x0D, 3, IDIMS, IMG, sizeof IMG);
        expect_fail("float type", TBW_ECORRUPT, "type");
    }
}

TEST(images_of_a_rank_other_than_3_are_a_mismatch)
{
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        write_idx(pth("img"), gz, 0x08, 2, IDIMS, IMG, sizeof IMG);
        expect_fail("rank", TBW_EMISMATCH, "rank");
    }
}

TEST(dims_whose_product_overflows_fail_as_out_of_range)
{
    uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        write_idx(pth("img"), gz, 0x08, 3, huge, IMG, sizeof IMG);
        expect_fail("overflowing dims", TBW_ERANGE, "multiply");
    }
}

TEST(a_zero_dim_fails_as_corrupt)
{
    uint32_t zero[3] = {5, 0, 4};
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        write_idx(pth("img"), gz, 0x08, 3, zero, IMG, sizeof IMG);
        expect_fail("zero dim", TBW_ECORRUPT, "zero");
    }
}

TEST(fewer_labels_than_images_are_a_mismatch)
{
    uint32_t four[1] = {4};
    for (int gz = 0; gz < 2; gz++) {
        write_idx(pth("img"), gz, 0x08, 3, IDIMS, IMG, sizeof IMG);
        write_idx(pth("lab"), gz, 0x08, 1, four, LAB, 4);
        expect_fail("count mismatch", TBW_EMISMATCH, "labels");
    }
}

TEST(bytes_after_the_payload_fail_as_corrupt)
{
    uint8_t more[sizeof IMG + 3] = {0};
    for (int gz = 0; gz < 2; gz++) {
        write_idx(pth("img"), gz, 0x08, 3, IDIMS, more, sizeof more);
        write_labels(gz);
        expect_fail("trailing bytes", TBW_ECORRUPT, "trailing");
    }
}

TEST(a_missing_file_is_not_found_and_named)
{
    for (int gz = 0; gz < 2; gz++) {
        write_labels(gz);
        unlink(pth("img"));
        expect_fail("missing file", TBW_ENOTFOUND, "img");
    }
}

/* A model whose input does not match the dataset refuses to evaluate it. */
TEST(evaluating_a_dataset_refuses_a_model_of_other_input_dims_and_accepts_a_matching_one)
{
    write_idx(pth("img"), false, 0x08, 3, IDIMS, IMG, sizeof IMG);
    write_idx(pth("lab"), false, 0x08, 1, LDIMS, LAB, sizeof LAB);
    cnn_dataset *ds = NULL;
    cnn_dataset_create(&ds, NULL, 0);
    CHECK_INT(0, cnn_dataset_load_idx(ds, pth("img"), pth("lab")));
    cnn_model *m = NULL;
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    cnn_model_create(&m, 1, 4, 3, &mo, NULL, 0);
    cnn_model_add_dense(m, "fc", NULL);
    cnn_model_build(m, 2);
    double l, a;
    CHECK_INT(TBW_EMISMATCH, cnn_model_evaluate_dataset(m, ds, &l, &a));
    CHECK_STR_HAS(cnn_model_errmsg(m), "1x3x4");
    cnn_model_free(m);
    m = NULL;
    cnn_model_create(&m, 1, 3, 4, &mo, NULL, 0);
    cnn_model_add_dense(m, "fc", NULL);
    cnn_model_build(m, 2);
    CHECK_INT(0, cnn_model_evaluate_dataset(m, ds, &l, &a));
    CHECK_TRUE(l > 0 && a >= 0 && a <= 1);
    cnn_model_free(m);
    cnn_dataset_free(ds);
    unlink(pth("img"));
    unlink(pth("lab"));
}

static const check_case tests[] = {
    CASE(plain_idx_files_load_with_their_count_dims_pixels_and_labels),
    CASE(gzip_idx_files_load_with_their_count_dims_pixels_and_labels),
    CASE(batches_scale_pixels_to_the_unit_range_and_refuse_a_range_past_the_end_or_empty),
    CASE(shuffle_is_a_permutation_reproducible_per_seed_and_epoch),
    CASE(a_payload_shorter_than_the_dims_fails_as_truncated),
    CASE(a_header_cut_inside_the_dims_fails_as_truncated),
    CASE(a_wrong_magic_fails_as_corrupt),
    CASE(an_element_type_other_than_bytes_fails_as_corrupt),
    CASE(images_of_a_rank_other_than_3_are_a_mismatch),
    CASE(dims_whose_product_overflows_fail_as_out_of_range),
    CASE(a_zero_dim_fails_as_corrupt),
    CASE(fewer_labels_than_images_are_a_mismatch),
    CASE(bytes_after_the_payload_fail_as_corrupt),
    CASE(a_missing_file_is_not_found_and_named),
    CASE(evaluating_a_dataset_refuses_a_model_of_other_input_dims_and_accepts_a_matching_one),
};

int main(int argc, char **argv)
{
    if (!mkdtemp(dir)) {
        CHECK_TRUE(!"mkdtemp failed");
        return check_main(argc, argv, tests, CHECK_COUNT(tests));
    }
    for (size_t i = 0; i < sizeof IMG; i++)
        IMG[i] = (uint8_t)(i * 37 + 11);
    IMG[sizeof IMG - 1] = 255;
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    unlink(pth("img"));
    unlink(pth("lab"));
    rmdir(dir);
    return rc;
}
