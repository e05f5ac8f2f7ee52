/*
 * test_ops_shape.c - reshape, transpose, permute, concat, slice, cls_concat:
 * PyTorch parity (fixtures from tests/fixtures/fx_shape.py), finite-
 * difference gradient checks, the strided-copy kernel against a naive
 * index loop on tensors large enough to run threaded, and shape errors.
 */
#include "testutil.h"

#include <omp.h>
#include <stdlib.h>

#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_shape.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* Run parity and gradcheck on a built graph, then free it. */
static void check(rt_graph *g, rt_node *y, const char *name) { tu_check_op(g, y, &fx, name, NULL); }

static void test_reshape(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_reshape(g, tu_input(g, &fx, "reshape", "x"), RT_DIMS(4, -1)), "reshape");
}

static void test_transpose(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_transpose(g, tu_input(g, &fx, "transpose_bthd", "x"), 1, 2), "transpose_bthd");
    g = tu_graph_new();
    check(g, rt_transpose(g, tu_input(g, &fx, "transpose_last", "x"), -1, -2), "transpose_last");
    g = tu_graph_new();
    check(g, rt_transpose(g, tu_input(g, &fx, "transpose_patch", "x"), 1, 2), "transpose_patch");
}

static void test_permute(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_permute(g, tu_input(g, &fx, "permute", "x"), 4, (const int[]){0, 2, 3, 1}), "permute");
    g = tu_graph_new();
    check(g, rt_permute(g, tu_input(g, &fx, "permute_ones", "x"), 4, (const int[]){3, 1, 0, 2}), "permute_ones");
    g = tu_graph_new();
    check(g, rt_permute(g, tu_input(g, &fx, "permute_6d", "x"), 6, (const int[]){5, 3, 1, 0, 4, 2}),
          "permute_6d");
}

static void test_concat(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *xs[3] = {tu_input(g, &fx, "concat", "a"), tu_input(g, &fx, "concat", "b"),
                      tu_input(g, &fx, "concat", "c")};
    check(g, rt_concat(g, 3, xs, 1), "concat");
    g = tu_graph_new();
    xs[0] = tu_input(g, &fx, "concat_last", "a");
    xs[1] = tu_input(g, &fx, "concat_last", "b");
    check(g, rt_concat(g, 2, xs, -1), "concat_last");
    /* only the second input needs a gradient: the first is a plain input */
    g = tu_graph_new();
    xs[0] = rt_input(g, "a", RT_DIMS(2, 6));
    xs[1] = tu_input(g, &fx, "concat_first", "b");
    check(g, rt_concat(g, 2, xs, 0), "concat_first");

    /* the same node twice, large enough for the parallel path: its gradient is
     * the sum of both blocks, exactly, on any thread count (no race) */
    int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        g = tu_graph_new();
        rt_node *x = rt_input(g, "x", RT_DIMS(64, 300));
        rt_input_requires_grad(x);
        rt_node *y = rt_concat(g, 2, (rt_node *[]){x, x}, 1);
        tu_plan(g, RT_PLAN_TRAIN);
        tu_fill_uniform(x, 1, -1.f, 1.f);
        float *dy = malloc(64 * 600 * sizeof *dy);
        for (int i = 0; i < 64 * 600; i++) dy[i] = (float)(i % 97) - 48.f;
        assert_int_equal(rt_graph_forward(g), RT_OK);
        assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < 300; c++)
                assert_true(x->grad[r * 300 + c] == dy[r * 600 + c] + dy[r * 600 + 300 + c]);
        free(dy);
        tu_graph_free(g);
    }
    omp_set_num_threads(saved);
}

static void test_repeat(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_repeat(g, tu_input(g, &fx, "repeat_mid", "x"), 1, 5), "repeat_mid");
    g = tu_graph_new();
    check(g, rt_repeat(g, tu_input(g, &fx, "repeat_first", "x"), 0, 2), "repeat_first");
    g = tu_graph_new();
    check(g, rt_repeat(g, tu_input(g, &fx, "repeat_last", "x"), 2, 6), "repeat_last");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_repeat(g, rt_input(g, "x", RT_DIMS(3, 4)), 3, 2), "repeat", "axis 3");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_repeat(g, rt_input(g, "x", RT_DIMS(3, 4)), 1, 0), "repeat", "length 0");
}

