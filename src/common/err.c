#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tbw/common.h>

/* A message longer than its buffer keeps its beginning and its end, joined by "...": the end holds
   the reason ("File name too long", "corrupt at offset 0: ..."), which matters more than the middle
   of a long path. */
int tbw__vfail(tbw__err e, int code, const char *fmt, va_list ap)
{
    if (!e.msg || !e.cap)
        return code;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(e.msg, e.cap, fmt, ap);
    if (n < 0) {
        e.msg[0] = '\0';
    } else if ((size_t)n >= e.cap && e.cap > 16) {
        char *full = malloc((size_t)n + 1);
        if (full && vsnprintf(full, (size_t)n + 1, fmt, again) == n) {
            size_t keep = e.cap - 1 - 3;          /* bytes of the original that fit beside "..." */
            size_t head = keep * 2 / 5, from = (size_t)n - (keep - head);
            while (head > 0 && ((unsigned char)full[head] & 0xC0) == 0x80)
                head--;                           /* never split a UTF-8 sequence */
            while (from < (size_t)n && ((unsigned char)full[from] & 0xC0) == 0x80)
                from++;
            memcpy(e.msg, full, head);
            memcpy(e.msg + head, "...", 3);
            memcpy(e.msg + head + 3, full + from, (size_t)n - from + 1);
        }
        free(full);
    }
    va_end(again);
    return code;
}

int tbw__fail(tbw__err e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tbw__vfail(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int tbw__fail_errno(tbw__err e, int errnum, const char *fmt, ...)
{
    int code = tbw__errno_status(errnum);
    if (!e.msg || !e.cap)
        return code;
    /* The caller's part is formatted whole first, so that the reason survives a long path. */
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    char small[512];
    char *head = small;
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small) {
        head = malloc((size_t)n + 1);
        if (!head || vsnprintf(head, (size_t)n + 1, fmt, again) != n) {
            free(head);
            head = small;                      /* truncated, but still a message */
        }
    }
    va_end(again);
    va_end(ap);
    if (n < 0)
        small[0] = '\0';
    tbw__fail(e, code, "%s: %s", head, strerror(errnum));
    if (head != small)
        free(head);
    return code;
}

int tbw__fail_copy(tbw__err e, int code, const char *src)
{
    return tbw__fail(e, code, "%s", src ? src : "");
}

int tbw__errno_status(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        return TBW_ENOSPC;
    case ENOMEM:
        return TBW_ENOMEM;
    case ENOENT:
        return TBW_ENOTFOUND;
    default:
        return TBW_EIO;
    }
}
