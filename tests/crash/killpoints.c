/*
 * Crash consistency, measured: kills a worker with SIGKILL at random points during real work and
 * checks what it leaves behind.
 *
 *   killpoints [--kills N] [--seed S] [--inspect PATH] [--dir DIR] [--mnist PATH]
 *
 * The kills cycle through five kinds of work, each in a fresh directory:
 *   foreground   a foreground writer logging scalars, flushing every 7 events
 *   background   the same with a background writer
 *   rotation     a foreground writer with 2 KiB files, so kills land in file switches
 *   projector    tbw_projector_add of one embedding, again and again, each version distinct
 *   checkpoint   a training step and cnn_model_save, again and again
 *   training     mnist_cnn (with --mnist PATH) on small 12x12 IDX data, checkpointing every 5 steps
 * The worker reports each completed flush, add or save on a pipe before going on; the kill comes
 * after a random delay of 0-40 ms. Afterwards:
 *   writers      every step a flush reported is in the files exactly once, no record is corrupt
 *                (a torn last record is allowed: it was never reported), and tbw-inspect --check
 *                (if given) passes;
 *   projector    the config names the embedding and its tensors are one whole version: the last
 *                reported one or the one being written, never a mix or a torn file;
 *   checkpoint   the file loads, and its step is the last reported save or the one being written;
 *   training     mnist_cnn --resume finishes the run (or, killed before its first checkpoint,
 *                refuses to mix runs, as documented), and tbw-inspect --check passes.
 * Prints one line per kind and "N passed, N failed" (one per kill) last.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tbw/cnn.h>
#include <tbw/tbw.h>

enum { FOREGROUND, BACKGROUND, ROTATION, PROJECTOR, CHECKPOINT, TRAINING, KINDS };
static const char *const kind_name[KINDS] = {"foreground", "background", "rotation", "projector", "checkpoint",
                                             "training"};

static void report(int fd, int64_t v)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(3);
}

/* ---- the workers (children; they run until killed) ---- */

static void work_writer(const char *dir, int kind, int fd)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = kind == BACKGROUND;
    o.max_queue = 1000000;
    o.flush_secs = 1e9;
    if (kind == ROTATION)
        o.max_file_bytes = 2048;
    tbw_writer *w;
    char msg[256];
    if (tbw_writer_open(&w, dir, &o, msg, sizeof msg))
        _exit(4);
    for (int64_t i = 0;; i++) {
        if (tbw_scalar(w, "x", i, (double)i))
            _exit(5);
        if (i % 7 == 6) {
            if (tbw_writer_flush(w))
                _exit(6);
            report(fd, i + 1); /* steps 0..i are on disk */
        }
    }
}

#define EMB_N 64
#define EMB_D 8

static void work_projector(const char *dir, int fd)
{
    static float data[EMB_N * EMB_D];
    for (int64_t v = 1;; v++) {
        for (int i = 0; i < EMB_N * EMB_D; i++)
            data[i] = (float)v;
        tbw_embedding e = {.tensor_name = "e", .data = data, .n = EMB_N, .d = EMB_D};
        char msg[256];
        if (tbw_projector_add(dir, &e, msg, sizeof msg))
            _exit(7);
        report(fd, v);
    }
}

static cnn_model *small_model(void)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = 1;
    cnn_model *m;
    if (cnn_model_create(&m, 1, 8, 8, &mo, NULL, 0))
        return NULL;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 64;
    if (cnn_model_add_flatten(m, "flat") || cnn_model_add_dense(m, "fc", &d) || cnn_model_build(m, 4)) {
        cnn_model_free(m);
        return NULL;
    }
    return m;
}

static void work_checkpoint(const char *dir, int fd)
{
    cnn_model *m = small_model();
    if (!m)
        _exit(8);
    float x[4 * 64];
    for (int i = 0; i < 4 * 64; i++)
        x[i] = (float)(i % 13) / 13;
    const int32_t y[4] = {1, 2, 3, 4};
    char path[2048];
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    for (;;) {
        if (cnn_model_train_step(m, x, y, 4, NULL, NULL) || cnn_model_save(m, path))
            _exit(9);
        report(fd, cnn_model_step_count(m));
    }
}

static const char *mnist, *data_dir;

