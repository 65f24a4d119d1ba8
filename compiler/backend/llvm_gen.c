/* llvm_gen.c — lowering one IR function to LLVM IR, following its Plan.
 *
 * The generated function is `void f(ptr ws, ptr pool, ptr bufs)`: bufs[i]
 * points at argument i, bufs[nargs + k] at result k; every other value is
 * at its planned offset of ws. Each materialized instruction becomes:
 *   elementwise  one loop nest over its result, computing the whole fused
 *                expression tree per element (vectorized by LLVM)
 *   reduction    output-stationary (register accumulator) when the last
 *                axis is reduced, else input-stationary (out[j] += x[.., j])
 *   matmul/conv/pool   calls into the runtime kernels
 *   shape ops    copy loops; row updates write in place when planned so
 *   for          an LLVM loop; carried values in their buffers, stacked
 *                values copied into row i of their tape
 * Results not computed in place are copied to the caller's buffers at the
 * end. */
#include <string.h>

#include "llvm_internal.h"

/* ---- small helpers ------------------------------------------------------- */

LLVMTypeRef g_elem_type(Gen *g, DType dt) {
  switch (dt) {
  case TY_F32: return g->t_f32;
  case TY_F64: return g->t_f64;
  case TY_I32: return g->t_i32;
  default: return g->t_i8;
  }
}

LLVMTypeRef g_reg_type(Gen *g, DType dt) { return dt == TY_BOOL ? g->t_i1 : g_elem_type(g, dt); }

LLVMValueRef g_i64(Gen *g, int64_t v) { return LLVMConstInt(g->t_i64, (unsigned long long)v, 1); }
LLVMValueRef g_i32(Gen *g, int64_t v) { return LLVMConstInt(g->t_i32, (unsigned long long)v, 1); }

LLVMValueRef g_fconst(Gen *g, DType dt, double v) { return LLVMConstReal(dt == TY_F64 ? g->t_f64 : g->t_f32, v); }

static LLVMValueRef constant(Gen *g, DType dt, double v) {
  switch (dt) {
  case TY_F32: case TY_F64: return g_fconst(g, dt, v);
  case TY_I32: return g_i32(g, (int64_t)v);
  default: return LLVMConstInt(g->t_i1, v != 0, 0);
  }
}

LLVMValueRef g_call(Gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int np, LLVMValueRef *args) {
  LLVMTypeRef ft = LLVMFunctionType(ret, params, (unsigned)np, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
  if (!fn) fn = LLVMAddFunction(g->mod, name, ft);
  return LLVMBuildCall2(g->b, ft, fn, args, (unsigned)np, "");
}

LLVMValueRef g_intrinsic(Gen *g, const char *name, LLVMTypeRef overload, LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  if (!id) die("no LLVM intrinsic %s", name);
  LLVMTypeRef ov[1] = {overload};
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, ov, overload ? 1 : 0);
  LLVMTypeRef ft = LLVMIntrinsicGetType(g->ctx, id, ov, overload ? 1 : 0);
  return LLVMBuildCall2(g->b, ft, fn, args, (unsigned)nargs, "");
}

static LLVMValueRef loop_range(Gen *g, LLVMValueRef lo, LLVMValueRef n, LLVMBasicBlockRef *header,
                               LLVMBasicBlockRef *exit, LLVMValueRef *iv_out);

LLVMValueRef g_loop_begin(Gen *g, LLVMValueRef n, LLVMBasicBlockRef *header, LLVMBasicBlockRef *exit,
                          LLVMValueRef *iv_out) {
  return loop_range(g, g_i64(g, 0), n, header, exit, iv_out);
}

/* A loop over [lo, n). */
static LLVMValueRef loop_range(Gen *g, LLVMValueRef lo, LLVMValueRef n, LLVMBasicBlockRef *header,
                               LLVMBasicBlockRef *exit, LLVMValueRef *iv_out) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  LLVMBasicBlockRef h = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
  LLVMBasicBlockRef ex = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "done");
  LLVMBuildBr(g->b, h);
  LLVMPositionBuilderAtEnd(g->b, h);
  LLVMValueRef iv = LLVMBuildPhi(g->b, g->t_i64, "i");
  LLVMAddIncoming(iv, &lo, &pre, 1);
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, iv, n, ""), body, ex);
  LLVMPositionBuilderAtEnd(g->b, body);
  *header = h;
  *exit = ex;
  *iv_out = iv;
  return iv;
}

void g_loop_end(Gen *g, LLVMBasicBlockRef header, LLVMBasicBlockRef exit, LLVMValueRef iv) {
  LLVMValueRef next = LLVMBuildNSWAdd(g->b, iv, g_i64(g, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
  LLVMAddIncoming(iv, &next, &latch, 1);
  LLVMBuildBr(g->b, header);
  LLVMPositionBuilderAtEnd(g->b, exit);
}

static LLVMValueRef alloca_entry(Gen *g, LLVMTypeRef t) {
  LLVMBasicBlockRef cur = LLVMGetInsertBlock(g->b);
  LLVMPositionBuilderBefore(g->b, g->entry_alloca_point);
  LLVMValueRef a = LLVMBuildAlloca(g->b, t, "");
  LLVMPositionBuilderAtEnd(g->b, cur);
  return a;
}

/* ---- storage ---------------------------------------------------------------- */

/* The bufs slot of result k. An updated parameter or optimizer state is
 * written over the old one: the runtime (rt_model_call) passes the same
 * buffer for both, so the argument's slot is used, and LLVM sees one
 * pointer where an elementwise update reads and writes the same element
 * (two pointers would need a run-time overlap check, which fails in place
 * and leaves the loop scalar). */
static int result_slot(Gen *g, int k) {
  Role rr = g->f->ret_role[k];
  if (rr.kind == RES_NEW_PARAM || rr.kind == RES_NEW_STATE) {
    int want = rr.kind == RES_NEW_PARAM ? ARG_PARAM : ARG_STATE;
    for (int i = 0; i < g->nargs; i++)
      if (g->f->arg_role[i].kind == want && g->f->arg_role[i].index == rr.index) return i;
  }
  return g->nargs + k;
}

/* The pointer in bufs slot k, loaded once per function (see base_ptr). */
static LLVMValueRef slot_ptr(Gen *g, int k) {
  const void *key = (const void *)(intptr_t)(k + 1);
  LLVMValueRef p = pm_get(&g->bufptr, key);
  if (p) return p;
  /* a builder of its own: g->b may be in the middle of a block (pre_begin) */
  LLVMBuilderRef b = LLVMCreateBuilderInContext(g->ctx);
  LLVMPositionBuilderBefore(b, g->hoist_point);
  LLVMValueRef idx = g_i64(g, k);
  LLVMValueRef slot = LLVMBuildGEP2(b, g->t_ptr, g->bufs, &idx, 1, "");
  p = LLVMBuildLoad2(b, g->t_ptr, slot, "");
  LLVMDisposeBuilder(b);
  pm_put(&g->bufptr, key, p);
  return p;
}

/* The bufs slot after the results: the caller's rt_call_ctx, or NULL
 * (rt_model.h). A training program splitting a batch across processes
 * puts there where this call's rows sit in the global batch and whom to
 * tell when a parameter's gradient is final. */
static int ctx_slot(Gen *g) { return g->nargs + g->f->nret; }

/* Does a random tensor of type t draw one row per batch row, so its
 * counter must count rows of the global batch (rt_rand_uniform_rows)?
 * Its axis 0 is the run-time batch, or, in a function of static shapes,
 * as long as the first input's axis 0 (the batch). */
static bool rng_over_rows(Gen *g, const Type *t) {
  if (t->rank < 1) return false;
  if (t->dyn & 1) return true;
  if (t->dyn || g->dim_arg) return false;
  for (int i = 0; i < g->nargs; i++)
    if (g->f->arg_role[i].kind == ARG_INPUT) {
      const Type *x = &g->f->body->args[i]->ty;
      return x->rank >= 1 && x->dim[0] == t->dim[0];
    }
  return false;
}

/* Base pointer of v's storage. */
static LLVMValueRef base_ptr(Gen *g, const Value *v) {
  const Value *r = plan_root(g->plan, v);
  const ValPlan *vp = plan_of(g->plan, r);
  if (g->kroot && vp->kind != ST_ROW) { /* a rerolled kernel (llvm_reroll.c): entry j of its address array */
    intptr_t j = (intptr_t)pm_get(g->kroot, r);
    if (!j) die("backend: a rerolled kernel touches a buffer outside its signature");
    return slot_ptr(g, (int)j - 1);
  }
  switch (vp->kind) {
  case ST_WS: {
    LLVMValueRef off = g_i64(g, (int64_t)vp->offset);
    return LLVMBuildGEP2(g->b, g->t_i8, g->ws, &off, 1, "");
  }
  case ST_ARG:
  case ST_RESULT: {
    /* Loaded once, in the entry block: the array of buffer pointers does
     * not change during a call, and a load inside a loop that also stores
     * floats could not be hoisted by LLVM (it might alias), which keeps
     * elementwise loops scalar. */
    return slot_ptr(g, vp->kind == ST_ARG ? vp->index : result_slot(g, vp->index));
  }
  case ST_ROW: { /* row i - lo of the loop's stacked result */
    const Inst *loop = vp->alias->def;
    LLVMValueRef i = pm_get(&g->reg, loop->body->args[0]);
    if (!i) die("backend: a tape row outside its loop");
    LLVMValueRef row = LLVMBuildSub(g->b, LLVMBuildSExt(g->b, i, g->t_i64, ""), g_i64(g, loop->attr.i[0]), "");
    LLVMValueRef off = LLVMBuildMul(g->b, row, g_i64(g, (int64_t)type_bytes(&r->ty)), "");
    return LLVMBuildGEP2(g->b, g->t_i8, base_ptr(g, vp->alias), &off, 1, "");
  }
  default:
    die("backend: value has no storage (%s)", v->name ? v->name : "unnamed");
  }
}

static LLVMValueRef elem_ptr(Gen *g, LLVMValueRef base, DType dt, LLVMValueRef off) {
  return LLVMBuildGEP2(g->b, g_elem_type(g, dt), base, &off, 1, "");
}

static LLVMValueRef load_elem(Gen *g, LLVMValueRef base, DType dt, LLVMValueRef off) {
  LLVMValueRef v = LLVMBuildLoad2(g->b, g_elem_type(g, dt), elem_ptr(g, base, dt, off), "");
  if (dt == TY_BOOL) v = LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(g->t_i8, 0, 0), "");
  return v;
}

static LLVMValueRef store_elem(Gen *g, LLVMValueRef base, DType dt, LLVMValueRef off, LLVMValueRef v) {
  if (dt == TY_BOOL) v = LLVMBuildZExt(g->b, v, g->t_i8, "");
  return LLVMBuildStore(g->b, v, elem_ptr(g, base, dt, off));
}

static bool same_storage(Gen *g, const Value *a, const Value *b) {
  return plan_root(g->plan, a) == plan_root(g->plan, b);
}

static void copy_bytes(Gen *g, LLVMValueRef dst, LLVMValueRef src, size_t n) {
  if (n) LLVMBuildMemCpy(g->b, dst, 1, src, 1, g_i64(g, (int64_t)n));
}

/* ---- run-time sizes (types.h) ---------------------------------------------------- */

/* The call's run-time size (i64). */
static LLVMValueRef dyn_n(Gen *g) {
  LLVMValueRef n = g->dim_arg ? pm_get(&g->reg, g->dim_arg) : NULL;
  if (!n) die("backend: a run-time axis in a function without its size");
  return LLVMBuildSExt(g->b, n, g->t_i64, "n");
}

/* The extent of axis k of t in this call: its size, or for the run-time
 * axis (possibly merged with the static axes after it: dim = bound * rest)
 * the call's size times the rest. */
static LLVMValueRef dim_val(Gen *g, const Type *t, int k) {
  if (!axis_dyn(t, k)) return g_i64(g, t->dim[k]);
  int64_t rest = t->dim[k] / g->dim_bound;
  LLVMValueRef n = dyn_n(g);
  return rest == 1 ? n : LLVMBuildMul(g->b, n, g_i64(g, rest), "");
}

/* Elements a flat loop over t covers: all of them, except that a leading
 * run-time axis stops at the call's size (a dense prefix). A run-time axis
 * further in keeps the bound's layout, so the loop runs over the padding
 * too (workspace only: arguments and results lead with it). */
static LLVMValueRef numel_val(Gen *g, const Type *t) {
  if (t->rank == 0 || !axis_dyn(t, 0)) return g_i64(g, type_numel(t));
  return LLVMBuildMul(g->b, dim_val(g, t, 0), g_i64(g, type_numel(t) / t->dim[0]), "");
}

static LLVMValueRef bytes_val(Gen *g, const Type *t) {
  return LLVMBuildMul(g->b, numel_val(g, t), g_i64(g, (int64_t)dtype_size(t->dtype)), "");
}

static void copy_bytes_of(Gen *g, LLVMValueRef dst, LLVMValueRef src, const Type *t) {
  if (!type_is_dyn(t)) {
    copy_bytes(g, dst, src, type_bytes(t));
    return;
  }
  LLVMBuildMemCpy(g->b, dst, 1, src, 1, bytes_val(g, t));
}

/* ---- loop nests ----------------------------------------------------------------- */

/* The outermost loop of the next nest runs over [g->range_lo, g->range_hi)
 * when they are set (a parallel chunk); nest_begin consumes them. */
static void outer_loop(Gen *g, LLVMValueRef n, LLVMBasicBlockRef *h, LLVMBasicBlockRef *e, LLVMValueRef *iv) {
  if (g->range_lo) {
    loop_range(g, g->range_lo, g->range_hi, h, e, iv);
    g->range_lo = g->range_hi = NULL;
  } else {
    g_loop_begin(g, n, h, e, iv);
  }
}

static void nest_begin(Gen *g, Nest *n, const Type *space, bool flat) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  n->owns_pre = !g->nest_pre;
  n->space = *space;
  n->flat = flat;
  n->collapsed = false;
  n->nloops = 0;
  if (flat) {
    LLVMBasicBlockRef h, e;
    LLVMValueRef iv;
    outer_loop(g, numel_val(g, space), &h, &e, &iv);
    n->loops[0].header = h;
    n->loops[0].exit = e;
    n->loops[0].iv = iv;
    n->nloops = 1;
    n->flat_idx = iv;
    if (n->owns_pre) g->nest_pre = LLVMGetBasicBlockTerminator(pre);
    return;
  }
  for (int k = 0; k < space->rank; k++) {
    LLVMBasicBlockRef h, e;
    LLVMValueRef iv;
    if (k == 0) outer_loop(g, dim_val(g, space, 0), &h, &e, &iv);
    else g_loop_begin(g, dim_val(g, space, k), &h, &e, &iv);
    n->loops[k].header = h;
    n->loops[k].exit = e;
    n->loops[k].iv = iv;
    n->idx[k] = iv;
    n->nloops++;
  }
  if (n->owns_pre) g->nest_pre = space->rank ? LLVMGetBasicBlockTerminator(pre) : NULL;
  /* flat index, for ops that need it (rng) */
  LLVMValueRef f = g_i64(g, 0);
  for (int k = 0; k < space->rank; k++)
    f = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, f, g_i64(g, space->dim[k]), ""), n->idx[k], "");
  n->flat_idx = f;
}

