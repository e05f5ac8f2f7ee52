/*
 * test_data.c - datasets (Fashion-MNIST, IDX, .npy, .safetensors), one
 * rejection per validation rule, stratified subsets, the loader's order,
 * position save/restore, and augmentation (noise, mixup, Gamma/Beta draws).
 *
 * Image options (?size=HxW resizing, ?channels=C replication) against a
 * double-precision reference of PyTorch's bilinear rule.
 *
 * Files are written by the test into a fresh /tmp directory. Statistical
 * checks state their tolerance (4 standard errors unless said) and print the
 * measured values.
 */
#include "testutil.h"

#include "data/dataset.h"
#include "data/loader.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void expect_error(const char *spec, rt_status want, const char *needle)
{
    rt_dataset ds;
    rt_status s = rt_dataset_open(&ds, spec);
    printf("    %s -> %s\n", spec, rt_errmsg());
    assert_int_equal(s, want);
    if (!strstr(rt_errmsg(), needle)) fail_msg("'%s' lacks '%s'", rt_errmsg(), needle);
    assert_null(ds.x);
}

static void write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t h[4] = {0, 0, 8, (uint8_t)ndim};
    fwrite(h, 1, 4, f);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        fwrite(d, 1, 4, f);
        n *= dims[i];
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

/* ---- Fashion-MNIST ---------------------------------------------------------- */

static void test_fmnist(void **state)
{
    (void)state;
    if (access(RT_FMNIST_DIR "/train-labels-idx1-ubyte.gz", R_OK) != 0) {
        printf("    SKIP: Fashion-MNIST not installed (apt install dataset-fashion-mnist)\n");
        skip();
    }
    static const int train_first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, test_first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    rt_dataset tr, te;
    assert_int_equal(rt_dataset_open(&tr, "fmnist:train"), RT_OK);
    assert_int_equal(rt_dataset_open(&te, "fmnist:test"), RT_OK);
    assert_int_equal(tr.n, 60000);
    assert_int_equal(te.n, 10000);
    assert_int_equal(tr.x_ndim, 2);
    assert_int_equal(tr.x_shape[0], 28);
    assert_int_equal(tr.x_shape[1], 28);
    assert_int_equal(tr.x_size, 784);
    assert_int_equal(tr.n_classes, 10);
    assert_null(tr.y);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tr.label[i], train_first[i]);
        assert_int_equal(te.label[i], test_first[i]);
    }
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < tr.n * tr.x_size; i++) {
        lo = fminf(lo, tr.x[i]);
        hi = fmaxf(hi, tr.x[i]);
    }
    double s = 0, mean, std;
    for (int k = 0; k < 784; k++) s += tr.x[k] * 255.0;
    rt_dataset_stats(&tr, &mean, &std);
    printf("    train: x in [%g, %g], mean %.5f std %.5f, first image sum*255 %.1f\n", lo, hi, mean, std, s);
    assert_true(lo == 0.f && hi == 1.f);
    assert_true(fabs(s - 76247) < 0.1);                 /* numpy: sum of the first image's bytes */
    assert_true(fabs(mean - 0.2860406) < 1e-5 && fabs(std - 0.3530242) < 1e-5);
    /* stratified 10%: exactly 600 per class (6000 each) */
    assert_int_equal(rt_dataset_subset(&tr, 0.1, 1), RT_OK);
    int count[10] = {0};
    for (int64_t i = 0; i < tr.n; i++) count[tr.label[i]]++;
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], 600);
    rt_dataset_free(&tr);
    rt_dataset_free(&te);
}

