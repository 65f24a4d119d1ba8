/* test_gradcheck.c — every op of the op table against central finite
 * differences in f64, enumerated from the table itself: a case exercises
 * an op when the op appears in it, and an op that no case exercises fails
 * the suite. Each case is IR text computing `%out`; the harness adds a
 * random weighting `sum(out * w)` to make a scalar loss and differentiates
 * with respect to every float input except those whose names start with
 * `w`. Inputs are drawn away from kinks and ties where the op has them. */
#include "unit_main.h"
#include "gradcheck.h"

typedef struct Case {
  const char *name;
  const char *args;   /* "%a: f64[3,4], %b: f64[4]" */
  const char *body;   /* lines ending in a value %out */
  const char *out;    /* type of %out */
  const char *ranges; /* see gc_inputs */
} Case;

static const Case cases[] = {
    /* elementwise unary */
    {"neg", "%a: f64[3,4]", "%out = neg %a : f64[3,4]", "f64[3,4]", ""},
    {"exp", "%a: f64[3,4]", "%out = exp %a : f64[3,4]", "f64[3,4]", ""},
    {"log", "%a: f64[3,4]", "%out = log %a : f64[3,4]", "f64[3,4]", "a=0.5:2"},
    {"sqrt", "%a: f64[5]", "%out = sqrt %a : f64[5]", "f64[5]", "a=0.5:2"},
    {"rsqrt", "%a: f64[5]", "%out = rsqrt %a : f64[5]", "f64[5]", "a=0.5:2"},
    {"abs", "%a: f64[6]", "%out = abs %a : f64[6]", "f64[6]", "a=+-0.2:1"},
    {"sign", "%a: f64[6], %wb: f64[6]", "%s = sign %wb : f64[6]\n%out = mul %a, %s : f64[6]", "f64[6]", "wb=+-0.2:1"},
    {"tanh", "%a: f64[3,4]", "%out = tanh %a : f64[3,4]", "f64[3,4]", "a=-2:2"},
    {"sigmoid", "%a: f64[3,4]", "%out = sigmoid %a : f64[3,4]", "f64[3,4]", "a=-3:3"},
    {"relu", "%a: f64[3,4]", "%out = relu %a : f64[3,4]", "f64[3,4]", "a=+-0.1:1"},
    {"gelu", "%a: f64[3,4]", "%out = gelu %a : f64[3,4]", "f64[3,4]", "a=-3:3"},
    {"not", "%a: f64[4], %wb: f64[4]",
     "%z = const {value=0} : f64\n%c = gt %wb, %z : bool[4]\n%n = not %c : bool[4]\n%out = select %n, %a, %wb : f64[4]",
     "f64[4]", "wb=+-0.1:1"},
    {"cast f64<->f32", "%a: f64[4]", "%c = cast %a : f32[4]\n%out = cast %c : f64[4]", "f64[4]", ""},
    {"cast i32->f64", "%a: f64[4], %wi: i32[4]", "%c = cast %wi : f64[4]\n%out = mul %a, %c : f64[4]", "f64[4]", "wi=0:5"},
    {"stop_gradient", "%a: f64[4], %wb: f64[4]", "%s = stop_gradient %wb : f64[4]\n%out = mul %s, %a : f64[4]", "f64[4]",
     ""},
    /* sources */
    {"const", "%a: f64[2,3]", "%c = const {value=0.75} : f64[2,3]\n%out = mul %a, %c : f64[2,3]", "f64[2,3]", ""},
    {"iota", "%a: f64[2,3]", "%i = iota {axis=1} : i32[2,3]\n%c = cast %i : f64[2,3]\n%out = mul %a, %c : f64[2,3]",
     "f64[2,3]", ""},
    {"rng_uniform", "%a: f64[2,3], %ws: i32",
     "%u = rng_uniform %ws {stream=3} : f64[2,3]\n%out = mul %a, %u : f64[2,3]", "f64[2,3]", "ws=1:100"},
    {"one_hot", "%a: f64[4,3], %wi: i32[4]", "%h = one_hot %wi : f64[4,3]\n%out = mul %a, %h : f64[4,3]", "f64[4,3]",
     "wi=0:3"},
    /* elementwise binary with broadcasting */
    {"add bcast", "%a: f64[3,4], %b: f64[4]", "%out = add %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"sub bcast", "%a: f64[3,1], %b: f64[1,4]", "%out = sub %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"mul bcast", "%a: f64[2,3,4], %b: f64[3,1]", "%out = mul %a, %b : f64[2,3,4]", "f64[2,3,4]", ""},
    {"mul scalar", "%a: f64[3,4], %b: f64", "%out = mul %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"div", "%a: f64[3,4], %b: f64[3,4]", "%out = div %a, %b : f64[3,4]", "f64[3,4]", "b=+-0.5:2"},
    {"div bcast", "%a: f64[4], %b: f64[3,1]", "%out = div %a, %b : f64[3,4]", "f64[3,4]", "b=+-0.5:2"},
    {"pow", "%a: f64[3,4], %b: f64[4]", "%out = pow %a, %b : f64[3,4]", "f64[3,4]", "a=0.5:2, b=-2:2"},
    {"max", "%a: f64[3,4], %b: f64[3,4]", "%out = max %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"min bcast", "%a: f64[3,4], %b: f64[4]", "%out = min %a, %b : f64[3,4]", "f64[3,4]", ""},
    {"compare+select", "%a: f64[3,4], %b: f64[3,4]",
     "%c1 = lt %a, %b : bool[3,4]\n%c2 = le %a, %b : bool[3,4]\n%c3 = gt %a, %b : bool[3,4]\n"
     "%c4 = ge %a, %b : bool[3,4]\n%c5 = eq %c1, %c2 : bool[3,4]\n%c6 = ne %c3, %c4 : bool[3,4]\n"
     "%c7 = and %c5, %c6 : bool[3,4]\n%c8 = or %c7, %c1 : bool[3,4]\n%out = select %c8, %a, %b : f64[3,4]",
     "f64[3,4]", ""},
    {"select bcast", "%a: f64[4], %b: f64[3,4], %wc: f64[3,1]",
     "%z = const {value=0} : f64\n%c = gt %wc, %z : bool[3,1]\n%out = select %c, %a, %b : f64[3,4]", "f64[3,4]",
     "wc=+-0.1:1"},
    /* reductions */
    {"reduce_sum", "%a: f64[2,3,4]", "%out = reduce_sum %a {axes=[0,2]} : f64[3]", "f64[3]", ""},
    {"reduce_sum all", "%a: f64[2,3]", "%out = reduce_sum %a {axes=[0,1]} : f64", "f64", ""},
    {"reduce_max", "%a: f64[3,5]", "%out = reduce_max %a {axes=[1]} : f64[3]", "f64[3]", ""},
    {"reduce_min", "%a: f64[3,5]", "%out = reduce_min %a {axes=[0]} : f64[5]", "f64[5]", ""},
    {"argmax", "%a: f64[3,4], %wv: f64[3,4]",
     "%i = argmax %wv {axis=1} : i32[3]\n%h = one_hot %i : f64[3,4]\n%out = mul %a, %h : f64[3,4]", "f64[3,4]", ""},
    /* shapes */
    {"reshape", "%a: f64[3,4]", "%out = reshape %a : f64[2,6]", "f64[2,6]", ""},
    {"transpose", "%a: f64[2,3,4]", "%out = transpose %a {perm=[2,0,1]} : f64[4,2,3]", "f64[4,2,3]", ""},
    {"broadcast", "%a: f64[3,1]", "%out = broadcast %a : f64[2,3,4]", "f64[2,3,4]", ""},
    {"slice", "%a: f64[5,6]", "%out = slice %a {start=[1,0], step=[2,3]} : f64[2,2]", "f64[2,2]", ""},
    {"pad", "%a: f64[2,2]", "%out = pad %a {start=[1,0], step=[2,3]} : f64[5,6]", "f64[5,6]", ""},
    {"update_slice", "%a: f64[5,6], %b: f64[2,2]", "%out = update_slice %a, %b {start=[1,0], step=[2,3]} : f64[5,6]",
     "f64[5,6]", ""},
    {"concat", "%a: f64[2,3], %b: f64[2,1], %c: f64[2,2]", "%out = concat %a, %b, %c {axis=1} : f64[2,6]", "f64[2,6]",
     ""},
    {"dyn_slice", "%a: f64[3,4,2], %wi: i32", "%out = dyn_slice %a, %wi {axis=1} : f64[3,2]", "f64[3,2]", "wi=0:4"},
    {"dyn_update", "%a: f64[3,4], %b: f64[3], %wi: i32", "%out = dyn_update %a, %b, %wi {axis=1} : f64[3,4]",
     "f64[3,4]", "wi=0:4"},
    {"dyn_update_add", "%a: f64[3,4], %b: f64[4], %wi: i32", "%out = dyn_update_add %a, %b, %wi {axis=0} : f64[3,4]",
     "f64[3,4]", "wi=0:3"},
    /* linear algebra */
    {"matmul", "%a: f64[3,4], %b: f64[4,5]", "%out = matmul %a, %b {ta=0, tb=0} : f64[3,5]", "f64[3,5]", ""},
    {"matmul tb", "%a: f64[3,4], %b: f64[5,4]", "%out = matmul %a, %b {ta=0, tb=1} : f64[3,5]", "f64[3,5]", ""},
    {"matmul ta", "%a: f64[4,3], %b: f64[4,5]", "%out = matmul %a, %b {ta=1, tb=0} : f64[3,5]", "f64[3,5]", ""},
    {"matmul ta tb", "%a: f64[4,3], %b: f64[5,4]", "%out = matmul %a, %b {ta=1, tb=1} : f64[3,5]", "f64[3,5]", ""},
    {"matmul batched", "%a: f64[2,3,4], %b: f64[2,4,2]", "%out = matmul %a, %b {ta=0, tb=0} : f64[2,3,2]",
     "f64[2,3,2]", ""},
    /* layers */
    {"conv2d", "%x: f64[2,2,5,5], %k: f64[3,2,3,3]", "%out = conv2d %x, %k {stride=[2,1], pad=[1,0]} : f64[2,3,3,3]",
     "f64[2,3,3,3]", ""},
    {"conv2d_bwd_x", "%dy: f64[2,3,3,3], %k: f64[3,2,3,3]",
     "%out = conv2d_bwd_x %dy, %k {stride=[2,1], pad=[1,0]} : f64[2,2,5,5]", "f64[2,2,5,5]", ""},
    {"conv2d_bwd_w", "%x: f64[2,2,5,5], %dy: f64[2,3,3,3]",
     "%out = conv2d_bwd_w %x, %dy {stride=[2,1], pad=[1,0]} : f64[3,2,3,3]", "f64[3,2,3,3]", ""},
    {"maxpool2d", "%x: f64[2,2,5,5]", "%out = maxpool2d %x {kernel=[3,3], stride=[2,2], pad=[1,1]} : f64[2,2,3,3]",
     "f64[2,2,3,3]", ""},
    {"maxpool2d_bwd", "%wx: f64[2,2,5,5], %dy: f64[2,2,3,3]",
     "%out = maxpool2d_bwd %wx, %dy {kernel=[3,3], stride=[2,2], pad=[1,1]} : f64[2,2,5,5]", "f64[2,2,5,5]", ""},
    {"maxpool2d_pick", "%wx: f64[2,2,5,5], %h: f64[2,2,5,5]",
     "%out = maxpool2d_pick %wx, %h {kernel=[3,3], stride=[2,2], pad=[1,1]} : f64[2,2,3,3]", "f64[2,2,3,3]", ""},
    {"avgpool2d", "%x: f64[2,2,5,5]", "%out = avgpool2d %x {kernel=[2,3], stride=[2,1], pad=[1,1]} : f64[2,2,3,5]",
     "f64[2,2,3,5]", ""},
    {"avgpool2d_bwd", "%dy: f64[2,2,3,5]",
     "%out = avgpool2d_bwd %dy {kernel=[2,3], stride=[2,1], pad=[1,1]} : f64[2,2,5,5]", "f64[2,2,5,5]", ""},
    {"gather", "%t: f64[5,3], %wi: i32[2,4]", "%out = gather %t, %wi : f64[2,4,3]", "f64[2,4,3]", "wi=0:5"},
    {"scatter_add", "%g: f64[2,4,3], %wi: i32[2,4]", "%out = scatter_add %wi, %g : f64[5,3]", "f64[5,3]", "wi=0:5"},
    /* a loop: carried value, an outer weight used every step, a stacked output read back */
    {"for", "%h0: f64[2,3], %W: f64[3,3], %xs: f64[4,2,3]",
     "%h, %st = for %t = 0 to 4 carry(%hc = %h0) : f64[2,3], f64[4,2,3] {\n"
     "  %x = dyn_slice %xs, %t {axis=0} : f64[2,3]\n"
     "  %m = matmul %hc, %W {ta=0, tb=0} : f64[2,3]\n"
     "  %s = add %m, %x : f64[2,3]\n"
     "  %hn = tanh %s : f64[2,3]\n"
     "  yield %hn, %s\n"
     "}\n"
     "%r = reduce_sum %st {axes=[0]} : f64[2,3]\n"
     "%out = add %h, %r : f64[2,3]",
     "f64[2,3]", ""},
    {"for reverse", "%h0: f64[3], %v: f64[3]",
     "%h = for reverse %t = 1 to 4 carry(%hc = %h0) : f64[3] {\n"
     "  %ti = cast %t : f64\n"
     "  %a = mul %hc, %v : f64[3]\n"
     "  %b = mul %a, %ti : f64[3]\n"
     "  %hn = tanh %b : f64[3]\n"
     "  yield %hn\n"
     "}\n"
     "%out = mul %h, %h : f64[3]",
     "f64[3]", ""},
};

static char *build(const Case *c) {
  static char buf[8192];
  /* the weighting input %wout and the scalar loss */
  int r = 0;
  for (const char *p = strchr(c->out, '['); p && *p; p++)
    if (*p == ',' || *p == ']') r++;
  if (!strchr(c->out, '[')) r = 0;
  char axes[64] = "";
  for (int i = 0; i < r; i++) snprintf(axes + strlen(axes), sizeof axes - strlen(axes), i ? ",%d" : "%d", i);
  snprintf(buf, sizeof buf,
           "module @t\nfunc @f(%s, %%wout: %s) -> (f64) {\n%s\n%%loss.w = mul %%out, %%wout : %s\n"
           "%%loss = reduce_sum %%loss.w {axes=[%s]} : f64\nreturn %%loss\n}\n",
           c->args, c->out, c->body, c->out, axes);
  return buf;
}

static bool covered[OP_COUNT];

static void mark_ops(Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    covered[in->op] = true;
    if (in->body) mark_ops(in->body);
  }
}

static void test_ops(void) {
  int ncases = (int)(sizeof cases / sizeof cases[0]);
  int failures = 0;
  for (int k = 0; k < ncases; k++) {
    const Case *c = &cases[k];
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
