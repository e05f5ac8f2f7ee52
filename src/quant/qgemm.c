/*
 * qgemm.c - int8 / q4 matrix products on three paths (portable C, AVX2,
 * AVX-512 VNNI), the quantisation rules they rely on, F16 conversion and
 * the one place that picks a path (contract in qgemm.h).
 *
 * Every path runs the same tiles: a tile of MR activation rows by NR weight
 * rows keeps MR x NR accumulators in registers over the whole K; edge tiles
 * are the same code with smaller constant MR/NR (a switch over always-inline
 * specialisations). The float epilogue is one function per format shared by
 * all paths, so int8 outputs are bit-identical across paths.
 */
#include "quant/qgemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define RT_QX86 1
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#define VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#endif
#define INLINE static inline __attribute__((always_inline))
/* the MR x NR loops of a tile unrolled, so its accumulators live in registers */
#define UNROLL _Pragma("GCC unroll 4")

/* ---- F16 ---- */

uint16_t rt_f16_from_f32(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
    int32_t exp = (int32_t)((x >> 23) & 0xff), e = exp - 127 + 15;
    if (exp == 255) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* subnormal half (or zero) */
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - e;
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* a carry into the exponent is right, up to inf */
    return (uint16_t)(sign | h);
}

float rt_f32_from_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, mant = h & 0x3ff, x;
    if (exp == 0) {
        float f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    }
    x = exp == 31 ? sign | 0x7f800000 | (mant << 13) : sign | ((exp + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- quantisation rules (scalar references) ---- */

/* round half to even, clamped to [lo, hi]; NaN -> lo (as _mm256_max_ps(v, lo) does) */
static inline float round_clamp(float v, float lo, float hi)
{
    v = nearbyintf(v);
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

static float absmax(const float *x, int64_t n)
{
    float m = 0.f;
    for (int64_t k = 0; k < n; k++) {
        float a = fabsf(x[k]);
        m = a > m ? a : m;
    }
    return m;
}

float rt_quant_i8_row(int8_t *q, const float *x, int64_t n)
{
    float amax = absmax(x, n), s = amax / 127.f;
    for (int64_t k = 0; k < n; k++) q[k] = s > 0.f ? (int8_t)round_clamp(x[k] / s, -127.f, 127.f) : 0;
    return s > 0.f ? s : 0.f;
}

void rt_quant_q4_row(rt_q4_block *q, const float *x, int64_t n)
{
    RT_ASSERT(n % RT_Q4_BLOCK == 0);
    for (int64_t b = 0; b < n / RT_Q4_BLOCK; b++) {
        const float *xb = x + b * RT_Q4_BLOCK;
        float m = 0.f, am = 0.f;
        for (int j = 0; j < RT_Q4_BLOCK; j++)
            if (fabsf(xb[j]) > am) am = fabsf(xb[j]), m = xb[j];
        float d0 = m / -8.f;
        d0 = d0 > 65504.f ? 65504.f : d0 < -65504.f ? -65504.f : d0;
        q[b].d = rt_f16_from_f32(d0);
        float d = rt_f32_from_f16(q[b].d);
        uint8_t c[RT_Q4_BLOCK];
        for (int j = 0; j < RT_Q4_BLOCK; j++) c[j] = d != 0.f ? (uint8_t)round_clamp(xb[j] / d + 8.f, 0.f, 15.f) : 8;
        for (int j = 0; j < 16; j++) q[b].qs[j] = (uint8_t)(c[j] | c[j + 16] << 4);
    }
}

void rt_dequant_q4_row(float *x, const rt_q4_block *q, int64_t n)
{
    for (int64_t b = 0; b < n / RT_Q4_BLOCK; b++) {
        float d = rt_f32_from_f16(q[b].d);
        for (int j = 0; j < RT_Q4_BLOCK; j++) x[b * RT_Q4_BLOCK + j] = d * (float)rt_q4_get(&q[b], j);
    }
}

/* ---- paths ---- */

static const char *const path_names[RT_QPATH_COUNT] = {"c", "avx2", "vnni"};

const char *rt_qpath_name(enum rt_qpath p) { return (unsigned)p < RT_QPATH_COUNT ? path_names[p] : "?"; }

bool rt_qpath_available(enum rt_qpath p)
{
#ifdef RT_QX86
    __builtin_cpu_init();
    if (p == RT_QPATH_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (p == RT_QPATH_VNNI)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    return p == RT_QPATH_C;
}

static int forced = -1;

void rt_qpath_force(int p)
{
    RT_ASSERT(p < 0 || (p < RT_QPATH_COUNT && rt_qpath_available((enum rt_qpath)p)));
    forced = p;
}

rt_status rt_qpath_get(enum rt_qpath *p)
{
    if (forced >= 0) {
        *p = (enum rt_qpath)forced;
        return RT_OK;
    }
    int best = rt_qpath_available(RT_QPATH_VNNI) ? RT_QPATH_VNNI : rt_qpath_available(RT_QPATH_AVX2) ? RT_QPATH_AVX2 : 0;
    *p = (enum rt_qpath)best;
    const char *e = getenv("RETORT_QKERNEL");
    if (!e || !*e) return RT_OK;
    for (int i = 0; i < RT_QPATH_COUNT; i++) {
        if (strcmp(e, path_names[i])) continue;
        if (!rt_qpath_available((enum rt_qpath)i))
            return rt_error(RT_ERR_UNSUPPORTED, "RETORT_QKERNEL=%s: this CPU cannot run the %s kernels (best here: %s)",
                            e, e, path_names[best]);
        *p = (enum rt_qpath)i;
        return RT_OK;
    }
    return rt_error(RT_ERR_ARG, "RETORT_QKERNEL=%s: not one of vnni, avx2, c", e);
}

/* ---- weight matrices ---- */

void rt_qmat_free(rt_qmat *m)
{
    if (!m) return;
    free(m->w);
    free(m->wsum);
    free(m->scale);
    free(m->q4);
    memset(m, 0, sizeof *m);
}

static rt_status check_dims(int64_t N, int64_t K)
{
    if (N < 1 || K < 1 || K > RT_QK_MAX || N > ((int64_t)1 << 40) / K)
        return rt_error(RT_ERR_SHAPE, "quantized matrix (%lld, %lld): sizes out of range (K <= %d)", (long long)N,
                        (long long)K, RT_QK_MAX);
    return RT_OK;
}

rt_status rt_qmat_init_i8(rt_qmat *m, const int8_t *w, const float *scale, int64_t N, int64_t K)
{
    memset(m, 0, sizeof *m);
    rt_status s = check_dims(N, K);
    if (s != RT_OK) return s;
    for (int64_t j = 0; j < N; j++)
        if (!isfinite(scale[j]) || scale[j] < 0.f)
            return rt_error(RT_ERR_FORMAT, "quantized matrix: scale of row %lld is %g (needs finite, >= 0)",
                            (long long)j, (double)scale[j]);
    m->bits = 8, m->N = N, m->K = K, m->Kp = (K + RT_QK_PAD - 1) / RT_QK_PAD * RT_QK_PAD;
    m->w = calloc((size_t)(N * m->Kp), 1);
    m->wsum = malloc((size_t)N * sizeof *m->wsum);
    m->scale = malloc((size_t)N * sizeof *m->scale);
    if (!m->w || !m->wsum || !m->scale) {
        rt_qmat_free(m);
        return rt_error(RT_ERR_NOMEM, "quantized matrix (%lld, %lld): out of memory", (long long)N, (long long)K);
    }
    for (int64_t j = 0; j < N; j++) {
        int32_t sum = 0;
        for (int64_t k = 0; k < K; k++) {
            int8_t v = w[j * K + k];
            m->w[j * m->Kp + k] = v == -128 ? -127 : v; /* -128 never comes from our rule; keep the kernels exact */
            sum += m->w[j * m->Kp + k];
        }
        m->wsum[j] = sum;
        m->scale[j] = scale[j];
    }
    return RT_OK;
}

rt_status rt_qmat_init_q4(rt_qmat *m, const rt_q4_block *b, int64_t N, int64_t K)
{
    memset(m, 0, sizeof *m);
    rt_status s = check_dims(N, K);
    if (s != RT_OK) return s;
    if (K % RT_Q4_BLOCK)
        return rt_error(RT_ERR_SHAPE, "q4 matrix (%lld, %lld): rows are not a multiple of %d", (long long)N,
                        (long long)K, RT_Q4_BLOCK);
    size_t nb = (size_t)(N * (K / RT_Q4_BLOCK));
    for (size_t i = 0; i < nb; i++)
        if (!isfinite(rt_f32_from_f16(b[i].d)))
            return rt_error(RT_ERR_FORMAT, "q4 matrix: block %zu has a non-finite scale", i);
    m->bits = 4, m->N = N, m->K = K, m->Kp = K;
    m->q4 = malloc(nb * sizeof *m->q4);
    m->scale = malloc(nb * sizeof *m->scale);
    if (!m->q4 || !m->scale) {
        rt_qmat_free(m);
        return rt_error(RT_ERR_NOMEM, "q4 matrix (%lld, %lld): out of memory", (long long)N, (long long)K);
    }
    memcpy(m->q4, b, nb * sizeof *b);
    for (size_t i = 0; i < nb; i++) m->scale[i] = rt_f32_from_f16(b[i].d);
    return RT_OK;
}

rt_status rt_qmat_from_f32(rt_qmat *m, int bits, const float *w, int64_t N, int64_t K)
{
    memset(m, 0, sizeof *m);
    rt_status s = check_dims(N, K);
    if (s != RT_OK) return s;
    if (bits != 8 && bits != 4) return rt_error(RT_ERR_ARG, "quantized matrix: %d bits (want 8 or 4)", bits);
    if (bits == 4 && K % RT_Q4_BLOCK)
        return rt_error(RT_ERR_SHAPE, "q4 matrix (%lld, %lld): rows are not a multiple of %d", (long long)N,
                        (long long)K, RT_Q4_BLOCK);
    size_t n = bits == 8 ? (size_t)(N * K) : (size_t)(N * K / RT_Q4_BLOCK) * sizeof(rt_q4_block);
    void *q = malloc(n ? n : 1);
    float *sc = malloc((size_t)N * sizeof *sc);
    if (!q || !sc) s = rt_error(RT_ERR_NOMEM, "quantized matrix (%lld, %lld): out of memory", (long long)N, (long long)K);
    for (int64_t j = 0; s == RT_OK && j < N; j++) {
        if (bits == 8) sc[j] = rt_quant_i8_row((int8_t *)q + j * K, w + j * K, K);
        else rt_quant_q4_row((rt_q4_block *)q + j * (K / RT_Q4_BLOCK), w + j * K, K);
    }
    if (s == RT_OK) s = bits == 8 ? rt_qmat_init_i8(m, q, sc, N, K) : rt_qmat_init_q4(m, q, N, K);
    free(q);
    free(sc);
    return s;
}

size_t rt_qmat_bytes(const rt_qmat *m)
{
    if (m->bits == 8) return (size_t)m->N * ((size_t)m->Kp + sizeof *m->wsum + sizeof *m->scale);
    size_t nb = (size_t)(m->N * (m->K / RT_Q4_BLOCK));
    return nb * (sizeof *m->q4 + sizeof *m->scale);
}

void rt_qmat_dequant(const rt_qmat *m, float *x)
{
    if (m->bits == 8) { /* scale * q, the expression the file loader uses */
        for (int64_t j = 0; j < m->N; j++)
            for (int64_t k = 0; k < m->K; k++) x[j * m->K + k] = m->scale[j] * (float)m->w[j * m->Kp + k];
        return;
    }
    int64_t nb = m->N * (m->K / RT_Q4_BLOCK);
    for (int64_t i = 0; i < nb; i++) rt_dequant_q4_row(x + i * RT_Q4_BLOCK, &m->q4[i], RT_Q4_BLOCK);
}

/* ---- activations ---- */

size_t rt_qact_bytes(const rt_qmat *w, int64_t M) { return (size_t)(M * w->Kp); }

#ifdef RT_QX86
/* rt_quant_i8_row with AVX2: the same operations (|x| max, IEEE division,
 * round half to even, clamp with NaN -> -127), so the same bits. */
AVX2 static float quant_row_avx2(int8_t *q, const float *x, int64_t n)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + k), absmask), mx);
    float lanes[8], amax = absmax(x + k, n - k);
    _mm256_storeu_ps(lanes, mx);
    for (int l = 0; l < 8; l++) amax = lanes[l] > amax ? lanes[l] : amax;
    float s = amax / 127.f;
    if (!(s > 0.f)) {
        memset(q, 0, (size_t)n);
        return 0.f;
    }
    const __m256 sv = _mm256_set1_ps(s), lo = _mm256_set1_ps(-127.f), hi = _mm256_set1_ps(127.f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (k = 0; k + 32 <= n; k += 32) {
        __m256i r[4];
        for (int u = 0; u < 4; u++) {
            __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + k + 8 * u), sv);
            v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            r[u] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
        }
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
        _mm256_storeu_si256((__m256i *)(q + k), _mm256_permutevar8x32_epi32(p, perm));
    }
    for (; k < n; k++) q[k] = (int8_t)round_clamp(x[k] / s, -127.f, 127.f);
    return s;
}
#endif

