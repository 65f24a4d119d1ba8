/* passes.c — fold, simplify, cse, licm, dce; see passes.h.
 *
 * Every rewrite replaces the uses of an instruction's result and leaves
 * the instruction for dce to delete, so each pass stays small. Types never
 * change: a rewrite whose replacement has another type is not applied. */
#include "passes.h"

#include <math.h>
#include <string.h>

#include "interp.h"
#include "loops.h"
#include "ptrmap.h"

/* ---- shared helpers ------------------------------------------------------- */

static Arena *arena_of(Module *m) { return m->a; }

/* Replace all uses of `from` by `to`. A value the rewrite has just built
 * (`fresh`) inherits the replaced value's name; an existing value keeps
 * its own (CSE must not call a forward value by an adjoint's name).
 * Replacements wait in `subst` and are made in each instruction's operands
 * when the pass's walk reaches it (apply): a use always comes after its
 * definition, so one walk makes them all. (Rewriting the whole function at
 * every replacement made fold, simplify and cse quadratic: 20,000
 * statements took over a minute.) */
static void replace(PtrMap *subst, Value *from, Value *to, bool fresh) {
  if (fresh && to->name == NULL && from->name) to->name = from->name;
  if (fresh && !to->primal) to->primal = from->primal;
  pm_put(subst, from, to);
}

static void apply(const PtrMap *subst, Inst *in) {
  if (!subst->n) return;
  for (int i = 0; i < in->nargs; i++)
    for (Value *to; (to = pm_get(subst, in->args[i]));) in->args[i] = to;
}

static Builder builder_before(Module *m, Inst *in) {
  Builder b = {.a = arena_of(m), .block = in->block, .before = in, .pos = in->pos, .note = in->note};
  return b;
}

static bool splat(const Value *v, double *x) { return ir_is_const(v, x); }

/* ---- fold ------------------------------------------------------------------ */

/* Ops on splat constants give splat constants. */
static bool fold_block(Module *m, PtrMap *subst, Block *b) {
  bool changed = false;
  for (Inst *in = b->first; in; in = in->next) {
    apply(subst, in);
    if (in->body) {
      changed |= fold_block(m, subst, in->body);
      continue;
    }
    if (in->nres != 1 || in->op == OP_CONST || op_info[in->op].lc == LC_NONE) continue;
    if (in->nargs == 0 || in->res[0]->nuse == 0) continue;
    double v[3];
    bool all = true;
    for (int i = 0; i < in->nargs && i < 3; i++) all &= splat(in->args[i], &v[i]);
    if (!all || in->nargs > 3) continue;
    const Type *rt = &in->res[0]->ty;
    double r;
    switch (in->op) {
    case OP_RESHAPE: case OP_BROADCAST: case OP_TRANSPOSE: case OP_SLICE: case OP_STOP_GRADIENT:
    case OP_DYN_SLICE:
      r = v[0];
      break;
    case OP_REDUCE_SUM: {
      if (type_is_dyn(&in->args[0]->ty)) continue; /* the count is known at run time only */
      double cnt = (double)type_numel(&in->args[0]->ty) / (double)type_numel(rt);
      r = v[0] * cnt;
      break;
    }
    case OP_REDUCE_MAX: case OP_REDUCE_MIN:
      r = v[0];
      break;
    case OP_SELECT:
      r = v[0] != 0 ? v[1] : v[2];
      break;
    default:
      if (op_info[in->op].lc != LC_ELEM || (op_info[in->op].flags & F_TYPED && in->op != OP_CAST)) continue;
      if (in->op == OP_RNG_UNIFORM || in->op == OP_ONE_HOT) continue;
      if (in->nargs == 1)
        r = interp_unary(in->op, v[0], in->args[0]->ty.dtype, rt->dtype);
      else if (in->nargs == 2)
        r = interp_binary(in->op, v[0], v[1]);
      else
        continue;
    }
    if (rt->dtype == TY_I32) r = isnan(r) ? 0 : trunc(r);
    if (rt->dtype == TY_BOOL) r = r != 0;
    Builder bb = builder_before(m, in);
    Value *c = ir_const_like(&bb, rt, r);
    replace(subst, in->res[0], c, true);
    in->res[0]->nuse = 0;
    changed = true;
  }
  return changed;
}

