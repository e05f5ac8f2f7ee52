/*
 * test_ops_norm.c - layer_norm and batch_norm: PyTorch parity (fixtures
 * from tests/fixtures/fx_norm.py) in training and eval mode, the running
 * statistics after one training forward, finite-difference gradient
 * checks, shape errors, layer norm's AVX2 rows against the scalar ones and
 * its parameter gradients across thread counts.
 */
#include "testutil.h"

#include "core/cpu.h"
#include "core/rng.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_norm.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* A parameter leaf from the fixture if the case has "<case>.<name>", else NULL. */
static rt_node *opt_param(rt_graph *g, const char *cs, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", cs, name);
    return tu_fixture_get(&fx, key, NULL, true) ? tu_param(g, &fx, cs, name) : NULL;
}

/* A buffer leaf (running statistics) shaped like the fixture's, or NULL. */
static rt_node *opt_buffer(rt_graph *g, const char *cs, const char *name)
{
    char key[128];
    int64_t shape[RT_MAX_DIMS];
    snprintf(key, sizeof key, "%s.%s", cs, name);
    if (!tu_fixture_get(&fx, key, NULL, true)) return NULL;
    int nd = tu_fixture_shape(&fx, key, shape);
    rt_node *n = rt_buffer(g, name, nd, shape, rt_init_zeros());
    if (!n) fail_msg("buffer %s: %s", name, rt_errmsg());
    return n;
}

/* ---- layer norm ---- */

static void ln_case(const char *cs, float eps)
{
    rt_graph *g = tu_graph_new();
    rt_node *x = tu_input(g, &fx, cs, "x");
    rt_node *y = rt_layer_norm(g, x, opt_param(g, cs, "weight"), opt_param(g, cs, "bias"), eps);
    if (!y) fail_msg("%s: build failed: %s", cs, rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    tu_parity(g, y, &fx, cs, 1e-5, 1e-4);
    /* 768-wide rows: float32 noise in L = sum(y r) is ~1e-3 of the numeric
     * gradient at the default step 1e-3; the op is smooth, so use 1e-2 */
    bool wide = x->out.shape[x->out.ndim - 1] > 256;
    tu_gradcheck(g, y, wide ? &(tu_gc_opts){.eps = 1e-2} : NULL);
    tu_graph_free(g);
}

static void test_layer_norm(void **state)
{
    (void)state;
    ln_case("layer_norm", 1e-5f);
    ln_case("layer_norm_w", 1e-5f);
    ln_case("layer_norm_b", 1e-5f);
    ln_case("layer_norm_none", 1e-5f);
    ln_case("layer_norm_wide", 1e-6f);
    ln_case("layer_norm_1d", 1e-5f);
}

/* Forward + backward of a (64, 771) layer norm with w and b under an ISA and
 * a thread count; returns malloc'd [y | dx | dw | db]. */
static float *ln_run(int isa, int threads)
{
    const int64_t M = 64, C = 771;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(M, C));
    rt_input_requires_grad(x);
    rt_node *w = rt_param(g, "w", RT_DIMS(C), rt_init_zeros()), *b = rt_param(g, "b", RT_DIMS(C), rt_init_zeros());
    rt_node *y = rt_layer_norm(g, x, w, b, 1e-5f);
    tu_plan(g, RT_PLAN_TRAIN);
    tu_fill_uniform(x, 1, -3.f, 5.f);
    tu_fill_uniform(w, 2, 0.5f, 1.5f);
    tu_fill_uniform(b, 3, -1.f, 1.f);
    float *res = malloc((size_t)(2 * M * C + 2 * C) * sizeof *res), *dy = malloc((size_t)(M * C) * sizeof *dy);
    for (int64_t i = 0; i < M * C; i++) dy[i] = 2.f * rt_rng_uniform(4, 0, 0, (uint64_t)i) - 1.f;
    int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    rt_cpu_force_isa(isa);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    rt_params_zero_grad(g->params);
    assert_int_equal(rt_graph_backward_seed(g, y, dy), RT_OK);
    rt_cpu_force_isa(-1);
    omp_set_num_threads(keep);
    memcpy(res, rt_data(y), (size_t)(M * C) * sizeof *res);
    memcpy(res + M * C, x->grad, (size_t)(M * C) * sizeof *res);
    memcpy(res + 2 * M * C, w->grad, (size_t)C * sizeof *res);
    memcpy(res + 2 * M * C + C, b->grad, (size_t)C * sizeof *res);
    free(dy);
    tu_graph_free(g);
    return res;
}

static void test_layer_norm_isa_threads(void **state)
{
    (void)state;
    const int64_t M = 64, C = 771, n = 2 * M * C + 2 * C;
    /* dw, db are summed per fixed chunk of rows: bit-identical for any thread count */
    float *one = ln_run(-1, 1), *two = ln_run(-1, 2);
    assert_memory_equal(one, two, (size_t)n * sizeof *one);
    free(two);
    if (rt_cpu_isa() < RT_ISA_AVX2) {
        printf("    no AVX2 on this CPU (or RETORT_ISA set): only the scalar path exists\n");
        free(one);
        return;
    }
    float *ref = ln_run(RT_ISA_SCALAR, 2);
    static const char *const what[] = {"layer_norm avx2 vs scalar out", "layer_norm avx2 vs scalar dx",
                                       "layer_norm avx2 vs scalar dw", "layer_norm avx2 vs scalar db"};
    const int64_t off[] = {0, M * C, 2 * M * C, 2 * M * C + C}, len[] = {M * C, M * C, C, C};
    /* the same C loops built for 4 and 8 lanes: row sums in another order */
    for (int i = 0; i < 4; i++) tu_compare(what[i], one + off[i], ref + off[i], len[i], 1e-5);
    free(ref);
    free(one);
}

