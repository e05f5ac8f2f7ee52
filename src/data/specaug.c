/*
 * specaug.c - SpecAugment masks (see specaug.h). Two Philox words per mask:
 * one for the width, one for the start; counters tagged so they never meet
 * the loader's shuffle, crops or the other augmentations.
 */
#include "data/specaug.h"

#include "core/error.h"
#include "core/rng.h"

#define TAG_SPEC ((uint64_t)0x5C << 56)

bool rt_specaug_active(const rt_specaug *a)
{
    return (a->freq_masks > 0 && a->freq_width > 0) || (a->time_masks > 0 && a->time_width > 0);
}

/* Mask k of a kind over an axis of `len`: [*start, *start + *width). */
static void draw(uint64_t seed, uint64_t epoch, uint64_t batch, uint64_t sample, uint64_t k, int64_t max_width,
                 int64_t len, int64_t *start, int64_t *width)
{
    uint32_t r[4];
    rt_philox4x32(seed, TAG_SPEC | (sample << 16) | k, (uint32_t)batch, (uint32_t)epoch, r);
    int64_t cap = max_width < len ? max_width : len;
    *width = (int64_t)(r[0] % (uint64_t)(cap + 1));
    *start = (int64_t)(r[1] % (uint64_t)(len - *width + 1));
}

void rt_specaug_apply(const rt_specaug *a, float *x, int64_t planes, int64_t rows, int64_t cols, uint64_t seed,
                      uint64_t epoch, uint64_t batch, uint64_t sample)
{
    RT_ASSERT(a->freq_masks <= RT_SPECAUG_MAX_MASKS && a->time_masks <= RT_SPECAUG_MAX_MASKS);
    RT_ASSERT(sample < ((uint64_t)1 << 40) && planes >= 1 && rows >= 1 && cols >= 1);
    if (!rt_specaug_active(a)) return;
    int64_t n = planes * rows * cols;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    float mean = (float)(sum / (double)n);
    for (int k = 0; k < a->freq_masks; k++) {
        int64_t s, w;
        draw(seed, epoch, batch, sample, (uint64_t)k, a->freq_width, rows, &s, &w);
        for (int64_t p = 0; p < planes; p++)
            for (int64_t r = s; r < s + w; r++)
                for (int64_t c = 0; c < cols; c++) x[(p * rows + r) * cols + c] = mean;
    }
    for (int k = 0; k < a->time_masks; k++) {
        int64_t s, w;
        draw(seed, epoch, batch, sample, RT_SPECAUG_MAX_MASKS + (uint64_t)k, a->time_width, cols, &s, &w);
        for (int64_t p = 0; p < planes; p++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = s; c < s + w; c++) x[(p * rows + r) * cols + c] = mean;
    }
}
