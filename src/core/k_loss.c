/*
 * k_loss.c - losses; each reduces to a scalar node of shape (1), so
 * rt_graph_backward(g, loss) starts from it. 0 MACs (no .macs entry).
 *
 *   cross_entropy       logits (N, C), target (N) class indices as floats,
 *                       label smoothing eps: lse - (1 - eps) z_t - eps mean(z)
 *   cross_entropy_soft  logits (N, C), probs (N, C): sum_j p_j (lse - z_j)
 *   mse_loss, l1_loss   a, b of one shape: mean over all elements
 *   ccc_loss            pred, target (N, D) or (N): mean over D of 1 - CCC
 *   aam_softmax         emb (N, E), weight (K, E), target (N), margin m, scale s
 *   gaussian_kl         mu, logvar (N, ...): KL(N(mu, e^logvar) || N(0, 1))
 *                       summed over all but dim 0, averaged over dim 0
 *
 * Reduction: the mean over the batch, PyTorch's default. Per-row terms go
 * to saved scratch, element sums to a fixed number of chunks; both are
 * added in double in a fixed order, so a loss does not depend on the
 * thread count.
 *
 * Class indices (cross_entropy, aam_softmax) are floats in an ordinary
 * node, which the build-time check cannot see. A row whose index is not an
 * integer in [0, C) (NaN included) gets a NaN loss and a NaN gradient row:
 * nothing is read out of bounds and the NaN reaches the loss the trainer
 * watches (the data loader validates labels; this is the backstop). Targets
 * get no gradient (the loss is piecewise constant in them).
 *
 * Saved scratch (floats):
 *   cross_entropy(_soft): [lse (N) | row loss (N)]
 *   ccc_loss:             [mean x | mean y | denominator | ccc] (D each)
 *   aam_softmax:          [z (N, K) | lse (N) | row loss (N) | cos_t (N) |
 *                          xn (N, E) | wn (K, E) | ||x|| (N) | ||w|| (K)]
 *   mse, l1, gaussian_kl: none
 */
#include "core/op_impl.h"

#include <cblas.h>
#include <math.h>

#define PAR_MIN 32768  /* elements below which loops stay serial */
#define SUM_CHUNKS 64  /* fixed chunks of the elementwise sums */
#define NORM_EPS 1e-12f /* F.normalize's default eps (aam_softmax) */

struct ce_args { float smoothing; };
struct aam_args { float m, s; };
_Static_assert(sizeof(struct ce_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct aam_args) <= RT_ARGS_BYTES, "args");

/* ---------------- shared helpers ---------------- */

/* A class index stored as a float: its value, or -1 unless an integer in [0, C). */
static int64_t class_index(float t, int64_t C)
{
    if (!(t >= 0.f && t < (float)C) || t != floorf(t)) return -1;
    return (int64_t)t;
}

/* log sum_j exp(z_j) over a row of C, with the max subtracted. */
static double row_lse(const float *z, int64_t C)
{
    float m = z[0];
    for (int64_t j = 1; j < C; j++) m = z[j] > m ? z[j] : m;
    double s = 0;
    for (int64_t j = 0; j < C; j++) s += expf(z[j] - m);
    return (double)m + log(s);
}

/* Sum of n floats in double, in order. */
static double sum_serial(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}

enum pair_term { TERM_SQ, TERM_ABS, TERM_KL };

static double term_of(float a, float b, enum pair_term k)
{
    double d = (double)a - (double)b;
    switch (k) {
    case TERM_SQ: return d * d;
    case TERM_ABS: return fabs(d);
    default: return 1.0 + b - (double)a * a - exp((double)b); /* a = mu, b = logvar */
    }
}

/* sum_i term(a_i, b_i) over SUM_CHUNKS fixed chunks, each in double. */
static double pair_sum(const float *a, const float *b, int64_t n, enum pair_term k)
{
    double part[SUM_CHUNKS];
    int64_t K = n < SUM_CHUNKS ? n : SUM_CHUNKS;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t c = 0; c < K; c++) {
        double s = 0;
        for (int64_t i = c * n / K; i < (c + 1) * n / K; i++) s += term_of(a[i], b[i], k);
        part[c] = s;
    }
    double s = 0;
    for (int64_t c = 0; c < K; c++) s += part[c];
    return s;
}

static void fill_nan(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) x[i] = NAN;
}

