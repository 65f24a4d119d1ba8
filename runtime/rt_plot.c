/* rt_plot.c — SVG line charts; see rt_plot.h.
 *
 * The chart is built as text in a growing buffer: a white background, the
 * plot frame, for each axis its grid lines, ticks and labels, then each
 * series as one <polyline> (clipped to the frame), the legend in a row
 * above the frame, and the title. Coordinates are printed with one decimal. */
#include "rt_plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt_io.h"

enum { WIDTH = 800, HEIGHT = 500, LEFT = 78, TOP = 64, BOTTOM = 58 };

/* A growing string; `failed` once an allocation failed. */
typedef struct Buf {
  char *s;
  size_t len, cap;
  bool failed;
} Buf;

static void put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Buf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = true;
      return;
    }
    if (b->s && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    char *ns = rt_grow(b->s, &b->cap, b->len + (size_t)n + 1, 1);
    if (!ns) {
      b->failed = true;
      return;
    }
    b->s = ns;
  }
}

/* Text content or an attribute value, with XML's special characters escaped. */
static void put_text(Buf *b, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&': put(b, "&amp;"); break;
    case '<': put(b, "&lt;"); break;
    case '>': put(b, "&gt;"); break;
    case '"': put(b, "&quot;"); break;
    case '\'': put(b, "&apos;"); break;
    default:
      if ((unsigned char)*s >= 0x20 || *s == '\n') put(b, "%c", *s);
    }
  }
}

void rt_plot_ticks(double lo, double hi, int target, double *first, double *last, double *step) {
  if (!(hi > lo)) {
    double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / (target > 0 ? target : 5);
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag, s = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  *step = s * mag;
  *first = floor(lo / *step + 1e-9) * *step;
  *last = ceil(hi / *step - 1e-9) * *step;
}

/* Decimals that print multiples of `step` exactly enough. */
static int decimals(double step) {
  int d = (int)-floor(log10(step) + 1e-9);
  return d < 0 ? 0 : d > 8 ? 8 : d;
}

typedef struct Axis {
  double lo, hi, step;
} Axis;

/* The range of the x (which = 0) or y values of the series on one side. */
static bool data_range(const rt_plot *p, int which, int right, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int k = 0; k < p->nseries; k++) {
    const rt_plot_series *s = &p->series[k];
    if (right >= 0 && s->right_axis != (right == 1)) continue;
    for (int i = 0; i < s->n; i++) {
      double x = s->x[i], y = s->y[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      double v = which ? y : x;
      if (v < *lo) *lo = v;
      if (v > *hi) *hi = v;
    }
  }
  return *lo <= *hi;
}

static Axis make_axis(double lo, double hi, int target) {
  Axis a;
  rt_plot_ticks(lo, hi, target, &a.lo, &a.hi, &a.step);
  return a;
}

static double map(const Axis *a, double v, double p0, double p1) { return p0 + (v - a->lo) / (a->hi - a->lo) * (p1 - p0); }

static void y_axis(Buf *b, const Axis *a, double x0, double x1, double y0, double y1, bool right, bool grid) {
  int dec = decimals(a->step);
  int n = (int)floor((a->hi - a->lo) / a->step + 0.5);
  for (int i = 0; i <= n && i <= 100; i++) {
    double v = a->lo + i * a->step, y = map(a, v, y0, y1);
    if (grid) put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", x0, y, x1, y);
    double xt = right ? x1 : x0;
    put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", xt, y, right ? xt + 5 : xt - 5, y);
    put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" dominant-baseline=\"middle\">%.*f</text>\n",
        right ? xt + 8 : xt - 8, y, right ? "start" : "end", dec, v);
  }
}

static void x_axis(Buf *b, const Axis *a, double x0, double x1, double y0, double y1) {
  int dec = decimals(a->step);
  int n = (int)floor((a->hi - a->lo) / a->step + 0.5);
  for (int i = 0; i <= n && i <= 100; i++) {
    double v = a->lo + i * a->step, x = map(a, v, x0, x1);
    put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", x, y1, x, y0);
    put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x, y0, x, y0 + 5);
    put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", x, y0 + 20, dec, v);
  }
}

static void series(Buf *b, const rt_plot_series *s, const Axis *ax, const Axis *ay, double x0, double x1, double y0,
                   double y1) {
  put(b, "<polyline fill=\"none\" stroke=\"");
  put_text(b, s->color);
  put(b, "\" stroke-width=\"2\"%s clip-path=\"url(#frame)\" points=\"", s->dashed ? " stroke-dasharray=\"6 4\"" : "");
  for (int i = 0; i < s->n; i++) {
    if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
    put(b, "%.1f,%.1f ", map(ax, s->x[i], x0, x1), map(ay, s->y[i], y0, y1));
  }
  put(b, "\"/>\n");
  for (int i = 0; s->markers && i < s->n; i++) {
    if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
    put(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"", map(ax, s->x[i], x0, x1), map(ay, s->y[i], y0, y1));
    put_text(b, s->color);
    put(b, "\"/>\n");
  }
}