static void nest_end(Gen *g, Nest *n) {
  if (n->owns_pre) g->nest_pre = NULL;
  for (int k = n->nloops - 1; k >= 0; k--) g_loop_end(g, n->loops[k].header, n->loops[k].exit, n->loops[k].iv);
}

/* sum idx_k * st_k */
static LLVMValueRef offset_of(Gen *g, const Nest *n, const int64_t *st) {
  LLVMValueRef o = NULL;
  for (int k = 0; k < n->space.rank; k++) {
    if (!st[k]) continue;
    LLVMValueRef t = st[k] == 1 ? n->idx[k] : LLVMBuildMul(g->b, n->idx[k], g_i64(g, st[k]), "");
    o = o ? LLVMBuildAdd(g->b, o, t, "") : t;
  }
  return o ? o : g_i64(g, 0);
}

/* ---- expressions ------------------------------------------------------------------ */

static LLVMValueRef expr(Gen *g, const Value *v, Nest *n);
static LLVMValueRef position(Gen *g, const Value *v, int64_t n);

/* A slice or dyn_slice fused into its consumer (plan.h: a view): the
 * consumer reads the operand where the slice's elements sit. */
static bool is_view(Gen *g, const Value *v) {
  return v->def && (v->def->op == OP_SLICE || v->def->op == OP_DYN_SLICE) && plan_fused(g->plan, v);
}

/* Strides over v's own axes of the storage v is read from: its own
 * row-major ones, or a view's operand's, times the slice's steps (a
 * dyn_slice drops its axis). */
static void own_strides(Gen *g, const Value *v, int64_t *st) {
  if (!is_view(g, v)) {
    type_strides(&v->ty, st);
    return;
  }
  const Inst *in = v->def;
  const Value *x = in->args[0];
  int64_t xst[MAX_RANK];
  type_strides(&x->ty, xst);
  if (in->op == OP_SLICE) {
    for (int k = 0; k < x->ty.rank; k++) st[k] = xst[k] * in->attr.i[x->ty.rank + k];
    return;
  }
  for (int k = 0, j = 0; k < x->ty.rank; k++)
    if (k != in->attr.i[0]) st[j++] = xst[k];
}

/* Strides at which leaf v is read over the axes of `space`: NumPy
 * broadcasting, right-aligned, size-1 axes stride 0 (bstrides for views). */
static void leaf_strides(Gen *g, const Type *space, const Value *v, int64_t *st) {
  int64_t own[MAX_RANK];
  own_strides(g, v, own);
  for (int i = 0; i < space->rank; i++) {
    int j = i - (space->rank - v->ty.rank);
    st[i] = (j < 0 || v->ty.dim[j] == 1) ? 0 : own[j];
  }
}

/* Offset (elements) of a view's first element in its operand. */
static LLVMValueRef view_offset(Gen *g, const Value *v) {
  const Inst *in = v->def;
  const Value *x = in->args[0];
  int64_t xst[MAX_RANK], off = 0;
  type_strides(&x->ty, xst);
  if (in->op == OP_SLICE) {
    for (int k = 0; k < x->ty.rank; k++) off += in->attr.i[k] * xst[k];
    return g_i64(g, off);
  }
  int64_t ax = in->attr.i[0];
  return LLVMBuildMul(g->b, position(g, in->args[1], x->ty.dim[ax]), g_i64(g, xst[ax]), "");
}

/* ---- alias scopes of elementwise nests ------------------------------------------ */

/* A node whose first operand is itself, followed by ops: LLVM makes such a
 * node distinct, as alias domains and scopes must be. */
static LLVMMetadataRef self_node(Gen *g, LLVMMetadataRef *ops, int n) {
  LLVMMetadataRef tmp = LLVMTemporaryMDNode(g->ctx, NULL, 0);
  LLVMMetadataRef all[4];
  all[0] = tmp;
  for (int i = 0; i < n; i++) all[i + 1] = ops[i];
  LLVMMetadataRef node = LLVMMDNodeInContext2(g->ctx, all, (size_t)n + 1);
  LLVMMetadataReplaceAllUsesWith(tmp, node);
  return node;
}

/* The storage a value is read from or written to (a view reads its operand's). */
static const Value *storage_root(Gen *g, const Value *v) {
  if (is_view(g, v)) v = v->def->args[0];
  return plan_root(g->plan, v);
}

static LLVMMetadataRef scope_for(Gen *g, const Value *root) {
  LLVMMetadataRef s = pm_get(&g->scope_of, root);
  if (s) return s;
  if (!g->alias_domain) {
    static const char name[] = "nnc buffers"; /* names it in --emit=llvm-ir */
    LLVMMetadataRef str = LLVMMDStringInContext2(g->ctx, name, sizeof name - 1);
    g->alias_domain = self_node(g, &str, 1);
  }
  s = self_node(g, &g->alias_domain, 1);
  pm_put(&g->scope_of, root, s);
  return s;
}


/* Start an elementwise nest that writes `outs` (the plan guarantees that
 * nothing it reads at another element shares their storage, and that
 * the same element is read before it is written). */
static void acc_begin(Gen *g, const Value *const *outs, int n) {
  g->acc.n = 0;
  for (int i = 0; i < n && g->acc.n < 32; i++) {
    const Value *r = plan_root(g->plan, outs[i]);
    g->acc.roots[g->acc.n] = r;
    /* the range now: compute_inst views its root as unstored meanwhile */
    storage_range(g, r, &g->acc.buf[g->acc.n], &g->acc.lo[g->acc.n], &g->acc.hi[g->acc.n]);
    g->acc.scopes[g->acc.n++] = scope_for(g, r);
  }
}
static void acc_end(Gen *g) { g->acc.n = 0; }

static void set_md(Gen *g, LLVMValueRef inst, const char *kind, LLVMMetadataRef *nodes, int n) {
  if (!n) return;
  unsigned id = LLVMGetMDKindIDInContext(g->ctx, kind, (unsigned)strlen(kind));
  LLVMSetMetadata(inst, id, LLVMMetadataAsValue(g->ctx, LLVMMDNodeInContext2(g->ctx, nodes, (size_t)n)));
}

/* The buffer (-1: the workspace) and byte range that root's storage
 * occupies (a tape row: its whole tape). */
void storage_range(Gen *g, const Value *root, int *buf, size_t *lo, size_t *hi) {
  const ValPlan *vp = plan_of(g->plan, root);
  while (vp->kind == ST_ROW) {
    root = plan_root(g->plan, vp->alias);
    vp = plan_of(g->plan, root);
  }
  *buf = vp->kind == ST_WS ? -1 : vp->kind == ST_ARG ? vp->index : vp->kind == ST_RESULT ? result_slot(g, vp->index) : -2;
  *lo = vp->kind == ST_WS ? vp->offset : 0;
  *hi = *lo + type_bytes(&root->ty);
}

/* Can b's storage overlap the nest's write i (its range taken at acc_begin)? */
static bool may_overlap(Gen *g, int i, const Value *b) {
  int ba = g->acc.buf[i], bb;
  size_t la = g->acc.lo[i], ha = g->acc.hi[i], lb, hb;
  storage_range(g, b, &bb, &lb, &hb);
  return ba == -2 || bb == -2 || (ba == bb && la < hb && lb < ha);
}

/* A load from (or, with `store`, a store to) root's storage inside an
 * elementwise nest: no alias with the nest's writes whose storage it does
 * not share (a value read at the element being written may share it:
 * in place, or stored over one that died earlier in the group). */
static void acc_mark(Gen *g, LLVMValueRef inst, const Value *root, bool store) {
  if (!g->acc.n || !LLVMIsAInstruction(inst)) return;
  LLVMMetadataRef other[32];
  int n = 0, self = -1;
  for (int i = 0; i < g->acc.n; i++) {
    if (g->acc.roots[i] == root) self = i;
    else if (!may_overlap(g, i, root)) other[n++] = g->acc.scopes[i];
  }
  if (store && self >= 0) set_md(g, inst, "alias.scope", &g->acc.scopes[self], 1);
  set_md(g, inst, "noalias", other, n);
}

/* Emit at the nest's preheader (g->nest_pre, see Gen), before its
 * branch into the loop, until pre_end. */
static LLVMBuilderRef pre_begin(Gen *g) {
  LLVMBuilderRef saved = g->b;
  g->b = LLVMCreateBuilderInContext(g->ctx);
  LLVMPositionBuilderBefore(g->b, g->nest_pre);
  return saved;
}

static void pre_end(Gen *g, LLVMBuilderRef saved) {
  LLVMDisposeBuilder(g->b);
  g->b = saved;
}

static LLVMValueRef leaf(Gen *g, const Value *v, Nest *n);

/* A scalar leaf (and its view's position) does not change in the nest:
 * load it once, before the nest's loops. */
static LLVMValueRef leaf_invariant(Gen *g, const Value *v, Nest *n) {
  LLVMValueRef pre = g->nest_pre;
  LLVMBuilderRef saved = pre_begin(g);
  g->nest_pre = NULL;
  int acc = g->acc.n;
  g->acc.n = 0; /* before the nest: no store of it to order against */
  LLVMValueRef x = leaf(g, v, n);
  g->acc.n = acc;
  g->nest_pre = pre;
  pre_end(g, saved);
  return x;
}

/* Read a materialized value (or through a view) at the nest's position. */
static LLVMValueRef leaf(Gen *g, const Value *v, Nest *n) {
  LLVMValueRef r = pm_get(&g->reg, v);
  if (r) return r;
  if (v->ty.rank == 0 && g->nest_pre) return leaf_invariant(g, v, n);
  bool view = is_view(g, v);
  LLVMValueRef base = base_ptr(g, view ? v->def->args[0] : v);
  LLVMValueRef off0 = NULL;
  if (view && g->nest_pre && v->def->op == OP_DYN_SLICE) {
    LLVMValueRef pre = g->nest_pre;
    LLVMBuilderRef saved = pre_begin(g);
    g->nest_pre = NULL;
    off0 = view_offset(g, v);
    g->nest_pre = pre;
    pre_end(g, saved);
  } else if (view) {
    off0 = view_offset(g, v);
  }
  LLVMValueRef off;
  if (v->ty.rank == 0) {
    off = g_i64(g, 0);
  } else if (n->flat) {
    if (view) die("backend: a view read by a flat loop");
    off = n->flat_idx;
  } else {
    int64_t st[MAX_RANK];
    if (n->collapsed) {
      int64_t full[MAX_RANK];
      leaf_strides(g, &n->orig, v, full);
      for (int k = 0; k < n->space.rank; k++) st[k] = full[n->group_last[k]];
    } else {
      leaf_strides(g, &n->space, v, st);
    }
    off = offset_of(g, n, st);
  }
  if (off0) off = LLVMBuildAdd(g->b, off, off0, "");
  LLVMValueRef x = load_elem(g, base, v->ty.dtype, off);
  if (g->acc.n) acc_mark(g, v->ty.dtype == TY_BOOL ? LLVMGetOperand(x, 0) : x, storage_root(g, v), false);
  return x;
}

