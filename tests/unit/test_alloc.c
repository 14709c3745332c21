/*
 * Allocation failure: every allocation the library makes goes through the
 * wrapped malloc family below. For each operation, fail the Nth allocation for
 * N = 1, 2, ... until the operation succeeds: each failure must come back as a
 * status (never a crash), and nothing may leak (checked by the sanitizer
 * build; here the live-allocation count is compared).
 */
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t s);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long g_countdown = -1; /* fail when it reaches 0; -1 = never */
static long g_calls;

static int should_fail(void)
{
    g_calls++;
    if (g_countdown < 0)
        return 0;
    return g_countdown-- == 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t s)
{
    return should_fail() ? NULL : __real_calloc(n, s);
}
void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : __real_strndup(s, n);
}

static char *g_dir;
static int g_run;
static bool g_discard; /* attempt() opens discarding writers */

typedef int (*op_fn)(tbw_writer *w);

static int op_scalar(tbw_writer *w)
{
    return tbw_scalar(w, "s", 1, 2.0);
}
static int op_histogram(tbw_writer *w)
{
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = (float)i;
    return tbw_histogram(w, "h", 1, x, 1000, 100, NULL);
}
static int op_image(tbw_writer *w)
{
    uint8_t px[3 * 16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)i;
    tbw_image_batch b = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 3, 16, 16, 3};
    return tbw_images(w, "i", 1, &b, 3);
}
static int op_audio(tbw_writer *w)
{
    float s[256];
    for (int i = 0; i < 256; i++)
        s[i] = (float)i / 256.0f;
    tbw_audio_clip c = {s, 256, 1, "label"};
    return tbw_audio(w, "a", 1, &c, 1, 8000);
}
static int op_text(tbw_writer *w)
{
    const char *cells[4] = {"a", "b", "c", "d"};
    int rc = tbw_text(w, "t", 1, "hello");
    return rc ? rc : tbw_text_table(w, "tt", 1, cells, 2, 2);
}
static int op_flush(tbw_writer *w)
{
    int rc = tbw_scalar(w, "f", 1, 1.0);
    return rc ? rc : tbw_writer_flush(w);
}

static int op_graph(tbw_writer *w)
{
    tbw_graph *g;
    int rc = tbw_graph_create(&g, NULL, 0);
    if (rc)
        return rc;
    size_t a;
    const char *in[] = {"a:0", "^a"};
    int64_t dims[4] = {-1, 28, 28, 1};
    int ranks[1] = {4};
    const char *strs[2] = {"x", "y"};
    if (!(rc = tbw_graph_add_node(g, "a", "Const", NULL, 0, NULL, &a)) &&
        !(rc = tbw_graph_add_node(g, "scope/b", "Add", in, 2, "/cpu:0", NULL)) &&
        !(rc = tbw_graph_attr_shape_list(g, a, "_output_shapes", dims, ranks, 1)) &&
        !(rc = tbw_graph_attr_string(g, a, "padding", "SAME")) &&
        !(rc = tbw_graph_attr_int_list(g, a, "strides", dims, 4)) &&
        !(rc = tbw_graph_attr_string_list(g, a, "names", strs, 2)) && !(rc = tbw_graph_attr_type(g, a, "T", 1)))
        rc = tbw_graph_write(w, g, 0);
    tbw_graph_free(g);
    return rc;
}
static int op_hparams(tbw_writer *w)
{
    double lrs[2] = {0.1, 0.01};
    tbw_hparam_info hp[2] = {{.name = "lr", .type = TBW_HPARAM_FLOAT, .n_values = 2, .numbers = lrs},
                             {.name = "b", .type = TBW_HPARAM_BOOL}};
    tbw_metric_info m[1] = {{.tag = "acc"}};
    tbw_hparam_value v[2] = {{.name = "lr", .type = TBW_HPARAM_FLOAT, .number = 0.1},
                             {.name = "b", .type = TBW_HPARAM_BOOL, .boolean = true}};
    int rc = tbw_hparams_experiment(w, hp, 2, m, 1, "d", 1.0);
    if (!rc)
        rc = tbw_hparams_session_start(w, v, 2, "g", 1.0);
    return rc ? rc : tbw_hparams_session_end(w, TBW_SESSION_SUCCESS, 2.0);
}
static int op_pr_layout(tbw_writer *w)
{
    bool labels[4] = {true, false, true, false};
    float pred[4] = {0.9f, 0.8f, 0.2f, 0.1f};
    int rc = tbw_pr_curve(w, "pr", 0, labels, pred, NULL, 4, 0);
    const char *re[] = {"loss/.*"};
    tbw_margin_series ser = {"a", "b", "c"};
    tbw_layout_chart ch[2] = {{.title = "l", .tag_regexes = re, .n_regexes = 1}, {.title = "m", .series = &ser,
                                                                                   .n_series = 1}};
    tbw_layout_category cat = {.title = "t", .charts = ch, .n_charts = 2};
    return rc ? rc : tbw_custom_scalars_layout(w, &cat, 1);
}

/* Each case starts counting afresh: the runner itself allocates before it forks the case. */
static void reset_counters(void)
{
    g_countdown = -1;
    g_calls = 0;
    g_run = 0;
}

/* Opens a writer in its own run g_dir/<slug>-r<k>, runs op, closes; with the Nth allocation failing. */
static int attempt(const char *slug, op_fn op, long n, int *failed_open)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/%s-r%d", g_dir, slug, g_run++);
    tbw_writer *w = NULL;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_queue = 1;
    o.discard = g_discard;
    g_countdown = n;
    int rc = tbw_writer_open(&w, run, &o, msg, sizeof msg);
    *failed_open = rc != 0;
    if (rc == 0) {
        rc = op(w);
        int crc = tbw_writer_close(w);
        if (!rc)
            rc = crc;
    } else {
        CHECK(w == NULL);
        CHECK(msg[0] != '\0');
    }
    g_countdown = -1;
    return rc;
}

