/*
 * k_conv.c - conv2d, avg_pool2d, max_pool2d, global_avg_pool over NCHW.
 *
 * Dims: x (B, C, H, W), w (OC, C/G, KH, KW), y (B, OC, OH, OW) with
 * OH = (H + 2 PH - KH) / SH + 1 (floor), L = OH * OW, G groups, Cg = C / G,
 * OCg = OC / G, Kg = Cg * KH * KW (the GEMM inner size of one group),
 * K = C * KH * KW. Zero padding, dilation 1.
 *
 * conv2d runs one of two kernels:
 *  - depthwise (G == C and OC = k C, k the channel multiplier; KW <= 64):
 *    direct loops over rows, parallel over (B, OC) output planes (forward),
 *    (B, C) input planes (dx) and (OC, KH) kernel rows (dw, summed in
 *    double). Each row splits into bounds-checked edges and a vectorised
 *    interior; 3x3 with stride 1 or 2 does all nine taps in one pass (dx of
 *    stride 1 as the flipped kernel over dy), and non-overlapping patches
 *    (stride == kernel, the 16x16 patch embedding) use contiguous dots.
 *  - GEMM per (batch item, group) over a column matrix laid out as
 *      IDENT  1x1, stride 1, pad 0: x itself is the (C, L) matrix, no copy;
 *      PATCH  stride == kernel, pad 0: (L, K), one row per patch, copied in
 *             contiguous KW-float runs (ViT patch embedding);
 *      ROWS   anything else: classic im2col (K, L).
 *    Backward: dW += dY col^T, dcol = W^T dY, then col2im adds into dx
 *    (the column buffer is reused for dcol).
 *    Two schedules, chosen at check time from omp_get_max_threads():
 *    serial over the batch with a parallel im2col and OpenBLAS threading
 *    inside each GEMM (large items), or parallel over the batch with one
 *    column buffer and one dW accumulator per thread (items too small for a
 *    threaded GEMM). n_work is sized for that many buffers (nbuf, kept in
 *    the node's private args); at run time at most nbuf threads are used.
 *    dW partials are summed in thread order: repeatable for a thread count.
 *    Forward results do not depend on the thread count except for the ulps
 *    OpenBLAS's own threading may change in the serial schedule.
 *    The GEMM path (rt_conv2d_gemm_*, op_impl.h) also serves k_convt.c:
 *    conv_transpose2d is this convolution's adjoint.
 *
 * Pools: count_include_pad (avg), -inf padding (max; argmax kept as int32
 * plane offsets in n->saved), floor output size, pad <= kernel / 2.
 */
#include "core/op_impl.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>

#define PAR_MIN 32768                      /* work below which loops stay serial */
#define SMALL_ITEM_MACS ((int64_t)1 << 24) /* per-item GEMM work split over the batch */
#define MAX_THREAD_WORK ((int64_t)64 << 20) /* floats of per-thread buffers at most */
#define DW_MAX_KW 64                        /* widest kernel row of the depthwise kernel (dw sums) */

enum col_layout { COL_IDENT, COL_PATCH, COL_ROWS };

/* The conv node's args: the user's settings, then the schedule from check. */
struct conv_node_args {
    struct rt_conv2d_args a;
    int nbuf; /* 0: depthwise kernel; 1: serial over the batch; > 1: per-thread buffers */
};
_Static_assert(sizeof(struct conv_node_args) <= RT_ARGS_BYTES, "conv args too large");
_Static_assert(sizeof(int32_t) == sizeof(float), "argmax is stored in float scratch");

/* [lo, hi): the o in [0, n_out) whose taps o*S + off + k, k < K, all lie in [0, n_in) */
static void interior(int64_t n_out, int64_t n_in, int64_t S, int64_t off, int64_t K, int64_t *lo, int64_t *hi)
{
    *lo = off < 0 ? (-off + S - 1) / S : 0;
    *hi = n_in - K - off < 0 ? 0 : (n_in - K - off) / S + 1;
    if (*hi > n_out) *hi = n_out;
    if (*lo > *hi) *lo = *hi;
}

static bool is_patch(const struct rt_conv_dims *d)
{
    return d->SH == d->KH && d->SW == d->KW && d->PH == 0 && d->PW == 0;
}

static enum col_layout col_layout_of(const struct rt_conv_dims *d)
{
    if (d->KH == 1 && d->KW == 1 && d->SH == 1 && d->SW == 1 && d->PH == 0 && d->PW == 0) return COL_IDENT;
    return is_patch(d) ? COL_PATCH : COL_ROWS;
}

/* ---------------- im2col / col2im ---------------- */

/* x (C, H, W) -> col (K, L), row r = (c KH + kh) KW + kw; zeros where padded */
static void im2col_rows(float *col, const float *x, const struct rt_conv_dims *d, bool par)
{
    int64_t KK = d->KH * d->KW, K = d->C * KK, L = d->OH * d->OW;
#pragma omp parallel for if (par && K * L > PAR_MIN)
    for (int64_t r = 0; r < K; r++) {
        int64_t c = r / KK, kh = r / d->KW % d->KH, kw = r % d->KW, lo, hi;
        const float *xc = x + c * d->H * d->W;
        interior(d->OW, d->W, d->SW, kw - d->PW, 1, &lo, &hi);
        for (int64_t oh = 0; oh < d->OH; oh++) {
            float *o = col + r * L + oh * d->OW;
            int64_t ih = oh * d->SH - d->PH + kh;
            if (ih < 0 || ih >= d->H) {
                memset(o, 0, (size_t)d->OW * sizeof *o);
                continue;
            }
            const float *xr = xc + ih * d->W;
            int64_t off = kw - d->PW;
            for (int64_t ow = 0; ow < lo; ow++) o[ow] = 0.f;
            if (d->SW == 1) {
                if (hi > lo) memcpy(o + lo, xr + lo + off, (size_t)(hi - lo) * sizeof *o);
            } else {
                for (int64_t ow = lo; ow < hi; ow++) o[ow] = xr[ow * d->SW + off];
            }
            for (int64_t ow = hi; ow < d->OW; ow++) o[ow] = 0.f;
        }
    }
}

