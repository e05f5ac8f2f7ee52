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

/* x -> gelu(fc1) -> fc2 -> x + . -> tanh(fc3) (the last node), and a tapped
 * side branch relu(fc1) that the output does not need; tag_fc1 tags fc1. */
struct fuse_net { rt_graph *g; rt_node *x, *fc1, *act, *fc2, *sum, *fc3, *out, *side; };

static struct fuse_net fuse_net(enum rt_plan plan, bool fuse, bool tag_fc1)
{
    struct fuse_net f;
    f.g = tu_graph_new();
    rt_graph *g = f.g;
    f.x = rt_input(g, "input", RT_DIMS(5, 12));
    rt_node *w1 = rt_param(g, "w1", RT_DIMS(20, 12), rt_init_uniform(0.5f));
    rt_node *b1 = rt_param(g, "b1", RT_DIMS(20), rt_init_uniform(0.5f));
    rt_node *w2 = rt_param(g, "w2", RT_DIMS(12, 20), rt_init_uniform(0.5f));
    rt_node *b2 = rt_param(g, "b2", RT_DIMS(12), rt_init_uniform(0.5f));
    rt_node *w3 = rt_param(g, "w3", RT_DIMS(3, 12), rt_init_uniform(0.5f));
    f.fc1 = rt_linear(g, f.x, w1, b1);
    if (tag_fc1) rt_tag(f.fc1, "pre");
    f.act = rt_gelu(g, f.fc1);
    f.side = rt_tag(rt_relu(g, f.fc1), "side");
    f.fc2 = rt_linear(g, f.act, w2, b2);
    f.sum = rt_tag(rt_add(g, f.x, f.fc2), "block.out");
    f.fc3 = rt_linear(g, f.sum, w3, NULL);
    f.out = rt_tanh(g, f.fc3);
    rt_graph_set_fusion(g, fuse);
    tu_plan(g, plan);
    rt_params_init(g->params, 9);
    tu_fill_uniform(f.x, 4, -2.f, 2.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    return f;
}

static void assert_same(const rt_node *a, const rt_node *b)
{
    assert_int_equal(rt_numel(a), rt_numel(b));
    assert_non_null(rt_data(a));
    assert_memory_equal(rt_data(a), rt_data(b), (size_t)rt_numel(a) * sizeof(float));
}

/* Inference fusions: which nodes fuse, what a caller holding a fused-away
 * node reads, taps moving and blocking, the last node kept; bit for bit the
 * unfused values. */
static void test_inference_fusion(void **state)
{
    (void)state;
    struct fuse_net ref = fuse_net(RT_PLAN_TRAIN, false, false), f = fuse_net(RT_PLAN_INFER, true, false);
    assert_int_equal(f.fc1->fuse_act, RT_OP_GELU);
    assert_ptr_equal(f.fc2->fuse_res, f.x);
    assert_int_equal(f.fc3->fuse_act, 0); /* its tanh is the last node: never fused away */
    assert_int_equal(f.g->skip[f.act->id], 2);
    assert_int_equal(f.g->skip[f.sum->id], 2);
    assert_int_equal(f.g->skip[f.out->id], 0);
    assert_ptr_equal(f.fc2->in[0], f.fc1);                 /* fc2 reads fc1 (with its gelu) */
    assert_ptr_equal(rt_graph_tap(f.g, "block.out"), f.fc2); /* the add's tap moved to fc2 */
    assert_same(f.out, ref.out);
    assert_same(f.sum, ref.sum); /* a held fused-away (tapped) node reads its producer's data */
    assert_same(rt_graph_tap(f.g, "block.out"), ref.sum);
    tu_graph_free(f.g);
    /* a tapped producer keeps its own value: no fusion into it */
    f = fuse_net(RT_PLAN_INFER, true, true);
    assert_int_equal(f.fc1->fuse_act, 0);
    assert_ptr_equal(f.fc2->fuse_res, f.x);
    assert_same(rt_graph_tap(f.g, "pre"), ref.fc1);
    assert_same(f.out, ref.out);
    assert_null(rt_data(f.side)); /* RT_PLAN_INFER: a tap the output does not need is not computed */
    assert_int_equal(f.g->skip[f.side->id], 1);
    tu_graph_free(f.g);
    /* RT_PLAN_INFER_TAPS computes it: fc1 then has two readers and keeps its gelu apart */
    f = fuse_net(RT_PLAN_INFER_TAPS, true, false);
    assert_int_equal(f.fc1->fuse_act, 0);
    assert_same(f.side, ref.side);
    assert_same(f.out, ref.out);
    tu_graph_free(f.g);
    tu_graph_free(ref.g);
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
        cmocka_unit_test(test_inference_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
