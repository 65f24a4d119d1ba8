/* check.c — the checker: name resolution, constant folding, types and
 * full shape inference; see check.h.
 *
 * Order of work (check_program):
 *   1. bind constants (top level, then the model's) and functions, apply
 *      -D overrides, fold the constants (cycles are errors);
 *   2. check function signatures;
 *   3. check parameter types and initializers;
 *   4. check every function body;
 *   5. refuse recursion (functions are inlined into a static graph);
 *   6. resolve the train block;
 *   7. refuse programs too large or too deep once calls are inlined.
 * Builtin calls are typed by builtins.c. Names live in one hash table with
 * shadow chains (strmap.h); leaving a scope pops the bindings made in it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

/* ---- symbol table ------------------------------------------------------ */

struct Entry {
  const char *name;
  Sym *top;        /* innermost binding, NULL when none is live */
  FnDecl *fn;      /* the function of this name (its first definition), or NULL */
};

/* The entry of `name` in the name table (strmap.h), made when `create`. */
static Entry *entry_for(Checker *c, const char *name, bool create) {
  if (!create) return sm_get(&c->names, name);
  void **slot = sm_slot(&c->names, name);
  if (!*slot) {
    Entry *e = NEW(c->a, Entry);
    e->name = name;
    *slot = e;
  }
  return *slot;
}

static Sym *lookup(Checker *c, const char *name) {
  Entry *e = entry_for(c, name, false);
  return e ? e->top : NULL;
}

static Sym *new_sym(Checker *c, SymKind k, const char *name, Loc loc) {
  Sym *s = NEW(c->a, Sym);
  s->kind = k;
  s->name = name;
  s->loc = loc;
  s->id = c->next_id++;
  return s;
}

static void bind(Checker *c, Sym *s) {
  Entry *e = entry_for(c, s->name, true);
  s->shadowed = e->top;
  e->top = s;
  vec_push(c->a, &c->scope_log, s);
}

static int scope_mark(Checker *c) { return c->scope_log.n; }

/* Pop bindings made since `mark`, warning about unused locals in the order
 * they were declared. */
static void scope_pop(Checker *c, int mark) {
  for (int i = mark; i < c->scope_log.n; i++) {
    Sym *s = c->scope_log.v[i];
    if ((s->kind == SYM_LET || s->kind == SYM_VAR) && !s->used && s->name[0] != '_')
      diag_warning(c->d, s->loc, "unused variable '%s'", s->name);
  }
  while (c->scope_log.n > mark) {
    Sym *s = c->scope_log.v[--c->scope_log.n];
    entry_for(c, s->name, false)->top = s->shadowed;
  }
}

static const char *sym_kind_name(SymKind k) {
  switch (k) {
  case SYM_CONST: return "constant";
  case SYM_PARAM: return "parameter";
  case SYM_ARG: return "argument";
  case SYM_LET: return "'let' binding";
  case SYM_VAR: return "variable";
  case SYM_LOOP: return "loop variable";
  }
  return "name";
}

/* Names that could be meant, for "did you mean" hints. */
static const char *suggest(Checker *c, const char *name, bool fns) {
  if (diag_full(c->d)) return NULL; /* the message would be dropped anyway */
  PtrVec cands = {0};
  for (int i = 0; i < c->names.cap; i++) {
    Entry *e = c->names.vals[i];
    if (c->names.keys[i] && e && e->top) vec_push(c->a, &cands, (void *)e->name);
  }
  if (fns) {
    for (int i = 0; i < c->prog->fns.n; i++)
      vec_push(c->a, &cands, (void *)((FnDecl *)c->prog->fns.v[i])->name);
    if (c->model)
      for (int i = 0; i < c->model->fns.n; i++)
        vec_push(c->a, &cands, (void *)((FnDecl *)c->model->fns.v[i])->name);
    for (int i = 0; i < BI_COUNT; i++) vec_push(c->a, &cands, (void *)builtin_get(i)->name);
  }
  return diag_closest(name, (const char *const *)cands.v, cands.n);
}

/* ---- functions table --------------------------------------------------- */

/* The function named `name` (bind_fns registers them), or NULL. */
static FnDecl *find_fn(Checker *c, const char *name) {
  Entry *e = entry_for(c, name, false);
  return e ? e->fn : NULL;
}

FnDecl *check_find_fn(Checker *c, const char *name) { return find_fn(c, name); }

/* ---- constants --------------------------------------------------------- */

static bool cv_is_num(const ConstVal *v) { return v->kind == CV_INT || v->kind == CV_FLOAT; }
static double cv_num(const ConstVal *v) { return v->kind == CV_INT ? (double)v->i : v->f; }

bool check_const(Checker *c, Expr *e, const char *what) {
  FnDecl *saved = c->fn;
  bool ok;
  if (e->kind == EX_LIST) {
    ok = true;
    e->cv.kind = CV_LIST;
    e->cv.n = e->list.n;
    e->cv.elems = NEW_ARRAY(c->a, ConstVal, e->list.n + 1);
    for (int i = 0; i < e->list.n; i++) {
      if (!check_const(c, e->list.elems[i], what)) {
        ok = false;
        continue;
      }
      e->cv.elems[i] = e->list.elems[i]->cv;
    }
    if (!ok) e->cv.kind = CV_NONE;
    return ok;
  }
  if (e->kind == EX_STRING) {
    e->cv.kind = CV_STRING;
    e->cv.s = e->lit.s;
    return true;
  }
  ok = check_tensor(c, e);
  c->fn = saved;
  if (!ok) return false;
  if (e->cv.kind == CV_NONE) {
    diag_error(c->d, e->loc, "%s must be a constant", what);
    return false;
  }
  return true;
}

/* The one check of shape arithmetic: is the product of n non-negative
 * factors (dimensions, a padded extent, a window) at most MAX_NUMEL? Every
 * factor is at most MAX_NUMEL too, so a caller may add two of them (a
 * dimension and its paddings) before multiplying: 3 * 2^40 cannot
 * overflow, and nothing past the checker can (plan.c, the kernels and the
 * interpreter compute with sizes it has bounded). The product goes to
 * *out when out is not NULL. */
bool size_fits(const int64_t *f, int n, int64_t *out) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) {
    if (f[i] < 0 || f[i] > MAX_NUMEL) return false;
    if (__builtin_mul_overflow(p, f[i], &p) || p > MAX_NUMEL) return false;
  }
  if (out) *out = p;
  return true;
}

bool const_int(Checker *c, Expr *e, const char *what, int64_t *out) {
  if (!check_const(c, e, what)) return false;
  if (e->cv.kind == CV_INT) {
    *out = e->cv.i;
    return true;
  }
  if (e->cv.kind == CV_BOOL) { /* f32[true] is a mistake, not a 1 */
    diag_error(c->d, e->loc, "%s must be an integer, but this is %s (a bool)", what, e->cv.i ? "true" : "false");
    return false;
  }
  if (e->cv.kind == CV_FLOAT && e->cv.f == floor(e->cv.f) && fabs(e->cv.f) < 9e15) {
    *out = (int64_t)e->cv.f;
    return true;
  }
  if (e->cv.kind == CV_FLOAT)
    diag_error(c->d, e->loc, "%s must be an integer, but this is %g", what, e->cv.f);
  else
    diag_error(c->d, e->loc, "%s must be an integer", what);
  return false;
}

bool const_float(Checker *c, Expr *e, const char *what, double *out) {
  if (!check_const(c, e, what)) return false;
  if (!cv_is_num(&e->cv)) {
    diag_error(c->d, e->loc, "%s must be a number", what);
    return false;
  }
  *out = cv_num(&e->cv);
  return true;
}

bool const_int_list(Checker *c, Expr *e, const char *what, int64_t *out, int *n, int cap) {
  if (e->kind != EX_LIST) {
    int64_t v;
    if (!const_int(c, e, what, &v)) return false;
    out[0] = v;
    *n = 1;
    return true;
  }
  if (e->list.n > cap) {
    diag_error(c->d, e->loc, "%s has %d entries; at most %d are allowed", what, e->list.n, cap);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < e->list.n; i++)
    if (!const_int(c, e->list.elems[i], what, &out[i])) ok = false;
  *n = e->list.n;
  return ok;
}

