/*
 * distill.c - distillation terms, the teacher (live or cached), the monitor
 * and the run (see distill.h). The training loop is train.c's, driven
 * through its hooks: `build` adds the terms to each student graph, `ready`
 * initialises the projections and checks a cache against the data,
 * `before_step` fills the teacher's taps for the batch, `monitor` measures
 * the terms, `epoch_end` watches a dominating term.
 */
#include "distill/distill.h"

#include "core/ops.h"
#include "data/loader.h"
#include "io/fileio.h"
#include "io/safetensors.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "nn/nn.h"
#include "train/eval.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KD_MAX_LINKS (RT_KD_MAX_TERMS * RT_KD_MAX_PAIRS + 1)
#define KD_MAX_GRAPHS 2
#define DEAD_SHARE 0.01    /* a distillation term below this share of the gradient ... */
#define DEAD_CHECKS 3      /* ... for this many checks in a row is reported */
#define DOMINANT_SHARE 0.95
#define NORM_EPS 1e-8f     /* F.cosine_similarity's eps */

/* ---------------- terms ---------------- */

static const char *shape_of(const rt_node *n, char *buf, size_t len)
{
    return rt_shape_str(buf, len, n->out.ndim, n->out.shape);
}

static rt_node *fail_pair(const rt_kd_term *k, int pair, const rt_node *s, const rt_node *t, const char *why)
{
    char a[64], b[64];
    rt_error(RT_ERR_SHAPE, "%s term, pair %d (teacher '%s' %s -> student '%s' %s): %s", rt_kd_kind_name(k->kind),
             pair, k->teacher[pair], shape_of(t, b, sizeof b), k->student[pair], shape_of(s, a, sizeof a), why);
    return NULL;
}

/* The build error of g (a shape check in an op) as this pair's error. */
static rt_node *check_built(rt_graph *g, rt_node *n, const rt_kd_term *k, int pair)
{
    if (n && rt_graph_status(g) == RT_OK) return n;
    rt_error(rt_graph_status(g) != RT_OK ? rt_graph_status(g) : RT_ERR_SHAPE, "%s term, pair %d ('%s' -> '%s'): %s",
             rt_kd_kind_name(k->kind), pair, k->teacher[pair], k->student[pair],
             rt_graph_status(g) != RT_OK ? g->err : rt_errmsg());
    return NULL;
}

/* Distance between a and b of one shape; cosine and normalisation work on
 * the last dim (the caller moves channels last). */
static rt_node *distance(rt_graph *g, rt_node *a, rt_node *b, enum rt_kd_distance d, bool normalize)
{
    if (d == RT_KD_COSINE) {
        /* mean (a_n - b_n)^2 over D = (2 - 2 cos) / D for unit rows: times D / 2 is mean(1 - cos) */
        float D = (float)a->out.shape[a->out.ndim - 1];
        return rt_scale(g, rt_mse_loss(g, rt_l2_norm(g, a, NORM_EPS), rt_l2_norm(g, b, NORM_EPS)), D / 2.f);
    }
    if (normalize) return rt_mse_loss(g, rt_l2_norm(g, a, NORM_EPS), rt_l2_norm(g, b, NORM_EPS));
    return rt_mse_loss(g, a, b);
}

/* KL(softmax(t/T) || softmax(s/T)) as cross-entropy(s/T, p) - cross-entropy(t/T, p): exact, from tested ops. */
static rt_node *kl_soft(rt_graph *g, rt_node *s, rt_node *t, double T)
{
    float inv = (float)(1.0 / T);
    rt_node *ts = rt_scale(g, t, inv), *p = rt_softmax(g, ts);
    rt_node *ce = rt_cross_entropy_soft(g, rt_scale(g, s, inv), p), *h = rt_cross_entropy_soft(g, ts, p);
    return rt_add(g, ce, rt_scale(g, h, -1.f));
}

static rt_node *feature_pair(rt_graph *g, const rt_kd_term *k, int index, int pair, rt_node *s, rt_node *t)
{
    char name[RT_NAME_MAX];
    int nd = s->out.ndim;
    const int64_t *ss = s->out.shape, *ts = t->out.shape;
    if (nd != t->out.ndim || ss[0] != ts[0] || nd < 2 || nd > 4)
        return fail_pair(k, pair, s, t, "cannot be matched (want both (B, D), (B, T, C) or (B, C, H, W))");
    snprintf(name, sizeof name, RT_AUX_PREFIX "%s.%d.%d", rt_kd_kind_name(k->kind), index, pair);
    if (k->kind == RT_KD_ATTENTION) {
        if (nd != 3 || ss[1] != ss[2] || ts[1] != ts[2])
            return fail_pair(k, pair, s, t, "attention maps are (B, T, T)");
        if (ts[1] != ss[1]) t = rt_resize2d(g, t, ss[1], ss[2]);
        return check_built(g, rt_mse_loss(g, s, t), k, pair);
    }
    if (nd == 4) {
        if (ss[1] != ts[1]) s = rt_nn_conv2d(g, s, name, ss[1], ts[1], 1, 1, 0, 1, true);
        if (ss[2] != ts[2] || ss[3] != ts[3]) t = rt_resize2d(g, t, ss[2], ss[3]);
        if (k->distance == RT_KD_COSINE || k->normalize) { /* channels last: one vector per position */
            static const int perm[] = {0, 2, 3, 1};
            s = rt_permute(g, s, 4, perm);
            t = rt_permute(g, t, 4, perm);
        }
    } else {
        if (ss[nd - 1] != ts[nd - 1]) s = rt_nn_linear(g, s, name, ss[nd - 1], ts[nd - 1], true);
        if (nd == 3 && ss[1] != ts[1]) t = rt_resample_tokens(g, t, ss[1]);
    }
    return check_built(g, distance(g, s, t, k->distance, k->normalize), k, pair);
}

