/*
 * k_norm.c - layer_norm (over the last dim) and batch_norm (per channel,
 * dim 1), both with optional affine weight w and bias b.
 *
 * layer_norm: x (M, C) with M the product of the leading dims; biased
 *   variance; saved = [mean (M) | rstd (M)]. Rows run in parallel; dw and
 *   db are summed per fixed chunk of rows into the node's workspace and
 *   then over chunks, so results do not depend on the thread count. The row
 *   kernels are plain C loops built twice, for the baseline ISA and for
 *   AVX2+FMA, chosen in norm_isa().
 * batch_norm: x (B, C, S) with S the product of the spatial dims (1 for
 *   (B, C)); N = B S values per channel; saved = [mean (C) | rstd (C) |
 *   flag], flag 1 when the forward used batch statistics. Training mode:
 *   batch mean and biased variance normalise, and running stats (if given)
 *   are updated in the forward as PyTorch does: r = (1 - m) r + m stat, with
 *   the unbiased variance (N / (N - 1); with N = 1, where PyTorch refuses to
 *   train, the biased one). Eval mode: running stats; without running stats
 *   batch statistics are used in both modes (track_running_stats=False).
 *   Every training forward updates the running stats, gradient checks included.
 * Inputs: x, then w, b, running_mean, running_var, each only if given; the
 * node's args record which are present.
 */
#include "core/op_impl.h"

#include "core/cpu.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#define RT_X86 1
#define AVX2 __attribute__((target("avx2,fma")))
#endif

#define PAR_MIN 32768  /* elements below which loops stay serial */
#define LN_CHUNKS 64   /* row chunks for the dw/db partial sums */
#define INLINE static inline __attribute__((always_inline))

/* has[i]: whether optional input i (w, b[, running_mean, running_var]) is present */
struct ln_args { float eps; int has[2]; };
struct bn_args { float eps, momentum; int has[4]; };
_Static_assert(sizeof(struct ln_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct bn_args) <= RT_ARGS_BYTES, "args");

/* ---------------- layer norm row kernels ---------------- */

/* x, w, b (C) -> y (C), mean, rstd of the row */
INLINE void ln_fwd_row(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                       int64_t C, float eps)
{
    float s = 0.f, v = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < C; i++) s += x[i];
    float m = s / (float)C;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
    float r = 1.f / sqrtf(v / (float)C + eps);
    *mean = m;
    *rstd = r;
    if (w && b) {
#pragma omp simd
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * r * w[i] + b[i];
    } else if (w) {
#pragma omp simd
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * r * w[i];
    } else if (b) {
#pragma omp simd
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * r + b[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) * r;
    }
}

/* dy, x (C), row mean m, rstd r, w (C) or NULL -> dx (C) +=, pw += dy xhat, pb += dy
 * (any output may be NULL); xhat = (x - m) r, g = dy w,
 * dx = r (g - mean(g) - xhat mean(g xhat)). */
INLINE void ln_bwd_row(float *dx, float *pw, float *pb, const float *dy, const float *x, float m, float r,
                       const float *w, int64_t C)
{
    if (dx) {
        float a = 0.f, c = 0.f;
        if (w) {
#pragma omp simd reduction(+ : a, c)
            for (int64_t i = 0; i < C; i++) {
                a += dy[i] * w[i];
                c += dy[i] * w[i] * (x[i] - m);
            }
        } else {
#pragma omp simd reduction(+ : a, c)
            for (int64_t i = 0; i < C; i++) {
                a += dy[i];
                c += dy[i] * (x[i] - m);
            }
        }
        a /= (float)C;
        c *= r / (float)C; /* mean(g xhat) */
        if (w) {
#pragma omp simd
            for (int64_t i = 0; i < C; i++) dx[i] += r * (dy[i] * w[i] - a - (x[i] - m) * r * c);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < C; i++) dx[i] += r * (dy[i] - a - (x[i] - m) * r * c);
        }
    }
    if (pw) {
#pragma omp simd
        for (int64_t i = 0; i < C; i++) pw[i] += dy[i] * (x[i] - m) * r;
    }
    if (pb) {
#pragma omp simd
        for (int64_t i = 0; i < C; i++) pb[i] += dy[i];
    }
}

