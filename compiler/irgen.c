/* irgen.c — checked AST to IR.
 *
 * Every function of the model becomes an IR function whose arguments are
 * all the model's parameters (role param(i)) followed by the function's own
 * arguments. Calls of user functions are inlined (recursion is refused by
 * the checker), so each IR function is one static graph. `var`s become SSA
 * values; a `for` loop carries every outer var its body assigns. Builtins
 * that are not single ops (softmax, layernorm, losses, ...) expand here into
 * primitive ops, so the AD and the backend see a small op set. Every
 * instruction keeps the .nn position of the expression it comes from.
 *
 * The env maps each Sym (by id) to its current Value. Inlining reuses the
 * callee's Syms; this is sound because no call can be active twice. */
#include <string.h>

#include "check.h"
#include "grad.h"
#include "irgen.h"
#include "jvp.h"
#include "passes.h"
#include "ptrmap.h"

typedef struct G {
  Arena *a;
  Module *m;
  Builder b;
  Value **env;         /* Sym id -> current value */
  int nsyms;
  bool training;       /* dropout active */
  Value *seed;         /* i32 scalar argument feeding dropout, training only */
  int rng_streams;     /* dropout sites numbered in order */
  Value *ret;          /* the value of the innermost inlined `return` */
  Model *md;           /* the model (derivatives lower its functions again) */
  Diag *d;             /* derivatives that cannot be taken are reported here */
  bool failed;         /* such an error happened */
  Func *cur;           /* the function being generated */
  Value *dimv;         /* the run-time dimension's size (i32 scalar argument), NULL when static */
} G;

static Value *gen(G *g, Expr *e);

static Pos pos_of(Loc l) { return (Pos){l.line, l.col}; }

static void at(G *g, Loc l) { g->b.pos = pos_of(l); }

static void name_value(Value *v, const char *name) {
  if (v && !v->name) v->name = name;
}

/* ---- typing helpers ---------------------------------------------------------- */

/* Generate e and convert it to dtype dt (weak literals take the dtype of
 * their context; the checker has guaranteed the conversion is allowed). */
static Value *gen_as(G *g, Expr *e, DType dt) {
  if (e->cv.kind != CV_NONE && e->cv.kind != CV_LIST && e->cv.kind != CV_STRING && e->ty.rank == 0) {
    at(g, e->loc);
    double v = e->cv.kind == CV_FLOAT ? e->cv.f : (double)e->cv.i;
    return ir_scalar(&g->b, dt, v);
  }
  Value *v = gen(g, e);
  if (v->ty.dtype != dt) {
    at(g, e->loc);
    v = ir_cast(&g->b, v, dt);
  }
  return v;
}

/* The dtype two operands meet at (see the checker's weak typing). */
static DType meet(const Expr *l, const Expr *r) {
  if (l->weak && !r->weak) return r->ty.dtype;
  if (r->weak && !l->weak) return l->ty.dtype;
  if (l->weak && r->weak)
    return (dtype_is_float(l->ty.dtype) || dtype_is_float(r->ty.dtype)) ? TY_F32 : l->ty.dtype;
  return l->ty.dtype;
}

static Value *keepdims(G *g, Value *v, const Type *want) {
  return ir_reshape(&g->b, v, want);
}

static Value *reduce(G *g, Op op, Value *x, const int64_t *axes, int n) {
  if (n == 0) return x;
  Attr at = {.ni = n};
  memcpy(at.i, axes, sizeof(int64_t) * (size_t)n);
  return ir_build(&g->b, op, &x, 1, &at, NULL);
}

/* x's shape with the listed axes set to 1 (for broadcasting back). */
static Type kept(const Type *x, const int64_t *axes, int n) {
  Type t = *x;
  for (int i = 0; i < n; i++) type_set_static(&t, (int)axes[i], 1);
  return t;
}

static Value *scalar_like(G *g, Value *x, double v) { return ir_scalar(&g->b, x->ty.dtype, v); }

static Value *mul_scalar(G *g, Value *x, double v) {
  return ir_binary(&g->b, OP_MUL, x, scalar_like(g, x, v));
}

/* s * (sign / count), count the number of elements of x over `axes`: a
 * constant, or, when a reduced axis is sized at run time, computed from
 * the run-time size (a mean over the batch divides by the real batch). */
static Value *scale_by_count(G *g, Value *s, const Type *x, const int64_t *axes, int n, double sign) {
  double cnt = 1;
  bool dyn = false;
  for (int i = 0; i < n; i++) {
    if (axis_dyn(x, (int)axes[i])) dyn = true;
    else cnt *= (double)x->dim[axes[i]];
  }
  if (!dyn || !g->dimv) {
    if (dyn) die("irgen: a run-time axis without its size");
    return mul_scalar(g, s, sign / cnt);
  }
  Builder *B = &g->b;
  Value *total = ir_binary(B, OP_MUL, ir_cast(B, g->dimv, s->ty.dtype), scalar_like(g, s, cnt));
  return ir_binary(B, OP_MUL, s, ir_binary(B, OP_DIV, scalar_like(g, s, sign), total));
}

/* ---- matmul with NumPy semantics ------------------------------------------------ */

