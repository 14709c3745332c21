/* Small helpers shared by the writer, the reader and the summaries. Internal. */
#ifndef TBW_UTIL_H
#define TBW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool tbw__utf8_valid(const char *s, size_t len);

/* a*b into *out; false on overflow. */
static inline bool tbw__mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline void tbw__store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void tbw__store_le64(uint8_t *p, uint64_t v)
{
    tbw__store_le32(p, (uint32_t)v);
    tbw__store_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t tbw__load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t tbw__load_le64(const uint8_t *p)
{
    return (uint64_t)tbw__load_le32(p) | (uint64_t)tbw__load_le32(p + 4) << 32;
}

/* w (4 or 8) bytes at p, as an integer to compare. */
static inline uint64_t tbw__load_word(const uint8_t *p, size_t w)
{
    if (w == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* memcmp(a, b, n) == 0 with the common short lengths inline: a tag or a summary's metadata is
   compared on every event, and for up to 16 bytes two overlapping loads a side beat the call. */
static inline bool tbw__same_bytes(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n >= 4) {
        size_t w = n >= 8 ? 8 : 4;
        return ((tbw__load_word(x, w) ^ tbw__load_word(y, w)) |
                (tbw__load_word(x + n - w, w) ^ tbw__load_word(y + n - w, w))) == 0;
    }
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return false;
    return true;
}

#endif
