/*
 * model.c - the architecture table, config parsing, graph building and
 * model files (see model.h).
 */
#include "models/model.h"

#include "core/ops.h"
#include "io/fileio.h"
#include "io/safetensors.h"
#include "quant/qfile.h" /* quantized model files: read here, written by src/quant */

#include <string.h>

extern const struct rt_arch rt_arch_mlp, rt_arch_vit, rt_arch_mobilevit, rt_arch_mixer, rt_arch_cnn, rt_arch_lstm,
    rt_arch_vae;

static const struct rt_arch *const archs[] = {
    &rt_arch_vit, &rt_arch_mobilevit, &rt_arch_mixer, &rt_arch_cnn, &rt_arch_lstm, &rt_arch_vae, &rt_arch_mlp,
};
#define N_ARCHS (sizeof archs / sizeof archs[0])

const struct rt_arch *rt_arch_find(const char *name)
{
    for (size_t i = 0; i < N_ARCHS; i++)
        if (!strcmp(archs[i]->name, name)) return archs[i];
    return NULL;
}

const char *const *rt_arch_names(void)
{
    static const char *names[N_ARCHS + 1];
    for (size_t i = 0; i < N_ARCHS; i++) names[i] = archs[i]->name;
    return names;
}

void rt_model_free(rt_model *m)
{
    if (!m) return;
    free(m->settings);
    free(m->config);
    rt_params_free(m->params);
    rt_qweights_free(m->qw);
    free(m);
}

static size_t max_params = (size_t)1 << 31;

void rt_model_set_max_params(size_t n) { max_params = n; }

static rt_status parse_common(rt_cfg *c, rt_model *m)
{
    static const char *const tasks[] = {"classification", "regression", "embedding", "reconstruction", NULL};
    const char *arch = NULL, *name = "", *task = "classification";
    rt_cfg_str(c, c->root, "arch", true, rt_arch_names(), &arch);
    rt_cfg_str(c, c->root, "name", false, NULL, &name);
    rt_cfg_str(c, c->root, "task", false, tasks, &task);
    int n = 0;
    rt_cfg_int_array(c, c->root, "input", true, 1, 1 << 20, RT_MAX_DIMS - 1, m->in_shape, &n);
    m->num_outputs = 0;
    rt_cfg_int(c, c->root, "num_outputs", false, 1, 1 << 24, &m->num_outputs);
    if (c->status != RT_OK) return c->status;
    if (n < 1) return rt_cfg_fail(c, "input", "needs at least one dimension");
    m->in_ndim = n;
    m->arch = rt_arch_find(arch);
    snprintf(m->name, sizeof m->name, "%s", name);
    for (int i = 0; tasks[i]; i++)
        if (!strcmp(tasks[i], task)) m->task = (enum rt_task)i;
    if ((m->task == RT_TASK_CLASSIFICATION || m->task == RT_TASK_REGRESSION) && m->num_outputs < 1)
        return rt_cfg_fail(c, "num_outputs", "missing (required for task '%s')", task);
    return RT_OK;
}

static rt_node *build(rt_graph *g, const rt_model *m, int64_t batch)
{
    int64_t shape[RT_MAX_DIMS] = {batch};
    for (int i = 0; i < m->in_ndim; i++) shape[i + 1] = m->in_shape[i];
    rt_node *x = rt_input(g, "input", m->in_ndim + 1, shape);
    rt_node *y = m->arch->build(g, m, x);
    rt_graph_scope(g, "%s", "");
    if (y && !y->tag[0]) rt_tag(y, "output");
    return y;
}