void rt_quant_act(int8_t *a, float *as, const float *x, int64_t M, const rt_qmat *w)
{
    enum rt_qpath p = RT_QPATH_C;
    if (rt_qpath_get(&p) != RT_OK) p = RT_QPATH_C;
    const int64_t K = w->K, Kp = w->Kp;
#pragma omp parallel for if (M * K > (1 << 16))
    for (int64_t i = 0; i < M; i++) {
#ifdef RT_QX86
        if (p != RT_QPATH_C) as[i] = quant_row_avx2(a + i * Kp, x + i * K, K);
        else
#endif
            as[i] = rt_quant_i8_row(a + i * Kp, x + i * K, K);
        memset(a + i * Kp + K, 0, (size_t)(Kp - K));
    }
}

/* ---- tiles ---- */

struct qargs {
    float *y;          /* (M, N) */
    int32_t *iacc;     /* integer mode: (M, N) or (M, N, K/32), else NULL */
    const int8_t *a;   /* (M, Kp) */
    const float *as;   /* (M) */
    const rt_qmat *w;
    const float *bias; /* (N) or NULL */
    int64_t M;
};

/* The float epilogues, shared by every path (two statements: no FMA contraction). */
static inline void store_i8(const struct qargs *g, int64_t i, int64_t j, int32_t acc)
{
    const int64_t N = g->w->N;
    if (g->iacc) {
        g->iacc[i * N + j] = acc;
        return;
    }
    float v = g->as[i] * g->w->scale[j] * (float)acc;
    g->y[i * N + j] = g->bias ? v + g->bias[j] : v;
}

