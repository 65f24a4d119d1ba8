/* llvm_internal.h — what the files of the LLVM backend share. Only the
 * backend folder includes llvm-c (STYLE: one place knows LLVM); LLVM
 * version differences, if any, are kept here. */
#ifndef NNC_LLVM_INTERNAL_H
#define NNC_LLVM_INTERNAL_H
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "backend.h"
#include "plan.h"
#include "ptrmap.h"
#include "strmap.h"

typedef struct Gen {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
  const BackendOpts *opts;
  Arena *a;
  /* the function being lowered */
  Func *f;
  Plan *plan;
  LLVMValueRef fn, ws, pool, bufs;
  LLVMValueRef entry_alloca_point;  /* allocas go before this */
  LLVMValueRef hoist_point;         /* loads of buffer pointers go before this (entry block) */
  PtrMap bufptr;                    /* buffer index + 1 -> its pointer, loaded once per function */
  PtrMap reg;        /* Value* -> LLVMValueRef: loop indices (i32 registers) */
  /* the i32 registers of reg in scope (loop indices, the run-time size),
   * in the order they came into scope: a parallel task's context fields
   * (par_range), so its LLVM IR does not depend on heap addresses */
  const Value *in_scope[MAX_RANK * 4];
  int nin_scope;
  int nargs;         /* f's argument count (results follow in bufs) */
  LLVMValueRef range_lo, range_hi; /* the next nest's outer loop range (a parallel chunk) */
  /* While a loop nest is emitted: the branch into its outermost loop.
   * Values the nest reads that do not change in it (scalars, run-time
   * slice positions) are loaded before it: loaded inside, next to the
   * nest's stores, LLVM may not hoist them and the loop stays scalar. */
  LLVMValueRef nest_pre;
  const Value *dim_arg;  /* f's run-time size argument (SCALAR_DIM, loaded into reg at entry), or NULL */
  int64_t dim_bound;     /* its bound */
  /* While an elementwise nest is emitted: the storage roots it writes and
   * their alias scopes (loads from other storage and the other writes
   * carry !noalias of them, so LLVM vectorizes without run-time checks). */
  struct {
    const Value *roots[32];
    LLVMMetadataRef scopes[32];
    int buf[32];            /* their storage (llvm_gen.c storage_range) */
    size_t lo[32], hi[32];
    int n;
  } acc;
  LLVMMetadataRef alias_domain;
  PtrMap scope_of;   /* storage root Value* -> its alias scope (LLVMMetadataRef) */
  /* While a rerolled kernel is emitted (llvm_reroll.c): storage root ->
   * 1 + its entry in the kernel's address array (passed as `bufs`); NULL
   * otherwise. */
  PtrMap *kroot;
  /* The rerolled kernels emitted so far, by signature (llvm_reroll.c):
   * a later function with the same kernel calls the same LLVM function
   * (forward and loss lower the same layers). NULL until the first. */
  struct KernelCache *kcache;
  /* parameter gradients final after a top-level instruction (llvm_gen.c
   * find_ready_points): rt_grad_ready(ctx, param) is called after `after`;
   * in instruction order, and ready_at maps an instruction to 1 + the
   * index of its first (see g_ready_first) */
  struct ReadyPoint {
    const Inst *after;
    int param;
  } *ready;
  int nready;
  PtrMap ready_at;
  bool announced;    /* a ready point has been lowered (the rest call rt_grad_ready(ctx, -1)) */
  StrMap strs;       /* text -> 1 + its offset in strtab (llvm_module.c strtab_add) */
  LLVMValueRef strtab; /* every string constant of the module, each NUL-terminated, in one global */
} Gen;
typedef struct ReadyPoint ReadyPoint;

/* A loop nest over an iteration space. With `flat`, one loop runs over
 * all elements and only `flat_idx` is valid. */
