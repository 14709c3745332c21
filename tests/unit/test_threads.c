/* Several threads logging to one writer, in foreground and background mode:
   every event arrives once, whole, and each thread's steps stay in order. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

#define THREADS 4
#define PER_THREAD 50000

static char *g_dir;

typedef struct {
    tbw_writer *w;
    int id;
    int failures;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    char tag[32];
    snprintf(tag, sizeof tag, "thread%d/value", j->id);
    float h[64];
    for (int i = 0; i < 64; i++)
        h[i] = (float)(i * j->id);
    for (int i = 0; i < PER_THREAD; i++) {
        if (tbw_scalar(j->w, tag, i, (double)(i * THREADS + j->id)))
            j->failures++;
        if (i % 5000 == 0 && tbw_histogram(j->w, "shared/hist", (int64_t)i * THREADS + j->id, h, 64, 0, NULL))
            j->failures++;
    }
    return NULL;
}

/* Opens a writer on g_dir/<name> with o, runs THREADS threads of fn on it, closes it, and opens a
   reader on the one event file it wrote (NULL after a failed check). */
static tbw_reader *log_from_threads(const char *name, const tbw_writer_opts *o, void *(*fn)(void *))
{
    char dir[600], msg[256], path[1200];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, name);
    tbw_writer *w;
    tbw_reader *r = NULL;
    int rc = tbw_writer_open(&w, dir, o, msg, sizeof msg);
    CHECK_RC(0, rc, msg);
    if (rc)
        return NULL;
    pthread_t th[THREADS];
    job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){w, i, 0};
        pthread_create(&th[i], NULL, fn, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(0, jobs[i].failures);
    }
    CHECK_RC(0, tbw_writer_close(w), "close");
    CHECK_INT(1, tu_event_files(dir, path, sizeof path));
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    return r;
}

/* THREADS threads log scalars and a shared histogram to one writer in run g_dir/<name>, then the file is
   read back: each event once, whole, in each thread's order. */
static void run(const char *name, bool background)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = background;
    tbw_reader *r = log_from_threads(name, &o, worker);
    if (!r)
        return;
    long next[THREADS] = {0};
    long hist = 0, bad = 0, metas = 0;
    const tbw_event *ev;
    int rc;
    while ((rc = tbw_reader_next(r, &ev)) == 1) {
        if (ev->kind != TBW_EVENT_SUMMARY)
            continue;
        const tbw_value *v = &ev->values[0];
        metas += v->plugin_name[0] != 0;
        if (strcmp(v->tag, "shared/hist") == 0) {
            hist++;
            continue;
        }
        int id = v->tag[6] - '0';
        if (id < 0 || id >= THREADS || ev->step != next[id] || v->scalar != (double)(ev->step * THREADS + id))
            bad++;
        else
            next[id]++;
    }
    CHECK_RC(0, rc, tbw_reader_errmsg(r));
    tbw_reader_close(r);
    CHECK_INT(0, bad);
    for (int i = 0; i < THREADS; i++)
        CHECK_INT(PER_THREAD, next[i]);
    CHECK_INT(THREADS * (PER_THREAD / 5000), hist);
    CHECK_INT(THREADS + 1, metas); /* one per tag */
}

TEST(events_from_threads_sharing_a_foreground_writer_arrive_once_whole_and_in_order)
{
    run("fg", false);
}

TEST(events_from_threads_sharing_a_background_writer_arrive_once_whole_and_in_order)
{
    run("bg", true);
}

#define MANY_TAGS 6000
#define MANY_PER 6000

static void *many_tags_worker(void *arg)
{
    job *j = arg;
    char tag[32];
    /* threads 0 and 1 keep logging one shared tag, each with its own description, so each call
       replaces the tag's remembered metadata; the others only add new tags, so the table grows */
    uint8_t meta[] = {0x0A, 0x09, 0x0A, 0x07, 's', 'c', 'a', 'l', 'a', 'r', 's', 0x1A, 0x01, (uint8_t)('A' + j->id)};
    uint8_t fields[12] = {0x42, 0x0A, 0x08, 0x01, 0x12, 0x00, 0x22, 0x04, 0, 0, 0, 0};
    for (int i = 0; i < MANY_PER; i++) {
        if (j->id < 2) {
            float f = (float)i;
            memcpy(fields + 8, &f, 4);
            if (tbw_writer_write_value(j->w, "shared/x", i, fields, sizeof fields, meta, sizeof meta))
                j->failures++;
            continue;
        }
        snprintf(tag, sizeof tag, "t%d/%d", j->id, i % MANY_TAGS);
        if (tbw_scalar(j->w, tag, i, (double)i))
            j->failures++;
    }
    return NULL;
}

/* A background writer whose queue holds a few events: callers wait for room with the lock released,
   while the other threads add new tags (the table grows and moves) and switch the last-tag entry.
   Each event still arrives once, and each tag's first event carries its metadata. */
TEST(new_tags_from_threads_waiting_for_room_in_a_tiny_background_queue_all_arrive_with_their_metadata)
{
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = true;
    o.queue_bytes = 1024;
    tbw_reader *r = log_from_threads("tiny", &o, many_tags_worker);
    if (!r)
        return;
    long per[THREADS] = {0}, shared = 0, metas = 0, bad = 0;
    static unsigned char seen[THREADS][MANY_TAGS];
    const tbw_event *ev;
    int rc;
    while ((rc = tbw_reader_next(r, &ev)) == 1) {
        if (ev->kind != TBW_EVENT_SUMMARY)
            continue;
        const tbw_value *v = &ev->values[0];
        if (strcmp(v->tag, "shared/x") == 0) {
            shared++;
            bad += shared == 1 && !v->plugin_name[0];
            continue;
        }
        int id, k;
        if (sscanf(v->tag, "t%d/%d", &id, &k) != 2 || id < 2 || id >= THREADS || k < 0 || k >= MANY_TAGS ||
            v->scalar != (double)ev->step) {
            bad++;
            continue;
        }
        per[id]++;
        bool has_meta = v->plugin_name[0] != 0;
        metas += has_meta;
        if (!seen[id][k] && !has_meta)
            bad++; /* a tag's first event without its metadata */
        seen[id][k] = 1;
    }
    CHECK_RC(0, rc, tbw_reader_errmsg(r));
    tbw_reader_close(r);
    CHECK_INT(0, bad);
    CHECK_INT(2 * MANY_PER, shared);
    for (int i = 2; i < THREADS; i++)
        CHECK_INT(MANY_PER, per[i]);
    CHECK_INT((THREADS - 2) * MANY_TAGS, metas);
}

static const check_case tests[] = {
    CASE(new_tags_from_threads_waiting_for_room_in_a_tiny_background_queue_all_arrive_with_their_metadata),
    CASE(events_from_threads_sharing_a_foreground_writer_arrive_once_whole_and_in_order),
    CASE(events_from_threads_sharing_a_background_writer_arrive_once_whole_and_in_order),
};

int main(int argc, char **argv)
{
    g_dir = tu_tempdir("threads");
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    tu_rmtree(g_dir);
    free(g_dir);
    return rc;
}