/* col (K, L) -> dx (C, H, W) += (the adjoint of im2col_rows) */
static void col2im_rows(float *dx, const float *col, const struct rt_conv_dims *d, bool par)
{
    int64_t KK = d->KH * d->KW, L = d->OH * d->OW;
#pragma omp parallel for if (par && d->C * KK * L > PAR_MIN)
    for (int64_t c = 0; c < d->C; c++) {
        float *dxc = dx + c * d->H * d->W;
        for (int64_t kh = 0; kh < d->KH; kh++)
            for (int64_t kw = 0; kw < d->KW; kw++) {
                const float *cr = col + ((c * d->KH + kh) * d->KW + kw) * L;
                int64_t lo, hi, off = kw - d->PW;
                interior(d->OW, d->W, d->SW, kw - d->PW, 1, &lo, &hi);
                for (int64_t oh = 0; oh < d->OH; oh++) {
                    int64_t ih = oh * d->SH - d->PH + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    float *dxr = dxc + ih * d->W;
                    const float *co = cr + oh * d->OW;
                    for (int64_t ow = lo; ow < hi; ow++) dxr[ow * d->SW + off] += co[ow];
                }
            }
    }
}

/* x (C, H, W) -> colT (L, K): row l = (oh, ow) is patch (oh, ow); stride == kernel, pad 0 */
static void im2col_patch(float *colT, const float *x, const struct rt_conv_dims *d, bool par)
{
    int64_t K = d->C * d->KH * d->KW;
#pragma omp parallel for collapse(2) if (par && K * d->OH * d->OW > PAR_MIN)
    for (int64_t oh = 0; oh < d->OH; oh++)
        for (int64_t ow = 0; ow < d->OW; ow++) {
            float *row = colT + (oh * d->OW + ow) * K;
            for (int64_t c = 0; c < d->C; c++)
                for (int64_t kh = 0; kh < d->KH; kh++)
                    memcpy(row + (c * d->KH + kh) * d->KW, x + (c * d->H + oh * d->KH + kh) * d->W + ow * d->KW,
                           (size_t)d->KW * sizeof *row);
        }
}

/* colT (L, K) -> dx (C, H, W) += ; patches do not overlap, so rows are independent */
static void col2im_patch(float *dx, const float *colT, const struct rt_conv_dims *d, bool par)
{
    int64_t K = d->C * d->KH * d->KW;
#pragma omp parallel for collapse(2) if (par && K * d->OH * d->OW > PAR_MIN)
    for (int64_t oh = 0; oh < d->OH; oh++)
        for (int64_t ow = 0; ow < d->OW; ow++) {
            const float *row = colT + (oh * d->OW + ow) * K;
            for (int64_t c = 0; c < d->C; c++)
                for (int64_t kh = 0; kh < d->KH; kh++) {
                    float *o = dx + (c * d->H + oh * d->KH + kh) * d->W + ow * d->KW;
                    const float *s = row + (c * d->KH + kh) * d->KW;
                    for (int64_t kw = 0; kw < d->KW; kw++) o[kw] += s[kw];
                }
        }
}

/* ---------------- GEMM conv: one batch item ---------------- */

/* Column matrix of one item: x itself (IDENT) or built into buf. */
static const float *item_col(float *buf, const float *xb, const struct rt_conv_dims *d, enum col_layout lay, bool par)
{
    if (lay == COL_IDENT) return xb;
    if (lay == COL_PATCH) im2col_patch(buf, xb, d, par);
    else im2col_rows(buf, xb, d, par);
    return buf;
}

/* col of one item, w (OC, Kg), b (OC) or NULL -> y (OC, L); acc: y += instead (b NULL) */
static void gemm_item_forward(float *y, const float *col, const float *w, const float *b, const struct rt_conv_dims *d,
                              enum col_layout lay, bool acc)
{
    int64_t L = d->OH * d->OW, OCg = d->OC / d->G, Kg = d->C / d->G * d->KH * d->KW, K = Kg * d->G;
    if (b)
        for (int64_t oc = 0; oc < d->OC; oc++)
            for (int64_t l = 0; l < L; l++) y[oc * L + l] = b[oc];
    for (int64_t g = 0; g < d->G; g++) {
        const float *wg = w + g * OCg * Kg;
        float *yg = y + g * OCg * L;
        if (lay == COL_PATCH)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OCg, (int)L, (int)Kg, 1.f, wg, (int)Kg,
                        col + g * Kg, (int)K, b || acc ? 1.f : 0.f, yg, (int)L);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OCg, (int)L, (int)Kg, 1.f, wg, (int)Kg,
                        col + g * Kg * L, (int)L, b || acc ? 1.f : 0.f, yg, (int)L);
    }
}

/* dy (OC, L) of one item -> dw (OC, Kg) += dY col^T (needs col) */
static void gemm_item_dw(float *dw, const float *dy, const float *col, const struct rt_conv_dims *d,
                         enum col_layout lay)
{
    int64_t L = d->OH * d->OW, OCg = d->OC / d->G, Kg = d->C / d->G * d->KH * d->KW, K = Kg * d->G;
    for (int64_t g = 0; g < d->G; g++) {
        const float *dyg = dy + g * OCg * L;
        float *dwg = dw + g * OCg * Kg;
        if (lay == COL_PATCH)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)OCg, (int)Kg, (int)L, 1.f, dyg, (int)L,
                        col + g * Kg, (int)K, 1.f, dwg, (int)Kg);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)OCg, (int)Kg, (int)L, 1.f, dyg, (int)L,
                        col + g * Kg * L, (int)L, 1.f, dwg, (int)Kg);
    }
}

