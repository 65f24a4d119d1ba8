/* plan.c — fusion and the static memory plan; see plan.h.
 *
 * Positions: instructions are numbered in one depth-first walk (a loop's
 * body follows the loop instruction), so a live interval is a range of
 * positions. A use inside a loop of a value defined outside it counts at
 * the loop's end, since every iteration reads it. */
#include "plan.h"

#include "fitset.h"

#include "rt_kernels.h"

#include <stdlib.h>
#include <string.h>

#define ALIGN 64

typedef struct Info {
  int pos;          /* position of the defining instruction (or block start) */
  int last;         /* last position its storage must survive to */
  Inst *user;       /* the single consumer when nuse == 1 (else the last) */
  PtrVec users;     /* every consumer, once per use: a view read in place by several (decide_fusion) */
  bool must;        /* must be materialized */
  bool fused;
  int tree;         /* instructions in the fused tree rooted here (itself and its fused operands') */
  int made;         /* a value the plan made (tape, prepacked weight): 1, 2, ... in the order made */
} Info;

/* Values and instructions are numbered once, in program order (number):
 * v->id indexes plan->val, plan->vp and `info`, in->id `inst` and `iend`. The ids are
 * scratch fields other passes reuse, so a lookup checks the back pointer:
 * a value the walk did not see (one the plan made) is numbered then. */
typedef struct P {
  Arena *a;         /* the Plan's (what code generation reads) */
  Arena *tmp;       /* what only planning reads (Info, positions, maps): freed when plan_func returns */
  Func *f;
  Plan *plan;
  Info **info;      /* value number -> its Info (plan->val: -> the value) */
  int capval;       /* of info, plan->val and plan->vp */
  const Inst **inst; /* position -> the instruction there */
  int *iend;        /* position of a `for` -> position of its last body instruction */
  int capinst;
  int nfv;          /* values of the function (numbered by number; the rest the plan made) */
  PtrMap argread;   /* argument Value* -> its last read (arg_reads, for place_results) */
  PtrMap role_arg;  /* role_key(kind, index) -> the (last) argument of that role (place_results) */
  PtrMap group_end; /* group member Inst* -> the group's last member (find_groups) */
  int npos;
  int nmade;        /* values the plan made (Info.made) */
} P;

/* v's number, numbering it when it has none. */
static int value_no(P *p, const Value *v) {
  Plan *pl = p->plan;
  int k = v->id;
  if (k >= 0 && k < pl->nval && pl->val[k] == v) return k;
  if (pl->nval == p->capval) {
    int cap = p->capval ? 2 * p->capval : 256;
    const Value **nv = NEW_ARRAY(p->a, const Value *, cap);
    ValPlan **nvp = NEW_ARRAY(p->a, ValPlan *, cap);
    Info **ni = NEW_ARRAY(p->tmp, Info *, cap);
    if (pl->nval) {
      memcpy(nv, pl->val, sizeof *nv * (size_t)pl->nval);
      memcpy(nvp, pl->vp, sizeof *nvp * (size_t)pl->nval);
      memcpy(ni, p->info, sizeof *ni * (size_t)pl->nval);
    }
    pl->val = nv;
    pl->vp = nvp;
    p->info = ni;
    p->capval = cap;
  }
  k = pl->nval++;
  pl->val[k] = v;
  Info *i = NEW(p->tmp, Info);
  i->pos = -1;
  i->last = -1;
  p->info[k] = i;
  ((Value *)v)->id = k;
  return k;
}

/* value_no first, in a statement of its own: it may grow p->info, and in
 * p->info[value_no(p, v)] the compiler may load the old array before the
 * call (unsequenced), then read a slot past its end (a plan making more
 * than 16 values, prepacked weights, wrote into the IR's memory) */
static Info *info(P *p, const Value *v) {
  int k = value_no(p, v);
  return p->info[k];
}

static int ipos(P *p, const Inst *in) {
  int k = in->id;
  return k >= 0 && k < p->npos && p->inst[k] == in ? k : -1;
}

static ValPlan *vplan(P *p, const Value *v) {
  int k = value_no(p, v);
  ValPlan *vp = p->plan->vp[k];
  if (!vp) {
    vp = NEW(p->a, ValPlan);
    p->plan->vp[k] = vp;
    if (p->plan->vals.cap) pm_put(&p->plan->vals, v, vp);
  }
  return vp;
}

/* v's ValPlan or NULL: by its number while v->id is still the plan's (a
 * later pass may renumber), else from the map. */
static ValPlan *lookup(const Plan *p, const Value *v) {
  int k = v->id;
  if (k >= 0 && k < p->nval && p->val[k] == v) return p->vp[k];
  PtrMap *vals = (PtrMap *)&p->vals;
  if (!vals->cap) {
    pm_init(vals, p->a);
    for (int i = 0; i < p->nval; i++)
      if (p->vp[i]) pm_put(vals, p->val[i], p->vp[i]);
  }
  return pm_get(vals, v);
}

const ValPlan *plan_of(const Plan *p, const Value *v) {
  static const ValPlan none = {.kind = ST_NONE};
  const ValPlan *vp = lookup(p, v);
  return vp ? vp : &none;
}

/* Chains of aliases grow as long as a function (each in-place op aliases
 * its operand), so the path is compressed: every alias on it is pointed
 * at the root, and later queries are O(1). */
const Value *plan_root(const Plan *p, const Value *v) {
  const Value *r = v;
  for (int k = 0;; k++) {
    const ValPlan *vp = plan_of(p, r);
    if (vp->kind != ST_ALIAS) break;
    if (k > p->nval) die("plan: alias cycle");
    r = vp->alias;
  }
  while (v != r) {
    ValPlan *vp = lookup(p, v);
    v = vp->alias;
    vp->alias = (Value *)r;
  }
  return r;
}

bool plan_fused(const Plan *p, const Value *v) { return plan_of(p, v)->kind == ST_NONE; }

const Value *plan_tape(const Plan *p, const Inst *in) { return pm_get(&p->tapes, in); }

