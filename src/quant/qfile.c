/*
 * qfile.c - writing and reading quantized model files (contract and layout
 * in qfile.h and docs/quantization.md).
 */
#include "quant/qfile.h"

#include "core/ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *rt_qscheme_name(enum rt_qscheme s) { return s == RT_QSCHEME_BLOCK32 ? "block32" : "per-channel"; }

rt_status rt_qscheme_parse(const char *name, enum rt_qscheme *s)
{
    if (!strcmp(name, "per-channel")) *s = RT_QSCHEME_PER_CHANNEL;
    else if (!strcmp(name, "block32")) *s = RT_QSCHEME_BLOCK32;
    else return rt_error(RT_ERR_ARG, "scheme '%s': not one of per-channel, block32", name);
    return RT_OK;
}

rt_status rt_qscheme_check(int bits, enum rt_qscheme scheme)
{
    if (bits != 8 && bits != 4) return rt_error(RT_ERR_ARG, "--bits %d: not one of 8, 4", bits);
    if ((bits == 8) != (scheme == RT_QSCHEME_PER_CHANNEL))
        return rt_error(RT_ERR_UNSUPPORTED, "--bits %d with scheme %s: supported are 8 bits per-channel and 4 bits block32",
                        bits, rt_qscheme_name(scheme));
    return RT_OK;
}

void rt_qweights_free(rt_qweights *q)
{
    if (!q) return;
    for (int i = 0; q->mat && i < q->n_views; i++)
        if (q->mat[i]) {
            rt_qmat_free(q->mat[i]);
            free(q->mat[i]);
        }
    free(q->mat);
    free(q->floats);
    free(q);
}

const rt_qmat *rt_model_qmat(const rt_model *m, const char *name)
{
    const rt_param_view *v = rt_params_find(m->params, name);
    return v && m->qw ? m->qw->mat[v - m->params->views] : NULL;
}

/* The integer weights of a parameter leaf, or NULL. */
static const rt_qmat *leaf_qmat(const rt_qweights *q, const rt_node *n)
{
    return n->op == RT_OP_PARAM && n->param >= 0 && n->param < q->n_views ? q->mat[n->param] : NULL;
}

rt_status rt_qweights_apply(const rt_qweights *q, rt_graph *g)
{
    enum rt_qpath path;
    rt_status s = rt_qpath_get(&path);
    for (int i = 0; s == RT_OK && i < g->n_nodes; i++) {
        rt_node *n = g->nodes[i];
        if (n->op == RT_OP_LINEAR && leaf_qmat(q, n->in[1])) {
            s = rt_node_use_qlinear(g, n, leaf_qmat(q, n->in[1]), (int)path);
        } else if (n->op == RT_OP_ATTENTION) {
            const struct rt_attention_args *a = RT_ARGS(n, const struct rt_attention_args);
            const rt_qmat *qkv = leaf_qmat(q, n->in[1]), *o = leaf_qmat(q, n->in[2 + a->has_b_qkv]);
            if (qkv || o) s = rt_node_use_qattention(g, n, qkv, o, (int)path);
        }
    }
    return s;
}

/* Is node n's input j an integer-stored weight that n reads as integers? */
static bool integer_use(const rt_node *n, int j)
{
    if (n->op == RT_OP_QLINEAR) return j == 1;
    if (n->op != RT_OP_ATTENTION) return false;
    const struct rt_attention_args *a = RT_ARGS(n, const struct rt_attention_args);
    return (j == 1 && a->q_qkv) || (j == 2 + a->has_b_qkv && a->q_o);
}

/* View i's float copy written again if it was given back (the loader's values). */
static void bring_back(const rt_model *m, int i)
{
    rt_qweights *q = m->qw;
    if (q->floats[i] != RT_QF_RELEASED) return;
    rt_qmat_dequant(q->mat[i], rt_params_data(m->params, &m->params->views[i]));
    q->floats[i] = RT_QF_PRESENT;
}

