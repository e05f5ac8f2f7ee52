/*
 * mel.c - log-mel front end (see mel.h for the contract and librosa mapping).
 *
 * Names: n samples, T frames, F = n_fft/2 + 1 frequency bins, M mel bins.
 * The filterbank, hz<->mel and linspace mirror librosa/numpy operation by
 * operation (double math, float32 weights) so the weights agree bit for bit
 * or within an ulp. The STFT is KissFFT's float kiss_fftr on frames windowed
 * in double; power, mel products and dB are double. kiss_fftr keeps scratch
 * inside its cfg, so each thread allocates its own plan once per call.
 */
#include "data/mel.h"

#include "data/audio.h"

#include <kiss_fftr.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MEL_MAX_NFFT (1 << 20)
#define MEL_MAX_MELS 4096
#define MEL_MAX_RESIZE 16384
#define MEL_MAX_CHANNELS 64
#define MEL_MAX_SAMPLE 1e30

/* ---- settings ------------------------------------------------------------- */

void rt_mel_config_default(struct rt_mel_config *c)
{
    memset(c, 0, sizeof *c);
    c->sr = 22050;
    c->n_fft = 2048;
    c->hop = 512;
    c->win = 0;
    c->n_mels = 128;
    c->fmin = 0.0;
    c->fmax = 0.0;
    c->htk = false;
    c->slaney_norm = true;
    c->power = 2;
    c->ref_max = true;
    c->amin = 1e-10;
    c->top_db = 80.0;
    c->cmn = false;
    c->channels = 0;
    c->converter = 0;
}

rt_status rt_mel_config_preset(struct rt_mel_config *c, const char *name)
{
    if (!strcmp(name, "emotion")) {
        rt_mel_config_default(c);
        c->resize_h = c->resize_w = 224;
        c->channels = 3;
    } else if (!strcmp(name, "speaker")) {
        rt_mel_config_default(c);
        c->sr = 16000;
        c->n_fft = 512;
        c->win = 400;
        c->hop = 160;
        c->n_mels = 80;
        c->ref_max = false;
        c->top_db = -1.0;
        c->cmn = true;
    } else {
        return rt_error(RT_ERR_UNKNOWN, "unknown preset '%s' (emotion, speaker)", name);
    }
    return RT_OK;
}

static double eff_fmax(const struct rt_mel_config *c) { return c->fmax > 0 ? c->fmax : c->sr / 2.0; }

rt_status rt_mel_config_check(const struct rt_mel_config *c)
{
    if (c->sr <= 0 || c->sr > 10000000) return rt_error(RT_ERR_ARG, "sr %d out of range (1..10000000)", c->sr);
    if (c->n_fft < 2 || c->n_fft > MEL_MAX_NFFT || c->n_fft % 2)
        return rt_error(RT_ERR_ARG, "n_fft %d must be even and in 2..%d", c->n_fft, MEL_MAX_NFFT);
    if (c->win < 0 || c->win > c->n_fft)
        return rt_error(RT_ERR_ARG, "win_length %d must be in 1..n_fft (%d)", c->win, c->n_fft);
    if (c->hop < 1) return rt_error(RT_ERR_ARG, "hop_length %d must be >= 1", c->hop);
    if (c->n_mels < 1 || c->n_mels > MEL_MAX_MELS)
        return rt_error(RT_ERR_ARG, "n_mels %d out of range (1..%d)", c->n_mels, MEL_MAX_MELS);
    if (!(c->fmin >= 0.0) || !(eff_fmax(c) > c->fmin) || !isfinite(eff_fmax(c)))
        return rt_error(RT_ERR_ARG, "need 0 <= fmin (%g) < fmax (%g)", c->fmin, eff_fmax(c));
    if (c->power != 1 && c->power != 2) return rt_error(RT_ERR_ARG, "power %d must be 1 or 2", c->power);
    if (!(c->amin > 0.0)) return rt_error(RT_ERR_ARG, "amin must be > 0");
    if (!isfinite(c->top_db)) return rt_error(RT_ERR_ARG, "top_db must be finite");
    if ((c->resize_h == 0) != (c->resize_w == 0) || c->resize_h < 0 || c->resize_w < 0 ||
        c->resize_h > MEL_MAX_RESIZE || c->resize_w > MEL_MAX_RESIZE)
        return rt_error(RT_ERR_ARG, "resize %dx%d out of range (1..%d each)", c->resize_h, c->resize_w,
                        MEL_MAX_RESIZE);
    if (c->channels < 0 || c->channels > MEL_MAX_CHANNELS)
        return rt_error(RT_ERR_ARG, "channels %d out of range (0..%d)", c->channels, MEL_MAX_CHANNELS);
    return RT_OK;
}

