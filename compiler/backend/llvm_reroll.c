/* llvm_reroll.c — a function of many repeated kernels is lowered as a loop
 * over a table of them.
 *
 * A deep network written out statement by statement (20,000 `let`s, or
 * 10,000 parameters each used once) lowers to tens of thousands of
 * top-level kernels, most of them the same loop nest or kernel call on
 * other buffers. Emitting each one and letting LLVM optimize them all made
 * compile time grow with the model (2,000 statements: about a minute at
 * -O2). Here every top-level item (a plan group or one stored instruction)
 * gets a structural signature: the ops, attributes, types and storage
 * kinds of everything it computes, down to the materialized values it
 * reads, with those values' storage roots numbered in order of first use,
 * and how each pair of roots overlaps. Items with the same signature run
 * the same code on other addresses, so one kernel function
 * `void kern(ws, pool, addrs)` is emitted per signature, reading root j
 * from addrs[j]. The function itself becomes a loop over a constant table
 * of (kernel, root addresses) entries in program order that fills addrs and
 * calls the kernel: LLVM optimizes one body per signature, and the table
 * grows with the model instead of the code. A kernel is emitted once per
 * module: a function whose item has the signature of one an earlier
 * function emitted calls that kernel (loss lowers the layers forward
 * does, a gradient recomputes them). Nothing a kernel's code depends on
 * is a property of the function around it: the roots come through
 * addrs, and the function's own slots (an argument's index, the call
 * context of random numbers) are not read in a kernel.
 *
 * Items that cannot be described that way (loops, pooling with an argmax
 * tape, pooled convolution gradients, prepacked matmuls, tape rows) are
 * lowered as before, in runs of up to PART_ITEMS items per `part`
 * function, and the table calls those parts in their place. A function
 * with a run-time size (SCALAR_DIM), with at most PART_ITEMS items, or
 * whose kernels do not repeat (fewer than two items per kernel) is not
 * rerolled: the samples' code is exactly what it was.
 *
 * The table entry of an item is its kernel number, then one i64 per root:
 * a workspace offset (>= 0) or -(slot + 1) for the buffer in bufs[slot].
 * The gradients announced as they become final (llvm_gen.c
 * find_ready_points) are entries [0, parameter] between the items. */
#include <string.h>

#include "llvm_internal.h"

enum {
  MAX_KROOTS = 1024, /* roots one kernel may read or write (a group of GROUP_MAX members reads hundreds) */
  PART_ITEMS = 64  /* items per part of unrerolled items (as llvm_gen.c) */
};

/* A signature being computed. */
typedef struct Sig {
  uint64_t *w; /* the words */
  int n, cap;
  const Value *roots[MAX_KROOTS];
  int nroots;
  int buf[MAX_KROOTS];           /* the roots' storage (storage_range) */
  size_t lo[MAX_KROOTS], hi[MAX_KROOTS];
  const Value **seen; /* values already numbered (their index + 1 in `num`) */
  PtrMap num;
  int nseen, capseen;
  bool ok; /* false: the item is lowered as before */
} Sig;

/* One kernel: a signature's function, or a part of unrerolled items. */
typedef struct Kernel {
  uint64_t hash;
  uint64_t *w;
  int n;
  int nroots;
  Inst *first;                     /* the item it is emitted from (a part: its first item) */
  int nitems;                      /* a part: how many items */
  const Value **roots;             /* the first item's roots */
  bool part;
  LLVMValueRef fn; /* its LLVM function once emitted (before: one an earlier function emitted) */
} Kernel;

/* The kernels of the module (Gen.kcache): signature -> function. */
typedef struct KernelCache {
  Kernel **k;
  int nk, capk;
  int *slot; /* hash table of kernel numbers + 1 */
  int capslot;
} KernelCache;

typedef struct Reroll {
  Arena *a;
  Kernel **k;
  int nk, capk;
  int *slot; /* hash table of kernel numbers + 1 */
  int capslot;
  int64_t *tab; /* the table */
  int ntab, captab;
  int nitems;
  int maxroots;
  int ready;     /* the kernel number of rt_grad_ready entries, or -1 */
  bool announced;
} Reroll;

