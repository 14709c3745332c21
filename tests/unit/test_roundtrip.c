/* Every summary kind through our own reader, value for value. (TensorBoard
   itself checks the same files in tests/integration.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

static char *g_dir;

static tbw_writer *open_run(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    tbw_writer *w = NULL;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, path, NULL, msg, sizeof msg), msg);
    return w;
}

/* Reads all summary values of a run's single event file, calling fn on each. */
typedef void (*value_fn)(const tbw_event *ev, const tbw_value *v, void *ctx);

static int read_run(const char *name, value_fn fn, void *ctx)
{
    char dir[600], path[1200];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    CHECK_INT(1, tu_event_files(dir, path, sizeof path));
    tbw_reader *r;
    char msg[256];
    int rc = tbw_reader_open(&r, path, msg, sizeof msg);
    CHECK_RC(0, rc, msg);
    if (rc)
        return 0;
    const tbw_event *ev;
    int n = 0, first = 1;
    while ((rc = tbw_reader_next(r, &ev)) == 1) {
        if (first) {
            CHECK_INT(TBW_EVENT_FILE_VERSION, ev->kind);
            CHECK_STR("brain.Event:2", ev->file_version);
            first = 0;
        }
        if (ev->kind != TBW_EVENT_SUMMARY)
            continue;
        for (size_t i = 0; i < ev->n_values; i++) {
            fn(ev, &ev->values[i], ctx);
            n++;
        }
    }
    CHECK_RC(0, rc, tbw_reader_errmsg(r));
    tbw_reader_close(r);
    return n;
}

/* ---- scalars ---- */
static const double scalar_vals[] = {0.0, -1.5, 3.14159, 1e30, NAN, INFINITY, -INFINITY, 1.0 / 3.0};
#define NSCALAR (sizeof scalar_vals / sizeof scalar_vals[0])

static void on_scalar(const tbw_event *ev, const tbw_value *v, void *ctx)
{
    int *seen = ctx;
    size_t i = (size_t)ev->step / 10;
    CHECK_STR("loss", v->tag);
    CHECK_INT(TBW_VALUE_TENSOR, v->kind);
    CHECK_INT(TBW_DT_FLOAT, v->dtype);
    CHECK_INT(0, v->rank);
    CHECK(v->has_scalar);
    if (i < NSCALAR)
        CHECK_DBL((float)scalar_vals[i], v->scalar);
    /* Metadata only on the tag's first value in the file. */
    CHECK_STR(i == 0 ? "scalars" : "", v->plugin_name);
    (*seen)++;
}