rt_node *rt_kd_term_build(rt_graph *g, const rt_kd_term *k, int index, double temperature, bool classification,
                          rt_node *const *s, rt_node *const *t)
{
    if (rt_graph_status(g) != RT_OK) {
        rt_error(rt_graph_status(g), "%s", g->err);
        return NULL;
    }
    rt_graph_scope(g, "distill.%s.%d", rt_kd_kind_name(k->kind), index);
    if (k->kind == RT_KD_RESPONSE) {
        char a[64], b[64];
        if (!rt_shape_equal(s[0]->out.ndim, s[0]->out.shape, t[0]->out.ndim, t[0]->out.shape)) {
            rt_error(RT_ERR_SHAPE, "response term: teacher output %s and student output %s differ",
                     shape_of(t[0], b, sizeof b), shape_of(s[0], a, sizeof a));
            return NULL;
        }
        rt_node *d = classification ? kl_soft(g, s[0], t[0], temperature) : rt_mse_loss(g, s[0], t[0]);
        return check_built(g, d, k, 0);
    }
    rt_node *sum = NULL;
    for (int i = 0; i < k->n_pairs; i++) {
        rt_node *d = feature_pair(g, k, index, i, s[i], t[i]);
        if (!d) return NULL;
        sum = sum ? rt_add(g, sum, d) : d;
    }
    if (k->n_pairs > 1) sum = rt_scale(g, sum, 1.f / (float)k->n_pairs);
    return check_built(g, sum, k, 0);
}

/* ---------------- the distiller ---------------- */

struct link {
    rt_node *dst;          /* the student graph's input "teacher.<tap>" */
    const rt_node *src;    /* live: the teacher graph's tap */
    const float *cache;    /* cached: rows of the tap */
    int64_t row;           /* floats per sample */
    char tap[RT_KD_TAP_MAX];
};

struct kgraph {
    rt_graph *sg, *tg;     /* student (training) and teacher (inference) graphs */
    int64_t batch;
    rt_node *x, *tx;       /* inputs */
    int n_links;
    struct link links[KD_MAX_LINKS];
    rt_node *raw[RT_KD_MAX_TERMS + 1], *weighted[RT_KD_MAX_TERMS + 1]; /* [0]: the task loss */
};

struct distiller {
    const rt_recipe *r;
    rt_kd_spec kd;         /* resolved: weights set, alpha decided */
    double w[RT_KD_MAX_TERMS + 1], mult[RT_KD_MAX_TERMS + 1]; /* weights; mult = weight (x T^2 for KL) */
    char names[RT_KD_MAX_TERMS + 1][32];
    int n;                 /* terms + 1 */
    bool classification, progress, quiet, has_response;
    float *pre[KD_MAX_LINKS]; /* taps computed once (precompute()) */
    int n_pre;
    rt_model *teacher;     /* NULL with a cache and no teacher file */
    rt_safetensors cache;
    bool cached;
    int first_aux;
    struct kgraph kg[KD_MAX_GRAPHS];
    int n_kg;
    /* monitor state */
    int low[RT_KD_MAX_TERMS + 1];
    bool warned_dead[RT_KD_MAX_TERMS + 1], warned_dom;
    double share[RT_KD_MAX_TERMS + 1];
    bool has_share;
    double prev_val;
    int warnings;
};

static struct kgraph *find_kg(struct distiller *d, const rt_graph *g)
{
    for (int i = 0; i < d->n_kg; i++)
        if (d->kg[i].sg == g) return &d->kg[i];
    return NULL;
}

/* "a, b, c" of g's tap names (at most n bytes). */
static const char *list_taps(const rt_graph *g, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < g->n_nodes && len + 4 < n; i++) {
        const char *t = g->nodes[i]->tag;
        if (!t[0]) continue;
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", t);
        if (w < 0 || (size_t)w >= n - len) {
            snprintf(buf + (n > 5 ? n - 5 : 0), 5, "...");
            break;
        }
        len += (size_t)w;
    }
    return buf;
}

static const char *list_cache(const rt_safetensors *st, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < st->n && len + 4 < n; i++) {
        int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", st->t[i].name);
        if (w < 0 || (size_t)w >= n - len) break;
        len += (size_t)w;
    }
    return buf;
}

/* The student graph's input carrying the teacher's tap (one per tap and graph). */
static rt_node *teacher_node(struct distiller *d, struct kgraph *kg, const char *tap)
{
    for (int i = 0; i < kg->n_links; i++)
        if (!strcmp(kg->links[i].tap, tap)) return kg->links[i].dst;
    struct link *l = &kg->links[kg->n_links];
    int64_t shape[RT_MAX_DIMS];
    int nd;
    char avail[600], name[RT_KD_TAP_MAX + 16];
    if (d->cached) {
        const rt_st_tensor *e = rt_st_find(&d->cache, tap);
        if (!e) {
            rt_error(RT_ERR_ARG, "%s: the teacher cache has no tap '%s' (it holds: %s)", d->kd.cache, tap,
                     list_cache(&d->cache, avail, sizeof avail));
            return NULL;
        }
        nd = e->ndim;
        l->row = 1;
        for (int i = 1; i < nd; i++) l->row *= e->shape[i], shape[i] = e->shape[i];
        l->cache = rt_st_data(&d->cache, e);
    } else {
        const rt_node *src = rt_graph_tap(kg->tg, tap);
        if (!src || !src->tag[0]) {
            rt_error(RT_ERR_ARG, "%s: the teacher has no tap '%s' (available: %s)", d->kd.teacher, tap,
                     list_taps(kg->tg, avail, sizeof avail));
            return NULL;
        }
        nd = src->out.ndim;
        for (int i = 1; i < nd; i++) shape[i] = src->out.shape[i];
        l->row = rt_numel(src) / src->out.shape[0];
        l->src = src;
    }
    shape[0] = kg->batch;
    snprintf(name, sizeof name, "teacher.%s", tap);
    l->dst = rt_input(kg->sg, name, nd, shape);
    snprintf(l->tap, sizeof l->tap, "%s", tap);
    kg->n_links++;
    return l->dst;
}

