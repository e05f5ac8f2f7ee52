/*
 * report_sections.c - the Training curves, Distillation, Quantization and
 * Speed sections of `retort report` (see report.h). Each copies numbers
 * from the files the index read and names them; a section whose inputs are
 * absent is left out with its reason.
 */
#include "report/report_impl.h"

#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *x = get(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static const char *jstr(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *x = get(o, k);
    return cJSON_IsString(x) ? x->valuestring : dflt;
}

static void leave_out(rp_ctx *c, enum rt_report_section s, const char *why)
{
    c->info->written[s] = false;
    snprintf(c->info->reason[s], sizeof c->info->reason[s], "%s", why);
}

static void plot(rp_ctx *c, const rt_svg_plot *p)
{
    rt_sb svg = {0};
    rt_svg_render(&svg, p);
    if (svg.oom) c->oom = true;
    else rt_doc_svg(&c->doc, p->title, svg.s);
    rt_sb_free(&svg);
}

/* "7.27x", or "-" */
static const char *times(char *buf, size_t n, double v)
{
    if (isfinite(v)) snprintf(buf, n, "%.2fx", v);
    else snprintf(buf, n, "-");
    return buf;
}

/* 3 significant digits, or "-" */
static const char *sig3(char *buf, size_t n, double v)
{
    if (isfinite(v)) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, "-");
    return buf;
}

/* An exact count with separators, or "-" */
static const char *count_of(char *buf, size_t n, double v)
{
    if (isfinite(v) && v >= 0 && v < 9e15) rt_fmt_int(buf, n, (long long)v);
    else snprintf(buf, n, "-");
    return buf;
}

static bool pct_metric(const char *m)
{
    return m && (!strcmp(m, "accuracy") || !strcmp(m, "top5_accuracy") || !strcmp(m, "eer"));
}

/* "### name (dir)", or "### name" when the directory has that name */
static void run_heading(rp_ctx *c, const rt_rep_run *run)
{
    const char *d = rp_shown(c->ix, run->dir);
    if (!strcmp(d, run->name)) rt_doc_h3(&c->doc, "%s", run->name);
    else rt_doc_h3(&c->doc, "%s (%s)", run->name, d);
}

/* ---- Training curves ---- */

