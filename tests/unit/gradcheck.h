/* gradcheck.h — shared helpers of the gradient and interpreter tests:
 * parse IR text or compile a .nn file, make random inputs, run functions
 * in the interpreter, and compare AD gradients with central finite
 * differences in f64. Header-only so each test program stays one file. */
#ifndef NNC_TEST_GRADCHECK_H
#define NNC_TEST_GRADCHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "driver.h"
#include "grad.h"
#include "interp.h"
#include "ir.h"
#include "irgen.h"
#include "passes.h"
#include "pipeline.h"

/* A tiny deterministic generator for test data. */
static inline double gc_rand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) * (1.0 / 9007199254740992.0);
}

static inline Module *gc_parse_ir(Arena *a, const char *text) {
  Diag d;
  diag_init(&d, "<test>", text, strlen(text), stderr, COLOR_NEVER);
  Module *m = ir_parse(a, &d, text, strlen(text));
  diag_free(&d);
  return m;
}

/* The front end on `path` with `-D` defines, as `nnc check` runs it (at
 * most 20 errors, no colour): driver_front's status; the diagnostics are
 * in *d (the caller's to free), the source text in *src (the caller's to
 * free, after the arena), the checked program in *p. */
static inline int gc_front(Arena *a, const char *path, const Define *defs, int ndefs, Diag *d, char **src,
                           Program **p) {
  Options o;
  memset(&o, 0, sizeof o);
  o.input = path;
  o.max_errors = 20;
  o.color = COLOR_NEVER;
  for (int i = 0; i < ndefs; i++) o.defs[i] = defs[i];
  o.ndefs = ndefs;
  *src = NULL;
  *p = NULL;
  return driver_front(&o, a, a, d, src, p);
}

/* Compile a .nn file (path relative to the source tree) through the
 * middle of the compiler (irgen, passes, AD, train_step), verifying the IR
 * after every pass. NULL if the front end reports errors. */
static inline Compiled *gc_compiled_budget(Arena *a, const char *rel, const Define *defs, int ndefs, size_t max_tape);
static inline Compiled *gc_compiled(Arena *a, const char *rel, const Define *defs, int ndefs) {
  return gc_compiled_budget(a, rel, defs, ndefs, 0);
}
/* The same with --max-tape-bytes=max_tape (0: none). */
static inline Compiled *gc_compiled_budget(Arena *a, const char *rel, const Define *defs, int ndefs, size_t max_tape) {
  static char path[1024];
  snprintf(path, sizeof path, rel[0] == '/' ? "%.0s%s" : "%s/%s", NNC_SOURCE_DIR, rel); /* or an absolute path */
  Diag d;
  char *src;
  Program *p;
  Compiled *c = NULL;
  if (gc_front(a, path, defs, ndefs, &d, &src, &p) == 0) {
    CompileOpts co = {.verify = true, .max_tape_bytes = max_tape};
    c = compile_module(a, &d, p, path, &co);
  }
  diag_free(&d);
  free(src); /* the tree holds copies of every string it needs */
  return c;
}

/* Random inputs for f: floats uniform in [-1, 1] unless `range` says
 * otherwise for an argument name ("name=lo:hi", "name=+-lo:hi" for a
 * random sign, i32 "name=lo:hi" integers in [lo, hi)). */
/* With a run-time dimension the inputs have n rows (0: its bound) and
 * the size argument holds n. */
