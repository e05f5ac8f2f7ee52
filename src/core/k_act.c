/*
 * k_act.c - activations and row maps: gelu (erf form), relu, tanh, sigmoid,
 * softmax and log_softmax over the last dim, dropout, gaussian_sample,
 * l2_norm over the last dim.
 *
 * Dims: n elements for elementwise ops; rows M (product of the leading
 * dims) of C floats for the row ops. Softmax and log_softmax subtract the
 * row max. GELU and the softmax pair have AVX2 variants (a Cephes-style
 * expf and a rational erf, both a few ulp) chosen in one place, act_isa();
 * the scalar code is the reference they are tested against.
 *
 * Random ops draw from the counter RNG with stream = node id, step =
 * g->step, index = element, so they do not depend on the thread count.
 * Their saved scratch starts with a flag: 1 if the forward ran in training
 * mode (backward follows the forward, not the current mode).
 *   dropout:         saved = [flag, keep bits (ceil(n/32) words)]
 *   gaussian_sample: saved = [flag, eps (n)]
 *   l2_norm:         saved = ||x_row|| (M)
 */
#include "core/op_impl.h"

#include "core/cpu.h"
#include "core/rng.h"

#include <math.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define RT_X86 1
#include <immintrin.h>
#include "core/simd_exp.h"
#define AVX2 __attribute__((target("avx2,fma")))
#endif

#define PAR_MIN 32768 /* elements below which loops stay serial */
#define BLOCK 4096    /* elementwise work unit of the parallel loops */
#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f
#define INLINE static inline __attribute__((always_inline))

/* ---------------- scalar row/span kernels (the reference) ---------------- */

INLINE float gelu1(float x) { return 0.5f * x * (1.f + erff(x * INV_SQRT2)); }
INLINE float relu1(float x) { return x > 0.f ? x : 0.f; }
INLINE float relu6_1(float x) { return x > 0.f ? (x < 6.f ? x : 6.f) : 0.f; }
INLINE float tanh1(float x) { return tanhf(x); }
INLINE float sigmoid1(float x) { return 1.f / (1.f + expf(-x)); }
INLINE float dgelu1(float x)
{
    return 0.5f * (1.f + erff(x * INV_SQRT2)) + x * expf(-0.5f * x * x) * INV_SQRT_2PI;
}

static void gelu_fwd_scalar(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = gelu1(x[i]);
}

static void gelu_bwd_scalar(float *dx, const float *dy, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * dgelu1(x[i]);
}

INLINE float row_max(const float *x, int64_t C)
{
    float m = x[0];
    for (int64_t i = 1; i < C; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static void softmax_fwd_scalar(float *y, const float *x, int64_t C)
{
    float m = row_max(x, C), s = 0.f;
    for (int64_t i = 0; i < C; i++) {
        y[i] = expf(x[i] - m);
        s += y[i];
    }
    float inv = 1.f / s;
    for (int64_t i = 0; i < C; i++) y[i] *= inv;
}

static void log_softmax_fwd_scalar(float *y, const float *x, int64_t C)
{
    float m = row_max(x, C), s = 0.f;
    for (int64_t i = 0; i < C; i++) s += expf(x[i] - m);
    float lse = m + logf(s);
    for (int64_t i = 0; i < C; i++) y[i] = x[i] - lse;
}

/* dx += y (dy - <dy, y>) */
INLINE void softmax_bwd_row(float *dx, const float *dy, const float *y, int64_t C)
{
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < C; i++) dot += dy[i] * y[i];
#pragma omp simd
    for (int64_t i = 0; i < C; i++) dx[i] += y[i] * (dy[i] - dot);
}

static void softmax_bwd_scalar(float *dx, const float *dy, const float *y, int64_t C)
{
    softmax_bwd_row(dx, dy, y, C);
}

/* dx += dy - exp(y) sum(dy) */
static void log_softmax_bwd_scalar(float *dx, const float *dy, const float *y, int64_t C)
{
    float s = 0.f;
    for (int64_t i = 0; i < C; i++) s += dy[i];
    for (int64_t i = 0; i < C; i++) dx[i] += dy[i] - expf(y[i]) * s;
}

/* ---------------- AVX2 variants ---------------- */
#ifdef RT_X86

/* e^x: 0 below -87.34, clamped at 88, NaN kept (Cephes expf polynomial). */
AVX2 static inline __m256 exp8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.f);
    __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ), nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    __m256 v = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 res = _mm256_and_ps(rt_exp_core_avx2(v), keep);
    return _mm256_or_ps(res, nan);
}

