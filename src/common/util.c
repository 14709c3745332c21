#include "util.h"

#include <stdio.h>

#include <tbw/common.h>

bool tbw__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* The one status table; the engine's cnn_strerror returns the same texts. */
const char *tbw_strerror(int status)
{
    switch (status) {
    case TBW_OK: return "success";
    case TBW_EINVAL: return "invalid argument";
    case TBW_ENOMEM: return "out of memory";
    case TBW_EIO: return "input/output error";
    case TBW_ENOSPC: return "no space left (disk full or file size limit)";
    case TBW_ECORRUPT: return "corrupt data";
    case TBW_ETRUNCATED: return "truncated data";
    case TBW_EFULL: return "queue full, event dropped";
    case TBW_EGONE: return "event file removed while open";
    case TBW_ERANGE: return "value out of range";
    case TBW_ENOTFOUND: return "not found";
    case TBW_EMISMATCH: return "mismatch";
    default: return "unknown status";
    }
}

const char *tbw_version(void)
{
    return TBW_VERSION_STRING;
}
