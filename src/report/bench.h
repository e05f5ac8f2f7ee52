/*
 * bench.h - `retort bench`: how fast and how large a model is on this
 * machine. Per model: load time, batch-1 latency percentiles, throughput at
 * a chosen batch, peak resident memory and parameter bytes.
 *
 *     rt_bench_opts o = rt_bench_defaults();        // 50 runs, 5 warm-up, batch 32
 *     rt_bench_result r[2];
 *     if (rt_bench_model_isolated(&r[0], "teacher.safetensors", &o) != RT_OK) ... rt_errmsg();
 *     if (rt_bench_model_isolated(&r[1], "student.safetensors", &o) != RT_OK) ... rt_errmsg();
 *     rt_bench_relate(r, 2);                        // speedups relative to r[0]
 *     rt_bench_print(stdout, r, 2, &o);  cJSON *j = rt_bench_json(r, 2, &o);
 *
 * Method. The model is opened with rt_model_open (a config is initialised
 * from the seed; a model file is loaded): that wall time is load_ms. The
 * input tap is filled with N(0,1) values from the seed (the same input every
 * run and for every model of the same input shape). Latency: `warmup`
 * untimed forward passes at batch 1 (eval mode, inference plan), then `runs`
 * timed ones; p50/p90/p99 are nearest-rank percentiles of those runs.
 * Throughput: the same at `batch`, `batch_warmup` + `batch_runs` runs,
 * batch / median time. Parameter bytes: the bytes of every parameter and
 * buffer as held in memory (FP32: 4 per value); file bytes: the size of a
 * model file as given (what a quantized file saves shows here), 0 for a
 * config.
 *
 * Peak memory: VmHWM ("peak resident set size") of /proc/self/status.
 * rt_bench_model_isolated runs each model in a forked child process whose
 * high-water mark is reset first (writing "5" to /proc/self/clear_refs), so
 * one model's peak never carries into the next; the figure includes the
 * process's own baseline (libraries, a few MiB), reported as rss_base.
 * Fork before this process has run any OpenMP or OpenBLAS parallel work
 * (the CLI does): a child of a process with a live thread pool may hang.
 */
#ifndef RT_REPORT_BENCH_H
#define RT_REPORT_BENCH_H

#include "core/error.h"

#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

typedef struct rt_bench_opts {
    int runs, warmup;             /* batch-1 latency: timed runs (>= 1), warm-up runs */
    int64_t batch;                /* throughput batch (>= 1) */
    int batch_runs, batch_warmup; /* throughput: timed runs (>= 1), warm-up runs */
    uint64_t seed;                /* input values; weights of a config */
} rt_bench_opts;

typedef struct rt_bench_result {
    char path[512];
    char name[128];
    char input[64];               /* per-sample input shape, e.g. "3x224x224" */
    double load_ms;
    double p50_ms, p90_ms, p99_ms, mean_ms; /* batch 1 */
    double batch_ms;              /* median time of one batch */
    double throughput;            /* samples/s at opts.batch */
    int64_t params;               /* parameter + buffer values */
    int64_t param_bytes;          /* their bytes in memory */
    int64_t file_bytes;           /* size of a model file; 0 for a config */
    int64_t rss_peak;             /* bytes, VmHWM of the measuring process */
    int64_t rss_base;             /* bytes, VmRSS of the measuring process before loading */
    double speedup;               /* p50 of the first model / this p50 (rt_bench_relate) */
    double throughput_speedup;    /* this throughput / the first model's */
    double size_ratio;            /* the first model's param_bytes / this param_bytes */
} rt_bench_result;

rt_bench_opts rt_bench_defaults(void);
/* Check the options (runs and batch in range); an error names the option. */
rt_status rt_bench_check_opts(const rt_bench_opts *o);
/* Measure one model in this process (rss fields: this process's VmHWM,
 * which includes whatever ran before). */
rt_status rt_bench_model(rt_bench_result *r, const char *path, const rt_bench_opts *o);
/* The same in a forked child with a fresh high-water mark (see above). */
rt_status rt_bench_model_isolated(rt_bench_result *r, const char *path, const rt_bench_opts *o);
/* Fill speedup, throughput_speedup and size_ratio relative to r[0]. */
void rt_bench_relate(rt_bench_result *r, int n);
/* Nearest-rank percentile (0 < p <= 100) of n sorted values. */
double rt_bench_percentile(const double *sorted, int n, double p);

void rt_bench_print(FILE *f, const rt_bench_result *r, int n, const rt_bench_opts *o, int threads);
/* One object: settings, the memory method, and "models": [...]. NULL when out of memory. */
cJSON *rt_bench_json(const rt_bench_result *r, int n, const rt_bench_opts *o, int threads);

#endif
