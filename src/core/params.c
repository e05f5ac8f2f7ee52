/*
 * params.c - the flat parameter store (see params.h).
 */
#include "core/params.h"

#include "core/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Every block has a 64-byte header before it: how it was made and its
 * size. Large blocks are anonymous mappings, zero pages the kernel fills on
 * first touch, so memory that is never written (gradients of frozen
 * views, the float copies of a quantized file's weights, arena space a
 * plan never reaches) never becomes resident. */
#define ALLOC_HDR 64
#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_MAP_MIN SIZE_MAX /* AddressSanitizer builds: every block from its allocator, with redzones */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_MAP_MIN SIZE_MAX
#endif
#endif
#ifndef ALLOC_MAP_MIN
#define ALLOC_MAP_MIN ((size_t)1 << 20)
#endif
struct alloc_hdr { size_t size; int mapped; };

void *rt_alloc_aligned(size_t bytes)
{
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n == 0) n = 64;
    if (n > SIZE_MAX - 2 * ALLOC_HDR) return NULL;
    char *base;
    bool mapped = n >= ALLOC_MAP_MIN;
    if (mapped) {
        void *m = mmap(NULL, n + ALLOC_HDR, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return NULL;
        base = m; /* page aligned, zero filled */
    } else {
        void *m = NULL;
        if (posix_memalign(&m, 64, n + ALLOC_HDR) != 0) return NULL;
        base = m;
        memset(base + ALLOC_HDR, 0, n);
    }
    *(struct alloc_hdr *)(void *)base = (struct alloc_hdr){n + ALLOC_HDR, mapped};
    return base + ALLOC_HDR;
}

void rt_free_aligned(void *p)
{
    if (!p) return;
    char *base = (char *)p - ALLOC_HDR;
    const struct alloc_hdr *h = (const struct alloc_hdr *)(void *)base;
    if (h->mapped) munmap(base, h->size);
    else free(base);
}

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
    if (rt_params_allocated(p) && !p->growable)
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
    bool fresh = !rt_params_allocated(p);
    if (!fresh && p->numel == p->alloc_numel && p->buf_numel == p->alloc_buf_numel) return RT_OK;
    /* First allocation or growth: all-or-nothing; new room is zeroed, old values are copied.
     * Gradients exist once asked for (rt_params_alloc_grad) and grow with the values. */
    bool with_grad = p->grad != NULL;
    float *d = rt_alloc_aligned(p->numel * sizeof(float)), *b = rt_alloc_aligned(p->buf_numel * sizeof(float));
    float *g = with_grad ? rt_alloc_aligned(p->numel * sizeof(float)) : NULL;
    if (!d || !b || (with_grad && !g)) {
        rt_free_aligned(d);
        rt_free_aligned(g);
        rt_free_aligned(b);
        return rt_error(RT_ERR_NOMEM, "parameters: cannot allocate %zu floats",
                        (with_grad ? 2 : 1) * p->numel + p->buf_numel);
    }
    if (!fresh) {
        memcpy(d, p->data, p->alloc_numel * sizeof(float));
        if (with_grad) memcpy(g, p->grad, p->alloc_numel * sizeof(float));
        memcpy(b, p->buf, p->alloc_buf_numel * sizeof(float));
        p->gen++;
    }
    rt_free_aligned(p->data);
    rt_free_aligned(p->grad);
    rt_free_aligned(p->buf);
    p->data = d, p->grad = g, p->buf = b;
    p->alloc_numel = p->numel;
    p->alloc_buf_numel = p->buf_numel;
    return RT_OK;
}

rt_status rt_params_alloc_grad(rt_params *p)
{
    if (!rt_params_allocated(p)) return rt_error(RT_ERR_ARG, "parameters: gradients before the store is allocated");
    if (p->grad) return RT_OK;
    p->grad = rt_alloc_aligned(p->alloc_numel * sizeof(float));
    if (!p->grad) return rt_error(RT_ERR_NOMEM, "parameters: cannot allocate %zu gradient floats", p->alloc_numel);
    p->gen++; /* graphs rebind their leaves (and pick up the gradients) */
    return RT_OK;
}

void rt_params_allow_growth(rt_params *p, bool on) { p->growable = on; }

bool rt_params_is_aux(const rt_param_view *v) { return !strncmp(v->name, RT_AUX_PREFIX, strlen(RT_AUX_PREFIX)); }

float *rt_params_data(const rt_params *p, const rt_param_view *v)
{
    return (v->kind == RT_PARAM ? p->data : p->buf) + v->offset;
}

float *rt_params_gradv(const rt_params *p, const rt_param_view *v)
{
    return v->kind == RT_PARAM ? p->grad + v->offset : NULL;
}

void rt_params_init(rt_params *p, uint64_t seed) { rt_params_init_from(p, seed, 0); }

void rt_params_init_from(rt_params *p, uint64_t seed, int first)
{
    RT_ASSERT(rt_params_allocated(p));
    for (int vi = first; vi < p->n_views; vi++) {
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
        if (p->views[i].kind == kind && p->views[i].frozen == frozen && !rt_params_is_aux(&p->views[i]))
            n += p->views[i].numel;
    return n;
}
