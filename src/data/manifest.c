/*
 * manifest.c - CSV audio manifests as datasets (see manifest.h).
 *
 * open: read and parse the CSV (rows keep their problems) -> resolve paths
 * against the manifest's directory -> one work item per distinct file ->
 * features of every item through the cache, in parallel (OpenMP, one file
 * per thread; the front end's own threading stays inside one thread here)
 * -> rows in line order: the first bad one stops the open, or each bad one
 * is skipped and listed -> pad / window into x (and full for crops) ->
 * rt_dataset_from_arrays for the shared checks.
 *
 * Under stop, items whose first row lies after a row already known to be
 * bad are not computed: the reported row is always the first bad one in
 * line order, on any thread count.
 */
#include "data/manifest.h"

#include "data/featcache.h"
#include "io/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS (RT_MANIFEST_MAX_TARGETS + 2) /* one more than a header may have: "too many" */
#define MAX_X_FLOATS ((int64_t)1 << 36)           /* 256 GiB of features: refuse beyond */

/* ---- CSV ------------------------------------------------------------------- */

void rt_manifest_free(rt_manifest *m)
{
    for (int i = 0; i < m->n_targets; i++) free(m->target_names[i]);
    for (int64_t i = 0; i < m->n_rows; i++) {
        free(m->rows[i].path);
        free(m->rows[i].error);
    }
    free(m->rows);
    free(m->targets);
    memset(m, 0, sizeof *m);
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/*
 * Split one line s[0..n) into fields, written NUL-terminated into buf
 * (>= n + 1 bytes) with starts in f[0..MAX_FIELDS). Returns the field count
 * (which may exceed MAX_FIELDS; only the first MAX_FIELDS are stored), or
 * -1 with *err set.
 */
static int split_fields(const char *s, size_t n, char *buf, char **f, const char **err)
{
    size_t i = 0;
    char *o = buf;
    int count = 0;
    for (;;) {
        while (i < n && is_blank(s[i])) i++;
        char *start = o;
        if (i < n && s[i] == '"') {
            for (i++;; i++) {
                if (i >= n) return *err = "unterminated quoted field", -1;
                if (s[i] == '"' && i + 1 < n && s[i + 1] == '"') *o++ = s[i++];
                else if (s[i] == '"') break;
                else *o++ = s[i];
            }
            for (i++; i < n && is_blank(s[i]); i++) {}
            if (i < n && s[i] != ',') return *err = "text after a closing quote", -1;
        } else {
            for (; i < n && s[i] != ','; i++) {
                if (s[i] == '"') return *err = "a quote inside an unquoted field", -1;
                *o++ = s[i];
            }
            while (o > start && is_blank(o[-1])) o--;
        }
        *o++ = 0;
        if (count < MAX_FIELDS) f[count] = start;
        count++;
        if (i >= n) return count;
        i++; /* the comma */
    }
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static rt_status set_row_error(rt_manifest_row *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rt_status set_row_error(rt_manifest_row *r, const char *name, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->error = dup_str(msg);
    return r->error ? RT_OK : rt_error(RT_ERR_NOMEM, "%s: out of memory", name);
}

static rt_status parse_header(rt_manifest *m, char **f, int nf, const char *name, int64_t line)
{
    if (nf < 2 || strcmp(f[0], "path"))
        return rt_error(RT_ERR_FORMAT, "%s:%lld: header must name the columns: path,label or path,TARGET,... "
                                       "(e.g. path,valence,arousal)", name, (long long)line);
    if (nf > RT_MANIFEST_MAX_TARGETS + 1)
        return rt_error(RT_ERR_FORMAT, "%s:%lld: header has more than %d target columns", name, (long long)line,
                        RT_MANIFEST_MAX_TARGETS);
    if (nf == 2 && !strcmp(f[1], "label")) return RT_OK;
    for (int i = 1; i < nf; i++) {
        if (!f[i][0] || !strcmp(f[i], "path") || !strcmp(f[i], "label"))
            return rt_error(RT_ERR_FORMAT, "%s:%lld: header column %d is '%s' (a label column stands alone: "
                                           "path,label; target columns need distinct other names)",
                            name, (long long)line, i + 1, f[i]);
        for (int j = 1; j < i; j++)
            if (!strcmp(f[i], f[j]))
                return rt_error(RT_ERR_FORMAT, "%s:%lld: header names column '%s' twice", name, (long long)line,
                                f[i]);
    }
    for (int i = 1; i < nf; i++) {
        if (!(m->target_names[i - 1] = dup_str(f[i])))
            return rt_error(RT_ERR_NOMEM, "%s: out of memory", name);
        m->n_targets = i;
    }
    return RT_OK;
}

/* Fill row r from its fields (problems go into r->error). */
static rt_status parse_row(rt_manifest *m, rt_manifest_row *r, char **f, int nf, const char *name)
{
    int want = m->n_targets ? m->n_targets + 1 : 2;
    if (nf != want) return set_row_error(r, name, "%d fields, the header has %d", nf, want);
    if (!f[0][0]) return set_row_error(r, name, "empty path");
    if (strlen(f[0]) >= RT_MANIFEST_MAX_PATH) return set_row_error(r, name, "path longer than %d bytes",
                                                                   RT_MANIFEST_MAX_PATH - 1);
    if (!(r->path = dup_str(f[0]))) return rt_error(RT_ERR_NOMEM, "%s: out of memory", name);
    char *end;
    if (!m->n_targets) {
        errno = 0;
        long long v = strtoll(f[1], &end, 10);
        if (!f[1][0] || *end || errno || v < 0 || v >= RT_DATASET_MAX_CLASSES)
            return set_row_error(r, name, "label '%.40s' is not a class index (an integer in [0, %d))", f[1],
                                 RT_DATASET_MAX_CLASSES);
        r->label = (int32_t)v;
        return RT_OK;
    }
    for (int k = 0; k < m->n_targets; k++) {
        double v = strtod(f[k + 1], &end);
        if (!f[k + 1][0] || *end || !isfinite(v) || fabs(v) > 3.4e38)
            return set_row_error(r, name, "%s '%.40s' is not a finite number", m->target_names[k], f[k + 1]);
        r->y[k] = (float)v;
    }
    return RT_OK;
}

/* Append a row for `line`; its y points at targets the caller fills (indices fixed up at the end). */
static rt_status add_row(rt_manifest *m, int64_t *cap, int64_t line, const char *name)
{
    if (m->n_rows == *cap) {
        int64_t nc = *cap ? 2 * *cap : 64;
        rt_manifest_row *nr = realloc(m->rows, (size_t)nc * sizeof *nr);
        float *nt = nr ? realloc(m->targets, (size_t)nc * (size_t)(m->n_targets ? m->n_targets : 1) * sizeof *nt)
                       : NULL;
        if (nr) m->rows = nr;
        if (!nt) return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld rows", name, (long long)nc);
        m->targets = nt;
        *cap = nc;
    }
    rt_manifest_row *r = &m->rows[m->n_rows++];
    memset(r, 0, sizeof *r);
    r->line = line;
    r->y = m->targets + (m->n_rows - 1) * m->n_targets;
    return RT_OK;
}

rt_status rt_manifest_parse(rt_manifest *m, const char *text, size_t len, const char *name)
{
    memset(m, 0, sizeof *m);
    if (len > RT_MANIFEST_MAX_BYTES)
        return rt_error(RT_ERR_FORMAT, "%s: manifest of %zu bytes is larger than the limit", name, len);
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3, len -= 3;
    char *buf = malloc(len + 1), *f[MAX_FIELDS];
    if (!buf) return rt_error(RT_ERR_NOMEM, "%s: out of memory", name);
    rt_status s = RT_OK;
    bool have_header = false;
    int64_t line = 0, cap = 0;
    for (size_t pos = 0; pos < len && s == RT_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        const char *ln = text + pos;
        pos = end + 1;
        line++;
        if (n && ln[n - 1] == '\r') n--;
        size_t k = 0;
        while (k < n && (is_blank(ln[k]) || ln[k] == '\r')) k++;
        if (k == n) continue; /* blank line */
        const char *err = NULL;
        int nf = memchr(ln, 0, n) ? (err = "a NUL byte", -1) : split_fields(ln, n, buf, f, &err);
        if (!have_header) {
            if (nf < 0) s = rt_error(RT_ERR_FORMAT, "%s:%lld: header: %s", name, (long long)line, err);
            else s = parse_header(m, f, nf, name, line);
            have_header = true;
            continue;
        }
        if ((s = add_row(m, &cap, line, name)) != RT_OK) break;
        rt_manifest_row *r = &m->rows[m->n_rows - 1];
        s = nf < 0 ? set_row_error(r, name, "%s", err) : parse_row(m, r, f, nf, name);
    }
    free(buf);
    if (s == RT_OK && !have_header) s = rt_error(RT_ERR_FORMAT, "%s: empty manifest (no header row)", name);
    if (s != RT_OK) {
        rt_manifest_free(m);
        return s;
    }
    for (int64_t i = 0; i < m->n_rows; i++) m->rows[i].y = m->targets + i * m->n_targets; /* after reallocs */
    return RT_OK;
}

/* ---- options --------------------------------------------------------------- */

/* Integer options: the key, where it goes (an int inside the options), its range. */
struct int_key {
    const char *name;
    size_t offset;
    long lo, hi;
};

static const struct int_key int_keys[] = {
    {"sr", offsetof(rt_manifest_opts, mel.sr), 1, 1000000},
    {"n_fft", offsetof(rt_manifest_opts, mel.n_fft), 2, 1 << 20},
    {"hop", offsetof(rt_manifest_opts, mel.hop), 1, 1 << 24},
    {"win", offsetof(rt_manifest_opts, mel.win), 1, 1 << 20},
    {"n_mels", offsetof(rt_manifest_opts, mel.n_mels), 1, 4096},
    {"channels", offsetof(rt_manifest_opts, mel.channels), 0, 64},
    {"power", offsetof(rt_manifest_opts, mel.power), 1, 2},
    {"freq_masks", offsetof(rt_manifest_opts, specaug.freq_masks), 0, RT_SPECAUG_MAX_MASKS},
    {"freq_width", offsetof(rt_manifest_opts, specaug.freq_width), 0, 1 << 20},
    {"time_masks", offsetof(rt_manifest_opts, specaug.time_masks), 0, RT_SPECAUG_MAX_MASKS},
    {"time_width", offsetof(rt_manifest_opts, specaug.time_width), 0, 1 << 20},
};

static bool parse_num(const char *v, double lo, double hi, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= lo && d <= hi)) return false;
    *out = d;
    return true;
}

/* One of two words: *flag = (v == yes). */
static bool parse_choice(const char *v, const char *yes, const char *no, bool *flag)
{
    if (strcmp(v, yes) && strcmp(v, no)) return false;
    *flag = !strcmp(v, yes);
    return true;
}

/* Words and numbers other than the int_keys; returns what was expected, or NULL when v was taken. */
static const char *apply_word(rt_manifest_opts *o, const char *k, const char *v)
{
    struct rt_mel_config *c = &o->mel;
    double d;
    if (!strcmp(k, "fmin")) return parse_num(v, 0, 1e7, &c->fmin) ? NULL : "a frequency >= 0";
    if (!strcmp(k, "fmax")) return parse_num(v, 1e-9, 1e7, &c->fmax) ? NULL : "a frequency > 0";
    if (!strcmp(k, "top_db")) {
        if (!strcmp(v, "none")) return c->top_db = -1, NULL;
        return parse_num(v, 0, 1e6, &c->top_db) ? NULL : "a number >= 0 or none";
    }
    if (!strcmp(k, "ref")) return parse_choice(v, "max", "1", &c->ref_max) ? NULL : "max or 1";
    if (!strcmp(k, "mel_norm")) return parse_choice(v, "slaney", "none", &c->slaney_norm) ? NULL : "slaney or none";
    if (!strcmp(k, "htk")) return parse_choice(v, "1", "0", &c->htk) ? NULL : "0 or 1";
    if (!strcmp(k, "cmn")) return parse_choice(v, "1", "0", &c->cmn) ? NULL : "0 or 1";
    if (!strcmp(k, "on_bad_row")) return parse_choice(v, "skip", "stop", &o->skip_bad) ? NULL : "stop or skip";
    if (!strcmp(k, "resize")) {
        int h = 0, w = 0, used = 0;
        if (!strcmp(v, "none")) return c->resize_h = c->resize_w = 0, NULL;
        if (sscanf(v, "%5dx%5d%n", &h, &w, &used) != 2 || v[used] || h < 1 || w < 1 || h > 16384 || w > 16384)
            return "HxW (e.g. 224x224) or none";
        c->resize_h = h;
        c->resize_w = w;
        return NULL;
    }
    if (!strcmp(k, "crop")) {
        if (!parse_num(v, 1, RT_MANIFEST_MAX_CROP, &d) || d != floor(d)) return "a whole number of frames >= 1";
        o->crop = (int64_t)d;
        return NULL;
    }
    if (!strcmp(k, "pad")) {
        if (!strcmp(v, "min")) return o->pad_min = true, NULL;
        if (!parse_num(v, -1e30, 1e30, &d)) return "min or a number";
        o->pad_min = false;
        o->pad = (float)d;
        return NULL;
    }
    if (!strcmp(k, "cache")) {
        if (!strcmp(v, "none")) return o->cache[0] = 0, NULL;
        if (strlen(v) >= sizeof o->cache - 80) return "a shorter directory";
        snprintf(o->cache, sizeof o->cache, "%s", v);
        return NULL;
    }
    return "";
}

static rt_status apply_key(rt_manifest_opts *o, const char *k, const char *v, const char *spec)
{
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
        if (strcmp(k, int_keys[i].name)) continue;
        double d;
        if (!parse_num(v, (double)int_keys[i].lo, (double)int_keys[i].hi, &d) || d != floor(d))
            return rt_error(RT_ERR_ARG, "%s: %s=%s: expected an integer in [%ld, %ld]", spec, k, v, int_keys[i].lo,
                            int_keys[i].hi);
        *(int *)((char *)o + int_keys[i].offset) = (int)d;
        return RT_OK;
    }
    const char *want = apply_word(o, k, v);
    if (want && !*want)
        return rt_error(RT_ERR_ARG, "%s: unknown option '%s' (preset, sr, n_fft, hop, win, n_mels, fmin, fmax, htk, "
                                    "mel_norm, power, ref, top_db, cmn, resize, channels, crop, pad, cache, "
                                    "on_bad_row, freq_masks, freq_width, time_masks, time_width)", spec, k);
    if (want) return rt_error(RT_ERR_ARG, "%s: %s=%s: expected %s", spec, k, v, want);
    return RT_OK;
}

