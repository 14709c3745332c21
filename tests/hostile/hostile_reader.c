/* Hostile Event payloads the reader must refuse before protobuf-c parses them: field numbers past
   protobuf's limit (protobuf-c 1.4 shifts a signed int out of range on them) and malformed keys. */
#include "hostile.h"

#define HERE (__func__ + 5)

/* Writes one record holding payload into a directory outside the judged log directory (TensorBoard's
   Python loader stops loading every run once it meets these records) and opens a reader on it. */
static tbw_reader *one_record(const char *name, const uint8_t *payload, size_t len)
{
    char dir[600];
    snprintf(dir, sizeof dir, "/tmp/tbw-hostile-reader-%d", (int)getpid());
    mkdir(dir, 0777);
    char path[1024];
    snprintf(path, sizeof path, "%s/events.out.tfevents.hostile", dir);
    static uint8_t rec[4096];
    tbw_record_frame(payload, len, rec);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(rec, 1, len + TBW_RECORD_OVERHEAD, f) == len + TBW_RECORD_OVERHEAD);
    if (f)
        fclose(f);
    tbw_reader *r = NULL;
    char msg[256];
    CHECK_RC(0, tbw_reader_open(&r, path, msg, sizeof msg), msg);
    unlink(path); /* the open reader keeps the file */
    rmdir(dir);
    return r;
}

static void refused(const char *name, const uint8_t *payload, size_t len, const char *needle)
{
    tbw_reader *r = one_record(name, payload, len);
    const tbw_event *ev;
    if (r) {
        CHECK_RC(TBW_ECORRUPT, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
        CHECK_STR_HAS(tbw_reader_errmsg(r), "corrupt at offset 0");
        CHECK_STR_HAS(tbw_reader_errmsg(r), needle);
    }
    tbw_reader_close(r);
    /* TensorBoard shows nothing for a run whose only record is not an Event */
    expect_nothing(name);
}

TEST(event_with_field_number_2_pow_29_is_refused_before_decoding)
{
    /* wall_time, then key (2^29 << 3 | 0) as a 5-byte varint, value 1 */
    const uint8_t p[] = {0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x80, 0x80, 0x80, 0x80, 0x20, 0x01};
    refused(HERE, p, sizeof p, "malformed field");
}

TEST(summary_value_with_field_number_2_pow_31_is_refused_before_decoding)
{
    /* Event.summary { value { key (2^31 << 3 | 2) as a 5-byte varint... } }: the 5th byte is 0x80|..,
       the varint needs 6 bytes */
    const uint8_t p[] = {0x2A, 0x0A, 0x0A, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00};
    refused(HERE, p, sizeof p, "malformed field at payload byte 4");
}

TEST(event_with_a_group_wire_type_is_refused)
{
    const uint8_t p[] = {0x0B, 0x0C}; /* start group 1, end group 1 */
    refused(HERE, p, sizeof p, "malformed field");
}

TEST(event_with_a_length_past_its_message_is_refused)
{
    const uint8_t p[] = {0x2A, 0x05, 0x0A, 0x10, 0x0A, 0x01, 0x61}; /* summary { value (16 bytes claimed, 3 there) } */
    refused(HERE, p, sizeof p, "malformed field at payload byte 2");
}

TEST(event_with_an_11_byte_varint_is_refused)
{
    const uint8_t p[] = {0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    refused(HERE, p, sizeof p, "malformed field");
}

TEST(event_with_unknown_fields_in_range_still_reads)
{
    /* step 7 and an unknown field 100 (varint) and 101 (bytes): protobuf keeps unknown fields */
    const uint8_t p[] = {0x10, 0x07, 0xA0, 0x06, 0x05, 0xAA, 0x06, 0x02, 'h', 'i'};
    tbw_reader *r = one_record(HERE, p, sizeof p);
    const tbw_event *ev;
    if (r) {
        CHECK_RC(1, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
        CHECK_INT(7, ev->step);
        CHECK_RC(0, tbw_reader_next(r, &ev), tbw_reader_errmsg(r));
    }
    tbw_reader_close(r);
    expect_nothing(HERE);
}

static const check_case tests[] = {
    CASE(event_with_field_number_2_pow_29_is_refused_before_decoding),
    CASE(summary_value_with_field_number_2_pow_31_is_refused_before_decoding),
    CASE(event_with_a_group_wire_type_is_refused),
    CASE(event_with_a_length_past_its_message_is_refused),
    CASE(event_with_an_11_byte_varint_is_refused),
    CASE(event_with_unknown_fields_in_range_still_reads),
};
HOSTILE_MAIN(tests)
