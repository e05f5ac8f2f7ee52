/*
 * cmd_verify.c - `retort verify CLAIMS.json RUNS_DIR... [--json]`: judge each
 * claim against the numbers measured under the run directories
 * (src/report/verify.c). Argument parsing and output only.
 * Exit codes: 0 every claim TRUE; 1 a claim FALSE or UNSUPPORTED (the
 * summary line says which), or a claims file / run directory that cannot be
 * read (one line naming the file, and the claim and field); 2 usage.
 */
#include "cli.h"

#include "core/error.h"
#include "report/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: retort verify CLAIMS.json RUNS_DIR... [--json]\n\n"
    "Check each claim of CLAIMS.json against what retort measured under RUNS_DIR...:\n"
    "  {\"claims\": [{\"text\": \"the student has 27.8K parameters\", \"quantity\": \"params\",\n"
    "               \"model\": \"fmnist-distill/model.safetensors\", \"stated\": \"27.8K\"}, ...]}\n"
    "quantities: params, bytes, file_bytes, compression, metric, retention, gain,\n"
    "grad_share, loss_share, speedup, json. stated: 27802, \"27.8K\", \"90.4%\", \"7.2x\",\n"
    "\"10-15x\", [lo, hi], \">= 5%\"; optional \"tolerance\": a number (in the stated unit)\n"
    "or \"N%\" (relative). Paths are tried as written, then under each RUNS_DIR.\n"
    "Each claim is TRUE, FALSE or UNSUPPORTED (no measurement found); see docs/report.md.\n\n"
    "  --json   machine-readable results\n"
    "Exit status: 0 all TRUE, 1 any FALSE or UNSUPPORTED (or unreadable input), 2 usage.\n";

int cmd_verify(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char **dirs = calloc((size_t)argc, sizeof *dirs), *claims = NULL;
    int n = 0, rc = 0;
    bool json = false;
    if (!dirs) return cli_fail(1, "verify: out of memory");
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' && a[1]) rc = cli_fail(2, "verify: unknown option '%s' (see retort verify --help)", a);
        else if (!claims) claims = a;
        else dirs[n++] = a;
    }
    if (rc == 0 && (!claims || n == 0))
        rc = cli_fail(2, "verify: expected a claims file and at least one run directory (usage: retort verify "
                         "CLAIMS.json RUNS_DIR...)");
    rt_claims cl = {0};
    rt_rep_index ix = {0};
    rt_claim_result *res = NULL;
    if (rc == 0 && rt_claims_read(&cl, claims) != RT_OK) rc = cli_fail(1, "%s", rt_errmsg());
    else if (rc == 0 && rt_rep_index_build(&ix, dirs, n) != RT_OK) rc = cli_fail(1, "%s", rt_errmsg());
    else if (rc == 0 && !(res = calloc((size_t)cl.n, sizeof *res))) rc = cli_fail(1, "verify: out of memory");
    if (rc == 0) {
        bool all = true;
        for (int i = 0; i < cl.n; i++) {
            rt_verify_claim(&ix, &cl.c[i], &res[i]);
            all &= res[i].verdict == RT_VERDICT_TRUE;
        }
        if (json) {
            cJSON *j = rt_verify_json(&cl, res);
            if (j) cJSON_AddStringToObject(j, "claims_file", claims);
            char *txt = j ? cJSON_Print(j) : NULL;
            cJSON_Delete(j);
            if (txt) puts(txt);
            else rc = cli_fail(1, "verify: out of memory");
            free(txt);
        } else {
            printf("retort verify: %s against", claims);
            for (int i = 0; i < n; i++) printf("%s %s", i ? "," : "", dirs[i]);
            printf("\n");
            rt_verify_print(stdout, &cl, res);
        }
        if (rc == 0) rc = all ? 0 : 1;
    }
    free(res);
    rt_rep_index_free(&ix);
    rt_claims_free(&cl);
    free(dirs);
    return rc;
}
