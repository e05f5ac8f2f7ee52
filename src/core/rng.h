/*
 * rng.h - counter-based random numbers (Philox4x32-10).
 *
 * A random number is a pure function of (seed, stream, step, index): no
 * state is advanced, so results do not depend on the thread count or on the
 * order elements are visited. Dropout uses stream = node id, step = training
 * step, index = element; parameter init uses stream = parameter index.
 *
 *     float u = rt_rng_uniform(seed, stream, step, i);   // [0, 1)
 *     float z = rt_rng_normal(seed, stream, step, i);    // N(0, 1)
 */
#ifndef RT_RNG_H
#define RT_RNG_H

#include <stdint.h>

/* Four 32-bit random words for counter (idx, stream, step) under key seed. */
void rt_philox4x32(uint64_t seed, uint64_t idx, uint32_t stream, uint32_t step, uint32_t out[4]);
/* Uniform in [0, 1) with 24 random bits. */
float rt_rng_uniform(uint64_t seed, uint32_t stream, uint32_t step, uint64_t i);
/* Standard normal (Box-Muller on the element's own counter). */
float rt_rng_normal(uint64_t seed, uint32_t stream, uint32_t step, uint64_t i);

#endif
