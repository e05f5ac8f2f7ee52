/*
 * featcache.c - content-keyed log-mel cache (see featcache.h).
 *
 * get: read the file (bounded) -> key -> try "<dir>/<key>.npy" (checked) ->
 * else decode the bytes already in memory, compute, write to
 * "<key>.npy.<pid>-<n>" (the npy writer's own atomic write) and rename it
 * onto the entry.
 */
#include "data/featcache.h"

#include "data/audio.h"
#include "io/fileio.h"
#include "io/npy.h"
#include "io/blake2b.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t rt_featcache_settings(const struct rt_mel_config *c, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "retort-featcache v%d sr=%d n_fft=%d hop=%d win=%d n_mels=%d fmin=%.17g fmax=%.17g htk=%d "
                     "slaney_norm=%d power=%d ref_max=%d amin=%.17g top_db=%.17g cmn=%d resize=%dx%d converter=%d",
                     RT_FEATCACHE_VERSION, c->sr, c->n_fft, c->hop, c->win ? c->win : c->n_fft, c->n_mels, c->fmin,
                     c->fmax > 0 ? c->fmax : c->sr / 2.0, c->htk, c->slaney_norm, c->power, c->ref_max, c->amin,
                     c->top_db < 0 ? -1.0 : c->top_db, c->cmn, c->resize_h, c->resize_w, c->converter);
    return n < 0 ? 0 : (size_t)n;
}

void rt_featcache_key(const void *bytes, size_t n, const struct rt_mel_config *c, char hex[65])
{
    uint8_t d[32];
    char text[512];
    size_t tl = rt_featcache_settings(c, text, sizeof text);
    RT_ASSERT(tl > 0 && tl < sizeof text);
    rt_blake2b_buf(bytes, n, d, sizeof d);
    rt_blake2b s;
    rt_blake2b_init(&s, sizeof d);
    rt_blake2b_update(&s, d, sizeof d);
    rt_blake2b_update(&s, text, tl);
    rt_blake2b_final(&s, d);
    rt_hex(d, sizeof d, hex);
}

rt_status rt_featcache_prepare(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return rt_error(RT_ERR_ARG, "%s: feature cache path too long", dir);
    for (char *q = p + 1;; q++) {
        char was = *q;
        if (was != '/' && was != 0) continue;
        *q = 0;
        struct stat st;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return rt_error(RT_ERR_IO, "%s: cannot create the feature cache directory: %s", p, strerror(errno));
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
            return rt_error(RT_ERR_IO, "%s: feature cache path is not a directory", p);
        *q = was;
        if (!was) break;
    }
    return RT_OK;
}

/* Rows of an entry under c: the resized height, else the mel bins. */
static int64_t entry_rows(const struct rt_mel_config *c) { return c->resize_h ? c->resize_h : c->n_mels; }

/* An entry that exists and passes the checks, into out; false otherwise (no error recorded). */
static bool read_entry(const char *file, const struct rt_mel_config *c, struct rt_mel_out *out)
{
    if (access(file, R_OK) != 0) return false;
    struct rt_npy a;
    if (rt_npy_read_f32(file, &a) != RT_OK) {
        rt_error_clear();
        return false;
    }
    bool ok = a.ndim == 2 && a.shape[0] == entry_rows(c) && a.shape[1] >= 1 &&
              (!c->resize_w || a.shape[1] == c->resize_w);
    for (size_t i = 0; ok && i < a.n; i++) ok = isfinite(a.data[i]);
    if (!ok) {
        rt_npy_free(&a);
        return false;
    }
    memset(out, 0, sizeof *out);
    out->ndim = 2;
    out->shape[0] = a.shape[0];
    out->shape[1] = a.shape[1];
    out->n = a.n;
    out->data = a.data;
    out->frames = c->resize_h ? 0 : a.shape[1];
    return true;
}

static rt_status write_entry(const char *file, const struct rt_mel_out *m)
{
    static atomic_uint_fast64_t serial;
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.%ld-%llu", file, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&serial, 1));
    rt_status s = rt_npy_write_f32(tmp, m->data, m->ndim, m->shape);
    if (s != RT_OK) return rt_error(s, "feature cache: %s", rt_errmsg());
    if (rename(tmp, file) != 0) {
        s = rt_error(RT_ERR_IO, "%s: cannot rename into the feature cache: %s", file, strerror(errno));
        unlink(tmp);
    }
    return s;
}

/* Decode bytes (named path) at c->sr and compute the features. */
static rt_status compute(const uint8_t *buf, size_t len, const char *path, const struct rt_mel_config *c,
                         struct rt_mel_out *out)
{
    struct rt_audio_opts o;
    rt_audio_opts_default(&o);
    o.sr = c->sr;
    if (c->converter) o.converter = c->converter;
    struct rt_audio a;
    rt_status s = rt_audio_load_mem(buf, len, path, &o, &a);
    if (s != RT_OK) return s;
    s = rt_mel_from_signal(a.data, a.n, c, path, out);
    rt_audio_free(&a);
    return s;
}

rt_status rt_featcache_get(const char *dir, const char *path, const struct rt_mel_config *c, struct rt_mel_out *out,
                           bool *hit)
{
    RT_ASSERT(c->channels == 0);
    memset(out, 0, sizeof *out);
    *hit = false;
    rt_status s = rt_mel_config_check(c);
    if (s != RT_OK) return rt_error(s, "%s: %s", path, rt_errmsg());
    uint8_t *buf;
    size_t len;
    if ((s = rt_read_file(path, RT_FEATCACHE_MAX_FILE, &buf, &len)) != RT_OK) return s;
    bool cached = dir && *dir;
    char key[65], file[4200];
    if (cached) {
        rt_featcache_key(buf, len, c, key);
        if (snprintf(file, sizeof file, "%s/%s.npy", dir, key) >= (int)sizeof file) {
            free(buf);
            return rt_error(RT_ERR_ARG, "%s: feature cache path too long", dir);
        }
        if (read_entry(file, c, out)) {
            free(buf);
            *hit = true;
            return RT_OK;
        }
    }
    s = compute(buf, len, path, c, out);
    free(buf);
    if (s == RT_OK && cached && (s = write_entry(file, out)) != RT_OK) rt_mel_out_free(out);
    return s;
}
