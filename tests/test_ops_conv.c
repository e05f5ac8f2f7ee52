/*
 * test_ops_conv.c - conv2d (general, grouped, 1x1, patchify, depthwise),
 * avg_pool2d, max_pool2d, global_avg_pool: PyTorch parity (fixtures from
 * tests/fixtures/fx_conv.py), finite-difference gradient checks, shape
 * errors, and thread-count independence.
 *
 * conv2d picks its schedule when the node is built, from the thread count
 * then: every conv case is built and checked once with 1 thread (serial
 * over the batch) and once with 2 (one column buffer per thread).
 */
#include "testutil.h"

#include "core/threads.h"

#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_conv.safetensors"
static tu_fixture fx;
static int default_threads;

static int setup(void **state)
{
    (void)state;
    default_threads = rt_threads_get();
    tu_fixture_open(&fx, FIX);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rt_threads_set(default_threads);
    tu_fixture_close(&fx);
    return 0;
}

/* Run parity and gradcheck on a built graph, then free it. */
static void check(rt_graph *g, rt_node *y, const char *name) { tu_check_op(g, y, &fx, name, NULL); }

struct conv_case {
    const char *name;
    int sh, sw, ph, pw, groups;
    bool bias;
};

static const struct conv_case conv_cases[] = {
    {"conv_3x3", 1, 1, 1, 1, 1, true},
    {"conv_s2_odd", 2, 2, 1, 1, 1, true},
    {"conv_groups2", 1, 1, 1, 1, 2, true},
    {"conv_rect", 2, 1, 1, 0, 1, true},
    {"conv_big_pad", 1, 2, 2, 2, 1, false},
    {"conv_1x1", 1, 1, 0, 0, 1, true},
    {"conv_1x1_g", 1, 1, 0, 0, 2, false},
    {"patchify", 16, 16, 0, 0, 1, true},
    {"patch_rect", 2, 3, 0, 0, 1, true},
    {"patch_g2", 4, 4, 0, 0, 2, true},
    {"dw_3x3_s2", 2, 2, 1, 1, 4, true},
    {"dw_3x3_s1", 1, 1, 1, 1, 4, false},
    {"dw_5x5", 1, 1, 2, 2, 3, true},
    {"dw_3x3_s3", 3, 3, 1, 1, 2, true},
    {"dw_mult2", 1, 1, 1, 1, 3, true},
    {"dw_patch4", 4, 4, 0, 0, 3, true},
    {"dw_patch4_nobias", 4, 4, 0, 0, 3, false},
};

static rt_node *build_conv(rt_graph *g, const struct conv_case *c)
{
    struct rt_conv2d_args a = {c->sh, c->sw, c->ph, c->pw, c->groups};
    rt_node *x = tu_input(g, &fx, c->name, "x"), *w = tu_param(g, &fx, c->name, "w");
    rt_node *b = c->bias ? tu_param(g, &fx, c->name, "b") : NULL;
    return rt_conv2d(g, x, w, b, a);
}

static void test_conv2d(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        rt_threads_set(threads);
        printf("  -- %d thread(s)\n", threads);
        for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
            rt_graph *g = tu_graph_new();
            check(g, build_conv(g, &conv_cases[i]), conv_cases[i].name);
        }
    }
    rt_threads_set(default_threads);
}

/* With 2 threads a small GEMM conv takes the per-thread-buffer schedule, with
 * 1 the serial one: their workspaces differ, so both paths above really ran. */
static void test_conv2d_schedules(void **state)
{
    (void)state;
    size_t work[2];
    for (int threads = 1; threads <= 2; threads++) {
        rt_threads_set(threads);
        rt_graph *g = tu_graph_new();
        rt_node *y = build_conv(g, &conv_cases[0]);
        assert_non_null(y);
        work[threads - 1] = y->n_work;
        tu_graph_free(g);
    }
    rt_threads_set(default_threads);
    printf("    conv_3x3 workspace: %zu floats (1 thread), %zu (2 threads)\n", work[0], work[1]);
    assert_true(work[0] > 0);
    assert_true(work[1] > 2 * work[0]);
}

