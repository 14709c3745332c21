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

static inline uint32_t tbw__crc_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

#endif
