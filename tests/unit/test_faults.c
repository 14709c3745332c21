/* Every failure path with a real fault: a full disk (RLIMIT_FSIZE and a small
   tmpfs), a read-only directory, a path that is a file, an event file deleted
   while open, kill -9 mid-run, damaged files for the reader, a full queue. */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

static char *g_dir;

/* Reads every record of every event file in dir; returns the number of summary
   events. *bad_out counts files with a corrupt record, and also those cut
   short at the end unless allow_truncated_tail. */
static long count_events_ex(const char *dir, int *bad_out, bool allow_truncated_tail)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    long events = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (strstr(list[i]->d_name, "tfevents")) {
            char path[1200];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            tbw_reader *r;
            char msg[256];
            if (tbw_reader_open(&r, path, msg, sizeof msg) == 0) {
                const tbw_event *ev;
                int rc;
                while ((rc = tbw_reader_next(r, &ev)) == 1)
                    events += ev->kind == TBW_EVENT_SUMMARY;
                if (rc != 0 && !(allow_truncated_tail && rc == TBW_ETRUNCATED)) {
                    bad++;
                    fprintf(stderr, "reader: %s\n", tbw_reader_errmsg(r));
                }
                tbw_reader_close(r);
            }
        }
        free(list[i]);
    }
    free(list);
    if (bad_out)
        *bad_out = bad;
    return events;
}

static long count_events(const char *dir, int *bad_out)
{
    return count_events_ex(dir, bad_out, false);
}

static double nan_clock(void *ctx)
{
    int *calls = ctx;
    return (*calls)++ == 0 ? 1700000000.0 : NAN;
}

TEST(writer_open_refuses_a_file_a_path_through_a_file_an_empty_path_and_bad_options)
{
    char file[600], msg[256];
    snprintf(file, sizeof file, "%s/afile", g_dir);
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    tbw_writer *w = (tbw_writer *)1;
    CHECK_RC(TBW_EINVAL, tbw_writer_open(&w, file, NULL, msg, sizeof msg), msg);
    CHECK(w == NULL);
    CHECK(strstr(msg, "not a directory") != NULL);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/run", file);
    int rc = tbw_writer_open(&w, sub, NULL, msg, sizeof msg);
    CHECK(rc == TBW_EIO || rc == TBW_EINVAL);
    CHECK(msg[0] != '\0');
    CHECK_RC(TBW_EINVAL, tbw_writer_open(&w, "", NULL, msg, sizeof msg), msg);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.max_queue = 0;
    CHECK_RC(TBW_EINVAL, tbw_writer_open(&w, g_dir, &o, msg, sizeof msg), msg);
    CHECK(strstr(msg, "max_queue") != NULL);
    o = (tbw_writer_opts)TBW_WRITER_OPTS_INIT;
    o.png_level = 12;
    CHECK_RC(TBW_EINVAL, tbw_writer_open(&w, g_dir, &o, msg, sizeof msg), msg);
}

/* A clock that goes NaN: the event is refused, the file stays valid. */
TEST(a_clock_gone_nan_gets_the_event_refused_and_the_writer_still_closes_cleanly)
{
    char msg[256];
    int calls = 0;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = nan_clock;
    o.clock_ctx = &calls;
    char run[700];
    snprintf(run, sizeof run, "%s/nanclock", g_dir);
    tbw_writer *nw;
    CHECK_RC(0, tbw_writer_open(&nw, run, &o, msg, sizeof msg), msg);
    CHECK_RC(TBW_EINVAL, tbw_scalar(nw, "x", 0, 1.0), tbw_writer_errmsg(nw));
    CHECK(strstr(tbw_writer_errmsg(nw), "wall time must be finite") != NULL);
    CHECK_RC(0, tbw_writer_close(nw), "close");
}

TEST(null_writer_handles_are_refused_not_dereferenced)
{
    CHECK_INT(TBW_EINVAL, tbw_scalar(NULL, "x", 0, 1));
    CHECK_INT(TBW_OK, tbw_writer_close(NULL));
    CHECK_INT(TBW_EINVAL, tbw_writer_flush(NULL));
}

