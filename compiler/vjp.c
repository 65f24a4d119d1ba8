/* vjp.c — the vector-Jacobian product of every differentiable op in
 * ops.def. Each rule receives the adjoint g of the op's result and adds
 * the adjoints of its active operands, emitting ordinary IR ops (so they
 * can be differentiated again). The math is written above each rule.
 * Broadcasting operands get their adjoint summed back (ir_unbroadcast). */
#include <math.h>
#include <string.h>

#include "ad_internal.h"

#define B (&ad->b)
#define X(k) (in->args[k])
#define Y (in->res[0])

static Value *sc(Ad *ad, const Value *like, double v) { return ir_scalar(B, like->ty.dtype, v); }
static Value *mul(Ad *ad, Value *a, Value *b) { return ir_binary(B, OP_MUL, a, b); }
static Value *sub(Ad *ad, Value *a, Value *b) { return ir_binary(B, OP_SUB, a, b); }
static Value *div_(Ad *ad, Value *a, Value *b) { return ir_binary(B, OP_DIV, a, b); }
static Value *neg(Ad *ad, Value *a) { return ir_unary(B, OP_NEG, a); }
static Value *sel(Ad *ad, Value *c, Value *a, Value *b) {
  Value *args[3] = {c, a, b};
  return ir_build(B, OP_SELECT, args, 3, NULL, NULL);
}
/* Add c (shaped like the op's result) to x's adjoint, summing broadcast axes. */
static void add_ub(Ad *ad, Value *x, Value *c) {
  if (!ad_active(ad, x)) return;
  ad_add(ad, x, ir_unbroadcast(B, c, &x->ty));
}

/* x's shape with the reduced axes kept as 1 */
static Type kept(const Inst *in) {
  Type t = in->args[0]->ty;
  for (int k = 0; k < in->attr.ni; k++) type_set_static(&t, (int)in->attr.i[k], 1);
  return t;
}

/* The reduce_sum of `of` that v keeps the reduced axes of (v = reshape of
 * it to the kept shape), or NULL. */
static Inst *kept_sum_of(Value *v, const Value *of) {
  Inst *r = v->def && v->def->op == OP_RESHAPE ? v->def->args[0]->def : NULL;
  if (!r || r->op != OP_REDUCE_SUM || r->args[0] != of) return NULL;
  Type k = kept(r);
  return type_eq(&k, &v->ty) ? r : NULL;
}

static void vjp_NONE(Ad *ad, Inst *in, Value *g) { (void)ad, (void)in, (void)g; }

/* y = -x: dx = -g */
static void vjp_neg(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), neg(ad, g)); }
/* y = e^x: dx = g*y */
static void vjp_exp(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), mul(ad, g, Y)); }
/* y = log x: dx = g/x */
static void vjp_log(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), div_(ad, g, X(0))); }
/* y = sqrt x: dx = g/(2y) */
static void vjp_sqrt(Ad *ad, Inst *in, Value *g) {
  add_ub(ad, X(0), div_(ad, g, mul(ad, Y, sc(ad, Y, 2.0))));
}
/* y = x^-1/2: dx = -g*y^3/2 */
static void vjp_rsqrt(Ad *ad, Inst *in, Value *g) {
  Value *y3 = mul(ad, mul(ad, Y, Y), Y);
  add_ub(ad, X(0), mul(ad, g, mul(ad, y3, sc(ad, Y, -0.5))));
}
/* y = |x|: dx = g*sign(x) */
static void vjp_abs(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), mul(ad, g, ir_unary(B, OP_SIGN, X(0)))); }
/* y = tanh x: dx = g*(1-y^2) */
static void vjp_tanh(Ad *ad, Inst *in, Value *g) {
  add_ub(ad, X(0), mul(ad, g, sub(ad, sc(ad, Y, 1.0), mul(ad, Y, Y))));
}
/* y = sigmoid x: dx = g*y*(1-y) */
static void vjp_sigmoid(Ad *ad, Inst *in, Value *g) {
  add_ub(ad, X(0), mul(ad, g, mul(ad, Y, sub(ad, sc(ad, Y, 1.0), Y))));
}
/* y = max(x,0): dx = y > 0 ? g : 0 (the same as x > 0, NaN and -0 included;
 * reading y, which later ops usually keep anyway, lets x go unstored) */
