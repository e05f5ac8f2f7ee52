/*
 * fuzz_runlog.c - libFuzzer target for the log.jsonl reader of `retort
 * report` and `retort verify` (rt_runlog_parse: lines, records by type,
 * every field's checks, a cut-short last line).
 *
 *     make fuzz && build/fuzz/fuzz_runlog -max_total_time=60 fuzz/seeds/fuzz_runlog
 *
 * Any input must give a log or an error status with a message; never a
 * crash, leak or overflow.
 */
#include "core/error.h"
#include "report/runlog.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_runlog l;
    rt_status s = rt_runlog_parse(&l, (const char *)data, size, "fuzz.jsonl");
    if (s == RT_OK) {
        RT_ASSERT(l.n_epochs >= 0 && l.n_checks >= 0 && l.n_warnings >= 0 && l.lines >= 0);
        for (int i = 0; i < l.n_checks; i++)
            for (int k = 0; k < l.checks[i].n_terms; k++) RT_ASSERT(l.checks[i].terms[k].name);
        for (int i = 0; i < l.n_warnings; i++) RT_ASSERT(l.warnings[i].text && l.warnings[i].where);
        rt_runlog_free(&l);
    } else {
        RT_ASSERT(rt_errmsg()[0] != '\0');
    }
    return 0;
}