TEST(scalars_read_back_as_float_tensors_with_metadata_on_the_first_value_only)
{
    tbw_writer *w = open_run("scalars");
    for (size_t i = 0; i < NSCALAR; i++)
        CHECK_RC(0, tbw_scalar(w, "loss", (int64_t)i * 10, scalar_vals[i]), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    int seen = 0;
    read_run("scalars", on_scalar, &seen);
    CHECK_INT(NSCALAR, seen);
}

/* ---- histograms ---- */
TEST(histogram_buckets_split_empty_constant_and_spread_input_and_count_non_finite_values_apart)
{
    double rows[30 * 3];
    size_t bad = 99;
    /* Empty input: k zero rows. */
    CHECK_INT(0, tbw_histogram_buckets_f32(NULL, 0, 30, rows, &bad));
    CHECK_INT(0, bad);
    int zeros = 1;
    for (int i = 0; i < 90; i++)
        zeros &= rows[i] == 0;
    CHECK(zeros);
    /* All equal: edges all equal the value, last bucket holds the count. */
    float same[5] = {2.5f, 2.5f, 2.5f, 2.5f, 2.5f};
    CHECK_INT(0, tbw_histogram_buckets_f32(same, 5, 30, rows, &bad));
    CHECK_DBL(2.5, rows[0]);
    CHECK_DBL(2.5, rows[29 * 3 + 1]);
    CHECK_DBL(5, rows[29 * 3 + 2]);
    CHECK_DBL(0, rows[0 * 3 + 2]);
    /* 0..99 in 10 buckets: 10 each; NaN/Inf counted apart. */
    float x[104];
    for (int i = 0; i < 100; i++)
        x[i] = (float)i;
    x[100] = NAN;
    x[101] = INFINITY;
    x[102] = -INFINITY;
    x[103] = 50.0f;
    double r10[30];
    CHECK_INT(0, tbw_histogram_buckets_f32(x, 104, 10, r10, &bad));
    CHECK_INT(3, bad);
    double total = 0;
    for (int b = 0; b < 10; b++)
        total += r10[b * 3 + 2];
    CHECK_DBL(101, total);
    CHECK_DBL(0, r10[0]);
    CHECK_DBL(99, r10[9 * 3 + 1]);
    CHECK_DBL(9.9, r10[1 * 3]);
    CHECK_DBL(10, r10[0 * 3 + 2]);
    CHECK_DBL(11, r10[5 * 3 + 2]); /* 50 twice */
    /* Bad arguments. */
    CHECK_INT(TBW_EINVAL, tbw_histogram_buckets_f32(x, 4, 0, rows, NULL));
    CHECK_INT(TBW_EINVAL, tbw_histogram_buckets_f32(NULL, 4, 30, rows, NULL));
}

/* The float path (vectorized: float64 or, where safe, float32 quotients, a byte-index kernel up to
   255 buckets) buckets exactly as the plain double path does the same values: many shapes of data,
   lengths off the vector width, bucket counts on both sides of the kernels' limits, and each
   instruction set this CPU has (through the TBW_NO_AVX512 and TBW_NO_AVX2 switches). */
TEST(float_histograms_bucket_bit_for_bit_like_the_double_path_for_every_kernel)
{
    enum { N = 10007, SHAPES = 10 };
    static float xf[N];
    static double xd[N];
    static double rf[1000 * 3], rd[1000 * 3];
    static const int ks[] = {1, 2, 7, 30, 64, 65, 200, 255, 256, 1000};
    static const size_t lens[] = {0, 1, 3, 7, 8, 9, 4095, 4096, 4097, 8200, N};
    /* every kernel the CPU has, then AVX2 at most, then SSE2 only */
    static const char *const off[][2] = {{NULL, NULL}, {"TBW_NO_AVX512", NULL}, {"TBW_NO_AVX512", "TBW_NO_AVX2"}};
    long mismatches = 0, cases = 0;
    for (size_t isa = 0; isa < sizeof off / sizeof *off; isa++) {
        unsetenv("TBW_NO_AVX512");
        unsetenv("TBW_NO_AVX2");
        for (int j = 0; j < 2; j++)
            if (off[isa][j])
                setenv(off[isa][j], "1", 1);
        unsigned s = 12345;
        for (int shape = 0; shape < SHAPES; shape++) {
            for (size_t i = 0; i < N; i++) {
                s = s * 1664525u + 1013904223u;
                float u = (float)(s >> 8) / 16777216.0f; /* [0, 1) */
                float v = 0;
                switch (shape) {
                case 0: v = u * 4.0f - 2.0f; break;                        /* uniform */
                case 1: v = u * 4.0f - 2.0f; v = v > 0 ? v : 0.0f; break; /* ReLU output: half zeros */
                case 2: v = (float)((s >> 8) % 61); break;                 /* integers: many on bucket edges */
                case 3: v = 1.0f + u * 1e-5f; break;                       /* a narrow range */
                case 4: v = (i % 97 == 0) ? NAN : (i % 89 == 0) ? INFINITY : u * 1e6f - 3e5f; break;
                case 5: v = (u - 0.5f) * (u - 0.5f) * (u - 0.5f) * 1e3f; break; /* heavy tails */
                case 6: v = u * 1e-39f; break;                             /* subnormals: too narrow for float32 */
                case 7: v = (u - 0.5f) * 3.2e38f * 2.0f; break;            /* the range overflows float32 */
                case 8: v = (u - 0.5f) * 3.2e38f; break;                   /* 1/width subnormal in float32 */
                default: v = (float)((s >> 8) % 2001) * (1.0f / 3.0f); break; /* edges float32 rounds across */
                }
                xf[i] = v;
                xd[i] = (double)v;
            }
            for (size_t a = 0; a < sizeof ks / sizeof *ks; a++)
                for (size_t b = 0; b < sizeof lens / sizeof *lens; b++) {
                    size_t bf = 0, bd = 0;
                    int k = ks[a];
                    CHECK_INT(0, tbw_histogram_buckets_f32(xf, lens[b], k, rf, &bf));
                    CHECK_INT(0, tbw_histogram_buckets_f64(xd, lens[b], k, rd, &bd));
                    cases++;
                    if (bf != bd || memcmp(rf, rd, (size_t)k * 3 * sizeof(double)) != 0)
                        mismatches++;
                }
        }
    }
    unsetenv("TBW_NO_AVX512");
    unsetenv("TBW_NO_AVX2");
    CHECK_INT(3 * SHAPES * 10 * 11, cases);
    CHECK_INT(0, mismatches);
}

static void on_histo(const tbw_event *ev, const tbw_value *v, void *ctx)
{
    int *seen = ctx;
    CHECK_STR("w/hist", v->tag);
    CHECK_INT(TBW_DT_DOUBLE, v->dtype);
    CHECK_INT(2, v->rank);
    CHECK_INT(30, v->dims[0]);
    CHECK_INT(3, v->dims[1]);
    CHECK_INT(90 * 8, v->data_len);
    double rows[90];
    memcpy(rows, v->data, sizeof rows);
    double total = 0;
    for (int b = 0; b < 30; b++)
        total += rows[b * 3 + 2];
    CHECK_DBL(1000, total);
    CHECK_DBL(-1.0 * (double)ev->step, rows[0]);
    (*seen)++;
}

TEST(histograms_read_back_as_30_by_3_double_tensors_and_a_negative_bucket_count_is_refused)
{
    tbw_writer *w = open_run("histograms");
    float x[1001];
    for (int s = 1; s <= 3; s++) {
        for (int i = 0; i < 1000; i++)
            x[i] = (float)s * (-1.0f + 2.0f * (float)i / 999.0f);
        x[1000] = NAN;
        size_t bad = 0;
        CHECK_RC(0, tbw_histogram(w, "w/hist", s, x, 1001, 0, &bad), tbw_writer_errmsg(w));
        CHECK_INT(1, bad);
    }
    CHECK_RC(TBW_EINVAL, tbw_histogram(w, "w/hist", 4, x, 10, -3, NULL), tbw_writer_errmsg(w));
    CHECK(strstr(tbw_writer_errmsg(w), "bucket count") != NULL);
    CHECK_RC(0, tbw_writer_close(w), "close");
    int seen = 0;
    read_run("histograms", on_histo, &seen);
    CHECK_INT(3, seen);
}

/* ---- images ---- */
/* Decodes an 8-bit PNG back to pixels: IDAT chunks, inflate, the five row filters. */
static int png_pixels(const uint8_t *png, size_t len, size_t h, size_t w, size_t c, uint8_t *out)
{
    if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0)
        return 0;
    size_t pos = 8, zcap = 0, zlen = 0;
    uint8_t *z = NULL;
    while (pos + 12 <= len) {
        uint32_t n = (uint32_t)png[pos] << 24 | (uint32_t)png[pos + 1] << 16 | (uint32_t)png[pos + 2] << 8 | png[pos + 3];
        if (memcmp(png + pos + 4, "IHDR", 4) == 0) {
            uint32_t pw = (uint32_t)png[pos + 8] << 24 | (uint32_t)png[pos + 9] << 16 | (uint32_t)png[pos + 10] << 8 | png[pos + 11];
            if (pw != w) {
                free(z);
                return 0;
            }
        }
        if (memcmp(png + pos + 4, "IDAT", 4) == 0) {
            if (zlen + n > zcap) {
                zcap = (zlen + n) * 2;
                z = realloc(z, zcap);
            }
            memcpy(z + zlen, png + pos + 8, n);
            zlen += n;
        }
        pos += 12 + n;
    }
    size_t stride = w * c, rawlen = h * (stride + 1);
    uint8_t *raw = malloc(rawlen);
    uLongf got = rawlen;
    int ok = uncompress(raw, &got, z, zlen) == Z_OK && got == rawlen;
    for (size_t y = 0; ok && y < h; y++) {
        uint8_t f = raw[y * (stride + 1)];
        const uint8_t *row = raw + y * (stride + 1) + 1;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= c ? out[y * stride + i - c] : 0;               /* left */
            int b = y > 0 ? out[(y - 1) * stride + i] : 0;              /* up */
            int cc = (i >= c && y > 0) ? out[(y - 1) * stride + i - c] : 0; /* up-left */
            int pred;
            switch (f) {
            case 0: pred = 0; break;
            case 1: pred = a; break;
            case 2: pred = b; break;
            case 3: pred = (a + b) / 2; break;
            case 4: {
                int p = a + b - cc, pa = abs(p - a), pb = abs(p - b), pc = abs(p - cc);
                pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : cc);
                break;
            }
            default: ok = 0; pred = 0; break;
            }
            out[y * stride + i] = (uint8_t)(row[i] + pred);
        }
    }
    free(raw);
    free(z);
    return ok;
}

