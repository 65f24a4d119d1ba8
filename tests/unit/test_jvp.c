/* test_jvp.c — forward mode (jvp.c) op by op, enumerated from the op
 * table like test_gradcheck.c: every case of op_cases.h, returning its
 * `%out` tensor, is pushed forward along a random tangent of every float
 * input whose name does not start with `w`, and
 *   1. the tangent matches central finite differences in f64,
 *      (f(x + h v) - f(x - h v)) / 2h, element by element (<= 1e-6);
 *   2. it agrees with reverse mode: <jvp(f, x, v), u> = <v, vjp(f, x, u)>,
 *      with u the case's random output weights (<= 1e-10: both are exact
 *      up to rounding);
 * both before and after the optimization passes. An op that no case (or
 * no tangent code) exercises fails the suite, and so does a
 * differentiable op whose JVP rule is NONE in ops.def. */
#include "unit_main.h"
#include "gradcheck.h"
#include "ad_internal.h"
#include "jvp.h"

#include "op_cases.h"

static bool covered[OP_COUNT];

static void mark_ops(Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    covered[in->op] = true;
    if (in->body) mark_ops(in->body);
  }
}

/* The case as a function returning %out itself. */
static char *vector_text(const Case *c, char *buf, size_t n) {
  snprintf(buf, n, "module @t\nfunc @f(%s) -> (%s) {\n%s\nreturn %%out\n}\n", c->args, c->out, c->body);
  return buf;
}

static bool run(const Func *f, ITensor *args, ITensor *r) {
  char err[256];
  if (interp_run(f, args, f->body->nargs, r, INTERP_F64, err, sizeof err)) return true;
  fprintf(stderr, "%s: interp: %s\n", f->name, err);
  return false;
}

/* Relative error of the tangent of f at args along tangents (one per
 * differentiated argument, in order) against central differences. */
static double fd_error(const Func *f, const Func *jf, ITensor *args, const bool *wrt, ITensor *tans) {
  int na = f->body->nargs;
  ITensor all[128], r[8], fp[8], fm[8];
  int nt = 0;
  for (int i = 0; i < na; i++) all[i] = args[i];
  for (int i = 0; i < na; i++)
    if (wrt[i]) all[na + nt] = tans[nt], nt++;
  if (!run(jf, all, r)) return INFINITY;
  const double h = 1e-5;
  ITensor shifted[64];
  for (int s = 0; s < 2; s++) {
    for (int i = 0, t = 0; i < na; i++) {
      shifted[i] = itensor_new(&args[i].ty);
      int64_t n = type_numel(&args[i].ty);
      for (int64_t e = 0; e < n; e++) shifted[i].d[e] = args[i].d[e] + (wrt[i] ? (s ? -h : h) * tans[t].d[e] : 0);
      if (wrt[i]) t++;
    }
    bool ok = run(f, shifted, s ? fm : fp);
    gc_free_all(shifted, na);
    if (!ok) return INFINITY;
  }
  int64_t n = type_numel(&r[1].ty);
  double num = 0, den = 0;
  for (int64_t e = 0; e < n; e++) {
    double fd = (fp[0].d[e] - fm[0].d[e]) / (2 * h), t = r[1].d[e];
    num += (fd - t) * (fd - t);
    den += fd * fd > t * t ? fd * fd : t * t;
  }
  gc_free_all(r, jf->nret);
  gc_free_all(fp, f->nret);
  gc_free_all(fm, f->nret);
  return den > 1e-24 ? sqrt(num / den) : sqrt(num);
}

/* <jvp(f, x, v), u> against <v, grad of sum(f * u)> (loss function lf,
 * whose last argument is u; gf its gradient). */
static double dot_error(const Func *jf, const Func *gf, ITensor *args, int na, const bool *wrt, ITensor *tans,
                        ITensor *u) {
  ITensor all[128], r[8], g[64];
  int nt = 0;
  for (int i = 0; i < na; i++) all[i] = args[i];
  for (int i = 0; i < na; i++)
    if (wrt[i]) all[na + nt] = tans[nt], nt++;
  if (!run(jf, all, r)) return INFINITY;
  double lhs = 0, rhs = 0, scale = 0;
  for (int64_t e = 0; e < type_numel(&u->ty); e++) lhs += r[1].d[e] * u->d[e], scale += fabs(r[1].d[e] * u->d[e]);
  all[na] = *u;
  if (!run(gf, all, g)) return INFINITY;
  for (int k = 1; k < gf->nret; k++) {
    int ai = gf->ret_role[k].index, t = 0; /* input index = argument index here */
    for (int i = 0; i < ai; i++) t += wrt[i];
    for (int64_t e = 0; e < type_numel(&tans[t].ty); e++) rhs += tans[t].d[e] * g[k].d[e];
  }
  gc_free_all(r, jf->nret);
  gc_free_all(g, gf->nret);
  return fabs(lhs - rhs) / (scale > 1e-30 ? scale : 1);
}