static inline void store_q4(const struct qargs *g, int64_t i, int64_t j, float sum)
{
    float v = g->as[i] * sum;
    g->y[i * g->w->N + j] = g->bias ? v + g->bias[j] : v;
}

/* Expand to a switch over the edge shapes (mr, nr <= 4) of an always-inline
 * tile kernel KERN(g, i0, j0, MR, NR, ITEST) with constant MR, NR, ITEST. */
#define TILE_CASE(KERN, m, n) \
    case (m) * 8 + (n): itest ? KERN(g, i0, j0, m, n, true) : KERN(g, i0, j0, m, n, false); break;
#define TILE_ROW(KERN, m) TILE_CASE(KERN, m, 1) TILE_CASE(KERN, m, 2) TILE_CASE(KERN, m, 3) TILE_CASE(KERN, m, 4)
#define TILE_FN(NAME, KERN, ATTR)                                                                 \
    ATTR static void NAME(const struct qargs *g, int64_t i0, int64_t j0, int mr, int nr)          \
    {                                                                                             \
        const bool itest = g->iacc != NULL;                                                       \
        switch (mr * 8 + nr) { TILE_ROW(KERN, 1) TILE_ROW(KERN, 2) TILE_ROW(KERN, 3) TILE_ROW(KERN, 4) } \
    }

