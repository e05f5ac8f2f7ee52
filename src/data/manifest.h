/*
 * manifest.h - audio datasets from a CSV manifest: rows of an audio file and
 * its targets, turned into log-mel features through the front end (mel.h)
 * and a content-keyed feature cache (featcache.h).
 *
 *     rt_dataset ds;
 *     rt_dataset_open(&ds, "manifest:data/train.csv?preset=speaker&crop=200&cache=/tmp/fc");
 *     // ds.x_shape = {80, 200}: the centre 200 frames of each utterance; the
 *     // loader draws a new random 200-frame window per (seed, epoch, sample)
 *
 *     rt_manifest_opts o;
 *     rt_manifest_opts_parse(&o, "preset=speaker&on_bad_row=skip", "train.csv");
 *     rt_manifest_stats st;
 *     rt_manifest_open(&ds, "train.csv", &o, &st);   // st.computed, st.cache_hits, st.skipped
 *
 * CSV: the first non-blank line is a header naming the columns: `path`
 * first, then either one `label` column (class indices: integers >= 0) or
 * 1..RT_MANIFEST_MAX_TARGETS float target columns with any other distinct
 * names (`path,valence,arousal`). RFC 4180 quoting within a line ("a,b",
 * "" for a quote); fields are trimmed of spaces and tabs outside quotes; a
 * UTF-8 BOM, CRLF line ends and blank lines are accepted. One row per line:
 * a quoted field cannot span lines. Paths are relative to the manifest's
 * directory unless absolute.
 *
 * Bad rows: a row with the wrong field count, an empty path, a label that
 * is not a class index, a target that is not a finite number, a missing or
 * unreadable file or bad audio fails with "<manifest>:<line>: <problem>"
 * (the problem names the audio file where it is about one). on_bad_row=stop
 * (default) makes the first bad row (in line order) the open's error;
 * skip leaves it out, counts it in ds->n_skipped and lists it in
 * ds->skipped. A header that is not as above, or a manifest with no usable
 * row, is always an error.
 *
 * Lengths: every utterance gives (rows, T_i) features (rows = n_mels, or
 * the resized height; channels copies add a leading axis). With crop=N,
 * samples are N frames: ds->x holds each utterance's centre window (what
 * evaluation sees) and ds->full the whole utterance, from which the loader
 * cuts a random window per (seed, epoch, sample) for training. Without
 * crop, ds->x holds every utterance in full, padded at the end to the
 * longest one (ds->x_shape[last] = max T_i). Padding (an utterance shorter
 * than crop, or than the longest) uses pad=min (default: the utterance's
 * own minimum, its silence floor) or pad=NUMBER.
 */
#ifndef RT_MANIFEST_H
#define RT_MANIFEST_H

#include "core/error.h"
#include "data/dataset.h"
#include "data/mel.h"
#include "data/specaug.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MANIFEST_MAX_TARGETS 64
#define RT_MANIFEST_MAX_BYTES ((size_t)256 << 20) /* manifest file size limit */
#define RT_MANIFEST_MAX_PATH 4096
#define RT_MANIFEST_MAX_CROP 1000000

/* ---- the CSV parser ---- */

typedef struct rt_manifest_row {
    int64_t line;    /* 1-based line of the manifest */
    char *path;      /* as written; owned by the manifest */
    int32_t label;   /* class index (classification) */
    float *y;        /* n_targets floats (regression); points into the manifest */
    char *error;     /* NULL, or why the row is bad; owned by the manifest */
} rt_manifest_row;

typedef struct rt_manifest {
    int n_targets;                               /* 0: a `label` column; K: K float targets */
    char *target_names[RT_MANIFEST_MAX_TARGETS]; /* owned */
    int64_t n_rows;                              /* data rows (bad ones included) */
    rt_manifest_row *rows;
    float *targets;                              /* n_rows * n_targets */
} rt_manifest;

/* Parse CSV text (see above; `name` names it in messages). Errors: a bad
 * header, no header, a NUL byte in the header, size limits, no memory.
 * Row problems are not errors here: they are in rows[i].error. */
rt_status rt_manifest_parse(rt_manifest *m, const char *text, size_t len, const char *name);
void rt_manifest_free(rt_manifest *m);

/* ---- opening a dataset ---- */

typedef struct rt_manifest_opts {
    struct rt_mel_config mel; /* front-end settings (channels included) */
    int64_t crop;             /* frames per training sample; 0: full utterances */
    bool pad_min;             /* pad with each utterance's minimum (else with pad) */
    float pad;
    char cache[1024];         /* feature cache directory; "" none */
    bool skip_bad;            /* on_bad_row=skip */
    rt_specaug specaug;       /* masks for training batches (the loader applies them) */
} rt_manifest_opts;

/*
 * Options from a query "k=v&k=v" (the part of a spec after '?'; "" or NULL
 * for none), `spec` naming it in errors. Keys:
 *   preset=default|emotion|speaker   applied first, wherever it stands
 *   sr n_fft hop win n_mels channels power     integers, as `retort features`
 *   fmin fmax    Hz;  top_db=X|none;  ref=max|1;  mel_norm=slaney|none
 *   htk=0|1  cmn=0|1;  resize=HxW|none
 *   crop=N       training windows of N frames (not with resize)
 *   pad=min|X    padding value
 *   cache=DIR|none   feature cache (default $RETORT_FEATURE_CACHE, else
 *                    $XDG_CACHE_HOME/retort/features, else
 *                    $HOME/.cache/retort/features, else none)
 *   on_bad_row=stop|skip
 *   freq_masks freq_width time_masks time_width   SpecAugment (specaug.h)
 * A key given twice, an unknown key or a bad value is an error naming it.
 */
rt_status rt_manifest_opts_parse(rt_manifest_opts *o, const char *query, const char *spec);

typedef struct rt_manifest_stats {
    int64_t rows;        /* data rows in the manifest */
    int64_t computed;    /* files decoded and run through the front end */
    int64_t cache_hits;  /* files whose features came from the cache */
    int64_t skipped;     /* bad rows left out (skip) */
} rt_manifest_stats;

/* Open the manifest at path into ds (see above); st may be NULL. */
rt_status rt_manifest_open(rt_dataset *ds, const char *path, const rt_manifest_opts *o, rt_manifest_stats *st);

/* "PATH[?QUERY]", the part of a dataset spec after "manifest:". */
rt_status rt_manifest_open_spec(rt_dataset *ds, const char *spec);

/* out (rows, width) <- columns [start, start + width) of in (rows, len). */
void rt_manifest_window(float *out, const float *in, int64_t rows, int64_t len, int64_t start, int64_t width);

#endif
