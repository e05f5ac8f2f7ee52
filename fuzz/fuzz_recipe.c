/*
 * fuzz_recipe.c - libFuzzer target for training recipes (rt_recipe_parse:
 * JSON, every field's checks, and a `--set` override applied on top).
 *
 *     make fuzz && build/fuzz/fuzz_recipe -max_total_time=60 fuzz/seeds/fuzz_recipe
 *
 * Any input must give a recipe or an error status with a message; never a
 * crash, leak or overflow.
 */
#include "core/error.h"
#include "train/recipe.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sets[] = {"optim.lr=0.01"};
    rt_recipe r;
    rt_status s = rt_recipe_parse(&r, (const char *)data, size, "fuzz.json", sets, (int)(size & 1));
    if (s == RT_OK) {
        RT_ASSERT(r.resolved && r.label && r.batch >= 1 && r.epochs >= 1);
        rt_recipe_free(&r);
    } else {
        RT_ASSERT(rt_errmsg()[0] != '\0');
    }
    return 0;
}