static void test_named_missing(void **state)
{
    (void)state;
    setenv("RETORT_FMNIST_DIR", "/nonexistent/fashion-mnist", 1);
    expect_error("fmnist:train", RT_ERR_IO,
                 "install Debian's dataset-fashion-mnist (apt install dataset-fashion-mnist)");
    setenv("RETORT_MNIST_DIR", "/nonexistent/mnist", 1);
    expect_error("mnist:test", RT_ERR_IO, "MNIST not found in /nonexistent/mnist");
    unsetenv("RETORT_MNIST_DIR");
    expect_error("fmnist:valid", RT_ERR_ARG, "unknown split 'valid'");
    expect_error("foo.csv", RT_ERR_ARG, "unknown dataset spec");
    expect_error("npy:only_one.npy", RT_ERR_ARG, "unknown dataset spec");
    /* a fake Fashion-MNIST directory whose labels go past 9 */
    uint8_t img[3 * 4] = {0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, lab[3] = {1, 10, 2};
    write_idx(tu_tmp("train-images-idx3-ubyte"), 3, (uint32_t[]){3, 2, 2}, img);
    write_idx(tu_tmp("train-labels-idx1-ubyte"), 1, (uint32_t[]){3}, lab);
    setenv("RETORT_FMNIST_DIR", tu_tmpdir(), 1);
    expect_error("fmnist:train", RT_ERR_FORMAT,
                 "train-labels-idx1-ubyte: label 1 is 10, not a class index in [0, 10)");
    lab[1] = 9;
    write_idx(tu_tmp("train-labels-idx1-ubyte"), 1, (uint32_t[]){3}, lab);
    rt_dataset ds;
    assert_int_equal(rt_dataset_open(&ds, "fmnist:train"), RT_OK);
    assert_int_equal(ds.n, 3);
    assert_true(ds.x[1] == 1.f && ds.x[2] == 1.f / 255.f);
    rt_dataset_free(&ds);
    unsetenv("RETORT_FMNIST_DIR");
}

/* ---- files written here ----------------------------------------------------- */

static void test_idx_pair(void **state)
{
    (void)state;
    uint8_t img[4 * 3] = {0}, lab[4] = {3, 0, 1, 3};
    for (int i = 0; i < 12; i++) img[i] = (uint8_t)(i * 20);
    write_idx(tu_tmp("i.idx"), 2, (uint32_t[]){4, 3}, img);
    write_idx(tu_tmp("l.idx"), 1, (uint32_t[]){4}, lab);
    write_idx(tu_tmp("l3.idx"), 1, (uint32_t[]){3}, lab);
    char spec[600];
    snprintf(spec, sizeof spec, "idx:%s,%s", tu_tmp("i.idx"), tu_tmp("l.idx"));
    rt_dataset ds;
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.x_size, 3);
    assert_int_equal(ds.n_classes, 4);
    assert_true(ds.x[11] == 220.f / 255.f);
    assert_string_equal(ds.source, spec);
    rt_dataset_free(&ds);
    snprintf(spec, sizeof spec, "idx:%s,%s", tu_tmp("i.idx"), tu_tmp("l3.idx"));
    expect_error(spec, RT_ERR_SHAPE, "i.idx has 4 samples but");
    /* truncated IDX */
    assert_int_equal(truncate(tu_tmp("i.idx"), 4 + 8 + 5), 0);
    snprintf(spec, sizeof spec, "idx:%s,%s", tu_tmp("i.idx"), tu_tmp("l.idx"));
    expect_error(spec, RT_ERR_FORMAT, "i.idx: IDX header promises 12 bytes of data, file has 5");
}

static void write_npy(const char *name, const float *v, int ndim, const int64_t *shape)
{
    assert_int_equal(rt_npy_write_f32(tu_tmp(name), v, ndim, shape), RT_OK);
}

static void test_npy(void **state)
{
    (void)state;
    enum { N = 30 };
    float x[N * 6], y[N], yr[N * 2];
    for (int i = 0; i < N * 6; i++) x[i] = (float)i * 0.5f;
    for (int i = 0; i < N; i++) y[i] = (float)(i % 4);
    for (int i = 0; i < N * 2; i++) yr[i] = (float)i - 7.25f;
    write_npy("x.npy", x, RT_DIMS(N, 2, 3));
    write_npy("y.npy", y, RT_DIMS(N));
    write_npy("yr.npy", yr, RT_DIMS(N, 2));
    char spec[600];
    rt_dataset ds;
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y.npy"));
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.x_ndim, 2);
    assert_int_equal(ds.x_size, 6);
    assert_int_equal(ds.n_classes, 4);
    assert_int_equal(ds.label[7], 3);
    assert_true(ds.x[N * 6 - 1] == (N * 6 - 1) * 0.5f);
    rt_dataset_free(&ds);
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("yr.npy"));
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(ds.n_classes, 0);
    assert_null(ds.label);
    assert_int_equal(ds.y_size, 2);
    assert_true(ds.y[5] == 5 - 7.25f);
    rt_dataset_free(&ds);

    /* rejections: counts, NaN, Inf, non-integer and negative labels, bad y rank, truncation */
    write_npy("y29.npy", y, RT_DIMS(N - 1));
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y29.npy"));
    expect_error(spec, RT_ERR_SHAPE, "x.npy has 30 samples but");
    x[7 * 6 + 2] = NAN;
    write_npy("xnan.npy", x, RT_DIMS(N, 2, 3));
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("xnan.npy"), tu_tmp("y.npy"));
    expect_error(spec, RT_ERR_NONFINITE, "xnan.npy: x sample 7 element 2 is NaN");
    yr[2 * 11 + 1] = -INFINITY;
    write_npy("yinf.npy", yr, RT_DIMS(N, 2));
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("yinf.npy"));
    expect_error(spec, RT_ERR_NONFINITE, "yinf.npy: y sample 11 element 1 is Inf");
    y[4] = 2.5f;
    write_npy("yfrac.npy", y, RT_DIMS(N));
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("yfrac.npy"));
    expect_error(spec, RT_ERR_FORMAT, "yfrac.npy: label 4 is 2.5, not a class index");
    y[4] = -1;
    write_npy("yneg.npy", y, RT_DIMS(N));
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("yneg.npy"));
    expect_error(spec, RT_ERR_FORMAT, "yneg.npy: label 4 is -1");
    write_npy("y3.npy", x, RT_DIMS(N, 2, 3));
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y3.npy"));
    expect_error(spec, RT_ERR_SHAPE, "y has 3 dimensions");
    assert_int_equal(truncate(tu_tmp("x.npy"), 200), 0);
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("x.npy"), tu_tmp("y.npy"));
    expect_error(spec, RT_ERR_FORMAT, "x.npy");
    snprintf(spec, sizeof spec, "npy:%s,%s", tu_tmp("none.npy"), tu_tmp("y.npy"));
    expect_error(spec, RT_ERR_IO, "none.npy: cannot open");
}

