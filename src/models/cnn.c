/*
 * cnn.c - "cnn": a MobileNetV2-style convolutional network over [C, H, W].
 *
 * Mirrors torchvision.models.MobileNetV2 (InvertedResidual semantics) with
 * the channel table written out instead of width_mult/round_nearest:
 *   stem      conv k x k (stride s, pad (k-1)/2, no bias) + BN + act
 *   blocks    per block i (counted across all stages, 0-based):
 *               expand   1x1 conv in -> in*t + BN + act   (absent when t == 1)
 *               dw       3x3 depthwise conv, stride, pad 1 + BN + act
 *               project  1x1 conv in*t -> out + BN         (linear bottleneck)
 *               + x      when stride == 1 and in == out
 *             a stage {"expand": t, "out": c, "repeat": n, "stride": s} gives
 *             n blocks; only the first has stride s (torchvision's table).
 *   last      optional 1x1 conv + BN + act ("last": channels, 0 = none)
 *   pool      global average pool (B, C)
 *   head      dropout (if > 0), Linear -> num_outputs (logits or values)
 * Convs have no bias; BN eps/momentum default to PyTorch's (1e-5, 0.1).
 *
 * Fields (besides the common ones; "input" must be [C, H, W]):
 *   "stem": {"out": c (required), "kernel": k (3), "stride": s (2)}
 *   "blocks": [{"expand": t, "out": c, "repeat": n (1), "stride": 1|2 (1)}, ...]
 *             (required, at least one entry; expand and out required)
 *   "last": channels (0), "activation": "relu6" (default) | "relu" | "gelu",
 *   "dropout": p before the head fc (0.2, torchvision's default),
 *   "bn_eps": 1e-5, "bn_momentum": 0.1
 * Tasks: classification, regression. The input must keep at least `stride`
 * pixels in each spatial dim before every strided layer (a 1x1 map cannot
 * be downsampled): otherwise "input" is rejected as too small.
 *
 * Parameter names (the twin tests/fixtures/ref/cnn.py; every BN also has
 * running_mean/running_var buffers):
 *   stem.conv.weight, stem.bn.{weight,bias}
 *   blocks.<i>.expand.conv.weight, blocks.<i>.expand.bn.*   (t > 1)
 *   blocks.<i>.dw.conv.weight, blocks.<i>.dw.bn.*
 *   blocks.<i>.project.conv.weight, blocks.<i>.project.bn.*
 *   last.conv.weight, last.bn.*                              (last > 0)
 *   head.fc.{weight,bias}
 * Taps: "embed" (stem output, (B, C, H', W')), "blocks.<i>.out", "pooled".
 *
 * configs/cnn-mini.json is a small MobileNetV2 (about half torchvision's
 * widths, fewer repeats: 0.46 M parameters, 81 M MACs) over [3, 224, 224]
 * with 2 regression outputs: the input `retort features --preset emotion`
 * writes and the head of vit-base-emotion / mobilevit-*-emotion, so it can
 * be distilled from those teachers on the same data with no resampling.
 * configs/fmnist-teacher.json (5.5 M MACs, 0.20 M parameters: twice the
 * 784-128-10 MLP student) is sized to pass 90% Fashion-MNIST test accuracy
 * in 3 epochs (~95 s of forward+backward each at batch 128 on 2 cores).
 */
#include "models/model.h"

#include "core/ops.h"
#include "nn/nn.h"

#include <string.h>

#define CNN_MAX_STAGES 32
#define CNN_MAX_BLOCKS 128
#define CNN_MAX_CH (1 << 16)

enum cnn_act { CNN_RELU6 = 0, CNN_RELU, CNN_GELU };

struct cnn_stage {
    int64_t expand, out, repeat, stride;
};

struct cnn_settings {
    int64_t stem_out, stem_k, stem_stride;
    int n_stages;
    struct cnn_stage st[CNN_MAX_STAGES];
    int64_t last;
    int act;
    double dropout, bn_eps, bn_momentum;
};

