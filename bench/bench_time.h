/* bench_time.h — the clock and the median the bench programs share
 * (step_bench.c, dyn_bench.c, deriv_bench.c; each is one standalone file
 * next to this header). */
#ifndef NNC_BENCH_TIME_H
#define NNC_BENCH_TIME_H
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall-clock time, or with NNC_BENCH_CLOCK=cpu (as bench/kernels.sh) the
 * process's CPU time, summed over its threads: on a loaded machine a
 * 1-thread run then counts only the time it ran, for A/B comparisons. */
static inline double now(void) {
  static clockid_t which = (clockid_t)-1;
  if (which == (clockid_t)-1) {
    const char *e = getenv("NNC_BENCH_CLOCK");
    which = e && !strcmp(e, "cpu") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
  }
  struct timespec t;
  clock_gettime(which, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v). */
static inline double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

#endif
