/*
 * test_qgemm.c - integer kernels (src/quant/qgemm.h) on every dispatch path
 * the CPU has (the others skip with a message): integer parts exact against
 * an int64 reference, float outputs against the dequantised reference;
 * the quantisation rules against hand-computed NumPy/PyTorch-style
 * references (round half to even, as np.round / torch.round); F16
 * conversion against the F16C instruction; q4 pack/unpack round trips;
 * RETORT_QKERNEL.
 */
#include "testutil.h"

#include "core/rng.h"
#include "quant/qgemm.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
static bool has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
__attribute__((target("f16c"))) static uint16_t f16c_from_f32(float x)
{
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT), 0);
}
#endif

static uint64_t lcg = 88172645463325252ull;
static uint32_t rnd(void)
{
    lcg ^= lcg << 13, lcg ^= lcg >> 7, lcg ^= lcg << 17;
    return (uint32_t)(lcg >> 11);
}
static float urand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() % 1000003) / 1000003.f; }

/* round half to even in double, written out (np.round's rule) */
static double round_even(double v)
{
    double f = floor(v), d = v - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return fmod(f, 2.0) == 0.0 ? f : f + 1;
}

static void test_f16(void **state)
{
    (void)state;
    /* every half round-trips through float */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = rt_f32_from_f16((uint16_t)h);
        if (isnan(f)) {
            assert_true(((h >> 10) & 31) == 31 && (h & 0x3ff));
            continue;
        }
        if (rt_f16_from_f32(f) != h) fail_msg("half 0x%04x -> %g -> 0x%04x", h, (double)f, rt_f16_from_f32(f));
    }
    /* hand cases: ties to even, subnormals, overflow */
    static const struct { float x; uint16_t h; } cases[] = {
        {1.f, 0x3c00}, {-2.f, 0xc000}, {65504.f, 0x7bff}, {65520.f, 0x7c00}, {65519.f, 0x7bff},
        {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x3p-26f, 0x0001}, {0x1.8p-24f, 0x0002},
        {1.f + 0x1p-11f, 0x3c00}, {1.f + 0x3p-11f, 0x3c02}, {0x1p-14f, 0x0400}, {INFINITY, 0x7c00},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (rt_f16_from_f32(cases[i].x) != cases[i].h)
            fail_msg("f16(%a) = 0x%04x, want 0x%04x", (double)cases[i].x, rt_f16_from_f32(cases[i].x), cases[i].h);
#if defined(__x86_64__)
    if (!has_f16c()) {
        printf("    f16c: skipped (this CPU lacks F16C)\n");
        return;
    }
    int n = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t bits = rnd() ^ (rnd() << 21);
        float x;
        memcpy(&x, &bits, 4);
        if (isnan(x)) continue;
        if (i % 2) x = ldexpf(urand(-1.f, 1.f), (int)(rnd() % 50) - 30); /* the half range, subnormals included */
        uint16_t a = rt_f16_from_f32(x), b = f16c_from_f32(x);
        if (a != b) fail_msg("f16(%a): ours 0x%04x, F16C 0x%04x", (double)x, a, b);
        n++;
    }
    printf("    %d random floats: equal to F16C's vcvtps2ph\n", n);
#endif
}

