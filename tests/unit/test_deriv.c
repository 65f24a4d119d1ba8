/* test_deriv.c — derivatives written in .nn (tests/nn/deriv.nn), in f64
 * on the interpreter, each against central finite differences of the
 * function it differentiates:
 *   - input gradients (grad), value and gradient, tangents (jvp), and
 *     forward-over-reverse Hessian-vector products, straight-line and
 *     through a recurrent loop;
 *   - the parameter gradient the compiler builds for losses that hold a
 *     gradient (a gradient penalty: reverse over reverse) or a
 *     Hessian-vector product (third order);
 *   - forward over reverse on the samples: jvp of each sample's loss
 *     gradient along random parameter directions equals finite
 *     differences of the gradient, and <jvp(L, θ, v), 1> = <v, ∇L>;
 *   - each sample with grad(loss, wrt = [W]) and loss + 0.1 |grad_W loss|^2
 *     added (W: the input of the image models, a parameter of the
 *     character models): the gradient and the penalized loss's parameter
 *     gradient against finite differences. */
#include "unit_main.h"
#include "gradcheck.h"
#include "jvp.h"
#include "ptrmap.h"
#include "tmpdir.h"

static ITensor args[64];
static Compiled *comp;
static Arena *arena;

static void setup(void) {
  if (comp) return;
  arena = arena_new();
  comp = gc_compiled(arena, "tests/nn/deriv.nn", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(comp);
  CU_ASSERT_TRUE_FATAL(comp->ok);
  /* W, U, x, y, v: the widest signature */
  Func *f = ir_find_func(comp->m, "rhvp");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  gc_inputs(f, args, "", 2024);
}

static Func *fn(const char *name) {
  setup();
  Func *f = ir_find_func(comp->m, name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  return f;
}

static int arg_index(const Func *f, const char *name) {
  for (int i = 0; i < f->body->nargs; i++)
    if (f->body->args[i]->name && !strcmp(f->body->args[i]->name, name)) return i;
  return -1;
}

/* Relative norm error of `got` (f's... result `res` of g) against central
 * differences of result 0 of f along direction dir of argument `ai`
 * (dir NULL: each element of argument ai in turn, giving a tensor). */
static double fd_against(const Func *f, int ai, const ITensor *dir, const ITensor *got) {
  ITensor *x = &args[ai];
  int64_t n = type_numel(&x->ty), m = type_numel(&got->ty);
  double num = 0, den = 0;
  const double h = 1e-5;
  int64_t outer = dir ? 1 : n;
  for (int64_t e = 0; e < outer; e++) {
    ITensor fp[4], fm[4];
    char err[256];
    double *saved = malloc(sizeof(double) * (size_t)n);
    memcpy(saved, x->d, sizeof(double) * (size_t)n);
    for (int s = 0; s < 2; s++) {
      double sg = s ? -h : h;
      if (dir)
        for (int64_t k = 0; k < n; k++) x->d[k] = saved[k] + sg * dir->d[k];
      else
        x->d[e] = saved[e] + sg;
      CU_ASSERT_TRUE_FATAL(interp_run(f, args, f->body->nargs, s ? fm : fp, INTERP_F64, err, sizeof err));
      memcpy(x->d, saved, sizeof(double) * (size_t)n);
    }
    free(saved);
    int64_t cnt = dir ? m : 1;
    for (int64_t k = 0; k < cnt; k++) {
      double fd = (fp[0].d[k] - fm[0].d[k]) / (2 * h), ad = dir ? got->d[k] : got->d[e];
      num += (fd - ad) * (fd - ad);
      den += fd * fd > ad * ad ? fd * fd : ad * ad;
    }
    gc_free_all(fp, f->nret);
    gc_free_all(fm, f->nret);
  }
  return den > 1e-24 ? sqrt(num / den) : sqrt(num);
}

static ITensor run1(const Func *f, int k) {
  ITensor r[8];
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(f, args, f->body->nargs, r, INTERP_F64, err, sizeof err));
  ITensor out = r[k];
  for (int i = 0; i < f->nret; i++)
    if (i != k) itensor_free(&r[i]);
  return out;
}

static void check(const char *what, double err, double tol) {
  fprintf(stderr, "  %-52s %.2e\n", what, err);
  CU_ASSERT(err <= tol);
}

/* Each derivative function against central differences of the function it
 * differentiates, with respect to x: element by element (a gradient), or
 * along v (a tangent; a Hessian-vector product is the tangent of a gradient). */
static const struct {
  const char *derived, *base;
  bool along_v;
  const char *what;
} fd_cases[] = {
    {"gx", "f", false, "grad(f, wrt = [x]) vs finite differences"},
    {"rgx", "r", false, "grad(r, wrt = x), through a loop"},
    {"tan", "f", true, "jvp(f) vs finite differences along v"},
    {"rtan", "r", true, "jvp(r), carried tangents through a loop"},
    {"hvp", "gx", true, "jvp(grad(f)) = Hv vs differences of grad(f)"},
    {"rhvp", "rgx", true, "jvp(grad(r)) = Hv through the loop's tapes"},
};

static void test_fd_cases(void) {
  for (size_t k = 0; k < sizeof fd_cases / sizeof fd_cases[0]; k++) {
    const Func *t = fn(fd_cases[k].derived), *base = fn(fd_cases[k].base);
    ITensor *v = fd_cases[k].along_v ? &args[arg_index(t, "v")] : NULL;
    ITensor d = run1(t, 0);
    check(fd_cases[k].what, fd_against(base, arg_index(base, "x"), v, &d), 1e-7);
    itensor_free(&d);
  }
}

/* value_and_grad: the value is f's, the gradients match grad's */
static void test_value_and_grad(void) {
  /* vg = f + |df/dy|^2 + sum(df/dW): its parameter gradient involves the
   * second derivatives of f; compare the whole with finite differences */
  Func *g = compiled_grad(comp ? comp : (setup(), comp), "vg");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  check("d/dW [value_and_grad(f, wrt = [y, W])] terms", gc_check(fn("vg"), g, args, 1e-7, 0, "vg"), 1e-7);
}

/* The compiler's parameter gradient of losses holding derivatives */
static void test_penalty(void) {
  const char *names[] = {"penalty", "rpenalty", "hpenalty"};
  const char *what[] = {"d/dθ (f + |grad_x f|^2): reverse over reverse", "the same through the loop",
                        "d/dθ |Hv|^2: third order"};
  for (int i = 0; i < 3; i++) {
    Func *g = compiled_grad(comp, names[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    check(what[i], gc_check(fn(names[i]), g, args, 1e-6, 0, names[i]), 1e-6);
  }
}

/* Random directions in [-1, 1] for the flagged arguments of in[0..na),
 * stored from in[na] on; returns how many. */
static int random_tangents(ITensor *in, int na, const bool *wrt, uint64_t seed) {
  int nt = 0;
  for (int i = 0; i < na; i++) {
    if (!wrt[i]) continue;
    in[na + nt] = itensor_new(&in[i].ty);
    for (int64_t k = 0; k < type_numel(&in[i].ty); k++) in[na + nt].d[k] = 2 * gc_rand(&seed) - 1;
    nt++;
  }
  return nt;
}

/* Every sample, forward over reverse on its loss's parameter gradient. */
static void sample_hvp(const char *rel, const Define *defs, int ndefs) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, rel, defs, ndefs);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *f = ir_find_func(c->m, "loss"), *g = compiled_grad(c, "loss");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  int na = g->body->nargs;
  bool wrt[128] = {0};
  for (int i = 0; i < na; i++) wrt[i] = g->arg_role[i].kind == ARG_PARAM;
  Diag d;
  diag_init(&d, rel, "", 0, stderr, COLOR_NEVER);
  Func *hf = jvp_func(c->m, g, wrt, &d), *jf = jvp_func(c->m, f, wrt, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(hf);
  CU_ASSERT_PTR_NOT_NULL_FATAL(jf);
  CU_ASSERT_TRUE(ir_verify_func(c->m, hf, stderr));
  ITensor in[256], r[128], rj[4], rp[128], rm[128], r0[128];
  gc_inputs(g, in, "", 31);
  for (int i = 0; i < na; i++)
    if (wrt[i])
      for (int64_t k = 0; k < type_numel(&in[i].ty); k++) in[i].d[k] *= 0.5;
  int nt = random_tangents(in, na, wrt, 5);
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(hf, in, na + nt, r, INTERP_F64, err, sizeof err));
  CU_ASSERT_TRUE_FATAL(interp_run(jf, in, na + nt, rj, INTERP_F64, err, sizeof err));
  CU_ASSERT_TRUE_FATAL(interp_run(g, in, na, r0, INTERP_F64, err, sizeof err));
  /* differences of the gradient along v */
  const double h = 1e-5;
  ITensor sh[256];
  for (int sgn = 0; sgn < 2; sgn++) {
    for (int i = 0, t = 0; i < na; i++) {
      sh[i] = itensor_new(&in[i].ty);
      for (int64_t k = 0; k < type_numel(&in[i].ty); k++)
        sh[i].d[k] = in[i].d[k] + (wrt[i] ? (sgn ? -h : h) * in[na + t].d[k] : 0);
      t += wrt[i];
    }
    CU_ASSERT_TRUE_FATAL(interp_run(g, sh, na, sgn ? rm : rp, INTERP_F64, err, sizeof err));
    gc_free_all(sh, na);
  }
  /* hf's results: g's (loss, grads...), then their tangents (loss.tan, grads.tan...) */
  double num = 0, den = 0, dot = 0, dot_scale = 0;
  for (int k = 1; k < g->nret; k++) {
    const ITensor *hv = &r[g->nret + k];
    for (int64_t e = 0; e < type_numel(&hv->ty); e++) {
      double fd = (rp[k].d[e] - rm[k].d[e]) / (2 * h);
      num += (fd - hv->d[e]) * (fd - hv->d[e]);
      den += fd * fd;
    }
  }
  /* <v, grad L> against the tangent of L (and of the gradient function's loss) */
  for (int i = 0, t = 0; i < na; i++) {
    if (!wrt[i]) continue;
    int k = 1 + t; /* gradients come in parameter order */
    for (int64_t e = 0; e < type_numel(&in[i].ty); e++) {
      dot += in[na + t].d[e] * r0[k].d[e];
      dot_scale += fabs(in[na + t].d[e] * r0[k].d[e]);
    }
    t++;
  }
  double hv_err = den > 0 ? sqrt(num / den) : sqrt(num);
  double dot_err = fabs(rj[1].d[0] - dot) / (dot_scale > 0 ? dot_scale : 1);
  double loss_tan_err = fabs(r[g->nret].d[0] - rj[1].d[0]) / (fabs(rj[1].d[0]) + 1e-30);
  char what[160];
  snprintf(what, sizeof what, "%s: Hv vs FD of the gradient", rel);
  check(what, hv_err, 1e-6);
  snprintf(what, sizeof what, "%s: <jvp(L), 1> vs <v, grad L>", rel);
  check(what, dot_err, 1e-8);
  CU_ASSERT(loss_tan_err <= 1e-10);
  gc_free_all(in, na + nt);
  gc_free_all(r, hf->nret);
  gc_free_all(rj, jf->nret);
  gc_free_all(rp, g->nret);
  gc_free_all(rm, g->nret);
  gc_free_all(r0, g->nret);
  diag_free(&d);
  arena_free(a);
}

/* sum(f(...) * u) as a new function of f's arguments and u (last). */
static Func *weighted(Module *m, Func *f) {
  Func *w = ir_func_new(m, arena_printf(m->a, "%s.weighted", f->name));
  PtrMap map;
  pm_init(&map, m->a);
  int nin = 0;
  for (int i = 0; i < f->body->nargs; i++) {
    Value *v = f->body->args[i];
    ir_func_add_arg(m->a, w, v->ty, v->name, f->arg_role[i]);
    pm_put(&map, v, w->body->args[i]);
    nin += f->arg_role[i].kind == ARG_INPUT;
  }
  Inst *ret = f->body->last;
  ir_func_add_arg(m->a, w, ret->args[0]->ty, "u", (Role){ARG_INPUT, nin});
  Builder b = {.a = m->a, .block = w->body};
  for (Inst *in = f->body->first; in != ret; in = in->next) ir_clone_inst(&b, in, &map);
  Value *out = pm_get(&map, ret->args[0]);
  int64_t axes[MAX_RANK];
  for (int i = 0; i < out->ty.rank; i++) axes[i] = i;
  Value *l = ir_reduce_sum(&b, ir_binary(&b, OP_MUL, out, w->body->args[w->body->nargs - 1]), axes, out->ty.rank);
  ir_func_add_result(m->a, w, l->ty, "l", (Role){RES_OUTPUT, 0});
  ir_build(&b, OP_RETURN, &l, 1, NULL, NULL);
  return w;
}

/* <jvp(F, θ, v), u> = <v, vjp(F, θ, u)> for the sample's tensor-valued
 * forward function F (class scores or logits), random v and u. */
static void sample_dot(const char *rel, const Define *defs, int ndefs, const char *fname) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, rel, defs, ndefs);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *f = ir_find_func(c->m, fname);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  int na = f->body->nargs;
  bool wrt[128] = {0};
  for (int i = 0; i < na; i++) wrt[i] = f->arg_role[i].kind == ARG_PARAM;
  Diag d;
  diag_init(&d, rel, "", 0, stderr, COLOR_NEVER);
  Func *jf = jvp_func(c->m, f, wrt, &d), *wf = weighted(c->m, f);
  CU_ASSERT_TRUE_FATAL(ir_verify_func(c->m, wf, stderr));
  GradResult g = grad_func(c->m, wf, NULL, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(jf);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.f);
  ITensor in[256], r[4], gr[128];
  gc_inputs(wf, in, "", 13); /* f's arguments, then u */
  ITensor u = in[na];
  int nt = random_tangents(in, na, wrt, 21);
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(jf, in, na + nt, r, INTERP_F64, err, sizeof err));
  ITensor *tans = NEW_ARRAY(a, ITensor, nt + 1);
  memcpy(tans, in + na, sizeof(ITensor) * (size_t)nt);
  in[na] = u;
  CU_ASSERT_TRUE_FATAL(interp_run(g.f, in, na + 1, gr, INTERP_F64, err, sizeof err));
  double lhs = 0, rhs = 0, scale = 0;
  for (int64_t e = 0; e < type_numel(&u.ty); e++) lhs += r[1].d[e] * u.d[e], scale += fabs(r[1].d[e] * u.d[e]);
  for (int k = 1; k < g.f->nret; k++)
    for (int64_t e = 0; e < type_numel(&tans[k - 1].ty); e++) rhs += tans[k - 1].d[e] * gr[k].d[e];
  char what[160];
  snprintf(what, sizeof what, "%s: <jvp(%s), u> vs <v, vjp(%s, u)>", rel, fname, fname);
  check(what, fabs(lhs - rhs) / (scale > 0 ? scale : 1), 1e-12);
  gc_free_all(in, na + 1);
  gc_free_all(tans, nt);
  gc_free_all(r, jf->nret);
  gc_free_all(gr, g.f->nret);
  diag_free(&d);
  arena_free(a);
}

