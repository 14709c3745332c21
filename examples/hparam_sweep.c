/*
 * hparam_sweep: the lecture's experiment, learning rates {1E-3, 1E-4, 1E-5} x
 * conv layers {1, 2} x fc layers {1, 2} = 12 runs, each in its own run
 * directory (lr_1E-03conv2fc2, ...) with everything mnist_cnn logs plus its
 * hparams session, and the experiment (hparams and metrics) at the root, so
 * the Scalars, Graphs and HParams tabs compare the 12 runs.
 *
 * Any number of worker processes may share one sweep directory, started by
 * mpirun, a Slurm job array, GNU parallel or a shell loop, on one host or
 * several over a shared filesystem: each claims runs through
 * <logdir>/.claims (claim.h), so every run is trained by exactly one process
 * and the experiment is written once. No MPI library is needed.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tbw/tbw.h>

#include "claim.h"
#include "cli.h"
#include "train.h"

#define SWEEP_RUNS 12
#define SWEEP_EXPERIMENT "experiment" /* the claim name of the root's experiment summary */

static const double sweep_lrs[3] = {1e-3, 1e-4, 1e-5};

/* One configuration. index is the canonical one (--index, the order of the original loop):
   index = li*4 + (conv-1)*2 + (fc-1). */
typedef struct sweep_run {
    int index, li, conv, fc;
    char name[32];
} sweep_run;

static sweep_run sweep_run_at(int index)
{
    sweep_run r = {.index = index, .li = index / 4, .conv = (index / 2) % 2 + 1, .fc = index % 2 + 1};
    snprintf(r.name, sizeof r.name, "lr_%.0Econv%dfc%d", sweep_lrs[r.li], r.conv, r.fc);
    return r;
}

/* The k-th run to try, largest first: forward FLOPs are conv2fc2 : conv2fc1 : conv1fc2 : conv1fc1
   = 1 : 0.77 : 0.32 : 0.09, and greedy largest-first claiming keeps K workers within a few percent
   of the ideal finish where canonical order leaves the big runs for last. */
static int sweep_cost_order(int k)
{
    static const int shapes[4][2] = {{2, 2}, {2, 1}, {1, 2}, {1, 1}};
    int conv = shapes[k / 3][0], fc = shapes[k / 3][1], li = k % 3;
    return li * 4 + (conv - 1) * 2 + (fc - 1);
}

