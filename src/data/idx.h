/*
 * idx.h - IDX files (MNIST, Fashion-MNIST), gzipped or plain.
 *
 * Format: magic 0x00 0x00 <type> <ndim>, ndim big-endian uint32 dims, data.
 * Only type 0x08 (unsigned byte) is read, which is what MNIST-style sets use.
 * The reader bounds everything: ndim 1..4, each dim >= 1, element count
 * <= RT_IDX_MAX_ELEMS, data size exactly equal to what the dims promise.
 *
 *     rt_idx img;
 *     if (rt_idx_load(&img, "train-images-idx3-ubyte.gz") != RT_OK) puts(rt_errmsg());
 *     // img.ndim == 3, img.dims = {60000, 28, 28}, img.data[i] in 0..255
 *     rt_idx_free(&img);
 */
#ifndef RT_IDX_H
#define RT_IDX_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define RT_IDX_MAX_ELEMS (1ull << 32)

typedef struct rt_idx {
    int ndim;
    int64_t dims[4];
    size_t n; /* element count */
    uint8_t *data;
} rt_idx;

/* Load a file; gzip is detected from its magic bytes, not its name. */
rt_status rt_idx_load(rt_idx *out, const char *path);
/* Parse an uncompressed IDX image from memory (copies the data). */
rt_status rt_idx_parse(rt_idx *out, const uint8_t *buf, size_t len, const char *label);
void rt_idx_free(rt_idx *x);

#endif
