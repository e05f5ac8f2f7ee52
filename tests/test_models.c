/*
 * test_models.c - architectures against their PyTorch twins, and model files.
 *
 * Data-driven, so a new architecture or config needs no change here:
 *  - every configs/<name>.json: the name, shape and kind of every tensor,
 *    the parameter total and the buffer total equal PyTorch's for the same
 *    architecture (tests/fixtures/model_params.json, written by
 *    tests/fixtures/make_model_fixtures.py from tests/fixtures/ref/<arch>.py);
 *  - every tests/fixtures/models/<name>.json: with the twin's random weights
 *    loaded by name, the eval-mode output on the fixture's input matches;
 *  - every tests/fixtures/bad/<name>.json is rejected with an error that
 *    names the file and contains the line in <name>.expect (files of one
 *    architecture are named "<arch>-...").
 * RT_TEST_ARCHS=vit,lstm limits the data-driven tests to those archs.
 * Plus: save/load round trip, rejections of mismatched model files, and
 * deterministic default initialisation within PyTorch's bounds.
 */
#include "testutil.h"

#include "io/fileio.h"
#include "models/model.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static cJSON *read_json(const char *path)
{
    uint8_t *buf;
    size_t len;
    if (rt_read_file(path, 64u << 20, &buf, &len) != RT_OK) fail_msg("%s", rt_errmsg());
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!j) fail_msg("%s: not JSON", path);
    return j;
}

/* RT_TEST_ARCHS=vit,mobilevit limits the data-driven tests to configs of those archs. */
static bool wanted(const char *config_path)
{
    const char *only = getenv("RT_TEST_ARCHS");
    if (!only || !*only) return true;
    cJSON *j = read_json(config_path);
    const char *arch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "arch"));
    bool hit = false;
    size_t n = arch ? strlen(arch) : 0;
    for (const char *p = only; arch && *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, arch, n)) hit = true;
        p += k + (p[k] == ',');
    }
    cJSON_Delete(j);
    return hit;
}

static rt_model *open_config(const char *path)
{
    rt_model *m;
    if (rt_model_from_file(&m, path) != RT_OK) fail_msg("%s", rt_errmsg());
    return m;
}

/* Every tensor of the PyTorch twin exists with the same shape; no extras. */
static void test_param_counts(void **state)
{
    (void)state;
    cJSON *all = read_json("tests/fixtures/model_params.json"), *e;
    int n_configs = 0;
    cJSON_ArrayForEach(e, all)
    {
        char path[256], a[96], b[96];
        snprintf(path, sizeof path, "configs/%s.json", e->string);
        if (access(path, F_OK) != 0 || !wanted(path)) continue;
        rt_model *m = open_config(path);
        const rt_params *p = m->params;
        const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(e, "tensors"), *t;
        int64_t want_total = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "total"));
        int64_t want_buf = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "buffers"));
        int n_t = 0;
        cJSON_ArrayForEach(t, tensors)
        {
            const rt_param_view *v = rt_params_find(p, t->string);
            if (!v) fail_msg("%s: PyTorch has '%s', retort does not", path, t->string);
            int64_t shape[RT_MAX_DIMS];
            int nd = 0;
            const cJSON *d;
            cJSON_ArrayForEach(d, t) shape[nd++] = (int64_t)d->valuedouble;
            if (!rt_shape_equal(nd, shape, v->ndim, v->shape))
                fail_msg("%s: '%s' is %s in PyTorch, %s in retort", path, t->string, rt_shape_str(a, sizeof a, nd, shape),
                         rt_shape_str(b, sizeof b, v->ndim, v->shape));
            n_t++;
        }
        if (n_t != p->n_views) {
            for (int i = 0; i < p->n_views; i++)
                if (!cJSON_GetObjectItemCaseSensitive(tensors, p->views[i].name))
                    fail_msg("%s: retort has '%s', PyTorch does not", path, p->views[i].name);
        }
        /* counts over the tensors (the store pads each view to 64 bytes) */
        int64_t total = (int64_t)(rt_params_count(p, RT_PARAM, false) + rt_params_count(p, RT_PARAM, true));
        int64_t bufs = (int64_t)rt_params_count(p, RT_BUFFER, false);
        printf("    %-28s %12lld parameters, %8lld buffer values, %3d tensors: equal to PyTorch\n", e->string,
               (long long)total, (long long)bufs, n_t);
        assert_int_equal(total, want_total);
        assert_int_equal(bufs, want_buf);
        rt_model_free(m);
        n_configs++;
    }
    assert_true(n_configs > 0 || getenv("RT_TEST_ARCHS"));
    cJSON_Delete(all);
}