static char **train_argv(const char *dir, bool resume)
{
    static char *argv[32];
    int k = 0;
    argv[k++] = (char *)mnist;
    const char *fixed[] = {"--data", data_dir, "--steps", "30", "--batch", "8", "--checkpoint-every", "5",
                           "--summary-every", "1", "--embed", "16", "--threads", "1", "--quiet", "--logdir"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[k++] = (char *)fixed[i];
    argv[k++] = (char *)dir;
    if (resume)
        argv[k++] = "--resume";
    argv[k] = NULL;
    return argv;
}

static void work_training(const char *dir)
{
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execv(mnist, train_argv(dir, false));
    _exit(11);
}

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* 64 training and 32 test images of 12x12, in MNIST's file layout. */
static void write_data(const char *dir)
{
    mkdir(dir, 0777);
    const char *prefix[2] = {"train", "t10k"};
    for (int s = 0; s < 2; s++) {
        uint32_t n = s ? 32 : 64;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix[s]);
        FILE *f = fopen(path, "wb");
        put_be32(f, 0x803), put_be32(f, n), put_be32(f, 12), put_be32(f, 12);
        for (uint32_t i = 0; i < n * 144; i++)
            fputc((int)((i * 7 + (i / 144) % 10 * 20) & 0xFF), f);
        fclose(f);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix[s]);
        f = fopen(path, "wb");
        put_be32(f, 0x801), put_be32(f, n);
        for (uint32_t i = 0; i < n; i++)
            fputc((int)(i % 10), f);
        fclose(f);
    }
}

/* ---- the checks (parent) ---- */

static bool run_inspect(const char *inspect, const char *dir);

static bool check_writer(const char *dir, int64_t reported, const char *inspect, char *why, size_t cap)
{
    static unsigned char seen[1 << 22];
    memset(seen, 0, sizeof seen);
    DIR *d = opendir(dir);
    if (!d)
        return snprintf(why, cap, "cannot list %.300s", dir), false;
    struct dirent *de;
    bool ok = true;
    int files = 0;
    while (ok && (de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, "tfevents"))
            continue;
        files++;
        char path[2048], msg[256];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        tbw_reader *r;
        if (tbw_reader_open(&r, path, msg, sizeof msg)) {
            snprintf(why, cap, "%s", msg);
            ok = false;
            break;
        }
        const tbw_event *ev;
        int rc;
        while ((rc = tbw_reader_next(r, &ev)) == 1)
            for (size_t i = 0; i < ev->n_values; i++)
                if (ev->step >= 0 && ev->step < (int64_t)sizeof seen && seen[ev->step]++ && ok) {
                    snprintf(why, cap, "step %lld appears twice", (long long)ev->step);
                    ok = false;
                }
        if (rc != 0 && rc != TBW_ETRUNCATED && ok) {
            snprintf(why, cap, "%s", tbw_reader_errmsg(r));
            ok = false;
        }
        tbw_reader_close(r);
    }
    closedir(d);
    for (int64_t s = 0; ok && s < reported; s++)
        if (!seen[s]) {
            snprintf(why, cap, "step %lld was reported flushed but is missing (%lld reported)", (long long)s,
                     (long long)reported);
            ok = false;
        }
    if (ok && inspect && files && !run_inspect(inspect, dir)) { /* no file: killed before the writer made one */
        snprintf(why, cap, "tbw-inspect --check %.300s failed", dir);
        ok = false;
    }
    return ok;
}

static bool run_inspect(const char *inspect, const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(inspect, inspect, "--check", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool check_projector(const char *dir, int64_t reported, char *why, size_t cap)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/projector_config.pbtxt", dir);
    FILE *f = fopen(path, "r");
    if (!f) /* killed before the first add finished */
        return reported == 0 ? true : (snprintf(why, cap, "no config after %lld adds", (long long)reported), false);
    char cfg[8192];
    size_t n = fread(cfg, 1, sizeof cfg - 1, f);
    fclose(f);
    cfg[n] = '\0';
    char rel[512];
    const char *tp = strstr(cfg, "tensor_path: \"");
    if (!strstr(cfg, "tensor_name: \"e\"") || !tp || sscanf(tp + 14, "%511[^\"]", rel) != 1)
        return snprintf(why, cap, "torn config: %.200s", cfg), false;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    f = fopen(path, "r");
    if (!f)
        return snprintf(why, cap, "the config names %.300s, which is missing", rel), false;
    long rows = 0, version = -1;
    bool same = true;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        rows++;
        char *p = line;
        for (int c = 0; c < EMB_D; c++) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                same = false;
            if (version < 0)
                version = v;
            same &= v == version;
            p = end;
        }
    }
    fclose(f);
    if (rows != EMB_N || !same)
        return snprintf(why, cap, "torn tensors: %ld rows, %s", rows, same ? "one version" : "mixed versions"), false;
    if (version != reported && version != reported + 1)
        return snprintf(why, cap, "version %ld on disk, %lld reported", version, (long long)reported), false;
    return true;
}

static bool check_checkpoint(const char *dir, int64_t reported, char *why, size_t cap)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return reported == 0 ? true : (snprintf(why, cap, "no checkpoint after %lld saves", (long long)reported), false);
    cnn_model *m = small_model();
    if (!m)
        return snprintf(why, cap, "cannot build the model"), false;
    int rc = cnn_model_load(m, path);
    int64_t step = cnn_model_step_count(m);
    bool ok = rc == 0 && (step == reported || step == reported + 1);
    if (!ok)
        snprintf(why, cap, "%s", rc ? cnn_model_errmsg(m) : "unexpected step");
    if (rc == 0 && !ok)
        snprintf(why, cap, "step %lld on disk, %lld reported", (long long)step, (long long)reported);
    cnn_model_free(m);
    return ok;
}