static void training_run(rp_ctx *c, int r, cJSON *arr)
{
    const rt_rep_run *run = &c->ix->runs[r];
    const rt_runlog *l = &run->log_data;
    const char *metric = NULL;
    for (int e = 0; e < l->n_epochs && !metric; e++) metric = l->epochs[e].metric;
    run_heading(c, run);
    rp_sources(c, &run->log, 1);
    double *x = malloc((size_t)l->n_epochs * sizeof *x), *yl = malloc((size_t)l->n_epochs * sizeof *yl);
    double *yv = malloc((size_t)l->n_epochs * sizeof *yv);
    cJSON *o = cJSON_CreateObject(), *ep = cJSON_CreateArray();
    rp_add(c, arr, NULL, o);
    rp_add(c, o, "epochs", ep);
    if (!x || !yl || !yv || !o || !ep) {
        c->oom = true;
        goto out;
    }
    rp_add(c, o, "run", cJSON_CreateString(run->name));
    rp_add(c, o, "dir", cJSON_CreateString(run->dir));
    rp_add(c, o, "source", cJSON_CreateString(c->ix->files[run->log].path));
    rp_add(c, o, "truncated_last_line", cJSON_CreateBool(l->truncated));
    for (int e = 0; e < l->n_epochs; e++) {
        x[e] = (double)l->epochs[e].epoch;
        yl[e] = l->epochs[e].train_loss;
        yv[e] = l->epochs[e].val;
    }
    int style = l->n_epochs > 60 ? RT_SVG_LINE : RT_SVG_LINE | RT_SVG_POINTS;
    rt_svg_series sl = {.name = "train loss (epoch mean)", .x = x, .y = yl, .n = l->n_epochs, .style = style};
    rt_svg_plot pl = {.title = "training loss", .xlabel = "epoch", .ylabel = "loss", .xint = true, .width = 440,
                      .height = 260, .series = &sl, .n_series = 1};
    plot(c, &pl);
    if (metric) {
        char name[64];
        snprintf(name, sizeof name, "validation %s", metric);
        rt_svg_series sv = {.name = name, .x = x, .y = yv, .n = l->n_epochs, .style = style};
        rt_svg_plot pv = {.title = name, .xlabel = "epoch", .ylabel = metric, .ypct = pct_metric(metric),
                          .xint = true, .width = 440, .height = 260, .series = &sv, .n_series = 1};
        plot(c, &pv);
    }
    char vh[64];
    snprintf(vh, sizeof vh, "val %s", metric ? metric : "metric");
    rt_doc_table(&c->doc, "rrrrl", "epoch", "step", "train loss", vh, "val data", NULL);
    for (int e = 0; e < l->n_epochs; e++) {
        const rt_log_epoch *le = &l->epochs[e];
        char a[32], b[32], d[40], v[40];
        snprintf(a, sizeof a, "%lld", (long long)le->epoch);
        if (le->step >= 0) snprintf(b, sizeof b, "%lld", (long long)le->step);
        else snprintf(b, sizeof b, "-");
        snprintf(d, sizeof d, "%.4f", le->train_loss);
        rt_doc_row(&c->doc, a, b, isfinite(le->train_loss) ? d : "-", rp_metric(v, sizeof v, le->metric, le->val),
                   le->data ? le->data : "-");
        cJSON *je = cJSON_CreateObject();
        rp_add(c, ep, NULL, je);
        if (!je) continue;
        rp_add(c, je, "epoch", cJSON_CreateNumber((double)le->epoch));
        rp_add(c, je, "step", le->step >= 0 ? cJSON_CreateNumber((double)le->step) : cJSON_CreateNull());
        rp_add(c, je, "train_loss", rp_jnum(le->train_loss));
        rp_add(c, je, "metric", le->metric ? cJSON_CreateString(le->metric) : cJSON_CreateNull());
        rp_add(c, je, "val", rp_jnum(le->val));
        rp_add(c, je, "data", le->data ? cJSON_CreateString(le->data) : cJSON_CreateNull());
    }
    if (l->done) {
        char st[32], sec[32], v[40];
        if (l->done_steps >= 0) snprintf(st, sizeof st, "%lld", (long long)l->done_steps);
        else snprintf(st, sizeof st, "-");
        rt_doc_p(&c->doc, "Finished (\"done\" record): %s steps in %s s.", st, rp_num(sec, sizeof sec, l->done_seconds, 1));
        if (l->best_metric)
            rt_doc_p(&c->doc, "Best validation %s (best.safetensors): %s.", l->best_metric,
                     rp_metric(v, sizeof v, l->best_metric, l->best));
    } else {
        rt_doc_p(&c->doc, "No \"done\" record: the run has not finished (or was stopped).");
    }
    if (l->truncated) rt_doc_p(&c->doc, "The last line of log.jsonl was cut short (a killed writer) and is left out.");
out:
    free(x);
    free(yl);
    free(yv);
}

void rp_training(rp_ctx *c)
{
    int n = 0;
    for (int r = 0; r < c->ix->n_runs; r++) n += c->ix->runs[r].log >= 0 && c->ix->runs[r].log_data.n_epochs > 0;
    if (n == 0) {
        leave_out(c, RT_SEC_TRAINING, "no log.jsonl with epoch records");
        return;
    }
    rt_doc_h2(&c->doc, "Training curves");
    rt_doc_p(&c->doc, "Per run, from the \"epoch\" records of log.jsonl: the mean training loss of each epoch and the "
                      "validation metric at its end (4 decimals for losses; accuracies in percent, 2 decimals).");
    cJSON *arr = cJSON_CreateArray();
    rp_add(c, c->json, "training", arr);
    for (int r = 0; r < c->ix->n_runs; r++)
        if (c->ix->runs[r].log >= 0 && c->ix->runs[r].log_data.n_epochs > 0) training_run(c, r, arr);
}

