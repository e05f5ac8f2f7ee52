/*
 * verify.c - claims: parsing (the file and each stated value), judging
 * against an interval, and measuring each quantity through the run index
 * (see verify.h; the rules are spelled out in docs/report.md).
 */
#include "report/verify.h"

#include "io/fileio.h"
#include "report/strbuf.h"
#include "report/summary.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const q_names[RT_Q_COUNT] = {
    [RT_Q_PARAMS] = "params",         [RT_Q_BYTES] = "bytes",         [RT_Q_FILE_BYTES] = "file_bytes",
    [RT_Q_COMPRESSION] = "compression", [RT_Q_METRIC] = "metric",     [RT_Q_RETENTION] = "retention",
    [RT_Q_GAIN] = "gain",             [RT_Q_GRAD_SHARE] = "grad_share", [RT_Q_LOSS_SHARE] = "loss_share",
    [RT_Q_SPEEDUP] = "speedup",       [RT_Q_JSON] = "json",
};
_Static_assert(sizeof q_names / sizeof q_names[0] == RT_Q_COUNT, "q_names out of sync");

const char *rt_quantity_name(enum rt_quantity q) { return (unsigned)q < RT_Q_COUNT ? q_names[q] : "?"; }

const char *rt_verdict_name(enum rt_verdict v)
{
    return v == RT_VERDICT_TRUE ? "TRUE" : v == RT_VERDICT_FALSE ? "FALSE" : "UNSUPPORTED";
}

/* ---- stated values ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* [+-]digits[.digits][e[+-]digits] (or [+-].digits): the value and 10^-(decimals - exponent). */
static const char *scan_number(const char *p, double *v, double *ulp)
{
    const char *s = p;
    if (*p == '+' || *p == '-') p++;
    int int_digits = 0, dec = 0, ex = 0;
    while (isdigit((unsigned char)*p)) p++, int_digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++, dec++;
    }
    if (int_digits + dec == 0) return NULL;
    if ((*p == 'e' || *p == 'E') &&
        (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
        char *end;
        long e = strtol(p + 1, &end, 10);
        if (e < -300 || e > 300) return NULL;
        ex = (int)e;
        p = end;
    }
    char buf[64];
    if ((size_t)(p - s) >= sizeof buf) return NULL;
    memcpy(buf, s, (size_t)(p - s));
    buf[p - s] = 0;
    *v = strtod(buf, NULL);
    *ulp = pow(10, ex - dec);
    return isfinite(*v) ? p : NULL;
}

/* An optional unit after a number: % x X × K k M G. */
static const char *scan_unit(const char *p, enum rt_unit *u, double *scale)
{
    p = skip_ws(p);
    *u = RT_UNIT_PLAIN;
    *scale = 1;
    if (*p == '%') *u = RT_UNIT_PERCENT, *scale = 0.01, p++;
    else if (*p == 'x' || *p == 'X') *u = RT_UNIT_TIMES, p++;
    else if (!strncmp(p, "\xC3\x97", 2)) *u = RT_UNIT_TIMES, p += 2; /* × */
    else if (*p == 'K' || *p == 'k') *u = RT_UNIT_SI, *scale = 1e3, p++;
    else if (*p == 'M') *u = RT_UNIT_SI, *scale = 1e6, p++;
    else if (*p == 'G') *u = RT_UNIT_SI, *scale = 1e9, p++;
    return p;
}

typedef struct quantity_text {
    double v, ulp, scale;
    enum rt_unit unit;
    bool has_unit;
} quantity_text;

static const char *scan_quantity(const char *p, quantity_text *q)
{
    p = scan_number(skip_ws(p), &q->v, &q->ulp);
    if (!p) return NULL;
    const char *u = scan_unit(p, &q->unit, &q->scale);
    q->has_unit = u != skip_ws(p);
    return skip_ws(u);
}

static const char accepted[] = "expected a value (27802, 27.8K, 90.4%, 7.2x), a range (10-15x, 5% to 10%) or a "
                               "comparison (>= 5%, < 2)";

