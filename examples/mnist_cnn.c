/*
 * mnist_cnn: trains the lecture's convolutional network on Fashion-MNIST (or
 * MNIST) and logs everything TensorBoard shows: scalars, input images,
 * per-layer histograms and distributions, the graph, the conv1 filters, the
 * embedding projector and hparams; checkpoints let a killed run resume.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "train.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnist_cnn --logdir DIR [options]\n"
            "\n"
            "Trains conv(5x5x32)-pool [-conv(5x5x64)-pool] - fc(1024) - fc(10) with Adam and logs\n"
            "to DIR for TensorBoard (tensorboard --logdir DIR).\n"
            "\n"
            "  --logdir DIR          run directory for the event files, checkpoint and projector (required)\n"
            "  --data DIR            MNIST-format data (default %s,\n"
            "                        from Debian's dataset-fashion-mnist); *.gz or plain IDX files\n"
            "  --steps N             training steps (default 2000)\n"
            "  --batch B             batch size (default 100)\n"
            "  --lr X                Adam learning rate (default 1e-4)\n"
            "  --lr-final X          decay the rate along a cosine to X at the last step\n"
            "                        (default: constant); logged as learning_rate\n"
            "  --conv 1|2            convolutional layers (default 2)\n"
            "  --conv-algo A         auto (default), winograd, direct or im2col: how the conv layers\n"
            "                        compute; auto takes Winograd for conv2 on an AVX-512 or AVX2\n"
            "                        CPU, direct (AVX-512 only) or im2col elsewhere\n"
            "                        (TBW_NO_AVX512=1 TBW_NO_AVX2=1: im2col on OpenBLAS only)\n"
            "  --fc 1|2              fully connected layers (default 2)\n"
            "  --dropout R           dropout rate on fc1, 0..0.9 (default 0: none)\n"
            "  --summary-every K     log scalars and 3 input images every K steps (default 5, as in the\n"
            "                        lecture); 0 turns all summaries off\n"
            "  --histogram-every H   per-layer histograms every H steps, on a summary step (default 20:\n"
            "                        100 points over 2000 steps, what TensorBoard keeps per tag; 0: every K)\n"
            "  --embed N             projector points from the test set (default 1024; 0: none)\n"
            "  --seed S              seed for initialisation, shuffling and dropout (default 1)\n"
            "  --checkpoint-every N  save DIR/model.ckpt every N steps (default 500; 0: never)\n"
            "  --resume              continue from DIR/model.ckpt; TensorBoard drops the points the\n"
            "                        interrupted run logged after it\n"
            "  --threads T           threads for OpenBLAS and the engine (default: all cores)\n"
            "  --limit-train N       use N training images per epoch (default: all); for quick runs\n"
            "  --limit-test N        evaluate on N test images (default: all 10000)\n"
            "  --classes NAMES       projector labels: fashion (Fashion-MNIST class names) or digits;\n"
            "                        default: fashion when the data path contains \"fashion\"\n"
            "  --quiet               no progress output\n"
            "  --rank-scalars        under mpirun: each rank also logs system/step_ms, system/allreduce_ms\n"
            "                        and system/images_per_sec into DIR/rank<r>\n"
            "  --help                this text\n"
            "\n"
            "Data parallel (a build with -Dmpi=enabled): mpirun -np K mnist_cnn --logdir DIR ... splits\n"
            "each global --batch across the K ranks, sums the gradients with one allreduce per step,\n"
            "and rank 0 alone writes DIR; --threads defaults to the cores / ranks on the machine.\n"
            "See docs/distributed.md.\n"
            "\n"
            "Logged: cross_entropy and accuracy (training batch) every K steps; test/accuracy and\n"
            "test/cross_entropy every epoch and at the end; images 'input' every K steps; histograms\n"
            "<layer>/weights, <layer>/biases, <layer>/activations for conv1, conv2, fc1, fc2; the graph;\n"
            "conv1/filters every 100 steps; the projector (fc1 activations, class labels, 28x28 sprite).\n"
            "Exit status: 0 done, 1 failed, 2 bad command line.\n",
            TRAIN_DEFAULT_DATA);
}

/* Parses the command line and checks the run directory; 0 to train, else the exit status. */
static int setup(int argc, char **argv, train_opts *op, const char **logdir_out);

