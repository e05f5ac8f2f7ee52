/*
 * test_cli_models.c - `retort summary`, `compare` and `init` end to end
 * through the binary ($RETORT_BIN): JSON figures equal the library's, init
 * writes a loadable model that summarises the same, and bad input gives one
 * error line, the documented exit code and no file left behind.
 */
#include "testutil.h"

#include "models/model.h"
#include "report/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *tmp_model(void)
{
    static char p[512];
    const char *dir = getenv("TMPDIR");
    snprintf(p, sizeof p, "%s/retort-cli-models-%d.safetensors", dir && *dir ? dir : "/tmp", (int)getpid());
    return p;
}

static double num_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    assert_non_null(x);
    return x->valuedouble;
}

static void test_summary_json(void **state)
{
    (void)state;
    tu_need_cli();
    cJSON *j = tu_run_cli_json("summary configs/mobilevit-xs-emotion.json --json --batch 2 --depth 1");
    rt_model *m;
    assert_int_equal(rt_model_from_file(&m, "configs/mobilevit-xs-emotion.json"), RT_OK);
    rt_summary s;
    assert_int_equal(rt_summary_build(&s, m, 2), RT_OK);
    assert_int_equal((int64_t)num_at(j, "total", "params"), s.total.params);
    assert_int_equal((int64_t)num_at(j, "total", "macs_per_sample"), s.total.macs);
    assert_int_equal((size_t)num_at(j, "memory_bytes", "training_activations"), s.train_act_bytes);
    assert_int_equal((int64_t)num_at(j, "batch", NULL), 2);
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(j, "modules"), *e;
    int64_t sum = 0;
    cJSON_ArrayForEach(e, mods)
    {
        assert_int_equal((int)num_at(e, "depth", NULL), 1);
        sum += (int64_t)num_at(e, "params", NULL);
    }
    assert_int_equal(sum, s.total.params);
    rt_summary_free(&s);
    rt_model_free(m);
    cJSON_Delete(j);
}

static void test_init_then_summary(void **state)
{
    (void)state;
    tu_need_cli();
    char args[1024];
    int lines;
    char line[512];
    unlink(tmp_model());
    snprintf(args, sizeof args, "init configs/fmnist-teacher.json --seed 3 -o '%s'", tmp_model());
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    char *said = tu_cli_stdout(); /* "<file>: fmnist-teacher (N parameters, seed 3)", N as summary counts */
    rt_model *a, *b;
    assert_int_equal(rt_model_load(&a, tmp_model()), RT_OK);
    assert_int_equal(rt_model_from_file(&b, "configs/fmnist-teacher.json"), RT_OK);
    rt_model_init(b, 3);
    assert_memory_equal(a->params->data, b->params->data, a->params->numel * sizeof(float));
    rt_model_free(a);
    rt_model_free(b);
    snprintf(args, sizeof args, "summary '%s' --json", tmp_model());
    cJSON *from_file = tu_run_cli_json(args), *from_cfg = tu_run_cli_json("summary configs/fmnist-teacher.json --json");
    assert_int_equal((int64_t)num_at(from_file, "total", "params"), (int64_t)num_at(from_cfg, "total", "params"));
    char want[64];
    snprintf(want, sizeof want, "(%lld parameters, seed 3)", (long long)num_at(from_cfg, "total", "params"));
    if (!strstr(said, want)) fail_msg("init said '%s', summary counts '%s'", said, want);
    free(said);
    assert_int_equal((int64_t)num_at(from_file, "total", "macs_per_sample"),
                     (int64_t)num_at(from_cfg, "total", "macs_per_sample"));
    cJSON_Delete(from_file);
    cJSON_Delete(from_cfg);
    cJSON *c = tu_run_cli_json("compare configs/vit-base-emotion.json configs/mobilevit-s-emotion.json --json");
    double r = num_at(c, "ratios_a_over_b", "params");
    assert_true(r > 7.19 && r < 7.21); /* 86,259,842 / 11,987,144 */
    cJSON_Delete(c);
    unlink(tmp_model());
}

static void test_bad_input(void **state)
{
    (void)state;
    tu_need_cli();
    char args[1024];
    tu_expect_cli_failure("summary tests/fixtures/bad/unknown-field.json", 1, NULL,
                          "tests/fixtures/bad/unknown-field.json: field 'hiden': unknown field");
    tu_expect_cli_failure("summary configs/absent.json", 1, NULL, "configs/absent.json");
    tu_expect_cli_failure("summary configs/fmnist-student.json --batch 0", 2, NULL, "--batch");
    tu_expect_cli_failure("summary configs/fmnist-student.json --frobnicate", 2, NULL, "--frobnicate");
    tu_expect_cli_failure("compare configs/fmnist-student.json", 2, NULL, "expected 2 files");
    tu_expect_cli_failure("compare configs/fmnist-student.json tests/fixtures/bad/vit-heads.json", 1, NULL,
                          "field 'heads'");
    /* a file that is neither JSON nor a model */
    tu_expect_cli_failure("summary tests/fixtures/ops_act.safetensors", 1, NULL, "format_version");
    snprintf(args, sizeof args, "init tests/fixtures/bad/negative-size.json -o '%s'", tmp_model());
    tu_expect_cli_failure(args, 1, tmp_model(), "field 'hidden'");
    tu_expect_cli_failure("init configs/fmnist-student.json -o /nonexistent-dir/m.safetensors", 1,
                          "/nonexistent-dir/m.safetensors", "/nonexistent-dir/m.safetensors");
    snprintf(args, sizeof args, "init configs/fmnist-student.json --seed -4 -o '%s'", tmp_model());
    tu_expect_cli_failure(args, 2, tmp_model(), "--seed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_json),
        cmocka_unit_test(test_init_then_summary),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
