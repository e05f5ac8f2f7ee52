/*
 * k_convt.c - conv_transpose2d over NCHW (PyTorch's semantics, dilation 1).
 *
 * Dims: x (B, C, H, W), w (C, OC/G, KH, KW), b (OC), y (B, OC, OH, OW) with
 * OH = (H - 1) SH - 2 PH + KH + OPH (likewise OW), 0 <= OPH < SH, G groups.
 * Every input pixel scatters its kernel window: y[oc, h SH - PH + kh,
 * w SW - PW + kw] += x[c, h, w] w[c, oc, kh, kw] (taps outside y dropped).
 *
 * That is the adjoint of a conv2d, the one mapping y's shape back to x's
 * with the same w (read as (OC', C'/G, KH, KW) with OC' = C, C' = OC), the
 * same stride and padding: output padding only makes that conv's input
 * larger by rows and columns its floor division never reaches. So the work
 * is k_conv.c's GEMM convolution with roles swapped ("a" below is that
 * conv2d's dims: a.C = OC, a.H = OH, a.OC = C, a.OH = H):
 *   forward  y = b + col2im(W^T x)        conv2d's input-gradient path
 *   dx      += W im2col(dy)                conv2d's forward, accumulating
 *   dw      += x im2col(dy)^T              conv2d's weight-gradient path
 *   db      += sums of dy over (B, OH, OW)
 * with its schedules (serial over the batch with threaded GEMMs, or one
 * column buffer per thread) chosen when the node is built.
 */
#include "core/op_impl.h"

#include <limits.h>

#define PAR_MIN 32768 /* work below which loops stay serial */

/* The node's args: the user's settings, then the schedule from check. */
struct convt_node_args {
    struct rt_convt2d_args a;
    int nbuf; /* 1: serial over the batch; > 1: per-thread buffers */
};
_Static_assert(sizeof(struct convt_node_args) <= RT_ARGS_BYTES, "conv_transpose2d args too large");

/* x (B, C, H, W), w (C, OC/G, KH, KW), b (OC) or NULL -> y (B, OC, OH, OW);
 * a: the adjoint conv2d's dims (file head); nbuf, work: from rt_conv2d_gemm_plan(a) at check time */
static void rt_conv_transpose2d_forward(float *y, float *work, const float *x, const float *w, const float *b,
                                        const struct rt_conv_dims *a, int nbuf)
{
    int64_t P = a->B * a->C, L = a->H * a->W;
#pragma omp parallel for if (P * L > PAR_MIN)
    for (int64_t p = 0; p < P; p++) {
        float v = b ? b[p % a->C] : 0.f;
        for (int64_t l = 0; l < L; l++) y[p * L + l] = v;
    }
    rt_conv2d_gemm_backward(y, NULL, NULL, work, x, NULL, w, a, nbuf);
}

/* dy (B, OC, OH, OW) -> dx (B, C, H, W) +=, dw (C, OC/G, KH, KW) +=, db (OC) += (each may be NULL) */
static void rt_conv_transpose2d_backward(float *dx, float *dw, float *db, float *work, const float *dy,
                                         const float *x, const float *w, const struct rt_conv_dims *a, int nbuf)
{
    if (db) rt_conv2d_bias_backward(db, dy, a->B, a->C, a->H * a->W);
    if (dx) rt_conv2d_gemm_forward(dx, work, dy, w, NULL, a, nbuf, true);
    if (dw) rt_conv2d_gemm_backward(NULL, dw, NULL, work, x, dy, w, a, nbuf);
}

/* ---------------- graph glue ---------------- */

static struct rt_conv_dims adjoint_dims(const rt_node *n)
{
    const struct rt_convt2d_args *a = &RT_ARGS(n, const struct convt_node_args)->a;
    const int64_t *xs = n->in[0]->out.shape, *ws = n->in[1]->out.shape, *ys = n->out.shape;
    return (struct rt_conv_dims){.B = xs[0], .C = ys[1], .H = ys[2], .W = ys[3], .OC = xs[1], .KH = ws[2],
                                 .KW = ws[3], .OH = xs[2], .OW = xs[3], .SH = a->stride_h, .SW = a->stride_w,
                                 .PH = a->pad_h, .PW = a->pad_w, .G = a->groups};
}

rt_node *rt_conv_transpose2d(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, struct rt_convt2d_args a)
{
    struct convt_node_args p = {.a = a};
    return b ? RT_ADD_NODE(g, RT_OP_CONV_TRANSPOSE2D, &p, x, w, b) : RT_ADD_NODE(g, RT_OP_CONV_TRANSPOSE2D, &p, x, w);
}