static void vjp_relu(Ad *ad, Inst *in, Value *g) {
  Value *pos = ir_binary(B, OP_GT, Y, sc(ad, Y, 0.0));
  add_ub(ad, X(0), sel(ad, pos, g, sc(ad, g, 0.0)));
}
/* y = x/2 (1 + t), t = tanh(u), u = c(x + a x^3), c = sqrt(2/pi), a = 0.044715:
 * dy/dx = 0.5(1+t) + 0.5 x (1-t^2) c (1 + 3a x^2), written with
 * s = 0.5(1+t) = sigmoid(2u) (1 - t^2 = 4 s (1-s)) as
 * s + 2c x s (1-s) (1 + 3a x^2): one sigmoid (an exp and a division)
 * instead of tanh's exp, division and polynomial, and no cancellation in
 * 1 + t for negative x (forward mode uses it too) */
Value *ad_gelu_slope(Builder *b, Value *x) {
  const double c = 0.7978845608028654, a = 0.044715;
  DType dt = x->ty.dtype;
  Value *x2 = ir_binary(b, OP_MUL, x, x);
  Value *u2 = ir_binary(b, OP_MUL, ir_scalar(b, dt, 2 * c),
                        ir_binary(b, OP_ADD, x, ir_binary(b, OP_MUL, ir_scalar(b, dt, a), ir_binary(b, OP_MUL, x2, x))));
  Value *s = ir_unary(b, OP_SIGMOID, u2);
  Value *du = ir_binary(b, OP_ADD, ir_scalar(b, dt, 1.0), ir_binary(b, OP_MUL, ir_scalar(b, dt, 3 * a), x2));
  Value *ss = ir_binary(b, OP_MUL, s, ir_binary(b, OP_SUB, ir_scalar(b, dt, 1.0), s));
  Value *right = ir_binary(b, OP_MUL, ir_binary(b, OP_MUL, ir_scalar(b, dt, 2 * c), x), ir_binary(b, OP_MUL, ss, du));
  return ir_binary(b, OP_ADD, s, right);
}
/* dx = g * gelu'(x) */
static void vjp_gelu(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), mul(ad, g, ad_gelu_slope(B, X(0)))); }
/* y = cast x between float types: dx = cast g back */
static void vjp_cast(Ad *ad, Inst *in, Value *g) {
  if (dtype_is_float(X(0)->ty.dtype)) add_ub(ad, X(0), ir_cast(B, g, X(0)->ty.dtype));
}
/* y = stop_gradient x: no gradient flows */
static void vjp_stop_gradient(Ad *ad, Inst *in, Value *g) { (void)ad, (void)in, (void)g; }

/* y = a + b: da = g, db = g */
static void vjp_add(Ad *ad, Inst *in, Value *g) {
  add_ub(ad, X(0), g);
  add_ub(ad, X(1), g);
}
/* y = a - b: da = g, db = -g */
static void vjp_sub(Ad *ad, Inst *in, Value *g) {
  add_ub(ad, X(0), g);
  if (ad_active(ad, X(1))) add_ub(ad, X(1), neg(ad, g));
}
/* The number of elements reduce r sums into each result, 0 when an axis
 * is sized at run time. */
static double reduced_count(const Inst *r) {
  double n = 1;
  for (int i = 0; i < r->attr.ni; i++) {
    int ax = (int)r->attr.i[i];
    if (axis_dyn(&r->args[0]->ty, ax)) return 0;
    n *= (double)r->args[0]->ty.dim[ax];
  }
  return n;
}

/* v = mean_axes(of) with the axes kept, reshape(reduce_sum(of) * 1/n) (n
 * static): its reduce_sum, or NULL. of == NULL accepts any operand. */
static Inst *kept_mean_of(Value *v, const Value *of) {
  Value *m = v->def && v->def->op == OP_RESHAPE ? v->def->args[0] : NULL;
  if (!m || !m->def || m->def->op != OP_MUL) return NULL;
  double c;
  Value *s = m->def->args[0], *k = m->def->args[1];
  if (!ir_is_const(k, NULL)) s = k, k = m->def->args[0];
  if (!ir_is_const(k, &c) || k->ty.rank != 0) return NULL;
  Inst *r = s->def;
  if (!r || r->op != OP_REDUCE_SUM || (of && r->args[0] != of)) return NULL;
  Type kt = kept(r);
  double n = reduced_count(r);
  return type_eq(&kt, &v->ty) && n > 0 && fabs(c * n - 1) <= 1e-12 ? r : NULL;
}