static void test_sample_dots(void) {
  Define mlp[] = {{"B", "2"}, {"H", "6"}};
  sample_dot("samples/fashion_mlp.nn", mlp, 2, "forward");
  Define cnn[] = {{"B", "2"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}};
  sample_dot("samples/fashion_cnn.nn", cnn, 4, "forward");
  Define ch[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  sample_dot("samples/char_rnn.nn", ch, 5, "logits");
  sample_dot("samples/char_lstm.nn", ch, 5, "logits");
  Define gpt[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}};
  sample_dot("samples/tiny_gpt.nn", gpt, 5, "logits");
}

static void test_samples(void) {
  Define mlp[] = {{"B", "2"}, {"H", "6"}};
  sample_hvp("samples/fashion_mlp.nn", mlp, 2);
  Define cnn[] = {{"B", "2"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}};
  sample_hvp("samples/fashion_cnn.nn", cnn, 4);
  Define ch[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  sample_hvp("samples/char_rnn.nn", ch, 5);
  sample_hvp("samples/char_lstm.nn", ch, 5);
  Define gpt[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}};
  sample_hvp("samples/tiny_gpt.nn", gpt, 5);
}

/* A sample with two functions added inside its model (a copy in the
 * scratch directory): the gradient of its loss with respect to W (an
 * input, or a parameter for the character models) and a penalized loss
 * loss + 0.1 |grad_W loss|^2, whose parameter gradient is second order. */
