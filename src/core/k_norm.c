/*
 * k_norm.c - STUB (being written): layer_norm, batch_norm.
 */
#include "core/op_impl.h"

rt_node *rt_layer_norm(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, float eps)
{
    return RT_ADD_NODE0(g, RT_OP_LAYER_NORM, x);
}

rt_status rt_op_layer_norm_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_layer_norm_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_layer_norm_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_batch_norm(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, rt_node *running_mean, rt_node *running_var, float eps, float momentum)
{
    return RT_ADD_NODE0(g, RT_OP_BATCH_NORM, x);
}

rt_status rt_op_batch_norm_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_batch_norm_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_batch_norm_backward(rt_graph *g, rt_node *n) { (void)n; }