/* dz (C) += gs (softmax(z) - (1 - eps) onehot(k) - eps / C), lse of z given. */
static void ce_row_backward(float *dz, const float *z, float lse, int64_t k, float eps, float gs, int64_t C)
{
    float u = eps / (float)C;
    for (int64_t j = 0; j < C; j++) dz[j] += gs * (expf(z[j] - lse) - u);
    dz[k] -= gs * (1.f - eps);
}

/* ---------------- kernels ---------------- */

/* z (N, C), t (N) -> loss (1), lse, rowl (N) */
void rt_cross_entropy_forward(float *loss, float *lse, float *rowl, const float *z, const float *t, int64_t N,
                              int64_t C, float eps)
{
#pragma omp parallel for if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *zr = z + r * C;
        int64_t k = class_index(t[r], C);
        double l = row_lse(zr, C);
        lse[r] = (float)l;
        rowl[r] = k < 0 ? NAN : (float)(l - (1.0 - eps) * zr[k] - (eps > 0.f ? eps * sum_serial(zr, C) / (double)C : 0));
    }
    loss[0] = (float)(sum_serial(rowl, N) / (double)N);
}

/* dloss (1), z (N, C), t, lse (N) -> dz (N, C) += */
void rt_cross_entropy_backward(float *dz, float dloss, const float *z, const float *t, const float *lse, int64_t N,
                               int64_t C, float eps)
{
    float gs = dloss / (float)N;
#pragma omp parallel for if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        int64_t k = class_index(t[r], C);
        if (k < 0) fill_nan(dz + r * C, C);
        else ce_row_backward(dz + r * C, z + r * C, lse[r], k, eps, gs, C);
    }
}

/* z, p (N, C) -> loss (1), lse, rowl (N); loss_r = sum_j p_j (lse - z_j) */
void rt_cross_entropy_soft_forward(float *loss, float *lse, float *rowl, const float *z, const float *p, int64_t N,
                                   int64_t C)
{
#pragma omp parallel for if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *zr = z + r * C, *pr = p + r * C;
        double l = row_lse(zr, C), s = 0;
        for (int64_t j = 0; j < C; j++) s += (double)pr[j] * (l - zr[j]);
        lse[r] = (float)l;
        rowl[r] = (float)s;
    }
    loss[0] = (float)(sum_serial(rowl, N) / (double)N);
}

/* dloss, z, p (N, C), lse (N) -> dz, dp (N, C) += (either may be NULL) */
void rt_cross_entropy_soft_backward(float *dz, float *dp, float dloss, const float *z, const float *p,
                                    const float *lse, int64_t N, int64_t C)
{
    float gs = dloss / (float)N;
#pragma omp parallel for if (N * C > PAR_MIN)
    for (int64_t r = 0; r < N; r++) {
        const float *zr = z + r * C, *pr = p + r * C;
        float sp = (float)sum_serial(pr, C);
        for (int64_t j = 0; j < C; j++) {
            if (dz) dz[r * C + j] += gs * (expf(zr[j] - lse[r]) * sp - pr[j]);
            if (dp) dp[r * C + j] += gs * (lse[r] - zr[j]);
        }
    }
}

/* a, b (n) -> da, db (n) += f(a - b) dloss / n with f = 2 d (mse) or sign(d) (l1) */
static void pair_backward(float *da, float *db, float dloss, const float *a, const float *b, int64_t n, bool l1)
{
    float gs = dloss / (float)n;
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float d = a[i] - b[i];
        float v = l1 ? gs * (float)((d > 0.f) - (d < 0.f)) : 2.f * gs * d;
        if (da) da[i] += v;
        if (db) db[i] -= v;
    }
}

/* x, y (N, D) -> loss (1), st = [mx | my | den | ccc] (D each); per column
 * ccc = 2 cov(x, y) / (var x + var y + (mx - my)^2), biased moments. */
void rt_ccc_loss_forward(float *loss, float *st, const float *x, const float *y, int64_t N, int64_t D)
{
#pragma omp parallel for if (N * D > PAR_MIN)
    for (int64_t d = 0; d < D; d++) {
        double sx = 0, sy = 0, vx = 0, vy = 0, cxy = 0;
        for (int64_t i = 0; i < N; i++) {
            sx += x[i * D + d];
            sy += y[i * D + d];
        }
        double mx = sx / (double)N, my = sy / (double)N;
        for (int64_t i = 0; i < N; i++) {
            double a = x[i * D + d] - mx, b = y[i * D + d] - my;
            vx += a * a;
            vy += b * b;
            cxy += a * b;
        }
        double den = (vx + vy) / (double)N + (mx - my) * (mx - my);
        st[d] = (float)mx;
        st[D + d] = (float)my;
        st[2 * D + d] = (float)den;
        st[3 * D + d] = (float)(2.0 * cxy / (double)N / den);
    }
    double s = 0;
    for (int64_t d = 0; d < D; d++) s += 1.0 - st[3 * D + d];
    loss[0] = (float)(s / (double)D);
}

