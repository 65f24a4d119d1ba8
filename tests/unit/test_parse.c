/* test_parse.c — the lexer and parser in process: AST shapes for
 * precedence, slices, keyword arguments, trailing commas, literals,
 * comments, locations, statements, syntax-error recovery and the parser's
 * limits. */
#include "frontend_harness.h"

/* ---- lexer and parser ------------------------------------------------------------ */

static void test_precedence(void) {
  ASSERT_TREE("-x**2", "(- (** x 2))");
  ASSERT_TREE("2**3**2", "(** 2 (** 3 2))");
  ASSERT_TREE("a+b*c@d", "(+ a (@ (* b c) d))");
  ASSERT_TREE("a@b*c", "(* (@ a b) c)");
  ASSERT_TREE("a - b - c", "(- (- a b) c)");
  ASSERT_TREE("a / b % c", "(% (/ a b) c)");
  ASSERT_TREE("(a + b) * c", "(* (+ a b) c)");
  ASSERT_TREE("-a @ b", "(@ (- a) b)");
  ASSERT_TREE("+a - -b", "(- (+ a) (- b))");
  ASSERT_TREE("x ** -1", "(** x (- 1))");
  ASSERT_TREE("a < b && c >= d || !e", "(|| (&& (< a b) (>= c d)) (! e))");
  ASSERT_TREE("a + 1 == b * 2", "(== (+ a 1) (* b 2))");
  ASSERT_TREE("a != b && c <= d", "(&& (!= a b) (<= c d))");
  ASSERT_TREE("!a && b", "(&& (! a) b)");
  ASSERT_TREE("a || b && c", "(|| a (&& b c))");
  ASSERT_TREE("x[0][1] + f(y)[2]", "(+ x[0][1] f(y)[2])");
  ASSERT_TREE("-x[1]", "(- x[1])");
}

static void test_comparisons_do_not_chain(void) {
  /* == and < share one non-associative level: a < b < c is an error */
  CU_ASSERT_PTR_NULL(parse_expr("a < b < c"));
  CU_ASSERT_PTR_NULL(parse_expr("a == b == c"));
  CU_ASSERT_PTR_NULL(parse_expr("a < b == c"));
  ASSERT_MSG("t.nn:1:17: error: ");
}

static void test_slices(void) {
  ASSERT_TREE("x[:, 1:3, ::2]", "x[:, 1:3, ::2]");
  ASSERT_TREE("x[1:, :-1, 2::3]", "x[1:, :(- 1), 2::3]");
  ASSERT_TREE("x[i + 1, ::-1]", "x[(+ i 1), ::(- 1)]");
  const Expr *e = parse_expr("x[:, t]");
  CU_ASSERT_EQUAL(e->kind, EX_INDEX);
  CU_ASSERT_EQUAL(e->index.nitems, 2);
  CU_ASSERT_EQUAL(e->index.items[0].kind, IX_SLICE);
  CU_ASSERT_PTR_NULL(e->index.items[0].start);
  CU_ASSERT_PTR_NULL(e->index.items[0].stop);
  CU_ASSERT_EQUAL(e->index.items[1].kind, IX_AT);
}

static void test_calls_and_lists(void) {
  ASSERT_TREE("sum(x, axis = 1, keepdims = true)", "sum(x, axis=1, keepdims=true)");
  ASSERT_TREE("f(x,)", "f(x)");
  ASSERT_TREE("f()", "f()");
  ASSERT_TREE("reshape(x, [2, -1],)", "reshape(x, [2, (- 1)])");
  ASSERT_TREE("[1, 2, 3,]", "[1, 2, 3]");
  ASSERT_TREE("[]", "[]");
  ASSERT_TREE("f32(n) * 2", "(* f32(n) 2)");
  ASSERT_TREE("concat([a, b], axis = -1)", "concat([a, b], axis=(- 1))");
  const Expr *e = parse_expr("conv2d(x, w, padding = 1)");
  CU_ASSERT_EQUAL(e->call.nargs, 3);
  CU_ASSERT_PTR_NULL(e->call.args[1].name);
  CU_ASSERT_STRING_EQUAL(e->call.args[2].name, "padding");
}

