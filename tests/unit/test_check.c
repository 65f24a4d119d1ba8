/* test_check.c — the checker in process: constant folding and -D
 * overrides, weak literal typing, broadcasting, matmul batching, indexing,
 * every builtin's result shape and attributes, initializers and fans, the
 * train block, and every sample as written and at small sizes. */
#include "frontend_harness.h"

/* ---- constants ---------------------------------------------------------------------- */

static void test_constant_folding(void) {
  Expr *e = must(typed("", "1/255"));
  CU_ASSERT_EQUAL(e->cv.kind, CV_FLOAT);
  CU_ASSERT_DOUBLE_EQUAL(e->cv.f, 1.0 / 255, 1e-15);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32");
  CU_ASSERT(e->weak);
  e = must(typed("", "256/4"));
  CU_ASSERT_EQUAL(e->cv.kind, CV_INT);
  CU_ASSERT_EQUAL(e->cv.i, 64);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "i32");
  e = must(typed("", "7 % 3 + 2 ** 10 - -1"));
  CU_ASSERT_EQUAL(e->cv.kind, CV_INT);
  CU_ASSERT_EQUAL(e->cv.i, 1 + 1024 + 1);
  e = must(typed("", "2.0 ** 3"));
  CU_ASSERT_EQUAL(e->cv.kind, CV_FLOAT);
  CU_ASSERT_DOUBLE_EQUAL(e->cv.f, 8.0, 0);
  e = must(typed("", "3 < 4 && !(1 == 2)"));
  CU_ASSERT_EQUAL(e->cv.kind, CV_BOOL);
  CU_ASSERT_EQUAL(e->cv.i, 1);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "bool");
  /* a dimension accepts an integral float, not 128/3 */
  e = must(typed_with("const B = 128\nconst H = B / 2.0", "param w: f32[H, B / 4]", "", "w", NULL, 0));
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[64,32]");
  CU_ASSERT_PTR_NULL(typed_with("const B = 128", "param w: f32[B / 3]", "", "w", NULL, 0));
  ASSERT_MSG("a dimension must be an integer, but this is 42.6667");
  /* constants may refer to later ones, in the model too */
  e = must(typed_with("const HD = D / NH\nconst D = 128\nconst NH = 4", "const K = HD * 2", "", "K", NULL, 0));
  CU_ASSERT_EQUAL(e->cv.i, 64);
  CU_ASSERT_PTR_NULL(typed("", "1 / 0"));
  ASSERT_MSG("division by zero in a constant expression");
  CU_ASSERT_PTR_NULL(typed("", "3000000000 * 4000000000"));
  ASSERT_MSG("integer overflow in a constant expression");
  CU_ASSERT_PTR_NULL(typed("", "1.5 % 2"));
  ASSERT_MSG("'%' needs integer operands");
}

static void test_defines(void) {
  const char *decls = "const B = 128\nconst LR = 0.5\nconst USE = false";
  Define d1[] = {{"B", "8"}};
  Expr *e = must(typed_with(decls, "param w: f32[B, 2]", "", "w", d1, 1));
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[8,2]");
  Define d2[] = {{"B", "4.0"}, {"LR", "0.25"}, {"USE", "true"}};
  e = must(typed_with(decls, "param w: f32[B]", "", "LR", d2, 3));
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_DOUBLE_EQUAL(e->cv.f, 0.25, 0);
  CU_ASSERT_EQUAL(((ParamDecl *)F.p->model->params.v[0])->ty.dim[0], 4);
  e = let_value("f", "_r");
  CU_ASSERT(((ConstDecl *)F.p->consts.v[2])->overridden);
  CU_ASSERT_EQUAL(((ConstDecl *)F.p->consts.v[2])->val.kind, CV_BOOL);
  /* an override replaces the expression: a cycle through it is gone */
  Define d3[] = {{"A", "3"}};
  e = must(typed_with("const A = A + 1", "", "", "A * 2", d3, 1));
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(e->cv.i, 6);
  Define d4[] = {{"Q", "1"}};
  CU_ASSERT_PTR_NULL(typed_with(decls, "", "", "B", d4, 1));
  ASSERT_MSG("t.nn: error: -D Q=1: there is no constant named 'Q' to override");
  Define d5[] = {{"B", "12x"}};
  CU_ASSERT_PTR_NULL(typed_with(decls, "", "", "B", d5, 1));
  ASSERT_MSG("-D B=12x: the value must be a decimal number or true/false");
}

/* ---- types ---------------------------------------------------------------------------- */