static rt_node *student_node(struct distiller *d, rt_graph *g, const char *tap)
{
    rt_node *n = rt_graph_tap(g, tap);
    if (n && n->tag[0]) return n;
    char avail[600];
    rt_error(RT_ERR_ARG, "%s: the student has no tap '%s' (available: %s)", d->r->model, tap,
             list_taps(g, avail, sizeof avail));
    return NULL;
}

static rt_status kd_build(void *ctx, rt_graph *g, int64_t batch, rt_node *task, rt_node **total)
{
    struct distiller *d = ctx;
    if (d->n_kg == KD_MAX_GRAPHS) return rt_error(RT_ERR_ARG, "distill: too many training graphs");
    struct kgraph *kg = &d->kg[d->n_kg++];
    memset(kg, 0, sizeof *kg);
    kg->sg = g;
    kg->batch = batch;
    kg->x = rt_graph_tap(g, "input");
    if (d->first_aux < 0) d->first_aux = g->params->n_views;
    rt_params_allow_growth(g->params, true);
    if (!d->cached) {
        kg->tg = rt_model_graph(d->teacher, batch, RT_PLAN_INFER_TAPS);
        if (!kg->tg) return rt_error(RT_ERR_ARG, "%s: %s", d->kd.teacher, rt_errmsg());
        rt_graph_set_training(kg->tg, false);
        kg->tx = rt_graph_tap(kg->tg, "input");
    }
    rt_graph_scope(g, "distill");
    kg->raw[0] = task;
    kg->weighted[0] = rt_scale(g, task, (float)d->mult[0]);
    rt_node *sum = kg->weighted[0];
    for (int i = 0; i < d->kd.n_terms; i++) {
        const rt_kd_term *k = &d->kd.terms[i];
        rt_node *s[RT_KD_MAX_PAIRS], *t[RT_KD_MAX_PAIRS];
        for (int j = 0; j < (k->kind == RT_KD_RESPONSE ? 1 : k->n_pairs); j++) {
            const char *st = k->kind == RT_KD_RESPONSE ? "output" : k->student[j];
            const char *tt = k->kind == RT_KD_RESPONSE ? "output" : k->teacher[j];
            if (!(s[j] = student_node(d, g, st)) || !(t[j] = teacher_node(d, kg, tt))) return RT_ERR_ARG;
        }
        rt_node *raw = rt_kd_term_build(g, k, i, d->kd.temperature, d->classification, s, t);
        if (!raw) return rt_error(RT_ERR_SHAPE, "%s: %s", d->r->label, rt_errmsg());
        kg->raw[i + 1] = raw;
        kg->weighted[i + 1] = rt_scale(g, raw, (float)d->mult[i + 1]);
        sum = rt_add(g, sum, kg->weighted[i + 1]);
    }
    rt_graph_scope(g, "distill");
    *total = rt_tag(sum, "loss");
    return rt_graph_status(g) == RT_OK ? RT_OK : rt_error(rt_graph_status(g), "%s: %s", d->r->label, g->err);
}

/* One teacher tap over a data set of N samples: shape (N, ...), row floats a sample. */
struct tap_rows {
    int64_t row;
    int ndim;
    int64_t shape[RT_MAX_DIMS];
};
static rt_status run_teacher(rt_model *m, const char *label, const rt_dataset *ds, int64_t batch,
                             const char *const *taps, int nt, float **buf, struct tap_rows *tr);
static int recipe_taps(const rt_kd_spec *kd, const char **taps);

/* Without input augmentation the teacher's taps are a function of the
 * sample: run it once over the training data (as a cache file would hold
 * them) instead of once a batch, when they fit in PRECOMPUTE_MAX bytes. */
#define PRECOMPUTE_MAX (2.0 * (1 << 30))

/* The loader changes the inputs from epoch to epoch: noise, mixup, random
 * crops of an audio manifest (crop=N), SpecAugment masks. */
static bool inputs_augmented(const rt_recipe *r, const rt_dataset *train)
{
    return r->noise > 0 || r->mixup > 0 || train->full || rt_specaug_active(&train->specaug);
}

static rt_status precompute(struct distiller *d, const rt_dataset *train)
{
    const char *taps[KD_MAX_LINKS];
    int nt = recipe_taps(&d->kd, taps);
    double bytes = 0;
    for (int j = 0; j < d->kg[0].n_links; j++) bytes += (double)d->kg[0].links[j].row * (double)train->n * 4;
    if (inputs_augmented(d->r, train) || bytes > PRECOMPUTE_MAX) {
        if (!d->quiet)
            printf("teacher: run on every batch (%s)\n",
                   bytes > PRECOMPUTE_MAX ? "its taps over the data would not fit in 2 GiB" : "inputs are augmented");
        return RT_OK;
    }
    struct tap_rows tr[KD_MAX_LINKS];
    rt_status s = run_teacher(d->teacher, d->kd.teacher, train, d->r->batch, taps, nt, d->pre, tr);
    if (s != RT_OK) return s;
    d->n_pre = nt;
    for (int i = 0; i < d->n_kg; i++)
        for (int j = 0; j < d->kg[i].n_links; j++)
            for (int q = 0; q < nt; q++)
                if (!strcmp(taps[q], d->kg[i].links[j].tap)) d->kg[i].links[j].cache = d->pre[q];
    if (!d->quiet)
        printf("teacher: taps computed once over the %lld training samples (%.1f MB; no input augmentation)\n",
               (long long)train->n, bytes / 1e6);
    return RT_OK;
}

