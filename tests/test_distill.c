/*
 * test_distill.c - distillation (src/distill):
 *  - each term's value against a closed form computed here in double, and a
 *    finite-difference gradient check through the term (projections and
 *    resampling included);
 *  - a run from a teacher cache gives the same student weights, bit for bit,
 *    as the run with the live teacher (same seed);
 *  - the dead-term case (MSE between L2-normalised embeddings, weights
 *    0.5 / 0.5) makes the monitor warn; the same run with cosine does not;
 *  - a killed distillation run resumes to the same weights (projections in
 *    the checkpoint, not in the model file);
 *  - bad input: unknown taps (listing the available ones), pairs that cannot
 *    be matched, a cache of other data, a teacher that does not load: one
 *    error, nothing written.
 */
#include "testutil.h"

#include "core/rng.h"
#include "distill/distill.h"
#include "io/fileio.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------- terms ---------------- */

static rt_kd_term term(enum rt_kd_kind kind, enum rt_kd_distance d, bool normalize, int pairs)
{
    rt_kd_term k;
    memset(&k, 0, sizeof k);
    k.kind = kind;
    k.distance = d;
    k.normalize = normalize;
    k.weight = 1;
    k.n_pairs = pairs;
    for (int i = 0; i < pairs; i++) {
        snprintf(k.teacher[i], RT_KD_TAP_MAX, "t%d", i);
        snprintf(k.student[i], RT_KD_TAP_MAX, "s%d", i);
    }
    return k;
}

static rt_node *student_in(rt_graph *g, const char *name, int ndim, const int64_t *shape)
{
    rt_node *n = rt_input(g, name, ndim, shape);
    rt_input_requires_grad(n);
    return n;
}

/* Build the term, plan, fill inputs, check the forward value (if want is finite) and the gradient. */
static void check_term(rt_graph *g, const rt_kd_term *k, rt_node *const *s, rt_node *const *t, bool cls, double T,
                       double (*want)(rt_node *const *s, rt_node *const *t), const tu_gc_opts *gc)
{
    rt_node *y = rt_kd_term_build(g, k, 0, T, cls, s, t);
    if (!y) fail_msg("term build: %s", rt_errmsg());
    tu_plan(g, RT_PLAN_TRAIN);
    rt_params_init(g->params, 3);
    for (int i = 0; i < (k->kind == RT_KD_RESPONSE ? 1 : k->n_pairs); i++) {
        tu_fill_uniform(s[i], 11 + (uint64_t)i, -1.f, 1.f);
        tu_fill_uniform(t[i], 21 + (uint64_t)i, -1.f, 1.f);
    }
    if (want) {
        rt_graph_forward(g);
        double w = want(s, t), got = rt_data(y)[0];
        printf("    %s: %.9g (closed form %.9g)\n", rt_kd_kind_name(k->kind), got, w);
        assert_true(fabs(got - w) <= 1e-5 * fmax(1.0, fabs(w)));
    }
    tu_gradcheck(g, y, gc);
    tu_graph_free(g);
}

static double kl_want(rt_node *const *s, rt_node *const *t)
{
    const double T = 2.0;
    int64_t N = s[0]->out.shape[0], C = s[0]->out.shape[1];
    double sum = 0;
    for (int64_t r = 0; r < N; r++) {
        const float *a = rt_data(s[0]) + r * C, *b = rt_data(t[0]) + r * C;
        double za = 0, zb = 0;
        for (int64_t c = 0; c < C; c++) za += exp(a[c] / T), zb += exp(b[c] / T);
        for (int64_t c = 0; c < C; c++) {
            double p = exp(b[c] / T) / zb, q = exp(a[c] / T) / za;
            sum += p * log(p / q);
        }
    }
    return sum / (double)N;
}

static void test_response_kl(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_RESPONSE, RT_KD_MSE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(5, 7)), *t = rt_input(g, "t", RT_DIMS(5, 7));
    check_term(g, &k, &s, &t, true, 2.0, kl_want, NULL);
}

static double mse_want(rt_node *const *s, rt_node *const *t)
{
    double sum = 0;
    int64_t n = rt_numel(s[0]);
    for (int64_t i = 0; i < n; i++) sum += pow((double)rt_data(s[0])[i] - rt_data(t[0])[i], 2);
    return sum / (double)n;
}

static void test_response_regression(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_RESPONSE, RT_KD_MSE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(6, 2)), *t = rt_input(g, "t", RT_DIMS(6, 2));
    check_term(g, &k, &s, &t, false, 4.0, mse_want, NULL);
}

