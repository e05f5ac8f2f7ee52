/*
 * bench/ops.c - per-op timings at the sizes our models run: ViT-B/16
 * (teacher: 768 wide, 12 heads, 197 tokens), the student (384 wide,
 * 6 heads) and the conv shapes of MobileViT-style stems and blocks.
 *
 *     build/bench/ops [--threads N] [--quick] [--runs N]
 *
 * Each row builds a one-op graph (training plan), fills it with random
 * values, then times the op's forward (and backward) kernel through the op
 * table: median wall time over N runs after warm-up. GFLOP/s use the
 * conventions printed under the table; "x sgemm" is that rate over the
 * rate of a plain OpenBLAS SGEMM (1024^3) measured in the same run. An op
 * whose graph build fails (not implemented yet, or a shape error) prints
 * "n/a". OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are reported, never set.
 */
#include "core/graph.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/threads.h"

#include "bench.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int g_runs = 20, g_warm = 3;

/* Median ms of fn(ctx) over g_runs runs after g_warm warm-up runs. */
static double time_median(void (*fn)(void *), void *ctx) { return bench_median_ms(fn, ctx, g_warm, g_runs); }

/* ---- the SGEMM reference ---- */

struct sgemm_ctx { int n; float *a, *b, *c; };

static void run_sgemm(void *p)
{
    struct sgemm_ctx *s = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->n, s->n, s->n, 1.f, s->a, s->n, s->b, s->n, 0.f, s->c,
                s->n);
}

static double sgemm_reference(int n, double *ms)
{
    size_t nn = (size_t)n * (size_t)n;
    struct sgemm_ctx s = {n, malloc(nn * sizeof(float)), malloc(nn * sizeof(float)), malloc(nn * sizeof(float))};
    if (!s.a || !s.b || !s.c) {
        fprintf(stderr, "ops: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nn; i++) {
        s.a[i] = rt_rng_uniform(1, 1, 0, i) - 0.5f;
        s.b[i] = rt_rng_uniform(1, 2, 0, i) - 0.5f;
    }
    *ms = time_median(run_sgemm, &s);
    free(s.a);
    free(s.b);
    free(s.c);
    return 2.0 * n * n * (double)n / (*ms * 1e6);
}

/* ---- one-op graphs ---- */

/* A bench case: build() adds leaves and the op to g and returns the op's
 * node (NULL on a build error). flops_fwd/bwd: the counting convention. */
struct bcase {
    const char *op, *shape;
    rt_node *(*build)(rt_graph *g, const int64_t *v);
    int64_t v[8];
    double flops_fwd, flops_bwd;
};

static rt_node *input(rt_graph *g, const char *name, int nd, const int64_t *shape, bool grad)
{
    rt_node *x = rt_input(g, name, nd, shape);
    if (x && grad) rt_input_requires_grad(x);
    return x;
}

static rt_node *weight(rt_graph *g, const char *name, int nd, const int64_t *shape)
{
    return rt_param(g, name, nd, shape, rt_init_normal(0.02f));
}

/* v: M, K, N */
static rt_node *b_linear(rt_graph *g, const int64_t *v)
{
    return rt_linear(g, input(g, "x", RT_DIMS(v[0], v[1]), true), weight(g, "w", RT_DIMS(v[2], v[1])),
                     weight(g, "b", RT_DIMS(v[2])));
}

/* v: B, T, C, heads */
static rt_node *b_attention(rt_graph *g, const int64_t *v)
{
    int64_t C = v[2];
    return rt_attention(g, input(g, "x", RT_DIMS(v[0], v[1], C), true), weight(g, "w_qkv", RT_DIMS(3 * C, C)),
                        weight(g, "b_qkv", RT_DIMS(3 * C)), weight(g, "w_o", RT_DIMS(C, C)),
                        weight(g, "b_o", RT_DIMS(C)), (int)v[3]);
}

/* v: rows, C */
static rt_node *b_layer_norm(rt_graph *g, const int64_t *v)
{
    return rt_layer_norm(g, input(g, "x", RT_DIMS(v[0], v[1]), true),
                         rt_param(g, "w", RT_DIMS(v[1]), rt_init_ones()), weight(g, "b", RT_DIMS(v[1])), 1e-6f);
}

/* v: B, C, H(=W), OC, K, stride, pad, groups; the input needs a gradient unless it is the image (C == 3) */
static rt_node *b_conv(rt_graph *g, const int64_t *v)
{
    struct rt_conv2d_args a = {(int)v[5], (int)v[5], (int)v[6], (int)v[6], (int)v[7]};
    return rt_conv2d(g, input(g, "x", RT_DIMS(v[0], v[1], v[2], v[2]), v[1] != 3),
                     weight(g, "w", RT_DIMS(v[3], v[1] / v[7], v[4], v[4])), weight(g, "b", RT_DIMS(v[3])), a);
}

struct run_ctx { rt_graph *g; rt_node *y; };

static void run_forward(void *p)
{
    struct run_ctx *r = p;
    rt_op_table[r->y->op].forward(r->g, r->y);
}

static void run_backward(void *p)
{
    struct run_ctx *r = p;
    rt_op_table[r->y->op].backward(r->g, r->y);
}

static void fill_inputs(rt_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        if (n->op != RT_OP_INPUT) continue;
        float *x = rt_data(n);
        int64_t N = rt_numel(n);
#pragma omp parallel for
        for (int64_t j = 0; j < N; j++) x[j] = 2.f * rt_rng_uniform(7, (uint32_t)i, 0, (uint64_t)j) - 1.f;
    }
}

