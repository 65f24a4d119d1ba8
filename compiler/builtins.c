/* builtins.c — argument binding and typing of the builtin functions listed
 * in builtins.def.
 *
 * Each ck_* function receives the call and its arguments bound to the
 * builtin's parameter list (NULL for an omitted optional one), reports
 * errors with the shapes involved, sets e->ty, and stores what it
 * normalized for irgen in the named fields of e->call.attrs (CallAttrs in
 * ast.h says which builtins use which field). Shape builtins (reshape,
 * flatten, squeeze, unsqueeze, broadcast_to, zeros/ones/full) need no more
 * than their result type. */
#include <math.h>
#include <string.h>

#include "check_internal.h"

typedef bool (*CheckFn)(Checker *c, Expr *e, Expr **a);

#define B(id, name, params, check, lower, op, rule) static bool check(Checker *c, Expr *e, Expr **a);
#include "builtins.def"
#undef B

static const Builtin table[BI_COUNT] = {
#define B(id, name, params, check, lower, op, rule) {BI_##id, name, params, rule},
#include "builtins.def"
#undef B
};

static const CheckFn checks[BI_COUNT] = {
#define B(id, name, params, check, lower, op, rule) check,
#include "builtins.def"
#undef B
};

const Builtin *builtin_find(const char *name) {
  for (int i = 0; i < BI_COUNT; i++)
    if (!strcmp(table[i].name, name)) return &table[i];
  return NULL;
}

const Builtin *builtin_get(BuiltinId id) { return &table[id]; }

/* ---- binding ------------------------------------------------------------- */

enum { MAXP = 8 };

static int split_params(const Builtin *bi, char names[MAXP][24], bool *optional) {
  int n = 0;
  const char *s = bi->params;
  while (*s && n < MAXP) {
    int k = 0;
    while (*s && *s != ',' && k < 23) names[n][k++] = *s++;
    names[n][k] = 0;
    optional[n] = k > 0 && names[n][k - 1] == '?';
    if (optional[n]) names[n][k - 1] = 0;
    n++;
    if (*s == ',') s++;
  }
  return n;
}

bool check_builtin_call(Checker *c, Expr *e, const Builtin *bi) {
  char names[MAXP][24];
  bool optional[MAXP];
  int np = split_params(bi, names, optional);
  const char *pnames[MAXP];
  for (int j = 0; j < np; j++) pnames[j] = names[j];
  Expr **bound = NEW_ARRAY(c->a, Expr *, MAXP);
  bool ok = bind_args(c, e, "argument", pnames, np, bi->rule, bound);
  for (int j = 0; j < np && ok; j++)
    if (!bound[j] && !optional[j]) {
      diag_error(c->d, e->loc, "%s() needs the argument '%s'", bi->name, names[j]);
      diag_note(c->d, e->call.name_loc, "%s", bi->rule);
      ok = false;
    }
  e->call.bi = bi;
  e->call.bound = bound;
  e->call.attrs = NEW(c->a, CallAttrs);
  if (!ok) return false;
  return checks[bi->id](c, e, bound);
}

/* ---- helpers ------------------------------------------------------------- */

/* A floating-point tensor argument (weak scalars become f32). */
static bool float_arg(Checker *c, Expr *e, Expr *x, const char *what) {
  if (!check_tensor(c, x)) return false;
  if (x->weak && x->ty.dtype != TY_BOOL) {
    x->ty.dtype = TY_F32;
    return true;
  }
  if (!dtype_is_float(x->ty.dtype)) {
    diag_error(c->d, x->loc, "%s() needs a floating-point %s, but this is %s%s", e->call.name, what,
               tstr(&x->ty), x->ty.dtype == TY_I32 ? " (convert it with f32(...))" : "");
    return false;
  }
  return true;
}

static bool rank_at_least(Checker *c, Expr *e, Expr *x, int r, const char *what) {
  if (x->ty.rank < r) {
    diag_error(c->d, x->loc, "%s() needs %s of rank %d or more, but this is %s", e->call.name, what, r,
               tstr(&x->ty));
    return false;
  }
  return true;
}

static bool rank_is(Checker *c, Expr *e, Expr *x, int r, const char *what, const char *layout) {
  if (x->ty.rank != r) {
    diag_error(c->d, x->loc, "%s() needs %s of rank %d %s, but this is %s", e->call.name, what, r, layout,
               tstr(&x->ty));
    return false;
  }
  return true;
}

static bool bool_const(Checker *c, Expr *x, bool *out) {
  if (!check_const(c, x, "this argument")) return false;
  if (x->cv.kind != CV_BOOL) {
    diag_error(c->d, x->loc, "this argument must be true or false");
    return false;
  }
  *out = x->cv.i != 0;
  return true;
}

