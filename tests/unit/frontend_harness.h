/* frontend_harness.h — what the front-end tests share (test_parse.c,
 * test_check.c, test_diag.c): run the parser and checker on a source in
 * process with diagnostics in a memory stream (fe_run, fe_msgs,
 * ASSERT_MSG), print an expression tree as an s-expression (show,
 * ASSERT_TREE), type an expression in a small model (typed, type_of,
 * ASSERT_TYPE, ASSERT_REJECTS). One test program includes it once. */
#ifndef NNC_FRONTEND_HARNESS_H
#define NNC_FRONTEND_HARNESS_H
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"
#include "ast.h"
#include "check.h"
#include "driver.h"

/* ---- harness ----------------------------------------------------------------- */

/* One compilation: arena, diagnostics in memory, the program. */
typedef struct Fe {
  Arena *a;
  Diag d;
  FILE *out;
  char *msgs;      /* everything the Diag printed (valid after fe_close/fe_msgs) */
  size_t msgs_len;
  char *src;
  Program *p;
  bool parsed;     /* parse_program reported no error */
  bool ok;         /* ... and check_program passed */
} Fe;

static Fe F;

static inline void fe_close(void) {
  if (F.out) fclose(F.out);
  diag_free(&F.d);
  free(F.msgs);
  free(F.src);
  arena_free(F.a);
  memset(&F, 0, sizeof F);
}

/* Parse (and, if `check`, check) `src` as "t.nn". */
static inline bool fe_run(const char *src, bool check, const Define *defs, int ndefs) {
  fe_close();
  F.src = strdup(src);
  F.a = arena_new();
  F.out = open_memstream(&F.msgs, &F.msgs_len);
  diag_init(&F.d, "t.nn", F.src, strlen(F.src), F.out, COLOR_AUTO);
  F.p = parse_program(F.a, F.a, &F.d, F.src, strlen(F.src));
  F.parsed = F.d.nerrors == 0;
  if (check && F.parsed) F.ok = check_program(F.a, &F.d, F.p, defs, ndefs);
  fflush(F.out);
  return check ? F.ok : F.parsed;
}

static inline const char *fe_msgs(void) {
  fflush(F.out);
  return F.msgs ? F.msgs : "";
}

static inline bool msg_has(const char *s) { return strstr(fe_msgs(), s) != NULL; }

#define ASSERT_MSG(s)                                                      \
  do {                                                                     \
    bool has_ = msg_has(s);                                                \
    if (!has_) fprintf(stderr, "\nmissing '%s' in:\n%s\n", s, fe_msgs());  \
    CU_ASSERT(has_);                                                       \
  } while (0)

/* ---- AST as text --------------------------------------------------------------- */

static inline void sx(char *b, size_t n, size_t *o, const Expr *e);

