/*
 * test_eval.c - rt_eval_model and `retort eval`.
 *
 * Tiny models built from config strings: an identity head (logits = x, so
 * every metric is known from the data), and random mlp / linear-VAE models
 * whose metrics must equal src/metrics applied to outputs computed sample by
 * sample on a batch-1 graph, exactly (no tolerance: the same floats go into
 * the same metric code). Batch sizes that leave a partial last batch must
 * give the same report as batch 1, dropout and batch norm included (eval
 * mode). Then the checks (shapes, labels, targets, task) and the CLI end to
 * end on .npy files written here.
 */
#include "testutil.h"

#include "data/dataset.h"
#include "io/npy.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "train/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static rt_model *model(const char *json, uint64_t seed)
{
    rt_model *m;
    if (rt_model_from_json(&m, json, strlen(json), "test config") != RT_OK) fail_msg("%s", rt_errmsg());
    rt_model_init(m, seed);
    return m;
}

/* Deterministic values in [lo, hi). */
static void fill(float *x, int64_t n, uint32_t seed, float lo, float hi)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) / 16777216.f;
    }
}

/* The reference: outputs (N, n_out) from a batch-1 eval-mode graph, one sample at a time. */
static float *outputs_one_by_one(rt_model *m, const rt_dataset *ds, int64_t n_out)
{
    rt_graph *g = rt_model_graph(m, 1, RT_PLAN_INFER);
    assert_non_null(g);
    rt_graph_set_training(g, false);
    float *y = malloc((size_t)(ds->n * n_out) * sizeof *y);
    assert_non_null(y);
    for (int64_t i = 0; i < ds->n; i++) {
        memcpy(rt_data(rt_graph_tap(g, "input")), ds->x + i * ds->x_size, (size_t)ds->x_size * sizeof(float));
        assert_int_equal(rt_graph_forward(g), RT_OK);
        memcpy(y + i * n_out, rt_data(rt_graph_tap(g, "output")), (size_t)n_out * sizeof(float));
    }
    rt_graph_free(g);
    return y;
}

static void expect_same_report(const rt_eval_report *a, const rt_eval_report *b)
{
    assert_int_equal(a->n_scalars, b->n_scalars);
    for (int i = 0; i < a->n_scalars; i++) {
        assert_string_equal(a->scalars[i].name, b->scalars[i].name);
        double x = a->scalars[i].value, y = b->scalars[i].value;
        if (!(x == y || (isnan(x) && isnan(y)))) fail_msg("%s: %.17g vs %.17g", a->scalars[i].name, x, y);
    }
    assert_int_equal(!a->confusion, !b->confusion);
    if (a->confusion) assert_memory_equal(a->confusion, b->confusion, (size_t)(a->n_out * a->n_out) * sizeof(int64_t));
    assert_int_equal(!a->per_dim, !b->per_dim);
    if (a->per_dim)
        assert_memory_equal(a->per_dim, b->per_dim, (size_t)(RT_EVAL_REG_COUNT * a->n_out) * sizeof(double));
}

