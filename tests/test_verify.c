/*
 * test_verify.c - `retort verify` (src/report/verify.c, cli/cmd_verify.c):
 * stated values (numbers, K/M/G, %, x, ranges, comparisons), the verdict at
 * and just beyond every kind of boundary (default half-unit, absolute and
 * relative tolerances, inclusive ranges, strict comparisons), each quantity
 * measured from the run tree of tests/util/runfix.c, UNSUPPORTED when there
 * is no measurement, malformed claims files (one error naming the claim and
 * the field), and the three mistakes users made in hand-written reports:
 * a parameter count off by 50%, "10-15x" compression that is 7.2x, and a
 * distillation term at 0.008% of the gradient claimed to carry 5%.
 */
#include "runfix.h"
#include "testutil.h"

#include "report/verify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_runs fx;
static rt_rep_index ix;

static int setup(void **state)
{
    if (tu_tmpdir_setup(state)) return -1;
    tu_runs_make(&fx, tu_tmp("runs"));
    const char *dirs[] = {fx.root};
    if (rt_rep_index_build(&ix, dirs, 1) != RT_OK) {
        fprintf(stderr, "%s\n", rt_errmsg());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    rt_rep_index_free(&ix);
    return tu_tmpdir_teardown(state);
}

/* Parse a one-claim file made of the given fields (JSON object members). */
static void one_claim(rt_claims *cl, const char *members)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"claims\": [{%s}]}", members);
    if (rt_claims_parse(cl, text, strlen(text), "c.json") != RT_OK) fail_msg("%s: %s", members, rt_errmsg());
}

/* The verdict for a measured value m under `stated` (JSON) and an optional tolerance (JSON or NULL). */
static enum rt_verdict judge(const char *stated, const char *tol, double m)
{
    char members[1024];
    snprintf(members, sizeof members, "\"quantity\": \"json\", \"file\": \"x\", \"key\": \"k\", \"stated\": %s%s%s",
             stated, tol ? ", \"tolerance\": " : "", tol ? tol : "");
    rt_claims cl;
    one_claim(&cl, members);
    rt_claim_result r;
    enum rt_verdict v = rt_verify_judge(&cl.c[0], m, &r);
    rt_claims_free(&cl);
    return v;
}

#define T RT_VERDICT_TRUE
#define F RT_VERDICT_FALSE

static void expect(const char *stated, const char *tol, double m, enum rt_verdict want)
{
    enum rt_verdict got = judge(stated, tol, m);
    if (got != want)
        fail_msg("stated %s, tolerance %s, measured %.17g: %s, expected %s", stated, tol ? tol : "-", m,
                 rt_verdict_name(got), rt_verdict_name(want));
}

/* Measure and judge one claim against the fixture. */
static rt_claim_result check(const char *members, enum rt_verdict want)
{
    rt_claims cl;
    one_claim(&cl, members);
    rt_claim_result r;
    rt_verify_claim(&ix, &cl.c[0], &r);
    if (r.verdict != want)
        fail_msg("%s: %s (measured %.17g; %s), expected %s", members, rt_verdict_name(r.verdict), r.measured,
                 r.detail, rt_verdict_name(want));
    rt_claims_free(&cl);
    return r;
}

/* ---- stated values ---- */