static void ln_fwd_scalar(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                          int64_t C, float eps)
{
    ln_fwd_row(y, mean, rstd, x, w, b, C, eps);
}

static void ln_bwd_scalar(float *dx, float *pw, float *pb, const float *dy, const float *x, float m, float r,
                          const float *w, int64_t C)
{
    ln_bwd_row(dx, pw, pb, dy, x, m, r, w, C);
}

#ifdef RT_X86
AVX2 static void ln_fwd_avx2(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                             int64_t C, float eps)
{
    ln_fwd_row(y, mean, rstd, x, w, b, C, eps);
}

AVX2 static void ln_bwd_avx2(float *dx, float *pw, float *pb, const float *dy, const float *x, float m, float r,
                             const float *w, int64_t C)
{
    ln_bwd_row(dx, pw, pb, dy, x, m, r, w, C);
}
#endif

/* ---------------- dispatch (the one place an ISA is chosen) ---------------- */

struct norm_isa {
    void (*ln_fwd)(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b, int64_t C,
                   float eps);
    void (*ln_bwd)(float *dx, float *pw, float *pb, const float *dy, const float *x, float m, float r,
                   const float *w, int64_t C);
};

static const struct norm_isa isa_scalar = {ln_fwd_scalar, ln_bwd_scalar};
#ifdef RT_X86
static const struct norm_isa isa_avx2 = {ln_fwd_avx2, ln_bwd_avx2};
#endif

static const struct norm_isa *norm_isa(void)
{
#ifdef RT_X86
    if (rt_cpu_isa() >= RT_ISA_AVX2) return &isa_avx2;
#endif
    return &isa_scalar;
}

/* ---------------- kernels ---------------- */

static int64_t ln_chunks(int64_t M) { return M < LN_CHUNKS ? M : LN_CHUNKS; }

/* x (M, C), w, b (C) or NULL -> y (M, C), mean, rstd (M) */
void rt_layer_norm_forward(float *y, float *mean, float *rstd, const float *x, const float *w, const float *b,
                           int64_t M, int64_t C, float eps)
{
    const struct norm_isa *f = norm_isa();
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t r = 0; r < M; r++) f->ln_fwd(y + r * C, mean + r, rstd + r, x + r * C, w, b, C, eps);
}

/* dy, x (M, C), mean, rstd (M), w (C) or NULL -> dx (M, C) +=, dw, db (C) +=
 * (outputs may be NULL); work: ln_chunks(M) * 2C floats when dw or db. */
void rt_layer_norm_backward(float *dx, float *dw, float *db, float *work, const float *dy, const float *x,
                            const float *mean, const float *rstd, const float *w, int64_t M, int64_t C)
{
    const struct norm_isa *f = norm_isa();
    int64_t K = ln_chunks(M);
#pragma omp parallel for if (M * C > PAR_MIN)
    for (int64_t k = 0; k < K; k++) {
        float *pw = dw ? work + k * 2 * C : NULL, *pb = db ? work + k * 2 * C + C : NULL;
        if (pw) memset(pw, 0, (size_t)C * sizeof *pw);
        if (pb) memset(pb, 0, (size_t)C * sizeof *pb);
        for (int64_t r = k * M / K; r < (k + 1) * M / K; r++)
            f->ln_bwd(dx ? dx + r * C : NULL, pw, pb, dy + r * C, x + r * C, mean[r], rstd[r], w, C);
    }
    if (!dw && !db) return;
#pragma omp parallel for if (K * C > PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        double sw = 0, sb = 0;
        for (int64_t k = 0; k < K; k++) {
            if (dw) sw += work[k * 2 * C + c];
            if (db) sb += work[k * 2 * C + C + c];
        }
        if (dw) dw[c] += (float)sw;
        if (db) db[c] += (float)sb;
    }
}

struct bn_dims { int64_t B, C, S; };

/* Channel c's mean and biased variance over (B, S), in double. */
/* Sums over a contiguous run in float SIMD blocks of 256, each block added
 * into a double: vectorised, and the float error stays that of 256/8 terms. */