/* Identity head: logits == x, so the metrics follow from the data. */
static void test_identity_classifier(void **state)
{
    (void)state;
    rt_model *m = model("{\"arch\": \"mlp\", \"input\": [7], \"task\": \"classification\", \"num_outputs\": 7}", 0);
    float *w = rt_params_data(m->params, rt_params_find(m->params, "head.weight"));
    float *b = rt_params_data(m->params, rt_params_find(m->params, "head.bias"));
    for (int i = 0; i < 7; i++) {
        b[i] = 0.f;
        for (int j = 0; j < 7; j++) w[i * 7 + j] = i == j ? 1.f : 0.f;
    }
    enum { N = 10 };
    float x[N * 7];
    fill(x, N * 7, 1, -2.f, 2.f);
    int32_t label[N], pred[N];
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int j = 1; j < 7; j++) best = x[i * 7 + j] > x[i * 7 + best] ? j : best;
        pred[i] = best;
        label[i] = i < 6 ? best : (best + 1) % 7; /* 6 of 10 right */
    }
    rt_dataset ds;
    assert_int_equal(rt_dataset_from_arrays(&ds, "identity", N, 1, (int64_t[]){7}, x, 7, label, 0, NULL), RT_OK);
    rt_eval_report r;
    assert_int_equal(rt_eval_model(m, &ds, 4, &r), RT_OK); /* batches 4, 4, 2 */
    double ce = 0, top5;
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, se = 0;
        for (int j = 0; j < 7; j++) mx = fmax(mx, x[i * 7 + j]);
        for (int j = 0; j < 7; j++) se += exp(x[i * 7 + j] - mx);
        ce += mx + log(se) - x[i * 7 + label[i]];
    }
    assert_int_equal(rt_metric_topk_accuracy(&top5, RT_METRIC_MAT(x, N, 7), label, N, 5), RT_OK);
    printf("    accuracy %.3f, top5 %.3f, loss %.6f (direct %.6f)\n", rt_eval_report_get(&r, "accuracy"),
           rt_eval_report_get(&r, "top5_accuracy"), rt_eval_report_get(&r, "loss"), ce / N);
    assert_true(rt_eval_report_get(&r, "accuracy") == 0.6);
    assert_true(rt_eval_report_get(&r, "top5_accuracy") == top5);
    assert_true(rt_eval_report_get(&r, "topk_accuracy") == top5);
    assert_true(fabs(rt_eval_report_get(&r, "loss") - ce / N) <= 1e-12);
    assert_true(isnan(rt_eval_report_get(&r, "ccc")));
    assert_string_equal(r.primary, "accuracy");
    int64_t cm[49] = {0};
    for (int i = 0; i < N; i++) cm[label[i] * 7 + pred[i]]++;
    assert_memory_equal(r.confusion, cm, sizeof cm);
    cJSON *j = rt_eval_report_json(&r);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "metrics");
    assert_true(cJSON_GetObjectItemCaseSensitive(mt, "accuracy")->valuedouble == 0.6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "confusion")), 7);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "n")->valuedouble, N);
    cJSON_Delete(j);
    rt_eval_report_free(&r);
    rt_dataset_free(&ds);
    rt_model_free(m);
}

/* A random mlp with dropout: every batch size gives the batch-1 report. */
static void test_batch_invariance(void **state)
{
    (void)state;
    rt_model *m = model("{\"arch\": \"mlp\", \"input\": [2, 3], \"task\": \"classification\", \"num_outputs\": 7,"
                        " \"hidden\": [16], \"activation\": \"tanh\", \"dropout\": 0.5}",
                        5);
    enum { N = 23 };
    float x[N * 6];
    int32_t label[N];
    fill(x, N * 6, 2, -1.f, 1.f);
    for (int i = 0; i < N; i++) label[i] = (int32_t)((i * 5) % 7);
    rt_dataset ds;
    assert_int_equal(rt_dataset_from_arrays(&ds, "random", N, 2, (int64_t[]){2, 3}, x, 7, label, 0, NULL), RT_OK);
    rt_eval_report one, r;
    assert_int_equal(rt_eval_model(m, &ds, 1, &one), RT_OK);
    /* the batch-1 report equals src/metrics on outputs computed one by one */
    float *y = outputs_one_by_one(m, &ds, 7);
    int32_t pred[N];
    double acc;
    assert_int_equal(rt_metric_argmax(pred, RT_METRIC_MAT(y, N, 7)), RT_OK);
    assert_int_equal(rt_metric_accuracy(&acc, pred, N, label, N), RT_OK);
    assert_true(rt_eval_report_get(&one, "accuracy") == acc);
    free(y);
    const int64_t batches[] = {5, 7, 22, 23, 64};
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        assert_int_equal(rt_eval_model(m, &ds, batches[k], &r), RT_OK);
        printf("    batch %2lld: accuracy %.4f loss %.9f\n", (long long)batches[k], rt_eval_report_get(&r, "accuracy"),
               rt_eval_report_get(&r, "loss"));
        expect_same_report(&one, &r);
        rt_eval_report_free(&r);
    }
    rt_eval_report_free(&one);
    rt_dataset_free(&ds);
    rt_model_free(m);
}

