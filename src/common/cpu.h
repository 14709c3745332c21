/* Which vector kernels may run. Internal, in both libraries. */
#ifndef TBW_CPU_H
#define TBW_CPU_H

#include <stdbool.h>

/* Whether the AVX-512 kernels may run: the CPU has AVX-512F, VL and BW, and the environment does not
   set TBW_NO_AVX512 to anything but "" or "0" (the documented switch that shows what a CPU without
   AVX-512 gets). */
bool tbw__cpu_avx512(void);
/* Whether the AVX2 kernels may run: the CPU has AVX2 and FMA, and TBW_NO_AVX2 is unset, "" or "0"
   (with TBW_NO_AVX512 as well, what a CPU with neither gets). */
bool tbw__cpu_avx2(void);

#endif
