/*
 * test_optim.c - optimizers, schedules and clipping (src/train/optim.c,
 * schedule.c): parity with torch.optim / lr_scheduler / clip_grad_norm_
 * (fixtures from tests/fixtures/make_optim_fixtures.py), frozen views,
 * weight-decay exclusion, bit-identical results for 1 and 4 threads, exact
 * continuation after a state save/restore, and config errors.
 *
 * Error measure as tu_compare: max |got - want| over a tensor divided by
 * max |want|. Parity tolerance 1e-6: both sides compute in float32, torch
 * with fused multiply-adds in its vectorised kernels and we without, so
 * each operation may differ by an ulp (6e-8); over 20 steps the largest
 * drift measured is 1.6e-7 (SGD), 3.5e-8 (Adam).
 */
#include "testutil.h"

#include "core/rng.h"
#include "core/threads.h"
#include "train/optim.h"
#include "train/schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/optim.safetensors"
#define STEPS 20
#define TOL 1e-6

static tu_fixture fx;
static const char *const views[] = {"w", "b", "norm.weight", "cls_token"};
#define NV 4

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* The fixture's views, with a frozen (3, 4) view declared between b and
 * norm.weight: it holds 0.5 and gets gradients, and must never change. */
static rt_params *make_store(void)
{
    rt_params *p = rt_params_new();
    char key[64];
    for (int i = 0; i < NV; i++) {
        int64_t shape[RT_MAX_DIMS];
        snprintf(key, sizeof key, "init.%s", views[i]);
        int nd = tu_fixture_shape(&fx, key, shape);
        assert_int_equal(rt_params_declare(p, views[i], RT_PARAM, nd, shape, rt_init_zeros(), NULL), RT_OK);
        if (i == 1)
            assert_int_equal(rt_params_declare(p, "frozen", RT_PARAM, RT_DIMS(3, 4), rt_init_const(0.5f), NULL),
                             RT_OK);
    }
    assert_int_equal(rt_params_alloc(p), RT_OK);
    assert_int_equal(rt_params_alloc_grad(p), RT_OK); /* the clip tests fill gradients without an optimizer */
    rt_params_init(p, 1);
    p->views[2].frozen = true;
    for (int i = 0; i < NV; i++) {
        const rt_param_view *v = rt_params_find(p, views[i]);
        snprintf(key, sizeof key, "init.%s", views[i]);
        memcpy(rt_params_data(p, v), tu_fixture_get(&fx, key, NULL, false), v->numel * sizeof(float));
    }
    return p;
}

/* Gradients of step s, times scale; the frozen view gets 3.0. */
static void load_grads(rt_params *p, int s, float scale)
{
    char key[64];
    rt_params_zero_grad(p);
    for (int i = 0; i < NV; i++) {
        const rt_param_view *v = rt_params_find(p, views[i]);
        snprintf(key, sizeof key, "grad.%d.%s", s, views[i]);
        const float *g = tu_fixture_get(&fx, key, NULL, false);
        float *d = rt_params_gradv(p, v);
        for (size_t j = 0; j < v->numel; j++) d[j] = g[j] * scale;
    }
    const rt_param_view *f = rt_params_find(p, "frozen");
    for (size_t j = 0; j < f->numel; j++) rt_params_gradv(p, f)[j] = 3.f;
}

static double rel_err(const float *got, const float *want, size_t n)
{
    double e = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        e = d > e || isnan(d) ? d : e;
        scale = fmax(scale, fabs(want[i]));
    }
    return e / scale;
}

static void check_frozen(const rt_params *p)
{
    const rt_param_view *f = rt_params_find(p, "frozen");
    for (size_t j = 0; j < f->numel; j++)
        if (rt_params_data(p, f)[j] != 0.5f) fail_msg("frozen view changed: [%zu] = %g", j, rt_params_data(p, f)[j]);
}

/* Run STEPS steps of cfg, comparing every view after every step with the
 * fixture's "<cs>.<s>.<view>"; the lr is lr or, if the case has one, "<cs>.lr"
 * from rt_sched s (checked against the fixture's too). */
