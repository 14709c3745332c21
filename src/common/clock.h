/* The wall clock the writer stamps events with, cheaper than clock_gettime per event where the
   CPU's time-stamp counter is the kernel's own clock source. Not thread-safe: the writer calls it
   with its lock held. Internal. */
#ifndef TBW_CLOCK_H
#define TBW_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

typedef struct tbw__wallclock {
    bool tsc;          /* the counter may be used (x86-64 and the kernel's clock source is "tsc") */
    double spt;        /* seconds per tick, measured against CLOCK_REALTIME; 0 until measured */
    uint64_t tsc0;     /* the long anchor the rate is measured from */
    double wall0;
    uint64_t tsc_a;    /* the last anchor, at most window ticks ago */
    double wall_a;
    uint64_t window;
} tbw__wallclock;

/* Reads the clock source once. */
void tbw__wallclock_init(tbw__wallclock *c);
/* Seconds since the epoch, as CLOCK_REALTIME gives them, to within a few microseconds. */
double tbw__wallclock_now(tbw__wallclock *c);

#endif