/* dir/name into buf; false (after a message) if it does not fit. */
static bool path_join(char *buf, size_t n, const char *dir, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n) {
        fprintf(stderr, "error: path too long: %s/%s\n", dir, name);
        return false;
    }
    return true;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hparam_sweep [--logdir DIR] [options]\n"
            "\n"
            "Trains the 12 configurations of the lecture's sweep into DIR (default: log), one run\n"
            "directory each, named like lr_1E-03conv2fc2, and the experiment for the HParams tab\n"
            "at its root. Any number of workers may share DIR: each claims runs through\n"
            "DIR/.claims (largest first) and trains every run it claims, so every run is\n"
            "trained by exactly one process and the workers balance themselves.\n"
            "\n"
            "  --logdir DIR          where the runs go (default log)\n"
            "  --index I[,J,...]     train exactly these runs, 0..11: index = lr*4 + (conv-1)*2 + (fc-1)\n"
            "                        with lr 0,1,2 for 1E-03, 1E-04, 1E-05 (0: lr_1E-03conv1fc1,\n"
            "                        11: lr_1E-05conv2fc2); a run claimed by another worker is skipped\n"
            "  --resume              also take over runs that are claimed but not done because their\n"
            "                        worker died or failed, continuing from their checkpoints; runs\n"
            "                        whose worker is still alive, and done runs, are skipped\n"
            "  --checkpoint-every N  save each run's checkpoint every N steps (default 500; 0: never,\n"
            "                        then --resume starts a broken run again from step 0)\n"
            "  --data DIR            MNIST-format data (default %s)\n"
            "  --steps N             training steps per run (default 2000, as in the lecture)\n"
            "  --batch B             batch size (default 100)\n"
            "  --summary-every K     scalars and images every K steps (default 5)\n"
            "  --histogram-every H   histograms every H steps (default 20)\n"
            "  --embed N             projector points per run (default 1024; 0: none)\n"
            "  --seed S              seed (default 1)\n"
            "  --threads T           threads per worker (default: cores / workers on this host, from\n"
            "                        OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS, SLURM_NTASKS_PER_NODE\n"
            "                        or SLURM_TASKS_PER_NODE; all cores if none is set, so pass it\n"
            "                        with GNU parallel, xargs -P and shell loops)\n"
            "  --limit-train N       training images per epoch (default: all)\n"
            "  --limit-test N        test images (default: all)\n"
            "  --quiet               no progress output\n"
            "  --help                this text\n"
            "\n"
            "Launching K workers (all on the same DIR; add --resume to finish a broken sweep):\n"
            "  mpirun -np K build/examples/hparam_sweep --logdir DIR\n"
            "  parallel -j K build/examples/hparam_sweep --logdir DIR --threads T --index {} ::: {0..11}\n"
            "  sbatch --array=0-11%%K --wrap 'build/examples/hparam_sweep --logdir DIR --index $SLURM_ARRAY_TASK_ID'\n"
            "  for i in $(seq K); do build/examples/hparam_sweep --logdir DIR --threads T & done; wait\n"
            "\n"
            "Exit status: 0 every run this worker claimed succeeded (also when there was nothing\n"
            "left to claim), 1 a run failed (it keeps its claim, so --resume retries it), 2 bad\n"
            "command line or DIR holds runs that are not a sweep in progress.\n",
            TRAIN_DEFAULT_DATA);
}

/* A positive worker count from the environment, parsed strictly: a malformed value is ignored
   rather than trusted. With first_of_list, SLURM_TASKS_PER_NODE's form "2(x3),1" gives its first
   number. */
static bool env_count(const char *var, bool first_of_list, long *out)
{
    const char *s = getenv(var);
    if (!s || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || v < 1 || v > 1000000)
        return false;
    if (*end && !(first_of_list && (*end == '(' || *end == ',')))
        return false;
    *out = v;
    return true;
}

/* Threads per worker: the cores shared among this host's workers, so K local workers do not
   oversubscribe the machine K times over. Never less than 1. */
static int sweep_default_threads(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN), local;
    if (cores < 1)
        cores = 1;
    if (!env_count("OMPI_COMM_WORLD_LOCAL_SIZE", false, &local) && !env_count("MPI_LOCALNRANKS", false, &local) &&
        !env_count("SLURM_NTASKS_PER_NODE", false, &local) && !env_count("SLURM_TASKS_PER_NODE", true, &local))
        local = 1;
    long t = cores / local;
    if (t < 1)
        t = 1;
    if (t > 256) /* --threads' limit */
        t = 256;
    return (int)t;
}

/* Appends the indices of "I[,J,...]" to list (duplicates dropped). false after printing a message. */
static bool parse_indices(const char *arg, int *list, int *n)
{
    const char *p = arg;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char tok[32];
        long v;
        if (len == 0 || len >= sizeof tok) {
            fprintf(stderr, "error: --index needs run numbers from 0 to %d separated by commas, not '%s'\n",
                    SWEEP_RUNS - 1, arg);
            return false;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (!cli_long("--index", tok, 0, SWEEP_RUNS - 1, &v))
            return false;
        bool seen = false;
        for (int i = 0; i < *n; i++)
            seen = seen || list[i] == (int)v;
        if (!seen)
            list[(*n)++] = (int)v;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

/* Whether logdir holds runs: event files at its root or in a subdirectory, or a directory named
   like one of the sweep's runs. */
static bool holds_runs(const char *logdir)
{
    if (train_dir_has_run(logdir))
        return true;
    DIR *d = opendir(logdir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".claims")))
            continue;
        char sub[4096];
        struct stat st;
        if (!path_join(sub, sizeof sub, logdir, de->d_name) || stat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        found = train_dir_has_run(sub);
        for (int i = 0; !found && i < SWEEP_RUNS; i++)
            found = !strcmp(de->d_name, sweep_run_at(i).name);
    }
    closedir(d);
    return found;
}