/* dloss, x, y (N, D), st -> dx, dy (N, D) += (either may be NULL):
 * d ccc / d x_i = 2 ((y_i - my) - ccc (x_i - my)) / (N den), y likewise. */
void rt_ccc_loss_backward(float *dx, float *dy, float dloss, const float *x, const float *y, const float *st,
                          int64_t N, int64_t D)
{
#pragma omp parallel for if (N * D > PAR_MIN)
    for (int64_t d = 0; d < D; d++) {
        float mx = st[d], my = st[D + d], c = st[3 * D + d];
        float k = -2.f * dloss / ((float)D * (float)N * st[2 * D + d]);
        for (int64_t i = 0; i < N; i++) {
            float xi = x[i * D + d], yi = y[i * D + d];
            if (dx) dx[i * D + d] += k * ((yi - my) - c * (xi - my));
            if (dy) dy[i * D + d] += k * ((xi - mx) - c * (yi - mx));
        }
    }
}

/* ---------------- AAM-softmax ---------------- */

struct aam_dims { int64_t N, E, K; };

/* Views of an aam_softmax node's saved scratch (see the file head). */
struct aam_saved { float *z, *lse, *rowl, *cos_t, *xn, *wn, *nx, *nw; };

static struct aam_saved aam_views(float *s, struct aam_dims d)
{
    struct aam_saved v;
    v.z = s;
    v.lse = v.z + d.N * d.K;
    v.rowl = v.lse + d.N;
    v.cos_t = v.rowl + d.N;
    v.xn = v.cos_t + d.N;
    v.wn = v.xn + d.N * d.E;
    v.nx = v.wn + d.K * d.E;
    v.nw = v.nx + d.N;
    return v;
}

static size_t aam_saved_floats(struct aam_dims d) { return (size_t)(d.N * d.K + 4 * d.N + (d.N + d.K) * d.E + d.K); }

/* The target logit before scaling: cos(theta + m) while theta + m <= pi
 * (cos > th = cos(pi - m)), else cos - m sin(m) (the th/mm rule of
 * voxceleb_trainer's AAMsoftmax, easy_margin off); *dphi its derivative. */
static float aam_phi(float c, float m, float *dphi)
{
    float th = cosf((float)M_PI - m), sine = sqrtf(fmaxf(1.f - c * c, 0.f));
    if (c > th) {
        *dphi = cosf(m) + (sine > 0.f ? sinf(m) * c / sine : 0.f);
        return c * cosf(m) - sine * sinf(m);
    }
    *dphi = 1.f;
    return c - m * sinf(m);
}

/* emb (N, E), w (K, E), t (N) -> loss (1), saved views v */
void rt_aam_softmax_forward(float *loss, struct aam_saved v, const float *emb, const float *w, const float *t,
                            struct aam_dims d, float m, float s)
{
    rt_l2_norm_forward(v.xn, v.nx, emb, d.N, d.E, NORM_EPS);
    rt_l2_norm_forward(v.wn, v.nw, w, d.K, d.E, NORM_EPS);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d.N, (int)d.K, (int)d.E, 1.f, v.xn, (int)d.E, v.wn,
                (int)d.E, 0.f, v.z, (int)d.K);
#pragma omp parallel for if (d.N * d.K > PAR_MIN)
    for (int64_t r = 0; r < d.N; r++) {
        float *zr = v.z + r * d.K, dphi;
        int64_t k = class_index(t[r], d.K);
        if (k < 0) {
            v.cos_t[r] = v.lse[r] = v.rowl[r] = NAN;
            continue;
        }
        v.cos_t[r] = zr[k];
        zr[k] = aam_phi(zr[k], m, &dphi);
        for (int64_t j = 0; j < d.K; j++) zr[j] *= s;
        double l = row_lse(zr, d.K);
        v.lse[r] = (float)l;
        v.rowl[r] = (float)(l - zr[k]);
    }
    loss[0] = (float)(sum_serial(v.rowl, d.N) / (double)d.N);
}

/* dloss, saved views v, t (N) -> demb (N, E), dw (K, E) += (either may be
 * NULL); work: N K + max(N, K) E floats. */
