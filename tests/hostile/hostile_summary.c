/* Hostile input to the writer's options and to every summary entry point: NULL and empty arguments,
   invalid UTF-8, counts and sizes past each limit, non-finite numbers, a clock that lies, and one
   writer shared by four threads. Every refusal must give the exact status and a message that names
   the bad field or tag, write nothing, and leave the writer working; every accepted call must show
   up in TensorBoard exactly as the case expects. */
#include "hostile.h"

#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <sys/mman.h>

#include <tbw/graph.h>
#include <tbw/hparams.h>

#define HERE (__func__ + 5) /* the case's name: TEST(x) defines test_x */

/* A refused call: its exact status, and a message on the writer that contains needle. */
#define REFUSED(w, code, call, needle)                                                                       \
    do {                                                                                                     \
        CHECK_RC((code), (call), tbw_writer_errmsg(w));                                                      \
        CHECK_STR_HAS(tbw_writer_errmsg(w), (needle));                                                       \
    } while (0)

/* After refusals: the writer still takes a point (a refusal is not sticky). */
static void goes_on(tbw_writer *w, hostile_expect *e)
{
    CHECK_RC(0, tbw_scalar(w, "after", 1, 7.0), tbw_writer_errmsg(w));
    expect_scalar(e, "after", 1, 7.0);
}

static void finish(tbw_writer *w, hostile_expect *e)
{
    CHECK_RC(0, tbw_writer_close(w), "close");
    expect_write(e);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ======================================================================== */
/* tbw_writer_open                                                           */
/* ======================================================================== */

/* Opening run with o is refused with code and a message containing needle; out is set to NULL. */
static void open_refused(const char *run, const tbw_writer_opts *o, int code, const char *needle)
{
    static char sentinel;
    tbw_writer *w = (tbw_writer *)(void *)&sentinel;
    char msg[256] = "untouched";
    CHECK_RC(code, tbw_writer_open(&w, run, o, msg, sizeof msg), msg);
    CHECK(w == NULL);
    CHECK_STR_HAS(msg, needle);
    if (w && w != (tbw_writer *)(void *)&sentinel)
        tbw_writer_close(w);
}

/* Bad options are refused before anything is created: not even the run directory. */
static void opts_refused(const char *run, const tbw_writer_opts *o, const char *needle)
{
    open_refused(run, o, TBW_EINVAL, needle);
    CHECK(!exists(run));
}

TEST(open_with_a_null_out_pointer_is_refused_and_creates_nothing)
{
    char msg[256] = "";
    CHECK_RC(TBW_EINVAL, tbw_writer_open(NULL, hostile_run(HERE), NULL, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "out is NULL");
    CHECK(!exists(hostile_run(HERE)));
    expect_nothing(HERE);
}

TEST(open_with_a_null_or_empty_run_directory_is_refused_and_clears_out)
{
    open_refused(NULL, NULL, TBW_EINVAL, "run directory is empty or NULL");
    open_refused("", NULL, TBW_EINVAL, "run directory is empty or NULL");
    expect_nothing(HERE);
}

TEST(open_failure_without_a_message_buffer_still_returns_the_status)
{
    tbw_writer *w = NULL;
    CHECK_INT(TBW_EINVAL, tbw_writer_open(&w, "", NULL, NULL, 0));
    CHECK_INT(TBW_EINVAL, tbw_writer_open(&w, NULL, NULL, NULL, 99)); /* a length with no buffer */
    char msg[8] = "keep";
    CHECK_INT(TBW_EINVAL, tbw_writer_open(&w, "", NULL, msg, 0)); /* a buffer of length 0 is not written */
    CHECK_STR("keep", msg);
    char small[8];
    CHECK_INT(TBW_EINVAL, tbw_writer_open(&w, "", NULL, small, sizeof small)); /* cut, NUL-terminated */
    CHECK_INT(7, strlen(small));
    CHECK(w == NULL);
    expect_nothing(HERE);
}

TEST(open_through_a_regular_file_is_refused_with_eio_naming_the_path)
{
    const char *run = hostile_run(HERE);
    CHECK_INT(0, mkdir(run, 0777));
    char file[800], sub[800];
    snprintf(file, sizeof file, "%s/file", run);
    snprintf(sub, sizeof sub, "%s/file/sub", run);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    open_refused(sub, NULL, TBW_EIO, "file/sub");
    open_refused(sub, NULL, TBW_EIO, "Not a directory");
    CHECK(!exists(sub));
    CHECK_INT(0, hostile_event_files(run));
    expect_nothing(HERE);
}

TEST(open_on_a_regular_file_itself_is_refused_as_not_a_directory)
{
    const char *run = hostile_run(HERE);
    CHECK_INT(0, mkdir(run, 0777));
    char file[800];
    snprintf(file, sizeof file, "%s/plain", run);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    open_refused(file, NULL, TBW_EINVAL, "exists and is not a directory");
    CHECK_INT(0, hostile_event_files(run));
    expect_nothing(HERE);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

TEST(open_on_a_path_over_path_max_is_refused_and_says_the_name_is_too_long)
{
    const char *run = hostile_run(HERE);
    size_t cap = PATH_MAX + 1024;
    char *deep = malloc(cap);
    CHECK(deep != NULL);
    if (!deep)
        return;
    char part[251];
    memset(part, 'd', 250);
    part[250] = '\0';
    int n = snprintf(deep, cap, "%s", run);
    while ((size_t)n < (size_t)PATH_MAX + 200)
        n += snprintf(deep + n, cap - (size_t)n, "/%s", part);
    CHECK(strlen(deep) > PATH_MAX);
    open_refused(deep, NULL, TBW_EIO, "cannot create directory");
    open_refused(deep, NULL, TBW_EIO, "too long");
    free(deep);
    /* the directories below PATH_MAX that were made on the way hold no event file */
    CHECK_INT(0, hostile_event_files(run));
    nftw(run, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    expect_nothing(HERE);
}

TEST(open_with_max_queue_0_or_minus_1_is_refused_naming_max_queue)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_queue = 0;
    opts_refused(hostile_run(HERE), &o, "max_queue must be >= 1 (got 0)");
    o.max_queue = -1;
    opts_refused(hostile_run(HERE), &o, "max_queue must be >= 1 (got -1)");
    o.max_queue = INT_MIN;
    opts_refused(hostile_run(HERE), &o, "max_queue");
    expect_nothing(HERE);
}

TEST(open_with_flush_secs_nan_inf_or_negative_is_refused)
{
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY, -1, -DBL_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
        o.flush_secs = bad[i];
        opts_refused(hostile_run(HERE), &o, "flush_secs must be a finite number >= 0");
    }
    /* 0 is allowed: every event is flushed when it arrives */
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.flush_secs = 0;
    o.max_queue = 1000;
    hostile_clock clk;
    tbw_writer *w = hostile_writer(HERE, &o, &clk);
    CHECK_RC(0, tbw_scalar(w, "x", 0, 1.0), tbw_writer_errmsg(w));
    CHECK(tbw_writer_bytes_written(w) > 40); /* already handed to the OS */
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "x", 0, 1.0);
    finish(w, &e);
}

TEST(open_with_queue_bytes_under_1024_is_refused_and_1024_is_accepted)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.queue_bytes = 0;
    opts_refused(hostile_run(HERE), &o, "queue_bytes must be >= 1024 (got 0)");
    o.queue_bytes = 1023;
    opts_refused(hostile_run(HERE), &o, "queue_bytes must be >= 1024 (got 1023)");
    o.queue_bytes = 1024;
    o.max_queue = 100000;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    for (int i = 0; i < 100; i++) { /* about 40 bytes each: the buffer flushes itself every ~25 */
        CHECK_RC(0, tbw_scalar(w, "q", i, i), tbw_writer_errmsg(w));
        expect_scalar(&e, "q", i, i);
    }
    CHECK(tbw_writer_bytes_written(w) > 2048);
    finish(w, &e);
}

TEST(open_with_an_unknown_queue_policy_is_refused)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.policy = (tbw_queue_policy)2;
    opts_refused(hostile_run(HERE), &o, "unknown queue policy 2");
    o.policy = (tbw_queue_policy)-1;
    opts_refused(hostile_run(HERE), &o, "unknown queue policy -1");
    expect_nothing(HERE);
}

TEST(open_with_max_file_bytes_1_to_1023_is_refused_and_1024_rotates)
{
    const uint64_t bad[] = {1, 2, 32, 512, 1023};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
        o.max_file_bytes = bad[i];
        opts_refused(hostile_run(HERE), &o, "max_file_bytes must be 0 or >= 1024");
    }
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_file_bytes = 1024;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    for (int i = 0; i < 100; i++) {
        CHECK_RC(0, tbw_scalar(w, "r", i, -i), tbw_writer_errmsg(w));
        expect_scalar(&e, "r", i, -i);
    }
    CHECK_RC(0, tbw_writer_close(w), "close");
    CHECK(hostile_event_files(hostile_run(HERE)) >= 4);
    expect_write(&e);
}

TEST(open_with_png_level_minus_2_or_10_is_refused)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.png_level = -2;
    opts_refused(hostile_run(HERE), &o, "png_level must be -1..9 (got -2)");
    o.png_level = 10;
    opts_refused(hostile_run(HERE), &o, "png_level must be -1..9 (got 10)");
    o.png_level = INT_MAX;
    opts_refused(hostile_run(HERE), &o, "png_level");
    expect_nothing(HERE);
}

TEST(open_with_a_slash_in_filename_suffix_or_one_over_64_bytes_is_refused)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.filename_suffix = "/../escape";
    opts_refused(hostile_run(HERE), &o, "filename_suffix must not contain '/'");
    o.filename_suffix = ".v2/";
    opts_refused(hostile_run(HERE), &o, "filename_suffix");
    char longer[66];
    memset(longer, 's', 65);
    longer[65] = '\0';
    o.filename_suffix = longer;
    opts_refused(hostile_run(HERE), &o, "at most 64 bytes");
    longer[64] = '\0'; /* 64 bytes: allowed, and the file name ends with it */
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    size_t pl = strlen(tbw_writer_path(w));
    CHECK(pl > 64 && strcmp(tbw_writer_path(w) + pl - 64, longer) == 0);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_scalar(w, "s", 0, 3.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "s", 0, 3.0);
    finish(w, &e);
}

static double fixed_clock(void *ctx)
{
    return *(const double *)ctx;
}

/* A clock that returns t from the start: the open is refused and leaves no event file behind. */
static void clock_refused_at_open(const char *name, double t, const char *shown)
{
    const char *run = hostile_run(name);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = fixed_clock;
    o.clock_ctx = &t;
    char needle[64];
    snprintf(needle, sizeof needle, "the clock returned %s", shown);
    open_refused(run, &o, TBW_EINVAL, needle);
    open_refused(run, &o, TBW_EINVAL, "finite and >= 0");
    CHECK_INT(0, hostile_event_files(run));
    expect_nothing(name);
}

TEST(open_with_a_clock_returning_nan_is_refused_and_leaves_no_file)
{
    clock_refused_at_open(HERE, NAN, "nan");
}

TEST(open_with_a_clock_returning_infinity_is_refused_and_leaves_no_file)
{
    clock_refused_at_open(HERE, INFINITY, "inf");
}

TEST(open_with_a_clock_returning_minus_1_is_refused_and_leaves_no_file)
{
    clock_refused_at_open(HERE, -1.0, "-1");
}

TEST(open_with_a_clock_returning_1e16_is_refused_and_leaves_no_file)
{
    clock_refused_at_open(HERE, 1e16, "1e+16");
}

typedef struct counted_clock {
    double t;
    int calls;
} counted_clock;

static double counting_clock(void *ctx)
{
    counted_clock *c = ctx;
    c->calls++;
    return c->t;
}

TEST(clock_that_turns_nan_after_open_refuses_each_point_until_it_recovers)
{
    counted_clock c = {1.7e9, 0};
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = counting_clock;
    o.clock_ctx = &c;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_scalar(w, "c", 0, 1.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "c", 0, 1.0);
    const double bad[] = {NAN, INFINITY, -INFINITY, -1e-9, 1e15, 1e300};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.t = bad[i];
        /* a tag logged before takes the short path: the clock is asked once, as on the full path */
        int before = c.calls;
        REFUSED(w, TBW_EINVAL, tbw_scalar(w, "c", 1, 2.0), "the clock returned");
        CHECK_INT(1, c.calls - before);
        const float h[2] = {1, 2};
        REFUSED(w, TBW_EINVAL, tbw_histogram(w, "h", 1, h, 2, 0, NULL), "finite and >= 0");
        REFUSED(w, TBW_EINVAL, tbw_text(w, "t", 1, "x"), "the clock returned");
    }
    c.t = 1.7e9 + 10;
    CHECK_RC(0, tbw_writer_flush(w), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_scalar(w, "c", 2, 3.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "c", 2, 3.0);
    finish(w, &e);
}