rt_status rt_stated_parse(rt_stated *s, const char *text)
{
    memset(s, 0, sizeof *s);
    snprintf(s->text, sizeof s->text, "%s", text);
    const char *p = skip_ws(text);
    static const struct { const char *t, *op; } ops[] = {{">=", ">="}, {"\xE2\x89\xA5", ">="}, {"<=", "<="},
                                                        {"\xE2\x89\xA4", "<="}, {"==", "="},  {">", ">"},
                                                        {"<", "<"},            {"=", "="}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strncmp(p, ops[i].t, strlen(ops[i].t))) {
            snprintf(s->op, sizeof s->op, "%s", ops[i].op);
            p += strlen(ops[i].t);
            break;
        }
    quantity_text a, b;
    const char *q = scan_quantity(p, &a);
    if (!q) return rt_error(RT_ERR_FORMAT, "cannot read '%s' (%s)", text, accepted);
    s->unit = a.unit;
    s->scale = a.scale;
    if (!*q) {
        s->form = s->op[0] && strcmp(s->op, "=") ? RT_STATED_CMP : RT_STATED_VALUE;
        s->v = a.v * a.scale;
        s->half_unit = s->form == RT_STATED_VALUE ? 0.5 * a.ulp * a.scale : 0;
        if (!strcmp(s->op, "=")) s->op[0] = 0;
        return RT_OK;
    }
    if (s->op[0]) return rt_error(RT_ERR_FORMAT, "cannot read '%s' (%s)", text, accepted);
    /* a range: A-B, A to B, A..B, A–B (en dash) */
    if (*q == '-') q++;
    else if (!strncmp(q, "..", 2)) q += 2;
    else if (!strncmp(q, "to", 2) && (q[2] == ' ' || q[2] == '\t')) q += 2;
    else if (!strncmp(q, "\xE2\x80\x93", 3)) q += 3;
    else return rt_error(RT_ERR_FORMAT, "cannot read '%s' (%s)", text, accepted);
    q = scan_quantity(q, &b);
    if (!q || *q) return rt_error(RT_ERR_FORMAT, "cannot read '%s' (%s)", text, accepted);
    if (a.has_unit && b.has_unit && a.unit != b.unit)
        return rt_error(RT_ERR_FORMAT, "'%s': the two ends of the range have different units", text);
    if (!a.has_unit) a.unit = b.unit, a.scale = b.scale; /* "10-15x": the unit applies to both ends */
    s->form = RT_STATED_RANGE;
    s->unit = b.has_unit ? b.unit : a.unit;
    s->scale = b.has_unit ? b.scale : a.scale;
    s->lo = a.v * a.scale;
    s->hi = b.v * (b.has_unit ? b.scale : a.scale);
    if (!(s->lo <= s->hi)) return rt_error(RT_ERR_FORMAT, "'%s': the range's low end is above its high end", text);
    return RT_OK;
}

/* A JSON number as its shortest decimal form ("0.904", not 0.90400000000000003). */
static void shortest(char *buf, size_t n, double v)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static rt_status stated_from_json(rt_stated *s, const cJSON *x, const char *what)
{
    char buf[64];
    if (cJSON_IsNumber(x)) {
        shortest(buf, sizeof buf, x->valuedouble);
        return rt_stated_parse(s, buf);
    }
    if (cJSON_IsString(x)) return rt_stated_parse(s, x->valuestring);
    if (cJSON_IsArray(x) && cJSON_GetArraySize(x) == 2) { /* [lo, hi] */
        rt_stated a, b;
        rt_status st = stated_from_json(&a, cJSON_GetArrayItem(x, 0), what);
        if (st == RT_OK) st = stated_from_json(&b, cJSON_GetArrayItem(x, 1), what);
        if (st != RT_OK) return st;
        if (a.form != RT_STATED_VALUE || b.form != RT_STATED_VALUE)
            return rt_error(RT_ERR_FORMAT, "a range [lo, hi] holds two values");
        if (a.unit != RT_UNIT_PLAIN && b.unit != RT_UNIT_PLAIN && a.unit != b.unit)
            return rt_error(RT_ERR_FORMAT, "the two ends of the range have different units");
        if (!(a.v <= b.v)) return rt_error(RT_ERR_FORMAT, "the range's low end is above its high end");
        *s = (rt_stated){.form = RT_STATED_RANGE, .lo = a.v, .hi = b.v, .unit = b.unit ? b.unit : a.unit,
                         .scale = b.unit ? b.scale : a.scale};
        snprintf(s->text, sizeof s->text, "[%.37s, %.37s]", a.text, b.text);
        return RT_OK;
    }
    return rt_error(RT_ERR_FORMAT, "%s must be a number, a string or [lo, hi]", what);
}

/* ---- the claims file ---- */

#define QM(q) (1u << (q))
#define Q_ALL ((1u << RT_Q_COUNT) - 1)
static const struct field {
    const char *name;
    unsigned quantities;        /* the quantities it applies to */
    unsigned required;          /* ... and those that need it */
} fields[] = {
    {"text", Q_ALL, 0},
    {"quantity", Q_ALL, Q_ALL},
    {"stated", Q_ALL, Q_ALL},
    {"tolerance", Q_ALL, 0},
    {"model", QM(RT_Q_PARAMS) | QM(RT_Q_BYTES) | QM(RT_Q_FILE_BYTES) | QM(RT_Q_METRIC) | QM(RT_Q_SPEEDUP),
     QM(RT_Q_PARAMS) | QM(RT_Q_BYTES) | QM(RT_Q_FILE_BYTES) | QM(RT_Q_SPEEDUP)},
    {"at", QM(RT_Q_BYTES), 0},
    {"teacher", QM(RT_Q_COMPRESSION), QM(RT_Q_COMPRESSION)},
    {"student", QM(RT_Q_COMPRESSION), QM(RT_Q_COMPRESSION)},
    {"basis", QM(RT_Q_COMPRESSION), 0},
    {"run", QM(RT_Q_METRIC) | QM(RT_Q_RETENTION) | QM(RT_Q_GAIN) | QM(RT_Q_GRAD_SHARE) | QM(RT_Q_LOSS_SHARE),
     QM(RT_Q_RETENTION) | QM(RT_Q_GAIN) | QM(RT_Q_GRAD_SHARE) | QM(RT_Q_LOSS_SHARE)},
    {"metric", QM(RT_Q_METRIC), 0},
    {"data", QM(RT_Q_METRIC), 0},
    {"term", QM(RT_Q_GRAD_SHARE) | QM(RT_Q_LOSS_SHARE), QM(RT_Q_GRAD_SHARE) | QM(RT_Q_LOSS_SHARE)},
    {"over", QM(RT_Q_GRAD_SHARE) | QM(RT_Q_LOSS_SHARE), 0},
    {"file", QM(RT_Q_JSON), QM(RT_Q_JSON)},
    {"key", QM(RT_Q_JSON), QM(RT_Q_JSON)},
};
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])