static void test_slice(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_slice(g, tu_input(g, &fx, "slice", "x"), 1, 2, 7), "slice");
    g = tu_graph_new();
    check(g, rt_slice(g, tu_input(g, &fx, "slice_neg", "x"), -1, -3, -1), "slice_neg");
}

static void test_cls_concat(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_cls_concat(g, tu_input(g, &fx, "cls_concat", "x"), tu_param(g, &fx, "cls_concat", "cls")),
          "cls_concat");
    g = tu_graph_new();
    check(g, rt_cls_concat(g, tu_input(g, &fx, "cls_concat_1d", "x"), tu_param(g, &fx, "cls_concat_1d", "cls")),
          "cls_concat_1d");
}

/* y[perm-index] = x[index], written with plain index arithmetic. */
static void naive_permute(float *y, const float *x, int nd, const int64_t *shape, const int *perm)
{
    int64_t n = rt_shape_numel(nd, shape), xs[RT_MAX_DIMS], ys[RT_MAX_DIMS], s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        xs[k] = s;
        s *= shape[k];
    }
    s = 1;
    for (int k = nd - 1; k >= 0; k--) {
        ys[k] = s;
        s *= shape[perm[k]];
    }
    for (int64_t i = 0; i < n; i++) { /* i: flat index into y */
        int64_t r = i, off = 0;
        for (int k = 0; k < nd; k++) {
            off += (r / ys[k]) * xs[perm[k]];
            r %= ys[k];
        }
        y[i] = x[off];
    }
}

/* Large permutes (threaded, both kernel paths) against the naive loop,
 * forward and backward (backward must add to what dx held). */
static void test_permute_large(void **state)
{
    (void)state;
    static const struct { int nd; int64_t shape[6]; int perm[6]; } cs[] = {
        {4, {4, 64, 8, 32}, {0, 2, 1, 3}},        /* (B, T, H, D) -> (B, H, T, D) */
        {3, {3, 200, 130}, {0, 2, 1}},            /* innermost swap, blocked */
        {5, {3, 5, 7, 11, 13}, {4, 2, 0, 3, 1}},  /* scattered */
        {6, {2, 3, 4, 5, 6, 7}, {1, 0, 5, 2, 4, 3}},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        rt_graph *g = tu_graph_new();
        rt_node *x = rt_input(g, "x", cs[c].nd, cs[c].shape);
        rt_input_requires_grad(x);
        rt_node *y = rt_permute(g, x, cs[c].nd, cs[c].perm);
        assert_non_null(y);
        tu_plan(g, RT_PLAN_TRAIN);
        int64_t n = rt_numel(x);
        tu_fill_uniform(x, 5 + c, -1.f, 1.f);
        float *want = malloc((size_t)n * sizeof *want), *gy = malloc((size_t)n * sizeof *gy);
        assert_non_null(want);
        assert_non_null(gy);
        naive_permute(want, rt_data(x), cs[c].nd, cs[c].shape, cs[c].perm);
        assert_int_equal(rt_graph_forward(g), RT_OK);
        char what[64];
        snprintf(what, sizeof what, "permute_large[%zu].out", c);
        tu_compare(what, rt_data(y), want, n, 0);
        /* backward with dy = y itself: dx must equal x */
        memcpy(gy, rt_data(y), (size_t)n * sizeof *gy);
        assert_int_equal(rt_graph_backward_seed(g, y, gy), RT_OK);
        snprintf(what, sizeof what, "permute_large[%zu].grad", c);
        tu_compare(what, x->grad, rt_data(x), n, 0);
        free(want);
        free(gy);
        tu_graph_free(g);
    }
}

/* Build one failing node in a fresh graph; check the error names the op. */
#define EXPECT_SHAPE_ERROR(g, expr, opname)                              \
    do {                                                                 \
        assert_null(expr);                                               \
        assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE);              \
        printf("    error: %s\n", rt_errmsg());                          \
        assert_non_null(strstr(rt_errmsg(), opname));                    \
        tu_graph_free(g);                                                \
    } while (0)