int64_t rt_mel_frames(size_t n, int n_fft, int hop)
{
    /* librosa, center=True: the signal is padded by n_fft/2 on both sides */
    size_t padded = n + 2 * (size_t)(n_fft / 2);
    if (padded < (size_t)n_fft) return 0;
    return (int64_t)(1 + (padded - (size_t)n_fft) / (size_t)hop);
}

/* ---- mel filterbank (librosa.filters.mel) ----------------------------------- */

static const double F_SP = 200.0 / 3, MIN_LOG_HZ = 1000.0;

static double hz_to_mel(double f, bool htk)
{
    if (htk) return 2595.0 * log10(1.0 + f / 700.0);
    const double min_log_mel = MIN_LOG_HZ / F_SP, logstep = log(6.4) / 27.0;
    return f >= MIN_LOG_HZ ? min_log_mel + log(f / MIN_LOG_HZ) / logstep : f / F_SP;
}

static double mel_to_hz(double m, bool htk)
{
    if (htk) return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    const double min_log_mel = MIN_LOG_HZ / F_SP, logstep = log(6.4) / 27.0;
    return m >= min_log_mel ? MIN_LOG_HZ * exp(logstep * (m - min_log_mel)) : F_SP * m;
}

rt_status rt_mel_filterbank(float *w, int sr, int n_fft, int n_mels, double fmin, double fmax,
                            bool htk, bool slaney_norm)
{
    const size_t F = (size_t)n_fft / 2 + 1, M = (size_t)n_mels;
    double *mel_f = malloc((M + 2) * sizeof(double));
    if (!mel_f) return rt_error(RT_ERR_NOMEM, "mel filterbank: out of memory");
    /* mel_frequencies(n_mels + 2): np.linspace(min_mel, max_mel) through mel_to_hz */
    const double lo = hz_to_mel(fmin, htk), hi = hz_to_mel(fmax, htk);
    const double step = (hi - lo) / (double)(M + 1);
    for (size_t i = 0; i < M + 2; i++) {
        double m = i == M + 1 ? hi : (double)i * step + lo;
        mel_f[i] = mel_to_hz(m, htk);
    }
    const double df = 1.0 / ((double)n_fft * (1.0 / (double)sr));   /* np.fft.rfftfreq */
    for (size_t m = 0; m < M; m++) {
        const double d0 = mel_f[m + 1] - mel_f[m], d1 = mel_f[m + 2] - mel_f[m + 1];
        const double enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (size_t k = 0; k < F; k++) {
            const double f = (double)k * df;
            const double lower = -(mel_f[m] - f) / d0, upper = (mel_f[m + 2] - f) / d1;
            double v = lower < upper ? lower : upper;
            float wf = (float)(v > 0.0 ? v : 0.0);
            if (slaney_norm) wf = (float)((double)wf * enorm);
            w[m * F + k] = wf;
        }
    }
    free(mel_f);
    return RT_OK;
}

/* ---- STFT + mel ----------------------------------------------------------- */

struct mel_plan {
    size_t F, M;
    float *w;          /* (M, F) */
    size_t *k0, *k1;   /* nonzero range of each filter */
    double *window;    /* n_fft, periodic Hann of length win centred */
};

static void plan_free(struct mel_plan *p)
{
    free(p->w);
    free(p->k0);
    free(p->k1);
    free(p->window);
    memset(p, 0, sizeof *p);
}

