/* Deterministic test data for the engine tests, without touching the engine's RNG. The state is global:
 * every case forks from the runner with the same state, so each case sees the sequence from its start. */
#ifndef TBW_NN_DATA_H
#define TBW_NN_DATA_H

#include <math.h>
#include <stddef.h>

/* xorshift64, uniform in [0, 1) with 53 bits */
static unsigned long long test_rng_ = 88172645463325252ull;
static inline double test_uniform(void)
{
    test_rng_ ^= test_rng_ << 13;
    test_rng_ ^= test_rng_ >> 7;
    test_rng_ ^= test_rng_ << 17;
    return (double)(test_rng_ >> 11) / 9007199254740992.0;
}

/* The largest |a - b| / (1 + |a|) over n values: relative for large values, absolute near 0. */
static inline double max_rel_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)a[i]));
        if (d > worst)
            worst = d;
    }
    return worst;
}

#endif
