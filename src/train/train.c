/*
 * train.c - the training loop, checkpoints and resume (see train.h).
 *
 * One training graph at the batch size, plus one at the size of the partial
 * last batch when the data set does not divide (both share the model's flat
 * parameters, so gradients land in the same buffer). The loss node is added
 * on top of the model's "output" tap by the recipe's loss. A step: forward
 * (training mode, graph RNG step = optimizer step), backward, global gradient
 * norm (and clipping), the schedule's learning rate, the optimizer update.
 */
#include "train/train.h"

#include "core/ops.h"
#include "data/loader.h"
#include "io/fileio.h"
#include "models/model.h"
#include "metrics/metrics.h"
#include "train/eval.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tgraph {
    rt_graph *g;
    rt_node *x, *target, *loss;
    int64_t batch;
};

struct trainer {
    const rt_recipe *r;
    const rt_train_hooks *h;
    char mon_text[160];   /* the monitor's last progress text */
    rt_model *m;
    rt_dataset train, val;
    bool has_val;
    rt_loader ld;
    struct tgraph full, rem;
    rt_optim *opt;
    rt_sched sched;
    int64_t step, steps_per_epoch, total_steps, kill_at;
    double best, ep_sum;  /* ep_sum, ep_steps: this epoch's loss so far (kept in checkpoints) */
    int64_t ep_steps;
    bool has_best, higher_better;
    int first_aux;        /* first view the loss declared (aam_softmax), or -1 */
    const char *metric;
    FILE *log;
    char path_ckpt[600], path_log[600], path_model[600], path_best[600], path_recipe[600];
};

/* ---- graphs ---- */

static rt_status build_tgraph(struct trainer *t, int64_t batch, struct tgraph *tg)
{
    const rt_recipe *r = t->r;
    rt_model *m = t->m;
    tg->batch = batch;
    tg->g = rt_model_build(m, batch);
    if (!tg->g) return RT_ERR_ARG;
    rt_graph *g = tg->g;
    rt_node *out = rt_graph_tap(g, "output");
    tg->x = rt_graph_tap(g, "input");
    rt_graph_scope(g, "loss");
    switch (r->loss) {
    case RT_LOSS_CE:
        if (r->mixup > 0) {
            tg->target = rt_input(g, "target", RT_DIMS(batch, m->num_outputs));
            tg->loss = rt_cross_entropy_soft(g, out, tg->target);
        } else {
            tg->target = rt_input(g, "target", RT_DIMS(batch));
            tg->loss = rt_cross_entropy(g, out, tg->target, (float)r->label_smoothing);
        }
        break;
    case RT_LOSS_MSE:
    case RT_LOSS_L1:
    case RT_LOSS_CCC:
        if (m->task == RT_TASK_RECONSTRUCTION) tg->target = tg->x;
        else tg->target = rt_input(g, "target", RT_DIMS(batch, m->num_outputs));
        tg->loss = r->loss == RT_LOSS_MSE  ? rt_mse_loss(g, out, tg->target)
                   : r->loss == RT_LOSS_L1 ? rt_l1_loss(g, out, tg->target)
                                           : rt_ccc_loss(g, out, tg->target);
        break;
    case RT_LOSS_ELBO: {
        rt_node *mu = rt_graph_tap(g, "mu"), *lv = rt_graph_tap(g, "logvar");
        if (!mu || !lv) return rt_error(RT_ERR_ARG, "%s: loss 'elbo' needs a model with taps mu and logvar", r->label);
        tg->target = tg->x;
        tg->loss = rt_add(g, rt_mse_loss(g, out, tg->x), rt_scale(g, rt_gaussian_kl(g, mu, lv), (float)r->beta));
        break;
    }
    case RT_LOSS_AAM: {
        rt_node *emb = rt_graph_tap(g, "embedding");
        if (!emb || emb->out.ndim != 2)
            return rt_error(RT_ERR_ARG, "%s: loss 'aam_softmax' needs a model with an \"embedding\" tap (B, E)", r->label);
        int64_t K = t->train.n_classes, E = emb->out.shape[1];
        if (t->first_aux < 0) t->first_aux = g->params->n_views;
        rt_params_allow_growth(g->params, true); /* the class weights are a training-only head */
        rt_node *w = rt_param(g, RT_AUX_PREFIX "aam.weight", RT_DIMS(K, E), rt_init_normal(sqrtf(2.f / (float)(K + E))));
        tg->target = rt_input(g, "target", RT_DIMS(batch));
        tg->loss = rt_aam_softmax(g, emb, w, tg->target, (float)r->margin, (float)r->scale);
        break;
    }
    default:
        return rt_error(RT_ERR_ARG, "%s: unknown loss", r->label);
    }
    if (tg->loss && t->h->build) {
        rt_status s = t->h->build(t->h->ctx, g, batch, tg->loss, &tg->loss);
        if (s != RT_OK) return s;
    }
    if (!tg->loss || rt_graph_plan(g, RT_PLAN_TRAIN) != RT_OK) {
        rt_status s = rt_graph_status(g);
        return rt_error(s != RT_OK ? s : RT_ERR_NOMEM, "%s: loss '%s' on model '%s': %s", r->label,
                        rt_loss_kind_name(r->loss), m->name, s != RT_OK ? g->err : rt_errmsg());
    }
    g->seed = r->seed;
    rt_graph_set_training(g, true);
    return RT_OK;
}

