/*
 * cpu.c - CPU feature detection and the forced-ISA switch (see cpu.h).
 */
#include "core/cpu.h"

#include <stdlib.h>
#include <string.h>

static int forced = -1;

static enum rt_isa detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return RT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return RT_ISA_AVX2;
#endif
    return RT_ISA_SCALAR;
}

enum rt_isa rt_cpu_isa(void)
{
    static int cached = -1;
    if (cached < 0) {
        enum rt_isa best = detect();
        const char *e = getenv("RETORT_ISA");
        int want = best;
        if (e && !strcmp(e, "scalar")) want = RT_ISA_SCALAR;
        else if (e && !strcmp(e, "avx2")) want = RT_ISA_AVX2;
        else if (e && !strcmp(e, "avx512")) want = RT_ISA_AVX512;
        cached = want < (int)best ? want : (int)best;
    }
    if (forced >= 0) return forced < cached ? (enum rt_isa)forced : (enum rt_isa)cached;
    return (enum rt_isa)cached;
}

void rt_cpu_force_isa(int isa) { forced = isa; }

const char *rt_isa_name(enum rt_isa isa)
{
    return isa == RT_ISA_AVX512 ? "avx512" : isa == RT_ISA_AVX2 ? "avx2" : "scalar";
}
