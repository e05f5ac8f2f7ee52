/*
 * dataset.c - open datasets from specs (Fashion-MNIST, MNIST, IDX, .npy,
 * .safetensors), validate them, image options (?size=, ?channels=),
 * stratified subsets (see dataset.h).
 *
 * Every source ends in take(), which owns the float arrays it is given and
 * applies the one set of checks: counts, shapes, finiteness, class indices.
 * Image options then reshape the validated samples (resize2d's kernel from
 * src/core, run on a small graph, so there is one bilinear rule).
 */
#include "data/dataset.h"

#include "core/graph.h"
#include "core/ops.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "data/idx.h"
#include "data/manifest.h"
#include "io/npy.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUFFLE_KIND ((uint64_t)0x5A << 56) /* counter high bits: keeps shuffles apart from other users */
#define NAMED_CLASSES 10
#define IMG_MAX_SIDE 4096  /* size=HxW: each side 1..IMG_MAX_SIDE */
#define IMG_MAX_CHANNELS 64
#define IMG_CHUNK 1024     /* planes resized per forward pass */

void rt_dataset_free(rt_dataset *ds)
{
    free(ds->x);
    free(ds->label);
    free(ds->y);
    free(ds->full);
    free(ds->full_off);
    free(ds->full_len);
    free(ds->skipped);
    memset(ds, 0, sizeof *ds);
}