/* mean over rows (last dim) of 1 - cos */
static double cos_want(rt_node *const *s, rt_node *const *t)
{
    int64_t D = s[0]->out.shape[s[0]->out.ndim - 1], R = rt_numel(s[0]) / D;
    double sum = 0;
    for (int64_t r = 0; r < R; r++) {
        const float *a = rt_data(s[0]) + r * D, *b = rt_data(t[0]) + r * D;
        double ab = 0, aa = 0, bb = 0;
        for (int64_t j = 0; j < D; j++) ab += (double)a[j] * b[j], aa += (double)a[j] * a[j], bb += (double)b[j] * b[j];
        sum += 1 - ab / (sqrt(aa) * sqrt(bb));
    }
    return sum / (double)R;
}

static void test_embedding_cosine(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_EMBEDDING, RT_KD_COSINE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(4, 9)), *t = rt_input(g, "t", RT_DIMS(4, 9));
    check_term(g, &k, &s, &t, true, 1.0, cos_want, NULL);
}

/* MSE of unit vectors = (2 / D) (1 - cos): the dead-term arithmetic */
static double unit_mse_want(rt_node *const *s, rt_node *const *t)
{
    return 2.0 / (double)s[0]->out.shape[1] * cos_want(s, t);
}

static void test_embedding_normalized_mse(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_EMBEDDING, RT_KD_MSE, true, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(4, 16)), *t = rt_input(g, "t", RT_DIMS(4, 16));
    check_term(g, &k, &s, &t, true, 1.0, unit_mse_want, NULL);
}

static void test_feature_tokens_projection(void **state)
{
    (void)state;
    /* student (2, 5, 6) tokens, teacher (2, 9, 8): linear 6 -> 8, teacher resampled 9 -> 5; two pairs */
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_FEATURE, RT_KD_MSE, false, 2);
    rt_node *s[2] = {student_in(g, "s0", RT_DIMS(2, 5, 6)), student_in(g, "s1", RT_DIMS(2, 4, 8))};
    rt_node *t[2] = {rt_input(g, "t0", RT_DIMS(2, 9, 8)), rt_input(g, "t1", RT_DIMS(2, 4, 8))};
    check_term(g, &k, s, t, true, 1.0, NULL, NULL);
}

static void test_feature_maps_cosine(void **state)
{
    (void)state;
    /* maps: student (2, 3, 4, 4), teacher (2, 5, 6, 6): 1x1 conv 3 -> 5, teacher resized to 4x4, cosine over channels */
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_FEATURE, RT_KD_COSINE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(2, 3, 4, 4)), *t = rt_input(g, "t", RT_DIMS(2, 5, 6, 6));
    check_term(g, &k, &s, &t, true, 1.0, NULL, NULL);
}

static void test_attention_resized(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_ATTENTION, RT_KD_MSE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(2, 5, 5)), *t = rt_input(g, "t", RT_DIMS(2, 7, 7));
    check_term(g, &k, &s, &t, true, 1.0, NULL, NULL);
}

static void test_attention_same_size_value(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_ATTENTION, RT_KD_MSE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(3, 4, 4)), *t = rt_input(g, "t", RT_DIMS(3, 4, 4));
    check_term(g, &k, &s, &t, true, 1.0, mse_want, NULL);
}

static void test_unmatched_pair(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_kd_term k = term(RT_KD_FEATURE, RT_KD_MSE, false, 1);
    rt_node *s = student_in(g, "s", RT_DIMS(2, 5, 6)), *t = rt_input(g, "t", RT_DIMS(2, 30));
    assert_null(rt_kd_term_build(g, &k, 0, 1.0, true, &s, &t));
    printf("    error: %s\n", rt_errmsg());
    assert_non_null(strstr(rt_errmsg(), "cannot be matched"));
    assert_non_null(strstr(rt_errmsg(), "'t0'"));
    tu_graph_free(g);
    g = tu_graph_new();
    k = term(RT_KD_ATTENTION, RT_KD_MSE, false, 1);
    s = student_in(g, "s", RT_DIMS(2, 5, 6));
    t = rt_input(g, "t", RT_DIMS(2, 5, 5));
    assert_null(rt_kd_term_build(g, &k, 0, 1.0, true, &s, &t));
    assert_non_null(strstr(rt_errmsg(), "(B, T, T)"));
    tu_graph_free(g);
}

/* ---------------- runs ---------------- */