static inline void put(char *b, size_t n, size_t *o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static inline void put(char *b, size_t n, size_t *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (*o < n) *o += (size_t)vsnprintf(b + *o, n - *o, fmt, ap);
  va_end(ap);
}

/* (op l r), (- x), name, 2, 1.5, f(a, k=v), x[i, lo:hi:step], [a, b] */
static inline void sx(char *b, size_t n, size_t *o, const Expr *e) {
  switch (e->kind) {
  case EX_INT: put(b, n, o, "%lld", (long long)e->lit.i); break;
  case EX_FLOAT: put(b, n, o, "%g", e->lit.f); break;
  case EX_BOOL: put(b, n, o, "%s", e->lit.i ? "true" : "false"); break;
  case EX_STRING: put(b, n, o, "\"%s\"", e->lit.s); break;
  case EX_NAME: put(b, n, o, "%s", e->name.id); break;
  case EX_UNARY:
    put(b, n, o, "(%s ", e->un.op == UN_NEG ? "-" : e->un.op == UN_NOT ? "!" : "+");
    sx(b, n, o, e->un.x);
    put(b, n, o, ")");
    break;
  case EX_BINARY:
    put(b, n, o, "(%s ", binop_str(e->bin.op));
    sx(b, n, o, e->bin.l);
    put(b, n, o, " ");
    sx(b, n, o, e->bin.r);
    put(b, n, o, ")");
    break;
  case EX_CALL:
    put(b, n, o, "%s(", e->call.name);
    for (int i = 0; i < e->call.nargs; i++) {
      if (i) put(b, n, o, ", ");
      if (e->call.args[i].name) put(b, n, o, "%s=", e->call.args[i].name);
      sx(b, n, o, e->call.args[i].value);
    }
    put(b, n, o, ")");
    break;
  case EX_INDEX:
    sx(b, n, o, e->index.base);
    put(b, n, o, "[");
    for (int i = 0; i < e->index.nitems; i++) {
      const IndexItem *it = &e->index.items[i];
      if (i) put(b, n, o, ", ");
      if (it->start) sx(b, n, o, it->start);
      if (it->kind == IX_SLICE) {
        put(b, n, o, ":");
        if (it->stop) sx(b, n, o, it->stop);
        if (it->step) {
          put(b, n, o, ":");
          sx(b, n, o, it->step);
        }
      }
    }
    put(b, n, o, "]");
    break;
  case EX_LIST:
    put(b, n, o, "[");
    for (int i = 0; i < e->list.n; i++) {
      if (i) put(b, n, o, ", ");
      sx(b, n, o, e->list.elems[i]);
    }
    put(b, n, o, "]");
    break;
  }
}

static inline const char *show(const Expr *e) {
  static char buf[1024];
  size_t o = 0;
  buf[0] = 0;
  if (e) sx(buf, sizeof buf, &o, e);
  return buf;
}

/* The tree of `expr`, parsed as the value of a constant (not checked). */
static inline const Expr *parse_expr(const char *expr) {
  char src[1024];
  snprintf(src, sizeof src, "const X = %s\n", expr);
  if (!fe_run(src, false, NULL, 0) || F.p->consts.n != 1) return NULL;
  return ((ConstDecl *)F.p->consts.v[0])->value;
}

#define ASSERT_TREE(expr, want)                                             \
  do {                                                                      \
    const char *got_ = show(parse_expr(expr));                              \
    if (strcmp(got_, want)) fprintf(stderr, "\n%s: got %s, want %s\n%s", expr, got_, want, fe_msgs()); \
    CU_ASSERT_STRING_EQUAL(got_, want);                                     \
  } while (0)

/* ---- checked expressions ------------------------------------------------------- */

static inline FnDecl *find_fn(const char *name) {
  Model *m = F.p->model;
  for (int i = 0; m && i < m->fns.n; i++)
    if (!strcmp(((FnDecl *)m->fns.v[i])->name, name)) return m->fns.v[i];
  return NULL;
}

static inline Stmt *find_let_in(Stmt *s, const char *name) {
  for (; s; s = s->next) {
    if ((s->kind == ST_LET || s->kind == ST_VAR) && !strcmp(s->let.name, name)) return s;
    if (s->kind == ST_FOR) {
      Stmt *t = find_let_in(s->loop.body, name);
      if (t) return t;
    }
  }
  return NULL;
}

/* The checked value of `let NAME` in model function FN. */
static inline Expr *let_value(const char *fn, const char *name) {
  FnDecl *f = F.p && F.p->model ? find_fn(fn) : NULL;
  Stmt *s = f ? find_let_in(f->body, name) : NULL;
  return s ? s->let.init : NULL;
}

/* Check `expr` as `let _r = EXPR` in `fn f(ARGS) -> f32` of a model with
 * PARAMS, after the top-level declarations DECLS. NULL when the program
 * does not check (the messages are in fe_msgs()). */
static inline Expr *typed_with(const char *decls, const char *params, const char *args, const char *expr,
                        const Define *defs, int ndefs) {
  char src[4096];
  snprintf(src, sizeof src, "%s\nmodel m {\n%s\n  fn f(%s) -> f32 {\n    let _r = %s\n    return 0.0\n  }\n}\n",
           decls, params, args, expr);
  if (!fe_run(src, true, defs, ndefs)) return NULL;
  return let_value("f", "_r");
}

static inline Expr *typed(const char *args, const char *expr) { return typed_with("", "", args, expr, NULL, 0); }

/* e, which must not be NULL (else the test stops, showing the messages). */
static inline Expr *must(Expr *e) {
  if (!e) fprintf(stderr, "\nunexpected failure:\n%s", fe_msgs());
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  return e;
}

/* The type of EXPR with arguments ARGS, as text ("error" when it fails). */
static inline const char *type_of(const char *args, const char *expr) {
  Expr *e = must(typed(args, expr));
  if (!e) return "error";
  return tstr(&e->ty);
}

#define ASSERT_TYPE(args, expr, want)                                       \
  do {                                                                      \
    const char *got_ = type_of(args, expr);                                 \
    if (strcmp(got_, want)) fprintf(stderr, "\n%s: got %s, want %s\n%s", expr, got_, want, fe_msgs()); \
    CU_ASSERT_STRING_EQUAL(got_, want);                                     \
  } while (0)

/* EXPR must fail to check with a message containing MSG. */
#define ASSERT_REJECTS(args, expr, msg)                                     \
  do {                                                                      \
    CU_ASSERT_PTR_NULL(typed(args, expr));                                  \
    ASSERT_MSG(msg);                                                        \
  } while (0)


#endif
