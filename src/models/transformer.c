/*
 * transformer.c - the ViT encoder and head shared by "vit" and "mobilevit"
 * (see transformer.h; fields, names and tags are documented in vit.c).
 *
 * Shapes: B batch, W width, N = (H/patch)(W/patch) patch tokens, T = N + 1
 * tokens with the CLS token first.
 */
#include "models/transformer.h"

#include "core/ops.h"
#include "nn/nn.h"

#include <string.h>

static const char *const act_names[] = {"relu", "gelu", "tanh", "sigmoid", "none", NULL};
static const char *const hidden_acts[] = {"relu", "gelu", "tanh", NULL};
static const char *const out_acts[] = {"none", "tanh", "sigmoid", NULL};

static enum rt_tf_act act_of(const char *name)
{
    for (int i = 0; act_names[i]; i++)
        if (!strcmp(name, act_names[i])) return (enum rt_tf_act)i;
    return RT_TF_NONE;
}

static void parse_head(rt_cfg *c, const cJSON *obj, struct rt_tf_head *h)
{
    const char *act = "gelu", *out_act = "none";
    h->norm = false;
    h->n_hidden = 0;
    h->dropout = 0.0;
    if (!obj) {
        h->act = RT_TF_GELU;
        h->out_act = RT_TF_NONE;
        return;
    }
    rt_cfg_bool(c, obj, "norm", false, &h->norm);
    rt_cfg_int_array(c, obj, "hidden", false, 1, 1 << 20, RT_TF_MAX_HIDDEN, h->hidden, &h->n_hidden);
    rt_cfg_str(c, obj, "activation", false, hidden_acts, &act);
    rt_cfg_num(c, obj, "dropout", false, 0.0, 0.99, &h->dropout);
    rt_cfg_str(c, obj, "output_activation", false, out_acts, &out_act);
    h->act = act_of(act);
    h->out_act = act_of(out_act);
}

rt_status rt_tf_parse(rt_cfg *c, const rt_model *m, struct rt_tf *s)
{
    static const char *const pools[] = {"cls", "mean", NULL};
    const char *pool = "cls";
    s->mlp_ratio = 4.0;
    s->qkv_bias = true;
    s->dropout = 0.0;
    s->eps = 1e-6;
    s->pooler = false;
    rt_cfg_int(c, c->root, "patch", true, 1, 4096, &s->patch);
    rt_cfg_int(c, c->root, "width", true, 1, 1 << 16, &s->width);
    rt_cfg_int(c, c->root, "depth", true, 1, 256, &s->depth);
    rt_cfg_int(c, c->root, "heads", true, 1, 1024, &s->heads);
    rt_cfg_num(c, c->root, "mlp_ratio", false, 1e-6, 64.0, &s->mlp_ratio);
    rt_cfg_bool(c, c->root, "qkv_bias", false, &s->qkv_bias);
    rt_cfg_num(c, c->root, "dropout", false, 0.0, 0.99, &s->dropout);
    rt_cfg_num(c, c->root, "eps", false, 1e-12, 1.0, &s->eps);
    rt_cfg_str(c, c->root, "pool", false, pools, &pool);
    rt_cfg_bool(c, c->root, "pooler", false, &s->pooler);
    parse_head(c, rt_cfg_obj(c, c->root, "head", false), &s->head);
    if (c->status != RT_OK) return c->status;
    s->mean_pool = !strcmp(pool, "mean");
    s->mlp_hidden = (int64_t)((double)s->width * s->mlp_ratio); /* int(width * ratio), as timm */
    if (m->task != RT_TASK_CLASSIFICATION && m->task != RT_TASK_REGRESSION)
        return rt_cfg_fail(c, "task", "%s supports classification and regression", m->arch->name);
    if (m->in_ndim != 3) return rt_cfg_fail(c, "input", "expected [C, H, W]");
    if (s->width % s->heads)
        return rt_cfg_fail(c, "heads", "%lld does not divide width %lld", (long long)s->heads, (long long)s->width);
    if (s->mlp_hidden < 1)
        return rt_cfg_fail(c, "mlp_ratio", "%g x width %lld leaves no hidden units", s->mlp_ratio,
                           (long long)s->width);
    if (m->in_shape[1] % s->patch || m->in_shape[2] % s->patch)
        return rt_cfg_fail(c, "patch", "%lld does not divide the image size %lldx%lld", (long long)s->patch,
                           (long long)m->in_shape[1], (long long)m->in_shape[2]);
    return RT_OK;
}

static rt_node *activate(rt_graph *g, rt_node *x, enum rt_tf_act act)
{
    switch (act) {
    case RT_TF_RELU: return rt_relu(g, x);
    case RT_TF_GELU: return rt_gelu(g, x);
    case RT_TF_TANH: return rt_tanh(g, x);
    case RT_TF_SIGMOID: return rt_sigmoid(g, x);
    case RT_TF_NONE: break;
    }
    return x;
}

