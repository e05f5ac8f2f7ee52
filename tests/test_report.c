/*
 * test_report.c - `retort report` (src/report/{report,runs,runlog,svg,doc,strbuf}.c,
 * cli/cmd_report.c) over the run tree of tests/util/runfix.c: the right
 * numbers in the right rows of every section, the Pareto frontier, every
 * SVG well-formed (balanced tags, no NaN/Inf coordinate), HTML without
 * scripts or external assets, escaping of text from files, the log.jsonl
 * reader's rules, all-or-nothing output, and bad input (a missing
 * directory, a corrupt line in log.jsonl, a truncated last line, a distill.json
 * that is not JSON): one error line naming the file, or a note.
 */
#include "runfix.h"
#include "testutil.h"

#include "report/report.h"
#include "report/runlog.h"
#include "report/strbuf.h"
#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_runs fx;

static int setup(void **state)
{
    if (tu_tmpdir_setup(state)) return -1;
    tu_runs_make(&fx, tu_tmp("runs"));
    return 0;
}

/* ---- helpers ---- */

static void must_contain(const char *text, const char *needle)
{
    if (!strstr(text, needle)) fail_msg("expected to find \"%s\"", needle);
}

/* The Markdown table row that starts with "| <first> |". */
static const char *row(const char *md, const char *first)
{
    char key[600];
    snprintf(key, sizeof key, "\n| %s |", first);
    const char *r = strstr(md, key);
    if (!r) fail_msg("no row \"%s\"", first);
    return r + 1;
}

/* Does the row (up to its end of line) hold "| cell |"? */
static bool row_has(const char *r, const char *cell)
{
    char key[300];
    snprintf(key, sizeof key, "| %s |", cell);
    const char *e = strchr(r, '\n'), *f = strstr(r, key);
    return f && (!e || f < e);
}

/* Some row labelled `first` (tables list a model once per table) holds the cell. */
static void expect_cell(const char *md, const char *first, const char *cell)
{
    char key[600];
    snprintf(key, sizeof key, "\n| %s |", first);
    for (const char *r = strstr(md, key); r; r = strstr(r + 1, key))
        if (row_has(r + 1, cell)) return;
    fail_msg("no row \"%s\" with a cell \"%s\"", first, cell);
}

/* Tags balanced (a stack of names), attribute values free of nan/inf. */
static void check_svg(const char *s, size_t n)
{
    const char *stack[64];
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<') continue;
        size_t j = i + 1;
        bool close = s[j] == '/';
        if (close) j++;
        size_t k = j;
        while (k < n && s[k] != ' ' && s[k] != '>' && s[k] != '/') k++;
        size_t end = k;
        while (end < n && s[end] != '>') end++;
        assert_true(end < n);
        bool self = s[end - 1] == '/';
        for (size_t a = i; a < end; a++) { /* no NaN/Inf in attributes */
            if (s[a] != '"') continue;
            assert_false(!strncmp(s + a + 1, "nan", 3) || !strncmp(s + a + 1, "-nan", 4) ||
                         !strncmp(s + a + 1, "inf", 3) || !strncmp(s + a + 1, "-inf", 4));
        }
        if (close) {
            assert_true(depth > 0);
            depth--;
            assert_true(!strncmp(stack[depth], s + j, k - j) && stack[depth][k - j] == 0);
        } else if (!self) {
            assert_true(depth < 64);
            char *name = strndup(s + j, k - j);
            stack[depth++] = name;
        }
        if (close) free((char *)stack[depth]);
        i = end;
    }
    assert_int_equal(depth, 0);
}

/* Every <svg>...</svg> of an HTML text; returns how many. */
static int check_all_svgs(const char *html)
{
    int n = 0;
    for (const char *p = strstr(html, "<svg"); p; p = strstr(p + 1, "<svg")) {
        const char *e = strstr(p, "</svg>");
        assert_non_null(e);
        check_svg(p, (size_t)(e + 6 - p));
        n++;
    }
    return n;
}

static char *report_of(const char *dir, const char *what)
{
    char p[800];
    snprintf(p, sizeof p, "%s/report.%s", dir, what);
    char *t = tu_read_text(p);
    if (!t) fail_msg("%s was not written", p);
    return t;
}