/* The data fit the model and the loss (before any file is written). */
static rt_status check_data(struct trainer *t, const rt_dataset *ds)
{
    const rt_model *m = t->m;
    const rt_recipe *r = t->r;
    rt_status s = rt_eval_check_input(m, ds);
    if (s != RT_OK) return s;
    if (r->loss == RT_LOSS_AAM && ds->n_classes < 2)
        return rt_error(RT_ERR_ARG, "%s: loss 'aam_softmax' needs class labels (speakers) of at least 2 classes",
                        ds->source);
    if (r->loss == RT_LOSS_CE && (ds->n_classes < 1 || ds->n_classes > m->num_outputs))
        return rt_error(RT_ERR_ARG, "%s: %s for a model with %lld classes", ds->source,
                        ds->n_classes < 1 ? "no class labels" : "more classes than outputs",
                        (long long)m->num_outputs);
    bool regress = r->loss == RT_LOSS_MSE || r->loss == RT_LOSS_L1 || r->loss == RT_LOSS_CCC;
    if (regress && m->task != RT_TASK_RECONSTRUCTION && ds->y_size != m->num_outputs)
        return rt_error(RT_ERR_ARG, "%s: targets have %lld values, model '%s' has %lld outputs", ds->source,
                        (long long)ds->y_size, m->name, (long long)m->num_outputs);
    return RT_OK;
}

/* ---- files ---- */

static rt_status write_text(const char *path, const char *text)
{
    rt_atomic af;
    rt_status s = rt_atomic_open(&af, path);
    if (s != RT_OK) return s;
    if (fputs(text, af.f) < 0 || fputc('\n', af.f) < 0) {
        rt_atomic_abort(&af);
        return rt_error(RT_ERR_IO, "%s: cannot write", path);
    }
    return rt_atomic_commit(&af);
}

static rt_status save_checkpoint(struct trainer *t)
{
    char step[32], epoch[32], batch[32], n[32], bs[32], best[40], has_best[8], log_off[32], ep_sum[40], ep_steps[32];
    rt_loader_pos pos = rt_loader_tell(&t->ld);
    fflush(t->log);
    long off = ftell(t->log);
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    snprintf(epoch, sizeof epoch, "%llu", (unsigned long long)pos.epoch);
    snprintf(batch, sizeof batch, "%lld", (long long)pos.batch);
    snprintf(n, sizeof n, "%lld", (long long)pos.n);
    snprintf(bs, sizeof bs, "%lld", (long long)pos.batch_size);
    snprintf(best, sizeof best, "%.17g", t->best);
    snprintf(has_best, sizeof has_best, "%d", t->has_best);
    snprintf(log_off, sizeof log_off, "%ld", off);
    snprintf(ep_sum, sizeof ep_sum, "%a", t->ep_sum); /* hex float: exact */
    snprintf(ep_steps, sizeof ep_steps, "%lld", (long long)t->ep_steps);
    rt_st_meta meta[] = {{"kind", "checkpoint"}, {"recipe", t->r->resolved}, {"step", step},   {"epoch", epoch},
                         {"batch", batch},       {"samples", n},             {"batch_size", bs}, {"best", best},
                         {"has_best", has_best}, {"log_bytes", log_off}, {"epoch_loss_sum", ep_sum},
                         {"epoch_steps", ep_steps}};
    int ns = rt_optim_state_count(t->opt);
    rt_st_entry extra[RT_OPTIM_MAX_STATE];
    int64_t numel = (int64_t)rt_optim_state_numel(t->opt);
    for (int i = 0; i < ns; i++)
        extra[i] = (rt_st_entry){rt_optim_state_name(t->opt, i), RT_F32, 1, &numel, rt_optim_state(t->opt, i)};
    return rt_model_save_ex(t->m, t->path_ckpt, extra, ns, meta, (int)(sizeof meta / sizeof meta[0]));
}

