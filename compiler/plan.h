/* plan.h — fusion decisions and the static memory plan of one function
 * (plan.c). The backend follows it to the letter.
 *
 * Fusion: an elementwise value whose only consumer is an elementwise op or
 * a reduction of the same shape is not stored at all: the consumer
 * computes it inline, so a chain like relu(x @ W + b) is one loop over the
 * matmul's output. Constants, iota and broadcasts are always inlined into
 * elementwise/reduction consumers. A slice or dyn_slice whose consumers
 * are all elementwise ops or reductions in its block is a view: each of
 * them reads the operand in place (an LSTM step's gates g[:, 0:H] and their
 * gradients), and the operand lives, unwritten, until the last has read it.
 *
 * Memory: every other value lives in a buffer. Arguments live where the
 * caller put them; results of the function may be computed straight into
 * the caller's result buffer; everything else gets a fixed byte offset in
 * one workspace, reused by liveness (first fit over live intervals of the
 * flattened instruction order; a value used inside a loop but defined
 * before it stays live to the loop's end). Reshapes alias their operand.
 * A loop's carried values live in one buffer each for the whole loop; the
 * next value is computed in place when nothing reads the old one after it.
 * Row updates (dyn_update, dyn_update_add, update_slice) and elementwise
 * ops whose first operand dies there write in place.
 *
 * Stacked values are computed straight into their row of the loop's
 * stacked result (ST_ROW) when the loop body defines them (not a nested
 * loop's result) and stacks them once: a tape row is not written twice.
 *
 * Tapes: when a block computes y = maxpool2d(x) (f32) and, later, one or
 * more maxpool2d_bwd(x, dy) with the same window, the forward also records
 * each window's argmax in a byte tape (a workspace buffer of its own, live
 * from the forward to the last backward) and the backwards read the tape
 * instead of x; x then no longer lives until the backward.
 *
 * Groups: consecutive stored elementwise instructions of one shape in a
 * block (fused instructions and reshapes between them emit no code and do
 * not break a run) are computed in one loop nest, each stored in turn per
 * element, later members reading earlier ones from registers: an LSTM
 * step's gates, cell and output, and their gradients, are one loop. A
 * member whose tree reads another member's result at another element
 * (through a view or a reshape, or broadcasting) does not join. Every
 * value the group reads at another element than the one computed lives
 * until after the group, so no member's result is stored over it (an
 * earlier iteration would overwrite what a later one reads).
 *
 * Prepacked weights: a matmul in a loop whose B is defined before the loop
 * (h @ Wh at every step of a recurrent network, and the backward's g @ Wh^T)
 * packs B once, before the outermost such loop, into a workspace buffer
 * live through that loop, and multiplies from it at every iteration
 * (rt_sgemm_prepack_b / rt_sgemm_prepacked): the same bits as rt_sgemm,
 * without T re-packings of B.
 *
 * Pooled convolution gradients: when such a backward's only consumers are
 * the data and filter gradients of the convolution before the pooling
 * (conv2d_bwd_x / conv2d_bwd_w with dy = maxpool2d_bwd(x', dpool)) and the
 * runtime has kernels for their shapes, the backward is not stored at all:
 * those kernels expand dy from the tape and dpool plane by plane as they go
 * (rt_conv2d_backward_*_pooled). */
#ifndef NNC_PLAN_H
#define NNC_PLAN_H
#include "ir.h"
#include "ptrmap.h"

typedef enum StoreKind {
  ST_NONE,      /* not stored: fused into its consumer (or unused) */
  ST_WS,        /* workspace + offset */
  ST_ARG,       /* the function's argument `index` (bufs[index]) */
  ST_RESULT,    /* the function's result `index` (bufs[nargs + index]) */
  ST_ALIAS,     /* the storage of `alias` (reshape, stop_gradient, in place) */
  ST_ROW        /* row i - lo of `alias`, the stacked loop result it is yielded into (a tape row) */
} StoreKind;