/* ---- the report's contents ---- */

static void test_report_numbers(void **state)
{
    (void)state;
    const char *dirs[] = {fx.root};
    const char *out = tu_tmp("out1");
    rt_report_info info;
    if (rt_report_write(dirs, 1, out, &info) != RT_OK) fail_msg("%s", rt_errmsg());
    for (int s = 0; s < RT_SEC_COUNT; s++)
        if (!info.written[s]) fail_msg("section %s left out: %s", rt_report_section_name(s), info.reason[s]);
    char *md = report_of(out, "md");
    char tp[40], sp[40], tb[40], sb[40], qb[40], ratio[40], qratio[40];
    rt_fmt_int(tp, sizeof tp, fx.t_params);
    rt_fmt_int(sp, sizeof sp, fx.s_params);
    rt_fmt_int(tb, sizeof tb, fx.t_bytes);
    rt_fmt_int(sb, sizeof sb, fx.s_bytes);
    rt_fmt_int(qb, sizeof qb, fx.q_bytes);
    snprintf(ratio, sizeof ratio, "%.2fx", (double)fx.t_bytes / (double)fx.s_bytes);
    snprintf(qratio, sizeof qratio, "%.2fx", (double)fx.t_bytes / (double)fx.q_bytes);
    /* Models: the teacher's two identical files are one row; exact counts */
    const char *t1 = "teacher/model.safetensors (= best.safetensors)";
    expect_cell(md, t1, "teacher");
    expect_cell(md, t1, tp);
    expect_cell(md, t1, tb);
    expect_cell(md, "distill/model.safetensors", "student (distilled)");
    expect_cell(md, "distill/model.safetensors", sp);
    expect_cell(md, "distill/baseline/model.safetensors", "student (scratch)");
    expect_cell(md, "distill/student-q8.safetensors", "quantized");
    expect_cell(md, "distill/student-q8.safetensors", qb);
    /* against the teacher: the second row of each model */
    const char *r = row(md, "distill/model.safetensors");
    r = row(r + 1, "distill/model.safetensors");
    assert_true(row_has(r, ratio) && row_has(r, "88.00%") && row_has(r, "eval.json") && row_has(r, "97.8%"));
    r = row(row(md, "distill/student-q8.safetensors") + 1, "distill/student-q8.safetensors");
    assert_true(row_has(r, qratio) && row_has(r, "87.00%") && row_has(r, "quantize --eval"));
    r = row(row(md, "distill/baseline/model.safetensors") + 1, "distill/baseline/model.safetensors");
    assert_true(row_has(r, "86.00%") && row_has(r, "distill.json (baseline, val)"));
    /* Training curves: epoch rows of each run */
    must_contain(md, "### fix-teacher (teacher)");
    must_contain(md, "| 3 | 30 | 0.6000 | 90.00% | fmnist:test |");
    must_contain(md, "### fix-distill baseline (distill/baseline)");
    /* Distillation: distill.json, the monitor (0.008% verbatim), the warning escaped */
    expect_cell(md, "student, from scratch (baseline)", "86.00%");
    expect_cell(md, "teacher", "90.00%");
    const char *fe = row(md, "feature");
    assert_true(row_has(fe, "2") && row_has(fe, "0.008%"));
    expect_cell(md, "response", "40%");
    expect_cell(md, "response", "30%");
    must_contain(md, "step 50 (line 8): step 50: distillation term 'feature' has carried 0.01% of the gradient "
                     "\\<a\\&b\\> \\| x");
    must_contain(md, "gain (distilled - scratch, in the better direction) +2.00 points; retention 97.8%");
    /* Quantization and Speed */
    r = row(md, "distill/student-q8.safetensors");
    while (!row_has(r, "-1.00 points")) r = row(r + 1, "distill/student-q8.safetensors");
    assert_true(row_has(r, "99.1%") && row_has(r, "0.0012") && row_has(r, "0.0003") && row_has(r, "8.500"));
    r = row(md, "teacher/best.safetensors");
    assert_true(row_has(r, "1.23") && row_has(r, "800.5") && row_has(r, "31.2") && row_has(r, "1.00x"));
    expect_cell(md, "distill/model.safetensors", "4.92x");
    must_contain(md, "OMP\\_WAIT\\_POLICY=PASSIVE; load average 1.50");
    /* Inputs: skipped files with reasons */
    expect_cell(md, "notes.json", "skipped");
    free(md);
}

