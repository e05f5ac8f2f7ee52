/*
 * testutil.c - fixtures, comparisons, parity harness and finite-difference
 * gradient checks for the tests (see testutil.h).
 */
#include "testutil.h"

#include "core/rng.h"
#include "io/fileio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void tu_fixture_open(tu_fixture *fx, const char *path)
{
    snprintf(fx->path, sizeof fx->path, "%s", path);
    if (rt_st_open(&fx->st, path) != RT_OK) {
        fprintf(stderr, "fixture: %s\n", rt_errmsg());
        fail_msg("cannot open fixture %s", path);
    }
}

void tu_fixture_close(tu_fixture *fx) { rt_st_close(&fx->st); }

const float *tu_fixture_get(const tu_fixture *fx, const char *name, int64_t *numel, bool optional)
{
    const rt_st_tensor *t = rt_st_find(&fx->st, name);
    if (!t) {
        if (optional) return NULL;
        fail_msg("%s: no tensor '%s'", fx->path, name);
    }
    if (t->dtype != RT_F32) fail_msg("%s: tensor '%s' is not F32", fx->path, name);
    if (numel) *numel = rt_shape_numel(t->ndim, t->shape);
    return rt_st_data(&fx->st, t);
}

int tu_fixture_shape(const tu_fixture *fx, const char *name, int64_t *shape)
{
    const rt_st_tensor *t = rt_st_find(&fx->st, name);
    if (!t) fail_msg("%s: no tensor '%s'", fx->path, name);
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    return t->ndim;
}

double tu_compare(const char *what, const float *got, const float *want, int64_t n, double tol)
{
    double max_abs = 0, scale = 0;
    int64_t worst = 0;
    bool finite = true;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!isfinite(got[i])) finite = false;
        if (d > max_abs || !isfinite(d)) {
            max_abs = d;
            worst = i;
        }
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    double rel = max_abs / (scale > 1e-6 ? scale : 1e-6);
    printf("    %-40s max abs %.3e  rel %.3e  (tol %.0e)\n", what, max_abs, rel, tol);
    if (!finite || !(rel <= tol))
        fail_msg("%s: mismatch: rel error %.3e > %.0e; worst element %lld: got %.9g want %.9g", what, rel, tol,
                 (long long)worst, (double)got[worst], (double)want[worst]);
    return rel;
}

static const char *leaf_name(const rt_node *n)
{
    if (n->op == RT_OP_INPUT) return n->tag;
    if (n->op == RT_OP_PARAM) return n->label;
    return NULL;
}

void tu_parity(rt_graph *g, rt_node *out, const tu_fixture *fx, const char *case_name, double tol_out,
               double tol_grad)
{
    char key[256];
    printf("  case %s\n", case_name);
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        const char *nm = leaf_name(n);
        if (!nm) continue;
        snprintf(key, sizeof key, "%s.%s", case_name, nm);
        int64_t cnt;
        const float *v = tu_fixture_get(fx, key, &cnt, true);
        if (!v) continue;
        if (cnt != rt_numel(n)) fail_msg("%s: %lld elements, graph leaf has %lld", key, (long long)cnt, (long long)rt_numel(n));
        memcpy(rt_data(n), v, (size_t)cnt * sizeof(float));
    }
    assert_int_equal(rt_graph_forward(g), RT_OK);
    snprintf(key, sizeof key, "%s.out", case_name);
    int64_t cnt;
    const float *want = tu_fixture_get(fx, key, &cnt, false);
    if (cnt != rt_numel(out)) fail_msg("%s: %lld elements, graph output has %lld", key, (long long)cnt, (long long)rt_numel(out));
    tu_compare(key, rt_data(out), want, cnt, tol_out);
    snprintf(key, sizeof key, "%s.gout", case_name);
    const float *gout = tu_fixture_get(fx, key, &cnt, true);
    if (!gout || g->plan != RT_PLAN_TRAIN) return;
    rt_params_zero_grad(g->params);
    if (rt_graph_backward_seed(g, out, gout) != RT_OK) fail_msg("backward: %s", rt_errmsg());
    int checked = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        const char *nm = leaf_name(n);
        if (!nm || !n->grad) continue;
        snprintf(key, sizeof key, "%s.grad.%s", case_name, nm);
        const float *gw = tu_fixture_get(fx, key, &cnt, true);
        if (!gw) continue;
        if (cnt != rt_numel(n)) fail_msg("%s: size mismatch", key);
        tu_compare(key, n->grad, gw, cnt, tol_grad);
        checked++;
    }
    if (!checked) fail_msg("%s: no gradient compared", case_name);
}

