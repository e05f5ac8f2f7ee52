/*
 * cmd_distill.c - `retort distill RECIPE` (a recipe with a "distill" object:
 * teacher, student, terms; src/distill) and `retort teacher-cache RECIPE -o F`
 * (the teacher's taps over the recipe's training data, for offline runs).
 * Exit codes: 0 done, 1 bad input or a failed run, 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "data/dataset.h"
#include "distill/distill.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: retort distill RECIPE [--set KEY=VALUE]... [--out DIR] [--subset F]\n"
    "                      [--alpha A|auto] [--teacher MODEL] [--cache FILE] [--baseline] [--resume] [--quiet]\n\n"
    "Distil the recipe's teacher into its student (\"model\") with the recipe's\n"
    "\"distill\" terms (docs/distillation.md), into a run directory like `retort train`'s,\n"
    "plus distill.json (teacher, student, baseline, retention, parameter ratio).\n\n"
    "  --alpha A|auto   task weight 1 - A, response weight A; auto picks A from the\n"
    "                   teacher/student parameter ratio and prints the rule\n"
    "  --teacher MODEL  the teacher model file (distill.teacher)\n"
    "  --cache FILE     read the teacher's taps from a `retort teacher-cache` file\n"
    "  --baseline       also train the same student with the task loss only and the\n"
    "                   same budget, into DIR/baseline, and report the gain\n"
    "  --set, --out, --subset, --resume, --quiet   as for `retort train`\n";

static const char cache_usage[] =
    "usage: retort teacher-cache RECIPE -o FILE [--set KEY=VALUE]... [--subset F] [--teacher MODEL]\n"
    "       retort teacher-cache --hash DATA\n\n"
    "Run the recipe's teacher over its training data (data set order, after the\n"
    "subset) and write the taps its distillation terms read to FILE (safetensors;\n"
    "layout in docs/distillation.md). `retort distill --cache FILE` then needs no\n"
    "teacher. --hash prints the data hash a cache stores for a data spec (for caches\n"
    "written by other tools).\n";

int cmd_distill(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    struct cli_recipe_args ra;
    int rc = cli_recipe_args(argc, argv, "distill", true, &ra);
    if (rc) return rc;
    if (ra.output) return cli_fail(2, "distill: unknown option '-o' (the run directory is --out)");
    rt_recipe r;
    if (rt_recipe_load(&r, ra.recipe, ra.sets, ra.n_sets) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_distill_opts o = {.train = ra.opts, .baseline = ra.baseline};
    rt_distill_result res;
    rt_status s = rt_distill_run(&r, &o, &res);
    if (s == RT_OK && !ra.opts.quiet)
        printf("done: %lld steps in %.1f s; %s/model.safetensors, %s/distill.json\n", (long long)res.student.steps,
               res.student.seconds, r.out, r.out);
    rt_recipe_free(&r);
    return s == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}

int cmd_teacher_cache(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(cache_usage, stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--hash")) {
        rt_dataset ds;
        if (rt_dataset_open(&ds, argv[2]) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
        printf("%016" PRIx64 "\n", rt_kd_data_hash(&ds));
        rt_dataset_free(&ds);
        return 0;
    }
    struct cli_recipe_args ra;
    int rc = cli_recipe_args(argc, argv, "teacher-cache", true, &ra);
    if (rc) return rc;
    if (!ra.output) return cli_fail(2, "teacher-cache: no output file (-o FILE)");
    rt_recipe r;
    if (rt_recipe_load(&r, ra.recipe, ra.sets, ra.n_sets) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_status s = rt_teacher_cache_write(&r, ra.output, ra.opts.quiet);
    rt_recipe_free(&r);
    return s == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}