static rt_status kd_ready(void *ctx, rt_model *m, const rt_dataset *train)
{
    struct distiller *d = ctx;
    rt_params_init_from(m->params, d->r->seed, d->first_aux);
    rt_params_allow_growth(m->params, false);
    if (!d->cached) return precompute(d, train);
    if (inputs_augmented(d->r, train))
        return rt_error(RT_ERR_ARG, "%s: a teacher cache holds targets for the stored inputs; %s would change the "
                        "inputs every epoch (run the teacher live instead)", d->r->label,
                        train->full ? "random crops (crop=N)" : "input augmentation");
    const char *rows = rt_st_meta_get(&d->cache, "rows"), *hash = rt_st_meta_get(&d->cache, "data_hash");
    char want[20];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)rt_kd_data_hash(train));
    if (!rows || atoll(rows) != train->n)
        return rt_error(RT_ERR_FORMAT, "%s: the teacher cache holds %s rows, the training data (%s) %lld",
                        d->kd.cache, rows ? rows : "no", train->source, (long long)train->n);
    if (!hash || strcmp(hash, want))
        return rt_error(RT_ERR_FORMAT,
                        "%s: the teacher cache was written for other data or another order (data hash %s, "
                        "this run's %s is %s): write it again with `retort teacher-cache`",
                        d->kd.cache, hash ? hash : "missing", train->source, want);
    for (int i = 0; i < d->n_kg; i++)
        for (int j = 0; j < d->kg[i].n_links; j++) {
            const rt_st_tensor *e = rt_st_find(&d->cache, d->kg[i].links[j].tap);
            if (e->dtype != RT_F32 || e->ndim < 1 || e->shape[0] != train->n)
                return rt_error(RT_ERR_FORMAT, "%s: tap '%s' is not F32 with %lld rows", d->kd.cache, e->name,
                                (long long)train->n);
        }
    return RT_OK;
}

static rt_status kd_before_step(void *ctx, rt_graph *g, const int64_t *idx, int64_t n)
{
    struct distiller *d = ctx;
    struct kgraph *kg = find_kg(d, g);
    if (!kg) return rt_error(RT_ERR_ARG, "distill: unknown graph");
    if (!d->cached && !kg->links[0].cache) {
        memcpy(rt_data(kg->tx), rt_data(kg->x), (size_t)rt_numel(kg->x) * sizeof(float));
        rt_graph_forward(kg->tg);
        for (int i = 0; i < kg->n_links; i++)
            memcpy(rt_data(kg->links[i].dst), rt_data(kg->links[i].src), (size_t)rt_numel(kg->links[i].src) * sizeof(float));
        return RT_OK;
    }
    for (int i = 0; i < kg->n_links; i++) {
        const struct link *l = &kg->links[i];
        float *dst = rt_data(l->dst);
        for (int64_t r = 0; r < n; r++)
            memcpy(dst + r * l->row, l->cache + idx[r] * l->row, (size_t)l->row * sizeof(float));
        memset(dst + n * l->row, 0, (size_t)((kg->batch - n) * l->row) * sizeof(float));
    }
    return RT_OK;
}

/* ---- monitor ---- */

