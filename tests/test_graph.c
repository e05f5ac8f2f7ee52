/*
 * test_graph.c - the engine itself: op table, parameter store, counter RNG,
 * planning (train vs inference reuse, taps kept, several batch sizes over one
 * store), backward rules and build/plan errors.
 */
#include "testutil.h"

#include "core/rng.h"

#include <math.h>
#include <omp.h>

static void test_op_table(void **state)
{
    (void)state;
    assert_int_equal(rt_ops_check_table(), RT_OK);
    enum rt_op op;
    assert_int_equal(rt_op_from_name("gelu", &op), RT_OK);
    assert_int_equal(op, RT_OP_GELU);
    assert_string_equal(rt_op_name(RT_OP_LAYER_NORM), "layer_norm");
    assert_int_equal(rt_op_from_name("gelu_fast", &op), RT_ERR_UNKNOWN);
    assert_non_null(strstr(rt_errmsg(), "unknown op 'gelu_fast'"));
}

static void test_philox_known_answers(void **state)
{
    (void)state;
    /* Random123 kat_vectors: philox4x32 10 rounds */
    uint32_t r[4];
    rt_philox4x32(0, 0, 0, 0, r);
    assert_true(r[0] == 0x6627e8d5u && r[1] == 0xe169c58du && r[2] == 0xbc57ac4cu && r[3] == 0x9b00dbd8u);
    rt_philox4x32(0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffu, 0xffffffffu, r);
    assert_true(r[0] == 0x408f276du && r[1] == 0x41c83b0eu && r[2] == 0xa20bc7c6u && r[3] == 0x6d5451fdu);
    /* ctr {243f6a88 85a308d3 13198a2e 03707344}, key {a4093822 299f31d0} */
    rt_philox4x32(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x13198a2eu, 0x03707344u, r);
    assert_true(r[0] == 0xd16cfe09u && r[1] == 0x94fdccebu && r[2] == 0x5001e420u && r[3] == 0x24126ea1u);
}

static void test_rng_distributions(void **state)
{
    (void)state;
    const int N = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < N; i++) {
        double u = rt_rng_uniform(42, 3, 1, (uint64_t)i), z = rt_rng_normal(42, 3, 1, (uint64_t)i);
        assert_true(u >= 0 && u < 1 && isfinite(z));
        su += u; su2 += u * u; sn += z; sn2 += z * z;
    }
    double mu = su / N, vu = su2 / N - mu * mu, mn = sn / N, vn = sn2 / N - mn * mn;
    printf("    uniform mean %.4f var %.4f; normal mean %.4f var %.4f\n", mu, vu, mn, vn);
    assert_true(fabs(mu - 0.5) < 0.005 && fabs(vu - 1.0 / 12) < 0.002);
    assert_true(fabs(mn) < 0.01 && fabs(vn - 1) < 0.02);
    /* pure function of the counter: same in any thread order */
    float a[1000], b[1000];
    omp_set_num_threads(1);
#pragma omp parallel for
    for (int i = 0; i < 1000; i++) a[i] = rt_rng_normal(7, 1, 2, (uint64_t)i);
    omp_set_num_threads(2);
#pragma omp parallel for
    for (int i = 999; i >= 0; i--) b[i] = rt_rng_normal(7, 1, 2, (uint64_t)i);
    assert_memory_equal(a, b, sizeof a);
    assert_true(rt_rng_uniform(7, 1, 2, 5) != rt_rng_uniform(7, 1, 3, 5));
}

