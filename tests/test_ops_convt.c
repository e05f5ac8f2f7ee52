/*
 * test_ops_convt.c - conv_transpose2d: PyTorch parity of the output and
 * every gradient (fixtures from tests/fixtures/fx_convt.py), finite-
 * difference gradient checks, the adjoint identity with conv2d, shape
 * errors, the MAC count, and thread-count independence.
 *
 * Like conv2d, the op picks its schedule when the node is built, from the
 * thread count then: every case is built and checked once with 1 thread
 * (serial over the batch) and once with 2 (one column buffer per thread).
 */
#include "testutil.h"

#include "core/threads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_convt.safetensors"
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

struct convt_case {
    const char *name;
    struct rt_convt2d_args a; /* stride h w, pad h w, output pad h w, groups */
    bool bias;
};

static const struct convt_case cases[] = {
    {"convt_3x3", {1, 1, 0, 0, 0, 0, 1}, true},
    {"convt_3x3_p1", {1, 1, 1, 1, 0, 0, 1}, false},
    {"convt_s2_p1_op1", {2, 2, 1, 1, 1, 1, 1}, true},
    {"convt_s2_k4_p1", {2, 2, 1, 1, 0, 0, 1}, true},
    {"convt_rect", {2, 1, 1, 0, 1, 0, 1}, true},
    {"convt_s3_op2", {3, 3, 0, 1, 2, 1, 1}, false},
    {"convt_patch", {2, 2, 0, 0, 0, 0, 1}, true},
    {"convt_1x1", {1, 1, 0, 0, 0, 0, 1}, true},
    {"convt_groups2", {2, 2, 1, 1, 1, 1, 2}, true},
    {"convt_big_pad", {1, 1, 2, 2, 0, 0, 1}, true},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static rt_node *build_case(rt_graph *g, const struct convt_case *c)
{
    rt_node *x = tu_input(g, &fx, c->name, "x"), *w = tu_param(g, &fx, c->name, "w");
    rt_node *b = c->bias ? tu_param(g, &fx, c->name, "b") : NULL;
    return rt_conv_transpose2d(g, x, w, b, c->a);
}

static void test_parity(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        rt_threads_set(threads);
        printf("  -- %d thread(s)\n", threads);
        for (size_t i = 0; i < N_CASES; i++) {
            rt_graph *g = tu_graph_new();
            rt_node *y = build_case(g, &cases[i]);
            if (!y) fail_msg("%s: build failed: %s", cases[i].name, rt_errmsg());
            tu_plan(g, RT_PLAN_TRAIN);
            tu_parity(g, y, &fx, cases[i].name, 1e-5, 1e-4);
            tu_gradcheck(g, y, NULL);
            tu_graph_free(g);
        }
    }
    rt_threads_set(default_threads);
}

/* Both schedules really ran above: their workspaces differ. */
static void test_schedules(void **state)
{
    (void)state;
    size_t work[2];
    for (int threads = 1; threads <= 2; threads++) {
        rt_threads_set(threads);
        rt_graph *g = tu_graph_new();
        rt_node *y = build_case(g, &cases[2]);
        assert_non_null(y);
        work[threads - 1] = y->n_work;
        tu_graph_free(g);
    }
    rt_threads_set(default_threads);
    printf("    %s workspace: %zu floats (1 thread), %zu (2 threads)\n", cases[2].name, work[0], work[1]);
    assert_true(work[0] > 0);
    assert_true(work[1] > 2 * work[0]);
}

/* <conv2d(u, w), x> = <u, conv_transpose2d(x, w)> for any u, x: the op is
 * conv2d's adjoint, checked without PyTorch (sums in double). */