const Inst *plan_pooled(const Plan *p, const Inst *in) { return pm_get(&p->pooled, in); }

/* ---- numbering ------------------------------------------------------------ */

/* Clears the ids of b's values and instructions first: a stale id that
 * happened to match would make value_no skip a value. Counts them too. */
static void clear_ids(Block *b, int *nval, int *ninst) {
  for (int i = 0; i < b->nargs; i++) b->args[i]->id = -1;
  *nval += b->nargs;
  for (Inst *in = b->first; in; in = in->next) {
    in->id = -1;
    ++*ninst;
    for (int r = 0; r < in->nres; r++) in->res[r]->id = -1;
    *nval += in->nres;
    if (in->body) clear_ids(in->body, nval, ninst);
  }
}

/* Values get their numbers in the same order: block arguments, then each
 * instruction's results, then its body's (the allocator's tie-break). */
static void number(P *p, Block *b) {
  for (int i = 0; i < b->nargs; i++) info(p, b->args[i])->pos = p->npos;
  for (Inst *in = b->first; in; in = in->next) {
    int me = p->npos++;
    if (me >= p->capinst) die("plan: more instructions than counted");
    p->inst[me] = in;
    in->id = me;
    for (int r = 0; r < in->nres; r++) info(p, in->res[r])->pos = me;
    if (in->body) {
      number(p, in->body);
      p->iend[me] = p->npos - 1;
    }
  }
}

static int loop_end(P *p, const Inst *loop) {
  int k = ipos(p, loop);
  return k < 0 ? -1 : p->iend[k];
}

/* ---- fusion ----------------------------------------------------------------- */

static bool elementwise(const Inst *in) { return in && op_info[in->op].lc == LC_ELEM; }
static bool reduction(const Inst *in) { return in && op_info[in->op].lc == LC_REDUCE; }

/* The largest fused tree: a value whose tree would be larger is stored
 * and read by its consumer. Without a bound, a chain of N single-use
 * elementwise ops (h = tanh(h * p) over 10,000 parameters) became one
 * loop body of N expressions, a basic block LLVM's instruction selection
 * takes super-linear time on; the trees of the samples stay far below. */
#define FUSE_MAX_TREE 64

/* Ops inlined into every elementwise or reduction consumer. */
static bool free_op(Op op) { return op == OP_CONST; }

/* A dyn_slice whose rows are contiguous (every axis before its axis has
 * size 1: a tape row, a layer's weight w[l]): a matmul reads it in place,
 * at an offset into its operand, instead of from a copy. A run-time axis
 * in the operand (a tape [T, B<=16, 64, H]) changes nothing: storage is
 * laid out for the bound, so the row is the same bytes at the same static
 * offset at any n, padding rows included, as a copy of it would be. An
 * axis before the slice axis must be a static 1 (a run-time one of bound
 * 1 is too, but is left to the copy). */
static bool contiguous_row(const Value *v) {
  const Inst *d = v->def;
  if (!d || d->op != OP_DYN_SLICE) return false;
  for (int k = 0; k < d->attr.i[0]; k++)
    if (d->args[0]->ty.dim[k] != 1 || axis_dyn(&d->args[0]->ty, k)) return false;
  return true;
}

/* A concat computes a fused operand into its columns (llvm_gen.c
 * OP_CONCAT) when it joins along an axis after the first and no axis but
 * the first is a run-time one: the nest over the operand then covers the
 * rows the copy would (an LSTM's gate gradients, each a tree of products,
 * written straight into g.grad instead of stored and copied). */
static bool concat_computes(const Inst *in) {
  if (in->op != OP_CONCAT || in->attr.i[0] == 0) return false;
  const Type *t = &in->res[0]->ty;
  return !t->dyn || type_dyn_axis(t) == 0;
}

static void collect_users(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nargs; i++) {
      Info *x = info(p, in->args[i]);
      x->user = in;
      vec_push(p->tmp, &x->users, in);
      /* operands that cannot be computed inline by this consumer (a constant a
       * loop starts from is computed into its carry buffer: lower_for) */
      bool inline_ok = elementwise(in) || reduction(in) || concat_computes(in) ||
                       (in->op == OP_MATMUL && contiguous_row(in->args[i])) ||
                       (in->op == OP_FOR && in->args[i]->def && free_op(in->args[i]->def->op));
      if (in->op == OP_RESHAPE) inline_ok = false;
      if (!inline_ok) x->must = true;
    }
    if (in->body) collect_users(p, in->body);
  }
}

static bool is_view_op(const Inst *in) { return in && (in->op == OP_SLICE || in->op == OP_DYN_SLICE); }

/* Is every consumer of x elementwise or a reduction in block b? Then each
 * can compute a view inline, reading its operand in place. */
static bool readers_inline(const Info *x, const Block *b) {
  for (int k = 0; k < x->users.n; k++) {
    const Inst *u = x->users.v[k];
    if (u->block != b || !(elementwise(u) || reduction(u))) return false;
  }
  return true;
}

static void decide_fusion(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->body) {
      decide_fusion(p, in->body);
      continue;
    }
    bool view = in->op == OP_SLICE || in->op == OP_DYN_SLICE;
    if (in->nres != 1 || (!elementwise(in) && !view)) continue;
    Value *v = in->res[0];
    Info *x = info(p, v);
    x->tree = 1;
    for (int i = 0; i < in->nargs; i++)
      if (info(p, in->args[i])->fused) x->tree += info(p, in->args[i])->tree;
    if (x->must || v->nuse == 0) continue;
    if (free_op(in->op)) {
      x->fused = true; /* every consumer is elementwise or a reduction (else `must`) */
      continue;
    }
    /* a view with several readers is computed in each (the gates g[:, 0:H]
     * of an LSTM step and their gradients); its operand then lives to the
     * last of them (reader) */
    if (v->nuse != 1 && !(view && readers_inline(x, in->block))) continue;
    Inst *u = x->user;
    if (u->block != in->block) continue;
    if (view && info(p, in->args[0])->fused) continue; /* a view reads a stored operand */
    const Type *space = reduction(u) ? &u->args[0]->ty : u->op == OP_CONCAT ? &v->ty : &u->res[0]->ty;
    if (!view && !shape_eq(&v->ty, space)) continue; /* a view is only addressing: it may broadcast */
    if (x->tree > FUSE_MAX_TREE) continue;
    /* a consumer that reads v with broadcasting would recompute it; same
     * shape above rules that out. */
    x->fused = true;
  }
}