static void test_weak_literals(void) {
  ASSERT_TYPE("x: f64[3]", "x * 2", "f64[3]");
  ASSERT_TYPE("x: f64[3]", "2.5 - x", "f64[3]");
  ASSERT_TYPE("n: i32[3]", "n * 2 + 1", "i32[3]");
  ASSERT_TYPE("n: i32[3]", "n > 0", "bool[3]");
  ASSERT_TYPE("b: bool[3]", "b == true", "bool[3]");
  ASSERT_TYPE("", "0.5 * 2", "f32");
  ASSERT_TYPE("x: f32[3]", "x ** 2", "f32[3]");
  ASSERT_REJECTS("n: i32[3]", "n * 0.5", "cannot multiply i32[3] and f32: the element types differ");
  ASSERT_REJECTS("b: bool[3]", "b + 1", "cannot add bool[3] and i32");
  ASSERT_REJECTS("x: f32[3], y: f64[3]", "x + y", "cannot add f32[3] and f64[3]: the element types differ");
  ASSERT_REJECTS("n: i32[3]", "n ** 2", "cannot raise i32[3] and i32: raise needs floating-point operands");
  /* a weak scalar bound by let stays weak; a var becomes a real scalar */
  CU_ASSERT(fe_run("model m { fn f(x: f64[2]) -> f64[2] {\n let s = 2\n var v = 3.0\n let a = x * s\n"
                   " let _b = v\n return a } }\n", true, NULL, 0));
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("f", "a")->ty), "f64[2]");
  CU_ASSERT_FALSE(let_value("f", "_b")->weak);
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("f", "_b")->ty), "f32");
  /* weak literals fit scalar arguments and results of a matching kind only */
  CU_ASSERT(fe_run("model m { fn g(a: f64, n: i32, b: bool) -> f64 { return a }\n"
                   " fn f(x: f64) -> f64 { return g(1, 2, true) + 1 } }\n", true, NULL, 0));
  CU_ASSERT_FALSE(fe_run("model m { fn g(b: bool) -> f32 { return 1.0 }\n"
                         " fn f(x: f32) -> f32 { return g(1) } }\n", true, NULL, 0));
  ASSERT_MSG("argument 1 of 'g' must be bool, but this is i32");
  CU_ASSERT_FALSE(fe_run("model m { fn f(x: f32) -> i32 { return 1.5 } }\n", true, NULL, 0));
  ASSERT_MSG("'f' returns i32, but this value is f32");
}

static void test_broadcasting(void) {
  ASSERT_TYPE("a: f32[4, 1, 3], b: f32[5, 1]", "a + b", "f32[4,5,3]");
  ASSERT_TYPE("a: f32[2, 3], b: f32[3]", "a * b", "f32[2,3]");
  ASSERT_TYPE("a: f32[2, 3], b: f32", "a - b", "f32[2,3]");
  ASSERT_TYPE("a: f32[1], b: f32[7, 1, 1]", "a / b", "f32[7,1,1]");
  ASSERT_TYPE("a: f32[2, 1], b: f32[1, 3]", "a < b", "bool[2,3]");
  ASSERT_TYPE("a: f32[2, 3], b: f32[2, 1]", "maximum(a, b)", "f32[2,3]");
  ASSERT_REJECTS("a: f32[128, 256], b: f32[10]", "a + b",
                 "cannot add f32[128,256] and f32[10]: the shapes do not broadcast");
  ASSERT_REJECTS("a: f32[2, 3], b: f32[3, 2]", "a * b", "f32[2,3] and f32[3,2]");
  /* the helpers themselves */
  Type a = type_make(TY_F32, 3, (int64_t[]){4, 1, 3}), b = type_make(TY_F32, 2, (int64_t[]){5, 1}), o;
  CU_ASSERT(broadcast_shapes(&a, &b, &o));
  CU_ASSERT_STRING_EQUAL(tstr(&o), "f32[4,5,3]");
  Type c = type_make(TY_F32, 1, (int64_t[]){2});
  CU_ASSERT_FALSE(broadcast_shapes(&a, &c, &o));
  CU_ASSERT(broadcasts_to(&b, &o)); /* o is still f32[4,5,3] after the failure */
  Type d = type_make(TY_F32, 2, (int64_t[]){1, 3});
  CU_ASSERT(broadcasts_to(&d, &a));
  CU_ASSERT_FALSE(broadcasts_to(&a, &d));
}

static void test_matmul(void) {
  ASSERT_TYPE("a: f32[2, 3], b: f32[3, 4]", "a @ b", "f32[2,4]");
  ASSERT_TYPE("a: f32[3], b: f32[3, 4]", "a @ b", "f32[4]");
  ASSERT_TYPE("a: f32[2, 3], b: f32[3]", "a @ b", "f32[2]");
  ASSERT_TYPE("a: f32[3], b: f32[3]", "a @ b", "f32");
  ASSERT_TYPE("a: f64[5, 2, 3], b: f64[3, 4]", "a @ b", "f64[5,2,4]");
  ASSERT_TYPE("a: f32[2, 3], b: f32[7, 3, 4]", "a @ b", "f32[7,2,4]");
  ASSERT_TYPE("a: f32[5, 1, 2, 3], b: f32[6, 3, 4]", "a @ b", "f32[5,6,2,4]");
  ASSERT_TYPE("a: f32[5, 2, 3], b: f32[3]", "matmul(a, b)", "f32[5,2]");
  ASSERT_TYPE("a: f32[3], b: f32[5, 3, 2]", "a @ b", "f32[5,2]");
  ASSERT_REJECTS("a: f32[128, 784], b: f32[256, 10]", "a @ b",
                 "matmul needs the inner dimensions to agree: f32[128,784] @ f32[256,10] (784 != 256)");
  ASSERT_REJECTS("a: f32[4, 2, 3], b: f32[5, 3, 6]", "a @ b", "matmul batch dimensions do not broadcast");
  ASSERT_REJECTS("a: f32[2, 3], b: f32", "a @ b", "matmul needs tensors of rank 1 or more");
  ASSERT_REJECTS("a: f32[2, 3]", "a @ 2.0", "matmul needs two floating-point tensors of the same type");
  ASSERT_REJECTS("a: f32[2, 3], b: f64[3, 2]", "a @ b", "f32[2,3] @ f64[3,2]");
}