typedef struct pctx {
    const char *label;
    int idx; /* 1-based claim */
} pctx;

static rt_status bad(const pctx *p, const char *field, const char *fmt, const char *arg)
{
    char what[400];
    snprintf(what, sizeof what, fmt, arg);
    if (field) return rt_error(RT_ERR_FORMAT, "%s: claim %d: \"%s\": %s", p->label, p->idx, field, what);
    return rt_error(RT_ERR_FORMAT, "%s: claim %d: %s", p->label, p->idx, what);
}

static rt_status str_field(const pctx *p, const cJSON *o, const char *k, char **out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!x) return RT_OK;
    if (!cJSON_IsString(x) || !x->valuestring[0]) return bad(p, k, "%s", "must be a non-empty string");
    if (!(*out = strdup(x->valuestring))) return rt_error(RT_ERR_NOMEM, "%s: out of memory", p->label);
    return RT_OK;
}

static rt_status tolerance(const pctx *p, const cJSON *x, rt_claim *c)
{
    if (!x) return RT_OK;
    c->has_tol = true;
    if (cJSON_IsNumber(x)) {
        c->tol = x->valuedouble * (c->stated.scale > 0 ? c->stated.scale : 1);
        if (!(x->valuedouble >= 0) || !isfinite(c->tol)) return bad(p, "tolerance", "%s", "must be >= 0");
        return RT_OK;
    }
    if (cJSON_IsString(x)) {
        char *end;
        double v = strtod(x->valuestring, &end);
        end = (char *)skip_ws(end);
        if (end != x->valuestring && *end == '%' && !*skip_ws(end + 1) && v >= 0 && isfinite(v)) {
            c->tol_rel = true;
            c->tol = v / 100;
            return RT_OK;
        }
    }
    return bad(p, "tolerance", "%s", "must be a number (absolute, in the stated unit) or \"N%\" (relative)");
}

static rt_status choice(const pctx *p, const cJSON *o, const char *k, const char *const *names, int n, int *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!x) return RT_OK;
    for (int i = 0; cJSON_IsString(x) && i < n; i++)
        if (!strcmp(x->valuestring, names[i])) {
            *out = i;
            return RT_OK;
        }
    char list[200] = "";
    for (int i = 0; i < n; i++) {
        strcat(list, i ? ", " : "one of ");
        strcat(list, names[i]);
    }
    return bad(p, k, "must be %s", list);
}

