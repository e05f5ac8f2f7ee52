/*
 * test_bench.c - `retort bench` (src/report/bench.c, cli/cmd_bench.c):
 * nearest-rank percentiles, relative figures, the structure and ordering of
 * a measured result in process and through the CLI (two models: a config
 * and a model file), and bad input (a missing file, a file that is not a
 * model, bad options): one error line and a non-zero exit. No assertion
 * depends on how fast anything ran.
 */
#include "testutil.h"

#include "models/model.h"
#include "report/bench.h"

#include <stdio.h>
#include <stdlib.h>

static double num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(x)) fail_msg("field '%s' missing or not a number", k);
    return x->valuedouble;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(x)) fail_msg("field '%s' missing or not a string", k);
    return x->valuestring;
}

static void test_percentile(void **state)
{
    (void)state;
    double v[100];
    for (int i = 0; i < 100; i++) v[i] = i + 1;
    assert_true(rt_bench_percentile(v, 100, 50) == 50);
    assert_true(rt_bench_percentile(v, 100, 90) == 90);
    assert_true(rt_bench_percentile(v, 100, 99) == 99);
    assert_true(rt_bench_percentile(v, 100, 100) == 100);
    assert_true(rt_bench_percentile(v, 1, 99) == 1);
    /* n = 3: ranks ceil(1.5) = 2, ceil(2.7) = 3, ceil(2.97) = 3 */
    assert_true(rt_bench_percentile(v, 3, 50) == 2);
    assert_true(rt_bench_percentile(v, 3, 90) == 3);
    assert_true(rt_bench_percentile(v, 3, 1) == 1);
}

static void test_relate(void **state)
{
    (void)state;
    rt_bench_result r[3] = {{.p50_ms = 10, .throughput = 100, .param_bytes = 4000},
                            {.p50_ms = 5, .throughput = 300, .param_bytes = 1000},
                            {.p50_ms = 20, .throughput = 50, .param_bytes = 8000}};
    rt_bench_relate(r, 3);
    assert_true(r[0].speedup == 1.0 && r[0].throughput_speedup == 1.0 && r[0].size_ratio == 1.0);
    assert_true(r[1].speedup == 2.0 && r[1].throughput_speedup == 3.0 && r[1].size_ratio == 4.0);
    assert_true(r[2].speedup == 0.5 && r[2].throughput_speedup == 0.5 && r[2].size_ratio == 0.5);
}

static void test_options_checked(void **state)
{
    (void)state;
    rt_bench_opts o = rt_bench_defaults();
    assert_true(o.runs >= 50 && o.batch == 32);
    assert_int_equal(rt_bench_check_opts(&o), RT_OK);
    o.runs = 0;
    assert_int_equal(rt_bench_check_opts(&o), RT_ERR_ARG);
    o = rt_bench_defaults();
    o.batch = 0;
    assert_int_equal(rt_bench_check_opts(&o), RT_ERR_ARG);
}

/* In process: fields filled and ordered, counts equal the model's. */
static void test_model_in_process(void **state)
{
    (void)state;
    rt_bench_opts o = rt_bench_defaults();
    o.runs = 20;
    o.warmup = 1;
    o.batch = 3;
    o.batch_runs = 2;
    rt_bench_result r;
    assert_int_equal(rt_bench_model(&r, "configs/cnn-mini.json", &o), RT_OK);
    rt_model *m;
    assert_int_equal(rt_model_from_file(&m, "configs/cnn-mini.json"), RT_OK);
    assert_string_equal(r.name, m->name);
    assert_int_equal(r.params, (int64_t)(m->params->numel + m->params->buf_numel));
    assert_int_equal(r.param_bytes, 4 * r.params);
    rt_model_free(m);
    assert_true(r.load_ms > 0);
    assert_true(r.p50_ms > 0 && r.p50_ms <= r.p90_ms && r.p90_ms <= r.p99_ms);
    assert_true(r.mean_ms > 0 && r.batch_ms > 0);
    assert_true(r.throughput > 0);
    assert_true(r.rss_base > 0 && r.rss_peak >= r.rss_base);
}

/* The isolated run of a model that cannot be read reports the child's error. */
static void test_isolated_error(void **state)
{
    (void)state;
    rt_bench_opts o = rt_bench_defaults();
    rt_bench_result r;
    assert_int_not_equal(rt_bench_model_isolated(&r, "configs/absent-model.json", &o), RT_OK);
    assert_non_null(strstr(rt_errmsg(), "configs/absent-model.json"));
}