static void warn(struct distiller *d, cJSON *log, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn(struct distiller *d, cJSON *log, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%sretort: warning: %s\n", d->progress ? "\n" : "", msg);
    cJSON *w = cJSON_GetObjectItemCaseSensitive(log, "warnings");
    if (!w) w = cJSON_AddArrayToObject(log, "warnings");
    cJSON_AddItemToArray(w, cJSON_CreateString(msg));
    d->warnings++;
}

/* Norm of the gradient at the model's own (not auxiliary) parameters. */
static double student_grad_norm(const rt_params *p)
{
    double s = 0;
    for (int i = 0; i < p->n_views; i++) {
        const rt_param_view *v = &p->views[i];
        if (v->kind != RT_PARAM || rt_params_is_aux(v)) continue;
        const float *gr = rt_params_gradv(p, v);
        for (size_t j = 0; j < v->numel; j++) s += (double)gr[j] * gr[j];
    }
    return sqrt(s);
}

static const char *dead_cause(const struct distiller *d, int i)
{
    const rt_kd_term *k = &d->kd.terms[i - 1];
    if (k->kind != RT_KD_RESPONSE && k->distance == RT_KD_MSE && k->normalize)
        return "MSE between L2-normalised vectors is (2 / width) x (1 - cos), too small to train; use "
               "\"distance\": \"cosine\"";
    if (k->kind == RT_KD_ATTENTION)
        return "MSE between attention probabilities is tiny (each row sums to 1, so entries are about 1/T for T "
               "tokens and squared differences about 1/T^2); raise its weight by a factor of about T";
    if (k->kind == RT_KD_RESPONSE)
        return "the soft targets add little here: raise alpha or the temperature, or check that the teacher's "
               "outputs are logits";
    return "its weight is small next to the other terms, or the student already matches the teacher; raise "
           "its weight or check the taps";
}

static rt_status kd_monitor(void *ctx, rt_graph *g, int64_t step, cJSON *log, char *text, size_t tn)
{
    struct distiller *d = ctx;
    struct kgraph *kg = find_kg(d, g);
    if (!kg) return rt_error(RT_ERR_ARG, "distill: unknown graph");
    double lsum = 0, gsum = 0, gn[RT_KD_MAX_TERMS + 1];
    for (int i = 0; i < d->n; i++) {
        lsum += fabs(rt_data(kg->weighted[i])[0]);
        rt_params_zero_grad(g->params);
        rt_status s = rt_graph_backward(g, kg->weighted[i]);
        if (s != RT_OK) return s;
        gn[i] = student_grad_norm(g->params);
        gsum += gn[i];
    }
    cJSON *terms = cJSON_AddArrayToObject(log, "terms");
    size_t len = 0;
    text[0] = 0;
    for (int i = 0; i < d->n; i++) {
        double raw = rt_data(kg->raw[i])[0], wv = rt_data(kg->weighted[i])[0];
        double ls = lsum > 0 ? fabs(wv) / lsum : 0, gs = gsum > 0 ? gn[i] / gsum : 0;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", d->names[i]);
        cJSON_AddNumberToObject(t, "raw", raw);
        cJSON_AddNumberToObject(t, "weighted", wv);
        cJSON_AddNumberToObject(t, "loss_share", ls);
        cJSON_AddNumberToObject(t, "grad_norm", gn[i]);
        cJSON_AddNumberToObject(t, "grad_share", gs);
        cJSON_AddItemToArray(terms, t);
        d->share[i] = gs;
        if (len + 1 < tn) {
            int w = snprintf(text + len, tn - len, "%s%s %.0f%%", i ? " " : "[grad ", d->names[i], 100 * gs);
            if (w > 0) len += (size_t)w;
        }
        if (i == 0) continue;
        d->low[i] = gs < DEAD_SHARE ? d->low[i] + 1 : 0;
        if (d->low[i] >= DEAD_CHECKS && !d->warned_dead[i]) {
            d->warned_dead[i] = true;
            warn(d, log,
                 "step %lld: distillation term '%s' has carried %.2f%% of the gradient (%.2f%% of the loss) for %d "
                 "checks: it is not teaching the student. Likely cause: %s",
                 (long long)step, d->names[i], 100 * gs, 100 * ls, DEAD_CHECKS, dead_cause(d, i));
        }
    }
    if (len + 1 < tn) snprintf(text + len, tn - len, "]");
    d->has_share = true;
    return RT_OK;
}

static void kd_epoch_end(void *ctx, int64_t epoch, double val, bool higher_better, cJSON *log)
{
    struct distiller *d = ctx;
    bool worse = isfinite(val) && isfinite(d->prev_val) && (higher_better ? val < d->prev_val : val > d->prev_val);
    if (worse && d->has_share && !d->warned_dom)
        for (int i = 1; i < d->n; i++)
            if (d->share[i] > DOMINANT_SHARE) {
                d->warned_dom = true;
                warn(d, log,
                     "epoch %lld: distillation term '%s' carries %.1f%% of the gradient while the validation metric "
                     "got worse (%.4f -> %.4f): lower its weight or raise the task loss's",
                     (long long)epoch + 1, d->names[i], 100 * d->share[i], d->prev_val, val);
                break;
            }
    if (isfinite(val)) d->prev_val = val;
}

/* ---- set-up ---- */

uint64_t rt_kd_data_hash(const rt_dataset *ds)
{
    uint64_t h = 0xcbf29ce484222325ull;
#define FNV(ptr, bytes)                                                                                         \
    do {                                                                                                        \
        const unsigned char *p_ = (const unsigned char *)(ptr);                                                 \
        for (size_t i_ = 0, n_ = (bytes); i_ < n_; i_++) h = (h ^ p_[i_]) * 0x100000001b3ull;                    \
    } while (0)
    int64_t n = ds->n;
    FNV(&n, sizeof n);
    FNV(ds->x, (size_t)(ds->n * ds->x_size) * sizeof(float));
    if (ds->label) FNV(ds->label, (size_t)ds->n * sizeof(int32_t));
    if (ds->y) FNV(ds->y, (size_t)(ds->n * ds->y_size) * sizeof(float));
#undef FNV
    return h;
}

static int64_t param_count(const rt_model *m) { return (int64_t)rt_params_count(m->params, RT_PARAM, false); }

/* Weights, names and alpha; the student is open. */
static rt_status resolve(struct distiller *d, const rt_model *student, int64_t teacher_params, bool quiet)
{
    rt_kd_spec *kd = &d->kd;
    int resp = -1;
    for (int i = 0; i < kd->n_terms; i++)
        if (kd->terms[i].kind == RT_KD_RESPONSE) resp = i;
    d->has_response = resp >= 0;
    if (kd->alpha_auto) {
        int64_t sp = param_count(student);
        if (teacher_params <= 0)
            return rt_error(RT_ERR_ARG, "%s: alpha \"auto\" needs the teacher's parameter count (a teacher file, or a "
                            "cache with \"teacher_params\")", d->r->label);
        double ratio = (double)teacher_params / (double)sp, a = 0.5 + 0.2 * log10(ratio);
        kd->alpha = a < 0.5 ? 0.5 : a > 0.9 ? 0.9 : a;
        if (!quiet)
            printf("alpha auto: teacher/student = %lld/%lld parameters = %.2fx -> alpha = 0.5 + 0.2 log10(%.2f) "
                   "clamped to [0.5, 0.9] = %.3f\n",
                   (long long)teacher_params, (long long)sp, ratio, ratio, kd->alpha);
    }
    d->w[0] = isfinite(kd->task_weight) ? kd->task_weight : resp >= 0 ? 1.0 - kd->alpha : 1.0;
    snprintf(d->names[0], sizeof d->names[0], "task");
    for (int i = 0; i < kd->n_terms; i++) {
        rt_kd_term *k = &kd->terms[i];
        if (k->kind == RT_KD_RESPONSE && !isfinite(k->weight)) k->weight = kd->alpha;
        d->w[i + 1] = k->weight;
        bool dup = false;
        for (int j = 0; j < kd->n_terms; j++) dup |= j != i && kd->terms[j].kind == k->kind;
        if (dup) snprintf(d->names[i + 1], sizeof d->names[i + 1], "%s.%d", rt_kd_kind_name(k->kind), i);
        else snprintf(d->names[i + 1], sizeof d->names[i + 1], "%s", rt_kd_kind_name(k->kind));
    }
    d->n = kd->n_terms + 1;
    for (int i = 0; i < d->n; i++) {
        bool kl = i > 0 && kd->terms[i - 1].kind == RT_KD_RESPONSE && d->classification;
        d->mult[i] = d->w[i] * (kl ? kd->temperature * kd->temperature : 1.0);
    }
    return RT_OK;
}

static rt_status open_teacher(struct distiller *d, const rt_model *student)
{
    const rt_kd_spec *kd = &d->kd;
    if (kd->teacher[0]) {
        rt_status s = rt_model_load(&d->teacher, kd->teacher);
        if (s != RT_OK) return rt_error(s, "teacher: %s", rt_errmsg());
        if (!rt_shape_equal(d->teacher->in_ndim, d->teacher->in_shape, student->in_ndim, student->in_shape)) {
            char a[64], b[64];
            return rt_error(RT_ERR_SHAPE, "%s: the teacher's input %s and the student's %s differ", kd->teacher,
                            rt_shape_str(a, sizeof a, d->teacher->in_ndim, d->teacher->in_shape),
                            rt_shape_str(b, sizeof b, student->in_ndim, student->in_shape));
        }
    }
    if (kd->cache[0]) {
        rt_status s = rt_st_open(&d->cache, kd->cache);
        if (s != RT_OK) return s;
        d->cached = true;
        const char *kind = rt_st_meta_get(&d->cache, "kind"), *ver = rt_st_meta_get(&d->cache, "format_version");
        if (!kind || strcmp(kind, "teacher-cache") || !ver || strcmp(ver, "1"))
            return rt_error(RT_ERR_FORMAT, "%s: not a retort teacher cache (kind %s, format_version %s)", kd->cache,
                            kind ? kind : "missing", ver ? ver : "missing");
        if (d->r->noise > 0 || d->r->mixup > 0)
            return rt_error(RT_ERR_ARG, "%s: a teacher cache holds targets for the stored inputs; noise and mixup "
                            "augmentation would change the inputs (run the teacher live instead)", d->r->label);
    }
    return RT_OK;
}

static void distiller_free(struct distiller *d)
{
    for (int i = 0; i < d->n_kg; i++) rt_graph_free(d->kg[i].tg);
    rt_model_free(d->teacher);
    if (d->cached) rt_st_close(&d->cache);
    for (int i = 0; i < d->n_pre; i++) free(d->pre[i]);
}

/* Gain over scratch (positive: better) and retention of the teacher's
 * metric (1: as good), oriented by the metric's direction. */
static double gain_of(const rt_distill_result *res)
{
    double d = res->student.val_metric - res->baseline.val_metric;
    return res->higher_better ? d : -d;
}

static double retention_of(const rt_distill_result *res)
{
    return res->higher_better ? res->student.val_metric / res->teacher_metric
                              : res->teacher_metric / res->student.val_metric;
}

static void write_summary(const rt_recipe *r, const rt_distill_result *res, bool baseline)
{
    char path[600];
    snprintf(path, sizeof path, "%s/distill.json", r->out);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "distill");
    cJSON_AddStringToObject(o, "metric", res->metric);
    cJSON_AddBoolToObject(o, "higher_is_better", res->higher_better);
    cJSON *t = cJSON_AddObjectToObject(o, "teacher"), *s = cJSON_AddObjectToObject(o, "student");
    cJSON_AddNumberToObject(t, "params", (double)res->teacher_params);
    if (isfinite(res->teacher_metric)) cJSON_AddNumberToObject(t, res->metric, res->teacher_metric);
    cJSON_AddNumberToObject(s, "params", (double)res->student_params);
    if (isfinite(res->student.val_metric)) cJSON_AddNumberToObject(s, res->metric, res->student.val_metric);
    if (baseline) {
        cJSON *b = cJSON_AddObjectToObject(o, "baseline");
        cJSON_AddNumberToObject(b, "params", (double)res->student_params);
        if (isfinite(res->baseline.val_metric)) cJSON_AddNumberToObject(b, res->metric, res->baseline.val_metric);
        cJSON_AddNumberToObject(o, "gain", gain_of(res));
    }
    if (res->student_params > 0)
        cJSON_AddNumberToObject(o, "param_ratio", (double)res->teacher_params / (double)res->student_params);
    if (isfinite(retention_of(res))) cJSON_AddNumberToObject(o, "retention", retention_of(res));
    if (isfinite(res->alpha)) cJSON_AddNumberToObject(o, "alpha", res->alpha);
    cJSON_AddNumberToObject(o, "warnings", res->warnings);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt) return;
    rt_atomic af;
    if (rt_atomic_open(&af, path) == RT_OK) {
        if (fputs(txt, af.f) < 0 || fputc('\n', af.f) < 0) rt_atomic_abort(&af);
        else rt_atomic_commit(&af);
    }
    free(txt);
}