/* ---- liveness ------------------------------------------------------------------ */

/* The instruction whose generated code actually reads operands of `in`:
 * fused instructions are computed inside their consumer; a view fused into
 * several, the last of those to run (each may be fused further on). */
static Inst *reader(P *p, Inst *in) {
  for (int k = 0; k < 1024 && in->nres == 1 && info(p, in->res[0])->fused; k++) {
    Info *x = info(p, in->res[0]);
    if (!is_view_op(in) || x->users.n == 1) {
      in = x->user;
      continue;
    }
    Inst *last = NULL;
    for (int j = 0; j < x->users.n; j++) {
      Inst *r = reader(p, x->users.v[j]);
      if (!last || ipos(p, r) > ipos(p, last)) last = r;
    }
    return last;
  }
  return in;
}

/* Position at which q's generated code has read its operands, for an
 * overwrite after it: a view fused into a group member is read at other
 * elements while the whole group runs, so until its last member. */
static int read_pos(P *p, Inst *q) {
  Inst *r = reader(p, q);
  Inst *end = is_view_op(q) && info(p, q->res[0])->fused ? pm_get(&p->group_end, r) : NULL;
  return ipos(p, end ? end : r);
}

/* Position at which a use by `in` keeps v alive: the end of the outermost
 * loop around `in` that does not also contain v's definition. */
static int use_pos(P *p, const Value *v, Inst *in) {
  int at = ipos(p, in);
  const Block *vb = v->def ? v->def->block : v->block;
  for (const Block *b = in->block; b && b->parent; b = b->parent->block) {
    const Block *q = vb;
    bool inside = false;
    for (; q; q = q->parent ? q->parent->block : NULL)
      if (q == b) inside = true;
    if (inside) break;
    int e = loop_end(p, b->parent);
    if (e > at) at = e;
  }
  return at;
}

static void extend(P *p, const Value *v, int at) {
  const Value *r = plan_root(p->plan, v);
  Info *x = info(p, r);
  if (at > x->last) x->last = at;
}

static void liveness(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    Inst *rd = reader(p, in);
    for (int i = 0; i < in->nargs; i++) {
      Value *v = in->args[i];
      if (info(p, v)->fused) continue; /* its own operands count instead */
      if (i == 0 && in->op == OP_MAXPOOL2D_BWD && plan_tape(p->plan, in)) continue; /* reads the tape, not x */
      extend(p, v, use_pos(p, v, rd));
    }
    const Inst *pb = plan_pooled(p->plan, in);
    if (pb) extend(p, pb->args[1], use_pos(p, pb->args[1], rd)); /* dpool is read here */
    for (int r = 0; r < in->nres; r++) extend(p, in->res[r], ipos(p, in));
    if (in->body) {
      liveness(p, in->body);
      /* carried and stacked storage lives through the whole loop */
      for (int r = 0; r < in->nres; r++) extend(p, in->res[r], loop_end(p, in));
    }
  }
}

/* ---- storage decisions ------------------------------------------------------------ */

/* Is v the storage of x seen through reshapes (x itself, or a reshape of
 * a reshape ... of x)? A reshape aliases its operand (decide_storage), so a
 * read of such a view reads x's buffer. */
static bool is_view_of(const Value *v, const Value *x) {
  for (int k = 0; k < 1024 && v != x && v->def && v->def->op == OP_RESHAPE; k++) v = v->def->args[0];
  return v == x;
}

static bool block_reads(const Block *b, const Value *x);

/* Does `in` (or a loop body in it) read x, directly or through a view? */
static bool inst_reads(const Inst *in, const Value *x) {
  for (int i = 0; i < in->nargs; i++)
    if (is_view_of(in->args[i], x)) return true;
  return in->body && block_reads(in->body, x);
}

static bool block_reads(const Block *b, const Value *x) {
  for (const Inst *in = b->first; in; in = in->next)
    if (inst_reads(in, x)) return true;
  return false;
}

static bool is_yielded_in_slot(const Inst *loop, const Value *v, int k) {
  Inst *y = loop->body->last;
  return y && k < y->nargs && y->args[k] == v;
}

/* Does the fused tree of `in` read the storage `root` through a view, at
 * other elements than the one it writes (u = c[:, 0:1] * c)? */
static bool tree_views(P *p, const Inst *in, const Value *root) {
  for (int i = 0; i < in->nargs; i++) {
    const Value *a = in->args[i];
    if (!a->def || !info(p, a)->fused) continue;
    if (is_view_op(a->def) ? plan_root(p->plan, a->def->args[0]) == root : tree_views(p, a->def, root)) return true;
  }
  return false;
}

/* Can `in` write its result over operand k's storage? The storage must be
 * the workspace, or the carry buffer of the loop slot the result is yielded
 * into, and nothing may read it after `in` (reads by fused instructions
 * count where their consumer runs), nor `in` itself through a view. A pad
 * to the bound writes only the operand's padding rows, which no reader
 * looks at (their contents are unspecified: types.h), so for it later
 * reads do not matter (a stacked gradient also summed after the loop);
 * the storage then lives as long as the pad's result. */
static bool pads_to_bound(const Inst *in);

