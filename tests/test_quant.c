/*
 * test_quant.c - quantized model files (src/quant/qfile.h) and `retort
 * quantize`: the storage plan with --keep patterns, file sizes equal to the
 * plan's (and summary's) count, values read back equal to the quantisation
 * rule, integer weights attached to the loaded model, one error per kind of
 * bad file (missing scale, block size, payload length, dtypes, ...), and the
 * CLI end to end (JSON figures, --eval agreement, usage errors).
 */
#include "testutil.h"

#include "models/model.h"
#include "quant/qeval.h"
#include "quant/qfile.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

/* fc1 (64, 48): rows not a multiple of 32 -> int8 even at 4 bits; fc2 (32, 64): q4; head (4, 32): final, FP32 */
static const char cfg[] = "{\"arch\": \"mlp\", \"name\": \"q-mlp\", \"input\": [48], \"task\": \"classification\","
                          " \"num_outputs\": 4, \"hidden\": [64, 32], \"activation\": \"gelu\"}";

static rt_model *new_model(void)
{
    rt_model *m;
    assert_int_equal(rt_model_from_json(&m, cfg, strlen(cfg), "q-mlp"), RT_OK);
    rt_model_init(m, 7);
    return m;
}

static const float *view(const rt_model *m, const char *name)
{
    const rt_param_view *v = rt_params_find(m->params, name);
    assert_non_null(v);
    return rt_params_data(m->params, v);
}

/* Bytes of m by the default plan at `bits` (what `retort summary` prints). */
static size_t plan_bytes(rt_model *m, int bits)
{
    rt_graph *g = rt_model_build(m, 1);
    assert_non_null(g);
    enum rt_qfmt fmt[16];
    assert_true(m->params->n_views <= 16);
    assert_int_equal(rt_quant_plan_default(g, bits, fmt), RT_OK);
    size_t b = 0;
    for (int i = 0; i < m->params->n_views; i++) b += rt_qfmt_bytes(fmt[i], &m->params->views[i]);
    rt_graph_free(g);
    return b;
}

