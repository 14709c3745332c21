/* Hostile input to the command-line programs: data of another shape, event files with plugins they
   do not know. Each program runs as a child process; its exit status and message are the checks. */
#include "hostile.h"

#include <limits.h>

#define HERE (__func__ + 5)

/* The program built at <build>/<rel>: from the environment (meson sets it), else beside this test. */
static const char *program(const char *env, const char *rel)
{
    static char path[PATH_MAX + 64];
    const char *p = getenv(env);
    if (p && *p)
        return p;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return rel;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(path, sizeof path, "%s/../../%s", self, rel);
    return path;
}

/* Runs argv with stdout and stderr into out (NUL-terminated, truncated to cap); returns the exit
   status, or 128 + the signal that ended it. */
static int run(char *const argv[], char *out, size_t cap)
{
    char tmpl[] = "/tmp/tbw-hostile-out-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    unlink(tmpl);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ssize_t got = pread(fd, out, cap - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    close(fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* run, with dir as the child's working directory: the paths a case passes stay short and relative, so
   no message is cut off by a long base directory. */
static unsigned run_limit_ = 120; /* seconds a program may run before SIGALRM ends it (exit 142) */

static int run_in(const char *dir, char *const argv[], char *out, size_t cap)
{
    char tmpl[] = "/tmp/tbw-hostile-out-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    unlink(tmpl);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(dir) != 0)
            _exit(126);
        alarm(run_limit_); /* kept across exec: a program that hangs is ended, and the case says so */
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ssize_t got = pread(fd, out, cap - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    close(fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* Writes <dir>/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte: n images of rows x cols, a
   gradient whose brightness depends on the label, so a few steps can learn something; each label is
   its class plus label_add. */
static void write_idx_labelled(const char *dir, const char *prefix, uint32_t n, uint32_t rows, uint32_t cols,
                               int label_add)
{
    char path[2048];
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    put_be32(f, 0x00000803);
    put_be32(f, n);
    put_be32(f, rows);
    put_be32(f, cols);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t p = 0; p < rows * cols; p++)
            fputc((int)((p * 7 + (i % 10) * 25) & 0xFF), f);
    CHECK_INT(0, fclose(f));
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    put_be32(f, 0x00000801);
    put_be32(f, n);
    for (uint32_t i = 0; i < n; i++)
        fputc((int)(i % 10) + label_add, f);
    CHECK_INT(0, fclose(f));
}

static void write_idx(const char *dir, const char *prefix, uint32_t n, uint32_t rows, uint32_t cols)
{
    write_idx_labelled(dir, prefix, n, rows, cols, 0);
}

static char *data_dir(const char *name)
{
    static char d[1200];
    snprintf(d, sizeof d, "%s/_data_%s", hostile_base_, name);
    return d;
}

TEST(mnist_cnn_trains_on_idx_images_that_are_not_28x28)
{
    char *data = data_dir(HERE);
    write_idx(data, "train", 64, 20, 36);
    write_idx(data, "t10k", 32, 20, 36);
    const char *run_dir = hostile_run(HERE);
    char *argv[] = {(char *)program("TBW_MNIST_CNN", "examples/mnist_cnn"), "--logdir", (char *)run_dir, "--data", data,
                    "--steps", "4", "--batch", "8", "--summary-every", "2", "--embed", "16",
                    "--checkpoint-every", "2", "--quiet", NULL};
    static char out[1 << 16];
    int st = run(argv, out, sizeof out);
    CHECK_INT(0, st);
    if (st)
        fprintf(stderr, "%s", out);
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, run_dir);
    int input_images = 0;
    for (int i = 0; i < e.n; i++)
        input_images += strcmp(e.pts[i].tag, "input") == 0;
    CHECK_INT(2, input_images); /* steps 0 and 2 */
    expect_write(&e);
    /* resumes from its checkpoint with the same shapes */
    char *again[] = {argv[0], "--logdir", (char *)run_dir, "--data", data, "--steps", "6", "--batch", "8",
                     "--summary-every", "2", "--embed", "0", "--resume", "--quiet", NULL};
    CHECK_INT(0, run(again, out, sizeof out));
    hostile_expect e2;
    expect_init(&e2, HERE);
    expect_from_events(&e2, run_dir);
    expect_write(&e2);
}

TEST(mnist_cnn_refuses_train_and_test_images_of_different_sizes)
{
    char *data = data_dir(HERE);
    write_idx(data, "train", 16, 20, 20);
    write_idx(data, "t10k", 16, 28, 28);
    char *argv[] = {(char *)program("TBW_MNIST_CNN", "examples/mnist_cnn"), "--logdir", (char *)hostile_run(HERE),
                    "--data", data, "--steps", "2", "--batch", "4", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run(argv, out, sizeof out));
    CHECK_STR_HAS(out, "the training images are 20x20 but the test images 28x28");
    expect_nothing(HERE);
}

TEST(mnist_cnn_refuses_a_header_that_claims_more_images_than_the_file_holds)
{
    char *data = data_dir(HERE);
    write_idx(data, "train", 16, 28, 28);
    write_idx(data, "t10k", 16, 28, 28);
    char path[2048];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", data);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 4, SEEK_SET);
        put_be32(f, 0xFFFFFFFFu / 784); /* ~5.4 M images, 4 GiB */
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", data);
    char *argv[] = {(char *)program("TBW_MNIST_CNN", "examples/mnist_cnn"), "--logdir", (char *)hostile_run(HERE),
                    "--data", data, "--steps", "2", "--batch", "4", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run(argv, out, sizeof out));
    CHECK_STR_HAS(out, "file truncated: the header declares");
    expect_nothing(HERE);
}

TEST(filters_runs_on_idx_images_that_are_not_28x28)
{
    char *data = data_dir(HERE);
    write_idx(data, "t10k", 8, 40, 24);
    const char *run_dir = hostile_run(HERE);
    char *argv[] = {(char *)program("TBW_FILTERS", "examples/filters"), "--logdir", (char *)run_dir, "--data", data,
                    "--images", "3", NULL};
    static char out[1 << 16];
    int st = run(argv, out, sizeof out);
    CHECK_INT(0, st);
    if (st)
        fprintf(stderr, "%s", out);
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, run_dir);
    CHECK_INT(9, e.n); /* input, and kernels + feature maps of 4 banks */
    expect_write(&e);
}

TEST(tbw_inspect_names_plugins_it_does_not_know)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    /* SummaryMetadata{plugin_data{plugin_name: "my_plugin_<i>"}}, a tensor value each */
    for (int i = 0; i < 40; i++) {
        uint8_t meta[64];
        char name[32], tag[32];
        int nl = snprintf(name, sizeof name, "my_plugin_%02d", i);
        meta[0] = 0x0A;
        meta[1] = (uint8_t)(nl + 2);
        meta[2] = 0x0A;
        meta[3] = (uint8_t)nl;
        memcpy(meta + 4, name, (size_t)nl);
        const uint8_t val[] = {0x42, 0x02, 0x08, 0x01}; /* tensor {dtype: DT_FLOAT} */
        snprintf(tag, sizeof tag, "t%02d", i);
        CHECK_RC(0, tbw_writer_write_value(w, tag, i, val, sizeof val, meta, (size_t)nl + 4), tbw_writer_errmsg(w));
    }
    CHECK_RC(0, tbw_writer_close(w), "close");
    char *argv[] = {(char *)program("TBW_INSPECT", "tools/tbw-inspect"), (char *)hostile_run(HERE), NULL};
    static char out[1 << 16];
    CHECK_INT(0, run(argv, out, sizeof out));
    for (int i = 0; i < 40; i++) {
        char want[64];
        snprintf(want, sizeof want, "t%02d", i);
        char *line = strstr(out, want);
        CHECK(line != NULL);
        snprintf(want, sizeof want, "my_plugin_%02d", i);
        char *eol = line ? strchr(line, '\n') : NULL;
        CHECK(line && eol && memmem(line, (size_t)(eol - line), want, strlen(want)) != NULL);
    }
    expect_nothing(HERE); /* TensorBoard has none of these plugins */
}

