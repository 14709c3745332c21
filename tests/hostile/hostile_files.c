/* Hostile files and hostile calls: the event-file reader and the record framing on files that are not
   event files, or are cut, damaged or strange; the IDX loader and the checkpoints on files of the wrong
   kind, shape or length; the engine and the projector called against their contracts. Every case
   checks the exact status and that the message names what is wrong (the path, offset, field or
   tensor), and that a refused call changed nothing. */
#include "hostile.h"

#include <sys/resource.h>
#include <zlib.h>

#include <tbw/cnn.h>
#include <tbw/projector.h>

#define HERE (__func__ + 5)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* ---- files ---- */

/* Makes the case's run directory the working directory (each case is a process of its own) and puts
   file, a path relative to it, into out. The paths stay short, so a message's reason is never cut
   off by a long base directory (reader_keeps_the_reason_in_its_message_for_a_path_of_300_characters
   is about long ones). */
static char *case_path(char *out, size_t cap, const char *name, const char *file)
{
    mkdir(hostile_run(name), 0777);
    CHECK_INT(0, chdir(hostile_run(name)));
    snprintf(out, cap, "%s", file);
    return out;
}
#define CASE_PATH(buf, file) case_path((buf), sizeof(buf), HERE, (file))

static void write_bytes(const char *path, const void *p, size_t n, const char *mode)
{
    FILE *f = fopen(path, mode);
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(n == 0 || fwrite(p, 1, n, f) == n);
    CHECK_INT(0, fclose(f));
}
static void put_file(const char *path, const void *p, size_t n) { write_bytes(path, p, n, "wb"); }
static void add_to_file(const char *path, const void *p, size_t n) { write_bytes(path, p, n, "ab"); }

/* ---- protobuf and records, by hand ---- */

typedef struct pb {
    uint8_t *b;
    size_t n, cap;
} pb;

static void pb_init(pb *p)
{
    p->cap = 256;
    p->n = 0;
    p->b = malloc(p->cap);
    CHECK(p->b != NULL);
}

static void pb_free(pb *p)
{
    free(p->b);
    p->b = NULL;
    p->n = p->cap = 0;
}

