/*
 * test_config.c - checked config access (src/io/config.c): typed getters
 * and their errors (file and field path named), unknown fields at any
 * depth including arrays of objects, and `--set` overrides.
 */
#include "testutil.h"

#include "io/config.h"

#include <stdlib.h>

static void parse(rt_cfg *c, const char *json)
{
    if (rt_cfg_parse(c, json, strlen(json), "t.json") != RT_OK) fail_msg("%s", rt_errmsg());
}

static void test_getters_and_paths(void **state)
{
    (void)state;
    rt_cfg c;
    parse(&c, "{\"a\": 3, \"x\": 0.5, \"s\": \"adam\", \"head\": {\"k\": 2, \"b\": true},"
              " \"blocks\": [{\"out\": 4}, {\"out\": -1}]}");
    int64_t a = 0, k = 0, out = 0;
    double x = 0;
    bool b = false;
    const char *str = NULL;
    static const char *const opts[] = {"sgd", "adam", NULL};
    assert_int_equal(rt_cfg_int(&c, c.root, "a", true, 1, 10, &a), RT_OK);
    assert_int_equal(rt_cfg_num(&c, c.root, "x", true, 0, 1, &x), RT_OK);
    assert_int_equal(rt_cfg_str(&c, c.root, "s", true, opts, &str), RT_OK);
    const cJSON *head = rt_cfg_obj(&c, c.root, "head", true);
    assert_int_equal(rt_cfg_int(&c, head, "k", true, 1, 10, &k), RT_OK);
    assert_int_equal(rt_cfg_bool(&c, head, "b", true, &b), RT_OK);
    assert_true(a == 3 && x == 0.5 && !strcmp(str, "adam") && k == 2 && b);
    const cJSON *blocks = rt_cfg_array(&c, c.root, "blocks", true);
    assert_non_null(blocks);
    assert_int_equal(rt_cfg_int(&c, cJSON_GetArrayItem(blocks, 0), "out", true, 1, 8, &out), RT_OK);
    assert_int_not_equal(rt_cfg_int(&c, cJSON_GetArrayItem(blocks, 1), "out", true, 1, 8, &out), RT_OK);
    assert_string_equal(rt_errmsg(), "t.json: field 'blocks[1].out': -1 is outside [1, 8]");
    rt_cfg_close(&c);

    parse(&c, "{\"head\": {\"k\": 2}}");
    head = rt_cfg_obj(&c, c.root, "head", true);
    assert_int_not_equal(rt_cfg_int(&c, head, "n", true, 1, 2, &k), RT_OK);
    assert_string_equal(rt_errmsg(), "t.json: field 'head.n': missing (required)");
    rt_cfg_close(&c);
}

static void test_unknown_fields(void **state)
{
    (void)state;
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{\"a\": 1, \"b\": 2}", "t.json: field 'b': unknown field"},
        {"{\"a\": 1, \"head\": {\"k\": 1, \"kk\": 2}}", "t.json: field 'head.kk': unknown field"},
        {"{\"a\": 1, \"blocks\": [{\"out\": 1}, {\"out\": 1, \"oops\": 0}]}",
         "t.json: field 'blocks[1].oops': unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rt_cfg c;
        int64_t v;
        parse(&c, cases[i].json);
        rt_cfg_int(&c, c.root, "a", true, 0, 9, &v);
        const cJSON *h = rt_cfg_obj(&c, c.root, "head", false);
        if (h) rt_cfg_int(&c, h, "k", true, 0, 9, &v);
        const cJSON *bl = rt_cfg_array(&c, c.root, "blocks", false), *e;
        cJSON_ArrayForEach(e, bl) rt_cfg_int(&c, e, "out", true, 0, 9, &v);
        assert_int_not_equal(rt_cfg_finish(&c), RT_OK);
        assert_string_equal(rt_errmsg(), cases[i].err);
        rt_cfg_close(&c);
    }
}

static void test_set(void **state)
{
    (void)state;
    rt_cfg c;
    parse(&c, "{\"optim\": {\"lr\": 0.1, \"name\": \"sgd\"}, \"epochs\": 3}");
    assert_int_equal(rt_cfg_set(&c, "optim.lr=1e-3"), RT_OK);
    assert_int_equal(rt_cfg_set(&c, "optim.name=adamw"), RT_OK);          /* plain string */
    assert_int_equal(rt_cfg_set(&c, "data.batch=64"), RT_OK);             /* new object */
    assert_int_equal(rt_cfg_set(&c, "head.hidden=[512, 128]"), RT_OK);    /* JSON array */
    assert_int_equal(rt_cfg_set(&c, "epochs=\"7\""), RT_OK);              /* quoted: a string */
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(c.root, "optim");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "lr")) == 1e-3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name")), "adamw");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c.root, "data");
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "batch")) == 64);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetObjectItemCaseSensitive(c.root, "head"), "hidden")), 2);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c.root, "epochs")));
    /* the text is the resolved config */
    cJSON *re = cJSON_Parse(c.text);
    assert_true(cJSON_Compare(re, c.root, true));
    cJSON_Delete(re);
    /* errors */
    assert_int_not_equal(rt_cfg_set(&c, "optim.lr"), RT_OK);
    assert_non_null(strstr(rt_errmsg(), "expected KEY=VALUE"));
    assert_int_not_equal(rt_cfg_set(&c, "=3"), RT_OK);
    assert_int_not_equal(rt_cfg_set(&c, "optim..lr=3"), RT_OK);
    assert_non_null(strstr(rt_errmsg(), "empty name"));
    assert_int_not_equal(rt_cfg_set(&c, "optim.lr.x=3"), RT_OK);
    assert_non_null(strstr(rt_errmsg(), "'lr' in t.json is not an object"));
    rt_cfg_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_getters_and_paths),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
