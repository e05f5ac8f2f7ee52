/*
 * config.h - typed, checked access to JSON configs (cJSON underneath).
 *
 * Every getter records which keys were read, so rt_cfg_finish() can reject
 * unknown fields; every error names the file and the field path:
 *   "configs/vit.json: field 'blocks.heads': 7 does not divide width 384".
 *
 *     rt_cfg c;
 *     if (rt_cfg_open(&c, "configs/vit.json") != RT_OK) ...;
 *     int64_t w; rt_cfg_int(&c, c.root, "width", 0, 1, 1 << 20, &w);   // 0: required
 *     rt_cfg *sub ... rt_cfg_finish(&c) -> error on first unknown field
 *     rt_cfg_close(&c);
 */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include "core/error.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define RT_CFG_MAX_BYTES (16u << 20)

typedef struct rt_cfg {
    char *label;    /* file name for messages */
    char *text;     /* the JSON text */
    cJSON *root;
    const cJSON **used; int n_used, cap_used;
    rt_status status; /* first error (sticky) */
} rt_cfg;

rt_status rt_cfg_open(rt_cfg *c, const char *path);
rt_status rt_cfg_parse(rt_cfg *c, const char *text, size_t len, const char *label);
void rt_cfg_close(rt_cfg *c);
/* A command-line override "optim.lr=1e-3" (`--set`): the value is JSON
 * (number, true/false, null, "string", [array], {object}) or else taken as a
 * plain string; missing intermediate objects are created. c->text is
 * re-printed so it holds the resolved config. Errors name the assignment. */
rt_status rt_cfg_set(rt_cfg *c, const char *assignment);

/* Getters: obj is an object inside the config (c->root or a child). `required`
 * true makes a missing key an error; otherwise *out keeps its default. Range
 * bounds are inclusive. Each returns the sticky status. */
rt_status rt_cfg_int(rt_cfg *c, const cJSON *obj, const char *key, bool required, int64_t lo, int64_t hi, int64_t *out);
rt_status rt_cfg_num(rt_cfg *c, const cJSON *obj, const char *key, bool required, double lo, double hi, double *out);
rt_status rt_cfg_bool(rt_cfg *c, const cJSON *obj, const char *key, bool required, bool *out);
/* String; if `choices` (NULL-terminated) is given, the value must be one of them. */
rt_status rt_cfg_str(rt_cfg *c, const cJSON *obj, const char *key, bool required, const char *const *choices,
                     const char **out);
/* Array of integers (each in [lo, hi]); *n gets the count (<= max). */
rt_status rt_cfg_int_array(rt_cfg *c, const cJSON *obj, const char *key, bool required, int64_t lo, int64_t hi,
                           int max, int64_t *out, int *n);
/* An array (of objects, typically): its elements are objects to pass to the
 * getters above, whose errors then name "blocks[2].stride"; rt_cfg_finish()
 * checks their keys too. NULL and no error when absent and not required. */
const cJSON *rt_cfg_array(rt_cfg *c, const cJSON *obj, const char *key, bool required);
/* A child object (NULL and no error when absent and not required). */
const cJSON *rt_cfg_obj(rt_cfg *c, const cJSON *obj, const char *key, bool required);
/* Record an error about a field: "<file>: field '<key>': <message>". */
rt_status rt_cfg_fail(rt_cfg *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Error on the first key of obj (recursively through read child objects) that no getter read. */
rt_status rt_cfg_finish(rt_cfg *c);

#endif
