/*
 * graph.c - building, planning and running a static graph (see graph.h).
 *
 * Build: nodes are appended in topological order (inputs always exist
 * before the node that reads them); each op's check infers the output shape.
 * Plan: one arena for activations (+ op saved scratch), one for gradients
 * (+ op saved-gradient scratch) and one workspace, sized here, never in a
 * step. Forward runs nodes in order; backward zeroes the gradient arena,
 * seeds the output's gradient and runs nodes in reverse.
 */
#include "core/graph.h"

#include "core/op_impl.h"

#include <omp.h>
#include <stdarg.h>
#include <string.h>

#define ALIGN_FLOATS 16 /* 64 bytes */

static size_t align_up(size_t n) { return (n + ALIGN_FLOATS - 1) & ~(size_t)(ALIGN_FLOATS - 1); }

rt_graph *rt_graph_new(rt_params *params)
{
    if (rt_ops_check_table() != RT_OK) return NULL;
    if (!params) {
        rt_error(RT_ERR_ARG, "graph: no parameter store");
        return NULL;
    }
    rt_graph *g = calloc(1, sizeof *g);
    if (!g) {
        rt_error(RT_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->params = params;
    g->training = true;
    return g;
}

void rt_graph_free(rt_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) free(g->nodes[i]);
    free(g->nodes);
    rt_free_aligned(g->act);
    rt_free_aligned(g->grads);
    rt_free_aligned(g->work);
    free(g->on_path);
    free(g->skip);
    free(g->prof);
    free(g);
}

rt_status rt_graph_status(const rt_graph *g)
{
    if (g->status != RT_OK) rt_error(g->status, "%s", g->err);
    return g->status;
}

void rt_graph_scope(rt_graph *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->scope, sizeof g->scope, fmt, ap);
    va_end(ap);
}

const char *rt_node_desc(const rt_node *n, char *buf, size_t len)
{
    if (n->tag[0])
        snprintf(buf, len, "%s #%d '%s'", rt_op_name(n->op), n->id, n->tag);
    else if (n->label[0])
        snprintf(buf, len, "%s #%d in '%s'", rt_op_name(n->op), n->id, n->label);
    else
        snprintf(buf, len, "%s #%d", rt_op_name(n->op), n->id);
    return buf;
}

static void graph_fail(rt_graph *g, rt_status s, const char *msg)
{
    if (g->status != RT_OK) return; /* keep the first error */
    g->status = s;
    snprintf(g->err, sizeof g->err, "%s", msg);
    rt_error(s, "%s", g->err);
}

static rt_node *node_new(rt_graph *g, int op)
{
    if (g->planned) {
        graph_fail(g, RT_ERR_ARG, "graph: node added after rt_graph_plan()");
        return NULL;
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 256;
        rt_node **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            graph_fail(g, RT_ERR_NOMEM, "graph: out of memory");
            return NULL;
        }
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    rt_node *n = calloc(1, sizeof *n);
    if (!n) {
        graph_fail(g, RT_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    n->op = op;
    n->id = g->n_nodes;
    n->param = -1;
    n->out.dtype = RT_F32;
    snprintf(n->label, sizeof n->label, "%s", g->scope);
    g->nodes[g->n_nodes++] = n;
    return n;
}

/* Largest tensor a graph accepts: 2^40 elements (products of dims are checked
 * before they could overflow; byte sizes then fit in size_t). */
#define MAX_NUMEL ((int64_t)1 << 40)

static bool numel_ok(int ndim, const int64_t *shape)
{
    int64_t p = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || p > MAX_NUMEL / shape[i]) return false;
        p *= shape[i];
    }
    return true;
}

void rt_node_set_shape(rt_node *n, int ndim, const int64_t *shape)
{
    RT_ASSERT(ndim >= 0 && ndim <= RT_MAX_DIMS);
    n->out.ndim = ndim;
    for (int i = 0; i < ndim; i++) n->out.shape[i] = shape[i];
}

rt_status rt_check_fail(const rt_node *n, const char *fmt, ...)
{
    char desc[160], msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rt_error(RT_ERR_SHAPE, "%s: %s", rt_node_desc(n, desc, sizeof desc), msg);
}