rt_status rt_model_from_json(rt_model **out, const char *json, size_t len, const char *label)
{
    *out = NULL;
    rt_cfg c;
    rt_status s = rt_cfg_parse(&c, json, len, label);
    if (s != RT_OK) return s;
    rt_model *m = calloc(1, sizeof *m);
    if (!m) {
        rt_cfg_close(&c);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    }
    s = parse_common(&c, m);
    if (s == RT_OK) s = m->arch->parse(&c, m, &m->settings);
    if (s == RT_OK) s = rt_cfg_finish(&c);
    if (s == RT_OK) {
        m->config = strdup(c.text);
        m->params = rt_params_new();
        if (!m->config || !m->params) s = rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    }
    rt_cfg_close(&c);
    if (s == RT_OK) { /* declare the parameters with a batch-1 graph */
        rt_graph *g = rt_graph_new(m->params);
        if (!g) s = RT_ERR_NOMEM;
        else if (!build(g, m, 1)) {
            s = rt_graph_status(g);
            rt_error(s, "%s: %s", label, g->err);
        }
        rt_graph_free(g);
        size_t n = m->params->numel + m->params->buf_numel;
        if (s == RT_OK && n > max_params)
            s = rt_error(RT_ERR_FORMAT, "%s: the model has %zu parameters, more than the %zu retort accepts", label, n,
                         max_params);
        if (s == RT_OK) s = rt_params_alloc(m->params);
    }
    if (s != RT_OK) {
        rt_model_free(m);
        return s;
    }
    *out = m;
    return RT_OK;
}

rt_status rt_model_from_file(rt_model **m, const char *path)
{
    uint8_t *buf;
    size_t len;
    *m = NULL;
    rt_status s = rt_read_file(path, RT_CFG_MAX_BYTES, &buf, &len);
    if (s != RT_OK) return s;
    s = rt_model_from_json(m, (const char *)buf, len, path);
    free(buf);
    return s;
}

void rt_model_init(rt_model *m, uint64_t seed) { rt_params_init(m->params, seed); }

/* The graph, its weights as the store holds them (see rt_model_build). */
static rt_graph *build_graph(rt_model *m, int64_t batch)
{
    rt_graph *g = rt_graph_new(m->params);
    if (!g) {
        rt_error(RT_ERR_NOMEM, "model '%s': out of memory", m->name);
        return NULL;
    }
    if (!build(g, m, batch)) {
        rt_status s = rt_graph_status(g);
        rt_error(s, "model '%s': %s", m->name, g->err);
        rt_graph_free(g);
        return NULL;
    }
    return g;
}

rt_graph *rt_model_build(rt_model *m, int64_t batch)
{
    rt_qweights_restore_floats(m); /* a graph for any use: every weight as floats */
    return build_graph(m, batch);
}

rt_graph *rt_model_graph(rt_model *m, int64_t batch, enum rt_plan plan)
{
    bool integer = m->qw && plan != RT_PLAN_TRAIN;
    rt_graph *g = integer ? build_graph(m, batch) : rt_model_build(m, batch);
    if (g && integer && rt_qweights_apply(m->qw, g) != RT_OK) { /* integer inference */
        rt_graph_free(g);
        return NULL;
    }
    if (g && integer) rt_qweights_release_floats(m, g); /* keeps the float copies a float op reads */
    if (g && rt_graph_plan(g, plan) != RT_OK) {
        rt_status s = rt_graph_status(g);
        if (s != RT_OK) rt_error(s, "model '%s': %s", m->name, g->err);
        rt_graph_free(g);
        return NULL;
    }
    return g;
}

static rt_status save_views(const rt_model *m, const char *path, bool aux, const rt_st_entry *extra, int n_extra,
                            const rt_st_meta *meta, int n_meta)
{
    rt_qweights_restore_floats(m);
    const rt_params *p = m->params;
    rt_st_entry *e = calloc((size_t)(p->n_views + n_extra) + 1, sizeof *e);
    rt_st_meta *md = calloc((size_t)n_meta + 3, sizeof *md);
    if (!e || !md) {
        free(e);
        free(md);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    }
    int ne = 0;
    for (int i = 0; i < p->n_views; i++)
        if (aux || !rt_params_is_aux(&p->views[i]))
            e[ne++] = (rt_st_entry){p->views[i].name, RT_F32, p->views[i].ndim, p->views[i].shape,
                                    rt_params_data(p, &p->views[i])};
    for (int i = 0; i < n_extra; i++) e[ne++] = extra[i];
    md[0] = (rt_st_meta){"format_version", "1"};
    md[1] = (rt_st_meta){"producer", "retort " RT_VERSION};
    md[2] = (rt_st_meta){"config", m->config};
    for (int i = 0; i < n_meta; i++) md[3 + i] = meta[i];
    rt_status s = rt_st_write(path, e, ne, md, n_meta + 3);
    free(e);
    free(md);
    return s;
}