static void parse_blocks(rt_cfg *c, struct cnn_settings *s)
{
    const cJSON *arr = rt_cfg_array(c, c->root, "blocks", true);
    if (!arr) return;
    int n = cJSON_GetArraySize(arr), i = 0;
    if (n < 1) {
        rt_cfg_fail(c, "blocks", "needs at least one entry");
        return;
    }
    if (n > CNN_MAX_STAGES) {
        rt_cfg_fail(c, "blocks", "%d entries (at most %d)", n, CNN_MAX_STAGES);
        return;
    }
    int64_t total = 0;
    for (const cJSON *e = arr->child; e && c->status == RT_OK; e = e->next, i++) {
        if (!cJSON_IsObject(e)) {
            char path[32];
            snprintf(path, sizeof path, "blocks[%d]", i);
            rt_cfg_fail(c, path, "expected an object {\"expand\", \"out\", \"repeat\", \"stride\"}");
            return;
        }
        /* errors name "blocks[i].<key>"; rt_cfg_finish rejects other keys */
        struct cnn_stage *st = &s->st[i];
        st->repeat = 1;
        st->stride = 1;
        rt_cfg_int(c, e, "expand", true, 1, 64, &st->expand);
        rt_cfg_int(c, e, "out", true, 1, CNN_MAX_CH, &st->out);
        rt_cfg_int(c, e, "repeat", false, 1, CNN_MAX_BLOCKS, &st->repeat);
        rt_cfg_int(c, e, "stride", false, 1, 2, &st->stride);
        total += st->repeat;
    }
    s->n_stages = n;
    if (c->status == RT_OK && total > CNN_MAX_BLOCKS)
        rt_cfg_fail(c, "blocks", "%lld blocks in all (at most %d)", (long long)total, CNN_MAX_BLOCKS);
}

/* Every strided layer must see at least `stride` pixels per spatial dim. */
static void check_size(rt_cfg *c, const rt_model *m, const struct cnn_settings *s)
{
    int64_t h = m->in_shape[1], w = m->in_shape[2], k = s->stem_k, pad = (k - 1) / 2, b = 0;
    char in[96];
    snprintf(in, sizeof in, "[%lld, %lld, %lld]", (long long)m->in_shape[0], (long long)h, (long long)w);
    if (h + 2 * pad < k || w + 2 * pad < k || h < s->stem_stride || w < s->stem_stride) {
        rt_cfg_fail(c, "input", "%s is too small for the stem (kernel %lld, stride %lld)", in, (long long)k,
                    (long long)s->stem_stride);
        return;
    }
    h = (h + 2 * pad - k) / s->stem_stride + 1;
    w = (w + 2 * pad - k) / s->stem_stride + 1;
    for (int i = 0; i < s->n_stages; i++)
        for (int64_t r = 0; r < s->st[i].repeat; r++, b++) {
            if (r > 0 || s->st[i].stride == 1) continue;
            if (h < 2 || w < 2) {
                rt_cfg_fail(c, "input", "%s is too small for the strides: block %lld (blocks[%d], stride 2) gets a %lldx%lld map",
                            in, (long long)b, i, (long long)h, (long long)w);
                return;
            }
            h = (h - 1) / 2 + 1; /* 3x3, pad 1, stride 2 */
            w = (w - 1) / 2 + 1;
        }
}