static bool can_overwrite(P *p, Inst *in, int k) {
  bool padding_only = in->op == OP_PAD && pads_to_bound(in);
  Value *x = in->args[k];
  if (info(p, x)->fused) return false;
  const Value *root = plan_root(p->plan, x);
  if (tree_views(p, in, root)) return false;
  const ValPlan *rp = plan_of(p->plan, root);
  int here = ipos(p, in);
  if (root->def && root->def->op == OP_FOR && (root->res < root->def->nargs || in->block == root->def->body)) {
    Inst *loop = root->def;
    int slot = root->res;
    if (slot >= loop->nargs || x != loop->body->args[slot + 1] || in->block != loop->body) return false;
    if (!is_yielded_in_slot(loop, in->res[0], slot)) return false;
    for (Inst *q = loop->body->first; q && !padding_only; q = q->next) {
      if (q == in) continue;
      if (inst_reads(q, x) && read_pos(p, q) >= here) return false;
    }
    return true;
  }
  if (rp->kind != ST_WS) return false;
  if (root->def && root->def->op == OP_CONST) return false;
  return padding_only || info(p, root)->last <= here;
}

/* A pad that only fills the run-time axis up to its bound (docs/ir.md
 * "Padding to the bound"): the result has the operand's layout. */
static bool pads_to_bound(const Inst *in) {
  const Type *x = &in->args[0]->ty, *y = &in->res[0]->ty;
  for (int k = 0; k < x->rank; k++)
    if (in->attr.i[k] != 0 || in->attr.i[x->rank + k] != 1 || x->dim[k] != y->dim[k]) return false;
  return true;
}

static bool inplace_candidate(const Inst *in) {
  return in->op == OP_DYN_UPDATE || in->op == OP_DYN_UPDATE_ADD || in->op == OP_UPDATE_SLICE ||
         (in->op == OP_PAD && pads_to_bound(in));
}

static void decide_storage(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->op == OP_FOR) {
      Block *body = in->body;
      for (int k = 0; k < in->nres; k++) vplan(p, in->res[k])->kind = ST_WS;
      for (int k = 0; k < in->nargs; k++) {
        ValPlan *ap = vplan(p, body->args[k + 1]);
        ap->kind = ST_ALIAS;
        ap->alias = in->res[k];
      }
      decide_storage(p, body);
      continue;
    }
    if (op_info[in->op].flags & F_TERMINATOR) continue;
    Value *v = in->res[0];
    ValPlan *vp = vplan(p, v);
    if (info(p, v)->fused) {
      vp->kind = ST_NONE;
    } else if (in->op == OP_RESHAPE) {
      vp->kind = ST_ALIAS;
      vp->alias = in->args[0];
    } else if (vp->kind != ST_RESULT) {
      vp->kind = ST_WS;
    }
  }
}

/* A value a loop body defines and stacks once lives in its row of the
 * stacked result (plan.h): lower_for then has nothing to copy. */
static void rows_in_tapes(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (!in->body) continue;
    rows_in_tapes(p, in->body);
    Inst *y = in->body->last;
    for (int k = in->nargs; k < y->nargs; k++) {
      Value *v = y->args[k];
      if (!v->def || v->def->block != in->body || v->def->op == OP_FOR) continue;
      ValPlan *vp = vplan(p, v);
      if (vp->kind != ST_WS || info(p, v)->fused) continue;
      int times = 0;
      for (int j = in->nargs; j < y->nargs; j++) times += y->args[j] == v;
      if (times != 1) continue;
      vp->kind = ST_ROW;
      vp->alias = in->res[k];
      vp->index = k;
    }
  }
}

/* A loop whose initial value of slot k dies at the loop carries slot k in
 * that value's storage: no copy in before the loop, and none out when the
 * loop is itself the body of a loop yielding its result in the slot the
 * initial value came from (the segments of a checkpointed loop carry their
 * state through both levels in one buffer). The storage must be the
 * workspace, or the carry buffer of the enclosing loop's slot. */
static void alias_loop_inits(P *p, Inst *in) {
  int here = ipos(p, in);
  for (int k = 0; k < in->nargs; k++) {
    Value *x = in->args[k], *r = in->res[k];
    ValPlan *rp = vplan(p, r);
    if (rp->kind != ST_WS || info(p, x)->fused || block_reads(in->body, x)) continue;
    bool once = true;
    for (int j = 0; j < in->nargs; j++) once &= j == k || in->args[j] != x;
    if (!once) continue;
    const Value *root = plan_root(p->plan, x);
    const ValPlan *xp = plan_of(p->plan, root);
    bool ok;
    if (root->def && root->def->op == OP_FOR) {
      Inst *loop = root->def;
      int slot = root->res;
      ok = slot < loop->nargs && x == loop->body->args[slot + 1] && in->block == loop->body &&
           is_yielded_in_slot(loop, r, slot);
      for (Inst *q = ok ? loop->body->first : NULL; q; q = q->next) {
        if (q == in || read_pos(p, q) < here) continue; /* a view before the loop may be read after it */
        if (inst_reads(q, x)) ok = false;
      }
    } else {
      ok = xp->kind == ST_WS && !(root->def && root->def->op == OP_CONST) && info(p, root)->last <= here;
    }
    if (!ok) continue;
    Info *rx = info(p, root), *vx = info(p, r);
    if (vx->last > rx->last) rx->last = vx->last;
    rp->kind = ST_ALIAS;
    rp->alias = x;
    rp->inplace = true;
  }
}

/* Does q, elementwise over type t, feed only elementwise instructions of
 * that type fused into `in` (or is `in`)? Then it reads an operand of
 * type t at the element `in` writes. */
static bool reads_same_element(P *p, Inst *q, const Inst *in, const Type *t) {
  for (int k = 0; k < 1024; k++) {
    if (!elementwise(q) || q->nres != 1 || !type_eq(&q->res[0]->ty, t)) return false;
    if (q == in) return true;
    if (!info(p, q->res[0])->fused) return false;
    q = info(p, q->res[0])->user;
  }
  return false;
}

/* The carry slot a value of a loop body is yielded into, when the value
 * may be computed straight into that slot's buffer (-1: none): the body
 * reads the slot's argument nowhere from `in` on, except in `in`'s own
 * elementwise tree at the element it writes (reads_same_element).
 * Then the yield copies nothing (a recurrent cell's h and c at every
 * step). */
