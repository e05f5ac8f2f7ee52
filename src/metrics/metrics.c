/*
 * metrics.c - the metric registry, classification, regression,
 * reconstruction and retention (verification is in verify.c).
 *
 * Contract (metrics.h): float inputs, double accumulation, two-pass moments,
 * every bad input an rt_status with a message naming the metric; outputs are
 * written only on success.
 */
#include "metrics/metrics.h"
#include "metrics/metrics_impl.h"

#include <math.h>
#include <string.h>

static const rt_metric_info metric_table[] = {
    [RT_METRIC_ACCURACY] = {RT_METRIC_ACCURACY, "accuracy", true, "fraction of samples whose predicted class is the true class"},
    [RT_METRIC_TOPK_ACCURACY] = {RT_METRIC_TOPK_ACCURACY, "topk_accuracy", true,
                                 "fraction of samples whose true class is among the k highest scores (sklearn ties)"},
    [RT_METRIC_CCC] = {RT_METRIC_CCC, "ccc", true, "Lin's concordance correlation coefficient (population moments), mean over dimensions"},
    [RT_METRIC_PEARSON] = {RT_METRIC_PEARSON, "pearson", true, "Pearson correlation coefficient r, mean over dimensions"},
    [RT_METRIC_MSE] = {RT_METRIC_MSE, "mse", false, "mean squared error, mean over dimensions"},
    [RT_METRIC_MAE] = {RT_METRIC_MAE, "mae", false, "mean absolute error, mean over dimensions"},
    [RT_METRIC_R2] = {RT_METRIC_R2, "r2", true, "coefficient of determination (sklearn r2_score), mean over dimensions"},
    [RT_METRIC_EER] = {RT_METRIC_EER, "eer", false, "equal error rate: where miss and false-alarm rates cross on the ROC curve"},
    [RT_METRIC_MINDCF] = {RT_METRIC_MINDCF, "mindcf", false, "normalised minimum detection cost (NIST), given p_target, c_miss, c_fa"},
    [RT_METRIC_RECON_MSE] = {RT_METRIC_RECON_MSE, "recon_mse", false, "reconstruction mean squared error over all elements"},
};
_Static_assert(sizeof metric_table / sizeof metric_table[0] == RT_METRIC_COUNT, "metric_table out of sync");

const rt_metric_info *rt_metric_get(enum rt_metric_id id)
{
    RT_ASSERT((int)id >= 0 && id < RT_METRIC_COUNT && metric_table[id].name);
    return &metric_table[id];
}

const rt_metric_info *rt_metric_find(const char *name)
{
    for (int i = 0; name && i < RT_METRIC_COUNT; i++)
        if (strcmp(metric_table[i].name, name) == 0) return &metric_table[i];
    return NULL;
}

/* ---- checks shared with verify.c ---- */

rt_status rt_metric_check_len(const char *what, const char *a, int64_t n_a, const char *b, int64_t n_b,
                              int64_t min_n)
{
    if (n_a != n_b)
        return rt_error(RT_ERR_SHAPE, "%s: %s has %lld entries but %s has %lld", what, a, (long long)n_a, b,
                        (long long)n_b);
    if (n_a < min_n)
        return rt_error(RT_ERR_ARG, "%s: %lld samples, need at least %lld", what, (long long)n_a,
                        (long long)min_n);
    return RT_OK;
}

rt_status rt_metric_check_finite(const char *what, const char *arr, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return rt_error(RT_ERR_NONFINITE, "%s: %s[%lld] is %s", what, arr, (long long)i,
                            isnan(x[i]) ? "NaN" : "infinite");
    return RT_OK;
}

rt_status rt_metric_check_range(const char *what, const char *arr, const int32_t *v, int64_t n, int64_t hi)
{
    for (int64_t i = 0; i < n; i++)
        if (v[i] < 0 || v[i] >= hi)
            return rt_error(RT_ERR_ARG, "%s: %s[%lld] is %d, outside [0, %lld)", what, arr, (long long)i,
                            (int)v[i], (long long)hi);
    return RT_OK;
}

/* Same shape (rows, cols), rows >= min_rows, cols >= 1, all finite. */
static rt_status check_pair(const char *what, const char *na, rt_metric_mat a, const char *nb, rt_metric_mat b,
                            int64_t min_rows)
{
    if (a.cols != b.cols || a.cols < 1)
        return rt_error(RT_ERR_SHAPE, "%s: %s has %lld columns but %s has %lld (need equal, >= 1)", what, na,
                        (long long)a.cols, nb, (long long)b.cols);
    rt_status s = rt_metric_check_len(what, na, a.rows, nb, b.rows, min_rows);
    if (s != RT_OK) return s;
    RT_ASSERT(a.data && b.data);
    if ((s = rt_metric_check_finite(what, na, a.data, a.rows * a.cols)) != RT_OK) return s;
    return rt_metric_check_finite(what, nb, b.data, b.rows * b.cols);
}

