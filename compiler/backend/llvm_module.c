/* llvm_module.c — the whole generated library: every compiled function,
 * the model descriptor (rt_model.h's structs, laid out by LLVM exactly as
 * the C compiler lays them out: tests/unit/test_abi_layout.c checks every
 * size and offset through codegen_abi_layout), the C API
 * wrappers, the target machine, optimization, files and the JIT. */
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Support.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llvm_internal.h"
#include "strmap.h"
#include "rt_model.h"
#include "rt_train.h"
#include "trainstep.h"

struct CodeGen {
  Gen g;
  Arena *a;
  LLVMOrcThreadSafeContextRef tsc;
  LLVMTargetMachineRef tm;
  BackendOpts opts;
  char prefix[128];
  char cpu[128];
  char *features;
  CgFunc *funcs;
  int nfuncs;
  size_t ws_bytes;
  bool optimized;
  const Compiled *c;
  /* The descriptor's large tables (slots, params): declared while the
   * module is built, their contents attached after LLVM's passes, which
   * only read them (nothing in the code loads from them) but took ~1.2 s
   * of a 10,000-parameter build walking them. */
  struct LaterInit {
    LLVMValueRef gv, init; /* the table, and the global of hold its contents wait in */
  } *later;
  int nlater, caplater;
  LLVMModuleRef hold;
  /* @strtab as the tables waiting in hold point into it (cstr_later):
   * a declaration in hold, replaced by the module's @strtab when they
   * are attached. Pointing into @strtab itself, their tens of thousands
   * of string pointers were users of a global of the module, which
   * LLVM's GlobalDCE walked (a fifth of the passes' time at 10,000
   * parameters). */
  LLVMValueRef strtab_held;
};

/* ---- struct types mirroring rt_model.h ------------------------------------------- */

typedef struct Types {
  LLVMTypeRef slot, info, param, func, train, desc;
} Types;

static LLVMTypeRef st(Gen *g, LLVMTypeRef *f, int n) { return LLVMStructTypeInContext(g->ctx, f, (unsigned)n, 0); }

static Types make_types(Gen *g) {
  Types t;
  LLVMTypeRef a8 = LLVMArrayType2(g->t_i64, 8), p2 = LLVMArrayType2(g->t_ptr, 2);
  LLVMTypeRef I = g->t_i32, L = g->t_i64, D = g->t_f64, P = g->t_ptr;
  t.slot = st(g, (LLVMTypeRef[]){I, I, I, I, a8, P, L, I}, 8);
  t.info = st(g, (LLVMTypeRef[]){P, I, a8, L, L}, 5);
  t.param = st(g, (LLVMTypeRef[]){t.info, I, L, I, D, D}, 6);
  t.func = st(g, (LLVMTypeRef[]){P, P, I, I, P, P, I, I, L, L}, 10);
  t.train = st(g, (LLVMTypeRef[]){I, I, I, I, I, D, D, D, D, D, D, I, I, L, L, D, D, D, L, L, I, I, p2, p2, D, D, D, D, L, L, I, L, I, I}, 34);
  t.desc = st(g, (LLVMTypeRef[]){L, I, I, P, P, P, I, P, L, L, I, P, L, P}, 14);
  return t;
}

/* The module's string constants are one global, @strtab, of every
 * distinct text once, NUL-terminated; a string is a pointer into it. A
 * model of N parameters names each in every function's slots: one global
 * per copy made LLVM's ConstantMerge quadratic in N, and one per text
 * still cost a global, a symbol and a relocation target each. The texts
 * are gathered first (strtab_add, by build_desc), then strtab_finish
 * makes the global and cstr points into it. */
static void strtab_add(Gen *g, const char *s, size_t *len) {
  if (!s) return;
  void **slot = sm_slot(&g->strs, s);
  if (*slot) return;
  *slot = (void *)(uintptr_t)(*len + 1);
  *len += strlen(s) + 1;
}

static void strtab_finish(Gen *g, size_t len) {
  char *text = calloc(len + 1, 1);
  if (!text) die("out of memory");
  for (int i = 0; i < g->strs.cap; i++)
    if (g->strs.keys[i] && g->strs.vals[i]) {
      const char *k = g->strs.keys[i];
      memcpy(text + (uintptr_t)g->strs.vals[i] - 1, k, strlen(k) + 1);
    }
  LLVMValueRef init = LLVMConstStringInContext(g->ctx, text, (unsigned)len, 1);
  free(text);
  g->strtab = LLVMAddGlobal(g->mod, LLVMTypeOf(init), "strtab");
  LLVMSetInitializer(g->strtab, init);
  LLVMSetGlobalConstant(g->strtab, 1);
  LLVMSetLinkage(g->strtab, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g->strtab, LLVMGlobalUnnamedAddr);
}

static LLVMValueRef str_in(Gen *g, LLVMValueRef table, const char *s) {
  if (!s) return LLVMConstNull(g->t_ptr);
  uintptr_t at = (uintptr_t)sm_get(&g->strs, s);
  if (!at || !g->strtab) die("backend: string '%s' not gathered into the string table", s);
  LLVMValueRef off = g_i64(g, (int64_t)(at - 1));
  return LLVMConstInBoundsGEP2(g->t_i8, table, &off, 1);
}

static LLVMValueRef cstr(Gen *g, const char *s) { return str_in(g, g->strtab, s); }

/* A string of a table made by global_const_later (see strtab_held). */
static LLVMValueRef cstr_later(CodeGen *cg, const char *s) {
  if (!cg->hold) cg->hold = LLVMModuleCreateWithNameInContext("hold", cg->g.ctx);
  if (!cg->strtab_held) cg->strtab_held = LLVMAddGlobal(cg->hold, LLVMGlobalGetValueType(cg->g.strtab), "strtab");
  return str_in(&cg->g, cg->strtab_held, s);
}

static LLVMValueRef cst(Gen *g, LLVMTypeRef t, LLVMValueRef *v, int n) {
  return LLVMConstNamedStruct(t, v, (unsigned)n);
}

static LLVMValueRef shape8(Gen *g, const Type *ty) {
  LLVMValueRef d[8];
  for (int i = 0; i < 8; i++) d[i] = g_i64(g, i < ty->rank ? ty->dim[i] : 0);
  return LLVMConstArray2(g->t_i64, d, 8);
}

static LLVMValueRef global_const(Gen *g, LLVMValueRef init, const char *name) {
  LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  return gv;
}

/* A global_const whose contents optimize() attaches after the passes. */
static LLVMValueRef global_const_later(CodeGen *cg, LLVMValueRef init, const char *name) {
  LLVMValueRef gv = LLVMAddGlobal(cg->g.mod, LLVMTypeOf(init), name);
  LLVMSetGlobalConstant(gv, 1);
  if (cg->nlater == cg->caplater) {
    int cap = cg->caplater ? 2 * cg->caplater : 16;
    struct LaterInit *n = NEW_ARRAY(cg->a, struct LaterInit, cap);
    if (cg->nlater) memcpy(n, cg->later, sizeof *n * (size_t)cg->nlater);
    cg->later = n;
    cg->caplater = cap;
  }
  /* The contents wait as the initializer of a global in a module of their
   * own (cg->hold, never printed or compiled): a constant nothing uses
   * would be freed by the passes' clean-up of dead constants. */
  if (!cg->hold) cg->hold = LLVMModuleCreateWithNameInContext("hold", cg->g.ctx);
  LLVMValueRef h = LLVMAddGlobal(cg->hold, LLVMTypeOf(init), name);
  LLVMSetInitializer(h, init);
  cg->later[cg->nlater++] = (struct LaterInit){gv, h};
  return gv; /* external until then: the passes know nothing of its contents */
}

