/*
 * writer_bench: times tbw's hot paths; bench/writer_vs_tbx.py runs it beside
 * tensorboardX in the same run. Prints one JSON object per measurement.
 *
 *   writer_bench [--repeat N] [--dump-inputs DIR] [--sections core,scaling] DIR
 *
 * core: the headline rates (scalars under several policies, 1M-float histograms, PNGs).
 * scaling: how the cost grows with the work: scalars/s over 1..100000 distinct tags,
 * histograms of 1k..100M floats, PNGs of 28x28..4096x4096.
 * DIR is made if missing; the benchmark writes and removes only its own runs inside it.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <tbw/tbw.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Writes an input to DIR/name so the peer benchmark can use the same data. */
static void dump_input(const char *dir, const char *name, const void *data, size_t len)
{
    if (!dir)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "writer_bench: cannot write %s\n", path);
        exit(1);
    }
}

static tbw_writer *open_w(const char *dir, const char *run, const tbw_writer_opts *o)
{
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/%s", dir, run);
    tbw_writer *w;
    if (tbw_writer_open(&w, path, o, msg, sizeof msg)) {
        fprintf(stderr, "writer_bench: %s\n", msg);
        exit(1);
    }
    return w;
}

typedef struct {
    tbw_writer *w;
    long n;
    int id;
} sjob;

static void *scalar_worker(void *arg)
{
    sjob *j = arg;
    char tag[32];
    snprintf(tag, sizeof tag, "t%d/loss", j->id);
    for (long i = 0; i < j->n; i++)
        if (tbw_scalar(j->w, tag, i, (double)i * 0.5))
            exit(1);
    return NULL;
}

/* One thread cycling through ntags distinct tags, one scalar event each. */
typedef struct {
    tbw_writer *w;
    long n;
    char **tags;
    long ntags;
} tjob;

static void *tagged_worker(void *arg)
{
    tjob *j = arg;
    for (long i = 0, t = 0; i < j->n; i++) {
        if (tbw_scalar(j->w, j->tags[t], i, (double)i * 0.5))
            exit(1);
        if (++t == j->ntags)
            t = 0;
    }
    return NULL;
}

static void remove_run(const char *dir, const char *run)
{
    /* Remove the ~90 MB file at once: unlinking drops its dirty pages, so
       repetitions measure the writer, not the kernel's writeback throttling
       once gigabytes of dirty pages pile up. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/%s'", dir, run);
    if (system(cmd) != 0)
        exit(1);
}

static double scalar_rate(const char *dir, const char *run, int threads, long per_thread, const tbw_writer_opts *o)
{
    tbw_writer *w = open_w(dir, run, o);
    pthread_t th[16];
    sjob jobs[16];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (sjob){w, per_thread, i};
        pthread_create(&th[i], NULL, scalar_worker, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    if (tbw_writer_close(w))
        exit(1);
    double rate = (double)threads * (double)per_thread / (now() - t0);
    remove_run(dir, run);
    return rate;
}

static double gettime_clock(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The kernel's share under TensorFlow's policy: the median time of one pwrite(2) of ten scalar
   events' bytes, appended to a fresh file, as the writer does every 10 events. 10 / that time
   is the most scalar events/s that policy allows on this machine, whatever the writer does. */
static void report_kernel_write(const char *dir, int repeat)
{
    char run[1200];
    snprintf(run, sizeof run, "%s/size_probe", dir);
    tbw_writer_opts def = TBW_WRITER_OPTS_INIT;
    tbw_writer *w = open_w(dir, "size_probe", &def);
    for (long i = 0; i < 100000; i++)
        if (tbw_scalar(w, "t0/loss", 1000000 + i, (double)i * 0.5))
            exit(1);
    if (tbw_writer_close(w))
        exit(1);
    /* bytes per event from the file the writer left */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "du -b --apparent-size '%s' | tail -1", run);
    FILE *p = popen(cmd, "r");
    long bytes = 0;
    if (!p || fscanf(p, "%ld", &bytes) != 1)
        exit(1);
    pclose(p);
    remove_run(dir, "size_probe");
    size_t chunk = (size_t)(bytes / 100000) * 10;
    static uint8_t buf[4096];
    memset(buf, 0x5A, sizeof buf);
    if (chunk > sizeof buf)
        chunk = sizeof buf;
    double t[64];
    for (int r = 0; r < repeat; r++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/pwrite_probe", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            exit(1);
        long n = 200000;
        double t0 = now();
        for (long i = 0; i < n; i++)
            if (pwrite(fd, buf, chunk, (off_t)(i * (long)chunk)) != (ssize_t)chunk)
                exit(1);
        t[r] = (now() - t0) / (double)n;
        close(fd);
        unlink(path);
    }
    double us = median(t, repeat) * 1e6;
    printf("{\"name\": \"kernel_write_10_events\", \"bytes\": %zu, \"us\": %.3f, \"ceiling_events_per_s\": %.0f}\n",
           chunk, us, 10.0 / (us * 1e-6));
}