/* ---- image options (?size=, ?channels=) -------------------------------------- */

/* PyTorch's bilinear rule (F.interpolate, align_corners=False), in double:
 * output o of an axis of n resized to m reads src = max(0, (o + 0.5) n / m - 0.5). */
static double bilinear_ref(const float *x, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t r, int64_t c)
{
    double sr = fmax(0, ((double)r + 0.5) * (double)H / (double)OH - 0.5);
    double sc = fmax(0, ((double)c + 0.5) * (double)W / (double)OW - 0.5);
    int64_t r0 = (int64_t)sr, c0 = (int64_t)sc, r1 = r0 < H - 1 ? r0 + 1 : r0, c1 = c0 < W - 1 ? c0 + 1 : c0;
    double lr = sr - (double)r0, lc = sc - (double)c0;
    return (1 - lr) * ((1 - lc) * x[r0 * W + c0] + lc * x[r0 * W + c1]) +
           lr * ((1 - lc) * x[r1 * W + c0] + lc * x[r1 * W + c1]);
}

/* Largest error of ds against the reference (relative above 1 in magnitude) over
 * the first n samples, every channel. */
static double resize_error(const rt_dataset *ds, int64_t n, const float *x, int64_t H, int64_t W)
{
    int64_t C = ds->x_ndim == 3 ? ds->x_shape[0] : 1, OH = ds->x_shape[ds->x_ndim - 2],
            OW = ds->x_shape[ds->x_ndim - 1];
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t r = 0; r < OH; r++)
                for (int64_t c = 0; c < OW; c++) {
                    double want = bilinear_ref(x + i * H * W, H, W, OH, OW, r, c);
                    worst = fmax(worst, fabs(ds->x[((i * C + ch) * OH + r) * OW + c] - want) / fmax(1, fabs(want)));
                }
    return worst;
}

static void open_spec(rt_dataset *ds, const char *base, const char *opts)
{
    char spec[700];
    snprintf(spec, sizeof spec, "%s%s", base, opts);
    if (rt_dataset_open(ds, spec) != RT_OK) fail_msg("%s: %s", spec, rt_errmsg());
    assert_string_equal(ds->source, spec);
}