static void test_pareto(void **state)
{
    (void)state;
    const char *dirs[] = {fx.root};
    const char *out = tu_tmp("out2");
    if (rt_report_write(dirs, 1, out, NULL) != RT_OK) fail_msg("%s", rt_errmsg());
    char *txt = report_of(out, "json");
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    assert_non_null(j);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(j, "pareto"), *g, *p;
    assert_int_equal(cJSON_GetArraySize(groups), 1); /* one metric on one data set */
    g = cJSON_GetArrayItem(groups, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "metric")->valuestring, "accuracy");
    static const struct { const char *label; bool frontier; } want[] = {
        {"teacher/model.safetensors (teacher)", true},
        {"distill/model.safetensors (student (distilled))", true},        /* tied with sw-tie: neither dominates */
        {"sw-tie FP32 (sweep)", true},
        {"distill/baseline/model.safetensors (student (scratch))", false}, /* same size as the student, worse */
        {"distill/student-q8.safetensors (quantized)", true},             /* smallest */
        {"sw-huge FP32 (sweep)", false},
    };
    int seen = 0;
    double last = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(g, "points")) {
        const char *label = cJSON_GetObjectItemCaseSensitive(p, "label")->valuestring;
        double bytes = cJSON_GetObjectItemCaseSensitive(p, "bytes")->valuedouble;
        assert_true(bytes >= last); /* sorted by size */
        last = bytes;
        size_t i = 0;
        while (i < sizeof want / sizeof want[0] && strcmp(want[i].label, label)) i++;
        if (i == sizeof want / sizeof want[0]) fail_msg("unexpected point %s", label);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "frontier")) != want[i].frontier)
            fail_msg("%s: frontier should be %d", label, want[i].frontier);
        seen++;
    }
    assert_int_equal(seen, 6);
    /* the Markdown table says the same */
    char *md = report_of(out, "md");
    expect_cell(md, "distill/baseline/model.safetensors (student (scratch))", "no");
    expect_cell(md, "distill/student-q8.safetensors (quantized)", "yes");
    free(md);
    cJSON_Delete(j);
}

static void test_html_self_contained(void **state)
{
    (void)state;
    const char *dirs[] = {fx.root};
    const char *out = tu_tmp("out3");
    if (rt_report_write(dirs, 1, out, NULL) != RT_OK) fail_msg("%s", rt_errmsg());
    char *html = report_of(out, "html");
    /* curves of 3 runs (loss + metric), 2 monitor plots, 1 Pareto plot */
    assert_int_equal(check_all_svgs(html), 3 * 2 + 2 + 1);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<link"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "url("));
    must_contain(html, "&lt;a&amp;b&gt; | x"); /* the warning, escaped */
    /* the whole document is well-formed as XML once the doctype and the meta tag are set aside */
    char *body = strstr(html, "<body>");
    char *end = strstr(html, "</body>");
    assert_true(body && end);
    check_svg(body, (size_t)(end + 7 - body));
    free(html);
}

/* The same report from the CLI; --json prints report.json. */
static void test_cli(void **state)
{
    (void)state;
    tu_need_cli();
    char args[1200];
    snprintf(args, sizeof args, "report '%s' -o '%s' --json", fx.root, tu_tmp("out4"));
    cJSON *j = tu_run_cli_json(args);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "type")->valuestring, "report");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models"), *m;
    bool found = false;
    cJSON_ArrayForEach(m, models) {
        const char *path = cJSON_GetObjectItemCaseSensitive(m, "path")->valuestring;
        if (strstr(path, "distill/model.safetensors")) {
            found = true;
            assert_true(cJSON_GetObjectItemCaseSensitive(m, "params")->valuedouble == (double)fx.s_params);
            assert_true(cJSON_GetObjectItemCaseSensitive(m, "compression_vs_teacher")->valuedouble ==
                        (double)fx.t_bytes / (double)fx.s_bytes);
        }
    }
    assert_true(found);
    cJSON_Delete(j);
    assert_true(tu_exists(tu_tmp("out4/report.md")) && tu_exists(tu_tmp("out4/report.html")));
    /* usage errors */
    int lines;
    char first[512];
    assert_int_equal(tu_run_cli("report", &lines, first, sizeof first), 2);
    assert_int_equal(tu_run_cli("report --bogus x", &lines, first, sizeof first), 2);
}