void rt_qweights_release_floats(const rt_model *m, const rt_graph *g)
{
    rt_qweights *q = m->qw;
    if (!q) return;
    for (int i = 0; i < g->n_nodes; i++) { /* copies a float op reads stay, for good */
        const rt_node *n = g->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            if (leaf_qmat(q, n->in[j]) && !integer_use(n, j)) {
                bring_back(m, n->in[j]->param);
                q->floats[n->in[j]->param] = RT_QF_PINNED;
            }
    }
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < q->n_views; i++) {
        if (!q->mat[i] || q->floats[i] != RT_QF_PRESENT) continue;
        const rt_param_view *v = &m->params->views[i];
        uintptr_t a = (uintptr_t)rt_params_data(m->params, v), e = a + v->numel * sizeof(float);
        uintptr_t a0 = (a + page - 1) / page * page, e0 = e / page * page; /* whole pages inside the view */
        if (e0 > a0) madvise((void *)a0, e0 - a0, MADV_DONTNEED); /* anonymous memory: zeros until rewritten */
        q->floats[i] = RT_QF_RELEASED;
    }
}

void rt_qweights_restore_floats(const rt_model *m)
{
    for (int i = 0; m->qw && i < m->qw->n_views; i++) bring_back(m, i);
}

size_t rt_qweights_memory_bytes(const rt_model *m)
{
    const rt_params *p = m->params;
    size_t n = 0;
    for (int i = 0; i < p->n_views; i++) {
        const rt_qmat *q = m->qw && i < m->qw->n_views ? m->qw->mat[i] : NULL;
        if (q) n += rt_qmat_bytes(q);
        if (!q || m->qw->floats[i] != RT_QF_RELEASED) n += p->views[i].numel * sizeof(float);
    }
    return n;
}

/* ---- writing ---- */

static int64_t rows_of(const rt_param_view *v) { return v->ndim ? v->shape[0] : 1; }

/* Everything one write needs: entries, their shapes and names, payload buffers. */
struct qwrite {
    rt_st_entry *e;
    int n;
    int64_t (*shape)[2];
    char (*sname)[RT_NAME_MAX + 8];
    void **buf;
    int n_buf;
};

static void *qw_buf(struct qwrite *w, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p) w->buf[w->n_buf++] = p;
    return p;
}

/* Add view i stored as f (payload and scale entries). */
static rt_status add_view(struct qwrite *w, const rt_params *p, int i, enum rt_qfmt f)
{
    const rt_param_view *v = &p->views[i];
    const float *x = rt_params_data(p, v);
    if (f != RT_QFMT_I8_ROW && f != RT_QFMT_Q4_BLOCK32) {
        w->e[w->n++] = (rt_st_entry){v->name, RT_F32, v->ndim, v->shape, x};
        return RT_OK;
    }
    const int64_t R = rows_of(v), C = (int64_t)v->numel / R;
    snprintf(w->sname[i], sizeof w->sname[i], "%s.scale", v->name);
    if (f == RT_QFMT_I8_ROW) {
        int8_t *q = qw_buf(w, v->numel);
        float *sc = qw_buf(w, (size_t)R * sizeof *sc);
        if (!q || !sc) return rt_error(RT_ERR_NOMEM, "quantize: out of memory");
        for (int64_t r = 0; r < R; r++) sc[r] = rt_quant_i8_row(q + r * C, x + r * C, C);
        w->shape[i][0] = R;
        w->e[w->n++] = (rt_st_entry){v->name, RT_I8, v->ndim, v->shape, q};
        w->e[w->n++] = (rt_st_entry){w->sname[i], RT_F32, 1, w->shape[i], sc};
        return RT_OK;
    }
    const int64_t nb = C / RT_Q4_BLOCK;
    uint8_t *q = qw_buf(w, v->numel / 2);
    uint16_t *sc = qw_buf(w, (size_t)(R * nb) * sizeof *sc);
    rt_q4_block *blk = malloc((size_t)nb * sizeof *blk);
    if (!q || !sc || !blk) {
        free(blk);
        return rt_error(RT_ERR_NOMEM, "quantize: out of memory");
    }
    for (int64_t r = 0; r < R; r++) {
        rt_quant_q4_row(blk, x + r * C, C);
        for (int64_t b = 0; b < nb; b++) {
            sc[r * nb + b] = blk[b].d;
            memcpy(q + (r * nb + b) * 16, blk[b].qs, 16);
        }
    }
    free(blk);
    /* shape[i] = (R, C / 2) for the payload; the scale's (R, nb) lives in the next slot */
    w->shape[i][0] = R, w->shape[i][1] = C / 2;
    w->shape[p->n_views + i][0] = R, w->shape[p->n_views + i][1] = nb;
    w->e[w->n++] = (rt_st_entry){v->name, RT_U8, 2, w->shape[i], q};
    w->e[w->n++] = (rt_st_entry){w->sname[i], RT_F16, 2, w->shape[p->n_views + i], sc};
    return RT_OK;
}