static double loss_of(rt_graph *g, rt_node *out, const float *r)
{
    if (rt_graph_forward(g) != RT_OK) fail_msg("forward: %s", rt_errmsg());
    double L = 0;
    const float *y = rt_data(out);
    for (int64_t i = 0; i < rt_numel(out); i++) L += (double)y[i] * r[i];
    return L;
}

void tu_gradcheck(rt_graph *g, rt_node *out, const tu_gc_opts *opts)
{
    double eps = opts && opts->eps > 0 ? opts->eps : 1e-3;
    double atol = opts && opts->atol > 0 ? opts->atol : 1e-3;
    double rtol = opts && opts->rtol > 0 ? opts->rtol : 1e-2;
    int maxk = opts && opts->max_per_leaf > 0 ? opts->max_per_leaf : 64;
    int64_t n_out = rt_numel(out);
    float *r = malloc((size_t)n_out * sizeof *r);
    assert_non_null(r);
    for (int64_t i = 0; i < n_out; i++) r[i] = 2.f * rt_rng_uniform(1234, 7, 0, (uint64_t)i) - 1.f;
    loss_of(g, out, r);
    rt_params_zero_grad(g->params);
    if (rt_graph_backward_seed(g, out, r) != RT_OK) fail_msg("backward: %s", rt_errmsg());
    /* Copy analytic grads first: finite-difference forwards do not touch grads,
     * but keep them safe anyway. */
    double worst = 0;
    int leaves = 0;
    for (int li = 0; li < g->n_nodes; li++) {
        rt_node *n = g->nodes[li];
        if ((n->op != RT_OP_INPUT && n->op != RT_OP_PARAM) || !n->grad) continue;
        leaves++;
        int64_t N = rt_numel(n);
        int64_t step = N > maxk ? N / maxk : 1;
        float *x = rt_data(n);
        for (int64_t e = 0; e < N; e += step) {
            float keep = x[e];
            x[e] = (float)(keep + eps);
            double lp = loss_of(g, out, r);
            x[e] = (float)(keep - eps);
            double lm = loss_of(g, out, r);
            x[e] = keep;
            double h = ((double)(float)(keep + eps) - (double)(float)(keep - eps));
            double num = (lp - lm) / h, ana = n->grad[e];
            double err = fabs(num - ana), lim = atol + rtol * fmax(fabs(num), fabs(ana));
            if (err / lim > worst) worst = err / lim;
            if (!(err <= lim))
                fail_msg("gradcheck: leaf '%s' element %lld: numeric %.6g analytic %.6g (|diff| %.3g > %.3g)",
                         leaf_name(n), (long long)e, num, ana, err, lim);
        }
    }
    loss_of(g, out, r); /* restore activations */
    printf("    gradcheck: %d leaves, worst error %.2f of tolerance (eps %.0e, atol %.0e, rtol %.0e)\n", leaves, worst,
           eps, atol, rtol);
    if (!leaves) fail_msg("gradcheck: no leaf requires grad");
    free(r);
}

void tu_fill_uniform(rt_node *n, uint64_t seed, float lo, float hi)
{
    float *x = rt_data(n);
    for (int64_t i = 0; i < rt_numel(n); i++) x[i] = lo + (hi - lo) * rt_rng_uniform(seed, (uint32_t)n->id, 0, (uint64_t)i);
}

rt_graph *tu_graph_new(void)
{
    rt_params *p = rt_params_new();
    assert_non_null(p);
    rt_graph *g = rt_graph_new(p);
    assert_non_null(g);
    return g;
}

void tu_graph_free(rt_graph *g)
{
    if (!g) return;
    rt_params *p = g->params;
    rt_graph_free(g);
    rt_params_free(p);
}

void tu_plan(rt_graph *g, enum rt_plan plan)
{
    if (rt_graph_plan(g, plan) != RT_OK) fail_msg("plan: %s", rt_errmsg());
}

static int fixture_leaf_shape(const tu_fixture *fx, const char *case_name, const char *name, int64_t *shape)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", case_name, name);
    return tu_fixture_shape(fx, key, shape);
}

rt_node *tu_input(rt_graph *g, const tu_fixture *fx, const char *case_name, const char *name)
{
    int64_t shape[RT_MAX_DIMS];
    int nd = fixture_leaf_shape(fx, case_name, name, shape);
    rt_node *n = rt_input(g, name, nd, shape);
    if (!n) fail_msg("input %s: %s", name, rt_errmsg());
    rt_input_requires_grad(n);
    return n;
}

