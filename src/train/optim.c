/*
 * optim.c - SGD, Adam, AdamW and gradient clipping over the flat parameter
 * store (see optim.h).
 *
 * Work is cut into chunks: each trainable view in declaration order, split
 * into pieces of at most CHUNK floats. The chunk list depends only on the
 * store's layout and the frozen flags, never on the thread count; chunks
 * run in parallel, the update of an element touches only that element, and
 * the gradient norm sums per-chunk partials (double) in chunk order. So
 * every result is the same for 1 or N threads. Chunks are gathered BATCH at
 * a time into a stack array: no allocation inside a step.
 *
 * Arithmetic follows torch's op order (optim.h); the compiler must not
 * contract a*b+c into an FMA here (-std=c11 turns contraction off in gcc;
 * clang needs the pragma).
 */
#include "train/optim.h"
#include "train/schedule.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <string.h>

#define CHUNK 32768
#define BATCH 512

struct rt_optim {
    rt_optim_config cfg;
    rt_params *p;
    int64_t steps;
    int n_state;
    float *state[RT_OPTIM_MAX_STATE];
    bool *decay; /* per view */
};

typedef struct chunk {
    size_t off, n;
    int view;
} chunk;

typedef struct chunk_iter {
    int vi;
    size_t pos;
} chunk_iter;

/* The next up to BATCH chunks of trainable views; returns how many. */
static int chunks_next(const rt_params *p, chunk_iter *it, chunk *c, size_t *total)
{
    int k = 0;
    *total = 0;
    while (k < BATCH && it->vi < p->n_views) {
        const rt_param_view *v = &p->views[it->vi];
        if (v->kind != RT_PARAM || v->frozen || it->pos >= v->numel) {
            it->vi++;
            it->pos = 0;
            continue;
        }
        size_t n = v->numel - it->pos < CHUNK ? v->numel - it->pos : CHUNK;
        c[k++] = (chunk){v->offset + it->pos, n, it->vi};
        it->pos += n;
        *total += n;
    }
    return k;
}

/* Run fn on every trainable chunk (in parallel); returns the sum of fn's
 * results added in chunk order. */
static double chunks_run(const rt_params *p, double (*fn)(const chunk *c, void *ctx), void *ctx)
{
    chunk c[BATCH];
    double part[BATCH], sum = 0;
    chunk_iter it = {0, 0};
    size_t total;
    int nc;
    while ((nc = chunks_next(p, &it, c, &total)) > 0) {
#pragma omp parallel for schedule(static) if (total > CHUNK)
        for (int j = 0; j < nc; j++) part[j] = fn(&c[j], ctx);
        for (int j = 0; j < nc; j++) sum += part[j];
    }
    return sum;
}

/* ---- names and config ---- */

static const char *const kind_names[RT_OPTIM_KIND_COUNT] = {
    [RT_OPTIM_SGD] = "sgd", [RT_OPTIM_ADAM] = "adam", [RT_OPTIM_ADAMW] = "adamw"};
_Static_assert(sizeof kind_names / sizeof *kind_names == RT_OPTIM_KIND_COUNT, "kind_names");

const char *rt_optim_kind_name(enum rt_optim_kind kind)
{
    return (unsigned)kind < RT_OPTIM_KIND_COUNT ? kind_names[kind] : "?";
}

rt_status rt_optim_kind_from_name(const char *name, enum rt_optim_kind *kind)
{
    int i;
    rt_status s = rt_train_name_lookup("optimizer", kind_names, RT_OPTIM_KIND_COUNT, name, &i);
    if (s == RT_OK) *kind = (enum rt_optim_kind)i;
    return s;
}

rt_optim_config rt_optim_defaults(enum rt_optim_kind kind)
{
    return (rt_optim_config){
        .kind = kind,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
        .weight_decay = kind == RT_OPTIM_ADAMW ? 1e-2 : 0.0,
    };
}

