#include "strset.h"

#include <stdlib.h>
#include <string.h>

#include <tbw/common.h>

uint64_t tbw__str_hash(const char *tag, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tag[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1; /* 0 is the empty-slot marker */
}

bool tbw__strset_has(const tbw__strset *s, const char *tag, size_t len, uint64_t h)
{
    if (s->cap == 0)
        return false;
    size_t mask = s->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (s->hashes[i] == 0)
            return false;
        if (s->hashes[i] == h && strncmp(s->tags[i], tag, len) == 0 && s->tags[i][len] == '\0')
            return true;
    }
}

static void insert_slot(uint64_t *hashes, char **tags, size_t cap, uint64_t h, char *tag)
{
    size_t mask = cap - 1;
    size_t i = h & mask;
    while (hashes[i] != 0)
        i = (i + 1) & mask;
    hashes[i] = h;
    tags[i] = tag;
}

int tbw__strset_add(tbw__strset *s, const char *tag, size_t len, uint64_t h)
{
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        uint64_t *nh = calloc(ncap, sizeof *nh);
        char **nt = calloc(ncap, sizeof *nt);
        if (!nh || !nt) {
            free(nh);
            free(nt);
            return TBW_ENOMEM;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->hashes[i])
                insert_slot(nh, nt, ncap, s->hashes[i], s->tags[i]);
        free(s->hashes);
        free(s->tags);
        s->hashes = nh;
        s->tags = nt;
        s->cap = ncap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return TBW_ENOMEM;
    memcpy(copy, tag, len);
    copy[len] = '\0';
    insert_slot(s->hashes, s->tags, s->cap, h, copy);
    s->count++;
    return TBW_OK;
}

void tbw__strset_clear(tbw__strset *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->hashes[i]) {
            free(s->tags[i]);
            s->hashes[i] = 0;
            s->tags[i] = NULL;
        }
    }
    s->count = 0;
}

void tbw__strset_free(tbw__strset *s)
{
    tbw__strset_clear(s);
    free(s->hashes);
    free(s->tags);
    s->hashes = NULL;
    s->tags = NULL;
    s->cap = 0;
}
