/*
 * retort.h - the public API of libretort, in one include.
 *
 * A worked example: a 2-layer MLP, one SGD step.
 *
 *     #include <retort.h>
 *
 *     rt_params *p = rt_params_new();
 *     rt_graph *g = rt_graph_new(p);
 *     rt_node *x = rt_input(g, "x", RT_DIMS(32, 784));
 *     rt_node *h = rt_relu(g, rt_linear(g, x,
 *         rt_param(g, "fc1.weight", RT_DIMS(128, 784), rt_init_uniform(0.0357f)),
 *         rt_param(g, "fc1.bias", RT_DIMS(128), rt_init_zeros())));
 *     rt_node *y = rt_tag(rt_linear(g, h,
 *         rt_param(g, "fc2.weight", RT_DIMS(10, 128), rt_init_uniform(0.088f)), NULL), "logits");
 *     if (rt_graph_plan(g, RT_PLAN_TRAIN) != RT_OK)        // shapes checked, arena planned
 *         fprintf(stderr, "retort: %s\n", rt_errmsg());
 *     rt_params_init(p, 42);                                // deterministic from the seed
 *     memcpy(rt_data(x), batch, sizeof(float) * 32 * 784);
 *     rt_graph_forward(g);
 *     rt_params_zero_grad(p);
 *     rt_graph_backward_seed(g, y, dlogits);                // gradients land in p->grad
 *     for (size_t i = 0; i < p->numel; i++) p->data[i] -= 0.1f * p->grad[i];
 *     rt_graph_free(g); rt_params_free(p);
 *
 * Installed headers live under <prefix>/include/retort/<layer>/; build with
 * `pkg-config --cflags --libs retort`.
 */
#ifndef RETORT_H
#define RETORT_H

#include "core/cpu.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/ops.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "io/fileio.h"
#include "io/safetensors.h"

#endif