static void test_image_options(void **state)
{
    (void)state;
    enum { N = 3, H = 5, W = 7 };
    float x[N * H * W], y[N] = {0, 1, 2}, sq[4] = {0, 1, 2, 3};
    for (int i = 0; i < N * H * W; i++) x[i] = sinf((float)i * 0.71f) + 0.05f * (float)i;
    write_npy("img.npy", x, RT_DIMS(N, H, W));
    write_npy("img1.npy", x, RT_DIMS(N, 1, H, W));
    write_npy("sq.npy", sq, RT_DIMS(1, 2, 2));
    write_npy("y.npy", y, RT_DIMS(N));
    write_npy("y1.npy", y, RT_DIMS(1));
    char base[600], base1[600], sqb[600];
    snprintf(base, sizeof base, "npy:%s,%s", tu_tmp("img.npy"), tu_tmp("y.npy"));
    snprintf(base1, sizeof base1, "npy:%s,%s", tu_tmp("img1.npy"), tu_tmp("y.npy"));
    snprintf(sqb, sizeof sqb, "npy:%s,%s", tu_tmp("sq.npy"), tu_tmp("y1.npy"));
    rt_dataset ds;

    /* 2x2 -> 4x4, PyTorch's documented result for [[0, 1], [2, 3]] */
    static const float up[16] = {0, .25f, .75f, 1, .5f, .75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    open_spec(&ds, sqb, "?size=4");
    assert_int_equal(ds.x_ndim, 2);
    assert_int_equal(ds.x_size, 16);
    for (int i = 0; i < 16; i++) assert_true(fabsf(ds.x[i] - up[i]) < 1e-6f);
    rt_dataset_free(&ds);

    /* up in one axis, down in the other; (H, W) samples stay (OH, OW); labels kept */
    open_spec(&ds, base, "?size=9x4");
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.x_ndim, 2);
    assert_true(ds.x_shape[0] == 9 && ds.x_shape[1] == 4 && ds.x_size == 36);
    assert_int_equal(ds.label[2], 2);
    double e = resize_error(&ds, N, x, H, W);
    printf("    size=9x4: largest relative error vs the double reference %.2g (tol 1e-6)\n", e);
    assert_true(e < 1e-6);
    rt_dataset_free(&ds);

    /* channels=3 replicates one channel, after resizing; (1, H, W) samples too; option order free */
    const char *bases[2] = {base, base1};
    for (int k = 0; k < 2; k++) {
        open_spec(&ds, bases[k], k ? "?channels=3&size=16" : "?size=16&channels=3");
        assert_int_equal(ds.x_ndim, 3);
        assert_true(ds.x_shape[0] == 3 && ds.x_shape[1] == 16 && ds.x_shape[2] == 16 && ds.x_size == 768);
        e = resize_error(&ds, N, x, H, W);
        printf("    %s size=16, channels=3: largest error %.2g (tol 1e-6)\n", k ? "(1, H, W)" : "(H, W)", e);
        assert_true(e < 1e-6);
        rt_dataset_free(&ds);
    }

    /* the same size is an exact copy; channels=1 adds the channel dimension */
    open_spec(&ds, base, "?size=5x7&channels=1");
    assert_int_equal(ds.x_ndim, 3);
    assert_true(ds.x_shape[0] == 1 && ds.x_shape[1] == H && ds.x_shape[2] == W);
    assert_memory_equal(ds.x, x, sizeof x);
    rt_dataset_free(&ds);
    open_spec(&ds, base, "?channels=2");
    for (int i = 0; i < N; i++)
        for (int ch = 0; ch < 2; ch++) assert_memory_equal(ds.x + (i * 2 + ch) * H * W, x + i * H * W, H * W * 4);
    rt_dataset_free(&ds);

    /* rejections: one per rule, each naming the spec */
    static const struct { const char *opts; rt_status s; const char *needle; } bad[] = {
        {"?size=0", RT_ERR_ARG, "size '0': expected N or HxW"},
        {"?size=4097", RT_ERR_ARG, "size '4097'"},
        {"?size=64x", RT_ERR_ARG, "size '64x'"},
        {"?size=x64", RT_ERR_ARG, "size 'x64'"},
        {"?size=6a", RT_ERR_ARG, "size '6a'"},
        {"?size=", RT_ERR_ARG, "size ''"},
        {"?channels=0", RT_ERR_ARG, "channels '0': expected 1 to 64"},
        {"?channels=65", RT_ERR_ARG, "channels '65'"},
        {"?size=8&size=9", RT_ERR_ARG, "option 'size' given twice"},
        {"?channels=3&channels=3", RT_ERR_ARG, "option 'channels' given twice"},
        {"?resize=64", RT_ERR_ARG, "unknown option 'resize' (size=N or HxW, channels=C)"},
        {"?size", RT_ERR_ARG, "option 'size' is not KEY=VALUE"},
        {"?", RT_ERR_ARG, "option '' is not KEY=VALUE"},
        {"?size=8&", RT_ERR_ARG, "option '' is not KEY=VALUE"},
    };
    char spec[700];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(spec, sizeof spec, "%s%s", base, bad[i].opts);
        expect_error(spec, bad[i].s, bad[i].needle);
    }
    /* only 1 channel is replicated; samples that are not images; a missing file is still its own error */
    float x2[2 * 2 * 4] = {0};
    write_npy("two.npy", x2, RT_DIMS(2, 2, 2, 2));
    write_npy("flat.npy", x2, RT_DIMS(2, 8));
    write_npy("y2.npy", y, RT_DIMS(2));
    snprintf(spec, sizeof spec, "npy:%s,%s?channels=3", tu_tmp("two.npy"), tu_tmp("y2.npy"));
    expect_error(spec, RT_ERR_SHAPE, "channels=3: samples (2, 2, 2) have 2 channels");
    snprintf(spec, sizeof spec, "npy:%s,%s?size=4", tu_tmp("flat.npy"), tu_tmp("y2.npy"));
    expect_error(spec, RT_ERR_SHAPE, "need image samples (H, W) or (C, H, W), not (8)");
    snprintf(spec, sizeof spec, "npy:%s,%s?size=4", tu_tmp("none.npy"), tu_tmp("y2.npy"));
    expect_error(spec, RT_ERR_IO, "none.npy: cannot open");

    /* a named set: Fashion-MNIST's test images as 2 x 14 x 14 */
    if (access(RT_FMNIST_DIR "/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        printf("    (Fashion-MNIST not installed: the named-set case is left out)\n");
        return;
    }
    rt_dataset plain;
    assert_int_equal(rt_dataset_open(&plain, "fmnist:test"), RT_OK);
    open_spec(&ds, "fmnist:test", "?size=14&channels=2");
    assert_true(ds.n == 10000 && ds.x_ndim == 3 && ds.x_shape[0] == 2 && ds.x_shape[1] == 14 &&
                ds.x_shape[2] == 14 && ds.x_size == 392);
    assert_int_equal(ds.label[1], plain.label[1]);
    e = resize_error(&ds, 50, plain.x, 28, 28);
    printf("    fmnist:test?size=14&channels=2: largest error over 50 samples %.2g (tol 1e-6)\n", e);
    assert_true(e < 1e-6);
    rt_dataset_free(&ds);
    rt_dataset_free(&plain);
}