static Value *gen_matmul(G *g, Value *a, Value *b, const Type *out) {
  Builder *B = &g->b;
  Type ta = a->ty, tb = b->ty;
  if (ta.rank == 1) { /* [K] -> [1,K] */
    Type t = type_scalar(ta.dtype);
    t.rank = 2;
    t.dim[0] = 1;
    type_set_axis(&t, 1, &ta, 0);
    a = ir_reshape(B, a, &t);
    ta = a->ty;
  }
  if (tb.rank == 1) { /* [K] -> [K,1] */
    Type t = type_scalar(tb.dtype);
    t.rank = 2;
    type_set_axis(&t, 0, &tb, 0);
    t.dim[1] = 1;
    b = ir_reshape(B, b, &t);
    tb = b->ty;
  }
  Attr at = {.ni = 2};
  Value *r;
  if (tb.rank == 2 && (ta.rank == 2 || !type_is_dyn(&ta) || ta.dyn == 1u)) {
    /* fold every leading axis of a into M: one GEMM of b as it lies. A
     * leading run-time axis takes in the static axes after it
     * ([N<=32,64,K] -> [N*64<=2048,K], docs/ir.md "Run-time dimension");
     * one further in cannot merge: then the batched form below */
    Type a2 = type_scalar(ta.dtype);
    a2.rank = 2;
    a2.dim[0] = type_numel(&ta) / ta.dim[ta.rank - 1];
    a2.dim[1] = ta.dim[ta.rank - 1];
    if (ta.dyn) {
      a2.dyn = 1;
      a2.dyn_name = ta.dyn_name;
      a2.dyn_mul = type_dyn_mul(&ta) * (a2.dim[0] / ta.dim[0]);
    }
    if (ta.rank == 2) a2 = ta;
    Value *args[2] = {ir_reshape(B, a, &a2), b};
    r = ir_build(B, OP_MATMUL, args, 2, &at, NULL);
  } else {
    /* broadcast the batch dimensions to their common shape: batched GEMM */
    Type ba = type_scalar(ta.dtype), bb = ba, batch;
    ba.rank = ta.rank - 2;
    bb.rank = tb.rank - 2;
    ba.rank = bb.rank = 0;
    for (int i = 0; i < ta.rank - 2; i++) type_push_axis(&ba, &ta, i);
    for (int i = 0; i < tb.rank - 2; i++) type_push_axis(&bb, &tb, i);
    if (!broadcast_shapes(&ba, &bb, &batch)) die("irgen: matmul batch shapes");
    Type fa = batch, fb = batch;
    fa.dtype = ta.dtype;
    fb.dtype = tb.dtype;
    type_push_axis(&fa, &ta, ta.rank - 2);
    type_push_axis(&fa, &ta, ta.rank - 1);
    type_push_axis(&fb, &tb, tb.rank - 2);
    type_push_axis(&fb, &tb, tb.rank - 1);
    Value *args[2] = {ir_broadcast(B, a, &fa), ir_broadcast(B, b, &fb)};
    r = ir_build(B, OP_MATMUL, args, 2, &at, NULL);
  }
  return ir_reshape(B, r, out);
}

/* ---- indexing ------------------------------------------------------------------ */

/* Read base[items] (checked by check_index). */
static Value *gen_index(G *g, Expr *e) {
  Value *x = gen(g, e->index.base);
  at(g, e->loc);
  const Type *t = &x->ty;
  int r = t->rank;
  /* 1. the static part as one strided slice, every axis kept */
  Attr sl = {.ni = 2 * r};
  Type st = *t;
  bool ident = true;
  for (int k = 0; k < r; k++) {
    sl.i[k] = 0;
    sl.i[r + k] = 1;
    if (k >= e->index.nitems) continue;
    IndexItem *it = &e->index.items[k];
    if (it->kind == IX_AT && it->dynamic) continue;
    int64_t len = it->kind == IX_AT ? 1 : (it->hi - it->lo + it->stride - 1) / it->stride;
    sl.i[k] = it->lo;
    sl.i[r + k] = it->stride;
    st.dim[k] = len;
    if (len != t->dim[k]) ident = false;
  }
  if (!ident) x = ir_build(&g->b, OP_SLICE, &x, 1, &sl, &st);
  /* 2. run-time positions, highest axis first so lower axes keep their numbers */
  for (int k = e->index.nitems - 1; k >= 0; k--) {
    IndexItem *it = &e->index.items[k];
    if (it->kind != IX_AT || !it->dynamic) continue;
    Value *i = gen_as(g, it->start, TY_I32);
    at(g, e->loc);
    Attr ax = {.ni = 1, .i = {k}};
    Value *args[2] = {x, i};
    x = ir_build(&g->b, OP_DYN_SLICE, args, 2, &ax, NULL);
  }
  /* 3. drop the axes of static single positions */
  return ir_reshape(&g->b, x, &e->ty);
}

/* base with base[items] replaced by v (or combined with it by op). Items
 * whose positions are run-time values are peeled one at a time. */
static Value *update_region(G *g, Value *base, IndexItem *items, int nitems, Value *v, int op) {
  Builder *B = &g->b;
  for (int k = 0; k < nitems; k++) {
    if (items[k].kind != IX_AT || !items[k].dynamic) continue;
    Value *i = gen_as(g, items[k].start, TY_I32);
    Attr ax = {.ni = 1, .i = {k}};
    Value *args[2] = {base, i};
    Value *row = ir_build(B, OP_DYN_SLICE, args, 2, &ax, NULL);
    /* the row lost axis k: shift the remaining items down */
    IndexItem rest[MAX_RANK];
    int n = 0;
    for (int j = 0; j < nitems; j++)
      if (j != k) rest[n++] = items[j];
    Value *nrow = update_region(g, row, rest, n, v, op);
    Value *uargs[3] = {base, nrow, i};
    return ir_build(B, OP_DYN_UPDATE, uargs, 3, &ax, NULL);
  }
  /* all static: a strided region */
  const Type *t = &base->ty;
  int r = t->rank;
  Attr sl = {.ni = 2 * r};
  Type region = *t;
  bool whole = true;
  for (int k = 0; k < r; k++) {
    sl.i[k] = 0;
    sl.i[r + k] = 1;
    if (k >= nitems) continue;
    int64_t len = items[k].kind == IX_AT ? 1 : (items[k].hi - items[k].lo + items[k].stride - 1) / items[k].stride;
    sl.i[k] = items[k].lo;
    sl.i[r + k] = items[k].stride;
    region.dim[k] = len;
    if (len != t->dim[k]) whole = false;
  }
  /* the value, shaped like the region (IX_AT axes as size 1) */
  Type vshape = region;
  int vr = 0;
  for (int k = 0; k < r; k++)
    if (!(k < nitems && items[k].kind == IX_AT)) vshape.dim[vr++] = region.dim[k];
  vshape.rank = vr;
  Value *val = v;
  if (!shape_eq(&val->ty, &vshape) && broadcasts_to(&val->ty, &vshape)) val = ir_broadcast(B, val, &vshape);
  val = ir_reshape(B, val, &region);
  if (op != '=') {
    Value *cur = whole ? base : ir_build(B, OP_SLICE, &base, 1, &sl, &region);
    Op o = op == '+' ? OP_ADD : op == '-' ? OP_SUB : op == '*' ? OP_MUL : OP_DIV;
    val = ir_binary(B, o, cur, val);
  }
  if (whole) return val;
  Value *args[2] = {base, val};
  return ir_build(B, OP_UPDATE_SLICE, args, 2, &sl, NULL);
}

