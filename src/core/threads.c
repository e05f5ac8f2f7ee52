/*
 * threads.c - thread count for OpenMP kernels and OpenBLAS (see threads.h).
 */
#include "core/threads.h"

#include <cblas.h>
#include <omp.h>

void rt_threads_set(int n)
{
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int rt_threads_get(void) { return omp_get_max_threads(); }

const char *rt_blas_corename(void) { return openblas_get_corename(); }
