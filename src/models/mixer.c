/*
 * mixer.c - "mixer": an MLP-Mixer over spectrogram frames with attentive
 * statistics pooling, for speaker embeddings (timm MixerBlock names, an
 * ECAPA-TDNN style pooling and embedding layer).
 *
 * input [T, F] (T frames of F log-mel bins; note `retort features` writes
 * (F, T), so transpose) -> stem Linear(F, hidden) per frame -> blocks ->
 * norm -> pool -> embedding Linear(2 hidden, embed_dim) [-> embedding_bn]
 * -> [head]. T is fixed by the config: the token MLP mixes exactly T frames.
 *
 * Block i (pre-norm, as timm's MixerBlock):
 *   x += mlp_tokens(norm1(x)^T)^T   token mixing: per channel, across the T
 *                                   frames, Linear(T, Ts) GELU Linear(Ts, T)
 *   x += mlp_channels(norm2(x))     channel mixing: per frame,
 *                                   Linear(hidden, Hc) GELU Linear(Hc, hidden)
 * With "groups" g > 1 both channel projections are grouped 1x1 convolutions
 * (PyTorch twin: nn.Conv1d(in, out, 1, groups=g) on (B, C, T), weight
 * (out, in/g, 1), g times fewer weights), and a ShuffleNet channel shuffle
 * (g groups of Hc/g -> interleaved) sits between GELU and fc2 so that the
 * channel groups exchange information (without it they would never mix:
 * token mixing and LayerNorm do not mix channels). Here the grouped MLP
 * runs channels-first as (B, C, T, 1): each projection is conv2d with
 * groups over a (out, in/g, 1, 1) copy of the Conv1d weight, and the
 * shuffle is one permute. (A matmul batched over the groups, built from
 * reshape/permute/matmul, needed about twice the training activation
 * memory for its extra copies and bias passes.)
 *
 * Pooling (ECAPA-TDNN's attentive statistics pooling): scores =
 * pool.fc2(tanh(pool.fc1(x))) per frame, (B, T, hidden) with
 * "channel_attention" or (B, T, 1) without; softmax over T; then
 * [sum_t w x, sqrt(max(sum_t w x^2 - mean^2, 1e-7))] -> (B, 2 hidden).
 *
 * Fields, defaults in ():
 *   "hidden"            channels (required)
 *   "blocks"            number of mixer blocks (required, >= 1)
 *   "expansion"         channel MLP hidden Hc = int(hidden * expansion) (4)
 *   "token_expansion"   token MLP hidden Ts = int(T * token_expansion) (0.5,
 *                       the MLP-Mixer paper's D_S / S); int() as timm
 *   "groups"            channel projection groups; must divide hidden and Hc (1)
 *   "attention_dim"     width of the pooling attention MLP (128, ECAPA)
 *   "channel_attention" per-channel attention weights (true) or one weight
 *                       per frame shared by all channels (false)
 *   "embed_dim"         embedding size (required)
 *   "embedding_bn"      BatchNorm1d after the embedding layer, as ECAPA (false)
 *   "mel_first"         the input is [F, T] (mel bins by frames, as `retort
 *                       features` and audio manifests give it) and the graph
 *                       transposes it to [T, F] first (false; not in the twin)
 *   task "embedding" (output = the embedding), "classification" or
 *   "regression" (a Linear head on the embedding; AAM-softmax training
 *   reads the "embedding" tap instead).
 * Every LayerNorm has eps 1e-6 (timm's Mixer), the batch norm eps 1e-5.
 *
 * Names: stem.*, blocks.<i>.{norm1, mlp_tokens.fc1, mlp_tokens.fc2, norm2,
 * mlp_channels.fc1, mlp_channels.fc2}.{weight,bias}, norm.*, pool.fc1.*,
 * pool.fc2.*, embedding.*, embedding_bn.{weight,bias,running_mean,
 * running_var}, head.*. mlp_channels.fc1.weight is (Hc, hidden) or, grouped,
 * (Hc, hidden/g, 1); fc2 likewise.
 * Tags: "embed" (stem output, (B, T, hidden)), "blocks.<i>.out", "pooled"
 * ((B, 2 hidden)), "embedding" ((B, embed_dim), after embedding_bn if any),
 * "output".
 * PyTorch twin: tests/fixtures/ref/mixer.py.
 */
#include "models/model.h"

#include "core/ops.h"
#include "nn/nn.h"

#include <math.h>

#define MIXER_LN_EPS 1e-6f
#define MIXER_BN_EPS 1e-5f
#define MIXER_BN_MOMENTUM 0.1f
#define MIXER_POOL_EPS 1e-7f

struct mixer_settings {
    int64_t hidden, blocks, groups, att_dim, embed_dim;
    int64_t token_hidden, channel_hidden;
    double expansion, token_expansion;
    bool channel_att, embedding_bn, mel_first;
};

/* Frames and mel bins of the input (see "mel_first"). */
static int64_t mixer_frames(const rt_model *m, const struct mixer_settings *s) { return m->in_shape[s->mel_first]; }

