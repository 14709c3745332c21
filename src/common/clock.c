/*
 * clock_gettime(CLOCK_REALTIME) costs 25-45 ns in a virtual machine, a quarter of a scalar event.
 * Where the kernel itself keeps time with the TSC, reading the counter and scaling it costs less
 * than half of that. The scale is measured against CLOCK_REALTIME over at least 20 ms (until then
 * every reading is a real one), and every 10 ms a real reading re-anchors the extrapolation, so a
 * reading is never more than 10 ms of counter away from the real clock: the error stays within
 * the clock's own slewing over 10 ms (microseconds). A step of the real clock (settimeofday, an
 * NTP jump) shows at the next anchor as a rate off by more than 1e-4, and the measurement starts
 * again.
 */
#include "clock.h"

#include <math.h>
#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#define CALIBRATE_SECS 0.02
#define ANCHOR_SECS 0.01

static double realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tbw__wallclock_init(tbw__wallclock *c)
{
    memset(c, 0, sizeof *c);
#ifdef HAVE_TSC
    /* read(2), not stdio: no allocation, so opening a writer can still fail only where it did */
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char name[16] = "";
        ssize_t n = read(fd, name, sizeof name - 1);
        c->tsc = n == 4 && memcmp(name, "tsc\n", 4) == 0;
        close(fd);
    }
#endif
}

#ifdef HAVE_TSC
/* A real reading, taken next to a counter reading; re-anchors and refines the rate. */
static double anchor(tbw__wallclock *c)
{
    uint64_t t = __rdtsc();
    double now = realtime();
    if (c->tsc0 == 0 || t <= c->tsc0 || now < c->wall0) {
        c->tsc0 = t;
        c->wall0 = now;
        c->spt = 0;
    } else if (now - c->wall0 >= CALIBRATE_SECS) {
        double spt = (now - c->wall0) / (double)(t - c->tsc0);
        if (c->spt > 0 && fabs(spt / c->spt - 1.0) > 1e-4) {
            /* the real clock stepped: measure again from here */
            c->tsc0 = t;
            c->wall0 = now;
            c->spt = 0;
        } else {
            c->spt = spt;
        }
    }
    c->tsc_a = t;
    c->wall_a = now;
    c->window = c->spt > 0 ? (uint64_t)(ANCHOR_SECS / c->spt) : 0;
    return now;
}
#endif

double tbw__wallclock_now(tbw__wallclock *c)
{
#ifdef HAVE_TSC
    if (c->tsc) {
        uint64_t d = __rdtsc() - c->tsc_a;
        if (d < c->window)
            return c->wall_a + (double)d * c->spt;
        return anchor(c);
    }
#endif
    return realtime();
}
