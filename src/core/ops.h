/*
 * ops.h - the op set: enum, settings structs and graph builders.
 *
 * Every op is one entry of the table in op_table.c (name, check, forward,
 * backward); its kernels live in one src/core/k_<group>.c file as plain
 * functions rt_<op>_forward(out, saved..., in, params..., dims) and
 * rt_<op>_backward(din, dparams..., dout, ...), where backward ADDS into
 * gradients. The table glue functions rt_op_<name>_{check,forward,backward}
 * adapt a node to those kernels. Adding an op touches the enum and table,
 * one kernel file and one test.
 *
 * Builders return NULL (and record the error in the graph) on bad shapes;
 * a NULL input makes them return NULL too.
 */
#ifndef RT_OPS_H
#define RT_OPS_H

#include "core/graph.h"

enum rt_op {
    RT_OP_INPUT = 0,
    RT_OP_PARAM,
    /* k_basic.c */
    RT_OP_LINEAR,
    RT_OP_MATMUL,
    RT_OP_ADD,
    RT_OP_MUL,
    RT_OP_SCALE,
    RT_OP_BIAS,
    RT_OP_SUM,
    RT_OP_MEAN,
    /* k_act.c */
    RT_OP_GELU,
    RT_OP_RELU,
    RT_OP_RELU6,
    RT_OP_TANH,
    RT_OP_SIGMOID,
    RT_OP_SOFTMAX,
    RT_OP_LOG_SOFTMAX,
    RT_OP_DROPOUT,
    RT_OP_GAUSSIAN_SAMPLE,
    RT_OP_L2_NORM,
    /* k_norm.c */
    RT_OP_LAYER_NORM,
    RT_OP_BATCH_NORM,
    /* k_conv.c */
    RT_OP_CONV2D,
    RT_OP_AVG_POOL2D,
    RT_OP_MAX_POOL2D,
    RT_OP_GLOBAL_AVG_POOL,
    /* k_convt.c */
    RT_OP_CONV_TRANSPOSE2D,
    /* k_shape.c */
    RT_OP_RESHAPE,
    RT_OP_TRANSPOSE,
    RT_OP_PERMUTE,
    RT_OP_CONCAT,
    RT_OP_SLICE,
    RT_OP_REPEAT,
    RT_OP_CLS_CONCAT,
    /* k_attn.c */
    RT_OP_ATTENTION,
    RT_OP_ATTN_MAP,
    /* k_seq.c */
    RT_OP_LSTM,
    RT_OP_STATS_POOL,
    RT_OP_ATTN_STATS_POOL,
    /* k_loss.c */
    RT_OP_CROSS_ENTROPY,
    RT_OP_CROSS_ENTROPY_SOFT,
    RT_OP_MSE_LOSS,
    RT_OP_L1_LOSS,
    RT_OP_CCC_LOSS,
    RT_OP_AAM_SOFTMAX,
    RT_OP_GAUSSIAN_KL,
    /* k_resample.c */
    RT_OP_RESAMPLE_TOKENS,
    RT_OP_RESIZE2D,
    RT_OP_QLINEAR,
    RT_OP_COUNT
};

struct rt_op_def {
    const char *name;
    /* Infer n's output shape from its inputs and args, set n_saved,
     * n_saved_grad, n_work; return an error (rt_error) if shapes don't fit. */
    rt_status (*check)(rt_graph *g, rt_node *n);
    void (*forward)(rt_graph *g, rt_node *n);
    /* Add d loss / d input into in[i]->grad for each input whose grad is
     * not NULL (parameter grads included). NULL for leaves. */
    void (*backward)(rt_graph *g, rt_node *n);
    /* Multiply-accumulates of one forward pass of n over its whole batch
     * (see docs/accounting.md for each formula). NULL: the op is counted
     * as 0 MACs (elementwise, normalisation, pooling, shape ops). */
    int64_t (*macs)(const rt_node *n);
};

extern const struct rt_op_def rt_op_table[RT_OP_COUNT];
/* RT_OK if every slot of the table is filled (run at start-up by rt_graph_new). */
rt_status rt_ops_check_table(void);
/* Look an op up by its name ("gelu"); RT_ERR_UNKNOWN with a message if none. */
rt_status rt_op_from_name(const char *name, enum rt_op *op);
const char *rt_op_name(int op);
/* MACs of node n's forward pass (0 for ops without a formula). */
int64_t rt_node_macs(const rt_node *n);