static rt_status mixer_check(rt_cfg *c, const rt_model *m, struct mixer_settings *s)
{
    if (m->in_ndim != 2) return rt_cfg_fail(c, "input", "expected [T, F] (frames, mel bins), or [F, T] with mel_first");
    if (m->task == RT_TASK_RECONSTRUCTION)
        return rt_cfg_fail(c, "task", "mixer supports embedding, classification and regression");
    s->channel_hidden = (int64_t)((double)s->hidden * s->expansion);
    s->token_hidden = (int64_t)((double)mixer_frames(m, s) * s->token_expansion);
    if (s->channel_hidden < 1)
        return rt_cfg_fail(c, "expansion", "%g x hidden %lld leaves no hidden units", s->expansion,
                           (long long)s->hidden);
    if (s->token_hidden < 1)
        return rt_cfg_fail(c, "token_expansion", "%g x %lld frames leaves no hidden units", s->token_expansion,
                           (long long)mixer_frames(m, s));
    if (s->hidden % s->groups)
        return rt_cfg_fail(c, "groups", "%lld does not divide hidden %lld", (long long)s->groups,
                           (long long)s->hidden);
    if (s->channel_hidden % s->groups)
        return rt_cfg_fail(c, "groups", "%lld does not divide the channel MLP width %lld (hidden x expansion)",
                           (long long)s->groups, (long long)s->channel_hidden);
    return RT_OK;
}

