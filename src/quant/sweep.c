/*
 * sweep.c - models x precisions: quantize (rt_quantize_model), read back
 * (rt_model_load), evaluate (rt_eval_model) and set each against FP32.
 * Contract in sweep.h; no quantisation or metric code of its own.
 */
#include "quant/sweep.h"

#include "core/error.h"
#include "quant/plan.h"
#include "quant/qfile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files written so far and the directory holding them, undone on failure. */
struct sweep_out {
    char dir[1024];
    bool own_dir;   /* created by this call: removed on failure (and when temporary, always) */
    bool temporary; /* a private directory: files removed once read back */
    char **written;
    int n_written;
};

static rt_status check_bits(const int *bits, int n_bits)
{
    if (n_bits < 1 || n_bits > RT_SWEEP_MAX_BITS)
        return rt_error(RT_ERR_ARG, "--bits: 1 to %d precisions (32, 8, 4), got %d", RT_SWEEP_MAX_BITS, n_bits);
    for (int i = 0; i < n_bits; i++) {
        if (bits[i] != 32 && bits[i] != 8 && bits[i] != 4)
            return rt_error(RT_ERR_ARG, "--bits: %d is not one of 32, 8, 4", bits[i]);
        for (int j = 0; j < i; j++)
            if (bits[j] == bits[i]) return rt_error(RT_ERR_ARG, "--bits: %d given twice", bits[i]);
    }
    return RT_OK;
}

/* True when the file's first non-blank byte is '{' (a config, as rt_model_open tells them apart). */
static bool looks_like_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    int ch;
    while ((ch = fgetc(f)) == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {}
    fclose(f);
    return ch == '{';
}

/* Open every model and check it against ds and against the first model's metric. */
static rt_status open_models(rt_model **m, const char *const *models, int n, const rt_dataset *ds, rt_sweep *out)
{
    for (int i = 0; i < n; i++) {
        if (access(models[i], R_OK) != 0)
            return rt_error(RT_ERR_IO, "%s: cannot open: %s", models[i], strerror(errno));
        if (looks_like_json(models[i]))
            return rt_error(RT_ERR_ARG, "%s: a config, not a trained model file (sweep needs weights: "
                                        "`retort train` or `retort init` it first)", models[i]);
        rt_status s = rt_model_load(&m[i], models[i]);
        if (s != RT_OK) return s;
        if (m[i]->qw)
            return rt_error(RT_ERR_ARG, "%s: already quantized (sweep the FP32 model instead)", models[i]);
        if ((s = rt_eval_check_input(m[i], ds)) != RT_OK) return s;
        const char *metric = rt_eval_task_metric(m[i]->task);
        if (i == 0) snprintf(out->metric, sizeof out->metric, "%s", metric);
        else if (strcmp(metric, out->metric))
            return rt_error(RT_ERR_ARG, "%s: judged by %s, %s by %s: a sweep compares models of one metric",
                            models[i], metric, models[0], out->metric);
    }
    return RT_OK;
}

