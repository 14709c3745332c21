/* The lecture's MNIST network trained with the CNN engine, logging what the
   lecture logs (see train.h). */
#include "train.h"

#include "cli.h"
#include "dist.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tbw/cnn.h>
#include <tbw/cnn_graph.h>
#include <tbw/tbw.h>

#define NUM_CLASSES 10 /* the net's outputs: the ten classes of MNIST and Fashion-MNIST */

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* DIR/NAME or DIR/NAME.gz, whichever exists. */
static int find_file(const char *dir, const char *name, char *out, size_t cap)
{
    struct stat st;
    snprintf(out, cap, "%s/%s.gz", dir, name);
    if (stat(out, &st) == 0)
        return 0;
    snprintf(out, cap, "%s/%s", dir, name);
    return stat(out, &st) == 0 ? 0 : -1;
}

/* Loads one split and checks its labels against the net's NUM_CLASSES outputs here, so that a bad
   labels file is named before the run is started, not found in a shuffled batch later. */
static cnn_dataset *load_split(const char *dir, const char *prefix)
{
    char img[4096], lab[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    int a = find_file(dir, name, img, sizeof img);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    int b = find_file(dir, name, lab, sizeof lab);
    if (a || b) {
        fprintf(stderr,
                "error: no MNIST-format %s files (%s-images-idx3-ubyte[.gz], %s-labels-idx1-ubyte[.gz]) in %s\n"
                "  Fashion-MNIST comes with Debian: sudo apt-get install dataset-fashion-mnist\n"
                "  or pass --data DIR with the original MNIST files.\n",
                prefix, prefix, prefix, dir);
        return NULL;
    }
    cnn_dataset *ds;
    char why[256];
    if (cnn_dataset_create(&ds, why, sizeof why)) {
        fprintf(stderr, "error: %s\n", why);
        return NULL;
    }
    int rc = cnn_dataset_load_idx(ds, img, lab);
    if (rc) {
        fprintf(stderr, "error: %s\n", cnn_dataset_errmsg(ds));
        cnn_dataset_free(ds);
        return NULL;
    }
    const uint8_t *labels = cnn_dataset_labels(ds);
    for (size_t i = 0, n = cnn_dataset_count(ds); i < n; i++)
        if (labels[i] >= NUM_CLASSES) {
            fprintf(stderr, "error: %s: label %u of item %zu is outside 0..%d (the net has %d classes)\n", lab,
                    labels[i], i, NUM_CLASSES - 1, NUM_CLASSES);
            cnn_dataset_free(ds);
            return NULL;
        }
    return ds;
}

#define TRY(call, handle_msg)                                                                                   \
    do {                                                                                                        \
        int rc_ = (call);                                                                                       \
        if (rc_) {                                                                                              \
            fprintf(stderr, "error: %s: %s\n", #call, (handle_msg));                                            \
            goto fail;                                                                                          \
        }                                                                                                       \
    } while (0)

/* The net for rows x cols images (28 x 28 for MNIST; any size the data has). */
static int build_model(cnn_model **out, const train_opts *o, int threads, int rows, int cols)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    const train_dist *dist = o->dist;
    /* Each rank its own seed, so dropout differs; rank 0's weights are then broadcast. */
    mo.seed = o->seed + (uint64_t)(dist ? dist->rank : 0);
    mo.learning_rate = (float)o->lr;
    mo.threads = threads;
    mo.conv_algo = (cnn_conv_algo)o->conv_algo;
    cnn_model *m;
    char why[256];
    if (cnn_model_create(&m, 1, rows, cols, &mo, why, sizeof why)) {
        fprintf(stderr, "error: cannot create the model: %s\n", why);
        return 1;
    }
    cnn_conv2d_opts c1 = CNN_CONV2D_OPTS_INIT;
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    /* With one conv layer it has 64 filters and is pooled twice, as in the lecture's
       sweep, so the fully connected part always sees (rows/4)x(cols/4)x64 features (7x7x64). */
    if (o->conv_layers == 1)
        c1.filters = 64;
    TRY(cnn_model_add_conv2d(m, "conv1", &c1), cnn_model_errmsg(m));
    TRY(cnn_model_add_relu(m, "conv1/Relu"), cnn_model_errmsg(m));
    TRY(cnn_model_add_maxpool(m, "pool1", &p), cnn_model_errmsg(m));
    if (o->conv_layers == 1)
        TRY(cnn_model_add_maxpool(m, "pool2", &p), cnn_model_errmsg(m));
    if (o->conv_layers == 2) {
        cnn_conv2d_opts c2 = CNN_CONV2D_OPTS_INIT;
        c2.filters = 64;
        TRY(cnn_model_add_conv2d(m, "conv2", &c2), cnn_model_errmsg(m));
        TRY(cnn_model_add_relu(m, "conv2/Relu"), cnn_model_errmsg(m));
        TRY(cnn_model_add_maxpool(m, "pool2", &p), cnn_model_errmsg(m));
    }
    TRY(cnn_model_add_flatten(m, "flatten"), cnn_model_errmsg(m));
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    if (o->fc_layers == 2) {
        d.units = 1024;
        TRY(cnn_model_add_dense(m, "fc1", &d), cnn_model_errmsg(m));
        TRY(cnn_model_add_relu(m, "fc1/Relu"), cnn_model_errmsg(m));
        if (o->dropout > 0)
            TRY(cnn_model_add_dropout(m, "fc1/dropout", o->dropout), cnn_model_errmsg(m));
        d.units = NUM_CLASSES;
        d.init = CNN_INIT_GLOROT;
        TRY(cnn_model_add_dense(m, "fc2", &d), cnn_model_errmsg(m));
    } else {
        d.units = NUM_CLASSES;
        d.init = CNN_INIT_GLOROT;
        TRY(cnn_model_add_dense(m, "fc1", &d), cnn_model_errmsg(m));
    }
    TRY(cnn_model_build(m, (size_t)o->batch), cnn_model_errmsg(m));
    *out = m;
    return 0;
fail:
    cnn_model_free(m);
    return 1;
}

/* Weights, biases and activations of every conv and dense layer, in its scope. */
static int log_histograms(tbw_writer *w, const cnn_model *m, int64_t step)
{
    size_t nl = cnn_model_layer_count(m);
    char tag[256];
    for (size_t i = 0; i < nl; i++) {
        cnn_layer_info L, A;
        cnn_model_layer_info(m, i, &L);
        if (L.kind != CNN_LAYER_CONV2D && L.kind != CNN_LAYER_DENSE)
            continue;
        for (int p = 0; p < L.nparams; p++) {
            snprintf(tag, sizeof tag, "%s/%s", L.name, p == 0 ? "weights" : "biases");
            if (tbw_histogram(w, tag, step, L.params[p].data, L.params[p].count, 0, NULL))
                return 1;
        }
        /* Activations: the output after the layer's ReLU when one follows. */
        const cnn_layer_info *act = &L;
        if (i + 1 < nl && cnn_model_layer_info(m, i + 1, &A) == 0 && A.kind == CNN_LAYER_RELU)
            act = &A;
        size_t count = act->output_n * (size_t)act->out_c * (size_t)act->out_h * (size_t)act->out_w;
        snprintf(tag, sizeof tag, "%s/activations", L.name);
        if (count && tbw_histogram(w, tag, step, act->output, count, 0, NULL))
            return 1;
    }
    return 0;
}

static int log_filters(tbw_writer *w, const cnn_model *m, int64_t step)
{
    size_t idx;
    cnn_layer_info L;
    if (cnn_model_find_layer(m, "conv1", &idx) || cnn_model_layer_info(m, idx, &L) || L.nparams < 1)
        return 1;
    /* weights [out_c, in_c, kh, kw]: out_c gray tiles of kh x kw (in_c is 1 here). */
    tbw_image_batch b = {L.params[0].data, TBW_PIXEL_F32, TBW_LAYOUT_CHW, (size_t)L.params[0].dims[0],
                         (size_t)L.params[0].dims[2], (size_t)L.params[0].dims[3], 1};
    uint8_t *grid;
    size_t gh, gw, gc;
    if (tbw_image_grid(&b, 8, 1, 0, true, &grid, &gh, &gw, &gc))
        return 1;
    /* Scale each 5x5 filter up 6x so the grid is visible at a glance. */
    size_t sc = 6, H = gh * sc, W = gw * sc;
    uint8_t *big = malloc(H * W);
    if (!big) {
        tbw_free(grid);
        return 1;
    }
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++)
            big[y * W + x] = grid[(y / sc) * gw + x / sc];
    tbw_free(grid);
    tbw_image_batch gb = {big, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, H, W, 1};
    int rc = tbw_images(w, "conv1/filters", step, &gb, 1);
    free(big);
    return rc;
}

