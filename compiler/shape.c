/* shape.c — the shape rule of every op in ops.def: validate operand types
 * and attributes, compute (or, for F_TYPED ops, check) the result types.
 * The builder calls these for every new instruction and the verifier
 * recomputes them, so a type in the IR is never out of date. */
#include <stdarg.h>
#include <string.h>

#include "ir.h"

typedef struct Ctx {
  const Inst *in;
  Type *out;
  char *err;
  size_t errn;
} Ctx;

static bool fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(Ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, c->errn, fmt, ap);
  va_end(ap);
  return false;
}

#define ARG(k) (&c->in->args[k]->ty)
#define AT(k) (c->in->attr.i[k])

static bool is_float(const Type *t) { return dtype_is_float(t->dtype); }

static bool scalar_i32(const Type *t) { return t->rank == 0 && t->dtype == TY_I32; }

/* ---- rule functions --------------------------------------------------------- */

static bool shape_none(Ctx *c) { (void)c; return true; }

static bool shape_const(Ctx *c) { (void)c; return true; }

static bool shape_iota(Ctx *c) {
  if (c->out->dtype != TY_I32) return fail(c, "iota produces i32, not %s", tstr(c->out));
  if (AT(0) < 0 || AT(0) >= c->out->rank) return fail(c, "iota axis %lld out of range for %s", (long long)AT(0), tstr(c->out));
  return true;
}

static bool shape_rng(Ctx *c) {
  if (!is_float(c->out)) return fail(c, "rng_uniform produces floats, not %s", tstr(c->out));
  if (!scalar_i32(ARG(0))) return fail(c, "rng_uniform needs an i32 scalar seed, not %s", tstr(ARG(0)));
  return true;
}

static bool shape_same(Ctx *c) {
  Op op = c->in->op;
  if ((op == OP_NEG || op == OP_ABS || op == OP_SIGN) && ARG(0)->dtype == TY_BOOL)
    return fail(c, "%s needs a numeric operand, not %s", op_info[op].name, tstr(ARG(0)));
  *c->out = *ARG(0);
  return true;
}

static bool shape_same_f(Ctx *c) {
  if (!is_float(ARG(0))) return fail(c, "%s needs a float operand, not %s", op_info[c->in->op].name, tstr(ARG(0)));
  *c->out = *ARG(0);
  return true;
}

static bool shape_same_b(Ctx *c) {
  if (ARG(0)->dtype != TY_BOOL) return fail(c, "not needs a bool operand, not %s", tstr(ARG(0)));
  *c->out = *ARG(0);
  return true;
}

static bool shape_cast(Ctx *c) {
  if (!shape_eq(ARG(0), c->out)) return fail(c, "cast cannot change the shape: %s to %s", tstr(ARG(0)), tstr(c->out));
  return true;
}

static bool bcast2(Ctx *c, const Type *a, const Type *b, Type *o) {
  if (!broadcast_shapes(a, b, o)) return fail(c, "%s and %s do not broadcast", tstr(a), tstr(b));
  return true;
}

static bool shape_binary(Ctx *c) {
  const Type *a = ARG(0), *b = ARG(1);
  if (a->dtype != b->dtype) return fail(c, "operand types differ: %s and %s", tstr(a), tstr(b));
  if (a->dtype == TY_BOOL) return fail(c, "%s needs numeric operands, not %s", op_info[c->in->op].name, tstr(a));
  if (!bcast2(c, a, b, c->out)) return false;
  c->out->dtype = a->dtype;
  return true;
}

static bool shape_binary_f(Ctx *c) {
  if (!is_float(ARG(0))) return fail(c, "%s needs float operands, not %s", op_info[c->in->op].name, tstr(ARG(0)));
  return shape_binary(c);
}