static void *grow(Arena *a, void *old, int n, int *cap, size_t elem) {
  if (n < *cap) return old;
  int nc = *cap ? *cap * 2 : 64;
  void *p = arena_alloc(a, elem * (size_t)nc);
  if (n) memcpy(p, old, elem * (size_t)n);
  *cap = nc;
  return p;
}

static void put(Arena *a, Sig *s, uint64_t x) {
  s->w = grow(a, s->w, s->n, &s->cap, sizeof *s->w);
  s->w[s->n++] = x;
}

static void put_type(Arena *a, Sig *s, const Type *t) {
  put(a, s, (uint64_t)t->dtype | (uint64_t)t->rank << 8 | (uint64_t)t->dyn << 16);
  for (int i = 0; i < t->rank; i++) put(a, s, (uint64_t)t->dim[i]);
}

static void sig_value(Gen *g, Arena *a, Sig *s, const Value *v);

static void sig_inst(Gen *g, Arena *a, Sig *s, const Inst *in) {
  put(a, s, (uint64_t)in->op | (uint64_t)in->nargs << 16 | (uint64_t)in->nres << 32 | (uint64_t)in->attr.ni << 48);
  for (int i = 0; i < in->attr.ni; i++) put(a, s, (uint64_t)in->attr.i[i]);
  uint64_t f;
  memcpy(&f, &in->attr.f, sizeof f);
  put(a, s, f);
  /* what the plan keeps beside the values: lowered as before */
  if (in->body || plan_tape(g->plan, in) || plan_pooled(g->plan, in) || plan_prepack(g->plan, in)) s->ok = false;
  /* random numbers may read the function's call context (bufs slot
   * nargs + nret, which a kernel's addrs does not hold) */
  if (in->op == OP_RNG_UNIFORM) s->ok = false;
  for (int i = 0; i < in->nargs && s->ok; i++) sig_value(g, a, s, in->args[i]);
}

static void sig_root(Arena *a, Sig *s, const Value *r) {
  for (int j = 0; j < s->nroots; j++)
    if (s->roots[j] == r) {
      put(a, s, (uint64_t)j);
      return;
    }
  if (s->nroots == MAX_KROOTS) {
    s->ok = false;
    return;
  }
  s->roots[s->nroots] = r;
  put(a, s, (uint64_t)s->nroots++);
}

/* A value the item computes or reads: a fused one by its definition, a
 * stored one by its storage root (the kernel reads it through that). */
static void sig_value(Gen *g, Arena *a, Sig *s, const Value *v) {
  intptr_t k = (intptr_t)pm_get(&s->num, v);
  if (k) {
    put(a, s, 1u | (uint64_t)k << 8);
    return;
  }
  s->seen = grow(a, s->seen, s->nseen, &s->capseen, sizeof *s->seen);
  s->seen[s->nseen++] = v;
  pm_put(&s->num, v, (void *)(intptr_t)s->nseen);
  put_type(a, s, &v->ty);
  const ValPlan *vp = plan_of(g->plan, v);
  put(a, s, 2u | (uint64_t)vp->kind << 8 | (uint64_t)vp->inplace << 16);
  if (vp->kind == ST_NONE) {
    if (!v->def) {
      s->ok = false;
      return;
    }
    put(a, s, (uint64_t)v->res);
    sig_inst(g, a, s, v->def);
    return;
  }
  const Value *r = plan_root(g->plan, v);
  StoreKind rk = plan_of(g->plan, r)->kind;
  if (rk != ST_WS && rk != ST_ARG && rk != ST_RESULT) s->ok = false;
  else sig_root(a, s, r);
}

/* The signature of the item at `in` (pg: its group); s->ok false when it
 * cannot be rerolled. */