/* quantize and bench --json-out: the table on stdout, the JSON in the file, which report reads by its "type" */
static void test_json_out(void **state)
{
    (void)state;
    tu_need_cli();
    const char *dir = tu_tmp("jsonout");
    tu_mkdirs(dir);
    char args[2000], q[700], b[700], j[700];
    snprintf(q, sizeof q, "%s/s-q8.safetensors", dir);
    snprintf(j, sizeof j, "%s/q.json", dir);
    snprintf(args, sizeof args, "quantize '%s/distill/model.safetensors' --bits 8 -o '%s' --json-out '%s'", fx.root, q,
             j);
    int lines;
    char first[600];
    if (tu_run_cli(args, &lines, first, sizeof first) != 0) fail_msg("%s: %s", args, first);
    char *out = tu_cli_stdout();
    must_contain(out, "bits/weight"); /* the table */
    free(out);
    char *txt = tu_read_text(j);
    assert_non_null(txt);
    cJSON *o = cJSON_Parse(txt);
    free(txt);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "type")->valuestring, "quantize");
    assert_true(cJSON_GetObjectItemCaseSensitive(o, "bytes")->valuedouble == (double)fx.q_bytes);
    cJSON_Delete(o);
    snprintf(b, sizeof b, "%s/timing.json", dir);
    snprintf(args, sizeof args, "--threads 1 bench '%s' --runs 2 --warmup 0 --batch 2 --batch-runs 1 --json-out '%s'", q,
             b);
    if (tu_run_cli(args, &lines, first, sizeof first) != 0) fail_msg("%s: %s", args, first);
    const char *dirs[] = {dir};
    rt_rep_index ix;
    if (rt_rep_index_build(&ix, dirs, 1) != RT_OK) fail_msg("%s", rt_errmsg());
    int kinds = 0;
    for (int i = 0; i < ix.n_files; i++) {
        if (strstr(ix.files[i].path, "q.json")) kinds += ix.files[i].kind == RT_REP_QUANTIZE;
        if (strstr(ix.files[i].path, "timing.json")) kinds += 2 * (ix.files[i].kind == RT_REP_BENCH);
    }
    assert_int_equal(kinds, 3);
    rt_rep_index_free(&ix);
    /* a --json-out that cannot be written: one error line, exit 1 */
    snprintf(args, sizeof args, "quantize '%s/distill/model.safetensors' --bits 8 -o '%s' --json-out '%s/no/q.json'",
             fx.root, q, dir);
    tu_expect_cli_failure(args, 1, NULL, "no/q.json");
}

/* ---- bad input and all-or-nothing output ---- */

static void copy_tree(const char *from, const char *to)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
    assert_int_equal(system(cmd), 0);
}

static void no_new_files(const char *out)
{
    static const char *names[] = {"report.html", "report.json", "report.md.tmp", "report.html.tmp", "report.json.tmp"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", out, names[i]);
        if (tu_exists(p)) fail_msg("%s left behind", p);
    }
}

static void test_corrupt_log_fails_cleanly(void **state)
{
    (void)state;
    const char *bad = tu_tmp("bad1");
    copy_tree(fx.root, bad);
    char p[800], args[2000];
    snprintf(p, sizeof p, "%s/distill/log.jsonl", bad);
    char *log = tu_read_text(p);
    char *nl = strchr(log, '\n');
    nl[-3] = '#'; /* line 1 is no longer JSON, and more lines follow */
    tu_write(p, log);
    free(log);
    const char *out = tu_tmp("out5");
    tu_mkdirs(out);
    snprintf(p, sizeof p, "%s/report.md", out);
    tu_write(p, "an older report\n");
    const char *dirs[] = {bad};
    assert_int_equal(rt_report_write(dirs, 1, out, NULL), RT_ERR_FORMAT);
    must_contain(rt_errmsg(), "distill/log.jsonl:1: not a JSON object");
    char *old = tu_read_text(p);
    assert_string_equal(old, "an older report\n"); /* untouched */
    free(old);
    no_new_files(out);
    tu_need_cli();
    snprintf(args, sizeof args, "report '%s' -o '%s'", bad, out);
    tu_expect_cli_failure(args, 1, NULL, "log.jsonl:1: not a JSON object");
    no_new_files(out);
}