rt_node *rt_graph_add(rt_graph *g, int op, int n_in, rt_node *const *in, const void *args, size_t args_size)
{
    if (!g || g->status != RT_OK) return NULL;
    RT_ASSERT(op > RT_OP_PARAM && op < RT_OP_COUNT);
    RT_ASSERT(n_in >= 0 && n_in <= RT_MAX_INPUTS && args_size <= RT_ARGS_BYTES);
    for (int i = 0; i < n_in; i++)
        if (!in[i]) return NULL; /* an optional input is dropped by the builder, not passed NULL */
    rt_node *n = node_new(g, op);
    if (!n) return NULL;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        n->requires_grad |= in[i]->requires_grad;
    }
    if (args_size) memcpy(n->args, args, args_size);
    rt_status s = rt_op_table[op].check(g, n);
    if (s == RT_OK && !numel_ok(n->out.ndim, n->out.shape))
        s = rt_check_fail(n, "output has no elements or more than 2^40");
    if (s != RT_OK) {
        graph_fail(g, s, rt_errmsg());
        return NULL;
    }
    return n;
}

static bool shape_ok(rt_graph *g, const char *name, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > RT_MAX_DIMS) {
        char m[200];
        snprintf(m, sizeof m, "'%s': %d dimensions (1 to %d)", name, ndim, RT_MAX_DIMS);
        graph_fail(g, RT_ERR_SHAPE, m);
        return false;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) {
            char m[200];
            snprintf(m, sizeof m, "'%s': dimension %d is %lld", name, i, (long long)shape[i]);
            graph_fail(g, RT_ERR_SHAPE, m);
            return false;
        }
    if (!numel_ok(ndim, shape)) {
        char m[200];
        snprintf(m, sizeof m, "'%s': more than 2^40 elements", name);
        graph_fail(g, RT_ERR_SHAPE, m);
        return false;
    }
    return true;
}

rt_node *rt_input(rt_graph *g, const char *name, int ndim, const int64_t *shape)
{
    if (!g || g->status != RT_OK || !shape_ok(g, name, ndim, shape)) return NULL;
    rt_node *n = node_new(g, RT_OP_INPUT);
    if (!n) return NULL;
    rt_node_set_shape(n, ndim, shape);
    snprintf(n->tag, sizeof n->tag, "%s", name);
    return n;
}

static rt_node *leaf_param(rt_graph *g, const char *name, int ndim, const int64_t *shape, rt_init init,
                           enum rt_param_kind kind)
{
    int idx;
    if (!g || g->status != RT_OK || !shape_ok(g, name, ndim, shape)) return NULL;
    if (rt_params_declare(g->params, name, kind, ndim, shape, init, &idx) != RT_OK) {
        graph_fail(g, RT_ERR_SHAPE, rt_errmsg());
        return NULL;
    }
    rt_node *n = node_new(g, RT_OP_PARAM);
    if (!n) return NULL;
    rt_node_set_shape(n, ndim, shape);
    n->param = idx;
    n->requires_grad = kind == RT_PARAM && !g->params->views[idx].frozen;
    snprintf(n->label, sizeof n->label, "%s", name);
    return n;
}

rt_node *rt_param(rt_graph *g, const char *name, int ndim, const int64_t *shape, rt_init init)
{
    return leaf_param(g, name, ndim, shape, init, RT_PARAM);
}

rt_node *rt_buffer(rt_graph *g, const char *name, int ndim, const int64_t *shape, rt_init init)
{
    return leaf_param(g, name, ndim, shape, init, RT_BUFFER);
}

void rt_input_requires_grad(rt_node *n)
{
    RT_ASSERT(n && n->op == RT_OP_INPUT);
    n->requires_grad = true;
}

rt_node *rt_tag(rt_node *n, const char *tag)
{
    if (n) snprintf(n->tag, sizeof n->tag, "%s", tag);
    return n;
}

rt_node *rt_graph_tap(const rt_graph *g, const char *tag)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i]->tag, tag)) return g->nodes[i];
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == RT_OP_PARAM && !strcmp(g->nodes[i]->label, tag)) return g->nodes[i];
    return NULL;
}

/* ---- planning ---- */

struct block { size_t off, size; int end; };

/* First-fit offset for `size` floats among live blocks (sorted by offset). */
static size_t first_fit(const struct block *live, int n_live, size_t size)
{
    size_t off = 0;
    for (int i = 0; i < n_live; i++) {
        if (live[i].off >= off + size) break;
        if (live[i].off + live[i].size > off) off = live[i].off + live[i].size;
    }
    return off;
}

/* Offsets (in floats) of each node's [out | saved] block. Training keeps all
 * blocks; inference frees a block after its last reader and lays out no
 * block for the nodes flagged in skip (NULL: none). Returns the total. */
