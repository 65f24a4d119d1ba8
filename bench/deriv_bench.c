/* deriv_bench.c — times the derivative functions bench/deriv.sh adds to a
 * sample, through its generated library: the primal loss, its jvp along
 * the input (jvp(loss, wrt = [x], tangents = [v])) and the
 * forward-over-reverse Hessian-vector product
 * (jvp(grad(loss, wrt = [x]), ...)); ms per call, median of repeats with
 * the three interleaved, and the median per-repeat ratios jvp/primal and
 * hvp/primal.
 *
 *   deriv_bench LIB.so NAME THREADS XN YN YBOUND [REPEATS]
 *
 * NAME is the API prefix; x and v are float[XN], y int32[YN] in 0..YBOUND-1. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_time.h"

typedef int (*create_fn)(void **out, uint64_t seed, int threads);
typedef int (*loss_fn)(void *m, const float *x, const int32_t *y, float *out);
typedef int (*dir_fn)(void *m, const float *x, const int32_t *y, const float *v, float *out);


static void *sym(void *lib, const char *name, const char *what) {
  char s[256];
  snprintf(s, sizeof s, "%s_%s", name, what);
  void *p = dlsym(lib, s);
  if (!p) {
    fprintf(stderr, "deriv_bench: no %s in the library\n", s);
    exit(1);
  }
  return p;
}

/* seconds per call of one batch of k calls */
#define TIME(call, k)                                  \
  ({                                                   \
    double t0 = now();                                 \
    for (int i_ = 0; i_ < (k); i_++) call;             \
    (now() - t0) / (k);                                \
  })

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: deriv_bench LIB.so NAME THREADS XN YN YBOUND [REPEATS]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "deriv_bench: %s\n", dlerror());
    return 1;
  }
  const char *name = argv[2];
  int threads = atoi(argv[3]), reps = argc > 7 ? atoi(argv[7]) : 15;
  long xn = atol(argv[4]), yn = atol(argv[5]), yb = atol(argv[6]), out_n = xn;
  create_fn create = (create_fn)sym(lib, name, "create_threads");
  loss_fn loss = (loss_fn)sym(lib, name, "loss");
  dir_fn tan = (dir_fn)sym(lib, name, "tan"), hvp = (dir_fn)sym(lib, name, "hvp");
  void *m;
  if (create(&m, 1, threads) != 0) return 1;
  float *x = malloc(sizeof(float) * (size_t)xn), *v = malloc(sizeof(float) * (size_t)xn);
  float *out = malloc(sizeof(float) * (size_t)out_n);
  int32_t *y = malloc(sizeof(int32_t) * (size_t)yn);
  srand(7);
  for (long i = 0; i < xn; i++) x[i] = (float)rand() / RAND_MAX, v[i] = (float)rand() / RAND_MAX - 0.5f;
  for (long i = 0; i < yn; i++) y[i] = rand() % yb;
  /* calls per timed batch: about 20 ms of the primal */
  loss(m, x, y, out);
  double one = TIME(loss(m, x, y, out), 3);
  int k = one > 0 ? (int)(0.02 / one) + 1 : 100;
  double *tp = malloc(sizeof(double) * (size_t)reps), *tj = malloc(sizeof(double) * (size_t)reps);
  double *th = malloc(sizeof(double) * (size_t)reps), *rj = malloc(sizeof(double) * (size_t)reps);
  double *rh = malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    tp[r] = TIME(loss(m, x, y, out), k);
    tj[r] = TIME(tan(m, x, y, v, out), k);
    th[r] = TIME(hvp(m, x, y, v, out), k);
    rj[r] = tj[r] / tp[r];
    rh[r] = th[r] / tp[r];
  }
  printf("%s threads=%d: primal %.4f ms, jvp %.4f ms, hvp %.4f ms, jvp/primal %.2f, hvp/primal %.2f\n", name, threads,
         1e3 * median(tp, reps), 1e3 * median(tj, reps), 1e3 * median(th, reps), median(rj, reps), median(rh, reps));
  return 0;
}