static int carry_slot_for(P *p, Inst *in) {
  Block *body = in->block;
  Inst *loop = body->parent, *y = body->last;
  if (!loop || loop->op != OP_FOR || !y) return -1;
  int slot = -1;
  for (int k = 0; k < y->nargs; k++)
    if (y->args[k] == in->res[0]) {
      if (k >= loop->nargs || slot >= 0) return -1; /* yielded twice, or also stacked */
      slot = k;
    }
  if (slot < 0) return -1;
  Value *x = body->args[slot + 1];
  if (!type_eq(&x->ty, &in->res[0]->ty)) return -1;
  int here = ipos(p, in);
  for (Inst *q = body->first; q; q = q->next) {
    if (!inst_reads(q, x) || reads_same_element(p, q, in, &x->ty)) continue;
    if (q == in || read_pos(p, q) >= here) return -1;
  }
  return slot;
}

/* In program order, let row updates and elementwise ops overwrite an
 * operand that dies there, and a value yielded into a loop's carry slot
 * take that slot's buffer; the result's interval joins the operand's. */
static void decide_inplace(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->body) {
      decide_inplace(p, in->body);
      alias_loop_inits(p, in);
      continue;
    }
    if (in->nres != 1) continue;
    Value *v = in->res[0];
    ValPlan *vp = vplan(p, v);
    if (vp->kind != ST_WS) continue;
    /* the carry slot first: an operand's storage would be copied there */
    int k = -1, slot = in->op != OP_CONST && !inplace_candidate(in) ? carry_slot_for(p, in) : -1;
    if (slot >= 0) {
    } else if (inplace_candidate(in)) {
      if (can_overwrite(p, in, 0)) k = 0;
    } else if (elementwise(in) && in->op != OP_CONST && in->op != OP_IOTA) {
      for (int j = 0; j < in->nargs && k < 0; j++)
        if (type_eq(&in->args[j]->ty, &v->ty) && can_overwrite(p, in, j)) k = j;
    }
    Value *over = slot >= 0 ? in->block->args[slot + 1] : k >= 0 ? in->args[k] : NULL;
    if (!over) continue;
    const Value *root = plan_root(p->plan, over);
    Info *rx = info(p, root), *vx = info(p, v);
    if (vx->last > rx->last) rx->last = vx->last;
    vp->kind = ST_ALIAS;
    vp->alias = over;
    /* over an operand only the changed part is written (a pad to the
     * bound zeroes its padding rows, an update its row); a value computed
     * into a carry slot's buffer is written whole: a pad there still
     * copies its operand */
    vp->inplace = k >= 0;
  }
}

/* Values returned once, computed at the top level, go straight into the
 * caller's result buffer (not for results that overwrite arguments). */
/* The last position at which each of f's arguments (or a reshape of it) is
 * read, in p->argread: position + 3, 1 when a reshape makes it hard to
 * tell, absent when nothing reads it. A read inside a loop counts at the
 * end of its top-level loop. One walk for all arguments: a walk per
 * updated parameter was quadratic (10,000 parameters: most of the plan's
 * time). */
static void arg_reads(P *p, Block *b, int loop_last) {
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nargs; i++) {
      const Value *a = in->args[i];
      if (a->def || a->block != p->f->body) continue;
      intptr_t cur = (intptr_t)pm_get(&p->argread, a);
      int at = loop_last >= 0 ? loop_last : ipos(p, reader(p, in));
      if (cur == 1) continue;
      if (in->op == OP_RESHAPE) pm_put(&p->argread, a, (void *)(intptr_t)1);
      else if (at + 3 > cur) pm_put(&p->argread, a, (void *)(intptr_t)(at + 3));
    }
    if (in->body) arg_reads(p, in->body, loop_last >= 0 ? loop_last : loop_end(p, in));
  }
}

/* The last position at which argument `a` is read (-1: never); -2 when a
 * reshape makes it hard to tell. */
static int last_read(P *p, const Value *a) {
  intptr_t r = (intptr_t)pm_get(&p->argread, a);
  return r ? (int)r - 3 : -1;
}

/* An updated parameter (or optimizer state) may be written straight over
 * the old one (the caller passes the same buffer for both) when it is
 * computed elementwise at the top level and nothing reads the old value
 * after that loop: the loop reads each old element before writing it. */
static const void *role_key(int kind, int index) { return (const void *)((intptr_t)index * 16 + kind + 1); }

static bool update_in_place(P *p, Value *v, int k) {
  Role rr = p->f->ret_role[k];
  const Value *a = pm_get(&p->role_arg, role_key(rr.kind == RES_NEW_PARAM ? ARG_PARAM : ARG_STATE, rr.index));
  if (!a || !shape_eq(&a->ty, &v->ty) || !elementwise(v->def) || v->def->op == OP_CONST) return false;
  int r = last_read(p, a);
  return r != -2 && r <= ipos(p, v->def);
}

static void place_results(P *p) {
  Func *f = p->f;
  Inst *ret = f->body->last;
  pm_init(&p->argread, p->tmp);
  arg_reads(p, f->body, -1);
  pm_init(&p->role_arg, p->tmp);
  for (int i = 0; i < f->body->nargs; i++)
    pm_put(&p->role_arg, role_key(f->arg_role[i].kind, f->arg_role[i].index), f->body->args[i]);
  PtrMap times; /* returned value -> the number of results it is */
  pm_init(&times, p->tmp);
  for (int k = 0; k < ret->nargs; k++)
    pm_put(&times, ret->args[k], (void *)((intptr_t)pm_get(&times, ret->args[k]) + 1));
  for (int k = 0; k < ret->nargs; k++) {
    Value *v = ret->args[k];
    int kind = f->ret_role[k].kind;
    bool update = kind == RES_NEW_PARAM || kind == RES_NEW_STATE;
    if (!v->def || v->def->block != f->body || v->def->op == OP_FOR || v->def->op == OP_RESHAPE) continue;
    if (info(p, v)->fused || v->def->op == OP_CONST) continue;
    if ((intptr_t)pm_get(&times, v) != 1) continue;
    if (update && !update_in_place(p, v, k)) continue;
    ValPlan *vp = vplan(p, v);
    vp->kind = ST_RESULT;
    vp->index = k;
  }
}