/* ---- refusals: each names what is wrong and how to go on, and writes nothing it should not ---- */

/* The case's run directory, made, with 16 training and 8 test images of 12x12 in its "data". */
static const char *run_with_data(const char *name, int label_add)
{
    const char *dir = hostile_run(name);
    mkdir(dir, 0777);
    static char data[1200];
    snprintf(data, sizeof data, "%s/data", dir);
    write_idx_labelled(data, "train", 16, 12, 12, label_add);
    write_idx_labelled(data, "t10k", 8, 12, 12, label_add);
    return dir;
}

#define MNIST_CNN (char *)program("TBW_MNIST_CNN", "examples/mnist_cnn")
#define HPARAM_SWEEP (char *)program("TBW_HPARAM_SWEEP", "examples/hparam_sweep")
#define TBW_INSPECT (char *)program("TBW_INSPECT", "tools/tbw-inspect")

TEST(mnist_cnn_refuses_a_logdir_through_a_regular_file_naming_it)
{
    expect_nothing(HERE);
    const char *dir = run_with_data(HERE, 0);
    char plain[1200];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    FILE *f = fopen(plain, "w");
    CHECK(f && fputs("a file", f) >= 0 && fclose(f) == 0);
    char *argv[] = {MNIST_CNN, "--logdir", "plain/run", "--data", "data", "--steps", "2", "--batch", "4",
                    "--embed", "0", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: cannot create directory plain/run: Not a directory");
    CHECK_INT(0, hostile_event_files(dir));
}

TEST(mnist_cnn_says_how_to_install_the_dataset_when_the_data_directory_is_missing)
{
    expect_nothing(HERE);
    const char *dir = hostile_run(HERE);
    mkdir(dir, 0777);
    char *argv[] = {MNIST_CNN, "--logdir", "run", "--data", "no-such-data", "--steps", "2", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "no MNIST-format train files (train-images-idx3-ubyte[.gz], "
                       "train-labels-idx1-ubyte[.gz]) in no-such-data");
    CHECK_STR_HAS(out, "sudo apt-get install dataset-fashion-mnist");
    CHECK_STR_HAS(out, "--data DIR");
    CHECK_INT(0, hostile_event_files(dir));
    CHECK(access("run", F_OK) != 0);
}

TEST(mnist_cnn_refuses_a_batch_larger_than_the_training_set)
{
    expect_nothing(HERE);
    const char *dir = run_with_data(HERE, 0);
    char *argv[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "2", "--batch", "32", "--embed",
                    "0", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: 16 training images are fewer than one batch of 32");
    CHECK_INT(0, hostile_event_files(dir));
}

TEST(mnist_cnn_refuses_labels_of_10_and_more_naming_the_file_before_it_logs)
{
    expect_nothing(HERE);
    /* The net has 10 classes. Labels 10..19 are the data's fault: the message should name the labels
       file (not a sample of a shuffled batch), and come before the run is started, so that the same
       --logdir still takes a new run once the data is fixed. */
    const char *dir = run_with_data(HERE, 10);
    char *argv[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "2", "--batch", "4", "--embed",
                    "0", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "data/train-labels-idx1-ubyte");
    CHECK_STR_HAS(out, "label 1");
    CHECK_INT(0, hostile_event_files(dir));
}

/* Trains 4 steps of the given --conv into the case's run, checkpointing every 2. */
static void first_run(const char *dir, const char *conv)
{
    char *argv[] = {MNIST_CNN,  "--logdir", ".", "--data",          "data", "--steps", "4",
                    "--batch",  "4",        "--conv", (char *)conv, "--fc", "1",
                    "--summary-every", "2", "--embed", "0", "--checkpoint-every", "2", "--quiet", NULL};
    static char out[1 << 16];
    int st = run_in(dir, argv, out, sizeof out);
    CHECK_INT(0, st);
    if (st)
        fprintf(stderr, "%s", out);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The sizes of the run's event files, summed. */
static long event_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    long n = 0;
    struct dirent *de;
    char path[2048];
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, "tfevents")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            n += file_size(path);
        }
    if (d)
        closedir(d);
    return n;
}

