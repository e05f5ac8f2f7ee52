/*
 * report_impl.h - shared by report.c (models, Pareto, inputs, output) and
 * report_sections.c (training curves, distillation, quantization, speed).
 * Not installed API.
 */
#ifndef RT_REPORT_IMPL_H
#define RT_REPORT_IMPL_H

#include "report/doc.h"
#include "report/report.h"

#include <cJSON.h>

typedef struct rp_ctx {
    const rt_rep_index *ix;
    rt_doc doc;
    cJSON *json;                /* report.json's root */
    rt_report_info *info;
    bool oom;                   /* a cJSON allocation failed */
} rp_ctx;

/* A path as shown: relative to the run directory given, when there is one. */
const char *rp_shown(const rt_rep_index *ix, const char *path);
/* Metric value as shown: percent (2 decimals) for accuracies and EER, else 4 significant digits; "-" for NaN. */
const char *rp_metric(char *buf, size_t n, const char *metric, double v);
/* Shares as percent, 3 significant digits. */
const char *rp_pct(char *buf, size_t n, double v);
/* "%.<dec>f", or "-" for NaN. */
const char *rp_num(char *buf, size_t n, double v, int dec);
/* "Sources: ..." from file indices (negative ones are left out). */
void rp_sources(rp_ctx *c, const int *files, int n);
/* A JSON number, or null for NaN/Inf. */
cJSON *rp_jnum(double v);
/* Add to an object/array, recording out-of-memory in c. */
void rp_add(rp_ctx *c, cJSON *parent, const char *key, cJSON *item);

void rp_training(rp_ctx *c);
void rp_distill(rp_ctx *c);
void rp_quant(rp_ctx *c);
void rp_speed(rp_ctx *c);

#endif