/* x (n) -> q, s by the documented rule, written independently in double */
static float ref_quant_i8(int8_t *q, const float *x, int64_t n)
{
    float amax = 0.f;
    for (int64_t k = 0; k < n; k++) amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    float s = amax / 127.f;
    for (int64_t k = 0; k < n; k++) {
        double r = s > 0.f ? round_even((double)(x[k] / s)) : 0.0;
        q[k] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
    return s;
}

static void test_quant_i8_rule(void **state)
{
    (void)state;
    /* s = 1: ties go to the even neighbour (half away from zero would give 1, 3, -1, -3) */
    const float x[] = {127.f, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, -127.f, 63.5f, 0.49999997f};
    const int8_t want[] = {127, 0, 2, 2, 0, -2, -127, 64, 0};
    int8_t q[9];
    assert_true(rt_quant_i8_row(q, x, 9) == 1.f);
    assert_memory_equal(q, want, 9);
    const float z[3] = {0};
    int8_t qz[3] = {1, 1, 1};
    assert_true(rt_quant_i8_row(qz, z, 3) == 0.f);
    assert_memory_equal(qz, (int8_t[3]){0}, 3);
    /* random rows against the written-out reference, and the error bound |x - s q| <= s / 2 */
    for (int t = 0; t < 200; t++) {
        int64_t n = 1 + rnd() % 300;
        float *xr = malloc((size_t)n * 4);
        int8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
        float scale = ldexpf(1.f, (int)(rnd() % 20) - 10);
        for (int64_t k = 0; k < n; k++) xr[k] = urand(-scale, scale);
        float s = rt_quant_i8_row(a, xr, n);
        assert_true(s == ref_quant_i8(b, xr, n));
        assert_memory_equal(a, b, (size_t)n);
        for (int64_t k = 0; k < n; k++) assert_true(fabsf(xr[k] - s * a[k]) <= 0.5f * s * (1 + 1e-5f));
        free(xr), free(a), free(b);
    }
}

/* every path's activation quantiser gives the reference's bits (incl. Inf / NaN rows) */
static void test_quant_act_paths(void **state)
{
    (void)state;
    for (int p = 0; p < RT_QPATH_COUNT; p++) {
        if (!rt_qpath_available((enum rt_qpath)p)) {
            printf("    %s: skipped (not available on this CPU)\n", rt_qpath_name((enum rt_qpath)p));
            continue;
        }
        rt_qpath_force(p);
        static const int64_t Ks[] = {1, 7, 31, 32, 33, 100, 257};
        for (size_t c = 0; c < sizeof Ks / sizeof Ks[0]; c++) {
            int64_t K = Ks[c], M = 5;
            rt_qmat w;
            int8_t one = 1;
            float one_s = 1.f;
            int8_t *wi = calloc((size_t)K, 1);
            wi[0] = one;
            assert_int_equal(rt_qmat_init_i8(&w, wi, &one_s, 1, K), RT_OK);
            float *x = malloc((size_t)(M * K) * 4), as[5];
            for (int64_t k = 0; k < M * K; k++) x[k] = urand(-3.f, 3.f);
            x[K * 2] = 0.f; /* row 3: all zero */
            for (int64_t k = 0; k < K; k++) x[3 * K + k] = 0.f;
            x[4 * K] = INFINITY, x[4 * K + K / 2] = NAN;
            int8_t *a = malloc(rt_qact_bytes(&w, M)), *r = malloc((size_t)K);
            memset(a, 0x55, rt_qact_bytes(&w, M));
            rt_quant_act(a, as, x, M, &w);
            for (int64_t i = 0; i < M; i++) {
                float s = rt_quant_i8_row(r, x + i * K, K);
                assert_memory_equal(&as[i], &s, 4);
                assert_memory_equal(a + i * w.Kp, r, (size_t)K);
                for (int64_t k = K; k < w.Kp; k++) assert_int_equal(a[i * w.Kp + k], 0);
            }
            free(x), free(a), free(r), free(wi);
            rt_qmat_free(&w);
        }
    }
    rt_qpath_force(-1);
}

/* the q4 rule written out: m = first value of largest |x|, d = f16(m / -8), q = clamp(round(x / d) + 8, 0, 15) */
static void ref_quant_q4(uint8_t *codes, float *d_out, const float *x)
{
    float m = 0.f;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > fabsf(m)) m = x[j];
    float d = rt_f32_from_f16(rt_f16_from_f32(m / -8.f));
    for (int j = 0; j < 32; j++) {
        double r = d != 0.f ? round_even((double)(x[j] / d)) + 8 : 8;
        codes[j] = (uint8_t)(r < 0 ? 0 : r > 15 ? 15 : r);
    }
    *d_out = d;
}