/* ---- settings (each fits RT_ARGS_BYTES; checked in op_table.c) ---- */
struct rt_matmul_args { int trans_a, trans_b; };
struct rt_scale_args { float s; };
struct rt_axis_args { int axis; };
struct rt_eps_args { float eps; };
struct rt_norm_args { float eps, momentum; };
struct rt_dropout_args { float p; };
struct rt_conv2d_args { int stride_h, stride_w, pad_h, pad_w, groups; };
struct rt_pool2d_args { int kh, kw, stride_h, stride_w, pad_h, pad_w; };
struct rt_convt2d_args { int stride_h, stride_w, pad_h, pad_w, out_pad_h, out_pad_w, groups; };
struct rt_reshape_args { int ndim; int64_t shape[RT_MAX_DIMS]; };
struct rt_transpose_args { int d0, d1; };
struct rt_permute_args { int ndim; int perm[RT_MAX_DIMS]; };
struct rt_slice_args { int axis; int64_t start, end; };
struct rt_repeat_args { int axis; int64_t n; };
struct rt_qmat;
/* which optional biases are inputs; integer projections (k_quant.c) when set */
struct rt_attention_args {
    int heads, has_b_qkv, has_b_o, qpath;
    const struct rt_qmat *q_qkv, *q_o;
};
struct rt_qlinear_args { const struct rt_qmat *w; int path; };
struct rt_lstm_args { int has_b_ih, has_b_hh; };                /* which optional biases are inputs */

/* ---- k_basic.c ---- */
/* x (..., K), w (N, K), b (N) or NULL -> (..., N); y = x w^T + b */
rt_node *rt_linear(rt_graph *g, rt_node *x, rt_node *w, rt_node *b);
/* a (..., M, K), b (..., K, N) -> (..., M, N); batch dims equal, or b 2-D
 * (shared across the batch). trans_a/trans_b transpose the last two dims. */
rt_node *rt_matmul(rt_graph *g, rt_node *a, rt_node *b, bool trans_a, bool trans_b);
/* Elementwise; b's shape (leading 1s dropped) must equal a trailing part of
 * a's shape and is broadcast over the rest (position embeddings, etc.). */
rt_node *rt_add(rt_graph *g, rt_node *a, rt_node *b);
rt_node *rt_mul(rt_graph *g, rt_node *a, rt_node *b);
rt_node *rt_scale(rt_graph *g, rt_node *x, float s);
/* Add b (length x.shape[axis]) along axis (axis 1 for (B, C, H, W)). */
rt_node *rt_bias(rt_graph *g, rt_node *x, rt_node *b, int axis);
/* Reduce all elements to a scalar of shape (1). */
rt_node *rt_sum(rt_graph *g, rt_node *x);
rt_node *rt_mean(rt_graph *g, rt_node *x);

/* ---- k_act.c ---- */
rt_node *rt_gelu(rt_graph *g, rt_node *x); /* erf form */
rt_node *rt_relu(rt_graph *g, rt_node *x);
rt_node *rt_relu6(rt_graph *g, rt_node *x); /* min(max(x, 0), 6) */
rt_node *rt_tanh(rt_graph *g, rt_node *x);
rt_node *rt_sigmoid(rt_graph *g, rt_node *x);
rt_node *rt_softmax(rt_graph *g, rt_node *x);     /* over the last dim */
rt_node *rt_log_softmax(rt_graph *g, rt_node *x); /* over the last dim */
/* Inverted dropout in training mode (mask from the counter RNG), identity in eval. */
rt_node *rt_dropout(rt_graph *g, rt_node *x, float p);
/* mu + exp(0.5 logvar) * eps, eps ~ N(0,1) from the counter RNG, in
 * training mode; mu in eval mode. */
rt_node *rt_gaussian_sample(rt_graph *g, rt_node *mu, rt_node *logvar);
/* x / max(||x||_2, eps) over the last dim (F.normalize). */
rt_node *rt_l2_norm(rt_graph *g, rt_node *x, float eps);

/* ---- k_norm.c ---- */
/* Over the last dim; w, b of that length (either may be NULL). */
rt_node *rt_layer_norm(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, float eps);
/* x (B, C) or (B, C, ...); w, b, running_mean, running_var (C). Training:
 * batch statistics, running stats updated with PyTorch's momentum rule
 * (unbiased variance); eval: running statistics. */
rt_node *rt_batch_norm(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, rt_node *running_mean,
                       rt_node *running_var, float eps, float momentum);

/* ---- k_conv.c ---- */
/* x (B, C, H, W), w (OC, C/groups, KH, KW), b (OC) or NULL -> (B, OC, OH, OW) */
rt_node *rt_conv2d(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, struct rt_conv2d_args a);
/* count_include_pad = true, as PyTorch's default */
rt_node *rt_avg_pool2d(rt_graph *g, rt_node *x, struct rt_pool2d_args a);
rt_node *rt_max_pool2d(rt_graph *g, rt_node *x, struct rt_pool2d_args a);
/* (B, C, H, W) -> (B, C) */
rt_node *rt_global_avg_pool(rt_graph *g, rt_node *x);