/* ---- builtins ------------------------------------------------------------------ */

static Value *softmax_parts(G *g, Value *x, int64_t axis, Value **z_out, Value **lse_out) {
  /* z = x - stop_gradient(max(x)); lse = log(sum(exp(z))) */
  Builder *B = &g->b;
  Type k = kept(&x->ty, &axis, 1);
  Value *m = ir_unary(B, OP_STOP_GRADIENT, keepdims(g, reduce(g, OP_REDUCE_MAX, x, &axis, 1), &k));
  Value *z = ir_binary(B, OP_SUB, x, m);
  Value *ez = ir_unary(B, OP_EXP, z);
  Value *s = keepdims(g, reduce(g, OP_REDUCE_SUM, ez, &axis, 1), &k);
  *z_out = z;
  if (lse_out) *lse_out = ir_unary(B, OP_LOG, s);
  return ir_binary(B, OP_DIV, ez, s);
}

static Value *log_softmax(G *g, Value *x, int64_t axis) {
  Builder *B = &g->b;
  Type k = kept(&x->ty, &axis, 1);
  Value *m = ir_unary(B, OP_STOP_GRADIENT, keepdims(g, reduce(g, OP_REDUCE_MAX, x, &axis, 1), &k));
  Value *z = ir_binary(B, OP_SUB, x, m);
  Value *s = keepdims(g, reduce(g, OP_REDUCE_SUM, ir_unary(B, OP_EXP, z), &axis, 1), &k);
  return ir_binary(B, OP_SUB, z, ir_unary(B, OP_LOG, s));
}

static Value *mean_all(G *g, Value *x) {
  int64_t axes[MAX_RANK];
  for (int i = 0; i < x->ty.rank; i++) axes[i] = i;
  Value *s = reduce(g, OP_REDUCE_SUM, x, axes, x->ty.rank);
  return scale_by_count(g, s, &x->ty, axes, x->ty.rank, 1.0);
}

/* How each builtin is lowered (the lowering and op columns of
 * builtins.def): the plain kinds here, SPECIAL ones by their own case. */
typedef enum { L_UNARY, L_BINARY, L_RESHAPE, L_TRANSPOSE, L_BROADCAST, L_CAST, L_FILL, L_SPECIAL } Lowering;
#define OP_NONE OP_COUNT
static const struct {
  Lowering how;
  Op op;
} lowering[BI_COUNT] = {
#define B(id, name, params, check, lower, op, rule) [BI_##id] = {L_##lower, OP_##op},
#include "builtins.def"
#undef B
};
#undef OP_NONE