static void parity_case(const char *cs, rt_optim_config cfg, double lr, const rt_sched *sched)
{
    rt_params *p = make_store();
    rt_optim *o;
    char key[96];
    if (rt_optim_new(&o, p, &cfg) != RT_OK) fail_msg("%s: %s", cs, rt_errmsg());
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        load_grads(p, s, 1.f);
        double lr_s = lr;
        if (sched) {
            lr_s = rt_sched_lr(sched, s);
            snprintf(key, sizeof key, "%s.lr", cs);
            double want = tu_fixture_get(&fx, key, NULL, false)[s];
            if (fabs(lr_s - want) > 1e-7 * fabs(want)) fail_msg("%s: lr at step %d: %g, want %g", cs, s, lr_s, want);
        }
        assert_int_equal(rt_optim_step(o, lr_s), RT_OK);
        for (int i = 0; i < NV; i++) {
            const rt_param_view *v = rt_params_find(p, views[i]);
            snprintf(key, sizeof key, "%s.%d.%s", cs, s, views[i]);
            double e = rel_err(rt_params_data(p, v), tu_fixture_get(&fx, key, NULL, false), v->numel);
            if (!(e <= TOL)) fail_msg("%s: step %d, %s: rel error %.3g > %g", cs, s, views[i], e, TOL);
            worst = fmax(worst, e);
        }
    }
    check_frozen(p);
    assert_int_equal(rt_optim_steps(o), STEPS);
    printf("%-16s %d steps: max rel error %.3g (tol %g)\n", cs, STEPS, worst, TOL);
    rt_optim_free(o);
    rt_params_free(p);
}

static rt_optim_config sgd(double mom, double damp, bool nesterov, double wd)
{
    rt_optim_config c = rt_optim_defaults(RT_OPTIM_SGD);
    c.momentum = mom;
    c.dampening = damp;
    c.nesterov = nesterov;
    c.weight_decay = wd;
    return c;
}

static rt_optim_config adam(enum rt_optim_kind kind, double b2, double eps, double wd, bool no_decay)
{
    rt_optim_config c = rt_optim_defaults(kind);
    c.beta2 = b2;
    c.eps = eps;
    c.weight_decay = wd;
    c.no_decay_1d = no_decay;
    if (no_decay) c.no_decay[0] = "cls_token";
    return c;
}

static void test_sgd_parity(void **state)
{
    (void)state;
    parity_case("sgd", sgd(0, 0, false, 0), 0.1, NULL);
    parity_case("sgd_momentum", sgd(0.9, 0, false, 0), 0.05, NULL);
    parity_case("sgd_dampening", sgd(0.8, 0.3, false, 0), 0.05, NULL);
    parity_case("sgd_nesterov_wd", sgd(0.9, 0, true, 1e-2), 0.05, NULL);
}

static void test_adam_parity(void **state)
{
    (void)state;
    parity_case("adam_wd", adam(RT_OPTIM_ADAM, 0.999, 1e-8, 1e-2, false), 1e-2, NULL);
    parity_case("adamw", adam(RT_OPTIM_ADAMW, 0.98, 1e-6, 0.05, false), 1e-2, NULL);
    parity_case("adamw_nodecay", adam(RT_OPTIM_ADAMW, 0.98, 1e-6, 0.05, true), 1e-2, NULL);
    rt_sched s = rt_sched_defaults(RT_SCHED_COSINE, 1e-2);
    s.warmup_steps = 5;
    s.total_steps = STEPS;
    assert_int_equal(rt_sched_check(&s), RT_OK);
    parity_case("adamw_sched", adam(RT_OPTIM_ADAMW, 0.98, 1e-6, 0.05, true), 0, &s);
}

