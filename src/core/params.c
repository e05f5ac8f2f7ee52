/*
 * params.c - the flat parameter store (see params.h).
 */
#include "core/params.h"

#include "core/rng.h"

#include <math.h>
#include <string.h>

void *rt_alloc_aligned(size_t bytes)
{
    void *p = NULL;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    if (posix_memalign(&p, 64, n) != 0) return NULL;
    memset(p, 0, n);
    return p;
}

void rt_free_aligned(void *p) { free(p); }

rt_params *rt_params_new(void)
{
    rt_params *p = calloc(1, sizeof *p);
    if (!p) rt_error(RT_ERR_NOMEM, "parameter store: out of memory");
    return p;
}

void rt_params_free(rt_params *p)
{
    if (!p) return;
    free(p->views);
    rt_free_aligned(p->data);
    rt_free_aligned(p->grad);
    rt_free_aligned(p->buf);
    free(p);
}

bool rt_params_allocated(const rt_params *p) { return p->data || p->buf; }

const rt_param_view *rt_params_find(const rt_params *p, const char *name)
{
    for (int i = 0; i < p->n_views; i++)
        if (!strcmp(p->views[i].name, name)) return &p->views[i];
    return NULL;
}

rt_status rt_params_declare(rt_params *p, const char *name, enum rt_param_kind kind,
                            int ndim, const int64_t *shape, rt_init init, int *index)
{
    char s1[96], s2[96];
    if (!name || !*name || strlen(name) >= RT_NAME_MAX)
        return rt_error(RT_ERR_ARG, "parameter name '%s' is empty or too long", name ? name : "");
    if (ndim < 0 || ndim > RT_MAX_DIMS)
        return rt_error(RT_ERR_SHAPE, "parameter '%s': %d dimensions (at most %d)", name, ndim, RT_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0)
            return rt_error(RT_ERR_SHAPE, "parameter '%s': dimension %d is %lld", name, i, (long long)shape[i]);
    const rt_param_view *old = rt_params_find(p, name);
    if (old) {
        if (old->kind != kind || !rt_shape_equal(old->ndim, old->shape, ndim, shape))
            return rt_error(RT_ERR_SHAPE, "parameter '%s' declared again as %s, was %s", name,
                            rt_shape_str(s1, sizeof s1, ndim, shape),
                            rt_shape_str(s2, sizeof s2, old->ndim, old->shape));
        if (index) *index = (int)(old - p->views);
        return RT_OK;
    }
    if (rt_params_allocated(p))
        return rt_error(RT_ERR_ARG, "parameter '%s' declared after the store was allocated", name);
    if (p->n_views == p->cap_views) {
        int cap = p->cap_views ? 2 * p->cap_views : 64;
        rt_param_view *v = realloc(p->views, (size_t)cap * sizeof *v);
        if (!v) return rt_error(RT_ERR_NOMEM, "parameter '%s': out of memory", name);
        p->views = v;
        p->cap_views = cap;
    }
    rt_param_view *v = &p->views[p->n_views];
    memset(v, 0, sizeof *v);
    strcpy(v->name, name);
    v->kind = kind;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) v->shape[i] = shape[i];
    v->numel = (size_t)rt_shape_numel(ndim, shape);
    v->init = init;
    /* Each view starts on a 16-float (64-byte) boundary. */
    size_t *total = kind == RT_PARAM ? &p->numel : &p->buf_numel;
    v->offset = (*total + 15) & ~(size_t)15;
    *total = v->offset + v->numel;
    if (index) *index = p->n_views;
    p->n_views++;
    return RT_OK;
}

rt_status rt_params_alloc(rt_params *p)
{
    if (rt_params_allocated(p)) return RT_OK;
    p->data = rt_alloc_aligned(p->numel * sizeof(float));
    p->grad = rt_alloc_aligned(p->numel * sizeof(float));
    p->buf = rt_alloc_aligned(p->buf_numel * sizeof(float));
    if (!p->data || !p->grad || !p->buf) {
        rt_free_aligned(p->data);
        rt_free_aligned(p->grad);
        rt_free_aligned(p->buf);
        p->data = p->grad = p->buf = NULL;
        return rt_error(RT_ERR_NOMEM, "parameters: cannot allocate %zu floats", 2 * p->numel + p->buf_numel);
    }
    return RT_OK;
}

float *rt_params_data(const rt_params *p, const rt_param_view *v)
{
    return (v->kind == RT_PARAM ? p->data : p->buf) + v->offset;
}

float *rt_params_gradv(const rt_params *p, const rt_param_view *v)
{
    return v->kind == RT_PARAM ? p->grad + v->offset : NULL;
}

void rt_params_init(rt_params *p, uint64_t seed)
{
    RT_ASSERT(rt_params_allocated(p));
    for (int vi = 0; vi < p->n_views; vi++) {
        const rt_param_view *v = &p->views[vi];
        float *x = rt_params_data(p, v);
        float a = v->init.a;
        for (size_t i = 0; i < v->numel; i++) {
            switch (v->init.kind) {
            case RT_INIT_ZEROS: x[i] = 0.f; break;
            case RT_INIT_ONES: x[i] = 1.f; break;
            case RT_INIT_CONST: x[i] = a; break;
            case RT_INIT_UNIFORM:
                x[i] = a * (2.f * rt_rng_uniform(seed, (uint32_t)vi, 0xFFFFFFFFu, i) - 1.f);
                break;
            case RT_INIT_NORMAL: x[i] = a * rt_rng_normal(seed, (uint32_t)vi, 0xFFFFFFFFu, i); break;
            case RT_INIT_TRUNC_NORMAL: {
                /* Resample out-of-range draws on later counters (deterministic). */
                float z = rt_rng_normal(seed, (uint32_t)vi, 0xFFFFFFFFu, i);
                for (uint32_t k = 1; fabsf(z) > 2.f; k++)
                    z = rt_rng_normal(seed, (uint32_t)vi, 0xFFFFFFFFu - k, i);
                x[i] = a * z;
                break;
            }
            }
        }
    }
}

void rt_params_zero_grad(rt_params *p)
{
    if (p->grad) memset(p->grad, 0, p->numel * sizeof(float));
}

size_t rt_params_count(const rt_params *p, enum rt_param_kind kind, bool frozen)
{
    size_t n = 0;
    for (int i = 0; i < p->n_views; i++)
        if (p->views[i].kind == kind && p->views[i].frozen == frozen) n += p->views[i].numel;
    return n;
}