static void attach_later(CodeGen *cg) {
  if (cg->strtab_held) {
    LLVMReplaceAllUsesWith(cg->strtab_held, cg->g.strtab);
    LLVMDeleteGlobal(cg->strtab_held);
    cg->strtab_held = NULL;
  }
  for (int i = 0; i < cg->nlater; i++) {
    LLVMValueRef init = LLVMGetInitializer(cg->later[i].init);
    LLVMDeleteGlobal(cg->later[i].init);
    LLVMSetInitializer(cg->later[i].gv, init);
    LLVMSetLinkage(cg->later[i].gv, LLVMPrivateLinkage);
  }
  cg->nlater = 0;
}

static LLVMValueRef ci(Gen *g, int64_t v) { return g_i32(g, v); }
static LLVMValueRef cl(Gen *g, int64_t v) { return g_i64(g, v); }
static LLVMValueRef cd(Gen *g, double v) { return LLVMConstReal(g->t_f64, v); }

/* ---- function preparation ------------------------------------------------------------- */

static int role_of_arg(Role r) {
  switch (r.kind) {
  case ARG_PARAM: return RT_IN_PARAM;
  case ARG_STATE: return RT_IN_STATE;
  case ARG_SCALAR: return RT_IN_SCALAR;
  case ARG_GRAD: return RT_IN_GRAD;
  default: return RT_IN_INPUT;
  }
}

static int role_of_res(Role r) {
  switch (r.kind) {
  case RES_LOSS: return RT_OUT_LOSS;
  case RES_GRAD: return RT_OUT_GRAD;
  case RES_INPUT_GRAD: return RT_OUT_INPUT_GRAD;
  case RES_NEW_PARAM: return RT_OUT_NEW_PARAM;
  case RES_NEW_STATE: return RT_OUT_NEW_STATE;
  default: return RT_OUT_OUTPUT;
  }
}

static bool user_visible_res(int role) { return role == RT_OUT_OUTPUT || role == RT_OUT_LOSS || role == RT_OUT_INPUT_GRAD; }

/* ---- the descriptor ----------------------------------------------------------------- */

/* The range an i32 argument must lie in when every use of it (through
 * reshapes, slices, transposes, broadcasts and loop carries of those) is an
 * index: one_hot's class count, gather's table rows, scatter_add's rows.
 * 0 when some use is not an index (then nothing is checked). */
static int64_t bound_of_uses(const Block *b, const Value *v, int depth);

static int64_t use_bound(const Inst *in, int k, const Value *v, int depth) {
  switch (in->op) {
  case OP_ONE_HOT: return in->res[0]->ty.dim[in->res[0]->ty.rank - 1];
  case OP_GATHER: return k == 1 ? in->args[0]->ty.dim[0] : 0;
  case OP_SCATTER_ADD: return k == 0 ? in->res[0]->ty.dim[0] : 0;
  case OP_RESHAPE: case OP_TRANSPOSE: case OP_SLICE: case OP_BROADCAST:
    return depth < 16 ? bound_of_uses(NULL, in->res[0], depth + 1) : 0;
  case OP_DYN_SLICE: return k == 0 && depth < 16 ? bound_of_uses(NULL, in->res[0], depth + 1) : 0;
  default: return 0;
  }
  (void)v;
}

static int64_t scan_bound(const Block *b, const Value *v, int depth, bool *any) {
  int64_t bound = INT64_MAX;
  for (const Inst *in = b->first; in; in = in->next) {
    for (int k = 0; k < in->nargs; k++) {
      if (in->args[k] != v) continue;
      *any = true;
      int64_t u = use_bound(in, k, v, depth);
      if (!u) return 0;
      if (u < bound) bound = u;
    }
    if (in->body) {
      int64_t inner = scan_bound(in->body, v, depth, any);
      if (!inner) return 0;
      if (inner < bound) bound = inner;
    }
  }
  return bound;
}

static const Block *outermost(const Value *v) {
  const Block *b = v->def ? v->def->block : v->block;
  while (b && b->parent) b = b->parent->block;
  return b;
}

static int64_t bound_of_uses(const Block *b, const Value *v, int depth) {
  if (!b) b = outermost(v);
  bool any = false;
  int64_t r = scan_bound(b, v, depth, &any);
  return any && r != INT64_MAX ? r : 0;
}

static int64_t index_bound(const Func *f, const Value *arg) {
  if (arg->ty.dtype != TY_I32) return 0;
  return bound_of_uses(f->body, arg, 0);
}

static LLVMValueRef slots(CodeGen *cg, Types *T, Func *f, bool results, int *nuser) {
  Gen *g = &cg->g;
  int n = results ? f->nret : f->body->nargs;
  /* train_step's first arguments are its gradient's, and its body (when
   * built at all) reads them as the gradient does: their bounds are the
   * gradient's */
  const Func *bf = strcmp(f->name, "train_step") ? NULL : train_step_grad(cg->c->m);
  LLVMValueRef *v = NEW_ARRAY(cg->a, LLVMValueRef, n + 1);
  int user = 0;
  for (int i = 0; i < n; i++) {
    const Type *ty = results ? &f->ret[i] : &f->body->args[i]->ty;
    int role = results ? role_of_res(f->ret_role[i]) : role_of_arg(f->arg_role[i]);
    int index = results ? f->ret_role[i].index : f->arg_role[i].index;
    const char *name = results ? (f->ret_name ? f->ret_name[i] : NULL) : f->body->args[i]->name;
    if (results ? user_visible_res(role) : role == RT_IN_INPUT) index = user++;
    int64_t bound = results                           ? 0
                    : bf && i < bf->body->nargs         ? index_bound(bf, bf->body->args[i])
                                                        : index_bound(f, f->body->args[i]);
    LLVMValueRef fields[8] = {ci(g, role), ci(g, index), ci(g, ty->dtype), ci(g, ty->rank), shape8(g, ty),
                              cstr_later(cg, name ? name : ""), cl(g, bound), ci(g, ty->dyn)};
    v[i] = cst(g, T->slot, fields, 8);
  }
  *nuser = user;
  if (!n) return LLVMConstNull(g->t_ptr);
  return global_const_later(cg, LLVMConstArray2(T->slot, v, (uint64_t)n), "slots");
}

static int fn_index(const CodeGen *cg, const char *ir_name) {
  if (!ir_name) return -1;
  for (int i = 0; i < cg->nfuncs; i++)
    if (!strcmp(cg->funcs[i].ir->name, ir_name)) return i;
  return -1;
}

/* The gradient train_step runs: the loss's training (dropout) version if
 * it has one; -1 without a training step. */