static void default_cache(char *out, size_t cap)
{
    const char *e = getenv("RETORT_FEATURE_CACHE"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    out[0] = 0;
    if (e && *e) snprintf(out, cap, "%s", e);
    else if (x && *x == '/') snprintf(out, cap, "%s/retort/features", x);
    else if (h && *h == '/') snprintf(out, cap, "%s/.cache/retort/features", h);
}

rt_status rt_manifest_opts_parse(rt_manifest_opts *o, const char *query, const char *spec)
{
    memset(o, 0, sizeof *o);
    rt_mel_config_default(&o->mel);
    o->pad_min = true;
    default_cache(o->cache, sizeof o->cache);
    char buf[4096], *keys[64];
    int nk = 0;
    if (!query) query = "";
    if (strlen(query) >= sizeof buf) return rt_error(RT_ERR_ARG, "%s: options too long", spec);
    strcpy(buf, query);
    /* Split at '&' into k=v pairs; the preset first, wherever it stands. */
    for (char *p = buf; *p;) {
        char *amp = strchr(p, '&'), *eq = strchr(p, '=');
        if (amp) *amp = 0;
        if (!eq || (amp && eq > amp) || eq == p || !eq[1])
            return rt_error(RT_ERR_ARG, "%s: option '%s' is not KEY=VALUE", spec, p);
        *eq = 0;
        for (int i = 0; i < nk; i++)
            if (!strcmp(keys[i], p)) return rt_error(RT_ERR_ARG, "%s: option '%s' given twice", spec, p);
        if (nk == 64) return rt_error(RT_ERR_ARG, "%s: too many options", spec);
        keys[nk++] = p;
        if (!strcmp(p, "preset") && strcmp(eq + 1, "default") && rt_mel_config_preset(&o->mel, eq + 1) != RT_OK)
            return rt_error(RT_ERR_ARG, "%s: preset=%s: expected default, emotion or speaker", spec, eq + 1);
        if (!amp) break;
        p = amp + 1;
        if (!*p) return rt_error(RT_ERR_ARG, "%s: empty option after '&'", spec);
    }
    rt_status s = RT_OK;
    for (int i = 0; i < nk && s == RT_OK; i++)
        if (strcmp(keys[i], "preset")) s = apply_key(o, keys[i], keys[i] + strlen(keys[i]) + 1, spec);
    if (s != RT_OK) return s;
    if (o->crop && o->mel.resize_h)
        return rt_error(RT_ERR_ARG, "%s: crop needs variable-length features (it cannot go with resize)", spec);
    if (rt_mel_config_check(&o->mel) != RT_OK) return rt_error(RT_ERR_ARG, "%s: %s", spec, rt_errmsg());
    return RT_OK;
}

/* ---- opening ----------------------------------------------------------------- */

void rt_manifest_window(float *out, const float *in, int64_t rows, int64_t len, int64_t start, int64_t width)
{
    RT_ASSERT(start >= 0 && start + width <= len);
    for (int64_t r = 0; r < rows; r++)
        memcpy(out + r * width, in + r * len + start, (size_t)width * sizeof(float));
}

/* One distinct audio file and its features. */
struct item {
    char *file;         /* resolved path; owned */
    int64_t first_row;  /* lowest row index that names it */
    struct rt_mel_out m;
    rt_status s;        /* RT_OK, an error, or RT_STATUS_COUNT: not computed */
    char *err;          /* the error's message; owned */
    bool hit;
};

struct open_state {
    const char *path;         /* the manifest */
    const rt_manifest_opts *o;
    rt_manifest man;
    struct item *items;
    int64_t n_items;
    int64_t *item_of;         /* per row: its item, or -1 (a row with a parse error) */
};

static void state_free(struct open_state *st)
{
    for (int64_t i = 0; i < st->n_items; i++) {
        free(st->items[i].file);
        free(st->items[i].err);
        rt_mel_out_free(&st->items[i].m);
    }
    free(st->items);
    free(st->item_of);
    rt_manifest_free(&st->man);
}

struct by_path {
    const char *file;
    int64_t row;
};

static int cmp_by_path(const void *a, const void *b)
{
    const struct by_path *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

static int cmp_item_row(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return (x->first_row > y->first_row) - (x->first_row < y->first_row);
}

/* dir/path, or path when absolute (malloc'ed; NULL when out of memory). */
static char *resolve(const char *dir, int dir_len, const char *path)
{
    size_t need = strlen(path) + (size_t)dir_len + 2;
    char *f = malloc(need);
    if (f && path[0] == '/') snprintf(f, need, "%s", path);
    else if (f) snprintf(f, need, "%.*s/%s", dir_len, dir, path);
    return f;
}

/* Resolve each good row's path and group rows naming the same file into
 * items, ordered by their first row; item_of maps rows to items. */
static rt_status make_items(struct open_state *st)
{
    const rt_manifest *m = &st->man;
    const char *slash = strrchr(st->path, '/');
    int dir_len = slash ? (int)(slash - st->path) : 1;
    const char *dir = slash ? st->path : ".";
    size_t cap = (size_t)(m->n_rows ? m->n_rows : 1);
    struct by_path *bp = malloc(cap * sizeof *bp);
    int64_t *first_of_group = malloc(cap * sizeof *first_of_group), *item_at_row = malloc(cap * sizeof *item_at_row);
    st->items = calloc(cap, sizeof *st->items);
    st->item_of = malloc(cap * sizeof *st->item_of);
    rt_status s = RT_OK;
    if (!bp || !first_of_group || !item_at_row || !st->items || !st->item_of) {
        s = rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld rows", st->path, (long long)m->n_rows);
        goto done;
    }
    int64_t nb = 0;
    for (int64_t i = 0; i < m->n_rows; i++) {
        st->item_of[i] = -1;
        if (m->rows[i].error) continue;
        if (!(bp[nb].file = resolve(dir, dir_len, m->rows[i].path))) {
            s = rt_error(RT_ERR_NOMEM, "%s: out of memory for paths", st->path);
            break;
        }
        bp[nb++].row = i;
    }
    if (s != RT_OK) {
        for (int64_t i = 0; i < nb; i++) free((char *)bp[i].file);
        goto done;
    }
    qsort(bp, (size_t)nb, sizeof *bp, cmp_by_path);
    for (int64_t i = 0; i < nb; i++) { /* groups of one file; the first (lowest row) keeps the name */
        bool same = i && !strcmp(bp[i].file, bp[i - 1].file);
        if (same) free((char *)bp[i].file);
        else {
            first_of_group[st->n_items] = bp[i].row;
            st->items[st->n_items++] = (struct item){.file = (char *)bp[i].file, .first_row = bp[i].row,
                                                     .s = RT_STATUS_COUNT};
        }
        st->item_of[bp[i].row] = st->n_items - 1; /* group index for now */
    }
    qsort(st->items, (size_t)st->n_items, sizeof *st->items, cmp_item_row);
    for (int64_t k = 0; k < st->n_items; k++) item_at_row[st->items[k].first_row] = k;
    for (int64_t i = 0; i < m->n_rows; i++)
        if (st->item_of[i] >= 0) st->item_of[i] = item_at_row[first_of_group[st->item_of[i]]];
done:
    free(bp);
    free(first_of_group);
    free(item_at_row);
    return s;
}

/* Features of every item through the cache (channels are added later). */
static void compute_items(struct open_state *st, int64_t first_bad)
{
    struct rt_mel_config c = st->o->mel;
    c.channels = 0;
    const char *cache = st->o->cache[0] ? st->o->cache : NULL;
    bool stop = !st->o->skip_bad;
    _Atomic int64_t bad = first_bad;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t k = 0; k < st->n_items; k++) {
        struct item *it = &st->items[k];
        if (stop && it->first_row > atomic_load(&bad)) continue; /* a row before it already stops the open */
        it->s = rt_featcache_get(cache, it->file, &c, &it->m, &it->hit);
        if (it->s == RT_OK) continue;
        it->err = dup_str(rt_errmsg());
        int64_t cur = atomic_load(&bad);
        while (it->first_row < cur && !atomic_compare_exchange_weak(&bad, &cur, it->first_row)) {}
    }
}

/* Append "<manifest>:<line>: <why>\n" to the skipped list. */
static rt_status note_skip(rt_dataset *ds, size_t *len, const char *manifest, int64_t line, const char *why)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s:%lld: %s\n", manifest, (long long)line, why);
    size_t add = n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1 : (size_t)n;
    char *p = realloc(ds->skipped, *len + add + 1);
    if (!p) return rt_error(RT_ERR_NOMEM, "%s: out of memory", manifest);
    memcpy(p + *len, msg, add);
    *len += add;
    p[*len] = 0;
    ds->skipped = p;
    return RT_OK;
}