static rt_status claim_parse(const pctx *p, const cJSON *o, rt_claim *c)
{
    if (!cJSON_IsObject(o)) return bad(p, NULL, "%s", "not a JSON object");
    const cJSON *qx = cJSON_GetObjectItemCaseSensitive(o, "quantity");
    if (!qx) return bad(p, "quantity", "%s", "is missing");
    int q = -1;
    for (int i = 0; cJSON_IsString(qx) && i < RT_Q_COUNT; i++)
        if (!strcmp(qx->valuestring, q_names[i])) q = i;
    if (q < 0)
        return bad(p, "quantity", "%s", "must be one of params, bytes, file_bytes, compression, metric, retention, "
                                        "gain, grad_share, loss_share, speedup, json");
    c->q = (enum rt_quantity)q;
    const cJSON *x;
    cJSON_ArrayForEach(x, o) {
        int f = 0;
        while (f < N_FIELDS && strcmp(fields[f].name, x->string)) f++;
        if (f == N_FIELDS) return bad(p, x->string, "%s", "unknown field");
        if (!(fields[f].quantities & QM(c->q))) return bad(p, x->string, "does not apply to quantity \"%s\"", q_names[q]);
    }
    for (int f = 0; f < N_FIELDS; f++)
        if ((fields[f].required & QM(c->q)) && !cJSON_GetObjectItemCaseSensitive(o, fields[f].name))
            return bad(p, fields[f].name, "is missing (quantity \"%s\" needs it)", q_names[q]);
    rt_status s = RT_OK;
    char **sf[] = {&c->text, &c->model, &c->teacher, &c->student, &c->run, &c->term, &c->metric, &c->data, &c->file};
    static const char *sn[] = {"text", "model", "teacher", "student", "run", "term", "metric", "data", "file"};
    for (size_t i = 0; i < sizeof sf / sizeof sf[0] && s == RT_OK; i++) s = str_field(p, o, sn[i], sf[i]);
    if (s != RT_OK) return s;
    if (c->q == RT_Q_METRIC && !!c->model == !!c->run) return bad(p, NULL, "%s", "a metric claim names a \"model\" or a \"run\" (one of them)");
    static const char *ats[] = {"fp32", "fp16", "int8", "int4"}, *bases[] = {"bytes", "params"};
    static const char *overs[] = {"mean", "min", "max", "first", "last"};
    int at = -1, basis = 0, over = 0;
    s = choice(p, o, "at", ats, 4, &at);
    if (s == RT_OK) s = choice(p, o, "basis", bases, 2, &basis);
    if (s == RT_OK) s = choice(p, o, "over", overs, 5, &over);
    if (s != RT_OK) return s;
    c->at = at;
    c->by_params = basis == 1;
    c->over = (enum rt_over)over;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");
    if (key) {
        bool ok = (cJSON_IsString(key) && key->valuestring[0]) || (cJSON_IsArray(key) && cJSON_GetArraySize(key) > 0);
        for (const cJSON *k = cJSON_IsArray(key) ? key->child : NULL; k && ok; k = k->next)
            ok = (cJSON_IsString(k) && k->valuestring[0]) || (cJSON_IsNumber(k) && k->valuedouble >= 0 &&
                                                              k->valuedouble == floor(k->valuedouble) && k->valuedouble < 1e9);
        if (!ok) return bad(p, "key", "%s", "must be \"a.b.0\" or [\"a\", \"b\", 0]");
        if (!(c->key = cJSON_Duplicate(key, true))) return rt_error(RT_ERR_NOMEM, "%s: out of memory", p->label);
    }
    if (stated_from_json(&c->stated, cJSON_GetObjectItemCaseSensitive(o, "stated"), "it") != RT_OK)
        return bad(p, "stated", "%s", rt_errmsg());
    s = tolerance(p, cJSON_GetObjectItemCaseSensitive(o, "tolerance"), c);
    if (s != RT_OK || c->text) return s;
    char t[300];
    const char *who = c->model ? c->model : c->run ? c->run : c->file ? c->file : c->student ? c->student : "?";
    snprintf(t, sizeof t, "%s%s%s of %s: %s", q_names[q], c->term ? " " : "", c->term ? c->term : "", who,
             c->stated.text);
    return (c->text = strdup(t)) ? RT_OK : rt_error(RT_ERR_NOMEM, "%s: out of memory", p->label);
}

static void claim_free(rt_claim *c)
{
    char *f[] = {c->text, c->model, c->teacher, c->student, c->run, c->term, c->metric, c->data, c->file};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    cJSON_Delete(c->key);
}

void rt_claims_free(rt_claims *cl)
{
    for (int i = 0; i < cl->n; i++) claim_free(&cl->c[i]);
    free(cl->c);
    *cl = (rt_claims){0};
}