static int train_grad_fn(const CodeGen *cg) {
  const Func *g = train_step_grad(cg->c->m);
  for (int i = 0; g && i < cg->nfuncs; i++)
    if (cg->funcs[i].ir == g) return i;
  return -1;
}

int codegen_train_grad(const CodeGen *cg) { return train_grad_fn(cg); }

static LLVMValueRef train_desc(CodeGen *cg, Types *T) {
  Gen *g = &cg->g;
  const Module *m = cg->c->m;
  const TrainSpec *t = m->train;
  if (!t || !t->loss) return LLVMConstNull(g->t_ptr);
  int nstate = 0;
  Func *ts = ir_find_func(m, "train_step");
  if (ts)
    for (int i = 0; i < ts->body->nargs; i++)
      if (ts->arg_role[i].kind == ARG_STATE) nstate++;
  LLVMValueRef dp[2] = {cstr(g, t->data.path[0]), cstr(g, t->data.path[1])};
  LLVMValueRef tp[2] = {cstr(g, t->test.path[0]), cstr(g, t->test.path[1])};
  int64_t nclasses = 0;
  const Func *cls = ir_find_func(m, t->predict ? t->predict : t->generate ? t->generate : "");
  if (cls && cls->nret && cls->ret[0].rank) nclasses = cls->ret[0].dim[cls->ret[0].rank - 1];
  LLVMValueRef f[34] = {
      ci(g, fn_index(cg, t->loss)), ci(g, fn_index(cg, "train_step")),
      ci(g, fn_index(cg, t->predict)), ci(g, fn_index(cg, t->generate)),
      ci(g, t->opt.kind), cd(g, t->opt.lr), cd(g, t->opt.momentum), cd(g, t->opt.weight_decay), cd(g, t->opt.beta1),
      cd(g, t->opt.beta2), cd(g, t->opt.eps), ci(g, t->opt.nesterov), ci(g, t->sched.kind), cl(g, t->sched.every),
      cl(g, t->sched.warmup), cd(g, t->sched.gamma), cd(g, t->sched.min_lr), cd(g, t->clip_norm), cl(g, t->epochs),
      cl(g, (int64_t)t->seed), ci(g, t->data.kind), ci(g, t->test.kind), LLVMConstArray2(g->t_ptr, dp, 2),
      LLVMConstArray2(g->t_ptr, tp, 2), cd(g, t->data.scale), cd(g, t->test.scale), cd(g, t->data.split),
      cd(g, t->test.split), cl(g, t->data.label_col), cl(g, t->test.label_col), ci(g, nstate), cl(g, nclasses),
      ci(g, train_grad_fn(cg)), ci(g, fn_index(cg, "apply_update"))};
  return global_const(g, cst(g, T->train, f, 34), "train_desc");
}

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/* The bound of f's run-time size, 0 without one. */
static int64_t func_dim_bound(const Func *f) {
  if (!ir_dim_arg(f)) return 0;
  for (int i = 0; i < f->body->nargs; i++)
    if (type_dyn_bound(&f->body->args[i]->ty)) return type_dyn_bound(&f->body->args[i]->ty);
  return 1;
}

/* Every text build_desc (with slots and train_desc) and build_api pass to
 * cstr, into the string table. */
static void gather_strings(CodeGen *cg) {
  Gen *g = &cg->g;
  const Module *m = cg->c->m;
  size_t len = 0;
  strtab_add(g, cg->prefix, &len);
  for (int i = 0; i < m->nparams; i++) strtab_add(g, m->params[i].name, &len);
  for (int i = 0; i < cg->nfuncs; i++) {
    const Func *f = cg->funcs[i].ir;
    strtab_add(g, cg->funcs[i].api_name, &len);
    for (int k = 0; k < f->body->nargs; k++) strtab_add(g, f->body->args[k]->name ? f->body->args[k]->name : "", &len);
    for (int k = 0; k < f->nret; k++) strtab_add(g, f->ret_name && f->ret_name[k] ? f->ret_name[k] : "", &len);
  }
  const TrainSpec *t = m->train;
  for (int k = 0; t && t->loss && k < 2; k++) {
    strtab_add(g, t->data.path[k], &len);
    strtab_add(g, t->test.path[k], &len);
  }
  /* last, so that no other text's place depends on the source's name
   * (the hash is of one length) */
  strtab_add(g, cg->opts.source_hash ? cg->opts.source_hash : "", &len);
  strtab_add(g, cg->opts.build_info ? cg->opts.build_info : "", &len);
  strtab_finish(g, len);
}

static LLVMValueRef build_desc(CodeGen *cg, LLVMValueRef *impls) {
  Gen *g = &cg->g;
  gather_strings(cg);
  Types T = make_types(g);
  const Module *m = cg->c->m;
  /* parameters */
  LLVMValueRef *pv = NEW_ARRAY(cg->a, LLVMValueRef, m->nparams + 1);
  size_t off = 0;
  size_t eoff = 0;
  for (int i = 0; i < m->nparams; i++) {
    const IrParam *p = &m->params[i];
    size_t es = dtype_size(p->ty.dtype);
    LLVMValueRef info[5] = {cstr_later(cg, p->name), ci(g, p->ty.rank), shape8(g, &p->ty), cl(g, (int64_t)(off / es)),
                            cl(g, type_numel(&p->ty))};
    (void)eoff;
    static const int kinds[] = {RT_INIT_ZEROS, RT_INIT_ONES, RT_INIT_CONST, RT_INIT_UNIFORM, RT_INIT_NORMAL,
                                RT_INIT_TRUNC_NORMAL};
    LLVMValueRef f[6] = {cst(g, T.info, info, 5), ci(g, p->ty.dtype), cl(g, (int64_t)off), ci(g, kinds[p->init.kind]),
                         cd(g, p->init.a), cd(g, p->init.b)};
    pv[i] = cst(g, T.param, f, 6);
    off += align64(type_bytes(&p->ty));
  }
  size_t param_bytes = off;
  LLVMValueRef params = m->nparams ? global_const_later(cg, LLVMConstArray2(T.param, pv, (uint64_t)m->nparams), "params")
                                   : LLVMConstNull(g->t_ptr);
  /* functions */
  LLVMValueRef *fv = NEW_ARRAY(cg->a, LLVMValueRef, cg->nfuncs + 1);
  size_t ws = 0;
  for (int i = 0; i < cg->nfuncs; i++) {
    CgFunc *cf = &cg->funcs[i];
    int nin = 0, nout = 0;
    LLVMValueRef args = slots(cg, &T, cf->ir, false, &nin);
    LLVMValueRef res = slots(cg, &T, cf->ir, true, &nout);
    LLVMValueRef f[10] = {cstr(g, cf->api_name), impls[i], ci(g, cf->ir->body->nargs), ci(g, cf->ir->nret), args, res,
                          ci(g, nin), ci(g, nout), cl(g, (int64_t)cf->ws_bytes), cl(g, func_dim_bound(cf->ir))};
    fv[i] = cst(g, T.func, f, 10);
    if (cf->ws_bytes > ws) ws = cf->ws_bytes;
  }
  cg->ws_bytes = ws;
  LLVMValueRef funcs = global_const(g, LLVMConstArray2(T.func, fv, (uint64_t)cg->nfuncs), "funcs");
  int nstate = 0;
  Func *ts = ir_find_func(m, "train_step");
  if (ts)
    for (int i = 0; i < ts->body->nargs; i++) nstate += ts->arg_role[i].kind == ARG_STATE;
  size_t state_bytes = m->nparams ? (size_t)(nstate / m->nparams) * param_bytes : 0;
  LLVMTargetDataRef td = LLVMGetModuleDataLayout(g->mod);
  LLVMValueRef d[14] = {cl(g, (int64_t)RT_MODEL_MAGIC), ci(g, RT_ABI_VERSION), ci(g, (int64_t)LLVMABISizeOfType(td, T.desc)),
                        cstr(g, cg->prefix), cstr(g, cg->opts.build_info ? cg->opts.build_info : ""),
                        cstr(g, cg->opts.source_hash ? cg->opts.source_hash : ""), ci(g, m->nparams), params,
                        cl(g, (int64_t)param_bytes), cl(g, (int64_t)state_bytes), ci(g, cg->nfuncs), funcs,
                        cl(g, (int64_t)ws), train_desc(cg, &T)};
  char name[160];
  snprintf(name, sizeof name, "%s__desc", cg->prefix);
  LLVMValueRef gv = global_const(g, cst(g, T.desc, d, 14), name);
  return gv;
}

