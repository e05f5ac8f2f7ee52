/*
 * k_shape.c - STUB (being written): reshape, transpose, permute, concat, slice, cls_concat.
 */
#include "core/op_impl.h"

rt_node *rt_reshape(rt_graph *g, rt_node *x, int ndim, const int64_t *shape)
{
    return RT_ADD_NODE0(g, RT_OP_RESHAPE, x);
}

rt_status rt_op_reshape_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_reshape_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_reshape_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_transpose(rt_graph *g, rt_node *x, int d0, int d1)
{
    return RT_ADD_NODE0(g, RT_OP_TRANSPOSE, x);
}

rt_status rt_op_transpose_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_transpose_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_transpose_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_permute(rt_graph *g, rt_node *x, int ndim, const int *perm)
{
    return RT_ADD_NODE0(g, RT_OP_PERMUTE, x);
}

rt_status rt_op_permute_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_permute_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_permute_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_concat(rt_graph *g, int n, rt_node *const *xs, int axis)
{
    return RT_ADD_NODE0(g, RT_OP_CONCAT, xs[0]);
}

rt_status rt_op_concat_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_concat_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_concat_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_slice(rt_graph *g, rt_node *x, int axis, int64_t start, int64_t end)
{
    return RT_ADD_NODE0(g, RT_OP_SLICE, x);
}

rt_status rt_op_slice_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_slice_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_slice_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_cls_concat(rt_graph *g, rt_node *x, rt_node *cls)
{
    return RT_ADD_NODE0(g, RT_OP_CLS_CONCAT, x);
}

rt_status rt_op_cls_concat_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_cls_concat_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_cls_concat_backward(rt_graph *g, rt_node *n) { (void)n; }
