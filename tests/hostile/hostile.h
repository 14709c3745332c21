/* The hostile-input suite's plumbing: where each case writes, and what it expects TensorBoard to show.
 *
 * Every case runs in its own process (tests/check.h) and, when it writes a run, writes it to
 * <base>/<case name>. It also writes <base>/_expect/<case name>.json: the exact tags, per plugin, that
 * TensorBoard must list for that run, with each tag's steps (and, for scalars, values). A case that
 * must write nothing says so with an empty expectation. tests/integration/test_hostile.py runs the
 * programs with TBW_HOSTILE_DIR set and judges every expectation under both of TensorBoard's loaders;
 * without the variable the programs use a temporary directory, and the C checks alone decide.
 */
#ifndef TBW_HOSTILE_H
#define TBW_HOSTILE_H

#include "../check.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

#include <tbw/tbw.h>

static char hostile_base_[512];
static bool hostile_temp_;

/* Sets the base directory; call in main before check_main. */
static inline void hostile_setup(void)
{
    const char *env = getenv("TBW_HOSTILE_DIR");
    if (env && *env) {
        snprintf(hostile_base_, sizeof hostile_base_, "%s", env);
        mkdir(hostile_base_, 0777);
    } else {
        snprintf(hostile_base_, sizeof hostile_base_, "/tmp/tbw-hostile-XXXXXX");
        if (!mkdtemp(hostile_base_)) {
            perror("mkdtemp");
            exit(1);
        }
        hostile_temp_ = true;
    }
    char d[600];
    snprintf(d, sizeof d, "%s/_expect", hostile_base_);
    mkdir(d, 0777);
}

