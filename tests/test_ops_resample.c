/*
 * test_ops_resample.c - resample_tokens and resize2d: PyTorch parity of
 * outputs and input gradients (fixtures from tests/fixtures/fx_resample.py:
 * F.interpolate linear / bilinear, align_corners=False), finite-difference
 * gradient checks on the small cases, exact copies at equal sizes, results
 * identical on 1 and 2 threads, and shape errors naming the node.
 */
#include "testutil.h"

#include "core/rng.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_resample.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* Output dim i of fixture case cs. */
static int64_t out_dim(const char *cs, int i)
{
    char key[128];
    int64_t shape[RT_MAX_DIMS];
    snprintf(key, sizeof key, "%s.out", cs);
    int nd = tu_fixture_shape(&fx, key, shape);
    return shape[i < 0 ? nd + i : i];
}

/* The gradient is linear in dy: finite differences are exact up to float
 * rounding, so the default step suffices; large cases skip the check. */
static void tokens_case(const char *cs, bool gradcheck)
{
    rt_graph *g = tu_graph_new();
    rt_node *y = rt_resample_tokens(g, tu_input(g, &fx, cs, "x"), out_dim(cs, 1));
    tu_check_op(g, y, &fx, cs, gradcheck ? NULL : &tu_no_gradcheck);
}

static void resize_case(const char *cs, bool gradcheck)
{
    rt_graph *g = tu_graph_new();
    rt_node *y = rt_resize2d(g, tu_input(g, &fx, cs, "x"), out_dim(cs, -2), out_dim(cs, -1));
    tu_check_op(g, y, &fx, cs, gradcheck ? NULL : &tu_no_gradcheck);
}

static void test_resample_tokens(void **state)
{
    (void)state;
    tokens_case("tok_197_50", true);
    tokens_case("tok_50_197", true);
    tokens_case("tok_17_17", true);
    tokens_case("tok_5_1", true);
    tokens_case("tok_1_4", true);
    tokens_case("tok_6_4", true); /* 300 channels: more than one column block */
}

static void test_resize2d(void **state)
{
    (void)state;
    resize_case("map_197_50", false); /* 38809 inputs: parity only */
    resize_case("map_8x6_3x10", true);
    resize_case("map_4d", true);
    resize_case("map_same", true);
    resize_case("map_rows", true); /* rows only (W_out == W) */
}

/* Same size: the output is the input bit for bit and dx += dy exactly. */
static void test_copy_exact(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 17, 5));
    rt_input_requires_grad(x);
    rt_node *y = rt_resample_tokens(g, x, 17), *z = rt_resize2d(g, x, 17, 5);
    tu_plan(g, RT_PLAN_TRAIN);
    tu_fill_uniform(x, 7, -1e30f, 1e30f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_memory_equal(rt_data(y), rt_data(x), (size_t)rt_numel(x) * sizeof(float));
    assert_memory_equal(rt_data(z), rt_data(x), (size_t)rt_numel(x) * sizeof(float));
    assert_int_equal(rt_graph_backward_seed(g, y, rt_data(x)), RT_OK);
    assert_memory_equal(x->grad, rt_data(x), (size_t)rt_numel(x) * sizeof(float));
    tu_graph_free(g);
}

/* Forward and backward of x (P, H, W) resized (tokens: T_out = oh, ow ignored)
 * on a thread count; returns malloc'd [y | dx]. */
static float *run_threads(bool tokens, const int64_t *xs, int64_t oh, int64_t ow, int threads, int64_t *n)
{
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(xs[0], xs[1], xs[2]));
    rt_input_requires_grad(x);
    rt_node *y = tokens ? rt_resample_tokens(g, x, oh) : rt_resize2d(g, x, oh, ow);
    tu_plan(g, RT_PLAN_TRAIN);
    tu_fill_uniform(x, 1, -2.f, 2.f);
    int64_t ny = rt_numel(y), nx = rt_numel(x);
    float *dy = malloc((size_t)ny * sizeof *dy), *res = malloc((size_t)(ny + nx) * sizeof *res);
    for (int64_t i = 0; i < ny; i++) dy[i] = 2.f * rt_rng_uniform(5, 0, 0, (uint64_t)i) - 1.f;
    int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
    omp_set_num_threads(keep);
    memcpy(res, rt_data(y), (size_t)ny * sizeof *res);
    memcpy(res + ny, x->grad, (size_t)nx * sizeof *res);
    *n = ny + nx;
    free(dy);
    tu_graph_free(g);
    return res;
}

static void test_threads(void **state)
{
    (void)state;
    /* above the parallel threshold: tokens 197 <-> 50 at ViT width, maps */
    static const struct { bool tokens; int64_t xs[3], oh, ow; } c[] = {
        {true, {8, 197, 384}, 50, 0},  {true, {8, 50, 384}, 197, 0}, {true, {1, 197, 768}, 50, 0},
        {false, {4, 197, 197}, 50, 50}, {false, {4, 50, 50}, 197, 197}, {false, {2, 64, 300}, 100, 300},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int64_t n1, n2;
        float *one = run_threads(c[i].tokens, c[i].xs, c[i].oh, c[i].ow, 1, &n1);
        float *two = run_threads(c[i].tokens, c[i].xs, c[i].oh, c[i].ow, 2, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(one, two, (size_t)n1 * sizeof *one);
        free(one);
        free(two);
    }
}

static void test_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_graph_scope(g, "distill.feat");
    tu_expect_build_error(g, rt_resample_tokens(g, rt_input(g, "x", RT_DIMS(2, 5, 3)), 0), "resample_tokens",
                          "T_out = 0");
    assert_non_null(strstr(rt_errmsg(), "distill.feat"));
    g = tu_graph_new();
    tu_expect_build_error(g, rt_resample_tokens(g, rt_input(g, "x", RT_DIMS(2, 5)), 4), "resample_tokens", "(2, 5)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_resample_tokens(g, rt_input(g, "x", RT_DIMS(2, 5, 3, 1)), 4), "resample_tokens",
                          "(2, 5, 3, 1)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_resize2d(g, rt_input(g, "x", RT_DIMS(2, 5, 5)), 3, -1), "resize2d", "(3, -1)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_resize2d(g, rt_input(g, "x", RT_DIMS(2, 5, 5)), 0, 3), "resize2d", "(0, 3)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_resize2d(g, rt_input(g, "x", RT_DIMS(25)), 3, 3), "resize2d", "(25)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_resize2d(g, rt_input(g, "x", RT_DIMS(1, 2, 3, 4, 5)), 3, 3), "resize2d",
                          "(1, 2, 3, 4, 5)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample_tokens),
        cmocka_unit_test(test_resize2d),
        cmocka_unit_test(test_copy_exact),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