TEST(background_drop_policy_refuses_with_efull_counts_and_keeps_every_accepted_point)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = true;
    o.policy = TBW_QUEUE_DROP;
    o.queue_bytes = 1024;
    o.max_queue = 100000;
    o.fsync = true; /* each batch waits for the disk, so the caller outruns the thread and fills the queue */
    hostile_clock clk;
    tbw_writer *w = hostile_writer(HERE, &o, &clk);
    hostile_expect e;
    expect_init(&e, HERE);
    uint64_t refused = 0;
    for (int i = 0; i < 200; i++) {
        int rc = tbw_scalar(w, "drop", i, i * 0.25);
        if (rc == 0) {
            expect_scalar(&e, "drop", i, i * 0.25);
        } else {
            CHECK_RC(TBW_EFULL, rc, tbw_writer_errmsg(w));
            CHECK_STR_HAS(tbw_writer_errmsg(w), "background queue full (1024 bytes); event dropped");
            refused++;
        }
    }
    CHECK(refused > 0);
    CHECK_U64(refused, tbw_writer_dropped(w));
    /* dropping is not sticky: after a flush the queue takes points again */
    CHECK_RC(0, tbw_writer_flush(w), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_scalar(w, "drop", 200, 50.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "drop", 200, 50.0);
    finish(w, &e);
}

TEST(background_drop_queue_that_fills_is_written_out_and_takes_events_again)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = true;
    o.policy = TBW_QUEUE_DROP;
    o.queue_bytes = 1024;
    o.max_queue = 100000;
    o.flush_secs = 0.5;
    o.fsync = true; /* each batch waits for the disk, so the caller outruns the thread and fills the queue */
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    usleep(100000); /* the thread is idle, waiting for work, when the queue fills */
    int step = 0, rc = 0;
    while (step < 200 && (rc = tbw_scalar(w, "fill", step, step)) == 0) {
        expect_scalar(&e, "fill", step, step);
        step++;
    }
    CHECK_RC(TBW_EFULL, rc, tbw_writer_errmsg(w));
    /* The queue is full ("the buffer reaches queue_bytes") and its oldest event soon older than
       flush_secs, so the thread must write it out without being asked: within 3 s the writer takes
       points again. */
    bool taken = false;
    for (int tries = 0; tries < 60 && !taken; tries++) {
        usleep(50000);
        taken = tbw_scalar(w, "fill", 1000, 1.0) == 0;
    }
    CHECK(taken);
    if (taken)
        expect_scalar(&e, "fill", 1000, 1.0);
    finish(w, &e);
}

TEST(background_writer_writes_a_lone_event_once_it_is_flush_secs_old)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = true;
    o.flush_secs = 0.2;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    usleep(100000); /* the thread is idle, waiting for work */
    uint64_t before = tbw_writer_bytes_written(w);
    CHECK_RC(0, tbw_scalar(w, "lone", 0, 1.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "lone", 0, 1.0);
    /* "flush when the oldest buffered event is this old ... checked by the background thread":
       no later call comes to check it, so the thread must */
    bool written = false;
    for (int tries = 0; tries < 60 && !written; tries++) {
        usleep(50000);
        written = tbw_writer_bytes_written(w) > before;
    }
    CHECK(written);
    finish(w, &e);
}

TEST(refused_scalar_does_not_start_a_new_file_at_the_size_limit)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_file_bytes = 1024;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_scalar(w, "keep", 0, 1.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "keep", 0, 1.0);
    CHECK_RC(0, tbw_writer_flush(w), tbw_writer_errmsg(w));
    char first[1024];
    snprintf(first, sizeof first, "%s", tbw_writer_path(w));
    /* a tag of 1200 bytes ending in 0xFF: its record would not fit what is left of the file */
    static char bad[1201];
    memset(bad, 'b', 1199);
    bad[1199] = (char)0xFF;
    bad[1200] = '\0';
    REFUSED(w, TBW_EINVAL, tbw_scalar(w, bad, 1, 2.0), "not valid UTF-8");
    CHECK_STR(first, tbw_writer_path(w));
    CHECK_INT(1, hostile_event_files(hostile_run(HERE)));
    finish(w, &e);
}

TEST(write_value_with_null_bytes_and_a_length_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const uint8_t meta[] = {0x0A, 0x09, 0x0A, 0x07, 's', 'c', 'a', 'l', 'a', 'r', 's'};
    const uint8_t v[] = {0x15, 0x00, 0x00, 0x80, 0x3F};
    REFUSED(w, TBW_EINVAL, tbw_writer_write_value(w, "raw", 0, NULL, 5, meta, sizeof meta), "NULL value");
    REFUSED(w, TBW_EINVAL, tbw_writer_write_value(w, "raw", 0, v, sizeof v, NULL, 11), "metadata");
    REFUSED(w, TBW_EINVAL, tbw_writer_write_value(w, NULL, 0, v, sizeof v, meta, sizeof meta), "tag is NULL");
    REFUSED(w, TBW_EINVAL, tbw_writer_write_value(w, "", 0, v, sizeof v, meta, sizeof meta), "tag is empty");
    CHECK_RC(0, tbw_writer_write_value(w, "raw", 0, v, sizeof v, meta, sizeof meta), tbw_writer_errmsg(w));
    expect_scalar(&e, "raw", 0, 1.0);
    goes_on(w, &e);
    finish(w, &e);
}

TEST(every_call_on_a_null_writer_is_refused_without_crashing)
{
    const float x[2] = {1, 2};
    static const uint8_t px[4];
    tbw_image_batch b = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 2, 2, 1};
    tbw_audio_clip clip = {x, 2, 1, NULL};
    const bool lab[2] = {true, false};
    const char *cells[1] = {"c"};
    tbw_layout_category cat = {"c", NULL, 0, false};
    CHECK_INT(TBW_EINVAL, tbw_scalar(NULL, "t", 0, 1));
    CHECK_INT(TBW_EINVAL, tbw_histogram(NULL, "t", 0, x, 2, 0, NULL));
    CHECK_INT(TBW_EINVAL, tbw_histogram_f64(NULL, "t", 0, NULL, 0, 0, NULL));
    CHECK_INT(TBW_EINVAL, tbw_images(NULL, "t", 0, &b, 1));
    CHECK_INT(TBW_EINVAL, tbw_audio(NULL, "t", 0, &clip, 1, 8000));
    CHECK_INT(TBW_EINVAL, tbw_text(NULL, "t", 0, "x"));
    CHECK_INT(TBW_EINVAL, tbw_text_table(NULL, "t", 0, cells, 1, 1));
    CHECK_INT(TBW_EINVAL, tbw_pr_curve(NULL, "t", 0, lab, x, NULL, 2, 0));
    CHECK_INT(TBW_EINVAL, tbw_custom_scalars_layout(NULL, &cat, 1));
    CHECK_INT(TBW_EINVAL, tbw_hparams_experiment(NULL, NULL, 0, NULL, 0, NULL, 0));
    CHECK_INT(TBW_EINVAL, tbw_hparams_session_start(NULL, NULL, 0, NULL, 0));
    CHECK_INT(TBW_EINVAL, tbw_hparams_session_end(NULL, TBW_SESSION_SUCCESS, 0));
    CHECK_INT(TBW_EINVAL, tbw_writer_write_value(NULL, "t", 0, NULL, 0, NULL, 0));
    CHECK_INT(TBW_EINVAL, tbw_writer_write_event_field(NULL, 0, 7, NULL, 0));
    CHECK_INT(TBW_EINVAL, tbw_writer_flush(NULL));
    CHECK_INT(0, tbw_writer_close(NULL));
    CHECK_STR("writer is NULL", tbw_writer_errmsg(NULL));
    CHECK_STR("", tbw_writer_path(NULL));
    CHECK_U64(0, tbw_writer_dropped(NULL));
    CHECK_U64(0, tbw_writer_bytes_written(NULL));
    tbw_graph *g = NULL;
    char msg[256];
    CHECK_RC(0, tbw_graph_create(&g, msg, sizeof msg), msg);
    CHECK_RC(TBW_EINVAL, tbw_graph_write(NULL, g, 0), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "writer is NULL");
    tbw_graph_free(g);
    expect_nothing(HERE);
}

/* ======================================================================== */
/* scalars                                                                   */
/* ======================================================================== */

/* ---- reading back what a run holds ---- */

typedef void (*value_fn)(const tbw_event *ev, const tbw_value *v, void *ctx);

static int is_event_file(const struct dirent *de)
{
    return strstr(de->d_name, "tfevents") != NULL;
}

/* Calls fn (if not NULL) for every value of tag in the run's event files, in file name order;
   returns how many there were. */
static int each_value(const char *run, const char *tag, value_fn fn, void *ctx)
{
    struct dirent **names = NULL;
    int nf = scandir(run, &names, is_event_file, alphasort);
    int count = 0;
    for (int f = 0; f < nf; f++) {
        char path[1200], msg[256];
        snprintf(path, sizeof path, "%s/%s", run, names[f]->d_name);
        free(names[f]);
        tbw_reader *r = NULL;
        CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
        const tbw_event *ev;
        int rc = 0;
        while (r && (rc = tbw_reader_next(r, &ev)) == 1)
            for (size_t i = 0; i < ev->n_values; i++)
                if (strcmp(ev->values[i].tag, tag) == 0) {
                    count++;
                    if (fn)
                        fn(ev, &ev->values[i], ctx);
                }
        CHECK_INT(0, rc);
        tbw_reader_close(r);
    }
    free(names);
    return count;
}

/* The last value of a tag, copied: its scalar, tensor shape and bytes, and its first strings. */
typedef struct copied {
    int64_t step;
    bool has_scalar;
    double scalar;
    int dtype;
    size_t rank;
    int64_t dims[2];
    uint8_t *data;
    size_t data_len;
    size_t n_strings;
    uint8_t *str[4];
    size_t str_len[4];
} copied;

static void copy_value(const tbw_event *ev, const tbw_value *v, void *ctx)
{
    copied *c = ctx;
    free(c->data);
    for (int i = 0; i < 4; i++)
        free(c->str[i]);
    memset(c, 0, sizeof *c);
    c->step = ev->step;
    c->has_scalar = v->has_scalar;
    c->scalar = v->scalar;
    c->dtype = v->dtype;
    c->rank = v->rank;
    for (size_t i = 0; i < v->rank && i < 2; i++)
        c->dims[i] = v->dims[i];
    c->data_len = v->data_len;
    c->data = malloc(v->data_len ? v->data_len : 1);
    if (c->data && v->data_len)
        memcpy(c->data, v->data, v->data_len);
    c->n_strings = v->n_strings;
    for (size_t i = 0; i < v->n_strings && i < 4; i++) {
        c->str_len[i] = v->string_lens[i];
        c->str[i] = malloc(v->string_lens[i] ? v->string_lens[i] : 1);
        if (c->str[i] && v->string_lens[i])
            memcpy(c->str[i], v->strings[i], v->string_lens[i]);
    }
}

static void copied_free(copied *c)
{
    free(c->data);
    for (int i = 0; i < 4; i++)
        free(c->str[i]);
    memset(c, 0, sizeof *c);
}

/* The last value of tag in the run (false if there is none). */
static bool last_value(const char *run, const char *tag, copied *c)
{
    memset(c, 0, sizeof *c);
    return each_value(run, tag, copy_value, c) > 0;
}

/* tbw_scalar with each of the tags is refused as invalid UTF-8, then the writer goes on. */
static void bad_tags_refused(const char *run, const char *const *tags, size_t n)
{
    tbw_writer *w = hostile_writer(run, NULL, NULL);
    hostile_expect e;
    expect_init(&e, run);
    for (size_t i = 0; i < n; i++) {
        REFUSED(w, TBW_EINVAL, tbw_scalar(w, tags[i], 0, 1.0), "not valid UTF-8");
        /* the summary kinds that check the tag first say the same */
        const float h[1] = {1};
        REFUSED(w, TBW_EINVAL, tbw_histogram(w, tags[i], 0, h, 1, 0, NULL), "tag is not valid UTF-8");
        REFUSED(w, TBW_EINVAL, tbw_text(w, tags[i], 0, "x"), "tag is not valid UTF-8");
    }
    goes_on(w, &e);
    finish(w, &e);
}

#define BAD_TAGS(run, ...)                                                                                   \
    do {                                                                                                     \
        const char *const tags_[] = {__VA_ARGS__};                                                           \
        bad_tags_refused((run), tags_, sizeof tags_ / sizeof tags_[0]);                                      \
    } while (0)