static void pb_raw(pb *p, const void *d, size_t n)
{
    if (p->n + n > p->cap) {
        while (p->n + n > p->cap)
            p->cap *= 2;
        p->b = realloc(p->b, p->cap);
        CHECK(p->b != NULL);
        if (!p->b)
            exit(1);
    }
    if (n)
        memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pb_varint(pb *p, uint64_t v)
{
    uint8_t t[10];
    size_t k = 0;
    while (v >= 0x80) {
        t[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[k++] = (uint8_t)v;
    pb_raw(p, t, k);
}

static void pb_key(pb *p, uint32_t field, unsigned wire) { pb_varint(p, (uint64_t)field << 3 | wire); }

static void pb_fixed64(pb *p, uint32_t field, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    pb_key(p, field, 1);
    pb_raw(p, t, 8);
}

static void pb_fixed32(pb *p, uint32_t field, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    pb_key(p, field, 5);
    pb_raw(p, t, 4);
}

static void pb_double(pb *p, uint32_t field, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    pb_fixed64(p, field, u);
}

static void pb_float(pb *p, uint32_t field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    pb_fixed32(p, field, u);
}

static void pb_uint(pb *p, uint32_t field, uint64_t v)
{
    pb_key(p, field, 0);
    pb_varint(p, v);
}

static void pb_bytes(pb *p, uint32_t field, const void *d, size_t n)
{
    pb_key(p, field, 2);
    pb_varint(p, n);
    pb_raw(p, d, n);
}

static void pb_str(pb *p, uint32_t field, const char *s) { pb_bytes(p, field, s, strlen(s)); }
static void pb_msg(pb *p, uint32_t field, const pb *sub) { pb_bytes(p, field, sub->b, sub->n); }

/* Event{wall_time, step, summary{value{tag, simple_value}}}. */
static void scalar_event(pb *ev, int64_t step, const char *tag, float v)
{
    pb val, sum;
    pb_init(&val);
    pb_init(&sum);
    pb_str(&val, 1, tag);
    pb_float(&val, 2, v);
    pb_msg(&sum, 1, &val);
    pb_double(ev, 1, 1.7e9 + (double)step);
    pb_uint(ev, 2, (uint64_t)step);
    pb_msg(ev, 5, &sum);
    pb_free(&val);
    pb_free(&sum);
}

/* Appends payload as one record to out; returns the record's offset. */
static size_t put_record(pb *out, const uint8_t *payload, size_t len)
{
    size_t at = out->n;
    uint8_t *tmp = calloc(1, len + TBW_RECORD_OVERHEAD);
    CHECK(tmp != NULL);
    if (!tmp)
        return at;
    if (len)
        memcpy(tmp + 12, payload, len);
    tbw_record_frame(tmp + 12, len, tmp);
    pb_raw(out, tmp, len + TBW_RECORD_OVERHEAD);
    free(tmp);
    return at;
}

static size_t put_event(pb *out, const pb *ev) { return put_record(out, ev->b, ev->n); }

/* A file version event and scalar events for steps 0..n-1 of tag, values step / 4. Returns the record
   offsets in at[0..n] (at[n] is the end). */
static void scalar_file(pb *file, const char *tag, int n, size_t *at)
{
    pb ev;
    pb_init(&ev);
    pb_double(&ev, 1, 1.7e9);
    pb_str(&ev, 3, "brain.Event:2");
    put_event(file, &ev);
    for (int s = 0; s < n; s++) {
        ev.n = 0;
        scalar_event(&ev, s, tag, (float)s / 4);
        at[s] = put_event(file, &ev);
    }
    at[n] = file->n;
    pb_free(&ev);
}

static tbw_reader *open_reader(const char *path)
{
    tbw_reader *r = NULL;
    char msg[256];
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    return r;
}

/* Writes the bytes to path and returns the status of the first tbw_reader_next on it (its message in
   msg, the event in *ev if one was read; the reader is closed). */
static int first_next(const char *path, const void *bytes, size_t n, char *msg, size_t cap, tbw_event *ev)
{
    put_file(path, bytes, n);
    tbw_reader *r = open_reader(path);
    if (!r)
        return TBW_EIO;
    const tbw_event *e = NULL;
    int rc = tbw_reader_next(r, &e);
    snprintf(msg, cap, "%s", tbw_reader_errmsg(r));
    if (ev && e) {
        *ev = *e;
        ev->values = NULL; /* owned by the reader, gone once it is closed */
    }
    tbw_reader_close(r);
    return rc;
}

/* ======================================================================================== reader */

TEST(reader_reports_a_missing_path_as_enotfound_naming_it)
{
    expect_nothing(HERE);
    char path[1024], msg[256];
    CASE_PATH(path, "no-such-file");
    tbw_reader *r = (tbw_reader *)(uintptr_t)1;
    CHECK_RC(TBW_ENOTFOUND, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    CHECK(r == NULL);
    CHECK_STR_HAS(msg, path);
    CHECK_STR_HAS(msg, "No such file or directory");
}

TEST(reader_refuses_a_directory_at_open_as_an_io_error_naming_it)
{
    expect_nothing(HERE);
    char path[1024];
    CASE_PATH(path, "a-directory");
    CHECK_INT(0, mkdir(path, 0777));
    /* refused at open, before any read */
    tbw_reader *r = (tbw_reader *)(uintptr_t)1;
    char msg[256];
    CHECK_RC(TBW_EIO, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    CHECK(r == NULL);
    CHECK_STR_HAS(msg, path);
    CHECK_STR_HAS(msg, "Is a directory");
}

TEST(reader_reads_an_empty_file_as_a_clean_end_every_time)
{
    expect_nothing(HERE);
    char path[1024];
    CASE_PATH(path, "empty");
    put_file(path, "", 0);
    tbw_reader *r = open_reader(path);
    const tbw_event *ev;
    CHECK_INT(0, tbw_reader_next(r, &ev));
    CHECK_INT(0, tbw_reader_next(r, &ev));
    CHECK_U64(0, tbw_reader_offset(r));
    CHECK_STR("", tbw_reader_errmsg(r));
    tbw_reader_close(r);
}

TEST(reader_reports_a_header_of_1_to_11_bytes_as_truncated_with_its_byte_count)
{
    expect_nothing(HERE);
    pb file, ev;
    pb_init(&file);
    pb_init(&ev);
    scalar_event(&ev, 1, "loss", 1);
    put_event(&file, &ev);
    char path[1024], msg[256], want[64];
    CASE_PATH(path, "short");
    for (size_t k = 1; k < 12; k++) {
        CHECK_RC(TBW_ETRUNCATED, first_next(path, file.b, k, msg, sizeof msg, NULL), msg);
        snprintf(want, sizeof want, "at offset 0 has %zu of 12 bytes", k);
        CHECK_STR_HAS(msg, want);
        CHECK_STR_HAS(msg, path);
    }
    pb_free(&file);
    pb_free(&ev);
}

/* A file of two scalar records; the second one's byte at index `at` (within the record) xored with x.
   Returns the second record's offset. */
static size_t two_records_one_damaged(pb *file, size_t at, uint8_t x)
{
    pb ev;
    pb_init(file);
    pb_init(&ev);
    scalar_event(&ev, 1, "loss", 1);
    put_event(file, &ev);
    ev.n = 0;
    scalar_event(&ev, 2, "loss", 2);
    size_t second = put_event(file, &ev);
    file->b[second + at] ^= x;
    pb_free(&ev);
    return second;
}

/* The first record reads; the second fails with status and a message naming its offset and what; a
   second call fails the same way at the same offset (the reader does not skip damage). */
static void second_record_fails(const char *name, size_t at, uint8_t x, int status, const char *what)
{
    expect_nothing(name);
    pb file;
    size_t second = two_records_one_damaged(&file, at, x);
    char path[1024], want[1300];
    case_path(path, sizeof path, name, "damaged");
    put_file(path, file.b, file.n);
    tbw_reader *r = open_reader(path);
    const tbw_event *ev;
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(1, ev ? ev->step : 0);
    for (int again = 0; again < 2; again++) {
        CHECK_RC(status, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
        snprintf(want, sizeof want, "%s: corrupt at offset %zu: %s", path, second, what);
        CHECK_STR_HAS(tbw_reader_errmsg(r), want);
        CHECK_U64(second, tbw_reader_offset(r));
    }
    tbw_reader_close(r);
    pb_free(&file);
}

TEST(reader_reports_a_length_crc_mismatch_with_its_offset)
{
    second_record_fails(HERE, 8, 0x01, TBW_ECORRUPT, "length CRC mismatch");
}

TEST(reader_reports_a_flipped_length_byte_as_a_length_crc_mismatch)
{
    second_record_fails(HERE, 0, 0x40, TBW_ECORRUPT, "length CRC mismatch");
}

TEST(reader_reports_a_data_crc_mismatch_with_its_offset)
{
    second_record_fails(HERE, 14, 0x80, TBW_ECORRUPT, "data CRC mismatch");
}

TEST(reader_reports_a_damaged_data_crc_field_as_a_data_crc_mismatch)
{
    pb file;
    size_t second = two_records_one_damaged(&file, 0, 0);
    size_t len = file.n - second - TBW_RECORD_OVERHEAD;
    pb_free(&file);
    second_record_fails(HERE, 12 + len + 3, 0xFF, TBW_ECORRUPT, "data CRC mismatch");
}

/* A 12-byte header declaring len, with a correct length CRC, then pad bytes. */
static void header_declaring(pb *file, uint64_t len, size_t pad)
{
    uint8_t h[12];
    for (int i = 0; i < 8; i++)
        h[i] = (uint8_t)(len >> (8 * i));
    uint32_t c = tbw_masked_crc32c(h, 8);
    for (int i = 0; i < 4; i++)
        h[8 + i] = (uint8_t)(c >> (8 * i));
    pb_raw(file, h, 12);
    for (size_t i = 0; i < pad; i++)
        pb_raw(file, "\0", 1);
}

static void length_refused(const char *name, uint64_t len)
{
    expect_nothing(name);
#if !defined(UNDER_ASAN)
    /* The length is refused before anything is allocated for it. */
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    CHECK_INT(0, setrlimit(RLIMIT_AS, &rl));
#endif
    pb file;
    pb_init(&file);
    header_declaring(&file, len, 64);
    char path[1024], msg[256], want[128];
    case_path(path, sizeof path, name, "huge-length");
    CHECK_RC(TBW_ECORRUPT, first_next(path, file.b, file.n, msg, sizeof msg, NULL), msg);
    snprintf(want, sizeof want, "corrupt at offset 0: record length %" PRIu64 " is too large", len);
    CHECK_STR_HAS(msg, want);
    CHECK_STR_HAS(msg, path);
    pb_free(&file);
}

TEST(reader_refuses_a_length_one_past_the_record_limit_with_a_valid_crc)
{
    length_refused(HERE, TBW_RECORD_MAX_PAYLOAD + 1);
}

TEST(reader_refuses_a_length_of_2_pow_64_minus_1_with_a_valid_crc)
{
    length_refused(HERE, UINT64_MAX);
}

TEST(reader_reports_a_length_past_the_end_as_truncated_and_continues_once_the_file_grows)
{
    pb file;
    pb_init(&file);
    size_t at[4];
    scalar_file(&file, "loss", 3, at);
    char path[1024], want[160];
    CASE_PATH(path, "events.out.tfevents.1700000000.hostile");
    /* the first record whole, the second cut in its payload */
    size_t cut = at[1] + 20;
    put_file(path, file.b, cut);
    tbw_reader *r = open_reader(path);
    const tbw_event *ev;
    CHECK_INT(1, tbw_reader_next(r, &ev)); /* file version */
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(0, ev ? ev->step : -1);
    for (int again = 0; again < 2; again++) {
        CHECK_RC(TBW_ETRUNCATED, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
        snprintf(want, sizeof want, "the record at offset %zu needs %zu bytes, the file has %zu", at[1],
                 at[2] - at[1], cut - at[1]);
        CHECK_STR_HAS(tbw_reader_errmsg(r), want);
        CHECK_U64(at[1], tbw_reader_offset(r));
    }
    add_to_file(path, file.b + cut, file.n - cut);
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(1, ev ? ev->step : -1);
    CHECK_U64(at[1], ev ? ev->offset : 0);
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(2, ev ? ev->step : -1);
    CHECK_DBL(0.5, ev && ev->n_values ? ev->values[0].scalar : 0);
    CHECK_INT(0, tbw_reader_next(r, &ev));
    tbw_reader_close(r);
    pb_free(&file);
    hostile_expect e;
    expect_init(&e, HERE);
    for (int s = 0; s < 3; s++)
        expect_scalar(&e, "loss", s, s / 4.0);
    expect_write(&e);
}

TEST(reader_reports_a_header_cut_short_as_truncated_and_continues_once_the_rest_arrives)
{
    pb file;
    pb_init(&file);
    size_t at[3];
    scalar_file(&file, "accuracy", 2, at);
    char path[1024], want[1300];
    CASE_PATH(path, "events.out.tfevents.1700000000.hostile");
    size_t cut = at[1] + 5;
    put_file(path, file.b, cut);
    tbw_reader *r = open_reader(path);
    const tbw_event *ev;
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_RC(TBW_ETRUNCATED, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
    snprintf(want, sizeof want, "a record header at offset %zu has 5 of 12 bytes", at[1]);
    CHECK_STR_HAS(tbw_reader_errmsg(r), want);
    add_to_file(path, file.b + cut, 6); /* 11 of 12 */
    CHECK_RC(TBW_ETRUNCATED, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
    CHECK_STR_HAS(tbw_reader_errmsg(r), "has 11 of 12 bytes");
    add_to_file(path, file.b + cut + 6, file.n - cut - 6);
    CHECK_INT(1, tbw_reader_next(r, &ev));
    CHECK_INT(1, ev ? ev->step : -1);
    CHECK_INT(0, tbw_reader_next(r, &ev));
    tbw_reader_close(r);
    pb_free(&file);
    hostile_expect e;
    expect_init(&e, HERE);
    expect_scalar(&e, "accuracy", 0, 0);
    expect_scalar(&e, "accuracy", 1, 0.25);
    expect_write(&e);
}

TEST(reader_reports_a_valid_record_whose_payload_is_not_an_event_as_corrupt_with_its_offset)
{
    expect_nothing(HERE);
    static const struct {
        const char *what;
        uint8_t bytes[8];
        size_t n;
    } bad[] = {
        {"field number 0", {0x00, 0x00}, 2},
        {"wire type 7", {0x0F, 0x00}, 2},
        {"a key varint that never ends", {0xFF, 0xFF, 0xFF}, 3},
        {"a summary longer than the payload", {0x2A, 0x05, 0x0A}, 3},
        {"a fixed64 wall_time cut short", {0x09, 0x01, 0x02}, 3},
    };
    char path[1024], want[1300];
    CASE_PATH(path, "not-an-event");
    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        pb file;
        pb_init(&file);
        pb ev;
        pb_init(&ev);
        scalar_event(&ev, 1, "loss", 1);
        put_event(&file, &ev);
        size_t at = put_record(&file, bad[i].bytes, bad[i].n);
        put_file(path, file.b, file.n);
        tbw_reader *r = open_reader(path);
        const tbw_event *e;
        CHECK_INT(1, tbw_reader_next(r, &e));
        int rc = tbw_reader_next(r, &e);
        CHECK_(rc == TBW_ECORRUPT, "%s: expected TBW_ECORRUPT, got %d (%s)", bad[i].what, rc,
               tbw_reader_errmsg(r));
        snprintf(want, sizeof want, "corrupt at offset %zu: not a valid Event", at);
        CHECK_STR_HAS(tbw_reader_errmsg(r), want);
        CHECK_STR_HAS(tbw_reader_errmsg(r), path);
        tbw_reader_close(r);
        pb_free(&file);
        pb_free(&ev);
    }
}

TEST(reader_skips_event_fields_it_does_not_know_of_every_wire_type)
{
    expect_nothing(HERE);
    pb ev, file;
    pb_init(&ev);
    pb_init(&file);
    pb_uint(&ev, 11, 12345);
    pb_fixed64(&ev, 12, 0x0102030405060708ull);
    pb_str(&ev, 13, "unknown bytes");
    pb_fixed32(&ev, 14, 7);
    pb_double(&ev, 1, 1.7e9);
    pb_uint(&ev, 2, 7);
    pb_str(&ev, 1000, "a far field");
    pb_uint(&ev, (1u << 29) - 1, 1); /* the largest field number */
    pb_str(&ev, 3, "brain.Event:2");
    pb_uint(&ev, 99999, 3);
    put_event(&file, &ev);
    char path[1024], msg[256];
    CASE_PATH(path, "unknown-fields");
    tbw_event e = {0}; /* read by the checks even when the call failed */
    CHECK_RC(1, first_next(path, file.b, file.n, msg, sizeof msg, &e), msg);
    CHECK_INT(7, e.step);
    CHECK_DBL(1.7e9, e.wall_time);
    CHECK_INT(TBW_EVENT_FILE_VERSION, e.kind);
    pb_free(&ev);
    pb_free(&file);
}

TEST(reader_skips_unknown_fields_inside_a_summary_value_and_keeps_its_scalar)
{
    expect_nothing(HERE);
    pb val, sum, ev, file;
    pb_init(&val);
    pb_init(&sum);
    pb_init(&ev);
    pb_init(&file);
    pb_str(&val, 1, "loss");
    pb_str(&val, 99, "not a field of Value");
    pb_float(&val, 2, 0.75f);
    pb_uint(&val, 100, 5);
    pb_msg(&sum, 1, &val);
    pb_uint(&sum, 50, 1);
    pb_uint(&ev, 2, 4);
    pb_msg(&ev, 5, &sum);
    put_event(&file, &ev);
    char path[1024];
    CASE_PATH(path, "unknown-value-fields");
    put_file(path, file.b, file.n);
    tbw_reader *r = open_reader(path);
    const tbw_event *e;
    CHECK_INT(1, tbw_reader_next(r, &e));
    CHECK_INT(TBW_EVENT_SUMMARY, e ? (int)e->kind : -1);
    CHECK_INT(1, e ? e->n_values : 0);
    if (e && e->n_values) {
        CHECK_STR("loss", e->values[0].tag);
        CHECK_DBL(0.75, e->values[0].scalar);
        CHECK_INT(TBW_VALUE_SIMPLE, e->values[0].kind);
    }
    tbw_reader_close(r);
    pb_free(&val);
    pb_free(&sum);
    pb_free(&ev);
    pb_free(&file);
}

TEST(reader_skips_an_unknown_field_nested_100000_deep_without_recursing)
{
    expect_nothing(HERE);
    /* Nothing in Event's schema recurses, so the nesting is only bytes to skip; a decoder that parsed
       unknown fields as messages would need 100000 stack frames. */
    pb inner, outer;
    pb_init(&inner);
    pb_init(&outer);
    for (int depth = 0; depth < 100000; depth++) {
        outer.n = 0;
        pb_msg(&outer, 15, &inner);
        pb t = inner;
        inner = outer;
        outer = t;
    }
    pb ev, file;
    pb_init(&ev);
    pb_init(&file);
    pb_uint(&ev, 2, 3);
    pb_raw(&ev, inner.b, inner.n);
    pb_str(&ev, 3, "brain.Event:2");
    put_event(&file, &ev);
    char path[1024], msg[256];
    CASE_PATH(path, "nested");
    tbw_event e = {0}; /* read by the checks even when the call failed */
    CHECK_RC(1, first_next(path, file.b, file.n, msg, sizeof msg, &e), msg);
    CHECK_INT(3, e.step);
    CHECK_INT(TBW_EVENT_FILE_VERSION, e.kind);
    CHECK(file.n > 300000);
    pb_free(&inner);
    pb_free(&outer);
    pb_free(&ev);
    pb_free(&file);
}

TEST(reader_reads_a_10_byte_step_varint_as_minus_one)
{
    expect_nothing(HERE);
    pb ev, file;
    pb_init(&ev);
    pb_init(&file);
    pb_key(&ev, 2, 0);
    pb_raw(&ev, "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 10);
    put_event(&file, &ev);
    char path[1024], msg[256];
    CASE_PATH(path, "varint10");
    tbw_event e = {0}; /* read by the checks even when the call failed */
    CHECK_RC(1, first_next(path, file.b, file.n, msg, sizeof msg, &e), msg);
    CHECK_INT(-1, e.step);
    pb_free(&ev);
    pb_free(&file);
}

TEST(reader_refuses_a_step_varint_of_11_bytes_as_corrupt)
{
    expect_nothing(HERE);
    pb ev, file;
    pb_init(&ev);
    pb_init(&file);
    pb_key(&ev, 2, 0);
    pb_raw(&ev, "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 11);
    put_event(&file, &ev);
    char path[1024], msg[256];
    CASE_PATH(path, "varint11");
    CHECK_RC(TBW_ECORRUPT, first_next(path, file.b, file.n, msg, sizeof msg, NULL), msg);
    CHECK_STR_HAS(msg, "corrupt at offset 0: not a valid Event");
    pb_free(&ev);
    pb_free(&file);
}

TEST(reader_refuses_a_field_length_varint_of_2_pow_62_as_corrupt)
{
    expect_nothing(HERE);
    pb ev, file;
    pb_init(&ev);
    pb_init(&file);
    pb_uint(&ev, 2, 1);
    pb_key(&ev, 3, 2);
    pb_varint(&ev, (uint64_t)1 << 62);
    pb_raw(&ev, "brain", 5);
    put_event(&file, &ev);
    char path[1024], msg[256];
    CASE_PATH(path, "huge-field");
    CHECK_RC(TBW_ECORRUPT, first_next(path, file.b, file.n, msg, sizeof msg, NULL), msg);
    CHECK_STR_HAS(msg, "corrupt at offset 0: not a valid Event");
    pb_free(&ev);
    pb_free(&file);
}

TEST(reader_reads_a_record_of_0_bytes_as_an_empty_event_and_goes_on)
{
    expect_nothing(HERE);
    pb file, ev;
    pb_init(&file);
    pb_init(&ev);
    CHECK_INT(0, put_record(&file, NULL, 0));
    scalar_event(&ev, 5, "loss", 2);
    size_t second = put_event(&file, &ev);
    CHECK_INT(16, second);
    char path[1024];
    CASE_PATH(path, "empty-record");
    put_file(path, file.b, file.n);
    tbw_reader *r = open_reader(path);
    const tbw_event *e;
    CHECK_INT(1, tbw_reader_next(r, &e));
    if (e) {
        CHECK_INT(TBW_EVENT_OTHER, e->kind);
        CHECK_INT(0, e->step);
        CHECK_DBL(0, e->wall_time);
        CHECK_INT(0, e->n_values);
        CHECK_U64(0, e->offset);
    }
    CHECK_U64(16, tbw_reader_offset(r));
    CHECK_INT(1, tbw_reader_next(r, &e));
    CHECK_INT(5, e ? e->step : -1);
    CHECK_INT(0, tbw_reader_next(r, &e));
    tbw_reader_close(r);
    pb_free(&file);
    pb_free(&ev);
}

TEST(reader_keeps_the_reason_in_its_message_for_a_path_of_300_characters)
{
    expect_nothing(HERE);
    /* Run directories nest deeply (logdir/sweep/lr_1E-03conv2fc2/...): the message must still say what
       is wrong and where, not only whose file it is. */
    char path[1024], msg[512];
    CASE_PATH(path, "");
    size_t n = 0;
    for (int i = 0; i < 30; i++) {
        n += (size_t)snprintf(path + n, sizeof path - n, "%sdirectory", i ? "/" : "");
        mkdir(path, 0777);
    }
    snprintf(path + n, sizeof path - n, "/damaged");
    CHECK(strlen(path) > 300);
    pb file;
    pb_init(&file);
    header_declaring(&file, 5, 0);
    file.b[8] ^= 1;
    CHECK_RC(TBW_ECORRUPT, first_next(path, file.b, file.n, msg, sizeof msg, NULL), msg);
    CHECK_STR_HAS(msg, "corrupt at offset 0: length CRC mismatch");
    pb_free(&file);
}

static const char *blocked_what_;

static void blocked(int sig)
{
    (void)sig;
    const char *m = blocked_what_ ? blocked_what_ : "blocked";
    if (write(2, m, strlen(m)) < 0) {
    }
    _exit(3);
}

/* Runs the reader on path (open, then next if the open worked) and returns the first failure, with a
   SIGALRM after 5 s ending the case with a message instead of hanging it. */
static int read_within_5_s(const char *path, char *msg, size_t cap, const char *what)
{
    blocked_what_ = what;
    signal(SIGALRM, blocked);
    alarm(5);
    tbw_reader *r = NULL;
    int rc = tbw_reader_open(&r, path, msg, cap);
    if (!rc) {
        const tbw_event *ev;
        rc = tbw_reader_next(r, &ev);
        snprintf(msg, cap, "%s", tbw_reader_errmsg(r));
        tbw_reader_close(r);
    }
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    return rc;
}

TEST(reader_does_not_block_on_a_fifo_that_no_process_writes)
{
    expect_nothing(HERE);
    char path[1024], msg[256];
    CASE_PATH(path, "pipe");
    unlink(path);
    CHECK_INT(0, mkfifo(path, 0666));
    int rc = read_within_5_s(path, msg, sizeof msg,
                             "tbw_reader_open or _next blocked for 5 s on a FIFO that no process writes\n");
    CHECK_RC(TBW_EIO, rc, msg);
    CHECK_STR_HAS(msg, path);
    unlink(path);
}

TEST(reader_does_not_block_on_a_fifo_whose_writer_sends_nothing)
{
    expect_nothing(HERE);
    char path[1024], msg[256];
    CASE_PATH(path, "pipe");
    unlink(path);
    CHECK_INT(0, mkfifo(path, 0666));
    int keep = open(path, O_RDWR | O_NONBLOCK); /* a writer that never writes */
    CHECK(keep >= 0);
    int rc = read_within_5_s(path, msg, sizeof msg,
                             "tbw_reader_open or _next blocked for 5 s on a FIFO with a silent writer\n");
    CHECK_RC(TBW_EIO, rc, msg);
    CHECK_STR_HAS(msg, path);
    CHECK_STR_HAS(msg, "Illegal seek");
    close(keep);
    unlink(path);
}

TEST(reader_reports_dev_zero_as_a_length_crc_mismatch_at_offset_0)
{
    expect_nothing(HERE);
    char msg[256];
    int rc = read_within_5_s("/dev/zero", msg, sizeof msg, "the reader blocked on /dev/zero\n");
    CHECK_RC(TBW_ECORRUPT, rc, msg);
    CHECK_STR_HAS(msg, "/dev/zero: corrupt at offset 0: length CRC mismatch");
}

TEST(reader_reads_dev_null_as_an_empty_file)
{
    expect_nothing(HERE);
    char msg[256];
    CHECK_RC(0, read_within_5_s("/dev/null", msg, sizeof msg, "the reader blocked on /dev/null\n"), msg);
}

TEST(reader_does_not_trust_a_tensor_shape_that_claims_2_pow_80_elements)
{
    expect_nothing(HERE);
    pb dim, shape, tensor, val, sum, ev, file;
    pb_init(&dim);
    pb_init(&shape);
    pb_init(&tensor);
    pb_init(&val);
    pb_init(&sum);
    pb_init(&ev);
    pb_init(&file);
    const int64_t dims[3] = {(int64_t)1 << 40, (int64_t)1 << 40, -5};
    for (int i = 0; i < 3; i++) {
        dim.n = 0;
        pb_uint(&dim, 1, (uint64_t)dims[i]);
        pb_msg(&shape, 2, &dim);
    }
    pb_uint(&tensor, 1, TBW_DT_FLOAT);
    pb_msg(&tensor, 2, &shape);
    float one = 1.0f;
    pb_bytes(&tensor, 5, &one, 4); /* packed float_val: one element */
    pb_str(&val, 1, "t");
    pb_msg(&val, 8, &tensor);
    pb_msg(&sum, 1, &val);
    pb_uint(&ev, 2, 9);
    pb_msg(&ev, 5, &sum);
    put_event(&file, &ev);
    char path[1024];
    CASE_PATH(path, "huge-shape");
    put_file(path, file.b, file.n);
    tbw_reader *r = open_reader(path);
    const tbw_event *e;
    CHECK_INT(1, tbw_reader_next(r, &e));
    const tbw_value *v = e && e->n_values == 1 ? &e->values[0] : NULL;
    CHECK(v != NULL);
    if (v) {
        CHECK_INT(TBW_VALUE_TENSOR, v->kind);
        CHECK_INT(3, v->rank);
        CHECK_INT((int64_t)1 << 40, v->dims[0]);
        CHECK_INT(-5, v->dims[2]);
        CHECK_INT(1, v->num_elements); /* what the data holds, not what the shape claims */
        CHECK_INT(4, v->data_len);
        CHECK(!v->has_scalar);
    }
    tbw_reader_close(r);
    pb *all[] = {&dim, &shape, &tensor, &val, &sum, &ev, &file};
    for (size_t i = 0; i < CHECK_COUNT(all); i++)
        pb_free(all[i]);
}

TEST(reader_takes_the_shorter_of_histogram_bucket_arrays_that_disagree)
{
    expect_nothing(HERE);
    pb histo, val, sum, ev, file;
    pb_init(&histo);
    pb_init(&val);
    pb_init(&sum);
    pb_init(&ev);
    pb_init(&file);
    const double limits[3] = {0, 1, 2}, counts[5] = {1, 2, 3, 4, 5};
    pb_bytes(&histo, 6, limits, sizeof limits); /* packed bucket_limit (little-endian doubles) */
    pb_bytes(&histo, 7, counts, sizeof counts); /* packed bucket */
    pb_str(&val, 1, "h");
    pb_msg(&val, 5, &histo);
    pb_msg(&sum, 1, &val);
    pb_uint(&ev, 2, 1);
    pb_msg(&ev, 5, &sum);
    put_event(&file, &ev);
    char path[1024];
    CASE_PATH(path, "histo");
    put_file(path, file.b, file.n);
    tbw_reader *r = open_reader(path);
    const tbw_event *e;
    CHECK_INT(1, tbw_reader_next(r, &e));
    const tbw_value *v = e && e->n_values == 1 ? &e->values[0] : NULL;
    CHECK(v != NULL);
    if (v) {
        CHECK_INT(TBW_VALUE_HISTO, v->kind);
        CHECK_INT(3, v->histo_buckets);
        CHECK_DBL(3, v->histo_bucket[2]);
        CHECK_DBL(2, v->histo_bucket_limit[2]);
    }
    tbw_reader_close(r);
    pb *all[] = {&histo, &val, &sum, &ev, &file};
    for (size_t i = 0; i < CHECK_COUNT(all); i++)
        pb_free(all[i]);
}

TEST(reader_reports_out_of_memory_when_a_small_record_decodes_past_the_memory_limit)
{
    expect_nothing(HERE);
#if defined(UNDER_ASAN)
    fprintf(stderr, "%s: skipped under AddressSanitizer (it reserves more than the case's limit)\n", HERE);
    CHECK(true);
#else
    /* 4 MB of empty Summary.Values ("0a 00", two bytes each) decode to 2 million values of a few hundred
       bytes each: past a 256 MiB address space. The reader must say so, not crash. */
    enum { N = 2000000 };
    pb sum, ev, file;
    pb_init(&sum);
    pb_init(&ev);
    pb_init(&file);
    for (int i = 0; i < N; i++)
        pb_raw(&sum, "\x0a\x00", 2);
    pb_uint(&ev, 2, 1);
    pb_msg(&ev, 5, &sum);
    pb_free(&sum);
    put_event(&file, &ev);
    pb_free(&ev);
    char path[1024];
    CASE_PATH(path, "many-values");
    put_file(path, file.b, file.n);
    pb_free(&file);
    if (getenv("TBW_UNDER_QEMU")) {
        /* qemu-user's own reservations count against the limit: the case measures qemu, not tbw */
        fprintf(stderr, "%s: not run under qemu (tools/oldcpu.sh)\n", HERE);
        return;
    }
    struct rlimit rl = {(rlim_t)256 << 20, (rlim_t)256 << 20};
    CHECK_INT(0, setrlimit(RLIMIT_AS, &rl));
    tbw_reader *r = open_reader(path);
    const tbw_event *e;
    CHECK_RC(TBW_ENOMEM, tbw_reader_next(r, &e), tbw_reader_errmsg(r));
    CHECK_STR_HAS(tbw_reader_errmsg(r), "out of memory decoding the");
    CHECK_STR_HAS(tbw_reader_errmsg(r), "at offset 0");
    tbw_reader_close(r);
#endif
}

TEST(reader_refuses_null_arguments_with_einval)
{
    expect_nothing(HERE);
    char msg[256];
    tbw_reader *r = NULL;
    CHECK_RC(TBW_EINVAL, tbw_reader_open(NULL, "/dev/null", msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "out is NULL");
    CHECK_RC(TBW_EINVAL, tbw_reader_open(&r, NULL, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "path is NULL");
    CHECK(r == NULL);
    CHECK_RC(TBW_ENOTFOUND, tbw_reader_open(&r, "/nonexistent/x", NULL, 0), "no buffer");
    const tbw_event *ev;
    CHECK_INT(TBW_EINVAL, tbw_reader_next(NULL, &ev));
    r = open_reader("/dev/null");
    CHECK_INT(TBW_EINVAL, tbw_reader_next(r, NULL));
    tbw_reader_close(r);
    CHECK_STR("reader is NULL", tbw_reader_errmsg(NULL));
    CHECK_U64(0, tbw_reader_offset(NULL));
    tbw_reader_close(NULL);
}

/* ================================================================================== record_parse */

static void one_record(pb *rec)
{
    pb ev;
    pb_init(rec);
    pb_init(&ev);
    scalar_event(&ev, 3, "loss", 1.5f);
    put_event(rec, &ev);
    pb_free(&ev);
}

TEST(record_parse_reports_every_truncation_point_of_a_valid_record_as_truncated)
{
    expect_nothing(HERE);
    pb rec;
    one_record(&rec);
    uint8_t *copy = malloc(rec.n);
    for (size_t n = 0; n < rec.n; n++) {
        /* an exact-size copy, so reading past n would be caught by the sanitizers */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, rec.b, n);
        const uint8_t *payload = NULL;
        size_t len = 99, consumed = 99;
        int rc = tbw_record_parse(cut, n, &payload, &len, &consumed);
        CHECK_(rc == TBW_ETRUNCATED, "%zu of %zu bytes: expected TBW_ETRUNCATED, got %d", n, rec.n, rc);
        CHECK(payload == NULL && len == 99 && consumed == 99);
        free(cut);
    }
    memcpy(copy, rec.b, rec.n);
    const uint8_t *payload;
    size_t len, consumed;
    CHECK_INT(0, tbw_record_parse(copy, rec.n, &payload, &len, &consumed));
    CHECK_INT(rec.n, consumed);
    CHECK_INT(rec.n - TBW_RECORD_OVERHEAD, len);
    CHECK(payload == copy + 12);
    free(copy);
    pb_free(&rec);
}

TEST(record_parse_reports_a_flipped_bit_in_any_byte_as_corrupt)
{
    expect_nothing(HERE);
    pb rec;
    one_record(&rec);
    for (size_t i = 0; i < rec.n; i++)
        for (int bit = 0; bit < 8; bit++) {
            rec.b[i] ^= (uint8_t)(1u << bit);
            const uint8_t *payload;
            size_t len, consumed;
            int rc = tbw_record_parse(rec.b, rec.n, &payload, &len, &consumed);
            /* a flipped length bit may also make the record look longer than the buffer */
            bool ok = rc == TBW_ECORRUPT;
            CHECK_(ok, "bit %d of byte %zu: expected TBW_ECORRUPT, got %d", bit, i, rc);
            rec.b[i] ^= (uint8_t)(1u << bit);
        }
    pb_free(&rec);
}

TEST(record_parse_refuses_a_length_over_the_limit_even_with_a_valid_crc)
{
    expect_nothing(HERE);
    pb file;
    pb_init(&file);
    header_declaring(&file, TBW_RECORD_MAX_PAYLOAD + 1, 4);
    const uint8_t *payload;
    size_t len, consumed;
    CHECK_INT(TBW_ECORRUPT, tbw_record_parse(file.b, file.n, &payload, &len, &consumed));
    file.n = 0;
    header_declaring(&file, TBW_RECORD_MAX_PAYLOAD, 4); /* at the limit: only more bytes can tell */
    CHECK_INT(TBW_ETRUNCATED, tbw_record_parse(file.b, file.n, &payload, &len, &consumed));
    pb_free(&file);
}

TEST(record_parse_reads_the_first_of_two_records_and_says_how_much_it_took)
{
    expect_nothing(HERE);
    pb file;
    pb_init(&file);
    CHECK_INT(0, put_record(&file, NULL, 0));
    put_record(&file, (const uint8_t *)"abc", 3);
    const uint8_t *payload;
    size_t len, consumed;
    CHECK_INT(0, tbw_record_parse(file.b, file.n, &payload, &len, &consumed));
    CHECK_INT(0, len);
    CHECK_INT(16, consumed);
    CHECK_INT(0, tbw_record_parse(file.b + consumed, file.n - consumed, &payload, &len, &consumed));
    CHECK_INT(3, len);
    CHECK_INT(19, consumed);
    CHECK_MEM("abc", payload, 3);
    pb_free(&file);
}

TEST(record_parse_refuses_null_arguments_with_einval)
{
    expect_nothing(HERE);
    pb rec;
    one_record(&rec);
    const uint8_t *payload;
    size_t len, consumed;
    CHECK_INT(TBW_EINVAL, tbw_record_parse(NULL, 0, &payload, &len, &consumed));
    CHECK_INT(TBW_EINVAL, tbw_record_parse(rec.b, rec.n, NULL, &len, &consumed));
    CHECK_INT(TBW_EINVAL, tbw_record_parse(rec.b, rec.n, &payload, NULL, &consumed));
    CHECK_INT(TBW_EINVAL, tbw_record_parse(rec.b, rec.n, &payload, &len, NULL));
    pb_free(&rec);
}

/* ===================================================================================== IDX files */

static uint8_t *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        *len = n > 0 ? (size_t)n : 0;
        b[*len] = 0; /* text files read as strings */
    }
    return b;
}

/* An IDX file: magic 00 00 <type> <rank>, rank big-endian dimensions, then len data bytes;
   gzip-compressed when gz. */
static void idx_file(const char *path, uint8_t type, uint8_t rank, const uint32_t *dims, const void *data,
                     size_t len, bool gz)
{
    pb b;
    pb_init(&b);
    const uint8_t magic[4] = {0, 0, type, rank};
    pb_raw(&b, magic, 4);
    for (int i = 0; i < rank; i++) {
        const uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8),
                              (uint8_t)dims[i]};
        pb_raw(&b, d, 4);
    }
    pb_raw(&b, data, len);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        CHECK(g != NULL);
        if (g) {
            CHECK_INT(b.n, gzwrite(g, b.b, (unsigned)b.n));
            CHECK_INT(Z_OK, gzclose(g));
        }
    } else {
        put_file(path, b.b, b.n);
    }
    pb_free(&b);
}

/* 3 images of 4x4 (48 bytes of a gradient, or n bytes of it) and their labels. */
static void images_of(const char *path, const uint32_t dims[3], size_t n, bool gz)
{
    uint8_t *px = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        px[i] = (uint8_t)(i * 5);
    idx_file(path, 0x08, 3, dims, px, n, gz);
    free(px);
}

static const uint32_t DIMS_3x4x4[3] = {3, 4, 4};

static void good_images(const char *path, bool gz) { images_of(path, DIMS_3x4x4, 48, gz); }

static void labels_of(const char *path, uint32_t n, const uint8_t *labels, bool gz)
{
    idx_file(path, 0x08, 1, &n, labels, n, gz);
}

static void good_labels(const char *path) { labels_of(path, 3, (const uint8_t[]){0, 1, 2}, false); }

/* Loads the pair into a fresh dataset; returns the status, the message in msg. A failed load leaves
   the dataset empty. */
static int load_pair(const char *img, const char *lab, char *msg, size_t cap)
{
    cnn_dataset *ds = NULL;
    char why[256];
    CHECK_RC(0, cnn_dataset_create(&ds, why, sizeof why), why);
    if (!ds)
        return TBW_ENOMEM;
    int rc = cnn_dataset_load_idx(ds, img, lab);
    snprintf(msg, cap, "%s", cnn_dataset_errmsg(ds));
    if (rc) {
        CHECK_INT(0, cnn_dataset_count(ds));
        CHECK(cnn_dataset_images(ds) == NULL);
    }
    cnn_dataset_free(ds);
    return rc;
}

/* The images file refused with status and a message holding its path and needle. */
static void images_refused(const char *img, int status, const char *needle)
{
    char lab[64] = "labels", msg[512];
    good_labels(lab);
    CHECK_RC(status, load_pair(img, lab, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, img);
    CHECK_STR_HAS(msg, needle);
}

TEST(idx_loader_refuses_a_file_whose_magic_is_not_idx_naming_the_bytes)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    put_file(img, "PK\x03\x04 this is a zip archive", 26);
    images_refused(img, TBW_ECORRUPT, "not an IDX file (magic 50 4b, want 00 00)");
}

TEST(idx_loader_refuses_float_data_of_type_0x0d_naming_the_type)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    float px[48] = {0};
    idx_file(img, 0x0D, 3, DIMS_3x4x4, px, sizeof px, false);
    images_refused(img, TBW_ECORRUPT, "IDX type byte 0x0d, only unsigned byte (0x08) is supported");
}

TEST(idx_loader_refuses_images_of_rank_2)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    uint8_t px[16] = {0};
    idx_file(img, 0x08, 2, (const uint32_t[]){4, 4}, px, sizeof px, false);
    images_refused(img, TBW_EMISMATCH, "IDX rank 2, expected 3");
}

TEST(idx_loader_refuses_labels_of_rank_3)
{
    expect_nothing(HERE);
    char img[64], lab[64], msg[512];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    good_images(img, false);
    uint8_t px[3] = {0};
    idx_file(lab, 0x08, 3, (const uint32_t[]){3, 1, 1}, px, sizeof px, false);
    CHECK_RC(TBW_EMISMATCH, load_pair(img, lab, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "labels: IDX rank 3, expected 1");
}

TEST(idx_loader_refuses_a_zero_dimension_in_any_place)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    for (int zero = 0; zero < 3; zero++) {
        uint32_t dims[3] = {3, 4, 4};
        dims[zero] = 0;
        images_of(img, dims, 0, false);
        images_refused(img, TBW_ECORRUPT, "a dimension is zero");
    }
}

TEST(idx_loader_refuses_dimensions_whose_product_overflows_64_bits)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    images_of(img, (const uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, 16, false);
    images_refused(img, TBW_ERANGE, "dimension sizes multiply past the 4294967296 byte limit");
}

TEST(idx_loader_refuses_dimensions_whose_product_passes_4_gib_before_reading_data)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    images_of(img, (const uint32_t[]){2, 65536, 65536}, 16, false); /* 8 GiB claimed */
    images_refused(img, TBW_ERANGE, "dimension sizes multiply past the 4294967296 byte limit");
}

TEST(idx_loader_refuses_trailing_bytes_after_the_data_plain_or_gzip)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    for (int gz = 0; gz < 2; gz++) {
        images_of(img, DIMS_3x4x4, 49, gz);
        images_refused(img, TBW_ECORRUPT, "unexpected trailing bytes after the 48 data bytes");
    }
}

TEST(idx_loader_refuses_a_header_that_declares_more_data_than_the_file_holds)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    images_of(img, DIMS_3x4x4, 40, false);
    images_refused(img, TBW_ETRUNCATED, "file truncated: the header declares 48 data bytes");
}

TEST(idx_loader_reports_an_empty_file_as_truncated_in_the_header)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    put_file(img, "", 0);
    images_refused(img, TBW_ETRUNCATED, "file truncated: header needs 4 bytes, only 0 present");
}

