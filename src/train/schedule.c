/*
 * schedule.c - learning-rate schedules (see schedule.h). Everything in
 * double; the formulas are written in the order torch's closed forms use
 * so the values agree to a few ulps.
 */
#include "train/schedule.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[RT_SCHED_KIND_COUNT] = {
    [RT_SCHED_CONSTANT] = "constant", [RT_SCHED_STEP] = "step", [RT_SCHED_COSINE] = "cosine"};
_Static_assert(sizeof kind_names / sizeof *kind_names == RT_SCHED_KIND_COUNT, "kind_names");

const char *rt_sched_kind_name(enum rt_sched_kind kind)
{
    return (unsigned)kind < RT_SCHED_KIND_COUNT ? kind_names[kind] : "?";
}

rt_status rt_train_name_lookup(const char *what, const char *const *names, int n, const char *name, int *index)
{
    for (int i = 0; i < n; i++)
        if (name && !strcmp(name, names[i])) {
            *index = i;
            return RT_OK;
        }
    char valid[256] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof valid; i++)
        len += (size_t)snprintf(valid + len, sizeof valid - len, "%s%s", i ? ", " : "", names[i]);
    return rt_error(RT_ERR_UNKNOWN, "%s '%s': unknown (valid: %s)", what, name ? name : "", valid);
}

rt_status rt_sched_kind_from_name(const char *name, enum rt_sched_kind *kind)
{
    int i;
    rt_status s = rt_train_name_lookup("lr schedule", kind_names, RT_SCHED_KIND_COUNT, name, &i);
    if (s == RT_OK) *kind = (enum rt_sched_kind)i;
    return s;
}

rt_sched rt_sched_defaults(enum rt_sched_kind kind, double base_lr)
{
    return (rt_sched){
        .kind = kind,
        .base_lr = base_lr,
        .gamma = 0.1,
        .step_epochs = 30,
        .steps_per_epoch = 1,
        .total_steps = 1,
    };
}

rt_status rt_sched_check(const rt_sched *s)
{
    const char *k = rt_sched_kind_name(s->kind);
    if ((unsigned)s->kind >= RT_SCHED_KIND_COUNT)
        return rt_error(RT_ERR_ARG, "lr schedule: kind %d is not one of constant, step, cosine", (int)s->kind);
    if (!isfinite(s->base_lr) || s->base_lr <= 0)
        return rt_error(RT_ERR_ARG, "lr schedule %s: base_lr = %g must be > 0", k, s->base_lr);
    if (s->warmup_steps < 0)
        return rt_error(RT_ERR_ARG, "lr schedule %s: warmup_steps = %lld must be >= 0", k,
                        (long long)s->warmup_steps);
    if (!(s->warmup_start >= 0 && s->warmup_start <= 1))
        return rt_error(RT_ERR_ARG, "lr schedule %s: warmup_start = %g must be in [0, 1]", k, s->warmup_start);
    if (s->kind == RT_SCHED_STEP) {
        if (!(s->gamma > 0 && s->gamma <= 1))
            return rt_error(RT_ERR_ARG, "lr schedule step: gamma = %g must be in (0, 1]", s->gamma);
        if (s->step_epochs < 1 || s->steps_per_epoch < 1)
            return rt_error(RT_ERR_ARG, "lr schedule step: step_epochs = %lld and steps_per_epoch = %lld must be >= 1",
                            (long long)s->step_epochs, (long long)s->steps_per_epoch);
        if (s->step_epochs > INT64_MAX / s->steps_per_epoch)
            return rt_error(RT_ERR_ARG, "lr schedule step: step_epochs * steps_per_epoch overflows");
    }
    if (s->kind == RT_SCHED_COSINE) {
        if (s->total_steps <= s->warmup_steps)
            return rt_error(RT_ERR_ARG, "lr schedule cosine: total_steps = %lld must exceed warmup_steps = %lld",
                            (long long)s->total_steps, (long long)s->warmup_steps);
        if (!(s->min_lr >= 0 && s->min_lr <= s->base_lr))
            return rt_error(RT_ERR_ARG, "lr schedule cosine: min_lr = %g must be in [0, base_lr = %g]", s->min_lr,
                            s->base_lr);
    }
    return RT_OK;
}

double rt_sched_lr(const rt_sched *s, int64_t t)
{
    RT_ASSERT(t >= 0);
    const double base = s->base_lr;
    const int64_t W = s->warmup_steps;
    if (t < W) return base * (s->warmup_start + (1.0 - s->warmup_start) * (double)t / (double)W);
    switch (s->kind) {
    case RT_SCHED_CONSTANT: return base;
    case RT_SCHED_STEP: return base * pow(s->gamma, (double)(t / (s->step_epochs * s->steps_per_epoch)));
    case RT_SCHED_COSINE: {
        double q = t >= s->total_steps ? 1.0 : (double)(t - W) / (double)(s->total_steps - W);
        return s->min_lr + (base - s->min_lr) * (1.0 + cos(M_PI * q)) / 2.0;
    }
    default: RT_ASSERT(!"rt_sched_lr: bad kind"); return 0;
    }
}
