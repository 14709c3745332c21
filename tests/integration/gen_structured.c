/*
 * Writes a log directory with a graph, an hparams experiment of 4 sessions,
 * embeddings for the projector, PR curves and a custom scalars layout, for
 * the TensorBoard integration tests; raw inputs go to SIDE_DIR.
 *
 *   gen_structured LOGDIR SIDE_DIR [N_POINTS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <tbw/tbw.h>

#include "gen_common.h"

static void must(int rc, const char *what, const char *msg)
{
    if (rc) {
        fprintf(stderr, "gen_structured: %s: %s (%s)\n", what, tbw_strerror(rc), msg ? msg : "");
        exit(1);
    }
}

static void graph(void)
{
    tbw_writer *w = open_run("graph");
    tbw_graph *g;
    must(tbw_graph_create(&g, NULL, 0), "graph", NULL);
    size_t x, conv, relu, pool, mm;
    const char *in1[] = {"input/x"};
    must(tbw_graph_add_node(g, "input/x", "Placeholder", NULL, 0, NULL, &x), "node", tbw_graph_errmsg(g));
    int64_t xs[4] = {-1, 28, 28, 1};
    must(tbw_graph_attr_type(g, x, "dtype", 1), "attr", tbw_graph_errmsg(g));
    must(tbw_graph_attr_shape(g, x, "shape", xs, 4), "attr", tbw_graph_errmsg(g));
    int ranks[1] = {4};
    must(tbw_graph_attr_shape_list(g, x, "_output_shapes", xs, ranks, 1), "attr", tbw_graph_errmsg(g));
    const char *cin[] = {"input/x", "conv1/weights"};
    size_t wts;
    must(tbw_graph_add_node(g, "conv1/weights", "VariableV2", NULL, 0, NULL, &wts), "node", tbw_graph_errmsg(g));
    int64_t ws[4] = {5, 5, 1, 32};
    must(tbw_graph_attr_shape_list(g, wts, "_output_shapes", ws, ranks, 1), "attr", tbw_graph_errmsg(g));
    must(tbw_graph_add_node(g, "conv1/Conv2D", "Conv2D", cin, 2, "/device:CPU:0", &conv), "node", tbw_graph_errmsg(g));
    int64_t strides[4] = {1, 1, 1, 1};
    must(tbw_graph_attr_int_list(g, conv, "strides", strides, 4), "attr", tbw_graph_errmsg(g));
    must(tbw_graph_attr_string(g, conv, "padding", "SAME"), "attr", tbw_graph_errmsg(g));
    must(tbw_graph_attr_bool(g, conv, "use_cudnn_on_gpu", true), "attr", tbw_graph_errmsg(g));
    int64_t cs[4] = {-1, 28, 28, 32};
    must(tbw_graph_attr_shape_list(g, conv, "_output_shapes", cs, ranks, 1), "attr", tbw_graph_errmsg(g));
    const char *rin[] = {"conv1/Conv2D"};
    must(tbw_graph_add_node(g, "conv1/Relu", "Relu", rin, 1, NULL, &relu), "node", tbw_graph_errmsg(g));
    must(tbw_graph_attr_shape_list(g, relu, "_output_shapes", cs, ranks, 1), "attr", tbw_graph_errmsg(g));
    const char *pin[] = {"conv1/Relu", "^input/x"};
    must(tbw_graph_add_node(g, "pool1/MaxPool", "MaxPool", pin, 2, NULL, &pool), "node", tbw_graph_errmsg(g));
    const char *min[] = {"pool1/MaxPool:0", "fc/weights"};
    must(tbw_graph_add_node(g, "fc/weights", "VariableV2", NULL, 0, NULL, NULL), "node", tbw_graph_errmsg(g));
    must(tbw_graph_add_node(g, "fc/MatMul", "MatMul", min, 2, NULL, &mm), "node", tbw_graph_errmsg(g));
    must(tbw_graph_attr_float(g, mm, "alpha", 0.5f), "attr", tbw_graph_errmsg(g));
    (void)in1;
    must(tbw_graph_write(w, g, 0), "graph write", tbw_graph_errmsg(g));
    tbw_graph_free(g);
    must(tbw_scalar(w, "loss", 1, 0.5), "scalar", tbw_writer_errmsg(w));
    must(tbw_writer_close(w), "close", NULL);
}

static void hparams(void)
{
    /* The experiment at the root; 4 sessions below it, each with its metrics. */
    tbw_writer *root = open_run("");
    double lrs[3] = {1e-3, 1e-4, 1e-5};
    const char *opts[2] = {"adam", "sgd"};
    tbw_hparam_info hp[4] = {
        {.name = "lr", .type = TBW_HPARAM_FLOAT, .n_values = 3, .numbers = lrs},
        {.name = "optimizer", .type = TBW_HPARAM_STRING, .n_values = 2, .strings = opts},
        {.name = "dropout", .type = TBW_HPARAM_FLOAT, .has_interval = true, .min_value = 0, .max_value = 0.5},
        {.name = "two_fc", .type = TBW_HPARAM_BOOL, .display_name = "two fc layers"},
    };
    tbw_metric_info m[2] = {{.tag = "accuracy", .dataset_type = TBW_DATASET_VALIDATION},
                            {.tag = "cross_entropy", .display_name = "xent"}};
    must(tbw_hparams_experiment(root, hp, 4, m, 2, "four sessions", 1700000000.0), "experiment",
         tbw_writer_errmsg(root));
    must(tbw_writer_close(root), "close", NULL);
    for (int s = 0; s < 4; s++) {
        char run[64];
        snprintf(run, sizeof run, "session_%d", s);
        tbw_writer *w = open_run(run);
        tbw_hparam_value v[4] = {
            {.name = "lr", .type = TBW_HPARAM_FLOAT, .number = lrs[s % 3]},
            {.name = "optimizer", .type = TBW_HPARAM_STRING, .string = opts[s % 2]},
            {.name = "dropout", .type = TBW_HPARAM_FLOAT, .number = 0.1 * s},
            {.name = "two_fc", .type = TBW_HPARAM_BOOL, .boolean = s >= 2},
        };
        must(tbw_hparams_session_start(w, v, 4, NULL, 1700000000.0 + s), "session", tbw_writer_errmsg(w));
        for (int step = 0; step <= 10; step++) {
            must(tbw_scalar(w, "accuracy", step, 0.5 + 0.01 * step + 0.1 * s), "acc", tbw_writer_errmsg(w));
            must(tbw_scalar(w, "cross_entropy", step, 2.0 - 0.1 * step - 0.2 * s), "xent", tbw_writer_errmsg(w));
        }
        must(tbw_hparams_session_end(w, s == 3 ? TBW_SESSION_FAILURE : TBW_SESSION_SUCCESS, 1700000100.0 + s), "end",
             tbw_writer_errmsg(w));
        must(tbw_writer_close(w), "close", NULL);
    }
}

