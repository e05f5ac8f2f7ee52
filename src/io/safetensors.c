/*
 * safetensors.c - strict safetensors reader and atomic writer (see
 * safetensors.h). Every check below has its own rejection test in
 * tests/test_safetensors.c and the same corpus seeds fuzz/fuzz_safetensors.c.
 */
#include "io/safetensors.h"

#include "io/fileio.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_INT48 281474976710655.0 /* 2^48 - 1 */

static const struct { const char *name; enum rt_dtype dt; } dtypes[] = {
    {"F32", RT_F32}, {"F16", RT_F16}, {"BF16", RT_BF16}, {"F64", RT_F64}, {"I8", RT_I8},   {"U8", RT_U8},
    {"I16", RT_I16}, {"I32", RT_I32}, {"I64", RT_I64},   {"BOOL", RT_BOOL},
};

static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (k < 0 || (size_t)k >= n - i) return false;
        uint32_t cp = k == 0 ? c : (uint32_t)(c & (0x7F >> (k + 1)));
        for (int j = 1; j <= k; j++) {
            if ((s[i + (size_t)j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + (size_t)j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += (size_t)k + 1;
    }
    return true;
}

/* An integer stored as a JSON number: integral, 0 <= v <= 2^48-1. */
static bool json_uint48(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= MAX_INT48) || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

void rt_st_close(rt_safetensors *st)
{
    for (int i = 0; i < st->n; i++) free(st->t[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->t);
    free(st->meta);
    if (st->map) munmap(st->map, st->map_len);
    memset(st, 0, sizeof *st);
}

static int cmp_begin(const void *a, const void *b)
{
    const rt_st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static rt_status parse_meta(rt_safetensors *st, const cJSON *m, const char *label)
{
    if (!cJSON_IsObject(m)) return rt_error(RT_ERR_FORMAT, "%s: __metadata__ is not an object", label);
    int n = cJSON_GetArraySize(m);
    st->meta = calloc((size_t)n + 1, sizeof *st->meta);
    if (!st->meta) return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e)) return rt_error(RT_ERR_FORMAT, "%s: __metadata__ value '%s' is not a string", label, e->string);
        rt_st_meta *kv = &st->meta[st->n_meta++];
        kv->key = strdup(e->string);
        kv->value = strdup(e->valuestring);
        if (!kv->key || !kv->value) return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    }
    return RT_OK;
}

static rt_status parse_entry(rt_st_tensor *t, const cJSON *e, const char *label)
{
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': entry is not an object", label, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': missing dtype", label, nm);
    size_t k = 0;
    while (k < sizeof dtypes / sizeof dtypes[0] && strcmp(dtypes[k].name, dt->valuestring)) k++;
    if (k == sizeof dtypes / sizeof dtypes[0])
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%s'", label, nm, dt->valuestring);
    t->dtype = dtypes[k].dt;
    if (!cJSON_IsArray(sh)) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': missing shape", label, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > RT_MAX_DIMS)
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", label, nm, nd, RT_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint48(d, &v))
            return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not an integer in [0, 2^48)", label, nm, i);
        t->shape[i] = (int64_t)v;
        if (v && numel > UINT64_MAX / v)
            return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': element count overflows", label, nm);
        numel *= v;
    }
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint48(off->child, &b) ||
        !json_uint48(off->child->next, &en))
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': data_offsets must be two integers in [0, 2^48)", label, nm);
    if (en < b) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': data_offsets end before they begin", label, nm);
    uint64_t esz = rt_dtype_bytes(t->dtype, 1);
    if (numel > UINT64_MAX / esz || numel * esz != en - b)
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': %llu bytes for %llu elements of %s", label, nm,
                        (unsigned long long)(en - b), (unsigned long long)numel, dt->valuestring);
    t->begin = (size_t)b;
    t->end = (size_t)en;
    t->name = strdup(nm);
    if (!t->name) return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    return RT_OK;
}

static rt_status parse_header(rt_safetensors *st, const cJSON *root, const char *label)
{
    int n = cJSON_GetArraySize(root);
    st->t = calloc((size_t)n + 1, sizeof *st->t);
    if (!st->t) return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    bool seen_meta = false;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta) return rt_error(RT_ERR_FORMAT, "%s: duplicate key '__metadata__'", label);
            seen_meta = true;
            rt_status s = parse_meta(st, e, label);
            if (s != RT_OK) return s;
            continue;
        }
        rt_status s = parse_entry(&st->t[st->n], e, label);
        if (s != RT_OK) return s;
        st->n++;
    }
    /* Duplicate names (cJSON keeps both). Headers are small: pairwise is fine. */
    for (int i = 0; i < st->n; i++)
        for (int j = i + 1; j < st->n; j++)
            if (!strcmp(st->t[i].name, st->t[j].name))
                return rt_error(RT_ERR_FORMAT, "%s: duplicate tensor name '%s'", label, st->t[i].name);
    return RT_OK;
}