static void test_safetensors(void **state)
{
    (void)state;
    enum { N = 12 };
    float x[N * 4];
    int64_t y[N];
    uint16_t yh[N * 2]; /* F16 regression targets: 1.5 and -2 */
    for (int i = 0; i < N * 4; i++) x[i] = (float)i / 7.f;
    for (int i = 0; i < N; i++) {
        y[i] = (i * 5) % 3;
        yh[2 * i] = 0x3E00;
        yh[2 * i + 1] = 0xC000;
    }
    rt_st_entry e[2] = {{"x", RT_F32, 2, (int64_t[]){N, 4}, x}, {"y", RT_I64, 1, (int64_t[]){N}, y}};
    assert_int_equal(rt_st_write(tu_tmp("d.safetensors"), e, 2, NULL, 0), RT_OK);
    rt_dataset ds;
    assert_int_equal(rt_dataset_open(&ds, tu_tmp("d.safetensors")), RT_OK);
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.x_size, 4);
    assert_int_equal(ds.n_classes, 3);
    for (int i = 0; i < N; i++) assert_int_equal(ds.label[i], y[i]);
    assert_true(ds.x[N * 4 - 1] == x[N * 4 - 1]);
    rt_dataset_free(&ds);
    rt_st_entry eh[2] = {{"x", RT_F32, 2, (int64_t[]){N, 4}, x}, {"y", RT_F16, 2, (int64_t[]){N, 2}, yh}};
    assert_int_equal(rt_st_write(tu_tmp("r.st"), eh, 2, NULL, 0), RT_OK);
    char spec[600];
    snprintf(spec, sizeof spec, "st:%s", tu_tmp("r.st"));
    assert_int_equal(rt_dataset_open(&ds, spec), RT_OK);
    assert_int_equal(ds.y_size, 2);
    assert_true(ds.y[4] == 1.5f && ds.y[5] == -2.f);
    rt_dataset_free(&ds);
    /* rejections: no y, counts differ in one file, truncated */
    assert_int_equal(rt_st_write(tu_tmp("nox.safetensors"), e, 1, NULL, 0), RT_OK);
    expect_error(tu_tmp("nox.safetensors"), RT_ERR_FORMAT, "nox.safetensors: no tensor 'y'");
    e[1].shape = (int64_t[]){N - 2};
    assert_int_equal(rt_st_write(tu_tmp("cnt.safetensors"), e, 2, NULL, 0), RT_OK);
    expect_error(tu_tmp("cnt.safetensors"), RT_ERR_SHAPE, "cnt.safetensors: x has 12 samples but y has 10");
    assert_int_equal(truncate(tu_tmp("d.safetensors"), 100), 0);
    expect_error(tu_tmp("d.safetensors"), RT_ERR_FORMAT, "d.safetensors");
}

/* ---- subset ----------------------------------------------------------------- */

/* n samples, x = index, class c holds 3 + 7c samples (c < C), interleaved. */
static void make_classes(rt_dataset *ds, int C)
{
    int64_t n = 0;
    for (int c = 0; c < C; c++) n += 3 + 7 * c;
    float *x = malloc((size_t)n * sizeof *x);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    int left[64];
    for (int c = 0; c < C; c++) left[c] = 3 + 7 * c;
    for (int64_t i = 0, c = 0; i < n; c = (c + 1) % C) {
        if (!left[c]) continue;
        left[c]--;
        x[i] = (float)i;
        lab[i++] = (int32_t)c;
    }
    assert_int_equal(rt_dataset_from_arrays(ds, "classes", n, 0, NULL, x, C, lab, 0, NULL), RT_OK);
    free(x);
    free(lab);
}