TEST(mnist_cnn_refuses_to_resume_from_a_corrupt_checkpoint_and_logs_nothing_more)
{
    const char *dir = run_with_data(HERE, 0);
    first_run(dir, "1");
    long before = event_bytes(dir);
    char ckpt[1200];
    snprintf(ckpt, sizeof ckpt, "%s/model.ckpt", dir);
    FILE *f = fopen(ckpt, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 100, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 100, SEEK_SET);
        fputc(c ^ 0x20, f);
        fclose(f);
    }
    char *argv[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "6", "--batch", "4",
                    "--conv", "1", "--fc", "1", "--embed", "0", "--resume", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: cannot resume: load ./model.ckpt: CRC-32 mismatch");
    CHECK_INT(1, hostile_event_files(dir));
    CHECK_INT(before, event_bytes(dir));
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, dir);
    CHECK(e.n > 0);
    expect_write(&e);
}

TEST(mnist_cnn_refuses_to_resume_a_run_of_another_architecture_naming_the_tensor)
{
    const char *dir = run_with_data(HERE, 0);
    first_run(dir, "1");
    long before = event_bytes(dir);
    char *argv[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "6", "--batch", "4",
                    "--conv", "2", "--fc", "1", "--embed", "0", "--resume", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: cannot resume: load ./model.ckpt: ");
    CHECK_STR_HAS(out, "'conv1/weights' has shape [64x1x5x5] in the file, [32x1x5x5] in the model");
    CHECK_INT(before, event_bytes(dir));
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, dir);
    expect_write(&e);
}

