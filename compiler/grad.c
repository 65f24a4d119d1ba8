/* grad.c — reverse-mode AD as an IR-to-IR transformation; see grad.h.
 *
 *  1. Copy f's forward code into a new function.
 *  2. Activity analysis: a value is "varied" when it depends on a
 *     differentiated argument through differentiable ops, "useful" when the
 *     loss depends on it; only values that are both get adjoints. Loops are
 *     iterated to a fixed point (a carried value can become varied or
 *     useful through the next iteration).
 *  3. The reverse sweep walks the forward code backwards. Each op's rule
 *     (vjp.c) adds contributions to its operands' adjoints; fan-out sums.
 *  4. A loop becomes a loop that runs backwards (attribute reverse), in a
 *     new adjoint scope. It carries the adjoints of the forward loop's
 *     carried values, and one accumulator for every outer value the body
 *     uses, so a parameter used at every step collects its gradient across
 *     iterations. After the backward body is built, every forward-body value
 *     it refers to becomes a tape: the forward loop stacks it (a new stacked
 *     output [T, ...]) and the backward body reads row i. Constants are
 *     recomputed instead of taped.
 */
#include <string.h>

#include "ad_internal.h"
#include "loops.h"
#include "passes.h"
#include "remat.h"

struct AdScope {
  PtrMap adj;        /* value -> its adjoint so far */
  AdScope *parent;
  Inst *loop;        /* the forward loop whose body this scope reverses */
  PtrMap fwd;        /* values defined directly in that body */
};

/* ---- activity ------------------------------------------------------------ */

static int act(Ad *ad, const Value *v) { return (int)(intptr_t)pm_get(&ad->act, v); }

static bool mark(Ad *ad, const Value *v, int bits) {
  int old = act(ad, v);
  if ((old | bits) == old) return false;
  pm_put(&ad->act, v, (void *)(intptr_t)(old | bits));
  return true;
}

bool ad_active(Ad *ad, const Value *v) { return act(ad, v) == (ACT_VARIED | ACT_USEFUL); }

static bool any_varied(Ad *ad, const Inst *in) {
  for (int i = 0; i < in->nargs; i++)
    if (act(ad, in->args[i]) & ACT_VARIED) return true;
  return false;
}

/* Ops that turn a varied float into an integer (or bool) carry no gradient:
 * remembered so the user hears about it when the loss depends on them. */
static void note_blocked(Ad *ad, Inst *in) {
  if ((in->op == OP_CAST || in->op == OP_ARGMAX) && in->nres == 1 && !dtype_is_float(in->res[0]->ty.dtype) &&
      any_varied(ad, in))
    vec_push(ad->tmp, &ad->blocked, in);
}

void ad_mark_varied(Ad *ad, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->op == OP_FOR) {
      Block *body = in->body;
      int nc = in->nargs;
      for (int k = 0; k < nc; k++)
        if ((act(ad, in->args[k]) & ACT_VARIED) && dtype_is_float(in->args[k]->ty.dtype))
          mark(ad, body->args[k + 1], ACT_VARIED);
      for (bool changed = true; changed;) {
        changed = false;
        ad_mark_varied(ad, body);
        Inst *y = body->last;
        for (int k = 0; k < nc; k++)
          if ((act(ad, y->args[k]) & ACT_VARIED) && dtype_is_float(body->args[k + 1]->ty.dtype))
            changed |= mark(ad, body->args[k + 1], ACT_VARIED);
      }
      Inst *y = body->last;
      for (int k = 0; k < in->nres; k++) {
        bool v = act(ad, y->args[k]) & ACT_VARIED;
        if (k < nc) v = v || (act(ad, in->args[k]) & ACT_VARIED);
        if (v && dtype_is_float(in->res[k]->ty.dtype)) mark(ad, in->res[k], ACT_VARIED);
      }
      continue;
    }
    if (in->nres != 1) continue;
    unsigned fl = op_info[in->op].flags;
    note_blocked(ad, in);
    if ((fl & F_NODIFF) || in->op == OP_STOP_GRADIENT || !dtype_is_float(in->res[0]->ty.dtype)) continue;
    if (any_varied(ad, in)) mark(ad, in->res[0], ACT_VARIED);
  }
}

/* Returns true when something new became useful. */
static bool useful_block(Ad *ad, Block *b) {
  bool any = false;
  for (Inst *in = b->last; in; in = in->prev) {
    if (in->op == OP_FOR) {
      Block *body = in->body;
      Inst *y = body->last;
      int nc = in->nargs;
      for (int k = 0; k < in->nres; k++)
        if (act(ad, in->res[k]) & ACT_USEFUL) any |= mark(ad, y->args[k], ACT_USEFUL);
      for (bool changed = true; changed;) {
        changed = useful_block(ad, body);
        for (int k = 0; k < nc; k++)
          if (act(ad, body->args[k + 1]) & ACT_USEFUL) changed |= mark(ad, y->args[k], ACT_USEFUL);
        any |= changed;
      }
      for (int k = 0; k < nc; k++)
        if ((act(ad, body->args[k + 1]) & ACT_USEFUL) || (act(ad, in->res[k]) & ACT_USEFUL))
          any |= mark(ad, in->args[k], ACT_USEFUL);
      continue;
    }
    if (in->nres != 1 || !(act(ad, in->res[0]) & ACT_USEFUL)) continue;
    for (int i = 0; i < in->nargs; i++) any |= mark(ad, in->args[i], ACT_USEFUL);
  }
  return any;
}