/* dy (OC, L) of one item -> dx (C, H, W) += col2im(W^T dY); dcol is scratch (unused for IDENT) */
static void gemm_item_dx(float *dx, float *dcol, const float *dy, const float *w, const struct rt_conv_dims *d,
                         enum col_layout lay, bool par)
{
    int64_t L = d->OH * d->OW, OCg = d->OC / d->G, Kg = d->C / d->G * d->KH * d->KW, K = Kg * d->G;
    for (int64_t g = 0; g < d->G; g++) {
        const float *dyg = dy + g * OCg * L, *wg = w + g * OCg * Kg;
        if (lay == COL_IDENT) /* dx_g (Cg, L) += W_g^T dY_g */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Kg, (int)L, (int)OCg, 1.f, wg, (int)Kg, dyg,
                        (int)L, 1.f, dx + g * Kg * L, (int)L);
        else if (lay == COL_PATCH) /* dcolT_g (L, Kg) = dY_g^T W_g */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)Kg, (int)OCg, 1.f, dyg, (int)L, wg,
                        (int)Kg, 0.f, dcol + g * Kg, (int)K);
        else /* dcol_g (Kg, L) = W_g^T dY_g */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Kg, (int)L, (int)OCg, 1.f, wg, (int)Kg, dyg,
                        (int)L, 0.f, dcol + g * Kg * L, (int)L);
    }
    if (lay == COL_PATCH) col2im_patch(dx, dcol, d, par);
    else if (lay == COL_ROWS) col2im_rows(dx, dcol, d, par);
}

static int64_t col_floats(const struct rt_conv_dims *d)
{
    return col_layout_of(d) == COL_IDENT ? 0 : d->C * d->KH * d->KW * d->OH * d->OW;
}

static int threads_for(int nbuf, int64_t B)
{
    int nt = omp_get_max_threads();
    if (nt > nbuf) nt = nbuf;
    if (nt > B) nt = (int)B;
    return nt < 1 ? 1 : nt;
}

/* ---------------- GEMM conv: kernels ---------------- */

/* x (B, C, H, W), w (OC, Cg, KH, KW), b (OC) or NULL -> y (B, OC, OH, OW), or y += (acc, b NULL);
 * work: nbuf column buffers (nbuf as chosen at check time) */
void rt_conv2d_gemm_forward(float *y, float *work, const float *x, const float *w, const float *b,
                            const struct rt_conv_dims *d, int nbuf, bool acc)
{
    enum col_layout lay = col_layout_of(d);
    int64_t cs = col_floats(d), xs = d->C * d->H * d->W, ys = d->OC * d->OH * d->OW;
    if (nbuf <= 1) {
        for (int64_t i = 0; i < d->B; i++)
            gemm_item_forward(y + i * ys, item_col(work, x + i * xs, d, lay, true), w, b, d, lay, acc);
        return;
    }
#pragma omp parallel num_threads(threads_for(nbuf, d->B))
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        for (int64_t i = d->B * t / T; i < d->B * (t + 1) / T; i++)
            gemm_item_forward(y + i * ys, item_col(work + t * cs, x + i * xs, d, lay, false), w, b, d, lay, acc);
    }
}

/* db (OC) += sum over b, l of dy (B, OC, L) */
void rt_conv2d_bias_backward(float *db, const float *dy, int64_t B, int64_t OC, int64_t L)
{
#pragma omp parallel for if (B * OC * L > PAR_MIN)
    for (int64_t oc = 0; oc < OC; oc++) {
        double s = 0;
        for (int64_t i = 0; i < B; i++) {
            const float *r = dy + (i * OC + oc) * L;
            float t = 0.f;
            for (int64_t l = 0; l < L; l++) t += r[l];
            s += t;
        }
        db[oc] += (float)s;
    }
}

/* dy (B, OC, OH, OW) -> dx (B, C, H, W) +=, dw (OC, Cg, KH, KW) +=, db (OC) += (each may be NULL);
 * work: nbuf column buffers, then (nbuf > 1) nbuf dW accumulators */
void rt_conv2d_gemm_backward(float *dx, float *dw, float *db, float *work, const float *dy, const float *x,
                             const float *w, const struct rt_conv_dims *d, int nbuf)
{
    enum col_layout lay = col_layout_of(d);
    int64_t cs = col_floats(d), xs = d->C * d->H * d->W, L = d->OH * d->OW, ys = d->OC * L;
    int64_t ws = d->OC * (d->C / d->G) * d->KH * d->KW;
    if (db) rt_conv2d_bias_backward(db, dy, d->B, d->OC, L);
    if (!dx && !dw) return;
    if (nbuf <= 1) {
        for (int64_t i = 0; i < d->B; i++) {
            if (dw) gemm_item_dw(dw, dy + i * ys, item_col(work, x + i * xs, d, lay, true), d, lay);
            if (dx) gemm_item_dx(dx + i * xs, work, dy + i * ys, w, d, lay, true);
        }
        return;
    }
    float *dwt = work + (int64_t)nbuf * cs;
    int T = 1;
#pragma omp parallel num_threads(threads_for(nbuf, d->B))
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        if (t == 0) T = nt; /* read after the region's barrier */
        float *buf = work + t * cs, *dwp = dwt + t * ws;
        if (dw) memset(dwp, 0, (size_t)ws * sizeof *dwp);
        for (int64_t i = d->B * t / nt; i < d->B * (t + 1) / nt; i++) {
            if (dw) gemm_item_dw(dwp, dy + i * ys, item_col(buf, x + i * xs, d, lay, false), d, lay);
            if (dx) gemm_item_dx(dx + i * xs, buf, dy + i * ys, w, d, lay, false);
        }
    }
    if (!dw) return;
#pragma omp parallel for if (ws * T > PAR_MIN)
    for (int64_t j = 0; j < ws; j++) {
        float s = 0.f;
        for (int t = 0; t < T; t++) s += dwt[t * ws + j];
        dw[j] += s;
    }
}