static Compiled *sample_with(Arena *a, const char *rel, const Define *defs, int ndefs, const char *xt,
                             const char *yt, const char *w, const char *wt) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", NNC_SOURCE_DIR, rel);
  FILE *f = fopen(path, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  static char src[1 << 16], out[(1 << 16) + 1024];
  size_t n = fread(src, 1, sizeof src - 1, f);
  fclose(f);
  src[n] = 0;
  char *last = strrchr(src, '}');
  CU_ASSERT_PTR_NOT_NULL_FATAL(last);
  *last = 0;
  snprintf(out, sizeof out,
           "%s  fn gw(x: %s, y: %s) -> %s {\n    return grad(loss, wrt = [%s])(x, y)\n  }\n"
           "  fn gpen(x: %s, y: %s) -> f32 {\n    let g = grad(loss, wrt = [%s])(x, y)\n"
           "    return loss(x, y) + 0.1 * sum(g * g)\n  }\n}\n",
           src, xt, yt, wt, w, xt, yt, w);
  const char *base = strrchr(rel, '/') + 1;
  char copy[1200];
  snprintf(copy, sizeof copy, "%s", tp(base));
  write_bytes(copy, out, strlen(out));
  Diag d;
  char *text;
  Program *p;
  Compiled *c = NULL;
  if (gc_front(a, copy, defs, ndefs, &d, &text, &p) == 0) {
    CompileOpts co = {.verify = true};
    c = compile_module(a, &d, p, copy, &co);
  }
  diag_free(&d);
  free(text);
  return c;
}

