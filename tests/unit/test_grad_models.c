/* test_grad_models.c — gradients of whole models in f64:
 *   - every sample's loss at small sizes (-D), through the RNN's, LSTM's
 *     and transformer's loops, against central differences (<= 1e-6);
 *   - a loop and its hand-unrolled twin give the same loss and gradients;
 *   - second order: the gradient function differentiated again gives a
 *     Hessian-vector product that matches finite differences of the
 *     gradient. */
#include "unit_main.h"
#include "gradcheck.h"
#include "pipeline.h"
#include "ptrmap.h"


/* Parameters small enough that tanh/sigmoid do not saturate. */
static const char *model_ranges(void) { return ""; }

static void check_sample_n(const char *rel, const Define *defs, int ndefs, int maxel, int64_t dn) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, rel, defs, ndefs);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_TRUE(c->ok);
  Func *f = ir_find_func(c->m, "loss");
  Func *g = compiled_grad(c, "loss");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  ITensor args[128];
  gc_inputs_n(f, args, model_ranges(), 99 + (uint64_t)dn, dn);
  /* scale parameters down: random [-1,1] weights saturate deep models */
  for (int i = 0; i < f->body->nargs; i++)
    if (f->arg_role[i].kind == ARG_PARAM)
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++) args[i].d[k] *= 0.5;
  double err = gc_check(f, g, args, 1e-6, maxel, rel);
  CU_ASSERT(err <= 1e-6);
  if (dn) fprintf(stderr, "  %s (n = %lld): worst relative gradient error %.2e\n", rel, (long long)dn, err);
  else fprintf(stderr, "  %s: worst relative gradient error %.2e\n", rel, err);
  gc_free_all(args, f->body->nargs);
  arena_free(a);
}

static void check_sample(const char *rel, const Define *defs, int ndefs, int maxel) {
  check_sample_n(rel, defs, ndefs, maxel, 0);
}