/* The decay table: 1-D views and pattern matches (whole name or after a dot). */
static void test_no_decay_rule(void **state)
{
    (void)state;
    rt_params *p = rt_params_new();
    const char *names[] = {"cls_token", "enc.cls_token", "xcls_token", "cls_token.w", "fc.weight", "fc.bias",
                           "pos_embed"};
    for (int i = 0; i < 7; i++) {
        rt_status st = i == 5 ? rt_params_declare(p, names[i], RT_PARAM, RT_DIMS(6), rt_init_zeros(), NULL)
                              : rt_params_declare(p, names[i], RT_PARAM, RT_DIMS(2, 3), rt_init_zeros(), NULL);
        assert_int_equal(st, RT_OK);
    }
    assert_int_equal(rt_params_alloc(p), RT_OK);
    rt_optim_config c = rt_optim_defaults(RT_OPTIM_ADAMW);
    c.no_decay_1d = true;
    c.no_decay[0] = "cls_token";
    c.no_decay[1] = "pos_embed";
    rt_optim *o;
    assert_int_equal(rt_optim_new(&o, p, &c), RT_OK);
    const bool want[] = {false, false, true, true, true, false, false};
    for (int i = 0; i < 7; i++)
        if (rt_optim_decays(o, i) != want[i]) fail_msg("%s: decays = %d, want %d", names[i], !want[i], want[i]);
    rt_optim_free(o);
    /* without the options everything decays */
    c = rt_optim_defaults(RT_OPTIM_ADAMW);
    assert_int_equal(rt_optim_new(&o, p, &c), RT_OK);
    for (int i = 0; i < 7; i++) assert_true(rt_optim_decays(o, i));
    rt_optim_free(o);
    rt_params_free(p);
}

static void clip_case(const char *c)
{
    char key[64];
    snprintf(key, sizeof key, "clip.%s.scale", c);
    float scale = tu_fixture_get(&fx, key, NULL, false)[0];
    snprintf(key, sizeof key, "clip.%s.max_norm", c);
    double max_norm = tu_fixture_get(&fx, key, NULL, false)[0];
    snprintf(key, sizeof key, "clip.%s.norm", c);
    double want_norm = tu_fixture_get(&fx, key, NULL, false)[0];
    rt_params *p = make_store();
    load_grads(p, 0, scale);
    double n0 = rt_grad_norm(p);
    double n = rt_grad_clip(p, max_norm);
    assert_true(n == n0);
    double e = fabs(n - want_norm) / want_norm, worst = e;
    if (e > TOL) fail_msg("clip %s: norm %.9g, want %.9g", c, n, want_norm);
    for (int i = 0; i < NV; i++) {
        const rt_param_view *v = rt_params_find(p, views[i]);
        snprintf(key, sizeof key, "clip.%s.grad.%s", c, views[i]);
        e = rel_err(rt_params_gradv(p, v), tu_fixture_get(&fx, key, NULL, false), v->numel);
        if (!(e <= TOL)) fail_msg("clip %s: %s: rel error %.3g", c, views[i], e);
        worst = fmax(worst, e);
    }
    const rt_param_view *f = rt_params_find(p, "frozen");
    for (size_t j = 0; j < f->numel; j++) assert_true(rt_params_gradv(p, f)[j] == 3.f);
    double after = rt_grad_norm(p);
    printf("clip %-5s norm %.6g -> %.6g (max %g): max rel error %.3g (tol %g)\n", c, n, after, max_norm, worst, TOL);
    if (n > max_norm) assert_true(fabs(after - max_norm) < 1e-5 * max_norm);
    rt_params_free(p);
}

static void test_clip(void **state)
{
    (void)state;
    clip_case("big");
    clip_case("small");
}

/* ---- thread-count independence and state save/restore ---- */

/* A store big enough for several chunks: views of 70001, 37, 100000 and
 * 3 floats, the 37 one frozen; params and gradients from the Philox RNG. */
static rt_params *big_store(void)
{
    rt_params *p = rt_params_new();
    const int64_t n[] = {70001, 37, 100000, 3};
    const char *names[] = {"a.weight", "frozen", "c.weight", "d.bias"};
    for (int i = 0; i < 4; i++) {
        rt_status st = i == 3 ? rt_params_declare(p, names[i], RT_PARAM, RT_DIMS(n[i]), rt_init_normal(0.5f), NULL)
                              : rt_params_declare(p, names[i], RT_PARAM, RT_DIMS(1, n[i]), rt_init_normal(0.5f), NULL);
        assert_int_equal(st, RT_OK);
    }
    assert_int_equal(rt_params_alloc(p), RT_OK);
    assert_null(p->grad); /* gradients only when something trains */
    assert_int_equal(rt_params_alloc_grad(p), RT_OK);
    rt_params_init(p, 7);
    p->views[1].frozen = true;
    return p;
}

