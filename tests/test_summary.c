/*
 * test_summary.c - accounting (src/report/summary.c, src/quant/plan.c):
 *  - each op's MAC formula (docs/accounting.md) on hand-built nodes;
 *  - a whole model's MACs equal the documented per-layer formulas;
 *  - the activation memory reported (table and JSON) equals the arena a
 *    separately built graph allocates, at inference and in training;
 *  - for every shipped config the top-level modules partition the
 *    parameters and the per-precision byte counts follow the storage rule;
 *  - retort summary/compare JSON carries the same numbers.
 */
#include "testutil.h"

#include "io/fileio.h"
#include "models/model.h"
#include "quant/plan.h"
#include "report/summary.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>

static void test_op_macs(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    rt_node *w = rt_param(g, "w", RT_DIMS(3, 8), rt_init_zeros());
    rt_node *lin = rt_linear(g, x, w, NULL);
    rt_node *mm = rt_matmul(g, x, rt_param(g, "m", RT_DIMS(8, 6), rt_init_zeros()), false, false);
    rt_node *img = rt_input(g, "img", RT_DIMS(2, 4, 9, 7));
    struct rt_conv2d_args ca = {2, 2, 1, 1, 2};
    rt_node *conv = rt_conv2d(g, img, rt_param(g, "cw", RT_DIMS(6, 2, 3, 3), rt_init_zeros()), NULL, ca);
    rt_node *att = rt_attention(g, x, rt_param(g, "qkv", RT_DIMS(24, 8), rt_init_zeros()), NULL,
                                rt_param(g, "o", RT_DIMS(8, 8), rt_init_zeros()), NULL, 2);
    rt_node *lstm = rt_lstm(g, x, rt_param(g, "wih", RT_DIMS(12, 8), rt_init_zeros()),
                            rt_param(g, "whh", RT_DIMS(12, 3), rt_init_zeros()), NULL, NULL);
    rt_node *asp = rt_attn_stats_pool(g, x, rt_input(g, "aw", RT_DIMS(2, 5)), 1e-5f);
    rt_node *gelu = rt_gelu(g, lin);
    assert_non_null(asp);
    assert_int_equal(rt_graph_status(g), RT_OK);
    assert_int_equal(rt_node_macs(lin), 2 * 5 * 3 * 8);   /* rows x out x in */
    assert_int_equal(rt_node_macs(mm), 2 * 5 * 6 * 8);    /* batch M N K */
    /* out (2, 6, 5, 4): each output element sums (C/groups) KH KW = 2*3*3 products */
    assert_int_equal(conv->out.shape[2], 5);
    assert_int_equal(conv->out.shape[3], 4);
    assert_int_equal(rt_node_macs(conv), 2 * 6 * 5 * 4 * 2 * 3 * 3);
    /* B (T 3C C + 2 T T C + T C C) */
    assert_int_equal(rt_node_macs(att), 2 * (5 * 24 * 8 + 2 * 5 * 5 * 8 + 5 * 8 * 8));
    /* B T 4H (I + H) */
    assert_int_equal(rt_node_macs(lstm), 2 * 5 * 12 * (8 + 3));
    assert_int_equal(rt_node_macs(asp), 2 * 2 * 5 * 8);
    assert_int_equal(rt_node_macs(gelu), 0);
    assert_int_equal(rt_node_macs(x), 0);
    tu_graph_free(g);
}

static rt_model *open_model(const char *path)
{
    rt_model *m;
    if (rt_model_from_file(&m, path) != RT_OK) fail_msg("%s", rt_errmsg());
    return m;
}

/* MLP: sum of in x out over the layers; bytes by the storage rule, by hand. */
static void test_mlp_by_hand(void **state)
{
    (void)state;
    rt_model *m = open_model("configs/fmnist-mlp.json"); /* 784 -> 128 -> 10 */
    rt_summary s;
    assert_int_equal(rt_summary_build(&s, m, 3), RT_OK);
    assert_int_equal(s.total.macs, 784 * 128 + 128 * 10);
    assert_int_equal(s.total.params, 784 * 128 + 128 + 128 * 10 + 10);
    assert_int_equal(s.total.bytes[RT_PREC_F32], 4 * s.total.params);
    assert_int_equal(s.total.bytes[RT_PREC_F16], 2 * s.total.params);
    /* fc1.weight int8 + an F32 scale per row; bias FP32; the final layer (head) FP32 */
    size_t int8 = 784 * 128 + 4 * 128 + 4 * 128 + 4 * (128 * 10 + 10);
    assert_int_equal(s.total.bytes[RT_PREC_INT8], int8);
    /* 784 is not a multiple of 32: fc1 falls back to int8 rows at 4 bits */
    assert_int_equal(s.total.bytes[RT_PREC_INT4], int8);
    const rt_summary_row *fc1 = rt_summary_find(&s, "fc1");
    assert_non_null(fc1);
    assert_int_equal(fc1->macs, 784 * 128);
    assert_int_equal(fc1->ndim, 2);
    assert_int_equal(fc1->shape[0], 3);
    assert_int_equal(fc1->shape[1], 128);
    rt_summary_free(&s);
    rt_model_free(m);
}