TEST(writer_open_in_a_read_only_directory_fails_with_permission_denied)
{
    char ro[600], run[700];
    snprintf(ro, sizeof ro, "%s/readonly", g_dir);
    mkdir(ro, 0555);
    chmod(ro, 0555);
    snprintf(run, sizeof run, "%s/run", ro);
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* root ignores permission bits; drop to an unprivileged user for a real refusal. */
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(3);
        tbw_writer *w;
        char msg[256];
        int rc = tbw_writer_open(&w, run, NULL, msg, sizeof msg);
        int rc2 = tbw_writer_open(&w, ro, NULL, msg + 128, sizeof msg - 128);
        int out[2] = {rc, rc2};
        if (write(fds[1], out, sizeof out) != (ssize_t)sizeof out || write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg)
            _exit(4);
        _exit(0);
    }
    close(fds[1]);
    int res[2] = {99, 99};
    char msg[256] = "";
    CHECK_INT(sizeof res, read(fds[0], res, sizeof res));
    CHECK_INT(sizeof msg, read(fds[0], msg, sizeof msg));
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_RC(TBW_EIO, res[0], msg);
    CHECK(strstr(msg, "Permission denied") != NULL);
    CHECK_RC(TBW_EIO, res[1], msg + 128);
    CHECK(strstr(msg + 128, "Permission denied") != NULL);
}

/*
 * Child: logs scalars, flushing every 10, and reports through the pipe how many
 * events each successful flush covered, then the failing status and message.
 */
static void full_disk_child(const char *run, int fd, size_t limit)
{
    signal(SIGXFSZ, SIG_IGN);
    if (limit) {
        struct rlimit rl = {limit, limit};
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    tbw_writer *w;
    char msg[256];
    int rc = tbw_writer_open(&w, run, NULL, msg, sizeof msg);
    if (rc)
        _exit(5);
    long flushed = 0;
    int fail_rc = 0, later_rc = 0;
    char fail_msg[256] = "";
    for (long i = 0; i < 1000000; i++) {
        rc = tbw_scalar(w, "loss", i, (double)i);
        if (rc == 0 && (i + 1) % 10 == 0)
            rc = tbw_writer_flush(w);
        if (rc) {
            fail_rc = rc;
            snprintf(fail_msg, sizeof fail_msg, "%s", tbw_writer_errmsg(w));
            later_rc = tbw_scalar(w, "loss", i + 1, 0.0);
            break;
        }
        if ((i + 1) % 10 == 0)
            flushed = i + 1;
    }
    int close_rc = tbw_writer_close(w);
    long out[4] = {flushed, fail_rc, later_rc, close_rc};
    if (write(fd, out, sizeof out) != (ssize_t)sizeof out || write(fd, fail_msg, sizeof fail_msg) != (ssize_t)sizeof fail_msg)
        _exit(4);
    _exit(0);
}

static void check_full_disk(const char *run, size_t limit, const char *what)
{
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        full_disk_child(run, fds[1], limit);
    }
    close(fds[1]);
    long res[4] = {0};
    char msg[256] = "";
    CHECK_INT(sizeof res, read(fds[0], res, sizeof res));
    CHECK_INT(sizeof msg, read(fds[0], msg, sizeof msg));
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fprintf(stderr, "%s: %ld events flushed before: %s\n", what, res[0], msg);
    CHECK(res[0] > 100);
    CHECK_RC(TBW_ENOSPC, (int)res[1], msg);
    CHECK(strstr(msg, "keeps the") != NULL);
    CHECK_RC(TBW_ENOSPC, (int)res[2], "the error sticks");
    CHECK_RC(TBW_ENOSPC, (int)res[3], "close reports it");
    int bad = -1;
    long events = count_events(run, &bad);
    CHECK_INT(0, bad);          /* no partial record left behind */
    CHECK_INT(res[0], events);  /* everything a flush reported is there */
}

TEST(a_disk_full_by_rlimit_fsize_keeps_every_flushed_event_and_enospc_sticks)
{
    char run[600];
    snprintf(run, sizeof run, "%s/fsize", g_dir);
    check_full_disk(run, 20000, "RLIMIT_FSIZE 20000");
}

TEST(a_full_64k_tmpfs_keeps_every_flushed_event_and_enospc_sticks)
{
    char mnt[600];
    snprintf(mnt, sizeof mnt, "%s/tmpfs", g_dir);
    mkdir(mnt, 0755);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
        /* Needs CAP_SYS_ADMIN; the RLIMIT_FSIZE case above covers the same path. */
        printf("note: cannot mount a tmpfs here (%s); the small-disk case ran with RLIMIT_FSIZE only\n",
               strerror(errno));
        return;
    }
    char run[700];
    snprintf(run, sizeof run, "%s/run", mnt);
    check_full_disk(run, 0, "64k tmpfs");
    umount(mnt);
}