static bool shape_compare(Ctx *c) {
  const Type *a = ARG(0), *b = ARG(1);
  if (a->dtype != b->dtype) return fail(c, "operand types differ: %s and %s", tstr(a), tstr(b));
  if (a->dtype == TY_BOOL && c->in->op != OP_EQ && c->in->op != OP_NE)
    return fail(c, "%s needs numeric operands", op_info[c->in->op].name);
  if (!bcast2(c, a, b, c->out)) return false;
  c->out->dtype = TY_BOOL;
  return true;
}

static bool shape_logic(Ctx *c) {
  if (ARG(0)->dtype != TY_BOOL || ARG(1)->dtype != TY_BOOL)
    return fail(c, "%s needs bool operands: %s, %s", op_info[c->in->op].name, tstr(ARG(0)), tstr(ARG(1)));
  if (!bcast2(c, ARG(0), ARG(1), c->out)) return false;
  c->out->dtype = TY_BOOL;
  return true;
}

static bool shape_select(Ctx *c) {
  if (ARG(0)->dtype != TY_BOOL) return fail(c, "select needs a bool condition, not %s", tstr(ARG(0)));
  if (ARG(1)->dtype != ARG(2)->dtype) return fail(c, "select values differ: %s and %s", tstr(ARG(1)), tstr(ARG(2)));
  Type ab;
  if (!bcast2(c, ARG(1), ARG(2), &ab)) return false;
  if (!bcast2(c, ARG(0), &ab, c->out)) return false;
  c->out->dtype = ARG(1)->dtype;
  return true;
}

static bool shape_reduce(Ctx *c) {
  const Type *x = ARG(0);
  if (x->dtype == TY_BOOL) return fail(c, "cannot reduce %s", tstr(x));
  bool mask[MAX_RANK] = {0};
  for (int k = 0; k < c->in->attr.ni; k++) {
    int64_t ax = AT(k);
    if (ax < 0 || ax >= x->rank) return fail(c, "axis %lld out of range for %s", (long long)ax, tstr(x));
    if (k > 0 && ax <= AT(k - 1)) return fail(c, "axes must be increasing");
    mask[ax] = true;
  }
  Type o = type_scalar(x->dtype);
  for (int i = 0; i < x->rank; i++)
    if (!mask[i]) type_push_axis(&o, x, i);
  *c->out = o;
  return true;
}

static bool shape_argmax(Ctx *c) {
  const Type *x = ARG(0);
  int64_t ax = AT(0);
  if (ax < 0 || ax >= x->rank) return fail(c, "axis %lld out of range for %s", (long long)ax, tstr(x));
  Type o = type_scalar(TY_I32);
  for (int i = 0; i < x->rank; i++)
    if (i != ax) type_push_axis(&o, x, i);
  *c->out = o;
  return true;
}

static bool shape_reshape(Ctx *c) {
  if (ARG(0)->dtype != c->out->dtype) return fail(c, "reshape cannot change the dtype");
  if (type_numel(ARG(0)) != type_numel(c->out))
    return fail(c, "reshape %s to %s changes the element count", tstr(ARG(0)), tstr(c->out));
  /* the run-time axis stays one axis after the same static sizes (types.h: storage for the bound);
   * it may take in the static axes after it, or give them back ([N<=32,64,256] <-> [N*64<=2048,256]):
   * then each of the static prefix's positions holds the same n * (elements per row) leading elements */
  const Type *x = ARG(0), *o = c->out;
  int ax = type_dyn_axis(x), ao = type_dyn_axis(o);
  int64_t px = 1, po = 1, rx = 1, ro = 1;
  for (int i = 0; i < ax; i++) px *= x->dim[i];
  for (int i = 0; i < ao; i++) po *= o->dim[i];
  for (int i = ax + 1; ax >= 0 && i < x->rank; i++) rx *= x->dim[i];
  for (int i = ao + 1; ao >= 0 && i < o->rank; i++) ro *= o->dim[i];
  bool one = ax < 0 || ao < 0 || (x->dyn == 1u << ax && o->dyn == 1u << ao); /* merging needs a single run-time axis */
  if ((ax < 0) != (ao < 0) || px != po || !one ||
      (ax >= 0 && (type_dyn_bound(x) != type_dyn_bound(o) || o->dim[ao] % type_dyn_mul(o) ||
                   type_dyn_mul(x) * rx != type_dyn_mul(o) * ro)))
    return fail(c, "reshape %s to %s moves the run-time axis", tstr(x), tstr(o));
  return true;
}

