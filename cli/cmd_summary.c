/*
 * cmd_summary.c - `retort summary CONFIG|MODEL` and `retort compare A B`:
 * exact accounting tables (src/report/summary.c). Argument parsing only.
 * Exit codes: 0 done, 1 a file could not be read or built, 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "report/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct acct_args {
    const char *files[2];
    int n_files;
    long batch, depth;
    bool json;
};

/* Options shared by summary and compare; positional arguments are files. */
static int parse(const char *cmd, int argc, char **argv, int want_files, struct acct_args *a)
{
    *a = (struct acct_args){.batch = 1, .depth = 2};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--json")) a->json = true;
        else if (!strcmp(o, "--batch") || !strcmp(o, "--depth")) {
            long *dst = o[2] == 'b' ? &a->batch : &a->depth;
            if (!cli_parse_int(o, i + 1 < argc ? argv[i + 1] : NULL, 1, 1 << 20, dst)) return 2;
            i++;
        } else if (o[0] == '-' && o[1]) {
            return cli_fail(2, "%s: unknown option '%s' (see retort %s --help)", cmd, o, cmd);
        } else if (a->n_files < want_files) {
            a->files[a->n_files++] = o;
        } else {
            return cli_fail(2, "%s: too many arguments ('%s')", cmd, o);
        }
    }
    if (a->n_files != want_files)
        return cli_fail(2, "%s: expected %d file%s (see retort %s --help)", cmd, want_files, want_files > 1 ? "s" : "",
                        cmd);
    return 0;
}

/* Open a config (initialised from seed 0: accounting does not read weights) or a model file, and account it. */
static int account(const char *file, long batch, rt_summary *s)
{
    rt_model *m;
    if (rt_model_open(&m, file, 0) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_status st = rt_summary_build(s, m, batch);
    rt_model_free(m);
    if (st != RT_OK) return cli_fail(1, "%s: %s", file, rt_errmsg());
    return 0;
}

static int print_json(cJSON *j)
{
    char *txt = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!txt) return cli_fail(1, "out of memory");
    puts(txt);
    free(txt);
    return 0;
}

static const char summary_usage[] =
    "usage: retort summary CONFIG|MODEL [--batch N] [--depth D] [--json]\n\n"
    "Exact accounting of a model config (.json) or model file (.safetensors), read\n"
    "from the graph that runs: each module's output shape, parameters and share,\n"
    "MACs per sample; totals, trainable and frozen parameters; bytes at FP32,\n"
    "FP16, INT8 and INT4 (scales counted); memory at inference and in training\n"
    "(parameters, gradients, Adam moments, and the activation arena the graph\n"
    "really allocates at the batch size).\n\n"
    "  --batch N   batch size for shapes and memory (default 1)\n"
    "  --depth D   module depth to list (default 2; 1: top-level components)\n"
    "  --json      machine-readable output\n";

int cmd_summary(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(summary_usage, stdout);
        return 0;
    }
    struct acct_args a;
    int rc = parse("summary", argc, argv, 1, &a);
    rt_summary s;
    if (rc || (rc = account(a.files[0], a.batch, &s))) return rc;
    if (a.json) rc = print_json(rt_summary_json(&s, (int)a.depth));
    else rt_summary_print(stdout, &s, (int)a.depth);
    rt_summary_free(&s);
    return rc;
}

static const char compare_usage[] =
    "usage: retort compare A B [--batch N] [--json]\n\n"
    "Two models (configs or model files) side by side: parameters, bytes at each\n"
    "precision, MACs, inference and training memory, the ratios A/B (compression\n"
    "by parameters, by bytes, by MACs) and each top-level component's reduction.\n\n"
    "  --batch N   batch size for memory (default 1)\n"
    "  --json      machine-readable output\n";

int cmd_compare(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(compare_usage, stdout);
        return 0;
    }
    struct acct_args a;
    int rc = parse("compare", argc, argv, 2, &a);
    rt_summary s[2];
    if (rc || (rc = account(a.files[0], a.batch, &s[0]))) return rc;
    if ((rc = account(a.files[1], a.batch, &s[1]))) {
        rt_summary_free(&s[0]);
        return rc;
    }
    if (a.json) rc = print_json(rt_compare_json(&s[0], &s[1]));
    else rt_compare_print(stdout, &s[0], &s[1]);
    rt_summary_free(&s[0]);
    rt_summary_free(&s[1]);
    return rc;
}