bool norm_axis(Checker *c, Loc loc, int64_t axis, int rank, const Type *t, int64_t *out) {
  if (axis < -rank || axis >= rank) {
    if (rank == 0)
      diag_error(c->d, loc, "axis %lld is out of range: %s is a scalar", (long long)axis, tstr(t));
    else
      diag_error(c->d, loc, "axis %lld is out of range for %s (rank %d: axes %d..%d)",
                 (long long)axis, tstr(t), rank, -rank, rank - 1);
    return false;
  }
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

/* `dim N <= B`: B is an integer in 1..2^31-1 (the size is passed as an i32). */
static void check_dim_bound(Checker *c, ConstDecl *k) {
  bool is_int = k->val.kind == CV_INT || (k->val.kind == CV_FLOAT && k->val.f == floor(k->val.f) && fabs(k->val.f) < 9e15);
  int64_t b = k->val.kind == CV_INT ? k->val.i : is_int ? (int64_t)k->val.f : 0;
  if (!is_int || b < 1 || b > INT32_MAX) {
    diag_error(c->d, k->overridden ? loc_none() : k->value->loc,
               "the bound of the run-time dimension '%s' must be an integer in 1..%d", k->name, INT32_MAX);
    b = 1;
  }
  k->val.kind = CV_INT;
  k->val.i = b;
}

static void resolve_const(Checker *c, ConstDecl *k) {
  if (k->state == 2) return;
  if (k->state == 1) {
    diag_error(c->d, k->loc, "constant '%s' is defined in terms of itself", k->name);
    k->val.kind = CV_INT;
    k->val.i = 1;
    k->state = 2;
    return;
  }
  k->state = 1;
  if (!k->overridden) {
    if (check_const(c, k->value, "the value of a constant")) {
      if (k->value->cv.kind == CV_LIST || k->value->cv.kind == CV_STRING) {
        diag_error(c->d, k->value->loc, "a constant must be a number or a boolean");
        k->val.kind = CV_INT;
        k->val.i = 1;
      } else {
        k->val = k->value->cv;
      }
    } else {
      k->val.kind = CV_INT;
      k->val.i = 1; /* keep going with a harmless value */
    }
  }
  if (k->is_dim) check_dim_bound(c, k);
  k->state = 2;
}

static bool parse_define_value(const char *s, ConstVal *v) {
  char *end;
  errno = 0;
  if (!strcmp(s, "true") || !strcmp(s, "false")) {
    v->kind = CV_BOOL;
    v->i = s[0] == 't';
    return true;
  }
  /* decimal only, as documented: strtod would also take 0x10, 1p4, " 7" */
  if (strspn(s, "0123456789+-.eE") != strlen(s)) return false;
  long long i = strtoll(s, &end, 10);
  if (*s && !*end && errno != ERANGE) {
    v->kind = CV_INT;
    v->i = i;
    return true;
  }
  errno = 0;
  double f = strtod(s, &end);
  if (*s && !*end && errno != ERANGE && isfinite(f)) {
    v->kind = CV_FLOAT;
    v->f = f;
    return true;
  }
  return false;
}

static void bind_const(Checker *c, ConstDecl *k) {
  Sym *prev = lookup(c, k->name);
  if (prev) {
    diag_error(c->d, k->loc, "redefinition of '%s'", k->name);
    diag_note(c->d, prev->loc, "the previous definition is here");
    return;
  }
  Sym *s = new_sym(c, SYM_CONST, k->name, k->loc);
  s->cdecl = k;
  s->weak = true;
  bind(c, s);
}

/* ---- types as written ---------------------------------------------------- */

/* The run-time dimension `e` names (a bare name declared by `dim`), or NULL. */
ConstDecl *dim_named(Checker *c, const Expr *e) {
  if (e->kind != EX_NAME) return NULL;
  Sym *s = lookup(c, e->name.id);
  if (!s || s->kind != SYM_CONST || !s->cdecl->is_dim) return NULL;
  s->used = true;
  resolve_const(c, s->cdecl);
  return s->cdecl;
}

/* Does f take an argument sized by the run-time dimension? Only such a
 * function knows its size, so only it may make values of that size. */
static bool fn_takes_dyn(const FnDecl *f) {
  for (int i = 0; f && i < f->nargs; i++)
    if (type_is_dyn(&f->args[i].ty)) return true;
  return false;
}

bool dyn_allowed_here(Checker *c, const Expr *e, const ConstDecl *k) {
  if (c->fn && fn_takes_dyn(c->fn)) return true;
  if (c->fn)
    diag_error(c->d, e->loc, "'%s' is sized at run time, but '%s' takes no argument sized by it, so its size is unknown here",
               k->name, c->fn->name);
  else
    diag_error(c->d, e->loc, "'%s' is sized at run time; a static size is needed here", k->name);
  return false;
}

/* One entry of a type or a shape list: a constant integer, or the name of
 * the run-time dimension (*dyn set to its declaration, *v to its bound). */
bool const_dim(Checker *c, Expr *e, const char *what, int64_t *v, ConstDecl **dyn) {
  ConstDecl *k = dim_named(c, e);
  *dyn = k;
  if (k) {
    *v = k->val.i;
    return true;
  }
  return const_int(c, e, what, v);
}

/* `where` says whether a run-time dimension may appear: TYPE_STATIC
 * (parameters), TYPE_ARG (a signature: the first axis only), TYPE_BODY
 * (inside a function that takes one). */
static bool resolve_type(Checker *c, TypeExpr *tx, Type *out, TypeWhere where) {
  *out = type_scalar(tx->dtype);
  if (tx->rank > MAX_RANK) {
    diag_error(c->d, tx->loc, "a tensor has at most %d dimensions; this type has %d", MAX_RANK, tx->rank);
    return false;
  }
  out->rank = tx->rank;
  bool ok = true;
  int64_t numel = 1;
  for (int i = 0; i < tx->rank; i++) {
    int64_t v;
    ConstDecl *k;
    if (!const_dim(c, tx->dims[i], "a dimension", &v, &k)) {
      ok = false;
      out->dim[i] = 1;
      continue;
    }
    if (k) {
      if (where == TYPE_STATIC) {
        diag_error(c->d, tx->dims[i]->loc, "a parameter's shape must be static, but '%s' is sized at run time (dim %s <= %lld)",
                   k->name, k->name, (long long)k->val.i);
        ok = false;
      } else if (where == TYPE_ARG && i != 0) {
        diag_error(c->d, tx->dims[i]->loc, "the run-time dimension '%s' must be the first axis of an argument or result",
                   k->name);
        ok = false;
      } else if (where == TYPE_BODY && !dyn_allowed_here(c, tx->dims[i], k)) {
        ok = false;
      }
      if (ok) {
        out->dyn |= 1u << i;
        out->dyn_name = k->name;
      }
    }
    if (v <= 0) {
      diag_error(c->d, tx->dims[i]->loc, "a dimension must be positive, but this one is %lld", (long long)v);
      ok = false;
      v = 1;
    }
    out->dim[i] = v;
    int64_t f[2] = {numel, v};
    if (!size_fits(f, 2, &numel)) {
      if (ok) diag_error(c->d, tx->loc, "this tensor type is too large (more than 2^40 elements)");
      ok = false;
      numel = 1;
    }
  }
  return ok;
}

/* ---- expressions ------------------------------------------------------- */

static bool check_expr(Checker *c, Expr *e);

/* Can a weak (literal-derived) scalar of dtype `from` be stored where
 * `to` is wanted? Numbers adapt among numbers (floats only to floats);
 * true and false only to bool. */
static bool weak_adapts(DType from, DType to) {
  if ((from == TY_BOOL) != (to == TY_BOOL)) return false;
  return !dtype_is_float(from) || dtype_is_float(to);
}

/* The dtype a weak scalar takes next to `other`; false if they cannot mix. */
static bool mix_dtype(const Expr *l, const Expr *r, DType *out) {
  if (l->weak && r->weak) {
    *out = (dtype_is_float(l->ty.dtype) || dtype_is_float(r->ty.dtype)) ? TY_F32
           : (l->ty.dtype == TY_BOOL && r->ty.dtype == TY_BOOL) ? TY_BOOL : TY_I32;
    return true;
  }
  if (l->weak || r->weak) {
    const Expr *w = l->weak ? l : r, *s = l->weak ? r : l;
    if (dtype_is_float(w->ty.dtype) && !dtype_is_float(s->ty.dtype)) return false;
    if (w->ty.dtype == TY_BOOL && s->ty.dtype != TY_BOOL) return false;
    *out = s->ty.dtype;
    return true;
  }
  if (l->ty.dtype != r->ty.dtype) return false;
  *out = l->ty.dtype;
  return true;
}

bool binary_type(Checker *c, Loc loc, const char *opname, Expr *l, Expr *r,
                 bool allow_int, bool allow_bool, Type *out) {
  DType dt;
  if (!mix_dtype(l, r, &dt)) {
    diag_error(c->d, loc, "cannot %s %s and %s: the element types differ%s", opname,
               tstr(&l->ty), tstr(&r->ty),
               (dtype_is_float(l->ty.dtype) != dtype_is_float(r->ty.dtype))
                   ? " (convert one with f32(...) or i32(...))" : "");
    return false;
  }
  if ((dt == TY_I32 && !allow_int) || (dt == TY_BOOL && !allow_bool)) {
    diag_error(c->d, loc, "cannot %s %s and %s: %s needs %s operands", opname,
               tstr(&l->ty), tstr(&r->ty), opname,
               allow_int ? "numeric" : "floating-point");
    return false;
  }
  if (!broadcast_shapes(&l->ty, &r->ty, out)) {
    diag_error(c->d, loc, "cannot %s %s and %s: the shapes do not broadcast", opname,
               tstr(&l->ty), tstr(&r->ty));
    return false;
  }
  out->dtype = dt;
  return true;
}

static const char *binop_verb(BinOp op) {
  switch (op) {
  case BIN_ADD: return "add";
  case BIN_SUB: return "subtract";
  case BIN_MUL: return "multiply";
  case BIN_DIV: return "divide";
  case BIN_MOD: return "take the remainder of";
  case BIN_POW: return "raise";
  case BIN_MATMUL: return "multiply";
  case BIN_AND: case BIN_OR: return "combine";
  default: return "compare";
  }
}

/* Fold a binary operation on constant scalars. */
static bool fold_binary(Checker *c, Expr *e) {
  ConstVal *a = &e->bin.l->cv, *b = &e->bin.r->cv, *o = &e->cv;
  BinOp op = e->bin.op;
  if (a->kind == CV_BOOL && b->kind == CV_BOOL) {
    o->kind = CV_BOOL;
    switch (op) {
    case BIN_AND: o->i = a->i && b->i; return true;
    case BIN_OR: o->i = a->i || b->i; return true;
    case BIN_EQ: o->i = a->i == b->i; return true;
    case BIN_NE: o->i = a->i != b->i; return true;
    default: o->kind = CV_NONE; return true;
    }
  }
  if (!cv_is_num(a) || !cv_is_num(b)) return true;
  bool ints = a->kind == CV_INT && b->kind == CV_INT;
  double x = cv_num(a), y = cv_num(b);
  switch (op) {
  case BIN_EQ: case BIN_NE: case BIN_LT: case BIN_LE: case BIN_GT: case BIN_GE:
    o->kind = CV_BOOL;
    o->i = op == BIN_EQ ? x == y : op == BIN_NE ? x != y : op == BIN_LT ? x < y
         : op == BIN_LE ? x <= y : op == BIN_GT ? x > y : x >= y;
    return true;
  case BIN_DIV:
  case BIN_MOD:
    if (y == 0) {
      diag_error(c->d, e->bin.op_loc, "division by zero in a constant expression");
      return false;
    }
    if (op == BIN_MOD) {
      if (!ints) {
        diag_error(c->d, e->bin.op_loc, "'%%' needs integer operands");
        return false;
      }
      o->kind = CV_INT;
      o->i = b->i == -1 ? 0 : a->i % b->i; /* INT64_MIN % -1 traps in C */
      return true;
    }
    if (ints && b->i == -1 && a->i == INT64_MIN) {
      diag_error(c->d, e->loc, "integer overflow in a constant expression");
      return false;
    }
    o->kind = CV_FLOAT; /* '/' is true division; dims accept integral results */
    o->f = x / y;
    if (ints && a->i % b->i == 0) {
      o->kind = CV_INT;
      o->i = a->i / b->i;
    }
    return true;
  case BIN_ADD: case BIN_SUB: case BIN_MUL: case BIN_POW: {
    double r = op == BIN_ADD ? x + y : op == BIN_SUB ? x - y : op == BIN_MUL ? x * y : pow(x, y);
    if (ints && op != BIN_POW) {
      int64_t ri;
      bool ovf = op == BIN_ADD ? __builtin_add_overflow(a->i, b->i, &ri)
               : op == BIN_SUB ? __builtin_sub_overflow(a->i, b->i, &ri)
               : __builtin_mul_overflow(a->i, b->i, &ri);
      if (ovf) {
        diag_error(c->d, e->loc, "integer overflow in a constant expression");
        return false;
      }
      o->kind = CV_INT;
      o->i = ri;
      return true;
    }
    if (ints && op == BIN_POW && b->i >= 0 && fabs(r) < 9e15) {
      o->kind = CV_INT;
      o->i = (int64_t)r;
      return true;
    }
    if (!isfinite(r)) {
      diag_error(c->d, e->loc, "constant expression overflows");
      return false;
    }
    o->kind = CV_FLOAT;
    o->f = r;
    return true;
  }
  default:
    return true;
  }
}

bool check_matmul(Checker *c, Loc loc, Expr *l, Expr *r, Type *out) {
  const Type *a = &l->ty, *b = &r->ty;
  if (!dtype_is_float(a->dtype) || a->dtype != b->dtype || l->weak || r->weak) {
    diag_error(c->d, loc, "matmul needs two floating-point tensors of the same type: %s @ %s",
               tstr(a), tstr(b));
    return false;
  }
  if (a->rank < 1 || b->rank < 1) {
    diag_error(c->d, loc, "matmul needs tensors of rank 1 or more: %s @ %s", tstr(a), tstr(b));
    return false;
  }
  int64_t ka = a->dim[a->rank - 1];
  int64_t kb = b->rank == 1 ? b->dim[0] : b->dim[b->rank - 2];
  if (ka != kb || !axis_same(a, a->rank - 1, b, b->rank == 1 ? 0 : b->rank - 2)) {
    diag_error(c->d, loc, "matmul needs the inner dimensions to agree: %s @ %s (%lld != %lld)",
               tstr(a), tstr(b), (long long)ka, (long long)kb);
    return false;
  }
  /* batch dims: a[..., M, K] b[..., K, N] broadcast like NumPy */
  Type ba = type_scalar(a->dtype), bb = ba;
  ba.rank = a->rank > 2 ? a->rank - 2 : 0;
  bb.rank = b->rank > 2 ? b->rank - 2 : 0;
  ba.rank = bb.rank = 0;
  for (int i = 0; i < a->rank - 2; i++) type_push_axis(&ba, a, i);
  for (int i = 0; i < b->rank - 2; i++) type_push_axis(&bb, b, i);
  Type batch;
  if (!broadcast_shapes(&ba, &bb, &batch)) {
    diag_error(c->d, loc, "matmul batch dimensions do not broadcast: %s @ %s", tstr(a), tstr(b));
    return false;
  }
  *out = batch;
  out->dtype = a->dtype;
  if (a->rank >= 2) type_push_axis(out, a, a->rank - 2);
  if (b->rank >= 2) type_push_axis(out, b, b->rank - 1);
  return true;
}

/* The values an i32 scalar expression can take, for checking dynamic
 * indices statically. False when unknown. */
/* Saturating arithmetic for the ranges below: an overflow saturates, and
 * the range check then reports the index as out of range. */
static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
static int64_t sat_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? INT64_MAX : INT64_MIN;
  return r;
}
static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return (a < 0) == (b < 0) ? INT64_MAX : INT64_MIN;
  return r;
}