bool pass_fold(Module *m, Func *f) {
  ir_count_uses(f);
  PtrMap subst = {.a = arena_new()};
  bool changed = fold_block(m, &subst, f->body);
  arena_free(subst.a);
  return changed;
}

/* ---- simplify ---------------------------------------------------------------- */

static bool is(const Value *v, double x) {
  double c;
  return splat(v, &c) && c == x;
}

static Inst *def(const Value *v, Op op) { return v->def && v->def->op == op ? v->def : NULL; }

/* Does transpose `t` swap exactly the last two axes? */
static bool swaps_last_two(const Inst *t) {
  int r = t->args[0]->ty.rank;
  if (r < 2) return false;
  for (int i = 0; i < r - 2; i++)
    if (t->attr.i[i] != i) return false;
  return t->attr.i[r - 2] == r - 1 && t->attr.i[r - 1] == r - 2;
}

/* Slabs of a sum of pads: a pad whose region is full on every axis but
 * one (step 1) places its operand at [start, start + len) of that axis;
 * a concat places its non-zero parts; an add (used only here) of such
 * values places both. Collects (start, value) pairs; false when v is not
 * such a sum or the axis differs. */
typedef struct Slab {
  int64_t start;
  Value *v;
} Slab;

static bool slabs_of(Value *v, bool root, int *axis, Slab *out, int *n, int cap) {
  Inst *d = v->def;
  if (!d || (!root && v->nuse != 1)) return false;
  int r = v->ty.rank;
  if (d->op == OP_ADD && type_eq(&d->args[0]->ty, &v->ty) && type_eq(&d->args[1]->ty, &v->ty))
    return slabs_of(d->args[0], false, axis, out, n, cap) && slabs_of(d->args[1], false, axis, out, n, cap);
  if (d->op == OP_PAD) {
    const Type *a = &d->args[0]->ty;
    int ax = -1;
    for (int k = 0; k < r; k++) {
      if (d->attr.i[r + k] != 1 || axis_dyn(a, k) != axis_dyn(&v->ty, k)) return false; /* a run-time axis padded to its bound */
      if (a->dim[k] == v->ty.dim[k] && d->attr.i[k] == 0) continue;
      if (ax >= 0) return false;
      ax = k;
    }
    if (ax < 0 || (*axis >= 0 && *axis != ax) || *n == cap) return false;
    *axis = ax;
    out[(*n)++] = (Slab){d->attr.i[ax], d->args[0]};
    return true;
  }
  if (d->op == OP_CONCAT) {
    int ax = (int)d->attr.i[0];
    if (*axis >= 0 && *axis != ax) return false;
    *axis = ax;
    int64_t off = 0;
    for (int k = 0; k < d->nargs; k++) {
      double z;
      if (!(ir_is_const(d->args[k], &z) && z == 0)) {
        if (*n == cap) return false;
        out[(*n)++] = (Slab){off, d->args[k]};
      }
      off += d->args[k]->ty.dim[ax];
    }
    return true;
  }
  return false;
}

/* The concat of a sum of disjoint slabs along their axis, zeros in the gaps. */
static Value *slabs_concat(Builder *b, const Type *t, int axis, Slab *sl, int n) {
  for (int i = 1; i < n; i++) /* by start */
    for (int j = i; j > 0 && sl[j].start < sl[j - 1].start; j--) {
      Slab x = sl[j];
      sl[j] = sl[j - 1];
      sl[j - 1] = x;
    }
  Value *parts[2 * 64 + 1];
  int np = 0;
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    if (sl[i].start < at) return NULL; /* overlapping slabs add up: not a concat */
    if (sl[i].start > at) {
      Type z = *t;
      z.dim[axis] = sl[i].start - at;
      parts[np++] = ir_const_like(b, &z, 0.0);
    }
    parts[np++] = sl[i].v;
    at = sl[i].start + sl[i].v->ty.dim[axis];
  }
  if (at < t->dim[axis]) {
    Type z = *t;
    z.dim[axis] = t->dim[axis] - at;
    parts[np++] = ir_const_like(b, &z, 0.0);
  }
  Attr at_ = {.ni = 1, .i = {axis}};
  return ir_build(b, OP_CONCAT, parts, np, &at_, NULL);
}