/* ---- the C API ----------------------------------------------------------------------- */

static LLVMValueRef api_fn(CodeGen *cg, const char *suffix, LLVMTypeRef ret, LLVMTypeRef *ps, int np) {
  Gen *g = &cg->g;
  char name[256];
  snprintf(name, sizeof name, "%s_%s", cg->prefix, suffix);
  LLVMValueRef fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(ret, ps, (unsigned)np, 0));
  LLVMSetVisibility(fn, LLVMDefaultVisibility);
  LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
  LLVMPositionBuilderAtEnd(g->b, bb);
  g->fn = fn;
  return fn;
}

static LLVMValueRef rtcall(Gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *ps, int np, LLVMValueRef *args) {
  return g_call(g, name, ret, ps, np, args);
}

static void build_api(CodeGen *cg, LLVMValueRef desc) {
  Gen *g = &cg->g;
  LLVMTypeRef P = g->t_ptr, I = g->t_i32, L = g->t_i64;
  LLVMValueRef fn;
  /* create / destroy */
  fn = api_fn(cg, "create", I, (LLVMTypeRef[]){P, L}, 2);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_create", I, (LLVMTypeRef[]){P, P, L, I}, 4,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), ci(g, 0)}));
  fn = api_fn(cg, "create_threads", I, (LLVMTypeRef[]){P, L, I}, 3);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_create", I, (LLVMTypeRef[]){P, P, L, I}, 4,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2)}));
  fn = api_fn(cg, "destroy", g->t_void, (LLVMTypeRef[]){P}, 1);
  rtcall(g, "rt_model_destroy", g->t_void, (LLVMTypeRef[]){P, P}, 2, (LLVMValueRef[]){desc, LLVMGetParam(fn, 0)});
  LLVMBuildRetVoid(g->b);
  /* one entry per function */
  for (int i = 0; i < cg->nfuncs; i++) {
    CgFunc *cf = &cg->funcs[i];
    Func *f = cf->ir;
    int nin = 0, nout = 0;
    for (int k = 0; k < f->body->nargs; k++) nin += f->arg_role[k].kind == ARG_INPUT;
    for (int k = 0; k < f->nret; k++) nout += user_visible_res(role_of_res(f->ret_role[k]));
    int n = nin + nout;
    /* a function with a run-time size takes it right after the object:
     * NAME_fn(m, int64_t n, pointers...) */
    unsigned dn = ir_dim_arg(f) ? 1 : 0;
    LLVMTypeRef *ps = NEW_ARRAY(cg->a, LLVMTypeRef, n + 2);
    ps[0] = P;
    if (dn) ps[1] = L;
    for (int k = 0; k < n; k++) ps[k + 1 + dn] = P;
    /* the gradient train_step differentiates is also NAME_grad, the first
     * half of a step (rt_model_grad: the step's dropout seed) */
    bool is_tgrad = i == train_grad_fn(cg);
    for (int pass = 0; pass < 1 + is_tgrad; pass++) {
      fn = api_fn(cg, pass ? "grad" : cf->api_name, I, ps, n + 1 + (int)dn);
      LLVMValueRef arr = LLVMBuildAlloca(g->b, LLVMArrayType2(P, (uint64_t)(n ? n : 1)), "user");
      for (int k = 0; k < n; k++) {
        LLVMValueRef idx[2] = {cl(g, 0), cl(g, k)};
        LLVMBuildStore(g->b, LLVMGetParam(fn, (unsigned)k + 1 + dn), LLVMBuildGEP2(g->b, LLVMArrayType2(P, (uint64_t)(n ? n : 1)), arr, idx, 2, ""));
      }
      bool is_train = !strcmp(f->name, "train_step");
      LLVMValueRef r;
      if (!strcmp(f->name, "apply_update"))
        r = rtcall(g, "rt_model_apply_update", I, (LLVMTypeRef[]){P, P}, 2, (LLVMValueRef[]){desc, LLVMGetParam(fn, 0)});
      else if (pass && dn)
        r = rtcall(g, "rt_model_grad_n", I, (LLVMTypeRef[]){P, P, L, P, I}, 5,
                   (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), arr, ci(g, n)});
      else if (pass)
        r = rtcall(g, "rt_model_grad", I, (LLVMTypeRef[]){P, P, P, I}, 4,
                   (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), arr, ci(g, n)});
      else if (is_train && dn)
        r = rtcall(g, "rt_model_train_step_n", I, (LLVMTypeRef[]){P, P, L, P, I}, 5,
                   (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), arr, ci(g, n)});
      else if (is_train)
        r = rtcall(g, "rt_model_train_step", I, (LLVMTypeRef[]){P, P, P, I}, 4,
                   (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), arr, ci(g, n)});
      else if (dn)
        r = rtcall(g, "rt_model_call_n", I, (LLVMTypeRef[]){P, P, I, L, P, I}, 6,
                   (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), ci(g, i), LLVMGetParam(fn, 1), arr, ci(g, n)});
      else
        r = rtcall(g, "rt_model_call", I, (LLVMTypeRef[]){P, P, I, P, I}, 5,
                   (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), ci(g, i), arr, ci(g, n)});
      LLVMBuildRet(g->b, r);
    }
  }
  /* parameters and buffers */
  fn = api_fn(cg, "num_params", L, NULL, 0);
  LLVMBuildRet(g->b, cl(g, cg->c->m->nparams));
  fn = api_fn(cg, "param_info", P, (LLVMTypeRef[]){L}, 1);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_param_info", P, (LLVMTypeRef[]){P, L}, 2, (LLVMValueRef[]){desc, LLVMGetParam(fn, 0)}));
  fn = api_fn(cg, "params", P, (LLVMTypeRef[]){P}, 1);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_params", P, (LLVMTypeRef[]){P, P}, 2, (LLVMValueRef[]){desc, LLVMGetParam(fn, 0)}));
  fn = api_fn(cg, "grads", P, (LLVMTypeRef[]){P}, 1);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_grads", P, (LLVMTypeRef[]){P, P}, 2, (LLVMValueRef[]){desc, LLVMGetParam(fn, 0)}));
  fn = api_fn(cg, "save", I, (LLVMTypeRef[]){P, P}, 2);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_save", I, (LLVMTypeRef[]){P, P, P, P, P, I}, 6,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMConstNull(P),
                                             LLVMConstNull(P), ci(g, 0)}));
  fn = api_fn(cg, "load", I, (LLVMTypeRef[]){P, P}, 2);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_load", I, (LLVMTypeRef[]){P, P, P}, 3,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)}));
  fn = api_fn(cg, "init_params", I, (LLVMTypeRef[]){P, L}, 2);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_init_params", I, (LLVMTypeRef[]){P, P, L}, 3,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)}));
  fn = api_fn(cg, "set_learning_rate", I, (LLVMTypeRef[]){P, g->t_f64}, 2);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_set_lr", I, (LLVMTypeRef[]){P, P, g->t_f64}, 3,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)}));
  fn = api_fn(cg, "set_grad_ready", I, (LLVMTypeRef[]){P, P, P}, 3);
  LLVMBuildRet(g->b, rtcall(g, "rt_model_set_grad_ready", I, (LLVMTypeRef[]){P, P, P, P}, 4,
                            (LLVMValueRef[]){desc, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2)}));
  /* information */
  fn = api_fn(cg, "abi_version", I, NULL, 0);
  LLVMBuildRet(g->b, ci(g, RT_ABI_VERSION));
  fn = api_fn(cg, "build_info", P, NULL, 0);
  LLVMBuildRet(g->b, cstr(g, cg->opts.build_info ? cg->opts.build_info : ""));
  fn = api_fn(cg, "status_string", P, (LLVMTypeRef[]){I}, 1);
  LLVMBuildRet(g->b, rtcall(g, "rt_status_string", P, (LLVMTypeRef[]){I}, 1, (LLVMValueRef[]){LLVMGetParam(fn, 0)}));
  fn = api_fn(cg, "last_error", P, NULL, 0);
  LLVMBuildRet(g->b, rtcall(g, "rt_last_error", P, NULL, 0, NULL));
  fn = api_fn(cg, "descriptor", P, NULL, 0);
  LLVMBuildRet(g->b, desc);
  if (cg->opts.with_main) {
    /* int main(int argc, char **argv) { return rt_train_main(&desc, argc, argv); } */
    LLVMValueRef mainf = LLVMAddFunction(g->mod, "main", LLVMFunctionType(I, (LLVMTypeRef[]){I, P}, 2, 0));
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, mainf, "entry"));
    g->fn = mainf;
    LLVMBuildRet(g->b, rtcall(g, "rt_train_main", I, (LLVMTypeRef[]){P, I, P}, 3,
                              (LLVMValueRef[]){desc, LLVMGetParam(mainf, 0), LLVMGetParam(mainf, 1)}));
  }
}