static bool int_range(const Expr *e, int64_t *lo, int64_t *hi) {
  if (e->cv.kind == CV_INT) {
    *lo = *hi = e->cv.i;
    return true;
  }
  if (e->kind == EX_NAME && e->name.sym && e->name.sym->kind == SYM_LOOP) {
    *lo = e->name.sym->lo;
    *hi = e->name.sym->hi;
    return true;
  }
  if (e->kind == EX_UNARY && e->un.op == UN_NEG) {
    int64_t a, b;
    if (!int_range(e->un.x, &a, &b)) return false;
    *lo = sat_sub(0, b);
    *hi = sat_sub(0, a);
    return true;
  }
  if (e->kind == EX_BINARY && (e->bin.op == BIN_ADD || e->bin.op == BIN_SUB || e->bin.op == BIN_MUL)) {
    int64_t a0, a1, b0, b1;
    if (!int_range(e->bin.l, &a0, &a1) || !int_range(e->bin.r, &b0, &b1)) return false;
    if (e->bin.op == BIN_ADD) { *lo = sat_add(a0, b0); *hi = sat_add(a1, b1); }
    else if (e->bin.op == BIN_SUB) { *lo = sat_sub(a0, b1); *hi = sat_sub(a1, b0); }
    else {
      int64_t p[4] = {sat_mul(a0, b0), sat_mul(a0, b1), sat_mul(a1, b0), sat_mul(a1, b1)};
      *lo = *hi = p[0];
      for (int i = 1; i < 4; i++) {
        if (p[i] < *lo) *lo = p[i];
        if (p[i] > *hi) *hi = p[i];
      }
    }
    return true;
  }
  return false;
}

