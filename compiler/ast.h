/* ast.h — the abstract syntax tree of a .nn file.
 *
 * The parser (grammar/parser.y) builds it in the compilation's arena; the
 * checker (check.c) then fills the fields marked "checker:" — resolved
 * symbols, types, constant values — so that after a clean check every
 * expression has a known dtype and shape. irgen.c reads only checked trees. */
#ifndef NNC_AST_H
#define NNC_AST_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "spec.h"
#include "types.h"

/* What the checker normalized from a builtin call's arguments, for irgen
 * (builtins.c sets the fields its builtin uses; the others stay zero). */
typedef struct CallAttrs {
  int naxes;               /* reductions: how many axes are reduced */
  int64_t axes[MAX_RANK];  /* reductions: those axes, sorted, non-negative */
  bool keepdims;           /* reductions, argmax: reduced axes kept as size 1 */
  int64_t axis;            /* argmax, softmax, log_softmax, concat: the axis, non-negative */
  int64_t perm[MAX_RANK];  /* transpose, permute: result axis i is input axis perm[i] */
  int64_t window[2];       /* maxpool2d, avgpool2d: window height, width */
  int64_t stride[2];       /* conv2d, maxpool2d, avgpool2d: height, width */
  int64_t pad[2];          /* conv2d, maxpool2d, avgpool2d: height, width */
  int64_t classes;         /* one_hot: the number of classes */
  double value;            /* zeros, ones, full: the fill value */
  double eps;              /* layernorm */
  double p;                /* dropout: the drop probability */
} CallAttrs;

typedef struct Expr Expr;
typedef struct Stmt Stmt;
typedef struct Sym Sym;
typedef struct FnDecl FnDecl;
typedef struct Builtin Builtin;
typedef struct Deriv Deriv;

/* ---- constant values --------------------------------------------------- */

typedef enum CvKind {
  CV_NONE,    /* not a constant */
  CV_INT,     /* i */
  CV_FLOAT,   /* f */
  CV_BOOL,    /* i (0/1) */
  CV_STRING,  /* s */
  CV_LIST     /* elems[0..n) */
} CvKind;

typedef struct ConstVal {
  CvKind kind;
  int64_t i;
  double f;
  const char *s;
  struct ConstVal *elems;
  int n;
} ConstVal;

/* ---- expressions ------------------------------------------------------- */

/* Operator chains need no brackets (1+1+...+1), so besides bracket nesting
 * (MAX_NESTING) the parser bounds the height of expression trees; the
 * checker applies the same bound to expressions reached through constants,
 * and to the loops and expressions a call nests once irgen inlines it
 * (FnDecl.inl_height). Every recursive walk over expressions, and irgen's
 * walk through inlined calls, can rely on it. */
#define MAX_EXPR_DEPTH 1000
/* Expressions in one file: past this the parse stops, so that no input can
 * make the AST exhaust memory (an Expr is ~260 bytes; a real model has far
 * fewer than 100,000). The checker holds the model's functions to the same
 * bound once their calls are inlined (FnDecl.inl_size), so a small file
 * cannot make irgen generate an unbounded graph. */
#define MAX_EXPRS 1000000

typedef enum ExprKind {
  EX_INT,     /* integer literal: lit.i */
  EX_FLOAT,   /* float literal: lit.f */
  EX_BOOL,    /* true / false: lit.i */
  EX_STRING,  /* string literal, escapes resolved: lit.s */
  EX_NAME,    /* identifier: name.id; checker: name.sym */
  EX_UNARY,   /* un.op applied to un.x */
  EX_BINARY,  /* bin.l bin.op bin.r */
  EX_CALL,    /* call.name(call.args); with call.callee: callee(call.args),
                 the application of a derivative such as grad(f, wrt = [x]) */
  EX_INDEX,   /* index.base[index.items] */
  EX_LIST     /* [list.elems] (shapes, axes, concat operands) */
} ExprKind;

typedef enum UnOp { UN_NEG, UN_PLUS, UN_NOT } UnOp;

typedef enum BinOp {
  BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_MOD, BIN_POW, BIN_MATMUL,
  BIN_EQ, BIN_NE, BIN_LT, BIN_LE, BIN_GT, BIN_GE, BIN_AND, BIN_OR
} BinOp;

const char *binop_str(BinOp op);   /* "+", "@", "==", ... */

/* One argument of a call: positional (name == NULL) or keyword. */
typedef struct Arg {
  const char *name;   /* keyword, or NULL */
  Loc name_loc;
  Expr *value;
} Arg;

/* One item between the brackets of x[...]. */
typedef enum IndexKind {
  IX_AT,      /* a single position: start (removes the axis) */
  IX_SLICE    /* start:stop:step, each may be NULL (keeps the axis) */
} IndexKind;

