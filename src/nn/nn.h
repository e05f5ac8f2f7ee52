/*
 * nn.h - layers: each adds nodes to a graph and declares its parameters
 * under PyTorch-style names ("<name>.weight", "<name>.bias"), initialised
 * as PyTorch initialises that layer by default. A layer sets the graph's
 * scope to its name, so a build error names the layer, and the accounting
 * (retort summary) groups nodes and parameters by these names.
 *
 *     rt_node *h = rt_nn_linear(g, x, "blocks.0.mlp.fc1", 768, 3072, true);
 *     h = rt_gelu(g, h);
 *
 * Initialisation (torch.nn defaults):
 *   Linear, Conv2d: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 *     (kaiming_uniform with a = sqrt(5)); fan_in = in (x kh x kw / groups).
 *   ConvTranspose2d: the same with PyTorch's fan_in of its weight
 *     (in, out/groups, kh, kw): out / groups x kh x kw.
 *   LayerNorm, BatchNorm: weight 1, bias 0; running_mean 0, running_var 1.
 *   LSTM: every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden)).
 *   Embeddings such as CLS tokens and position tables: trunc_normal(0.02).
 */
#ifndef RT_NN_H
#define RT_NN_H

#include "core/graph.h"
#include "core/ops.h"

/* x (..., in) -> (..., out). */
rt_node *rt_nn_linear(rt_graph *g, rt_node *x, const char *name, int64_t in, int64_t out, bool bias);
/* x (B, in_c, H, W) -> (B, out_c, OH, OW); square kernel. */
rt_node *rt_nn_conv2d(rt_graph *g, rt_node *x, const char *name, int64_t in_c, int64_t out_c, int k, int stride,
                      int pad, int groups, bool bias);
/* x (B, in_c, H, W) -> (B, out_c, OH, OW), OH = (H - 1) stride - 2 pad + k + out_pad;
 * torch.nn.ConvTranspose2d names, weight (in_c, out_c/groups, k, k), square kernel. */
rt_node *rt_nn_conv_transpose2d(rt_graph *g, rt_node *x, const char *name, int64_t in_c, int64_t out_c, int k,
                                int stride, int pad, int out_pad, int groups, bool bias);
rt_node *rt_nn_layer_norm(rt_graph *g, rt_node *x, const char *name, int64_t dim, float eps);
/* Batch norm over dim 1 of x, with running statistics buffers. */
rt_node *rt_nn_batch_norm(rt_graph *g, rt_node *x, const char *name, int64_t channels, float eps, float momentum);
/* Self-attention with timm names: <name>.qkv.{weight,bias}, <name>.proj.{weight,bias}.
 * Tags the head-averaged attention probabilities as "<name>.probs". */
rt_node *rt_nn_attention(rt_graph *g, rt_node *x, const char *name, int64_t dim, int heads, bool qkv_bias);
/* One LSTM layer with torch.nn.LSTM names: <name>.weight_ih_l<layer>, ... */
rt_node *rt_nn_lstm_layer(rt_graph *g, rt_node *x, const char *name, int layer, int64_t in, int64_t hidden, bool bias);
/* A learned tensor (CLS token, position table) initialised trunc_normal(0.02). */
rt_node *rt_nn_embedding_param(rt_graph *g, const char *name, int ndim, const int64_t *shape);

/* "prefix.suffix" into buf (RT_NAME_MAX). */
const char *rt_nn_name(char *buf, const char *prefix, const char *suffix);

#endif
