/* loops.c — loop rewrites that the AD's backward loops need most (and
 * that hold for any loop); see loops.h.
 *
 * Notation: a loop `for %i = lo to hi carry(%a = %a0, ...)` runs T = hi-lo
 * iterations; %a is a carried slot's body argument, %a0 its initial value;
 * "row r of a stacked output" is iteration lo+r's value. Each rule is
 * written above its code, and each keeps the values computed the same up
 * to the order of floating-point sums. */
#include "loops.h"

#include <string.h>

#include "ptrmap.h"

/* ---- helpers ----------------------------------------------------------------- */

/* Add v (a value of loop's body) as a new stacked output: the loop gets a
 * result of type [T, v...] whose row r is v at iteration lo+r. */
Value *loop_add_stacked(Arena *a, Inst *loop, Value *v, const char *name) {
  Inst *y = loop->body->last;
  Value **na = NEW_ARRAY(a, Value *, y->nargs + 2);
  memcpy(na, y->args, sizeof(Value *) * (size_t)y->nargs);
  na[y->nargs++] = v;
  y->args = na;
  Value **nr = NEW_ARRAY(a, Value *, loop->nres + 2);
  memcpy(nr, loop->res, sizeof(Value *) * (size_t)loop->nres);
  Value *t = NEW(a, Value);
  t->ty = v->ty;
  memmove(t->ty.dim + 1, t->ty.dim, sizeof(int64_t) * (size_t)t->ty.rank);
  t->ty.dyn <<= 1;
  t->ty.dim[0] = loop->attr.i[1] - loop->attr.i[0];
  t->ty.rank++;
  t->def = loop;
  t->res = loop->nres;
  t->name = name;
  nr[loop->nres++] = t;
  loop->res = nr;
  return t;
}

/* Is v defined outside `body` (in an enclosing block)? */
static bool outside(const Value *v, const Block *body) {
  const Block *b = v->def ? v->def->block : v->block;
  for (const Block *p = b; p; p = p->parent ? p->parent->block : NULL)
    if (p == body) return false;
  return true;
}

/* The uses of v in b and nested bodies: up to `cap` instructions into
 * out (in program order); returns the count (more than cap: cap + 1).
 * *nested is set when a use sits in a nested body. */
static int uses_in(Block *b, const Value *v, Inst **out, int cap, bool *nested, bool top) {
  int n = 0;
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nargs; i++)
      if (in->args[i] == v) {
        if (n < cap) out[n] = in;
        n++;
        if (!top) *nested = true;
        break;
      }
    if (in->body) {
      int k = uses_in(in->body, v, n < cap ? out + n : out, n < cap ? cap - n : 0, nested, false);
      n += k;
    }
  }
  return n > cap ? cap + 1 : n;
}

/* Is `row` the loop's row index i - lo (i itself when lo is 0)? */
static bool is_row_index(const Inst *loop, const Value *row) {
  const Value *i = loop->body->args[0];
  int64_t lo = loop->attr.i[0];
  if (lo == 0) return row == i;
  double c;
  return row->def && row->def->op == OP_SUB && row->def->args[0] == i && ir_is_const(row->def->args[1], &c) &&
         c == (double)lo;
}

/* Do the positions lo..hi-1 all lie inside an axis of n (no clamping)? */
static bool covers_rows(const Inst *loop, int64_t n) { return loop->attr.i[0] >= 0 && loop->attr.i[1] <= n; }

/* ---- rule 1: rows a carried tensor has not yet written ------------------------------ */

/* A carried %a updated only at row i of one axis, and read only at row i:
 *
 *   %r = dyn_slice %a, %i {axis}  ...  %a.next = dyn_update(_add) %a, %v, %i {axis};  yield %a.next
 *     => %r = dyn_slice %a0, %i {axis}
 *
 * Iteration i sees row i as the initial value left it: earlier iterations
 * wrote other rows (positions lo..hi-1 are distinct and inside the axis).
 * When nothing reads the loop's final value, dce then drops the slot: the
 * backward loop of `hs[:, t] = h` stops carrying (and zeroing) hs.grad. */