typedef void (*tile_fn)(const struct qargs *g, int64_t i0, int64_t j0, int mr, int nr);

/* Portable C: one output at a time. */
static void tile_i8_c(const struct qargs *g, int64_t i0, int64_t j0, int mr, int nr)
{
    const int64_t Kp = g->w->Kp;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            const int8_t *a = g->a + (i0 + i) * Kp, *w = g->w->w + (j0 + j) * Kp;
            int32_t s = 0;
            for (int64_t k = 0; k < Kp; k++) s += (int32_t)a[k] * w[k];
            store_i8(g, i0 + i, j0 + j, s);
        }
}

static void tile_q4_c(const struct qargs *g, int64_t i0, int64_t j0, int mr, int nr)
{
    const int64_t K = g->w->K, nb = K / RT_Q4_BLOCK, N = g->w->N;
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            const int8_t *a = g->a + (i0 + i) * K;
            const rt_q4_block *q = g->w->q4 + (j0 + j) * nb;
            const float *d = g->w->scale + (j0 + j) * nb;
            float f = 0.f;
            for (int64_t b = 0; b < nb; b++) {
                int32_t s = 0;
                for (int l = 0; l < 16; l++)
                    s += (int32_t)a[b * 32 + l] * ((q[b].qs[l] & 15) - 8) +
                         (int32_t)a[b * 32 + l + 16] * ((q[b].qs[l] >> 4) - 8);
                if (g->iacc) g->iacc[((i0 + i) * N + j0 + j) * nb + b] = s;
                f += d[b] * (float)s;
            }
            if (!g->iacc) store_q4(g, i0 + i, j0 + j, f);
        }
}