/* y = xc*r, xc = x - mean(x), r = rsqrt(mean(xc*xc) + eps) (a layernorm's
 * normalized value; both means over the same axes, eps inactive):
 *   dx = r*(g - mean(g) - y*mean(g*y))
 * the whole chain back to x in one rule, so the backward reads y and r
 * only, not xc. The product's own contributions to xc and r are replaced;
 * other uses of them keep their adjoints. */
static bool normalize_mul(Ad *ad, Inst *in, Value *g, Value *xc, Value *r) {
  if (!xc->def || xc->def->op != OP_SUB || !type_eq(&xc->ty, &Y->ty)) return false;
  Value *x = xc->def->args[0];
  Inst *rmu = kept_mean_of(xc->def->args[1], x);
  if (!rmu || !type_eq(&x->ty, &Y->ty)) return false;
  Value *ve = r->def && r->def->op == OP_RSQRT ? r->def->args[0] : NULL;
  if (!ve || !ve->def || ve->def->op != OP_ADD) return false;
  int v = kept_mean_of(ve->def->args[0], NULL) ? 0 : 1; /* which operand is the variance */
  if (ad_active(ad, ve->def->args[!v])) return false;
  Inst *rvar = kept_mean_of(ve->def->args[v], NULL);
  Value *sq = rvar ? rvar->args[0] : NULL;
  if (!sq || !sq->def || sq->def->op != OP_MUL || sq->def->args[0] != xc || sq->def->args[1] != xc) return false;
  if (rvar->attr.ni != rmu->attr.ni || memcmp(rvar->attr.i, rmu->attr.i, sizeof(int64_t) * (size_t)rmu->attr.ni))
    return false;
  if (ad_active(ad, x)) {
    Type k = kept(rmu);
    Attr at = ir_attr(rmu);
    Value *inv_n = sc(ad, Y, 1.0 / reduced_count(rmu));
    Value *gy = mul(ad, g, Y);
    Value *mg = mul(ad, ir_reshape(B, ir_build(B, OP_REDUCE_SUM, &g, 1, &at, NULL), &k), inv_n);
    Value *mgy = mul(ad, ir_reshape(B, ir_build(B, OP_REDUCE_SUM, &gy, 1, &at, NULL), &k), inv_n);
    add_ub(ad, x, mul(ad, r, sub(ad, sub(ad, g, mg), mul(ad, Y, mgy))));
  }
  return true;
}
/* y = a*b: da = g*b, db = g*a */
static void vjp_mul(Ad *ad, Inst *in, Value *g) {
  if (normalize_mul(ad, in, g, X(0), X(1)) || normalize_mul(ad, in, g, X(1), X(0))) return;
  if (ad_active(ad, X(0))) add_ub(ad, X(0), mul(ad, g, X(1)));
  if (ad_active(ad, X(1))) add_ub(ad, X(1), mul(ad, g, X(0)));
}
/* y = e^z / sum_axes(e^z) (a softmax along the axes):
 * dz = y*(g - sum_axes(g*y)), the whole chain through exp and the sum in
 * one rule, so the backward reads y alone (not e^z and the sum). The
 * division's own contributions to e^z and to the sum are replaced; other
 * uses of them keep their adjoints. */