rt_status rt_claims_parse(rt_claims *cl, const char *json, size_t len, const char *label)
{
    memset(cl, 0, sizeof *cl);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    size_t at = end ? (size_t)(end - json) : 0;
    while (root && at < len && strchr(" \t\r\n", json[at])) at++;
    if (!root || at != len) {
        cJSON_Delete(root);
        return rt_error(RT_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", label, at);
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "claims"), *x;
    rt_status s = RT_OK;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (!cJSON_IsObject(root) || n < 0) s = rt_error(RT_ERR_FORMAT, "%s: no \"claims\" array", label);
    else if (n == 0) s = rt_error(RT_ERR_FORMAT, "%s: the \"claims\" array is empty", label);
    else if (n > RT_CLAIMS_MAX) s = rt_error(RT_ERR_FORMAT, "%s: more than %d claims", label, RT_CLAIMS_MAX);
    cJSON_ArrayForEach(x, root) {
        if (s == RT_OK && x->string && strcmp(x->string, "claims") && strcmp(x->string, "description"))
            s = rt_error(RT_ERR_FORMAT, "%s: unknown top-level field \"%s\" (a claims file holds \"claims\" and an "
                                        "optional \"description\")", label, x->string);
    }
    if (s == RT_OK && !(cl->c = calloc((size_t)n, sizeof *cl->c))) s = rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    int i = 0;
    const cJSON *list = s == RT_OK ? arr : NULL;
    cJSON_ArrayForEach(x, list) {
        pctx p = {.label = label, .idx = i + 1};
        cl->n = i + 1;
        s = claim_parse(&p, x, &cl->c[i++]);
        if (s != RT_OK) break;
    }
    cJSON_Delete(root);
    if (s != RT_OK) rt_claims_free(cl);
    return s;
}

rt_status rt_claims_read(rt_claims *cl, const char *path)
{
    uint8_t *buf;
    size_t len;
    memset(cl, 0, sizeof *cl);
    rt_status s = rt_read_file(path, RT_REP_MAX_JSON, &buf, &len);
    if (s != RT_OK) return s;
    s = rt_claims_parse(cl, (const char *)buf, len, path);
    free(buf);
    return s;
}

/* ---- judging ---- */

static double slack(double bound) { return 1e-9 * fabs(bound); }

enum rt_verdict rt_verify_judge(const rt_claim *c, double m, rt_claim_result *r)
{
    const rt_stated *s = &c->stated;
    double tol_lo = 0, tol_hi = 0;
    r->lo_strict = r->hi_strict = false;
    switch (s->form) {
    case RT_STATED_VALUE:
        tol_lo = tol_hi = !c->has_tol ? s->half_unit : c->tol_rel ? c->tol * fabs(s->v) : c->tol;
        r->lo = s->v - tol_lo;
        r->hi = s->v + tol_hi;
        break;
    case RT_STATED_RANGE:
        tol_lo = !c->has_tol ? 0 : c->tol_rel ? c->tol * fabs(s->lo) : c->tol;
        tol_hi = !c->has_tol ? 0 : c->tol_rel ? c->tol * fabs(s->hi) : c->tol;
        r->lo = s->lo - tol_lo;
        r->hi = s->hi + tol_hi;
        break;
    case RT_STATED_CMP: {
        double t = !c->has_tol ? 0 : c->tol_rel ? c->tol * fabs(s->v) : c->tol;
        bool above = s->op[0] == '>';
        r->lo = above ? s->v - t : -INFINITY;
        r->hi = above ? INFINITY : s->v + t;
        r->lo_strict = above && !s->op[1];
        r->hi_strict = !above && !s->op[1];
        break;
    }
    }
    r->measured = m;
    if (!isfinite(m)) return r->verdict = RT_VERDICT_UNSUPPORTED;
    bool ok_lo = r->lo_strict ? m > r->lo + slack(r->lo) : m >= r->lo - slack(r->lo);
    bool ok_hi = r->hi_strict ? m < r->hi - slack(r->hi) : m <= r->hi + slack(r->hi);
    if (isinf(r->lo)) ok_lo = true;
    if (isinf(r->hi)) ok_hi = true;
    return r->verdict = ok_lo && ok_hi ? RT_VERDICT_TRUE : RT_VERDICT_FALSE;
}

const char *rt_verify_fmt(char *buf, size_t n, const rt_claim *c, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", isnan(v) ? "-" : v > 0 ? "inf" : "-inf");
        return buf;
    }
    switch (c->stated.unit) {
    case RT_UNIT_PERCENT: snprintf(buf, n, "%.6g%%", 100 * v); break;
    case RT_UNIT_TIMES: snprintf(buf, n, "%.6gx", v); break;
    default:
        if (v == floor(v) && fabs(v) < 1e15) rt_fmt_int(buf, n, (long long)v);
        else snprintf(buf, n, "%.10g", v);
    }
    return buf;
}

/* ---- measuring ---- */

static void unsupported(rt_claim_result *r, const char *fmt, const char *a, const char *b)
{
    r->verdict = RT_VERDICT_UNSUPPORTED;
    r->measured = NAN;
    snprintf(r->detail, sizeof r->detail, fmt, a, b ? b : "");
}

/* A path as written (relative to the working directory), else under each run directory given, else under
 * their common parent. */
static char *find_path(const rt_rep_index *ix, const char *p)
{
    struct stat st;
    if (stat(p, &st) == 0) return strdup(p);
    for (int i = 0; i <= ix->n_dirs; i++) {
        const char *d = i < ix->n_dirs ? ix->dirs[i] : ix->base;
        if (!d || !d[0] || p[0] == '/') continue;
        size_t n = strlen(d) + strlen(p) + 2;
        char *q = malloc(n);
        if (!q) return NULL;
        snprintf(q, n, "%s/%s", d, p);
        if (stat(q, &st) == 0) return q;
        free(q);
    }
    return NULL;
}

/* The model a claim names: a model file, or a run directory (its model.safetensors). */
static const rt_rep_model *claim_model(const rt_rep_index *ix, const char *ref, rt_claim_result *r)
{
    char *p = find_path(ix, ref);
    struct stat st;
    if (p && stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(p) + sizeof "/model.safetensors";
        char *q = malloc(n);
        if (q) snprintf(q, n, "%s/model.safetensors", p);
        free(p);
        p = q;
    }
    int m = p ? rt_rep_find_model(ix, p) : -1;
    if (m >= 0) snprintf(r->source, sizeof r->source, "%s", p); /* the file as the claim names it */
    free(p);
    if (m < 0) {
        unsupported(r, "no model file '%s' among those found under the run directories", ref, NULL);
        return NULL;
    }
    return &ix->models[m];
}

static const rt_rep_run *claim_run(const rt_rep_index *ix, const char *ref, rt_claim_result *r)
{
    char *p = find_path(ix, ref);
    int k = p ? rt_rep_find_run(ix, p) : -1;
    free(p);
    if (k < 0) {
        unsupported(r, "no run directory '%s' (with log.jsonl, recipe.json or distill.json) under the run directories",
                    ref, NULL);
        return NULL;
    }
    return &ix->runs[k];
}