static rt_status plan_init(struct mel_plan *p, const struct rt_mel_config *c)
{
    memset(p, 0, sizeof *p);
    const size_t nfft = (size_t)c->n_fft, win = c->win ? (size_t)c->win : nfft;
    p->F = nfft / 2 + 1;
    p->M = (size_t)c->n_mels;
    p->w = malloc(p->M * p->F * sizeof(float));
    p->k0 = malloc(p->M * sizeof(size_t));
    p->k1 = malloc(p->M * sizeof(size_t));
    p->window = calloc(nfft, sizeof(double));
    if (!p->w || !p->k0 || !p->k1 || !p->window) {
        plan_free(p);
        return rt_error(RT_ERR_NOMEM, "mel: out of memory");
    }
    rt_status s = rt_mel_filterbank(p->w, c->sr, c->n_fft, c->n_mels, c->fmin, eff_fmax(c), c->htk,
                                    c->slaney_norm);
    if (s != RT_OK) {
        plan_free(p);
        return s;
    }
    for (size_t m = 0; m < p->M; m++) {
        size_t a = 0, b = p->F;
        while (a < p->F && p->w[m * p->F + a] == 0.0f) a++;
        while (b > a && p->w[m * p->F + b - 1] == 0.0f) b--;
        p->k0[m] = a;
        p->k1[m] = b;
    }
    /* scipy.signal.get_window('hann', win, fftbins=True), librosa.util.pad_center */
    const size_t lpad = (nfft - win) / 2;
    for (size_t i = 0; i < win; i++)
        p->window[lpad + i] = 0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)win);
    return RT_OK;
}

/* One frame: window, FFT, power, mel -> S[m * T + t]. */
static void frame_mel(double *S, int64_t T, int64_t t, const float *x, size_t n,
                      const struct rt_mel_config *c, const struct mel_plan *p, kiss_fftr_cfg fft,
                      float *buf, kiss_fft_cpx *spec, double *pw)
{
    const size_t nfft = (size_t)c->n_fft;
    const int64_t start = t * (int64_t)c->hop - (int64_t)(nfft / 2);
    for (size_t k = 0; k < nfft; k++) {
        int64_t j = start + (int64_t)k;
        buf[k] = (j >= 0 && (uint64_t)j < (uint64_t)n) ? (float)(p->window[k] * (double)x[j]) : 0.0f;
    }
    kiss_fftr(fft, buf, spec);
    for (size_t k = 0; k < p->F; k++) {
        double re = spec[k].r, im = spec[k].i, q = re * re + im * im;
        pw[k] = c->power == 2 ? q : sqrt(q);
    }
    for (size_t m = 0; m < p->M; m++) {
        const float *wm = p->w + m * p->F;
        double acc = 0.0;
        for (size_t k = p->k0[m]; k < p->k1[m]; k++) acc += (double)wm[k] * pw[k];
        S[m * (size_t)T + (size_t)t] = acc;
    }
}

/* S (M, T) <- mel spectrogram of x. */
static rt_status stft_mel(double *S, int64_t T, const float *x, size_t n, const struct rt_mel_config *c,
                          const struct mel_plan *p)
{
    int nt = 1;
#ifdef _OPENMP
    nt = T >= 64 ? omp_get_max_threads() : 1;
    if (nt < 1) nt = 1;
#endif
    const size_t nfft = (size_t)c->n_fft;
    kiss_fftr_cfg *cfg = calloc((size_t)nt, sizeof *cfg);
    float **buf = calloc((size_t)nt, sizeof *buf);
    kiss_fft_cpx **spec = calloc((size_t)nt, sizeof *spec);
    double **pw = calloc((size_t)nt, sizeof *pw);
    rt_status s = RT_OK;
    if (!cfg || !buf || !spec || !pw) {
        s = rt_error(RT_ERR_NOMEM, "stft: out of memory");
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        cfg[i] = kiss_fftr_alloc(c->n_fft, 0, NULL, NULL);
        buf[i] = malloc(nfft * sizeof(float));
        spec[i] = malloc(p->F * sizeof(kiss_fft_cpx));
        pw[i] = malloc(p->F * sizeof(double));
        if (!cfg[i] || !buf[i] || !spec[i] || !pw[i]) {
            s = rt_error(RT_ERR_NOMEM, "stft: out of memory (n_fft %d)", c->n_fft);
            goto done;
        }
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int64_t t = 0; t < T; t++) {
        int id = 0;
#ifdef _OPENMP
        id = omp_get_thread_num();
#endif
        frame_mel(S, T, t, x, n, c, p, cfg[id], buf[id], spec[id], pw[id]);
    }
done:
    for (int i = 0; i < nt; i++) {
        if (cfg) kiss_fftr_free(cfg[i]);
        if (buf) free(buf[i]);
        if (spec) free(spec[i]);
        if (pw) free(pw[i]);
    }
    free(cfg);
    free(buf);
    free(spec);
    free(pw);
    return s;
}