/* q4 blocks where rows are multiples of 32. */
static void test_q4_rule(void **state)
{
    (void)state;
    const char *cfg = "{\"arch\": \"mlp\", \"input\": [64], \"num_outputs\": 3, \"hidden\": [96, 32]}";
    rt_model *m;
    assert_int_equal(rt_model_from_json(&m, cfg, strlen(cfg), "inline"), RT_OK);
    rt_summary s;
    assert_int_equal(rt_summary_build(&s, m, 1), RT_OK);
    /* fc1 (96, 64), fc2 (32, 96): q4, 18 bytes per 32 weights; biases and head FP32 */
    size_t q4 = (96 * 64 + 32 * 96) / 32 * 18 + 4 * (96 + 32) + 4 * (3 * 32 + 3);
    assert_int_equal(s.total.bytes[RT_PREC_INT4], q4);
    rt_summary_free(&s);
    rt_model_free(m);
}

static int64_t jint(const cJSON *o, const char *k, int64_t dflt)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return j ? (int64_t)j->valuedouble : dflt;
}

/* Transformers (vit, mobilevit): the documented per-layer formulas, from the
 * config's fields, equal the graph's count. T tokens (patches + CLS), width W:
 *   patch embedding  vit: N W (C p p); mobilevit: depthwise C N (p p) + pointwise N W C
 *   each block       3 T W^2 + 2 T^2 W + T W^2 (attention) + 2 T W hidden (MLP)
 *   pooler           W^2;  head: the sum of in x out over its linears */
static void test_transformer_formula(void **state)
{
    (void)state;
    static const char *const cfgs[] = {"configs/vit-base-emotion.json", "configs/mobilevit-s-emotion.json",
                                       "configs/mobilevit-xs-emotion.json"};
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        uint8_t *buf;
        size_t len;
        assert_int_equal(rt_read_file(cfgs[k], 1 << 20, &buf, &len), RT_OK);
        cJSON *c = cJSON_ParseWithLength((const char *)buf, len);
        free(buf);
        assert_non_null(c);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(c, "input"), *head = cJSON_GetObjectItemCaseSensitive(c, "head");
        int64_t C = (int64_t)cJSON_GetArrayItem(in, 0)->valuedouble, H = (int64_t)cJSON_GetArrayItem(in, 1)->valuedouble,
                Wd = (int64_t)cJSON_GetArrayItem(in, 2)->valuedouble;
        int64_t p = jint(c, "patch", 0), W = jint(c, "width", 0), depth = jint(c, "depth", 0);
        int64_t hid = (int64_t)(W * cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "mlp_ratio")));
        int64_t N = (H / p) * (Wd / p), T = N + 1;
        bool mobile = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "arch")), "mobilevit");
        int64_t macs = mobile ? C * N * p * p + N * W * C : N * W * C * p * p;
        macs += depth * (3 * T * W * W + 2 * T * T * W + T * W * W + 2 * T * W * hid);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "pooler"))) macs += W * W;
        int64_t prev = W;
        const cJSON *h;
        cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(head, "hidden"))
        {
            macs += prev * (int64_t)h->valuedouble;
            prev = (int64_t)h->valuedouble;
        }
        macs += prev * jint(c, "num_outputs", 0);
        rt_model *m = open_model(cfgs[k]);
        rt_summary s;
        assert_int_equal(rt_summary_build(&s, m, 1), RT_OK);
        printf("    %-36s formula %15lld, graph %15lld MACs\n", cfgs[k], (long long)macs, (long long)s.total.macs);
        assert_int_equal(s.total.macs, macs);
        rt_summary_free(&s);
        rt_model_free(m);
        cJSON_Delete(c);
    }
}