/* Rows in line order: under stop the first bad row is the error; under skip bad rows are listed.
 * keep[i] marks the rows that go into the dataset. */
static rt_status sort_rows(struct open_state *st, bool *keep, rt_dataset *skipped, int64_t *n_keep)
{
    size_t len = 0;
    *n_keep = 0;
    for (int64_t i = 0; i < st->man.n_rows; i++) {
        const rt_manifest_row *r = &st->man.rows[i];
        const struct item *it = st->item_of[i] >= 0 ? &st->items[st->item_of[i]] : NULL;
        RT_ASSERT(r->error || it->s != RT_STATUS_COUNT); /* only items after a bad row are left out */
        const char *why = r->error ? r->error : it->s != RT_OK ? (it->err ? it->err : "out of memory") : NULL;
        if (why && !st->o->skip_bad)
            return rt_error(r->error ? RT_ERR_FORMAT : it->s, "%s:%lld: %s", st->path, (long long)r->line, why);
        if (why) {
            rt_status s = note_skip(skipped, &len, st->path, r->line, why);
            if (s != RT_OK) return s;
            skipped->n_skipped++;
            continue;
        }
        keep[i] = true;
        ++*n_keep;
    }
    if (!*n_keep)
        return rt_error(RT_ERR_FORMAT, "%s: no usable rows (%lld bad rows skipped)", st->path,
                        (long long)skipped->n_skipped);
    return RT_OK;
}

