/*
 * k_seq.c - sequence ops: lstm, stats_pool, attn_stats_pool.
 *
 * Dims: B batch, T time steps, F input features, H hidden size, C channels.
 *
 * lstm is one layer of PyTorch's nn.LSTM (batch_first, gate order i, f, g,
 * o, zero initial state); stack nodes for more layers. Forward does one
 * GEMM for the input projection of all steps, then one GEMM h_{t-1} w_hh^T
 * per step; the activated gates (B, T, 4H) and cell states (B, T, H) are
 * kept in n->saved for backward (BPTT), which writes all gate gradients
 * (B, T, 4H) into the workspace and turns them into dx, dw_ih, dw_hh and the
 * bias gradients with a few GEMMs at the end.
 *
 * stats_pool and attn_stats_pool reduce over time in double, in channel
 * blocks of SP_BLK so reads stay contiguous; their saved scratch is the
 * variance before the clamp (B, C), which decides where the gradient of
 * sqrt(max(var, eps)) is zero.
 */
#include "core/op_impl.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

#define PAR_MIN 32768  /* elements below which plain loops stay serial */
#define GATE_PAR 4096  /* B*H above which the per-step gate loop runs in parallel */
#define SP_BLK 64      /* channels per block in the time reductions */

_Static_assert(sizeof(struct rt_lstm_args) <= RT_ARGS_BYTES, "args");

struct lstm_dims { int64_t B, T, F, H; }; /* F: input features (I in PyTorch's docs; I is a macro here) */

static inline float sigmoidf(float v) { return 1.f / (1.f + expf(-v)); }

/* ---------------- kernels: lstm ---------------- */

/* x (B,T,F), w_ih (4H,F), w_hh (4H,H), b_ih, b_hh (4H) or NULL -> h (B,T,H);
 * saves gates (B,T,4H) [i f g o after their activations] and cell (B,T,H). */
void rt_lstm_forward(float *h, float *gates, float *cell, const float *x, const float *w_ih, const float *w_hh,
                     const float *b_ih, const float *b_hh, struct lstm_dims d)
{
    int64_t B = d.B, T = d.T, H = d.H, G = 4 * d.H;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(B * T), (int)G, (int)d.F, 1.f, x, (int)d.F, w_ih,
                (int)d.F, 0.f, gates, (int)G);
    if (b_ih || b_hh) {
#pragma omp parallel for if (B * T * G > PAR_MIN)
        for (int64_t r = 0; r < B * T; r++)
            for (int64_t j = 0; j < G; j++) gates[r * G + j] += (b_ih ? b_ih[j] : 0.f) + (b_hh ? b_hh[j] : 0.f);
    }
    for (int64_t t = 0; t < T; t++) {
        if (t > 0) /* gates[:, t] += h[:, t-1] w_hh^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)G, (int)H, 1.f, h + (t - 1) * H,
                        (int)(T * H), w_hh, (int)H, 1.f, gates + t * G, (int)(T * G));
#pragma omp parallel for collapse(2) if (B * H > GATE_PAR)
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                float *gt = gates + (b * T + t) * G;
                float ig = sigmoidf(gt[j]), fg = sigmoidf(gt[H + j]), gg = tanhf(gt[2 * H + j]);
                float og = sigmoidf(gt[3 * H + j]);
                float cp = t > 0 ? cell[(b * T + t - 1) * H + j] : 0.f;
                float c = fg * cp + ig * gg;
                gt[j] = ig;
                gt[H + j] = fg;
                gt[2 * H + j] = gg;
                gt[3 * H + j] = og;
                cell[(b * T + t) * H + j] = c;
                h[(b * T + t) * H + j] = og * tanhf(c);
            }
    }
}

/* One step of BPTT at time t: from dh (B,H) = dy[:, t] + dh_rec and the
 * carried dc (B,H), write dgates[:, t] (pre-activation) and update dc. */
static void lstm_step_backward(float *dgates, float *dc, const float *dy, const float *dh_rec, const float *gates,
                               const float *cell, int64_t t, struct lstm_dims d)
{
    int64_t B = d.B, T = d.T, H = d.H, G = 4 * d.H;
#pragma omp parallel for collapse(2) if (B * H > GATE_PAR)
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < H; j++) {
            const float *gt = gates + (b * T + t) * G;
            float *dg = dgates + (b * T + t) * G;
            float ig = gt[j], fg = gt[H + j], gg = gt[2 * H + j], og = gt[3 * H + j];
            float tc = tanhf(cell[(b * T + t) * H + j]);
            float cp = t > 0 ? cell[(b * T + t - 1) * H + j] : 0.f;
            float dh = dy[(b * T + t) * H + j] + (dh_rec ? dh_rec[b * H + j] : 0.f);
            float dcv = dc[b * H + j] + dh * og * (1.f - tc * tc);
            dg[j] = dcv * gg * ig * (1.f - ig);
            dg[H + j] = dcv * cp * fg * (1.f - fg);
            dg[2 * H + j] = dcv * ig * (1.f - gg * gg);
            dg[3 * H + j] = dh * tc * og * (1.f - og);
            dc[b * H + j] = dcv * fg;
        }
}

