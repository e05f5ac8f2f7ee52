/*
 * qgemm.c - integer matrix products (src/quant/qgemm.h) on every path the
 * CPU has, against OpenBLAS SGEMM on the same shapes: median times, GOP/s
 * (2 M N K / t; one multiply-add = 2 ops, as GFLOP/s counts SGEMM), and
 * validation: each path's int8 output bit-equal to the C path's, q4 within
 * float rounding of it. The times include the per-row activation
 * quantisation, as in inference. --cpu times process CPU time instead of
 * wall time (with --threads 1, a figure that a loaded machine disturbs less).
 * Usage: qgemm [--runs N] [--threads N] [--cpu]
 */
#include "../bench/bench.h"
#include "core/threads.h"
#include "quant/qgemm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static bool use_cpu;

/* bench_median_ms over wall time, or CPU time with --cpu */
static double median_ms(void (*fn)(void *), void *ctx, int warm, int runs)
{
    return bench_median_ms_on(use_cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, fn, ctx, warm, runs);
}

struct ctx {
    enum rt_qpath path;
    const rt_qmat *w;
    const float *x, *wf;
    float *y;
    int8_t *a;
    float *as;
    int64_t M, N, K;
};

static void run_q(void *p)
{
    struct ctx *c = p;
    rt_quant_act(c->a, c->as, c->x, c->M, c->w);
    rt_qgemm_on(c->path, c->y, c->a, c->as, c->w, NULL, c->M);
}

static void run_sgemm(void *p)
{
    struct ctx *c = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c->M, (int)c->N, (int)c->K, 1.f, c->x, (int)c->K, c->wf,
                (int)c->K, 0.f, c->y, (int)c->N);
}

int main(int argc, char **argv)
{
    int runs = 21;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cpu")) use_cpu = true;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) rt_threads_set(atoi(argv[++i]));
    }
    if (runs < 1 || runs > BENCH_MAX_RUNS) runs = 21;
    /* (M, N, K): the MobileViT-S student's linear layers at batch 1 (197 tokens), a batch-1 head, a bigger batch */
    static const int64_t shapes[][3] = {{197, 1152, 384}, {197, 384, 384}, {197, 384, 1152}, {1, 1152, 384},
                                        {1, 128, 784},    {1576, 1152, 384}};
    printf("qgemm: %d threads, median %s of %d runs (activation quantisation included)\n", rt_threads_get(),
           use_cpu ? "CPU time" : "wall time", runs);
    printf("%-18s %-6s %10s %10s %9s  %s\n", "M x N x K", "kernel", "ms", "GOP/s", "vs sgemm", "check");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *x = malloc((size_t)(M * K) * 4), *wf = malloc((size_t)(N * K) * 4);
        float *y = malloc((size_t)(M * N) * 4), *yc = malloc((size_t)(M * N) * 4), *as = malloc((size_t)M * 4);
        for (int64_t i = 0; i < M * K; i++) x[i] = sinf((float)i * 0.37f);
        for (int64_t i = 0; i < N * K; i++) wf[i] = 0.05f * cosf((float)i * 0.11f);
        char name[32];
        snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)M, (long long)N, (long long)K);
        struct ctx c = {.x = x, .wf = wf, .y = y, .as = as, .M = M, .N = N, .K = K};
        double ops = 2.0 * (double)(M * N * K), ts = median_ms(run_sgemm, &c, 3, runs);
        printf("%-18s %-6s %10.3f %10.1f %9s\n", name, "sgemm", ts, ops / ts * 1e-6, "1.00x");
        for (int bits = 8; bits >= 4; bits -= 4) {
            if (bits == 4 && K % RT_Q4_BLOCK) {
                printf("%-18s %-6s %10s   (K not a multiple of 32: int8 rows in q4 files)\n", name, "q4", "-");
                continue;
            }
            rt_qmat w;
            if (rt_qmat_from_f32(&w, bits, wf, N, K) != RT_OK) return fprintf(stderr, "%s\n", rt_errmsg()), 1;
            c.w = &w;
            c.a = malloc(rt_qact_bytes(&w, M));
            for (int p = 0; p < RT_QPATH_COUNT; p++) {
                c.path = (enum rt_qpath)p;
                if (!rt_qpath_available(c.path)) {
                    printf("%-18s %-6s %10s   (not available on this CPU)\n", name, rt_qpath_name(c.path), "-");
                    continue;
                }
                c.y = p == 0 ? yc : y;
                double t = median_ms(run_q, &c, 2, p == 0 ? (runs + 4) / 5 : runs);
                double err = 0, mag = 0;
                for (int64_t i = 0; p && i < M * N; i++) err = fmax(err, fabs(y[i] - yc[i])), mag = fmax(mag, fabs(yc[i]));
                const char *ok = !p ? "reference" : bits == 8 ? (err == 0 ? "= c, bit for bit" : "DIFFERS from c")
                                                               : (err <= 1e-5 * mag ? "= c within 1e-5" : "DIFFERS from c");
                char lbl[16];
                snprintf(lbl, sizeof lbl, "%s%s", bits == 8 ? "i8-" : "q4-", rt_qpath_name(c.path));
                printf("%-18s %-6s %10.3f %10.1f %8.2fx  %s\n", name, lbl, t, ops / t * 1e-6, ts / t, ok);
                if (strstr(ok, "DIFFERS")) return 1;
            }
            free(c.a);
            rt_qmat_free(&w);
        }
        free(x), free(wf), free(y), free(yc), free(as);
    }
    return 0;
}
