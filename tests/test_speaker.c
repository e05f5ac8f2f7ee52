/*
 * test_speaker.c - the speaker-verification pieces and the audio pipelines'
 * scripts:
 *   - trials (train/trials.h): all pairs, cosine scores, trial files and their
 *     errors (line numbers), scoring through rt_eval_model_trials;
 *   - the "aam_softmax" recipe loss: an MLP-Mixer embedding model (mel_first)
 *     trained on generated "speakers" (harmonic tones, one pitch each) from a
 *     manifest with one bad row skipped: the epoch log counts it, the class
 *     weights are checkpointed but left out of the model file, and the
 *     validation EER of the trained model beats chance;
 *   - distillation from a crop manifest runs the teacher on every batch and
 *     refuses a teacher cache;
 *   - scripts/fsdd_manifests.sh and scripts/librispeech_manifests.sh on
 *     ../shared/data (skipped with a message when it is absent).
 */
#include "testutil.h"

#include "core/rng.h"
#include "data/dataset.h"
#include "distill/distill.h"
#include "io/safetensors.h"
#include "metrics/metrics.h"
#include "models/model.h"
#include "train/eval.h"
#include "train/recipe.h"
#include "train/train.h"
#include "train/trials.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEAKERS 3
#define UTTS 6

/* ---- trials ---- */