static void test_write_read(void **state)
{
    (void)state;
    rt_model *m = new_model();
    for (int bits = 8; bits >= 4; bits -= 4) {
        const char *path = tu_tmp(bits == 8 ? "q8.safetensors" : "q4.safetensors");
        rt_qfile_stats st;
        assert_int_equal(rt_quantize_model(m, bits, bits == 8 ? RT_QSCHEME_PER_CHANNEL : RT_QSCHEME_BLOCK32, NULL, 0,
                                           path, &st),
                         RT_OK);
        rt_safetensors f;
        assert_int_equal(rt_st_open(&f, path), RT_OK);
        printf("    %d bits: %zu bytes (plan %zu, file data area %zu), %d int8, %d q4, %d f32, %.3f bits/weight\n", bits,
               st.bytes, plan_bytes(m, bits), f.data_len, st.n_int8, st.n_q4, st.n_f32, st.bits_per_weight);
        assert_int_equal(st.bytes, f.data_len);
        assert_int_equal(st.bytes, plan_bytes(m, bits));
        assert_string_equal(rt_st_meta_get(&f, "bits"), bits == 8 ? "8" : "4");
        const rt_st_tensor *t2 = rt_st_find(&f, "fc2.weight"), *s2 = rt_st_find(&f, "fc2.weight.scale");
        assert_int_equal(t2->dtype, bits == 8 ? RT_I8 : RT_U8);
        assert_int_equal(s2->dtype, bits == 8 ? RT_F32 : RT_F16);
        assert_int_equal(rt_st_find(&f, "fc1.weight")->dtype, RT_I8); /* 48 columns: int8 at 4 bits too */
        assert_int_equal(rt_st_find(&f, "head.weight")->dtype, RT_F32);
        assert_null(rt_st_find(&f, "head.weight.scale"));
        rt_st_close(&f);

        rt_model *q;
        assert_int_equal(rt_model_load(&q, path), RT_OK);
        assert_non_null(q->qw);
        const rt_qmat *w1 = rt_model_qmat(q, "fc1.weight"), *w2 = rt_model_qmat(q, "fc2.weight");
        assert_non_null(w1);
        assert_non_null(w2);
        assert_null(rt_model_qmat(q, "head.weight"));
        assert_null(rt_model_qmat(q, "fc1.bias"));
        assert_int_equal(w1->bits, 8);
        assert_int_equal(w2->bits, bits);
        /* the float copies come on demand (rt_qweights_restore_floats), and then hold exactly the dequantised rule */
        assert_int_equal(q->qw->floats[rt_params_find(q->params, "fc1.weight") - q->params->views], RT_QF_RELEASED);
        rt_qweights_restore_floats(q);
        float deq[64 * 64];
        int8_t q8[64];
        rt_q4_block blk[2];
        for (int r = 0; r < 64; r++) {
            float s = rt_quant_i8_row(q8, view(m, "fc1.weight") + r * 48, 48);
            for (int k = 0; k < 48; k++) deq[r * 48 + k] = s * (float)q8[k];
        }
        assert_memory_equal(view(q, "fc1.weight"), deq, 64 * 48 * sizeof(float));
        for (int r = 0; r < 32; r++) {
            const float *x = view(m, "fc2.weight") + r * 64;
            if (bits == 4) {
                rt_quant_q4_row(blk, x, 64);
                rt_dequant_q4_row(deq + r * 64, blk, 64);
            } else {
                float s = rt_quant_i8_row(q8, x, 64);
                for (int k = 0; k < 64; k++) deq[r * 64 + k] = s * (float)q8[k];
            }
        }
        assert_memory_equal(view(q, "fc2.weight"), deq, 32 * 64 * sizeof(float));
        assert_memory_equal(view(q, "head.weight"), view(m, "head.weight"), 4 * 32 * sizeof(float));
        assert_memory_equal(view(q, "fc2.bias"), view(m, "fc2.bias"), 32 * sizeof(float));
        rt_model_free(q);
    }
    rt_model_free(m);
}

static void test_keep_and_scheme(void **state)
{
    (void)state;
    rt_model *m = new_model();
    const char *keep[] = {"fc2.*"};
    rt_qfile_stats st;
    assert_int_equal(rt_quantize_model(m, 4, RT_QSCHEME_BLOCK32, keep, 1, tu_tmp("keep.safetensors"), &st), RT_OK);
    assert_int_equal(st.n_q4, 0);
    assert_int_equal(st.n_int8, 1);
    rt_model *q;
    assert_int_equal(rt_model_load(&q, tu_tmp("keep.safetensors")), RT_OK);
    assert_null(rt_model_qmat(q, "fc2.weight"));
    assert_memory_equal(view(q, "fc2.weight"), view(m, "fc2.weight"), 32 * 64 * sizeof(float));
    rt_model_free(q);
    const char *typo[] = {"fc9.*"};
    assert_int_equal(rt_quantize_model(m, 8, RT_QSCHEME_PER_CHANNEL, typo, 1, tu_tmp("typo.safetensors"), NULL),
                     RT_ERR_ARG);
    printf("    -> %s\n", rt_errmsg());
    assert_int_equal(access(tu_tmp("typo.safetensors"), F_OK), -1);
    assert_int_equal(rt_quantize_model(m, 8, RT_QSCHEME_BLOCK32, NULL, 0, tu_tmp("x.safetensors"), NULL),
                     RT_ERR_UNSUPPORTED);
    enum rt_qscheme s;
    assert_int_equal(rt_qscheme_parse("per-row", &s), RT_ERR_ARG);
    rt_model_free(m);
}

/* ---- bad files: the q4 file with one thing changed ---- */

struct bad {
    const char *name, *needle;
    void (*mutate)(rt_st_entry *e, int *n, int64_t (*shape)[RT_MAX_DIMS], void *scratch);
};

static int find_e(rt_st_entry *e, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, name)) return i;
    fail_msg("no entry %s", name);
    return -1;
}