/* erf(x): rational approximation on [-4, 4] (Eigen's), |error| < 5e-7. */
AVX2 static inline __m256 erf8(__m256 a)
{
    __m256 x = _mm256_min_ps(_mm256_max_ps(a, _mm256_set1_ps(-4.f)), _mm256_set1_ps(4.f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f), _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f), _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
    /* NaN in, NaN out (min/max above would have clamped it) */
    return _mm256_or_ps(_mm256_div_ps(p, q), _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}

AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline float hmax8(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static __m256 gelu8(__m256 v)
{
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.f), k = _mm256_set1_ps(INV_SQRT2);
    return _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, erf8(_mm256_mul_ps(v, k))));
}

/* The tail (n % 8) goes through the same vector code via a padded copy, so
 * an element's value does not depend on where it sits in the span (a fused
 * epilogue applies this row by row, the gelu op block by block: the same
 * bits either way). y may be x. */
AVX2 static void gelu_fwd_avx2(float *y, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(t, gelu8(_mm256_loadu_ps(t)));
        memcpy(y + i, t, (size_t)(n - i) * sizeof(float));
    }
}

AVX2 static void gelu_bwd_avx2(float *dx, const float *dy, const float *x, int64_t n)
{
    const __m256 half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f), one = _mm256_set1_ps(1.f);
    const __m256 k = _mm256_set1_ps(INV_SQRT2), c = _mm256_set1_ps(INV_SQRT_2PI);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, erf8(_mm256_mul_ps(v, k))));
        __m256 pdf = _mm256_mul_ps(exp8(_mm256_mul_ps(mhalf, _mm256_mul_ps(v, v))), c);
        __m256 d = _mm256_fmadd_ps(v, pdf, cdf);
        _mm256_storeu_ps(dx + i, _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), d, _mm256_loadu_ps(dx + i)));
    }
    for (; i < n; i++) dx[i] += dy[i] * dgelu1(x[i]);
}

AVX2 static float row_max_avx2(const float *x, int64_t C)
{
    int64_t i = 0;
    float m = x[0];
    if (C >= 8) {
        __m256 vm = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= C; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
        m = hmax8(vm);
    }
    for (; i < C; i++) m = x[i] > m ? x[i] : m;
    return m;
}

AVX2 static void softmax_fwd_avx2(float *y, const float *x, int64_t C)
{
    float m = row_max_avx2(x, C), s = 0.f;
    __m256 vm = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= C; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, e);
        vs = _mm256_add_ps(vs, e);
    }
    for (; i < C; i++) {
        y[i] = expf(x[i] - m);
        s += y[i];
    }
    s += hsum8(vs);
    __m256 inv = _mm256_set1_ps(1.f / s);
    for (i = 0; i + 8 <= C; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
    for (; i < C; i++) y[i] *= 1.f / s;
}

AVX2 static void log_softmax_fwd_avx2(float *y, const float *x, int64_t C)
{
    float m = row_max_avx2(x, C), s = 0.f;
    __m256 vm = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= C; i += 8) vs = _mm256_add_ps(vs, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
    for (; i < C; i++) s += expf(x[i] - m);
    float lse = m + logf(s + hsum8(vs));
    __m256 vl = _mm256_set1_ps(lse);
    for (i = 0; i + 8 <= C; i += 8) _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), vl));
    for (; i < C; i++) y[i] = x[i] - lse;
}

