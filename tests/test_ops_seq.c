/*
 * test_ops_seq.c - lstm, stats_pool, attn_stats_pool: PyTorch parity
 * (fixtures from tests/fixtures/fx_seq.py: torch.nn.LSTM itself, one and
 * two layers), finite-difference gradient checks, a large LSTM (threaded
 * gate loops) against a naive double-precision recurrence, and shape errors.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX "tests/fixtures/ops_seq.safetensors"
#define EPS 1e-5f
static tu_fixture fx;

static int setup(void **state) { (void)state; tu_fixture_open(&fx, FIX); return 0; }
static int teardown(void **state) { (void)state; tu_fixture_close(&fx); return 0; }

/* Run parity and (unless skipped) gradcheck on a built graph, then free it. */
static void check(rt_graph *g, rt_node *y, const char *name, bool gradcheck)
{
    tu_check_op(g, y, &fx, name, gradcheck ? NULL : &tu_no_gradcheck);
}

/* One lstm layer over the fixture's leaves "<w>[sfx]"; biases optional. */
static rt_node *lstm_layer(rt_graph *g, rt_node *x, const char *c, const char *sfx, bool b_ih, bool b_hh)
{
    char n[4][16];
    static const char *base[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
    for (int i = 0; i < 4; i++) snprintf(n[i], sizeof n[i], "%s%s", base[i], sfx);
    return rt_lstm(g, x, tu_param(g, &fx, c, n[0]), tu_param(g, &fx, c, n[1]), b_ih ? tu_param(g, &fx, c, n[2]) : NULL,
                   b_hh ? tu_param(g, &fx, c, n[3]) : NULL);
}

static void test_lstm(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    check(g, lstm_layer(g, tu_input(g, &fx, "lstm", "x"), "lstm", "", true, true), "lstm", true);
    g = tu_graph_new();
    check(g, lstm_layer(g, tu_input(g, &fx, "lstm_nobias", "x"), "lstm_nobias", "", false, false), "lstm_nobias",
          true);
    g = tu_graph_new();
    check(g, lstm_layer(g, tu_input(g, &fx, "lstm_bih", "x"), "lstm_bih", "", true, false), "lstm_bih", true);
    g = tu_graph_new();
    check(g, lstm_layer(g, tu_input(g, &fx, "lstm_t1", "x"), "lstm_t1", "", true, true), "lstm_t1", true);
}

/* nn.LSTM(num_layers=2) == two stacked lstm nodes; also in an inference plan. */
static void test_lstm_two_layers(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_node *h = lstm_layer(g, tu_input(g, &fx, "lstm2", "x"), "lstm2", "0", true, true);
    check(g, lstm_layer(g, h, "lstm2", "1", true, true), "lstm2", true);

    g = tu_graph_new();
    h = lstm_layer(g, tu_input(g, &fx, "lstm2", "x"), "lstm2", "0", true, true);
    rt_node *y = lstm_layer(g, h, "lstm2", "1", true, true);
    assert_non_null(y);
    tu_plan(g, RT_PLAN_INFER);
    tu_parity(g, y, &fx, "lstm2", 1e-5, 1e-4);
    tu_graph_free(g);
}

static double sig(double v) { return 1 / (1 + exp(-v)); }

/* Naive nn.LSTM layer in double: x (B,T,F) -> h (B,T,H). */
static void naive_lstm(double *out, const float *x, const float *wi, const float *wh, const float *bi,
                       const float *bh, int B, int T, int F, int H)
{
    double *hp = calloc((size_t)(B * H), sizeof *hp), *c = calloc((size_t)(B * H), sizeof *c);
    double *a = malloc((size_t)(4 * H) * sizeof *a);
    assert_non_null(hp);
    assert_non_null(c);
    assert_non_null(a);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            for (int r = 0; r < 4 * H; r++) {
                double s = (double)bi[r] + bh[r];
                for (int k = 0; k < F; k++) s += (double)wi[r * F + k] * x[(b * T + t) * F + k];
                for (int k = 0; k < H; k++) s += (double)wh[r * H + k] * hp[b * H + k];
                a[r] = s;
            }
            for (int j = 0; j < H; j++) {
                double cv = sig(a[H + j]) * c[b * H + j] + sig(a[j]) * tanh(a[2 * H + j]);
                c[b * H + j] = cv;
                out[(b * T + t) * H + j] = sig(a[3 * H + j]) * tanh(cv);
            }
            for (int j = 0; j < H; j++) hp[b * H + j] = out[(b * T + t) * H + j];
        }
    free(hp);
    free(c);
    free(a);
}

