/*
 * graph.h - a static computation graph over flat buffers.
 *
 * A model is built once per batch size into a graph of nodes. Each node has
 * an op, up to RT_MAX_INPUTS inputs, an output tensor, a gradient buffer of
 * the same shape, op-owned `saved` scratch (kept for backward) and op
 * settings in a small fixed `args` field. Parameters are leaves that view
 * the model's flat parameter store (params.h). Shapes are checked when a
 * node is added; the first error is kept in the graph and every later
 * builder call returns NULL, so model code checks once, at rt_graph_plan().
 *
 * rt_graph_plan() lays out all activations in one arena (no malloc in
 * forward or backward): RT_PLAN_TRAIN keeps every activation and gives
 * each node that needs one a gradient. The inference plans reuse memory
 * between nodes whose lifetimes do not overlap and fuse (fuse.c): an
 * activation into the linear before it, a residual add into the linear or
 * attention before it, with results bit for bit those of the unfused ops.
 * RT_PLAN_INFER computes only what the output needs (the node tagged
 * "output" and the last node): other taps, such as the attention maps
 * kept for distillation, are not computed and have no data (NULL).
 * RT_PLAN_INFER_TAPS computes and keeps every tapped node as well (a
 * teacher whose taps a distillation reads).
 *
 *     rt_params *p = rt_params_new();
 *     rt_graph *g = rt_graph_new(p);
 *     rt_node *x = rt_input(g, "x", RT_DIMS(32, 784));
 *     rt_node *w = rt_param(g, "fc.weight", RT_DIMS(10, 784), rt_init_uniform(0.0357f));
 *     rt_node *b = rt_param(g, "fc.bias", RT_DIMS(10), rt_init_zeros());
 *     rt_node *y = rt_tag(rt_linear(g, x, w, b), "logits");
 *     if (rt_graph_plan(g, RT_PLAN_TRAIN) != RT_OK) { puts(rt_errmsg()); ... }
 *     rt_params_init(p, 42);
 *     memcpy(rt_data(x), batch, ...);
 *     rt_graph_forward(g);
 *     rt_params_zero_grad(p);
 *     rt_graph_backward_seed(g, y, dlogits);   // or rt_graph_backward(g, loss)
 */
#ifndef RT_GRAPH_H
#define RT_GRAPH_H

#include "core/error.h"
#include "core/params.h"
#include "core/tensor.h"

#define RT_MAX_INPUTS 8
#define RT_ARGS_BYTES 64
#define RT_LABEL_MAX 64

typedef struct rt_graph rt_graph;
typedef struct rt_node rt_node;

struct rt_node {
    int op;   /* enum rt_op (ops.h) */
    int id;   /* position in the graph; also the node's RNG stream */
    int n_in;
    rt_node *in[RT_MAX_INPUTS];
    rt_tensor out;      /* f32 output; data in the arena (or the parameter store) */
    float *grad;        /* d loss / d out, NULL when not needed */
    float *saved;       /* n_saved floats of op scratch kept for backward */
    float *saved_grad;  /* n_saved_grad floats, zeroed before each backward */
    size_t n_saved, n_saved_grad;
    size_t n_work;      /* floats of temporary workspace needed in forward/backward */
    /* Set by inference-plan fusion (fuse.c) on linear, qlinear and attention
     * nodes: out = act(out) + fuse_res's output, applied by the op. */
    int fuse_act;       /* RT_OP_GELU, RT_OP_RELU, ... or 0 */
    rt_node *fuse_res;  /* residual added last, or NULL */
    bool requires_grad;
    int param;          /* view index for parameter leaves, else -1 */
    char label[RT_LABEL_MAX]; /* scope at creation, for messages */
    char tag[RT_LABEL_MAX];   /* tap name, "" if none */
    _Alignas(8) unsigned char args[RT_ARGS_BYTES];
};

enum rt_plan { RT_PLAN_INFER = 0, RT_PLAN_TRAIN = 1, RT_PLAN_INFER_TAPS = 2 };

