/* What the fixture generators share: where they write, opening a run, and
   saving a raw input for the tests to compare against. Any failure ends the
   program with status 1. */
#ifndef TBW_GEN_COMMON_H
#define TBW_GEN_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <tbw/tbw.h>

static const char *g_log, *g_side;

static tbw_writer *open_run(const char *run)
{
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/%s", g_log, run);
    tbw_writer *w;
    if (tbw_writer_open(&w, path, NULL, msg, sizeof msg)) {
        fprintf(stderr, "generator: %s\n", msg);
        exit(1);
    }
    return w;
}

static void side(const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_side, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "generator: cannot write %s\n", path);
        exit(1);
    }
}

#endif