static bool row_local_carry(Inst *loop, int k) {
  Block *body = loop->body;
  Value *a = body->args[k + 1], *i = body->args[0];
  Inst *u[64];
  bool nested = false;
  int n = uses_in(body, a, u, 64, &nested, true);
  if (n > 64 || nested || n < 2) return false;
  Inst *upd = NULL;
  int64_t axis = -1;
  int nslice = 0;
  for (int j = 0; j < n; j++) {
    Inst *x = u[j];
    bool update = x->op == OP_DYN_UPDATE || x->op == OP_DYN_UPDATE_ADD;
    if (x->op == OP_DYN_SLICE && x->args[0] == a && x->args[1] == i) nslice++;
    else if (update && !upd && x->args[0] == a && x->args[1] != a && x->args[2] == i) upd = x;
    else return false;
    if (axis >= 0 && x->attr.i[0] != axis) return false;
    axis = x->attr.i[0];
  }
  if (!upd || !nslice || !covers_rows(loop, a->ty.dim[axis])) return false;
  Inst *y = body->last;
  if (y->args[k] != upd->res[0]) return false;
  Inst *uu[2];
  if (uses_in(body, upd->res[0], uu, 1, &nested, true) != 1) return false;
  Value *a0 = loop->args[k];
  for (int j = 0; j < n; j++)
    if (u[j]->op == OP_DYN_SLICE) u[j]->args[0] = a0;
  return true;
}

/* ---- rule 2: a stacked row read is the tensor it reads ---------------------------------- */

/* The tensor a loop would stack for v, when v is row i - lo of a [T, ...]
 * tensor from outside the loop (the backward loop reads its tapes so):
 *
 *   %v = dyn_slice %X, (i - lo) {axis=0};  stack %v  => %X
 *
 * NULL otherwise. */
static Value *row_read_source(const Inst *loop, const Value *v) {
  const Inst *d = v->def;
  int64_t T = loop->attr.i[1] - loop->attr.i[0];
  if (!d || d->op != OP_DYN_SLICE || d->attr.i[0] != 0 || d->block != loop->body) return NULL;
  Value *X = d->args[0];
  if (!outside(X, loop->body) || X->ty.dim[0] != T || !is_row_index(loop, d->args[1])) return NULL;
  return X;
}

static bool stacked_row_reads(Func *f, Inst *loop) {
  bool changed = false;
  Inst *y = loop->body->last;
  for (int k = loop->nargs; k < loop->nres; k++) {
    Value *X = row_read_source(loop, y->args[k]);
    if (!X || loop->res[k]->nuse == 0 || !type_eq(&X->ty, &loop->res[k]->ty)) continue;
    ir_replace_uses(f->body, loop->res[k], X);
    loop->res[k]->nuse = 0;
    changed = true;
  }
  return changed;
}

/* ---- rule 3: sums of products become one product after the loop ------------------------- */

/* The [T, ...] stack of v, a value of the loop's body: a tensor the loop
 * reads row by row (rule 2), a stacked output it has already, or a new one. */
static Value *stack_of(Arena *a, Inst *loop, Value *v) {
  Value *X = row_read_source(loop, v);
  if (X) return X;
  Inst *y = loop->body->last;
  for (int k = loop->nargs; k < y->nargs; k++)
    if (y->args[k] == v) return loop->res[k];
  return loop_add_stacked(a, loop, v, v->name ? arena_printf(a, "%s.stack", v->name) : NULL);
}

/* S = stack of v ([T, v0, ..., vn-1]) with T merged into axis kv of v,
 * t-major: [v0, ..., T*v_kv, ..., vn-1] (a transpose first unless kv = 0).
 * When v_kv is the run-time axis (a batch of n <= bound rows: the weight
 * gradient's sum over rows), S's rows past n are padding, and T cannot
 * merge with it: S is padded to the bound with zeros first (a static
 * axis), so the product runs over T*bound rows, those of the padding
 * adding exact zeros: at n = bound the very product of a static batch. */