static bool softmax_div(Ad *ad, Inst *in, Value *g) {
  Value *e = X(0);
  Inst *r = kept_sum_of(X(1), e);
  if (!r || !e->def || e->def->op != OP_EXP || !type_eq(&e->ty, &Y->ty)) return false;
  Value *z = e->def->args[0];
  if (ad_active(ad, z)) {
    Type k = kept(r);
    Attr at = ir_attr(r);
    Value *gy = mul(ad, g, Y);
    Value *s = ir_reshape(B, ir_build(B, OP_REDUCE_SUM, &gy, 1, &at, NULL), &k);
    add_ub(ad, z, mul(ad, Y, sub(ad, g, s)));
  }
  return true;
}
/* y = a/b: da = g/b, db = -g*y/b */
static void vjp_div(Ad *ad, Inst *in, Value *g) {
  if (softmax_div(ad, in, g)) return;
  if (ad_active(ad, X(0))) add_ub(ad, X(0), div_(ad, g, X(1)));
  if (ad_active(ad, X(1))) add_ub(ad, X(1), neg(ad, div_(ad, mul(ad, g, Y), X(1))));
}
/* y = a^b: da = g*b*a^(b-1), db = g*y*log(a) */
static void vjp_pow(Ad *ad, Inst *in, Value *g) {
  Value *a = X(0), *b = X(1);
  if (ad_active(ad, a)) {
    Value *p = ir_binary(B, OP_POW, a, sub(ad, b, sc(ad, b, 1.0)));
    add_ub(ad, a, mul(ad, g, mul(ad, b, p)));
  }
  if (ad_active(ad, b)) add_ub(ad, b, mul(ad, g, mul(ad, Y, ir_unary(B, OP_LOG, a))));
}
/* y = max(a,b): da = g*w, db = g*(1-w), w = 1 where a > b, 1/2 on ties, else 0
 * (min: the same with a < b) */
static void minmax(Ad *ad, Inst *in, Value *g, Op cmp) {
  Value *a = X(0), *b = X(1);
  Value *win = ir_binary(B, cmp, a, b), *tie = ir_binary(B, OP_EQ, a, b);
  Value *w = sel(ad, win, sc(ad, g, 1.0), sel(ad, tie, sc(ad, g, 0.5), sc(ad, g, 0.0)));
  if (ad_active(ad, a)) add_ub(ad, a, mul(ad, g, w));
  if (ad_active(ad, b)) add_ub(ad, b, mul(ad, g, sub(ad, sc(ad, g, 1.0), w)));
}
static void vjp_max(Ad *ad, Inst *in, Value *g) { minmax(ad, in, g, OP_GT); }
static void vjp_min(Ad *ad, Inst *in, Value *g) { minmax(ad, in, g, OP_LT); }
/* y = c ? a : b: da = c ? g : 0, db = c ? 0 : g */
static void vjp_select(Ad *ad, Inst *in, Value *g) {
  Value *z = sc(ad, g, 0.0);
  if (ad_active(ad, X(1))) add_ub(ad, X(1), sel(ad, X(0), g, z));
  if (ad_active(ad, X(2))) add_ub(ad, X(2), sel(ad, X(0), z, g));
}

/* y = sum_axes x: dx = broadcast(g) */
static void vjp_reduce_sum(Ad *ad, Inst *in, Value *g) {
  Type k = kept(in);
  add_ub(ad, X(0), ir_broadcast(B, ir_reshape(B, g, &k), &X(0)->ty));
}
/* y = max_axes x: dx = g * m / count(m), m = (x == y): ties share the gradient */
static void extremum(Ad *ad, Inst *in, Value *g) {
  Type k = kept(in);
  Value *x = X(0);
  Value *m = ir_cast(B, ir_binary(B, OP_EQ, x, ir_reshape(B, Y, &k)), x->ty.dtype);
  Attr at = ir_attr(in);
  Value *cnt = ir_reshape(B, ir_build(B, OP_REDUCE_SUM, &m, 1, &at, NULL), &k);
  Value *gk = ir_reshape(B, g, &k);
  add_ub(ad, x, mul(ad, m, div_(ad, gk, cnt)));
}
static void vjp_reduce_max(Ad *ad, Inst *in, Value *g) { extremum(ad, in, g); }
static void vjp_reduce_min(Ad *ad, Inst *in, Value *g) { extremum(ad, in, g); }