static void test_adjoint(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *u = rt_input(g, "u", RT_DIMS(2, 4, 9, 8)), *x = rt_input(g, "x", RT_DIMS(2, 6, 5, 4));
    rt_node *w = rt_param(g, "w", RT_DIMS(6, 2, 3, 3), rt_init_uniform(0.3f));
    rt_node *c = rt_conv2d(g, u, w, NULL, (struct rt_conv2d_args){2, 2, 1, 1, 2});
    rt_node *t = rt_conv_transpose2d(g, x, w, NULL, (struct rt_convt2d_args){2, 2, 1, 1, 0, 1, 2});
    assert_non_null(c);
    assert_non_null(t);
    assert_int_equal(rt_numel(c), rt_numel(x));
    assert_int_equal(rt_numel(t), rt_numel(u));
    tu_plan(g, RT_PLAN_TRAIN); /* keeps both outputs */
    rt_params_init(g->params, 3);
    tu_fill_uniform(u, 4, -1.f, 1.f);
    tu_fill_uniform(x, 5, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    double a = 0, b = 0, s = 0;
    for (int64_t i = 0; i < rt_numel(x); i++) a += (double)rt_data(c)[i] * rt_data(x)[i];
    for (int64_t i = 0; i < rt_numel(u); i++) {
        b += (double)rt_data(u)[i] * rt_data(t)[i];
        s += fabs((double)rt_data(u)[i] * rt_data(t)[i]);
    }
    printf("    <conv2d(u), x> = %.7g, <u, conv_transpose2d(x)> = %.7g\n", a, b);
    assert_true(fabs(a - b) <= 1e-5 * s);
    tu_graph_free(g);
}

/* Build y = op(x) expecting a shape error that names the op and contains want. */
static rt_node *try_convt(rt_graph *g, int xnd, const int64_t *xs, const int64_t *ws, int64_t nb,
                          struct rt_convt2d_args a)
{
    rt_node *x = rt_input(g, "x", xnd, xs), *w = rt_param(g, "w", 4, ws, rt_init_zeros());
    rt_node *b = nb ? rt_param(g, "b", RT_DIMS(nb), rt_init_zeros()) : NULL;
    return rt_conv_transpose2d(g, x, w, b, a);
}

static void test_shape_errors(void **state)
{
    (void)state;
    struct rt_convt2d_args s1 = {1, 1, 0, 0, 0, 0, 1}, s2 = {2, 2, 1, 1, 0, 0, 1};
    struct rt_convt2d_args op2 = {2, 2, 1, 1, 2, 0, 1}, g3 = {1, 1, 0, 0, 0, 0, 3}, s0 = {0, 1, 0, 0, 0, 0, 1};
    struct rt_convt2d_args big = {1, 1, 3, 3, 0, 0, 1};
    int64_t x4[] = {2, 4, 5, 5}, x3[] = {4, 5, 5}, w43[] = {4, 3, 3, 3}, w33[] = {3, 3, 3, 3};
    rt_graph *g = tu_graph_new();
    tu_expect_build_error(g, try_convt(g, 4, x4, w33, 0, s1), "conv_transpose2d", "(3, 3, 3, 3) does not fit x (2, 4, 5, 5)");
    g = tu_graph_new();
    tu_expect_build_error(g, try_convt(g, 3, x3, w43, 0, s1), "conv_transpose2d", "(4, 5, 5)");
    g = tu_graph_new();
    tu_expect_build_error(g, try_convt(g, 4, x4, w43, 4, s2), "conv_transpose2d", "bias (4)");
    g = tu_graph_new();
    tu_expect_build_error(g, try_convt(g, 4, x4, w43, 0, op2), "conv_transpose2d", "output padding (2, 0)");
    g = tu_graph_new();
    tu_expect_build_error(g, try_convt(g, 4, x4, w43, 0, g3), "conv_transpose2d", "groups 3 must divide");
    g = tu_graph_new();
    tu_expect_build_error(g, try_convt(g, 4, x4, w43, 0, s0), "conv_transpose2d", "stride (0, 1)");
    g = tu_graph_new();
    int64_t x1[] = {1, 4, 1, 1};
    tu_expect_build_error(g, try_convt(g, 4, x1, w43, 0, big), "conv_transpose2d", "empty output");
}

/* Output shape, parameter-free MAC count: B C H W (OC/groups) KH KW. */
static void test_macs(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    int64_t xs[] = {3, 8, 4, 5}, ws[] = {8, 3, 4, 4};
    rt_node *y = try_convt(g, 4, xs, ws, 6, (struct rt_convt2d_args){2, 2, 1, 1, 1, 0, 2});
    assert_non_null(y);
    assert_int_equal(y->out.ndim, 4);
    assert_int_equal(y->out.shape[0], 3);
    assert_int_equal(y->out.shape[1], 6);
    assert_int_equal(y->out.shape[2], (4 - 1) * 2 - 2 + 4 + 1);
    assert_int_equal(y->out.shape[3], (5 - 1) * 2 - 2 + 4);
    assert_int_equal(rt_node_macs(y), 3 * 8 * 4 * 5 * 3 * 4 * 4);
    tu_graph_free(g);
}

/* A decoder-sized layer (32M MACs an item: the serial schedule, OpenBLAS
 * threads its GEMMs, so the last bits may move) and a small one (per-thread
 * buffers with 2 threads): forward and all gradients, 1 vs 2 threads. */
static float *run_threads(int threads, int64_t *n_out)
{
    rt_threads_set(threads);
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 128, 16, 16)), *xs = rt_input(g, "xs", RT_DIMS(3, 8, 6, 6));
    rt_input_requires_grad(x);
    rt_input_requires_grad(xs);
    rt_node *w = rt_param(g, "w", RT_DIMS(128, 64, 4, 4), rt_init_uniform(0.02f));
    rt_node *b = rt_param(g, "b", RT_DIMS(64), rt_init_uniform(0.1f));
    rt_node *ws = rt_param(g, "ws", RT_DIMS(8, 4, 3, 3), rt_init_uniform(0.2f));
    rt_node *y = rt_conv_transpose2d(g, x, w, b, (struct rt_convt2d_args){2, 2, 1, 1, 0, 0, 1});
    rt_node *ys = rt_conv_transpose2d(g, xs, ws, NULL, (struct rt_convt2d_args){2, 2, 1, 1, 1, 1, 1});
    assert_non_null(y);
    assert_non_null(ys);
    rt_node *loss = rt_add(g, rt_mean(g, rt_mul(g, y, y)), rt_mean(g, rt_mul(g, ys, ys)));
    assert_non_null(loss);
    tu_plan(g, RT_PLAN_TRAIN);
    rt_params_init(g->params, 9);
    tu_fill_uniform(x, 1, -1.f, 1.f);
    tu_fill_uniform(xs, 2, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    rt_params_zero_grad(g->params);
    assert_int_equal(rt_graph_backward(g, loss), RT_OK);
    const rt_node *parts[] = {y, ys, x, xs};
    int64_t n = 0;
    for (int i = 0; i < 4; i++) n += rt_numel(parts[i]);
    n += (int64_t)g->params->numel;
    float *r = malloc((size_t)n * sizeof *r), *p = r;
    assert_non_null(r);
    for (int i = 0; i < 4; i++) {
        const float *src = i < 2 ? rt_data(parts[i]) : parts[i]->grad;
        memcpy(p, src, (size_t)rt_numel(parts[i]) * sizeof *p);
        p += rt_numel(parts[i]);
    }
    memcpy(p, g->params->grad, g->params->numel * sizeof *p);
    *n_out = n;
    tu_graph_free(g);
    rt_threads_set(default_threads);
    return r;
}

static void test_threads(void **state)
{
    (void)state;
    int64_t n1, n2;
    float *a = run_threads(1, &n1), *b = run_threads(2, &n2);
    assert_int_equal(n1, n2);
    tu_compare("outputs and gradients: 1 vs 2 threads", b, a, n1, 1e-6);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),       cmocka_unit_test(test_schedules), cmocka_unit_test(test_adjoint),
        cmocka_unit_test(test_shape_errors), cmocka_unit_test(test_macs),      cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