/* the generic loop, vectorised for AVX2 by the compiler */
AVX2 static void softmax_bwd_avx2(float *dx, const float *dy, const float *y, int64_t C)
{
    softmax_bwd_row(dx, dy, y, C);
}

AVX2 static void log_softmax_bwd_avx2(float *dx, const float *dy, const float *y, int64_t C)
{
    __m256 vs = _mm256_setzero_ps();
    float s = 0.f;
    int64_t i = 0;
    for (; i + 8 <= C; i += 8) vs = _mm256_add_ps(vs, _mm256_loadu_ps(dy + i));
    for (; i < C; i++) s += dy[i];
    s += hsum8(vs);
    __m256 v = _mm256_set1_ps(s);
    for (i = 0; i + 8 <= C; i += 8) {
        __m256 d = _mm256_fnmadd_ps(exp8(_mm256_loadu_ps(y + i)), v, _mm256_loadu_ps(dy + i));
        _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), d));
    }
    for (; i < C; i++) dx[i] += dy[i] - expf(y[i]) * s;
}
#endif

/* ---------------- dispatch (the one place an ISA is chosen) ---------------- */

struct act_isa {
    void (*gelu_fwd)(float *y, const float *x, int64_t n);
    void (*gelu_bwd)(float *dx, const float *dy, const float *x, int64_t n);
    void (*softmax_fwd)(float *y, const float *x, int64_t C);
    void (*softmax_bwd)(float *dx, const float *dy, const float *y, int64_t C);
    void (*log_softmax_fwd)(float *y, const float *x, int64_t C);
    void (*log_softmax_bwd)(float *dx, const float *dy, const float *y, int64_t C);
};

static const struct act_isa isa_scalar = {gelu_fwd_scalar,    gelu_bwd_scalar,        softmax_fwd_scalar,
                                          softmax_bwd_scalar, log_softmax_fwd_scalar, log_softmax_bwd_scalar};
#ifdef RT_X86
static const struct act_isa isa_avx2 = {gelu_fwd_avx2,    gelu_bwd_avx2,        softmax_fwd_avx2,
                                        softmax_bwd_avx2, log_softmax_fwd_avx2, log_softmax_bwd_avx2};
#endif

static const struct act_isa *act_isa(void)
{
#ifdef RT_X86
    if (rt_cpu_isa() >= RT_ISA_AVX2) return &isa_avx2;
#endif
    return &isa_scalar;
}

/* ---------------- kernels ---------------- */

/* x (n) -> y (n) = x Phi(x) */
void rt_gelu_forward(float *y, const float *x, int64_t n)
{
    const struct act_isa *f = act_isa();
    int64_t nb = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t o = b * BLOCK, len = n - o < BLOCK ? n - o : BLOCK;
        f->gelu_fwd(y + o, x + o, len);
    }
}

/* y (n) <- act(y), serial (the fused epilogues call it per row inside their
 * own parallel loop): the same per-element code as the ops' forwards. */
void rt_act_inplace(int op, float *y, int64_t n)
{
    switch (op) {
    case RT_OP_GELU: act_isa()->gelu_fwd(y, y, n); break;
    case RT_OP_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = relu1(y[i]);
        break;
    case RT_OP_RELU6:
        for (int64_t i = 0; i < n; i++) y[i] = relu6_1(y[i]);
        break;
    case RT_OP_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanh1(y[i]);
        break;
    case RT_OP_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = sigmoid1(y[i]);
        break;
    default: RT_ASSERT(!"rt_act_inplace: not a fusable activation");
    }
}

/* dy, x (n) -> dx (n) += dy (Phi(x) + x phi(x)) */
void rt_gelu_backward(float *dx, const float *dy, const float *x, int64_t n)
{
    const struct act_isa *f = act_isa();
    int64_t nb = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t o = b * BLOCK, len = n - o < BLOCK ? n - o : BLOCK;
        f->gelu_bwd(dx + o, dy + o, x + o, len);
    }
}