TEST(scalar_with_a_null_tag_is_refused_and_the_writer_goes_on)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_scalar(w, NULL, 0, 1.0), "tag is NULL");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(scalar_with_an_empty_tag_is_refused_and_the_writer_goes_on)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_scalar(w, "", 0, 1.0), "tag is empty");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(scalar_with_an_overlong_utf8_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "slash\xC0\xAF", /* '/' in two bytes */
             "nul\xC0\x80");        /* U+0000 in two bytes (Java's modified UTF-8) */
}

TEST(scalar_with_a_three_byte_overlong_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "x\xE0\x80\xAF", /* '/' in three bytes */
             "x\xE0\x9F\xBF");      /* U+07FF in three bytes */
}

TEST(scalar_with_a_four_byte_overlong_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "x\xF0\x80\x80\xAF"); /* '/' in four bytes */
}

TEST(scalar_with_a_lone_surrogate_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "loss\xED\xA0\x80"); /* U+D800, as CESU-8 would write half a pair */
}

TEST(scalar_with_a_low_surrogate_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "\xED\xBF\xBFloss"); /* U+DFFF */
}

TEST(scalar_with_a_truncated_utf8_sequence_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "euro\xE2\x82", /* the last byte of U+20AC is missing */
             "euro\xE2\x82x",      /* a continuation replaced by ASCII */
             "\xF0\x9F\x98",       /* three of four bytes */
             "\xC3",               /* a lead byte alone */
             "lone\x80tail");      /* a continuation byte with no lead */
}

TEST(scalar_with_a_0xff_byte_in_its_tag_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "\xFF", "loss\xFF", "loss\xFE", "bom\xFF\xFE");
}

TEST(scalar_with_a_code_point_past_u10ffff_is_refused_and_the_writer_goes_on)
{
    BAD_TAGS(HERE, "x\xF4\x90\x80\x80",                     /* U+110000 */
             "x\xF5\x80\x80\x80", "x\xF8\x88\x80\x80\x80"); /* lead bytes of 5-byte forms */
}

TEST(scalar_with_the_largest_code_points_in_its_tag_is_shown)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const char *tags[] = {"\xF0\x9F\x98\x80/smile", "\xEF\xBF\xBD", "edge\xF4\x8F\xBF\xBF",
                          "\xE2\x82\xAC/\xC3\xA9"};
    for (int i = 0; i < 4; i++) {
        CHECK_RC(0, tbw_scalar(w, tags[i], i, i + 0.5), tbw_writer_errmsg(w));
        expect_scalar(&e, tags[i], i, i + 0.5);
    }
    finish(w, &e);
}

TEST(scalar_with_a_100_kb_tag_is_written_and_shown)
{
    static char tag[100 * 1024 + 1];
    for (size_t i = 0; i < sizeof tag - 1; i++)
        tag[i] = (char)('a' + i % 26);
    tag[sizeof tag - 1] = '\0';
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_scalar(w, tag, 3, 0.125), tbw_writer_errmsg(w));
    expect_scalar(&e, tag, 3, 0.125);
    CHECK_RC(0, tbw_scalar(w, tag, 4, 0.25), tbw_writer_errmsg(w));
    expect_scalar(&e, tag, 4, 0.25);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), tag, &c));
    CHECK_INT(4, c.step);
    CHECK_DBL(0.25, c.scalar);
    copied_free(&c);
}

TEST(scalar_steps_negative_and_int64_extremes_are_shown_as_given)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    /* ascending, as TensorBoard's fast loader drops earlier points at or after a step seen again */
    const int64_t steps[] = {
        INT64_MIN,        INT64_MIN + 1,          -(INT64_C(1) << 53), -5,       -1, 0, 1,
        INT64_C(1) << 53, (INT64_C(1) << 53) + 1, INT64_MAX - 1,       INT64_MAX};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        CHECK_RC(0, tbw_scalar(w, "steps", steps[i], (double)i), tbw_writer_errmsg(w));
        expect_scalar(&e, "steps", steps[i], (double)i);
    }
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "steps", &c));
    CHECK(c.step == INT64_MAX);
    copied_free(&c);
}

/* Logs value under tag and checks the float32 bits written; expects TensorBoard to show shown. */
static void scalar_shown_as(const char *run, double value, double shown, uint32_t bits)
{
    tbw_writer *w = hostile_writer(run, NULL, NULL);
    hostile_expect e;
    expect_init(&e, run);
    CHECK_RC(0, tbw_scalar(w, "v", 0, value), tbw_writer_errmsg(w));
    expect_scalar(&e, "v", 0, shown);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(run), "v", &c));
    CHECK_INT(TBW_DT_FLOAT, c.dtype);
    CHECK_INT(0, c.rank);
    CHECK_INT(4, c.data_len);
    if (c.data_len == 4) {
        uint32_t got = (uint32_t)c.data[0] | (uint32_t)c.data[1] << 8 | (uint32_t)c.data[2] << 16 |
                       (uint32_t)c.data[3] << 24;
        if (isnan(shown))
            CHECK((got & 0x7F800000u) == 0x7F800000u && (got & 0x7FFFFFu) != 0);
        else
            CHECK_U64(bits, got);
    }
    CHECK(c.has_scalar);
    CHECK_DBL(shown, c.scalar);
    copied_free(&c);
}

TEST(scalar_nan_is_written_and_shown_as_nan)
{
    scalar_shown_as(HERE, NAN, NAN, 0);
}

TEST(scalar_positive_infinity_is_written_and_shown_as_infinity)
{
    scalar_shown_as(HERE, INFINITY, INFINITY, 0x7F800000u);
}

TEST(scalar_negative_infinity_is_written_and_shown_as_negative_infinity)
{
    scalar_shown_as(HERE, -INFINITY, -INFINITY, 0xFF800000u);
}

TEST(scalar_negative_zero_keeps_its_sign_bit)
{
    scalar_shown_as(HERE, -0.0, -0.0, 0x80000000u);
}

TEST(scalar_subnormal_double_1e_310_rounds_to_zero)
{
    scalar_shown_as(HERE, 1e-310, 0.0, 0);
}

TEST(scalar_smallest_float_subnormal_survives)
{
    scalar_shown_as(HERE, 1.4e-45, 0x1p-149, 1);
}

TEST(scalar_1e308_rounds_to_infinity)
{
    scalar_shown_as(HERE, 1e308, INFINITY, 0x7F800000u);
}

TEST(scalar_dbl_max_rounds_to_infinity_and_minus_dbl_max_to_minus_infinity)
{
    scalar_shown_as(HERE, DBL_MAX, INFINITY, 0x7F800000u);
    tbw_writer *w = hostile_writer(HERE, NULL, NULL); /* a second file in the same run */
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "v", 0, INFINITY);
    CHECK_RC(0, tbw_scalar(w, "neg", 0, -DBL_MAX), tbw_writer_errmsg(w));
    expect_scalar(&e, "neg", 0, -INFINITY);
    finish(w, &e);
}

TEST(scalar_just_under_float_overflow_rounds_to_flt_max)
{
    scalar_shown_as(HERE, 3.4028235e38, FLT_MAX, 0x7F7FFFFFu);
}

/* ======================================================================== */
/* histograms                                                                */
/* ======================================================================== */

TEST(histogram_with_null_data_and_n_above_0_is_refused_naming_the_tag)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_histogram(w, "weights", 0, NULL, 5, 0, NULL),
            "histogram 'weights': data is NULL with n=5");
    REFUSED(w, TBW_EINVAL, tbw_histogram_f64(w, "w64", 0, NULL, 1, 0, NULL), "'w64'");
    CHECK_INT(0, each_value(hostile_run(HERE), "weights", NULL, NULL));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(histogram_of_no_values_is_written_with_empty_buckets)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    size_t bad = 99;
    CHECK_RC(0, tbw_histogram(w, "empty", 0, NULL, 0, 0, &bad), tbw_writer_errmsg(w));
    CHECK_INT(0, bad);
    CHECK_RC(0, tbw_histogram_f64(w, "empty64", 0, NULL, 0, 5, NULL), tbw_writer_errmsg(w));
    expect_step(&e, "histograms", "empty", 0);
    expect_step(&e, "histograms", "empty64", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "empty", &c));
    CHECK_INT(TBW_DT_DOUBLE, c.dtype);
    CHECK_INT(2, c.rank);
    CHECK_INT(30, c.dims[0]);
    CHECK_INT(3, c.dims[1]);
    double sum = 0;
    for (size_t i = 0; i + 8 <= c.data_len; i += 8) {
        double d;
        memcpy(&d, c.data + i, 8);
        sum += fabs(d);
    }
    CHECK_DBL(0, sum);
    copied_free(&c);
}

TEST(histogram_with_minus_1_buckets_is_refused_naming_the_count)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const float x[3] = {1, 2, 3};
    REFUSED(w, TBW_EINVAL, tbw_histogram(w, "h", 0, x, 3, -1, NULL),
            "histogram 'h': bucket count -1 is outside 1..65536");
    REFUSED(w, TBW_EINVAL, tbw_histogram(w, "h", 0, x, 3, INT_MIN, NULL), "is outside 1..65536");
    double rows[3];
    CHECK_INT(TBW_EINVAL, tbw_histogram_buckets_f32(x, 3, 0, rows, NULL));
    CHECK_INT(TBW_EINVAL, tbw_histogram_buckets_f32(x, 3, -1, rows, NULL));
    CHECK_INT(TBW_EINVAL, tbw_histogram_buckets_f32(x, 3, 1, NULL, NULL));
    CHECK_INT(TBW_EINVAL, tbw_histogram_buckets_f64(NULL, 3, 1, rows, NULL));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(histogram_with_65537_buckets_is_refused_and_65536_is_written)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    float x[100];
    for (int i = 0; i < 100; i++)
        x[i] = (float)i;
    REFUSED(w, TBW_EINVAL, tbw_histogram(w, "many", 0, x, 100, 65537, NULL),
            "bucket count 65537 is outside 1..65536");
    REFUSED(w, TBW_EINVAL, tbw_histogram(w, "many", 0, x, 100, INT_MAX, NULL), "bucket count 2147483647");
    CHECK_RC(0, tbw_histogram(w, "many", 1, x, 100, 65536, NULL), tbw_writer_errmsg(w));
    expect_step(&e, "histograms", "many", 1);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "many", &c));
    CHECK_INT(65536, c.dims[0]);
    CHECK_INT((size_t)65536 * 3 * 8, c.data_len);
    double total = 0;
    for (size_t b = 0; c.data && b < 65536; b++) {
        double n;
        memcpy(&n, c.data + (b * 3 + 2) * 8, 8);
        total += n;
    }
    CHECK_DBL(100, total);
    copied_free(&c);
}

TEST(histogram_of_only_nan_and_infinities_is_written_empty_and_counts_them_as_nonfinite)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    float x[37];
    for (int i = 0; i < 37; i++)
        x[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
    size_t bad = 0;
    CHECK_RC(0, tbw_histogram(w, "nan", 0, x, 37, 0, &bad), tbw_writer_errmsg(w));
    CHECK_INT(37, bad);
    double xd[5] = {NAN, NAN, NAN, NAN, NAN};
    CHECK_RC(0, tbw_histogram_f64(w, "nan64", 0, xd, 5, 0, &bad), tbw_writer_errmsg(w));
    CHECK_INT(5, bad);
    expect_step(&e, "histograms", "nan", 0);
    expect_step(&e, "histograms", "nan64", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "nan", &c));
    bool all_zero = c.data_len == 30 * 3 * 8;
    for (size_t i = 0; all_zero && i < c.data_len; i++)
        all_zero = c.data[i] == 0;
    CHECK(all_zero);
    copied_free(&c);
}

/* Row b of a [k,3] histogram tensor. */
static void row(const copied *c, size_t b, double out[3])
{
    memset(out, 0, 3 * sizeof *out);
    if (c->data && (b + 1) * 24 <= c->data_len)
        memcpy(out, c->data + b * 24, 24);
}

TEST(histogram_of_one_value_puts_it_in_the_last_bucket)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const float x[1] = {-3.5f};
    CHECK_RC(0, tbw_histogram(w, "one", 7, x, 1, 0, NULL), tbw_writer_errmsg(w));
    expect_step(&e, "histograms", "one", 7);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "one", &c));
    CHECK_INT(30, c.dims[0]);
    double r[3];
    for (size_t b = 0; b < 29; b++) {
        row(&c, b, r);
        CHECK_DBL(-3.5, r[0]);
        CHECK_DBL(-3.5, r[1]);
        CHECK_DBL(0, r[2]);
    }
    row(&c, 29, r);
    CHECK_DBL(-3.5, r[0]);
    CHECK_DBL(1, r[2]);
    copied_free(&c);
}

