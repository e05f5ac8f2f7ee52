/*
 * audio.c - decode (libsndfile), downmix, resample (libsamplerate); see audio.h.
 *
 * The frame count a header claims is only a hint: samples are read in fixed
 * chunks into a buffer that grows geometrically, so a lying header cannot
 * make us allocate. Truncation shows up three ways and each is an error:
 * libsndfile's header diagnostics ("data : N (should be M)" with N > M in
 * its log, which it otherwise silently accepts), fewer frames decoded than a
 * non-MP3 header promised (MP3 lengths are estimates), or a decoder error.
 */
#include "data/audio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_FRAMES 4096
/* SF_FORMAT_MPEG (libsndfile >= 1.1) is an enum constant, so it cannot be #ifdef-ed */
#define RT_SF_FORMAT_MPEG 0x230000

void rt_audio_opts_default(struct rt_audio_opts *o)
{
    o->sr = 0;
    o->converter = SRC_SINC_BEST_QUALITY;
    o->max_frames = 0;
}

void rt_audio_free(struct rt_audio *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- memory-backed libsndfile I/O ------------------------------------------ */

struct mem_io {
    const unsigned char *buf;
    sf_count_t len, pos;
};

static sf_count_t mem_get_filelen(void *user) { return ((struct mem_io *)user)->len; }

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user)
{
    struct mem_io *m = user;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if ((offset < 0 && -offset > base) || (offset > 0 && offset > m->len - base)) return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user)
{
    struct mem_io *m = user;
    if (count <= 0 || m->pos >= m->len) return 0;
    sf_count_t k = m->len - m->pos < count ? m->len - m->pos : count;
    memcpy(ptr, m->buf + m->pos, (size_t)k);
    m->pos += k;
    return k;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user) { return 0; }

static sf_count_t mem_tell(void *user) { return ((struct mem_io *)user)->pos; }

/* ---- decoding -------------------------------------------------------------- */

/* True when libsndfile's log says a data chunk is shorter than its header claims. */
static bool header_says_truncated(SNDFILE *f)
{
    char log[8192];
    log[0] = '\0';
    sf_command(f, SFC_GET_LOG_INFO, log, sizeof log);
    log[sizeof log - 1] = '\0';
    for (char *line = log; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char tag[16];
        unsigned long long claimed, actual;
        if (sscanf(line, " %15s : %llu (should be %llu)", tag, &claimed, &actual) == 3 &&
            (!strcmp(tag, "data") || !strcmp(tag, "SSND")) && claimed > actual &&
            claimed != 0xffffffffull && claimed != 0x7fffffffull)
            return true;   /* the all-ones sizes mark streamed files of unknown length */
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

/* Grow *buf (capacity *cap floats) to hold at least `need` floats. */
static rt_status grow(float **buf, size_t *cap, size_t need, const char *name)
{
    if (need <= *cap) return RT_OK;
    size_t nc = *cap ? *cap : 65536;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / sizeof(float)) return rt_error(RT_ERR_NOMEM, "%s: audio too long", name);
        nc *= 2;
    }
    float *nb = realloc(*buf, nc * sizeof(float));
    if (!nb) return rt_error(RT_ERR_NOMEM, "%s: out of memory decoding audio", name);
    *buf = nb;
    *cap = nc;
    return RT_OK;
}

/* Read every frame of f, check it, average the channels into out->data. */
static rt_status decode(SNDFILE *f, const SF_INFO *si, const char *name, int64_t max_frames,
                        struct rt_audio *out)
{
    const int ch = si->channels;
    if (ch <= 0 || ch > 1024) return rt_error(RT_ERR_FORMAT, "%s: bad channel count %d", name, ch);
    if (si->samplerate <= 0) return rt_error(RT_ERR_FORMAT, "%s: bad sample rate %d", name, si->samplerate);
    float *chunk = malloc((size_t)CHUNK_FRAMES * (size_t)ch * sizeof(float));
    float *mono = NULL;
    size_t n = 0, cap = 0;
    rt_status s = RT_OK;
    if (!chunk) return rt_error(RT_ERR_NOMEM, "%s: out of memory", name);
    for (;;) {
        sf_count_t k = sf_readf_float(f, chunk, CHUNK_FRAMES);
        if (k <= 0) break;
        if (max_frames > 0 && (int64_t)n + k > max_frames) {
            s = rt_error(RT_ERR_ARG, "%s: longer than the limit of %lld frames", name, (long long)max_frames);
            goto done;
        }
        if ((s = grow(&mono, &cap, n + (size_t)k, name)) != RT_OK) goto done;
        for (sf_count_t i = 0; i < k; i++) {
            const float *fr = chunk + (size_t)i * (size_t)ch;
            float acc = 0.0f;
            for (int c = 0; c < ch; c++) {
                if (!isfinite(fr[c])) {
                    s = rt_error(RT_ERR_NONFINITE, "%s: sample %zu (channel %d) is %s", name,
                                 n + (size_t)i, c, isnan(fr[c]) ? "NaN" : "infinite");
                    goto done;
                }
                acc += fr[c];
            }
            mono[n + (size_t)i] = ch == 1 ? acc : acc / (float)ch;
        }
        n += (size_t)k;
    }
    if (sf_error(f) != SF_ERR_NO_ERROR) {
        s = rt_error(RT_ERR_FORMAT, "%s: decode error (truncated or corrupt?): %s", name, sf_strerror(f));
        goto done;
    }
    /* MP3 lengths in the header are estimates (encoder delay and padding) */
    const bool estimate = (si->format & SF_FORMAT_TYPEMASK) == RT_SF_FORMAT_MPEG;
    if (header_says_truncated(f) || (!estimate && si->frames > 0 && (sf_count_t)n < si->frames)) {
        s = rt_error(RT_ERR_FORMAT, "%s: truncated: the header promises more audio than the file holds", name);
        goto done;
    }
    if (n == 0) {
        s = rt_error(RT_ERR_FORMAT, "%s: no audio samples", name);
        goto done;
    }
    out->data = mono;
    out->n = n;
    out->sr = out->orig_sr = si->samplerate;
    out->channels = ch;
    mono = NULL;
done:
    free(chunk);
    free(mono);
    return s;
}

