/*
 * summary.c - module accounting over a built graph, and the summary and
 * compare tables (see summary.h and docs/accounting.md).
 */
#include "report/summary.h"

#include "core/ops.h"
#include "quant/plan.h"

#include <stdlib.h>
#include <string.h>

/* Does label l lie in module p ("blocks.1" holds "blocks.1.attn", not "blocks.10")? */
static bool in_module(const char *l, const char *p)
{
    size_t n = strlen(p);
    return n && !strncmp(l, p, n) && (l[n] == 0 || l[n] == '.');
}

static int find_row(const rt_summary *s, const char *name)
{
    for (int i = 0; i < s->n_rows; i++)
        if (!strcmp(s->rows[i].name, name)) return i;
    return -1;
}

const rt_summary_row *rt_summary_find(const rt_summary *s, const char *name)
{
    int i = find_row(s, name);
    return i < 0 ? NULL : &s->rows[i];
}

/* Add every prefix of label l as a module row (graph order). */
static rt_status add_prefixes(rt_summary *s, const char *l, int *cap)
{
    char buf[RT_LABEL_MAX];
    int depth = 0;
    for (size_t i = 0;; i++) {
        if (l[i] != '.' && l[i] != 0) continue;
        depth++;
        memcpy(buf, l, i);
        buf[i] = 0;
        if (find_row(s, buf) < 0) {
            if (s->n_rows == *cap) {
                int nc = *cap ? 2 * *cap : 64;
                rt_summary_row *r = realloc(s->rows, (size_t)nc * sizeof *r);
                if (!r) return rt_error(RT_ERR_NOMEM, "summary: out of memory");
                s->rows = r;
                *cap = nc;
            }
            s->rows[s->n_rows] = (rt_summary_row){.depth = depth};
            snprintf(s->rows[s->n_rows].name, RT_LABEL_MAX, "%s", buf);
            s->n_rows++;
        }
        if (!l[i]) break;
    }
    return RT_OK;
}

/* Parameters, bytes at each precision, MACs and output shape per module. */
static rt_status account(rt_summary *s, const rt_graph *g)
{
    const rt_params *p = g->params;
    enum rt_qfmt *fmt = malloc((size_t)(p->n_views ? p->n_views : 1) * RT_PREC_COUNT * sizeof *fmt);
    int *out = malloc((size_t)(s->n_rows ? s->n_rows : 1) * sizeof *out);
    if (!fmt || !out) {
        free(fmt);
        free(out);
        return rt_error(RT_ERR_NOMEM, "summary: out of memory");
    }
    static const int bits[RT_PREC_COUNT] = {32, 16, 8, 4};
    for (int k = 0; k < RT_PREC_COUNT; k++) rt_quant_plan_default(g, bits[k], fmt + (size_t)k * p->n_views);
    for (int i = 0; i < p->n_views; i++) {
        const rt_param_view *v = &p->views[i];
        bool assigned = false;
        for (int r = -1; r < s->n_rows; r++) {
            rt_summary_row *row = r < 0 ? &s->total : &s->rows[r];
            if (r >= 0 && !in_module(v->name, row->name)) continue;
            if (r >= 0 && row->depth == 1) assigned = true;
            if (v->kind == RT_BUFFER) row->buffers += (int64_t)v->numel;
            else {
                row->params += (int64_t)v->numel;
                if (!v->frozen) row->trainable += (int64_t)v->numel;
            }
            for (int k = 0; k < RT_PREC_COUNT; k++) row->bytes[k] += rt_qfmt_bytes(fmt[(size_t)k * p->n_views + i], v);
        }
        if (!assigned && v->kind == RT_PARAM) s->unassigned += (int64_t)v->numel;
        if (v->kind == RT_PARAM && v->frozen) s->frozen += (int64_t)v->numel;
    }
    for (int r = 0; r < s->n_rows; r++) out[r] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const rt_node *n = g->nodes[i];
        int64_t macs = rt_node_macs(n);
        s->total.macs += macs;
        for (int r = 0; r < s->n_rows; r++)
            if (in_module(n->label, s->rows[r].name)) {
                s->rows[r].macs += macs;
                if (i == g->n_nodes - 1 && n->op != RT_OP_PARAM) out[r] = i; /* the model's output */
            }
        /* an input read from outside its module is (so far) that module's output */
        for (int j = 0; j < n->n_in; j++) {
            const rt_node *x = n->in[j];
            if (x->op == RT_OP_PARAM || x->op == RT_OP_INPUT) continue;
            for (int r = 0; r < s->n_rows; r++)
                if (in_module(x->label, s->rows[r].name) && !in_module(n->label, s->rows[r].name) && x->id > out[r])
                    out[r] = x->id;
        }
    }
    for (int r = 0; r < s->n_rows; r++) {
        rt_summary_row *row = &s->rows[r];
        row->macs /= s->batch;
        if (out[r] >= 0) {
            const rt_node *n = g->nodes[out[r]];
            row->ndim = n->out.ndim;
            memcpy(row->shape, n->out.shape, sizeof row->shape);
        }
    }
    const rt_node *y = g->nodes[g->n_nodes - 1];
    s->total.ndim = y->out.ndim;
    memcpy(s->total.shape, y->out.shape, sizeof s->total.shape);
    s->total.macs /= s->batch;
    free(fmt);
    free(out);
    return RT_OK;
}

