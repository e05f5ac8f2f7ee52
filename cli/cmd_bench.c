/*
 * cmd_bench.c - `retort bench MODEL...`: per model, load time, batch-1
 * latency (p50/p90/p99), throughput at --batch, peak RSS, parameter bytes
 * and speedup relative to the first model (src/report/bench.c). Argument
 * parsing only. Exit codes: 0 done, 1 a model could not be read or run,
 * 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "core/threads.h"
#include "report/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(void)
{
    printf("usage: retort [--threads N] bench MODEL... [options]\n\n"
           "Times each model (a config, initialised from --seed, or a model file) on random\n"
           "inputs of its input shape, each in its own process:\n"
           "  load time, batch-1 latency p50/p90/p99, throughput at --batch, peak RSS\n"
           "  (VmHWM), parameter bytes, and speedup relative to the first model.\n\n"
           "options:\n"
           "  --runs N          timed batch-1 runs (default 50)\n"
           "  --warmup N        untimed batch-1 runs first (default 5)\n"
           "  --batch N         throughput batch size (default 32)\n"
           "  --batch-runs N    timed runs at --batch; the median is used (default 5)\n"
           "  --seed N          input values and config weights (default 1)\n"
           "  --json            one JSON object instead of the table\n"
           "  --json-out FILE   also write that JSON to FILE (atomically; `retort report` reads it)\n");
}

int cmd_bench(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        help();
        return 0;
    }
    rt_bench_opts o = rt_bench_defaults();
    bool json = false;
    const char *json_out = NULL;
    int n = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    rt_bench_result *res = NULL;
    int rc = 2;
    if (!files) return cli_fail(1, "bench: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--json-out")) {
            if (!v) {
                rc = cli_fail(2, "bench: --json-out needs a file");
                goto out;
            }
            json_out = v;
            i++;
        } else if (!strcmp(a, "--runs") || !strcmp(a, "--batch-runs")) {
            if (!cli_parse_int(a, v, 1, 100000, &x)) goto out;
            *(a[2] == 'r' ? &o.runs : &o.batch_runs) = (int)x;
            i++;
        } else if (!strcmp(a, "--warmup")) {
            if (!cli_parse_int(a, v, 0, 100000, &x)) goto out;
            o.warmup = (int)x;
            i++;
        } else if (!strcmp(a, "--batch")) {
            if (!cli_parse_int(a, v, 1, 1 << 20, &x)) goto out;
            o.batch = x;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_parse_int(a, v, 0, 0x7fffffffL, &x)) goto out;
            o.seed = (uint64_t)x;
            i++;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_fail(2, "bench: unknown option '%s' (see retort bench --help)", a);
            goto out;
        } else {
            files[n++] = a;
        }
    }
    if (n == 0) {
        rc = cli_fail(2, "bench: expected at least one model (see retort bench --help)");
        goto out;
    }
    res = calloc((size_t)n, sizeof *res);
    if (!res) {
        rc = cli_fail(1, "bench: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (isatty(2)) fprintf(stderr, "\rbench: %d/%d %s ...\033[K", i + 1, n, files[i]);
        if (rt_bench_model_isolated(&res[i], files[i], &o) != RT_OK) {
            if (isatty(2)) fputc('\n', stderr);
            rc = cli_fail(1, "%s", rt_errmsg());
            goto out;
        }
    }
    if (isatty(2)) fputs("\r\033[K", stderr);
    rt_bench_relate(res, n);
    if (json || json_out) {
        cJSON *j = rt_bench_json(res, n, &o, rt_threads_get());
        char *txt = j ? cJSON_Print(j) : NULL;
        cJSON_Delete(j);
        if (!txt) {
            rc = cli_fail(1, "bench: out of memory");
            goto out;
        }
        rc = json_out ? cli_write_text(json_out, txt) : 0;
        if (rc == 0 && json) puts(txt);
        free(txt);
        if (rc) goto out;
    }
    if (!json) rt_bench_print(stdout, res, n, &o, rt_threads_get());
    rc = 0;
out:
    free(res);
    free(files);
    return rc;
}