static void test_indexing(void) {
  ASSERT_TYPE("x: f32[4, 3]", "x[1]", "f32[3]");
  ASSERT_TYPE("x: f32[4, 3]", "x[-1, 2]", "f32");
  ASSERT_TYPE("x: f32[4, 3]", "x[:, 1:3]", "f32[4,2]");
  ASSERT_TYPE("x: f32[4, 3]", "x[::2]", "f32[2,3]");
  ASSERT_TYPE("x: f32[5, 3]", "x[1::3, :-1]", "f32[2,2]");
  ASSERT_TYPE("x: f32[4, 3]", "x[2:100]", "f32[2,3]");
  ASSERT_TYPE("x: i32[4, 3, 2]", "x[0][1]", "i32[2]");
  Expr *e = must(typed("x: f32[10]", "x[-8:9:3]"));
  CU_ASSERT_EQUAL(e->index.items[0].lo, 2);
  CU_ASSERT_EQUAL(e->index.items[0].hi, 9);
  CU_ASSERT_EQUAL(e->index.items[0].stride, 3);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[3]");
  e = must(typed("x: f32[10]", "x[-3]"));
  CU_ASSERT_EQUAL(e->index.items[0].lo, 7);
  CU_ASSERT_FALSE(e->index.items[0].dynamic);
  ASSERT_REJECTS("x: f32[4, 3]", "x[4]", "index 4 is out of range for axis 0 of f32[4,3] (size 4)");
  ASSERT_REJECTS("x: f32[4, 3]", "x[0, 0, 0]", "too many indices: f32[4,3] has rank 2, but 3 are given");
  ASSERT_REJECTS("x: f32[4, 3]", "x[3:1]", "this slice of axis 0 of f32[4,3] is empty");
  ASSERT_REJECTS("x: f32[4, 3]", "x[::0]", "a slice step must be positive");
  ASSERT_REJECTS("x: f32[4, 3], n: i32", "x[n]", "a run-time index must be a loop variable");
  ASSERT_REJECTS("x: f32[4, 3]", "x[true]", "an index must be an i32 scalar");
}

static void test_dynamic_index(void) {
  const char *src =
      "model m {\n"
      "  fn f(x: f32[8, 10]) -> f32[8] {\n"
      "    var s = zeros([8])\n"
      "    for t in 1..5 {\n"
      "      let a = x[:, t]\n"
      "      let b = x[:, 2 * t - 2]\n"
      "      let c = x[:, -t + 5]\n"
      "      let d = x[:, t + 5]\n"
      "      s = s + a + b + c + d\n"
      "    }\n"
      "    return s\n"
      "  }\n"
      "}\n";
  CU_ASSERT(fe_run(src, true, NULL, 0));
  Expr *e = let_value("f", "b");
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT(e->index.items[1].dynamic);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[8]");
  /* t + 6 reaches 10 on an axis of size 10 */
  char bad[1024];
  snprintf(bad, sizeof bad, "%s", src);
  char *p = strstr(bad, "[:, t + 5]");
  p[8] = '6';
  CU_ASSERT_FALSE(fe_run(bad, true, NULL, 0));
  ASSERT_MSG("index out of range: it takes values 7..10, but axis 1 of f32[8,10] has size 10");
}

/* ---- builtins ---------------------------------------------------------------------------- */

typedef struct BuiltinCase {
  const char *name;   /* the builtin (every one in builtins.def has a row) */
  const char *args;   /* arguments of the function the call sits in */
  const char *expr;
  const char *type;   /* expected result type */
} BuiltinCase;