static void drop(rt_st_entry *e, int *n, const char *name)
{
    int i = find_e(e, *n, name);
    memmove(e + i, e + i + 1, (size_t)(*n - i - 1) * sizeof *e);
    (*n)--;
}

static void m_no_scale(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x) { drop(e, n, "fc2.weight.scale"); }
static void m_no_scale8(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x) { drop(e, n, "fc1.weight.scale"); }
static void m_short(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    int i = find_e(e, *n, "fc2.weight");
    sh[i][1] = 31; /* (32, 31) instead of (32, 32) */
}
static void m_block(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    /* fc1 (64, 48) stored as q4: 48 is not a multiple of 32 */
    int i = find_e(e, *n, "fc1.weight");
    e[i].dtype = RT_U8, e[i].ndim = 2, sh[i][0] = 64, sh[i][1] = 24;
}
static void m_dtype(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    int i = find_e(e, *n, "fc2.weight");
    e[i].dtype = RT_I16, sh[i][1] = 16;
}
static void m_scale_dtype(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    int i = find_e(e, *n, "fc1.weight.scale");
    e[i].dtype = RT_F16, sh[i][0] = 128; /* same bytes, wrong type */
}
static void m_minus128(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    int i = find_e(e, *n, "fc1.weight");
    memcpy(x, e[i].data, 64 * 48);
    ((int8_t *)x)[100] = -128;
    e[i].data = x;
}
static void m_nan_scale(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    int i = find_e(e, *n, "fc2.weight.scale");
    memcpy(x, e[i].data, 32 * 2 * 2);
    ((uint16_t *)x)[5] = 0x7e00;
    e[i].data = x;
}
static void m_stray_scale(rt_st_entry *e, int *n, int64_t (*sh)[RT_MAX_DIMS], void *x)
{
    int i = find_e(e, *n, "fc1.weight.scale");
    e[*n] = e[i];
    e[*n].name = "head.bias.scale";
    e[*n].shape = sh[*n];
    sh[*n][0] = 64;
    (*n)++;
}

static const struct bad bads[] = {
    {"no-scale", "'fc2.weight': its scale tensor 'fc2.weight.scale' is missing", m_no_scale},
    {"no-scale8", "'fc1.weight': its scale tensor 'fc1.weight.scale' is missing", m_no_scale8},
    {"short", "'fc2.weight': packed q4 payload has shape (32, 31), expected (32, 32)", m_short},
    {"block", "'fc1.weight': q4 block size 32 does not divide its rows of 48 values", m_block},
    {"dtype", "'fc2.weight' is I16; expected F32, or I8", m_dtype},
    {"scale-dtype", "scale 'fc1.weight.scale' is F16 (128), expected F32 (64)", m_scale_dtype},
    {"minus128", "'fc1.weight': value -128 at element 100", m_minus128},
    {"nan-scale", "'fc2.weight': scale of block 1 (row 2) is not finite", m_nan_scale},
    {"stray-scale", "'head.bias.scale': a scale for 'head.bias', which is stored in F32", m_stray_scale},
};