static bool simplify_inst(Module *m, PtrMap *subst, Inst *in) {
  if (in->nres != 1 || in->res[0]->nuse == 0) return false;
  Value *y = in->res[0];
  Value *a = in->nargs > 0 ? in->args[0] : NULL, *b = in->nargs > 1 ? in->args[1] : NULL;
  Builder bb = builder_before(m, in);
  Value *r = NULL;
  switch (in->op) {
  case OP_ADD:
    /* (add x 0) => x ; (add 0 x) => x */
    if (is(b, 0)) r = a;
    else if (is(a, 0)) r = b;
    /* (add x (neg y)) => (sub x y) */
    else if (def(b, OP_NEG)) r = ir_binary(&bb, OP_SUB, a, b->def->args[0]);
    /* (add (pad a) (pad b)) with disjoint slabs along one axis => (concat a b) with zeros in the gaps */
    /* The adjoint of slicing a tensor into pieces (an LSTM's four gates) is
     * a sum of pads: one pass writing the whole instead of a memset, a copy
     * and an add per piece. Sums of such sums and concats combine. */
    else if (def(a, OP_PAD) || def(b, OP_PAD) || def(a, OP_CONCAT) || def(b, OP_CONCAT)) {
      Slab sl[64];
      int n = 0, axis = -1;
      if (slabs_of(y, true, &axis, sl, &n, 64) && n >= 2) r = slabs_concat(&bb, &y->ty, axis, sl, n);
    }
    break;
  case OP_SUB:
    /* (sub x 0) => x */
    if (is(b, 0)) r = a;
    /* (sub 0 x) => (neg x) */
    else if (is(a, 0)) r = ir_unary(&bb, OP_NEG, b);
    /* (sub x (neg y)) => (add x y) */
    else if (def(b, OP_NEG)) r = ir_binary(&bb, OP_ADD, a, b->def->args[0]);
    break;
  case OP_MUL:
    /* (mul x 1) => x ; (mul 1 x) => x */
    if (is(b, 1)) r = a;
    else if (is(a, 1)) r = b;
    /* (mul x -1) => (neg x) */
    else if (is(b, -1)) r = ir_unary(&bb, OP_NEG, a);
    else if (is(a, -1)) r = ir_unary(&bb, OP_NEG, b);
    break;
  case OP_DIV:
    /* (div x 1) => x */
    if (is(b, 1)) r = a;
    break;
  case OP_POW:
    /* (pow x 1) => x ; (pow x 2) => (mul x x) ; (pow x 0.5) => (sqrt x) */
    if (is(b, 1)) r = a;
    else if (is(b, 2)) r = ir_binary(&bb, OP_MUL, a, a);
    else if (is(b, 0.5)) r = ir_unary(&bb, OP_SQRT, a);
    break;
  case OP_NEG:
    /* (neg (neg x)) => x */
    if (def(a, OP_NEG)) r = a->def->args[0];
    break;
  case OP_SELECT:
    /* (select c x x) => x */
    if (in->args[1] == in->args[2]) r = in->args[1];
    break;
  case OP_CAST:
    /* (cast x) to its own dtype => x */
    if (a->ty.dtype == y->ty.dtype) r = a;
    break;
  case OP_RESHAPE:
    /* (reshape (reshape x)) => (reshape x) ; (reshape x) to x's shape => x */
    if (def(a, OP_RESHAPE)) r = ir_reshape(&bb, a->def->args[0], &y->ty);
    else if (shape_eq(&a->ty, &y->ty)) r = a;
    break;
  case OP_BROADCAST:
    /* (broadcast x) to x's shape => x */
    if (shape_eq(&a->ty, &y->ty)) r = a;
    break;
  case OP_TRANSPOSE: {
    /* identity permutation => x ; (transpose (transpose x p) q) => (transpose x p[q]) */
    int rk = a->ty.rank;
    bool ident = true;
    for (int i = 0; i < rk; i++) ident &= in->attr.i[i] == i;
    if (ident) r = a;
    else if (def(a, OP_TRANSPOSE)) {
      int64_t p[MAX_RANK];
      for (int i = 0; i < rk; i++) p[i] = a->def->attr.i[in->attr.i[i]];
      r = ir_transpose(&bb, a->def->args[0], p);
    }
    break;
  }
  case OP_REDUCE_SUM:
  case OP_REDUCE_MAX:
  case OP_REDUCE_MIN:
    /* reducing no axes => x */
    if (in->attr.ni == 0) r = a;
    break;
  case OP_MATMUL: {
    /* (matmul a (transpose b: swap last two)) => (matmul a b) with tb flipped; same for a */
    Inst *ta = def(a, OP_TRANSPOSE), *tb = def(b, OP_TRANSPOSE);
    if ((ta && swaps_last_two(ta)) || (tb && swaps_last_two(tb))) {
      Attr at = ir_attr(in);
      Value *args[2] = {a, b};
      if (ta && swaps_last_two(ta)) args[0] = ta->args[0], at.i[0] ^= 1;
      if (tb && swaps_last_two(tb)) args[1] = tb->args[0], at.i[1] ^= 1;
      r = ir_build(&bb, OP_MATMUL, args, 2, &at, NULL);
      break;
    }
    /* (matmul (gather t idx) w) => (gather (matmul t w) idx) when t has fewer rows than idx has indices */
    /* Row s of the product is row idx[s] of t @ w: an embedding followed by
     * a projection (every recurrent sample) multiplies the V-row table once
     * instead of the S >> V looked-up rows; the gradient then sums rows
     * into [V, N] and multiplies that. A reshape that only flattens the
     * index axes may sit between the gather and the matmul. */
    Inst *ga = def(a, OP_GATHER);
    if (!ga && def(a, OP_RESHAPE)) ga = def(a->def->args[0], OP_GATHER);
    if (ga && !in->attr.i[0] && y->ty.rank == 2) {
      Value *t = ga->args[0], *idx = ga->args[1];
      int64_t S = type_numel(&idx->ty);
      if (S == a->ty.dim[0] && t->ty.rank == 2 && t->ty.dim[0] < S) {
        Attr at = {.ni = 2, .i = {0, in->attr.i[1]}};
        Value *margs[2] = {t, b};
        Value *tw = ir_build(&bb, OP_MATMUL, margs, 2, &at, NULL);
        Value *gargs[2] = {tw, idx};
        r = ir_reshape(&bb, ir_build(&bb, OP_GATHER, gargs, 2, NULL, NULL), &y->ty);
      }
    }
    break;
  }
  case OP_MAXPOOL2D: {
    /* (maxpool2d (relu x)) => (relu (maxpool2d x)) when the relu has no other use */
    /* relu is non-decreasing, so the window maximum commutes with it and the
     * first maximal element is the same (when the maximum is <= 0 the
     * gradient is 0 either way). Pooling first makes the relu and its
     * gradient 4x smaller for 2x2 windows. */
    Inst *rl = def(a, OP_RELU);
    if (rl && a->nuse == 1) {
      Attr at = ir_attr(in);
      Value *x = rl->args[0];
      Value *pooled = ir_build(&bb, OP_MAXPOOL2D, &x, 1, &at, NULL);
      r = ir_unary(&bb, OP_RELU, pooled);
      break;
    }
    /* (maxpool2d (add x c)) => (add (maxpool2d x) c) when c is constant over each window and the add has no other use */
    /* c (a per-channel bias, typically) shifts the whole window, so the
     * maximum shifts with it: rounding is monotone, so (for finite values) the pooled values
     * are the same bits; the bias is added, and its gradient summed, over
     * the pooled tensor instead of the 4x larger one. */
    Inst *ad = def(a, OP_ADD);
    if (ad && a->nuse == 1) {
      for (int k = 0; k < 2 && !r; k++) {
        Value *x = ad->args[k], *c = ad->args[1 - k];
        const Type *tc = &c->ty;
        bool whole = type_eq(&x->ty, &a->ty); /* c does not broadcast x */
        bool flat = tc->rank < 2 ? tc->rank == 0 || tc->dim[0] == 1
                                 : tc->dim[tc->rank - 1] == 1 && tc->dim[tc->rank - 2] == 1;
        if (whole && flat) {
          Attr at = ir_attr(in);
          Value *pooled = ir_build(&bb, OP_MAXPOOL2D, &x, 1, &at, NULL);
          r = ir_binary(&bb, OP_ADD, pooled, c);
        }
      }
    }
    break;
  }
  case OP_DYN_SLICE: {
    /* (dyn_slice (dyn_update x v i) i) on the same axis => v */
    Inst *u = def(a, OP_DYN_UPDATE);
    if (u && u->attr.i[0] == in->attr.i[0] && u->args[2] == in->args[1]) r = u->args[1];
    break;
  }
  default:
    break;
  }
  if (!r || r == y || !type_eq(&r->ty, &y->ty)) return false;
  replace(subst, y, r, r->def && r->def->next == in); /* built just now, right before in */
  y->nuse = 0;
  return true;
}