/* B*H above the threshold of the threaded gate loops; BLAS with real strides. */
static void test_lstm_large(void **state)
{
    (void)state;
    const int B = 9, T = 4, F = 12, H = 520;
    rt_graph *g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(B, T, F));
    rt_node *wi = rt_param(g, "w_ih", RT_DIMS(4 * H, F), rt_init_zeros());
    rt_node *wh = rt_param(g, "w_hh", RT_DIMS(4 * H, H), rt_init_zeros());
    rt_node *bi = rt_param(g, "b_ih", RT_DIMS(4 * H), rt_init_zeros());
    rt_node *bh = rt_param(g, "b_hh", RT_DIMS(4 * H), rt_init_zeros());
    rt_node *y = rt_lstm(g, x, wi, wh, bi, bh);
    assert_non_null(y);
    tu_plan(g, RT_PLAN_TRAIN);
    float s = 1.f / sqrtf((float)H);
    tu_fill_uniform(x, 1, -1.f, 1.f);
    tu_fill_uniform(wi, 2, -s, s);
    tu_fill_uniform(wh, 3, -s, s);
    tu_fill_uniform(bi, 4, -s, s);
    tu_fill_uniform(bh, 5, -s, s);
    assert_int_equal(rt_graph_forward(g), RT_OK);
    int64_t n = rt_numel(y);
    double *want = malloc((size_t)n * sizeof *want);
    float *wf = malloc((size_t)n * sizeof *wf);
    assert_non_null(want);
    assert_non_null(wf);
    naive_lstm(want, rt_data(x), rt_data(wi), rt_data(wh), rt_data(bi), rt_data(bh), B, T, F, H);
    for (int64_t i = 0; i < n; i++) wf[i] = (float)want[i];
    tu_compare("lstm_large.out", rt_data(y), wf, n, 1e-5);
    free(want);
    free(wf);
    tu_graph_free(g);
}

static void test_stats_pool(void **state)
{
    (void)state;
    static const char *cs[] = {"stats_pool", "stats_pool_wide", "stats_pool_clamp"};
    for (int i = 0; i < 3; i++) {
        rt_graph *g = tu_graph_new();
        /* The clamp case's gradcheck is valid too: perturbing the constant
         * channel by 1e-3 keeps its variance far below eps. */
        check(g, rt_stats_pool(g, tu_input(g, &fx, cs[i], "x"), EPS), cs[i], true);
    }
}

static void test_attn_stats_pool(void **state)
{
    (void)state;
    static const char *cs[] = {"attn_stats_pool", "attn_stats_pool_ch", "attn_stats_pool_t1", "attn_stats_pool_wide",
                               "attn_stats_pool_clamp"};
    for (int i = 0; i < 5; i++) {
        rt_graph *g = tu_graph_new();
        rt_node *y = rt_attn_stats_pool(g, tu_input(g, &fx, cs[i], "x"), tu_input(g, &fx, cs[i], "w"), EPS);
        /* No gradcheck where the clamp is active: moving a one-hot weight by
         * 1e-3 gives a variance near 1e-3, across the eps=1e-5 kink. */
        check(g, y, cs[i], i != 4);
    }
}

#define EXPECT_SHAPE_ERROR(g, expr, opname)                 \
    do {                                                    \
        assert_null(expr);                                  \
        assert_int_equal(rt_graph_status(g), RT_ERR_SHAPE); \
        printf("    error: %s\n", rt_errmsg());             \
        assert_non_null(strstr(rt_errmsg(), opname));       \
        tu_graph_free(g);                                   \
    } while (0)

