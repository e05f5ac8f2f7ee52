/*
 * test_ops_loss.c - the losses of k_loss.c: PyTorch parity of the loss and
 * every gradient (fixtures from tests/fixtures/fx_loss.py: F.cross_entropy
 * with and without label smoothing and with probability targets,
 * F.mse_loss, F.l1_loss, written-out CCC, AAM-softmax and Gaussian KL
 * references), finite-difference gradient checks, invalid class indices
 * (NaN, no out-of-bounds read), losses combined into an ELBO and backward
 * from the scalar, and shape errors naming the node.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>

#define FIX "tests/fixtures/ops_loss.safetensors"
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* A constant input (no gradient) shaped like fixture tensor "<case>.<name>". */
static rt_node *const_input(rt_graph *g, const char *cs, const char *name)
{
    char key[128];
    int64_t shape[RT_MAX_DIMS];
    snprintf(key, sizeof key, "%s.%s", cs, name);
    int nd = tu_fixture_shape(&fx, key, shape);
    rt_node *n = rt_input(g, name, nd, shape);
    if (!n) fail_msg("input %s: %s", name, rt_errmsg());
    return n;
}

/* Parity of the loss and its gradients, then a finite-difference check. */
static void finish(rt_graph *g, rt_node *loss, const char *cs, const tu_gc_opts *gc)
{
    tu_check_op(g, loss, &fx, cs, gc);
}

/* ---- cross entropy ---- */

/* gc_eps: finite-difference step (0: the default 1e-3) */
static void ce_case(const char *cs, float eps, double gc_eps)
{
    rt_graph *g = tu_graph_new();
    rt_node *z = tu_input(g, &fx, cs, "logits");
    finish(g, rt_cross_entropy(g, z, const_input(g, cs, "target"), eps), cs, &(tu_gc_opts){.eps = gc_eps});
}

static void test_cross_entropy(void **state)
{
    (void)state;
    ce_case("ce", 0.f, 0);
    ce_case("ce_smooth", 0.1f, 0);
    ce_case("ce_wide", 0.2f, 0);
    /* logits of +-80 give row losses ~100, whose float32 rounding (~1e-5)
     * over a 2e-3 step is 0.64 of the tolerance; at a 1e-2 step 0.10 (the
     * loss is smooth: the error falls with the step, so it is noise) */
    ce_case("ce_large", 0.05f, 1e-2);
    rt_graph *g = tu_graph_new();
    rt_node *z = tu_input(g, &fx, "ce_soft", "logits");
    finish(g, rt_cross_entropy_soft(g, z, tu_input(g, &fx, "ce_soft", "probs")), "ce_soft", NULL);
}

/* Class indices out of range, fractional or NaN: that row's loss and
 * gradient are NaN (so the mean is), valid rows' gradients are untouched,
 * nothing is read out of bounds (ASan/UBSan build). */
static void test_cross_entropy_bad_target(void **state)
{
    (void)state;
    static const float bad[] = {4.f, -1.f, 2.5f, NAN, 1e30f};
    for (int op = 0; op < 2; op++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            rt_graph *g = tu_graph_new();
            rt_node *z = rt_input(g, "z", RT_DIMS(3, 4)), *t = rt_input(g, "t", RT_DIMS(3));
            rt_node *w = op ? rt_param(g, "w", RT_DIMS(4, 4), rt_init_ones()) : NULL;
            rt_input_requires_grad(z);
            rt_node *loss = op ? rt_aam_softmax(g, z, w, t, 0.2f, 10.f) : rt_cross_entropy(g, z, t, 0.1f);
            tu_plan(g, RT_PLAN_TRAIN);
            tu_fill_uniform(z, 5, -1.f, 1.f);
            float *tv = rt_data(t);
            tv[0] = 1.f;
            tv[1] = bad[i];
            tv[2] = 3.f;
            assert_int_equal(rt_graph_forward(g), RT_OK);
            assert_true(isnan(rt_data(loss)[0]));
            assert_int_equal(rt_graph_backward(g, loss), RT_OK);
            for (int j = 0; j < 4; j++) {
                assert_true(isfinite(z->grad[j]) && isfinite(z->grad[8 + j]));
                assert_true(isnan(z->grad[4 + j]));
            }
            tu_graph_free(g);
        }
    printf("    bad class indices give a NaN loss and NaN gradient rows\n");
}

/* ---- mse, l1 ---- */

static void pair_case(const char *cs, bool l1, bool b_const)
{
    rt_graph *g = tu_graph_new();
    rt_node *a = tu_input(g, &fx, cs, "a");
    rt_node *b = b_const ? const_input(g, cs, "b") : tu_input(g, &fx, cs, "b");
    finish(g, l1 ? rt_l1_loss(g, a, b) : rt_mse_loss(g, a, b), cs, NULL);
}