TEST(mnist_cnn_refuses_to_resume_a_run_that_has_no_checkpoint)
{
    const char *dir = run_with_data(HERE, 0);
    char *first[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "2", "--batch", "4",
                     "--embed", "0", "--checkpoint-every", "0", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(0, run_in(dir, first, out, sizeof out));
    long before = event_bytes(dir);
    char *argv[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "4", "--batch", "4",
                    "--embed", "0", "--resume", "--quiet", NULL};
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: . has no checkpoint to resume from (./model.ckpt); "
                       "its run would be mixed with a new one");
    CHECK_INT(before, event_bytes(dir));
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, dir);
    expect_write(&e);
}

TEST(mnist_cnn_refuses_a_second_run_in_a_logdir_that_holds_one)
{
    const char *dir = run_with_data(HERE, 0);
    first_run(dir, "1");
    long before = event_bytes(dir);
    char *argv[] = {MNIST_CNN, "--logdir", ".", "--data", "data", "--steps", "2", "--batch", "4", "--quiet",
                    NULL};
    static char out[1 << 16];
    CHECK_INT(2, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: . already holds a run; continue it with --resume, or choose another --logdir");
    CHECK_INT(before, event_bytes(dir));
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, dir);
    expect_write(&e);
}

TEST(hparam_sweep_refuses_an_index_out_of_range_with_exit_2_and_writes_nothing)
{
    expect_nothing(HERE);
    /* There are 12 runs (0..11): 12 is refused before anything is claimed or written. */
    const char *dir = run_with_data(HERE, 0);
    char *argv[] = {HPARAM_SWEEP, "--logdir", "sweep", "--data", "data", "--index", "12", "--steps", "1",
                    "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(2, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "--index");
    CHECK_STR_HAS(out, "usage: hparam_sweep");
    CHECK(access("sweep", F_OK) != 0);
}

TEST(hparam_sweep_refuses_a_logdir_that_already_holds_runs)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    CHECK_RC(0, tbw_scalar(w, "earlier", 3, 0.5), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    const char *dir = run_with_data(HERE, 0);
    long before = event_bytes(dir);
    char *argv[] = {HPARAM_SWEEP, "--logdir", ".", "--data", "data", "--steps", "1", "--quiet", NULL};
    static char out[1 << 16];
    CHECK_INT(2, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: . already holds runs; choose another --logdir for a new sweep");
    CHECK_INT(before, event_bytes(dir));
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "earlier", 3, 0.5);
    expect_write(&e);
}

TEST(hparam_sweep_refuses_a_logdir_through_a_regular_file_naming_it)
{
    expect_nothing(HERE);
    const char *dir = run_with_data(HERE, 0);
    char plain[1200];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    FILE *f = fopen(plain, "w");
    CHECK(f && fclose(f) == 0);
    char *argv[] = {HPARAM_SWEEP, "--logdir", "plain/sweep", "--data", "data", "--steps", "1", "--quiet",
                    NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "error: cannot create directory plain/sweep: Not a directory");
}

TEST(tbw_inspect_exits_2_naming_a_missing_path)
{
    expect_nothing(HERE);
    const char *dir = hostile_run(HERE);
    mkdir(dir, 0777);
    char *argv[] = {TBW_INSPECT, "no-such-logdir", NULL};
    static char out[1 << 16];
    CHECK_INT(2, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "tbw-inspect: no-such-logdir: No such file or directory");
    char *check[] = {TBW_INSPECT, "--check", "no-such-logdir", NULL};
    CHECK_INT(2, run_in(dir, check, out, sizeof out));
}

TEST(tbw_inspect_says_a_directory_holds_no_event_files_and_check_fails_on_it)
{
    expect_nothing(HERE);
    const char *dir = hostile_run(HERE);
    mkdir(dir, 0777);
    char sub[1200];
    snprintf(sub, sizeof sub, "%s/empty", dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/empty/notes.txt", dir);
    FILE *f = fopen(sub, "w");
    CHECK(f && fputs("no events here", f) >= 0 && fclose(f) == 0);
    char *argv[] = {TBW_INSPECT, "empty", NULL};
    static char out[1 << 16];
    CHECK_INT(0, run_in(dir, argv, out, sizeof out));
    CHECK_STR_HAS(out, "tbw-inspect: no event files (names containing \"tfevents\") under empty");
    char *check[] = {TBW_INSPECT, "--check", "empty", NULL};
    CHECK_INT(1, run_in(dir, check, out, sizeof out));
    CHECK_STR_HAS(out, "no event files");
}

/* Writes n scalars "loss" (steps 0..n-1, values step / 8) with tbw into the case's run and returns the
   event file's name and the offset of its last record. */
static void loss_scalars(const char *name, int n, char *file, size_t cap, uint64_t *last)
{
    hostile_clock clk;
    tbw_writer *w = hostile_writer(name, NULL, &clk);
    for (int s = 0; s < n; s++)
        CHECK_RC(0, tbw_scalar(w, "loss", s, s / 8.0), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    DIR *d = opendir(hostile_run(name));
    struct dirent *de;
    file[0] = '\0';
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, "tfevents"))
            snprintf(file, cap, "%s", de->d_name);
    if (d)
        closedir(d);
    char path[2048], msg[256];
    snprintf(path, sizeof path, "%s/%s", hostile_run(name), file);
    tbw_reader *r;
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    const tbw_event *ev;
    *last = 0;
    while (r && tbw_reader_next(r, &ev) == 1)
        *last = ev->offset;
    tbw_reader_close(r);
}

TEST(tbw_inspect_check_exits_1_naming_the_file_and_offset_of_a_corrupt_record)
{
    char file[512], want[1024];
    uint64_t last;
    loss_scalars(HERE, 3, file, sizeof file, &last);
    const char *dir = hostile_run(HERE);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        /* the last record's length CRC: TensorBoard's loaders both stop there (a bad data CRC the fast
           loader shows anyway) */
        fseek(f, (long)last + 8, SEEK_SET);
        int c = fgetc(f);
        fseek(f, (long)last + 8, SEEK_SET);
        fputc(c ^ 0x01, f);
        fclose(f);
    }
    char *argv[] = {TBW_INSPECT, "--check", "--quiet", ".", NULL};
    static char out[1 << 16];
    CHECK_INT(1, run_in(dir, argv, out, sizeof out));
    snprintf(want, sizeof want, "tbw-inspect: ./%s: corrupt at offset %" PRIu64 ": length CRC mismatch", file,
             last);
    CHECK_STR_HAS(out, want);
    CHECK_STR_HAS(out, "tbw-inspect: 1 file with corrupt records");
    char *plain[] = {TBW_INSPECT, ".", NULL};
    CHECK_INT(0, run_in(dir, plain, out, sizeof out)); /* without --check the summary still comes */
    CHECK_STR_HAS(out, "run .: 1 file, ");
    hostile_expect e; /* TensorBoard, like the reader, keeps what comes before the damage */
    expect_init(&e, HERE);
    expect_scalar(&e, "loss", 0, 0);
    expect_scalar(&e, "loss", 1, 0.125);
    expect_write(&e);
}

