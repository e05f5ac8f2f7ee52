/*
 * cmd_train.c - `retort train RECIPE [--set KEY=VALUE]... [--out DIR] [--resume]`:
 * train a model from a recipe into a run directory (src/train/train.c).
 * Exit codes: 0 done, 1 bad input or a failed run (the message names the
 * file and the problem), 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "train/train.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_SETS 64

static const char usage[] =
    "usage: retort train RECIPE [--set KEY=VALUE]... [--out DIR] [--subset F] [--resume] [--quiet]\n\n"
    "Train the recipe's model on its data (see docs/training.md) and write the run\n"
    "directory: recipe.json (resolved), log.jsonl, checkpoint.safetensors (every\n"
    "checkpoint_every steps and each epoch), model.safetensors and best.safetensors.\n\n"
    "  --set KEY=VALUE  override a recipe field, e.g. --set optim.lr=1e-3 --set epochs=5\n"
    "  --out DIR        the run directory (default: the recipe's \"out\", or runs/<name>)\n"
    "  --subset F       train on a stratified fraction F of the training set\n"
    "  --resume         continue DIR's run from its checkpoint, to the same weights as\n"
    "                   a run that was never stopped\n"
    "  --quiet          no progress output\n";

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char *recipe = NULL, *sets[MAX_SETS];
    char out_set[600], subset_set[64];
    int n_sets = 0;
    rt_train_opts o = {.progress = isatty(2) != 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = !strcmp(a, "--set") || !strcmp(a, "--out") || !strcmp(a, "--subset");
        if (takes && i + 1 >= argc) return cli_fail(2, "train: %s needs a value", a);
        if (takes && n_sets >= MAX_SETS) return cli_fail(2, "train: more than %d overrides", MAX_SETS);
        if (!strcmp(a, "--set")) sets[n_sets++] = argv[++i];
        else if (!strcmp(a, "--out")) {
            snprintf(out_set, sizeof out_set, "out=\"%s\"", argv[++i]);
            sets[n_sets++] = out_set;
        } else if (!strcmp(a, "--subset")) {
            snprintf(subset_set, sizeof subset_set, "data.subset=%s", argv[++i]);
            sets[n_sets++] = subset_set;
        } else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "--quiet")) o.quiet = true;
        else if (a[0] == '-' && a[1]) return cli_fail(2, "train: unknown option '%s' (see retort train --help)", a);
        else if (!recipe) recipe = a;
        else return cli_fail(2, "train: more than one recipe ('%s' and '%s')", recipe, a);
    }
    if (!recipe) return cli_fail(2, "train: no recipe (usage: retort train RECIPE)");
    rt_recipe r;
    if (rt_recipe_load(&r, recipe, sets, n_sets) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_train_result res;
    rt_status s = rt_train_run(&r, &o, &res);
    if (s == RT_OK && !o.quiet)
        printf("done: %lld steps in %.1f s; %s/model.safetensors\n", (long long)res.steps, res.seconds, r.out);
    rt_recipe_free(&r);
    return s == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}
