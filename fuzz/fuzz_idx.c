/*
 * fuzz_idx.c - libFuzzer target for the IDX parser (uncompressed bytes).
 */
#include "data/idx.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_idx x;
    if (rt_idx_parse(&x, data, size, "fuzz") != RT_OK) return 0;
    size_t n = 1;
    for (int i = 0; i < x.ndim; i++) n *= (size_t)x.dims[i];
    if (n != x.n || (n && x.data[n - 1] != data[size - 1])) abort();
    rt_idx_free(&x);
    return 0;
}