static const BuiltinCase builtin_cases[] = {
    {"exp", "x: f32[2, 3]", "exp(x)", "f32[2,3]"},
    {"log", "x: f64[4]", "log(x)", "f64[4]"},
    {"sqrt", "x: f32[2]", "sqrt(x)", "f32[2]"},
    {"rsqrt", "x: f32[2]", "rsqrt(x)", "f32[2]"},
    {"abs", "n: i32[3]", "abs(n)", "i32[3]"},
    {"tanh", "x: f32[2, 2]", "tanh(x)", "f32[2,2]"},
    {"sigmoid", "x: f32[5]", "sigmoid(x)", "f32[5]"},
    {"relu", "x: f32[1, 2, 3]", "relu(x)", "f32[1,2,3]"},
    {"gelu", "x: f32[3]", "gelu(x)", "f32[3]"},
    {"pow", "x: f32[2, 3], y: f32[3]", "pow(x, y)", "f32[2,3]"},
    {"maximum", "x: f32[2, 3]", "maximum(x, 0.0)", "f32[2,3]"},
    {"minimum", "n: i32[4], m: i32[2, 1]", "minimum(n, m)", "i32[2,4]"},
    {"clip", "x: f32[2, 3], lo: f32[3]", "clip(x, lo, 1.0)", "f32[2,3]"},
    {"where", "c: bool[2, 1], x: f32[3]", "where(c, x, 0.0)", "f32[2,3]"},
    {"sum", "x: f32[2, 3, 4]", "sum(x, axis = [0, 2])", "f32[3]"},
    {"mean", "x: f32[2, 3, 4]", "mean(x, axis = -1, keepdims = true)", "f32[2,3,1]"},
    {"max", "x: f32[2, 3]", "max(x)", "f32"},
    {"min", "n: i32[2, 3]", "min(n, 0)", "i32[3]"},
    {"logsumexp", "x: f32[2, 3]", "logsumexp(x, axis = 1)", "f32[2]"},
    {"argmax", "x: f32[2, 3, 4]", "argmax(x, axis = 1)", "i32[2,4]"},
    {"reshape", "x: f32[4, 6]", "reshape(x, [2, -1, 3])", "f32[2,4,3]"},
    {"flatten", "x: f32[2, 3, 4, 5]", "flatten(x)", "f32[2,60]"},
    {"transpose", "x: f32[2, 3, 4]", "transpose(x)", "f32[2,4,3]"},
    {"permute", "x: f32[2, 3, 4]", "permute(x, [2, 0, 1])", "f32[4,2,3]"},
    {"squeeze", "x: f32[2, 1, 4]", "squeeze(x, 1)", "f32[2,4]"},
    {"unsqueeze", "x: f32[2, 4]", "unsqueeze(x, -1)", "f32[2,4,1]"},
    {"broadcast_to", "x: f32[3]", "broadcast_to(x, [2, 3])", "f32[2,3]"},
    {"concat", "a: f32[2, 3], b: f32[2, 5]", "concat([a, b], axis = 1)", "f32[2,8]"},
    {"zeros", "", "zeros([2, 3])", "f32[2,3]"},
    {"ones", "", "ones([4])", "f32[4]"},
    {"full", "", "full([2, 2], 0.5)", "f32[2,2]"},
    {"zeros_like", "n: i32[3, 2]", "zeros_like(n)", "i32[3,2]"},
    {"ones_like", "x: f64[3]", "ones_like(x)", "f64[3]"},
    {"arange", "", "arange(5)", "i32[5]"},
    {"causal_mask", "", "causal_mask(4)", "bool[4,4]"},
    {"one_hot", "y: i32[8]", "one_hot(y, 10)", "f32[8,10]"},
    {"matmul", "a: f32[2, 3], b: f32[3, 4]", "matmul(a, b)", "f32[2,4]"},
    {"conv2d", "x: f32[8, 3, 28, 28], w: f32[16, 3, 5, 5], b: f32[16]",
     "conv2d(x, w, b, stride = 2, padding = [2, 1])", "f32[8,16,14,13]"},
    {"maxpool2d", "x: f32[8, 4, 7, 7]", "maxpool2d(x, 2)", "f32[8,4,3,3]"},
    {"avgpool2d", "x: f32[8, 4, 7, 7]", "avgpool2d(x, 3, stride = 1, padding = 1)", "f32[8,4,7,7]"},
    {"embed", "t: f32[96, 16], ids: i32[4, 10]", "embed(t, ids)", "f32[4,10,16]"},
    {"softmax", "x: f32[2, 3]", "softmax(x, axis = 0)", "f32[2,3]"},
    {"log_softmax", "x: f32[2, 3]", "log_softmax(x)", "f32[2,3]"},
    {"layernorm", "x: f32[4, 8], g: f32[8], b: f32[8]", "layernorm(x, g, b, eps = 1e-6)", "f32[4,8]"},
    {"dropout", "x: f32[4, 8]", "dropout(x, 0.1)", "f32[4,8]"},
    {"cross_entropy", "l: f32[4, 5, 10], y: i32[4, 5]", "cross_entropy(l, y)", "f32"},
    {"mse", "p: f64[4, 2], t: f64[4, 2]", "mse(p, t)", "f64"},
    {"binary_cross_entropy", "p: f32[4], t: f32[4]", "binary_cross_entropy(p, t)", "f32"},
    {"f32", "n: i32[3]", "f32(n)", "f32[3]"},
    {"f64", "x: f32[3]", "f64(x)", "f64[3]"},
    {"i32", "x: f32[3]", "i32(x)", "i32[3]"},
    {"bool", "x: f32[3]", "bool(x)", "bool[3]"},
};
enum { NCASES = sizeof builtin_cases / sizeof *builtin_cases };

