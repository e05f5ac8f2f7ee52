/*
 * test_ops_basic.c - linear, matmul, add, mul, scale, bias, sum, mean:
 * PyTorch parity (fixtures from tests/fixtures/fx_basic.py) and
 * finite-difference gradient checks.
 */
#include "testutil.h"

#define FIX "tests/fixtures/ops_basic.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* Run parity and gradcheck on a built graph, then free it. */
static void check(rt_graph *g, rt_node *y, const char *name) { tu_check_op(g, y, &fx, name, NULL); }

static void test_linear(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *y = rt_linear(g, tu_input(g, &fx, "linear", "x"), tu_param(g, &fx, "linear", "w"),
                           tu_param(g, &fx, "linear", "b"));
    check(g, y, "linear");
    g = tu_graph_new();
    y = rt_linear(g, tu_input(g, &fx, "linear_nobias", "x"), tu_param(g, &fx, "linear_nobias", "w"), NULL);
    check(g, y, "linear_nobias");
}

static void test_matmul(void **state)
{
    (void)state;
    static const struct { const char *name; bool ta, tb; } cs[] = {
        {"matmul", 0, 0}, {"matmul_ta", 1, 0}, {"matmul_tb", 0, 1}, {"matmul_tab", 1, 1},
        {"matmul_shared", 0, 0}, {"matmul_shared_tb", 0, 1},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        rt_graph *g = tu_graph_new();
        rt_node *y = rt_matmul(g, tu_input(g, &fx, cs[i].name, "a"), tu_input(g, &fx, cs[i].name, "b"), cs[i].ta,
                               cs[i].tb);
        check(g, y, cs[i].name);
    }
}

static void test_add_mul_scale_bias(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_add(g, tu_input(g, &fx, "add", "a"), tu_input(g, &fx, "add", "b")), "add");
    g = tu_graph_new();
    check(g, rt_add(g, tu_input(g, &fx, "add_bcast", "a"), tu_param(g, &fx, "add_bcast", "b")), "add_bcast");
    g = tu_graph_new();
    check(g, rt_mul(g, tu_input(g, &fx, "mul_bcast", "a"), tu_param(g, &fx, "mul_bcast", "b")), "mul_bcast");
    g = tu_graph_new();
    check(g, rt_scale(g, tu_input(g, &fx, "scale", "x"), 0.37f), "scale");
    g = tu_graph_new();
    check(g, rt_bias(g, tu_input(g, &fx, "bias_axis1", "x"), tu_param(g, &fx, "bias_axis1", "b"), 1), "bias_axis1");
    g = tu_graph_new();
    check(g, rt_sum(g, tu_input(g, &fx, "sum", "x")), "sum");
    g = tu_graph_new();
    check(g, rt_mean(g, tu_input(g, &fx, "mean", "x")), "mean");
}

static void test_shape_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(4, 8));
    rt_node *w = rt_param(g, "fc.weight", RT_DIMS(3, 7), rt_init_zeros());
    rt_graph_scope(g, "head.fc");
    assert_null(rt_linear(g, x, w, NULL));
    assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE);
    printf("    error: %s\n", rt_errmsg());
    assert_non_null(strstr(rt_errmsg(), "linear"));
    assert_non_null(strstr(rt_errmsg(), "head.fc"));
    assert_non_null(strstr(rt_errmsg(), "(4, 8)"));
    /* later builders pass the failure through, and plan reports it */
    assert_null(rt_relu(g, NULL));
    assert_int_equal(rt_graph_plan(g, RT_PLAN_TRAIN), RT_ERR_SHAPE);
    tu_graph_free(g);

    g = tu_graph_new();
    assert_null(rt_add(g, rt_input(g, "a", RT_DIMS(2, 3)), rt_input(g, "b", RT_DIMS(3, 2))));
    assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE);
    tu_graph_free(g);

    g = tu_graph_new();
    assert_null(rt_matmul(g, rt_input(g, "a", RT_DIMS(2, 3, 4)), rt_input(g, "b", RT_DIMS(3, 4, 5)), 0, 0));
    tu_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_add_mul_scale_bias),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
