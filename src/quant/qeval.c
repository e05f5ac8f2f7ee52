/*
 * qeval.c - a quantized model against its FP32 original on the same inputs
 * (contract in qeval.h).
 */
#include "quant/qeval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An eval-mode graph of `rows` rows whose input takes ds's samples. */
static rt_graph *input_graph(rt_model *m, const rt_dataset *ds, int64_t rows)
{
    rt_graph *g = rt_model_graph(m, rows, RT_PLAN_INFER);
    if (!g) return NULL;
    rt_graph_set_training(g, false);
    const rt_node *in = rt_graph_tap(g, "input"), *o = rt_graph_tap(g, "output");
    if (!in || !o || rt_numel(in) != rows * ds->x_size) {
        rt_error(RT_ERR_SHAPE, "%s: samples of %lld values do not fit model '%s'", ds->source, (long long)ds->x_size,
                 m->name);
        rt_graph_free(g);
        return NULL;
    }
    return g;
}

/* All outputs of m over ds into a malloc'ed (N, *n_out) array. */
static rt_status outputs(rt_model *m, const rt_dataset *ds, int64_t batch, float **y, int64_t *n_out)
{
    int64_t full = ds->n < batch ? ds->n : batch, rest = ds->n % full;
    rt_graph *g = input_graph(m, ds, full), *gr = rest && g ? input_graph(m, ds, rest) : NULL;
    *y = NULL;
    if (!g || (rest && !gr)) {
        rt_graph_free(g);
        return RT_ERR_SHAPE;
    }
    *n_out = rt_numel(rt_graph_tap(g, "output")) / full;
    *y = malloc((size_t)(ds->n * *n_out) * sizeof **y);
    rt_status s = *y ? RT_OK : rt_error(RT_ERR_NOMEM, "%s: out of memory", ds->source);
    for (int64_t i = 0; i < ds->n && s == RT_OK;) {
        int64_t b = ds->n - i >= full ? full : rest;
        rt_graph *cur = b == full ? g : gr;
        memcpy(rt_data(rt_graph_tap(cur, "input")), ds->x + i * ds->x_size, (size_t)(b * ds->x_size) * sizeof(float));
        s = rt_graph_forward(cur);
        if (s == RT_OK) memcpy(*y + i * *n_out, rt_data(rt_graph_tap(cur, "output")), (size_t)(b * *n_out) * sizeof(float));
        i += b;
    }
    rt_graph_free(g);
    rt_graph_free(gr);
    return s;
}

static double log_sum_exp(const float *x, int64_t n)
{
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < n; k++) m = x[k] > m ? x[k] : m;
    for (int64_t k = 0; k < n; k++) s += exp(x[k] - m);
    return m + log(s);
}

double rt_kl_logits(const float *p, const float *q, int64_t n)
{
    double lp = log_sum_exp(p, n), lq = log_sum_exp(q, n), kl = 0;
    for (int64_t k = 0; k < n; k++) {
        double a = p[k] - lp, b = q[k] - lq;
        kl += exp(a) * (a - b);
    }
    return kl;
}

static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t k = 1; k < n; k++)
        if (x[k] > x[best]) best = k;
    return best;
}

rt_status rt_quant_compare(rt_model *ref, rt_model *q, const rt_dataset *ds, int64_t batch, rt_qcompare *out)
{
    memset(out, 0, sizeof *out);
    if (ds->n < 1 || batch < 1) return rt_error(RT_ERR_ARG, "%s: no samples to compare on", ds->source);
    float *yr = NULL, *yq = NULL;
    int64_t nr = 0, nq = 0;
    rt_status s = outputs(ref, ds, batch, &yr, &nr);
    if (s == RT_OK) s = outputs(q, ds, batch, &yq, &nq);
    if (s == RT_OK && nr != nq)
        s = rt_error(RT_ERR_SHAPE, "quantized model gives %lld outputs per sample, the FP32 one %lld", (long long)nq,
                     (long long)nr);
    if (s == RT_OK) {
        bool cls = ref->task == RT_TASK_CLASSIFICATION;
        double se = 0, kl = 0;
        int64_t same = 0;
        for (int64_t i = 0; i < ds->n; i++) {
            const float *a = yr + i * nr, *b = yq + i * nr;
            for (int64_t k = 0; k < nr; k++) se += ((double)b[k] - a[k]) * ((double)b[k] - a[k]);
            if (cls) kl += rt_kl_logits(a, b, nr), same += argmax(a, nr) == argmax(b, nr);
        }
        *out = (rt_qcompare){.n = ds->n, .n_out = nr, .mse = se / (double)(ds->n * nr),
                             .kl = cls ? kl / (double)ds->n : NAN, .top1_agree = cls ? (double)same / (double)ds->n : NAN};
    }
    free(yr);
    free(yq);
    return s;
}