/* A pair given as one integer or [a, b]. */
static bool int_pair(Checker *c, Expr *x, const char *what, int64_t out[2]) {
  int64_t v[2];
  int n = 0;
  if (!const_int_list(c, x, what, v, &n, 2)) return false;
  if (n == 1) v[1] = v[0];
  else if (n != 2) {
    diag_error(c->d, x->loc, "%s must be one integer or a pair [h, w]", what);
    return false;
  }
  out[0] = v[0];
  out[1] = v[1];
  return true;
}

/* A shape list: constant sizes or the run-time dimension's name. */
static bool shape_list_arg(Checker *c, Expr *x, int64_t *v, int *n, unsigned *dyn, const char **dyn_name) {
  *dyn = 0;
  Expr *one[1] = {x};
  Expr **el = x->kind == EX_LIST ? x->list.elems : one;
  int cnt = x->kind == EX_LIST ? x->list.n : 1;
  if (cnt > MAX_RANK) {
    diag_error(c->d, x->loc, "a shape has %d entries; at most %d are allowed", cnt, MAX_RANK);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < cnt; i++) {
    ConstDecl *k;
    if (!const_dim(c, el[i], "a shape", &v[i], &k)) {
      ok = false;
      continue;
    }
    if (k && !dyn_allowed_here(c, el[i], k)) ok = false;
    if (k) *dyn |= 1u << i, *dyn_name = k->name;
  }
  *n = cnt;
  return ok;
}

static bool shape_arg(Checker *c, Expr *x, Type *out, bool allow_infer) {
  int64_t v[MAX_RANK + 1];
  int n = 0;
  if (!shape_list_arg(c, x, v, &n, &out->dyn, &out->dyn_name)) return false;
  out->rank = n;
  int64_t numel = 1;
  for (int i = 0; i < n; i++) {
    if (v[i] <= 0 && !(allow_infer && v[i] == -1)) {
      diag_error(c->d, x->kind == EX_LIST ? x->list.elems[i]->loc : x->loc,
                 "a dimension must be positive%s, but this one is %lld", allow_infer ? " (or -1)" : "",
                 (long long)v[i]);
      return false;
    }
    out->dim[i] = v[i];
    int64_t f[2] = {numel, v[i]};
    if (v[i] > 0 && !size_fits(f, 2, &numel)) {
      diag_error(c->d, x->loc, "this shape is too large (more than 2^40 elements)");
      return false;
    }
  }
  return true;
}

/* ---- elementwise -------------------------------------------------------- */

static bool ck_float_unary(Checker *c, Expr *e, Expr **a) {
  if (!float_arg(c, e, a[0], "tensor")) return false;
  e->ty = a[0]->ty;
  e->weak = a[0]->weak;
  return true;
}

static bool ck_num_unary(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  if (a[0]->ty.dtype == TY_BOOL) {
    diag_error(c->d, a[0]->loc, "%s() needs a numeric tensor, but this is %s", e->call.name, tstr(&a[0]->ty));
    return false;
  }
  e->ty = a[0]->ty;
  e->weak = a[0]->weak;
  return true;
}

static bool ck_float_binary(Checker *c, Expr *e, Expr **a) {
  bool ok0 = check_tensor(c, a[0]), ok1 = check_tensor(c, a[1]);
  if (!ok0 || !ok1) return false;
  if (!binary_type(c, e->loc, e->call.name, a[0], a[1], false, false, &e->ty)) return false;
  e->weak = a[0]->weak && a[1]->weak;
  if (e->weak) e->ty.dtype = TY_F32;
  return true;
}

static bool ck_num_binary(Checker *c, Expr *e, Expr **a) {
  bool ok0 = check_tensor(c, a[0]), ok1 = check_tensor(c, a[1]);
  if (!ok0 || !ok1) return false;
  if (!binary_type(c, e->loc, e->call.name, a[0], a[1], true, false, &e->ty)) return false;
  e->weak = a[0]->weak && a[1]->weak;
  return true;
}

static bool ck_clip(Checker *c, Expr *e, Expr **a) {
  bool ok = check_tensor(c, a[0]);
  ok = check_tensor(c, a[1]) && ok;
  ok = check_tensor(c, a[2]) && ok;
  if (!ok) return false;
  Type t1, t2;
  if (!binary_type(c, a[1]->loc, "clip", a[0], a[1], true, false, &t1)) return false;
  if (!binary_type(c, a[2]->loc, "clip", a[0], a[2], true, false, &t2)) return false;
  if (!shape_eq(&t1, &a[0]->ty) || !shape_eq(&t2, &a[0]->ty)) {
    diag_error(c->d, e->loc, "clip() bounds must broadcast to x's shape %s", tstr(&a[0]->ty));
    return false;
  }
  e->ty = t1;
  e->weak = a[0]->weak;
  return true;
}

