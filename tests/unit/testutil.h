/* Helpers shared by the unit tests: temp dirs, reading files, finding the one
   event file of a run. The checks and the case runner are tests/check.h's. */
#ifndef TBW_TESTUTIL_H
#define TBW_TESTUTIL_H

#include "../check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *tu_tempdir(const char *name)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(512);
    snprintf(p, 512, "%s/tbw-%s-XXXXXX", base && base[0] ? base : "/tmp", name);
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        exit(2);
    }
    return p;
}

static inline void tu_rmtree(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

static inline unsigned char *tu_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n + 1 : 1); /* NUL-terminated for string checks */
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    *len = got;
    return b;
}

/* Number of event files in dir; the first one (by name) goes into out. */
static inline int tu_event_files(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    char best[512] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, "tfevents"))
            continue;
        if (!n || strcmp(de->d_name, best) < 0)
            snprintf(best, sizeof best, "%s", de->d_name);
        n++;
    }
    closedir(d);
    if (n && out)
        snprintf(out, cap, "%s/%s", dir, best);
    return n;
}

/* Entries of dir, not counting "." and "..". */
static inline int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

#endif