/* ---- adjoints ------------------------------------------------------------- */

static const char *grad_name(Ad *ad, const Value *v) {
  return v->name ? arena_printf(ad->a, "%s.grad", v->name) : NULL;
}

static void set_adj(Ad *ad, Value *v, Value *g) {
  if (!g->name && !g->block) g->name = grad_name(ad, v);
  if (!g->primal && !g->block) g->primal = v;
  pm_put(&ad->scope->adj, v, g);
}

static void check_scope(Ad *ad, const Value *v) {
  AdScope *s = ad->scope;
  if (s->loop && !pm_has(&s->fwd, v) && !pm_has(&s->adj, v))
    die("AD: adjoint of a value outside the loop without an accumulator");
}

void ad_add(Ad *ad, Value *v, Value *c) {
  if (!ad_active(ad, v)) return;
  if (!type_eq(&c->ty, &v->ty)) die("AD: adjoint %s for a value of type %s", tstr(&c->ty), tstr(&v->ty));
  check_scope(ad, v);
  Value *cur = pm_get(&ad->scope->adj, v);
  set_adj(ad, v, cur ? ir_binary(&ad->b, OP_ADD, cur, c) : c);
}

void ad_add_row(Ad *ad, Value *v, Value *row, Value *pos, int64_t axis) {
  if (!ad_active(ad, v)) return;
  check_scope(ad, v);
  Value *cur = pm_get(&ad->scope->adj, v);
  if (!cur) cur = ir_const_like(&ad->b, &v->ty, 0.0);
  Attr at = {.ni = 1, .i = {axis}};
  Value *args[3] = {cur, row, pos};
  set_adj(ad, v, ir_build(&ad->b, OP_DYN_UPDATE_ADD, args, 3, &at, NULL));
}

static Value *adj_or_zero(Ad *ad, Value *v) {
  Value *g = pm_get(&ad->scope->adj, v);
  return g ? g : ir_const_like(&ad->b, &v->ty, 0.0);
}

/* ---- the reverse sweep ------------------------------------------------------- */

static const char *describe(Ad *ad, const Inst *in) {
  const Value *r = in->nres ? in->res[0] : NULL;
  if (in->op == OP_FOR) return "from the loop";
  if (r && r->name) return arena_printf(ad->a, "from %%%s = %s", r->name, op_info[in->op].name);
  return arena_printf(ad->a, "from %s", op_info[in->op].name);
}

static void reverse_block(Ad *ad, Inst *last) {
  for (Inst *in = last; in; in = in->prev) {
    if (op_info[in->op].flags & F_TERMINATOR) continue;
    ad->b.pos = in->pos;
    ad->b.note = describe(ad, in);
    if (in->op == OP_FOR) {
      ad_vjp_for(ad, in, NULL);
      continue;
    }
    Value *y = in->res[0];
    if (!ad_active(ad, y)) continue;
    Value *g = pm_get(&ad->scope->adj, y);
    if (!g) continue;
    vjp_rules[in->op](ad, in, g);
  }
}

/* ---- loops ------------------------------------------------------------------- */

static void collect_fwd(Block *b, PtrMap *fwd) {
  for (int i = 0; i < b->nargs; i++) pm_put(fwd, b->args[i], (void *)1);
  for (Inst *in = b->first; in; in = in->next)
    for (int r = 0; r < in->nres; r++) pm_put(fwd, in->res[r], (void *)1);
}

/* Active values from outside the loop body used inside it (at any depth),
 * in order of first use. `local` holds the values defined in the body and,
 * while recursing, in the nested bodies. */
static void collect_outer(Ad *ad, Block *b, const PtrMap *local, PtrMap *seen, PtrVec *out) {
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nargs; i++) {
      Value *v = in->args[i];
      if (pm_has(local, v) || pm_has(seen, v) || !ad_active(ad, v)) continue;
      pm_put(seen, v, (void *)1);
      vec_push(ad->tmp, out, v);
    }
    if (in->body) {
      PtrMap both;
      pm_init(&both, ad->tmp);
      for (int k = 0; k < local->cap; k++)
        if (local->keys[k]) pm_put(&both, local->keys[k], (void *)1);
      collect_fwd(in->body, &both);
      collect_outer(ad, in->body, &both, seen, out);
    }
  }
}

static Value *tape_value(Ad *ad, Inst *fin, Value *v) {
  const char *what = v->name ? v->name : op_info[v->def ? v->def->op : OP_FOR].name;
  return loop_add_stacked(ad->a, fin, v, arena_printf(ad->a, "tape.%s", what));
}

static void replace_in_block(Block *b, Value *from, Value *to) { ir_replace_uses(b, from, to); }

/* A carried slot j of forward loop fin whose next value writes v at row i
 * of one axis (hs[:, t] = h): after the loop, row i of fin's result j is v
 * of iteration i (later iterations write other rows; positions lo..hi-1
 * lie inside the axis). Returns j (the axis in *axis), or -1. */