static Value *merge_into_axis(Builder *b, Value *S, int kv) {
  int r = S->ty.rank;
  if (axis_dyn(&S->ty, kv + 1)) {
    Attr at = {.ni = 2 * r};
    for (int j = 0; j < r; j++) at.i[r + j] = 1;
    Type st = S->ty;
    type_set_static(&st, kv + 1, S->ty.dim[kv + 1]);
    S = ir_build(b, OP_PAD, &S, 1, &at, &st);
  }
  int64_t perm[MAX_RANK];
  int p = 0;
  for (int j = 0; j < kv; j++) perm[p++] = j + 1;
  perm[p++] = 0;
  for (int j = kv; j < r - 1; j++) perm[p++] = j + 1;
  Value *t = ir_transpose(b, S, perm);
  Type to = type_scalar(S->ty.dtype); /* t's axes with kv, kv + 1 (T, v_kv) as one: static after the pad */
  for (int j = 0; j < r; j++)
    if (j == kv + 1) to.dim[kv] *= t->ty.dim[j];
    else type_push_axis(&to, &t->ty, j);
  return ir_reshape(b, t, &to);
}

/* Can v be stacked: defined at the top of the body, or one of its arguments? */
static bool per_iteration(const Value *v, const Block *body) {
  return v->def ? v->def->block == body : v->block == body;
}

/* A carried accumulator of products (the gradient of a weight used at
 * every step):
 *
 *   carry(%a = %a0) { ... %p = ...; %q = ...; %t = matmul %p, %q; %s = add %a, %t; yield %s }
 *     => stack %p and %q (or read them from the tensors they are rows of), and after the loop
 *        %r = add %a0, (matmul P, Q)   where P, Q merge T into the contracted axis
 *
 * sum over t of op(p_t) op(q_t) is one product whose contracted axis runs
 * over (t, k) pairs: K*T deep instead of T products K deep (K = 32 for a
 * batch of 32: the per-step products run far from the machine's speed). A
 * loop-invariant operand factors out: p (sum over t of q_t). */
static bool hoist_product_sum(Module *m, Func *f, Inst *loop, int k, Inst *after) {
  Block *body = loop->body;
  Value *a = body->args[k + 1];
  Inst *u[2];
  bool nested = false;
  if (uses_in(body, a, u, 1, &nested, true) != 1 || nested) return false;
  Inst *s = u[0];
  if (s->op != OP_ADD || s->block != body || body->last->args[k] != s->res[0]) return false;
  if (uses_in(body, s->res[0], u, 1, &nested, true) != 1) return false;
  Value *t = s->args[0] == a ? s->args[1] : s->args[0];
  if (t == a || !t->def || t->def->op != OP_MATMUL || t->def->block != body || !type_eq(&t->ty, &a->ty)) return false;
  if (uses_in(body, t, u, 1, &nested, true) != 1) return false;
  Inst *mm = t->def;
  Value *p = mm->args[0], *q = mm->args[1];
  bool pin = outside(p, body), qin = outside(q, body);
  if ((pin && qin) || (!pin && !per_iteration(p, body)) || (!qin && !per_iteration(q, body))) return false;
  int ta = (int)mm->attr.i[0], tb = (int)mm->attr.i[1], r = t->ty.rank;
  Builder b = {.a = m->a, .block = loop->block, .before = after, .pos = mm->pos,
               .note = "the loop's sum of products, as one product after it"};
  Value *A, *B;
  int64_t zero = 0;
  if (pin) {
    A = p;
    B = ir_reduce_sum(&b, stack_of(m->a, loop, q), &zero, 1);
  } else if (qin) {
    A = ir_reduce_sum(&b, stack_of(m->a, loop, p), &zero, 1);
    B = q;
  } else {
    A = merge_into_axis(&b, stack_of(m->a, loop, p), ta ? r - 2 : r - 1);
    B = merge_into_axis(&b, stack_of(m->a, loop, q), tb ? r - 1 : r - 2);
  }
  Value *args[2] = {A, B};
  Attr at = ir_attr(mm);
  Value *total = ir_build(&b, OP_MATMUL, args, 2, &at, NULL);
  Value *res = loop->res[k];
  Value *sum = ir_binary(&b, OP_ADD, loop->args[k], total);
  sum->name = res->name;
  ir_replace_uses(f->body, res, sum);
  /* the slot is now dead: %a feeds only %s, which feeds only the yield (dce) */
  return true;
}