static Value *gen_builtin(G *g, Expr *e) {
  Expr **a = e->call.bound;
  const CallAttrs *ca = e->call.attrs;
  DType dt = e->ty.dtype;
  BuiltinId id = e->call.bi->id;
  Builder *B = &g->b;
  Value *x = NULL, *y = NULL;
  switch (lowering[id].how) {
  case L_UNARY:
    x = gen_as(g, a[0], dt);
    at(g, e->loc);
    return ir_unary(B, lowering[id].op, x);
  case L_BINARY:
    x = gen_as(g, a[0], dt);
    y = gen_as(g, a[1], dt);
    at(g, e->loc);
    return ir_binary(B, lowering[id].op, x, y);
  case L_RESHAPE:
    x = gen(g, a[0]);
    at(g, e->loc);
    return ir_reshape(B, x, &e->ty);
  case L_TRANSPOSE:
    x = gen(g, a[0]);
    at(g, e->loc);
    return ir_transpose(B, x, ca->perm);
  case L_BROADCAST:
    x = gen(g, a[0]);
    at(g, e->loc);
    return ir_broadcast(B, x, &e->ty);
  case L_CAST:
    x = gen(g, a[0]);
    at(g, e->loc);
    return ir_cast(B, x, dt);
  case L_FILL:
    at(g, e->loc);
    return ir_const_like(B, &e->ty, ca->value);
  case L_SPECIAL:
    break;
  }
  switch (id) {
  case BI_CLIP: {
    x = gen_as(g, a[0], dt);
    Value *lo = gen_as(g, a[1], dt), *hi = gen_as(g, a[2], dt);
    at(g, e->loc);
    return ir_binary(B, OP_MIN, ir_binary(B, OP_MAX, x, lo), hi);
  }
  case BI_WHERE: {
    Value *c = gen(g, a[0]);
    x = gen_as(g, a[1], dt);
    y = gen_as(g, a[2], dt);
    at(g, e->loc);
    Value *args[3] = {c, x, y};
    return ir_build(B, OP_SELECT, args, 3, NULL, NULL);
  }
  case BI_SUM: case BI_MEAN: case BI_MAX: case BI_MIN: case BI_LOGSUMEXP: {
    x = gen_as(g, a[0], dt);
    at(g, e->loc);
    int n = ca->naxes;
    const int64_t *axes = ca->axes;
    Type k = kept(&x->ty, axes, n);
    Value *r;
    if (id == BI_SUM || id == BI_MEAN) {
      r = reduce(g, OP_REDUCE_SUM, x, axes, n);
      if (id == BI_MEAN) r = scale_by_count(g, r, &x->ty, axes, n, 1.0);
    } else if (id == BI_MAX || id == BI_MIN) {
      r = reduce(g, id == BI_MAX ? OP_REDUCE_MAX : OP_REDUCE_MIN, x, axes, n);
    } else {
      Value *m = ir_unary(B, OP_STOP_GRADIENT, reduce(g, OP_REDUCE_MAX, x, axes, n));
      Value *z = ir_binary(B, OP_SUB, x, keepdims(g, m, &k));
      r = ir_binary(B, OP_ADD, ir_unary(B, OP_LOG, reduce(g, OP_REDUCE_SUM, ir_unary(B, OP_EXP, z), axes, n)), m);
    }
    return ir_reshape(B, r, &e->ty);
  }
  case BI_ARGMAX: {
    x = gen(g, a[0]);
    at(g, e->loc);
    Attr ax = {.ni = 1, .i = {ca->axis}};
    return ir_reshape(B, ir_build(B, OP_ARGMAX, &x, 1, &ax, NULL), &e->ty);
  }
  case BI_CONCAT: {
    Expr *xs = a[0];
    int n = xs->list.n;
    Value **vs = NEW_ARRAY(g->a, Value *, n);
    for (int i = 0; i < n; i++) vs[i] = gen_as(g, xs->list.elems[i], dt);
    at(g, e->loc);
    if (n == 1) return vs[0];
    Attr ax = {.ni = 1, .i = {ca->axis}};
    return ir_build(B, OP_CONCAT, vs, n, &ax, NULL);
  }
  case BI_ZEROS_LIKE: case BI_ONES_LIKE:
    at(g, e->loc);
    return ir_const_like(B, &e->ty, id == BI_ONES_LIKE ? 1.0 : 0.0);
  case BI_ARANGE: {
    at(g, e->loc);
    Attr ax = {.ni = 1, .i = {0}};
    return ir_build(B, OP_IOTA, NULL, 0, &ax, &e->ty);
  }
  case BI_CAUSAL_MASK: {
    at(g, e->loc);
    Type t = e->ty;
    t.dtype = TY_I32;
    Attr a0 = {.ni = 1, .i = {0}}, a1 = {.ni = 1, .i = {1}};
    Value *row = ir_build(B, OP_IOTA, NULL, 0, &a0, &t);
    Value *col = ir_build(B, OP_IOTA, NULL, 0, &a1, &t);
    return ir_binary(B, OP_GE, row, col);
  }
  case BI_ONE_HOT:
    x = gen(g, a[0]);
    at(g, e->loc);
    return ir_build(B, OP_ONE_HOT, &x, 1, NULL, &e->ty);
  case BI_MATMUL:
    x = gen(g, a[0]);
    y = gen(g, a[1]);
    at(g, e->loc);
    return gen_matmul(g, x, y, &e->ty);
  case BI_CONV2D: {
    x = gen_as(g, a[0], dt);
    Value *w = gen_as(g, a[1], dt);
    at(g, e->loc);
    Attr cv = {.ni = 4, .i = {ca->stride[0], ca->stride[1], ca->pad[0], ca->pad[1]}};
    Value *args[2] = {x, w};
    Value *r = ir_build(B, OP_CONV2D, args, 2, &cv, NULL);
    if (a[2]) {
      Value *bias = gen_as(g, a[2], dt);
      at(g, e->loc);
      Type bt = type_scalar(dt);
      bt.rank = 4;
      bt.dim[0] = 1;
      bt.dim[1] = bias->ty.dim[0];
      bt.dim[2] = bt.dim[3] = 1;
      r = ir_binary(B, OP_ADD, r, ir_reshape(B, bias, &bt));
    }
    return r;
  }
  case BI_MAXPOOL2D: case BI_AVGPOOL2D: {
    x = gen_as(g, a[0], dt);
    at(g, e->loc);
    Attr pa = {.ni = 6, .i = {ca->window[0], ca->window[1], ca->stride[0], ca->stride[1], ca->pad[0], ca->pad[1]}};
    return ir_build(B, id == BI_MAXPOOL2D ? OP_MAXPOOL2D : OP_AVGPOOL2D, &x, 1, &pa, NULL);
  }
  case BI_EMBED: {
    Value *table = gen_as(g, a[0], dt), *idx = gen(g, a[1]);
    at(g, e->loc);
    Value *args[2] = {table, idx};
    return ir_build(B, OP_GATHER, args, 2, NULL, NULL);
  }
  case BI_SOFTMAX: {
    x = gen_as(g, a[0], dt);
    at(g, e->loc);
    Value *z;
    return softmax_parts(g, x, ca->axis, &z, NULL);
  }
  case BI_LOG_SOFTMAX:
    x = gen_as(g, a[0], dt);
    at(g, e->loc);
    return log_softmax(g, x, ca->axis);
  case BI_LAYERNORM: {
    x = gen_as(g, a[0], dt);
    Value *gamma = a[1] ? gen_as(g, a[1], dt) : NULL, *beta = a[2] ? gen_as(g, a[2], dt) : NULL;
    at(g, e->loc);
    int64_t last = x->ty.rank - 1;
    Type k = kept(&x->ty, &last, 1);
    Value *mu = keepdims(g, scale_by_count(g, reduce(g, OP_REDUCE_SUM, x, &last, 1), &x->ty, &last, 1, 1.0), &k);
    Value *xc = ir_binary(B, OP_SUB, x, mu);
    Value *var = keepdims(g, scale_by_count(g, reduce(g, OP_REDUCE_SUM, ir_binary(B, OP_MUL, xc, xc), &last, 1),
                                            &x->ty, &last, 1, 1.0), &k);
    Value *rs = ir_unary(B, OP_RSQRT, ir_binary(B, OP_ADD, var, scalar_like(g, var, ca->eps)));
    Value *r = ir_binary(B, OP_MUL, xc, rs);
    if (gamma) r = ir_binary(B, OP_MUL, r, gamma);
    if (beta) r = ir_binary(B, OP_ADD, r, beta);
    return r;
  }
  case BI_DROPOUT: {
    x = gen_as(g, a[0], dt);
    at(g, e->loc);
    double p = ca->p;
    if (!g->training || p == 0 || !g->seed) return x;
    Attr ra = {.ni = 1, .i = {g->rng_streams++}};
    Value *u = ir_build(B, OP_RNG_UNIFORM, &g->seed, 1, &ra, &x->ty);
    Value *keep = ir_binary(B, OP_GE, u, scalar_like(g, u, p));
    Value *args[3] = {keep, mul_scalar(g, x, 1.0 / (1.0 - p)), scalar_like(g, x, 0.0)};
    return ir_build(B, OP_SELECT, args, 3, NULL, NULL);
  }
  case BI_CROSS_ENTROPY: {
    x = gen_as(g, a[0], dt);
    Value *labels = gen(g, a[1]);
    at(g, e->loc);
    Value *lsm = log_softmax(g, x, x->ty.rank - 1);
    Value *oh = ir_build(B, OP_ONE_HOT, &labels, 1, NULL, &x->ty);
    Value *picked = ir_binary(B, OP_MUL, lsm, oh);
    int64_t axes[MAX_RANK];
    for (int i = 0; i < x->ty.rank; i++) axes[i] = i;
    Value *s = reduce(g, OP_REDUCE_SUM, picked, axes, x->ty.rank);
    return scale_by_count(g, s, &labels->ty, axes, labels->ty.rank, -1.0);
  }
  case BI_MSE: {
    x = gen_as(g, a[0], dt);
    y = gen_as(g, a[1], dt);
    at(g, e->loc);
    Value *d = ir_binary(B, OP_SUB, x, y);
    return mean_all(g, ir_binary(B, OP_MUL, d, d));
  }
  case BI_BCE: {
    /* mean(max(x, 0) - x*t + log(1 + exp(-|x|))): stable for any logit */
    x = gen_as(g, a[0], dt);
    y = gen_as(g, a[1], dt);
    at(g, e->loc);
    Value *pos = ir_unary(B, OP_RELU, x);
    Value *xt = ir_binary(B, OP_MUL, x, y);
    Value *sp = ir_unary(B, OP_LOG, ir_binary(B, OP_ADD, scalar_like(g, x, 1.0),
                                             ir_unary(B, OP_EXP, ir_unary(B, OP_NEG, ir_unary(B, OP_ABS, x)))));
    return mean_all(g, ir_binary(B, OP_ADD, ir_binary(B, OP_SUB, pos, xt), sp));
  }
  default: /* the plain kinds above */
    break;
  }
  die("irgen: builtin %s", e->call.bi->name);
}