static size_t plan_act(rt_graph *g, size_t *off, bool reuse, const unsigned char *skip)
{
    int n = g->n_nodes;
    int *last = malloc((size_t)n * sizeof *last);
    struct block *live = malloc((size_t)n * sizeof *live);
    size_t total = 0;
    if (!last || !live) {
        free(last);
        free(live);
        return (size_t)-1;
    }
    for (int i = 0; i < n; i++) {
        rt_node *nd = g->nodes[i];
        /* Inputs, tapped nodes and the last node stay live to the end. */
        last[i] = (!reuse || nd->op == RT_OP_INPUT || nd->tag[0] || i == n - 1) ? n : i;
    }
    for (int i = 0; i < n; i++) {
        const rt_node *nd = g->nodes[i];
        if (skip && skip[i]) continue;
        for (int j = 0; j < nd->n_in; j++) {
            int k = nd->in[j]->id;
            if (last[k] < i) last[k] = i;
        }
        if (nd->fuse_res && last[nd->fuse_res->id] < i) last[nd->fuse_res->id] = i;
    }
    int n_live = 0;
    for (int i = 0; i < n; i++) {
        rt_node *nd = g->nodes[i];
        if (nd->op == RT_OP_PARAM || (skip && skip[i])) continue;
        size_t size = align_up((size_t)rt_numel(nd)) + align_up(nd->n_saved);
        size_t o = first_fit(live, n_live, size);
        off[i] = o;
        if (o + size > total) total = o + size;
        /* insert sorted by offset */
        int p = n_live;
        while (p > 0 && live[p - 1].off > o) {
            live[p] = live[p - 1];
            p--;
        }
        live[p] = (struct block){o, size, last[i]};
        n_live++;
        /* After node i runs, blocks whose last reader is i are free again. */
        int w = 0;
        for (int b = 0; b < n_live; b++)
            if (live[b].end > i) live[w++] = live[b];
        n_live = w;
    }
    free(last);
    free(live);
    return total;
}

/* Point the parameter leaves into the store (again, after the store grew). */
static void bind_params(rt_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        if (n->op != RT_OP_PARAM) continue;
        const rt_param_view *v = &g->params->views[n->param];
        n->out.data = rt_params_data(g->params, v);
        n->grad = (g->plan == RT_PLAN_TRAIN && n->requires_grad) ? rt_params_gradv(g->params, v) : NULL;
    }
    g->params_gen = g->params->gen;
}

rt_status rt_graph_plan(rt_graph *g, enum rt_plan plan)
{
    if (g->status != RT_OK) return rt_graph_status(g);
    if (g->planned) return rt_error(RT_ERR_ARG, "graph: already planned");
    if (g->n_nodes == 0) return rt_error(RT_ERR_ARG, "graph: no nodes");
    rt_status s = rt_params_alloc(g->params);
    if (s == RT_OK && plan == RT_PLAN_TRAIN) s = rt_params_alloc_grad(g->params);
    if (s != RT_OK) return s;
    size_t *off = malloc((size_t)g->n_nodes * sizeof *off);
    int *into = malloc((size_t)g->n_nodes * sizeof *into);
    g->skip = plan == RT_PLAN_TRAIN ? NULL : malloc((size_t)g->n_nodes);
    size_t act = 0, grads = 0, work = 0;
    if (!off || !into || (plan != RT_PLAN_TRAIN && !g->skip)) goto nomem;
    for (int i = 0; i < g->n_nodes; i++) into[i] = -1;
    /* inference: fusions, and nothing the output (or a kept tap) does not need */
    if (g->skip && (s = rt_graph_fuse(g, plan == RT_PLAN_INFER_TAPS, g->skip, into)) != RT_OK) goto fail;
    act = plan_act(g, off, plan != RT_PLAN_TRAIN, g->skip);
    if (act == (size_t)-1) goto nomem;
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        if (n->n_work > work && !(g->skip && g->skip[i])) work = n->n_work;
        if (plan == RT_PLAN_TRAIN && n->requires_grad && n->op != RT_OP_PARAM)
            grads += align_up((size_t)rt_numel(n)) + align_up(n->n_saved_grad);
    }
    g->act = rt_alloc_aligned(act * sizeof(float));
    g->grads = plan == RT_PLAN_TRAIN ? rt_alloc_aligned(grads * sizeof(float)) : NULL;
    g->work = rt_alloc_aligned(work * sizeof(float));
    g->on_path = calloc((size_t)g->n_nodes, 1);
    if (!g->act || !g->work || !g->on_path || (plan == RT_PLAN_TRAIN && !g->grads)) {
        rt_free_aligned(g->act);
        rt_free_aligned(g->grads);
        rt_free_aligned(g->work);
        free(g->on_path);
        g->act = g->grads = g->work = NULL;
        g->on_path = NULL;
        s = rt_error(RT_ERR_NOMEM, "graph: cannot allocate %zu MB of activations",
                     (act + grads + work) * sizeof(float) >> 20);
        goto fail;
    }
    g->act_floats = act;
    g->grad_floats = grads;
    g->work_floats = work;
    size_t go = 0;
    g->plan = plan;
    bind_params(g);
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        if (n->op == RT_OP_PARAM) continue;
        if (g->skip && g->skip[i]) { /* not computed: no data; fused away: its producer's, set below */
            n->out.data = NULL;
            n->saved = NULL;
            continue;
        }
        n->out.data = g->act + off[i];
        n->saved = n->n_saved ? g->act + off[i] + align_up((size_t)rt_numel(n)) : NULL;
        if (plan == RT_PLAN_TRAIN && n->requires_grad) {
            n->grad = g->grads + go;
            go += align_up((size_t)rt_numel(n));
            n->saved_grad = n->n_saved_grad ? g->grads + go : NULL;
            go += align_up(n->n_saved_grad);
        }
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (into[i] >= 0) g->nodes[i]->out.data = g->nodes[into[i]]->out.data;
    free(off);
    free(into);
    g->planned = true;
    return RT_OK;