/* dy (B,T,H) -> dx (B,T,F), dw_ih (4H,F), dw_hh (4H,H), db_ih, db_hh (4H), each
 * added to when not NULL. work: B*T*4H + 2*B*H floats. */
void rt_lstm_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, float *work,
                      const float *dy, const float *h, const float *gates, const float *cell, const float *x,
                      const float *w_ih, const float *w_hh, struct lstm_dims d)
{
    int64_t B = d.B, T = d.T, H = d.H, F = d.F, G = 4 * d.H;
    float *dgates = work, *dh_rec = work + B * T * G, *dc = dh_rec + B * H;
    memset(dc, 0, (size_t)(B * H) * sizeof *dc);
    for (int64_t t = T - 1; t >= 0; t--) {
        if (t < T - 1) /* dh_rec = dgates[:, t+1] w_hh */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)G, 1.f, dgates + (t + 1) * G,
                        (int)(T * G), w_hh, (int)H, 0.f, dh_rec, (int)H);
        lstm_step_backward(dgates, dc, dy, t < T - 1 ? dh_rec : NULL, gates, cell, t, d);
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(B * T), (int)F, (int)G, 1.f, dgates, (int)G,
                    w_ih, (int)F, 1.f, dx, (int)F);
    if (dw_ih)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)G, (int)F, (int)(B * T), 1.f, dgates, (int)G, x,
                    (int)F, 1.f, dw_ih, (int)F);
    if (dw_hh && T > 1) { /* sum over steps t >= 1 of dgates[:, t]^T h[:, t-1]; the fewer GEMMs of the two ways */
        if (B <= T - 1)
            for (int64_t b = 0; b < B; b++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)G, (int)H, (int)(T - 1), 1.f,
                            dgates + (b * T + 1) * G, (int)G, h + b * T * H, (int)H, 1.f, dw_hh, (int)H);
        else
            for (int64_t t = 1; t < T; t++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)G, (int)H, (int)B, 1.f, dgates + t * G,
                            (int)(T * G), h + (t - 1) * H, (int)(T * H), 1.f, dw_hh, (int)H);
    }
    if (db_ih || db_hh) {
#pragma omp parallel for if (B * T * G > PAR_MIN)
        for (int64_t j = 0; j < G; j++) {
            double s = 0;
            for (int64_t r = 0; r < B * T; r++) s += dgates[r * G + j];
            if (db_ih) db_ih[j] += (float)s;
            if (db_hh) db_hh[j] += (float)s;
        }
    }
}

/* ---------------- kernels: statistics pooling ---------------- */

/* x (B,T,C) -> y (B,2C) = [mean_t x, sqrt(max(var_t x, eps))], var (B,C) saved (biased) */
void rt_stats_pool_forward(float *y, float *var, const float *x, int64_t B, int64_t T, int64_t C, float eps)
{
    int64_t nblk = (C + SP_BLK - 1) / SP_BLK;
#pragma omp parallel for collapse(2) if (B * T * C > PAR_MIN)
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < nblk; k++) {
            int64_t c0 = k * SP_BLK, nc = C - c0 < SP_BLK ? C - c0 : SP_BLK;
            double s[SP_BLK] = {0}, s2[SP_BLK] = {0};
            for (int64_t t = 0; t < T; t++)
                for (int64_t j = 0; j < nc; j++) s[j] += x[(b * T + t) * C + c0 + j];
            for (int64_t j = 0; j < nc; j++) s[j] /= (double)T;
            for (int64_t t = 0; t < T; t++)
                for (int64_t j = 0; j < nc; j++) {
                    double v = x[(b * T + t) * C + c0 + j] - s[j];
                    s2[j] += v * v;
                }
            for (int64_t j = 0; j < nc; j++) {
                double v = s2[j] / (double)T;
                var[b * C + c0 + j] = (float)v;
                y[b * 2 * C + c0 + j] = (float)s[j];
                y[b * 2 * C + C + c0 + j] = (float)sqrt(v > eps ? v : (double)eps);
            }
        }
}