static void test_all_pairs_and_scores(void **state)
{
    (void)state;
    const int32_t cls[4] = {0, 0, 1, 1};
    const float emb[4 * 2] = {1, 0, 2, 0, 0, 1, 1, 1};
    rt_trials t;
    assert_int_equal(rt_trials_all_pairs(&t, cls, 4), RT_OK);
    assert_int_equal(t.n, 6);
    const int32_t want_target[6] = {1, 0, 0, 0, 0, 1}; /* (0,1) (0,2) (0,3) (1,2) (1,3) (2,3) */
    for (int k = 0; k < 6; k++) assert_int_equal(t.target[k], want_target[k]);
    assert_int_equal(rt_trials_score(&t, emb, 4, 2), RT_OK);
    const float want[6] = {1.f, 0.f, (float)M_SQRT1_2, 0.f, (float)M_SQRT1_2, (float)M_SQRT1_2};
    for (int k = 0; k < 6; k++) assert_true(fabsf(t.score[k] - want[k]) < 1e-6f);
    rt_trials_free(&t);
    const int32_t one[3] = {2, 2, 2};
    assert_int_equal(rt_trials_all_pairs(&t, one, 3), RT_ERR_ARG); /* all targets: no EER */
    assert_non_null(strstr(rt_errmsg(), "all target"));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_trial_file(void **state)
{
    (void)state;
    const char *names[3] = {"a.wav", "b.wav", "c d.wav"};
    char path[600];
    snprintf(path, sizeof path, "%s", tu_tmp("trials.txt"));
    rt_trials t;
    write_file(path, "# comment\n1 a.wav b.wav\n\n0\t#2 a.wav\r\n");
    assert_int_equal(rt_trials_read(&t, path, names, 3), RT_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.a[1], 2);
    assert_int_equal(t.b[1], 0);
    assert_int_equal(t.target[0], 1);
    rt_trials_free(&t);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"1 a.wav b.wav\n0 a.wav\n", "trials.txt:2: expected 'LABEL A B' (3 fields), found 2"},
        {"1 a.wav b.wav\n2 a.wav b.wav\n", "trials.txt:2: label '2' is not 0 or 1"},
        {"1 a.wav x.wav\n", "trials.txt:1: 'x.wav' is not an utterance"},
        {"1 a.wav #3\n", "trials.txt:1: '#3' is not an utterance"},
        {"1 a.wav b.wav\n1 b.wav #0\n", "2 trials, 2 of them targets (needs both kinds)"},
        {"", "0 trials, 0 of them targets"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        assert_int_not_equal(rt_trials_read(&t, path, names, 3), RT_OK);
        if (!strstr(rt_errmsg(), bad[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, rt_errmsg(), bad[i].want);
        assert_null(t.a);
    }
}

/* ---- generated speakers ---- */

/* Utterance u of speaker s: 1.2 s at 16 kHz, harmonics of the speaker's pitch
 * with an utterance-dependent vibrato and seeded noise. */
static void speaker_wav(const char *path, int s, int u)
{
    enum { SR = 16000, LEN = 19200 };
    static float x[LEN];
    double f0 = 140.0 * pow(1.6, s), ph = 0;
    uint64_t seed = (uint64_t)(s * 100 + u);
    for (int i = 0; i < LEN; i++) {
        double f = f0 * (1 + 0.03 * sin(2 * M_PI * (1.5 + 0.3 * u) * i / SR));
        ph += 2 * M_PI * f / SR;
        double v = 0;
        for (int h = 1; h <= 6; h++) v += sin(h * ph) / (h + s);
        x[i] = (float)(0.2 * v + 0.02 * rt_rng_normal(seed, 0, 0, (uint64_t)i));
    }
    SF_INFO si = {.samplerate = SR, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    if (!f) fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_float(f, x, LEN), LEN);
    sf_close(f);
}

/* Manifests train.csv (with one row naming a missing file) and test.csv. */
static int setup(void **state)
{
    if (tu_tmpdir_setup(state) != 0) return -1;
    char path[600], name[64];
    FILE *tr = fopen(tu_tmp("train.csv"), "w"), *te = fopen(tu_tmp("test.csv"), "w");
    if (!tr || !te) return -1;
    fputs("path,label\n", tr);
    fputs("path,label\n", te);
    for (int s = 0; s < SPEAKERS; s++)
        for (int u = 0; u < UTTS; u++) {
            snprintf(name, sizeof name, "s%d_u%d.wav", s, u);
            snprintf(path, sizeof path, "%s", tu_tmp(name));
            speaker_wav(path, s, u);
            fprintf(u < UTTS / 2 ? tr : te, "%s,%d\n", name, s);
        }
    fputs("missing.wav,1\n", tr);
    fclose(tr);
    fclose(te);
    write_file(tu_tmp("mixer.json"),
               "{\"arch\": \"mixer\", \"name\": \"spk\", \"input\": [40, 48], \"mel_first\": true, "
               "\"task\": \"embedding\", \"hidden\": 16, \"blocks\": 1, \"expansion\": 2, \"attention_dim\": 8, "
               "\"embed_dim\": 8}\n");
    write_file(tu_tmp("student.json"),
               "{\"arch\": \"mixer\", \"name\": \"spk-s\", \"input\": [40, 48], \"mel_first\": true, "
               "\"task\": \"embedding\", \"hidden\": 8, \"blocks\": 1, \"expansion\": 2, \"attention_dim\": 4, "
               "\"embed_dim\": 8}\n");
    return 0;
}

#define FEAT "preset=speaker&n_mels=40&crop=48&cache=none"

/* A recipe over the generated speakers; distill: a "distill" object or "". */
static const char *speaker_recipe(const char *name, const char *model, const char *distill, const char *out)
{
    char txt[4096], tr[700], te[700];
    snprintf(tr, sizeof tr, "manifest:%s?" FEAT "&on_bad_row=skip&time_masks=1&time_width=4", tu_tmp("train.csv"));
    snprintf(te, sizeof te, "manifest:%s?" FEAT, tu_tmp("test.csv"));
    snprintf(txt, sizeof txt,
             "{\"name\": \"spk\", \"model\": \"%s\", \"data\": {\"train\": \"%s\", \"val\": \"%s\", \"batch\": 4},\n"
             " \"loss\": {\"name\": \"aam_softmax\", \"margin\": 0.1, \"scale\": 16},\n"
             " \"optim\": {\"name\": \"adam\", \"lr\": 0.01}, \"epochs\": 12, \"seed\": 3, \"log_every\": 10,\n"
             " %s \"out\": \"%s\"}\n",
             model, tr, te, distill, out);
    static char p[600];
    snprintf(p, sizeof p, "%s", tu_tmp(name));
    write_file(p, txt);
    return p;
}

/* The last epoch line of DIR/log.jsonl. */
static cJSON *last_epoch(const char *dir)
{
    char path[700], line[8192];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    cJSON *last = NULL;
    while (fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "epoch")) {
            cJSON_Delete(last);
            last = j;
        } else {
            cJSON_Delete(j);
        }
    }
    fclose(f);
    assert_non_null(last);
    return last;
}

static double num(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2) v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "metrics"), path2);
    if (!cJSON_IsNumber(v)) fail_msg("log: no number %s%s%s", path1, path2 ? "." : "", path2 ? path2 : "");
    return v->valuedouble;
}