nomem:
    s = rt_error(RT_ERR_NOMEM, "graph: out of memory while planning");
fail:
    free(off);
    free(into);
    free(g->skip);
    g->skip = NULL;
    return s;
}

void rt_graph_set_training(rt_graph *g, bool training) { g->training = training; }

void rt_graph_set_fusion(rt_graph *g, bool on) { g->no_fuse = !on; }

size_t rt_graph_act_bytes(const rt_graph *g) { return (g->act_floats + g->work_floats) * sizeof(float); }
size_t rt_graph_grad_bytes(const rt_graph *g) { return g->grad_floats * sizeof(float); }

rt_status rt_graph_profile(rt_graph *g, bool on)
{
    free(g->prof);
    g->prof = on ? calloc(2 * (size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *g->prof) : NULL;
    return on && !g->prof ? rt_error(RT_ERR_NOMEM, "graph: out of memory") : RT_OK;
}

static double now_s(void) { return omp_get_wtime(); }

rt_status rt_graph_forward(rt_graph *g)
{
    if (!g->planned) return rt_error(RT_ERR_ARG, "graph: forward before rt_graph_plan()");
    if (g->params_gen != g->params->gen) bind_params(g);
    for (int i = 0; i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        if (g->skip && g->skip[i]) continue;
        double t0 = g->prof ? now_s() : 0;
        rt_op_table[n->op].forward(g, n);
        if (g->prof) g->prof[2 * i] += now_s() - t0;
    }
    return RT_OK;
}

static rt_status backward_from(rt_graph *g, rt_node *out, const float *dout)
{
    if (!g->planned || g->plan != RT_PLAN_TRAIN)
        return rt_error(RT_ERR_ARG, "graph: backward needs a graph planned with RT_PLAN_TRAIN");
    if (g->params_gen != g->params->gen) bind_params(g);
    if (!out->requires_grad || !out->grad) {
        char d[160];
        return rt_error(RT_ERR_ARG, "graph: backward from %s, which depends on no trainable value",
                        rt_node_desc(out, d, sizeof d));
    }
    memset(g->grads, 0, g->grad_floats * sizeof(float));
    int64_t n_out = rt_numel(out);
    for (int64_t i = 0; i < n_out; i++) out->grad[i] = dout ? dout[i] : 1.0f;
    /* Only ancestors of `out` get a nonzero gradient: skip the rest. */
    memset(g->on_path, 0, (size_t)g->n_nodes);
    g->on_path[out->id] = 1;
    for (int i = out->id; i >= 0; i--) {
        rt_node *n = g->nodes[i];
        if (!g->on_path[i]) continue;
        for (int j = 0; j < n->n_in; j++) g->on_path[n->in[j]->id] = 1;
        if (n->grad && n->op > RT_OP_PARAM) {
            double t0 = g->prof ? now_s() : 0;
            rt_op_table[n->op].backward(g, n);
            if (g->prof) g->prof[2 * i + 1] += now_s() - t0;
        }
    }
    return RT_OK;
}

rt_status rt_graph_backward(rt_graph *g, rt_node *loss)
{
    if (rt_numel(loss) != 1) {
        char d[160];
        return rt_error(RT_ERR_SHAPE, "graph: backward from %s, which is not a scalar", rt_node_desc(loss, d, sizeof d));
    }
    return backward_from(g, loss, NULL);
}

rt_status rt_graph_backward_seed(rt_graph *g, rt_node *out, const float *dout)
{
    return backward_from(g, out, dout);
}