enum { N = 203, D = 6 };

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(tu_tmp(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Two Gaussian blobs; a teacher trained on them; a student config. */
static int setup(void **state)
{
    if (tu_tmpdir_setup(state) != 0) return -1;
    float x[N * D], y[N];
    for (int i = 0; i < N; i++) {
        y[i] = (float)(i % 3 == 0);
        for (int j = 0; j < D; j++)
            x[i * D + j] = (y[i] > 0 ? 0.6f : -0.6f) * (j % 2 ? 1.f : -1.f) + rt_rng_normal(9, 0, 0, (uint64_t)(i * D + j));
    }
    if (rt_npy_write_f32(tu_tmp("x.npy"), x, 2, (int64_t[]){N, D}) != RT_OK) return -1;
    if (rt_npy_write_f32(tu_tmp("y.npy"), y, 1, (int64_t[]){N}) != RT_OK) return -1;
    write_file("teacher.json", "{\"arch\": \"mlp\", \"name\": \"t\", \"input\": [6], \"num_outputs\": 2, "
                               "\"hidden\": [32, 128], \"activation\": \"gelu\"}\n");
    write_file("student.json", "{\"arch\": \"mlp\", \"name\": \"s\", \"input\": [6], \"num_outputs\": 2, "
                               "\"hidden\": [8], \"activation\": \"gelu\", \"dropout\": 0.1}\n");
    char txt[2048];
    snprintf(txt, sizeof txt,
             "{\"name\": \"t\", \"model\": \"%s\", \"data\": {\"train\": \"npy:%s,%s\", \"batch\": 16},\n"
             " \"loss\": {\"name\": \"cross_entropy\"}, \"optim\": {\"name\": \"adam\", \"lr\": 0.01},\n"
             " \"epochs\": 3, \"seed\": 1, \"out\": \"%s\"}\n",
             tu_tmp("teacher.json"), tu_tmp("x.npy"), tu_tmp("y.npy"), tu_tmp("teacher-run"));
    write_file("teacher-recipe.json", txt);
    rt_recipe r;
    if (rt_recipe_load(&r, tu_tmp("teacher-recipe.json"), NULL, 0) != RT_OK) return -1;
    rt_train_opts o = {.quiet = true};
    rt_train_result res;
    rt_status s = rt_train_run(&r, &o, &res);
    rt_recipe_free(&r);
    if (s != RT_OK) {
        printf("teacher: %s\n", rt_errmsg());
        return -1;
    }
    return 0;
}

/* A distillation recipe with the given "distill" terms (JSON text). */
static const char *recipe(const char *name, const char *terms, const char *extra)
{
    char txt[4096];
    snprintf(txt, sizeof txt,
             "{\"name\": \"s\", \"model\": \"%s\",\n"
             " \"data\": {\"train\": \"npy:%s,%s\", \"val\": \"npy:%s,%s\", \"batch\": 16},\n"
             " \"loss\": {\"name\": \"cross_entropy\"}, \"optim\": {\"name\": \"adamw\", \"lr\": 0.01},\n"
             " \"epochs\": 3, \"seed\": 5, \"log_every\": 5, \"checkpoint_every\": 4,\n"
             " \"distill\": {\"teacher\": \"%s\", \"temperature\": 2, \"monitor_every\": 2, %s \"terms\": [%s]}}\n",
             tu_tmp("student.json"), tu_tmp("x.npy"), tu_tmp("y.npy"), tu_tmp("x.npy"), tu_tmp("y.npy"),
             tu_tmp("teacher-run/model.safetensors"), extra ? extra : "", terms);
    write_file(name, txt);
    static char ring[8][600]; /* tu_tmp's buffers rotate: keep our own copies */
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s", tu_tmp(name));
    return p;
}

static rt_status distill(const char *recipe_path, const char *out, const char *set, rt_distill_result *res)
{
    char set_out[600];
    const char *sets[2] = {set_out, set};
    snprintf(set_out, sizeof set_out, "out=\"%s\"", out);
    rt_recipe r;
    if (rt_recipe_load(&r, recipe_path, sets, set ? 2 : 1) != RT_OK) fail_msg("%s", rt_errmsg());
    rt_distill_opts o = {.train = {.quiet = true}};
    rt_status s = rt_distill_run(&r, &o, res);
    if (s != RT_OK) printf("    error: %s\n", rt_errmsg());
    rt_recipe_free(&r);
    return s;
}

static const char *const FULL_TERMS =
    "{\"kind\": \"response\"}, {\"kind\": \"feature\", \"weight\": 0.5, \"pairs\": [[\"fc1\", \"pooled\"]]},"
    " {\"kind\": \"embedding\", \"weight\": 0.3, \"pairs\": [[\"pooled\", \"pooled\"]]}";

static void test_cache_equals_live(void **state)
{
    (void)state;
    const char *rp = recipe("full.json", FULL_TERMS, "\"alpha\": 0.6,");
    rt_distill_result a, b;
    assert_int_equal(distill(rp, tu_tmp("live"), NULL, &a), RT_OK);
    printf("    live teacher: student accuracy %.4f (teacher %.4f), %d warnings\n", a.student.val_metric,
           a.teacher_metric, a.warnings);
    assert_true(a.student.val_metric > 0.85);
    /* the model file holds the student only; the checkpoint keeps the projections */
    rt_safetensors st;
    assert_int_equal(rt_st_open(&st, tu_tmp("live/model.safetensors")), RT_OK);
    for (int i = 0; i < st.n; i++) assert_true(strncmp(st.t[i].name, "aux.", 4) != 0);
    rt_st_close(&st);
    assert_int_equal(rt_st_open(&st, tu_tmp("live/checkpoint.safetensors")), RT_OK);
    assert_non_null(rt_st_find(&st, "aux.feature.1.0.weight"));
    rt_st_close(&st);
    /* cache, then a run from it */
    rt_recipe r;
    assert_int_equal(rt_recipe_load(&r, rp, NULL, 0), RT_OK);
    assert_int_equal(rt_teacher_cache_write(&r, tu_tmp("cache.safetensors"), true), RT_OK);
    rt_recipe_free(&r);
    char set[600];
    snprintf(set, sizeof set, "distill.cache=\"%s\"", tu_tmp("cache.safetensors"));
    assert_int_equal(distill(rp, tu_tmp("cached"), set, &b), RT_OK);
    tu_same_file(tu_tmp("live/model.safetensors"), tu_tmp("cached/model.safetensors"));
    printf("    cached teacher: the same weights, bit for bit\n");
    /* with input noise the teacher runs on every (augmented) batch; a cache is refused */
    rt_distill_result c;
    assert_int_equal(distill(rp, tu_tmp("noisy"), "data.augment.noise=0.05", &c), RT_OK);
    printf("    teacher on every noisy batch: student accuracy %.4f\n", c.student.val_metric);
    assert_true(c.student.val_metric > 0.85);
    char sets2[2][600];
    const char *sp[3] = {sets2[0], sets2[1], "data.augment.noise=0.05"};
    snprintf(sets2[0], sizeof sets2[0], "out=\"%s\"", tu_tmp("noisy-cached"));
    snprintf(sets2[1], sizeof sets2[1], "%s", set);
    assert_int_equal(rt_recipe_load(&r, rp, sp, 3), RT_OK);
    rt_distill_opts o = {.train = {.quiet = true}};
    assert_int_equal(rt_distill_run(&r, &o, &c), RT_ERR_ARG);
    assert_non_null(strstr(rt_errmsg(), "augmentation"));
    rt_recipe_free(&r);
}

/* Count "warnings" entries in a run's log.jsonl. */
static int log_warnings(const char *dir, char *first, size_t n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1 << 14];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "warnings");
        if (w && count == 0 && first) snprintf(first, n, "%s", cJSON_GetArrayItem(w, 0)->valuestring);
        count += w ? cJSON_GetArraySize(w) : 0;
        cJSON_Delete(o);
    }
    fclose(f);
    return count;
}

