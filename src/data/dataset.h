/*
 * dataset.h - in-memory datasets: N samples of x (float32, a per-sample
 * shape) and a target y (a class index, or a float vector).
 *
 *     rt_dataset ds;
 *     if (rt_dataset_open(&ds, "fmnist:train") != RT_OK) puts(rt_errmsg());
 *     // ds.n == 60000, ds.x_shape = {28, 28}, ds.x_size == 784, x in [0, 1]
 *     // ds.n_classes == 10, ds.label[i] in 0..9, ds.y == NULL
 *     rt_dataset_subset(&ds, 0.1, 42);     // 6000 samples, 600 per class
 *     rt_dataset_free(&ds);
 *
 * Spec syntax (rt_dataset_open):
 *
 *     fmnist:train, fmnist:test   Debian's dataset-fashion-mnist, read from
 *                                 $RETORT_FMNIST_DIR or /usr/share/datasets/fashion-mnist
 *     mnist:train, mnist:test     the same four file names (plain or .gz) in
 *                                 $RETORT_MNIST_DIR or /usr/share/datasets/mnist
 *     idx:IMAGES,LABELS           any IDX pair (gzipped or plain)
 *     npy:X,Y                     two .npy files (any dtype npy.h reads)
 *     PATH.safetensors            tensors "x" and "y" (st:PATH for another name)
 *     manifest:PATH.csv?K=V&...   audio files listed in a CSV manifest, as log-mel
 *                                 features (manifest.h, docs/audio.md), e.g.
 *                                 manifest:train.csv?preset=speaker&crop=200
 *
 * Paths inside idx: and npy: must not contain a comma, a manifest path no '?'.
 *
 * Image options: any spec but a manifest may end in ?KEY=VALUE&... (paths
 * then must not contain '?'), applied to the validated samples, which must
 * be (H, W) or (C, H, W):
 *     size=N or size=HxW   bilinear resize of the last two dims, PyTorch's
 *                          F.interpolate(mode="bilinear", align_corners=False,
 *                          no antialias: a large downscale aliases); sides 1..4096
 *     channels=C           copy a single channel into C (1..64); the samples
 *                          become (C, H, W) (channels=1 just adds the dimension)
 * e.g. fmnist:train?size=64&channels=3 holds 60000 samples of (3, 64, 64)
 * (2.9 GB as float32), for a model made for 64x64 RGB frames. Labels and
 * targets are unchanged; ds.source keeps the whole spec.
 *
 * Audio manifests may set crop (ds.crop frames: ds.x holds centre windows,
 * ds.full the whole utterances the loader cuts random windows from),
 * SpecAugment masks for training batches (ds.specaug) and skip bad rows
 * (ds.n_skipped, ds.skipped). Other sources leave these zero.
 *
 * x: IDX images are uint8 and scaled to x / 255 (range [0, 1]); .npy and
 * .safetensors x are taken as they are (converted to float32). Mean/std
 * normalisation is a loader option (loader.h), with rt_dataset_stats() to
 * measure it on a training set.
 *
 * y: a y of shape (N,) holds class indices: every value must be an integer
 * in [0, RT_DATASET_MAX_CLASSES) and n_classes = max + 1 (10 for fmnist and
 * mnist, which also rejects a label >= 10); ds.label holds them. A y of shape
 * (N, K) holds float targets (regression, embeddings): ds.y, ds.y_size = K,
 * n_classes = 0. Store a scalar regression target as (N, 1). IDX labels are
 * always class indices. A caller may raise n_classes after opening (a subset
 * that lacks the top class).
 *
 * Validation: every failure is one rt_error() naming the file and the
 * problem: sample counts that differ, a label out of range or not an
 * integer, a NaN or Inf in x or y (with the first bad sample and element),
 * shapes the convention does not allow, a truncated or malformed file (the
 * idx/npy/safetensors readers), a missing named set (naming the package).
 */
#ifndef RT_DATASET_H
#define RT_DATASET_H

#include "core/error.h"
#include "data/specaug.h"

#include <stdbool.h>
#include <stdint.h>

#define RT_DATASET_MAX_DIM 7
#define RT_DATASET_MAX_CLASSES (1 << 24)
#define RT_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define RT_MNIST_DIR "/usr/share/datasets/mnist"

typedef struct rt_dataset {
    int64_t n;                             /* samples */
    int x_ndim;                            /* per-sample shape (without N) */
    int64_t x_shape[RT_DATASET_MAX_DIM];
    int64_t x_size;                        /* floats per sample */
    float *x;                              /* n * x_size, sample-major; owned */
    int64_t n_classes;                     /* > 0: classification (label), 0: float targets (y) */
    int32_t *label;                        /* n class indices, or NULL; owned */
    int64_t y_size;                        /* floats per target (0 for classification) */
    float *y;                              /* n * y_size, or NULL; owned */
    char source[256];                      /* the spec, for messages */
    /* Audio manifests (manifest.h); zero for other sources. */
    int64_t crop;                          /* > 0: samples are crop-frame windows of longer utterances */
    float *full;                           /* crop > 0: sample i is x_size / crop rows of full_len[i] */
    int64_t *full_off, *full_len;          /* frames at full + full_off[i]; owned */
    rt_specaug specaug;                    /* masks the loader applies to training batches */
    int64_t n_skipped;                     /* bad manifest rows left out (on_bad_row=skip) */
    char *skipped;                         /* "<manifest>:<line>: <problem>\n" per skipped row; owned */
} rt_dataset;

/* Open a dataset from a spec (see above). *ds is zeroed on error. */
rt_status rt_dataset_open(rt_dataset *ds, const char *spec);

/* Build from arrays already in memory (copied). label (n) for classification
 * with n_classes > 0, else y (n * y_size). `name` names it in errors. The same
 * validation as a file. */
rt_status rt_dataset_from_arrays(rt_dataset *ds, const char *name, int64_t n, int x_ndim, const int64_t *x_shape,
                                 const float *x, int64_t n_classes, const int32_t *label, int64_t y_size,
                                 const float *y);

/* The same, taking ownership of x (malloc'ed n * prod(x_shape) floats; freed on error too). */
rt_status rt_dataset_adopt(rt_dataset *ds, const char *name, int64_t n, int x_ndim, const int64_t *x_shape, float *x,
                           int64_t n_classes, const int32_t *label, int64_t y_size, const float *y);

void rt_dataset_free(rt_dataset *ds);

/* Keep round(fraction * n_c) samples of each class c (at least 1 of a class
 * that has any), chosen by a Fisher-Yates shuffle of that class's samples
 * under (seed, class); kept samples stay in their original order. Without
 * class labels: round(fraction * n) samples chosen the same way. Deterministic
 * from the seed. fraction in (0, 1]; in place. */
rt_status rt_dataset_subset(rt_dataset *ds, double fraction, uint64_t seed);

/* Mean and standard deviation (population) of all x values, in double. */
void rt_dataset_stats(const rt_dataset *ds, double *mean, double *std);

/* Fisher-Yates shuffle of a[0..n) driven by Philox (seed, stream, step):
 * swap i with j = u64 mod (i + 1), u64 from counter i. The result is a pure
 * function of its arguments (shared by subset and the loader). */
void rt_data_shuffle(int64_t *a, int64_t n, uint64_t seed, uint32_t stream, uint32_t step);

#endif
