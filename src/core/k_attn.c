/*
 * k_attn.c - fused multi-head self-attention (timm ViT layout) and the
 * head-averaged attention map.
 *
 * Dims: B batch, T tokens, C channels, H heads, D = C / H per head.
 *   qkv  = x w_qkv^T + b_qkv                      (B, T, 3C)
 *   q, k, v = qkv[..., 0:C], [C:2C], [2C:3C]; head h owns columns h*D..(h+1)*D
 *   P    = softmax(q k^T / sqrt(D)) over keys     (B, H, T, T)
 *   ctx  = P v, heads concatenated                (B, T, C)
 *   out  = ctx w_o^T + b_o                        (B, T, C)
 * No mask and no dropout inside: attention dropout is 0 in our configs, so
 * the op is the same in train and eval mode.
 *
 * Node inputs: x, w_qkv, [b_qkv], w_o, [b_o]; which biases are present is
 * in struct rt_attention_args. Saved (kept for backward and for
 * rt_attention_map): qkv | probs | ctx. Saved gradient: dmap (B, T, T),
 * zeroed by the engine before each backward; the attn_map node's backward
 * (which runs first, in reverse order) adds d map / H into it, and the
 * attention backward adds it to every head's dprobs. Workspace (backward
 * only): dqkv (B,T,3C) | dctx (B,T,C) | dprobs (B,H,T,T).
 *
 * The per-(b, h) GEMMs run in an OpenMP loop over B*H, each cblas_sgemm
 * single-threaded inside the region, reading q/k/v in place (ld = 3C).
 * The row softmax has a scalar reference and an AVX2 variant (polynomial
 * exp), chosen in softmax_rows_select() through rt_cpu_isa(); the test
 * compares them. bench/ops.c times the op at ViT-B and student sizes.
 */
#include "core/cpu.h"
#include "core/op_impl.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#include "core/simd_exp.h"
#endif

#define PAR_MIN 32768 /* elements below which elementwise loops stay serial */

struct attn_dims { int64_t B, T, C, H, D; };

/* ---------------- kernels ---------------- */

/* x (rows, n): each row <- softmax(row), max-subtracted. Scalar reference. */
static void softmax_rows_scalar(float *x, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        float *p = x + r * n;
        float m = p[0];
        for (int64_t j = 1; j < n; j++) m = p[j] > m ? p[j] : m;
        float s = 0.f;
        for (int64_t j = 0; j < n; j++) {
            p[j] = expf(p[j] - m);
            s += p[j];
        }
        float inv = 1.f / s;
        for (int64_t j = 0; j < n; j++) p[j] *= inv;
    }
}

#ifdef HAVE_X86
/* exp(x) for x <= 0 (inputs are max-subtracted), Cephes expf polynomial:
 * x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial, times 2^n.
 * Below -87 the result is clamped to exp(-87) ~ 1.6e-38 (scalar: ~0). */
__attribute__((target("avx2,fma"))) static __m256 exp_neg_avx2(__m256 x)
{
    return rt_exp_core_avx2(_mm256_max_ps(x, _mm256_set1_ps(-87.f)));
}

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The AVX2 variant of softmax_rows_scalar; the tail (n % 8) goes through a mask. */
__attribute__((target("avx2,fma"))) static void softmax_rows_avx2(float *x, int64_t rows, int64_t n)
{
    int64_t n8 = n & ~(int64_t)7, rem = n - n8;
    __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t r = 0; r < rows; r++) {
        float *p = x + r * n;
        __m256 vm = _mm256_set1_ps(p[0]);
        for (int64_t j = 0; j < n8; j += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(p + j));
        if (rem) vm = _mm256_max_ps(vm, _mm256_blendv_ps(vm, _mm256_maskload_ps(p + n8, mask), _mm256_castsi256_ps(mask)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        __m256 m = _mm256_set1_ps(_mm_cvtss_f32(m4)), vs = _mm256_setzero_ps();
        for (int64_t j = 0; j < n8; j += 8) {
            __m256 e = exp_neg_avx2(_mm256_sub_ps(_mm256_loadu_ps(p + j), m));
            _mm256_storeu_ps(p + j, e);
            vs = _mm256_add_ps(vs, e);
        }
        if (rem) {
            __m256 e = exp_neg_avx2(_mm256_sub_ps(_mm256_maskload_ps(p + n8, mask), m));
            e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
            _mm256_maskstore_ps(p + n8, mask, e);
            vs = _mm256_add_ps(vs, e);
        }
        __m256 inv = _mm256_set1_ps(1.f / hsum256(vs));
        for (int64_t j = 0; j < n8; j += 8) _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), inv));
        if (rem) _mm256_maskstore_ps(p + n8, mask, _mm256_mul_ps(_mm256_maskload_ps(p + n8, mask), inv));
    }
}
#endif