/* Reported activation memory == the arena of an independently built graph. */
static void test_activation_memory(void **state)
{
    (void)state;
    glob_t gl;
    assert_int_equal(glob("tests/fixtures/models/*.json", 0, NULL, &gl), 0);
    for (size_t k = 0; k < gl.gl_pathc; k++) {
        rt_model *m = open_model(gl.gl_pathv[k]);
        rt_summary s;
        if (rt_summary_build(&s, m, 5) != RT_OK) fail_msg("%s: %s", gl.gl_pathv[k], rt_errmsg());
        rt_graph *gi = rt_model_graph(m, 5, RT_PLAN_INFER), *gt = rt_model_graph(m, 5, RT_PLAN_TRAIN);
        assert_non_null(gi);
        assert_non_null(gt);
        assert_int_equal(s.infer_act_bytes, rt_graph_act_bytes(gi));
        assert_int_equal(s.train_act_bytes, rt_graph_act_bytes(gt));
        assert_int_equal(s.train_act_grad_bytes, rt_graph_grad_bytes(gt));
        assert_true(s.infer_act_bytes > 0 && s.infer_act_bytes <= s.train_act_bytes);
        /* the JSON that `retort summary --json` prints carries the same numbers */
        cJSON *j = rt_summary_json(&s, 2), *mem = cJSON_GetObjectItemCaseSensitive(j, "memory_bytes");
        assert_int_equal((size_t)cJSON_GetObjectItemCaseSensitive(mem, "inference_activations")->valuedouble,
                         rt_graph_act_bytes(gi));
        assert_int_equal((size_t)cJSON_GetObjectItemCaseSensitive(mem, "training_activations")->valuedouble,
                         rt_graph_act_bytes(gt));
        assert_int_equal((size_t)cJSON_GetObjectItemCaseSensitive(mem, "training_total")->valuedouble,
                         rt_summary_train_bytes(&s));
        cJSON_Delete(j);
        /* the printed table shows them too */
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        rt_summary_print(f, &s, 2);
        fclose(f);
        char want[64];
        double kib = (double)rt_graph_act_bytes(gi) / 1024;
        if (rt_graph_act_bytes(gi) < 1024) snprintf(want, sizeof want, "activations %zu B", rt_graph_act_bytes(gi));
        else if (kib < 1024) snprintf(want, sizeof want, "activations %.2f KiB", kib);
        else snprintf(want, sizeof want, "activations %.2f MiB", kib / 1024);
        if (!strstr(buf, want)) fail_msg("%s: table lacks '%s':\n%s", gl.gl_pathv[k], want, buf);
        free(buf);
        rt_graph_free(gi);
        rt_graph_free(gt);
        rt_summary_free(&s);
        rt_model_free(m);
    }
    globfree(&gl);
}

/* Every shipped config: top-level modules partition the parameters; totals agree with the store. */
static void test_shipped_partition(void **state)
{
    (void)state;
    glob_t gl;
    assert_int_equal(glob("configs/*.json", 0, NULL, &gl), 0);
    for (size_t k = 0; k < gl.gl_pathc; k++) {
        rt_model *m = open_model(gl.gl_pathv[k]);
        rt_summary s;
        if (rt_summary_build(&s, m, 1) != RT_OK) fail_msg("%s: %s", gl.gl_pathv[k], rt_errmsg());
        int64_t sum = 0, macs = 0;
        size_t bytes[RT_PREC_COUNT] = {0};
        for (int i = 0; i < s.n_rows; i++)
            if (s.rows[i].depth == 1) {
                sum += s.rows[i].params;
                macs += s.rows[i].macs;
                for (int p = 0; p < RT_PREC_COUNT; p++) bytes[p] += s.rows[i].bytes[p];
            }
        printf("    %-28s %12lld params, %15lld MACs/sample\n", s.name, (long long)s.total.params,
               (long long)s.total.macs);
        assert_int_equal(s.unassigned, 0);
        assert_int_equal(sum, s.total.params);
        const rt_params *p = m->params;
        assert_int_equal(s.total.params,
                         (int64_t)(rt_params_count(p, RT_PARAM, false) + rt_params_count(p, RT_PARAM, true)));
        assert_int_equal(s.total.buffers, (int64_t)rt_params_count(p, RT_BUFFER, false));
        assert_true(macs <= s.total.macs); /* root-level nodes (e.g. pooling) may sit outside modules */
        for (int q = 0; q < RT_PREC_COUNT; q++) assert_int_equal(bytes[q], s.total.bytes[q]);
        assert_true(s.total.bytes[RT_PREC_INT4] <= s.total.bytes[RT_PREC_INT8]);
        assert_true(s.total.bytes[RT_PREC_INT8] < s.total.bytes[RT_PREC_F16]);
        rt_summary_free(&s);
        rt_model_free(m);
    }
    assert_true(gl.gl_pathc >= 1);
    globfree(&gl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_macs),           cmocka_unit_test(test_mlp_by_hand),
        cmocka_unit_test(test_q4_rule),           cmocka_unit_test(test_activation_memory),
        cmocka_unit_test(test_shipped_partition), cmocka_unit_test(test_transformer_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