static void deleted_file(bool background)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/deleted%d", g_dir, (int)background);
    tbw_writer *w;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = background;
    CHECK_RC(0, tbw_writer_open(&w, run, &o, msg, sizeof msg), msg);
    for (int i = 0; i < 5; i++)
        CHECK_RC(0, tbw_scalar(w, "a", i, i), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_flush(w), tbw_writer_errmsg(w));
    char old[1024];
    snprintf(old, sizeof old, "%s", tbw_writer_path(w));
    CHECK_INT(0, unlink(old));
    for (int i = 5; i < 8; i++)
        CHECK_RC(0, tbw_scalar(w, "a", i, i), tbw_writer_errmsg(w));
    CHECK_RC(TBW_EGONE, tbw_writer_flush(w), tbw_writer_errmsg(w));
    CHECK(strstr(tbw_writer_errmsg(w), "removed while open") != NULL);
    CHECK(strcmp(tbw_writer_path(w), old) != 0);
    /* Not sticky: logging goes on in the new file. */
    CHECK_RC(0, tbw_scalar(w, "a", 8, 8), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    int bad = -1;
    CHECK_INT(4, count_events(run, &bad)); /* steps 5..8; 0..4 went with the deleted file */
    CHECK_INT(0, bad);
}

TEST(an_event_file_deleted_while_open_is_reported_once_and_replaced_in_foreground_mode)
{
    deleted_file(false);
}

TEST(an_event_file_deleted_while_open_is_reported_once_and_replaced_in_background_mode)
{
    deleted_file(true);
}

TEST(kill_9_mid_run_leaves_every_flushed_event_readable_and_nothing_corrupt)
{
    char run[600];
    snprintf(run, sizeof run, "%s/kill9", g_dir);
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        tbw_writer *w;
        char msg[256];
        tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
        o.max_queue = 1000000;
        o.flush_secs = 1e9;
        if (tbw_writer_open(&w, run, &o, msg, sizeof msg))
            _exit(5);
        for (long i = 0;; i++) {
            if (tbw_scalar(w, "loss", i, (double)i))
                _exit(6);
            if ((i + 1) % 1000 == 0) {
                if (tbw_writer_flush(w))
                    _exit(7);
                long done = i + 1;
                if (write(fds[1], &done, sizeof done) != (ssize_t)sizeof done)
                    _exit(8);
            }
        }
    }
    close(fds[1]);
    long done = 0, last = 0;
    while (last < 50000 && read(fds[0], &done, sizeof done) == (ssize_t)sizeof done)
        last = done;
    kill(pid, SIGKILL);
    /* Drain what the child reported before it died. */
    while (read(fds[0], &done, sizeof done) == (ssize_t)sizeof done)
        last = done;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* SIGKILL can stop a large write() part-way (the kernel checks for fatal
       signals between pages), leaving the flush in progress cut short at the
       end: that reads as "truncated at the end", like a file still being
       written. Everything flushed before it must be there, and nothing corrupt. */
    int bad = -1;
    long events = count_events_ex(run, &bad, true);
    CHECK(events >= last);
    CHECK_INT(0, bad);
}

