/*
 * fuzz_manifest.c - libFuzzer target for the audio manifest's CSV parser
 * (rt_manifest_parse) and its spec options (rt_manifest_opts_parse).
 *
 *     make fuzz && build/fuzz/fuzz_manifest -max_total_time=60 fuzz/seeds/fuzz_manifest
 *
 * The input is the CSV text; when it holds a line starting with '?', the
 * rest of that line is also parsed as spec options. Any input must give a
 * manifest whose rows are consistent, or an error with a message; never a
 * crash, leak or overflow. No audio is opened.
 */
#include "core/error.h"
#include "data/manifest.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void options(const uint8_t *data, size_t size)
{
    const uint8_t *q = memchr(data, '?', size);
    if (!q || (q != data && q[-1] != '\n')) return;
    char buf[4200];
    size_t n = size - (size_t)(q + 1 - data);
    const uint8_t *nl = memchr(q + 1, '\n', n);
    if (nl) n = (size_t)(nl - (q + 1));
    if (n >= sizeof buf) return;
    memcpy(buf, q + 1, n);
    buf[n] = 0;
    rt_manifest_opts o;
    if (rt_manifest_opts_parse(&o, buf, "fuzz.csv") == RT_OK) RT_ASSERT(o.crop >= 0 && o.mel.n_mels >= 1);
    else RT_ASSERT(rt_errmsg()[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    options(data, size);
    rt_manifest m;
    if (rt_manifest_parse(&m, (const char *)data, size, "fuzz.csv") != RT_OK) {
        RT_ASSERT(rt_errmsg()[0] != '\0');
        return 0;
    }
    RT_ASSERT(m.n_targets >= 0 && m.n_targets <= RT_MANIFEST_MAX_TARGETS);
    int64_t last = 0;
    for (int64_t i = 0; i < m.n_rows; i++) {
        const rt_manifest_row *r = &m.rows[i];
        RT_ASSERT(r->line > last);
        last = r->line;
        if (r->error) continue;
        RT_ASSERT(r->path && r->path[0] && strlen(r->path) < RT_MANIFEST_MAX_PATH);
        if (!m.n_targets) RT_ASSERT(r->label >= 0 && r->label < RT_DATASET_MAX_CLASSES);
    }
    rt_manifest_free(&m);
    return 0;
}