static bool ck_where(Checker *c, Expr *e, Expr **a) {
  bool ok = check_tensor(c, a[0]);
  ok = check_tensor(c, a[1]) && ok;
  ok = check_tensor(c, a[2]) && ok;
  if (!ok) return false;
  if (a[0]->ty.dtype != TY_BOOL) {
    diag_error(c->d, a[0]->loc, "where() needs a bool condition, but this is %s (compare it, e.g. x > 0)",
               tstr(&a[0]->ty));
    return false;
  }
  Type ab;
  if (!binary_type(c, e->loc, "select between", a[1], a[2], true, true, &ab)) return false;
  Type cond = a[0]->ty, out;
  if (!broadcast_shapes(&cond, &ab, &out)) {
    diag_error(c->d, e->loc, "where(): the condition %s does not broadcast with the values %s", tstr(&cond),
               tstr(&ab));
    return false;
  }
  out.dtype = ab.dtype;
  e->ty = out;
  return true;
}

/* ---- reductions --------------------------------------------------------- */

static bool axes_arg(Checker *c, Expr *axis, const Type *t, bool *mask) {
  int64_t v[MAX_RANK];
  int n = 0;
  memset(mask, 0, sizeof(bool) * MAX_RANK);
  if (!axis) {
    for (int i = 0; i < t->rank; i++) mask[i] = true;
    return true;
  }
  if (!const_int_list(c, axis, "an axis", v, &n, MAX_RANK)) return false;
  for (int i = 0; i < n; i++) {
    int64_t ax;
    if (!norm_axis(c, axis->loc, v[i], t->rank, t, &ax)) return false;
    if (mask[ax]) {
      diag_error(c->d, axis->loc, "axis %lld is listed twice", (long long)v[i]);
      return false;
    }
    mask[ax] = true;
  }
  return true;
}

static bool ck_reduce(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  Expr *x = a[0];
  bool needs_float = e->call.bi->id == BI_MEAN || e->call.bi->id == BI_LOGSUMEXP;
  if (x->ty.dtype == TY_BOOL || (needs_float && !dtype_is_float(x->ty.dtype) && !x->weak)) {
    diag_error(c->d, x->loc, "%s() needs a %s tensor, but this is %s", e->call.name,
               needs_float ? "floating-point" : "numeric", tstr(&x->ty));
    return false;
  }
  if (x->weak) x->ty.dtype = needs_float ? TY_F32 : x->ty.dtype;
  bool mask[MAX_RANK], keep = false;
  if (!axes_arg(c, a[1], &x->ty, mask)) return false;
  if (a[2] && !bool_const(c, a[2], &keep)) return false;
  CallAttrs *at = e->call.attrs;
  at->keepdims = keep;
  Type out = type_scalar(x->ty.dtype);
  for (int i = 0; i < x->ty.rank; i++) {
    if (mask[i]) {
      at->axes[at->naxes++] = i;
      if (keep) out.dim[out.rank++] = 1;
    } else {
      type_push_axis(&out, &x->ty, i);
    }
  }
  e->ty = out;
  return true;
}

static bool ck_argmax(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  Expr *x = a[0];
  if (x->ty.dtype == TY_BOOL || x->ty.rank == 0) {
    diag_error(c->d, x->loc, "argmax() needs a numeric tensor of rank 1 or more, but this is %s", tstr(&x->ty));
    return false;
  }
  int64_t axis = -1;
  bool keep = false;
  if (a[1] && !const_int(c, a[1], "the axis", &axis)) return false;
  if (!norm_axis(c, a[1] ? a[1]->loc : e->loc, axis, x->ty.rank, &x->ty, &axis)) return false;
  if (a[2] && !bool_const(c, a[2], &keep)) return false;
  Type out = type_scalar(TY_I32);
  for (int i = 0; i < x->ty.rank; i++)
    if (i != axis) type_push_axis(&out, &x->ty, i);
    else if (keep) out.dim[out.rank++] = 1;
  e->call.attrs->keepdims = keep;
  e->call.attrs->axis = axis;
  e->ty = out;
  return true;
}

/* ---- shapes ------------------------------------------------------------- */

static bool set_result_dims(Checker *c, Expr *e, const Type *x, const Type *shape) {
  e->ty = *shape;
  e->ty.dtype = x->dtype;
  return true;
}

/* A reshape keeps the run-time axis as one axis with the same static
 * sizes before it (storage is laid out for the bound, so only then are the
 * elements where the new shape expects them for every run-time size). */