void rt_aam_softmax_backward(float *demb, float *dw, float *work, float dloss, struct aam_saved v, const float *t,
                             struct aam_dims d, float m, float s)
{
    float *dc = work, *dn = work + d.N * d.K, gs = dloss / (float)d.N;
    memset(dc, 0, (size_t)(d.N * d.K) * sizeof *dc);
#pragma omp parallel for if (d.N * d.K > PAR_MIN)
    for (int64_t r = 0; r < d.N; r++) {
        float *dr = dc + r * d.K, dphi;
        int64_t k = class_index(t[r], d.K);
        if (k < 0) {
            fill_nan(dr, d.K);
            continue;
        }
        ce_row_backward(dr, v.z + r * d.K, v.lse[r], k, 0.f, gs * s, d.K); /* d loss / d cos (z = s cos) */
        aam_phi(v.cos_t[r], m, &dphi);
        dr[k] *= dphi;
    }
    if (demb) { /* d xn = dc wn */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.N, (int)d.E, (int)d.K, 1.f, dc, (int)d.K, v.wn,
                    (int)d.E, 0.f, dn, (int)d.E);
        rt_l2_norm_backward(demb, dn, v.xn, v.nx, d.N, d.E, NORM_EPS);
    }
    if (dw) { /* d wn = dc^T xn */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d.K, (int)d.E, (int)d.N, 1.f, dc, (int)d.K, v.xn,
                    (int)d.E, 0.f, dn, (int)d.E);
        rt_l2_norm_backward(dw, dn, v.wn, v.nw, d.K, d.E, NORM_EPS);
    }
}

/* ---------------- graph glue ---------------- */

static rt_status scalar_out(rt_node *n, size_t n_saved)
{
    n->n_saved = n_saved;
    rt_node_set_shape(n, RT_DIMS(1));
    return RT_OK;
}

static bool same_shape(const rt_node *a, const rt_node *b)
{
    if (a->out.ndim != b->out.ndim) return false;
    for (int i = 0; i < a->out.ndim; i++)
        if (a->out.shape[i] != b->out.shape[i]) return false;
    return true;
}

/* in[0] must be 2-D (want names its dims); in[1] shaped like it. */
static rt_status check_pair(rt_node *n, const char *na, const char *nb, bool matrix, const char *want)
{
    char s1[64], s2[64];
    const rt_node *a = n->in[0], *b = n->in[1];
    if (matrix && a->out.ndim != 2)
        return rt_check_fail(n, "%s %s is not %s", na, RT_SHAPE_STR(s1, a), want);
    if (!same_shape(a, b))
        return rt_check_fail(n, "%s %s and %s %s differ (want the same shape)", na, RT_SHAPE_STR(s1, a), nb,
                             RT_SHAPE_STR(s2, b));
    return RT_OK;
}

/* target must be (N), N = rows of x. */
static rt_status check_target(rt_node *n, const rt_node *x, const rt_node *t, const char *xname)
{
    char s1[64], s2[64];
    if (t->out.ndim != 1 || t->out.shape[0] != x->out.shape[0])
        return rt_check_fail(n, "target %s does not fit %s %s (want (%lld) class indices)", RT_SHAPE_STR(s1, t),
                             xname, RT_SHAPE_STR(s2, x), (long long)x->out.shape[0]);
    return RT_OK;
}

static int64_t rows(const rt_node *x) { return x->out.shape[0]; }
static int64_t cols(const rt_node *x) { return rt_numel(x) / x->out.shape[0]; }

/* ---- cross_entropy ---- */

rt_node *rt_cross_entropy(rt_graph *g, rt_node *logits, rt_node *target, float label_smoothing)
{
    struct ce_args a = {label_smoothing};
    return RT_ADD_NODE(g, RT_OP_CROSS_ENTROPY, &a, logits, target);
}

rt_status rt_op_cross_entropy_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *z = n->in[0];
    float eps = RT_ARGS(n, struct ce_args)->smoothing;
    if (z->out.ndim != 2) return rt_check_fail(n, "logits %s are not (N, C)", RT_SHAPE_STR(s1, z));
    if (!(eps >= 0.f && eps <= 1.f)) return rt_check_fail(n, "label_smoothing = %g is not in [0, 1]", (double)eps);
    rt_status s = check_target(n, z, n->in[1], "logits");
    return s != RT_OK ? s : scalar_out(n, 2 * (size_t)rows(z));
}

