#include "record.h"

#include <string.h>

#include "../common/util.h"

#if defined(__x86_64__) && defined(__GNUC__)
/* Both CRCs of a record in one function with the instructions inline: a scalar event's two CRCs
   are a few instructions each, and the calls and CPU checks around them cost as much again. */
__attribute__((target("sse4.2"))) static void seal_hw(uint8_t *rec, size_t len)
{
    tbw__record_seal_crc_hw(rec, len, tbw__crc32c_hw_inline(0, rec + TBW__RECORD_HEADER, len));
}
#endif

static void seal_crc_sw(uint8_t *rec, size_t len, uint32_t payload_crc)
{
    tbw__store_le64(rec, len);
    tbw__store_le32(rec + 8, tbw__crc_mask(tbw__crc32c(0, rec, 8)));
    tbw__store_le32(rec + TBW__RECORD_HEADER + len, tbw__crc_mask(payload_crc));
}

void tbw__record_seal(uint8_t *rec, size_t len)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (tbw__crc32c_hw_available()) {
        seal_hw(rec, len);
        return;
    }
#endif
    seal_crc_sw(rec, len, tbw__crc32c(0, rec + TBW__RECORD_HEADER, len));
}

bool tbw__record_length_ok(const uint8_t *hdr, uint64_t *len)
{
    *len = tbw__load_le64(hdr);
    return tbw__crc_mask(tbw__crc32c(0, hdr, 8)) == tbw__load_le32(hdr + 8);
}

bool tbw__record_payload_ok(const uint8_t *payload, size_t len)
{
    return tbw__crc_mask(tbw__crc32c(0, payload, len)) == tbw__load_le32(payload + len);
}

uint32_t tbw_crc32c(uint32_t crc, const void *data, size_t len)
{
    return tbw__crc32c(crc, data, len);
}

uint32_t tbw_masked_crc32c(const void *data, size_t len)
{
    return tbw__crc_mask(tbw__crc32c(0, data, len));
}

void tbw_record_frame(const uint8_t *data, size_t len, uint8_t *out)
{
    memmove(out + TBW__RECORD_HEADER, data, len);
    tbw__record_seal(out, len);
}

int tbw_record_parse(const uint8_t *buf, size_t n, const uint8_t **payload, size_t *len, size_t *consumed)
{
    if (!buf || !payload || !len || !consumed)
        return TBW_EINVAL;
    if (n < TBW__RECORD_HEADER)
        return TBW_ETRUNCATED;
    uint64_t plen;
    if (!tbw__record_length_ok(buf, &plen) || plen > TBW_RECORD_MAX_PAYLOAD)
        return TBW_ECORRUPT;
    if (n - TBW__RECORD_HEADER < plen + TBW__RECORD_FOOTER)
        return TBW_ETRUNCATED;
    if (!tbw__record_payload_ok(buf + TBW__RECORD_HEADER, (size_t)plen))
        return TBW_ECORRUPT;
    *payload = buf + TBW__RECORD_HEADER;
    *len = (size_t)plen;
    *consumed = (size_t)plen + TBW_RECORD_OVERHEAD;
    return TBW_OK;
}