/* dy (B,2C) -> dx (B,T,C) += dmu/T + [var > eps] dsigma (x - mu) / (sigma T) */
void rt_stats_pool_backward(float *dx, const float *dy, const float *x, const float *y, const float *var, int64_t B,
                            int64_t T, int64_t C, float eps)
{
#pragma omp parallel for collapse(2) if (B * T * C > PAR_MIN)
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++) {
                const float *yb = y + b * 2 * C, *dyb = dy + b * 2 * C;
                float g = dyb[c];
                if (var[b * C + c] > eps) g += dyb[C + c] * (x[(b * T + t) * C + c] - yb[c]) / yb[C + c];
                dx[(b * T + t) * C + c] += g / (float)T;
            }
}

/* x (B,T,C), w (B,T) [shared] or (B,T,C) -> y (B,2C) = [mu, sqrt(max(var, eps))]
 * with mu = sum_t w x, var = sum_t w x^2 - mu^2 (saved, (B,C)) */
void rt_attn_stats_pool_forward(float *y, float *var, const float *x, const float *w, int64_t B, int64_t T,
                                int64_t C, bool shared, float eps)
{
    int64_t nblk = (C + SP_BLK - 1) / SP_BLK;
#pragma omp parallel for collapse(2) if (B * T * C > PAR_MIN)
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < nblk; k++) {
            int64_t c0 = k * SP_BLK, nc = C - c0 < SP_BLK ? C - c0 : SP_BLK;
            double s[SP_BLK] = {0}, s2[SP_BLK] = {0};
            for (int64_t t = 0; t < T; t++) {
                const float *xt = x + (b * T + t) * C + c0;
                for (int64_t j = 0; j < nc; j++) {
                    double wx = (double)(shared ? w[b * T + t] : w[(b * T + t) * C + c0 + j]) * xt[j];
                    s[j] += wx;
                    s2[j] += wx * xt[j];
                }
            }
            for (int64_t j = 0; j < nc; j++) {
                double v = s2[j] - s[j] * s[j];
                var[b * C + c0 + j] = (float)v;
                y[b * 2 * C + c0 + j] = (float)s[j];
                y[b * 2 * C + C + c0 + j] = (float)sqrt(v > eps ? v : (double)eps);
            }
        }
}

/* dy (B,2C) -> dx (B,T,C) += w (dmu + 2 k (x - mu)), dw += x dmu + k x (x - 2 mu)
 * (summed over c when shared), k = [var > eps] dsigma / (2 sigma) kept in
 * coef (B,C) workspace. dx or dw may be NULL. */
void rt_attn_stats_pool_backward(float *dx, float *dw, float *coef, const float *dy, const float *x, const float *w,
                                 const float *y, const float *var, int64_t B, int64_t T, int64_t C, bool shared,
                                 float eps)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            coef[b * C + c] = var[b * C + c] > eps ? dy[b * 2 * C + C + c] / (2.f * y[b * 2 * C + C + c]) : 0.f;
#pragma omp parallel for collapse(2) if (B * T * C > PAR_MIN)
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const float *mu = y + b * 2 * C, *dmu = dy + b * 2 * C, *k = coef + b * C, *xt = x + (b * T + t) * C;
            int64_t r = b * T + t;
            double sw = 0;
            for (int64_t c = 0; c < C; c++) {
                float wv = shared ? w[r] : w[r * C + c];
                if (dx) dx[r * C + c] += wv * (dmu[c] + 2.f * k[c] * (xt[c] - mu[c]));
                float gw = xt[c] * dmu[c] + k[c] * xt[c] * (xt[c] - 2.f * mu[c]);
                if (shared)
                    sw += gw;
                else if (dw)
                    dw[r * C + c] += gw;
            }
            if (shared && dw) dw[r] += (float)sw;
        }
}

/* ---------------- graph glue ---------------- */

