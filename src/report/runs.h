/*
 * runs.h - an index of what retort wrote under one or more run directories:
 * the files, recognised by their content; the runs (directories with a
 * log.jsonl, recipe.json or distill.json); the model files with their exact
 * accounting; and every measured metric of each model with the file it
 * came from. `retort report` and `retort verify` read measurements only
 * through this index, so both see the same numbers.
 *
 *     rt_rep_index ix;
 *     const char *dirs[] = {"runs"};
 *     if (rt_rep_index_build(&ix, dirs, 1) != RT_OK) ... rt_errmsg();
 *     int s = rt_rep_find_model(&ix, "runs/fmnist-distill/model.safetensors");
 *     printf("%lld params\n", (long long)ix.models[s].params);
 *     rt_rep_index_free(&ix);
 *
 * Scanning: each directory recursively (entries in byte order; names
 * starting with '.' and symbolic links to directories are not entered; at
 * most RT_REP_MAX_DEPTH levels), reading *.json, log.jsonl and
 * *.safetensors. A file reached twice (nested arguments) is read once.
 *
 * JSON files by content (docs/report.md): a "type" of "eval", "distill",
 * "quantize", "bench" or "report", else known keys: eval ("task",
 * "primary", "metrics"), distill ("metric", "teacher" and "student"
 * objects), quantize ("bits", "bytes", "fp32_bytes", "output"), bench
 * ("models" array and "rss_method"), sweep ("rows" array and "reference"),
 * recipe ("model" string and "data" object). Anything else is listed as
 * skipped with the reason.
 *
 * Errors (the build fails, nothing is kept): a directory that cannot be
 * read; a file named like a retort output (distill.json, eval.json,
 * recipe.json, bench.json, sweep.json, quantize*.json) that is not JSON; a
 * malformed log.jsonl (runlog.h; a cut-short last line is only noted); a
 * recognised file missing a field it needs; a safetensors file that does
 * not parse, or that holds a model config and does not load. Skipped with
 * a reason: other JSON, checkpoints, safetensors files without a model
 * config (data, teacher caches).
 */
#ifndef RT_REPORT_RUNS_H
#define RT_REPORT_RUNS_H

#include "report/runlog.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define RT_REP_MAX_DEPTH 8
#define RT_REP_MAX_FILES 20000
#define RT_REP_MAX_JSON (64u << 20)

enum rt_rep_kind {
    RT_REP_SKIPPED = 0, RT_REP_RECIPE, RT_REP_LOG, RT_REP_EVAL, RT_REP_DISTILL, RT_REP_QUANTIZE, RT_REP_BENCH,
    RT_REP_SWEEP, RT_REP_MODEL, RT_REP_KIND_COUNT
};

enum rt_rep_role { RT_ROLE_OTHER = 0, RT_ROLE_TEACHER, RT_ROLE_STUDENT, RT_ROLE_SCRATCH, RT_ROLE_QUANTIZED };

typedef struct rt_rep_file {
    char *path;                 /* as found: "<dir>/<relative path>" */
    char *real;                 /* canonical path */
    enum rt_rep_kind kind;
    char *note;                 /* skipped: why; else NULL */
    cJSON *json;                /* the parsed JSON files (not logs) */
    int run;                    /* the run whose directory holds it, or -1 */
} rt_rep_file;

/* One measured value of a model's task metric. */
typedef struct rt_measure {
    char metric[24];            /* "accuracy", "ccc", "recon_mse", "eer", ... */
    char *data;                 /* the data set spec; NULL when no file says */
    double value;               /* as the file holds it */
    int file;                   /* the file it is copied from (index into files) */
    const char *how;            /* "eval.json", "quantize --eval", ... (static text) */
    int prio;                   /* 0 eval, 1 quantize --eval, 2 distill.json, 3 log.jsonl */
} rt_measure;

typedef struct rt_rep_model {
    char *path, *real;          /* as found (or as referenced), canonical; real NULL when not on disk */
    char *also, *also_real;     /* an identical file in the same directory (best = model), or NULL */
    int file;                   /* its file entry, -1 for a teacher outside the directories */
    bool on_disk;               /* false: a teacher known only from distill.json (params, metric) */
    char name[128], arch[32];
    bool higher_better;         /* of its task's primary metric */
    int64_t params, buffers;    /* exact (retort summary's total) */
    int64_t data_bytes;         /* tensor bytes stored in the file (payloads and scales); -1 unknown */
    int64_t file_bytes;         /* the file's size; -1 unknown */
    int64_t bytes[4];           /* parameters + buffers at FP32, FP16, INT8, INT4 (plan.h); -1 unknown */
    int bits;                   /* 32, or 8 / 4 for a quantized file */
    enum rt_rep_role role;
    int run;                    /* the run whose directory holds it, -1 */
    int teacher;                /* the model it is compared with (its distillation teacher), -1 */
    int source;                 /* quantized: the FP32 model it was made from, -1 */
    rt_measure *m;
    int n_m;
} rt_rep_model;

typedef struct rt_rep_run {
    char *dir, *name;           /* name: the recipe's "name", else the directory's */
    int log, recipe, distill;   /* file indices, -1 when absent */
    rt_runlog log_data;         /* valid when log >= 0 */
    int parent;                 /* a baseline/ run: the distillation run it belongs to; else -1 */
    int student, teacher;       /* distillation runs: model indices (-1 unknown); baseline: its student */
} rt_rep_run;

typedef struct rt_rep_index {
    char **dirs;                /* as given, without trailing slashes */
    int n_dirs;
    char *base;                 /* the one directory, or the deepest common parent of several ("" if none):
                                   reports show paths relative to it; verify resolves paths under it */
    rt_rep_file *files;
    int n_files;
    rt_rep_run *runs;
    int n_runs;
    rt_rep_model *models;
    int n_models;
} rt_rep_index;

rt_status rt_rep_index_build(rt_rep_index *ix, const char *const *dirs, int n_dirs);
void rt_rep_index_free(rt_rep_index *ix);

/* What a parsed JSON document is, by "type" or its keys (see above); RT_REP_SKIPPED with *why set when none. */
enum rt_rep_kind rt_rep_classify(const cJSON *j, const char **why);
const char *rt_rep_kind_name(enum rt_rep_kind k);
const char *rt_rep_role_name(enum rt_rep_role r);

/* The model whose file is path (any spelling of it, or the identical file merged into it), or -1. */
int rt_rep_find_model(const rt_rep_index *ix, const char *path);
/* A file named inside dir (a recipe's teacher, a quantize or bench JSON's files): as written (relative to
 * the working directory), else by its name in dir, else by its last two components under dir's parent
 * (a runs directory moved as a whole). Its canonical path (malloc'ed), or NULL. */
char *rt_rep_resolve(const char *ref, const char *dir);
/* The run whose directory is dir, or -1. */
int rt_rep_find_run(const rt_rep_index *ix, const char *dir);
/* A model's measurement of highest priority (lowest prio; first found on ties), optionally of one metric
 * and data set (NULL: any), or NULL. */
const rt_measure *rt_rep_measure(const rt_rep_model *m, const char *metric, const char *data);

#endif