typedef void (*softmax_rows_fn)(float *x, int64_t rows, int64_t n);

/* The one dispatch place for this file's SIMD variants. */
static softmax_rows_fn softmax_rows_select(void)
{
#ifdef HAVE_X86
    if (rt_cpu_isa() >= RT_ISA_AVX2) return softmax_rows_avx2;
#endif
    return softmax_rows_scalar;
}

/* dp (rows, n) holds dL/dP (+ dmap); p (rows, n) the probs. dp <- dL/dscores
 * = P * (dP - rowsum(dP * P)) * scale. */
static void softmax_rows_backward(float *dp, const float *p, int64_t rows, int64_t n, float scale)
{
    for (int64_t r = 0; r < rows; r++) {
        float *d = dp + r * n;
        const float *pr = p + r * n;
        double dot = 0;
        for (int64_t j = 0; j < n; j++) dot += (double)d[j] * pr[j];
        float fd = (float)dot;
        for (int64_t j = 0; j < n; j++) d[j] = pr[j] * (d[j] - fd) * scale;
    }
}

/* qkv (B, T, 3C) -> probs (B, H, T, T), ctx (B, T, C) */
static void attn_core_forward(float *probs, float *ctx, const float *qkv, const struct attn_dims *d)
{
    int64_t T = d->T, C = d->C, D = d->D, BH = d->B * d->H;
    int t = (int)T, dd = (int)D, l3 = (int)(3 * C), lc = (int)C;
    float scale = 1.f / sqrtf((float)D);
    softmax_rows_fn softmax_rows = softmax_rows_select();
#pragma omp parallel for schedule(static) if (BH > 1)
    for (int64_t bh = 0; bh < BH; bh++) {
        int64_t b = bh / d->H, h = bh % d->H;
        const float *q = qkv + b * T * 3 * C + h * D, *k = q + C, *v = q + 2 * C;
        float *p = probs + bh * T * T, *c = ctx + b * T * C + h * D;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, dd, scale, q, l3, k, l3, 0.f, p, t);
        softmax_rows(p, T, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, dd, t, 1.f, p, t, v, l3, 0.f, c, lc);
    }
}

/* dctx (B,T,C), dmap (B,T,T) or NULL -> dqkv (B,T,3C) (overwritten, every
 * element written once); dprobs (B,H,T,T) is scratch. */
static void attn_core_backward(float *dqkv, float *dprobs, const float *dctx, const float *dmap, const float *qkv,
                               const float *probs, const struct attn_dims *d)
{
    int64_t T = d->T, C = d->C, D = d->D, BH = d->B * d->H;
    int t = (int)T, dd = (int)D, l3 = (int)(3 * C), lc = (int)C;
    float scale = 1.f / sqrtf((float)D);
#pragma omp parallel for schedule(static) if (BH > 1)
    for (int64_t bh = 0; bh < BH; bh++) {
        int64_t b = bh / d->H, h = bh % d->H;
        const float *q = qkv + b * T * 3 * C + h * D, *k = q + C, *v = q + 2 * C;
        const float *p = probs + bh * T * T, *dc = dctx + b * T * C + h * D;
        float *dp = dprobs + bh * T * T;
        float *dq = dqkv + b * T * 3 * C + h * D, *dk = dq + C, *dv = dq + 2 * C;
        /* dP = dctx v^T (+ dmap), dv = P^T dctx */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t, t, dd, 1.f, dc, lc, v, l3, 0.f, dp, t);
        if (dmap) {
            const float *dm = dmap + b * T * T;
            for (int64_t i = 0; i < T * T; i++) dp[i] += dm[i];
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t, dd, t, 1.f, p, t, dc, lc, 0.f, dv, l3);
        /* dS (scaled) in place; dq = dS k, dk = dS^T q */
        softmax_rows_backward(dp, p, T, T, scale);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t, dd, t, 1.f, dp, t, k, l3, 0.f, dq, l3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t, dd, t, 1.f, dp, t, q, l3, 0.f, dk, l3);
    }
}