rt_status rt_summary_build(rt_summary *s, rt_model *m, int64_t batch)
{
    memset(s, 0, sizeof *s);
    if (batch < 1) return rt_error(RT_ERR_ARG, "summary: batch %lld must be >= 1", (long long)batch);
    s->batch = batch;
    snprintf(s->name, sizeof s->name, "%s", m->name);
    snprintf(s->arch, sizeof s->arch, "%s", m->arch->name);
    rt_graph *g = rt_model_graph(m, batch, RT_PLAN_INFER);
    if (!g) return RT_ERR_ARG; /* message recorded by rt_model_graph */
    rt_status st = RT_OK;
    int cap = 0;
    for (int i = 0; i < g->n_nodes && st == RT_OK; i++) {
        const rt_node *n = g->nodes[i];
        char mod[RT_LABEL_MAX];
        snprintf(mod, sizeof mod, "%s", n->label);
        if (n->op == RT_OP_PARAM) { /* "blocks.0.norm1.weight" belongs to "blocks.0.norm1"; "cls_token" is its own */
            char *dot = strrchr(mod, '.');
            if (dot) *dot = 0;
        }
        if (mod[0]) st = add_prefixes(s, mod, &cap);
    }
    if (st == RT_OK) st = account(s, g);
    s->infer_act_bytes = rt_graph_act_bytes(g);
    rt_graph_free(g);
    if (st == RT_OK) {
        rt_graph *t = rt_model_graph(m, batch, RT_PLAN_TRAIN);
        if (!t) st = RT_ERR_ARG;
        else {
            s->train_act_bytes = rt_graph_act_bytes(t);
            s->train_act_grad_bytes = rt_graph_grad_bytes(t);
            rt_graph_free(t);
        }
    }
    const rt_params *p = m->params;
    s->param_bytes = p->numel * sizeof(float);
    s->buffer_bytes = p->buf_numel * sizeof(float);
    /* the flat gradient and moment arrays have the parameter store's layout */
    s->grad_bytes = p->numel * sizeof(float);
    s->moment_bytes = 2 * p->numel * sizeof(float);
    if (st != RT_OK) rt_summary_free(s);
    return st;
}

void rt_summary_free(rt_summary *s)
{
    free(s->rows);
    s->rows = NULL;
    s->n_rows = 0;
}

size_t rt_summary_infer_bytes(const rt_summary *s) { return s->param_bytes + s->buffer_bytes + s->infer_act_bytes; }

size_t rt_summary_train_bytes(const rt_summary *s)
{
    return s->param_bytes + s->buffer_bytes + s->grad_bytes + s->moment_bytes + s->train_act_bytes +
           s->train_act_grad_bytes;
}

