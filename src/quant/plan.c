/*
 * plan.c - the default storage format of each tensor at 32/16/8/4 bits and
 * its size in bytes (see plan.h).
 */
#include "quant/plan.h"

#include "core/ops.h"

#include <fnmatch.h>

const char *rt_qfmt_name(enum rt_qfmt f)
{
    static const char *const names[] = {"f32", "f16", "int8-row", "q4-block32"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

size_t rt_qfmt_bytes(enum rt_qfmt f, const rt_param_view *v)
{
    size_t n = v->numel, rows = v->ndim ? (size_t)v->shape[0] : 1;
    switch (f) {
    case RT_QFMT_F32: return 4 * n;
    case RT_QFMT_F16: return 2 * n;
    case RT_QFMT_I8_ROW: return n + 4 * rows;
    case RT_QFMT_Q4_BLOCK32: return n / RT_Q4_BLOCK * RT_Q4_BLOCK_BYTES;
    }
    return 4 * n;
}

/* The parameter node of view `view` in g, or NULL. */
static const rt_node *param_node(const rt_graph *g, int view)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == RT_OP_PARAM && g->nodes[i]->param == view) return g->nodes[i];
    return NULL;
}

/* Is x the parameter p, or p seen through reshapes, transposes and permutes
 * (a Conv1d weight (out, in, 1) reshaped for conv2d is still p)? */
static bool is_view_of(const rt_node *x, const rt_node *p)
{
    while (x != p && (x->op == RT_OP_RESHAPE || x->op == RT_OP_TRANSPOSE || x->op == RT_OP_PERMUTE)) x = x->in[0];
    return x == p;
}

/* The next node after `after` with MACs that takes p as a weight (any input but the first), or -1. */
static int weight_consumer(const rt_graph *g, const rt_node *p, int after)
{
    for (int i = after + 1; i < g->n_nodes; i++) {
        const rt_node *n = g->nodes[i];
        if (!rt_op_table[n->op].macs) continue;
        for (int j = 1; j < n->n_in; j++)
            if (is_view_of(n->in[j], p)) return i;
    }
    return -1;
}

bool rt_quant_is_matrix_weight(const rt_graph *g, int view)
{
    const rt_param_view *v = &g->params->views[view];
    if (v->kind != RT_PARAM || v->ndim < 2) return false;
    const rt_node *p = param_node(g, view);
    return p && weight_consumer(g, p, -1) >= 0;
}

rt_status rt_quant_plan_default(const rt_graph *g, int bits, enum rt_qfmt *fmt)
{
    if (bits != 32 && bits != 16 && bits != 8 && bits != 4)
        return rt_error(RT_ERR_ARG, "quantization: %d bits is not one of 32, 16, 8, 4", bits);
    const rt_params *p = g->params;
    /* the final layer: the last node with MACs */
    int last = -1;
    for (int i = g->n_nodes - 1; i >= 0 && last < 0; i--)
        if (rt_op_table[g->nodes[i]->op].macs) last = i;
    for (int i = 0; i < p->n_views; i++) {
        const rt_param_view *v = &p->views[i];
        fmt[i] = bits == 16 ? RT_QFMT_F16 : RT_QFMT_F32;
        if (bits > 8 || !rt_quant_is_matrix_weight(g, i)) continue;
        const rt_node *pn = param_node(g, i);
        bool final = false;
        for (int c = weight_consumer(g, pn, -1); c >= 0; c = weight_consumer(g, pn, c))
            if (c == last) final = true;
        if (final) continue;
        int64_t cols = (int64_t)v->numel / v->shape[0];
        fmt[i] = (bits == 4 && cols % RT_Q4_BLOCK == 0) ? RT_QFMT_Q4_BLOCK32 : RT_QFMT_I8_ROW;
    }
    return RT_OK;
}

rt_status rt_quant_plan(const rt_graph *g, int bits, const char *const *keep, int n_keep, enum rt_qfmt *fmt)
{
    rt_status s = rt_quant_plan_default(g, bits, fmt);
    const rt_params *p = g->params;
    for (int k = 0; s == RT_OK && k < n_keep; k++) {
        bool hit = false;
        for (int i = 0; i < p->n_views; i++) {
            if (fnmatch(keep[k], p->views[i].name, 0) || !rt_quant_is_matrix_weight(g, i)) continue;
            hit = true;
            if (fmt[i] == RT_QFMT_I8_ROW || fmt[i] == RT_QFMT_Q4_BLOCK32) fmt[i] = RT_QFMT_F32;
        }
        if (!hit) s = rt_error(RT_ERR_ARG, "--keep '%s': matches no matrix weight of the model", keep[k]);
    }
    return s;
}
