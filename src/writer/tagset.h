/* The set of tags that already carry metadata in the current event file. Internal. */
#ifndef TBW_TAGSET_H
#define TBW_TAGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tbw__tagset {
    uint64_t *hashes; /* 0 marks an empty slot */
    char **tags;
    size_t cap, count;
} tbw__tagset;

uint64_t tbw__tag_hash(const char *tag, size_t len);
bool tbw__tagset_has(const tbw__tagset *s, const char *tag, size_t len, uint64_t h);
/* Returns 0 or TBW_ENOMEM (the set is unchanged then). */
int tbw__tagset_add(tbw__tagset *s, const char *tag, size_t len, uint64_t h);
void tbw__tagset_clear(tbw__tagset *s);
void tbw__tagset_free(tbw__tagset *s);

#endif
