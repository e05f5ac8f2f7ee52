/*
 * bench/model_step.c - a whole model's inference and training step, with a
 * per-op time profile: where does a step go?
 *
 *     build/bench/model_step CONFIG|MODEL [--batch N] [--runs N] [--threads N] [--top K]
 *
 * Builds the model's graphs at the batch size (inference plan and training
 * plan), fills the input with N(0,1) values, and times: forward in eval mode
 * (inference plan, with its fusions, and alternating with it the same plan
 * unfused: what the fusions buy), and forward + backward in training mode from a fixed
 * random upstream gradient at the output (no loss, no optimizer: the graph's
 * own work). Median wall time over the runs after warm-up, samples/s, and
 * GFLOP/s from the MAC count (FLOPs = 2 x MACs; backward counted as 2x
 * forward). Then the top K op types by share of the training step, from the
 * graph's per-node profile (a separate profiled run, so the medians above
 * carry no timing overhead).
 */
#include "bench.h"

#include "core/graph.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/threads.h"
#include "models/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void fill_normal(float *x, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) x[i] = rt_rng_normal(seed, 0, 0, (uint64_t)i);
}

struct step {
    rt_graph *g;
    rt_node *out;
    float *dout;
    bool train;
};

static void run_step(void *p)
{
    struct step *s = p;
    rt_graph_forward(s->g);
    if (s->train) {
        rt_params_zero_grad(s->g->params);
        rt_graph_backward_seed(s->g, s->out, s->dout);
    }
}

/* fuse: inference fusions on (the default plan) or off (the ops one by one) */
static struct step make_step(rt_model *m, int64_t batch, bool train, bool fuse)
{
    struct step s = {rt_model_build(m, batch), NULL, NULL, train};
    if (s.g) rt_graph_set_fusion(s.g, fuse);
    if (s.g && rt_graph_plan(s.g, train ? RT_PLAN_TRAIN : RT_PLAN_INFER) != RT_OK) {
        rt_graph_free(s.g);
        s.g = NULL;
    }
    if (!s.g) {
        fprintf(stderr, "model_step: %s\n", rt_errmsg());
        exit(1);
    }
    rt_graph_set_training(s.g, train);
    rt_node *x = rt_graph_tap(s.g, "input");
    s.out = rt_graph_tap(s.g, "output");
    fill_normal(rt_data(x), rt_numel(x), 7);
    s.dout = malloc((size_t)rt_numel(s.out) * sizeof(float));
    fill_normal(s.dout, rt_numel(s.out), 8);
    return s;
}

/* Per-op-type seconds of one profiled training step, largest first. */
static void profile(struct step *s, int top)
{
    double fwd[RT_OP_COUNT] = {0}, bwd[RT_OP_COUNT] = {0}, total = 0;
    int order[RT_OP_COUNT];
    rt_graph_profile(s->g, true);
    run_step(s);
    for (int i = 0; i < s->g->n_nodes; i++) {
        int op = s->g->nodes[i]->op;
        fwd[op] += s->g->prof[2 * i];
        bwd[op] += s->g->prof[2 * i + 1];
        total += s->g->prof[2 * i] + s->g->prof[2 * i + 1];
    }
    for (int i = 0; i < RT_OP_COUNT; i++) order[i] = i;
    for (int i = 0; i < RT_OP_COUNT; i++) /* selection sort by total time: the table is small */
        for (int j = i + 1; j < RT_OP_COUNT; j++)
            if (fwd[order[j]] + bwd[order[j]] > fwd[order[i]] + bwd[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    printf("\nprofile of one training step (%.1f ms in ops):\n%-18s %10s %10s %7s\n", total * 1e3, "op", "fwd ms",
           "bwd ms", "share");
    for (int k = 0; k < top && k < RT_OP_COUNT; k++) {
        int op = order[k];
        if (fwd[op] + bwd[op] <= 0) break;
        printf("%-18s %10.2f %10.2f %6.1f%%\n", rt_op_name(op), fwd[op] * 1e3, bwd[op] * 1e3,
               100 * (fwd[op] + bwd[op]) / total);
    }
    rt_graph_profile(s->g, false);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long batch = 32, runs = 10, top = 12;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atol(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) rt_threads_set(atoi(argv[++i]));
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: model_step CONFIG|MODEL [--batch N] [--runs N] [--threads N] [--top K]\n");
            return 2;
        }
    }
    if (!path || batch < 1 || runs < 1 || runs > BENCH_MAX_RUNS) {
        fprintf(stderr, "usage: model_step CONFIG|MODEL [--batch N] [--runs 1..%d] [--threads N] [--top K]\n",
                BENCH_MAX_RUNS);
        return 2;
    }
    rt_model *m;
    if (rt_model_open(&m, path, 1) != RT_OK) {
        fprintf(stderr, "model_step: %s\n", rt_errmsg());
        return 1;
    }
    if (m->qw) { /* integer weights: rt_model_graph applies them to inference plans */
        fprintf(stderr, "model_step: %s is a quantized file; use retort bench\n", path);
        return 2;
    }
    struct step inf = make_step(m, batch, false, true), unf = make_step(m, batch, false, false),
                tr = make_step(m, batch, true, true);
    int64_t macs = 0;
    for (int i = 0; i < inf.g->n_nodes; i++) macs += rt_node_macs(inf.g->nodes[i]);
    /* fused and unfused inference alternate in 5 rounds (the machine is noisy): medians of the round medians */
    double rf[5], ru[5];
    for (int r = 0; r < 5; r++) {
        rf[r] = bench_median_ms(run_step, &inf, 1, (int)(runs + 4) / 5);
        ru[r] = bench_median_ms(run_step, &unf, 1, (int)(runs + 4) / 5);
    }
    qsort(rf, 5, sizeof rf[0], bench_cmp_double);
    qsort(ru, 5, sizeof ru[0], bench_cmp_double);
    double ti = rf[2], tu = ru[2], tt = bench_median_ms(run_step, &tr, 2, (int)runs);
    printf("%s: batch %ld, %d threads, median of %ld runs\n", m->name, batch, rt_threads_get(), runs);
    printf("  inference      %9.2f ms  %9.1f samples/s  %7.1f GFLOP/s\n", ti, batch * 1e3 / ti,
           2.0 * (double)macs / ti * 1e-6);
    printf("  unfused        %9.2f ms  %9.1f samples/s  (fusions: %.2fx; 5 alternating rounds)\n", tu,
           batch * 1e3 / tu, tu / ti);
    printf("  training step  %9.2f ms  %9.1f samples/s  %7.1f GFLOP/s (fwd + bwd, no optimizer)\n", tt,
           batch * 1e3 / tt, 6.0 * (double)macs / tt * 1e-6);
    profile(&tr, (int)top);
    free(inf.dout);
    free(unf.dout);
    free(tr.dout);
    rt_graph_free(unf.g);
    rt_graph_free(inf.g);
    rt_graph_free(tr.g);
    rt_model_free(m);
    return 0;
}