static rt_status cnn_parse(rt_cfg *c, rt_model *m, void **out)
{
    static const char *const acts[] = {"relu6", "relu", "gelu", NULL};
    struct cnn_settings *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    const char *act = "relu6";
    s->stem_k = 3;
    s->stem_stride = 2;
    s->dropout = 0.2;
    s->bn_eps = 1e-5;
    s->bn_momentum = 0.1;
    if (m->in_ndim != 3) rt_cfg_fail(c, "input", "cnn needs [C, H, W] (%d dims given)", m->in_ndim);
    if (m->task != RT_TASK_CLASSIFICATION && m->task != RT_TASK_REGRESSION)
        rt_cfg_fail(c, "task", "cnn supports classification and regression");
    const cJSON *stem = rt_cfg_obj(c, c->root, "stem", true);
    rt_cfg_int(c, stem, "out", true, 1, CNN_MAX_CH, &s->stem_out);
    rt_cfg_int(c, stem, "kernel", false, 1, 11, &s->stem_k);
    rt_cfg_int(c, stem, "stride", false, 1, 4, &s->stem_stride);
    parse_blocks(c, s);
    rt_cfg_int(c, c->root, "last", false, 0, CNN_MAX_CH, &s->last);
    rt_cfg_str(c, c->root, "activation", false, acts, &act);
    rt_cfg_num(c, c->root, "dropout", false, 0.0, 0.99, &s->dropout);
    rt_cfg_num(c, c->root, "bn_eps", false, 1e-12, 1.0, &s->bn_eps);
    rt_cfg_num(c, c->root, "bn_momentum", false, 1e-6, 1.0, &s->bn_momentum);
    for (int i = 0; acts[i]; i++)
        if (!strcmp(act, acts[i])) s->act = i;
    if (c->status == RT_OK) check_size(c, m, s);
    if (c->status != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

static rt_node *cnn_act(rt_graph *g, rt_node *x, int act)
{
    return act == CNN_RELU6 ? rt_relu6(g, x) : act == CNN_RELU ? rt_relu(g, x) : rt_gelu(g, x);
}

/* <prefix>.conv (k x k, no bias) + <prefix>.bn, then the activation if `act`. */
static rt_node *conv_bn(rt_graph *g, rt_node *x, const struct cnn_settings *s, const char *prefix, int64_t in,
                        int64_t out, int k, int stride, int groups, bool act)
{
    char cn[RT_NAME_MAX], bn[RT_NAME_MAX];
    x = rt_nn_conv2d(g, x, rt_nn_name(cn, prefix, "conv"), in, out, k, stride, (k - 1) / 2, groups, false);
    x = rt_nn_batch_norm(g, x, rt_nn_name(bn, prefix, "bn"), out, (float)s->bn_eps, (float)s->bn_momentum);
    if (!act) return x;
    rt_graph_scope(g, "%s", prefix);
    return cnn_act(g, x, s->act);
}

/* One inverted residual block (torchvision's InvertedResidual). */
static rt_node *block(rt_graph *g, rt_node *x, const struct cnn_settings *s, int i, int64_t in, int64_t out,
                      int64_t t, int stride)
{
    char p[RT_NAME_MAX];
    int64_t hidden = in * t;
    rt_node *h = x;
    if (t != 1) {
        snprintf(p, sizeof p, "blocks.%d.expand", i);
        h = conv_bn(g, h, s, p, in, hidden, 1, 1, 1, true);
    }
    snprintf(p, sizeof p, "blocks.%d.dw", i);
    h = conv_bn(g, h, s, p, hidden, hidden, 3, stride, (int)hidden, true);
    snprintf(p, sizeof p, "blocks.%d.project", i);
    h = conv_bn(g, h, s, p, hidden, out, 1, 1, 1, false);
    if (stride == 1 && in == out) {
        rt_graph_scope(g, "blocks.%d", i);
        h = rt_add(g, x, h);
    }
    snprintf(p, sizeof p, "blocks.%d.out", i);
    return rt_tag(h, p);
}

static rt_node *cnn_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct cnn_settings *s = m->settings;
    int64_t c = s->stem_out;
    x = conv_bn(g, x, s, "stem", m->in_shape[0], c, (int)s->stem_k, (int)s->stem_stride, 1, true);
    rt_tag(x, "embed");
    int b = 0;
    for (int i = 0; i < s->n_stages; i++) {
        const struct cnn_stage *st = &s->st[i];
        for (int64_t r = 0; r < st->repeat; r++, b++) {
            x = block(g, x, s, b, c, st->out, st->expand, r == 0 ? (int)st->stride : 1);
            c = st->out;
        }
    }
    if (s->last > 0) {
        x = conv_bn(g, x, s, "last", c, s->last, 1, 1, 1, true);
        c = s->last;
    }
    rt_graph_scope(g, "%s", "pool");
    x = rt_tag(rt_global_avg_pool(g, x), "pooled");
    if (s->dropout > 0) {
        rt_graph_scope(g, "%s", "head");
        x = rt_dropout(g, x, (float)s->dropout);
    }
    return rt_nn_linear(g, x, "head.fc", c, m->num_outputs, true);
}

const struct rt_arch rt_arch_cnn = {.name = "cnn", .parse = cnn_parse, .build = cnn_build};