/* The test images, converted once: evaluation and the projector both read them. */
typedef struct {
    float *x;
    int32_t *y;
    size_t n;
    int rows, cols; /* every image of both splits */
} test_images;

static int log_embedding(const char *run_dir, cnn_model *m, const test_images *t, int n, size_t B, bool fashion)
{
    if ((size_t)n > t->n)
        n = (int)t->n;
    const float *x = t->x;
    const int32_t *labels = t->y;
    size_t nl = cnn_model_layer_count(m);
    /* The representation fed to the last layer: fc1's ReLU output (or the flattened features). */
    size_t src = nl >= 2 ? nl - 2 : 0;
    cnn_layer_info L;
    cnn_model_layer_info(m, src, &L);
    if (L.kind == CNN_LAYER_DROPOUT && src > 0)
        cnn_model_layer_info(m, --src, &L);
    size_t d = (size_t)L.out_c * L.out_h * L.out_w;
    float *emb = malloc((size_t)n * d * sizeof *emb);
    const char **names = malloc((size_t)n * sizeof *names);
    const size_t px = (size_t)t->rows * (size_t)t->cols;
    uint8_t *thumbs = malloc((size_t)n * px);
    int rc = 1;
    if (!emb || !names || !thumbs) {
        fprintf(stderr, "error: out of memory for the projector\n");
        goto done;
    }
    for (size_t s = 0; s < (size_t)n; s += B) {
        size_t k = (size_t)n - s < B ? (size_t)n - s : B;
        if (cnn_model_forward(m, x + s * px, k, false)) {
            fprintf(stderr, "error: projector: %s\n", cnn_model_errmsg(m));
            goto done;
        }
        cnn_model_layer_info(m, src, &L);
        memcpy(emb + s * d, L.output, k * d * sizeof *emb);
    }
    for (int i = 0; i < n; i++) {
        names[i] = (fashion ? fashion_names : digit_names)[labels[i] % 10];
        for (size_t p = 0; p < px; p++)
            thumbs[(size_t)i * px + p] = (uint8_t)lrintf(x[(size_t)i * px + p] * 255.0f);
    }
    char tname[128];
    snprintf(tname, sizeof tname, "%s activations", L.name);
    tbw_embedding e = {.tensor_name = tname, .data = emb, .n = (size_t)n, .d = d, .n_columns = 1,
                       .n_label_rows = (size_t)n, .labels = names, .thumbnails = thumbs, .n_thumbnails = (size_t)n,
                       .thumb_h = (size_t)t->rows, .thumb_w = (size_t)t->cols, .thumb_c = 1};
    char msg[512];
    if (tbw_projector_add(run_dir, &e, msg, sizeof msg)) {
        fprintf(stderr, "error: projector: %s\n", msg);
        goto done;
    }
    rc = 0;
done:
    free(emb);
    free(names);
    free(thumbs);
    return rc;
}