static void sig_item(Gen *g, Arena *a, Sig *s, const Inst *in, const PlanGroup *pg) {
  s->n = s->nroots = 0;
  s->ok = true;
  for (int i = 0; i < s->nseen; i++) pm_put(&s->num, s->seen[i], NULL);
  if (s->num.cap > 4096) pm_init(&s->num, a); /* a huge fused tree: start small again */
  s->nseen = 0;
  int nm = pg ? pg->n : 1;
  put(a, s, (uint64_t)nm);
  for (int m = 0; m < nm && s->ok; m++) {
    const Inst *x = pg ? pg->m[m] : in;
    sig_inst(g, a, s, x);
    for (int r = 0; r < x->nres && s->ok; r++) sig_value(g, a, s, x->res[r]);
  }
  /* how the roots' storage overlaps (the alias metadata depends on it) */
  int *buf = s->buf;
  size_t *lo = s->lo, *hi = s->hi;
  for (int i = 0; i < s->nroots && s->ok; i++) storage_range(g, s->roots[i], &buf[i], &lo[i], &hi[i]);
  for (int i = 0; i < s->nroots && s->ok; i++)
    for (int j = i + 1; j < s->nroots; j++) {
      bool same = buf[i] == buf[j] && lo[i] == lo[j] && hi[i] == hi[j];
      bool apart = buf[i] != buf[j] || hi[i] <= lo[j] || hi[j] <= lo[i];
      if (!same && !apart) s->ok = false;
      if (same) put(a, s, (uint64_t)i << 32 | (uint64_t)j); /* only the pairs that share storage */
    }
}

static uint64_t hash_words(const uint64_t *w, int n) {
  uint64_t h = 1469598103934665603u;
  for (int i = 0; i < n; i++) {
    h ^= w[i];
    h *= 1099511628211u;
    h ^= h >> 29;
  }
  return h;
}

static Kernel *new_kernel(Reroll *R) {
  R->k = grow(R->a, R->k, R->nk, &R->capk, sizeof *R->k);
  Kernel *k = NEW(R->a, Kernel);
  R->k[R->nk++] = k;
  return k;
}

static void rehash(Reroll *R) {
  R->capslot = R->capslot ? R->capslot * 2 : 256;
  R->slot = NEW_ARRAY(R->a, int, R->capslot);
  for (int i = 0; i < R->nk; i++) {
    if (R->k[i]->part) continue;
    unsigned j = (unsigned)R->k[i]->hash & (unsigned)(R->capslot - 1);
    while (R->slot[j]) j = (j + 1) & (unsigned)(R->capslot - 1);
    R->slot[j] = i + 1;
  }
}

/* The function an earlier function's kernel of signature s (hash h)
 * was emitted as, or NULL. */
static LLVMValueRef cached_kernel(const KernelCache *C, const Sig *s, uint64_t h) {
  if (!C || !C->capslot) return NULL;
  for (unsigned j = (unsigned)h & (unsigned)(C->capslot - 1); C->slot[j]; j = (j + 1) & (unsigned)(C->capslot - 1)) {
    const Kernel *k = C->k[C->slot[j] - 1];
    if (k->hash == h && k->n == s->n && !memcmp(k->w, s->w, sizeof *s->w * (size_t)s->n)) return k->fn;
  }
  return NULL;
}

/* Keeps kernel k (just emitted) for the module's later functions. */
static void cache_kernel(Gen *g, const Kernel *k) {
  if (!g->kcache) g->kcache = NEW(g->a, KernelCache);
  KernelCache *C = g->kcache;
  if (2 * (C->nk + 1) > C->capslot) {
    C->capslot = C->capslot ? C->capslot * 2 : 64;
    C->slot = NEW_ARRAY(g->a, int, C->capslot);
    for (int i = 0; i < C->nk; i++) {
      unsigned j = (unsigned)C->k[i]->hash & (unsigned)(C->capslot - 1);
      while (C->slot[j]) j = (j + 1) & (unsigned)(C->capslot - 1);
      C->slot[j] = i + 1;
    }
  }
  C->k = grow(g->a, C->k, C->nk, &C->capk, sizeof *C->k);
  Kernel *c = NEW(g->a, Kernel);
  c->hash = k->hash;
  c->n = k->n;
  c->w = NEW_ARRAY(g->a, uint64_t, k->n);
  memcpy(c->w, k->w, sizeof *k->w * (size_t)k->n);
  c->nroots = k->nroots;
  c->fn = k->fn;
  C->k[C->nk++] = c;
  unsigned j = (unsigned)c->hash & (unsigned)(C->capslot - 1);
  while (C->slot[j]) j = (j + 1) & (unsigned)(C->capslot - 1);
  C->slot[j] = C->nk;
}

