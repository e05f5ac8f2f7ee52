/*
 * trials.c - verification trials: all pairs of a labelled set or a trial
 * file, scored by cosine similarity (see trials.h).
 */
#include "train/trials.h"

#include "data/manifest.h"
#include "io/fileio.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRIALS_MAX_BYTES ((size_t)1 << 30)

static rt_status trials_alloc(rt_trials *t, int64_t n, const char *what)
{
    memset(t, 0, sizeof *t);
    if (n < 1 || n > RT_TRIALS_MAX)
        return rt_error(RT_ERR_ARG, "%s: %lld trials (expected 1..%lld)", what, (long long)n, (long long)RT_TRIALS_MAX);
    t->a = malloc((size_t)n * sizeof *t->a);
    t->b = malloc((size_t)n * sizeof *t->b);
    t->target = malloc((size_t)n * sizeof *t->target);
    t->score = calloc((size_t)n, sizeof *t->score);
    if (!t->a || !t->b || !t->target || !t->score) {
        rt_trials_free(t);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld trials", what, (long long)n);
    }
    return RT_OK;
}

rt_status rt_trials_all_pairs(rt_trials *t, const int32_t *cls, int64_t n)
{
    if (n < 2) {
        memset(t, 0, sizeof *t);
        return rt_error(RT_ERR_ARG, "verification: %lld utterances make no pair", (long long)n);
    }
    rt_status s = trials_alloc(t, n * (n - 1) / 2, "verification");
    if (s != RT_OK) return s;
    int64_t k = 0, tgt = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++, k++) {
            t->a[k] = i;
            t->b[k] = j;
            t->target[k] = cls[i] == cls[j];
            tgt += t->target[k];
        }
    t->n = k;
    if (tgt == 0 || tgt == k) {
        rt_trials_free(t);
        return rt_error(RT_ERR_ARG, "verification: the %lld pairs are all %s trials (needs both kinds: several "
                        "utterances of at least one speaker and at least two speakers)",
                        (long long)k, tgt ? "target" : "non-target");
    }
    return RT_OK;
}

/* Sample index of a trial-file token: "#N" or a name in names[]. */
static int64_t find_name(const char *tok, const char *const *names, int64_t n)
{
    if (tok[0] == '#') {
        char *end;
        long long v = strtoll(tok + 1, &end, 10);
        return end != tok + 1 && !*end && v >= 0 && v < n ? v : -1;
    }
    for (int64_t i = 0; names && i < n; i++)
        if (!strcmp(names[i], tok)) return i;
    return -1;
}

/* Parse one line's three tokens into trial k; returns false with an error set. */
static bool parse_line(rt_trials *t, int64_t k, char *line, const char *path, int64_t ln, const char *const *names,
                       int64_t n)
{
    char *save = NULL, *tok[4];
    int nt = 0;
    for (char *p = strtok_r(line, " \t\r", &save); p && nt < 4; p = strtok_r(NULL, " \t\r", &save)) tok[nt++] = p;
    if (nt != 3) {
        rt_error(RT_ERR_FORMAT, "%s:%lld: expected 'LABEL A B' (3 fields), found %d", path, (long long)ln, nt);
        return false;
    }
    if (strcmp(tok[0], "0") && strcmp(tok[0], "1")) {
        rt_error(RT_ERR_FORMAT, "%s:%lld: label '%s' is not 0 or 1", path, (long long)ln, tok[0]);
        return false;
    }
    t->target[k] = tok[0][0] == '1';
    for (int side = 1; side <= 2; side++) {
        int64_t i = find_name(tok[side], names, n);
        if (i < 0) {
            rt_error(RT_ERR_FORMAT, "%s:%lld: '%s' is not an utterance of the data set (a manifest path or #index "
                     "below %lld)", path, (long long)ln, tok[side], (long long)n);
            return false;
        }
        (side == 1 ? t->a : t->b)[k] = i;
    }
    return true;
}