static void test_builtin_shapes(void) {
  for (int i = 0; i < NCASES; i++) {
    const BuiltinCase *bc = &builtin_cases[i];
    const char *got = type_of(bc->args, bc->expr);
    if (strcmp(got, bc->type)) fprintf(stderr, "\n%s: got %s, want %s\n%s", bc->expr, got, bc->type, fe_msgs());
    CU_ASSERT_STRING_EQUAL(got, bc->type);
    Expr *e = let_value("f", "_r");
    CU_ASSERT(e && e->kind == EX_CALL && e->call.bi && !strcmp(e->call.bi->name, bc->name));
  }
}

/* The table above covers builtins.def: a new builtin needs a case. */
static void test_builtin_table_covered(void) {
  for (int id = 0; id < BI_COUNT; id++) {
    const Builtin *bi = builtin_get(id);
    bool found = false;
    for (int i = 0; i < NCASES; i++)
      if (!strcmp(builtin_cases[i].name, bi->name)) found = true;
    if (!found) fprintf(stderr, "\nbuiltin %s has no shape case\n", bi->name);
    CU_ASSERT(found);
    CU_ASSERT_PTR_EQUAL(builtin_find(bi->name), bi);
    CU_ASSERT(bi->rule && bi->rule[0]);
  }
  CU_ASSERT_PTR_NULL(builtin_find("no_such_builtin"));
}

static void test_builtin_attributes(void) {
  Expr *e = must(typed("x: f32[2, 3, 4]", "sum(x, axis = [-1, 0], keepdims = true)"));
  const CallAttrs *at = e->call.attrs;
  CU_ASSERT_EQUAL_FATAL(at->naxes, 2);
  CU_ASSERT(at->keepdims);
  CU_ASSERT_EQUAL(at->axes[0], 0); /* axes sorted, non-negative */
  CU_ASSERT_EQUAL(at->axes[1], 2);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[1,3,1]");
  e = must(typed("x: f32[1, 3, 9, 9], w: f32[2, 3, 3, 3]", "conv2d(x, w, stride = [2, 1], padding = 1)"));
  at = e->call.attrs;
  CU_ASSERT_EQUAL(at->stride[0], 2);
  CU_ASSERT_EQUAL(at->stride[1], 1);
  CU_ASSERT_EQUAL(at->pad[0], 1);
  CU_ASSERT_EQUAL(at->pad[1], 1);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[1,2,5,9]");
  e = must(typed("x: f32[1, 3, 9, 9]", "maxpool2d(x, [3, 2], stride = 2)"));
  at = e->call.attrs;
  CU_ASSERT_EQUAL(at->window[0], 3);
  CU_ASSERT_EQUAL(at->window[1], 2);
  CU_ASSERT_EQUAL(at->stride[0], 2);
  CU_ASSERT_EQUAL(at->stride[1], 2);
  CU_ASSERT_EQUAL(at->pad[0], 0);
  CU_ASSERT_EQUAL(at->pad[1], 0);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[1,3,4,4]");
  e = must(typed("x: f32[2, 3, 4]", "transpose(x, 0, 2)"));
  at = e->call.attrs;
  CU_ASSERT_EQUAL(at->perm[0], 2);
  CU_ASSERT_EQUAL(at->perm[1], 1);
  CU_ASSERT_EQUAL(at->perm[2], 0);
  e = must(typed("x: f32[4, 8]", "layernorm(x)"));
  CU_ASSERT_DOUBLE_EQUAL(e->call.attrs->eps, 1e-5, 0);
  e = must(typed("x: f32[4, 8]", "dropout(x, p = 0.25)"));
  CU_ASSERT_DOUBLE_EQUAL(e->call.attrs->p, 0.25, 0);
  e = must(typed("", "full([3], 2.5)"));
  CU_ASSERT_DOUBLE_EQUAL(e->call.attrs->value, 2.5, 0);
  e = must(typed("x: f32[4, 6]", "reshape(x, [-1, 8])"));
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[3,8]"); /* the result type is all reshape needs */
  e = must(typed("x: f32[2, 3]", "concat([x, x, x], axis = -1)"));
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[2,9]");
  CU_ASSERT_EQUAL(e->call.attrs->axis, 1);
  e = must(typed("x: f32[2, 5]", "softmax(x, axis = 0)"));
  CU_ASSERT_EQUAL(e->call.attrs->axis, 0);
  e = must(typed("x: f32[2, 5]", "argmax(x, keepdims = true)"));
  CU_ASSERT_EQUAL(e->call.attrs->axis, 1);
  CU_ASSERT(e->call.attrs->keepdims);
  e = must(typed("y: i32[4]", "one_hot(y, 7)"));
  CU_ASSERT_EQUAL(e->call.attrs->classes, 7);
  CU_ASSERT_STRING_EQUAL(tstr(&e->ty), "f32[4,7]");
}