/* ---- Distillation ---- */

typedef struct term_stats {
    const char *name;
    int n;
    double sum[2], min[2], max[2], last[2]; /* [0] loss share, [1] grad share */
    double *x, *y[2];                       /* per check where the term appears */
} term_stats;

static int collect_terms(const rt_runlog *l, term_stats *ts, int cap)
{
    int nt = 0;
    for (int k = 0; k < l->n_checks; k++)
        for (int t = 0; t < l->checks[k].n_terms; t++) {
            const rt_log_term *lt = &l->checks[k].terms[t];
            int i = 0;
            while (i < nt && strcmp(ts[i].name, lt->name)) i++;
            if (i == nt) {
                if (nt == cap) continue;
                ts[nt++] = (term_stats){.name = lt->name, .min = {INFINITY, INFINITY}, .max = {-INFINITY, -INFINITY}};
            }
            double v[2] = {lt->loss_share, lt->grad_share};
            for (int s = 0; s < 2; s++) {
                ts[i].sum[s] += v[s];
                ts[i].min[s] = fmin(ts[i].min[s], v[s]);
                ts[i].max[s] = fmax(ts[i].max[s], v[s]);
                ts[i].last[s] = v[s];
            }
            ts[i].n++;
        }
    return nt;
}

static bool term_series(const rt_runlog *l, term_stats *ts)
{
    ts->x = malloc((size_t)(ts->n ? ts->n : 1) * sizeof *ts->x);
    ts->y[0] = malloc((size_t)(ts->n ? ts->n : 1) * sizeof *ts->y[0]);
    ts->y[1] = malloc((size_t)(ts->n ? ts->n : 1) * sizeof *ts->y[1]);
    if (!ts->x || !ts->y[0] || !ts->y[1]) return false;
    int j = 0;
    for (int k = 0; k < l->n_checks; k++)
        for (int t = 0; t < l->checks[k].n_terms && j < ts->n; t++)
            if (!strcmp(l->checks[k].terms[t].name, ts->name)) {
                ts->x[j] = (double)l->checks[k].step;
                ts->y[0][j] = l->checks[k].terms[t].loss_share;
                ts->y[1][j++] = l->checks[k].terms[t].grad_share;
            }
    return true;
}

static void monitor_json(rp_ctx *c, cJSON *o, const term_stats *ts, int nt)
{
    cJSON *arr = cJSON_CreateArray();
    rp_add(c, o, "terms", arr);
    static const char *sn[2] = {"loss_share", "grad_share"};
    for (int i = 0; arr && i < nt; i++) {
        cJSON *t = cJSON_CreateObject();
        rp_add(c, arr, NULL, t);
        if (!t) return;
        rp_add(c, t, "name", cJSON_CreateString(ts[i].name));
        rp_add(c, t, "checks", cJSON_CreateNumber(ts[i].n));
        for (int s = 0; s < 2; s++) {
            cJSON *v = cJSON_CreateObject();
            rp_add(c, t, sn[s], v);
            if (!v) return;
            rp_add(c, v, "mean", rp_jnum(ts[i].sum[s] / ts[i].n));
            rp_add(c, v, "min", rp_jnum(ts[i].min[s]));
            rp_add(c, v, "max", rp_jnum(ts[i].max[s]));
            rp_add(c, v, "last", rp_jnum(ts[i].last[s]));
        }
    }
}

#define MAX_TERMS 16

