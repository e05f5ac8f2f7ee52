/*
 * runlog.c - log.jsonl reader (see runlog.h). Every field is checked before
 * it is used; nothing is allocated from a count read from the file.
 */
#include "report/runlog.h"

#include "io/fileio.h"
#include "report/strbuf.h"
#include "metrics/metrics.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctx {
    rt_runlog *l;
    const char *label;
    int64_t line;
} ctx;

static rt_status bad(const ctx *c, const char *what, const char *key)
{
    return rt_error(RT_ERR_FORMAT, "%s:%lld: %s%s%s%s", c->label, (long long)c->line, key ? "\"" : "", key ? key : "",
                    key ? "\" " : "", what);
}

static rt_status nomem(const ctx *c) { return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label); }

/* A number or null (NaN) under key; absent: *v = NaN, an error if required. */
static rt_status num(const ctx *c, const cJSON *o, const char *key, bool required, double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    *v = NAN;
    if (!x) return required ? bad(c, "is missing", key) : RT_OK;
    if (cJSON_IsNull(x)) return RT_OK;
    if (!cJSON_IsNumber(x)) return bad(c, "is not a number", key);
    *v = x->valuedouble;
    return RT_OK;
}

/* An integral number within [lo, 2^53]. */
static rt_status integer(const ctx *c, const cJSON *o, const char *key, bool required, int64_t lo, int64_t *v)
{
    double d;
    rt_status s = num(c, o, key, required, &d);
    if (s != RT_OK) return s;
    if (isnan(d)) {
        if (required) return bad(c, "is not an integer", key);
        *v = -1;
        return RT_OK;
    }
    if (!(d >= (double)lo && d <= 9007199254740992.0) || d != floor(d)) return bad(c, "is not an integer in range", key);
    *v = (int64_t)d;
    return RT_OK;
}

static char *dup_or_null(const cJSON *x) { return cJSON_IsString(x) && x->valuestring ? strdup(x->valuestring) : NULL; }


static rt_status warnings(const ctx *c, const cJSON *o, const char *where)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "warnings"), *x;
    if (!w) return RT_OK;
    if (!cJSON_IsArray(w)) return bad(c, "is not an array", "warnings");
    cJSON_ArrayForEach(x, w) {
        if (!cJSON_IsString(x)) return bad(c, "holds a value that is not a string", "warnings");
        rt_log_warning *lw = rt_grow((void **)&c->l->warnings, &c->l->n_warnings, sizeof *lw);
        if (!lw) return nomem(c);
        lw->line = c->line;
        lw->where = strdup(where);
        lw->text = strdup(x->valuestring);
        if (!lw->where || !lw->text) return nomem(c);
    }
    return RT_OK;
}

static rt_status epoch_record(const ctx *c, const cJSON *o)
{
    rt_log_epoch *e = rt_grow((void **)&c->l->epochs, &c->l->n_epochs, sizeof *e);
    if (!e) return nomem(c);
    e->val = NAN;
    rt_status s = integer(c, o, "epoch", true, 0, &e->epoch);
    if (s == RT_OK) s = integer(c, o, "step", false, 0, &e->step);
    if (s == RT_OK) s = num(c, o, "train_loss", true, &e->train_loss);
    if (s == RT_OK) s = num(c, o, "seconds", false, &e->seconds);
    if (s != RT_OK) return s;
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "val");
    if (val) {
        if (!cJSON_IsObject(val)) return bad(c, "is not an object", "val");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(val, "primary");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(val, "metrics");
        if (!cJSON_IsString(p) || !cJSON_IsObject(m)) return bad(c, "has no \"primary\" string or \"metrics\" object", "val");
        s = num(c, m, p->valuestring, false, &e->val);
        if (s != RT_OK) return s;
        e->metric = strdup(p->valuestring);
        e->data = dup_or_null(cJSON_GetObjectItemCaseSensitive(val, "data"));
        if (!e->metric) return nomem(c);
    }
    char where[48];
    snprintf(where, sizeof where, "epoch %lld", (long long)e->epoch);
    return warnings(c, o, where);
}