/* ---- tables ---- */

/* 1234567 -> "1,234,567" */
static const char *num(char *buf, size_t n, int64_t v)
{
    char t[32];
    int len = snprintf(t, sizeof t, "%lld", (long long)(v < 0 ? -v : v)), o = 0;
    if (v < 0 && o < (int)n - 1) buf[o++] = '-';
    for (int i = 0; i < len && o < (int)n - 1; i++) {
        if (i && (len - i) % 3 == 0 && o < (int)n - 2) buf[o++] = ',';
        buf[o++] = t[i];
    }
    buf[o] = 0;
    return buf;
}

/* 1.5e9 -> "1.50 G" (decimal units, for counts) */
static const char *si(char *buf, size_t n, double v)
{
    static const char *const u[] = {"", "K", "M", "G", "T"};
    int k = 0;
    while (v >= 1000 && k < 4) v /= 1000, k++;
    snprintf(buf, n, k ? "%.2f %s" : "%.0f%s", v, u[k]);
    return buf;
}

/* bytes -> "12.34 MiB" */
static const char *mib(char *buf, size_t n, size_t b)
{
    if (b < 1024) snprintf(buf, n, "%zu B", b);
    else if (b < (size_t)1 << 20) snprintf(buf, n, "%.2f KiB", (double)b / 1024);
    else if (b < (size_t)1 << 30) snprintf(buf, n, "%.2f MiB", (double)b / (1 << 20));
    else snprintf(buf, n, "%.2f GiB", (double)b / (1 << 30));
    return buf;
}

static const char *shape_of(char *buf, size_t n, const rt_summary_row *r)
{
    if (!r->ndim) snprintf(buf, n, "-");
    else rt_shape_str(buf, n, r->ndim, r->shape);
    return buf;
}

static double pct(int64_t part, int64_t whole) { return whole ? 100.0 * (double)part / (double)whole : 0.0; }

static void rule(FILE *f, int w)
{
    for (int i = 0; i < w; i++) fputc('-', f);
    fputc('\n', f);
}