static void test_bad_distill_json(void **state)
{
    (void)state;
    const char *bad = tu_tmp("bad2");
    copy_tree(fx.root, bad);
    char p[800];
    snprintf(p, sizeof p, "%s/distill/distill.json", bad);
    tu_write(p, "{\"metric\": \"accuracy\", \"teacher\": ");
    const char *dirs[] = {bad};
    assert_int_equal(rt_report_write(dirs, 1, tu_tmp("out6"), NULL), RT_ERR_FORMAT);
    must_contain(rt_errmsg(), "distill/distill.json: not valid JSON");
    assert_false(tu_exists(tu_tmp("out6")));
    /* an unknown JSON file that is not JSON is only skipped, with the reason */
    tu_write(p, "{\"type\": \"distill\", \"metric\": \"accuracy\", \"teacher\": {}, \"student\": {}}");
    snprintf(p, sizeof p, "%s/junk.json", bad);
    tu_write(p, "not json at all");
    if (rt_report_write(dirs, 1, tu_tmp("out6"), NULL) != RT_OK) fail_msg("%s", rt_errmsg());
    char *md = report_of(tu_tmp("out6"), "md");
    expect_cell(md, "junk.json", "not valid JSON");
    free(md);
    /* a distill.json without the fields it needs names the field */
    snprintf(p, sizeof p, "%s/distill/distill.json", bad);
    tu_write(p, "{\"type\": \"distill\", \"teacher\": {}, \"student\": {}}");
    assert_int_equal(rt_report_write(dirs, 1, tu_tmp("out7"), NULL), RT_ERR_FORMAT);
    must_contain(rt_errmsg(), "distill.json: \"metric\" is missing or not a string");
}

static void test_truncated_last_line(void **state)
{
    (void)state;
    const char *dir = tu_tmp("trunc");
    copy_tree(fx.root, dir);
    char p[800];
    snprintf(p, sizeof p, "%s/teacher/log.jsonl", dir);
    char *log = tu_read_text(p);
    size_t n = strlen(log);
    log[n - 10] = 0; /* the "done" record cut short, no newline */
    tu_write(p, log);
    free(log);
    const char *dirs[] = {dir};
    if (rt_report_write(dirs, 1, dir, NULL) != RT_OK) fail_msg("%s", rt_errmsg());
    char *md = report_of(dir, "md");
    expect_cell(md, "teacher/log.jsonl", "its last line was cut short (a killed writer) and is left out");
    must_contain(md, "| 3 | 30 | 0.6000 | 90.00% | fmnist:test |"); /* the epochs before it are all there */
    must_contain(md, "No \"done\" record");
    free(md);
}

static void test_missing_dir_and_left_out_sections(void **state)
{
    (void)state;
    const char *dirs[] = {tu_tmp("no-such-dir")};
    assert_int_equal(rt_report_write(dirs, 1, tu_tmp("out8"), NULL), RT_ERR_IO);
    must_contain(rt_errmsg(), "no-such-dir");
    assert_false(tu_exists(tu_tmp("out8")));
    tu_need_cli();
    char args[1200];
    snprintf(args, sizeof args, "report '%s'", tu_tmp("no-such-dir"));
    tu_expect_cli_failure(args, 1, NULL, "no-such-dir");
    /* only a model: the other sections are left out with their reasons */
    const char *one = tu_tmp("onlymodel");
    tu_mkdirs(one);
    snprintf(args, sizeof args, "cp '%s/teacher/best.safetensors' '%s/m.safetensors'", fx.root, one);
    assert_int_equal(system(args), 0);
    const char *d1[] = {one};
    rt_report_info info;
    if (rt_report_write(d1, 1, one, &info) != RT_OK) fail_msg("%s", rt_errmsg());
    assert_true(info.written[RT_SEC_MODELS] && !info.written[RT_SEC_TRAINING] && !info.written[RT_SEC_DISTILL] &&
                !info.written[RT_SEC_QUANT] && !info.written[RT_SEC_SPEED] && !info.written[RT_SEC_PARETO]);
    char *md = report_of(one, "md");
    must_contain(md, "- Training curves: no log.jsonl with epoch records");
    must_contain(md, "- Pareto frontier: no model with both a size and a metric");
    free(md);
    /* a second report over the same directory reads its own report.json as output, not input */
    if (rt_report_write(d1, 1, one, &info) != RT_OK) fail_msg("%s", rt_errmsg());
    md = report_of(one, "md");
    expect_cell(md, "report.json", "a retort report (output, not input)");
    free(md);
}

