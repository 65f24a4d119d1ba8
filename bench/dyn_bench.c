/* dyn_bench.c — a run-time batch against the static build: the same model
 * compiled with `const B = 128` (STATIC.so, prefix fms) and `dim B <= 128`
 * (DYN.so, prefix fmd). Times, interleaved in each repeat: the training
 * step of both at n = 128, and the forward pass of the dynamic one at n = 1
 * (one image); medians over the repeats, and the median of the per-repeat
 * ratios dynamic/static.
 *
 *   dyn_bench STATIC.so DYN.so THREADS [REPEATS] */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_time.h"

enum { B = 128, IN = 784, OUT = 10 };


static void *sym(void *h, const char *name) {
  void *p = dlsym(h, name);
  if (!p) {
    fprintf(stderr, "dyn_bench: no %s\n", name);
    exit(2);
  }
  return p;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s STATIC.so DYN.so THREADS [REPEATS]\n", argv[0]);
    return 2;
  }
  void *hs = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL), *hd = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  if (!hs || !hd) {
    fprintf(stderr, "dyn_bench: %s\n", dlerror());
    return 2;
  }
  int threads = atoi(argv[3]), reps = argc > 4 ? atoi(argv[4]) : 200;
  int (*cs)(void **, uint64_t, int) = sym(hs, "fms_create_threads"), (*cd)(void **, uint64_t, int) = sym(hd, "fmd_create_threads");
  int (*ts)(void *, const float *, const int32_t *, float *) = sym(hs, "fms_train_step");
  int (*td)(void *, int64_t, const float *, const int32_t *, float *) = sym(hd, "fmd_train_step");
  int (*fd)(void *, int64_t, const float *, float *) = sym(hd, "fmd_forward");
  int (*fs)(void *, const float *, float *) = sym(hs, "fms_forward");
  void *ms, *md;
  if (cs(&ms, 1, threads) || cd(&md, 1, threads)) return 2;
  float *x = malloc(sizeof(float) * B * IN), out[B * OUT], loss;
  int32_t y[B];
  uint64_t s = 1;
  for (int i = 0; i < B * IN; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((s >> 40) & 0xffff) / 65536.0f;
  }
  for (int i = 0; i < B; i++) y[i] = i % OUT;
  double *tst = malloc(sizeof(double) * (size_t)reps * 6), *tdy = tst + reps, *ratio = tdy + reps, *f1 = ratio + reps,
         *fst = f1 + reps, *fdy = fst + reps;
  for (int w = 0; w < 10; w++) ts(ms, x, y, &loss), td(md, B, x, y, &loss), fd(md, 1, x, out);
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    ts(ms, x, y, &loss);
    double t1 = now();
    td(md, B, x, y, &loss);
    double t2 = now();
    for (int k = 0; k < 100; k++) fd(md, 1, x, out);
    double t3 = now();
    fs(ms, x, out);
    double t4 = now();
    fd(md, B, x, out);
    double t5 = now();
    tst[r] = t1 - t0, tdy[r] = t2 - t1, ratio[r] = tdy[r] / tst[r], f1[r] = (t3 - t2) / 100;
    fst[r] = t4 - t3, fdy[r] = t5 - t4;
  }
  double mf = median(fst, reps), mfd = median(fdy, reps);
  printf("threads=%d train_step n=128: static %.3f ms  dynamic %.3f ms  dynamic/static %.3f (median of per-repeat ratios)\n",
         threads, median(tst, reps) * 1e3, median(tdy, reps) * 1e3, median(ratio, reps));
  printf("threads=%d forward n=128: static %.3f ms  dynamic %.3f ms  ratio %.3f;  forward n=1: %.1f us (target <= 20)\n",
         threads, mf * 1e3, mfd * 1e3, mfd / mf, median(f1, reps) * 1e6);
  return 0;
}