static bool check_training(const char *dir, const char *inspect, char *why, size_t cap)
{
    char out_path[1200];
    snprintf(out_path, sizeof out_path, "%s/resume.out", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(mnist, train_argv(dir, true));
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    char out[4096] = "";
    FILE *f = fopen(out_path, "r");
    if (f) {
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    unlink(out_path);
    char ckpt[1200];
    snprintf(ckpt, sizeof ckpt, "%s/model.ckpt", dir);
    struct stat sb;
    bool has_ckpt = stat(ckpt, &sb) == 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (!has_ckpt && strstr(out, "has no checkpoint to resume from"))
            return true; /* killed before the first checkpoint: refusing to mix runs is right */
        return snprintf(why, cap, "resume failed: %.400s", out), false;
    }
    if (inspect && !run_inspect(inspect, dir))
        return snprintf(why, cap, "tbw-inspect --check fails after the resumed run"), false;
    return true;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv)
{
    long kills = 1000;
    const char *inspect = NULL, *base = NULL;
    static const struct option longopts[] = {{"kills", required_argument, NULL, 'k'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"inspect", required_argument, NULL, 'i'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {"mnist", required_argument, NULL, 'm'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': kills = strtol(optarg, NULL, 10); break;
        case 's': rng_state = strtoull(optarg, NULL, 10) * 2654435761u + 1; break;
        case 'i': inspect = optarg; break;
        case 'd': base = optarg; break;
        case 'm': mnist = optarg; break;
        default:
            fprintf(stderr, "usage: killpoints [--kills N] [--seed S] [--inspect PATH] [--dir DIR] [--mnist PATH]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/tbw-killpoints-XXXXXX";
    if (!base && !(base = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 2;
    }
    long pass[KINDS] = {0}, fail[KINDS] = {0}, landed[KINDS] = {0};
    static char data[1100];
    snprintf(data, sizeof data, "%s/_data", base);
    data_dir = data;
    if (mnist)
        write_data(data);
    const int nkinds = mnist ? KINDS : TRAINING;
    for (long k = 0; k < kills; k++) {
        int kind = (int)(k % nkinds);
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s-%ld", base, kind_name[kind], k);
        mkdir(dir, 0777);
        int fds[2];
        if (pipe(fds) != 0) {
            perror("pipe");
            return 2;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            if (kind <= ROTATION)
                work_writer(dir, kind, fds[1]);
            else if (kind == PROJECTOR)
                work_projector(dir, fds[1]);
            else if (kind == CHECKPOINT)
                work_checkpoint(dir, fds[1]);
            else
                work_training(dir);
            _exit(10);
        }
        close(fds[1]);
        uint64_t ns = next_rand() % (kind == TRAINING ? 800000000ull : 40000000ull);
        struct timespec d = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        int64_t v, reported = 0;
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
            reported = v;
        close(fds[0]);
        char why[512] = "";
        bool ok;
        if (kind == TRAINING) {
            landed[kind] += WIFSIGNALED(st);
            ok = check_training(dir, inspect, why, sizeof why);
        } else if (!WIFSIGNALED(st)) {
            snprintf(why, sizeof why, "the worker exited by itself with status %d", WEXITSTATUS(st));
            ok = false;
        } else if (kind <= ROTATION) {
            ok = check_writer(dir, reported, inspect, why, sizeof why);
        } else if (kind == PROJECTOR) {
            ok = check_projector(dir, reported, why, sizeof why);
        } else {
            ok = check_checkpoint(dir, reported, why, sizeof why);
        }
        landed[kind] += kind != TRAINING && reported > 0;
        if (ok) {
            pass[kind]++;
            char cmd[1200];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
            if (system(cmd) != 0)
                fprintf(stderr, "killpoints: cannot remove %s\n", dir);
        } else {
            fail[kind]++;
            fprintf(stderr, "FAIL %s kill %ld (%lld reported): %s (left in %s)\n", kind_name[kind], k,
                    (long long)reported, why, dir);
        }
    }
    long p = 0, f = 0;
    for (int kind = 0; kind < nkinds; kind++) {
        printf("%-10s %ld kills: %ld consistent, %ld not (%ld %s)\n", kind_name[kind], pass[kind] + fail[kind],
               pass[kind], fail[kind], landed[kind],
               kind == TRAINING ? "killed mid-run" : "after at least one reported flush/add/save");
        p += pass[kind];
        f += fail[kind];
    }
    if (base == tmp && f == 0) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "killpoints: cannot remove %s\n", tmp);
    }
    printf("%ld passed, %ld failed\n", p, f);
    return f ? 1 : 0;
}
