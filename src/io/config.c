/*
 * config.c - checked JSON config access (see config.h).
 */
#include "io/config.h"

#include "io/fileio.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

void rt_cfg_close(rt_cfg *c)
{
    cJSON_Delete(c->root);
    free(c->label);
    free(c->text);
    free(c->used);
    memset(c, 0, sizeof *c);
}

rt_status rt_cfg_parse(rt_cfg *c, const char *text, size_t len, const char *label)
{
    memset(c, 0, sizeof *c);
    c->label = strdup(label);
    c->text = malloc(len + 1);
    if (!c->label || !c->text) {
        rt_cfg_close(c);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    }
    memcpy(c->text, text, len);
    c->text[len] = '\0';
    if (memchr(text, 0, len)) {
        rt_cfg_close(c);
        return rt_error(RT_ERR_FORMAT, "%s: contains a NUL byte", label);
    }
    const char *end = NULL;
    c->root = cJSON_ParseWithLengthOpts(c->text, len, &end, 0);
    if (!c->root) {
        size_t off = end ? (size_t)(end - c->text) : 0;
        int line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += c->text[i] == '\n';
        rt_status s = rt_error(RT_ERR_FORMAT, "%s: invalid JSON near line %d", label, line);
        rt_cfg_close(c);
        return s;
    }
    for (const char *p = end; *p; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            rt_cfg_close(c);
            return rt_error(RT_ERR_FORMAT, "%s: unexpected text after the JSON value", label);
        }
    if (!cJSON_IsObject(c->root)) {
        rt_cfg_close(c);
        return rt_error(RT_ERR_FORMAT, "%s: the top level is not a JSON object", label);
    }
    return RT_OK;
}

rt_status rt_cfg_set(rt_cfg *c, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return rt_error(RT_ERR_ARG, "--set '%s': expected KEY=VALUE (e.g. optim.lr=1e-3)", assignment);
    cJSON *val = cJSON_Parse(eq + 1);
    if (!val) val = cJSON_CreateString(eq + 1);
    if (!val) return rt_error(RT_ERR_NOMEM, "--set: out of memory");
    char key[256];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof key) {
        cJSON_Delete(val);
        return rt_error(RT_ERR_ARG, "--set '%s': key too long", assignment);
    }
    memcpy(key, assignment, klen);
    key[klen] = 0;
    cJSON *obj = c->root;
    for (char *seg = key, *dot; seg; seg = dot ? dot + 1 : NULL) {
        dot = strchr(seg, '.');
        if (dot) *dot = 0;
        if (!*seg) {
            cJSON_Delete(val);
            return rt_error(RT_ERR_ARG, "--set '%s': empty name in the key", assignment);
        }
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, seg);
        if (!dot) { /* the last segment: replace or add */
            if (next) cJSON_ReplaceItemInObjectCaseSensitive(obj, seg, val);
            else cJSON_AddItemToObject(obj, seg, val);
            break;
        }
        if (!next) next = cJSON_AddObjectToObject(obj, seg);
        else if (!cJSON_IsObject(next)) {
            cJSON_Delete(val);
            return rt_error(RT_ERR_ARG, "--set '%s': '%s' in %s is not an object", assignment, seg, c->label);
        }
        if (!next) {
            cJSON_Delete(val);
            return rt_error(RT_ERR_NOMEM, "--set: out of memory");
        }
        obj = next;
    }
    char *text = cJSON_Print(c->root);
    if (!text) return rt_error(RT_ERR_NOMEM, "--set: out of memory");
    free(c->text);
    c->text = text;
    return RT_OK;
}

rt_status rt_cfg_open(rt_cfg *c, const char *path)
{
    uint8_t *buf;
    size_t len;
    memset(c, 0, sizeof *c);
    rt_status s = rt_read_file(path, RT_CFG_MAX_BYTES, &buf, &len);
    if (s != RT_OK) return s;
    s = rt_cfg_parse(c, (const char *)buf, len, path);
    free(buf);
    return s;
}

rt_status rt_cfg_fail(rt_cfg *c, const char *key, const char *fmt, ...)
{
    if (c->status != RT_OK) return c->status;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->status = rt_error(RT_ERR_FORMAT, "%s: field '%s': %s", c->label, key, msg);
    return c->status;
}

/* The path of obj below node into buf ("head", "blocks[2]"); false if obj is not below node. */
static bool find_path(const cJSON *node, const cJSON *obj, char *buf, size_t n)
{
    if (node == obj) return true;
    size_t len = strlen(buf);
    int i = 0;
    for (const cJSON *e = node->child; e; e = e->next, i++) {
        if (!cJSON_IsObject(e) && !cJSON_IsArray(e)) continue;
        if (cJSON_IsArray(node)) snprintf(buf + len, n - len, "[%d]", i);
        else snprintf(buf + len, n - len, "%s%s", len ? "." : "", e->string ? e->string : "");
        if (find_path(e, obj, buf, n)) return true;
        buf[len] = 0;
    }
    return false;
}

/* rt_cfg_fail naming "<path of obj>.<key>". */
static rt_status fail_at(rt_cfg *c, const cJSON *obj, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static rt_status fail_at(rt_cfg *c, const cJSON *obj, const char *key, const char *fmt, ...)
{
    char path[256] = "", msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->root && obj && find_path(c->root, obj, path, sizeof path) && path[0]) {
        size_t len = strlen(path);
        snprintf(path + len, sizeof path - len, ".%s", key);
    } else {
        snprintf(path, sizeof path, "%s", key);
    }
    return rt_cfg_fail(c, path, "%s", msg);
}

