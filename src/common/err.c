#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <tbw/common.h>

int tbw__vfail(tbw__err e, int code, const char *fmt, va_list ap)
{
    if (e.msg && e.cap) {
        if (vsnprintf(e.msg, e.cap, fmt, ap) < 0)
            e.msg[0] = '\0';
    }
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
    va_list ap;
    va_start(ap, fmt);
    tbw__vfail(e, code, fmt, ap);
    va_end(ap);
    size_t n = strlen(e.msg);
    if (n + 1 < e.cap)
        snprintf(e.msg + n, e.cap - n, ": %s", strerror(errnum));
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