static void test_subset(void **state)
{
    (void)state;
    enum { C = 9 };
    rt_dataset a, b, c;
    make_classes(&a, C);
    make_classes(&b, C);
    make_classes(&c, C);
    int64_t full[C] = {0};
    for (int64_t i = 0; i < a.n; i++) full[a.label[i]]++;
    double f = 0.37;
    assert_int_equal(rt_dataset_subset(&a, f, 11), RT_OK);
    assert_int_equal(rt_dataset_subset(&b, f, 11), RT_OK);
    assert_int_equal(rt_dataset_subset(&c, f, 12), RT_OK);
    int64_t got[C] = {0};
    double worst = 0;
    for (int64_t i = 0; i < a.n; i++) got[a.label[i]]++;
    for (int k = 0; k < C; k++) worst = fmax(worst, fabs((double)got[k] - f * (double)full[k]));
    int64_t total = 0;
    for (int k = 0; k < C; k++) total += full[k];
    printf("    subset %.2f of %lld: %lld kept, largest per-class deviation %.2f samples (tol 1)\n", f,
           (long long)total, (long long)a.n, worst);
    assert_true(worst <= 1.0);
    assert_int_equal(a.n, b.n);
    bool same_c = a.n == c.n, increasing = true;
    for (int64_t i = 0; i < a.n; i++) {
        assert_true(a.x[i] == b.x[i]);
        if (same_c && a.x[i] != c.x[i]) same_c = false;
        if (i && a.x[i] <= a.x[i - 1]) increasing = false;
    }
    assert_false(same_c);           /* another seed picks other samples */
    assert_true(increasing);        /* original order kept */
    rt_dataset_free(&a);
    rt_dataset_free(&b);
    rt_dataset_free(&c);
    make_classes(&a, C);
    assert_int_equal(rt_dataset_subset(&a, 0, 1), RT_ERR_ARG);
    assert_int_equal(rt_dataset_subset(&a, 1.5, 1), RT_ERR_ARG);
    assert_int_equal(rt_dataset_subset(&a, 1.0, 1), RT_OK);
    assert_int_equal(a.n, total);
    rt_dataset_free(&a);
}

/* ---- loader ----------------------------------------------------------------- */

/* n samples, x = (i, -i), class i % 5. */
static void make_seq(rt_dataset *ds, int64_t n)
{
    float *x = malloc((size_t)n * 2 * sizeof *x);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = -(float)i;
        lab[i] = (int32_t)(i % 5);
    }
    assert_int_equal(rt_dataset_from_arrays(ds, "seq", n, 1, (int64_t[]){2}, x, 5, lab, 0, NULL), RT_OK);
    free(x);
    free(lab);
}

/* One epoch's order (sample ids) into ids; returns batches; checks labels and one-hot rows. */
static int64_t run_epoch(rt_loader *ld, int64_t *ids, int64_t *last_n)
{
    float x[16 * 2], lab[16], y[16 * 5];
    rt_batch b = {.x = x, .label = lab, .y = y, .cap = 16};
    int64_t k = 0, nb = 0;
    while (rt_loader_next(ld, &b)) {
        for (int64_t r = 0; r < b.n; r++) {
            int64_t id = (int64_t)x[2 * r];
            assert_true(x[2 * r + 1] == -x[2 * r]);
            assert_true(lab[r] == (float)(id % 5));
            for (int c = 0; c < 5; c++) assert_true(y[r * 5 + c] == (c == id % 5 ? 1.f : 0.f));
            ids[k++] = id;
        }
        for (int64_t r = b.n; r < b.cap; r++) assert_true(x[2 * r] == 0 && lab[r] == 0 && y[5 * r] == 0);
        *last_n = b.n;
        nb++;
    }
    return nb;
}

static void test_loader_order(void **state)
{
    (void)state;
    enum { N = 103 };
    rt_dataset ds;
    make_seq(&ds, N);
    rt_loader a, b, c;
    rt_loader_opts o = {.batch = 10, .shuffle = true, .seed = 5};
    assert_int_equal(rt_loader_init(&a, &ds, &o), RT_OK);
    assert_int_equal(rt_loader_init(&b, &ds, &o), RT_OK);
    int64_t e0[N], e0b[N], e1[N], last;
    assert_int_equal(run_epoch(&a, e0, &last), 11);
    assert_int_equal(last, 3);                               /* partial last batch kept */
    assert_int_equal(run_epoch(&b, e0b, &last), 11);
    assert_int_equal(run_epoch(&a, e1, &last), 11);
    assert_memory_equal(e0, e0b, sizeof e0);                 /* same seed, same order */
    assert_memory_not_equal(e0, e1, sizeof e0);              /* epochs differ */
    bool seen[N] = {false}, ident = true;
    for (int i = 0; i < N; i++) {
        assert_false(seen[e1[i]]);                          /* every sample exactly once */
        seen[e1[i]] = true;
        ident &= e0[i] == i;
    }
    assert_false(ident);
    o.seed = 6;
    assert_int_equal(rt_loader_init(&c, &ds, &o), RT_OK);
    run_epoch(&c, e0b, &last);
    assert_memory_not_equal(e0, e0b, sizeof e0);             /* another seed, another order */
    rt_loader_free(&c);
    o = (rt_loader_opts){.batch = 10, .drop_last = true};
    assert_int_equal(rt_loader_init(&c, &ds, &o), RT_OK);
    assert_int_equal(run_epoch(&c, e0b, &last), 10);         /* drop_last */
    assert_int_equal(last, 10);
    for (int i = 0; i < 100; i++) assert_int_equal(e0b[i], i); /* no shuffle: dataset order */
    rt_loader_free(&c);
    o.batch = 0;
    assert_int_equal(rt_loader_init(&c, &ds, &o), RT_ERR_ARG);
    o.batch = 200;
    assert_int_equal(rt_loader_init(&c, &ds, &o), RT_ERR_ARG);
    printf("    drop_last with batch 200 > 103 samples -> %s\n", rt_errmsg());
    rt_loader_free(&a);
    rt_loader_free(&b);
    rt_dataset_free(&ds);
}