static void print_row(const char *op, const char *shape, const char *pass, double ms, double flops, double ref)
{
    if (ms < 0) {
        printf("%-22s %-30s %-4s %10s %9s %8s\n", op, shape, pass, "n/a", "", "");
        return;
    }
    double gf = flops / (ms * 1e6);
    printf("%-22s %-30s %-4s %10.3f %9.1f %8.2f\n", op, shape, pass, ms, gf, gf / ref);
}

static void bench_case(const struct bcase *c, double ref)
{
    rt_graph *g = NULL;
    rt_params *p = rt_params_new();
    if (p) g = rt_graph_new(p);
    rt_node *y = g ? c->build(g, c->v) : NULL;
    if (!y || rt_graph_plan(g, RT_PLAN_TRAIN) != RT_OK) {
        printf("%-22s %-30s %-4s %10s   (%s)\n", c->op, c->shape, "", "n/a", "not implemented or failed to build");
        fprintf(stderr, "    %s: %s\n", c->op, g ? rt_errmsg() : "out of memory");
        goto done;
    }
    rt_params_init(p, 1);
    fill_inputs(g);
    struct run_ctx np = {g, y};
    print_row(c->op, c->shape, "fwd", time_median(run_forward, &np), c->flops_fwd, ref);
    fflush(stdout);
    /* one full backward to seed y's gradient and zero the rest, then time the op's own backward */
    float *dy = malloc((size_t)rt_numel(y) * sizeof *dy);
    if (!dy) goto done;
    for (int64_t i = 0; i < rt_numel(y); i++) dy[i] = rt_rng_uniform(9, 0, 0, (uint64_t)i) - 0.5f;
    if (rt_graph_backward_seed(g, y, dy) == RT_OK)
        print_row(c->op, c->shape, "bwd", time_median(run_backward, &np), c->flops_bwd, ref);
    else
        print_row(c->op, c->shape, "bwd", -1, 0, ref);
    free(dy);
done:
    fflush(stdout);
    rt_graph_free(g);
    rt_params_free(p);
}

/* ---- the rows ---- */

#define NB 8    /* batch */
#define NT 197  /* tokens: 14 x 14 patches + cls */

static double gemm_f(double M, double K, double N) { return 2 * M * K * N; }
/* qkv + output projection (8 B T C^2) + scores and P v (4 B T^2 C) */
static double attn_f(double B, double T, double C) { return 8 * B * T * C * C + 4 * B * T * T * C; }
/* 2 flops per multiply-add over the output: 2 B OC OH OW (C/groups) K^2 */
static double conv_f(const int64_t *v)
{
    double oh = (double)((v[2] + 2 * v[6] - v[4]) / v[5] + 1);
    return 2.0 * v[0] * v[3] * oh * oh * (double)(v[1] / v[7]) * v[4] * v[4];
}