static void test_dead_term_warns(void **state)
{
    (void)state;
    char first[700] = "";
    rt_distill_result res;
    const char *rp = recipe("dead.json",
                            "{\"kind\": \"embedding\", \"weight\": 0.5, \"distance\": \"mse\", \"normalize\": true,"
                            " \"pairs\": [[\"pooled\", \"pooled\"]]}",
                            "\"task_weight\": 0.5,");
    assert_int_equal(distill(rp, tu_tmp("dead"), NULL, &res), RT_OK);
    int w = log_warnings(tu_tmp("dead"), first, sizeof first);
    printf("    MSE on unit vectors: %d warning(s): %s\n", w, first);
    assert_true(w >= 1);
    assert_int_equal(res.warnings, w);
    assert_non_null(strstr(first, "embedding"));
    assert_non_null(strstr(first, "cosine"));
    rp = recipe("alive.json",
                "{\"kind\": \"embedding\", \"weight\": 0.5, \"distance\": \"cosine\", \"pairs\": [[\"pooled\", \"pooled\"]]}",
                "\"task_weight\": 0.5,");
    assert_int_equal(distill(rp, tu_tmp("alive"), NULL, &res), RT_OK);
    w = log_warnings(tu_tmp("alive"), first, sizeof first);
    printf("    cosine: %d warning(s)\n", w);
    assert_int_equal(w, 0);
    /* the monitor lines carry every term's shares */
    FILE *f = fopen(tu_tmp("alive/log.jsonl"), "r");
    char line[1 << 14];
    int monitors = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (t && !strcmp(t->valuestring, "monitor")) {
            const cJSON *terms = cJSON_GetObjectItemCaseSensitive(o, "terms");
            assert_int_equal(cJSON_GetArraySize(terms), 2);
            double ls = 0, gs = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, terms) {
                ls += cJSON_GetObjectItemCaseSensitive(e, "loss_share")->valuedouble;
                gs += cJSON_GetObjectItemCaseSensitive(e, "grad_share")->valuedouble;
                assert_non_null(cJSON_GetObjectItemCaseSensitive(e, "raw"));
                assert_non_null(cJSON_GetObjectItemCaseSensitive(e, "weighted"));
            }
            assert_true(fabs(ls - 1) < 1e-9 && fabs(gs - 1) < 1e-9);
            monitors++;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    assert_true(monitors >= 10);
}