TEST(histogram_with_one_bucket_holds_every_value)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const float x[6] = {5, -2, NAN, 9, 0, INFINITY};
    size_t bad = 0;
    CHECK_RC(0, tbw_histogram(w, "k1", 0, x, 6, 1, &bad), tbw_writer_errmsg(w));
    CHECK_INT(2, bad);
    expect_step(&e, "histograms", "k1", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "k1", &c));
    CHECK_INT(1, c.dims[0]);
    double r[3];
    row(&c, 0, r);
    CHECK_DBL(-2, r[0]);
    CHECK_DBL(9, r[1]);
    CHECK_DBL(4, r[2]);
    copied_free(&c);
}

TEST(histogram_of_more_than_4_billion_equal_values_counts_them_all)
{
    /* 2^32 + 8 zeros, read from pages that are never written (no memory is used for them) */
    size_t n = ((size_t)1 << 32) + 8;
    size_t bytes = n * sizeof(float);
    float *x = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(x != MAP_FAILED);
    if (x == MAP_FAILED)
        return;
    madvise(x, bytes, MADV_HUGEPAGE); /* fewer page faults where the huge zero page is used */
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    size_t bad = 1;
    CHECK_RC(0, tbw_histogram(w, "zeros", 0, x, n, 0, &bad), tbw_writer_errmsg(w));
    CHECK_INT(0, bad);
    munmap(x, bytes);
    expect_step(&e, "histograms", "zeros", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "zeros", &c));
    double r[3];
    row(&c, 29, r);
    CHECK_DBL(0, r[0]);
    CHECK_DBL(0, r[1]);
    CHECK_DBL((double)n, r[2]); /* a 32-bit counter would hold 8 */
    copied_free(&c);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The pixels of a PNG written with png_level 0: its IDAT holds a zlib stream of stored blocks, each
   row a filter byte (0, none) and the row's bytes. Writes height*row_bytes bytes to out; returns
   false if the PNG is not laid out that way. */
static bool png_stored_pixels(const uint8_t *png, size_t len, size_t height, size_t row_bytes, uint8_t *out)
{
    if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0)
        return false;
    uint8_t *z = malloc(len);
    size_t zl = 0;
    if (!z)
        return false;
    for (size_t p = 8; p + 12 <= len;) {
        uint32_t n = be32(png + p);
        if (n > len - p - 12)
            break;
        if (memcmp(png + p + 4, "IDAT", 4) == 0) {
            memcpy(z + zl, png + p + 8, n);
            zl += n;
        }
        p += 12 + (size_t)n;
    }
    size_t want = height * (row_bytes + 1), got = 0;
    uint8_t *raw = malloc(want ? want : 1);
    bool ok = raw && zl >= 2;
    for (size_t p = 2; ok;) {
        if (p >= zl) {
            ok = false;
            break;
        }
        uint8_t hdr = z[p++];
        if ((hdr >> 1 & 3) == 1 && (hdr & 1)) /* an empty fixed-Huffman final block */
            break;
        if ((hdr >> 1 & 3) != 0 || p + 4 > zl) {
            ok = false;
            break;
        }
        size_t bl = (size_t)z[p] | (size_t)z[p + 1] << 8;
        p += 4;
        if (bl > zl - p || bl > want - got) {
            ok = false;
            break;
        }
        memcpy(raw + got, z + p, bl);
        got += bl;
        p += bl;
        if (hdr & 1)
            break;
    }
    ok = ok && got == want;
    for (size_t y = 0; ok && y < height; y++) {
        ok = raw[y * (row_bytes + 1)] == 0;
        memcpy(out + y * row_bytes, raw + y * (row_bytes + 1) + 1, row_bytes);
    }
    free(raw);
    free(z);
    return ok;
}

/* ======================================================================== */
/* images                                                                    */
/* ======================================================================== */

static const uint8_t px64[64 * 64 * 4];

TEST(images_of_an_empty_batch_are_refused_naming_n)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch b = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 0, 4, 4, 1};
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1),
            "images 'img': n, height and width must be >= 1 (got 0, 4, 4)");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(images_with_0_2_or_5_channels_are_refused_naming_the_count)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const size_t bad[] = {0, 2, 5, SIZE_MAX};
    for (size_t i = 0; i < 4; i++) {
        tbw_image_batch b = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 4, 4, bad[i]};
        char needle[64];
        snprintf(needle, sizeof needle, "channels must be 1, 3 or 4 (got %zu)", bad[i]);
        REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), needle);
        uint8_t *g = NULL;
        size_t gh, gw, gc;
        CHECK_INT(TBW_EINVAL, tbw_image_grid(&b, 0, 0, 0, false, &g, &gh, &gw, &gc));
        CHECK(g == NULL);
    }
    tbw_image_batch ok = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 4, 4, 4};
    CHECK_RC(0, tbw_images(w, "img", 1, &ok, 1), tbw_writer_errmsg(w));
    expect_step(&e, "images", "img", 1);
    finish(w, &e);
}

TEST(images_of_zero_height_or_width_are_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch b = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 0, 4, 1};
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), "(got 1, 0, 4)");
    b.height = 4;
    b.width = 0;
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), "(got 1, 4, 0)");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(images_with_null_data_or_a_null_batch_are_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch b = {NULL, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 4, 4, 1};
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), "images 'img': the batch or its data is NULL");
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, NULL, 1), "the batch or its data is NULL");
    REFUSED(w, TBW_EINVAL, tbw_images(w, NULL, 0, &b, 1), "tag is empty or NULL");
    uint8_t *g = NULL;
    size_t gh, gw, gc;
    CHECK_INT(TBW_EINVAL, tbw_image_grid(NULL, 0, 0, 0, false, &g, &gh, &gw, &gc));
    CHECK_INT(TBW_EINVAL, tbw_image_grid(&b, 0, 0, 0, false, &g, &gh, &gw, &gc));
    b.data = px64;
    CHECK_INT(TBW_EINVAL, tbw_image_grid(&b, 0, 0, 0, false, NULL, &gh, &gw, &gc));
    CHECK_INT(TBW_EINVAL, tbw_image_grid(&b, 0, 0, 0, false, &g, &gh, NULL, &gc));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(images_with_an_unknown_pixel_type_or_layout_are_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch b = {px64, (tbw_pixel_type)2, TBW_LAYOUT_HWC, 1, 4, 4, 1};
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), "unknown pixel type 2");
    b.type = (tbw_pixel_type)-1;
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), "unknown pixel type -1");
    b.type = TBW_PIXEL_U8;
    b.layout = (tbw_layout)7;
    REFUSED(w, TBW_EINVAL, tbw_images(w, "img", 0, &b, 1), "unknown layout 7");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(float_pixels_nan_inf_and_out_of_range_are_clamped_in_the_png)
{
    const float f[8] = {NAN, INFINITY, -INFINITY, -1.0f, 2.0f, 0.5f, 0.0f, 1.0f};
    const uint8_t want[8] = {0, 255, 0, 0, 255, 128, 0, 255};
    tbw_image_batch b = {f, TBW_PIXEL_F32, TBW_LAYOUT_HWC, 1, 1, 8, 1};
    uint8_t *g = NULL;
    size_t gh = 0, gw = 0, gc = 0;
    CHECK_INT(0, tbw_image_grid(&b, 1, 0, 0, false, &g, &gh, &gw, &gc));
    CHECK_INT(1, gh);
    CHECK_INT(8, gw);
    if (g)
        CHECK_MEM(want, g, 8);
    tbw_free(g);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.png_level = 0;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_images(w, "clamp", 0, &b, 1), tbw_writer_errmsg(w));
    expect_step(&e, "images", "clamp", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "clamp", &c));
    CHECK_INT(3, c.n_strings);
    uint8_t got[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(c.n_strings == 3 && png_stored_pixels(c.str[2], c.str_len[2], 1, 8, got));
    CHECK_MEM(want, got, 8);
    copied_free(&c);
}

TEST(chw_image_is_written_as_the_same_pixels_as_its_hwc_twin)
{
    /* 2x3 RGB: planar R, G, B planes and the same pixels interleaved */
    uint8_t chw[18], hwc[18];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 6; p++) {
            chw[c * 6 + p] = (uint8_t)(c * 80 + p * 7 + 1);
            hwc[p * 3 + c] = (uint8_t)(c * 80 + p * 7 + 1);
        }
    float chw_f[18];
    for (int i = 0; i < 18; i++)
        chw_f[i] = chw[i] / 255.0f;
    tbw_image_batch planar = {chw, TBW_PIXEL_U8, TBW_LAYOUT_CHW, 1, 2, 3, 3};
    tbw_image_batch planar_f = {chw_f, TBW_PIXEL_F32, TBW_LAYOUT_CHW, 1, 2, 3, 3};
    tbw_image_batch inter = {hwc, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 2, 3, 3};
    uint8_t *g = NULL;
    size_t gh, gw, gc;
    CHECK_INT(0, tbw_image_grid(&planar, 0, 0, 0, false, &g, &gh, &gw, &gc));
    if (g)
        CHECK_MEM(hwc, g, 18);
    tbw_free(g);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.png_level = 0;
    tbw_writer *w = hostile_writer(HERE, &o, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_images(w, "chw", 0, &planar, 1), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_images(w, "chw_f", 0, &planar_f, 1), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_images(w, "hwc", 0, &inter, 1), tbw_writer_errmsg(w));
    expect_step(&e, "images", "chw", 0);
    expect_step(&e, "images", "chw_f", 0);
    expect_step(&e, "images", "hwc", 0);
    finish(w, &e);
    const char *tags[3] = {"chw", "chw_f", "hwc"};
    for (int t = 0; t < 3; t++) {
        copied c;
        CHECK(last_value(hostile_run(HERE), tags[t], &c));
        uint8_t got[18] = {0};
        CHECK(c.n_strings == 3 && png_stored_pixels(c.str[2], c.str_len[2], 2, 9, got));
        CHECK_MEM(hwc, got, 18);
        CHECK(c.n_strings == 3 && c.str_len[0] == 1 && c.str[0][0] == '3'); /* width first */
        CHECK(c.n_strings == 3 && c.str_len[1] == 1 && c.str[1][0] == '2');
        copied_free(&c);
    }
}

TEST(max_outputs_larger_than_the_batch_writes_every_image_once)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch b = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 2, 4, 4, 3};
    CHECK_RC(0, tbw_images(w, "two", 0, &b, 10), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_images(w, "max", 0, &b, SIZE_MAX), tbw_writer_errmsg(w));
    tbw_image_batch five = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 5, 4, 4, 1};
    CHECK_RC(0, tbw_images(w, "default", 0, &five, 0), tbw_writer_errmsg(w)); /* 0 means 3 */
    expect_step(&e, "images", "two", 0);
    expect_step(&e, "images", "max", 0);
    expect_step(&e, "images", "default", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "two", &c));
    CHECK_INT(4, c.n_strings); /* width, height and two PNGs */
    copied_free(&c);
    CHECK(last_value(hostile_run(HERE), "max", &c));
    CHECK_INT(4, c.n_strings);
    copied_free(&c);
    CHECK(last_value(hostile_run(HERE), "default", &c));
    CHECK_INT(5, c.n_strings);
    copied_free(&c);
}

TEST(one_by_one_images_are_written)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const size_t ch[3] = {1, 3, 4};
    const char *tags[3] = {"gray", "rgb", "rgba"};
    for (int i = 0; i < 3; i++) {
        tbw_image_batch b = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 3, 1, 1, ch[i]};
        CHECK_RC(0, tbw_images(w, tags[i], i, &b, 3), tbw_writer_errmsg(w));
        expect_step(&e, "images", tags[i], i);
    }
    finish(w, &e);
}

TEST(image_32768_px_wide_and_1_high_is_written_and_32769_is_refused)
{
    static uint8_t line[32769];
    for (size_t i = 0; i < sizeof line; i++)
        line[i] = (uint8_t)i;
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch wide = {line, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 1, 32768, 1};
    CHECK_RC(0, tbw_images(w, "wide", 0, &wide, 1), tbw_writer_errmsg(w));
    tbw_image_batch tall = {line, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 32768, 1, 1};
    CHECK_RC(0, tbw_images(w, "tall", 0, &tall, 1), tbw_writer_errmsg(w));
    wide.width = 32769;
    REFUSED(w, TBW_ERANGE, tbw_images(w, "wide", 1, &wide, 1), "32769x1 px is over the 32768 px per side");
    tall.height = 32769;
    REFUSED(w, TBW_ERANGE, tbw_images(w, "tall", 1, &tall, 1), "1x32769 px is over the 32768 px per side");
    expect_step(&e, "images", "wide", 0);
    expect_step(&e, "images", "tall", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "wide", &c));
    CHECK(c.n_strings == 3 && c.str_len[0] == 5 && memcmp(c.str[0], "32768", 5) == 0);
    copied_free(&c);
}

