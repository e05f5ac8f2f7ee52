/*
 * cpu.h - the one place where SIMD variants are chosen.
 *
 * Kernels with AVX2/AVX-512 variants ask rt_cpu_isa() which to run; the
 * scalar C reference is always available and every SIMD variant is tested
 * against it. RETORT_ISA=scalar|avx2|avx512 forces a level (capped at what
 * the CPU has), so each path can be tested on one machine.
 */
#ifndef RT_CPU_H
#define RT_CPU_H

enum rt_isa { RT_ISA_SCALAR = 0, RT_ISA_AVX2 = 1, RT_ISA_AVX512 = 2 };

/* The best level the CPU supports, lowered by RETORT_ISA if set. */
enum rt_isa rt_cpu_isa(void);
/* Override for tests (-1 restores the default). */
void rt_cpu_force_isa(int isa);
const char *rt_isa_name(enum rt_isa isa);

#endif