static double eval_teacher(struct distiller *d, const char *metric)
{
    if (!d->teacher || !d->r->val[0]) return NAN;
    rt_dataset val;
    if (rt_dataset_open(&val, d->r->val) != RT_OK) return NAN;
    rt_eval_report rep;
    double v = NAN;
    if (rt_eval_model(d->teacher, &val, d->r->batch, &rep) == RT_OK) {
        v = rt_eval_report_get(&rep, metric);
        rt_eval_report_free(&rep);
    }
    rt_dataset_free(&val);
    return v;
}

rt_status rt_distill_run(const rt_recipe *r, const rt_distill_opts *o, rt_distill_result *res)
{
    memset(res, 0, sizeof *res);
    res->teacher_metric = res->alpha = NAN;
    res->student.val_metric = res->baseline.val_metric = NAN;
    if (!r->kd.on) return rt_error(RT_ERR_ARG, "%s: no \"distill\" object (use `retort train`)", r->label);
    struct distiller d;
    memset(&d, 0, sizeof d);
    d.r = r;
    d.kd = r->kd;
    d.first_aux = -1;
    d.prev_val = NAN;
    d.progress = o->train.progress && !o->train.quiet;
    d.quiet = o->train.quiet;
    rt_model *student = NULL;
    rt_status s = rt_model_open(&student, r->model, r->seed);
    if (s == RT_OK) {
        d.classification = student->task == RT_TASK_CLASSIFICATION;
        res->metric = rt_eval_task_metric(student->task);
        const rt_metric_info *mi = rt_metric_find(res->metric);
        res->higher_better = mi ? mi->higher_is_better : true;
        res->student_params = param_count(student);
        s = open_teacher(&d, student);
    }
    if (s == RT_OK) {
        const char *tp = d.cached ? rt_st_meta_get(&d.cache, "teacher_params") : NULL;
        res->teacher_params = d.teacher ? param_count(d.teacher) : tp ? atoll(tp) : 0;
        s = resolve(&d, student, res->teacher_params, o->train.quiet);
    }
    rt_model_free(student);
    if (s == RT_OK) {
        res->alpha = d.has_response ? d.kd.alpha : NAN;
        res->teacher_metric = eval_teacher(&d, res->metric);
        if (!o->train.quiet && isfinite(res->teacher_metric))
            printf("teacher %s: %s %.4f on %s (%lld parameters)\n", d.teacher->name, res->metric, res->teacher_metric,
                   r->val, (long long)res->teacher_params);
        rt_train_hooks h = {.ctx = &d, .verb = "distilling", .build = kd_build, .ready = kd_ready,
                            .before_step = kd_before_step, .monitor_every = d.kd.monitor_every,
                            .monitor = kd_monitor, .epoch_end = kd_epoch_end};
        s = rt_train_run_with(r, &o->train, &h, &res->student);
        res->warnings = d.warnings;
    }
    distiller_free(&d);
    if (s == RT_OK && o->baseline) {
        rt_recipe b = *r;
        b.kd.on = false;
        if (strlen(r->out) + sizeof "/baseline" > sizeof b.out)
            return rt_error(RT_ERR_ARG, "%s: the run directory name is too long", r->out);
        memcpy(b.out + strlen(r->out), "/baseline", sizeof "/baseline");
        char ck[600];
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", b.out);
        rt_train_opts bo = o->train;
        bo.resume = o->train.resume && access(ck, F_OK) == 0;
        if (!o->train.quiet) printf("baseline: the same student, task loss only, same budget -> %s\n", b.out);
        s = rt_train_run(&b, &bo, &res->baseline);
    }
    if (s == RT_OK) {
        write_summary(r, res, o->baseline);
        if (!o->train.quiet) {
            printf("\n%-22s %12s %12s\n", "", "params", res->metric);
            if (res->teacher_params) printf("%-22s %12lld %12.4f\n", "teacher", (long long)res->teacher_params, res->teacher_metric);
            printf("%-22s %12lld %12.4f\n", "student (distilled)", (long long)res->student_params, res->student.val_metric);
            if (o->baseline)
                printf("%-22s %12lld %12.4f\n", "student (scratch)", (long long)res->student_params,
                       res->baseline.val_metric);
            if (res->teacher_params)
                printf("parameter ratio %.2fx", (double)res->teacher_params / (double)res->student_params);
            if (isfinite(retention_of(res))) printf(", retention %.1f%%", 100 * retention_of(res));
            if (o->baseline) printf(", gain over scratch %+.4f (%s)", gain_of(res), res->higher_better ? "higher is better" : "lower is better");
            printf("\n");
        }
    }
    return s;
}