/* The kernel of signature s (a new one, emitted from `in`, if none). */
static int kernel_of(Gen *g, Reroll *R, const Sig *s, Inst *in) {
  uint64_t h = hash_words(s->w, s->n);
  if (2 * (R->nk + 1) > R->capslot) rehash(R);
  unsigned j = (unsigned)h & (unsigned)(R->capslot - 1);
  for (; R->slot[j]; j = (j + 1) & (unsigned)(R->capslot - 1)) {
    const Kernel *k = R->k[R->slot[j] - 1];
    if (k->hash == h && k->n == s->n && !memcmp(k->w, s->w, sizeof *s->w * (size_t)s->n)) return R->slot[j] - 1;
  }
  Kernel *k = new_kernel(R);
  k->hash = h;
  k->n = s->n;
  k->w = NEW_ARRAY(R->a, uint64_t, s->n);
  memcpy(k->w, s->w, sizeof *s->w * (size_t)s->n);
  k->nroots = s->nroots;
  k->roots = NEW_ARRAY(R->a, const Value *, s->nroots + 1);
  memcpy(k->roots, s->roots, sizeof s->roots[0] * (size_t)s->nroots);
  k->first = in;
  k->fn = cached_kernel(g->kcache, s, h);
  R->slot[j] = R->nk;
  if (s->nroots > R->maxroots) R->maxroots = s->nroots;
  return R->nk - 1;
}

static void tab_put(Reroll *R, int64_t x) {
  R->tab = grow(R->a, R->tab, R->ntab, &R->captab, sizeof *R->tab);
  R->tab[R->ntab++] = x;
}

/* The rt_grad_ready entries due after the top-level instructions
 * first..last (as llvm_gen.c announce_ready): [ready, param] each, or one
 * [ready, -1] once a gradient has been announced. Returns whether it
 * added any. */
static bool ready_entries(Gen *g, Reroll *R, const Inst *first, const Inst *last) {
  bool any = false;
  for (const Inst *in = first;; in = in->next) {
    for (int i = g_ready_first(g, in); i < g->nready && g->ready[i].after == in; i++) {
      tab_put(R, R->ready), tab_put(R, g->ready[i].param);
      any = R->announced = true;
    }
    if (in == last) break;
  }
  if (!any && R->announced) tab_put(R, R->ready), tab_put(R, -1);
  return any || R->announced;
}

/* Signatures and the table of g->f's items; the return instruction is
 * left out (the function lowers it after the loop). */
static void analyze(Gen *g, Reroll *R) {
  Sig s;
  memset(&s, 0, sizeof s);
  pm_init(&s.num, R->a);
  Kernel *part = NULL;
  R->ready = -1;
  if (g->nready) { /* kernel 0: rt_grad_ready(ctx, param) */
    new_kernel(R)->part = true; /* not a signature */
    R->ready = 0;
  }
  for (Inst *in = g->f->body->first; in; in = in->next) {
    if (in->op == OP_RETURN) break;
    const PlanGroup *pg = g_item_group(g, in);
    Inst *last = pg ? pg->last : in;
    if (!pg && in->nres == 1 && !in->body && plan_fused(g->plan, in->res[0])) { /* computed where used */
      if (g->nready && ready_entries(g, R, in, in)) part = NULL;
      continue;
    }
    R->nitems++;
    sig_item(g, R->a, &s, in, pg);
    if (!s.ok) { /* lowered as before, in a part */
      if (!part || part->nitems == PART_ITEMS) {
        part = new_kernel(R);
        part->part = true;
        part->first = in;
        tab_put(R, R->nk - 1);
      }
      part->nitems++;
      if (g->nready && ready_entries(g, R, in, last)) part = NULL;
      in = last;
      continue;
    }
    part = NULL;
    int k = kernel_of(g, R, &s, in);
    tab_put(R, k);
    for (int j = 0; j < s.nroots; j++) {
      int buf;
      size_t lo, hi;
      storage_range(g, s.roots[j], &buf, &lo, &hi);
      tab_put(R, buf == -1 ? (int64_t)lo : -(int64_t)buf - 1);
    }
    if (g->nready) ready_entries(g, R, in, last);
    in = last;
  }
}

static void set_noinline(Gen *g, LLVMValueRef fn) {
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
}