/* ---------------- depthwise conv: direct loops ---------------- */

/* out[o] += sum_k wr[k] in[o*S + off + k], o in [lo, hi), every tap in range.
 * Called with constant K and S only: the tap loop unrolls and o vectorises. */
static inline __attribute__((always_inline)) void row_taps(float *out, const float *in, const float *wr, int64_t lo,
                                                           int64_t hi, int64_t S, int64_t off, int64_t K)
{
#pragma omp simd
    for (int64_t o = lo; o < hi; o++) {
        float s = 0.f;
        for (int64_t k = 0; k < K; k++) s += wr[k] * in[o * S + off + k];
        out[o] += s;
    }
}

/* out[o] += sum_k wr[k] in[o*S + off + k] over the taps in range, for o outside [lo, hi) */
static void row_edges(float *out, const float *in, const float *wr, int64_t n_out, int64_t n_in, int64_t S,
                      int64_t off, int64_t K, int64_t lo, int64_t hi)
{
    for (int64_t o = 0; o < n_out; o++) {
        if (o == lo) o = hi; /* skip the interior */
        if (o >= n_out) break;
        float s = 0.f;
        for (int64_t k = 0; k < K; k++) {
            int64_t i = o * S + off + k;
            if (i >= 0 && i < n_in) s += wr[k] * in[i];
        }
        out[o] += s;
    }
}

/* out[o] += sum_k wr[k] in[o*S + off + k] for o in [0, n_out), taps outside [0, n_in) are zero */
static void row_conv(float *out, const float *in, const float *wr, int64_t n_out, int64_t n_in, int64_t S,
                     int64_t off, int64_t K)
{
    int64_t lo, hi;
    interior(n_out, n_in, S, off, K, &lo, &hi);
    row_edges(out, in, wr, n_out, n_in, S, off, K, lo, hi);
    if (K == 3 && S == 1) {
        row_taps(out, in, wr, lo, hi, 1, off, 3);
    } else if (K == 3 && S == 2) {
        row_taps(out, in, wr, lo, hi, 2, off, 3);
    } else if (S == K) { /* non-overlapping patches: contiguous dot products */
        for (int64_t o = lo; o < hi; o++) {
            const float *ip = in + o * S + off;
            float t = 0.f;
#pragma omp simd reduction(+ : t)
            for (int64_t k = 0; k < K; k++) t += wr[k] * ip[k];
            out[o] += t;
        }
    } else { /* any K: one pass per tap */
        for (int64_t k = 0; k < K; k++) {
            float wk = wr[k];
#pragma omp simd
            for (int64_t o = lo; o < hi; o++) out[o] += wk * in[o * S + off + k];
        }
    }
}

/* 3x3 taps of three input rows in one pass: out[o] += sum_{j,k} w[3j+k] r_j[o*S + off + k] */
static inline __attribute__((always_inline)) void row_taps3x3(float *out, const float *r0, const float *r1,
                                                              const float *r2, const float *w, int64_t lo,
                                                              int64_t hi, int64_t S, int64_t off)
{
#pragma omp simd
    for (int64_t o = lo; o < hi; o++) {
        int64_t i = o * S + off;
        out[o] += w[0] * r0[i] + w[1] * r0[i + 1] + w[2] * r0[i + 2] + w[3] * r1[i] + w[4] * r1[i + 1] +
                  w[5] * r1[i + 2] + w[6] * r2[i] + w[7] * r2[i + 1] + w[8] * r2[i + 2];
    }
}

/* One output plane: xp (H, W), wp (KH, KW) -> yp (OH, OW) = bias + conv */
static void dw_plane_forward(float *yp, const float *xp, const float *wp, float bias, const struct rt_conv_dims *d)
{
    int64_t L = d->OH * d->OW, lo, hi;
    bool k3 = d->KH == 3 && d->KW == 3 && (d->SW == 1 || d->SW == 2);
    interior(d->OW, d->W, d->SW, -d->PW, d->KW, &lo, &hi);
    for (int64_t l = 0; l < L; l++) yp[l] = bias;
    for (int64_t oh = 0; oh < d->OH; oh++) {
        int64_t ih0 = oh * d->SH - d->PH;
        float *yr = yp + oh * d->OW;
        if (k3 && ih0 >= 0 && ih0 + 2 < d->H) { /* 3x3, all three rows inside: one pass */
            const float *r = xp + ih0 * d->W;
            for (int64_t kh = 0; kh < 3; kh++)
                row_edges(yr, r + kh * d->W, wp + kh * 3, d->OW, d->W, d->SW, -d->PW, 3, lo, hi);
            if (d->SW == 1) row_taps3x3(yr, r, r + d->W, r + 2 * d->W, wp, lo, hi, 1, -d->PW);
            else row_taps3x3(yr, r, r + d->W, r + 2 * d->W, wp, lo, hi, 2, -d->PW);
            continue;
        }
        for (int64_t kh = 0; kh < d->KH; kh++) {
            int64_t ih = ih0 + kh;
            if (ih < 0 || ih >= d->H) continue;
            row_conv(yr, xp + ih * d->W, wp + kh * d->KW, d->OW, d->W, d->SW, -d->PW, d->KW);
        }
    }
}

/* x (B, C, H, W), w (OC, 1, KH, KW), b (OC) or NULL -> y (B, OC, OH, OW); OC = k C */
static void rt_conv2d_dw_forward(float *y, const float *x, const float *w, const float *b, const struct rt_conv_dims *d)
{
    int64_t mult = d->OC / d->C, L = d->OH * d->OW, HW = d->H * d->W, KK = d->KH * d->KW;
#pragma omp parallel for if (d->B * d->OC * L * KK > PAR_MIN)
    for (int64_t p = 0; p < d->B * d->OC; p++) {
        int64_t i = p / d->OC, oc = p % d->OC;
        dw_plane_forward(y + p * L, x + (i * d->C + oc / mult) * HW, w + oc * KK, b ? b[oc] : 0.f, d);
    }
}