static void test_stated(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum rt_stated_form form;
        double a, b, half; /* value (or bound) and half unit; or lo, hi */
        enum rt_unit unit;
        const char *op;
    } ok[] = {
        {"27802", RT_STATED_VALUE, 27802, 0, 0.5, RT_UNIT_PLAIN, ""},
        {"27.8K", RT_STATED_VALUE, 27800, 0, 50, RT_UNIT_SI, ""},
        {"27.8 k", RT_STATED_VALUE, 27800, 0, 50, RT_UNIT_SI, ""},
        {"1.2M", RT_STATED_VALUE, 1.2e6, 0, 5e4, RT_UNIT_SI, ""},
        {"90.4%", RT_STATED_VALUE, 0.904, 0, 0.0005, RT_UNIT_PERCENT, ""},
        {"7.27x", RT_STATED_VALUE, 7.27, 0, 0.005, RT_UNIT_TIMES, ""},
        {"7\xC3\x97", RT_STATED_VALUE, 7, 0, 0.5, RT_UNIT_TIMES, ""},
        {"1e-3", RT_STATED_VALUE, 1e-3, 0, 5e-4, RT_UNIT_PLAIN, ""},
        {"1.5e3", RT_STATED_VALUE, 1500, 0, 50, RT_UNIT_PLAIN, ""},
        {"-.5", RT_STATED_VALUE, -0.5, 0, 0.05, RT_UNIT_PLAIN, ""},
        {"= 7x", RT_STATED_VALUE, 7, 0, 0.5, RT_UNIT_TIMES, ""},
        {"10-15x", RT_STATED_RANGE, 10, 15, 0, RT_UNIT_TIMES, ""},
        {"10x-15x", RT_STATED_RANGE, 10, 15, 0, RT_UNIT_TIMES, ""},
        {"10x to 15x", RT_STATED_RANGE, 10, 15, 0, RT_UNIT_TIMES, ""},
        {"10\xE2\x80\x93" "15x", RT_STATED_RANGE, 10, 15, 0, RT_UNIT_TIMES, ""},
        {"5%..10%", RT_STATED_RANGE, 0.05, 0.1, 0, RT_UNIT_PERCENT, ""},
        {"-0.5-0.5", RT_STATED_RANGE, -0.5, 0.5, 0, RT_UNIT_PLAIN, ""},
        {"-2--1", RT_STATED_RANGE, -2, -1, 0, RT_UNIT_PLAIN, ""},
        {"20K-30K", RT_STATED_RANGE, 2e4, 3e4, 0, RT_UNIT_SI, ""},
        {">= 5%", RT_STATED_CMP, 0.05, 0, 0, RT_UNIT_PERCENT, ">="},
        {"\xE2\x89\xA5" "5%", RT_STATED_CMP, 0.05, 0, 0, RT_UNIT_PERCENT, ">="},
        {"> 0.9", RT_STATED_CMP, 0.9, 0, 0, RT_UNIT_PLAIN, ">"},
        {"<1e-3", RT_STATED_CMP, 1e-3, 0, 0, RT_UNIT_PLAIN, "<"},
        {"\xE2\x89\xA4 2", RT_STATED_CMP, 2, 0, 0, RT_UNIT_PLAIN, "<="},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        rt_stated s;
        if (rt_stated_parse(&s, ok[i].text) != RT_OK) fail_msg("'%s': %s", ok[i].text, rt_errmsg());
        bool good = s.form == ok[i].form && s.unit == ok[i].unit && !strcmp(s.op, ok[i].op);
        if (s.form == RT_STATED_RANGE) good &= fabs(s.lo - ok[i].a) < 1e-12 && fabs(s.hi - ok[i].b) < 1e-12;
        else good &= fabs(s.v - ok[i].a) <= 1e-12 * fabs(ok[i].a) && fabs(s.half_unit - ok[i].half) <= 1e-12 * ok[i].half;
        if (!good) fail_msg("'%s': form %d unit %d op '%s' v %g lo %g hi %g half %g", ok[i].text, s.form, s.unit, s.op,
                            s.v, s.lo, s.hi, s.half_unit);
    }
    static const char *bad[] = {"", "abc", "10-", "5%-10x", "15-10", ">= 5% 6", "1.2.3", "0x10", "inf", "nan",
                                ">=", "10 15", "5%%", "1e999", "> 1-2", "7 apples"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_stated s;
        if (rt_stated_parse(&s, bad[i]) == RT_OK) fail_msg("'%s' was accepted", bad[i]);
    }
}

/* ---- verdicts at the boundaries ---- */

