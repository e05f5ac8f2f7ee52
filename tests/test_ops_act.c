/*
 * test_ops_act.c - gelu, relu, relu6, tanh, sigmoid, softmax, log_softmax, l2_norm:
 * PyTorch parity (fixtures from tests/fixtures/fx_act.py) and finite-
 * difference gradient checks; dropout and gaussian_sample (retort's own
 * RNG, no PyTorch equivalent): C references, statistics, determinism across
 * steps and thread counts, eval mode; AVX2 kernels against the scalar ones.
 */
#include "testutil.h"

#include "core/cpu.h"
#include "core/rng.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_act.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* Run parity and gradcheck (options gc, NULL for the defaults) on a built
 * graph, then free it. */
static void check(rt_graph *g, rt_node *y, const char *name, const tu_gc_opts *gc)
{
    tu_check_op(g, y, &fx, name, gc);
}

typedef rt_node *(*unary_fn)(rt_graph *g, rt_node *x);

static void unary_case(unary_fn f, const char *name, const tu_gc_opts *gc)
{
    rt_graph *g = tu_graph_new();
    check(g, f(g, tu_input(g, &fx, name, "x")), name, gc);
}

static void test_elementwise(void **state)
{
    (void)state;
    unary_case(rt_gelu, "gelu", NULL);
    unary_case(rt_gelu, "gelu_wide", NULL);
    unary_case(rt_relu, "relu", NULL);
    unary_case(rt_relu6, "relu6", NULL);
    unary_case(rt_tanh, "tanh", NULL);
    unary_case(rt_sigmoid, "sigmoid", NULL);
}

/* Finite differences of float32 row ops are limited by the rounding of the
 * one max / log-sum-exp a row's outputs share: one ulp of it moves
 * L = sum(y r) by ~ulp * sum(r_row). log_softmax outputs are O(10) (up to
 * -160 for +-80 logits, ulp 1.5e-5): at the default step 1e-3 the noise is
 * 0.67 of the tolerance for the small case and fails the wide and large
 * ones. log_softmax gets a step of 1e-2 (the op is smooth: truncation error
 * ~h^2), which brings all below 0.4; softmax outputs are <= 1 and pass at
 * the default step. */
static void test_softmax(void **state)
{
    (void)state;
    static const tu_gc_opts fd = {.eps = 1e-2};
    static const struct { const char *name; unary_fn f; const tu_gc_opts *gc; } cs[] = {
        {"softmax", rt_softmax, NULL},         {"log_softmax", rt_log_softmax, &fd},
        {"softmax_wide", rt_softmax, NULL},    {"log_softmax_wide", rt_log_softmax, &fd},
        {"softmax_large", rt_softmax, NULL},   {"log_softmax_large", rt_log_softmax, &fd},
        {"softmax_one", rt_softmax, NULL},     {"log_softmax_one", rt_log_softmax, &fd},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) unary_case(cs[i].f, cs[i].name, cs[i].gc);
}

static void test_l2_norm(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, rt_l2_norm(g, tu_input(g, &fx, "l2_norm", "x"), 1e-12f), "l2_norm", NULL);
    g = tu_graph_new();
    check(g, rt_l2_norm(g, tu_input(g, &fx, "l2_norm_clamp", "x"), 0.5f), "l2_norm_clamp", NULL);
}

/* ---- dropout ---- */