/* Write the q4 file of new_model() with bads[k]'s change; returns its path. */
static const char *write_bad(int k)
{
    rt_model *m = new_model();
    const char *good = tu_tmp("good4.safetensors");
    assert_int_equal(rt_quantize_model(m, 4, RT_QSCHEME_BLOCK32, NULL, 0, good, NULL), RT_OK);
    rt_model_free(m);
    rt_safetensors f;
    assert_int_equal(rt_st_open(&f, good), RT_OK);
    rt_st_entry e[16];
    int64_t shape[16][RT_MAX_DIMS];
    int n = f.n;
    assert_true(n < 15);
    for (int i = 0; i < n; i++) {
        memcpy(shape[i], f.t[i].shape, sizeof shape[i]);
        e[i] = (rt_st_entry){f.t[i].name, f.t[i].dtype, f.t[i].ndim, shape[i], rt_st_data(&f, &f.t[i])};
    }
    static uint8_t scratch[64 * 64];
    bads[k].mutate(e, &n, shape, scratch);
    static char path[64];
    snprintf(path, sizeof path, "bad-%s.safetensors", bads[k].name);
    const char *out = tu_tmp(path);
    rt_st_meta meta[8];
    for (int i = 0; i < f.n_meta; i++) meta[i] = f.meta[i];
    assert_int_equal(rt_st_write(out, e, n, meta, f.n_meta), RT_OK);
    rt_st_close(&f);
    return out;
}

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof bads / sizeof bads[0]; k++) {
        const char *path = write_bad((int)k);
        rt_model *q = (rt_model *)1;
        assert_int_equal(rt_model_load(&q, path), RT_ERR_FORMAT);
        assert_null(q);
        printf("    %s -> %s\n", bads[k].name, rt_errmsg());
        if (!strstr(rt_errmsg(), bads[k].needle)) fail_msg("'%s' lacks '%s'", rt_errmsg(), bads[k].needle);
        if (strncmp(rt_errmsg(), path, strlen(path))) fail_msg("'%s' does not start with the file name", rt_errmsg());
    }
}

static void test_compare(void **state)
{
    (void)state;
    rt_model *m = new_model();
    assert_int_equal(rt_quantize_model(m, 8, RT_QSCHEME_PER_CHANNEL, NULL, 0, tu_tmp("cmp.safetensors"), NULL), RT_OK);
    rt_model *q;
    assert_int_equal(rt_model_load(&q, tu_tmp("cmp.safetensors")), RT_OK);
    enum { N = 37 };
    static float x[N * 48];
    int32_t lab[N];
    for (int i = 0; i < N * 48; i++) x[i] = sinf((float)i * 0.37f) * 2.f;
    for (int i = 0; i < N; i++) lab[i] = i % 4;
    rt_dataset ds;
    assert_int_equal(rt_dataset_from_arrays(&ds, "syn", N, 1, (int64_t[]){48}, x, 4, lab, 0, NULL), RT_OK);
    rt_qcompare c, self;
    assert_int_equal(rt_quant_compare(m, q, &ds, 8, &c), RT_OK);
    assert_int_equal(rt_quant_compare(m, m, &ds, 8, &self), RT_OK);
    printf("    int8: MSE %.3g, KL %.3g, top-1 agreement %.3f; self: %g %g %g\n", c.mse, c.kl, c.top1_agree, self.mse,
           self.kl, self.top1_agree);
    assert_int_equal(c.n, N);
    assert_true(c.mse > 0 && c.mse < 1e-3 && c.kl >= 0 && c.kl < 1e-3 && c.top1_agree >= 0.9);
    assert_true(self.mse == 0 && fabs(self.kl) < 1e-12 && self.top1_agree == 1.0);
    /* KL by hand: p = softmax(0, ln 3) = (1/4, 3/4), q = (1/2, 1/2) */
    double kl = rt_kl_logits((float[]){0.f, logf(3.f)}, (float[]){1.f, 1.f}, 2);
    assert_true(fabs(kl - (0.25 * log(0.5) + 0.75 * log(1.5))) < 1e-6);
    rt_dataset_free(&ds);
    rt_model_free(q);
    rt_model_free(m);
}

/* ---- integer inference in the graph ---- */

static double max_rel(const float *a, const float *b, int64_t n)
{
    double e = 0, m = 0;
    for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i])), m = fmax(m, fabs((double)b[i]));
    return e / m;
}

