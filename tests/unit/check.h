/* Typed checks for the unit tests: each failure prints file:line, expected and
   actual; check_done() prints "N passed, N failed" and gives the exit code. */
#ifndef TBW_CHECK_H
#define TBW_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK_(ok, ...)                                                                                         \
    do {                                                                                                        \
        if (ok) {                                                                                               \
            check_passed++;                                                                                     \
        } else {                                                                                                \
            check_failed++;                                                                                     \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                    \
            fprintf(stderr, __VA_ARGS__);                                                                       \
            fputc('\n', stderr);                                                                                \
        }                                                                                                       \
    } while (0)

#define CHECK(cond) CHECK_((cond), "check failed: %s", #cond)
#define CHECK_INT(exp, act)                                                                                     \
    do {                                                                                                        \
        long long e_ = (long long)(exp), a_ = (long long)(act);                                                 \
        CHECK_(e_ == a_, "%s: expected %lld, got %lld", #act, e_, a_);                                         \
    } while (0)
#define CHECK_U64(exp, act)                                                                                     \
    do {                                                                                                        \
        uint64_t e_ = (uint64_t)(exp), a_ = (uint64_t)(act);                                                    \
        CHECK_(e_ == a_, "%s: expected 0x%" PRIx64 ", got 0x%" PRIx64, #act, e_, a_);                           \
    } while (0)
#define CHECK_DBL(exp, act)                                                                                     \
    do {                                                                                                        \
        double e_ = (double)(exp), a_ = (double)(act);                                                          \
        CHECK_(e_ == a_ || (isnan(e_) && isnan(a_)), "%s: expected %.17g, got %.17g", #act, e_, a_);            \
    } while (0)
#define CHECK_NEAR(exp, act, tol)                                                                               \
    do {                                                                                                        \
        double e_ = (double)(exp), a_ = (double)(act);                                                          \
        CHECK_(fabs(e_ - a_) <= (tol), "%s: expected %.9g +- %g, got %.9g", #act, e_, (double)(tol), a_);       \
    } while (0)
#define CHECK_STR(exp, act)                                                                                     \
    do {                                                                                                        \
        const char *e_ = (exp), *a_ = (act);                                                                    \
        CHECK_(e_ && a_ && strcmp(e_, a_) == 0, "%s: expected \"%s\", got \"%s\"", #act, e_ ? e_ : "(null)",   \
               a_ ? a_ : "(null)");                                                                             \
    } while (0)
#define CHECK_MEM(exp, act, n)                                                                                  \
    do {                                                                                                        \
        const unsigned char *e_ = (const unsigned char *)(exp), *a_ = (const unsigned char *)(act);             \
        size_t n_ = (n), i_ = 0;                                                                                \
        while (i_ < n_ && e_[i_] == a_[i_])                                                                     \
            i_++;                                                                                               \
        CHECK_(i_ == n_, "%s: differs at byte %zu of %zu (expected %02x, got %02x)", #act, i_, n_,              \
               i_ < n_ ? e_[i_] : 0, i_ < n_ ? a_[i_] : 0);                                                     \
    } while (0)
/* A status check that also shows the message the handle kept. */
#define CHECK_RC(exp, act, msg)                                                                                 \
    do {                                                                                                        \
        int e_ = (exp), a_ = (act);                                                                             \
        CHECK_(e_ == a_, "%s: expected status %d, got %d (%s)", #act, e_, a_, (msg));                          \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