static void test_ops(void) {
  int failures = 0;
  for (int k = 0; k < NUM_OP_CASES; k++) {
    const Case *c = &op_cases[k];
    static char text[8192], ltext[8192];
    vector_text(c, text, sizeof text);
    op_case_text(c, ltext, sizeof ltext);
    Arena *a = arena_new();
    Module *m = gc_parse_ir(a, text), *lm = gc_parse_ir(a, ltext);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lm);
    Func *f = m->funcs[0], *lf = lm->funcs[0];
    mark_ops(f->body);
    int na = f->body->nargs;
    bool wrt[64] = {0}, lwrt[64] = {0};
    int nt = 0;
    for (int i = 0; i < na; i++) {
      const Value *v = f->body->args[i];
      wrt[i] = lwrt[i] = dtype_is_float(v->ty.dtype) && v->name && v->name[0] != 'w';
      nt += wrt[i];
    }
    Diag d;
    diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
    Func *jf = jvp_func(m, f, wrt, &d);
    GradResult g = grad_func(lm, lf, lwrt, &d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(jf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g.f);
    CU_ASSERT_TRUE(ir_verify_func(m, jf, stderr));
    mark_ops(jf->body);
    ITensor args[64], lin[64], tans[64], tin[64];
    gc_inputs(f, args, c->ranges, 4321 + (uint64_t)k);
    gc_inputs(lf, lin, c->ranges, 4321 + (uint64_t)k); /* the same draws, then u */
    /* tangents: uniform [-1, 1] per differentiated argument */
    int t = 0;
    for (int i = 0; i < na; i++)
      if (wrt[i]) tin[t++] = args[i];
    for (int i = 0; i < nt; i++) {
      tans[i] = itensor_new(&tin[i].ty);
      uint64_t s = 77 + (uint64_t)(k * 31 + i);
      for (int64_t e = 0; e < type_numel(&tans[i].ty); e++) tans[i].d[e] = 2 * gc_rand(&s) - 1;
    }
    for (int pass = 0; pass < 2; pass++) {
      double e1 = fd_error(f, jf, args, wrt, tans);
      double e2 = dot_error(jf, g.f, args, na, wrt, tans, &lin[na]);
      if (!(e1 <= 1e-6) || !(e2 <= 1e-10)) {
        failures++;
        fprintf(stderr, "case %s%s: tangent vs finite differences %.3g, <jvp,u> - <v,vjp> %.3g\n%s", c->name,
                pass ? " (after the passes)" : "", e1, e2, text);
      }
      PassOpts po = {.verify = true};
      CU_ASSERT_TRUE(run_passes(m, jf, &po));
    }
    gc_free_all(args, na);
    gc_free_all(lin, na + 1);
    gc_free_all(tans, nt);
    diag_free(&d);
    arena_free(a);
  }
  CU_ASSERT_EQUAL(failures, 0);
  for (int op = 0; op < OP_COUNT; op++) {
    if (!covered[op]) fprintf(stderr, "op %s has no tangent check case\n", op_info[op].name);
    CU_ASSERT_TRUE(covered[op]);
  }
}

/* ops.def: a differentiable op has a JVP rule (NONE is the rule of const). */
static void test_table(void) {
  for (int op = 0; op < OP_COUNT; op++) {
    bool nodiff = (op_info[op].flags & F_NODIFF) != 0;
    bool none = jvp_rules[op] == jvp_rules[OP_CONST];
    if (nodiff != none) fprintf(stderr, "op %s: JVP rule %s\n", op_info[op].name, none ? "missing" : "on a NODIFF op");
    CU_ASSERT_EQUAL(nodiff, none);
  }
}

/* stop_gradient blocks tangents too: d/da (stop_gradient(a) * a) = a. */
static void test_stop_gradient(void) {
  const char *text = "module @t\nfunc @f(%a: f64[4]) -> (f64[4]) {\n"
                     "%s = stop_gradient %a : f64[4]\n%m = mul %s, %a : f64[4]\nreturn %m\n}\n";
  Arena *a = arena_new();
  Module *m = gc_parse_ir(a, text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  bool wrt[1] = {true};
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  Func *jf = jvp_func(m, m->funcs[0], wrt, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(jf);
  ITensor args[2], r[2];
  gc_inputs(m->funcs[0], args, "", 7);
  gc_inputs(m->funcs[0], args + 1, "", 8);
  CU_ASSERT_TRUE_FATAL(run(jf, args, r));
  for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(r[1].d[i], args[0].d[i] * args[1].d[i], 1e-15);
  gc_free_all(args, 2);
  gc_free_all(r, 2);
  diag_free(&d);
  arena_free(a);
}

static UnitTest tests[] = {{"every differentiable op has a JVP rule", test_table},
                           {"every op's JVP vs finite differences and vs its VJP", test_ops},
                           {"stop_gradient blocks tangents", test_stop_gradient},
                           {0, 0}};

int main(void) { return unit_run("jvp", tests); }
