/* jvp_rules.c — the Jacobian-vector product of every differentiable op in
 * ops.def (forward mode, jvp.c). Each rule reads the tangents of the op's
 * operands (jvp_tan: NULL means zero) and returns the tangent of its
 * result, emitting ordinary IR ops, so tangent code can be optimized,
 * printed, interpreted and differentiated again (forward-over-reverse and
 * reverse-over-forward). The math is written above each rule; where an op
 * has a kink or a tie, the rule makes the same choice as its VJP (vjp.c),
 * so that <jvp(v), u> = <v, vjp(u)> holds exactly. */
#include <string.h>

#include "ad_internal.h"

#define B (&j->b)
#define X(k) (in->args[k])
#define T(k) (jvp_tan(j, in->args[k]))
#define Y (in->res[0])

static Value *sc(Jvp *j, const Value *like, double v) { return ir_scalar(B, like->ty.dtype, v); }
static Value *mul(Jvp *j, Value *a, Value *b) { return ir_binary(B, OP_MUL, a, b); }
static Value *add(Jvp *j, Value *a, Value *b) { return ir_binary(B, OP_ADD, a, b); }
static Value *sub(Jvp *j, Value *a, Value *b) { return ir_binary(B, OP_SUB, a, b); }
static Value *sel(Jvp *j, Value *c, Value *a, Value *b) {
  Value *args[3] = {c, a, b};
  return ir_build(B, OP_SELECT, args, 3, NULL, NULL);
}
static Value *zero(Jvp *j, const Value *like) { return ir_const_like(B, &like->ty, 0.0); }
static Value *or_zero(Jvp *j, Value *t, const Value *like) { return t ? t : zero(j, like); }
/* a + b where either may be NULL (zero) */
static Value *sum2(Jvp *j, Value *a, Value *b) { return !a ? b : !b ? a : add(j, a, b); }
/* t (an operand's tangent) spread to the result's shape */
static Value *bc(Jvp *j, Inst *in, Value *t) { return t ? ir_broadcast(B, t, &Y->ty) : NULL; }
/* the same op on other operands, with in's attributes (and type when typed) */
static Value *same_op(Jvp *j, Inst *in, Value **args) {
  Attr at = ir_attr(in);
  return ir_build(B, in->op, args, in->nargs, &at, &Y->ty);
}
/* The tangent of an elementwise unary op: t * f'(x). */
static Value *chain(Jvp *j, Inst *in, Value *slope) { return mul(j, T(0), slope); }

static Value *jvp_NONE(Jvp *j, Inst *in) { (void)j, (void)in; return NULL; }

/* y = -x: ty = -tx */
static Value *jvp_neg(Jvp *j, Inst *in) { return ir_unary(B, OP_NEG, T(0)); }
/* y = e^x: ty = tx*y */
static Value *jvp_exp(Jvp *j, Inst *in) { return chain(j, in, Y); }
/* y = log x: ty = tx/x */
static Value *jvp_log(Jvp *j, Inst *in) { return ir_binary(B, OP_DIV, T(0), X(0)); }
/* y = sqrt x: ty = tx/(2y) */
static Value *jvp_sqrt(Jvp *j, Inst *in) { return ir_binary(B, OP_DIV, T(0), mul(j, Y, sc(j, Y, 2.0))); }
/* y = x^-1/2: ty = -tx*y^3/2 */
static Value *jvp_rsqrt(Jvp *j, Inst *in) {
  return chain(j, in, mul(j, mul(j, mul(j, Y, Y), Y), sc(j, Y, -0.5)));
}
/* y = |x|: ty = tx*sign(x) */
static Value *jvp_abs(Jvp *j, Inst *in) { return chain(j, in, ir_unary(B, OP_SIGN, X(0))); }
/* y = tanh x: ty = tx*(1-y^2) */
static Value *jvp_tanh(Jvp *j, Inst *in) { return chain(j, in, sub(j, sc(j, Y, 1.0), mul(j, Y, Y))); }
/* y = sigmoid x: ty = tx*y*(1-y) */
static Value *jvp_sigmoid(Jvp *j, Inst *in) { return chain(j, in, mul(j, Y, sub(j, sc(j, Y, 1.0), Y))); }
/* y = max(x,0): ty = y > 0 ? tx : 0 (the VJP's choice at 0) */
static Value *jvp_relu(Jvp *j, Inst *in) {
  return sel(j, ir_binary(B, OP_GT, Y, sc(j, Y, 0.0)), T(0), sc(j, Y, 0.0));
}
/* y = gelu x: ty = tx * gelu'(x), the slope the VJP uses */
static Value *jvp_gelu(Jvp *j, Inst *in) { return chain(j, in, ad_gelu_slope(B, X(0))); }
/* y = cast x between float types: ty = cast tx (integer sources: zero) */
static Value *jvp_cast(Jvp *j, Inst *in) {
  if (!dtype_is_float(X(0)->ty.dtype) || !dtype_is_float(Y->ty.dtype)) return NULL;
  return ir_cast(B, T(0), Y->ty.dtype);
}
/* y = stop_gradient x: no tangent flows */
static Value *jvp_stop_gradient(Jvp *j, Inst *in) { (void)j, (void)in; return NULL; }