static LLVMValueRef fneg_or_ineg(Gen *g, LLVMValueRef x, DType dt) {
  return dtype_is_float(dt) ? LLVMBuildFNeg(g->b, x, "") : LLVMBuildNeg(g->b, x, "");
}

static LLVMValueRef cast_value(Gen *g, LLVMValueRef x, DType from, DType to) {
  if (from == to) return x;
  LLVMTypeRef t = g_reg_type(g, to);
  if (to == TY_BOOL) {
    if (dtype_is_float(from)) return LLVMBuildFCmp(g->b, LLVMRealUNE, x, LLVMConstReal(g_reg_type(g, from), 0.0), "");
    return LLVMBuildICmp(g->b, LLVMIntNE, x, LLVMConstInt(g_reg_type(g, from), 0, 0), "");
  }
  if (from == TY_BOOL) return dtype_is_float(to) ? LLVMBuildUIToFP(g->b, x, t, "") : LLVMBuildZExt(g->b, x, t, "");
  if (dtype_is_float(from) && dtype_is_float(to))
    return to == TY_F64 ? LLVMBuildFPExt(g->b, x, t, "") : LLVMBuildFPTrunc(g->b, x, t, "");
  if (dtype_is_float(from)) { /* saturating, NaN -> 0: the interpreter's rule */
    unsigned id = LLVMLookupIntrinsicID("llvm.fptosi.sat", 15);
    LLVMTypeRef ov[2] = {t, g_reg_type(g, from)};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, ov, 2);
    return LLVMBuildCall2(g->b, LLVMIntrinsicGetType(g->ctx, id, ov, 2), fn, &x, 1, "");
  }
  return LLVMBuildSIToFP(g->b, x, t, "");
}

static LLVMValueRef binary(Gen *g, Op op, LLVMValueRef a, LLVMValueRef b, DType dt) {
  bool fl = dtype_is_float(dt);
  LLVMBuilderRef B = g->b;
  switch (op) {
  case OP_ADD: return fl ? LLVMBuildFAdd(B, a, b, "") : LLVMBuildAdd(B, a, b, "");
  case OP_SUB: return fl ? LLVMBuildFSub(B, a, b, "") : LLVMBuildSub(B, a, b, "");
  case OP_MUL: return fl ? LLVMBuildFMul(B, a, b, "") : LLVMBuildMul(B, a, b, "");
  case OP_DIV:
    if (fl) return LLVMBuildFDiv(B, a, b, "");
    {
      /* integer division by zero gives 0 instead of trapping */
      LLVMValueRef z = LLVMBuildICmp(B, LLVMIntEQ, b, g_i32(g, 0), "");
      LLVMValueRef safe = LLVMBuildSelect(B, z, g_i32(g, 1), b, "");
      return LLVMBuildSelect(B, z, g_i32(g, 0), LLVMBuildSDiv(B, a, safe, ""), "");
    }
  case OP_POW: return lm_pow(g, a, b, dt);
  case OP_MAX:
  case OP_MIN:
    if (fl) {
      LLVMValueRef c = LLVMBuildFCmp(B, op == OP_MAX ? LLVMRealOGT : LLVMRealOLT, a, b, "");
      LLVMValueRef nan = LLVMBuildFCmp(B, LLVMRealUNO, a, a, "");
      return LLVMBuildSelect(B, LLVMBuildOr(B, c, nan, ""), a, b, "");
    }
    return LLVMBuildSelect(B, LLVMBuildICmp(B, op == OP_MAX ? LLVMIntSGT : LLVMIntSLT, a, b, ""), a, b, "");
  case OP_LT: return fl ? LLVMBuildFCmp(B, LLVMRealOLT, a, b, "") : LLVMBuildICmp(B, LLVMIntSLT, a, b, "");
  case OP_LE: return fl ? LLVMBuildFCmp(B, LLVMRealOLE, a, b, "") : LLVMBuildICmp(B, LLVMIntSLE, a, b, "");
  case OP_GT: return fl ? LLVMBuildFCmp(B, LLVMRealOGT, a, b, "") : LLVMBuildICmp(B, LLVMIntSGT, a, b, "");
  case OP_GE: return fl ? LLVMBuildFCmp(B, LLVMRealOGE, a, b, "") : LLVMBuildICmp(B, LLVMIntSGE, a, b, "");
  case OP_EQ: return fl ? LLVMBuildFCmp(B, LLVMRealOEQ, a, b, "") : LLVMBuildICmp(B, LLVMIntEQ, a, b, "");
  case OP_NE: return fl ? LLVMBuildFCmp(B, LLVMRealUNE, a, b, "") : LLVMBuildICmp(B, LLVMIntNE, a, b, "");
  case OP_AND: return LLVMBuildAnd(B, a, b, "");
  case OP_OR: return LLVMBuildOr(B, a, b, "");
  default: die("backend: not a binary op: %s", op_info[op].name);
  }
}

static LLVMValueRef unary(Gen *g, Op op, LLVMValueRef x, DType dt) {
  LLVMBuilderRef B = g->b;
  bool fl = dtype_is_float(dt);
  LLVMTypeRef t = g_reg_type(g, dt);
  switch (op) {
  case OP_NEG: return fneg_or_ineg(g, x, dt);
  case OP_EXP: return lm_exp(g, x, dt);
  case OP_LOG: return lm_log(g, x, dt);
  case OP_SQRT: return g_intrinsic(g, "llvm.sqrt", t, &x, 1);
  case OP_RSQRT: return LLVMBuildFDiv(B, g_fconst(g, dt, 1.0), g_intrinsic(g, "llvm.sqrt", t, &x, 1), "");
  case OP_ABS:
    if (fl) return g_intrinsic(g, "llvm.fabs", t, &x, 1);
    return LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntSLT, x, g_i32(g, 0), ""), LLVMBuildNeg(B, x, ""), x, "");
  case OP_SIGN: {
    LLVMValueRef pos = fl ? LLVMBuildFCmp(B, LLVMRealOGT, x, g_fconst(g, dt, 0), "") : LLVMBuildICmp(B, LLVMIntSGT, x, g_i32(g, 0), "");
    LLVMValueRef neg = fl ? LLVMBuildFCmp(B, LLVMRealOLT, x, g_fconst(g, dt, 0), "") : LLVMBuildICmp(B, LLVMIntSLT, x, g_i32(g, 0), "");
    return LLVMBuildSelect(B, pos, constant(g, dt, 1), LLVMBuildSelect(B, neg, constant(g, dt, -1), constant(g, dt, 0), ""), "");
  }
  case OP_TANH: return lm_tanh(g, x, dt);
  case OP_SIGMOID: return lm_sigmoid(g, x, dt);
  case OP_RELU:
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, x, g_fconst(g, dt, 0), ""), x, g_fconst(g, dt, 0), "");
  case OP_GELU: return lm_gelu(g, x, dt);
  case OP_NOT: return LLVMBuildNot(B, x, "");
  case OP_STOP_GRADIENT: return x;
  default: die("backend: not a unary op: %s", op_info[op].name);
  }
}

static LLVMValueRef expr(Gen *g, const Value *v, Nest *n) {
  LLVMValueRef r = pm_get(&g->reg, v);
  if (r) return r;
  if (!plan_fused(g->plan, v) || !v->def || is_view(g, v)) return leaf(g, v, n);
  const Inst *in = v->def;
  DType dt = v->ty.dtype;
  switch (in->op) {
  case OP_CONST: return constant(g, dt, in->attr.f);
  case OP_IOTA: return LLVMBuildTrunc(g->b, n->idx[in->attr.i[0]], g->t_i32, "");
  case OP_BROADCAST: return expr(g, in->args[0], n);
  case OP_CAST: return cast_value(g, expr(g, in->args[0], n), in->args[0]->ty.dtype, dt);
  case OP_SELECT: {
    LLVMValueRef c = expr(g, in->args[0], n), a = expr(g, in->args[1], n), b = expr(g, in->args[2], n);
    return LLVMBuildSelect(g->b, c, a, b, "");
  }
  case OP_ONE_HOT: {
    const Value *idx = in->args[0];
    int r0 = v->ty.rank - 1;
    int64_t st[MAX_RANK];
    type_strides(&idx->ty, st);
    LLVMValueRef off = g_i64(g, 0);
    for (int k = 0; k < r0; k++) off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, n->idx[k], g_i64(g, st[k]), ""), "");
    LLVMValueRef want = load_elem(g, base_ptr(g, idx), TY_I32, off);
    LLVMValueRef c = LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildTrunc(g->b, n->idx[r0], g->t_i32, ""), want, "");
    return LLVMBuildUIToFP(g->b, c, g_reg_type(g, dt), "");
  }
  case OP_RNG_UNIFORM: {
    LLVMValueRef seed = LLVMBuildSExt(g->b, expr(g, in->args[0], n), g->t_i64, "");
    LLVMValueRef u;
    if (rng_over_rows(g, &v->ty)) { /* the counter of the global batch's row (rt_rand_uniform_rows) */
      LLVMTypeRef ps[5] = {g->t_ptr, g->t_i64, g->t_i64, g->t_i64, g->t_i64};
      int64_t row = type_numel(&v->ty) / (v->ty.dim[0] ? v->ty.dim[0] : 1);
      LLVMValueRef args[5] = {slot_ptr(g, ctx_slot(g)), seed, g_i64(g, in->attr.i[0]), n->flat_idx, g_i64(g, row)};
      u = g_call(g, "rt_rand_uniform_rows", g->t_f32, ps, 5, args);
    } else {
      LLVMTypeRef ps[3] = {g->t_i64, g->t_i64, g->t_i64};
      LLVMValueRef args[3] = {seed, g_i64(g, in->attr.i[0]), n->flat_idx};
      u = g_call(g, "rt_rand_uniform", g->t_f32, ps, 3, args);
    }
    return dt == TY_F64 ? LLVMBuildFPExt(g->b, u, g->t_f64, "") : u;
  }
  default:
    break;
  }
  if (in->nargs == 1) return unary(g, in->op, expr(g, in->args[0], n), in->args[0]->ty.dtype == TY_BOOL ? TY_BOOL : dt);
  if (in->nargs == 2) {
    DType odt = in->args[0]->ty.dtype;
    return binary(g, in->op, expr(g, in->args[0], n), expr(g, in->args[1], n), odt);
  }
  die("backend: cannot compute %s inline", op_info[in->op].name);
}

/* Can the tree under v be computed with one flat loop over `space`? */
static bool flat_ok(Gen *g, const Value *v, const Type *space) {
  if (pm_get(&g->reg, v)) return true;
  if (is_view(g, v)) return false;
  if (!plan_fused(g->plan, v) || !v->def) return v->ty.rank == 0 || shape_eq(&v->ty, space);
  const Inst *in = v->def;
  if (in->op == OP_CONST) return true;
  if (in->op == OP_IOTA || in->op == OP_ONE_HOT) return false;
  for (int i = 0; i < in->nargs; i++)
    if (!flat_ok(g, in->args[i], space)) return false;
  return true;
}

/* The value an elementwise instruction computes, given its operands. */
static LLVMValueRef compute_inst(Gen *g, const Inst *in, Nest *n) {
  /* the instruction itself is the root: evaluate as if fused */
  const Value *v = in->res[0];
  DType dt = v->ty.dtype;
  switch (in->op) {
  case OP_CONST: return constant(g, dt, in->attr.f);
  default: break;
  }
  /* reuse expr() by temporarily viewing the root as fused */
  LLVMValueRef r;
  ValPlan *vp = (ValPlan *)plan_of(g->plan, v);
  ValPlan saved = *vp;
  vp->kind = ST_NONE;
  r = expr(g, v, n);
  *vp = saved;
  return r;
}

/* ---- instruction lowering ------------------------------------------------------------ */

/* ---- parallel loops ------------------------------------------------------------- */

/* Loops of less work than this (elements x elem_work) run on the calling thread. */
#define PAR_MIN_ELEMS 65536

typedef void (*RangeBody)(Gen *g, Inst *in, void *arg);

/* Emit `body` (a loop nest whose outermost loop has `n` iterations of
 * `per` elements each) either inline, or outlined into a task function
 * `void task(ctx, begin, end, thread)` run by rt_parallel_for over [0, n).
 * The task gets the workspace, buffers and pool pointers and every live
 * loop index through a context struct; chunks write disjoint outputs, so
 * results do not depend on the thread count. */