TEST(idx_loader_reports_a_file_cut_inside_its_dimensions_as_truncated)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images");
    put_file(img, "\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00", 10);
    images_refused(img, TBW_ETRUNCATED, "file truncated: dimension sizes needs 4 bytes, only 2 present");
}

TEST(idx_loader_refuses_image_and_label_counts_that_differ)
{
    expect_nothing(HERE);
    char img[64], lab[64], msg[512];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    good_images(img, false);
    labels_of(lab, 2, (const uint8_t[]){0, 1}, false);
    CHECK_RC(TBW_EMISMATCH, load_pair(img, lab, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "3 images but 2 labels");
}

TEST(idx_loader_refuses_images_wider_than_65536)
{
    expect_nothing(HERE);
    char img[64], lab[64], msg[512];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    images_of(img, (const uint32_t[]){1, 1, 65537}, 65537, false);
    labels_of(lab, 1, (const uint8_t[]){0}, false);
    CHECK_RC(TBW_ERANGE, load_pair(img, lab, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "images: images of 1x65537 are too large");
}

/* A model for 1x4x4 images: flatten, dense <dense> of `units`, and a second dense "fc2" of 3 when
   second; built for batch 3 with the optimizer given. */
static cnn_model *model_of(const char *dense, int units, cnn_optimizer opt, bool second)
{
    cnn_model *m = NULL;
    char why[256];
    cnn_model_opts o = CNN_MODEL_OPTS_INIT;
    o.threads = 1;
    o.optimizer = opt;
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, &o, why, sizeof why), why);
    if (!m)
        return NULL;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = units;
    CHECK_RC(0, cnn_model_add_flatten(m, "flat") | cnn_model_add_dense(m, dense, &d), cnn_model_errmsg(m));
    d.units = 3;
    if (second)
        CHECK_RC(0, cnn_model_add_dense(m, "fc2", &d), cnn_model_errmsg(m));
    CHECK_RC(0, cnn_model_build(m, 3), cnn_model_errmsg(m));
    return m;
}

