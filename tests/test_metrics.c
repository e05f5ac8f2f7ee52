/*
 * test_metrics.c - src/metrics against scikit-learn / SciPy references
 * (tests/fixtures/metrics.safetensors, made by make_metric_fixtures.py):
 * every case in the file, found by prefix; each bad-input rejection; the
 * registry and the retention direction and edge cases.
 *
 * Tolerance: |got - want| <= 1e-9 |want| (exact when want is 0); each group
 * prints its largest relative error. Integer results (argmax, confusion
 * matrix) must be equal.
 */
#include "testutil.h"

#include "metrics/metrics.h"

#include <math.h>
#include <stdlib.h>

#define FX "tests/fixtures/metrics.safetensors"
#define TOL 1e-9

static rt_safetensors st;

static int setup(void **state)
{
    (void)state;
    return rt_st_open(&st, FX) == RT_OK ? 0 : (printf("%s\n", rt_errmsg()), -1);
}

static int teardown(void **state)
{
    (void)state;
    rt_st_close(&st);
    return 0;
}

/* A malloc'ed copy of "<prefix>.<leaf>" (dtype checked; copied so F64 need not be aligned). */
static void *fx_get(const char *prefix, const char *leaf, enum rt_dtype dt, int64_t *n, int64_t *cols)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    const rt_st_tensor *t = rt_st_find(&st, name);
    if (!t) fail_msg("%s: no tensor '%s'", FX, name);
    if (t->dtype != dt) fail_msg("%s: '%s' is %s, want %s", FX, name, rt_dtype_name(t->dtype), rt_dtype_name(dt));
    void *p = malloc(t->end - t->begin + 8);
    assert_non_null(p);
    memcpy(p, rt_st_data(&st, t), t->end - t->begin);
    if (n) *n = t->ndim ? t->shape[0] : 1;
    if (cols) *cols = t->ndim > 1 ? t->shape[1] : 1;
    return p;
}

/* Relative error of got against want; fails beyond TOL. */
static double check(const char *what, double got, double want)
{
    double err = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
    if (!(err <= TOL)) fail_msg("%s: got %.17g, want %.17g (rel %.3g > %g)", what, got, want, err, TOL);
    return err;
}

/* Calls fn(case prefix) for every fixture tensor named "<group>.<case>.<leaf>". */
static int for_cases(const char *group, const char *leaf, void (*fn)(const char *prefix, double *worst))
{
    double worst = 0;
    int n = 0;
    size_t gl = strlen(group), ll = strlen(leaf);
    for (int i = 0; i < st.n; i++) {
        const char *nm = st.t[i].name;
        size_t l = strlen(nm);
        if (strncmp(nm, group, gl) || nm[gl] != '.' || l <= gl + ll + 1 || strcmp(nm + l - ll, leaf) ||
            nm[l - ll - 1] != '.')
            continue;
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(l - ll - 1), nm);
        fn(prefix, &worst);
        n++;
    }
    printf("    %s: %d cases, largest rel error %.3g (tol %g)\n", group, n, worst, TOL);
    assert_true(n > 0);
    return n;
}

#define WORST(w, e) (*(w) = fmax(*(w), (e)))

/* ---- classification ---- */