static void sample_penalty(const char *rel, const Define *defs, int ndefs, const char *xt, const char *w,
                           const char *wt) {
  Arena *a = arena_new();
  const char *yt = xt[0] == 'i' ? xt : "i32[B]"; /* character models: ids in, next ids out */
  Compiled *c = sample_with(a, rel, defs, ndefs, xt, yt, w, wt);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_TRUE_FATAL(c->ok);
  Func *loss = ir_find_func(c->m, "loss"), *gw = ir_find_func(c->m, "gw"), *gpen = ir_find_func(c->m, "gpen");
  Func *gg = compiled_grad(c, "gpen");
  CU_ASSERT_PTR_NOT_NULL_FATAL(gg);
  ITensor in[128], r[4];
  gc_inputs(loss, in, "x=0:1", 77);
  int na = loss->body->nargs;
  for (int i = 0; i < na; i++)
    if (loss->arg_role[i].kind == ARG_PARAM)
      for (int64_t k = 0; k < type_numel(&in[i].ty); k++) in[i].d[k] *= 0.5;
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(gw, in, na, r, INTERP_F64, err, sizeof err));
  int wi = -1;
  for (int i = 0; i < na; i++)
    if (!strcmp(loss->body->args[i]->name, w)) wi = i;
  CU_ASSERT_FATAL(wi >= 0);
  /* grad_W loss against differences of loss, at up to 40 elements */
  int64_t n = type_numel(&in[wi].ty), step = n > 40 ? n / 40 : 1;
  double num = 0, den = 0;
  for (int64_t e = 0; e < n; e += step) {
    double x0 = in[wi].d[e], h = 1e-5;
    in[wi].d[e] = x0 + h;
    double fp = gc_eval(loss, in, INTERP_F64);
    in[wi].d[e] = x0 - h;
    double fm = gc_eval(loss, in, INTERP_F64);
    in[wi].d[e] = x0;
    double fd = (fp - fm) / (2 * h);
    num += (fd - r[0].d[e]) * (fd - r[0].d[e]);
    den += fd * fd;
  }
  char what[160];
  snprintf(what, sizeof what, "%s: grad(loss, wrt = [%s])", rel, w);
  check(what, sqrt(num / (den > 0 ? den : 1)), 1e-6);
  snprintf(what, sizeof what, "%s: d/dθ (loss + |grad_%s loss|^2)", rel, w);
  check(what, gc_check(gpen, gg, in, 1e-6, 20, rel), 1e-6);
  gc_free_all(r, gw->nret);
  gc_free_all(in, na);
  arena_free(a);
}