void rt_data_shuffle(int64_t *a, int64_t n, uint64_t seed, uint32_t stream, uint32_t step)
{
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        rt_philox4x32(seed, SHUFFLE_KIND | (uint64_t)i, stream, step, r);
        uint64_t u = ((uint64_t)r[0] << 32) | r[1];
        int64_t j = (int64_t)(u % (uint64_t)(i + 1));
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* ---- validation ----------------------------------------------------------- */

/* First NaN/Inf of v (n rows of `per`), named "<file>: <what> sample S element E is NaN". */
static rt_status check_finite(const float *v, int64_t n, int64_t per, const char *file, const char *what)
{
    for (int64_t i = 0; i < n * per; i++)
        if (!isfinite(v[i]))
            return rt_error(RT_ERR_NONFINITE, "%s: %s sample %lld element %lld is %s", file, what,
                            (long long)(i / per), (long long)(i % per), isnan(v[i]) ? "NaN" : "Inf");
    return RT_OK;
}

/* Class indices from float y (n): integers in [0, max); n_classes = fixed or max label + 1. */
static rt_status to_labels(rt_dataset *ds, const float *y, const char *file, int64_t fixed)
{
    int64_t limit = fixed > 0 ? fixed : RT_DATASET_MAX_CLASSES, top = -1;
    ds->label = malloc((size_t)ds->n * sizeof *ds->label);
    if (!ds->label) return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld labels", file, (long long)ds->n);
    for (int64_t i = 0; i < ds->n; i++) {
        float v = y[i];
        if (v != floorf(v) || v < 0 || v >= (float)limit)
            return rt_error(RT_ERR_FORMAT, "%s: label %lld is %g, not a class index in [0, %lld)%s", file,
                            (long long)i, (double)v, (long long)limit,
                            fixed > 0 ? "" : " (store float targets as (N, K))");
        ds->label[i] = (int32_t)v;
        if (ds->label[i] > top) top = ds->label[i];
    }
    ds->n_classes = fixed > 0 ? fixed : top + 1;
    return RT_OK;
}

struct arr {
    const char *file; /* for messages */
    int ndim;
    int64_t shape[RT_NPY_MAX_DIM];
    float *data;      /* owned until take() */
};

static rt_status check_shapes(const struct arr *x, const struct arr *y)
{
    if (x->ndim < 1 || x->ndim > RT_DATASET_MAX_DIM + 1)
        return rt_error(RT_ERR_SHAPE, "%s: x has %d dimensions (1 to %d: samples first)", x->file, x->ndim,
                        RT_DATASET_MAX_DIM + 1);
    if (y->ndim < 1 || y->ndim > 2)
        return rt_error(RT_ERR_SHAPE, "%s: y has %d dimensions (want (N) class indices or (N, K) targets)", y->file,
                        y->ndim);
    if (x->shape[0] != y->shape[0] && !strcmp(x->file, y->file))
        return rt_error(RT_ERR_SHAPE, "%s: x has %lld samples but y has %lld", x->file, (long long)x->shape[0],
                        (long long)y->shape[0]);
    if (x->shape[0] != y->shape[0])
        return rt_error(RT_ERR_SHAPE, "%s has %lld samples but %s has %lld", x->file, (long long)x->shape[0],
                        y->file, (long long)y->shape[0]);
    if (x->shape[0] < 1) return rt_error(RT_ERR_SHAPE, "%s: no samples", x->file);
    if (y->ndim == 2 && y->shape[1] < 1) return rt_error(RT_ERR_SHAPE, "%s: y has 0 values per sample", y->file);
    return RT_OK;
}

/* Validate and move x and y into ds (both freed on any outcome but success's x/y). */
static rt_status take(rt_dataset *ds, struct arr *x, struct arr *y, int64_t fixed_classes)
{
    rt_status s = check_shapes(x, y);
    if (s != RT_OK) goto fail;
    ds->n = x->shape[0];
    ds->x_ndim = x->ndim - 1;
    ds->x_size = 1;
    for (int i = 1; i < x->ndim; i++) {
        ds->x_shape[i - 1] = x->shape[i];
        ds->x_size *= x->shape[i];
    }
    ds->y_size = y->ndim == 2 ? y->shape[1] : 1;
    if ((s = check_finite(x->data, ds->n, ds->x_size, x->file, "x")) != RT_OK) goto fail;
    if ((s = check_finite(y->data, ds->n, ds->y_size, y->file, "y")) != RT_OK) goto fail;
    if (y->ndim == 1) {
        ds->y_size = 0;
        if ((s = to_labels(ds, y->data, y->file, fixed_classes)) != RT_OK) goto fail;
        free(y->data);
    } else {
        ds->y = y->data;
    }
    ds->x = x->data;
    x->data = y->data = NULL;
    return RT_OK;
fail:
    free(x->data);
    free(y->data);
    x->data = y->data = NULL;
    rt_dataset_free(ds);
    return s;
}

/* ---- sources -------------------------------------------------------------- */

/* An IDX file as floats, each byte / div (255 for images: torchvision's ToTensor, bit for bit). */
static rt_status load_idx(struct arr *a, const char *path, float div)
{
    rt_idx m;
    rt_status s = rt_idx_load(&m, path);
    if (s != RT_OK) return s;
    a->file = path;
    a->ndim = m.ndim;
    memcpy(a->shape, m.dims, sizeof m.dims);
    a->data = malloc(m.n * sizeof(float));
    if (!a->data) {
        rt_idx_free(&m);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory for %zu values", path, m.n);
    }
    for (size_t i = 0; i < m.n; i++) a->data[i] = (float)m.data[i] / div;
    rt_idx_free(&m);
    return RT_OK;
}

static rt_status open_idx(rt_dataset *ds, const char *images, const char *labels, int64_t fixed_classes)
{
    struct arr x = {0}, y = {0};
    rt_status s = load_idx(&x, images, 255.f);
    if (s == RT_OK) s = load_idx(&y, labels, 1.f);
    if (s != RT_OK) {
        free(x.data);
        free(y.data);
        return s;
    }
    return take(ds, &x, &y, fixed_classes);
}

static rt_status load_npy(struct arr *a, const char *path)
{
    struct rt_npy m;
    rt_status s = rt_npy_read_f32(path, &m);
    if (s != RT_OK) return s;
    a->file = path;
    a->ndim = m.ndim;
    memcpy(a->shape, m.shape, sizeof m.shape);
    a->data = m.data;
    return RT_OK;
}

static rt_status open_npy(rt_dataset *ds, const char *xpath, const char *ypath)
{
    struct arr x = {0}, y = {0};
    rt_status s = load_npy(&x, xpath);
    if (s == RT_OK) s = load_npy(&y, ypath);
    if (s != RT_OK) {
        free(x.data);
        free(y.data);
        return s;
    }
    return take(ds, &x, &y, 0);
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e == 0) {
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    } else {
        bits = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* One element of dtype dt at p (unaligned, little-endian host) as float. */
static float st_value(const uint8_t *p, enum rt_dtype dt)
{
    union { float f; double d; int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; int64_t i64; } v;
    uint32_t b;
    switch (dt) {
    case RT_F32: memcpy(&v.f, p, 4); return v.f;
    case RT_F64: memcpy(&v.d, p, 8); return (float)v.d;
    case RT_F16: memcpy(&v.u16, p, 2); return half_to_float(v.u16);
    case RT_BF16: memcpy(&v.u16, p, 2); b = (uint32_t)v.u16 << 16; memcpy(&v.f, &b, 4); return v.f;
    case RT_I8: memcpy(&v.i8, p, 1); return (float)v.i8;
    case RT_U8: case RT_BOOL: return (float)p[0];
    case RT_I16: memcpy(&v.i16, p, 2); return (float)v.i16;
    case RT_I32: memcpy(&v.i32, p, 4); return (float)v.i32;
    case RT_I64: memcpy(&v.i64, p, 8); return (float)v.i64;
    default: return NAN;
    }
}

static rt_status st_get(struct arr *a, const rt_safetensors *st, const char *path, const char *name)
{
    const rt_st_tensor *t = rt_st_find(st, name);
    if (!t)
        return rt_error(RT_ERR_FORMAT, "%s: no tensor '%s' (a dataset file holds tensors 'x' and 'y')", path, name);
    if (t->dtype == RT_Q4)
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' is %s, not a dataset dtype", path, name,
                        rt_dtype_name(t->dtype));
    a->file = path;
    a->ndim = t->ndim;
    memcpy(a->shape, t->shape, sizeof t->shape);
    int64_t n = rt_shape_numel(t->ndim, t->shape);
    size_t es = rt_dtype_bytes(t->dtype, 1);
    a->data = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!a->data) return rt_error(RT_ERR_NOMEM, "%s: out of memory for tensor '%s'", path, name);
    const uint8_t *p = rt_st_data(st, t);
    for (int64_t i = 0; i < n; i++) a->data[i] = st_value(p + (size_t)i * es, t->dtype);
    return RT_OK;
}