static void sweep(const char *name, const char *slug, op_fn op)
{
    int failed_open;
    long n;
    int statuses_ok = 1;
    for (n = 0; n < 10000; n++) {
        int rc = attempt(slug, op, n, &failed_open);
        if (rc == 0)
            break;
        if (rc != TBW_ENOMEM)
            statuses_ok = 0;
    }
    CHECK_(statuses_ok, "%s: a failed allocation came back as something other than TBW_ENOMEM", name);
    CHECK_(n < 10000, "%s never succeeded", name);
    printf("%s: succeeded once %ld allocations were allowed\n", name, n);
}

/* The reader under the same treatment, on the file the last run of slug wrote. */
static void reader_sweep(const char *slug)
{
    char run[600], path[1200], msg[256];
    snprintf(run, sizeof run, "%s/%s-r%d", g_dir, slug, g_run - 1);
    if (tu_event_files(run, path, sizeof path) < 1) {
        CHECK(0);
        return;
    }
    long n;
    for (n = 0; n < 10000; n++) {
        g_countdown = n;
        tbw_reader *r = NULL;
        int rc = tbw_reader_open(&r, path, msg, sizeof msg);
        int events = 0;
        if (rc == 0) {
            const tbw_event *ev;
            while ((rc = tbw_reader_next(r, &ev)) == 1)
                events++;
            tbw_reader_close(r);
        }
        g_countdown = -1;
        if (rc == 0 && events >= 2)
            break;
        CHECK_INT(TBW_ENOMEM, rc);
    }
    CHECK(n < 10000);
}

/* An operation under failing allocations, then the reader on the file it wrote. */
static void sweep_then_read(const char *name, const char *slug, op_fn op)
{
    reset_counters();
    sweep(name, slug, op);
    reader_sweep(slug);
}

TEST(a_discarding_writer_reports_every_failed_allocation_as_enomem_and_creates_nothing)
{
    reset_counters();
    g_discard = true;
    sweep("discard scalar", "discard-scalar", op_scalar);
    sweep("discard histogram", "discard-histogram", op_histogram);
    sweep("discard hparams", "discard-hparams", op_hparams);
    g_discard = false;
    char run[600];
    snprintf(run, sizeof run, "%s/discard-scalar-r0", g_dir);
    CHECK(access(run, F_OK) != 0);
}

TEST(writing_and_reading_a_scalar_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("scalar", "scalar", op_scalar);
}

TEST(writing_and_reading_a_histogram_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("histogram", "histogram", op_histogram);
}

TEST(writing_and_reading_images_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("images", "images", op_image);
}

TEST(writing_and_reading_audio_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("audio", "audio", op_audio);
}

TEST(writing_and_reading_text_and_a_text_table_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("text", "text", op_text);
}

TEST(flushing_a_scalar_and_reading_it_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("flush", "flush", op_flush);
}

TEST(writing_and_reading_a_graph_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("graph", "graph", op_graph);
}

TEST(writing_and_reading_hparams_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("hparams", "hparams", op_hparams);
}

TEST(writing_and_reading_a_pr_curve_and_a_layout_report_every_failed_allocation_as_enomem)
{
    sweep_then_read("pr curve and layout", "pr-layout", op_pr_layout);
}

TEST(adding_a_projector_embedding_reports_every_failed_allocation_as_enomem)
{
    reset_counters();
    float x[6] = {1, 2, 3, 4, 5, 6};
    const char *labels[3] = {"a", "b", "c"};
    uint8_t th[3 * 4] = {0};
    tbw_embedding e = {.tensor_name = "t", .data = x, .n = 3, .d = 2, .n_columns = 1, .n_label_rows = 3,
                       .labels = labels, .thumbnails = th, .n_thumbnails = 3, .thumb_h = 2, .thumb_w = 2,
                       .thumb_c = 1};
    char dir[600], msg[256];
    long n;
    int ok = 1;
    for (n = 0; n < 10000; n++) {
        snprintf(dir, sizeof dir, "%s/p%ld", g_dir, n);
        g_countdown = n;
        int rc = tbw_projector_add(dir, &e, msg, sizeof msg);
        g_countdown = -1;
        if (rc == 0)
            break;
        if (rc != TBW_ENOMEM)
            ok = 0;
    }
    CHECK_(ok, "projector: a failed allocation came back as something other than TBW_ENOMEM");
    CHECK(n < 10000);
    printf("projector: succeeded once %ld allocations were allowed\n", n);
}

static const check_case tests[] = {
    CASE(a_discarding_writer_reports_every_failed_allocation_as_enomem_and_creates_nothing),
    CASE(writing_and_reading_a_scalar_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_a_histogram_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_images_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_audio_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_text_and_a_text_table_report_every_failed_allocation_as_enomem),
    CASE(flushing_a_scalar_and_reading_it_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_a_graph_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_hparams_report_every_failed_allocation_as_enomem),
    CASE(writing_and_reading_a_pr_curve_and_a_layout_report_every_failed_allocation_as_enomem),
    CASE(adding_a_projector_embedding_reports_every_failed_allocation_as_enomem),
};

int main(int argc, char **argv)
{
    g_dir = tu_tempdir("alloc");
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    tu_rmtree(g_dir);
    free(g_dir);
    return rc;
}
