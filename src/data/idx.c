/*
 * idx.c - bounded IDX reader, plain or gzip (zlib's gzread handles both).
 */
#include "data/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_FILE_BYTES ((size_t)RT_IDX_MAX_ELEMS + 64)

void rt_idx_free(rt_idx *x)
{
    free(x->data);
    memset(x, 0, sizeof *x);
}

rt_status rt_idx_parse(rt_idx *out, const uint8_t *buf, size_t len, const char *label)
{
    memset(out, 0, sizeof *out);
    if (len < 4 || buf[0] != 0 || buf[1] != 0)
        return rt_error(RT_ERR_FORMAT, "%s: not an IDX file (bad magic)", label);
    if (buf[2] != 0x08)
        return rt_error(RT_ERR_FORMAT, "%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                        label, buf[2]);
    int nd = buf[3];
    if (nd < 1 || nd > 4) return rt_error(RT_ERR_FORMAT, "%s: IDX has %d dimensions (1 to 4 supported)", label, nd);
    if (len < 4 + 4 * (size_t)nd) return rt_error(RT_ERR_FORMAT, "%s: truncated IDX header", label);
    uint64_t n = 1;
    for (int i = 0; i < nd; i++) {
        const uint8_t *p = buf + 4 + 4 * i;
        uint64_t d = ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
        if (d == 0) return rt_error(RT_ERR_FORMAT, "%s: IDX dimension %d is 0", label, i);
        n *= d;
        if (n > RT_IDX_MAX_ELEMS) return rt_error(RT_ERR_FORMAT, "%s: IDX element count is too large", label);
        out->dims[i] = (int64_t)d;
    }
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len - hdr != n)
        return rt_error(RT_ERR_FORMAT, "%s: IDX header promises %llu bytes of data, file has %zu", label,
                        (unsigned long long)n, len - hdr);
    out->data = malloc((size_t)n);
    if (!out->data) return rt_error(RT_ERR_NOMEM, "%s: out of memory for %llu bytes", label, (unsigned long long)n);
    memcpy(out->data, buf + hdr, (size_t)n);
    out->ndim = nd;
    out->n = (size_t)n;
    return RT_OK;
}

rt_status rt_idx_load(rt_idx *out, const char *path)
{
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    rt_status s = RT_OK;
    while (buf) {
        if (len == cap) {
            if (cap >= MAX_FILE_BYTES) {
                s = rt_error(RT_ERR_FORMAT, "%s: larger than the IDX limit", path);
                break;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        int want = (int)((cap - len) > (1u << 30) ? (1u << 30) : (cap - len));
        int got = gzread(f, buf + len, (unsigned)want);
        if (got < 0) {
            int zerr;
            s = rt_error(RT_ERR_FORMAT, "%s: corrupt or truncated gzip data (%s)", path, gzerror(f, &zerr));
            break;
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    if (!buf) s = rt_error(RT_ERR_NOMEM, "%s: out of memory", path);
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    if (s == RT_OK && zerr != Z_OK && zerr != Z_STREAM_END)
        s = rt_error(RT_ERR_FORMAT, "%s: corrupt or truncated gzip data (%s)", path, zmsg);
    gzclose(f);
    if (s == RT_OK) s = rt_idx_parse(out, buf, len, path);
    free(buf);
    return s;
}