static bool check_index(Checker *c, Expr *e) {
  Expr *base = e->index.base;
  if (!check_tensor(c, base)) return false;
  const Type *t = &base->ty;
  if (e->index.nitems > t->rank) {
    diag_error(c->d, e->loc, "too many indices: %s has rank %d, but %d are given",
               tstr(t), t->rank, e->index.nitems);
    return false;
  }
  Type out = type_scalar(t->dtype);
  bool ok = true;
  for (int k = 0; k < t->rank; k++) {
    int64_t n = t->dim[k];
    if (k >= e->index.nitems) {
      type_push_axis(&out, t, k);
      continue;
    }
    IndexItem *it = &e->index.items[k];
    if (axis_dyn(t, k)) { /* the run-time axis is kept whole */
      if (it->kind == IX_AT || it->start || it->stop || it->step) {
        diag_error(c->d, it->loc, "axis %d of %s is sized at run time: it can only be kept whole (':')", k, tstr(t));
        ok = false;
        continue;
      }
      it->lo = 0;
      it->hi = n;
      it->stride = 1;
      type_push_axis(&out, t, k);
      continue;
    }
    if (it->kind == IX_AT) {
      if (!check_tensor(c, it->start)) { ok = false; continue; }
      Expr *x = it->start;
      if (x->ty.rank != 0 || (x->ty.dtype != TY_I32 && !(x->weak && x->cv.kind == CV_INT))) {
        diag_error(c->d, x->loc, "an index must be an i32 scalar, but this is %s", tstr(&x->ty));
        ok = false;
        continue;
      }
      if (x->cv.kind == CV_INT) {
        int64_t v = x->cv.i;
        if (v < -n || v >= n) {
          diag_error(c->d, x->loc, "index %lld is out of range for axis %d of %s (size %lld)",
                     (long long)v, k, tstr(t), (long long)n);
          ok = false;
          continue;
        }
        it->lo = v < 0 ? v + n : v;
        it->hi = it->lo + 1;
        it->stride = 1;
        continue;
      }
      int64_t lo, hi;
      if (!int_range(x, &lo, &hi)) {
        diag_error(c->d, x->loc, "a run-time index must be a loop variable, or a loop variable "
                   "plus, minus or times constants, so its range is known");
        ok = false;
        continue;
      }
      if (lo < 0 || hi >= n) {
        diag_error(c->d, x->loc, "index out of range: it takes values %lld..%lld, but axis %d of %s has size %lld",
                   (long long)lo, (long long)hi, k, tstr(t), (long long)n);
        ok = false;
        continue;
      }
      it->dynamic = true;
      continue;
    }
    /* slice start:stop:step, Python rules, positive steps only */
    int64_t step = 1, lo = 0, hi = n;
    if (it->step && !const_int(c, it->step, "a slice step", &step)) { ok = false; continue; }
    if (step <= 0) {
      diag_error(c->d, it->step->loc, "a slice step must be positive, but this one is %lld", (long long)step);
      ok = false;
      continue;
    }
    if (it->start && !const_int(c, it->start, "a slice bound", &lo)) { ok = false; continue; }
    if (it->stop && !const_int(c, it->stop, "a slice bound", &hi)) { ok = false; continue; }
    if (lo < 0) lo += n;
    if (hi < 0) hi += n;
    if (lo < 0) lo = 0;
    if (lo > n) lo = n;
    if (hi < lo) hi = lo;
    if (hi > n) hi = n;
    int64_t len = (hi - lo) / step + ((hi - lo) % step != 0); /* step may be huge */
    if (len <= 0) {
      diag_error(c->d, it->loc, "this slice of axis %d of %s is empty", k, tstr(t));
      ok = false;
      continue;
    }
    it->lo = lo;
    it->hi = hi;
    it->stride = step;
    out.dim[out.rank++] = len;
  }
  e->ty = out;
  return ok;
}

bool check_user_call(Checker *c, Expr *e, FnDecl *f) {
  e->call.fn = f;
  if (!c->fn) { /* a constant, a dimension, a setting: nothing is run to fold it */
    diag_error(c->d, e->loc, "a call of function '%s' is not a constant", f->name);
    return false;
  }
  bool ok = f->sig_ok;
  if (c->fn && f->in_model && !c->fn->in_model) {
    diag_error(c->d, e->call.name_loc, "function '%s' uses the model's parameters and cannot be "
               "called from the top-level function '%s'", f->name, c->fn->name);
    ok = false;
  }
  int npos = 0;
  for (int i = 0; i < e->call.nargs; i++) {
    Arg *a = &e->call.args[i];
    if (a->name) {
      diag_error(c->d, a->name_loc, "functions defined in .nn take positional arguments only");
      ok = false;
    }
    if (!check_tensor(c, a->value)) ok = false;
    npos++;
  }
  if (npos != f->nargs) {
    diag_error(c->d, e->loc, "'%s' takes %d argument%s, but %d %s given", f->name, f->nargs,
               f->nargs == 1 ? "" : "s", npos, npos == 1 ? "is" : "are");
    diag_note(c->d, f->loc, "'%s' is defined here", f->name);
    return false;
  }
  if (!ok) return false;
  for (int i = 0; i < f->nargs; i++) {
    Expr *v = e->call.args[i].value;
    const Type *want = &f->args[i].ty;
    bool fits = type_eq(&v->ty, want) ||
                (v->weak && want->rank == 0 && v->ty.rank == 0 && weak_adapts(v->ty.dtype, want->dtype));
    if (!fits) {
      diag_error(c->d, v->loc, "argument %d of '%s' must be %s, but this is %s", i + 1, f->name,
                 tstr(want), tstr(&v->ty));
      diag_note(c->d, f->args[i].loc, "parameter '%s' is declared here", f->args[i].name);
      ok = false;
    }
  }
  if (c->fn) vec_push(c->a, &c->fn->calls, e);
  e->call.nest = c->depth + c->loops;
  e->ty = f->ret;
  return ok;
}

static bool check_expr(Checker *c, Expr *e) {
  switch (e->kind) {
  case EX_INT:
    e->ty = type_scalar(TY_I32);
    e->weak = true;
    e->cv.kind = CV_INT;
    e->cv.i = e->lit.i;
    return true;
  case EX_FLOAT:
    e->ty = type_scalar(TY_F32);
    e->weak = true;
    e->cv.kind = CV_FLOAT;
    e->cv.f = e->lit.f;
    return true;
  case EX_BOOL:
    e->ty = type_scalar(TY_BOOL);
    e->weak = true;
    e->cv.kind = CV_BOOL;
    e->cv.i = e->lit.i;
    return true;
  case EX_STRING:
    diag_error(c->d, e->loc, "a string is not a tensor value");
    return false;
  case EX_LIST:
    diag_error(c->d, e->loc, "a list is only allowed as an argument of a builtin (shapes, axes, concat)");
    return false;
  case EX_NAME: {
    Sym *s = lookup(c, e->name.id);
    if (!s) {
      FnDecl *f = find_fn(c, e->name.id);
      if (f || builtin_find(e->name.id)) {
        diag_error(c->d, e->loc, "'%s' is a function; call it with %s(...)", e->name.id, e->name.id);
        return false;
      }
      const char *hint = suggest(c, e->name.id, false);
      if (hint)
        diag_error(c->d, e->loc, "unknown name '%s'; did you mean '%s'?", e->name.id, hint);
      else
        diag_error(c->d, e->loc, "unknown name '%s'", e->name.id);
      return false;
    }
    s->used = true;
    e->name.sym = s;
    if (s->bad) return false; /* already reported at its declaration */
    if (s->kind == SYM_PARAM && c->fn && !c->fn->in_model) {
      diag_error(c->d, e->loc, "top-level function '%s' cannot use the model parameter '%s'; "
                 "declare the function inside the model, or pass the parameter as an argument",
                 c->fn->name, s->name);
      return false;
    }
    if (s->kind == SYM_CONST && s->cdecl->is_dim) {
      diag_error(c->d, e->loc, "'%s' is a run-time dimension: it can size an axis of a type or a shape list, "
                 "but it is not a value", s->name);
      return false;
    }
    if (s->kind == SYM_CONST) {
      resolve_const(c, s->cdecl);
      e->cv = s->cdecl->val;
      e->weak = true;
      e->ty = type_scalar(e->cv.kind == CV_FLOAT ? TY_F32 : e->cv.kind == CV_BOOL ? TY_BOOL : TY_I32);
      return true;
    }
    e->ty = s->ty;
    e->weak = s->weak;
    return true;
  }
  case EX_UNARY: {
    if (!check_tensor(c, e->un.x)) return false;
    Expr *x = e->un.x;
    e->ty = x->ty;
    e->weak = x->weak;
    if (e->un.op == UN_NOT) {
      if (x->ty.dtype != TY_BOOL) {
        diag_error(c->d, e->loc, "'!' needs a bool operand, but this is %s", tstr(&x->ty));
        return false;
      }
      if (x->cv.kind == CV_BOOL) e->cv = (ConstVal){.kind = CV_BOOL, .i = !x->cv.i};
      return true;
    }
    if (x->ty.dtype == TY_BOOL) {
      diag_error(c->d, e->loc, "cannot negate %s", tstr(&x->ty));
      return false;
    }
    if (x->cv.kind == CV_INT && e->un.op == UN_NEG && x->cv.i == INT64_MIN) {
      diag_error(c->d, e->loc, "integer overflow in a constant expression");
      return false;
    }
    if (x->cv.kind == CV_INT) e->cv = (ConstVal){.kind = CV_INT, .i = e->un.op == UN_NEG ? -x->cv.i : x->cv.i};
    if (x->cv.kind == CV_FLOAT) e->cv = (ConstVal){.kind = CV_FLOAT, .f = e->un.op == UN_NEG ? -x->cv.f : x->cv.f};
    return true;
  }
  case EX_BINARY: {
    bool okl = check_tensor(c, e->bin.l), okr = check_tensor(c, e->bin.r);
    if (!okl || !okr) return false;
    Expr *l = e->bin.l, *r = e->bin.r;
    BinOp op = e->bin.op;
    if (op == BIN_MATMUL) return check_matmul(c, e->loc, l, r, &e->ty);
    bool logic = op == BIN_AND || op == BIN_OR;
    bool cmp = op >= BIN_EQ && op <= BIN_GE;
    /* '**' on integers only folds constants (2 ** 10); tensors need floats */
    bool arith_int = op != BIN_POW || (l->cv.kind == CV_INT && r->cv.kind == CV_INT);
    if (logic) {
      if (l->ty.dtype != TY_BOOL || r->ty.dtype != TY_BOOL) {
        diag_error(c->d, e->bin.op_loc, "'%s' needs bool operands: %s %s %s", binop_str(op),
                   tstr(&l->ty), binop_str(op), tstr(&r->ty));
        return false;
      }
    }
    bool allow_bool = logic || op == BIN_EQ || op == BIN_NE;
    if (!binary_type(c, e->bin.op_loc, binop_verb(op), l, r, arith_int || cmp, allow_bool, &e->ty))
      return false;
    if (op == BIN_MOD && (l->cv.kind == CV_NONE || r->cv.kind == CV_NONE)) {
      diag_error(c->d, e->bin.op_loc, "'%%' is only for constant integers");
      return false;
    }
    if (cmp) e->ty.dtype = TY_BOOL;
    e->weak = l->weak && r->weak;
    if (l->cv.kind != CV_NONE && r->cv.kind != CV_NONE) {
      if (!fold_binary(c, e)) return false;
      if (e->cv.kind == CV_FLOAT) e->ty.dtype = TY_F32;
      if (e->cv.kind == CV_INT) e->ty.dtype = TY_I32;
    }
    return true;
  }
  case EX_CALL: {
    if (e->call.callee) return check_deriv_apply(c, e);
    FnDecl *f = find_fn(c, e->call.name);
    if (f) return check_user_call(c, e, f);
    if (deriv_kind(e->call.name) >= 0) return check_deriv_unapplied(c, e);
    const Builtin *bi = builtin_find(e->call.name);
    if (bi && bi->id == BI_DROPOUT && c->fn) c->fn->dropout = true;
    if (bi) return check_builtin_call(c, e, bi);
    Sym *s = lookup(c, e->call.name);
    if (s) {
      diag_error(c->d, e->call.name_loc, "'%s' is a %s, not a function", e->call.name, sym_kind_name(s->kind));
      return false;
    }
    const char *hint = suggest(c, e->call.name, true);
    if (hint)
      diag_error(c->d, e->call.name_loc, "unknown function '%s'; did you mean '%s'?", e->call.name, hint);
    else
      diag_error(c->d, e->call.name_loc, "unknown function '%s'", e->call.name);
    return false;
  }
  case EX_INDEX:
    return check_index(c, e);
  }
  unreachable();
}

