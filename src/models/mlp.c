/*
 * mlp.c - "mlp": a multi-layer perceptron over the flattened input.
 *
 * Fields: "hidden": [sizes...] (may be empty), "activation": "relu" | "gelu"
 * | "tanh" (default relu), "dropout": p after each hidden activation.
 * Names: fc1 .. fcN for hidden layers, "head" for the output layer
 * (PyTorch: nn.Linear modules with those attribute names).
 */
#include "models/model.h"

#include "core/ops.h"
#include "nn/nn.h"

#include <string.h>

#define MLP_MAX_LAYERS 16

struct mlp_settings {
    int n_hidden;
    int64_t hidden[MLP_MAX_LAYERS];
    int act; /* 0 relu, 1 gelu, 2 tanh */
    double dropout;
};

static rt_status mlp_parse(rt_cfg *c, rt_model *m, void **out)
{
    static const char *const acts[] = {"relu", "gelu", "tanh", NULL};
    struct mlp_settings *s = calloc(1, sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
    const char *act = "relu";
    rt_cfg_int_array(c, c->root, "hidden", false, 1, 1 << 20, MLP_MAX_LAYERS, s->hidden, &s->n_hidden);
    rt_cfg_str(c, c->root, "activation", false, acts, &act);
    rt_cfg_num(c, c->root, "dropout", false, 0.0, 0.99, &s->dropout);
    for (int i = 0; acts[i]; i++)
        if (!strcmp(act, acts[i])) s->act = i;
    if (c->status == RT_OK && m->task != RT_TASK_CLASSIFICATION && m->task != RT_TASK_REGRESSION)
        rt_cfg_fail(c, "task", "mlp supports classification and regression");
    if (c->status != RT_OK) {
        free(s);
        return c->status;
    }
    *out = s;
    return RT_OK;
}

static rt_node *mlp_build(rt_graph *g, const rt_model *m, rt_node *x)
{
    const struct mlp_settings *s = m->settings;
    if (!x) return NULL;
    int64_t in = 1;
    for (int i = 0; i < m->in_ndim; i++) in *= m->in_shape[i];
    rt_node *h = rt_reshape(g, x, RT_DIMS(x->out.shape[0], in));
    for (int i = 0; i < s->n_hidden; i++) {
        char name[32];
        snprintf(name, sizeof name, "fc%d", i + 1);
        h = rt_nn_linear(g, h, name, in, s->hidden[i], true);
        h = s->act == 0 ? rt_relu(g, h) : s->act == 1 ? rt_gelu(g, h) : rt_tanh(g, h);
        if (s->dropout > 0) h = rt_dropout(g, h, (float)s->dropout);
        rt_tag(h, name);
        in = s->hidden[i];
    }
    rt_tag(h, "pooled");
    return rt_nn_linear(g, h, "head", in, m->num_outputs, true);
}

const struct rt_arch rt_arch_mlp = {.name = "mlp", .parse = mlp_parse, .build = mlp_build};