static void par_range(Gen *g, Inst *in, int64_t n, LLVMValueRef nv, int64_t per, RangeBody body, void *arg) {
  long min = g->opts->par_min > 0 ? g->opts->par_min : PAR_MIN_ELEMS;
  if (n < 2 || n * per < min) {
    body(g, in, arg);
    return;
  }
  /* the context: ws, bufs, pool, then the i32 loop indices in scope */
  const Value *keys[MAX_RANK * 4];
  LLVMValueRef vals[MAX_RANK * 4];
  int nr = 0;
  for (int i = 0; i < g->nin_scope; i++) keys[nr] = g->in_scope[i], vals[nr++] = pm_get(&g->reg, g->in_scope[i]);
  LLVMTypeRef fields[3 + MAX_RANK * 4];
  fields[0] = fields[1] = fields[2] = g->t_ptr;
  for (int i = 0; i < nr; i++) fields[3 + i] = g->t_i32;
  LLVMTypeRef ctx_t = LLVMStructTypeInContext(g->ctx, fields, (unsigned)(3 + nr), 0);
  /* the task */
  LLVMTypeRef ps[4] = {g->t_ptr, g->t_i64, g->t_i64, g->t_i32};
  LLVMValueRef task = LLVMAddFunction(g->mod, "task", LLVMFunctionType(g->t_void, ps, 4, 0));
  LLVMSetLinkage(task, LLVMInternalLinkage);
  Gen saved = *g;
  LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
  g->fn = task;
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, task, "entry"));
  g->entry_alloca_point = LLVMBuildAlloca(g->b, g->t_i8, "allocas");
  LLVMValueRef c = LLVMGetParam(task, 0);
  LLVMValueRef loaded[3 + MAX_RANK * 4];
  for (int i = 0; i < 3 + nr; i++)
    loaded[i] = LLVMBuildLoad2(g->b, fields[i], LLVMBuildStructGEP2(g->b, ctx_t, c, (unsigned)i, ""), "");
  g->ws = loaded[0];
  g->bufs = loaded[1];
  g->hoist_point = LLVMBuildAlloca(g->b, g->t_i8, "hoist");
  pm_init(&g->bufptr, g->a);
  g->pool = LLVMConstNull(g->t_ptr); /* kernels inside a task run serially */
  pm_init(&g->reg, g->a);
  for (int i = 0; i < nr; i++) pm_put(&g->reg, keys[i], loaded[3 + i]); /* in_scope stays as it is */
  g->range_lo = LLVMGetParam(task, 1);
  g->range_hi = LLVMGetParam(task, 2);
  body(g, in, arg);
  LLVMBuildRetVoid(g->b);
  /* back in the function: fill the context and run the task */
  LLVMValueRef keep_pool = saved.pool;
  PtrMap scopes = g->scope_of; /* alias scopes are per module: keep what the task added */
  LLVMMetadataRef domain = g->alias_domain;
  *g = saved;
  g->scope_of = scopes;
  g->alias_domain = domain;
  LLVMPositionBuilderAtEnd(g->b, here);
  LLVMValueRef cx = alloca_entry(g, ctx_t);
  LLVMValueRef pool_ptr = keep_pool;
  LLVMBuildStore(g->b, g->ws, LLVMBuildStructGEP2(g->b, ctx_t, cx, 0, ""));
  LLVMBuildStore(g->b, g->bufs, LLVMBuildStructGEP2(g->b, ctx_t, cx, 1, ""));
  LLVMBuildStore(g->b, pool_ptr, LLVMBuildStructGEP2(g->b, ctx_t, cx, 2, ""));
  for (int i = 0; i < nr; i++) LLVMBuildStore(g->b, vals[i], LLVMBuildStructGEP2(g->b, ctx_t, cx, (unsigned)(3 + i), ""));
  int64_t grain = (min / 4 + per - 1) / per;
  LLVMTypeRef cps[5] = {g->t_ptr, g->t_i64, g->t_i64, g->t_ptr, g->t_ptr};
  LLVMValueRef cargs[5] = {g->pool, nv, g_i64(g, grain < 1 ? 1 : grain), task, cx};
  g_call(g, "rt_parallel_for", g->t_void, cps, 5, cargs);
}

/* The materialized values a fused tree reads; false if the tree needs the
 * full multi-index (iota, one_hot, rng). */
static bool tree_leaves(Gen *g, const Value *v, const Value **out, int *n, int cap) {
  if (pm_get(&g->reg, v)) return true;
  if (!plan_fused(g->plan, v) || !v->def || is_view(g, v)) {
    if (v->ty.rank && *n < cap) out[(*n)++] = v;
    return *n < cap;
  }
  const Inst *in = v->def;
  if (in->op == OP_IOTA || in->op == OP_ONE_HOT || in->op == OP_RNG_UNIFORM) return false;
  for (int i = 0; i < in->nargs; i++)
    if (!tree_leaves(g, in->args[i], out, n, cap)) return false;
  return true;
}

/* Work per element of an instruction computed in a loop, with the fused
 * trees it reads, in units of one add: a transcendental (lowered to a
 * polynomial, llvm_math.c) counts as ELEM_COST_MATH. par_range compares
 * elements x work with its threshold, so an LSTM step's gates (B*H
 * elements, five sigmoids and tanhs each) run on every thread while a
 * bias add of the same size does not. */
#define ELEM_COST_MATH 16
static int64_t elem_work(Gen *g, const Inst *in, int depth) {
  int64_t w;
  switch (in->op) {
  case OP_EXP: case OP_LOG: case OP_TANH: case OP_SIGMOID: case OP_GELU: case OP_POW: w = ELEM_COST_MATH; break;
  case OP_DIV: case OP_SQRT: case OP_RSQRT: w = 4; break;
  default: w = 1;
  }
  for (int i = 0; i < in->nargs && depth < 32; i++) {
    const Value *a = in->args[i];
    if (!pm_get(&g->reg, a) && plan_fused(g->plan, a) && a->def && !is_view(g, a)) w += elem_work(g, a->def, depth + 1);
  }
  return w;
}

/* Merge adjacent axes that every leaf reads with strides consistent with
 * one longer axis (both broadcast, or contiguous across the boundary), so
 * inner loops get long: [64,32,28,28] + bias[1,32,1,1] runs as [64,32,784].
 * With `only` set, only axes k-1, k with only[k-1] && only[k] merge. */
static bool plan_collapse(Gen *g, Nest *n, const Type *space, const Value **leaves, int nl, const bool *only) {
  int r = space->rank;
  if (r < 2) return false;
  bool fits[MAX_RANK]; /* fits[k]: every leaf reads axes k-1, k as one */
  for (int k = 0; k < r; k++) fits[k] = k > 0;
  for (int l = 0; l < nl; l++) {
    int64_t st[MAX_RANK];
    leaf_strides(g, space, leaves[l], st);
    for (int k = 1; k < r; k++) fits[k] = fits[k] && st[k - 1] == st[k] * space->dim[k];
  }
  Type c = type_scalar(space->dtype);
  int groups = 0;
  for (int k = 0; k < r; k++) {
    bool merge = fits[k] && (!only || (only[k - 1] && only[k]));
    if (axis_dyn(space, k)) merge = false; /* a run-time axis leads its group (dim_val) */
    if (merge) {
      c.dim[groups - 1] *= space->dim[k];
      n->group_last[groups - 1] = k;
    } else {
      c.dim[groups] = space->dim[k];
      if (axis_dyn(space, k)) c.dyn |= 1u << groups;
      n->group_last[groups] = k;
      groups++;
    }
  }
  c.rank = groups;
  if (groups == r) return false;
  n->orig = *space;
  n->space = c;
  return true;
}

/* How an elementwise instruction's loop nest is laid out. */
typedef struct ElemPlan {
  bool flat, collapsed;
  Type space, orig;
  int group_last[MAX_RANK];
} ElemPlan;

/* Open the loop nest ep lays out (its collapsed axes, when it has them). */
static void elem_nest_begin(Gen *g, Nest *n, const ElemPlan *ep) {
  memset(n, 0, sizeof *n);
  nest_begin(g, n, &ep->space, ep->flat);
  if (ep->collapsed) {
    n->collapsed = true;
    n->orig = ep->orig;
    memcpy(n->group_last, ep->group_last, sizeof n->group_last);
  }
}

static void elementwise_body(Gen *g, Inst *in, void *arg) {
  const ElemPlan *ep = arg;
  const Value *v = in->res[0];
  LLVMValueRef dst = base_ptr(g, v);
  Nest n;
  elem_nest_begin(g, &n, ep);
  acc_begin(g, &v, 1);
  LLVMValueRef x = compute_inst(g, in, &n);
  acc_mark(g, store_elem(g, dst, v->ty.dtype, n.flat_idx, x), plan_root(g->plan, v), true);
  acc_end(g);
  nest_end(g, &n);
}

/* The run-time iteration count of a nest's outermost loop (parallel chunks split it). */
static LLVMValueRef outer_count(Gen *g, const ElemPlan *ep) {
  if (ep->space.rank == 0) return g_i64(g, 1);
  return ep->flat ? numel_val(g, &ep->space) : dim_val(g, &ep->space, 0);
}

static void lower_elementwise(Gen *g, Inst *in) {
  const Value *v = in->res[0];
  bool flat = true;
  for (int i = 0; i < in->nargs; i++) flat &= flat_ok(g, in->args[i], &v->ty);
  if (in->op == OP_IOTA || in->op == OP_ONE_HOT) flat = false;
  if (in->op == OP_BROADCAST) flat = shape_eq(&in->args[0]->ty, &v->ty) || in->args[0]->ty.rank == 0;
  ElemPlan ep;
  memset(&ep, 0, sizeof ep);
  ep.space = v->ty;
  ep.flat = flat || v->ty.rank == 0;
  const Value *leaves[64];
  int nl = 0;
  bool ok = !flat && in->op != OP_IOTA && in->op != OP_ONE_HOT && in->op != OP_RNG_UNIFORM;
  for (int i = 0; ok && i < in->nargs; i++) ok = tree_leaves(g, in->args[i], leaves, &nl, 64);
  Nest probe;
  memset(&probe, 0, sizeof probe);
  if (ok && plan_collapse(g, &probe, &v->ty, leaves, nl, NULL)) {
    ep.collapsed = true;
    ep.space = probe.space;
    ep.orig = probe.orig;
    memcpy(ep.group_last, probe.group_last, sizeof ep.group_last);
  }
  int64_t outer = ep.flat ? type_numel(&ep.space) : ep.space.dim[0];
  int64_t per = ep.flat ? 1 : type_numel(&ep.space) / (outer ? outer : 1);
  if (ep.space.rank == 0) outer = 1;
  par_range(g, in, outer, outer_count(g, &ep), per * elem_work(g, in, 0), elementwise_body, &ep);
}

static void set_reassoc(Gen *g, LLVMValueRef inst) {
  if (LLVMIsAInstruction(inst) && LLVMCanValueUseFastMathFlags(inst))
    LLVMSetFastMathFlags(inst, LLVMFastMathAllowReassoc | (g->opts->fast_math ? LLVMFastMathAll : 0));
}

static LLVMValueRef reduce_step(Gen *g, Op op, LLVMValueRef acc, LLVMValueRef x, DType dt) {
  if (op == OP_REDUCE_SUM) {
    LLVMValueRef r = dtype_is_float(dt) ? LLVMBuildFAdd(g->b, acc, x, "") : LLVMBuildAdd(g->b, acc, x, "");
    set_reassoc(g, r);
    return r;
  }
  /* max/min: NaN wins, like the interpreter. llvm.maximum/minimum
   * propagate NaN too and, unlike compare-and-select, the loop vectorizer
   * turns them into vector reductions (they differ from the interpreter
   * only in which of -0 and +0 they return, and the two compare equal). */
  if (dtype_is_float(dt)) {
    LLVMValueRef args[2] = {acc, x};
    return g_intrinsic(g, op == OP_REDUCE_MAX ? "llvm.maximum" : "llvm.minimum", g_reg_type(g, dt), args, 2);
  }
  return binary(g, op == OP_REDUCE_MAX ? OP_MAX : OP_MIN, x, acc, dt);
}

static double reduce_init(Op op) {
  return op == OP_REDUCE_SUM ? 0.0 : op == OP_REDUCE_MAX ? -__builtin_inf() : __builtin_inf();
}

static void reduce_stationary(Gen *g, Inst *in, void *arg);
static void reduce_streaming(Gen *g, Inst *in, const bool *red, const int64_t *ost);

static void lower_reduce(Gen *g, Inst *in) {
  const Value *x = in->args[0], *v = in->res[0];
  const Type *X = &x->ty;
  bool red[MAX_RANK] = {0};
  if (in->op == OP_ARGMAX) red[in->attr.i[0]] = true;
  else
    for (int k = 0; k < in->attr.ni; k++) red[in->attr.i[k]] = true;
  /* output strides indexed by X's axes (0 on reduced axes) */
  int64_t ost[MAX_RANK], vst[MAX_RANK];
  type_strides(&v->ty, vst);
  for (int k = 0, j = 0; k < X->rank; k++) ost[k] = red[k] ? 0 : vst[j++];
  bool last_reduced = X->rank > 0 && red[X->rank - 1];
  if (in->op == OP_ARGMAX || last_reduced) {
    /* output-stationary, parallel over the outermost kept axis */
    int first_kept = -1;
    for (int k = 0; k < X->rank && first_kept < 0; k++)
      if (!red[k]) first_kept = k;
    if (first_kept < 0) {
      reduce_stationary(g, in, NULL);
    } else {
      int64_t outer = X->dim[first_kept];
      par_range(g, in, outer, dim_val(g, X, first_kept), type_numel(X) / outer, reduce_stationary, NULL);
    }
    return;
  }
  reduce_streaming(g, in, red, ost);
}