#define BN_BLOCK 256
static double bn_sum(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t o = 0; o < n; o += BN_BLOCK) {
        int64_t e = o + BN_BLOCK < n ? o + BN_BLOCK : n;
        float p = 0.f;
#pragma omp simd reduction(+ : p)
        for (int64_t j = o; j < e; j++) p += x[j];
        s += p;
    }
    return s;
}

/* sum (x - m)^2 */
static double bn_sum_sq_dev(const float *x, int64_t n, float m)
{
    double s = 0;
    for (int64_t o = 0; o < n; o += BN_BLOCK) {
        int64_t e = o + BN_BLOCK < n ? o + BN_BLOCK : n;
        float p = 0.f;
#pragma omp simd reduction(+ : p)
        for (int64_t j = o; j < e; j++) p += (x[j] - m) * (x[j] - m);
        s += p;
    }
    return s;
}

/* sum g (x - m) */
static double bn_sum_dot_dev(const float *g, const float *x, int64_t n, float m)
{
    double s = 0;
    for (int64_t o = 0; o < n; o += BN_BLOCK) {
        int64_t e = o + BN_BLOCK < n ? o + BN_BLOCK : n;
        float p = 0.f;
#pragma omp simd reduction(+ : p)
        for (int64_t j = o; j < e; j++) p += g[j] * (x[j] - m);
        s += p;
    }
    return s;
}

/* Channel c's mean and (biased) variance over batch and space; two passes. */
static void bn_channel_stats(double *mean, double *var, const float *x, const struct bn_dims *d, int64_t c)
{
    double s = 0, q = 0, N = (double)(d->B * d->S);
    for (int64_t bi = 0; bi < d->B; bi++) s += bn_sum(x + (bi * d->C + c) * d->S, d->S);
    double m = s / N;
    for (int64_t bi = 0; bi < d->B; bi++) q += bn_sum_sq_dev(x + (bi * d->C + c) * d->S, d->S, (float)m);
    /* the deviations were taken from m rounded to float: correct for the offset */
    double dm = m - (double)(float)m;
    *mean = m;
    *var = q / N - dm * dm;
}

/* x (B, C, S), w, b (C) or NULL, rmean, rvar (C) or NULL -> y (B, C, S),
 * mean, rstd (C). batch_stats: normalise with batch statistics and update
 * rmean/rvar (if given) with momentum; else normalise with rmean/rvar. */
void rt_batch_norm_forward(float *y, float *mean, float *rstd, float *rmean, float *rvar, const float *x,
                           const float *w, const float *b, struct bn_dims d, float eps, float momentum,
                           bool batch_stats)
{
    int64_t N = d.B * d.S;
#pragma omp parallel for if (d.B * d.C * d.S > PAR_MIN)
    for (int64_t c = 0; c < d.C; c++) {
        double m, v;
        if (batch_stats) {
            bn_channel_stats(&m, &v, x, &d, c);
            if (rmean) {
                double vu = N > 1 ? v * (double)N / (double)(N - 1) : v;
                rmean[c] = (float)((1.0 - momentum) * rmean[c] + momentum * m);
                rvar[c] = (float)((1.0 - momentum) * rvar[c] + momentum * vu);
            }
        } else {
            m = rmean[c];
            v = rvar[c];
        }
        float mf = (float)m, r = (float)(1.0 / sqrt(v + eps));
        float sc = w ? w[c] * r : r, sh = b ? b[c] : 0.f;
        mean[c] = mf;
        rstd[c] = r;
        for (int64_t bi = 0; bi < d.B; bi++) {
            const float *xc = x + (bi * d.C + c) * d.S;
            float *yc = y + (bi * d.C + c) * d.S;
            for (int64_t j = 0; j < d.S; j++) yc[j] = (xc[j] - mf) * sc + sh;
        }
    }
}

/* dy, x (B, C, S), mean, rstd (C), w (C) or NULL -> dx +=, dw, db (C) +=
 * (outputs may be NULL). batch_stats: the statistics depend on x;
 * else they are constants (eval mode) and the op is affine in x. */