static void monitor_part(rp_ctx *c, const rt_runlog *l, cJSON *o)
{
    term_stats ts[MAX_TERMS];
    int nt = collect_terms(l, ts, MAX_TERMS);
    rt_doc_p(&c->doc, "Monitor (%d checks in log.jsonl): each term's share of the loss (|weighted| over the sum) and "
                      "of the gradient norm at the student's parameters; mean, min, max over the checks and the last "
                      "check, in percent (3 significant digits).", l->n_checks);
    rt_doc_table(&c->doc, "lrrrrrrrrr", "term", "checks", "loss mean", "loss min", "loss max", "loss last",
                 "grad mean", "grad min", "grad max", "grad last", NULL);
    for (int i = 0; i < nt; i++) {
        char n[16], v[8][32];
        snprintf(n, sizeof n, "%d", ts[i].n);
        rt_doc_row(&c->doc, ts[i].name, n, rp_pct(v[0], 32, ts[i].sum[0] / ts[i].n), rp_pct(v[1], 32, ts[i].min[0]),
                   rp_pct(v[2], 32, ts[i].max[0]), rp_pct(v[3], 32, ts[i].last[0]),
                   rp_pct(v[4], 32, ts[i].sum[1] / ts[i].n), rp_pct(v[5], 32, ts[i].min[1]),
                   rp_pct(v[6], 32, ts[i].max[1]), rp_pct(v[7], 32, ts[i].last[1]));
    }
    monitor_json(c, o, ts, nt);
    bool ok = true;
    for (int i = 0; i < nt; i++) ok &= term_series(l, &ts[i]);
    if (ok) {
        static const char *title[2] = {"share of the loss per term", "share of the gradient per term"};
        for (int s = 1; s >= 0; s--) {
            rt_svg_series ser[MAX_TERMS];
            for (int i = 0; i < nt; i++)
                ser[i] = (rt_svg_series){.name = ts[i].name, .x = ts[i].x, .y = ts[i].y[s], .n = ts[i].n,
                                         .style = ts[i].n > 60 ? RT_SVG_LINE : RT_SVG_LINE | RT_SVG_POINTS};
            rt_svg_plot p = {.title = title[s], .xlabel = "step", .ylabel = s ? "grad share" : "loss share",
                             .ypct = true, .width = 440, .height = 260, .series = ser, .n_series = nt};
            plot(c, &p);
        }
    } else {
        c->oom = true;
    }
    for (int i = 0; i < nt; i++) {
        free(ts[i].x);
        free(ts[i].y[0]);
        free(ts[i].y[1]);
    }
}

static void summary_part(rp_ctx *c, const cJSON *dj)
{
    const char *metric = jstr(dj, "metric", "metric");
    char p[40], v[40];
    rt_doc_p(&c->doc, "From distill.json: the student's and the scratch baseline's metric at the last epoch, the "
                      "teacher's on the same validation data.");
    rt_doc_table(&c->doc, "lrr", "model", "params", metric, NULL);
    static const char *who[3] = {"teacher", "student", "baseline"};
    static const char *label[3] = {"teacher", "student, distilled", "student, from scratch (baseline)"};
    for (int i = 0; i < 3; i++) {
        const cJSON *o = get(dj, who[i]);
        if (!cJSON_IsObject(o)) continue;
        rt_doc_row(&c->doc, label[i], count_of(p, sizeof p, jnum(o, "params")),
                   rp_metric(v, sizeof v, metric, jnum(o, metric)));
    }
    char g[40], r[40], pr[40], a[40], w[40];
    double gain = jnum(dj, "gain");
    if (!isfinite(gain)) snprintf(g, sizeof g, "-");
    else if (pct_metric(metric)) snprintf(g, sizeof g, "%+.2f points", 100 * gain);
    else snprintf(g, sizeof g, "%+.4g", gain);
    times(pr, sizeof pr, jnum(dj, "param_ratio"));
    rt_doc_p(&c->doc, "gain (distilled - scratch, in the better direction) %s; retention %s; parameter ratio %s; "
                      "alpha %s; monitor warnings %s.",
             g, rp_pct(r, sizeof r, jnum(dj, "retention")), pr, rp_num(a, sizeof a, jnum(dj, "alpha"), 3),
             rp_num(w, sizeof w, jnum(dj, "warnings"), 0));
}

