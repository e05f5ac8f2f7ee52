/*
 * doc.c - report blocks and their Markdown and HTML renderings (see doc.h).
 */
#include "report/doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rt_doc_block *add(rt_doc *d, enum rt_doc_kind kind)
{
    if (d->oom) return NULL;
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 32;
        rt_doc_block *b = realloc(d->b, (size_t)cap * sizeof *b);
        if (!b) {
            d->oom = true;
            return NULL;
        }
        d->b = b;
        d->cap = cap;
    }
    rt_doc_block *b = &d->b[d->n++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

static char *vfmt(rt_doc *d, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        d->oom = true;
        return NULL;
    }
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static char *dup(rt_doc *d, const char *s)
{
    char *c = strdup(s ? s : "");
    if (!c) d->oom = true;
    return c;
}

/* Append a string to a block's item list. */
static void push_item(rt_doc *d, rt_doc_block *b, char *s)
{
    if (!s) return;
    char **it = realloc(b->items, (size_t)(b->n_items + 1) * sizeof *it);
    if (!it) {
        free(s);
        d->oom = true;
        return;
    }
    b->items = it;
    b->items[b->n_items++] = s;
}

#define TEXT_BLOCK(fn, kind)                                                                                           \
    void fn(rt_doc *d, const char *fmt, ...)                                                                           \
    {                                                                                                                  \
        rt_doc_block *b = add(d, kind);                                                                                \
        if (!b) return;                                                                                                \
        va_list ap;                                                                                                    \
        va_start(ap, fmt);                                                                                             \
        b->text = vfmt(d, fmt, ap);                                                                                    \
        va_end(ap);                                                                                                    \
    }
TEXT_BLOCK(rt_doc_h2, RT_DOC_H2)
TEXT_BLOCK(rt_doc_h3, RT_DOC_H3)
TEXT_BLOCK(rt_doc_p, RT_DOC_P)

void rt_doc_sources(rt_doc *d, const char *const *paths, int n)
{
    rt_doc_block *b = add(d, RT_DOC_SOURCES);
    for (int i = 0; b && i < n; i++) push_item(d, b, dup(d, paths[i]));
}

void rt_doc_item(rt_doc *d, const char *fmt, ...)
{
    rt_doc_block *b = d->n > 0 && d->b[d->n - 1].kind == RT_DOC_LIST ? &d->b[d->n - 1] : add(d, RT_DOC_LIST);
    if (!b) return;
    va_list ap;
    va_start(ap, fmt);
    push_item(d, b, vfmt(d, fmt, ap));
    va_end(ap);
}

void rt_doc_table(rt_doc *d, const char *align, ...)
{
    rt_doc_block *b = add(d, RT_DOC_TABLE);
    if (!b) return;
    size_t na = strlen(align);
    if (na > sizeof b->align) na = sizeof b->align;
    memcpy(b->align, align, na);
    b->n_cols = (int)na;
    va_list ap;
    va_start(ap, align);
    for (int c = 0; c < b->n_cols; c++) push_item(d, b, dup(d, va_arg(ap, const char *)));
    va_end(ap);
}

void rt_doc_row(rt_doc *d, ...)
{
    if (d->oom || d->n == 0 || d->b[d->n - 1].kind != RT_DOC_TABLE) {
        d->oom = true; /* a row without a table: a programming error, reported as a failure */
        return;
    }
    rt_doc_block *b = &d->b[d->n - 1];
    va_list ap;
    va_start(ap, d);
    for (int c = 0; c < b->n_cols; c++) push_item(d, b, dup(d, va_arg(ap, const char *)));
    va_end(ap);
    b->n_rows++;
}

void rt_doc_svg(rt_doc *d, const char *caption, const char *svg)
{
    rt_doc_block *b = add(d, RT_DOC_SVG);
    if (!b) return;
    b->text = dup(d, caption);
    b->svg = dup(d, svg);
}

void rt_doc_free(rt_doc *d)
{
    for (int i = 0; i < d->n; i++) {
        free(d->b[i].text);
        free(d->b[i].svg);
        for (int k = 0; k < d->b[i].n_items; k++) free(d->b[i].items[k]);
        free(d->b[i].items);
    }
    free(d->b);
    *d = (rt_doc){0};
}

/* ---- Markdown ---- */

static void md_table(const rt_doc_block *b, rt_sb *o)
{
    for (int r = 0; r <= b->n_rows; r++) {
        rt_sb_puts(o, "|");
        for (int c = 0; c < b->n_cols; c++) {
            rt_sb_puts(o, " ");
            rt_sb_md(o, b->items[r * b->n_cols + c]);
            rt_sb_puts(o, " |");
        }
        rt_sb_puts(o, "\n");
        if (r == 0) {
            rt_sb_puts(o, "|");
            for (int c = 0; c < b->n_cols; c++) rt_sb_puts(o, b->align[c] == 'r' ? "---:|" : "---|");
            rt_sb_puts(o, "\n");
        }
    }
    rt_sb_puts(o, "\n");
}

void rt_doc_md(const rt_doc *d, rt_sb *o)
{
    if (d->oom) o->oom = true; /* the blocks may be incomplete */
    if (o->oom) return;
    for (int i = 0; i < d->n; i++) {
        const rt_doc_block *b = &d->b[i];
        switch (b->kind) {
        case RT_DOC_H2:
        case RT_DOC_H3:
            rt_sb_puts(o, b->kind == RT_DOC_H2 ? "## " : "### ");
            rt_sb_md(o, b->text);
            rt_sb_puts(o, "\n\n");
            break;
        case RT_DOC_P:
            rt_sb_md(o, b->text);
            rt_sb_puts(o, "\n\n");
            break;
        case RT_DOC_SOURCES:
            rt_sb_puts(o, "Sources:");
            for (int k = 0; k < b->n_items; k++) {
                rt_sb_puts(o, k ? ", " : " ");
                rt_sb_md(o, b->items[k]);
            }
            rt_sb_puts(o, "\n\n");
            break;
        case RT_DOC_LIST:
            for (int k = 0; k < b->n_items; k++) {
                rt_sb_puts(o, "- ");
                rt_sb_md(o, b->items[k]);
                rt_sb_puts(o, "\n");
            }
            rt_sb_puts(o, "\n");
            break;
        case RT_DOC_TABLE: md_table(b, o); break;
        case RT_DOC_SVG:
            rt_sb_puts(o, "Plot (in report.html): ");
            rt_sb_md(o, b->text);
            rt_sb_puts(o, "\n\n");
            break;
        }
    }
}

/* ---- HTML ---- */

static const char style[] =
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}"
    "table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 7px}th{background:#f2f2f2}td.r,th.r{text-align:right}"
    "p.src{color:#555;font-size:12px}figure{margin:0.5em 0 1.2em}figcaption{color:#555;font-size:12px}"
    "h2{border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:1.8em}";

