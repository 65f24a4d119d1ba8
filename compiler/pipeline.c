/* pipeline.c — irgen, passes and AD in sequence; see pipeline.h. */
#include "pipeline.h"

#include <string.h>
#include <time.h>

#include "backend.h"
#include "irgen.h"
#include "plan.h"
#include "remat.h"
#include "strmap.h"
#include "trainstep.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool optimize(Module *m, Func *f, const CompileOpts *o, FuncStats *st) {
  st->name = f->name;
  st->before = ir_count_insts(f);
  PassOpts po = {.verify = o && o->verify, .dump = o ? o->dump : NULL, .dump_out = stderr};
  bool ok = (o && o->no_opt) || run_passes(m, f, &po);
  st->after = ir_count_insts(f);
  return ok;
}

static bool differentiable(const Func *f) {
  return f->nret == 1 && f->ret[0].rank == 0 && dtype_is_float(f->ret[0].dtype);
}

Compiled *compiled_new(Arena *a, Module *m) {
  Compiled *c = NEW(a, Compiled);
  c->m = m;
  c->ok = m != NULL;
  c->plans = NEW(a, PtrMap);
  pm_init(c->plans, a);
  if (!m) return c;
  c->nprimal = m->nfuncs;
  c->stats = NEW_ARRAY(a, FuncStats, 2 * m->nfuncs + 2);
  c->grads = NEW_ARRAY(a, GradResult, m->nfuncs + 1);
  return c;
}

Plan *compiled_plan_once(const Compiled *c, Func *f, Arena *scratch) {
  Plan *pl = pm_get(c->plans, f);
  if (pl) return pl;
  plan_prepare(c->m->a, f); /* changes f: in f's arena (a second time changes nothing) */
  return plan_func(scratch, f, backend_scratch_for);
}

Plan *compiled_plan(const Compiled *c, Func *f) {
  Plan *pl = pm_get(c->plans, f);
  if (!pl) {
    pl = compiled_plan_once(c, f, c->m->a);
    pm_put(c->plans, f, pl);
  }
  return pl;
}

/* ---- the stages after irgen, in order (like the pass table) ------------- */

/* The passes on the user's functions. */
static void stage_optimize(Compiled *c, Diag *d, const CompileOpts *o) {
  (void)d;
  double t0 = now_ms();
  for (int i = 0; i < c->nprimal; i++)
    if (!optimize(c->m, c->m->funcs[i], o, &c->stats[i])) c->ok = false;
  c->ms_passes += now_ms() - t0;
}

/* Reverse-mode AD of every function returning a float scalar, within the
 * tape budget, then the passes on each gradient. */
static void stage_grad(Compiled *c, Diag *d, const CompileOpts *o) {
  Module *m = c->m;
  if (o && o->no_grad) return;
  for (int i = 0; i < c->nprimal; i++) {
    Func *f = m->funcs[i];
    if (!differentiable(f)) continue;
    double g0 = now_ms();
    size_t budget = o && o->max_tape_bytes ? o->max_tape_bytes : m->train ? (size_t)m->train->max_tape_bytes : 0;
    c->grads[i] = grad_func_budget(m, f, NULL, budget, d);
    c->ms_grad += now_ms() - g0;
    if (!c->grads[i].f) {
      c->ok = false;
      continue;
    }
    if (o && o->verify && !ir_verify_func(m, c->grads[i].f, stderr)) die("the gradient of %s does not verify", f->name);
    double p0 = now_ms();
    FuncStats *st = &c->stats[m->nfuncs - 1];
    if (!optimize(m, c->grads[i].f, o, st)) c->ok = false;
    st->primal = f->name;
    c->ms_passes += now_ms() - p0;
  }
}

/* train_step and apply_update, from the loss's gradient (its dropout-enabled
 * version if any), then their passes. */
static void stage_train(Compiled *c, Diag *d, const CompileOpts *o) {
  (void)d;
  Module *m = c->m;
  const TrainSpec *t = m->train;
  if (!t || !t->loss || !c->ok || (o && (o->no_train_step || o->no_grad))) return;
  Func *g = train_step_grad(m);
  if (!g) return;
  double g0 = now_ms();
  Func *ts = build_train_step_decl(m, g, t);
  FuncStats *st;
  if (!(o && o->no_train_step_body)) {
    build_train_step_body(m, ts, g, t);
    if (o && o->verify && !ir_verify_func(m, ts, stderr)) die("train_step does not verify");
    st = &c->stats[m->nfuncs - 1];
    optimize(m, ts, o, st);
    st->primal = NULL;
  }
  Func *up = build_apply_update(m, t, g->pos);
  if (o && o->verify && !ir_verify_func(m, up, stderr)) die("apply_update does not verify");
  st = &c->stats[m->nfuncs - 1];
  optimize(m, up, o, st);
  st->primal = NULL;
  c->ms_grad += now_ms() - g0;
}

const char *api_c_name(Arena *a, const char *n) {
  char *s = arena_strdup(a, n);
  for (char *q = s; *q; q++)
    if (*q == '.') *q = '_';
  return s;
}