static void test_quant_q4_rule(void **state)
{
    (void)state;
    /* m = -4 (first of -4 and 4), d = 0.5: 1.25 / d = 2.5 -> 2 (even), 0.75 -> 1.5 -> 2, 4 -> 8 -> clamped to 7 */
    float x[32] = {-4.f, 1.25f, 0.75f, 3.5f, -0.25f, 4.f, -3.75f};
    const int want[7] = {-8, 2, 2, 7, 0, 7, -8};
    rt_q4_block b;
    rt_quant_q4_row(&b, x, 32);
    assert_true(rt_f32_from_f16(b.d) == 0.5f);
    for (int j = 0; j < 7; j++)
        if (rt_q4_get(&b, j) != want[j]) fail_msg("q4 element %d: %d, want %d", j, rt_q4_get(&b, j), want[j]);
    for (int j = 7; j < 32; j++) assert_int_equal(rt_q4_get(&b, j), 0);
    /* a positive extreme maps to code 0 with a negative scale */
    float y[32] = {1.f, 2.f, -1.f};
    rt_quant_q4_row(&b, y, 32);
    assert_true(rt_f32_from_f16(b.d) == -0.25f);
    assert_int_equal(rt_q4_get(&b, 1), -8);
    /* nibble layout: element j low nibble of byte j, element j + 16 its high nibble */
    for (int t = 0; t < 100; t++) {
        rt_q4_block p;
        uint8_t codes[32];
        for (int j = 0; j < 32; j++) codes[j] = (uint8_t)(rnd() % 16);
        codes[0] = 0; /* an element at -8 makes quantise(dequantise(p)) == p */
        p.d = rt_f16_from_f32(urand(0.01f, 2.f));
        for (int j = 0; j < 16; j++) p.qs[j] = (uint8_t)(codes[j] | codes[j + 16] << 4);
        for (int j = 0; j < 32; j++) assert_int_equal(rt_q4_get(&p, j), codes[j] - 8);
        float f[32];
        rt_dequant_q4_row(f, &p, 32);
        rt_q4_block back;
        rt_quant_q4_row(&back, f, 32);
        assert_memory_equal(&back, &p, sizeof p);
    }
    /* random rows against the written-out rule, and |x - deq| <= |d| / 2 */
    for (int t = 0; t < 200; t++) {
        float xr[64], deq[64], d;
        uint8_t codes[32];
        for (int k = 0; k < 64; k++) xr[k] = urand(-1.f, 1.f) * ldexpf(1.f, (int)(rnd() % 8) - 4);
        rt_q4_block q[2];
        rt_quant_q4_row(q, xr, 64);
        rt_dequant_q4_row(deq, q, 64);
        for (int blk = 0; blk < 2; blk++) {
            ref_quant_q4(codes, &d, xr + 32 * blk);
            assert_true(rt_f32_from_f16(q[blk].d) == d);
            for (int j = 0; j < 32; j++) {
                assert_int_equal(rt_q4_get(&q[blk], j), codes[j] - 8);
                float e = fabsf(xr[32 * blk + j] - deq[32 * blk + j]);
                if (codes[j] != 15) assert_true(e <= 0.5f * fabsf(d) * (1 + 1e-5f));
            }
        }
    }
}