TEST(tbw_inspect_check_takes_a_record_cut_at_the_end_as_a_note_not_an_error)
{
    char file[512];
    uint64_t last;
    loss_scalars(HERE, 3, file, sizeof file, &last);
    const char *dir = hostile_run(HERE);
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    CHECK_INT(0, truncate(path, (off_t)last + 7));
    char *argv[] = {TBW_INSPECT, "--check", ".", NULL};
    static char out[1 << 16];
    CHECK_INT(0, run_in(dir, argv, out, sizeof out));
    char want[1024];
    snprintf(want, sizeof want,
             "tbw-inspect: note: ./%s: truncated at the end: a record header at offset %" PRIu64
             " has 7 of 12 bytes (normal while a writer is still appending)",
             file, last);
    CHECK_STR_HAS(out, want);
    CHECK_STR_HAS(out, "loss");
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "loss", 0, 0);
    expect_scalar(&e, "loss", 1, 0.125);
    expect_write(&e);
}

TEST(tbw_inspect_csv_prints_exactly_the_scalars_that_were_written)
{
    hostile_clock clk;
    tbw_writer *w = hostile_writer(HERE, NULL, &clk);
    static const double vals[5] = {0.1, -2.5, 1e30, 3.0, 1.0 / 3};
    for (int s = 0; s < 5; s++) {
        CHECK_RC(0, tbw_scalar(w, "loss", 10 * s, vals[s]), tbw_writer_errmsg(w));
        if (s % 2 == 0)
            CHECK_RC(0, tbw_scalar(w, "eval/accuracy", s, 1.0 - s / 10.0), tbw_writer_errmsg(w));
    }
    const float h[4] = {1, 2, 3, 4};
    CHECK_RC(0, tbw_histogram(w, "weights", 0, h, 4, 0, NULL), tbw_writer_errmsg(w)); /* not a scalar */
    CHECK_RC(0, tbw_writer_close(w), "close");
    /* The lines the tool must print, in file order: wall times as the reader sees them. */
    static char want[8192];
    size_t n = (size_t)snprintf(want, sizeof want, "run,tag,step,wall_time,value\n");
    DIR *d = opendir(hostile_run(HERE));
    struct dirent *de;
    char path[2048] = "", msg[256];
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, "tfevents"))
            snprintf(path, sizeof path, "%s/%s", hostile_run(HERE), de->d_name);
    if (d)
        closedir(d);
    tbw_reader *r;
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    const tbw_event *ev;
    int nloss = 0, nacc = 0;
    while (r && tbw_reader_next(r, &ev) == 1)
        for (size_t i = 0; i < ev->n_values; i++) {
            const char *tag = ev->values[i].tag;
            double v;
            int64_t step;
            if (strcmp(tag, "loss") == 0) {
                step = 10 * nloss;
                v = (float)vals[nloss++];
            } else if (strcmp(tag, "eval/accuracy") == 0) {
                step = 2 * nacc;
                v = (float)(1.0 - step / 10.0);
                nacc++;
            } else {
                continue;
            }
            CHECK_INT(step, ev->step);
            n += (size_t)snprintf(want + n, sizeof want - n, ".,%s,%lld,%.17g,%.9g\n", tag, (long long)step,
                                  ev->wall_time, v);
        }
    tbw_reader_close(r);
    CHECK_INT(5, nloss);
    CHECK_INT(3, nacc);
    char *argv[] = {TBW_INSPECT, "--csv", ".", NULL};
    static char out[1 << 16];
    CHECK_INT(0, run_in(hostile_run(HERE), argv, out, sizeof out));
    CHECK_STR(want, out);
    hostile_expect e;
    expect_init(&e, HERE);
    expect_from_events(&e, hostile_run(HERE));
    CHECK_INT(9, e.n);
    expect_write(&e);
}

