#include "crc32c.h"

#include <string.h>

/* Slicing-by-8 tables for the reflected polynomial 0x82F63B78, generated at
   build time into constant data. */
#include "crc32c_table.h"

uint32_t tbw__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    const uint32_t (*t)[256] = crc32c_table;
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
              t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) uint32_t tbw__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return tbw__crc32c_hw_inline(crc, data, len);
}

int tbw__crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t tbw__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return tbw__crc32c_sw(crc, data, len);
}

int tbw__crc32c_hw_available(void)
{
    return 0;
}
#endif

uint32_t tbw__crc32c(uint32_t crc, const void *data, size_t len)
{
    if (tbw__crc32c_hw_available())
        return tbw__crc32c_hw(crc, data, len);
    return tbw__crc32c_sw(crc, data, len);
}
