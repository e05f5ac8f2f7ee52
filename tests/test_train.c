/*
 * test_train.c - the training loop (src/train/train.c) end to end on a tiny
 * model and data set written by the test:
 *  - two runs of one recipe give bit-identical weights;
 *  - a run killed with SIGKILL in the middle of an epoch (RETORT_TEST_KILL_AT_STEP)
 *    and resumed gives the same final weights, bit for bit, as the run that was
 *    never stopped (dropout, a partial last batch and AdamW state included);
 *  - a non-finite loss stops the run naming the node, the checkpoint stays;
 *  - bad recipes and run directories: one clear error, nothing overwritten.
 */
#include "testutil.h"

#include "io/fileio.h"
#include "io/npy.h"
#include "core/rng.h"
#include "models/model.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Two Gaussian blobs in 6-D, 203 samples (batch 16: a partial last batch of 11). */
static void write_data(void)
{
    enum { N = 203, D = 6 };
    float x[N * D], y[N];
    for (int i = 0; i < N; i++) {
        y[i] = (float)(i % 3 == 0);
        for (int j = 0; j < D; j++)
            x[i * D + j] = (y[i] > 0 ? 0.8f : -0.8f) * (j % 2 ? 1.f : -1.f) + rt_rng_normal(5, 0, 0, (uint64_t)(i * D + j));
    }
    assert_int_equal(rt_npy_write_f32(tu_tmp("x.npy"), x, 2, (int64_t[]){N, D}), RT_OK);
    assert_int_equal(rt_npy_write_f32(tu_tmp("y.npy"), y, 1, (int64_t[]){N}), RT_OK);
    FILE *f = fopen(tu_tmp("model.json"), "w");
    fputs("{\"arch\": \"mlp\", \"name\": \"blobs\", \"input\": [6], \"num_outputs\": 2, \"hidden\": [16, 8],"
          " \"activation\": \"gelu\", \"dropout\": 0.2}\n", f);
    fclose(f);
    f = fopen(tu_tmp("recipe.json"), "w");
    fprintf(f,
            "{\"name\": \"blobs\", \"model\": \"%s\",\n"
            " \"data\": {\"train\": \"npy:%s,%s\", \"val\": \"npy:%s,%s\", \"batch\": 16},\n"
            " \"loss\": {\"name\": \"cross_entropy\", \"label_smoothing\": 0.1},\n"
            " \"optim\": {\"name\": \"adamw\", \"lr\": 0.01, \"weight_decay\": 0.05},\n"
            " \"schedule\": {\"name\": \"cosine\", \"warmup_epochs\": 0.5},\n"
            " \"epochs\": 3, \"seed\": 7, \"log_every\": 5, \"checkpoint_every\": 4}\n",
            tu_tmp("model.json"), tu_tmp("x.npy"), tu_tmp("y.npy"), tu_tmp("x.npy"), tu_tmp("y.npy"));
    fclose(f);
}

static int setup(void **state)
{
    if (tu_tmpdir_setup(state) != 0) return -1;
    write_data();
    return 0;
}

static void train(const char *out, const char *const *extra, int n_extra, rt_status want, const char *needle)
{
    char set_out[600];
    const char *sets[8];
    snprintf(set_out, sizeof set_out, "out=\"%s\"", out);
    sets[0] = set_out;
    for (int i = 0; i < n_extra; i++) sets[1 + i] = extra[i];
    rt_recipe r;
    if (rt_recipe_load(&r, tu_tmp("recipe.json"), sets, 1 + n_extra) != RT_OK) fail_msg("%s", rt_errmsg());
    rt_train_opts o = {.quiet = true};
    rt_train_result res;
    rt_status s = rt_train_run(&r, &o, &res);
    if (s != RT_OK) printf("    error: %s\n", rt_errmsg());
    if (want == RT_OK && s != RT_OK) fail_msg("training failed: %s", rt_errmsg());
    assert_int_equal(s, want);
    if (needle) assert_non_null(strstr(rt_errmsg(), needle));
    if (s == RT_OK) {
        printf("    %s: %lld steps, final loss %.4f, val accuracy %.4f\n", out, (long long)res.steps, res.final_loss,
               res.val_metric);
        assert_int_equal(res.steps, 3 * 13);
        assert_true(res.val_metric > 0.9);
    }
    rt_recipe_free(&r);
}