static void emit_kernel(Gen *g, Kernel *k) {
  if (k->part) {
    k->fn = g_body_fn(g, "part", true);
    Inst *in = k->first;
    for (int i = 0; i < k->nitems; in = in->next) {
      const PlanGroup *pg = g_item_group(g, in);
      if (!pg && in->nres == 1 && !in->body && plan_fused(g->plan, in->res[0])) continue;
      in = g_lower_item(g, in);
      i++;
    }
  } else {
    k->fn = g_body_fn(g, "kern", false);
    PtrMap roots;
    pm_init(&roots, g->a);
    for (int j = 0; j < k->nroots; j++) pm_put(&roots, k->roots[j], (void *)(intptr_t)(j + 1));
    g->kroot = &roots;
    g_lower_item(g, k->first);
    g->kroot = NULL;
  }
  set_noinline(g, k->fn);
  LLVMBuildRetVoid(g->b);
}

/* The pointer an i64 table entry stands for (see the top of the file). */
static LLVMValueRef decode(Gen *g, LLVMValueRef e) {
  LLVMValueRef zero = g_i64(g, 0);
  LLVMValueRef is_slot = LLVMBuildICmp(g->b, LLVMIntSLT, e, zero, "");
  LLVMValueRef k = LLVMBuildSelect(g->b, is_slot, LLVMBuildSub(g->b, g_i64(g, -1), e, ""), zero, "");
  LLVMValueRef sp = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildGEP2(g->b, g->t_ptr, g->bufs, &k, 1, ""), "");
  LLVMValueRef off = LLVMBuildSelect(g->b, is_slot, zero, e, "");
  LLVMValueRef wp = LLVMBuildGEP2(g->b, g->t_i8, g->ws, &off, 1, "");
  return LLVMBuildSelect(g->b, is_slot, sp, wp, "");
}

/* A private constant array of n i64s named `name`. */
static LLVMValueRef i64_array_global(Gen *g, const int64_t *v, int64_t n, const char *name) {
  LLVMValueRef init = LLVMConstStringInContext2(g->ctx, (const char *)v, sizeof *v * (size_t)n, 1);
  LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddr(gv, 1);
  LLVMSetAlignment(gv, 8);
  return gv;
}

static LLVMValueRef table_global(Gen *g, const Reroll *R) { return i64_array_global(g, R->tab, R->ntab, "kernels"); }

/* The i64 array of each kernel's root count (0 for parts and the ready
 * entries, which read no addresses). */
static LLVMValueRef nroots_global(Gen *g, const Reroll *R) {
  int64_t *n = NEW_ARRAY(R->a, int64_t, R->nk);
  for (int i = 0; i < R->nk; i++) n[i] = R->k[i]->part ? 0 : R->k[i]->nroots;
  return i64_array_global(g, n, R->nk, "kernel_roots");
}

/* The function: a loop over the table, then the return. Each entry's
 * roots are decoded into addrs by one loop for all kernels (their count
 * from kernel_roots): straight-line per kernel, that code grew with the
 * roots of every kernel (a fused group reads a hundred) and cost as much
 * of LLVM's time as a kernel. */
