/* CRC-32C (Castagnoli) with a hardware path. Internal. */
#ifndef TBW_CRC32C_H
#define TBW_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Picks the SSE4.2 path when the CPU has it, the table path otherwise. */
uint32_t tbw__crc32c(uint32_t crc, const void *data, size_t len);
/* The portable table path alone, for tests that compare both. */
uint32_t tbw__crc32c_sw(uint32_t crc, const void *data, size_t len);
/* The SSE4.2 path alone; only call when tbw__crc32c_hw_available(). */
uint32_t tbw__crc32c_hw(uint32_t crc, const void *data, size_t len);
int tbw__crc32c_hw_available(void);

#if defined(__x86_64__) && defined(__GNUC__)
#include <string.h>
/* The SSE4.2 loop itself, for callers compiled for SSE4.2 that want it inline. */
__attribute__((target("sse4.2"))) static inline uint32_t tbw__crc32c_hw_inline(uint32_t crc, const void *data,
                                                                               size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    /* the tail in at most three steps (4, 2, 1 bytes) rather than one per byte */
    if (len & 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c32 = __builtin_ia32_crc32si(c32, v);
        p += 4;
    }
    if (len & 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        c32 = __builtin_ia32_crc32hi(c32, v);
        p += 2;
    }
    if (len & 1)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return ~c32;
}
#endif

static inline uint32_t tbw__crc_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

#endif