/* y = reshape x: dx = reshape g */
static void vjp_reshape(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), ir_reshape(B, g, &X(0)->ty)); }
/* y = transpose(x, p): dx = transpose(g, p^-1) */
static void vjp_transpose(Ad *ad, Inst *in, Value *g) {
  int64_t inv[MAX_RANK];
  for (int i = 0; i < in->attr.ni; i++) inv[in->attr.i[i]] = i;
  add_ub(ad, X(0), ir_transpose(B, g, inv));
}
/* y = broadcast x: dx = sum of g over the broadcast axes */
static void vjp_broadcast(Ad *ad, Inst *in, Value *g) { add_ub(ad, X(0), g); }
/* y = slice x: dx = pad g (zeros elsewhere) */
static void vjp_slice(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  add_ub(ad, X(0), ir_build(B, OP_PAD, &g, 1, &at, &X(0)->ty));
}
/* y = pad x: dx = slice g */
static void vjp_pad(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  add_ub(ad, X(0), ir_build(B, OP_SLICE, &g, 1, &at, &X(0)->ty));
}
/* y = x with region R := v: dx = g with R := 0, dv = g[R] */
static void vjp_update_slice(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  if (ad_active(ad, X(1))) add_ub(ad, X(1), ir_build(B, OP_SLICE, &g, 1, &at, &X(1)->ty));
  if (ad_active(ad, X(0))) {
    Value *args[2] = {g, ir_const_like(B, &X(1)->ty, 0.0)};
    add_ub(ad, X(0), ir_build(B, OP_UPDATE_SLICE, args, 2, &at, NULL));
  }
}
/* y = concat(x_k, axis): dx_k = g[offset_k : offset_k + len_k] along axis */
static void vjp_concat(Ad *ad, Inst *in, Value *g) {
  int64_t axis = in->attr.i[0], off = 0;
  int r = g->ty.rank;
  for (int k = 0; k < in->nargs; k++) {
    Value *x = X(k);
    if (ad_active(ad, x)) {
      Attr at = {.ni = 2 * r};
      for (int i = 0; i < r; i++) at.i[r + i] = 1;
      at.i[axis] = off;
      add_ub(ad, x, ir_build(B, OP_SLICE, &g, 1, &at, &x->ty));
    }
    off += x->ty.dim[axis];
  }
}
/* y = x[.., i, ..]: dx[.., i, ..] += g */
static void vjp_dyn_slice(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(0))) ad_add_row(ad, X(0), g, X(1), in->attr.i[0]);
}
/* y = x with row i := v: dx = g with row i := 0, dv = g[i] */
/* The row is read before the update that zeroes it, so the update can
 * write over g in place (nothing reads g after it). */
static void vjp_dyn_update(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  if (ad_active(ad, X(1))) {
    Value *args[2] = {g, X(2)};
    ad_add(ad, X(1), ir_build(B, OP_DYN_SLICE, args, 2, &at, NULL));
  }
  if (ad_active(ad, X(0))) {
    Value *args[3] = {g, ir_const_like(B, &X(1)->ty, 0.0), X(2)};
    ad_add(ad, X(0), ir_build(B, OP_DYN_UPDATE, args, 3, &at, NULL));
  }
}
/* y = x with row i += v: dx = g, dv = g[i] */
static void vjp_dyn_update_add(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  if (ad_active(ad, X(0))) ad_add(ad, X(0), g);
  if (ad_active(ad, X(1))) {
    Value *args[2] = {g, X(2)};
    ad_add(ad, X(1), ir_build(B, OP_DYN_SLICE, args, 2, &at, NULL));
  }
}

static Value *mm(Ad *ad, Value *a, Value *b, int ta, int tb) {
  Attr at = {.ni = 2, .i = {ta, tb}};
  Value *args[2] = {a, b};
  return ir_build(B, OP_MATMUL, args, 2, &at, NULL);
}
/* C = op(A) op(B), op = transpose when flagged. With A, B as stored:
 *   C = A B:     dA = g B^T,      dB = A^T g
 *   C = A B^T:   dA = g B,        dB = g^T A
 *   C = A^T B:   dA = B g^T,      dB = A g
 *   C = A^T B^T: dA = B^T g^T,    dB = g^T A^T */
static void vjp_matmul(Ad *ad, Inst *in, Value *g) {
  int ta = (int)in->attr.i[0], tb = (int)in->attr.i[1];
  Value *a = X(0), *b = X(1);
  if (ad_active(ad, a)) {
    Value *da = !ta ? (!tb ? mm(ad, g, b, 0, 1) : mm(ad, g, b, 0, 0)) : (!tb ? mm(ad, b, g, 0, 1) : mm(ad, b, g, 1, 1));
    ad_add(ad, a, da);
  }
  if (ad_active(ad, b)) {
    Value *db = !tb ? (!ta ? mm(ad, a, g, 1, 0) : mm(ad, a, g, 0, 0)) : (!ta ? mm(ad, g, a, 1, 0) : mm(ad, g, a, 1, 1));
    ad_add(ad, b, db);
  }
}