bool check_c_names(const Module *m, const char *prefix, Diag *d) {
  Arena *a = arena_new();
  StrMap by_c_name; /* C name -> the first function with it */
  sm_init(&by_c_name, a);
  bool ok = true;
  for (int i = 0; i < m->nfuncs && ok; i++) {
    const Func *b = m->funcs[i];
    const char *cname = api_c_name(a, b->name);
    const Func *first = sm_get(&by_c_name, cname);
    if (!first) {
      sm_put(&by_c_name, cname, (void *)b);
      continue;
    }
    if (first->is_grad && b->is_grad) continue;
    const Func *user = first->is_grad ? b : first, *other = user == first ? b : first;
    Loc at = {user->pos.line, user->pos.col, user->pos.line, user->pos.col};
    diag_error(d, at, "function '%s' has the C name %s_%s of '%s'%s; rename it", user->name, prefix ? prefix : m->name,
               cname, other->name, other->is_grad ? ", the generated gradient" : "");
    ok = false;
  }
  arena_free(a);
  return ok;
}

/* here as well as in the backend, so that `nnc check` reports it */
static void stage_c_names(Compiled *c, Diag *d, const CompileOpts *o) {
  if (!check_c_names(c->m, o ? o->name : NULL, d)) c->ok = false;
}

/* irgen makes the module; then, in this order: */
static const struct {
  const char *name; /* for readers and debuggers */
  void (*run)(Compiled *c, Diag *d, const CompileOpts *o);
} stages[] = {
    {"optimize", stage_optimize}, /* the user's functions */
    {"grad", stage_grad},         /* their gradients */
    {"train", stage_train},       /* the training step in one piece and in two halves */
    {"c_names", stage_c_names},   /* every function's C name is its own */
};

Compiled *compile_module(Arena *a, Diag *d, const Program *p, const char *file, const CompileOpts *o) {
  double t0 = now_ms();
  Module *m = irgen_diag(a, p, file, d);
  Compiled *c = compiled_new(a, m);
  if (!m) return c; /* a derivative in the program cannot be taken: reported */
  c->ms_irgen = now_ms() - t0;
  if (o && o->verify && !ir_verify_module(m, stderr)) die("irgen produced IR that does not verify");
  for (size_t k = 0; k < sizeof stages / sizeof *stages; k++) stages[k].run(c, d, o);
  return c;
}

Compiled *compile_parsed(Arena *a, Diag *d, Module *m, const CompileOpts *o) {
  Compiled *c = compiled_new(a, m);
  for (size_t k = 0; k < sizeof stages / sizeof *stages; k++) stages[k].run(c, d, o);
  return c;
}

Func *compiled_grad(const Compiled *c, const char *name) {
  for (int i = 0; i < c->nprimal; i++)
    if (!strcmp(c->m->funcs[i]->name, name)) return c->grads[i].f;
  return NULL;
}

/* Floating-point operations of matmuls and convolutions (2 per multiply-
 * add), the work that dominates; loops count once per iteration. */
static double block_flops(const Block *b) {
  double f = 0;
  for (const Inst *in = b->first; in; in = in->next) {
    if (in->op == OP_FOR) {
      f += (double)(in->attr.i[1] - in->attr.i[0]) * block_flops(in->body);
    } else if (in->op == OP_MATMUL) {
      const Type *c = &in->res[0]->ty, *a = &in->args[0]->ty;
      int r = c->rank;
      double k = (double)(in->attr.i[0] ? a->dim[r - 2] : a->dim[r - 1]);
      f += 2.0 * (double)type_numel(c) * k;
    } else if (op_info[in->op].lc == LC_CONV) {
      /* every op of the family does N*O*OH*OW*C*KH*KW multiply-adds */
      const Type *x = in->op == OP_CONV2D_BWD_X ? &in->res[0]->ty : &in->args[0]->ty;
      const Type *w = in->op == OP_CONV2D_BWD_W ? &in->res[0]->ty : &in->args[1]->ty;
      const Type *y = in->op == OP_CONV2D ? &in->res[0]->ty : in->op == OP_CONV2D_BWD_X ? &in->args[0]->ty : &in->args[1]->ty;
      f += 2.0 * (double)type_numel(y) * (double)x->dim[1] * (double)w->dim[2] * (double)w->dim[3];
    }
  }
  return f;
}

double func_flops(const Func *f) { return block_flops(f->body); }

void print_stats(FILE *out, const Compiled *c) {
  const Module *m = c->m;
  fprintf(out, "%-24s %8s %8s %12s\n", "function", "before", "after", "MFLOP");
  for (int i = 0; i < m->nfuncs; i++) {
    const FuncStats *s = &c->stats[i];
    if (!s->name) continue;
    fprintf(out, "%-24s %8d %8d %12.1f", s->name, s->before, s->after, func_flops(m->funcs[i]) / 1e6);
    if (s->primal) {
      for (int k = 0; k < c->nprimal; k++)
        if (!strcmp(c->stats[k].name, s->primal) && c->stats[k].after)
          fprintf(out, "   %.2fx the instructions of %s", (double)s->after / c->stats[k].after, s->primal);
    }
    fputc('\n', out);
  }
  for (int i = 0; i < c->nprimal; i++)
    if (c->grads[i].f)
      fprintf(out, "%s keeps %zu bytes of straight-line values and %zu bytes of loop tapes\n", c->grads[i].f->name,
              c->grads[i].saved_bytes, c->grads[i].tape_bytes);
  /* the arena holds the whole compilation so far: linear in the program
   * (tests/fuzz/reroll.sh compares models of N and 4N statements) */
  fprintf(out, "time: irgen %.2f ms, passes %.2f ms, grad %.2f ms; compiler memory %zu bytes\n", c->ms_irgen,
          c->ms_passes, c->ms_grad, arena_bytes(m->a));
}