static void test_params(void **state)
{
    (void)state;
    rt_params *p = rt_params_new();
    int i0, i1, i2;
    assert_int_equal(rt_params_declare(p, "a.weight", RT_PARAM, RT_DIMS(3, 5), rt_init_trunc_normal(0.02f), &i0), RT_OK);
    assert_int_equal(rt_params_declare(p, "a.bias", RT_PARAM, RT_DIMS(3), rt_init_const(0.5f), &i1), RT_OK);
    assert_int_equal(rt_params_declare(p, "bn.running_var", RT_BUFFER, RT_DIMS(3), rt_init_ones(), &i2), RT_OK);
    int again;
    assert_int_equal(rt_params_declare(p, "a.weight", RT_PARAM, RT_DIMS(3, 5), rt_init_zeros(), &again), RT_OK);
    assert_int_equal(again, i0);
    assert_int_equal(rt_params_declare(p, "a.weight", RT_PARAM, RT_DIMS(5, 3), rt_init_zeros(), NULL), RT_ERR_SHAPE);
    assert_non_null(strstr(rt_errmsg(), "a.weight"));
    assert_int_equal(rt_params_count(p, RT_PARAM, false), 18);
    assert_int_equal(rt_params_count(p, RT_BUFFER, false), 3);
    assert_int_equal(rt_params_alloc(p), RT_OK);
    assert_int_equal(rt_params_declare(p, "late", RT_PARAM, RT_DIMS(2), rt_init_zeros(), NULL), RT_ERR_ARG);
    /* views are 64-byte aligned in one flat buffer */
    const rt_param_view *w = rt_params_find(p, "a.weight"), *b = rt_params_find(p, "a.bias");
    assert_true(((uintptr_t)rt_params_data(p, b) & 63) == 0);
    assert_true(b->offset >= w->offset + w->numel);
    rt_params_init(p, 1);
    float first[15];
    memcpy(first, rt_params_data(p, w), sizeof first);
    for (int i = 0; i < 15; i++) assert_true(fabsf(first[i]) <= 0.04f);
    assert_true(rt_params_data(p, b)[2] == 0.5f && rt_params_data(p, rt_params_find(p, "bn.running_var"))[0] == 1.f);
    rt_params_init(p, 1);
    assert_memory_equal(first, rt_params_data(p, w), sizeof first);
    rt_params_init(p, 2);
    assert_true(memcmp(first, rt_params_data(p, w), sizeof first) != 0);
    assert_null(rt_params_gradv(p, rt_params_find(p, "bn.running_var")));
    rt_params_free(p);
}

/* x (B, 6) -> linear 8 -> tanh [tap "hidden"] -> linear 3 -> sum of squares-ish */
static rt_node *build_mlp(rt_graph *g, int64_t B)
{
    rt_node *x = rt_input(g, "x", RT_DIMS(B, 6));
    rt_node *h = rt_tag(rt_tanh(g, rt_linear(g, x, rt_param(g, "fc1.weight", RT_DIMS(8, 6), rt_init_uniform(0.5f)),
                                             rt_param(g, "fc1.bias", RT_DIMS(8), rt_init_uniform(0.1f)))),
                        "hidden");
    rt_node *y = rt_linear(g, rt_scale(g, h, 2.f), rt_param(g, "fc2.weight", RT_DIMS(3, 8), rt_init_uniform(0.5f)), NULL);
    return rt_tag(y, "logits");
}

static void test_plans_and_batch_sizes(void **state)
{
    (void)state;
    rt_params *p = rt_params_new();
    rt_graph *gt = rt_graph_new(p), *gi = rt_graph_new(p), *g7 = rt_graph_new(p);
    rt_node *yt = build_mlp(gt, 4), *yi = build_mlp(gi, 4), *y7 = build_mlp(g7, 7);
    assert_non_null(yt); assert_non_null(yi); assert_non_null(y7);
    /* an untagged chain in the inference graph lets memory be reused */
    assert_int_equal(rt_graph_plan(gt, RT_PLAN_TRAIN), RT_OK);
    assert_int_equal(rt_graph_plan(gi, RT_PLAN_INFER), RT_OK);
    assert_int_equal(rt_graph_plan(g7, RT_PLAN_INFER), RT_OK);
    rt_params_init(p, 9);
    printf("    activations: train %zu bytes (+%zu grad), infer %zu bytes\n", rt_graph_act_bytes(gt),
           rt_graph_grad_bytes(gt), rt_graph_act_bytes(gi));
    assert_true(rt_graph_act_bytes(gi) < rt_graph_act_bytes(gt));
    assert_int_equal(rt_graph_grad_bytes(gi), 0);
    rt_node *x7 = rt_graph_tap(g7, "x");
    tu_fill_uniform(x7, 5, -1, 1);
    memcpy(rt_data(rt_graph_tap(gt, "x")), rt_data(x7), 4 * 6 * sizeof(float));
    memcpy(rt_data(rt_graph_tap(gi, "x")), rt_data(x7), 4 * 6 * sizeof(float));
    assert_int_equal(rt_graph_forward(gt), RT_OK);
    assert_int_equal(rt_graph_forward(gi), RT_OK);
    assert_int_equal(rt_graph_forward(g7), RT_OK);
    assert_memory_equal(rt_data(yt), rt_data(yi), 4 * 3 * sizeof(float));
    assert_memory_equal(rt_data(yt), rt_data(y7), 4 * 3 * sizeof(float));
    /* the tapped hidden layer survives reuse */
    assert_memory_equal(rt_data(rt_graph_tap(gt, "hidden")), rt_data(rt_graph_tap(gi, "hidden")), 4 * 8 * sizeof(float));
    /* parameter leaves are found by name too */
    assert_ptr_equal(rt_data(rt_graph_tap(gt, "fc2.weight")), rt_data(rt_graph_tap(g7, "fc2.weight")));
    /* backward needs a training plan */
    assert_int_equal(rt_graph_backward_seed(gi, yi, rt_data(yi)), RT_ERR_ARG);
    assert_int_equal(rt_graph_backward(gt, yt), RT_ERR_SHAPE); /* not a scalar */
    /* gradients accumulate until zeroed */
    float dy[12];
    for (int i = 0; i < 12; i++) dy[i] = 0.1f * (float)(i - 6);
    rt_params_zero_grad(p);
    assert_int_equal(rt_graph_backward_seed(gt, yt, dy), RT_OK);
    float g1[8 * 6];
    memcpy(g1, rt_params_gradv(p, rt_params_find(p, "fc1.weight")), sizeof g1);
    assert_int_equal(rt_graph_backward_seed(gt, yt, dy), RT_OK);
    const float *g2 = rt_params_gradv(p, rt_params_find(p, "fc1.weight"));
    for (int i = 0; i < 48; i++) assert_float_equal(g2[i], 2 * g1[i], 1e-6);
    rt_graph_free(gt); rt_graph_free(gi); rt_graph_free(g7);
    rt_params_free(p);
}