static bool shape_transpose(Ctx *c) {
  const Type *x = ARG(0);
  bool seen[MAX_RANK] = {0};
  Type o = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t p = AT(i);
    if (p < 0 || p >= x->rank || seen[p]) return fail(c, "transpose needs a permutation of 0..%d", x->rank - 1);
    seen[p] = true;
    type_set_axis(&o, i, x, (int)p);
  }
  *c->out = o;
  return true;
}

static bool shape_broadcast(Ctx *c) {
  if (ARG(0)->dtype != c->out->dtype) return fail(c, "broadcast cannot change the dtype");
  if (!broadcasts_to(ARG(0), c->out)) return fail(c, "%s does not broadcast to %s", tstr(ARG(0)), tstr(c->out));
  return true;
}

/* big[k] holds small[k] placed at start + i*step along every axis? */
static bool strided_fits(Ctx *c, const Type *big, const Type *small, const int64_t *start, const int64_t *step) {
  if (big->rank != small->rank) return fail(c, "rank mismatch: %s and %s", tstr(big), tstr(small));
  if (big->dtype != small->dtype) return fail(c, "dtype mismatch: %s and %s", tstr(big), tstr(small));
  for (int k = 0; k < big->rank; k++) {
    /* the run-time axis is taken whole; a static axis of its storage size holds it and zeros after
     * its n rows (pad) or gives its first n rows (slice): loops.c's sums over that axis */
    if ((axis_dyn(big, k) && !axis_dyn(small, k)) ||
        (axis_dyn(small, k) && (start[k] != 0 || step[k] != 1 || big->dim[k] != small->dim[k] ||
                                (axis_dyn(big, k) && type_dyn_mul(big) != type_dyn_mul(small)))))
      return fail(c, "axis %d: the run-time axis is taken whole: %s and %s", k, tstr(big), tstr(small));
    if (start[k] < 0 || step[k] < 1) return fail(c, "axis %d: start %lld step %lld invalid", k, (long long)start[k], (long long)step[k]);
    /* start + (n-1)*step < dim, divided so that it cannot overflow */
    if (small->dim[k] < 1 || start[k] >= big->dim[k] ||
        (small->dim[k] > 1 && (big->dim[k] - 1 - start[k]) / step[k] < small->dim[k] - 1))
      return fail(c, "axis %d: %lld elements from %lld by %lld do not fit in %lld", k, (long long)small->dim[k],
                  (long long)start[k], (long long)step[k], (long long)big->dim[k]);
  }
  return true;
}

static bool shape_slice(Ctx *c) {
  int r = ARG(0)->rank;
  return strided_fits(c, ARG(0), c->out, c->in->attr.i, c->in->attr.i + r);
}

static bool shape_pad(Ctx *c) {
  int r = ARG(0)->rank;
  return strided_fits(c, c->out, ARG(0), c->in->attr.i, c->in->attr.i + r);
}

static bool shape_update_slice(Ctx *c) {
  int r = ARG(0)->rank;
  if (!strided_fits(c, ARG(0), ARG(1), c->in->attr.i, c->in->attr.i + r)) return false;
  *c->out = *ARG(0);
  return true;
}

