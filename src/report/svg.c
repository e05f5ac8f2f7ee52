/*
 * svg.c - line/scatter plots as inline SVG (see svg.h).
 *
 * Layout (pixels): the plot area spans [L, W - R] x [T, H - B]; the title
 * sits above it, the x label below the tick labels, the y label rotated on
 * the left; the legend, one entry a line, below the whole plot.
 */
#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define L 72.0
#define R 20.0
#define T 30.0
#define B 46.0
#define LEGEND_LINE 16

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
#define N_COLORS (int)(sizeof palette / sizeof palette[0])

typedef struct axis {
    bool log;
    double lo, hi;        /* in axis units (log10 of the value on a log axis) */
    double step;          /* tick step in axis units (linear) */
} axis;

static bool usable(const rt_svg_plot *p, double x, double y)
{
    return isfinite(x) && isfinite(y) && (!p->logx || x > 0);
}

static void nice_linear(axis *a, double lo, double hi, bool whole)
{
    if (!(hi > lo)) {
        double d = lo != 0 ? fabs(lo) * 0.1 : 1;
        lo -= d;
        hi += d;
    }
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), norm = raw / mag;
    a->step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    if (whole && a->step < 1) a->step = 1;
    a->lo = floor(lo / a->step) * a->step;
    a->hi = ceil(hi / a->step) * a->step;
    if (!(a->hi > a->lo)) a->hi = a->lo + a->step;
}

static void nice_log(axis *a, double lo, double hi)
{
    a->log = true;
    a->lo = floor(log10(lo));
    a->hi = ceil(log10(hi));
    if (!(a->hi > a->lo)) a->hi = a->lo + 1;
    a->step = 1;
}

static double to_px(const axis *a, double v, double p0, double p1)
{
    double u = a->log ? log10(v) : v;
    return p0 + (u - a->lo) / (a->hi - a->lo) * (p1 - p0);
}

/* A tick label: decimals from the step; SI suffixes on a log axis. */
static void tick_label(char *buf, size_t n, double v, double step, bool log, bool pct)
{
    if (log) {
        static const char *suf[] = {"", "k", "M", "G", "T"};
        int k = 0;
        while (fabs(v) >= 1000 && k < 4) {
            v /= 1000;
            k++;
        }
        snprintf(buf, n, "%g%s", v, suf[k]);
        return;
    }
    if (pct) {
        v *= 100;
        step *= 100;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 9) dec = 9;
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0" */
    snprintf(buf, n, "%.*f%s", dec, v, pct ? "%" : "");
}

static void text(rt_sb *o, double x, double y, const char *anchor, const char *extra, const char *s)
{
    rt_sb_printf(o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor, extra);
    rt_sb_xml(o, s);
    rt_sb_puts(o, "</text>\n");
}

static void draw_axes(rt_sb *o, const rt_svg_plot *p, const axis *ax, const axis *ay, double W, double H)
{
    char lab[48];
    rt_sb_printf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", L,
                 T, W - R - L, H - B - T);
    /* x ticks */
    if (ax->log) {
        bool minor = ax->hi - ax->lo <= 2;
        for (double e = ax->lo; e <= ax->hi + 1e-9; e += 1)
            for (int m = 1; m <= (minor ? 5 : 1); m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e), px = to_px(ax, v, L, W - R);
                if (px > W - R + 0.01) break;
                rt_sb_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px, T, px,
                             H - B);
                tick_label(lab, sizeof lab, v, 1, true, false);
                text(o, px, H - B + 14, "middle", "", lab);
            }
    } else {
        for (double v = ax->lo; v <= ax->hi + ax->step * 1e-6; v += ax->step) {
            double px = to_px(ax, v, L, W - R);
            rt_sb_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px, T, px,
                         H - B);
            tick_label(lab, sizeof lab, v, ax->step, false, false);
            text(o, px, H - B + 14, "middle", "", lab);
        }
    }
    for (double v = ay->lo; v <= ay->hi + ay->step * 1e-6; v += ay->step) {
        double py = to_px(ay, v, H - B, T);
        rt_sb_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, W - R, py);
        tick_label(lab, sizeof lab, v, ay->step, false, p->ypct);
        text(o, L - 6, py + 4, "end", "", lab);
    }
    if (p->title) text(o, W / 2, 18, "middle", " font-weight=\"bold\"", p->title);
    if (p->xlabel) text(o, (L + W - R) / 2, H - 10, "middle", "", p->xlabel);
    if (p->ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, " transform=\"rotate(-90 14 %.1f)\"", (T + H - B) / 2);
        text(o, 14, (T + H - B) / 2, "middle", tr, p->ylabel);
    }
}