static uint8_t g_img[4][6][5][3]; /* n, h, w, c */

static void on_image(const tbw_event *ev, const tbw_value *v, void *ctx)
{
    int *seen = ctx;
    CHECK_STR("input", v->tag);
    CHECK_INT(TBW_DT_STRING, v->dtype);
    CHECK_INT(1, v->rank);
    CHECK_INT(5, v->dims[0]); /* width, height, 3 images (max_outputs) */
    CHECK_INT(5, v->n_strings);
    if (v->n_strings == 5) {
        CHECK_INT(1, v->string_lens[0]);
        CHECK(memcmp(v->strings[0], "5", 1) == 0); /* width first */
        CHECK(memcmp(v->strings[1], "6", 1) == 0);
        for (int i = 0; i < 3; i++) {
            uint8_t px[6 * 5 * 3];
            CHECK(png_pixels(v->strings[2 + i], v->string_lens[2 + i], 6, 5, 3, px));
            CHECK_MEM(g_img[i], px, sizeof px);
        }
    }
    (*seen)++;
    (void)ev;
}

/* The same pixels as u8 HWC in g_img, and as float CHW in chw. */
static void make_pixels(float chw[4][3][6][5])
{
    for (int n = 0; n < 4; n++)
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 5; x++)
                for (int c = 0; c < 3; c++) {
                    uint8_t v = (uint8_t)(n * 60 + y * 17 + x * 9 + c * 80);
                    g_img[n][y][x][c] = v;
                    chw[n][c][y][x] = (float)v / 255.0f;
                }
}