TEST(image_grid_with_pad_4097_is_refused_and_4096_is_accepted)
{
    tbw_image_batch b = {px64, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 2, 1, 1, 1};
    uint8_t *g = NULL;
    size_t gh = 0, gw = 0, gc = 0;
    CHECK_INT(TBW_ERANGE, tbw_image_grid(&b, 0, 4097, 0, false, &g, &gh, &gw, &gc));
    CHECK(g == NULL);
    CHECK_INT(TBW_ERANGE, tbw_image_grid(&b, 0, SIZE_MAX, 0, false, &g, &gh, &gw, &gc));
    CHECK_INT(0, tbw_image_grid(&b, 0, 4096, 9, false, &g, &gh, &gw, &gc));
    /* two 1x1 tiles in one row of ceil(sqrt(2)) = 2 columns, 4096 px of border around each */
    CHECK_INT(1 + 2 * 4096, gh);
    CHECK_INT(2 + 3 * 4096, gw);
    CHECK_INT(1, gc);
    if (g) {
        CHECK_INT(9, g[0]);
        CHECK_INT(0, g[(size_t)4096 * gw + 4096]); /* the first tile */
    }
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch grid = {g, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, gh, gw, gc};
    CHECK_RC(0, tbw_images(w, "grid", 0, &grid, 1), tbw_writer_errmsg(w));
    tbw_free(g);
    expect_step(&e, "images", "grid", 0);
    finish(w, &e);
}

TEST(image_grid_with_more_columns_than_images_uses_one_row_of_them)
{
    uint8_t tiles[3 * 2 * 2];
    for (int i = 0; i < 12; i++)
        tiles[i] = (uint8_t)(i + 1);
    tbw_image_batch b = {tiles, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 3, 2, 2, 1};
    uint8_t *g = NULL;
    size_t gh = 0, gw = 0, gc = 0;
    CHECK_INT(0, tbw_image_grid(&b, 1000, 1, 0, false, &g, &gh, &gw, &gc));
    CHECK_INT(2 + 2, gh);
    CHECK_INT(3 * 2 + 4, gw); /* three columns, not 1000 */
    if (g && gw == 10) {
        CHECK_INT(1, g[1 * 10 + 1]);
        CHECK_INT(5, g[1 * 10 + 4]);
        CHECK_INT(12, g[2 * 10 + 8]);
    }
    tbw_free(g);
    CHECK_INT(0, tbw_image_grid(&b, SIZE_MAX, 0, 0, false, &g, &gh, &gw, &gc));
    CHECK_INT(2, gh);
    CHECK_INT(6, gw);
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_image_batch grid = {g, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, gh, gw, gc};
    CHECK_RC(0, tbw_images(w, "row", 0, &grid, 1), tbw_writer_errmsg(w));
    tbw_free(g);
    expect_step(&e, "images", "row", 0);
    finish(w, &e);
}

TEST(png_encode_with_bad_arguments_is_refused)
{
    uint8_t *out = (uint8_t *)1;
    size_t len = 9;
    CHECK_INT(TBW_EINVAL, tbw_png_encode(px64, 2, 2, 5, -1, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_png_encode(px64, 2, 2, 0, -1, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_png_encode(px64, 2, 2, 1, 10, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_png_encode(px64, 2, 2, 1, -2, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_png_encode(NULL, 2, 2, 1, -1, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_png_encode(px64, 2, 2, 1, -1, NULL, &len));
    CHECK_INT(TBW_EINVAL, tbw_png_encode(px64, 0, 2, 1, -1, &out, &len));
    out = NULL;
    CHECK_INT(0, tbw_png_encode(px64, 2, 2, 1, 9, &out, &len));
    CHECK(out && len > 8 && memcmp(out, "\x89PNG", 4) == 0);
    tbw_free(out);
    expect_nothing(HERE);
}

/* ======================================================================== */
/* audio                                                                     */
/* ======================================================================== */

static const float tone[8] = {0, 0.5f, 1, 0.5f, 0, -0.5f, -1, -0.5f};

TEST(audio_with_no_clips_is_refused_naming_the_tag)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {tone, 8, 1, NULL};
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, &clip, 0, 8000), "audio 'snd': needs 1..10000 clips");
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, NULL, 1, 8000), "audio 'snd': needs 1..10000 clips");
    static tbw_audio_clip many[10001];
    for (size_t i = 0; i < 10001; i++)
        many[i] = clip;
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, many, 10001, 8000), "needs 1..10000 clips");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(audio_with_sample_rate_0_or_768001_is_refused_and_768000_is_written)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {tone, 8, 1, NULL};
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, &clip, 1, 0), "sample rate 0 is outside 1..768000 Hz");
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, &clip, 1, 768001), "sample rate 768001 is outside");
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, &clip, 1, UINT32_MAX), "sample rate 4294967295");
    CHECK_RC(0, tbw_audio(w, "snd", 1, &clip, 1, 768000), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_audio(w, "snd", 2, &clip, 1, 1), tbw_writer_errmsg(w));
    expect_step(&e, "audio", "snd", 1);
    expect_step(&e, "audio", "snd", 2);
    finish(w, &e);
}

TEST(audio_clip_with_0_or_65_channels_is_refused_naming_the_clip)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clips[3] = {{tone, 8, 1, NULL}, {tone, 8, 0, NULL}, {tone, 1, 65, NULL}};
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, clips, 2, 8000),
            "audio 'snd': clip 1 needs samples and 1..64 channels");
    clips[1].channels = 1;
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, clips, 3, 8000), "clip 2 needs samples and 1..64 channels");
    static float wide[64];
    clips[2] = (tbw_audio_clip){wide, 1, 64, NULL};
    CHECK_RC(0, tbw_audio(w, "snd", 1, clips, 3, 8000), tbw_writer_errmsg(w));
    expect_step(&e, "audio", "snd", 1);
    finish(w, &e);
}

TEST(audio_clip_with_null_samples_and_frames_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {NULL, 8, 1, NULL};
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, &clip, 1, 8000), "clip 0 needs samples");
    uint8_t *out = NULL;
    size_t len = 0;
    CHECK_INT(TBW_EINVAL, tbw_wav_encode(NULL, 8, 1, 8000, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_wav_encode(tone, 8, 1, 8000, NULL, &len));
    CHECK_INT(TBW_EINVAL, tbw_wav_encode(tone, 8, 65, 8000, &out, &len));
    CHECK_INT(TBW_EINVAL, tbw_wav_encode(tone, 8, 1, 0, &out, &len));
    CHECK(out == NULL);
    goes_on(w, &e);
    finish(w, &e);
}

TEST(audio_clip_of_zero_frames_is_written_as_an_empty_wav)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {NULL, 0, 2, "silence"};
    CHECK_RC(0, tbw_audio(w, "empty", 0, &clip, 1, 44100), tbw_writer_errmsg(w));
    expect_step(&e, "audio", "empty", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "empty", &c));
    CHECK_INT(2, c.n_strings);
    CHECK_INT(44, c.str_len[0]);
    CHECK(c.str[0] && memcmp(c.str[0], "RIFF", 4) == 0);
    CHECK(c.n_strings == 2 && c.str_len[1] == 7 && memcmp(c.str[1], "silence", 7) == 0);
    copied_free(&c);
}

TEST(audio_samples_nan_and_out_of_range_are_clamped_in_the_wav)
{
    const float s[8] = {NAN, 2.0f, -2.0f, INFINITY, -INFINITY, 0.5f, 1.0f, -1.0f};
    const int16_t want[8] = {0, 32767, -32767, 32767, -32767, 16384, 32767, -32767};
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {s, 8, 1, NULL};
    CHECK_RC(0, tbw_audio(w, "clamp", 0, &clip, 1, 16000), tbw_writer_errmsg(w));
    expect_step(&e, "audio", "clamp", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "clamp", &c));
    CHECK_INT(44 + 16, c.str_len[0]);
    for (int i = 0; c.str[0] && c.str_len[0] == 60 && i < 8; i++) {
        int16_t v = (int16_t)(uint16_t)(c.str[0][44 + 2 * i] | c.str[0][45 + 2 * i] << 8);
        CHECK_INT(want[i], v);
    }
    copied_free(&c);
}

TEST(audio_label_that_is_not_utf8_is_refused_naming_the_clip)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clips[2] = {{tone, 8, 1, "fine"}, {tone, 8, 1, "bad\xC0\xAF"}};
    REFUSED(w, TBW_EINVAL, tbw_audio(w, "snd", 0, clips, 2, 8000),
            "audio 'snd': label of clip 1 is not valid UTF-8");
    clips[1].label = "";
    CHECK_RC(0, tbw_audio(w, "snd", 1, clips, 2, 8000), tbw_writer_errmsg(w));
    expect_step(&e, "audio", "snd", 1);
    finish(w, &e);
}

TEST(audio_clip_of_4_gib_is_refused_with_erange_before_its_samples_are_read)
{
    /* 2^31 frames of 2 bytes: the WAV size does not fit its 32-bit header. The samples are a
       mapping that cannot be read, so reading any of them would crash the case. */
    size_t frames = (size_t)1 << 31;
    float *s =
        mmap(NULL, frames * sizeof(float), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(s != MAP_FAILED);
    if (s == MAP_FAILED)
        return;
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {s, frames, 1, NULL};
    REFUSED(w, TBW_ERANGE, tbw_audio(w, "huge", 0, &clip, 1, 8000), "audio 'huge': with clip 0 the clips are over");
    clip.frames = SIZE_MAX / 2;
    clip.channels = 4;
    REFUSED(w, TBW_ERANGE, tbw_audio(w, "huge", 0, &clip, 1, 8000), "clip 0");
    munmap(s, frames * sizeof(float));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(audio_clip_over_the_record_limit_is_refused_before_its_samples_are_read)
{
    /* 2^30 frames: a 2 GiB WAV, over the 2^31 - 1 bytes of an event record */
    size_t frames = (size_t)1 << 30;
    float *s =
        mmap(NULL, frames * sizeof(float), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(s != MAP_FAILED);
    if (s == MAP_FAILED)
        return;
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_audio_clip clip = {s, frames, 1, NULL};
    REFUSED(w, TBW_ERANGE, tbw_audio(w, "big", 0, &clip, 1, 8000), "'big'");
    munmap(s, frames * sizeof(float));
    goes_on(w, &e);
    finish(w, &e);
}

/* ======================================================================== */
/* text                                                                      */
/* ======================================================================== */

TEST(text_that_is_null_is_refused_naming_the_tag)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_text(w, "notes", 0, NULL), "text 'notes': text is NULL");
    REFUSED(w, TBW_EINVAL, tbw_text(w, "", 0, "x"), "tag is empty or NULL");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(text_that_is_not_utf8_is_refused_and_the_writer_goes_on)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_text(w, "notes", 0, "caf\xE9"), "text 'notes'"); /* Latin-1 */
    CHECK_STR_HAS(tbw_writer_errmsg(w), "not valid UTF-8");
    REFUSED(w, TBW_EINVAL, tbw_text(w, "notes", 0, "\xED\xB0\x80"), "not valid UTF-8");
    CHECK_RC(0, tbw_text(w, "notes", 1, "caf\xC3\xA9"), tbw_writer_errmsg(w));
    expect_step(&e, "text", "notes", 1);
    finish(w, &e);
}

TEST(empty_text_is_written)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_text(w, "blank", 0, ""), tbw_writer_errmsg(w));
    expect_step(&e, "text", "blank", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "blank", &c));
    CHECK_INT(TBW_DT_STRING, c.dtype);
    CHECK_INT(1, c.n_strings);
    CHECK_INT(0, c.str_len[0]);
    copied_free(&c);
}

TEST(text_table_with_null_cells_or_zero_rows_or_cols_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const char *cells[2] = {"a", "b"};
    REFUSED(w, TBW_EINVAL, tbw_text_table(w, "tab", 0, NULL, 1, 2),
            "text table 'tab': needs cells and rows, cols >= 1");
    REFUSED(w, TBW_EINVAL, tbw_text_table(w, "tab", 0, cells, 0, 2), "text table 'tab'");
    REFUSED(w, TBW_EINVAL, tbw_text_table(w, "tab", 0, cells, 2, 0), "rows, cols >= 1");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(text_table_whose_cell_count_overflows_is_refused_with_erange_before_reading)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const char *cells[1] = {"only"};
    REFUSED(w, TBW_ERANGE, tbw_text_table(w, "tab", 0, cells, SIZE_MAX / 2 + 1, 2),
            "text 'tab': too many cells");
    REFUSED(w, TBW_ERANGE, tbw_text_table(w, "tab", 0, cells, SIZE_MAX, SIZE_MAX), "too many cells");
    REFUSED(w, TBW_ERANGE, tbw_text_table(w, "tab", 0, cells, 10000001, 1), "too many cells");
    REFUSED(w, TBW_ERANGE, tbw_text_table(w, "tab", 0, cells, 4000, 2501), "too many cells");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(text_table_with_a_null_cell_writes_it_as_empty)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const char *cells[4] = {"a", NULL, NULL, "d"};
    CHECK_RC(0, tbw_text_table(w, "tab", 0, cells, 2, 2), tbw_writer_errmsg(w));
    expect_step(&e, "text", "tab", 0);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "tab", &c));
    CHECK_INT(4, c.n_strings);
    CHECK_INT(2, c.rank);
    CHECK_INT(0, c.str_len[1]);
    CHECK_INT(0, c.str_len[2]);
    CHECK_INT(1, c.str_len[3]);
    copied_free(&c);
}

