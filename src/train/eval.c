/*
 * eval.c - a model over a whole dataset, then the metrics of its task
 * (contract in eval.h). The forward passes fill one (N, n_out) output
 * buffer allocated before the loop and the metrics (src/metrics) run on it
 * afterwards, so the numbers do not depend on the batch size; for
 * reconstruction (outputs as large as the data) only the per-sample MSEs
 * are kept, computed batch by batch.
 */
#include "train/eval.h"

#include "metrics/metrics.h"
#include "train/trials.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *rt_eval_task_name(enum rt_task t)
{
    static const char *const names[] = {"classification", "regression", "embedding", "reconstruction"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The model's name for messages (its architecture when it has none). */
static const char *mname(const rt_model *m) { return m->name[0] ? m->name : m->arch->name; }

/* Shape without its size-1 dimensions, into out; returns the new ndim. */
static int squeeze(int ndim, const int64_t *shape, int64_t *out)
{
    int k = 0;
    for (int i = 0; i < ndim; i++)
        if (shape[i] != 1) out[k++] = shape[i];
    return k;
}

const char *rt_eval_task_metric(enum rt_task task)
{
    return task == RT_TASK_CLASSIFICATION ? "accuracy"
           : task == RT_TASK_REGRESSION   ? "ccc"
           : task == RT_TASK_EMBEDDING    ? "eer"
                                          : "recon_mse";
}

rt_status rt_eval_check_input(const rt_model *m, const rt_dataset *ds)
{
    int64_t a[RT_DATASET_MAX_DIM], b[RT_MAX_DIMS];
    int na = squeeze(ds->x_ndim, ds->x_shape, a), nb = squeeze(m->in_ndim, m->in_shape, b);
    if (rt_shape_equal(na, a, nb, b)) return RT_OK;
    char sa[96], sb[96];
    return rt_error(RT_ERR_SHAPE, "%s: samples are %s but model '%s' takes input %s", ds->source,
                    rt_shape_str(sa, sizeof sa, ds->x_ndim, ds->x_shape), mname(m),
                    rt_shape_str(sb, sizeof sb, m->in_ndim, m->in_shape));
}

/* Targets fit the task; *n_out gets the output floats per sample. */
static rt_status check_targets(const rt_model *m, const rt_dataset *ds, int64_t *n_out)
{
    switch (m->task) {
    case RT_TASK_CLASSIFICATION:
        if (!ds->label)
            return rt_error(RT_ERR_SHAPE,
                            "%s: float targets of width %lld, but model '%s' is a classifier (needs class labels)",
                            ds->source, (long long)ds->y_size, mname(m));
        for (int64_t i = 0; i < ds->n; i++)
            if (ds->label[i] < 0 || ds->label[i] >= m->num_outputs)
                return rt_error(RT_ERR_ARG, "%s: sample %lld has label %d, but model '%s' has %lld classes", ds->source,
                                (long long)i, (int)ds->label[i], mname(m), (long long)m->num_outputs);
        *n_out = m->num_outputs;
        return RT_OK;
    case RT_TASK_REGRESSION:
        if (!ds->y || ds->y_size != m->num_outputs)
            return rt_error(RT_ERR_SHAPE, "%s: %s, but model '%s' predicts %lld values per sample", ds->source,
                            ds->y ? "targets have a different width" : "targets are class labels", mname(m),
                            (long long)m->num_outputs);
        *n_out = m->num_outputs;
        return RT_OK;
    case RT_TASK_RECONSTRUCTION:
        *n_out = ds->x_size;
        return RT_OK;
    case RT_TASK_EMBEDDING: {
        rt_graph *g = rt_model_graph((rt_model *)m, 1, RT_PLAN_INFER); /* the embedding's width */
        const rt_node *o = g ? rt_graph_tap(g, "output") : NULL;
        *n_out = o ? rt_numel(o) : 0;
        rt_graph_free(g);
        if (!o) return rt_error(RT_ERR_SHAPE, "model '%s': no output to score (%s)", mname(m), rt_errmsg());
        return RT_OK;
    }
    default:
        return rt_error(RT_ERR_UNSUPPORTED,
                        "model '%s': task '%s' cannot be evaluated from (x, y) pairs yet (needs verification trials)",
                        mname(m), rt_eval_task_name(m->task));
    }
}

static void add_scalar(rt_eval_report *r, const char *name, double v, bool higher_is_better);

/* Embedding models: cosine scores of the trials (all pairs of ds's labelled
 * utterances when tr is NULL), EER and MinDCF (p_target 0.01 and 0.05, unit costs). */
static rt_status embedding_metrics(rt_eval_report *r, const rt_dataset *ds, const float *y, const rt_trials *tr)
{
    rt_trials all = {0};
    rt_status s = RT_OK;
    if (!tr) {
        if (!ds->label)
            return rt_error(RT_ERR_ARG, "%s: an embedding model is scored on verification trials: the data need "
                            "speaker labels (all pairs), or give a trial list", ds->source);
        if ((s = rt_trials_all_pairs(&all, ds->label, ds->n)) != RT_OK)
            return rt_error(s, "%s: %s", ds->source, rt_errmsg());
        tr = &all;
    }
    double eer = NAN;
    rt_dcf d1 = {0}, d5 = {0};
    rt_trials *t = (rt_trials *)tr;
    s = rt_trials_score(t, y, ds->n, r->n_out);
    if (s == RT_OK) s = rt_metric_eer(&eer, t->score, t->n, t->target, t->n);
    if (s == RT_OK) s = rt_metric_mindcf(&d1, t->score, t->n, t->target, t->n, &(rt_dcf_opts){0.01, 1, 1});
    if (s == RT_OK) s = rt_metric_mindcf(&d5, t->score, t->n, t->target, t->n, &(rt_dcf_opts){0.05, 1, 1});
    int64_t n_trials = t->n, n_target = 0;
    for (int64_t k = 0; k < t->n; k++) n_target += t->target[k];
    rt_trials_free(&all);
    if (s != RT_OK) return s;
    add_scalar(r, "eer", eer, false);
    add_scalar(r, "min_dcf", d1.min_dcf, false);
    add_scalar(r, "min_dcf_p05", d5.min_dcf, false);
    add_scalar(r, "trials", (double)n_trials, true);
    add_scalar(r, "target_trials", (double)n_target, true);
    r->primary = "eer";
    return RT_OK;
}

/* An eval-mode graph of `rows` rows whose input and output taps fit. */
static rt_status eval_graph(rt_graph **out, rt_model *m, const rt_dataset *ds, int64_t rows, int64_t n_out)
{
    rt_graph *g = *out = rt_model_graph(m, rows, RT_PLAN_INFER);
    if (!g) return RT_ERR_SHAPE; /* message set by rt_model_graph */
    rt_graph_set_training(g, false);
    const rt_node *in = rt_graph_tap(g, "input"), *o = rt_graph_tap(g, "output");
    if (!in || !o || rt_numel(in) != rows * ds->x_size || rt_numel(o) != rows * n_out) {
        rt_error(RT_ERR_SHAPE, "model '%s': output holds %lld values per sample, evaluation expects %lld", mname(m),
                 o ? (long long)(rt_numel(o) / rows) : 0LL, (long long)n_out);
        rt_graph_free(g);
        *out = NULL;
        return RT_ERR_SHAPE;
    }
    return RT_OK;
}

/* Forward every sample of ds: into y (N, n_out), or, when y is NULL
 * (reconstruction: the outputs are as large as the data), only each
 * sample's reconstruction MSE into recon (N). Full batches run on one
 * graph, the remainder on a second one, both built before the loop. */
static rt_status forward_all(rt_model *m, const rt_dataset *ds, int64_t batch, int64_t n_out, float *y, double *recon)
{
    int64_t full = ds->n < batch ? ds->n : batch, rest = ds->n % full;
    rt_graph *g = NULL, *gr = NULL;
    rt_status s = eval_graph(&g, m, ds, full, n_out);
    if (s == RT_OK && rest) s = eval_graph(&gr, m, ds, rest, n_out);
    for (int64_t i = 0; i < ds->n && s == RT_OK;) {
        int64_t b = ds->n - i >= full ? full : rest;
        rt_graph *cur = b == full ? g : gr;
        float *xin = rt_data(rt_graph_tap(cur, "input")), *yout = rt_data(rt_graph_tap(cur, "output"));
        memcpy(xin, ds->x + i * ds->x_size, (size_t)(b * ds->x_size) * sizeof(float));
        s = rt_graph_forward(cur);
        for (int64_t k = 0; s == RT_OK && k < b * n_out; k++)
            if (!isfinite(yout[k]))
                s = rt_error(RT_ERR_NONFINITE,
                             "%s: model '%s' gives a non-finite output for sample %lld (element %lld)",
                             ds->source, mname(m), (long long)(i + k / n_out), (long long)(k % n_out));
        double unused;
        if (s == RT_OK && y) memcpy(y + i * n_out, yout, (size_t)(b * n_out) * sizeof(float));
        else if (s == RT_OK)
            s = rt_metric_recon_mse(&unused, recon + i, RT_METRIC_MAT(yout, b, n_out),
                                    RT_METRIC_MAT(ds->x + i * ds->x_size, b, ds->x_size));
        i += b;
    }
    rt_graph_free(g);
    rt_graph_free(gr);
    return s;
}

static void add_scalar(rt_eval_report *r, const char *name, double v, bool higher_is_better)
{
    RT_ASSERT(r->n_scalars < RT_EVAL_MAX_SCALARS);
    rt_eval_scalar *e = &r->scalars[r->n_scalars++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->value = v;
    e->higher_is_better = higher_is_better;
}

/* Mean cross-entropy of logits (N, C) against labels, in double. */
static double mean_cross_entropy(const float *z, int64_t n, int64_t c, const int32_t *label)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = z + i * c;
        double mx = row[0], se = 0;
        for (int64_t j = 1; j < c; j++) mx = row[j] > mx ? row[j] : mx;
        for (int64_t j = 0; j < c; j++) se += exp((double)row[j] - mx);
        sum += mx + log(se) - (double)row[label[i]];
    }
    return sum / (double)n;
}

static rt_status classification_metrics(rt_eval_report *r, const rt_dataset *ds, const float *y)
{
    int64_t n = ds->n, c = r->n_out;
    int32_t *pred = malloc((size_t)n * sizeof *pred);
    r->confusion = calloc((size_t)(c * c), sizeof *r->confusion);
    if (!pred || !r->confusion) {
        free(pred);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld predictions", ds->source, (long long)n);
    }
    rt_metric_mat sc = RT_METRIC_MAT(y, n, c);
    double acc = NAN, top5 = NAN;
    rt_status s = rt_metric_argmax(pred, sc);
    if (s == RT_OK) s = rt_metric_accuracy(&acc, pred, n, ds->label, n);
    if (s == RT_OK && c > 5) s = rt_metric_topk_accuracy(&top5, sc, ds->label, n, 5);
    if (s == RT_OK) s = rt_metric_confusion(r->confusion, c, pred, n, ds->label, n);
    free(pred);
    if (s != RT_OK) return s;
    add_scalar(r, "accuracy", acc, true);
    if (c > 5) add_scalar(r, "top5_accuracy", top5, true);
    add_scalar(r, "loss", mean_cross_entropy(y, n, c, ds->label), false);
    r->primary = "accuracy";
    return RT_OK;
}

static rt_status regression_metrics(rt_eval_report *r, const rt_dataset *ds, const float *y)
{
    static const enum rt_metric_id ids[RT_EVAL_REG_COUNT] = {RT_METRIC_CCC, RT_METRIC_PEARSON, RT_METRIC_MSE,
                                                             RT_METRIC_MAE, RT_METRIC_R2};
    int64_t d = r->n_out;
    r->per_dim = malloc((size_t)(RT_EVAL_REG_COUNT * d) * sizeof *r->per_dim);
    if (!r->per_dim) return rt_error(RT_ERR_NOMEM, "%s: out of memory", ds->source);
    rt_metric_mat p = RT_METRIC_MAT(y, ds->n, d), t = RT_METRIC_MAT(ds->y, ds->n, d);
    for (int k = 0; k < RT_EVAL_REG_COUNT; k++) {
        double mean = NAN, *row = r->per_dim + k * d;
        rt_status s = rt_metric_regress(ids[k], row, &mean, p, t);
        if (s == RT_ERR_NONFINITE || s == RT_ERR_ARG) { /* undefined for this data (constant column, N < 2) */
            for (int64_t j = 0; j < d; j++) row[j] = NAN;
            mean = NAN;
            rt_error_clear();
        } else if (s != RT_OK) {
            return s;
        }
        const rt_metric_info *info = rt_metric_get(ids[k]);
        add_scalar(r, info->name, mean, info->higher_is_better);
    }
    add_scalar(r, "loss", rt_eval_report_get(r, "mse"), false);
    r->primary = "ccc";
    return RT_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* From the per-sample MSEs ps (N, sorted here); all rows have E elements,
 * so the mean over all elements is the mean of ps. */
static void reconstruction_metrics(rt_eval_report *r, double *ps)
{
    int64_t n = r->n;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += ps[i];
    qsort(ps, (size_t)n, sizeof *ps, cmp_double);
    double median = n % 2 ? ps[n / 2] : 0.5 * (ps[n / 2 - 1] + ps[n / 2]);
    add_scalar(r, "recon_mse", sum / (double)n, false);
    add_scalar(r, "recon_mse_min", ps[0], false);
    add_scalar(r, "recon_mse_median", median, false);
    add_scalar(r, "recon_mse_max", ps[n - 1], false);
    add_scalar(r, "loss", sum / (double)n, false);
    r->primary = "recon_mse";
}

rt_status rt_eval_model(rt_model *m, const rt_dataset *ds, int64_t batch, rt_eval_report *out)
{
    return rt_eval_model_trials(m, ds, batch, NULL, out);
}

rt_status rt_eval_model_trials(rt_model *m, const rt_dataset *ds, int64_t batch, const rt_trials *trials,
                               rt_eval_report *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->model, sizeof out->model, "%s", mname(m));
    snprintf(out->arch, sizeof out->arch, "%s", m->arch->name);
    snprintf(out->data, sizeof out->data, "%s", ds->source);
    out->task = m->task;
    out->n = ds->n;
    out->batch = batch;
    if (batch < 1)
        return rt_error(RT_ERR_ARG, "model '%s': batch size %lld, expected >= 1", mname(m), (long long)batch);
    if (ds->n < 1) return rt_error(RT_ERR_ARG, "%s: no samples to evaluate", ds->source);
    rt_status s = check_targets(m, ds, &out->n_out);
    if (s == RT_OK) s = rt_eval_check_input(m, ds);
    if (s != RT_OK) return s;
    double t0 = now_s();
    bool recon = m->task == RT_TASK_RECONSTRUCTION;
    float *y = recon ? NULL : malloc((size_t)(ds->n * out->n_out) * sizeof *y);
    double *ps = recon ? malloc((size_t)ds->n * sizeof *ps) : NULL;
    if (!y && !ps) return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld outputs", ds->source, (long long)ds->n);
    s = forward_all(m, ds, batch, out->n_out, y, ps);
    if (s == RT_OK) {
        if (m->task == RT_TASK_CLASSIFICATION) s = classification_metrics(out, ds, y);
        else if (m->task == RT_TASK_REGRESSION) s = regression_metrics(out, ds, y);
        else if (m->task == RT_TASK_EMBEDDING) s = embedding_metrics(out, ds, y, trials);
        else reconstruction_metrics(out, ps);
    }
    free(y);
    free(ps);
    out->seconds = now_s() - t0;
    if (s != RT_OK) rt_eval_report_free(out);
    return s;
}

void rt_eval_report_free(rt_eval_report *r)
{
    if (!r) return;
    free(r->confusion);
    free(r->per_dim);
    r->confusion = NULL;
    r->per_dim = NULL;
    r->n_scalars = 0;
}

double rt_eval_report_get(const rt_eval_report *r, const char *metric)
{
    if (!strcmp(metric, "topk_accuracy")) metric = "top5_accuracy";
    for (int i = 0; i < r->n_scalars; i++)
        if (!strcmp(r->scalars[i].name, metric)) return r->scalars[i].value;
    return NAN;
}

static const char *const reg_names[RT_EVAL_REG_COUNT] = {"ccc", "pearson", "mse", "mae", "r2"};

static void print_confusion(FILE *f, const rt_eval_report *r)
{
    int64_t c = r->n_out;
    if (c > 20) {
        fprintf(f, "\nconfusion matrix: %lld x %lld (see --json)\n", (long long)c, (long long)c);
        return;
    }
    fprintf(f, "\nconfusion matrix (rows: true class, columns: predicted)\n%6s", "");
    for (int64_t j = 0; j < c; j++) fprintf(f, " %6lld", (long long)j);
    fputc('\n', f);
    for (int64_t i = 0; i < c; i++) {
        fprintf(f, "%6lld", (long long)i);
        for (int64_t j = 0; j < c; j++) fprintf(f, " %6lld", (long long)r->confusion[i * c + j]);
        fputc('\n', f);
    }
}

static void print_per_dim(FILE *f, const rt_eval_report *r)
{
    int64_t d = r->n_out;
    fprintf(f, "\n%-6s", "dim");
    for (int k = 0; k < RT_EVAL_REG_COUNT; k++) fprintf(f, " %10s", reg_names[k]);
    fputc('\n', f);
    for (int64_t j = 0; j < d; j++) {
        fprintf(f, "%-6lld", (long long)j);
        for (int k = 0; k < RT_EVAL_REG_COUNT; k++) fprintf(f, " %10.4f", r->per_dim[k * d + j]);
        fputc('\n', f);
    }
    fprintf(f, "%-6s", "mean");
    for (int k = 0; k < RT_EVAL_REG_COUNT; k++) fprintf(f, " %10.4f", rt_eval_report_get(r, reg_names[k]));
    fputc('\n', f);
}

void rt_eval_report_print(FILE *f, const rt_eval_report *r)
{
    fprintf(f, "model    %s (%s, %s, %lld outputs)\n", r->model, r->arch, rt_eval_task_name(r->task),
            (long long)r->n_out);
    fprintf(f, "data     %s: %lld samples, batch %lld\n", r->data, (long long)r->n, (long long)r->batch);
    fprintf(f, "time     %.3g s, %.0f samples/s\n\n", r->seconds, r->seconds > 0 ? (double)r->n / r->seconds : 0.0);
    fprintf(f, "%-18s %12s\n", "metric", "value");
    for (int i = 0; i < r->n_scalars; i++)
        fprintf(f, "%-18s %12.6f  %s\n", r->scalars[i].name, r->scalars[i].value,
                r->scalars[i].higher_is_better ? "(higher is better)" : "(lower is better)");
    if (r->confusion) print_confusion(f, r);
    if (r->per_dim) print_per_dim(f, r);
}

/* A number, or null when it is not finite (JSON has no NaN). */
static cJSON *json_num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *json_per_dim(const rt_eval_report *r)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; o && k < RT_EVAL_REG_COUNT; k++) {
        cJSON *a = cJSON_AddArrayToObject(o, reg_names[k]);
        for (int64_t j = 0; a && j < r->n_out; j++) cJSON_AddItemToArray(a, json_num(r->per_dim[k * r->n_out + j]));
    }
    return o;
}