/* Scalars/s of one thread logging ntags distinct tags ("layer17/grad_norm"-like) in turn, with
   options o, printed as prefix_<ntags>. */
static void report_tags(const char *dir, const char *prefix, long ntags, long events, int repeat,
                        const tbw_writer_opts *o)
{
    char **tags = malloc((size_t)ntags * sizeof *tags);
    for (long t = 0; t < ntags; t++) {
        tags[t] = malloc(48);
        snprintf(tags[t], 48, "layer%ld/grad_norm", t);
    }
    double r[64];
    for (int i = 0; i < repeat; i++) {
        char run[64];
        snprintf(run, sizeof run, "tags%ld_%d", ntags, i);
        tbw_writer *w = open_w(dir, run, o);
        tjob j = {w, events, tags, ntags};
        double t0 = now();
        tagged_worker(&j);
        if (tbw_writer_close(w))
            exit(1);
        r[i] = (double)events / (now() - t0);
        remove_run(dir, run);
    }
    printf("{\"name\": \"%s_%ld\", \"events_per_s\": %.0f, \"tags\": %ld, \"events\": %ld}\n", prefix, ntags,
           median(r, repeat), ntags, events);
    for (long t = 0; t < ntags; t++)
        free(tags[t]);
    free(tags);
}

static void report_rate(const char *name, const char *dir, int threads, long per, int repeat,
                        const tbw_writer_opts *o)
{
    double r[64];
    char run[64];
    for (int i = 0; i < repeat; i++) {
        snprintf(run, sizeof run, "%s_%d", name, i);
        r[i] = scalar_rate(dir, run, threads, per, o);
    }
    double med = median(r, repeat);
    printf("{\"name\": \"%s\", \"events_per_s\": %.0f, \"threads\": %d, \"events\": %ld, \"min\": %.0f, \"max\": %.0f}\n",
           name, med, threads, threads * per, r[0], r[repeat - 1]);
}

/* Median time of `times` histograms of x (bucketing + encoding + writing), printed as JSON under name. */
static int time_histogram(tbw_writer *w, const char *name, const float *x, size_t n, int times)
{
    double t[192];
    for (int i = 0; i < times; i++) {
        double t0 = now();
        if (tbw_histogram(w, name, i, x, n, 0, NULL))
            return 1;
        t[i] = now() - t0;
    }
    printf("{\"name\": \"%s\", \"ms\": %.3f, \"floats\": %zu}\n", name, median(t, times) * 1e3, n);
    return 0;
}

static void fill_uniform(float *x, size_t n, unsigned *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        x[i] = (float)((*s >> 8) & 0xFFFF) / 65536.0f * 4.0f - 2.0f;
    }
}

/* A smooth RGB test picture, as photographs and plots are (noise is the worst case, not the common one). */
static uint8_t *smooth_rgb(size_t side)
{
    uint8_t *px = malloc(side * side * 3);
    double f = 512.0 / (double)side;
    for (size_t y = 0; y < side; y++)
        for (size_t xx = 0; xx < side; xx++)
            for (int c = 0; c < 3; c++)
                px[(y * side + xx) * 3 + (size_t)c] =
                    (uint8_t)(128 + 100 * sin(((double)xx * f + c * 30) * 0.02) * cos((double)y * f * 0.015));
    return px;
}

