/*
 * op_impl.h - internal: prototypes of the op-table glue and small helpers
 * shared by the k_*.c kernel files. Not part of the public API.
 */
#ifndef RT_OP_IMPL_H
#define RT_OP_IMPL_H

#include "core/ops.h"

#include <string.h>

#define RT_OP_GLUE(name)                                          \
    rt_status rt_op_##name##_check(rt_graph *g, rt_node *n);     \
    void rt_op_##name##_forward(rt_graph *g, rt_node *n);        \
    void rt_op_##name##_backward(rt_graph *g, rt_node *n);

RT_OP_GLUE(linear)
RT_OP_GLUE(matmul)
RT_OP_GLUE(add)
RT_OP_GLUE(mul)
RT_OP_GLUE(scale)
RT_OP_GLUE(bias)
RT_OP_GLUE(sum)
RT_OP_GLUE(mean)
RT_OP_GLUE(gelu)
RT_OP_GLUE(relu)
RT_OP_GLUE(relu6)
RT_OP_GLUE(tanh)
RT_OP_GLUE(sigmoid)
RT_OP_GLUE(softmax)
RT_OP_GLUE(log_softmax)
RT_OP_GLUE(dropout)
RT_OP_GLUE(gaussian_sample)
RT_OP_GLUE(l2_norm)
RT_OP_GLUE(layer_norm)
RT_OP_GLUE(batch_norm)
RT_OP_GLUE(conv2d)
RT_OP_GLUE(avg_pool2d)
RT_OP_GLUE(max_pool2d)
RT_OP_GLUE(global_avg_pool)
RT_OP_GLUE(conv_transpose2d)
RT_OP_GLUE(reshape)
RT_OP_GLUE(transpose)
RT_OP_GLUE(permute)
RT_OP_GLUE(concat)
RT_OP_GLUE(slice)
RT_OP_GLUE(repeat)
RT_OP_GLUE(cls_concat)
RT_OP_GLUE(attention)
RT_OP_GLUE(attn_map)
RT_OP_GLUE(lstm)
RT_OP_GLUE(stats_pool)
RT_OP_GLUE(attn_stats_pool)
RT_OP_GLUE(cross_entropy)
RT_OP_GLUE(cross_entropy_soft)
RT_OP_GLUE(mse_loss)
RT_OP_GLUE(l1_loss)
RT_OP_GLUE(ccc_loss)
RT_OP_GLUE(aam_softmax)
RT_OP_GLUE(gaussian_kl)
RT_OP_GLUE(resample_tokens)
RT_OP_GLUE(resize2d)
RT_OP_GLUE(qlinear)

/* MAC formulas (docs/accounting.md), next to each op's check. */
int64_t rt_op_linear_macs(const rt_node *n);
int64_t rt_op_matmul_macs(const rt_node *n);
int64_t rt_op_conv2d_macs(const rt_node *n);
int64_t rt_op_conv_transpose2d_macs(const rt_node *n);
int64_t rt_op_attention_macs(const rt_node *n);
int64_t rt_op_lstm_macs(const rt_node *n);
int64_t rt_op_attn_stats_pool_macs(const rt_node *n);
int64_t rt_op_qlinear_macs(const rt_node *n);

/* k_conv.c's GEMM convolution, also used by k_convt.c (conv_transpose2d is
 * its adjoint). One conv2d: x (B, C, H, W), w (OC, C/G, KH, KW), y (B, OC,
 * OH, OW), strides SH SW, zero padding PH PW, G groups, dilation 1. */
struct rt_conv_dims {
    int64_t B, C, H, W, OC, KH, KW, OH, OW, SH, SW, PH, PW, G;
};
/* The schedule for d: returns nbuf (1: serial over the batch, > 1: per-thread
 * buffers) and the workspace floats the kernels below need in *n_work. */
int rt_conv2d_gemm_plan(const struct rt_conv_dims *d, size_t *n_work);
/* y = conv(x, w) + b (b may be NULL), or y += conv(x, w) when acc (b NULL). */
void rt_conv2d_gemm_forward(float *y, float *work, const float *x, const float *w, const float *b,
                            const struct rt_conv_dims *d, int nbuf, bool acc);
/* dx += col2im(W^T dy), dw += dy col(x)^T, db += sums of dy (each may be NULL;
 * x is read only for dw). */
void rt_conv2d_gemm_backward(float *dx, float *dw, float *db, float *work, const float *dy, const float *x,
                             const float *w, const struct rt_conv_dims *d, int nbuf);
/* db (OC) += sum over the batch and positions of dy (B, OC, L). */
void rt_conv2d_bias_backward(float *db, const float *dy, int64_t B, int64_t OC, int64_t L);

/* k_basic.c's linear kernels, shared with the attention projections, and
 * the fused-inference epilogue y = act(y + b) + r (rt_rows_epilogue). */
void rt_linear_forward(float *y, const float *x, const float *w, const float *b, int64_t M, int64_t K, int64_t N);
void rt_linear_forward_ep(float *y, const float *x, const float *w, const float *b, int64_t M, int64_t K, int64_t N,
                          int act, const float *r);
void rt_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                        int64_t M, int64_t K, int64_t N);
void rt_rows_epilogue(float *y, const float *b, const float *r, int64_t M, int64_t N, int act);
/* k_act.c: y <- act(y) for a fusable activation op (serial). */
void rt_act_inplace(int op, float *y, int64_t n);
/* fuse.c, for inference plans: fuse activations and residual adds into
 * their producers and flag in skip[] (n_nodes) what the plan does not
 * compute: 1 = not needed (no data), 2 = fused away (its data is into[i]'s). */
rt_status rt_graph_fuse(rt_graph *g, bool keep_taps, unsigned char *skip, int *into);
/* k_act.c's l2_norm rows, also used by k_loss.c (aam_softmax): x (M, C) ->
 * y = x / max(||x||, eps), norm (M) = ||x||; backward adds into dx. */
void rt_l2_norm_forward(float *y, float *norm, const float *x, int64_t M, int64_t C, float eps);
void rt_l2_norm_backward(float *dx, const float *dy, const float *y, const float *norm, int64_t M, int64_t C,
                         float eps);

/* Shape-check error naming the node: return rt_check_fail(n, "x %s and w %s differ", ...). */
rt_status rt_check_fail(const rt_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shape of node n as "(2, 3)" in a caller buffer. */
#define RT_SHAPE_STR(buf, node) rt_shape_str(buf, sizeof buf, (node)->out.ndim, (node)->out.shape)

/* Product of dims [from, to) of a node's output. */
static inline int64_t rt_dims_prod(const rt_node *n, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= n->out.shape[i];
    return p;
}

/* Build helpers: add a node with inputs given inline, with or without settings. */
#define RT_NIN(...) (int)(sizeof((rt_node *[]){__VA_ARGS__}) / sizeof(rt_node *))
#define RT_ADD_NODE(g, op, args, ...) \
    rt_graph_add((g), (op), RT_NIN(__VA_ARGS__), (rt_node *[]){__VA_ARGS__}, (args), sizeof *(args))
#define RT_ADD_NODE0(g, op, ...) \
    rt_graph_add((g), (op), RT_NIN(__VA_ARGS__), (rt_node *[]){__VA_ARGS__}, NULL, 0)

#endif