/* One input plane, 3x3 stride 1: dx row ih += the flipped kernel over dy rows ih + PH - 2 .. ih + PH */
static void dw_plane_dx3x3(float *dxp, const float *dyp, const float *wp, const struct rt_conv_dims *d)
{
    float wf[9];
    int64_t lo, hi, off = d->PW - 2;
    for (int k = 0; k < 9; k++) wf[k] = wp[8 - k];
    interior(d->W, d->OW, 1, off, 3, &lo, &hi);
    for (int64_t ih = 0; ih < d->H; ih++) {
        int64_t oh0 = ih + d->PH - 2;
        float *dxr = dxp + ih * d->W;
        if (oh0 >= 0 && oh0 + 2 < d->OH) { /* all three dy rows inside: one pass */
            const float *r = dyp + oh0 * d->OW;
            for (int64_t j = 0; j < 3; j++)
                row_edges(dxr, r + j * d->OW, wf + 3 * j, d->W, d->OW, 1, off, 3, lo, hi);
            row_taps3x3(dxr, r, r + d->OW, r + 2 * d->OW, wf, lo, hi, 1, off);
            continue;
        }
        for (int64_t j = 0; j < 3; j++)
            if (oh0 + j >= 0 && oh0 + j < d->OH)
                row_conv(dxr, dyp + (oh0 + j) * d->OW, wf + 3 * j, d->W, d->OW, 1, off, 3);
    }
}

/* One input plane: dxp (H, W) += conv^T(dyp (OH, OW), wp (KH, KW)) */
static void dw_plane_dx(float *dxp, const float *dyp, const float *wp, const struct rt_conv_dims *d)
{
    if (d->SH == 1 && d->SW == 1 && d->KH == 3 && d->KW == 3) {
        dw_plane_dx3x3(dxp, dyp, wp, d);
        return;
    }
    for (int64_t oh = 0; oh < d->OH; oh++) { /* scatter each dy row through each tap */
        const float *dyr = dyp + oh * d->OW;
        for (int64_t kh = 0; kh < d->KH; kh++) {
            int64_t ih = oh * d->SH - d->PH + kh;
            if (ih < 0 || ih >= d->H) continue;
            float *dxr = dxp + ih * d->W;
            for (int64_t kw = 0; kw < d->KW; kw++) {
                float wv = wp[kh * d->KW + kw];
                int64_t lo, hi, off = kw - d->PW;
                interior(d->OW, d->W, d->SW, kw - d->PW, 1, &lo, &hi);
                if (d->SW == 1) {
#pragma omp simd
                    for (int64_t ow = lo; ow < hi; ow++) dxr[ow + off] += wv * dyr[ow];
                } else {
                    for (int64_t ow = lo; ow < hi; ow++) dxr[ow * d->SW + off] += wv * dyr[ow];
                }
            }
        }
    }
}

/* acc[k] += sum_o a[o] in[o*S + off + k], k < K, o in [lo, hi), every tap in range */
static inline __attribute__((always_inline)) void row_dots3(double *acc, const float *a, const float *in, int64_t lo,
                                                            int64_t hi, int64_t S, int64_t off)
{
    float t0 = 0.f, t1 = 0.f, t2 = 0.f;
#pragma omp simd reduction(+ : t0, t1, t2)
    for (int64_t o = lo; o < hi; o++) {
        float g = a[o];
        t0 += g * in[o * S + off];
        t1 += g * in[o * S + off + 1];
        t2 += g * in[o * S + off + 2];
    }
    acc[0] += t0;
    acc[1] += t1;
    acc[2] += t2;
}

/* acc[k] (k < K) += sum over b, oh, ow of dy[b, oc] * x[b, c] at tap (kh, k): one pass over the rows */
static void dw_row_grad(double *acc, const float *dy, const float *x, int64_t oc, int64_t c, int64_t kh,
                        const struct rt_conv_dims *d)
{
    int64_t L = d->OH * d->OW, HW = d->H * d->W, S = d->SW, off = -d->PW, K = d->KW, hlo, hhi;
    interior(d->OH, d->H, d->SH, kh - d->PH, 1, &hlo, &hhi);
    int64_t lo, hi;
    interior(d->OW, d->W, S, off, K, &lo, &hi);
    for (int64_t i = 0; i < d->B; i++) {
        const float *dyp = dy + (i * d->OC + oc) * L, *xp = x + (i * d->C + c) * HW;
        for (int64_t oh = hlo; oh < hhi; oh++) {
            const float *dyr = dyp + oh * d->OW, *xr = xp + (oh * d->SH - d->PH + kh) * d->W;
            for (int64_t o = 0; o < d->OW; o++) { /* edges, bounds-checked */
                if (o == lo) o = hi;
                if (o >= d->OW) break;
                for (int64_t k = 0; k < K; k++) {
                    int64_t iw = o * S + off + k;
                    if (iw >= 0 && iw < d->W) acc[k] += dyr[o] * xr[iw];
                }
            }
            if (K == 3 && S == 1) {
                row_dots3(acc, dyr, xr, lo, hi, 1, off);
            } else if (K == 3) {
                row_dots3(acc, dyr, xr, lo, hi, S, off);
            } else {
                for (int64_t k = 0; k < K; k++) {
                    float t = 0.f;
#pragma omp simd reduction(+ : t)
                    for (int64_t o = lo; o < hi; o++) t += dyr[o] * xr[o * S + off + k];
                    acc[k] += t;
                }
            }
        }
    }
}