/* An lstm over x (2, 5, xf) with hidden 4 and the given weight shapes. */
static rt_node *lstm_try(rt_graph *g, int64_t xf, int64_t wi0, int64_t wi1, int64_t wh0, int64_t wh1, int64_t nb)
{
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 5, xf));
    rt_node *wi = rt_param(g, "w_ih", RT_DIMS(wi0, wi1), rt_init_zeros());
    rt_node *wh = rt_param(g, "w_hh", RT_DIMS(wh0, wh1), rt_init_zeros());
    rt_node *b = rt_param(g, "b_hh", RT_DIMS(nb), rt_init_zeros());
    return rt_lstm(g, x, wi, wh, NULL, b);
}

static void test_shape_errors(void **state)
{
    (void)state;
    rt_graph *g = tu_graph_new();
    rt_graph_scope(g, "encoder.lstm0");
    EXPECT_SHAPE_ERROR(g, lstm_try(g, 3, 16, 4, 16, 4, 16), "lstm"); /* w_ih has 4 inputs, x 3 */
    assert_non_null(strstr(rt_errmsg(), "encoder.lstm0"));
    assert_non_null(strstr(rt_errmsg(), "(2, 5, 3)"));
    g = tu_graph_new();
    EXPECT_SHAPE_ERROR(g, lstm_try(g, 3, 16, 3, 12, 4, 16), "lstm"); /* w_hh not (4H, H) */
    g = tu_graph_new();
    EXPECT_SHAPE_ERROR(g, lstm_try(g, 3, 12, 3, 16, 4, 16), "lstm"); /* w_ih rows != 4H */
    g = tu_graph_new();
    EXPECT_SHAPE_ERROR(g, lstm_try(g, 3, 16, 3, 16, 4, 12), "lstm"); /* bias */
    assert_non_null(strstr(rt_errmsg(), "b_hh"));
    g = tu_graph_new();
    rt_node *x2 = rt_input(g, "x", RT_DIMS(10, 3));
    EXPECT_SHAPE_ERROR(g, rt_lstm(g, x2, rt_param(g, "w_ih", RT_DIMS(16, 3), rt_init_zeros()),
                                  rt_param(g, "w_hh", RT_DIMS(16, 4), rt_init_zeros()), NULL, NULL),
                       "lstm");

    g = tu_graph_new();
    EXPECT_SHAPE_ERROR(g, rt_stats_pool(g, rt_input(g, "x", RT_DIMS(4, 6)), EPS), "stats_pool");
    assert_non_null(strstr(rt_errmsg(), "(4, 6)"));
    g = tu_graph_new();
    EXPECT_SHAPE_ERROR(g, rt_stats_pool(g, rt_input(g, "x", RT_DIMS(2, 4, 6)), -1.f), "stats_pool");

    g = tu_graph_new();
    rt_node *x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    EXPECT_SHAPE_ERROR(g, rt_attn_stats_pool(g, x, rt_input(g, "w", RT_DIMS(2, 4)), EPS), "attn_stats_pool");
    assert_non_null(strstr(rt_errmsg(), "(2, 4)"));
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    EXPECT_SHAPE_ERROR(g, rt_attn_stats_pool(g, x, rt_input(g, "w", RT_DIMS(2, 5, 7)), EPS), "attn_stats_pool");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(2, 5, 8));
    EXPECT_SHAPE_ERROR(g, rt_attn_stats_pool(g, x, rt_input(g, "w", RT_DIMS(3, 5)), EPS), "attn_stats_pool");
    g = tu_graph_new();
    x = rt_input(g, "x", RT_DIMS(10, 8));
    EXPECT_SHAPE_ERROR(g, rt_attn_stats_pool(g, x, rt_input(g, "w", RT_DIMS(10, 8)), EPS), "attn_stats_pool");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm),       cmocka_unit_test(test_lstm_two_layers),
        cmocka_unit_test(test_lstm_large), cmocka_unit_test(test_stats_pool),
        cmocka_unit_test(test_attn_stats_pool), cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
