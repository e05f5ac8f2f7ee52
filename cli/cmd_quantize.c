/*
 * cmd_quantize.c - `retort quantize MODEL --bits 8|4 [--scheme S] [--keep P]...
 * -o OUT [--eval SPEC] [--batch N] [--json]`: write MODEL quantized
 * (src/quant/qfile.c), print its size against FP32 and, with --eval, the
 * metric change and how closely it follows the FP32 model on the same data.
 * Argument parsing and output only.
 * Exit codes: 0 done, 1 a file could not be read, written or does not fit, 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "quant/qeval.h"
#include "quant/qfile.h"
#include "train/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEEP 32

static const char usage[] =
    "usage: retort quantize MODEL --bits 8|4 [--scheme per-channel|block32] [--keep PATTERN]...\n"
    "                       -o OUT.safetensors [--eval SPEC] [--batch N] [--json] [--json-out FILE]\n\n"
    "Write MODEL (a model file; or a config, then freshly initialised from seed 0)\n"
    "with its matrix weights quantized:\n"
    "  --bits 8   int8, symmetric per output channel (one F32 scale a row); scheme per-channel\n"
    "  --bits 4   q4 blocks of 32 weights with one F16 scale (4.5 bits a weight); scheme\n"
    "             block32; weights whose rows are not a multiple of 32 fall back to int8\n"
    "Biases, norms, embeddings, batch-norm statistics and the final layer stay FP32.\n"
    "  --keep P   also keep the weights whose names match the glob P in FP32\n"
    "             (e.g. 'blocks.0.*'; repeatable, up to 32)\n"
    "  --eval D   evaluate both models on dataset D (fmnist:test, npy:X,Y, ...): metric\n"
    "             change, output MSE, KL divergence of the class distributions and the\n"
    "             share of samples with the same top-1 class\n"
    "  --batch N  evaluation batch size (default 256)\n"
    "  --json     machine-readable output\n"
    "  --json-out FILE  also write that JSON to FILE (atomically; `retort report` reads it)\n"
    "The file loads wherever a model file does (eval, summary, bench); the integer\n"
    "kernels follow RETORT_QKERNEL=vnni|avx2|c when set.\n";

struct q_args {
    const char *model, *out, *eval, *scheme, *json_out;
    const char *keep[MAX_KEEP];
    int n_keep;
    long bits, batch;
    bool json;
};

static int parse(int argc, char **argv, struct q_args *a)
{
    *a = (struct q_args){.batch = 256};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (o[0] != '-' || !o[1]) {
            if (a->model) return cli_fail(2, "quantize: more than one model ('%s' and '%s')", a->model, o);
            a->model = o;
            continue;
        }
        if (!val) return cli_fail(2, "quantize: %s needs a value (see retort quantize --help)", o);
        i++;
        if (!strcmp(o, "--bits")) {
            if (!cli_parse_int(o, val, 4, 8, &a->bits)) return 2;
        } else if (!strcmp(o, "--batch")) {
            if (!cli_parse_int(o, val, 1, 1 << 20, &a->batch)) return 2;
        } else if (!strcmp(o, "--keep")) {
            if (a->n_keep == MAX_KEEP) return cli_fail(2, "quantize: more than %d --keep patterns", MAX_KEEP);
            a->keep[a->n_keep++] = val;
        } else if (!strcmp(o, "--scheme")) a->scheme = val;
        else if (!strcmp(o, "-o") || !strcmp(o, "--output")) a->out = val;
        else if (!strcmp(o, "--eval")) a->eval = val;
        else if (!strcmp(o, "--json-out")) a->json_out = val;
        else return cli_fail(2, "quantize: unknown option '%s' (see retort quantize --help)", o);
    }
    if (!a->model) return cli_fail(2, "quantize: no model (usage: retort quantize MODEL --bits 8|4 -o OUT)");
    if (!a->bits) return cli_fail(2, "quantize: %s: --bits 8 or --bits 4 is required", a->model);
    if (!a->out) return cli_fail(2, "quantize: %s: no output file (-o OUT.safetensors)", a->model);
    return 0;
}

struct q_eval {
    char metric[RT_EVAL_NAME_MAX];
    double fp32, quant;
    rt_qcompare cmp;
};

/* Metric of both models (the quantized one read back from its file) and their agreement on ds. */
static int evaluate(const struct q_args *a, rt_model *m, const rt_dataset *ds, struct q_eval *e)
{
    rt_model *q = NULL;
    int rc = 0;
    rt_eval_report r0 = {0}, r1 = {0};
    if (rt_model_load(&q, a->out) != RT_OK || rt_eval_model(m, ds, a->batch, &r0) != RT_OK ||
        rt_eval_model(q, ds, a->batch, &r1) != RT_OK || rt_quant_compare(m, q, ds, a->batch, &e->cmp) != RT_OK)
        rc = cli_fail(1, "%s", rt_errmsg());
    if (rc == 0) {
        snprintf(e->metric, sizeof e->metric, "%s", r0.primary);
        e->fp32 = rt_eval_report_get(&r0, r0.primary);
        e->quant = rt_eval_report_get(&r1, r0.primary);
    }
    rt_eval_report_free(&r0);
    rt_eval_report_free(&r1);
    rt_model_free(q);
    return rc;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* The JSON to stdout (--json) and/or to --json-out. */
static int print_json(const struct q_args *a, const rt_model *m, const rt_qfile_stats *st, const struct q_eval *e,
                      enum rt_qpath path)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "quantize");
    cJSON_AddStringToObject(o, "model", a->model);
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddStringToObject(o, "output", a->out);
    cJSON_AddNumberToObject(o, "bits", (double)a->bits);
    cJSON_AddStringToObject(o, "scheme", a->bits == 8 ? "per-channel" : "block32");
    cJSON_AddNumberToObject(o, "bytes", (double)st->bytes);
    cJSON_AddNumberToObject(o, "fp32_bytes", (double)st->fp32_bytes);
    cJSON_AddNumberToObject(o, "ratio", (double)st->bytes / (double)st->fp32_bytes);
    cJSON_AddNumberToObject(o, "compression", (double)st->fp32_bytes / (double)st->bytes);
    cJSON_AddNumberToObject(o, "bits_per_weight", st->bits_per_weight);
    cJSON_AddNumberToObject(o, "bits_per_value", 8.0 * (double)st->bytes / (double)st->values);
    cJSON_AddNumberToObject(o, "tensors_int8", st->n_int8);
    cJSON_AddNumberToObject(o, "tensors_q4", st->n_q4);
    cJSON_AddNumberToObject(o, "tensors_fp32", st->n_f32);
    cJSON_AddStringToObject(o, "kernel", rt_qpath_name(path));
    if (e) {
        cJSON *ev = cJSON_AddObjectToObject(o, "eval");
        cJSON_AddStringToObject(ev, "data", a->eval);
        cJSON_AddStringToObject(ev, "metric", e->metric);
        cJSON_AddItemToObject(ev, "fp32", num_or_null(e->fp32));
        cJSON_AddItemToObject(ev, "quantized", num_or_null(e->quant));
        cJSON_AddItemToObject(ev, "change", num_or_null(e->quant - e->fp32));
        cJSON_AddNumberToObject(ev, "samples", (double)e->cmp.n);
        cJSON_AddItemToObject(ev, "output_mse", num_or_null(e->cmp.mse));
        cJSON_AddItemToObject(ev, "kl", num_or_null(e->cmp.kl));
        cJSON_AddItemToObject(ev, "top1_agreement", num_or_null(e->cmp.top1_agree));
    }
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt) return cli_fail(1, "out of memory");
    int rc = a->json_out ? cli_write_text(a->json_out, txt) : 0;
    if (rc == 0 && a->json) puts(txt);
    free(txt);
    return rc;
}