void rt_summary_print(FILE *f, const rt_summary *s, int depth)
{
    char a[64], b[64], c[64], d[64], e[64];
    const rt_summary_row *t = &s->total;
    fprintf(f, "%s (arch %s), batch %lld\n", s->name[0] ? s->name : "model", s->arch, (long long)s->batch);
    rule(f, 104);
    fprintf(f, "%-40s %-22s %14s %7s %17s\n", "Module", "Output shape", "Params", "Share", "MACs/sample");
    rule(f, 104);
    for (int i = 0; i < s->n_rows; i++) {
        const rt_summary_row *r = &s->rows[i];
        if (r->depth > depth) continue;
        char name[RT_LABEL_MAX + 32];
        snprintf(name, sizeof name, "%*s%s", 2 * (r->depth - 1), "", r->name);
        fprintf(f, "%-40s %-22s %14s %6.2f%% %17s\n", name, shape_of(a, sizeof a, r), num(b, sizeof b, r->params),
                pct(r->params, t->params), num(c, sizeof c, r->macs));
    }
    rule(f, 104);
    fprintf(f, "%-40s %-22s %14s %6.2f%% %17s\n", "Total", shape_of(a, sizeof a, t), num(b, sizeof b, t->params), 100.0,
            num(c, sizeof c, t->macs));
    if (s->unassigned) fprintf(f, "(parameters outside every top-level module: %s)\n", num(a, sizeof a, s->unassigned));
    rule(f, 104);
    fprintf(f, "Parameters: %s (trainable %s, frozen %s); buffers: %s values (batch-norm statistics)\n",
            num(a, sizeof a, t->params), num(b, sizeof b, t->trainable), num(c, sizeof c, s->frozen),
            num(d, sizeof d, t->buffers));
    int64_t values = t->params + t->buffers;
    fprintf(f, "Size (parameters + buffers):\n");
    static const char *const pn[RT_PREC_COUNT] = {"FP32", "FP16", "INT8", "INT4"};
    for (int k = 0; k < RT_PREC_COUNT; k++)
        fprintf(f, "  %-5s %14s bytes  %12s  %5.2f bits/value  %6.2fx smaller than FP32\n", pn[k],
                num(a, sizeof a, (int64_t)t->bytes[k]), mib(b, sizeof b, t->bytes[k]),
                values ? 8.0 * (double)t->bytes[k] / (double)values : 0.0,
                t->bytes[k] ? (double)t->bytes[RT_PREC_F32] / (double)t->bytes[k] : 0.0);
    fprintf(f, "  (INT8: matrix weights int8 with an F32 scale per row; INT4: q4 blocks of 32 with an F16 scale\n"
               "   (4.5 bits/weight), int8 rows where a row is not a multiple of 32; biases, norms, embeddings,\n"
               "   statistics and the final layer stay FP32 - as retort quantize writes them)\n");
    fprintf(f, "Compute: %s MACs per sample (%s), FLOPs = 2 x MACs = %s\n", num(a, sizeof a, t->macs),
            si(b, sizeof b, (double)t->macs), si(c, sizeof c, 2.0 * (double)t->macs));
    fprintf(f, "  (MACs count matrix products, convolutions, attention scores and weighted sums, LSTM gates and\n"
               "   weighted pooling; elementwise ops, norms and activations count 0 - docs/accounting.md)\n");
    fprintf(f, "Memory at batch %lld (activations are the planned arena of the graph that runs):\n",
            (long long)s->batch);
    fprintf(f, "  inference  %12s = parameters %s + buffers %s + activations %s\n",
            mib(a, sizeof a, rt_summary_infer_bytes(s)), mib(b, sizeof b, s->param_bytes),
            mib(c, sizeof c, s->buffer_bytes), mib(d, sizeof d, s->infer_act_bytes));
    fprintf(f, "  training   %12s = parameters %s + buffers %s + gradients %s + Adam moments %s\n",
            mib(a, sizeof a, rt_summary_train_bytes(s)), mib(b, sizeof b, s->param_bytes),
            mib(c, sizeof c, s->buffer_bytes), mib(d, sizeof d, s->grad_bytes), mib(e, sizeof e, s->moment_bytes));
    fprintf(f, "             %12s   + activations %s + activation gradients %s\n", "",
            mib(a, sizeof a, s->train_act_bytes), mib(b, sizeof b, s->train_act_grad_bytes));
}

static cJSON *shape_json(const rt_summary_row *r)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < r->ndim; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)r->shape[i]));
    return a;
}

static cJSON *bytes_json(const size_t *bytes)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const pn[RT_PREC_COUNT] = {"fp32", "fp16", "int8", "int4"};
    for (int k = 0; k < RT_PREC_COUNT; k++) cJSON_AddNumberToObject(o, pn[k], (double)bytes[k]);
    return o;
}

static cJSON *row_json(const rt_summary_row *r, int64_t total_params)
{
    cJSON *o = cJSON_CreateObject();
    if (r->depth) cJSON_AddStringToObject(o, "name", r->name), cJSON_AddNumberToObject(o, "depth", r->depth);
    cJSON_AddItemToObject(o, "output_shape", shape_json(r));
    cJSON_AddNumberToObject(o, "params", (double)r->params);
    cJSON_AddNumberToObject(o, "trainable", (double)r->trainable);
    cJSON_AddNumberToObject(o, "buffers", (double)r->buffers);
    cJSON_AddNumberToObject(o, "share", total_params ? (double)r->params / (double)total_params : 0.0);
    cJSON_AddNumberToObject(o, "macs_per_sample", (double)r->macs);
    cJSON_AddItemToObject(o, "bytes", bytes_json(r->bytes));
    return o;
}