static void cls_case(const char *p, double *worst)
{
    int64_t n, c, nk;
    float *s = fx_get(p, "scores", RT_F32, &n, &c);
    int32_t *y = fx_get(p, "labels", RT_I32, NULL, NULL), *want_pred = fx_get(p, "pred", RT_I32, NULL, NULL);
    double *acc = fx_get(p, "acc", RT_F64, NULL, NULL), *topk = fx_get(p, "topk", RT_F64, &nk, NULL);
    int64_t *want_cm = fx_get(p, "cm", RT_I64, NULL, NULL);
    int32_t *pred = malloc((size_t)n * sizeof *pred);
    int64_t *cm = malloc((size_t)(c * c) * sizeof *cm);
    double a;
    assert_int_equal(rt_metric_argmax(pred, RT_METRIC_MAT(s, n, c)), RT_OK);
    for (int64_t i = 0; i < n; i++)
        if (pred[i] != want_pred[i]) fail_msg("%s: argmax[%lld] %d, want %d", p, (long long)i, pred[i], want_pred[i]);
    assert_int_equal(rt_metric_accuracy(&a, pred, n, y, n), RT_OK);
    WORST(worst, check(p, a, acc[0]));
    for (int64_t k = 1; k <= nk + 1; k++) { /* k = C + 1 too: still 1.0 */
        assert_int_equal(rt_metric_topk_accuracy(&a, RT_METRIC_MAT(s, n, c), y, n, k), RT_OK);
        WORST(worst, check(p, a, topk[k <= nk ? k - 1 : nk - 1]));
    }
    assert_int_equal(rt_metric_confusion(cm, c, pred, n, y, n), RT_OK);
    assert_memory_equal(cm, want_cm, (size_t)(c * c) * sizeof *cm);
    free(s), free(y), free(want_pred), free(acc), free(topk), free(want_cm), free(pred), free(cm);
}

static void test_classification(void **state)
{
    (void)state;
    for_cases("cls", "scores", cls_case);
}

/* ---- regression ---- */

static const enum rt_metric_id reg_ids[] = {RT_METRIC_CCC, RT_METRIC_PEARSON, RT_METRIC_MSE, RT_METRIC_MAE,
                                            RT_METRIC_R2};

static void reg_case(const char *p, double *worst)
{
    int64_t n, d;
    float *pred = fx_get(p, "pred", RT_F32, &n, &d), *tgt = fx_get(p, "target", RT_F32, NULL, NULL);
    double *per = malloc((size_t)d * sizeof *per);
    for (size_t m = 0; m < sizeof reg_ids / sizeof reg_ids[0]; m++) {
        const char *name = rt_metric_get(reg_ids[m])->name;
        double *want = fx_get(p, name, RT_F64, NULL, NULL), mean;
        rt_status s = rt_metric_regress(reg_ids[m], per, &mean, RT_METRIC_MAT(pred, n, d), RT_METRIC_MAT(tgt, n, d));
        char what[300];
        snprintf(what, sizeof what, "%s %s", p, name);
        if (isnan(want[d])) { /* undefined in SciPy: we must refuse */
            assert_int_equal(s, RT_ERR_NONFINITE);
            printf("    %s -> %s\n", what, rt_errmsg());
        } else {
            if (s != RT_OK) fail_msg("%s: %s", what, rt_errmsg());
            for (int64_t j = 0; j < d; j++) WORST(worst, check(what, per[j], want[j]));
            WORST(worst, check(what, mean, want[d]));
        }
        free(want);
    }
    free(pred), free(tgt), free(per);
}

static void test_regression(void **state)
{
    (void)state;
    for_cases("reg", "pred", reg_case);
}

/* ---- verification ---- */

static void ver_case(const char *p, double *worst)
{
    int64_t n, k;
    float *s = fx_get(p, "scores", RT_F32, &n, NULL);
    int32_t *y = fx_get(p, "labels", RT_I32, NULL, NULL);
    double *eer = fx_get(p, "eer", RT_F64, NULL, NULL), *dcf = fx_get(p, "dcf", RT_F64, &k, NULL), e;
    char what[300];
    snprintf(what, sizeof what, "%s eer", p);
    assert_int_equal(rt_metric_eer(&e, s, n, y, n), RT_OK);
    WORST(worst, check(what, e, eer[0]));
    for (int64_t i = 0; i < k; i++) {
        const double *r = dcf + i * 7;
        rt_dcf got;
        snprintf(what, sizeof what, "%s mindcf(p_target %g, c_miss %g, c_fa %g)", p, r[0], r[1], r[2]);
        assert_int_equal(rt_metric_mindcf(&got, s, n, y, n, &(rt_dcf_opts){r[0], r[1], r[2]}), RT_OK);
        WORST(worst, check(what, got.min_dcf, r[3]));
        WORST(worst, check(what, got.threshold, r[4]));
        WORST(worst, check(what, got.p_miss, r[5]));
        WORST(worst, check(what, got.p_fa, r[6]));
    }
    free(s), free(y), free(eer), free(dcf);
}

