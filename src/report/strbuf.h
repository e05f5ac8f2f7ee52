/*
 * strbuf.h - a growable text buffer and the escapers the report writers use
 * (Markdown, HTML/SVG). Out of memory is sticky: every append after a
 * failed allocation is a no-op and `oom` stays set, so a writer appends
 * freely and checks once at the end.
 *
 *     rt_sb b = {0};
 *     rt_sb_printf(&b, "<p>%d runs: ", n);
 *     rt_sb_xml(&b, name_from_a_file);      // & < > " ' escaped, bad UTF-8 replaced
 *     rt_sb_puts(&b, "</p>\n");
 *     if (b.oom) ... out of memory;  use b.s (NUL-terminated), b.len;  rt_sb_free(&b);
 *
 * Text read from files is untrusted: the escapers replace invalid UTF-8
 * and control characters (newlines become spaces) so that one odd byte
 * can neither break a table row nor make the HTML/SVG ill-formed.
 */
#ifndef RT_REPORT_STRBUF_H
#define RT_REPORT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rt_sb {
    char *s;
    size_t len, cap;
    bool oom;
} rt_sb;

void rt_sb_putn(rt_sb *b, const char *s, size_t n);
void rt_sb_puts(rt_sb *b, const char *s);
void rt_sb_printf(rt_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text escaped for HTML and SVG (XML 1.0 character data and attribute values). */
void rt_sb_xml(rt_sb *b, const char *s);
/* Text escaped for a Markdown paragraph or table cell (GFM): backslash
 * before \ ` * _ [ ] < > | ~ & # and line breaks as spaces. */
void rt_sb_md(rt_sb *b, const char *s);
/* Take the text (the caller frees it); b is empty afterwards. NULL after oom. */
char *rt_sb_take(rt_sb *b);
void rt_sb_free(rt_sb *b);

/* Grow the array *arr of *n elements of sz bytes by one zeroed element and
 * return it (*n counts it); NULL when out of memory (*arr unchanged). */
void *rt_grow(void **arr, int *n, size_t sz);

/* 1234567 -> "1,234,567" into buf (n >= 32). */
const char *rt_fmt_int(char *buf, size_t n, long long v);

#endif
