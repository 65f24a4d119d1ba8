/* check_internal.h — what the checker's files share: check.c (names,
 * constants, types as written, recursion and inlining limits, the
 * program), check_expr.c (expressions), check_stmt.c (statements and
 * function bodies), check_param.c (parameters), check_deriv.c
 * (derivatives), builtins.c (builtin calls) and train.c (the train block). */
#ifndef NNC_CHECK_INTERNAL_H
#define NNC_CHECK_INTERNAL_H
#include "check.h"
#include "strmap.h"

typedef struct Entry Entry;

typedef struct Checker {
  Arena *a;
  Diag *d;
  Program *prog;
  Model *model;
  FnDecl *fn;            /* function being checked, NULL elsewhere */
  StrMap names;          /* name -> Entry: innermost binding, function */
  int depth;             /* check_tensor nesting, at most MAX_EXPR_DEPTH */
  int loops;             /* loops around the statement being checked */
  PtrVec scope_log;      /* Sym* of every live binding, in order */
  int next_id;
  const Define *defs;
  int ndefs;
  Expr *tuple_init;      /* the init of the destructuring let being checked: may give several values */
} Checker;

/* Check an expression that must be a tensor value (not a list or string).
 * Returns false after reporting an error; e->ty is valid on success. */
bool check_tensor(Checker *c, Expr *e);
/* Check an expression that must fold to a constant; reports an error
 * ("... must be a constant") otherwise. */
bool check_const(Checker *c, Expr *e, const char *what);
/* A constant integer (integral floats accepted). */
bool const_int(Checker *c, Expr *e, const char *what, int64_t *out);
bool size_fits(const int64_t *f, int n, int64_t *out);
bool const_float(Checker *c, Expr *e, const char *what, double *out);
/* An integer or a list of integers, flattened into out[0..*n) (max cap). */
bool const_int_list(Checker *c, Expr *e, const char *what, int64_t *out, int *n, int cap);
/* Normalize an axis against a rank (negative counts from the end). */
bool norm_axis(Checker *c, Loc loc, int64_t axis, int rank, const Type *t, int64_t *out);
/* Binary elementwise typing with broadcasting and weak-scalar promotion.
 * `opname` is used in messages ("add", "compare"...). */
bool binary_type(Checker *c, Loc loc, const char *opname, Expr *l, Expr *r,
                 bool allow_int, bool allow_bool, Type *out);

/* Where a type is written, for its run-time dimension (check.c). */
typedef enum TypeWhere {
  TYPE_STATIC, /* a parameter: no run-time dimension */
  TYPE_ARG,    /* a function's argument or result: only as the first axis */
  TYPE_BODY    /* inside a function that takes an argument sized by it */
} TypeWhere;
/* The `dim` declaration a bare name refers to, or NULL. */
ConstDecl *dim_named(Checker *c, const Expr *e);
/* A dimension: a constant integer, or the run-time dimension (*dyn set, *v its bound). */
bool const_dim(Checker *c, Expr *e, const char *what, int64_t *v, ConstDecl **dyn);
/* May the run-time dimension k be used at e (inside a function that takes it)?
 * Reports an error when not. */
bool dyn_allowed_here(Checker *c, const Expr *e, const ConstDecl *k);

/* Names (check.c): the innermost live binding of `name`, or NULL; a new
 * symbol; making it the innermost binding of its name until the scope that
 * is open when it is bound is popped. */
Sym *sym_lookup(Checker *c, const char *name);
Sym *sym_new(Checker *c, SymKind k, const char *name, Loc loc);
void sym_bind(Checker *c, Sym *s);
int scope_mark(Checker *c);
void scope_pop(Checker *c, int mark);
/* "constant", "parameter", ... for messages. */
const char *sym_kind_name(SymKind k);
/* The closest known name to `name` (functions only when `fns`), for
 * "did you mean" notes, or NULL. */
const char *suggest_name(Checker *c, const char *name, bool fns);
/* The one binder of call arguments (builtins, initializers, train
 * settings): positional arguments first, then by name, to the parameters
 * names[0..n); out[k] (NULL on entry) gets the value given for parameter
 * k. Errors name the call: an unknown name ("sum() has no argument named
 * 'axes'; did you mean 'axis'?", `what` being "argument" or "setting"),
 * too many positional arguments (with the note `rule` when not NULL), one
 * given twice. Whether the missing ones may be left out is the caller's
 * rule. */
bool bind_args(Checker *c, const Expr *call, const char *what, const char *const *names, int n,
               const char *rule, Expr **out);

/* Folds constant k (on first use; cycles are errors). */
void resolve_const(Checker *c, ConstDecl *k);
/* Does f take an argument sized by the run-time dimension? */
bool fn_takes_dyn(const FnDecl *f);
/* The type written as tx; `where` says whether a run-time dimension may
 * appear: TYPE_STATIC (parameters), TYPE_ARG (a signature: the first axis
 * only), TYPE_BODY (inside a function that takes one). */
bool resolve_type(Checker *c, TypeExpr *tx, Type *out, TypeWhere where);

static inline bool cv_is_num(const ConstVal *v) { return v->kind == CV_INT || v->kind == CV_FLOAT; }
static inline double cv_num(const ConstVal *v) { return v->kind == CV_INT ? (double)v->i : v->f; }

/* Can a weak (literal-derived) scalar of dtype `from` be stored where
 * `to` is wanted (check_expr.c)? */
bool weak_adapts(DType from, DType to);

/* check_stmt.c: a function's signature, then its body. */
void check_signature(Checker *c, FnDecl *f);
void check_fn_body(Checker *c, FnDecl *f);

/* check_param.c: the model's parameters, their types and initializers. */
void check_params(Checker *c, Model *m);

/* train.c: the train block. */
void check_train(Checker *c, Model *m);

/* The typing rule of a @ b (check_expr.c). */
bool check_matmul(Checker *c, Loc loc, Expr *l, Expr *r, Type *out);

/* A call of user function f: arguments by position, of f's types (check_expr.c). */
bool check_user_call(Checker *c, Expr *e, FnDecl *f);
/* The function named `name`, or NULL (check.c). */
FnDecl *check_find_fn(Checker *c, const char *name);

/* check_deriv.c: grad / value_and_grad / jvp. deriv_kind: the DerivKind
 * of a call name, or -1. */
int deriv_kind(const char *name);
bool check_deriv_apply(Checker *c, Expr *e);     /* T(...)(args) */
bool check_deriv_unapplied(Checker *c, Expr *e); /* grad(...) used as a value: an error */

/* builtins.c: bind the arguments of a builtin call and type it. */
bool check_builtin_call(Checker *c, Expr *call, const Builtin *bi);

#endif