/* x (M, C) -> y (M, C), each row exp(x - max) / sum */
void rt_softmax_forward(float *y, const float *x, int64_t M, int64_t C)
{
    const struct act_isa *f = act_isa();
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) f->softmax_fwd(y + r * C, x + r * C, C);
}

/* dy, y (M, C) -> dx (M, C) += y (dy - <dy, y>) per row */
void rt_softmax_backward(float *dx, const float *dy, const float *y, int64_t M, int64_t C)
{
    const struct act_isa *f = act_isa();
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) f->softmax_bwd(dx + r * C, dy + r * C, y + r * C, C);
}

/* x (M, C) -> y (M, C), each row x - max - log(sum exp(x - max)) */
void rt_log_softmax_forward(float *y, const float *x, int64_t M, int64_t C)
{
    const struct act_isa *f = act_isa();
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) f->log_softmax_fwd(y + r * C, x + r * C, C);
}

/* dy, y (M, C) -> dx (M, C) += dy - exp(y) sum(dy) per row */
void rt_log_softmax_backward(float *dx, const float *dy, const float *y, int64_t M, int64_t C)
{
    const struct act_isa *f = act_isa();
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) f->log_softmax_bwd(dx + r * C, dy + r * C, y + r * C, C);
}

/* x (n) -> y (n) = max(x, 0) */
void rt_relu_forward(float *y, const float *x, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = relu1(x[i]);
}

/* dy, y (n) -> dx (n) += dy [y > 0] */
void rt_relu_backward(float *dx, const float *dy, const float *y, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i]; /* unconditional load: the select compiles to a blend and the loop vectorises */
        dx[i] += y[i] > 0.f ? g : 0.f;
    }
}

/* x (n) -> y (n) = min(max(x, 0), 6) (MobileNetV2's ReLU6) */
void rt_relu6_forward(float *y, const float *x, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = relu6_1(x[i]);
}

/* dy, y (n) -> dx (n) += dy [0 < y < 6] (PyTorch's hardtanh: no gradient at the bounds) */
void rt_relu6_backward(float *dx, const float *dy, const float *y, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i]; /* loads and & (not &&) outside the select: no branch, so the loop vectorises */
        int keep = (y[i] > 0.f) & (y[i] < 6.f);
        dx[i] += keep ? g : 0.f;
    }
}

/* x (n) -> y (n) = tanh(x) */
void rt_tanh_forward(float *y, const float *x, int64_t n)
{
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = tanh1(x[i]);
}

/* dy, y (n) -> dx (n) += dy (1 - y^2) */
void rt_tanh_backward(float *dx, const float *dy, const float *y, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * (1.f - y[i] * y[i]);
}

/* x (n) -> y (n) = 1 / (1 + exp(-x)) */
void rt_sigmoid_forward(float *y, const float *x, int64_t n)
{
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = sigmoid1(x[i]);
}

/* dy, y (n) -> dx (n) += dy y (1 - y) */
void rt_sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n)
{
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.f - y[i]);
}

/* x (n) -> y (n), keep (ceil(n/32) words): element i kept iff
 * uniform(seed, stream, step, i) >= p, y = kept ? x / (1 - p) : 0. */
void rt_dropout_forward(float *y, uint32_t *keep, const float *x, int64_t n, float p, uint64_t seed,
                        uint32_t stream, uint32_t step)
{
    float scale = 1.f / (1.f - p);
    int64_t nw = (n + 31) / 32;
#pragma omp parallel for if (n > PAR_MIN / 8)
    for (int64_t w = 0; w < nw; w++) {
        int64_t i0 = w * 32, i1 = i0 + 32 < n ? i0 + 32 : n;
        uint32_t bits = 0;
        for (int64_t i = i0; i < i1; i++) {
            bool k = rt_rng_uniform(seed, stream, step, (uint64_t)i) >= p;
            bits |= (uint32_t)k << (i - i0);
            y[i] = k ? x[i] * scale : 0.f;
        }
        keep[w] = bits;
    }
}

