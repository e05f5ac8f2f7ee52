/*
 * cmd_init.c - `retort init CONFIG -o MODEL [--seed N]`: a freshly
 * initialised model file (every layer initialised as PyTorch does by
 * default, from the seed), so any architecture can be summarised,
 * benchmarked or quantized without training. Written atomically.
 * Exit codes: 0 done, 1 bad config or write failure, 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "models/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: retort init CONFIG -o MODEL.safetensors [--seed N]\n\n"
                            "Build the architecture of CONFIG, initialise every parameter as PyTorch\n"
                            "does by default (Linear/Conv: U(+-1/sqrt(fan_in)); norms: 1 and 0; LSTM:\n"
                            "U(+-1/sqrt(hidden)); tokens and position tables: trunc_normal(0.02)) from\n"
                            "the seed, and write one safetensors model file (config in its metadata).\n\n"
                            "  -o, --output PATH  the model file (written atomically)\n"
                            "  --seed N           initialisation seed (default 0)\n";

int cmd_init(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char *in = NULL, *out = NULL;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) return cli_fail(2, "init: %s needs a path", argv[i]);
            out = argv[++i];
        } else if (!strcmp(argv[i], "--seed")) {
            char *end = NULL;
            const char *v = i + 1 < argc ? argv[++i] : "";
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-')
                return cli_fail(2, "init: --seed: expected a non-negative integer, got '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail(2, "init: unknown option '%s' (see retort init --help)", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_fail(2, "init: more than one config ('%s' and '%s')", in, argv[i]);
        }
    }
    if (!in) return cli_fail(2, "init: no config (usage: retort init CONFIG -o MODEL)");
    if (!out) return cli_fail(2, "init: %s: no output given (-o MODEL.safetensors)", in);
    rt_model *m;
    if (rt_model_from_file(&m, in) != RT_OK) return cli_fail(1, "%s", rt_errmsg());
    rt_model_init(m, seed);
    rt_status s = rt_model_save(m, out);
    /* parameters as summary counts them (params->numel includes each view's padding to 64 bytes) */
    size_t n_params = rt_params_count(m->params, RT_PARAM, false) + rt_params_count(m->params, RT_PARAM, true);
    if (s == RT_OK)
        printf("%s: %s (%zu parameters, seed %llu)\n", out, m->name[0] ? m->name : m->arch->name, n_params, seed);
    rt_model_free(m);
    return s == RT_OK ? 0 : cli_fail(1, "%s", rt_errmsg());
}
