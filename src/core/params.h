/*
 * params.h - all parameters of a model in one flat buffer, all gradients in
 * another of the same layout, with named views (PyTorch-style names).
 *
 * Trainable parameters live in `data` / `grad` (numel floats each); the
 * optimizer, clipping and all-reduce are one loop or one call over them.
 * Non-trainable state (batch-norm running statistics) lives in `buf`, which
 * has no gradient. Views are declared (usually while a graph is built), then
 * the store is allocated once and initialised from a seed; a graph built
 * later for another batch size finds the same views by name.
 *
 *     rt_params *p = rt_params_new();
 *     rt_params_declare(p, "fc.weight", RT_PARAM, RT_DIMS(10, 784), rt_init_uniform(1/28.f), NULL);
 *     rt_params_alloc(p);  rt_params_init(p, 42);
 *     float *w = rt_params_view(p, "fc.weight")->data ...
 *
 * Auxiliary parameters: views named "aux." (RT_AUX_PREFIX) are trained with
 * the model but are not part of it (distillation's projections): model
 * files leave them out, checkpoints keep them. A store allocated once can
 * grow when rt_params_allow_growth() was called: views declared later are
 * appended (existing offsets and values unchanged), the next rt_params_alloc()
 * moves the buffers and bumps `gen`; graphs rebind their parameter leaves
 * when they see a new generation.
 *
 * Gradients take memory only when something trains: rt_params_alloc_grad()
 * (called by a training plan and by the optimizer) allocates `grad`; a model
 * loaded for inference holds its values once, not twice.
 */
#ifndef RT_PARAMS_H
#define RT_PARAMS_H

#include "core/error.h"
#include "core/tensor.h"

#define RT_NAME_MAX 96
#define RT_AUX_PREFIX "aux."

enum rt_param_kind { RT_PARAM = 0, RT_BUFFER = 1 };

enum rt_init_kind {
    RT_INIT_ZEROS = 0,
    RT_INIT_ONES,
    RT_INIT_CONST,        /* a */
    RT_INIT_UNIFORM,      /* U(-a, a) */
    RT_INIT_NORMAL,       /* N(0, a^2) */
    RT_INIT_TRUNC_NORMAL, /* N(0, a^2) truncated to [-2a, 2a] (timm's trunc_normal_) */
};

typedef struct rt_init {
    enum rt_init_kind kind;
    float a;
} rt_init;

static inline rt_init rt_init_zeros(void) { return (rt_init){RT_INIT_ZEROS, 0.f}; }
static inline rt_init rt_init_ones(void) { return (rt_init){RT_INIT_ONES, 0.f}; }
static inline rt_init rt_init_const(float a) { return (rt_init){RT_INIT_CONST, a}; }
static inline rt_init rt_init_uniform(float a) { return (rt_init){RT_INIT_UNIFORM, a}; }
static inline rt_init rt_init_normal(float std) { return (rt_init){RT_INIT_NORMAL, std}; }
static inline rt_init rt_init_trunc_normal(float std) { return (rt_init){RT_INIT_TRUNC_NORMAL, std}; }

typedef struct rt_param_view {
    char name[RT_NAME_MAX];
    enum rt_param_kind kind;
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    size_t offset; /* in floats, into data/grad (RT_PARAM) or buf (RT_BUFFER) */
    size_t numel;
    rt_init init;
    bool frozen; /* excluded from training (the optimizer skips it) */
} rt_param_view;

typedef struct rt_params {
    rt_param_view *views;
    int n_views, cap_views;
    size_t numel;     /* trainable floats */
    size_t buf_numel; /* buffer floats */
    float *data, *grad, *buf;
    size_t alloc_numel, alloc_buf_numel; /* what data/grad and buf hold now */
    unsigned gen;      /* bumped each time the buffers move (growth) */
    bool growable;     /* views may be declared after allocation */
} rt_params;

rt_params *rt_params_new(void);
void rt_params_free(rt_params *p);
/* Declare a view, or find an existing one with the same name, kind and shape.
 * Declaring a new view after rt_params_alloc() is an error unless the
 * store is growable. *index gets the
 * view's index (may be NULL). */
rt_status rt_params_declare(rt_params *p, const char *name, enum rt_param_kind kind,
                            int ndim, const int64_t *shape, rt_init init, int *index);
/* Allocate data and buf (64-byte aligned, zeroed; grad: rt_params_alloc_grad). Idempotent; in a
 * growable store, views declared since the last call get room (zeroed). */
rt_status rt_params_alloc(rt_params *p);
/* The gradient buffer (zeroed), once; grows with the store from then on. */
rt_status rt_params_alloc_grad(rt_params *p);
/* Let views be declared after allocation (see the top of this file). */
void rt_params_allow_growth(rt_params *p, bool on);
/* True for auxiliary views (named RT_AUX_PREFIX...): trained, never saved in a model. */
bool rt_params_is_aux(const rt_param_view *v);
/* Initialise views first..n_views-1 from their rules (as rt_params_init does). */
void rt_params_init_from(rt_params *p, uint64_t seed, int first);
bool rt_params_allocated(const rt_params *p);
/* Fill every view from its init rule; a pure function of (seed, view index). */
void rt_params_init(rt_params *p, uint64_t seed);
void rt_params_zero_grad(rt_params *p);
/* The view with this name, or NULL. */
const rt_param_view *rt_params_find(const rt_params *p, const char *name);
/* Start of a view's values (data or buf) and of its gradient (NULL for buffers). */
float *rt_params_data(const rt_params *p, const rt_param_view *v);
float *rt_params_gradv(const rt_params *p, const rt_param_view *v);
/* Count of trainable / frozen / buffer elements (auxiliary views excluded). */
size_t rt_params_count(const rt_params *p, enum rt_param_kind kind, bool frozen);

/* One aligned allocation helper used across the library (zeroed). */
void *rt_alloc_aligned(size_t bytes);
void rt_free_aligned(void *p);

#endif
