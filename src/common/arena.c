#include "arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_DEFAULT_FIRST 1024

struct tbw__arena_block {
    tbw__arena_block *prev;
    size_t cap;
    unsigned char data[];
};

static bool pow2(size_t x)
{
    return x && !(x & (x - 1));
}

void tbw__arena_init(tbw__arena *a, size_t first)
{
    a->block = NULL;
    a->used = 0;
    a->first = first ? first : ARENA_DEFAULT_FIRST;
}

/* n bytes at align from the newest block, or NULL when they don't fit. */
static void *bump(tbw__arena *a, size_t n, size_t align)
{
    tbw__arena_block *b = a->block;
    if (!b)
        return NULL;
    size_t room = b->cap - a->used;
    size_t pad = (size_t)(-(uintptr_t)(b->data + a->used) & (align - 1));
    if (pad > room || n > room - pad)
        return NULL;
    unsigned char *p = b->data + a->used + pad;
    a->used += pad + n;
    memset(p, 0, n);
    return p;
}

/* Chains a block with room for n bytes at align: the first one at the planned
   size, later ones doubling (or just big enough, once doubling would pass the
   limit). No block exceeds PTRDIFF_MAX, so pointer differences within it work. */
static bool grow(tbw__arena *a, size_t n, size_t align)
{
    const size_t limit = PTRDIFF_MAX - sizeof(tbw__arena_block);
    size_t need, cap = a->first;
    if (__builtin_add_overflow(n, align - 1, &need) || need > limit)
        return false;
    if (a->block)
        cap = a->block->cap <= limit / 2 ? a->block->cap * 2 : need;
    if (cap < need)
        cap = need;
    if (cap > limit) /* a first block planned past the limit */
        return false;
    tbw__arena_block *b = malloc(sizeof(tbw__arena_block) + cap);
    if (!b)
        return false;
    b->prev = a->block;
    b->cap = cap;
    a->block = b;
    a->used = 0;
    return true;
}

void *tbw__arena_alloc(tbw__arena *a, size_t n, size_t align)
{
    if (!pow2(align))
        return NULL;
    if (n == 0)
        n = 1;
    void *p = bump(a, n, align);
    if (p || !grow(a, n, align))
        return p;
    return bump(a, n, align);
}

void *tbw__arena_array(tbw__arena *a, size_t count, size_t size, size_t align)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n))
        return NULL;
    return tbw__arena_alloc(a, n, align);
}

void tbw__arena_plan(size_t *total, size_t count, size_t size, size_t align)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n) || __builtin_add_overflow(n ? n : 1, align - 1, &n) ||
        __builtin_add_overflow(*total, n, total))
        *total = SIZE_MAX;
}

void tbw__arena_free(tbw__arena *a)
{
    tbw__arena_block *b = a->block;
    while (b) {
        tbw__arena_block *prev = b->prev;
        free(b);
        b = prev;
    }
    a->block = NULL;
    a->used = 0;
}