TEST(tbw_inspect_does_not_hang_on_a_fifo_named_like_an_event_file)
{
    expect_nothing(HERE);
    /* Outside the hostile base directory: TensorBoard, judging that directory, would block on it too. */
    char tmp[] = "/tmp/tbw-hostile-fifo-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/events.out.tfevents.1700000000.fifo", tmp);
    CHECK_INT(0, mkfifo(fifo, 0666));
    run_limit_ = 10;
    char *argv[] = {TBW_INSPECT, tmp, NULL};
    static char out[1 << 16];
    int st = run_in(tmp, argv, out, sizeof out);
    CHECK_(st != 128 + SIGALRM, "tbw-inspect was still blocked on %s after %u s", fifo, run_limit_);
    CHECK_INT(0, st);
    CHECK_STR_HAS(out, "events.out.tfevents.1700000000.fifo");
    unlink(fifo);
    rmdir(tmp);
}

/* Splits one CSV line (RFC 4180: a field holding a comma or quote is quoted, a quote doubled) into
   fields; returns how many, or -1 if the line is not CSV (a bare quote inside an unquoted field). */
static int csv_fields(const char *line, char fields[][256], int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        size_t k = 0;
        if (*p == '"') {
            for (p++;; p++) {
                if (*p == '\0')
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    p++;
                } else if (*p == '"') {
                    p++;
                    break;
                }
                if (k + 1 < 256)
                    fields[n][k++] = *p;
            }
        } else {
            for (; *p && *p != ',' && *p != '\n'; p++) {
                if (*p == '"')
                    return -1;
                if (k + 1 < 256)
                    fields[n][k++] = *p;
            }
        }
        fields[n++][k] = '\0';
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == '\0' || *p == '\n' ? n : -1;
    }
}

