/*
 * specaug.h - SpecAugment time and frequency masks on a spectrogram sample.
 *
 *     rt_specaug sa = {.freq_masks = 2, .freq_width = 27, .time_masks = 2, .time_width = 40};
 *     // x: one sample of `planes` spectrograms of (rows = mel bins, cols = frames), C order
 *     rt_specaug_apply(&sa, x, planes, rows, cols, seed, epoch, batch, row_in_batch);
 *
 * Masks (Park et al. 2019, as torchaudio's FrequencyMasking/TimeMasking draw
 * them): each of freq_masks masks draws a width f uniform in [0, freq_width]
 * and a start uniform in [0, rows - f], and sets rows [start, start + f) of
 * every plane; time masks likewise over columns with time_width. Widths are
 * capped at rows (cols). Masks may overlap. The masked value is the sample's
 * own mean (over all its values, taken before masking): 0 for normalised or
 * mean-removed features, a neutral level for dB images.
 *
 * Random numbers: Philox with key = seed, step = epoch, stream = batch and
 * counter (tag | sample << 16 | k), so masks are a pure function of
 * (seed, epoch, batch, sample): the same after a resume and on any thread
 * count, different across epochs.
 */
#ifndef RT_SPECAUG_H
#define RT_SPECAUG_H

#include <stdbool.h>
#include <stdint.h>

#define RT_SPECAUG_MAX_MASKS 64

typedef struct rt_specaug {
    int freq_masks;   /* masks over mel bins (0: none) */
    int freq_width;   /* largest width in bins */
    int time_masks;   /* masks over frames (0: none) */
    int time_width;   /* largest width in frames */
} rt_specaug;

/* True when at least one mask of width >= 1 can be drawn. */
bool rt_specaug_active(const rt_specaug *a);

/* Mask one sample in place: planes x (rows, cols) floats. */
void rt_specaug_apply(const rt_specaug *a, float *x, int64_t planes, int64_t rows, int64_t cols, uint64_t seed,
                      uint64_t epoch, uint64_t batch, uint64_t sample);

#endif
