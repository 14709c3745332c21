/* The shared plumbing under every module: the error kit, the file layer and the record layer. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tbw/record.h>

#include "../../src/common/clock.h"
#include "../../src/common/err.h"
#include "../../src/common/file.h"
#include "../../src/common/util.h"
#include "../check.h"
#include "testutil.h"

typedef struct {
    char errmsg[32];
} small_handle;

TEST(fail_leaves_the_message_on_the_handle_and_returns_the_code)
{
    small_handle h = {"old"}, *hp = &h;
    CHECK_INT(TBW_ERANGE, TBW__FAIL(hp, TBW_ERANGE, "size %d too large", 7));
    CHECK_STR("size 7 too large", h.errmsg);
}

TEST(fail_keeps_the_start_and_the_end_of_a_long_message_and_terminates_it)
{
    small_handle h, *hp = &h;
    CHECK_INT(TBW_EINVAL, TBW__FAIL(hp, TBW_EINVAL, "%s", "a message much longer than thirty-two bytes"));
    CHECK_INT(31, strlen(h.errmsg));
    CHECK_STR("a message m... thirty-two bytes", h.errmsg);
}

TEST(fail_never_cuts_a_long_message_inside_a_utf8_sequence)
{
    small_handle h, *hp = &h;
    /* 40 two-byte letters: any cut at an odd byte would split one */
    char msg[81];
    for (int i = 0; i < 40; i++)
        memcpy(msg + 2 * i, "\xc3\xa9", 2);
    msg[80] = '\0';
    TBW__FAIL(hp, TBW_EINVAL, "%s", msg);
    CHECK(tbw__utf8_valid(h.errmsg, strlen(h.errmsg)));
    CHECK(strstr(h.errmsg, "...") != NULL);
    CHECK(strlen(h.errmsg) <= 31);
}