static rt_status open_st(rt_dataset *ds, const char *path)
{
    rt_safetensors st;
    rt_status s = rt_st_open(&st, path);
    if (s != RT_OK) return s;
    struct arr x = {0}, y = {0};
    s = st_get(&x, &st, path, "x");
    if (s == RT_OK) s = st_get(&y, &st, path, "y");
    rt_st_close(&st);
    if (s != RT_OK) {
        free(x.data);
        free(y.data);
        return s;
    }
    return take(ds, &x, &y, 0);
}

/* dir/base or dir/base.gz, whichever exists (the plain name if neither). */
static void find_file(char *out, size_t cap, const char *dir, const char *base)
{
    snprintf(out, cap, "%s/%s.gz", dir, base);
    if (access(out, R_OK) == 0) return;
    snprintf(out, cap, "%s/%s", dir, base);
}

static rt_status open_named(rt_dataset *ds, const char *set, const char *split)
{
    bool fashion = !strcmp(set, "fmnist");
    const char *env = getenv(fashion ? "RETORT_FMNIST_DIR" : "RETORT_MNIST_DIR");
    const char *dir = env && *env ? env : fashion ? RT_FMNIST_DIR : RT_MNIST_DIR;
    const char *pre;
    if (!strcmp(split, "train")) pre = "train";
    else if (!strcmp(split, "test")) pre = "t10k";
    else return rt_error(RT_ERR_ARG, "%s:%s: unknown split '%s' (train or test)", set, split, split);
    char img[1024], lab[1024], base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", pre);
    find_file(img, sizeof img, dir, base);
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", pre);
    find_file(lab, sizeof lab, dir, base);
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0) {
        if (fashion)
            return rt_error(RT_ERR_IO, "Fashion-MNIST not found in %s: install Debian's dataset-fashion-mnist "
                                       "(apt install dataset-fashion-mnist)", dir);
        return rt_error(RT_ERR_IO, "MNIST not found in %s: put %s-{images-idx3,labels-idx1}-ubyte[.gz] there "
                                   "or set RETORT_MNIST_DIR", dir, pre);
    }
    return open_idx(ds, img, lab, NAMED_CLASSES);
}