rt_status rt_model_save_ex(const rt_model *m, const char *path, const rt_st_entry *extra, int n_extra,
                           const rt_st_meta *meta, int n_meta)
{
    return save_views(m, path, true, extra, n_extra, meta, n_meta);
}

rt_status rt_model_save(const rt_model *m, const char *path) { return save_views(m, path, false, NULL, 0, NULL, 0); }

rt_status rt_model_load_weights(rt_model *m, const rt_safetensors *st, const char *path, const char *skip_prefix)
{
    char a[96], b[96];
    const rt_params *p = m->params;
    for (int i = 0; i < p->n_views; i++) {
        const rt_param_view *v = &p->views[i];
        const rt_st_tensor *t = rt_st_find(st, v->name);
        if (!t) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' is missing", path, v->name);
        if (t->dtype != RT_F32)
            return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' is %s, expected F32", path, v->name, rt_dtype_name(t->dtype));
        if (!rt_shape_equal(t->ndim, t->shape, v->ndim, v->shape))
            return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has shape %s, the architecture needs %s", path, v->name,
                            rt_shape_str(a, sizeof a, t->ndim, t->shape), rt_shape_str(b, sizeof b, v->ndim, v->shape));
        memcpy(rt_params_data(p, v), rt_st_data(st, t), v->numel * sizeof(float));
    }
    size_t skip = skip_prefix ? strlen(skip_prefix) : 0;
    for (int i = 0; i < st->n; i++)
        if (!(skip && !strncmp(st->t[i].name, skip_prefix, skip)) && !rt_params_find(p, st->t[i].name) &&
            strncmp(st->t[i].name, RT_AUX_PREFIX, strlen(RT_AUX_PREFIX)))
            return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' does not belong to this architecture", path, st->t[i].name);
    return RT_OK;
}

rt_status rt_model_load(rt_model **out, const char *path)
{
    rt_safetensors st;
    *out = NULL;
    rt_status s = rt_st_open(&st, path);
    if (s != RT_OK) return s;
    const char *ver = rt_st_meta_get(&st, "format_version"), *cfg = rt_st_meta_get(&st, "config");
    if (!ver || strcmp(ver, "1"))
        s = rt_error(RT_ERR_FORMAT, "%s: not a retort model file (format_version %s, expected 1)", path,
                     ver ? ver : "missing");
    else if (!cfg)
        s = rt_error(RT_ERR_FORMAT, "%s: no architecture config in the metadata", path);
    rt_model *m = NULL;
    if (s == RT_OK) {
        char label[512];
        snprintf(label, sizeof label, "%s (embedded config)", path);
        s = rt_model_from_json(&m, cfg, strlen(cfg), label);
    }
    /* a training checkpoint is a model file plus optimizer state ("optim.*") */
    const char *kind = rt_st_meta_get(&st, "kind");
    bool ckpt = kind && !strcmp(kind, "checkpoint");
    if (s == RT_OK && rt_st_meta_get(&st, "quantized")) s = rt_qfile_load_weights(m, &st, path);
    else if (s == RT_OK) s = rt_model_load_weights(m, &st, path, ckpt ? "optim." : NULL);
    rt_st_close(&st);
    if (s != RT_OK) {
        rt_model_free(m);
        return s;
    }
    *out = m;
    return RT_OK;
}

rt_status rt_model_open(rt_model **m, const char *path, uint64_t seed_if_config)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open", path);
    int ch;
    while ((ch = fgetc(f)) == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {}
    fclose(f);
    if (ch == '{') {
        rt_status s = rt_model_from_file(m, path);
        if (s == RT_OK) rt_model_init(*m, seed_if_config);
        return s;
    }
    return rt_model_load(m, path);
}
