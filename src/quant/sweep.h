/*
 * sweep.h - a grid of trained models x precisions, each quantized, evaluated
 * on one dataset and set against FP32 (`retort sweep`): the compound table
 * of size, compression and metric (e.g. VAE latent 64/32/16/8/4 x
 * FP32/INT8/INT4).
 *
 *     const char *models[] = {"vae-l64.safetensors", "vae-l8.safetensors"};
 *     const int bits[] = {32, 8, 4};
 *     rt_dataset ds;  rt_dataset_open(&ds, "npy:x.npy,y.npy");
 *     rt_sweep sw;
 *     if (rt_sweep_run(&sw, models, 2, &ds, bits, 3, NULL, 256) != RT_OK) puts(rt_errmsg());
 *     for (int i = 0; i < sw.n_rows; i++)
 *         printf("%s %d bits: %zu bytes, %.2fx, %s %g (%+g)\n", models[sw.rows[i].model], sw.rows[i].bits,
 *                sw.rows[i].bytes, sw.rows[i].compression, sw.metric, sw.rows[i].metric, sw.rows[i].change);
 *     rt_sweep_free(&sw);
 *
 * Contract:
 *   - models are trained model files (safetensors, FP32); a config (JSON) is
 *     refused, since its metric would be that of random weights, and so is
 *     an already quantized file (its FP32 reference is unknown).
 *   - Every model is opened and checked against ds (rt_eval_check_input)
 *     and all must be judged by the same metric (rt_eval_task_metric of
 *     their task) before anything is quantized or written.
 *   - bits: 32, 8 (int8 per-channel) or 4 (q4 block32), each at most once,
 *     in the order the rows should come. Quantization is rt_quantize_model
 *     with the default plan (plan.h; no --keep), so bytes are the file's data
 *     area and `retort summary`'s count; FP32 bytes are plan.h's count at 32.
 *   - Each quantized model is written, read back with rt_model_load (integer
 *     inference where it applies, as `retort eval` runs it) and evaluated
 *     with rt_eval_model. With out_dir NULL the files go to a private
 *     temporary directory removed before returning; with out_dir they are
 *     "<out_dir>/<i>-<stem>-int<bits>.safetensors" (i = 1-based position of
 *     the model, stem = its file name without ".safetensors"), out_dir
 *     created if missing. On any error the files written so far (and a
 *     directory the call created) are removed.
 *   - compression = FP32 bytes of models[0] / the row's bytes; change = the
 *     row's metric - the same model's FP32 metric (0 on FP32 rows), so the
 *     FP32 model is always evaluated even when 32 is not in bits.
 * Rows come model by model, bits in the given order.
 */
#ifndef RT_QUANT_SWEEP_H
#define RT_QUANT_SWEEP_H

#include "data/dataset.h"
#include "train/eval.h"

#define RT_SWEEP_MAX_BITS 3
#define RT_SWEEP_PATH_MAX 1280 /* a directory of < 1024 bytes and a file name of < 256 */

typedef struct rt_sweep_row {
    int model;                 /* index into the models given */
    int bits;                  /* 32, 8 or 4 */
    char name[128];            /* the model's name (or its architecture) */
    int64_t params;            /* parameters (buffers excluded), as `retort summary` counts them */
    size_t bytes;              /* plan.h's count at `bits` = the quantized file's data area */
    double compression;        /* models[0]'s FP32 bytes / bytes */
    double metric;             /* NaN when undefined for the data */
    double change;             /* metric - the same model's FP32 metric */
    char file[RT_SWEEP_PATH_MAX]; /* the file written into out_dir; "" for FP32 rows or without out_dir */
} rt_sweep_row;

typedef struct rt_sweep {
    char metric[RT_EVAL_NAME_MAX]; /* "accuracy", "ccc", "eer" or "recon_mse" */
    bool higher_is_better;
    int64_t samples;
    int n_rows;
    rt_sweep_row *rows;
} rt_sweep;

/* Run the grid (see above) into *out (zeroed first; free with rt_sweep_free,
 * harmless after an error). batch >= 1 is the evaluation batch size. */
rt_status rt_sweep_run(rt_sweep *out, const char *const *models, int n_models, const rt_dataset *ds, const int *bits,
                       int n_bits, const char *out_dir, int64_t batch);
void rt_sweep_free(rt_sweep *s);

#endif