static void big_grads(rt_params *p, int step)
{
    for (size_t i = 0; i < p->numel; i++) p->grad[i] = rt_rng_normal(99, 3, (uint32_t)step, i) * (1.f + step % 3);
}

/* Run steps [from, to) of cfg with clipping at 1.0, lr from a cosine
 * schedule; returns the last pre-clip norm. */
static double run_steps(rt_optim *o, rt_params *p, int from, int to)
{
    rt_sched s = rt_sched_defaults(RT_SCHED_COSINE, 1e-2);
    s.warmup_steps = 3;
    s.total_steps = 30;
    double norm = 0;
    for (int t = from; t < to; t++) {
        big_grads(p, t);
        norm = rt_grad_clip(p, 1.0);
        assert_int_equal(rt_optim_step(o, rt_sched_lr(&s, t)), RT_OK);
    }
    return norm;
}

static const rt_optim_config *cfgs(int i)
{
    static rt_optim_config c[3];
    c[0] = sgd(0.9, 0, true, 1e-2);
    c[1] = adam(RT_OPTIM_ADAM, 0.999, 1e-8, 1e-2, false);
    c[2] = adam(RT_OPTIM_ADAMW, 0.98, 1e-6, 0.05, true);
    return &c[i];
}

static void assert_same(const char *what, const float *a, const float *b, size_t n)
{
    if (memcmp(a, b, n * sizeof(float)) != 0) fail_msg("%s: not bit-identical", what);
}

static void test_threads(void **state)
{
    (void)state;
    int saved = rt_threads_get();
    for (int k = 0; k < 3; k++) {
        rt_params *p[2];
        rt_optim *o[2];
        double norm[2];
        for (int r = 0; r < 2; r++) {
            rt_threads_set(r == 0 ? 1 : 4);
            p[r] = big_store();
            assert_int_equal(rt_optim_new(&o[r], p[r], cfgs(k)), RT_OK);
            norm[r] = run_steps(o[r], p[r], 0, 8);
        }
        const char *kn = rt_optim_kind_name(cfgs(k)->kind);
        if (norm[0] != norm[1]) fail_msg("%s: grad norm %.17g vs %.17g", kn, norm[0], norm[1]);
        assert_same(kn, p[0]->data, p[1]->data, p[0]->numel);
        assert_same(kn, p[0]->grad, p[1]->grad, p[0]->numel);
        for (int i = 0; i < rt_optim_state_count(o[0]); i++)
            assert_same(rt_optim_state_name(o[0], i), rt_optim_state(o[0], i), rt_optim_state(o[1], i),
                        rt_optim_state_numel(o[0]));
        const rt_param_view *f = rt_params_find(p[0], "frozen");
        rt_params *q = big_store();
        assert_same("frozen view", rt_params_data(p[0], f), rt_params_data(q, f), f->numel);
        rt_params_free(q);
        for (int r = 0; r < 2; r++) {
            rt_optim_free(o[r]);
            rt_params_free(p[r]);
        }
    }
    printf("sgd/adam/adamw: 1 and 4 threads bit-identical over 8 clipped steps\n");
    rt_threads_set(saved);
}

/* 20 straight steps == 10 steps, state copied out, a fresh optimizer with
 * the state and step count restored, 10 more (bit for bit). */