TEST(fail_errno_keeps_the_reason_after_a_path_too_long_for_the_buffer)
{
    small_handle h;
    char path[200];
    memset(path, 'p', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    CHECK_INT(TBW_ENOTFOUND, tbw__fail_errno(TBW__ERR(&h), ENOENT, "cannot open %s", path));
    CHECK_INT(31, strlen(h.errmsg));
    CHECK(strncmp(h.errmsg, "cannot open", 11) == 0);
    CHECK_STR_HAS(h.errmsg, "directory"); /* the end of "No such file or directory" */
}

TEST(fail_on_a_null_handle_or_buffer_only_returns_the_code)
{
    small_handle *none = NULL;
    CHECK_INT(TBW_EIO, TBW__FAIL(none, TBW_EIO, "ignored"));
    CHECK_INT(TBW_EIO, tbw__fail(TBW__ERR_BUF(NULL, 10), TBW_EIO, "ignored"));
    char one[1] = {'x'};
    CHECK_INT(TBW_EIO, tbw__fail(TBW__ERR_BUF(one, 1), TBW_EIO, "cut to nothing"));
    CHECK_INT(0, one[0]);
}

TEST(fail_errno_maps_the_status_and_appends_the_system_text)
{
    char msg[128];
    CHECK_INT(TBW_ENOSPC, tbw__fail_errno(TBW__ERR_BUF(msg, sizeof msg), ENOSPC, "cannot write %s", "f"));
    char want[128];
    snprintf(want, sizeof want, "cannot write f: %s", strerror(ENOSPC));
    CHECK_STR(want, msg);
    CHECK_INT(TBW_ENOTFOUND, tbw__fail_errno(TBW__ERR_BUF(msg, sizeof msg), ENOENT, "open"));
    CHECK_INT(TBW_EIO, tbw__fail_errno(TBW__ERR_BUF(NULL, 0), EACCES, "open"));
}

TEST(errno_map_is_one_table_for_every_module)
{
    CHECK_INT(TBW_ENOSPC, tbw__errno_status(ENOSPC));
    CHECK_INT(TBW_ENOSPC, tbw__errno_status(EFBIG));
    CHECK_INT(TBW_ENOSPC, tbw__errno_status(EDQUOT));
    CHECK_INT(TBW_ENOMEM, tbw__errno_status(ENOMEM));
    CHECK_INT(TBW_ENOTFOUND, tbw__errno_status(ENOENT));
    CHECK_INT(TBW_EIO, tbw__errno_status(EACCES));
    CHECK_INT(TBW_EIO, tbw__errno_status(EROFS));
    CHECK_INT(TBW_EIO, tbw__errno_status(0x7fff));
}

TEST(fail_copy_moves_a_message_between_handles)
{
    small_handle a, b, *ap = &a;
    TBW__FAIL(ap, TBW_EIO, "disk says no");
    CHECK_INT(TBW_EIO, tbw__fail_copy(TBW__ERR(&b), TBW_EIO, a.errmsg));
    CHECK_STR("disk says no", b.errmsg);
    CHECK_INT(TBW_EIO, tbw__fail_copy(TBW__ERR(&b), TBW_EIO, NULL));
    CHECK_STR("", b.errmsg);
}

TEST(mkdir_p_makes_every_missing_parent_and_accepts_an_existing_directory)
{
    char *d = tu_tempdir("mkdirp");
    char path[512], msg[256];
    snprintf(path, sizeof path, "%s/a/b/c/", d);
    CHECK_RC(TBW_OK, tbw__mkdir_p(TBW__ERR_BUF(msg, sizeof msg), path), msg);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_RC(TBW_OK, tbw__mkdir_p(TBW__ERR_BUF(msg, sizeof msg), path), msg);
    tu_rmtree(d);
    free(d);
}

TEST(mkdir_p_refuses_a_path_through_or_onto_a_file)
{
    char *d = tu_tempdir("mkdirp_file");
    char file[512], below[600], msg[256];
    snprintf(file, sizeof file, "%s/plain", d);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fclose(f);
    CHECK_RC(TBW_EINVAL, tbw__mkdir_p(TBW__ERR_BUF(msg, sizeof msg), file), msg);
    CHECK_STR_HAS(msg, "not a directory");
    snprintf(below, sizeof below, "%s/sub", file);
    CHECK_RC(TBW_EIO, tbw__mkdir_p(TBW__ERR_BUF(msg, sizeof msg), below), msg);
    CHECK_STR_HAS(msg, "cannot create directory");
    CHECK_STR_HAS(msg, strerror(ENOTDIR));
    tu_rmtree(d);
    free(d);
}

TEST(write_whole_cuts_a_failed_write_back_to_the_last_whole_record)
{
    char *d = tu_tempdir("whole");
    char path[512];
    snprintf(path, sizeof path, "%s/f", d);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    uint8_t rec[64];
    memset(rec, 0xAB, sizeof rec);
    /* This case runs in its own process, so the limit stays here. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {100, 100};
    CHECK_INT(0, setrlimit(RLIMIT_FSIZE, &lim));
    CHECK_INT(0, tbw__write_whole(fd, rec, sizeof rec, 0, true));
    CHECK_INT(EFBIG, tbw__write_whole(fd, rec, sizeof rec, 64, false));
    struct stat st;
    CHECK_INT(0, fstat(fd, &st));
    CHECK_INT(64, st.st_size);
    close(fd);
    tu_rmtree(d);
    free(d);
}

TEST(write_whole_reports_a_bad_descriptor)
{
    CHECK_INT(EBADF, tbw__write_whole(-1, "x", 1, 0, false));
    CHECK_INT(EBADF, tbw__pwrite_all(-1, "x", 1, 0));
    CHECK_INT(0, tbw__pwrite_all(-1, "x", 0, 0));
}

TEST(atomic_commit_replaces_the_file_and_leaves_no_temporary)
{
    char *d = tu_tempdir("atomic");
    char path[512], msg[256];
    snprintf(path, sizeof path, "%s/config", d);
    CHECK_RC(TBW_OK, tbw__atomic_write(TBW__ERR_BUF(msg, sizeof msg), path, "old\n", 4), msg);
    umask(022);
    tbw__atomic a;
    CHECK_RC(TBW_OK, tbw__atomic_open(&a, TBW__ERR_BUF(msg, sizeof msg), path), msg);
    fputs("new contents\n", a.f);
    CHECK_INT(2, tu_count_entries(d)); /* the old file and the temporary beside it */
    CHECK_RC(TBW_OK, tbw__atomic_commit(&a, TBW__ERR_BUF(msg, sizeof msg)), msg);
    CHECK_INT(1, tu_count_entries(d));
    size_t len;
    char *got = (char *)tu_read_file(path, &len);
    CHECK_STR("new contents\n", got);
    free(got);
    struct stat st;
    CHECK_INT(0, stat(path, &st));
    CHECK_INT(0644, st.st_mode & 0777);
    tu_rmtree(d);
    free(d);
}

TEST(atomic_abort_keeps_the_old_file)
{
    char *d = tu_tempdir("atomic_abort");
    char path[512], msg[256];
    snprintf(path, sizeof path, "%s/config", d);
    CHECK_RC(TBW_OK, tbw__atomic_write(TBW__ERR_BUF(msg, sizeof msg), path, "old\n", 4), msg);
    tbw__atomic a;
    CHECK_RC(TBW_OK, tbw__atomic_open(&a, TBW__ERR_BUF(msg, sizeof msg), path), msg);
    fputs("half of something", a.f);
    tbw__atomic_abort(&a);
    tbw__atomic_abort(&a); /* a released handle is safe to abort again */
    CHECK_INT(1, tu_count_entries(d));
    size_t len;
    char *got = (char *)tu_read_file(path, &len);
    CHECK_STR("old\n", got);
    free(got);
    tu_rmtree(d);
    free(d);
}

TEST(atomic_open_in_a_missing_directory_says_it_cannot_create_the_temporary)
{
    char *d = tu_tempdir("atomic_missing");
    char path[512], msg[256];
    snprintf(path, sizeof path, "%s/no/such/dir/config", d);
    tbw__atomic a;
    CHECK_RC(TBW_ENOTFOUND, tbw__atomic_open(&a, TBW__ERR_BUF(msg, sizeof msg), path), msg);
    CHECK_STR_HAS(msg, "temporary");
    CHECK_STR_HAS(msg, path);
    tu_rmtree(d);
    free(d);
}

TEST(atomic_commit_onto_a_directory_fails_and_removes_the_temporary)
{
    char *d = tu_tempdir("atomic_dir");
    char path[512], inner[600], msg[256];
    snprintf(path, sizeof path, "%s/taken", d);
    CHECK_INT(0, mkdir(path, 0755));
    snprintf(inner, sizeof inner, "%s/keep", path);
    CHECK_RC(TBW_OK, tbw__atomic_write(TBW__ERR_BUF(msg, sizeof msg), inner, "x", 1), msg);
    tbw__atomic a;
    CHECK_RC(TBW_OK, tbw__atomic_open(&a, TBW__ERR_BUF(msg, sizeof msg), path), msg);
    fputs("data", a.f);
    CHECK_RC(TBW_EIO, tbw__atomic_commit(&a, TBW__ERR_BUF(msg, sizeof msg)), msg);
    CHECK_STR_HAS(msg, "cannot rename");
    CHECK_INT(1, tu_count_entries(d));
    CHECK_INT(1, tu_count_entries(path));
    tu_rmtree(d);
    free(d);
}

TEST(record_parse_reads_back_what_frame_wrote)
{
    const char *payload = "an event payload";
    size_t n = strlen(payload);
    uint8_t rec[64];
    tbw_record_frame((const uint8_t *)payload, n, rec);
    const uint8_t *p;
    size_t len, used;
    CHECK_INT(TBW_OK, tbw_record_parse(rec, n + TBW_RECORD_OVERHEAD, &p, &len, &used));
    CHECK_INT(n, len);
    CHECK_INT(n + TBW_RECORD_OVERHEAD, used);
    CHECK_MEM(payload, p, n);
    CHECK_U64(tbw_masked_crc32c(payload, n), (uint64_t)rec[12 + n] | (uint64_t)rec[13 + n] << 8 |
                                                 (uint64_t)rec[14 + n] << 16 | (uint64_t)rec[15 + n] << 24);
}

TEST(record_frame_works_in_place)
{
    uint8_t buf[64] = "in place";
    uint8_t want[64];
    tbw_record_frame(buf, 8, want);
    tbw_record_frame(buf, 8, buf);
    CHECK_MEM(want, buf, 8 + TBW_RECORD_OVERHEAD);
}

TEST(record_parse_calls_every_cut_short_record_truncated)
{
    uint8_t rec[64];
    tbw_record_frame((const uint8_t *)"0123456789", 10, rec);
    const uint8_t *p;
    size_t len, used;
    for (size_t cut = 0; cut < 10 + TBW_RECORD_OVERHEAD; cut++)
        CHECK_INT(TBW_ETRUNCATED, tbw_record_parse(rec, cut, &p, &len, &used));
}

TEST(record_parse_calls_every_flipped_byte_corrupt)
{
    uint8_t rec[64];
    tbw_record_frame((const uint8_t *)"0123456789", 10, rec);
    const uint8_t *p;
    size_t len, used;
    for (size_t i = 0; i < 10 + TBW_RECORD_OVERHEAD; i++) {
        rec[i] ^= 0x20;
        int rc = tbw_record_parse(rec, sizeof rec, &p, &len, &used);
        CHECK_(rc == TBW_ECORRUPT, "byte %zu flipped: status %d", i, rc);
        rec[i] ^= 0x20;
    }
}

TEST(record_parse_refuses_a_length_past_the_limit_with_a_valid_crc)
{
    uint8_t hdr[16];
    uint64_t big = TBW_RECORD_MAX_PAYLOAD + 1;
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(big >> (8 * i));
    uint32_t c = tbw_masked_crc32c(hdr, 8);
    for (int i = 0; i < 4; i++)
        hdr[8 + i] = (uint8_t)(c >> (8 * i));
    const uint8_t *p;
    size_t len, used;
    CHECK_INT(TBW_ECORRUPT, tbw_record_parse(hdr, sizeof hdr, &p, &len, &used));
    CHECK_INT(TBW_EINVAL, tbw_record_parse(NULL, 0, &p, &len, &used));
    CHECK_INT(TBW_EINVAL, tbw_record_parse(hdr, sizeof hdr, NULL, &len, &used));
}

TEST(open_read_refuses_a_fifo_and_a_directory_without_waiting_and_opens_files_and_devices)
{
    char *d = tu_tempdir("openread");
    char fifo[512], file[512];
    snprintf(fifo, sizeof fifo, "%s/pipe", d);
    snprintf(file, sizeof file, "%s/plain", d);
    CHECK_INT(0, mkfifo(fifo, 0666));
    int fd = -2;
    alarm(5); /* a FIFO nobody writes would block a plain open(): the case then dies, not hangs */
    CHECK_INT(ESPIPE, tbw__open_read(fifo, &fd));
    alarm(0);
    CHECK_INT(-1, fd);
    CHECK_INT(EISDIR, tbw__open_read(d, &fd));
    CHECK_INT(ENOENT, tbw__open_read(file, &fd));
    FILE *f = fopen(file, "w");
    CHECK(f && fputs("x", f) >= 0 && fclose(f) == 0);
    CHECK_INT(0, tbw__open_read(file, &fd));
    CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0); /* reads block as usual once open */
    close(fd);
    FILE *dev = NULL;
    CHECK_INT(0, tbw__fopen_read("/dev/null", &dev));
    CHECK(dev && fgetc(dev) == EOF);
    if (dev)
        fclose(dev);
    tu_rmtree(d);
    free(d);
}

