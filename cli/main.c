/*
 * main.c - entry point of the retort CLI: global options and dispatch over
 * the subcommand table. No math here.
 */
#include "cli.h"
#include "core/error.h"
#include "core/threads.h"
#include "io/fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cli_command commands[] = {
    {"summary", cmd_summary, "exact parameters, bytes, MACs and memory of a config or model"},
    {"compare", cmd_compare, "two models side by side, with compression ratios per component"},
    {"train", cmd_train, "train a model from a recipe into a run directory (resumable)"},
    {"distill", cmd_distill, "train a student from a teacher with distillation terms (+ --baseline)"},
    {"teacher-cache", cmd_teacher_cache, "write a teacher's taps over a recipe's data for offline distillation"},
    {"init", cmd_init, "write a freshly initialised model file from a config"},
    {"eval", cmd_eval, "run a model over a dataset: accuracy, CCC, MSE, ... of its task"},
    {"quantize", cmd_quantize, "int8 / int4 model file; with --eval: size, metric change, agreement"},
    {"bench", cmd_bench, "load time, latency percentiles, throughput, peak memory; speedups"},
    {"sweep", cmd_sweep, "models x precisions: size, compression and metric change in one table"},
    {"report", cmd_report, "report.md + report.html + report.json from run directories (models, curves, Pareto)"},
    {"verify", cmd_verify, "fact-check a claims file against the measured numbers: TRUE / FALSE / UNSUPPORTED"},
    {"features", cmd_features, "audio front end: WAV/FLAC/OGG -> log-mel .npy"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("retort: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return true;
    return false;
}

bool cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        cli_fail(2, "%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

int cli_write_text(const char *path, const char *txt)
{
    rt_atomic af;
    if (rt_atomic_open(&af, path) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    if (fputs(txt, af.f) == EOF || fputc('\n', af.f) == EOF) {
        rt_atomic_abort(&af);
        return cli_fail(1, "%s: write failed", path);
    }
    return rt_atomic_commit(&af) == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}

static void usage(FILE *f)
{
    fprintf(f, "usage: retort [--threads N] <command> [options]\n\n"
               "retort %s - knowledge distillation and model compression in C\n\n"
               "commands:\n", RT_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nglobal options:\n"
               "  --threads N  worker threads for kernels and GEMM (default: all cores,\n"
               "               or OMP_NUM_THREADS)\n"
               "  --version    print the version\n"
               "  --help       this text; `retort <command> --help` for a command\n");
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("retort %s\n", RT_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--threads")) {
            long n;
            if (!cli_parse_int("--threads", i + 1 < argc ? argv[i + 1] : NULL, 1, 1024, &n))
                return 2;
            rt_threads_set((int)n);
            i++;
        } else {
            return cli_fail(2, "unknown option '%s' (see retort --help)", argv[i]);
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < N_COMMANDS; c++)
        if (!strcmp(argv[i], commands[c].name)) return commands[c].fn(argc - i, argv + i);
    return cli_fail(2, "unknown command '%s' (see retort --help)", argv[i]);
}
