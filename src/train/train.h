/*
 * train.h - the training loop: a recipe in, a run directory out.
 *
 *     rt_recipe r;  rt_recipe_load(&r, "recipes/fmnist-teacher.json", NULL, 0);
 *     rt_train_opts o = {.resume = false, .progress = isatty(2)};
 *     rt_train_result res;
 *     if (rt_train_run(&r, &o, &res) != RT_OK) fprintf(stderr, "retort: %s\n", rt_errmsg());
 *
 * The run directory (r.out) holds:
 *   recipe.json              the resolved recipe (overrides applied)
 *   log.jsonl                one JSON object per logged step ("type": "step": loss, lr,
 *                            grad_norm, samples_per_s), per epoch ("epoch": mean train
 *                            loss, validation metrics, seconds) and a final "done"
 *   checkpoint.safetensors   parameters, buffers, optimizer state ("optim.*"), and in the
 *                            metadata the step, the loader position, the best metric, the
 *                            log length and the recipe: written atomically every
 *                            checkpoint_every steps and at each epoch end
 *   model.safetensors        the last weights (a model file), at each epoch end
 *   best.safetensors         the weights with the best validation metric (accuracy for
 *                            classification, the validation loss otherwise)
 *
 * Determinism: the same recipe, seed and thread count give the same weights
 * bit for bit, and `resume` continues from the checkpoint to the same
 * weights as a run that was never stopped (the data order, augmentation and
 * dropout masks are functions of (seed, epoch, batch, step); the optimizer
 * state and batch-norm statistics are in the checkpoint; log.jsonl is cut
 * back to the checkpoint's length).
 * A step whose loss or gradient is not finite stops the run with an error
 * naming the first node whose output is not finite; the last checkpoint is
 * left as it was. A run directory that already holds a checkpoint is never
 * overwritten without `resume`.
 */
#ifndef RT_TRAIN_H
#define RT_TRAIN_H

#include "core/graph.h"
#include "train/recipe.h"

typedef struct rt_train_opts {
    bool resume;    /* continue from <out>/checkpoint.safetensors */
    bool progress;  /* a progress bar with ETA on stderr (else plain lines on stdout) */
    bool quiet;     /* neither */
} rt_train_opts;

typedef struct rt_train_result {
    int64_t steps;
    double seconds;       /* wall time of this invocation's training */
    double final_loss;    /* mean training loss of the last epoch */
    double val_metric;    /* validation metric of the last epoch (NAN without validation) */
    const char *val_name; /* its name ("accuracy", "loss") */
} rt_train_result;

rt_status rt_train_run(const rt_recipe *r, const rt_train_opts *o, rt_train_result *res);

/* Hooks through which another engine (src/distill) runs this same loop
 * (run directory, logs, checkpoints, resume, progress). All optional. */
typedef struct rt_model rt_model;
typedef struct cJSON cJSON;
struct rt_dataset;
typedef struct rt_train_hooks {
    void *ctx;
    const char *verb;        /* "distilling" in the first line (default "training") */
    /* Each training graph (one per batch size), after the task loss and
     * before planning: set *total to the loss to minimise. */
    rt_status (*build)(void *ctx, rt_graph *g, int64_t batch, rt_node *task_loss, rt_node **total);
    /* After the graphs are planned (the store may have grown), before the
     * optimizer and any checkpoint are read; train is the training data. */
    rt_status (*ready)(void *ctx, rt_model *m, const struct rt_dataset *train);
    /* Before each step's forward: the batch is in the graph's input; idx
     * holds its n data set rows. */
    rt_status (*before_step)(void *ctx, rt_graph *g, const int64_t *idx, int64_t n);
    /* Every monitor_every steps, after the forward: may run backward passes
     * of its own (the trainer zeroes the gradients after), fills a log
     * object (written as a line of log.jsonl) and a short progress text. */
    int64_t monitor_every;
    rt_status (*monitor)(void *ctx, rt_graph *g, int64_t step, cJSON *log, char *text, size_t n);
    /* End of each epoch, after validation (NAN without), with the epoch's
     * log object (before it is written). */
    void (*epoch_end)(void *ctx, int64_t epoch, double val_metric, bool higher_better, cJSON *log);
} rt_train_hooks;

rt_status rt_train_run_with(const rt_recipe *r, const rt_train_opts *o, const rt_train_hooks *h,
                            rt_train_result *res);

#endif