/* A JSON file, parsed (the caller deletes it). */
static cJSON *read_json(const char *path)
{
    uint8_t *txt;
    size_t n;
    assert_int_equal(rt_read_file(path, 1 << 20, &txt, &n), RT_OK);
    cJSON *o = cJSON_ParseWithLength((const char *)txt, n);
    free(txt);
    assert_non_null(o);
    return o;
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    tu_need_cli();
    const char *rp = recipe("full.json", FULL_TERMS, "\"alpha\": 0.6,");
    char args[1600], line[512];
    int lines;
    snprintf(args, sizeof args, "distill '%s' --out '%s' --quiet", rp, tu_tmp("killed"));
    setenv("RETORT_TEST_KILL_AT_STEP", "23", 1);
    int rc = tu_run_cli(args, &lines, line, sizeof line);
    unsetenv("RETORT_TEST_KILL_AT_STEP");
    assert_int_not_equal(rc, 0);
    snprintf(args, sizeof args, "distill '%s' --out '%s' --quiet --resume", rp, tu_tmp("killed"));
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    if (access(tu_tmp("live/model.safetensors"), F_OK)) {
        rt_distill_result a;
        assert_int_equal(distill(rp, tu_tmp("live"), NULL, &a), RT_OK);
    }
    tu_same_file(tu_tmp("live/model.safetensors"), tu_tmp("killed/model.safetensors"));
    /* resuming a finished run trains nothing and still reports the student's metric */
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    cJSON *o = read_json(tu_tmp("killed/distill.json"));
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "student"), "accuracy");
    assert_true(cJSON_IsNumber(acc) && acc->valuedouble > 0.85);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "higher_is_better")));
    cJSON_Delete(o);
    tu_same_file(tu_tmp("live/model.safetensors"), tu_tmp("killed/model.safetensors"));
}

