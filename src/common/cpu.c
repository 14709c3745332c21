#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
static bool switched_off(const char *var)
{
    const char *off = getenv(var);
    return off && off[0] && strcmp(off, "0") != 0;
}
#endif

bool tbw__cpu_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (switched_off("TBW_NO_AVX512"))
        return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
#else
    return false;
#endif
}

bool tbw__cpu_avx2(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (switched_off("TBW_NO_AVX2"))
        return false;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}