static inline int hostile_rm_(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes the base directory if it was a temporary one; call after check_main. */
static inline void hostile_teardown(void)
{
    if (hostile_temp_)
        nftw(hostile_base_, hostile_rm_, 16, FTW_DEPTH | FTW_PHYS);
}

/* <base>/<name>: the run directory of the case named name (a static buffer: one per process). */
static inline const char *hostile_run(const char *name)
{
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", hostile_base_, name);
    return path;
}

/* How many event files the run directory holds. */
static inline int hostile_event_files(const char *run_dir)
{
    DIR *d = opendir(run_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strstr(de->d_name, "tfevents") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* Opens a foreground writer on the case's run with a clock that starts at t0 and advances 1 s per
   reading, so gone-file checks and wall times are deterministic. */
typedef struct hostile_clock {
    double t;
} hostile_clock;

static inline double hostile_tick_(void *ctx)
{
    hostile_clock *c = ctx;
    return c->t += 1.0;
}

static inline tbw_writer *hostile_writer(const char *name, tbw_writer_opts *opts, hostile_clock *clk)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    if (opts)
        o = *opts;
    if (clk) {
        clk->t = 1.7e9;
        o.clock = hostile_tick_;
        o.clock_ctx = clk;
    }
    tbw_writer *w = NULL;
    char msg[256];
    int rc = tbw_writer_open(&w, hostile_run(name), &o, msg, sizeof msg);
    CHECK_RC(0, rc, msg);
    return w;
}

/* ---- expectations ---- */

#define HOSTILE_MAX_POINTS 256

typedef struct hostile_point {
    const char *plugin, *tag;
    int64_t step;
    double value;
    bool has_value;
} hostile_point;

typedef struct hostile_expect {
    const char *run;
    hostile_point pts[HOSTILE_MAX_POINTS];
    int n;
} hostile_expect;

static inline void expect_init(hostile_expect *e, const char *run)
{
    e->run = run;
    e->n = 0;
}

static inline void expect_point_(hostile_expect *e, const char *plugin, const char *tag, int64_t step, double v, bool hv)
{
    if (e->n == HOSTILE_MAX_POINTS) {
        CHECK_(false, "too many expected points for %s", e->run);
        return;
    }
    e->pts[e->n++] = (hostile_point){plugin, tag, step, v, hv};
}

/* A scalar point TensorBoard must show (value compared after rounding to float32). */
static inline void expect_scalar(hostile_expect *e, const char *tag, int64_t step, double v)
{
    expect_point_(e, "scalars", tag, step, v, true);
}

/* A step of a histogram, image, audio or text tag ("histograms", "images", "audio", "text"). */
static inline void expect_step(hostile_expect *e, const char *plugin, const char *tag, int64_t step)
{
    expect_point_(e, plugin, tag, step, 0, false);
}

static inline void json_str_(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static inline void json_num_(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "Infinity" : "-Infinity", f);
    else
        fprintf(f, "%.17g", v);
}

/* Writes <base>/_expect/<run>.json: {"run": ..., "points": [[plugin, tag, step, value|null], ...]}. */
static inline void expect_write(const hostile_expect *e)
{
    char path[800];
    snprintf(path, sizeof path, "%s/_expect/%s.json", hostile_base_, e->run);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"run\": ", f);
    json_str_(f, e->run);
    fputs(", \"points\": [", f);
    for (int i = 0; i < e->n; i++) {
        const hostile_point *p = &e->pts[i];
        fputs(i ? ", [" : "[", f);
        json_str_(f, p->plugin);
        fputs(", ", f);
        json_str_(f, p->tag);
        fprintf(f, ", %lld, ", (long long)p->step);
        if (p->has_value)
            json_num_(f, p->value);
        else
            fputs("null", f);
        fputc(']', f);
    }
    fputs("]}\n", f);
    CHECK_INT(0, fclose(f));
}

/* The case writes nothing TensorBoard would show under its run name. */
static inline void expect_nothing(const char *run)
{
    hostile_expect e;
    expect_init(&e, run);
    expect_write(&e);
}

/* The expectation for a run written by a program: every point its event files hold, read back with
   tbw's reader, under the plugin named in each tag's first metadata. TensorBoard must then show
   exactly these, so the reader's view is checked against TensorBoard's, not trusted. Tags and
   plugin names are copied into storage that lives for the process. */
static inline void expect_from_events(hostile_expect *e, const char *run_dir)
{
    static char names[HOSTILE_MAX_POINTS][2][128];
    DIR *d = opendir(run_dir);
    CHECK(d != NULL);
    struct dirent *de;
    char plugins[64][2][128];
    int np = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, "tfevents"))
            continue;
        char path[1200], msg[256];
        snprintf(path, sizeof path, "%s/%s", run_dir, de->d_name);
        tbw_reader *r;
        CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
        const tbw_event *ev;
        int rc;
        while (r && (rc = tbw_reader_next(r, &ev)) == 1) {
            for (size_t i = 0; i < ev->n_values; i++) {
                const tbw_value *v = &ev->values[i];
                int k = 0;
                while (k < np && strcmp(plugins[k][0], v->tag) != 0)
                    k++;
                if (k == np && np < 64 && v->plugin_name[0]) {
                    snprintf(plugins[np][0], 128, "%s", v->tag);
                    snprintf(plugins[np][1], 128, "%s", v->plugin_name);
                    np++;
                }
                if (k == np || e->n == HOSTILE_MAX_POINTS)
                    continue;
                const char *plugin = plugins[k][1];
                bool known = strcmp(plugin, "scalars") == 0 || strcmp(plugin, "histograms") == 0 ||
                             strcmp(plugin, "images") == 0 || strcmp(plugin, "audio") == 0 ||
                             strcmp(plugin, "text") == 0;
                if (!known)
                    continue;
                snprintf(names[e->n][0], 128, "%s", plugin);
                snprintf(names[e->n][1], 128, "%s", v->tag);
                expect_point_(e, names[e->n][0], names[e->n][1], ev->step, v->scalar,
                              strcmp(plugin, "scalars") == 0);
            }
        }
        CHECK_INT(0, r ? rc : 0);
        tbw_reader_close(r);
    }
    if (d)
        closedir(d);
}

#define HOSTILE_MAIN(table)                                                                                     \
    int main(int argc, char **argv)                                                                             \
    {                                                                                                           \
        hostile_setup();                                                                                        \
        int rc_ = check_main(argc, argv, table, CHECK_COUNT(table));                                            \
        hostile_teardown();                                                                                     \
        return rc_;                                                                                             \
    }

#endif