/* Output-stationary: loops over the kept axes, then the reduced ones, with a
 * register accumulator; each output element is summed by one thread in a
 * fixed order. */
static void reduce_stationary(Gen *g, Inst *in, void *arg) {
  (void)arg;
  const Value *x = in->args[0], *v = in->res[0];
  const Type *X = &x->ty;
  DType dt = v->ty.dtype;
  bool red[MAX_RANK] = {0};
  if (in->op == OP_ARGMAX) red[in->attr.i[0]] = true;
  else
    for (int k = 0; k < in->attr.ni; k++) red[in->attr.i[k]] = true;
  LLVMValueRef dst = base_ptr(g, v);
  int64_t ost[MAX_RANK], vst[MAX_RANK];
  type_strides(&v->ty, vst);
  for (int k = 0, j = 0; k < X->rank; k++) ost[k] = red[k] ? 0 : vst[j++];
  {
    /* The loops run over S: X with adjacent reduced axes that every leaf
     * of x's tree reads as one longer axis merged (a bias gradient over
     * [64,32,14,14] sums rows of 196, not of 14); rs/os: S's reduced flags
     * and output strides. Kept axes stay apart (the parallel split is over
     * the first of them). */
    Nest n;
    memset(&n, 0, sizeof n);
    n.space = *X;
    n.flat = false;
    const Value *leaves[64];
    int nl = 0;
    if (in->op != OP_ARGMAX && tree_leaves(g, x, leaves, &nl, 64) && plan_collapse(g, &n, X, leaves, nl, red))
      n.collapsed = true;
    else
      for (int k = 0; k < X->rank; k++) n.group_last[k] = k;
    const Type S = n.space;
    const int *glast = n.group_last;
    bool rs[MAX_RANK];
    int64_t os[MAX_RANK];
    for (int k = 0; k < S.rank; k++) rs[k] = red[glast[k]], os[k] = ost[glast[k]];
    int order[MAX_RANK], no = 0;
    for (int k = 0; k < S.rank; k++)
      if (!rs[k]) order[no++] = k;
    int nkept = no;
    for (int k = 0; k < S.rank; k++)
      if (rs[k]) order[no++] = k;
    LLVMValueRef acc = alloca_entry(g, g_reg_type(g, in->op == OP_ARGMAX ? x->ty.dtype : dt));
    LLVMValueRef best_i = in->op == OP_ARGMAX ? alloca_entry(g, g->t_i32) : NULL;
    struct { LLVMBasicBlockRef h, e; LLVMValueRef iv; } lp[MAX_RANK];
    for (int q = 0; q < no; q++) {
      if (q == nkept) {
        LLVMBuildStore(g->b, in->op == OP_ARGMAX ? constant(g, x->ty.dtype, 0) : constant(g, dt, reduce_init(in->op)), acc);
        if (best_i) LLVMBuildStore(g->b, g_i32(g, 0), best_i);
      }
      int k = order[q];
      if (q == 0 && nkept > 0) outer_loop(g, dim_val(g, &S, k), &lp[q].h, &lp[q].e, &lp[q].iv);
      else g_loop_begin(g, dim_val(g, &S, k), &lp[q].h, &lp[q].e, &lp[q].iv);
      n.idx[k] = lp[q].iv;
    }
    if (nkept == no) { /* nothing reduced (not generated, but keep it correct) */
      LLVMBuildStore(g->b, constant(g, dt, reduce_init(in->op)), acc);
    }
    {
      int64_t xst[MAX_RANK];
      type_strides(X, xst);
      for (int k = 0; k < S.rank; k++) xst[k] = xst[glast[k]];
      n.flat_idx = offset_of(g, &n, xst); /* rng_uniform numbers elements by it */
    }
    LLVMValueRef val = expr(g, x, &n);
    LLVMValueRef cur = LLVMBuildLoad2(g->b, g_reg_type(g, in->op == OP_ARGMAX ? x->ty.dtype : dt), acc, "");
    if (in->op == OP_ARGMAX) {
      int64_t ax = in->attr.i[0];
      LLVMValueRef first = LLVMBuildICmp(g->b, LLVMIntEQ, n.idx[ax], g_i64(g, 0), "");
      LLVMValueRef better = dtype_is_float(x->ty.dtype) ? LLVMBuildFCmp(g->b, LLVMRealOGT, val, cur, "")
                                                        : LLVMBuildICmp(g->b, LLVMIntSGT, val, cur, "");
      LLVMValueRef take = LLVMBuildOr(g->b, first, better, "");
      LLVMBuildStore(g->b, LLVMBuildSelect(g->b, take, val, cur, ""), acc);
      LLVMValueRef bi = LLVMBuildLoad2(g->b, g->t_i32, best_i, "");
      LLVMBuildStore(g->b, LLVMBuildSelect(g->b, take, LLVMBuildTrunc(g->b, n.idx[ax], g->t_i32, ""), bi, ""), best_i);
    } else {
      LLVMBuildStore(g->b, reduce_step(g, in->op, cur, val, dt), acc);
    }
    for (int q = no - 1; q >= 0; q--) {
      g_loop_end(g, lp[q].h, lp[q].e, lp[q].iv);
      if (q == nkept) {
        LLVMValueRef off = g_i64(g, 0);
        for (int j = 0; j < nkept; j++)
          off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, n.idx[order[j]], g_i64(g, os[order[j]]), ""), "");
        LLVMValueRef res = LLVMBuildLoad2(g->b, g_reg_type(g, in->op == OP_ARGMAX ? TY_I32 : dt), in->op == OP_ARGMAX ? best_i : acc, "");
        store_elem(g, dst, dt, off, res);
      }
    }
    if (nkept == 0 && no == 0) store_elem(g, dst, dt, g_i64(g, 0), LLVMBuildLoad2(g->b, g_reg_type(g, dt), acc, ""));
  }
}

/* Input-stationary: out = identity; out[o] = op(out[o], x[i]) in input
 * order (serial: chunks of the input would race on the outputs). */
static void reduce_streaming(Gen *g, Inst *in, const bool *red, const int64_t *ost) {
  (void)red;
  const Value *x = in->args[0], *v = in->res[0];
  const Type *X = &x->ty;
  DType dt = v->ty.dtype;
  LLVMValueRef dst = base_ptr(g, v);
  {
    Nest n;
    nest_begin(g, &n, &v->ty, true);
    store_elem(g, dst, dt, n.flat_idx, constant(g, dt, reduce_init(in->op)));
    nest_end(g, &n);
  }
  Nest n;
  nest_begin(g, &n, X, false);
  LLVMValueRef val = expr(g, x, &n);
  LLVMValueRef off = offset_of(g, &n, ost);
  LLVMValueRef cur = load_elem(g, dst, dt, off);
  store_elem(g, dst, dt, off, reduce_step(g, in->op, cur, val, dt));
  nest_end(g, &n);
}

static LLVMValueRef scalar_of(Gen *g, const Value *v) {
  Nest n;
  memset(&n, 0, sizeof n);
  n.space = type_scalar(v->ty.dtype);
  n.flat = true;
  n.flat_idx = g_i64(g, 0);
  return expr(g, v, &n);
}

/* A run-time position, clamped into [0, n). */
static LLVMValueRef position(Gen *g, const Value *v, int64_t n) {
  LLVMValueRef p = LLVMBuildSExt(g->b, scalar_of(g, v), g->t_i64, "");
  LLVMValueRef lo = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, p, g_i64(g, 0), ""), g_i64(g, 0), p, "");
  return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, lo, g_i64(g, n), ""), g_i64(g, n - 1), lo, "");
}

static void copy_value(Gen *g, const Value *dst, const Value *src) {
  if (same_storage(g, dst, src)) return;
  if (plan_fused(g->plan, src)) {
    /* a fused value (a constant): compute it into dst */
    LLVMValueRef d = base_ptr(g, dst);
    Nest n;
    nest_begin(g, &n, &dst->ty, true);
    store_elem(g, d, dst->ty.dtype, n.flat_idx, expr(g, src, &n));
    nest_end(g, &n);
    return;
  }
  copy_bytes_of(g, base_ptr(g, dst), base_ptr(g, src), &src->ty);
}

/* The rows before axis ax (a concat's or a dyn_slice's outer loop): the
 * product of the sizes before it, the run-time axis at the call's size
 * when it is the first (a later one keeps the bound: its padding rows are
 * copied too). */
static LLVMValueRef concat_outer(Gen *g, const Type *t, int ax, int64_t outer) {
  if (ax == 0 || !axis_dyn(t, 0)) return g_i64(g, outer);
  return LLVMBuildMul(g->b, dim_val(g, t, 0), g_i64(g, outer / t->dim[0]), "");
}

/* Zero the rows of t's run-time axis past the call's n (n * dyn_mul for a
 * merged axis) in t's storage at p, for every position of the axes before it. */
static void zero_padding(Gen *g, LLVMValueRef p, const Type *t) {
  int k = type_dyn_axis(t);
  int64_t outer = 1, inner = (int64_t)dtype_size(t->dtype);
  for (int i = 0; i < k; i++) outer *= t->dim[i];
  for (int i = k + 1; i < t->rank; i++) inner *= t->dim[i];
  LLVMValueRef rows = dim_val(g, t, k);
  LLVMValueRef len = LLVMBuildMul(g->b, LLVMBuildSub(g->b, g_i64(g, t->dim[k]), rows, ""), g_i64(g, inner), "");
  LLVMBasicBlockRef h, e;
  LLVMValueRef o;
  g_loop_begin(g, g_i64(g, outer), &h, &e, &o);
  LLVMValueRef row = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, o, g_i64(g, t->dim[k]), ""), rows, "");
  LLVMValueRef at = LLVMBuildGEP2(g->b, g->t_i8, p, (LLVMValueRef[]){LLVMBuildMul(g->b, row, g_i64(g, inner), "")}, 1, "");
  LLVMBuildMemSet(g->b, at, LLVMConstInt(g->t_i8, 0, 0), len, 1);
  g_loop_end(g, h, e, o);
}

