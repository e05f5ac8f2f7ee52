/*
 * metrics.h - task metrics (classification, regression, verification,
 * reconstruction), student/teacher retention and a registry by name.
 * Each matches scikit-learn / SciPy to 1e-9 (tests/test_metrics.c).
 *
 *     // (N, D) predictions and targets, e.g. valence/arousal, N = 610, D = 2
 *     double per_dim[2], mean;
 *     rt_metric_mat p = RT_METRIC_MAT(pred, 610, 2), t = RT_METRIC_MAT(target, 610, 2);
 *     if (rt_metric_regress(RT_METRIC_CCC, per_dim, &mean, p, t) != RT_OK) ... rt_errmsg() ...
 *
 *     rt_dcf dcf;   // speaker verification: scores of N trials, labels 1 target / 0 not
 *     rt_metric_mindcf(&dcf, scores, n, labels, n, &(rt_dcf_opts){0.01, 1, 1});
 *
 *     const rt_metric_info *m = rt_metric_find("eer");   // name, direction, description
 *     double r;
 *     rt_metric_retention(&r, m->id, 0.021, 0.025);      // teacher/student = 0.84
 *
 * Inputs are float (what models produce); every sum is accumulated in
 * double, with two passes (means first) for variances and covariances, and
 * results are double. Inputs are read-only and never kept.
 *
 * Bad input is an error, never a crash or a silent NaN: length mismatches
 * (RT_ERR_SHAPE), N = 0 or a bad setting (RT_ERR_ARG), NaN/Inf in scores,
 * predictions or targets (RT_ERR_NONFINITE, naming the first index), labels
 * out of range, verification without target or without non-target trials
 * (RT_ERR_ARG), and a metric that is undefined for the data, e.g. Pearson r
 * with a constant column (RT_ERR_NONFINITE). The message names the metric.
 *
 * Definitions (N samples, D dimensions, per dimension, then the plain mean
 * over dimensions, sklearn's multioutput='uniform_average'):
 *   CCC   Lin's 2 s_pt / (s_p^2 + s_t^2 + (m_p - m_t)^2), population
 *         (1/N) moments; when the denominator is 0 (p == t, both constant)
 *         it is 1 (perfect agreement, like sklearn's R2 force_finite).
 *   Pearson r   s_pt / sqrt(s_p^2 s_t^2), as scipy.stats.pearsonr; a
 *         constant column (exactly equal values) is an error (SciPy: NaN).
 *   MSE, MAE   mean (p - t)^2 and mean |p - t|.
 *   R2    sklearn's r2_score: 1 - SS_res/SS_tot; for a constant target
 *         column 1.0 when predicted exactly, else 0.0 (force_finite=True).
 *   CCC, Pearson and R2 need N >= 2.
 *   EER   the ROC curve is the points (FPR, TPR) at every distinct score
 *         threshold (accept when score >= threshold, tied scores move
 *         together: a diagonal segment), plus (0, 0); as sklearn's roc_curve.
 *         EER is the FPR where FNR = 1 - TPR equals FPR, interpolating
 *         linearly along the segment where FPR - FNR changes sign (the same
 *         point as the classic brentq(1 - x - interp1d(fpr, tpr)(x)) form).
 *   MinDCF   min over those thresholds of c_miss p_miss p_target
 *         + c_fa p_fa (1 - p_target), divided by min(c_miss p_target,
 *         c_fa (1 - p_target)) (NIST normalised, as Kaldi/SpeechBrain but
 *         with tied scores grouped). Ties in cost go to the highest
 *         threshold. The threshold of the reject-all point is the next double
 *         above the highest score.
 *   Top-k accuracy   as sklearn's top_k_accuracy_score (multiclass path):
 *         the true class is a hit when fewer than k classes rank above it,
 *         where class j ranks above class y if s_j > s_y, or s_j == s_y and
 *         j > y (stable argsort, reversed). k >= C gives 1.0.
 *         rt_metric_argmax takes the FIRST maximum (numpy/PyTorch argmax),
 *         so accuracy(argmax) and top-1 differ only when the maximum is tied.
 */
#ifndef RT_METRICS_H
#define RT_METRICS_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>

enum rt_metric_id {
    RT_METRIC_ACCURACY = 0,
    RT_METRIC_TOPK_ACCURACY,
    RT_METRIC_CCC,
    RT_METRIC_PEARSON,
    RT_METRIC_MSE,
    RT_METRIC_MAE,
    RT_METRIC_R2,
    RT_METRIC_EER,
    RT_METRIC_MINDCF,
    RT_METRIC_RECON_MSE,
    RT_METRIC_COUNT
};

