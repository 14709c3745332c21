/* The lecture's MNIST training run with full TensorBoard logging, shared by
   the mnist_cnn and hparam_sweep examples. */
#ifndef TBW_EXAMPLES_TRAIN_H
#define TBW_EXAMPLES_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct train_opts {
    const char *data_dir;   /* MNIST-format directory */
    long steps;             /* training steps */
    int batch;
    double lr;
    int conv_layers;        /* 1 or 2 */
    int fc_layers;          /* 1 or 2 */
    float dropout;          /* rate on fc1 (0: none) */
    int summary_every;      /* scalars and input images every K steps; 0: no summaries */
    int histogram_every;    /* per-layer histograms every H steps (0: with every summary) */
    int embed;              /* projector points from the test set; 0: none */
    uint64_t seed;
    long checkpoint_every;  /* 0: none */
    bool resume;
    int threads;
    long limit_train, limit_test; /* 0: all */
    bool progress;          /* print progress to stderr */
    bool hparams;           /* write a session start/end for the HParams tab */
    int classes;            /* projector labels: 0 auto (Fashion-MNIST names if the data path
                               says "fashion", else digits), 1 Fashion-MNIST names, 2 digits */
    double lr_final;        /* > 0: cosine decay from lr at step 0 to lr_final at the last step */
    const struct train_dist *dist; /* data-parallel ranks (dist.h); NULL: one process */
    bool rank_scalars;      /* with dist: each rank also logs system/... scalars into <run>/rank<r> */
    int conv_algo;          /* cnn_conv_algo: how the conv layers compute (0: CNN_CONV_AUTO) */
} train_opts;

#define TRAIN_OPTS_INIT { NULL, 2000, 100, 1e-4, 2, 2, 0.0f, 5, 20, 1024, 1, 500, false, 0, 0, 0, true, true, 0, 0.0, NULL, false, 0 }

/* The learning rate of step i of a run of `total` steps: o->lr, or its cosine decay to o->lr_final. */
double train_learning_rate(const train_opts *o, long i, long total);

typedef struct train_result {
    double test_accuracy, test_loss;
    double train_accuracy, train_loss; /* the last logged batch */
    double seconds, images_per_s;
    double logging_seconds; /* time the training loop spent in summary calls */
    double step_seconds;      /* time in the training steps (shard, exchange and update) */
    double wait_seconds;      /* with several ranks: time waiting for the slowest rank */
    double allreduce_seconds; /* with several ranks: time in the gradient sum itself */
    long first_step, steps_done;
} train_result;

/* Trains into run_dir (a TensorBoard run directory). Returns 0, or 1 with a
   message on stderr. */
int train_run(const train_opts *o, const char *run_dir, train_result *res);

/* Options mnist_cnn and hparam_sweep share: codes for getopt_long and the table entries. */
enum {
    TRAIN_OPT_DATA = 300, TRAIN_OPT_STEPS, TRAIN_OPT_BATCH, TRAIN_OPT_SUMMARY, TRAIN_OPT_HIST, TRAIN_OPT_EMBED,
    TRAIN_OPT_SEED, TRAIN_OPT_THREADS, TRAIN_OPT_LTRAIN, TRAIN_OPT_LTEST, TRAIN_OPT_QUIET
};
#define TRAIN_COMMON_LONGOPTS                                                                                   \
    {"data", required_argument, NULL, TRAIN_OPT_DATA}, {"steps", required_argument, NULL, TRAIN_OPT_STEPS},     \
    {"batch", required_argument, NULL, TRAIN_OPT_BATCH},                                                        \
    {"summary-every", required_argument, NULL, TRAIN_OPT_SUMMARY},                                              \
    {"histogram-every", required_argument, NULL, TRAIN_OPT_HIST},                                               \
    {"embed", required_argument, NULL, TRAIN_OPT_EMBED}, {"seed", required_argument, NULL, TRAIN_OPT_SEED},     \
    {"threads", required_argument, NULL, TRAIN_OPT_THREADS},                                                    \
    {"limit-train", required_argument, NULL, TRAIN_OPT_LTRAIN},                                                 \
    {"limit-test", required_argument, NULL, TRAIN_OPT_LTEST}, {"quiet", no_argument, NULL, TRAIN_OPT_QUIET}

/* Applies a shared option: 1 if code is one (and its value is good), 0 if code is not
   a shared option, -1 for a bad value (the message is printed). */
int train_common_option(train_opts *o, int code, const char *arg);

/* Whether dir already holds event files (a run that a new one would mix with). */
bool train_dir_has_run(const char *dir);

/* The default data directory: Debian's dataset-fashion-mnist. */
#define TRAIN_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

#endif
