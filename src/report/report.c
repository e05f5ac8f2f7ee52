/*
 * report.c - `retort report` (see report.h): the Models and Pareto
 * sections, the list of inputs, and the all-or-nothing output of
 * report.md, report.html and report.json. The other sections are in
 * report_sections.c.
 */
#include "report/report_impl.h"

#include "io/fileio.h"
#include "metrics/metrics.h"
#include "report/svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef RT_VERSION
#define RT_VERSION "?"
#endif

static const char *const section_names[RT_SEC_COUNT] = {
    [RT_SEC_MODELS] = "Models", [RT_SEC_TRAINING] = "Training curves", [RT_SEC_DISTILL] = "Distillation",
    [RT_SEC_QUANT] = "Quantization", [RT_SEC_SPEED] = "Speed", [RT_SEC_PARETO] = "Pareto frontier",
};
_Static_assert(sizeof section_names / sizeof section_names[0] == RT_SEC_COUNT, "section_names out of sync");

const char *rt_report_section_name(enum rt_report_section s)
{
    return (unsigned)s < RT_SEC_COUNT ? section_names[s] : "?";
}

/* ---- formatting shared with report_sections.c ---- */

const char *rp_shown(const rt_rep_index *ix, const char *path)
{
    if (!path) return "";
    size_t n = ix->base ? strlen(ix->base) : 0;
    if (n && !strncmp(path, ix->base, n) && path[n] == '/' && path[n + 1]) return path + n + 1;
    return path;
}

static bool pct_metric(const char *m)
{
    return !strcmp(m, "accuracy") || !strcmp(m, "top5_accuracy") || !strcmp(m, "topk_accuracy") || !strcmp(m, "eer");
}

const char *rp_metric(char *buf, size_t n, const char *metric, double v)
{
    if (!isfinite(v)) snprintf(buf, n, "-");
    else if (metric && pct_metric(metric)) snprintf(buf, n, "%.2f%%", 100 * v);
    else snprintf(buf, n, "%.4g", v);
    return buf;
}