static void test_boundaries(void **state)
{
    (void)state;
    /* a value without tolerance: within half a unit of its last digit, inclusive */
    expect("\"27.8K\"", NULL, 27750, T);
    expect("\"27.8K\"", NULL, 27850, T);
    expect("\"27.8K\"", NULL, 27749.99, F);
    expect("\"27.8K\"", NULL, 27850.01, F);
    expect("\"90.4%\"", NULL, 0.9035, T);
    expect("\"90.4%\"", NULL, 0.9045, T);
    expect("\"90.4%\"", NULL, 0.90451, F);
    expect("\"90.4%\"", NULL, 0.90349, F);
    expect("27802", NULL, 27802, T);
    expect("27802", NULL, 27802.5, T);
    expect("27802", NULL, 27803, F);
    expect("0.904", NULL, 0.9044, T); /* a JSON number reads as written: 3 decimals */
    expect("0.904", NULL, 0.9046, F);
    expect("\"7x\"", NULL, 7.5, T);
    expect("\"7x\"", NULL, 7.51, F);
    /* absolute tolerance, in the stated unit: 0.1 with a percentage is 0.1 points */
    expect("\"90.4%\"", "0.1", 0.903, T);
    expect("\"90.4%\"", "0.1", 0.905, T);
    expect("\"90.4%\"", "0.1", 0.9029, F);
    expect("\"27.8K\"", "0.1", 27700, T); /* 0.1K */
    expect("\"27.8K\"", "0.1", 27699, F);
    expect("27800", "0", 27800, T);
    expect("27800", "0", 27800.001, F);
    /* relative tolerance */
    expect("27800", "\"1%\"", 27522, T);
    expect("27800", "\"1%\"", 28078, T);
    expect("27800", "\"1%\"", 27521.9, F);
    expect("27800", "\"1%\"", 28078.1, F);
    /* ranges: inclusive, widened by a tolerance */
    expect("\"10-15x\"", NULL, 10, T);
    expect("\"10-15x\"", NULL, 15, T);
    expect("\"10-15x\"", NULL, 9.99, F);
    expect("\"10-15x\"", NULL, 15.01, F);
    expect("\"10-15x\"", "\"10%\"", 9, T);
    expect("\"10-15x\"", "\"10%\"", 16.5, T);
    expect("\"10-15x\"", "\"10%\"", 8.99, F);
    expect("\"10-15x\"", "1", 16, T);
    expect("\"10-15x\"", "1", 16.01, F);
    expect("[\"-0.5%\", \"0.5%\"]", NULL, -0.005, T);
    expect("[\"-0.5%\", \"0.5%\"]", NULL, 0.0051, F);
    expect("[1, 2]", NULL, 2, T);
    /* comparisons: > and < strict, >= and <= inclusive; a tolerance relaxes them */
    expect("\">= 5%\"", NULL, 0.05, T);
    expect("\">= 5%\"", NULL, 0.0499, F);
    expect("\"> 5%\"", NULL, 0.05, F);
    expect("\"> 5%\"", NULL, 0.0501, T);
    expect("\"<= 2\"", NULL, 2, T);
    expect("\"<= 2\"", NULL, 2.001, F);
    expect("\"< 2\"", NULL, 2, F);
    expect("\"< 2\"", NULL, 1.999, T);
    expect("\">= 5%\"", "0.5", 0.045, T);
    expect("\">= 5%\"", "0.5", 0.0449, F);
    expect("\">= 5%\"", "\"10%\"", 0.045, T);
    /* the 1e-9 relative slack: decimal bounds read in binary do not flip a verdict */
    expect("\"0.3\"", "0.1", 0.1 + 0.1, T);
    expect("\"<= 0.3\"", NULL, 0.1 + 0.2, T);
    assert_int_equal(judge("\">= 5%\"", NULL, NAN), RT_VERDICT_UNSUPPORTED);
}

/* ---- the users' three mistakes ---- */

static void test_users_mistakes(void **state)
{
    (void)state;
    char m[1024];
    /* 1. a parameter count off by 50% */
    snprintf(m, sizeof m, "\"quantity\": \"params\", \"model\": \"distill/model.safetensors\", \"stated\": %lld, "
                          "\"tolerance\": \"1%%\"", (long long)(fx.s_params * 3 / 2));
    rt_claim_result r = check(m, F);
    assert_true(r.measured == (double)fx.s_params);
    assert_non_null(strstr(r.source, "distill/model.safetensors"));
    snprintf(m, sizeof m, "\"quantity\": \"params\", \"model\": \"distill/model.safetensors\", \"stated\": %lld",
             (long long)fx.s_params);
    check(m, T);
    /* 2. "10-15x" that is 7.2x */
    r = check("\"quantity\": \"compression\", \"teacher\": \"teacher/best.safetensors\", \"student\": "
              "\"distill/model.safetensors\", \"stated\": \"10-15x\"", F);
    assert_true(r.measured == (double)fx.t_bytes / (double)fx.s_bytes);
    assert_true(r.measured > 7.2 && r.measured < 7.21);
    check("\"quantity\": \"compression\", \"teacher\": \"teacher/best.safetensors\", \"student\": "
          "\"distill/model.safetensors\", \"stated\": \"7.2x\"", T);
    /* 3. a term at 0.008% of the gradient, claimed to carry at least 5% */
    r = check("\"quantity\": \"grad_share\", \"run\": \"distill\", \"term\": \"feature\", \"stated\": \">= 5%\"", F);
    assert_true(r.measured == 0.00008);
    assert_non_null(strstr(r.source, "distill/log.jsonl"));
    check("\"quantity\": \"loss_share\", \"run\": \"distill\", \"term\": \"feature\", \"stated\": \"0.008%\"", T);
    check("\"quantity\": \"grad_share\", \"run\": \"distill\", \"term\": \"feature\", \"stated\": \"< 0.01%\"", T);
}