static Value *conv_op(Ad *ad, Op op, Value *p, Value *q, const Inst *in, const Type *ty) {
  Attr at = ir_attr(in);
  Value *args[2] = {p, q};
  return ir_build(B, op, args, 2, &at, ty);
}
/* y = conv(x, w): dx = conv_bwd_x(g, w), dw = conv_bwd_w(x, g) */
static void vjp_conv2d(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(0))) ad_add(ad, X(0), conv_op(ad, OP_CONV2D_BWD_X, g, X(1), in, &X(0)->ty));
  if (ad_active(ad, X(1))) ad_add(ad, X(1), conv_op(ad, OP_CONV2D_BWD_W, X(0), g, in, &X(1)->ty));
}
/* dx = bwd_x(dy, w) is bilinear: d(dy) = conv(g, w), dw = bwd_w(g, dy) */
static void vjp_conv2d_bwd_x(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(0))) ad_add(ad, X(0), conv_op(ad, OP_CONV2D, g, X(1), in, NULL));
  if (ad_active(ad, X(1))) ad_add(ad, X(1), conv_op(ad, OP_CONV2D_BWD_W, g, X(0), in, &X(1)->ty));
}
/* dw = bwd_w(x, dy) is bilinear: dx = bwd_x(dy, g), d(dy) = conv(x, g) */
static void vjp_conv2d_bwd_w(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(0))) ad_add(ad, X(0), conv_op(ad, OP_CONV2D_BWD_X, X(1), g, in, &X(0)->ty));
  if (ad_active(ad, X(1))) ad_add(ad, X(1), conv_op(ad, OP_CONV2D, X(0), g, in, NULL));
}
/* y = maxpool(x): dx = route g to each window's argmax */
static void vjp_maxpool2d(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(0))) ad_add(ad, X(0), conv_op(ad, OP_MAXPOOL2D_BWD, X(0), g, in, NULL));
}
/* dx = maxpool_bwd(x, dy) is linear in dy: d(dy) = pick(x, g); x only
 * chooses positions (piecewise constant): no gradient */
static void vjp_maxpool2d_bwd(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(1))) ad_add(ad, X(1), conv_op(ad, OP_MAXPOOL2D_PICK, X(0), g, in, NULL));
}
/* y = pick(x, h) is linear in h: dh = maxpool_bwd(x, g) */
static void vjp_maxpool2d_pick(Ad *ad, Inst *in, Value *g) {
  if (ad_active(ad, X(1))) ad_add(ad, X(1), conv_op(ad, OP_MAXPOOL2D_BWD, X(0), g, in, NULL));
}
/* y = avgpool(x): dx = avgpool_bwd(g) */
static void vjp_avgpool2d(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  if (ad_active(ad, X(0))) ad_add(ad, X(0), ir_build(B, OP_AVGPOOL2D_BWD, &g, 1, &at, &X(0)->ty));
}
/* dx = avgpool_bwd(dy) is linear: d(dy) = avgpool(g) */
static void vjp_avgpool2d_bwd(Ad *ad, Inst *in, Value *g) {
  Attr at = ir_attr(in);
  if (ad_active(ad, X(0))) ad_add(ad, X(0), ir_build(B, OP_AVGPOOL2D, &g, 1, &at, NULL));
}
/* y = table[idx]: dtable = scatter_add(idx, g) */
static void vjp_gather(Ad *ad, Inst *in, Value *g) {
  if (!ad_active(ad, X(0))) return;
  Value *args[2] = {X(1), g};
  ad_add(ad, X(0), ir_build(B, OP_SCATTER_ADD, args, 2, NULL, &X(0)->ty));
}
/* y = scatter_add(idx, v): dv = g[idx] */
static void vjp_scatter_add(Ad *ad, Inst *in, Value *g) {
  if (!ad_active(ad, X(1))) return;
  Value *args[2] = {g, X(0)};
  ad_add(ad, X(1), ir_build(B, OP_GATHER, args, 2, NULL, NULL));
}

/* loops are differentiated by grad.c itself */
static void vjp_for(Ad *ad, Inst *in, Value *g) { ad_vjp_for(ad, in, g); }

const VjpFn vjp_rules[OP_COUNT] = {
#define OP(id, name, nargs, attrs, shape, vjp, jvp, lc, flags, meaning) vjp_##vjp,
#include "ops.def"
#undef OP
};