/* Growth with the work: distinct tags, histogram sizes, image sizes. */
static int scaling(const char *dir, const char *dump, int repeat)
{
    static const long ntags[] = {1, 10, 1000, 100000};
    tbw_writer_opts def = TBW_WRITER_OPTS_INIT;
    for (size_t k = 0; k < sizeof ntags / sizeof *ntags; k++)
        report_tags(dir, "scalar_tags", ntags[k], 2000000, repeat, &def);

    tbw_writer *w = open_w(dir, "hist_scaling", &def);
    static const size_t sizes[] = {1000, 1000000, 100000000};
    unsigned s = 7;
    for (size_t k = 0; k < 3; k++) {
        float *x = malloc(sizes[k] * sizeof *x);
        if (!x)
            return 1;
        fill_uniform(x, sizes[k], &s);
        char name[64];
        snprintf(name, sizeof name, "histogram_%zu", sizes[k]);
        /* many samples of the small ones, a few of 100M (0.4 GB each pass) */
        int times = sizes[k] >= 100000000 ? (repeat < 3 ? repeat : 3) : repeat * 3;
        if (time_histogram(w, name, x, sizes[k], times))
            return 1;
        char file[64];
        snprintf(file, sizeof file, "hist_%zu.f32", sizes[k]);
        dump_input(dump, file, x, sizes[k] * sizeof *x);
        free(x);
    }
    tbw_writer_close(w);
    remove_run(dir, "hist_scaling");

    w = open_w(dir, "png_scaling", &def);
    static const size_t sides[] = {28, 512, 4096};
    for (size_t k = 0; k < 3; k++) {
        uint8_t *px = smooth_rgb(sides[k]);
        tbw_image_batch b = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, sides[k], sides[k], 3};
        double t[64];
        int times = sides[k] >= 4096 ? (repeat < 3 ? repeat : 3) : repeat;
        for (int i = 0; i < times; i++) {
            double t0 = now();
            if (tbw_images(w, "png", i, &b, 1))
                return 1;
            t[i] = now() - t0;
        }
        printf("{\"name\": \"png_%zu\", \"ms\": %.3f, \"side\": %zu}\n", sides[k], median(t, times) * 1e3, sides[k]);
        char file[64];
        snprintf(file, sizeof file, "smooth_%zux%zux3.u8", sides[k], sides[k]);
        dump_input(dump, file, px, sides[k] * sides[k] * 3);
        free(px);
    }
    tbw_writer_close(w);
    remove_run(dir, "png_scaling");
    return 0;
}