/* Split "A,B" into two buffers; false unless exactly one comma and both non-empty. */
static bool split_pair(const char *s, char *a, char *b, size_t cap)
{
    const char *c = strchr(s, ',');
    if (!c || strchr(c + 1, ',') || c == s || !c[1] || (size_t)(c - s) >= cap || strlen(c + 1) >= cap) return false;
    memcpy(a, s, (size_t)(c - s));
    a[c - s] = 0;
    strcpy(b, c + 1);
    return true;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* ---- image options: SPEC?size=HxW&channels=C --------------------------------- */

struct img_opts {
    int64_t h, w; /* size=: output height and width (0: keep) */
    int64_t c;    /* channels=: output channels (0: keep) */
};

/* A decimal integer in [1, max] filling all of s[0..len), else -1. */
static int64_t parse_count(const char *s, size_t len, int64_t max)
{
    if (len == 0 || len > 9) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= max ? v : -1;
}

/* "size=64&channels=3" (q, after the '?' of spec) into *o; errors name spec. */
static rt_status parse_img_opts(const char *spec, const char *q, struct img_opts *o)
{
    *o = (struct img_opts){0};
    bool seen_size = false, seen_ch = false;
    for (const char *p = q;;) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return rt_error(RT_ERR_ARG, "%s: option '%.*s' is not KEY=VALUE (size=N or HxW, channels=C)", spec,
                            (int)len, p);
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        const char *v = eq + 1;
        if (klen == 4 && !strncmp(p, "size", 4)) {
            if (seen_size) return rt_error(RT_ERR_ARG, "%s: option 'size' given twice", spec);
            seen_size = true;
            const char *x = memchr(v, 'x', vlen);
            size_t hlen = x ? (size_t)(x - v) : vlen;
            o->h = parse_count(v, hlen, IMG_MAX_SIDE);
            o->w = x ? parse_count(x + 1, vlen - hlen - 1, IMG_MAX_SIDE) : o->h;
            if (o->h < 0 || o->w < 0)
                return rt_error(RT_ERR_ARG, "%s: size '%.*s': expected N or HxW, sides 1 to %d", spec, (int)vlen, v,
                                IMG_MAX_SIDE);
        } else if (klen == 8 && !strncmp(p, "channels", 8)) {
            if (seen_ch) return rt_error(RT_ERR_ARG, "%s: option 'channels' given twice", spec);
            seen_ch = true;
            if ((o->c = parse_count(v, vlen, IMG_MAX_CHANNELS)) < 0)
                return rt_error(RT_ERR_ARG, "%s: channels '%.*s': expected 1 to %d", spec, (int)vlen, v,
                                IMG_MAX_CHANNELS);
        } else {
            return rt_error(RT_ERR_ARG, "%s: unknown option '%.*s' (size=N or HxW, channels=C)", spec, (int)klen, p);
        }
        if (!p[len]) return RT_OK;
        p += len + 1;
    }
}

/* Where plane k of the input goes: sample k / c_in, channel k % c_in of dst
 * (N, c_out, plane); a single input channel is copied into all c_out. */
struct plane_sink {
    float *dst;
    int64_t c_in, c_out, plane;
};

static void sink_plane(const struct plane_sink *s, int64_t k, const float *v)
{
    int64_t n = k / s->c_in, c = k % s->c_in;
    size_t bytes = (size_t)s->plane * sizeof(float);
    if (s->c_in == s->c_out) {
        memcpy(s->dst + (n * s->c_out + c) * s->plane, v, bytes);
        return;
    }
    for (int64_t j = 0; j < s->c_out; j++) memcpy(s->dst + (n * s->c_out + j) * s->plane, v, bytes);
}