/* ---- statements ----------------------------------------------------------------- */

static void gen_stmts(G *g, Stmt *s);

static Value *gen_user_call(G *g, Expr *e) {
  FnDecl *f = e->call.fn;
  /* all arguments first: one may call f too, which rebinds f's arguments */
  Value **args = NEW_ARRAY(g->a, Value *, f->nargs + 1);
  for (int i = 0; i < f->nargs; i++) args[i] = gen_as(g, e->call.args[i].value, f->args[i].ty.dtype);
  for (int i = 0; i < f->nargs; i++) g->env[f->args[i].sym->id] = args[i];
  Value *saved = g->ret;
  g->ret = NULL;
  gen_stmts(g, f->body);
  Value *r = g->ret;
  g->ret = saved;
  if (!r) die("irgen: %s returned nothing", f->name);
  return r;
}

static int gen_apply(G *g, Expr *e, Value **outs);

/* ---- derivatives ------------------------------------------------------------------ */

/* A derivative T(...)(args) lowers the function it differentiates on its
 * own (lower_alone), transforms that IR function (grad_func, jvp_func),
 * and inlines the result like a call. So a derivative is ordinary IR in
 * the caller, which can be differentiated again: the gradient of a loss
 * holding a gradient, forward-over-reverse Hessian-vector products.
 * The functions built on the way are taken out of the module.
 *
 * Their arguments: the model's parameters, the function's arguments, the
 * run-time size when the caller has one, then the dropout seed when
 * training; each one an input numbered by its position, so that wrt masks
 * index positions. */

static void drop_func(Module *m, Func *f) {
  for (int i = 0; i < m->nfuncs; i++)
    if (m->funcs[i] == f) {
      memmove(&m->funcs[i], &m->funcs[i + 1], sizeof(Func *) * (size_t)(m->nfuncs - i - 1));
      m->nfuncs--;
      return;
    }
}

/* fn's statements into f (the builder at its body), then its return. */
static void gen_body(G *g, FnDecl *fn, Func *f) {
  g->ret = NULL;
  gen_stmts(g, fn->body);
  if (!g->ret) die("irgen: %s returned nothing", fn->name);
  g->b.pos = pos_of(fn->body_end);
  ir_func_add_result(g->a, f, g->ret->ty, NULL, (Role){RES_OUTPUT, 0});
  Value *r = g->ret;
  ir_build(&g->b, OP_RETURN, &r, 1, NULL, NULL);
}

static int wrt_position(G *g, int w) { return w >= 0 ? g->m->nparams + w : -1 - w; }

/* User function fn as an IR function of its own (the caller's env and
 * builder are saved around it), optimized before it is differentiated. */
static Func *lower_alone(G *g, FnDecl *fn) {
  Builder saved_b = g->b;
  Value **saved_env = NEW_ARRAY(g->a, Value *, g->nsyms + 1);
  memcpy(saved_env, g->env, sizeof(Value *) * (size_t)g->nsyms);
  Value *saved_ret = g->ret, *saved_seed = g->seed;
  Func *f = ir_func_new(g->m, fn->name), *saved_cur = g->cur;
  drop_func(g->m, f);
  g->cur = f;
  f->pos = pos_of(fn->loc);
  int k = 0;
  for (int i = 0; i < g->m->nparams; i++, k++) {
    ir_func_add_arg(g->a, f, g->m->params[i].ty, g->m->params[i].name, (Role){ARG_INPUT, k});
    g->env[((ParamDecl *)g->md->params.v[i])->sym->id] = f->body->args[k];
  }
  for (int i = 0; i < fn->nargs; i++, k++) {
    ir_func_add_arg(g->a, f, fn->args[i].ty, fn->args[i].name, (Role){ARG_INPUT, k});
    g->env[fn->args[i].sym->id] = f->body->args[k];
  }
  Value *saved_dimv = g->dimv;
  if (saved_dimv) { /* the caller's run-time size, as an argument of its own */
    ir_func_add_arg(g->a, f, type_scalar(TY_I32), saved_dimv->name, (Role){ARG_INPUT, k});
    g->dimv = f->body->args[k++];
  }
  if (saved_seed) {
    ir_func_add_arg(g->a, f, type_scalar(TY_I32), "rng_seed", (Role){ARG_INPUT, k});
    g->seed = f->body->args[k];
  }
  g->b = (Builder){.a = g->a, .block = f->body};
  gen_body(g, fn, f);
  g->dimv = saved_dimv;
  memcpy(g->env, saved_env, sizeof(Value *) * (size_t)g->nsyms);
  g->b = saved_b;
  g->ret = saved_ret;
  g->seed = saved_seed;
  g->cur = saved_cur;
  PassOpts po = {0};
  run_passes(g->m, f, &po);
  return f;
}

