/*
 * vit.c - "vit": a Vision Transformer (timm's VisionTransformer names).
 *
 * input [C, H, W] -> patch_embed.proj (Conv2d C->width, kernel = stride =
 * patch, bias) -> tokens (B, N, width), N = (H/patch)(W/patch) -> CLS token
 * first -> + pos_embed -> pos_drop -> blocks -> norm -> pool -> [pooler]
 * -> head. Non-square images are fine (patches are square).
 *
 * Fields (shared with mobilevit, src/models/transformer.c), defaults in ():
 *   "patch"      patch size, must divide H and W (required)
 *   "width"      token width (required)
 *   "depth"      number of blocks (required)
 *   "heads"      attention heads, must divide width (required)
 *   "mlp_ratio"  MLP hidden = int(width * mlp_ratio), as timm (4.0)
 *   "qkv_bias"   bias on attn.qkv (true); attn.proj always has one
 *   "dropout"    p after pos_embed, attn.proj, mlp act and mlp.fc2 (0);
 *                attention probabilities are never dropped
 *   "eps"        every LayerNorm's eps (1e-6, timm)
 *   "pool"       "cls" (the CLS token) | "mean" (mean of the N patch tokens,
 *                CLS excluded, like timm's global_pool='avg'); taken after
 *                the final norm (timm's avg pooling would move that norm to
 *                fc_norm; here use "head": {"norm": true} for that)
 *   "pooler"     Hugging Face ViTPooler: dense width->width + tanh (false);
 *                applied to the pooled vector (the CLS token, as Hugging
 *                Face, or the mean)
 *   "head": {    the head on the pooled vector (all optional)
 *     "norm": LayerNorm first (false), "hidden": [sizes] ([]),
 *     "activation": "gelu" | "relu" | "tanh" (gelu) after each hidden layer,
 *     "dropout": p after each hidden activation (0),
 *     "output_activation": "none" | "tanh" | "sigmoid" (none), applied to
 *     head.out, i.e. to the model output (tanh bounds valence/arousal)
 *   }
 *   task "classification" (logits) or "regression" (values).
 * Blocks are pre-norm: x += attn(norm1(x)); x += mlp(norm2(x)), GELU (erf).
 *
 * Names: patch_embed.proj.{weight,bias}, cls_token (1,1,W), pos_embed
 * (1,N+1,W), blocks.<i>.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
 * mlp.fc2}.{weight,bias} (attn.qkv.bias only with qkv_bias), norm.*,
 * pooler.dense.*, head.norm.*, head.fc1..head.fcK.*, head.out.*.
 * Tags: "embed" (tokens entering block 0, (B, T, W)), "blocks.<i>.out",
 * "blocks.<i>.attn.probs", "pooled" (after the pooler), "output".
 * PyTorch twin: tests/fixtures/ref/vit.py (timm VisionTransformer layout;
 * the pooler is transformers' ViTPooler).
 */
#include "models/transformer.h"

#include "core/ops.h"
#include "nn/nn.h"

static rt_status vit_parse(rt_cfg *c, rt_model *m, void **out)
{
    struct rt_tf *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    if (rt_tf_parse(c, m, s) != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

static rt_node *vit_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct rt_tf *s = m->settings;
    int k = (int)s->patch;
    rt_node *fmap = rt_nn_conv2d(g, x, "patch_embed.proj", m->in_shape[0], s->width, k, k, 0, 1, true);
    return rt_tf_build(g, m, s, fmap);
}

const struct rt_arch rt_arch_vit = {.name = "vit", .parse = vit_parse, .build = vit_build};