/* x (P, H, W) planes resized to (OH, OW) (F.interpolate bilinear, align_corners
 * False: rt_resize2d on a graph of IMG_CHUNK planes) and handed to the sink. */
static rt_status resize_planes(const float *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                               const struct plane_sink *sink, const char *spec)
{
    if (OH == H && OW == W) {
        for (int64_t k = 0; k < P; k++) sink_plane(sink, k, x + k * H * W);
        return RT_OK;
    }
    int64_t chunk = P < IMG_CHUNK ? P : IMG_CHUNK;
    rt_params *p = rt_params_new();
    rt_graph *g = p ? rt_graph_new(p) : NULL;
    rt_node *in = g ? rt_input(g, "x", RT_DIMS(chunk, H, W)) : NULL, *out = in ? rt_resize2d(g, in, OH, OW) : NULL;
    rt_status s = !g ? rt_error(RT_ERR_NOMEM, "%s: out of memory for resizing", spec)
                     : out ? rt_graph_plan(g, RT_PLAN_INFER) : rt_graph_status(g);
    for (int64_t k0 = 0; s == RT_OK && k0 < P; k0 += chunk) {
        int64_t m = P - k0 < chunk ? P - k0 : chunk; /* a short last chunk: the planes past m are stale, unread */
        memcpy(rt_data(in), x + k0 * H * W, (size_t)(m * H * W) * sizeof(float));
        s = rt_graph_forward(g);
        for (int64_t k = 0; s == RT_OK && k < m; k++) sink_plane(sink, k0 + k, rt_data(out) + k * OH * OW);
    }
    rt_graph_free(g);
    rt_params_free(p);
    return s;
}

/* Apply o to the validated samples of ds (freed on error). */
static rt_status apply_img_opts(rt_dataset *ds, const struct img_opts *o, const char *spec)
{
    char shp[64];
    rt_status s = RT_OK;
    if (ds->x_ndim != 2 && ds->x_ndim != 3) {
        s = rt_error(RT_ERR_SHAPE, "%s: size= and channels= need image samples (H, W) or (C, H, W), not %s", spec,
                     rt_shape_str(shp, sizeof shp, ds->x_ndim, ds->x_shape));
        goto fail;
    }
    int64_t c_in = ds->x_ndim == 3 ? ds->x_shape[0] : 1, H = ds->x_shape[ds->x_ndim - 2],
            W = ds->x_shape[ds->x_ndim - 1];
    int64_t c_out = o->c ? o->c : c_in, OH = o->h ? o->h : H, OW = o->w ? o->w : W;
    if (c_out != c_in && c_in != 1) {
        s = rt_error(RT_ERR_SHAPE, "%s: channels=%lld: samples %s have %lld channels (only one channel is replicated)",
                     spec, (long long)c_out, rt_shape_str(shp, sizeof shp, ds->x_ndim, ds->x_shape), (long long)c_in);
        goto fail;
    }
    int64_t per = c_out * OH * OW; /* <= 64 * 4096 * 4096 */
    float *y = ds->n <= (int64_t)(SIZE_MAX / sizeof(float)) / per ? malloc((size_t)(ds->n * per) * sizeof *y) : NULL;
    if (!y) {
        s = rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld samples of %lld values", spec, (long long)ds->n,
                     (long long)per);
        goto fail;
    }
    struct plane_sink sink = {.dst = y, .c_in = c_in, .c_out = c_out, .plane = OH * OW};
    if ((s = resize_planes(ds->x, ds->n * c_in, H, W, OH, OW, &sink, spec)) != RT_OK) {
        free(y);
        goto fail;
    }
    free(ds->x);
    ds->x = y;
    if (o->c) ds->x_ndim = 3; /* channels= always gives (C, H, W) */
    int d = ds->x_ndim;
    if (d == 3) ds->x_shape[0] = c_out;
    ds->x_shape[d - 2] = OH;
    ds->x_shape[d - 1] = OW;
    ds->x_size = per;
    return RT_OK;
