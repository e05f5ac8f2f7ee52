/*
 * test_music.c - the music-emotion pipeline's data script and models:
 *   - scripts/music_emotion_data.sh refuses a missing data directory (exit 1,
 *     one line naming it) and a bad window length (exit 2), always;
 *   - on ../shared/data/music_emotion (skipped with a message when it, the
 *     retort binary or a Python with NumPy is absent) it writes the four npy
 *     sets with the documented counts (song split 488 / 122, time split
 *     410 / 150), x (1, 128, 128) in [-1, 1], y = [valence, arousal] of the
 *     rated frame (song 2 at 15.0 s checked against the ratings file);
 *   - the shipped configs build with the parameter counts docs/audio.md gives.
 */
#include "testutil.h"

#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MUSIC "../shared/data/music_emotion"

static void test_script_errors(void **state)
{
    (void)state;
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "RETORT=/bin/true sh scripts/music_emotion_data.sh %s/nowhere %s/m 2>%s",
             tu_tmpdir(), tu_tmpdir(), tu_tmp("err1"));
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    snprintf(cmd, sizeof cmd, "grep -q 'nowhere/audio: not found' %s", tu_tmp("err1"));
    assert_int_equal(system(cmd), 0);
    if (access(MUSIC "/audio", F_OK) != 0) return; /* the W check runs after the data check */
    snprintf(cmd, sizeof cmd, "RETORT=/bin/true sh scripts/music_emotion_data.sh %s %s/m 12x 2>/dev/null", MUSIC,
             tu_tmpdir());
    st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
}

static bool have_numpy(void)
{
    return system("python3 -c 'import numpy' 2>/dev/null") == 0 ||
           system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0;
}

static void open_set(rt_dataset *ds, const char *dir, const char *name)
{
    char spec[1600];
    snprintf(spec, sizeof spec, "npy:%s/%s_x.npy,%s/%s_y.npy", dir, name, dir, name);
    if (rt_dataset_open(ds, spec) != RT_OK) fail_msg("%s: %s", spec, rt_errmsg());
}

static void test_script_on_shared_data(void **state)
{
    (void)state;
    const char *bin = getenv("RETORT_BIN");
    if (access(MUSIC "/audio", F_OK) != 0) {
        printf("    SKIP: %s is absent (see ../shared/data/README.md)\n", MUSIC);
        skip();
    }
    if (!bin) {
        printf("    SKIP: RETORT_BIN not set (run through make test)\n");
        skip();
    }
    if (!have_numpy()) {
        printf("    SKIP: no Python 3 with NumPy (Debian: python3-numpy)\n");
        skip();
    }
    char dir[700], cmd[1600];
    snprintf(dir, sizeof dir, "%s/music", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "RETORT='%s' sh scripts/music_emotion_data.sh %s %s > /dev/null", bin, MUSIC, dir);
    if (system(cmd) != 0) fail_msg("%s failed", cmd);

    static const struct { const char *name; int64_t n; } sets[] = {
        {"song_train", 488}, {"song_test", 122}, {"time_train", 410}, {"time_test", 150}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        rt_dataset ds;
        open_set(&ds, dir, sets[i].name);
        assert_int_equal(ds.n, sets[i].n);
        assert_int_equal(ds.x_ndim, 3);
        assert_int_equal(ds.x_shape[0], 1);
        assert_int_equal(ds.x_shape[1], 128);
        assert_int_equal(ds.x_shape[2], 128);
        assert_int_equal(ds.y_size, 2);
        float lo = 1e30f, hi = -1e30f;
        for (int64_t j = 0; j < ds.n * ds.x_size; j++) {
            lo = ds.x[j] < lo ? ds.x[j] : lo;
            hi = ds.x[j] > hi ? ds.x[j] : hi;
        }
        assert_true(lo >= -1.0f && hi <= 1.0f && hi > lo);
        if (!strcmp(sets[i].name, "time_train")) {
            /* row 0: song 2 rated at 15000 ms (songs in numeric order) */
            assert_float_equal(ds.y[0], -0.0733412307857912, 1e-6);
            assert_float_equal(ds.y[1], -0.109387732373192, 1e-6);
        }
        rt_dataset_free(&ds);
    }
}

static void test_configs(void **state)
{
    (void)state;
    tu_need_cli();
    static const struct { const char *path; double params; } cfg[] = {
        {"configs/emotion-vit-teacher.json", 580162}, {"configs/emotion-mobilevit-student.json", 43220}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        char args[300];
        snprintf(args, sizeof args, "summary %s --json", cfg[i].path);
        cJSON *o = tu_run_cli_json(args);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "total");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(t, "params");
        assert_true(cJSON_IsNumber(p));
        assert_float_equal(p->valuedouble, cfg[i].params, 0.5);
        cJSON_Delete(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_errors),
        cmocka_unit_test(test_configs),
        cmocka_unit_test(test_script_on_shared_data),
    };
    return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