static int64_t meta_int(const rt_safetensors *st, const char *key, bool *ok)
{
    const char *v = rt_st_meta_get(st, key);
    char *end = NULL;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || end == v || *end) *ok = false;
    return x;
}

static rt_status load_checkpoint(struct trainer *t)
{
    rt_safetensors st;
    const char *path = t->path_ckpt;
    rt_status s = rt_st_open(&st, path);
    if (s != RT_OK) return s;
    const char *kind = rt_st_meta_get(&st, "kind"), *recipe = rt_st_meta_get(&st, "recipe");
    if (!kind || strcmp(kind, "checkpoint"))
        s = rt_error(RT_ERR_FORMAT, "%s: not a retort checkpoint", path);
    else if (!recipe || strcmp(recipe, t->r->resolved))
        s = rt_error(RT_ERR_FORMAT, "%s: written by a different recipe (resume needs the same recipe and overrides)",
                     path);
    if (s == RT_OK) s = rt_model_load_weights(t->m, &st, path, "optim.");
    for (int i = 0; s == RT_OK && i < rt_optim_state_count(t->opt); i++) {
        const rt_st_tensor *e = rt_st_find(&st, rt_optim_state_name(t->opt, i));
        size_t n = rt_optim_state_numel(t->opt);
        if (!e || e->dtype != RT_F32 || e->ndim != 1 || (size_t)e->shape[0] != n)
            s = rt_error(RT_ERR_FORMAT, "%s: optimizer state '%s' is missing or does not fit", path,
                         rt_optim_state_name(t->opt, i));
        else memcpy(rt_optim_state(t->opt, i), rt_st_data(&st, e), n * sizeof(float));
    }
    bool ok = true;
    rt_loader_pos pos = {0};
    if (s == RT_OK) {
        t->step = meta_int(&st, "step", &ok);
        pos.epoch = (uint64_t)meta_int(&st, "epoch", &ok);
        pos.batch = meta_int(&st, "batch", &ok);
        pos.n = meta_int(&st, "samples", &ok);
        pos.batch_size = meta_int(&st, "batch_size", &ok);
        t->has_best = meta_int(&st, "has_best", &ok) != 0;
        const char *b = rt_st_meta_get(&st, "best"), *es = rt_st_meta_get(&st, "epoch_loss_sum");
        t->best = b ? strtod(b, NULL) : NAN;
        t->ep_sum = es ? strtod(es, NULL) : 0.0;
        t->ep_steps = meta_int(&st, "epoch_steps", &ok);
        long off = (long)meta_int(&st, "log_bytes", &ok);
        if (!ok) s = rt_error(RT_ERR_FORMAT, "%s: damaged metadata", path);
        else if (truncate(t->path_log, off) != 0)
            s = rt_error(RT_ERR_IO, "%s: cannot cut the log back to the checkpoint: %s", t->path_log, strerror(errno));
    }
    if (s == RT_OK) s = rt_loader_seek(&t->ld, pos);
    if (s == RT_OK) rt_optim_set_steps(t->opt, t->step);
    rt_st_close(&st);
    return s;
}

/* ---- the step ---- */