/* ---- k_convt.c ---- */
/* PyTorch's conv_transpose2d (dilation 1): x (B, C, H, W), w (C, OC/groups,
 * KH, KW), b (OC) or NULL -> (B, OC, OH, OW) with
 * OH = (H - 1) stride_h - 2 pad_h + KH + out_pad_h (likewise OW) and
 * 0 <= out_pad < stride. The adjoint (input gradient) of conv2d with the
 * same w, stride and padding. */
rt_node *rt_conv_transpose2d(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, struct rt_convt2d_args a);

/* ---- k_shape.c ---- */
/* One dim may be -1. */
rt_node *rt_reshape(rt_graph *g, rt_node *x, int ndim, const int64_t *shape);
rt_node *rt_transpose(rt_graph *g, rt_node *x, int d0, int d1);
rt_node *rt_permute(rt_graph *g, rt_node *x, int ndim, const int *perm);
rt_node *rt_concat(rt_graph *g, int n, rt_node *const *xs, int axis);
/* [start, end) along axis; negative indices count from the end. */
rt_node *rt_slice(rt_graph *g, rt_node *x, int axis, int64_t start, int64_t end);
/* Insert a new axis of length n at `axis` (0..ndim) and copy x along it:
 * (B, D) -> axis 1, n T -> (B, T, D), as x.unsqueeze(axis).expand(...). */
rt_node *rt_repeat(rt_graph *g, rt_node *x, int axis, int64_t n);
/* x (B, T, C), cls (1, 1, C) or (C) -> (B, 1 + T, C), cls first. */
rt_node *rt_cls_concat(rt_graph *g, rt_node *x, rt_node *cls);

/* ---- k_attn.c ---- */
/* Fused multi-head self-attention: x (B, T, C), w_qkv (3C, C), b_qkv (3C) or
 * NULL, w_o (C, C), b_o (C) or NULL -> (B, T, C). q, k, v are the thirds of
 * x w_qkv^T + b_qkv (timm's layout), scores scaled by 1/sqrt(C/heads). */
rt_node *rt_attention(rt_graph *g, rt_node *x, rt_node *w_qkv, rt_node *b_qkv, rt_node *w_o,
                      rt_node *b_o, int heads);
/* The head-averaged attention probabilities of an attention node: (B, T, T). */
rt_node *rt_attention_map(rt_graph *g, rt_node *attn);

/* ---- k_seq.c ---- */
/* x (B, T, I), w_ih (4H, I), w_hh (4H, H), b_ih, b_hh (4H) or NULL -> (B, T, H);
 * PyTorch gate order i, f, g, o; zero initial state. */
rt_node *rt_lstm(rt_graph *g, rt_node *x, rt_node *w_ih, rt_node *w_hh, rt_node *b_ih, rt_node *b_hh);
/* x (B, T, C) -> (B, 2C): [mean over T, sqrt(max(var, eps))] (biased var). */
rt_node *rt_stats_pool(rt_graph *g, rt_node *x, float eps);
/* Attention-weighted: w (B, T) or (B, T, C), weights summing to 1 over T ->
 * (B, 2C): [sum_t w x, sqrt(max(sum_t w x^2 - mu^2, eps))] (ECAPA-TDNN). */
rt_node *rt_attn_stats_pool(rt_graph *g, rt_node *x, rt_node *w, float eps);

/* ---- k_loss.c ----
 * Each loss is a scalar node of shape (1) (start rt_graph_backward there),
 * reduced as PyTorch's default, the mean over the batch. Class indices are
 * floats in an ordinary node (an input, no gradient); a row whose index is
 * not an integer in [0, C) gets a NaN loss and NaN gradients (never an
 * out-of-bounds read), so validate labels when loading. A loss is combined
 * with others by rt_scale and rt_add of scalars:
 *
 *     rt_node *y = rt_input(g, "y", RT_DIMS(B));          // labels as floats
 *     rt_node *ce = rt_cross_entropy(g, logits, y, 0.1f);
 *     rt_node *elbo = rt_add(g, rt_mse_loss(g, recon, x),  // VAE: recon + beta KL
 *                            rt_scale(g, rt_gaussian_kl(g, mu, logvar), beta));
 *     ... rt_graph_forward(g); rt_graph_backward(g, elbo);
 */
/* logits (N, C), target (N) -> F.cross_entropy(logits, target, label_smoothing)
 * = mean_n [lse(z_n) - (1 - eps) z_n,t - eps mean_c z_n,c], eps in [0, 1]. */
rt_node *rt_cross_entropy(rt_graph *g, rt_node *logits, rt_node *target, float label_smoothing);
/* logits, probs (N, C) -> mean_n sum_c -p_n,c log_softmax(z)_n,c
 * (F.cross_entropy with probability targets); gradients to both. */
