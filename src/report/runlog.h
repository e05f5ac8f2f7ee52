/*
 * runlog.h - reader of a run's log.jsonl (written by src/train/train.c and
 * the distillation monitor, docs/training.md and docs/distillation.md):
 * per-epoch training loss and validation metric, the monitor's per-term
 * loss and gradient shares, its warnings verbatim, and the final record.
 *
 *     rt_runlog l;
 *     if (rt_runlog_read(&l, "runs/fmnist-distill/log.jsonl") != RT_OK) ... rt_errmsg();
 *     for (int i = 0; i < l.n_epochs; i++) printf("%lld %g %g\n", l.epochs[i].epoch, l.epochs[i].train_loss,
 *                                                  l.epochs[i].val);
 *     rt_runlog_free(&l);
 *
 * Records (one JSON object a line, by "type"):
 *   "step"     counted only
 *   "epoch"    "epoch", "train_loss" required; "step", "seconds"; "val": an
 *              eval report ("primary" names the metric, "metrics" holds it,
 *              "data" the data set); "warnings": [strings]
 *   "monitor"  "step", "terms": [{"name", "loss_share", "grad_share"
 *              required; "raw", "weighted", "grad_norm"}]; "warnings"
 *   "done"     "steps", "seconds", and the best validation metric under
 *              its own name ("accuracy": 0.9123)
 *   others     counted in `unknown` and left out (newer writers may add types)
 * A number may be null (a NaN when written): it reads as NaN.
 *
 * Errors (RT_ERR_FORMAT, "<label>:<line>: ..."): a line that is not a JSON
 * object, a record without a string "type", a required field missing, a
 * field of the wrong type. One exception: the LAST line, when the file does
 * not end with a newline and the line is not JSON, is a record cut short
 * by a killed writer; it is left out and `truncated` is set. Blank lines
 * are skipped.
 */
#ifndef RT_REPORT_RUNLOG_H
#define RT_REPORT_RUNLOG_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_RUNLOG_MAX_BYTES (256u << 20)

typedef struct rt_log_term {
    char *name;
    double raw, weighted, loss_share, grad_norm, grad_share; /* NaN when absent */
} rt_log_term;

typedef struct rt_log_check {   /* one "monitor" record */
    int64_t step;
    rt_log_term *terms;
    int n_terms;
} rt_log_check;

typedef struct rt_log_epoch {
    int64_t epoch, step;        /* step: -1 when absent */
    double train_loss, seconds; /* seconds: NaN when absent */
    double val;                 /* the primary validation metric; NaN without one */
    char *metric;               /* its name, NULL without validation */
    char *data;                 /* the validation data spec, NULL when absent */
} rt_log_epoch;

typedef struct rt_log_warning {
    int64_t line;               /* 1-based line of log.jsonl */
    char *where;                /* "step 450" (monitor) or "epoch 2" */
    char *text;                 /* verbatim */
} rt_log_warning;

typedef struct rt_runlog {
    rt_log_epoch *epochs;
    int n_epochs;
    rt_log_check *checks;
    int n_checks;
    rt_log_warning *warnings;
    int n_warnings;
    int64_t n_steps;            /* "step" records */
    bool done;
    int64_t done_steps;
    double done_seconds;
    char *best_metric;          /* "done": the best validation metric's name, NULL if none */
    double best;
    int64_t lines, unknown;     /* non-blank lines read; records of unknown types */
    bool truncated;             /* a cut-short last line was left out */
} rt_runlog;

/* Parse len bytes (need not be NUL-terminated); label names it in errors. */
rt_status rt_runlog_parse(rt_runlog *l, const char *buf, size_t len, const char *label);
rt_status rt_runlog_read(rt_runlog *l, const char *path);
void rt_runlog_free(rt_runlog *l);

#endif