/* ---- the event clock ---- */
static double realtime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Over 300 ms of readings (past the 20 ms the counter's rate takes to measure, and across many
   10 ms anchors), every stamp lies between the real clock read just before and just after it,
   within 50 microseconds, and no stamp is more than 50 microseconds earlier than the one before. */
TEST(event_clock_stays_within_microseconds_of_the_real_clock_and_does_not_run_backwards)
{
    tbw__wallclock c;
    tbw__wallclock_init(&c);
    double t_end = realtime_now() + 0.3, prev = 0, worst = 0, back = 0;
    long n = 0;
    while (1) {
        double before = realtime_now();
        double t = tbw__wallclock_now(&c);
        double after = realtime_now();
        double off = t < before ? before - t : t > after ? t - after : 0;
        worst = off > worst ? off : worst;
        if (prev - t > back)
            back = prev - t;
        prev = t;
        n++;
        if (after > t_end)
            break;
    }
    CHECK(n > 1000);
    CHECK(worst < 50e-6);
    CHECK(back < 50e-6);
    printf("  %ld readings, counter %s, worst offset %.2f us, worst step back %.2f us\n", n,
           c.tsc ? "used" : "not usable here", worst * 1e6, back * 1e6);
}

TEST(same_bytes_agrees_with_memcmp_for_every_length_and_every_differing_byte)
{
    /* lengths 0 to 40 cover the byte loop, both overlapping-load widths and the memcmp fallback;
       one byte differs at each position in turn, by the lowest and the highest bit */
    uint8_t a[48], b[48];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)(i * 37 + 11);
    long wrong = 0;
    for (size_t n = 0; n <= 40; n++) {
        memcpy(b, a, sizeof a);
        wrong += !tbw__same_bytes(a, b, n);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit += 7) {
                b[i] ^= (uint8_t)(1u << bit);
                wrong += tbw__same_bytes(a, b, n) != (memcmp(a, b, n) == 0);
                wrong += tbw__same_bytes(a, b, n);
                b[i] ^= (uint8_t)(1u << bit);
            }
        b[n] ^= 1; /* past the end: not compared */
        wrong += !tbw__same_bytes(a, b, n);
    }
    CHECK_INT(0, wrong);
}