/* dout (B,T,C), dmap (B,T,T) or NULL, saved qkv/probs/ctx -> adds into dx (B,T,C),
 * dw_qkv (3C,C), db_qkv (3C), dw_o (C,C), db_o (C) (each may be NULL).
 * work: B*T*3C + B*T*C + B*H*T*T floats. */
void rt_attention_backward(float *dx, float *dw_qkv, float *db_qkv, float *dw_o, float *db_o, float *work,
                           const float *dout, const float *dmap, const float *x, const float *w_qkv,
                           const float *w_o, const float *qkv, const float *probs, const float *ctx, int64_t B,
                           int64_t T, int64_t C, int64_t H)
{
    struct attn_dims d = {B, T, C, H, C / H};
    int64_t M = B * T;
    float *dqkv = work, *dctx = work + M * 3 * C, *dprobs = dctx + M * C;
    rt_linear_backward(NULL, dw_o, db_o, dout, ctx, w_o, M, C, C);
    if (!dx && !dw_qkv && !db_qkv) return;
    memset(dctx, 0, (size_t)(M * C) * sizeof(float));
    rt_linear_backward(dctx, NULL, NULL, dout, ctx, w_o, M, C, C);
    attn_core_backward(dqkv, dprobs, dctx, dmap, qkv, probs, &d);
    rt_linear_backward(dx, dw_qkv, db_qkv, dqkv, x, w_qkv, M, C, 3 * C);
}

/* probs (B,H,T,T) -> map (B,T,T), the mean over heads */
void rt_attn_map_forward(float *map, const float *probs, int64_t B, int64_t H, int64_t T)
{
    float inv = 1.f / (float)H;
#pragma omp parallel for if (B * H * T * T > PAR_MIN)
    for (int64_t b = 0; b < B; b++) {
        float *m = map + b * T * T;
        for (int64_t i = 0; i < T * T; i++) m[i] = 0.f;
        for (int64_t h = 0; h < H; h++) {
            const float *p = probs + (b * H + h) * T * T;
            for (int64_t i = 0; i < T * T; i++) m[i] += p[i];
        }
        for (int64_t i = 0; i < T * T; i++) m[i] *= inv;
    }
}

/* dmap_out (B,T,T) -> dmap (B,T,T) += dmap_out / H (the attention backward
 * adds dmap to every head's dprobs) */
void rt_attn_map_backward(float *dmap, const float *dout, int64_t B, int64_t H, int64_t T)
{
    float inv = 1.f / (float)H;
    int64_t n = B * T * T;
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dmap[i] += dout[i] * inv;
}

/* ---------------- graph glue ---------------- */

/* Inputs in node order: x, w_qkv, [b_qkv], w_o, [b_o]. */
struct attn_in { rt_node *x, *w_qkv, *b_qkv, *w_o, *b_o; };

static struct attn_in attn_inputs(const rt_node *n)
{
    const struct rt_attention_args *a = RT_ARGS(n, const struct rt_attention_args);
    struct attn_in in = {0};
    int i = 0;
    in.x = n->in[i++];
    in.w_qkv = n->in[i++];
    if (a->has_b_qkv) in.b_qkv = n->in[i++];
    in.w_o = n->in[i++];
    if (a->has_b_o) in.b_o = n->in[i++];
    return in;
}