TEST(text_table_with_an_invalid_utf8_cell_is_refused_naming_the_cell)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const char *cells[6] = {"a", "b", "c", "d\xFF", "e", "f"};
    REFUSED(w, TBW_EINVAL, tbw_text_table(w, "tab", 0, cells, 3, 2), "text 'tab': cell 3 is not valid UTF-8");
    cells[3] = "d";
    CHECK_RC(0, tbw_text_table(w, "tab", 1, cells, 3, 2), tbw_writer_errmsg(w));
    expect_step(&e, "text", "tab", 1);
    finish(w, &e);
}

/* ======================================================================== */
/* PR curves                                                                 */
/* ======================================================================== */

static const bool pr_labels[4] = {true, false, true, false};
static const float pr_preds[4] = {0.9f, 0.2f, 0.6f, 0.4f};

TEST(pr_curve_with_1_or_10001_thresholds_is_refused_and_2_and_10000_are_written)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, pr_preds, NULL, 4, 1),
            "pr curve 'pr': num_thresholds 1 is outside 2..10000");
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, pr_preds, NULL, 4, 10001),
            "num_thresholds 10001 is outside 2..10000");
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, pr_preds, NULL, 4, -1), "num_thresholds -1");
    CHECK_RC(0, tbw_pr_curve(w, "pr", 1, pr_labels, pr_preds, NULL, 4, 2), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_pr_curve(w, "pr10k", 1, pr_labels, pr_preds, NULL, 4, 10000), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "pr/pr_curves", &c));
    CHECK_INT(2, c.rank);
    CHECK_INT(6, c.dims[0]);
    CHECK_INT(2, c.dims[1]);
    copied_free(&c);
    CHECK(last_value(hostile_run(HERE), "pr10k/pr_curves", &c));
    CHECK_INT(10000, c.dims[1]);
    CHECK_INT(6 * 10000 * 4, c.data_len);
    copied_free(&c);
}

TEST(pr_curve_with_a_nan_prediction_is_refused_naming_its_index)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const float p[4] = {0.1f, 0.2f, 0.3f, NAN};
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, p, NULL, 4, 0),
            "pr curve 'pr': prediction 3 is nan, outside [0, 1]");
    CHECK_INT(0, each_value(hostile_run(HERE), "pr/pr_curves", NULL, NULL));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(pr_curve_with_a_prediction_outside_0_1_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    float p[4] = {0.1f, 1.5f, 0.3f, 0.4f};
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, p, NULL, 4, 0),
            "prediction 1 is 1.5, outside [0, 1]");
    p[1] = -1e-30f;
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, p, NULL, 4, 0), "prediction 1 is -1e-30");
    p[1] = INFINITY;
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, p, NULL, 4, 0), "prediction 1 is inf");
    p[1] = 1.0f; /* both ends are inside, as is -0 */
    p[2] = -0.0f;
    CHECK_RC(0, tbw_pr_curve(w, "pr", 1, pr_labels, p, NULL, 4, 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(pr_curve_of_no_examples_is_written_with_zero_counts)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_pr_curve(w, "none", 0, NULL, NULL, NULL, 0, 5), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "none/pr_curves", &c));
    CHECK_INT(5, c.dims[1]);
    bool zero = c.data_len == 6 * 5 * 4;
    for (size_t i = 0; zero && i < c.data_len; i++)
        zero = c.data[i] == 0;
    CHECK(zero);
    copied_free(&c);
}

TEST(pr_curve_with_null_labels_or_predictions_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, NULL, pr_preds, NULL, 4, 0),
            "pr curve 'pr': labels or predictions is NULL");
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, NULL, NULL, 4, 0),
            "labels or predictions is NULL");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(pr_curve_with_a_nan_or_infinite_weight_is_refused_naming_its_index)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    float wt[4] = {1, 1, NAN, 1};
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, pr_preds, wt, 4, 0),
            "pr curve 'pr': weight 2 is not finite");
    wt[2] = 1;
    wt[0] = -INFINITY;
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "pr", 0, pr_labels, pr_preds, wt, 4, 0), "weight 0 is not finite");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(pr_curve_with_negative_weights_is_written_as_tensorboard_computes_it)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const bool lab[2] = {true, false};
    const float p[2] = {0.9f, 0.1f};
    const float wt[2] = {-1.0f, -2.0f};
    CHECK_RC(0, tbw_pr_curve(w, "neg", 0, lab, p, wt, 2, 2), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
    copied c;
    CHECK(last_value(hostile_run(HERE), "neg/pr_curves", &c));
    CHECK_INT(6 * 2 * 4, c.data_len);
    if (c.data_len == 48) {
        float d[12];
        memcpy(d, c.data, sizeof d);
        CHECK_DBL(-1, d[0]); /* tp at threshold 0 */
        CHECK_DBL(-2, d[2]); /* fp at threshold 0 */
        CHECK_DBL(0, d[1]);  /* both predictions fall below threshold 1 */
    }
    copied_free(&c);
}

TEST(pr_curve_with_an_empty_null_or_invalid_name_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, NULL, 0, pr_labels, pr_preds, NULL, 4, 0),
            "pr curve name is empty or not valid UTF-8");
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "", 0, pr_labels, pr_preds, NULL, 4, 0), "pr curve name");
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "\xC1\xBF", 0, pr_labels, pr_preds, NULL, 4, 0),
            "not valid UTF-8");
    CHECK_RC(0, tbw_scalar(w, "taken/pr_curves", 0, 1.0), tbw_writer_errmsg(w));
    expect_scalar(&e, "taken/pr_curves", 0, 1.0);
    REFUSED(w, TBW_EINVAL, tbw_pr_curve(w, "taken", 1, pr_labels, pr_preds, NULL, 4, 0),
            "already holds scalars data");
    goes_on(w, &e);
    finish(w, &e);
}

/* ======================================================================== */
/* hparams                                                                   */
/* ======================================================================== */

static const tbw_metric_info one_metric[1] = {{"loss", NULL, NULL, NULL, TBW_DATASET_UNKNOWN}};

TEST(hparams_experiment_with_an_empty_or_null_hparam_name_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_hparam_info hp[2] = {{.name = "lr", .type = TBW_HPARAM_FLOAT},
                             {.name = "", .type = TBW_HPARAM_FLOAT}};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, hp, 2, one_metric, 1, NULL, 0),
            "hparam 1: name is empty");
    hp[1].name = NULL;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, hp, 2, one_metric, 1, NULL, 0),
            "hparam 1: name is empty");
    hp[1].name = "bad\xFF";
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, hp, 2, one_metric, 1, NULL, 0), "hparam 1");
    tbw_metric_info m = {"", NULL, NULL, NULL, TBW_DATASET_UNKNOWN};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, hp, 1, &m, 1, NULL, 0), "metric 0: tag is empty");
    m.tag = NULL;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, hp, 1, &m, 1, NULL, 0), "metric 0");
    CHECK_INT(0, each_value(hostile_run(HERE), "_hparams_/experiment", NULL, NULL));
    CHECK_RC(0, tbw_hparams_experiment(w, hp, 1, one_metric, 1, "", 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
    CHECK_INT(1, each_value(hostile_run(HERE), "_hparams_/experiment", NULL, NULL));
}

TEST(hparams_experiment_with_null_arrays_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, NULL, 2, one_metric, 1, NULL, 0),
            "hparams experiment: NULL arrays");
    tbw_hparam_info hp = {.name = "lr", .type = TBW_HPARAM_FLOAT};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, NULL, 1, NULL, 0), "NULL arrays");
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 10001, NULL, 0),
            "more than 10000 entries");
    /* a discrete domain that names values but gives no array of its type */
    tbw_hparam_info d = {
        .name = "opt", .type = TBW_HPARAM_STRING, .n_values = 2, .numbers = (const double[]){1, 2}};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &d, 1, one_metric, 1, NULL, 0),
            "hparam 'opt': n_values=2 but no values of its type");
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, NULL, 3, NULL, 0), "hparams session: values is NULL");
    CHECK_RC(0, tbw_hparams_experiment(w, NULL, 0, NULL, 0, NULL, 0),
             tbw_writer_errmsg(w)); /* empty is fine */
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_experiment_with_duplicate_hparam_names_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_hparam_info hp[3] = {{.name = "lr", .type = TBW_HPARAM_FLOAT},
                             {.name = "batch", .type = TBW_HPARAM_FLOAT},
                             {.name = "lr", .type = TBW_HPARAM_STRING}};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, hp, 3, one_metric, 1, NULL, 0),
            "hparam 'lr' is listed twice");
    CHECK_INT(0, each_value(hostile_run(HERE), "_hparams_/experiment", NULL, NULL));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_experiment_with_duplicate_metric_names_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_hparam_info hp = {.name = "lr", .type = TBW_HPARAM_FLOAT};
    tbw_metric_info m[2] = {{"loss", "train", NULL, NULL, TBW_DATASET_TRAINING},
                            {"loss", "train", "again", NULL, TBW_DATASET_TRAINING}};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, m, 2, NULL, 0), "'loss'");
    CHECK_INT(0, each_value(hostile_run(HERE), "_hparams_/experiment", NULL, NULL));
    m[1].group = "eval"; /* the same tag in another group is another metric */
    CHECK_RC(0, tbw_hparams_experiment(w, &hp, 1, m, 2, NULL, 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_interval_with_nan_or_reversed_bounds_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_hparam_info hp = {
        .name = "lr", .type = TBW_HPARAM_FLOAT, .has_interval = true, .min_value = NAN, .max_value = 1};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0),
            "hparam 'lr': an interval needs type float, min <= max");
    hp.min_value = 0;
    hp.max_value = NAN;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0), "min <= max");
    hp.min_value = 2;
    hp.max_value = 1;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0), "min <= max");
    hp.type = TBW_HPARAM_STRING;
    hp.min_value = 0;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0), "needs type float");
    hp.type = TBW_HPARAM_FLOAT;
    hp.min_value = hp.max_value = 1; /* a single point is an interval */
    CHECK_RC(0, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_discrete_domain_with_nan_or_empty_values_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const double nums[3] = {0.1, NAN, 0.3};
    tbw_hparam_info hp = {.name = "lr", .type = TBW_HPARAM_FLOAT, .n_values = 3, .numbers = nums};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0),
            "hparam 'lr': discrete value 1 is not finite");
    const double infs[1] = {INFINITY};
    hp.numbers = infs;
    hp.n_values = 1;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &hp, 1, one_metric, 1, NULL, 0),
            "discrete value 0 is not finite");
    const char *strs[2] = {"adam", ""};
    tbw_hparam_info s = {.name = "opt", .type = TBW_HPARAM_STRING, .n_values = 2, .strings = strs};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &s, 1, one_metric, 1, NULL, 0),
            "hparam 'opt': discrete value 1 is empty");
    strs[1] = NULL;
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &s, 1, one_metric, 1, NULL, 0), "discrete value 1");
    tbw_hparam_info t = {.name = "kind", .type = (tbw_hparam_type)4};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, &t, 1, one_metric, 1, NULL, 0),
            "hparam 'kind': unsupported type 4");
    tbw_metric_info m = {"loss", NULL, NULL, NULL, (tbw_dataset_type)3};
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, NULL, 0, &m, 1, NULL, 0), "bad dataset type");
    REFUSED(w, TBW_EINVAL, tbw_hparams_experiment(w, NULL, 0, NULL, 0, "\xE0\x80", 0),
            "description is not valid UTF-8");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_session_with_duplicate_value_names_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_hparam_value v[3] = {{"lr", TBW_HPARAM_FLOAT, 0.1, NULL, false},
                             {"opt", TBW_HPARAM_STRING, 0, "adam", false},
                             {"lr", TBW_HPARAM_FLOAT, 0.2, NULL, false}};
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, v, 3, NULL, 0), "hparam 'lr' is given twice");
    v[2].name = "";
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, v, 3, NULL, 0),
            "hparams session: value 2 has an empty or non-UTF-8 name");
    v[2].name = NULL;
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, v, 3, NULL, 0), "value 2");
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, v, 2, "grp\xFF", 0), "group name is not valid UTF-8");
    CHECK_INT(0, each_value(hostile_run(HERE), "_hparams_/session_start_info", NULL, NULL));
    CHECK_RC(0, tbw_hparams_session_start(w, v, 2, NULL, 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_session_with_a_nan_value_or_a_null_string_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_hparam_value v = {"lr", TBW_HPARAM_FLOAT, NAN, NULL, false};
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, &v, 1, NULL, 0),
            "hparam 'lr': NaN is not a value TensorBoard can show");
    tbw_hparam_value s = {"opt", TBW_HPARAM_STRING, 0, NULL, false};
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, &s, 1, NULL, 0),
            "hparam 'opt': string value is empty, NULL or not UTF-8");
    s.string = "";
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, &s, 1, NULL, 0), "string value is empty");
    tbw_hparam_value t = {"x", (tbw_hparam_type)0, 1, NULL, false};
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_start(w, &t, 1, NULL, 0), "hparam 'x': unsupported type 0");
    v.number = INFINITY; /* infinite numbers are shown as such */
    CHECK_RC(0, tbw_hparams_session_start(w, &v, 1, "g", 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(hparams_session_end_with_an_unknown_status_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_end(w, (tbw_session_status)4, 0),
            "hparams session end: unknown status 4");
    REFUSED(w, TBW_EINVAL, tbw_hparams_session_end(w, (tbw_session_status)-1, 0), "unknown status -1");
    CHECK_INT(0, each_value(hostile_run(HERE), "_hparams_/session_end_info", NULL, NULL));
    CHECK_RC(0, tbw_hparams_session_end(w, TBW_SESSION_FAILURE, 0), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

/* ======================================================================== */
/* custom scalars layout                                                     */
/* ======================================================================== */

static const char *const loss_re[1] = {"loss.*"};

TEST(custom_scalars_layout_with_no_categories_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_layout_chart ch = {"losses", loss_re, 1, NULL, 0};
    tbw_layout_category cat = {"main", &ch, 1, false};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, NULL, 1), "custom scalars: needs 1..1000 categories");
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 0), "needs 1..1000 categories");
    static tbw_layout_category many[1001];
    for (int i = 0; i < 1001; i++)
        many[i] = cat;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, many, 1001), "needs 1..1000 categories");
    CHECK_INT(0, each_value(hostile_run(HERE), "custom_scalars__config__", NULL, NULL));
    CHECK_RC(0, tbw_custom_scalars_layout(w, many, 1000), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(custom_scalars_chart_with_null_or_no_regexes_is_refused_naming_the_chart)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_layout_chart ch = {"losses", NULL, 1, NULL, 0};
    tbw_layout_category cat = {"main", &ch, 1, false};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "custom scalars: chart 'losses' has neither regexes nor series");
    ch.tag_regexes = loss_re;
    ch.n_regexes = 0;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), "chart 'losses' has neither");
    const char *const with_null[2] = {"ok", NULL};
    ch.tag_regexes = with_null;
    ch.n_regexes = 2;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), "a tag regex is empty or not valid UTF-8");
    const char *const with_empty[1] = {""};
    ch.tag_regexes = with_empty;
    ch.n_regexes = 1;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), "a tag regex is empty");
    cat.charts = NULL;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "custom scalars: category 0 has no valid title or NULL charts");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(custom_scalars_invalid_regex_is_refused_naming_it)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    const char *const bad[1] = {"loss(["};
    tbw_layout_chart ch = {"losses", bad, 1, NULL, 0};
    tbw_layout_category cat = {"main", &ch, 1, false};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "custom scalars: invalid tag regex 'loss(['");
    const char *const star[1] = {"*loss"};
    ch.tag_regexes = star;
    int rc = tbw_custom_scalars_layout(w, &cat, 1); /* POSIX may take a leading '*' literally */
    CHECK(rc == 0 || rc == TBW_EINVAL);
    ch.tag_regexes = loss_re;
    CHECK_RC(0, tbw_custom_scalars_layout(w, &cat, 1), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(custom_scalars_margin_chart_with_null_series_or_value_tag_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_layout_chart ch = {"band", NULL, 0, NULL, 2};
    tbw_layout_category cat = {"main", &ch, 1, false};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "custom scalars: chart 'band' has NULL series");
    tbw_margin_series s[2] = {{"loss", "loss/lo", "loss/hi"}, {NULL, "acc/lo", "acc/hi"}};
    ch.series = s;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "margin chart 'band' series 1 needs value, lower and upper tags");
    s[1].value = "";
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), "series 1 needs value");
    s[1] = (tbw_margin_series){"acc", NULL, "acc/hi"};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "series 1 needs value, lower and upper tags");
    s[1].lower = "acc/lo";
    CHECK_RC(0, tbw_custom_scalars_layout(w, &cat, 1), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

TEST(custom_scalars_margin_series_with_an_empty_bound_tag_is_refused)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_margin_series s[1] = {{"loss", "", "loss/hi"}};
    tbw_layout_chart ch = {"band", NULL, 0, s, 1};
    tbw_layout_category cat = {"main", &ch, 1, false};
    /* no scalar tag is empty, so the band could never be drawn */
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "series 0 needs value, lower and upper tags");
    s[0] = (tbw_margin_series){"loss", "loss/lo", ""};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "series 0 needs value, lower and upper tags");
    goes_on(w, &e);
    finish(w, &e);
}

