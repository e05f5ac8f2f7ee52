/*
 * bench/peer_step.c - retort's side of bench/peer.py: one model, one kind
 * of step, timed on request, so a driver can alternate it with PyTorch.
 *
 *     build/bench/peer_step CONFIG infer|train|distill BATCH [--threads N]
 *
 * Sets up (weights from seed 1, inputs N(0,1) from seed 7, targets from
 * seed 8), runs two warm-up steps, prints "ready", then reads commands on
 * stdin: a number N runs N steps and prints their wall times in ms on one
 * line; "q" or end of input exits. The steps are the ones bench/peer.py's
 * --serve mode runs in PyTorch:
 *   infer  forward in eval mode (inference plan)
 *   train  forward in training mode, loss (MSE against a random target for
 *          regression, cross entropy against random labels for
 *          classification), zero grad, backward, one AdamW update (lr 1e-5)
 *   distill  CONFIG is the student, configs/vit-base-emotion.json the
 *          teacher (inference plan, eval mode): teacher forward, its taps
 *          copied in, student forward in training mode with 0.3 response
 *          (MSE of the outputs) + 0.4 feature (teacher blocks.11.out vs the
 *          student's last block through a learned projection, src/distill's
 *          rt_kd_term_build) + 0.3 attention (the same blocks' head-averaged
 *          maps), zero grad, backward, AdamW over student + projection
 * Errors: one line "peer_step: ..." on stderr, exit 1 (2: usage).
 */
#include "bench.h"

#include "core/graph.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/threads.h"
#include "distill/distill.h"
#include "models/model.h"
#include "train/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_TEACHER "configs/vit-base-emotion.json"

struct peer {
    rt_graph *g;
    rt_node *loss; /* NULL: inference */
    rt_optim *opt;
    rt_model *teacher; /* distill */
    rt_graph *tg;
    int n_links;
    rt_node *dst[4];
    const rt_node *src[4];
};

static void fill_normal(rt_node *n, uint64_t seed)
{
    float *x = rt_data(n);
    for (int64_t i = 0, k = rt_numel(n); i < k; i++) x[i] = rt_rng_normal(seed, 0, 0, (uint64_t)i);
}

static int fail(const char *what)
{
    fprintf(stderr, "peer_step: %s: %s\n", what, rt_errmsg());
    return 1;
}

/* The training graph: the model, a target leaf and the task's loss. */
static int setup_train(struct peer *p, rt_model *m, int64_t batch)
{
    p->g = rt_model_build(m, batch);
    if (!p->g) return fail("build");
    rt_node *out = rt_graph_tap(p->g, "output"), *y;
    if (m->task == RT_TASK_CLASSIFICATION) {
        y = rt_input(p->g, "labels", RT_DIMS(batch));
        p->loss = rt_cross_entropy(p->g, out, y, 0.f);
    } else {
        y = rt_input(p->g, "target", out->out.ndim, out->out.shape);
        p->loss = rt_mse_loss(p->g, out, y);
    }
    if (rt_graph_plan(p->g, RT_PLAN_TRAIN) != RT_OK) return fail("plan");
    rt_graph_set_training(p->g, true);
    if (m->task == RT_TASK_CLASSIFICATION) {
        float *l = rt_data(y);
        for (int64_t i = 0; i < batch; i++) l[i] = (float)((uint64_t)(i * 7 + 3) % (uint64_t)m->num_outputs);
    } else {
        fill_normal(y, 8);
    }
    rt_optim_config oc = rt_optim_defaults(RT_OPTIM_ADAMW);
    if (rt_optim_new(&p->opt, p->g->params, &oc) != RT_OK) return fail("optimizer");
    return 0;
}

/* The teacher's tap as an input of the student graph. */
static rt_node *link(struct peer *p, const char *tap)
{
    const rt_node *t = rt_graph_tap(p->tg, tap);
    if (!t) return NULL;
    char name[96];
    snprintf(name, sizeof name, "teacher.%s", tap);
    p->src[p->n_links] = t;
    return p->dst[p->n_links++] = rt_input(p->g, name, t->out.ndim, t->out.shape);
}