static int row_store_slot(const Inst *fin, const Value *v, int64_t *axis) {
  const Block *fb = fin->body;
  const Inst *y = fb->last;
  for (int j = 0; j < fin->nargs; j++) {
    const Inst *u = y->args[j]->def;
    if (!u || u->op != OP_DYN_UPDATE || u->block != fb || u->args[0] != fb->args[j + 1] || u->args[1] != v ||
        u->args[2] != fb->args[0])
      continue;
    int64_t ax = u->attr.i[0];
    if (fin->attr.i[0] < 0 || fin->attr.i[1] > u->args[0]->ty.dim[ax]) continue;
    *axis = ax;
    return j;
  }
  return -1;
}

/* Read v, a value of forward loop fin's body, in the backward body without
 * a tape when the loop keeps it anyway: a value it stores at row i of a
 * carried tensor is row i of the loop's result; the input of a carried
 * value whose next value is so stored is the previous iteration's row (or
 * the initial value at the first iteration). NULL otherwise. */
static Value *read_back(Ad *ad, Builder *tb, Inst *fin, Value *v, Value *ri, SavedValue *sv) {
  Block *fb = fin->body;
  int64_t ax;
  int j = row_store_slot(fin, v, &ax);
  if (j >= 0) {
    tb->note = arena_printf(ad->a, "read back from the loop's %s", fin->res[j]->name ? fin->res[j]->name : "result");
    Attr at = {.ni = 1, .i = {ax}};
    Value *args[2] = {fin->res[j], ri};
    sv->source = fin->res[j];
    sv->avoided = type_bytes(&v->ty) * (size_t)(fin->attr.i[1] - fin->attr.i[0]);
    return ir_build(tb, OP_DYN_SLICE, args, 2, &at, NULL);
  }
  if (v->block != fb || v->res == 0) return NULL;
  int k = v->res - 1; /* v is the input of carried slot k */
  j = row_store_slot(fin, fb->last->args[k], &ax);
  if (j < 0) return NULL;
  bool rev = fin->attr.i[3];
  int64_t first = rev ? fin->attr.i[1] - 1 : fin->attr.i[0];
  tb->note = arena_printf(ad->a, "read back from the loop's %s, previous row", fin->res[j]->name ? fin->res[j]->name : "result");
  Value *prev = ir_binary(tb, rev ? OP_ADD : OP_SUB, ri, ir_scalar(tb, TY_I32, 1));
  Attr at = {.ni = 1, .i = {ax}};
  Value *args[2] = {fin->res[j], prev};
  Value *row = ir_build(tb, OP_DYN_SLICE, args, 2, &at, NULL);
  Value *is_first = ir_binary(tb, OP_EQ, ri, ir_scalar(tb, TY_I32, (double)first));
  Value *sargs[3] = {is_first, fin->args[k], row};
  sv->source = fin->res[j];
  sv->previous = true;
  sv->avoided = type_bytes(&v->ty) * (size_t)(fin->attr.i[1] - fin->attr.i[0]);
  return ir_build(tb, OP_SELECT, sargs, 3, NULL, NULL);
}

/* What the backward body of loop fin reads of its forward body, and how:
 * map takes a forward-body value to the backward body's (a tape row, a row
 * read back, or a recomputed copy). */
typedef struct TapeCtx {
  Ad *ad;
  Inst *fin;
  const PtrMap *fwd; /* values defined in fin's body (not nested bodies) */
  int depth;
  Builder tb;        /* where tape reads and recomputed code go: the top of the backward body */
  Value *ri, *row;   /* the backward index, and the tape row (i - lo, made once) */
  PtrMap map;
  PtrMap recomputed; /* forward values whose copies the backward body computes */
  PtrMap tapes;      /* forward value -> its tape (the loop's stacked result) */
} TapeCtx;

static void saved_push(TapeCtx *c, const SavedValue *sv) {
  SavedValue *n = NEW(c->ad->tmp, SavedValue);
  *n = *sv;
  vec_push(c->ad->tmp, &c->ad->saved, n);
}

static size_t tape_size(const TapeCtx *c, const Value *v) {
  return type_bytes(&v->ty) * (size_t)(c->fin->attr.i[1] - c->fin->attr.i[0]);
}

/* The value of fin's body that v reshapes (through a chain of reshapes):
 * v itself when v is no reshape of another instruction's result there.
 * Run-time shapes too: a reshape keeps the run-time axis after the same
 * static sizes (merging or splitting the static axes after it), so the
 * tape [T, u...] reshapes to [T, v...] the same way (taped). */
static Value *tape_base(const TapeCtx *c, Value *v) {
  Value *u = v;
  while (u->def && u->def->op == OP_RESHAPE) {
    Value *x = u->def->args[0];
    if (!x->def || !pm_has(c->fwd, x) || x->def->op == OP_CONST || x->def->op == OP_IOTA) break;
    u = x;
  }
  return u;
}

/* The tape [T, u...] of u read as [T, v...], v a reshape of u: T, then
 * v's axes, its run-time axis (if any) one further in, with v's factor
 * (a merged axis B*64<=1024 of v is one of the rows too). */
static Type rows_type(const Type *tape, const Type *v) {
  Type t = *tape;
  t.rank = v->rank + 1;
  memcpy(t.dim + 1, v->dim, sizeof(int64_t) * (size_t)v->rank);
  t.dyn = v->dyn << 1;
  t.dyn_name = v->dyn ? v->dyn_name : NULL;
  t.dyn_mul = v->dyn ? v->dyn_mul : 0;
  return t;
}