static void test_baseline_and_summary(void **state)
{
    (void)state;
    tu_need_cli();
    const char *rp = recipe("auto.json", "{\"kind\": \"response\"}", "\"alpha\": \"auto\",");
    char args[1600];
    snprintf(args, sizeof args, "distill '%s' --out '%s' --baseline --quiet", rp, tu_tmp("base"));
    int lines;
    char line[512];
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    cJSON *o = read_json(tu_tmp("base/distill.json"));
    double alpha = cJSON_GetObjectItemCaseSensitive(o, "alpha")->valuedouble;
    double tp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "teacher"), "params")->valuedouble;
    double sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "student"), "params")->valuedouble;
    double want = fmin(0.9, fmax(0.5, 0.5 + 0.2 * log10(tp / sp)));
    printf("    alpha auto %.4f for %g/%g parameters\n", alpha, tp, sp);
    assert_true(fabs(alpha - want) < 1e-9);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "baseline"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "gain"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "retention"));
    cJSON_Delete(o);
    assert_int_equal(access(tu_tmp("base/baseline/model.safetensors"), F_OK), 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    tu_need_cli();
    char args[1600];
    /* an unknown student tap: the available ones are listed; nothing written */
    const char *rp = recipe("bad1.json", "{\"kind\": \"feature\", \"pairs\": [[\"fc1\", \"blocks.9.out\"]]}", NULL);
    snprintf(args, sizeof args, "distill '%s' --out '%s'", rp, tu_tmp("bad1"));
    tu_expect_cli_failure(args, 1, NULL, "the student has no tap 'blocks.9.out' (available: ");
    assert_int_not_equal(access(tu_tmp("bad1"), F_OK), 0);
    rp = recipe("bad2.json", "{\"kind\": \"feature\", \"pairs\": [[\"fc7\", \"pooled\"]]}", NULL);
    snprintf(args, sizeof args, "distill '%s' --out '%s'", rp, tu_tmp("bad2"));
    tu_expect_cli_failure(args, 1, NULL, "the teacher has no tap 'fc7' (available: input, fc1, pooled, output");
    /* pairs that cannot be matched: before the first step */
    rp = recipe("bad3.json", "{\"kind\": \"attention\", \"pairs\": [[\"fc1\", \"pooled\"]]}", NULL);
    snprintf(args, sizeof args, "distill '%s' --out '%s'", rp, tu_tmp("bad3"));
    tu_expect_cli_failure(args, 1, NULL, "attention maps are (B, T, T)");
    assert_int_not_equal(access(tu_tmp("bad3"), F_OK), 0);
    /* a cache of other data (a subset) is refused */
    rp = recipe("full.json", FULL_TERMS, "\"alpha\": 0.6,");
    snprintf(args, sizeof args, "teacher-cache '%s' -o '%s' --subset 0.5 --quiet", rp, tu_tmp("half.safetensors"));
    int lines;
    char line[512];
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    snprintf(args, sizeof args, "distill '%s' --out '%s' --cache '%s'", rp, tu_tmp("bad4"), tu_tmp("half.safetensors"));
    tu_expect_cli_failure(args, 1, NULL, "holds 102 rows");
    /* a teacher that does not load */
    write_file("junk.safetensors", "this is not a model");
    snprintf(args, sizeof args, "distill '%s' --out '%s' --teacher '%s'", rp, tu_tmp("bad5"), tu_tmp("junk.safetensors"));
    tu_expect_cli_failure(args, 1, NULL, "junk.safetensors");
    /* a model file as a cache */
    snprintf(args, sizeof args, "distill '%s' --out '%s' --cache '%s'", rp, tu_tmp("bad6"),
             tu_tmp("teacher-run/model.safetensors"));
    tu_expect_cli_failure(args, 1, NULL, "not a retort teacher cache");
    /* a distillation recipe given to train */
    snprintf(args, sizeof args, "train '%s' --out '%s'", rp, tu_tmp("bad7"));
    tu_expect_cli_failure(args, 1, NULL, "use `retort distill`");
}

static void test_cache_other_order(void **state)
{
    (void)state;
    /* the same rows in another order: the hash differs */
    float x2[N * D], y2[N];
    rt_dataset a, b;
    char spec[1200];
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y.npy"));
    assert_int_equal(rt_dataset_open(&a, spec), RT_OK);
    for (int i = 0; i < N; i++) {
        int j = (i + 1) % N;
        memcpy(x2 + i * D, a.x + j * D, D * sizeof(float));
        y2[i] = (float)a.label[j];
    }
    assert_int_equal(rt_npy_write_f32(tu_tmp("x2.npy"), x2, 2, (int64_t[]){N, D}), RT_OK);
    assert_int_equal(rt_npy_write_f32(tu_tmp("y2.npy"), y2, 1, (int64_t[]){N}), RT_OK);
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x2.npy"), tu_tmp("y2.npy"));
    assert_int_equal(rt_dataset_open(&b, spec), RT_OK);
    assert_true(rt_kd_data_hash(&a) != rt_kd_data_hash(&b));
    rt_dataset_free(&a);
    rt_dataset_free(&b);
}

/* The users' audio case in miniature: a ViT teacher (CLS + 16 tokens, width
 * 12) -> a MobileViT student (16 tokens, width 8) on regression, with the
 * 0.3 / 0.4 / 0.3 response / feature / attention mix: projections, token
 * resampling and attention resizing bind to the real architectures' taps. */