/* y = a + b: ty = ta + tb (each spread to y's shape) */
static Value *jvp_add(Jvp *j, Inst *in) {
  Value *ta = T(0), *tb = T(1);
  if (ta && tb) return ir_broadcast(B, add(j, ta, tb), &Y->ty);
  return bc(j, in, ta ? ta : tb);
}
/* y = a - b: ty = ta - tb */
static Value *jvp_sub(Jvp *j, Inst *in) {
  Value *ta = T(0), *tb = T(1);
  if (ta && tb) return ir_broadcast(B, sub(j, ta, tb), &Y->ty);
  return ta ? bc(j, in, ta) : bc(j, in, ir_unary(B, OP_NEG, tb));
}
/* y = a*b: ty = ta*b + a*tb */
static Value *jvp_mul(Jvp *j, Inst *in) {
  Value *l = T(0) ? mul(j, T(0), X(1)) : NULL, *r = T(1) ? mul(j, X(0), T(1)) : NULL;
  return bc(j, in, sum2(j, l, r));
}
/* y = a/b: ty = (ta - y*tb)/b */
static Value *jvp_div(Jvp *j, Inst *in) {
  Value *num = T(0);
  if (T(1)) num = num ? sub(j, num, mul(j, Y, T(1))) : ir_unary(B, OP_NEG, mul(j, Y, T(1)));
  return bc(j, in, ir_binary(B, OP_DIV, num, X(1)));
}
/* y = a^b: ty = ta*b*a^(b-1) + tb*y*log(a) */
static Value *jvp_pow(Jvp *j, Inst *in) {
  Value *a = X(0), *b = X(1), *l = NULL, *r = NULL;
  if (T(0)) l = mul(j, T(0), mul(j, b, ir_binary(B, OP_POW, a, sub(j, b, sc(j, b, 1.0)))));
  if (T(1)) r = mul(j, T(1), mul(j, Y, ir_unary(B, OP_LOG, a)));
  return bc(j, in, sum2(j, l, r));
}
/* y = max(a,b): ty = w*ta + (1-w)*tb, w = 1 where a > b, 1/2 on ties, else 0
 * (min: a < b), the weights of the VJP */
static Value *minmax(Jvp *j, Inst *in, Op cmp) {
  Value *a = X(0), *b = X(1);
  Value *win = ir_binary(B, cmp, a, b), *tie = ir_binary(B, OP_EQ, a, b);
  Value *w = sel(j, win, sc(j, Y, 1.0), sel(j, tie, sc(j, Y, 0.5), sc(j, Y, 0.0)));
  Value *l = T(0) ? mul(j, w, T(0)) : NULL;
  Value *r = T(1) ? mul(j, sub(j, sc(j, Y, 1.0), w), T(1)) : NULL;
  return bc(j, in, sum2(j, l, r));
}
static Value *jvp_max(Jvp *j, Inst *in) { return minmax(j, in, OP_GT); }
static Value *jvp_min(Jvp *j, Inst *in) { return minmax(j, in, OP_LT); }
/* y = c ? a : b: ty = c ? ta : tb */
static Value *jvp_select(Jvp *j, Inst *in) {
  Value *ta = or_zero(j, T(1), X(1)), *tb = or_zero(j, T(2), X(2));
  return bc(j, in, sel(j, X(0), ta, tb));
}

/* y = sum_axes x: ty = sum_axes tx */
static Value *jvp_reduce_sum(Jvp *j, Inst *in) {
  Value *t = T(0);
  return same_op(j, in, &t);
}
/* y = max_axes x: ty = sum_axes(tx * m) / count(m), m = (x == y): ties
 * share, as in the VJP */