static void test_verification(void **state)
{
    (void)state;
    for_cases("ver", "scores", ver_case);
}

/* ---- reconstruction ---- */

static void rec_case(const char *p, double *worst)
{
    int64_t n, e;
    float *xh = fx_get(p, "xhat", RT_F32, &n, &e), *x = fx_get(p, "x", RT_F32, NULL, NULL);
    double *mean = fx_get(p, "mean", RT_F64, NULL, NULL), *per = fx_get(p, "per_sample", RT_F64, NULL, NULL), m;
    double *got = malloc((size_t)n * sizeof *got);
    assert_int_equal(rt_metric_recon_mse(&m, got, RT_METRIC_MAT(xh, n, e), RT_METRIC_MAT(x, n, e)), RT_OK);
    WORST(worst, check(p, m, mean[0]));
    for (int64_t i = 0; i < n; i++) WORST(worst, check(p, got[i], per[i]));
    free(xh), free(x), free(mean), free(per), free(got);
}

static void test_reconstruction(void **state)
{
    (void)state;
    for_cases("rec", "xhat", rec_case);
}

/* ---- bad input ---- */

static void expect(rt_status got, rt_status want, const char *needle)
{
    if (got != want) fail_msg("status %d (%s), want %d; message '%s'", got, rt_status_str(got), want, rt_errmsg());
    printf("    -> %s\n", rt_errmsg());
    if (!strstr(rt_errmsg(), needle)) fail_msg("'%s' lacks '%s'", rt_errmsg(), needle);
}

