/*
 * verify.c - verification metrics from trial scores: EER and MinDCF.
 *
 * Both read the ROC curve as sklearn's roc_curve builds it: trials sorted by
 * score, descending; one point per distinct score (accept when score >=
 * it, so tied trials move together), plus the reject-all point (0, 0) first.
 * Definitions in metrics.h. O(N log N) time, O(N) scratch memory.
 */
#include "metrics/metrics.h"
#include "metrics/metrics_impl.h"

#include <math.h>
#include <stdlib.h>

typedef struct trial {
    float s;
    int32_t y;
} trial;

/* Points 0..m: counts of accepted targets tp[k] and non-targets fp[k] at
 * threshold thr[k]; k = 0 is reject-all (thr just above the top score). */
typedef struct roc {
    int64_t m, n_tar, n_non;
    int64_t *tp, *fp;
    double *thr;
} roc;

static int cmp_desc(const void *a, const void *b)
{
    float x = ((const trial *)a)->s, y = ((const trial *)b)->s;
    return (x < y) - (x > y);
}

static void roc_free(roc *r)
{
    free(r->tp);
    free(r->fp);
    free(r->thr);
}

static rt_status roc_check(const char *w, const float *scores, int64_t n_scores, const int32_t *labels,
                           int64_t n_labels, int64_t *n_tar)
{
    rt_status s = rt_metric_check_len(w, "scores", n_scores, "labels", n_labels, 1);
    if (s == RT_OK) s = rt_metric_check_finite(w, "scores", scores, n_scores);
    if (s == RT_OK) s = rt_metric_check_range(w, "labels (1 target, 0 non-target)", labels, n_labels, 2);
    if (s != RT_OK) return s;
    *n_tar = 0;
    for (int64_t i = 0; i < n_labels; i++) *n_tar += labels[i];
    if (*n_tar == 0 || *n_tar == n_labels)
        return rt_error(RT_ERR_ARG, "%s: %lld trials, all %s: need target and non-target trials", w,
                        (long long)n_labels, *n_tar ? "targets" : "non-targets");
    return RT_OK;
}

static rt_status roc_build(const char *w, roc *r, const float *scores, int64_t n_scores, const int32_t *labels,
                           int64_t n_labels)
{
    *r = (roc){0};
    rt_status s = roc_check(w, scores, n_scores, labels, n_labels, &r->n_tar);
    if (s != RT_OK) return s;
    const int64_t n = n_scores;
    r->n_non = n - r->n_tar;
    trial *t = malloc((size_t)n * sizeof *t);
    r->tp = malloc((size_t)(n + 1) * sizeof *r->tp);
    r->fp = malloc((size_t)(n + 1) * sizeof *r->fp);
    r->thr = malloc((size_t)(n + 1) * sizeof *r->thr);
    if (!t || !r->tp || !r->fp || !r->thr) {
        free(t);
        roc_free(r);
        return rt_error(RT_ERR_NOMEM, "%s: no memory for %lld trials", w, (long long)n);
    }
    for (int64_t i = 0; i < n; i++) t[i] = (trial){scores[i], labels[i]};
    qsort(t, (size_t)n, sizeof *t, cmp_desc);
    int64_t m = 0, tp = 0, fp = 0;
    r->tp[0] = r->fp[0] = 0;
    r->thr[0] = nextafter((double)t[0].s, INFINITY);
    for (int64_t i = 0; i < n; i++) {
        tp += t[i].y;
        fp += 1 - t[i].y;
        if (i + 1 < n && t[i + 1].s == t[i].s) continue; /* ties: one point */
        m++;
        r->tp[m] = tp;
        r->fp[m] = fp;
        r->thr[m] = t[i].s;
    }
    r->m = m;
    free(t);
    return RT_OK;
}

rt_status rt_metric_eer(double *eer, const float *scores, int64_t n_scores, const int32_t *labels,
                        int64_t n_labels)
{
    roc r;
    rt_status s = roc_build("eer", &r, scores, n_scores, labels, n_labels);
    if (s != RT_OK) return s;
    double fpr_prev = 0, g_prev = -1; /* point 0: FPR 0, FNR 1 */
    double out = 1;
    for (int64_t k = 1; k <= r.m; k++) {
        double fpr = (double)r.fp[k] / (double)r.n_non;
        double fnr = 1.0 - (double)r.tp[k] / (double)r.n_tar;
        double g = fpr - fnr; /* non-decreasing, -1 at k = 0, +1 at k = m */
        if (g >= 0) {
            out = g == 0 ? fpr : fpr_prev + (-g_prev / (g - g_prev)) * (fpr - fpr_prev);
            break;
        }
        fpr_prev = fpr;
        g_prev = g;
    }
    roc_free(&r);
    *eer = out;
    return RT_OK;
}

rt_status rt_metric_mindcf(rt_dcf *out, const float *scores, int64_t n_scores, const int32_t *labels,
                           int64_t n_labels, const rt_dcf_opts *o)
{
    RT_ASSERT(o);
    if (!(o->p_target > 0 && o->p_target < 1) || !(o->c_miss > 0 && isfinite(o->c_miss)) ||
        !(o->c_fa > 0 && isfinite(o->c_fa)))
        return rt_error(RT_ERR_ARG, "mindcf: p_target %g, c_miss %g, c_fa %g: need 0 < p_target < 1 and costs > 0",
                        o->p_target, o->c_miss, o->c_fa);
    roc r;
    rt_status s = roc_build("mindcf", &r, scores, n_scores, labels, n_labels);
    if (s != RT_OK) return s;
    rt_dcf best = {INFINITY, 0, 0, 0};
    for (int64_t k = 0; k <= r.m; k++) {
        double p_miss = (double)(r.n_tar - r.tp[k]) / (double)r.n_tar;
        double p_fa = (double)r.fp[k] / (double)r.n_non;
        double c = o->c_miss * o->p_target * p_miss + o->c_fa * (1 - o->p_target) * p_fa;
        if (c < best.min_dcf) best = (rt_dcf){c, r.thr[k], p_miss, p_fa};
    }
    roc_free(&r);
    best.min_dcf /= fmin(o->c_miss * o->p_target, o->c_fa * (1 - o->p_target));
    *out = best;
    return RT_OK;
}
