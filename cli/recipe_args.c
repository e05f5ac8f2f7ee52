/*
 * recipe_args.c - the options `retort train`, `retort distill` and
 * `retort teacher-cache` share: a recipe and overrides of its fields.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Turn an option with a value into a `--set` override "key=value" (value JSON-quoted when `quote`). */
static bool add_set(struct cli_recipe_args *ra, const char *cmd, const char *key, const char *value, bool quote)
{
    if (ra->n_sets >= CLI_MAX_SETS) {
        cli_fail(2, "%s: more than %d overrides", cmd, CLI_MAX_SETS);
        return false;
    }
    char *buf = ra->own[ra->n_sets];
    int w = snprintf(buf, sizeof ra->own[0], quote ? "%s=\"%s\"" : "%s=%s", key, value);
    if (w < 0 || (size_t)w >= sizeof ra->own[0]) {
        cli_fail(2, "%s: the value of %s is too long", cmd, key);
        return false;
    }
    ra->sets[ra->n_sets++] = buf;
    return true;
}

int cli_recipe_args(int argc, char **argv, const char *cmd, bool distill, struct cli_recipe_args *ra)
{
    memset(ra, 0, sizeof *ra);
    ra->opts.progress = isatty(2) != 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = !strcmp(a, "--set") || !strcmp(a, "--out") || !strcmp(a, "--subset") ||
                     (distill && (!strcmp(a, "--alpha") || !strcmp(a, "--teacher") || !strcmp(a, "--cache") ||
                                  !strcmp(a, "-o")));
        if (takes && i + 1 >= argc) return cli_fail(2, "%s: %s needs a value", cmd, a);
        bool ok = true;
        if (!strcmp(a, "--set")) {
            if (ra->n_sets >= CLI_MAX_SETS) return cli_fail(2, "%s: more than %d overrides", cmd, CLI_MAX_SETS);
            ra->sets[ra->n_sets++] = argv[++i];
        } else if (!strcmp(a, "--out")) ok = add_set(ra, cmd, "out", argv[++i], true);
        else if (!strcmp(a, "--subset")) ok = add_set(ra, cmd, "data.subset", argv[++i], false);
        else if (distill && !strcmp(a, "--alpha")) {
            const char *v = argv[++i];
            ok = add_set(ra, cmd, "distill.alpha", v, !strcmp(v, "auto"));
        } else if (distill && !strcmp(a, "--teacher")) ok = add_set(ra, cmd, "distill.teacher", argv[++i], true);
        else if (distill && !strcmp(a, "--cache")) ok = add_set(ra, cmd, "distill.cache", argv[++i], true);
        else if (distill && !strcmp(a, "-o")) ra->output = argv[++i];
        else if (distill && !strcmp(a, "--baseline")) ra->baseline = true;
        else if (!strcmp(a, "--resume")) ra->opts.resume = true;
        else if (!strcmp(a, "--quiet")) ra->opts.quiet = true;
        else if (a[0] == '-' && a[1]) return cli_fail(2, "%s: unknown option '%s' (see retort %s --help)", cmd, a, cmd);
        else if (!ra->recipe) ra->recipe = a;
        else return cli_fail(2, "%s: more than one recipe ('%s' and '%s')", cmd, ra->recipe, a);
        if (!ok) return 2;
    }
    if (!ra->recipe) return cli_fail(2, "%s: no recipe (usage: retort %s RECIPE)", cmd, cmd);
    return 0;
}