/* Does t stay within MAX_NUMEL elements? */
static bool numel_fits(const Type *t) { return size_fits(t->dim, t->rank, NULL); }

/* The parser bounds the height of each expression; constants add their own
 * expressions below a use (A = B + 1, B = C * 2, ...), so the checker counts
 * its nesting again to keep its recursion bounded. */
bool check_tensor(Checker *c, Expr *e) {
  if (c->depth >= MAX_EXPR_DEPTH) {
    diag_error(c->d, e->loc, "expression nested too deeply, counting the definitions of the constants "
               "it uses (the limit is %d levels)", MAX_EXPR_DEPTH);
    return false;
  }
  c->depth++;
  if (c->fn) { /* what irgen will walk (FnDecl.height, size) */
    c->fn->size++;
    if (c->depth + c->loops > c->fn->height) c->fn->height = c->depth + c->loops;
  }
  bool ok = check_expr(c, e);
  c->depth--;
  if (ok && !numel_fits(&e->ty)) { /* e.g. f32[2^40, 1] + f32[1, 2^40] */
    diag_error(c->d, e->loc, "this value would have more than 2^40 elements: %s", tstr(&e->ty));
    return false;
  }
  return ok;
}

/* ---- statements -------------------------------------------------------- */

typedef struct FnState {
  bool returned;
  Stmt *ret;
  int loop_depth;
} FnState;

/* Does value `v` fit a slot of type `want` (weak scalars adapt)? */
static bool fits(const Expr *v, const Type *want) {
  if (type_eq(&v->ty, want)) return true;
  if (!v->weak) return false;
  if (v->ty.rank != 0 || !weak_adapts(v->ty.dtype, want->dtype)) return false;
  return want->rank == 0;
}

static void check_stmts(Checker *c, Stmt *s, FnState *fs);

/* let (a, b, ...) = T(...)(...): one name per value of the derivative. */
static void check_let_tuple(Checker *c, Stmt *s) {
  Expr *init = s->let.init;
  int n = s->let.nnames;
  c->tuple_init = init;
  bool ok = check_tensor(c, init);
  c->tuple_init = NULL;
  Deriv *dv = init->kind == EX_CALL && init->call.callee ? init->call.callee->call.deriv : NULL;
  if (ok && (!dv || dv->nres != n)) {
    int got = dv ? dv->nres : 1;
    diag_error(c->d, init->loc, "%d name%s bound, but this gives %d value%s", n, n == 1 ? "" : "s", got,
               got == 1 ? "" : "s");
    ok = false;
  }
  s->let.syms = NEW_ARRAY(c->a, Sym *, n + 1);
  for (int i = 0; i < n; i++) {
    const char *name = s->let.names[i];
    Sym *prev = lookup(c, name);
    if (prev) {
      diag_error(c->d, s->let.name_locs[i], prev->kind == SYM_CONST || prev->kind == SYM_PARAM
                 ? "'%s' would hide the %s of the same name" : "redefinition of '%s' (a %s)", name,
                 sym_kind_name(prev->kind));
      diag_note(c->d, prev->loc, "it is declared here");
    }
    Sym *sym = new_sym(c, SYM_LET, name, s->let.name_locs[i]);
    sym->ty = ok ? dv->res[i] : type_scalar(TY_F32);
    if (!ok) sym->used = sym->bad = true;
    s->let.syms[i] = sym;
    bind(c, sym);
  }
  s->let.sym = s->let.syms[0];
}

static void check_let(Checker *c, Stmt *s) {
  if (s->let.nnames) {
    check_let_tuple(c, s);
    return;
  }
  bool ok = check_tensor(c, s->let.init);
  Type ty = s->let.init->ty;
  if (s->let.tyx) {
    Type want;
    if (resolve_type(c, s->let.tyx, &want, TYPE_BODY)) {
      if (ok && !fits(s->let.init, &want)) {
        diag_error(c->d, s->let.init->loc, "'%s' is declared %s, but the value is %s",
                   s->let.name, tstr(&want), tstr(&ty));
      }
      ty = want;
    }
  }
  Sym *prev = lookup(c, s->let.name);
  if (prev && prev->kind != SYM_CONST && prev->kind != SYM_PARAM) {
    diag_error(c->d, s->let.name_loc, "redefinition of '%s'", s->let.name);
    diag_note(c->d, prev->loc, "the previous %s '%s' is here", sym_kind_name(prev->kind), prev->name);
  } else if (prev) {
    diag_error(c->d, s->let.name_loc, "'%s' would hide the %s of the same name", s->let.name,
               sym_kind_name(prev->kind));
    diag_note(c->d, prev->loc, "the %s is declared here", sym_kind_name(prev->kind));
  }
  Sym *sym = new_sym(c, s->kind == ST_LET ? SYM_LET : SYM_VAR, s->let.name, s->let.name_loc);
  sym->ty = ty;
  if (s->let.init->weak && !s->let.tyx && s->kind == ST_VAR) {
    /* a var starting from a literal is a real f32/i32 scalar */
    sym->weak = false;
  } else {
    sym->weak = s->let.init->weak && !s->let.tyx;
  }
  if (!ok) sym->used = sym->bad = true; /* no cascade of errors or warnings */
  s->let.sym = sym;
  bind(c, sym);
}

/* `v[...] = value` updates part of a var: sugar for building the new tensor
 * and rebinding v. The value broadcasts to the selected region. */
static void check_index_assign(Checker *c, Stmt *s) {
  Expr *t = s->assign.target;
  Expr *base = t->index.base;
  bool okv = check_tensor(c, s->assign.value);
  if (base->kind != EX_NAME) {
    diag_error(c->d, t->loc, "only one level of indexing can be assigned: v[i, j] = value");
    return;
  }
  Sym *sym = lookup(c, base->name.id);
  if (sym && sym->kind != SYM_VAR) {
    diag_error(c->d, base->loc, "cannot assign to part of %s '%s'", sym_kind_name(sym->kind), sym->name);
    if (sym->kind == SYM_LET)
      diag_note(c->d, sym->loc, "'%s' is declared with 'let' here; use 'var' to make it assignable", sym->name);
    else
      diag_note(c->d, sym->loc, "'%s' is declared here", sym->name);
    return;
  }
  if (!check_tensor(c, t) || !okv) return;
  Expr *v = s->assign.value;
  Type region = t->ty, out;
  if (s->assign.op != '=') {
    Expr cur = *t;
    cur.weak = false;
    cur.cv.kind = CV_NONE;
    if (!binary_type(c, s->assign.op_loc, "update", &cur, v, s->assign.op != '/', false, &out)) return;
  } else {
    bool mix = v->weak ? weak_adapts(v->ty.dtype, region.dtype) : v->ty.dtype == region.dtype;
    if (!mix) {
      diag_error(c->d, v->loc, "cannot store %s into %s, a part of '%s' (%s)", tstr(&v->ty), tstr(&region),
                 sym->name, tstr(&sym->ty));
      return;
    }
    out = region;
    if (!broadcasts_to(&v->ty, &region)) out.rank = -1;
  }
  if (out.rank < 0 || !shape_eq(&out, &region)) {
    diag_error(c->d, v->loc, "cannot store %s into %s, a part of '%s' (%s)", tstr(&v->ty), tstr(&region),
               sym->name, tstr(&sym->ty));
  }
}