void rt_op_cross_entropy_forward(rt_graph *g, rt_node *n)
{
    const rt_node *z = n->in[0];
    int64_t N = rows(z);
    rt_cross_entropy_forward(rt_data(n), n->saved, n->saved + N, rt_data(z), rt_data(n->in[1]), N, cols(z),
                             RT_ARGS(n, struct ce_args)->smoothing);
}

void rt_op_cross_entropy_backward(rt_graph *g, rt_node *n)
{
    const rt_node *z = n->in[0];
    if (!z->grad) return;
    rt_cross_entropy_backward(z->grad, n->grad[0], rt_data(z), rt_data(n->in[1]), n->saved, rows(z), cols(z),
                              RT_ARGS(n, struct ce_args)->smoothing);
}

/* ---- cross_entropy_soft ---- */

rt_node *rt_cross_entropy_soft(rt_graph *g, rt_node *logits, rt_node *probs)
{
    return RT_ADD_NODE0(g, RT_OP_CROSS_ENTROPY_SOFT, logits, probs);
}

rt_status rt_op_cross_entropy_soft_check(rt_graph *g, rt_node *n)
{
    rt_status s = check_pair(n, "logits", "probs", true, "(N, C)");
    return s != RT_OK ? s : scalar_out(n, 2 * (size_t)rows(n->in[0]));
}

void rt_op_cross_entropy_soft_forward(rt_graph *g, rt_node *n)
{
    const rt_node *z = n->in[0];
    int64_t N = rows(z);
    rt_cross_entropy_soft_forward(rt_data(n), n->saved, n->saved + N, rt_data(z), rt_data(n->in[1]), N, cols(z));
}

void rt_op_cross_entropy_soft_backward(rt_graph *g, rt_node *n)
{
    const rt_node *z = n->in[0], *p = n->in[1];
    rt_cross_entropy_soft_backward(z->grad, p->grad, n->grad[0], rt_data(z), rt_data(p), n->saved, rows(z), cols(z));
}

/* ---- mse_loss, l1_loss ---- */

rt_node *rt_mse_loss(rt_graph *g, rt_node *a, rt_node *b) { return RT_ADD_NODE0(g, RT_OP_MSE_LOSS, a, b); }
rt_node *rt_l1_loss(rt_graph *g, rt_node *a, rt_node *b) { return RT_ADD_NODE0(g, RT_OP_L1_LOSS, a, b); }

static rt_status pair_check(rt_node *n)
{
    rt_status s = check_pair(n, "a", "b", false, NULL);
    return s != RT_OK ? s : scalar_out(n, 0);
}

static void pair_forward(rt_node *n, enum pair_term k)
{
    int64_t N = rt_numel(n->in[0]);
    rt_data(n)[0] = (float)(pair_sum(rt_data(n->in[0]), rt_data(n->in[1]), N, k) / (double)N);
}

rt_status rt_op_mse_loss_check(rt_graph *g, rt_node *n) { return pair_check(n); }
void rt_op_mse_loss_forward(rt_graph *g, rt_node *n) { pair_forward(n, TERM_SQ); }
void rt_op_mse_loss_backward(rt_graph *g, rt_node *n)
{
    const rt_node *a = n->in[0], *b = n->in[1];
    pair_backward(a->grad, b->grad, n->grad[0], rt_data(a), rt_data(b), rt_numel(a), false);
}

rt_status rt_op_l1_loss_check(rt_graph *g, rt_node *n) { return pair_check(n); }
void rt_op_l1_loss_forward(rt_graph *g, rt_node *n) { pair_forward(n, TERM_ABS); }
void rt_op_l1_loss_backward(rt_graph *g, rt_node *n)
{
    const rt_node *a = n->in[0], *b = n->in[1];
    pair_backward(a->grad, b->grad, n->grad[0], rt_data(a), rt_data(b), rt_numel(a), true);
}

/* ---- ccc_loss ---- */

rt_node *rt_ccc_loss(rt_graph *g, rt_node *pred, rt_node *target)
{
    return RT_ADD_NODE0(g, RT_OP_CCC_LOSS, pred, target);
}

rt_status rt_op_ccc_loss_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    if (x->out.ndim > 2) return rt_check_fail(n, "pred %s is not (N, D) or (N)", RT_SHAPE_STR(s1, x));
    rt_status s = check_pair(n, "pred", "target", false, NULL);
    return s != RT_OK ? s : scalar_out(n, 4 * (size_t)cols(x));
}