static void test_regression(void **state)
{
    (void)state;
    rt_model *m = model("{\"arch\": \"mlp\", \"input\": [3], \"task\": \"regression\", \"num_outputs\": 2,"
                        " \"hidden\": [8]}",
                        7);
    enum { N = 11, D = 2 };
    float x[N * 3], t[N * D];
    fill(x, N * 3, 3, -1.f, 1.f);
    fill(t, N * D, 4, -0.5f, 0.5f);
    rt_dataset ds;
    assert_int_equal(rt_dataset_from_arrays(&ds, "reg", N, 1, (int64_t[]){3}, x, 0, NULL, D, t), RT_OK);
    rt_eval_report r, one;
    assert_int_equal(rt_eval_model(m, &ds, 4, &r), RT_OK);
    assert_int_equal(rt_eval_model(m, &ds, 1, &one), RT_OK);
    expect_same_report(&one, &r);
    float *y = outputs_one_by_one(m, &ds, D);
    static const enum rt_metric_id ids[RT_EVAL_REG_COUNT] = {RT_METRIC_CCC, RT_METRIC_PEARSON, RT_METRIC_MSE,
                                                             RT_METRIC_MAE, RT_METRIC_R2};
    for (int k = 0; k < RT_EVAL_REG_COUNT; k++) {
        double per[D], mean;
        assert_int_equal(rt_metric_regress(ids[k], per, &mean, RT_METRIC_MAT(y, N, D), RT_METRIC_MAT(t, N, D)), RT_OK);
        const char *name = rt_metric_get(ids[k])->name;
        printf("    %-8s %+.6f %+.6f mean %+.6f\n", name, per[0], per[1], rt_eval_report_get(&r, name));
        assert_true(rt_eval_report_get(&r, name) == mean);
        assert_true(r.per_dim[k * D] == per[0] && r.per_dim[k * D + 1] == per[1]);
    }
    assert_true(rt_eval_report_get(&r, "loss") == rt_eval_report_get(&r, "mse"));
    assert_string_equal(r.primary, "ccc");
    cJSON *j = rt_eval_report_json(&r);
    const cJSON *pd = cJSON_GetObjectItemCaseSensitive(j, "per_dim");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pd, "ccc")), D);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "confusion"));
    cJSON_Delete(j);
    free(y);
    rt_eval_report_free(&r);
    rt_eval_report_free(&one);
    /* one sample: CCC, Pearson and R2 are undefined (NaN, null in JSON), MSE is not */
    rt_dataset one_ds;
    assert_int_equal(rt_dataset_from_arrays(&one_ds, "one", 1, 1, (int64_t[]){3}, x, 0, NULL, D, t), RT_OK);
    assert_int_equal(rt_eval_model(m, &one_ds, 4, &r), RT_OK);
    assert_true(isnan(rt_eval_report_get(&r, "ccc")) && isfinite(rt_eval_report_get(&r, "mse")));
    j = rt_eval_report_json(&r);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metrics"), "ccc")));
    cJSON_Delete(j);
    rt_eval_report_free(&r);
    rt_dataset_free(&one_ds);
    rt_dataset_free(&ds);
    rt_model_free(m);
}