/* ---- rule 4: rows added once each into zeros are the stack of the rows ----------------- */

/* A carried %a that starts as zeros and is only added to, once per
 * iteration, at the iteration's own row of one axis whose every row the
 * loop visits (row i - lo of an axis of T):
 *
 *   carry(%a = zeros) { ... %a.next = dyn_update_add %a, %v, (i - lo) {axis};  yield %a.next }
 *     => stack %v ([T, ...]) and after the loop move its axis 0 to `axis`
 *
 * Row r of the result is 0 + v at iteration lo + r, exactly the rows of
 * the stack: the loop stops reading, adding and writing back a strided row
 * of %a at every step (the backward loop's input gradient xs.grad of a
 * recurrent network, [B, T, 4H], which the loop also stacks as the gates'
 * gradient for the weight product of rule 3), and nothing is zeroed first.
 * The transpose after the loop stays (folding it into a reduce_sum or
 * scatter_add reader would reorder their sums: checkpointed loops, where
 * the rule does not apply inside segments, would then no longer give the
 * taped gradient's bits). */
static bool rows_added_once(Module *m, Func *f, Inst *loop, int k, Inst *after) {
  Block *body = loop->body;
  Value *a = body->args[k + 1], *a0 = loop->args[k];
  double zero;
  if (!ir_is_const(a0, &zero) || zero != 0.0) return false;
  Inst *u[2];
  bool nested = false;
  if (uses_in(body, a, u, 1, &nested, true) != 1 || nested) return false;
  Inst *upd = u[0];
  if (upd->op != OP_DYN_UPDATE_ADD || upd->block != body || upd->args[0] != a || upd->args[1] == a) return false;
  int axis = (int)upd->attr.i[0];
  int64_t T = loop->attr.i[1] - loop->attr.i[0];
  if (!is_row_index(loop, upd->args[2]) || a->ty.dim[axis] != T || axis_dyn(&a->ty, axis)) return false;
  if (body->last->args[k] != upd->res[0] || uses_in(body, upd->res[0], u, 1, &nested, true) != 1) return false;
  Value *v = upd->args[1];
  if (!per_iteration(v, body)) return false;
  Builder b = {.a = m->a, .block = loop->block, .before = after, .pos = upd->pos,
               .note = "rows added once each: the stack of the rows"};
  Value *S = stack_of(m->a, loop, v);
  int64_t perm[MAX_RANK];
  int r = S->ty.rank, q = 0;
  for (int j = 1; j <= axis; j++) perm[q++] = j;
  perm[q++] = 0;
  for (int j = axis + 1; j < r; j++) perm[q++] = j;
  Value *res = loop->res[k], *x = ir_transpose(&b, S, perm);
  if (!type_eq(&x->ty, &res->ty)) return false; /* cannot happen: drop_axis's type; leaves the stack to dce */
  if (!x->name) x->name = res->name;
  ir_replace_uses(f->body, res, x);
  res->nuse = 0;
  return true;
}

/* ---- the pass ------------------------------------------------------------------------------ */

static bool loops_block(Module *m, Func *f, Block *b) {
  bool changed = false;
  for (Inst *in = b->first; in; in = in->next) {
    if (in->op != OP_FOR) continue;
    changed |= loops_block(m, f, in->body);
    Inst *after = in->next; /* what the loop's hoisted code goes before, in slot order */
    for (int k = 0; k < in->nargs; k++) {
      if (row_local_carry(in, k)) changed = true;
      else if (hoist_product_sum(m, f, in, k, after)) changed = true;
      else if (rows_added_once(m, f, in, k, after)) changed = true;
    }
    changed |= stacked_row_reads(f, in);
  }
  return changed;
}

bool pass_loops(Module *m, Func *f) {
  ir_count_uses(f);
  return loops_block(m, f, f->body);
}