static void print_table(const struct q_args *a, const rt_model *m, const rt_qfile_stats *st, const struct q_eval *e,
                        enum rt_qpath path)
{
    printf("model        %s (%s)\n", a->model, m->name[0] ? m->name : m->arch->name);
    printf("output       %s\n", a->out);
    printf("format       %s: %d tensors int8, %d q4, %d kept FP32\n",
           a->bits == 8 ? "int8 per-channel" : "q4 block32", st->n_int8, st->n_q4, st->n_f32);
    printf("size         %zu bytes (FP32 %zu): %.4fx, %.2fx smaller\n", st->bytes, st->fp32_bytes,
           (double)st->bytes / (double)st->fp32_bytes, (double)st->fp32_bytes / (double)st->bytes);
    printf("bits/weight  %.3f over the %lld quantized weights (scales included); %.3f over all %lld values\n",
           st->bits_per_weight, (long long)st->weights, 8.0 * (double)st->bytes / (double)st->values,
           (long long)st->values);
    printf("kernel       %s (integer inference of linear layers; RETORT_QKERNEL=vnni|avx2|c forces one)\n",
           rt_qpath_name(path));
    if (!e) return;
    bool pct = !strcmp(e->metric, "accuracy");
    printf("eval         %s, %lld samples\n", a->eval, (long long)e->cmp.n);
    if (pct)
        printf("%-12s %.2f%% -> %.2f%% (%+.2f points)\n", e->metric, 100 * e->fp32, 100 * e->quant,
               100 * (e->quant - e->fp32));
    else
        printf("%-12s %.6g -> %.6g (%+.3g)\n", e->metric, e->fp32, e->quant, e->quant - e->fp32);
    printf("output MSE   %.4g (quantized vs FP32 outputs)\n", e->cmp.mse);
    if (isfinite(e->cmp.kl)) {
        printf("KL           %.4g nats (FP32 || quantized class distributions, mean per sample)\n", e->cmp.kl);
        printf("top-1 agree  %.2f%% of samples\n", 100 * e->cmp.top1_agree);
    }
}