static void distill_run(rp_ctx *c, int r, cJSON *arr)
{
    const rt_rep_index *ix = c->ix;
    const rt_rep_run *run = &ix->runs[r];
    run_heading(c, run);
    int src[8], ns = 0;
    src[ns++] = run->distill;
    src[ns++] = run->recipe;
    src[ns++] = run->log;
    for (int b = 0; b < ix->n_runs && ns < 8; b++)
        if (ix->runs[b].parent == r) src[ns++] = ix->runs[b].log;
    rp_sources(c, src, ns);
    cJSON *o = cJSON_CreateObject();
    rp_add(c, arr, NULL, o);
    if (!o) return;
    rp_add(c, o, "run", cJSON_CreateString(run->name));
    rp_add(c, o, "dir", cJSON_CreateString(run->dir));
    if (run->distill >= 0) {
        summary_part(c, ix->files[run->distill].json);
        rp_add(c, o, "summary", cJSON_Duplicate(ix->files[run->distill].json, true));
        rp_add(c, o, "summary_source", cJSON_CreateString(ix->files[run->distill].path));
    } else {
        rt_doc_p(&c->doc, "No distill.json (the run has not finished): the monitor's records only.");
    }
    const rt_runlog *l = run->log >= 0 ? &run->log_data : NULL;
    if (l && l->n_checks > 0) monitor_part(c, l, o);
    else rt_doc_p(&c->doc, "No monitor records in log.jsonl (monitor_every 0, or no log).");
    cJSON *w = cJSON_CreateArray();
    rp_add(c, o, "warnings", w);
    int nw = l ? l->n_warnings : 0;
    if (nw == 0) rt_doc_p(&c->doc, "The monitor raised no warnings.");
    else rt_doc_p(&c->doc, "Warnings, verbatim from log.jsonl:");
    for (int i = 0; i < nw; i++) {
        const rt_log_warning *lw = &l->warnings[i];
        rt_doc_item(&c->doc, "%s (line %lld): %s", lw->where, (long long)lw->line, lw->text);
        cJSON *e = cJSON_CreateObject();
        rp_add(c, w, NULL, e);
        if (!e) continue;
        rp_add(c, e, "where", cJSON_CreateString(lw->where));
        rp_add(c, e, "line", cJSON_CreateNumber((double)lw->line));
        rp_add(c, e, "text", cJSON_CreateString(lw->text));
    }
}

void rp_distill(rp_ctx *c)
{
    const rt_rep_index *ix = c->ix;
    int n = 0;
    for (int r = 0; r < ix->n_runs; r++)
        n += ix->runs[r].distill >= 0 || (ix->runs[r].log >= 0 && ix->runs[r].log_data.n_checks > 0);
    if (n == 0) {
        leave_out(c, RT_SEC_DISTILL, "no distill.json and no monitor records");
        return;
    }
    rt_doc_h2(&c->doc, "Distillation");
    cJSON *arr = cJSON_CreateArray();
    rp_add(c, c->json, "distillation", arr);
    for (int r = 0; r < ix->n_runs; r++)
        if (ix->runs[r].distill >= 0 || (ix->runs[r].log >= 0 && ix->runs[r].log_data.n_checks > 0))
            distill_run(c, r, arr);
}

/* ---- Quantization ---- */

static const char *change_str(char *buf, size_t n, const char *metric, double d)
{
    if (!isfinite(d)) snprintf(buf, n, "-");
    else if (pct_metric(metric)) snprintf(buf, n, "%+.2f points", 100 * d);
    else snprintf(buf, n, "%+.4g", d);
    return buf;
}

/* {"source": path, "result": a copy of j} appended to the JSON array arr. */
static void add_sourced(rp_ctx *c, cJSON *arr, const char *path, const cJSON *j)
{
    cJSON *o = cJSON_CreateObject();
    rp_add(c, arr, NULL, o);
    rp_add(c, o, "source", cJSON_CreateString(path));
    rp_add(c, o, "result", cJSON_Duplicate(j, true));
}