/* ---- dB, normalisation, resize --------------------------------------------- */

void rt_mel_power_to_db(double *s, size_t n, double ref, double amin, double top_db)
{
    if (ref <= 0.0) {
        ref = 0.0;
        for (size_t i = 0; i < n; i++) ref = s[i] > ref ? s[i] : ref;
    }
    const double off = 10.0 * log10(ref > amin ? ref : amin);
    double mx = -HUGE_VAL;
    for (size_t i = 0; i < n; i++) {
        s[i] = 10.0 * log10(s[i] > amin ? s[i] : amin) - off;
        mx = s[i] > mx ? s[i] : mx;
    }
    if (top_db >= 0.0)
        for (size_t i = 0; i < n; i++) s[i] = s[i] > mx - top_db ? s[i] : mx - top_db;
}

static void mean_normalise(double *s, size_t M, size_t T)
{
    for (size_t m = 0; m < M; m++) {
        double acc = 0.0;
        for (size_t t = 0; t < T; t++) acc += s[m * T + t];
        const double mean = acc / (double)T;
        for (size_t t = 0; t < T; t++) s[m * T + t] -= mean;
    }
}

/* PyTorch compute_source_index_and_lambda (align_corners=False, CPU, float). */
static void linear_index(int o, int in, int out, int *i0, int *i1, float *l0, float *l1)
{
    if (in == out) {
        *i0 = *i1 = o;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    const float scale = (float)in / (float)out;
    double src = (double)scale * ((double)o + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    *i0 = (int)src;
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    *l1 = (float)(src - *i0);
    *l0 = 1.0f - *l1;
}

void rt_mel_resize_bilinear(float *out, int oh, int ow, const float *in, int ih, int iw)
{
    /* out (oh, ow), in (ih, iw) */
    for (int y = 0; y < oh; y++) {
        int y0, y1;
        float h0, h1;
        linear_index(y, ih, oh, &y0, &y1, &h0, &h1);
        const float *r0 = in + (size_t)y0 * (size_t)iw, *r1 = in + (size_t)y1 * (size_t)iw;
        for (int x = 0; x < ow; x++) {
            int x0, x1;
            float w0, w1;
            linear_index(x, iw, ow, &x0, &x1, &w0, &w1);
            const float t0 = r0[x0] * w0 + r0[x1] * w1;
            const float t1 = r1[x0] * w0 + r1[x1] * w1;
            out[(size_t)y * (size_t)ow + (size_t)x] = t0 * h0 + t1 * h1;
        }
    }
}

/* ---- whole front end -------------------------------------------------------- */

void rt_mel_out_free(struct rt_mel_out *m)
{
    if (!m) return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

/* img (H, W) -> out->data with the resize and channel copies of c. */
static rt_status finish_image(const float *img, size_t H, size_t W, const struct rt_mel_config *c,
                              const char *name, struct rt_mel_out *out)
{
    const size_t oh = c->resize_h ? (size_t)c->resize_h : H, ow = c->resize_w ? (size_t)c->resize_w : W;
    const size_t C = c->channels ? (size_t)c->channels : 1, plane = oh * ow;
    if (plane / ow != oh || plane > SIZE_MAX / sizeof(float) / C)
        return rt_error(RT_ERR_ARG, "%s: feature tensor too large", name);
    float *d = malloc(C * plane * sizeof(float));
    if (!d) return rt_error(RT_ERR_NOMEM, "%s: out of memory (%zu x %zu features)", name, oh, ow);
    if (c->resize_h) {
        if (H > INT32_MAX || W > INT32_MAX) {
            free(d);
            return rt_error(RT_ERR_ARG, "%s: too many frames to resize", name);
        }
        rt_mel_resize_bilinear(d, (int)oh, (int)ow, img, (int)H, (int)W);
    } else {
        memcpy(d, img, plane * sizeof(float));
    }
    for (size_t ch = 1; ch < C; ch++) memcpy(d + ch * plane, d, plane * sizeof(float));
    out->data = d;
    out->n = C * plane;
    out->ndim = 0;
    if (c->channels) out->shape[out->ndim++] = (int64_t)C;
    out->shape[out->ndim++] = (int64_t)oh;
    out->shape[out->ndim++] = (int64_t)ow;
    return RT_OK;
}

/* rt_mel_config_check with the message prefixed by "<name>: ". */
static rt_status prefixed_check(const struct rt_mel_config *c, const char *name)
{
    rt_status s = rt_mel_config_check(c);
    if (s == RT_OK) return s;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rt_errmsg());
    return rt_error(s, "%s: %s", name, msg);
}

rt_status rt_mel_from_signal(const float *x, size_t n, const struct rt_mel_config *c,
                             const char *name, struct rt_mel_out *out)
{
    memset(out, 0, sizeof *out);
    rt_status s = prefixed_check(c, name);
    if (s != RT_OK) return s;
    if (n == 0) return rt_error(RT_ERR_ARG, "%s: no samples", name);
    /* |FFT| <= n_fft * max|x|: keep the float STFT (n_fft <= 2^20) far from FLT_MAX */
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(x[i]) <= MEL_MAX_SAMPLE))
            return rt_error(RT_ERR_NONFINITE, "%s: sample %zu is %g (the front end needs |x| <= %g)",
                            name, i, (double)x[i], MEL_MAX_SAMPLE);
    const int64_t T = rt_mel_frames(n, c->n_fft, c->hop);
    const size_t M = (size_t)c->n_mels, MT = M * (size_t)T;
    if (T <= 0 || MT / M != (size_t)T || MT > SIZE_MAX / sizeof(double))
        return rt_error(RT_ERR_ARG, "%s: signal too long", name);
    struct mel_plan p;
    if ((s = plan_init(&p, c)) != RT_OK) return s;
    double *S = malloc(MT * sizeof(double));
    float *img = malloc(MT * sizeof(float));
    if (!S || !img) {
        s = rt_error(RT_ERR_NOMEM, "%s: out of memory (%zu x %lld mel)", name, M, (long long)T);
        goto done;
    }
    if ((s = stft_mel(S, T, x, n, c, &p)) != RT_OK) goto done;
    rt_mel_power_to_db(S, MT, c->ref_max ? 0.0 : 1.0, c->amin, c->top_db);
    if (c->cmn) mean_normalise(S, M, (size_t)T);
    for (size_t i = 0; i < MT; i++) img[i] = (float)S[i];
    if ((s = finish_image(img, M, (size_t)T, c, name, out)) != RT_OK) goto done;
    out->frames = T;
    out->n_samples = n;
done:
    free(S);
    free(img);
    plan_free(&p);
    return s;
}

rt_status rt_mel_from_file(const char *path, const struct rt_mel_config *c, struct rt_mel_out *out)
{
    memset(out, 0, sizeof *out);
    rt_status s = prefixed_check(c, path);
    if (s != RT_OK) return s;
    struct rt_audio_opts o;
    rt_audio_opts_default(&o);
    o.sr = c->sr;
    o.converter = c->converter;
    struct rt_audio a;
    if ((s = rt_audio_load(path, &o, &a)) != RT_OK) return s;
    s = rt_mel_from_signal(a.data, a.n, c, path, out);
    rt_audio_free(&a);
    return s;
}
