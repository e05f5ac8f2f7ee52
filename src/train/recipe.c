/*
 * recipe.c - training recipes: JSON + `--set` overrides -> rt_recipe (see recipe.h).
 */
#include "train/recipe.h"

#include "io/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const loss_names[RT_LOSS_KIND_COUNT + 1] = {"cross_entropy", "mse", "l1", "ccc",
                                                                 "elbo",          "aam_softmax", NULL};

const char *rt_loss_kind_name(enum rt_loss_kind k) { return (unsigned)k < RT_LOSS_KIND_COUNT ? loss_names[k] : "?"; }

static void copy_str(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

static int index_of(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

static void parse_data(rt_cfg *c, rt_recipe *r)
{
    const cJSON *d = rt_cfg_obj(c, c->root, "data", true);
    const char *train = NULL, *val = "";
    rt_cfg_str(c, d, "train", true, NULL, &train);
    rt_cfg_str(c, d, "val", false, NULL, &val);
    rt_cfg_int(c, d, "batch", true, 1, 1 << 20, &r->batch);
    r->subset = 1.0;
    rt_cfg_num(c, d, "subset", false, 1e-6, 1.0, &r->subset);
    rt_cfg_bool(c, d, "drop_last", false, &r->drop_last);
    const cJSON *a = rt_cfg_obj(c, d, "augment", false);
    double noise = 0, mixup = 0;
    rt_cfg_num(c, a, "noise", false, 0, 100, &noise);
    rt_cfg_num(c, a, "mixup", false, 0, 100, &mixup);
    r->noise = (float)noise;
    r->mixup = (float)mixup;
    copy_str(r->train, sizeof r->train, train);
    copy_str(r->val, sizeof r->val, val);
}

static void parse_optim(rt_cfg *c, rt_recipe *r)
{
    static const char *const kinds[] = {"sgd", "adam", "adamw", NULL};
    const cJSON *o = rt_cfg_obj(c, c->root, "optim", true);
    const char *name = "adamw";
    rt_cfg_str(c, o, "name", true, kinds, &name);
    int k = c->status == RT_OK ? index_of(kinds, name) : 0;
    r->optim = rt_optim_defaults((enum rt_optim_kind)(k < 0 ? 0 : k));
    rt_cfg_num(c, o, "lr", true, 1e-12, 1e10, &r->lr);
    rt_cfg_num(c, o, "weight_decay", false, 0, 10, &r->optim.weight_decay);
    rt_cfg_num(c, o, "momentum", false, 0, 0.9999, &r->optim.momentum);
    rt_cfg_bool(c, o, "nesterov", false, &r->optim.nesterov);
    rt_cfg_num(c, o, "beta1", false, 0, 0.9999999, &r->optim.beta1);
    rt_cfg_num(c, o, "beta2", false, 0, 0.9999999, &r->optim.beta2);
    rt_cfg_num(c, o, "eps", false, 0, 1, &r->optim.eps);
    rt_cfg_bool(c, o, "no_decay_1d", false, &r->optim.no_decay_1d);
}

static void parse_schedule(rt_cfg *c, rt_recipe *r)
{
    static const char *const kinds[] = {"constant", "step", "cosine", NULL};
    const cJSON *s = rt_cfg_obj(c, c->root, "schedule", false);
    const char *name = "constant";
    rt_cfg_str(c, s, "name", false, kinds, &name);
    int k = c->status == RT_OK ? index_of(kinds, name) : 0;
    r->sched = rt_sched_defaults((enum rt_sched_kind)(k < 0 ? 0 : k), r->lr);
    rt_cfg_num(c, s, "warmup_epochs", false, 0, 1000, &r->warmup_epochs);
    rt_cfg_num(c, s, "warmup_start", false, 0, 1, &r->sched.warmup_start);
    rt_cfg_num(c, s, "min_lr", false, 0, 100, &r->sched.min_lr);
    rt_cfg_num(c, s, "gamma", false, 1e-9, 1, &r->sched.gamma);
    rt_cfg_int(c, s, "step_epochs", false, 1, 1 << 20, &r->sched.step_epochs);
}

static void parse_loss(rt_cfg *c, rt_recipe *r)
{
    const cJSON *l = rt_cfg_obj(c, c->root, "loss", true);
    const char *name = NULL;
    rt_cfg_str(c, l, "name", true, loss_names, &name);
    r->loss = c->status == RT_OK ? (enum rt_loss_kind)index_of(loss_names, name) : RT_LOSS_CE;
    rt_cfg_num(c, l, "label_smoothing", false, 0, 1, &r->label_smoothing);
    r->beta = 1.0;
    rt_cfg_num(c, l, "beta", false, 0, 1e6, &r->beta);
    r->margin = 0.2; /* voxceleb_trainer / wespeaker's usual AAM-softmax settings */
    r->scale = 30.0;
    rt_cfg_num(c, l, "margin", false, 0, 3.14159, &r->margin);
    rt_cfg_num(c, l, "scale", false, 1e-3, 1e4, &r->scale);
}

static const char *const kd_kinds[RT_KD_KIND_COUNT + 1] = {"response", "feature", "attention", "embedding", NULL};

const char *rt_kd_kind_name(enum rt_kd_kind k) { return (unsigned)k < RT_KD_KIND_COUNT ? kd_kinds[k] : "?"; }

/* "pairs": [["teacher.tap", "student.tap"], ...] */
static void parse_pairs(rt_cfg *c, const cJSON *t, int ti, rt_kd_term *k)
{
    char key[64];
    snprintf(key, sizeof key, "distill.terms[%d].pairs", ti);
    const cJSON *a = rt_cfg_array(c, t, "pairs", k->kind != RT_KD_EMBEDDING);
    if (!a && c->status == RT_OK) { /* embedding: the models' standard tap */
        copy_str(k->teacher[0], RT_KD_TAP_MAX, "embedding");
        copy_str(k->student[0], RT_KD_TAP_MAX, "embedding");
        k->n_pairs = 1;
    }
    if (!a || c->status != RT_OK) return;
    int n = cJSON_GetArraySize(a);
    if (n < 1 || n > RT_KD_MAX_PAIRS) {
        rt_cfg_fail(c, key, "%d pairs (want 1 to %d)", n, RT_KD_MAX_PAIRS);
        return;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *p = cJSON_GetArrayItem(a, i);
        const cJSON *te = cJSON_GetArrayItem(p, 0), *st = cJSON_GetArrayItem(p, 1);
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsString(te) || !cJSON_IsString(st) ||
            !te->valuestring[0] || !st->valuestring[0] || strlen(te->valuestring) >= RT_KD_TAP_MAX ||
            strlen(st->valuestring) >= RT_KD_TAP_MAX) {
            rt_cfg_fail(c, key, "pair %d is not [\"teacher tap\", \"student tap\"] (names under %d characters)", i,
                        RT_KD_TAP_MAX);
            return;
        }
        copy_str(k->teacher[i], RT_KD_TAP_MAX, te->valuestring);
        copy_str(k->student[i], RT_KD_TAP_MAX, st->valuestring);
    }
    k->n_pairs = n;
}

static void parse_distill(rt_cfg *c, rt_recipe *r)
{
    static const char *const dists[] = {"mse", "cosine", NULL};
    rt_kd_spec *kd = &r->kd;
    const cJSON *d = rt_cfg_obj(c, c->root, "distill", false);
    if (!d) return;
    kd->on = true;
    const char *teacher = "", *cache = "";
    rt_cfg_str(c, d, "teacher", false, NULL, &teacher);
    rt_cfg_str(c, d, "cache", false, NULL, &cache);
    if (c->status == RT_OK && !*teacher && !*cache)
        rt_cfg_fail(c, "distill.teacher", "a teacher model file (or a teacher \"cache\") is required");
    copy_str(kd->teacher, sizeof kd->teacher, teacher);
    copy_str(kd->cache, sizeof kd->cache, cache);
    kd->alpha = 0.5;
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(d, "alpha");
    if (cJSON_IsString(al)) {
        static const char *const autos[] = {"auto", NULL};
        const char *v = NULL;
        rt_cfg_str(c, d, "alpha", false, autos, &v);
        kd->alpha_auto = true;
        kd->alpha = NAN;
    } else {
        rt_cfg_num(c, d, "alpha", false, 0, 1, &kd->alpha);
    }
    kd->temperature = 4.0;
    kd->task_weight = NAN;
    kd->monitor_every = 50;
    rt_cfg_num(c, d, "temperature", false, 1e-3, 1e3, &kd->temperature);
    rt_cfg_num(c, d, "task_weight", false, 0, 1e6, &kd->task_weight);
    rt_cfg_int(c, d, "monitor_every", false, 0, 1 << 30, &kd->monitor_every);
    const cJSON *terms = rt_cfg_array(c, d, "terms", true);
    int n = terms ? cJSON_GetArraySize(terms) : 0;
    if (c->status == RT_OK && (n < 1 || n > RT_KD_MAX_TERMS))
        rt_cfg_fail(c, "distill.terms", "%d terms (want 1 to %d)", n, RT_KD_MAX_TERMS);
    bool response = false;
    for (int i = 0; i < n && c->status == RT_OK; i++) {
        const cJSON *t = cJSON_GetArrayItem(terms, i);
        rt_kd_term *k = &kd->terms[i];
        const char *kind = NULL, *dist = NULL;
        rt_cfg_str(c, t, "kind", true, kd_kinds, &kind);
        if (c->status != RT_OK) break;
        k->kind = (enum rt_kd_kind)index_of(kd_kinds, kind);
        k->weight = 1.0;
        if (k->kind == RT_KD_RESPONSE) {
            char key[64];
            snprintf(key, sizeof key, "distill.terms[%d]", i);
            if (response) rt_cfg_fail(c, key, "a second response term");
            response = true;
            k->weight = NAN; /* alpha unless given; teacher and student "output" */
            rt_cfg_num(c, t, "weight", false, 0, 1e6, &k->weight);
            continue;
        }
        rt_cfg_num(c, t, "weight", false, 0, 1e6, &k->weight);
        dist = k->kind == RT_KD_EMBEDDING ? "cosine" : "mse";
        if (k->kind != RT_KD_ATTENTION) rt_cfg_str(c, t, "distance", false, dists, &dist);
        k->distance = c->status == RT_OK ? (enum rt_kd_distance)index_of(dists, dist) : RT_KD_MSE;
        rt_cfg_bool(c, t, "normalize", false, &k->normalize);
        parse_pairs(c, t, i, k);
    }
    kd->n_terms = n;
    if (c->status == RT_OK && (kd->alpha_auto || cJSON_GetObjectItemCaseSensitive(d, "alpha")) && !response)
        rt_cfg_fail(c, "distill.alpha", "alpha mixes the response term with the task loss: add {\"kind\": \"response\"}");
}

static rt_status recipe_from_cfg(rt_recipe *r, rt_cfg *c, const char *path, const char *const *sets, int n_sets);

rt_status rt_recipe_load(rt_recipe *r, const char *path, const char *const *sets, int n_sets)
{
    memset(r, 0, sizeof *r);
    rt_cfg c;
    rt_status s = rt_cfg_open(&c, path);
    return s == RT_OK ? recipe_from_cfg(r, &c, path, sets, n_sets) : s;
}

rt_status rt_recipe_parse(rt_recipe *r, const char *text, size_t len, const char *label, const char *const *sets,
                          int n_sets)
{
    memset(r, 0, sizeof *r);
    rt_cfg c;
    rt_status s = rt_cfg_parse(&c, text, len, label);
    return s == RT_OK ? recipe_from_cfg(r, &c, label, sets, n_sets) : s;
}

/* Apply the overrides, read every field, check; closes c. */
static rt_status recipe_from_cfg(rt_recipe *r, rt_cfg *cp, const char *path, const char *const *sets, int n_sets)
{
    rt_cfg c = *cp;
    rt_status s = RT_OK;
    for (int i = 0; i < n_sets && s == RT_OK; i++)
        if ((s = rt_cfg_set(&c, sets[i])) != RT_OK) rt_error(s, "%s: %s", path, rt_errmsg());
    if (s != RT_OK) {
        rt_cfg_close(&c);
        return s;
    }
    const char *name = "", *model = NULL, *out = "";
    rt_cfg_str(&c, c.root, "name", false, NULL, &name);
    rt_cfg_str(&c, c.root, "model", true, NULL, &model);
    rt_cfg_str(&c, c.root, "out", false, NULL, &out);
    parse_data(&c, r);
    parse_loss(&c, r);
    parse_optim(&c, r);
    parse_schedule(&c, r);
    parse_distill(&c, r);
    int64_t seed = 0;
    rt_cfg_int(&c, c.root, "epochs", true, 1, 1 << 20, &r->epochs);
    rt_cfg_int(&c, c.root, "seed", false, 0, INT64_MAX, &seed);
    rt_cfg_num(&c, c.root, "clip_grad_norm", false, 0, 1e9, &r->clip_grad_norm);
    r->log_every = 50;
    r->checkpoint_every = 0;
    rt_cfg_int(&c, c.root, "log_every", false, 1, 1 << 30, &r->log_every);
    rt_cfg_int(&c, c.root, "checkpoint_every", false, 0, 1 << 30, &r->checkpoint_every);
    s = rt_cfg_finish(&c);
    if (s == RT_OK) {
        r->seed = (uint64_t)seed;
        copy_str(r->name, sizeof r->name, name);
        copy_str(r->model, sizeof r->model, model);
        if (out && *out) copy_str(r->out, sizeof r->out, out);
        else snprintf(r->out, sizeof r->out, "runs/%s", *name ? name : "run");
        r->label = strdup(path);
        r->resolved = cJSON_Print(c.root);
        if (!r->label || !r->resolved) s = rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    }
    rt_cfg_close(&c);
    if (s != RT_OK) rt_recipe_free(r);
    return s;
}

void rt_recipe_free(rt_recipe *r)
{
    free(r->label);
    free(r->resolved);
    r->label = r->resolved = NULL;
}