/* ---- argmax tapes -------------------------------------------------------------- */

static bool same_window(const Inst *a, const Inst *b) {
  for (int k = 0; k < 6; k++)
    if (a->attr.i[k] != b->attr.i[k]) return false;
  return true;
}

/* Give each f32 maxpool2d that has backwards on the same x later in its
 * block a tape (see plan.h); its interval runs to the last of them. */
static void find_tapes(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->body) find_tapes(p, in->body);
    if (in->op != OP_MAXPOOL2D || in->res[0]->ty.dtype != TY_F32) continue;
    if (in->attr.i[0] * in->attr.i[1] >= 255) continue; /* the window index must fit a byte */
    Value *tape = NULL;
    for (Inst *u = in->next; u; u = u->next) {
      if (u->op != OP_MAXPOOL2D_BWD || u->args[0] != in->args[0] || !same_window(in, u)) continue;
      if (!tape) {
        tape = NEW(p->a, Value);
        tape->ty = in->res[0]->ty;
        tape->ty.dtype = TY_BOOL;
        tape->name = "argmax tape";
        pm_put(&p->plan->tapes, in, tape);
        Info *x = info(p, tape);
        x->pos = x->last = ipos(p, in);
        x->made = ++p->nmade;
        vplan(p, tape)->kind = ST_WS;
        p->plan->tape_bytes += type_bytes(&tape->ty);
      }
      pm_put(&p->plan->tapes, u, tape);
      extend(p, tape, ipos(p, u));
    }
  }
}

/* Can convolution gradient u read dy, a pooling gradient, straight from
 * the tape? Only where the runtime has a kernel that expands it in place
 * (rt_conv.c, thresholds in rt_kernels.h): backward filter on the
 * channels-last path or the few-taps one (stride 1); backward data on the
 * row kernel (stride 1). */
static bool pooled_consumer(const Inst *u, const Value *dy) {
  if ((u->op != OP_CONV2D_BWD_W && u->op != OP_CONV2D_BWD_X) || u->res[0]->ty.dtype != TY_F32) return false;
  bool s1 = u->attr.i[0] == 1 && u->attr.i[1] == 1;
  if (u->op == OP_CONV2D_BWD_W && u->args[1] == dy && u->args[0] != dy)
    return u->args[0]->ty.dim[1] >= RT_CONV_CL_MIN_C || (s1 && dy->ty.dim[3] >= RT_CONV_DOT_MIN_OW);
  if (u->op == OP_CONV2D_BWD_X && u->args[0] == dy && u->args[1] != dy)
    return s1 && u->res[0]->ty.dim[3] >= RT_CONV_ROW_MIN_OW && u->res[0]->ty.dim[1] >= RT_CONV_ROW_MIN_CHANNELS;
  return false;
}

/* A maxpool2d_bwd with a tape whose every use is a later convolution
 * gradient in the same block that can read it from the tape: not stored
 * (see plan.h); the tape and dpool live to the last of those uses. */
static void find_pooled(P *p, Block *b) {
  for (Inst *pb = b->first; pb; pb = pb->next) {
    if (pb->body) find_pooled(p, pb->body);
    if (pb->op != OP_MAXPOOL2D_BWD || !plan_tape(p->plan, pb)) continue;
    const Value *dy = pb->res[0];
    int ok = 0;
    for (Inst *u = pb->next; u; u = u->next) {
      for (int i = 0; i < u->nargs; i++)
        if (u->args[i] == dy) ok += pooled_consumer(u, dy) ? 1 : -1000;
    }
    if (ok <= 0 || ok != dy->nuse) continue; /* also when a use sits in a loop body */
    for (Inst *u = pb->next; u; u = u->next)
      if (pooled_consumer(u, dy)) {
        pm_put(&p->plan->pooled, u, pb);
        extend(p, plan_tape(p->plan, pb), ipos(p, u));
      }
    p->plan->npooled++;
    vplan(p, pb->res[0])->kind = ST_NONE;
  }
}

/* ---- groups ---------------------------------------------------------------------------- */

#define GROUP_MAX 24
#define GROUP_MAX_TREE (4 * FUSE_MAX_TREE) /* instructions in a group's fused trees */

static bool groupable(P *p, const Inst *in) {
  if (!elementwise(in) || in->nres != 1 || in->res[0]->ty.rank == 0) return false;
  if (in->op == OP_CONST || in->op == OP_IOTA || in->op == OP_ONE_HOT || in->op == OP_RNG_UNIFORM ||
      in->op == OP_BROADCAST)
    return false;
  return !info(p, in->res[0])->fused && plan_of(p->plan, in->res[0])->kind != ST_NONE;
}

/* The stored values (and views) the tree of operand v reads, into out:
 * scalars too, and a dyn_slice view's position. */
static void group_leaves(P *p, Value *v, PtrVec *out) {
  if (info(p, v)->fused && v->def && !is_view_op(v->def)) {
    for (int i = 0; i < v->def->nargs; i++) group_leaves(p, v->def->args[i], out);
    return;
  }
  if (info(p, v)->fused && v->def && v->def->op == OP_DYN_SLICE) group_leaves(p, v->def->args[1], out);
  if (!(info(p, v)->fused && v->def && v->def->op == OP_CONST)) vec_push(p->tmp, out, v);
}

/* Does leaf l read at the element being computed (same shape, no view)?
 * A scalar is read at every element. */
static bool same_element(const Value *l, const Type *space) {
  return !(l->def && is_view_op(l->def)) && l->ty.rank > 0 && shape_eq(&l->ty, space);
}

/* The value whose storage leaf l reads. */
static const Value *leaf_root(P *p, const Value *l) {
  if (l->def && is_view_op(l->def) && info(p, l)->fused) l = l->def->args[0];
  return plan_root(p->plan, l);
}

