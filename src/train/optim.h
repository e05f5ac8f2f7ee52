/*
 * optim.h - SGD (momentum, dampening, Nesterov), Adam and AdamW over the flat
 * parameter store, and global gradient-norm clipping.
 *
 *     rt_optim_config c = rt_optim_defaults(RT_OPTIM_ADAMW);
 *     c.weight_decay = 0.05;
 *     c.no_decay_1d = true;                       // biases, norm scales/shifts
 *     c.no_decay[0] = "cls_token"; c.no_decay[1] = "pos_embed";
 *     rt_optim *o;
 *     if (rt_optim_new(&o, params, &c) != RT_OK) ... rt_errmsg() ...
 *     for (int64_t s = 0; s < total; s++) {
 *         rt_params_zero_grad(params);  ...forward, backward...
 *         double norm = rt_grad_clip(params, 1.0);   // pre-clip norm, for the log
 *         rt_optim_step(o, rt_sched_lr(&sched, s));
 *     }
 *     // checkpoint: rt_optim_state(o, i) / rt_optim_state_name(o, i) for
 *     // i < rt_optim_state_count(o), plus rt_optim_steps(o)
 *     rt_optim_free(o);
 *
 * Semantics are torch.optim's (1.13, single-tensor path), op for op in
 * float32 with the scalars computed in double as Python does:
 *   SGD:   d = g + wd p;  b = d (first step) or mom b + (1 - damp) d;
 *          d = d + mom b (Nesterov) or b;  p -= lr d
 *   Adam:  g += wd p (coupled L2);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   AdamW: p *= 1 - lr wd (decoupled, before the update), then Adam without
 *          the L2 term.
 * t counts steps from 1. Only the fused-multiply-add rounding of torch's
 * vectorised kernels differs (a float32 ulp per operation).
 *
 * Weight-decay exclusion (all kinds): a view gets no weight decay when
 * no_decay_1d is set and it has ndim <= 1 (biases, norm weights and biases,
 * scalars), or when a no_decay pattern equals its name or the name ends with
 * "." + pattern ("pos_embed" matches "pos_embed" and "encoder.pos_embed").
 * This is timm's rule (param.ndim <= 1 or name in no_weight_decay()).
 *
 * The update is one pass over the flat buffers: trainable views (frozen ones
 * are skipped, read at every step) are cut into fixed chunks, the chunks run
 * in parallel and every element's arithmetic is independent of the others,
 * so results are bit-identical for any thread count. The state is whole
 * flat arrays with the layout of params->data (frozen views and padding
 * stay 0), so a checkpoint saves each one as a tensor and restores it bit
 * for bit; with the step count restored, the continuation is exact.
 */
#ifndef RT_OPTIM_H
#define RT_OPTIM_H

#include "core/error.h"
#include "core/params.h"

#include <stdbool.h>
#include <stdint.h>

enum rt_optim_kind { RT_OPTIM_SGD = 0, RT_OPTIM_ADAM, RT_OPTIM_ADAMW, RT_OPTIM_KIND_COUNT };

#define RT_OPTIM_MAX_NO_DECAY 16
#define RT_OPTIM_MAX_STATE 2

typedef struct rt_optim_config {
    enum rt_optim_kind kind;
    double momentum;     /* SGD; 0 = plain SGD (no state) */
    double dampening;    /* SGD */
    bool nesterov;       /* SGD; needs momentum > 0 and dampening 0 (as torch) */
    double beta1, beta2; /* Adam, AdamW: in [0, 1) */
    double eps;          /* Adam, AdamW: >= 0, outside the sqrt */
    double weight_decay; /* SGD, Adam: coupled L2; AdamW: decoupled */
    bool no_decay_1d;    /* no weight decay for views with ndim <= 1 */
    /* view-name patterns without weight decay (see above); NULL ends the list */
    const char *no_decay[RT_OPTIM_MAX_NO_DECAY];
} rt_optim_config;

typedef struct rt_optim rt_optim;

/* torch's defaults for a kind: momentum 0, dampening 0, betas (0.9, 0.999),
 * eps 1e-8, weight decay 0 (AdamW: 1e-2), no exclusions. */
rt_optim_config rt_optim_defaults(enum rt_optim_kind kind);
/* An optimizer over an allocated store p (which must outlive it); the
 * config is checked (errors name the setting) and copied; the state starts
 * at 0, the step count at 0. */
rt_status rt_optim_new(rt_optim **out, rt_params *p, const rt_optim_config *cfg);
void rt_optim_free(rt_optim *o);
/* One update of every trainable view from p->grad with learning rate lr
 * (finite, >= 0; else RT_ERR_ARG and nothing changes). */
rt_status rt_optim_step(rt_optim *o, double lr);

/* Steps taken so far (torch's state["step"]); set when restoring. */
int64_t rt_optim_steps(const rt_optim *o);
void rt_optim_set_steps(rt_optim *o, int64_t steps);
/* State arrays: SGD with momentum has "optim.momentum", Adam/AdamW have
 * "optim.m" and "optim.v"; plain SGD has none. Each is
 * rt_optim_state_numel() floats laid out as params->data. */
int rt_optim_state_count(const rt_optim *o);
const char *rt_optim_state_name(const rt_optim *o, int i);
float *rt_optim_state(rt_optim *o, int i);
size_t rt_optim_state_numel(const rt_optim *o);
/* Whether view index vi gets weight decay (decided at rt_optim_new). */
bool rt_optim_decays(const rt_optim *o, int vi);
/* The config as copied; its no_decay list is cleared (the caller's strings
 * are not kept; the patterns were applied at rt_optim_new). */
const rt_optim_config *rt_optim_get_config(const rt_optim *o);

/* "sgd", "adam", "adamw" <-> kind; an unknown name is RT_ERR_UNKNOWN with
 * a message listing the valid names. */
const char *rt_optim_kind_name(enum rt_optim_kind kind);
rt_status rt_optim_kind_from_name(const char *name, enum rt_optim_kind *kind);

/* The L2 norm of all trainable (not frozen) gradients, summed in double in a
 * fixed order (independent of the thread count). */
double rt_grad_norm(const rt_params *p);
/* torch.nn.utils.clip_grad_norm_: with n = rt_grad_norm(p), scale the
 * trainable gradients by max_norm / (n + 1e-6) when that is < 1. Returns n,
 * the norm before clipping. A non-finite n is returned with the gradients
 * untouched (the caller skips the step); max_norm must be > 0. */
double rt_grad_clip(rt_params *p, double max_norm);

#endif