static void check_assign(Checker *c, Stmt *s) {
  Expr *t = s->assign.target;
  if (t->kind == EX_INDEX) {
    check_index_assign(c, s);
    return;
  }
  Sym *sym = lookup(c, t->name.id);
  bool okv = check_tensor(c, s->assign.value);
  if (!sym) {
    const char *hint = suggest(c, t->name.id, false);
    if (hint)
      diag_error(c->d, t->loc, "unknown name '%s'; did you mean '%s'?", t->name.id, hint);
    else
      diag_error(c->d, t->loc, "unknown name '%s'", t->name.id);
    return;
  }
  t->name.sym = sym;
  t->ty = sym->ty;
  if (sym->kind != SYM_VAR) {
    diag_error(c->d, t->loc, "cannot assign to %s '%s'", sym_kind_name(sym->kind), sym->name);
    if (sym->kind == SYM_LET)
      diag_note(c->d, sym->loc, "'%s' is declared with 'let' here; use 'var' to make it assignable", sym->name);
    else
      diag_note(c->d, sym->loc, "'%s' is declared here", sym->name);
    return;
  }
  if (!okv) return;
  Expr *v = s->assign.value;
  if (s->assign.op != '=') {
    /* h op= v means h = h op v: the result must keep h's type */
    Type out;
    Expr cur = *t;
    cur.weak = false;
    cur.cv.kind = CV_NONE;
    const char *verb = s->assign.op == '+' ? "add" : s->assign.op == '-' ? "subtract"
                     : s->assign.op == '*' ? "multiply" : "divide";
    if (!binary_type(c, s->assign.op_loc, verb, &cur, v, s->assign.op != '/', false, &out)) return;
    if (!shape_eq(&out, &sym->ty)) {
      diag_error(c->d, v->loc, "'%s %c= ...' would change the shape of '%s' from %s to %s", sym->name,
                 s->assign.op, sym->name, tstr(&sym->ty), tstr(&out));
      diag_note(c->d, sym->loc, "'%s' is declared here", sym->name);
    }
    return;
  }
  if (!fits(v, &sym->ty)) {
    diag_error(c->d, v->loc, "cannot assign %s to '%s', which is %s", tstr(&v->ty), sym->name, tstr(&sym->ty));
    diag_note(c->d, sym->loc, "'%s' is declared here; a variable keeps its type", sym->name);
  }
}

static void check_for(Checker *c, Stmt *s, FnState *fs) {
  int64_t lo = 0, hi = 0;
  bool ok = const_int(c, s->loop.lo, "a loop bound", &lo);
  ok = const_int(c, s->loop.hi, "a loop bound", &hi) && ok;
  if (ok && hi < lo) {
    diag_error(c->d, loc_span(s->loop.lo->loc, s->loop.hi->loc), "the loop range %lld..%lld is reversed",
               (long long)lo, (long long)hi);
    ok = false;
  }
  if (ok && (uint64_t)hi - (uint64_t)lo > 100000000u) { /* hi >= lo: exact, no overflow */
    diag_error(c->d, loc_span(s->loop.lo->loc, s->loop.hi->loc), "the loop runs %llu times; the limit is 10^8",
               (unsigned long long)((uint64_t)hi - (uint64_t)lo));
    ok = false;
  }
  if (ok && hi == lo)
    diag_warning(c->d, loc_span(s->loop.lo->loc, s->loop.hi->loc), "this loop never runs (%lld..%lld is empty)",
                 (long long)lo, (long long)hi);
  if (!ok) { /* go on with one iteration, for the body's messages */
    lo = 0;
    hi = 1;
  }
  s->loop.lo_v = lo;
  s->loop.hi_v = hi;
  int mark = scope_mark(c);
  Sym *prev = lookup(c, s->loop.var);
  if (prev && prev->kind != SYM_CONST && prev->kind != SYM_PARAM) {
    diag_error(c->d, s->loop.var_loc, "redefinition of '%s'", s->loop.var);
    diag_note(c->d, prev->loc, "the previous %s '%s' is here", sym_kind_name(prev->kind), prev->name);
  }
  Sym *v = new_sym(c, SYM_LOOP, s->loop.var, s->loop.var_loc);
  v->ty = type_scalar(TY_I32);
  v->lo = lo;
  v->hi = hi - 1;
  s->loop.sym = v;
  bind(c, v);
  fs->loop_depth++;
  c->loops++;
  check_stmts(c, s->loop.body, fs);
  c->loops--;
  fs->loop_depth--;
  scope_pop(c, mark);
}

static void check_stmts(Checker *c, Stmt *s, FnState *fs) {
  for (; s; s = s->next) {
    if (diag_full(c->d)) return;
    if (fs->returned) {
      diag_error(c->d, s->loc, "code after 'return' never runs");
      fs->returned = false; /* report once */
      fs->ret = NULL;
    }
    switch (s->kind) {
    case ST_LET:
    case ST_VAR:
      check_let(c, s);
      break;
    case ST_ASSIGN:
      check_assign(c, s);
      break;
    case ST_FOR:
      check_for(c, s, fs);
      break;
    case ST_RETURN:
      if (fs->loop_depth) {
        diag_error(c->d, s->loc, "'return' inside a loop is not allowed: loops run a fixed number of times");
        check_tensor(c, s->ret.value);
        break;
      }
      if (check_tensor(c, s->ret.value) && !fits(s->ret.value, &c->fn->ret)) {
        diag_error(c->d, s->ret.value->loc, "'%s' returns %s, but this value is %s", c->fn->name,
                   tstr(&c->fn->ret), tstr(&s->ret.value->ty));
        if (c->fn->ret_tyx) diag_note(c->d, c->fn->ret_tyx->loc, "the result type is declared here");
      }
      fs->returned = true;
      fs->ret = s;
      break;
    case ST_EXPR:
      if (s->expr.e->kind == EX_NAME && !lookup(c, s->expr.e->name.id)) {
        static const char *const kw[] = {"return", "let", "var", "for"};
        const char *hint = diag_closest(s->expr.e->name.id, kw, 4);
        if (hint) {
          diag_error(c->d, s->expr.e->loc, "unknown name '%s'; did you mean '%s'?", s->expr.e->name.id, hint);
          if (s->next && s->next->kind == ST_EXPR) s = s->next; /* its operand, misparsed */
          if (!strcmp(hint, "return")) fs->ret = s; /* do not also complain of a missing return */
          break;
        }
      }
      if (check_tensor(c, s->expr.e))
        diag_error(c->d, s->loc, "the value of this expression is not used (tensors are values: "
                   "bind it with 'let' or return it)");
      break;
    }
  }
}

/* ---- functions --------------------------------------------------------- */

static void check_signature(Checker *c, FnDecl *f) {
  f->sig_ok = true;
  for (int i = 0; i < f->nargs; i++) {
    if (!resolve_type(c, f->args[i].tyx, &f->args[i].ty, TYPE_ARG)) f->sig_ok = false;
  }
  if (f->ret_tyx && !resolve_type(c, f->ret_tyx, &f->ret, TYPE_ARG)) f->sig_ok = false;
  if (f->sig_ok && type_is_dyn(&f->ret) && !fn_takes_dyn(f)) {
    diag_error(c->d, f->ret_tyx->loc, "'%s' returns a value sized at run time (%s) but takes no argument sized by it",
               f->name, tstr(&f->ret));
    f->sig_ok = false;
  }
}

static void check_fn_body(Checker *c, FnDecl *f) {
  c->fn = f;
  int mark = scope_mark(c);
  for (int i = 0; i < f->nargs; i++) {
    FnArg *a = &f->args[i];
    Sym *prev = lookup(c, a->name);
    if (prev && prev->kind == SYM_ARG) { /* bound just above: found by hash, not by a quadratic scan */
      diag_error(c->d, a->loc, "two arguments of '%s' are named '%s'", f->name, a->name);
      diag_note(c->d, prev->loc, "the first one is here");
    } else if (prev && (prev->kind == SYM_CONST || prev->kind == SYM_PARAM) &&
               (f->in_model || prev->kind == SYM_CONST)) {
      diag_error(c->d, a->loc, "argument '%s' would hide the %s of the same name", a->name,
                 sym_kind_name(prev->kind));
      diag_note(c->d, prev->loc, "the %s is declared here", sym_kind_name(prev->kind));
    }
    Sym *s = new_sym(c, SYM_ARG, a->name, a->loc);
    s->ty = a->ty;
    s->bad = !f->sig_ok;
    s->index = i;
    s->used = true;
    a->sym = s;
    bind(c, s);
  }
  FnState fs = {0};
  int errs = c->d->nerrors;
  check_stmts(c, f->body, &fs);
  if (!fs.ret && !diag_full(c->d)) {
    diag_error(c->d, f->body_end, "function '%s' ends without returning a value", f->name);
    diag_note(c->d, f->loc, "'%s' is declared to return %s", f->name, tstr(&f->ret));
  }
  scope_pop(c, mark);
  f->ok = c->d->nerrors == errs;
  c->fn = NULL;
}

/* Recursion: functions are inlined, so a call cycle can never be compiled.
 * Depth-first search over the recorded calls (color 0 white, 1 on the
 * path, 2 done), with an explicit stack: a generated file may chain
 * thousands of functions. */
typedef struct CallFrame {
  FnDecl *f;
  int next;        /* index of the next call of f to follow */
} CallFrame;