static const int64_t shapes[][3] = {
    {1, 1, 1}, {1, 7, 33}, {1, 64, 640}, {3, 5, 31}, {5, 9, 100}, {7, 13, 64}, {2, 3, 65},
    {17, 19, 129}, {64, 48, 300}, {33, 70, 1000}, {1, 300, 96}, {9, 4, 4096},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* A (M, Kp) activation buffer with random int8 rows in [-127, 127] (or all -127 when extreme). */
static int8_t *rand_act(const rt_qmat *w, int64_t M, float *as, bool extreme)
{
    int8_t *a = calloc(rt_qact_bytes(w, M), 1);
    for (int64_t i = 0; i < M; i++) {
        as[i] = urand(0.001f, 0.1f);
        for (int64_t k = 0; k < w->K; k++) a[i * w->Kp + k] = extreme ? -127 : (int8_t)((int)(rnd() % 255) - 127);
    }
    return a;
}

/* Random activations for w, then the integer part (n_acc values) and the float output on path p. */
struct run_out { int8_t *a; float *as; int32_t *acc; float *y; };
static struct run_out run_path(enum rt_qpath p, const rt_qmat *w, int64_t M, size_t n_acc, bool extreme,
                               const float *bias)
{
    struct run_out r = {.as = malloc((size_t)M * 4), .acc = malloc(n_acc * 4), .y = malloc((size_t)(M * w->N) * 4)};
    r.a = rand_act(w, M, r.as, extreme);
    rt_qgemm_int_on(p, r.acc, r.a, w, M);
    rt_qgemm_on(p, r.y, r.a, r.as, w, bias, M);
    return r;
}

static void run_free(struct run_out *r) { free(r->a), free(r->as), free(r->acc), free(r->y); }

static void check_i8_path(enum rt_qpath p)
{
    if (!rt_qpath_available(p)) {
        printf("    %s: skipped (this CPU lacks it)\n", rt_qpath_name(p));
        skip();
    }
    for (size_t c = 0; c < N_SHAPES; c++) {
        const int64_t M = shapes[c][0], N = shapes[c][1], K = shapes[c][2];
        bool extreme = c == N_SHAPES - 1;
        int8_t *wi = malloc((size_t)(N * K));
        float *ws = malloc((size_t)N * 4), *bias = malloc((size_t)N * 4);
        for (int64_t k = 0; k < N * K; k++) wi[k] = extreme ? (k % 2 ? 127 : -127) : (int8_t)((int)(rnd() % 255) - 127);
        for (int64_t j = 0; j < N; j++) ws[j] = urand(0.001f, 0.05f), bias[j] = urand(-1.f, 1.f);
        rt_qmat w;
        assert_int_equal(rt_qmat_init_i8(&w, wi, ws, N, K), RT_OK);
        struct run_out r = run_path(p, &w, M, (size_t)(M * N), extreme, c % 2 ? bias : NULL);
        double maxrel = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                int64_t ref = 0;
                double fref = c % 2 ? bias[j] : 0, mag = fabs(fref);
                for (int64_t k = 0; k < K; k++) {
                    ref += (int64_t)r.a[i * w.Kp + k] * wi[j * K + k];
                    double t = ((double)r.as[i] * r.a[i * w.Kp + k]) * ((double)ws[j] * wi[j * K + k]);
                    fref += t, mag += fabs(t);
                }
                if (r.acc[i * N + j] != ref)
                    fail_msg("%s (%lld,%lld,%lld) [%lld,%lld]: int %d, want %lld", rt_qpath_name(p), (long long)M,
                             (long long)N, (long long)K, (long long)i, (long long)j, r.acc[i * N + j], (long long)ref);
                double e = fabs(r.y[i * N + j] - fref) / (mag + 1e-30);
                maxrel = e > maxrel ? e : maxrel;
                if (e > 4 * FLT_EPSILON) fail_msg("%s: float output %g vs %g (rel %g)", rt_qpath_name(p), (double)r.y[i * N + j], fref, e);
            }
        printf("    %s (%lld, %lld, %lld): integers exact, float rel err %.2g (<= 4 eps of sum|terms|)\n",
               rt_qpath_name(p), (long long)M, (long long)N, (long long)K, maxrel);
        free(wi), free(ws), free(bias);
        run_free(&r);
        rt_qmat_free(&w);
    }
}