void rt_op_ccc_loss_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    rt_ccc_loss_forward(rt_data(n), n->saved, rt_data(x), rt_data(n->in[1]), rows(x), cols(x));
}

void rt_op_ccc_loss_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0], *y = n->in[1];
    rt_ccc_loss_backward(x->grad, y->grad, n->grad[0], rt_data(x), rt_data(y), n->saved, rows(x), cols(x));
}

/* ---- aam_softmax ---- */

rt_node *rt_aam_softmax(rt_graph *g, rt_node *emb, rt_node *weight, rt_node *target, float margin, float scale)
{
    struct aam_args a = {margin, scale};
    return RT_ADD_NODE(g, RT_OP_AAM_SOFTMAX, &a, emb, weight, target);
}

static struct aam_dims aam_dims_of(const rt_node *n)
{
    const rt_node *x = n->in[0], *w = n->in[1];
    return (struct aam_dims){x->out.shape[0], x->out.shape[1], w->out.shape[0]};
}

rt_status rt_op_aam_softmax_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const struct aam_args *a = RT_ARGS(n, const struct aam_args);
    const rt_node *x = n->in[0], *w = n->in[1];
    if (x->out.ndim != 2 || w->out.ndim != 2 || x->out.shape[1] != w->out.shape[1])
        return rt_check_fail(n, "emb %s and weight %s do not fit (want (N, E) and (K, E))", RT_SHAPE_STR(s1, x),
                             RT_SHAPE_STR(s2, w));
    if (!(a->m >= 0.f && a->m < (float)M_PI) || !(a->s > 0.f && a->s < INFINITY))
        return rt_check_fail(n, "margin = %g must be in [0, pi) and scale = %g finite and > 0", (double)a->m,
                             (double)a->s);
    rt_status s = check_target(n, x, n->in[2], "emb");
    if (s != RT_OK) return s;
    struct aam_dims d = aam_dims_of(n);
    n->n_work = (size_t)(d.N * d.K + (d.N > d.K ? d.N : d.K) * d.E);
    return scalar_out(n, aam_saved_floats(d));
}

void rt_op_aam_softmax_forward(rt_graph *g, rt_node *n)
{
    const struct aam_args *a = RT_ARGS(n, const struct aam_args);
    struct aam_dims d = aam_dims_of(n);
    rt_aam_softmax_forward(rt_data(n), aam_views(n->saved, d), rt_data(n->in[0]), rt_data(n->in[1]),
                           rt_data(n->in[2]), d, a->m, a->s);
}

void rt_op_aam_softmax_backward(rt_graph *g, rt_node *n)
{
    const struct aam_args *a = RT_ARGS(n, const struct aam_args);
    struct aam_dims d = aam_dims_of(n);
    if (!n->in[0]->grad && !n->in[1]->grad) return;
    rt_aam_softmax_backward(n->in[0]->grad, n->in[1]->grad, g->work, n->grad[0], aam_views(n->saved, d),
                            rt_data(n->in[2]), d, a->m, a->s);
}

/* ---- gaussian_kl ---- */

rt_node *rt_gaussian_kl(rt_graph *g, rt_node *mu, rt_node *logvar)
{
    return RT_ADD_NODE0(g, RT_OP_GAUSSIAN_KL, mu, logvar);
}

rt_status rt_op_gaussian_kl_check(rt_graph *g, rt_node *n)
{
    rt_status s = check_pair(n, "mu", "logvar", false, NULL);
    return s != RT_OK ? s : scalar_out(n, 0);
}

void rt_op_gaussian_kl_forward(rt_graph *g, rt_node *n)
{
    const rt_node *mu = n->in[0];
    rt_data(n)[0] = (float)(-0.5 * pair_sum(rt_data(mu), rt_data(n->in[1]), rt_numel(mu), TERM_KL) / (double)rows(mu));
}

/* d/d mu = mu / N, d/d logvar = (exp(logvar) - 1) / (2 N), times dloss */
void rt_op_gaussian_kl_backward(rt_graph *g, rt_node *n)
{
    const rt_node *mu = n->in[0], *lv = n->in[1];
    const float *m = rt_data(mu), *l = rt_data(lv);
    float gs = n->grad[0] / (float)rows(mu);
    int64_t N = rt_numel(mu);
#pragma omp parallel for if (N > PAR_MIN)
    for (int64_t i = 0; i < N; i++) {
        if (mu->grad) mu->grad[i] += gs * m[i];
        if (lv->grad) lv->grad[i] += 0.5f * gs * (expf(l[i]) - 1.f);
    }
}