static void draw_series(rt_sb *o, const rt_svg_plot *p, const rt_svg_series *s, const char *color, const axis *ax,
                        const axis *ay, double W, double H)
{
    int style = s->style ? s->style : RT_SVG_LINE | RT_SVG_POINTS;
    if (style & RT_SVG_LINE) {
        bool open = false;
        for (int i = 0; i < s->n; i++) {
            if (!usable(p, s->x[i], s->y[i])) {
                if (open) rt_sb_puts(o, "\"/>\n");
                open = false;
                continue;
            }
            if (!open)
                rt_sb_printf(o, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", color);
            rt_sb_printf(o, "%s%.1f,%.1f", open ? " " : "", to_px(ax, s->x[i], L, W - R),
                         to_px(ay, s->y[i], H - B, T));
            open = true;
        }
        if (open) rt_sb_puts(o, "\"/>\n");
    }
    for (int i = 0; i < s->n; i++) {
        bool marked = s->mark && s->mark[i];
        if (!usable(p, s->x[i], s->y[i]) || (!(style & RT_SVG_POINTS) && !marked)) continue;
        double px = to_px(ax, s->x[i], L, W - R), py = to_px(ay, s->y[i], H - B, T);
        rt_sb_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\" stroke=\"%s\" stroke-width=\"1.4\">",
                     px, py, marked ? "4.5" : "3", marked ? color : "#fff", color);
        if (s->labels && s->labels[i]) {
            rt_sb_puts(o, "<title>");
            rt_sb_xml(o, s->labels[i]);
            rt_sb_puts(o, "</title>");
        }
        rt_sb_puts(o, "</circle>\n");
        const char *t = s->texts ? s->texts[i] : s->labels ? s->labels[i] : NULL;
        bool right = px > (L + W - R) / 2; /* text on the side with room */
        if (marked && t) text(o, right ? px - 6 : px + 6, py - 6, right ? "end" : "start", " font-size=\"10\"", t);
    }
}

void rt_svg_render(rt_sb *o, const rt_svg_plot *p)
{
    double W = p->width > 0 ? p->width : 560, H = p->height > 0 ? p->height : 300;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int n_named = 0;
    for (int k = 0; k < p->n_series; k++) {
        const rt_svg_series *s = &p->series[k];
        n_named += s->name != NULL;
        for (int i = 0; i < s->n; i++) {
            if (!usable(p, s->x[i], s->y[i])) continue;
            xmin = fmin(xmin, s->x[i]);
            xmax = fmax(xmax, s->x[i]);
            ymin = fmin(ymin, s->y[i]);
            ymax = fmax(ymax, s->y[i]);
        }
    }
    bool empty = !(xmin <= xmax);
    axis ax = {0}, ay = {0};
    if (empty) {
        if (p->logx) nice_log(&ax, 1, 10);
        else nice_linear(&ax, 0, 1, p->xint);
        nice_linear(&ay, 0, 1, false);
    } else {
        if (p->logx) nice_log(&ax, xmin, xmax);
        else nice_linear(&ax, xmin, xmax, p->xint);
        nice_linear(&ay, ymin, ymax, false);
    }
    double total_h = H + (n_named ? LEGEND_LINE * n_named + 6 : 0);
    rt_sb_printf(o,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                 "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n",
                 W, total_h, W, total_h);
    if (p->title) {
        rt_sb_puts(o, "<title>");
        rt_sb_xml(o, p->title);
        rt_sb_puts(o, "</title>\n");
    }
    draw_axes(o, p, &ax, &ay, W, H);
    if (empty) text(o, (L + W - R) / 2, (T + H - B) / 2, "middle", " fill=\"#888\"", "no data");
    int line = 0;
    for (int k = 0; k < p->n_series; k++) {
        const rt_svg_series *s = &p->series[k];
        const char *color = palette[k % N_COLORS];
        draw_series(o, p, s, color, &ax, &ay, W, H);
        if (!s->name) continue;
        double ly = H + LEGEND_LINE * line++ + 10;
        rt_sb_printf(o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n", L,
                     ly, L + 18, ly, color);
        text(o, L + 24, ly + 4, "start", "", s->name);
    }
    rt_sb_puts(o, "</svg>\n");
}
