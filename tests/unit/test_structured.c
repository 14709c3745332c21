/* Graph builder, hparams, projector, PR curves and layout: known values and
   every refusal, with nothing half-written. (TensorBoard itself checks the
   same kinds in tests/integration/test_structured.py.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

static char *g_dir;

TEST(graph_builder_refuses_bad_nodes_inputs_and_attrs_and_a_fixed_graph_reads_back_as_one_event)
{
    tbw_graph *g;
    char why[256] = "stale";
    CHECK_INT(TBW_EINVAL, tbw_graph_create(NULL, why, sizeof why));
    CHECK(strstr(why, "out is NULL") != NULL);
    CHECK_INT(0, tbw_graph_create(&g, why, sizeof why));
    CHECK(why[0] == '\0');
    size_t a;
    CHECK_RC(0, tbw_graph_add_node(g, "a", "Const", NULL, 0, NULL, &a), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "a", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK(strstr(tbw_graph_errmsg(g), "duplicate node name 'a'") != NULL);
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    const char *in[] = {"a:1", "^missing"};
    CHECK_RC(0, tbw_graph_add_node(g, "b", "Add", in, 2, NULL, NULL), tbw_graph_errmsg(g));
    uint8_t *bytes;
    size_t len;
    CHECK_RC(TBW_EINVAL, tbw_graph_serialize(g, &bytes, &len), tbw_graph_errmsg(g));
    CHECK(strstr(tbw_graph_errmsg(g), "input '^missing' names no node") != NULL);
    CHECK_RC(0, tbw_graph_add_node(g, "missing", "NoOp", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_serialize(g, &bytes, &len), tbw_graph_errmsg(g));
    CHECK(len > 10);
    tbw_free(bytes);
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_int(g, 99, "x", 1), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_type(g, a, "T", 0), tbw_graph_errmsg(g));
    int64_t dims[2] = {2, -7};
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape(g, a, "shape", dims, 2), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_attr_int(g, a, "x", 1), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_attr_int(g, a, "x", 2), tbw_graph_errmsg(g)); /* replaces */
    CHECK_INT(3, tbw_graph_node_count(g));

    /* The graph event round-trips through the reader. */
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/graph", g_dir);
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, NULL, msg, sizeof msg), msg);
    CHECK_RC(0, tbw_graph_write(w, g, 0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    char path[1200];
    tu_event_files(run, path, sizeof path);
    tbw_reader *r;
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    const tbw_event *ev;
    int graphs = 0;
    while (tbw_reader_next(r, &ev) == 1)
        if (ev->kind == TBW_EVENT_GRAPH) {
            graphs++;
            CHECK(ev->graph_def_len > 10);
        }
    tbw_reader_close(r);
    CHECK_INT(1, graphs);
    tbw_graph_free(g);
}

TEST(hparams_refuse_bad_types_intervals_duplicates_and_values_and_write_nothing)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/hp", g_dir);
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, NULL, msg, sizeof msg), msg);
    tbw_hparam_info bad = {.name = "x", .type = (tbw_hparam_type)7};
    CHECK_RC(TBW_EINVAL, tbw_hparams_experiment(w, &bad, 1, NULL, 0, NULL, 0), tbw_writer_errmsg(w));
    CHECK(strstr(tbw_writer_errmsg(w), "unsupported type 7") != NULL);
    tbw_hparam_info interval_str = {.name = "x", .type = TBW_HPARAM_STRING, .has_interval = true};
    CHECK_RC(TBW_EINVAL, tbw_hparams_experiment(w, &interval_str, 1, NULL, 0, NULL, 0), tbw_writer_errmsg(w));
    tbw_hparam_info twice[2] = {{.name = "x", .type = TBW_HPARAM_BOOL}, {.name = "x", .type = TBW_HPARAM_BOOL}};
    CHECK_RC(TBW_EINVAL, tbw_hparams_experiment(w, twice, 2, NULL, 0, NULL, 0), tbw_writer_errmsg(w));
    tbw_hparam_value v = {.name = "lr", .type = TBW_HPARAM_FLOAT, .number = NAN};
    CHECK_RC(TBW_EINVAL, tbw_hparams_session_start(w, &v, 1, NULL, 0), tbw_writer_errmsg(w));
    v.type = (tbw_hparam_type)0;
    CHECK_RC(TBW_EINVAL, tbw_hparams_session_start(w, &v, 1, NULL, 0), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_hparams_session_end(w, (tbw_session_status)9, 0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    /* Nothing but the file header was written. */
    char path[1200];
    tu_event_files(run, path, sizeof path);
    size_t len = 0;
    free(tu_read_file(path, &len));
    CHECK_INT(40, len);
}

static double fixed_clock(void *ctx)
{
    return *(const double *)ctx;
}

/* field tag (wire type 1: 64 bits) and the double t, as protobuf writes them */
static bool has_double_field(const unsigned char *b, size_t n, unsigned char tag, double t)
{
    unsigned char pat[9] = {tag};
    memcpy(pat + 1, &t, 8); /* little-endian on every platform tbw builds for */
    return memmem(b, n, pat, sizeof pat) != NULL;
}

TEST(hparams_times_left_at_zero_come_from_the_writers_clock)
{
    char run[600], msg[256], path[1200];
    snprintf(run, sizeof run, "%s/hp_clock", g_dir);
    double t0 = 1234.5;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = fixed_clock;
    o.clock_ctx = &t0;
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, &o, msg, sizeof msg), msg);
    tbw_hparam_info lr = {.name = "lr", .type = TBW_HPARAM_FLOAT};
    CHECK_RC(0, tbw_hparams_experiment(w, &lr, 1, NULL, 0, NULL, 0), tbw_writer_errmsg(w));
    tbw_hparam_value v = {.name = "lr", .type = TBW_HPARAM_FLOAT, .number = 1e-3};
    CHECK_RC(0, tbw_hparams_session_start(w, &v, 1, NULL, 0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_hparams_session_end(w, TBW_SESSION_SUCCESS, 0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    CHECK_INT(1, tu_event_files(run, path, sizeof path));
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK(has_double_field(b, n, 0x19, t0)); /* Experiment.time_created_secs (3) */
    CHECK(has_double_field(b, n, 0x29, t0)); /* SessionStartInfo.start_time_secs (5) */
    CHECK(has_double_field(b, n, 0x11, t0)); /* SessionEndInfo.end_time_secs (2) */
    free(b);
}

TEST(custom_scalars_layout_refuses_a_bad_tag_regex_and_an_empty_chart)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/layout", g_dir);
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, NULL, msg, sizeof msg), msg);
    const char *bad[] = {"loss/(unclosed"};
    tbw_layout_chart ch = {.title = "c", .tag_regexes = bad, .n_regexes = 1};
    tbw_layout_category cat = {.title = "t", .charts = &ch, .n_charts = 1};
    CHECK_RC(TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), tbw_writer_errmsg(w));
    CHECK(strstr(tbw_writer_errmsg(w), "invalid tag regex 'loss/(unclosed'") != NULL);
    tbw_layout_chart empty = {.title = "c"};
    cat.charts = &empty;
    CHECK_RC(TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
}