/* dy (n), keep bits -> dx (n) += kept ? dy / (1 - p) : 0 */
void rt_dropout_backward(float *dx, const float *dy, const uint32_t *keep, int64_t n, float p)
{
    float scale = 1.f / (1.f - p);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        if (keep[i >> 5] >> (i & 31) & 1u) dx[i] += dy[i] * scale;
}

/* mu, logvar (n) -> y (n) = mu + exp(logvar / 2) eps, eps (n) ~ N(0, 1) stored */
void rt_gaussian_sample_forward(float *y, float *eps, const float *mu, const float *logvar, int64_t n,
                                uint64_t seed, uint32_t stream, uint32_t step)
{
#pragma omp parallel for if (n > PAR_MIN / 8)
    for (int64_t i = 0; i < n; i++) {
        eps[i] = rt_rng_normal(seed, stream, step, (uint64_t)i);
        y[i] = mu[i] + expf(0.5f * logvar[i]) * eps[i];
    }
}

/* dy, logvar, eps (n) -> dmu += dy, dlogvar += dy eps exp(logvar / 2) / 2 (either may be NULL) */
void rt_gaussian_sample_backward(float *dmu, float *dlogvar, const float *dy, const float *logvar,
                                 const float *eps, int64_t n)
{
    if (dmu) {
#pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dmu[i] += dy[i];
    }
    if (dlogvar) {
#pragma omp parallel for if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dlogvar[i] += dy[i] * eps[i] * 0.5f * expf(0.5f * logvar[i]);
    }
}

/* x (M, C) -> y (M, C) = x / max(||x_row||, eps), norm (M) = ||x_row|| */
void rt_l2_norm_forward(float *y, float *norm, const float *x, int64_t M, int64_t C, float eps)
{
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x + r * C;
        float *yr = y + r * C, s = 0.f;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < C; i++) s += xr[i] * xr[i];
        norm[r] = sqrtf(s);
        float inv = 1.f / (norm[r] > eps ? norm[r] : eps);
#pragma omp simd
        for (int64_t i = 0; i < C; i++) yr[i] = xr[i] * inv;
    }
}

/* dy, y (M, C), norm (M) -> dx += (dy - y <dy, y>) / ||x|| where ||x|| >= eps,
 * else dy / eps (the clamp passes no gradient to the norm, as in PyTorch). */
void rt_l2_norm_backward(float *dx, const float *dy, const float *y, const float *norm, int64_t M, int64_t C,
                         float eps)
{
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) {
        const float *dyr = dy + r * C, *yr = y + r * C;
        float *dxr = dx + r * C, dot = 0.f;
        if (norm[r] >= eps) {
#pragma omp simd reduction(+ : dot)
            for (int64_t i = 0; i < C; i++) dot += dyr[i] * yr[i];
        }
        float inv = 1.f / (norm[r] >= eps ? norm[r] : eps);
#pragma omp simd
        for (int64_t i = 0; i < C; i++) dxr[i] += (dyr[i] - yr[i] * dot) * inv;
    }
}

/* ---------------- graph glue ---------------- */

static int64_t rows_of(const rt_node *n) { return rt_dims_prod(n, 0, n->out.ndim - 1); }
static int64_t last_dim(const rt_node *n) { return n->out.shape[n->out.ndim - 1]; }

static rt_status same_shape(rt_node *n)
{
    rt_node_set_shape(n, n->in[0]->out.ndim, n->in[0]->out.shape);
    return RT_OK;
}

rt_node *rt_gelu(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_GELU, x); }
rt_status rt_op_gelu_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_gelu_forward(rt_graph *g, rt_node *n) { rt_gelu_forward(rt_data(n), rt_data(n->in[0]), rt_numel(n)); }
void rt_op_gelu_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_gelu_backward(n->in[0]->grad, n->grad, rt_data(n->in[0]), rt_numel(n));
}

