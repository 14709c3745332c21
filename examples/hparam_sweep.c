/*
 * hparam_sweep: the lecture's experiment, learning rates {1E-3, 1E-4, 1E-5} x
 * conv layers {1, 2} x fc layers {1, 2} = 12 runs, each in its own run
 * directory (lr_1E-03conv2fc2, ...) with everything mnist_cnn logs plus its
 * hparams session, and the experiment (hparams and metrics) at the root, so
 * the Scalars, Graphs and HParams tabs compare the 12 runs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tbw/tbw.h>

#include "cli.h"
#include "train.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hparam_sweep [--logdir DIR] [options]\n"
            "\n"
            "Trains the 12 configurations of the lecture's sweep one after another into DIR\n"
            "(default: log), one run directory each, named like lr_1E-03conv2fc2.\n"
            "\n"
            "  --logdir DIR          where the runs go (default log)\n"
            "  --data DIR            MNIST-format data (default %s)\n"
            "  --steps N             training steps per run (default 2000, as in the lecture)\n"
            "  --batch B             batch size (default 100)\n"
            "  --summary-every K     scalars and images every K steps (default 5)\n"
            "  --histogram-every H   histograms every H steps (default 20)\n"
            "  --embed N             projector points per run (default 1024; 0: none)\n"
            "  --seed S              seed (default 1)\n"
            "  --threads T           threads (default: all cores)\n"
            "  --limit-train N       training images per epoch (default: all)\n"
            "  --limit-test N        test images (default: all)\n"
            "  --quiet               no progress output\n"
            "  --help                this text\n"
            "Exit status: 0 done, 1 a run failed, 2 bad command line.\n",
            TRAIN_DEFAULT_DATA);
}

int main(int argc, char **argv)
{
    train_opts o = TRAIN_OPTS_INIT;
    o.data_dir = TRAIN_DEFAULT_DATA;
    o.checkpoint_every = 0;
    const char *logdir = "log";
    enum { O_LOGDIR = 256, O_HELP };
    static const struct option longopts[] = {
        {"logdir", required_argument, NULL, O_LOGDIR}, {"help", no_argument, NULL, O_HELP}, TRAIN_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int common = train_common_option(&o, c, optarg);
        if (common < 0)
            return 2;
        if (common)
            continue;
        switch (c) {
        case O_LOGDIR: logdir = optarg; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !logdir[0]) {
        usage(stderr);
        return 2;
    }
    if (train_dir_has_run(logdir)) {
        fprintf(stderr, "error: %s already holds runs; choose another --logdir for a new sweep\n", logdir);
        return 2;
    }
    /* The experiment at the root: what the HParams tab offers to filter and plot. */
    static const double lrs[3] = {1e-3, 1e-4, 1e-5};
    static const double layers[2] = {1, 2};
    tbw_hparam_info hp[3] = {
        {.name = "lr", .display_name = "learning rate", .type = TBW_HPARAM_FLOAT, .n_values = 3, .numbers = lrs},
        {.name = "conv", .display_name = "conv layers", .type = TBW_HPARAM_FLOAT, .n_values = 2, .numbers = layers},
        {.name = "fc", .display_name = "fc layers", .type = TBW_HPARAM_FLOAT, .n_values = 2, .numbers = layers}};
    tbw_metric_info metrics[3] = {
        {.tag = "accuracy", .display_name = "accuracy (training batch)", .dataset_type = TBW_DATASET_TRAINING},
        {.tag = "cross_entropy", .display_name = "cross-entropy (training batch)",
         .dataset_type = TBW_DATASET_TRAINING},
        {.tag = "test/accuracy", .display_name = "test accuracy", .dataset_type = TBW_DATASET_VALIDATION}};
    tbw_writer *root;
    char msg[512];
    if (tbw_writer_open(&root, logdir, NULL, msg, sizeof msg)) {
        fprintf(stderr, "error: %s\n", msg);
        return 1;
    }
    int rc = tbw_hparams_experiment(root, hp, 3, metrics, 3, "The lecture's sweep: learning rate x conv x fc layers", 0);
    if (rc) {
        fprintf(stderr, "error: %s\n", tbw_writer_errmsg(root));
        tbw_writer_close(root);
        return 1;
    }
    if (tbw_writer_close(root)) {
        fprintf(stderr, "error: writing the experiment failed\n");
        return 1;
    }
    printf("%-22s %8s %8s %8s\n", "run", "accuracy", "test acc", "seconds");
    for (int li = 0; li < 3; li++)
        for (int conv = 1; conv <= 2; conv++)
            for (int fc = 1; fc <= 2; fc++) {
                char name[64], run[4096];
                snprintf(name, sizeof name, "lr_%.0Econv%dfc%d", lrs[li], conv, fc);
                snprintf(run, sizeof run, "%s/%s", logdir, name);
                train_opts ro = o;
                ro.lr = lrs[li];
                ro.conv_layers = conv;
                ro.fc_layers = fc;
                if (o.progress)
                    fprintf(stderr, "== %s\n", name);
                train_result r;
                if (train_run(&ro, run, &r)) {
                    fprintf(stderr, "error: run %s failed\n", name);
                    return 1;
                }
                printf("%-22s %8.4f %8.4f %8.1f\n", name, r.train_accuracy, r.test_accuracy, r.seconds);
                fflush(stdout);
            }
    printf("12 runs in %s — compare them with: tensorboard --logdir %s\n", logdir, logdir);
    return 0;
}
