/*
 * cmd_report.c - `retort report RUNS_DIR... [-o OUT_DIR] [--json]`: read what
 * retort wrote under the run directories and write report.md, report.html
 * and report.json (src/report/report.c). Argument parsing and output only.
 * Exit codes: 0 written, 1 an input could not be read or the report not
 * written (nothing is left behind), 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: retort report RUNS_DIR... [-o OUT_DIR] [--json]\n\n"
    "Read what retort wrote under the directories (recursively: recipe.json, log.jsonl,\n"
    "eval.json, distill.json, model files, retort quantize/bench --json-out files,\n"
    "sweep.json; JSON files are recognised by their content) and write one report:\n"
    "  OUT_DIR/report.md     Markdown\n"
    "  OUT_DIR/report.html   one self-contained file with inline SVG plots (no scripts)\n"
    "  OUT_DIR/report.json   the same numbers, machine-readable\n"
    "Sections: Models (exact parameters and bytes, compression and retention vs the\n"
    "teacher), Training curves, Distillation (loss and gradient shares per term, the\n"
    "monitor's warnings), Quantization, Speed, Pareto frontier (size vs metric), Inputs.\n"
    "A section whose inputs are absent is left out, with the reason. See docs/report.md.\n\n"
    "  -o OUT_DIR   where to write (default: the first RUNS_DIR; created if missing)\n"
    "  --json       print report.json to stdout instead of the summary lines\n";

int cmd_report(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char **dirs = calloc((size_t)argc, sizeof *dirs), *out = NULL;
    int n = 0, rc = 0;
    bool json = false;
    if (!dirs) return cli_fail(1, "report: out of memory");
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) rc = cli_fail(2, "report: %s needs a directory", a);
            else out = argv[++i];
        } else if (a[0] == '-' && a[1]) rc = cli_fail(2, "report: unknown option '%s' (see retort report --help)", a);
        else dirs[n++] = a;
    }
    if (rc == 0 && n == 0) rc = cli_fail(2, "report: no run directory (usage: retort report RUNS_DIR... [-o OUT_DIR])");
    if (rc) {
        free(dirs);
        return rc;
    }
    if (!out) out = dirs[0];
    rt_rep_index ix;
    rt_report_text t = {0};
    rt_report_info info;
    if (rt_rep_index_build(&ix, dirs, n) != RT_OK) {
        free(dirs);
        return cli_fail(1, "%s", rt_errmsg());
    }
    if (rt_report_render(&ix, &t, &info) != RT_OK || rt_report_save(&t, out) != RT_OK) rc = cli_fail(1, "%s", rt_errmsg());
    rt_rep_index_free(&ix);
    if (rc == 0 && json) {
        puts(t.json);
    } else if (rc == 0) {
        printf("report: %s/report.md, %s/report.html, %s/report.json\n", out, out, out);
        printf("read %d files (%d skipped): %d runs, %d models\n", info.n_files, info.n_skipped, info.n_runs,
               info.n_models);
        printf("sections:");
        for (int s = 0, k = 0; s < RT_SEC_COUNT; s++)
            if (info.written[s]) printf("%s %s", k++ ? "," : "", rt_report_section_name(s));
        printf("\n");
        for (int s = 0; s < RT_SEC_COUNT; s++)
            if (!info.written[s]) printf("left out: %s (%s)\n", rt_report_section_name(s), info.reason[s]);
    }
    rt_report_text_free(&t);
    free(dirs);
    return rc;
}