static LLVMValueRef emit_top(Gen *g, const Reroll *R, const char *name) {
  LLVMValueRef fn = g_body_fn(g, name, true);
  LLVMValueRef tab = table_global(g, R);
  LLVMValueRef nroots = nroots_global(g, R);
  LLVMValueRef addrs = LLVMBuildArrayAlloca(g->b, g->t_ptr, g_i64(g, R->maxroots ? R->maxroots : 1), "addrs");
  LLVMBasicBlockRef entry = LLVMGetInsertBlock(g->b);
  LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, fn, "next");
  LLVMBasicBlockRef disp = LLVMAppendBasicBlockInContext(g->ctx, fn, "dispatch");
  LLVMBasicBlockRef dhead = LLVMAppendBasicBlockInContext(g->ctx, fn, "root");
  LLVMBasicBlockRef dbody = LLVMAppendBasicBlockInContext(g->ctx, fn, "decode");
  LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(g->ctx, fn, "call");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, fn, "done");
  LLVMBuildBr(g->b, head);
  LLVMPositionBuilderAtEnd(g->b, head);
  LLVMValueRef p = LLVMBuildPhi(g->b, g->t_i64, "p");
  LLVMValueRef zero = g_i64(g, 0);
  LLVMAddIncoming(p, &zero, &entry, 1);
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntUGE, p, g_i64(g, R->ntab), ""), done, disp);
  LLVMPositionBuilderAtEnd(g->b, disp);
  LLVMValueRef kid = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, g->t_i64, tab, &p, 1, ""), "kernel");
  LLVMValueRef nr = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, g->t_i64, nroots, &kid, 1, ""), "nroots");
  LLVMBuildBr(g->b, dhead);
  /* for j in 0..nroots: addrs[j] = decode(table[p + 1 + j]) */
  LLVMPositionBuilderAtEnd(g->b, dhead);
  LLVMValueRef j = LLVMBuildPhi(g->b, g->t_i64, "j");
  LLVMAddIncoming(j, &zero, &disp, 1);
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, j, nr, ""), dbody, call);
  LLVMPositionBuilderAtEnd(g->b, dbody);
  LLVMValueRef at = LLVMBuildAdd(g->b, p, LLVMBuildAdd(g->b, j, g_i64(g, 1), ""), "");
  LLVMValueRef e = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, g->t_i64, tab, &at, 1, ""), "");
  LLVMBuildStore(g->b, decode(g, e), LLVMBuildGEP2(g->b, g->t_ptr, addrs, &j, 1, ""));
  LLVMValueRef jn = LLVMBuildAdd(g->b, j, g_i64(g, 1), "");
  LLVMAddIncoming(j, &jn, &dbody, 1);
  LLVMBuildBr(g->b, dhead);
  LLVMPositionBuilderAtEnd(g->b, call);
  LLVMValueRef sw = LLVMBuildSwitch(g->b, kid, done, (unsigned)R->nk);
  for (int i = 0; i < R->nk; i++) {
    const Kernel *k = R->k[i];
    LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, fn, k->part ? "part" : "kern");
    LLVMAddCase(sw, g_i64(g, i), bb);
    LLVMPositionBuilderAtEnd(g->b, bb);
    if (i == R->ready) { /* [ready, param] */
      LLVMValueRef at1 = LLVMBuildAdd(g->b, p, g_i64(g, 1), "");
      LLVMValueRef pe = LLVMBuildLoad2(g->b, g->t_i64, LLVMBuildGEP2(g->b, g->t_i64, tab, &at1, 1, ""), "");
      g_call_ready(g, LLVMBuildTrunc(g->b, pe, g->t_i32, ""));
      LLVMValueRef pn = LLVMBuildAdd(g->b, p, g_i64(g, 2), "");
      LLVMBuildBr(g->b, head);
      LLVMAddIncoming(p, &pn, &bb, 1);
      continue;
    }
    LLVMValueRef args[3] = {g->ws, g->pool, k->part ? g->bufs : addrs};
    LLVMBuildCall2(g->b, LLVMGlobalGetValueType(k->fn), k->fn, args, 3, "");
    LLVMValueRef pn = LLVMBuildAdd(g->b, p, g_i64(g, 1 + (k->part ? 0 : k->nroots)), "");
    LLVMBuildBr(g->b, head);
    LLVMAddIncoming(p, &pn, &bb, 1);
  }
  LLVMPositionBuilderAtEnd(g->b, done);
  Inst *ret = g->f->body->last;
  if (ret && ret->op == OP_RETURN) g_lower_item(g, ret);
  LLVMBuildRetVoid(g->b);
  return fn;
}

LLVMValueRef reroll_function(Gen *g, const char *name) {
  if (g->dim_arg) return NULL;
  int n = 0;
  for (Inst *in = g->f->body->first; in && n <= PART_ITEMS; in = in->next) n++;
  if (n <= PART_ITEMS) return NULL;
  Reroll R;
  memset(&R, 0, sizeof R);
  R.a = arena_new();
  analyze(g, &R);
  LLVMValueRef fn = NULL;
  if (2 * R.nk <= R.nitems) {
    for (int i = 0; i < R.nk; i++) {
      Kernel *k = R.k[i];
      if (i == R.ready || k->fn) continue; /* k->fn: an earlier function's */
      emit_kernel(g, k);
      if (!k->part) cache_kernel(g, k);
    }
    fn = emit_top(g, &R, name);
  }
  arena_free(R.a);
  return fn;
}
