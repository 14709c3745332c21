/* IDX reader on files the test writes itself (plain and gzip), the failure paths, and batching. */
#include <tbw/cnn.h>

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "nn_check.h"

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

static void test_good(bool gz)
{
    uint32_t idims[3] = {5, 3, 4}, ldims[1] = {5};
    write_idx(pth("img"), gz, 0x08, 3, idims, IMG, sizeof IMG);
    write_idx(pth("lab"), gz, 0x08, 1, ldims, LAB, sizeof LAB);
    cnn_dataset *ds = NULL;
    CHECK_INT(0, cnn_dataset_create(&ds, NULL, 0));
    CHECK_INT(0, cnn_dataset_load_idx(ds, pth("img"), pth("lab")));
    CHECK_INT(5, cnn_dataset_count(ds));
    int r, c;
    cnn_dataset_dims(ds, &r, &c);
    CHECK_INT(3, r);
    CHECK_INT(4, c);
    CHECK_TRUE(memcmp(cnn_dataset_images(ds), IMG, sizeof IMG) == 0);
    CHECK_TRUE(memcmp(cnn_dataset_labels(ds), LAB, sizeof LAB) == 0);
    float x[5 * 12];
    int32_t y[5];
    CHECK_INT(0, cnn_dataset_batch(ds, 0, 5, x, y));
    CHECK_NEAR(IMG[13] / 255.0, x[13], 1e-7);
    CHECK_NEAR(1.0, x[5 * 12 - 1] <= 1.0f && x[0] >= 0.0f, 0);
    CHECK_INT(9, y[3]);
    CHECK_INT(TBW_EINVAL, cnn_dataset_batch(ds, 3, 3, x, y));
    CHECK_INT(TBW_EINVAL, cnn_dataset_batch(ds, 0, 0, x, y));

    /* shuffling: a permutation, reproducible per (seed, epoch), different across epochs */
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

static void test_bad(bool gz)
{
    uint32_t idims[3] = {5, 3, 4}, ldims[1] = {5};
    write_idx(pth("lab"), gz, 0x08, 1, ldims, LAB, sizeof LAB);

    write_idx(pth("img"), gz, 0x08, 3, idims, IMG, sizeof IMG - 7);
    expect_fail("truncated data", TBW_ETRUNCATED, "truncated");

    write_idx(pth("img"), gz, 0x08, 3, idims, NULL, 0);
    FILE *f = fopen(pth("img"), "wb"); /* header cut inside the dims */
    fwrite("\0\0\x08\x03\0\0", 1, 6, f);
    fclose(f);
    expect_fail("truncated header", TBW_ETRUNCATED, "truncated");

    f = fopen(pth("img"), "wb");
    fwrite("\x12\x34\x08\x03\0\0\0\x05\0\0\0\x03\0\0\0\x04", 1, 16, f);
    fwrite(IMG, 1, sizeof IMG, f);
    fclose(f);
    expect_fail("wrong magic", TBW_ECORRUPT, "magic");

    write_idx(pth("img"), gz, 0x0D, 3, idims, IMG, sizeof IMG);
    expect_fail("float type", TBW_ECORRUPT, "type");

    write_idx(pth("img"), gz, 0x08, 2, idims, IMG, sizeof IMG);
    expect_fail("rank", TBW_EMISMATCH, "rank");

    uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    write_idx(pth("img"), gz, 0x08, 3, huge, IMG, sizeof IMG);
    expect_fail("overflowing dims", TBW_ERANGE, "multiply");

    uint32_t zero[3] = {5, 0, 4};
    write_idx(pth("img"), gz, 0x08, 3, zero, IMG, sizeof IMG);
    expect_fail("zero dim", TBW_ECORRUPT, "zero");

    write_idx(pth("img"), gz, 0x08, 3, idims, IMG, sizeof IMG);
    uint32_t four[1] = {4};
    write_idx(pth("lab"), gz, 0x08, 1, four, LAB, 4);
    expect_fail("count mismatch", TBW_EMISMATCH, "labels");

    uint8_t more[sizeof IMG + 3] = {0};
    write_idx(pth("img"), gz, 0x08, 3, idims, more, sizeof more);
    write_idx(pth("lab"), gz, 0x08, 1, ldims, LAB, sizeof LAB);
    expect_fail("trailing bytes", TBW_ECORRUPT, "trailing");

    unlink(pth("img"));
    expect_fail("missing file", TBW_ENOTFOUND, "img");
}

/* A model whose input does not match the dataset refuses to evaluate it. */
static void test_shape_mismatch(void)
{
    uint32_t idims[3] = {5, 3, 4}, ldims[1] = {5};
    write_idx(pth("img"), false, 0x08, 3, idims, IMG, sizeof IMG);
    write_idx(pth("lab"), false, 0x08, 1, ldims, LAB, sizeof LAB);
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

int main(void)
{
    if (!mkdtemp(dir)) {
        CHECK_TRUE(!"mkdtemp failed");
        return check_report();
    }
    for (size_t i = 0; i < sizeof IMG; i++)
        IMG[i] = (uint8_t)(i * 37 + 11);
    IMG[sizeof IMG - 1] = 255;
    test_good(false);
    test_good(true);
    test_bad(false);
    test_bad(true);
    test_shape_mismatch();
    unlink(pth("img"));
    unlink(pth("lab"));
    rmdir(dir);
    return check_report();
}