static void test_build_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 3));
    assert_non_null(rt_relu(g, x));
    assert_int_equal(rt_graph_plan(g, RT_PLAN_INFER), RT_OK);
    assert_null(rt_relu(g, x)); /* no nodes after planning */
    assert_non_null(strstr(rt_errmsg(), "after rt_graph_plan"));
    tu_graph_free(g);

    g = tu_graph_new();
    assert_null(rt_input(g, "x", RT_DIMS(2, 0)));
    assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE);
    assert_non_null(strstr(rt_errmsg(), "'x': dimension 1 is 0"));
    tu_graph_free(g);

    /* a parameter re-declared with another shape in a second graph */
    rt_params *p = rt_params_new();
    rt_graph *a = rt_graph_new(p), *b = rt_graph_new(p);
    assert_non_null(rt_param(a, "w", RT_DIMS(4, 4), rt_init_zeros()));
    assert_null(rt_param(b, "w", RT_DIMS(4, 5), rt_init_zeros()));
    assert_int_equal(rt_graph_status(b), RT_ERR_SHAPE);
    rt_graph_free(a); rt_graph_free(b); rt_params_free(p);

    /* more than 2^40 elements: refused when built, before any size arithmetic can overflow */
    g = tu_graph_new();
    assert_null(rt_input(g, "x", RT_DIMS(1 << 20, 1 << 20, 1 << 10)));
    assert_non_null(strstr(rt_errmsg(), "more than 2^40 elements"));
    tu_graph_free(g);
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(1 << 20, 1 << 10));
    assert_null(rt_matmul(g, x, rt_input(g, "y", RT_DIMS(1 << 10, 1 << 21)), false, false));
    assert_non_null(strstr(rt_errmsg(), "more than 2^40"));
    tu_graph_free(g);

    /* an allocation that cannot succeed is an error, not a crash */
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(1 << 20, 1 << 18));
    assert_non_null(rt_relu(g, x));
    assert_int_equal(rt_graph_plan(g, RT_PLAN_TRAIN), RT_ERR_NOMEM);
    printf("    error: %s\n", rt_errmsg());
    tu_graph_free(g);
}

static void test_backward_without_trainable(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 3));
    rt_node *y = rt_sum(g, rt_relu(g, x));
    tu_plan(g, RT_PLAN_TRAIN);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_int_equal(rt_graph_backward(g, y), RT_ERR_ARG);
    assert_non_null(strstr(rt_errmsg(), "no trainable"));
    tu_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_rng_distributions),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_plans_and_batch_sizes),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_backward_without_trainable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