static void quant_table(rp_ctx *c, cJSON *arr)
{
    const rt_rep_index *ix = c->ix;
    int src[64], ns = 0;
    for (int f = 0; f < ix->n_files && ns < 64; f++)
        if (ix->files[f].kind == RT_REP_QUANTIZE) src[ns++] = f;
    rp_sources(c, src, ns);
    rt_doc_p(&c->doc, "Per quantized file, as retort quantize measured it: stored bytes (payloads and scales) against "
                      "the same model in FP32, bits per quantized weight (scales included), and with --eval the "
                      "metric of both models on the same data, the share of samples with the same top-1 class, the "
                      "output MSE and KL(FP32 || quantized) in nats.");
    rt_doc_table(&c->doc, "llrrrrrrrrrrr", "file", "from", "bits", "bytes", "FP32 bytes", "compression", "bits/weight",
                 "metric FP32", "quantized", "change", "top-1 agree", "output MSE", "KL", NULL);
    for (int f = 0; f < ix->n_files; f++) {
        if (ix->files[f].kind != RT_REP_QUANTIZE) continue;
        const cJSON *j = ix->files[f].json, *ev = get(j, "eval");
        const char *metric = jstr(ev, "metric", NULL);
        char v[12][40];
        rt_doc_row(&c->doc, rp_shown(ix, jstr(j, "output", "?")), rp_shown(ix, jstr(j, "model", "?")),
                   rp_num(v[0], 40, jnum(j, "bits"), 0), count_of(v[1], 40, jnum(j, "bytes")),
                   count_of(v[2], 40, jnum(j, "fp32_bytes")), times(v[3], 40, jnum(j, "compression")),
                   rp_num(v[4], 40, jnum(j, "bits_per_weight"), 3), rp_metric(v[5], 40, metric, jnum(ev, "fp32")),
                   rp_metric(v[6], 40, metric, jnum(ev, "quantized")), change_str(v[7], 40, metric, jnum(ev, "change")),
                   rp_pct(v[8], 40, jnum(ev, "top1_agreement")), sig3(v[9], 40, jnum(ev, "output_mse")),
                   sig3(v[10], 40, jnum(ev, "kl")));
        add_sourced(c, arr, ix->files[f].path, j);
    }
}

static void sweep_table(rp_ctx *c, int f, cJSON *arr)
{
    const rt_rep_index *ix = c->ix;
    const cJSON *j = ix->files[f].json, *rows = get(j, "rows"), *r;
    const char *metric = jstr(j, "metric", "metric");
    rt_doc_h3(&c->doc, "sweep over %s", jstr(j, "data", "?"));
    rp_sources(c, &f, 1);
    rt_doc_table(&c->doc, "llrrrrrr", "model", "file", "params", "bits", "bytes", "compression", metric, "change", NULL);
    cJSON_ArrayForEach(r, rows) {
        char v[6][40];
        rt_doc_row(&c->doc, jstr(r, "name", "-"), rp_shown(ix, jstr(r, "file", jstr(r, "model", "-"))),
                   count_of(v[0], 40, jnum(r, "params")), rp_num(v[1], 40, jnum(r, "bits"), 0),
                   count_of(v[2], 40, jnum(r, "bytes")), times(v[3], 40, jnum(r, "compression")),
                   rp_metric(v[4], 40, metric, jnum(r, "metric")), change_str(v[5], 40, metric, jnum(r, "change")));
    }
    add_sourced(c, arr, ix->files[f].path, j);
}

void rp_quant(rp_ctx *c)
{
    const rt_rep_index *ix = c->ix;
    int nq = 0, nsw = 0;
    for (int f = 0; f < ix->n_files; f++) {
        nq += ix->files[f].kind == RT_REP_QUANTIZE;
        nsw += ix->files[f].kind == RT_REP_SWEEP;
    }
    if (nq + nsw == 0) {
        leave_out(c, RT_SEC_QUANT, "no retort quantize JSON (--json-out) and no sweep.json");
        return;
    }
    rt_doc_h2(&c->doc, "Quantization");
    cJSON *arr = cJSON_CreateArray(), *sw = cJSON_CreateArray();
    rp_add(c, c->json, "quantization", arr);
    rp_add(c, c->json, "sweeps", sw);
    if (nq) quant_table(c, arr);
    for (int f = 0; f < ix->n_files; f++)
        if (ix->files[f].kind == RT_REP_SWEEP) sweep_table(c, f, sw);
}