/* Record the next `nb` batches (x and y, 16 rows each) of ld into out. */
static void record(rt_loader *ld, float *out, int nb)
{
    for (int k = 0; k < nb; k++) {
        rt_batch b = {.x = out, .y = out + 16 * 2, .cap = 16};
        if (!rt_loader_next(ld, &b)) assert_true(rt_loader_next(ld, &b));
        out += 16 * 7;
    }
}

static void test_loader_resume(void **state)
{
    (void)state;
    enum { NB = 25 };
    rt_dataset ds;
    make_seq(&ds, 100);
    rt_loader_opts o = {.batch = 16, .shuffle = true, .seed = 9, .mean = 1, .std = 2,
                        .aug = {.seed = 3, .noise_std = 0.1f, .mixup_alpha = 0.4f}};
    rt_loader a, b;
    assert_int_equal(rt_loader_init(&a, &ds, &o), RT_OK);
    assert_int_equal(rt_loader_init(&b, &ds, &o), RT_OK);
    static float ref[NB * 16 * 7], got[NB * 16 * 7];
    record(&a, ref, 10);                                      /* epoch 0 (7 batches) + 3 of epoch 1 */
    rt_loader_pos pos = rt_loader_tell(&a);
    printf("    saved position: epoch %llu batch %lld\n", (unsigned long long)pos.epoch, (long long)pos.batch);
    assert_true(pos.epoch == 1 && pos.batch == 3);
    record(&a, ref, NB);
    assert_int_equal(rt_loader_seek(&b, pos), RT_OK);
    record(&b, got, NB);
    assert_memory_equal(ref, got, sizeof ref);                /* the same batches, augmentation included */
    pos.batch_size = 8;
    assert_int_equal(rt_loader_seek(&b, pos), RT_ERR_ARG);
    printf("    -> %s\n", rt_errmsg());
    pos.batch_size = 16;
    pos.batch = 8;
    assert_int_equal(rt_loader_seek(&b, pos), RT_ERR_ARG);
    rt_loader_free(&a);
    rt_loader_free(&b);
    rt_dataset_free(&ds);
}

/* ---- augmentation ----------------------------------------------------------- */

static void moments(const double *v, int n, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) s2 += (v[i] - *mean) * (v[i] - *mean);
    *var = s2 / n;
}

static void test_beta_gamma(void **state)
{
    (void)state;
    enum { N = 40000 };
    static double v[N];
    const double shapes[] = {0.3, 1.0, 2.5};
    for (int k = 0; k < 3; k++) { /* Gamma(a): mean a, variance a */
        double a = shapes[k], m, var;
        for (int i = 0; i < N; i++) v[i] = rt_rng_gamma(a, 17, 1, 2, (uint64_t)i);
        moments(v, N, &m, &var);
        double se = sqrt(a / N);
        printf("    Gamma(%.1f): mean %.4f (want %.1f, tol %.4f), var %.4f\n", a, m, a, 4 * se, var);
        assert_true(fabs(m - a) < 4 * se && fabs(var / a - 1) < 0.06);
    }
    const double ab[][2] = {{0.2, 0.2}, {1, 1}, {2, 2}, {2, 5}};
    for (int k = 0; k < 4; k++) {
        double a = ab[k][0], b = ab[k][1], m, var, lo = 1, hi = 0;
        for (int i = 0; i < N; i++) {
            v[i] = rt_rng_beta(a, b, 23, 4, 0, (uint64_t)i);
            lo = fmin(lo, v[i]);
            hi = fmax(hi, v[i]);
        }
        moments(v, N, &m, &var);
        double want_m = a / (a + b), want_v = a * b / ((a + b) * (a + b) * (a + b + 1)), se = sqrt(want_v / N);
        printf("    Beta(%.1f, %.1f): mean %.4f (want %.4f, tol %.4f), var %.5f (want %.5f), range [%.3g, %.3g]\n",
               a, b, m, want_m, 4 * se, var, want_v, lo, hi);
        assert_true(lo >= 0 && hi <= 1);
        assert_true(fabs(m - want_m) < 4 * se && fabs(var / want_v - 1) < 0.05);
    }
    assert_true(rt_rng_beta(0.4, 0.4, 1, 2, 3, 4) == rt_rng_beta(0.4, 0.4, 1, 2, 3, 4));
}