/* ---- the log.jsonl reader ---- */

static void test_runlog(void **state)
{
    (void)state;
    static const char ok[] =
        "{\"type\":\"monitor\",\"step\":0,\"terms\":[{\"name\":\"task\",\"loss_share\":1,\"grad_share\":null}]}\r\n"
        "\n   \n"
        "{\"type\":\"step\",\"step\":3}\n"
        "{\"type\":\"future\",\"x\":1}\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.5,\"val\":{\"primary\":\"ccc\",\"metrics\":{\"ccc\":null}},"
        "\"warnings\":[\"w1\"]}\n"
        "{\"type\":\"done\",\"steps\":3,\"seconds\":1,\"ccc\":0.75,\"extra\":\"ignored\"}\n";
    rt_runlog l;
    if (rt_runlog_parse(&l, ok, sizeof ok - 1, "t.jsonl") != RT_OK) fail_msg("%s", rt_errmsg());
    assert_int_equal(l.n_checks, 1);
    assert_true(isnan(l.checks[0].terms[0].grad_share) && l.checks[0].terms[0].loss_share == 1);
    assert_int_equal(l.n_steps, 1);
    assert_int_equal(l.unknown, 1);
    assert_int_equal(l.n_epochs, 1);
    assert_true(isnan(l.epochs[0].val) && !strcmp(l.epochs[0].metric, "ccc") && l.epochs[0].step == -1);
    assert_int_equal(l.n_warnings, 1);
    assert_string_equal(l.warnings[0].where, "epoch 1");
    assert_int_equal(l.warnings[0].line, 6);
    assert_int_equal(l.lines, 5);
    assert_true(l.done && l.best == 0.75 && !strcmp(l.best_metric, "ccc") && !l.truncated);
    rt_runlog_free(&l);
    static const struct { const char *text, *msg; } bad[] = {
        {"{\"type\":\"step\",\"step\":1}\n[1,2]\n", "t.jsonl:2: not a JSON object"},
        {"{\"step\":1}\n", "t.jsonl:1: \"type\" is missing or not a string"},
        {"{\"type\":\"epoch\",\"epoch\":1}\n", "t.jsonl:1: \"train_loss\" is missing"},
        {"{\"type\":\"epoch\",\"epoch\":1.5,\"train_loss\":1}\n", "t.jsonl:1: \"epoch\" is not an integer in range"},
        {"{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":\"x\"}\n", "t.jsonl:1: \"train_loss\" is not a number"},
        {"{\"type\":\"monitor\",\"step\":1,\"terms\":{}}\n", "t.jsonl:1: \"terms\" is missing or not an array"},
        {"{\"type\":\"monitor\",\"step\":1,\"terms\":[{\"name\":\"a\",\"loss_share\":1}]}\n",
         "t.jsonl:1: \"grad_share\" is missing"},
        {"{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":1,\"warnings\":[3]}\n",
         "t.jsonl:1: \"warnings\" holds a value that is not a string"},
        {"{\"type\":\"step\",\"step\":1} trailing\n", "t.jsonl:1: not a JSON object"},
        {"{\"type\":\"step\",\"step\":1\n{\"type\":\"step\",\"step\":2}", "t.jsonl:1: not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rt_runlog_parse(&l, bad[i].text, strlen(bad[i].text), "t.jsonl"), RT_ERR_FORMAT);
        if (strcmp(rt_errmsg(), bad[i].msg)) fail_msg("case %zu: got \"%s\", want \"%s\"", i, rt_errmsg(), bad[i].msg);
    }
    /* a cut-short last line (no newline) is left out; with a newline it is an error */
    static const char cut[] = "{\"type\":\"step\",\"step\":1}\n{\"type\":\"ep";
    assert_int_equal(rt_runlog_parse(&l, cut, sizeof cut - 1, "t.jsonl"), RT_OK);
    assert_true(l.truncated && l.n_steps == 1 && l.lines == 1);
    rt_runlog_free(&l);
    static const char cut_nl[] = "{\"type\":\"step\",\"step\":1}\n{\"type\":\"ep\n";
    assert_int_equal(rt_runlog_parse(&l, cut_nl, sizeof cut_nl - 1, "t.jsonl"), RT_ERR_FORMAT);
}

/* ---- SVG and escaping ---- */

static void test_svg(void **state)
{
    (void)state;
    double x[] = {0, 1e3, NAN, 1e5, 1e6, INFINITY}, y[] = {0.5, 0.6, 0.7, NAN, 0.9, 1};
    bool mark[] = {true, true, false, false, true, true};
    const char *labels[] = {"zero <x>", "a & b", "c", "d", "e \"q\"", "f"};
    rt_svg_series s = {.name = "pts <&>", .x = x, .y = y, .n = 6, .mark = mark, .labels = labels};
    for (int logx = 0; logx < 2; logx++) {
        rt_svg_plot p = {.title = "t < 1 & 'q'", .xlabel = "bytes", .ylabel = "acc", .logx = logx, .ypct = true,
                         .series = &s, .n_series = 1};
        rt_sb o = {0};
        rt_svg_render(&o, &p);
        assert_false(o.oom);
        check_svg(o.s, o.len);
        must_contain(o.s, "t &lt; 1 &amp; &#39;q&#39;");
        must_contain(o.s, "pts &lt;&amp;&gt;");
        /* x = 0 has no place on a log axis: left out there, drawn on a linear one */
        assert_true((strstr(o.s, "zero &lt;x&gt;") != NULL) == !logx);
        rt_sb_free(&o);
    }
    rt_svg_plot empty = {.title = "nothing", .series = &s, .n_series = 0};
    rt_sb o = {0};
    rt_svg_render(&o, &empty);
    check_svg(o.s, o.len);
    must_contain(o.s, "no data");
    rt_sb_free(&o);
    /* one point: a range around it, no division by zero */
    double one = 5;
    rt_svg_series s1 = {.x = &one, .y = &one, .n = 1};
    rt_svg_plot p1 = {.series = &s1, .n_series = 1, .logx = true};
    rt_svg_render(&o, &p1);
    check_svg(o.s, o.len);
    rt_sb_free(&o);
}

static void test_escape(void **state)
{
    (void)state;
    rt_sb b = {0};
    rt_sb_md(&b, "a|b *c* _d_ <e> [f](g) `h` \\ & # ~ \n\x01 caf\xC3\xA9 \xFF\xC3");
    assert_string_equal(b.s, "a\\|b \\*c\\* \\_d\\_ \\<e\\> \\[f\\](g) \\`h\\` \\\\ \\& \\# \\~    caf\xC3\xA9 "
                             "\xEF\xBF\xBD\xEF\xBF\xBD");
    rt_sb_free(&b);
    rt_sb_xml(&b, "<a href=\"x\">'&'</a>\x02\xED\xA0\x80");
    assert_string_equal(b.s, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt; \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    rt_sb_free(&b);
    char n[32];
    assert_string_equal(rt_fmt_int(n, sizeof n, 1234567), "1,234,567");
    assert_string_equal(rt_fmt_int(n, sizeof n, -999), "-999");
    assert_string_equal(rt_fmt_int(n, sizeof n, 1000), "1,000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_numbers),
        cmocka_unit_test(test_pareto),
        cmocka_unit_test(test_html_self_contained),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_json_out),
        cmocka_unit_test(test_corrupt_log_fails_cleanly),
        cmocka_unit_test(test_bad_distill_json),
        cmocka_unit_test(test_truncated_last_line),
        cmocka_unit_test(test_missing_dir_and_left_out_sections),
        cmocka_unit_test(test_runlog),
        cmocka_unit_test(test_svg),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, setup, tu_tmpdir_teardown);
}