static bool same_dyn_layout(const Type *x, const Type *s) {
  int ax = type_dyn_axis(x), as = type_dyn_axis(s);
  if (ax < 0 || as < 0) return ax == as;
  int64_t px = 1, ps = 1;
  for (int i = 0; i < ax; i++) px *= x->dim[i];
  for (int i = 0; i < as; i++) ps *= s->dim[i];
  return px == ps;
}

static bool ck_reshape(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  Type s = type_scalar(x->dtype);
  if (!shape_arg(c, a[1], &s, true)) return false;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.rank; i++) {
    if (s.dim[i] == -1) {
      if (infer >= 0) {
        diag_error(c->d, a[1]->loc, "only one dimension of a reshape can be -1");
        return false;
      }
      infer = i;
    } else {
      known *= s.dim[i];
    }
  }
  int64_t n = type_numel(x);
  if (infer >= 0) {
    if (known == 0 || n % known) {
      diag_error(c->d, a[1]->loc, "cannot reshape %s (%lld elements) to %s: %lld is not a multiple of %lld",
                 tstr(x), (long long)n, "this shape", (long long)n, (long long)known);
      return false;
    }
    s.dim[infer] = n / known;
    known = n;
  }
  if (known != n) {
    diag_error(c->d, a[1]->loc, "cannot reshape %s (%lld elements) to %s (%lld elements)", tstr(x),
               (long long)n, tstr(&s), (long long)known);
    return false;
  }
  if (!same_dyn_layout(x, &s)) {
    diag_error(c->d, a[1]->loc, "cannot reshape %s to %s: the run-time axis must stay an axis of its own, "
               "after the same static sizes", tstr(x), tstr(&s));
    return false;
  }
  return set_result_dims(c, e, x, &s);
}

static bool ck_flatten(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  if (!rank_at_least(c, e, a[0], 1, "a tensor")) return false;
  int64_t start = 1, end = -1;
  if (x->rank == 1) start = 0;
  if (a[1] && !const_int(c, a[1], "start", &start)) return false;
  if (a[2] && !const_int(c, a[2], "end", &end)) return false;
  if (!norm_axis(c, a[1] ? a[1]->loc : e->loc, start, x->rank, x, &start)) return false;
  if (!norm_axis(c, a[2] ? a[2]->loc : e->loc, end, x->rank, x, &end)) return false;
  if (start > end) {
    diag_error(c->d, e->loc, "flatten(): start axis %lld is after end axis %lld", (long long)start, (long long)end);
    return false;
  }
  Type s = type_scalar(x->dtype);
  int64_t m = 1;
  int dax = type_dyn_axis(x);
  if (dax >= start && dax <= end && start < end) {
    diag_error(c->d, e->loc, "flatten(): axis %d of %s is sized at run time and cannot be merged with others", dax, tstr(x));
    return false;
  }
  for (int i = 0; i < x->rank; i++) {
    if (i < start || i > end || start == end) type_push_axis(&s, x, i);
    else {
      m *= x->dim[i];
      if (i == end) s.dim[s.rank++] = m;
    }
  }
  return set_result_dims(c, e, x, &s);
}

static bool set_perm(Checker *c, Expr *e, const Type *x, const int64_t *perm) {
  Type s = type_scalar(x->dtype);
  s.rank = x->rank;
  for (int i = 0; i < x->rank; i++) type_set_axis(&s, i, x, (int)perm[i]);
  e->ty = s;
  memcpy(e->call.attrs->perm, perm, sizeof(int64_t) * (size_t)x->rank);
  return true;
}

static bool ck_transpose(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  if (!rank_at_least(c, e, a[0], 2, "a tensor")) return false;
  int64_t p = -2, q = -1;
  if (a[1] && !const_int(c, a[1], "an axis", &p)) return false;
  if (a[2] && !const_int(c, a[2], "an axis", &q)) return false;
  if (!norm_axis(c, a[1] ? a[1]->loc : e->loc, p, x->rank, x, &p)) return false;
  if (!norm_axis(c, a[2] ? a[2]->loc : e->loc, q, x->rank, x, &q)) return false;
  int64_t perm[MAX_RANK];
  for (int i = 0; i < x->rank; i++) perm[i] = i;
  perm[p] = q;
  perm[q] = p;
  return set_perm(c, e, x, perm);
}

