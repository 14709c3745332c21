/* Hostile input to the writer and the summaries: extreme numbers, sizes past every limit, tags reused
   across plugins, event fields outside Event's oneof, a deleted event file. */
#include "hostile.h"

#include <float.h>

#define HERE (__func__ + 5) /* the case's name: TEST(x) defines test_x */

/* Every edge finite and ascending, counts summing to n. */
static void check_buckets(const double *rows, int k, double n)
{
    double sum = 0;
    for (int b = 0; b < k; b++) {
        CHECK(isfinite(rows[b * 3]) && isfinite(rows[b * 3 + 1]));
        CHECK(rows[b * 3] <= rows[b * 3 + 1]);
        if (b)
            CHECK(rows[(b - 1) * 3 + 1] <= rows[b * 3 + 1]);
        sum += rows[b * 3 + 2];
    }
    CHECK_DBL(n, sum);
}

TEST(histogram_f64_range_wider_than_dbl_max_gives_finite_edges)
{
    const double x[] = {-1e308, 1e308};
    double rows[30 * 3];
    size_t bad = 9;
    CHECK_INT(0, tbw_histogram_buckets_f64(x, 2, 30, rows, &bad));
    CHECK_INT(0, bad);
    check_buckets(rows, 30, 2);
    CHECK_DBL(-1e308, rows[0]);
    CHECK_DBL(1e308, rows[29 * 3 + 1]);
    CHECK_DBL(1, rows[2]);
    CHECK_DBL(1, rows[29 * 3 + 2]);
    const double y[] = {-DBL_MAX, DBL_MAX, 0};
    CHECK_INT(0, tbw_histogram_buckets_f64(y, 3, 30, rows, NULL));
    check_buckets(rows, 30, 3);
    CHECK_DBL(1, rows[14 * 3 + 2] + rows[15 * 3 + 2]); /* 0 is at the middle edge, within rounding */

    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    CHECK_RC(0, tbw_histogram_f64(w, "wide", 0, x, 2, 0, NULL), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_step(&e, "histograms", "wide", 0);
    expect_write(&e);
}

TEST(histogram_f64_subnormal_bucket_width_gives_finite_edges)
{
    const double x[] = {0, 1e-307, 5e-308};
    double rows[30 * 3];
    CHECK_INT(0, tbw_histogram_buckets_f64(x, 3, 30, rows, NULL));
    check_buckets(rows, 30, 3);
    CHECK_DBL(1, rows[2]);
    CHECK_DBL(1, rows[15 * 3 + 2]);
    CHECK_DBL(1, rows[29 * 3 + 2]);
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    CHECK_RC(0, tbw_histogram_f64(w, "narrow", 3, x, 3, 0, NULL), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_step(&e, "histograms", "narrow", 3);
    expect_write(&e);
}

TEST(histogram_f64_range_of_one_subnormal_is_refused_with_erange)
{
    const double x[] = {0, 5e-324};
    double rows[30 * 3];
    CHECK_INT(TBW_ERANGE, tbw_histogram_buckets_f64(x, 2, 30, rows, NULL));
    CHECK_INT(0, tbw_histogram_buckets_f64(x, 2, 1, rows, NULL)); /* one bucket is wide enough */
    check_buckets(rows, 1, 2);
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    CHECK_RC(TBW_ERANGE, tbw_histogram_f64(w, "tiny", 0, x, 2, 0, NULL), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "too narrow to split into 30 buckets");
    CHECK_RC(0, tbw_writer_close(w), "close");
    expect_nothing(HERE);
}

TEST(histogram_f64_every_mix_of_extreme_values_is_finite_or_erange)
{
    const double v[] = {0,         -0.0,     5e-324,  -5e-324, DBL_MIN, -DBL_MIN, 1e-307, 1,
                        -1,        1e300,    -1e300,  DBL_MAX, -DBL_MAX, NAN,     INFINITY, -INFINITY};
    const int nv = (int)(sizeof v / sizeof v[0]);
    double rows[64 * 3];
    int ok = 0, erange = 0;
    for (int a = 0; a < nv; a++)
        for (int b = 0; b < nv; b++)
            for (int c = 0; c < nv; c++) {
                const double x[3] = {v[a], v[b], v[c]};
                for (int k = 1; k <= 64; k += 21) {
                    size_t bad = 0;
                    int rc = tbw_histogram_buckets_f64(x, 3, k, rows, &bad);
                    if (rc == TBW_ERANGE) {
                        erange++;
                        continue;
                    }
                    CHECK_INT(0, rc);
                    ok++;
                    if (bad < 3)
                        check_buckets(rows, k, (double)(3 - bad));
                }
            }
    CHECK(ok > 10000);
    CHECK(erange > 0);
}

TEST(histogram_f32_extreme_values_give_finite_edges)
{
    const float v[] = {-FLT_MAX, FLT_MAX, 1e-45f, -1e-45f, FLT_MIN, 0, NAN, INFINITY};
    double rows[30 * 3];
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++) {
            const float x[2] = {v[a], v[b]};
            size_t bad = 0;
            CHECK_INT(0, tbw_histogram_buckets_f32(x, 2, 30, rows, &bad));
            if (bad < 2)
                check_buckets(rows, 30, (double)(2 - bad));
        }
}

/* Logs steps 0..4 of two tags, flushes, deletes the file, logs 5..9 (buffered), then flushes: the
   writer must move to a new file in which TensorBoard shows both tags at 5..9. */
static void deleted_file_keeps_buffered_points(const char *name, bool background)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = background;
    o.max_queue = 1000;
    tbw_writer *w = hostile_writer(name, &o, NULL);
    const float h[4] = {1, 2, 3, 4};
    for (int i = 0; i < 5; i++) {
        CHECK_RC(0, tbw_scalar(w, "loss", i, i * 0.5), tbw_writer_errmsg(w));
        CHECK_RC(0, tbw_histogram(w, "weights", i, h, 4, 0, NULL), tbw_writer_errmsg(w));
    }
    CHECK_RC(0, tbw_writer_flush(w), tbw_writer_errmsg(w));
    char old[1024];
    snprintf(old, sizeof old, "%s", tbw_writer_path(w));
    CHECK_INT(0, unlink(old));
    hostile_expect e;
    expect_init(&e, name);
    for (int i = 5; i < 10; i++) {
        CHECK_RC(0, tbw_scalar(w, "loss", i, i * 0.5), tbw_writer_errmsg(w));
        CHECK_RC(0, tbw_histogram(w, "weights", i, h, 4, 0, NULL), tbw_writer_errmsg(w));
        expect_scalar(&e, "loss", i, i * 0.5);
        expect_step(&e, "histograms", "weights", i);
    }
    CHECK_RC(TBW_EGONE, tbw_writer_flush(w), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "removed while open");
    CHECK(strcmp(tbw_writer_path(w), old) != 0);
    CHECK_RC(0, tbw_scalar(w, "loss", 10, 5.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "loss", 10, 5.0);
    char now[1024];
    snprintf(now, sizeof now, "%s", tbw_writer_path(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    /* The new file carries each tag's metadata on the tag's first event there, and only there. */
    tbw_reader *r;
    char msg[256];
    CHECK_RC(0, tbw_reader_open(&r, now, msg, sizeof msg), msg);
    int with_meta[2] = {0, 0}, first_step[2] = {-1, -1};
    const tbw_event *ev;
    while (r && tbw_reader_next(r, &ev) == 1) {
        for (size_t i = 0; i < ev->n_values; i++) {
            int t = strcmp(ev->values[i].tag, "loss") == 0 ? 0 : 1;
            if (first_step[t] < 0) {
                first_step[t] = (int)ev->step;
                CHECK_STR(t ? "histograms" : "scalars", ev->values[i].plugin_name);
            }
            with_meta[t] += ev->values[i].plugin_name[0] != '\0';
        }
    }
    tbw_reader_close(r);
    CHECK_INT(5, first_step[0]);
    CHECK_INT(5, first_step[1]);
    CHECK_INT(1, with_meta[0]);
    CHECK_INT(1, with_meta[1]);
    expect_write(&e);
}

TEST(deleted_event_file_keeps_buffered_points_visible_in_foreground_mode)
{
    deleted_file_keeps_buffered_points(HERE, false);
}

TEST(deleted_event_file_keeps_buffered_points_visible_in_background_mode)
{
    deleted_file_keeps_buffered_points(HERE, true);
}

TEST(text_over_2_gib_is_refused_at_the_call_and_the_writer_goes_on)
{
    size_t n = ((size_t)1 << 31) + ((size_t)200 << 20); /* 2.2 GiB */
    char *big = malloc(n + 1);
    CHECK(big != NULL);
    if (!big)
        return;
    memset(big, 'a', n);
    big[n] = '\0';
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    CHECK_RC(TBW_ERANGE, tbw_text(w, "huge", 0, big), tbw_writer_errmsg(w));
    free(big);
    CHECK_STR_HAS(tbw_writer_errmsg(w), "at most 2147483647");
    CHECK_RC(0, tbw_text(w, "small", 1, "fine"), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_step(&e, "text", "small", 1);
    expect_write(&e);
}

TEST(raw_value_past_the_record_limit_is_refused_before_reading_it)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    const uint8_t one = 0x10; /* only its first byte exists: the call must not read further */
    CHECK_RC(TBW_ERANGE, tbw_writer_write_value(w, "raw", 0, &one, (size_t)3 << 30, NULL, 0), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "'raw'");
    CHECK_RC(TBW_ERANGE, tbw_writer_write_value(w, "raw", 0, &one, SIZE_MAX, NULL, 0), tbw_writer_errmsg(w));
    CHECK_RC(TBW_ERANGE, tbw_writer_write_value(w, "raw", 0, &one, 1, &one, SIZE_MAX - 8), tbw_writer_errmsg(w));
    CHECK_RC(TBW_ERANGE, tbw_writer_write_event_field(w, 0, 4, &one, (size_t)1 << 31), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    expect_nothing(HERE);
}

TEST(event_fields_outside_events_oneof_are_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    const uint8_t b[2] = {0x08, 0x01};
    const int bad[] = {-1, 0, 1, 2, 11, 12, 15, 16, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(TBW_EINVAL, tbw_writer_write_event_field(w, 0, bad[i], b, 2), tbw_writer_errmsg(w));
        CHECK_STR_HAS(tbw_writer_errmsg(w), "not one of Event's 3..10");
    }
    CHECK_RC(TBW_EINVAL, tbw_writer_write_event_field(w, 0, 7, NULL, 2), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_scalar(w, "after", 1, 2.5), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "after", 1, 2.5);
    expect_write(&e);
}

TEST(tag_used_for_a_scalar_cannot_then_hold_a_histogram_or_text)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    const float h[3] = {1, 2, 3};
    CHECK_RC(0, tbw_scalar(w, "x", 0, 1.0), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_histogram(w, "x", 1, h, 3, 0, NULL), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "tag 'x' already holds scalars data");
    CHECK_STR_HAS(tbw_writer_errmsg(w), "histograms");
    CHECK_RC(TBW_EINVAL, tbw_text(w, "x", 2, "t"), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "text");
    CHECK_RC(0, tbw_scalar(w, "x", 3, 2.0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_histogram(w, "y", 3, h, 3, 0, NULL), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_scalar(w, "y", 4, 1.0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "x", 0, 1.0);
    expect_scalar(&e, "x", 3, 2.0);
    expect_step(&e, "histograms", "y", 3);
    expect_write(&e);
}

TEST(tag_reuse_across_plugins_is_refused_after_a_file_rotation_too)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_file_bytes = 1024;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    for (int i = 0; i < 60; i++) {
        CHECK_RC(0, tbw_scalar(w, "loss", i, i), tbw_writer_errmsg(w));
        expect_scalar(&e, "loss", i, i);
    }
    CHECK_RC(TBW_EINVAL, tbw_text(w, "loss", 60, "t"), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "already holds scalars data");
    CHECK_RC(0, tbw_writer_close(w), "close");
    CHECK(hostile_event_files(hostile_run(HERE)) >= 2);
    expect_write(&e);
}

TEST(metadata_that_changes_within_one_plugin_is_accepted)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    /* SummaryMetadata{plugin_data{plugin_name:"scalars"}} and the same with content "1". */
    const uint8_t m1[] = {0x0A, 0x09, 0x0A, 0x07, 's', 'c', 'a', 'l', 'a', 'r', 's'};
    const uint8_t m2[] = {0x0A, 0x0C, 0x0A, 0x07, 's', 'c', 'a', 'l', 'a', 'r', 's', 0x12, 0x01, '1'};
    const uint8_t v[] = {0x15, 0x00, 0x00, 0x80, 0x3F}; /* simple_value 1.0 */
    CHECK_RC(0, tbw_writer_write_value(w, "m", 0, v, sizeof v, m1, sizeof m1), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_write_value(w, "m", 1, v, sizeof v, m2, sizeof m2), tbw_writer_errmsg(w));
    /* garbage metadata names no plugin: the tag's plugin stays and the call is refused */
    const uint8_t junk[] = {0xFF, 0xFF};
    CHECK_RC(TBW_EINVAL, tbw_writer_write_value(w, "m", 2, v, sizeof v, junk, sizeof junk), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "m", 0, 1.0);
    expect_scalar(&e, "m", 1, 1.0);
    expect_write(&e);
}

TEST(image_of_100000_by_100000_px_is_refused_before_allocating)
{
    static uint8_t px[16];
    tbw_image_batch b = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 100000, 100000, 1};
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    CHECK_RC(TBW_ERANGE, tbw_images(w, "big", 0, &b, 1), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "100000x100000 px is over the 32768 px per side");
    uint8_t *g = NULL;
    size_t gh, gw, gc;
    CHECK_INT(TBW_ERANGE, tbw_image_grid(&b, 0, 0, 0, false, &g, &gh, &gw, &gc));
    CHECK(g == NULL);
    /* under the side limit but over a record: 30000 x 30000 x 4 bytes */
    tbw_image_batch b2 = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 30000, 30000, 4};
    CHECK_RC(TBW_ERANGE, tbw_images(w, "big", 0, &b2, 1), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "over the 2147483647 bytes an event record holds");
    /* a grid of small tiles that would be too wide */
    tbw_image_batch tiles = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 100000, 1, 1, 1};
    CHECK_INT(TBW_ERANGE, tbw_image_grid(&tiles, 100000, 0, 0, false, &g, &gh, &gw, &gc));
    tbw_image_batch none = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 4, 4, 2};
    CHECK_RC(TBW_EINVAL, tbw_images(w, "two", 0, &none, 1), tbw_writer_errmsg(w));
    CHECK_STR_HAS(tbw_writer_errmsg(w), "channels must be 1, 3 or 4 (got 2)");
    tbw_image_batch ok = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 4, 4, 1};
    CHECK_RC(0, tbw_images(w, "small", 2, &ok, 1), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_step(&e, "images", "small", 2);
    expect_write(&e);
}

static const check_case tests[] = {
    CASE(image_of_100000_by_100000_px_is_refused_before_allocating),
    CASE(histogram_f64_range_wider_than_dbl_max_gives_finite_edges),
    CASE(histogram_f64_subnormal_bucket_width_gives_finite_edges),
    CASE(histogram_f64_range_of_one_subnormal_is_refused_with_erange),
    CASE(histogram_f64_every_mix_of_extreme_values_is_finite_or_erange),
    CASE(histogram_f32_extreme_values_give_finite_edges),
    CASE(deleted_event_file_keeps_buffered_points_visible_in_foreground_mode),
    CASE(deleted_event_file_keeps_buffered_points_visible_in_background_mode),
    CASE(text_over_2_gib_is_refused_at_the_call_and_the_writer_goes_on),
    CASE(raw_value_past_the_record_limit_is_refused_before_reading_it),
    CASE(event_fields_outside_events_oneof_are_refused),
    CASE(tag_used_for_a_scalar_cannot_then_hold_a_histogram_or_text),
    CASE(tag_reuse_across_plugins_is_refused_after_a_file_rotation_too),
    CASE(metadata_that_changes_within_one_plugin_is_accepted),
};
HOSTILE_MAIN(tests)