/* Settings and input shapes; the output size is checked by the caller. */
static rt_status convt_check_inputs(const rt_node *n, const struct rt_convt2d_args *a)
{
    char s1[64], s2[64];
    const rt_node *x = n->in[0], *w = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    if (x->out.ndim != 4 || w->out.ndim != 4)
        return rt_check_fail(n, "x %s and w %s must be 4-D: (B, C, H, W) and (C, OC/groups, KH, KW)",
                             RT_SHAPE_STR(s1, x), RT_SHAPE_STR(s2, w));
    if (a->stride_h < 1 || a->stride_w < 1 || a->pad_h < 0 || a->pad_w < 0 || a->groups < 1)
        return rt_check_fail(n, "stride (%d, %d) must be >= 1, padding (%d, %d) >= 0 and groups %d >= 1",
                             a->stride_h, a->stride_w, a->pad_h, a->pad_w, a->groups);
    if (a->out_pad_h < 0 || a->out_pad_w < 0 || a->out_pad_h >= a->stride_h || a->out_pad_w >= a->stride_w)
        return rt_check_fail(n, "output padding (%d, %d) must be >= 0 and smaller than the stride (%d, %d)",
                             a->out_pad_h, a->out_pad_w, a->stride_h, a->stride_w);
    const int64_t *xs = x->out.shape, *ws = w->out.shape;
    if (xs[1] % a->groups)
        return rt_check_fail(n, "groups %d must divide the channels of x %s", a->groups, RT_SHAPE_STR(s1, x));
    if (ws[0] != xs[1])
        return rt_check_fail(n, "w %s does not fit x %s (want (%lld, OC/groups, KH, KW))", RT_SHAPE_STR(s1, w),
                             RT_SHAPE_STR(s2, x), (long long)xs[1]);
    if (b && (b->out.ndim != 1 || b->out.shape[0] != ws[1] * a->groups))
        return rt_check_fail(n, "bias %s does not fit w %s with groups %d (want (%lld))", RT_SHAPE_STR(s1, b),
                             RT_SHAPE_STR(s2, w), a->groups, (long long)(ws[1] * a->groups));
    return RT_OK;
}

rt_status rt_op_conv_transpose2d_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    struct convt_node_args *p = RT_ARGS(n, struct convt_node_args);
    const struct rt_convt2d_args *a = &p->a;
    rt_status s = convt_check_inputs(n, a);
    if (s != RT_OK) return s;
    const rt_node *x = n->in[0], *w = n->in[1];
    const int64_t *xs = x->out.shape, *ws = w->out.shape;
    int64_t oc = ws[1] * a->groups;
    int64_t oh = (xs[2] - 1) * a->stride_h - 2 * (int64_t)a->pad_h + ws[2] + a->out_pad_h;
    int64_t ow = (xs[3] - 1) * a->stride_w - 2 * (int64_t)a->pad_w + ws[3] + a->out_pad_w;
    if (oh < 1 || ow < 1)
        return rt_check_fail(n, "x %s with w %s and padding (%d, %d) gives an empty output (%lld x %lld)",
                             RT_SHAPE_STR(s1, x), RT_SHAPE_STR(s2, w), a->pad_h, a->pad_w, (long long)oh,
                             (long long)ow);
    if (oc * ws[2] * ws[3] * xs[2] * xs[3] > INT_MAX || ws[0] * ws[1] * ws[2] * ws[3] > INT_MAX)
        return rt_check_fail(n, "x %s with w %s: one item's column matrix exceeds 2^31 elements",
                             RT_SHAPE_STR(s1, x), RT_SHAPE_STR(s2, w));
    rt_node_set_shape(n, RT_DIMS(xs[0], oc, oh, ow));
    struct rt_conv_dims d = adjoint_dims(n);
    p->nbuf = rt_conv2d_gemm_plan(&d, &n->n_work);
    return RT_OK;
}

/* B C H W (OC/groups) KH KW: every input pixel times one kernel slice
 * (the MACs of the conv2d it is the adjoint of) */
int64_t rt_op_conv_transpose2d_macs(const rt_node *n)
{
    const int64_t *ws = n->in[1]->out.shape;
    return rt_numel(n->in[0]) * ws[1] * ws[2] * ws[3];
}

void rt_op_conv_transpose2d_forward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = adjoint_dims(n);
    const float *b = n->n_in == 3 ? rt_data(n->in[2]) : NULL;
    rt_conv_transpose2d_forward(rt_data(n), g->work, rt_data(n->in[0]), rt_data(n->in[1]), b, &d,
                                RT_ARGS(n, struct convt_node_args)->nbuf);
}

void rt_op_conv_transpose2d_backward(rt_graph *g, rt_node *n)
{
    struct rt_conv_dims d = adjoint_dims(n);
    float *db = n->n_in == 3 ? n->in[2]->grad : NULL;
    rt_conv_transpose2d_backward(n->in[0]->grad, n->in[1]->grad, db, g->work, n->grad, rt_data(n->in[0]),
                                 rt_data(n->in[1]), &d, RT_ARGS(n, struct convt_node_args)->nbuf);
}
