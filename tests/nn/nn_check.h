/* Typed check macros for the engine tests: each failure prints file:line, expected and actual;
 * check_report() prints the "N passed, N failed" line and gives the exit status. */
#ifndef TBW_NN_CHECK_H
#define TBW_NN_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK_(cond, ...)                                                                                            \
    do {                                                                                                             \
        if (cond) {                                                                                                  \
            check_passed_++;                                                                                         \
        } else {                                                                                                     \
            check_failed_++;                                                                                         \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                          \
            fprintf(stderr, __VA_ARGS__);                                                                            \
            fputc('\n', stderr);                                                                                     \
        }                                                                                                            \
    } while (0)

#define CHECK_INT(expected, actual)                                                                                  \
    do {                                                                                                             \
        long long e_ = (long long)(expected), a_ = (long long)(actual);                                              \
        CHECK_(e_ == a_, "expected %s == %lld, actual %lld (%s)", #actual, e_, a_, #expected);                       \
    } while (0)

#define CHECK_TRUE(cond) CHECK_((cond), "expected true: %s", #cond)

#define CHECK_NEAR(expected, actual, tol)                                                                            \
    do {                                                                                                             \
        double e_ = (double)(expected), a_ = (double)(actual);                                                       \
        CHECK_(fabs(e_ - a_) <= (double)(tol), "expected %s == %.9g, actual %.9g (tolerance %g)", #actual, e_, a_,   \
               (double)(tol));                                                                                       \
    } while (0)

#define CHECK_STR_HAS(haystack, needle)                                                                              \
    do {                                                                                                             \
        const char *h_ = (haystack), *n_ = (needle);                                                                 \
        CHECK_(h_ && strstr(h_, n_), "expected %s to contain \"%s\", actual \"%s\"", #haystack, n_,                  \
               h_ ? h_ : "(null)");                                                                                  \
    } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

/* Deterministic test data without touching the engine's RNG. */
static unsigned long long test_rng_ = 88172645463325252ull;
static inline double test_uniform(void)
{
    test_rng_ ^= test_rng_ << 13;
    test_rng_ ^= test_rng_ >> 7;
    test_rng_ ^= test_rng_ << 17;
    return (double)(test_rng_ >> 11) / 9007199254740992.0;
}

#endif