/* Keep results idx[0..n) of f, in that order. */
static void select_results(G *g, Func *f, const int *idx, int n) {
  Inst *ret = f->body->last;
  Value **args = NEW_ARRAY(g->a, Value *, n + 1);
  Type *ty = NEW_ARRAY(g->a, Type, n + 1);
  Role *role = NEW_ARRAY(g->a, Role, n + 1);
  const char **name = NEW_ARRAY(g->a, const char *, n + 1);
  for (int i = 0; i < n; i++) {
    args[i] = ret->args[idx[i]];
    ty[i] = f->ret[idx[i]];
    role[i] = f->ret_role[idx[i]];
    name[i] = f->ret_name ? f->ret_name[idx[i]] : NULL;
  }
  ret->args = args;
  ret->nargs = n;
  f->ret = ty;
  f->ret_role = role;
  f->ret_name = name;
  f->nret = n;
}

/* The rank of wrt entry i among dv's wrt positions (results and tangent
 * arguments of the transformations come in position order). */
static int position_rank(G *g, const Deriv *dv, int i) {
  int p = wrt_position(g, dv->wrt[i]), r = 0;
  for (int k = 0; k < dv->nwrt; k++) r += wrt_position(g, dv->wrt[k]) < p;
  return r;
}

static Func *deriv_func(G *g, Expr *T);

static Func *build_func(G *g, Expr *of, FnDecl *fn) {
  return of->kind == EX_NAME ? lower_alone(g, fn) : deriv_func(g, of);
}

/* An error when the only way from the wrt values to f's result goes
 * through argmax or a conversion to an integer: the derivative would be
 * zero everywhere, which is never what was meant. */
static bool blocked(G *g, Expr *T, Func *f, const bool *wrt) {
  Pos at;
  const char *what;
  if (grad_depends(g->m, f, wrt, &at, &what)) return false;
  if (!what) return false;
  Deriv *dv = T->call.deriv;
  diag_error(g->d, T->loc, "%s of '%s' is zero everywhere: its result depends on the wrt values only through %s",
             T->call.name, dv->fn->name, what);
  diag_note(g->d, (Loc){at.line, at.col, at.line, at.col}, "%s is here: its result is an integer, which has no "
            "derivative", what);
  return true;
}

/* The IR function of T = grad / value_and_grad / jvp (...), arguments as
 * described above (jvp: then the tangents, in position order), results as
 * the application gives them. NULL after an error. */
static Func *deriv_func(G *g, Expr *T) {
  Deriv *dv = T->call.deriv;
  Func *f = build_func(g, dv->of, dv->fn);
  if (!f) return NULL;
  bool *wrt = NEW_ARRAY(g->a, bool, f->body->nargs + 1);
  for (int i = 0; i < dv->nwrt; i++) wrt[wrt_position(g, dv->wrt[i])] = true;
  if (blocked(g, T, f, wrt)) return NULL;
  if (dv->kind == DV_JVP) {
    Func *jf = jvp_func(g->m, f, wrt, g->d);
    if (jf) drop_func(g->m, jf);
    return jf;
  }
  GradResult gr = grad_func(g->m, f, wrt, g->d);
  if (!gr.f) return NULL;
  drop_func(g->m, gr.f);
  int idx[MAX_WRT + 1], n = 0;
  if (dv->kind == DV_VALUE_AND_GRAD) idx[n++] = 0;
  for (int i = 0; i < dv->nwrt; i++) idx[n++] = 1 + position_rank(g, dv, i);
  select_results(g, gr.f, idx, n);
  return gr.f;
}

/* Inline f at the builder with these arguments; its results in outs. */
static int inline_func(G *g, Func *f, Value **args, Value **outs) {
  PtrMap map;
  pm_init(&map, g->a);
  for (int i = 0; i < f->body->nargs; i++) pm_put(&map, f->body->args[i], args[i]);
  Inst *ret = f->body->last;
  Pos pos = g->b.pos;
  for (Inst *in = f->body->first; in != ret; in = in->next) ir_clone_inst(&g->b, in, &map);
  g->b.pos = pos;
  g->b.note = NULL;
  for (int r = 0; r < f->nret; r++) outs[r] = pm_get(&map, ret->args[r]);
  return f->nret;
}

/* e = T(...)(args): its values (as many as e's Deriv says) in outs. */
static int gen_apply(G *g, Expr *e, Value **outs) {
  Expr *T = e->call.callee;
  Deriv *dv = T->call.deriv;
  Func *f = deriv_func(g, T);
  at(g, e->loc);
  if (g->cur) g->cur->has_deriv = true;
  if (!f) {
    g->failed = true;
    for (int i = 0; i < dv->nres; i++) outs[i] = ir_const_like(&g->b, &dv->res[i], 0.0);
    return dv->nres;
  }
  Value **args = NEW_ARRAY(g->a, Value *, f->body->nargs + 1);
  int np = g->m->nparams, k = 0;
  for (int i = 0; i < np; i++, k++) {
    Value *v = g->env[((ParamDecl *)g->md->params.v[i])->sym->id];
    args[k] = v ? v : ir_const_like(&g->b, &g->m->params[i].ty, 0.0); /* a top-level caller sees none */
  }
  for (int i = 0; i < dv->fn->nargs; i++, k++) args[k] = gen_as(g, e->call.args[i].value, dv->fn->args[i].ty.dtype);
  if (g->dimv) args[k++] = g->dimv;
  if (g->seed) args[k++] = g->seed;
  for (int i = 0; dv->kind == DV_JVP && i < dv->nwrt; i++)
    args[k + position_rank(g, dv, i)] = gen_as(g, dv->tangents[i], dv->wrt_ty[i].dtype);
  at(g, e->loc);
  return inline_func(g, f, args, outs);
}