cJSON *rt_summary_json(const rt_summary *s, int depth)
{
    cJSON *o = cJSON_CreateObject(), *mods = cJSON_CreateArray(), *mem = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", s->name);
    cJSON_AddStringToObject(o, "arch", s->arch);
    cJSON_AddNumberToObject(o, "batch", (double)s->batch);
    cJSON *t = row_json(&s->total, s->total.params);
    cJSON_AddNumberToObject(t, "frozen", (double)s->frozen);
    cJSON_AddNumberToObject(t, "flops_per_sample", 2.0 * (double)s->total.macs);
    cJSON_AddItemToObject(o, "total", t);
    for (int i = 0; i < s->n_rows; i++)
        if (s->rows[i].depth <= depth) cJSON_AddItemToArray(mods, row_json(&s->rows[i], s->total.params));
    cJSON_AddItemToObject(o, "modules", mods);
    cJSON_AddNumberToObject(mem, "params", (double)s->param_bytes);
    cJSON_AddNumberToObject(mem, "buffers", (double)s->buffer_bytes);
    cJSON_AddNumberToObject(mem, "grads", (double)s->grad_bytes);
    cJSON_AddNumberToObject(mem, "adam_moments", (double)s->moment_bytes);
    cJSON_AddNumberToObject(mem, "inference_activations", (double)s->infer_act_bytes);
    cJSON_AddNumberToObject(mem, "training_activations", (double)s->train_act_bytes);
    cJSON_AddNumberToObject(mem, "training_activation_grads", (double)s->train_act_grad_bytes);
    cJSON_AddNumberToObject(mem, "inference_total", (double)rt_summary_infer_bytes(s));
    cJSON_AddNumberToObject(mem, "training_total", (double)rt_summary_train_bytes(s));
    cJSON_AddItemToObject(o, "memory_bytes", mem);
    cJSON_AddStringToObject(o, "conventions", "MACs: matrix products, convolutions, attention scores and weighted "
                                              "sums, LSTM gates, weighted pooling; FLOPs = 2 x MACs; "
                                              "see docs/accounting.md");
    return o;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

/* "6.02x", small ratios with 3 significant digits */
static const char *times(char *buf, size_t n, double r)
{
    snprintf(buf, n, r >= 0.1 || r == 0 ? "%.2fx" : "%.3gx", r);
    return buf;
}

void rt_compare_print(FILE *f, const rt_summary *a, const rt_summary *b)
{
    char s1[64], s2[64], s3[32], s4[32];
    const rt_summary_row *ta = &a->total, *tb = &b->total;
    fprintf(f, "A: %s (arch %s)\nB: %s (arch %s)\nbatch %lld\n", a->name, a->arch, b->name, b->arch,
            (long long)a->batch);
    rule(f, 84);
    fprintf(f, "%-34s %18s %18s %10s\n", "", "A", "B", "A / B");
    rule(f, 84);
#define CMP_ROW(label, va, vb, fmt_fn)                                                               \
    fprintf(f, "%-34s %18s %18s %10s\n", label, fmt_fn(s1, sizeof s1, va), fmt_fn(s2, sizeof s2, vb), \
            times(s3, sizeof s3, ratio((double)(va), (double)(vb))))
    CMP_ROW("parameters", ta->params, tb->params, num);
    static const char *const pl[RT_PREC_COUNT] = {"bytes FP32", "bytes FP16", "bytes INT8", "bytes INT4"};
    for (int k = 0; k < RT_PREC_COUNT; k++) CMP_ROW(pl[k], (int64_t)ta->bytes[k], (int64_t)tb->bytes[k], num);
    CMP_ROW("MACs per sample", ta->macs, tb->macs, num);
    CMP_ROW("inference memory (bytes)", (int64_t)rt_summary_infer_bytes(a), (int64_t)rt_summary_infer_bytes(b), num);
    CMP_ROW("training memory (bytes, Adam)", (int64_t)rt_summary_train_bytes(a), (int64_t)rt_summary_train_bytes(b),
            num);
#undef CMP_ROW
    rule(f, 84);
    fprintf(f, "Compression: %s by parameters, %s by FP32 bytes, %s by MACs\n",
            times(s1, sizeof s1, ratio((double)ta->params, (double)tb->params)),
            times(s2, sizeof s2, ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_F32])),
            times(s3, sizeof s3, ratio((double)ta->macs, (double)tb->macs)));
    fprintf(f, "A at FP32 vs B at FP16 / INT8 / INT4 (by bytes): %s / %s / %s\n",
            times(s1, sizeof s1, ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_F16])),
            times(s2, sizeof s2, ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_INT8])),
            times(s4, sizeof s4, ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_INT4])));
    rule(f, 84);
    fprintf(f, "%-18s %13s %13s %9s %15s %15s %9s\n", "component", "A params", "B params", "A / B", "A MACs", "B MACs",
            "A / B");
    /* A's top-level components in A's order, then B's that A lacks */
    for (int pass = 0; pass < 2; pass++) {
        const rt_summary *x = pass ? b : a, *other = pass ? a : b;
        for (int i = 0; i < x->n_rows; i++) {
            const rt_summary_row *r = &x->rows[i];
            if (r->depth != 1 || (pass && rt_summary_find(other, r->name))) continue;
            const rt_summary_row *ra = pass ? NULL : r, *rb = pass ? r : rt_summary_find(b, r->name);
            char p1[32] = "-", p2[32] = "-", m1[32] = "-", m2[32] = "-", q1[16] = "-", q2[16] = "-";
            if (ra) num(p1, sizeof p1, ra->params), num(m1, sizeof m1, ra->macs);
            if (rb) num(p2, sizeof p2, rb->params), num(m2, sizeof m2, rb->macs);
            if (ra && rb && rb->params) times(q1, sizeof q1, ratio((double)ra->params, (double)rb->params));
            if (ra && rb && rb->macs) times(q2, sizeof q2, ratio((double)ra->macs, (double)rb->macs));
            fprintf(f, "%-18s %13s %13s %9s %15s %15s %9s\n", r->name, p1, p2, q1, m1, m2, q2);
        }
    }
}

