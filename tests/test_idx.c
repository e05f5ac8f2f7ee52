/*
 * test_idx.c - the IDX reader: valid files (plain and gzip), one rejection
 * per rule, truncated gzip, and Debian's Fashion-MNIST when installed.
 */
#include "testutil.h"

#include "data/idx.h"

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define FMNIST "/usr/share/datasets/fashion-mnist"

static const uint8_t good[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};

static void expect_reject(const uint8_t *b, size_t n, const char *needle)
{
    rt_idx x;
    assert_int_equal(rt_idx_parse(&x, b, n, "bad.idx"), RT_ERR_FORMAT);
    printf("    -> %s\n", rt_errmsg());
    if (!strstr(rt_errmsg(), needle)) fail_msg("'%s' lacks '%s'", rt_errmsg(), needle);
    assert_non_null(strstr(rt_errmsg(), "bad.idx: "));
}

static void test_parse(void **state)
{
    (void)state;
    rt_idx x;
    assert_int_equal(rt_idx_parse(&x, good, sizeof good, "ok"), RT_OK);
    assert_int_equal(x.ndim, 2);
    assert_int_equal(x.dims[0], 2);
    assert_int_equal(x.dims[1], 3);
    assert_int_equal(x.n, 6);
    assert_int_equal(x.data[5], 6);
    rt_idx_free(&x);
    uint8_t b[sizeof good];
    memcpy(b, good, sizeof b);
    b[1] = 1;
    expect_reject(b, sizeof b, "bad magic");
    memcpy(b, good, sizeof b);
    b[2] = 0x0D;
    expect_reject(b, sizeof b, "type 0x0d");
    b[2] = 8;
    b[3] = 5;
    expect_reject(b, sizeof b, "5 dimensions");
    b[3] = 2;
    b[7] = 0;
    expect_reject(b, sizeof b, "dimension 0 is 0");
    expect_reject(good, 6, "truncated IDX header");
    expect_reject(good, sizeof good - 1, "promises 6 bytes of data, file has 5");
    const uint8_t huge[] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2};
    expect_reject(huge, sizeof huge, "too large");
}

static void test_gzip_and_truncation(void **state)
{
    (void)state;
    char path[] = "/tmp/rt_idx_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    gzFile f = gzopen(path, "wb");
    uint8_t big[4 + 8 + 3000];
    memcpy(big, (uint8_t[]){0, 0, 8, 2, 0, 0, 0, 30, 0, 0, 0, 100}, 12);
    for (int i = 0; i < 3000; i++) big[12 + i] = (uint8_t)(i * 7);
    gzwrite(f, big, sizeof big);
    gzclose(f);
    rt_idx x;
    assert_int_equal(rt_idx_load(&x, path), RT_OK);
    assert_int_equal(x.n, 3000);
    assert_int_equal(x.data[2999], (uint8_t)(2999 * 7));
    rt_idx_free(&x);
    /* cut the gzip stream in half */
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    assert_int_equal(truncate(path, n / 2), 0);
    assert_int_not_equal(rt_idx_load(&x, path), RT_OK);
    printf("    truncated gzip -> %s\n", rt_errmsg());
    assert_non_null(strstr(rt_errmsg(), path));
    unlink(path);
    assert_int_equal(rt_idx_load(&x, "/nonexistent/t10k.gz"), RT_ERR_IO);
}

static void test_fashion_mnist(void **state)
{
    (void)state;
    if (access(FMNIST "/t10k-labels-idx1-ubyte.gz", R_OK) != 0) {
        printf("    SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)\n");
        skip();
    }
    rt_idx img, lab;
    assert_int_equal(rt_idx_load(&img, FMNIST "/t10k-images-idx3-ubyte.gz"), RT_OK);
    assert_int_equal(rt_idx_load(&lab, FMNIST "/t10k-labels-idx1-ubyte.gz"), RT_OK);
    assert_int_equal(img.ndim, 3);
    assert_int_equal(img.dims[0], 10000);
    assert_int_equal(img.dims[1], 28);
    assert_int_equal(lab.n, 10000);
    int count[10] = {0};
    for (size_t i = 0; i < lab.n; i++) {
        assert_true(lab.data[i] < 10);
        count[lab.data[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(count[c], 1000);
    rt_idx_free(&img);
    rt_idx_free(&lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_gzip_and_truncation),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
