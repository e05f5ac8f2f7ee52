/*
 * metrics_impl.h - input checks shared by metrics.c and verify.c (internal).
 * Each records an rt_error naming the metric `what` and returns its status.
 */
#ifndef RT_METRICS_IMPL_H
#define RT_METRICS_IMPL_H

#include "metrics/metrics.h"

/* n_a == n_b (RT_ERR_SHAPE) and n_a >= min_n (RT_ERR_ARG). */
rt_status rt_metric_check_len(const char *what, const char *a, int64_t n_a, const char *b, int64_t n_b,
                              int64_t min_n);
/* Every x[0..n) finite (RT_ERR_NONFINITE naming the first bad index). */
rt_status rt_metric_check_finite(const char *what, const char *arr, const float *x, int64_t n);
/* Every v[0..n) in [0, hi) (RT_ERR_ARG naming the first bad index). */
rt_status rt_metric_check_range(const char *what, const char *arr, const int32_t *v, int64_t n, int64_t hi);

#endif
