/*
 * train_fmnist.c - a worked example of libretort's graph API: train an MLP
 * on Fashion-MNIST (Debian's dataset-fashion-mnist) with SGD + momentum,
 * evaluate on the test set and save the model as safetensors.
 *
 *   build/examples/train_fmnist [--epochs N] [--batch B] [--lr X] [--seed S]
 *                               [--hidden H] [--data DIR] [--out FILE]
 *
 * The loss is built from engine ops: -mean(sum(onehot * log_softmax(logits))).
 * One graph trains (RT_PLAN_TRAIN), another of a different batch size
 * evaluates (RT_PLAN_INFER); both view the same flat parameter store.
 * This grows into `retort train` (issue 4); it is here so the main job can
 * exercise the engine end to end today.
 */
#include <retort.h>
#include "data/idx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FM_MEAN 0.2860f
#define FM_STD 0.3530f

struct opts {
    int epochs, batch, hidden;
    float lr;
    uint64_t seed;
    const char *data, *out;
};

struct model {
    rt_graph *g;
    rt_node *x, *onehot, *logits, *loss;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 784 -> hidden -> hidden/2 -> 10, ReLU; PyTorch nn.Linear names and init. */
static struct model build(rt_params *p, int64_t B, int hidden, bool train)
{
    struct model m = {.g = rt_graph_new(p)};
    rt_graph *g = m.g;
    int64_t dims[4] = {784, hidden, hidden / 2, 10};
    rt_node *h = m.x = rt_input(g, "x", RT_DIMS(B, 784));
    for (int l = 0; l < 3; l++) {
        char wn[64], bn[64];
        float bound = 1.f / sqrtf((float)dims[l]);
        snprintf(wn, sizeof wn, "fc%d.weight", l + 1);
        snprintf(bn, sizeof bn, "fc%d.bias", l + 1);
        rt_graph_scope(g, "fc%d", l + 1);
        h = rt_linear(g, h, rt_param(g, wn, RT_DIMS(dims[l + 1], dims[l]), rt_init_uniform(bound)),
                      rt_param(g, bn, RT_DIMS(dims[l + 1]), rt_init_uniform(bound)));
        if (l < 2) h = rt_relu(g, h);
    }
    m.logits = rt_tag(h, "logits");
    if (train) {
        m.onehot = rt_input(g, "onehot", RT_DIMS(B, 10));
        m.loss = rt_scale(g, rt_sum(g, rt_mul(g, rt_log_softmax(g, m.logits), m.onehot)), -1.f / (float)B);
    }
    return m;
}

static int load(const char *dir, const char *name, rt_idx *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (rt_idx_load(out, path) != RT_OK) {
        fprintf(stderr, "retort: %s\n(install Fashion-MNIST with: apt-get install dataset-fashion-mnist)\n",
                rt_errmsg());
        return -1;
    }
    return 0;
}

static void fill_batch(float *x, float *onehot, const rt_idx *img, const rt_idx *lab, const uint32_t *order,
                       int64_t start, int64_t B)
{
    for (int64_t b = 0; b < B; b++) {
        uint32_t i = order[start + b];
        for (int k = 0; k < 784; k++) x[b * 784 + k] = ((float)img->data[(size_t)i * 784 + k] / 255.f - FM_MEAN) / FM_STD;
        if (onehot) {
            memset(onehot + b * 10, 0, 10 * sizeof(float));
            onehot[b * 10 + lab->data[i]] = 1.f;
        }
    }
}

static double evaluate(struct model *m, const rt_idx *img, const rt_idx *lab, const uint32_t *ident, int64_t B)
{
    int64_t n = (int64_t)lab->n, correct = 0;
    for (int64_t s = 0; s + B <= n; s += B) {
        fill_batch(rt_data(m->x), NULL, img, lab, ident, s, B);
        rt_graph_forward(m->g);
        const float *z = rt_data(m->logits);
        for (int64_t b = 0; b < B; b++) {
            int best = 0;
            for (int c = 1; c < 10; c++)
                if (z[b * 10 + c] > z[b * 10 + best]) best = c;
            correct += best == lab->data[s + b];
        }
    }
    return (double)correct / (double)(n - n % B);
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.epochs = 2, .batch = 100, .hidden = 256, .lr = 0.05f, .seed = 42,
                       .data = "/usr/share/datasets/fashion-mnist", .out = NULL};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: train_fmnist [--epochs N] [--batch B] [--lr X] [--seed S] [--hidden H] [--data DIR] "
                   "[--out FILE]\n");
            exit(0);
        }
        if (!v) return fprintf(stderr, "retort: %s needs a value\n", a), -1;
        if (!strcmp(a, "--epochs")) o->epochs = atoi(v);
        else if (!strcmp(a, "--batch")) o->batch = atoi(v);
        else if (!strcmp(a, "--hidden")) o->hidden = atoi(v);
        else if (!strcmp(a, "--lr")) o->lr = strtof(v, NULL);
        else if (!strcmp(a, "--seed")) o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else return fprintf(stderr, "retort: unknown option '%s'\n", a), -1;
    }
    if (o->epochs < 1 || o->batch < 1 || o->hidden < 2 || !(o->lr > 0))
        return fprintf(stderr, "retort: bad option value\n"), -1;
    return 0;
}