static void test_vit_to_mobilevit(void **state)
{
    (void)state;
    enum { M = 40 };
    static float x[M * 3 * 16 * 16], y[M * 2];
    for (int i = 0; i < M * 3 * 16 * 16; i++) x[i] = rt_rng_normal(4, 0, 0, (uint64_t)i);
    for (int i = 0; i < M * 2; i++) y[i] = 0.5f * rt_rng_normal(4, 1, 0, (uint64_t)i);
    assert_int_equal(rt_npy_write_f32(tu_tmp("ax.npy"), x, 4, (int64_t[]){M, 3, 16, 16}), RT_OK);
    assert_int_equal(rt_npy_write_f32(tu_tmp("ay.npy"), y, 2, (int64_t[]){M, 2}), RT_OK);
    const char *tj = "{\"arch\": \"vit\", \"name\": \"vt\", \"input\": [3, 16, 16], \"task\": \"regression\","
                     " \"num_outputs\": 2, \"patch\": 4, \"width\": 12, \"depth\": 4, \"heads\": 2,"
                     " \"head\": {\"output_activation\": \"tanh\"}}";
    rt_model *t;
    assert_int_equal(rt_model_from_json(&t, tj, strlen(tj), "vit teacher"), RT_OK);
    rt_model_init(t, 8);
    assert_int_equal(rt_model_save(t, tu_tmp("vit.safetensors")), RT_OK);
    rt_model_free(t);
    write_file("mvit.json", "{\"arch\": \"mobilevit\", \"name\": \"ms\", \"input\": [3, 16, 16],"
                            " \"task\": \"regression\", \"num_outputs\": 2, \"patch\": 4, \"width\": 8,"
                            " \"depth\": 2, \"heads\": 2, \"head\": {\"output_activation\": \"tanh\"}}\n");
    char txt[4096];
    snprintf(txt, sizeof txt,
             "{\"name\": \"mv\", \"model\": \"%s\", \"data\": {\"train\": \"npy:%s,%s\", \"val\": \"npy:%s,%s\","
             " \"batch\": 8}, \"loss\": {\"name\": \"ccc\"}, \"optim\": {\"name\": \"adamw\", \"lr\": 0.003},"
             " \"epochs\": 2, \"seed\": 3, \"out\": \"%s\",\n"
             " \"distill\": {\"teacher\": \"%s\", \"monitor_every\": 1, \"task_weight\": 1.0, \"terms\": [\n"
             "  {\"kind\": \"response\", \"weight\": 0.3},\n"
             "  {\"kind\": \"feature\", \"weight\": 0.4, \"pairs\": [[\"blocks.1.out\", \"blocks.0.out\"], [\"blocks.3.out\", \"blocks.1.out\"]]},\n"
             "  {\"kind\": \"attention\", \"weight\": 0.3, \"pairs\": [[\"blocks.3.attn.probs\", \"blocks.1.attn.probs\"]]}]}}\n",
             tu_tmp("mvit.json"), tu_tmp("ax.npy"), tu_tmp("ay.npy"), tu_tmp("ax.npy"), tu_tmp("ay.npy"), tu_tmp("mv"),
             tu_tmp("vit.safetensors"));
    write_file("mv.json", txt);
    rt_recipe r;
    assert_int_equal(rt_recipe_load(&r, tu_tmp("mv.json"), NULL, 0), RT_OK);
    rt_distill_opts o = {.train = {.quiet = true}};
    rt_distill_result res;
    rt_status s = rt_distill_run(&r, &o, &res);
    if (s != RT_OK) fail_msg("%s", rt_errmsg());
    rt_recipe_free(&r);
    printf("    vit -> mobilevit: %lld steps, student ccc %.4f, teacher ccc %.4f, %d warnings\n",
           (long long)res.student.steps, res.student.val_metric, res.teacher_metric, res.warnings);
    rt_safetensors st;
    assert_int_equal(rt_st_open(&st, tu_tmp("mv/checkpoint.safetensors")), RT_OK);
    assert_non_null(rt_st_find(&st, "aux.feature.1.0.weight")); /* width 8 -> 12 */
    rt_st_close(&st);
}

/* A teacher trained on flipped labels and a response term that carries
 * nearly all of the gradient: validation accuracy falls epoch after epoch
 * and the monitor says which term dominates. */