rt_node *rt_lstm(rt_graph *g, rt_node *x, rt_node *w_ih, rt_node *w_hh, rt_node *b_ih, rt_node *b_hh)
{
    struct rt_lstm_args a = {b_ih != NULL, b_hh != NULL};
    rt_node *in[5] = {x, w_ih, w_hh};
    int n = 3;
    if (b_ih) in[n++] = b_ih;
    if (b_hh) in[n++] = b_hh;
    return rt_graph_add(g, RT_OP_LSTM, n, in, &a, sizeof a);
}

static struct lstm_dims lstm_dims_of(const rt_node *n)
{
    const rt_node *x = n->in[0];
    return (struct lstm_dims){x->out.shape[0], x->out.shape[1], x->out.shape[2], n->in[2]->out.shape[1]};
}

/* The optional bias inputs of an lstm node (NULL when absent). */
static void lstm_biases(const rt_node *n, rt_node **b_ih, rt_node **b_hh)
{
    const struct rt_lstm_args *a = RT_ARGS(n, const struct rt_lstm_args);
    *b_ih = a->has_b_ih ? n->in[3] : NULL;
    *b_hh = a->has_b_hh ? n->in[3 + a->has_b_ih] : NULL;
}

rt_status rt_op_lstm_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64], s3[64];
    const rt_node *x = n->in[0], *wi = n->in[1], *wh = n->in[2];
    rt_node *bi, *bh;
    if (x->out.ndim != 3) return rt_check_fail(n, "x %s is not (B, T, I)", RT_SHAPE_STR(s1, x));
    int64_t H = wh->out.ndim == 2 ? wh->out.shape[1] : 0;
    if (wh->out.ndim != 2 || wh->out.shape[0] != 4 * H)
        return rt_check_fail(n, "w_hh %s is not (4H, H)", RT_SHAPE_STR(s1, wh));
    if (wi->out.ndim != 2 || wi->out.shape[0] != 4 * H || wi->out.shape[1] != x->out.shape[2])
        return rt_check_fail(n, "w_ih %s does not fit x %s and w_hh %s (want (%lld, %lld))", RT_SHAPE_STR(s1, wi),
                             RT_SHAPE_STR(s2, x), RT_SHAPE_STR(s3, wh), (long long)(4 * H),
                             (long long)x->out.shape[2]);
    lstm_biases(n, &bi, &bh);
    const rt_node *bs[2] = {bi, bh};
    for (int i = 0; i < 2; i++)
        if (bs[i] && (bs[i]->out.ndim != 1 || bs[i]->out.shape[0] != 4 * H))
            return rt_check_fail(n, "%s %s is not (%lld)", i ? "b_hh" : "b_ih", RT_SHAPE_STR(s1, bs[i]),
                                 (long long)(4 * H));
    struct lstm_dims d = lstm_dims_of(n);
    if (d.B * d.T * 4 * H > INT_MAX || d.B * d.T * d.F > INT_MAX)
        return rt_check_fail(n, "x %s with hidden size %lld is too large for BLAS", RT_SHAPE_STR(s1, x), (long long)H);
    rt_node_set_shape(n, RT_DIMS(d.B, d.T, H));
    n->n_saved = (size_t)(d.B * d.T * 5 * H);               /* gates (B,T,4H), cell (B,T,H) */
    n->n_work = (size_t)(d.B * d.T * 4 * H + 2 * d.B * H); /* dgates, dh_rec, dc */
    return RT_OK;
}

/* B T 4H (I + H): the four gates' input and recurrent products per step;
 * the cell's elementwise products are not counted. */
int64_t rt_op_lstm_macs(const rt_node *n)
{
    struct lstm_dims d = lstm_dims_of(n);
    return d.B * d.T * 4 * d.H * (d.F + d.H);
}

void rt_op_lstm_forward(rt_graph *g, rt_node *n)
{
    rt_node *bi, *bh;
    struct lstm_dims d = lstm_dims_of(n);
    lstm_biases(n, &bi, &bh);
    rt_lstm_forward(rt_data(n), n->saved, n->saved + d.B * d.T * 4 * d.H, rt_data(n->in[0]), rt_data(n->in[1]),
                    rt_data(n->in[2]), bi ? rt_data(bi) : NULL, bh ? rt_data(bh) : NULL, d);
}