/* fmap (B, W, Hp, Wp) -> tokens (B, T, W): flatten, CLS first, + pos_embed, dropout. */
static rt_node *tokens(rt_graph *g, const struct rt_tf *s, rt_node *fmap)
{
    const int64_t B = fmap->out.shape[0], W = s->width, N = fmap->out.shape[2] * fmap->out.shape[3];
    rt_graph_scope(g, "patch_embed");
    rt_node *x = rt_transpose(g, rt_reshape(g, fmap, RT_DIMS(B, W, N)), 1, 2);
    rt_node *cls = rt_nn_embedding_param(g, "cls_token", RT_DIMS(1, 1, W));
    x = rt_cls_concat(g, x, cls);
    rt_node *pos = rt_nn_embedding_param(g, "pos_embed", RT_DIMS(1, N + 1, W));
    x = rt_add(g, x, pos);
    if (s->dropout > 0) {
        rt_graph_scope(g, "pos_drop");
        x = rt_dropout(g, x, (float)s->dropout);
    }
    return rt_tag(x, "embed");
}

/* One pre-norm block: x + attn(norm1(x)), then x + mlp(norm2(x)). */
static rt_node *block(rt_graph *g, const struct rt_tf *s, rt_node *x, int i)
{
    char p[RT_NAME_MAX], sub[RT_NAME_MAX], n[RT_NAME_MAX];
    const float eps = (float)s->eps, drop = (float)s->dropout;
    snprintf(p, sizeof p, "blocks.%d", i);
    rt_node *h = rt_nn_layer_norm(g, x, rt_nn_name(n, p, "norm1"), s->width, eps);
    h = rt_nn_attention(g, h, rt_nn_name(sub, p, "attn"), s->width, (int)s->heads, s->qkv_bias);
    if (drop > 0) {
        rt_graph_scope(g, "%s", sub);
        h = rt_dropout(g, h, drop);
    }
    rt_graph_scope(g, "%s", p);
    x = rt_add(g, x, h);
    h = rt_nn_layer_norm(g, x, rt_nn_name(n, p, "norm2"), s->width, eps);
    rt_nn_name(sub, p, "mlp");
    h = rt_nn_linear(g, h, rt_nn_name(n, sub, "fc1"), s->width, s->mlp_hidden, true);
    rt_graph_scope(g, "%s", sub);
    h = rt_gelu(g, h);
    if (drop > 0) h = rt_dropout(g, h, drop);
    h = rt_nn_linear(g, h, rt_nn_name(n, sub, "fc2"), s->mlp_hidden, s->width, true);
    if (drop > 0) {
        rt_graph_scope(g, "%s", sub);
        h = rt_dropout(g, h, drop);
    }
    rt_graph_scope(g, "%s", p);
    x = rt_add(g, x, h);
    return rt_tag(x, rt_nn_name(n, p, "out"));
}

/* tokens (B, T, W) -> (B, W): the CLS token, or the mean of the N patch tokens. */
static rt_node *pool(rt_graph *g, const struct rt_tf *s, rt_node *x)
{
    const int64_t B = x->out.shape[0], T = x->out.shape[1], W = s->width;
    rt_graph_scope(g, "pool");
    if (!s->mean_pool) return rt_reshape(g, rt_slice(g, x, 1, 0, 1), RT_DIMS(B, W));
    rt_node *p = rt_transpose(g, rt_slice(g, x, 1, 1, T), 1, 2); /* (B, W, N) */
    return rt_global_avg_pool(g, rt_reshape(g, p, RT_DIMS(B, W, T - 1, 1)));
}

/* pooled (B, W) -> (B, num_outputs): [norm], fc1..fcK (act, dropout), out, output activation. */
static rt_node *head(rt_graph *g, const rt_model *m, const struct rt_tf *s, rt_node *x)
{
    const struct rt_tf_head *h = &s->head;
    char n[RT_NAME_MAX];
    int64_t in = s->width;
    if (h->norm) x = rt_nn_layer_norm(g, x, "head.norm", in, (float)s->eps);
    for (int i = 0; i < h->n_hidden; i++) {
        snprintf(n, sizeof n, "head.fc%d", i + 1);
        x = rt_nn_linear(g, x, n, in, h->hidden[i], true);
        rt_graph_scope(g, "head");
        x = activate(g, x, h->act);
        if (h->dropout > 0) x = rt_dropout(g, x, (float)h->dropout);
        in = h->hidden[i];
    }
    x = rt_nn_linear(g, x, "head.out", in, m->num_outputs, true);
    if (h->out_act != RT_TF_NONE) {
        rt_graph_scope(g, "head");
        x = activate(g, x, h->out_act);
    }
    return x;
}

rt_node *rt_tf_build(rt_graph *g, const rt_model *m, const struct rt_tf *s, rt_node *fmap)
{
    if (!fmap) return NULL;
    rt_node *x = tokens(g, s, fmap);
    for (int i = 0; i < (int)s->depth && x; i++) x = block(g, s, x, i);
    x = rt_nn_layer_norm(g, x, "norm", s->width, (float)s->eps);
    if (!x) return NULL;
    x = pool(g, s, x);
    if (s->pooler) {
        x = rt_nn_linear(g, x, "pooler.dense", s->width, s->width, true);
        rt_graph_scope(g, "pooler");
        x = rt_tanh(g, x);
    }
    rt_tag(x, "pooled");
    return head(g, m, s, x);
}