rt_node *rt_cross_entropy_soft(rt_graph *g, rt_node *logits, rt_node *probs);
/* a, b of one shape -> mean (a - b)^2 / mean |a - b| over all elements;
 * gradients to both (either may be a constant input); l1's is 0 at a = b. */
rt_node *rt_mse_loss(rt_graph *g, rt_node *a, rt_node *b);
rt_node *rt_l1_loss(rt_graph *g, rt_node *a, rt_node *b);
/* pred, target (N, D) or (N) -> mean over D of 1 - CCC, Lin's concordance
 * 2 cov / (var_p + var_t + (mean_p - mean_t)^2) per column over the batch
 * with biased (1/N) moments; no epsilon (a column with both inputs constant
 * and equal means gives NaN). */
rt_node *rt_ccc_loss(rt_graph *g, rt_node *pred, rt_node *target);
/* ArcFace / additive angular margin softmax (speaker verification): emb
 * (N, E), weight (K, E) (a parameter), target (N), margin m in [0, pi),
 * scale s > 0. cos = normalize(emb) normalize(weight)^T (F.normalize, eps
 * 1e-12); the target class's cos(theta) becomes cos(theta + m) while
 * theta + m <= pi (cos > th = cos(pi - m)), else cos(theta) - m sin(m)
 * (voxceleb_trainer/wespeaker AAMsoftmax with easy_margin off); times s;
 * cross entropy, mean over N. Gradients to emb and weight. */
rt_node *rt_aam_softmax(rt_graph *g, rt_node *emb, rt_node *weight, rt_node *target, float margin, float scale);
/* mu, logvar (N, ...) -> KL(N(mu, exp(logvar)) || N(0, 1)) =
 * -0.5 sum (1 + logvar - mu^2 - exp(logvar)), summed over all dims but the
 * first and averaged over the batch dim 0. (PyTorch's classic VAE example
 * sums over the batch too; divide by N there to compare. Mean over the
 * batch keeps beta and the learning rate independent of the batch size.) */
rt_node *rt_gaussian_kl(rt_graph *g, rt_node *mu, rt_node *logvar);

/* ---- k_resample.c ----
 * Token-count and map-size matching for feature and attention distillation
 * (a ViT-B teacher's 197 tokens against a student's 50), as PyTorch's
 * F.interpolate(..., align_corners=False) without antialias: output
 * position o of a length-I axis resized to O reads the two inputs around
 * src = max(0, (o + 0.5) I / O - 0.5). Same size is an exact copy; the
 * gradient goes back through the same weights. 0 MACs.
 *
 *     rt_node *s = rt_resample_tokens(g, s_tokens, 197);           // (B, 50, C) -> (B, 197, C)
 *     rt_node *a = rt_resize2d(g, rt_attention_map(g, t_attn), 50, 50); // (B, 197, 197) -> (B, 50, 50)
 *     rt_node *l = rt_mse_loss(g, a, rt_attention_map(g, s_attn));
 */
/* x (B, T, C) -> (B, t_out, C), t_out >= 1: linear along the token axis,
 * each channel on its own (F.interpolate(x.transpose(1, 2), t_out, mode="linear")
 * transposed back). */
rt_node *rt_resample_tokens(rt_graph *g, rt_node *x, int64_t t_out);
/* x (B, H, W) or (B, C, H, W) -> (B, h_out, w_out) or (B, C, h_out, w_out),
 * sizes >= 1: bilinear over the last two dims (mode="bilinear"). */
rt_node *rt_resize2d(rt_graph *g, rt_node *x, int64_t h_out, int64_t w_out);

/* ---- k_quant.c: integer inference (src/quant/qgemm.h) ---- */
/* Turn linear node n (x, w[, b]) into qlinear with integer weights q (of w's
 * shape) on kernel path `path` (enum rt_qpath); before planning, inference
 * plans only (qlinear has no backward). On a shape error n is unchanged. */
rt_status rt_node_use_qlinear(rt_graph *g, rt_node *n, const struct rt_qmat *q, int path);
/* Give attention node n integer QKV and/or output projections (NULL: float). */
rt_status rt_node_use_qattention(rt_graph *g, rt_node *n, const struct rt_qmat *q_qkv, const struct rt_qmat *q_o,
                                 int path);
/* y (M, N) = x (M, K) through int8 activation rows and q; work: rt_qlinear_work_floats floats. */
void rt_qlinear_forward(float *y, const float *x, const struct rt_qmat *q, const float *b, int64_t M, int path,
                        float *work);
size_t rt_qlinear_work_floats(const struct rt_qmat *q, int64_t M);

#endif