/* The share of n items that rank r of k takes, and where it starts: the first n % k ranks take one
   more, so every item is taken once. */
static void shard_of(size_t n, int r, int k, size_t *count, size_t *first)
{
    size_t q = n / (size_t)k, extra = n % (size_t)k, ur = (size_t)r;
    *count = q + (ur < extra);
    *first = ur * q + (ur < extra ? ur : extra);
}

/* Mean loss and accuracy on the first ntest of the test images. With several ranks each evaluates
   its share and the sums are reduced, so every rank gets the figures of the whole set. */
static int evaluate_test(cnn_model *m, const test_images *t, size_t ntest, const train_dist *dist, double *loss,
                         double *acc)
{
    size_t n = ntest, first = 0;
    if (dist && dist->size > 1)
        shard_of(ntest, dist->rank, dist->size, &n, &first);
    double l = 0, a = 0;
    const size_t px = (size_t)t->rows * (size_t)t->cols;
    if (n && cnn_model_evaluate(m, t->x + first * px, t->y + first, n, &l, &a)) {
        fprintf(stderr, "error: evaluating the test set: %s\n", cnn_model_errmsg(m));
        return 1;
    }
    if (dist && dist->size > 1) {
        double sums[2] = {l * (double)n, a * (double)n};
        if (dist->sum_doubles(sums, 2))
            return 1;
        l = sums[0] / (double)ntest;
        a = sums[1] / (double)ntest;
    }
    *loss = l;
    *acc = a;
    return 0;
}

static void fmt_secs(char *out, size_t cap, double s)
{
    if (!(s >= 0) || s > 360000)
        snprintf(out, cap, "--");
    else if (s >= 60)
        snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, cap, "%.0fs", s);
}