static void fill_stats(rt_qfile_stats *st, const rt_params *p, const enum rt_qfmt *fmt)
{
    memset(st, 0, sizeof *st);
    size_t qbytes = 0;
    for (int i = 0; i < p->n_views; i++) {
        const rt_param_view *v = &p->views[i];
        size_t b = rt_qfmt_bytes(fmt[i], v);
        st->bytes += b, st->fp32_bytes += 4 * v->numel, st->values += (int64_t)v->numel;
        if (fmt[i] == RT_QFMT_I8_ROW || fmt[i] == RT_QFMT_Q4_BLOCK32) {
            st->weights += (int64_t)v->numel, qbytes += b;
            *(fmt[i] == RT_QFMT_I8_ROW ? &st->n_int8 : &st->n_q4) += 1;
        } else {
            st->n_f32++;
        }
    }
    st->bits_per_weight = st->weights ? 8.0 * (double)qbytes / (double)st->weights : 0.0;
}

rt_status rt_quantize_model(rt_model *m, int bits, enum rt_qscheme scheme, const char *const *keep, int n_keep,
                            const char *out_path, rt_qfile_stats *stats)
{
    rt_status s = rt_qscheme_check(bits, scheme);
    if (s != RT_OK) return s;
    rt_qweights_restore_floats(m); /* a quantized model quantized again starts from its float values */
    const rt_params *p = m->params;
    const int nv = p->n_views;
    rt_graph *g = rt_model_build(m, 1);
    if (!g) return RT_ERR_SHAPE; /* message set by rt_model_build */
    enum rt_qfmt *fmt = malloc((size_t)(nv ? nv : 1) * sizeof *fmt);
    struct qwrite w = {
        .e = calloc((size_t)(2 * nv + 1), sizeof *w.e),
        .shape = calloc((size_t)(2 * nv + 1), sizeof *w.shape),
        .sname = calloc((size_t)(nv + 1), sizeof *w.sname),
        .buf = calloc((size_t)(2 * nv + 1), sizeof *w.buf),
    };
    if (!fmt || !w.e || !w.shape || !w.sname || !w.buf) s = rt_error(RT_ERR_NOMEM, "%s: out of memory", out_path);
    if (s == RT_OK) s = rt_quant_plan(g, bits, keep, n_keep, fmt);
    rt_graph_free(g);
    for (int i = 0; s == RT_OK && i < nv; i++) s = add_view(&w, p, i, fmt[i]);
    if (s == RT_OK) {
        char b[4];
        snprintf(b, sizeof b, "%d", bits);
        const rt_st_meta meta[] = {
            {"format_version", "1"}, {"producer", "retort " RT_VERSION}, {"config", m->config},
            {"quantized", "1"},      {"bits", b},                        {"scheme", (char *)rt_qscheme_name(scheme)},
        };
        s = rt_st_write(out_path, w.e, w.n, meta, (int)(sizeof meta / sizeof meta[0]));
    }
    if (s == RT_OK && stats) fill_stats(stats, p, fmt);
    for (int i = 0; w.buf && i < w.n_buf; i++) free(w.buf[i]);
    free(w.buf), free(w.e), free(w.shape), free(w.sname), free(fmt);
    return s;
}

/* ---- reading ---- */

#define FAIL(...) (rt_error(RT_ERR_FORMAT, __VA_ARGS__))

/* Scale tensor of view v: present, of dtype dt and shape (R) or (R, nb). */
static rt_status scale_tensor(const rt_safetensors *st, const char *path, const rt_param_view *v, enum rt_dtype dt,
                              int ndim, const int64_t *shape, const rt_st_tensor **out)
{
    char name[RT_NAME_MAX + 8], a[96], b[96];
    snprintf(name, sizeof name, "%s.scale", v->name);
    const rt_st_tensor *t = *out = rt_st_find(st, name);
    if (!t) return FAIL("%s: tensor '%s': its scale tensor '%s' is missing", path, v->name, name);
    if (t->dtype != dt || !rt_shape_equal(t->ndim, t->shape, ndim, shape))
        return FAIL("%s: tensor '%s': scale '%s' is %s %s, expected %s %s", path, v->name, name,
                    rt_dtype_name(t->dtype), rt_shape_str(a, sizeof a, t->ndim, t->shape), rt_dtype_name(dt),
                    rt_shape_str(b, sizeof b, ndim, shape));
    return RT_OK;
}