static double share(const rt_claim *c, const rt_rep_index *ix, const rt_rep_run *run, rt_claim_result *r)
{
    const rt_runlog *l = run->log >= 0 ? &run->log_data : NULL;
    if (!l || l->n_checks == 0) {
        unsupported(r, "%s has no monitor records in log.jsonl", run->dir, NULL);
        return NAN;
    }
    bool grad = c->q == RT_Q_GRAD_SHARE;
    double sum = 0, mn = INFINITY, mx = -INFINITY, first = NAN, last = NAN;
    int n = 0;
    char names[300] = "";
    for (int k = 0; k < l->n_checks; k++)
        for (int t = 0; t < l->checks[k].n_terms; t++) {
            const rt_log_term *lt = &l->checks[k].terms[t];
            if (k == 0 && strlen(names) + strlen(lt->name) + 3 < sizeof names) {
                if (names[0]) strcat(names, ", ");
                strcat(names, lt->name);
            }
            if (strcmp(lt->name, c->term)) continue;
            double v = grad ? lt->grad_share : lt->loss_share;
            sum += v;
            mn = fmin(mn, v);
            mx = fmax(mx, v);
            if (n++ == 0) first = v;
            last = v;
        }
    if (n == 0) {
        unsupported(r, "no term '%s' in the monitor records (terms: %s)", c->term, names);
        return NAN;
    }
    static const char *on[] = {"mean", "min", "max", "first", "last"};
    snprintf(r->source, sizeof r->source, "%s", ix->files[run->log].path);
    snprintf(r->detail, sizeof r->detail, "%s of the %s share of term '%s' over %d monitor checks", on[c->over],
             grad ? "gradient" : "loss", c->term, n);
    double v[] = {sum / n, mn, mx, first, last};
    return v[c->over];
}

static double metric_of(const rt_claim *c, const rt_rep_index *ix, rt_claim_result *r)
{
    const rt_rep_model *m = NULL;
    if (c->run) {
        const rt_rep_run *run = claim_run(ix, c->run, r);
        if (!run) return NAN;
        size_t n = strlen(run->dir) + sizeof "/model.safetensors";
        char *p = malloc(n);
        if (p) snprintf(p, n, "%s/model.safetensors", run->dir);
        int k = p ? rt_rep_find_model(ix, p) : -1;
        free(p);
        if (k < 0) {
            unsupported(r, "run %s has no model.safetensors", run->dir, NULL);
            return NAN;
        }
        m = &ix->models[k];
    } else if (!(m = claim_model(ix, c->model, r))) {
        return NAN;
    }
    char who[600];
    snprintf(who, sizeof who, "%s", c->run ? m->path : r->source);
    const rt_measure *x = rt_rep_measure(m, c->metric, c->data);
    if (!x) {
        unsupported(r, "no measured %s for %.500s", c->metric ? c->metric : "metric", who);
        return NAN;
    }
    snprintf(r->source, sizeof r->source, "%s", ix->files[x->file].path);
    snprintf(r->detail, sizeof r->detail, "%s of %.400s on %.120s (%s)", x->metric, who, x->data ? x->data : "?",
             x->how);
    return x->value;
}

static double distill_value(const rt_claim *c, const rt_rep_index *ix, rt_claim_result *r)
{
    const rt_rep_run *run = claim_run(ix, c->run, r);
    if (!run) return NAN;
    const char *key = c->q == RT_Q_RETENTION ? "retention" : "gain";
    if (run->distill < 0) {
        unsupported(r, "run %s has no distill.json", run->dir, NULL);
        return NAN;
    }
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(ix->files[run->distill].json, key);
    snprintf(r->source, sizeof r->source, "%s", ix->files[run->distill].path);
    if (!cJSON_IsNumber(x)) {
        unsupported(r, "%s has no number \"%s\"", ix->files[run->distill].path, key);
        return NAN;
    }
    snprintf(r->detail, sizeof r->detail, "\"%s\" of %.500s", key, ix->files[run->distill].path);
    return x->valuedouble;
}

static double speedup(const rt_claim *c, const rt_rep_index *ix, rt_claim_result *r)
{
    const rt_rep_model *m = claim_model(ix, c->model, r);
    if (!m) return NAN;
    for (int f = 0; f < ix->n_files; f++) {
        if (ix->files[f].kind != RT_REP_BENCH) continue;
        const cJSON *row;
        cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(ix->files[f].json, "models")) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(row, "path");
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, "speedup");
            if (!cJSON_IsString(p) || !cJSON_IsNumber(v)) continue;
            char *dir = strdup(ix->files[f].path), *slash = dir ? strrchr(dir, '/') : NULL;
            if (slash) *slash = 0;
            char *real = dir ? rt_rep_resolve(p->valuestring, slash ? dir : ".") : NULL;
            free(dir);
            bool same = real && ((m->real && !strcmp(real, m->real)) || (m->also_real && !strcmp(real, m->also_real)));
            free(real);
            if (!same) continue;
            snprintf(r->source, sizeof r->source, "%s", ix->files[f].path);
            snprintf(r->detail, sizeof r->detail, "retort bench speedup of %s (the first model's p50 / its p50)",
                     p->valuestring);
            return v->valuedouble;
        }
    }
    unsupported(r, "no retort bench result for %.500s", r->source, NULL);
    return NAN;
}