/* A linear VAE with batch norm: the target is x; eval mode makes it batch-invariant. */
static void test_reconstruction(void **state)
{
    (void)state;
    rt_model *m = model("{\"arch\": \"vae\", \"input\": [6], \"task\": \"reconstruction\", \"variant\": \"linear\","
                        " \"latent\": 2, \"hidden\": [5], \"batch_norm\": true}",
                        9);
    enum { N = 9 };
    float x[N * 6];
    fill(x, N * 6, 5, 0.f, 1.f);
    rt_dataset ds;
    assert_int_equal(rt_dataset_from_arrays(&ds, "recon", N, 1, (int64_t[]){6}, x, 0, NULL, 1, x), RT_OK);
    rt_eval_report r, one;
    assert_int_equal(rt_eval_model(m, &ds, 4, &r), RT_OK);
    assert_int_equal(rt_eval_model(m, &ds, 1, &one), RT_OK);
    expect_same_report(&one, &r);
    float *y = outputs_one_by_one(m, &ds, 6);
    double mean, ps[N], lo = INFINITY, hi = 0;
    assert_int_equal(rt_metric_recon_mse(&mean, ps, RT_METRIC_MAT(y, N, 6), RT_METRIC_MAT(x, N, 6)), RT_OK);
    for (int i = 0; i < N; i++) lo = fmin(lo, ps[i]), hi = fmax(hi, ps[i]);
    printf("    recon_mse %.6f, min %.6f, max %.6f\n", mean, lo, hi);
    double err = fabs(rt_eval_report_get(&r, "recon_mse") - mean) / mean;
    printf("    recon_mse relative difference to rt_metric_recon_mse over all: %.3g (tol 1e-14)\n", err);
    assert_true(err <= 1e-14 && rt_eval_report_get(&r, "loss") == rt_eval_report_get(&r, "recon_mse"));
    assert_true(rt_eval_report_get(&r, "recon_mse_min") == lo && rt_eval_report_get(&r, "recon_mse_max") == hi);
    double med = rt_eval_report_get(&r, "recon_mse_median");
    int below = 0;
    for (int i = 0; i < N; i++) below += ps[i] < med;
    assert_int_equal(below, N / 2);
    free(y);
    rt_eval_report_free(&r);
    rt_eval_report_free(&one);
    rt_dataset_free(&ds);
    rt_model_free(m);
}

static void expect_eval_error(rt_model *m, const rt_dataset *ds, int64_t batch, rt_status want, const char *a,
                              const char *b)
{
    rt_eval_report r;
    rt_status s = rt_eval_model(m, ds, batch, &r);
    printf("    -> %s\n", rt_errmsg());
    assert_int_equal(s, want);
    if (a && !strstr(rt_errmsg(), a)) fail_msg("'%s' lacks '%s'", rt_errmsg(), a);
    if (b && !strstr(rt_errmsg(), b)) fail_msg("'%s' lacks '%s'", rt_errmsg(), b);
    rt_eval_report_free(&r);
}

