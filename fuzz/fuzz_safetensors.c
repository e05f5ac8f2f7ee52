/*
 * fuzz_safetensors.c - libFuzzer target for the strict safetensors reader.
 * Build: make fuzz; run: build/fuzz/fuzz_safetensors -max_total_time=60 fuzz/corpus-st
 * Any accepted file must have tensors that lie inside the data area.
 */
#include "io/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_safetensors st;
    if (rt_st_parse(&st, data, size, "fuzz") != RT_OK) return 0;
    volatile uint8_t sink = 0;
    for (int i = 0; i < st.n; i++) {
        if (st.t[i].end > st.data_len || st.t[i].begin > st.t[i].end) abort();
        if (st.t[i].end > st.t[i].begin) sink ^= st.data[st.t[i].end - 1];
        if (rt_st_find(&st, st.t[i].name) == NULL) abort();
    }
    (void)sink;
    rt_st_close(&st);
    return 0;
}
