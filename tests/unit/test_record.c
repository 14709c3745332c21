/* Known answers: CRC-32C, the mask, record framing, and a scalar event that
   must equal TensorFlow's own bytes for tf.summary.scalar("accuracy", 0.99, step=77). */
#include <stdlib.h>
#include <string.h>

#include "../../src/record/crc32c.h"
#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

static double fixed_clock(void *ctx)
{
    return *(const double *)ctx;
}

TEST(crc32c_and_its_mask_match_known_answers_on_every_path_length_and_alignment)
{
    CHECK_U64(0xE3069283u, tbw__crc32c_sw(0, "123456789", 9));
    CHECK_U64(0xE3069283u, tbw_crc32c(0, "123456789", 9));
    if (tbw__crc32c_hw_available())
        CHECK_U64(0xE3069283u, tbw__crc32c_hw(0, "123456789", 9));
    else
        printf("note: this CPU has no SSE4.2; only the table path ran\n");
    /* Incremental == one shot, and both paths agree on every length and alignment. */
    unsigned char buf[1024];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    int agree = 1;
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 13) {
            uint32_t a = tbw__crc32c_sw(0, buf + off, n);
            uint32_t b = tbw__crc32c(0, buf + off, n);
            uint32_t c = tbw__crc32c_sw(tbw__crc32c_sw(0, buf + off, n / 2), buf + off + n / 2, n - n / 2);
            if (a != b || a != c)
                agree = 0;
        }
    CHECK(agree);
    CHECK_U64(0x5794d08au, tbw_masked_crc32c("\x1a\x11" "CRC test, one two", 19));
}

static const unsigned char version_record[] = {
    0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 0x4b, 0x22, 0x09, 0x00, 0x00, 0x80, 0x38, 0x99, 0xd6, 0xd7, 0x41,
    0x1a, 0x0d, 'b', 'r', 'a', 'i', 'n', '.', 'E', 'v', 'e', 'n', 't', ':', '2', 0x12, 0x4b, 0x36, 0xab};

TEST(framing_the_version_event_gives_tensorflows_record_bytes)
{
    unsigned char out[64];
    tbw_record_frame(version_record + 12, 24, out);
    CHECK_MEM(version_record, out, sizeof version_record);
}

/* The TF2 record: len 50, then the event data, then the CRCs. */
static const unsigned char tf_scalar_data[] = {
    0x09, 0xc4, 0x05, 0xb7, 0x3d, 0x99, 0xd6, 0xd7, 0x41, 0x10, 0x4d, 0x2a, 0x25, 0x0a, 0x23, 0x0a, 0x08,
    'a', 'c', 'c', 'u', 'r', 'a', 'c', 'y', 0x42, 0x0a, 0x08, 0x01, 0x12, 0x00, 0x22, 0x04, 0xa4, 0x70,
    0x7d, 0x3f, 0x4a, 0x0b, 0x0a, 0x09, 0x0a, 0x07, 's', 'c', 'a', 'l', 'a', 'r', 's'};

TEST(scalar_event_file_equals_tensorflows_bytes_for_accuracy_at_step_77)
{
    CHECK_INT(50, sizeof tf_scalar_data);
    char *dir = tu_tempdir("record");
    double t0 = 1599759586.0, t1;
    uint64_t bits = 0x41d7d6993db705c4ull;
    memcpy(&t1, &bits, 8);
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = fixed_clock;
    o.clock_ctx = &t0;
    tbw_writer *w;
    char msg[256];
    CHECK_RC(0, tbw_writer_open(&w, dir, &o, msg, sizeof msg), msg);
    t0 = t1;
    CHECK_RC(0, tbw_scalar(w, "accuracy", 77, 0.99), tbw_writer_errmsg(w));
    CHECK_RC(0, tbw_writer_close(w), "close");
    char path[600];
    CHECK_INT(1, tu_event_files(dir, path, sizeof path));
    size_t len = 0;
    unsigned char *file = tu_read_file(path, &len);
    CHECK_INT(sizeof version_record + 66, len);
    if (file && len == sizeof version_record + 66) {
        CHECK_MEM(version_record, file, sizeof version_record);
        const unsigned char *rec = file + sizeof version_record;
        CHECK_U64(50, ((uint64_t)rec[0] | (uint64_t)rec[1] << 8 | (uint64_t)rec[2] << 16 | (uint64_t)rec[3] << 24));
        CHECK_U64(0xec561924u, (uint32_t)rec[8] | (uint32_t)rec[9] << 8 | (uint32_t)rec[10] << 16 |
                                   (uint32_t)rec[11] << 24);
        CHECK_MEM(tf_scalar_data, rec + 12, 50);
        CHECK_U64(0x33645ba5u, (uint32_t)rec[62] | (uint32_t)rec[63] << 8 | (uint32_t)rec[64] << 16 |
                                   (uint32_t)rec[65] << 24);
    }
    free(file);
    tu_rmtree(dir);
    free(dir);
}

static const check_case tests[] = {
    CASE(crc32c_and_its_mask_match_known_answers_on_every_path_length_and_alignment),
    CASE(framing_the_version_event_gives_tensorflows_record_bytes),
    CASE(scalar_event_file_equals_tensorflows_bytes_for_accuracy_at_step_77),
};
CHECK_MAIN(tests)
