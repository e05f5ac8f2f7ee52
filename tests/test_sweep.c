/*
 * test_sweep.c - `retort sweep` (src/quant/sweep.h) end to end: two small
 * models made with `retort init` and a tiny npy dataset written here; every
 * row's bytes equal `retort summary`'s count, `retort quantize`'s and the
 * kept file's data area; parameters equal summary's; FP32 metrics equal
 * `retort eval`'s and quantized metrics `retort eval` of the kept files;
 * compression against the first FP32 row (1.0 on it) and changes against
 * the same model's FP32 row; the table; no file left without -o; and one
 * error line, an exit code and nothing written for each kind of bad input.
 * Reconstruction (two conv VAEs, widest latent first, as the users' latent
 * x bits table): recon_mse, lower is better, the same checks against
 * summary/eval, results independent of the evaluation batch size (eval
 * runs z = mu: a sampled z would change with the batching), and the
 * sweep.json / sweep.md files -o writes.
 */
#include "testutil.h"

#include "io/npy.h"
#include "io/safetensors.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* big: fc1 (64, 64) and fc2 (32, 64) q4 at 4 bits, head FP32; small: fc1 (16, 64) q4, head FP32 */
static const char cfg_big[] = "{\"arch\": \"mlp\", \"name\": \"sw-big\", \"input\": [64], \"task\": \"classification\","
                              " \"num_outputs\": 4, \"hidden\": [64, 32], \"activation\": \"gelu\"}";
static const char cfg_small[] = "{\"arch\": \"mlp\", \"name\": \"sw-small\", \"input\": [64], \"task\": "
                                "\"classification\", \"num_outputs\": 4, \"hidden\": [16], \"activation\": \"relu\"}";
static const char cfg_vae[] = "{\"arch\": \"vae\", \"name\": \"sw-vae\", \"input\": [64], \"task\": \"reconstruction\","
                              " \"variant\": \"linear\", \"hidden\": [16], \"latent\": 4, \"activation\": \"gelu\"}";

/* conv VAEs on 1x8x8 images: encoder.blocks.1, fc_mu/fc_logvar and decoder.blocks.0 q4 at 4 bits; the
 * 16-wide encoder.blocks.0 and decoder.fc (rows of `latent`) int8; decoder.blocks.1 (the final layer) FP32 */
#define CFG_CVAE(name, latent)                                                                                 \
    "{\"arch\": \"vae\", \"name\": \"" name "\", \"input\": [1, 8, 8], \"task\": \"reconstruction\", "     \
    "\"variant\": \"conv\", \"channels\": [16, 32], \"kernel\": 4, \"batch_norm\": true, \"latent\": " latent "}"
static const char cfg_cvae8[] = CFG_CVAE("sw-cvae-8", "8"), cfg_cvae2[] = CFG_CVAE("sw-cvae-2", "2");

enum { N = 40, D = 64 };
static char data[1024], data_narrow[1024], data_img[1024];
static const char *big, *small, *vae, *cvae8, *cvae2;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Run the CLI, which must succeed. */
static void run_ok(const char *args)
{
    int lines;
    char first[512];
    if (tu_run_cli(args, &lines, first, sizeof first) != 0) fail_msg("retort %s failed: %s", args, first);
}

static const char *init_model(const char *cfg, const char *name)
{
    char cpath[512], args[2048];
    snprintf(cpath, sizeof cpath, "%s.json", tu_tmp(name));
    write_text(cpath, cfg);
    const char *out = strdup(tu_tmp(name));
    snprintf(args, sizeof args, "init '%s' -o '%s' --seed 3", cpath, out);
    run_ok(args);
    return out;
}