static bool simplify_block(Module *m, PtrMap *subst, Block *b) {
  bool changed = false;
  for (Inst *in = b->first; in; in = in->next) {
    apply(subst, in);
    if (in->body) changed |= simplify_block(m, subst, in->body);
    else changed |= simplify_inst(m, subst, in);
  }
  return changed;
}

bool pass_simplify(Module *m, Func *f) {
  ir_count_uses(f);
  PtrMap subst = {.a = arena_new()};
  bool changed = simplify_block(m, &subst, f->body);
  arena_free(subst.a);
  return changed;
}

/* ---- cse ------------------------------------------------------------------- */

typedef struct CseTab {
  Inst **slot;
  int cap;
  PtrVec log;    /* slots filled, in order, for scope pops */
  Arena *a;
} CseTab;

static unsigned hash_inst(const Inst *in) {
  unsigned h = (unsigned)in->op * 2654435761u;
  uintptr_t args[2] = {0, 0};
  for (int i = 0; i < in->nargs; i++) {
    uintptr_t x = (uintptr_t)in->args[i];
    if ((op_info[in->op].flags & F_COMMUTATIVE) && in->nargs == 2) args[i] = x;
    else h = (h ^ (unsigned)(x >> 4)) * 16777619u;
  }
  if ((op_info[in->op].flags & F_COMMUTATIVE) && in->nargs == 2) {
    /* in either order (a xor of the two collides: neighbours in the arena
     * differ in the same few bits, and long chains shared one hash) */
    uintptr_t lo = args[0] < args[1] ? args[0] : args[1], hi = args[0] ^ args[1] ^ lo;
    h = (h ^ (unsigned)(lo >> 4)) * 16777619u;
    h = (h ^ (unsigned)(hi >> 4)) * 16777619u;
  }
  for (int i = 0; i < in->attr.ni; i++) h = (h ^ (unsigned)in->attr.i[i]) * 16777619u;
  double f = in->attr.f;
  uint64_t fb;
  memcpy(&fb, &f, sizeof fb);
  h = (h ^ (unsigned)(fb ^ (fb >> 32))) * 16777619u;
  const Type *t = &in->res[0]->ty;
  h = (h ^ (unsigned)t->dtype) * 16777619u;
  for (int i = 0; i < t->rank; i++) h = (h ^ (unsigned)t->dim[i]) * 16777619u;
  /* the table takes the low bits, which the multiplications fill only from
   * the inputs' low bits: constants 0.5, 0.25, 2.0 differ in high bits
   * only, and all fell in one probe chain (cse was quadratic) */
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  return h;
}