static void progress(const train_opts *o, bool tty, long i, long first, long total, double loss, double acc, double t0,
                     bool final, const char *ranks)
{
    double el = now() - t0;
    long done = i + 1 - first;
    double ips = el > 0 ? (double)done * o->batch / el : 0;
    double eta = done > 0 ? el / done * (double)(total - i - 1) : -1;
    char etas[32];
    fmt_secs(etas, sizeof etas, eta);
    if (tty) {
        int width = 24, fill = (int)((double)(i + 1) / (double)total * width);
        char bar[32];
        for (int k = 0; k < width; k++)
            bar[k] = k < fill ? '=' : (k == fill ? '>' : ' ');
        bar[width] = '\0';
        fprintf(stderr, "\rstep %6ld/%ld [%s] loss %.4f acc %.3f %6.0f img/s ETA %-7s%s", i + 1, total, bar, loss,
                acc, ips, etas, ranks);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "step %ld/%ld loss %.4f acc %.3f %.0f img/s ETA %s%s\n", i + 1, total, loss, acc, ips, etas,
                ranks);
    }
}

int train_common_option(train_opts *o, int code, const char *arg)
{
    long v;
    switch (code) {
    case TRAIN_OPT_DATA: o->data_dir = arg; return 1;
    case TRAIN_OPT_STEPS: if (!cli_long("--steps", arg, 1, 100000000, &v)) return -1; o->steps = v; return 1;
    case TRAIN_OPT_BATCH: if (!cli_long("--batch", arg, 1, 10000, &v)) return -1; o->batch = (int)v; return 1;
    case TRAIN_OPT_SUMMARY: if (!cli_long("--summary-every", arg, 0, 1000000, &v)) return -1; o->summary_every = (int)v; return 1;
    case TRAIN_OPT_HIST: if (!cli_long("--histogram-every", arg, 0, 1000000, &v)) return -1; o->histogram_every = (int)v; return 1;
    case TRAIN_OPT_EMBED: if (!cli_long("--embed", arg, 0, 10000, &v)) return -1; o->embed = (int)v; return 1;
    case TRAIN_OPT_SEED: if (!cli_long("--seed", arg, 0, 2147483647, &v)) return -1; o->seed = (uint64_t)v; return 1;
    case TRAIN_OPT_THREADS: if (!cli_long("--threads", arg, 1, 256, &v)) return -1; o->threads = (int)v; return 1;
    case TRAIN_OPT_LTRAIN: if (!cli_long("--limit-train", arg, 1, 100000000, &v)) return -1; o->limit_train = v; return 1;
    case TRAIN_OPT_LTEST: if (!cli_long("--limit-test", arg, 1, 100000000, &v)) return -1; o->limit_test = v; return 1;
    case TRAIN_OPT_QUIET: o->progress = false; return 1;
    default: return 0;
    }
}

bool train_dir_has_run(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL)
        found = strstr(de->d_name, "tfevents") != NULL;
    closedir(d);
    return found;
}

double train_learning_rate(const train_opts *o, long i, long total)
{
    if (o->lr_final <= 0 || total < 2)
        return o->lr;
    double f = 0.5 * (1.0 + cos(M_PI * (double)i / (double)(total - 1)));
    return o->lr_final + (o->lr - o->lr_final) * f;
}

/* Everything one training run holds between opening and closing. */
typedef struct train_ctx {
    const train_opts *o;
    const char *run_dir;
    train_result *res;
    cnn_dataset *train, *test;
    cnn_model *m;
    tbw_writer *w;
    float *x;     /* one batch of images */
    int32_t *y;   /* and its labels */
    test_images timg;
    size_t ntrain, ntest, per_epoch;
    long first;   /* the step a resumed run starts at */
    bool fashion, tty;
    double t0;
    char ckpt[4096];
    /* data parallel (o->dist): this rank's share of each global batch */
    const train_dist *dist;
    int rank, size;
    size_t shard_n, shard_off;
    int threads;          /* engine threads: --threads, else the cores shared by this machine's ranks */
    tbw_writer *rank_w;   /* --rank-scalars: <run>/rank<r> */
    double step_ms, wait_ms, allreduce_ms; /* the last step's */
} train_ctx;


/* Loads both splits and converts a fixed sample of the test set (the first of one seeded
   permutation) once. */