/* ---- Speed ---- */

static void bench_file(rp_ctx *c, int f, cJSON *arr)
{
    const rt_rep_index *ix = c->ix;
    const cJSON *j = ix->files[f].json, *models = get(j, "models"), *m;
    rt_doc_h3(&c->doc, "%s", rp_shown(ix, ix->files[f].path));
    rp_sources(c, &f, 1);
    char t[5][32], la[32];
    rt_doc_p(&c->doc, "Settings recorded by retort bench: %s threads; batch-1 latency over %s timed runs after %s "
                      "warm-up; throughput at batch %s (median of %s runs); OMP_WAIT_POLICY=%s; load average %s at "
                      "the end; peak RSS: %s.",
             rp_num(t[0], 32, jnum(j, "threads"), 0), rp_num(t[1], 32, jnum(j, "runs"), 0),
             rp_num(t[2], 32, jnum(j, "warmup"), 0), rp_num(t[3], 32, jnum(j, "batch"), 0),
             rp_num(t[4], 32, jnum(j, "batch_runs"), 0), jstr(j, "omp_wait_policy", "(not recorded)"),
             rp_num(la, sizeof la, jnum(j, "load_average"), 2), jstr(j, "rss_method", "(not recorded)"));
    rt_doc_table(&c->doc, "lrrrrrrrrr", "model", "load ms", "p50 ms", "p90 ms", "p99 ms", "samples/s",
                 "peak RSS MB", "file MB", "speedup", "thr x", NULL);
    cJSON_ArrayForEach(m, models) {
        char v[9][32];
        double rss = jnum(m, "rss_peak_bytes"), fb = jnum(m, "file_bytes");
        rt_doc_row(&c->doc, rp_shown(ix, jstr(m, "path", jstr(m, "name", "?"))), rp_num(v[0], 32, jnum(m, "load_ms"), 1),
                   rp_num(v[1], 32, jnum(m, "p50_ms"), 2), rp_num(v[2], 32, jnum(m, "p90_ms"), 2),
                   rp_num(v[3], 32, jnum(m, "p99_ms"), 2), rp_num(v[4], 32, jnum(m, "throughput"), 1),
                   rp_num(v[5], 32, rss >= 0 ? rss / 1e6 : NAN, 1), rp_num(v[6], 32, fb > 0 ? fb / 1e6 : NAN, 3),
                   times(v[7], 32, jnum(m, "speedup")), times(v[8], 32, jnum(m, "throughput_speedup")));
    }
    add_sourced(c, arr, ix->files[f].path, j);
}

void rp_speed(rp_ctx *c)
{
    const rt_rep_index *ix = c->ix;
    int n = 0;
    for (int f = 0; f < ix->n_files; f++) n += ix->files[f].kind == RT_REP_BENCH;
    if (n == 0) {
        leave_out(c, RT_SEC_SPEED, "no retort bench JSON (--json-out)");
        return;
    }
    rt_doc_h2(&c->doc, "Speed");
    rt_doc_p(&c->doc, "retort bench: batch-1 latency percentiles (nearest rank), throughput, peak resident memory "
                      "(includes the process baseline), speedup = the first model's p50 / this p50, thr x = this "
                      "throughput / the first model's. Times depend on the machine and its load; the settings are "
                      "those the bench recorded.");
    cJSON *arr = cJSON_CreateArray();
    rp_add(c, c->json, "speed", arr);
    for (int f = 0; f < ix->n_files; f++)
        if (ix->files[f].kind == RT_REP_BENCH) bench_file(c, f, arr);
}