rt_node *rt_relu(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_RELU, x); }
rt_node *rt_relu6(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_RELU6, x); }
rt_status rt_op_relu6_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_relu6_forward(rt_graph *g, rt_node *n) { rt_relu6_forward(rt_data(n), rt_data(n->in[0]), rt_numel(n)); }
void rt_op_relu6_backward(rt_graph *g, rt_node *n)
{
    (void)g;
    if (n->in[0]->grad) rt_relu6_backward(n->in[0]->grad, n->grad, rt_data(n), rt_numel(n));
}
rt_status rt_op_relu_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_relu_forward(rt_graph *g, rt_node *n) { rt_relu_forward(rt_data(n), rt_data(n->in[0]), rt_numel(n)); }
void rt_op_relu_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_relu_backward(n->in[0]->grad, n->grad, rt_data(n), rt_numel(n));
}

rt_node *rt_tanh(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_TANH, x); }
rt_status rt_op_tanh_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_tanh_forward(rt_graph *g, rt_node *n) { rt_tanh_forward(rt_data(n), rt_data(n->in[0]), rt_numel(n)); }
void rt_op_tanh_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_tanh_backward(n->in[0]->grad, n->grad, rt_data(n), rt_numel(n));
}

rt_node *rt_sigmoid(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_SIGMOID, x); }
rt_status rt_op_sigmoid_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_sigmoid_forward(rt_graph *g, rt_node *n)
{
    rt_sigmoid_forward(rt_data(n), rt_data(n->in[0]), rt_numel(n));
}
void rt_op_sigmoid_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_sigmoid_backward(n->in[0]->grad, n->grad, rt_data(n), rt_numel(n));
}

rt_node *rt_softmax(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_SOFTMAX, x); }
rt_status rt_op_softmax_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_softmax_forward(rt_graph *g, rt_node *n)
{
    rt_softmax_forward(rt_data(n), rt_data(n->in[0]), rows_of(n), last_dim(n));
}
void rt_op_softmax_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_softmax_backward(n->in[0]->grad, n->grad, rt_data(n), rows_of(n), last_dim(n));
}

rt_node *rt_log_softmax(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_LOG_SOFTMAX, x); }
rt_status rt_op_log_softmax_check(rt_graph *g, rt_node *n) { return same_shape(n); }
void rt_op_log_softmax_forward(rt_graph *g, rt_node *n)
{
    rt_log_softmax_forward(rt_data(n), rt_data(n->in[0]), rows_of(n), last_dim(n));
}
void rt_op_log_softmax_backward(rt_graph *g, rt_node *n)
{
    if (n->in[0]->grad) rt_log_softmax_backward(n->in[0]->grad, n->grad, rt_data(n), rows_of(n), last_dim(n));
}

/* ---- dropout ---- */

rt_node *rt_dropout(rt_graph *g, rt_node *x, float p)
{
    struct rt_dropout_args a = {p};
    return RT_ADD_NODE(g, RT_OP_DROPOUT, &a, x);
}

static uint32_t *dropout_bits(const rt_node *n) { return (uint32_t *)(void *)(n->saved + 1); }

rt_status rt_op_dropout_check(rt_graph *g, rt_node *n)
{
    float p = RT_ARGS(n, struct rt_dropout_args)->p;
    if (!(p >= 0.f && p < 1.f)) return rt_check_fail(n, "drop probability p = %g is not in [0, 1)", (double)p);
    n->n_saved = 1 + (size_t)((rt_numel(n->in[0]) + 31) / 32);
    return same_shape(n);
}