/* qlinear equals quant_act + qgemm bit for bit and the float linear within the quantisation error */
static void test_qlinear_op(void **state)
{
    (void)state;
    for (int bits = 8; bits >= 4; bits -= 4) {
        rt_graph *g = tu_graph_new();
        rt_node *x = rt_input(g, "x", RT_DIMS(3, 5, 64));
        rt_node *w = rt_param(g, "w", RT_DIMS(48, 64), rt_init_uniform(0.1f));
        rt_node *b = rt_param(g, "b", RT_DIMS(48), rt_init_uniform(0.5f));
        rt_node *y = rt_linear(g, x, w, b);
        assert_non_null(y);
        rt_qmat q, bad;
        float zeros[32 * 64] = {0};
        assert_int_equal(rt_qmat_from_f32(&bad, 8, zeros, 32, 64), RT_OK);
        assert_int_equal(rt_node_use_qlinear(g, y, &bad, RT_QPATH_C), RT_ERR_SHAPE);
        printf("    -> %s\n", rt_errmsg());
        assert_int_equal(y->op, RT_OP_LINEAR);
        float ref[15 * 48];
        tu_plan(g, RT_PLAN_INFER);
        rt_params_init(g->params, 3);
        assert_int_equal(rt_qmat_from_f32(&q, bits, rt_data(w), 48, 64), RT_OK);
        tu_fill_uniform(x, 11, -2.f, 2.f);
        assert_int_equal(rt_graph_forward(g), RT_OK);
        memcpy(ref, rt_data(y), sizeof ref);
        rt_graph *g2 = rt_graph_new(g->params);
        rt_node *x2 = rt_input(g2, "x", RT_DIMS(3, 5, 64));
        rt_node *y2 = rt_linear(g2, x2, rt_param(g2, "w", RT_DIMS(48, 64), rt_init_zeros()),
                                rt_param(g2, "b", RT_DIMS(48), rt_init_zeros()));
        enum rt_qpath path;
        assert_int_equal(rt_qpath_get(&path), RT_OK);
        assert_int_equal(rt_node_use_qlinear(g2, y2, &q, path), RT_OK);
        assert_int_equal(y2->op, RT_OP_QLINEAR);
        assert_int_equal(rt_graph_plan(g2, RT_PLAN_INFER), RT_OK);
        memcpy(rt_data(x2), rt_data(x), 15 * 64 * sizeof(float));
        assert_int_equal(rt_graph_forward(g2), RT_OK);
        int8_t *a = malloc(rt_qact_bytes(&q, 15));
        float as[15], want[15 * 48];
        rt_quant_act(a, as, rt_data(x2), 15, &q);
        rt_qgemm_on(path, want, a, as, &q, rt_data(b), 15);
        assert_memory_equal(rt_data(y2), want, sizeof want);
        double e = max_rel(rt_data(y2), ref, 15 * 48);
        printf("    qlinear %d bits (%s): equal to quant_act + qgemm; max error vs float %.3g of max |y|\n", bits,
               rt_qpath_name(path), e);
        assert_true(e < (bits == 8 ? 0.02 : 0.15));
        free(a);
        rt_graph_free(g2);
        tu_graph_free(g);
        rt_qmat_free(&q);
        rt_qmat_free(&bad);
    }
}