static void test_pools(void **state)
{
    (void)state;
    static const struct { const char *name; bool max; struct rt_pool2d_args a; } cs[] = {
        {"avgpool_3s2p1", false, {3, 3, 2, 2, 1, 1}}, {"avgpool_2s2", false, {2, 2, 2, 2, 0, 0}},
        {"avgpool_rect", false, {2, 3, 1, 2, 1, 1}},  {"maxpool_3s2p1", true, {3, 3, 2, 2, 1, 1}},
        {"maxpool_2s2", true, {2, 2, 2, 2, 0, 0}},    {"maxpool_rect", true, {2, 3, 1, 2, 1, 1}},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        rt_graph *g = tu_graph_new();
        rt_node *x = tu_input(g, &fx, cs[i].name, "x");
        check(g, cs[i].max ? rt_max_pool2d(g, x, cs[i].a) : rt_avg_pool2d(g, x, cs[i].a), cs[i].name);
    }
    rt_graph *g = tu_graph_new();
    check(g, rt_global_avg_pool(g, tu_input(g, &fx, "gap", "x")), "gap");
}

/* Build y = op(x) expecting a shape error that names the op and x's shape. */
static void test_shape_errors(void **state)
{
    (void)state;
    struct rt_conv2d_args s1 = {1, 1, 1, 1, 1}, g2 = {1, 1, 1, 1, 2}, s0 = {0, 1, 0, 0, 1};
    rt_graph *g = tu_graph_new();
    tu_expect_build_error(g, rt_conv2d(g, rt_input(g, "x", RT_DIMS(2, 3, 8, 8)),
                              rt_param(g, "w", RT_DIMS(4, 1, 3, 3), rt_init_zeros()), NULL, g2),
                 "conv2d", "groups 2 must divide");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_conv2d(g, rt_input(g, "x", RT_DIMS(2, 4, 8, 8)),
                              rt_param(g, "w", RT_DIMS(4, 3, 3, 3), rt_init_zeros()), NULL, s1),
                 "conv2d", "(4, 3, 3, 3) does not fit x (2, 4, 8, 8)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_conv2d(g, rt_input(g, "x", RT_DIMS(2, 4, 8, 8)),
                              rt_param(g, "w", RT_DIMS(6, 4, 3, 3), rt_init_zeros()),
                              rt_param(g, "b", RT_DIMS(5), rt_init_zeros()), s1),
                 "conv2d", "bias (5)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_conv2d(g, rt_input(g, "x", RT_DIMS(1, 1, 4, 4)),
                              rt_param(g, "w", RT_DIMS(1, 1, 7, 7), rt_init_zeros()), NULL, s1),
                 "conv2d", "larger than x (1, 1, 4, 4)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_conv2d(g, rt_input(g, "x", RT_DIMS(3, 8, 8)),
                              rt_param(g, "w", RT_DIMS(4, 3, 3, 3), rt_init_zeros()), NULL, s1),
                 "conv2d", "(3, 8, 8)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_conv2d(g, rt_input(g, "x", RT_DIMS(1, 3, 8, 8)),
                              rt_param(g, "w", RT_DIMS(4, 3, 3, 3), rt_init_zeros()), NULL, s0),
                 "conv2d", "stride (0, 1)");

    struct rt_pool2d_args k5 = {5, 5, 1, 1, 0, 0}, p2 = {3, 3, 1, 1, 2, 1}, k2 = {2, 2, 2, 2, 0, 0};
    g = tu_graph_new();
    tu_expect_build_error(g, rt_max_pool2d(g, rt_input(g, "x", RT_DIMS(1, 2, 4, 6)), k5), "max_pool2d",
                 "larger than x (1, 2, 4, 6)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_avg_pool2d(g, rt_input(g, "x", RT_DIMS(1, 2, 6, 6)), p2), "avg_pool2d",
                 "at most half the kernel");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_avg_pool2d(g, rt_input(g, "x", RT_DIMS(2, 6, 6)), k2), "avg_pool2d", "(2, 6, 6)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_global_avg_pool(g, rt_input(g, "x", RT_DIMS(2, 6))), "global_avg_pool", "(2, 6)");
}

/* A graph with one node of each path on shared random inputs; "cl" is large
 * enough for the serial schedule (OpenBLAS threads inside its GEMMs). */
#define N_OUTS 9
static const char *mix_tags[N_OUTS] = {"c3", "cl", "c1", "cp", "cd", "avg", "max", "gap", "chain"};

