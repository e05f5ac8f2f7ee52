/*
 * report.h - `retort report`: one report over run directories, written as
 * report.md, report.html (self-contained: inline CSS and SVG, no scripts,
 * no external files) and report.json. Every number is copied from a file
 * the index read (runs.h) and each section names its files; the derived
 * figures are exact ratios of numbers shown next to them (compression from
 * byte counts, retention from two metrics on the same data), aggregates of
 * logged values (a monitor term's mean/min/max share) and the Pareto
 * frontier. docs/report.md describes every section.
 *
 *     const char *dirs[] = {"runs"};
 *     rt_report_info info;
 *     if (rt_report_write(dirs, 1, "runs", &info) != RT_OK) ... rt_errmsg();
 *     // runs/report.md, runs/report.html, runs/report.json
 *
 * Sections, each left out (and listed as such, with the reason) when its
 * inputs are absent: Models, Training curves, Distillation, Quantization,
 * Speed, Pareto frontier; then Inputs (every file read or skipped).
 *
 * Output is all or nothing: the three documents are built in memory, then
 * written to temporary files, and renamed only when all three are complete
 * (io/fileio.h). A failing report leaves no new file and no temporary file
 * behind; OUT_DIR is created (with its parents) only when there is
 * something to write.
 */
#ifndef RT_REPORT_REPORT_H
#define RT_REPORT_REPORT_H

#include "report/runs.h"

enum rt_report_section {
    RT_SEC_MODELS = 0, RT_SEC_TRAINING, RT_SEC_DISTILL, RT_SEC_QUANT, RT_SEC_SPEED, RT_SEC_PARETO, RT_SEC_COUNT
};

typedef struct rt_report_info {
    int n_models, n_runs, n_files, n_skipped;
    bool written[RT_SEC_COUNT];         /* the sections the report holds */
    char reason[RT_SEC_COUNT][96];      /* why a section was left out */
} rt_report_info;

typedef struct rt_report_text {
    char *md, *html, *json;             /* NUL-terminated, malloc'ed */
} rt_report_text;

const char *rt_report_section_name(enum rt_report_section s);

/* The three documents for an index (nothing is written). */
rt_status rt_report_render(const rt_rep_index *ix, rt_report_text *out, rt_report_info *info);
void rt_report_text_free(rt_report_text *t);

/* Write OUT_DIR/report.{md,html,json}, all or nothing (see above); OUT_DIR is created if missing. */
rt_status rt_report_save(const rt_report_text *t, const char *out_dir);
/* Index dirs, render, save. info may be NULL. */
rt_status rt_report_write(const char *const *dirs, int n_dirs, const char *out_dir, rt_report_info *info);

#endif