static void test_aam_training(void **state)
{
    (void)state;
    char out[600], model_out[700], ckpt[700];
    snprintf(out, sizeof out, "%s", tu_tmp("aam-run"));
    rt_recipe r;
    assert_int_equal(rt_recipe_load(&r, speaker_recipe("aam.json", tu_tmp("mixer.json"), "", out), NULL, 0), RT_OK);
    assert_int_equal(r.loss, RT_LOSS_AAM);
    rt_train_opts o = {.quiet = true};
    rt_train_result res;
    rt_status s = rt_train_run(&r, &o, &res);
    if (s != RT_OK) fail_msg("%s", rt_errmsg());
    rt_recipe_free(&r);
    cJSON *e = last_epoch(out);
    assert_int_equal((int)num(e, "train_skipped_rows", NULL), 1); /* missing.wav */
    assert_int_equal((int)num(e, "val_skipped_rows", NULL), 0);
    double eer = num(e, "val", "eer"), dcf = num(e, "val", "min_dcf");
    printf("    generated speakers: val EER %.3f, MinDCF %.3f (%d x %d utterances)\n", eer, dcf, SPEAKERS, UTTS / 2);
    assert_true(eer < 0.2); /* chance is 0.5: three distinct pitches */
    assert_true(dcf >= 0 && dcf <= 1);
    cJSON_Delete(e);
    snprintf(model_out, sizeof model_out, "%s/model.safetensors", out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    rt_safetensors st;
    assert_int_equal(rt_st_open(&st, ckpt), RT_OK);
    const rt_st_tensor *w = rt_st_find(&st, "aux.aam.weight");
    assert_non_null(w);
    assert_int_equal(w->shape[0], SPEAKERS); /* (K, E) */
    assert_int_equal(w->shape[1], 8);
    rt_st_close(&st);
    assert_int_equal(rt_st_open(&st, model_out), RT_OK);
    assert_null(rt_st_find(&st, "aux.aam.weight"));
    rt_st_close(&st);

    /* the same EER through a trial file naming every pair by manifest path */
    rt_model *m;
    rt_dataset ds;
    char spec[700];
    snprintf(spec, sizeof spec, "manifest:%s?" FEAT, tu_tmp("test.csv"));
    assert_int_equal(rt_model_load(&m, model_out), RT_OK);
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    FILE *f = fopen(tu_tmp("all.txt"), "w");
    for (int i = 0; i < ds.n; i++)
        for (int j = i + 1; j < ds.n; j++)
            fprintf(f, "%d s%d_u%d.wav #%d\n", ds.label[i] == ds.label[j], ds.label[i], UTTS / 2 + i % (UTTS / 2), j);
    fclose(f);
    rt_trials t;
    if (rt_trials_read_for(&t, tu_tmp("all.txt"), &ds) != RT_OK) fail_msg("%s", rt_errmsg());
    rt_eval_report a, b;
    assert_int_equal(rt_eval_model_trials(m, &ds, 5, &t, &a), RT_OK);
    assert_int_equal(rt_eval_model(m, &ds, 4, &b), RT_OK);
    assert_string_equal(a.primary, "eer");
    assert_true(rt_eval_report_get(&a, "eer") == rt_eval_report_get(&b, "eer"));
    assert_true(rt_eval_report_get(&a, "trials") == (double)(ds.n * (ds.n - 1) / 2));
    rt_eval_report_free(&a);
    rt_eval_report_free(&b);
    rt_trials_free(&t);
    rt_dataset_free(&ds);
    rt_model_free(m);
}

static void test_distill_crops(void **state)
{
    (void)state;
    char teacher[700], out[600], kd[1200];
    snprintf(teacher, sizeof teacher, "%s/model.safetensors", tu_tmp("aam-run"));
    if (access(teacher, F_OK) != 0) fail_msg("%s: missing (test_aam_training runs first)", teacher);
    snprintf(out, sizeof out, "%s", tu_tmp("kd-run"));
    snprintf(kd, sizeof kd,
             "\"distill\": {\"teacher\": \"%s\", \"terms\": [{\"kind\": \"embedding\"}], \"monitor_every\": 0},",
             teacher);
    rt_recipe r;
    assert_int_equal(rt_recipe_load(&r, speaker_recipe("kd.json", tu_tmp("student.json"), kd, out), NULL, 0), RT_OK);
    rt_distill_opts o = {.train = {.quiet = true}};
    rt_distill_result res;
    rt_status s = rt_distill_run(&r, &o, &res);
    if (s != RT_OK) fail_msg("%s", rt_errmsg());
    rt_recipe_free(&r);
    cJSON *e = last_epoch(out);
    double eer = num(e, "val", "eer");
    printf("    distilled student: val EER %.3f\n", eer);
    assert_true(eer >= 0 && eer <= 1);
    cJSON_Delete(e);
    /* a teacher cache holds the stored (centre) windows: refused with random crops */
    char cache[700];
    snprintf(cache, sizeof cache, "%s", tu_tmp("teacher-cache.safetensors"));
    assert_int_equal(rt_recipe_load(&r, tu_tmp("kd.json"), NULL, 0), RT_OK);
    if (rt_teacher_cache_write(&r, cache, true) != RT_OK) fail_msg("%s", rt_errmsg());
    rt_recipe_free(&r);
    snprintf(kd, sizeof kd, "\"distill\": {\"cache\": \"%s\", \"terms\": [{\"kind\": \"embedding\"}]},", cache);
    snprintf(out, sizeof out, "%s", tu_tmp("kd-cache-run"));
    assert_int_equal(rt_recipe_load(&r, speaker_recipe("kd2.json", tu_tmp("student.json"), kd, out), NULL, 0), RT_OK);
    s = rt_distill_run(&r, &o, &res);
    rt_recipe_free(&r);
    assert_int_not_equal(s, RT_OK);
    if (!strstr(rt_errmsg(), "random crops (crop=N)")) fail_msg("'%s' does not name the crops", rt_errmsg());
}

static void test_bad_aam_recipe(void **state)
{
    (void)state;
    rt_recipe r;
    const char *base = "{\"model\": \"m.json\", \"data\": {\"train\": \"fmnist:train\", \"batch\": 4}, \"loss\": %s, "
                       "\"optim\": {\"name\": \"sgd\", \"lr\": 0.1}, \"epochs\": 1}";
    char txt[512];
    snprintf(txt, sizeof txt, base, "{\"name\": \"aam_softmax\", \"margin\": 4}");
    assert_int_not_equal(rt_recipe_parse(&r, txt, strlen(txt), "bad.json", NULL, 0), RT_OK);
    if (!strstr(rt_errmsg(), "margin")) fail_msg("'%s' does not name the margin", rt_errmsg());
    snprintf(txt, sizeof txt, base, "{\"name\": \"aam_softmax\"}");
    assert_int_equal(rt_recipe_parse(&r, txt, strlen(txt), "ok.json", NULL, 0), RT_OK);
    assert_true(r.margin == 0.2 && r.scale == 30.0);
    rt_recipe_free(&r);
}

/* ---- the pipeline scripts on ../shared/data ---- */

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("%s: cannot open", path);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static void run_script(const char *script, const char *data, const char *out)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "sh %s %s %s > /dev/null", script, data, out);
    if (system(cmd) != 0) fail_msg("%s failed", cmd);
}