rt_node *rt_attention(rt_graph *g, rt_node *x, rt_node *w_qkv, rt_node *b_qkv, rt_node *w_o, rt_node *b_o,
                      int heads)
{
    struct rt_attention_args a = {.heads = heads, .has_b_qkv = b_qkv != NULL, .has_b_o = b_o != NULL};
    rt_node *in[5];
    int n = 0;
    in[n++] = x;
    in[n++] = w_qkv;
    if (b_qkv) in[n++] = b_qkv;
    in[n++] = w_o;
    if (b_o) in[n++] = b_o;
    return rt_graph_add(g, RT_OP_ATTENTION, n, in, &a, sizeof a);
}

static bool is_vec(const rt_node *v, int64_t len) { return v->out.ndim == 1 && v->out.shape[0] == len; }
static bool is_mat(const rt_node *w, int64_t r, int64_t c)
{
    return w->out.ndim == 2 && w->out.shape[0] == r && w->out.shape[1] == c;
}

rt_status rt_op_attention_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    int heads = RT_ARGS(n, struct rt_attention_args)->heads;
    struct attn_in in = attn_inputs(n);
    if (in.x->out.ndim != 3)
        return rt_check_fail(n, "x %s must be (B, T, C)", RT_SHAPE_STR(s1, in.x));
    int64_t B = in.x->out.shape[0], T = in.x->out.shape[1], C = in.x->out.shape[2];
    if (heads < 1 || C % heads)
        return rt_check_fail(n, "x %s: C = %lld is not divisible by %d heads", RT_SHAPE_STR(s1, in.x),
                             (long long)C, heads);
    if (!is_mat(in.w_qkv, 3 * C, C))
        return rt_check_fail(n, "w_qkv %s does not fit x %s (want (%lld, %lld))", RT_SHAPE_STR(s1, in.w_qkv),
                             RT_SHAPE_STR(s2, in.x), (long long)(3 * C), (long long)C);
    if (in.b_qkv && !is_vec(in.b_qkv, 3 * C))
        return rt_check_fail(n, "b_qkv %s does not fit x %s (want (%lld))", RT_SHAPE_STR(s1, in.b_qkv),
                             RT_SHAPE_STR(s2, in.x), (long long)(3 * C));
    if (!is_mat(in.w_o, C, C))
        return rt_check_fail(n, "w_o %s does not fit x %s (want (%lld, %lld))", RT_SHAPE_STR(s1, in.w_o),
                             RT_SHAPE_STR(s2, in.x), (long long)C, (long long)C);
    if (in.b_o && !is_vec(in.b_o, C))
        return rt_check_fail(n, "b_o %s does not fit x %s (want (%lld))", RT_SHAPE_STR(s1, in.b_o),
                             RT_SHAPE_STR(s2, in.x), (long long)C);
    if (B * T > INT_MAX || 3 * C > INT_MAX || T * T > INT_MAX)
        return rt_check_fail(n, "x %s is too large for 32-bit BLAS dimensions", RT_SHAPE_STR(s1, in.x));
    rt_node_set_shape(n, 3, in.x->out.shape);
    n->n_saved = (size_t)(B * T * 3 * C + B * heads * T * T + B * T * C);
    n->n_saved_grad = (size_t)(B * T * T);
    n->n_work = (size_t)(B * T * 3 * C + B * T * C + B * heads * T * T);
    return RT_OK;
}

/* B (T 3C C  +  T T C  +  T T C  +  T C C): QKV projection, scores Q K^T
 * (T x T per head over C/heads, all heads: T T C), probabilities times V
 * (the same), output projection. */
int64_t rt_op_attention_macs(const rt_node *n)
{
    const int64_t *s = n->out.shape;
    int64_t B = s[0], T = s[1], C = s[2];
    return B * (T * 3 * C * C + 2 * T * T * C + T * C * C);
}