/* v from a tape: the forward loop stacks it, the backward body reads row i.
 * A reshape of a body value u tapes u and reads its row of the tape
 * reshaped to [T, v...]: u and its reshapes share one tape, and the
 * forward computes u straight into its row (a tape of the reshape was a
 * copy of u, the plan storing a reshape where its operand lives). */
static Value *taped(TapeCtx *c, Value *v) {
  Ad *ad = c->ad;
  int64_t lo = c->fin->attr.i[0];
  if (!c->row) {
    c->tb.note = "tape row";
    c->row = lo ? ir_binary(&c->tb, OP_SUB, c->ri, ir_scalar(&c->tb, TY_I32, (double)lo)) : c->ri;
  }
  Value *u = tape_base(c, v);
  Value *tape = pm_get(&c->tapes, u);
  if (!tape) {
    tape = tape_value(ad, c->fin, u);
    pm_put(&c->tapes, u, tape);
    saved_push(c, &(SavedValue){.value = u, .tape = tape, .pos = u->def ? u->def->pos : c->fin->pos,
                                .bytes = type_bytes(&tape->ty), .depth = c->depth});
  }
  c->tb.note = "tape read";
  Value *rows = tape;
  if (u != v) {
    Type t = rows_type(&tape->ty, &v->ty);
    rows = ir_build(&c->tb, OP_RESHAPE, &tape, 1, NULL, &t);
  }
  Attr at = {.ni = 1, .i = {0}};
  Value *args[2] = {rows, c->row};
  Value *nv = ir_build(&c->tb, OP_DYN_SLICE, args, 2, &at, NULL);
  nv->name = v->name;
  return nv;
}

/* v as the backward body sees it, without recomputing: a constant made
 * again, a row read back, or a tape row (NULL: v is to be recomputed). */
static Value *kept(TapeCtx *c, Value *v, bool remat) {
  Ad *ad = c->ad;
  if (v->def && v->def->nargs == 0 && (v->def->op == OP_CONST || v->def->op == OP_IOTA)) {
    Attr at = ir_attr(v->def);
    c->tb.note = "recomputed";
    return ir_build(&c->tb, v->def->op, NULL, 0, &at, &v->ty);
  }
  /* dyn_slice X, i (X from before the loop: a layer's weight w[l]) is the
   * same slice at the backward index, not a tape of X's rows */
  const Inst *d = v->def;
  if (c->depth == 1 && d && d->op == OP_DYN_SLICE && d->block == c->fin->body && d->args[1] == c->fin->body->args[0] &&
      !pm_has(c->fwd, d->args[0])) {
    c->tb.note = "recomputed";
    Attr at = ir_attr(d);
    Value *args[2] = {d->args[0], c->ri};
    Value *nv = ir_build(&c->tb, OP_DYN_SLICE, args, 2, &at, &v->ty);
    nv->name = v->name;
    saved_push(c, &(SavedValue){.value = v, .pos = d->pos, .depth = c->depth, .recomputed = true,
                                .avoided = tape_size(c, v)});
    return nv;
  }
  SavedValue back = {0};
  Value *nv;
  if (c->depth == 1 && (nv = read_back(ad, &c->tb, c->fin, v, c->ri, &back)) != NULL) {
    back.value = v;
    back.pos = v->def ? v->def->pos : c->fin->pos;
    back.avoided = tape_size(c, v);
    back.depth = c->depth;
    saved_push(c, &back);
    nv->name = v->name;
    return nv;
  }
  if (remat && v->def && v->def->block == c->fin->body) return NULL;
  return taped(c, v);
}

/* v recomputed in the backward body (a checkpointed loop): its defining
 * instruction copied there, after what it reads, each operand itself kept
 * or recomputed. An explicit stack: a body's chain of values can be long. */
static Value *recompute(TapeCtx *c, Value *v) {
  Arena *a = c->ad->tmp;
  PtrVec stack = {0};
  vec_push(a, &stack, v);
  while (stack.n) {
    Value *x = stack.v[stack.n - 1];
    if (pm_has(&c->map, x)) {
      stack.n--;
      continue;
    }
    Inst *d = x->def;
    PtrVec fv = {0};
    ir_free_values(a, d, &fv);
    bool ready = true;
    for (int i = 0; i < fv.n; i++) {
      Value *u = fv.v[i];
      if (pm_has(&c->map, u)) continue;
      if (!pm_has(c->fwd, u)) {
        pm_put(&c->map, u, u); /* defined outside the loop: read as it is */
        continue;
      }
      Value *k = kept(c, u, true);
      if (k) {
        pm_put(&c->map, u, k);
        continue;
      }
      vec_push(a, &stack, u);
      ready = false;
    }
    if (!ready) continue;
    ir_clone_inst(&c->tb, d, &c->map);
    Inst *n = c->tb.before ? c->tb.before->prev : c->tb.block->last;
    n->note = "recomputed (checkpointed loop)";
    if (d->op == OP_FOR) /* a nested loop's tapes are now the copy's, filled in the backward body */
      for (int i = 0; i < c->ad->saved.n; i++) {
        SavedValue *sv = c->ad->saved.v[i];
        Value *t = sv->tape ? pm_get(&c->map, sv->tape) : NULL;
        if (t && sv->tape->def == d) sv->tape = t;
      }
    for (int r = 0; r < d->nres; r++) pm_put(&c->recomputed, d->res[r], (void *)1);
    stack.n--;
  }
  return pm_get(&c->map, v);
}

