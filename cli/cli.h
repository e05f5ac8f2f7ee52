/*
 * cli.h - the subcommand table of the retort CLI.
 *
 * Each subcommand lives in its own file cli/cmd_<name>.c and exports
 * `int cmd_<name>(int argc, char **argv)` (argv[0] is the subcommand name).
 * It returns the process exit code: 0 success, 1 failure at run time,
 * 2 usage error. Errors are printed as one line with cli_fail().
 */
#ifndef RT_CLI_H
#define RT_CLI_H

#include <stdbool.h>

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* Print "retort: <message>" to stderr; returns `code` for `return cli_fail(1, ...)`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv contains -h or --help. */
bool cli_wants_help(int argc, char **argv);
/* Parse a positive integer option value; on error prints and returns false. */
bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
/* Write txt and a newline to path atomically (io/fileio.h); 0, or 1 after printing the error. */
int cli_write_text(const char *path, const char *txt);

/* A recipe and overrides (`retort train`, `distill`, `teacher-cache`):
 * RECIPE [--set KEY=VALUE]... [--out DIR] [--subset F] [--resume] [--quiet],
 * and with `distill`: [--alpha A|auto] [--teacher F] [--cache F] [--baseline] [-o F].
 * Returns 0, or the exit code after printing the error. */
#define CLI_MAX_SETS 64
#include "train/train.h"
struct cli_recipe_args {
    const char *recipe, *output;
    const char *sets[CLI_MAX_SETS];
    char own[CLI_MAX_SETS][600];
    int n_sets;
    bool baseline;
    rt_train_opts opts;
};
int cli_recipe_args(int argc, char **argv, const char *cmd, bool distill, struct cli_recipe_args *ra);

int cmd_features(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_teacher_cache(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