/* Outputs with the twin's weights, eval mode. */
static void test_outputs(void **state)
{
    (void)state;
    glob_t gl;
    assert_int_equal(glob("tests/fixtures/models/*.json", 0, NULL, &gl), 0);
    for (size_t k = 0; k < gl.gl_pathc; k++) {
        const char *path = gl.gl_pathv[k];
        if (!wanted(path)) continue;
        char fxpath[256];
        snprintf(fxpath, sizeof fxpath, "%.*s.safetensors", (int)(strlen(path) - 5), path);
        rt_model *m = open_config(path);
        tu_fixture fx;
        tu_fixture_open(&fx, fxpath);
        const rt_params *p = m->params;
        for (int i = 0; i < p->n_views; i++) {
            int64_t n;
            const float *w = tu_fixture_get(&fx, p->views[i].name, &n, false);
            assert_int_equal(n, (int64_t)p->views[i].numel);
            memcpy(rt_params_data(p, &p->views[i]), w, (size_t)n * sizeof(float));
        }
        int64_t in_shape[RT_MAX_DIMS];
        tu_fixture_shape(&fx, "input", in_shape);
        rt_graph *g = rt_model_graph(m, in_shape[0], RT_PLAN_INFER);
        if (!g) fail_msg("%s: %s", path, rt_errmsg());
        rt_graph_set_training(g, false);
        rt_node *x = rt_graph_tap(g, "input"), *y = rt_graph_tap(g, "output");
        assert_non_null(x);
        assert_non_null(y);
        int64_t n_in, n_out;
        const float *xin = tu_fixture_get(&fx, "input", &n_in, false);
        const float *want = tu_fixture_get(&fx, "output", &n_out, false);
        assert_int_equal(n_in, rt_numel(x));
        assert_int_equal(n_out, rt_numel(y));
        memcpy(rt_data(x), xin, (size_t)n_in * sizeof(float));
        assert_int_equal(rt_graph_forward(g), RT_OK);
        char what[300];
        snprintf(what, sizeof what, "%s output", path);
        tu_compare(what, rt_data(y), want, n_out, 1e-5);
        rt_graph_free(g);
        tu_fixture_close(&fx);
        rt_model_free(m);
    }
    globfree(&gl);
}

/* One eval-mode forward of m at this batch; returns a copy of every output
 * the plan computes for the taps in tags (NULL-terminated), concatenated. */
static float *forward_taps(rt_model *m, int64_t batch, enum rt_plan plan, bool fuse, const char *const *tags,
                           int64_t *len, int *fused, int *skipped)
{
    rt_graph *g = rt_model_build(m, batch);
    assert_non_null(g);
    rt_graph_set_fusion(g, fuse);
    if (rt_graph_plan(g, plan) != RT_OK) fail_msg("%s: %s", m->name, rt_errmsg());
    rt_graph_set_training(g, false);
    rt_node *x = rt_graph_tap(g, "input");
    tu_fill_uniform(x, 5, -1.f, 1.f);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    *len = 0;
    for (int t = 0; tags[t]; t++) *len += rt_numel(rt_graph_tap(g, tags[t]));
    float *r = malloc((size_t)*len * sizeof *r);
    assert_non_null(r);
    int64_t o = 0;
    for (int t = 0; tags[t]; t++) {
        const rt_node *n = rt_graph_tap(g, tags[t]);
        assert_non_null(rt_data(n));
        memcpy(r + o, rt_data(n), (size_t)rt_numel(n) * sizeof *r);
        o += rt_numel(n);
    }
    *fused = *skipped = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        *fused += (g->nodes[i]->fuse_act != 0) + (g->nodes[i]->fuse_res != NULL);
        *skipped += g->skip && g->skip[i] == 1;
    }
    rt_graph_free(g);
    return r;
}

/* Inference plans fuse activations and residual adds into the linear and
 * attention nodes before them and skip what the output does not need: the
 * output must be bit for bit the training plan's (unfused, everything
 * computed), for every architecture's fixture config; with the taps kept,
 * every tap must be too. */
