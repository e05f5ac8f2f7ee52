/*
 * threads.h - one thread pool for everything.
 *
 * Our kernels use OpenMP; GEMM goes to Debian's OpenMP build of OpenBLAS,
 * which runs on the same libgomp pool, so there is one pool, not two
 * spinning against each other. rt_threads_set(n) sets both.
 */
#ifndef RT_THREADS_H
#define RT_THREADS_H

/* Use n threads for kernels and GEMM (n >= 1). */
void rt_threads_set(int n);
/* The number of threads in use. */
int rt_threads_get(void);
/* OpenBLAS's core name (e.g. "Haswell", "SkylakeX"). */
const char *rt_blas_corename(void);

#endif