static bool find_cycle(Checker *c, FnDecl *root, CallFrame *stack) {
  int sp = 0;
  stack[sp++] = (CallFrame){root, 0};
  root->color = 1;
  while (sp > 0) {
    CallFrame *fr = &stack[sp - 1];
    if (fr->next == fr->f->calls.n) {
      fr->f->color = 2;
      sp--;
      continue;
    }
    Expr *call = fr->f->calls.v[fr->next++];
    FnDecl *g = call->call.fn;
    if (g->color == 1) {
      diag_error(c->d, call->call.name_loc, "recursive call of '%s': recursion is not allowed "
                 "because calls are inlined into a static graph", g->name);
      if (g != fr->f) diag_note(c->d, g->loc, "'%s' is defined here", g->name);
      while (sp > 0) stack[--sp].f->color = 2;
      return true;
    }
    if (g->color == 0) {
      g->color = 1;
      stack[sp++] = (CallFrame){g, 0}; /* each function is on the path at most once */
    }
  }
  return false;
}

static void check_recursion(Checker *c, PtrVec *fns) {
  int total = c->prog->fns.n + (c->model ? c->model->fns.n : 0);
  CallFrame *stack = NEW_ARRAY(c->a, CallFrame, total + 1);
  for (int i = 0; i < fns->n; i++) {
    FnDecl *f = fns->v[i];
    if (f->color == 0 && find_cycle(c, f, stack)) f->ok = false;
  }
}

/* ---- inlining ------------------------------------------------------------ */

/* irgen inlines every call, so what it walks is a function's body with
 * each call replaced by the callee's: the loops and expressions a call
 * nests (its C stack) and the expressions it generates are counted like
 * those of a file, against MAX_EXPR_DEPTH and MAX_EXPRS. A chain of 5,000
 * functions each calling the previous, or a short file where each calls
 * the previous twice (2^N inlined bodies), gets a located error here.
 * Post-order over the call graph, which check_recursion found acyclic,
 * each function once and with an explicit stack. */
static void inline_cost(Checker *c, FnDecl *f) {
  int64_t size = f->size;
  int height = f->height;
  for (int i = 0; i < f->calls.n; i++) {
    Expr *call = f->calls.v[i];
    FnDecl *g = call->call.fn;
    f->dropout |= g->dropout;
    if (f->inl_bad) continue;
    if (g->inl_bad) {
      f->inl_bad = true; /* reported in g */
      continue;
    }
    int h = call->call.nest + g->inl_height;
    if (h > MAX_EXPR_DEPTH) {
      diag_error(c->d, call->call.name_loc, "calls nested too deeply: inlining '%s' here nests loops and "
                 "expressions %d levels deep (the limit is %d, counting the bodies of the functions called)",
                 g->name, h, MAX_EXPR_DEPTH);
      diag_note(c->d, g->loc, "'%s' is defined here", g->name);
      f->inl_bad = true;
      continue;
    }
    if (h > height) height = h;
    size += g->inl_size;
    if (size > MAX_EXPRS) {
      diag_error(c->d, call->call.name_loc, "'%s' is too large once its calls are inlined: with this call of "
                 "'%s' (%lld expressions), it has more than %d expressions", f->name, g->name,
                 (long long)g->inl_size, MAX_EXPRS);
      diag_note(c->d, g->loc, "'%s' is defined here", g->name);
      f->inl_bad = true;
    }
  }
  f->inl_height = height;
  f->inl_size = size;
  f->inl_done = true;
}

static void inline_costs(Checker *c, FnDecl *root, CallFrame *stack) {
  if (root->inl_done) return;
  int sp = 0;
  stack[sp++] = (CallFrame){root, 0};
  while (sp > 0) {
    CallFrame *fr = &stack[sp - 1];
    if (fr->next == fr->f->calls.n) {
      inline_cost(c, fr->f);
      sp--;
      continue;
    }
    Expr *call = fr->f->calls.v[fr->next++];
    FnDecl *g = call->call.fn;
    if (!g->inl_done) stack[sp++] = (CallFrame){g, 0}; /* acyclic: g is not on the stack */
  }
}

/* Every model function becomes an IR function of its own (and the loss a
 * second one when it uses dropout): their inlined sizes add up. Runs on a
 * program without errors (so the call graph is acyclic). */
static void check_inlining(Checker *c) {
  int total = c->prog->fns.n + (c->model ? c->model->fns.n : 0);
  CallFrame *stack = NEW_ARRAY(c->a, CallFrame, total + 1);
  for (int i = 0; c->model && i < c->model->fns.n; i++) inline_costs(c, c->model->fns.v[i], stack);
  for (int i = 0; i < c->prog->fns.n; i++) inline_costs(c, c->prog->fns.v[i], stack);
  if (!c->model || c->d->nerrors) return;
  const FnDecl *loss = c->model->train ? c->model->train->spec.loss : NULL;
  int64_t sum = loss && loss->dropout ? loss->inl_size : 0;
  for (int i = 0; i < c->model->fns.n; i++) {
    FnDecl *f = c->model->fns.v[i];
    sum += f->inl_size;
    if (sum > MAX_EXPRS) {
      diag_error(c->d, f->loc, "the model is too large once calls are inlined: with '%s', its functions "
                 "have more than %d expressions", f->name, MAX_EXPRS);
      return;
    }
  }
}

/* ---- parameters --------------------------------------------------------- */

void param_fans(const Type *t, double *fan_in, double *fan_out) {
  if (t->rank == 2) {
    *fan_in = (double)t->dim[0];
    *fan_out = (double)t->dim[1];
  } else if (t->rank >= 3) {
    double rf = 1;
    for (int i = 2; i < t->rank; i++) rf *= (double)t->dim[i];
    *fan_in = (double)t->dim[1] * rf;
    *fan_out = (double)t->dim[0] * rf;
  } else {
    *fan_in = *fan_out = (double)type_numel(t);
  }
}

typedef struct InitDef {
  const char *name;
  const char *params;  /* names of optional keyword/positional parameters */
} InitDef;

static const InitDef init_defs[] = {
    {"zeros", ""}, {"ones", ""}, {"constant", "value"}, {"normal", "mean,std"},
    {"uniform", "low,high"}, {"trunc_normal", "mean,std"},
    {"glorot_uniform", "gain"}, {"glorot_normal", "gain"}, {"xavier_uniform", "gain"},
    {"xavier_normal", "gain"}, {"he_normal", "gain"}, {"he_uniform", "gain"},
    {"kaiming_normal", "gain"}, {"kaiming_uniform", "gain"},
};

/* Bind an initializer's (all-optional, numeric) arguments by name. */
static bool init_args(Checker *c, Expr *call, const char *params, double *vals, bool *given) {
  const char *names[4];
  int n = 0;
  char buf[64];
  snprintf(buf, sizeof buf, "%s", params);
  for (char *tok = strtok(buf, ","); tok && n < 4; tok = strtok(NULL, ",")) names[n++] = arena_strdup(c->a, tok);
  bool ok = true;
  int pos = 0;
  for (int i = 0; i < call->call.nargs; i++) {
    Arg *a = &call->call.args[i];
    int k = -1;
    if (a->name) {
      for (int j = 0; j < n; j++)
        if (!strcmp(names[j], a->name)) k = j;
      if (k < 0) {
        diag_error(c->d, a->name_loc, "%s() has no argument named '%s'", call->call.name, a->name);
        ok = false;
        continue;
      }
    } else {
      k = pos++;
      if (k >= n) {
        diag_error(c->d, a->value->loc, "%s() takes %d argument%s", call->call.name, n, n == 1 ? "" : "s");
        ok = false;
        continue;
      }
    }
    if (given[k]) {
      diag_error(c->d, a->name ? a->name_loc : a->value->loc, "argument '%s' of %s() is given twice", names[k],
                 call->call.name);
      ok = false;
      continue;
    }
    if (!const_float(c, a->value, "an initializer argument", &vals[k])) ok = false;
    given[k] = true;
  }
  return ok;
}

