/*
 * qgemm.h - integer matrix products for quantized inference: int8 x int8 ->
 * int32 (weights int8 per output row, or q4 blocks of 32 with an F16 scale),
 * activations quantised dynamically to int8 per row, float output with bias.
 *
 *     rt_qmat w;                                  // weights (N, K) from floats
 *     rt_qmat_from_f32(&w, 8, wf, N, K);          // or rt_qmat_init_i8 / _q4 from a file
 *     int8_t *a = malloc(rt_qact_bytes(&w, M));  float as[M];
 *     rt_quant_act(a, as, x, M, &w);              // x (M, K) floats -> int8 rows
 *     if (rt_qgemm(y, a, as, &w, bias, M) != RT_OK) puts(rt_errmsg());   // y (M, N)
 *     rt_qmat_free(&w);
 *
 * Math (A = activations (M, K), W = weights (N, K), both row-major):
 *   int8:  y[i][j] = (as[i] * ws[j]) * (float)sum_k a[i][k] w[j][k] + bias[j]
 *          the sum is exact in int32 (|a|, |w| <= 127, K < 2^17).
 *   q4:    y[i][j] = as[i] * sum_b d[j][b] * (float)sum_{k in b} a[i][k] (q[j][k] - 8) + bias[j]
 *          per-block sums exact in int32, the sum over blocks in float.
 *
 * Quantisation (all symmetric, zero point 0, round half to even as
 * torch.round / np.round / torch.quantize_per_channel's nearbyint do):
 *   int8 row (weights and activations): s = max|x| / 127, q = clamp(rint(x / s), -127, 127);
 *     an all-zero row has s = 0 and q = 0. -128 is never used, which keeps
 *     the AVX2 sign trick (maddubs of |a| and sign(w, a)) free of saturation.
 *   q4 block of 32 (ggml's q4_0 rule): m = the value of largest magnitude
 *     (first one on ties), d = f16(m / -8), q = clamp(rint(x / d) + 8, 0, 15),
 *     value = d * (q - 8); element j in the low nibble of byte j, element
 *     j + 16 in the high nibble. The q4 activations are int8 per row too.
 *
 * Paths: "vnni" (AVX-512 VNNI, vpdpbusd with a +128 offset corrected by
 * weight row sums), "avx2" (maddubs/madd with the sign trick) and "c"
 * (portable reference). The best the CPU has is used; RETORT_QKERNEL=
 * vnni|avx2|c forces one, and forcing one the CPU lacks is an error from
 * rt_qpath_get / rt_qgemm. Threads: OpenMP over tiles of rows and columns.
 */
#ifndef RT_QGEMM_H
#define RT_QGEMM_H

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>

#define RT_Q4_BLOCK 32
#define RT_Q4_BLOCK_BYTES 18 /* f16 scale + 16 bytes of nibbles */
#define RT_QK_PAD 64         /* int8 rows are zero-padded to a multiple of this */
#define RT_QK_MAX (1 << 17)  /* largest K: int32 sums cannot overflow below it */

/* One q4 block: 32 weights, value = f16(d) * (nibble - 8). */
typedef struct rt_q4_block {
    uint16_t d;      /* F16 bits */
    uint8_t qs[16];  /* element j low nibble, element j + 16 high nibble */
} rt_q4_block;
_Static_assert(sizeof(rt_q4_block) == RT_Q4_BLOCK_BYTES, "q4 block is 18 bytes");

enum rt_qpath { RT_QPATH_C = 0, RT_QPATH_AVX2, RT_QPATH_VNNI, RT_QPATH_COUNT };

const char *rt_qpath_name(enum rt_qpath p);
/* Can this CPU run path p? */
bool rt_qpath_available(enum rt_qpath p);
/* The path in use: forced by rt_qpath_force, else RETORT_QKERNEL, else the
 * best available. An unknown or unavailable RETORT_QKERNEL is an error. */
rt_status rt_qpath_get(enum rt_qpath *p);
/* Force a path (tests); -1 restores the default. */
void rt_qpath_force(int p);

/* IEEE half precision, round to nearest even (overflow to inf, subnormals kept). */
uint16_t rt_f16_from_f32(float x);
float rt_f32_from_f16(uint16_t h);

/* Quantise one row of n values to int8 (see above); returns the scale. */
float rt_quant_i8_row(int8_t *q, const float *x, int64_t n);
/* Quantise n values (n % 32 == 0) into n / 32 q4 blocks; dequantise them. */
void rt_quant_q4_row(rt_q4_block *q, const float *x, int64_t n);
void rt_dequant_q4_row(float *x, const rt_q4_block *q, int64_t n);
/* Element j (0..31) of a block as a signed value in -8..7. */
static inline int rt_q4_get(const rt_q4_block *b, int j)
{
    return (j < 16 ? (b->qs[j] & 15) : (b->qs[j - 16] >> 4)) - 8;
}

/* A weight matrix (N, K) ready for rt_qgemm. */
typedef struct rt_qmat {
    int bits;          /* 8 or 4 */
    int64_t N, K, Kp;  /* Kp: row stride of the int8 rows (K rounded up to RT_QK_PAD; q4: K) */
    int8_t *w;         /* bits 8: (N, Kp), zero padded */
    int32_t *wsum;     /* bits 8: sum of each row (the VNNI offset correction) */
    float *scale;      /* bits 8: (N); bits 4: (N, K/32), the blocks' F16 scales as floats */
    rt_q4_block *q4;   /* bits 4: (N, K/32) */
} rt_qmat;

/* From int8 rows (N, K) with N scales, or q4 blocks (N, K/32), both copied.
 * Errors: K out of range, K % 32 for q4, non-finite scales. */
rt_status rt_qmat_init_i8(rt_qmat *m, const int8_t *w, const float *scale, int64_t N, int64_t K);
rt_status rt_qmat_init_q4(rt_qmat *m, const rt_q4_block *b, int64_t N, int64_t K);
/* Bytes an integer matrix holds in memory (values, scales, row sums). */
size_t rt_qmat_bytes(const rt_qmat *m);
/* The float values (N, K) of an integer matrix, as a quantized file's loader makes them. */
void rt_qmat_dequant(const rt_qmat *m, float *x);
/* Quantise float weights (N, K) at 8 or 4 bits. */
rt_status rt_qmat_from_f32(rt_qmat *m, int bits, const float *w, int64_t N, int64_t K);
void rt_qmat_free(rt_qmat *m);

/* Bytes of the int8 activation buffer for M rows against w (M * Kp). */
size_t rt_qact_bytes(const rt_qmat *w, int64_t M);
/* Quantise x (M, w->K) per row into a (M, w->Kp; padding zeroed) and as (M). */
void rt_quant_act(int8_t *a, float *as, const float *x, int64_t M, const rt_qmat *w);

/* y (M, N) = A W^T with scales and bias (NULL: none), on the path in use. */
rt_status rt_qgemm(float *y, const int8_t *a, const float *as, const rt_qmat *w, const float *bias, int64_t M);
/* The same on a given path (which must be available). */
void rt_qgemm_on(enum rt_qpath p, float *y, const int8_t *a, const float *as, const rt_qmat *w, const float *bias,
                 int64_t M);
/* The integer part only, for tests: int8 -> acc (M, N) of exact dot
 * products; q4 -> acc (M, N, K/32) of exact per-block sums. */
void rt_qgemm_int_on(enum rt_qpath p, int32_t *acc, const int8_t *a, const rt_qmat *w, int64_t M);

#endif
