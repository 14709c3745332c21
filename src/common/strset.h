/* A set of strings with their hashes, each with an optional value the set owns (freed with free()):
   the writer's tags with their metadata, the node names of a graph. Internal. */
#ifndef TBW_STRSET_H
#define TBW_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tbw__strset {
    uint64_t *hashes; /* 0 marks an empty slot */
    char **tags;
    void **vals;
    size_t cap, count;
} tbw__strset;

uint64_t tbw__str_hash(const char *tag, size_t len);
bool tbw__strset_has(const tbw__strset *s, const char *tag, size_t len, uint64_t h);
/* The value slot of tag, or NULL if tag is not in the set. The caller may replace *slot (freeing the
   old value). */
void **tbw__strset_find(const tbw__strset *s, const char *tag, size_t len, uint64_t h);
/* Adds tag (not yet in the set) with val, which the set then owns. Returns 0 or TBW_ENOMEM (the set
   is unchanged then and val still belongs to the caller). */
int tbw__strset_add_val(tbw__strset *s, const char *tag, size_t len, uint64_t h, void *val);
static inline int tbw__strset_add(tbw__strset *s, const char *tag, size_t len, uint64_t h)
{
    return tbw__strset_add_val(s, tag, len, h, NULL);
}
void tbw__strset_clear(tbw__strset *s);
void tbw__strset_free(tbw__strset *s);

#endif