void rt_batch_norm_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *mean,
                            const float *rstd, const float *w, struct bn_dims d, bool batch_stats)
{
    double N = (double)(d.B * d.S);
#pragma omp parallel for if (d.B * d.C * d.S > PAR_MIN)
    for (int64_t c = 0; c < d.C; c++) {
        float m = mean[c], r = rstd[c];
        double sdy = 0, sdyx = 0;
        for (int64_t bi = 0; bi < d.B; bi++) {
            const float *xc = x + (bi * d.C + c) * d.S, *gc = dy + (bi * d.C + c) * d.S;
            sdy += bn_sum(gc, d.S);
            sdyx += bn_sum_dot_dev(gc, xc, d.S, m);
        }
        sdyx *= r;
        if (dw) dw[c] += (float)sdyx;
        if (db) db[c] += (float)sdy;
        if (!dx) continue;
        float wr = w ? w[c] * r : r;
        float a = batch_stats ? (float)(sdy / N) : 0.f, k = batch_stats ? (float)(sdyx / N) : 0.f;
        for (int64_t bi = 0; bi < d.B; bi++) {
            const float *xc = x + (bi * d.C + c) * d.S, *gc = dy + (bi * d.C + c) * d.S;
            float *dc = dx + (bi * d.C + c) * d.S;
            for (int64_t j = 0; j < d.S; j++) dc[j] += wr * (gc[j] - a - (xc[j] - m) * r * k);
        }
    }
}

/* ---------------- graph glue ---------------- */

/* The optional inputs after x, in order; NULL where absent. */
static rt_node *opt_in(const rt_node *n, const int *has, int which)
{
    int k = 1;
    for (int i = 0; i < which; i++) k += has[i] != 0;
    return has[which] ? n->in[k] : NULL;
}

static float *data_or_null(const rt_node *n) { return n ? rt_data(n) : NULL; }
static float *grad_or_null(const rt_node *n) { return n ? n->grad : NULL; }

/* Each present vector input must be (len); names[i] for messages. */
static rt_status check_vectors(const rt_node *n, const int *has, int count, const char *const *names, int64_t len,
                               const char *what)
{
    char s1[64], s2[64];
    for (int i = 0; i < count; i++) {
        const rt_node *v = opt_in(n, has, i);
        if (v && (v->out.ndim != 1 || v->out.shape[0] != len))
            return rt_check_fail(n, "%s %s does not fit x %s (want (%lld), the %s)", names[i], RT_SHAPE_STR(s1, v),
                                 RT_SHAPE_STR(s2, n->in[0]), (long long)len, what);
    }
    return RT_OK;
}

rt_node *rt_layer_norm(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, float eps)
{
    struct ln_args a = {eps, {w != NULL, b != NULL}};
    rt_node *in[3] = {x};
    int k = 1;
    if (w) in[k++] = w;
    if (b) in[k++] = b;
    return rt_graph_add(g, RT_OP_LAYER_NORM, k, in, &a, sizeof a);
}

static const int *ln_has(const rt_node *n) { return RT_ARGS(n, const struct ln_args)->has; }

rt_status rt_op_layer_norm_check(rt_graph *g, rt_node *n)
{
    static const char *const names[] = {"weight", "bias"};
    const struct ln_args *a = RT_ARGS(n, const struct ln_args);
    const rt_node *x = n->in[0];
    int64_t C = x->out.shape[x->out.ndim - 1], M = rt_dims_prod(x, 0, x->out.ndim - 1);
    if (!(a->eps >= 0.f && a->eps < INFINITY))
        return rt_check_fail(n, "eps = %g is not a finite value >= 0", (double)a->eps);
    rt_status s = check_vectors(n, ln_has(n), 2, names, C, "last dim");
    if (s != RT_OK) return s;
    n->n_saved = 2 * (size_t)M;
    n->n_work = (a->has[0] || a->has[1]) ? (size_t)(ln_chunks(M) * 2 * C) : 0;
    rt_node_set_shape(n, x->out.ndim, x->out.shape);
    return RT_OK;
}