/* dst (rows, width) <- src (rows, len <= width), each row padded with pad. */
static void put_padded(float *dst, int64_t width, const float *src, int64_t rows, int64_t len, float pad)
{
    for (int64_t r = 0; r < rows; r++) {
        memcpy(dst + r * width, src + r * len, (size_t)len * sizeof(float));
        for (int64_t t = len; t < width; t++) dst[r * width + t] = pad;
    }
}

/* Copies 1..planes-1 of plane 0 (each `plane` floats). */
static void copy_planes(float *x, int64_t planes, int64_t plane)
{
    for (int64_t p = 1; p < planes; p++) memcpy(x + p * plane, x, (size_t)plane * sizeof(float));
}

static float pad_value(const rt_manifest_opts *o, const struct rt_mel_out *m)
{
    if (!o->pad_min) return o->pad;
    float lo = m->data[0];
    for (size_t i = 1; i < m->n; i++) lo = m->data[i] < lo ? m->data[i] : lo;
    return lo;
}

struct arrays {
    float *x, *full, *y;
    int32_t *label;
    int64_t *full_off, *full_len;
};

static void arrays_free(struct arrays *a)
{
    free(a->x);
    free(a->full);
    free(a->y);
    free(a->label);
    free(a->full_off);
    free(a->full_len);
}

