/*
 * k_quant.c - integer inference: the qlinear op (a linear layer whose
 * weights are int8 rows or q4 blocks, src/quant/qgemm.h) and integer
 * projections for the fused attention op.
 *
 * Activations are quantised to int8 per row when the node runs (dynamic
 * quantisation, one scale a row), multiplied in integers and scaled back
 * with the bias added. Inference plans only: a model read from a quantized
 * file gets these in rt_model_graph(..., RT_PLAN_INFER) (src/quant/qgraph.c
 * turns its linear nodes into qlinear and gives its attention nodes the
 * integer projections); training graphs keep the float ops.
 * Dims: x (M, K) with M the product of leading dims, w (N, K), y (M, N).
 */
#include "core/op_impl.h"
#include "quant/qgemm.h"

/* bytes of the int8 rows, rounded to keep the scales aligned */
static size_t act_bytes(const rt_qmat *w, int64_t M) { return (rt_qact_bytes(w, M) + 63) / 64 * 64; }

size_t rt_qlinear_work_floats(const struct rt_qmat *w, int64_t M)
{
    return (act_bytes(w, M) + (size_t)M * sizeof(float) + sizeof(float) - 1) / sizeof(float);
}

/* x (M, K) -> y (M, N) = dequant(quant(x)) w^T + b; work: rt_qlinear_work_floats(w, M) floats */
void rt_qlinear_forward(float *y, const float *x, const struct rt_qmat *w, const float *b, int64_t M, int path,
                        float *work)
{
    int8_t *a = (int8_t *)work;
    float *as = (float *)(void *)((char *)work + act_bytes(w, M));
    rt_quant_act(a, as, x, M, w);
    rt_qgemm_on((enum rt_qpath)path, y, a, as, w, b, M);
}

static int64_t leading(const rt_node *n) { return rt_numel(n) / n->out.shape[n->out.ndim - 1]; }

rt_status rt_op_qlinear_check(rt_graph *g, rt_node *n)
{
    char s1[64], s2[64];
    const struct rt_qlinear_args *a = RT_ARGS(n, const struct rt_qlinear_args);
    rt_node *x = n->in[0], *w = n->in[1];
    if (!a->w || w->out.ndim != 2 || w->out.shape[0] != a->w->N || w->out.shape[1] != a->w->K ||
        x->out.shape[x->out.ndim - 1] != a->w->K)
        return rt_check_fail(n, "x %s and weight %s do not fit the integer weights (%lld, %lld)", RT_SHAPE_STR(s1, x),
                             RT_SHAPE_STR(s2, w), a->w ? (long long)a->w->N : 0LL, a->w ? (long long)a->w->K : 0LL);
    if (n->n_in == 3 && (n->in[2]->out.ndim != 1 || n->in[2]->out.shape[0] != a->w->N))
        return rt_check_fail(n, "bias %s does not fit weight %s", RT_SHAPE_STR(s1, n->in[2]), RT_SHAPE_STR(s2, w));
    rt_node_set_shape(n, x->out.ndim, x->out.shape);
    n->out.shape[n->out.ndim - 1] = a->w->N;
    n->n_work = rt_qlinear_work_floats(a->w, leading(x));
    return RT_OK;
}

int64_t rt_op_qlinear_macs(const rt_node *n) { return rt_op_linear_macs(n); }

void rt_op_qlinear_forward(rt_graph *g, rt_node *n)
{
    const struct rt_qlinear_args *a = RT_ARGS(n, const struct rt_qlinear_args);
    rt_node *b = n->n_in == 3 ? n->in[2] : NULL;
    int64_t M = leading(n->in[0]);
    rt_qlinear_forward(rt_data(n), rt_data(n->in[0]), a->w, b ? rt_data(b) : NULL, M, a->path, g->work);
    rt_rows_epilogue(rt_data(n), NULL, n->fuse_res ? rt_data(n->fuse_res) : NULL, M, a->w->N, n->fuse_act);
}

void rt_op_qlinear_backward(rt_graph *g, rt_node *n)
{
    (void)g;
    (void)n;
    RT_ASSERT(!"qlinear has no backward: integer weights are for inference plans only");
}

rt_status rt_node_use_qlinear(rt_graph *g, rt_node *n, const struct rt_qmat *q, int path)
{
    RT_ASSERT(n->op == RT_OP_LINEAR && !g->planned);
    unsigned char saved[RT_ARGS_BYTES];
    memcpy(saved, n->args, sizeof saved);
    memset(n->args, 0, sizeof n->args);
    *RT_ARGS(n, struct rt_qlinear_args) = (struct rt_qlinear_args){.w = q, .path = path};
    n->op = RT_OP_QLINEAR;
    rt_status s = rt_op_qlinear_check(g, n);
    if (s != RT_OK) { /* leave the node as it was */
        n->op = RT_OP_LINEAR;
        memcpy(n->args, saved, sizeof saved);
    }
    return s;
}

rt_status rt_node_use_qattention(rt_graph *g, rt_node *n, const struct rt_qmat *q_qkv, const struct rt_qmat *q_o,
                                 int path)
{
    RT_ASSERT(n->op == RT_OP_ATTENTION && !g->planned);
    const int64_t *s = n->out.shape, M = s[0] * s[1], C = s[2];
    if ((q_qkv && (q_qkv->N != 3 * C || q_qkv->K != C)) || (q_o && (q_o->N != C || q_o->K != C)))
        return rt_check_fail(n, "integer projections do not fit C = %lld", (long long)C);
    struct rt_attention_args *a = RT_ARGS(n, struct rt_attention_args);
    a->q_qkv = q_qkv, a->q_o = q_o, a->qpath = path;
    /* forward needs the activation rows of either projection (x and ctx are both (M, C)) */
    size_t w = 0;
    if (q_qkv) w = rt_qlinear_work_floats(q_qkv, M);
    if (q_o && rt_qlinear_work_floats(q_o, M) > w) w = rt_qlinear_work_floats(q_o, M);
    if (w > n->n_work) n->n_work = w;
    return RT_OK;
}