static void test_mse_l1(void **state)
{
    (void)state;
    pair_case("mse", false, false);
    pair_case("mse_const", false, true);
    pair_case("l1", true, false); /* |a - b| >= 0.05: away from the kink */
    pair_case("l1_const", true, true);
}

/* L1's gradient where a = b is 0, as PyTorch's sign(0). */
static void test_l1_kink(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *a = rt_input(g, "a", RT_DIMS(2, 3)), *b = rt_input(g, "b", RT_DIMS(2, 3));
    rt_input_requires_grad(a);
    rt_input_requires_grad(b);
    rt_node *loss = rt_l1_loss(g, a, b);
    tu_plan(g, RT_PLAN_TRAIN);
    static const float av[] = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, bv[] = {1.f, 0.f, 3.f, 5.f, 5.f, 6.f};
    memcpy(rt_data(a), av, sizeof av);
    memcpy(rt_data(b), bv, sizeof bv);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_true(fabsf(rt_data(loss)[0] - 0.5f) < 1e-7f);
    assert_int_equal(rt_graph_backward(g, loss), RT_OK);
    static const float want[] = {0.f, 1.f / 6, 0.f, -1.f / 6, 0.f, 0.f};
    for (int i = 0; i < 6; i++) {
        assert_true(fabsf(a->grad[i] - want[i]) < 1e-7f);
        assert_true(fabsf(b->grad[i] + want[i]) < 1e-7f);
    }
    tu_graph_free(g);
}

/* ---- ccc ---- */

static void test_ccc(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *p = tu_input(g, &fx, "ccc", "pred");
    finish(g, rt_ccc_loss(g, p, tu_input(g, &fx, "ccc", "target")), "ccc", NULL);
    g = tu_graph_new();
    p = tu_input(g, &fx, "ccc_1col", "pred");
    finish(g, rt_ccc_loss(g, p, const_input(g, "ccc_1col", "target")), "ccc_1col", NULL);
}

/* ---- aam-softmax ---- */

static void aam_case(const char *cs, float m, float s)
{
    rt_graph *g = tu_graph_new();
    rt_node *e = tu_input(g, &fx, cs, "emb"), *w = tu_param(g, &fx, cs, "weight");
    /* s = 30: logits and row losses ~30, whose float32 rounding over the
     * default 2e-3 step is 0.23 of the tolerance (0.77 at 6e-4, 0.05 at
     * 2e-2: noise, not truncation), so step 1e-2 */
    finish(g, rt_aam_softmax(g, e, w, const_input(g, cs, "target"), m, s), cs,
           s > 20.f ? &(tu_gc_opts){.eps = 1e-2} : NULL);
}

static void test_aam_softmax(void **state)
{
    (void)state;
    aam_case("aam", 0.2f, 30.f);
    aam_case("aam_s10", 0.3f, 10.f);
    aam_case("aam_threshold", 0.5f, 10.f); /* 3 rows with theta + m > pi */
}

/* ---- gaussian kl, and an ELBO built from losses ---- */

static void test_gaussian_kl(void **state)
{
    (void)state;
    static const char *const cs[] = {"kl", "kl_3d"};
    for (int i = 0; i < 2; i++) {
        rt_graph *g = tu_graph_new();
        rt_node *mu = tu_input(g, &fx, cs[i], "mu");
        finish(g, rt_gaussian_kl(g, mu, tu_input(g, &fx, cs[i], "logvar")), cs[i], NULL);
    }
}

/* ELBO = mse(recon, x) + beta KL from rt_add / rt_scale of scalar losses:
 * backward from it gives the weighted sum of each loss's gradient. */