static bool ck_permute(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  int64_t perm[MAX_RANK];
  int n = 0;
  if (!const_int_list(c, a[1], "a permutation", perm, &n, MAX_RANK)) return false;
  bool seen[MAX_RANK] = {0};
  if (n != x->rank) {
    diag_error(c->d, a[1]->loc, "permute() needs %d axes for %s, but %d are given", x->rank, tstr(x), n);
    return false;
  }
  for (int i = 0; i < n; i++) {
    int64_t ax;
    if (!norm_axis(c, a[1]->loc, perm[i], x->rank, x, &ax)) return false;
    if (seen[ax]) {
      diag_error(c->d, a[1]->loc, "permute(): axis %lld appears twice; each axis must appear once", (long long)ax);
      return false;
    }
    seen[ax] = true;
    perm[i] = ax;
  }
  return set_perm(c, e, x, perm);
}

static bool ck_squeeze(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  int64_t ax;
  if (!const_int(c, a[1], "the axis", &ax)) return false;
  if (!norm_axis(c, a[1]->loc, ax, x->rank, x, &ax)) return false;
  if (x->dim[ax] != 1 || axis_dyn(x, (int)ax)) {
    diag_error(c->d, a[1]->loc, "squeeze(): axis %lld of %s has size %lld, not 1", (long long)ax, tstr(x),
               (long long)x->dim[ax]);
    return false;
  }
  Type s = type_scalar(x->dtype);
  for (int i = 0; i < x->rank; i++)
    if (i != ax) type_push_axis(&s, x, i);
  return set_result_dims(c, e, x, &s);
}

static bool ck_unsqueeze(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  int64_t ax;
  if (!const_int(c, a[1], "the axis", &ax)) return false;
  if (x->rank >= MAX_RANK) {
    diag_error(c->d, e->loc, "unsqueeze(): %s already has the maximum rank %d", tstr(x), MAX_RANK);
    return false;
  }
  if (!norm_axis(c, a[1]->loc, ax, x->rank + 1, x, &ax)) return false;
  Type s = type_scalar(x->dtype);
  for (int i = 0; i <= x->rank; i++) {
    if (i == ax) s.dim[s.rank++] = 1;
    if (i < x->rank) type_push_axis(&s, x, i);
  }
  return set_result_dims(c, e, x, &s);
}

static bool ck_broadcast_to(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  const Type *x = &a[0]->ty;
  Type s = type_scalar(x->dtype);
  if (!shape_arg(c, a[1], &s, false)) return false;
  if (!broadcasts_to(x, &s)) {
    diag_error(c->d, e->loc, "cannot broadcast %s to %s", tstr(x), tstr(&s));
    return false;
  }
  return set_result_dims(c, e, x, &s);
}

static bool ck_concat(Checker *c, Expr *e, Expr **a) {
  Expr *xs = a[0];
  if (xs->kind != EX_LIST || xs->list.n == 0) {
    diag_error(c->d, xs->loc, "concat() takes a list of tensors: concat([a, b], axis=1)");
    return false;
  }
  bool ok = true;
  for (int i = 0; i < xs->list.n; i++)
    if (!check_tensor(c, xs->list.elems[i])) ok = false;
  if (!ok) return false;
  const Type *t0 = &xs->list.elems[0]->ty;
  int64_t axis = 0;
  if (a[1] && !const_int(c, a[1], "the axis", &axis)) return false;
  if (!norm_axis(c, a[1] ? a[1]->loc : e->loc, axis, t0->rank, t0, &axis)) return false;
  Type out = *t0;
  for (int i = 1; i < xs->list.n; i++) {
    Expr *x = xs->list.elems[i];
    bool fit = x->ty.dtype == t0->dtype && x->ty.rank == t0->rank;
    for (int k = 0; fit && k < t0->rank; k++)
      if (k != axis && !axis_same(&x->ty, k, t0, k)) fit = false;
    if (axis_dyn(&x->ty, (int)axis) || axis_dyn(t0, (int)axis)) fit = false;
    if (!fit) {
      diag_error(c->d, x->loc, "concat() along axis %lld: %s does not fit %s (all sizes but the axis must agree)",
                 (long long)axis, tstr(&x->ty), tstr(t0));
      return false;
    }
    out.dim[axis] += x->ty.dim[axis];
  }
  e->call.attrs->axis = axis;
  e->ty = out;
  return true;
}

static bool ck_fill(Checker *c, Expr *e, Expr **a) {
  Type s = type_scalar(TY_F32);
  if (!shape_arg(c, a[0], &s, false)) return false;
  double v = e->call.bi->id == BI_ONES ? 1.0 : 0.0;
  if (e->call.bi->id == BI_FULL && !const_float(c, a[1], "the fill value", &v)) return false;
  e->call.attrs->value = v;
  return set_result_dims(c, e, &s, &s);
}

static bool ck_like(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  e->ty = a[0]->ty;
  return true;
}