static void test_builtin_errors(void) {
  ASSERT_REJECTS("x: f32[2, 3]", "sum(x, axes = 1)", "sum() has no argument named 'axes'; did you mean 'axis'?");
  ASSERT_REJECTS("x: f32[2, 3]", "reshape(x)", "reshape() needs the argument 'shape'");
  ASSERT_MSG("note: reshape(x, [d0, d1, ...]) one d may be -1");
  ASSERT_REJECTS("x: f32[2, 3]", "relu(x, x)", "too many arguments: relu() takes at most 1");
  ASSERT_REJECTS("n: i32[3]", "exp(n)", "exp() needs a floating-point tensor, but this is i32[3]");
  ASSERT_REJECTS("x: f32[4, 6]", "reshape(x, [5, 5])", "cannot reshape f32[4,6] (24 elements) to f32[5,5] (25 elements)");
  ASSERT_REJECTS("x: f32[8, 1, 28, 28], w: f32[16, 3, 3, 3]", "conv2d(x, w)",
                 "conv2d(): the input has 1 channel but the filter expects 3");
  ASSERT_REJECTS("x: f32[1, 1, 3, 3]", "avgpool2d(x, 4)", "avgpool2d(): the 4x4 window is larger than the input");
  ASSERT_REJECTS("a: f32[2, 3], b: f32[3, 4]", "concat([a, b], axis = 1)", "concat() along axis 1: f32[3,4] does not fit f32[2,3]");
  ASSERT_REJECTS("x: f32[4, 8], g: f32[4]", "layernorm(x, g)", "layernorm(): gamma must be f32[8]");
  ASSERT_REJECTS("l: f32[4, 10], y: f32[4]", "cross_entropy(l, y)", "cross_entropy() needs i32 class labels");
  ASSERT_REJECTS("l: f32[4, 10], y: i32[5]", "cross_entropy(l, y)", "logits f32[4,10] need labels i32[4]");
  ASSERT_REJECTS("x: f32[4]", "dropout(x, 1.0)", "dropout(): p must be in [0, 1), not 1");
  ASSERT_REJECTS("x: f32[2, 3]", "squeeze(x, 0)", "squeeze(): axis 0 of f32[2,3] has size 2, not 1");
  ASSERT_REJECTS("x: f32[2, 3]", "permute(x, [0, 0])", "axis 0 appears twice");
  ASSERT_REJECTS("x: f32[2, 3]", "where(x, x, x)", "where() needs a bool condition");
  ASSERT_REJECTS("t: f32[10, 4], i: f32[3]", "embed(t, i)", "embed() needs i32 indices");
}

/* ---- parameters and the train block ------------------------------------------------------ */

static void test_param_fans(void) {
  double fi, fo;
  Type t = type_make(TY_F32, 2, (int64_t[]){784, 256});
  param_fans(&t, &fi, &fo);
  CU_ASSERT_DOUBLE_EQUAL(fi, 784, 0);
  CU_ASSERT_DOUBLE_EQUAL(fo, 256, 0);
  t = type_make(TY_F32, 4, (int64_t[]){32, 3, 5, 5}); /* [O, C, KH, KW] */
  param_fans(&t, &fi, &fo);
  CU_ASSERT_DOUBLE_EQUAL(fi, 3 * 25, 0);
  CU_ASSERT_DOUBLE_EQUAL(fo, 32 * 25, 0);
  t = type_make(TY_F32, 3, (int64_t[]){2, 64, 192}); /* stacked [L, in, out] counts as [out, in, rf] */
  param_fans(&t, &fi, &fo);
  CU_ASSERT_DOUBLE_EQUAL(fi, 64 * 192, 0);
  CU_ASSERT_DOUBLE_EQUAL(fo, 2 * 192, 0);
  t = type_make(TY_F32, 1, (int64_t[]){10});
  param_fans(&t, &fi, &fo);
  CU_ASSERT_DOUBLE_EQUAL(fi, 10, 0);
  CU_ASSERT_DOUBLE_EQUAL(fo, 10, 0);
}

static const ParamDecl *param_named(const char *name) {
  for (int i = 0; i < F.p->model->params.n; i++)
    if (!strcmp(((ParamDecl *)F.p->model->params.v[i])->name, name)) return F.p->model->params.v[i];
  return NULL;
}