static void projector(size_t n)
{
    size_t d = 64;
    float *x = malloc(n * d * sizeof *x);
    uint8_t *thumbs = malloc(n * 28 * 28);
    const char **labels = malloc(n * 2 * sizeof *labels);
    static const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    char (*idbuf)[24] = malloc(n * sizeof *idbuf);
    for (size_t i = 0; i < n; i++) {
        int cls = (int)(i % 10);
        for (size_t k = 0; k < d; k++)
            x[i * d + k] = (float)sin((double)(i * 31 + k * 7) * 0.001) + (float)cls * (k == (size_t)cls ? 3.0f : 0.0f);
        for (size_t p = 0; p < 28 * 28; p++)
            thumbs[i * 784 + p] = (uint8_t)((p * 3 + i * 11) % 256);
        snprintf(idbuf[i], sizeof idbuf[i], "id %zu", i);
        labels[i * 2] = names[cls];
        labels[i * 2 + 1] = idbuf[i];
    }
    labels[2 * 5] = "tab\there";      /* escaped, never a new column */
    labels[2 * 6 + 1] = "line\nbreak"; /* escaped, never a new row */
    labels[2 * 7] = "";                 /* written as (empty) */
    const char *cols[2] = {"class", "id"};
    tbw_embedding e = {
        .tensor_name = "fc1/activations", .data = x, .n = n, .d = d,
        .n_columns = 2, .n_label_rows = n, .column_names = cols, .labels = labels,
        .thumbnails = thumbs, .n_thumbnails = n, .thumb_h = 28, .thumb_w = 28, .thumb_c = 1,
        .bookmarks_json = "[]"};
    char msg[256];
    must(tbw_projector_add(g_log, &e, msg, sizeof msg), "projector", msg);
    /* A second embedding with one label column (no header), no sprite. */
    const char **one = malloc(100 * sizeof *one);
    for (int i = 0; i < 100; i++)
        one[i] = names[i % 10];
    tbw_embedding e2 = {.tensor_name = "small", .data = x, .n = 100, .d = 8,
                        .n_columns = 1, .n_label_rows = 100, .labels = one};
    float *x8 = malloc(100 * 8 * sizeof *x8);
    for (int i = 0; i < 800; i++)
        x8[i] = (float)i * 0.25f;
    e2.data = x8;
    must(tbw_projector_add(g_log, &e2, msg, sizeof msg), "projector small", msg);
    side("emb.f32", x, n * d * sizeof *x);
    side("thumbs.u8", thumbs, n * 784);
    free(x);
    free(x8);
    free(thumbs);
    free(labels);
    free(one);
    free(idbuf);
}