static bool ck_arange(Checker *c, Expr *e, Expr **a) {
  int64_t n;
  if (!const_int(c, a[0], "the length", &n)) return false;
  if (n <= 0 || n > (1 << 30)) {
    diag_error(c->d, a[0]->loc, "arange(n) needs 1 <= n <= 2^30, not %lld", (long long)n);
    return false;
  }
  e->ty = type_scalar(TY_I32);
  e->ty.rank = 1;
  e->ty.dim[0] = n;
  return true;
}

static bool ck_causal_mask(Checker *c, Expr *e, Expr **a) {
  int64_t n;
  if (!const_int(c, a[0], "the size", &n)) return false;
  if (n <= 0 || n > (1 << 20)) {
    diag_error(c->d, a[0]->loc, "causal_mask(n) needs 1 <= n <= 2^20, not %lld", (long long)n);
    return false;
  }
  e->ty = type_scalar(TY_BOOL);
  e->ty.rank = 2;
  e->ty.dim[0] = e->ty.dim[1] = n;
  return true;
}

static bool ck_one_hot(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  Expr *idx = a[0];
  if (idx->ty.dtype != TY_I32) {
    diag_error(c->d, idx->loc, "one_hot() needs i32 indices, but this is %s", tstr(&idx->ty));
    return false;
  }
  int64_t n;
  if (!const_int(c, a[1], "the number of classes", &n)) return false;
  if (n <= 0 || idx->ty.rank >= MAX_RANK) {
    diag_error(c->d, a[1]->loc, "one_hot() needs a positive number of classes");
    return false;
  }
  e->ty = idx->ty;
  e->ty.dtype = TY_F32;
  e->ty.dim[e->ty.rank++] = n;
  e->call.attrs->classes = n;
  return true;
}

/* ---- layers --------------------------------------------------------------- */

static bool ck_matmul(Checker *c, Expr *e, Expr **a) {
  bool ok0 = check_tensor(c, a[0]), ok1 = check_tensor(c, a[1]);
  if (!ok0 || !ok1) return false;
  return check_matmul(c, e->loc, a[0], a[1], &e->ty);
}

/* Convolution and pooling take the run-time size as the batch axis only. */
static bool not_batch_only(Checker *c, Expr *e, const Type *x) {
  if ((x->dyn & ~1u) == 0) return false;
  diag_error(c->d, e->loc, "%s(): only the batch axis (the first) of %s may be sized at run time", e->call.name, tstr(x));
  return true;
}

/* Strides, paddings and the window of conv2d and the pools: each at most
 * 2^40, and the padded input and the window too (a pool with a 2^62
 * kernel and 2^61 padding passed, then overflowed int64 in plan.c and
 * hung the interpreter). `k` is NULL for conv2d (its window is the
 * filter, a type the checker has bounded). */
static bool window_fits(Checker *c, Expr *e, const Type *x, const int64_t s[2], const int64_t p[2],
                        const int64_t k[2]) {
  int64_t one[6] = {s[0], s[1], p[0], p[1], k ? k[0] : 1, k ? k[1] : 1};
  int64_t padded[4] = {x->dim[0], x->dim[1], 0, 0};
  bool ok = size_fits(one + 4, 2, NULL); /* the window, and so each side */
  for (int i = 0; i < 4; i++) ok = ok && size_fits(one + i, 1, NULL);
  if (ok) {
    padded[2] = x->dim[2] + 2 * p[0];
    padded[3] = x->dim[3] + 2 * p[1];
    ok = size_fits(padded, 4, NULL);
  }
  if (!ok)
    diag_error(c->d, e->loc, "%s(): the stride, padding or window is too large (more than 2^40 elements "
               "with the input %s)", e->call.name, tstr(x));
  return ok;
}