static void test_fused_inference(void **state)
{
    (void)state;
    glob_t gl;
    assert_int_equal(glob("tests/fixtures/models/*.json", 0, NULL, &gl), 0);
    int total_fused = 0;
    for (size_t k = 0; k < gl.gl_pathc; k++) {
        const char *path = gl.gl_pathv[k];
        if (!wanted(path)) continue;
        rt_model *m = open_config(path);
        rt_params_init(m->params, 3);
        const char *out_only[] = {"output", NULL};
        const char *taps[64];
        int nt = 0;
        rt_graph *g = rt_model_build(m, 2); /* the model's tap names */
        assert_non_null(g);
        for (int i = 0; i < g->n_nodes && nt < 63; i++)
            if (g->nodes[i]->tag[0]) taps[nt++] = g->nodes[i]->tag;
        taps[nt] = NULL;
        int64_t n_ref, n_got;
        int fused, skipped, f2, s2;
        float *ref = forward_taps(m, 2, RT_PLAN_TRAIN, false, taps, &n_ref, &f2, &s2);
        float *got = forward_taps(m, 2, RT_PLAN_INFER_TAPS, true, taps, &n_got, &fused, &s2);
        assert_int_equal(n_ref, n_got);
        if (memcmp(ref, got, (size_t)n_ref * sizeof *ref)) fail_msg("%s: taps differ with fusions", path);
        free(got);
        float *out = forward_taps(m, 2, RT_PLAN_INFER, true, out_only, &n_got, &f2, &skipped);
        float *out0 = forward_taps(m, 2, RT_PLAN_INFER, false, out_only, &n_ref, &s2, &s2);
        assert_int_equal(n_ref, n_got);
        if (memcmp(out0, out, (size_t)n_ref * sizeof *out)) fail_msg("%s: output differs with fusions", path);
        printf("    %-34s %3d taps equal, output equal; %2d fusions, %2d nodes not computed\n", strrchr(path, '/') + 1, nt, f2,
               skipped);
        total_fused += f2;
        bool attn = strstr(m->arch->name, "vit") != NULL;
        if (attn) assert_true(f2 > 0 && skipped > 0); /* ViTs: gelu and residuals fused, attention maps skipped */
        free(out);
        free(out0);
        free(ref);
        rt_graph_free(g);
        rt_model_free(m);
    }
    globfree(&gl);
    assert_true(total_fused > 0 || getenv("RT_TEST_ARCHS"));
}

static void test_bad_configs(void **state)
{
    (void)state;
    glob_t gl;
    assert_int_equal(glob("tests/fixtures/bad/*.json", 0, NULL, &gl), 0);
    for (size_t k = 0; k < gl.gl_pathc; k++) {
        const char *path = gl.gl_pathv[k];
        const char *only = getenv("RT_TEST_ARCHS"), *base = strrchr(path, '/') + 1;
        if (only && *only) { /* under the filter, only files named "<arch>-..." of listed archs */
            bool hit = false;
            for (const char *p = only; *p;) {
                size_t n = strcspn(p, ",");
                if (n && !strncmp(base, p, n) && base[n] == '-') hit = true;
                p += n + (p[n] == ',');
            }
            if (!hit) continue;
        }
        char xpath[256], expect[256] = "";
        snprintf(xpath, sizeof xpath, "%.*s.expect", (int)(strlen(path) - 5), path);
        FILE *f = fopen(xpath, "r");
        if (!f || !fgets(expect, sizeof expect, f)) fail_msg("%s: missing", xpath);
        fclose(f);
        expect[strcspn(expect, "\n")] = 0;
        rt_model *m = NULL;
        rt_status s = rt_model_from_file(&m, path);
        printf("    %-40s -> %s\n", path, rt_errmsg());
        if (s == RT_OK) fail_msg("%s: accepted", path);
        assert_null(m);
        if (!strstr(rt_errmsg(), path)) fail_msg("%s: error does not name the file: %s", path, rt_errmsg());
        if (!strstr(rt_errmsg(), expect)) fail_msg("%s: error lacks '%s': %s", path, expect, rt_errmsg());
    }
    assert_true(gl.gl_pathc >= 8);
    globfree(&gl);
}

static void tmp_path(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "%s/retort-test-models-%d-%s.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid(), tag);
}