/* Uses of forward-body values in the backward body become tape reads, rows
 * read back, or, in a checkpointed loop, recomputed values. */
static void make_tapes(Ad *ad, Inst *fin, Inst *rin, const PtrMap *fwd, int depth) {
  Block *rb = rin->body;
  Value *ri = rb->args[0];
  replace_in_block(rb, fin->body->args[0], ri);
  /* find referenced forward values, in order */
  PtrVec refs = {0};
  PtrMap seen;
  pm_init(&seen, ad->tmp);
  PtrVec stack = {0};
  vec_push(ad->tmp, &stack, rb);
  while (stack.n) {
    Block *b = stack.v[--stack.n];
    for (Inst *in = b->first; in; in = in->next) {
      for (int i = 0; i < in->nargs; i++) {
        Value *v = in->args[i];
        if (pm_has(fwd, v) && !pm_has(&seen, v)) {
          pm_put(&seen, v, (void *)1);
          vec_push(ad->tmp, &refs, v);
        }
      }
      if (in->body) vec_push(ad->tmp, &stack, in->body);
    }
  }
  if (!refs.n) return;
  TapeCtx c = {.ad = ad, .fin = fin, .fwd = fwd, .depth = depth, .ri = ri,
               .tb = {.a = ad->a, .block = rb, .before = rb->first, .pos = rin->pos, .note = "tape read"}};
  pm_init(&c.map, ad->tmp);
  pm_init(&c.recomputed, ad->tmp);
  pm_init(&c.tapes, ad->tmp);
  pm_put(&c.map, fin->body->args[0], ri);
  bool remat = fin->attr.i[4] != 0;
  for (int k = 0; k < refs.n; k++) {
    Value *v = refs.v[k];
    Value *nv = pm_get(&c.map, v);
    if (!nv) {
      nv = kept(&c, v, remat);
      if (nv) pm_put(&c.map, v, nv);
      else nv = recompute(&c, v);
    }
    if (pm_has(&c.recomputed, v))
      saved_push(&c, &(SavedValue){.value = v, .pos = v->def->pos, .depth = depth, .recomputed = true,
                                   .avoided = tape_size(&c, v)});
    replace_in_block(rb, v, nv);
  }
}

static int loop_depth(const Inst *in) {
  int d = 0;
  for (const Block *b = in->block; b && b->parent; b = b->parent->block) d++;
  return d;
}

void ad_vjp_for(Ad *ad, Inst *fin, Value *unused) {
  (void)unused;
  Block *fb = fin->body;
  Inst *fy = fb->last;
  int nc = fin->nargs;
  int64_t lo = fin->attr.i[0], hi = fin->attr.i[1];
  /* anything to do? */
  bool any = false;
  for (int k = 0; k < fin->nres; k++)
    if (ad_active(ad, fin->res[k]) && pm_get(&ad->scope->adj, fin->res[k])) any = true;
  if (!any) return;
  AdScope *outer = ad->scope;
  AdScope *s = NEW(ad->tmp, AdScope);
  pm_init(&s->adj, ad->tmp);
  pm_init(&s->fwd, ad->tmp);
  s->parent = outer;
  s->loop = fin;
  collect_fwd(fb, &s->fwd);
  PtrVec ov = {0};
  PtrMap seen;
  pm_init(&seen, ad->tmp);
  collect_outer(ad, fb, &s->fwd, &seen, &ov);
  /* the backward loop */
  int *carried = NEW_ARRAY(ad->tmp, int, nc + 1), na = 0;
  for (int k = 0; k < nc; k++)
    if (ad_active(ad, fb->args[k + 1])) carried[na++] = k;
  int nr = na + ov.n;
  Inst *rin = NEW(ad->a, Inst);
  rin->op = OP_FOR;
  rin->pos = fin->pos;
  rin->note = "backward loop";
  ir_set_loop_attr(ad->a, rin, lo, hi, nr, !fin->attr.i[3], false); /* the backward loop runs the other way */
  rin->nargs = nr;
  rin->args = NEW_ARRAY(ad->a, Value *, nr + 1);
  rin->body = ir_block_new(ad->a, rin);
  Block *rb = rin->body;
  ir_block_add_arg(ad->a, rb, type_scalar(TY_I32), fb->args[0]->name);
  for (int j = 0; j < na; j++) {
    int k = carried[j];
    rin->args[j] = adj_or_zero(ad, fin->res[k]);
    ir_block_add_arg(ad->a, rb, fin->res[k]->ty, grad_name(ad, fb->args[k + 1]))->primal = fb->args[k + 1];
  }
  for (int j = 0; j < ov.n; j++) {
    Value *o = ov.v[j];
    rin->args[na + j] = adj_or_zero(ad, o);
    Value *acc = ir_block_add_arg(ad->a, rb, o->ty, grad_name(ad, o));
    acc->primal = o;
    pm_put(&s->adj, o, acc);
  }
  /* build the body in the new scope */
  Builder saved_b = ad->b;
  ad->scope = s;
  ad->b.block = rb;
  ad->b.before = NULL;
  for (int j = 0; j < na; j++) ad_add(ad, fy->args[carried[j]], rb->args[j + 1]);
  for (int k = nc; k < fin->nres; k++) {
    Value *gs = pm_get(&outer->adj, fin->res[k]);
    if (!gs || !ad_active(ad, fy->args[k])) continue;
    Value *row = rb->args[0];
    if (lo) row = ir_binary(&ad->b, OP_SUB, row, ir_scalar(&ad->b, TY_I32, (double)lo));
    Attr at = {.ni = 1, .i = {0}};
    Value *args[2] = {gs, row};
    ad_add(ad, fy->args[k], ir_build(&ad->b, OP_DYN_SLICE, args, 2, &at, NULL));
  }
  reverse_block(ad, fy->prev);
  ad->b.pos = fin->pos;
  ad->b.note = "backward loop";
  Value **ys = NEW_ARRAY(ad->a, Value *, nr + 1);
  for (int j = 0; j < na; j++) ys[j] = adj_or_zero(ad, fb->args[carried[j] + 1]);
  for (int j = 0; j < ov.n; j++) ys[na + j] = pm_get(&s->adj, ov.v[j]);
  ir_build(&ad->b, OP_YIELD, ys, nr, NULL, NULL);
  ad->scope = outer;
  ad->b = saved_b;
  /* results, then the loop goes where the adjoint code is being written */
  rin->nres = nr;
  rin->res = NEW_ARRAY(ad->a, Value *, nr + 1);
  for (int j = 0; j < nr; j++) {
    Value *r = NEW(ad->a, Value);
    r->ty = rin->args[j]->ty;
    r->def = rin;
    r->res = j;
    rin->res[j] = r;
  }
  if (ad->b.before)
    ir_insert_before(ad->b.before, rin);
  else
    ir_append(ad->b.block, rin);
  /* loops nested in this body have stacked tapes of their own by now:
   * those new results are values of this body too, taped again below */
  collect_fwd(fb, &s->fwd);
  make_tapes(ad, fin, rin, &s->fwd, loop_depth(fin) + 1);
  for (int j = 0; j < na; j++) ad_add(ad, fin->args[carried[j]], rin->res[j]);
  for (int j = 0; j < ov.n; j++) set_adj(ad, ov.v[j], rin->res[na + j]);
}