static void lower_shape(Gen *g, Inst *in) {
  const Value *v = in->res[0];
  DType dt = v->ty.dtype;
  const ValPlan *vp = plan_of(g->plan, v);
  switch (in->op) {
  case OP_RESHAPE:
    return; /* an alias */
  case OP_TRANSPOSE: {
    const Value *x = in->args[0];
    int64_t xst[MAX_RANK], st[MAX_RANK];
    type_strides(&x->ty, xst);
    for (int k = 0; k < v->ty.rank; k++) st[k] = xst[in->attr.i[k]];
    LLVMValueRef src = base_ptr(g, x), dst = base_ptr(g, v);
    Nest n;
    nest_begin(g, &n, &v->ty, false);
    store_elem(g, dst, dt, n.flat_idx, load_elem(g, src, dt, offset_of(g, &n, st)));
    nest_end(g, &n);
    return;
  }
  case OP_SLICE:
  case OP_PAD:
  case OP_UPDATE_SLICE: {
    const Value *big = in->op == OP_SLICE ? in->args[0] : v;
    const Value *small = in->op == OP_SLICE ? v : in->op == OP_PAD ? in->args[0] : in->args[1];
    int r = big->ty.rank;
    int64_t bst[MAX_RANK], st[MAX_RANK], base_off = 0;
    type_strides(&big->ty, bst);
    for (int k = 0; k < r; k++) {
      st[k] = bst[k] * in->attr.i[r + k];
      base_off += in->attr.i[k] * bst[k];
    }
    LLVMValueRef bp = base_ptr(g, big), sp = base_ptr(g, small);
    if (in->op == OP_PAD && vp->inplace) { /* over its operand (plan.c pads_to_bound): zero the padding rows */
      zero_padding(g, bp, &small->ty);
      return;
    }
    if (in->op == OP_PAD) LLVMBuildMemSet(g->b, bp, LLVMConstInt(g->t_i8, 0, 0), bytes_val(g, &v->ty), 1);
    if (in->op == OP_UPDATE_SLICE && !vp->inplace) copy_value(g, v, in->args[0]);
    Nest n;
    nest_begin(g, &n, &small->ty, false);
    LLVMValueRef boff = LLVMBuildAdd(g->b, offset_of(g, &n, st), g_i64(g, base_off), "");
    if (in->op == OP_SLICE)
      store_elem(g, sp, dt, n.flat_idx, load_elem(g, bp, dt, boff));
    else
      store_elem(g, bp, dt, boff, expr(g, small, &n));
    nest_end(g, &n);
    return;
  }
  case OP_CONCAT: {
    int64_t ax = in->attr.i[0], outer = 1, inner = 1, off = 0;
    for (int i = 0; i < ax; i++) outer *= v->ty.dim[i];
    for (int i = (int)ax + 1; i < v->ty.rank; i++) inner *= v->ty.dim[i];
    LLVMValueRef dst = base_ptr(g, v);
    size_t es = dtype_size(dt);
    int64_t st[MAX_RANK];
    type_strides(&v->ty, st);
    for (int k = 0; k < in->nargs; k++) {
      const Value *p = in->args[k];
      int64_t len = p->ty.dim[ax];
      if (plan_fused(g->plan, p)) { /* computed here, into its columns (plan.c concat_computes) */
        Nest n;
        memset(&n, 0, sizeof n);
        nest_begin(g, &n, &p->ty, false);
        LLVMValueRef doff = LLVMBuildAdd(g->b, offset_of(g, &n, st), g_i64(g, off * inner), "");
        store_elem(g, dst, dt, doff, expr(g, p, &n));
        nest_end(g, &n);
        off += len;
        continue;
      }
      LLVMValueRef src = base_ptr(g, p);
      LLVMBasicBlockRef h, e;
      LLVMValueRef a;
      g_loop_begin(g, concat_outer(g, &v->ty, (int)ax, outer), &h, &e, &a);
      LLVMValueRef d = LLVMBuildGEP2(g->b, g->t_i8, dst,
                                     (LLVMValueRef[]){LLVMBuildAdd(g->b, LLVMBuildMul(g->b, a, g_i64(g, v->ty.dim[ax] * inner * (int64_t)es), ""), g_i64(g, off * inner * (int64_t)es), "")}, 1, "");
      LLVMValueRef s = LLVMBuildGEP2(g->b, g->t_i8, src, (LLVMValueRef[]){LLVMBuildMul(g->b, a, g_i64(g, len * inner * (int64_t)es), "")}, 1, "");
      copy_bytes(g, d, s, (size_t)(len * inner) * es);
      g_loop_end(g, h, e, a);
      off += len;
    }
    return;
  }
  case OP_DYN_SLICE:
  case OP_DYN_UPDATE:
  case OP_DYN_UPDATE_ADD: {
    const Value *x = in->args[0];
    int64_t ax = in->attr.i[0], outer = 1, inner = 1, dim = x->ty.dim[ax];
    for (int i = 0; i < ax; i++) outer *= x->ty.dim[i];
    for (int i = (int)ax + 1; i < x->ty.rank; i++) inner *= x->ty.dim[i];
    const Value *row = in->op == OP_DYN_SLICE ? v : in->args[1];
    LLVMValueRef pos = position(g, in->args[in->op == OP_DYN_SLICE ? 1 : 2], dim);
    if (in->op != OP_DYN_SLICE && !vp->inplace) copy_value(g, v, x);
    const Value *big = in->op == OP_DYN_SLICE ? x : v;
    LLVMValueRef bp = base_ptr(g, big);
    LLVMValueRef rp = in->op == OP_DYN_SLICE ? base_ptr(g, v) : NULL;
    Type rt = row->ty;
    Nest n;
    /* loop over the row's elements as [outer, inner] */
    Type sp = type_scalar(dt);
    sp.rank = 2;
    sp.dim[0] = outer;
    sp.dim[1] = inner;
    if (ax > 0 && axis_dyn(&x->ty, 0)) { /* rows: the run-time first axis (merged with the static ones up to ax) */
      sp.dyn = 1;
      sp.dim[0] = outer; /* dim_val: n * outer / bound rows, a merged first axis too */
    }
    nest_begin(g, &n, &sp, false);
    LLVMValueRef boff = LLVMBuildAdd(g->b,
                                     LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, n.idx[0], g_i64(g, dim), ""), pos, ""), g_i64(g, inner), ""),
                                     n.idx[1], "");
    LLVMValueRef roff = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, n.idx[0], g_i64(g, inner), ""), n.idx[1], "");
    if (in->op == OP_DYN_SLICE) {
      store_elem(g, rp, dt, roff, load_elem(g, bp, dt, boff));
    } else {
      /* the row operand in row layout: read it through a flat view */
      Nest rn = n;
      rn.space = rt;
      rn.flat = true;
      rn.flat_idx = roff;
      LLVMValueRef val = plan_fused(g->plan, row) ? expr(g, row, &rn) : load_elem(g, base_ptr(g, row), dt, roff);
      if (in->op == OP_DYN_UPDATE_ADD) val = binary(g, OP_ADD, load_elem(g, bp, dt, boff), val, dt);
      store_elem(g, bp, dt, boff, val);
    }
    nest_end(g, &n);
    return;
  }
  default:
    die("backend: shape op %s", op_info[in->op].name);
  }
}

/* A matmul operand's first element: its storage, or a contiguous
 * dyn_slice view's (plan.c contiguous_row) offset into its operand's.
 * With a run-time axis in the operand (a tape row [N*64<=1024, H]) the
 * offset is still static: strides are the bound's (types.h), so row i
 * starts at i times the bound's row size, whatever this call's n. */
static LLVMValueRef operand_ptr(Gen *g, const Value *v) {
  if (!is_view(g, v)) return base_ptr(g, v);
  LLVMValueRef off = LLVMBuildMul(g->b, view_offset(g, v), g_i64(g, (int64_t)dtype_size(v->ty.dtype)), "");
  return LLVMBuildGEP2(g->b, g->t_i8, base_ptr(g, v->def->args[0]), &off, 1, "");
}

static void lower_matmul(Gen *g, Inst *in) {
  const Value *a = in->args[0], *b = in->args[1], *c = in->res[0];
  bool ta = in->attr.i[0], tb = in->attr.i[1];
  int r = c->ty.rank;
  int64_t M = c->ty.dim[r - 2], N = c->ty.dim[r - 1];
  int64_t K = ta ? a->ty.dim[r - 2] : a->ty.dim[r - 1];
  int64_t batch = type_numel(&c->ty) / (M * N);
  /* sizes in this call (a run-time M, N, K or batch axis); strides and
   * leading dimensions stay the bound's layout */
  LLVMValueRef Mv = dim_val(g, &c->ty, r - 2), Nv = dim_val(g, &c->ty, r - 1);
  LLVMValueRef Kv = dim_val(g, &a->ty, ta ? r - 2 : r - 1);
  LLVMValueRef Bv = g_i64(g, batch);
  for (int i = 0; i < r - 2; i++)
    if (axis_dyn(&c->ty, i)) Bv = LLVMBuildMul(g->b, dim_val(g, &c->ty, i), g_i64(g, batch / c->ty.dim[i]), "");
  bool f64 = c->ty.dtype == TY_F64;
  LLVMTypeRef ft = f64 ? g->t_f64 : g->t_f32;
  LLVMValueRef A = operand_ptr(g, a), Bp = operand_ptr(g, b), C = base_ptr(g, c);
  LLVMValueRef tA = LLVMConstInt(g->t_i1, ta, 0), tB = LLVMConstInt(g->t_i1, tb, 0);
  LLVMValueRef lda = g_i64(g, ta ? M : K), ldb = g_i64(g, tb ? K : N), ldc = g_i64(g, N);
  LLVMValueRef one = LLVMConstReal(ft, 1.0), zero = LLVMConstReal(ft, 0.0);
  const Prepack *pk = plan_prepack(g->plan, in);
  if (pk) { /* B was packed before the loop (lower_for) */
    LLVMTypeRef ps[12] = {g->t_ptr, g->t_i1, g->t_i64, g->t_i64, g->t_i64, ft, g->t_ptr, g->t_i64, g->t_ptr, ft, g->t_ptr, g->t_i64};
    LLVMValueRef args[12] = {g->pool, tA, Mv, Nv, Kv, one, A, lda, base_ptr(g, pk->packed), zero, C, ldc};
    g_call(g, f64 ? "rt_dgemm_prepacked" : "rt_sgemm_prepacked", g->t_void, ps, 12, args);
    return;
  }
  if (batch == 1) {
    LLVMTypeRef ps[14] = {g->t_ptr, g->t_i1, g->t_i1, g->t_i64, g->t_i64, g->t_i64, ft, g->t_ptr, g->t_i64, g->t_ptr, g->t_i64, ft, g->t_ptr, g->t_i64};
    LLVMValueRef args[14] = {g->pool, tA, tB, Mv, Nv, Kv, one, A, lda, Bp, ldb, zero, C, ldc};
    g_call(g, f64 ? "rt_dgemm" : "rt_sgemm", g->t_void, ps, 14, args);
  } else {
    LLVMTypeRef ps[18] = {g->t_ptr, g->t_i1, g->t_i1, g->t_i64, g->t_i64, g->t_i64, g->t_i64, ft, g->t_ptr, g->t_i64, g->t_i64,
                          g->t_ptr, g->t_i64, g->t_i64, ft, g->t_ptr, g->t_i64, g->t_i64};
    LLVMValueRef args[18] = {g->pool, tA, tB, Bv, Mv, Nv, Kv, one, A, lda,
                             g_i64(g, M * K), Bp, ldb, g_i64(g, K * N), zero, C, ldc, g_i64(g, M * N)};
    g_call(g, f64 ? "rt_dgemm_batched" : "rt_sgemm_batched", g->t_void, ps, 18, args);
  }
}

static LLVMValueRef const_i64_array(Gen *g, const int64_t *v, int n) {
  LLVMValueRef els[16];
  for (int i = 0; i < n; i++) els[i] = g_i64(g, v[i]);
  LLVMValueRef init = LLVMConstArray2(g->t_i64, els, (uint64_t)n);
  LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMArrayType2(g->t_i64, (uint64_t)n), "shape");
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  return gv;
}

/* A kernel's shape array: a constant, or with a run-time batch (the first
 * axis of the op's tensors) an array on the stack whose first entry is the
 * call's size. */
static LLVMValueRef shape_array(Gen *g, const Inst *in, const int64_t *v, int n) {
  bool dyn = false;
  for (int i = 0; i < in->nargs; i++) dyn |= axis_dyn(&in->args[i]->ty, 0);
  for (int i = 0; i < in->nres; i++) dyn |= axis_dyn(&in->res[i]->ty, 0);
  if (!dyn) return const_i64_array(g, v, n);
  LLVMValueRef arr = alloca_entry(g, LLVMArrayType2(g->t_i64, (uint64_t)n));
  for (int i = 0; i < n; i++) {
    LLVMValueRef idx[2] = {g_i64(g, 0), g_i64(g, i)};
    LLVMValueRef p = LLVMBuildGEP2(g->b, LLVMArrayType2(g->t_i64, (uint64_t)n), arr, idx, 2, "");
    LLVMBuildStore(g->b, i == 0 ? dyn_n(g) : g_i64(g, v[i]), p);
  }
  return arr;
}

static LLVMValueRef scratch_ptr(Gen *g) {
  LLVMValueRef off = g_i64(g, (int64_t)g->plan->scratch_off);
  return LLVMBuildGEP2(g->b, g->t_i8, g->ws, &off, 1, "");
}

void conv_shape_of(const Inst *in, int64_t s[13]) {
  const Type *x, *w, *y;
  if (in->op == OP_CONV2D) x = &in->args[0]->ty, w = &in->args[1]->ty, y = &in->res[0]->ty;
  else if (in->op == OP_CONV2D_BWD_X) y = &in->args[0]->ty, w = &in->args[1]->ty, x = &in->res[0]->ty;
  else x = &in->args[0]->ty, y = &in->args[1]->ty, w = &in->res[0]->ty;
  int64_t v[13] = {x->dim[0], x->dim[1], x->dim[2], x->dim[3], w->dim[0], w->dim[2], w->dim[3],
                   in->attr.i[0], in->attr.i[1], in->attr.i[2], in->attr.i[3], y->dim[2], y->dim[3]};
  memcpy(s, v, sizeof v);
}

void pool_shape_of(const Inst *in, int64_t s[12]) {
  const Type *x = in->op == OP_AVGPOOL2D_BWD ? &in->res[0]->ty : &in->args[0]->ty;
  const int64_t *a = in->attr.i;
  int64_t oh = (x->dim[2] + 2 * a[4] - a[0]) / a[2] + 1, ow = (x->dim[3] + 2 * a[5] - a[1]) / a[3] + 1;
  int64_t v[12] = {x->dim[0], x->dim[1], x->dim[2], x->dim[3], a[0], a[1], a[2], a[3], a[4], a[5], oh, ow};
  memcpy(s, v, sizeof v);
}

