/*
 * op_table.c - the op table: one designated-initialiser entry per op.
 * A slot left empty is caught by rt_ops_check_table() at start-up (and by
 * test_graph), and the count by the static assert below.
 */
#include "core/op_impl.h"

#define RT_ENTRY(str, fn)                                                         \
    {                                                                             \
        .name = str, .check = rt_op_##fn##_check, .forward = rt_op_##fn##_forward, \
        .backward = rt_op_##fn##_backward                                         \
    }

#define RT_ENTRY_MACS(str, fn)                                                    \
    {                                                                             \
        .name = str, .check = rt_op_##fn##_check, .forward = rt_op_##fn##_forward, \
        .backward = rt_op_##fn##_backward, .macs = rt_op_##fn##_macs               \
    }

static rt_status leaf_check(rt_graph *g, rt_node *n) { (void)g; (void)n; return RT_OK; }
static void leaf_forward(rt_graph *g, rt_node *n) { (void)g; (void)n; }

const struct rt_op_def rt_op_table[RT_OP_COUNT] = {
    [RT_OP_INPUT] = {.name = "input", .check = leaf_check, .forward = leaf_forward},
    [RT_OP_PARAM] = {.name = "param", .check = leaf_check, .forward = leaf_forward},
    [RT_OP_LINEAR] = RT_ENTRY_MACS("linear", linear),
    [RT_OP_MATMUL] = RT_ENTRY_MACS("matmul", matmul),
    [RT_OP_ADD] = RT_ENTRY("add", add),
    [RT_OP_MUL] = RT_ENTRY("mul", mul),
    [RT_OP_SCALE] = RT_ENTRY("scale", scale),
    [RT_OP_BIAS] = RT_ENTRY("bias", bias),
    [RT_OP_SUM] = RT_ENTRY("sum", sum),
    [RT_OP_MEAN] = RT_ENTRY("mean", mean),
    [RT_OP_GELU] = RT_ENTRY("gelu", gelu),
    [RT_OP_RELU] = RT_ENTRY("relu", relu),
    [RT_OP_RELU6] = RT_ENTRY("relu6", relu6),
    [RT_OP_TANH] = RT_ENTRY("tanh", tanh),
    [RT_OP_SIGMOID] = RT_ENTRY("sigmoid", sigmoid),
    [RT_OP_SOFTMAX] = RT_ENTRY("softmax", softmax),
    [RT_OP_LOG_SOFTMAX] = RT_ENTRY("log_softmax", log_softmax),
    [RT_OP_DROPOUT] = RT_ENTRY("dropout", dropout),
    [RT_OP_GAUSSIAN_SAMPLE] = RT_ENTRY("gaussian_sample", gaussian_sample),
    [RT_OP_L2_NORM] = RT_ENTRY("l2_norm", l2_norm),
    [RT_OP_LAYER_NORM] = RT_ENTRY("layer_norm", layer_norm),
    [RT_OP_BATCH_NORM] = RT_ENTRY("batch_norm", batch_norm),
    [RT_OP_CONV2D] = RT_ENTRY_MACS("conv2d", conv2d),
    [RT_OP_AVG_POOL2D] = RT_ENTRY("avg_pool2d", avg_pool2d),
    [RT_OP_MAX_POOL2D] = RT_ENTRY("max_pool2d", max_pool2d),
    [RT_OP_GLOBAL_AVG_POOL] = RT_ENTRY("global_avg_pool", global_avg_pool),
    [RT_OP_CONV_TRANSPOSE2D] = RT_ENTRY_MACS("conv_transpose2d", conv_transpose2d),
    [RT_OP_RESHAPE] = RT_ENTRY("reshape", reshape),
    [RT_OP_TRANSPOSE] = RT_ENTRY("transpose", transpose),
    [RT_OP_PERMUTE] = RT_ENTRY("permute", permute),
    [RT_OP_CONCAT] = RT_ENTRY("concat", concat),
    [RT_OP_SLICE] = RT_ENTRY("slice", slice),
    [RT_OP_REPEAT] = RT_ENTRY("repeat", repeat),
    [RT_OP_CLS_CONCAT] = RT_ENTRY("cls_concat", cls_concat),
    [RT_OP_ATTENTION] = RT_ENTRY_MACS("attention", attention),
    [RT_OP_ATTN_MAP] = RT_ENTRY("attn_map", attn_map),
    [RT_OP_LSTM] = RT_ENTRY_MACS("lstm", lstm),
    [RT_OP_STATS_POOL] = RT_ENTRY("stats_pool", stats_pool),
    [RT_OP_ATTN_STATS_POOL] = RT_ENTRY_MACS("attn_stats_pool", attn_stats_pool),
    [RT_OP_CROSS_ENTROPY] = RT_ENTRY("cross_entropy", cross_entropy),
    [RT_OP_CROSS_ENTROPY_SOFT] = RT_ENTRY("cross_entropy_soft", cross_entropy_soft),
    [RT_OP_MSE_LOSS] = RT_ENTRY("mse_loss", mse_loss),
    [RT_OP_L1_LOSS] = RT_ENTRY("l1_loss", l1_loss),
    [RT_OP_CCC_LOSS] = RT_ENTRY("ccc_loss", ccc_loss),
    [RT_OP_AAM_SOFTMAX] = RT_ENTRY("aam_softmax", aam_softmax),
    [RT_OP_GAUSSIAN_KL] = RT_ENTRY("gaussian_kl", gaussian_kl),
    [RT_OP_RESAMPLE_TOKENS] = RT_ENTRY("resample_tokens", resample_tokens),
    [RT_OP_RESIZE2D] = RT_ENTRY("resize2d", resize2d),
    [RT_OP_QLINEAR] = RT_ENTRY_MACS("qlinear", qlinear),
};

_Static_assert(sizeof rt_op_table / sizeof rt_op_table[0] == RT_OP_COUNT, "op table size");
_Static_assert(sizeof(struct rt_matmul_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_norm_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_conv2d_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_pool2d_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_convt2d_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_reshape_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_permute_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_slice_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_repeat_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_attention_args) <= RT_ARGS_BYTES, "args");
_Static_assert(sizeof(struct rt_qlinear_args) <= RT_ARGS_BYTES, "args");

rt_status rt_ops_check_table(void)
{
    for (int i = 0; i < RT_OP_COUNT; i++) {
        const struct rt_op_def *d = &rt_op_table[i];
        if (!d->name || !d->check || !d->forward || (i > RT_OP_PARAM && !d->backward))
            return rt_error(RT_ERR_ARG, "op table: slot %d (%s) is incomplete", i, d->name ? d->name : "unnamed");
        for (int j = 0; j < i; j++)
            if (!strcmp(rt_op_table[j].name, d->name))
                return rt_error(RT_ERR_ARG, "op table: name '%s' used twice", d->name);
    }
    return RT_OK;
}

rt_status rt_op_from_name(const char *name, enum rt_op *op)
{
    for (int i = 0; i < RT_OP_COUNT; i++)
        if (rt_op_table[i].name && !strcmp(rt_op_table[i].name, name)) {
            *op = (enum rt_op)i;
            return RT_OK;
        }
    return rt_error(RT_ERR_UNKNOWN, "unknown op '%s'", name);
}

int64_t rt_node_macs(const rt_node *n)
{
    int64_t (*f)(const rt_node *) = rt_op_table[n->op].macs;
    return f ? f(n) : 0;
}

const char *rt_op_name(int op)
{
    return (op >= 0 && op < RT_OP_COUNT && rt_op_table[op].name) ? rt_op_table[op].name : "?";
}