static void test_save_restore(void **state)
{
    (void)state;
    rt_optim_config damp = sgd(0.8, 0.3, false, 1e-3); /* first-step rule depends on the count */
    for (int k = 0; k < 4; k++) {
        const rt_optim_config *c = k < 3 ? cfgs(k) : &damp;
        rt_params *a = big_store(), *b = big_store();
        rt_optim *oa, *ob;
        assert_int_equal(rt_optim_new(&oa, a, c), RT_OK);
        assert_int_equal(rt_optim_new(&ob, b, c), RT_OK);
        run_steps(oa, a, 0, 20);
        run_steps(ob, b, 0, 10);
        float *saved[RT_OPTIM_MAX_STATE];
        int ns = rt_optim_state_count(ob);
        size_t n = rt_optim_state_numel(ob);
        for (int i = 0; i < ns; i++) {
            saved[i] = malloc(n * sizeof(float));
            memcpy(saved[i], rt_optim_state(ob, i), n * sizeof(float));
        }
        int64_t steps = rt_optim_steps(ob);
        rt_optim_free(ob);
        assert_int_equal(rt_optim_new(&ob, b, c), RT_OK);
        assert_int_equal(rt_optim_state_count(ob), ns);
        for (int i = 0; i < ns; i++) {
            memcpy(rt_optim_state(ob, i), saved[i], n * sizeof(float));
            free(saved[i]);
        }
        rt_optim_set_steps(ob, steps);
        run_steps(ob, b, 10, 20);
        const char *kn = rt_optim_kind_name(c->kind);
        assert_same(kn, a->data, b->data, a->numel);
        for (int i = 0; i < ns; i++)
            assert_same(rt_optim_state_name(oa, i), rt_optim_state(oa, i), rt_optim_state(ob, i), n);
        assert_int_equal(rt_optim_steps(ob), 20);
        rt_optim_free(oa);
        rt_optim_free(ob);
        rt_params_free(a);
        rt_params_free(b);
    }
    printf("save/restore after 10 of 20 steps: bit-identical (sgd nesterov, adam, adamw, sgd dampening)\n");
}

/* ---- schedules ---- */

static void sched_case(const char *cs, rt_sched s)
{
    char key[64];
    int64_t n;
    snprintf(key, sizeof key, "sched.%s", cs);
    const float *want = tu_fixture_get(&fx, key, &n, false);
    assert_int_equal(rt_sched_check(&s), RT_OK);
    double worst = 0;
    for (int64_t t = 0; t < n; t++) {
        double lr = rt_sched_lr(&s, t);
        /* the fixture holds float32: compare with the value's own scale */
        double e = fabs(lr - want[t]) / fmax(fabs(want[t]), 1e-12);
        if (want[t] == 0) e = fabs(lr) > 1e-12 ? 1 : 0;
        if (e > 1e-6) fail_msg("schedule %s: step %lld: %.9g, want %.9g", cs, (long long)t, lr, want[t]);
        worst = fmax(worst, e);
    }
    printf("schedule %-16s %3lld steps: max rel error %.3g (tol 1e-6; fixture in float32)\n", cs, (long long)n,
           worst);
}

static void test_schedules(void **state)
{
    (void)state;
    rt_sched s = rt_sched_defaults(RT_SCHED_STEP, 0.1);
    s.gamma = 0.5;
    s.step_epochs = 2;
    s.steps_per_epoch = 7;
    sched_case("step", s);
    s = rt_sched_defaults(RT_SCHED_COSINE, 0.1);
    s.total_steps = 50;
    s.min_lr = 1e-4;
    sched_case("cosine", s);
    s.warmup_steps = 8;
    s.warmup_start = 0.1;
    s.total_steps = 40;
    sched_case("cosine_warmup", s);
    assert_true(rt_sched_lr(&s, 40) == 1e-4 && rt_sched_lr(&s, 1000) == 1e-4);
    s = rt_sched_defaults(RT_SCHED_COSINE, 3e-4);
    s.warmup_steps = 10;
    s.total_steps = 40;
    sched_case("cosine_warmup0", s);
    assert_true(rt_sched_lr(&s, 0) == 0);
    s = rt_sched_defaults(RT_SCHED_CONSTANT, 0.02);
    s.warmup_steps = 4;
    s.warmup_start = 0.25;
    sched_case("constant_warmup", s);
}

/* ---- names and config errors ---- */

static void expect_err(rt_status got, rt_status want, const char *needle)
{
    assert_int_equal(got, want);
    if (!strstr(rt_errmsg(), needle)) fail_msg("error '%s' lacks '%s'", rt_errmsg(), needle);
}