static rt_status open_dir(struct sweep_out *o, const char *out_dir, int n_files)
{
    o->written = calloc((size_t)n_files + 1, sizeof *o->written);
    if (!o->written) return rt_error(RT_ERR_NOMEM, "sweep: out of memory");
    if (!out_dir) {
        const char *t = getenv("TMPDIR");
        snprintf(o->dir, sizeof o->dir, "%s/retort-sweep-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(o->dir)) return rt_error(RT_ERR_IO, "%s: cannot create: %s", o->dir, strerror(errno));
        o->own_dir = o->temporary = true;
        return RT_OK;
    }
    if (strlen(out_dir) >= sizeof o->dir - 64) return rt_error(RT_ERR_ARG, "%s: path too long", out_dir);
    snprintf(o->dir, sizeof o->dir, "%s", out_dir);
    struct stat sb;
    if (stat(out_dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) return rt_error(RT_ERR_ARG, "%s: exists and is not a directory", out_dir);
        return RT_OK;
    }
    if (mkdir(out_dir, 0777) != 0) return rt_error(RT_ERR_IO, "%s: cannot create: %s", out_dir, strerror(errno));
    o->own_dir = true;
    return RT_OK;
}

/* Remove what the sweep wrote: every file when it failed (ok false) or the
 * directory is temporary; the directory itself when this call created it. */
static void close_dir(struct sweep_out *o, bool ok)
{
    for (int i = 0; o->written && i < o->n_written; i++) {
        if (!ok || o->temporary) unlink(o->written[i]);
        free(o->written[i]);
    }
    free(o->written);
    if (o->own_dir && (!ok || o->temporary)) rmdir(o->dir);
}

/* The file name of model i at `bits` in o->dir (sweep.h). */
static void file_name(char *buf, size_t cap, const struct sweep_out *o, int i, const char *model, int bits)
{
    const char *base = strrchr(model, '/');
    base = base ? base + 1 : model;
    size_t len = strlen(base);
    const char ext[] = ".safetensors";
    if (len > sizeof ext - 1 && !strcmp(base + len - (sizeof ext - 1), ext)) len -= sizeof ext - 1;
    if (len > 200) len = 200;
    snprintf(buf, cap, "%s/%d-%.*s-int%d.safetensors", o->dir, i + 1, (int)len, base, bits);
}

/* plan.h's byte count of m at `bits` (what summary prints) and m's parameter count. */
static rt_status count(rt_model *m, int bits, size_t *bytes, int64_t *params)
{
    const rt_params *p = m->params;
    rt_graph *g = rt_model_build(m, 1);
    if (!g) return RT_ERR_SHAPE; /* message set by rt_model_build */
    enum rt_qfmt *fmt = malloc((size_t)(p->n_views ? p->n_views : 1) * sizeof *fmt);
    rt_status s = fmt ? rt_quant_plan_default(g, bits, fmt) : rt_error(RT_ERR_NOMEM, "sweep: out of memory");
    *bytes = 0;
    *params = 0;
    for (int i = 0; s == RT_OK && i < p->n_views; i++) {
        *bytes += rt_qfmt_bytes(fmt[i], &p->views[i]);
        if (p->views[i].kind == RT_PARAM) *params += (int64_t)p->views[i].numel;
    }
    free(fmt);
    rt_graph_free(g);
    return s;
}

static rt_status metric_of(rt_model *m, const rt_dataset *ds, int64_t batch, const char *metric, double *v,
                           int64_t *n, bool *higher)
{
    rt_eval_report r = {0};
    rt_status s = rt_eval_model(m, ds, batch, &r);
    if (s == RT_OK) {
        *v = rt_eval_report_get(&r, metric);
        *n = r.n;
        for (int k = 0; k < r.n_scalars; k++)
            if (!strcmp(r.scalars[k].name, metric)) *higher = r.scalars[k].higher_is_better;
    }
    rt_eval_report_free(&r);
    return s;
}

/* Quantize m at `bits` into o->dir, read it back and evaluate it. */
static rt_status quantized_row(rt_model *m, const char *model, int i, const rt_dataset *ds, int64_t batch,
                               struct sweep_out *o, rt_sweep *sw, rt_sweep_row *row)
{
    char path[RT_SWEEP_PATH_MAX];
    file_name(path, sizeof path, o, i, model, row->bits);
    rt_qfile_stats st;
    enum rt_qscheme scheme = row->bits == 4 ? RT_QSCHEME_BLOCK32 : RT_QSCHEME_PER_CHANNEL;
    rt_status s = rt_quantize_model(m, row->bits, scheme, NULL, 0, path, &st);
    if (s != RT_OK) return s;
    if (!(o->written[o->n_written] = strdup(path))) {
        unlink(path);
        return rt_error(RT_ERR_NOMEM, "sweep: out of memory");
    }
    o->n_written++;
    row->bytes = st.bytes;
    if (!o->temporary) snprintf(row->file, sizeof row->file, "%s", path);
    rt_model *q = NULL;
    int64_t n;
    bool hib;
    if ((s = rt_model_load(&q, path)) == RT_OK) s = metric_of(q, ds, batch, sw->metric, &row->metric, &n, &hib);
    rt_model_free(q);
    return s;
}

/* The rows of model i: FP32 reference, then each precision. */
static rt_status model_rows(rt_model *m, const char *model, int i, const rt_dataset *ds, const int *bits, int n_bits,
                            int64_t batch, struct sweep_out *o, rt_sweep *sw, size_t *ref_bytes)
{
    size_t fp32_bytes;
    int64_t params;
    double fp32;
    rt_status s = count(m, 32, &fp32_bytes, &params);
    if (s == RT_OK) s = metric_of(m, ds, batch, sw->metric, &fp32, &sw->samples, &sw->higher_is_better);
    if (s != RT_OK) return s;
    if (i == 0) *ref_bytes = fp32_bytes;
    for (int b = 0; s == RT_OK && b < n_bits; b++) {
        rt_sweep_row *row = &sw->rows[sw->n_rows];
        *row = (rt_sweep_row){.model = i, .bits = bits[b], .params = params, .bytes = fp32_bytes, .metric = fp32};
        snprintf(row->name, sizeof row->name, "%s", m->name[0] ? m->name : m->arch->name);
        if (bits[b] != 32) s = quantized_row(m, model, i, ds, batch, o, sw, row);
        if (s != RT_OK) break;
        row->change = row->metric - fp32;
        row->compression = (double)*ref_bytes / (double)row->bytes;
        sw->n_rows++;
    }
    return s;
}

rt_status rt_sweep_run(rt_sweep *out, const char *const *models, int n_models, const rt_dataset *ds, const int *bits,
                       int n_bits, const char *out_dir, int64_t batch)
{
    *out = (rt_sweep){0};
    RT_ASSERT(batch >= 1);
    if (n_models < 1) return rt_error(RT_ERR_ARG, "sweep: no model");
    rt_status s = check_bits(bits, n_bits);
    if (s != RT_OK) return s;
    rt_model **m = calloc((size_t)n_models, sizeof *m);
    out->rows = calloc((size_t)n_models * (size_t)n_bits, sizeof *out->rows);
    struct sweep_out o = {0};
    if (!m || !out->rows) s = rt_error(RT_ERR_NOMEM, "sweep: out of memory");
    if (s == RT_OK) s = open_models(m, models, n_models, ds, out);
    if (s == RT_OK) s = open_dir(&o, out_dir, n_models * n_bits);
    size_t ref_bytes = 0;
    for (int i = 0; s == RT_OK && i < n_models; i++)
        s = model_rows(m[i], models[i], i, ds, bits, n_bits, batch, &o, out, &ref_bytes);
    close_dir(&o, s == RT_OK);
    for (int i = 0; m && i < n_models; i++) rt_model_free(m[i]);
    free(m);
    if (s != RT_OK) rt_sweep_free(out);
    return s;
}

void rt_sweep_free(rt_sweep *s)
{
    free(s->rows);
    *s = (rt_sweep){0};
}
