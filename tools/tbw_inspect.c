/*
 * tbw-inspect: summarizes the event files under a log directory (or one file):
 * per run and per tag, the kind, the number of points and the step range, and
 * for scalars the minimum, maximum and last value. Reads files written by tbw,
 * TensorFlow, PyTorch and tensorboardX. With --check, exits 1 if any record is
 * corrupt and names the file and offset.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tbw/tbw.h>

typedef struct {
    char *tag;
    char *kind; /* owned: a plugin name outlives the event it came from */
    long points;
    int64_t first_step, last_step;
    double min, max, last;
    bool scalar;
} tag_stat;

typedef struct {
    char *dir;
    char **files;
    size_t nfiles, capfiles;
} run_info;

typedef struct {
    run_info *runs;
    size_t nruns, cap;
} walk_state;

static walk_state g_walk; /* nftw has no context pointer; this program is single-threaded */

static void die_oom(void)
{
    fprintf(stderr, "tbw-inspect: out of memory\n");
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die_oom();
    return q;
}

static char *xstrdup(const char *s)
{
    char *c = strdup(s);
    if (!c)
        die_oom();
    return c;
}

static void add_file(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 1;
    char *dir = slash ? strndup(path, dl) : xstrdup(".");
    if (!dir)
        die_oom();
    run_info *r = NULL;
    for (size_t i = 0; i < g_walk.nruns; i++)
        if (strcmp(g_walk.runs[i].dir, dir) == 0)
            r = &g_walk.runs[i];
    if (!r) {
        if (g_walk.nruns == g_walk.cap) {
            g_walk.cap = g_walk.cap ? g_walk.cap * 2 : 16;
            g_walk.runs = xrealloc(g_walk.runs, g_walk.cap * sizeof *g_walk.runs);
        }
        r = &g_walk.runs[g_walk.nruns++];
        memset(r, 0, sizeof *r);
        r->dir = dir;
    } else {
        free(dir);
    }
    if (r->nfiles == r->capfiles) {
        r->capfiles = r->capfiles ? r->capfiles * 2 : 4;
        r->files = xrealloc(r->files, r->capfiles * sizeof *r->files);
    }
    r->files[r->nfiles++] = xstrdup(path);
}

static int on_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (type == FTW_F && strstr(path + ftw->base, "tfevents"))
        add_file(path);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_run(const void *a, const void *b)
{
    return strcmp(((const run_info *)a)->dir, ((const run_info *)b)->dir);
}

/* The kind of a value, from its plugin or its legacy field. */
static const char *kind_of(const tbw_value *v)
{
    const char *p = v->plugin_name;
    if (strcmp(p, "scalars") == 0 || v->kind == TBW_VALUE_SIMPLE)
        return "scalar";
    if (strcmp(p, "histograms") == 0 || v->kind == TBW_VALUE_HISTO)
        return "histogram";
    if (strcmp(p, "images") == 0 || v->kind == TBW_VALUE_IMAGE)
        return "image";
    if (strcmp(p, "audio") == 0 || v->kind == TBW_VALUE_AUDIO)
        return "audio";
    if (strcmp(p, "text") == 0)
        return "text";
    if (strcmp(p, "pr_curves") == 0)
        return "pr_curve";
    if (strcmp(p, "hparams") == 0)
        return "hparams";
    if (strcmp(p, "custom_scalars") == 0)
        return "custom_scalars";
    if (p[0])
        return p;
    return NULL;
}

typedef struct {
    tag_stat *tags;
    size_t n, cap;
    long graphs, session_logs, corrupt, truncated, events;
    const char *csv_run; /* the run's name while --csv prints its points, else NULL */
} run_stats;

static tag_stat *find_tag(run_stats *rs, const char *tag)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->tags[i].tag, tag) == 0)
            return &rs->tags[i];
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->tags = xrealloc(rs->tags, rs->cap * sizeof *rs->tags);
    }
    tag_stat *t = &rs->tags[rs->n++];
    memset(t, 0, sizeof *t);
    t->tag = xstrdup(tag);
    t->min = INFINITY;
    t->max = -INFINITY;
    return t;
}