TEST(custom_scalars_null_titles_are_refused_and_empty_ones_accepted)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    tbw_layout_chart ch = {NULL, loss_re, 1, NULL, 0};
    tbw_layout_category cat = {"main", &ch, 1, false};
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1),
            "custom scalars: chart 0 of 'main' has no valid title");
    ch.title = "bad\xC0\x80";
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), "chart 0 of 'main'");
    ch.title = "";
    cat.title = NULL;
    REFUSED(w, TBW_EINVAL, tbw_custom_scalars_layout(w, &cat, 1), "category 0 has no valid title");
    cat.title = "";
    CHECK_RC(0, tbw_custom_scalars_layout(w, &cat, 1), tbw_writer_errmsg(w));
    goes_on(w, &e);
    finish(w, &e);
}

/* Events of the given kind (TBW_EVENT_GRAPH, ...) in the run. */
static int count_events(const char *run, tbw_event_kind kind)
{
    struct dirent **names = NULL;
    int nf = scandir(run, &names, is_event_file, alphasort);
    int count = 0;
    for (int f = 0; f < nf; f++) {
        char path[1200], msg[256];
        snprintf(path, sizeof path, "%s/%s", run, names[f]->d_name);
        free(names[f]);
        tbw_reader *r = NULL;
        CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
        const tbw_event *ev;
        while (r && tbw_reader_next(r, &ev) == 1)
            count += ev->kind == kind;
        tbw_reader_close(r);
    }
    free(names);
    return count;
}

/* ======================================================================== */
/* graphs                                                                    */
/* ======================================================================== */

static tbw_graph *new_graph(void)
{
    tbw_graph *g = NULL;
    char msg[256];
    CHECK_RC(0, tbw_graph_create(&g, msg, sizeof msg), msg);
    return g;
}

TEST(graph_node_with_a_duplicate_name_is_refused_and_the_graph_keeps_one)
{
    tbw_graph *g = new_graph();
    if (!g)
        return;
    size_t idx = 99;
    CHECK_RC(0, tbw_graph_add_node(g, "conv1/Conv2D", "Conv2D", NULL, 0, NULL, &idx), tbw_graph_errmsg(g));
    CHECK_INT(0, idx);
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "conv1/Conv2D", "Relu", NULL, 0, NULL, &idx),
             tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "duplicate node name 'conv1/Conv2D'");
    CHECK_INT(0, idx); /* untouched by the refusal */
    CHECK_INT(1, tbw_graph_node_count(g));
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_graph_write(w, g, 0), tbw_graph_errmsg(g));
    tbw_graph_free(g);
    goes_on(w, &e);
    finish(w, &e);
    CHECK_INT(1, count_events(hostile_run(HERE), TBW_EVENT_GRAPH));
}

TEST(graph_node_with_an_empty_or_null_name_or_op_is_refused)
{
    tbw_graph *g = new_graph();
    if (!g)
        return;
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node name is empty or not valid UTF-8");
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, NULL, "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node name is empty");
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "n\xFF", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "not valid UTF-8");
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "c", "", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node 'c': op is empty");
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "c", "Add", NULL, 2, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node 'c': inputs is NULL with n_inputs=2");
    const char *in[2] = {"a", ""};
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "c", "Add", in, 2, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node 'c': input 1 is empty");
    CHECK_RC(TBW_EINVAL, tbw_graph_add_node(g, "c", "Add", NULL, 0, "/gpu\xFF", NULL), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node 'c': device is not valid UTF-8");
    CHECK_INT(0, tbw_graph_node_count(g));
    CHECK_INT(TBW_EINVAL, tbw_graph_add_node(NULL, "x", "Const", NULL, 0, NULL, NULL));
    CHECK_STR("graph is NULL", tbw_graph_errmsg(NULL));
    CHECK_INT(TBW_EINVAL, tbw_graph_create(NULL, NULL, 0));
    tbw_graph_free(g);
    expect_nothing(HERE);
}

TEST(graph_input_naming_a_missing_node_is_refused_at_write_and_nothing_is_written)
{
    tbw_graph *g = new_graph();
    if (!g)
        return;
    const char *in[3] = {"x:0", "^y", "later"};
    CHECK_RC(0, tbw_graph_add_node(g, "x", "Placeholder", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_add_node(g, "y", "Placeholder", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_add_node(g, "sum", "AddN", in, 3, NULL, NULL), tbw_graph_errmsg(g));
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(TBW_EINVAL, tbw_graph_write(w, g, 0), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node 'sum': input 'later' names no node in the graph");
    uint8_t *bytes = (uint8_t *)1;
    size_t len = 7;
    CHECK_RC(TBW_EINVAL, tbw_graph_serialize(g, &bytes, &len), tbw_graph_errmsg(g));
    CHECK(bytes == NULL);
    CHECK_INT(0, len);
    /* a suffix that is not an output number is part of the name */
    const char *odd[1] = {"x:y"};
    CHECK_RC(0, tbw_graph_add_node(g, "odd", "Identity", odd, 1, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_add_node(g, "later", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_write(w, g, 0), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "input 'x:y' names no node");
    CHECK_INT(0, count_events(hostile_run(HERE), TBW_EVENT_GRAPH));
    CHECK_RC(0, tbw_graph_add_node(g, "x:y", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_write(w, g, 3), tbw_graph_errmsg(g));
    tbw_graph_free(g);
    goes_on(w, &e);
    finish(w, &e);
    CHECK_INT(1, count_events(hostile_run(HERE), TBW_EVENT_GRAPH));
}

TEST(graph_attribute_on_a_node_index_past_the_end_is_refused)
{
    tbw_graph *g = new_graph();
    if (!g)
        return;
    CHECK_RC(0, tbw_graph_add_node(g, "a", "Const", NULL, 0, NULL, NULL), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_int(g, 1, "k", 3), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "no node with index 1 (the graph has 1)");
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_string(g, SIZE_MAX, "k", "v"), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "no node with index");
    const int64_t dims[2] = {1, 2};
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape(g, 5, "s", dims, 2), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_int_list(g, 5, "l", dims, 2), tbw_graph_errmsg(g));
    const int ranks[1] = {2};
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape_list(g, 5, "_output_shapes", dims, ranks, 1),
             tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "no node with index 5");
    /* bad keys and values on a good node */
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_float(g, 0, "", 1.0f), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "node 'a': attribute key is empty");
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_bool(g, 0, NULL, true), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_type(g, 0, "T", 0), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "attribute 'T': 0 is not a DataType");
    const int64_t neg[1] = {-2};
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape(g, 0, "s", neg, 1), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "attribute 's': rank must be -1..64 with dims >= -1");
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape(g, 0, "s", dims, 65), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape(g, 0, "s", NULL, 2), tbw_graph_errmsg(g));
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_string(g, 0, "s", "\xFF"), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "attribute 's': string value is NULL or not valid UTF-8");
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_float_list(g, 0, "f", NULL, 3), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "attribute 'f': values is NULL");
    const char *sv[2] = {"ok", NULL};
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_string_list(g, 0, "sl", sv, 2), tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "attribute 'sl': value 1 is NULL");
    const int bad_ranks[2] = {1, -2};
    CHECK_RC(TBW_EINVAL, tbw_graph_attr_shape_list(g, 0, "_output_shapes", dims, bad_ranks, 2),
             tbw_graph_errmsg(g));
    CHECK_STR_HAS(tbw_graph_errmsg(g), "shape 1 has a bad rank or dims");
    /* the good attributes still go on, and the graph is written with them */
    CHECK_RC(0, tbw_graph_attr_shape_list(g, 0, "_output_shapes", dims, ranks, 1), tbw_graph_errmsg(g));
    CHECK_RC(0, tbw_graph_attr_type(g, 0, "dtype", 1), tbw_graph_errmsg(g));
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(0, tbw_graph_write(w, g, 0), tbw_graph_errmsg(g));
    tbw_graph_free(g);
    goes_on(w, &e);
    finish(w, &e);
    CHECK_INT(1, count_events(hostile_run(HERE), TBW_EVENT_GRAPH));
}

