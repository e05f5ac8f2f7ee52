/*
 * runs.c - the index of run directories (see runs.h): scan, classify, read
 * the runs and the model files, link teachers, students and quantized
 * files, and gather each model's measurements.
 */
#include "report/runs.h"

#include "io/fileio.h"
#include "report/strbuf.h"
#include "io/safetensors.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "report/summary.h"
#include "train/eval.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const kind_names[RT_REP_KIND_COUNT] = {
    [RT_REP_SKIPPED] = "skipped", [RT_REP_RECIPE] = "recipe",     [RT_REP_LOG] = "training log",
    [RT_REP_EVAL] = "eval",       [RT_REP_DISTILL] = "distill summary", [RT_REP_QUANTIZE] = "quantize --eval",
    [RT_REP_BENCH] = "bench",     [RT_REP_SWEEP] = "sweep",       [RT_REP_MODEL] = "model file",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == RT_REP_KIND_COUNT, "kind_names out of sync");

const char *rt_rep_kind_name(enum rt_rep_kind k) { return (unsigned)k < RT_REP_KIND_COUNT ? kind_names[k] : "?"; }

const char *rt_rep_role_name(enum rt_rep_role r)
{
    static const char *const n[] = {"model", "teacher", "student (distilled)", "student (scratch)", "quantized"};
    return (unsigned)r < sizeof n / sizeof n[0] ? n[r] : "?";
}

/* ---- small helpers ---- */