/* ---- the whole function ----------------------------------------------------- */

/* Forward values kept for the straight-line part of the backward code. */
static void record_saved(Ad *ad, Inst *fwd_last, Inst *rev_first) {
  PtrMap fwd;
  pm_init(&fwd, ad->tmp);
  for (Inst *in = ad->f->body->first; in; in = in->next) {
    for (int r = 0; r < in->nres; r++) pm_put(&fwd, in->res[r], in);
    if (in == fwd_last) break;
  }
  PtrMap seen;
  pm_init(&seen, ad->tmp);
  PtrVec stack = {0};
  for (Inst *in = rev_first; in; in = in->next) {
    vec_push(ad->tmp, &stack, in);
    while (stack.n) {
      Inst *x = stack.v[--stack.n];
      for (int i = 0; i < x->nargs; i++) {
        Value *v = x->args[i];
        Inst *d = pm_get(&fwd, v);
        if (!d || pm_has(&seen, v) || d->op == OP_CONST) continue;
        if (d->op == OP_FOR && v->res >= d->nargs) continue; /* a tape: counted with the loop */
        pm_put(&seen, v, (void *)1);
        SavedValue *sv = NEW(ad->tmp, SavedValue);
        sv->value = v;
        sv->pos = d->pos;
        sv->bytes = type_bytes(&v->ty);
        vec_push(ad->tmp, &ad->saved, sv);
      }
      if (x->body)
        for (Inst *y = x->body->first; y; y = y->next) vec_push(ad->tmp, &stack, y);
    }
  }
}

bool grad_depends(Module *m, Func *f, const bool *wrt_input, Pos *blocked_at, const char **blocked_what) {
  Ad ad = {.a = m->a, .tmp = m->a, .m = m}; /* builds nothing: its maps are small */
  pm_init(&ad.act, m->a);
  *blocked_what = NULL;
  for (int i = 0; i < f->body->nargs; i++) {
    Role r = f->arg_role[i];
    bool wrt = r.kind == ARG_PARAM || (r.kind == ARG_INPUT && wrt_input && wrt_input[r.index]);
    if (wrt && dtype_is_float(f->body->args[i]->ty.dtype)) mark(&ad, f->body->args[i], ACT_VARIED);
  }
  ad_mark_varied(&ad, f->body);
  Value *out = f->body->last->args[0];
  if (act(&ad, out) & ACT_VARIED) return true;
  mark(&ad, out, ACT_USEFUL);
  useful_block(&ad, f->body);
  for (int i = 0; i < ad.blocked.n; i++) {
    Inst *in = ad.blocked.v[i];
    if (!(act(&ad, in->res[0]) & ACT_USEFUL)) continue;
    *blocked_at = in->pos;
    *blocked_what = in->op == OP_ARGMAX ? "argmax" : "a conversion to an integer";
    break;
  }
  return false;
}

/* Apply a checkpointing plan to the forward code copied into g (its
 * top-level loops in order); true when a loop was split into segments. */
static bool apply_plan(Arena *a, Func *g, const LoopCheckpoint *plan, int nplan, Pos *pos) {
  int nl = remat_top_loops(g, NULL, 0);
  Inst **loops = NEW_ARRAY(a, Inst *, nl + 1);
  remat_top_loops(g, loops, nl);
  bool split = false;
  for (int i = 0; i < nplan; i++) {
    const LoopCheckpoint *c = &plan[i];
    if (c->loop < 0 || c->loop >= nl) continue;
    Inst *l = loops[c->loop];
    pos[i] = l->pos;
    if (!c->segment) l->attr.i[4] = 1;
    else if (remat_segment(a, l, c->segment, c->inner)) split = true;
  }
  return split;
}