static void check_q4_path(enum rt_qpath p)
{
    if (!rt_qpath_available(p)) {
        printf("    %s: skipped (this CPU lacks it)\n", rt_qpath_name(p));
        skip();
    }
    for (size_t c = 0; c < N_SHAPES; c++) {
        const int64_t M = shapes[c][0], N = shapes[c][1], K = (shapes[c][2] + 31) / 32 * 32, nb = K / 32;
        rt_q4_block *b = malloc((size_t)(N * nb) * sizeof *b);
        float *bias = malloc((size_t)N * 4);
        for (int64_t i = 0; i < N * nb; i++) {
            b[i].d = rt_f16_from_f32(urand(-0.1f, 0.1f));
            for (int j = 0; j < 16; j++) b[i].qs[j] = c == N_SHAPES - 1 ? 0 : (uint8_t)rnd();
        }
        for (int64_t j = 0; j < N; j++) bias[j] = urand(-1.f, 1.f);
        rt_qmat w;
        assert_int_equal(rt_qmat_init_q4(&w, b, N, K), RT_OK);
        struct run_out r = run_path(p, &w, M, (size_t)(M * N * nb), c == N_SHAPES - 1, c % 2 ? bias : NULL);
        double maxrel = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double fref = c % 2 ? bias[j] : 0, mag = fabs(fref);
                for (int64_t blk = 0; blk < nb; blk++) {
                    int64_t ref = 0;
                    for (int l = 0; l < 32; l++)
                        ref += (int64_t)r.a[i * K + blk * 32 + l] * rt_q4_get(&b[j * nb + blk], l);
                    int32_t got = r.acc[(i * N + j) * nb + blk];
                    if (got != ref)
                        fail_msg("%s q4 [%lld,%lld] block %lld: int %d, want %lld", rt_qpath_name(p), (long long)i,
                                 (long long)j, (long long)blk, got, (long long)ref);
                    double t = (double)r.as[i] * rt_f32_from_f16(b[j * nb + blk].d) * (double)ref;
                    fref += t, mag += fabs(t);
                }
                double e = fabs(r.y[i * N + j] - fref) / (mag + 1e-30), tol = (double)(nb + 8) * FLT_EPSILON;
                maxrel = e > maxrel ? e : maxrel;
                if (e > tol) fail_msg("%s q4: float %g vs %g (rel %g > %g)", rt_qpath_name(p), (double)r.y[i * N + j], fref, e, tol);
            }
        printf("    %s q4 (%lld, %lld, %lld): block integers exact, float rel err %.2g (<= (K/32 + 8) eps)\n",
               rt_qpath_name(p), (long long)M, (long long)N, (long long)K, maxrel);
        free(b), free(bias);
        run_free(&r);
        rt_qmat_free(&w);
    }
}

static void test_i8_c(void **s) { (void)s; check_i8_path(RT_QPATH_C); }
static void test_i8_avx2(void **s) { (void)s; check_i8_path(RT_QPATH_AVX2); }
static void test_i8_vnni(void **s) { (void)s; check_i8_path(RT_QPATH_VNNI); }
static void test_q4_c(void **s) { (void)s; check_q4_path(RT_QPATH_C); }
static void test_q4_avx2(void **s) { (void)s; check_q4_path(RT_QPATH_AVX2); }
static void test_q4_vnni(void **s) { (void)s; check_q4_path(RT_QPATH_VNNI); }

/* Float weights through rt_qmat_from_f32 + rt_quant_act + rt_qgemm against the
 * float product: the quantisation error stays within its bound. */