/* The experiment at the root: what the HParams tab offers to filter and plot. Its writer is
   closed before this returns, so the root's file is complete before any training starts. */
static int write_experiment(const char *logdir)
{
    static const double layers[2] = {1, 2};
    tbw_hparam_info hp[3] = {
        {.name = "lr", .display_name = "learning rate", .type = TBW_HPARAM_FLOAT, .n_values = 3, .numbers = sweep_lrs},
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
    return 0;
}

/* The first worker to claim the experiment writes it; the others leave it alone. 0 or 1. */
static int sweep_experiment(const char *logdir, bool resume)
{
    claim c = CLAIM_INIT;
    char err[1024];
    claim_status s = claim_try(&c, logdir, SWEEP_EXPERIMENT, err, sizeof err);
    if (s == CLAIM_TAKEN && resume) /* its writer died before finishing it */
        s = claim_take_over(&c, logdir, SWEEP_EXPERIMENT, err, sizeof err);
    if (s == CLAIM_ERROR) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (s != CLAIM_OK)
        return 0;
    if (write_experiment(logdir)) {
        claim_release(&c); /* claimed without .done: --resume writes it again */
        return 1;
    }
    if (claim_done(&c, logdir, SWEEP_EXPERIMENT, "written", err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    return 0;
}

/* A run taken over from a dead worker continues from its checkpoint. Without one (it died before
   its first checkpoint) the run starts again, and its earlier event files must go: train_run
   refuses to mix a new start with them, and TensorBoard would show both. They move, with the
   whole run directory, to .claims/<run>.abandoned.<n>, and "tfevents" in their names becomes
   "abandoned" because TensorBoard loads every *tfevents* file under the logdir, hidden
   directories included; the bytes stay for whoever wants to look. Sets *from_ckpt. 0 or 1. */
static int set_aside_partial_run(const char *logdir, const sweep_run *r, int generation, bool *from_ckpt)
{
    char run[4096], ckpt[4096], dest[4096];
    struct stat st;
    *from_ckpt = false;
    if (!path_join(run, sizeof run, logdir, r->name) || !path_join(ckpt, sizeof ckpt, run, "model.ckpt"))
        return 1;
    *from_ckpt = stat(ckpt, &st) == 0;
    if (*from_ckpt || !train_dir_has_run(run))
        return 0;
    int k = snprintf(dest, sizeof dest, "%s/.claims/%s.abandoned.%d", logdir, r->name, generation);
    if (k < 0 || (size_t)k >= sizeof dest) {
        fprintf(stderr, "error: path too long: %s\n", logdir);
        return 1;
    }
    if (rename(run, dest) != 0) {
        fprintf(stderr, "error: cannot move the unfinished %s (no checkpoint) aside to %s: %s\n", run, dest,
                strerror(errno));
        return 1;
    }
    fprintf(stderr, "note: %s had no checkpoint; its events moved to %s, starting it again from step 0\n", run, dest);
    DIR *d = opendir(dest);
    if (!d) {
        fprintf(stderr, "error: cannot read %s: %s\n", dest, strerror(errno));
        return 1;
    }
    int ret = 0;
    struct dirent *de;
    while (!ret && (de = readdir(d)) != NULL) {
        const char *hit = strstr(de->d_name, "tfevents");
        if (!hit)
            continue;
        char from[4096], base[512], to[4096];
        int prefix = (int)(hit - de->d_name);
        int k2 = snprintf(base, sizeof base, "%.*sabandoned%s", prefix, de->d_name, hit + strlen("tfevents"));
        if (k2 < 0 || (size_t)k2 >= sizeof base || !path_join(from, sizeof from, dest, de->d_name) ||
            !path_join(to, sizeof to, dest, base)) {
            ret = 1;
            break;
        }
        if (rename(from, to) != 0) {
            fprintf(stderr, "error: cannot rename %s: %s\n", from, strerror(errno));
            ret = 1;
        }
    }
    closedir(d);
    return ret;
}

/* How the walk over the runs went for this worker. */
typedef struct sweep_tally {
    int trained, failed, skipped;
    bool header;
} sweep_tally;

/* Claims r (or, with resume, takes it over) and trains it. explicit_run: it was named by --index,
   so skipping it is worth a note. Returns 0, or 1 when the run failed or claiming broke. */
static int sweep_one(const train_opts *o, const char *logdir, const sweep_run *r, bool explicit_run, bool resume,
                     sweep_tally *t)
{
    char err[1024], holder[512];
    int done = claim_is_done(logdir, r->name, err, sizeof err);
    if (done < 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    claim c = CLAIM_INIT;
    claim_status s = done ? CLAIM_DONE : claim_try(&c, logdir, r->name, err, sizeof err);
    if (s == CLAIM_TAKEN && resume)
        s = claim_take_over(&c, logdir, r->name, err, sizeof err);
    if (s == CLAIM_ERROR) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (s != CLAIM_OK) {
        t->skipped++;
        /* Walking the list, skipping is the normal case and not worth a line; a run named by
           --index is, since the caller asked for it. */
        if (explicit_run) {
            claim_holder(logdir, r->name, holder, sizeof holder);
            const char *why = s == CLAIM_DONE   ? "is done already"
                              : s == CLAIM_BUSY ? "is being trained by"
                              : resume          ? "was just taken over by"
                                                : "is claimed by";
            fprintf(stderr, "note: %s (index %d) %s%s%s; skipped%s\n", r->name, r->index, why,
                    s == CLAIM_DONE ? "" : " ", s == CLAIM_DONE ? "" : (holder[0] ? holder : "another worker"),
                    s == CLAIM_TAKEN && !resume ? " (--resume takes over a run whose worker died or failed)" : "");
        }
        return 0;
    }
    char run[4096];
    if (!path_join(run, sizeof run, logdir, r->name)) {
        claim_release(&c);
        return 1;
    }
    train_opts ro = *o;
    ro.lr = sweep_lrs[r->li];
    ro.conv_layers = r->conv;
    ro.fc_layers = r->fc;
    ro.resume = false;
    if (c.generation > 0) {
        bool from_ckpt;
        if (set_aside_partial_run(logdir, r, c.generation, &from_ckpt)) {
            claim_release(&c);
            return 1;
        }
        ro.resume = from_ckpt;
        fprintf(stderr, "note: taking over %s (takeover %d)%s\n", r->name, c.generation,
                from_ckpt ? ", continuing from its checkpoint" : "");
    } else if (train_dir_has_run(run)) {
        /* Claimed just now, yet it holds events: a new run would be mixed with them. */
        fprintf(stderr, "error: %s holds event files but had no claim; move it away or pass --resume\n", run);
        claim_release(&c);
        return 1;
    }
    if (o->progress)
        fprintf(stderr, "== %s\n", r->name);
    train_result res;
    if (train_run(&ro, run, &res)) {
        fprintf(stderr, "error: run %s failed; it keeps its claim, so --resume retries it\n", r->name);
        claim_release(&c);
        return 1;
    }
    char note[128];
    snprintf(note, sizeof note, "test_accuracy=%.4f train_accuracy=%.4f seconds=%.1f", res.test_accuracy,
             res.train_accuracy, res.seconds);
    if (claim_done(&c, logdir, r->name, note, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (!t->header) {
        printf("%-22s %8s %8s %8s\n", "run", "accuracy", "test acc", "seconds");
        t->header = true;
    }
    printf("%-22s %8.4f %8.4f %8.1f\n", r->name, res.train_accuracy, res.test_accuracy, res.seconds);
    fflush(stdout);
    t->trained++;
    return 0;
}

/* How many of the sweep's runs are claimed and done, for the closing lines. */
static void count_claims(const char *logdir, int *claimed, int *done)
{
    char err[256];
    *claimed = *done = 0;
    for (int i = 0; i < SWEEP_RUNS; i++) {
        sweep_run r = sweep_run_at(i);
        *claimed += claim_is_claimed(logdir, r.name, err, sizeof err) == 1;
        *done += claim_is_done(logdir, r.name, err, sizeof err) == 1;
    }
}

int main(int argc, char **argv)
{
    train_opts o = TRAIN_OPTS_INIT;
    o.data_dir = TRAIN_DEFAULT_DATA;
    o.checkpoint_every = 500; /* --resume continues from it; one save per 500 steps costs little */
    const char *logdir = "log";
    bool resume = false;
    int indices[SWEEP_RUNS], n_indices = 0;
    bool have_index = false;
    long v;
    enum { O_LOGDIR = 256, O_HELP, O_INDEX, O_RESUME, O_CKPT };
    static const struct option longopts[] = {{"logdir", required_argument, NULL, O_LOGDIR},
                                             {"index", required_argument, NULL, O_INDEX},
                                             {"resume", no_argument, NULL, O_RESUME},
                                             {"checkpoint-every", required_argument, NULL, O_CKPT},
                                             {"help", no_argument, NULL, O_HELP},
                                             TRAIN_COMMON_LONGOPTS,
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
        case O_INDEX:
            if (!parse_indices(optarg, indices, &n_indices)) {
                usage(stderr); /* it says how the indices number the runs */
                return 2;
            }
            have_index = true;
            break;
        case O_RESUME: resume = true; break;
        case O_CKPT:
            if (!cli_long("--checkpoint-every", optarg, 0, 100000000, &v))
                return 2;
            o.checkpoint_every = v;
            break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !logdir[0]) {
        usage(stderr);
        return 2;
    }
    if (o.threads == 0)
        o.threads = sweep_default_threads();
    struct stat st;
    errno = 0;
    if (stat(o.data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        /* checked before claiming anything, so a typo does not leave every worker's first run
           claimed and failed */
        fprintf(stderr, "error: --data %s: %s\n", o.data_dir, errno ? strerror(errno) : "not a directory");
        return 2;
    }
    /* Runs without .claims are someone else's data. The order matters when workers start
       together: a worker creates .claims before it writes any event file, so looking for runs
       first and for .claims second never misses the .claims of runs it saw. */
    bool has_runs = holds_runs(logdir);
    if (has_runs && !claim_dir_exists(logdir)) {
        fprintf(stderr,
                "error: %s already holds runs; choose another --logdir for a new sweep (it has no .claims, so it "
                "is not a sweep in progress that this worker could join)\n",
                logdir);
        return 2;
    }
    char err[1024];
    if (claim_dir_create(logdir, err, sizeof err)) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (sweep_experiment(logdir, resume))
        return 1;

    sweep_tally t = {0};
    int ret = 0;
    int n = have_index ? n_indices : SWEEP_RUNS;
    for (int k = 0; k < n && !ret; k++) {
        sweep_run r = sweep_run_at(have_index ? indices[k] : sweep_cost_order(k));
        ret = sweep_one(&o, logdir, &r, have_index, resume, &t);
    }
    int claimed, done;
    count_claims(logdir, &claimed, &done);
    char id[512];
    claim_identity(id, sizeof id);
    char *when = strstr(id, " time=");
    if (when)
        *when = '\0'; /* who, not when */
    if (!ret && t.trained == 0 && !have_index)
        printf("nothing left to claim in %s: %d of %d runs claimed, %d done%s\n", logdir, claimed, SWEEP_RUNS, done,
               !resume && claimed > done ? "; --resume takes over runs whose worker died" : "");
    printf("this worker (%s) trained %d run%s%s\n", id, t.trained, t.trained == 1 ? "" : "s",
           ret ? " before a failure" : "");
    printf("%d of %d runs done%s in %s — compare them with: tensorboard --logdir %s\n", done, SWEEP_RUNS,
           done < SWEEP_RUNS ? " so far" : "", logdir, logdir);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "error: writing the output: %s\n", strerror(errno));
        return 1;
    }
    return ret;
}