static void test_shape_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_reshape(g, x, RT_DIMS(5, -1)), "reshape");
    assert_non_null(strstr(rt_errmsg(), "(2, 3, 4)"));
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_reshape(g, x, RT_DIMS(-1, -1)), "reshape");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_reshape(g, x, RT_DIMS(4, 5)), "reshape");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_reshape(g, x, 7, (const int64_t[]){1, 1, 1, 1, 2, 3, 4}), "reshape");

    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_transpose(g, x, 0, 3), "transpose");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_transpose(g, x, -4, 1), "transpose");

    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_permute(g, x, 3, (const int[]){0, 2, 2}), "permute");
    assert_non_null(strstr(rt_errmsg(), "not a permutation"));
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_permute(g, x, 2, (const int[]){1, 0}), "permute");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 3, 4));
    EXPECT_SHAPE_ERROR(g, rt_permute(g, x, 3, (const int[]){0, 1, 3}), "permute");

    g = tu_graph_new();
    rt_node *xs[RT_MAX_INPUTS + 1];
    xs[0] = rt_input(g, "a", RT_DIMS(2, 3, 4));
    xs[1] = rt_input(g, "b", RT_DIMS(2, 5, 5));
    EXPECT_SHAPE_ERROR(g, rt_concat(g, 2, xs, 1), "concat");
    assert_non_null(strstr(rt_errmsg(), "(2, 5, 5)"));
    g = tu_graph_new();
    xs[0] = rt_input(g, "a", RT_DIMS(2, 3, 4));
    xs[1] = rt_input(g, "b", RT_DIMS(2, 3));
    EXPECT_SHAPE_ERROR(g, rt_concat(g, 2, xs, 0), "concat");
    g = tu_graph_new();
    xs[0] = rt_input(g, "a", RT_DIMS(2, 3));
    EXPECT_SHAPE_ERROR(g, rt_concat(g, 1, xs, 2), "concat");
    g = tu_graph_new();
    xs[0] = rt_input(g, "a", RT_DIMS(2, 3));
    for (int i = 1; i <= RT_MAX_INPUTS; i++) xs[i] = xs[0];
    EXPECT_SHAPE_ERROR(g, rt_concat(g, RT_MAX_INPUTS + 1, xs, 0), "concat");
    g = tu_graph_new();
    EXPECT_SHAPE_ERROR(g, rt_concat(g, 0, xs, 0), "concat");

    static const int64_t bad[][2] = {{3, 3}, {4, 2}, {0, 7}, {-6, 2}, {2, 8}, {5, 6}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = tu_graph_new();
        x = rt_input(g, "x", RT_DIMS(2, 5, 4));
        EXPECT_SHAPE_ERROR(g, rt_slice(g, x, 1, bad[i][0], bad[i][1]), "slice");
    }
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 4));
    EXPECT_SHAPE_ERROR(g, rt_slice(g, x, 3, 0, 1), "slice");

    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    rt_node *cls = rt_param(g, "cls", RT_DIMS(1, 1, 7), rt_init_zeros());
    EXPECT_SHAPE_ERROR(g, rt_cls_concat(g, x, cls), "cls_concat");
    assert_non_null(strstr(rt_errmsg(), "(1, 1, 7)"));
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(10, 8));
    cls = rt_param(g, "cls", RT_DIMS(8), rt_init_zeros());
    EXPECT_SHAPE_ERROR(g, rt_cls_concat(g, x, cls), "cls_concat");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    cls = rt_param(g, "cls", RT_DIMS(2, 1, 8), rt_init_zeros());
    EXPECT_SHAPE_ERROR(g, rt_cls_concat(g, x, cls), "cls_concat");
}

/* Inference plans reuse memory between nodes; a chain of copies must still
 * give the same result (every op writes its whole output). */
static void test_infer_chain(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 6, 4));
    rt_node *t = rt_transpose(g, x, 1, 2);                     /* (2, 4, 6) */
    rt_node *s = rt_slice(g, t, 2, 1, 5);                      /* (2, 4, 4) */
    rt_node *r = rt_reshape(g, s, RT_DIMS(8, 4));
    rt_node *y = rt_permute(g, r, 2, (const int[]){1, 0});     /* (4, 8) */
    assert_non_null(y);
    tu_plan(g, RT_PLAN_INFER);
    tu_fill_uniform(x, 3, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    const float *xv = rt_data(x), *yv = rt_data(y);
    float want[32];
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 4; k++) /* r[b*4 + c, k] = x[b, 1 + k, c]; y = r^T */
                want[k * 8 + b * 4 + c] = xv[(b * 6 + 1 + k) * 4 + c];
    tu_compare("infer_chain.out", yv, want, 32, 0);
    tu_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape),      cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_permute),      cmocka_unit_test(test_concat),
        cmocka_unit_test(test_repeat), cmocka_unit_test(test_slice),        cmocka_unit_test(test_cls_concat),
        cmocka_unit_test(test_permute_large), cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_infer_chain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