typedef struct ValPlan { /* (ordered for no padding: one per value) */
  size_t offset;      /* ST_WS */
  Value *alias;       /* ST_ALIAS */
  StoreKind kind;
  int index;          /* ST_ARG, ST_RESULT */
  bool inplace;       /* ST_ALIAS by an in-place op: only the changed part is written */
} ValPlan;

/* A run of stored elementwise instructions of one shape that the backend
 * computes in one loop nest (see "Groups" above). */
typedef struct PlanGroup {
  Inst **m;             /* members in program order (first = the key) */
  int n;                /* >= 2 */
  Inst *last;           /* the last instruction the group covers */
} PlanGroup;

/* A matmul inside a loop whose B operand does not change in it: B is
 * packed once before `loop` into `packed` (a workspace buffer live through
 * the loop) and every iteration multiplies from the packed panels. */
typedef struct Prepack {
  Inst *mm;             /* the matmul */
  Inst *loop;           /* the outermost loop around mm in which B is invariant */
  Value *packed;        /* its buffer (f32-typed, rt_?gemm_prepacked_bytes long) */
} Prepack;

typedef struct Plan {
  PtrMap vals;          /* Value* -> ValPlan*, for values renumbered since (Value.id no longer theirs):
                           made from val/vp when first needed (cap 0 until then) */
  Arena *a;             /* the plan's arena (where vals is made) */
  const Value **val;    /* value number (Value.id while it is the plan's) -> the value, for plan_of */
  ValPlan **vp;         /* value number -> its ValPlan, or NULL */
  int nval;
  PtrMap tapes;         /* maxpool2d / maxpool2d_bwd Inst* -> its tape (a bool-typed Value, one byte per window) */
  size_t ws_bytes;      /* workspace size */
  size_t scratch_off;   /* one scratch region for kernels (conv im2col) */
  size_t scratch_bytes;
  int nvalues;          /* materialized values */
  size_t tape_bytes;    /* argmax tapes (inside the workspace) */
  PtrMap pooled;        /* conv2d_bwd_x/_w Inst -> the maxpool2d_bwd Inst whose result it expands */
  PtrMap groups;        /* first member Inst -> its PlanGroup */
  PtrMap prepack;       /* matmul Inst -> its Prepack */
  PtrMap loop_packs;    /* `for` Inst -> PtrVec of the Prepacks packed before it */
  int nprepack;
  int ngroups;
  int npooled;          /* maxpool2d_bwd Insts not stored */
} Plan;

/* Makes f plannable, once before plan_func (compiled_plan does it): a loop
 * that yields a carried value into another slot (a swap) would read a
 * buffer the same yield already overwrote, so such values are copied
 * first; a yielded reshape of a carried value (a view of its buffer, say a
 * tape row of the gradient) is copied where the reshape is, since the
 * carry may be computed in place after it. Doing it again changes nothing. */
void plan_prepare(Arena *a, Func *f);

/* Plan f. `scratch_for` returns the scratch bytes an instruction needs
 * (0 for most; the backend knows the kernels). */
Plan *plan_func(Arena *a, Func *f, size_t (*scratch_for)(const Inst *in));

const ValPlan *plan_of(const Plan *p, const Value *v);
/* The maxpool2d_bwd a conv2d_bwd_x/_w computes its dy from, or NULL. */
const Inst *plan_pooled(const Plan *p, const Inst *in);
/* The prepacked B of matmul `in`, or NULL; the prepacks done before loop `in`. */
const Prepack *plan_prepack(const Plan *p, const Inst *in);
const PtrVec *plan_loop_packs(const Plan *p, const Inst *loop);
/* The group that starts at `in`, or NULL. */
const PlanGroup *plan_group(const Plan *p, const Inst *in);
/* Follow aliases to the value that owns the storage. */
const Value *plan_root(const Plan *p, const Value *v);
/* The argmax tape a maxpool2d writes or a maxpool2d_bwd reads, or NULL. */
const Value *plan_tape(const Plan *p, const Inst *in);
/* Is v computed inline by its consumer (no storage)? */
bool plan_fused(const Plan *p, const Value *v);

#endif
