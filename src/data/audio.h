/*
 * audio.h - load an audio file as mono float samples at a chosen rate.
 *
 *     struct rt_audio_opts o;
 *     rt_audio_opts_default(&o);
 *     o.sr = 22050;                               // 0 keeps the file's rate
 *     struct rt_audio a;
 *     if (rt_audio_load("song.flac", &o, &a) != RT_OK) ... rt_errmsg() ...
 *     // a.data[0..a.n) mono samples at a.sr (a.orig_sr, a.channels: the file's)
 *     rt_audio_free(&a);
 *
 * Pipeline (the same as librosa.load(path, sr=sr, mono=True) up to the
 * resampler): libsndfile decodes (WAV, FLAC, OGG/Vorbis, Opus, MP3 and the
 * rest of what the installed libsndfile reads) to float, integer PCM scaled
 * to [-1, 1); channels are averaged in float (the mean, as numpy's
 * float32 mean); libsamplerate resamples when the rates differ
 * (SRC_SINC_BEST_QUALITY by default) and the result is cut or zero-padded
 * to ceil(n * sr / orig_sr) samples, computed as librosa does in double.
 *
 * Every failure is one rt_error() message naming the file: cannot open or
 * not a recognised audio format, truncated (header promises more data than
 * the file holds, or a decoder error), no samples, a NaN or Inf sample, a
 * rate libsamplerate refuses (sr <= 0 or a ratio outside 1/256..256), longer
 * than opts.max_frames.
 */
#ifndef RT_AUDIO_H
#define RT_AUDIO_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

struct rt_audio_opts {
    int sr;              /* target rate in Hz; 0 keeps the file's rate */
    int converter;       /* libsamplerate converter id; 0 = SRC_SINC_BEST_QUALITY */
    int64_t max_frames;  /* refuse files with more frames than this; 0 = no limit */
};

struct rt_audio {
    float *data;     /* n mono samples; owned */
    size_t n;
    int sr;          /* rate of data */
    int orig_sr;     /* the file's rate */
    int channels;    /* the file's channel count */
};

void rt_audio_opts_default(struct rt_audio_opts *o);

rt_status rt_audio_load(const char *path, const struct rt_audio_opts *o, struct rt_audio *out);

/* The same from a memory buffer (libsndfile virtual I/O); `name` names it in errors. */
rt_status rt_audio_load_mem(const void *buf, size_t len, const char *name,
                            const struct rt_audio_opts *o, struct rt_audio *out);

/*
 * Resample in[0..n) from sr_in to sr_out with libsamplerate `converter` into a
 * new buffer *out of *n_out = ceil(n * (sr_out / sr_in)) samples.
 * `name` names the signal in errors.
 */
rt_status rt_audio_resample(const float *in, size_t n, int sr_in, int sr_out, int converter,
                            const char *name, float **out, size_t *n_out);

void rt_audio_free(struct rt_audio *a);

#endif
