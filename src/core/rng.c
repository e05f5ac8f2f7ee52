/*
 * rng.c - Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11), used as a pure function of its counter (see rng.h).
 */
#include "core/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void rt_philox4x32(uint64_t seed, uint64_t idx, uint32_t stream, uint32_t step, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)idx, c1 = (uint32_t)(idx >> 32), c2 = stream, c3 = step;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

float rt_rng_uniform(uint64_t seed, uint32_t stream, uint32_t step, uint64_t i)
{
    uint32_t r[4];
    rt_philox4x32(seed, i, stream, step, r);
    return (float)(r[0] >> 8) * (1.0f / 16777216.0f);
}

float rt_rng_normal(uint64_t seed, uint32_t stream, uint32_t step, uint64_t i)
{
    uint32_t r[4];
    rt_philox4x32(seed, i, stream, step, r);
    /* u1 in (0, 1] so log is finite; u2 in [0, 1). */
    double u1 = ((double)(r[0] >> 8) + 1.0) * (1.0 / 16777216.0);
    double u2 = (double)(r[1] >> 8) * (1.0 / 16777216.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