typedef struct IndexItem {
  IndexKind kind;
  Expr *start, *stop, *step;
  Loc loc;
  /* checker: for IX_AT with a constant position, or IX_SLICE: the
   * normalized static range [lo, hi) with step (hi may be < lo for
   * negative steps); `dynamic` when the position is a run-time i32. */
  bool dynamic;
  int64_t lo, hi, stride;
} IndexItem;

struct Expr {
  ExprKind kind;
  Loc loc;
  union {
    struct { int64_t i; double f; const char *s; } lit;
    struct { const char *id; Sym *sym; } name;
    struct { UnOp op; Expr *x; } un;
    struct { BinOp op; Expr *l, *r; Loc op_loc; } bin;
    struct {
      const char *name; Loc name_loc;
      Arg *args; int nargs;
      Expr *callee;       /* an application T(...)(args): the call T(...), else NULL */
      Deriv *deriv;       /* checker: on T(...) = grad / value_and_grad / jvp (...): what it means */
      /* checker: exactly one of these is set */
      const Builtin *bi;  /* a builtin */
      FnDecl *fn;         /* a user function */
      Expr **bound;       /* builtin: args bound to the builtin's parameter list (NULL = default) */
      int nest;           /* user function: loops and expressions around the
                             call in its function (see FnDecl.inl_height) */
      CallAttrs *attrs;   /* builtin: what its check normalized (never NULL once checked) */
    } call;
    struct { Expr *base; IndexItem *items; int nitems; } index;
    struct { Expr **elems; int n; } list;
  };
  /* checker: */
  Type ty;          /* dtype and shape of the value */
  bool weak;        /* a literal-derived scalar whose dtype adapts to the
                       other operand (JAX's "weak type") */
  int depth;        /* parser: height of the subtree (1 for a leaf), at most
                       MAX_EXPR_DEPTH, which bounds every recursion over it */
  ConstVal cv;      /* compile-time value, kind CV_NONE when not constant */
};

/* A derivative of a user function (checker): grad(F, wrt = [...]),
 * value_and_grad(F, wrt = [...]) or jvp(F, wrt = [...], tangents = [...]),
 * F being a function name or a nested grad(...) of one argument. */
typedef enum DerivKind {
  DV_GRAD,            /* the gradients of F's scalar result, one per wrt */
  DV_VALUE_AND_GRAD,  /* F's value, then the gradients */
  DV_JVP              /* F's value, then its tangent along the tangents */
} DerivKind;

#define MAX_WRT 16

struct Deriv {
  DerivKind kind;
  Expr *of;           /* F: an EX_NAME of a user function, or a nested grad(...) call */
  FnDecl *fn;         /* the user function at the bottom of the nesting (F's arguments are its) */
  int nwrt;
  int wrt[MAX_WRT];   /* argument index (>= 0) of fn, or -1 - index of a model parameter */
  Type wrt_ty[MAX_WRT];
  Expr **tangents;    /* DV_JVP: one per wrt, of its type */
  Type ret;           /* F's result type */
  int nres;           /* results of the application: 1 for grad of one wrt, ... */
  Type res[MAX_WRT + 1];
};

/* ---- types as written -------------------------------------------------- */

typedef struct TypeExpr {
  DType dtype;
  Expr **dims;   /* rank constant integer expressions */
  int rank;
  Loc loc;
} TypeExpr;

/* ---- statements -------------------------------------------------------- */

typedef enum StmtKind {
  ST_LET,     /* let name[: type] = init  (immutable binding) */
  ST_VAR,     /* var name[: type] = init  (mutable; loops update it) */
  ST_ASSIGN,  /* target op= value, op one of = += -= *= /= */
  ST_FOR,     /* for var in lo..hi { body } with constant bounds */
  ST_RETURN,  /* return value */
  ST_EXPR     /* an expression evaluated for nothing: always an error */
} StmtKind;

struct Stmt {
  StmtKind kind;
  Loc loc;
  Stmt *next;
  union {
    struct {
      const char *name; Loc name_loc; TypeExpr *tyx; Expr *init; Sym *sym;
      /* let (a, b, ...) = init: nnames > 0 names (name, sym are the first) */
      const char **names; Loc *name_locs; Sym **syms; int nnames;
    } let;
    struct { Expr *target; int op; /* '=', '+', '-', '*', '/' */ Expr *value; Loc op_loc; } assign;
    struct {
      const char *var; Loc var_loc; Expr *lo, *hi; Stmt *body; Loc body_end;
      bool checkpoint;     /* `checkpoint for ...`: recompute its values in the backward pass */
      Sym *sym;            /* checker: the loop variable (i32 scalar) */
      int64_t lo_v, hi_v;  /* checker: constant bounds */
    } loop;
    struct { Expr *value; } ret;
    struct { Expr *e; } expr;
  };
};

/* ---- declarations ------------------------------------------------------ */