static bool same_inst(const Inst *a, const Inst *b) {
  if (a->op != b->op || a->nargs != b->nargs || a->attr.ni != b->attr.ni) return false;
  if (memcmp(&a->attr.f, &b->attr.f, sizeof(double))) return false;
  if (!type_eq(&a->res[0]->ty, &b->res[0]->ty)) return false;
  for (int i = 0; i < a->attr.ni; i++)
    if (a->attr.i[i] != b->attr.i[i]) return false;
  bool direct = true;
  for (int i = 0; i < a->nargs; i++) direct &= a->args[i] == b->args[i];
  if (direct) return true;
  return (op_info[a->op].flags & F_COMMUTATIVE) && a->nargs == 2 && a->args[0] == b->args[1] &&
         a->args[1] == b->args[0];
}

/* The table is sized for the whole function up front, so it never grows;
 * leaving a loop body then pops the body's entries in LIFO order, which
 * keeps every older entry's linear-probe chain intact. */
static bool cse_block(Module *m, PtrMap *subst, Block *b, CseTab *t) {
  bool changed = false;
  for (Inst *in = b->first; in; in = in->next) {
    apply(subst, in);
    if (in->body) {
      int mark = t->log.n;
      changed |= cse_block(m, subst, in->body, t);
      while (t->log.n > mark) t->slot[(intptr_t)t->log.v[--t->log.n]] = NULL;
      continue;
    }
    if (in->nres != 1 || (op_info[in->op].flags & F_TERMINATOR)) continue;
    unsigned j = hash_inst(in) & (unsigned)(t->cap - 1);
    Inst *hit = NULL;
    while (t->slot[j]) {
      if (same_inst(t->slot[j], in)) {
        hit = t->slot[j];
        break;
      }
      j = (j + 1) & (unsigned)(t->cap - 1);
    }
    if (hit) {
      replace(subst, in->res[0], hit->res[0], false);
      changed = true;
      continue;
    }
    t->slot[j] = in;
    vec_push(t->a, &t->log, (void *)(intptr_t)j);
  }
  return changed;
}