/* dy (B, OC, OH, OW) -> dx (B, C, H, W) +=, dw (OC, 1, KH, KW) +=, db (OC) += (each may be NULL) */
static void rt_conv2d_dw_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                           const struct rt_conv_dims *d)
{
    int64_t mult = d->OC / d->C, L = d->OH * d->OW, HW = d->H * d->W, KK = d->KH * d->KW;
    int64_t work = d->B * d->OC * L * KK;
    if (db) rt_conv2d_bias_backward(db, dy, d->B, d->OC, L);
    if (dx) {
#pragma omp parallel for if (work > PAR_MIN)
        for (int64_t p = 0; p < d->B * d->C; p++) {
            int64_t i = p / d->C, c = p % d->C;
            for (int64_t j = 0; j < mult; j++) {
                int64_t oc = c * mult + j;
                dw_plane_dx(dx + p * HW, dy + (i * d->OC + oc) * L, w + oc * KK, d);
            }
        }
    }
    if (dw) {
#pragma omp parallel for if (work > PAR_MIN)
        for (int64_t q = 0; q < d->OC * d->KH; q++) { /* one kernel row (oc, kh) */
            double acc[DW_MAX_KW] = {0};
            int64_t oc = q / d->KH;
            dw_row_grad(acc, dy, x, oc, oc / mult, q % d->KH, d);
            for (int64_t k = 0; k < d->KW; k++) dw[q * d->KW + k] += (float)acc[k];
        }
    }
}

/* ---------------- pools ---------------- */

/* x (B*C planes of H, W) -> y (B*C planes of OH, OW): mean over the padded window (count_include_pad) */
static void rt_avg_pool2d_forward(float *y, const float *x, const struct rt_conv_dims *d)
{
    int64_t P = d->B * d->C, L = d->OH * d->OW, HW = d->H * d->W;
    float inv = 1.f / (float)(d->KH * d->KW);
#pragma omp parallel for if (P * L * d->KH * d->KW > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + p * HW;
        for (int64_t oh = 0; oh < d->OH; oh++)
            for (int64_t ow = 0; ow < d->OW; ow++) {
                float s = 0.f;
                for (int64_t kh = 0; kh < d->KH; kh++) {
                    int64_t ih = oh * d->SH - d->PH + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    for (int64_t kw = 0; kw < d->KW; kw++) {
                        int64_t iw = ow * d->SW - d->PW + kw;
                        if (iw >= 0 && iw < d->W) s += xp[ih * d->W + iw];
                    }
                }
                y[p * L + oh * d->OW + ow] = s * inv;
            }
    }
}

static void rt_avg_pool2d_backward(float *dx, const float *dy, const struct rt_conv_dims *d)
{
    int64_t P = d->B * d->C, L = d->OH * d->OW, HW = d->H * d->W;
    float inv = 1.f / (float)(d->KH * d->KW);
#pragma omp parallel for if (P * L * d->KH * d->KW > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        float *dxp = dx + p * HW;
        for (int64_t oh = 0; oh < d->OH; oh++)
            for (int64_t ow = 0; ow < d->OW; ow++) {
                float g = dy[p * L + oh * d->OW + ow] * inv;
                for (int64_t kh = 0; kh < d->KH; kh++) {
                    int64_t ih = oh * d->SH - d->PH + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    for (int64_t kw = 0; kw < d->KW; kw++) {
                        int64_t iw = ow * d->SW - d->PW + kw;
                        if (iw >= 0 && iw < d->W) dxp[ih * d->W + iw] += g;
                    }
                }
            }
    }
}

/* x (B*C planes) -> y, arg (int32 offset of the max in its input plane); padding is -inf, NaN wins */
static void rt_max_pool2d_forward(float *y, int32_t *arg, const float *x, const struct rt_conv_dims *d)
{
    int64_t P = d->B * d->C, L = d->OH * d->OW, HW = d->H * d->W;
#pragma omp parallel for if (P * L * d->KH * d->KW > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        const float *xp = x + p * HW;
        for (int64_t oh = 0; oh < d->OH; oh++)
            for (int64_t ow = 0; ow < d->OW; ow++) {
                float m = -INFINITY;
                int64_t at = -1;
                for (int64_t kh = 0; kh < d->KH; kh++) {
                    int64_t ih = oh * d->SH - d->PH + kh;
                    if (ih < 0 || ih >= d->H) continue;
                    for (int64_t kw = 0; kw < d->KW; kw++) {
                        int64_t iw = ow * d->SW - d->PW + kw;
                        if (iw < 0 || iw >= d->W) continue;
                        float v = xp[ih * d->W + iw];
                        if (at < 0 || v > m || isnan(v)) {
                            m = v;
                            at = ih * d->W + iw;
                            if (isnan(v)) goto done;
                        }
                    }
                }
            done:
                y[p * L + oh * d->OW + ow] = m;
                arg[p * L + oh * d->OW + ow] = (int32_t)at;
            }
    }
}

static void rt_max_pool2d_backward(float *dx, const float *dy, const int32_t *arg, const struct rt_conv_dims *d)
{
    int64_t P = d->B * d->C, L = d->OH * d->OW, HW = d->H * d->W;
#pragma omp parallel for if (P * L > PAR_MIN)
    for (int64_t p = 0; p < P; p++)
        for (int64_t l = 0; l < L; l++) dx[p * HW + arg[p * L + l]] += dy[p * L + l];
}

/* x (P planes of HW) -> y (P): plane means */
static void rt_global_avg_pool_forward(float *y, const float *x, int64_t P, int64_t HW)
{
#pragma omp parallel for if (P * HW > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        double s = 0;
        for (int64_t i = 0; i < HW; i++) s += x[p * HW + i];
        y[p] = (float)(s / (double)HW);
    }
}

static void rt_global_avg_pool_backward(float *dx, const float *dy, int64_t P, int64_t HW)
{
#pragma omp parallel for if (P * HW > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        float g = dy[p] / (float)HW;
        for (int64_t i = 0; i < HW; i++) dx[p * HW + i] += g;
    }
}

/* ---------------- graph glue ---------------- */