/* May `in` join the group m[0..n)? Not when its tree reads a member's
 * result at another element. */
static bool joins(P *p, Inst **m, int n, Inst *in) {
  if (n == GROUP_MAX || !groupable(p, in) || !shape_eq(&in->res[0]->ty, &m[0]->res[0]->ty)) return false;
  int tree = info(p, in->res[0])->tree; /* the loop body stays small (FUSE_MAX_TREE) */
  for (int k = 0; k < n; k++) tree += info(p, m[k]->res[0])->tree;
  if (tree > GROUP_MAX_TREE) return false;
  PtrVec lv = {0};
  for (int a = 0; a < in->nargs; a++) group_leaves(p, in->args[a], &lv);
  for (int l = 0; l < lv.n; l++) {
    const Value *x = lv.v[l];
    if (same_element(x, &in->res[0]->ty)) continue;
    const Value *r = leaf_root(p, x);
    for (int k = 0; k < n; k++)
      if (plan_root(p->plan, m[k]->res[0]) == r) return false;
  }
  return true;
}

static void find_groups(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->body) {
      find_groups(p, in->body);
      continue;
    }
    if (!groupable(p, in)) continue;
    Inst *m[GROUP_MAX];
    int n = 0;
    m[n++] = in;
    Inst *last = in;
    for (Inst *x = in->next; x; x = x->next) {
      if (x->nres == 1 && (info(p, x->res[0])->fused || x->op == OP_RESHAPE)) continue;
      if (!joins(p, m, n, x)) break;
      m[n++] = x;
      last = x;
    }
    if (n < 2) continue;
    PlanGroup *g = NEW(p->a, PlanGroup);
    g->m = NEW_ARRAY(p->a, Inst *, n);
    memcpy(g->m, m, sizeof(Inst *) * (size_t)n);
    g->n = n;
    g->last = last;
    pm_put(&p->plan->groups, in, g);
    for (int k = 0; k < n; k++) pm_put(&p->group_end, m[k], last);

    p->plan->ngroups++;
    /* the group computes every member in one loop at its first member's
     * place, so each member's storage is written from there on: were it to
     * start at the member's own place, it could share bytes with a value
     * that dies in between, at a shifted offset, and the loop would
     * overwrite elements of that value before reading them */
    for (int k = 1; k < n; k++) {
      Info *x = info(p, m[k]->res[0]);
      if (x->pos > ipos(p, in)) x->pos = ipos(p, in);
    }
    /* what is read at other elements lives past the group */
    int end = ipos(p, last) + 1;
    for (int k = 0; k < n; k++) {
      PtrVec lv = {0};
      for (int a = 0; a < m[k]->nargs; a++) group_leaves(p, m[k]->args[a], &lv);
      for (int l = 0; l < lv.n; l++)
        if (!same_element(lv.v[l], &m[0]->res[0]->ty)) extend(p, leaf_root(p, lv.v[l]), end);
    }
    in = last;
  }
}

const PlanGroup *plan_group(const Plan *p, const Inst *in) { return pm_get(&p->groups, in); }

/* ---- prepacked weights ------------------------------------------------------------------- */

static bool defined_outside(const Value *v, const Block *body) {
  const Block *b = v->def ? v->def->block : v->block;
  for (; b; b = b->parent ? b->parent->block : NULL)
    if (b == body) return false;
  return true;
}

static void find_prepacks(P *p, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (in->body) {
      find_prepacks(p, in->body);
      continue;
    }
    if (in->op != OP_MATMUL || in->res[0]->ty.rank != 2 || !b->parent) continue;
    DType dt = in->res[0]->ty.dtype;
    if (dt != TY_F32 && dt != TY_F64) continue;
    Value *B = in->args[1];
    if (type_is_dyn(&B->ty) || axis_dyn(&in->args[0]->ty, in->attr.i[0] ? 0 : 1)) continue; /* K, N at run time */
    Inst *loop = NULL;
    for (Block *q = b; q && q->parent; q = q->parent->block) {
      if (!defined_outside(B, q)) break;
      loop = q->parent;
    }
    if (!loop || loop->attr.i[1] - loop->attr.i[0] < 2) continue;
    const Type *c = &in->res[0]->ty;
    int64_t K = in->attr.i[0] ? in->args[0]->ty.dim[0] : in->args[0]->ty.dim[1], N = c->dim[1];
    size_t bytes = dt == TY_F32 ? rt_sgemm_prepacked_bytes(K, N) : rt_dgemm_prepacked_bytes(K, N);
    Prepack *pk = NEW(p->a, Prepack);
    pk->mm = in;
    pk->loop = loop;
    pk->packed = NEW(p->a, Value);
    int64_t words = (int64_t)((bytes + 3) / 4);
    pk->packed->ty = type_make(TY_F32, 1, &words);
    pk->packed->name = "prepacked B";
    Info *x = info(p, pk->packed);
    x->made = ++p->nmade;
    x->pos = ipos(p, loop);
    x->last = loop_end(p, loop);
    vplan(p, pk->packed)->kind = ST_WS;
    extend(p, B, ipos(p, loop)); /* read by the packing, before the loop */
    pm_put(&p->plan->prepack, in, pk);
    PtrVec *list = pm_get(&p->plan->loop_packs, loop);
    if (!list) {
      list = NEW(p->a, PtrVec);
      pm_put(&p->plan->loop_packs, loop, list);
    }
    vec_push(p->a, list, pk);
    p->plan->nprepack++;
  }
}

const Prepack *plan_prepack(const Plan *p, const Inst *in) { return pm_get(&p->prepack, in); }
const PtrVec *plan_loop_packs(const Plan *p, const Inst *loop) { return pm_get(&p->loop_packs, loop); }

/* ---- allocation ------------------------------------------------------------------- */

static size_t align_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

typedef struct Owner {
  int pos;
  intptr_t ord;
  Value *v;
} Owner;

