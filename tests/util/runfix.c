/*
 * runfix.c - run directories with known numbers for the report and verify
 * tests (see runfix.h).
 */
#include "runfix.h"
#include "testutil.h"

#include "core/params.h"
#include "io/fileio.h"
#include "models/model.h"
#include "quant/qfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char tu_runs_warning[] = "step 50: distillation term 'feature' has carried 0.01% of the gradient <a&b> | x";

void tu_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

void tu_mkdirs(const char *path)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0777);
            *s = '/';
        }
    mkdir(p, 0777);
}

char *tu_read_text(const char *path)
{
    uint8_t *buf;
    size_t len;
    if (rt_read_file(path, 256u << 20, &buf, &len) != RT_OK) return NULL;
    char *s = realloc(buf, len + 1);
    assert_non_null(s);
    s[len] = 0;
    return s;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static rt_model *mlp(int hidden, uint64_t seed, const char *name)
{
    char cfg[300];
    snprintf(cfg, sizeof cfg,
             "{\"arch\": \"mlp\", \"name\": \"%s\", \"input\": [64], \"task\": \"classification\", "
             "\"num_outputs\": 4, \"hidden\": [%d], \"activation\": \"relu\"}",
             name, hidden);
    rt_model *m;
    if (rt_model_from_json(&m, cfg, strlen(cfg), name) != RT_OK) fail_msg("%s", rt_errmsg());
    rt_model_init(m, seed);
    return m;
}

static void save(rt_model *m, const char *path)
{
    if (rt_model_save(m, path) != RT_OK) fail_msg("%s", rt_errmsg());
}

static void writef(const char *root, const char *rel, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void writef(const char *root, const char *rel, const char *fmt, ...)
{
    char path[1024], text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    tu_write(path, text);
}

static const char epoch_fmt[] =
    "{\"type\":\"epoch\",\"epoch\":%d,\"step\":%d,\"train_loss\":%g,\"seconds\":1.5,\"val\":{\"model\":\"m\","
    "\"data\":\"fmnist:test\",\"task\":\"classification\",\"primary\":\"accuracy\",\"metrics\":{\"accuracy\":%g,"
    "\"loss\":0.5}}}\n";

static void log3(const char *root, const char *rel, const double loss[3], const double acc[3], const char *extra)
{
    char text[4096];
    int n = 0;
    for (int e = 0; e < 3; e++) {
        n += snprintf(text + n, sizeof text - (size_t)n, "{\"type\":\"step\",\"step\":%d,\"epoch\":%d,\"loss\":1}\n",
                      e * 10 + 5, e + 1);
        n += snprintf(text + n, sizeof text - (size_t)n, epoch_fmt, e + 1, (e + 1) * 10, loss[e], acc[e]);
    }
    snprintf(text + n, sizeof text - (size_t)n, "%s{\"type\":\"done\",\"steps\":30,\"seconds\":4.5,\"accuracy\":%g}\n",
             extra, acc[2]);
    writef(root, rel, "%s", text);
}

void tu_runs_make(tu_runs *r, const char *root)
{
    memset(r, 0, sizeof *r);
    snprintf(r->root, sizeof r->root, "%s", root);
    char d[700], p[800];
    snprintf(d, sizeof d, "%s/distill/baseline", root);
    tu_mkdirs(d);
    snprintf(d, sizeof d, "%s/teacher", root);
    tu_mkdirs(d);
    snprintf(d, sizeof d, "%s/sweep", root);
    tu_mkdirs(d);

    rt_model *t = mlp(58, 1, "fix-teacher"), *s = mlp(8, 2, "fix-student"), *b = mlp(8, 3, "fix-student");
    r->t_params = (int64_t)rt_params_count(t->params, RT_PARAM, false);
    r->s_params = (int64_t)rt_params_count(s->params, RT_PARAM, false);
    r->t_bytes = 4 * r->t_params; /* an MLP has no buffers */
    r->s_bytes = 4 * r->s_params;
    snprintf(p, sizeof p, "%s/teacher/best.safetensors", root);
    save(t, p);
    snprintf(p, sizeof p, "%s/teacher/model.safetensors", root);
    save(t, p);
    snprintf(p, sizeof p, "%s/distill/model.safetensors", root);
    save(s, p);
    snprintf(p, sizeof p, "%s/distill/baseline/model.safetensors", root);
    save(b, p);
    rt_qfile_stats st;
    snprintf(p, sizeof p, "%s/distill/student-q8.safetensors", root);
    if (rt_quantize_model(s, 8, RT_QSCHEME_PER_CHANNEL, NULL, 0, p, &st) != RT_OK) fail_msg("%s", rt_errmsg());
    r->q_bytes = (int64_t)st.bytes;
    rt_model_free(t);
    rt_model_free(s);
    rt_model_free(b);

    static const double tl[3] = {1.2, 0.8, 0.6}, ta[3] = {0.8, 0.86, 0.9};
    static const double sl[3] = {1.5, 1.0, 0.7}, sa[3] = {0.7, 0.85, 0.88};
    static const double bl[3] = {1.6, 1.1, 0.8}, ba[3] = {0.6, 0.8, 0.86};
    writef(root, "teacher/recipe.json", "{\"name\": \"fix-teacher\", \"model\": \"m.json\", \"data\": "
                                       "{\"train\": \"fmnist:train\", \"val\": \"fmnist:test\"}, \"epochs\": 3}\n");
    log3(root, "teacher/log.jsonl", tl, ta, "");
    writef(root, "teacher/eval.json",
           "{\"type\": \"eval\", \"file\": \"%s/teacher/best.safetensors\", \"model\": \"fix-teacher\", \"data\": "
           "\"fmnist:test\", \"task\": \"classification\", \"n\": 100, \"primary\": \"accuracy\", \"metrics\": "
           "{\"accuracy\": 0.9, \"loss\": 0.3}}\n",
           root);
    writef(root, "distill/recipe.json",
           "{\"name\": \"fix-distill\", \"model\": \"s.json\", \"data\": {\"train\": \"fmnist:train\", \"val\": "
           "\"fmnist:test\"}, \"epochs\": 3, \"distill\": {\"teacher\": \"%s/teacher/best.safetensors\", \"alpha\": "
           "0.7}}\n",
           root);
    writef(root, "distill/baseline/recipe.json", "{\"name\": \"fix-distill\", \"model\": \"s.json\", \"data\": "
                                                "{\"train\": \"fmnist:train\", \"val\": \"fmnist:test\"}, \"epochs\": 3}\n");
    char mon[2048];
    snprintf(mon, sizeof mon,
             "{\"type\":\"monitor\",\"step\":0,\"terms\":[{\"name\":\"task\",\"raw\":1,\"weighted\":0.3,\"loss_share\":0.6,"
             "\"grad_norm\":1,\"grad_share\":0.7},{\"name\":\"response\",\"raw\":0.1,\"weighted\":0.2,\"loss_share\":"
             "0.39992,\"grad_norm\":0.4,\"grad_share\":0.29992},{\"name\":\"feature\",\"raw\":0.5,\"weighted\":4e-5,"
             "\"loss_share\":0.00008,\"grad_norm\":1e-4,\"grad_share\":0.00008}]}\n"
             "{\"type\":\"monitor\",\"step\":50,\"terms\":[{\"name\":\"task\",\"loss_share\":0.6,\"grad_share\":0.7},"
             "{\"name\":\"response\",\"loss_share\":0.39992,\"grad_share\":0.29992},{\"name\":\"feature\","
             "\"loss_share\":0.00008,\"grad_share\":0.00008}],\"warnings\":[\"%s\"]}\n",
             tu_runs_warning);
    log3(root, "distill/log.jsonl", sl, sa, mon);
    log3(root, "distill/baseline/log.jsonl", bl, ba, "");
    writef(root, "distill/distill.json",
           "{\"type\": \"distill\", \"metric\": \"accuracy\", \"higher_is_better\": true, \"teacher\": {\"params\": "
           "%lld, \"accuracy\": 0.9}, \"student\": {\"params\": %lld, \"accuracy\": 0.88}, \"baseline\": "
           "{\"params\": %lld, \"accuracy\": 0.86}, \"gain\": 0.02, \"param_ratio\": %.17g, \"retention\": %.17g, "
           "\"alpha\": 0.7, \"warnings\": 1}\n",
           (long long)r->t_params, (long long)r->s_params, (long long)r->s_params,
           (double)r->t_params / (double)r->s_params, 0.88 / 0.9);
    writef(root, "distill/eval.json",
           "{\"type\": \"eval\", \"file\": \"%s/distill/model.safetensors\", \"model\": \"fix-student\", \"data\": "
           "\"fmnist:test\", \"task\": \"classification\", \"primary\": \"accuracy\", \"metrics\": "
           "{\"accuracy\": 0.88}}\n",
           root);
    writef(root, "distill/quantize-int8.json",
           "{\"type\": \"quantize\", \"model\": \"%s/distill/model.safetensors\", \"name\": \"fix-student\", "
           "\"output\": \"%s/distill/student-q8.safetensors\", \"bits\": 8, \"scheme\": \"per-channel\", \"bytes\": "
           "%lld, \"fp32_bytes\": %lld, \"compression\": %.17g, \"bits_per_weight\": 8.5, \"eval\": {\"data\": "
           "\"fmnist:test\", \"metric\": \"accuracy\", \"fp32\": 0.88, \"quantized\": 0.87, \"change\": -0.01, "
           "\"samples\": 100, \"output_mse\": 0.0012, \"kl\": 0.0003, \"top1_agreement\": 0.991}}\n",
           root, root, (long long)r->q_bytes, (long long)r->s_bytes, (double)r->s_bytes / (double)r->q_bytes);
    writef(root, "distill/bench.json",
           "{\"type\": \"bench\", \"threads\": 2, \"runs\": 50, \"warmup\": 5, \"batch\": 32, \"batch_runs\": 5, "
           "\"seed\": 1, \"rss_method\": \"VmHWM\", \"omp_wait_policy\": \"PASSIVE\", \"load_average\": 1.5, "
           "\"models\": [{\"path\": \"%s/teacher/best.safetensors\", \"name\": \"fix-teacher\", \"load_ms\": 2.5, "
           "\"p50_ms\": 1.23, \"p90_ms\": 1.5, \"p99_ms\": 1.75, \"throughput\": 800.5, \"rss_peak_bytes\": 31200000, "
           "\"file_bytes\": 16200, \"speedup\": 1, \"throughput_speedup\": 1}, {\"path\": "
           "\"%s/distill/model.safetensors\", \"name\": \"fix-student\", \"load_ms\": 0.5, \"p50_ms\": 0.25, "
           "\"p90_ms\": 0.3, \"p99_ms\": 0.4, \"throughput\": 5000.25, \"rss_peak_bytes\": 17600000, \"file_bytes\": "
           "2400, \"speedup\": 4.92, \"throughput_speedup\": 6.246}]}\n",
           root, root);
    writef(root, "sweep/sweep.json",
           "{\"data\": \"fmnist:test\", \"samples\": 100, \"metric\": \"accuracy\", \"higher_is_better\": true, "
           "\"bits\": [32], \"reference\": \"x.safetensors\", \"rows\": [{\"model\": \"x.safetensors\", \"name\": "
           "\"sw-huge\", \"params\": 1000, \"bits\": 32, \"scheme\": \"fp32\", \"bytes\": 1000000000, "
           "\"compression\": 1, \"metric\": 0.5, \"change\": 0}, {\"model\": \"y.safetensors\", \"name\": "
           "\"sw-tie\", \"params\": %lld, \"bits\": 32, \"scheme\": \"fp32\", \"bytes\": %lld, \"compression\": 2, "
           "\"metric\": 0.88, \"change\": 0}]}\n",
           (long long)r->s_params, (long long)r->s_bytes);
    writef(root, "notes.json", "{\"anything\": [1, 2, 3]}\n");
}
