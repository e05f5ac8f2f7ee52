/*
 * distill.h - knowledge distillation: a teacher (a model file run
 * forward-only in eval mode, or a cache of its taps), a student, and loss
 * terms between their taps, trained by the training loop of train.h (same
 * run directory, log, checkpoints, resume and progress).
 *
 *     rt_recipe r;  rt_recipe_load(&r, "recipes/fmnist-distill.json", NULL, 0);   // r.kd.on
 *     rt_distill_opts o = {.train = {.progress = isatty(2)}, .baseline = true};
 *     rt_distill_result res;
 *     if (rt_distill_run(&r, &o, &res) != RT_OK) fprintf(stderr, "retort: %s\n", rt_errmsg());
 *
 * The loss (recipe.h lists the fields):
 *
 *     total = w_task task + sum_k w_k term_k,   term_k = mean over its pairs of d(student tap, teacher tap)
 *
 * with w_task = 1 - alpha and w_response = alpha when a response term is
 * present (each may be set explicitly). Terms:
 *   response   classification: KL(p_t || p_s), p = softmax(logits / T), and
 *              the weighted value is w T^2 KL (Hinton et al. 2015: the
 *              gradient of the soft term scales as 1/T^2, T^2 undoes it so
 *              alpha means the same at any T; PyTorch users write
 *              F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T*T).
 *              Other tasks: MSE between the outputs (no T).
 *   feature    per pair d = MSE, or cosine distance 1 - cos over the last
 *              dim (tokens (B, T, C): per token; maps (B, C, H, W): per
 *              position over channels; vectors (B, D): per sample), mean
 *              over positions. Widths that differ get a learned projection
 *              of the student (a linear layer, or a 1x1 convolution for
 *              maps), named "aux.feature.<term>.<pair>" and trained with the
 *              student; auxiliary parameters are kept in checkpoints and
 *              left out of model files. Token counts / map sizes that differ
 *              are matched by resampling the teacher to the student's
 *              (linear along tokens, bilinear over maps; k_resample.c).
 *   attention  MSE between head-averaged attention maps (B, T, T); the
 *              teacher's map is resized to the student's T.
 *   embedding  as feature with cosine distance by default (pairs default to
 *              [["embedding", "embedding"]]).
 *   "normalize": true L2-normalises both sides first; MSE between unit
 *   vectors of width D equals (2 / D) (1 - cos): tiny, which is why the
 *   monitor warns about it.
 * Every term's value is logged raw (the distance) and weighted (what it adds
 * to the total).
 *
 * Monitor (every monitor_every steps): each term's raw and weighted value,
 * its share of the total |weighted| loss and its share of the gradient norm
 * at the student's own parameters (one backward pass per term: share_k =
 * ||grad_k|| / sum_j ||grad_j||), into log.jsonl ("type": "monitor") and on
 * the progress line. Warnings (stderr, and "warnings" in the log): a
 * distillation term whose gradient share stays below 1% for 3 checks in a
 * row (with its likely cause), and a term above 95% of the gradient while
 * the validation metric got worse.
 *
 * alpha "auto": alpha = 0.5 + 0.2 log10(teacher params / student params),
 * clamped to [0.5, 0.9] (1x -> 0.5, 10x -> 0.7, 100x -> 0.9): the smaller
 * the student relative to its teacher, the more it is told to follow the
 * soft targets. A heuristic, printed with its inputs when used.
 *
 * Teacher cache (rt_teacher_cache_write, `retort teacher-cache`): a
 * safetensors file with one F32 tensor per teacher tap, named by the tap,
 * shaped (N, ...) with row i the teacher's tap for training sample i in data
 * set order (after the recipe's subset), and metadata
 *   "kind": "teacher-cache", "format_version": "1", "rows": N,
 *   "data": the data spec, "data_hash": rt_kd_data_hash() as 16 hex digits,
 *   "teacher_params": the teacher's parameter count.
 * A run reads the rows of its batches from it instead of running the
 * teacher; a cache whose hash or row count differs from the run's training
 * data is refused. Inputs must then be used as stored: noise and mixup
 * augmentation are refused (the cached targets are for clean inputs).
 */
#ifndef RT_DISTILL_H
#define RT_DISTILL_H

#include "data/dataset.h"
#include "train/train.h"

typedef struct rt_distill_opts {
    rt_train_opts train;
    bool baseline;   /* also train the student with the task loss only, same budget, into <out>/baseline */
} rt_distill_opts;

typedef struct rt_distill_result {
    rt_train_result student;    /* the distilled student */
    rt_train_result baseline;   /* with opts.baseline */
    double teacher_metric;      /* the teacher on the validation data (NAN: no teacher model or no val data) */
    const char *metric;         /* "accuracy", "ccc", "eer", "recon_mse" (rt_eval_task_metric) */
    bool higher_better;         /* the metric's direction: gain and retention are oriented by it */
    double alpha;               /* the alpha used (NAN: no response term) */
    int64_t teacher_params, student_params;
    int warnings;               /* monitor warnings issued */
} rt_distill_result;

rt_status rt_distill_run(const rt_recipe *r, const rt_distill_opts *o, rt_distill_result *res);

/* Write the teacher's taps that r's terms read, over r's training data
 * (in data set order, after the subset), to a cache file at `out`. */
rt_status rt_teacher_cache_write(const rt_recipe *r, const char *out, bool quiet);

/* FNV-1a 64 over the data set's bytes in order: the row count (int64 LE),
 * x (F32 LE), then labels (int32 LE) or y (F32 LE). Two data sets with the
 * same values in the same order have the same hash. */
uint64_t rt_kd_data_hash(const rt_dataset *ds);

/* Build one term's raw value (a scalar node) on g from the student's and
 * the teacher's tap nodes of each pair (s[i], t[i], i < term->n_pairs);
 * projections are declared as parameters "aux.<kind>.<index>.<pair>".
 * classification selects KL (else MSE) for a response term. NULL on error
 * (rt_errmsg names the pair). */
rt_node *rt_kd_term_build(rt_graph *g, const rt_kd_term *term, int index, double temperature, bool classification,
                          rt_node *const *s, rt_node *const *t);

#endif