static void add_value(run_stats *rs, const tbw_event *ev, const tbw_value *v)
{
    tag_stat *t = find_tag(rs, v->tag);
    if (!t->kind) {
        const char *k = kind_of(v);
        t->kind = k ? xstrdup(k) : NULL;
    }
    if (t->points == 0)
        t->first_step = ev->step;
    t->last_step = ev->step;
    t->points++;
    if (t->kind && strcmp(t->kind, "scalar") == 0 && v->has_scalar) {
        t->scalar = true;
        double x = v->scalar;
        if (x < t->min)
            t->min = x;
        if (x > t->max)
            t->max = x;
        t->last = x;
    }
}

/* One CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote or a line
   break, so that tags and run names of any text stay one field. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void scan_file(run_stats *rs, const char *path, bool quiet)
{
    tbw_reader *r;
    char msg[512];
    if (tbw_reader_open(&r, path, msg, sizeof msg)) {
        fprintf(stderr, "tbw-inspect: %s\n", msg);
        rs->corrupt++;
        return;
    }
    const tbw_event *ev;
    int rc;
    while ((rc = tbw_reader_next(r, &ev)) == 1) {
        rs->events++;
        if (ev->kind == TBW_EVENT_GRAPH)
            rs->graphs++;
        else if (ev->kind == TBW_EVENT_SESSION_LOG)
            rs->session_logs++;
        else if (ev->kind == TBW_EVENT_SUMMARY)
            for (size_t i = 0; i < ev->n_values; i++) {
                add_value(rs, ev, &ev->values[i]);
                const tbw_value *v = &ev->values[i];
                if (rs->csv_run && v->has_scalar &&
                    (v->kind == TBW_VALUE_SIMPLE || strcmp(v->plugin_name, "scalars") == 0 ||
                     (v->plugin_name[0] == 0 && v->rank == 0))) {
                    csv_field(rs->csv_run);
                    putchar(',');
                    csv_field(v->tag);
                    printf(",%lld,%.17g,%.9g\n", (long long)ev->step, ev->wall_time, v->scalar);
                }
            }
    }
    if (rc == TBW_ETRUNCATED) {
        rs->truncated++;
        if (!quiet)
            fprintf(stderr, "tbw-inspect: note: %s (normal while a writer is still appending)\n",
                    tbw_reader_errmsg(r));
    } else if (rc < 0) {
        rs->corrupt++;
        fprintf(stderr, "tbw-inspect: %s\n", tbw_reader_errmsg(r));
    }
    tbw_reader_close(r);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tbw-inspect [--check] [--quiet] [--csv] LOGDIR|EVENT_FILE\n"
               "\n"
               "Summarizes TensorBoard event files: for each run (a directory holding event\n"
               "files, named by its path relative to LOGDIR, \".\" for LOGDIR itself) and each\n"
               "tag, the kind, the number of points, the first and last step, and for scalars\n"
               "the minimum, maximum and last value. Files written by tbw, TensorFlow, PyTorch\n"
               "and tensorboardX are read alike.\n"
               "\n"
               "  --check   exit with status 1 if any record is corrupt (bad CRC or not an Event);\n"
               "            the message names the file and byte offset. A record cut short at the\n"
               "            end of a file is reported but is not an error: a writer may still be\n"
               "            appending to it.\n"
               "  --quiet   print only problems (useful with --check)\n"
               "  --csv     print every scalar point as CSV: run,tag,step,wall_time,value\n"
               "  --help    show this text\n"
               "\n"
               "Exit status: 0 fine, 1 corrupt data found (--check), 2 usage or I/O error.\n");
}

/* The summary of one run: its files and events, then a line per tag. */
static void print_run(const char *name, const run_info *ri, const run_stats *rs)
{
    printf("run %s: %zu file%s, %ld events", name, ri->nfiles, ri->nfiles == 1 ? "" : "s", rs->events);
    if (rs->graphs)
        printf(", graph");
    if (rs->session_logs)
        printf(", %ld session log%s", rs->session_logs, rs->session_logs == 1 ? "" : "s");
    printf("\n");
    if (rs->n)
        printf("  %-32s %-14s %8s %10s %10s %12s %12s %12s\n", "tag", "kind", "points", "first", "last", "min",
               "max", "last value");
    for (size_t t = 0; t < rs->n; t++) {
        const tag_stat *ts = &rs->tags[t];
        printf("  %-32s %-14s %8ld %10lld %10lld", ts->tag, ts->kind ? ts->kind : "unknown", ts->points,
               (long long)ts->first_step, (long long)ts->last_step);
        if (ts->scalar)
            printf(" %12.6g %12.6g %12.6g", ts->min, ts->max, ts->last);
        printf("\n");
    }
}