int main(int argc, char **argv)
{
    int repeat = 7;
    const char *dir = NULL, *dump = NULL, *sections = "core";
    bool bad = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dump-inputs") == 0 && i + 1 < argc)
            dump = argv[++i];
        else if (strcmp(argv[i], "--sections") == 0 && i + 1 < argc)
            sections = argv[++i];
        else if (argv[i][0] == '-' || dir)
            bad = true; /* an unknown flag is never taken for the directory */
        else
            dir = argv[i];
    }
    bool core = strstr(sections, "core") != NULL, scale = strstr(sections, "scaling") != NULL;
    if (bad || !dir || repeat < 1 || repeat > 64 || !(core || scale)) {
        fprintf(stderr, "usage: writer_bench [--repeat N(1-64)] [--dump-inputs DIR] [--sections core,scaling] DIR\n");
        return 2;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "writer_bench: cannot make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (!core)
        return scaling(dir, dump, repeat);

    /* Scalars: TensorFlow-like defaults (flush every 10 events), then a larger queue. */
    long rss0 = max_rss_kb();
    tbw_writer_opts def = TBW_WRITER_OPTS_INIT;
    report_kernel_write(dir, repeat);
    /* The writer's own cost, nothing written (a discarding writer encodes and counts every
       event), with its event clock and with a clock that calls clock_gettime each time. */
    tbw_writer_opts disc = TBW_WRITER_OPTS_INIT;
    disc.discard = true;
    disc.max_queue = 10000;
    report_rate("scalar_discard_event_clock", dir, 1, 4000000, repeat, &disc);
    /* the same over tags logged in turn, as a training loop logs loss and then accuracy */
    report_tags(dir, "scalar_discard_tags_in_turn", 2, 4000000, repeat, &disc);
    report_tags(dir, "scalar_discard_tags_in_turn", 10, 4000000, repeat, &disc);
    disc.clock = gettime_clock;
    report_rate("scalar_discard_clock_gettime", dir, 1, 4000000, repeat, &disc);
    report_rate("scalar_1thread_default", dir, 1, 2000000, repeat, &def);
    tbw_writer_opts big = TBW_WRITER_OPTS_INIT;
    big.max_queue = 10000;
    report_rate("scalar_1thread_queue10000", dir, 1, 2000000, repeat, &big);
    report_rate("scalar_4threads_default", dir, 4, 500000, repeat, &def);
    report_rate("scalar_4threads_queue10000", dir, 4, 500000, repeat, &big);
    tbw_writer_opts bg = TBW_WRITER_OPTS_INIT;
    bg.background = true;
    bg.max_queue = 10000;
    report_rate("scalar_1thread_background", dir, 1, 2000000, repeat, &bg);
    /* Millions of events later the process is no bigger: buffers are bounded. */
    printf("{\"name\": \"scalar_rss_growth_kb\", \"kb\": %ld}\n", max_rss_kb() - rss0);

    /* Histogram of 1M floats: bucketing + encoding + writing. */
    size_t n = 1000000;
    float *x = malloc(n * sizeof *x);
    unsigned s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xFFFF) / 65536.0f * 4.0f - 2.0f;
    }
    dump_input(dump, "hist_1M.f32", x, n * sizeof *x);
    tbw_writer *w = open_w(dir, "histogram", &def);
    if (time_histogram(w, "histogram_1M", x, n, repeat * 3))
        return 1;
    /* The same values through a ReLU: half of them exactly the minimum 0, as in activation histograms. */
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    dump_input(dump, "hist_1M_relu.f32", x, n * sizeof *x);
    if (time_histogram(w, "histogram_1M_relu", x, n, repeat * 3))
        return 1;
    tbw_writer_close(w);
    free(x);

    /* PNG encoding. */
    double t[64];
    static uint8_t noise[512 * 512 * 3], smooth[512 * 512 * 3];
    for (size_t i = 0; i < sizeof noise; i++) {
        s = s * 1664525u + 1013904223u;
        noise[i] = (uint8_t)(s >> 24);
    }
    for (int y = 0; y < 512; y++)
        for (int xx = 0; xx < 512; xx++)
            for (int c = 0; c < 3; c++)
                smooth[(y * 512 + xx) * 3 + c] = (uint8_t)(128 + 100 * sin((xx + c * 30) * 0.02) * cos(y * 0.015));
    struct {
        const char *name;
        const uint8_t *px;
    } imgs[2] = {{"png_512_rgb_noise", noise}, {"png_512_rgb_smooth", smooth}};
    dump_input(dump, "noise_512x512x3.u8", noise, sizeof noise);
    dump_input(dump, "smooth_512x512x3.u8", smooth, sizeof smooth);
    w = open_w(dir, "images", &def);
    for (int k = 0; k < 2; k++) {
        tbw_image_batch b = {imgs[k].px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 512, 512, 3};
        for (int i = 0; i < repeat; i++) {
            double t0 = now();
            if (tbw_images(w, imgs[k].name, i, &b, 1))
                return 1;
            t[i] = now() - t0;
        }
        uint8_t *png;
        size_t len;
        tbw_png_encode(imgs[k].px, 512, 512, 3, -1, &png, &len);
        printf("{\"name\": \"%s\", \"ms\": %.3f, \"png_bytes\": %zu}\n", imgs[k].name, median(t, repeat) * 1e3, len);
        tbw_free(png);
    }
    /* A batch of 100 28x28 gray images tiled into one grid, as add_images does. */
    static uint8_t batch[100][28][28];
    for (int i = 0; i < 100; i++)
        for (int y = 0; y < 28; y++)
            for (int xx = 0; xx < 28; xx++) {
                s = s * 1664525u + 1013904223u;
                batch[i][y][xx] = (uint8_t)((xx * y + i * 7) % 256 ^ ((s >> 28) & 3));
            }
    dump_input(dump, "batch_100x28x28.u8", batch, sizeof batch);
    tbw_image_batch bb = {batch, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 100, 28, 28, 1};
    for (int i = 0; i < repeat; i++) {
        double t0 = now();
        uint8_t *g;
        size_t gh, gw, gc;
        if (tbw_image_grid(&bb, 10, 2, 0, false, &g, &gh, &gw, &gc))
            return 1;
        tbw_image_batch gb = {g, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, gh, gw, gc};
        if (tbw_images(w, "batch100", i, &gb, 1))
            return 1;
        tbw_free(g);
        t[i] = now() - t0;
    }
    printf("{\"name\": \"png_batch_100x28x28\", \"ms\": %.3f}\n", median(t, repeat) * 1e3);
    tbw_writer_close(w);
    printf("{\"name\": \"max_rss_kb\", \"kb\": %ld}\n", max_rss_kb());
    /* after the core figures, so that their peak RSS is not the 100M-float histogram's */
    return scale ? scaling(dir, dump, repeat) : 0;
}