static bool shape_concat(Ctx *c) {
  int n = c->in->nargs;
  if (n < 1) return fail(c, "concat needs operands");
  const Type *t0 = ARG(0);
  int64_t ax = AT(0);
  if (ax < 0 || ax >= t0->rank) return fail(c, "axis %lld out of range for %s", (long long)ax, tstr(t0));
  Type o = *t0;
  for (int k = 1; k < n; k++) {
    const Type *t = ARG(k);
    if (t->dtype != t0->dtype || t->rank != t0->rank) return fail(c, "concat of %s and %s", tstr(t0), tstr(t));
    for (int i = 0; i < t0->rank; i++)
      if ((i != ax && !axis_same(t, i, t0, i)) || (i == ax && (axis_dyn(t, i) || axis_dyn(t0, i))))
        return fail(c, "concat of %s and %s along %lld", tstr(t0), tstr(t), (long long)ax);
    o.dim[ax] += t->dim[ax];
  }
  *c->out = o;
  return true;
}

static bool drop_axis(Ctx *c, const Type *x, int64_t ax, Type *o) {
  if (ax < 0 || ax >= x->rank) return fail(c, "axis %lld out of range for %s", (long long)ax, tstr(x));
  *o = type_scalar(x->dtype);
  for (int i = 0; i < x->rank; i++)
    if (i != ax) type_push_axis(o, x, i);
  return true;
}

static bool shape_dyn_slice(Ctx *c) {
  if (!scalar_i32(ARG(1))) return fail(c, "the position must be an i32 scalar, not %s", tstr(ARG(1)));
  if (AT(0) >= 0 && AT(0) < ARG(0)->rank && axis_dyn(ARG(0), (int)AT(0)))
    return fail(c, "a run-time position along the run-time axis of %s", tstr(ARG(0)));
  return drop_axis(c, ARG(0), AT(0), c->out);
}

static bool shape_dyn_update(Ctx *c) {
  Type row;
  if (!scalar_i32(ARG(2))) return fail(c, "the position must be an i32 scalar, not %s", tstr(ARG(2)));
  if (!drop_axis(c, ARG(0), AT(0), &row)) return false;
  if (!type_eq(&row, ARG(1))) return fail(c, "a row of %s along axis %lld is %s, not %s", tstr(ARG(0)), (long long)AT(0), tstr(&row), tstr(ARG(1)));
  *c->out = *ARG(0);
  return true;
}

static bool shape_matmul(Ctx *c) {
  const Type *a = ARG(0), *b = ARG(1);
  bool ta = AT(0), tb = AT(1);
  if (!is_float(a) || a->dtype != b->dtype) return fail(c, "matmul needs floats of one dtype: %s, %s", tstr(a), tstr(b));
  if (a->rank < 2 || a->rank != b->rank) return fail(c, "matmul needs operands of equal rank >= 2: %s, %s", tstr(a), tstr(b));
  int r = a->rank;
  for (int i = 0; i < r - 2; i++)
    if (!axis_same(a, i, b, i)) return fail(c, "matmul batch dimensions differ: %s, %s", tstr(a), tstr(b));
  int am = ta ? r - 1 : r - 2, ak = ta ? r - 2 : r - 1, bk = tb ? r - 1 : r - 2, bn = tb ? r - 2 : r - 1;
  if (!axis_same(a, ak, b, bk)) return fail(c, "matmul inner dimensions differ: %s%s @ %s%s", tstr(a), ta ? "^T" : "", tstr(b), tb ? "^T" : "");
  Type o = *a;
  type_set_axis(&o, r - 2, a, am);
  type_set_axis(&o, r - 1, b, bn);
  *c->out = o;
  return true;
}

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

static bool conv_attrs(Ctx *c) {
  if (AT(0) < 1 || AT(1) < 1 || AT(2) < 0 || AT(3) < 0) return fail(c, "bad stride/padding");
  return true;
}