static int owner_cmp(const void *x, const void *y) {
  const Owner *a = x, *b = y;
  if (a->pos != b->pos) return a->pos < b->pos ? -1 : 1;
  return a->ord < b->ord ? -1 : a->ord > b->ord;
}

static void allocate(P *p) {
  /* owners with workspace storage, in order of definition */
  int n = 0, cap = 256;
  Value **owners = NEW_ARRAY(p->tmp, Value *, cap);
  for (int i = 0; i < p->plan->nval; i++) {
    const Value *v = p->plan->val[i];
    ValPlan *vp = p->plan->vp[i];
    if (!vp || vp->kind != ST_WS) continue;
    if (n == cap) {
      Value **no = NEW_ARRAY(p->tmp, Value *, cap * 2);
      memcpy(no, owners, sizeof(Value *) * (size_t)n);
      owners = no;
      cap *= 2;
    }
    owners[n++] = (Value *)v;
  }
  /* sorted by start position, then program order (the value numbers of
   * number, so the plan does not depend on where the arena put the values,
   * as the map's order does) */
  intptr_t next = p->nfv;
  Owner *by = NEW_ARRAY(p->tmp, Owner, n + 1);
  /* the plan's own values come after the function's, in the order made:
   * without a number of their own they tied, and qsort's order (the hash
   * map's, from heap addresses) changed the layout from run to run */
  for (int i = 0; i < n; i++) {
    int k = value_no(p, owners[i]);
    Info *x = p->info[k];
    intptr_t o = x->made ? next + x->made : k < p->nfv ? k + 1 : 0;
    by[i] = (Owner){x->pos, o, owners[i]};
  }
  qsort(by, (size_t)n, sizeof *by, owner_cmp);
  for (int i = 0; i < n; i++) owners[i] = by[i].v;
  FitSet *live = fit_new(p->tmp);
  size_t top = 0;
  for (int i = 0; i < n; i++) {
    Value *v = owners[i];
    Info *x = info(p, v);
    int start = x->pos, end = x->last < x->pos ? x->pos : x->last;
    fit_release(live, start); /* free what died before start */
    size_t size = align_up(type_bytes(&v->ty));
    if (size == 0) size = ALIGN;
    size_t off = fit_place(live, size, end); /* the first gap that fits */
    if (off + size > top) top = off + size;
    vplan(p, v)->offset = off;
  }
  p->plan->ws_bytes = top;
  p->plan->nvalues = n;
}

static void prepare_block(Arena *a, Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    if (!in->body) continue;
    prepare_block(a, in->body);
    Block *body = in->body;
    Inst *y = body->last;
    for (int k = 0; k < y->nargs; k++) {
      Value *v = y->args[k];
      for (int j = 0; j < in->nargs; j++) {
        if (j == k || !is_view_of(v, body->args[j + 1])) continue;
        /* a view of a carry (a reshape: its storage) is copied where it is
         * defined: the carry's buffer may be overwritten after that */
        bool view = v != body->args[j + 1];
        Builder bb = {.a = a, .block = body, .before = view ? v->def->next : y, .pos = view ? v->def->pos : y->pos,
                      .note = view ? "copy of a view of a carry" : "copy before the yield"};
        y->args[k] = ir_unary(&bb, OP_STOP_GRADIENT, v);
        break;
      }
    }
  }
}

void plan_prepare(Arena *a, Func *f) { prepare_block(a, f->body); }

Plan *plan_func(Arena *a, Func *f, size_t (*scratch_for)(const Inst *in)) {
  Arena *tmp = arena_new();
  P p = {.a = a, .tmp = tmp, .f = f};
  p.plan = NEW(a, Plan);
  p.plan->a = a;
  pm_init(&p.plan->tapes, a);
  pm_init(&p.plan->pooled, a);
  pm_init(&p.plan->groups, a);
  pm_init(&p.plan->prepack, a);
  pm_init(&p.plan->loop_packs, a);
  pm_init(&p.group_end, tmp);
  ir_count_uses(f);
  int nval = 0, ninst = 0;
  clear_ids(f->body, &nval, &ninst);
  p.capval = nval + 16;
  p.plan->val = NEW_ARRAY(a, const Value *, p.capval);
  p.plan->vp = NEW_ARRAY(a, ValPlan *, p.capval);
  p.info = NEW_ARRAY(tmp, Info *, p.capval);
  p.capinst = ninst;
  p.inst = NEW_ARRAY(tmp, const Inst *, ninst + 1);
  p.iend = NEW_ARRAY(tmp, int, ninst + 1);
  number(&p, f->body);
  p.nfv = p.plan->nval;
  collect_users(&p, f->body);
  /* values a terminator or loop takes must exist in memory */
  decide_fusion(&p, f->body);
  for (int i = 0; i < f->body->nargs; i++) {
    ValPlan *vp = vplan(&p, f->body->args[i]);
    vp->kind = ST_ARG;
    vp->index = i;
  }
  place_results(&p);
  decide_storage(&p, f->body);
  rows_in_tapes(&p, f->body);
  find_tapes(&p, f->body);
  find_pooled(&p, f->body);
  liveness(&p, f->body);
  find_groups(&p, f->body);
  find_prepacks(&p, f->body);
  decide_inplace(&p, f->body);
  allocate(&p);
  /* kernel scratch after everything else */
  size_t scratch = 0;
  PtrVec stack = {0};
  vec_push(tmp, &stack, f->body);
  while (stack.n) {
    Block *b = stack.v[--stack.n];
    for (Inst *in = b->first; in; in = in->next) {
      size_t s = scratch_for ? scratch_for(in) : 0;
      if (s > scratch) scratch = s;
      if (in->body) vec_push(tmp, &stack, in->body);
    }
  }
  p.plan->scratch_off = align_up(p.plan->ws_bytes);
  p.plan->scratch_bytes = align_up(scratch);
  p.plan->ws_bytes = p.plan->scratch_off + p.plan->scratch_bytes;
  arena_free(tmp);
  return p.plan;
}