/* Drop the tapes dce removed from the report. */
static void live_values(const Block *b, PtrMap *out) {
  for (const Inst *in = b->first; in; in = in->next) {
    for (int r = 0; r < in->nres; r++) pm_put(out, in->res[r], (void *)1);
    if (in->body) live_values(in->body, out);
  }
}

GradResult grad_func(Module *m, Func *f, const bool *wrt_input, Diag *d) {
  return grad_func_with(m, f, wrt_input, NULL, 0, d);
}

static GradResult grad_build(Module *m, Func *f, const bool *wrt_input, const LoopCheckpoint *plan, int nplan,
                             Diag *d, Arena *tmp) {
  GradResult res = {0};
  Arena *a = m->a;
  Ad ad = {.a = a, .tmp = tmp, .m = m, .d = d};
  pm_init(&ad.act, tmp);
  Inst *ret = f->body->last;
  if (!ret || ret->op != OP_RETURN || f->nret < 1 || f->ret[0].rank != 0 || !dtype_is_float(f->ret[0].dtype)) {
    diag_error(d, (Loc){f->pos.line, f->pos.col, f->pos.line, f->pos.col},
               "cannot differentiate '%s': it must return a floating-point scalar", f->name);
    return res;
  }
  Func *g = ir_func_new(m, arena_printf(a, "%s.grad", f->name));
  g->pos = f->pos;
  g->is_grad = true;
  ad.f = g;
  PtrMap map;
  pm_init(&map, tmp);
  for (int i = 0; i < f->body->nargs; i++) {
    Value *v = f->body->args[i];
    ir_func_add_arg(a, g, v->ty, v->name, f->arg_role[i]);
    pm_put(&map, v, g->body->args[i]);
  }
  Builder b = {.a = a, .block = g->body};
  for (Inst *in = f->body->first; in != ret; in = in->next) ir_clone_inst(&b, in, &map);
  Inst *fwd_last = g->body->last;
  Pos *plan_pos = NEW_ARRAY(a, Pos, nplan + 1);
  bool split = nplan && apply_plan(a, g, plan, nplan, plan_pos);
  fwd_last = g->body->last;
  Value *loss = pm_get(&map, ret->args[0]);
  /* activity */
  for (int i = 0; i < g->body->nargs; i++) {
    Role r = g->arg_role[i];
    bool wrt = r.kind == ARG_PARAM || (r.kind == ARG_INPUT && wrt_input && wrt_input[r.index]);
    if (wrt && dtype_is_float(g->body->args[i]->ty.dtype)) mark(&ad, g->body->args[i], ACT_VARIED);
  }
  ad_mark_varied(&ad, g->body);
  mark(&ad, loss, ACT_USEFUL);
  useful_block(&ad, g->body);
  /* gradient-blocking conversions on the way to the loss: warn once each */
  PtrMap warned;
  pm_init(&warned, tmp);
  for (int i = 0; i < ad.blocked.n; i++) {
    Inst *in = ad.blocked.v[i];
    if (!(act(&ad, in->res[0]) & ACT_USEFUL) || !in->pos.line) continue;
    void *key = (void *)(intptr_t)(in->pos.line * 10000 + in->pos.col);
    if (pm_has(&warned, key)) continue;
    pm_put(&warned, key, (void *)1);
    Loc l = {in->pos.line, in->pos.col, in->pos.line, in->pos.col};
    diag_warning(d, l, "the gradient of '%s' does not flow through %s here: its result is %s, so what comes before "
                 "it gets no gradient along this path", f->name, in->op == OP_ARGMAX ? "argmax" : "this conversion",
                 dtype_name(in->res[0]->ty.dtype));
  }
  /* the reverse sweep */
  AdScope root = {.parent = NULL};
  pm_init(&root.adj, tmp);
  pm_init(&root.fwd, tmp);
  ad.scope = &root;
  ad.b = (Builder){.a = a, .block = g->body, .pos = ret->pos};
  ad.b.note = "seed: d loss / d loss = 1";
  Value *one = ir_scalar(&ad.b, loss->ty.dtype, 1.0);
  Inst *rev_first = one->def;
  if (ad_active(&ad, loss)) set_adj(&ad, loss, one);
  reverse_block(&ad, fwd_last);
  if (ad.errors) return res;
  /* results: the loss, then the gradients */
  ad.b.pos = ret->pos;
  ad.b.note = NULL;
  PtrVec outs = {0};
  ir_func_add_result(a, g, loss->ty, "loss", (Role){RES_LOSS, 0});
  vec_push(tmp, &outs, loss);
  for (int i = 0; i < g->body->nargs; i++) {
    Role r = g->arg_role[i];
    Value *v = g->body->args[i];
    bool wrt = r.kind == ARG_PARAM || (r.kind == ARG_INPUT && wrt_input && wrt_input[r.index]);
    if (!wrt || !dtype_is_float(v->ty.dtype)) continue;
    Value *gv = pm_get(&root.adj, v);
    if (!gv) {
      ad.b.note = "no dependence: zero gradient";
      gv = ir_const_like(&ad.b, &v->ty, 0.0);
      ad.b.note = NULL;
    }
    ir_func_add_result(a, g, v->ty, arena_printf(a, "%s.grad", v->name ? v->name : "arg"),
                       (Role){r.kind == ARG_PARAM ? RES_GRAD : RES_INPUT_GRAD, r.index});
    vec_push(tmp, &outs, gv);
  }
  ir_build(&ad.b, OP_RETURN, (Value **)outs.v, outs.n, NULL, NULL);
  record_saved(&ad, fwd_last, rev_first);
  res.f = g;
  res.saved = NEW_ARRAY(a, SavedValue, ad.saved.n + 1);
  PtrMap live;
  pm_init(&live, tmp);
  if (split) { /* a segment's recomputed loop takes every carried value: the unused ones die here */
    pass_dce(m, g);
    live_values(g->body, &live);
  }
  for (int i = 0; i < ad.saved.n; i++) {
    SavedValue *sv = ad.saved.v[i];
    if (split && sv->tape && !pm_has(&live, sv->tape)) continue;
    res.saved[res.nsaved++] = *sv;
  }
  if (nplan) {
    LoopCheckpoint *pc = NEW_ARRAY(a, LoopCheckpoint, nplan);
    memcpy(pc, plan, sizeof *pc * (size_t)nplan);
    res.plan = pc;
    res.plan_pos = plan_pos;
    res.nplan = nplan;
  }
  for (int i = 0; i < res.nsaved; i++) {
    if (res.saved[i].tape) res.tape_bytes += res.saved[i].bytes;
    else res.saved_bytes += res.saved[i].bytes;
  }
  return res;
}