static cnn_model *model_4x4(int classes) { return model_of("fc", classes, CNN_OPT_ADAM, false); }

/* The first weight of the dense layer after the flatten. */
static float first_weight(const cnn_model *m)
{
    cnn_layer_info L;
    if (cnn_model_layer_info(m, 1, &L) || !L.params[0].data)
        return NAN;
    return L.params[0].data[0];
}

TEST(idx_loader_keeps_labels_of_10_and_more_and_the_engine_refuses_them_at_the_loss)
{
    expect_nothing(HERE);
    char img[64], lab[64];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    good_images(img, false);
    labels_of(lab, 3, (const uint8_t[]){0, 200, 9}, false);
    cnn_dataset *ds = NULL;
    char why[256];
    CHECK_RC(0, cnn_dataset_create(&ds, why, sizeof why), why);
    CHECK_RC(0, cnn_dataset_load_idx(ds, img, lab), cnn_dataset_errmsg(ds)); /* any byte is a class */
    CHECK_INT(200, cnn_dataset_labels(ds)[1]);
    cnn_model *m = model_4x4(10);
    if (!m) {
        cnn_dataset_free(ds);
        return;
    }
    float x[48];
    int32_t y[3];
    CHECK_RC(0, cnn_dataset_batch(ds, 0, 3, x, y), cnn_dataset_errmsg(ds));
    float w0 = first_weight(m);
    double loss = -1;
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, x, y, 3, &loss, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: label 200 of sample 1 is outside 0..9");
    CHECK_INT(0, cnn_model_step_count(m));
    CHECK_DBL(w0, first_weight(m));
    CHECK_DBL(-1, loss);
    CHECK_RC(TBW_EINVAL, cnn_model_evaluate_dataset(m, ds, &loss, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "label 200 of sample 1 is outside 0..9");
    cnn_model_free(m);
    cnn_dataset_free(ds);
}

/* The images, gzip-compressed, with byte at (from the end when negative) xored with x. */
static void damaged_gzip(const char *path, long at, uint8_t x, size_t keep)
{
    uint32_t dims[3] = {3, 28, 28};
    images_of(path, dims, 3 * 28 * 28, true);
    size_t n;
    uint8_t *b = slurp(path, &n);
    CHECK(b != NULL && n > 40);
    if (!b)
        return;
    size_t i = at < 0 ? n - (size_t)-at : (size_t)at;
    b[i] ^= x;
    put_file(path, b, keep && keep < n ? keep : n);
    free(b);
}

TEST(idx_loader_reports_a_corrupt_gzip_stream_as_corrupt_not_truncated)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images.gz");
    /* The first deflate byte after the 10-byte gzip header: BFINAL 1, BTYPE 11, a reserved block type. A
       damaged stream will not mend by waiting, so it is not TBW_ETRUNCATED's "input ends early". */
    damaged_gzip(img, 10, 0, 0);
    size_t n;
    uint8_t *b = slurp(img, &n);
    if (b) {
        b[10] = 0x07;
        put_file(img, b, n);
        free(b);
    }
    images_refused(img, TBW_ECORRUPT, "invalid block type");
}

TEST(idx_loader_reports_a_gzip_stream_whose_crc_does_not_match_as_corrupt)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images.gz");
    damaged_gzip(img, -8, 0xFF, 0); /* the CRC-32 in the gzip trailer */
    images_refused(img, TBW_ECORRUPT, "incorrect data check");
}

TEST(idx_loader_reports_a_gzip_file_cut_mid_stream_as_truncated)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images.gz");
    size_t n;
    damaged_gzip(img, 0, 0, 0);
    uint8_t *b = slurp(img, &n);
    CHECK(b != NULL);
    if (!b)
        return;
    put_file(img, b, n / 2);
    free(b);
    images_refused(img, TBW_ETRUNCATED, "file truncated: the header declares 2352 data bytes");
}

TEST(idx_loader_reads_gzip_and_plain_files_alike)
{
    expect_nothing(HERE);
    char img[64], lab[64], msg[512];
    CASE_PATH(img, "images.gz");
    CASE_PATH(lab, "labels");
    good_images(img, true);
    good_labels(lab);
    CHECK_RC(0, load_pair(img, lab, msg, sizeof msg), msg);
    good_images("images", false);
    CHECK_RC(0, load_pair("images", lab, msg, sizeof msg), msg);
}