static const check_case tests[] = {
    CASE(same_bytes_agrees_with_memcmp_for_every_length_and_every_differing_byte),
    CASE(event_clock_stays_within_microseconds_of_the_real_clock_and_does_not_run_backwards),
    CASE(fail_leaves_the_message_on_the_handle_and_returns_the_code),
    CASE(fail_keeps_the_start_and_the_end_of_a_long_message_and_terminates_it),
    CASE(fail_never_cuts_a_long_message_inside_a_utf8_sequence),
    CASE(fail_errno_keeps_the_reason_after_a_path_too_long_for_the_buffer),
    CASE(fail_on_a_null_handle_or_buffer_only_returns_the_code),
    CASE(fail_errno_maps_the_status_and_appends_the_system_text),
    CASE(errno_map_is_one_table_for_every_module),
    CASE(fail_copy_moves_a_message_between_handles),
    CASE(mkdir_p_makes_every_missing_parent_and_accepts_an_existing_directory),
    CASE(mkdir_p_refuses_a_path_through_or_onto_a_file),
    CASE(open_read_refuses_a_fifo_and_a_directory_without_waiting_and_opens_files_and_devices),
    CASE(write_whole_cuts_a_failed_write_back_to_the_last_whole_record),
    CASE(write_whole_reports_a_bad_descriptor),
    CASE(atomic_commit_replaces_the_file_and_leaves_no_temporary),
    CASE(atomic_abort_keeps_the_old_file),
    CASE(atomic_open_in_a_missing_directory_says_it_cannot_create_the_temporary),
    CASE(atomic_commit_onto_a_directory_fails_and_removes_the_temporary),
    CASE(record_parse_reads_back_what_frame_wrote),
    CASE(record_frame_works_in_place),
    CASE(record_parse_calls_every_cut_short_record_truncated),
    CASE(record_parse_calls_every_flipped_byte_corrupt),
    CASE(record_parse_refuses_a_length_past_the_limit_with_a_valid_crc),
};
CHECK_MAIN(tests)