/* Models with a run-time batch: the gradient at two sizes. */
static void test_dyn_grads(void) {
  const char *models[] = {"tests/nn/dyn_mlp.nn", "tests/nn/dyn_ops.nn", "tests/nn/dyn_cnn.nn", "tests/nn/dyn_rnn.nn",
                          "tests/nn/dyn_deriv.nn"};
  for (int m = 0; m < 5; m++) {
    check_sample_n(models[m], NULL, 0, 40, 2);
    check_sample_n(models[m], NULL, 0, 40, 5);
  }
  /* the character samples (dim B <= 6): merged GEMMs, zero-padded tapes */
  Define ch[] = {{"B", "6"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  Define gpt[] = {{"B", "6"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}};
  const char *chars[] = {"samples/char_rnn.nn", "samples/char_lstm.nn", "samples/tiny_gpt.nn"};
  for (int m = 0; m < 3; m++) {
    check_sample_n(chars[m], m == 2 ? gpt : ch, 5, 40, 2);
    check_sample_n(chars[m], m == 2 ? gpt : ch, 5, 40, 5);
  }
}

/* At run-time size n, a model computes what its static twin (`const N = n`
 * instead of `dim N <= 12`) computes: the loss (a mean over the real n
 * rows) and every gradient, in f64. */
static void test_dyn_static_twin(void) {
  const char *models[] = {"tests/nn/dyn_mlp.nn", "tests/nn/dyn_ops.nn", "tests/nn/dyn_cnn.nn", "tests/nn/dyn_rnn.nn",
                          "tests/nn/dyn_deriv.nn"};
  for (int m = 0; m < 5; m++)
    for (int64_t dn = 1; dn <= 12; dn += 5) {
      char src[1024], twin[1024];
      snprintf(src, sizeof src, "%s/%s", NNC_SOURCE_DIR, models[m]);
      snprintf(twin, sizeof twin, "%s/tests/twin_%d.nn", NNC_BINARY_DIR, m);
      FILE *in = fopen(src, "r"), *out = fopen(twin, "w");
      CU_ASSERT_FATAL(in && out);
      char line[512];
      while (fgets(line, sizeof line, in)) {
        if (!strncmp(line, "dim N <= 12", 11)) fprintf(out, "const N = %lld\n", (long long)dn);
        else fputs(line, out);
      }
      fclose(in);
      fclose(out);
      Arena *a = arena_new();
      Compiled *cd = gc_compiled(a, models[m], NULL, 0), *cs = gc_compiled(a, twin, NULL, 0);
      CU_ASSERT_FATAL(cd && cs);
      Func *gd = compiled_grad(cd, "loss"), *gs = compiled_grad(cs, "loss");
      CU_ASSERT_FATAL(gd && gs && ir_dim_arg(gd) && !ir_dim_arg(gs));
      ITensor args[128], rd[128], rs[128];
      gc_inputs_n(gd, args, NULL, 7, dn);
      char err[256];
      CU_ASSERT_TRUE_FATAL(interp_run(gd, args, gd->body->nargs, rd, INTERP_F64, err, sizeof err));
      /* the twin takes the same arguments but the size */
      ITensor sargs[128];
      int ns = 0;
      for (int i = 0; i < gd->body->nargs; i++)
        if (gd->body->args[i] != ir_dim_arg(gd)) sargs[ns++] = args[i];
      CU_ASSERT_EQUAL_FATAL(ns, gs->body->nargs);
      CU_ASSERT_TRUE_FATAL(interp_run(gs, sargs, ns, rs, INTERP_F64, err, sizeof err));
      CU_ASSERT_EQUAL_FATAL(gd->nret, gs->nret);
      for (int k = 0; k < gd->nret; k++) {
        CU_ASSERT_FATAL(type_eq(&rd[k].ty, &rs[k].ty));
        double worst = 0;
        for (int64_t e = 0; e < type_numel(&rd[k].ty); e++) {
          double d = fabs(rd[k].d[e] - rs[k].d[e]) / (fabs(rs[k].d[e]) > 1 ? fabs(rs[k].d[e]) : 1);
          if (d > worst) worst = d;
        }
        if (!(worst <= 1e-12)) fprintf(stderr, "%s n=%lld: result %d differs from the static twin by %g\n", models[m], (long long)dn, k, worst);
        CU_ASSERT(worst <= 1e-12);
      }
      gc_free_all(rd, gd->nret);
      gc_free_all(rs, gs->nret);
      gc_free_all(args, gd->body->nargs);
      arena_free(a);
      remove(twin);
    }
}

static void test_mlp(void) {
  Define d[] = {{"B", "2"}, {"H", "6"}};
  check_sample("samples/fashion_mlp.nn", d, 2, 40);
}

static void test_cnn(void) {
  Define d[] = {{"B", "2"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}};
  check_sample("samples/fashion_cnn.nn", d, 4, 30);
}

static void test_rnn(void) {
  Define d[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  check_sample("samples/char_rnn.nn", d, 5, 0);
}

static void test_lstm(void) {
  Define d[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  check_sample("samples/char_lstm.nn", d, 5, 0);
}

static void test_gpt(void) {
  Define d[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}};
  check_sample("samples/tiny_gpt.nn", d, 5, 0);
}

/* The loop and the unrolled function: same loss, same gradients (to
 * rounding), and both match finite differences. */
static void test_loop_vs_unrolled(void) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, "tests/nn/rnn_twins.nn", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *fl = ir_find_func(c->m, "looped"), *fu = ir_find_func(c->m, "unrolled");
  Func *gl = compiled_grad(c, "looped"), *gu = compiled_grad(c, "unrolled");
  CU_ASSERT_PTR_NOT_NULL_FATAL(gl);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gu);
  ITensor args[16], rl[16], ru[16];
  gc_inputs(fl, args, "", 5);
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(gl, args, gl->body->nargs, rl, INTERP_F64, err, sizeof err));
  CU_ASSERT_TRUE_FATAL(interp_run(gu, args, gu->body->nargs, ru, INTERP_F64, err, sizeof err));
  CU_ASSERT_EQUAL_FATAL(gl->nret, gu->nret);
  for (int k = 0; k < gl->nret; k++) {
    int64_t n = type_numel(&rl[k].ty);
    for (int64_t i = 0; i < n; i++) CU_ASSERT_DOUBLE_EQUAL(rl[k].d[i], ru[k].d[i], 1e-12);
  }
  CU_ASSERT(gc_check(fl, gl, args, 1e-6, 0, "looped") <= 1e-6);
  CU_ASSERT(gc_check(fu, gu, args, 1e-6, 0, "unrolled") <= 1e-6);
  gc_free_all(args, fl->body->nargs);
  gc_free_all(rl, gl->nret);
  gc_free_all(ru, gu->nret);
  arena_free(a);
}

/* Build hvp(params, x, y, v...) = sum_i <grad_i(params, x, y), v_i> from the
 * gradient function g, then differentiate it: its gradient is H v. */
static Func *hvp_objective(Module *m, Func *g) {
  Arena *a = m->a;
  Func *h = ir_func_new(m, "hvp_objective");
  PtrMap map;
  pm_init(&map, a);
  int nin = 0;
  for (int i = 0; i < g->body->nargs; i++) {
    Value *v = g->body->args[i];
    ir_func_add_arg(a, h, v->ty, v->name, g->arg_role[i]);
    pm_put(&map, v, h->body->args[i]);
    nin += g->arg_role[i].kind == ARG_INPUT;
  }
  Builder b = {.a = a, .block = h->body};
  Inst *ret = g->body->last;
  for (Inst *in = g->body->first; in != ret; in = in->next) ir_clone_inst(&b, in, &map);
  Value *acc = NULL;
  for (int k = 1; k < g->nret; k++) {
    ir_func_add_arg(a, h, g->ret[k], "v", (Role){ARG_INPUT, nin++});
    Value *v = h->body->args[h->body->nargs - 1];
    Value *gk = pm_get(&map, ret->args[k]);
    Value *p = ir_binary(&b, OP_MUL, gk, v);
    int64_t axes[MAX_RANK];
    for (int i = 0; i < p->ty.rank; i++) axes[i] = i;
    Value *s = ir_reduce_sum(&b, p, axes, p->ty.rank);
    acc = acc ? ir_binary(&b, OP_ADD, acc, s) : s;
  }
  ir_func_add_result(a, h, acc->ty, "gv", (Role){RES_OUTPUT, 0});
  ir_build(&b, OP_RETURN, &acc, 1, NULL, NULL);
  return h;
}