/* Views of the saved block: qkv | probs | ctx. */
static void attn_saved(const rt_node *n, float **qkv, float **probs, float **ctx)
{
    const int64_t *s = n->out.shape;
    int64_t B = s[0], T = s[1], C = s[2], H = RT_ARGS(n, const struct rt_attention_args)->heads;
    *qkv = n->saved;
    *probs = *qkv + B * T * 3 * C;
    *ctx = *probs + B * H * T * T;
}

void rt_op_attention_forward(rt_graph *g, rt_node *n)
{
    struct attn_in in = attn_inputs(n);
    float *qkv, *probs, *ctx, *out = rt_data(n);
    attn_saved(n, &qkv, &probs, &ctx);
    const int64_t *s = n->out.shape, M = s[0] * s[1], C = s[2];
    const struct rt_attention_args *a = RT_ARGS(n, const struct rt_attention_args);
    const struct attn_dims d = {s[0], s[1], C, a->heads, C / a->heads};
    const float *bq = in.b_qkv ? rt_data(in.b_qkv) : NULL, *bo = in.b_o ? rt_data(in.b_o) : NULL;
    const float *res = n->fuse_res ? rt_data(n->fuse_res) : NULL; /* a fused residual (inference plans) */
    /* integer projections (k_quant.c) where the node has them, inference only */
    if (a->q_qkv) rt_qlinear_forward(qkv, rt_data(in.x), a->q_qkv, bq, M, a->qpath, g->work);
    else rt_linear_forward(qkv, rt_data(in.x), rt_data(in.w_qkv), bq, M, C, 3 * C);
    attn_core_forward(probs, ctx, qkv, &d);
    if (a->q_o) {
        rt_qlinear_forward(out, ctx, a->q_o, bo, M, a->qpath, g->work);
        rt_rows_epilogue(out, NULL, res, M, C, 0);
    } else {
        rt_linear_forward_ep(out, ctx, rt_data(in.w_o), bo, M, C, C, 0, res);
    }
}

void rt_op_attention_backward(rt_graph *g, rt_node *n)
{
    struct attn_in in = attn_inputs(n);
    float *qkv, *probs, *ctx;
    attn_saved(n, &qkv, &probs, &ctx);
    const int64_t *s = n->out.shape;
    rt_attention_backward(in.x->grad, in.w_qkv->grad, in.b_qkv ? in.b_qkv->grad : NULL, in.w_o->grad,
                          in.b_o ? in.b_o->grad : NULL, g->work, n->grad, n->saved_grad, rt_data(in.x),
                          rt_data(in.w_qkv), rt_data(in.w_o), qkv, probs, ctx, s[0], s[1], s[2],
                          RT_ARGS(n, struct rt_attention_args)->heads);
}

rt_node *rt_attention_map(rt_graph *g, rt_node *attn) { return RT_ADD_NODE0(g, RT_OP_ATTN_MAP, attn); }

rt_status rt_op_attn_map_check(rt_graph *g, rt_node *n)
{
    char d[160];
    const rt_node *a = n->in[0];
    if (a->op != RT_OP_ATTENTION)
        return rt_check_fail(n, "input %s is not an attention node", rt_node_desc(a, d, sizeof d));
    int64_t B = a->out.shape[0], T = a->out.shape[1];
    rt_node_set_shape(n, RT_DIMS(B, T, T));
    return RT_OK;
}

void rt_op_attn_map_forward(rt_graph *g, rt_node *n)
{
    const rt_node *a = n->in[0];
    float *qkv, *probs, *ctx;
    attn_saved(a, &qkv, &probs, &ctx);
    rt_attn_map_forward(rt_data(n), probs, a->out.shape[0], RT_ARGS(a, const struct rt_attention_args)->heads,
                        a->out.shape[1]);
}

void rt_op_attn_map_backward(rt_graph *g, rt_node *n)
{
    const rt_node *a = n->in[0];
    if (!a->saved_grad) return;
    rt_attn_map_backward(a->saved_grad, n->grad, a->out.shape[0], RT_ARGS(a, const struct rt_attention_args)->heads,
                         a->out.shape[1]);
}