static rt_status monitor_record(const ctx *c, const cJSON *o)
{
    rt_log_check *k = rt_grow((void **)&c->l->checks, &c->l->n_checks, sizeof *k);
    if (!k) return nomem(c);
    rt_status s = integer(c, o, "step", true, 0, &k->step);
    if (s != RT_OK) return s;
    const cJSON *terms = cJSON_GetObjectItemCaseSensitive(o, "terms"), *t;
    if (!cJSON_IsArray(terms)) return bad(c, "is missing or not an array", "terms");
    cJSON_ArrayForEach(t, terms) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (!cJSON_IsObject(t) || !cJSON_IsString(name)) return bad(c, "holds a term without a \"name\"", "terms");
        rt_log_term *lt = rt_grow((void **)&k->terms, &k->n_terms, sizeof *lt);
        if (!lt) return nomem(c);
        if (!(lt->name = strdup(name->valuestring))) return nomem(c);
        s = num(c, t, "loss_share", true, &lt->loss_share);
        if (s == RT_OK) s = num(c, t, "grad_share", true, &lt->grad_share);
        if (s == RT_OK) s = num(c, t, "raw", false, &lt->raw);
        if (s == RT_OK) s = num(c, t, "weighted", false, &lt->weighted);
        if (s == RT_OK) s = num(c, t, "grad_norm", false, &lt->grad_norm);
        if (s != RT_OK) return s;
    }
    char where[48];
    snprintf(where, sizeof where, "step %lld", (long long)k->step);
    return warnings(c, o, where);
}

static rt_status done_record(const ctx *c, const cJSON *o)
{
    rt_runlog *l = c->l;
    rt_status s = integer(c, o, "steps", false, 0, &l->done_steps);
    if (s == RT_OK) s = num(c, o, "seconds", false, &l->done_seconds);
    if (s != RT_OK) return s;
    l->done = true;
    const cJSON *x;
    cJSON_ArrayForEach(x, o) { /* the best validation metric, under its name; other fields are left alone */
        if (!x->string || !rt_metric_find(x->string)) continue;
        if (!cJSON_IsNumber(x) && !cJSON_IsNull(x)) return bad(c, "is not a number", x->string);
        free(l->best_metric);
        if (!(l->best_metric = strdup(x->string))) return nomem(c);
        l->best = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    }
    return RT_OK;
}

static rt_status record(const ctx *c, const cJSON *o)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(type)) return bad(c, "is missing or not a string", "type");
    const char *t = type->valuestring;
    if (!strcmp(t, "step")) {
        int64_t step;
        rt_status s = integer(c, o, "step", true, 0, &step);
        if (s == RT_OK) c->l->n_steps++;
        return s;
    }
    if (!strcmp(t, "epoch")) return epoch_record(c, o);
    if (!strcmp(t, "monitor")) return monitor_record(c, o);
    if (!strcmp(t, "done")) return done_record(c, o);
    c->l->unknown++;
    return RT_OK;
}

rt_status rt_runlog_parse(rt_runlog *l, const char *buf, size_t len, const char *label)
{
    memset(l, 0, sizeof *l);
    l->best = l->done_seconds = NAN;
    l->done_steps = -1;
    ctx c = {.l = l, .label = label ? label : "log.jsonl"};
    size_t pos = 0;
    rt_status s = RT_OK;
    while (pos < len && s == RT_OK) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
        const char *line = buf + pos;
        pos = end + 1;
        c.line++;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t')) lead++;
        if (lead == n) continue;
        l->lines++;
        const char *stop = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(line + lead, n - lead, &stop, false);
        bool whole = o && stop == line + n;
        if (!whole || !cJSON_IsObject(o)) {
            cJSON_Delete(o);
            if (!nl) { /* the last line, no newline after it: cut short by a killed writer */
                l->truncated = true;
                l->lines--;
                break;
            }
            s = bad(&c, "not a JSON object", NULL);
            break;
        }
        s = record(&c, o);
        cJSON_Delete(o);
    }
    if (s != RT_OK) rt_runlog_free(l);
    return s;
}

rt_status rt_runlog_read(rt_runlog *l, const char *path)
{
    uint8_t *buf;
    size_t len;
    memset(l, 0, sizeof *l);
    rt_status s = rt_read_file(path, RT_RUNLOG_MAX_BYTES, &buf, &len);
    if (s != RT_OK) return s;
    s = rt_runlog_parse(l, (const char *)buf, len, path);
    free(buf);
    return s;
}

void rt_runlog_free(rt_runlog *l)
{
    for (int i = 0; i < l->n_epochs; i++) {
        free(l->epochs[i].metric);
        free(l->epochs[i].data);
    }
    for (int i = 0; i < l->n_checks; i++) {
        for (int k = 0; k < l->checks[i].n_terms; k++) free(l->checks[i].terms[k].name);
        free(l->checks[i].terms);
    }
    for (int i = 0; i < l->n_warnings; i++) {
        free(l->warnings[i].where);
        free(l->warnings[i].text);
    }
    free(l->epochs);
    free(l->checks);
    free(l->warnings);
    free(l->best_metric);
    memset(l, 0, sizeof *l);
}