/* ---- every quantity ---- */

static void test_quantities(void **state)
{
    (void)state;
    char m[1024];
    rt_claim_result r;
    snprintf(m, sizeof m, "\"quantity\": \"bytes\", \"model\": \"distill/student-q8.safetensors\", \"stated\": %lld",
             (long long)fx.q_bytes);
    check(m, T);
    snprintf(m, sizeof m, "\"quantity\": \"bytes\", \"model\": \"distill\", \"at\": \"int8\", \"stated\": %lld",
             (long long)fx.q_bytes); /* a run directory names its model.safetensors; INT8 bytes by plan.h */
    check(m, T);
    r = check("\"quantity\": \"file_bytes\", \"model\": \"teacher/model.safetensors\", \"stated\": \"> 0\"", T);
    assert_true(r.measured > (double)fx.t_bytes);
    snprintf(m, sizeof m,
             "\"quantity\": \"compression\", \"basis\": \"params\", \"teacher\": \"teacher/best.safetensors\", "
             "\"student\": \"distill/model.safetensors\", \"stated\": %.17g, \"tolerance\": 0",
             (double)fx.t_params / (double)fx.s_params);
    check(m, T);
    r = check("\"quantity\": \"metric\", \"model\": \"teacher/best.safetensors\", \"stated\": \"90%\"", T);
    assert_non_null(strstr(r.source, "teacher/eval.json"));
    r = check("\"quantity\": \"metric\", \"model\": \"distill/student-q8.safetensors\", \"metric\": \"accuracy\", "
              "\"data\": \"fmnist:test\", \"stated\": \"87%\"", T);
    assert_non_null(strstr(r.source, "quantize-int8.json"));
    r = check("\"quantity\": \"metric\", \"run\": \"distill/baseline\", \"stated\": \"86%\"", T);
    assert_non_null(strstr(r.source, "distill/distill.json"));
    check("\"quantity\": \"retention\", \"run\": \"distill\", \"stated\": \"97.8%\"", T);
    check("\"quantity\": \"gain\", \"run\": \"distill\", \"stated\": \"2%\"", T);
    check("\"quantity\": \"grad_share\", \"run\": \"distill\", \"term\": \"response\", \"stated\": \"29.992%\", "
          "\"tolerance\": 0", T);
    static const char *over[] = {"mean", "min", "max", "first", "last"};
    for (int i = 0; i < 5; i++) {
        snprintf(m, sizeof m, "\"quantity\": \"grad_share\", \"run\": \"distill\", \"term\": \"task\", \"over\": "
                              "\"%s\", \"stated\": \"70%%\"", over[i]);
        check(m, T);
    }
    check("\"quantity\": \"speedup\", \"model\": \"distill/model.safetensors\", \"stated\": \"4.92x\"", T);
    check("\"quantity\": \"json\", \"file\": \"distill/bench.json\", \"key\": \"models.1.p50_ms\", \"stated\": 0.25", T);
    check("\"quantity\": \"json\", \"file\": \"distill/bench.json\", \"key\": [\"models\", 0, \"throughput\"], "
          "\"stated\": \"800.5\"", T);
    check("\"quantity\": \"json\", \"file\": \"distill/quantize-int8.json\", \"key\": \"eval.change\", \"stated\": "
          "\"> -2%\"", T);
}

