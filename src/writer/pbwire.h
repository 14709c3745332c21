/* Minimal protobuf wire helpers for the few messages the writer frames by hand
   (Event around a Summary.Value). Internal. */
#ifndef TBW_PBWIRE_H
#define TBW_PBWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t tbw__varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *tbw__put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Size of a length-delimited field with a one-byte key. */
static inline size_t tbw__ld_len(size_t payload)
{
    return 1 + tbw__varint_len(payload) + payload;
}

static inline uint8_t *tbw__put_ld(uint8_t *p, uint8_t key, const void *data, size_t len)
{
    *p++ = key;
    p = tbw__put_varint(p, len);
    if (len)
        memcpy(p, data, len);
    return p + len;
}

#endif