/* Allocate for n samples of xs floats (and the crops' full utterances). */
static rt_status arrays_alloc(struct arrays *a, const struct open_state *st, const bool *keep, int64_t n, int64_t xs,
                              int64_t plane_rows)
{
    int64_t crop = st->o->crop, full = 0, ny = st->man.n_targets;
    for (int64_t i = 0; crop && i < st->man.n_rows; i++)
        if (keep[i]) {
            int64_t t = st->items[st->item_of[i]].m.shape[1];
            full += plane_rows * (t > crop ? t : crop);
        }
    if ((double)n * (double)xs > (double)MAX_X_FLOATS || (double)full > (double)MAX_X_FLOATS)
        return rt_error(RT_ERR_ARG, "%s: features of %lld samples x %lld values are too large to hold", st->path,
                        (long long)n, (long long)xs);
    a->x = malloc((size_t)(n * xs) * sizeof(float));
    a->label = ny ? NULL : malloc((size_t)n * sizeof *a->label);
    a->y = ny ? malloc((size_t)(n * ny) * sizeof *a->y) : NULL;
    bool ok = a->x && (ny ? a->y != NULL : a->label != NULL);
    if (crop) {
        a->full = malloc((size_t)full * sizeof(float));
        a->full_off = malloc((size_t)n * sizeof *a->full_off);
        a->full_len = malloc((size_t)n * sizeof *a->full_len);
        ok = ok && a->full && a->full_off && a->full_len;
    }
    return ok ? RT_OK : rt_error(RT_ERR_NOMEM, "%s: out of memory for features", st->path);
}

