/*
 * summary.h - exact accounting of a model: parameters per module, bytes at
 * each precision, multiply-accumulates, and memory at inference and in
 * training - all read from the graph that actually runs (retort summary,
 * retort compare). Conventions: docs/accounting.md.
 *
 *     rt_summary s;
 *     if (rt_summary_build(&s, model, 8) != RT_OK) ... rt_errmsg();
 *     rt_summary_print(stdout, &s, 2);          // torchinfo-style table
 *     cJSON *j = rt_summary_json(&s, 2);
 *     rt_summary_free(&s);
 *
 * Modules are the dot-separated prefixes of node scopes (the PyTorch module
 * paths, e.g. "blocks.3.attn"), in the order the graph first uses them.
 * A module's parameters are the tensors named "<module>.*" (or the module
 * itself, for a bare tensor such as "cls_token"); its MACs are those of the
 * nodes in its scope; its output is the last node of the scope that is
 * read outside it.
 */
#ifndef RT_SUMMARY_H
#define RT_SUMMARY_H

#include "models/model.h"

#include <stdio.h>

enum { RT_PREC_F32 = 0, RT_PREC_F16, RT_PREC_INT8, RT_PREC_INT4, RT_PREC_COUNT };

typedef struct rt_summary_row {
    char name[RT_LABEL_MAX];
    int depth;                       /* number of dot-separated parts; 0 for the total */
    int ndim;                        /* output shape (batch first); 0: no output of its own */
    int64_t shape[RT_MAX_DIMS];
    int64_t params, trainable, buffers;
    int64_t macs;                    /* per sample */
    size_t bytes[RT_PREC_COUNT];     /* its parameters and buffers at each precision */
} rt_summary_row;

typedef struct rt_summary {
    char name[128], arch[32];
    int64_t batch;
    rt_summary_row *rows;
    int n_rows;
    rt_summary_row total;            /* the whole model (shape: the output) */
    int64_t frozen;                  /* parameters excluded from training */
    int64_t unassigned;              /* parameters in no top-level module (0 unless a model is odd) */
    /* memory in bytes at `batch` */
    size_t param_bytes, buffer_bytes; /* F32 */
    size_t grad_bytes;               /* parameter gradients */
    size_t moment_bytes;             /* Adam/AdamW first and second moments */
    size_t infer_act_bytes;          /* inference plan arena (activations + workspace) */
    size_t train_act_bytes;          /* training plan arena (activations kept for backward + workspace) */
    size_t train_act_grad_bytes;     /* training plan: activation gradients */
} rt_summary;

rt_status rt_summary_build(rt_summary *s, rt_model *m, int64_t batch);
void rt_summary_free(rt_summary *s);
/* The row named `name`, or NULL. */
const rt_summary_row *rt_summary_find(const rt_summary *s, const char *name);
size_t rt_summary_infer_bytes(const rt_summary *s);
size_t rt_summary_train_bytes(const rt_summary *s);

/* Rows up to `depth` (1: top-level components). */
void rt_summary_print(FILE *f, const rt_summary *s, int depth);
cJSON *rt_summary_json(const rt_summary *s, int depth);

/* Two models side by side: totals, ratios and top-level components. */
void rt_compare_print(FILE *f, const rt_summary *a, const rt_summary *b);
cJSON *rt_compare_json(const rt_summary *a, const rt_summary *b);

#endif
