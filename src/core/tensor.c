/*
 * tensor.c - dtype sizes and shape helpers (see tensor.h).
 */
#include "core/tensor.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

rt_tensor rt_tensor_make(enum rt_dtype dt, int ndim, const int64_t *shape, void *data)
{
    rt_tensor t = {.dtype = dt, .ndim = ndim, .data = data};
    RT_ASSERT(ndim >= 0 && ndim <= RT_MAX_DIMS);
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    return t;
}

int64_t rt_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

size_t rt_dtype_bytes(enum rt_dtype dt, int64_t n)
{
    switch (dt) {
    case RT_F32: case RT_I32: return (size_t)n * 4;
    case RT_F16: case RT_BF16: case RT_I16: return (size_t)n * 2;
    case RT_I8: case RT_U8: case RT_BOOL: return (size_t)n;
    case RT_I64: case RT_F64: return (size_t)n * 8;
    case RT_Q4: return (size_t)(n + 1) / 2;
    default: RT_ASSERT(0 && "bad dtype"); return 0;
    }
}

const char *rt_dtype_name(enum rt_dtype dt)
{
    static const char *const names[RT_DTYPE_COUNT] = {
        [RT_F32] = "F32", [RT_F16] = "F16", [RT_BF16] = "BF16", [RT_I8] = "I8",
        [RT_U8] = "U8",   [RT_I32] = "I32", [RT_I64] = "I64",   [RT_Q4] = "Q4",
        [RT_F64] = "F64", [RT_I16] = "I16", [RT_BOOL] = "BOOL",
    };
    return (dt >= 0 && dt < RT_DTYPE_COUNT) ? names[dt] : "?";
}

bool rt_shape_equal(int na, const int64_t *a, int nb, const int64_t *b)
{
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

char *rt_shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "(");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, ")");
    return buf;
}