static void pr_curves(void)
{
    tbw_writer *w = open_run("pr");
    size_t n = 2000;
    bool *labels = malloc(n);
    float *pred = malloc(n * sizeof *pred), *wt = malloc(n * sizeof *wt);
    uint8_t *lab_u8 = malloc(n);
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < n; i++) {
            labels[i] = (i * 7919 + (size_t)step) % 3 == 0;
            lab_u8[i] = labels[i];
            float base = labels[i] ? 0.65f : 0.35f;
            pred[i] = base + 0.35f * (float)sin((double)i * 1.3 + step);
            if (pred[i] < 0)
                pred[i] = 0;
            if (pred[i] > 1)
                pred[i] = 1;
            wt[i] = 0.5f + (float)(i % 4) * 0.25f;
        }
        must(tbw_pr_curve(w, "classifier", step, labels, pred, NULL, n, 0), "pr", tbw_writer_errmsg(w));
        must(tbw_pr_curve(w, "weighted", step, labels, pred, wt, n, 11), "pr", tbw_writer_errmsg(w));
        char name[64];
        snprintf(name, sizeof name, "pr_labels_%d.u8", step);
        side(name, lab_u8, n);
        snprintf(name, sizeof name, "pr_pred_%d.f32", step);
        side(name, pred, n * sizeof *pred);
        snprintf(name, sizeof name, "pr_weight_%d.f32", step);
        side(name, wt, n * sizeof *wt);
    }
    must(tbw_writer_close(w), "close", NULL);
    free(labels);
    free(pred);
    free(wt);
    free(lab_u8);
}

static void custom_scalars(void)
{
    tbw_writer *w = open_run("custom");
    for (int s = 0; s < 20; s++) {
        must(tbw_scalar(w, "loss/train", s, 1.0 / (s + 1)), "s", tbw_writer_errmsg(w));
        must(tbw_scalar(w, "loss/test", s, 1.2 / (s + 1)), "s", tbw_writer_errmsg(w));
        must(tbw_scalar(w, "acc/mean", s, 0.5 + s * 0.02), "s", tbw_writer_errmsg(w));
        must(tbw_scalar(w, "acc/lower", s, 0.45 + s * 0.02), "s", tbw_writer_errmsg(w));
        must(tbw_scalar(w, "acc/upper", s, 0.55 + s * 0.02), "s", tbw_writer_errmsg(w));
    }
    const char *re1[] = {"loss/.*"};
    tbw_margin_series ser[1] = {{"acc/mean", "acc/lower", "acc/upper"}};
    tbw_layout_chart charts[2] = {{.title = "losses", .tag_regexes = re1, .n_regexes = 1},
                                  {.title = "accuracy band", .series = ser, .n_series = 1}};
    tbw_layout_category cat[1] = {{.title = "training", .charts = charts, .n_charts = 2, .closed = false}};
    must(tbw_custom_scalars_layout(w, cat, 1), "layout", tbw_writer_errmsg(w));
    must(tbw_writer_close(w), "close", NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_structured LOGDIR SIDE_DIR [N_POINTS]\n");
        return 2;
    }
    g_log = argv[1];
    g_side = argv[2];
    size_t n = argc > 3 ? (size_t)atol(argv[3]) : 10000;
    mkdir(g_log, 0755);
    mkdir(g_side, 0755);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    projector(n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("projector: %zu x 64 written in %.3f s\n", n,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
    graph();
    hparams();
    pr_curves();
    custom_scalars();
    return 0;
}