static int save(const rt_params *p, const char *path)
{
    rt_st_entry *e = calloc((size_t)p->n_views, sizeof *e);
    if (!e) return -1;
    for (int i = 0; i < p->n_views; i++)
        e[i] = (rt_st_entry){p->views[i].name, RT_F32, p->views[i].ndim, p->views[i].shape,
                             rt_params_data(p, &p->views[i])};
    rt_st_meta meta[] = {{"format_version", "1"}, {"producer", "retort examples/train_fmnist"}};
    rt_status s = rt_st_write(path, e, p->n_views, meta, 2);
    free(e);
    if (s != RT_OK) return fprintf(stderr, "retort: %s\n", rt_errmsg()), -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o)) return 2;
    rt_idx tri, trl, tei, tel;
    if (load(o.data, "train-images-idx3-ubyte.gz", &tri) || load(o.data, "train-labels-idx1-ubyte.gz", &trl) ||
        load(o.data, "t10k-images-idx3-ubyte.gz", &tei) || load(o.data, "t10k-labels-idx1-ubyte.gz", &tel))
        return 1;
    rt_params *p = rt_params_new();
    struct model tr = build(p, o.batch, o.hidden, true), ev = build(p, 1000, o.hidden, false);
    if (rt_graph_plan(tr.g, RT_PLAN_TRAIN) != RT_OK || rt_graph_plan(ev.g, RT_PLAN_INFER) != RT_OK) {
        fprintf(stderr, "retort: model: %s\n", rt_errmsg());
        return 1;
    }
    rt_params_init(p, o.seed);
    float *mom = calloc(p->numel, sizeof *mom);
    int64_t n = (int64_t)trl.n;
    uint32_t *order = malloc((size_t)n * sizeof *order), *ident = malloc(tel.n * sizeof *ident);
    for (size_t i = 0; i < tel.n; i++) ident[i] = (uint32_t)i;
    printf("model: MLP 784-%d-%d-10, %zu parameters; batch %d, SGD lr %g momentum 0.9, %d threads (BLAS core %s)\n",
           o.hidden, o.hidden / 2, p->numel, o.batch, o.lr, rt_threads_get(), rt_blas_corename());
    double t_start = now();
    for (int ep = 0; ep < o.epochs; ep++) {
        for (int64_t i = 0; i < n; i++) order[i] = (uint32_t)i;
        for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates from the counter RNG */
            uint32_t r[4];
            rt_philox4x32(o.seed, (uint64_t)i, 0xDA7A, (uint32_t)ep, r);
            int64_t j = (int64_t)(r[0] % (uint32_t)(i + 1));
            uint32_t t = order[i]; order[i] = order[j]; order[j] = t;
        }
        double t0 = now(), loss_sum = 0;
        int64_t steps = 0;
        for (int64_t s = 0; s + o.batch <= n; s += o.batch, steps++) {
            fill_batch(rt_data(tr.x), rt_data(tr.onehot), &tri, &trl, order, s, o.batch);
            tr.g->step = (uint32_t)(ep * n / o.batch + steps);
            rt_graph_forward(tr.g);
            loss_sum += rt_data(tr.loss)[0];
            rt_params_zero_grad(p);
            rt_graph_backward(tr.g, tr.loss);
            for (size_t k = 0; k < p->numel; k++) {
                mom[k] = 0.9f * mom[k] + p->grad[k];
                p->data[k] -= o.lr * mom[k];
            }
        }
        double dt = now() - t0, acc = evaluate(&ev, &tei, &tel, ident, 1000);
        printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.0f samples/s, %.1f s\n", ep + 1,
               loss_sum / (double)steps, 100 * acc, (double)(steps * o.batch) / dt, dt);
    }
    printf("total %.1f s\n", now() - t_start);
    int rc = o.out ? save(p, o.out) : 0;
    if (!rc && o.out) printf("saved %s\n", o.out);
    rt_graph_free(tr.g); rt_graph_free(ev.g); rt_params_free(p);
    free(mom); free(order); free(ident);
    rt_idx_free(&tri); rt_idx_free(&trl); rt_idx_free(&tei); rt_idx_free(&tel);
    return rc ? 1 : 0;
}