int cmd_quantize(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    struct q_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    enum rt_qscheme scheme = a.bits == 4 ? RT_QSCHEME_BLOCK32 : RT_QSCHEME_PER_CHANNEL;
    enum rt_qpath path;
    if ((a.scheme && rt_qscheme_parse(a.scheme, &scheme) != RT_OK) || rt_qscheme_check((int)a.bits, scheme) != RT_OK ||
        rt_qpath_get(&path) != RT_OK)
        return cli_fail(2, "quantize: %s", rt_errmsg());
    rt_model *m;
    if (rt_model_open(&m, a.model, 0) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    if (m->qw) {
        rt_model_free(m);
        return cli_fail(1, "%s: already quantized (quantize the FP32 model instead)", a.model);
    }
    rt_dataset ds = {0}; /* opened first: a bad dataset leaves no file behind */
    rt_qfile_stats st;
    if (a.eval && (rt_dataset_open(&ds, a.eval) != RT_OK || rt_eval_check_input(m, &ds) != RT_OK))
        rc = cli_fail(1, "%s", rt_errmsg());
    else if (rt_quantize_model(m, (int)a.bits, scheme, a.keep, a.n_keep, a.out, &st) != RT_OK)
        rc = cli_fail(1, "%s: %s", a.model, rt_errmsg());
    struct q_eval e;
    if (rc == 0 && a.eval) rc = evaluate(&a, m, &ds, &e);
    if (rc == 0 && (a.json || a.json_out)) rc = print_json(&a, m, &st, a.eval ? &e : NULL, path);
    if (rc == 0 && !a.json) print_table(&a, m, &st, a.eval ? &e : NULL, path);
    rt_dataset_free(&ds);
    rt_model_free(m);
    return rc;
}
