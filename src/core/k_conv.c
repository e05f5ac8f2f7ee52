/*
 * k_conv.c - STUB (being written): conv2d, avg_pool2d, max_pool2d, global_avg_pool.
 */
#include "core/op_impl.h"

rt_node *rt_conv2d(rt_graph *g, rt_node *x, rt_node *w, rt_node *b, struct rt_conv2d_args a)
{
    return RT_ADD_NODE0(g, RT_OP_CONV2D, x);
}

rt_status rt_op_conv2d_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_conv2d_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_conv2d_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_avg_pool2d(rt_graph *g, rt_node *x, struct rt_pool2d_args a)
{
    return RT_ADD_NODE0(g, RT_OP_AVG_POOL2D, x);
}

rt_status rt_op_avg_pool2d_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_avg_pool2d_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_avg_pool2d_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_max_pool2d(rt_graph *g, rt_node *x, struct rt_pool2d_args a)
{
    return RT_ADD_NODE0(g, RT_OP_MAX_POOL2D, x);
}

rt_status rt_op_max_pool2d_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_max_pool2d_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_max_pool2d_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_global_avg_pool(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_GLOBAL_AVG_POOL, x);
}

rt_status rt_op_global_avg_pool_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_global_avg_pool_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_global_avg_pool_backward(rt_graph *g, rt_node *n) { (void)n; }