const char *rp_pct(char *buf, size_t n, double v)
{
    if (!isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.3g%%", 100 * v);
    return buf;
}

const char *rp_num(char *buf, size_t n, double v, int dec)
{
    if (!isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.*f", dec, v);
    return buf;
}

static const char *count(char *buf, size_t n, int64_t v)
{
    if (v < 0) snprintf(buf, n, "-");
    else rt_fmt_int(buf, n, v);
    return buf;
}

cJSON *rp_jnum(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

void rp_add(rp_ctx *c, cJSON *parent, const char *key, cJSON *item)
{
    if (!item || !parent) {
        c->oom = true;
        cJSON_Delete(item);
        return;
    }
    if (cJSON_IsArray(parent)) cJSON_AddItemToArray(parent, item);
    else cJSON_AddItemToObject(parent, key, item);
}

void rp_sources(rp_ctx *c, const int *files, int n)
{
    const char *p[64];
    int k = 0;
    for (int i = 0; i < n && k < 64; i++) {
        if (files[i] < 0) continue;
        const char *s = rp_shown(c->ix, c->ix->files[files[i]].path);
        bool dup = false;
        for (int j = 0; j < k; j++) dup |= !strcmp(p[j], s);
        if (!dup) p[k++] = s;
    }
    rt_doc_sources(&c->doc, p, k);
}

/* ---- Models ---- */

static int role_rank(enum rt_rep_role r)
{
    static const int rank[] = {[RT_ROLE_TEACHER] = 0, [RT_ROLE_STUDENT] = 1, [RT_ROLE_SCRATCH] = 2,
                               [RT_ROLE_QUANTIZED] = 3, [RT_ROLE_OTHER] = 4};
    return rank[r];
}

static int cmp_model(const void *a, const void *b, void *arg)
{
    const rt_rep_index *ix = arg;
    int i = *(const int *)a, j = *(const int *)b;
    const rt_rep_model *x = &ix->models[i], *y = &ix->models[j];
    int fx = x->teacher >= 0 ? x->teacher : ix->n_models + i, fy = y->teacher >= 0 ? y->teacher : ix->n_models + j;
    if (fx != fy) return fx < fy ? -1 : 1;
    int rx = role_rank(x->role), ry = role_rank(y->role);
    if (rx != ry) return rx < ry ? -1 : 1;
    if (x->bits != y->bits) return x->bits > y->bits ? -1 : 1;
    return (i > j) - (i < j);
}

/* Models in report order: each teacher, then its students, scratch and quantized models; then the rest. */
static int *model_order(const rt_rep_index *ix)
{
    int *o = malloc((size_t)(ix->n_models ? ix->n_models : 1) * sizeof *o);
    if (!o) return NULL;
    for (int i = 0; i < ix->n_models; i++) o[i] = i;
    qsort_r(o, (size_t)ix->n_models, sizeof *o, cmp_model, (void *)ix);
    return o;
}

static char *model_label(const rt_rep_index *ix, const rt_rep_model *m)
{
    const char *p = rp_shown(ix, m->path);
    size_t n = strlen(p) + (m->also ? strlen(m->also) + 8 : 0) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    if (m->also) {
        const char *b = strrchr(m->also, '/');
        snprintf(s, n, "%s (= %s)", p, b ? b + 1 : m->also);
    } else {
        snprintf(s, n, "%s", p);
    }
    return s;
}

/* The teacher's measurement of the same metric on the same data as x, or NULL. */
static const rt_measure *same_group(const rt_rep_model *t, const rt_measure *x)
{
    const rt_measure *best = NULL;
    for (int i = 0; i < t->n_m; i++) {
        const rt_measure *y = &t->m[i];
        bool same_data = (!x->data && !y->data) || (x->data && y->data && !strcmp(x->data, y->data));
        if (!strcmp(x->metric, y->metric) && same_data && (!best || y->prio < best->prio)) best = y;
    }
    return best;
}

/* Retention of a measurement x against the teacher's on the same metric and data (NaN when it has none). */
static double retention(const rt_rep_model *t, const rt_measure *x)
{
    const rt_measure *y = x ? same_group(t, x) : NULL;
    const rt_metric_info *mi = x ? rt_metric_find(x->metric) : NULL;
    double r;
    if (!y || !mi || rt_metric_retention(&r, mi->id, y->value, x->value) != RT_OK) return NAN;
    return r;
}

static double compression(const rt_rep_model *m, const rt_rep_model *t)
{
    return m->data_bytes > 0 && t->data_bytes > 0 ? (double)t->data_bytes / (double)m->data_bytes : NAN;
}

static void models_json(rp_ctx *c, const int *order)
{
    const rt_rep_index *ix = c->ix;
    cJSON *arr = cJSON_CreateArray();
    rp_add(c, c->json, "models", arr);
    for (int k = 0; arr && k < ix->n_models; k++) {
        const rt_rep_model *m = &ix->models[order[k]];
        const rt_rep_model *t = m->teacher >= 0 ? &ix->models[m->teacher] : NULL;
        const rt_measure *x = rt_rep_measure(m, NULL, NULL);
        cJSON *o = cJSON_CreateObject(), *b = cJSON_CreateObject();
        rp_add(c, arr, NULL, o);
        if (!o) break;
        rp_add(c, o, "path", cJSON_CreateString(m->path));
        rp_add(c, o, "identical_file", m->also ? cJSON_CreateString(m->also) : cJSON_CreateNull());
        rp_add(c, o, "on_disk", cJSON_CreateBool(m->on_disk));
        rp_add(c, o, "role", cJSON_CreateString(rt_rep_role_name(m->role)));
        rp_add(c, o, "name", cJSON_CreateString(m->name));
        rp_add(c, o, "arch", cJSON_CreateString(m->arch));
        rp_add(c, o, "params", m->params >= 0 ? cJSON_CreateNumber((double)m->params) : cJSON_CreateNull());
        rp_add(c, o, "buffers", m->buffers >= 0 ? cJSON_CreateNumber((double)m->buffers) : cJSON_CreateNull());
        rp_add(c, o, "bits", cJSON_CreateNumber(m->bits));
        rp_add(c, o, "file_bytes", m->file_bytes >= 0 ? cJSON_CreateNumber((double)m->file_bytes) : cJSON_CreateNull());
        rp_add(c, o, "stored_bytes", m->data_bytes >= 0 ? cJSON_CreateNumber((double)m->data_bytes) : cJSON_CreateNull());
        rp_add(c, o, "bytes_at", b);
        static const char *pn[4] = {"fp32", "fp16", "int8", "int4"};
        for (int p = 0; b && p < 4; p++)
            rp_add(c, b, pn[p], m->bytes[p] >= 0 ? cJSON_CreateNumber((double)m->bytes[p]) : cJSON_CreateNull());
        rp_add(c, o, "teacher", t ? cJSON_CreateString(t->path) : cJSON_CreateNull());
        rp_add(c, o, "compression_vs_teacher", rp_jnum(t ? compression(m, t) : NAN));
        cJSON *mm = cJSON_CreateArray();
        rp_add(c, o, "measurements", mm);
        for (int i = 0; mm && i < m->n_m; i++) {
            const rt_measure *y = &m->m[i];
            cJSON *e = cJSON_CreateObject();
            rp_add(c, mm, NULL, e);
            if (!e) break;
            rp_add(c, e, "metric", cJSON_CreateString(y->metric));
            rp_add(c, e, "value", rp_jnum(y->value));
            rp_add(c, e, "data", y->data ? cJSON_CreateString(y->data) : cJSON_CreateNull());
            rp_add(c, e, "source", cJSON_CreateString(ix->files[y->file].path));
            rp_add(c, e, "how", cJSON_CreateString(y->how));
            rp_add(c, e, "shown", cJSON_CreateBool(y == x));
        }
        rp_add(c, o, "retention_vs_teacher", rp_jnum(t && t != m ? retention(t, x) : NAN));
    }
}

static void section_models(rp_ctx *c)
{
    const rt_rep_index *ix = c->ix;
    int *order = model_order(ix), *src = malloc((size_t)(2 * ix->n_models + 1) * sizeof *src), ns = 0;
    if (!order || !src) {
        free(order);
        free(src);
        c->oom = true;
        return;
    }
    rt_doc_h2(&c->doc, "Models");
    for (int i = 0; i < ix->n_models; i++) {
        src[ns++] = ix->models[i].file;
        const rt_measure *x = rt_rep_measure(&ix->models[i], NULL, NULL);
        if (x) src[ns++] = x->file;
    }
    rp_sources(c, src, ns);
    free(src);
    rt_doc_p(&c->doc, "Exact counts from each model file (retort summary's accounting): parameters, buffers "
                      "(batch-norm statistics), the file's size, the bytes its tensors occupy (stored), and the bytes "
                      "of the same parameters and buffers at each precision by the storage rule of retort quantize.");
    rt_doc_table(&c->doc, "lllrrrrrrrrr", "model", "role", "arch", "params", "buffers", "bits", "file bytes",
                 "stored bytes", "FP32 bytes", "FP16 bytes", "INT8 bytes", "INT4 bytes", NULL);
    char a[9][40];
    for (int k = 0; k < ix->n_models; k++) {
        const rt_rep_model *m = &ix->models[order[k]];
        char *label = model_label(ix, m);
        snprintf(a[0], sizeof a[0], "%d", m->bits);
        rt_doc_row(&c->doc, label ? label : "", rt_rep_role_name(m->role), m->arch[0] ? m->arch : "-",
                   count(a[1], 40, m->params), count(a[2], 40, m->buffers), m->on_disk ? a[0] : "-",
                   count(a[3], 40, m->file_bytes), count(a[4], 40, m->data_bytes), count(a[5], 40, m->bytes[0]),
                   count(a[6], 40, m->bytes[1]), count(a[7], 40, m->bytes[2]), count(a[8], 40, m->bytes[3]));
        free(label);
    }
    rt_doc_p(&c->doc, "Against the teacher: compression = the teacher's stored bytes / the model's stored bytes "
                      "(2 decimals); the metric is the model's measurement from the most direct source (eval.json, "
                      "then quantize --eval, then distill.json, then log.jsonl); retention = model / teacher on the "
                      "same metric and data (teacher / model when lower is better), '-' when the teacher has no "
                      "measurement on the same data.");
    rt_doc_table(&c->doc, "llrrlrllr", "model", "teacher", "stored bytes", "vs teacher", "metric", "value", "data",
                 "from", "retention", NULL);
    for (int k = 0; k < ix->n_models; k++) {
        const rt_rep_model *m = &ix->models[order[k]];
        const rt_rep_model *t = m->teacher >= 0 ? &ix->models[m->teacher] : NULL;
        const rt_measure *x = rt_rep_measure(m, NULL, NULL);
        char *label = model_label(ix, m), ratio[40], val[40], ret[40];
        double cr = t ? compression(m, t) : NAN, rr = t && t != m ? retention(t, x) : NAN;
        if (isfinite(cr)) snprintf(ratio, sizeof ratio, "%.2fx", cr);
        else snprintf(ratio, sizeof ratio, "-");
        rt_doc_row(&c->doc, label ? label : "", t ? rp_shown(ix, t->path) : "-", count(a[0], 40, m->data_bytes), ratio,
                   x ? x->metric : "-", x ? rp_metric(val, sizeof val, x->metric, x->value) : "-",
                   x && x->data ? x->data : "-", x ? x->how : "-", rp_pct(ret, sizeof ret, rr));
        free(label);
    }
    models_json(c, order);
    free(order);
}

/* ---- Pareto frontier ---- */

typedef struct ppoint {
    char label[300];
    char text[80];              /* on the plot: short */
    const char *path;           /* model file, or NULL (a sweep row without a file) */
    double bytes, value;
    int file;                   /* where the metric comes from */
    bool frontier;
} ppoint;

typedef struct pgroup {
    const char *metric, *data;  /* data may be NULL */
    bool higher;
    ppoint *p;
    int n;
} pgroup;

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static pgroup *group_of(pgroup **g, int *ng, const char *metric, const char *data, bool higher)
{
    for (int i = 0; i < *ng; i++)
        if (!strcmp((*g)[i].metric, metric) && same_str((*g)[i].data, data)) return &(*g)[i];
    pgroup *n = realloc(*g, (size_t)(*ng + 1) * sizeof *n);
    if (!n) return NULL;
    *g = n;
    n[*ng] = (pgroup){.metric = metric, .data = data, .higher = higher};
    return &n[(*ng)++];
}

/* "runs/a/b.safetensors" -> "a/b" */
static void short_name(char *buf, size_t n, const char *path)
{
    const char *e = path + strlen(path), *s = e;
    int slashes = 0;
    while (s > path && !(s[-1] == '/' && ++slashes == 2)) s--;
    size_t len = (size_t)(e - s);
    if (len > 12 && !strcmp(e - 12, ".safetensors")) len -= 12;
    snprintf(buf, n, "%.*s", (int)len, s);
}

static bool add_point(pgroup *g, const char *label, const char *path, double bytes, double value, int file)
{
    if (!(bytes > 0) || !isfinite(value)) return true;
    ppoint *p = realloc(g->p, (size_t)(g->n + 1) * sizeof *p);
    if (!p) return false;
    g->p = p;
    p[g->n] = (ppoint){.path = path, .bytes = bytes, .value = value, .file = file};
    snprintf(p[g->n].label, sizeof p[g->n].label, "%s", label);
    if (path) short_name(p[g->n].text, sizeof p[g->n].text, path);
    else snprintf(p[g->n].text, sizeof p[g->n].text, "%.79s", label);
    g->n++;
    return true;
}

/* q dominates p: no larger and no worse, and smaller or better. */
static bool dominates(const pgroup *g, const ppoint *q, const ppoint *p)
{
    bool no_worse = g->higher ? q->value >= p->value : q->value <= p->value;
    bool better = g->higher ? q->value > p->value : q->value < p->value;
    return q->bytes <= p->bytes && no_worse && (q->bytes < p->bytes || better);
}

static int cmp_point(const void *a, const void *b)
{
    const ppoint *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? -1 : 1;
    return strcmp(x->label, y->label);
}

/* Points of every model with a size and every sweep row, grouped by (metric, data). */
static bool pareto_points(const rt_rep_index *ix, pgroup **g, int *ng)
{
    for (int i = 0; i < ix->n_models; i++) {
        const rt_rep_model *m = &ix->models[i];
        for (int k = 0; k < m->n_m; k++) {
            const rt_measure *x = &m->m[k];
            bool first = true; /* one point per (metric, data): the highest-priority measurement */
            for (int j = 0; j < m->n_m; j++)
                if (j != k && !strcmp(m->m[j].metric, x->metric) && same_str(m->m[j].data, x->data) &&
                    (m->m[j].prio < x->prio || (m->m[j].prio == x->prio && j < k)))
                    first = false;
            if (!first) continue;
            pgroup *gr = group_of(g, ng, x->metric, x->data, m->higher_better);
            char label[300];
            snprintf(label, sizeof label, "%s (%s)", rp_shown(ix, m->path), rt_rep_role_name(m->role));
            if (!gr || !add_point(gr, label, m->path, (double)m->data_bytes, x->value, x->file)) return false;
        }
    }
    for (int f = 0; f < ix->n_files; f++) {
        if (ix->files[f].kind != RT_REP_SWEEP) continue;
        const cJSON *j = ix->files[f].json, *rows = cJSON_GetObjectItemCaseSensitive(j, "rows"), *r;
        const cJSON *metric = cJSON_GetObjectItemCaseSensitive(j, "metric"), *data = cJSON_GetObjectItemCaseSensitive(j, "data");
        const cJSON *hb = cJSON_GetObjectItemCaseSensitive(j, "higher_is_better");
        if (!cJSON_IsString(metric)) continue;
        pgroup *gr = group_of(g, ng, metric->valuestring, cJSON_IsString(data) ? data->valuestring : NULL,
                              cJSON_IsBool(hb) ? cJSON_IsTrue(hb) : true);
        if (!gr) return false;
        cJSON_ArrayForEach(r, rows) {
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "bytes"), *v = cJSON_GetObjectItemCaseSensitive(r, "metric");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(r, "name"), *bits = cJSON_GetObjectItemCaseSensitive(r, "bits");
            const cJSON *file = cJSON_GetObjectItemCaseSensitive(r, "file");
            if (!cJSON_IsNumber(b) || !cJSON_IsNumber(v)) continue;
            char label[300];
            snprintf(label, sizeof label, "%s %s (sweep)", cJSON_IsString(nm) ? nm->valuestring : "?",
                     cJSON_IsNumber(bits) && bits->valuedouble < 32 ? (bits->valuedouble == 8 ? "INT8" : "INT4") : "FP32");
            if (!add_point(gr, label, cJSON_IsString(file) ? file->valuestring : NULL, b->valuedouble, v->valuedouble, f))
                return false;
        }
    }
    for (int i = 0; i < *ng; i++) {
        pgroup *gr = &(*g)[i];
        const rt_metric_info *mi = rt_metric_find(gr->metric);
        if (mi) gr->higher = mi->higher_is_better;
        for (int k = 0; k < gr->n; k++) {
            gr->p[k].frontier = true;
            for (int q = 0; q < gr->n && gr->p[k].frontier; q++)
                if (q != k && dominates(gr, &gr->p[q], &gr->p[k])) gr->p[k].frontier = false;
        }
        if (gr->n > 1) qsort(gr->p, (size_t)gr->n, sizeof *gr->p, cmp_point);
    }
    return true;
}

static void pareto_group(rp_ctx *c, const pgroup *g, cJSON *arr)
{
    const rt_rep_index *ix = c->ix;
    rt_doc_h3(&c->doc, "%s on %s (%s is better)", g->metric, g->data ? g->data : "unnamed data",
              g->higher ? "higher" : "lower");
    int *src = malloc((size_t)g->n * sizeof *src);
    double *x = malloc((size_t)g->n * sizeof *x), *y = malloc((size_t)g->n * sizeof *y);
    double *fx = malloc((size_t)g->n * sizeof *fx), *fy = malloc((size_t)g->n * sizeof *fy);
    bool *mark = malloc((size_t)g->n * sizeof *mark);
    const char **labels = malloc((size_t)g->n * sizeof *labels), **texts = malloc((size_t)g->n * sizeof *texts);
    if (!src || !x || !y || !fx || !fy || !mark || !labels || !texts) {
        c->oom = true;
        goto out;
    }
    int nf = 0;
    for (int i = 0; i < g->n; i++) {
        src[i] = g->p[i].file;
        x[i] = g->p[i].bytes;
        y[i] = g->p[i].value;
        mark[i] = g->p[i].frontier;
        labels[i] = g->p[i].label;
        texts[i] = g->p[i].text;
        if (mark[i]) {
            fx[nf] = x[i];
            fy[nf++] = y[i];
        }
    }
    rp_sources(c, src, g->n);
    rt_svg_series s[2] = {{.name = "models (filled: on the frontier)", .x = x, .y = y, .n = g->n,
                           .style = RT_SVG_POINTS, .mark = mark, .labels = labels, .texts = texts},
                          {.name = "frontier", .x = fx, .y = fy, .n = nf, .style = RT_SVG_LINE}};
    char title[200];
    snprintf(title, sizeof title, "size vs %s", g->metric);
    rt_svg_plot p = {.title = title, .xlabel = "stored bytes (log scale)", .ylabel = g->metric, .logx = true,
                     .ypct = pct_metric(g->metric), .series = s, .n_series = 2};
    rt_sb svg = {0};
    rt_svg_render(&svg, &p);
    if (svg.oom) c->oom = true;
    else rt_doc_svg(&c->doc, title, svg.s);
    rt_sb_free(&svg);
    rt_doc_table(&c->doc, "lrrll", "model", "stored bytes", g->metric, "on the frontier", "from", NULL);
    cJSON *o = cJSON_CreateObject(), *pts = cJSON_CreateArray();
    rp_add(c, arr, NULL, o);
    if (o) {
        rp_add(c, o, "metric", cJSON_CreateString(g->metric));
        rp_add(c, o, "data", g->data ? cJSON_CreateString(g->data) : cJSON_CreateNull());
        rp_add(c, o, "higher_is_better", cJSON_CreateBool(g->higher));
        rp_add(c, o, "points", pts);
    } else {
        cJSON_Delete(pts);
        pts = NULL;
    }
    for (int i = 0; i < g->n; i++) {
        char b[40], v[40];
        const ppoint *q = &g->p[i];
        rt_doc_row(&c->doc, q->label, count(b, sizeof b, (int64_t)q->bytes), rp_metric(v, sizeof v, g->metric, q->value),
                   q->frontier ? "yes" : "no", rp_shown(ix, ix->files[q->file].path));
        cJSON *e = pts ? cJSON_CreateObject() : NULL;
        if (!pts) continue;
        rp_add(c, pts, NULL, e);
        if (!e) continue;
        rp_add(c, e, "label", cJSON_CreateString(q->label));
        rp_add(c, e, "path", q->path ? cJSON_CreateString(q->path) : cJSON_CreateNull());
        rp_add(c, e, "bytes", cJSON_CreateNumber(q->bytes));
        rp_add(c, e, "value", rp_jnum(q->value));
        rp_add(c, e, "frontier", cJSON_CreateBool(q->frontier));
        rp_add(c, e, "source", cJSON_CreateString(ix->files[q->file].path));
    }
out:
    free(src);
    free(x);
    free(y);
    free(fx);
    free(fy);
    free(mark);
    free(labels);
    free(texts);
}

static void section_pareto(rp_ctx *c)
{
    pgroup *g = NULL;
    int ng = 0;
    if (!pareto_points(c->ix, &g, &ng)) c->oom = true;
    int used = 0;
    for (int i = 0; i < ng; i++) used += g[i].n > 0;
    if (used == 0) {
        c->info->written[RT_SEC_PARETO] = false;
        snprintf(c->info->reason[RT_SEC_PARETO], sizeof c->info->reason[0], "no model with both a size and a metric");
    } else {
        rt_doc_h2(&c->doc, "Pareto frontier");
        rt_doc_p(&c->doc, "Size (stored bytes, log scale) against the task metric, one plot and table per metric and "
                          "data set (numbers on different data are not compared). A point is on the frontier when no "
                          "other point is at most as large and at least as good, and smaller or better. Sweep rows "
                          "(retort sweep) are their own points.");
        cJSON *arr = cJSON_CreateArray();
        rp_add(c, c->json, "pareto", arr);
        for (int i = 0; i < ng; i++)
            if (g[i].n > 0) pareto_group(c, &g[i], arr);
    }
    for (int i = 0; i < ng; i++) free(g[i].p);
    free(g);
}

/* ---- inputs ---- */

static void section_inputs(rp_ctx *c)
{
    const rt_rep_index *ix = c->ix;
    rt_doc_h2(&c->doc, "Inputs");
    bool any_left = false;
    for (int s = 0; s < RT_SEC_COUNT; s++)
        if (!c->info->written[s]) {
            if (!any_left) rt_doc_p(&c->doc, "Sections left out:");
            any_left = true;
            rt_doc_item(&c->doc, "%s: %s", section_names[s], c->info->reason[s]);
        }
    rt_doc_table(&c->doc, "lll", "file", "read as", "note", NULL);
    cJSON *arr = cJSON_CreateArray();
    rp_add(c, c->json, "inputs", arr);
    for (int i = 0; i < ix->n_files; i++) {
        const rt_rep_file *f = &ix->files[i];
        char note[200] = "";
        if (f->kind == RT_REP_LOG && f->run >= 0 && ix->runs[f->run].log == i && ix->runs[f->run].log_data.truncated)
            snprintf(note, sizeof note, "its last line was cut short (a killed writer) and is left out");
        const char *n = f->note ? f->note : note;
        rt_doc_row(&c->doc, rp_shown(ix, f->path), rt_rep_kind_name(f->kind), n);
        cJSON *o = arr ? cJSON_CreateObject() : NULL;
        if (!arr) continue;
        rp_add(c, arr, NULL, o);
        if (!o) continue;
        rp_add(c, o, "path", cJSON_CreateString(f->path));
        rp_add(c, o, "kind", cJSON_CreateString(rt_rep_kind_name(f->kind)));
        rp_add(c, o, "note", n[0] ? cJSON_CreateString(n) : cJSON_CreateNull());
        if (f->kind == RT_REP_SKIPPED) c->info->n_skipped++;
    }
}

/* ---- the whole report ---- */

void rt_report_text_free(rt_report_text *t)
{
    free(t->md);
    free(t->html);
    free(t->json);
    *t = (rt_report_text){0};
}

rt_status rt_report_render(const rt_rep_index *ix, rt_report_text *out, rt_report_info *info)
{
    rt_report_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    memset(out, 0, sizeof *out);
    rp_ctx c = {.ix = ix, .json = cJSON_CreateObject(), .info = info};
    info->n_models = ix->n_models;
    info->n_runs = ix->n_runs;
    info->n_files = ix->n_files;
    rp_add(&c, c.json, "type", cJSON_CreateString("report"));
    rp_add(&c, c.json, "retort", cJSON_CreateString(RT_VERSION));
    cJSON *dirs = cJSON_CreateArray();
    rp_add(&c, c.json, "dirs", dirs);
    for (int i = 0; dirs && i < ix->n_dirs; i++) rp_add(&c, dirs, NULL, cJSON_CreateString(ix->dirs[i]));
    rt_sb over = {0};
    for (int i = 0; i < ix->n_dirs; i++) {
        rt_sb_puts(&over, i ? ", " : "");
        rt_sb_puts(&over, ix->dirs[i]);
    }
    rt_doc_p(&c.doc, "retort %s report over %s. Every number is copied from the file named under its section%s%s%s; "
                     "ratios are computed from the exact counts shown.",
             RT_VERSION, over.s ? over.s : "", ix->base && ix->base[0] ? " (paths relative to " : "",
             ix->base && ix->base[0] ? ix->base : "", ix->base && ix->base[0] ? ")" : "");
    if (over.oom) c.oom = true;
    rt_sb_free(&over);
    for (int s = 0; s < RT_SEC_COUNT; s++) info->written[s] = true;
    if (ix->n_models == 0) {
        info->written[RT_SEC_MODELS] = false;
        snprintf(info->reason[RT_SEC_MODELS], sizeof info->reason[0], "no model files");
    } else {
        section_models(&c);
    }
    rp_training(&c);
    rp_distill(&c);
    rp_quant(&c);
    rp_speed(&c);
    section_pareto(&c);
    section_inputs(&c);
    cJSON *sec = cJSON_CreateObject();
    rp_add(&c, c.json, "sections", sec);
    for (int s = 0; sec && s < RT_SEC_COUNT; s++)
        rp_add(&c, sec, section_names[s], info->written[s] ? cJSON_CreateTrue() : cJSON_CreateString(info->reason[s]));
    rt_sb md = {0}, html = {0};
    rt_sb_puts(&md, "# retort report\n\n");
    rt_doc_md(&c.doc, &md);
    rt_doc_html(&c.doc, "retort report", &html);
    /* the HTML has the same title as the Markdown */
    out->md = rt_sb_take(&md);
    out->html = rt_sb_take(&html);
    out->json = c.oom ? NULL : cJSON_Print(c.json);
    bool ok = !c.oom && !c.doc.oom && out->md && out->html && out->json;
    cJSON_Delete(c.json);
    rt_doc_free(&c.doc);
    if (!ok) {
        rt_report_text_free(out);
        return rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    return RT_OK;
}

/* mkdir -p */
static rt_status make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    rt_status s = RT_OK;
    for (char *q = p + 1;; q++) {
        if (*q && *q != '/') continue;
        char c = *q;
        *q = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            s = rt_error(RT_ERR_IO, "%s: cannot create the directory: %s", p, strerror(errno));
            break;
        }
        *q = c;
        if (!c) break;
    }
    struct stat st;
    if (s == RT_OK && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        s = rt_error(RT_ERR_IO, "%s: not a directory", dir);
    free(p);
    return s;
}

rt_status rt_report_save(const rt_report_text *t, const char *out_dir)
{
    static const char *names[3] = {"report.md", "report.html", "report.json"};
    const char *txt[3] = {t->md, t->html, t->json};
    rt_status s = make_dirs(out_dir);
    rt_atomic af[3] = {{0}};
    int opened = 0;
    for (int i = 0; i < 3 && s == RT_OK; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", out_dir, names[i]) >= sizeof path)
            s = rt_error(RT_ERR_ARG, "%s: path too long", out_dir);
        else if ((s = rt_atomic_open(&af[i], path)) == RT_OK) opened++;
        if (s == RT_OK && (fputs(txt[i], af[i].f) == EOF || fflush(af[i].f) != 0 || ferror(af[i].f)))
            s = rt_error(RT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    for (int i = 0; i < opened; i++) { /* renamed only when all three are complete */
        if (s == RT_OK) s = rt_atomic_commit(&af[i]);
        else rt_atomic_abort(&af[i]);
    }
    return s;
}

rt_status rt_report_write(const char *const *dirs, int n_dirs, const char *out_dir, rt_report_info *info)
{
    rt_rep_index ix;
    rt_status s = rt_rep_index_build(&ix, dirs, n_dirs);
    if (s != RT_OK) return s;
    rt_report_text t;
    s = rt_report_render(&ix, &t, info);
    rt_rep_index_free(&ix);
    if (s == RT_OK) s = rt_report_save(&t, out_dir);
    rt_report_text_free(&t);
    return s;
}