static void mark(rt_cfg *c, const cJSON *j)
{
    if (c->n_used == c->cap_used) {
        int cap = c->cap_used ? 2 * c->cap_used : 64;
        const cJSON **u = realloc(c->used, (size_t)cap * sizeof *u);
        if (!u) {
            c->status = rt_error(RT_ERR_NOMEM, "%s: out of memory", c->label);
            return;
        }
        c->used = u;
        c->cap_used = cap;
    }
    c->used[c->n_used++] = j;
}

/* Find key in obj; NULL if absent (error if required). Marks it read. */
static const cJSON *item(rt_cfg *c, const cJSON *obj, const char *key, bool required)
{
    if (c->status != RT_OK || !obj) return NULL;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j) {
        if (required) fail_at(c, obj, key, "missing (required)");
        return NULL;
    }
    mark(c, j);
    return j;
}

rt_status rt_cfg_num(rt_cfg *c, const cJSON *obj, const char *key, bool required, double lo, double hi, double *out)
{
    const cJSON *j = item(c, obj, key, required);
    if (!j) return c->status;
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble)) return fail_at(c, obj, key, "expected a number");
    if (j->valuedouble < lo || j->valuedouble > hi)
        return fail_at(c, obj, key, "%g is outside [%g, %g]", j->valuedouble, lo, hi);
    *out = j->valuedouble;
    return RT_OK;
}

rt_status rt_cfg_int(rt_cfg *c, const cJSON *obj, const char *key, bool required, int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *j = item(c, obj, key, required);
    if (!j) return c->status;
    double d = j->valuedouble;
    if (!cJSON_IsNumber(j) || !isfinite(d) || floor(d) != d || fabs(d) > 9007199254740992.0)
        return fail_at(c, obj, key, "expected an integer");
    if (d < (double)lo || d > (double)hi)
        return fail_at(c, obj, key, "%lld is outside [%lld, %lld]", (long long)d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return RT_OK;
}

rt_status rt_cfg_bool(rt_cfg *c, const cJSON *obj, const char *key, bool required, bool *out)
{
    const cJSON *j = item(c, obj, key, required);
    if (!j) return c->status;
    if (!cJSON_IsBool(j)) return fail_at(c, obj, key, "expected true or false");
    *out = cJSON_IsTrue(j);
    return RT_OK;
}

rt_status rt_cfg_str(rt_cfg *c, const cJSON *obj, const char *key, bool required, const char *const *choices,
                     const char **out)
{
    const cJSON *j = item(c, obj, key, required);
    if (!j) return c->status;
    if (!cJSON_IsString(j)) return fail_at(c, obj, key, "expected a string");
    if (choices) {
        int i = 0;
        while (choices[i] && strcmp(choices[i], j->valuestring)) i++;
        if (!choices[i]) {
            char list[256] = "";
            for (int k = 0; choices[k]; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", choices[k]);
            return fail_at(c, obj, key, "'%s' is not one of: %s", j->valuestring, list);
        }
    }
    *out = j->valuestring;
    return RT_OK;
}

rt_status rt_cfg_int_array(rt_cfg *c, const cJSON *obj, const char *key, bool required, int64_t lo, int64_t hi,
                           int max, int64_t *out, int *n)
{
    const cJSON *j = item(c, obj, key, required);
    if (!j) return c->status;
    if (!cJSON_IsArray(j)) return fail_at(c, obj, key, "expected an array of integers");
    int k = cJSON_GetArraySize(j);
    if (k > max) return fail_at(c, obj, key, "%d entries (at most %d)", k, max);
    int i = 0;
    for (const cJSON *e = j->child; e; e = e->next, i++) {
        double d = e->valuedouble;
        if (!cJSON_IsNumber(e) || floor(d) != d || d < (double)lo || d > (double)hi)
            return fail_at(c, obj, key, "entry %d is not an integer in [%lld, %lld]", i, (long long)lo, (long long)hi);
        out[i] = (int64_t)d;
    }
    *n = k;
    return RT_OK;
}

const cJSON *rt_cfg_array(rt_cfg *c, const cJSON *obj, const char *key, bool required)
{
    const cJSON *j = item(c, obj, key, required);
    if (j && !cJSON_IsArray(j)) {
        fail_at(c, obj, key, "expected an array");
        return NULL;
    }
    return j;
}

const cJSON *rt_cfg_obj(rt_cfg *c, const cJSON *obj, const char *key, bool required)
{
    const cJSON *j = item(c, obj, key, required);
    if (j && !cJSON_IsObject(j)) {
        fail_at(c, obj, key, "expected an object");
        return NULL;
    }
    return j;
}

static bool was_used(const rt_cfg *c, const cJSON *j)
{
    for (int i = 0; i < c->n_used; i++)
        if (c->used[i] == j) return true;
    return false;
}

/* Every key of obj, and of the objects and arrays of objects below the keys that were read. */
static rt_status check_unused(rt_cfg *c, const cJSON *obj, const char *path)
{
    int i = 0;
    for (const cJSON *e = obj->child; e; e = e->next, i++) {
        char full[256];
        if (cJSON_IsArray(obj)) snprintf(full, sizeof full, "%s[%d]", path, i);
        else snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", e->string);
        if (cJSON_IsObject(obj) && !was_used(c, e)) return rt_cfg_fail(c, full, "unknown field");
        if ((cJSON_IsObject(e) || cJSON_IsArray(e)) && check_unused(c, e, full) != RT_OK) return c->status;
    }
    return RT_OK;
}

rt_status rt_cfg_finish(rt_cfg *c)
{
    if (c->status != RT_OK) return c->status;
    return check_unused(c, c->root, "");
}