static bool conv_check(Ctx *c, const Type *x, const Type *w, const Type *y) {
  if (x->rank != 4 || w->rank != 4 || y->rank != 4) return fail(c, "conv2d needs rank-4 tensors");
  if (!is_float(x) || x->dtype != w->dtype || x->dtype != y->dtype) return fail(c, "conv2d needs floats of one dtype");
  if (x->dim[1] != w->dim[1]) return fail(c, "channels differ: %s and %s", tstr(x), tstr(w));
  if ((x->dyn | y->dyn) & ~1u || w->dyn || axis_dyn(x, 0) != axis_dyn(y, 0))
    return fail(c, "conv2d: only the batch axis may be sized at run time: %s, %s, %s", tstr(x), tstr(w), tstr(y));
  if (!conv_attrs(c)) return false;
  if (x->dim[2] + 2 * AT(2) < w->dim[2] || x->dim[3] + 2 * AT(3) < w->dim[3]) return fail(c, "kernel larger than input");
  if (y->dim[0] != x->dim[0] || y->dim[1] != w->dim[0] || y->dim[2] != conv_out(x->dim[2], w->dim[2], AT(0), AT(2)) ||
      y->dim[3] != conv_out(x->dim[3], w->dim[3], AT(1), AT(3)))
    return fail(c, "conv2d of %s and %s does not give %s", tstr(x), tstr(w), tstr(y));
  return true;
}

static bool shape_conv2d(Ctx *c) {
  const Type *x = ARG(0), *w = ARG(1);
  if (x->rank != 4 || w->rank != 4) return fail(c, "conv2d needs rank-4 tensors: %s, %s", tstr(x), tstr(w));
  if (!conv_attrs(c)) return false;
  Type y = *x;
  type_set_static(&y, 1, w->dim[0]);
  y.dim[2] = conv_out(x->dim[2], w->dim[2], AT(0), AT(2));
  y.dim[3] = conv_out(x->dim[3], w->dim[3], AT(1), AT(3));
  if (!conv_check(c, x, w, &y)) return false;
  *c->out = y;
  return true;
}

static bool shape_conv2d_bwd_x(Ctx *c) { return conv_check(c, c->out, ARG(1), ARG(0)); }
static bool shape_conv2d_bwd_w(Ctx *c) { return conv_check(c, ARG(0), c->out, ARG(1)); }

static bool pool_out(Ctx *c, const Type *x, Type *y) {
  if (x->rank != 4 || !is_float(x)) return fail(c, "pooling needs a rank-4 float tensor, not %s", tstr(x));
  if (x->dyn & ~1u) return fail(c, "pooling: only the batch axis may be sized at run time: %s", tstr(x));
  for (int k = 0; k < 6; k++)
    if (AT(k) < (k < 4 ? 1 : 0)) return fail(c, "bad pooling attributes");
  if (x->dim[2] + 2 * AT(4) < AT(0) || x->dim[3] + 2 * AT(5) < AT(1)) return fail(c, "window larger than input");
  *y = *x;
  y->dim[2] = conv_out(x->dim[2], AT(0), AT(2), AT(4));
  y->dim[3] = conv_out(x->dim[3], AT(1), AT(3), AT(5));
  return true;
}

static bool shape_pool2d(Ctx *c) { return pool_out(c, ARG(0), c->out); }

static bool shape_pool2d_bwd(Ctx *c) {
  Type y;
  if (!pool_out(c, ARG(0), &y)) return false;
  if (!type_eq(&y, ARG(1))) return fail(c, "the gradient %s does not match the pooled shape %s", tstr(ARG(1)), tstr(&y));
  *c->out = *ARG(0);
  return true;
}

static bool shape_pool2d_pick(Ctx *c) {
  if (!type_eq(ARG(0), ARG(1))) return fail(c, "pick needs two tensors of one type: %s, %s", tstr(ARG(0)), tstr(ARG(1)));
  return pool_out(c, ARG(0), c->out);
}

static bool shape_avgpool2d_bwd(Ctx *c) {
  Type y;
  if (!pool_out(c, c->out, &y)) return false;
  if (!type_eq(&y, ARG(0))) return fail(c, "the gradient %s does not match the pooled shape %s", tstr(ARG(0)), tstr(&y));
  return true;
}