rt_status rt_trials_read(rt_trials *t, const char *path, const char *const *names, int64_t n)
{
    memset(t, 0, sizeof *t);
    uint8_t *text;
    size_t len;
    rt_status s = rt_read_file(path, TRIALS_MAX_BYTES, &text, &len);
    if (s != RT_OK) return s;
    if (memchr(text, 0, len)) {
        free(text);
        return rt_error(RT_ERR_FORMAT, "%s: holds a NUL byte (not a text trial list)", path);
    }
    int64_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    char *buf = malloc(len + 1);
    if (!buf || (s = trials_alloc(t, lines, path)) != RT_OK) {
        free(text);
        free(buf);
        return buf ? s : rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(buf, text, len);
    buf[len] = 0;
    free(text);
    int64_t k = 0, ln = 0, tgt = 0;
    for (char *line = buf, *next; line && s == RT_OK; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        ln++;
        const char *p = line + strspn(line, " \t\r");
        if (!*p || *p == '#') continue;
        if (!parse_line(t, k, line, path, ln, names, n)) s = RT_ERR_FORMAT;
        else tgt += t->target[k++];
    }
    free(buf);
    t->n = k;
    if (s == RT_OK && (tgt == 0 || tgt == k))
        s = rt_error(RT_ERR_FORMAT, "%s: %lld trials, %lld of them targets (needs both kinds)", path, (long long)k,
                     (long long)tgt);
    if (s != RT_OK) rt_trials_free(t);
    return s;
}

rt_status rt_trials_read_for(rt_trials *t, const char *path, const rt_dataset *ds)
{
    memset(t, 0, sizeof *t);
    static const char pre[] = "manifest:";
    if (strncmp(ds->source, pre, sizeof pre - 1)) return rt_trials_read(t, path, NULL, ds->n);
    char mpath[sizeof ds->source];
    snprintf(mpath, sizeof mpath, "%s", ds->source + sizeof pre - 1);
    mpath[strcspn(mpath, "?")] = 0;
    uint8_t *text;
    size_t len;
    rt_manifest man = {0};
    rt_status s = rt_read_file(mpath, RT_MANIFEST_MAX_BYTES, &text, &len);
    if (s != RT_OK) return s;
    s = rt_manifest_parse(&man, (const char *)text, len, mpath);
    free(text);
    if (s != RT_OK) return s;
    const char **names = NULL;
    if (man.n_rows != ds->n) /* rows were skipped: the names no longer line up with the samples */
        s = rt_error(RT_ERR_ARG, "%s: %lld of %lld manifest rows were skipped: name the trials' utterances by "
                     "#index of the samples kept", path, (long long)(man.n_rows - ds->n), (long long)man.n_rows);
    else if (!(names = malloc((size_t)man.n_rows * sizeof *names)))
        s = rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; s == RT_OK && i < man.n_rows; i++) names[i] = man.rows[i].path;
    if (s == RT_OK) s = rt_trials_read(t, path, names, ds->n);
    free(names);
    rt_manifest_free(&man);
    return s;
}

rt_status rt_trials_score(rt_trials *t, const float *emb, int64_t n, int64_t d)
{
    double *norm = malloc((size_t)n * sizeof *norm);
    if (!norm) return rt_error(RT_ERR_NOMEM, "verification: out of memory for %lld norms", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        double q = 0;
        for (int64_t c = 0; c < d; c++) q += (double)emb[i * d + c] * emb[i * d + c];
        norm[i] = sqrt(q);
    }
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < t->n; k++) {
        const float *x = emb + t->a[k] * d, *y = emb + t->b[k] * d;
        double dot = 0, nn = norm[t->a[k]] * norm[t->b[k]];
        for (int64_t c = 0; c < d; c++) dot += (double)x[c] * y[c];
        t->score[k] = nn > 0 ? (float)(dot / nn) : 0.f;
    }
    free(norm);
    return RT_OK;
}

void rt_trials_free(rt_trials *t)
{
    free(t->a);
    free(t->b);
    free(t->target);
    free(t->score);
    memset(t, 0, sizeof *t);
}