rt_node *tu_param(rt_graph *g, const tu_fixture *fx, const char *case_name, const char *name)
{
    int64_t shape[RT_MAX_DIMS];
    int nd = fixture_leaf_shape(fx, case_name, name, shape);
    rt_node *n = rt_param(g, name, nd, shape, rt_init_zeros());
    if (!n) fail_msg("param %s: %s", name, rt_errmsg());
    return n;
}

const tu_gc_opts tu_no_gradcheck = {.max_per_leaf = -1};

void tu_check_op(rt_graph *g, rt_node *y, const tu_fixture *fx, const char *name, const tu_gc_opts *gc)
{
    if (!y) fail_msg("%s: build failed: %s", name, rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    tu_parity(g, y, fx, name, 1e-5, 1e-4);
    if (gc != &tu_no_gradcheck) tu_gradcheck(g, y, gc);
    tu_graph_free(g);
}

void tu_expect_build_error(rt_graph *g, rt_node *y, const char *op, const char *frag)
{
    assert_null(y);
    assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE);
    printf("    error: %s\n", rt_errmsg());
    if (op && !strstr(rt_errmsg(), op)) fail_msg("expected '%s' in the error", op);
    if (frag && !strstr(rt_errmsg(), frag)) fail_msg("expected '%s' in the error", frag);
    assert_int_equal(rt_graph_plan(g, RT_PLAN_TRAIN), RT_ERR_SHAPE);
    tu_graph_free(g);
}

/* ---- a temporary directory ---- */

static char tmpdir[512];

int tu_tmpdir_setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/retort-test-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

int tu_tmpdir_teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return tmpdir[0] && system(cmd) == 0 ? 0 : -1;
}

const char *tu_tmpdir(void) { return tmpdir; }

const char *tu_tmp(const char *name)
{
    static char buf[8][600];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 600, "%s/%s", tmpdir, name);
    return p;
}

/* ---- the CLI ---- */

static const char *cli_tmp(const char *what)
{
    static char buf[2][512];
    char *p = buf[what[0] == 'e'];
    const char *dir = getenv("TMPDIR");
    snprintf(p, 512, "%s/retort-cli-%d.%s", dir && *dir ? dir : "/tmp", (int)getpid(), what);
    return p;
}

void tu_need_cli(void)
{
    if (!getenv("RETORT_BIN")) {
        printf("    SKIP: RETORT_BIN not set (run through make test)\n");
        skip();
    }
}

int tu_run_cli(const char *args, int *stderr_lines, char *first_line, size_t cap)
{
    const char *bin = getenv("RETORT_BIN");
    char cmd[4096];
    assert_non_null(bin);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", bin, args, cli_tmp("out"), cli_tmp("err"));
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    FILE *f = fopen(cli_tmp("err"), "r");
    assert_non_null(f);
    int lines = 0, ch;
    size_t k = 0;
    while ((ch = fgetc(f)) != EOF) {
        if (ch == '\n') lines++;
        else if (lines == 0 && k + 1 < cap) first_line[k++] = (char)ch;
    }
    first_line[k] = '\0';
    fclose(f);
    *stderr_lines = lines;
    return WEXITSTATUS(st);
}

cJSON *tu_run_cli_json(const char *args)
{
    int lines;
    char line[512];
    if (tu_run_cli(args, &lines, line, sizeof line) != 0) fail_msg("retort %s: %s", args, line);
    char *out = tu_cli_stdout();
    cJSON *j = cJSON_Parse(out);
    free(out);
    if (!j) fail_msg("retort %s: stdout is not JSON", args);
    return j;
}

char *tu_cli_stdout(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rt_read_file(cli_tmp("out"), 64u << 20, &buf, &len) != RT_OK) fail_msg("%s", rt_errmsg());
    char *s = realloc(buf, len + 1);
    assert_non_null(s);
    s[len] = 0;
    return s;
}

void tu_expect_cli_failure(const char *args, int code, const char *out, const char *needle)
{
    int lines;
    char line[1024];
    int rc = tu_run_cli(args, &lines, line, sizeof line);
    printf("    exit %d: %s\n", rc, line);
    assert_int_equal(rc, code);
    assert_int_equal(lines, 1);
    assert_true(strncmp(line, "retort: ", 8) == 0);
    if (needle && !strstr(line, needle)) fail_msg("expected '%s' in the error", needle);
    if (out) {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        assert_int_not_equal(access(out, F_OK), 0);
        assert_int_not_equal(access(tmp, F_OK), 0);
    }
}

void tu_same_file(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t nx, ny;
    assert_int_equal(rt_read_file(a, 1 << 26, &x, &nx), RT_OK);
    assert_int_equal(rt_read_file(b, 1 << 26, &y, &ny), RT_OK);
    assert_int_equal(nx, ny);
    if (memcmp(x, y, nx)) fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}