static bool shape_gather(Ctx *c) {
  const Type *t = ARG(0), *idx = ARG(1);
  if (t->rank != 2 || t->dyn) return fail(c, "gather needs a static [V, D] table, not %s", tstr(t));
  if (idx->dtype != TY_I32 || idx->rank >= MAX_RANK) return fail(c, "gather needs i32 indices, not %s", tstr(idx));
  Type o = *idx;
  o.dtype = t->dtype;
  o.dim[o.rank++] = t->dim[1];
  *c->out = o;
  return true;
}

static bool shape_scatter_add(Ctx *c) {
  const Type *idx = ARG(0), *g = ARG(1), *o = c->out;
  if (idx->dtype != TY_I32) return fail(c, "scatter_add needs i32 indices, not %s", tstr(idx));
  if (o->rank != 2 || o->dyn || g->rank != idx->rank + 1 || g->dtype != o->dtype || !axis_same(g, g->rank - 1, o, 1))
    return fail(c, "scatter_add of %s at %s into %s", tstr(g), tstr(idx), tstr(o));
  for (int i = 0; i < idx->rank; i++)
    if (!axis_same(g, i, idx, i)) return fail(c, "scatter_add of %s at %s", tstr(g), tstr(idx));
  return true;
}

static bool shape_one_hot(Ctx *c) {
  const Type *idx = ARG(0), *o = c->out;
  if (idx->dtype != TY_I32 || o->rank != idx->rank + 1 || !is_float(o)) return fail(c, "one_hot of %s to %s", tstr(idx), tstr(o));
  for (int i = 0; i < idx->rank; i++)
    if (!axis_same(o, i, idx, i)) return fail(c, "one_hot of %s to %s", tstr(idx), tstr(o));
  if (axis_dyn(o, idx->rank)) return fail(c, "one_hot of %s to %s", tstr(idx), tstr(o));
  return true;
}

static bool shape_for(Ctx *c) { (void)c; return true; /* checked by the verifier */ }

typedef bool (*ShapeFn)(Ctx *c);
static const ShapeFn rules[OP_COUNT] = {
#define OP(id, name, nargs, attrs, shape, vjp, jvp, lc, flags, meaning) shape_##shape,
#include "ops.def"
#undef OP
};

/* Expected number of integer attributes from the schema, or -1 = any. */
static int attr_count(const Inst *in) {
  const char *s = op_info[in->op].attrs;
  int n = 0;
  while (*s) {
    while (*s == ' ') s++;
    if (!*s) break;
    const char *e = s;
    while (*e && *e != ' ') e++;
    const char *br = memchr(s, '[', (size_t)(e - s));
    const char *colon = memchr(s, ':', (size_t)(e - s));
    if (colon) {
      /* float attribute: no integers */
    } else if (!br) {
      n += 1;
    } else if (br[1] == '*') {
      return -1;
    } else if (br[1] == 'r') {
      n += in->nargs ? in->args[0]->ty.rank : 0;
    } else {
      n += (int)(br[1] - '0');
    }
    s = e;
  }
  return n;
}

bool ir_infer(const Inst *in, Type *out, int nres, char *err, size_t errn) {
  Ctx c = {in, out, err, errn};
  const OpInfo *oi = &op_info[in->op];
  if (oi->nargs >= 0 && in->nargs != oi->nargs)
    return fail(&c, "%s takes %d operands, not %d", oi->name, oi->nargs, in->nargs);
  int na = attr_count(in);
  if (na >= 0 && in->attr.ni != na)
    return fail(&c, "%s takes %d integer attributes, not %d", oi->name, na, in->attr.ni);
  if (in->op == OP_FOR) return true;
  if (oi->flags & F_TERMINATOR) return nres == 0 ? true : fail(&c, "terminators have no results");
  if (nres != 1) return fail(&c, "%s has one result", oi->name);
  return rules[in->op](&c);
}

int ir_attr_count(const Inst *in) { return attr_count(in); }