/* ---- train_step: the gradient, then the update ----------------------------------------- */

/* train_step's slots of bufs by role (argument k is k, result k is
 * nargs + k): at[res][kind][index], -1 where there is none. A table
 * rather than a search: two parts of 10,000 parameters look up 40,000
 * slots. */
enum { ROLE_KINDS = RES_NEW_STATE + 1 };
typedef struct TrainSlots {
  int *at[2][ROLE_KINDS];
  int n[2][ROLE_KINDS];
} TrainSlots;

static void train_slots_init(TrainSlots *t, Arena *a, const Func *ts) {
  memset(t, 0, sizeof *t);
  for (int res = 0; res < 2; res++) {
    int n = res ? ts->nret : ts->body->nargs;
    const Role *roles = res ? ts->ret_role : ts->arg_role;
    for (int k = 0; k < n; k++)
      if (roles[k].index >= t->n[res][roles[k].kind]) t->n[res][roles[k].kind] = roles[k].index + 1;
    for (int kind = 0; kind < ROLE_KINDS; kind++) {
      t->at[res][kind] = NEW_ARRAY(a, int, t->n[res][kind] + 1);
      for (int i = 0; i < t->n[res][kind]; i++) t->at[res][kind][i] = -1;
    }
    for (int k = n - 1; k >= 0; k--) /* the first of a role, as a search would find */
      t->at[res][roles[k].kind][roles[k].index] = (res ? ts->body->nargs : 0) + k;
  }
}

/* The slot of train_step's bufs holding what a part's argument (res
 * false) or result of role r points to: train_step's slot of the same
 * role and index; the gradients apply_update reads are train_step's
 * gradient results. -1 if none. */
static int train_slot(const TrainSlots *t, Role r, bool res) {
  if (!res && r.kind == ARG_GRAD) r.kind = RES_GRAD, res = true;
  if (r.kind < 0 || r.kind >= ROLE_KINDS || r.index < 0 || r.index >= t->n[res][r.kind]) return -1;
  return t->at[res][r.kind][r.index];
}

/* part(ws, pool, its bufs), the bufs gathered from train_step's by a loop
 * over a constant table of train_step's slots (then the call context,
 * train_step's own): the code stays the same size however many parameters
 * there are. The call is never inlined: the part's code stays once in the
 * library. */
static void call_part(CodeGen *cg, const Func *ts, const TrainSlots *slots, const CgFunc *part, LLVMValueRef impl,
                      LLVMValueRef fn, LLVMValueRef arr) {
  Gen *g = &cg->g;
  const Func *f = part->ir;
  int na = f->body->nargs, n = na + f->nret;
  LLVMValueRef *from = NEW_ARRAY(cg->a, LLVMValueRef, n + 1);
  for (int k = 0; k <= n; k++) {
    int i = k == n ? ts->body->nargs + ts->nret : k < na ? train_slot(slots, f->arg_role[k], false)
                                                         : train_slot(slots, f->ret_role[k - na], true);
    if (i < 0) die("train_step has no buffer for slot %d of %s", k, f->name);
    from[k] = ci(g, i);
  }
  LLVMValueRef table = global_const(g, LLVMConstArray2(g->t_i32, from, (uint64_t)n + 1), "slots_of");
  LLVMBasicBlockRef header, exit;
  LLVMValueRef k;
  g_loop_begin(g, cl(g, n + 1), &header, &exit, &k);
  LLVMValueRef i = LLVMBuildLoad2(g->b, g->t_i32, LLVMBuildGEP2(g->b, g->t_i32, table, &k, 1, ""), "");
  i = LLVMBuildSExt(g->b, i, g->t_i64, "");
  LLVMValueRef p = LLVMBuildLoad2(g->b, g->t_ptr, LLVMBuildGEP2(g->b, g->t_ptr, LLVMGetParam(fn, 2), &i, 1, ""), "");
  LLVMBuildStore(g->b, p, LLVMBuildGEP2(g->b, g->t_ptr, arr, &k, 1, ""));
  g_loop_end(g, header, exit, k);
  LLVMValueRef args[3] = {LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), arr};
  LLVMValueRef call = LLVMBuildCall2(g->b, LLVMGlobalGetValueType(impl), impl, args, 3, "");
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  LLVMAddCallSiteAttribute(call, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, noinline, 0));
}