#ifdef RT_QX86
AVX2 static inline int32_t hsum_i32_avx2(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AVX2 static inline float hsum_f32_avx2(__m256 v)
{
    float l[8];
    _mm256_storeu_ps(l, v);
    return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
}

/* int8 tiles: MR x NR int32 accumulators over the whole row; PREP turns an
 * activation vector into the form DOT multiplies with a weight vector, CORR
 * undoes an offset at the end. */
#define KERN_I8(NAME, ATTR, V, STEP, LOAD, ZERO, PREP, DOT, HSUM, CORR)                                   \
    ATTR INLINE void NAME(const struct qargs *g, int64_t i0, int64_t j0, int MR, int NR, bool itest)       \
    {                                                                                                      \
        const int64_t Kp = g->w->Kp;                                                                       \
        const int8_t *A = g->a + i0 * Kp, *W = g->w->w + j0 * Kp;                                          \
        V acc[4][4];                                                                                       \
        UNROLL for (int i = 0; i < MR; i++)                                                                       \
            UNROLL for (int j = 0; j < NR; j++) acc[i][j] = ZERO();                                               \
        for (int64_t k = 0; k < Kp; k += STEP) {                                                           \
            V w[4];                                                                                        \
            UNROLL for (int j = 0; j < NR; j++) w[j] = LOAD(W + j * Kp + k);                                      \
            UNROLL for (int i = 0; i < MR; i++) {                                                                 \
                V av = LOAD(A + i * Kp + k), u = PREP(av);                                                 \
                UNROLL for (int j = 0; j < NR; j++) acc[i][j] = DOT(acc[i][j], u, av, w[j]);                      \
            }                                                                                              \
        }                                                                                                  \
        (void)itest;                                                                                       \
        UNROLL for (int i = 0; i < MR; i++)                                                                       \
            UNROLL for (int j = 0; j < NR; j++) store_i8(g, i0 + i, j0 + j, HSUM(acc[i][j]) - CORR(g, j0 + j));   \
    }

/* AVX2: 32 k a step; |a| x sign(w, a) through maddubs never saturates (|a|, |w| <= 127). */
#define LOAD_AVX2(p) _mm256_loadu_si256((const __m256i *)(p))
#define DOT8_AVX2(acc, u, av, w) \
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(w, av)), _mm256_set1_epi16(1)))
#define NO_CORR(g, j) 0
KERN_I8(kern_i8_avx2, AVX2, __m256i, 32, LOAD_AVX2, _mm256_setzero_si256, _mm256_abs_epi8, DOT8_AVX2, hsum_i32_avx2,
        NO_CORR)