/* a model from a quantized file: inference graphs run integer ops, training graphs the float ones */
static void test_model_int_inference(void **state)
{
    (void)state;
    static const char vcfg[] = "{\"arch\": \"vit\", \"input\": [3, 16, 16], \"num_outputs\": 5, \"patch\": 8,"
                               " \"width\": 64, \"depth\": 2, \"heads\": 4}";
    rt_model *m;
    assert_int_equal(rt_model_from_json(&m, vcfg, strlen(vcfg), "vit-tiny"), RT_OK);
    rt_model_init(m, 5);
    assert_int_equal(rt_quantize_model(m, 8, RT_QSCHEME_PER_CHANNEL, NULL, 0, tu_tmp("vit8.safetensors"), NULL), RT_OK);
    rt_model *q;
    assert_int_equal(rt_model_load(&q, tu_tmp("vit8.safetensors")), RT_OK);
    /* the float copies of integer-stored weights: absent after loading, given back by an inference
     * graph that reads them only as integers, pinned where a float op reads them, restored (the
     * same values) by anything that needs them */
    rt_model *q2;
    assert_int_equal(rt_model_load(&q2, tu_tmp("vit8.safetensors")), RT_OK);
    rt_qweights_restore_floats(q2); /* the reference values */
    int n_int = 0, n_rel = 0, n_pin = 0;
    for (int i = 0; i < q->qw->n_views; i++) {
        n_int += q->qw->mat[i] != NULL;
        n_rel += q->qw->floats[i] == RT_QF_RELEASED;
    }
    assert_true(n_int > 0 && n_rel == n_int);
    rt_graph *gi = rt_model_graph(q, 2, RT_PLAN_INFER);
    n_rel = 0;
    for (int i = 0; i < q->qw->n_views; i++) {
        n_rel += q->qw->floats[i] == RT_QF_RELEASED;
        n_pin += q->qw->floats[i] == RT_QF_PINNED;
        if (q->qw->floats[i] == RT_QF_PINNED) /* a pinned copy holds its values */
            assert_memory_equal(rt_params_data(q->params, &q->params->views[i]),
                                rt_params_data(q2->params, &q2->params->views[i]),
                                q->params->views[i].numel * sizeof(float));
    }
    printf("    int8 file: %d integer-stored views, %d released after an inference graph, %d pinned (float ops)\n",
           n_int, n_rel, n_pin);
    assert_true(n_rel > 0 && n_rel + n_pin == n_int);
    assert_int_equal(rt_model_save(q, tu_tmp("vit8-floats.safetensors")), RT_OK); /* saving brings them back */
    assert_memory_equal(q->params->data, q2->params->data, q->params->numel * sizeof(float));
    rt_model_free(q2);
    rt_graph *gt = rt_model_graph(q, 2, RT_PLAN_TRAIN);
    rt_graph *gf = rt_model_graph(m, 2, RT_PLAN_INFER);
    assert_non_null(gi);
    assert_non_null(gt);
    int nq = 0, natt = 0;
    for (int i = 0; i < gi->n_nodes; i++) {
        nq += gi->nodes[i]->op == RT_OP_QLINEAR;
        if (gi->nodes[i]->op == RT_OP_ATTENTION)
            natt += RT_ARGS(gi->nodes[i], struct rt_attention_args)->q_qkv != NULL;
    }
    for (int i = 0; i < gt->n_nodes; i++) assert_int_not_equal(gt->nodes[i]->op, RT_OP_QLINEAR);
    printf("    vit-tiny int8: %d qlinear nodes, %d attention nodes with integer projections\n", nq, natt);
    assert_true(nq >= 4 && natt == 2);
    for (int k = 0; k < 2 * 3 * 16 * 16; k++) rt_data(rt_graph_tap(gi, "input"))[k] = sinf((float)k * 0.3f);
    memcpy(rt_data(rt_graph_tap(gf, "input")), rt_data(rt_graph_tap(gi, "input")), 2 * 3 * 16 * 16 * sizeof(float));
    rt_graph_set_training(gi, false);
    rt_graph_set_training(gf, false);
    assert_int_equal(rt_graph_forward(gi), RT_OK);
    assert_int_equal(rt_graph_forward(gf), RT_OK);
    double e = max_rel(rt_data(rt_graph_tap(gi, "output")), rt_data(rt_graph_tap(gf, "output")), 10);
    printf("    integer vs FP32 logits: max error %.3g of max |logit|\n", e);
    assert_true(e < 0.05);
    /* fused (gelu into qlinear, residuals into qlinear and integer attention) = unfused, bit for bit */
    rt_graph *gu = rt_model_build(q, 2);
    assert_non_null(gu);
    assert_int_equal(rt_qweights_apply(q->qw, gu), RT_OK);
    rt_graph_set_fusion(gu, false);
    assert_int_equal(rt_graph_plan(gu, RT_PLAN_INFER), RT_OK);
    rt_graph_set_training(gu, false);
    memcpy(rt_data(rt_graph_tap(gu, "input")), rt_data(rt_graph_tap(gi, "input")), 2 * 3 * 16 * 16 * sizeof(float));
    assert_int_equal(rt_graph_forward(gu), RT_OK);
    int nf = 0;
    for (int i = 0; i < gi->n_nodes; i++)
        nf += (gi->nodes[i]->op == RT_OP_QLINEAR || gi->nodes[i]->op == RT_OP_ATTENTION) &&
              (gi->nodes[i]->fuse_act || gi->nodes[i]->fuse_res);
    assert_true(nf >= 4);
    assert_memory_equal(rt_data(rt_graph_tap(gu, "output")), rt_data(rt_graph_tap(gi, "output")), 2 * 5 * sizeof(float));
    rt_graph_free(gu);
    rt_graph_free(gi);
    rt_graph_free(gt);
    rt_graph_free(gf);
    rt_model_free(q);
    rt_model_free(m);
}

