#include "cpu.h"

#include <stdlib.h>
#include <string.h>

bool tbw__cpu_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *off = getenv("TBW_NO_AVX512");
    if (off && off[0] && strcmp(off, "0") != 0)
        return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
#else
    return false;
#endif
}