static cJSON *json_confusion(const rt_eval_report *r)
{
    cJSON *rows = cJSON_CreateArray();
    for (int64_t i = 0; rows && i < r->n_out; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int64_t j = 0; row && j < r->n_out; j++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)r->confusion[i * r->n_out + j]));
        cJSON_AddItemToArray(rows, row);
    }
    return rows;
}

cJSON *rt_eval_report_json(const rt_eval_report *r)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "model", r->model);
    cJSON_AddStringToObject(j, "arch", r->arch);
    cJSON_AddStringToObject(j, "data", r->data);
    cJSON_AddStringToObject(j, "task", rt_eval_task_name(r->task));
    cJSON_AddNumberToObject(j, "n", (double)r->n);
    cJSON_AddNumberToObject(j, "batch", (double)r->batch);
    cJSON_AddNumberToObject(j, "outputs", (double)r->n_out);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON_AddItemToObject(j, "samples_per_s", json_num(r->seconds > 0 ? (double)r->n / r->seconds : NAN));
    if (r->primary) cJSON_AddStringToObject(j, "primary", r->primary);
    cJSON *mt = cJSON_AddObjectToObject(j, "metrics");
    for (int i = 0; mt && i < r->n_scalars; i++)
        cJSON_AddItemToObject(mt, r->scalars[i].name, json_num(r->scalars[i].value));
    if (r->confusion) cJSON_AddItemToObject(j, "confusion", json_confusion(r));
    if (r->per_dim) cJSON_AddItemToObject(j, "per_dim", json_per_dim(r));
    return j;
}
