/* A set of strings with their hashes: the tags that already carry metadata in the writer's current
   event file, the node names of a graph. Internal. */
#ifndef TBW_STRSET_H
#define TBW_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tbw__strset {
    uint64_t *hashes; /* 0 marks an empty slot */
    char **tags;
    size_t cap, count;
} tbw__strset;

uint64_t tbw__str_hash(const char *tag, size_t len);
bool tbw__strset_has(const tbw__strset *s, const char *tag, size_t len, uint64_t h);
/* Returns 0 or TBW_ENOMEM (the set is unchanged then). */
int tbw__strset_add(tbw__strset *s, const char *tag, size_t len, uint64_t h);
void tbw__strset_clear(tbw__strset *s);
void tbw__strset_free(tbw__strset *s);

#endif