static void test_end_to_end(void **state)
{
    (void)state;
    const int64_t M = 6, N = 10, K = 96;
    float x[6 * 96], wf[10 * 96], y[60], as[6];
    for (int k = 0; k < M * K; k++) x[k] = urand(-1.f, 1.f);
    for (int k = 0; k < N * K; k++) wf[k] = urand(-0.2f, 0.2f);
    for (int bits = 8; bits >= 4; bits -= 4) {
        rt_qmat w;
        assert_int_equal(rt_qmat_from_f32(&w, bits, wf, N, K), RT_OK);
        int8_t *a = malloc(rt_qact_bytes(&w, M));
        rt_quant_act(a, as, x, M, &w);
        assert_int_equal(rt_qgemm(y, a, as, &w, NULL, M), RT_OK);
        double emax = 0, ymax = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double r = 0;
                for (int64_t k = 0; k < K; k++) r += (double)x[i * K + k] * wf[j * K + k];
                emax = fmax(emax, fabs(r - y[i * N + j])), ymax = fmax(ymax, fabs(r));
            }
        printf("    %d bits: max |y - y_fp32| = %.3g (max |y| %.3g)\n", bits, emax, ymax);
        assert_true(emax < (bits == 8 ? 0.02 : 0.2) * ymax);
        free(a);
        rt_qmat_free(&w);
    }
    rt_qmat w;
    assert_int_equal(rt_qmat_from_f32(&w, 4, wf, N, 33), RT_ERR_SHAPE);
    printf("    -> %s\n", rt_errmsg());
}

static void test_dispatch(void **state)
{
    (void)state;
    enum rt_qpath p;
    assert_true(rt_qpath_available(RT_QPATH_C));
    unsetenv("RETORT_QKERNEL");
    assert_int_equal(rt_qpath_get(&p), RT_OK);
    printf("    best path here: %s\n", rt_qpath_name(p));
    setenv("RETORT_QKERNEL", "c", 1);
    assert_int_equal(rt_qpath_get(&p), RT_OK);
    assert_int_equal(p, RT_QPATH_C);
    setenv("RETORT_QKERNEL", "sse9", 1);
    assert_int_equal(rt_qpath_get(&p), RT_ERR_ARG);
    printf("    -> %s\n", rt_errmsg());
    assert_non_null(strstr(rt_errmsg(), "RETORT_QKERNEL=sse9"));
    for (int q = 0; q < RT_QPATH_COUNT; q++) {
        setenv("RETORT_QKERNEL", rt_qpath_name((enum rt_qpath)q), 1);
        rt_status s = rt_qpath_get(&p);
        if (rt_qpath_available((enum rt_qpath)q)) {
            assert_int_equal(s, RT_OK);
            assert_int_equal(p, q);
        } else {
            assert_int_equal(s, RT_ERR_UNSUPPORTED);
            printf("    -> %s\n", rt_errmsg());
            float y = 0, as = 1;
            int8_t a[64] = {0};
            rt_qmat w;
            assert_int_equal(rt_qmat_init_i8(&w, (int8_t[1]){1}, (float[1]){1}, 1, 1), RT_OK);
            assert_int_equal(rt_qgemm(&y, a, &as, &w, NULL, 1), RT_ERR_UNSUPPORTED);
            rt_qmat_free(&w);
        }
    }
    unsetenv("RETORT_QKERNEL");
    /* bad matrices */
    rt_qmat w;
    assert_int_equal(rt_qmat_init_i8(&w, (int8_t[1]){1}, (float[1]){NAN}, 1, 1), RT_ERR_FORMAT);
    assert_int_equal(rt_qmat_init_i8(&w, (int8_t[1]){1}, (float[1]){1}, 1, RT_QK_MAX + 1), RT_ERR_SHAPE);
    rt_q4_block b = {.d = 0x7c00};
    assert_int_equal(rt_qmat_init_q4(&w, &b, 1, 32), RT_ERR_FORMAT);
    assert_int_equal(rt_qmat_init_q4(&w, &b, 1, 16), RT_ERR_SHAPE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16),         cmocka_unit_test(test_quant_i8_rule), cmocka_unit_test(test_quant_act_paths),
        cmocka_unit_test(test_quant_q4_rule), cmocka_unit_test(test_i8_c),        cmocka_unit_test(test_i8_avx2),
        cmocka_unit_test(test_i8_vnni),     cmocka_unit_test(test_q4_c),          cmocka_unit_test(test_q4_avx2),
        cmocka_unit_test(test_q4_vnni),     cmocka_unit_test(test_end_to_end),    cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
