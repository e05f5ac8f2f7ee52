/*
 * fuse.c - what an inference plan computes, and two fusions.
 *
 * Needed nodes: the roots (the last node, the node tagged "output", inputs,
 * and with keep_taps every tapped node) and their ancestors. The rest (the
 * head-averaged attention maps kept for distillation, in a plain inference)
 * are not computed and get no memory.
 *
 * Fusions, among needed nodes, where the producer has no other reader and
 * no tap of its own:
 *   act(P)      P linear or qlinear, act gelu/relu/relu6/tanh/sigmoid:
 *               P applies the activation to its output rows.
 *   R + P       (or P + R) P linear, qlinear or attention, same shapes, R
 *               computed before P: P adds R to its output rows.
 * The fused-away node (the activation, the add) is not computed; its readers
 * read P instead, its tap moves to P (which then lives to the end, as tapped
 * nodes do), and after planning its data pointer is P's, so a caller holding
 * a tapped node still reads the right values. The last node of the graph is
 * never fused away.
 *
 * Each fused op applies bias, activation and residual to a row in that
 * order (rt_rows_epilogue), the order of the unfused ops, with the same
 * per-element code: results are bit for bit those of the unfused graph
 * (tests/test_graph.c checks it on models).
 */
#include "core/op_impl.h"

#include <stdlib.h>

static bool is_act(int op)
{
    return op == RT_OP_GELU || op == RT_OP_RELU || op == RT_OP_RELU6 || op == RT_OP_TANH || op == RT_OP_SIGMOID;
}

static bool takes_act(const rt_node *p) { return p->op == RT_OP_LINEAR || p->op == RT_OP_QLINEAR; }

static bool takes_res(const rt_node *p) { return takes_act(p) || p->op == RT_OP_ATTENTION; }

/* need[i] = 1 for the roots and every node they read, through inputs and fused residuals. */
static void mark_needed(const rt_graph *g, unsigned char *need, bool keep_taps)
{
    int n = g->n_nodes;
    memset(need, 0, (size_t)n);
    need[n - 1] = 1;
    for (int i = 0; i < n; i++) {
        const rt_node *nd = g->nodes[i];
        if (nd->op == RT_OP_INPUT || !strcmp(nd->tag, "output") || (keep_taps && nd->tag[0])) need[i] = 1;
    }
    for (int i = n - 1; i >= 0; i--) {
        if (!need[i]) continue;
        const rt_node *nd = g->nodes[i];
        for (int j = 0; j < nd->n_in; j++) need[nd->in[j]->id] = 1;
        if (nd->fuse_res) need[nd->fuse_res->id] = 1;
    }
}

/* uses[i]: how many times needed nodes read node i. */
static void count_uses(const rt_graph *g, const unsigned char *need, int *uses)
{
    memset(uses, 0, (size_t)g->n_nodes * sizeof *uses);
    for (int i = 0; i < g->n_nodes; i++) {
        if (!need[i]) continue;
        const rt_node *nd = g->nodes[i];
        for (int j = 0; j < nd->n_in; j++) uses[nd->in[j]->id]++;
        if (nd->fuse_res) uses[nd->fuse_res->id]++;
    }
}

/* p may absorb the one node that reads it: no other reader, no tap. */
static bool absorbable(const rt_node *p, const int *uses) { return uses[p->id] == 1 && !p->tag[0]; }

/* Point every reader of `from` at `to` and move from's tap to `to`. */
static void redirect(rt_graph *g, rt_node *from, rt_node *to)
{
    for (int i = from->id + 1; i < g->n_nodes; i++) {
        rt_node *nd = g->nodes[i];
        for (int j = 0; j < nd->n_in; j++)
            if (nd->in[j] == from) nd->in[j] = to;
        if (nd->fuse_res == from) nd->fuse_res = to;
    }
    memcpy(to->tag, from->tag, sizeof to->tag);
    from->tag[0] = 0;
}

static bool same_shape(const rt_node *a, const rt_node *b)
{
    if (a->out.ndim != b->out.ndim) return false;
    for (int k = 0; k < a->out.ndim; k++)
        if (a->out.shape[k] != b->out.shape[k]) return false;
    return true;
}

/* The producer the add node s can absorb into, with the other input in *r; NULL if none. */
static rt_node *residual_of(const rt_node *s, const int *uses, rt_node **r)
{
    if (s->n_in != 2 || !same_shape(s->in[0], s) || !same_shape(s->in[1], s)) return NULL;
    for (int k = 1; k >= 0; k--) { /* the branch is usually the second operand: x + f(x) */
        rt_node *p = s->in[k], *o = s->in[1 - k];
        if (p != o && takes_res(p) && !p->fuse_res && absorbable(p, uses) && o->id < p->id) {
            *r = o;
            return p;
        }
    }
    return NULL;
}

/* into[] comes in as -1s. */
rt_status rt_graph_fuse(rt_graph *g, bool keep_taps, unsigned char *skip, int *into)
{
    int n = g->n_nodes;
    int *uses = malloc((size_t)n * sizeof *uses);
    if (!uses) return rt_error(RT_ERR_NOMEM, "graph: out of memory while planning");
    mark_needed(g, skip, keep_taps); /* skip[] holds "needed" until the end */
    count_uses(g, skip, uses);
    for (int i = 0; i < (g->no_fuse ? 0 : n - 1); i++) { /* never the last node */
        rt_node *nd = g->nodes[i];
        if (!skip[i] || nd->n_in < 1) continue;
        rt_node *p = nd->in[0], *r = NULL;
        if (is_act(nd->op) && takes_act(p) && !p->fuse_act && !p->fuse_res && absorbable(p, uses))
            p->fuse_act = nd->op;
        else if (nd->op == RT_OP_ADD && (p = residual_of(nd, uses, &r)))
            p->fuse_res = r; /* r keeps its count: p reads it in nd's place */
        else
            continue;
        redirect(g, nd, p);
        uses[p->id] = uses[nd->id]; /* nd's readers read p now */
        into[i] = p->id;
        skip[i] = 0;
    }
    free(uses);
    unsigned char *need = malloc((size_t)n);
    if (!need) return rt_error(RT_ERR_NOMEM, "graph: out of memory while planning");
    mark_needed(g, need, keep_taps);
    for (int i = 0; i < n; i++) skip[i] = into[i] >= 0 ? 2 : !need[i];
    free(need);
    return RT_OK;
}