TEST(reader_calls_a_cut_tail_truncated_until_it_is_complete_and_damaged_data_or_length_corrupt)
{
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/damage", g_dir);
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, NULL, msg, sizeof msg), msg);
    for (int i = 0; i < 3; i++)
        tbw_scalar(w, "a", i, i);
    char path[1024];
    snprintf(path, sizeof path, "%s", tbw_writer_path(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    size_t len;
    unsigned char *orig = tu_read_file(path, &len);
    /* Offsets of the records, from an undamaged read. */
    uint64_t offs[4] = {0};
    tbw_reader *r;
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    const tbw_event *ev;
    for (int i = 0; i < 4 && tbw_reader_next(r, &ev) == 1; i++)
        offs[i] = ev->offset;
    tbw_reader_close(r);
    CHECK_INT(40, offs[1]); /* the version record is 40 bytes */
    size_t rec = (size_t)offs[2] - 40; /* the second summary record starts at 40 + rec */
    /* 1: the last record cut short -> truncated, and reading resumes once it is complete. */
    FILE *f = fopen(path, "wb");
    fwrite(orig, 1, len - 7, f);
    fclose(f);
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    int n = 0, rc;
    while ((rc = tbw_reader_next(r, &ev)) == 1)
        n++;
    CHECK_RC(TBW_ETRUNCATED, rc, tbw_reader_errmsg(r));
    CHECK(strstr(tbw_reader_errmsg(r), "truncated at the end") != NULL);
    CHECK_INT(3, n);
    f = fopen(path, "ab");
    fwrite(orig + len - 7, 1, 7, f);
    fclose(f);
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(2, ev->step);
    CHECK_INT(0, tbw_reader_next(r, &ev));
    tbw_reader_close(r);
    /* 2: a flipped data byte -> corrupt, naming the offset. */
    orig[40 + rec + 20] ^= 0x40;
    f = fopen(path, "wb");
    fwrite(orig, 1, len, f);
    fclose(f);
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    n = 0;
    while ((rc = tbw_reader_next(r, &ev)) == 1)
        n++;
    CHECK_RC(TBW_ECORRUPT, rc, tbw_reader_errmsg(r));
    char want[64];
    snprintf(want, sizeof want, "offset %zu", 40 + rec);
    CHECK_(strstr(tbw_reader_errmsg(r), want) != NULL, "message \"%s\" lacks \"%s\"", tbw_reader_errmsg(r), want);
    CHECK_INT(2, n);
    tbw_reader_close(r);
    /* 3: a damaged length. */
    orig[40 + rec + 20] ^= 0x40;
    orig[40 + 3] ^= 0x01;
    f = fopen(path, "wb");
    fwrite(orig, 1, len, f);
    fclose(f);
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_RC(TBW_ECORRUPT, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
    CHECK(strstr(tbw_reader_errmsg(r), "length CRC") != NULL);
    tbw_reader_close(r);
    free(orig);
}

TEST(reader_open_of_a_missing_file_is_not_found)
{
    tbw_reader *r;
    char msg[256];
    CHECK_RC(TBW_ENOTFOUND, tbw_reader_open(&r, "/nonexistent/file", msg, sizeof msg), msg);
}

/* policy 0: TBW_QUEUE_BLOCK, 1: TBW_QUEUE_DROP. */
static void queue_policy(int policy)
{
    float big[200];
    for (int i = 0; i < 200; i++)
        big[i] = (float)i;
    char run[600], msg[256];
    snprintf(run, sizeof run, "%s/queue%d", g_dir, policy);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.background = true;
    o.queue_bytes = 4096;
    o.max_queue = 1;
    o.policy = policy ? TBW_QUEUE_DROP : TBW_QUEUE_BLOCK;
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, &o, msg, sizeof msg), msg);
    long ok = 0, refused = 0, other = 0;
    for (long i = 0; i < 200000 && (policy == 0 ? i < 20000 : refused == 0 || i < 20000); i++) {
        int rc = tbw_histogram(w, "h", i, big, 200, 100, NULL);
        if (rc == 0)
            ok++;
        else if (rc == TBW_EFULL)
            refused++;
        else
            other++;
    }
    CHECK_INT(0, other);
    CHECK_INT(refused, tbw_writer_dropped(w));
    if (policy)
        CHECK(refused > 0);
    else
        CHECK_INT(0, refused);
    CHECK_RC(0, tbw_writer_close(w), "close");
    int bad = -1;
    CHECK_INT(ok, count_events(run, &bad));
    CHECK_INT(0, bad);
}

TEST(a_full_queue_under_the_block_policy_waits_and_refuses_nothing)
{
    queue_policy(0);
}

TEST(a_full_queue_under_the_drop_policy_refuses_events_and_counts_them_as_dropped)
{
    queue_policy(1);
}

static const check_case tests[] = {
    CASE(writer_open_refuses_a_file_a_path_through_a_file_an_empty_path_and_bad_options),
    CASE(a_clock_gone_nan_gets_the_event_refused_and_the_writer_still_closes_cleanly),
    CASE(null_writer_handles_are_refused_not_dereferenced),
    CASE(writer_open_in_a_read_only_directory_fails_with_permission_denied),
    CASE(a_disk_full_by_rlimit_fsize_keeps_every_flushed_event_and_enospc_sticks),
    CASE(a_full_64k_tmpfs_keeps_every_flushed_event_and_enospc_sticks),
    CASE(an_event_file_deleted_while_open_is_reported_once_and_replaced_in_foreground_mode),
    CASE(an_event_file_deleted_while_open_is_reported_once_and_replaced_in_background_mode),
    CASE(kill_9_mid_run_leaves_every_flushed_event_readable_and_nothing_corrupt),
    CASE(reader_calls_a_cut_tail_truncated_until_it_is_complete_and_damaged_data_or_length_corrupt),
    CASE(reader_open_of_a_missing_file_is_not_found),
    CASE(a_full_queue_under_the_block_policy_waits_and_refuses_nothing),
    CASE(a_full_queue_under_the_drop_policy_refuses_events_and_counts_them_as_dropped),
};

int main(int argc, char **argv)
{
    g_dir = tu_tempdir("faults");
    chmod(g_dir, 0755); /* the read-only case's unprivileged child must reach its directory */
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    tu_rmtree(g_dir);
    free(g_dir);
    return rc;
}
