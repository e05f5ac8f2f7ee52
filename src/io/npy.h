/*
 * npy.h - NumPy .npy files: an atomic float32 writer and a strict reader.
 *
 *     int64_t shape[2] = {128, 431};
 *     if (rt_npy_write_f32("mel.npy", data, 2, shape) != RT_OK) ... rt_errmsg() ...
 *
 *     struct rt_npy a;
 *     if (rt_npy_read_f32("mel.npy", &a) != RT_OK) ... rt_errmsg() ...
 *     // a.ndim, a.shape[0..ndim), a.n elements of a.data (C order)
 *     rt_npy_free(&a);
 *
 * Writer: format v1.0, dtype '<f4', C order, header padded to a multiple of
 * 64 bytes; written to "<path>.tmp", fflush, fsync, fclose, rename, fsync of
 * the directory; on any error the temp file is removed and no file is left.
 *
 * Reader: treats the file as untrusted. Accepts format v1.0, v2.0 and v3.0;
 * header length <= RT_NPY_MAX_HEADER; the header must be exactly the Python
 * dict literal NumPy writes ('descr', 'fortran_order', 'shape', each once,
 * nothing else); fortran_order True is rejected; ndim <= RT_NPY_MAX_DIM;
 * element-count and byte-size arithmetic is overflow-checked and the data
 * size must equal the rest of the file exactly. Dtypes '<f4', '<f8', '|u1',
 * '|i1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8' ('<' or '=' where
 * meaningful) are converted to float32 (integers beyond 2^24 lose precision).
 * Errors go through rt_error() with messages like "x.npy: header: ...".
 */
#ifndef RT_NPY_H
#define RT_NPY_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define RT_NPY_MAX_DIM 8
#define RT_NPY_MAX_HEADER (1u << 20)

struct rt_npy {
    int ndim;
    int64_t shape[RT_NPY_MAX_DIM];
    size_t n;     /* product of shape (1 for ndim 0) */
    float *data;  /* n floats, C order; owned, free with rt_npy_free */
};

/* Write data (shape[0..ndim), C order) as '<f4' .npy atomically. */
rt_status rt_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);

/* Read a .npy file into *out (converted to float32). *out is zeroed on error. */
rt_status rt_npy_read_f32(const char *path, struct rt_npy *out);

/* The same from memory; `name` is used in error messages. */
rt_status rt_npy_parse_f32(const void *buf, size_t len, const char *name, struct rt_npy *out);

void rt_npy_free(struct rt_npy *a);

#endif