/* The first node (forward order) with a non-finite output. */
static const rt_node *first_nonfinite(const rt_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const rt_node *n = g->nodes[i];
        const float *d = rt_data(n);
        for (int64_t k = 0, e = rt_numel(n); k < e; k++)
            if (!isfinite(d[k])) return n;
    }
    return NULL;
}

static rt_status nonfinite(struct trainer *t, const rt_graph *g, const char *what)
{
    char d[200] = "no node (the gradients overflowed)";
    const rt_node *n = first_nonfinite(g);
    if (n) rt_node_desc(n, d, sizeof d);
    return rt_error(RT_ERR_NONFINITE, "%s: step %lld: non-finite %s; first non-finite value in %s (last good checkpoint: %s)",
                    t->r->label, (long long)t->step, what, d, t->path_ckpt);
}

/* Fill tg's input and target from batch b (loaded into the full graph's buffers). */
static void stage(struct trainer *t, struct tgraph *tg, const rt_batch *b)
{
    if (tg == &t->full) return;
    int64_t xs = rt_numel(t->full.x) / t->full.batch;
    memcpy(rt_data(tg->x), rt_data(t->full.x), (size_t)(b->n * xs) * sizeof(float));
    if (tg->target != tg->x) {
        int64_t ts = rt_numel(t->full.target) / t->full.batch;
        memcpy(rt_data(tg->target), rt_data(t->full.target), (size_t)(b->n * ts) * sizeof(float));
    }
}

static void log_line(struct trainer *t, cJSON *o);

static rt_status train_step(struct trainer *t, struct tgraph *tg, const rt_batch *b, double *loss, double *gnorm,
                            double *lr)
{
    rt_graph *g = tg->g;
    g->step = (uint32_t)t->step;
    rt_status s = t->h->before_step ? t->h->before_step(t->h->ctx, g, b->idx, b->n) : RT_OK;
    if (s != RT_OK) return s;
    rt_graph_forward(g);
    *loss = rt_data(tg->loss)[0];
    if (!isfinite(*loss)) return nonfinite(t, g, "loss");
    if (t->h->monitor && t->h->monitor_every > 0 && t->step % t->h->monitor_every == 0) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "type", "monitor");
        cJSON_AddNumberToObject(l, "step", (double)t->step);
        s = t->h->monitor(t->h->ctx, g, t->step, l, t->mon_text, sizeof t->mon_text);
        if (s != RT_OK) {
            cJSON_Delete(l);
            return s;
        }
        log_line(t, l);
    }
    rt_params_zero_grad(t->m->params);
    s = rt_graph_backward(g, tg->loss);
    if (s != RT_OK) return s;
    *gnorm = t->r->clip_grad_norm > 0 ? rt_grad_clip(t->m->params, t->r->clip_grad_norm) : rt_grad_norm(t->m->params);
    if (!isfinite(*gnorm)) return nonfinite(t, g, "gradient");
    *lr = rt_sched_lr(&t->sched, t->step);
    s = rt_optim_step(t->opt, *lr);
    if (s != RT_OK) return s;
    t->step++;
    if (t->kill_at > 0 && t->step == t->kill_at) raise(SIGKILL); /* test hook: RETORT_TEST_KILL_AT_STEP */
    return RT_OK;
}

/* ---- progress and logs ---- */

static void fmt_eta(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void progress(const struct trainer *t, const rt_train_opts *o, uint64_t epoch, int64_t in_epoch, double loss,
                     double sps, double elapsed, int64_t steps_done)
{
    if (o->quiet) return;
    double per = steps_done > 0 ? elapsed / (double)steps_done : 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, per * (double)(t->total_steps - t->step));
    if (o->progress) {
        int w = 24, filled = (int)(w * (double)in_epoch / (double)t->steps_per_epoch);
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        bar[w] = 0;
        fprintf(stderr, "\repoch %llu/%lld [%s] %lld/%lld loss %.4f%s%s %.0f samples/s ETA %s   ",
                (unsigned long long)epoch + 1, (long long)t->r->epochs, bar, (long long)in_epoch,
                (long long)t->steps_per_epoch, loss, t->mon_text[0] ? " " : "", t->mon_text, sps, eta);
    } else {
        printf("epoch %llu/%lld step %lld/%lld loss %.4f%s%s %.0f samples/s ETA %s\n", (unsigned long long)epoch + 1,
               (long long)t->r->epochs, (long long)t->step, (long long)t->total_steps, loss,
               t->mon_text[0] ? " " : "", t->mon_text, sps, eta);
        fflush(stdout);
    }
}

