/*
 * tensor.h - dtypes and shapes.
 *
 * A tensor is a dtype, up to RT_MAX_DIMS dimensions (row-major, last fastest)
 * and a data pointer it does not own. Kernels work on f32 today; the dtype
 * field is ready for f16, bf16, i8 and packed 4-bit (two values a byte).
 *
 *     rt_tensor t = rt_tensor_make(RT_F32, RT_DIMS(2, 3), buf);
 *     int64_t n = rt_tensor_numel(&t);   // 6
 */
#ifndef RT_TENSOR_H
#define RT_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MAX_DIMS 6

enum rt_dtype {
    RT_F32 = 0,
    RT_F16,
    RT_BF16,
    RT_I8,
    RT_U8,
    RT_I32,
    RT_I64,
    RT_Q4, /* packed 4-bit, two values per byte */
    RT_F64,
    RT_I16,
    RT_BOOL,
    RT_DTYPE_COUNT
};

typedef struct rt_tensor {
    enum rt_dtype dtype;
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    void *data;
} rt_tensor;

/* Expands to "ndim, (const int64_t[]){dims}" for functions taking (int ndim, const int64_t *shape). */
#define RT_DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

rt_tensor rt_tensor_make(enum rt_dtype dt, int ndim, const int64_t *shape, void *data);
int64_t rt_shape_numel(int ndim, const int64_t *shape);
static inline int64_t rt_tensor_numel(const rt_tensor *t) { return rt_shape_numel(t->ndim, t->shape); }
/* Storage bytes of n elements of dt (RT_Q4 rounds up to whole bytes). */
size_t rt_dtype_bytes(enum rt_dtype dt, int64_t n);
const char *rt_dtype_name(enum rt_dtype dt);
bool rt_shape_equal(int na, const int64_t *a, int nb, const int64_t *b);
/* Writes "(2, 3, 4)" into buf. Returns buf. */
char *rt_shape_str(char *buf, size_t len, int ndim, const int64_t *shape);

#endif