/* ---- batch norm ---- */

/* Build, check parity (and the running stats) and the gradient of one case. */
static void bn_case(const char *cs, bool training, float momentum)
{
    rt_graph *g = tu_graph_new();
    rt_node *rm = opt_buffer(g, cs, "running_mean"), *rv = opt_buffer(g, cs, "running_var");
    rt_node *y = rt_batch_norm(g, tu_input(g, &fx, cs, "x"), opt_param(g, cs, "weight"), opt_param(g, cs, "bias"),
                               rm, rv, 1e-5f, momentum);
    if (!y) fail_msg("%s: build failed: %s", cs, rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    rt_graph_set_training(g, training);
    tu_parity(g, y, &fx, cs, 1e-5, 1e-4); /* one forward */
    char key[128];
    int64_t n;
    static const char *const stat[] = {"running_mean", "running_var"};
    for (int i = 0; rm && i < 2; i++) {
        rt_node *r = i ? rv : rm;
        /* training: updated once, with the unbiased variance; eval: untouched */
        snprintf(key, sizeof key, training ? "%s.%s_new" : "%s.%s", cs, stat[i]);
        const float *want = tu_fixture_get(&fx, key, &n, false);
        assert_int_equal(n, rt_numel(r));
        if (training) tu_compare(key, rt_data(r), want, n, 1e-6);
        else assert_memory_equal(rt_data(r), want, (size_t)n * sizeof(float));
    }
    /* Every training forward of the gradcheck updates the running stats
     * again; the gradient uses batch statistics, so it is unaffected.
     * Step 1e-2: one perturbed x moves its channel's statistics and so all
     * B S outputs of the channel, each re-rounded to float32; at the default
     * 1e-3 that noise is 0.7 of the tolerance (bn_train_4d), at 3e-4 it
     * fails, at 1e-2 it is 0.05. The op is smooth (truncation ~h^2). */
    tu_gradcheck(g, y, &(tu_gc_opts){.eps = 1e-2});
    tu_graph_free(g);
}

static void test_batch_norm_train(void **state)
{
    (void)state;
    bn_case("bn_train_4d", true, 0.1f);
    bn_case("bn_train_2d", true, 0.1f);
    bn_case("bn_train_3d_noaffine", true, 0.3f);
    bn_case("bn_train_norunning", true, 0.1f);
}

static void test_batch_norm_eval(void **state)
{
    (void)state;
    bn_case("bn_eval_4d", false, 0.1f);
    bn_case("bn_eval_2d", false, 0.1f);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_graph_scope(g, "blocks.0.norm1");
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    tu_expect_build_error(g, rt_layer_norm(g, x, rt_param(g, "w", RT_DIMS(7), rt_init_ones()), NULL, 1e-5f), "layer_norm",
                 "(7)");
    assert_non_null(strstr(rt_errmsg(), "blocks.0.norm1"));
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    tu_expect_build_error(g, rt_layer_norm(g, x, NULL, rt_param(g, "b", RT_DIMS(8, 1), rt_init_zeros()), 1e-5f),
                 "layer_norm", "(8, 1)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_layer_norm(g, rt_input(g, "x", RT_DIMS(2, 8)), NULL, NULL, -1.f), "layer_norm", "eps");

    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(4, 3, 6, 6));
    tu_expect_build_error(g, rt_batch_norm(g, x, rt_param(g, "w", RT_DIMS(6), rt_init_ones()), NULL, NULL, NULL, 1e-5f, 0.1f),
                 "batch_norm", "(4, 3, 6, 6)");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(4, 3));
    tu_expect_build_error(g, rt_batch_norm(g, x, NULL, NULL, rt_buffer(g, "rm", RT_DIMS(4), rt_init_zeros()),
                                  rt_buffer(g, "rv", RT_DIMS(4), rt_init_ones()), 1e-5f, 0.1f),
                 "batch_norm", "running_mean");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(4, 3));
    tu_expect_build_error(g, rt_batch_norm(g, x, NULL, NULL, rt_buffer(g, "rm", RT_DIMS(3), rt_init_zeros()), NULL, 1e-5f, 0.1f),
                 "batch_norm", "together");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_batch_norm(g, rt_input(g, "x", RT_DIMS(12)), NULL, NULL, NULL, NULL, 1e-5f, 0.1f),
                 "batch_norm", "(12)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_batch_norm(g, rt_input(g, "x", RT_DIMS(2, 3)), NULL, NULL, NULL, NULL, 1e-5f, 1.5f),
                 "batch_norm", "momentum");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_layer_norm_isa_threads),
        cmocka_unit_test(test_batch_norm_train),
        cmocka_unit_test(test_batch_norm_eval),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