static void test_checks(void **state)
{
    (void)state;
    rt_model *cls = model("{\"arch\": \"mlp\", \"name\": \"c4\", \"input\": [1, 2, 2], \"task\": \"classification\","
                          " \"num_outputs\": 4}",
                          1);
    rt_model *reg = model("{\"arch\": \"mlp\", \"input\": [4], \"task\": \"regression\", \"num_outputs\": 2}", 1);
    float x[6 * 5] = {0}, t[6 * 3] = {0};
    int32_t ok[6] = {0, 1, 2, 3, 0, 1}, bad[6] = {0, 1, 2, 3, 9, 1};
    rt_dataset d22, d5, dbad, dt3, dt2;
    assert_int_equal(rt_dataset_from_arrays(&d22, "d22", 6, 2, (int64_t[]){2, 2}, x, 4, ok, 0, NULL), RT_OK);
    assert_int_equal(rt_dataset_from_arrays(&d5, "d5", 6, 1, (int64_t[]){5}, x, 4, ok, 0, NULL), RT_OK);
    assert_int_equal(rt_dataset_from_arrays(&dbad, "dbad", 6, 1, (int64_t[]){4}, x, 10, bad, 0, NULL), RT_OK);
    assert_int_equal(rt_dataset_from_arrays(&dt3, "dt3", 6, 1, (int64_t[]){4}, x, 0, NULL, 3, t), RT_OK);
    assert_int_equal(rt_dataset_from_arrays(&dt2, "dt2", 6, 1, (int64_t[]){4}, x, 0, NULL, 2, t), RT_OK);
    rt_eval_report r; /* (2, 2) samples feed input [1, 2, 2] (size-1 dimensions dropped) */
    assert_int_equal(rt_eval_model(cls, &d22, 4, &r), RT_OK);
    assert_true(isnan(rt_eval_report_get(&r, "top5_accuracy"))); /* C = 4 */
    rt_eval_report_free(&r);
    expect_eval_error(cls, &d5, 4, RT_ERR_SHAPE, "d5: samples are", "c4");
    expect_eval_error(cls, &dbad, 4, RT_ERR_ARG, "sample 4 has label 9", "4 classes");
    expect_eval_error(cls, &dt2, 4, RT_ERR_SHAPE, "dt2", "classifier");
    expect_eval_error(reg, &dt3, 4, RT_ERR_SHAPE, "dt3", "2 values");
    expect_eval_error(reg, &d22, 4, RT_ERR_SHAPE, "d22", "class labels");
    expect_eval_error(reg, &dt2, 0, RT_ERR_ARG, "batch", NULL);
    /* embedding models are scored on verification trials: all pairs of labelled utterances */
    rt_model *emb = model("{\"arch\": \"lstm\", \"input\": [1, 4], \"task\": \"embedding\", \"hidden\": 4,"
                          " \"layers\": 1, \"embed_dim\": 4}",
                          1);
    expect_eval_error(emb, &dt2, 4, RT_ERR_ARG, "embedding", "speaker labels");
    rt_model_free(emb);
    /* a model whose output is not finite */
    float *w = rt_params_data(reg->params, rt_params_find(reg->params, "head.bias"));
    w[1] = NAN;
    expect_eval_error(reg, &dt2, 4, RT_ERR_NONFINITE, "sample 0", "element 1");
    rt_dataset *all[] = {&d22, &d5, &dbad, &dt3, &dt2};
    for (int i = 0; i < 5; i++) rt_dataset_free(all[i]);
    rt_model_free(cls);
    rt_model_free(reg);
}

/* ---- the CLI ---- */

static const char cli_cfg[] = "{\"arch\": \"mlp\", \"name\": \"tiny\", \"input\": [4], \"task\": \"classification\","
                              " \"num_outputs\": 3, \"hidden\": [5]}";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* X (n, width) and Y (n,) with labels i % 3; one NaN in X if asked. */
static void write_npy(const char *xp, const char *yp, int64_t n, int64_t width, bool nan)
{
    float x[64 * 8], y[64];
    RT_ASSERT(n <= 64 && width <= 8);
    fill(x, n * width, 6, 0.f, 1.f);
    if (nan) x[width + 1] = NAN;
    for (int64_t i = 0; i < n; i++) y[i] = (float)(i % 3);
    assert_int_equal(rt_npy_write_f32(xp, x, 2, (int64_t[]){n, width}), RT_OK);
    assert_int_equal(rt_npy_write_f32(yp, y, 1, (int64_t[]){n}), RT_OK);
}

