#include "strset.h"

#include <stdlib.h>
#include <string.h>

#include <tbw/common.h>

#include "util.h"

/* Eight bytes per multiply, then a final avalanche: a tag of 20 bytes takes three rounds instead of
   twenty dependent byte steps. Only in-memory tables use it; nothing stores the values. */
uint64_t tbw__str_hash(const char *tag, size_t len)
{
    const uint64_t k = 0x9E3779B97F4A7C15ull;
    uint64_t h = 0x2545F4914F6CDD1Dull ^ (len * k);
    const unsigned char *p = (const unsigned char *)tag;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    if (len) {
        /* the last len bytes as a zero-padded little-endian word, by loads that may overlap
           bytes already hashed rather than a copy of variable length */
        uint64_t w;
        if (p - (const unsigned char *)tag >= 8)
            w = tbw__load_le64(p + len - 8) >> (8 * (8 - len));
        else if (len >= 4)
            w = (uint64_t)tbw__load_le32(p) | (uint64_t)tbw__load_le32(p + len - 4) << (8 * (len - 4));
        else
            w = (uint64_t)p[0] | (uint64_t)p[len / 2] << (8 * (len / 2)) | (uint64_t)p[len - 1] << (8 * (len - 1));
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h ? h : 1; /* 0 is the empty-slot marker */
}

void **tbw__strset_find(const tbw__strset *s, const char *tag, size_t len, uint64_t h)
{
    if (s->cap == 0)
        return NULL;
    size_t mask = s->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (s->hashes[i] == 0)
            return NULL;
        if (s->hashes[i] == h && strncmp(s->tags[i], tag, len) == 0 && s->tags[i][len] == '\0')
            return &s->vals[i];
    }
}

bool tbw__strset_has(const tbw__strset *s, const char *tag, size_t len, uint64_t h)
{
    return tbw__strset_find(s, tag, len, h) != NULL;
}

static void insert_slot(tbw__strset *s, uint64_t h, char *tag, void *val)
{
    size_t mask = s->cap - 1;
    size_t i = h & mask;
    while (s->hashes[i] != 0)
        i = (i + 1) & mask;
    s->hashes[i] = h;
    s->tags[i] = tag;
    s->vals[i] = val;
}

int tbw__strset_add_val(tbw__strset *s, const char *tag, size_t len, uint64_t h, void *val)
{
    if ((s->count + 1) * 2 > s->cap) {
        tbw__strset n = {.cap = s->cap ? s->cap * 2 : 64};
        n.hashes = calloc(n.cap, sizeof *n.hashes);
        n.tags = calloc(n.cap, sizeof *n.tags);
        n.vals = calloc(n.cap, sizeof *n.vals);
        if (!n.hashes || !n.tags || !n.vals) {
            free(n.hashes);
            free(n.tags);
            free(n.vals);
            return TBW_ENOMEM;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->hashes[i])
                insert_slot(&n, s->hashes[i], s->tags[i], s->vals[i]);
        free(s->hashes);
        free(s->tags);
        free(s->vals);
        n.count = s->count;
        *s = n;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return TBW_ENOMEM;
    memcpy(copy, tag, len);
    copy[len] = '\0';
    insert_slot(s, h, copy, val);
    s->count++;
    return TBW_OK;
}

void tbw__strset_clear(tbw__strset *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->hashes[i]) {
            free(s->tags[i]);
            free(s->vals[i]);
            s->hashes[i] = 0;
            s->tags[i] = NULL;
            s->vals[i] = NULL;
        }
    }
    s->count = 0;
}

void tbw__strset_free(tbw__strset *s)
{
    tbw__strset_clear(s);
    free(s->hashes);
    free(s->tags);
    free(s->vals);
    s->hashes = NULL;
    s->tags = NULL;
    s->vals = NULL;
    s->cap = 0;
}
