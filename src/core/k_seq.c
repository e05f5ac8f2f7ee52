/*
 * k_seq.c - STUB (being written): lstm, stats_pool, attn_stats_pool.
 */
#include "core/op_impl.h"

rt_node *rt_lstm(rt_graph *g, rt_node *x, rt_node *w_ih, rt_node *w_hh, rt_node *b_ih, rt_node *b_hh)
{
    return RT_ADD_NODE0(g, RT_OP_LSTM, x);
}

rt_status rt_op_lstm_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_lstm_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_lstm_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_stats_pool(rt_graph *g, rt_node *x, float eps)
{
    return RT_ADD_NODE0(g, RT_OP_STATS_POOL, x);
}

rt_status rt_op_stats_pool_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_stats_pool_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_stats_pool_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_attn_stats_pool(rt_graph *g, rt_node *x, rt_node *w, float eps)
{
    return RT_ADD_NODE0(g, RT_OP_ATTN_STATS_POOL, x);
}

rt_status rt_op_attn_stats_pool_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_attn_stats_pool_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_attn_stats_pool_backward(rt_graph *g, rt_node *n) { (void)n; }
