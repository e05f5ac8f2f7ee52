/*
 * npy.c - NumPy .npy writer (float32, atomic) and strict reader (see npy.h).
 *
 * Layout of a .npy file: "\x93NUMPY", major, minor, header length (u16 LE
 * for v1, u32 LE for v2/v3), the header (a Python dict literal ending in
 * '\n'), then the raw data. The reader never allocates from an unchecked
 * field: the header length is bounded, every shape entry is bounded, the
 * element count and byte size are overflow-checked and must match the bytes
 * that follow the header exactly.
 */
#include "io/npy.h"

#include "io/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAX_DIMVAL ((int64_t)1 << 48)   /* a single dimension must be below this */
#define NPY_PREAMBLE_MAX 12

enum npy_kind { K_F4, K_F8, K_U1, K_I1, K_I2, K_U2, K_I4, K_U4, K_I8, K_U8 };

static const struct npy_dtype {
    const char *descr;
    enum npy_kind kind;
    size_t size;
} npy_dtypes[] = {
    {"<f4", K_F4, 4}, {"<f8", K_F8, 8}, {"|u1", K_U1, 1}, {"|i1", K_I1, 1},
    {"<i2", K_I2, 2}, {"<u2", K_U2, 2}, {"<i4", K_I4, 4}, {"<u4", K_U4, 4},
    {"<i8", K_I8, 8}, {"<u8", K_U8, 8}, {"=f4", K_F4, 4}, {"=f8", K_F8, 8},
    {"=i4", K_I4, 4}, {"=i8", K_I8, 8}, {"<u1", K_U1, 1}, {"<i1", K_I1, 1},
};

struct npy_header {
    const struct npy_dtype *dtype;
    int ndim;
    int64_t shape[RT_NPY_MAX_DIM];
    size_t n;        /* element count */
    size_t nbytes;   /* n * dtype->size */
};

static bool host_is_le(void)
{
    const uint16_t x = 1;
    unsigned char c;
    memcpy(&c, &x, 1);
    return c == 1;
}

/* ---- header parsing ------------------------------------------------------ */

struct cursor {
    const char *p, *end;
    const char *name;
};

static void skip_ws(struct cursor *c)
{
    while (c->p < c->end && *c->p == ' ') c->p++;
}

static rt_status parse_string(struct cursor *c, char *buf, size_t cap)
{
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return rt_error(RT_ERR_FORMAT, "%s: header: expected a quoted string", c->name);
    char q = *c->p++;
    size_t len = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || len + 1 >= cap)
            return rt_error(RT_ERR_FORMAT, "%s: header: bad or overlong string", c->name);
        buf[len++] = *c->p++;
    }
    if (c->p >= c->end) return rt_error(RT_ERR_FORMAT, "%s: header: unterminated string", c->name);
    c->p++;
    buf[len] = '\0';
    return RT_OK;
}

static rt_status parse_bool(struct cursor *c, bool *v)
{
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && !memcmp(c->p, "True", 4)) {
        c->p += 4;
        *v = true;
    } else if (left >= 5 && !memcmp(c->p, "False", 5)) {
        c->p += 5;
        *v = false;
    } else {
        return rt_error(RT_ERR_FORMAT, "%s: header: fortran_order must be True or False", c->name);
    }
    return RT_OK;
}

static rt_status parse_dim(struct cursor *c, int64_t *v)
{
    int64_t x = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        x = x * 10 + (*c->p - '0');
        if (x >= NPY_MAX_DIMVAL)
            return rt_error(RT_ERR_FORMAT, "%s: header: shape entry too large", c->name);
        c->p++;
    }
    if (c->p == start) return rt_error(RT_ERR_FORMAT, "%s: header: bad shape entry", c->name);
    *v = x;
    return RT_OK;
}