fail:
    rt_dataset_free(ds);
    return s;
}

rt_status rt_dataset_open(rt_dataset *ds, const char *spec)
{
    memset(ds, 0, sizeof *ds);
    char a[1024], b[1024], base[1024];
    struct img_opts io = {0};
    rt_status s;
    /* image options follow a '?' (a manifest's own options use the same mark) */
    const char *q = strncmp(spec, "manifest:", 9) ? strchr(spec, '?') : NULL, *full = spec;
    if (q) {
        if ((size_t)(q - spec) >= sizeof base) return rt_error(RT_ERR_ARG, "%s: spec too long", spec);
        if ((s = parse_img_opts(spec, q + 1, &io)) != RT_OK) return s;
        memcpy(base, spec, (size_t)(q - spec));
        base[q - spec] = 0;
        spec = base;
    }
    if (!strncmp(spec, "fmnist:", 7)) s = open_named(ds, "fmnist", spec + 7);
    else if (!strncmp(spec, "mnist:", 6)) s = open_named(ds, "mnist", spec + 6);
    else if (!strncmp(spec, "idx:", 4) && split_pair(spec + 4, a, b, sizeof a)) s = open_idx(ds, a, b, 0);
    else if (!strncmp(spec, "npy:", 4) && split_pair(spec + 4, a, b, sizeof a)) s = open_npy(ds, a, b);
    else if (!strncmp(spec, "st:", 3)) s = open_st(ds, spec + 3);
    else if (ends_with(spec, ".safetensors")) s = open_st(ds, spec);
    else if (!strncmp(spec, "manifest:", 9)) s = rt_manifest_open_spec(ds, spec + 9);
    else
        return rt_error(RT_ERR_ARG, "%s: unknown dataset spec (fmnist:train|test, mnist:train|test, "
                                    "idx:IMAGES,LABELS, npy:X,Y, PATH.safetensors, st:PATH, "
                                    "manifest:PATH.csv?K=V&...; images may add ?size=HxW&channels=C)", full);
    if (s == RT_OK && q) s = apply_img_opts(ds, &io, full);
    if (s == RT_OK) snprintf(ds->source, sizeof ds->source, "%s", full);
    return s;
}

rt_status rt_dataset_adopt(rt_dataset *ds, const char *name, int64_t n, int x_ndim, const int64_t *x_shape, float *x,
                           int64_t n_classes, const int32_t *label, int64_t y_size, const float *y)
{
    memset(ds, 0, sizeof *ds);
    RT_ASSERT(n_classes > 0 ? label != NULL : (y != NULL && y_size > 0));
    if (n < 1 || x_ndim < 0 || x_ndim > RT_DATASET_MAX_DIM) {
        free(x);
        return rt_error(RT_ERR_SHAPE, "%s: %lld samples of %d dimensions", name, (long long)n, x_ndim);
    }
    struct arr xa = {.file = name, .ndim = x_ndim + 1, .shape = {n}, .data = x};
    struct arr ya = {.file = name, .ndim = n_classes > 0 ? 1 : 2, .shape = {n, y_size}};
    for (int i = 0; i < x_ndim; i++) xa.shape[i + 1] = x_shape[i];
    int64_t yn = n * (n_classes > 0 ? 1 : y_size);
    ya.data = malloc((size_t)yn * sizeof(float));
    if (!ya.data) {
        free(x);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld samples", name, (long long)n);
    }
    for (int64_t i = 0; i < yn; i++) ya.data[i] = n_classes > 0 ? (float)label[i] : y[i];
    rt_status s = take(ds, &xa, &ya, n_classes);
    if (s == RT_OK) snprintf(ds->source, sizeof ds->source, "%s", name);
    return s;
}