static void log_line(struct trainer *t, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        fputs(s, t->log);
        fputc('\n', t->log);
        fflush(t->log);
        free(s);
    }
    cJSON_Delete(o);
}

/* The validation metric into *v (and the whole report into log, if given). */
static rt_status validate(struct trainer *t, double *v, cJSON *log)
{
    rt_eval_report rep;
    rt_status s = rt_eval_model(t->m, &t->val, t->r->batch, &rep);
    if (s != RT_OK) return s;
    *v = rt_eval_report_get(&rep, t->metric);
    if (log) cJSON_AddItemToObject(log, "val", rt_eval_report_json(&rep));
    rt_eval_report_free(&rep);
    return RT_OK;
}

/* End of an epoch: validate, log, save model (and best), checkpoint. */
static rt_status end_epoch(struct trainer *t, const rt_train_opts *o, uint64_t epoch, double train_loss,
                           double seconds, rt_train_result *res)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "epoch");
    cJSON_AddNumberToObject(e, "epoch", (double)epoch + 1);
    cJSON_AddNumberToObject(e, "step", (double)t->step);
    cJSON_AddNumberToObject(e, "train_loss", train_loss);
    cJSON_AddNumberToObject(e, "seconds", seconds);
    /* bad manifest rows left out (on_bad_row=skip): always written, 0 when none */
    cJSON_AddNumberToObject(e, "train_skipped_rows", (double)t->train.n_skipped);
    if (t->has_val) cJSON_AddNumberToObject(e, "val_skipped_rows", (double)t->val.n_skipped);
    double v = NAN;
    if (t->has_val) {
        rt_status s = validate(t, &v, e);
        if (s != RT_OK) {
            cJSON_Delete(e);
            return s;
        }
    }
    if (t->h->epoch_end) t->h->epoch_end(t->h->ctx, (int64_t)epoch, v, t->higher_better, e);
    log_line(t, e);
    res->final_loss = train_loss;
    res->val_metric = v;
    if (!o->quiet)
        printf("%sepoch %llu: train loss %.4f, %s %s %.4f, %.1f s\n", o->progress ? "\n" : "",
               (unsigned long long)epoch + 1, train_loss, t->has_val ? "val" : "", t->has_val ? t->metric : "",
               t->has_val ? v : NAN, seconds);
    rt_status s = rt_model_save(t->m, t->path_model);
    bool better = t->has_val && isfinite(v) && (!t->has_best || (t->higher_better ? v > t->best : v < t->best));
    if (s == RT_OK && better) {
        t->best = v;
        t->has_best = true;
        s = rt_model_save(t->m, t->path_best);
    }
    return s == RT_OK ? save_checkpoint(t) : s;
}

