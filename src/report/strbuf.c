/*
 * strbuf.c - growable text buffer and escapers (see strbuf.h).
 */
#include "report/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(rt_sb *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void rt_sb_putn(rt_sb *b, const char *s, size_t n)
{
    if (!grow(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void rt_sb_puts(rt_sb *b, const char *s) { rt_sb_putn(b, s, strlen(s)); }

void rt_sb_printf(rt_sb *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        rt_sb_putn(b, small, (size_t)n);
        return;
    }
    if (!grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3) {
        unsigned cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0; /* overlong, surrogate */
    } else if (n == 4) {
        unsigned cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12);
        if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    }
    return n;
}

/* Walk s: ASCII through put_ascii, valid multi-byte sequences as they are,
 * anything else as U+FFFD. */
static void escape(rt_sb *b, const char *s, void (*put_ascii)(rt_sb *, char))
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 1) put_ascii(b, (char)*p);
        else if (n > 1) rt_sb_putn(b, (const char *)p, n);
        else rt_sb_puts(b, "\xEF\xBF\xBD");
        p += n ? n : 1;
    }
}

static void xml_char(rt_sb *b, char c)
{
    switch (c) {
    case '&': rt_sb_puts(b, "&amp;"); break;
    case '<': rt_sb_puts(b, "&lt;"); break;
    case '>': rt_sb_puts(b, "&gt;"); break;
    case '"': rt_sb_puts(b, "&quot;"); break;
    case '\'': rt_sb_puts(b, "&#39;"); break;
    default: rt_sb_putn(b, (unsigned char)c < 0x20 || c == 0x7f ? " " : &c, 1);
    }
}

static void md_char(rt_sb *b, char c)
{
    if ((unsigned char)c < 0x20 || c == 0x7f) c = ' ';
    if (strchr("\\`*_[]<>|~&#", c)) rt_sb_putn(b, "\\", 1);
    rt_sb_putn(b, &c, 1);
}

void rt_sb_xml(rt_sb *b, const char *s) { escape(b, s, xml_char); }
void rt_sb_md(rt_sb *b, const char *s) { escape(b, s, md_char); }

char *rt_sb_take(rt_sb *b)
{
    char *s = b->oom ? NULL : b->s;
    if (!s && !b->oom) s = calloc(1, 1);
    if (b->oom) free(b->s);
    *b = (rt_sb){0};
    return s;
}

void rt_sb_free(rt_sb *b)
{
    free(b->s);
    *b = (rt_sb){0};
}

const char *rt_fmt_int(char *buf, size_t n, long long v)
{
    char t[32];
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    int len = snprintf(t, sizeof t, "%llu", u);
    size_t o = 0;
    if (v < 0 && o + 1 < n) buf[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0 && o + 1 < n) buf[o++] = ',';
        if (o + 1 >= n) break;
        buf[o++] = t[i];
    }
    buf[o] = 0;
    return buf;
}

void *rt_grow(void **arr, int *n, size_t sz)
{
    if (*n >= 0x3fffffff) return NULL;
    void *a = realloc(*arr, (size_t)(*n + 1) * sz);
    if (!a) return NULL;
    *arr = a;
    memset((char *)a + (size_t)*n * sz, 0, sz);
    return (char *)a + (size_t)(*n)++ * sz;
}