static void test_scripts_on_shared_data(void **state)
{
    (void)state;
    char dir[700], p[800];
    if (access("../shared/data/fsdd/recordings", F_OK) != 0 ||
        access("../shared/data/librispeech/librispeech_test-other", F_OK) != 0) {
        printf("    SKIP: ../shared/data/fsdd or ../shared/data/librispeech is absent (see ../shared/data/README.md)\n");
        skip();
    }
    snprintf(dir, sizeof dir, "%s/fsdd", tu_tmpdir());
    run_script("scripts/fsdd_manifests.sh", "../shared/data/fsdd", dir);
    snprintf(p, sizeof p, "%s/train.csv", dir);
    assert_int_equal(count_lines(p), 2701); /* header + takes 5-49 */
    snprintf(p, sizeof p, "%s/test.csv", dir);
    assert_int_equal(count_lines(p), 301);  /* header + takes 0-4 */
    snprintf(dir, sizeof dir, "%s/ls", tu_tmpdir());
    run_script("scripts/librispeech_manifests.sh", "../shared/data/librispeech", dir);
    snprintf(p, sizeof p, "%s/train.csv", dir);
    assert_int_equal(count_lines(p), 1 + 4 * 251);
    snprintf(p, sizeof p, "%s/trials.txt", dir);
    assert_int_equal(count_lines(p), 100 * 99 / 2);
    /* a missing directory is one line naming it, exit status 1 */
    snprintf(p, sizeof p, "sh scripts/fsdd_manifests.sh %s/nowhere %s/x 2>/dev/null", tu_tmpdir(), tu_tmpdir());
    assert_int_not_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_pairs_and_scores),
        cmocka_unit_test(test_trial_file),
        cmocka_unit_test(test_bad_aam_recipe),
        cmocka_unit_test(test_aam_training),
        cmocka_unit_test(test_distill_crops),
        cmocka_unit_test(test_scripts_on_shared_data),
    };
    return cmocka_run_group_tests(tests, setup, tu_tmpdir_teardown);
}
