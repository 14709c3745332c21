/*
 * The error kit every handle uses. Internal.
 *
 * A failing call returns one of the negative TBW_E* codes and leaves a
 * one-line message in the handle it was made on. The message buffer is the
 * only error state: there is no global or thread-local copy. tbw__fail is the
 * one setter; tbw__errno_status is the one errno -> status map.
 */
#ifndef TBW_ERR_H
#define TBW_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define TBW__ERRMSG_LEN 1024

/* Where a message goes: a handle's buffer or a caller's. A NULL msg or cap 0 drops it. */
typedef struct tbw__err {
    char *msg;
    size_t cap;
} tbw__err;

/* The message buffer of any handle that has a `char errmsg[N]` member. */
#define TBW__ERR(h) ((tbw__err){(h)->errmsg, sizeof (h)->errmsg})
/* Leaves the message on handle h (a pointer with a `char errmsg[N]` member; NULL keeps nothing) and
   gives code back: the one way a module reports a failure on its handle. */
#define TBW__FAIL(h, code, ...) ((h) ? tbw__fail(TBW__ERR(h), (code), __VA_ARGS__) : (code))
/* A buffer given by the caller, as constructors take it. */
#define TBW__ERR_BUF(buf, len) ((tbw__err){(buf), (len)})

/* Writes the message (truncated to fit, always NUL-terminated) and returns code. */
int tbw__fail(tbw__err e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int tbw__vfail(tbw__err e, int code, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* Like tbw__fail for an operating-system error: the status is tbw__errno_status(errnum) and the
   message ends with ": <strerror(errnum)>". */
int tbw__fail_errno(tbw__err e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies src's message into e (for a call that spans two handles) and returns code. */
int tbw__fail_copy(tbw__err e, int code, const char *src);

/* The status for an errno value: ENOSPC, EFBIG and EDQUOT are TBW_ENOSPC, ENOMEM is TBW_ENOMEM,
   ENOENT is TBW_ENOTFOUND, anything else TBW_EIO. */
int tbw__errno_status(int errnum);

#endif