TEST(tbw_inspect_csv_quotes_tags_that_hold_commas_or_quotes)
{
    static const char *const tags[3] = {"loss,train", "say \"hi\"", "plain"};
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    for (int i = 0; i < 3; i++)
        CHECK_RC(0, tbw_scalar(w, tags[i], i + 1, i + 0.5), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    char *argv[] = {TBW_INSPECT, "--csv", ".", NULL};
    static char out[1 << 16];
    CHECK_INT(0, run_in(hostile_run(HERE), argv, out, sizeof out));
    int rows = 0;
    bool header = true;
    for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char fields[8][256];
        int n = csv_fields(line, fields, 8);
        int len = (int)strcspn(line, "\n");
        CHECK_(n == 5, "expected 5 CSV fields, got %d in: %.*s", n, len, line);
        if (n != 5)
            continue;
        if (header)
            CHECK_STR("tag", fields[1]);
        else if (rows < 3)
            CHECK_STR(tags[rows++], fields[1]);
        header = false;
    }
    CHECK_INT(3, rows);
    hostile_expect e;
    expect_init(&e, HERE);
    for (int i = 0; i < 3; i++)
        expect_scalar(&e, tags[i], i + 1, i + 0.5);
    expect_write(&e);
}

static const check_case tests[] = {
    CASE(mnist_cnn_trains_on_idx_images_that_are_not_28x28),
    CASE(mnist_cnn_refuses_train_and_test_images_of_different_sizes),
    CASE(mnist_cnn_refuses_a_header_that_claims_more_images_than_the_file_holds),
    CASE(filters_runs_on_idx_images_that_are_not_28x28),
    CASE(tbw_inspect_names_plugins_it_does_not_know),
    CASE(mnist_cnn_refuses_a_logdir_through_a_regular_file_naming_it),
    CASE(mnist_cnn_says_how_to_install_the_dataset_when_the_data_directory_is_missing),
    CASE(mnist_cnn_refuses_a_batch_larger_than_the_training_set),
    CASE(mnist_cnn_refuses_labels_of_10_and_more_naming_the_file_before_it_logs),
    CASE(mnist_cnn_refuses_to_resume_from_a_corrupt_checkpoint_and_logs_nothing_more),
    CASE(mnist_cnn_refuses_to_resume_a_run_of_another_architecture_naming_the_tensor),
    CASE(mnist_cnn_refuses_to_resume_a_run_that_has_no_checkpoint),
    CASE(mnist_cnn_refuses_a_second_run_in_a_logdir_that_holds_one),
    CASE(hparam_sweep_refuses_an_index_out_of_range_with_exit_2_and_writes_nothing),
    CASE(hparam_sweep_refuses_a_logdir_that_already_holds_runs),
    CASE(hparam_sweep_refuses_a_logdir_through_a_regular_file_naming_it),
    CASE(tbw_inspect_exits_2_naming_a_missing_path),
    CASE(tbw_inspect_says_a_directory_holds_no_event_files_and_check_fails_on_it),
    CASE(tbw_inspect_check_exits_1_naming_the_file_and_offset_of_a_corrupt_record),
    CASE(tbw_inspect_check_takes_a_record_cut_at_the_end_as_a_note_not_an_error),
    CASE(tbw_inspect_csv_prints_exactly_the_scalars_that_were_written),
    CASE(tbw_inspect_does_not_hang_on_a_fifo_named_like_an_event_file),
    CASE(tbw_inspect_csv_quotes_tags_that_hold_commas_or_quotes),
};
HOSTILE_MAIN(tests)