static int make_cases(struct bcase *cs)
{
    int n = 0;
    const int64_t M = NB * NT;
    /* GEMM rows: linear forward 2MKN; backward dx + dw = 4MKN */
    static const struct { const char *op, *shape; int64_t K, N; } lin[] = {
        {"linear qkv (ViT-B)", "1576 x 768 -> 2304", 768, 2304},
        {"linear mlp1 (ViT-B)", "1576 x 768 -> 3072", 768, 3072},
        {"linear mlp2 (ViT-B)", "1576 x 3072 -> 768", 3072, 768},
        {"linear proj (ViT-B)", "1576 x 768 -> 768", 768, 768},
        {"linear qkv (student)", "1576 x 384 -> 1152", 384, 1152},
        {"linear mlp1 (student)", "1576 x 384 -> 1536", 384, 1536},
        {"linear proj (student)", "1576 x 384 -> 384", 384, 384},
    };
    for (size_t i = 0; i < sizeof lin / sizeof lin[0]; i++)
        cs[n++] = (struct bcase){lin[i].op, lin[i].shape, b_linear, {M, lin[i].K, lin[i].N},
                                 gemm_f((double)M, (double)lin[i].K, (double)lin[i].N),
                                 2 * gemm_f((double)M, (double)lin[i].K, (double)lin[i].N)};
    cs[n++] = (struct bcase){"attention (ViT-B)", "B8 T197 C768 h12", b_attention, {NB, NT, 768, 12},
                             attn_f(NB, NT, 768), 2 * attn_f(NB, NT, 768)};
    cs[n++] = (struct bcase){"attention (student)", "B8 T197 C384 h6", b_attention, {NB, NT, 384, 6},
                             attn_f(NB, NT, 384), 2 * attn_f(NB, NT, 384)};
    /* layer norm: nominal 8 flops/element forward, 16 backward (memory-bound) */
    cs[n++] = (struct bcase){"layer_norm (ViT-B)", "1576 x 768", b_layer_norm, {M, 768}, 8.0 * M * 768,
                             16.0 * M * 768};
    cs[n++] = (struct bcase){"layer_norm (student)", "1576 x 384", b_layer_norm, {M, 384}, 8.0 * M * 384,
                             16.0 * M * 384};
    static const struct { const char *op, *shape; int64_t v[8]; } cv[] = {
        {"conv patch-embed", "8x3x224^2 -> 768 k16 s16", {NB, 3, 224, 768, 16, 16, 0, 1}},
        {"conv dw16 (3 ch)", "8x3x224^2 k16 s16 g3", {NB, 3, 224, 3, 16, 16, 0, 3}},
        {"conv dw3x3", "8x96x56^2 k3 s1 p1 g96", {NB, 96, 56, 96, 3, 1, 1, 96}},
        {"conv 1x1", "8x96x28^2 -> 384", {NB, 96, 28, 384, 1, 1, 0, 1}},
    };
    for (size_t i = 0; i < sizeof cv / sizeof cv[0]; i++) {
        struct bcase c = {cv[i].op, cv[i].shape, b_conv, {0}, conv_f(cv[i].v), 0};
        memcpy(c.v, cv[i].v, sizeof c.v);
        c.flops_bwd = (cv[i].v[1] == 3 ? 1 : 2) * c.flops_fwd; /* no dx for the image */
        cs[n++] = c;
    }
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: ops [--threads N] [--quick] [--runs N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            int t = atoi(argv[++i]);
            if (t < 1) usage();
            rt_threads_set(t);
        } else if (!strcmp(argv[i], "--quick")) {
            g_runs = 3;
            g_warm = 1;
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            g_runs = atoi(argv[++i]);
            if (g_runs < 1 || g_runs > BENCH_MAX_RUNS) usage();
        } else {
            usage();
        }
    }
    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    printf("retort op benchmark: OpenBLAS core %s, %d threads, OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s\n",
           rt_blas_corename(), rt_threads_get(), ct ? ct : "(unset)", l2 ? l2 : "(unset)");
    double load[1] = {-1};
    if (getloadavg(load, 1) < 1) load[0] = -1;
    printf("median of %d runs after %d warm-up; load average %.2f at start (other work on the cores skews times)\n\n",
           g_runs, g_warm, load[0]);
    double ref_ms, ref = sgemm_reference(1024, &ref_ms);
    printf("%-22s %-30s %-4s %10s %9s %8s\n", "op", "shape", "pass", "median ms", "GFLOP/s", "x sgemm");
    printf("%-22s %-30s %-4s %10.3f %9.1f %8.2f\n", "sgemm (reference)", "1024 x 1024 x 1024", "", ref_ms, ref, 1.0);
    struct bcase cs[32];
    int n = make_cases(cs);
    for (int i = 0; i < n; i++) bench_case(&cs[i], ref);
    printf("\nFLOPs: GEMM/linear 2MKN forward, 4MKN backward (dx + dw; bias not counted).\n"
           "attention: 8BTC^2 (qkv + output projection) + 4BT^2C (q k^T and P v) forward, twice that\n"
           "  backward; softmax not counted. conv2d: 2 B OC OH OW (C/groups) K^2 forward, twice that\n"
           "  backward (dx + dw), once when the input is the image (no dx). layer norm: nominal\n"
           "  8 flops/element forward, 16 backward (memory-bound; GFLOP/s is only indicative).\n"
           "x sgemm = GFLOP/s / the 1024^3 cblas_sgemm rate above. Times are the op kernels alone\n"
           "(forward and backward through the op table), not the graph's gradient zeroing.\n");
    return 0;
}