static void free_run(run_info *ri, run_stats *rs)
{
    for (size_t t = 0; t < rs->n; t++) {
        free(rs->tags[t].tag);
        free(rs->tags[t].kind);
    }
    free(rs->tags);
    for (size_t f = 0; f < ri->nfiles; f++)
        free(ri->files[f]);
    free(ri->files);
    free(ri->dir);
}

/* The whole program; main calls it once, the fuzz target once per input. */
static int inspect(int argc, char **argv)
{
    bool check = false, quiet = false, csv = false;
    g_walk = (walk_state){0};
    optind = 1;
    static const struct option longopts[] = {
        {"check", no_argument, NULL, 'c'}, {"quiet", no_argument, NULL, 'q'}, {"csv", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "cqsh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            csv = true;
            quiet = true;
            break;
        case 'c':
            check = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *root = argv[optind];
    struct stat st;
    if (stat(root, &st) != 0) {
        fprintf(stderr, "tbw-inspect: %s: %s\n", root, strerror(errno));
        return 2;
    }
    size_t rootlen = strlen(root);
    while (rootlen > 1 && root[rootlen - 1] == '/')
        rootlen--;
    if (S_ISDIR(st.st_mode)) {
        if (nftw(root, on_entry, 32, FTW_PHYS) != 0) {
            fprintf(stderr, "tbw-inspect: cannot walk %s: %s\n", root, strerror(errno));
            return 2;
        }
    } else {
        add_file(root);
    }
    if (g_walk.nruns == 0) {
        fprintf(stderr, "tbw-inspect: no event files (names containing \"tfevents\") under %s\n", root);
        return check ? 1 : 0;
    }
    qsort(g_walk.runs, g_walk.nruns, sizeof *g_walk.runs, cmp_run);
    long corrupt = 0;
    for (size_t i = 0; i < g_walk.nruns; i++) {
        run_info *ri = &g_walk.runs[i];
        qsort(ri->files, ri->nfiles, sizeof *ri->files, cmp_str);
        run_stats rs = {0};
        const char *name = ri->dir;
        if (S_ISDIR(st.st_mode)) {
            name = ri->dir + (strlen(ri->dir) > rootlen ? rootlen + 1 : strlen(ri->dir));
            if (!name[0])
                name = ".";
        }
        if (csv && i == 0)
            printf("run,tag,step,wall_time,value\n");
        rs.csv_run = csv ? name : NULL;
        for (size_t f = 0; f < ri->nfiles; f++)
            scan_file(&rs, ri->files[f], quiet);
        corrupt += rs.corrupt;
        if (!quiet)
            print_run(name, ri, &rs);
        free_run(ri, &rs);
    }
    free(g_walk.runs);
    if (check && corrupt) {
        fprintf(stderr, "tbw-inspect: %ld file%s with corrupt records\n", corrupt, corrupt == 1 ? "" : "s");
        return 1;
    }
    return 0;
}

#ifndef TBW_INSPECT_NO_MAIN
int main(int argc, char **argv)
{
    return inspect(argc, argv);
}
#endif