/* train_step's code: the gradient function, then apply_update, on its
 * buffers (its results include the gradients, in the gradient buffer).
 * Its IR body (trainstep.c) is what this computes; lowered, it would be a
 * second copy of the gradient code. Its workspace is theirs, one after
 * the other. */
static LLVMValueRef gen_train_step(CodeGen *cg, int ts_index, const LLVMValueRef *impls, const char *name) {
  Gen *g = &cg->g;
  int gi = train_grad_fn(cg), ui = fn_index(cg, "apply_update");
  if (gi < 0 || ui < 0) die("train_step without its gradient or apply_update");
  CgFunc *ts = &cg->funcs[ts_index];
  LLVMTypeRef ps[3] = {g->t_ptr, g->t_ptr, g->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->t_void, ps, 3, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  g->fn = fn;
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
  /* the parts' buffer arrays, in the entry block */
  int most = 0;
  for (int k = 0; k < 2; k++) {
    const Func *f = cg->funcs[k ? ui : gi].ir;
    if (f->body->nargs + f->nret > most) most = f->body->nargs + f->nret;
  }
  LLVMValueRef arr = LLVMBuildAlloca(g->b, LLVMArrayType2(g->t_ptr, (uint64_t)most + 1), "bufs");
  TrainSlots slots;
  train_slots_init(&slots, cg->a, ts->ir);
  call_part(cg, ts->ir, &slots, &cg->funcs[gi], impls[gi], fn, arr);
  call_part(cg, ts->ir, &slots, &cg->funcs[ui], impls[ui], fn, arr);
  LLVMBuildRetVoid(g->b);
  size_t gw = cg->funcs[gi].ws_bytes, uw = cg->funcs[ui].ws_bytes;
  ts->ws_bytes = gw > uw ? gw : uw;
  return fn;
}

/* ---- target ------------------------------------------------------------------------- */

static bool targets_ready;

static void init_targets(void) {
  if (targets_ready) return;
  LLVMInitializeAllTargetInfos();
  LLVMInitializeAllTargets();
  LLVMInitializeAllTargetMCs();
  LLVMInitializeAllAsmPrinters();
  LLVMInitializeAllAsmParsers();
  targets_ready = true;
}

void backend_host(char *triple, size_t nt, char *cpu, size_t nc) {
  char *t = LLVMGetDefaultTargetTriple(), *c = LLVMGetHostCPUName();
  snprintf(triple, nt, "%s", t);
  snprintf(cpu, nc, "%s", c);
  LLVMDisposeMessage(t);
  LLVMDisposeMessage(c);
}

/* The host's features with those above the instruction set named by
 * NNC_ISA (avx512, avx2, c) turned off, as the runtime's kernels do with the
 * same variable: an AVX-512 machine then builds and runs what an AVX2 one
 * would. Unset or unknown: the host's features as they are. */
static char *host_features_capped(const char *f) {
  const char *isa = getenv("NNC_ISA");
  int level = !isa ? 0 : !strcmp(isa, "avx2") ? 1 : !strcmp(isa, "c") ? 2 : 0;
  char *out = malloc(strlen(f) + 1);
  if (!out) return NULL;
  strcpy(out, f);
  if (!level) return out;
  for (char *p = out; *p;) {
    char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *name = p + 1; /* past the + or - */
    bool above = !strncmp(name, "avx512", 6) || !strncmp(name, "amx", 3) ||
                 !strncmp(name, "avx10", 5) || !strncmp(name, "evex512", 7);
    if (level == 2)
      above = above || !strncmp(name, "avx", 3) || !strncmp(name, "fma", 3) ||
              !strncmp(name, "f16c", 4) || !strncmp(name, "vaes", 4) ||
              !strncmp(name, "vpclmulqdq", 10) || !strncmp(name, "gfni", 4);
    if (above && *p == '+') *p = '-';
    p += n;
    if (*p == ',') p++;
  }
  return out;
}

static bool make_tm(CodeGen *cg, Diag *d) {
  init_targets();
  char *triple = cg->opts.triple ? strdup(cg->opts.triple) : NULL;
  if (!triple) {
    char *t = LLVMGetDefaultTargetTriple();
    triple = strdup(t);
    LLVMDisposeMessage(t);
  }
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    diag_error(d, loc_none(), "unknown target '%s': %s", triple, err ? err : "");
    LLVMDisposeMessage(err);
    free(triple);
    return false;
  }
  if (cg->opts.cpu) {
    snprintf(cg->cpu, sizeof cg->cpu, "%s", cg->opts.cpu);
    cg->features = strdup(cg->opts.features ? cg->opts.features : "");
  } else if (cg->opts.triple) {
    snprintf(cg->cpu, sizeof cg->cpu, "generic");
    cg->features = strdup(cg->opts.features ? cg->opts.features : "");
  } else {
    char *c = LLVMGetHostCPUName(), *f = LLVMGetHostCPUFeatures();
    snprintf(cg->cpu, sizeof cg->cpu, "%s", c);
    cg->features = cg->opts.features ? strdup(cg->opts.features) : host_features_capped(f);
    LLVMDisposeMessage(c);
    LLVMDisposeMessage(f);
  }
  LLVMCodeGenOptLevel lvl = cg->opts.opt_level <= 0 ? LLVMCodeGenLevelNone
                           : cg->opts.opt_level == 1 ? LLVMCodeGenLevelLess
                           : cg->opts.opt_level == 2 ? LLVMCodeGenLevelDefault
                                                     : LLVMCodeGenLevelAggressive;
  cg->tm = LLVMCreateTargetMachine(target, triple, cg->cpu, cg->features, lvl,
                                   cg->opts.pic ? LLVMRelocPIC : LLVMRelocDefault, LLVMCodeModelDefault);
  if (!cg->tm) {
    diag_error(d, loc_none(), "cannot create a target machine for '%s' (cpu '%s')", triple, cg->cpu);
    free(triple);
    return false;
  }
  LLVMSetTarget(cg->g.mod, triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(cg->tm);
  LLVMSetModuleDataLayout(cg->g.mod, td);
  LLVMDisposeTargetData(td);
  free(triple);
  return true;
}

static void add_fn_attrs(CodeGen *cg) {
  Gen *g = &cg->g;
  for (LLVMValueRef f = LLVMGetFirstFunction(g->mod); f; f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f)) continue;
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(g->ctx, "target-cpu", 10, cg->cpu, (unsigned)strlen(cg->cpu)));
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(g->ctx, "target-features", 15, cg->features,
                                                      (unsigned)strlen(cg->features)));
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, nounwind, 0));
  }
}

/* ---- entry points ------------------------------------------------------------------- */

