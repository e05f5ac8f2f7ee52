/*
 * featcache.h - a directory of log-mel features keyed by the audio file's
 * content and the front-end settings, so that a second pass does no DSP.
 *
 *     struct rt_mel_config c;
 *     rt_mel_config_preset(&c, "speaker");
 *     struct rt_mel_out m;
 *     bool hit;
 *     if (rt_featcache_get("/tmp/cache", "utt.flac", &c, &m, &hit) != RT_OK) ... rt_errmsg() ...
 *     // m: (n_mels, T) (or (H, W) with a resize); hit: read from the cache, no decode
 *     rt_mel_out_free(&m);
 *
 * Key: BLAKE2b-256 over the file's bytes, then BLAKE2b-256 over that digest and a
 * canonical text of every setting that changes the features (rate, FFT,
 * hop, window, mels, fmin/fmax, scale, norm, power, dB reference, amin,
 * top_db, cmn, resize, resampler) and RT_FEATCACHE_VERSION, which is bumped
 * whenever the front end's output changes. An edited file or another
 * setting is another key: stale entries are never read, only left behind
 * (delete the directory to reclaim the space).
 *
 * Entry: "<dir>/<64 hex>.npy", float32 (rows, T) without the channel axis
 * (cfg.channels must be 0: copies are the caller's). Written to a name
 * unique to the process and call, then renamed into place, so concurrent
 * writers (threads or processes sharing a cache) never see a partial file.
 * A read entry is checked (a valid .npy, 2-D, the rows the settings make,
 * finite); one that fails is recomputed and replaced.
 *
 * The file is read once: hashed, and on a miss decoded from the same bytes
 * (libsndfile virtual I/O), so the key always matches what was decoded.
 * With dir NULL or "" there is no cache (always computed, *hit false).
 * A hit fills out->ndim, shape, n, data and frames (T without a resize, 0
 * with one); n_samples is 0.
 */
#ifndef RT_FEATCACHE_H
#define RT_FEATCACHE_H

#include "core/error.h"
#include "data/mel.h"

#include <stdbool.h>
#include <stddef.h>

#define RT_FEATCACHE_VERSION 1
#define RT_FEATCACHE_MAX_FILE ((size_t)2 << 30) /* audio files larger than 2 GiB are refused */

/* Canonical settings text (part of the key); returns its length. */
size_t rt_featcache_settings(const struct rt_mel_config *c, char *out, size_t cap);

/* Key (64 hex + NUL) of a file's bytes under settings c. */
void rt_featcache_key(const void *bytes, size_t n, const struct rt_mel_config *c, char hex[65]);

/* Create dir and its parents if missing; an error names the part that fails. */
rt_status rt_featcache_prepare(const char *dir);

/* Features of the audio file at path under c (see above). *out zeroed on error. */
rt_status rt_featcache_get(const char *dir, const char *path, const struct rt_mel_config *c, struct rt_mel_out *out,
                           bool *hit);

#endif
