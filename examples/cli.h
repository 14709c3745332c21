/* Strict parsing of command-line numbers for the examples: a bad value is an
   error (exit status 2), never silently 0. */
#ifndef TBW_EXAMPLES_CLI_H
#define TBW_EXAMPLES_CLI_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static inline bool cli_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "error: %s needs a whole number from %ld to %ld, not '%s'\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static inline bool cli_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "error: %s needs a number from %g to %g, not '%s'\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

#endif