static void test_literals(void) {
  ASSERT_TREE("1.5e3 + 2e-2 + 007", "(+ (+ 1500 0.02) 7)");
  const Expr *e = parse_expr("1e3");
  CU_ASSERT_EQUAL(e->kind, EX_FLOAT);
  e = parse_expr("42");
  CU_ASSERT_EQUAL(e->kind, EX_INT);
  CU_ASSERT_EQUAL(e->lit.i, 42);
  e = parse_expr("\"a\\tb\\\"c\\\\d\\n\"");
  CU_ASSERT_EQUAL(e->kind, EX_STRING);
  CU_ASSERT_STRING_EQUAL(e->lit.s, "a\tb\"c\\d\n");
  e = parse_expr("true || false");
  CU_ASSERT_STRING_EQUAL(show(e), "(|| true false)");
  /* the largest accepted integer, 2^62 - 1, and the first refused */
  e = parse_expr("4611686018427387903");
  CU_ASSERT_EQUAL(e->lit.i, 4611686018427387903LL);
  CU_ASSERT_PTR_NULL(parse_expr("4611686018427387904"));
  ASSERT_MSG("integer literal is too large");
  CU_ASSERT_PTR_NULL(parse_expr("1_000"));
  ASSERT_MSG("invalid number '1_000'");
}

static void test_comments_and_separators(void) {
  CU_ASSERT(fe_run("/* block\n comment */ const A = 1; const B = 2 // line\nconst C = /* inside */ 3;;\n", false, NULL, 0));
  CU_ASSERT_EQUAL(F.p->consts.n, 3);
  CU_ASSERT_FALSE(fe_run("const A = 1 /* open", false, NULL, 0));
  ASSERT_MSG("t.nn:1:13: error: unterminated comment");
}

static void test_locations(void) {
  const Expr *e = parse_expr("ab + cd * 2");
  /* "const X = " is 10 columns */
  CU_ASSERT_EQUAL(e->loc.col, 11);
  CU_ASSERT_EQUAL(e->loc.ecol, 21);
  CU_ASSERT_EQUAL(e->bin.op_loc.col, 14);
  CU_ASSERT_EQUAL(e->bin.op_loc.ecol, 14);
  CU_ASSERT_EQUAL(e->bin.r->loc.col, 16);
  e = parse_expr("(a + b)");
  CU_ASSERT_EQUAL(e->loc.col, 11); /* the parentheses belong to the span */
  CU_ASSERT_EQUAL(e->loc.ecol, 17);
  fe_run("model m {\n  fn f(x: f32) -> f32 {\n\treturn x\n  }\n}\n", false, NULL, 0);
  FnDecl *f = ((Model *)F.p->models.v[0])->fns.v[0];
  CU_ASSERT_EQUAL(f->loc.line, 2);
  CU_ASSERT_EQUAL(f->loc.col, 6);
  CU_ASSERT_EQUAL(f->body->loc.line, 3);
  CU_ASSERT_EQUAL(f->body->loc.col, 2); /* a tab is one byte column */
  CU_ASSERT_EQUAL(f->body_end.line, 4);
  CU_ASSERT_EQUAL(f->body_end.col, 3);
}

static void test_statements(void) {
  const char *src =
      "model m {\n"
      "  param w: f32[2, 2] = ones()\n"
      "  fn f(x: f32[2], n: i32,) -> f32[2] {\n"
      "    let a: f32[2] = x; var b = x\n"
      "    b = b * 2.0  b += a  b -= a  b *= a  b /= a\n"
      "    for i in 0..2 { b[i] = a[i] }\n"
      "    return b\n"
      "  }\n"
      "}\n";
  CU_ASSERT(fe_run(src, true, NULL, 0));
  FnDecl *f = find_fn("f");
  CU_ASSERT_EQUAL(f->nargs, 2);
  int kinds[16], n = 0;
  for (Stmt *s = f->body; s && n < 16; s = s->next) kinds[n++] = s->kind;
  int want[] = {ST_LET, ST_VAR, ST_ASSIGN, ST_ASSIGN, ST_ASSIGN, ST_ASSIGN, ST_ASSIGN, ST_FOR, ST_RETURN};
  CU_ASSERT_EQUAL(n, 9);
  for (int i = 0; i < 9 && i < n; i++) CU_ASSERT_EQUAL(kinds[i], want[i]);
  Stmt *s = f->body->next->next->next; /* b += a */
  CU_ASSERT_EQUAL(s->assign.op, '+');
  Stmt *loop = f->body;
  while (loop->kind != ST_FOR) loop = loop->next;
  CU_ASSERT_EQUAL(loop->loop.lo_v, 0);
  CU_ASSERT_EQUAL(loop->loop.hi_v, 2);
  CU_ASSERT_EQUAL(loop->loop.body->kind, ST_ASSIGN);
  CU_ASSERT_EQUAL(loop->loop.body->assign.target->kind, EX_INDEX);
  CU_ASSERT_EQUAL(loop->loop.sym->lo, 0);
  CU_ASSERT_EQUAL(loop->loop.sym->hi, 1);
}