static double json_value(const rt_claim *c, const rt_rep_index *ix, rt_claim_result *r)
{
    char *p = find_path(ix, c->file);
    uint8_t *buf = NULL;
    size_t len;
    if (!p || rt_read_file(p, RT_REP_MAX_JSON, &buf, &len) != RT_OK) {
        unsupported(r, "cannot read '%s'", c->file, NULL);
        free(p);
        return NAN;
    }
    snprintf(r->source, sizeof r->source, "%s", p);
    free(p);
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    const cJSON *x = root;
    char path[300] = "", part[128];
    const cJSON *k = cJSON_IsArray(c->key) ? c->key->child : NULL;
    const char *s = cJSON_IsString(c->key) ? c->key->valuestring : NULL;
    while (x && (k || (s && *s))) {
        if (k) {
            if (cJSON_IsNumber(k)) snprintf(part, sizeof part, "%d", (int)k->valuedouble);
            else snprintf(part, sizeof part, "%s", k->valuestring);
            k = k->next;
        } else {
            size_t n = strcspn(s, ".");
            snprintf(part, sizeof part, "%.*s", (int)(n < sizeof part ? n : sizeof part - 1), s);
            s += n + (s[n] == '.');
        }
        if (strlen(path) + strlen(part) + 2 < sizeof path) {
            if (path[0]) strcat(path, ".");
            strcat(path, part);
        }
        char *end;
        long i = strtol(part, &end, 10);
        x = cJSON_IsArray(x) && *part && !*end && i >= 0 ? cJSON_GetArrayItem(x, (int)i)
                                                         : cJSON_GetObjectItemCaseSensitive(x, part);
    }
    double v = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    if (!root) unsupported(r, "%.500s is not valid JSON", r->source, NULL);
    else if (!x) unsupported(r, "no key '%.200s' in %.350s", path, r->source);
    else if (!cJSON_IsNumber(x)) unsupported(r, "'%.200s' in %.350s is not a number", path, r->source);
    else snprintf(r->detail, sizeof r->detail, "\"%.200s\" of %.350s", path, r->source);
    cJSON_Delete(root);
    return v;
}

void rt_verify_claim(const rt_rep_index *ix, const rt_claim *c, rt_claim_result *r)
{
    memset(r, 0, sizeof *r);
    double v = NAN;
    const rt_rep_model *m, *t;
    static const char *at_names[] = {"FP32", "FP16", "INT8", "INT4"};
    switch (c->q) {
    case RT_Q_PARAMS:
    case RT_Q_BYTES:
    case RT_Q_FILE_BYTES:
        if (!(m = claim_model(ix, c->model, r))) break;
        v = c->q == RT_Q_PARAMS ? (double)m->params
            : c->q == RT_Q_FILE_BYTES ? (double)m->file_bytes
            : c->at >= 0 ? (double)m->bytes[c->at] : (double)m->data_bytes;
        if (v < 0) v = NAN;
        snprintf(r->detail, sizeof r->detail, "%s of %.500s", c->q == RT_Q_PARAMS ? "exact parameter count"
                 : c->q == RT_Q_FILE_BYTES ? "file size in bytes"
                 : c->at >= 0 ? at_names[c->at] : "stored tensor bytes", r->source);
        if (c->q == RT_Q_BYTES && c->at >= 0)
            snprintf(r->detail + strlen(r->detail), sizeof r->detail - strlen(r->detail), " (bytes at %s, plan.h)",
                     at_names[c->at]);
        break;
    case RT_Q_COMPRESSION:
        if (!(t = claim_model(ix, c->teacher, r))) break;
        char tp[600];
        snprintf(tp, sizeof tp, "%s", r->source);
        if (!(m = claim_model(ix, c->student, r))) break;
        char sp[600];
        snprintf(sp, sizeof sp, "%s", r->source);
        if (c->by_params) v = m->params > 0 && t->params > 0 ? (double)t->params / (double)m->params : NAN;
        else v = m->data_bytes > 0 && t->data_bytes > 0 ? (double)t->data_bytes / (double)m->data_bytes : NAN;
        snprintf(r->source, sizeof r->source, "%.290s, %.290s", tp, sp);
        snprintf(r->detail, sizeof r->detail, "%s of %.270s / %s of %.270s", c->by_params ? "parameters" : "stored bytes",
                 tp, c->by_params ? "parameters" : "stored bytes", sp);
        break;
    case RT_Q_METRIC: v = metric_of(c, ix, r); break;
    case RT_Q_RETENTION:
    case RT_Q_GAIN: v = distill_value(c, ix, r); break;
    case RT_Q_GRAD_SHARE:
    case RT_Q_LOSS_SHARE: {
        const rt_rep_run *run = claim_run(ix, c->run, r);
        if (run) v = share(c, ix, run, r);
        break;
    }
    case RT_Q_SPEEDUP: v = speedup(c, ix, r); break;
    case RT_Q_JSON: v = json_value(c, ix, r); break;
    case RT_Q_COUNT: break;
    }
    bool reason = r->verdict == RT_VERDICT_UNSUPPORTED; /* unsupported() said why */
    if (isnan(v) && !reason) {
        size_t n = strlen(r->detail);
        snprintf(r->detail + n, sizeof r->detail - n, "%sno value recorded", n ? ": " : "");
    }
    rt_verify_judge(c, v, r); /* also records the accepted interval */
}

