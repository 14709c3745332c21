/* Minimal protobuf wire helpers for the few messages the writer frames by hand
   (Event around a Summary.Value), and a bounds-checked field reader for bytes it did not make.
   Internal. */
#ifndef TBW_PBWIRE_H
#define TBW_PBWIRE_H

#include <stdbool.h>
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

/* Reads a varint from [*p, end); advances *p. False if it runs past end or over 10 bytes. */
static inline bool tbw__get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* One field of a message in [*p, end): its number, wire type and, for length-delimited fields,
   the bytes. Advances *p past the field. False at a malformed field (nothing is trusted). */
typedef struct tbw__field {
    uint32_t num;
    unsigned wire;
    const uint8_t *data; /* the bytes of a length-delimited field, or of a fixed64 / fixed32 */
    size_t len;
    uint64_t varint;     /* the value of a varint field */
} tbw__field;

static inline bool tbw__next_field(const uint8_t **p, const uint8_t *end, tbw__field *f)
{
    uint64_t key, v;
    if (!tbw__get_varint(p, end, &key) || key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return false;
    f->num = (uint32_t)(key >> 3);
    f->wire = (unsigned)(key & 7);
    f->data = *p;
    f->len = 0;
    f->varint = 0;
    switch (f->wire) {
    case 0:
        return tbw__get_varint(p, end, &f->varint);
    case 1:
    case 5:
        f->len = f->wire == 1 ? 8 : 4;
        if ((size_t)(end - *p) < f->len)
            return false;
        *p += f->len;
        return true;
    case 2:
        if (!tbw__get_varint(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        f->data = *p;
        f->len = (size_t)v;
        *p += v;
        return true;
    default:
        return false;
    }
}

/* The length-delimited field num of the message in [p, p + n) (the last one if repeated), or NULL. */
static inline const uint8_t *tbw__find_ld(const uint8_t *p, size_t n, uint32_t num, size_t *len)
{
    const uint8_t *end = p + n, *found = NULL;
    tbw__field f;
    while (p < end && tbw__next_field(&p, end, &f))
        if (f.num == num && f.wire == 2) {
            found = f.data;
            *len = f.len;
        }
    return found;
}

#endif