static void build_mix(rt_graph *g, rt_node **outs, rt_node **xs)
{
    rt_node *x = xs[0] = rt_input(g, "x", RT_DIMS(3, 8, 20, 20));
    rt_node *xl = xs[1] = rt_input(g, "xl", RT_DIMS(2, 32, 32, 32));
    rt_input_requires_grad(x);
    rt_input_requires_grad(xl);
    rt_node *w3 = rt_param(g, "w3", RT_DIMS(16, 8, 3, 3), rt_init_uniform(0.1f));
    rt_node *b3 = rt_param(g, "b3", RT_DIMS(16), rt_init_uniform(0.1f));
    rt_node *wl = rt_param(g, "wl", RT_DIMS(64, 32, 3, 3), rt_init_uniform(0.05f));
    rt_node *w1 = rt_param(g, "w1", RT_DIMS(12, 8, 1, 1), rt_init_uniform(0.3f));
    rt_node *wp = rt_param(g, "wp", RT_DIMS(6, 8, 4, 4), rt_init_uniform(0.1f));
    rt_node *wd = rt_param(g, "wd", RT_DIMS(8, 1, 3, 3), rt_init_uniform(0.3f));
    struct rt_conv2d_args s1 = {1, 1, 1, 1, 1}, pw = {1, 1, 0, 0, 1}, p4 = {4, 4, 0, 0, 1}, dw = {2, 2, 1, 1, 8};
    struct rt_pool2d_args pool = {3, 3, 2, 2, 1, 1};
    outs[0] = rt_conv2d(g, x, w3, b3, s1);
    outs[1] = rt_conv2d(g, xl, wl, NULL, s1);
    outs[2] = rt_conv2d(g, x, w1, NULL, pw);
    outs[3] = rt_conv2d(g, x, wp, NULL, p4);
    outs[4] = rt_conv2d(g, x, wd, NULL, dw);
    outs[5] = rt_avg_pool2d(g, x, pool);
    outs[6] = rt_max_pool2d(g, x, pool);
    outs[7] = rt_global_avg_pool(g, x);
    outs[8] = rt_global_avg_pool(g, rt_max_pool2d(g, outs[0], pool));
    for (int i = 0; i < N_OUTS; i++) {
        if (!outs[i]) fail_msg("mix: build failed: %s", rt_errmsg());
        rt_tag(outs[i], mix_tags[i]);
    }
}

/* The mix graph's outputs, then (train plans) d sum(chain) / dx; size[i] of each part. */
static float *run_mix(int threads, enum rt_plan plan, int64_t size[N_OUTS + 1])
{
    rt_threads_set(threads);
    rt_graph *g = tu_graph_new();
    rt_node *outs[N_OUTS], *xs[2];
    build_mix(g, outs, xs);
    tu_plan(g, plan);
    rt_params_init(g->params, 7);
    tu_fill_uniform(xs[0], 11, -1.f, 1.f);
    tu_fill_uniform(xs[1], 12, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    int64_t n = rt_numel(xs[0]);
    for (int i = 0; i < N_OUTS; i++) n += size[i] = rt_numel(outs[i]);
    size[N_OUTS] = rt_numel(xs[0]);
    float *r = calloc((size_t)n, sizeof *r);
    assert_non_null(r);
    n = 0;
    for (int i = 0; i < N_OUTS; i++) {
        memcpy(r + n, rt_data(outs[i]), (size_t)size[i] * sizeof *r);
        n += size[i];
    }
    if (plan == RT_PLAN_TRAIN) { /* through max pool and the 3x3 conv */
        rt_params_zero_grad(g->params);
        assert_int_equal(rt_graph_backward_seed(g, outs[8], NULL), RT_OK);
        memcpy(r + n, xs[0]->grad, (size_t)size[N_OUTS] * sizeof *r);
    }
    tu_graph_free(g);
    rt_threads_set(default_threads);
    return r;
}

/* Forward outputs must not depend on the thread count: bitwise for our own
 * loops and per-thread-buffer GEMMs; "cl" runs OpenBLAS's threaded GEMM,
 * which may differ in the last bits, hence 1e-6 rather than 0. An inference
 * plan that keeps its taps (memory reuse) must give the training plan's
 * outputs exactly. */
static void test_threads(void **state)
{
    (void)state;
    int64_t size[N_OUTS + 1];
    float *a = run_mix(1, RT_PLAN_TRAIN, size), *b = run_mix(2, RT_PLAN_TRAIN, size);
    float *c = run_mix(2, RT_PLAN_INFER_TAPS, size); /* every tagged output is wanted, not just the last */
    char what[64];
    int64_t off = 0;
    for (int i = 0; i <= N_OUTS; i++) {
        snprintf(what, sizeof what, "%s: 1 vs 2 threads", i < N_OUTS ? mix_tags[i] : "d chain / dx");
        tu_compare(what, b + off, a + off, size[i], 1e-6);
        if (i < N_OUTS) {
            snprintf(what, sizeof what, "%s: infer vs train plan", mix_tags[i]);
            tu_compare(what, c + off, b + off, size[i], 0);
        }
        off += size[i];
    }
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_conv2d_schedules),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