static void check_param_init(Checker *c, ParamDecl *pd) {
  InitSpec *sp = &pd->spec;
  sp->kind = INIT_ZEROS;
  sp->how = "zeros()";
  Expr *e = pd->init;
  if (!e) return;
  if (e->kind != EX_CALL) {
    double v;
    if (const_float(c, e, "a parameter initializer", &v)) {
      sp->kind = INIT_CONST;
      sp->a = v;
      sp->how = arena_printf(c->a, "constant(%g)", v);
    }
    return;
  }
  const InitDef *def = NULL;
  for (size_t i = 0; i < sizeof init_defs / sizeof *init_defs; i++)
    if (!strcmp(init_defs[i].name, e->call.name)) def = &init_defs[i];
  if (!def) {
    const char *names[sizeof init_defs / sizeof *init_defs];
    for (size_t i = 0; i < sizeof init_defs / sizeof *init_defs; i++) names[i] = init_defs[i].name;
    const char *hint = diag_closest(e->call.name, names, (int)(sizeof names / sizeof *names));
    if (hint)
      diag_error(c->d, e->call.name_loc, "unknown initializer '%s'; did you mean '%s'?", e->call.name, hint);
    else
      diag_error(c->d, e->call.name_loc, "unknown initializer '%s' (try zeros, ones, normal, uniform, "
                 "glorot_uniform, he_normal...)", e->call.name);
    return;
  }
  double v[4] = {0};
  bool given[4] = {0};
  if (!init_args(c, e, def->params, v, given)) return;
  double fan_in, fan_out;
  param_fans(&pd->ty, &fan_in, &fan_out);
  double gain = given[0] ? v[0] : 1.0;
  const char *n = def->name;
  sp->how = arena_printf(c->a, "%s()", n);
  if (!strcmp(n, "zeros")) {
    sp->kind = INIT_ZEROS;
  } else if (!strcmp(n, "ones")) {
    sp->kind = INIT_ONES;
  } else if (!strcmp(n, "constant")) {
    sp->kind = INIT_CONST;
    sp->a = v[0];
  } else if (!strcmp(n, "normal") || !strcmp(n, "trunc_normal")) {
    sp->kind = n[0] == 'n' ? INIT_NORMAL : INIT_TRUNC_NORMAL;
    sp->a = given[0] ? v[0] : 0.0;
    sp->b = given[1] ? v[1] : (n[0] == 'n' ? 1.0 : 0.02);
    if (sp->b < 0) diag_error(c->d, e->loc, "the standard deviation must not be negative");
  } else if (!strcmp(n, "uniform")) {
    sp->kind = INIT_UNIFORM;
    sp->a = given[0] ? v[0] : 0.0;
    sp->b = given[1] ? v[1] : 1.0;
    if (sp->b < sp->a) diag_error(c->d, e->loc, "uniform(low, high) needs low <= high");
  } else if (strstr(n, "glorot") || strstr(n, "xavier")) {
    /* Glorot & Bengio: Var = 2 / (fan_in + fan_out) */
    double var = gain * gain * 2.0 / (fan_in + fan_out);
    if (strstr(n, "uniform")) {
      sp->kind = INIT_UNIFORM;
      sp->a = -sqrt(3.0 * var);
      sp->b = sqrt(3.0 * var);
    } else {
      sp->kind = INIT_NORMAL;
      sp->b = sqrt(var);
    }
  } else {
    /* He et al.: Var = 2 / fan_in (ReLU gain) */
    double var = gain * gain * 2.0 / fan_in;
    if (strstr(n, "uniform")) {
      sp->kind = INIT_UNIFORM;
      sp->a = -sqrt(3.0 * var);
      sp->b = sqrt(3.0 * var);
    } else {
      sp->kind = INIT_NORMAL;
      sp->b = sqrt(var);
    }
  }
  if (strcmp(n, "zeros") && strcmp(n, "ones")) {
    if (sp->kind == INIT_UNIFORM)
      sp->how = arena_printf(c->a, "%s: uniform(%.4g, %.4g)", n, sp->a, sp->b);
    else if (sp->kind == INIT_CONST)
      sp->how = arena_printf(c->a, "constant(%g)", sp->a);
    else
      sp->how = arena_printf(c->a, "%s: %snormal(mean=%.4g, std=%.4g)", n, sp->kind == INIT_TRUNC_NORMAL ? "truncated " : "",
                             sp->a, sp->b);
  }
}

static void check_params(Checker *c, Model *m) {
  for (int i = 0; i < m->params.n; i++) {
    ParamDecl *pd = m->params.v[i];
    pd->index = i;
    bool ok = resolve_type(c, pd->tyx, &pd->ty, TYPE_STATIC);
    if (ok && !dtype_is_float(pd->ty.dtype)) {
      diag_error(c->d, pd->tyx->loc, "parameters must be f32 or f64, not %s", dtype_name(pd->ty.dtype));
      ok = false;
    }
    if (ok) check_param_init(c, pd);
    Sym *prev = lookup(c, pd->name);
    if (prev) {
      diag_error(c->d, pd->loc, "redefinition of '%s'", pd->name);
      diag_note(c->d, prev->loc, "the previous definition is here");
      continue;
    }
    FnDecl *fn = find_fn(c, pd->name);
    if (fn) { /* as bind_fns refuses for constants */
      diag_error(c->d, pd->loc, "parameter '%s' has the same name as a function", pd->name);
      diag_note(c->d, fn->loc, "the function is declared here");
    }
    Sym *s = new_sym(c, SYM_PARAM, pd->name, pd->loc);
    s->ty = pd->ty;
    s->bad = !ok;
    s->param = pd;
    pd->sym = s;
    bind(c, s);
  }
}

/* ---- the train block ------------------------------------------------------ */

void check_train(Checker *c, Model *m);   /* train.c */

/* ---- the program ------------------------------------------------------- */

static void bind_fns(Checker *c, PtrVec *fns) {
  for (int i = 0; i < fns->n; i++) {
    FnDecl *f = fns->v[i];
    Entry *e = entry_for(c, f->name, true);
    if (e->fn) {
      diag_error(c->d, f->loc, "redefinition of function '%s'", f->name);
      diag_note(c->d, e->fn->loc, "the previous definition is here");
      f->state = 2;
      continue;
    }
    e->fn = f;
    if (builtin_find(f->name)) {
      diag_error(c->d, f->loc, "'%s' is a builtin function and cannot be redefined", f->name);
      f->state = 2;
      continue;
    }
    Sym *s = lookup(c, f->name);
    if (s) {
      diag_error(c->d, f->loc, "function '%s' has the same name as a %s", f->name, sym_kind_name(s->kind));
      diag_note(c->d, s->loc, "the %s is declared here", sym_kind_name(s->kind));
    }
  }
}

/* A model has at most one run-time dimension: the generated API passes
 * one size per call. */
static void check_one_dim(Checker *c, Program *p) {
  ConstDecl *first = NULL;
  PtrVec *lists[2] = {&p->consts, c->model ? &c->model->consts : NULL};
  for (int l = 0; l < 2; l++)
    for (int i = 0; lists[l] && i < lists[l]->n; i++) {
      ConstDecl *k = lists[l]->v[i];
      if (!k->is_dim) continue;
      if (!first) {
        first = k;
        continue;
      }
      diag_error(c->d, k->loc, "a model has at most one run-time dimension; '%s' is a second one", k->name);
      diag_note(c->d, first->loc, "'%s' is declared here", first->name);
    }
}

bool check_program(Arena *a, Diag *d, Program *p, const Define *defs, int ndefs) {
  Checker c = {.a = a, .d = d, .prog = p, .defs = defs, .ndefs = ndefs};
  sm_init(&c.names, a);
  if (p->models.n == 0) {
    diag_error(d, loc_none(), "no model in this file: write 'model NAME { ... }'");
  } else {
    if (p->models.n > 1) {
      Model *m2 = p->models.v[1];
      diag_error(d, m2->loc, "a file holds one model; this is a second one");
      diag_note(d, ((Model *)p->models.v[0])->loc, "the first model is here");
    }
    c.model = p->model = p->models.v[0];
  }
  /* 1. constants */
  for (int i = 0; i < p->consts.n; i++) bind_const(&c, p->consts.v[i]);
  if (c.model)
    for (int i = 0; i < c.model->consts.n; i++) bind_const(&c, c.model->consts.v[i]);
  bind_fns(&c, &p->fns); /* before folding: a constant must not call one */
  if (c.model) bind_fns(&c, &c.model->fns);
  for (int i = 0; i < ndefs; i++) {
    Sym *s = lookup(&c, defs[i].name);
    if (!s || s->kind != SYM_CONST) {
      diag_error(d, loc_none(), "-D %s=%s: there is no constant named '%s' to override", defs[i].name,
                 defs[i].value, defs[i].name);
      continue;
    }
    ConstVal v = {0};
    if (!parse_define_value(defs[i].value, &v)) {
      diag_error(d, loc_none(), "-D %s=%s: the value must be a decimal number or true/false", defs[i].name, defs[i].value);
      continue;
    }
    s->cdecl->val = v;
    s->cdecl->overridden = true;
    s->cdecl->state = 2;
    if (s->cdecl->is_dim) check_dim_bound(&c, s->cdecl); /* -D N=64 sets the bound */
  }
  check_one_dim(&c, p);
  for (int i = 0; i < p->consts.n; i++) resolve_const(&c, p->consts.v[i]);
  if (c.model)
    for (int i = 0; i < c.model->consts.n; i++) resolve_const(&c, c.model->consts.v[i]);
  /* 2. function signatures */
  for (int i = 0; i < p->fns.n; i++) check_signature(&c, p->fns.v[i]);
  if (c.model)
    for (int i = 0; i < c.model->fns.n; i++) check_signature(&c, c.model->fns.v[i]);
  /* 3. parameters */
  if (c.model) check_params(&c, c.model);
  /* 4. bodies */
  for (int i = 0; i < p->fns.n && !diag_full(d); i++) {
    FnDecl *f = p->fns.v[i];
    if (f->state != 2) check_fn_body(&c, f);
  }
  if (c.model)
    for (int i = 0; i < c.model->fns.n && !diag_full(d); i++) {
      FnDecl *f = c.model->fns.v[i];
      if (f->state != 2) check_fn_body(&c, f);
    }
  /* 5. recursion */
  check_recursion(&c, &p->fns);
  if (c.model) check_recursion(&c, &c.model->fns);

  /* 6. train block */
  if (c.model && c.model->train && !diag_full(d)) check_train(&c, c.model);
  if (d->nerrors == 0) check_inlining(&c);
  p->nsyms = c.next_id;
  return d->nerrors == 0;
}