bool pass_cse(Module *m, Func *f) {
  CseTab t = {.a = arena_new()};
  int n = ir_count_insts(f);
  t.cap = 64;
  while (t.cap < 2 * n + 16) t.cap *= 2;
  t.slot = NEW_ARRAY(t.a, Inst *, t.cap);
  PtrMap subst = {.a = t.a};
  bool changed = cse_block(m, &subst, f->body, &t);
  arena_free(t.a);
  return changed;
}

/* ---- licm ------------------------------------------------------------------- */

/* Is v defined outside `body` (in an enclosing block)? */
static bool outside(const Value *v, const Block *body) {
  const Block *b = v->def ? v->def->block : v->block;
  for (const Block *p = b; p; p = p->parent ? p->parent->block : NULL)
    if (p == body) return false;
  return true;
}

static bool licm_block(Module *m, Block *b) {
  bool changed = false;
  for (Inst *in = b->first; in; in = in->next) {
    if (!in->body) continue;
    changed |= licm_block(m, in->body);
    Block *body = in->body;
    for (Inst *x = body->first, *next; x; x = next) {
      next = x->next;
      if (x->body || (op_info[x->op].flags & F_TERMINATOR) || x->nres != 1) continue;
      bool inv = true;
      for (int i = 0; i < x->nargs; i++) inv &= outside(x->args[i], body);
      if (!inv) continue;
      ir_remove(x);
      ir_insert_before(in, x);
      changed = true;
    }
  }
  return changed;
}

bool pass_licm(Module *m, Func *f) { return licm_block(m, f->body); }

/* ---- dce ------------------------------------------------------------------- */

/* Liveness over structured code: a value is live if the function returns
 * it or a live instruction uses it. A loop's carried slot k is live when
 * its result or its body argument is live; a live body argument keeps the
 * yielded value for it alive (the next iteration reads it). Iterated to a
 * fixed point, then dead instructions and dead loop slots are removed. */

static bool live(PtrMap *lv, const Value *v) { return pm_has(lv, v); }
static bool set_live(PtrMap *lv, const Value *v) {
  if (pm_has(lv, v)) return false;
  pm_put(lv, v, (void *)1);
  return true;
}

static bool live_block(PtrMap *lv, Block *b) {
  bool changed = false;
  for (Inst *in = b->last; in; in = in->prev) {
    if (in->op == OP_RETURN) {
      for (int i = 0; i < in->nargs; i++) changed |= set_live(lv, in->args[i]);
      continue;
    }
    if (in->op == OP_YIELD) continue; /* handled by the loop */
    if (in->op == OP_FOR) {
      Block *body = in->body;
      Inst *y = body->last;
      int nc = in->nargs;
      for (bool again = true; again;) {
        again = false;
        for (int k = 0; k < in->nres; k++) {
          bool l = live(lv, in->res[k]) || (k < nc && live(lv, body->args[k + 1]));
          if (l) again |= set_live(lv, y->args[k]);
        }
        again |= live_block(lv, body);
        changed |= again;
      }
      for (int k = 0; k < nc; k++)
        if (live(lv, in->res[k]) || live(lv, body->args[k + 1])) changed |= set_live(lv, in->args[k]);
      continue;
    }
    bool any = false;
    for (int r = 0; r < in->nres; r++) any |= live(lv, in->res[r]);
    if (!any) continue;
    for (int i = 0; i < in->nargs; i++) changed |= set_live(lv, in->args[i]);
  }
  return changed;
}