static rt_status finish(const char *name, const struct rt_audio_opts *o, struct rt_audio *a)
{
    if (o->sr < 0) return rt_error(RT_ERR_ARG, "%s: bad target rate %d", name, o->sr);
    if (o->sr == 0 || o->sr == a->sr) return RT_OK;
    float *r = NULL;
    size_t nr = 0;
    rt_status s = rt_audio_resample(a->data, a->n, a->sr, o->sr, o->converter, name, &r, &nr);
    if (s != RT_OK) return s;
    free(a->data);
    a->data = r;
    a->n = nr;
    a->sr = o->sr;
    return RT_OK;
}

static rt_status load_from(SNDFILE *f, SF_INFO *si, const char *name, const struct rt_audio_opts *o,
                           struct rt_audio *out)
{
    if (!f)
        return rt_error(RT_ERR_FORMAT, "%s: cannot read as audio: %s", name, sf_strerror(NULL));
    rt_status s = decode(f, si, name, o->max_frames, out);
    sf_close(f);
    if (s == RT_OK) s = finish(name, o, out);
    if (s != RT_OK) rt_audio_free(out);
    return s;
}

rt_status rt_audio_load(const char *path, const struct rt_audio_opts *o, struct rt_audio *out)
{
    memset(out, 0, sizeof *out);
    FILE *probe = fopen(path, "rb");
    if (!probe) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *f = sf_open(path, SFM_READ, &si);
    return load_from(f, &si, path, o, out);
}

rt_status rt_audio_load_mem(const void *buf, size_t len, const char *name,
                            const struct rt_audio_opts *o, struct rt_audio *out)
{
    memset(out, 0, sizeof *out);
    SF_VIRTUAL_IO vio = {mem_get_filelen, mem_seek, mem_read, mem_write, mem_tell};
    struct mem_io m = {buf, (sf_count_t)len, 0};
    SF_INFO si;
    memset(&si, 0, sizeof si);
    SNDFILE *f = sf_open_virtual(&vio, SFM_READ, &si, &m);
    return load_from(f, &si, name, o, out);
}

/* ---- resampling ------------------------------------------------------------ */

rt_status rt_audio_resample(const float *in, size_t n, int sr_in, int sr_out, int converter,
                            const char *name, float **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (sr_in <= 0 || sr_out <= 0)
        return rt_error(RT_ERR_ARG, "%s: cannot resample from %d Hz to %d Hz", name, sr_in, sr_out);
    const double ratio = (double)sr_out / (double)sr_in;
    if (!src_is_valid_ratio(ratio))
        return rt_error(RT_ERR_ARG, "%s: cannot resample from %d Hz to %d Hz (ratio outside 1/256..256)",
                        name, sr_in, sr_out);
    if (!src_get_name(converter)) return rt_error(RT_ERR_ARG, "%s: unknown resampler %d", name, converter);
    const double want = ceil((double)n * ratio);   /* librosa: int(np.ceil(n * ratio)) */
    if (n == 0 || n > (size_t)LONG_MAX / 2 || want + 16.0 > (double)LONG_MAX / 2 ||
        want + 16.0 > (double)(SIZE_MAX / sizeof(float)))
        return rt_error(RT_ERR_ARG, "%s: cannot resample %zu samples", name, n);
    const size_t nw = (size_t)want, cap = nw + 16;
    float *buf = calloc(cap, sizeof(float));
    if (!buf) return rt_error(RT_ERR_NOMEM, "%s: out of memory resampling", name);
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = in;
    d.data_out = buf;
    d.input_frames = (long)n;
    d.output_frames = (long)cap;
    d.src_ratio = ratio;
    d.end_of_input = 1;
    int err = src_simple(&d, converter, 1);
    if (err) {
        free(buf);
        return rt_error(RT_ERR_ARG, "%s: resampling %d -> %d Hz failed: %s", name, sr_in, sr_out,
                        src_strerror(err));
    }
    size_t gen = (size_t)d.output_frames_gen;
    if (gen < nw) memset(buf + gen, 0, (nw - gen) * sizeof(float));   /* fix_length pads zeros */
    for (size_t i = 0; i < nw; i++)
        if (!isfinite(buf[i])) {
            free(buf);
            return rt_error(RT_ERR_NONFINITE, "%s: resampler produced a non-finite sample", name);
        }
    *out = buf;
    *n_out = nw;
    return RT_OK;
}
