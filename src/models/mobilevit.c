/*
 * mobilevit.c - "mobilevit": a ViT student with a cheap, depthwise-separable
 * patch embedding (not Apple's MobileViT).
 *
 * input [C, H, W] -> patch_embed: dw (Conv2d C->C, kernel = stride = patch,
 * groups C) -> bn1 (BatchNorm2d C) -> pw (Conv2d C->width, 1x1) -> bn2
 * (BatchNorm2d width) -> GELU -> then exactly vit's encoder and head
 * (src/models/transformer.c, fields documented in vit.c).
 *
 * Fields: every vit field ("patch", "width", "depth", "heads", "mlp_ratio",
 * "qkv_bias", "dropout", "eps", "pool", "pooler", "head"), plus
 *   "conv_bias"  bias on patch_embed.dw and patch_embed.pw (true, as
 *                nn.Conv2d; the shipped configs use false)
 * Batch norms use PyTorch's defaults: eps 1e-5, momentum 0.1.
 *
 * Names: patch_embed.dw.{weight,bias}, patch_embed.bn1.{weight,bias,
 * running_mean,running_var}, patch_embed.pw.*, patch_embed.bn2.*, then as
 * vit: cls_token, pos_embed, blocks.<i>.*, norm.*, pooler.dense.*, head.*.
 * Tags as vit.
 * PyTorch twin: tests/fixtures/ref/mobilevit.py.
 */
#include "models/transformer.h"

#include "core/ops.h"
#include "nn/nn.h"

struct mobilevit_settings {
    struct rt_tf tf;
    bool conv_bias;
};

static rt_status mobilevit_parse(rt_cfg *c, rt_model *m, void **out)
{
    struct mobilevit_settings *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    s->conv_bias = true;
    rt_cfg_bool(c, c->root, "conv_bias", false, &s->conv_bias);
    if (rt_tf_parse(c, m, &s->tf) != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

static rt_node *mobilevit_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct mobilevit_settings *s = m->settings;
    const int64_t C = m->in_shape[0], W = s->tf.width;
    const int k = (int)s->tf.patch;
    rt_node *h = rt_nn_conv2d(g, x, "patch_embed.dw", C, C, k, k, 0, (int)C, s->conv_bias);
    h = rt_nn_batch_norm(g, h, "patch_embed.bn1", C, 1e-5f, 0.1f);
    h = rt_nn_conv2d(g, h, "patch_embed.pw", C, W, 1, 1, 0, 1, s->conv_bias);
    h = rt_nn_batch_norm(g, h, "patch_embed.bn2", W, 1e-5f, 0.1f);
    rt_graph_scope(g, "patch_embed");
    return rt_tf_build(g, m, &s->tf, rt_gelu(g, h));
}

const struct rt_arch rt_arch_mobilevit = {.name = "mobilevit", .parse = mobilevit_parse, .build = mobilevit_build};
