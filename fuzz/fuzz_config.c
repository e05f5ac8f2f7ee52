/*
 * fuzz_config.c - libFuzzer target for model configs (rt_model_from_json:
 * JSON parsing, every architecture's field checks, graph building).
 *
 *     make fuzz && build/fuzz/fuzz_config -max_total_time=60 -dict=fuzz/config.dict fuzz/seeds/fuzz_config
 *
 * Any input must give a model (parameters declared, allocated within the
 * limit and initialised) or an error status with a message; never a crash,
 * leak or overflow. Graphs are not planned here: a valid config may ask for
 * activations larger than the fuzzer's memory limit.
 */
#include "core/error.h"
#include "models/model.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_model_set_max_params((size_t)1 << 22); /* keep allocations within the fuzzer's limits */
    rt_model *m = NULL;
    rt_status s = rt_model_from_json(&m, (const char *)data, size, "fuzz.json");
    if (s == RT_OK) {
        RT_ASSERT(m != NULL);
        rt_model_init(m, 1);
        rt_model_free(m);
    } else {
        RT_ASSERT(m == NULL && rt_errmsg()[0] != '\0');
    }
    return 0;
}