rt_status rt_dataset_from_arrays(rt_dataset *ds, const char *name, int64_t n, int x_ndim, const int64_t *x_shape,
                                 const float *x, int64_t n_classes, const int32_t *label, int64_t y_size,
                                 const float *y)
{
    memset(ds, 0, sizeof *ds);
    int64_t xs = 1;
    for (int i = 0; i < x_ndim && i < RT_DATASET_MAX_DIM; i++) xs *= x_shape[i];
    float *copy = n >= 1 ? malloc((size_t)(n * xs) * sizeof(float)) : NULL;
    if (n >= 1 && !copy) return rt_error(RT_ERR_NOMEM, "%s: out of memory for %lld samples", name, (long long)n);
    if (copy) memcpy(copy, x, (size_t)(n * xs) * sizeof(float));
    return rt_dataset_adopt(ds, name, n, x_ndim, x_shape, copy, n_classes, label, y_size, y);
}

/* ---- subset and stats ----------------------------------------------------- */

/* Mark round(fraction * count) (>= 1) of idx[0..count) as kept. */
static void pick(bool *keep, int64_t *idx, int64_t count, double fraction, uint64_t seed, uint32_t stream)
{
    if (count == 0) return;
    int64_t k = (int64_t)llround(fraction * (double)count);
    if (k < 1) k = 1;
    rt_data_shuffle(idx, count, seed, stream, 0x5B5E7u);
    for (int64_t i = 0; i < k; i++) keep[idx[i]] = true;
}

/* Move the kept rows to the front; returns the new count. */
static int64_t compact(rt_dataset *ds, const bool *keep)
{
    int64_t m = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (!keep[i]) continue;
        memmove(ds->x + m * ds->x_size, ds->x + i * ds->x_size, (size_t)ds->x_size * sizeof(float));
        if (ds->label) ds->label[m] = ds->label[i];
        if (ds->y) memmove(ds->y + m * ds->y_size, ds->y + i * ds->y_size, (size_t)ds->y_size * sizeof(float));
        if (ds->full) ds->full_off[m] = ds->full_off[i], ds->full_len[m] = ds->full_len[i];
        m++;
    }
    return m;
}

rt_status rt_dataset_subset(rt_dataset *ds, double fraction, uint64_t seed)
{
    if (!(fraction > 0 && fraction <= 1))
        return rt_error(RT_ERR_ARG, "%s: subset fraction %g is not in (0, 1]", ds->source, fraction);
    bool *keep = calloc((size_t)ds->n, sizeof *keep);
    int64_t *idx = malloc((size_t)ds->n * sizeof *idx);
    if (!keep || !idx) {
        free(keep);
        free(idx);
        return rt_error(RT_ERR_NOMEM, "%s: out of memory for a subset", ds->source);
    }
    if (ds->label) {
        /* Bucket indices by class (counting sort), then pick within each bucket. */
        int64_t C = ds->n_classes, *start = calloc(2 * ((size_t)C + 1), sizeof *start), *cur = start + C + 1;
        if (!start) {
            free(keep);
            free(idx);
            return rt_error(RT_ERR_NOMEM, "%s: out of memory for a subset", ds->source);
        }
        for (int64_t i = 0; i < ds->n; i++) start[ds->label[i] + 1]++;
        for (int64_t c = 0; c < C; c++) cur[c + 1] = start[c + 1] += start[c];
        for (int64_t i = 0; i < ds->n; i++) idx[cur[ds->label[i]]++] = i;
        for (int64_t c = 0; c < ds->n_classes; c++)
            pick(keep, idx + start[c], start[c + 1] - start[c], fraction, seed, (uint32_t)c);
        free(start);
    } else {
        for (int64_t i = 0; i < ds->n; i++) idx[i] = i;
        pick(keep, idx, ds->n, fraction, seed, 0);
    }
    ds->n = compact(ds, keep);
    free(keep);
    free(idx);
    return RT_OK;
}

void rt_dataset_stats(const rt_dataset *ds, double *mean, double *std)
{
    double s = 0, s2 = 0;
    int64_t n = ds->n * ds->x_size;
    for (int64_t i = 0; i < n; i++) s += ds->x[i];
    double m = s / (double)n;
    for (int64_t i = 0; i < n; i++) s2 += ((double)ds->x[i] - m) * ((double)ds->x[i] - m);
    *mean = m;
    *std = sqrt(s2 / (double)n);
}