static void test_unsupported(void **state)
{
    (void)state;
    static const struct { const char *members, *why; } u[] = {
        {"\"quantity\": \"params\", \"model\": \"nope.safetensors\", \"stated\": 1", "no model file 'nope.safetensors'"},
        {"\"quantity\": \"grad_share\", \"run\": \"distill\", \"term\": \"attention\", \"stated\": \">= 5%\"",
         "no term 'attention' in the monitor records (terms: task, response, feature)"},
        {"\"quantity\": \"grad_share\", \"run\": \"teacher\", \"term\": \"task\", \"stated\": \">= 5%\"",
         "has no monitor records"},
        {"\"quantity\": \"retention\", \"run\": \"teacher\", \"stated\": \">= 5%\"", "has no distill.json"},
        {"\"quantity\": \"metric\", \"run\": \"nowhere\", \"stated\": \"1\"", "no run directory 'nowhere'"},
        {"\"quantity\": \"metric\", \"model\": \"teacher/best.safetensors\", \"data\": \"mnist:test\", \"stated\": 1",
         "no measured metric"},
        {"\"quantity\": \"json\", \"file\": \"distill/bench.json\", \"key\": \"models.7.p50_ms\", \"stated\": 1",
         "no key 'models.7'"},
        {"\"quantity\": \"json\", \"file\": \"distill/bench.json\", \"key\": \"omp_wait_policy\", \"stated\": 1",
         "is not a number"},
        {"\"quantity\": \"json\", \"file\": \"missing.json\", \"key\": \"a\", \"stated\": 1", "cannot read"},
        {"\"quantity\": \"speedup\", \"model\": \"distill/student-q8.safetensors\", \"stated\": 1",
         "no retort bench result"},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        rt_claim_result r = check(u[i].members, RT_VERDICT_UNSUPPORTED);
        assert_true(isnan(r.measured));
        if (!strstr(r.detail, u[i].why)) fail_msg("case %zu: \"%s\" does not say \"%s\"", i, r.detail, u[i].why);
    }
}

/* ---- malformed claims files ---- */