static bool ck_conv2d(Checker *c, Expr *e, Expr **a) {
  bool ok = float_arg(c, e, a[0], "input");
  ok = float_arg(c, e, a[1], "filter") && ok;
  if (a[2]) ok = float_arg(c, e, a[2], "bias") && ok;
  if (!ok) return false;
  if (!rank_is(c, e, a[0], 4, "an input", "[N, C, H, W]")) return false;
  if (!rank_is(c, e, a[1], 4, "a filter", "[O, C, KH, KW]")) return false;
  const Type *x = &a[0]->ty, *w = &a[1]->ty;
  if (x->dtype != w->dtype) {
    diag_error(c->d, e->loc, "conv2d(): input %s and filter %s have different element types", tstr(x), tstr(w));
    return false;
  }
  if (not_batch_only(c, e, x)) return false;
  if (x->dim[1] != w->dim[1] || type_is_dyn(w)) {
    diag_error(c->d, e->loc, "conv2d(): the input has %lld channel%s but the filter expects %lld: %s and %s",
               (long long)x->dim[1], x->dim[1] == 1 ? "" : "s", (long long)w->dim[1], tstr(x), tstr(w));
    return false;
  }
  if (a[2] && (a[2]->ty.rank != 1 || a[2]->ty.dim[0] != w->dim[0] || a[2]->ty.dtype != x->dtype)) {
    diag_error(c->d, a[2]->loc, "conv2d(): the bias must be %s[%lld] (one per output channel), but this is %s",
               dtype_name(x->dtype), (long long)w->dim[0], tstr(&a[2]->ty));
    return false;
  }
  int64_t s[2] = {1, 1}, p[2] = {0, 0};
  if (a[3] && !int_pair(c, a[3], "the stride", s)) return false;
  if (a[4] && !int_pair(c, a[4], "the padding", p)) return false;
  if (s[0] < 1 || s[1] < 1) {
    diag_error(c->d, a[3]->loc, "the stride must be at least 1");
    return false;
  }
  if (p[0] < 0 || p[1] < 0 || p[0] >= w->dim[2] || p[1] >= w->dim[3]) {
    diag_error(c->d, a[4]->loc, "the padding must be between 0 and the kernel size minus 1");
    return false;
  }
  if (!window_fits(c, e, x, s, p, NULL)) return false;
  int64_t oh = (x->dim[2] + 2 * p[0] - w->dim[2]), ow = (x->dim[3] + 2 * p[1] - w->dim[3]);
  if (oh < 0 || ow < 0) {
    diag_error(c->d, e->loc, "conv2d(): the %lldx%lld kernel is larger than the padded %lldx%lld input",
               (long long)w->dim[2], (long long)w->dim[3], (long long)(x->dim[2] + 2 * p[0]),
               (long long)(x->dim[3] + 2 * p[1]));
    return false;
  }
  Type out = type_scalar(x->dtype);
  out.rank = 4;
  type_set_axis(&out, 0, x, 0);
  out.dim[1] = w->dim[0];
  out.dim[2] = oh / s[0] + 1;
  out.dim[3] = ow / s[1] + 1;
  CallAttrs *at = e->call.attrs;
  memcpy(at->stride, s, sizeof at->stride);
  memcpy(at->pad, p, sizeof at->pad);
  e->ty = out;
  return true;
}

static bool ck_pool2d(Checker *c, Expr *e, Expr **a) {
  if (!float_arg(c, e, a[0], "input")) return false;
  if (!rank_is(c, e, a[0], 4, "an input", "[N, C, H, W]")) return false;
  const Type *x = &a[0]->ty;
  if (not_batch_only(c, e, x)) return false;
  int64_t k[2], s[2], p[2] = {0, 0};
  if (!int_pair(c, a[1], "the kernel size", k)) return false;
  s[0] = k[0];
  s[1] = k[1];
  if (a[2] && !int_pair(c, a[2], "the stride", s)) return false;
  if (a[3] && !int_pair(c, a[3], "the padding", p)) return false;
  if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1) {
    diag_error(c->d, e->loc, "%s(): kernel and stride must be at least 1", e->call.name);
    return false;
  }
  if (p[0] < 0 || p[1] < 0 || p[0] > k[0] / 2 || p[1] > k[1] / 2) {
    diag_error(c->d, a[3] ? a[3]->loc : e->loc, "%s(): padding must be between 0 and half the kernel size",
               e->call.name);
    return false;
  }
  if (!window_fits(c, e, x, s, p, k)) return false;
  int64_t oh = x->dim[2] - (k[0] - 2 * p[0]), ow = x->dim[3] - (k[1] - 2 * p[1]); /* 2p <= k: no overflow */
  if (oh < 0 || ow < 0) {
    diag_error(c->d, e->loc, "%s(): the %lldx%lld window is larger than the input %s", e->call.name,
               (long long)k[0], (long long)k[1], tstr(x));
    return false;
  }
  Type out = *x;
  out.dim[2] = oh / s[0] + 1;
  out.dim[3] = ow / s[1] + 1;
  CallAttrs *at = e->call.attrs;
  memcpy(at->window, k, sizeof at->window);
  memcpy(at->stride, s, sizeof at->stride);
  memcpy(at->pad, p, sizeof at->pad);
  e->ty = out;
  return true;
}

static bool ck_embed(Checker *c, Expr *e, Expr **a) {
  bool ok = float_arg(c, e, a[0], "table");
  ok = check_tensor(c, a[1]) && ok;
  if (!ok) return false;
  if (!rank_is(c, e, a[0], 2, "a table", "[V, D]")) return false;
  if (a[1]->ty.dtype != TY_I32 || a[1]->weak) {
    diag_error(c->d, a[1]->loc, "embed() needs i32 indices, but this is %s", tstr(&a[1]->ty));
    return false;
  }
  if (a[1]->ty.rank >= MAX_RANK) {
    diag_error(c->d, a[1]->loc, "embed(): indices of rank %d leave no room for the embedding axis", a[1]->ty.rank);
    return false;
  }
  e->ty = a[1]->ty;
  e->ty.dtype = a[0]->ty.dtype;
  e->ty.dim[e->ty.rank++] = a[0]->ty.dim[1];
  return true;
}

