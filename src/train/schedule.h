/*
 * schedule.h - learning-rate schedules as pure functions of the step.
 *
 *     rt_sched s = rt_sched_defaults(RT_SCHED_COSINE, 1e-3);
 *     s.warmup_steps = 500; s.total_steps = 20000; s.min_lr = 1e-5;
 *     if (rt_sched_check(&s) != RT_OK) ... rt_errmsg() ...
 *     for (int64_t t = 0; t < s.total_steps; t++) rt_optim_step(o, rt_sched_lr(&s, t));
 *
 * rt_sched_lr(s, t) is the lr of the optimizer update number t (from 0),
 * i.e. torch's get_last_lr() after t scheduler.step() calls.
 *
 * Warm-up (any kind): for t < W = warmup_steps,
 *     lr = base * (f + (1 - f) * t / W),   f = warmup_start (default 0)
 * so the first update uses base * f (transformers' and timm's linear
 * warm-up; torch's LinearLR(start_factor = f, total_iters = W)).
 * After warm-up:
 *   constant  lr = base
 *   step      lr = base * gamma^floor(t / (step_epochs * steps_per_epoch))
 *             (torch's StepLR stepped once per update; t counts from 0, as
 *             timm's step scheduler, warm-up included)
 *   cosine    lr = min + (base - min) * (1 + cos(pi * q)) / 2,
 *             q = min(1, (t - W) / (total_steps - W)): base at the end of
 *             warm-up, min_lr at total_steps and after (transformers'
 *             get_cosine_schedule_with_warmup with a floor; torch's
 *             SequentialLR(LinearLR, CosineAnnealingLR(T_max = total - W))).
 */
#ifndef RT_SCHEDULE_H
#define RT_SCHEDULE_H

#include "core/error.h"

#include <stdint.h>

enum rt_sched_kind { RT_SCHED_CONSTANT = 0, RT_SCHED_STEP, RT_SCHED_COSINE, RT_SCHED_KIND_COUNT };

typedef struct rt_sched {
    enum rt_sched_kind kind;
    double base_lr;          /* > 0 */
    int64_t warmup_steps;    /* W >= 0 */
    double warmup_start;     /* f in [0, 1] */
    double gamma;            /* step: factor in (0, 1] */
    int64_t step_epochs;     /* step: epochs between decays (>= 1) */
    int64_t steps_per_epoch; /* step: optimizer updates per epoch (>= 1) */
    int64_t total_steps;     /* cosine: end of the decay (> W) */
    double min_lr;           /* cosine: floor, in [0, base_lr] */
} rt_sched;

/* A schedule of this kind with base lr: no warm-up, gamma 0.1 every 30
 * epochs of 1 step, cosine over 1 step to 0 (set what the kind uses). */
rt_sched rt_sched_defaults(enum rt_sched_kind kind, double base_lr);
/* Check the fields the kind uses; errors name the field. */
rt_status rt_sched_check(const rt_sched *s);
/* The lr of update t >= 0 (s must pass rt_sched_check). */
double rt_sched_lr(const rt_sched *s, int64_t t);

/* "constant", "step", "cosine" <-> kind; an unknown name is RT_ERR_UNKNOWN
 * with a message listing the valid names. */
const char *rt_sched_kind_name(enum rt_sched_kind kind);
rt_status rt_sched_kind_from_name(const char *name, enum rt_sched_kind *kind);

/* For the train layer's name tables: *index of name in names[0, n), else
 * RT_ERR_UNKNOWN "<what> '<name>': unknown (valid: a, b, c)". */
rt_status rt_train_name_lookup(const char *what, const char *const *names, int n, const char *name, int *index);

#endif