static int open_data(train_ctx *c)
{
    const train_opts *o = c->o;
    c->train = load_split(o->data_dir, "train");
    c->test = c->train ? load_split(o->data_dir, "t10k") : NULL;
    if (!c->train || !c->test)
        return 1;
    c->ntrain = cnn_dataset_count(c->train);
    c->ntest = cnn_dataset_count(c->test);
    if (o->limit_train > 0 && (size_t)o->limit_train < c->ntrain)
        c->ntrain = (size_t)o->limit_train;
    if (o->limit_test > 0 && (size_t)o->limit_test < c->ntest)
        c->ntest = (size_t)o->limit_test;
    test_images *t = &c->timg;
    int trows, tcols;
    cnn_dataset_dims(c->train, &t->rows, &t->cols);
    cnn_dataset_dims(c->test, &trows, &tcols);
    if (trows != t->rows || tcols != t->cols) {
        fprintf(stderr, "error: the training images are %dx%d but the test images %dx%d (%s)\n", t->rows, t->cols,
                trows, tcols, o->data_dir);
        return 1;
    }
    const size_t px = (size_t)t->rows * (size_t)t->cols;
    t->n = c->ntest > (size_t)o->embed ? c->ntest : (size_t)o->embed;
    if (t->n > cnn_dataset_count(c->test))
        t->n = cnn_dataset_count(c->test);
    t->x = malloc(t->n * px * sizeof *t->x);
    t->y = malloc(t->n * sizeof *t->y);
    if (!t->x || !t->y) {
        fprintf(stderr, "error: out of memory for %zu test images\n", t->n);
        return 1;
    }
    if (cnn_dataset_shuffle(c->test, 0, 0) || cnn_dataset_batch(c->test, 0, t->n, t->x, t->y)) {
        fprintf(stderr, "error: test images: %s\n", cnn_dataset_errmsg(c->test));
        return 1;
    }
    if (c->ntrain < (size_t)o->batch) {
        fprintf(stderr, "error: %zu training images are fewer than one batch of %d\n", c->ntrain, o->batch);
        return 1;
    }
    c->per_epoch = c->ntrain / (size_t)o->batch;
    c->shard_n = (size_t)o->batch;
    c->shard_off = 0;
    if (c->size > 1) {
        shard_of((size_t)o->batch, c->rank, c->size, &c->shard_n, &c->shard_off);
        if (c->shard_n == 0) {
            fprintf(stderr, "error: a batch of %d leaves rank %d of %d without samples; use --batch >= %d\n",
                    o->batch, c->rank, c->size, c->size);
            return 1;
        }
    }
    c->x = malloc((size_t)o->batch * px * sizeof *c->x);
    c->y = malloc((size_t)o->batch * sizeof *c->y);
    if (!c->x || !c->y) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    return 0;
}

/* With --resume, loads the run's checkpoint and sets the first step. */
static int resume_model(train_ctx *c)
{
    snprintf(c->ckpt, sizeof c->ckpt, "%s/model.ckpt", c->run_dir);
    c->first = 0;
    if (!c->o->resume)
        return 0;
    int rc = cnn_model_load(c->m, c->ckpt);
    if (rc == TBW_ENOTFOUND && train_dir_has_run(c->run_dir)) {
        fprintf(stderr, "error: %s has no checkpoint to resume from (%s); its run would be mixed with a new one\n",
                c->run_dir, c->ckpt);
        return 1;
    }
    if (rc == TBW_ENOTFOUND) {
        fprintf(stderr, "note: no checkpoint at %s; starting from step 0\n", c->ckpt);
    } else if (rc) {
        fprintf(stderr, "error: cannot resume: %s\n", cnn_model_errmsg(c->m));
        return 1;
    } else {
        c->first = (long)cnn_model_step_count(c->m);
        fprintf(stderr, "resuming %s at step %ld\n", c->run_dir, c->first);
    }
    return 0;
}

