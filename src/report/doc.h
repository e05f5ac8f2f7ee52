/*
 * doc.h - the report as a list of blocks (headings, paragraphs, source
 * lists, tables, plots), rendered once to Markdown and once to HTML, so
 * both files carry the same text and the same numbers.
 *
 *     rt_doc d = {0};
 *     rt_doc_h2(&d, "Models");
 *     rt_doc_sources(&d, paths, n);                 // "Sources: a, b"
 *     rt_doc_table(&d, "lr", "model", "params", NULL);
 *     rt_doc_row(&d, "student", "27,802");           // one string per column
 *     rt_doc_svg(&d, "grad share", svg_text);        // HTML only; Markdown names the plot
 *     rt_sb md = {0}, html = {0};
 *     rt_doc_md(&d, &md);  rt_doc_html(&d, "retort report", &html);
 *     rt_doc_free(&d);
 *
 * Every string is copied. Text is plain: the renderers escape it (strbuf.h);
 * only an SVG block's markup is inserted as it is (svg.c escapes its texts).
 * Out of memory is sticky (`oom`), checked once by the caller.
 */
#ifndef RT_REPORT_DOC_H
#define RT_REPORT_DOC_H

#include "report/strbuf.h"

enum rt_doc_kind { RT_DOC_H2 = 0, RT_DOC_H3, RT_DOC_P, RT_DOC_SOURCES, RT_DOC_LIST, RT_DOC_TABLE, RT_DOC_SVG };

typedef struct rt_doc_block {
    enum rt_doc_kind kind;
    char *text;                 /* heading, paragraph, plot caption */
    char *svg;                  /* RT_DOC_SVG: markup */
    char **items;               /* LIST, SOURCES: n_items; TABLE: (n_rows + 1) x n_cols, header first */
    int n_items, n_cols, n_rows;
    char align[16];             /* TABLE: 'l' or 'r' per column */
} rt_doc_block;

typedef struct rt_doc {
    rt_doc_block *b;
    int n, cap;
    bool oom;
} rt_doc;

void rt_doc_h2(rt_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_doc_h3(rt_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_doc_p(rt_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "Sources: ..." - the files a section was built from. */
void rt_doc_sources(rt_doc *d, const char *const *paths, int n);
/* A bullet; consecutive bullets form one list. */
void rt_doc_item(rt_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start a table: align is one 'l'/'r' a column (at most 16), then the
 * column names, NULL-terminated. */
void rt_doc_table(rt_doc *d, const char *align, ...);
/* One row of the current table: exactly as many strings as columns (NULL: empty). */
void rt_doc_row(rt_doc *d, ...);
/* A plot; the markup is copied. */
void rt_doc_svg(rt_doc *d, const char *caption, const char *svg);

void rt_doc_md(const rt_doc *d, rt_sb *out);
void rt_doc_html(const rt_doc *d, const char *title, rt_sb *out);
void rt_doc_free(rt_doc *d);

#endif
