/*
 * trials.h - speaker-verification trials: pairs of embeddings scored by
 * cosine similarity, labelled target (same speaker) or non-target.
 *
 *     // emb (N, D) from an embedding model, cls[i] the speaker of utterance i
 *     rt_trials t;
 *     if (rt_trials_all_pairs(&t, cls, n) != RT_OK) ... rt_errmsg();
 *     rt_trials_score(&t, emb, n, d);        // t.score[k] = cos(emb[a_k], emb[b_k])
 *     rt_metric_eer(&eer, t.score, t.n, t.target, t.n);
 *     rt_trials_free(&t);
 *
 * All pairs: every unordered pair i < j of the N utterances, in row-major
 * order (i, then j); target when cls[i] == cls[j]. N utterances give
 * N (N - 1) / 2 trials (capped at RT_TRIALS_MAX).
 *
 * Trial files (rt_trials_read): one trial a line, "LABEL A B" separated by
 * spaces or tabs, LABEL 1 (target) or 0 (non-target), A and B utterances
 * named as the data set's manifest names them (its path column, as written)
 * or by 0-based sample index (#12). Blank lines and lines starting with '#'
 * are skipped. Errors name the file and line.
 */
#ifndef RT_TRIALS_H
#define RT_TRIALS_H

#include "core/error.h"

#include <stdint.h>

#define RT_TRIALS_MAX ((int64_t)1 << 28)

typedef struct rt_trials {
    int64_t n;
    int64_t *a, *b;   /* sample indices of each trial's two sides */
    int32_t *target;  /* 1: same speaker, 0: different */
    float *score;     /* filled by rt_trials_score */
} rt_trials;

rt_status rt_trials_all_pairs(rt_trials *t, const int32_t *cls, int64_t n);
/* Read a trial file; names[i] is sample i's name (the manifest path), n of them. */
rt_status rt_trials_read(rt_trials *t, const char *path, const char *const *names, int64_t n);
/* The same for the samples of ds: names from its manifest when ds is a
 * manifest: spec (every row kept), else #index only. */
struct rt_dataset;
rt_status rt_trials_read_for(rt_trials *t, const char *path, const struct rt_dataset *ds);
/* Cosine similarity of each trial's embeddings (emb (n, d)); a zero vector scores 0. */
rt_status rt_trials_score(rt_trials *t, const float *emb, int64_t n, int64_t d);
void rt_trials_free(rt_trials *t);

#endif
