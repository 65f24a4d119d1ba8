/* step_bench.c — times a generated library's functions: the training step,
 * the gradient, and the forward pass, in ms per call (median of repeats,
 * the three interleaved), and gradient/forward (median of per-repeat ratios).
 *
 *   step_bench LIB.so NAME THREADS [STEPS]
 *
 * NAME is the API prefix (the model's name). Inputs are random numbers of
 * the shapes the descriptor declares (labels and character ids in range).
 * The gradient is the train block's minimize function's; the forward pass
 * is the function that maps the model's input to its output, taken from the
 * descriptor: predict (classifiers), else generate (character models), else
 * the loss itself. Built with -DSTEP_BENCH_RT and the runtime library, it
 * also prints the instruction set the runtime's kernels use (the same
 * choice the library makes: the CPU's best, capped by NNC_ISA). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_time.h"

#include "rt_model.h"

typedef int (*create_fn)(void **out, uint64_t seed, int threads);
typedef int (*call3)(void *m, void *a, void *b, void *c);
typedef int (*call2)(void *m, void *a, void *b);
/* a function with a run-time batch (dim_bound > 0) takes n after m: timed at n = the bound */
typedef int (*call3n)(void *m, int64_t n, void *a, void *b, void *c);
typedef int (*call2n)(void *m, int64_t n, void *a, void *b);


static void *buffer(const rt_slot *s, int64_t nclasses) {
  int64_t n = 1, bound = s->index_bound > 0 ? s->index_bound : nclasses > 0 ? nclasses : 2;
  for (int i = 0; i < s->rank; i++) n *= s->shape[i];
  if (s->dtype == RT_DT_I32) {
    int32_t *p = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)(rand() % bound);
    return p;
  }
  float *p = malloc(sizeof(float) * (size_t)n + 64);
  for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX;
  return p;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s LIB.so NAME THREADS [STEPS]\n", argv[0]);
    return 2;
  }
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  const char *name = argv[2];
  int threads = atoi(argv[3]), steps = argc > 4 ? atoi(argv[4]) : 100;
  char sym[256];
  snprintf(sym, sizeof sym, "%s_descriptor", name);
  const rt_model_desc *(*descf)(void) = (const rt_model_desc *(*)(void))dlsym(h, sym);
  snprintf(sym, sizeof sym, "%s_create_threads", name);
  create_fn create = (create_fn)dlsym(h, sym);
  if (!descf || !create) {
    fprintf(stderr, "no %s API in %s\n", name, argv[1]);
    return 1;
  }
  const rt_model_desc *d = descf();
  void *m = NULL;
  if (create(&m, 1, threads)) return 1;
  const rt_train_desc *t = d->train;
  const char *fns[3] = {"train_step", NULL, NULL};
  char gname[128], fname[128];
  if (t && t->loss_fn >= 0) {
    snprintf(gname, sizeof gname, "%s_grad", d->funcs[t->loss_fn].name);
    fns[1] = gname;
  }
  int fwd = !t ? -1 : t->predict_fn >= 0 ? t->predict_fn : t->generate_fn >= 0 ? t->generate_fn : t->loss_fn;
  if (fwd >= 0) {
    snprintf(fname, sizeof fname, "%s", d->funcs[fwd].name);
    fns[2] = fname;
  }
  /* The three functions are timed in turn within each repeat (train_step,
   * grad, forward, train_step, ...), so a change in the machine's load hits
   * all of them alike; each gets the median of its repeats, and
   * grad/forward is the median of the per-repeat ratios. */
  double ms[3] = {0, 0, 0};
  const char *only = getenv("STEP_BENCH_ONLY"); /* profile one function: train_step, grad, forward */
  void *fps[3] = {0}, *bufs[3][8];
  int nb[3] = {0};
  int64_t dn[3] = {0};
  for (int k = 0; k < 3; k++) {
    if (!fns[k]) continue;
    if (only && strcmp(only, k == 0 ? "train_step" : k == 1 ? "grad" : "forward")) continue;
    const rt_func_desc *f = NULL;
    for (int i = 0; i < d->nfuncs; i++)
      if (!strcmp(d->funcs[i].name, fns[k])) f = &d->funcs[i];
    if (!f) continue;
    for (int i = 0; i < f->nargs && nb[k] < 8; i++)
      if (f->args[i].role == RT_IN_INPUT) bufs[k][nb[k]++] = buffer(&f->args[i], t ? t->nclasses : 2);
    for (int i = 0; i < f->nres && nb[k] < 8; i++)
      if (f->res[i].role == RT_OUT_OUTPUT || f->res[i].role == RT_OUT_LOSS) bufs[k][nb[k]++] = buffer(&f->res[i], 2);
    snprintf(sym, sizeof sym, "%s_%s", name, f->name);
    fps[k] = dlsym(h, sym);
    dn[k] = f->dim_bound;
    if (k == 0) {
      /* keep the learning rate tiny so many steps stay finite */
      snprintf(sym, sizeof sym, "%s_set_learning_rate", name);
      int (*setlr)(void *, double) = (int (*)(void *, double))dlsym(h, sym);
      if (setlr) setlr(m, 1e-4);
    }
  }
  enum { REPS = 15 };
  double times[3][REPS], ratio[REPS];
  int inner = steps / 10 > 0 ? steps / 10 : 1;
  for (int r = 0; r < REPS + 2; r++)
    for (int k = 0; k < 3; k++) {
      if (!fps[k]) continue;
      double t0 = now();
      for (int s = 0; s < inner; s++) {
        int rc = dn[k] ? (nb[k] == 3 ? ((call3n)fps[k])(m, dn[k], bufs[k][0], bufs[k][1], bufs[k][2])
                                     : ((call2n)fps[k])(m, dn[k], bufs[k][0], bufs[k][1]))
                       : nb[k] == 3 ? ((call3)fps[k])(m, bufs[k][0], bufs[k][1], bufs[k][2])
                                    : ((call2)fps[k])(m, bufs[k][0], bufs[k][1]);
        if (rc) {
          fprintf(stderr, "%s failed: %d\n", fns[k], rc);
          return 1;
        }
      }
      if (r >= 2) times[k][r - 2] = (now() - t0) / inner;
    }
  double gf = 0.0;
  if (fps[1] && fps[2]) {
    for (int r = 0; r < REPS; r++) ratio[r] = times[1][r] / times[2][r];
    qsort(ratio, REPS, sizeof(double), cmp);
    gf = ratio[REPS / 2];
  }
  for (int k = 0; k < 3; k++) {
    if (!fps[k]) continue;
    qsort(times[k], REPS, sizeof(double), cmp);
    ms[k] = times[k][REPS / 2] * 1e3;
    for (int i = 0; i < nb[k]; i++) free(bufs[k][i]);
  }
  printf("%s threads=%d train_step %.3f ms  grad %.3f ms  forward %.3f ms  grad/forward %.2f  forward_fn %s", name,
         threads, ms[0], ms[1], ms[2], gf, fns[2] ? fns[2] : "-");
#ifdef STEP_BENCH_RT
  printf("  isa %s", rt_isa_name(rt_kernels_isa()));
#endif
  printf("\n");
  snprintf(sym, sizeof sym, "%s_destroy", name);
  void (*destroy)(void *) = (void (*)(void *))dlsym(h, sym);
  if (destroy) destroy(m);
  dlclose(h);
  return 0;
}