TEST(images_given_as_u8_hwc_or_float_chw_read_back_as_the_same_png_pixels)
{
    float chw[4][3][6][5];
    make_pixels(chw);
    tbw_writer *w = open_run("images");
    tbw_image_batch b = {g_img, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 4, 6, 5, 3};
    CHECK_RC(0, tbw_images(w, "input", 1, &b, 3), tbw_writer_errmsg(w));
    tbw_image_batch bf = {chw, TBW_PIXEL_F32, TBW_LAYOUT_CHW, 4, 6, 5, 3};
    CHECK_RC(0, tbw_images(w, "input", 2, &bf, 3), tbw_writer_errmsg(w));
    tbw_image_batch bad = b;
    bad.channels = 2;
    CHECK_RC(TBW_EINVAL, tbw_images(w, "input", 3, &bad, 3), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    int seen = 0;
    read_run("images", on_image, &seen);
    CHECK_INT(2, seen);
}

TEST(image_grid_places_padded_tiles_and_normalizes_each_tile_onto_0_255)
{
    float chw[4][3][6][5];
    make_pixels(chw);
    tbw_image_batch b = {g_img, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 4, 6, 5, 3};
    /* Grid: 4 tiles, 2 per row, pad 1. */
    uint8_t *g;
    size_t gh, gw, gc;
    CHECK_INT(0, tbw_image_grid(&b, 2, 1, 0, false, &g, &gh, &gw, &gc));
    CHECK_INT(2 * 7 + 1, gh);
    CHECK_INT(2 * 6 + 1, gw);
    CHECK_INT(3, gc);
    /* Tile 3 (row 1, col 1) pixel (2, 4), channel 2. */
    CHECK_INT(g_img[3][2][4][2], g[((1 + 7 + 2) * gw + 1 + 6 + 4) * 3 + 2]);
    CHECK_INT(0, g[0]);
    tbw_free(g);
    /* Normalized grid maps each tile's min..max onto 0..255. */
    float filt[2][1][2][2] = {{{{-1, 1}, {0, 0.5f}}}, {{{7, 7}, {7, 7}}}};
    tbw_image_batch fb = {filt, TBW_PIXEL_F32, TBW_LAYOUT_CHW, 2, 2, 2, 1};
    CHECK_INT(0, tbw_image_grid(&fb, 0, 0, 0, true, &g, &gh, &gw, &gc));
    CHECK_INT(2, gh);
    CHECK_INT(4, gw);
    CHECK_INT(0, g[0]);
    CHECK_INT(255, g[1]);
    CHECK_INT(128, g[2]); /* constant tile: mid-gray */
    tbw_free(g);
}

/* ---- audio ---- */
static void on_audio(const tbw_event *ev, const tbw_value *v, void *ctx)
{
    int *seen = ctx;
    CHECK_STR("tone", v->tag);
    CHECK_INT(TBW_DT_STRING, v->dtype);
    CHECK_INT(2, v->rank);
    CHECK_INT(2, v->dims[0]);
    CHECK_INT(2, v->dims[1]);
    CHECK_INT(4, v->n_strings);
    if (v->n_strings == 4) {
        const uint8_t *wav = v->strings[0];
        CHECK_INT(44 + 2 * 100, v->string_lens[0]);
        CHECK(memcmp(wav, "RIFF", 4) == 0 && memcmp(wav + 8, "WAVE", 4) == 0);
        CHECK_INT(8000, wav[24] | wav[25] << 8 | wav[26] << 16);
        int16_t s10 = (int16_t)(wav[44 + 20] | wav[45 + 20] << 8);
        CHECK_INT(lrintf(sinf(10 * 0.1f) * 32767.0f), s10);
        CHECK_INT(5, v->string_lens[1]);
        CHECK(memcmp(v->strings[1], "first", 5) == 0);
        CHECK_INT(0, v->string_lens[3]);
        /* A clamped second clip: all full scale. */
        const uint8_t *w2 = v->strings[2];
        CHECK_INT(32767, (int16_t)(w2[44] | w2[45] << 8));
    }
    (*seen)++;
    (void)ev;
}

TEST(audio_clips_read_back_as_wav_with_their_labels_and_clamped_samples_and_a_zero_rate_is_refused)
{
    float a[100], b[100];
    for (int i = 0; i < 100; i++) {
        a[i] = sinf((float)i * 0.1f);
        b[i] = 2.0f;
    }
    tbw_audio_clip clips[2] = {{a, 100, 1, "first"}, {b, 100, 1, NULL}};
    tbw_writer *w = open_run("audio");
    CHECK_RC(0, tbw_audio(w, "tone", 0, clips, 2, 8000), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_audio(w, "tone", 1, clips, 2, 0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    int seen = 0;
    read_run("audio", on_audio, &seen);
    CHECK_INT(1, seen);
}

/* ---- text ---- */
static void on_text(const tbw_event *ev, const tbw_value *v, void *ctx)
{
    int *seen = ctx;
    CHECK_INT(TBW_DT_STRING, v->dtype);
    if (strcmp(v->tag, "notes") == 0) {
        CHECK_INT(0, v->rank);
        CHECK_INT(1, v->n_strings);
        const char *exp = "# Title\n**bold** — ünïcödé";
        CHECK_INT(strlen(exp), v->string_lens[0]);
        CHECK(memcmp(v->strings[0], exp, strlen(exp)) == 0);
        CHECK_STR("text", v->plugin_name);
    } else {
        CHECK_STR("table", v->tag);
        CHECK_INT(2, v->rank);
        CHECK_INT(2, v->dims[0]);
        CHECK_INT(3, v->dims[1]);
        CHECK_INT(6, v->n_strings);
        CHECK(v->string_lens[5] == 2 && memcmp(v->strings[5], "f6", 2) == 0);
    }
    (*seen)++;
    (void)ev;
}

TEST(text_and_tables_read_back_and_bad_utf8_or_empty_tags_are_refused)
{
    tbw_writer *w = open_run("text");
    CHECK_RC(0, tbw_text(w, "notes", 0, "# Title\n**bold** — ünïcödé"), tbw_writer_errmsg(w));
    const char *cells[6] = {"a1", "b2", "c3", "d4", "e5", "f6"};
    CHECK_RC(0, tbw_text_table(w, "table", 0, cells, 2, 3), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_text(w, "notes", 1, "bad \xff utf8"), tbw_writer_errmsg(w));
    CHECK(strstr(tbw_writer_errmsg(w), "UTF-8") != NULL);
    CHECK_RC(TBW_EINVAL, tbw_scalar(w, "", 1, 1.0), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_scalar(w, "bad\xc0\x80tag", 1, 1.0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    int seen = 0;
    read_run("text", on_text, &seen);
    CHECK_INT(2, seen);
}

/* ---- resume and rotation ---- */
static void resume_and_rotation(bool background)
{
    char path[600];
    snprintf(path, sizeof path, "%s/resume%d", g_dir, (int)background);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = background;
    tbw_writer *w;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, path, &o, msg, sizeof msg), msg);
    char first[1024];
    snprintf(first, sizeof first, "%s", tbw_writer_path(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    o.resume_step = 500;
    o.max_file_bytes = 4096;
    CHECK_RC(0, tbw_writer_open(&w, path, &o, msg, sizeof msg), msg);
    CHECK(strcmp(tbw_writer_path(w), first) > 0);
    for (int i = 0; i < 400; i++)
        CHECK_RC(0, tbw_scalar(w, "x", 500 + i, i), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    /* The resumed file starts with two START events at 500; rotation made more
       files, each sorting after the one before and each self-describing. */
    int files = tu_event_files(path, NULL, 0);
    CHECK(files >= 5);
    char second[1200];
    /* Find the files in name order and count points and metadata. */
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    int points = 0, metas = 0, starts = 0;
    int64_t last_step = -1;
    for (int i = 0; i < n; i++) {
        if (strstr(list[i]->d_name, "tfevents")) {
            snprintf(second, sizeof second, "%s/%s", path, list[i]->d_name);
            tbw_reader *r;
            if (tbw_reader_open(&r, second, msg, sizeof msg) == 0) {
                const tbw_event *ev;
                int rc;
                size_t size = 0;
                while ((rc = tbw_reader_next(r, &ev)) == 1) {
                    if (ev->kind == TBW_EVENT_SESSION_LOG && ev->session_status == 1 && ev->step == 500)
                        starts++;
                    if (ev->kind == TBW_EVENT_SUMMARY) {
                        points++;
                        metas += ev->values[0].plugin_name[0] != 0;
                        CHECK(ev->step > last_step);
                        last_step = ev->step;
                    }
                }
                CHECK_RC(0, rc, tbw_reader_errmsg(r));
                size = tbw_reader_offset(r);
                CHECK(size <= 4096);
                tbw_reader_close(r);
            }
        }
        free(list[i]);
    }
    free(list);
    CHECK_INT(2, starts);
    CHECK_INT(400, points);
    CHECK_INT(files - 1, metas); /* every file but the first (empty) one opens the tag again */
}

/* Two writers opened on one directory in the same second get different files,
   and the later one's name sorts after the earlier one's. */
TEST(two_writers_opened_on_one_directory_at_once_get_distinct_files_in_open_order)
{
    char dir[600], msg[256];
    snprintf(dir, sizeof dir, "%s/two", g_dir);
    tbw_writer *a, *b;
    CHECK_RC(0, tbw_writer_open(&a, dir, NULL, msg, sizeof msg), msg);
    CHECK_RC(0, tbw_writer_open(&b, dir, NULL, msg, sizeof msg), msg);
    CHECK(strcmp(tbw_writer_path(a), tbw_writer_path(b)) < 0);
    CHECK_RC(0, tbw_scalar(a, "a", 1, 1.0), tbw_writer_errmsg(a));
    CHECK_RC(0, tbw_scalar(b, "b", 1, 2.0), tbw_writer_errmsg(b));
    CHECK_RC(0, tbw_writer_close(a), "close a");
    CHECK_RC(0, tbw_writer_close(b), "close b");
    CHECK_INT(2, tu_event_files(dir, NULL, 0));
}

TEST(resumed_writer_logs_the_restart_and_rotates_into_ordered_self_describing_files_in_foreground_mode)
{
    resume_and_rotation(false);
}

TEST(resumed_writer_logs_the_restart_and_rotates_into_ordered_self_describing_files_in_background_mode)
{
    resume_and_rotation(true);
}

/* ---- the repeated tag's short path ---- */

static double fixed_clock(void *ctx)
{
    (void)ctx;
    return 1700000000.25;
}

/* The records of one event file as (offset, size) pairs; returns how many. */
static size_t split_records(const unsigned char *b, size_t n, size_t *off, size_t *len, size_t cap)
{
    size_t k = 0;
    for (size_t p = 0; p + 12 <= n && k < cap; k++) {
        uint64_t l = 0;
        for (int i = 7; i >= 0; i--)
            l = l << 8 | b[p + (size_t)i];
        off[k] = p;
        len[k] = 16 + (size_t)l;
        p += len[k];
    }
    return k;
}

/* A value of vl bytes: one Value.obsolete_old_style_histogram field, which no reader looks into,
   filled with fill. Returns its length: vl, or 0 for a length no such field can take (1, 129, 130,
   16386 and a few more). */
static size_t opaque_value(uint8_t *value, size_t vl, uint8_t fill)
{
    if (vl < 2)
        return 0;
    size_t body = vl - 2;
    if (body >= 128)
        body = vl - 3;
    if (body >= 16384)
        body = vl - 4;
    uint8_t *p = value;
    *p++ = 0x1A;
    for (uint64_t x = body;; x >>= 7) {
        *p++ = (uint8_t)(x < 0x80 ? x : (x & 0x7f) | 0x80);
        if (x < 0x80)
            break;
    }
    memset(p, fill, body);
    return (size_t)(p - value) + body == vl ? vl : 0;
}

/* The one event file under path, read whole into *b (the caller frees it), split into records
   (offset, size) in off and len; returns how many, and the file's name in file. */
static size_t one_file_records(const char *path, char *file, size_t fcap, unsigned char **b, size_t *off,
                               size_t *len, size_t cap)
{
    CHECK_INT(1, tu_event_files(path, file, fcap));
    size_t n = 0;
    *b = tu_read_file(file, &n);
    CHECK(*b != NULL);
    return *b ? split_records(*b, n, off, len, cap) : 0;
}

TEST(a_tag_logged_again_frames_the_same_bytes_as_its_first_event_for_any_tag_value_and_step_length)
{
    /* The second of two identical calls reuses the first's framing of the tag; both records must
       be the same bytes. Tags of 1, 64 (the longest the writer keeps of its last call, which
       skips the hash) and 65 bytes; values whose length varints take 1 to 3 bytes, including none
       at all; steps of 0 to 10 varint bytes. */
    static const size_t tlens[] = {1, 63, 64, 65};
    static const size_t vlens[] = {0, 1, 4, 100, 115, 116, 200, 16370, 20000};
    static const int64_t steps[] = {0, 1, 127, 128, 1 << 21, INT64_MAX, -1};
    enum { NT = 4, NV = 9, NS = 7, NREC = 1 + 2 * NT * NV * NS + 8 };
    uint8_t *value = malloc(20000);
    CHECK(value != NULL);
    if (!value)
        return;
    char path[600];
    snprintf(path, sizeof path, "%s/shortpath", g_dir);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = fixed_clock;
    o.max_queue = 1000;
    tbw_writer *w = NULL;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, path, &o, msg, sizeof msg), msg);
    if (!w) {
        free(value);
        return;
    }
    /* the same tag and length twice, then the same tag with the next length: every change of
       length and every tag goes through the full path once, then the short one */
    char tag[70];
    for (size_t t = 0; t < NT; t++) {
        memset(tag, 'a' + (int)t, tlens[t]);
        tag[tlens[t]] = 0;
        for (size_t v = 0; v < NV; v++)
            for (size_t s = 0; s < NS; s++)
                for (int twice = 0; twice < 2; twice++) {
                    /* a value's own fields: one bytes field over the whole length, or none in
                       place of a 1-byte value, which would not parse */
                    size_t len = opaque_value(value, vlens[v], (uint8_t)(s * 7 + v));
                    CHECK_INT(vlens[v] == 1 ? 0 : (long)vlens[v], (long)len);
                    CHECK_RC(0, tbw_writer_write_value(w, tag, steps[s], value, len, NULL, 0), tbw_writer_errmsg(w));
                }
    }
    CHECK_RC(0, tbw_writer_close(w), "close");
    char file[1200];
    unsigned char *b;
    static size_t off[NREC], len[NREC];
    size_t k = one_file_records(path, file, sizeof file, &b, off, len, NREC);
    CHECK_INT(1 + 2 * NT * NV * NS, (long)k);
    size_t differ = 0;
    for (size_t i = 1; i + 1 < k; i += 2)
        differ += len[i] != len[i + 1] || memcmp(b + off[i], b + off[i + 1], len[i]) != 0;
    CHECK_INT(0, (long)differ);
    /* and each record reads back: our reader checks both CRCs and the value's tag */
    tbw_reader *r;
    CHECK_RC(0, tbw_reader_open(&r, file, msg, sizeof msg), msg);
    const tbw_event *ev;
    long values = 0;
    int rc;
    while ((rc = tbw_reader_next(r, &ev)) == 1)
        if (ev->kind == TBW_EVENT_SUMMARY)
            values += (long)ev->n_values;
    CHECK_RC(0, rc, tbw_reader_errmsg(r));
    CHECK_INT(2 * NT * NV * NS, values);
    tbw_reader_close(r);
    free(b);
    free(value);
}

TEST(tags_logged_in_turn_each_keep_their_own_framing_and_carry_their_metadata_into_every_file)
{
    /* Six tags logged in turn, with value lengths that change from round to round: every event
       of a tag must frame that tag's bytes, not the last call's, even for two tags of one length
       with values of one length. Each round is logged twice, so the second pass repeats the
       first pass's records byte for byte. */
    static const size_t tlens[] = {1, 12, 12, 64, 65, 200};
    static const size_t vlens[] = {0, 4, 100, 200, 20000};
    static const int64_t steps[] = {0, 127, 128, INT64_MAX, -1};
    enum { NT = 6, NR = 5, NREC = 1 + 2 * NT * NR + 8 };
    char tags[NT][201];
    for (size_t t = 0; t < NT; t++) {
        memset(tags[t], 'k' + (int)t, tlens[t]);
        tags[t][tlens[t]] = 0;
        tags[t][0] = (char)('A' + t); /* tags of one length differ too */
    }
    uint8_t *value = malloc(20000);
    CHECK(value != NULL);
    if (!value)
        return;
    char path[600], msg[256];
    snprintf(path, sizeof path, "%s/inturn", g_dir);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = fixed_clock;
    o.max_queue = 1000;
    tbw_writer *w = NULL;
    CHECK_RC(0, tbw_writer_open(&w, path, &o, msg, sizeof msg), msg);
    if (!w) {
        free(value);
        return;
    }
    for (size_t r = 0; r < NR; r++)
        for (int twice = 0; twice < 2; twice++)
            for (size_t t = 0; t < NT; t++) {
                /* tags 1 and 2, of one length, also share the value length */
                size_t vl = vlens[(r + t - (t == 2)) % NR];
                size_t len = opaque_value(value, vl, (uint8_t)(r * 16 + t));
                CHECK_INT((long)vl, (long)len);
                CHECK_RC(0, tbw_writer_write_value(w, tags[t], steps[(r + 2 * t) % NR], value, len, NULL, 0),
                         tbw_writer_errmsg(w));
            }
    CHECK_RC(0, tbw_writer_close(w), "close");
    char file[1200];
    unsigned char *b;
    static size_t off[NREC], len[NREC];
    size_t k = one_file_records(path, file, sizeof file, &b, off, len, NREC);
    CHECK_INT(1 + 2 * NT * NR, (long)k);
    size_t differ = 0;
    for (size_t i = 1; i + NT < k; i += 2 * NT)
        for (size_t t = 0; t < NT; t++)
            differ += len[i + t] != len[i + t + NT] || memcmp(b + off[i + t], b + off[i + t + NT], len[i + t]) != 0;
    CHECK_INT(0, (long)differ);
    tbw_reader *rd;
    CHECK_RC(0, tbw_reader_open(&rd, file, msg, sizeof msg), msg);
    const tbw_event *ev;
    long seen = 0, wrong = 0;
    int rc;
    while ((rc = tbw_reader_next(rd, &ev)) == 1)
        if (ev->kind == TBW_EVENT_SUMMARY) {
            size_t t = (size_t)(seen % NT), r = (size_t)(seen / (2 * NT));
            wrong += ev->n_values != 1 || strcmp(ev->values[0].tag, tags[t]) != 0 ||
                     ev->step != steps[(r + 2 * t) % NR];
            seen++;
        }
    CHECK_RC(0, rc, tbw_reader_errmsg(rd));
    CHECK_INT(2 * NT * NR, seen);
    CHECK_INT(0, wrong);
    tbw_reader_close(rd);
    free(b);
    free(value);

    /* Scalars of three tags in turn across many small files: in every file, the first point of each
       tag carries its metadata and no later one does, and every point reads back. */
    snprintf(path, sizeof path, "%s/inturn_rot", g_dir);
    o = (tbw_writer_opts)TBW_WRITER_OPTS_INIT;
    o.max_file_bytes = 2048;
    CHECK_RC(0, tbw_writer_open(&w, path, &o, msg, sizeof msg), msg);
    if (!w)
        return;
    static const char *const stags[] = {"train/loss", "train/accuracy", "a_tag_longer_than_the_sixty_four_bytes_a_writer_keeps_of_its_last_call"};
    enum { NP = 600 };
    for (int i = 0; i < NP; i++)
        CHECK_RC(0, tbw_scalar(w, stags[i % 3], i / 3, i * 0.5), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    struct dirent **list;
    int nf = scandir(path, &list, NULL, alphasort);
    int files = 0, points = 0, bad_meta = 0, bad_value = 0;
    for (int i = 0; i < nf; i++) {
        if (strstr(list[i]->d_name, "tfevents")) {
            char f[1200];
            snprintf(f, sizeof f, "%s/%s", path, list[i]->d_name);
            files++;
            bool opened[3] = {false, false, false};
            CHECK_RC(0, tbw_reader_open(&rd, f, msg, sizeof msg), msg);
            while ((rc = tbw_reader_next(rd, &ev)) == 1) {
                if (ev->kind != TBW_EVENT_SUMMARY)
                    continue;
                int t = -1;
                for (int j = 0; j < 3; j++)
                    if (strcmp(ev->values[0].tag, stags[j]) == 0)
                        t = j;
                if (t < 0) {
                    bad_value++;
                    continue;
                }
                int idx = (int)ev->step * 3 + t;
                bad_value += !ev->values[0].has_scalar || ev->values[0].scalar != idx * 0.5;
                bad_meta += (strcmp(ev->values[0].plugin_name, "scalars") == 0) == opened[t];
                opened[t] = true;
                points++;
            }
            CHECK_RC(0, rc, tbw_reader_errmsg(rd));
            tbw_reader_close(rd);
        }
        free(list[i]);
    }
    free(list);
    CHECK(files >= 5);
    CHECK_INT(NP, points);
    CHECK_INT(0, bad_meta);
    CHECK_INT(0, bad_value);
}

static const check_case tests[] = {
    CASE(a_tag_logged_again_frames_the_same_bytes_as_its_first_event_for_any_tag_value_and_step_length),
    CASE(tags_logged_in_turn_each_keep_their_own_framing_and_carry_their_metadata_into_every_file),
    CASE(two_writers_opened_on_one_directory_at_once_get_distinct_files_in_open_order),
    CASE(scalars_read_back_as_float_tensors_with_metadata_on_the_first_value_only),
    CASE(histogram_buckets_split_empty_constant_and_spread_input_and_count_non_finite_values_apart),
    CASE(float_histograms_bucket_bit_for_bit_like_the_double_path_for_every_kernel),
    CASE(histograms_read_back_as_30_by_3_double_tensors_and_a_negative_bucket_count_is_refused),
    CASE(images_given_as_u8_hwc_or_float_chw_read_back_as_the_same_png_pixels),
    CASE(image_grid_places_padded_tiles_and_normalizes_each_tile_onto_0_255),
    CASE(audio_clips_read_back_as_wav_with_their_labels_and_clamped_samples_and_a_zero_rate_is_refused),
    CASE(text_and_tables_read_back_and_bad_utf8_or_empty_tags_are_refused),
    CASE(resumed_writer_logs_the_restart_and_rotates_into_ordered_self_describing_files_in_foreground_mode),
    CASE(resumed_writer_logs_the_restart_and_rotates_into_ordered_self_describing_files_in_background_mode),
};

int main(int argc, char **argv)
{
    g_dir = tu_tempdir("roundtrip");
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    tu_rmtree(g_dir);
    free(g_dir);
    return rc;
}