/* ---- classification ---- */

rt_status rt_metric_accuracy(double *acc, const int32_t *pred, int64_t n_pred, const int32_t *label,
                             int64_t n_label)
{
    rt_status s = rt_metric_check_len("accuracy", "predictions", n_pred, "labels", n_label, 1);
    if (s != RT_OK) return s;
    int64_t hits = 0;
    for (int64_t i = 0; i < n_pred; i++) hits += pred[i] == label[i];
    *acc = (double)hits / (double)n_pred;
    return RT_OK;
}

rt_status rt_metric_argmax(int32_t *pred, rt_metric_mat scores)
{
    if (scores.rows < 1 || scores.cols < 1 || scores.cols > INT32_MAX)
        return rt_error(RT_ERR_ARG, "argmax: scores are (%lld, %lld), need N >= 1 and 1 <= C <= 2^31-1",
                        (long long)scores.rows, (long long)scores.cols);
    rt_status s = rt_metric_check_finite("argmax", "scores", scores.data, scores.rows * scores.cols);
    if (s != RT_OK) return s;
    for (int64_t i = 0; i < scores.rows; i++) {
        const float *r = scores.data + i * scores.cols;
        int64_t best = 0;
        for (int64_t j = 1; j < scores.cols; j++)
            if (r[j] > r[best]) best = j;
        pred[i] = (int32_t)best;
    }
    return RT_OK;
}

rt_status rt_metric_topk_accuracy(double *acc, rt_metric_mat scores, const int32_t *label, int64_t n_label,
                                  int64_t k)
{
    const char *w = "topk_accuracy";
    if (k < 1) return rt_error(RT_ERR_ARG, "%s: k is %lld, need k >= 1", w, (long long)k);
    if (scores.cols < 1) return rt_error(RT_ERR_SHAPE, "%s: scores have %lld classes", w, (long long)scores.cols);
    rt_status s = rt_metric_check_len(w, "scores", scores.rows, "labels", n_label, 1);
    if (s == RT_OK) s = rt_metric_check_finite(w, "scores", scores.data, scores.rows * scores.cols);
    if (s == RT_OK) s = rt_metric_check_range(w, "labels", label, n_label, scores.cols);
    if (s != RT_OK) return s;
    int64_t hits = 0;
    for (int64_t i = 0; i < scores.rows; i++) {
        const float *r = scores.data + i * scores.cols;
        int64_t y = label[i], above = 0;
        for (int64_t j = 0; j < scores.cols; j++) above += r[j] > r[y] || (r[j] == r[y] && j > y);
        hits += above < k;
    }
    *acc = (double)hits / (double)scores.rows;
    return RT_OK;
}

rt_status rt_metric_confusion(int64_t *cm, int64_t n_classes, const int32_t *pred, int64_t n_pred,
                              const int32_t *label, int64_t n_label)
{
    const char *w = "confusion";
    if (n_classes < 1 || n_classes > (int64_t)1 << 20)
        return rt_error(RT_ERR_ARG, "%s: %lld classes, need 1 .. 2^20", w, (long long)n_classes);
    rt_status s = rt_metric_check_len(w, "predictions", n_pred, "labels", n_label, 1);
    if (s == RT_OK) s = rt_metric_check_range(w, "predictions", pred, n_pred, n_classes);
    if (s == RT_OK) s = rt_metric_check_range(w, "labels", label, n_label, n_classes);
    if (s != RT_OK) return s;
    memset(cm, 0, (size_t)(n_classes * n_classes) * sizeof *cm);
    for (int64_t i = 0; i < n_pred; i++) cm[(int64_t)label[i] * n_classes + pred[i]]++;
    return RT_OK;
}

/* ---- regression ---- */

/* Two-pass moments of column j of p and t. */
typedef struct col_stats {
    double mp, mt, spp, stt, spt, sse, sae; /* means, centred sums, sum of squared / abs errors */
    bool p_const, t_const;                  /* all values exactly equal */
} col_stats;

static col_stats column_stats(rt_metric_mat p, rt_metric_mat t, int64_t j)
{
    col_stats c = {0};
    const int64_t n = p.rows, d = p.cols;
    const float p0 = p.data[j], t0 = t.data[j];
    c.p_const = c.t_const = true;
    for (int64_t i = 0; i < n; i++) {
        float a = p.data[i * d + j], b = t.data[i * d + j];
        c.mp += a;
        c.mt += b;
        c.p_const &= a == p0;
        c.t_const &= b == t0;
    }
    c.mp = c.p_const ? p0 : c.mp / (double)n;
    c.mt = c.t_const ? t0 : c.mt / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double a = p.data[i * d + j], b = t.data[i * d + j];
        double da = a - c.mp, db = b - c.mt, e = a - b;
        c.spp += da * da;
        c.stt += db * db;
        c.spt += da * db;
        c.sse += e * e;
        c.sae += fabs(e);
    }
    return c;
}

