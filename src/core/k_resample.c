/*
 * k_resample.c - linear resampling of token sequences and bilinear resizing
 * of maps, for feature and attention distillation between models with
 * different token counts (a teacher's 197 tokens against a student's 50).
 *
 * Both are PyTorch's F.interpolate with align_corners=False and no
 * antialias: output position o of an axis of length I resized to O reads
 * src = max(0, (o + 0.5) I / O - 0.5), i0 = floor(src), i1 = min(i0 + 1,
 * I - 1), weights 1 - l and l with l = src - i0 (computed in double).
 *
 * Kernel: x (P, H, W) planes -> y (P, OH, OW), bilinear. With OW == W the
 * columns map to themselves and each output row is the two-tap mix
 * (1 - l) x[i0, :] + l x[i1, :] (vectorised); with OH == H and OW == W it
 * is a copy. resample_tokens is that kernel with x (B, T, C) read as B
 * planes of (T, C) and OW = C; resize2d reads (B, H, W) or (B, C, H, W) as
 * B or B C planes.
 * Threads: the forward splits output rows; the backward scatters into dx
 * with the forward's weights (adding) and splits planes (or, for the
 * two-tap rows, planes x column blocks), so every dx element is owned by one
 * thread and summed in a fixed order: results do not depend on the thread
 * count. Interpolation counts 0 MACs (docs/accounting.md).
 */
#include "core/op_impl.h"

#define PAR_MIN 32768 /* elements below which loops stay serial */
#define COL_BLOCK 256 /* columns per backward task of the two-tap rows */

struct tokens_args { int64_t t_out; };
struct resize_args { int64_t h_out, w_out; };
_Static_assert(sizeof(struct tokens_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct resize_args) <= RT_ARGS_BYTES, "args");

struct rs_dims { int64_t P, H, W, OH, OW; };

/* The two taps of output position o on an axis of length in resized to out. */
struct tap { int64_t i0, i1; float l0, l1; };

static struct tap tap_of(int64_t o, int64_t in, int64_t out)
{
    double src = ((double)o + 0.5) * ((double)in / (double)out) - 0.5;
    if (src < 0) src = 0;
    int64_t i0 = (int64_t)src;
    if (i0 > in - 1) i0 = in - 1;
    double l = src - (double)i0;
    if (l > 1) l = 1;
    return (struct tap){i0, i0 < in - 1 ? i0 + 1 : i0, (float)(1.0 - l), (float)l};
}

/* ---------------- kernels ---------------- */

/* x (P, H, W) -> y (P, OH, OW) */
static void rt_resize2d_forward(float *y, const float *x, struct rs_dims d)
{
    if (d.OH == d.H && d.OW == d.W) {
        memcpy(y, x, (size_t)(d.P * d.H * d.W) * sizeof *y);
        return;
    }
    const int64_t rows = d.P * d.OH;
#pragma omp parallel for if (rows * d.OW > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t p = r / d.OH;
        struct tap th = tap_of(r % d.OH, d.H, d.OH);
        const float *x0 = x + (p * d.H + th.i0) * d.W, *x1 = x + (p * d.H + th.i1) * d.W;
        float *yr = y + r * d.OW;
        if (d.OW == d.W) {
#pragma omp simd
            for (int64_t c = 0; c < d.W; c++) yr[c] = th.l0 * x0[c] + th.l1 * x1[c];
            continue;
        }
        for (int64_t c = 0; c < d.OW; c++) {
            struct tap tw = tap_of(c, d.W, d.OW);
            yr[c] = th.l0 * (tw.l0 * x0[tw.i0] + tw.l1 * x0[tw.i1]) + th.l1 * (tw.l0 * x1[tw.i0] + tw.l1 * x1[tw.i1]);
        }
    }
}

/* dy (P, OH, OW) -> dx (P, H, W) += the forward's weights times dy.
 * Two-tap rows (OW == W): one task per (plane, block of columns). */
static void resize_backward_rows(float *dx, const float *dy, struct rs_dims d)
{
    const int64_t nb = (d.W + COL_BLOCK - 1) / COL_BLOCK, tasks = d.P * nb;
#pragma omp parallel for if (d.P * d.OH * d.W > PAR_MIN)
    for (int64_t k = 0; k < tasks; k++) {
        int64_t p = k / nb, c0 = k % nb * COL_BLOCK, c1 = c0 + COL_BLOCK < d.W ? c0 + COL_BLOCK : d.W;
        for (int64_t o = 0; o < d.OH; o++) {
            struct tap th = tap_of(o, d.H, d.OH);
            const float *g = dy + (p * d.OH + o) * d.W;
            float *d0 = dx + (p * d.H + th.i0) * d.W, *d1 = dx + (p * d.H + th.i1) * d.W;
#pragma omp simd
            for (int64_t c = c0; c < c1; c++) d0[c] += th.l0 * g[c];
#pragma omp simd
            for (int64_t c = c0; c < c1; c++) d1[c] += th.l1 * g[c];
        }
    }
}

