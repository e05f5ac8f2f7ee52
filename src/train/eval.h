/*
 * eval.h - evaluate a model over every sample of a dataset and compute the
 * metrics of its task (src/metrics) in one report: a table, JSON, or values
 * by name for the training loop's validation.
 *
 *     rt_model *m;  rt_model_load(&m, "runs/fmnist-student/model.safetensors");
 *     rt_dataset ds;  rt_dataset_open(&ds, "fmnist:test");
 *     rt_eval_report r;
 *     if (rt_eval_model(m, &ds, 256, &r) != RT_OK) fprintf(stderr, "retort: %s\n", rt_errmsg());
 *     double acc = rt_eval_report_get(&r, "accuracy");    // 0.85
 *     rt_eval_report_print(stdout, &r);                    // or rt_eval_report_json(&r)
 *     rt_eval_report_free(&r);
 *
 * The model runs in eval mode (dropout off, batch norm on its running
 * statistics; a VAE uses z = mu) on graphs built once per call: one of
 * `batch` rows and, when N is not a multiple of it, one of N % batch rows
 * for the last batch, so every sample is seen exactly once and the result
 * does not depend on padding. Nothing is allocated inside the batch loop.
 * Samples go in as the dataset holds them (normalise ds->x beforehand if the
 * model was trained on normalised inputs).
 *
 * Checks, before any forward pass (errors name the data and the model):
 *   - per-sample x shape equal to the model's input shape; shapes equal
 *     after dropping size-1 dimensions are accepted (fmnist's (28, 28)
 *     samples feed a model of input [1, 28, 28]);
 *   - classification: class labels, each < num_outputs;
 *   - regression: float targets of width num_outputs;
 *   - reconstruction: the target is x itself (labels or y are ignored);
 *   - embedding: speaker labels (scored on all pairs) or a trial list;
 *   - every model output finite (else an error naming the first sample).
 *
 * Metrics by task (names as in the metric registry, metrics.h):
 *   classification  "accuracy", "top5_accuracy" (C > 5; "topk_accuracy" is
 *                   an alias), "loss" = mean cross-entropy of the logits
 *                   (natural log), and the (C, C) confusion matrix;
 *   regression      "ccc", "pearson", "mse", "mae", "r2": the mean over the
 *                   D output dimensions (per dimension in per_dim), "loss" =
 *                   "mse" (PyTorch's MSELoss over all elements);
 *   reconstruction  "recon_mse" (over all elements; "loss" too) and the
 *                   per-sample MSE's "recon_mse_min", "_median", "_max";
 *   embedding       verification (train/trials.h): cosine scores of every
 *                   pair of utterances (target when the labels agree) or of
 *                   a trial list; "eer", "min_dcf" (p_target 0.01, unit
 *                   costs), "min_dcf_p05" (p_target 0.05), "trials",
 *                   "target_trials".
 * A metric that is undefined for the data (Pearson r of a constant column,
 * CCC/R2/Pearson with N < 2) is NaN in the report (null in JSON), not an
 * error. "primary" names the metric a user would rank models by.
 */
#ifndef RT_EVAL_H
#define RT_EVAL_H

#include "data/dataset.h"
#include "models/model.h"

#include <cJSON.h>
#include <stdio.h>

#define RT_EVAL_MAX_SCALARS 12
#define RT_EVAL_NAME_MAX 24

/* Rows of rt_eval_report.per_dim (regression). */
enum rt_eval_reg { RT_EVAL_CCC = 0, RT_EVAL_PEARSON, RT_EVAL_MSE, RT_EVAL_MAE, RT_EVAL_R2, RT_EVAL_REG_COUNT };

typedef struct rt_eval_scalar {
    char name[RT_EVAL_NAME_MAX];
    double value;            /* NaN when undefined for the data */
    bool higher_is_better;
} rt_eval_scalar;

typedef struct rt_eval_report {
    char model[128];         /* the model's name (or its architecture) */
    char arch[32];
    char data[256];          /* the dataset's source spec */
    enum rt_task task;
    int64_t n;               /* samples evaluated */
    int64_t batch;
    int64_t n_out;           /* classes (C), output dims (D) or elements per sample (E) */
    double seconds;          /* wall time: forward passes and metrics */
    const char *primary;     /* "accuracy", "ccc", "recon_mse" or "eer" */
    int n_scalars;
    rt_eval_scalar scalars[RT_EVAL_MAX_SCALARS];
    int64_t *confusion;      /* classification: (C, C), rows true, columns predicted; else NULL */
    double *per_dim;         /* regression: (RT_EVAL_REG_COUNT, D), row r = metric r; else NULL */
} rt_eval_report;

/* Run m over every sample of ds (see above) and fill *out (zeroed first;
 * free it with rt_eval_report_free; after an error it holds no memory,
 * freeing it is harmless). batch >= 1. */
rt_status rt_eval_model(rt_model *m, const rt_dataset *ds, int64_t batch, rt_eval_report *out);
/* The same; an embedding model is scored on the given trials (NULL: all pairs). */
struct rt_trials;
rt_status rt_eval_model_trials(rt_model *m, const rt_dataset *ds, int64_t batch, const struct rt_trials *trials,
                               rt_eval_report *out);
void rt_eval_report_free(rt_eval_report *r);
/* The dataset's samples fit the model's input (equal once size-1 dims are
 * dropped: (28, 28) samples feed a [1, 28, 28] model); else an error naming both. */
rt_status rt_eval_check_input(const rt_model *m, const rt_dataset *ds);
/* The metric a task is judged by (validation, best model, distillation):
 * "accuracy", "ccc", "eer" (embedding) or "recon_mse". */
const char *rt_eval_task_metric(enum rt_task task);
/* The value of a metric by name ("accuracy", "ccc" = mean over dims,
 * "loss"), NAN if the report has none. */
double rt_eval_report_get(const rt_eval_report *r, const char *metric);
/* A human table: header lines, metrics, per-dimension table or confusion matrix. */
void rt_eval_report_print(FILE *f, const rt_eval_report *r);
/* {"model", "arch", "data", "task", "n", "batch", "seconds", "samples_per_s",
 *  "primary", "metrics": {name: value|null}, "confusion": [[...]] |
 *  "per_dim": {"ccc": [...], ...}}; NULL when out of memory. */
cJSON *rt_eval_report_json(const rt_eval_report *r);
/* "classification", "regression", "embedding", "reconstruction". */
const char *rt_eval_task_name(enum rt_task t);

#endif