static void test_initializers(void) {
  const char *src =
      "model m {\n"
      "  param a: f32[784, 256] = he_normal()\n"
      "  param b: f32[784, 256] = glorot_uniform()\n"
      "  param c: f32[10] = normal(std = 0.1)\n"
      "  param d: f32[10] = uniform(-1, 1)\n"
      "  param e: f32[10] = 0.5\n"
      "  param f: f32[10]\n"
      "  param g: f64[2, 3] = ones()\n"
      "  param h: f32[16, 3, 3, 3] = kaiming_uniform(gain = 1)\n"
      "  param i: f32[10] = trunc_normal()\n"
      "  param j: f32[10] = constant(value = 3)\n"
      "  param k: f32[100, 50] = xavier_normal()\n"
      "}\n";
  CU_ASSERT_FATAL(fe_run(src, true, NULL, 0));
  const ParamDecl *p = param_named("a");
  CU_ASSERT_EQUAL(p->spec.kind, INIT_NORMAL);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.b, sqrt(2.0 / 784), 1e-12);
  p = param_named("b");
  CU_ASSERT_EQUAL(p->spec.kind, INIT_UNIFORM);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.b, sqrt(6.0 / (784 + 256)), 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.a, -p->spec.b, 0);
  p = param_named("c");
  CU_ASSERT_EQUAL(p->spec.kind, INIT_NORMAL);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.a, 0, 0);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.b, 0.1, 0);
  p = param_named("d");
  CU_ASSERT_DOUBLE_EQUAL(p->spec.a, -1, 0);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.b, 1, 0);
  CU_ASSERT_EQUAL(param_named("e")->spec.kind, INIT_CONST);
  CU_ASSERT_DOUBLE_EQUAL(param_named("e")->spec.a, 0.5, 0);
  CU_ASSERT_EQUAL(param_named("f")->spec.kind, INIT_ZEROS);
  CU_ASSERT_EQUAL(param_named("g")->spec.kind, INIT_ONES);
  CU_ASSERT_STRING_EQUAL(tstr(&param_named("g")->ty), "f64[2,3]");
  p = param_named("h"); /* fan_in = 3*3*3, gain 1: bound sqrt(3 * 2 / 27) */
  CU_ASSERT_DOUBLE_EQUAL(p->spec.b, sqrt(6.0 / 27), 1e-12);
  p = param_named("i");
  CU_ASSERT_EQUAL(p->spec.kind, INIT_TRUNC_NORMAL);
  CU_ASSERT_DOUBLE_EQUAL(p->spec.b, 0.02, 0);
  CU_ASSERT_DOUBLE_EQUAL(param_named("j")->spec.a, 3, 0);
  CU_ASSERT_DOUBLE_EQUAL(param_named("k")->spec.b, sqrt(2.0 / 150), 1e-12);
  for (int i = 0; i < F.p->model->params.n; i++) CU_ASSERT_EQUAL(((ParamDecl *)F.p->model->params.v[i])->index, i);
  CU_ASSERT_FALSE(fe_run("model m { param a: f32[4] = he_normall() }", true, NULL, 0));
  ASSERT_MSG("unknown initializer 'he_normall'; did you mean 'he_normal'?");
  CU_ASSERT_FALSE(fe_run("model m { param a: i32[4] }", true, NULL, 0));
  ASSERT_MSG("parameters must be f32 or f64, not i32");
}

static char *read_sample(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/samples/%s", NNC_SOURCE_DIR, name);
  size_t len;
  const char *why;
  return read_file(path, 1 << 20, &len, &why);
}

static void test_train_block(void) {
  char *src = read_sample("fashion_mlp.nn");
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  CU_ASSERT_FATAL(fe_run(src, true, NULL, 0));
  free(src);
  const TrainSpec *t = &F.p->model->train->spec;
  CU_ASSERT_STRING_EQUAL(t->loss, "loss");
  CU_ASSERT_STRING_EQUAL(t->predict, "forward");
  CU_ASSERT_PTR_NULL(t->generate);
  CU_ASSERT_STRING_EQUAL(F.p->model->train->loss->name, "loss"); /* the checker's link to the declaration */
  CU_ASSERT_EQUAL(t->opt.kind, OPT_SGD);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.lr, 0.05, 0);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.momentum, 0.9, 0);
  CU_ASSERT_EQUAL(t->data.kind, DATA_IDX);
  CU_ASSERT_DOUBLE_EQUAL(t->data.scale, 1.0 / 255, 1e-15);
  CU_ASSERT(strstr(t->data.path[1], "train-labels") != NULL);
  CU_ASSERT_EQUAL(t->test.kind, DATA_IDX);
  const char *tb =
      "model m {\n"
      "  param w: f32[4, 3]\n"
      "  fn loss(x: f32[8, 4], y: f32[8, 3]) -> f32 { return mse(x @ w, y) }\n"
      "  train {\n"
      "    minimize = loss; optimizer = adamw(lr = 0.003, beta2 = 0.95)\n"
      "    schedule = step(every = 2, gamma = 0.5)  epochs = 7  clip_grad_norm = 2  seed = 9\n"
      "    data = csv(\"train.csv\", label = 0, scale = 0.5)  test = npy(\"x.npy\", \"y.npy\")\n"
      "  }\n"
      "}\n";
  CU_ASSERT_FATAL(fe_run(tb, true, NULL, 0));
  t = &F.p->model->train->spec;
  CU_ASSERT_EQUAL(t->opt.kind, OPT_ADAMW);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.lr, 0.003, 0);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.beta1, 0.9, 0);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.beta2, 0.95, 0);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.eps, 1e-8, 0);
  CU_ASSERT_DOUBLE_EQUAL(t->opt.weight_decay, 0.01, 0);
  CU_ASSERT_EQUAL(t->sched.kind, SCHED_STEP);
  CU_ASSERT_EQUAL(t->sched.every, 2);
  CU_ASSERT_DOUBLE_EQUAL(t->sched.gamma, 0.5, 0);
  CU_ASSERT_EQUAL(t->epochs, 7);
  CU_ASSERT_DOUBLE_EQUAL(t->clip_norm, 2, 0);
  CU_ASSERT_EQUAL(t->seed, 9);
  CU_ASSERT_EQUAL(t->data.kind, DATA_CSV);
  CU_ASSERT_EQUAL(t->data.label_col, 0);
  CU_ASSERT_DOUBLE_EQUAL(t->data.scale, 0.5, 0);
  CU_ASSERT_EQUAL(t->test.kind, DATA_NPY);
  CU_ASSERT_STRING_EQUAL(t->test.path[0], "x.npy");
  CU_ASSERT_FALSE(fe_run("model m { fn loss(x: f32[2]) -> f32 { return sum(x) }\n"
                         " train { minimize = loss  epoch = 2 } }", true, NULL, 0));
  ASSERT_MSG("unknown train setting 'epoch'; did you mean 'epochs'?");
}