static rt_status check_config(const rt_optim_config *c)
{
    const char *k = rt_optim_kind_name(c->kind);
    if ((unsigned)c->kind >= RT_OPTIM_KIND_COUNT)
        return rt_error(RT_ERR_ARG, "optimizer: kind %d is not one of sgd, adam, adamw", (int)c->kind);
    struct { const char *name; double x, lo, hi; } r[] = {
        {"momentum", c->momentum, 0, INFINITY},   {"dampening", c->dampening, 0, 1},
        {"beta1", c->beta1, 0, 1},                {"beta2", c->beta2, 0, 1},
        {"eps", c->eps, 0, INFINITY},             {"weight_decay", c->weight_decay, 0, INFINITY},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        bool open_hi = !strncmp(r[i].name, "beta", 4);
        if (!isfinite(r[i].x) || r[i].x < r[i].lo || (open_hi ? r[i].x >= r[i].hi : r[i].x > r[i].hi))
            return rt_error(RT_ERR_ARG, "optimizer %s: %s = %g is out of range [%g, %g%s", k, r[i].name, r[i].x,
                            r[i].lo, r[i].hi, open_hi ? ")" : "]");
    }
    if (c->kind == RT_OPTIM_SGD && c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return rt_error(RT_ERR_ARG, "optimizer sgd: nesterov needs momentum > 0 and dampening 0");
    for (int i = 0; i < RT_OPTIM_MAX_NO_DECAY && c->no_decay[i]; i++)
        if (!*c->no_decay[i])
            return rt_error(RT_ERR_ARG, "optimizer %s: no_decay pattern %d is empty", k, i);
    return RT_OK;
}

/* A no_decay pattern matches a name equal to it or ending in "." + it. */
static bool pattern_match(const char *name, const char *pat)
{
    size_t n = strlen(name), m = strlen(pat);
    if (n == m) return !strcmp(name, pat);
    return n > m && name[n - m - 1] == '.' && !strcmp(name + n - m, pat);
}

static bool view_decays(const rt_optim_config *c, const rt_param_view *v)
{
    if (c->no_decay_1d && v->ndim <= 1) return false;
    for (int i = 0; i < RT_OPTIM_MAX_NO_DECAY && c->no_decay[i]; i++)
        if (pattern_match(v->name, c->no_decay[i])) return false;
    return true;
}

rt_status rt_optim_new(rt_optim **out, rt_params *p, const rt_optim_config *cfg)
{
    *out = NULL;
    if (!p || !p->data) return rt_error(RT_ERR_ARG, "optimizer: the parameter store is not allocated");
    rt_status s = rt_params_alloc_grad(p);
    if (s == RT_OK) s = check_config(cfg);
    if (s != RT_OK) return s;
    rt_optim *o = calloc(1, sizeof *o);
    if (!o) return rt_error(RT_ERR_NOMEM, "optimizer: out of memory");
    o->cfg = *cfg;
    o->p = p;
    o->n_state = cfg->kind == RT_OPTIM_SGD ? (cfg->momentum != 0 ? 1 : 0) : 2;
    o->decay = calloc((size_t)p->n_views + 1, sizeof *o->decay);
    bool ok = o->decay != NULL;
    for (int i = 0; i < o->n_state; i++) {
        o->state[i] = rt_alloc_aligned(p->numel * sizeof(float));
        ok = ok && o->state[i];
    }
    if (!ok) {
        rt_optim_free(o);
        return rt_error(RT_ERR_NOMEM, "optimizer %s: cannot allocate state for %zu parameters",
                        rt_optim_kind_name(cfg->kind), p->numel);
    }
    for (int i = 0; i < p->n_views; i++) o->decay[i] = view_decays(cfg, &p->views[i]);
    /* the patterns' strings belong to the caller: keep only the table */
    memset(o->cfg.no_decay, 0, sizeof o->cfg.no_decay);
    *out = o;
    return RT_OK;
}

void rt_optim_free(rt_optim *o)
{
    if (!o) return;
    for (int i = 0; i < RT_OPTIM_MAX_STATE; i++) rt_free_aligned(o->state[i]);
    free(o->decay);
    free(o);
}

int64_t rt_optim_steps(const rt_optim *o) { return o->steps; }
void rt_optim_set_steps(rt_optim *o, int64_t steps)
{
    RT_ASSERT(steps >= 0);
    o->steps = steps;
}
int rt_optim_state_count(const rt_optim *o) { return o->n_state; }
size_t rt_optim_state_numel(const rt_optim *o) { return o->p->numel; }
const rt_optim_config *rt_optim_get_config(const rt_optim *o) { return &o->cfg; }

const char *rt_optim_state_name(const rt_optim *o, int i)
{
    RT_ASSERT(i >= 0 && i < o->n_state);
    if (o->cfg.kind == RT_OPTIM_SGD) return "optim.momentum";
    return i == 0 ? "optim.m" : "optim.v";
}

float *rt_optim_state(rt_optim *o, int i)
{
    RT_ASSERT(i >= 0 && i < o->n_state);
    return o->state[i];
}

bool rt_optim_decays(const rt_optim *o, int vi)
{
    RT_ASSERT(vi >= 0 && vi < o->p->n_views);
    return o->decay[vi];
}

/* ---- the update kernels: one chunk, n elements ---- */

/* Scalars of one step, rounded to float where torch rounds them. */
typedef struct step_consts {
    float wd;        /* coupled L2 (SGD, Adam) */
    float decay;     /* AdamW: 1 - lr wd */
    float neg_lr;    /* SGD */
    float mom, damp1;/* SGD: momentum, 1 - dampening */
    bool first, nesterov;
    float b1, one_b1, b2, one_b2; /* Adam */
    float bc2_sqrt, eps, neg_step;
} step_consts;

/* Branch-free so it vectorises; the factors make each form exact: the first
 * step is b = 0 * b + 1 * d = d (b starts at 0), plain momentum is
 * d = 0 * d + 1 * b = b, Nesterov d = 1 * d + mom * b, and wd = 0 adds 0 * x. */
static void sgd_chunk(float *restrict x, const float *restrict g, float *restrict b, size_t n,
                      const step_consts *k, bool decay)
{
    const float wd = decay ? k->wd : 0.f, lr = k->neg_lr;
    if (!b) {
        for (size_t i = 0; i < n; i++) x[i] = x[i] + lr * (g[i] + wd * x[i]);
        return;
    }
    const float bm = k->first ? 0.f : k->mom, bd = k->first ? 1.f : k->damp1;
    const float dd = k->nesterov ? 1.f : 0.f, db = k->nesterov ? k->mom : 1.f;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * x[i];
        b[i] = b[i] * bm + bd * d;
        x[i] = x[i] + lr * (dd * d + db * b[i]);
    }
}