static bool ck_softmax(Checker *c, Expr *e, Expr **a) {
  if (!float_arg(c, e, a[0], "tensor")) return false;
  if (!rank_at_least(c, e, a[0], 1, "a tensor")) return false;
  int64_t axis = -1;
  if (a[1] && !const_int(c, a[1], "the axis", &axis)) return false;
  if (!norm_axis(c, a[1] ? a[1]->loc : e->loc, axis, a[0]->ty.rank, &a[0]->ty, &axis)) return false;
  e->call.attrs->axis = axis;
  e->ty = a[0]->ty;
  return true;
}

static bool ck_layernorm(Checker *c, Expr *e, Expr **a) {
  if (!float_arg(c, e, a[0], "tensor")) return false;
  if (!rank_at_least(c, e, a[0], 1, "a tensor")) return false;
  const Type *x = &a[0]->ty;
  int64_t d = x->dim[x->rank - 1];
  for (int i = 1; i <= 2; i++) {
    if (!a[i]) continue;
    if (!float_arg(c, e, a[i], i == 1 ? "gamma" : "beta")) return false;
    if (a[i]->ty.rank != 1 || a[i]->ty.dim[0] != d || a[i]->ty.dtype != x->dtype) {
      diag_error(c->d, a[i]->loc, "layernorm(): %s must be %s[%lld] to match the last axis of %s, but it is %s",
                 i == 1 ? "gamma" : "beta", dtype_name(x->dtype), (long long)d, tstr(x), tstr(&a[i]->ty));
      return false;
    }
  }
  double eps = 1e-5;
  if (a[3] && !const_float(c, a[3], "eps", &eps)) return false;
  if (eps <= 0) {
    diag_error(c->d, a[3]->loc, "layernorm(): eps must be positive");
    return false;
  }
  e->call.attrs->eps = eps;
  e->ty = *x;
  return true;
}

static bool ck_dropout(Checker *c, Expr *e, Expr **a) {
  if (!float_arg(c, e, a[0], "tensor")) return false;
  double p;
  if (!const_float(c, a[1], "the drop probability", &p)) return false;
  if (!(p >= 0 && p < 1)) {
    diag_error(c->d, a[1]->loc, "dropout(): p must be in [0, 1), not %g", p);
    return false;
  }
  e->call.attrs->p = p;
  e->ty = a[0]->ty;
  return true;
}

static bool ck_cross_entropy(Checker *c, Expr *e, Expr **a) {
  bool ok = float_arg(c, e, a[0], "logits");
  ok = check_tensor(c, a[1]) && ok;
  if (!ok) return false;
  if (!rank_at_least(c, e, a[0], 1, "logits")) return false;
  const Type *l = &a[0]->ty, *y = &a[1]->ty;
  if (y->dtype != TY_I32) {
    diag_error(c->d, a[1]->loc, "cross_entropy() needs i32 class labels, but these are %s", tstr(y));
    return false;
  }
  Type want = *l;
  want.rank--;
  want.dyn &= ~(1u << want.rank);
  want.dtype = TY_I32;
  if (!shape_eq(&want, y)) {
    diag_error(c->d, e->loc, "cross_entropy(): logits %s need labels %s (one per row), but the labels are %s",
               tstr(l), tstr(&want), tstr(y));
    return false;
  }
  e->ty = type_scalar(l->dtype);
  return true;
}

static bool ck_mse(Checker *c, Expr *e, Expr **a) {
  bool ok = float_arg(c, e, a[0], "prediction");
  ok = float_arg(c, e, a[1], "target") && ok;
  if (!ok) return false;
  if (!type_eq(&a[0]->ty, &a[1]->ty)) {
    diag_error(c->d, e->loc, "%s() needs two tensors of the same type, but got %s and %s", e->call.name,
               tstr(&a[0]->ty), tstr(&a[1]->ty));
    return false;
  }
  e->ty = type_scalar(a[0]->ty.dtype);
  return true;
}

static bool ck_cast(Checker *c, Expr *e, Expr **a) {
  if (!check_tensor(c, a[0])) return false;
  static const DType to[] = {TY_F32, TY_F64, TY_I32, TY_BOOL};
  e->ty = a[0]->ty;
  e->ty.dtype = to[e->call.bi->id - BI_TO_F32];
  return true;
}