typedef struct rt_metric_info {
    enum rt_metric_id id;
    const char *name;      /* "ccc", "eer", ... (lower case, as in eval.json) */
    bool higher_is_better;
    const char *desc;      /* one line */
} rt_metric_info;

/* The entry named `name` (case-sensitive), or NULL. */
const rt_metric_info *rt_metric_find(const char *name);
/* The entry of id (0 <= id < RT_METRIC_COUNT). */
const rt_metric_info *rt_metric_get(enum rt_metric_id id);

/* A read-only (rows, cols) row-major float matrix; cols = 1 for a vector. */
typedef struct rt_metric_mat {
    const float *data;
    int64_t rows, cols;
} rt_metric_mat;
#define RT_METRIC_MAT(p, r, c) ((rt_metric_mat){(p), (r), (c)})

/* ---- classification (class indices are int32 in [0, C)) ---- */

/* Fraction of pred[i] == label[i]. */
rt_status rt_metric_accuracy(double *acc, const int32_t *pred, int64_t n_pred, const int32_t *label,
                             int64_t n_label);
/* pred[i] = index of the first maximum of row i of scores (N, C). */
rt_status rt_metric_argmax(int32_t *pred, rt_metric_mat scores);
/* Top-k accuracy from scores (N, C), k >= 1 (sklearn's tie rule, above). */
rt_status rt_metric_topk_accuracy(double *acc, rt_metric_mat scores, const int32_t *label, int64_t n_label,
                                  int64_t k);
/* cm (C, C), rows = true class, columns = predicted class; overwritten. */
rt_status rt_metric_confusion(int64_t *cm, int64_t n_classes, const int32_t *pred, int64_t n_pred,
                              const int32_t *label, int64_t n_label);

/* ---- regression: id one of CCC, PEARSON, MSE, MAE, R2 ----
 * pred and target both (N, D); per_dim gets D values (may be NULL), *mean
 * their mean (may be NULL). */
rt_status rt_metric_regress(enum rt_metric_id id, double *per_dim, double *mean, rt_metric_mat pred,
                            rt_metric_mat target);

/* ---- verification: scores of N trials, labels 1 (target) or 0 ---- */

rt_status rt_metric_eer(double *eer, const float *scores, int64_t n_scores, const int32_t *labels,
                        int64_t n_labels);

typedef struct rt_dcf_opts {
    double p_target; /* in (0, 1); 0.01 and 0.05 are usual */
    double c_miss;   /* > 0 */
    double c_fa;     /* > 0 */
} rt_dcf_opts;

typedef struct rt_dcf {
    double min_dcf;   /* normalised, in [0, 1] */
    double threshold; /* accept when score >= threshold */
    double p_miss, p_fa; /* at that threshold */
} rt_dcf;

rt_status rt_metric_mindcf(rt_dcf *out, const float *scores, int64_t n_scores, const int32_t *labels,
                           int64_t n_labels, const rt_dcf_opts *opts);

/* ---- reconstruction: x_hat and x both (N, E) ----
 * *mean = mean over all N*E elements (PyTorch's mse_loss), per_sample[i] =
 * mean over row i (N values, may be NULL). */
rt_status rt_metric_recon_mse(double *mean, double *per_sample, rt_metric_mat x_hat, rt_metric_mat x);

/* ---- retention of a student against a teacher ----
 * higher-is-better: student / teacher; lower-is-better: teacher / student;
 * 1.0 = the teacher's quality kept, > 1 = the student is better.
 * Errors (RT_ERR_ARG), because the ratio would mislead:
 *   - a non-finite value;
 *   - higher-is-better with teacher <= 0 (e.g. a CCC or R2 of -0.1: a worse
 *     student at -0.2 would show 200%); compare differences instead;
 *   - lower-is-better with a negative value (these are >= 0 by definition);
 *   - lower-is-better with student == 0 < teacher (unbounded).
 * Returned as is: a negative student against a positive teacher (negative
 * retention, the student is worse than chance/zero); lower-is-better with
 * teacher == student == 0 gives 1.0, teacher == 0 < student gives 0.0. */
rt_status rt_metric_retention(double *out, enum rt_metric_id id, double teacher, double student);

#endif