static void test_bad_input(void **state)
{
    (void)state;
    const float a[6] = {1, 2, 3, 4, 5, 6}, nan6[6] = {1, 2, NAN, 4, 5, 6}, inf6[6] = {1, 2, 3, 4, 5, INFINITY};
    const float cst[6] = {2, 2, 2, 2, 2, 2};
    const int32_t y[6] = {1, 0, 1, 0, 0, 1}, all1[6] = {1, 1, 1, 1, 1, 1}, all0[6] = {0}, bad[6] = {1, 0, 2, 0, 0, 1};
    const int32_t cls[3] = {0, 1, 5};
    double v = -7, per[6];
    int32_t pred[3];
    int64_t cm[9];
    rt_dcf dcf;
    const rt_dcf_opts o = {0.01, 1, 1};
    rt_metric_mat m6 = RT_METRIC_MAT(a, 6, 1), m32 = RT_METRIC_MAT(a, 3, 2);
    /* length mismatches */
    expect(rt_metric_accuracy(&v, y, 6, y, 5), RT_ERR_SHAPE, "accuracy: predictions has 6 entries but labels has 5");
    expect(rt_metric_regress(RT_METRIC_CCC, per, &v, m6, RT_METRIC_MAT(a, 5, 1)), RT_ERR_SHAPE, "ccc:");
    expect(rt_metric_regress(RT_METRIC_MSE, per, &v, m6, m32), RT_ERR_SHAPE, "columns");
    expect(rt_metric_eer(&v, a, 6, y, 4), RT_ERR_SHAPE, "eer: scores has 6 entries but labels has 4");
    expect(rt_metric_mindcf(&dcf, a, 5, y, 6, &o), RT_ERR_SHAPE, "mindcf:");
    expect(rt_metric_recon_mse(&v, per, m32, RT_METRIC_MAT(a, 2, 3)), RT_ERR_SHAPE, "recon_mse");
    expect(rt_metric_topk_accuracy(&v, m32, y, 4, 1), RT_ERR_SHAPE, "topk_accuracy");
    expect(rt_metric_confusion(cm, 3, cls, 3, cls, 2), RT_ERR_SHAPE, "confusion");
    /* N = 0 (and N = 1 where a variance is needed) */
    expect(rt_metric_accuracy(&v, y, 0, y, 0), RT_ERR_ARG, "0 samples");
    expect(rt_metric_regress(RT_METRIC_MAE, per, &v, RT_METRIC_MAT(a, 0, 1), RT_METRIC_MAT(a, 0, 1)), RT_ERR_ARG,
           "mae: 0 samples");
    expect(rt_metric_regress(RT_METRIC_PEARSON, per, &v, RT_METRIC_MAT(a, 1, 1), RT_METRIC_MAT(a, 1, 1)),
           RT_ERR_ARG, "need at least 2");
    expect(rt_metric_eer(&v, a, 0, y, 0), RT_ERR_ARG, "eer: 0 samples");
    expect(rt_metric_recon_mse(&v, per, RT_METRIC_MAT(a, 0, 3), RT_METRIC_MAT(a, 0, 3)), RT_ERR_ARG, "0 samples");
    expect(rt_metric_argmax(pred, RT_METRIC_MAT(a, 0, 3)), RT_ERR_ARG, "argmax");
    /* NaN / Inf */
    expect(rt_metric_regress(RT_METRIC_R2, per, &v, m6, RT_METRIC_MAT(nan6, 6, 1)), RT_ERR_NONFINITE,
           "r2: targets[2] is NaN");
    expect(rt_metric_regress(RT_METRIC_CCC, per, &v, RT_METRIC_MAT(inf6, 6, 1), m6), RT_ERR_NONFINITE,
           "predictions[5] is infinite");
    expect(rt_metric_eer(&v, nan6, 6, y, 6), RT_ERR_NONFINITE, "eer: scores[2] is NaN");
    expect(rt_metric_mindcf(&dcf, nan6, 6, y, 6, &o), RT_ERR_NONFINITE, "scores[2] is NaN");
    expect(rt_metric_topk_accuracy(&v, RT_METRIC_MAT(nan6, 3, 2), cls, 3, 1), RT_ERR_NONFINITE, "scores[2]");
    expect(rt_metric_argmax(pred, RT_METRIC_MAT(nan6, 3, 2)), RT_ERR_NONFINITE, "NaN");
    expect(rt_metric_recon_mse(&v, per, m32, RT_METRIC_MAT(nan6, 3, 2)), RT_ERR_NONFINITE, "input[2] is NaN");
    /* undefined: Pearson of a constant column */
    expect(rt_metric_regress(RT_METRIC_PEARSON, per, &v, RT_METRIC_MAT(cst, 6, 1), m6), RT_ERR_NONFINITE,
           "pearson: dimension 0: the predictions are constant");
    expect(rt_metric_regress(RT_METRIC_PEARSON, per, &v, m32, RT_METRIC_MAT(cst, 3, 2)), RT_ERR_NONFINITE,
           "targets are constant");
    /* verification without one of the classes; labels not 0/1 */
    expect(rt_metric_eer(&v, a, 6, all1, 6), RT_ERR_ARG, "all targets: need target and non-target trials");
    expect(rt_metric_eer(&v, a, 6, all0, 6), RT_ERR_ARG, "all non-targets");
    expect(rt_metric_mindcf(&dcf, a, 6, all0, 6, &o), RT_ERR_ARG, "mindcf: 6 trials, all non-targets");
    expect(rt_metric_eer(&v, a, 6, bad, 6), RT_ERR_ARG, "labels (1 target, 0 non-target)[2] is 2");
    /* bad settings, labels out of range, non-regression id */
    expect(rt_metric_mindcf(&dcf, a, 6, y, 6, &(rt_dcf_opts){0, 1, 1}), RT_ERR_ARG, "need 0 < p_target < 1");
    expect(rt_metric_mindcf(&dcf, a, 6, y, 6, &(rt_dcf_opts){0.5, 1, -1}), RT_ERR_ARG, "costs > 0");
    expect(rt_metric_topk_accuracy(&v, m32, cls, 3, 0), RT_ERR_ARG, "k is 0");
    expect(rt_metric_topk_accuracy(&v, m32, cls, 3, 1), RT_ERR_ARG, "labels[2] is 5, outside [0, 2)");
    expect(rt_metric_confusion(cm, 3, cls, 3, cls, 3), RT_ERR_ARG, "predictions[2] is 5, outside [0, 3)");
    expect(rt_metric_regress(RT_METRIC_EER, per, &v, m6, m6), RT_ERR_ARG, "'eer' is not a regression metric");
    assert_true(v == -7); /* nothing written on failure */
}

