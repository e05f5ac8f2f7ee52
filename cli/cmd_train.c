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
    struct cli_recipe_args ra;
    int rc = cli_recipe_args(argc, argv, "train", false, &ra);
    if (rc) return rc;
    rt_recipe r;
    if (rt_recipe_load(&r, ra.recipe, ra.sets, ra.n_sets) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_train_result res;
    rt_status s = r.kd.on ? rt_error(RT_ERR_ARG, "%s: a distillation recipe (\"distill\"): use `retort distill`",
                                     ra.recipe)
                          : rt_train_run(&r, &ra.opts, &res);
    if (s == RT_OK && !ra.opts.quiet)
        printf("done: %lld steps in %.1f s; %s/model.safetensors\n", (long long)res.steps, res.seconds, r.out);
    rt_recipe_free(&r);
    return s == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}