static void lower_conv(Gen *g, Inst *in) {
  int64_t s[13];
  conv_shape_of(in, s);
  const Inst *pb = plan_pooled(g->plan, in);
  if (pb) { /* dx or dw with dy expanded from the pooling tape and dpool (plan.h) */
    int64_t ps[12];
    pool_shape_of(pb, ps);
    LLVMTypeRef ts[8] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr};
    LLVMValueRef tape = base_ptr(g, plan_tape(g->plan, pb)), dpool = base_ptr(g, pb->args[1]);
    LLVMValueRef cs = shape_array(g, in, s, 13), pls = shape_array(g, pb, ps, 12);
    if (in->op == OP_CONV2D_BWD_X) {
      LLVMValueRef args[8] = {g->pool, cs, pls, tape, dpool, base_ptr(g, in->args[1]), base_ptr(g, in->res[0]),
                              scratch_ptr(g)};
      g_call(g, "rt_conv2d_backward_data_pooled", g->t_void, ts, 8, args);
    } else {
      LLVMValueRef args[8] = {g->pool, cs, pls, base_ptr(g, in->args[0]), tape, dpool, base_ptr(g, in->res[0]),
                              scratch_ptr(g)};
      g_call(g, "rt_conv2d_backward_filter_pooled", g->t_void, ts, 8, args);
    }
    return;
  }
  bool f64 = in->res[0]->ty.dtype == TY_F64;
  const char *names[3][2] = {{"rt_conv2d_forward", "rt_conv2d_forward_f64"},
                             {"rt_conv2d_backward_data", "rt_conv2d_backward_data_f64"},
                             {"rt_conv2d_backward_filter", "rt_conv2d_backward_filter_f64"}};
  int k = in->op == OP_CONV2D ? 0 : in->op == OP_CONV2D_BWD_X ? 1 : 2;
  LLVMTypeRef ps[6] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr};
  LLVMValueRef args[6] = {g->pool, shape_array(g, in, s, 13), base_ptr(g, in->args[0]), base_ptr(g, in->args[1]),
                          base_ptr(g, in->res[0]), scratch_ptr(g)};
  g_call(g, names[k][f64], g->t_void, ps, 6, args);
}

static void lower_pool(Gen *g, Inst *in) {
  int64_t s[12];
  pool_shape_of(in, s);
  bool f64 = in->res[0]->ty.dtype == TY_F64;
  const char *name;
  switch (in->op) {
  case OP_MAXPOOL2D: name = f64 ? "rt_maxpool2d_forward_f64" : "rt_maxpool2d_forward"; break;
  case OP_MAXPOOL2D_BWD: name = f64 ? "rt_maxpool2d_backward_f64" : "rt_maxpool2d_backward"; break;
  case OP_MAXPOOL2D_PICK: name = f64 ? "rt_maxpool2d_pick_f64" : "rt_maxpool2d_pick"; break;
  case OP_AVGPOOL2D: name = f64 ? "rt_avgpool2d_forward_f64" : "rt_avgpool2d_forward"; break;
  default: name = f64 ? "rt_avgpool2d_backward_f64" : "rt_avgpool2d_backward"; break;
  }
  LLVMTypeRef ps[5] = {g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr, g->t_ptr};
  const Value *tape = plan_tape(g->plan, in);
  if (tape && in->op == OP_MAXPOOL2D) { /* y and the argmax tape */
    LLVMValueRef args[5] = {g->pool, shape_array(g, in, s, 12), base_ptr(g, in->args[0]), base_ptr(g, in->res[0]),
                            base_ptr(g, tape)};
    g_call(g, "rt_maxpool2d_forward_tape", g->t_void, ps, 5, args);
    return;
  }
  if (tape && in->op == OP_MAXPOOL2D_BWD) { /* dx from the tape and dy; x is not read */
    LLVMValueRef args[5] = {g->pool, shape_array(g, in, s, 12), base_ptr(g, tape), base_ptr(g, in->args[1]),
                            base_ptr(g, in->res[0])};
    g_call(g, "rt_maxpool2d_backward_tape", g->t_void, ps, 5, args);
    return;
  }
  LLVMValueRef args[5] = {g->pool, shape_array(g, in, s, 12), base_ptr(g, in->args[0]), NULL, NULL};
  int n = 4;
  if (in->nargs == 2) {
    args[3] = base_ptr(g, in->args[1]);
    args[4] = base_ptr(g, in->res[0]);
    n = 5;
  } else {
    args[3] = base_ptr(g, in->res[0]);
  }
  g_call(g, name, g->t_void, ps, n, args);
}

static void lower_gather(Gen *g, Inst *in) {
  const Value *v = in->res[0];
  DType dt = v->ty.dtype;
  if (in->op == OP_GATHER) {
    const Value *t = in->args[0], *idx = in->args[1];
    int64_t V = t->ty.dim[0], D = t->ty.dim[1];
    LLVMValueRef tp = base_ptr(g, t), ip = base_ptr(g, idx), op = base_ptr(g, v);
    LLVMBasicBlockRef h, e;
    LLVMValueRef s;
    g_loop_begin(g, numel_val(g, &idx->ty), &h, &e, &s);
    LLVMValueRef row = LLVMBuildSExt(g->b, load_elem(g, ip, TY_I32, s), g->t_i64, "");
    row = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, row, g_i64(g, 0), ""), g_i64(g, 0), row, "");
    row = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, row, g_i64(g, V), ""), g_i64(g, V - 1), row, "");
    size_t es = dtype_size(dt);
    LLVMValueRef d = LLVMBuildGEP2(g->b, g->t_i8, op, (LLVMValueRef[]){LLVMBuildMul(g->b, s, g_i64(g, D * (int64_t)es), "")}, 1, "");
    LLVMValueRef src = LLVMBuildGEP2(g->b, g->t_i8, tp, (LLVMValueRef[]){LLVMBuildMul(g->b, row, g_i64(g, D * (int64_t)es), "")}, 1, "");
    copy_bytes(g, d, src, (size_t)D * es);
    g_loop_end(g, h, e, s);
    return;
  }
  /* scatter_add(idx, g) */
  const Value *idx = in->args[0], *gr = in->args[1];
  int64_t V = v->ty.dim[0], D = v->ty.dim[1];
  LLVMValueRef ip = base_ptr(g, idx), gp = base_ptr(g, gr), op = base_ptr(g, v);
  LLVMBuildMemSet(g->b, op, LLVMConstInt(g->t_i8, 0, 0), g_i64(g, (int64_t)type_bytes(&v->ty)), 1);
  LLVMBasicBlockRef h, e, h2, e2;
  LLVMValueRef s, d;
  g_loop_begin(g, numel_val(g, &idx->ty), &h, &e, &s);
  /* a run-time axis after the first (indices [T, N<=32]) keeps the bound's
   * layout, and the flat loop runs over its padding: those positions add
   * nothing (their index and row are not the call's) */
  int k = type_dyn_axis(&idx->ty);
  LLVMBasicBlockRef skip = NULL;
  if (k > 0) {
    int64_t inner = 1;
    for (int i = k + 1; i < idx->ty.rank; i++) inner *= idx->ty.dim[i];
    LLVMValueRef pos = LLVMBuildURem(g->b, LLVMBuildUDiv(g->b, s, g_i64(g, inner), ""), g_i64(g, idx->ty.dim[k]), "");
    LLVMBasicBlockRef use = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "row");
    skip = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "next");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, pos, dim_val(g, &idx->ty, k), ""), use, skip);
    LLVMPositionBuilderAtEnd(g->b, use);
  }
  LLVMValueRef row = LLVMBuildSExt(g->b, load_elem(g, ip, TY_I32, s), g->t_i64, "");
  row = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, row, g_i64(g, 0), ""), g_i64(g, 0), row, "");
  row = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, row, g_i64(g, V), ""), g_i64(g, V - 1), row, "");
  g_loop_begin(g, g_i64(g, D), &h2, &e2, &d);
  LLVMValueRef oo = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, row, g_i64(g, D), ""), d, "");
  LLVMValueRef go = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, s, g_i64(g, D), ""), d, "");
  store_elem(g, op, dt, oo, binary(g, OP_ADD, load_elem(g, op, dt, oo), load_elem(g, gp, dt, go), dt));
  g_loop_end(g, h2, e2, d);
  if (skip) {
    LLVMBuildBr(g->b, skip);
    LLVMPositionBuilderAtEnd(g->b, skip);
  }
  g_loop_end(g, h, e, s);
}

static void lower_block(Gen *g, Block *b);

/* Pack the loop-invariant B operands of the loop's matmuls (plan.h). */
static void prepack_before(Gen *g, const Inst *loop) {
  const PtrVec *list = plan_loop_packs(g->plan, loop);
  for (int i = 0; list && i < list->n; i++) {
    const Prepack *pk = list->v[i];
    const Inst *mm = pk->mm;
    const Value *b = mm->args[1], *c = mm->res[0];
    bool tb = mm->attr.i[1], f64 = c->ty.dtype == TY_F64;
    int64_t N = c->ty.dim[1], K = mm->attr.i[0] ? mm->args[0]->ty.dim[0] : mm->args[0]->ty.dim[1];
    LLVMTypeRef ps[7] = {g->t_ptr, g->t_i1, g->t_i64, g->t_i64, g->t_ptr, g->t_i64, g->t_ptr};
    LLVMValueRef args[7] = {g->pool, LLVMConstInt(g->t_i1, tb, 0), g_i64(g, K), g_i64(g, N), base_ptr(g, b),
                            g_i64(g, tb ? K : N), base_ptr(g, pk->packed)};
    g_call(g, f64 ? "rt_dgemm_prepack_b" : "rt_sgemm_prepack_b", g->t_void, ps, 7, args);
  }
}

/* Index register r of v comes into scope (a loop's index, the run-time size). */
static void scope_enter(Gen *g, const Value *v, LLVMValueRef r) {
  pm_put(&g->reg, v, r);
  for (int i = 0; i < g->nin_scope; i++)
    if (g->in_scope[i] == v) return;
  if (g->nin_scope == MAX_RANK * 4) die("backend: more than %d loop indices in scope", MAX_RANK * 4);
  g->in_scope[g->nin_scope++] = v;
}

static void scope_leave(Gen *g, const Value *v) {
  pm_put(&g->reg, v, NULL);
  for (int i = 0; i < g->nin_scope; i++)
    if (g->in_scope[i] == v) {
      memmove(&g->in_scope[i], &g->in_scope[i + 1], sizeof *g->in_scope * (size_t)(g->nin_scope - i - 1));
      g->nin_scope--;
      return;
    }
}

static void lower_for(Gen *g, Inst *in) {
  Block *body = in->body;
  int nc = in->nargs;
  int64_t lo = in->attr.i[0], hi = in->attr.i[1];
  bool rev = in->attr.i[3];
  prepack_before(g, in);
  for (int k = 0; k < nc; k++) copy_value(g, in->res[k], in->args[k]);
  LLVMBasicBlockRef h, e;
  LLVMValueRef step;
  g_loop_begin(g, g_i64(g, hi - lo), &h, &e, &step);
  LLVMValueRef i64 = rev ? LLVMBuildSub(g->b, g_i64(g, hi - 1), step, "") : LLVMBuildAdd(g->b, step, g_i64(g, lo), "");
  LLVMValueRef i32 = LLVMBuildTrunc(g->b, i64, g->t_i32, "t");
  scope_enter(g, body->args[0], i32);
  lower_block(g, body);
  Inst *y = body->last;
  for (int k = 0; k < nc; k++) copy_value(g, in->res[k], y->args[k]);
  for (int k = nc; k < in->nres; k++) {
    const Value *row = y->args[k];
    if (plan_of(g->plan, row)->kind == ST_ROW) continue; /* computed in its row */
    size_t rb = type_bytes(&row->ty);
    LLVMValueRef off = LLVMBuildMul(g->b, LLVMBuildSub(g->b, i64, g_i64(g, lo), ""), g_i64(g, (int64_t)rb), "");
    LLVMValueRef dst = LLVMBuildGEP2(g->b, g->t_i8, base_ptr(g, in->res[k]), &off, 1, "");
    if (plan_fused(g->plan, row) || pm_get(&g->reg, row)) {
      Nest n;
      nest_begin(g, &n, &row->ty, true);
      store_elem(g, dst, row->ty.dtype, n.flat_idx, expr(g, row, &n));
      nest_end(g, &n);
    } else {
      copy_bytes_of(g, dst, base_ptr(g, row), &row->ty);
    }
  }
  g_loop_end(g, h, e, step);
  scope_leave(g, body->args[0]);
}

static void lower_return(Gen *g, Inst *in) {
  for (int k = 0; k < in->nargs; k++) {
    const Value *v = in->args[k];
    const ValPlan *vp = plan_of(g->plan, v);
    if (vp->kind == ST_RESULT && vp->index == k) continue;
    LLVMValueRef dst = slot_ptr(g, result_slot(g, k));
    if (pm_get(&g->reg, v) || plan_fused(g->plan, v)) {
      Nest n;
      nest_begin(g, &n, &v->ty, true);
      store_elem(g, dst, v->ty.dtype, n.flat_idx, expr(g, v, &n));
      nest_end(g, &n);
    } else {
      copy_bytes_of(g, dst, base_ptr(g, v), &v->ty);
    }
  }
}