/* Opens the run's writer; a new run also gets the graph and the hparams session start. */
static int open_log(train_ctx *c)
{
    const train_opts *o = c->o;
    char msg[512];
    tbw_writer_opts wo = TBW_WRITER_OPTS_INIT;
    wo.background = true; /* the training loop never waits on the disk */
    wo.max_queue = 100;
    wo.flush_secs = 5;
    if (c->first > 0)
        wo.resume_step = c->first;
    /* One writer per run: only rank 0 writes it; the others check and count every call. */
    wo.discard = c->rank > 0;
    if (tbw_writer_open(&c->w, c->run_dir, &wo, msg, sizeof msg)) {
        fprintf(stderr, "error: %s\n", msg);
        return 1;
    }
    if (o->rank_scalars && c->size > 1) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/rank%d", c->run_dir, c->rank);
        tbw_writer_opts ro = wo;
        ro.discard = false;
        if (tbw_writer_open(&c->rank_w, dir, &ro, msg, sizeof msg)) {
            fprintf(stderr, "error: rank %d: %s\n", c->rank, msg);
            return 1;
        }
    }
    if (c->first > 0)
        return 0;
    tbw_graph *g;
    char why[256];
    if (tbw_graph_create(&g, why, sizeof why) == 0) {
        /* both calls leave their message on the graph */
        if (cnn_model_export_graph(c->m, g) || tbw_graph_write(c->w, g, 0))
            fprintf(stderr, "warning: graph not written: %s\n", tbw_graph_errmsg(g));
        tbw_graph_free(g);
    } else {
        fprintf(stderr, "warning: graph not written: %s\n", why);
    }
    if (o->hparams) {
        tbw_hparam_value hv[3] = {{.name = "lr", .type = TBW_HPARAM_FLOAT, .number = o->lr},
                                  {.name = "conv", .type = TBW_HPARAM_FLOAT, .number = o->conv_layers},
                                  {.name = "fc", .type = TBW_HPARAM_FLOAT, .number = o->fc_layers}};
        TRY(tbw_hparams_session_start(c->w, hv, 3, NULL, 0), tbw_writer_errmsg(c->w));
    }
    return 0;
fail:
    return 1;
}

static int train_open(train_ctx *c)
{
    /* The engine's own threads run the GEMMs side by side, one image each, which beats
       OpenBLAS's threading on these small matrices (docs/engine.md): BLAS gets 1 thread. */
    openblas_set_num_threads(1);
    int failed = open_data(c) || build_model(&c->m, c->o, c->threads, c->timg.rows, c->timg.cols) || resume_model(c);
    if (!failed && c->size > 1)
        failed = cnn_model_set_loss_grad_scale(c->m, (float)c->shard_n / (float)c->o->batch) != 0;
    if (c->size > 1) {
        /* Every rank learns whether any rank failed to set up before the first collective on the
           model, so an error on one rank ends them all instead of leaving them waiting. */
        int any = c->dist->agree(failed);
        if (any && !failed)
            fprintf(stderr, "error: rank %d stops: another rank failed to set up (its message is above)\n",
                    c->rank);
        if (any)
            return 1;
        /* Equal weights on every rank: rank 0's (fresh or resumed). */
        size_t n;
        float *p = cnn_model_params_flat(c->m, &n);
        if (c->dist->bcast(p, n * sizeof *p))
            return 1;
    } else if (failed) {
        return 1;
    }
    failed = open_log(c);
    if (c->size > 1 && c->dist->agree(failed)) {
        if (!failed)
            fprintf(stderr, "error: rank %d stops: another rank could not open its log\n", c->rank);
        return 1;
    }
    return failed;
}

/* The summaries of step i: scalars and input images every summary_every steps, histograms
   every histogram_every, the first layer's filters every 100. */
static int log_step(train_ctx *c, long i, double lr, double *loss_io, double *acc_io)
{
    const train_opts *o = c->o;
    tbw_writer *w = c->w;
    bool summary = o->summary_every > 0 && i % o->summary_every == 0;
    if (summary && c->size > 1) {
        /* every rank reduces, rank 0 writes: the means over the whole global batch */
        double sums[2] = {*loss_io * (double)c->shard_n, *acc_io * (double)c->shard_n};
        if (c->dist->sum_doubles(sums, 2))
            return 1;
        *loss_io = sums[0] / o->batch;
        *acc_io = sums[1] / o->batch;
    }
    double loss = *loss_io, acc = *acc_io;
    if (summary && c->rank_w) {
        tbw_writer *rw = c->rank_w;
        double ips = c->step_ms > 0 ? (double)c->shard_n * 1000.0 / c->step_ms : 0;
        TRY(tbw_scalar(rw, "system/step_ms", i, c->step_ms), tbw_writer_errmsg(rw));
        TRY(tbw_scalar(rw, "system/wait_ms", i, c->wait_ms), tbw_writer_errmsg(rw));
        TRY(tbw_scalar(rw, "system/allreduce_ms", i, c->allreduce_ms), tbw_writer_errmsg(rw));
        TRY(tbw_scalar(rw, "system/images_per_sec", i, ips), tbw_writer_errmsg(rw));
    }
    if (summary) {
        TRY(tbw_scalar(w, "cross_entropy", i, loss), tbw_writer_errmsg(w));
        TRY(tbw_scalar(w, "accuracy", i, acc), tbw_writer_errmsg(w));
        if (o->lr_final > 0)
            TRY(tbw_scalar(w, "learning_rate", i, lr), tbw_writer_errmsg(w));
        tbw_image_batch ib = {c->x, TBW_PIXEL_F32, TBW_LAYOUT_CHW, c->shard_n, (size_t)c->timg.rows,
                              (size_t)c->timg.cols, 1};
        TRY(tbw_images(w, "input", i, &ib, 3), tbw_writer_errmsg(w));
        c->res->train_loss = loss;
        c->res->train_accuracy = acc;
    }
    if (summary && (o->histogram_every <= 0 || i % o->histogram_every == 0) && log_histograms(w, c->m, i)) {
        fprintf(stderr, "error: histograms: %s\n", tbw_writer_errmsg(w));
        return 1;
    }
    if (o->summary_every > 0 && (i % 100 == 0 || i == o->steps - 1) && log_filters(w, c->m, i)) {
        fprintf(stderr, "error: filter image: %s\n", tbw_writer_errmsg(w));
        return 1;
    }
    return 0;
fail:
    return 1;
}