int main(int argc, char **argv)
{
    train_dist dist;
    int rc = dist_start(&argc, &argv, &dist);
    if (rc)
        return rc;
    train_opts o = TRAIN_OPTS_INIT;
    const char *logdir = NULL;
    rc = setup(argc, argv, &o, &logdir);
    if (rc < 0) { /* --help */
        dist_stop(&dist);
        return 0;
    }
    /* A bad flag or a used --logdir on any rank stops every rank, each with the status. */
    int any = dist.agree(rc);
    if (any) {
        if (!rc && dist.rank == 0)
            fprintf(stderr, "error: another rank refused its command line (its message is above)\n");
        dist_stop(&dist);
        return rc ? rc : any;
    }
    if (dist.size > 1)
        o.dist = &dist;
    train_result r;
    rc = train_run(&o, logdir, &r);
    if (!rc && dist.rank == 0) {
        printf("test accuracy %.4f (cross-entropy %.4f) after %ld steps; %.1f s, %.0f images/s; logging %.2f s "
               "(%.1f%%)\n",
               r.test_accuracy, r.test_loss, r.first_step + r.steps_done, r.seconds, r.images_per_s,
               r.logging_seconds, r.seconds > 0 ? 100 * r.logging_seconds / r.seconds : 0);
        if (dist.size > 1 && r.steps_done) {
            double k = 1000.0 / (double)r.steps_done;
            printf("%d ranks, per step: compute %.2f ms, wait %.2f ms, allreduce %.2f ms\n", dist.size,
                   (r.step_seconds - r.wait_seconds - r.allreduce_seconds) * k, r.wait_seconds * k,
                   r.allreduce_seconds * k);
        }
        printf("logs in %s — view them with: tensorboard --logdir %s\n", logdir, logdir);
    }
    dist_stop(&dist);
    return rc ? 1 : 0;
}

static int setup(int argc, char **argv, train_opts *op, const char **logdir_out)
{
    train_opts o = *op;
    o.data_dir = TRAIN_DEFAULT_DATA;
    const char *logdir = NULL;
    enum { O_LOGDIR = 256, O_LR, O_LRF, O_CONV, O_ALGO, O_FC, O_DROPOUT, O_CKPT, O_RESUME, O_CLASSES, O_RANKS, O_HELP };
    static const struct option longopts[] = {
        {"logdir", required_argument, NULL, O_LOGDIR},   {"lr", required_argument, NULL, O_LR},
        {"lr-final", required_argument, NULL, O_LRF},
        {"conv", required_argument, NULL, O_CONV},       {"fc", required_argument, NULL, O_FC},
        {"conv-algo", required_argument, NULL, O_ALGO},
        {"dropout", required_argument, NULL, O_DROPOUT}, {"checkpoint-every", required_argument, NULL, O_CKPT},
        {"resume", no_argument, NULL, O_RESUME},         {"classes", required_argument, NULL, O_CLASSES},
        {"rank-scalars", no_argument, NULL, O_RANKS},
        {"help", no_argument, NULL, O_HELP},             TRAIN_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    int c;
    long v;
    double d;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int common = train_common_option(&o, c, optarg);
        if (common < 0)
            return 2;
        if (common)
            continue;
        switch (c) {
        case O_LOGDIR: logdir = optarg; break;
        case O_LR: if (!cli_double("--lr", optarg, 1e-9, 10, &d)) return 2; o.lr = d; break;
        case O_LRF: if (!cli_double("--lr-final", optarg, 1e-9, 10, &d)) return 2; o.lr_final = d; break;
        case O_CONV: if (!cli_long("--conv", optarg, 1, 2, &v)) return 2; o.conv_layers = (int)v; break;
        case O_ALGO: {
            static const char *const names[] = {"auto", "im2col", "direct", "winograd"};
            int k = 0;
            while (k < 4 && strcmp(optarg, names[k]) != 0)
                k++;
            if (k == 4) {
                fprintf(stderr, "error: --conv-algo takes auto, winograd, direct or im2col, not '%s'\n", optarg);
                return 2;
            }
            o.conv_algo = k; /* the names are in cnn_conv_algo's order */
            break;
        }
        case O_FC: if (!cli_long("--fc", optarg, 1, 2, &v)) return 2; o.fc_layers = (int)v; break;
        case O_DROPOUT: if (!cli_double("--dropout", optarg, 0, 0.9, &d)) return 2; o.dropout = (float)d; break;
        case O_CKPT: if (!cli_long("--checkpoint-every", optarg, 0, 100000000, &v)) return 2; o.checkpoint_every = v; break;
        case O_RESUME: o.resume = true; break;
        case O_RANKS: o.rank_scalars = true; break;
        case O_CLASSES:
            if (strcmp(optarg, "fashion") == 0)
                o.classes = 1;
            else if (strcmp(optarg, "digits") == 0)
                o.classes = 2;
            else {
                fprintf(stderr, "error: --classes takes fashion or digits, not '%s'\n", optarg);
                return 2;
            }
            break;
        case O_HELP: usage(stdout); return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!logdir || !logdir[0]) {
        fprintf(stderr, "error: --logdir DIR is required (try --help)\n");
        return 2;
    }
    if (!o.resume && train_dir_has_run(logdir)) {
        /* A second run in the same directory would interleave with the first in TensorBoard. */
        fprintf(stderr, "error: %s already holds a run; continue it with --resume, or choose another --logdir\n",
                logdir);
        return 2;
    }
    *op = o;
    *logdir_out = logdir;
    return 0;
}