static rt_graph *dropout_graph(int64_t rows, int64_t cols, float p, rt_node **x, rt_node **y)
{
    rt_graph *g = tu_graph_new();
    *x = rt_input(g, "x", RT_DIMS(rows, cols));
    rt_input_requires_grad(*x);
    *y = rt_dropout(g, *x, p);
    if (!*y) fail_msg("dropout: %s", rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    tu_fill_uniform(*x, 5, 0.5f, 1.5f); /* no zeros: a zero output means dropped */
    g->seed = 42;
    g->step = 3;
    return g;
}

static void test_dropout_eval_and_p0(void **state)
{
    (void)state;
    rt_node *x, *y;
    for (int pass = 0; pass < 2; pass++) { /* eval with p = 0.4, then training with p = 0 */
        rt_graph *g = dropout_graph(7, 33, pass ? 0.f : 0.4f, &x, &y);
        rt_graph_set_training(g, pass == 1);
        assert_int_equal(rt_graph_forward(g), RT_OK);
        assert_memory_equal(rt_data(y), rt_data(x), (size_t)rt_numel(x) * sizeof(float));
        float *dy = malloc((size_t)rt_numel(y) * sizeof *dy);
        for (int64_t i = 0; i < rt_numel(y); i++) dy[i] = (float)i - 100.f;
        assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
        assert_memory_equal(x->grad, dy, (size_t)rt_numel(x) * sizeof(float));
        free(dy);
        tu_graph_free(g);
    }
}

static void test_dropout_train(void **state)
{
    (void)state;
    const float p = 0.3f, scale = 1.f / (1.f - p);
    const int64_t R = 100, Cn = 1000, N = R * Cn;
    rt_node *x, *y;
    rt_graph *g = dropout_graph(R, Cn, p, &x, &y);
    float *first = malloc((size_t)N * sizeof *first), *dy = malloc((size_t)N * sizeof *dy);
    assert_non_null(first);
    assert_non_null(dy);
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    memcpy(first, rt_data(y), (size_t)N * sizeof *first);
    /* same (seed, step) with 2 threads: the same mask, bit for bit */
    omp_set_num_threads(2);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    omp_set_num_threads(threads);
    assert_memory_equal(first, rt_data(y), (size_t)N * sizeof *first);
    int64_t zeros = 0;
    for (int64_t i = 0; i < N; i++) {
        float xi = rt_data(x)[i], yi = rt_data(y)[i];
        if (yi == 0.f) zeros++;
        else if (yi != xi * scale) fail_msg("dropout: kept element %lld: %.9g != %.9g * %.9g", (long long)i, yi, xi, scale);
    }
    /* drop fraction within 5 standard deviations of p */
    double frac = (double)zeros / (double)N, sd = sqrt(p * (1 - p) / (double)N);
    printf("    dropout p %.2f: dropped fraction %.5f (bound +-%.5f)\n", p, frac, 5 * sd);
    assert_true(fabs(frac - p) < 5 * sd);
    /* backward: the forward's mask, scaled */
    for (int64_t i = 0; i < N; i++) dy[i] = 1.f + (float)(i % 7);
    assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
    for (int64_t i = 0; i < N; i++)
        if (x->grad[i] != (first[i] != 0.f ? dy[i] * scale : 0.f)) fail_msg("dropout: grad %lld wrong", (long long)i);
    /* another step, another mask; the same step again, the same mask */
    g->step = 4;
    assert_int_equal(rt_graph_forward(g), RT_OK);
    int64_t differ = 0;
    for (int64_t i = 0; i < N; i++) differ += (first[i] == 0.f) != (rt_data(y)[i] == 0.f);
    printf("    dropout: %lld of %lld mask entries differ between steps 3 and 4\n", (long long)differ, (long long)N);
    assert_true(differ > N / 4); /* expected 2 p (1 - p) N = 0.42 N */
    g->step = 3;
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_memory_equal(first, rt_data(y), (size_t)N * sizeof *first);
    free(first);
    free(dy);
    tu_graph_free(g);
}

static void test_dropout_gradcheck(void **state)
{
    (void)state;
    rt_node *x, *y;
    rt_graph *g = dropout_graph(5, 21, 0.5f, &x, &y);
    tu_fill_uniform(x, 9, -2.f, 2.f);
    tu_gradcheck(g, y, &(tu_gc_opts){.max_per_leaf = 105}); /* the mask is fixed for a fixed step */
    tu_graph_free(g);
}

/* ---- gaussian_sample ---- */

static rt_graph *gauss_graph(int64_t n, rt_node **mu, rt_node **lv, rt_node **y)
{
    rt_graph *g = tu_graph_new();
    *mu = rt_input(g, "mu", RT_DIMS(n));
    *lv = rt_input(g, "logvar", RT_DIMS(n));
    rt_input_requires_grad(*mu);
    rt_input_requires_grad(*lv);
    *y = rt_gaussian_sample(g, *mu, *lv);
    if (!*y) fail_msg("gaussian_sample: %s", rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    g->seed = 7;
    g->step = 11;
    return g;
}

static void test_gaussian_sample(void **state)
{
    (void)state;
    const int64_t n = 257;
    rt_node *mu, *lv, *y;
    rt_graph *g = gauss_graph(n, &mu, &lv, &y);
    tu_fill_uniform(mu, 1, -2.f, 2.f);
    tu_fill_uniform(lv, 2, -3.f, 1.5f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    /* training: mu + exp(logvar / 2) eps with our RNG's eps, against a double reference */
    float *want = malloc((size_t)n * sizeof *want);
    for (int64_t i = 0; i < n; i++) {
        double eps = rt_rng_normal(g->seed, (uint32_t)y->id, g->step, (uint64_t)i);
        want[i] = (float)(rt_data(mu)[i] + exp(0.5 * rt_data(lv)[i]) * eps);
    }
    tu_compare("gaussian_sample train out", rt_data(y), want, n, 1e-6);
    tu_gradcheck(g, y, &(tu_gc_opts){.max_per_leaf = 257});
    /* a different step draws different noise */
    memcpy(want, rt_data(y), (size_t)n * sizeof *want);
    g->step = 12;
    assert_int_equal(rt_graph_forward(g), RT_OK);
    int same = 0;
    for (int64_t i = 0; i < n; i++) same += want[i] == rt_data(y)[i];
    assert_true(same < 3);
    /* eval: y = mu exactly, logvar gets no gradient */
    rt_graph_set_training(g, false);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_memory_equal(rt_data(y), rt_data(mu), (size_t)n * sizeof(float));
    float *dy = want;
    for (int64_t i = 0; i < n; i++) dy[i] = 0.5f + (float)i;
    assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
    assert_memory_equal(mu->grad, dy, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) assert_true(lv->grad[i] == 0.f);
    tu_gradcheck(g, y, NULL);
    free(want);
    tu_graph_free(g);
}

static void test_gaussian_stats(void **state)
{
    (void)state;
    const int64_t n = 100000;
    rt_node *mu, *lv, *y;
    rt_graph *g = gauss_graph(n, &mu, &lv, &y);
    memset(rt_data(mu), 0, (size_t)n * sizeof(float)); /* mu = logvar = 0: y = eps */
    memset(rt_data(lv), 0, (size_t)n * sizeof(float));
    assert_int_equal(rt_graph_forward(g), RT_OK);
    double s = 0, q = 0;
    int64_t in1 = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = rt_data(y)[i];
        s += e;
        q += e * e;
        in1 += fabs(e) < 1.0;
    }
    double mean = s / n, sd = sqrt(q / n - mean * mean), f1 = (double)in1 / n;
    printf("    eps over %lld samples: mean %.5f (bound 0.0158), std %.5f (bound 1 +- 0.011), P(|eps|<1) %.4f\n",
           (long long)n, mean, sd, f1);
    /* 5 standard errors: mean 5/sqrt(n), std 5/sqrt(2n), fraction 5 sqrt(f(1-f)/n) */
    assert_true(fabs(mean) < 5 / sqrt((double)n));
    assert_true(fabs(sd - 1) < 5 / sqrt(2.0 * n));
    assert_true(fabs(f1 - 0.682689) < 5 * sqrt(0.682689 * 0.317311 / n));
    tu_graph_free(g);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_graph_scope(g, "vae.sample");
    tu_expect_build_error(g, rt_gaussian_sample(g, rt_input(g, "mu", RT_DIMS(2, 3)), rt_input(g, "lv", RT_DIMS(3, 2))),
                          "gaussian_sample", "(2, 3)");
    static const float bad_p[] = {1.f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        g = tu_graph_new();
        tu_expect_build_error(g, rt_dropout(g, rt_input(g, "x", RT_DIMS(4)), bad_p[i]), "dropout", NULL);
    }
    g = tu_graph_new();
    tu_expect_build_error(g, rt_l2_norm(g, rt_input(g, "x", RT_DIMS(4, 2)), -1.f), "l2_norm", NULL);
    /* elementwise ops accept any shape; a failed input passes through as NULL */
    static const unary_fn un[] = {rt_gelu, rt_relu, rt_tanh, rt_sigmoid, rt_softmax, rt_log_softmax};
    g = tu_graph_new();
    for (size_t i = 0; i < sizeof un / sizeof un[0]; i++) assert_null(un[i](g, NULL));
    assert_null(rt_dropout(g, NULL, 0.1f));
    assert_null(rt_l2_norm(g, NULL, 1e-12f));
    assert_int_equal(rt_graph_status(g), RT_OK);
    tu_graph_free(g);
}

/* ---- AVX2 against the scalar reference ---- */

/* Forward + backward of y = f(x) under an ISA; returns malloc'd [out | dx]. */
static float *run_isa(unary_fn f, int64_t rows, int64_t cols, float lo, float hi, int isa)
{
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(rows, cols));
    rt_input_requires_grad(x);
    rt_node *y = f(g, x);
    tu_plan(g, RT_PLAN_TRAIN);
    tu_fill_uniform(x, 3, lo, hi);
    int64_t n = rows * cols;
    float *res = malloc(2 * (size_t)n * sizeof *res), *dy = malloc((size_t)n * sizeof *dy);
    for (int64_t i = 0; i < n; i++) dy[i] = 2.f * rt_rng_uniform(4, 0, 0, (uint64_t)i) - 1.f;
    rt_cpu_force_isa(isa);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
    rt_cpu_force_isa(-1);
    memcpy(res, rt_data(y), (size_t)n * sizeof *res);
    memcpy(res + n, x->grad, (size_t)n * sizeof *res);
    free(dy);
    tu_graph_free(g);
    return res;
}

static void test_simd_vs_scalar(void **state)
{
    (void)state;
    if (rt_cpu_isa() < RT_ISA_AVX2) {
        printf("    no AVX2 on this CPU (or RETORT_ISA set): only the scalar path exists\n");
        return;
    }
    static const struct { const char *name; unary_fn f; float lo, hi; } cs[] = {
        {"gelu", rt_gelu, -8.f, 8.f},
        {"softmax", rt_softmax, -20.f, 20.f},
        {"softmax_large", rt_softmax, -90.f, 90.f},
        {"log_softmax", rt_log_softmax, -20.f, 20.f},
        {"log_softmax_large", rt_log_softmax, -90.f, 90.f},
    };
    const int64_t R = 64, Cn = 771; /* 771 = 96 * 8 + 3: a SIMD tail in every row */
    char what[96];
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        float *ref = run_isa(cs[i].f, R, Cn, cs[i].lo, cs[i].hi, RT_ISA_SCALAR);
        float *got = run_isa(cs[i].f, R, Cn, cs[i].lo, cs[i].hi, RT_ISA_AVX2);
        /* float kernels that sum each 771-wide row in a different order (8 lanes
         * vs serial), and expf vs a 2-ulp polynomial: they agree to ~1e-6 of the
         * tensor's scale (worst seen 9e-7); 1e-5 leaves room for other CPUs */
        snprintf(what, sizeof what, "%s avx2 vs scalar out", cs[i].name);
        tu_compare(what, got, ref, R * Cn, 1e-5);
        snprintf(what, sizeof what, "%s avx2 vs scalar grad", cs[i].name);
        tu_compare(what, got + R * Cn, ref + R * Cn, R * Cn, 1e-5);
        free(ref);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_l2_norm),
        cmocka_unit_test(test_dropout_eval_and_p0),
        cmocka_unit_test(test_dropout_train),
        cmocka_unit_test(test_dropout_gradcheck),
        cmocka_unit_test(test_gaussian_sample),
        cmocka_unit_test(test_gaussian_stats),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_simd_vs_scalar),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