static void test_names_and_errors(void **state)
{
    (void)state;
    enum rt_optim_kind ok;
    enum rt_sched_kind sk;
    assert_int_equal(rt_optim_kind_from_name("adamw", &ok), RT_OK);
    assert_int_equal(ok, RT_OPTIM_ADAMW);
    expect_err(rt_optim_kind_from_name("lamb", &ok), RT_ERR_UNKNOWN, "'lamb': unknown (valid: sgd, adam, adamw)");
    assert_int_equal(rt_sched_kind_from_name("cosine", &sk), RT_OK);
    assert_int_equal(sk, RT_SCHED_COSINE);
    expect_err(rt_sched_kind_from_name("poly", &sk), RT_ERR_UNKNOWN, "valid: constant, step, cosine");
    for (int i = 0; i < RT_OPTIM_KIND_COUNT; i++) {
        assert_int_equal(rt_optim_kind_from_name(rt_optim_kind_name(i), &ok), RT_OK);
        assert_int_equal(ok, i);
    }

    rt_params *p = rt_params_new();
    assert_int_equal(rt_params_declare(p, "w", RT_PARAM, RT_DIMS(4), rt_init_ones(), NULL), RT_OK);
    rt_optim *o;
    rt_optim_config c = rt_optim_defaults(RT_OPTIM_SGD);
    expect_err(rt_optim_new(&o, p, &c), RT_ERR_ARG, "not allocated");
    assert_int_equal(rt_params_alloc(p), RT_OK);
    rt_params_init(p, 1);
    c.nesterov = true;
    expect_err(rt_optim_new(&o, p, &c), RT_ERR_ARG, "nesterov needs momentum > 0");
    c = rt_optim_defaults(RT_OPTIM_ADAM);
    c.beta1 = 1.0;
    expect_err(rt_optim_new(&o, p, &c), RT_ERR_ARG, "beta1 = 1 is out of range");
    c = rt_optim_defaults(RT_OPTIM_ADAMW);
    c.weight_decay = -1;
    expect_err(rt_optim_new(&o, p, &c), RT_ERR_ARG, "weight_decay");
    c.weight_decay = 0;
    c.no_decay[0] = "";
    expect_err(rt_optim_new(&o, p, &c), RT_ERR_ARG, "pattern 0 is empty");
    c.no_decay[0] = NULL;
    assert_int_equal(rt_optim_new(&o, p, &c), RT_OK);
    expect_err(rt_optim_step(o, -1e-3), RT_ERR_ARG, "learning rate");
    expect_err(rt_optim_step(o, NAN), RT_ERR_ARG, "learning rate");
    assert_int_equal(rt_optim_steps(o), 0);
    assert_true(p->data[0] == 1.f);
    rt_optim_free(o);
    /* a non-finite norm leaves the gradients alone */
    p->grad[0] = INFINITY;
    p->grad[1] = 2.f;
    assert_true(isinf(rt_grad_clip(p, 1.0)));
    assert_true(p->grad[1] == 2.f);
    rt_params_free(p);

    rt_sched s = rt_sched_defaults(RT_SCHED_COSINE, 0.1);
    s.warmup_steps = 5;
    s.total_steps = 5;
    expect_err(rt_sched_check(&s), RT_ERR_ARG, "total_steps = 5 must exceed warmup_steps = 5");
    s = rt_sched_defaults(RT_SCHED_STEP, 0.1);
    s.steps_per_epoch = 0;
    expect_err(rt_sched_check(&s), RT_ERR_ARG, "steps_per_epoch = 0");
    s = rt_sched_defaults(RT_SCHED_CONSTANT, 0);
    expect_err(rt_sched_check(&s), RT_ERR_ARG, "base_lr = 0 must be > 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_parity),     cmocka_unit_test(test_adam_parity),
        cmocka_unit_test(test_no_decay_rule),  cmocka_unit_test(test_clip),
        cmocka_unit_test(test_threads),        cmocka_unit_test(test_save_restore),
        cmocka_unit_test(test_schedules),      cmocka_unit_test(test_names_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