static void test_save_load(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "rt");
    rt_model *a = open_config("tests/fixtures/models/mlp-tiny.json"), *b = NULL;
    rt_model_init(a, 7);
    assert_int_equal(rt_model_save(a, path), RT_OK);
    if (rt_model_load(&b, path) != RT_OK) fail_msg("%s", rt_errmsg());
    assert_int_equal(a->params->numel, b->params->numel);
    assert_memory_equal(a->params->data, b->params->data, a->params->numel * sizeof(float));
    assert_string_equal(a->config, b->config);
    assert_string_equal(b->name, "mlp-tiny");
    rt_model_free(b);
    /* rt_model_open tells a config from a model file by content */
    assert_int_equal(rt_model_open(&b, path, 0), RT_OK);
    assert_memory_equal(a->params->data, b->params->data, a->params->numel * sizeof(float));
    rt_model_free(b);
    assert_int_equal(rt_model_open(&b, "tests/fixtures/models/mlp-tiny.json", 7), RT_OK);
    assert_memory_equal(a->params->data, b->params->data, a->params->numel * sizeof(float));
    rt_model_free(b);
    unlink(path);
    rt_model_free(a);
}

/* A file whose tensors do not fit its config: wrong shape, missing, extra, not a model. */
static void test_load_rejects(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "bad");
    rt_model *a = open_config("tests/fixtures/models/mlp-tiny.json"), *b = NULL;
    const rt_params *p = a->params;
    rt_st_entry e[16];
    int64_t bad_shape[2] = {7, 11};
    int n = p->n_views;
    assert_true(n < 15);
    for (int i = 0; i < n; i++)
        e[i] = (rt_st_entry){p->views[i].name, RT_F32, p->views[i].ndim, p->views[i].shape,
                             rt_params_data(p, &p->views[i])};
    rt_st_meta meta[] = {{"format_version", "1"}, {"config", a->config}};
    struct {
        const char *expect;
        int n_entries;
        int n_meta;
        int mutate; /* 0 none, 1 shape of entry 0, 2 extra entry */
    } cases[] = {
        {"has shape (7, 11)", n, 2, 1},
        {"is missing", n - 1, 2, 0},
        {"does not belong to this architecture", n + 1, 2, 2},
        {"format_version missing", n, 0, 0},
    };
    float extra = 1.f;
    int64_t one = 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rt_st_entry ee[16];
        memcpy(ee, e, sizeof e);
        if (cases[c].mutate == 1) {
            ee[0].shape = bad_shape;
            ee[0].data = calloc(77, sizeof(float));
        }
        if (cases[c].mutate == 2) ee[n] = (rt_st_entry){"stray.weight", RT_F32, 1, &one, &extra};
        assert_int_equal(rt_st_write(path, ee, cases[c].n_entries, meta, cases[c].n_meta), RT_OK);
        if (cases[c].mutate == 1) free((void *)ee[0].data);
        assert_int_not_equal(rt_model_load(&b, path), RT_OK);
        printf("    %s\n", rt_errmsg());
        assert_null(b);
        assert_non_null(strstr(rt_errmsg(), path));
        assert_non_null(strstr(rt_errmsg(), cases[c].expect));
    }
    unlink(path);
    rt_model_free(a);
}

/* Same seed, same weights; PyTorch's Linear bound 1/sqrt(fan_in) holds and is approached. */
static void test_init(void **state)
{
    (void)state;
    rt_model *a = open_config("tests/fixtures/models/mlp-tiny.json"), *b = open_config("tests/fixtures/models/mlp-tiny.json");
    rt_model_init(a, 11);
    rt_model_init(b, 11);
    assert_memory_equal(a->params->data, b->params->data, a->params->numel * sizeof(float));
    rt_model_init(b, 12);
    assert_memory_not_equal(a->params->data, b->params->data, a->params->numel * sizeof(float));
    const rt_param_view *v = rt_params_find(a->params, "fc1.weight");
    assert_non_null(v);
    const float *w = rt_params_data(a->params, v);
    float bound = 1.f / sqrtf(10.f), mx = 0;
    for (size_t i = 0; i < v->numel; i++) mx = fmaxf(mx, fabsf(w[i]));
    assert_true(mx <= bound && mx > 0.7f * bound);
    rt_model_free(a);
    rt_model_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_counts), cmocka_unit_test(test_outputs), cmocka_unit_test(test_fused_inference),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_save_load),    cmocka_unit_test(test_load_rejects), cmocka_unit_test(test_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