static void test_noise(void **state)
{
    (void)state;
    enum { B = 64, D = 1000 };
    static float x[B * D], x2[B * D];
    rt_augment aug = {.seed = 99, .noise_std = 0.5f};
    rt_batch b = {.x = x, .cap = B, .n = B};
    rt_augment_apply(&aug, &b, D, 0, 2, 7);
    double s = 0, s2 = 0, n = B * D;
    for (int i = 0; i < B * D; i++) s += x[i];
    for (int i = 0; i < B * D; i++) s2 += (x[i] - s / n) * (x[i] - s / n);
    double mean = s / n, std = sqrt(s2 / n);
    printf("    noise std 0.5: mean %.5f (tol %.5f), std %.5f (tol 1%%)\n", mean, 4 * 0.5 / sqrt(n), std);
    assert_true(fabs(mean) < 4 * 0.5 / sqrt(n) && fabs(std / 0.5 - 1) < 0.01);
    rt_batch b2 = {.x = x2, .cap = B, .n = B};
    rt_augment_apply(&aug, &b2, D, 0, 2, 7);
    assert_memory_equal(x, x2, sizeof x);                    /* same (seed, epoch, batch) */
    memset(x2, 0, sizeof x2);
    rt_augment_apply(&aug, &b2, D, 0, 2, 8);
    assert_memory_not_equal(x, x2, sizeof x);                /* another batch */
    memset(x2, 0, sizeof x2);
    rt_augment_apply(&aug, &b2, D, 0, 3, 7);
    assert_memory_not_equal(x, x2, sizeof x);                /* another epoch */
}

static void test_mixup(void **state)
{
    (void)state;
    rt_dataset ds;
    make_seq(&ds, 37);
    rt_loader plain, mixed;
    rt_loader_opts o = {.batch = 16, .shuffle = true, .seed = 4};
    assert_int_equal(rt_loader_init(&plain, &ds, &o), RT_OK);
    o.aug = (rt_augment){.seed = 8, .mixup_alpha = 0.3f};
    assert_int_equal(rt_loader_init(&mixed, &ds, &o), RT_OK);
    float x[32], y[80], lab[16], mx[32], my[80], mlab[16];
    rt_batch p = {.x = x, .y = y, .label = lab, .cap = 16}, m = {.x = mx, .y = my, .label = mlab, .cap = 16};
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        assert_true(rt_loader_next(&plain, &p) && rt_loader_next(&mixed, &m));
        float L = m.lambda;
        printf("    batch %d: %lld rows, lambda %.4f\n", k, (long long)m.n, (double)L);
        assert_true(L >= 0 && L <= 1 && p.lambda == 1.f);
        for (int64_t i = 0; i < m.n; i++) {
            int64_t j = m.n - 1 - i;
            assert_true(mlab[i] == lab[i]);                  /* labels stay unmixed */
            float sum = 0;
            for (int c = 0; c < 5; c++) {
                float want = i == j ? y[i * 5 + c] : L * y[i * 5 + c] + (1 - L) * y[j * 5 + c];
                worst = fmax(worst, fabs(my[i * 5 + c] - want));
                sum += my[i * 5 + c];
            }
            assert_true(fabsf(sum - 1) < 1e-6f);             /* soft targets are distributions */
            for (int d = 0; d < 2; d++) {
                float want = i == j ? x[i * 2 + d] : L * x[i * 2 + d] + (1 - L) * x[j * 2 + d];
                worst = fmax(worst, fabs(mx[i * 2 + d] - want) / fmax(1, fabs(want)));
            }
        }
    }
    printf("    mixup vs formula: largest error %.2g (tol 1e-6)\n", worst);
    assert_true(worst < 1e-6);
    rt_loader_free(&plain);
    rt_loader_free(&mixed);
    rt_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmnist),       cmocka_unit_test(test_named_missing), cmocka_unit_test(test_idx_pair),
        cmocka_unit_test(test_npy),          cmocka_unit_test(test_safetensors),   cmocka_unit_test(test_subset),
        cmocka_unit_test(test_loader_order), cmocka_unit_test(test_loader_resume), cmocka_unit_test(test_beta_gamma),
        cmocka_unit_test(test_noise),        cmocka_unit_test(test_mixup),         cmocka_unit_test(test_image_options),
    };
    return cmocka_run_group_tests(tests, tu_tmpdir_setup, tu_tmpdir_teardown);
}