/* ---- the CLI ---- */

static double jnum(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (!x) fail_msg("no JSON field %s%s%s", a, b ? "." : "", b ? b : "");
    return x->valuedouble;
}

static void test_cli(void **state)
{
    (void)state;
    tu_need_cli();
    char args[2048];
    /* the MobileViT student from its config: sizes equal the file and `retort summary`, INT4 <= 0.16x */
    cJSON *sum = tu_run_cli_json("summary configs/mobilevit-s-emotion.json --json");
    for (int bits = 8; bits >= 4; bits -= 4) {
        const char *out = tu_tmp(bits == 8 ? "mv8.safetensors" : "mv4.safetensors");
        snprintf(args, sizeof args, "quantize configs/mobilevit-s-emotion.json --bits %d -o '%s' --json", bits, out);
        cJSON *j = tu_run_cli_json(args);
        rt_safetensors f;
        assert_int_equal(rt_st_open(&f, out), RT_OK);
        double bytes = jnum(j, "bytes", NULL), ratio = jnum(j, "ratio", NULL);
        printf("    mobilevit-s int%d: %.0f bytes, %.4fx FP32, %.3f bits/weight\n", bits, bytes, ratio,
               jnum(j, "bits_per_weight", NULL));
        assert_true(bytes == (double)f.data_len);
        assert_true(bytes == jnum(cJSON_GetObjectItemCaseSensitive(sum, "total"), "bytes", bits == 8 ? "int8" : "int4"));
        assert_true(jnum(j, "fp32_bytes", NULL) ==
                    jnum(cJSON_GetObjectItemCaseSensitive(sum, "total"), "bytes", "fp32"));
        if (bits == 4) assert_true(ratio <= 0.16);
        enum rt_qpath path;
        assert_int_equal(rt_qpath_get(&path), RT_OK);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "kernel")->valuestring, rt_qpath_name(path));
        rt_st_close(&f);
        cJSON_Delete(j);
        /* the file is a model file: summary accepts it */
        snprintf(args, sizeof args, "summary '%s' --json", out);
        cJSON_Delete(tu_run_cli_json(args));
    }
    cJSON_Delete(sum);
}