/* One metric of one column; RT_ERR_NONFINITE when undefined. */
static rt_status column_metric(enum rt_metric_id id, const col_stats *c, int64_t n, int64_t j, double *out)
{
    switch (id) {
    case RT_METRIC_MSE: *out = c->sse / (double)n; return RT_OK;
    case RT_METRIC_MAE: *out = c->sae / (double)n; return RT_OK;
    case RT_METRIC_CCC: {
        double dm = c->mp - c->mt, den = (c->spp + c->stt) / (double)n + dm * dm;
        *out = den == 0 ? 1.0 : 2.0 * (c->spt / (double)n) / den;
        return RT_OK;
    }
    case RT_METRIC_PEARSON:
        if (c->p_const || c->t_const)
            return rt_error(RT_ERR_NONFINITE, "pearson: dimension %lld: the %s are constant (correlation undefined)",
                            (long long)j, c->p_const ? "predictions" : "targets");
        *out = fmax(-1.0, fmin(1.0, c->spt / (sqrt(c->spp) * sqrt(c->stt))));
        return RT_OK;
    case RT_METRIC_R2:
        if (c->t_const) *out = c->sse == 0 ? 1.0 : 0.0;
        else *out = 1.0 - c->sse / c->stt;
        return RT_OK;
    default: RT_ASSERT(!"not a regression metric"); return RT_ERR_ARG;
    }
}

rt_status rt_metric_regress(enum rt_metric_id id, double *per_dim, double *mean, rt_metric_mat pred,
                            rt_metric_mat target)
{
    if ((int)id < 0 || id >= RT_METRIC_COUNT) return rt_error(RT_ERR_ARG, "regress: metric id %d unknown", (int)id);
    const char *w = metric_table[id].name;
    bool corr = id == RT_METRIC_CCC || id == RT_METRIC_PEARSON || id == RT_METRIC_R2;
    if (!corr && id != RT_METRIC_MSE && id != RT_METRIC_MAE)
        return rt_error(RT_ERR_ARG, "regress: '%s' is not a regression metric", w);
    rt_status s = check_pair(w, "predictions", pred, "targets", target, corr ? 2 : 1);
    if (s != RT_OK) return s;
    double sum = 0;
    for (int64_t j = 0; j < pred.cols; j++) {
        col_stats c = column_stats(pred, target, j);
        double v = 0;
        if ((s = column_metric(id, &c, pred.rows, j, &v)) != RT_OK) return s;
        if (per_dim) per_dim[j] = v;
        sum += v;
    }
    if (mean) *mean = sum / (double)pred.cols;
    return RT_OK;
}

/* ---- reconstruction ---- */

rt_status rt_metric_recon_mse(double *mean, double *per_sample, rt_metric_mat x_hat, rt_metric_mat x)
{
    rt_status s = check_pair("recon_mse", "reconstruction", x_hat, "input", x, 1);
    if (s != RT_OK) return s;
    double total = 0;
    for (int64_t i = 0; i < x.rows; i++) {
        const float *a = x_hat.data + i * x.cols, *b = x.data + i * x.cols;
        double row = 0;
        for (int64_t j = 0; j < x.cols; j++) {
            double e = (double)a[j] - (double)b[j];
            row += e * e;
        }
        if (per_sample) per_sample[i] = row / (double)x.cols;
        total += row;
    }
    if (mean) *mean = total / ((double)x.rows * (double)x.cols);
    return RT_OK;
}

/* ---- retention ---- */

rt_status rt_metric_retention(double *out, enum rt_metric_id id, double teacher, double student)
{
    if ((int)id < 0 || id >= RT_METRIC_COUNT) return rt_error(RT_ERR_ARG, "retention: metric id %d unknown", (int)id);
    const rt_metric_info *m = &metric_table[id];
    if (!isfinite(teacher) || !isfinite(student))
        return rt_error(RT_ERR_ARG, "retention: %s: teacher %g, student %g: not finite", m->name, teacher, student);
    if (m->higher_is_better) {
        if (teacher <= 0)
            return rt_error(RT_ERR_ARG,
                            "retention: %s: teacher's value %g is <= 0, a ratio would mislead (compare differences)",
                            m->name, teacher);
        *out = student / teacher;
        return RT_OK;
    }
    if (teacher < 0 || student < 0)
        return rt_error(RT_ERR_ARG, "retention: %s is lower-is-better and >= 0, got teacher %g, student %g", m->name,
                        teacher, student);
    if (student == 0) {
        if (teacher > 0)
            return rt_error(RT_ERR_ARG, "retention: %s: student's value is 0 and teacher's %g (ratio unbounded)",
                            m->name, teacher);
        *out = 1.0;
        return RT_OK;
    }
    *out = teacher / student;
    return RT_OK;
}