/* Sample j (manifest row i) into x, and into full for crops (see manifest.h "Lengths"). */
static void fill_sample(const struct open_state *st, const struct arrays *a, int64_t i, int64_t j, int64_t T,
                        int64_t planes)
{
    const rt_manifest_opts *o = st->o;
    const struct rt_mel_out *m = &st->items[st->item_of[i]].m;
    int64_t R = m->shape[0], t = m->shape[1], len = t > T ? t : T, xs = planes * R * T;
    float *dst = o->crop ? a->full + a->full_off[j] : a->x + j * xs;
    put_padded(dst, len, m->data, R, t, pad_value(o, m));
    copy_planes(dst, planes, R * len);
    if (o->crop) {
        rt_manifest_window(a->x + j * xs, dst, planes * R, len, (len - T) / 2, T);
        a->full_len[j] = len;
    }
    int64_t ny = st->man.n_targets;
    if (ny) memcpy(a->y + j * ny, st->man.rows[i].y, (size_t)ny * sizeof(float));
    else a->label[j] = st->man.rows[i].label;
}

/* Kept rows into ds; ds already holds the skipped list. Samples are filled in parallel. */
static rt_status assemble(struct open_state *st, const bool *keep, int64_t n, rt_dataset *ds)
{
    const rt_manifest_opts *o = st->o;
    int64_t T = o->crop, R = 0, top = -1, ny = st->man.n_targets, *row_of = malloc((size_t)n * sizeof *row_of);
    if (!row_of) return rt_error(RT_ERR_NOMEM, "%s: out of memory", st->path);
    for (int64_t i = 0, j = 0; i < st->man.n_rows; i++) {
        if (!keep[i]) continue;
        const struct rt_mel_out *m = &st->items[st->item_of[i]].m;
        R = m->shape[0];
        if (!o->crop && m->shape[1] > T) T = m->shape[1];
        if (!ny && st->man.rows[i].label > top) top = st->man.rows[i].label;
        row_of[j++] = i;
    }
    int64_t P = o->mel.channels ? o->mel.channels : 1;
    struct arrays a = {0};
    rt_status s = arrays_alloc(&a, st, keep, n, P * R * T, P * R);
    for (int64_t j = 0, off = 0; s == RT_OK && o->crop && j < n; j++) {
        int64_t t = st->items[st->item_of[row_of[j]]].m.shape[1];
        a.full_off[j] = off;
        off += P * R * (t > T ? t : T);
    }
    if (s == RT_OK) {
#pragma omp parallel for schedule(dynamic, 4)
        for (int64_t j = 0; j < n; j++) fill_sample(st, &a, row_of[j], j, T, P);
    }
    free(row_of);
    int64_t shape[3] = {P, R, T};
    bool ch = o->mel.channels > 0;
    rt_dataset out;
    if (s == RT_OK) {
        s = rt_dataset_adopt(&out, st->path, n, ch ? 3 : 2, ch ? shape : shape + 1, a.x, ny ? 0 : top + 1, a.label,
                             ny, a.y);
        a.x = NULL; /* adopted (or freed) */
    }
    if (s == RT_OK) {
        out.crop = o->crop;
        out.full = a.full;
        out.full_off = a.full_off;
        out.full_len = a.full_len;
        a.full = NULL;
        a.full_off = a.full_len = NULL;
        out.specaug = o->specaug;
        out.n_skipped = ds->n_skipped;
        out.skipped = ds->skipped;
        *ds = out;
    }
    arrays_free(&a);
    return s;
}