/* One training step, its summaries, the test evaluation at an epoch's end and the checkpoint. */
static int train_step(train_ctx *c, long i, long *cur_epoch)
{
    const train_opts *o = c->o;
    train_result *res = c->res;
    long total = o->steps;
    long epoch = i / (long)c->per_epoch;
    if (epoch != *cur_epoch) {
        cnn_dataset_shuffle(c->train, o->seed, (uint64_t)epoch);
        *cur_epoch = epoch;
    }
    /* The permutation covers the whole file; a limited run takes its first ntrain samples. */
    size_t j = (size_t)(i % (long)c->per_epoch);
    /* With several ranks, each takes its share of the same global batch (every rank shuffles alike). */
    if (cnn_dataset_batch(c->train, j * (size_t)o->batch + c->shard_off, c->shard_n, c->x, c->y)) {
        fprintf(stderr, "error: %s\n", cnn_dataset_errmsg(c->train));
        return 1;
    }
    double lr = train_learning_rate(o, i, total), loss = 0, acc = 0;
    if (o->lr_final > 0)
        TRY(cnn_model_set_learning_rate(c->m, (float)lr), cnn_model_errmsg(c->m));
    double tstep = now();
    if (c->size > 1) {
        /* forward, loss and backward on the shard (its gradient already scaled by n_r / B), one
           in-place sum of all gradients, then the same optimizer step on every rank */
        TRY(cnn_model_forward(c->m, c->x, c->shard_n, true), cnn_model_errmsg(c->m));
        TRY(cnn_model_loss(c->m, c->y, c->shard_n, &loss, &acc), cnn_model_errmsg(c->m));
        TRY(cnn_model_backward(c->m), cnn_model_errmsg(c->m));
        size_t n;
        float *g = cnn_model_grads_flat(c->m, &n);
        /* A one-int agreement first, so that the time the fastest rank waits for the slowest is
           told apart from the exchange itself (it costs tens of microseconds in a step of tens of
           milliseconds). */
        double tw = now();
        if (c->dist->agree(0)) {
            fprintf(stderr, "error: rank %d: the other ranks could not be reached before the gradient sum\n", c->rank);
            return 1;
        }
        double tr = now();
        if (c->dist->sum_floats(g, n))
            return 1;
        double tc = now();
        c->wait_ms = (tr - tw) * 1000.0;
        c->allreduce_ms = (tc - tr) * 1000.0;
        res->wait_seconds += tr - tw;
        res->allreduce_seconds += tc - tr;
        TRY(cnn_model_step(c->m), cnn_model_errmsg(c->m));
    } else {
        TRY(cnn_model_train_step(c->m, c->x, c->y, (size_t)o->batch, &loss, &acc), cnn_model_errmsg(c->m));
    }
    c->step_ms = (now() - tstep) * 1000.0;
    res->step_seconds += c->step_ms / 1000.0;
    double tlog = now();
    if (log_step(c, i, lr, &loss, &acc))
        return 1;
    res->logging_seconds += now() - tlog;
    if ((i + 1) % (long)c->per_epoch == 0 || i == total - 1) {
        if (evaluate_test(c->m, &c->timg, c->ntest, c->dist, &res->test_loss, &res->test_accuracy))
            return 1;
        TRY(tbw_scalar(c->w, "test/accuracy", i, res->test_accuracy), tbw_writer_errmsg(c->w));
        TRY(tbw_scalar(c->w, "test/cross_entropy", i, res->test_loss), tbw_writer_errmsg(c->w));
    }
    if (o->checkpoint_every > 0 && (i + 1) % o->checkpoint_every == 0) {
        /* rank 0's model is every rank's: it alone saves; the flush keeps the log up with it */
        if (c->rank == 0)
            TRY(cnn_model_save(c->m, c->ckpt), cnn_model_errmsg(c->m));
        TRY(tbw_writer_flush(c->w), tbw_writer_errmsg(c->w));
        if (c->rank_w)
            TRY(tbw_writer_flush(c->rank_w), tbw_writer_errmsg(c->rank_w));
    }
    long report_every = total >= 20 ? total / 20 : 1;
    if (o->progress && c->rank == 0 &&
        ((c->tty && (i % 5 == 0 || i == total - 1)) || (!c->tty && ((i + 1) % report_every == 0)))) {
        char ranks[96] = "";
        if (c->size > 1)
            snprintf(ranks, sizeof ranks, " [%d ranks x %d thread%s, allreduce %.1f ms/step, wait %.1f]", c->size,
                     c->threads, c->threads == 1 ? "" : "s",
                     res->allreduce_seconds * 1000.0 / (double)(i + 1 - c->first),
                     res->wait_seconds * 1000.0 / (double)(i + 1 - c->first));
        progress(o, c->tty, i, c->first, total, loss, acc, c->t0, i == total - 1, ranks);
    }
    return 0;
fail:
    return 1;
}