TEST(idx_loader_reports_a_missing_images_file_as_not_found_naming_it)
{
    expect_nothing(HERE);
    char img[64], lab[64], msg[512];
    CASE_PATH(img, "no-such-images");
    CASE_PATH(lab, "labels");
    good_labels(lab);
    CHECK_RC(TBW_ENOTFOUND, load_pair(img, lab, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "no-such-images: cannot open: No such file or directory");
}

TEST(idx_loader_reports_a_missing_labels_file_as_not_found_naming_it)
{
    expect_nothing(HERE);
    char img[64], msg[512];
    CASE_PATH(img, "images");
    good_images(img, false);
    CHECK_RC(TBW_ENOTFOUND, load_pair(img, "no-such-labels", msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "no-such-labels: cannot open: No such file or directory");
}

TEST(idx_loader_reports_a_directory_as_an_io_error_naming_it)
{
    expect_nothing(HERE);
    char img[64];
    CASE_PATH(img, "images-dir");
    CHECK_INT(0, mkdir(img, 0777));
    images_refused(img, TBW_EIO, "Is a directory");
}

TEST(idx_loader_refuses_the_images_file_given_as_the_labels_too)
{
    expect_nothing(HERE);
    char img[64], msg[512];
    CASE_PATH(img, "images");
    good_images(img, false);
    CHECK_RC(TBW_EMISMATCH, load_pair(img, img, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "images: IDX rank 3, expected 1");
}

TEST(idx_loader_keeps_the_previous_dataset_when_a_load_fails)
{
    expect_nothing(HERE);
    char img[64], lab[64];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    good_images(img, false);
    good_labels(lab);
    cnn_dataset *ds = NULL;
    char why[256];
    CHECK_RC(0, cnn_dataset_create(&ds, why, sizeof why), why);
    CHECK_RC(0, cnn_dataset_load_idx(ds, img, lab), cnn_dataset_errmsg(ds));
    labels_of("short-labels", 2, (const uint8_t[]){5, 5}, false);
    CHECK_RC(TBW_EMISMATCH, cnn_dataset_load_idx(ds, img, "short-labels"), cnn_dataset_errmsg(ds));
    CHECK_RC(TBW_ENOTFOUND, cnn_dataset_load_idx(ds, "gone", lab), cnn_dataset_errmsg(ds));
    CHECK_INT(3, cnn_dataset_count(ds));
    int rows = 0, cols = 0;
    cnn_dataset_dims(ds, &rows, &cols);
    CHECK_INT(4, rows);
    CHECK_INT(4, cols);
    CHECK_INT(2, cnn_dataset_labels(ds)[2]);
    CHECK_INT(5, cnn_dataset_images(ds)[1]);
    cnn_dataset_free(ds);
}

TEST(idx_loader_refuses_null_arguments_with_einval)
{
    expect_nothing(HERE);
    char img[64], lab[64];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    good_images(img, false);
    good_labels(lab);
    cnn_dataset *ds = NULL;
    char why[256];
    CHECK_RC(TBW_EINVAL, cnn_dataset_create(NULL, why, sizeof why), why);
    CHECK_STR_HAS(why, "out is NULL");
    CHECK_RC(0, cnn_dataset_create(&ds, why, sizeof why), why);
    CHECK_INT(TBW_EINVAL, cnn_dataset_load_idx(NULL, img, lab));
    CHECK_RC(TBW_EINVAL, cnn_dataset_load_idx(ds, NULL, lab), cnn_dataset_errmsg(ds));
    CHECK_STR_HAS(cnn_dataset_errmsg(ds), "NULL path");
    CHECK_RC(TBW_EINVAL, cnn_dataset_load_idx(ds, img, NULL), cnn_dataset_errmsg(ds));
    CHECK_INT(0, cnn_dataset_count(ds));
    cnn_dataset_free(ds);
}

/* =================================================================================== checkpoints */

/* How many entries of dir have a name containing part. */
static int entries_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        n += strstr(de->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

/* 3 inputs of 1x4x4 and their classes. */
static const float X48[48] = {
    0.00f, 0.02f, 0.04f, 0.06f, 0.08f, 0.10f, 0.12f, 0.14f, 0.16f, 0.18f,
    0.20f, 0.22f, 0.24f, 0.26f, 0.28f, 0.30f, 0.32f, 0.34f, 0.36f, 0.38f,
    0.40f, 0.42f, 0.44f, 0.46f, 0.48f, 0.50f, 0.52f, 0.54f, 0.56f, 0.58f,
    0.60f, 0.62f, 0.64f, 0.66f, 0.68f, 0.70f, 0.72f, 0.74f, 0.76f, 0.78f,
    0.80f, 0.82f, 0.84f, 0.86f, 0.88f, 0.90f, 0.92f, 0.94f};
static const int32_t Y3[3] = {0, 1, 2};

/* Trains m for 2 steps and saves it to path. */
static void save_trained(cnn_model *m, const char *path)
{
    if (!m)
        return;
    for (int i = 0; i < 2; i++)
        CHECK_RC(0, cnn_model_train_step(m, X48, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_RC(0, cnn_model_save(m, path), cnn_model_errmsg(m));
}

/* Loading path into m fails with status and a message naming path and needle; m is as it was. */
static void load_refused(cnn_model *m, const char *path, int status, const char *needle)
{
    if (!m)
        return;
    float w0 = first_weight(m);
    int64_t s0 = cnn_model_step_count(m);
    CHECK_RC(status, cnn_model_load(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), needle);
    CHECK_STR_HAS(cnn_model_errmsg(m), path);
    CHECK_DBL(w0, first_weight(m));
    CHECK_INT(s0, cnn_model_step_count(m));
}

/* A fresh model refusing the checkpoint a model of the other shape saved. */
static void other_model_refused(cnn_model *saver, cnn_model *loader, int status, const char *needle)
{
    save_trained(saver, "model.ckpt");
    load_refused(loader, "model.ckpt", status, needle);
    cnn_model_free(saver);
    cnn_model_free(loader);
}

/* The checkpoint of a trained model_4x4(3) at model.ckpt, rewritten by patch (which may change *len). */
static void patched_checkpoint(void (*patch)(uint8_t *b, size_t *len))
{
    cnn_model *m = model_4x4(3);
    save_trained(m, "model.ckpt");
    cnn_model_free(m);
    size_t n;
    uint8_t *b = slurp("model.ckpt", &n);
    CHECK(b != NULL && n > 100);
    if (!b)
        return;
    b = realloc(b, n + 8192);
    memset(b + n, 0, 8192);
    patch(b, &n);
    put_file("model.ckpt", b, n);
    free(b);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

TEST(checkpoint_load_of_a_directory_says_it_is_a_directory)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    CHECK_INT(0, mkdir(path, 0777));
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_EIO, "Is a directory");
    cnn_model_free(m);
}

TEST(checkpoint_load_of_an_empty_file_is_truncated_naming_it)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    put_file(path, "", 0);
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ETRUNCATED, "load model.ckpt: not a tbw CNN checkpoint");
    cnn_model_free(m);
}

TEST(checkpoint_load_of_a_missing_file_is_not_found_naming_it)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "no-such.ckpt");
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ENOTFOUND, "load no-such.ckpt: No such file or directory");
    cnn_model_free(m);
}

TEST(checkpoint_of_a_file_that_is_not_one_is_corrupt_naming_it)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    good_images(path, false); /* an IDX file of 64 bytes */
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ECORRUPT, "load model.ckpt: not a tbw CNN checkpoint (bad magic)");
    cnn_model_free(m);
}

TEST(checkpoint_of_another_architecture_is_refused_naming_both_tensors)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    other_model_refused(model_4x4(3), model_of("out", 3, CNN_OPT_ADAM, false), TBW_EMISMATCH,
                        "tensor 0 is 'fc/weights', model expects 'out/weights'");
}

TEST(checkpoint_with_other_shapes_is_refused_naming_the_tensor_and_both_shapes)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    other_model_refused(model_4x4(3), model_4x4(5), TBW_EMISMATCH,
                        "'fc/weights' has shape [16x3] in the file, [16x5] in the model");
}

TEST(checkpoint_of_a_model_with_one_layer_more_is_refused_naming_the_tensor)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    other_model_refused(model_of("fc", 3, CNN_OPT_ADAM, true), model_4x4(3), TBW_EMISMATCH,
                        "tensor 2 is 'fc2/weights', model expects 'fc/weights/Adam'");
}

TEST(checkpoint_of_a_model_with_one_layer_less_is_refused_naming_the_tensor)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    other_model_refused(model_4x4(3), model_of("fc", 3, CNN_OPT_ADAM, true), TBW_EMISMATCH,
                        "tensor 2 is 'fc/weights/Adam', model expects 'fc2/weights'");
}

TEST(checkpoint_saved_with_sgd_is_refused_by_a_model_using_adam)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    other_model_refused(model_of("fc", 3, CNN_OPT_SGD, false), model_4x4(3), TBW_EMISMATCH,
                        "saved with optimizer 1, model uses 0");
}

TEST(checkpoint_saved_with_adam_is_refused_by_a_model_using_sgd)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    other_model_refused(model_4x4(3), model_of("fc", 3, CNN_OPT_SGD, false), TBW_EMISMATCH,
                        "saved with optimizer 0, model uses 1");
}

TEST(checkpoint_cut_at_every_length_is_truncated_and_changes_nothing)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    cnn_model *m = model_4x4(3);
    save_trained(m, path);
    cnn_model_free(m);
    size_t n;
    uint8_t *b = slurp(path, &n);
    CHECK(b != NULL);
    cnn_model *fresh = model_4x4(3);
    float w0 = first_weight(fresh);
    for (size_t k = 0; b && fresh && k < n; k++) {
        put_file("cut.ckpt", b, k);
        int rc = cnn_model_load(fresh, "cut.ckpt");
        CHECK_(rc == TBW_ETRUNCATED, "cut at %zu of %zu bytes: expected TBW_ETRUNCATED, got %d (%s)", k, n,
               rc, cnn_model_errmsg(fresh));
        CHECK_STR_HAS(cnn_model_errmsg(fresh), "load cut.ckpt: ");
    }
    CHECK_DBL(w0, first_weight(fresh));
    CHECK_INT(0, cnn_model_step_count(fresh));
    put_file("cut.ckpt", b, n);
    CHECK_RC(0, cnn_model_load(fresh, "cut.ckpt"), cnn_model_errmsg(fresh)); /* and whole, it loads */
    CHECK_INT(2, cnn_model_step_count(fresh));
    cnn_model_free(fresh);
    free(b);
}

static void cut_to_20(uint8_t *b, size_t *n) { (void)b, *n = 20; }
static void cut_to_132(uint8_t *b, size_t *n) { (void)b, *n = 132; }

TEST(checkpoint_cut_inside_its_header_says_how_much_of_it_is_there)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    patched_checkpoint(cut_to_20);
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ETRUNCATED, "truncated header (20 of 32 bytes)");
    cnn_model_free(m);
}

TEST(checkpoint_cut_inside_its_payload_says_how_long_it_should_be)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    patched_checkpoint(cut_to_132);
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ETRUNCATED, "bytes, file has 100");
    CHECK_STR_HAS(cnn_model_errmsg(m), "truncated: payload of ");
    cnn_model_free(m);
}

static void one_trailing_byte(uint8_t *b, size_t *n) { b[(*n)++] = 0; }
static void page_of_trailing_bytes(uint8_t *b, size_t *n) { (void)b, *n += 4096; }

TEST(checkpoint_with_a_trailing_byte_is_refused_as_corrupt)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    patched_checkpoint(one_trailing_byte);
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ECORRUPT, "1 trailing bytes after the payload");
    patched_checkpoint(page_of_trailing_bytes);
    load_refused(m, path, TBW_ECORRUPT, "4096 trailing bytes after the payload");
    cnn_model_free(m);
}

static void version_2(uint8_t *b, size_t *n) { (void)n, put_le32(b + 8, 2); }
static void version_0(uint8_t *b, size_t *n) { (void)n, put_le32(b + 8, 0); }

TEST(checkpoint_of_another_format_version_is_refused_naming_both_versions)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    cnn_model *m = model_4x4(3);
    patched_checkpoint(version_2);
    load_refused(m, path, TBW_ECORRUPT, "format version 2, this build reads 1");
    patched_checkpoint(version_0);
    load_refused(m, path, TBW_ECORRUPT, "format version 0, this build reads 1");
    cnn_model_free(m);
}

static void flip_payload_byte(uint8_t *b, size_t *n) { b[*n - 5] ^= 0x10; }

TEST(checkpoint_with_a_flipped_payload_byte_fails_its_crc)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    patched_checkpoint(flip_payload_byte);
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ECORRUPT, "CRC-32 mismatch");
    cnn_model_free(m);
}

static void payload_length_max(uint8_t *b, size_t *n)
{
    (void)n;
    for (int i = 16; i < 24; i++)
        b[i] = 0xFF;
}

