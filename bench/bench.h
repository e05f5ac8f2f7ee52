/*
 * bench.h - timing for the benchmark programs: the median wall time of a
 * function over runs after warm-up (medians, since this machine is noisy).
 */
#ifndef RT_BENCH_H
#define RT_BENCH_H

#include <stdlib.h>
#include <time.h>

#define BENCH_MAX_RUNS 1000

static inline double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ms of fn(ctx) on `clock` (CLOCK_MONOTONIC: wall time; CLOCK_PROCESS_CPUTIME_ID:
 * CPU time, which a loaded machine disturbs less at one thread) over `runs`
 * runs (1..BENCH_MAX_RUNS) after `warm` warm-up runs. */
static inline double bench_median_ms_on(clockid_t clock, void (*fn)(void *), void *ctx, int warm, int runs)
{
    double t[BENCH_MAX_RUNS];
    struct timespec a, b;
    for (int i = 0; i < warm; i++) fn(ctx);
    for (int i = 0; i < runs; i++) {
        clock_gettime(clock, &a);
        fn(ctx);
        clock_gettime(clock, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6;
    }
    qsort(t, (size_t)runs, sizeof t[0], bench_cmp_double);
    return runs % 2 ? t[runs / 2] : 0.5 * (t[runs / 2 - 1] + t[runs / 2]);
}

/* Median wall-time ms of fn(ctx) over `runs` runs after `warm` warm-up runs. */
static inline double bench_median_ms(void (*fn)(void *), void *ctx, int warm, int runs)
{
    return bench_median_ms_on(CLOCK_MONOTONIC, fn, ctx, warm, runs);
}

#endif