static struct rt_conv_dims conv_dims_of(const rt_node *n)
{
    const struct rt_conv2d_args *a = &RT_ARGS(n, const struct conv_node_args)->a;
    const int64_t *xs = n->in[0]->out.shape, *ws = n->in[1]->out.shape;
    return (struct rt_conv_dims){.B = xs[0], .C = xs[1], .H = xs[2], .W = xs[3], .OC = ws[0], .KH = ws[2],
                              .KW = ws[3], .OH = n->out.shape[2], .OW = n->out.shape[3], .SH = a->stride_h,
                              .SW = a->stride_w, .PH = a->pad_h, .PW = a->pad_w, .G = a->groups};
}

rt_node *rt_conv2d(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, struct rt_conv2d_args a)
{
    struct conv_node_args p = {.a = a};
    return b ? RT_ADD_NODE(g, RT_OP_CONV2D, &p, x, w, b) : RT_ADD_NODE(g, RT_OP_CONV2D, &p, x, w);
}

/* The GEMM schedule for d (see the file head): returns nbuf, sets *n_work. */
int rt_conv2d_gemm_plan(const struct rt_conv_dims *d, size_t *n_work)
{
    int64_t cs = col_floats(d), ws = d->OC * (d->C / d->G) * d->KH * d->KW;
    int64_t macs = ws * d->OH * d->OW, nt = omp_get_max_threads();
    if (nt > d->B) nt = d->B;
    int nbuf = 1;
    if (nt > 1 && macs < SMALL_ITEM_MACS && nt * (cs + ws) <= MAX_THREAD_WORK) nbuf = (int)nt;
    *n_work = (size_t)(nbuf > 1 ? nbuf * (cs + ws) : cs);
    return nbuf;
}

/* Pick the kernel and schedule; size n_work (see the file head). */
static void conv_plan(rt_node *n, const struct rt_conv_dims *d)
{
    struct conv_node_args *p = RT_ARGS(n, struct conv_node_args);
    n->n_work = 0;
    p->nbuf = 0;
    if (d->G == d->C && d->KW <= DW_MAX_KW) return; /* depthwise (OC = k C as G divides OC) */
    p->nbuf = rt_conv2d_gemm_plan(d, &n->n_work);
}

rt_status rt_op_conv2d_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const rt_node *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    const struct rt_conv2d_args *a = &RT_ARGS(n, const struct conv_node_args)->a;
    if (x->out.ndim != 4 || w->out.ndim != 4)
        return rt_check_fail(n, "x %s and w %s must be 4-D: (B, C, H, W) and (OC, C/groups, KH, KW)",
                             RT_SHAPE_STR(s1, x), RT_SHAPE_STR(s2, w));
    if (a->stride_h < 1 || a->stride_w < 1 || a->pad_h < 0 || a->pad_w < 0 || a->groups < 1)
        return rt_check_fail(n, "stride (%d, %d) must be >= 1, padding (%d, %d) >= 0 and groups %d >= 1",
                             a->stride_h, a->stride_w, a->pad_h, a->pad_w, a->groups);
    const int64_t *xs = x->out.shape, *ws = w->out.shape;
    if (xs[1] % a->groups || ws[0] % a->groups)
        return rt_check_fail(n, "groups %d must divide the channels of x %s and the output channels of w %s",
                             a->groups, RT_SHAPE_STR(s1, x), RT_SHAPE_STR(s2, w));
    if (ws[1] != xs[1] / a->groups)
        return rt_check_fail(n, "w %s does not fit x %s with groups %d (want (OC, %lld, KH, KW))",
                             RT_SHAPE_STR(s1, w), RT_SHAPE_STR(s2, x), a->groups, (long long)(xs[1] / a->groups));
    if (b && (b->out.ndim != 1 || b->out.shape[0] != ws[0]))
        return rt_check_fail(n, "bias %s does not fit w %s (want (%lld))", RT_SHAPE_STR(s1, b),
                             RT_SHAPE_STR(s2, w), (long long)ws[0]);
    int64_t hp = xs[2] + 2 * (int64_t)a->pad_h, wp = xs[3] + 2 * (int64_t)a->pad_w;
    if (hp < ws[2] || wp < ws[3])
        return rt_check_fail(n, "kernel %lldx%lld of w %s is larger than x %s padded by (%d, %d)",
                             (long long)ws[2], (long long)ws[3], RT_SHAPE_STR(s1, w), RT_SHAPE_STR(s2, x), a->pad_h,
                             a->pad_w);
    int64_t oh = (hp - ws[2]) / a->stride_h + 1, ow = (wp - ws[3]) / a->stride_w + 1;
    if (xs[1] * ws[2] * ws[3] * oh * ow > INT_MAX || ws[0] * ws[1] * ws[2] * ws[3] > INT_MAX)
        return rt_check_fail(n, "x %s with w %s: one item's column matrix exceeds 2^31 elements",
                             RT_SHAPE_STR(s1, x), RT_SHAPE_STR(s2, w));
    rt_node_set_shape(n, RT_DIMS(xs[0], ws[0], oh, ow));
    struct rt_conv_dims d = conv_dims_of(n);
    conv_plan(n, &d);
    return RT_OK;
}

/* B OC OH OW (C/groups) KH KW: one kernel window per output element */
int64_t rt_op_conv2d_macs(const rt_node *n)
{
    const int64_t *ws = n->in[1]->out.shape;
    return rt_numel(n) * ws[1] * ws[2] * ws[3];
}

void rt_op_conv2d_forward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = conv_dims_of(n);
    const float *b = n->n_in == 3 ? rt_data(n->in[2]) : NULL;
    int nbuf = RT_ARGS(n, struct conv_node_args)->nbuf;
    if (nbuf == 0) rt_conv2d_dw_forward(rt_data(n), rt_data(n->in[0]), rt_data(n->in[1]), b, &d);
    else rt_conv2d_gemm_forward(rt_data(n), g->work, rt_data(n->in[0]), rt_data(n->in[1]), b, &d, nbuf, false);
}

