/*
 * nn.c - layers over the graph builders, with PyTorch names and default
 * initialisation (see nn.h).
 */
#include "nn/nn.h"

#include <math.h>
#include <stdio.h>

const char *rt_nn_name(char *buf, const char *prefix, const char *suffix)
{
    snprintf(buf, RT_NAME_MAX, "%s.%s", prefix, suffix);
    return buf;
}

rt_node *rt_nn_linear(rt_graph *g, rt_node *x, const char *name, int64_t in, int64_t out, bool bias)
{
    char nw[RT_NAME_MAX], nb[RT_NAME_MAX];
    rt_init u = rt_init_uniform(1.f / sqrtf((float)in));
    rt_graph_scope(g, "%s", name);
    rt_node *w = rt_param(g, rt_nn_name(nw, name, "weight"), RT_DIMS(out, in), u);
    rt_node *b = bias ? rt_param(g, rt_nn_name(nb, name, "bias"), RT_DIMS(out), u) : NULL;
    return rt_linear(g, x, w, b);
}

rt_node *rt_nn_conv2d(rt_graph *g, rt_node *x, const char *name, int64_t in_c, int64_t out_c, int k, int stride,
                      int pad, int groups, bool bias)
{
    char nw[RT_NAME_MAX], nb[RT_NAME_MAX];
    if (groups < 1) groups = 1;
    int64_t fan_in = in_c / groups * k * k;
    rt_init u = rt_init_uniform(1.f / sqrtf((float)(fan_in > 0 ? fan_in : 1)));
    rt_graph_scope(g, "%s", name);
    rt_node *w = rt_param(g, rt_nn_name(nw, name, "weight"), RT_DIMS(out_c, in_c / groups, k, k), u);
    rt_node *b = bias ? rt_param(g, rt_nn_name(nb, name, "bias"), RT_DIMS(out_c), u) : NULL;
    struct rt_conv2d_args a = {stride, stride, pad, pad, groups};
    return rt_conv2d(g, x, w, b, a);
}

rt_node *rt_nn_layer_norm(rt_graph *g, rt_node *x, const char *name, int64_t dim, float eps)
{
    char nw[RT_NAME_MAX], nb[RT_NAME_MAX];
    rt_graph_scope(g, "%s", name);
    rt_node *w = rt_param(g, rt_nn_name(nw, name, "weight"), RT_DIMS(dim), rt_init_ones());
    rt_node *b = rt_param(g, rt_nn_name(nb, name, "bias"), RT_DIMS(dim), rt_init_zeros());
    return rt_layer_norm(g, x, w, b, eps);
}

rt_node *rt_nn_batch_norm(rt_graph *g, rt_node *x, const char *name, int64_t channels, float eps, float momentum)
{
    char nw[RT_NAME_MAX], nb[RT_NAME_MAX], nm[RT_NAME_MAX], nv[RT_NAME_MAX];
    rt_graph_scope(g, "%s", name);
    rt_node *w = rt_param(g, rt_nn_name(nw, name, "weight"), RT_DIMS(channels), rt_init_ones());
    rt_node *b = rt_param(g, rt_nn_name(nb, name, "bias"), RT_DIMS(channels), rt_init_zeros());
    rt_node *m = rt_buffer(g, rt_nn_name(nm, name, "running_mean"), RT_DIMS(channels), rt_init_zeros());
    rt_node *v = rt_buffer(g, rt_nn_name(nv, name, "running_var"), RT_DIMS(channels), rt_init_ones());
    return rt_batch_norm(g, x, w, b, m, v, eps, momentum);
}

rt_node *rt_nn_attention(rt_graph *g, rt_node *x, const char *name, int64_t dim, int heads, bool qkv_bias)
{
    char n1[RT_NAME_MAX], n2[RT_NAME_MAX], n3[RT_NAME_MAX], n4[RT_NAME_MAX], qkv[RT_NAME_MAX], proj[RT_NAME_MAX];
    rt_init u = rt_init_uniform(1.f / sqrtf((float)dim));
    rt_nn_name(qkv, name, "qkv");
    rt_nn_name(proj, name, "proj");
    rt_graph_scope(g, "%s", name);
    rt_node *wq = rt_param(g, rt_nn_name(n1, qkv, "weight"), RT_DIMS(3 * dim, dim), u);
    rt_node *bq = qkv_bias ? rt_param(g, rt_nn_name(n2, qkv, "bias"), RT_DIMS(3 * dim), u) : NULL;
    rt_node *wo = rt_param(g, rt_nn_name(n3, proj, "weight"), RT_DIMS(dim, dim), u);
    rt_node *bo = rt_param(g, rt_nn_name(n4, proj, "bias"), RT_DIMS(dim), u);
    rt_node *a = rt_attention(g, x, wq, bq, wo, bo, heads);
    rt_tag(rt_attention_map(g, a), rt_nn_name(n1, name, "probs"));
    return a;
}

rt_node *rt_nn_lstm_layer(rt_graph *g, rt_node *x, const char *name, int layer, int64_t in, int64_t hidden, bool bias)
{
    char s[4][64], nm[4][RT_NAME_MAX];
    rt_init u = rt_init_uniform(1.f / sqrtf((float)hidden));
    snprintf(s[0], sizeof s[0], "weight_ih_l%d", layer);
    snprintf(s[1], sizeof s[1], "weight_hh_l%d", layer);
    snprintf(s[2], sizeof s[2], "bias_ih_l%d", layer);
    snprintf(s[3], sizeof s[3], "bias_hh_l%d", layer);
    rt_graph_scope(g, "%s", name);
    rt_node *wih = rt_param(g, rt_nn_name(nm[0], name, s[0]), RT_DIMS(4 * hidden, in), u);
    rt_node *whh = rt_param(g, rt_nn_name(nm[1], name, s[1]), RT_DIMS(4 * hidden, hidden), u);
    rt_node *bih = bias ? rt_param(g, rt_nn_name(nm[2], name, s[2]), RT_DIMS(4 * hidden), u) : NULL;
    rt_node *bhh = bias ? rt_param(g, rt_nn_name(nm[3], name, s[3]), RT_DIMS(4 * hidden), u) : NULL;
    return rt_lstm(g, x, wih, whh, bih, bhh);
}

rt_node *rt_nn_embedding_param(rt_graph *g, const char *name, int ndim, const int64_t *shape)
{
    rt_graph_scope(g, "%s", name);
    return rt_param(g, name, ndim, shape, rt_init_trunc_normal(0.02f));
}

rt_node *rt_nn_conv_transpose2d(rt_graph *g, rt_node *x, const char *name, int64_t in_c, int64_t out_c, int k,
                                int stride, int pad, int out_pad, int groups, bool bias)
{
    char nw[RT_NAME_MAX], nb[RT_NAME_MAX];
    if (groups < 1) groups = 1;
    int64_t fan_in = out_c / groups * k * k; /* torch: weight.size(1) x kernel area */
    rt_init u = rt_init_uniform(1.f / sqrtf((float)(fan_in > 0 ? fan_in : 1)));
    rt_graph_scope(g, "%s", name);
    rt_node *w = rt_param(g, rt_nn_name(nw, name, "weight"), RT_DIMS(in_c, out_c / groups, k, k), u);
    rt_node *b = bias ? rt_param(g, rt_nn_name(nb, name, "bias"), RT_DIMS(out_c), u) : NULL;
    struct rt_convt2d_args a = {stride, stride, pad, pad, out_pad, out_pad, groups};
    return rt_conv_transpose2d(g, x, w, b, a);
}
