/*
 * mel.h - the audio front end: STFT -> mel filterbank -> dB, as librosa does it.
 *
 *     struct rt_mel_config c;
 *     rt_mel_config_default(&c);                  // librosa defaults
 *     rt_mel_config_preset(&c, "emotion");        // or "speaker"
 *     struct rt_mel_out m;
 *     if (rt_mel_from_file("song.mp3", &c, &m) != RT_OK) ... rt_errmsg() ...
 *     // m.data: m.ndim dims m.shape[], C order, e.g. (3, 224, 224)
 *     rt_mel_out_free(&m);
 *
 * Contract (parity with librosa 0.11 / PyTorch, see docs/audio.md):
 *   signal  librosa.load(path, sr=c.sr, mono=True) but resampled by libsamplerate
 *   S       librosa.feature.melspectrogram(y=, sr=, n_fft=, hop_length=, win_length=,
 *           window='hann', center=True, pad_mode='constant', power=, n_mels=, fmin=,
 *           fmax=, htk=, norm='slaney'|None)                       -> (n_mels, T)
 *           T = 1 + n / hop (n_fft is even)
 *   dB      librosa.power_to_db(S, ref=np.max | 1.0, amin=1e-10, top_db=80 | None)
 *           (applied to S whatever the power, as power_to_db(melspectrogram(...)))
 *   cmn     optional: subtract each mel bin's mean over time
 *   resize  optional: F.interpolate(x[None, None], (H, W), mode='bilinear',
 *           align_corners=False)                                  -> (H, W)
 *   channels optional: N copies along a new leading axis          -> (N, ...)
 * The STFT runs in float (KissFFT), everything after it in double; the result
 * is float32. Threads: OpenMP over frames, one FFT plan and scratch per thread.
 */
#ifndef RT_MEL_H
#define RT_MEL_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rt_mel_config {
    int sr;             /* target sample rate (Hz) */
    int n_fft;          /* FFT size; even */
    int hop;            /* hop length in samples */
    int win;            /* window length <= n_fft; 0 means n_fft */
    int n_mels;
    double fmin;        /* Hz */
    double fmax;        /* Hz; <= 0 means sr / 2 */
    bool htk;           /* HTK mel scale instead of Slaney's */
    bool slaney_norm;   /* norm='slaney' area normalisation of the filters */
    int power;          /* 2: power spectrogram, 1: magnitude */
    bool ref_max;       /* dB reference: max of S (true) or 1.0 (false) */
    double amin;        /* floor before log10 */
    double top_db;      /* clip to max - top_db; < 0 disables */
    bool cmn;           /* subtract the per-mel-bin mean over time */
    int resize_h, resize_w;  /* bilinear resize of the (n_mels, T) image; 0 = none */
    int channels;       /* 0: no channel axis; N >= 1: N copies on a new axis 0 */
    int converter;      /* libsamplerate converter (0 = SRC_SINC_BEST_QUALITY) */
};

struct rt_mel_out {
    int ndim;
    int64_t shape[3];
    size_t n;           /* element count */
    float *data;        /* owned */
    int64_t frames;     /* STFT frames T before any resize */
    size_t n_samples;   /* samples of the signal at cfg.sr */
};

/* librosa defaults: sr 22050, n_fft 2048, hop 512, win n_fft, 128 mels,
 * Slaney scale and norm, power 2, ref max, amin 1e-10, top_db 80. */
void rt_mel_config_default(struct rt_mel_config *c);

/*
 * Overwrite c with a preset:
 *   "emotion": defaults, then resize 224x224 and 3 channels -> (3, 224, 224)
 *   "speaker": sr 16000, n_fft 512, win 400 (25 ms), hop 160 (10 ms), 80 mels,
 *              ref 1.0, no top_db, cmn                     -> (80, T)
 * Returns RT_ERR_UNKNOWN for another name.
 */
rt_status rt_mel_config_preset(struct rt_mel_config *c, const char *name);

/* Check the settings; the message names the bad one. */
rt_status rt_mel_config_check(const struct rt_mel_config *c);

/* Frames of a centred STFT of n samples. */
int64_t rt_mel_frames(size_t n, int n_fft, int hop);

/*
 * The mel filterbank as librosa.filters.mel (float32 weights), w is
 * (n_mels, n_fft/2 + 1) C order.
 */
rt_status rt_mel_filterbank(float *w, int sr, int n_fft, int n_mels, double fmin, double fmax,
                            bool htk, bool slaney_norm);

/* In place: 10 log10(max(amin, s) / max(amin, ref)), then clip at max - top_db
 * (top_db < 0: no clip). ref <= 0 means the maximum of s. */
void rt_mel_power_to_db(double *s, size_t n, double ref, double amin, double top_db);

/* out (oh, ow) <- in (ih, iw), PyTorch bilinear, align_corners=False, no antialias. */
void rt_mel_resize_bilinear(float *out, int oh, int ow, const float *in, int ih, int iw);

/* Features of x[0..n), a signal already at c->sr; `name` names it in errors. */
rt_status rt_mel_from_signal(const float *x, size_t n, const struct rt_mel_config *c,
                             const char *name, struct rt_mel_out *out);

/* Load, downmix and resample the file to c->sr, then rt_mel_from_signal. */
rt_status rt_mel_from_file(const char *path, const struct rt_mel_config *c, struct rt_mel_out *out);

void rt_mel_out_free(struct rt_mel_out *m);

#endif
