/*
 * tbw records: the framing every event file uses (TFRecord).
 *
 * A record is an 8-byte little-endian payload length, the masked CRC-32C of
 * those 8 bytes, the payload, and the masked CRC-32C of the payload. The
 * writer frames with these calls and the reader parses with them; they are
 * public for tools and tests that handle records directly.
 */
#ifndef TBW_RECORD_H
#define TBW_RECORD_H

#include <tbw/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes a record adds around its payload (12 before, 4 after). */
#define TBW_RECORD_OVERHEAD 16
/** The largest payload a reader accepts and the writer makes (2 GiB - 1, protobuf's limit):
 *  TensorBoard cannot parse a larger message. */
#define TBW_RECORD_MAX_PAYLOAD (((uint64_t)1 << 31) - 1)

/** CRC-32C (Castagnoli) of data, continuing from crc (start with 0). */
TBW_API uint32_t tbw_crc32c(uint32_t crc, const void *data, size_t len);
/** TensorFlow's masked CRC-32C of data, as stored in record headers. */
TBW_API uint32_t tbw_masked_crc32c(const void *data, size_t len);
/** Frames data as one record into out (len + TBW_RECORD_OVERHEAD bytes; data and out may overlap). */
TBW_API void tbw_record_frame(const uint8_t *data, size_t len, uint8_t *out);

/**
 * Parses the record at the start of buf[0..n).
 * @return 0 with *payload, *len and *consumed (the record's whole size) set;
 *         TBW_ETRUNCATED if buf ends inside the record (more bytes may follow);
 *         TBW_ECORRUPT if a CRC does not match or the length is over TBW_RECORD_MAX_PAYLOAD;
 *         TBW_EINVAL if an argument is NULL.
 */
TBW_API int tbw_record_parse(const uint8_t *buf, size_t n, const uint8_t **payload, size_t *len, size_t *consumed);

#ifdef __cplusplus
}
#endif
#endif