void rt_doc_html(const rt_doc *d, const char *title, rt_sb *o)
{
    if (d->oom) o->oom = true;
    if (o->oom) return;
    rt_sb_puts(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    rt_sb_xml(o, title);
    rt_sb_printf(o, "</title>\n<style>%s</style>\n</head>\n<body>\n", style);
    for (int i = 0; i < d->n; i++) {
        const rt_doc_block *b = &d->b[i];
        switch (b->kind) {
        case RT_DOC_H2:
        case RT_DOC_H3:
            rt_sb_puts(o, b->kind == RT_DOC_H2 ? "<h2>" : "<h3>");
            rt_sb_xml(o, b->text);
            rt_sb_puts(o, b->kind == RT_DOC_H2 ? "</h2>\n" : "</h3>\n");
            break;
        case RT_DOC_P:
            rt_sb_puts(o, "<p>");
            rt_sb_xml(o, b->text);
            rt_sb_puts(o, "</p>\n");
            break;
        case RT_DOC_SOURCES:
            rt_sb_puts(o, "<p class=\"src\">Sources:");
            for (int k = 0; k < b->n_items; k++) {
                rt_sb_puts(o, k ? ", <code>" : " <code>");
                rt_sb_xml(o, b->items[k]);
                rt_sb_puts(o, "</code>");
            }
            rt_sb_puts(o, "</p>\n");
            break;
        case RT_DOC_LIST:
            rt_sb_puts(o, "<ul>\n");
            for (int k = 0; k < b->n_items; k++) {
                rt_sb_puts(o, "<li>");
                rt_sb_xml(o, b->items[k]);
                rt_sb_puts(o, "</li>\n");
            }
            rt_sb_puts(o, "</ul>\n");
            break;
        case RT_DOC_TABLE:
            rt_sb_puts(o, "<table>\n");
            for (int r = 0; r <= b->n_rows; r++) {
                rt_sb_puts(o, "<tr>");
                for (int c = 0; c < b->n_cols; c++) {
                    rt_sb_printf(o, "<%s%s>", r ? "td" : "th", b->align[c] == 'r' ? " class=\"r\"" : "");
                    rt_sb_xml(o, b->items[r * b->n_cols + c]);
                    rt_sb_printf(o, "</%s>", r ? "td" : "th");
                }
                rt_sb_puts(o, "</tr>\n");
            }
            rt_sb_puts(o, "</table>\n");
            break;
        case RT_DOC_SVG:
            rt_sb_puts(o, "<figure>\n");
            rt_sb_puts(o, b->svg);
            rt_sb_puts(o, "<figcaption>");
            rt_sb_xml(o, b->text);
            rt_sb_puts(o, "</figcaption>\n</figure>\n");
            break;
        }
    }
    rt_sb_puts(o, "</body>\n</html>\n");
}