TEST(pr_curve_reads_back_the_known_counts_precision_and_recall_and_refuses_bad_input)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/pr", g_dir);
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, NULL, msg, sizeof msg), msg);
    /* 3 thresholds (0, 0.5, 1): buckets by floor(p * 2). */
    bool labels[4] = {true, false, true, false};
    float pred[4] = {0.9f, 0.8f, 0.2f, 0.1f};
    CHECK_RC(0, tbw_pr_curve(w, "c", 1, labels, pred, NULL, 4, 3), tbw_writer_errmsg(w));
    float badp[1] = {1.5f};
    CHECK_RC(TBW_EINVAL, tbw_pr_curve(w, "c", 2, labels, badp, NULL, 1, 3), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EINVAL, tbw_pr_curve(w, "c", 2, labels, pred, NULL, 4, 1), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    char path[1200];
    tu_event_files(run, path, sizeof path);
    tbw_reader *r;
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    const tbw_event *ev;
    int seen = 0;
    while (tbw_reader_next(r, &ev) == 1) {
        if (ev->kind != TBW_EVENT_SUMMARY)
            continue;
        const tbw_value *v = &ev->values[0];
        CHECK_STR("c/pr_curves", v->tag);
        CHECK_STR("pr_curves", v->plugin_name);
        CHECK_INT(2, v->rank);
        CHECK_INT(6, v->dims[0]);
        CHECK_INT(3, v->dims[1]);
        float d[18];
        memcpy(d, v->data, sizeof d);
        /* buckets: 0 -> {0.2 T, 0.1 F}; 1 -> {0.9 T, 0.8 F}; 2 -> {} */
        float want[18] = {2, 1, 0, /* tp */ 2, 1, 0, /* fp */ 0, 1, 2, /* tn */ 0, 1, 2, /* fn */
                          0.5f, 0.5f, 0, /* precision */ 1, 0.5f, 0 /* recall */};
        CHECK_MEM(want, d, sizeof d);
        seen++;
    }
    tbw_reader_close(r);
    CHECK_INT(1, seen);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

TEST(projector_refuses_bad_embeddings_without_touching_its_files_and_replaces_by_name)
{
    char dir[600], cfg[700], msg[512];
    snprintf(dir, sizeof dir, "%s/proj", g_dir);
    snprintf(cfg, sizeof cfg, "%s/projector_config.pbtxt", dir);
    float x[6] = {1, 2, 3, 4, 5, 6};
    const char *labels[3] = {"a", "b", "c"};
    tbw_embedding e = {.tensor_name = "t", .data = x, .n = 3, .d = 2, .n_columns = 1, .n_label_rows = 3,
                       .labels = labels};
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    size_t len0 = 0;
    char *cfg0 = (char *)tu_read_file(cfg, &len0);
    CHECK(cfg0 && strstr(cfg0, "tensor_name: \"t\"") != NULL);

    tbw_embedding bad = e;
    bad.tensor_name = "u";
    bad.n_label_rows = 2;
    CHECK_RC(TBW_EMISMATCH, tbw_projector_add(dir, &bad, msg, sizeof msg), msg);
    CHECK(strstr(msg, "2 metadata rows for 3 points") != NULL);
    bad = e;
    bad.tensor_name = "u";
    uint8_t th[3 * 4];
    memset(th, 7, sizeof th);
    bad.thumbnails = th;
    bad.n_thumbnails = 4;
    bad.thumb_h = bad.thumb_w = 2;
    bad.thumb_c = 1;
    CHECK_RC(TBW_EMISMATCH, tbw_projector_add(dir, &bad, msg, sizeof msg), msg);
    CHECK(strstr(msg, "4 sprite thumbnails for 3 points") != NULL);
    bad = e;
    bad.tensor_name = "u";
    bad.n = 0;
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &bad, msg, sizeof msg), msg);
    CHECK(strstr(msg, "empty") != NULL);
    float nanx[6] = {1, 2, 3, NAN, 5, 6};
    bad = e;
    bad.tensor_name = "u";
    bad.data = nanx;
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &bad, msg, sizeof msg), msg);
    CHECK(strstr(msg, "row 1, column 1 is not finite") != NULL);
    bad = e;
    bad.tensor_name = "u";
    bad.n_columns = 2;
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &bad, msg, sizeof msg), msg);
    CHECK(strstr(msg, "column_names") != NULL);
    /* A sprite over 8192 px per side: 10000 thumbnails of 100x100 need 10000 px. */
    static float big[10000];
    static uint8_t bigth[1];
    bad = (tbw_embedding){.tensor_name = "u", .data = big, .n = 10000, .d = 1, .thumbnails = bigth,
                          .n_thumbnails = 10000, .thumb_h = 100, .thumb_w = 100, .thumb_c = 1};
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &bad, msg, sizeof msg), msg);
    CHECK(strstr(msg, "at most 6561 thumbnails of that size fit") != NULL);
    /* None of the refusals touched the config or left files behind. */
    size_t len1 = 0;
    char *cfg1 = (char *)tu_read_file(cfg, &len1);
    CHECK_INT(len0, len1);
    CHECK(cfg0 && cfg1 && memcmp(cfg0, cfg1, len0) == 0);
    char edir[800];
    snprintf(edir, sizeof edir, "%s/embeddings", dir);
    CHECK_INT(1, tu_count_entries(edir));
    free(cfg1);

    /* Replacing under the same name keeps one entry; another name adds one. */
    x[0] = 9;
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    e.tensor_name = "second \"quoted\"";
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    cfg1 = (char *)tu_read_file(cfg, &len1);
    CHECK(cfg1 && strstr(cfg1, "tensor_name: \"second \\\"quoted\\\"\"") != NULL);
    int blocks = 0;
    for (const char *p = cfg1; p && (p = strstr(p, "embeddings {")) != NULL; p++)
        blocks++;
    CHECK_INT(2, blocks);
    CHECK_INT(2, tu_count_entries(edir));
    free(cfg0);
    free(cfg1);
    CHECK(!file_exists("/nonexistent"));
}

static const check_case tests[] = {
    CASE(graph_builder_refuses_bad_nodes_inputs_and_attrs_and_a_fixed_graph_reads_back_as_one_event),
    CASE(hparams_refuse_bad_types_intervals_duplicates_and_values_and_write_nothing),
    CASE(hparams_times_left_at_zero_come_from_the_writers_clock),
    CASE(custom_scalars_layout_refuses_a_bad_tag_regex_and_an_empty_chart),
    CASE(pr_curve_reads_back_the_known_counts_precision_and_recall_and_refuses_bad_input),
    CASE(projector_refuses_bad_embeddings_without_touching_its_files_and_replaces_by_name),
};

int main(int argc, char **argv)
{
    g_dir = tu_tempdir("structured");
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    tu_rmtree(g_dir);
    free(g_dir);
    return rc;
}