cJSON *rt_compare_json(const rt_summary *a, const rt_summary *b)
{
    cJSON *o = cJSON_CreateObject(), *r = cJSON_CreateObject(), *comp = cJSON_CreateArray();
    cJSON_AddItemToObject(o, "a", rt_summary_json(a, 1));
    cJSON_AddItemToObject(o, "b", rt_summary_json(b, 1));
    const rt_summary_row *ta = &a->total, *tb = &b->total;
    cJSON_AddNumberToObject(r, "params", ratio((double)ta->params, (double)tb->params));
    cJSON_AddNumberToObject(r, "bytes_fp32", ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_F32]));
    cJSON_AddNumberToObject(r, "bytes_fp32_vs_int8", ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_INT8]));
    cJSON_AddNumberToObject(r, "bytes_fp32_vs_int4", ratio((double)ta->bytes[RT_PREC_F32], (double)tb->bytes[RT_PREC_INT4]));
    cJSON_AddNumberToObject(r, "macs", ratio((double)ta->macs, (double)tb->macs));
    cJSON_AddNumberToObject(r, "inference_memory",
                            ratio((double)rt_summary_infer_bytes(a), (double)rt_summary_infer_bytes(b)));
    cJSON_AddNumberToObject(r, "training_memory",
                            ratio((double)rt_summary_train_bytes(a), (double)rt_summary_train_bytes(b)));
    cJSON_AddItemToObject(o, "ratios_a_over_b", r);
    for (int i = 0; i < a->n_rows; i++) {
        const rt_summary_row *ra = &a->rows[i], *rb;
        if (ra->depth != 1 || !(rb = rt_summary_find(b, ra->name))) continue;
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", ra->name);
        cJSON_AddNumberToObject(c, "params_a", (double)ra->params);
        cJSON_AddNumberToObject(c, "params_b", (double)rb->params);
        cJSON_AddNumberToObject(c, "macs_a", (double)ra->macs);
        cJSON_AddNumberToObject(c, "macs_b", (double)rb->macs);
        cJSON_AddItemToArray(comp, c);
    }
    cJSON_AddItemToObject(o, "shared_components", comp);
    return o;
}