typedef struct Nest {
  Type space;
  bool flat;
  /* collapsed: the loops run over groups of adjacent axes of `orig` that
   * every operand reads contiguously; group g ends at axis group_last[g] */
  bool collapsed;
  Type orig;
  int group_last[MAX_RANK];
  LLVMValueRef flat_idx;
  LLVMValueRef idx[MAX_RANK];   /* i64 per axis */
  struct {
    LLVMBasicBlockRef header, body, exit;
    LLVMValueRef iv;
  } loops[MAX_RANK];
  int nloops;
  bool owns_pre;  /* this nest set g->nest_pre (it is the outermost) */
} Nest;

/* ---- llvm_gen.c -------------------------------------------------------- */
LLVMTypeRef g_elem_type(Gen *g, DType dt);   /* storage type (bool -> i8) */
LLVMTypeRef g_reg_type(Gen *g, DType dt);    /* register type (bool -> i1) */
LLVMValueRef g_i64(Gen *g, int64_t v);
LLVMValueRef g_i32(Gen *g, int64_t v);
LLVMValueRef g_fconst(Gen *g, DType dt, double v);
/* A simple counted loop: returns the i64 induction variable. */
LLVMValueRef g_loop_begin(Gen *g, LLVMValueRef n, LLVMBasicBlockRef *header, LLVMBasicBlockRef *exit,
                          LLVMValueRef *iv_out);
void g_loop_end(Gen *g, LLVMBasicBlockRef header, LLVMBasicBlockRef exit, LLVMValueRef iv);
LLVMValueRef g_call(Gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int np,
                    LLVMValueRef *args);
LLVMValueRef g_intrinsic(Gen *g, const char *name, LLVMTypeRef overload, LLVMValueRef *args, int nargs);
/* Lower one IR function to `void name(ptr ws, ptr pool, ptr bufs)`. */
LLVMValueRef gen_function(Gen *g, Func *f, Plan *plan, const char *name);

/* A new body function `void name(ptr ws, ptr pool, ptr bufs)`, the
 * builder at its entry (ws noalias when `noalias_ws`). */
LLVMValueRef g_body_fn(Gen *g, const char *name, bool noalias_ws);
/* Lower the top-level item starting at `in` (a plan group or one
 * instruction); returns the last instruction it covers. */
Inst *g_lower_item(Gen *g, Inst *in);
const PlanGroup *g_item_group(Gen *g, const Inst *in);
/* rt_grad_ready(ctx, param) (param: i32), see find_ready_points. */
void g_call_ready(Gen *g, LLVMValueRef param);
/* The index of the first ready point after top-level instruction in (the
 * others follow while g->ready[i].after == in), or g->nready. */
int g_ready_first(const Gen *g, const Inst *in);
/* The buffer (-1: the workspace) and byte range root's storage occupies. */
void storage_range(Gen *g, const Value *root, int *buf, size_t *lo, size_t *hi);

/* ---- llvm_reroll.c ----------------------------------------------------- */
/* Lower g->f as a loop over a table of its kernels when many of them
 * repeat (see there); NULL when it does not apply (then gen_function
 * lowers it as usual). */
LLVMValueRef reroll_function(Gen *g, const char *name);

/* ---- llvm_math.c ------------------------------------------------------- */
/* Vectorizable approximations for f32 (about 1 ulp); libm calls for f64. */
LLVMValueRef lm_exp(Gen *g, LLVMValueRef x, DType dt);
LLVMValueRef lm_log(Gen *g, LLVMValueRef x, DType dt);
LLVMValueRef lm_tanh(Gen *g, LLVMValueRef x, DType dt);
LLVMValueRef lm_sigmoid(Gen *g, LLVMValueRef x, DType dt);
LLVMValueRef lm_gelu(Gen *g, LLVMValueRef x, DType dt);
LLVMValueRef lm_pow(Gen *g, LLVMValueRef a, LLVMValueRef b, DType dt);

#endif