/* ---- samples ---------------------------------------------------------------------------- */

/* Small sizes for a sample's constants: every integer constant above 8
 * becomes 8, B becomes 2 and T becomes 4. */
static int small_defines(const char *src, Define *defs, char names[][32], int cap) {
  int n = 0;
  for (const char *s = src; (s = strchr(s, '\n')) && n < cap; s++) {
    char name[32];
    long long v; /* `const NAME = V` and a run-time batch's `dim NAME <= V` */
    if (sscanf(s, "\nconst %31[A-Za-z0-9_] = %lld", name, &v) != 2 &&
        sscanf(s, "\ndim %31[A-Za-z0-9_] <= %lld", name, &v) != 2)
      continue;
    const char *nv = !strcmp(name, "B") ? "2" : !strcmp(name, "T") ? "4" : v > 8 ? "8" : NULL;
    if (!nv) continue;
    snprintf(names[n], 32, "%s", name);
    defs[n].name = names[n];
    defs[n].value = nv;
    n++;
  }
  return n;
}

static void test_samples(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/samples", NNC_SOURCE_DIR);
  DIR *dp = opendir(dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
  int count = 0;
  for (struct dirent *de; (de = readdir(dp));) {
    size_t l = strlen(de->d_name);
    if (l < 4 || strcmp(de->d_name + l - 3, ".nn")) continue;
    char *src = read_sample(de->d_name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    count++;
    /* as written: no error and no warning */
    bool ok = fe_run(src, true, NULL, 0);
    if (!ok || F.d.nwarnings) fprintf(stderr, "\n%s:\n%s", de->d_name, fe_msgs());
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(F.d.nwarnings, 0);
    CU_ASSERT(F.p->model && F.p->model->train && F.p->model->train->spec.loss);
    /* at small sizes */
    Define defs[32];
    char names[32][32];
    int nd = small_defines(src, defs, names, 32);
    CU_ASSERT(nd > 0);
    ok = fe_run(src, true, defs, nd);
    if (!ok || F.d.nwarnings) fprintf(stderr, "\n%s (small):\n%s", de->d_name, fe_msgs());
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(F.d.nwarnings, 0);
    /* B really changed the types */
    const FnDecl *loss = ok ? F.p->model->train->loss : NULL;
    CU_ASSERT(loss && loss->nargs >= 1 && loss->args[0].ty.dim[0] == 2); /* a run-time one: its bound */
    free(src);
  }
  closedir(dp);
  CU_ASSERT(count >= 5);
}

static void test_sample_shapes(void) {
  char *src = read_sample("fashion_mlp.nn");
  CU_ASSERT_FATAL(fe_run(src, true, NULL, 0));
  free(src);
  int64_t total = 0;
  for (int i = 0; i < F.p->model->params.n; i++) total += type_numel(&((ParamDecl *)F.p->model->params.v[i])->ty);
  CU_ASSERT_EQUAL(total, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("forward", "h1")->ty), "f32[B<=128,256]");
  src = read_sample("fashion_cnn.nn");
  CU_ASSERT_FATAL(fe_run(src, true, NULL, 0));
  free(src);
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("forward", "h1")->ty), "f32[B<=64,32,14,14]");
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("forward", "h2")->ty), "f32[B<=64,64,7,7]");
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("forward", "h3")->ty), "f32[B<=64,128]");
  src = read_sample("tiny_gpt.nn");
  CU_ASSERT_FATAL(fe_run(src, true, NULL, 0));
  free(src);
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("logits", "s")->ty), "f32[B<=16,4,64,64]");
  CU_ASSERT_STRING_EQUAL(tstr(&let_value("logits", "y")->ty), "f32[B<=16,64,128]");
}

int main(void) {
  static const UnitTest tests[] = {
      {"constant folding", test_constant_folding},
      {"-D overrides", test_defines},
      {"weak literals", test_weak_literals},
      {"broadcasting", test_broadcasting},
      {"matmul", test_matmul},
      {"indexing", test_indexing},
      {"dynamic index", test_dynamic_index},
      {"builtin shapes", test_builtin_shapes},
      {"builtin table covered", test_builtin_table_covered},
      {"builtin attributes", test_builtin_attributes},
      {"builtin errors", test_builtin_errors},
      {"param fans", test_param_fans},
      {"initializers", test_initializers},
      {"train block", test_train_block},
      {"samples", test_samples},
      {"sample shapes", test_sample_shapes},
      {0, 0},
  };
  int rc = unit_run("check", tests);
  fe_close();
  return rc;
}