static void rt_resize2d_backward(float *dx, const float *dy, struct rs_dims d)
{
    if (d.OH == d.H && d.OW == d.W) {
        const int64_t n = d.P * d.H * d.W;
#pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
        return;
    }
    if (d.OW == d.W) {
        resize_backward_rows(dx, dy, d);
        return;
    }
#pragma omp parallel for if (d.P * d.OH * d.OW > PAR_MIN)
    for (int64_t p = 0; p < d.P; p++) {
        for (int64_t o = 0; o < d.OH; o++) {
            struct tap th = tap_of(o, d.H, d.OH);
            const float *g = dy + (p * d.OH + o) * d.OW;
            float *d0 = dx + (p * d.H + th.i0) * d.W, *d1 = dx + (p * d.H + th.i1) * d.W;
            for (int64_t c = 0; c < d.OW; c++) {
                struct tap tw = tap_of(c, d.W, d.OW);
                d0[tw.i0] += th.l0 * tw.l0 * g[c];
                d0[tw.i1] += th.l0 * tw.l1 * g[c];
                d1[tw.i0] += th.l1 * tw.l0 * g[c];
                d1[tw.i1] += th.l1 * tw.l1 * g[c];
            }
        }
    }
}

/* ---------------- graph glue ---------------- */

/* x's last two dims as (H, W) planes, n's as (OH, OW). */
static struct rs_dims rs_dims_of(const rt_node *n)
{
    const rt_node *x = n->in[0];
    int nd = x->out.ndim;
    return (struct rs_dims){rt_dims_prod(x, 0, nd - 2), x->out.shape[nd - 2], x->out.shape[nd - 1],
                            n->out.shape[nd - 2], n->out.shape[nd - 1]};
}

static void resample_forward(rt_graph *g, rt_node *n)
{
    (void)g;
    rt_resize2d_forward(rt_data(n), rt_data(n->in[0]), rs_dims_of(n));
}

static void resample_backward(rt_graph *g, rt_node *n)
{
    (void)g;
    if (n->in[0]->grad) rt_resize2d_backward(n->in[0]->grad, n->grad, rs_dims_of(n));
}

rt_node *rt_resample_tokens(rt_graph *g, rt_node *x, int64_t t_out)
{
    struct tokens_args a = {t_out};
    return RT_ADD_NODE(g, RT_OP_RESAMPLE_TOKENS, &a, x);
}

rt_status rt_op_resample_tokens_check(rt_graph *g, rt_node *n)
{
    (void)g;
    char s1[64];
    const rt_node *x = n->in[0];
    int64_t t_out = RT_ARGS(n, const struct tokens_args)->t_out;
    if (x->out.ndim != 3) return rt_check_fail(n, "x %s must be 3-D (B, T, C)", RT_SHAPE_STR(s1, x));
    if (t_out < 1)
        return rt_check_fail(n, "T_out = %lld must be >= 1 (x %s)", (long long)t_out, RT_SHAPE_STR(s1, x));
    rt_node_set_shape(n, RT_DIMS(x->out.shape[0], t_out, x->out.shape[2]));
    return RT_OK;
}

void rt_op_resample_tokens_forward(rt_graph *g, rt_node *n) { resample_forward(g, n); }
void rt_op_resample_tokens_backward(rt_graph *g, rt_node *n) { resample_backward(g, n); }

rt_node *rt_resize2d(rt_graph *g, rt_node *x, int64_t h_out, int64_t w_out)
{
    struct resize_args a = {h_out, w_out};
    return RT_ADD_NODE(g, RT_OP_RESIZE2D, &a, x);
}

rt_status rt_op_resize2d_check(rt_graph *g, rt_node *n)
{
    (void)g;
    char s1[64];
    const rt_node *x = n->in[0];
    const struct resize_args *a = RT_ARGS(n, const struct resize_args);
    int nd = x->out.ndim;
    if (nd != 3 && nd != 4)
        return rt_check_fail(n, "x %s must be (B, H, W) or (B, C, H, W)", RT_SHAPE_STR(s1, x));
    if (a->h_out < 1 || a->w_out < 1)
        return rt_check_fail(n, "output size (%lld, %lld) must be >= 1 in both dims (x %s)", (long long)a->h_out,
                             (long long)a->w_out, RT_SHAPE_STR(s1, x));
    rt_node_set_shape(n, nd, x->out.shape);
    n->out.shape[nd - 2] = a->h_out;
    n->out.shape[nd - 1] = a->w_out;
    return RT_OK;
}

void rt_op_resize2d_forward(rt_graph *g, rt_node *n) { resample_forward(g, n); }
void rt_op_resize2d_backward(rt_graph *g, rt_node *n) { resample_backward(g, n); }
