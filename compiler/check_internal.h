/* check_internal.h — what check.c and builtins.c share. */
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

/* The typing rule of a @ b (check.c). */
bool check_matmul(Checker *c, Loc loc, Expr *l, Expr *r, Type *out);

/* A call of user function f: arguments by position, of f's types (check.c). */
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