static rt_status check_layout(rt_safetensors *st, const char *label)
{
    rt_st_tensor *s = malloc(((size_t)st->n + 1) * sizeof *s);
    if (!s) return rt_error(RT_ERR_NOMEM, "%s: out of memory", label);
    memcpy(s, st->t, (size_t)st->n * sizeof *s);
    qsort(s, (size_t)st->n, sizeof *s, cmp_begin);
    size_t pos = 0;
    rt_status r = RT_OK;
    for (int i = 0; i < st->n && r == RT_OK; i++) {
        if (s[i].begin > pos)
            r = rt_error(RT_ERR_FORMAT, "%s: tensor '%s': hole in the data before offset %zu", label, s[i].name, s[i].begin);
        else if (s[i].begin < pos)
            r = rt_error(RT_ERR_FORMAT, "%s: tensor '%s': offsets overlap", label, s[i].name);
        pos = s[i].end;
    }
    if (r == RT_OK && pos > st->data_len)
        r = rt_error(RT_ERR_FORMAT, "%s: tensor data runs past the end of the file (%zu > %zu bytes)", label, pos,
                     st->data_len);
    else if (r == RT_OK && pos < st->data_len)
        r = rt_error(RT_ERR_FORMAT, "%s: %zu trailing bytes after the last tensor", label, st->data_len - pos);
    free(s);
    return r;
}

rt_status rt_st_parse(rt_safetensors *st, const uint8_t *buf, size_t len, const char *label)
{
    memset(st, 0, sizeof *st);
    if (len < 8) return rt_error(RT_ERR_FORMAT, "%s: too short for a safetensors file (%zu bytes)", label, len);
    uint64_t N = 0;
    for (int i = 7; i >= 0; i--) N = (N << 8) | buf[i];
    if (N > RT_ST_MAX_HEADER)
        return rt_error(RT_ERR_FORMAT, "%s: header length %llu exceeds the limit of 100000000", label, (unsigned long long)N);
    if (N > len - 8)
        return rt_error(RT_ERR_FORMAT, "%s: header length %llu runs past the end of the file", label, (unsigned long long)N);
    const uint8_t *h = buf + 8;
    if (N < 2 || h[0] != '{') return rt_error(RT_ERR_FORMAT, "%s: header is not a JSON object", label);
    if (memchr(h, 0, N)) return rt_error(RT_ERR_FORMAT, "%s: header contains a NUL byte", label);
    if (!valid_utf8(h, N)) return rt_error(RT_ERR_FORMAT, "%s: header is not valid UTF-8", label);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, N, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return rt_error(RT_ERR_FORMAT, "%s: header is not valid JSON", label);
    }
    for (const char *p = end; p < (const char *)h + N; p++)
        if (*p != ' ') {
            cJSON_Delete(root);
            return rt_error(RT_ERR_FORMAT, "%s: unexpected bytes after the header JSON", label);
        }
    st->data = buf + 8 + N;
    st->data_len = len - 8 - (size_t)N;
    rt_status s = parse_header(st, root, label);
    cJSON_Delete(root);
    if (s == RT_OK) s = check_layout(st, label);
    if (s != RT_OK) rt_st_close(st);
    return s;
}

rt_status rt_st_open(rt_safetensors *st, const char *path)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rt_error(RT_ERR_IO, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (len && map == MAP_FAILED) return rt_error(RT_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    rt_status s = rt_st_parse(st, map ? map : (const uint8_t *)"", len, path);
    if (s != RT_OK) {
        if (map) munmap(map, len);
        return s;
    }
    st->map = map;
    st->map_len = len;
    return RT_OK;
}

const rt_st_tensor *rt_st_find(const rt_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

const char *rt_st_meta_get(const rt_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

static const char *dtype_str(enum rt_dtype dt)
{
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
        if (dtypes[k].dt == dt) return dtypes[k].name;
    return NULL;
}

static char *build_header(const char *path, const rt_st_entry *e, int n, const rt_st_meta *meta, int n_meta)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && i < n_meta; i++) cJSON_AddStringToObject(m, meta[i].key, meta[i].value);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(root, e[i].name);
        size_t nb = rt_dtype_bytes(e[i].dtype, rt_shape_numel(e[i].ndim, e[i].shape));
        if (!t) break;
        cJSON_AddStringToObject(t, "dtype", dtype_str(e[i].dtype));
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; sh && d < e[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e[i].shape[d]));
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        if (o) {
            cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + nb)));
        }
        off += nb;
    }
    (void)path;
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

rt_status rt_st_write(const char *path, const rt_st_entry *e, int n, const rt_st_meta *meta, int n_meta)
{
    for (int i = 0; i < n; i++) {
        if (!dtype_str(e[i].dtype))
            return rt_error(RT_ERR_ARG, "%s: tensor '%s': dtype %s cannot be stored", path, e[i].name,
                            rt_dtype_name(e[i].dtype));
        for (int j = 0; j < i; j++)
            if (!strcmp(e[i].name, e[j].name))
                return rt_error(RT_ERR_ARG, "%s: duplicate tensor name '%s'", path, e[i].name);
    }
    char *hdr = build_header(path, e, n, meta, n_meta);
    if (!hdr) return rt_error(RT_ERR_NOMEM, "%s: out of memory building the header", path);
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    rt_atomic af;
    rt_status s = rt_atomic_open(&af, path);
    if (s != RT_OK) {
        free(hdr);
        return s;
    }
    fwrite(len8, 1, 8, af.f);
    fwrite(hdr, 1, hl, af.f);
    for (size_t i = hl; i < padded; i++) fputc(' ', af.f);
    free(hdr);
    for (int i = 0; i < n; i++)
        fwrite(e[i].data, 1, rt_dtype_bytes(e[i].dtype, rt_shape_numel(e[i].ndim, e[i].shape)), af.f);
    return rt_atomic_commit(&af);
}