/* A Python tuple of non-negative ints: "()", "(3,)", "(3, 4)", "(3, 4,)". */
static rt_status parse_shape(struct cursor *c, struct npy_header *h)
{
    if (c->p >= c->end || *c->p != '(')
        return rt_error(RT_ERR_FORMAT, "%s: header: shape must be a tuple", c->name);
    c->p++;
    h->ndim = 0;
    bool trailing_comma = false;
    for (;;) {
        skip_ws(c);
        if (c->p < c->end && *c->p == ')') break;
        if (h->ndim >= RT_NPY_MAX_DIM)
            return rt_error(RT_ERR_FORMAT, "%s: header: more than %d dimensions", c->name,
                            RT_NPY_MAX_DIM);
        rt_status s = parse_dim(c, &h->shape[h->ndim++]);
        if (s != RT_OK) return s;
        skip_ws(c);
        trailing_comma = false;
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            trailing_comma = true;
        } else if (c->p >= c->end || *c->p != ')') {
            return rt_error(RT_ERR_FORMAT, "%s: header: bad shape tuple", c->name);
        }
    }
    c->p++;
    if (h->ndim == 1 && !trailing_comma)
        return rt_error(RT_ERR_FORMAT, "%s: header: shape '(n)' is not a tuple", c->name);
    return RT_OK;
}

static rt_status parse_value(struct cursor *c, const char *key, struct npy_header *h,
                             bool *fortran)
{
    if (!strcmp(key, "descr")) {
        char d[32];
        rt_status s = parse_string(c, d, sizeof d);
        if (s != RT_OK) return s;
        for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; i++)
            if (!strcmp(d, npy_dtypes[i].descr)) h->dtype = &npy_dtypes[i];
        if (!h->dtype)
            return rt_error(RT_ERR_UNSUPPORTED, "%s: header: unsupported dtype '%s'", c->name, d);
        return RT_OK;
    }
    if (!strcmp(key, "fortran_order")) return parse_bool(c, fortran);
    if (!strcmp(key, "shape")) return parse_shape(c, h);
    return rt_error(RT_ERR_FORMAT, "%s: header: unknown key '%s'", c->name, key);
}

static rt_status parse_dict(const char *txt, size_t len, const char *name, struct npy_header *h)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)txt[i] < 0x20 ? txt[i] != '\n' : (unsigned char)txt[i] > 0x7e)
            return rt_error(RT_ERR_FORMAT, "%s: header: non-printable byte", name);
    if (len == 0 || txt[len - 1] != '\n')
        return rt_error(RT_ERR_FORMAT, "%s: header: does not end with a newline", name);
    struct cursor c = {txt, txt + len - 1, name};
    bool fortran = false;
    unsigned seen = 0;   /* bit 0 descr, 1 fortran_order, 2 shape */
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{') return rt_error(RT_ERR_FORMAT, "%s: header: not a dict", name);
    c.p++;
    for (;;) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == '}') break;
        char key[32];
        rt_status s = parse_string(&c, key, sizeof key);
        if (s != RT_OK) return s;
        unsigned bit = !strcmp(key, "descr") ? 1u : !strcmp(key, "fortran_order") ? 2u
                     : !strcmp(key, "shape") ? 4u : 0u;
        if (bit & seen) return rt_error(RT_ERR_FORMAT, "%s: header: duplicate key '%s'", name, key);
        seen |= bit;
        skip_ws(&c);
        if (c.p >= c.end || *c.p != ':') return rt_error(RT_ERR_FORMAT, "%s: header: expected ':'", name);
        c.p++;
        skip_ws(&c);
        if ((s = parse_value(&c, key, h, &fortran)) != RT_OK) return s;
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
        } else if (c.p >= c.end || *c.p != '}') {
            return rt_error(RT_ERR_FORMAT, "%s: header: expected ',' or '}'", name);
        }
    }
    c.p++;
    skip_ws(&c);
    if (c.p != c.end) return rt_error(RT_ERR_FORMAT, "%s: header: trailing bytes after dict", name);
    if (seen != 7u)
        return rt_error(RT_ERR_FORMAT, "%s: header: missing key (need descr, fortran_order, shape)", name);
    if (fortran)
        return rt_error(RT_ERR_UNSUPPORTED,
                        "%s: header: fortran_order True is not supported (save C-ordered arrays)", name);
    size_t n = 1;
    for (int i = 0; i < h->ndim; i++) {
        size_t d = (size_t)h->shape[i];
        if (d != 0 && n > SIZE_MAX / d) return rt_error(RT_ERR_FORMAT, "%s: header: shape overflows", name);
        n *= d;
    }
    if (n > SIZE_MAX / h->dtype->size || n > SIZE_MAX / sizeof(float))
        return rt_error(RT_ERR_FORMAT, "%s: header: shape overflows", name);
    h->n = n;
    h->nbytes = n * h->dtype->size;
    return RT_OK;
}