/* The legend: one row of [line] label entries, centred above the frame,
 * so it never hides a curve. */
static void legend(Buf *b, const rt_plot *p, double x0, double x1, double y) {
  double total = 0;
  for (int k = 0; k < p->nseries; k++)
    if (p->series[k].label) total += 36 + 6.6 * (double)strlen(p->series[k].label) + 18;
  if (total <= 0) return;
  double x = (x0 + x1) / 2 - total / 2;
  if (x < 8) x = 8;
  for (int k = 0; k < p->nseries; k++) {
    const rt_plot_series *s = &p->series[k];
    if (!s->label) continue;
    put(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"", x, y, x + 28, y);
    put_text(b, s->color);
    put(b, "\" stroke-width=\"2\"%s/>\n", s->dashed ? " stroke-dasharray=\"6 4\"" : "");
    if (s->markers) {
      put(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"", x + 14, y);
      put_text(b, s->color);
      put(b, "\"/>\n");
    }
    put(b, "<text x=\"%.1f\" y=\"%.1f\" dominant-baseline=\"middle\">", x + 34, y);
    put_text(b, s->label);
    put(b, "</text>\n");
    x += 36 + 6.6 * (double)strlen(s->label) + 18;
  }
}

char *rt_plot_svg(const rt_plot *p, size_t *len) {
  Buf b = {0};
  bool has_right = false;
  for (int k = 0; k < p->nseries; k++) has_right |= p->series[k].right_axis;
  double right_margin = has_right ? 78 : 30;
  double x0 = LEFT, x1 = WIDTH - right_margin, y0 = HEIGHT - BOTTOM, y1 = TOP;
  double lo, hi;
  if (!data_range(p, 0, -1, &lo, &hi)) lo = 0, hi = 1;
  Axis ax = make_axis(lo, hi, 8);
  if (!data_range(p, 1, 0, &lo, &hi)) lo = 0, hi = 1;
  Axis ay = make_axis(lo, hi, 6);
  Axis ay2 = ay;
  if (has_right) {
    if (p->y2min < p->y2max) lo = p->y2min, hi = p->y2max;
    else if (!data_range(p, 1, 1, &lo, &hi)) lo = 0, hi = 1;
    ay2 = make_axis(lo, hi, 6);
  }
  put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  put(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"sans-serif\" font-size=\"12\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT);
  put(&b, "<title>");
  put_text(&b, p->title);
  put(&b, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  put(&b, "<defs><clipPath id=\"frame\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>\n",
      x0, y1, x1 - x0, y0 - y1);
  x_axis(&b, &ax, x0, x1, y0, y1);
  y_axis(&b, &ay, x0, x1, y0, y1, false, true);
  if (has_right) y_axis(&b, &ay2, x0, x1, y0, y1, true, false);
  put(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", x0, y1,
      x1 - x0, y0 - y1);
  for (int k = 0; k < p->nseries; k++)
    series(&b, &p->series[k], &ax, p->series[k].right_axis ? &ay2 : &ay, x0, x1, y0, y1);
  legend(&b, p, x0, x1, TOP - 20);
  put(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"16\">", (x0 + x1) / 2, TOP - 40);
  put_text(&b, p->title);
  put(&b, "</text>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">", (x0 + x1) / 2, HEIGHT - 14);
  put_text(&b, p->xlabel);
  put(&b, "</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">",
      (y0 + y1) / 2);
  put_text(&b, p->ylabel);
  put(&b, "</text>\n");
  if (has_right) {
    put(&b, "<text transform=\"translate(%d %.1f) rotate(90)\" text-anchor=\"middle\" font-size=\"13\">", WIDTH - 18,
        (y0 + y1) / 2);
    put_text(&b, p->y2label);
    put(&b, "</text>\n");
  }
  put(&b, "</svg>\n");
  if (b.failed) {
    rt_free(b.s);
    return NULL;
  }
  *len = b.len;
  return b.s;
}

nn_status rt_plot_write(const char *path, const rt_plot *p) {
  size_t n;
  char *s = rt_plot_svg(p, &n);
  if (!s) return NN_ERR_NOMEM;
  rt_atomic_file af;
  nn_status st = rt_atomic_begin(&af, path);
  if (!st) st = rt_atomic_write(&af, s, n);
  if (!st) st = rt_atomic_commit(&af);
  rt_free(s);
  return st;
}
