/*
 * cmd_eval.c - `retort eval MODEL --data SPEC [--trials FILE] [--batch N] [--json] [-o FILE]`:
 * run a model over a dataset and print the metrics of its task
 * (src/train/eval.c). Argument parsing and output only.
 * Exit codes: 0 done, 1 a file could not be read or does not fit, 2 usage.
 * The -o file is written atomically after a successful evaluation only.
 */
#include "cli.h"

#include "core/error.h"
#include "train/eval.h"
#include "train/trials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: retort eval MODEL --data SPEC [--trials FILE] [--batch N] [--json] [-o FILE.json]\n\n"
    "Run MODEL (a model file, .safetensors; or a config, .json, then freshly\n"
    "initialised from seed 0 - untrained, for smoke tests) in eval mode over every\n"
    "sample of a dataset and compute the metrics of its task:\n"
    "  classification  accuracy, top-5 accuracy (more than 5 classes), mean\n"
    "                  cross-entropy loss, confusion matrix\n"
    "  regression      CCC, Pearson r, MSE, MAE, R2 per output dimension and mean\n"
    "  reconstruction  reconstruction MSE (mean, per-sample min/median/max)\n"
    "  embedding       speaker verification: cosine scores of every pair of\n"
    "                  utterances (target when the labels agree) or of --trials;\n"
    "                  EER, MinDCF (p_target 0.01 and 0.05)\n"
    "Samples are fed as the dataset holds them (no normalisation).\n\n"
    "  --data SPEC   fmnist:test, mnist:test, idx:IMAGES,LABELS, npy:X,Y or\n"
    "                PATH.safetensors (tensors x and y), manifest:PATH.csv?...\n"
    "  --trials FILE embedding models: lines 'LABEL A B', LABEL 1 (same speaker)\n"
    "                or 0, A and B manifest paths as written, or #index\n"
    "  --batch N     batch size (default 256); the result does not depend on it\n"
    "  --json        machine-readable output\n"
    "  -o FILE       also write the JSON to FILE (atomically)\n";

struct eval_args {
    const char *model, *data, *out, *trials;
    long batch;
    bool json;
};

static int parse(int argc, char **argv, struct eval_args *a)
{
    *a = (struct eval_args){.batch = 256};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--json")) {
            a->json = true;
        } else if (!strcmp(o, "--batch")) {
            if (!cli_parse_int(o, i + 1 < argc ? argv[i + 1] : NULL, 1, 1 << 20, &a->batch)) return 2;
            i++;
        } else if (!strcmp(o, "--data") || !strcmp(o, "-o") || !strcmp(o, "--output") || !strcmp(o, "--trials")) {
            if (i + 1 >= argc) return cli_fail(2, "eval: %s needs a value", o);
            *(o[2] == 'd' ? &a->data : o[2] == 't' ? &a->trials : &a->out) = argv[++i];
        } else if (o[0] == '-' && o[1]) {
            return cli_fail(2, "eval: unknown option '%s' (see retort eval --help)", o);
        } else if (!a->model) {
            a->model = o;
        } else {
            return cli_fail(2, "eval: more than one model ('%s' and '%s')", a->model, o);
        }
    }
    if (!a->model) return cli_fail(2, "eval: no model (usage: retort eval MODEL --data SPEC)");
    if (!a->data) return cli_fail(2, "eval: %s: no dataset given (--data SPEC)", a->model);
    return 0;
}

/* True when the file is a config (JSON text), as rt_model_open decides. */
static bool is_config(const char *path)
{
    FILE *f = fopen(path, "rb");
    int ch = EOF;
    if (f) {
        while ((ch = fgetc(f)) == ' ' || ch == '\n' || ch == '\t' || ch == '\r') {}
        fclose(f);
    }
    return ch == '{';
}

/* Report out: JSON to stdout and/or -o, else the table. */
static int emit(const struct eval_args *a, const rt_eval_report *r, bool from_config)
{
    cJSON *j = rt_eval_report_json(r);
    if (j) { /* what it is and which file it measured: retort report attributes the numbers by these */
        cJSON_AddItemToObject(j, "type", cJSON_CreateString("eval"));
        cJSON_AddItemToObject(j, "file", cJSON_CreateString(a->model));
    }
    if (j && from_config) {
        cJSON_AddBoolToObject(j, "untrained", true);
        cJSON_AddStringToObject(j, "init", "config, seed 0");
    }
    char *txt = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!txt) return cli_fail(1, "out of memory");
    int rc = a->out ? cli_write_text(a->out, txt) : 0;
    if (rc == 0) {
        if (a->json) {
            puts(txt);
        } else {
            if (from_config)
                printf("note     %s is a config: weights freshly initialised (seed 0), not trained\n", a->model);
            rt_eval_report_print(stdout, r);
        }
    }
    free(txt);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    struct eval_args a;
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    rt_model *m;
    if (rt_model_open(&m, a.model, 0) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    bool from_config = is_config(a.model);
    rt_dataset ds;
    if (rt_dataset_open(&ds, a.data) != RT_OK) {
        rt_model_free(m);
        return cli_fail(1, "%s", rt_errmsg());
    }
    rt_eval_report r = {0};
    rt_trials tr = {0};
    if (a.trials && m->task != RT_TASK_EMBEDDING)
        rc = cli_fail(2, "eval: %s: --trials is for embedding models (this one is %s)", a.model,
                      rt_eval_task_name(m->task));
    else if (a.trials && rt_trials_read_for(&tr, a.trials, &ds) != RT_OK) rc = cli_fail(1, "%s", rt_errmsg());
    else if (rt_eval_model_trials(m, &ds, a.batch, a.trials ? &tr : NULL, &r) != RT_OK)
        rc = cli_fail(1, "%s", rt_errmsg());
    else rc = emit(&a, &r, from_config);
    rt_trials_free(&tr);
    rt_eval_report_free(&r);
    rt_dataset_free(&ds);
    rt_model_free(m);
    return rc;
}