/* Finishes a run that trained (or had nothing to train): figures, projector, session end, and the
   writer's close, whose status counts. */
static int train_finish(train_ctx *c)
{
    const train_opts *o = c->o;
    train_result *res = c->res;
    long total = o->steps;
    if (c->first >= total) {
        fprintf(stderr, "note: the checkpoint is at step %ld, not before --steps %ld: nothing to train\n", c->first,
                total);
        if (evaluate_test(c->m, &c->timg, c->ntest, c->dist, &res->test_loss, &res->test_accuracy))
            return 1;
    }
    res->seconds = now() - c->t0;
    res->first_step = c->first;
    res->steps_done = total > c->first ? total - c->first : 0;
    res->images_per_s = res->seconds > 0 ? (double)res->steps_done * o->batch / res->seconds : 0;
    if (o->embed > 0 && c->rank == 0 &&
        log_embedding(c->run_dir, c->m, &c->timg, o->embed, (size_t)o->batch, c->fashion))
        return 1;
    if (o->hparams)
        TRY(tbw_hparams_session_end(c->w, TBW_SESSION_SUCCESS, 0), tbw_writer_errmsg(c->w));
    int rc = tbw_writer_close(c->w);
    c->w = NULL;
    if (c->rank_w) {
        int rrc = tbw_writer_close(c->rank_w);
        c->rank_w = NULL;
        if (!rc)
            rc = rrc;
    }
    if (rc) {
        fprintf(stderr, "error: closing the event file: %s\n", tbw_strerror(rc));
        return 1;
    }
    return 0;
fail:
    return 1;
}

static void train_close(train_ctx *c)
{
    if (c->w)
        tbw_writer_close(c->w);
    if (c->rank_w)
        tbw_writer_close(c->rank_w);
    free(c->x);
    free(c->y);
    free(c->timg.x);
    free(c->timg.y);
    cnn_model_free(c->m);
    cnn_dataset_free(c->train);
    cnn_dataset_free(c->test);
}

int train_run(const train_opts *o, const char *run_dir, train_result *res)
{
    memset(res, 0, sizeof *res);
    train_ctx c = {.o = o, .run_dir = run_dir, .res = res, .tty = isatty(2), .dist = o->dist, .rank = 0, .size = 1};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c.threads = o->threads > 0 ? o->threads : cores > 0 ? (int)cores : 1;
    if (o->dist) {
        c.rank = o->dist->rank;
        c.size = o->dist->size;
        if (o->threads <= 0 && o->dist->local_size > 1)
            c.threads = c.threads > o->dist->local_size ? c.threads / o->dist->local_size : 1;
    }
    c.fashion = o->classes == 1 || (o->classes == 0 && strstr(o->data_dir, "fashion") != NULL);
    int ret = train_open(&c);
    c.t0 = now();
    long cur_epoch = -1;
    for (long i = c.first; !ret && i < o->steps; i++)
        ret = train_step(&c, i, &cur_epoch);
    if (!ret)
        ret = train_finish(&c);
    train_close(&c);
    return ret;
}
