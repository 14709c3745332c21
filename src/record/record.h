/* The record layer under the writer and the reader: framing in place and header checks. Internal;
   the public half is <tbw/record.h>. */
#ifndef TBW_RECORD_INTERNAL_H
#define TBW_RECORD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tbw/record.h>

#include "../common/util.h"
#include "crc32c.h"

#define TBW__RECORD_HEADER 12
#define TBW__RECORD_FOOTER 4

/* Frames the len-byte payload that already sits at rec + 12: fills the 12-byte header and the
   4-byte footer after it. */
void tbw__record_seal(uint8_t *rec, size_t len);

#if defined(__x86_64__) && defined(__GNUC__)
/* The same with the payload's CRC-32C (unmasked, as tbw__crc32c gives it) already known, inline:
   for a framer compiled for SSE4.2, on a CPU that has it, that computed the CRC from the pieces it
   copied without reading the payload back. */
__attribute__((target("sse4.2"))) static inline void tbw__record_seal_crc_hw(uint8_t *rec, size_t len,
                                                                            uint32_t payload_crc)
{
    tbw__store_le64(rec, len);
    uint64_t n = (uint64_t)len; /* the header's 8 bytes, little-endian on x86-64 */
    tbw__store_le32(rec + 8, tbw__crc_mask(~(uint32_t)__builtin_ia32_crc32di(0xFFFFFFFFu, n)));
    tbw__store_le32(rec + TBW__RECORD_HEADER + len, tbw__crc_mask(payload_crc));
}
#endif

/* Checks the 12-byte header's length CRC; on success *len is the payload length. */
bool tbw__record_length_ok(const uint8_t *hdr, uint64_t *len);

/* Whether the 4 bytes after payload[0..len) hold the payload's masked CRC. */
bool tbw__record_payload_ok(const uint8_t *payload, size_t len);

#endif
