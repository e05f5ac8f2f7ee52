/*
 * test_ops_attn.c - fused multi-head attention and the head-averaged
 * attention map: PyTorch parity (fixtures from tests/fixtures/fx_attn.py,
 * explicit torch ops), finite-difference gradient checks, the inference
 * plan (eval mode, memory reuse) and shape errors.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

#include "core/cpu.h"

#define FIX "tests/fixtures/ops_attn.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* Run parity and gradcheck on a built graph, then free it. */
/* Gradcheck at eps 1e-2 (default tolerances): the forward is float32 and L
 * sums a few hundred outputs, so at eps 1e-3 rounding noise / (2 eps)
 * dominates (worst 0.90 of tolerance on attn_t17) while the truncation error
 * at 1e-2 is small (worst 0.11): the error shrinks as eps grows. */
static void check(rt_graph *g, rt_node *y, const char *name)
{
    tu_check_op(g, y, &fx, name, &(tu_gc_opts){.eps = 1e-2});
}

/* attention over the fixture's leaves of case `name` (biases if stored) */
static rt_node *build_attn(rt_graph *g, const char *name, int heads, bool bias)
{
    rt_node *x = tu_input(g, &fx, name, "x");
    rt_node *wq = tu_param(g, &fx, name, "w_qkv");
    rt_node *bq = bias ? tu_param(g, &fx, name, "b_qkv") : NULL;
    rt_node *wo = tu_param(g, &fx, name, "w_o");
    rt_node *bo = bias ? tu_param(g, &fx, name, "b_o") : NULL;
    return rt_attention(g, x, wq, bq, wo, bo, heads);
}

/* Parity under the best SIMD level and under the scalar reference. */
static void test_attention(void **state)
{
    (void)state;
    static const int isas[] = {-1, RT_ISA_SCALAR};
    for (int i = 0; i < 2; i++) {
        rt_cpu_force_isa(isas[i]);
        printf("  isa %s\n", rt_isa_name(rt_cpu_isa()));
        rt_graph *g = tu_graph_new();
        check(g, build_attn(g, "attn", 4, true), "attn");
        g = tu_graph_new();
        check(g, build_attn(g, "attn_nobias", 4, false), "attn_nobias");
        g = tu_graph_new();
        check(g, build_attn(g, "attn_t17", 3, true), "attn_t17");
    }
    rt_cpu_force_isa(-1);
}

/* SIMD softmax against the scalar reference on wide-ranging scores (many
 * exp arguments far below -20, T = 37 so rows have a masked tail). */
static void test_attention_simd_vs_scalar(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 37, 32));
    rt_node *wq = rt_param(g, "w_qkv", RT_DIMS(96, 32), rt_init_uniform(0.6f));
    rt_node *wo = rt_param(g, "w_o", RT_DIMS(32, 32), rt_init_uniform(0.2f));
    rt_node *a = rt_attention(g, x, wq, NULL, wo, NULL, 2);
    rt_node *m = rt_tag(rt_attention_map(g, a), "map");
    assert_non_null(m);
    tu_plan(g, RT_PLAN_INFER);
    rt_params_init(g->params, 5);
    tu_fill_uniform(x, 3, -3.f, 3.f);
    int64_t na = rt_numel(a), nm = rt_numel(m);
    float *ref = malloc((size_t)(na + nm) * sizeof *ref);
    assert_non_null(ref);
    rt_cpu_force_isa(RT_ISA_SCALAR);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    memcpy(ref, rt_data(a), (size_t)na * sizeof *ref);
    memcpy(ref + na, rt_data(m), (size_t)nm * sizeof *ref);
    float mn = 1.f;
    for (int64_t i = 0; i < nm; i++) mn = rt_data(m)[i] < mn ? rt_data(m)[i] : mn;
    printf("    smallest head-averaged probability %.3g (wide score range)\n", (double)mn);
    rt_cpu_force_isa(-1);
    printf("    isa %s vs scalar\n", rt_isa_name(rt_cpu_isa()));
    assert_int_equal(rt_graph_forward(g), RT_OK);
    /* 1e-6: both run here, differing only by the exp (a few ulp); measured ~1.6e-7 */
    tu_compare("attention out", rt_data(a), ref, na, 1e-6);
    tu_compare("attention map", rt_data(m), ref + na, nm, 1e-6);
    free(ref);
    tu_graph_free(g);
}

/* Output = the map only: gradients reach x, w_qkv, b_qkv through saved_grad. */
static void test_attention_map(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *a = build_attn(g, "attn_map", 4, true);
    rt_node *m = rt_attention_map(g, a);
    assert_non_null(m);
    assert_int_equal(m->out.ndim, 3);
    assert_int_equal(m->out.shape[1], 5);
    assert_int_equal(m->out.shape[2], 5);
    check(g, m, "attn_map");
}

