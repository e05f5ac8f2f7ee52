/*
 * cmd_sweep.c - `retort sweep MODEL... --data SPEC [--bits 32,8,4] [-o DIR]
 * [--batch N] [--json | --markdown]`: every model at every precision,
 * quantized, evaluated and set against FP32 in one table (src/quant/sweep.c).
 * Argument parsing and output only; with -o DIR the table is also written
 * (atomically) as DIR/sweep.json and DIR/sweep.md.
 * Exit codes: 0 done, 1 a file could not be read, written or does not fit, 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "io/fileio.h"
#include "quant/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 64

static const char usage[] =
    "usage: retort sweep MODEL... --data SPEC [--bits 32,8,4] [-o DIR] [--batch N] [--json | --markdown]\n\n"
    "Quantize each trained model file at each precision, evaluate it on SPEC with its\n"
    "task's metric and print one table: parameters, bits, size in bytes (as `retort\n"
    "summary` counts it), compression vs the first model at FP32, the metric and its\n"
    "change vs the same model at FP32.\n"
    "  MODEL      trained model files (FP32 safetensors; configs and quantized files are\n"
    "             refused), all judged by the same metric; up to 64\n"
    "  --data D   dataset (fmnist:test, npy:X,Y, ...) that fits every model\n"
    "  --bits L   comma-separated precisions among 32, 8 (int8 per-channel) and 4 (q4\n"
    "             block32), in row order (default 32,8,4)\n"
    "  -o DIR     keep the quantized files as DIR/<i>-<stem>-int<bits>.safetensors (DIR\n"
    "             created if missing) and write the table as DIR/sweep.json and\n"
    "             DIR/sweep.md; without it the files live in a temporary directory\n"
    "  --batch N  evaluation batch size (default 256)\n"
    "  --json     machine-readable output\n"
    "  --markdown the table as Markdown\n";

struct s_args {
    const char *models[MAX_MODELS];
    int n_models;
    const char *data, *out;
    int bits[RT_SWEEP_MAX_BITS];
    int n_bits;
    long batch;
    bool json, markdown;
};

/* "32,8,4" -> bits: each of 32, 8, 4, at most once (a usage error otherwise). */
static int parse_bits(const char *s, struct s_args *a)
{
    a->n_bits = 0;
    for (const char *p = s;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || (v != 32 && v != 8 && v != 4))
            return cli_fail(2, "sweep: --bits: expected precisions among 32, 8, 4 such as 32,8,4, got '%s'", s);
        for (int j = 0; j < a->n_bits; j++)
            if (a->bits[j] == v) return cli_fail(2, "sweep: --bits: %ld given twice in '%s'", v, s);
        a->bits[a->n_bits++] = (int)v;
        if (!*end) return 0;
        p = end + 1;
    }
}