/* ---------------- teacher cache ---------------- */

/* The teacher's taps over ds in data set order, batches of `batch` (the
 * last one partial): buf[i] gets ds->n rows of tr[i].row floats (malloc'ed),
 * tr[i] the tap's shape over the data set.
 * The cache file and a live run without augmentation both come from here,
 * so their numbers are the same bit for bit (a row's result can depend on
 * its position in a GEMM, so the batching is part of the definition). */
static rt_status run_teacher(rt_model *m, const char *label, const rt_dataset *ds, int64_t batch,
                             const char *const *taps, int nt, float **buf, struct tap_rows *tr)
{
    rt_loader ld;
    rt_graph *g[2] = {NULL, NULL};
    const rt_node *src[2][KD_MAX_LINKS];
    rt_loader_opts lo = {.batch = batch};
    rt_status s = rt_eval_check_input(m, ds);
    if (s == RT_OK) s = rt_loader_init(&ld, ds, &lo);
    else return s;
    int64_t rem = ds->n % batch;
    for (int q = 0; q < 2 && s == RT_OK; q++) {
        int64_t b = q == 0 ? batch : rem;
        if (b == 0) continue;
        if (!(g[q] = rt_model_graph(m, b, RT_PLAN_INFER_TAPS))) s = rt_error(RT_ERR_ARG, "%s: %s", label, rt_errmsg());
        for (int i = 0; s == RT_OK && i < nt; i++) {
            src[q][i] = rt_graph_tap(g[q], taps[i]);
            char avail[600];
            if (!src[q][i] || !src[q][i]->tag[0])
                s = rt_error(RT_ERR_ARG, "%s: the teacher has no tap '%s' (available: %s)", label, taps[i],
                             list_taps(g[q], avail, sizeof avail));
            else {
                const rt_node *n = src[q][i];
                tr[i].row = rt_numel(n) / b;
                tr[i].ndim = n->out.ndim;
                tr[i].shape[0] = ds->n;
                for (int k = 1; k < n->out.ndim; k++) tr[i].shape[k] = n->out.shape[k];
            }
        }
        if (s == RT_OK) rt_graph_set_training(g[q], false);
    }
    for (int i = 0; s == RT_OK && i < nt; i++)
        if (!(buf[i] = malloc((size_t)(tr[i].row * ds->n) * sizeof(float))))
            s = rt_error(RT_ERR_NOMEM, "%s: out of memory for the teacher's tap '%s' (%lld rows)", label, taps[i],
                         (long long)ds->n);
    if (s == RT_OK) {
        float *x[2] = {rt_data(rt_graph_tap(g[0], "input")), g[1] ? rt_data(rt_graph_tap(g[1], "input")) : NULL};
        rt_batch bt = {.x = x[0], .cap = batch};
        int64_t done = 0;
        while (rt_loader_next(&ld, &bt)) {
            int q = bt.n == batch ? 0 : 1;
            if (q == 1) memcpy(x[1], x[0], (size_t)(bt.n * ds->x_size) * sizeof(float));
            rt_graph_forward(g[q]);
            for (int i = 0; i < nt; i++)
                memcpy(buf[i] + done * tr[i].row, rt_data(src[q][i]), (size_t)(bt.n * tr[i].row) * sizeof(float));
            done += bt.n;
        }
    }
    if (s != RT_OK)
        for (int i = 0; i < nt; i++) free(buf[i]), buf[i] = NULL;
    rt_graph_free(g[0]);
    rt_graph_free(g[1]);
    rt_loader_free(&ld);
    return s;
}