static Value *gen(G *g, Expr *e) {
  Builder *B = &g->b;
  if (e->cv.kind != CV_NONE && e->cv.kind != CV_LIST && e->cv.kind != CV_STRING && e->ty.rank == 0) {
    at(g, e->loc);
    double v = e->cv.kind == CV_FLOAT ? e->cv.f : (double)e->cv.i;
    return ir_scalar(B, e->ty.dtype, v);
  }
  switch (e->kind) {
  case EX_NAME: {
    const Sym *s = e->name.sym;
    if (s->kind == SYM_CONST && s->cdecl->is_dim) { /* the run-time size (the checker allowed it here) */
      if (!g->dimv) die("irgen: the run-time dimension %s without its size", e->name.id);
      return g->dimv;
    }
    Value *v = g->env[s->id];
    if (!v) die("irgen: %s has no value", e->name.id);
    return v;
  }
  case EX_UNARY: {
    Value *x = gen_as(g, e->un.x, e->ty.dtype);
    at(g, e->loc);
    if (e->un.op == UN_PLUS) return x;
    return ir_unary(B, e->un.op == UN_NEG ? OP_NEG : OP_NOT, x);
  }
  case EX_BINARY: {
    BinOp op = e->bin.op;
    if (op == BIN_MATMUL) {
      Value *x = gen(g, e->bin.l), *y = gen(g, e->bin.r);
      at(g, e->loc);
      return gen_matmul(g, x, y, &e->ty);
    }
    DType dt = meet(e->bin.l, e->bin.r);
    Value *x = gen_as(g, e->bin.l, dt), *y = gen_as(g, e->bin.r, dt);
    g->b.pos = pos_of(e->bin.op_loc);
    static const Op ops[] = {[BIN_ADD] = OP_ADD, [BIN_SUB] = OP_SUB, [BIN_MUL] = OP_MUL, [BIN_DIV] = OP_DIV,
                             [BIN_POW] = OP_POW, [BIN_EQ] = OP_EQ, [BIN_NE] = OP_NE, [BIN_LT] = OP_LT,
                             [BIN_LE] = OP_LE, [BIN_GT] = OP_GT, [BIN_GE] = OP_GE, [BIN_AND] = OP_AND,
                             [BIN_OR] = OP_OR};
    if (op == BIN_MOD) die("irgen: %% on tensors");
    return ir_binary(B, ops[op], x, y);
  }
  case EX_CALL:
    if (e->call.callee) {
      Value *outs[MAX_WRT + 1];
      gen_apply(g, e, outs);
      return outs[0];
    }
    if (e->call.fn) return gen_user_call(g, e);
    return gen_builtin(g, e);
  case EX_INDEX:
    return gen_index(g, e);
  default:
    die("irgen: unexpected expression kind %d", e->kind);
  }
}

/* Outer vars a loop body assigns (they become carried values), in the
 * order of their first assignment. `seen` marks the Syms declared in the
 * body and those already collected, so the walk is linear. */
static void collect_assigned(Stmt *s, PtrVec *out, Arena *a, PtrMap *seen) {
  for (; s; s = s->next) {
    if (s->kind == ST_LET || s->kind == ST_VAR) pm_put(seen, s->let.sym, (void *)1);
    if (s->kind == ST_ASSIGN) {
      Expr *tg = s->assign.target;
      Sym *t = (tg->kind == EX_INDEX ? tg->index.base : tg)->name.sym;
      if (!pm_has(seen, t)) {
        pm_put(seen, t, (void *)1);
        vec_push(a, out, t);
      }
    }
    if (s->kind == ST_FOR) collect_assigned(s->loop.body, out, a, seen);
  }
}

static void gen_for(G *g, Stmt *s) {
  PtrVec carried = {0};
  PtrMap seen;
  pm_init(&seen, g->a);
  collect_assigned(s->loop.body, &carried, g->a, &seen);
  int nc = carried.n;
  Inst *in = NEW(g->a, Inst);
  in->op = OP_FOR;
  in->pos = pos_of(s->loc);
  /* a checkpointed loop recomputes its values in the backward loop */
  ir_set_loop_attr(g->a, in, s->loop.lo_v, s->loop.hi_v, nc, false, s->loop.checkpoint);
  in->nargs = nc;
  in->args = NEW_ARRAY(g->a, Value *, nc + 1);
  in->body = ir_block_new(g->a, in);
  Value *iv = ir_block_add_arg(g->a, in->body, type_scalar(TY_I32), s->loop.var);
  g->env[s->loop.sym->id] = iv;
  for (int k = 0; k < nc; k++) {
    Sym *v = carried.v[k];
    in->args[k] = g->env[v->id];
    g->env[v->id] = ir_block_add_arg(g->a, in->body, in->args[k]->ty, v->name);
  }
  Block *outer = g->b.block;
  Inst *before = g->b.before;
  g->b.block = in->body;
  g->b.before = NULL;
  gen_stmts(g, s->loop.body);
  g->b.pos = pos_of(s->loop.body_end);
  Value **ys = NEW_ARRAY(g->a, Value *, nc + 1);
  for (int k = 0; k < nc; k++) ys[k] = g->env[((Sym *)carried.v[k])->id];
  ir_build(&g->b, OP_YIELD, ys, nc, NULL, NULL);
  g->b.block = outer;
  g->b.before = before;
  in->nres = nc;
  in->res = NEW_ARRAY(g->a, Value *, nc + 1);
  for (int k = 0; k < nc; k++) {
    Sym *v = carried.v[k];
    Value *r = NEW(g->a, Value);
    r->ty = in->args[k]->ty;
    r->def = in;
    r->res = k;
    r->name = v->name;
    in->res[k] = r;
    g->env[v->id] = r;
  }
  if (before)
    ir_insert_before(before, in);
  else
    ir_append(outer, in);
}

