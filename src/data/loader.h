/*
 * loader.h - deterministic mini-batches from an in-memory dataset.
 *
 *     rt_loader ld;
 *     rt_loader_opts o = {.batch = 128, .shuffle = true, .seed = 42, .mean = 0.286f, .std = 0.353f,
 *                         .aug = {.seed = 42, .mixup_alpha = 0.2f}};
 *     if (rt_loader_init(&ld, &ds, &o) != RT_OK) puts(rt_errmsg());
 *     rt_batch b = {.x = rt_data(x_node), .y = rt_data(target_node), .cap = 128};
 *     for (int epoch = 0; epoch < 10; epoch++)
 *         while (rt_loader_next(&ld, &b)) { ... b.n rows ... step ... }
 *     rt_loader_pos pos = rt_loader_tell(&ld);    // into the checkpoint
 *     ...
 *     rt_loader_seek(&ld, pos);                   // a resumed run: the same batches from here
 *     rt_loader_free(&ld);
 *
 * Order: epoch e visits the samples in the order of a Fisher-Yates shuffle
 * driven by Philox under (seed, e) (rt_data_shuffle), the identity without
 * shuffle: every sample exactly once, the same on any thread count, and
 * recomputable from (seed, e) alone, which is what makes tell/seek exact.
 * Batches are consecutive runs of that order; the last one is partial
 * (n < batch) unless drop_last drops it.
 *
 * A batch is copied into caller buffers (rt_batch, augment.h); nothing is
 * allocated per batch. x rows get (x - mean) / std when std > 0, as they are
 * otherwise. For classification, label gets class indices (as floats, the
 * engine's convention for rt_cross_entropy) and y (if given)
 * one-hot rows of n_classes; for float targets y gets them (label unused).
 * Rows n..cap-1 of a partial batch are zeroed; a loss averaged over the
 * graph's cap rows would count them, so run the last batch on a graph
 * planned for b.n rows (a new batch size is a new plan) or set drop_last.
 * The augmentation
 * of opts.aug runs on every batch with (aug.seed, epoch, batch index).
 *
 * Audio datasets (manifest.h): with ds->crop, row r gets a window of crop
 * frames of its utterance starting uniformly in [0, len - crop], drawn from
 * Philox under (opts.seed, epoch, sample index): the same on a resume, new
 * each epoch. ds->specaug masks each row after normalisation and before
 * opts.aug, with (aug.seed, epoch, batch index, row) (specaug.h).
 *
 * rt_loader_next returns false once at the end of each epoch and moves to
 * the next epoch (its order is drawn then).
 */
#ifndef RT_LOADER_H
#define RT_LOADER_H

#include "data/augment.h"
#include "data/dataset.h"

typedef struct rt_loader_opts {
    int64_t batch;      /* rows per batch (>= 1) */
    bool shuffle;       /* shuffle every epoch (else dataset order) */
    bool drop_last;     /* drop a partial last batch */
    uint64_t seed;      /* shuffle seed */
    float mean, std;    /* normalisation of x when std > 0 */
    rt_augment aug;     /* zero: none */
} rt_loader_opts;

/* Where a loader stands: the next batch is `batch` of epoch `epoch`. n and
 * batch_size record the loader it came from; seek checks them. */
typedef struct rt_loader_pos {
    uint64_t epoch;
    int64_t batch;
    int64_t n, batch_size;
} rt_loader_pos;

typedef struct rt_loader {
    const rt_dataset *ds;  /* borrowed; must outlive the loader */
    rt_loader_opts o;
    int64_t *order;        /* this epoch's permutation of 0..n-1 */
    uint64_t epoch;
    int64_t next;          /* next batch index within the epoch */
    int64_t n_batches;     /* per epoch */
} rt_loader;

rt_status rt_loader_init(rt_loader *ld, const rt_dataset *ds, const rt_loader_opts *o);
void rt_loader_free(rt_loader *ld);

/* Fill b with the next batch and return true; at the end of an epoch return
 * false and move to the next one. b->cap must be >= opts.batch, b->x set, and
 * b->y given (cap * rt_loader_y_size floats) when mixup is on. */
bool rt_loader_next(rt_loader *ld, rt_batch *b);

/* Floats per target row: n_classes (one-hot) or the dataset's y_size. */
int64_t rt_loader_y_size(const rt_loader *ld);

rt_loader_pos rt_loader_tell(const rt_loader *ld);
/* Continue from pos (0 <= pos.batch <= batches per epoch); an error if pos
 * came from a loader over another sample count or batch size. */
rt_status rt_loader_seek(rt_loader *ld, rt_loader_pos pos);

#endif