static char *cat3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The directory part of p ("." when none), malloc'ed. */
static char *dir_of(const char *p)
{
    const char *s = strrchr(p, '/');
    if (!s) return strdup(".");
    if (s == p) return strdup("/");
    return strndup(p, (size_t)(s - p));
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static bool has_num(const cJSON *o, const char *k) { return cJSON_IsNumber(get(o, k)); }
static const char *get_str(const cJSON *o, const char *k)
{
    const cJSON *x = get(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}


/* A file referenced from inside dir (a recipe's teacher, a quantize JSON's
 * files): as written (relative to the working directory), else by its name
 * in dir, else by its last two components under dir's parent (a runs
 * directory moved as a whole). Canonical path, malloc'ed, or NULL. */
char *rt_rep_resolve(const char *ref, const char *dir)
{
    char *r = realpath(ref, NULL);
    if (r) return r;
    char *p = cat3(dir, "/", base_name(ref));
    if (p) r = realpath(p, NULL);
    free(p);
    if (r) return r;
    const char *b = base_name(ref);
    if (b == ref) return NULL;
    const char *s = b - 1; /* the '/' before the base name; back to the one before the parent's name */
    while (s > ref && s[-1] != '/') s--;
    char *parent = cat3(dir, "/..", "");
    p = parent ? cat3(parent, "/", s) : NULL;
    if (p) r = realpath(p, NULL);
    free(parent);
    free(p);
    return r;
}

/* ---- scanning ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool wanted(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".json")) || !strcmp(name, "log.jsonl") ||
           (n > 12 && !strcmp(name + n - 12, ".safetensors"));
}

static rt_status add_file(rt_rep_index *ix, const char *path)
{
    char *real = realpath(path, NULL);
    if (!real) return rt_error(RT_ERR_IO, "%s: cannot resolve: %s", path, strerror(errno));
    for (int i = 0; i < ix->n_files; i++)
        if (!strcmp(ix->files[i].real, real)) { /* reached twice (nested arguments) */
            free(real);
            return RT_OK;
        }
    if (ix->n_files >= RT_REP_MAX_FILES) {
        free(real);
        return rt_error(RT_ERR_ARG, "%s: more than %d files to read under the given directories", path,
                        RT_REP_MAX_FILES);
    }
    rt_rep_file *f = rt_grow((void **)&ix->files, &ix->n_files, sizeof *f);
    if (!f) {
        free(real);
        return rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    f->real = real;
    f->run = -1;
    f->path = strdup(path);
    return f->path ? RT_OK : rt_error(RT_ERR_NOMEM, "report: out of memory");
}

static rt_status scan(rt_rep_index *ix, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return rt_error(RT_ERR_IO, "%s: cannot read the directory: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0;
    rt_status s = RT_OK;
    struct dirent *e;
    while (s == RT_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char **slot = rt_grow((void **)&names, &n, sizeof *names);
        if (!slot || !(*slot = strdup(e->d_name))) s = rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n && s == RT_OK; i++) {
        char *p = strcmp(dir, "/") ? cat3(dir, "/", names[i]) : cat3("", "/", names[i]);
        struct stat st, lst;
        if (!p) s = rt_error(RT_ERR_NOMEM, "report: out of memory");
        else if (stat(p, &st) != 0 || lstat(p, &lst) != 0) {
            /* a dangling link or a file removed while scanning: nothing to read */
        } else if (S_ISDIR(st.st_mode)) {
            if (!S_ISLNK(lst.st_mode) && depth < RT_REP_MAX_DEPTH) s = scan(ix, p, depth + 1);
        } else if (S_ISREG(st.st_mode) && wanted(names[i])) {
            s = add_file(ix, p);
        }
        free(p);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return s;
}

/* ---- JSON files ---- */

enum rt_rep_kind rt_rep_classify(const cJSON *j, const char **why)
{
    static const struct { const char *type; enum rt_rep_kind k; } types[] = {
        {"eval", RT_REP_EVAL}, {"distill", RT_REP_DISTILL}, {"quantize", RT_REP_QUANTIZE},
        {"bench", RT_REP_BENCH}, {"sweep", RT_REP_SWEEP}, {"recipe", RT_REP_RECIPE}};
    *why = NULL;
    if (!cJSON_IsObject(j)) {
        *why = "not a JSON object";
        return RT_REP_SKIPPED;
    }
    const char *type = get_str(j, "type");
    if (type) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcmp(type, types[i].type)) return types[i].k;
        *why = !strcmp(type, "report") ? "a retort report (output, not input)" : "a \"type\" this report does not read";
        return RT_REP_SKIPPED;
    }
    if (cJSON_IsString(get(j, "task")) && cJSON_IsString(get(j, "primary")) && cJSON_IsObject(get(j, "metrics")))
        return RT_REP_EVAL;
    if (cJSON_IsString(get(j, "metric")) && cJSON_IsObject(get(j, "teacher")) && cJSON_IsObject(get(j, "student")))
        return RT_REP_DISTILL;
    if (has_num(j, "bits") && has_num(j, "bytes") && has_num(j, "fp32_bytes") && get_str(j, "output"))
        return RT_REP_QUANTIZE;
    if (cJSON_IsArray(get(j, "models")) && get_str(j, "rss_method")) return RT_REP_BENCH;
    if (cJSON_IsArray(get(j, "rows")) && get_str(j, "reference")) return RT_REP_SWEEP;
    if (get_str(j, "model") && cJSON_IsObject(get(j, "data"))) return RT_REP_RECIPE;
    *why = cJSON_IsArray(get(j, "claims")) ? "a claims file (retort verify's input)"
                                           : "not an output this report reads";
    return RT_REP_SKIPPED;
}

/* Names under which a file is expected to be a retort output: failing to parse is an error, not a skip. */
static bool output_name(const char *name)
{
    return !strcmp(name, "distill.json") || !strcmp(name, "eval.json") || !strcmp(name, "recipe.json") ||
           !strcmp(name, "bench.json") || !strcmp(name, "sweep.json") || !strncmp(name, "quantize", 8);
}

static rt_status read_json(rt_rep_file *f)
{
    uint8_t *buf;
    size_t len;
    rt_status s = rt_read_file(f->path, RT_REP_MAX_JSON, &buf, &len);
    if (s != RT_OK) return s;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, false);
    size_t at = end ? (size_t)(end - (const char *)buf) : 0;
    while (j && at < len && strchr(" \t\r\n", buf[at])) at++;
    if (j && at != len) {
        cJSON_Delete(j);
        j = NULL;
    }
    free(buf);
    if (!j) {
        if (output_name(base_name(f->path)))
            return rt_error(RT_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", f->path, at);
        f->note = strdup("not valid JSON");
        return f->note ? RT_OK : rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    const char *why;
    f->kind = rt_rep_classify(j, &why);
    if (f->kind == RT_REP_SKIPPED) {
        cJSON_Delete(j);
        f->note = strdup(why);
        return f->note ? RT_OK : rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    f->json = j;
    return RT_OK;
}

/* ---- runs ---- */

static int run_of_dir(const rt_rep_index *ix, const char *dir)
{
    for (int i = 0; i < ix->n_runs; i++)
        if (!strcmp(ix->runs[i].dir, dir)) return i;
    return -1;
}

static int cmp_run(const void *a, const void *b)
{
    return strcmp(((const rt_rep_run *)a)->dir, ((const rt_rep_run *)b)->dir);
}

static rt_status find_runs(rt_rep_index *ix)
{
    for (int i = 0; i < ix->n_files; i++) {
        rt_rep_file *f = &ix->files[i];
        bool runfile = f->kind == RT_REP_RECIPE || f->kind == RT_REP_DISTILL ||
                       (f->kind == RT_REP_LOG && !strcmp(base_name(f->path), "log.jsonl"));
        if (!runfile) continue;
        char *dir = dir_of(f->path);
        if (!dir) return rt_error(RT_ERR_NOMEM, "report: out of memory");
        int r = run_of_dir(ix, dir);
        if (r < 0) {
            rt_rep_run *run = rt_grow((void **)&ix->runs, &ix->n_runs, sizeof *run);
            if (!run) {
                free(dir);
                return rt_error(RT_ERR_NOMEM, "report: out of memory");
            }
            *run = (rt_rep_run){.dir = dir, .log = -1, .recipe = -1, .distill = -1, .parent = -1, .student = -1,
                                .teacher = -1};
            r = ix->n_runs - 1;
        } else {
            free(dir);
        }
        rt_rep_run *run = &ix->runs[r];
        int *slot = f->kind == RT_REP_RECIPE ? &run->recipe : f->kind == RT_REP_DISTILL ? &run->distill : &run->log;
        if (*slot < 0) *slot = i;
    }
    if (ix->n_runs > 1) qsort(ix->runs, (size_t)ix->n_runs, sizeof *ix->runs, cmp_run); /* a run before its baseline/ */
    for (int r = 0; r < ix->n_runs; r++) {
        rt_rep_run *run = &ix->runs[r];
        if (run->log >= 0) {
            rt_status s = rt_runlog_read(&run->log_data, ix->files[run->log].path);
            if (s != RT_OK) return s;
        }
    }
    for (int i = 0; i < ix->n_files; i++) { /* every file belongs to the run of its directory, if any */
        char *dir = dir_of(ix->files[i].path);
        if (!dir) return rt_error(RT_ERR_NOMEM, "report: out of memory");
        ix->files[i].run = run_of_dir(ix, dir);
        free(dir);
    }
    for (int r = 0; r < ix->n_runs; r++) { /* <distill run>/baseline */
        if (strcmp(base_name(ix->runs[r].dir), "baseline")) continue;
        char *parent = dir_of(ix->runs[r].dir);
        if (!parent) return rt_error(RT_ERR_NOMEM, "report: out of memory");
        int p = run_of_dir(ix, parent);
        free(parent);
        if (p >= 0 && ix->runs[p].distill >= 0) ix->runs[r].parent = p;
    }
    for (int r = 0; r < ix->n_runs; r++) { /* the recipe's name; a baseline is "<its run's name> baseline" */
        rt_rep_run *run = &ix->runs[r];
        const char *nm = run->recipe >= 0 ? get_str(ix->files[run->recipe].json, "name") : NULL;
        if (run->parent >= 0) {
            const char *pn = ix->runs[run->parent].recipe >= 0
                                 ? get_str(ix->files[ix->runs[run->parent].recipe].json, "name") : NULL;
            run->name = cat3(pn ? pn : base_name(ix->runs[run->parent].dir), " ", "baseline");
        } else {
            run->name = strdup(nm ? nm : base_name(run->dir));
        }
        if (!run->name) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    return RT_OK;
}

/* ---- models ---- */

static bool same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    char x[65536], y[65536];
    while (same) {
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        same = na == nb && memcmp(x, y, na) == 0;
        if (na < sizeof x) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Accounting of a loaded model: summary's totals. */
static rt_status account(rt_rep_model *m, rt_model *md, const char *path)
{
    rt_summary s;
    rt_status st = rt_summary_build(&s, md, 1);
    if (st != RT_OK) return rt_error(st, "%s: %s", path, rt_errmsg());
    m->params = s.total.params;
    m->buffers = s.total.buffers;
    for (int k = 0; k < 4; k++) m->bytes[k] = (int64_t)s.total.bytes[k];
    snprintf(m->name, sizeof m->name, "%s", md->name[0] ? md->name : md->arch->name);
    snprintf(m->arch, sizeof m->arch, "%s", md->arch->name);
    const rt_metric_info *mi = rt_metric_find(rt_eval_task_metric(md->task));
    m->higher_better = mi ? mi->higher_is_better : true;
    rt_summary_free(&s);
    return RT_OK;
}

/* Load the model file at path (canonical real; fi its file entry or -1) into the index. */
static rt_status load_model(rt_rep_index *ix, const char *path, const char *real, int fi, int64_t data_len, int bits)
{
    rt_model *md;
    rt_status s = rt_model_load(&md, path);
    if (s != RT_OK) return s;
    rt_rep_model *m = rt_grow((void **)&ix->models, &ix->n_models, sizeof *m);
    if (!m) {
        rt_model_free(md);
        return rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    *m = (rt_rep_model){.file = fi, .on_disk = true, .data_bytes = data_len, .bits = bits,
                        .run = fi >= 0 ? ix->files[fi].run : -1, .teacher = -1, .source = -1, .file_bytes = -1};
    struct stat sb;
    if (stat(path, &sb) == 0) m->file_bytes = (int64_t)sb.st_size;
    m->path = strdup(path);
    m->real = strdup(real);
    s = m->path && m->real ? account(m, md, path) : rt_error(RT_ERR_NOMEM, "report: out of memory");
    rt_model_free(md);
    return s;
}

/* What a safetensors file is: a model (its data area and bits), or why not. */
static rt_status probe(const char *path, const char **skip, int64_t *data_len, int *bits)
{
    rt_safetensors st;
    rt_status s = rt_st_open(&st, path);
    if (s != RT_OK) return s;
    const char *kind = rt_st_meta_get(&st, "kind"), *q = rt_st_meta_get(&st, "quantized");
    const char *b = rt_st_meta_get(&st, "bits");
    *skip = kind && !strcmp(kind, "teacher-cache") ? "teacher cache"
            : !rt_st_meta_get(&st, "config")      ? "not a model file (no config in its metadata)"
                                                  : NULL;
    *data_len = (int64_t)st.data_len;
    *bits = q && !strcmp(q, "1") && b && (!strcmp(b, "8") || !strcmp(b, "4")) ? atoi(b) : 32;
    rt_st_close(&st);
    return RT_OK;
}

/* Read one safetensors file of the scan: a model (added to the index), or a reason to skip it. */
static rt_status read_model(rt_rep_index *ix, int fi)
{
    rt_rep_file *f = &ix->files[fi];
    const char *skip = NULL;
    int64_t data_len = 0;
    int bits = 32;
    if (!strcmp(base_name(f->path), "checkpoint.safetensors")) skip = "checkpoint (the run's model files hold its weights)";
    else {
        rt_status s = probe(f->path, &skip, &data_len, &bits);
        if (s != RT_OK) return s;
    }
    if (skip) {
        f->note = strdup(skip);
        return f->note ? RT_OK : rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    f->kind = RT_REP_MODEL;
    return load_model(ix, f->path, f->real, fi, data_len, bits);
}

/* model.safetensors and best.safetensors of one run are often the same bytes: one entry. */
static void merge_identical(rt_rep_index *ix)
{
    for (int i = 0; i < ix->n_models; i++)
        for (int j = i + 1; j < ix->n_models; j++) {
            rt_rep_model *a = &ix->models[i], *b = &ix->models[j];
            if (!a->real || !b->real || a->also || a->file_bytes != b->file_bytes || a->file_bytes < 0) continue;
            char *da = dir_of(a->path), *db = dir_of(b->path);
            bool same_dir = da && db && !strcmp(da, db);
            free(da);
            free(db);
            if (!same_dir || !same_bytes(a->path, b->path)) continue;
            /* keep model.safetensors (the run's last model) as the entry */
            if (!strcmp(base_name(b->path), "model.safetensors")) {
                rt_rep_model t = *a;
                *a = *b;
                *b = t;
            }
            a->also = b->path;
            a->also_real = b->real;
            b->path = b->real = NULL;
            free(b->m);
            memmove(b, b + 1, (size_t)(ix->n_models - j - 1) * sizeof *b);
            ix->n_models--;
            j--;
        }
}

int rt_rep_find_model(const rt_rep_index *ix, const char *path)
{
    char *real = realpath(path, NULL);
    int found = -1;
    for (int i = 0; i < ix->n_models && found < 0; i++) {
        const rt_rep_model *m = &ix->models[i];
        if ((real && m->real && !strcmp(real, m->real)) || (real && m->also_real && !strcmp(real, m->also_real)) ||
            (!m->on_disk && !strcmp(path, m->path)))
            found = i;
    }
    free(real);
    return found;
}

static int find_real(const rt_rep_index *ix, const char *real)
{
    for (int i = 0; real && i < ix->n_models; i++)
        if ((ix->models[i].real && !strcmp(real, ix->models[i].real)) ||
            (ix->models[i].also_real && !strcmp(real, ix->models[i].also_real)))
            return i;
    return -1;
}

int rt_rep_find_run(const rt_rep_index *ix, const char *dir)
{
    char *real = realpath(dir, NULL);
    int found = -1;
    for (int i = 0; real && i < ix->n_runs && found < 0; i++) {
        char *r = realpath(ix->runs[i].dir, NULL);
        if (r && !strcmp(r, real)) found = i;
        free(r);
    }
    free(real);
    return found;
}

/* The model file <run dir>/<name>, or -1. */
static int run_model(const rt_rep_index *ix, int run, const char *name)
{
    char *p = cat3(ix->runs[run].dir, "/", name);
    char *real = p ? realpath(p, NULL) : NULL;
    int m = find_real(ix, real);
    free(p);
    free(real);
    return m;
}

/* ---- measurements and links ---- */

static rt_status add_measure(rt_rep_model *m, const char *metric, double value, const char *data, int file,
                             const char *how, int prio)
{
    if (!metric || !isfinite(value)) return RT_OK; /* null in the file: nothing measured */
    rt_measure *x = rt_grow((void **)&m->m, &m->n_m, sizeof *x);
    if (!x) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    snprintf(x->metric, sizeof x->metric, "%s", metric);
    x->value = value;
    x->file = file;
    x->how = how;
    x->prio = prio;
    if (data && !(x->data = strdup(data))) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    return RT_OK;
}

const rt_measure *rt_rep_measure(const rt_rep_model *m, const char *metric, const char *data)
{
    const rt_measure *best = NULL;
    for (int i = 0; i < m->n_m; i++) {
        const rt_measure *x = &m->m[i];
        if (metric && strcmp(metric, x->metric)) continue;
        if (data && (!x->data || strcmp(data, x->data))) continue;
        if (!best || x->prio < best->prio) best = x;
    }
    return best;
}

static double num_or_nan(const cJSON *o, const char *k)
{
    const cJSON *x = get(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static rt_status need(const rt_rep_file *f, const cJSON *o, const char *key, int type)
{
    const cJSON *x = get(o, key);
    bool ok = x && (type == cJSON_Number ? cJSON_IsNumber(x) : type == cJSON_String ? cJSON_IsString(x)
                                                                                    : cJSON_IsObject(x));
    if (ok) return RT_OK;
    return rt_error(RT_ERR_FORMAT, "%s: \"%s\" is missing or not a%s", f->path, key,
                    type == cJSON_Number ? " number" : type == cJSON_String ? " string" : "n object");
}

/* A teacher outside the scanned directories: loaded from disk when the path resolves, else known from
 * distill.json alone (params, metric). Returns its model index, or -1 with an error. */
static int add_teacher(rt_rep_index *ix, const char *ref, const char *real, const cJSON *dj, rt_status *s)
{
    if (real) {
        const char *skip = NULL;
        int64_t len = 0;
        int bits = 32;
        *s = probe(real, &skip, &len, &bits);
        if (*s == RT_OK && !skip) *s = load_model(ix, ref, real, -1, len, bits);
        if (*s != RT_OK) return -1;
        if (!skip) return ix->n_models - 1;
    }
    rt_rep_model *m = rt_grow((void **)&ix->models, &ix->n_models, sizeof *m);
    if (!m || !(m->path = strdup(ref))) {
        *s = rt_error(RT_ERR_NOMEM, "report: out of memory");
        return -1;
    }
    m->file = m->run = m->teacher = m->source = -1;
    m->data_bytes = m->file_bytes = m->bytes[0] = m->bytes[1] = m->bytes[2] = m->bytes[3] = -1;
    m->bits = 32;
    const cJSON *t = get(dj, "teacher");
    m->params = cJSON_IsNumber(get(t, "params")) ? (int64_t)get(t, "params")->valuedouble : -1;
    m->buffers = -1;
    snprintf(m->name, sizeof m->name, "teacher (file not found)");
    const cJSON *hb = get(dj, "higher_is_better");
    m->higher_better = cJSON_IsBool(hb) ? cJSON_IsTrue(hb) : true;
    *s = RT_OK;
    return ix->n_models - 1;
}

static rt_status link_distill(rt_rep_index *ix, int r)
{
    rt_rep_run *run = &ix->runs[r];
    const rt_rep_file *f = &ix->files[run->distill];
    const cJSON *dj = f->json, *rec = run->recipe >= 0 ? ix->files[run->recipe].json : NULL;
    rt_status s = need(f, dj, "metric", cJSON_String);
    if (s == RT_OK) s = need(f, dj, "teacher", cJSON_Object);
    if (s == RT_OK) s = need(f, dj, "student", cJSON_Object);
    if (s != RT_OK) return s;
    const char *metric = get_str(dj, "metric");
    const char *val = get_str(get(rec, "data"), "val");
    const char *tref = get_str(get(rec, "distill"), "teacher");
    char *treal = tref ? rt_rep_resolve(tref, run->dir) : NULL;
    int t = find_real(ix, treal);
    if (t < 0) {
        char label[700];
        snprintf(label, sizeof label, "teacher of %s%s%s%s", run->name, tref ? " (not found: " : "", tref ? tref : "",
                 tref ? ")" : "");
        t = add_teacher(ix, treal ? tref : label, treal, dj, &s);
    }
    free(treal);
    if (t < 0) return s;
    run->teacher = t;
    run->student = run_model(ix, r, "model.safetensors");
    ix->models[t].role = RT_ROLE_TEACHER;
    ix->models[t].teacher = t;
    for (int i = 0; i < ix->n_models; i++)
        if (ix->models[i].run == r && i != t) ix->models[i].teacher = t;
    if (run->student >= 0) {
        ix->models[run->student].role = RT_ROLE_STUDENT;
        s = add_measure(&ix->models[run->student], metric, num_or_nan(get(dj, "student"), metric), val,
                        run->distill, "distill.json (last epoch, val)", 2);
    }
    if (s == RT_OK)
        s = add_measure(&ix->models[t], metric, num_or_nan(get(dj, "teacher"), metric), val, run->distill,
                        "distill.json (teacher, val)", 2);
    for (int b = 0; b < ix->n_runs && s == RT_OK; b++) {
        if (ix->runs[b].parent != r) continue;
        int bm = run_model(ix, b, "model.safetensors");
        ix->runs[b].student = bm;
        for (int i = 0; i < ix->n_models; i++)
            if (ix->models[i].run == b) ix->models[i].teacher = t;
        if (bm < 0) continue;
        ix->models[bm].role = RT_ROLE_SCRATCH;
        s = add_measure(&ix->models[bm], metric, num_or_nan(get(dj, "baseline"), metric), val, run->distill,
                        "distill.json (baseline, val)", 2);
    }
    return s;
}

static rt_status link_quantize(rt_rep_index *ix, int fi)
{
    const rt_rep_file *f = &ix->files[fi];
    const cJSON *j = f->json, *ev = get(j, "eval");
    rt_status s = need(f, j, "model", cJSON_String);
    if (s != RT_OK) return s;
    char *dir = dir_of(f->path);
    if (!dir) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    char *qr = rt_rep_resolve(get_str(j, "output"), dir), *sr = rt_rep_resolve(get_str(j, "model"), dir);
    int q = find_real(ix, qr), src = find_real(ix, sr);
    free(dir);
    free(qr);
    free(sr);
    if (q >= 0) {
        ix->models[q].role = RT_ROLE_QUANTIZED;
        ix->models[q].source = src;
    }
    if (!ev) return RT_OK;
    if (!cJSON_IsObject(ev)) return rt_error(RT_ERR_FORMAT, "%s: \"eval\" is not an object", f->path);
    s = need(f, ev, "metric", cJSON_String);
    if (s != RT_OK) return s;
    const char *metric = get_str(ev, "metric"), *data = get_str(ev, "data");
    if (q >= 0) s = add_measure(&ix->models[q], metric, num_or_nan(ev, "quantized"), data, fi, "quantize --eval", 1);
    if (src >= 0 && s == RT_OK)
        s = add_measure(&ix->models[src], metric, num_or_nan(ev, "fp32"), data, fi, "quantize --eval (FP32)", 1);
    return s;
}

static rt_status link_eval(rt_rep_index *ix, int fi)
{
    rt_rep_file *f = &ix->files[fi];
    const cJSON *j = f->json;
    rt_status s = need(f, j, "primary", cJSON_String);
    if (s == RT_OK) s = need(f, j, "metrics", cJSON_Object);
    if (s != RT_OK) return s;
    int m = -1;
    const char *file = get_str(j, "file");
    if (file) {
        char *dir = dir_of(f->path), *real = dir ? rt_rep_resolve(file, dir) : NULL;
        m = find_real(ix, real);
        free(dir);
        free(real);
    } else { /* an older eval.json names no file: the one FP32 model of its directory with the name it names */
        const char *name = get_str(j, "model");
        for (int i = 0; i < ix->n_models; i++)
            if (f->run >= 0 && ix->models[i].run == f->run && ix->models[i].bits == 32 && name &&
                !strcmp(name, ix->models[i].name))
                m = m == -1 ? i : -2;
    }
    free(f->note);
    f->note = NULL;
    if (m < 0) {
        f->note = strdup(file ? "not used: it evaluates a file that is not among the models found"
                              : "not used: it names no file, and its directory does not hold exactly one FP32 model "
                                "of the name it gives");
        return f->note ? RT_OK : rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    if (!file) {
        char note[700];
        snprintf(note, sizeof note, "names no file: taken as %.600s, the one FP32 model of its name in its directory",
                 base_name(ix->models[m].path));
        if (!(f->note = strdup(note))) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    }
    const char *primary = get_str(j, "primary");
    return add_measure(&ix->models[m], primary, num_or_nan(get(j, "metrics"), primary), get_str(j, "data"), fi,
                       "eval.json", 0);
}

static rt_status link_logs(rt_rep_index *ix)
{
    rt_status s = RT_OK;
    for (int r = 0; r < ix->n_runs && s == RT_OK; r++) {
        const rt_rep_run *run = &ix->runs[r];
        if (run->log < 0) continue;
        const rt_runlog *l = &run->log_data;
        int m = run_model(ix, r, "model.safetensors"), b = run_model(ix, r, "best.safetensors");
        const rt_log_epoch *last = NULL;
        for (int e = 0; e < l->n_epochs; e++)
            if (l->epochs[e].metric && isfinite(l->epochs[e].val)) last = &l->epochs[e];
        if (m >= 0 && last && l->n_epochs && last == &l->epochs[l->n_epochs - 1])
            s = add_measure(&ix->models[m], last->metric, last->val, last->data, run->log, "log.jsonl (last epoch)", 3);
        if (b >= 0 && s == RT_OK && l->best_metric)
            s = add_measure(&ix->models[b], l->best_metric, l->best, last ? last->data : NULL, run->log,
                            "log.jsonl (best epoch)", 3);
    }
    return s;
}

static rt_status link_all(rt_rep_index *ix)
{
    rt_status s = RT_OK;
    for (int r = 0; r < ix->n_runs && s == RT_OK; r++)
        if (ix->runs[r].distill >= 0) s = link_distill(ix, r);
    for (int i = 0; i < ix->n_files && s == RT_OK; i++) {
        if (ix->files[i].kind == RT_REP_QUANTIZE) s = link_quantize(ix, i);
        else if (ix->files[i].kind == RT_REP_EVAL) s = link_eval(ix, i);
    }
    if (s == RT_OK) s = link_logs(ix);
    for (int i = 0; i < ix->n_models; i++) { /* quantized files compare with their source's teacher */
        rt_rep_model *m = &ix->models[i];
        if (m->bits < 32) m->role = RT_ROLE_QUANTIZED;
        if (m->source >= 0 && ix->models[m->source].teacher >= 0) m->teacher = ix->models[m->source].teacher;
    }
    return s;
}

/* The deepest directory that holds every given directory ("a/b" and "a/c" -> "a"; one directory: itself). */
static rt_status common_base(rt_rep_index *ix)
{
    size_t n = strlen(ix->dirs[0]);
    for (int i = 1; i < ix->n_dirs; i++) {
        const char *d = ix->dirs[i];
        size_t k = 0;
        while (k < n && d[k] == ix->dirs[0][k]) k++;
        if (k == n && (d[k] == '/' || !d[k])) continue;        /* dirs[0] holds d */
        if (!(k == strlen(d) && ix->dirs[0][k] == '/')) {      /* not d holding dirs[0]: back to a '/' */
            while (k > 0 && ix->dirs[0][k] != '/') k--;
        }
        n = k;
    }
    ix->base = strndup(ix->dirs[0], n);
    return ix->base ? RT_OK : rt_error(RT_ERR_NOMEM, "report: out of memory");
}

rt_status rt_rep_index_build(rt_rep_index *ix, const char *const *dirs, int n_dirs)
{
    memset(ix, 0, sizeof *ix);
    rt_status s = RT_OK;
    if (n_dirs < 1) return rt_error(RT_ERR_ARG, "report: no run directory given");
    ix->dirs = calloc((size_t)n_dirs, sizeof *ix->dirs);
    if (!ix->dirs) return rt_error(RT_ERR_NOMEM, "report: out of memory");
    for (int i = 0; i < n_dirs && s == RT_OK; i++) {
        struct stat st;
        size_t n = strlen(dirs[i]);
        while (n > 1 && dirs[i][n - 1] == '/') n--; /* "runs/" -> "runs" */
        if (!(ix->dirs[i] = strndup(dirs[i], n))) s = rt_error(RT_ERR_NOMEM, "report: out of memory");
        else ix->n_dirs++;
        if (s == RT_OK && stat(dirs[i], &st) != 0) s = rt_error(RT_ERR_IO, "%s: %s", dirs[i], strerror(errno));
        else if (s == RT_OK && !S_ISDIR(st.st_mode)) s = rt_error(RT_ERR_ARG, "%s: not a directory", dirs[i]);
        if (s == RT_OK) s = scan(ix, ix->dirs[i], 0);
    }
    if (s == RT_OK) s = common_base(ix);
    for (int i = 0; i < ix->n_files && s == RT_OK; i++) {
        rt_rep_file *f = &ix->files[i];
        const char *nm = base_name(f->path);
        if (!strcmp(nm, "log.jsonl")) f->kind = RT_REP_LOG;
        else if (strlen(nm) > 5 && !strcmp(nm + strlen(nm) - 5, ".json")) s = read_json(f);
    }
    if (s == RT_OK) s = find_runs(ix);
    for (int i = 0; i < ix->n_files && s == RT_OK; i++) {
        const char *nm = base_name(ix->files[i].path);
        if (strlen(nm) > 12 && !strcmp(nm + strlen(nm) - 12, ".safetensors")) s = read_model(ix, i);
    }
    if (s == RT_OK) {
        merge_identical(ix);
        s = link_all(ix);
    }
    if (s != RT_OK) rt_rep_index_free(ix);
    return s;
}

void rt_rep_index_free(rt_rep_index *ix)
{
    for (int i = 0; i < ix->n_dirs; i++) free(ix->dirs[i]);
    free(ix->base);
    for (int i = 0; i < ix->n_files; i++) {
        free(ix->files[i].path);
        free(ix->files[i].real);
        free(ix->files[i].note);
        cJSON_Delete(ix->files[i].json);
    }
    for (int i = 0; i < ix->n_runs; i++) {
        free(ix->runs[i].dir);
        free(ix->runs[i].name);
        if (ix->runs[i].log >= 0) rt_runlog_free(&ix->runs[i].log_data);
    }
    for (int i = 0; i < ix->n_models; i++) {
        rt_rep_model *m = &ix->models[i];
        free(m->path);
        free(m->real);
        free(m->also);
        free(m->also_real);
        for (int k = 0; k < m->n_m; k++) free(m->m[k].data);
        free(m->m);
    }
    free(ix->dirs);
    free(ix->files);
    free(ix->runs);
    free(ix->models);
    memset(ix, 0, sizeof *ix);
}