static inline void gc_inputs_n(const Func *f, ITensor *args, const char *ranges, uint64_t seed, int64_t dn) {
  uint64_t s = seed;
  const Value *dv = ir_dim_arg(f);
  for (int i = 0; dv && !dn && i < f->body->nargs; i++) dn = type_dyn_bound(&f->body->args[i]->ty);
  for (int i = 0; i < f->body->nargs; i++) {
    const Value *v = f->body->args[i];
    Type ct = type_concrete(&v->ty, dn);
    args[i] = itensor_new(&ct);
    if (v == dv) {
      args[i].d[0] = (double)dn;
      continue;
    }
    double lo = -1, hi = 1;
    bool pm = false;
    if (v->ty.dtype == TY_I32) lo = 0, hi = 3;
    if (v->ty.dtype == TY_BOOL) lo = 0, hi = 2;
    if (ranges && v->name) {
      char key[80];
      snprintf(key, sizeof key, "%s=", v->name);
      const char *p = ranges;
      while ((p = strstr(p, key))) {
        if (p == ranges || p[-1] == ' ' || p[-1] == ',') break;
        p++;
      }
      if (p) {
        p += strlen(key);
        if (p[0] == '+' && p[1] == '-') pm = true, p += 2;
        lo = strtod(p, (char **)&p);
        if (*p == ':') hi = strtod(p + 1, NULL);
      }
    }
    int64_t n = type_numel(&ct);
    for (int64_t k = 0; k < n; k++) {
      double u = gc_rand(&s);
      double x = lo + (hi - lo) * u;
      if (v->ty.dtype == TY_I32 || v->ty.dtype == TY_BOOL) x = floor(x);
      if (pm && gc_rand(&s) < 0.5) x = -x;
      args[i].d[k] = x;
    }
  }
}

static inline void gc_inputs(const Func *f, ITensor *args, const char *ranges, uint64_t seed) {
  gc_inputs_n(f, args, ranges, seed, 0);
}

static inline void gc_free_all(ITensor *t, int n) {
  for (int i = 0; i < n; i++) itensor_free(&t[i]);
}

static inline double gc_eval(const Func *f, ITensor *args, InterpMode mode) {
  ITensor r[64];
  char err[256];
  if (!interp_run(f, args, f->body->nargs, r, mode, err, sizeof err)) {
    fprintf(stderr, "interp: %s\n", err);
    return NAN;
  }
  double v = r[0].d[0];
  gc_free_all(r, f->nret);
  return v;
}

/* Norm-wise relative error of the AD gradient (of `grad`, results 1..) of
 * f against central differences, over every element (or up to `maxel`
 * elements per tensor, spread evenly) of every differentiated argument.
 * Returns the worst error over the arguments; prints details when it is
 * above tol. */
static inline double gc_check(const Func *f, const Func *grad, ITensor *args, double tol, int maxel,
                              const char *what) {
  ITensor r[256];
  char err[256];
  if (!interp_run(grad, args, grad->body->nargs, r, INTERP_F64, err, sizeof err)) {
    fprintf(stderr, "%s: interp: %s\n", what, err);
    return INFINITY;
  }
  double worst = 0;
  for (int k = 1; k < grad->nret; k++) {
    Role ro = grad->ret_role[k];
    int ai = -1;
    for (int i = 0; i < f->body->nargs; i++)
      if ((ro.kind == RES_GRAD && f->arg_role[i].kind == ARG_PARAM && f->arg_role[i].index == ro.index) ||
          (ro.kind == RES_INPUT_GRAD && f->arg_role[i].kind == ARG_INPUT && f->arg_role[i].index == ro.index))
        ai = i;
    if (ai < 0) continue;
    ITensor *x = &args[ai];
    int64_t n = type_numel(&x->ty);
    int64_t step = (maxel > 0 && n > maxel) ? n / maxel : 1;
    double num = 0, den_a = 0, den_f = 0;
    for (int64_t e = 0; e < n; e += step) {
      double x0 = x->d[e];
      double h = 1e-5 * (fabs(x0) > 1 ? fabs(x0) : 1);
      x->d[e] = x0 + h;
      double fp = gc_eval(f, args, INTERP_F64);
      x->d[e] = x0 - h;
      double fm = gc_eval(f, args, INTERP_F64);
      x->d[e] = x0;
      double fd = (fp - fm) / (2 * h), ad = r[k].d[e];
      num += (fd - ad) * (fd - ad);
      den_a += ad * ad;
      den_f += fd * fd;
    }
    double den = sqrt(den_a > den_f ? den_a : den_f);
    double rel = den > 1e-12 ? sqrt(num) / den : sqrt(num);
    if (!(rel <= tol))
      fprintf(stderr, "%s: gradient of %s: relative error %.3g (|ad| %.3g, |fd| %.3g)\n", what,
              grad->ret_name && grad->ret_name[k] ? grad->ret_name[k] : "?", rel, sqrt(den_a), sqrt(den_f));
    if (!(rel <= worst)) worst = rel;
  }
  gc_free_all(r, grad->nret);
  return worst;
}

#endif
