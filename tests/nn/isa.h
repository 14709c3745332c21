/* Runs a check once per instruction set of the engine's kernels that this CPU has, through the
 * documented environment switches: test_isa_use("avx512"), ("avx2") or (NULL: neither, every product
 * on OpenBLAS) sets them and says whether the engine now reports that set; test_isa_reset() clears
 * them. Models read the switches when they are built. */
#ifndef TEST_NN_ISA_H
#define TEST_NN_ISA_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tbw/cnn.h"

static const char *const TEST_ISAS[] = {"avx512", "avx2"};
enum { TEST_NISAS = 2 };

static inline void test_isa_reset(void)
{
    unsetenv("TBW_NO_AVX512");
    unsetenv("TBW_NO_AVX2");
}

static inline bool test_isa_use(const char *isa)
{
    test_isa_reset();
    if (!isa || strcmp(isa, "avx2") == 0)
        setenv("TBW_NO_AVX512", "1", 1);
    if (!isa)
        setenv("TBW_NO_AVX2", "1", 1);
    const char *got = cnn_kernel_isa();
    bool ok = isa ? got && strcmp(got, isa) == 0 : got == NULL;
    if (!ok && isa)
        fprintf(stderr, "note: no %s on this CPU, its kernels not exercised here\n", isa);
    return ok;
}

#endif