static void test_cli(void **state)
{
    (void)state;
    tu_need_cli();
    char args[2048], spec[600];
    char cfg[256], mf[256], xp[256], yp[256], out[256]; /* own copies: tu_tmp() reuses its buffers */
    snprintf(cfg, sizeof cfg, "%s", tu_tmp("tiny.json"));
    snprintf(mf, sizeof mf, "%s", tu_tmp("tiny.safetensors"));
    snprintf(xp, sizeof xp, "%s", tu_tmp("x.npy"));
    snprintf(yp, sizeof yp, "%s", tu_tmp("y.npy"));
    snprintf(out, sizeof out, "%s", tu_tmp("eval.json"));
    int lines;
    char line[512];
    write_text(cfg, cli_cfg);
    snprintf(args, sizeof args, "init '%s' --seed 3 -o '%s'", cfg, mf);
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    write_npy(xp, yp, 10, 4, false);
    snprintf(spec, sizeof spec, "npy:%s,%s", xp, yp);
    snprintf(args, sizeof args, "eval '%s' --data '%s' --batch 3 --json -o '%s'", mf, spec, out);
    cJSON *j = tu_run_cli_json(args);
    /* the same numbers as the library on the same model and data */
    rt_model *m;
    rt_dataset ds;
    rt_eval_report r;
    assert_int_equal(rt_model_load(&m, mf), RT_OK);
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(rt_eval_model(m, &ds, 1, &r), RT_OK);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "metrics");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "n")->valuedouble, 10);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "model")->valuestring, "tiny");
    assert_true(cJSON_GetObjectItemCaseSensitive(mt, "accuracy")->valuedouble == rt_eval_report_get(&r, "accuracy"));
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(mt, "loss")->valuedouble - rt_eval_report_get(&r, "loss")) <=
                1e-12);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "untrained"));
    cJSON_Delete(j);
    rt_eval_report_free(&r);
    rt_dataset_free(&ds);
    rt_model_free(m);
    assert_int_equal(access(out, F_OK), 0); /* -o written */
    unlink(out);
    /* a config: freshly initialised, said so */
    snprintf(args, sizeof args, "eval '%s' --data '%s'", cfg, spec);
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    char *txt = tu_cli_stdout();
    assert_non_null(strstr(txt, "not trained"));
    assert_non_null(strstr(txt, "accuracy"));
    free(txt);
    /* bad input: one line, exit 1 (2 for usage), no output file */
    snprintf(args, sizeof args, "eval '%s' --data '%s' -o '%s'", tu_tmp("absent.safetensors"), spec, out);
    tu_expect_cli_failure(args, 1, out, "absent.safetensors");
    snprintf(args, sizeof args, "eval '%s' --data frobnicate:test -o '%s'", mf, out);
    tu_expect_cli_failure(args, 1, out, "frobnicate");
    write_npy(tu_tmp("x5.npy"), tu_tmp("y5.npy"), 10, 5, false);
    snprintf(args, sizeof args, "eval '%s' --data 'npy:%s,%s' -o '%s'", mf, tu_tmp("x5.npy"), tu_tmp("y5.npy"), out);
    tu_expect_cli_failure(args, 1, out, "samples are (5) but model 'tiny' takes input (4)");
    write_npy(tu_tmp("xn.npy"), tu_tmp("yn.npy"), 10, 4, true);
    snprintf(args, sizeof args, "eval '%s' --data 'npy:%s,%s' -o '%s'", mf, tu_tmp("xn.npy"), tu_tmp("yn.npy"), out);
    tu_expect_cli_failure(args, 1, out, "xn.npy");
    snprintf(args, sizeof args, "eval '%s' -o '%s'", mf, out);
    tu_expect_cli_failure(args, 2, out, "--data");
    snprintf(args, sizeof args, "eval '%s' --data '%s' --batch 0", mf, spec);
    tu_expect_cli_failure(args, 2, NULL, "--batch");
    snprintf(args, sizeof args, "eval '%s' --data '%s' -o /nonexistent-dir/e.json", mf, spec);
    tu_expect_cli_failure(args, 1, "/nonexistent-dir/e.json", "/nonexistent-dir/e.json");
}

/* Fashion-MNIST test set through a tiny untrained mlp (skipped when the package is absent). */
static void test_cli_fmnist(void **state)
{
    (void)state;
    tu_need_cli();
    const char *d = getenv("RETORT_FMNIST_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", d && *d ? d : RT_FMNIST_DIR);
    char plain[512];
    snprintf(plain, sizeof plain, "%.*s", (int)strlen(path) - 3, path);
    if (access(path, R_OK) && access(plain, R_OK)) skip();
    cJSON *j = tu_run_cli_json("eval configs/fmnist-student.json --data fmnist:test --json");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(j, "n")->valuedouble, 10000);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "untrained")));
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "metrics");
    double acc = cJSON_GetObjectItemCaseSensitive(mt, "accuracy")->valuedouble;
    printf("    untrained fmnist-student: accuracy %.4f\n", acc);
    assert_true(acc >= 0 && acc <= 1);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_classifier), cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_regression),          cmocka_unit_test(test_reconstruction),
        cmocka_unit_test(test_checks),              cmocka_unit_test(test_cli),
        cmocka_unit_test(test_cli_fmnist),
    };
    return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