static rt_status mixer_parse(rt_cfg *c, rt_model *m, void **out)
{
    struct mixer_settings *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    s->expansion = 4.0;
    s->token_expansion = 0.5;
    s->groups = 1;
    s->att_dim = 128;
    s->channel_att = true;
    rt_cfg_int(c, c->root, "hidden", true, 1, 1 << 16, &s->hidden);
    rt_cfg_int(c, c->root, "blocks", true, 1, 1024, &s->blocks);
    rt_cfg_num(c, c->root, "expansion", false, 1e-6, 64.0, &s->expansion);
    rt_cfg_num(c, c->root, "token_expansion", false, 1e-6, 64.0, &s->token_expansion);
    rt_cfg_int(c, c->root, "groups", false, 1, 1 << 16, &s->groups);
    rt_cfg_int(c, c->root, "attention_dim", false, 1, 1 << 16, &s->att_dim);
    rt_cfg_bool(c, c->root, "channel_attention", false, &s->channel_att);
    rt_cfg_int(c, c->root, "embed_dim", true, 1, 1 << 16, &s->embed_dim);
    rt_cfg_bool(c, c->root, "embedding_bn", false, &s->embedding_bn);
    rt_cfg_bool(c, c->root, "mel_first", false, &s->mel_first);
    if (c->status == RT_OK) mixer_check(c, m, s);
    if (c->status != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

/* A 1x1 Conv1d with `groups` groups (weight (out, in/G, 1), bias (out)) on
 * x (B, in, T, 1) -> (B, out, T, 1), as conv2d with a (out, in/G, 1, 1) view. */
static rt_node *conv1x1(rt_graph *g, rt_node *x, const char *name, int64_t in, int64_t out, int64_t groups)
{
    char nw[RT_NAME_MAX], nb[RT_NAME_MAX];
    rt_init u = rt_init_uniform(1.f / sqrtf((float)(in / groups))); /* Conv1d: fan_in = in/groups x 1 */
    rt_graph_scope(g, "%s", name);
    rt_node *w = rt_param(g, rt_nn_name(nw, name, "weight"), RT_DIMS(out, in / groups, 1), u);
    rt_node *b = rt_param(g, rt_nn_name(nb, name, "bias"), RT_DIMS(out), u);
    struct rt_conv2d_args a = {1, 1, 0, 0, (int)groups};
    return rt_conv2d(g, x, rt_reshape(g, w, RT_DIMS(out, in / groups, 1, 1)), b, a);
}

/* The grouped channel MLP on x (B, T, C): channels first, fc1, GELU, a
 * ShuffleNet channel shuffle (channel j of group k, Hc/G a group, moves to
 * j G + k), fc2, back to (B, T, C). */
static rt_node *grouped_mlp(rt_graph *g, const struct mixer_settings *s, rt_node *x, const char *p, int64_t T)
{
    static const int swap12[3] = {0, 2, 1}, swap12_4[4] = {0, 2, 1, 3};
    char n[RT_NAME_MAX], sc[RT_NAME_MAX];
    int64_t C = s->hidden, Hc = s->channel_hidden, G = s->groups;
    rt_nn_name(sc, p, "mlp_channels");
    rt_graph_scope(g, "%s", sc);
    rt_node *h = rt_reshape(g, rt_permute(g, x, 3, swap12), RT_DIMS(-1, C, T, 1));
    h = conv1x1(g, h, rt_nn_name(n, sc, "fc1"), C, Hc, G);
    rt_graph_scope(g, "%s", sc);
    h = rt_reshape(g, rt_gelu(g, h), RT_DIMS(-1, G, Hc / G, T));
    h = rt_reshape(g, rt_permute(g, h, 4, swap12_4), RT_DIMS(-1, Hc, T, 1));
    h = conv1x1(g, h, rt_nn_name(n, sc, "fc2"), Hc, C, G);
    rt_graph_scope(g, "%s", sc);
    return rt_permute(g, rt_reshape(g, h, RT_DIMS(-1, C, T)), 3, swap12);
}

/* One mixer block on x (B, T, C). */
static rt_node *mixer_block(rt_graph *g, const struct mixer_settings *s, rt_node *x, int i, int64_t T)
{
    char p[64], n[RT_NAME_MAX];
    int64_t C = s->hidden, Hc = s->channel_hidden;
    snprintf(p, sizeof p, "blocks.%d", i);
    /* token mixing: across the T frames, per channel */
    rt_node *h = rt_nn_layer_norm(g, x, rt_nn_name(n, p, "norm1"), C, MIXER_LN_EPS);
    rt_graph_scope(g, "%s", p);
    h = rt_transpose(g, h, 1, 2); /* (B, C, T) */
    h = rt_nn_linear(g, h, rt_nn_name(n, p, "mlp_tokens.fc1"), T, s->token_hidden, true);
    rt_graph_scope(g, "%s.mlp_tokens", p);
    h = rt_gelu(g, h);
    h = rt_nn_linear(g, h, rt_nn_name(n, p, "mlp_tokens.fc2"), s->token_hidden, T, true);
    rt_graph_scope(g, "%s", p);
    x = rt_add(g, x, rt_transpose(g, h, 1, 2));
    /* channel mixing: per frame, across the channels */
    h = rt_nn_layer_norm(g, x, rt_nn_name(n, p, "norm2"), C, MIXER_LN_EPS);
    if (s->groups == 1) {
        h = rt_nn_linear(g, h, rt_nn_name(n, p, "mlp_channels.fc1"), C, Hc, true);
        rt_graph_scope(g, "%s.mlp_channels", p);
        h = rt_gelu(g, h);
        h = rt_nn_linear(g, h, rt_nn_name(n, p, "mlp_channels.fc2"), Hc, C, true);
    } else {
        h = grouped_mlp(g, s, h, p, T);
    }
    rt_graph_scope(g, "%s", p);
    x = rt_add(g, x, h);
    snprintf(n, sizeof n, "%s.out", p);
    return rt_tag(x, n);
}

/* Attentive statistics pooling: x (B, T, C) -> (B, 2C). */
static rt_node *attentive_pool(rt_graph *g, const struct mixer_settings *s, rt_node *x, int64_t T)
{
    int64_t C = s->hidden;
    rt_node *a = rt_nn_linear(g, x, "pool.fc1", C, s->att_dim, true);
    rt_graph_scope(g, "pool");
    a = rt_tanh(g, a);
    a = rt_nn_linear(g, a, "pool.fc2", s->att_dim, s->channel_att ? C : 1, true);
    rt_graph_scope(g, "pool");
    if (s->channel_att) /* softmax over T of (B, T, C) */
        a = rt_transpose(g, rt_softmax(g, rt_transpose(g, a, 1, 2)), 1, 2);
    else /* (B, T, 1) -> weights (B, T) shared by the channels */
        a = rt_softmax(g, rt_reshape(g, a, RT_DIMS(-1, T)));
    return rt_tag(rt_attn_stats_pool(g, x, a, MIXER_POOL_EPS), "pooled");
}

static rt_node *mixer_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct mixer_settings *s = m->settings;
    int64_t T = mixer_frames(m, s), F = m->in_shape[!s->mel_first], E = s->embed_dim;
    if (s->mel_first) x = rt_transpose(g, x, 1, 2); /* (B, F, T) -> (B, T, F) */
    rt_node *h = rt_tag(rt_nn_linear(g, x, "stem", F, s->hidden, true), "embed");
    for (int i = 0; i < (int)s->blocks; i++) h = mixer_block(g, s, h, i, T);
    h = rt_nn_layer_norm(g, h, "norm", s->hidden, MIXER_LN_EPS);
    h = attentive_pool(g, s, h, T);
    rt_node *e = rt_nn_linear(g, h, "embedding", 2 * s->hidden, E, true);
    if (s->embedding_bn) e = rt_nn_batch_norm(g, e, "embedding_bn", E, MIXER_BN_EPS, MIXER_BN_MOMENTUM);
    rt_tag(e, "embedding");
    if (m->task == RT_TASK_EMBEDDING) /* a node has one tag: the output is a copy of the embedding */
        return rt_reshape(g, e, RT_DIMS(-1, E));
    return rt_nn_linear(g, e, "head", E, m->num_outputs, true);
}

const struct rt_arch rt_arch_mixer = {.name = "mixer", .parse = mixer_parse, .build = mixer_build};