static void test_deterministic(void **state)
{
    (void)state;
    train(tu_tmp("run-a"), NULL, 0, RT_OK, NULL);
    train(tu_tmp("run-b"), NULL, 0, RT_OK, NULL);
    tu_same_file(tu_tmp("run-a/model.safetensors"), tu_tmp("run-b/model.safetensors"));
    tu_same_file(tu_tmp("run-a/best.safetensors"), tu_tmp("run-b/best.safetensors"));
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    tu_need_cli();
    char args[1600], line[512];
    int lines;
    /* 13 steps an epoch: step 21 is in the middle of epoch 2, after the checkpoint of step 20 */
    snprintf(args, sizeof args, "train '%s' --out '%s' --quiet", tu_tmp("recipe.json"), tu_tmp("run-k"));
    setenv("RETORT_TEST_KILL_AT_STEP", "23", 1);
    int rc = tu_run_cli(args, &lines, line, sizeof line);
    unsetenv("RETORT_TEST_KILL_AT_STEP");
    printf("    killed run: exit status %d\n", rc);
    assert_int_not_equal(rc, 0);
    assert_int_not_equal(access(tu_tmp("run-k/checkpoint.safetensors"), F_OK), -1);
    /* without --resume the directory is refused; with it the run continues */
    tu_expect_cli_failure(args, 1, NULL, "already holds a run");
    snprintf(args, sizeof args, "train '%s' --out '%s' --quiet --resume", tu_tmp("recipe.json"), tu_tmp("run-k"));
    assert_int_equal(tu_run_cli(args, &lines, line, sizeof line), 0);
    if (access(tu_tmp("run-a/model.safetensors"), F_OK)) train(tu_tmp("run-a"), NULL, 0, RT_OK, NULL);
    tu_same_file(tu_tmp("run-a/model.safetensors"), tu_tmp("run-k/model.safetensors"));
    tu_same_file(tu_tmp("run-a/best.safetensors"), tu_tmp("run-k/best.safetensors"));
    /* the log was cut back to the checkpoint: as many step lines as the straight run */
    uint8_t *la, *lk;
    size_t na, nk;
    assert_int_equal(rt_read_file(tu_tmp("run-a/log.jsonl"), 1 << 20, &la, &na), RT_OK);
    assert_int_equal(rt_read_file(tu_tmp("run-k/log.jsonl"), 1 << 20, &lk, &nk), RT_OK);
    int ca = 0, ck = 0;
    for (size_t i = 0; i < na; i++) ca += la[i] == '\n';
    for (size_t i = 0; i < nk; i++) ck += lk[i] == '\n';
    assert_int_equal(ca, ck);
    free(la);
    free(lk);
    /* a resume under another recipe is refused */
    snprintf(args, sizeof args, "train '%s' --out '%s' --resume --set optim.lr=0.5", tu_tmp("recipe.json"),
             tu_tmp("run-k"));
    tu_expect_cli_failure(args, 1, NULL, "different recipe");
}

static void test_nonfinite(void **state)
{
    (void)state;
    static const char *const huge[] = {"optim.name=sgd", "optim.lr=1e9", "checkpoint_every=1"};
    train(tu_tmp("run-nan"), huge, 3, RT_ERR_NONFINITE, "non-finite");
    assert_non_null(strstr(rt_errmsg(), "first non-finite value in"));
    /* the last good checkpoint (step 3, the step the error names) is there and loads as a model */
    assert_non_null(strstr(rt_errmsg(), "step 3:"));
    rt_model *m;
    rt_safetensors st;
    assert_int_equal(rt_st_open(&st, tu_tmp("run-nan/checkpoint.safetensors")), RT_OK);
    assert_string_equal(rt_st_meta_get(&st, "kind"), "checkpoint");
    assert_string_equal(rt_st_meta_get(&st, "step"), "3");
    rt_st_close(&st);
    assert_int_equal(rt_model_open(&m, tu_tmp("run-nan/checkpoint.safetensors"), 0), RT_OK);
    rt_model_free(m);
}

static void test_bad_recipes(void **state)
{
    (void)state;
    static const char *const opt[] = {"optim.name=lamb"};
    static const char *const model[] = {"model=/nonexistent/model.json"};
    static const char *const data[] = {"data.train=npy:/nonexistent/x.npy,/nonexistent/y.npy"};
    static const char *const field[] = {"optim.momentun=0.9"};
    rt_recipe r;
    char set_out[600];
    snprintf(set_out, sizeof set_out, "out=\"%s\"", tu_tmp("run-bad"));
    const char *sets[2] = {set_out, opt[0]};
    assert_int_not_equal(rt_recipe_load(&r, tu_tmp("recipe.json"), sets, 2), RT_OK);
    printf("    error: %s\n", rt_errmsg());
    assert_non_null(strstr(rt_errmsg(), "field 'optim.name'"));
    sets[1] = field[0];
    assert_int_not_equal(rt_recipe_load(&r, tu_tmp("recipe.json"), sets, 2), RT_OK);
    assert_non_null(strstr(rt_errmsg(), "field 'optim.momentun': unknown field"));
    train(tu_tmp("run-bad"), model, 1, RT_ERR_IO, "/nonexistent/model.json");
    train(tu_tmp("run-bad"), data, 1, RT_ERR_IO, "/nonexistent/x.npy");
    /* nothing that looks like a run was left behind */
    assert_int_not_equal(access(tu_tmp("run-bad/recipe.json"), F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_bad_recipes),
    };
    return cmocka_run_group_tests(tests, setup, tu_tmpdir_teardown);
}
