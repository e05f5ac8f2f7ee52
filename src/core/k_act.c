/*
 * k_act.c - STUB (being written): gelu, relu, tanh, sigmoid, softmax, log_softmax, dropout, gaussian_sample, l2_norm.
 */
#include "core/op_impl.h"

rt_node *rt_gelu(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_GELU, x);
}

rt_status rt_op_gelu_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_gelu_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_gelu_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_relu(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_RELU, x);
}

rt_status rt_op_relu_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_relu_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_relu_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_tanh(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_TANH, x);
}

rt_status rt_op_tanh_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_tanh_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_tanh_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_sigmoid(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_SIGMOID, x);
}

rt_status rt_op_sigmoid_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_sigmoid_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_sigmoid_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_softmax(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_SOFTMAX, x);
}

rt_status rt_op_softmax_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_softmax_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_softmax_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_log_softmax(rt_graph *g, rt_node *x)
{
    return RT_ADD_NODE0(g, RT_OP_LOG_SOFTMAX, x);
}

rt_status rt_op_log_softmax_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_log_softmax_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_log_softmax_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_dropout(rt_graph *g, rt_node *x, float p)
{
    return RT_ADD_NODE0(g, RT_OP_DROPOUT, x);
}

rt_status rt_op_dropout_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_dropout_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_dropout_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_gaussian_sample(rt_graph *g, rt_node *mu, rt_node *logvar)
{
    return RT_ADD_NODE0(g, RT_OP_GAUSSIAN_SAMPLE, mu, logvar);
}

rt_status rt_op_gaussian_sample_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_gaussian_sample_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_gaussian_sample_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_l2_norm(rt_graph *g, rt_node *x, float eps)
{
    return RT_ADD_NODE0(g, RT_OP_L2_NORM, x);
}

rt_status rt_op_l2_norm_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_l2_norm_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_l2_norm_backward(rt_graph *g, rt_node *n) { (void)n; }