static void test_sample_penalties(void) {
  CU_ASSERT_TRUE_FATAL(tmp_make("/tmp/nnc_deriv_XXXXXX"));
  Define mlp[] = {{"B", "2"}, {"H", "6"}};
  sample_penalty("samples/fashion_mlp.nn", mlp, 2, "f32[B, 784]", "x", "f32[B, 784]");
  Define cnn[] = {{"B", "2"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}};
  sample_penalty("samples/fashion_cnn.nn", cnn, 4, "f32[B, 1, 28, 28]", "x", "f32[B, 1, 28, 28]");
  Define ch[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}};
  sample_penalty("samples/char_rnn.nn", ch, 5, "i32[B, T]", "emb", "f32[V, E]");
  sample_penalty("samples/char_lstm.nn", ch, 5, "i32[B, T]", "Wh", "f32[H, 4 * H]");
  Define gpt[] = {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}};
  sample_penalty("samples/tiny_gpt.nn", gpt, 5, "i32[B, T]", "wte", "f32[V, D]");
  tmp_remove();
}

static void teardown(void) {
  if (!comp) return;
  gc_free_all(args, ir_find_func(comp->m, "rhvp")->body->nargs);
  arena_free(arena);
  comp = NULL;
}

static UnitTest tests[] = {{"grad, jvp, jvp of grad (HVP) vs finite differences", test_fd_cases},
                           {"value_and_grad in a loss", test_value_and_grad},
                           {"losses holding derivatives: second and third order", test_penalty},
                           {"samples: forward over reverse, jvp vs vjp", test_samples},
                           {"samples: gradients written in .nn and gradient penalties", test_sample_penalties},
                           {"samples: <jvp(F), u> = <v, vjp(F, u)> for the tensor-valued forward", test_sample_dots},
                           {"(teardown)", teardown},
                           {0, 0}};

int main(void) { return unit_run("deriv", tests); }
