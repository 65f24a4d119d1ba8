/* check_expr.c — the checker's expressions: operators (broadcasting,
 * weak-scalar promotion, constant folding), matmul, indexing and slicing,
 * user calls; builtin calls go to builtins.c, derivatives to
 * check_deriv.c. Part of the checker (check.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

/* ---- expressions ------------------------------------------------------- */

static bool check_expr(Checker *c, Expr *e);

/* Can a weak (literal-derived) scalar of dtype `from` be stored where
 * `to` is wanted? Numbers adapt among numbers (floats only to floats);
 * true and false only to bool. */
bool weak_adapts(DType from, DType to) {
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
    Sym *s = sym_lookup(c, e->name.id);
    if (!s) {
      FnDecl *f = check_find_fn(c, e->name.id);
      if (f || builtin_find(e->name.id)) {
        diag_error(c->d, e->loc, "'%s' is a function; call it with %s(...)", e->name.id, e->name.id);
        return false;
      }
      const char *hint = suggest_name(c, e->name.id, false);
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
    /* the run-time dimension as a value is the call's size, an i32
     * scalar (f32(N) to divide by it): only a function that takes an
     * argument sized by it knows it; never a constant, so it cannot size
     * a static axis, a loop or an axis number */
    if (s->kind == SYM_CONST && s->cdecl->is_dim) {
      resolve_const(c, s->cdecl);
      if (!dyn_allowed_here(c, e, s->cdecl)) return false;
      e->ty = type_scalar(TY_I32);
      e->weak = false;
      return true;
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
    FnDecl *f = check_find_fn(c, e->call.name);
    if (f) return check_user_call(c, e, f);
    if (deriv_kind(e->call.name) >= 0) return check_deriv_unapplied(c, e);
    const Builtin *bi = builtin_find(e->call.name);
    if (bi && bi->id == BI_DROPOUT && c->fn) c->fn->dropout = true;
    if (bi) return check_builtin_call(c, e, bi);
    Sym *s = sym_lookup(c, e->call.name);
    if (s) {
      diag_error(c->d, e->call.name_loc, "'%s' is a %s, not a function", e->call.name, sym_kind_name(s->kind));
      return false;
    }
    const char *hint = suggest_name(c, e->call.name, true);
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