void rt_op_dropout_forward(rt_graph *g, rt_node *n)
{
    float p = RT_ARGS(n, struct rt_dropout_args)->p, *y = rt_data(n);
    const float *x = rt_data(n->in[0]);
    int64_t N = rt_numel(n);
    bool train = g->training && p > 0.f;
    n->saved[0] = train ? 1.f : 0.f;
    if (train) {
        rt_dropout_forward(y, dropout_bits(n), x, N, p, g->seed, (uint32_t)n->id, g->step);
        return;
    }
    if (y != x) memcpy(y, x, (size_t)N * sizeof *y);
}

void rt_op_dropout_backward(rt_graph *g, rt_node *n)
{
    float *dx = n->in[0]->grad;
    int64_t N = rt_numel(n);
    if (!dx) return;
    if (n->saved[0] != 0.f) {
        rt_dropout_backward(dx, n->grad, dropout_bits(n), N, RT_ARGS(n, struct rt_dropout_args)->p);
        return;
    }
    const float *dy = n->grad;
#pragma omp parallel for simd if (N > PAR_MIN)
    for (int64_t i = 0; i < N; i++) dx[i] += dy[i];
}

/* ---- gaussian_sample ---- */

rt_node *rt_gaussian_sample(rt_graph *g, rt_node *mu, rt_node *logvar)
{
    return RT_ADD_NODE0(g, RT_OP_GAUSSIAN_SAMPLE, mu, logvar);
}

rt_status rt_op_gaussian_sample_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *mu = n->in[0], *lv = n->in[1];
    if (!rt_shape_equal(mu->out.ndim, mu->out.shape, lv->out.ndim, lv->out.shape))
        return rt_check_fail(n, "mu %s and logvar %s differ", RT_SHAPE_STR(s1, mu), RT_SHAPE_STR(s2, lv));
    n->n_saved = 1 + (size_t)rt_numel(mu);
    return same_shape(n);
}

void rt_op_gaussian_sample_forward(rt_graph *g, rt_node *n)
{
    float *y = rt_data(n);
    const float *mu = rt_data(n->in[0]);
    int64_t N = rt_numel(n);
    n->saved[0] = g->training ? 1.f : 0.f;
    if (g->training) {
        rt_gaussian_sample_forward(y, n->saved + 1, mu, rt_data(n->in[1]), N, g->seed, (uint32_t)n->id, g->step);
        return;
    }
    if (y != mu) memcpy(y, mu, (size_t)N * sizeof *y);
}

void rt_op_gaussian_sample_backward(rt_graph *g, rt_node *n)
{
    /* in eval mode y = mu: logvar gets no gradient */
    float *dlv = n->saved[0] != 0.f ? n->in[1]->grad : NULL;
    rt_gaussian_sample_backward(n->in[0]->grad, dlv, n->grad, rt_data(n->in[1]), n->saved + 1, rt_numel(n));
}

/* ---- l2_norm ---- */

rt_node *rt_l2_norm(rt_graph *g, rt_node *x, float eps)
{
    struct rt_eps_args a = {eps};
    return RT_ADD_NODE(g, RT_OP_L2_NORM, &a, x);
}

rt_status rt_op_l2_norm_check(rt_graph *g, rt_node *n)
{
    float eps = RT_ARGS(n, struct rt_eps_args)->eps;
    if (!(eps >= 0.f && eps < INFINITY)) return rt_check_fail(n, "eps = %g is not a finite value >= 0", (double)eps);
    n->n_saved = (size_t)rows_of(n->in[0]);
    return same_shape(n);
}

void rt_op_l2_norm_forward(rt_graph *g, rt_node *n)
{
    rt_l2_norm_forward(rt_data(n), n->saved, rt_data(n->in[0]), rows_of(n), last_dim(n),
                       RT_ARGS(n, struct rt_eps_args)->eps);
}

void rt_op_l2_norm_backward(rt_graph *g, rt_node *n)
{
    if (!n->in[0]->grad) return;
    rt_l2_norm_backward(n->in[0]->grad, n->grad, rt_data(n), n->saved, rows_of(n), last_dim(n),
                        RT_ARGS(n, struct rt_eps_args)->eps);
}
