/*
 * qfile.h - quantized model files: write a model at 8 or 4 bits by the
 * storage rule of plan.h, and read one back (dequantised into the FP32
 * parameter store, the integer weights kept for integer inference).
 *
 *     rt_qfile_stats st;
 *     const char *keep[] = {"blocks.0.*"};
 *     if (rt_quantize_model(m, 4, RT_QSCHEME_BLOCK32, keep, 1, "m-q4.safetensors", &st) != RT_OK) ... rt_errmsg();
 *     printf("%zu bytes\n", st.bytes);            // = the file's data area = summary's count
 *     rt_model *q;  rt_model_load(&q, "m-q4.safetensors");   // any model loader accepts it
 *     const rt_qmat *w = rt_model_qmat(q, "blocks.0.attn.qkv.weight");   // NULL if kept in F32
 *
 * File layout (docs/quantization.md): a retort model file (config JSON and
 * "format_version": "1" in __metadata__) plus "quantized": "1", "bits":
 * "8"|"4", "scheme": "per-channel"|"block32". A weight W of shape (R, ...)
 * with C = numel / R values a row is stored
 *   int8 per row:  "W"       I8  of W's own shape, q in [-127, 127]
 *                  "W.scale" F32 (R)              value = scale[r] * q
 *   q4 block32:    "W"       U8  (R, C / 2)       16 bytes a block of 32, element j
 *                                                 low nibble of byte j, j + 16 high
 *                  "W.scale" F16 (R, C / 32)      value = scale[r][b] * (nibble - 8)
 * and every other tensor as F32 under its own name. Reading checks each of
 * these (dtypes, shapes, a scale per quantized tensor and none for others,
 * finite scales, no -128) and fails with one message naming the file and
 * the tensor.
 */
#ifndef RT_QFILE_H
#define RT_QFILE_H

#include "models/model.h"
#include "quant/plan.h"
#include "quant/qgemm.h"

enum rt_qscheme { RT_QSCHEME_PER_CHANNEL = 0, RT_QSCHEME_BLOCK32 };

/* The float copy of an integer-stored view: present, given back to the
 * system (rt_qweights_release_floats), or kept because a float op reads it. */
enum { RT_QF_PRESENT = 0, RT_QF_RELEASED = 1, RT_QF_PINNED = 2 };

/* The integer weights of a model read from a quantized file: by view index. */
typedef struct rt_qweights {
    int n_views;
    rt_qmat **mat; /* (n_views), NULL for views stored in F32 */
    unsigned char *floats; /* (n_views) RT_QF_*: where the float copy of an integer-stored view stands */
    int bits;
    enum rt_qscheme scheme;
} rt_qweights;

typedef struct rt_qfile_stats {
    size_t bytes;       /* data area of the file: payloads and scales (plan.h's count) */
    size_t fp32_bytes;  /* the same model in FP32 */
    int64_t weights;    /* values stored quantized */
    int64_t values;     /* all parameter and buffer values */
    int n_int8, n_q4, n_f32; /* tensors (views) by format */
    double bits_per_weight; /* of the quantized tensors, scales included */
} rt_qfile_stats;

const char *rt_qscheme_name(enum rt_qscheme s);
/* "per-channel" / "block32" -> *s; else an error. */
rt_status rt_qscheme_parse(const char *name, enum rt_qscheme *s);
/* Check that bits (8 or 4) and scheme go together: 8 bits per-channel, 4 bits block32. */
rt_status rt_qscheme_check(int bits, enum rt_qscheme scheme);

/* Write m quantized (atomically) to out_path; stats may be NULL. */
rt_status rt_quantize_model(rt_model *m, int bits, enum rt_qscheme scheme, const char *const *keep, int n_keep,
                            const char *out_path, rt_qfile_stats *stats);
/* Fill m's parameters from an open quantized file (called by rt_model_load
 * when the metadata says "quantized") and attach the integer weights to m. */
rt_status rt_qfile_load_weights(rt_model *m, const rt_safetensors *st, const char *path);
/* The integer weights of view `name`, or NULL (not quantized, or m not from a quantized file). */
const rt_qmat *rt_model_qmat(const rt_model *m, const char *name);
void rt_qweights_free(rt_qweights *q);
/* Integer inference: turn g's linear nodes whose weight is a quantized view
 * into qlinear nodes and give attention nodes integer projections
 * (core/ops.h, k_quant.c), on the kernel path rt_qpath_get() picks. Before
 * planning, inference graphs only (rt_model_graph does it for RT_PLAN_INFER). */
rt_status rt_qweights_apply(const rt_qweights *q, rt_graph *g);
/* Memory of an inference: a quantized file loads with float copies of its
 * integer-stored weights (for training graphs, re-saving, re-quantizing,
 * and float ops such as convolutions). rt_model_graph's inference plans
 * give back to the system the pages of every such copy that graph g (after
 * rt_qweights_apply) reads only through integer ops; one a float op reads is
 * pinned and stays (rt_qweights_release_floats). Everything that needs the
 * floats again (rt_model_build, rt_model_save, rt_quantize_model) brings
 * them back first (rt_qweights_restore_floats: dequantized from the integer
 * matrices, the values the loader wrote). No-ops on models without qw. */
void rt_qweights_release_floats(const rt_model *m, const rt_graph *g);
void rt_qweights_restore_floats(const rt_model *m);
/* Bytes of m's parameters and buffers in memory now: integer matrices, plus
 * the float copies that are present, plus every float-stored view. */
size_t rt_qweights_memory_bytes(const rt_model *m);

#endif