static void test_syntax_recovery(void) {
  /* three statements with errors, each reported; the parse goes on */
  const char *src =
      "model m {\n"
      "  fn f(x: f32) -> f32 {\n"
      "    let a = x + + \n"
      "    let b = x\n"
      "    let = 2\n"
      "    let c = (x * 2\n"
      "    return x\n"
      "  }\n"
      "}\n";
  CU_ASSERT_FALSE(fe_run(src, false, NULL, 0));
  CU_ASSERT_EQUAL(F.d.nerrors, 3);
  ASSERT_MSG("t.nn:4:5: error: expected expression, found 'let'");
  ASSERT_MSG("t.nn:5:9: error: expected identifier or '(', found '='");
  ASSERT_MSG("t.nn:7:5: error: expected ')' or an operator, found 'return'");
  ASSERT_MSG("t.nn:6:13: note: to match this '('");
  /* the end of the file inside a block names the open brace */
  CU_ASSERT_FALSE(fe_run("model m {\n  fn f(x: f32) -> f32 {\n    return x\n", false, NULL, 0));
  ASSERT_MSG("found end of file");
  ASSERT_MSG("t.nn:2:23: note: to match this '{'");
}

static void test_limits(void) {
  /* brackets nested past the limit stop the parse at once */
  char *src = malloc(4096);
  int o = sprintf(src, "const X = ");
  for (int i = 0; i < 300; i++) src[o++] = '(';
  strcpy(src + o, "1");
  CU_ASSERT_FALSE(fe_run(src, false, NULL, 0));
  CU_ASSERT_EQUAL(F.d.nerrors, 1);
  ASSERT_MSG("brackets nested too deeply (the limit is 200)");
  /* so does an operator chain past MAX_EXPR_DEPTH */
  src = realloc(src, 8 * MAX_EXPR_DEPTH);
  o = sprintf(src, "const X = 1");
  for (int i = 0; i < MAX_EXPR_DEPTH; i++) o += sprintf(src + o, "+1");
  CU_ASSERT_FALSE(fe_run(src, false, NULL, 0));
  CU_ASSERT_EQUAL(F.d.nerrors, 1);
  ASSERT_MSG("expression nested too deeply (the limit is 1000 levels)");
  /* one level less is fine, and folds */
  o = sprintf(src, "const X = 1");
  for (int i = 0; i < MAX_EXPR_DEPTH - 1; i++) o += sprintf(src + o, "+1");
  strcpy(src + o, "\nmodel m { param w: f32[X] }\n");
  CU_ASSERT(fe_run(src, true, NULL, 0));
  CU_ASSERT_EQUAL(((ParamDecl *)F.p->model->params.v[0])->ty.dim[0], MAX_EXPR_DEPTH);
  free(src);
}

int main(void) {
  static const UnitTest tests[] = {
      {"precedence", test_precedence},
      {"comparisons do not chain", test_comparisons_do_not_chain},
      {"slices", test_slices},
      {"calls and lists", test_calls_and_lists},
      {"literals", test_literals},
      {"comments and separators", test_comments_and_separators},
      {"locations", test_locations},
      {"statements", test_statements},
      {"syntax recovery", test_syntax_recovery},
      {"limits", test_limits},
      {0, 0},
  };
  int rc = unit_run("parse", tests);
  fe_close();
  return rc;
}
