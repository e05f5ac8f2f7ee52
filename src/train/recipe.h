/*
 * recipe.h - a training recipe (JSON) with command-line overrides, checked
 * field by field (errors name the file and the field path).
 *
 *     {
 *       "name": "fmnist-teacher",
 *       "model": "configs/fmnist-teacher.json",        // a config or a model file
 *       "data": {"train": "fmnist:train", "val": "fmnist:test", "batch": 128,
 *                "subset": 1.0, "drop_last": false,
 *                "augment": {"noise": 0.0, "mixup": 0.0}},
 *       "loss": {"name": "cross_entropy", "label_smoothing": 0.0},
 *       "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.05, "no_decay_1d": true},
 *       "schedule": {"name": "cosine", "warmup_epochs": 0.2, "min_lr": 0.0},
 *       "epochs": 3, "seed": 42, "clip_grad_norm": 0.0,
 *       "log_every": 50, "checkpoint_every": 500,
 *       "out": "runs/fmnist-teacher"
 *     }
 *
 *     rt_recipe r;
 *     const char *sets[] = {"optim.lr=1e-3"};
 *     if (rt_recipe_load(&r, "recipes/fmnist-teacher.json", sets, 1) != RT_OK) ... rt_errmsg();
 *     ... r.optim, r.sched, r.epochs ...; r.resolved is the JSON actually used
 *     rt_recipe_free(&r);
 *
 * Losses by task: classification "cross_entropy" (label_smoothing),
 * regression "mse" | "l1" | "ccc", reconstruction "mse" | "elbo" (beta; the
 * VAE's taps mu and logvar), embedding "aam_softmax" (margin 0.2, scale 30:
 * ArcFace on the "embedding" tap against class labels, through a (K, E)
 * class-weight matrix "aux.aam.weight" that is trained and checkpointed but
 * left out of model files). Inputs are used as the data set holds them
 * (IDX pixels in [0, 1]): input normalisation is not part of a model file
 * yet, so it is not offered here (eval would not know to repeat it).
 */
#ifndef RT_RECIPE_H
#define RT_RECIPE_H

#include "core/error.h"
#include "train/optim.h"
#include "train/schedule.h"

#include <stdbool.h>
#include <stdint.h>

enum rt_loss_kind { RT_LOSS_CE = 0, RT_LOSS_MSE, RT_LOSS_L1, RT_LOSS_CCC, RT_LOSS_ELBO, RT_LOSS_AAM, RT_LOSS_KIND_COUNT };

/* Distillation (the recipe's optional "distill" object; src/distill reads it):
 *
 *     "distill": {
 *       "teacher": "runs/fmnist-teacher/best.safetensors",   // a model file
 *       "cache": "",                // or a teacher cache (retort teacher-cache) instead of running the teacher
 *       "alpha": 0.7,               // or "auto": task weight 1 - alpha, response weight alpha
 *       "temperature": 4,
 *       "terms": [
 *         {"kind": "response"},
 *         {"kind": "feature", "weight": 0.4, "distance": "mse",
 *          "pairs": [["blocks.3.out", "blocks.1.out"]]},            // teacher tap -> student tap
 *         {"kind": "attention", "weight": 0.3, "pairs": [["blocks.11.attn.probs", "blocks.7.attn.probs"]]},
 *         {"kind": "embedding", "weight": 0.5, "distance": "cosine", "normalize": false,
 *          "pairs": [["embedding", "embedding"]]}
 *       ],
 *       "task_weight": 1.0,         // default: 1 - alpha with a response term, else 1
 *       "monitor_every": 50         // steps between gradient-share measurements (0: off)
 *     }
 * A response term's "weight" defaults to alpha; the others' to 1. Every
 * term is a weight times a distance between a teacher tap and a student tap:
 *   response   KL(softmax(t/T) || softmax(s/T)) T^2 on "output" (classification;
 *              Hinton's T^2 keeps gradients comparable across T), MSE for regression
 *   feature    MSE or cosine per pair, with a learned projection (aux.*) when widths
 *              differ and resampling of the teacher when token counts / map sizes differ
 *   attention  MSE between head-averaged attention maps (teacher resized to the student's)
 *   embedding  cosine distance 1 - cos (or MSE) between embeddings
 * (src/distill/distill.h has the details.)
 */
#define RT_KD_MAX_TERMS 8
#define RT_KD_MAX_PAIRS 16
#define RT_KD_TAP_MAX 64

enum rt_kd_kind { RT_KD_RESPONSE = 0, RT_KD_FEATURE, RT_KD_ATTENTION, RT_KD_EMBEDDING, RT_KD_KIND_COUNT };
enum rt_kd_distance { RT_KD_MSE = 0, RT_KD_COSINE };

typedef struct rt_kd_term {
    enum rt_kd_kind kind;
    enum rt_kd_distance distance;
    double weight;        /* response: NAN means alpha */
    bool normalize;       /* L2-normalise both sides before the distance */
    int n_pairs;
    char teacher[RT_KD_MAX_PAIRS][RT_KD_TAP_MAX], student[RT_KD_MAX_PAIRS][RT_KD_TAP_MAX];
} rt_kd_term;

typedef struct rt_kd_spec {
    bool on;              /* the recipe has a "distill" object */
    char teacher[512], cache[512];
    double alpha;         /* NAN with alpha_auto until the distiller decides */
    bool alpha_auto;
    double temperature;
    double task_weight;   /* NAN: the default above */
    int64_t monitor_every;
    int n_terms;
    rt_kd_term terms[RT_KD_MAX_TERMS];
} rt_kd_spec;

typedef struct rt_recipe {
    char *label;          /* the recipe's file name, for messages */
    char *resolved;       /* the JSON after overrides (written to the run directory) */
    char name[128], model[512], train[512], val[512], out[512];
    int64_t batch, epochs, log_every, checkpoint_every;
    double subset;        /* (0, 1]: stratified fraction of the training set */
    bool drop_last;
    float noise, mixup;
    enum rt_loss_kind loss;
    double label_smoothing, beta;
    double margin, scale; /* aam_softmax */
    rt_optim_config optim;
    double lr;
    rt_sched sched;       /* steps filled in by the trainer (they depend on the data) */
    double warmup_epochs;
    uint64_t seed;
    double clip_grad_norm; /* 0: off */
    rt_kd_spec kd;
} rt_recipe;

/* Read, apply `--set` overrides (KEY=VALUE), check. */
rt_status rt_recipe_load(rt_recipe *r, const char *path, const char *const *sets, int n_sets);
/* The same from text in memory (label names it in messages). */
rt_status rt_recipe_parse(rt_recipe *r, const char *text, size_t len, const char *label, const char *const *sets,
                          int n_sets);
void rt_recipe_free(rt_recipe *r);
const char *rt_loss_kind_name(enum rt_loss_kind k);
const char *rt_kd_kind_name(enum rt_kd_kind k);

#endif