static bool sweep(Arena *a, PtrMap *lv, Block *b) {
  bool changed = false;
  for (Inst *in = b->first, *next; in; in = next) {
    next = in->next;
    if (op_info[in->op].flags & F_TERMINATOR) continue;
    if (in->op == OP_FOR) {
      Block *body = in->body;
      Inst *y = body->last;
      int nc = in->nargs;
      /* keep slot k if its result or body argument is live */
      int keep_c = 0, keep_r = 0;
      Value **nargs = NEW_ARRAY(a, Value *, in->nargs + 1);
      Value **nres = NEW_ARRAY(a, Value *, in->nres + 1);
      Value **ny = NEW_ARRAY(a, Value *, y->nargs + 1);
      Value **nba = NEW_ARRAY(a, Value *, body->nargs + 1);
      nba[0] = body->args[0];
      for (int k = 0; k < in->nres; k++) {
        bool keep = live(lv, in->res[k]) || (k < nc && live(lv, body->args[k + 1]));
        if (!keep) {
          changed = true;
          continue;
        }
        if (k < nc) {
          nargs[keep_c] = in->args[k];
          nba[keep_c + 1] = body->args[k + 1];
          nba[keep_c + 1]->res = keep_c + 1;
          keep_c++;
        }
        ny[keep_r] = y->args[k];
        nres[keep_r] = in->res[k];
        nres[keep_r]->res = keep_r;
        keep_r++;
      }
      if (keep_r == 0) {
        ir_remove(in);
        changed = true;
        continue;
      }
      in->args = nargs;
      in->nargs = keep_c;
      in->attr.i[2] = keep_c;
      in->res = nres;
      in->nres = keep_r;
      y->args = ny;
      y->nargs = keep_r;
      body->args = nba;
      body->nargs = keep_c + 1;
      body->cap = keep_c + 1;
      changed |= sweep(a, lv, body);
      continue;
    }
    bool any = false;
    for (int r = 0; r < in->nres; r++) any |= live(lv, in->res[r]);
    if (!any) {
      ir_remove(in);
      changed = true;
    }
  }
  return changed;
}

bool pass_dce(Module *m, Func *f) {
  PtrMap lv;
  pm_init(&lv, arena_new());
  while (live_block(&lv, f->body)) {
  }
  bool changed = sweep(arena_of(m), &lv, f->body);
  arena_free(lv.a);
  return changed;
}

/* ---- the table --------------------------------------------------------------- */

const Pass pass_table[] = {
    {"fold", pass_fold, "constant folding of splat constants"},
    {"simplify", pass_simplify, "algebraic simplification"},
    {"cse", pass_cse, "common subexpression elimination"},
    {"licm", pass_licm, "loop-invariant code motion"},
    {"loops", pass_loops, "loop rewrites: unwritten rows, stacked row reads, sums of products after the loop, rows added once"},
    {"dce", pass_dce, "dead code elimination (instructions and loop slots)"},
};
const int pass_count = (int)(sizeof pass_table / sizeof pass_table[0]);

bool run_passes(Module *m, Func *f, const PassOpts *o) {
  for (int round = 0; round < 8; round++) {
    bool changed = false;
    for (int i = 0; i < pass_count; i++) {
      bool c = pass_table[i].run(m, f);
      changed |= c;
      if (o && o->verify && !ir_verify_func(m, f, stderr)) {
        fprintf(stderr, "nnc: the IR of @%s does not verify after pass '%s'\n", f->name, pass_table[i].name);
        return false;
      }
      if (o && o->dump && (!strcmp(o->dump, pass_table[i].name) || !strcmp(o->dump, "all"))) {
        fprintf(o->dump_out ? o->dump_out : stderr, "// after %s (round %d)%s\n", pass_table[i].name, round + 1,
                c ? "" : ", unchanged");
        ir_print_func(o->dump_out ? o->dump_out : stderr, m, f);
      }
    }
    if (!changed) break;
  }
  return true;
}