struct rt_graph {
    rt_params *params;
    rt_node **nodes;
    int n_nodes, cap_nodes;
    rt_status status;          /* first build error (message in err) */
    char err[512];
    char scope[RT_LABEL_MAX];
    bool planned;
    enum rt_plan plan;
    bool training;             /* train/eval mode: dropout, batch norm */
    bool no_fuse;              /* inference plans without fusions (rt_graph_set_fusion) */
    uint64_t seed;             /* RNG key of the run */
    uint32_t step;             /* RNG step: dropout masks change with it */
    float *act;  size_t act_floats;
    float *grads; size_t grad_floats;
    float *work; size_t work_floats;
    unsigned char *on_path;    /* n_nodes flags: ancestors of the node backward starts from */
    unsigned char *skip;       /* n_nodes flags (inference plans): not computed, no data */
    double *prof;              /* NULL, or 2 x n_nodes seconds (forward, backward) accumulated per node */
    unsigned params_gen;       /* the store's generation the parameter leaves point into */
};

rt_graph *rt_graph_new(rt_params *params);
void rt_graph_free(rt_graph *g);
/* RT_OK, or the first build error (its message is also returned by rt_errmsg()). */
rt_status rt_graph_status(const rt_graph *g);
/* Label later nodes with a scope ("blocks.3.attn") for error messages. */
void rt_graph_scope(rt_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

rt_node *rt_input(rt_graph *g, const char *name, int ndim, const int64_t *shape);
/* A trainable parameter leaf (declared in the store by name). */
rt_node *rt_param(rt_graph *g, const char *name, int ndim, const int64_t *shape, rt_init init);
/* A non-trainable state leaf (batch-norm running statistics). */
rt_node *rt_buffer(rt_graph *g, const char *name, int ndim, const int64_t *shape, rt_init init);
/* Mark an input leaf as needing a gradient (for gradient checks, adversarial inputs). */
void rt_input_requires_grad(rt_node *n);
/* Give a node a tap name; returns n (NULL passes through). */
rt_node *rt_tag(rt_node *n, const char *tag);
/* The node with this tap name (or, failing that, the leaf with this name), or NULL. */
rt_node *rt_graph_tap(const rt_graph *g, const char *tag);

rt_status rt_graph_plan(rt_graph *g, enum rt_plan plan);
void rt_graph_set_training(rt_graph *g, bool training);
/* Fusions in inference plans: on by default; off (before planning) for
 * tests and benchmarks that compare against the unfused ops. */
void rt_graph_set_fusion(rt_graph *g, bool on);
rt_status rt_graph_forward(rt_graph *g);
/* Backward from a scalar node (its gradient seeded with 1). */
rt_status rt_graph_backward(rt_graph *g, rt_node *loss);
/* Backward from any node with the given upstream gradient (numel of out). */
rt_status rt_graph_backward_seed(rt_graph *g, rt_node *out, const float *dout);

static inline float *rt_data(const rt_node *n) { return (float *)n->out.data; }
static inline int64_t rt_numel(const rt_node *n) { return rt_tensor_numel(&n->out); }
/* Time every node's forward and backward into g->prof (bench/ tools; off by
 * default, costs two clock reads a node when on). */
rt_status rt_graph_profile(rt_graph *g, bool on);
/* Bytes of activation (and gradient) memory the plan allocated. */
size_t rt_graph_act_bytes(const rt_graph *g);
size_t rt_graph_grad_bytes(const rt_graph *g);

/* ---- for op implementers ---- */
/* Add a node; runs the op's check (shape inference). NULL on error (recorded in g). */
rt_node *rt_graph_add(rt_graph *g, int op, int n_in, rt_node *const *in, const void *args, size_t args_size);
/* Set a node's output shape (from an op's check). */
void rt_node_set_shape(rt_node *n, int ndim, const int64_t *shape);
/* "linear #12 'blocks.0.mlp.fc1'" - for error messages. */
const char *rt_node_desc(const rt_node *n, char *buf, size_t len);
#define RT_ARGS(n, type) ((type *)(void *)(n)->args)

#endif