static void gen_stmts(G *g, Stmt *s) {
  for (; s; s = s->next) {
    switch (s->kind) {
    case ST_LET:
    case ST_VAR: {
      if (s->let.nnames) { /* let (a, b, ...) = T(...)(...) */
        Value *outs[MAX_WRT + 1];
        gen_apply(g, s->let.init, outs);
        for (int i = 0; i < s->let.nnames; i++) {
          name_value(outs[i], s->let.names[i]);
          g->env[s->let.syms[i]->id] = outs[i];
        }
        break;
      }
      Value *v = gen_as(g, s->let.init, s->let.sym->ty.dtype);
      if (!shape_eq(&v->ty, &s->let.sym->ty)) {
        at(g, s->loc);
        v = ir_broadcast(&g->b, v, &s->let.sym->ty);
      }
      name_value(v, s->let.name);
      g->env[s->let.sym->id] = v;
      break;
    }
    case ST_ASSIGN: {
      Expr *t = s->assign.target;
      if (t->kind == EX_INDEX) {
        Sym *sym = t->index.base->name.sym;
        Value *v = gen_as(g, s->assign.value, sym->ty.dtype);
        at(g, s->loc);
        Value *nv = update_region(g, g->env[sym->id], t->index.items, t->index.nitems, v, s->assign.op);
        name_value(nv, sym->name);
        g->env[sym->id] = nv;
        break;
      }
      Sym *sym = t->name.sym;
      Value *v = gen_as(g, s->assign.value, sym->ty.dtype);
      at(g, s->loc);
      if (s->assign.op != '=') {
        Op o = s->assign.op == '+' ? OP_ADD : s->assign.op == '-' ? OP_SUB : s->assign.op == '*' ? OP_MUL : OP_DIV;
        v = ir_binary(&g->b, o, g->env[sym->id], v);
      }
      if (!shape_eq(&v->ty, &sym->ty)) v = ir_broadcast(&g->b, v, &sym->ty);
      name_value(v, sym->name);
      g->env[sym->id] = v;
      break;
    }
    case ST_FOR:
      gen_for(g, s);
      break;
    case ST_RETURN: {
      g->ret = gen(g, s->ret.value);
      break;
    }
    case ST_EXPR:
      break;
    }
  }
}

static Func *gen_fn(G *g, FnDecl *fn, const char *name, bool training) {
  Func *f = ir_func_new(g->m, name);
  g->cur = f;
  f->pos = pos_of(fn->loc);
  for (int i = 0; i < g->m->nparams; i++) {
    IrParam *pa = &g->m->params[i];
    ir_func_add_arg(g->a, f, pa->ty, pa->name, (Role){ARG_PARAM, i});
  }
  memset(g->env, 0, sizeof(Value *) * (size_t)g->nsyms);
  g->b = (Builder){.a = g->a, .block = f->body};
  g->training = training;
  g->seed = NULL;
  g->rng_streams = 0;
  bool dyn = false;
  for (int i = 0; i < fn->nargs; i++) {
    ir_func_add_arg(g->a, f, fn->args[i].ty, fn->args[i].name, (Role){ARG_INPUT, i});
    g->env[fn->args[i].sym->id] = f->body->args[g->m->nparams + i];
    if (type_is_dyn(&fn->args[i].ty)) dyn = true;
  }
  g->dimv = NULL;
  if (dyn) { /* the run-time size of the dimension, passed by the API (ir.h) */
    const char *nm = NULL;
    for (int i = 0; i < fn->nargs && !nm; i++) nm = fn->args[i].ty.dyn_name;
    ir_func_add_arg(g->a, f, type_scalar(TY_I32), nm, (Role){ARG_SCALAR, SCALAR_DIM});
    g->dimv = f->body->args[f->body->nargs - 1];
  }
  if (training) {
    ir_func_add_arg(g->a, f, type_scalar(TY_I32), "rng_seed", (Role){ARG_SCALAR, SCALAR_SEED});
    g->seed = f->body->args[f->body->nargs - 1];
  }
  return f;
}

static void bind_params(G *g, Model *md, Func *f) {
  for (int i = 0; i < md->params.n; i++) {
    ParamDecl *pd = md->params.v[i];
    g->env[pd->sym->id] = f->body->args[i];
  }
}

static Func *lower_fn(G *g, Model *md, FnDecl *fn, const char *name, bool training) {
  Func *f = gen_fn(g, fn, name, training);
  bind_params(g, md, f);
  gen_body(g, fn, f);
  return f;
}

Module *irgen(Arena *a, const Program *p, const char *file) {
  Diag d;
  diag_init(&d, file, "", 0, stderr, COLOR_NEVER);
  Module *m = irgen_diag(a, p, file, &d);
  diag_free(&d);
  return m;
}

Module *irgen_diag(Arena *a, const Program *p, const char *file, Diag *d) {
  Model *md = p->model;
  G g = {.a = a, .md = md, .d = d};
  g.m = ir_module_new(a, md->name, file);
  g.nsyms = p->nsyms;
  g.env = NEW_ARRAY(a, Value *, p->nsyms + 1);
  g.m->nparams = md->params.n;
  g.m->params = NEW_ARRAY(a, IrParam, md->params.n + 1);
  /* The module outlives the tree and the checker's tables (driver_run
   * frees them after irgen): what it takes from them is copied. Names are
   * kept with the module (parse_program). */
  for (int i = 0; i < md->params.n; i++) {
    ParamDecl *pd = md->params.v[i];
    g.m->params[i] = (IrParam){pd->name, pd->ty, pd->spec, pos_of(pd->loc)};
    if (pd->spec.how) g.m->params[i].init.how = arena_strdup(a, pd->spec.how);
  }
  if (md->train) {
    TrainSpec *t = NEW(a, TrainSpec);
    *t = md->train->spec;
    g.m->train = t;
  }
  for (int i = 0; i < md->fns.n; i++) {
    FnDecl *fn = md->fns.v[i];
    lower_fn(&g, md, fn, fn->name, false);
  }
  /* the training version of the loss, when it differs (dropout) */
  if (md->train && md->train->loss && md->train->loss->dropout) {
    FnDecl *fn = md->train->loss;
    lower_fn(&g, md, fn, arena_printf(a, "%s.train", fn->name), true);
  }
  return g.failed ? NULL : g.m;
}