/* 32 q4 weights of a block as int8 -8..7 in the element order of the block. */
AVX2 static inline __m256i q4_unpack_avx2(const rt_q4_block *b)
{
    const __m128i m4 = _mm_set1_epi8(15);
    __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/* q4: per block, the nibbles are unpacked in registers and multiplied with the
 * int8 activations (DOT gives 8 int32 lanes); the lanes go to float and are
 * scaled by the block's scale into float accumulators. */
#define KERN_Q4(NAME, ATTR, DOT)                                                                          \
    ATTR INLINE void NAME(const struct qargs *g, int64_t i0, int64_t j0, int MR, int NR, bool itest)       \
    {                                                                                                      \
        const int64_t K = g->w->K, nb = K / RT_Q4_BLOCK, N = g->w->N;                                      \
        const int8_t *A = g->a + i0 * K;                                                                   \
        const rt_q4_block *B = g->w->q4 + j0 * nb;                                                         \
        const float *D = g->w->scale + j0 * nb;                                                            \
        const __m256i ones = _mm256_set1_epi16(1);                                                         \
        __m256 acc[4][4];                                                                                  \
        UNROLL for (int i = 0; i < MR; i++)                                                                       \
            UNROLL for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_ps();                                  \
        for (int64_t b = 0; b < nb; b++) {                                                                 \
            __m256i w[4];                                                                                  \
            __m256 d[4];                                                                                   \
            UNROLL for (int j = 0; j < NR; j++) w[j] = q4_unpack_avx2(&B[j * nb + b]), d[j] = _mm256_set1_ps(D[j * nb + b]); \
            UNROLL for (int i = 0; i < MR; i++) {                                                                 \
                __m256i av = _mm256_loadu_si256((const __m256i *)(A + i * K + b * 32)), ab = _mm256_abs_epi8(av); \
                UNROLL for (int j = 0; j < NR; j++) {                                                             \
                    __m256i p = DOT(ab, _mm256_sign_epi8(w[j], av), ones);                                 \
                    if (itest) g->iacc[((i0 + i) * N + j0 + j) * nb + b] = hsum_i32_avx2(p);               \
                    else acc[i][j] = _mm256_fmadd_ps(d[j], _mm256_cvtepi32_ps(p), acc[i][j]);              \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
        if (!itest)                                                                                        \
            UNROLL for (int i = 0; i < MR; i++)                                                                   \
                UNROLL for (int j = 0; j < NR; j++) store_q4(g, i0 + i, j0 + j, hsum_f32_avx2(acc[i][j]));       \
    }

#define DOT_AVX2(u, s, ones) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones)
#define DOT_VNNI(u, s, ones) ((void)(ones), _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s))
KERN_Q4(kern_q4_avx2, AVX2, DOT_AVX2)
KERN_Q4(kern_q4_vnni, VNNI, DOT_VNNI)

/* VNNI: 64 k a step; vpdpbusd takes unsigned a, so a + 128 (a xor 0x80) and
 * the sum is corrected by 128 x the weight row's sum. */
#define LOAD_512(p) _mm512_loadu_si512((const void *)(p))
#define OFFSET_512(av) _mm512_xor_si512(av, _mm512_set1_epi8((char)0x80))
#define DOT8_VNNI(acc, u, av, w) _mm512_dpbusd_epi32(acc, u, w)
#define WSUM_CORR(g, j) 128 * (g)->w->wsum[j]
KERN_I8(kern_i8_vnni, VNNI, __m512i, 64, LOAD_512, _mm512_setzero_si512, OFFSET_512, DOT8_VNNI,
        _mm512_reduce_add_epi32, WSUM_CORR)

TILE_FN(tile_i8_avx2, kern_i8_avx2, AVX2)
TILE_FN(tile_q4_avx2, kern_q4_avx2, AVX2)
TILE_FN(tile_i8_vnni, kern_i8_vnni, VNNI)
TILE_FN(tile_q4_vnni, kern_q4_vnni, VNNI)
#endif

/* Tile shapes (MR activation rows x NR weight rows) and kernels by path and format. */
static const struct {
    int mr, nr;
    tile_fn fn;
} tiles[RT_QPATH_COUNT][2] = {
    [RT_QPATH_C] = {{1, 1, tile_i8_c}, {1, 1, tile_q4_c}},
#ifdef RT_QX86
    [RT_QPATH_AVX2] = {{2, 4, tile_i8_avx2}, {2, 4, tile_q4_avx2}},
    [RT_QPATH_VNNI] = {{4, 4, tile_i8_vnni}, {2, 4, tile_q4_vnni}},
#endif
};

/* Weight rows are taken in chunks of about 32 KiB (int8 rows; q4 rows count
 * their packed size) that stay in cache while every activation tile passes
 * over them; threads split the (chunk, row tile) pairs. */
#define CHUNK_BYTES (32 << 10)

static void run(enum rt_qpath p, const struct qargs *g)
{
    RT_ASSERT(rt_qpath_available(p) && (g->w->bits == 8 || g->w->bits == 4));
    const int f = g->w->bits == 4;
    const int MR = tiles[p][f].mr, NR = tiles[p][f].nr;
    const tile_fn fn = tiles[p][f].fn;
    const int64_t M = g->M, N = g->w->N, mb = (M + MR - 1) / MR;
    const int64_t row_bytes = f ? g->w->K / RT_Q4_BLOCK * RT_Q4_BLOCK_BYTES : g->w->Kp;
    int64_t nc = CHUNK_BYTES / row_bytes / NR * NR;
    nc = nc < NR ? NR : nc;
    const int64_t nchunks = (N + nc - 1) / nc;
#pragma omp parallel for collapse(2) schedule(static) if (M * N * g->w->Kp > (1 << 17))
    for (int64_t c = 0; c < nchunks; c++)
        for (int64_t ib = 0; ib < mb; ib++) {
            const int64_t i0 = ib * MR, mr = M - i0 < MR ? M - i0 : MR, jend = (c + 1) * nc < N ? (c + 1) * nc : N;
            for (int64_t j0 = c * nc; j0 < jend; j0 += NR) fn(g, i0, j0, (int)mr, (int)(jend - j0 < NR ? jend - j0 : NR));
        }
}

void rt_qgemm_on(enum rt_qpath p, float *y, const int8_t *a, const float *as, const rt_qmat *w, const float *bias,
                 int64_t M)
{
    run(p, &(struct qargs){.y = y, .a = a, .as = as, .w = w, .bias = bias, .M = M});
}

void rt_qgemm_int_on(enum rt_qpath p, int32_t *acc, const int8_t *a, const rt_qmat *w, int64_t M)
{
    run(p, &(struct qargs){.iacc = acc, .a = a, .w = w, .M = M});
}

rt_status rt_qgemm(float *y, const int8_t *a, const float *as, const rt_qmat *w, const float *bias, int64_t M)
{
    enum rt_qpath p;
    rt_status s = rt_qpath_get(&p);
    if (s == RT_OK) rt_qgemm_on(p, y, a, as, w, bias, M);
    return s;
}