static rt_status load_i8(const rt_safetensors *st, const char *path, const rt_param_view *v, const rt_st_tensor *t,
                         rt_qmat *mat)
{
    char a[96], b[96];
    const int64_t R = rows_of(v), C = (int64_t)v->numel / R;
    if (!rt_shape_equal(t->ndim, t->shape, v->ndim, v->shape))
        return FAIL("%s: tensor '%s': int8 payload has shape %s, the architecture needs %s", path, v->name,
                    rt_shape_str(a, sizeof a, t->ndim, t->shape), rt_shape_str(b, sizeof b, v->ndim, v->shape));
    const rt_st_tensor *ts;
    rt_status s = scale_tensor(st, path, v, RT_F32, 1, (int64_t[]){R}, &ts);
    if (s != RT_OK) return s;
    const int8_t *q = rt_st_data(st, t);
    float *sc = malloc((size_t)R * sizeof *sc);
    if (!sc) return rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    memcpy(sc, rt_st_data(st, ts), (size_t)R * sizeof *sc);
    for (int64_t r = 0; s == RT_OK && r < R; r++)
        if (!isfinite(sc[r]) || sc[r] < 0.f)
            s = FAIL("%s: tensor '%s': scale of row %lld is %g (needs finite, >= 0)", path, v->name, (long long)r,
                     (double)sc[r]);
    for (int64_t k = 0; s == RT_OK && k < (int64_t)v->numel; k++)
        if (q[k] == -128)
            s = FAIL("%s: tensor '%s': value -128 at element %lld is outside the symmetric range [-127, 127]", path,
                     v->name, (long long)k);
    if (s == RT_OK && rt_qmat_init_i8(mat, q, sc, R, C) != RT_OK)
        s = FAIL("%s: tensor '%s': %s", path, v->name, rt_errmsg());
    free(sc);
    return s;
}

static rt_status load_q4(const rt_safetensors *st, const char *path, const rt_param_view *v, const rt_st_tensor *t,
                         rt_qmat *mat)
{
    char a[96], b[96];
    const int64_t R = rows_of(v), C = (int64_t)v->numel / R, nb = C / RT_Q4_BLOCK;
    if (C % RT_Q4_BLOCK)
        return FAIL("%s: tensor '%s': q4 block size %d does not divide its rows of %lld values", path, v->name,
                    RT_Q4_BLOCK, (long long)C);
    const int64_t want[2] = {R, C / 2};
    if (!rt_shape_equal(t->ndim, t->shape, 2, want))
        return FAIL("%s: tensor '%s': packed q4 payload has shape %s, expected %s for weights of shape %s", path,
                    v->name, rt_shape_str(a, sizeof a, t->ndim, t->shape), rt_shape_str(b, sizeof b, 2, want),
                    rt_shape_str((char[96]){0}, 96, v->ndim, v->shape));
    const rt_st_tensor *ts;
    rt_status s = scale_tensor(st, path, v, RT_F16, 2, (int64_t[]){R, nb}, &ts);
    if (s != RT_OK) return s;
    rt_q4_block *blk = malloc((size_t)(R * nb) * sizeof *blk);
    if (!blk) return rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    const uint8_t *q = rt_st_data(st, t), *d = rt_st_data(st, ts);
    for (int64_t i = 0; s == RT_OK && i < R * nb; i++) {
        memcpy(&blk[i].d, d + 2 * i, 2);
        memcpy(blk[i].qs, q + 16 * i, 16);
        if (!isfinite(rt_f32_from_f16(blk[i].d)))
            s = FAIL("%s: tensor '%s': scale of block %lld (row %lld) is not finite", path, v->name,
                     (long long)(i % nb), (long long)(i / nb));
    }
    if (s == RT_OK && rt_qmat_init_q4(mat, blk, R, C) != RT_OK)
        s = FAIL("%s: tensor '%s': %s", path, v->name, rt_errmsg());
    free(blk);
    return s;
}

/* View i from the file: F32 into the store as is, I8 / U8 checked and kept
 * in *mat (their float values come from rt_qweights_restore_floats, when
 * something needs them: the file's view starts RT_QF_RELEASED). */