rt_status rt_manifest_open(rt_dataset *ds, const char *path, const rt_manifest_opts *o, rt_manifest_stats *stats)
{
    memset(ds, 0, sizeof *ds);
    if (stats) memset(stats, 0, sizeof *stats);
    if (o->crop < 0 || o->crop > RT_MANIFEST_MAX_CROP || (o->crop && o->mel.resize_h))
        return rt_error(RT_ERR_ARG, "%s: crop %lld is not 0..%d frames without resize", path, (long long)o->crop,
                        RT_MANIFEST_MAX_CROP);
    struct open_state st = {.path = path, .o = o};
    bool *keep = NULL;
    uint8_t *text;
    size_t len;
    rt_status s = rt_read_file(path, RT_MANIFEST_MAX_BYTES, &text, &len);
    if (s != RT_OK) return s;
    s = rt_manifest_parse(&st.man, (const char *)text, len, path);
    free(text);
    if (s == RT_OK && o->cache[0]) s = rt_featcache_prepare(o->cache);
    if (s == RT_OK) s = make_items(&st);
    if (s == RT_OK) {
        int64_t first_bad = INT64_MAX;
        for (int64_t i = 0; !o->skip_bad && i < st.man.n_rows && first_bad == INT64_MAX; i++)
            if (st.man.rows[i].error) first_bad = i;
        compute_items(&st, first_bad);
        keep = calloc((size_t)(st.man.n_rows ? st.man.n_rows : 1), sizeof *keep);
        if (!keep) s = rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t n_keep = 0;
    if (s == RT_OK) s = sort_rows(&st, keep, ds, &n_keep);
    if (s == RT_OK) s = assemble(&st, keep, n_keep, ds);
    if (s == RT_OK && stats) {
        stats->rows = st.man.n_rows;
        stats->skipped = ds->n_skipped;
        for (int64_t k = 0; k < st.n_items; k++) {
            stats->cache_hits += st.items[k].s == RT_OK && st.items[k].hit;
            stats->computed += st.items[k].s == RT_OK && !st.items[k].hit;
        }
    }
    if (s != RT_OK) rt_dataset_free(ds);
    free(keep);
    state_free(&st);
    return s;
}

rt_status rt_manifest_open_spec(rt_dataset *ds, const char *spec)
{
    memset(ds, 0, sizeof *ds);
    char path[RT_MANIFEST_MAX_PATH];
    const char *q = strchr(spec, '?');
    size_t n = q ? (size_t)(q - spec) : strlen(spec);
    if (n == 0 || n >= sizeof path)
        return rt_error(RT_ERR_ARG, "manifest:%s: expected manifest:PATH.csv[?KEY=VALUE&...]", spec);
    memcpy(path, spec, n);
    path[n] = 0;
    rt_manifest_opts o;
    rt_status s = rt_manifest_opts_parse(&o, q ? q + 1 : "", path);
    return s == RT_OK ? rt_manifest_open(ds, path, &o, NULL) : s;
}