/* ---- output ---- */

/* "27,750 to 27,850", ">= 5%", "> 4.5%", "<= 2" */
static void accepted_str(char *buf, size_t n, const rt_claim *c, const rt_claim_result *r)
{
    char a[64], b[64];
    if (isinf(r->lo) && isinf(r->hi)) snprintf(buf, n, "anything");
    else if (isinf(r->hi)) snprintf(buf, n, "%s %s", r->lo_strict ? ">" : ">=", rt_verify_fmt(a, sizeof a, c, r->lo));
    else if (isinf(r->lo)) snprintf(buf, n, "%s %s", r->hi_strict ? "<" : "<=", rt_verify_fmt(a, sizeof a, c, r->hi));
    else snprintf(buf, n, "%s to %s", rt_verify_fmt(a, sizeof a, c, r->lo), rt_verify_fmt(b, sizeof b, c, r->hi));
}

void rt_verify_print(FILE *f, const rt_claims *cl, const rt_claim_result *r)
{
    int n[3] = {0};
    for (int i = 0; i < cl->n; i++) {
        const rt_claim *c = &cl->c[i];
        char m[64], acc[160];
        n[r[i].verdict]++;
        accepted_str(acc, sizeof acc, c, &r[i]);
        fprintf(f, "%3d  %-11s  %s\n", i + 1, rt_verdict_name(r[i].verdict), c->text);
        if (r[i].verdict == RT_VERDICT_UNSUPPORTED)
            fprintf(f, "                  %s; stated %s\n", r[i].detail, c->stated.text);
        else if (c->stated.form != RT_STATED_VALUE && !c->has_tol)
            fprintf(f, "                  measured %s (%s); stated %s\n", rt_verify_fmt(m, sizeof m, c, r[i].measured),
                    r[i].detail, c->stated.text);
        else
            fprintf(f, "                  measured %s (%s); stated %s, accepted %s\n",
                    rt_verify_fmt(m, sizeof m, c, r[i].measured), r[i].detail, c->stated.text, acc);
    }
    fprintf(f, "verify: %d claim%s: %d TRUE, %d FALSE", cl->n, cl->n == 1 ? "" : "s", n[0], n[1]);
    for (int v = 1; v <= 2; v++) {
        if (v == 2) fprintf(f, ", %d UNSUPPORTED", n[2]);
        if (!n[v]) continue;
        fprintf(f, " (claim%s", n[v] > 1 ? "s" : "");
        for (int i = 0, k = 0; i < cl->n; i++)
            if ((int)r[i].verdict == v) fprintf(f, "%s%d", k++ ? ", " : " ", i + 1);
        fprintf(f, ")");
    }
    fprintf(f, "\n");
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

cJSON *rt_verify_json(const rt_claims *cl, const rt_claim_result *r)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "results");
    int n[3] = {0};
    for (int i = 0; arr && i < cl->n; i++) {
        const rt_claim *c = &cl->c[i];
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddItemToArray(arr, e);
        n[r[i].verdict]++;
        cJSON_AddNumberToObject(e, "claim", i + 1);
        cJSON_AddStringToObject(e, "text", c->text);
        cJSON_AddStringToObject(e, "quantity", q_names[c->q]);
        cJSON_AddStringToObject(e, "verdict", rt_verdict_name(r[i].verdict));
        cJSON_AddItemToObject(e, "measured", num_or_null(r[i].measured));
        cJSON_AddStringToObject(e, "stated", c->stated.text);
        cJSON *acc = cJSON_AddObjectToObject(e, "accepted");
        cJSON_AddItemToObject(acc, "lo", num_or_null(r[i].lo));
        cJSON_AddItemToObject(acc, "hi", num_or_null(r[i].hi));
        cJSON_AddBoolToObject(acc, "lo_inclusive", !r[i].lo_strict && isfinite(r[i].lo));
        cJSON_AddBoolToObject(acc, "hi_inclusive", !r[i].hi_strict && isfinite(r[i].hi));
        cJSON_AddStringToObject(e, "source", r[i].source);
        cJSON_AddStringToObject(e, "detail", r[i].detail);
    }
    cJSON *s = cJSON_AddObjectToObject(o, "summary");
    cJSON_AddNumberToObject(s, "claims", cl->n);
    cJSON_AddNumberToObject(s, "true", n[0]);
    cJSON_AddNumberToObject(s, "false", n[1]);
    cJSON_AddNumberToObject(s, "unsupported", n[2]);
    return o;
}
