/* grad.h — reverse-mode automatic differentiation, IR to IR (grad.c).
 *
 * grad_func(f) builds "<f>.grad": the same arguments as f, results
 * (loss, d loss/d param_0, ..., d loss/d param_{n-1}[, d loss/d input_k...]).
 * The forward code is copied, then the adjoint code follows it, op by op in
 * reverse, each op's rule taken from the op table (vjp.c). Loops run
 * backwards with the adjoints of their carried values as loop-carried
 * values; what the backward loop needs from each forward iteration is
 * stacked by the forward loop into tapes [T, ...]. */
#ifndef NNC_GRAD_H
#define NNC_GRAD_H
#include "ir.h"

/* A value the gradient keeps from the forward pass for the backward pass. */
typedef struct SavedValue {
  Value *value;     /* the forward value (inside a loop: one iteration's) */
  Value *tape;      /* the tape [T, ...] holding it for every iteration, or NULL */
  Pos pos;          /* .nn position of the instruction that computed it */
  size_t bytes;     /* size of what is kept (the whole tape for loops) */
  int depth;        /* loop nesting of the value (0 = straight-line) */
  Value *source;    /* not taped: read back from this carried tensor the loop fills (bytes = 0) */
  bool previous;    /* ... at the previous iteration's row (a carried value's input) */
  bool recomputed;  /* not taped: computed again by the backward loop (a checkpointed loop) */
  size_t avoided;   /* bytes the tape would have taken */
} SavedValue;

/* How the gradient checkpoints one top-level loop of the function (remat.h). */
typedef struct LoopCheckpoint {
  int loop;         /* the loop's ordinal among the function body's loops */
  int64_t segment;  /* 0: the whole loop checkpointed; k: split into segments of k iterations, checkpointed */
  bool inner;       /* with segments: each segment's iterations checkpointed too */
} LoopCheckpoint;

typedef struct GradResult {
  Func *f;          /* the gradient function, NULL on failure */
  SavedValue *saved;
  int nsaved;
  size_t tape_bytes;  /* total of loop tapes */
  size_t saved_bytes; /* total of straight-line values kept */
  const LoopCheckpoint *plan; /* the checkpointing applied (grad_func_with), with its loops' positions */
  Pos *plan_pos;
  int nplan;
  size_t plain_tape_bytes, max_tape_bytes; /* grad_func_budget: the tapes without a plan, and the limit */
} GradResult;

/* Differentiate f (whose first result is a float scalar) w.r.t. every
 * parameter argument and the inputs flagged in wrt_input (may be NULL).
 * Problems (a construct with no derivative) are reported to d, all at once,
 * with their .nn positions; then the result's f is NULL. */
GradResult grad_func(Module *m, Func *f, const bool *wrt_input, Diag *d);
/* The same with the loops of plan[0..nplan) checkpointed as it says
 * (entries naming no loop, or a loop that cannot be split so, are
 * ignored). With segments, dead tapes are removed (dce) before the bytes
 * are counted. */
GradResult grad_func_with(Module *m, Func *f, const bool *wrt_input, const LoopCheckpoint *plan, int nplan, Diag *d);

/* Write the --emit=tape report. */
void grad_print_saved(FILE *out, const Module *m, const GradResult *g);

#endif
