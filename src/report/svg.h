/*
 * svg.h - a small line/scatter plotter that writes one self-contained SVG
 * element (axes, ticks, labels, a legend; linear or log-10 x axis) for the
 * report's HTML. No scripts, no external fonts or styles.
 *
 *     double x[] = {1, 2, 3}, y[] = {0.81, 0.86, 0.88};
 *     rt_svg_series s = {.name = "val accuracy", .x = x, .y = y, .n = 3, .style = RT_SVG_LINE | RT_SVG_POINTS};
 *     rt_svg_plot p = {.title = "fmnist-teacher", .xlabel = "epoch", .ylabel = "accuracy",
 *                      .ypct = true, .series = &s, .n_series = 1};
 *     rt_sb out = {0};
 *     rt_svg_render(&out, &p);              // "<svg ...>...</svg>\n"
 *
 * Contract: every text (title, labels, series and point names) is escaped;
 * a point with a non-finite coordinate, or x <= 0 on a log axis, is left
 * out (a line breaks there), so no coordinate in the output is NaN or Inf.
 * Axis ranges come from the points drawn, extended to whole tick steps
 * (1, 2 or 5 x 10^k; decades on a log axis); a single value gets a range
 * around it, and a plot with nothing to draw says "no data".
 */
#ifndef RT_REPORT_SVG_H
#define RT_REPORT_SVG_H

#include "report/strbuf.h"

#include <stdbool.h>

enum { RT_SVG_LINE = 1, RT_SVG_POINTS = 2 };

typedef struct rt_svg_series {
    const char *name;               /* legend entry */
    const double *x, *y;            /* n points */
    int n;
    int style;                      /* RT_SVG_LINE and/or RT_SVG_POINTS (0: both) */
    const bool *mark;               /* optional (n): drawn filled and larger, with its label as text */
    const char *const *labels;      /* optional (n): each point's tooltip */
    const char *const *texts;       /* optional (n): text next to marked points (default: labels) */
} rt_svg_series;

typedef struct rt_svg_plot {
    const char *title, *xlabel, *ylabel;
    bool logx;                      /* log-10 x axis */
    bool ypct;                      /* y values are fractions: tick labels in percent */
    bool xint;                      /* x values are counts (epochs): whole-number ticks only */
    int width, height;              /* of the plot without its legend; 0: 560 x 300 */
    const rt_svg_series *series;
    int n_series;
} rt_svg_plot;

void rt_svg_render(rt_sb *out, const rt_svg_plot *p);

#endif