typedef struct ConstDecl {
  const char *name;
  Loc loc;
  Expr *value;
  /* checker: */
  ConstVal val;
  int state;          /* 0 unresolved, 1 resolving (cycle), 2 done */
  bool overridden;    /* value came from -D */
  bool is_dim;        /* `dim NAME <= value`: a run-time dimension; val is its bound */
} ConstDecl;

/* How a parameter is initialized, resolved from its `= init()` call. */
typedef struct ParamDecl {
  const char *name;
  Loc loc;
  TypeExpr *tyx;
  Expr *init;         /* may be NULL: defaults to zeros() */
  /* checker: */
  Type ty;
  InitSpec spec;
  int index;          /* position among the model's parameters */
  Sym *sym;
} ParamDecl;

typedef struct FnArg {
  const char *name;
  Loc loc;
  TypeExpr *tyx;
  Type ty;            /* checker */
  Sym *sym;           /* checker */
} FnArg;

struct FnDecl {
  const char *name;
  Loc loc;            /* the name */
  FnArg *args;
  int nargs;
  TypeExpr *ret_tyx;  /* NULL: error (every function returns a tensor) */
  Stmt *body;
  Loc body_end;       /* the closing brace */
  bool in_model;      /* declared inside the model: sees its params */
  /* checker: */
  Type ret;
  int state;          /* 0 unchecked, 2 done (or skipped after a parse error) */
  bool ok;            /* checked without errors */
  bool sig_ok;        /* argument and result types resolved */
  PtrVec calls;       /* Expr* of the calls to user functions in the body */
  int color;          /* recursion search: 0 new, 1 on the stack, 2 done */
  int height;         /* deepest nesting of loops and expressions in the body */
  int64_t size;       /* expressions in the body (calls not followed) */
  /* checker, once calls are inlined (irgen inlines every call); valid
   * after a clean check: */
  int inl_height;     /* height: the callee's inl_height added at each call */
  int64_t inl_size;   /* expressions: every callee's inl_size added (capped
                         just past MAX_EXPRS) */
  bool dropout;       /* dropout() is called, here or by a callee */
  bool inl_done;      /* the three fields above are computed */
  bool inl_bad;       /* past a limit (reported once, not again by callers) */
};

typedef struct TrainItem {
  const char *key;
  Loc loc;
  Expr *value;
} TrainItem;

typedef struct TrainDecl {
  Loc loc;
  TrainItem *items;
  int nitems;
  TrainSpec spec;      /* checker */
  FnDecl *loss, *predict, *generate; /* checker: the functions spec names (NULL when absent) */
} TrainDecl;

typedef struct Model {
  const char *name;
  Loc loc;
  PtrVec consts;  /* ConstDecl* declared inside the model */
  PtrVec params;  /* ParamDecl* in order */
  PtrVec fns;     /* FnDecl* */
  TrainDecl *train;
  Loc end;        /* closing brace */
} Model;

typedef struct Program {
  PtrVec consts;  /* ConstDecl* at top level */
  PtrVec fns;     /* FnDecl* at top level (see no params) */
  PtrVec models;  /* Model*; the checker requires exactly one */
  Model *model;   /* checker: the model */
  int nsyms;      /* checker: Sym ids are 0..nsyms-1 */
  bool derivs;    /* checker: some expression takes a derivative (grad, jvp...) */
} Program;

/* ---- symbols (checker) ------------------------------------------------- */

typedef enum SymKind {
  SYM_CONST,  /* cdecl */
  SYM_PARAM,  /* param */
  SYM_ARG,    /* a function argument: index */
  SYM_LET,    /* immutable local */
  SYM_VAR,    /* mutable local */
  SYM_LOOP    /* loop variable (i32 scalar) */
} SymKind;

struct Sym {
  SymKind kind;
  const char *name;
  Loc loc;          /* declaration */
  Type ty;
  bool weak;
  ConstDecl *cdecl; /* SYM_CONST */
  ParamDecl *param; /* SYM_PARAM */
  int index;        /* SYM_ARG: argument position */
  int64_t lo, hi;   /* SYM_LOOP: the values it takes, lo..hi inclusive */
  int id;           /* unique within the compilation (irgen keys on it) */
  bool used;        /* referenced at least once (for warnings) */
  bool bad;         /* its declaration had an error: uses fail silently */
  Sym *shadowed;    /* checker: the binding this one hides in its scope */
};

/* ---- entry points ------------------------------------------------------ */

/* Parse `src` into a Program in a; syntax errors go to d. Returns NULL
 * only when nothing could be parsed (errors were reported). Identifiers and
 * string literals go in `names` (may be a), which may outlive a: the IR
 * names its functions, values and files by them. grammar/parser.y */
Program *parse_program(Arena *a, Arena *names, Diag *d, const char *src, size_t len);

/* Print the tree (after checking, with types) for --emit=ast. ast.c */
void ast_dump(FILE *out, const Program *p);
void cv_print(FILE *out, const ConstVal *v);

#endif
