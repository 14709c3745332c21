/* Which vector kernels may run. Internal, in both libraries. */
#ifndef TBW_CPU_H
#define TBW_CPU_H

#include <stdbool.h>

/* Whether the AVX-512 kernels may run: the CPU has AVX-512F, VL and BW, and the environment does not
   set TBW_NO_AVX512 to anything but "" or "0" (the documented switch that shows what a CPU without
   AVX-512 gets). */
bool tbw__cpu_avx512(void);

#endif