/*
 * Parse the preamble in buf[0..len): on success *hdr_off is where the header
 * text starts and *hdr_len its length (both checked against RT_NPY_MAX_HEADER
 * but not yet against the file).
 */
static rt_status parse_preamble(const unsigned char *buf, size_t len, const char *name,
                                size_t *hdr_off, size_t *hdr_len)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return rt_error(RT_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    unsigned major = buf[6], minor = buf[7];
    if (minor != 0 || major < 1 || major > 3)
        return rt_error(RT_ERR_UNSUPPORTED, "%s: unsupported .npy version %u.%u", name, major, minor);
    if (major == 1) {
        *hdr_off = 10;
        *hdr_len = (size_t)buf[8] | (size_t)buf[9] << 8;
    } else {
        if (len < 12) return rt_error(RT_ERR_FORMAT, "%s: truncated preamble", name);
        *hdr_off = 12;
        *hdr_len = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    }
    if (*hdr_len > RT_NPY_MAX_HEADER)
        return rt_error(RT_ERR_FORMAT, "%s: header: length %zu exceeds %u", name, *hdr_len,
                        (unsigned)RT_NPY_MAX_HEADER);
    return RT_OK;
}

/* ---- data conversion ----------------------------------------------------- */

static uint64_t load_le(const unsigned char *p, size_t size)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static float convert_one(const unsigned char *p, enum npy_kind k)
{
    switch (k) {
    case K_F4: { uint32_t u = (uint32_t)load_le(p, 4); float f; memcpy(&f, &u, 4); return f; }
    case K_F8: { uint64_t u = load_le(p, 8); double d; memcpy(&d, &u, 8); return (float)d; }
    case K_U1: return (float)p[0];
    case K_I1: return (float)(int8_t)p[0];
    case K_I2: return (float)(int16_t)(uint16_t)load_le(p, 2);
    case K_U2: return (float)(uint16_t)load_le(p, 2);
    case K_I4: return (float)(int32_t)(uint32_t)load_le(p, 4);
    case K_U4: return (float)(uint32_t)load_le(p, 4);
    case K_I8: return (float)(int64_t)load_le(p, 8);
    case K_U8: return (float)load_le(p, 8);
    }
    return 0.0f;
}