TEST(checkpoint_whose_header_claims_a_payload_of_2_pow_64_bytes_is_refused_before_allocating)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    patched_checkpoint(payload_length_max);
    cnn_model *m = model_4x4(3);
#if !defined(UNDER_ASAN)
    struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    CHECK_INT(0, setrlimit(RLIMIT_AS, &rl));
#endif
    load_refused(m, path, TBW_ETRUNCATED, "truncated: payload of 18446744073709551615 bytes");
    cnn_model_free(m);
}

static void optimizer_7(uint8_t *b, size_t *n) { (void)n, put_le32(b + 12, 7); }

TEST(checkpoint_naming_an_optimizer_that_does_not_exist_is_corrupt)
{
    expect_nothing(HERE);
    /* The header is outside the CRC. cnn.h: TBW_ECORRUPT for "a field out of range", TBW_EMISMATCH for
       "other ... optimizer"; there is no optimizer 7 for the file to have been saved with. */
    char path[64];
    CASE_PATH(path, "model.ckpt");
    patched_checkpoint(optimizer_7);
    cnn_model *m = model_4x4(3);
    load_refused(m, path, TBW_ECORRUPT, "optimizer 7");
    cnn_model_free(m);
}

static void one_tensor_more(uint8_t *b, size_t *n) { (void)n, put_le32(b + 28, 7); }
static void one_tensor_less(uint8_t *b, size_t *n) { (void)n, put_le32(b + 28, 5); }

TEST(checkpoint_whose_header_counts_other_tensors_than_its_payload_holds_is_corrupt)
{
    expect_nothing(HERE);
    /* The payload holds exactly the 6 tensors the model needs, with their names and shapes; only the
       header's count (outside the CRC) says 7 or 5. The file is damaged, not of another model. */
    char path[64];
    CASE_PATH(path, "model.ckpt");
    cnn_model *m = model_4x4(3);
    patched_checkpoint(one_tensor_more);
    load_refused(m, path, TBW_ECORRUPT, "7");
    patched_checkpoint(one_tensor_less);
    load_refused(m, path, TBW_ECORRUPT, "5");
    cnn_model_free(m);
}

TEST(checkpoint_load_into_an_unbuilt_model_is_refused)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    cnn_model *built = model_4x4(3);
    save_trained(built, path);
    cnn_model_free(built);
    cnn_model *m = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, NULL, why, sizeof why), why);
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 3;
    CHECK_RC(0, cnn_model_add_flatten(m, "flat") | cnn_model_add_dense(m, "fc", &d), cnn_model_errmsg(m));
    CHECK_RC(TBW_EINVAL, cnn_model_load(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "load: model is not built");
    CHECK_INT(0, cnn_model_step_count(m));
    CHECK_RC(TBW_EINVAL, cnn_model_save(m, "unbuilt.ckpt"), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "save: model is not built");
    CHECK(access("unbuilt.ckpt", F_OK) != 0);
    CHECK_INT(TBW_EINVAL, cnn_model_load(NULL, path));
    cnn_model_free(m);
}

TEST(checkpoint_save_into_a_missing_directory_is_not_found_naming_it)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "no-such-dir/model.ckpt");
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    /* cnn.h lists TBW_EIO and TBW_ENOSPC for the disk; a missing directory is TBW_ENOTFOUND's meaning */
    CHECK_RC(TBW_ENOTFOUND, cnn_model_save(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "no-such-dir/model.ckpt");
    CHECK_STR_HAS(cnn_model_errmsg(m), "No such file or directory");
    cnn_model_free(m);
}

TEST(checkpoint_save_through_a_regular_file_is_an_io_error_naming_it)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "plain/model.ckpt");
    put_file("plain", "not a directory", 15);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    CHECK_RC(TBW_EIO, cnn_model_save(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "plain/model.ckpt");
    CHECK_STR_HAS(cnn_model_errmsg(m), "Not a directory");
    cnn_model_free(m);
}

TEST(checkpoint_save_onto_a_directory_fails_and_leaves_no_temporary_file)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    CHECK_INT(0, mkdir(path, 0777));
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    CHECK_RC(TBW_EIO, cnn_model_save(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "cannot rename model.ckpt: Is a directory");
    CHECK_INT(0, entries_named(".", ".tmp."));
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_RC(TBW_EINVAL, cnn_model_save(m, ""), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "save: empty path");
    cnn_model_free(m);
}

TEST(checkpoint_save_past_the_file_size_limit_keeps_the_previous_checkpoint)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    save_trained(m, path);
    size_t n0;
    uint8_t *before = slurp(path, &n0);
    CHECK_RC(0, cnn_model_train_step(m, X48, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {100, 100};
    CHECK_INT(0, setrlimit(RLIMIT_FSIZE, &rl));
    CHECK_RC(TBW_ENOSPC, cnn_model_save(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "model.ckpt");
    CHECK_STR_HAS(cnn_model_errmsg(m), "File too large");
    size_t n1;
    uint8_t *after = slurp(path, &n1);
    CHECK_INT(n0, n1);
    if (before && after && n0 == n1)
        CHECK_MEM(before, after, n0);
    CHECK_INT(0, entries_named(".", ".tmp."));
    cnn_model *fresh = model_4x4(3);
    CHECK_RC(0, cnn_model_load(fresh, path), cnn_model_errmsg(fresh));
    CHECK_INT(2, cnn_model_step_count(fresh));
    cnn_model_free(fresh);
    cnn_model_free(m);
    free(before);
    free(after);
}

TEST(checkpoint_of_a_model_diverged_to_nan_is_refused_at_save_and_the_good_one_stays)
{
    expect_nothing(HERE);
    char path[64];
    CASE_PATH(path, "model.ckpt");
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    save_trained(m, path); /* a good checkpoint, which the diverged model must not replace */
    float x[48];
    for (int i = 0; i < 48; i++)
        x[i] = NAN;
    CHECK_RC(0, cnn_model_train_step(m, x, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK(isnan(first_weight(m)));
    /* a save that succeeded would give a file that load refuses */
    CHECK_RC(TBW_ERANGE, cnn_model_save(m, path), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "'fc/weights' value 0 is nan, not a finite number");
    CHECK_STR_HAS(cnn_model_errmsg(m), "nothing was written");
    cnn_model *fresh = model_4x4(3);
    CHECK_RC(0, cnn_model_load(fresh, path), cnn_model_errmsg(fresh));
    CHECK(isfinite(first_weight(fresh)));
    cnn_model_free(fresh);
    cnn_model_free(m);
}

/* ======================================================================================= engine */

/* What a refused call must leave alone: the step count and the first weight. */
typedef struct model_state {
    int64_t step;
    float w0;
} model_state;

static model_state state_of(const cnn_model *m)
{
    return (model_state){cnn_model_step_count(m), first_weight(m)};
}

static void unchanged(const cnn_model *m, model_state s)
{
    CHECK_INT(s.step, cnn_model_step_count(m));
    CHECK_DBL(s.w0, first_weight(m));
}

TEST(train_step_refuses_a_label_outside_0_to_classes_minus_1_and_changes_nothing)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    model_state s = state_of(m);
    const int32_t too_big[3] = {0, 3, 1}, negative[3] = {-1, 0, 0}, huge[3] = {0, 1, INT32_MAX};
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, X48, too_big, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: label 3 of sample 1 is outside 0..2");
    unchanged(m, s);
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, X48, negative, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: label -1 of sample 0 is outside 0..2");
    unchanged(m, s);
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, X48, huge, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: label 2147483647 of sample 2 is outside 0..2");
    unchanged(m, s);
    CHECK_RC(0, cnn_model_train_step(m, X48, Y3, 3, NULL, NULL), cnn_model_errmsg(m)); /* and it goes on */
    CHECK_INT(1, cnn_model_step_count(m));
    cnn_model_free(m);
}

TEST(train_step_refuses_0_samples_naming_the_built_batch)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    model_state s = state_of(m);
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, X48, Y3, 0, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "forward: 0 samples, must be 1..3 (the built batch)");
    unchanged(m, s);
    cnn_model_free(m);
}

TEST(train_step_refuses_more_samples_than_the_built_batch)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    model_state s = state_of(m);
    float x[64] = {0};
    const int32_t y[4] = {0, 1, 2, 0};
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, x, y, 4, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "forward: 4 samples, must be 1..3 (the built batch)");
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, x, y, SIZE_MAX, NULL, NULL), cnn_model_errmsg(m));
    unchanged(m, s);
    int32_t classes[4];
    CHECK_RC(TBW_EINVAL, cnn_model_predict(m, x, 4, classes), cnn_model_errmsg(m));
    cnn_model_free(m);
}

TEST(train_step_refuses_null_images_or_labels)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    model_state s = state_of(m);
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, NULL, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "forward: NULL data");
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, X48, NULL, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: NULL data");
    unchanged(m, s);
    CHECK_INT(TBW_EINVAL, cnn_model_train_step(NULL, X48, Y3, 3, NULL, NULL));
    cnn_model_free(m);
}

TEST(train_step_on_nan_input_returns_0_and_reports_a_nan_loss)
{
    expect_nothing(HERE);
    /* cnn.h promises no check of the values: the step runs and the caller sees the NaN in the loss. */
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    float x[48];
    memcpy(x, X48, sizeof x);
    x[17] = NAN;
    double loss = 0, acc = -1;
    CHECK_RC(0, cnn_model_train_step(m, x, Y3, 3, &loss, &acc), cnn_model_errmsg(m));
    CHECK(isnan(loss));
    CHECK(acc >= 0 && acc <= 1);
    CHECK_INT(1, cnn_model_step_count(m));
    CHECK_STR("", cnn_model_errmsg(m));
    cnn_model_free(m);
}

TEST(adding_a_layer_after_build_is_refused_and_the_model_still_trains)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    CHECK_RC(TBW_EINVAL, cnn_model_add_dense(m, "late", &d), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "cannot add layer: the model is already built");
    CHECK_RC(TBW_EINVAL, cnn_model_add_relu(m, "late_relu"), cnn_model_errmsg(m));
    CHECK_INT(2, cnn_model_layer_count(m));
    CHECK_INT(3, cnn_model_classes(m));
    CHECK_RC(TBW_EINVAL, cnn_model_build(m, 3), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "model is already built");
    CHECK_RC(0, cnn_model_train_step(m, X48, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    cnn_model_free(m);
}

TEST(building_with_batch_0_is_refused_and_a_later_build_works)
{
    expect_nothing(HERE);
    cnn_model *m = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, NULL, why, sizeof why), why);
    if (!m)
        return;
    CHECK_RC(TBW_EINVAL, cnn_model_build(m, 1), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "model has no layers");
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    CHECK_RC(0, cnn_model_add_flatten(m, "flat") | cnn_model_add_dense(m, "fc", &d), cnn_model_errmsg(m));
    CHECK_RC(TBW_EINVAL, cnn_model_build(m, 0), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "batch size must be at least 1");
    CHECK_RC(TBW_EINVAL, cnn_model_train_step(m, X48, Y3, 1, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "forward: model is not built");
    CHECK_RC(TBW_ERANGE, cnn_model_build(m, (size_t)INT32_MAX + 1), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "batch size 2147483648 too large");
    CHECK_RC(0, cnn_model_build(m, 1), cnn_model_errmsg(m));
    CHECK_RC(0, cnn_model_train_step(m, X48, Y3, 1, NULL, NULL), cnn_model_errmsg(m));
    cnn_model_free(m);
}

TEST(layer_names_with_characters_outside_the_set_are_refused_naming_the_name)
{
    expect_nothing(HERE);
    cnn_model *m = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, NULL, why, sizeof why), why);
    if (!m)
        return;
    static const char *const bad[] = {"a b",       "conv1/",      "/conv1",     "conv//1", "tab\there",
                                      "new\nline", "caf\xc3\xa9", "semi;colon", "quote\"", "back\\slash",
                                      "\xff\xfe",  "*"};
    for (size_t i = 0; i < CHECK_COUNT(bad); i++) {
        int rc = cnn_model_add_relu(m, bad[i]);
        CHECK_(rc == TBW_EINVAL, "name \"%s\": expected TBW_EINVAL, got %d", bad[i], rc);
        char want[128];
        snprintf(want, sizeof want, "layer name '%s' has a character outside [A-Za-z0-9_.-/]", bad[i]);
        CHECK_STR_HAS(cnn_model_errmsg(m), want);
    }
    CHECK_INT(0, cnn_model_layer_count(m));
    CHECK_RC(0, cnn_model_add_relu(m, "conv1/Relu-2.x_y"), cnn_model_errmsg(m));
    CHECK_INT(1, cnn_model_layer_count(m));
    cnn_model_free(m);
}

TEST(layer_names_that_are_empty_too_long_or_used_twice_are_refused)
{
    expect_nothing(HERE);
    cnn_model *m = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, NULL, why, sizeof why), why);
    if (!m)
        return;
    CHECK_RC(TBW_EINVAL, cnn_model_add_relu(m, ""), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "layer name is empty");
    CHECK_RC(TBW_EINVAL, cnn_model_add_relu(m, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "layer name is empty");
    char name[65];
    memset(name, 'n', 64);
    name[64] = '\0';
    CHECK_RC(TBW_EINVAL, cnn_model_add_relu(m, name), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "layer name longer than 63 characters");
    name[63] = '\0';
    CHECK_RC(0, cnn_model_add_relu(m, name), cnn_model_errmsg(m));
    CHECK_RC(TBW_EINVAL, cnn_model_add_sigmoid(m, name), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "is used twice");
    CHECK_INT(1, cnn_model_layer_count(m));
    cnn_model_free(m);
}

