/* The bump arena the summary builders use: alignment, zeroed memory, growth
   that keeps earlier pointers valid, refused overflows, one malloc when planned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/common/arena.h"
#include "../check.h"

static int is_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* Blocks in the chain; a block starts with its link to the one before. */
static size_t nblocks(const tbw__arena *a)
{
    size_t n = 0;
    for (const tbw__arena_block *b = a->block; b; b = *(tbw__arena_block *const *)b)
        n++;
    return n;
}

enum { NPTRS = 500 };

static int intact(uint32_t *const *ptrs)
{
    for (uint32_t i = 0; i < NPTRS; i++)
        for (uint32_t k = 0; k < i % 7 + 1; k++)
            if (ptrs[i][k] != i * 1000 + k)
                return 0;
    return 1;
}

TEST(arena_allocations_honour_every_power_of_two_alignment_and_refuse_the_rest)
{
    tbw__arena a;
    tbw__arena_init(&a, 0);
    int aligned = 1;
    for (size_t align = 1; align <= 256; align *= 2)
        for (size_t n = 0; n < 20; n++) {
            CHECK(tbw__arena_alloc(&a, 1, 1) != NULL); /* knock the bump position off */
            void *p = tbw__arena_alloc(&a, n, align);
            if (!p || (uintptr_t)p % align)
                aligned = 0;
        }
    CHECK_(aligned, "an allocation was NULL or misaligned");
    double *d = TBW__ARENA_NEW(&a, double);
    CHECK(d && (uintptr_t)d % _Alignof(double) == 0);
    CHECK(tbw__arena_alloc(&a, 8, 0) == NULL);
    CHECK(tbw__arena_alloc(&a, 8, 3) == NULL);
    CHECK(tbw__arena_alloc(&a, 8, 24) == NULL);
    tbw__arena_free(&a);
    CHECK(a.block == NULL);
}

TEST(arena_allocations_are_zeroed_and_disjoint_and_zeroed_again_after_a_free)
{
    tbw__arena a;
    tbw__arena_init(&a, 64);
    unsigned char *p = tbw__arena_alloc(&a, 40, 1);
    CHECK(p && is_zero(p, 40));
    memset(p, 0xAB, 40);
    unsigned char *q = tbw__arena_alloc(&a, 40, 1);
    CHECK(q && is_zero(q, 40));
    CHECK(q + 40 <= p || q >= p + 40);
    void *z1 = tbw__arena_alloc(&a, 0, 1), *z2 = tbw__arena_alloc(&a, 0, 1);
    CHECK(z1 && z2 && z1 != z2);
    tbw__arena_free(&a);
    /* Reused after free: fresh memory is zeroed again. */
    p = tbw__arena_alloc(&a, 100, 16);
    CHECK(p && is_zero(p, 100));
    tbw__arena_free(&a);
    tbw__arena_free(&a); /* freeing an empty arena is harmless */
}

TEST(arena_growth_keeps_earlier_allocations_in_place_and_gives_a_big_request_its_own_block)
{
    tbw__arena a;
    tbw__arena_init(&a, 32);
    uint32_t *ptrs[NPTRS];
    int all = 1;
    for (uint32_t i = 0; i < NPTRS; i++) {
        ptrs[i] = TBW__ARENA_ARRAY(&a, uint32_t, i % 7 + 1);
        if (!ptrs[i]) {
            all = 0;
            break;
        }
        for (uint32_t k = 0; k < i % 7 + 1; k++)
            ptrs[i][k] = i * 1000 + k;
    }
    CHECK(all);
    if (!all) {
        tbw__arena_free(&a);
        return;
    }
    CHECK(nblocks(&a) > 1);
    CHECK_(intact(ptrs), "values written before the arena grew changed");
    /* A request bigger than any block so far gets a block of its own size. */
    size_t before = nblocks(&a);
    unsigned char *big = tbw__arena_alloc(&a, 1 << 20, 64);
    CHECK(big && (uintptr_t)big % 64 == 0 && is_zero(big, 1 << 20));
    CHECK_INT(before + 1, nblocks(&a));
    CHECK(tbw__arena_alloc(&a, 3, 1) != NULL);
    CHECK_(intact(ptrs), "values written before a large request changed");
    tbw__arena_free(&a);
}

TEST(arena_refuses_sizes_that_overflow_and_stays_usable)
{
    tbw__arena a;
    tbw__arena_init(&a, 0);
    CHECK(tbw__arena_alloc(&a, SIZE_MAX, 1) == NULL);
    CHECK(tbw__arena_alloc(&a, SIZE_MAX - 8, 16) == NULL);
    CHECK(tbw__arena_alloc(&a, (size_t)PTRDIFF_MAX, 1) == NULL); /* no object that big, malloc or not */
    CHECK(tbw__arena_array(&a, SIZE_MAX / 2 + 1, 2, 1) == NULL);
    size_t half = (size_t)1 << (sizeof(size_t) * 4);
    CHECK(tbw__arena_array(&a, half, half, 1) == NULL);
    /* Still usable after refusing. */
    void *p = tbw__arena_alloc(&a, 16, 8);
    CHECK(p != NULL);
    CHECK(tbw__arena_alloc(&a, SIZE_MAX - 64, 1) == NULL);
    CHECK(tbw__arena_alloc(&a, 16, 8) != NULL);
    tbw__arena_free(&a);

    size_t total = 0;
    tbw__arena_plan(&total, SIZE_MAX / 4, 8, 8);
    CHECK(total == SIZE_MAX);
    total = SIZE_MAX - 4;
    tbw__arena_plan(&total, 1, 8, 8);
    CHECK(total == SIZE_MAX);
    /* An arena planned at SIZE_MAX refuses its first allocation rather than allocating a little. */
    tbw__arena_init(&a, total);
    CHECK(tbw__arena_alloc(&a, 1, 1) == NULL);
    CHECK(a.block == NULL);
    tbw__arena_free(&a);
}

TEST(a_planned_arena_serves_every_planned_allocation_from_one_block)
{
    struct obj {
        double d;
        char c;
    };
    size_t total = 0;
    TBW__ARENA_PLAN(&total, char, 3);
    TBW__ARENA_PLAN(&total, struct obj, 5);
    TBW__ARENA_PLAN(&total, struct obj, 0);
    TBW__ARENA_PLAN(&total, void *, 9);
    TBW__ARENA_PLAN(&total, char, 1);
    tbw__arena a;
    tbw__arena_init(&a, total);
    CHECK(TBW__ARENA_ARRAY(&a, char, 3) != NULL);
    CHECK(TBW__ARENA_ARRAY(&a, struct obj, 5) != NULL);
    CHECK(TBW__ARENA_ARRAY(&a, struct obj, 0) != NULL);
    CHECK(TBW__ARENA_ARRAY(&a, void *, 9) != NULL);
    CHECK(TBW__ARENA_ARRAY(&a, char, 1) != NULL);
    CHECK_INT(1, nblocks(&a));
    tbw__arena_free(&a);
}

static const check_case tests[] = {
    CASE(arena_allocations_honour_every_power_of_two_alignment_and_refuse_the_rest),
    CASE(arena_allocations_are_zeroed_and_disjoint_and_zeroed_again_after_a_free),
    CASE(arena_growth_keeps_earlier_allocations_in_place_and_gives_a_big_request_its_own_block),
    CASE(arena_refuses_sizes_that_overflow_and_stays_usable),
    CASE(a_planned_arena_serves_every_planned_allocation_from_one_block),
};
CHECK_MAIN(tests)
