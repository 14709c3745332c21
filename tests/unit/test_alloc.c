/*
 * Allocation failure: every allocation the library makes goes through the
 * wrapped malloc family below. For each operation, fail the Nth allocation for
 * N = 1, 2, ... until the operation succeeds: each failure must come back as a
 * status (never a crash), and nothing may leak (checked by the sanitizer
 * build; here the live-allocation count is compared).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"
#include <tbw/tbw.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t s);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long g_countdown = -1; /* fail when it reaches 0; -1 = never */
static long g_calls;

static int should_fail(void)
{
    g_calls++;
    if (g_countdown < 0)
        return 0;
    return g_countdown-- == 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t s)
{
    return should_fail() ? NULL : __real_calloc(n, s);
}
void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : __real_strndup(s, n);
}

static char *g_dir;
static int g_run;

typedef int (*op_fn)(tbw_writer *w);

static int op_scalar(tbw_writer *w)
{
    return tbw_scalar(w, "s", 1, 2.0);
}
static int op_histogram(tbw_writer *w)
{
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = (float)i;
    return tbw_histogram(w, "h", 1, x, 1000, 100, NULL);
}
static int op_image(tbw_writer *w)
{
    uint8_t px[3 * 16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)i;
    tbw_image_batch b = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 3, 16, 16, 3};
    return tbw_images(w, "i", 1, &b, 3);
}
static int op_audio(tbw_writer *w)
{
    float s[256];
    for (int i = 0; i < 256; i++)
        s[i] = (float)i / 256.0f;
    tbw_audio_clip c = {s, 256, 1, "label"};
    return tbw_audio(w, "a", 1, &c, 1, 8000);
}
static int op_text(tbw_writer *w)
{
    const char *cells[4] = {"a", "b", "c", "d"};
    int rc = tbw_text(w, "t", 1, "hello");
    return rc ? rc : tbw_text_table(w, "tt", 1, cells, 2, 2);
}
static int op_flush(tbw_writer *w)
{
    int rc = tbw_scalar(w, "f", 1, 1.0);
    return rc ? rc : tbw_writer_flush(w);
}

/* Opens a writer, runs op, closes; with the Nth allocation failing. */
static int attempt(op_fn op, long n, int *failed_open)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/r%d", g_dir, g_run++);
    tbw_writer *w = NULL;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_queue = 1;
    g_countdown = n;
    int rc = tbw_writer_open(&w, run, &o, msg, sizeof msg);
    *failed_open = rc != 0;
    if (rc == 0) {
        rc = op(w);
        int crc = tbw_writer_close(w);
        if (!rc)
            rc = crc;
    } else {
        CHECK(w == NULL);
        CHECK(msg[0] != '\0');
    }
    g_countdown = -1;
    return rc;
}

static void sweep(const char *name, op_fn op)
{
    int failed_open;
    long n;
    int statuses_ok = 1;
    for (n = 0; n < 10000; n++) {
        int rc = attempt(op, n, &failed_open);
        if (rc == 0)
            break;
        if (rc != TBW_ENOMEM)
            statuses_ok = 0;
    }
    CHECK_(statuses_ok, "%s: a failed allocation came back as something other than TBW_ENOMEM", name);
    CHECK_(n < 10000, "%s never succeeded", name);
    printf("%s: succeeded once %ld allocations were allowed\n", name, n);

    /* The reader under the same treatment, on the file the last run wrote. */
}

static void reader_sweep(void)
{
    char run[600], path[1200], msg[256];
    snprintf(run, sizeof run, "%s/r%d", g_dir, g_run - 1);
    if (tu_event_files(run, path, sizeof path) < 1) {
        CHECK(0);
        return;
    }
    long n;
    for (n = 0; n < 10000; n++) {
        g_countdown = n;
        tbw_reader *r = NULL;
        int rc = tbw_reader_open(&r, path, msg, sizeof msg);
        int events = 0;
        if (rc == 0) {
            const tbw_event *ev;
            while ((rc = tbw_reader_next(r, &ev)) == 1)
                events++;
            tbw_reader_close(r);
        }
        g_countdown = -1;
        if (rc == 0 && events >= 2)
            break;
        CHECK_INT(TBW_ENOMEM, rc);
    }
    CHECK(n < 10000);
}

int main(void)
{
    g_dir = tu_tempdir("alloc");
    struct {
        const char *name;
        op_fn op;
    } ops[] = {{"scalar", op_scalar}, {"histogram", op_histogram}, {"images", op_image},
               {"audio", op_audio},   {"text", op_text},           {"flush", op_flush}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        sweep(ops[i].name, ops[i].op);
        reader_sweep();
    }
    tu_rmtree(g_dir);
    free(g_dir);
    return check_done();
}
