/*
 * test_safetensors.c - round trip, then one rejection per rule of the strict
 * reader (STYLE.md rule 11), each from hand-written bytes. The same cases
 * seed fuzz/fuzz_safetensors.c (see fuzz/seed_safetensors.sh).
 */
#include "testutil.h"

#include "io/safetensors.h"

#include <stdlib.h>
#include <unistd.h>

/* 8-byte little-endian length + header + `data_len` data bytes. */
static uint8_t *make(const char *hdr, size_t data_len, size_t *len)
{
    size_t h = strlen(hdr);
    uint8_t *b = calloc(1, 8 + h + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, hdr, h);
    *len = 8 + h + data_len;
    return b;
}

static void expect_reject(const char *hdr, size_t data_len, const char *needle)
{
    size_t len;
    uint8_t *b = make(hdr, data_len, &len);
    rt_safetensors st;
    rt_status s = rt_st_parse(&st, b, len, "bad.safetensors");
    printf("    %-60.60s -> %s\n", hdr, rt_errmsg());
    assert_int_equal(s, RT_ERR_FORMAT);
    assert_non_null(strstr(rt_errmsg(), "bad.safetensors: "));
    if (!strstr(rt_errmsg(), needle)) fail_msg("message '%s' lacks '%s'", rt_errmsg(), needle);
    free(b);
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/rt_st_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float w[6] = {1, 2, 3, 4, 5, 6};
    int8_t q[5] = {-1, 2, -3, 4, 127};
    rt_st_entry e[] = {
        {"fc.weight", RT_F32, 2, (const int64_t[]){2, 3}, w},
        {"fc.q", RT_I8, 1, (const int64_t[]){5}, q},
        {"empty", RT_F32, 2, (const int64_t[]){0, 4}, w},
    };
    rt_st_meta meta[] = {{"format_version", "1"}, {"config", "{\"arch\": \"mlp\"}"}};
    assert_int_equal(rt_st_write(path, e, 3, meta, 2), RT_OK);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* no temp file left */
    rt_safetensors st;
    assert_int_equal(rt_st_open(&st, path), RT_OK);
    assert_int_equal(st.n, 3);
    const rt_st_tensor *t = rt_st_find(&st, "fc.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_memory_equal(rt_st_data(&st, t), w, sizeof w);
    t = rt_st_find(&st, "fc.q");
    assert_int_equal(t->dtype, RT_I8);
    assert_memory_equal(rt_st_data(&st, t), q, sizeof q);
    assert_string_equal(rt_st_meta_get(&st, "config"), "{\"arch\": \"mlp\"}");
    assert_null(rt_st_find(&st, "nope"));
    rt_st_close(&st);
    unlink(path);
    /* writing into a missing directory fails and leaves nothing */
    assert_int_equal(rt_st_write("/nonexistent-dir/x.safetensors", e, 1, NULL, 0), RT_ERR_IO);
    assert_non_null(strstr(rt_errmsg(), "/nonexistent-dir/x.safetensors"));
    /* a missing file */
    assert_int_equal(rt_st_open(&st, "/nonexistent-dir/y.safetensors"), RT_ERR_IO);
}

static void test_rejections(void **state)
{
    (void)state;
    rt_safetensors st;
    uint8_t tiny[5] = {0};
    assert_int_equal(rt_st_parse(&st, tiny, 5, "bad.safetensors"), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_errmsg(), "too short"));
    uint8_t big[16] = {0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0}; /* 100,000,001 */
    assert_int_equal(rt_st_parse(&st, big, 16, "bad.safetensors"), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_errmsg(), "exceeds the limit"));
    uint8_t past[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    assert_int_equal(rt_st_parse(&st, past, 16, "bad.safetensors"), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_errmsg(), "past the end"));
    uint8_t nul[18] = {10, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '\0', '"', ':', '1', '}', ' ', ' '};
    assert_int_equal(rt_st_parse(&st, nul, 18, "bad.safetensors"), RT_ERR_FORMAT);
    assert_non_null(strstr(rt_errmsg(), "NUL"));

    expect_reject("[1,2]", 0, "not a JSON object");
    expect_reject("{\"a\":\xff}", 0, "UTF-8");
    expect_reject("{\"a\":\"\xc0\xaf\"}", 0, "UTF-8"); /* overlong */
    expect_reject("{\"a\": {\"dtype\": \"F32\",", 0, "not valid JSON");
    expect_reject("{}x", 0, "after the header");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate tensor name 'a'");
    expect_reject("{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unsupported dtype 'F8'");
    expect_reject("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing dtype");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing shape");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "not an integer");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "not an integer");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[281474976710656],\"data_offsets\":[0,4]}}", 4, "not an integer");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dimensions");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "4 bytes for 2 elements");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536],\"data_offsets\":[0,4]}}", 4,
                  "overflows");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the end");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6, "2 trailing bytes");
    expect_reject("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_reject("{\"__metadata__\":[]}", 0, "not an object");
    expect_reject("{\"a\":3}", 0, "not an object");
}

static void test_accepts_padding_and_empty(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = make("{\"__metadata__\":{\"format\":\"pt\"},\"x\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}   ", 1,
                      &len);
    rt_safetensors st;
    assert_int_equal(rt_st_parse(&st, b, len, "ok"), RT_OK);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.t[0].ndim, 0);
    assert_string_equal(rt_st_meta_get(&st, "format"), "pt");
    rt_st_close(&st);
    free(b);
    b = make("{}", 0, &len);
    assert_int_equal(rt_st_parse(&st, b, len, "ok"), RT_OK);
    assert_int_equal(st.n, 0);
    rt_st_close(&st);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_accepts_padding_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
