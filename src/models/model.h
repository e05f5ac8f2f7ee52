/*
 * model.h - architectures built from JSON configs, and model files.
 *
 * A model is an architecture (registered in model.c's table), its checked
 * settings, and a parameter store. It is built into a graph once per batch
 * size; the graph's input node is tagged "input" and its output "output".
 * Architectures tag standard taps where they apply (distillation and
 * evaluation read only taps):
 *   "embed"            patch/stem embedding output (B, T, C) or (B, C, H, W)
 *   "blocks.<i>.out"   output of block i (0-based)
 *   "blocks.<i>.attn.probs"  head-averaged attention probabilities (B, T, T)
 *   "pooled"           the pooled representation before the head
 *   "embedding"        speaker/embedding models: the embedding vector
 *   "output"           logits (classification), values (regression),
 *                      embedding (embedding task) or reconstruction (vae)
 *   "mu", "logvar", "z" (vae)
 * Parameter names follow the PyTorch module that the reference script in
 * tests/fixtures/ builds for the same config, so counts can be compared and
 * state dicts exchanged.
 *
 * Config (JSON), common fields:
 *   "arch": "vit" | "mobilevit" | "mixer" | "cnn" | "lstm" | "vae" | "mlp"
 *   "name": free text
 *   "input": [C, H, W] or [T, F] or [F]   (per-sample input shape)
 *   "task": "classification" | "regression" | "embedding" | "reconstruction"
 *   "num_outputs": classes or regression outputs
 * plus the architecture's own fields; unknown fields are errors.
 *
 *     rt_model *m;
 *     if (rt_model_from_file(&m, "configs/vit-base-emotion.json") != RT_OK) ... rt_errmsg();
 *     rt_model_init(m, 42);
 *     rt_graph *g = rt_model_graph(m, 8, RT_PLAN_INFER);   // built + planned
 *     memcpy(rt_data(rt_graph_tap(g, "input")), x, ...);  rt_graph_forward(g);
 *     rt_model_save(m, "model.safetensors");
 */
#ifndef RT_MODEL_H
#define RT_MODEL_H

#include "core/graph.h"
#include "io/config.h"
#include "io/safetensors.h"

enum rt_task { RT_TASK_CLASSIFICATION = 0, RT_TASK_REGRESSION, RT_TASK_EMBEDDING, RT_TASK_RECONSTRUCTION };

typedef struct rt_model rt_model;

/* One architecture. parse() reads its own fields from the config (errors
 * name the field and file) into a malloc'ed settings struct; build() adds
 * the model's nodes to g on top of `input` and returns the output node. */
struct rt_arch {
    const char *name;
    rt_status (*parse)(rt_cfg *c, rt_model *m, void **settings);
    rt_node *(*build)(rt_graph *g, const rt_model *m, rt_node *input);
};

struct rt_model {
    const struct rt_arch *arch;
    void *settings;           /* the architecture's parsed settings */
    char *config;             /* the config's JSON text (stored in model files) */
    char name[128];
    enum rt_task task;
    int64_t num_outputs;
    int in_ndim;
    int64_t in_shape[RT_MAX_DIMS - 1]; /* per sample */
    rt_params *params;
    struct rt_qweights *qw;   /* integer weights, when read from a quantized file (quant/qfile.h) */
};

/* Parse a config (file or text) and declare the parameters (a throw-away
 * graph of batch 1 is built to do so); weights are zero until init/load. */
rt_status rt_model_from_file(rt_model **m, const char *path);
rt_status rt_model_from_json(rt_model **m, const char *json, size_t len, const char *label);
/* Initialise every parameter as PyTorch does by default, from a seed. */
void rt_model_init(rt_model *m, uint64_t seed);
/* Build (not plan) a graph of batch size `batch`, for callers that add
 * nodes (losses) before planning. NULL on error (rt_errmsg). */
rt_graph *rt_model_build(rt_model *m, int64_t batch);
/* Build and plan a graph of batch size `batch`. NULL on error (rt_errmsg). */
rt_graph *rt_model_graph(rt_model *m, int64_t batch, enum rt_plan plan);
/* Model files: one safetensors file, weights under their names, buffers too,
 * the config JSON in __metadata__["config"], "format_version": "1".
 * Auxiliary views (params.h: "aux.*", distillation projections) are left
 * out of model files; rt_model_save_ex (checkpoints) keeps them. */
rt_status rt_model_save(const rt_model *m, const char *path);
rt_status rt_model_load(rt_model **m, const char *path);
/* The same file with extra tensors and metadata entries (checkpoints). */
rt_status rt_model_save_ex(const rt_model *m, const char *path, const rt_st_entry *extra, int n_extra,
                           const rt_st_meta *meta, int n_meta);
/* Fill m's views from an open file (names, dtypes and shapes checked; every
 * view required). Tensors named skip_prefix... or "aux..." that are not
 * views of m are ignored; any other tensor that is not a view of m is an error. */
rt_status rt_model_load_weights(rt_model *m, const rt_safetensors *st, const char *path, const char *skip_prefix);
/* Load a config file or a model file (by content: safetensors or JSON). */
rt_status rt_model_open(rt_model **m, const char *path, uint64_t seed_if_config);
void rt_model_free(rt_model *m);
/* Largest parameter + buffer count a config may declare (default 2^31 values,
 * 8 GiB at FP32); larger configs are rejected before any allocation. */
void rt_model_set_max_params(size_t n);

const struct rt_arch *rt_arch_find(const char *name);
/* NULL-terminated list of architecture names. */
const char *const *rt_arch_names(void);

#endif