/* x (N, D) and x (N, D / 2) of smooth values, labels i % 4, as npy files. */
static void write_data(void)
{
    static float x[N * D], y[N];
    for (int i = 0; i < N * D; i++) x[i] = cosf((float)i * 0.37f) + 0.1f * sinf((float)i * 0.013f);
    for (int i = 0; i < N; i++) y[i] = (float)(i % 4);
    const int64_t xs[2] = {N, D}, xn[2] = {N, D / 2}, ys[1] = {N};
    assert_int_equal(rt_npy_write_f32(tu_tmp("x.npy"), x, 2, xs), RT_OK);
    assert_int_equal(rt_npy_write_f32(tu_tmp("xn.npy"), x, 2, xn), RT_OK);
    assert_int_equal(rt_npy_write_f32(tu_tmp("y.npy"), y, 1, ys), RT_OK);
    snprintf(data, sizeof data, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y.npy"));
    snprintf(data_narrow, sizeof data_narrow, "npy:%s,%s", tu_tmp("xn.npy"), tu_tmp("y.npy"));
    /* the same values as N images of 1x8x8 in [0, 1] */
    static float img[N * D];
    for (int i = 0; i < N * D; i++) img[i] = 0.5f + 0.45f * x[i] / 1.1f;
    const int64_t is[4] = {N, 1, 8, 8};
    assert_int_equal(rt_npy_write_f32(tu_tmp("img.npy"), img, 4, is), RT_OK);
    snprintf(data_img, sizeof data_img, "npy:%s,%s", tu_tmp("img.npy"), tu_tmp("y.npy"));
}

static int setup(void **state)
{
    if (tu_tmpdir_setup(state)) return -1;
    if (!getenv("RETORT_BIN")) return 0; /* each test skips */
    write_data();
    big = init_model(cfg_big, "big.safetensors");
    small = init_model(cfg_small, "small.safetensors");
    vae = init_model(cfg_vae, "vae.safetensors");
    cvae8 = init_model(cfg_cvae8, "cvae8.safetensors");
    cvae2 = init_model(cfg_cvae2, "cvae2.safetensors");
    return 0;
}

static int teardown(void **state)
{
    free((char *)big), free((char *)small), free((char *)vae), free((char *)cvae8), free((char *)cvae2);
    return tu_tmpdir_teardown(state);
}

static const cJSON *jget(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (x && b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (x && c) x = cJSON_GetObjectItemCaseSensitive(x, c);
    if (!x) fail_msg("no JSON field %s%s%s%s%s", a, b ? "." : "", b ? b : "", c ? "." : "", c ? c : "");
    return x;
}
static double jnum(const cJSON *o, const char *a, const char *b, const char *c) { return jget(o, a, b, c)->valuedouble; }

/* `retort eval MODEL --data D --json`'s accuracy. */
static double eval_accuracy(const char *model)
{
    char args[2048];
    snprintf(args, sizeof args, "eval '%s' --data '%s' --json", model, data);
    cJSON *e = tu_run_cli_json(args);
    double v = jnum(e, "metrics", "accuracy", NULL);
    cJSON_Delete(e);
    return v;
}

static void test_sweep_json(void **state)
{
    (void)state;
    tu_need_cli();
    char args[4096];
    const char *dir = tu_tmp("kept");
    snprintf(args, sizeof args, "sweep '%s' '%s' --data '%s' --bits 32,8,4 -o '%s' --json", big, small, data, dir);
    cJSON *j = tu_run_cli_json(args);
    assert_string_equal(jget(j, "metric", NULL, NULL)->valuestring, "accuracy");
    assert_true(jnum(j, "samples", NULL, NULL) == N);
    const cJSON *rows = jget(j, "rows", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(rows), 6);
    const char *models[2] = {big, small};
    static const int bits[3] = {32, 8, 4};
    static const char *prec[3] = {"fp32", "int8", "int4"};
    double ref_bytes = 0;
    for (int mi = 0; mi < 2; mi++) {
        snprintf(args, sizeof args, "summary '%s' --json", models[mi]);
        cJSON *sum = tu_run_cli_json(args);
        double fp32_metric = eval_accuracy(models[mi]), fp32_bytes = jnum(sum, "total", "bytes", "fp32");
        if (mi == 0) ref_bytes = fp32_bytes;
        for (int b = 0; b < 3; b++) {
            const cJSON *r = cJSON_GetArrayItem(rows, mi * 3 + b);
            double bytes = jnum(r, "bytes", NULL, NULL), metric = jnum(r, "metric", NULL, NULL);
            printf("    %-8s %2d bits: %6.0f bytes (summary %.0f), %.3fx, accuracy %.3f (%+.3f)\n",
                   jget(r, "name", NULL, NULL)->valuestring, bits[b], bytes,
                   jnum(sum, "total", "bytes", prec[b]), jnum(r, "compression", NULL, NULL), metric,
                   jnum(r, "change", NULL, NULL));
            assert_string_equal(jget(r, "model", NULL, NULL)->valuestring, models[mi]);
            assert_true(jnum(r, "bits", NULL, NULL) == bits[b]);
            assert_true(jnum(r, "params", NULL, NULL) == jnum(sum, "total", "params", NULL));
            assert_true(bytes == jnum(sum, "total", "bytes", prec[b]));
            assert_true(jnum(r, "compression", NULL, NULL) == ref_bytes / bytes);
            assert_true(jnum(r, "change", NULL, NULL) == metric - fp32_metric);
            if (bits[b] == 32) {
                assert_true(metric == fp32_metric);
                assert_true(jnum(r, "change", NULL, NULL) == 0);
                assert_null(cJSON_GetObjectItemCaseSensitive(r, "file"));
                continue;
            }
            /* the kept file: its data area, quantize's count and eval's metric */
            const char *file = jget(r, "file", NULL, NULL)->valuestring;
            rt_safetensors f;
            assert_int_equal(rt_st_open(&f, file), RT_OK);
            assert_true(bytes == (double)f.data_len);
            rt_st_close(&f);
            assert_true(metric == eval_accuracy(file));
            snprintf(args, sizeof args, "quantize '%s' --bits %d -o '%s' --json", models[mi], bits[b],
                     tu_tmp("q.safetensors"));
            cJSON *q = tu_run_cli_json(args);
            assert_true(bytes == jnum(q, "bytes", NULL, NULL));
            cJSON_Delete(q);
        }
        cJSON_Delete(sum);
    }
    /* the first FP32 row is the reference; int4 really is smaller than int8 here */
    assert_true(jnum(cJSON_GetArrayItem(rows, 0), "compression", NULL, NULL) == 1.0);
    assert_true(jnum(cJSON_GetArrayItem(rows, 2), "bytes", NULL, NULL) <
                jnum(cJSON_GetArrayItem(rows, 1), "bytes", NULL, NULL));
    cJSON_Delete(j);

    /* the order of --bits is the order of the rows; 32 left out still gives changes against FP32 */
    snprintf(args, sizeof args, "sweep '%s' --data '%s' --bits 4 --json", small, data);
    j = tu_run_cli_json(args);
    rows = jget(j, "rows", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(rows), 1);
    const cJSON *r = cJSON_GetArrayItem(rows, 0);
    assert_true(jnum(r, "bits", NULL, NULL) == 4);
    assert_true(jnum(r, "change", NULL, NULL) == jnum(r, "metric", NULL, NULL) - eval_accuracy(small));
    cJSON_Delete(j);
}

/* `retort eval MODEL --data D --batch 7 --json`'s metric `name` (the batch size test_sweep_vae sweeps with). */
static double eval_metric(const char *model, const char *spec, const char *name)
{
    char args[2048];
    snprintf(args, sizeof args, "eval '%s' --data '%s' --batch 7 --json", model, spec);
    cJSON *e = tu_run_cli_json(args);
    double v = jnum(e, "metrics", name, NULL);
    cJSON_Delete(e);
    return v;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s: cannot open", path);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

/* a == b up to cJSON's printing (%.15g when that reads back within DBL_EPSILON relative), scale |a| or more */
static bool near(double a, double b, double scale)
{
    return fabs(a - b) <= 4 * DBL_EPSILON * fmax(scale, fmax(fabs(a), fabs(b)));
}

/* Two conv VAEs, widest latent first: the compound table of latent x bits. */
static void test_sweep_vae(void **state)
{
    (void)state;
    tu_need_cli();
    char args[4096];
    const char *dir = tu_tmp("vae-kept");
    snprintf(args, sizeof args, "sweep '%s' '%s' --data '%s' -o '%s' --json --batch 7", cvae8, cvae2, data_img, dir);
    cJSON *j = tu_run_cli_json(args);
    char *stdout_json = cJSON_Print(j);
    assert_string_equal(jget(j, "metric", NULL, NULL)->valuestring, "recon_mse");
    assert_true(cJSON_IsFalse(jget(j, "higher_is_better", NULL, NULL)));
    const cJSON *rows = jget(j, "rows", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(rows), 6);
    const char *models[2] = {cvae8, cvae2};
    static const char *prec[3] = {"fp32", "int8", "int4"};
    double ref_bytes = 0;
    for (int mi = 0; mi < 2; mi++) {
        snprintf(args, sizeof args, "summary '%s' --json", models[mi]);
        cJSON *sum = tu_run_cli_json(args);
        double fp32 = eval_metric(models[mi], data_img, "recon_mse");
        if (mi == 0) ref_bytes = jnum(sum, "total", "bytes", "fp32");
        for (int b = 0; b < 3; b++) {
            const cJSON *r = cJSON_GetArrayItem(rows, mi * 3 + b);
            double bytes = jnum(r, "bytes", NULL, NULL), metric = jnum(r, "metric", NULL, NULL);
            printf("    %-10s %-4s %6.0f bytes, %.3fx, recon_mse %.6f (%+.3g)\n",
                   jget(r, "name", NULL, NULL)->valuestring, prec[b], bytes, jnum(r, "compression", NULL, NULL),
                   metric, jnum(r, "change", NULL, NULL));
            assert_true(bytes == jnum(sum, "total", "bytes", prec[b]));
            assert_true(jnum(r, "params", NULL, NULL) == jnum(sum, "total", "params", NULL));
            assert_true(near(jnum(r, "compression", NULL, NULL), ref_bytes / bytes, 0));
            assert_true(near(jnum(r, "change", NULL, NULL), metric - fp32, fp32));
            assert_true(isfinite(metric) && metric > 0);
            if (b == 0) assert_true(near(metric, fp32, 0));
            else assert_true(near(metric, eval_metric(jget(r, "file", NULL, NULL)->valuestring, data_img, "recon_mse"), 0));
        }
        cJSON_Delete(sum);
    }
    /* the narrow latent is smaller, and INT4 smaller than INT8, so the last row compresses the most */
    for (int i = 1; i < 6; i++) {
        double prev = jnum(cJSON_GetArrayItem(rows, i - 1), "compression", NULL, NULL);
        double cur = jnum(cJSON_GetArrayItem(rows, i), "compression", NULL, NULL);
        if (i != 3) assert_true(cur > prev);
    }
    assert_true(jnum(cJSON_GetArrayItem(rows, 3), "compression", NULL, NULL) > 1);

    /* the files -o writes: sweep.json is what --json printed, sweep.md has a row per model and precision */
    char path[1200];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    char *file_json = read_text(path);
    cJSON *fj = cJSON_Parse(file_json);
    assert_non_null(fj);
    char *file_txt = cJSON_Print(fj);
    assert_string_equal(file_txt, stdout_json);
    snprintf(path, sizeof path, "%s/sweep.md", dir);
    char *md = read_text(path);
    printf("%s", md);
    int bars = 0;
    for (const char *p = md; *p; p++) bars += *p == '\n' && p[1] == '|';
    assert_int_equal(bars, 2 + 6); /* header, separator, rows */
    const char *want[] = {"| model | file | params | bits | bytes | compression | recon_mse | change |",
                          "(lower is better)", "| sw-cvae-2 |", "| int4 |", "| 1.00x |"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(md, want[i])) fail_msg("sweep.md lacks '%s'", want[i]);

    /* another batch size, no -o, Markdown on stdout: the same metrics (deterministic eval, z = mu) */
    snprintf(args, sizeof args, "sweep '%s' '%s' --data '%s' --json --batch 40", cvae8, cvae2, data_img);
    cJSON *j2 = tu_run_cli_json(args);
    double worst = 0;
    for (int i = 0; i < 6; i++) {
        double a = jnum(cJSON_GetArrayItem(rows, i), "metric", NULL, NULL);
        double b = jnum(cJSON_GetArrayItem(jget(j2, "rows", NULL, NULL), i), "metric", NULL, NULL);
        worst = fmax(worst, fabs(a - b) / a);
    }
    printf("    batch 7 vs batch 40: largest relative difference of recon_mse %.2g (tol 1e-6)\n", worst);
    assert_true(worst < 1e-6);
    snprintf(args, sizeof args, "sweep '%s' --data '%s' --markdown --bits 4", cvae8, data_img);
    int lines;
    char first[512];
    assert_int_equal(tu_run_cli(args, &lines, first, sizeof first), 0);
    char *txt = tu_cli_stdout();
    if (!strstr(txt, "| sw-cvae-8 |") || !strstr(txt, "| int4 |")) fail_msg("--markdown:\n%s", txt);
    free(txt);
    cJSON_Delete(j2);
    free(md);
    free(file_txt);
    cJSON_Delete(fj);
    free(file_json);
    free(stdout_json);
    cJSON_Delete(j);
}

/* Entries of dir whose names start with "retort-sweep" (tu_run_cli keeps its own files in $TMPDIR too). */
static int count_sweep_dirs(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += !strncmp(e->d_name, "retort-sweep", 12);
    closedir(d);
    return n;
}

static void test_sweep_table(void **state)
{
    (void)state;
    tu_need_cli();
    char args[4096];
    /* without -o the quantized files live in $TMPDIR only while the sweep runs */
    const char *tmp = tu_tmp("private");
    assert_int_equal(mkdir(tmp, 0700), 0);
    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmp, 1);
    snprintf(args, sizeof args, "sweep '%s' '%s' --data '%s'", small, big, data);
    int lines;
    char first[512];
    int rc = tu_run_cli(args, &lines, first, sizeof first);
    char *txt = tu_cli_stdout(); /* read where $TMPDIR pointed */
    if (old) setenv("TMPDIR", old, 1);
    else unsetenv("TMPDIR");
    free(old);
    if (rc != 0) {
        free(txt);
        fail_msg("retort %s: exit %d: %s", args, rc, first);
    }
    assert_int_equal(count_sweep_dirs(tmp), 0);
    printf("%s", txt);
    const char *want[] = {"model", "params", "bits", "bytes", "compression", "accuracy", "change",
                          "sw-small", "big.safetensors", "fp32", "int8", "int4", "1.00x"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(txt, want[i])) fail_msg("table lacks '%s':\n%s", want[i], txt);
    int n_lines = 0;
    for (const char *p = txt; *p; p++) n_lines += *p == '\n';
    assert_int_equal(n_lines, 2 + 6); /* header lines and one row per model and precision */
    free(txt);
}

static void test_sweep_bad_input(void **state)
{
    (void)state;
    tu_need_cli();
    char args[4096], cfg_path[512], q8[512];
    snprintf(cfg_path, sizeof cfg_path, "%s.json", tu_tmp("big.safetensors"));
    snprintf(q8, sizeof q8, "%s", tu_tmp("big-q8.safetensors"));
    snprintf(args, sizeof args, "quantize '%s' --bits 8 -o '%s'", big, q8);
    run_ok(args);
    const char *dir = tu_tmp("never");
    const struct { const char *second, *opts; int code; const char *needle; } cases[] = {
        {"/nonexistent/m.safetensors", "", 1, "/nonexistent/m.safetensors: cannot open"},
        {cfg_path, "", 1, "a config, not a trained model file"},
        {q8, "", 1, "already quantized"},
        {vae, "", 1, "judged by recon_mse"},
        {small, "--bits 32,16", 2, "--bits"},
        {small, "--bits 8,8", 2, "given twice"},
        {small, "--bits 8,", 2, "--bits"},
        {small, "--batch 0", 2, "--batch"},
        {small, "--frobnicate 1", 2, "unknown option"},
        {small, "--json --markdown", 2, "choose one"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the first model is fine: nothing of it may be written either */
        snprintf(args, sizeof args, "sweep '%s' '%s' --data '%s' %s -o '%s'", big, cases[i].second, data,
                 cases[i].opts, dir);
        tu_expect_cli_failure(args, cases[i].code, dir, cases[i].needle);
    }
    /* data that does not fit, missing data, no data, no model; an output path that is a file */
    snprintf(args, sizeof args, "sweep '%s' '%s' --data '%s' -o '%s'", big, small, data_narrow, dir);
    tu_expect_cli_failure(args, 1, dir, "xn.npy");
    snprintf(args, sizeof args, "sweep '%s' --data npy:/nonexistent/x.npy,/nonexistent/y.npy -o '%s'", big, dir);
    tu_expect_cli_failure(args, 1, dir, "/nonexistent/x.npy");
    snprintf(args, sizeof args, "sweep '%s' -o '%s'", big, dir);
    tu_expect_cli_failure(args, 2, dir, "no data");
    snprintf(args, sizeof args, "sweep --data '%s'", data);
    tu_expect_cli_failure(args, 2, NULL, "no model");
    snprintf(args, sizeof args, "sweep '%s' --data '%s' -o '%s'", big, data, q8);
    tu_expect_cli_failure(args, 1, NULL, "not a directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_json),
        cmocka_unit_test(test_sweep_table),
        cmocka_unit_test(test_sweep_vae),
        cmocka_unit_test(test_sweep_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