static void test_hessian_vector(void) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, "tests/nn/mlp_tanh.nn", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *f = ir_find_func(c->m, "loss");
  Func *g = compiled_grad(c, "loss");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  Func *h = hvp_objective(c->m, g);
  CU_ASSERT_TRUE_FATAL(ir_verify_func(c->m, h, stderr));
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  GradResult hg = grad_func(c->m, h, NULL, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(hg.f);
  CU_ASSERT_TRUE(ir_verify_func(c->m, hg.f, stderr));
  PassOpts po = {.verify = true};
  CU_ASSERT_TRUE(run_passes(c->m, hg.f, &po));
  /* inputs: params, x, y, then the direction v */
  ITensor args[64];
  gc_inputs(h, args, "", 11);
  int np = f->body->nargs; /* params + x + y */
  ITensor hv[64];
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(hg.f, args, hg.f->body->nargs, hv, INTERP_F64, err, sizeof err));
  /* finite differences of the gradient along v: (g(p + e v) - g(p - e v)) / 2e */
  double e = 1e-5, num = 0, den = 0;
  ITensor gp[64], gm[64];
  int nparams = 0;
  for (int i = 0; i < np; i++) nparams += f->arg_role[i].kind == ARG_PARAM;
  for (int sign = 0; sign < 2; sign++) {
    ITensor shifted[64];
    for (int i = 0; i < np; i++) {
      shifted[i] = itensor_copy(&args[i]);
      if (f->arg_role[i].kind == ARG_PARAM) {
        ITensor *v = &args[np + f->arg_role[i].index];
        for (int64_t k = 0; k < type_numel(&v->ty); k++) shifted[i].d[k] += (sign ? -e : e) * v->d[k];
      }
    }
    CU_ASSERT_TRUE_FATAL(interp_run(g, shifted, np, sign ? gm : gp, INTERP_F64, err, sizeof err));
    gc_free_all(shifted, np);
  }
  for (int k = 1; k < g->nret; k++) {
    int pi = g->ret_role[k].index;
    /* hg's results: loss, then d/d param pi */
    ITensor *ad = &hv[1 + pi];
    for (int64_t q = 0; q < type_numel(&ad->ty); q++) {
      double fd = (gp[k].d[q] - gm[k].d[q]) / (2 * e);
      num += (fd - ad->d[q]) * (fd - ad->d[q]);
      den += fd * fd;
    }
  }
  double rel = sqrt(num / den);
  fprintf(stderr, "  Hessian-vector product: relative error %.2e over %d parameters\n", rel, nparams);
  CU_ASSERT(rel <= 1e-6);
  gc_free_all(gp, g->nret);
  gc_free_all(gm, g->nret);
  gc_free_all(hv, hg.f->nret);
  gc_free_all(args, h->body->nargs);
  diag_free(&d);
  arena_free(a);
}

/* argmax and float->int conversions on the way to the loss block the
 * gradient: the AD says so at their .nn positions, once each. */
static void test_blocked_warning(void) {
  Arena *a = arena_new();
  static char path[1024];
  snprintf(path, sizeof path, "%s/tests/nn/blocked_grad.nn", NNC_SOURCE_DIR);
  Diag d;
  char *src;
  Program *p;
  CU_ASSERT_EQUAL_FATAL(gc_front(a, path, NULL, 0, &d, &src, &p), 0);
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  d.out = mem;
  Compiled *c = compile_module(a, &d, p, path, &(CompileOpts){0});
  fclose(mem);
  CU_ASSERT_TRUE(c->ok);
  CU_ASSERT_EQUAL(d.nwarnings, 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "blocked_grad.nn:6:13: warning: the gradient of 'loss' does not flow through argmax"));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "blocked_grad.nn:7:17: warning: the gradient of 'loss' does not flow through this conversion"));
  free(buf);
  diag_free(&d);
  free(src);
  arena_free(a);
}

static UnitTest tests[] = {
    {"warning where integer conversions block the gradient", test_blocked_warning},
    {"fashion_mlp gradient", test_mlp},
    {"fashion_cnn gradient", test_cnn},
    {"char_rnn gradient through the loop", test_rnn},
    {"char_lstm gradient through the loop", test_lstm},
    {"tiny_gpt gradient through the layer loop", test_gpt},
    {"loop and unrolled twin agree", test_loop_vs_unrolled},
    {"Hessian-vector product (second order)", test_hessian_vector},
    {"run-time batch: gradients at n = 2 and 5", test_dyn_grads},
    {"run-time batch: same loss and gradients as the static twin", test_dyn_static_twin},
    {0, 0}};

int main(void) { return unit_run("grad_models", tests); }