void rt_op_conv2d_backward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = conv_dims_of(n);
    float *db = n->n_in == 3 ? n->in[2]->grad : NULL;
    int nbuf = RT_ARGS(n, struct conv_node_args)->nbuf;
    if (nbuf == 0)
        rt_conv2d_dw_backward(n->in[0]->grad, n->in[1]->grad, db, n->grad, rt_data(n->in[0]), rt_data(n->in[1]), &d);
    else
        rt_conv2d_gemm_backward(n->in[0]->grad, n->in[1]->grad, db, g->work, n->grad, rt_data(n->in[0]),
                                rt_data(n->in[1]), &d, nbuf);
}

/* Shared check of the two windowed pools. */
static rt_status pool_check(rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    const struct rt_pool2d_args *a = RT_ARGS(n, const struct rt_pool2d_args);
    if (x->out.ndim != 4) return rt_check_fail(n, "x %s must be 4-D (B, C, H, W)", RT_SHAPE_STR(s1, x));
    if (a->kh < 1 || a->kw < 1 || a->stride_h < 1 || a->stride_w < 1)
        return rt_check_fail(n, "kernel (%d, %d) and stride (%d, %d) must be >= 1", a->kh, a->kw, a->stride_h,
                             a->stride_w);
    if (a->pad_h < 0 || a->pad_w < 0 || 2 * a->pad_h > a->kh || 2 * a->pad_w > a->kw)
        return rt_check_fail(n, "padding (%d, %d) must be >= 0 and at most half the kernel (%d, %d)", a->pad_h,
                             a->pad_w, a->kh, a->kw);
    const int64_t *xs = x->out.shape;
    int64_t hp = xs[2] + 2 * (int64_t)a->pad_h, wp = xs[3] + 2 * (int64_t)a->pad_w;
    if (hp < a->kh || wp < a->kw)
        return rt_check_fail(n, "kernel %dx%d is larger than x %s padded by (%d, %d)", a->kh, a->kw,
                             RT_SHAPE_STR(s1, x), a->pad_h, a->pad_w);
    if (xs[2] * xs[3] > INT32_MAX) return rt_check_fail(n, "x %s: planes over 2^31 elements", RT_SHAPE_STR(s1, x));
    rt_node_set_shape(n, RT_DIMS(xs[0], xs[1], (hp - a->kh) / a->stride_h + 1, (wp - a->kw) / a->stride_w + 1));
    return RT_OK;
}

static struct rt_conv_dims pool_dims_of(const rt_node *n)
{
    const struct rt_pool2d_args *a = RT_ARGS(n, const struct rt_pool2d_args);
    const int64_t *xs = n->in[0]->out.shape;
    return (struct rt_conv_dims){.B = xs[0], .C = xs[1], .H = xs[2], .W = xs[3], .OC = xs[1], .KH = a->kh,
                              .KW = a->kw, .OH = n->out.shape[2], .OW = n->out.shape[3], .SH = a->stride_h,
                              .SW = a->stride_w, .PH = a->pad_h, .PW = a->pad_w, .G = xs[1]};
}

rt_node *rt_avg_pool2d(rt_graph *g, rt_node *x, struct rt_pool2d_args a)
{
    return RT_ADD_NODE(g, RT_OP_AVG_POOL2D, &a, x);
}

rt_status rt_op_avg_pool2d_check(rt_graph *g, rt_node *n) { return pool_check(n); }

void rt_op_avg_pool2d_forward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = pool_dims_of(n);
    rt_avg_pool2d_forward(rt_data(n), rt_data(n->in[0]), &d);
}

void rt_op_avg_pool2d_backward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = pool_dims_of(n);
    if (n->in[0]->grad) rt_avg_pool2d_backward(n->in[0]->grad, n->grad, &d);
}

rt_node *rt_max_pool2d(rt_graph *g, rt_node *x, struct rt_pool2d_args a)
{
    return RT_ADD_NODE(g, RT_OP_MAX_POOL2D, &a, x);
}

rt_status rt_op_max_pool2d_check(rt_graph *g, rt_node *n)
{
    rt_status s = pool_check(n);
    if (s == RT_OK) n->n_saved = (size_t)rt_numel(n); /* argmax, int32 per output */
    return s;
}

void rt_op_max_pool2d_forward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = pool_dims_of(n);
    rt_max_pool2d_forward(rt_data(n), (int32_t *)(void *)n->saved, rt_data(n->in[0]), &d);
}

void rt_op_max_pool2d_backward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = pool_dims_of(n);
    if (n->in[0]->grad) rt_max_pool2d_backward(n->in[0]->grad, n->grad, (const int32_t *)(void *)n->saved, &d);
}

rt_node *rt_global_avg_pool(rt_graph *g, rt_node *x) { return RT_ADD_NODE0(g, RT_OP_GLOBAL_AVG_POOL, x); }

rt_status rt_op_global_avg_pool_check(rt_graph *g, rt_node *n)
{
    char s1[64];
    const rt_node *x = n->in[0];
    if (x->out.ndim != 4) return rt_check_fail(n, "x %s must be 4-D (B, C, H, W)", RT_SHAPE_STR(s1, x));
    rt_node_set_shape(n, RT_DIMS(x->out.shape[0], x->out.shape[1]));
    return RT_OK;
}

void rt_op_global_avg_pool_forward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    rt_global_avg_pool_forward(rt_data(n), rt_data(x), rt_dims_prod(x, 0, 2), rt_dims_prod(x, 2, 4));
}

void rt_op_global_avg_pool_backward(rt_graph *g, rt_node *n)
{
    const rt_node *x = n->in[0];
    if (x->grad) rt_global_avg_pool_backward(x->grad, n->grad, rt_dims_prod(x, 0, 2), rt_dims_prod(x, 2, 4));
}