static rt_status load_view(const rt_safetensors *st, const char *path, const rt_params *p, int i, rt_qmat **mat)
{
    char a[96], b[96];
    const rt_param_view *v = &p->views[i];
    const rt_st_tensor *t = rt_st_find(st, v->name);
    float *x = rt_params_data(p, v);
    if (!t) return FAIL("%s: tensor '%s' is missing", path, v->name);
    if (t->dtype == RT_F32) {
        if (!rt_shape_equal(t->ndim, t->shape, v->ndim, v->shape))
            return FAIL("%s: tensor '%s' has shape %s, the architecture needs %s", path, v->name,
                        rt_shape_str(a, sizeof a, t->ndim, t->shape), rt_shape_str(b, sizeof b, v->ndim, v->shape));
        memcpy(x, rt_st_data(st, t), v->numel * sizeof(float));
        return RT_OK;
    }
    if ((t->dtype == RT_I8 || t->dtype == RT_U8) && (v->ndim < 1 || v->numel == 0))
        return FAIL("%s: tensor '%s' is %s, but an empty or scalar tensor cannot be quantized", path, v->name,
                    rt_dtype_name(t->dtype));
    if (t->dtype != RT_I8 && t->dtype != RT_U8)
        return FAIL("%s: tensor '%s' is %s; expected F32, or I8 (int8 rows) / U8 (q4 blocks) with a .scale tensor",
                    path, v->name, rt_dtype_name(t->dtype));
    *mat = calloc(1, sizeof **mat);
    if (!*mat) return rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    return t->dtype == RT_I8 ? load_i8(st, path, v, t, *mat) : load_q4(st, path, v, t, *mat);
}

/* Every tensor of the file is a view of m or the scale of a quantized view. */
static rt_status check_extra(const rt_safetensors *st, const char *path, const rt_params *p, const rt_qweights *qw)
{
    for (int i = 0; i < st->n; i++) {
        const char *n = st->t[i].name;
        if (rt_params_find(p, n)) continue;
        size_t len = strlen(n);
        if (len > 6 && !strcmp(n + len - 6, ".scale")) {
            char base[RT_NAME_MAX + 8];
            snprintf(base, sizeof base, "%.*s", (int)(len - 6), n);
            const rt_param_view *v = rt_params_find(p, base);
            if (v && qw->mat[v - p->views]) continue;
            if (v) return FAIL("%s: tensor '%s': a scale for '%s', which is stored in F32", path, n, base);
        }
        return FAIL("%s: tensor '%s' does not belong to this architecture", path, n);
    }
    return RT_OK;
}

rt_status rt_qfile_load_weights(rt_model *m, const rt_safetensors *st, const char *path)
{
    const char *bits = rt_st_meta_get(st, "bits"), *scheme = rt_st_meta_get(st, "scheme");
    const rt_params *p = m->params;
    rt_qweights *qw = calloc(1, sizeof *qw);
    if (!qw || !(qw->mat = calloc((size_t)(p->n_views ? p->n_views : 1), sizeof *qw->mat)) ||
        !(qw->floats = calloc((size_t)(p->n_views ? p->n_views : 1), 1))) {
        rt_qweights_free(qw);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    }
    qw->n_views = p->n_views;
    rt_status s = RT_OK;
    if (!bits || (strcmp(bits, "8") && strcmp(bits, "4")))
        s = FAIL("%s: quantized file with metadata bits '%s' (expected 8 or 4)", path, bits ? bits : "missing");
    else if (!scheme || rt_qscheme_parse(scheme, &qw->scheme) != RT_OK)
        s = FAIL("%s: quantized file with metadata scheme '%s' (expected per-channel or block32)", path,
                 scheme ? scheme : "missing");
    qw->bits = bits ? atoi(bits) : 0;
    for (int i = 0; s == RT_OK && i < p->n_views; i++) {
        s = load_view(st, path, p, i, &qw->mat[i]);
        if (qw->mat[i]) qw->floats[i] = RT_QF_RELEASED; /* not written: the store's zero pages stay untouched */
    }
    if (s == RT_OK) s = check_extra(st, path, p, qw);
    if (s != RT_OK) {
        rt_qweights_free(qw);
        return s;
    }
    rt_qweights_free(m->qw);
    m->qw = qw;
    return RT_OK;
}