static Value *extremum(Jvp *j, Inst *in) {
  Type k = X(0)->ty;
  for (int i = 0; i < in->attr.ni; i++) k.dim[in->attr.i[i]] = 1;
  Value *m = ir_cast(B, ir_binary(B, OP_EQ, X(0), ir_reshape(B, Y, &k)), Y->ty.dtype);
  Attr at = ir_attr(in);
  Value *cnt = ir_build(B, OP_REDUCE_SUM, &m, 1, &at, NULL);
  Value *tm = mul(j, T(0), m);
  return ir_binary(B, OP_DIV, ir_build(B, OP_REDUCE_SUM, &tm, 1, &at, NULL), cnt);
}
static Value *jvp_reduce_max(Jvp *j, Inst *in) { return extremum(j, in); }
static Value *jvp_reduce_min(Jvp *j, Inst *in) { return extremum(j, in); }

/* Linear in their (only differentiable) operands: the same op on the
 * tangents, zeros where an operand has none. reshape, transpose,
 * broadcast, slice, pad, update_slice, concat; dyn_slice, dyn_update and
 * dyn_update_add keep the position operand. */
static Value *linear(Jvp *j, Inst *in) {
  Value *args[256];
  int n = in->nargs < 256 ? in->nargs : 256;
  for (int k = 0; k < n; k++) {
    bool pos = (in->op == OP_DYN_SLICE && k == 1) || ((in->op == OP_DYN_UPDATE || in->op == OP_DYN_UPDATE_ADD) && k == 2);
    args[k] = pos ? X(k) : or_zero(j, T(k), X(k));
  }
  return same_op(j, in, args);
}
static Value *jvp_reshape(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_transpose(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_broadcast(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_slice(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_pad(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_update_slice(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_concat(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_dyn_slice(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_dyn_update(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_dyn_update_add(Jvp *j, Inst *in) { return linear(j, in); }

/* Bilinear ops p(a, b): tp = p(ta, b) + p(a, tb). matmul, conv2d and its
 * two gradients. */
static Value *bilinear(Jvp *j, Inst *in) {
  Value *l = NULL, *r = NULL;
  if (T(0)) {
    Value *args[2] = {T(0), X(1)};
    l = same_op(j, in, args);
  }
  if (T(1)) {
    Value *args[2] = {X(0), T(1)};
    r = same_op(j, in, args);
  }
  return sum2(j, l, r);
}
static Value *jvp_matmul(Jvp *j, Inst *in) { return bilinear(j, in); }
static Value *jvp_conv2d(Jvp *j, Inst *in) { return bilinear(j, in); }
static Value *jvp_conv2d_bwd_x(Jvp *j, Inst *in) { return bilinear(j, in); }
static Value *jvp_conv2d_bwd_w(Jvp *j, Inst *in) { return bilinear(j, in); }

/* y = maxpool(x): ty = tx at each window's first argmax = pick(x, tx) */
static Value *jvp_maxpool2d(Jvp *j, Inst *in) {
  Attr at = ir_attr(in);
  Value *args[2] = {X(0), T(0)};
  return ir_build(B, OP_MAXPOOL2D_PICK, args, 2, &at, NULL);
}
/* maxpool_bwd(x, dy) and pick(x, h) are linear in their second operand;
 * x only chooses positions: ty = op(x, t1) */
static Value *route(Jvp *j, Inst *in) {
  if (!T(1)) return NULL;
  Value *args[2] = {X(0), T(1)};
  return same_op(j, in, args);
}
static Value *jvp_maxpool2d_bwd(Jvp *j, Inst *in) { return route(j, in); }
static Value *jvp_maxpool2d_pick(Jvp *j, Inst *in) { return route(j, in); }
/* avgpool and its gradient are linear */
static Value *jvp_avgpool2d(Jvp *j, Inst *in) { return linear(j, in); }
static Value *jvp_avgpool2d_bwd(Jvp *j, Inst *in) { return linear(j, in); }
/* y = table[idx]: ty = ttable[idx] */
static Value *jvp_gather(Jvp *j, Inst *in) {
  Value *args[2] = {T(0), X(1)};
  return same_op(j, in, args);
}
/* y = scatter_add(idx, g): ty = scatter_add(idx, tg) */
static Value *jvp_scatter_add(Jvp *j, Inst *in) {
  Value *args[2] = {X(0), T(1)};
  return same_op(j, in, args);
}

/* loops are handled by jvp.c itself (jvp_for) */
static Value *jvp_for(Jvp *j, Inst *in) { (void)j, (void)in; die("JVP: loops are walked by jvp.c"); }

const JvpFn jvp_rules[OP_COUNT] = {
#define OP(id, name, nargs, attrs, shape, vjp, jvp, lc, flags, meaning) jvp_##jvp,
#include "ops.def"
#undef OP
};