TEST(conv_kernel_bigger_than_its_input_with_valid_padding_is_out_of_range_naming_the_layer)
{
    expect_nothing(HERE);
    cnn_model *m = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&m, 1, 4, 4, NULL, why, sizeof why), why);
    if (!m)
        return;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = 2;
    c.kernel_h = 5;
    c.kernel_w = 3;
    c.padding = CNN_PAD_VALID;
    CHECK_RC(TBW_ERANGE, cnn_model_add_conv2d(m, "big", &c), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "conv2d 'big'");
    CHECK_STR_HAS(cnn_model_errmsg(m), "window 5 (dilation 1, stride 1) does not fit height 4");
    c.kernel_h = 3;
    c.kernel_w = 3;
    c.dilation_w = 2; /* 3 taps two apart span 5 */
    CHECK_RC(TBW_ERANGE, cnn_model_add_conv2d(m, "big", &c), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "window 3 (dilation 2, stride 1) does not fit width 4");
    CHECK_INT(0, cnn_model_layer_count(m));
    c.dilation_w = 1;
    CHECK_RC(0, cnn_model_add_conv2d(m, "big", &c), cnn_model_errmsg(m)); /* the name was not taken */
    cnn_pool_opts p = CNN_POOL_OPTS_INIT;
    p.size_h = p.size_w = 3;
    p.padding = CNN_PAD_VALID;
    CHECK_RC(TBW_ERANGE, cnn_model_add_maxpool(m, "pool", &p), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "pool 'pool'");
    CHECK_STR_HAS(cnn_model_errmsg(m), "does not fit height 2");
    CHECK_INT(1, cnn_model_layer_count(m));
    cnn_model_free(m);
}

