/* rt_plot.h — a line chart as a standalone SVG file (rt_plot.c): the
 * training program's loss and accuracy curves, to open in a browser.
 *
 * Lines on a left axis and optionally a right axis (accuracy), each axis
 * with "nice" ticks (1, 2 or 5 times a power of ten), grid lines, axis
 * labels, a title and a legend. Non-finite points are skipped. The file is
 * written atomically (rt_atomic_*), like every file the runtime writes. */
#ifndef NN_RT_PLOT_H
#define NN_RT_PLOT_H

#include "rt_core.h"

typedef struct rt_plot_series {
  const char *label;    /* legend text */
  const char *color;    /* an SVG colour: "#1f77b4" */
  const double *x, *y;  /* n points */
  int n;
  bool right_axis;      /* plotted against the right axis */
  bool dashed;          /* a dashed line */
  bool markers;         /* a dot at each point (for sparse series) */
} rt_plot_series;

typedef struct rt_plot {
  const char *title;
  const char *xlabel, *ylabel;
  const char *y2label;  /* the right axis's label; NULL: no series uses it */
  double y2min, y2max;  /* the right axis's range when y2min < y2max, else from the data */
  const rt_plot_series *series;
  int nseries;
} rt_plot;

/* Ticks for [lo, hi]: a step of 1, 2 or 5 times a power of ten giving
 * about `target` intervals; *first and *last are the multiples of the step
 * that enclose [lo, hi]. */
void rt_plot_ticks(double lo, double hi, int target, double *first, double *last, double *step);
/* The SVG text of a plot (rt_alloc'd, NUL-terminated; *len its length),
 * or NULL when memory runs out. */
char *rt_plot_svg(const rt_plot *p, size_t *len);
/* Renders and writes atomically. */
nn_status rt_plot_write(const char *path, const rt_plot *p);

#endif
