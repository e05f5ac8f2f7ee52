/*
 * k_attn.c - STUB (being written): attention, attn_map.
 */
#include "core/op_impl.h"

rt_node *rt_attention(rt_graph *g, rt_node *x, rt_node *w_qkv, rt_node *b_qkv, rt_node *w_o, rt_node *b_o, int heads)
{
    return RT_ADD_NODE0(g, RT_OP_ATTENTION, x);
}

rt_status rt_op_attention_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_attention_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_attention_backward(rt_graph *g, rt_node *n) { (void)n; }

rt_node *rt_attention_map(rt_graph *g, rt_node *attn)
{
    return RT_ADD_NODE0(g, RT_OP_ATTN_MAP, attn);
}

rt_status rt_op_attn_map_check(rt_graph *g, rt_node *n) { return rt_check_fail(n, "not implemented yet"); }

void rt_op_attn_map_forward(rt_graph *g, rt_node *n) { (void)n; }

void rt_op_attn_map_backward(rt_graph *g, rt_node *n) { (void)n; }