static rt_status run_epochs(struct trainer *t, const rt_train_opts *o, rt_train_result *res)
{
    const rt_recipe *r = t->r;
    bool mix = r->loss == RT_LOSS_CE && r->mixup > 0;
    rt_batch b = {.x = rt_data(t->full.x), .cap = t->full.batch};
    if ((r->loss == RT_LOSS_CE && !mix) || r->loss == RT_LOSS_AAM) b.label = rt_data(t->full.target);
    else if (t->full.target != t->full.x) b.y = rt_data(t->full.target);
    double t_start = omp_get_wtime();
    int64_t first_step = t->step;
    while ((int64_t)t->ld.epoch < r->epochs) {
        uint64_t epoch = t->ld.epoch;
        double t_epoch = omp_get_wtime(), t_log = t_epoch;
        int64_t samples = 0, in_epoch = t->ld.next;
        while (rt_loader_next(&t->ld, &b)) {
            struct tgraph *tg = b.n == t->full.batch ? &t->full : &t->rem;
            stage(t, tg, &b);
            double loss = 0, gnorm = 0, lr = 0;
            rt_status s = train_step(t, tg, &b, &loss, &gnorm, &lr);
            if (s != RT_OK) return s;
            t->ep_sum += loss;
            t->ep_steps++;
            in_epoch++;
            samples += b.n;
            if (t->step % r->log_every == 0 || in_epoch == t->steps_per_epoch) {
                double now = omp_get_wtime(), sps = samples / (now - t_log + 1e-9);
                cJSON *l = cJSON_CreateObject();
                cJSON_AddStringToObject(l, "type", "step");
                cJSON_AddNumberToObject(l, "step", (double)t->step);
                cJSON_AddNumberToObject(l, "epoch", (double)epoch + 1);
                cJSON_AddNumberToObject(l, "loss", loss);
                cJSON_AddNumberToObject(l, "lr", lr);
                cJSON_AddNumberToObject(l, "grad_norm", gnorm);
                cJSON_AddNumberToObject(l, "samples_per_s", sps);
                log_line(t, l);
                progress(t, o, epoch, in_epoch, loss, sps, now - t_start, t->step - first_step);
                t_log = now;
                samples = 0;
            }
            if (r->checkpoint_every > 0 && t->step % r->checkpoint_every == 0 && in_epoch < t->steps_per_epoch &&
                (s = save_checkpoint(t)) != RT_OK)
                return s;
        }
        double mean = t->ep_steps ? t->ep_sum / (double)t->ep_steps : NAN;
        t->ep_sum = 0;
        t->ep_steps = 0;
        rt_status s = end_epoch(t, o, epoch, mean, omp_get_wtime() - t_epoch, res);
        if (s != RT_OK) return s;
    }
    res->steps = t->step;
    res->seconds = omp_get_wtime() - t_start;
    return RT_OK;
}

/* ---- set-up ---- */

static rt_status open_data(struct trainer *t)
{
    const rt_recipe *r = t->r;
    rt_status s = rt_dataset_open(&t->train, r->train);
    if (s == RT_OK && r->subset < 1.0) s = rt_dataset_subset(&t->train, r->subset, r->seed);
    if (s == RT_OK) s = check_data(t, &t->train);
    if (s == RT_OK && r->val[0]) {
        s = rt_dataset_open(&t->val, r->val);
        t->has_val = s == RT_OK;
        if (s == RT_OK) s = check_data(t, &t->val);
    }
    if (s != RT_OK) return s;
    rt_loader_opts lo = {.batch = r->batch, .shuffle = true, .drop_last = r->drop_last, .seed = r->seed,
                         .aug = {.seed = r->seed + 1, .noise_std = r->noise, .mixup_alpha = r->mixup}};
    if (r->mixup > 0 && r->loss != RT_LOSS_CE)
        return rt_error(RT_ERR_ARG, "%s: mixup needs the cross_entropy loss", r->label);
    return rt_loader_init(&t->ld, &t->train, &lo);
}

