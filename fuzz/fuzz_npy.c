/*
 * fuzz_npy.c - libFuzzer target for the .npy reader (rt_npy_parse_f32).
 *
 *     make fuzz && build/fuzz/fuzz_npy -max_total_time=60 CORPUS_DIR
 *
 * Any input must give RT_OK with a consistent array or an error status with a
 * message; never a crash, leak, overflow or read past the buffer.
 */
#include "core/error.h"
#include "io/npy.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt_npy a;
    rt_status s = rt_npy_parse_f32(data, size, "fuzz.npy", &a);
    if (s == RT_OK) {
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++) n *= (size_t)a.shape[i];
        RT_ASSERT(n == a.n && a.data != NULL && a.ndim <= RT_NPY_MAX_DIM);
        volatile float sink = 0.0f;
        for (size_t i = 0; i < a.n; i++) sink += a.data[i];   /* touch every element */
        (void)sink;
        rt_npy_free(&a);
    } else {
        RT_ASSERT(a.data == NULL && rt_errmsg()[0] != '\0');
    }
    return 0;
}