static void test_cli_eval(void **state)
{
    (void)state;
    tu_need_cli();
    char args[2048];
    const char *cfgp = tu_tmp("q-mlp.json"), *model = tu_tmp("q-mlp.safetensors"), *out = tu_tmp("q-mlp-8.safetensors");
    FILE *fc = fopen(cfgp, "w");
    assert_non_null(fc);
    fputs(cfg, fc);
    fclose(fc);
    /* a dataset of the model's input width */
    rt_model *m = new_model();
    assert_int_equal(rt_model_save(m, model), RT_OK);
    rt_model_free(m);
    enum { N = 50 };
    static float x[N * 48], y[N];
    for (int i = 0; i < N * 48; i++) x[i] = cosf((float)i * 0.11f);
    for (int i = 0; i < N; i++) y[i] = (float)(i % 4);
    const int64_t xs[2] = {N, 48}, ys[1] = {N};
    const rt_st_entry de[2] = {{"x", RT_F32, 2, xs, x}, {"y", RT_F32, 1, ys, y}};
    assert_int_equal(rt_st_write(tu_tmp("data.safetensors"), de, 2, NULL, 0), RT_OK);
    snprintf(args, sizeof args, "quantize '%s' --bits 8 -o '%s' --eval '%s' --json --batch 16", model, out,
             tu_tmp("data.safetensors"));
    cJSON *j = tu_run_cli_json(args);
    printf("    eval: accuracy %.3f -> %.3f, MSE %.3g, KL %.3g, top-1 %.3f\n", jnum(j, "eval", "fp32"),
           jnum(j, "eval", "quantized"), jnum(j, "eval", "output_mse"), jnum(j, "eval", "kl"),
           jnum(j, "eval", "top1_agreement"));
    assert_true(jnum(j, "eval", "samples") == N);
    assert_true(jnum(j, "eval", "output_mse") > 0 && jnum(j, "eval", "kl") >= 0);
    assert_true(jnum(j, "eval", "top1_agreement") >= 0.9 && jnum(j, "eval", "top1_agreement") <= 1.0);
    /* int8 outputs are bit-identical on every kernel path: the portable C path gives the same figures */
    setenv("RETORT_QKERNEL", "c", 1);
    cJSON *jc = tu_run_cli_json(args);
    unsetenv("RETORT_QKERNEL");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(jc, "kernel")->valuestring, "c");
    assert_true(jnum(jc, "eval", "output_mse") == jnum(j, "eval", "output_mse"));
    assert_true(jnum(jc, "eval", "kl") == jnum(j, "eval", "kl"));
    cJSON_Delete(jc);
    cJSON_Delete(j);
    /* the table names every figure */
    snprintf(args, sizeof args, "quantize '%s' --bits 4 -o '%s' --eval '%s'", model, out, tu_tmp("data.safetensors"));
    int lines;
    char first[512];
    assert_int_equal(tu_run_cli(args, &lines, first, sizeof first), 0);
    char *txt = tu_cli_stdout();
    const char *want[] = {"size", "bits/weight", "smaller", "kernel", "accuracy", "output MSE", "KL", "top-1 agree"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(txt, want[i])) fail_msg("table lacks '%s':\n%s", want[i], txt);
    free(txt);

    /* usage and bad input: one line, exit code, no file left */
    const char *bad = tu_tmp("bad-out.safetensors");
    const struct { const char *input, *opts; int code; const char *needle; } cases[] = {
        {model, "", 2, "--bits"},
        {model, "--bits 5", 2, "not one of 8, 4"},
        {model, "--bits 8 --scheme block32", 2, "supported are"},
        {model, "--bits 8 --keep 'nope.*'", 1, "--keep 'nope.*'"},
        {model, "--bits 8 --eval npy:/nonexistent.npy,/x.npy", 1, "nonexistent"},
        {out, "--bits 8", 1, "already quantized"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "quantize '%s' %s -o '%s'", cases[i].input, cases[i].opts, bad);
        tu_expect_cli_failure(args, cases[i].code, bad, cases[i].needle);
    }
    setenv("RETORT_QKERNEL", "sse9", 1);
    snprintf(args, sizeof args, "quantize '%s' --bits 8 -o '%s'", model, bad);
    tu_expect_cli_failure(args, 2, bad, "RETORT_QKERNEL=sse9: not one of vnni, avx2, c");
    unsetenv("RETORT_QKERNEL");
    /* a bad quantized file: one line from any model command */
    const char *bf = write_bad(0);
    snprintf(args, sizeof args, "summary '%s'", bf);
    tu_expect_cli_failure(args, 1, NULL, "its scale tensor 'fc2.weight.scale' is missing");
    snprintf(args, sizeof args, "eval '%s' --data '%s'", bf, tu_tmp("data.safetensors"));
    tu_expect_cli_failure(args, 1, NULL, "its scale tensor 'fc2.weight.scale' is missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read), cmocka_unit_test(test_keep_and_scheme), cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_compare),    cmocka_unit_test(test_qlinear_op),      cmocka_unit_test(test_model_int_inference),
        cmocka_unit_test(test_cli),        cmocka_unit_test(test_cli_eval),
    };
    return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
