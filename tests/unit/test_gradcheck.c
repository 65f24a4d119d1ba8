/* test_gradcheck.c — every op of the op table against central finite
 * differences in f64, enumerated from the table itself: a case exercises
 * an op when the op appears in it, and an op that no case exercises fails
 * the suite. Each case is IR text computing `%out`; the harness adds a
 * random weighting `sum(out * w)` to make a scalar loss and differentiates
 * with respect to every float input except those whose names start with
 * `w`. Inputs are drawn away from kinks and ties where the op has them. */
#include "unit_main.h"
#include "gradcheck.h"

#include "op_cases.h"

static char *build(const Case *c) {
  static char buf[8192];
  return op_case_text(c, buf, sizeof buf);
}

static bool covered[OP_COUNT];

static void mark_ops(Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    covered[in->op] = true;
    if (in->body) mark_ops(in->body);
  }
}

static void test_ops(void) {
  int ncases = NUM_OP_CASES;
  int failures = 0;
  for (int k = 0; k < ncases; k++) {
    const Case *c = &op_cases[k];
    char *text = build(c);
    Arena *a = arena_new();
    Module *m = gc_parse_ir(a, text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Func *f = m->funcs[0];
    CU_ASSERT_TRUE(ir_verify_func(m, f, stderr));
    mark_ops(f->body);
    bool wrt[64] = {0};
    for (int i = 0; i < f->body->nargs; i++) {
      const Value *v = f->body->args[i];
      wrt[f->arg_role[i].index] = dtype_is_float(v->ty.dtype) && v->name && v->name[0] != 'w';
    }
    Diag d;
    diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
    GradResult g = grad_func(m, f, wrt, &d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g.f);
    CU_ASSERT_TRUE(ir_verify_func(m, g.f, stderr));
    mark_ops(g.f->body);
    ITensor args[64];
    gc_inputs(f, args, c->ranges, 1234 + (uint64_t)k);
    double err = gc_check(f, g.f, args, 1e-6, 0, c->name);
    if (!(err <= 1e-6)) {
      failures++;
      fprintf(stderr, "case %s failed (%g)\n%s", c->name, err, text);
    }
    /* the same after the optimization passes */
    PassOpts po = {.verify = true};
    CU_ASSERT_TRUE(run_passes(m, g.f, &po));
    double err2 = gc_check(f, g.f, args, 1e-6, 0, c->name);
    if (!(err2 <= 1e-6)) {
      failures++;
      fprintf(stderr, "case %s failed after the passes (%g)\n", c->name, err2);
    }
    gc_free_all(args, f->body->nargs);
    diag_free(&d);
    arena_free(a);
  }
  CU_ASSERT_EQUAL(failures, 0);
  for (int op = 0; op < OP_COUNT; op++) {
    if (!covered[op]) fprintf(stderr, "op %s has no gradient check case\n", op_info[op].name);
    CU_ASSERT_TRUE(covered[op]);
  }
}

/* stop_gradient blocks the gradient: d/da sum(stop_gradient(a) * w) = 0,
 * which finite differences cannot see, so it is checked directly. */
static void test_stop_gradient(void) {
  const char *text = "module @t\nfunc @f(%a: f64[4], %w: f64[4]) -> (f64) {\n"
                     "%s = stop_gradient %a : f64[4]\n%m = mul %s, %w : f64[4]\n%m2 = mul %m, %a : f64[4]\n"
                     "%l = reduce_sum %m2 {axes=[0]} : f64\nreturn %l\n}\n";
  Arena *a = arena_new();
  Module *m = gc_parse_ir(a, text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  bool wrt[2] = {true, false};
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  GradResult g = grad_func(m, m->funcs[0], wrt, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g.f);
  ITensor args[2], r[2];
  gc_inputs(m->funcs[0], args, "", 7);
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(g.f, args, 2, r, INTERP_F64, err, sizeof err));
  /* only the second factor's path counts: d = s * w = a * w */
  for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(r[1].d[i], args[0].d[i] * args[1].d[i], 1e-15);
  gc_free_all(args, 2);
  gc_free_all(r, 2);
  diag_free(&d);
  arena_free(a);
}

/* The table itself: names unique, every differentiable op has a rule. */
static void test_table(void) {
  for (int i = 0; i < OP_COUNT; i++) {
    CU_ASSERT_PTR_NOT_NULL(op_info[i].name);
    CU_ASSERT_EQUAL(op_by_name(op_info[i].name), (Op)i);
    CU_ASSERT_PTR_NOT_NULL(op_info[i].meaning);
  }
}

static UnitTest tests[] = {{"op table", test_table},
                           {"every op's VJP vs finite differences", test_ops},
                           {"stop_gradient blocks the gradient", test_stop_gradient},
                           {0, 0}};

int main(void) { return unit_run("gradcheck", tests); }