TEST(engine_calls_out_of_order_are_refused_saying_what_comes_first)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    model_state s = state_of(m);
    CHECK_RC(TBW_EINVAL, cnn_model_backward(m), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "backward: call cnn_model_loss after a forward first");
    CHECK_RC(TBW_EINVAL, cnn_model_loss(m, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: 3 labels but the last forward had 0 samples");
    CHECK_RC(0, cnn_model_forward(m, X48, 2, false), cnn_model_errmsg(m));
    CHECK_RC(TBW_EINVAL, cnn_model_loss(m, Y3, 3, NULL, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "loss: 3 labels but the last forward had 2 samples");
    CHECK_RC(TBW_EINVAL, cnn_model_backward(m), cnn_model_errmsg(m));
    CHECK_RC(TBW_EINVAL, cnn_model_predict(m, X48, 3, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "predict: NULL output");
    unchanged(m, s);
    cnn_model_free(m);
}

TEST(evaluating_a_dataset_of_another_image_size_is_a_mismatch_naming_both_shapes)
{
    expect_nothing(HERE);
    char img[64], lab[64];
    CASE_PATH(img, "images");
    CASE_PATH(lab, "labels");
    images_of(img, (const uint32_t[]){3, 5, 4}, 60, false);
    good_labels(lab);
    cnn_dataset *ds = NULL;
    char why[256];
    CHECK_RC(0, cnn_dataset_create(&ds, why, sizeof why), why);
    CHECK_RC(0, cnn_dataset_load_idx(ds, img, lab), cnn_dataset_errmsg(ds));
    cnn_model *m = model_4x4(3);
    double loss = -1;
    CHECK_RC(TBW_EMISMATCH, cnn_model_evaluate_dataset(m, ds, &loss, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "dataset images are 1x5x4, model expects 1x4x4");
    CHECK_DBL(-1, loss);
    cnn_dataset *empty = NULL;
    CHECK_RC(0, cnn_dataset_create(&empty, why, sizeof why), why);
    CHECK_RC(TBW_EINVAL, cnn_model_evaluate_dataset(m, empty, &loss, NULL), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "evaluate: empty dataset");
    cnn_dataset_free(empty);
    cnn_dataset_free(ds);
    cnn_model_free(m);
}

TEST(options_that_are_not_numbers_are_refused_naming_the_option)
{
    expect_nothing(HERE);
    cnn_model *m = model_4x4(3);
    if (!m)
        return;
    CHECK_RC(TBW_EINVAL, cnn_model_set_learning_rate(m, NAN), cnn_model_errmsg(m));
    CHECK_STR_HAS(cnn_model_errmsg(m), "learning rate must be finite and > 0");
    CHECK_RC(TBW_EINVAL, cnn_model_set_learning_rate(m, INFINITY), cnn_model_errmsg(m));
    CHECK_RC(TBW_EINVAL, cnn_model_set_learning_rate(m, -1e-3f), cnn_model_errmsg(m));
    cnn_model_free(m);
    cnn_model *d = NULL;
    char why[256];
    CHECK_RC(0, cnn_model_create(&d, 1, 4, 4, NULL, why, sizeof why), why);
    CHECK_RC(TBW_EINVAL, cnn_model_add_dropout(d, "drop", NAN), cnn_model_errmsg(d));
    CHECK_STR_HAS(cnn_model_errmsg(d), "dropout 'drop': rate must be in [0, 1)");
    CHECK_RC(TBW_EINVAL, cnn_model_add_dropout(d, "drop", 1.0f), cnn_model_errmsg(d));
    cnn_dense_opts o = CNN_DENSE_OPTS_INIT;
    o.bias_init = INFINITY;
    CHECK_RC(TBW_EINVAL, cnn_model_add_dense(d, "fc", &o), cnn_model_errmsg(d));
    CHECK_STR_HAS(cnn_model_errmsg(d), "dense 'fc'");
    CHECK_INT(0, cnn_model_layer_count(d));
    cnn_model_free(d);
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.learning_rate = NAN;
    cnn_model *n = (cnn_model *)(uintptr_t)1;
    CHECK_RC(TBW_EINVAL, cnn_model_create(&n, 1, 4, 4, &mo, why, sizeof why), why);
    CHECK_STR_HAS(why, "learning_rate must be a finite number > 0 (got nan)");
    CHECK(n == NULL);
}

/* ===================================================================================== projector */

static const float P12[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

/* 4 points of 3 dimensions named "points", nothing else. */
static tbw_embedding points(const float *data)
{
    tbw_embedding e = {0};
    e.tensor_name = "points";
    e.data = data;
    e.n = 4;
    e.d = 3;
    return e;
}

/* The embedding is refused with status and needle, and nothing is left behind: dir is not even made. */
static void projector_refused(const char *name, const tbw_embedding *e, int status, const char *needle)
{
    expect_nothing(name);
    char dir[64], msg[512];
    case_path(dir, sizeof dir, name, "projector");
    CHECK_RC(status, tbw_projector_add(dir, e, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, needle);
    CHECK(access(dir, F_OK) != 0);
}

TEST(projector_refuses_0_points)
{
    tbw_embedding e = points(P12);
    e.n = 0;
    projector_refused(HERE, &e, TBW_EINVAL, "embedding 'points': the matrix is empty (0 x 3) or NULL");
}

TEST(projector_refuses_0_dimensions)
{
    tbw_embedding e = points(P12);
    e.d = 0;
    projector_refused(HERE, &e, TBW_EINVAL, "embedding 'points': the matrix is empty (4 x 0) or NULL");
}

TEST(projector_refuses_null_data)
{
    tbw_embedding e = points(NULL);
    projector_refused(HERE, &e, TBW_EINVAL, "embedding 'points': the matrix is empty (4 x 3) or NULL");
}

TEST(projector_refuses_nan_naming_its_row_and_column)
{
    float data[12];
    memcpy(data, P12, sizeof data);
    data[2 * 3 + 1] = NAN;
    tbw_embedding e = points(data);
    projector_refused(HERE, &e, TBW_EINVAL, "embedding 'points': row 2, column 1 is not finite (nan)");
}

TEST(projector_refuses_infinity_naming_its_row_and_column)
{
    float data[12];
    memcpy(data, P12, sizeof data);
    data[3 * 3 + 2] = -INFINITY;
    tbw_embedding e = points(data);
    projector_refused(HERE, &e, TBW_EINVAL, "embedding 'points': row 3, column 2 is not finite (-inf)");
}

TEST(projector_refuses_100001_points_as_out_of_range)
{
    float *data = calloc(100001, sizeof *data);
    tbw_embedding e = points(data);
    e.n = 100001;
    e.d = 1;
    projector_refused(HERE, &e, TBW_ERANGE, "100001 x 1 is over the limit of 100000 points x 4096 dims");
    free(data);
}

TEST(projector_refuses_4097_dimensions_as_out_of_range)
{
    float *data = calloc(4097, sizeof *data);
    tbw_embedding e = points(data);
    e.n = 1;
    e.d = 4097;
    projector_refused(HERE, &e, TBW_ERANGE, "1 x 4097 is over the limit of 100000 points x 4096 dims");
    free(data);
}

static const char *const LABELS4[4] = {"a", "b", "c", "d"};

TEST(projector_refuses_label_rows_that_differ_from_the_points)
{
    tbw_embedding e = points(P12);
    e.n_columns = 1;
    e.n_label_rows = 3;
    e.labels = LABELS4;
    projector_refused(HERE, &e, TBW_EMISMATCH, "embedding 'points': 3 metadata rows for 4 points");
}

TEST(projector_refuses_several_label_columns_without_column_names)
{
    static const char *const labels[8] = {"a", "1", "b", "2", "c", "3", "d", "4"};
    tbw_embedding e = points(P12);
    e.n_columns = 2;
    e.n_label_rows = 4;
    e.labels = labels;
    projector_refused(HERE, &e, TBW_EINVAL, "2 metadata columns need column_names (the header row)");
}

TEST(projector_refuses_a_label_that_is_not_utf8_naming_its_row_and_column)
{
    static const char *const labels[8] = {"a", "1", "b", "2", "c", "\xc3\x28", "d", "4"};
    static const char *const names[2] = {"letter", "number"};
    tbw_embedding e = points(P12);
    e.n_columns = 2;
    e.n_label_rows = 4;
    e.labels = labels;
    e.column_names = names;
    projector_refused(HERE, &e, TBW_EINVAL, "label of row 2, column 1 is not valid UTF-8");
}

TEST(projector_refuses_a_thumbnail_count_that_differs_from_the_points)
{
    uint8_t thumbs[3 * 2 * 2] = {0};
    tbw_embedding e = points(P12);
    e.thumbnails = thumbs;
    e.n_thumbnails = 3;
    e.thumb_h = e.thumb_w = 2;
    e.thumb_c = 1;
    projector_refused(HERE, &e, TBW_EMISMATCH, "embedding 'points': 3 sprite thumbnails for 4 points");
}

TEST(projector_refuses_thumbnails_of_2_channels)
{
    uint8_t thumbs[4 * 2 * 2 * 2] = {0};
    tbw_embedding e = points(P12);
    e.thumbnails = thumbs;
    e.n_thumbnails = 4;
    e.thumb_h = e.thumb_w = 2;
    e.thumb_c = 2;
    projector_refused(HERE, &e, TBW_EINVAL, "thumbnails must be at least 1x1 with 1 or 3 channels");
}

TEST(projector_refuses_a_sprite_over_8192_px_saying_how_many_thumbnails_fit)
{
    /* 10 thumbnails of 3000x3000 in a 4x4 grid: 12000 px a side. Refused before a pixel is read (the
       buffer is calloc's, untouched pages). */
    uint8_t *thumbs = calloc((size_t)10 * 3000 * 3000, 1);
    CHECK(thumbs != NULL);
    float data[30] = {0};
    tbw_embedding e = points(data);
    e.n = 10;
    e.thumbnails = thumbs;
    e.n_thumbnails = 10;
    e.thumb_h = e.thumb_w = 3000;
    e.thumb_c = 1;
    projector_refused(HERE, &e, TBW_EINVAL,
                      "a sprite of 10 thumbnails of 3000x3000 would be 12000x12000 px, over the projector's "
                      "8192 px per side; at most 4 thumbnails of that size fit");
    free(thumbs);
}

TEST(projector_refuses_bookmarks_that_are_not_utf8)
{
    tbw_embedding e = points(P12);
    e.bookmarks_json = "[{\"label\": \"\xff\"}]";
    projector_refused(HERE, &e, TBW_EINVAL, "embedding 'points': bookmarks are not valid UTF-8");
}

TEST(projector_refuses_an_empty_or_invalid_tensor_name)
{
    tbw_embedding e = points(P12);
    e.tensor_name = "";
    projector_refused(HERE, &e, TBW_EINVAL, "tensor_name is empty or not valid UTF-8");
    e.tensor_name = NULL;
    projector_refused(HERE, &e, TBW_EINVAL, "tensor_name is empty or not valid UTF-8");
    e.tensor_name = "\xc0\xaf";
    projector_refused(HERE, &e, TBW_EINVAL, "tensor_name is empty or not valid UTF-8");
}

TEST(projector_refuses_a_directory_through_a_regular_file_naming_it)
{
    expect_nothing(HERE);
    char dir[64], msg[512];
    CASE_PATH(dir, "plain/projector");
    put_file("plain", "a file", 6);
    tbw_embedding e = points(P12);
    CHECK_RC(TBW_EIO, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "plain/projector");
    CHECK_STR_HAS(msg, "Not a directory");
    CHECK_RC(TBW_EINVAL, tbw_projector_add("", &e, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "directory is empty or NULL");
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, NULL, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "embedding is NULL");
}

TEST(projector_adding_the_same_name_twice_keeps_one_embedding_with_the_second_data)
{
    expect_nothing(HERE);
    char dir[64], msg[512];
    CASE_PATH(dir, "projector");
    tbw_embedding e = points(P12);
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    const float second[12] = {-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12};
    e.data = second;
    e.n_columns = 1;
    e.n_label_rows = 4;
    e.labels = LABELS4;
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    size_t n;
    char *cfg = (char *)slurp("projector/projector_config.pbtxt", &n);
    CHECK(cfg != NULL);
    int blocks = 0;
    for (const char *p = cfg; p && (p = strstr(p, "tensor_name: \"points\"")) != NULL; p++)
        blocks++;
    CHECK_INT(1, blocks);
    CHECK_INT(1, entries_named("projector/embeddings", "points"));
    CHECK_INT(0, entries_named("projector/embeddings", ".old"));
    CHECK_INT(0, entries_named("projector/embeddings", ".stage"));
    char path[512] = "";
    const char *tp = cfg ? strstr(cfg, "tensor_path: \"") : NULL;
    CHECK(tp && sscanf(tp + 14, "%255[^\"]", path + snprintf(path, sizeof path, "projector/")) == 1);
    char *tsv = (char *)slurp(path, &n);
    CHECK_STR("-1\t-2\t-3\n-4\t-5\t-6\n-7\t-8\t-9\n-10\t-11\t-12\n", tsv ? tsv : "");
    CHECK_STR_HAS(cfg ? cfg : "", "metadata_path:");
    free(tsv);
    free(cfg);
}

TEST(projector_refusal_after_a_good_add_leaves_the_config_and_files_as_they_were)
{
    expect_nothing(HERE);
    char dir[64], msg[512];
    CASE_PATH(dir, "projector");
    tbw_embedding e = points(P12);
    CHECK_RC(0, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    size_t n0, n1;
    char *before = (char *)slurp("projector/projector_config.pbtxt", &n0);
    float data[12];
    memcpy(data, P12, sizeof data);
    data[0] = NAN;
    e.data = data;
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    CHECK_STR_HAS(msg, "row 0, column 0 is not finite");
    e.data = P12;
    e.tensor_name = "other";
    e.thumbnails = (const uint8_t *)P12;
    e.n_thumbnails = 4;
    e.thumb_h = e.thumb_w = 1;
    e.thumb_c = 4;
    CHECK_RC(TBW_EINVAL, tbw_projector_add(dir, &e, msg, sizeof msg), msg);
    char *after = (char *)slurp("projector/projector_config.pbtxt", &n1);
    CHECK_STR(before ? before : "(none)", after ? after : "(none)");
    CHECK_INT(1, entries_named("projector/embeddings", "-"));
    free(before);
    free(after);
}

static const check_case tests[] = {
    CASE(reader_reports_a_missing_path_as_enotfound_naming_it),
    CASE(reader_refuses_a_directory_at_open_as_an_io_error_naming_it),
    CASE(reader_reads_an_empty_file_as_a_clean_end_every_time),
    CASE(reader_reports_a_header_of_1_to_11_bytes_as_truncated_with_its_byte_count),
    CASE(reader_reports_a_length_crc_mismatch_with_its_offset),
    CASE(reader_reports_a_flipped_length_byte_as_a_length_crc_mismatch),
    CASE(reader_reports_a_data_crc_mismatch_with_its_offset),
    CASE(reader_reports_a_damaged_data_crc_field_as_a_data_crc_mismatch),
    CASE(reader_refuses_a_length_one_past_the_record_limit_with_a_valid_crc),
    CASE(reader_refuses_a_length_of_2_pow_64_minus_1_with_a_valid_crc),
    CASE(reader_reports_a_length_past_the_end_as_truncated_and_continues_once_the_file_grows),
    CASE(reader_reports_a_header_cut_short_as_truncated_and_continues_once_the_rest_arrives),
    CASE(reader_reports_a_valid_record_whose_payload_is_not_an_event_as_corrupt_with_its_offset),
    CASE(reader_skips_event_fields_it_does_not_know_of_every_wire_type),
    CASE(reader_skips_unknown_fields_inside_a_summary_value_and_keeps_its_scalar),
    CASE(reader_skips_an_unknown_field_nested_100000_deep_without_recursing),
    CASE(reader_reads_a_10_byte_step_varint_as_minus_one),
    CASE(reader_refuses_a_step_varint_of_11_bytes_as_corrupt),
    CASE(reader_refuses_a_field_length_varint_of_2_pow_62_as_corrupt),
    CASE(reader_reads_a_record_of_0_bytes_as_an_empty_event_and_goes_on),
    CASE(reader_keeps_the_reason_in_its_message_for_a_path_of_300_characters),
    CASE(reader_does_not_block_on_a_fifo_that_no_process_writes),
    CASE(reader_does_not_block_on_a_fifo_whose_writer_sends_nothing),
    CASE(reader_reports_dev_zero_as_a_length_crc_mismatch_at_offset_0),
    CASE(reader_reads_dev_null_as_an_empty_file),
    CASE(reader_does_not_trust_a_tensor_shape_that_claims_2_pow_80_elements),
    CASE(reader_takes_the_shorter_of_histogram_bucket_arrays_that_disagree),
    CASE(reader_reports_out_of_memory_when_a_small_record_decodes_past_the_memory_limit),
    CASE(reader_refuses_null_arguments_with_einval),
    CASE(record_parse_reports_every_truncation_point_of_a_valid_record_as_truncated),
    CASE(record_parse_reports_a_flipped_bit_in_any_byte_as_corrupt),
    CASE(record_parse_refuses_a_length_over_the_limit_even_with_a_valid_crc),
    CASE(record_parse_reads_the_first_of_two_records_and_says_how_much_it_took),
    CASE(record_parse_refuses_null_arguments_with_einval),
    CASE(idx_loader_refuses_a_file_whose_magic_is_not_idx_naming_the_bytes),
    CASE(idx_loader_refuses_float_data_of_type_0x0d_naming_the_type),
    CASE(idx_loader_refuses_images_of_rank_2),
    CASE(idx_loader_refuses_labels_of_rank_3),
    CASE(idx_loader_refuses_a_zero_dimension_in_any_place),
    CASE(idx_loader_refuses_dimensions_whose_product_overflows_64_bits),
    CASE(idx_loader_refuses_dimensions_whose_product_passes_4_gib_before_reading_data),
    CASE(idx_loader_refuses_trailing_bytes_after_the_data_plain_or_gzip),
    CASE(idx_loader_refuses_a_header_that_declares_more_data_than_the_file_holds),
    CASE(idx_loader_reports_an_empty_file_as_truncated_in_the_header),
    CASE(idx_loader_reports_a_file_cut_inside_its_dimensions_as_truncated),
    CASE(idx_loader_refuses_image_and_label_counts_that_differ),
    CASE(idx_loader_refuses_images_wider_than_65536),
    CASE(idx_loader_keeps_labels_of_10_and_more_and_the_engine_refuses_them_at_the_loss),
    CASE(idx_loader_reports_a_corrupt_gzip_stream_as_corrupt_not_truncated),
    CASE(idx_loader_reports_a_gzip_stream_whose_crc_does_not_match_as_corrupt),
    CASE(idx_loader_reports_a_gzip_file_cut_mid_stream_as_truncated),
    CASE(idx_loader_reads_gzip_and_plain_files_alike),
    CASE(idx_loader_reports_a_missing_images_file_as_not_found_naming_it),
    CASE(idx_loader_reports_a_missing_labels_file_as_not_found_naming_it),
    CASE(idx_loader_reports_a_directory_as_an_io_error_naming_it),
    CASE(idx_loader_refuses_the_images_file_given_as_the_labels_too),
    CASE(idx_loader_keeps_the_previous_dataset_when_a_load_fails),
    CASE(idx_loader_refuses_null_arguments_with_einval),
    CASE(checkpoint_load_of_a_directory_says_it_is_a_directory),
    CASE(checkpoint_load_of_an_empty_file_is_truncated_naming_it),
    CASE(checkpoint_load_of_a_missing_file_is_not_found_naming_it),
    CASE(checkpoint_of_a_file_that_is_not_one_is_corrupt_naming_it),
    CASE(checkpoint_of_another_architecture_is_refused_naming_both_tensors),
    CASE(checkpoint_with_other_shapes_is_refused_naming_the_tensor_and_both_shapes),
    CASE(checkpoint_of_a_model_with_one_layer_more_is_refused_naming_the_tensor),
    CASE(checkpoint_of_a_model_with_one_layer_less_is_refused_naming_the_tensor),
    CASE(checkpoint_saved_with_sgd_is_refused_by_a_model_using_adam),
    CASE(checkpoint_saved_with_adam_is_refused_by_a_model_using_sgd),
    CASE(checkpoint_cut_at_every_length_is_truncated_and_changes_nothing),
    CASE(checkpoint_cut_inside_its_header_says_how_much_of_it_is_there),
    CASE(checkpoint_cut_inside_its_payload_says_how_long_it_should_be),
    CASE(checkpoint_with_a_trailing_byte_is_refused_as_corrupt),
    CASE(checkpoint_of_another_format_version_is_refused_naming_both_versions),
    CASE(checkpoint_with_a_flipped_payload_byte_fails_its_crc),
    CASE(checkpoint_whose_header_claims_a_payload_of_2_pow_64_bytes_is_refused_before_allocating),
    CASE(checkpoint_naming_an_optimizer_that_does_not_exist_is_corrupt),
    CASE(checkpoint_whose_header_counts_other_tensors_than_its_payload_holds_is_corrupt),
    CASE(checkpoint_load_into_an_unbuilt_model_is_refused),
    CASE(checkpoint_save_into_a_missing_directory_is_not_found_naming_it),
    CASE(checkpoint_save_through_a_regular_file_is_an_io_error_naming_it),
    CASE(checkpoint_save_onto_a_directory_fails_and_leaves_no_temporary_file),
    CASE(checkpoint_save_past_the_file_size_limit_keeps_the_previous_checkpoint),
    CASE(checkpoint_of_a_model_diverged_to_nan_is_refused_at_save_and_the_good_one_stays),
    CASE(train_step_refuses_a_label_outside_0_to_classes_minus_1_and_changes_nothing),
    CASE(train_step_refuses_0_samples_naming_the_built_batch),
    CASE(train_step_refuses_more_samples_than_the_built_batch),
    CASE(train_step_refuses_null_images_or_labels),
    CASE(train_step_on_nan_input_returns_0_and_reports_a_nan_loss),
    CASE(adding_a_layer_after_build_is_refused_and_the_model_still_trains),
    CASE(building_with_batch_0_is_refused_and_a_later_build_works),
    CASE(layer_names_with_characters_outside_the_set_are_refused_naming_the_name),
    CASE(layer_names_that_are_empty_too_long_or_used_twice_are_refused),
    CASE(conv_kernel_bigger_than_its_input_with_valid_padding_is_out_of_range_naming_the_layer),
    CASE(engine_calls_out_of_order_are_refused_saying_what_comes_first),
    CASE(evaluating_a_dataset_of_another_image_size_is_a_mismatch_naming_both_shapes),
    CASE(options_that_are_not_numbers_are_refused_naming_the_option),
    CASE(projector_refuses_0_points),
    CASE(projector_refuses_0_dimensions),
    CASE(projector_refuses_null_data),
    CASE(projector_refuses_nan_naming_its_row_and_column),
    CASE(projector_refuses_infinity_naming_its_row_and_column),
    CASE(projector_refuses_100001_points_as_out_of_range),
    CASE(projector_refuses_4097_dimensions_as_out_of_range),
    CASE(projector_refuses_label_rows_that_differ_from_the_points),
    CASE(projector_refuses_several_label_columns_without_column_names),
    CASE(projector_refuses_a_label_that_is_not_utf8_naming_its_row_and_column),
    CASE(projector_refuses_a_thumbnail_count_that_differs_from_the_points),
    CASE(projector_refuses_thumbnails_of_2_channels),
    CASE(projector_refuses_a_sprite_over_8192_px_saying_how_many_thumbnails_fit),
    CASE(projector_refuses_bookmarks_that_are_not_utf8),
    CASE(projector_refuses_an_empty_or_invalid_tensor_name),
    CASE(projector_refuses_a_directory_through_a_regular_file_naming_it),
    CASE(projector_adding_the_same_name_twice_keeps_one_embedding_with_the_second_data),
    CASE(projector_refusal_after_a_good_add_leaves_the_config_and_files_as_they_were),
};
HOSTILE_MAIN(tests)