static void test_cli_json_two_models(void **state)
{
    (void)state;
    tu_need_cli();
    const char *file = tu_tmp("student.safetensors");
    rt_model *m;
    assert_int_equal(rt_model_from_file(&m, "configs/fmnist-student.json"), RT_OK);
    rt_model_init(m, 3);
    assert_int_equal(rt_model_save(m, file), RT_OK);
    int64_t student_params = (int64_t)(m->params->numel + m->params->buf_numel);
    rt_model_free(m);

    char args[1024];
    snprintf(args, sizeof args,
             "--threads 1 bench configs/cnn-mini.json %s --runs 50 --warmup 2 --batch 4 --batch-runs 2 --json", file);
    cJSON *j = tu_run_cli_json(args);
    assert_int_equal((int)num(j, "threads"), 1);
    assert_int_equal((int)num(j, "runs"), 50);
    assert_int_equal((int)num(j, "batch"), 4);
    assert_non_null(strstr(str(j, "rss_method"), "VmHWM"));
    assert_true(strlen(str(j, "omp_wait_policy")) > 0);
    (void)num(j, "load_average");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models"), *e;
    assert_int_equal(cJSON_GetArraySize(models), 2);
    int i = 0;
    cJSON_ArrayForEach(e, models)
    {
        assert_true(num(e, "load_ms") > 0);
        double p50 = num(e, "p50_ms"), p90 = num(e, "p90_ms"), p99 = num(e, "p99_ms");
        assert_true(p50 > 0 && p50 <= p90 && p90 <= p99);
        assert_true(num(e, "throughput") > 0 && num(e, "batch_ms") > 0);
        assert_true(num(e, "rss_peak_bytes") > 0);
        assert_true(num(e, "param_bytes") == 4 * num(e, "params"));
        assert_true(num(e, "speedup") > 0 && num(e, "throughput_speedup") > 0);
        if (i == 0) {
            assert_string_equal(str(e, "path"), "configs/cnn-mini.json");
            assert_true(num(e, "speedup") == 1.0 && num(e, "throughput_speedup") == 1.0);
            assert_true(num(e, "size_ratio") == 1.0);
            assert_true(num(e, "file_bytes") == 0); /* a config */
        } else {
            assert_string_equal(str(e, "path"), file);
            assert_string_equal(str(e, "name"), "fmnist-student");
            assert_string_equal(str(e, "input"), "1x28x28");
            assert_true((int64_t)num(e, "params") == student_params);
            /* the file holds every value plus a header */
            assert_true(num(e, "file_bytes") > num(e, "param_bytes"));
        }
        i++;
    }
    /* the relative figures are the quotients of the reported ones */
    const cJSON *a = cJSON_GetArrayItem(models, 0), *b = cJSON_GetArrayItem(models, 1);
    assert_float_equal(num(b, "speedup"), num(a, "p50_ms") / num(b, "p50_ms"), 1e-9);
    assert_float_equal(num(b, "throughput_speedup"), num(b, "throughput") / num(a, "throughput"), 1e-9);
    cJSON_Delete(j);
}

static void test_cli_table(void **state)
{
    (void)state;
    tu_need_cli();
    int lines;
    char first[512];
    assert_int_equal(tu_run_cli("bench configs/fmnist-student.json --runs 5 --warmup 0 --batch 2 --batch-runs 1",
                                &lines, first, sizeof first),
                     0);
    char *out = tu_cli_stdout();
    assert_non_null(strstr(out, "p99 ms"));
    assert_non_null(strstr(out, "fmnist-student"));
    assert_non_null(strstr(out, "VmHWM"));
    free(out);
}

static void test_cli_bad_input(void **state)
{
    (void)state;
    tu_need_cli();
    tu_expect_cli_failure("bench configs/absent.json", 1, NULL, "configs/absent.json");
    /* the second model is missing: still one line, naming it */
    tu_expect_cli_failure("bench configs/fmnist-student.json configs/absent.json --runs 1 --batch 1", 1, NULL,
                          "configs/absent.json");
    const char *junk = tu_tmp("junk.safetensors");
    FILE *f = fopen(junk, "wb");
    assert_non_null(f);
    fputs("this is not a model file\n", f);
    fclose(f);
    char args[600];
    snprintf(args, sizeof args, "bench %s", junk);
    tu_expect_cli_failure(args, 1, NULL, junk);
    tu_expect_cli_failure("bench tests/fixtures/bad/unknown-field.json", 1, NULL, "unknown-field.json");
    tu_expect_cli_failure("bench", 2, NULL, "at least one model");
    tu_expect_cli_failure("bench configs/fmnist-student.json --runs 0", 2, NULL, "--runs");
    tu_expect_cli_failure("bench configs/fmnist-student.json --batch x", 2, NULL, "--batch");
    tu_expect_cli_failure("bench configs/fmnist-student.json --frobnicate", 2, NULL, "--frobnicate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),       cmocka_unit_test(test_relate),
        cmocka_unit_test(test_options_checked),  cmocka_unit_test(test_model_in_process),
        cmocka_unit_test(test_isolated_error),   cmocka_unit_test(test_cli_json_two_models),
        cmocka_unit_test(test_cli_table),        cmocka_unit_test(test_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