static rt_status setup(struct trainer *t, const rt_train_opts *o)
{
    const rt_recipe *r = t->r;
    rt_status s = rt_model_open(&t->m, r->model, r->seed);
    if (s == RT_OK) s = open_data(t);
    t->first_aux = -1;
    if (s == RT_OK) s = build_tgraph(t, r->batch, &t->full);
    int64_t rem = t->train.n % r->batch;
    if (s == RT_OK && rem && !r->drop_last) s = build_tgraph(t, rem, &t->rem);
    if (s == RT_OK && t->first_aux >= 0) { /* the loss's own parameters (aam_softmax's class weights) */
        rt_params_init_from(t->m->params, r->seed, t->first_aux);
        rt_params_allow_growth(t->m->params, false);
    }
    if (s == RT_OK && t->h->ready) s = t->h->ready(t->h->ctx, t->m, &t->train);
    if (s == RT_OK) s = rt_optim_new(&t->opt, t->m->params, &r->optim);
    if (s != RT_OK) return s;
    t->steps_per_epoch = t->ld.n_batches;
    t->total_steps = t->steps_per_epoch * r->epochs;
    t->sched = r->sched;
    t->sched.base_lr = r->lr;
    t->sched.steps_per_epoch = t->steps_per_epoch;
    t->sched.total_steps = t->total_steps;
    t->sched.warmup_steps = (int64_t)llround(r->warmup_epochs * (double)t->steps_per_epoch);
    if (t->sched.warmup_steps >= t->total_steps) t->sched.warmup_steps = t->total_steps - 1;
    if ((s = rt_sched_check(&t->sched)) != RT_OK) return rt_error(s, "%s: schedule: %s", r->label, rt_errmsg());
    const char *metric = rt_eval_task_metric(t->m->task);
    t->metric = metric;
    t->higher_better = rt_metric_find(metric) ? rt_metric_find(metric)->higher_is_better : false;
    t->best = NAN;
    const char *kill = getenv("RETORT_TEST_KILL_AT_STEP");
    t->kill_at = kill ? atoll(kill) : 0;
    snprintf(t->path_ckpt, sizeof t->path_ckpt, "%s/checkpoint.safetensors", r->out);
    snprintf(t->path_log, sizeof t->path_log, "%s/log.jsonl", r->out);
    snprintf(t->path_model, sizeof t->path_model, "%s/model.safetensors", r->out);
    snprintf(t->path_best, sizeof t->path_best, "%s/best.safetensors", r->out);
    snprintf(t->path_recipe, sizeof t->path_recipe, "%s/recipe.json", r->out);
    bool has_ckpt = access(t->path_ckpt, F_OK) == 0;
    if (o->resume && !has_ckpt)
        return rt_error(RT_ERR_IO, "%s: nothing to resume (no checkpoint.safetensors)", r->out);
    if (!o->resume && has_ckpt)
        return rt_error(RT_ERR_ARG, "%s: already holds a run (checkpoint.safetensors); use --resume, or another --out",
                        r->out);
    if (mkdir(r->out, 0777) != 0 && errno != EEXIST)
        return rt_error(RT_ERR_IO, "%s: cannot create the run directory: %s", r->out, strerror(errno));
    if (o->resume && (s = load_checkpoint(t)) != RT_OK) return s;
    if (!o->resume && (s = write_text(t->path_recipe, r->resolved)) != RT_OK) return s;
    t->log = fopen(t->path_log, o->resume ? "a" : "w");
    if (!t->log) return rt_error(RT_ERR_IO, "%s: cannot open: %s", t->path_log, strerror(errno));
    return RT_OK;
}

static void teardown(struct trainer *t)
{
    if (t->log) fclose(t->log);
    rt_graph_free(t->full.g);
    rt_graph_free(t->rem.g);
    rt_optim_free(t->opt);
    rt_loader_free(&t->ld);
    rt_dataset_free(&t->train);
    if (t->has_val) rt_dataset_free(&t->val);
    rt_model_free(t->m);
}

rt_status rt_train_run(const rt_recipe *r, const rt_train_opts *o, rt_train_result *res)
{
    static const rt_train_hooks none = {0};
    return rt_train_run_with(r, o, &none, res);
}

rt_status rt_train_run_with(const rt_recipe *r, const rt_train_opts *o, const rt_train_hooks *h,
                            rt_train_result *res)
{
    struct trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    res->val_metric = NAN;
    t.r = r;
    t.h = h;
    rt_status s = setup(&t, o);
    res->val_name = t.metric;
    if (s == RT_OK) {
        if (!o->quiet)
            printf("%s %s: %lld parameters, %lld samples, %lld steps/epoch x %lld epochs -> %s\n",
                   h->verb ? h->verb : "training", t.m->name, (long long)(rt_params_count(t.m->params, RT_PARAM, false)),
                   (long long)t.train.n,
                   (long long)t.steps_per_epoch, (long long)r->epochs, r->out);
        s = run_epochs(&t, o, res);
    }
    if (s == RT_OK && t.has_val && !isfinite(res->val_metric)) /* resumed after the last epoch: measure it */
        s = validate(&t, &res->val_metric, NULL);
    if (s == RT_OK) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "type", "done");
        cJSON_AddNumberToObject(d, "steps", (double)t.step);
        cJSON_AddNumberToObject(d, "seconds", res->seconds);
        if (t.has_best) cJSON_AddNumberToObject(d, t.metric, t.best);
        log_line(&t, d);
    }
    teardown(&t);
    return s;
}
