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

static void put_be32(FILE *f, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* Writes <dir>/<prefix>-images-idx3-ubyte and -labels-idx1-ubyte: n images of rows x cols, a
   gradient whose brightness depends on the label, so a few steps can learn something. */
static void write_idx(const char *dir, const char *prefix, uint32_t n, uint32_t rows, uint32_t cols)
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
        fputc((int)(i % 10), f);
    CHECK_INT(0, fclose(f));
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

static const check_case tests[] = {
    CASE(mnist_cnn_trains_on_idx_images_that_are_not_28x28),
    CASE(mnist_cnn_refuses_train_and_test_images_of_different_sizes),
    CASE(mnist_cnn_refuses_a_header_that_claims_more_images_than_the_file_holds),
    CASE(filters_runs_on_idx_images_that_are_not_28x28),
    CASE(tbw_inspect_names_plugins_it_does_not_know),
};
HOSTILE_MAIN(tests)
