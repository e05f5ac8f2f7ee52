/*
 * fileio.h - whole-file reads with a size bound, and atomic writes.
 *
 * Atomic write (redis style): write to "<path>.tmp", fflush, fsync, fclose,
 * rename over <path>, fsync the directory. On any failure the temp file is
 * removed and <path> is untouched: no partial output is ever left behind.
 *
 *     rt_atomic af;
 *     if (rt_atomic_open(&af, path) != RT_OK) return rt_errmsg...;
 *     fwrite(buf, 1, n, af.f);
 *     return rt_atomic_commit(&af);   // or rt_atomic_abort(&af)
 */
#ifndef RT_FILEIO_H
#define RT_FILEIO_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct rt_atomic {
    FILE *f;
    char *path, *tmp;
} rt_atomic;

rt_status rt_atomic_open(rt_atomic *af, const char *path);
/* Flush, fsync, close, rename, fsync dir; aborts (removing the temp) on error. */
rt_status rt_atomic_commit(rt_atomic *af);
void rt_atomic_abort(rt_atomic *af);

/* Read a whole file (at most max_bytes) into a malloc'ed buffer. */
rt_status rt_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len);

#endif