static void convert(float *dst, const unsigned char *src, size_t n, const struct npy_dtype *t)
{
    if (t->kind == K_F4 && host_is_le()) {
        if (n) memcpy(dst, src, n * 4);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = convert_one(src + i * t->size, t->kind);
}

static rt_status fill_out(struct rt_npy *out, const struct npy_header *h, const char *name)
{
    out->ndim = h->ndim;
    for (int i = 0; i < h->ndim; i++) out->shape[i] = h->shape[i];
    out->n = h->n;
    out->data = malloc(h->n ? h->n * sizeof(float) : 1);
    if (!out->data) return rt_error(RT_ERR_NOMEM, "%s: cannot allocate %zu floats", name, h->n);
    return RT_OK;
}

/* ---- public: read ---------------------------------------------------------- */

void rt_npy_free(struct rt_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

rt_status rt_npy_parse_f32(const void *buf, size_t len, const char *name, struct rt_npy *out)
{
    const unsigned char *b = buf;
    struct npy_header h = {0};
    size_t off, hlen;
    memset(out, 0, sizeof *out);
    rt_status s = parse_preamble(b, len, name, &off, &hlen);
    if (s != RT_OK) return s;
    if (hlen > len - off) return rt_error(RT_ERR_FORMAT, "%s: header: truncated", name);
    if ((s = parse_dict((const char *)b + off, hlen, name, &h)) != RT_OK) return s;
    size_t rest = len - off - hlen;
    if (rest != h.nbytes)
        return rt_error(RT_ERR_FORMAT, "%s: data is %zu bytes, shape and dtype need %zu", name,
                        rest, h.nbytes);
    if ((s = fill_out(out, &h, name)) != RT_OK) return s;
    convert(out->data, b + off + hlen, h.n, h.dtype);
    return RT_OK;
}

static rt_status read_exact(FILE *f, void *dst, size_t n, const char *name)
{
    if (n && fread(dst, 1, n, f) != n)
        return rt_error(RT_ERR_IO, "%s: read failed%s", name, ferror(f) ? "" : " (truncated)");
    return RT_OK;
}

rt_status rt_npy_read_f32(const char *path, struct rt_npy *out)
{
    memset(out, 0, sizeof *out);
    rt_status s = RT_OK;
    char *hdr = NULL;
    unsigned char *raw = NULL;
    struct npy_header h = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        s = rt_error(RT_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    unsigned char pre[NPY_PREAMBLE_MAX];
    size_t got = fread(pre, 1, sizeof pre, f);
    size_t off, hlen;
    if ((s = parse_preamble(pre, got, path, &off, &hlen)) != RT_OK) goto fail;
    uint64_t fsize = (uint64_t)st.st_size;
    if ((uint64_t)off + hlen > fsize) {
        s = rt_error(RT_ERR_FORMAT, "%s: header: truncated", path);
        goto fail;
    }
    if (fseeko(f, (off_t)off, SEEK_SET) != 0 || !(hdr = malloc(hlen + 1))) {
        s = rt_error(RT_ERR_IO, "%s: cannot read header", path);
        goto fail;
    }
    if ((s = read_exact(f, hdr, hlen, path)) != RT_OK) goto fail;
    if ((s = parse_dict(hdr, hlen, path, &h)) != RT_OK) goto fail;
    if (fsize - off - hlen != (uint64_t)h.nbytes) {
        s = rt_error(RT_ERR_FORMAT, "%s: data is %llu bytes, shape and dtype need %zu", path,
                     (unsigned long long)(fsize - off - hlen), h.nbytes);
        goto fail;
    }
    if ((s = fill_out(out, &h, path)) != RT_OK) goto fail;
    if (h.dtype->kind == K_F4 && host_is_le()) {
        s = read_exact(f, out->data, h.nbytes, path);
    } else {
        if (!(raw = malloc(h.nbytes ? h.nbytes : 1))) {
            s = rt_error(RT_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, h.nbytes);
            goto fail;
        }
        if ((s = read_exact(f, raw, h.nbytes, path)) == RT_OK) convert(out->data, raw, h.n, h.dtype);
    }
fail:
    if (s != RT_OK) rt_npy_free(out);
    free(raw);
    free(hdr);
    fclose(f);
    return s;
}

/* ---- public: write ----------------------------------------------------------- */

/* Build the padded v1.0 header (including preamble) into buf; returns its length or 0. */
static size_t build_header(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", ndim == 1 ? "," : "");
    size_t dl = (size_t)k;
    size_t total = 10 + dl + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap) return 0;
    size_t hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    return total;
}

rt_status rt_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > RT_NPY_MAX_DIM)
        return rt_error(RT_ERR_ARG, "%s: cannot write %d dimensions (max %d)", path, ndim, RT_NPY_MAX_DIM);
    if (!host_is_le()) return rt_error(RT_ERR_UNSUPPORTED, "%s: big-endian hosts are not supported", path);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] >= NPY_MAX_DIMVAL)
            return rt_error(RT_ERR_ARG, "%s: bad shape entry %lld", path, (long long)shape[i]);
        size_t d = (size_t)shape[i];
        if (d != 0 && n > SIZE_MAX / sizeof(float) / d)
            return rt_error(RT_ERR_ARG, "%s: shape overflows", path);
        n *= d;
    }
    char hdr[640];
    size_t hl = build_header(hdr, sizeof hdr, ndim, shape);
    RT_ASSERT(hl > 0);
    rt_atomic af;
    rt_status s = rt_atomic_open(&af, path);
    if (s != RT_OK) return s;
    if (fwrite(hdr, 1, hl, af.f) != hl || (n != 0 && fwrite(data, sizeof(float), n, af.f) != n)) {
        s = rt_error(RT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        rt_atomic_abort(&af);
        return s;
    }
    return rt_atomic_commit(&af);
}