static void adam_chunk(float *restrict x, const float *restrict g, float *restrict m, float *restrict v,
                       size_t n, const step_consts *k, bool decay, bool adamw)
{
    float wd = decay && !adamw ? k->wd : 0.f;
    float dec = decay && adamw ? k->decay : 1.f;
    for (size_t i = 0; i < n; i++) {
        float p = x[i] * dec; /* AdamW: p *= 1 - lr wd (exact for dec = 1) */
        float gi = wd != 0.f ? g[i] + wd * p : g[i];
        m[i] = m[i] * k->b1 + k->one_b1 * gi;
        v[i] = v[i] * k->b2 + k->one_b2 * gi * gi;
        float denom = sqrtf(v[i]) / k->bc2_sqrt + k->eps;
        x[i] = p + k->neg_step * m[i] / denom;
    }
}

static step_consts step_consts_make(const rt_optim_config *c, double lr, int64_t t)
{
    step_consts k = {0};
    k.wd = (float)c->weight_decay;
    k.decay = (float)(1.0 - lr * c->weight_decay);
    k.neg_lr = (float)-lr;
    k.mom = (float)c->momentum;
    k.damp1 = (float)(1.0 - c->dampening);
    k.first = t == 1;
    k.nesterov = c->nesterov;
    k.b1 = (float)c->beta1;
    k.one_b1 = (float)(1.0 - c->beta1);
    k.b2 = (float)c->beta2;
    k.one_b2 = (float)(1.0 - c->beta2);
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    k.bc2_sqrt = (float)sqrt(bc2);
    k.eps = (float)c->eps;
    k.neg_step = (float)-(lr / bc1);
    return k;
}

typedef struct step_ctx {
    const rt_optim *o;
    step_consts k;
} step_ctx;

static double step_chunk(const chunk *c, void *ctx)
{
    const step_ctx *sc = ctx;
    const rt_optim *o = sc->o;
    const rt_params *p = o->p;
    size_t off = c->off;
    bool decay = o->decay[c->view];
    if (o->cfg.kind == RT_OPTIM_SGD)
        sgd_chunk(p->data + off, p->grad + off, o->n_state ? o->state[0] + off : NULL, c->n, &sc->k, decay);
    else
        adam_chunk(p->data + off, p->grad + off, o->state[0] + off, o->state[1] + off, c->n, &sc->k, decay,
                   o->cfg.kind == RT_OPTIM_ADAMW);
    return 0;
}

rt_status rt_optim_step(rt_optim *o, double lr)
{
    if (!isfinite(lr) || lr < 0)
        return rt_error(RT_ERR_ARG, "optimizer %s: learning rate %g at step %lld is not finite and >= 0",
                        rt_optim_kind_name(o->cfg.kind), lr, (long long)o->steps);
    o->steps++;
    step_ctx sc = {o, step_consts_make(&o->cfg, lr, o->steps)};
    chunks_run(o->p, step_chunk, &sc);
    return RT_OK;
}

/* ---- gradient norm and clipping ---- */

/* Sum of squares in double: four interleaved partial sums (a fixed order). */
static double norm_chunk(const chunk *c, void *ctx)
{
    const float *g = ((const rt_params *)ctx)->grad + c->off;
    double s[4] = {0, 0, 0, 0};
    size_t i = 0, n = c->n;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) s[l] += (double)g[i + l] * (double)g[i + l];
    for (; i < n; i++) s[0] += (double)g[i] * (double)g[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

double rt_grad_norm(const rt_params *p)
{
    return p->grad ? sqrt(chunks_run(p, norm_chunk, (void *)p)) : 0;
}

typedef struct scale_ctx {
    rt_params *p;
    float f;
} scale_ctx;

static double scale_chunk(const chunk *c, void *ctx)
{
    const scale_ctx *sc = ctx;
    float *g = sc->p->grad + c->off;
    for (size_t i = 0; i < c->n; i++) g[i] *= sc->f;
    return 0;
}

double rt_grad_clip(rt_params *p, double max_norm)
{
    RT_ASSERT(max_norm > 0);
    double norm = rt_grad_norm(p);
    double scale = max_norm / (norm + 1e-6);
    if (!isfinite(norm) || scale >= 1.0) return norm;
    scale_ctx sc = {p, (float)scale};
    chunks_run(p, scale_chunk, &sc);
    return norm;
}