static int setup_distill(struct peer *p, rt_model *m, int64_t batch)
{
    static const char *const what[3] = {"output", "blocks.%d.out", "blocks.%d.attn.probs"};
    static const float weight[3] = {0.3f, 0.4f, 0.3f};
    if (rt_model_open(&p->teacher, PEER_TEACHER, 2) != RT_OK) return fail(PEER_TEACHER);
    if (!(p->tg = rt_model_graph(p->teacher, batch, RT_PLAN_INFER_TAPS))) return fail("teacher graph");
    rt_graph_set_training(p->tg, false);
    rt_params_allow_growth(m->params, true);
    int first_aux = m->params->n_views;
    if (!(p->g = rt_model_build(m, batch))) return fail("build");
    int s_last = -1, t_last = -1;
    char tap[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(tap, sizeof tap, "blocks.%d.attn.probs", i);
        if (rt_graph_tap(p->g, tap)) s_last = i;
        if (rt_graph_tap(p->tg, tap)) t_last = i;
    }
    if (s_last < 0 || t_last < 0) {
        fprintf(stderr, "peer_step: distill needs attention blocks in teacher and student\n");
        return 1;
    }
    rt_node *total = NULL;
    for (int k = 0; k < 3; k++) {
        char ts[64], ss[64];
        snprintf(ts, sizeof ts, what[k], t_last);
        snprintf(ss, sizeof ss, what[k], s_last);
        rt_kd_term term = {.kind = k == 0 ? RT_KD_RESPONSE : k == 1 ? RT_KD_FEATURE : RT_KD_ATTENTION,
                           .distance = RT_KD_MSE, .weight = weight[k], .n_pairs = 1};
        snprintf(term.teacher[0], RT_KD_TAP_MAX, "%s", ts);
        snprintf(term.student[0], RT_KD_TAP_MAX, "%s", ss);
        rt_node *sn = rt_graph_tap(p->g, ss), *tn = link(p, ts);
        rt_node *d = sn && tn ? rt_kd_term_build(p->g, &term, k, 1.0, false, &sn, &tn) : NULL;
        if (!d) return fail("distillation term");
        d = rt_scale(p->g, d, weight[k]);
        total = total ? rt_add(p->g, total, d) : d;
    }
    p->loss = total;
    if (rt_graph_plan(p->g, RT_PLAN_TRAIN) != RT_OK) return fail("plan");
    rt_params_init_from(m->params, 1, first_aux);
    rt_graph_set_training(p->g, true);
    rt_optim_config oc = rt_optim_defaults(RT_OPTIM_ADAMW);
    if (rt_optim_new(&p->opt, p->g->params, &oc) != RT_OK) return fail("optimizer");
    return 0;
}

static void step(struct peer *p)
{
    if (p->tg) {
        rt_node *x = rt_graph_tap(p->g, "input");
        memcpy(rt_data(rt_graph_tap(p->tg, "input")), rt_data(x), (size_t)rt_numel(x) * sizeof(float));
        rt_graph_forward(p->tg);
        for (int i = 0; i < p->n_links; i++)
            memcpy(rt_data(p->dst[i]), rt_data(p->src[i]), (size_t)rt_numel(p->src[i]) * sizeof(float));
    }
    rt_graph_forward(p->g);
    if (!p->loss) return;
    rt_params_zero_grad(p->g->params);
    rt_graph_backward(p->g, p->loss);
    rt_optim_step(p->opt, 1e-5);
}

int main(int argc, char **argv)
{
    const char *usage = "usage: peer_step CONFIG infer|train|distill BATCH [--threads N]\n";
    if (argc != 4 && !(argc == 6 && !strcmp(argv[4], "--threads"))) {
        fputs(usage, stderr);
        return 2;
    }
    long batch = atol(argv[3]);
    bool train = !strcmp(argv[2], "train"), distill = !strcmp(argv[2], "distill");
    if (batch < 1 || (!train && !distill && strcmp(argv[2], "infer"))) {
        fputs(usage, stderr);
        return 2;
    }
    if (argc == 6) rt_threads_set(atoi(argv[5]));
    rt_model *m;
    if (rt_model_open(&m, argv[1], 1) != RT_OK) return fail(argv[1]);
    struct peer p = {0};
    if (train) {
        if (setup_train(&p, m, batch)) return 1;
    } else if (distill) {
        if (setup_distill(&p, m, batch)) return 1;
    } else {
        p.g = rt_model_graph(m, batch, RT_PLAN_INFER);
        if (!p.g) return fail(argv[1]);
        rt_graph_set_training(p.g, false);
    }
    fill_normal(rt_graph_tap(p.g, "input"), 7);
    step(&p);
    step(&p);
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) && line[0] != 'q') {
        int n = atoi(line);
        for (int i = 0; i < n; i++) {
            double t0 = bench_now_ms();
            step(&p);
            printf("%s%.4f", i ? " " : "", bench_now_ms() - t0);
        }
        printf("\n");
        fflush(stdout);
    }
    rt_optim_free(p.opt);
    rt_graph_free(p.g);
    rt_graph_free(p.tg);
    rt_model_free(p.teacher);
    rt_model_free(m);
    return 0;
}
