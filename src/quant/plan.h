/*
 * plan.h - which storage format each tensor of a model gets at a given
 * precision, and what it costs in bytes. One rule for the whole toolkit:
 * `retort summary` and `retort compare` count bytes with it, and
 * `retort quantize` writes files by it, so printed sizes are file sizes.
 *
 * Default rule (docs/accounting.md):
 *   32, 16 bits: every parameter and buffer as F32 / F16.
 *   8 bits: each matrix weight (a parameter of ndim >= 2 that feeds a node
 *     with a MAC formula as a weight: linear, conv, attention, LSTM, ...) as
 *     int8, symmetric per output row (dim 0), one F32 scale per row.
 *   4 bits: each matrix weight whose rows have a multiple of 32 values as
 *     q4 blocks (32 weights in 16 bytes, one F16 scale per block: 18 bytes
 *     per 32 weights, 4.5 bits a weight); the others fall back to int8 per row.
 *   Kept in F32 at 8 and 4 bits: biases, norms, embeddings (CLS tokens,
 *   position tables), batch-norm statistics and the final layer (the weights
 *   of the last MAC node before the output).
 *
 *     enum rt_qfmt fmt[p->n_views];
 *     rt_quant_plan_default(g, 4, fmt);
 *     size_t bytes = 0;
 *     for (int i = 0; i < p->n_views; i++) bytes += rt_qfmt_bytes(fmt[i], &p->views[i]);
 */
#ifndef RT_QUANT_PLAN_H
#define RT_QUANT_PLAN_H

#include "core/graph.h"
#include "quant/qgemm.h" /* RT_Q4_BLOCK, RT_Q4_BLOCK_BYTES */

enum rt_qfmt { RT_QFMT_F32 = 0, RT_QFMT_F16, RT_QFMT_I8_ROW, RT_QFMT_Q4_BLOCK32 };

const char *rt_qfmt_name(enum rt_qfmt f);
/* Bytes of view v stored in format f (payload and scales). */
size_t rt_qfmt_bytes(enum rt_qfmt f, const rt_param_view *v);
/* True if view index `view` is a matrix weight of g (see above). */
bool rt_quant_is_matrix_weight(const rt_graph *g, int view);
/* fmt[i] for each view of g's parameter store; bits 32, 16, 8 or 4. */
rt_status rt_quant_plan_default(const rt_graph *g, int bits, enum rt_qfmt *fmt);
/* The default plan, then every view whose name matches one of the n_keep
 * fnmatch(3) patterns (e.g. "blocks.0.*", "*.attn.qkv.weight") kept in F32.
 * A pattern that matches no matrix weight is an error (a typo would
 * otherwise silently quantize what the user meant to keep). */
rt_status rt_quant_plan(const rt_graph *g, int bits, const char *const *keep, int n_keep, enum rt_qfmt *fmt);

#endif
