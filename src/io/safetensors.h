/*
 * safetensors.h - strict reader and atomic writer of safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 * "__metadata__": {"k": "v"}}), then the data. The reader trusts nothing
 * (see STYLE.md, rule 11): N <= 100,000,000 and within the file; header valid
 * UTF-8 JSON without NUL or duplicate keys; integers integral and <= 2^48-1;
 * per-tensor byte size = element count x dtype size, with overflow checks;
 * tensors, sorted by offset, tile the data area exactly from 0 to its end.
 *
 *     rt_safetensors st;
 *     if (rt_st_open(&st, "model.safetensors") != RT_OK) puts(rt_errmsg());
 *     const rt_st_tensor *t = rt_st_find(&st, "fc.weight");
 *     const float *w = rt_st_data(&st, t);
 *     rt_st_close(&st);
 */
#ifndef RT_SAFETENSORS_H
#define RT_SAFETENSORS_H

#include "core/error.h"
#include "core/tensor.h"

#define RT_ST_MAX_HEADER 100000000ull

typedef struct rt_st_tensor {
    char *name;
    enum rt_dtype dtype;
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    size_t begin, end; /* byte offsets into the data area */
} rt_st_tensor;

typedef struct rt_st_meta { char *key, *value; } rt_st_meta;

typedef struct rt_safetensors {
    const uint8_t *data; /* start of the data area */
    size_t data_len;
    rt_st_tensor *t;
    int n;
    rt_st_meta *meta;
    int n_meta;
    void *map; size_t map_len; /* mmap of the file, if opened from a path */
} rt_safetensors;

rt_status rt_st_open(rt_safetensors *st, const char *path);
/* Parse from memory (the buffer must outlive st). label names it in errors. */
rt_status rt_st_parse(rt_safetensors *st, const uint8_t *buf, size_t len, const char *label);
void rt_st_close(rt_safetensors *st);
const rt_st_tensor *rt_st_find(const rt_safetensors *st, const char *name);
static inline const void *rt_st_data(const rt_safetensors *st, const rt_st_tensor *t) { return st->data + t->begin; }
/* The metadata value for key, or NULL. */
const char *rt_st_meta_get(const rt_safetensors *st, const char *key);

typedef struct rt_st_entry {
    const char *name;
    enum rt_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} rt_st_entry;

/* Write tensors (in the given order) and metadata pairs atomically. */
rt_status rt_st_write(const char *path, const rt_st_entry *e, int n, const rt_st_meta *meta, int n_meta);

#endif