static void test_dominating_term_warns(void **state)
{
    (void)state;
    float y[N];
    rt_dataset a;
    char spec[1200], txt[2048];
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y.npy"));
    assert_int_equal(rt_dataset_open(&a, spec), RT_OK);
    for (int i = 0; i < N; i++) y[i] = (float)(1 - a.label[i]);
    rt_dataset_free(&a);
    assert_int_equal(rt_npy_write_f32(tu_tmp("yflip.npy"), y, 1, (int64_t[]){N}), RT_OK);
    snprintf(txt, sizeof txt,
             "{\"name\": \"t\", \"model\": \"%s\", \"data\": {\"train\": \"npy:%s,%s\", \"batch\": 16},\n"
             " \"loss\": {\"name\": \"cross_entropy\"}, \"optim\": {\"name\": \"adam\", \"lr\": 0.01},\n"
             " \"epochs\": 3, \"seed\": 1, \"out\": \"%s\"}\n",
             tu_tmp("teacher.json"), tu_tmp("x.npy"), tu_tmp("yflip.npy"), tu_tmp("flipped"));
    write_file("flip-recipe.json", txt);
    rt_recipe r;
    assert_int_equal(rt_recipe_load(&r, tu_tmp("flip-recipe.json"), NULL, 0), RT_OK);
    rt_train_opts o = {.quiet = true};
    rt_train_result tr;
    assert_int_equal(rt_train_run(&r, &o, &tr), RT_OK);
    rt_recipe_free(&r);
    char tset[600];
    snprintf(tset, sizeof tset, "distill.teacher=\"%s\"", tu_tmp("flipped/model.safetensors"));
    const char *rp = recipe("dom.json", "{\"kind\": \"response\", \"weight\": 1.0}",
                            "\"task_weight\": 0.001, \"alpha\": 0.5,");
    char set_out[600];
    snprintf(set_out, sizeof set_out, "out=\"%s\"", tu_tmp("dom"));
    const char *sets[3] = {set_out, tset, "optim.lr=0.003"};
    assert_int_equal(rt_recipe_load(&r, rp, sets, 3), RT_OK);
    rt_distill_opts dopt = {.train = {.quiet = true}};
    rt_distill_result res;
    assert_int_equal(rt_distill_run(&r, &dopt, &res), RT_OK);
    rt_recipe_free(&r);
    char first[700] = "";
    int w = log_warnings(tu_tmp("dom"), first, sizeof first);
    printf("    flipped teacher: student accuracy %.4f, %d warning(s): %s\n", res.student.val_metric, w, first);
    assert_true(w >= 1);
    assert_non_null(strstr(first, "'response' carries"));
    assert_non_null(strstr(first, "got worse"));
}

static void test_bad_recipes(void **state)
{
    (void)state;
    static const struct { const char *distill, *want; } cases[] = {
        {"{\"terms\": [{\"kind\": \"response\"}]}", "field 'distill.teacher'"},
        {"{\"teacher\": \"t\", \"terms\": []}", "0 terms"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"responze\"}]}", "kind"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"response\"}, {\"kind\": \"response\"}]}",
         "a second response term"},
        {"{\"teacher\": \"t\", \"alpha\": 0.5, \"terms\": [{\"kind\": \"embedding\"}]}",
         "alpha mixes the response term"},
        {"{\"teacher\": \"t\", \"alpha\": \"maybe\", \"terms\": [{\"kind\": \"response\"}]}", "alpha"},
        {"{\"teacher\": \"t\", \"alpha\": 1.5, \"terms\": [{\"kind\": \"response\"}]}", "alpha"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"feature\"}]}", "pairs"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"feature\", \"pairs\": [[\"a\"]]}]}",
         "pair 0 is not"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"feature\", \"pairs\": [[\"a\", \"b\"]], "
         "\"distance\": \"l3\"}]}", "distance"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"attention\", \"pairs\": [[\"a\", \"b\"]], "
         "\"distance\": \"mse\"}]}", "distance"},
        {"{\"teacher\": \"t\", \"terms\": [{\"kind\": \"response\", \"temperature\": 2}]}",
         "temperature"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char txt[2048];
        snprintf(txt, sizeof txt,
                 "{\"model\": \"m.json\", \"data\": {\"train\": \"fmnist:train\", \"batch\": 8},"
                 " \"loss\": {\"name\": \"cross_entropy\"}, \"optim\": {\"name\": \"sgd\", \"lr\": 0.1},"
                 " \"epochs\": 1, \"distill\": %s}",
                 cases[i].distill);
        rt_recipe r;
        rt_status s = rt_recipe_parse(&r, txt, strlen(txt), "bad.json", NULL, 0);
        printf("    %s\n", s == RT_OK ? "(accepted)" : rt_errmsg());
        assert_int_not_equal(s, RT_OK);
        assert_non_null(strstr(rt_errmsg(), "bad.json"));
        if (!strstr(rt_errmsg(), cases[i].want)) fail_msg("expected '%s'", cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_kl),
        cmocka_unit_test(test_response_regression),
        cmocka_unit_test(test_embedding_cosine),
        cmocka_unit_test(test_embedding_normalized_mse),
        cmocka_unit_test(test_feature_tokens_projection),
        cmocka_unit_test(test_feature_maps_cosine),
        cmocka_unit_test(test_attention_resized),
        cmocka_unit_test(test_attention_same_size_value),
        cmocka_unit_test(test_unmatched_pair),
        cmocka_unit_test(test_cache_equals_live),
        cmocka_unit_test(test_dead_term_warns),
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_baseline_and_summary),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cache_other_order),
        cmocka_unit_test(test_bad_recipes),
        cmocka_unit_test(test_dominating_term_warns),
        cmocka_unit_test(test_vit_to_mobilevit),
    };
    return cmocka_run_group_tests(tests, setup, tu_tmpdir_teardown);
}
