/*
 * augment.h - per-batch augmentation, deterministic from (seed, epoch, batch).
 *
 *     rt_augment aug = {.seed = 7, .noise_std = 0.1f, .mixup_alpha = 0.2f};
 *     rt_batch b = {.x = rt_data(x_node), .y = rt_data(target_node), .cap = 128};
 *     ... fill b (the loader does this, then calls rt_augment_apply) ...
 *     rt_augment_apply(&aug, &b, x_size, y_size, epoch, batch_index);
 *
 * Random numbers come from Philox (core/rng.h) with key = seed, step = epoch,
 * stream = batch index and a per-kind tag in the counter's high bits, so a
 * batch's augmentation is a pure function of (seed, epoch, batch index): the
 * same after a resume, and independent of the thread count.
 *
 * Order: mixup, then noise.
 *
 * Mixup (alpha > 0): one lambda ~ Beta(alpha, alpha) per batch; row i is
 * mixed with row n-1-i (the batch is already in shuffled order, so the flip is
 * a random pairing, as timm's mixup does; it works in place without scratch):
 *     x_i <- lambda x_i + (1 - lambda) x_{n-1-i},   y_i likewise,
 * the middle row of an odd batch is mixed with itself (unchanged). b->y must
 * hold float targets: one-hot rows (B, C) for classification, which become
 * soft targets, or regression targets. b->label keeps the unmixed class of
 * row i (for accuracy); b->lambda records lambda.
 *
 * The loss side with soft targets: cross-entropy against a target
 * distribution, CE = -1/B sum_i sum_c y_ic log softmax(z_i)_c, which is
 * rt_cross_entropy_soft(g, logits, y_node) with b.y as y_node's data (or
 * the one-hot graph mul(log_softmax(logits), y), sum, scale -1/B). With
 * mixup it equals lambda CE(z, class_i) + (1 - lambda) CE(z, class_{n-1-i}).
 * Without mixup, rt_cross_entropy(g, logits, label_node) on b.label is the
 * same loss. A KD recipe's hard-target term is this CE on b.y.
 *
 * Noise (noise_std > 0): x += noise_std * N(0, 1) on each filled element,
 * after the loader's normalisation.
 *
 * Beta sampling: Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b),
 * Gamma by Marsaglia-Tsang (for shape < 1: Gamma(shape + 1) * U^(1/shape)),
 * every uniform and normal drawn from its own Philox counter.
 */
#ifndef RT_AUGMENT_H
#define RT_AUGMENT_H

#include <stdint.h>

typedef struct rt_batch {
    float *x;         /* cap * x_size floats (e.g. the graph's input node data) */
    float *label;     /* cap class indices as floats (what rt_cross_entropy reads), or NULL */
    float *y;         /* cap * y_size floats: one-hot/soft targets (y_size = n_classes) or float targets; or NULL */
    int64_t cap;      /* rows the buffers hold (the graph's batch size) */
    int64_t n;        /* out: rows filled (< cap for a partial last batch; rows n..cap-1 are zeroed) */
    float lambda;     /* out: the mixup lambda of this batch (1 without mixup) */
    const int64_t *idx; /* out: the data set rows of this batch (n; owned by the loader) */
} rt_batch;

typedef struct rt_augment {
    uint64_t seed;
    float noise_std;    /* 0: no noise */
    float mixup_alpha;  /* 0: no mixup */
} rt_augment;

/* Apply to rows 0..b->n of b (x rows of x_size floats, y rows of y_size). */
void rt_augment_apply(const rt_augment *a, rt_batch *b, int64_t x_size, int64_t y_size, uint64_t epoch,
                      uint64_t batch);

/* Gamma(shape, 1) and Beta(a, b) draws, a pure function of (seed, stream, step, i). */
double rt_rng_gamma(double shape, uint64_t seed, uint32_t stream, uint32_t step, uint64_t i);
double rt_rng_beta(double a, double b, uint64_t seed, uint32_t stream, uint32_t step, uint64_t i);

#endif