TEST(writing_a_null_graph_is_refused_and_the_writer_goes_on)
{
    tbw_writer *w = hostile_writer(HERE, NULL, NULL);
    hostile_expect e;
    expect_init(&e, HERE);
    CHECK_RC(TBW_EINVAL, tbw_graph_write(w, NULL, 0), tbw_writer_errmsg(w));
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK_INT(TBW_EINVAL, tbw_graph_serialize(NULL, &bytes, &len));
    tbw_graph *g = new_graph();
    CHECK_INT(TBW_EINVAL, tbw_graph_serialize(g, NULL, &len));
    CHECK_RC(0, tbw_graph_write(w, g, 0), tbw_graph_errmsg(g)); /* an empty graph is a graph */
    tbw_graph_free(g);
    goes_on(w, &e);
    finish(w, &e);
    CHECK_INT(1, count_events(hostile_run(HERE), TBW_EVENT_GRAPH));
}

/* ======================================================================== */
/* one writer, four threads                                                  */
/* ======================================================================== */

enum { THREADS = 4, PER_THREAD = 50 };

typedef struct thread_job {
    tbw_writer *w;
    int t;
    int failures;
} thread_job;

static char thread_tags[THREADS][2][32];

static void *log_from_thread(void *arg)
{
    thread_job *j = arg;
    const float h[4] = {1, 2, 3, (float)j->t};
    for (int i = 0; i < PER_THREAD; i++) {
        j->failures += tbw_scalar(j->w, thread_tags[j->t][0], i, j->t * 1000 + i) != 0;
        if (i % 10 == 0) {
            j->failures += tbw_text(j->w, thread_tags[j->t][1], i, "tick") != 0;
            j->failures += tbw_writer_flush(j->w) != 0;
        }
        if (i % 7 == 0) /* refused calls in between must not disturb the others */
            j->failures += tbw_histogram(j->w, thread_tags[j->t][0], i, h, 4, 0, NULL) != TBW_EINVAL;
    }
    return NULL;
}

static void four_threads(const char *run, bool background)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = background;
    o.max_queue = 7;
    o.queue_bytes = 2048;
    tbw_writer *w = hostile_writer(run, &o, NULL);
    hostile_expect e;
    expect_init(&e, run);
    pthread_t th[THREADS];
    thread_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        snprintf(thread_tags[t][0], 32, "thread%d/loss", t);
        snprintf(thread_tags[t][1], 32, "thread%d/note", t);
        jobs[t] = (thread_job){w, t, 0};
    }
    for (int t = 0; t < THREADS; t++)
        CHECK_INT(0, pthread_create(&th[t], NULL, log_from_thread, &jobs[t]));
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_INT(0, jobs[t].failures);
    }
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            expect_scalar(&e, thread_tags[t][0], i, t * 1000 + i);
            if (i % 10 == 0)
                expect_step(&e, "text", thread_tags[t][1], i);
        }
    finish(w, &e);
    for (int t = 0; t < THREADS; t++) {
        CHECK_INT(PER_THREAD, each_value(hostile_run(run), thread_tags[t][0], NULL, NULL));
        CHECK_INT(PER_THREAD / 10, each_value(hostile_run(run), thread_tags[t][1], NULL, NULL));
    }
}

TEST(four_threads_logging_to_one_foreground_writer_lose_and_repeat_nothing)
{
    four_threads(HERE, false);
}

TEST(four_threads_logging_to_one_background_writer_lose_and_repeat_nothing)
{
    four_threads(HERE, true);
}

static const check_case tests[] = {
    /* tbw_writer_open */
    CASE(open_with_a_null_out_pointer_is_refused_and_creates_nothing),
    CASE(open_with_a_null_or_empty_run_directory_is_refused_and_clears_out),
    CASE(open_failure_without_a_message_buffer_still_returns_the_status),
    CASE(open_through_a_regular_file_is_refused_with_eio_naming_the_path),
    CASE(open_on_a_regular_file_itself_is_refused_as_not_a_directory),
    CASE(open_on_a_path_over_path_max_is_refused_and_says_the_name_is_too_long),
    CASE(open_with_max_queue_0_or_minus_1_is_refused_naming_max_queue),
    CASE(open_with_flush_secs_nan_inf_or_negative_is_refused),
    CASE(open_with_queue_bytes_under_1024_is_refused_and_1024_is_accepted),
    CASE(open_with_an_unknown_queue_policy_is_refused),
    CASE(open_with_max_file_bytes_1_to_1023_is_refused_and_1024_rotates),
    CASE(open_with_png_level_minus_2_or_10_is_refused),
    CASE(open_with_a_slash_in_filename_suffix_or_one_over_64_bytes_is_refused),
    CASE(open_with_a_clock_returning_nan_is_refused_and_leaves_no_file),
    CASE(open_with_a_clock_returning_infinity_is_refused_and_leaves_no_file),
    CASE(open_with_a_clock_returning_minus_1_is_refused_and_leaves_no_file),
    CASE(open_with_a_clock_returning_1e16_is_refused_and_leaves_no_file),
    CASE(clock_that_turns_nan_after_open_refuses_each_point_until_it_recovers),
    CASE(background_drop_policy_refuses_with_efull_counts_and_keeps_every_accepted_point),
    CASE(background_drop_queue_that_fills_is_written_out_and_takes_events_again),
    CASE(background_writer_writes_a_lone_event_once_it_is_flush_secs_old),
    CASE(refused_scalar_does_not_start_a_new_file_at_the_size_limit),
    CASE(write_value_with_null_bytes_and_a_length_is_refused),
    CASE(every_call_on_a_null_writer_is_refused_without_crashing),
    /* scalars */
    CASE(scalar_with_a_null_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_an_empty_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_an_overlong_utf8_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_three_byte_overlong_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_four_byte_overlong_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_lone_surrogate_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_low_surrogate_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_truncated_utf8_sequence_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_0xff_byte_in_its_tag_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_a_code_point_past_u10ffff_is_refused_and_the_writer_goes_on),
    CASE(scalar_with_the_largest_code_points_in_its_tag_is_shown),
    CASE(scalar_with_a_100_kb_tag_is_written_and_shown),
    CASE(scalar_steps_negative_and_int64_extremes_are_shown_as_given),
    CASE(scalar_nan_is_written_and_shown_as_nan),
    CASE(scalar_positive_infinity_is_written_and_shown_as_infinity),
    CASE(scalar_negative_infinity_is_written_and_shown_as_negative_infinity),
    CASE(scalar_negative_zero_keeps_its_sign_bit),
    CASE(scalar_subnormal_double_1e_310_rounds_to_zero),
    CASE(scalar_smallest_float_subnormal_survives),
    CASE(scalar_1e308_rounds_to_infinity),
    CASE(scalar_dbl_max_rounds_to_infinity_and_minus_dbl_max_to_minus_infinity),
    CASE(scalar_just_under_float_overflow_rounds_to_flt_max),
    /* histograms */
    CASE(histogram_with_null_data_and_n_above_0_is_refused_naming_the_tag),
    CASE(histogram_of_no_values_is_written_with_empty_buckets),
    CASE(histogram_with_minus_1_buckets_is_refused_naming_the_count),
    CASE(histogram_with_65537_buckets_is_refused_and_65536_is_written),
    CASE(histogram_of_only_nan_and_infinities_is_written_empty_and_counts_them_as_nonfinite),
    CASE(histogram_of_one_value_puts_it_in_the_last_bucket),
    CASE(histogram_with_one_bucket_holds_every_value),
    CASE(histogram_of_more_than_4_billion_equal_values_counts_them_all),
    /* images */
    CASE(images_of_an_empty_batch_are_refused_naming_n),
    CASE(images_with_0_2_or_5_channels_are_refused_naming_the_count),
    CASE(images_of_zero_height_or_width_are_refused),
    CASE(images_with_null_data_or_a_null_batch_are_refused),
    CASE(images_with_an_unknown_pixel_type_or_layout_are_refused),
    CASE(float_pixels_nan_inf_and_out_of_range_are_clamped_in_the_png),
    CASE(chw_image_is_written_as_the_same_pixels_as_its_hwc_twin),
    CASE(max_outputs_larger_than_the_batch_writes_every_image_once),
    CASE(one_by_one_images_are_written),
    CASE(image_32768_px_wide_and_1_high_is_written_and_32769_is_refused),
    CASE(image_grid_with_pad_4097_is_refused_and_4096_is_accepted),
    CASE(image_grid_with_more_columns_than_images_uses_one_row_of_them),
    CASE(png_encode_with_bad_arguments_is_refused),
    /* audio */
    CASE(audio_with_no_clips_is_refused_naming_the_tag),
    CASE(audio_with_sample_rate_0_or_768001_is_refused_and_768000_is_written),
    CASE(audio_clip_with_0_or_65_channels_is_refused_naming_the_clip),
    CASE(audio_clip_with_null_samples_and_frames_is_refused),
    CASE(audio_clip_of_zero_frames_is_written_as_an_empty_wav),
    CASE(audio_samples_nan_and_out_of_range_are_clamped_in_the_wav),
    CASE(audio_label_that_is_not_utf8_is_refused_naming_the_clip),
    CASE(audio_clip_of_4_gib_is_refused_with_erange_before_its_samples_are_read),
    CASE(audio_clip_over_the_record_limit_is_refused_before_its_samples_are_read),
    /* text */
    CASE(text_that_is_null_is_refused_naming_the_tag),
    CASE(text_that_is_not_utf8_is_refused_and_the_writer_goes_on),
    CASE(empty_text_is_written),
    CASE(text_table_with_null_cells_or_zero_rows_or_cols_is_refused),
    CASE(text_table_whose_cell_count_overflows_is_refused_with_erange_before_reading),
    CASE(text_table_with_a_null_cell_writes_it_as_empty),
    CASE(text_table_with_an_invalid_utf8_cell_is_refused_naming_the_cell),
    /* PR curves */
    CASE(pr_curve_with_1_or_10001_thresholds_is_refused_and_2_and_10000_are_written),
    CASE(pr_curve_with_a_nan_prediction_is_refused_naming_its_index),
    CASE(pr_curve_with_a_prediction_outside_0_1_is_refused),
    CASE(pr_curve_of_no_examples_is_written_with_zero_counts),
    CASE(pr_curve_with_null_labels_or_predictions_is_refused),
    CASE(pr_curve_with_a_nan_or_infinite_weight_is_refused_naming_its_index),
    CASE(pr_curve_with_negative_weights_is_written_as_tensorboard_computes_it),
    CASE(pr_curve_with_an_empty_null_or_invalid_name_is_refused),
    /* hparams */
    CASE(hparams_experiment_with_an_empty_or_null_hparam_name_is_refused),
    CASE(hparams_experiment_with_null_arrays_is_refused),
    CASE(hparams_experiment_with_duplicate_hparam_names_is_refused),
    CASE(hparams_experiment_with_duplicate_metric_names_is_refused),
    CASE(hparams_interval_with_nan_or_reversed_bounds_is_refused),
    CASE(hparams_discrete_domain_with_nan_or_empty_values_is_refused),
    CASE(hparams_session_with_duplicate_value_names_is_refused),
    CASE(hparams_session_with_a_nan_value_or_a_null_string_is_refused),
    CASE(hparams_session_end_with_an_unknown_status_is_refused),
    /* custom scalars */
    CASE(custom_scalars_layout_with_no_categories_is_refused),
    CASE(custom_scalars_chart_with_null_or_no_regexes_is_refused_naming_the_chart),
    CASE(custom_scalars_invalid_regex_is_refused_naming_it),
    CASE(custom_scalars_margin_chart_with_null_series_or_value_tag_is_refused),
    CASE(custom_scalars_margin_series_with_an_empty_bound_tag_is_refused),
    CASE(custom_scalars_null_titles_are_refused_and_empty_ones_accepted),
    /* graphs */
    CASE(graph_node_with_a_duplicate_name_is_refused_and_the_graph_keeps_one),
    CASE(graph_node_with_an_empty_or_null_name_or_op_is_refused),
    CASE(graph_input_naming_a_missing_node_is_refused_at_write_and_nothing_is_written),
    CASE(graph_attribute_on_a_node_index_past_the_end_is_refused),
    CASE(writing_a_null_graph_is_refused_and_the_writer_goes_on),
    /* threads */
    CASE(four_threads_logging_to_one_foreground_writer_lose_and_repeat_nothing),
    CASE(four_threads_logging_to_one_background_writer_lose_and_repeat_nothing),
};
HOSTILE_MAIN(tests)