/* Scalar loss through both outputs: sum(out * r1) + sum(map * r2). */
static void test_attention_both(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *a = build_attn(g, "attn_both", 4, true);
    rt_node *r1 = rt_input(g, "r1", RT_DIMS(2, 5, 16));
    rt_node *r2 = rt_input(g, "r2", RT_DIMS(2, 5, 5));
    rt_node *loss = rt_add(g, rt_sum(g, rt_mul(g, a, r1)), rt_sum(g, rt_mul(g, rt_attention_map(g, a), r2)));
    check(g, loss, "attn_both");
}

/* Inference plan in eval mode: same outputs (no dropout inside), and the map
 * reads the attention's saved probs although activations are reused. */
static void test_attention_infer(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *y = rt_scale(g, build_attn(g, "attn", 4, true), 1.f); /* attention as an inner node */
    assert_non_null(y);
    tu_plan(g, RT_PLAN_INFER);
    rt_graph_set_training(g, false);
    tu_parity(g, y, &fx, "attn", 1e-5, 1e-4);
    tu_graph_free(g);

    g = tu_graph_new();
    rt_node *m = rt_attention_map(g, build_attn(g, "attn_map", 4, true));
    assert_non_null(m);
    tu_plan(g, RT_PLAN_INFER);
    rt_graph_set_training(g, false);
    tu_parity(g, m, &fx, "attn_map", 1e-5, 1e-4);
    tu_graph_free(g);
}

/* One head, B = 1: the GEMMs run outside the parallel loop. */
static void test_attention_one_head(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(1, 6, 8));
    rt_input_requires_grad(x);
    rt_node *wq = rt_param(g, "w_qkv", RT_DIMS(24, 8), rt_init_uniform(0.35f));
    rt_node *bq = rt_param(g, "b_qkv", RT_DIMS(24), rt_init_uniform(0.3f));
    rt_node *wo = rt_param(g, "w_o", RT_DIMS(8, 8), rt_init_uniform(0.35f));
    rt_node *a = rt_attention(g, x, wq, bq, wo, NULL, 1);
    rt_node *m = rt_attention_map(g, a);
    rt_node *loss = rt_add(g, rt_sum(g, rt_mul(g, a, a)), rt_sum(g, rt_mul(g, m, m)));
    assert_non_null(loss);
    tu_plan(g, RT_PLAN_TRAIN);
    rt_params_init(g->params, 3);
    tu_fill_uniform(x, 11, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    /* with one head the map equals the probabilities: rows sum to 1 */
    for (int i = 0; i < 6; i++) {
        double s = 0;
        for (int j = 0; j < 6; j++) s += rt_data(m)[i * 6 + j];
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    tu_gradcheck(g, loss, NULL);
    tu_graph_free(g);
}

static void expect_shape_error(rt_graph *g, rt_node *y, const char *op, const char *want)
{
    assert_null(y);
    assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE);
    printf("    error: %s\n", rt_errmsg());
    assert_non_null(strstr(rt_errmsg(), op));
    assert_non_null(strstr(rt_errmsg(), want));
    tu_graph_free(g);
}

static void test_shape_errors(void **state)
{
    (void)state;
    /* C % heads != 0 */
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 5, 16));
    rt_node *wq = rt_param(g, "w_qkv", RT_DIMS(48, 16), rt_init_zeros());
    rt_node *wo = rt_param(g, "w_o", RT_DIMS(16, 16), rt_init_zeros());
    rt_graph_scope(g, "blocks.0.attn");
    expect_shape_error(g, rt_attention(g, x, wq, NULL, wo, NULL, 3), "attention", "not divisible by 3 heads");

    /* w_qkv (3C, C) wrong */
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 16));
    wq = rt_param(g, "w_qkv", RT_DIMS(32, 16), rt_init_zeros());
    wo = rt_param(g, "w_o", RT_DIMS(16, 16), rt_init_zeros());
    expect_shape_error(g, rt_attention(g, x, wq, NULL, wo, NULL, 4), "attention", "w_qkv (32, 16)");

    /* b_qkv wrong length */
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 16));
    wq = rt_param(g, "w_qkv", RT_DIMS(48, 16), rt_init_zeros());
    rt_node *bq = rt_param(g, "b_qkv", RT_DIMS(16), rt_init_zeros());
    wo = rt_param(g, "w_o", RT_DIMS(16, 16), rt_init_zeros());
    expect_shape_error(g, rt_attention(g, x, wq, bq, wo, NULL, 4), "attention", "b_qkv (16)");

    /* x not 3-D */
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(10, 16));
    wq = rt_param(g, "w_qkv", RT_DIMS(48, 16), rt_init_zeros());
    wo = rt_param(g, "w_o", RT_DIMS(16, 16), rt_init_zeros());
    expect_shape_error(g, rt_attention(g, x, wq, NULL, wo, NULL, 4), "attention", "(10, 16)");

    /* map of a node that is not an attention */
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 16));
    expect_shape_error(g, rt_attention_map(g, rt_scale(g, x, 2.f)), "attn_map", "not an attention node");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_simd_vs_scalar),
        cmocka_unit_test(test_attention_map),
        cmocka_unit_test(test_attention_both),
        cmocka_unit_test(test_attention_infer),
        cmocka_unit_test(test_attention_one_head),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