static void lower_inst(Gen *g, Inst *in) {
  if (in->op == OP_FOR) {
    lower_for(g, in);
    return;
  }
  if (in->op == OP_YIELD) return; /* lower_for copies */
  if (in->op == OP_RETURN) {
    lower_return(g, in);
    return;
  }
  const Value *v = in->res[0];
  if (plan_fused(g->plan, v)) return; /* computed where it is used */
  switch (op_info[in->op].lc) {
  case LC_ELEM: lower_elementwise(g, in); break;
  case LC_REDUCE: lower_reduce(g, in); break;
  case LC_SHAPE: lower_shape(g, in); break;
  case LC_MATMUL: lower_matmul(g, in); break;
  case LC_CONV: lower_conv(g, in); break;
  case LC_POOL: lower_pool(g, in); break;
  case LC_GATHER: lower_gather(g, in); break;
  default: die("backend: cannot lower %s", op_info[in->op].name);
  }
}

/* ---- elementwise groups (plan.h) ----------------------------------------------- */

typedef struct GroupGen {
  const PlanGroup *pg;
  ElemPlan ep;
} GroupGen;

/* The loop nest of a group: flat when every member's tree is, else over
 * the shape with the axes that every member's leaves read contiguously
 * merged. */
static void group_layout(Gen *g, GroupGen *gg) {
  const PlanGroup *pg = gg->pg;
  const Type *t = &pg->m[0]->res[0]->ty;
  bool flat = true, ok = true;
  const Value *leaves[256];
  int nl = 0;
  for (int i = 0; i < pg->n; i++)
    for (int a = 0; a < pg->m[i]->nargs; a++) {
      flat &= flat_ok(g, pg->m[i]->args[a], t);
      if (ok) ok = tree_leaves(g, pg->m[i]->args[a], leaves, &nl, 256);
    }
  memset(&gg->ep, 0, sizeof gg->ep);
  gg->ep.space = *t;
  gg->ep.flat = flat;
  Nest probe;
  memset(&probe, 0, sizeof probe);
  if (!flat && ok && plan_collapse(g, &probe, t, leaves, nl, NULL)) {
    gg->ep.collapsed = true;
    gg->ep.space = probe.space;
    gg->ep.orig = probe.orig;
    memcpy(gg->ep.group_last, probe.group_last, sizeof gg->ep.group_last);
  }
}

static void group_body(Gen *g, Inst *first, void *arg) {
  (void)first;
  const GroupGen *gg = arg;
  const ElemPlan *ep = &gg->ep;
  Nest n;
  elem_nest_begin(g, &n, ep);
  const Value *outs[32];
  int no = 0;
  for (int i = 0; i < gg->pg->n && no < 32; i++) outs[no++] = gg->pg->m[i]->res[0];
  acc_begin(g, outs, no);
  for (int i = 0; i < gg->pg->n; i++) {
    const Value *v = gg->pg->m[i]->res[0];
    LLVMValueRef x = compute_inst(g, gg->pg->m[i], &n);
    acc_mark(g, store_elem(g, base_ptr(g, v), v->ty.dtype, n.flat_idx, x), plan_root(g->plan, v), true);
    pm_put(&g->reg, v, x); /* later members read it from the register */
  }
  acc_end(g);
  nest_end(g, &n);
  for (int i = 0; i < gg->pg->n; i++) pm_put(&g->reg, gg->pg->m[i]->res[0], NULL);
}

static void lower_group(Gen *g, const PlanGroup *pg) {
  GroupGen gg = {.pg = pg};
  group_layout(g, &gg);
  const ElemPlan *ep = &gg.ep;
  int64_t outer = ep->flat ? type_numel(&ep->space) : ep->space.dim[0];
  int64_t per = ep->flat ? 1 : type_numel(&ep->space) / (outer ? outer : 1);
  int64_t work = 0;
  for (int i = 0; i < pg->n; i++) work += elem_work(g, pg->m[i], 0);
  par_range(g, pg->m[0], outer, outer_count(g, ep), per * work, group_body, &gg);
}

/* A function of many top-level kernels is lowered in parts of PART_ITEMS
 * kernels, each its own (noinline) LLVM function called in turn: LLVM's
 * loop and scalar-evolution passes walk the dominator tree back through
 * every earlier loop, so one function of thousands of loop nests took
 * minutes at -O2 (500 statements: 68 s); parts keep that walk short.
 * Between top-level kernels every value is in memory (loop indices and
 * fused registers are out of scope), so a part needs only the three
 * pointers. */
enum { PART_ITEMS = 64 };

LLVMValueRef g_body_fn(Gen *g, const char *name, bool noalias_ws) {
  LLVMTypeRef ps[3] = {g->t_ptr, g->t_ptr, g->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->t_void, ps, 3, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  /* the buffers never alias each other within one call (a rerolled
   * kernel reads them through its address array instead) */
  if (noalias_ws) {
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    LLVMAddAttributeAtIndex(fn, 1, LLVMCreateEnumAttribute(g->ctx, noalias, 0));
  }
  g->fn = fn;
  g->ws = LLVMGetParam(fn, 0);
  g->pool = LLVMGetParam(fn, 1);
  g->bufs = LLVMGetParam(fn, 2);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
  /* a marker so allocas stay in the entry block */
  g->entry_alloca_point = LLVMBuildAlloca(g->b, g->t_i8, "allocas");
  g->hoist_point = g->entry_alloca_point;
  pm_init(&g->bufptr, g->a);
  if (g->dim_arg) { /* the run-time size: loaded once per part, a register every loop reads (and tasks get) */
    LLVMValueRef nv = LLVMBuildLoad2(g->b, g->t_i32, slot_ptr(g, g->dim_arg->res), "n");
    scope_enter(g, g->dim_arg, nv);
  }
  return fn;
}

/* Ends the current part and continues in a new one, called from `top`
 * (the function being generated, whose entry block calls the parts). */
static void next_part(Gen *g, LLVMValueRef top) {
  if (g->fn != top) LLVMBuildRetVoid(g->b);
  LLVMValueRef part = g_body_fn(g, "part", true);
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  LLVMAddAttributeAtIndex(part, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
  LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
  LLVMPositionBuilderAtEnd(g->b, LLVMGetEntryBasicBlock(top));
  LLVMValueRef args[3] = {LLVMGetParam(top, 0), LLVMGetParam(top, 1), LLVMGetParam(top, 2)};
  LLVMBuildCall2(g->b, LLVMGlobalGetValueType(part), part, args, 3, "");
  LLVMPositionBuilderAtEnd(g->b, here);
}

const PlanGroup *g_item_group(Gen *g, const Inst *in) {
  return g->opts->opt_level > 0 ? plan_group(g->plan, in) : NULL;
}

Inst *g_lower_item(Gen *g, Inst *in) {
  const PlanGroup *pg = g_item_group(g, in);
  if (pg) {
    lower_group(g, pg);
    return pg->last; /* the instructions it covers are members, fused or reshapes */
  }
  lower_inst(g, in);
  return in;
}

/* ---- gradients announced as they become final ------------------------------------ */

/* For each storage root that `grad_of` maps (to 1 + a return slot) and
 * that inst `in` or its body reads or writes (the root itself or a view of
 * it, such as a reshape): last[slot] = top, the top-level instruction. */
static void note_touches(Gen *g, const Inst *in, Inst *top, const PtrMap *grad_of, Inst **last) {
  for (int i = 0; i < in->nargs + in->nres; i++) {
    const Value *v = i < in->nargs ? in->args[i] : in->res[i - in->nargs];
    intptr_t k = (intptr_t)pm_get(grad_of, plan_root(g->plan, v));
    if (k) last[k - 1] = top;
  }
  if (in->body)
    for (const Inst *u = in->body->first; u; u = u->next) note_touches(g, u, top, grad_of, last);
}

/* For each parameter gradient that f computes straight into its result
 * buffer, the last top-level instruction that writes or reads it: after
 * it, the generated code calls rt_grad_ready(ctx, parameter), so a
 * data-parallel program can start summing that gradient across processes
 * while the rest of the backward pass runs. Gradients copied into their
 * buffer by the return are final only when the function returns. Fills
 * g->ready (instruction, parameter) pairs in the order of the
 * instructions (and of the results after one instruction), and
 * g->ready_at. One walk over f: a model of N parameters has N gradients. */
static void find_ready_points(Gen *g, Func *f) {
  g->nready = 0;
  g->announced = false;
  pm_init(&g->ready_at, g->a);
  Inst *ret = f->body->last;
  if (!ret || ret->op != OP_RETURN) return;
  PtrMap grad_of; /* storage root -> 1 + its return slot */
  pm_init(&grad_of, g->a);
  for (int k = 0; k < ret->nargs; k++) {
    if (f->ret_role[k].kind != RES_GRAD) continue;
    const Value *v = ret->args[k];
    const ValPlan *vp = plan_of(g->plan, v);
    if (vp->kind == ST_RESULT && vp->index == k) pm_put(&grad_of, v, (void *)(intptr_t)(k + 1));
  }
  if (!grad_of.n) return;
  Inst **last = NEW_ARRAY(g->a, Inst *, ret->nargs);
  memset(last, 0, sizeof *last * (size_t)ret->nargs);
  for (Inst *in = f->body->first; in != ret; in = in->next) note_touches(g, in, in, &grad_of, last);
  /* the slots due after each instruction, in slot order: chains through `next` */
  int *next = NEW_ARRAY(g->a, int, ret->nargs);
  PtrMap head; /* instruction -> 1 + its first slot */
  pm_init(&head, g->a);
  for (int k = ret->nargs - 1; k >= 0; k--)
    if (last[k]) {
      next[k] = (int)(intptr_t)pm_get(&head, last[k]) - 1;
      pm_put(&head, last[k], (void *)(intptr_t)(k + 1));
      g->nready++;
    }
  g->ready = NEW_ARRAY(g->a, ReadyPoint, g->nready);
  int n = 0;
  for (Inst *in = f->body->first; in != ret; in = in->next) {
    int k = (int)(intptr_t)pm_get(&head, in) - 1;
    if (k >= 0) pm_put(&g->ready_at, in, (void *)(intptr_t)(n + 1));
    for (; k >= 0; k = next[k]) g->ready[n++] = (ReadyPoint){in, f->ret_role[k].index};
  }
}

int g_ready_first(const Gen *g, const Inst *in) {
  intptr_t i = (intptr_t)pm_get(&g->ready_at, in);
  return i ? (int)i - 1 : g->nready;
}

void g_call_ready(Gen *g, LLVMValueRef param) {
  LLVMTypeRef ps[2] = {g->t_ptr, g->t_i32};
  LLVMValueRef args[2] = {slot_ptr(g, ctx_slot(g)), param};
  g_call(g, "rt_grad_ready", g->t_void, ps, 2, args);
}

static void call_ready(Gen *g, int param) { g_call_ready(g, g_i32(g, param)); }

/* The rt_grad_ready calls due after the top-level instructions
 * first..last. Once a gradient has been announced, an item that announces
 * none calls rt_grad_ready(ctx, -1): no news, but a chance for the sums
 * under way to progress (MPI moves data only inside its calls). */
static void announce_ready(Gen *g, const Inst *first, const Inst *last) {
  bool any = false;
  for (const Inst *in = first;; in = in->next) {
    for (int i = g_ready_first(g, in); i < g->nready && g->ready[i].after == in; i++) {
      call_ready(g, g->ready[i].param);
      any = g->announced = true;
    }
    if (in == last) break;
  }
  if (!any && g->announced) call_ready(g, -1);
}

static void lower_items(Gen *g, Block *b, LLVMValueRef top) {
  int items = 0;
  bool outer = b == g->f->body && g->nready > 0;
  for (Inst *in = b->first; in; in = in->next) {
    if (top && in->op != OP_RETURN && items++ % PART_ITEMS == 0) next_part(g, top);
    Inst *first = in;
    in = g_lower_item(g, in);
    if (outer) announce_ready(g, first, in);
  }
}

static void lower_block(Gen *g, Block *b) { lower_items(g, b, NULL); }

LLVMValueRef gen_function(Gen *g, Func *f, Plan *plan, const char *name) {
  g->f = f;
  g->plan = plan;
  g->nargs = f->body->nargs;
  pm_init(&g->reg, g->a);
  g->nin_scope = 0;
  pm_init(&g->scope_of, g->a); /* one alias domain for the function and its parts */
  g->alias_domain = NULL;
  g->acc.n = 0;
  g->dim_arg = ir_dim_arg(f);
  g->dim_bound = 0;
  for (int i = 0; g->dim_arg && i < f->body->nargs && !g->dim_bound; i++)
    g->dim_bound = type_dyn_bound(&f->body->args[i]->ty);
  if (g->dim_arg && !g->dim_bound) g->dim_bound = 1;
  find_ready_points(g, f);
  LLVMValueRef fn = reroll_function(g, name);
  if (fn) return fn;
  fn = g_body_fn(g, name, true);
  int n = 0;
  for (Inst *in = f->body->first; in && n <= PART_ITEMS; in = in->next) n++;
  lower_items(g, f->body, n > PART_ITEMS ? fn : NULL);
  LLVMBuildRetVoid(g->b);
  if (n > PART_ITEMS) { /* the entry block calls the parts, then returns */
    LLVMPositionBuilderAtEnd(g->b, LLVMGetEntryBasicBlock(fn));
    LLVMBuildRetVoid(g->b);
  }
  return fn;
}