static void test_malformed(void **state)
{
    (void)state;
    static const struct { const char *text, *msg; } bad[] = {
        {"{\"claims\": [", "c.json: not valid JSON"},
        {"[]", "c.json: no \"claims\" array"},
        {"{\"claims\": []}", "c.json: the \"claims\" array is empty"},
        {"{\"claims\": [{}], \"extra\": 1}", "unknown top-level field \"extra\""},
        {"{\"claims\": [3]}", "c.json: claim 1: not a JSON object"},
        {"{\"claims\": [{\"stated\": 1}]}", "c.json: claim 1: \"quantity\": is missing"},
        {"{\"claims\": [{\"quantity\": \"speed\", \"stated\": 1}]}", "claim 1: \"quantity\": must be one of"},
        {"{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"stated\": 1}, {\"quantity\": \"params\", "
         "\"model\": \"m\", \"stated\": \"10-15y\"}]}",
         "c.json: claim 2: \"stated\": cannot read '10-15y'"},
        {"{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"stated\": 1, \"tolerence\": 1}]}",
         "claim 1: \"tolerence\": unknown field"},
        {"{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"term\": \"t\", \"stated\": 1}]}",
         "claim 1: \"term\": does not apply to quantity \"params\""},
        {"{\"claims\": [{\"quantity\": \"grad_share\", \"run\": \"r\", \"stated\": 1}]}",
         "claim 1: \"term\": is missing (quantity \"grad_share\" needs it)"},
        {"{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"stated\": 1, \"tolerance\": -1}]}",
         "claim 1: \"tolerance\": must be >= 0"},
        {"{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"stated\": 1, \"tolerance\": \"1 point\"}]}",
         "claim 1: \"tolerance\": must be a number"},
        {"{\"claims\": [{\"quantity\": \"params\", \"model\": \"\", \"stated\": 1}]}",
         "claim 1: \"model\": must be a non-empty string"},
        {"{\"claims\": [{\"quantity\": \"metric\", \"stated\": 1}]}", "claim 1: a metric claim names a \"model\" or"},
        {"{\"claims\": [{\"quantity\": \"bytes\", \"model\": \"m\", \"at\": \"int2\", \"stated\": 1}]}",
         "claim 1: \"at\": must be one of fp32, fp16, int8, int4"},
        {"{\"claims\": [{\"quantity\": \"json\", \"file\": \"f\", \"key\": [\"a\", -1], \"stated\": 1}]}",
         "claim 1: \"key\": must be"},
        {"{\"claims\": [{\"quantity\": \"json\", \"file\": \"f\", \"key\": \"a\", \"stated\": true}]}",
         "claim 1: \"stated\": it must be a number, a string or [lo, hi]"},
        {"{\"claims\": [{\"quantity\": \"json\", \"file\": \"f\", \"key\": \"a\", \"stated\": [\"5%\", \"2x\"]}]}",
         "claim 1: \"stated\": the two ends of the range have different units"},
        {"{\"claims\": [{\"quantity\": \"json\", \"file\": \"f\", \"key\": \"a\", \"stated\": [2, 1]}]}",
         "claim 1: \"stated\": the range's low end is above its high end"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_claims cl;
        assert_int_equal(rt_claims_parse(&cl, bad[i].text, strlen(bad[i].text), "c.json"), RT_ERR_FORMAT);
        if (!strstr(rt_errmsg(), bad[i].msg)) fail_msg("case %zu: got \"%s\", want \"%s\"", i, rt_errmsg(), bad[i].msg);
        assert_null(cl.c);
    }
    /* a claim without "text" gets one made from its fields */
    rt_claims cl;
    one_claim(&cl, "\"quantity\": \"grad_share\", \"run\": \"distill\", \"term\": \"feature\", \"stated\": \">= 5%\"");
    assert_string_equal(cl.c[0].text, "grad_share feature of distill: >= 5%");
    rt_claims_free(&cl);
}

/* ---- the CLI ---- */

static void test_cli(void **state)
{
    (void)state;
    tu_need_cli();
    char args[2000], path[700];
    int lines;
    char first[600];
    const char *claims = tu_tmp("claims.json");
    snprintf(path, sizeof path, "%s", claims);
    tu_write(path, "{\"claims\": [{\"text\": \"student params\", \"quantity\": \"params\", \"model\": "
                   "\"distill/model.safetensors\", \"stated\": \"556\"}, {\"quantity\": \"grad_share\", \"run\": "
                   "\"distill\", \"term\": \"feature\", \"stated\": \"< 0.01%\"}]}");
    snprintf(args, sizeof args, "verify '%s' '%s'", claims, fx.root);
    assert_int_equal(tu_run_cli(args, &lines, first, sizeof first), 0);
    char *out = tu_cli_stdout();
    assert_non_null(strstr(out, "verify: 2 claims: 2 TRUE, 0 FALSE, 0 UNSUPPORTED\n"));
    free(out);
    /* FALSE and UNSUPPORTED: exit 1, the summary line names them */
    tu_write(path, "{\"claims\": [{\"quantity\": \"params\", \"model\": \"distill/model.safetensors\", \"stated\": "
                   "834}, {\"quantity\": \"params\", \"model\": \"gone.safetensors\", \"stated\": 1}, {\"quantity\": "
                   "\"params\", \"model\": \"distill/model.safetensors\", \"stated\": 556}, {\"quantity\": \"compression\", "
                   "\"teacher\": \"teacher/best.safetensors\", \"student\": \"distill/model.safetensors\", \"stated\": "
                   "\"10-15x\"}]}");
    assert_int_equal(tu_run_cli(args, &lines, first, sizeof first), 1);
    out = tu_cli_stdout();
    assert_non_null(strstr(out, "verify: 4 claims: 1 TRUE, 2 FALSE (claims 1, 4), 1 UNSUPPORTED (claim 2)\n"));
    free(out);
    snprintf(args, sizeof args, "verify '%s' '%s' --json", claims, fx.root);
    assert_int_equal(tu_run_cli(args, &lines, first, sizeof first), 1);
    out = tu_cli_stdout();
    cJSON *j = cJSON_Parse(out);
    free(out);
    assert_non_null(j);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "summary");
    assert_true(cJSON_GetObjectItemCaseSensitive(s, "false")->valuedouble == 2);
    const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "results"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(r0, "verdict")->valuestring, "FALSE");
    assert_true(cJSON_GetObjectItemCaseSensitive(r0, "measured")->valuedouble == (double)fx.s_params);
    cJSON_Delete(j);
    /* a malformed file: one line naming the file, the claim and the field */
    tu_write(path, "{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"stated\": \"lots\"}]}");
    snprintf(args, sizeof args, "verify '%s' '%s'", claims, fx.root);
    snprintf(first, sizeof first, "%s: claim 1: \"stated\": cannot read 'lots'", claims);
    tu_expect_cli_failure(args, 1, NULL, first);
    tu_write(path, "{\"claims\": [{\"quantity\": \"params\", \"model\": \"m\", \"stated\": 1}]}");
    snprintf(args, sizeof args, "verify '%s' '%s'", claims, tu_tmp("no-such-runs"));
    tu_expect_cli_failure(args, 1, NULL, "no-such-runs");
    /* usage */
    assert_int_equal(tu_run_cli("verify", &lines, first, sizeof first), 2);
    snprintf(args, sizeof args, "verify '%s'", claims);
    assert_int_equal(tu_run_cli(args, &lines, first, sizeof first), 2);
    assert_int_equal(tu_run_cli("verify a b --nope", &lines, first, sizeof first), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stated),      cmocka_unit_test(test_boundaries), cmocka_unit_test(test_users_mistakes),
        cmocka_unit_test(test_quantities),  cmocka_unit_test(test_unsupported), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