static int parse(int argc, char **argv, struct s_args *a)
{
    *a = (struct s_args){.bits = {32, 8, 4}, .n_bits = 3, .batch = 256};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) {
            a->json = true;
            continue;
        }
        if (!strcmp(o, "--markdown")) {
            a->markdown = true;
            continue;
        }
        if (o[0] != '-' || !o[1]) {
            if (a->n_models == MAX_MODELS) return cli_fail(2, "sweep: more than %d models", MAX_MODELS);
            a->models[a->n_models++] = o;
            continue;
        }
        if (!val) return cli_fail(2, "sweep: %s needs a value (see retort sweep --help)", o);
        i++;
        int rc = 0;
        if (!strcmp(o, "--bits")) rc = parse_bits(val, a);
        else if (!strcmp(o, "--batch")) rc = cli_parse_int(o, val, 1, 1 << 20, &a->batch) ? 0 : 2;
        else if (!strcmp(o, "--data")) a->data = val;
        else if (!strcmp(o, "-o") || !strcmp(o, "--output")) a->out = val;
        else rc = cli_fail(2, "sweep: unknown option '%s' (see retort sweep --help)", o);
        if (rc) return rc;
    }
    if (!a->n_models) return cli_fail(2, "sweep: no model (usage: retort sweep MODEL... --data SPEC)");
    if (!a->data) return cli_fail(2, "sweep: no data (--data SPEC: the set to evaluate every model on)");
    if (a->json && a->markdown) return cli_fail(2, "sweep: --json and --markdown: choose one");
    return 0;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* The --json object as text (malloc'ed), or NULL when out of memory. */
static char *json_text(const struct s_args *a, const rt_sweep *sw)
{
    cJSON *o = cJSON_CreateObject(), *bits = cJSON_AddArrayToObject(o, "bits"), *rows;
    cJSON_AddStringToObject(o, "data", a->data);
    cJSON_AddNumberToObject(o, "samples", (double)sw->samples);
    cJSON_AddStringToObject(o, "metric", sw->metric);
    cJSON_AddBoolToObject(o, "higher_is_better", sw->higher_is_better);
    for (int b = 0; b < a->n_bits; b++) cJSON_AddItemToArray(bits, cJSON_CreateNumber(a->bits[b]));
    cJSON_AddStringToObject(o, "reference", a->models[0]);
    if (a->out) cJSON_AddStringToObject(o, "output", a->out);
    rows = cJSON_AddArrayToObject(o, "rows");
    for (int i = 0; i < sw->n_rows; i++) {
        const rt_sweep_row *r = &sw->rows[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "model", a->models[r->model]);
        cJSON_AddStringToObject(x, "name", r->name);
        cJSON_AddNumberToObject(x, "params", (double)r->params);
        cJSON_AddNumberToObject(x, "bits", r->bits);
        cJSON_AddStringToObject(x, "scheme", r->bits == 32 ? "fp32" : r->bits == 8 ? "per-channel" : "block32");
        cJSON_AddNumberToObject(x, "bytes", (double)r->bytes);
        cJSON_AddNumberToObject(x, "compression", r->compression);
        cJSON_AddItemToObject(x, "metric", num_or_null(r->metric));
        cJSON_AddItemToObject(x, "change", num_or_null(r->change));
        if (r->file[0]) cJSON_AddStringToObject(x, "file", r->file);
        cJSON_AddItemToArray(rows, x);
    }
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    return txt;
}

static int print_json(FILE *f, const struct s_args *a, const rt_sweep *sw)
{
    char *txt = json_text(a, sw);
    if (!txt) return cli_fail(1, "out of memory");
    fprintf(f, "%s\n", txt);
    free(txt);
    return 0;
}

/* The last `w` characters of a path, "..." in front when cut. */
static const char *tail(char *buf, size_t cap, const char *path, size_t w)
{
    size_t len = strlen(path);
    if (len <= w) return path;
    snprintf(buf, cap, "...%s", path + len - (w - 3));
    return buf;
}

static const char *bits_name(char *buf, size_t cap, int bits)
{
    snprintf(buf, cap, bits == 32 ? "fp32" : "int%d", bits);
    return buf;
}

static int print_table(FILE *f, const struct s_args *a, const rt_sweep *sw)
{
    bool pct = !strcmp(sw->metric, "accuracy");
    fprintf(f, "data %s, %lld samples; metric %s (%s is better); compression vs %s at FP32\n", a->data,
            (long long)sw->samples, sw->metric, sw->higher_is_better ? "higher" : "lower", a->models[0]);
    fprintf(f, "%-20s %-28s %10s %5s %12s %11s %12s %12s\n", "model", "file", "params", "bits", "bytes", "compression",
            sw->metric, pct ? "change (pts)" : "change");
    for (int i = 0; i < sw->n_rows; i++) {
        const rt_sweep_row *r = &sw->rows[i];
        char bits[8], n[32], fl[32];
        fprintf(f, "%-20s %-28s %10lld %5s %12zu %10.2fx", tail(n, sizeof n, r->name, 20),
                tail(fl, sizeof fl, a->models[r->model], 28), (long long)r->params, bits_name(bits, sizeof bits, r->bits),
                r->bytes, r->compression);
        if (pct) fprintf(f, " %11.2f%% %+12.2f\n", 100 * r->metric, 100 * r->change);
        else fprintf(f, " %12.6g %+12.4g\n", r->metric, r->change);
    }
    if (a->out) fprintf(f, "quantized files in %s\n", a->out);
    return 0;
}

/* s with Markdown's table separator '|' escaped. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

/* The same table as Markdown: full file names, the first column the model's name. */
static int print_markdown(FILE *f, const struct s_args *a, const rt_sweep *sw)
{
    bool pct = !strcmp(sw->metric, "accuracy");
    fputs("Data `", f);
    md_cell(f, a->data);
    fprintf(f, "`, %lld samples; metric %s (%s is better); compression vs `", (long long)sw->samples, sw->metric,
            sw->higher_is_better ? "higher" : "lower");
    md_cell(f, a->models[0]);
    fprintf(f, "` at FP32.\n\n| model | file | params | bits | bytes | compression | %s | %s |\n", sw->metric,
            pct ? "change (points)" : "change");
    fputs("|---|---|---:|---|---:|---:|---:|---:|\n", f);
    for (int i = 0; i < sw->n_rows; i++) {
        const rt_sweep_row *r = &sw->rows[i];
        char bits[8];
        fputs("| ", f);
        md_cell(f, r->name);
        fputs(" | ", f);
        md_cell(f, a->models[r->model]);
        fprintf(f, " | %lld | %s | %zu | %.2fx", (long long)r->params, bits_name(bits, sizeof bits, r->bits), r->bytes,
                r->compression);
        if (pct) fprintf(f, " | %.2f%% | %+.2f |\n", 100 * r->metric, 100 * r->change);
        else fprintf(f, " | %.6g | %+.4g |\n", r->metric, r->change);
    }
    return 0;
}

typedef int (*sweep_printer)(FILE *f, const struct s_args *a, const rt_sweep *sw);

/* DIR/name written atomically by `print`. */
static int write_out(const struct s_args *a, const rt_sweep *sw, const char *name, sweep_printer print)
{
    char path[RT_SWEEP_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", a->out, name);
    rt_atomic af;
    if (rt_atomic_open(&af, path) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    int rc = print(af.f, a, sw);
    if (rc) {
        rt_atomic_abort(&af);
        return rc;
    }
    return rt_atomic_commit(&af) == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}

int cmd_sweep(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    struct s_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    rt_dataset ds = {0};
    rt_sweep sw = {0};
    if (rt_dataset_open(&ds, a.data) != RT_OK ||
        rt_sweep_run(&sw, a.models, a.n_models, &ds, a.bits, a.n_bits, a.out, a.batch) != RT_OK)
        rc = cli_fail(1, "%s", rt_errmsg());
    if (rc == 0 && a.out) rc = write_out(&a, &sw, "sweep.json", print_json);
    if (rc == 0 && a.out) rc = write_out(&a, &sw, "sweep.md", print_markdown);
    if (rc == 0) rc = (a.json ? print_json : a.markdown ? print_markdown : print_table)(stdout, &a, &sw);
    rt_sweep_free(&sw);
    rt_dataset_free(&ds);
    return rc;
}
