/* A bump arena for short-lived object graphs (e.g. the protobuf-c messages a
   summary builds, packs and drops): many small zeroed allocations, one free.
   Blocks come from malloc and are chained, so growing never moves memory that
   was already handed out. Internal. */
#ifndef TBW_ARENA_H
#define TBW_ARENA_H

#include <stddef.h>

typedef struct tbw__arena_block tbw__arena_block;

/* Set up with tbw__arena_init; the fields are the arena's own. */
typedef struct tbw__arena {
    tbw__arena_block *block; /* newest block; each links to the one before */
    size_t used;             /* bytes of the newest block already handed out */
    size_t first;            /* capacity of the first block */
} tbw__arena;

/* Starts an empty arena; nothing is allocated until the first tbw__arena_alloc.
   first: capacity of the first block (0: a small default). A first that covers
   everything the caller will ask for (see tbw__arena_plan) means one malloc. */
void tbw__arena_init(tbw__arena *a, size_t first);

/* n zeroed bytes aligned to align (a power of two), valid until
   tbw__arena_free; n == 0 gives a distinct non-NULL pointer too. NULL when
   align is not a power of two, the block it needs would overflow or exceed
   PTRDIFF_MAX, or malloc fails; the arena stays usable either way. */
void *tbw__arena_alloc(tbw__arena *a, size_t n, size_t align);

/* count zeroed objects of size bytes each; NULL also when count * size overflows. */
void *tbw__arena_array(tbw__arena *a, size_t count, size_t size, size_t align);

/* Adds to *total the most that tbw__arena_array(a, count, size, align) can use
   of a block, padding included; saturates at SIZE_MAX (an arena of that first
   size fails its first allocation, as the overflowing request would). */
void tbw__arena_plan(size_t *total, size_t count, size_t size, size_t align);

/* Releases every block; the arena is empty again and may be reused. */
void tbw__arena_free(tbw__arena *a);

/* Shorthands for typed objects. */
#define TBW__ARENA_NEW(a, type) ((type *)tbw__arena_alloc((a), sizeof(type), _Alignof(type)))
#define TBW__ARENA_ARRAY(a, type, count)                                                                    \
    ((type *)tbw__arena_array((a), (count), sizeof(type), _Alignof(type)))
#define TBW__ARENA_PLAN(total, type, count) tbw__arena_plan((total), (count), sizeof(type), _Alignof(type))

#endif