static void test_elbo(void **state)
{
    (void)state;
    const float beta = 0.25f;
    rt_graph *g = tu_graph_new();
    rt_node *mu = rt_input(g, "mu", RT_DIMS(4, 3)), *lv = rt_input(g, "lv", RT_DIMS(4, 3));
    rt_node *r = rt_input(g, "r", RT_DIMS(4, 5)), *x = rt_input(g, "x", RT_DIMS(4, 5));
    rt_input_requires_grad(mu);
    rt_input_requires_grad(lv);
    rt_input_requires_grad(r);
    rt_node *rec = rt_mse_loss(g, r, x), *kl = rt_gaussian_kl(g, mu, lv);
    rt_node *elbo = rt_add(g, rec, rt_scale(g, kl, beta));
    if (!elbo) fail_msg("build: %s", rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    tu_fill_uniform(mu, 1, -1.f, 1.f);
    tu_fill_uniform(lv, 2, -1.f, 1.f);
    tu_fill_uniform(r, 3, -1.f, 1.f);
    tu_fill_uniform(x, 4, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    assert_true(fabsf(rt_data(elbo)[0] - (rt_data(rec)[0] + beta * rt_data(kl)[0])) < 1e-6f);
    assert_int_equal(rt_graph_backward(g, elbo), RT_OK);
    const float *m = rt_data(mu), *l = rt_data(lv), *rv = rt_data(r), *xv = rt_data(x);
    for (int i = 0; i < 12; i++) {
        assert_true(fabsf(mu->grad[i] - beta * m[i] / 4.f) < 1e-6f);
        assert_true(fabsf(lv->grad[i] - beta * 0.5f * (expf(l[i]) - 1.f) / 4.f) < 1e-6f);
    }
    for (int i = 0; i < 20; i++) assert_true(fabsf(r->grad[i] - 2.f * (rv[i] - xv[i]) / 20.f) < 1e-6f);
    tu_gradcheck(g, elbo, NULL);
    tu_graph_free(g);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_graph_scope(g, "head.loss");
    tu_expect_build_error(g, rt_cross_entropy(g, rt_input(g, "z", RT_DIMS(4, 10)), rt_input(g, "t", RT_DIMS(5)), 0.f),
                 "cross_entropy", "(5)");
    assert_non_null(strstr(rt_errmsg(), "head.loss"));
    g = tu_graph_new();
    tu_expect_build_error(g, rt_cross_entropy(g, rt_input(g, "z", RT_DIMS(4, 2, 10)), rt_input(g, "t", RT_DIMS(4)), 0.f),
                 "cross_entropy", "(4, 2, 10)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_cross_entropy(g, rt_input(g, "z", RT_DIMS(4, 10)), rt_input(g, "t", RT_DIMS(4)), 1.5f),
                 "cross_entropy", "label_smoothing");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_cross_entropy_soft(g, rt_input(g, "z", RT_DIMS(4, 10)), rt_input(g, "p", RT_DIMS(4, 9))),
                 "cross_entropy_soft", "(4, 9)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_mse_loss(g, rt_input(g, "a", RT_DIMS(2, 3)), rt_input(g, "b", RT_DIMS(3, 2))), "mse_loss",
                 "(3, 2)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_l1_loss(g, rt_input(g, "a", RT_DIMS(6)), rt_input(g, "b", RT_DIMS(6, 1))), "l1_loss",
                 "(6, 1)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_ccc_loss(g, rt_input(g, "p", RT_DIMS(2, 3, 4)), rt_input(g, "t", RT_DIMS(2, 3, 4))),
                 "ccc_loss", "(2, 3, 4)");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_ccc_loss(g, rt_input(g, "p", RT_DIMS(8, 2)), rt_input(g, "t", RT_DIMS(8, 3))), "ccc_loss",
                 "(8, 3)");
    g = tu_graph_new();
    rt_node *w = rt_param(g, "w", RT_DIMS(10, 16), rt_init_ones());
    tu_expect_build_error(g, rt_aam_softmax(g, rt_input(g, "e", RT_DIMS(4, 8)), w, rt_input(g, "t", RT_DIMS(4)), 0.2f, 30.f),
                 "aam_softmax", "(10, 16)");
    g = tu_graph_new();
    w = rt_param(g, "w", RT_DIMS(10, 8), rt_init_ones());
    tu_expect_build_error(g, rt_aam_softmax(g, rt_input(g, "e", RT_DIMS(4, 8)), w, rt_input(g, "t", RT_DIMS(4, 1)), 0.2f, 30.f),
                 "aam_softmax", "(4, 1)");
    g = tu_graph_new();
    w = rt_param(g, "w", RT_DIMS(10, 8), rt_init_ones());
    tu_expect_build_error(g, rt_aam_softmax(g, rt_input(g, "e", RT_DIMS(4, 8)), w, rt_input(g, "t", RT_DIMS(4)), 0.2f, 0.f),
                 "aam_softmax", "scale");
    g = tu_graph_new();
    tu_expect_build_error(g, rt_gaussian_kl(g, rt_input(g, "mu", RT_DIMS(4, 8)), rt_input(g, "lv", RT_DIMS(4, 7))),
                 "gaussian_kl", "(4, 7)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_cross_entropy_bad_target),
        cmocka_unit_test(test_mse_l1),
        cmocka_unit_test(test_l1_kink),
        cmocka_unit_test(test_ccc),
        cmocka_unit_test(test_aam_softmax),
        cmocka_unit_test(test_gaussian_kl),
        cmocka_unit_test(test_elbo),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