static void init_types(Gen *g) {
  g->t_void = LLVMVoidTypeInContext(g->ctx);
  g->t_i1 = LLVMInt1TypeInContext(g->ctx);
  g->t_i8 = LLVMInt8TypeInContext(g->ctx);
  g->t_i32 = LLVMInt32TypeInContext(g->ctx);
  g->t_i64 = LLVMInt64TypeInContext(g->ctx);
  g->t_f32 = LLVMFloatTypeInContext(g->ctx);
  g->t_f64 = LLVMDoubleTypeInContext(g->ctx);
  g->t_ptr = LLVMPointerTypeInContext(g->ctx, 0);
}

/* The descriptor struct `which` as make_types builds it, laid out by the
 * host's data layout: its size and each element's offset and size, for the
 * test that compares them with the C compiler's (tests/unit/test_abi_layout.c). */
int codegen_abi_layout(CgAbiStruct which, size_t *size, size_t *offsets, size_t *sizes, int max) {
  init_targets();
  Gen g = {.ctx = LLVMContextCreate()};
  init_types(&g);
  Types T = make_types(&g);
  LLVMTypeRef all[CG_ABI_NSTRUCTS] = {T.slot, T.info, T.param, T.func, T.train, T.desc};
  LLVMTypeRef ty = all[which];
  char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
  LLVMTargetRef target;
  int n = -1;
  if (!LLVMGetTargetFromTriple(triple, &target, &err)) {
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, "", "", LLVMCodeGenLevelNone, LLVMRelocDefault,
                                                      LLVMCodeModelDefault);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    n = (int)LLVMCountStructElementTypes(ty);
    *size = (size_t)LLVMABISizeOfType(td, ty);
    for (int i = 0; i < n && i < max; i++) {
      offsets[i] = (size_t)LLVMOffsetOfElement(td, ty, (unsigned)i);
      sizes[i] = (size_t)LLVMABISizeOfType(td, LLVMStructGetTypeAtIndex(ty, (unsigned)i));
    }
    LLVMDisposeTargetData(td);
    LLVMDisposeTargetMachine(tm);
  }
  LLVMDisposeMessage(err);
  LLVMDisposeMessage(triple);
  LLVMContextDispose(g.ctx);
  return n;
}

CodeGen *codegen_module(const Compiled *c, const BackendOpts *o, Diag *d) {
  CodeGen *cg = calloc(1, sizeof *cg);
  if (!cg) die("out of memory");
  cg->a = arena_new();
  cg->opts = *o;
  cg->c = c;
  snprintf(cg->prefix, sizeof cg->prefix, "%s", o->name ? o->name : c->m->name);
  Gen *g = &cg->g;
  g->a = cg->a;
  g->opts = &cg->opts;
  sm_init(&g->strs, g->a);
  cg->tsc = LLVMOrcCreateNewThreadSafeContext();
  g->ctx = LLVMOrcThreadSafeContextGetContext(cg->tsc);
  g->mod = LLVMModuleCreateWithNameInContext(cg->prefix, g->ctx);
  g->b = LLVMCreateBuilderInContext(g->ctx);
  init_types(g);
  if (!make_tm(cg, d)) {
    codegen_free(cg);
    return NULL;
  }
  const Module *m = c->m;
  if (!check_c_names(m, cg->prefix, d)) { /* for callers that did not run the pipeline's check */
    codegen_free(cg);
    return NULL;
  }
  cg->funcs = NEW_ARRAY(cg->a, CgFunc, m->nfuncs + 1);
  LLVMValueRef *impls = NEW_ARRAY(cg->a, LLVMValueRef, m->nfuncs + 1);
  int ts_index = -1;
  char ts_name[300];
  for (int i = 0; i < m->nfuncs; i++) {
    Func *f = m->funcs[i];
    CgFunc *cf = &cg->funcs[cg->nfuncs];
    cf->ir = f;
    cf->api_name = api_c_name(cg->a, f->name);
    char name[300];
    snprintf(name, sizeof name, "%s__%s", cg->prefix, cf->api_name);
    if (!strcmp(f->name, "train_step")) { /* after the functions it calls */
      ts_index = cg->nfuncs++;
      snprintf(ts_name, sizeof ts_name, "%s", name);
      continue;
    }
    Arena *scratch = arena_new(); /* f's plan, freed once f is lowered */
    Plan *plan = compiled_plan_once(c, f, scratch);
    cf->ws_bytes = plan->ws_bytes;
    impls[cg->nfuncs] = gen_function(g, f, plan, name);
    g->plan = NULL;
    arena_free(scratch);
    cg->nfuncs++;
  }
  if (ts_index >= 0) impls[ts_index] = gen_train_step(cg, ts_index, impls, ts_name);
  LLVMValueRef desc = build_desc(cg, impls);
  build_api(cg, desc);
  add_fn_attrs(cg);
  char *err = NULL;
  if (LLVMVerifyModule(g->mod, LLVMReturnStatusAction, &err)) {
    fprintf(stderr, "%s\n", err);
    die("the generated LLVM IR does not verify");
  }
  LLVMDisposeMessage(err);
  return cg;
}

void codegen_free(CodeGen *cg) {
  if (!cg) return;
  if (cg->g.b) LLVMDisposeBuilder(cg->g.b);
  if (cg->hold) LLVMDisposeModule(cg->hold); /* before the module its constants point into */
  if (cg->g.mod) LLVMDisposeModule(cg->g.mod);
  if (cg->tm) LLVMDisposeTargetMachine(cg->tm);
  if (cg->tsc) LLVMOrcDisposeThreadSafeContext(cg->tsc);
  free(cg->features);
  arena_free(cg->a);
  free(cg);
}

int codegen_nfuncs(const CodeGen *cg) { return cg->nfuncs; }
const CgFunc *codegen_func(const CodeGen *cg, int i) { return &cg->funcs[i]; }
size_t codegen_ws_bytes(const CodeGen *cg) { return cg->ws_bytes; }
const char *codegen_prefix(const CodeGen *cg) { return cg->prefix; }

static bool optimize(CodeGen *cg, char *err, size_t errn) {
  if (cg->optimized) return true;
  cg->optimized = true;
  const char *dump = getenv("NNC_DUMP_LLVM"); /* debugging aid: dump before optimizing */
  if (dump && *dump) LLVMPrintModuleToFile(cg->g.mod, dump, NULL);
  const char *args = getenv("NNC_LLVM_ARGS"); /* debugging aid: LLVM's options, e.g. -time-passes */
  if (args && *args) {
    char *copy = strdup(args), *argv[64] = {"nnc"};
    int argc = 1;
    for (char *t = strtok(copy, " "); t && argc < 64; t = strtok(NULL, " ")) argv[argc++] = t;
    LLVMParseCommandLineOptions(argc, (const char *const *)argv, NULL);
  }
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", cg->opts.opt_level < 0 ? 0 : cg->opts.opt_level > 3 ? 3 : cg->opts.opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  /* Our loops are vectorized and interleaved already; unrolling them on
   * top multiplies compile time (the unroller was half of it on tiny_gpt)
   * for no measured gain. */
  LLVMPassBuilderOptionsSetLoopUnrolling(po, 0);
  LLVMErrorRef e = LLVMRunPasses(cg->g.mod, pipeline, cg->tm, po);
  LLVMDisposePassBuilderOptions(po);
  attach_later(cg);
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    snprintf(err, errn, "LLVM passes failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
  }
  return true;
}

