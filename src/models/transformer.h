/*
 * transformer.h - the ViT encoder and head shared by "vit" and "mobilevit".
 *
 * An architecture parses its own patch embedding, then hands the common
 * fields to rt_tf_parse() and, at build time, the embedding's feature map
 * (B, width, H/patch, W/patch) to rt_tf_build(), which adds everything
 * after it: flatten to tokens, CLS token, position embedding, pre-norm
 * blocks, final norm, pooling, optional pooler and the configurable head.
 * The fields, names and tags are documented in vit.c.
 *
 *     struct rt_tf s = {0};
 *     rt_tf_parse(c, m, &s);                       // sticky c->status
 *     ...
 *     rt_node *fmap = rt_nn_conv2d(g, x, "patch_embed.proj", C, s.width, s.patch, s.patch, 0, 1, true);
 *     return rt_tf_build(g, m, &s, fmap);
 */
#ifndef RT_TRANSFORMER_H
#define RT_TRANSFORMER_H

#include "models/model.h"

#define RT_TF_MAX_HIDDEN 16

enum rt_tf_act { RT_TF_RELU = 0, RT_TF_GELU, RT_TF_TANH, RT_TF_SIGMOID, RT_TF_NONE };

struct rt_tf_head {
    bool norm;                       /* LayerNorm "head.norm" first */
    int n_hidden;
    int64_t hidden[RT_TF_MAX_HIDDEN]; /* "head.fc1".."head.fcK" */
    enum rt_tf_act act;              /* after each hidden layer */
    double dropout;                  /* after each hidden activation */
    enum rt_tf_act out_act;          /* after "head.out": none, tanh or sigmoid */
};

struct rt_tf {
    int64_t patch;      /* square patch, kernel = stride */
    int64_t width, depth, heads, mlp_hidden;
    double mlp_ratio;
    bool qkv_bias;
    double dropout;     /* after the position embedding, attn proj, mlp fc1 act and fc2 */
    double eps;         /* every LayerNorm */
    bool mean_pool;     /* false: CLS token */
    bool pooler;        /* "pooler.dense" + tanh on the pooled vector */
    struct rt_tf_head head;
};

/* Read and check the shared fields of c->root into s (defaults first);
 * also checks the input is [C, H, W] with H and W divisible by the patch
 * and the task is classification or regression. Returns c->status. */
rt_status rt_tf_parse(rt_cfg *c, const rt_model *m, struct rt_tf *s);
/* fmap (B, width, H/patch, W/patch) -> the model output (B, num_outputs). */
rt_node *rt_tf_build(rt_graph *g, const rt_model *m, const struct rt_tf *s, rt_node *fmap);

#endif