void rt_op_lstm_backward(rt_graph *g, rt_node *n)
{
    rt_node *bi, *bh;
    struct lstm_dims d = lstm_dims_of(n);
    lstm_biases(n, &bi, &bh);
    rt_lstm_backward(n->in[0]->grad, n->in[1]->grad, n->in[2]->grad, bi ? bi->grad : NULL, bh ? bh->grad : NULL,
                     g->work, n->grad, rt_data(n), n->saved, n->saved + d.B * d.T * 4 * d.H, rt_data(n->in[0]),
                     rt_data(n->in[1]), rt_data(n->in[2]), d);
}

rt_node *rt_stats_pool(rt_graph *g, rt_node *x, float eps)
{
    struct rt_eps_args a = {eps};
    return RT_ADD_NODE(g, RT_OP_STATS_POOL, &a, x);
}

rt_status rt_op_stats_pool_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    if (x->out.ndim != 3) return rt_check_fail(n, "x %s is not (B, T, C)", RT_SHAPE_STR(s1, x));
    if (!(RT_ARGS(n, struct rt_eps_args)->eps >= 0)) return rt_check_fail(n, "eps must not be negative");
    rt_node_set_shape(n, RT_DIMS(x->out.shape[0], 2 * x->out.shape[2]));
    n->n_saved = (size_t)(x->out.shape[0] * x->out.shape[2]); /* var (B,C) */
    return RT_OK;
}

void rt_op_stats_pool_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    rt_stats_pool_forward(rt_data(n), n->saved, rt_data(x), x->out.shape[0], x->out.shape[1], x->out.shape[2],
                          RT_ARGS(n, struct rt_eps_args)->eps);
}

void rt_op_stats_pool_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    if (!x->grad) return;
    rt_stats_pool_backward(x->grad, n->grad, rt_data(x), rt_data(n), n->saved, x->out.shape[0], x->out.shape[1],
                           x->out.shape[2], RT_ARGS(n, struct rt_eps_args)->eps);
}

rt_node *rt_attn_stats_pool(rt_graph *g, rt_node *x, rt_node *w, float eps)
{
    struct rt_eps_args a = {eps};
    return RT_ADD_NODE(g, RT_OP_ATTN_STATS_POOL, &a, x, w);
}

/* w (B,T) or (B,T,1) is shared across channels; (B,T,C) is per channel. */
static bool attn_w_shared(const rt_node *n) { return n->in[1]->out.ndim == 2 || n->in[1]->out.shape[2] == 1; }

rt_status rt_op_attn_stats_pool_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *x = n->in[0], *w = n->in[1];
    if (x->out.ndim != 3) return rt_check_fail(n, "x %s is not (B, T, C)", RT_SHAPE_STR(s1, x));
    const int64_t *xs = x->out.shape, *ws = w->out.shape;
    bool ok = (w->out.ndim == 2 || w->out.ndim == 3) && ws[0] == xs[0] && ws[1] == xs[1] &&
              (w->out.ndim == 2 || ws[2] == xs[2] || ws[2] == 1);
    if (!ok)
        return rt_check_fail(n, "weights %s do not fit x %s (want (B, T) or (B, T, C))", RT_SHAPE_STR(s1, w),
                             RT_SHAPE_STR(s2, x));
    if (!(RT_ARGS(n, struct rt_eps_args)->eps >= 0)) return rt_check_fail(n, "eps must not be negative");
    rt_node_set_shape(n, RT_DIMS(xs[0], 2 * xs[2]));
    n->n_saved = (size_t)(xs[0] * xs[2]); /* var (B,C) */
    n->n_work = (size_t)(xs[0] * xs[2]);  /* backward coefficients (B,C) */
    return RT_OK;
}

/* 2 B T C: the weighted sums of x and of x^2 */
int64_t rt_op_attn_stats_pool_macs(const rt_node *n)
{
    return 2 * rt_numel(n->in[0]);
}

void rt_op_attn_stats_pool_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    rt_attn_stats_pool_forward(rt_data(n), n->saved, rt_data(x), rt_data(n->in[1]), x->out.shape[0],
                               x->out.shape[1], x->out.shape[2], attn_w_shared(n), RT_ARGS(n, struct rt_eps_args)->eps);
}

void rt_op_attn_stats_pool_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0], *w = n->in[1];
    if (!x->grad && !w->grad) return;
    rt_attn_stats_pool_backward(x->grad, w->grad, g->work, n->grad, rt_data(x), rt_data(w), rt_data(n), n->saved,
                                x->out.shape[0], x->out.shape[1], x->out.shape[2], attn_w_shared(n),
                                RT_ARGS(n, struct rt_eps_args)->eps);
}