bool codegen_emit(CodeGen *cg, CgOutput kind, const char *path, char *err, size_t errn) {
  if (!optimize(cg, err, errn)) return false;
  char *msg = NULL;
  if (kind == CG_LLVM_IR) {
    if (LLVMPrintModuleToFile(cg->g.mod, path, &msg)) {
      snprintf(err, errn, "cannot write %s: %s", path, msg ? msg : "");
      LLVMDisposeMessage(msg);
      return false;
    }
    return true;
  }
  if (LLVMTargetMachineEmitToFile(cg->tm, cg->g.mod, (char *)path, kind == CG_ASM ? LLVMAssemblyFile : LLVMObjectFile,
                                  &msg)) {
    snprintf(err, errn, "cannot write %s: %s", path, msg ? msg : "");
    LLVMDisposeMessage(msg);
    return false;
  }
  return true;
}

/* ---- JIT --------------------------------------------------------------------------- */

struct Jit {
  LLVMOrcLLJITRef jit;
};

/* Runtime functions the generated code calls, given to the JIT by address
 * (they are hidden symbols of nnc's own copy of the runtime). */
typedef struct RtSym {
  const char *name;
  void *addr;
} RtSym;

#define RT(f) {#f, (void *)(f)}
static const RtSym rt_syms[] = {
    RT(rt_sgemm), RT(rt_dgemm), RT(rt_sgemm_batched), RT(rt_dgemm_batched),
    RT(rt_sgemm_prepack_b), RT(rt_dgemm_prepack_b), RT(rt_sgemm_prepacked), RT(rt_dgemm_prepacked),
    RT(rt_conv2d_forward), RT(rt_conv2d_backward_data), RT(rt_conv2d_backward_filter),
    RT(rt_conv2d_forward_f64), RT(rt_conv2d_backward_data_f64), RT(rt_conv2d_backward_filter_f64),
    RT(rt_maxpool2d_forward), RT(rt_maxpool2d_backward), RT(rt_maxpool2d_pick), RT(rt_avgpool2d_forward),
    RT(rt_maxpool2d_forward_tape), RT(rt_maxpool2d_backward_tape), RT(rt_conv2d_backward_filter_pooled),
    RT(rt_conv2d_backward_data_pooled),
    RT(rt_avgpool2d_backward), RT(rt_maxpool2d_forward_f64), RT(rt_maxpool2d_backward_f64),
    RT(rt_maxpool2d_pick_f64), RT(rt_avgpool2d_forward_f64), RT(rt_avgpool2d_backward_f64),
    RT(rt_rand_uniform), RT(rt_rand_uniform_rows), RT(rt_grad_ready), RT(rt_parallel_for), RT(rt_model_create), RT(rt_model_destroy), RT(rt_model_call), RT(rt_model_train_step),
    RT(rt_model_call_n), RT(rt_model_train_step_n), RT(rt_model_grad), RT(rt_model_grad_n), RT(rt_model_apply_update),
    RT(rt_model_param_info), RT(rt_model_params), RT(rt_model_grads), RT(rt_model_save), RT(rt_model_load),
    RT(rt_model_init_params), RT(rt_model_set_lr), RT(rt_model_set_grad_ready), RT(rt_status_string), RT(rt_last_error), RT(rt_train_main),
};
#undef RT

static bool jit_error(LLVMErrorRef e, char *err, size_t errn, const char *what) {
  if (!e) return false;
  char *msg = LLVMGetErrorMessage(e);
  snprintf(err, errn, "%s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return true;
}

Jit *jit_create(CodeGen *cg, char *err, size_t errn) {
  if (!optimize(cg, err, errn)) {
    codegen_free(cg);
    return NULL;
  }
  Jit *j = calloc(1, sizeof *j);
  if (!j) die("out of memory");
  LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(cg->tm);
  cg->tm = NULL; /* consumed */
  LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, jtmb);
  if (jit_error(LLVMOrcCreateLLJIT(&j->jit, jb), err, errn, "cannot create the JIT")) {
    free(j);
    codegen_free(cg);
    return NULL;
  }
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
  LLVMOrcDefinitionGeneratorRef gen;
  if (jit_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL),
                err, errn, "JIT symbol search")) {
    jit_destroy(j);
    codegen_free(cg);
    return NULL;
  }
  LLVMOrcJITDylibAddGenerator(jd, gen);
  enum { NSYM = sizeof rt_syms / sizeof rt_syms[0] };
  LLVMOrcCSymbolMapPair pairs[NSYM];
  for (int i = 0; i < NSYM; i++) {
    pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->jit, rt_syms[i].name);
    pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)rt_syms[i].addr;
    pairs[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
    pairs[i].Sym.Flags.TargetFlags = 0;
  }
  if (jit_error(LLVMOrcJITDylibDefine(jd, LLVMOrcAbsoluteSymbols(pairs, NSYM)), err, errn, "JIT runtime symbols")) {
    jit_destroy(j);
    codegen_free(cg);
    return NULL;
  }
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(cg->g.mod, cg->tsc);
  cg->g.mod = NULL; /* owned by the JIT now */
  LLVMDisposeBuilder(cg->g.b);
  cg->g.b = NULL;
  if (jit_error(LLVMOrcLLJITAddLLVMIRModule(j->jit, jd, tsm), err, errn, "JIT module")) {
    jit_destroy(j);
    codegen_free(cg);
    return NULL;
  }
  LLVMOrcDisposeThreadSafeContext(cg->tsc);
  cg->tsc = NULL;
  codegen_free(cg);
  return j;
}

void *jit_lookup(Jit *j, const char *symbol) {
  LLVMOrcExecutorAddress addr = 0;
  LLVMErrorRef e = LLVMOrcLLJITLookup(j->jit, &addr, symbol);
  if (e) {
    LLVMConsumeError(e);
    return NULL;
  }
  return (void *)(uintptr_t)addr;
}

void jit_destroy(Jit *j) {
  if (!j) return;
  if (j->jit) LLVMOrcDisposeLLJIT(j->jit);
  free(j);
}

/* ---- kernel scratch sizes -------------------------------------------------------------- */

void conv_shape_of(const Inst *in, int64_t s[13]);

size_t backend_scratch_for(const Inst *in) {
  if (op_info[in->op].lc != LC_CONV) return 0;
  int64_t s[13];
  conv_shape_of(in, s);
  rt_conv2d_shape cs = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12]};
  size_t bytes = rt_conv2d_scratch_bytes(&cs, 1);
  /* the plan may let it read a max-pooling gradient (plan.h) */
  const Value *dy = in->op == OP_CONV2D_BWD_W ? in->args[1] : in->op == OP_CONV2D_BWD_X ? in->args[0] : NULL;
  if (dy && dy->def && dy->def->op == OP_MAXPOOL2D_BWD) {
    size_t pooled = rt_conv2d_pooled_scratch_bytes(&cs, 1);
    if (pooled > bytes) bytes = pooled;
  }
  return bytes;
}