void rt_op_layer_norm_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    int64_t C = x->out.shape[x->out.ndim - 1], M = rt_numel(x) / C;
    rt_layer_norm_forward(rt_data(n), n->saved, n->saved + M, rt_data(x), data_or_null(opt_in(n, ln_has(n), 0)),
                          data_or_null(opt_in(n, ln_has(n), 1)), M, C, RT_ARGS(n, struct ln_args)->eps);
}

void rt_op_layer_norm_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0], *w = opt_in(n, ln_has(n), 0);
    int64_t C = x->out.shape[x->out.ndim - 1], M = rt_numel(x) / C;
    rt_layer_norm_backward(x->grad, grad_or_null(w), grad_or_null(opt_in(n, ln_has(n), 1)), g->work, n->grad,
                           rt_data(x), n->saved, n->saved + M, data_or_null(w), M, C);
}

rt_node *rt_batch_norm(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, rt_node *running_mean,
                       rt_node *running_var, float eps, float momentum)
{
    struct bn_args a = {eps, momentum, {w != NULL, b != NULL, running_mean != NULL, running_var != NULL}};
    rt_node *in[5] = {x};
    int k = 1;
    if (w) in[k++] = w;
    if (b) in[k++] = b;
    if (running_mean) in[k++] = running_mean;
    if (running_var) in[k++] = running_var;
    return rt_graph_add(g, RT_OP_BATCH_NORM, k, in, &a, sizeof a);
}

static const int *bn_has(const rt_node *n) { return RT_ARGS(n, const struct bn_args)->has; }

static struct bn_dims bn_dims_of(const rt_node *x)
{
    return (struct bn_dims){x->out.shape[0], x->out.shape[1], rt_dims_prod(x, 2, x->out.ndim)};
}

rt_status rt_op_batch_norm_check(rt_graph *g, rt_node *n)
{
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var"};
    const struct bn_args *a = RT_ARGS(n, const struct bn_args);
    const rt_node *x = n->in[0];
    char s1[64];
    if (x->out.ndim < 2)
        return rt_check_fail(n, "x %s needs at least 2 dims (B, C, ...)", RT_SHAPE_STR(s1, x));
    if (a->has[2] != a->has[3])
        return rt_check_fail(n, "running_mean and running_var must be given together (x %s)", RT_SHAPE_STR(s1, x));
    if (!(a->eps >= 0.f && a->eps < INFINITY) || !(a->momentum >= 0.f && a->momentum <= 1.f))
        return rt_check_fail(n, "eps = %g must be finite and >= 0, momentum = %g in [0, 1]", (double)a->eps,
                             (double)a->momentum);
    rt_status s = check_vectors(n, bn_has(n), 4, names, x->out.shape[1], "channel dim 1");
    if (s != RT_OK) return s;
    n->n_saved = 2 * (size_t)x->out.shape[1] + 1;
    rt_node_set_shape(n, x->out.ndim, x->out.shape);
    return RT_OK;
}

void rt_op_batch_norm_forward(rt_graph *g, rt_node *n)
{
    const struct bn_args *a = RT_ARGS(n, const struct bn_args);
    const rt_node *x = n->in[0];
    struct bn_dims d = bn_dims_of(x);
    bool batch_stats = g->training || !a->has[2];
    float *rm = data_or_null(opt_in(n, bn_has(n), 2)), *rv = data_or_null(opt_in(n, bn_has(n), 3));
    n->saved[2 * d.C] = batch_stats ? 1.f : 0.f;
    rt_batch_norm_forward(rt_data(n), n->saved, n->saved + d.C, rm, rv, rt_data(x),
                          data_or_null(opt_in(n, bn_has(n), 0)), data_or_null(opt_in(n, bn_has(n), 1)), d, a->eps,
                          a->momentum, batch_stats);
}

void rt_op_batch_norm_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0], *w = opt_in(n, bn_has(n), 0);
    struct bn_dims d = bn_dims_of(x);
    rt_batch_norm_backward(x->grad, grad_or_null(w), grad_or_null(opt_in(n, bn_has(n), 1)), n->grad, rt_data(x),
                           n->saved, n->saved + d.C, data_or_null(w), d, n->saved[2 * d.C] != 0.f);
}