/* The distinct teacher taps the recipe's terms read. */
static int recipe_taps(const rt_kd_spec *kd, const char **taps)
{
    int nt = 0;
    for (int i = 0; i < kd->n_terms; i++) {
        const rt_kd_term *k = &kd->terms[i];
        for (int j = 0; j < (k->kind == RT_KD_RESPONSE ? 1 : k->n_pairs); j++) {
            const char *t = k->kind == RT_KD_RESPONSE ? "output" : k->teacher[j];
            bool seen = false;
            for (int q = 0; q < nt; q++) seen |= !strcmp(taps[q], t);
            if (!seen) taps[nt++] = t;
        }
    }
    return nt;
}

rt_status rt_teacher_cache_write(const rt_recipe *r, const char *out, bool quiet)
{
    if (!r->kd.on || !r->kd.teacher[0])
        return rt_error(RT_ERR_ARG, "%s: a teacher cache needs a \"distill\" object with a \"teacher\" file", r->label);
    const char *taps[KD_MAX_LINKS];
    int nt = recipe_taps(&r->kd, taps);
    rt_model *m = NULL;
    rt_dataset ds;
    memset(&ds, 0, sizeof ds);
    float *buf[KD_MAX_LINKS] = {0};
    struct tap_rows tr[KD_MAX_LINKS];
    rt_status s = rt_model_load(&m, r->kd.teacher);
    if (s != RT_OK) s = rt_error(s, "teacher: %s", rt_errmsg());
    if (s == RT_OK) s = rt_dataset_open(&ds, r->train);
    if (s == RT_OK && r->subset < 1.0) s = rt_dataset_subset(&ds, r->subset, r->seed);
    if (s == RT_OK) s = run_teacher(m, r->kd.teacher, &ds, r->batch, taps, nt, buf, tr);
    if (s == RT_OK) {
        double bytes = 0;
        char rows[32], hash[20], tp[32];
        snprintf(rows, sizeof rows, "%lld", (long long)ds.n);
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)rt_kd_data_hash(&ds));
        snprintf(tp, sizeof tp, "%lld", (long long)param_count(m));
        rt_st_meta meta[] = {{"kind", "teacher-cache"}, {"format_version", "1"}, {"rows", rows},
                             {"data", (char *)r->train}, {"data_hash", hash}, {"teacher_params", tp},
                             {"teacher", (char *)r->kd.teacher}};
        rt_st_entry e[KD_MAX_LINKS];
        for (int i = 0; i < nt; i++) {
            e[i] = (rt_st_entry){taps[i], RT_F32, tr[i].ndim, tr[i].shape, buf[i]};
            bytes += (double)tr[i].row * (double)ds.n * sizeof(float);
        }
        s = rt_st_write(out, e, nt, meta, (int)(sizeof meta / sizeof meta[0]));
        if (s == RT_OK && !quiet)
            printf("teacher cache: %d taps x %lld rows (%.1f MB) of %s over %s -> %s (data hash %s)\n", nt,
                   (long long)ds.n, bytes / 1e6, r->kd.teacher, r->train, out, hash);
    }
    for (int i = 0; i < nt; i++) free(buf[i]);
    rt_dataset_free(&ds);
    rt_model_free(m);
    return s;
}