/* ---- registry and retention ---- */

static void test_registry(void **state)
{
    (void)state;
    const char *higher[] = {"accuracy", "topk_accuracy", "ccc", "pearson", "r2"};
    const char *lower[] = {"mse", "mae", "eer", "mindcf", "recon_mse"};
    for (int i = 0; i < 5; i++) {
        const rt_metric_info *h = rt_metric_find(higher[i]), *l = rt_metric_find(lower[i]);
        assert_non_null(h);
        assert_non_null(l);
        assert_true(h->higher_is_better);
        assert_false(l->higher_is_better);
        assert_ptr_equal(rt_metric_get(h->id), h);
        assert_true(strlen(h->desc) > 10 && strlen(l->desc) > 10);
    }
    for (int i = 0; i < RT_METRIC_COUNT; i++) assert_ptr_equal(rt_metric_find(rt_metric_get(i)->name), rt_metric_get(i));
    assert_null(rt_metric_find("CCC"));
    assert_null(rt_metric_find("f1"));
    assert_null(rt_metric_find(NULL));
}

static void retain(enum rt_metric_id id, double t, double s, double want)
{
    double r;
    if (rt_metric_retention(&r, id, t, s) != RT_OK) fail_msg("%s", rt_errmsg());
    check(rt_metric_get(id)->name, r, want);
}

static void test_retention(void **state)
{
    (void)state;
    double r = -7;
    retain(RT_METRIC_ACCURACY, 0.92, 0.89, 0.89 / 0.92);  /* higher: student / teacher */
    retain(RT_METRIC_CCC, 0.60, 0.66, 1.1);               /* a better student: > 1 */
    retain(RT_METRIC_CCC, 0.50, -0.10, -0.2);             /* worse than zero: negative, returned */
    retain(RT_METRIC_EER, 0.021, 0.025, 0.021 / 0.025);   /* lower: teacher / student */
    retain(RT_METRIC_MSE, 0.04, 0.02, 2.0);
    retain(RT_METRIC_RECON_MSE, 0, 0, 1.0);               /* both perfect */
    retain(RT_METRIC_MINDCF, 0, 0.3, 0.0);                /* perfect teacher */
    expect(rt_metric_retention(&r, RT_METRIC_CCC, -0.1, -0.2), RT_ERR_ARG, "ccc: teacher's value -0.1 is <= 0");
    expect(rt_metric_retention(&r, RT_METRIC_R2, 0, 0.3), RT_ERR_ARG, "r2: teacher's value 0 is <= 0");
    expect(rt_metric_retention(&r, RT_METRIC_MAE, 0.2, 0), RT_ERR_ARG, "unbounded");
    expect(rt_metric_retention(&r, RT_METRIC_MSE, -1, 2), RT_ERR_ARG, "lower-is-better and >= 0");
    expect(rt_metric_retention(&r, RT_METRIC_ACCURACY, NAN, 0.5), RT_ERR_ARG, "not finite");
    assert_true(r == -7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification), cmocka_unit_test(test_regression),
        cmocka_unit_test(test_verification),   cmocka_unit_test(test_reconstruction),
        cmocka_unit_test(test_bad_input),      cmocka_unit_test(test_registry),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