GradResult grad_func_with(Module *m, Func *f, const bool *wrt_input, const LoopCheckpoint *plan, int nplan, Diag *d) {
  Arena *tmp = arena_new();
  GradResult res = grad_build(m, f, wrt_input, plan, nplan, d, tmp);
  arena_free(tmp);
  return res;
}

void grad_print_saved(FILE *out, const Module *m, const GradResult *g) {
  fprintf(out, "values saved by @%s for the backward pass:\n", g->f ? g->f->name : "?");
  if (g->max_tape_bytes)
    fprintf(out, "  loop tapes limited to %zu bytes (--max-tape-bytes or max_tape_bytes): %zu with only the loops the source marks\n",
            g->max_tape_bytes, g->plain_tape_bytes);
  for (int i = 0; i < g->nplan; i++) {
    const LoopCheckpoint *c = &g->plan[i];
    fprintf(out, "  checkpointed: the loop at %s:%d:%d", m->file ? m->file : "?", g->plan_pos[i].line, g->plan_pos[i].col);
    if (c->segment)
      fprintf(out, ", in segments of %lld iterations (the carried values kept at each segment's start)%s\n",
              (long long)c->segment, c->inner ? ", each iteration recomputed" : "");
    else
      fprintf(out, " (the carried values kept at each iteration)\n");
  }
  fprintf(out, "  %-22s %-22s %12s  %s\n", "value", "shape", "bytes", "from");
  size_t avoided = 0, recomputed = 0;
  for (int i = 0; i < g->nsaved; i++) {
    const SavedValue *s = &g->saved[i];
    if (s->recomputed) {
      char nm[64];
      snprintf(nm, sizeof nm, "recompute %s", s->value->name ? s->value->name : "(temp)");
      fprintf(out, "  %-22s %-22s %12d  %s:%d:%d  (no tape: computed again by the backward loop; %zu bytes not taped)\n",
              nm, tstr(&s->value->ty), 0, m->file ? m->file : "?", s->pos.line, s->pos.col, s->avoided);
      recomputed += s->avoided;
      continue;
    }
    if (s->source) {
      char nm[64];
      snprintf(nm, sizeof nm, "read %s", s->value->name ? s->value->name : "(temp)");
      fprintf(out, "  %-22s %-22s %12d  %s:%d:%d  (no tape: row i%s of the loop's %%%s; %zu bytes not taped)\n", nm,
              tstr(&s->value->ty), 0, m->file ? m->file : "?", s->pos.line, s->pos.col, s->previous ? "-1" : "",
              s->source->name ? s->source->name : "result", s->avoided);
      avoided += s->avoided;
      continue;
    }
    const Type *t = s->tape ? &s->tape->ty : &s->value->ty;
    char nm[64];
    snprintf(nm, sizeof nm, "%s%s", s->tape ? "tape " : "", s->value->name ? s->value->name : "(temp)");
    fprintf(out, "  %-22s %-22s %12zu  %s:%d:%d%s\n", nm, tstr(t), s->bytes, m->file ? m->file : "?", s->pos.line,
            s->pos.col, s->tape ? "  (one row per loop iteration)" : "");
  }
  fprintf(out, "  total: %zu bytes kept from straight-line code, %zu bytes of loop tapes (peak tape)\n",
          g->saved_bytes, g->tape_bytes);
  if (avoided)
    fprintf(out, "  read back from the loops' own tensors instead of taped: %zu bytes\n", avoided);
  if (recomputed)
    fprintf(out, "  recomputed by the backward loops instead of taped: %zu bytes\n", recomputed);
  if (avoided || recomputed)
    fprintf(out, "  loop tapes: %zu bytes, %zu without read-back and recomputation\n", g->tape_bytes,
            g->tape_bytes + avoided + recomputed);
}
