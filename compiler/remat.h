/* remat.h — checkpointing (rematerialization) of loops for the AD.
 *
 * A checkpointed loop (`checkpoint for`, the IR attribute `checkpoint`)
 * tapes only each iteration's carried inputs, and its backward loop
 * computes the rest again (grad.c). Splitting a loop of T iterations into
 * T/k segments of k (remat_segment) and checkpointing the segments keeps
 * T/k snapshots of the carried values and one segment's tape (k rows) at a
 * time: with k near sqrt(T), the memory of two sqrt(T) tapes instead of T
 * rows, for one more forward pass of the loop.
 *
 * grad_func_budget picks, for a limit on the loop tapes (`--max-tape-bytes`,
 * the train block's `max_tape_bytes`), the cheapest plan that fits: the
 * loops with the largest tapes first, each first checkpointed whole, then
 * in segments (the segment length giving the fewest bytes), then with the
 * segments' iterations checkpointed too; every candidate is measured by
 * differentiating it (the AD takes well under a millisecond for a sample). */
#ifndef NNC_REMAT_H
#define NNC_REMAT_H
#include "grad.h"

/* Split `loop` (forward, lo..hi, no stacked outputs; k divides hi-lo, 1 < k
 * < hi-lo) into an outer loop over the (hi-lo)/k segments, checkpointed,
 * whose body is a loop over one segment's k iterations (checkpointed too
 * when `inner`); the body is the loop's, its index lo + segment*k + j. The
 * loop is replaced in its block. Returns false (nothing changed) when the
 * loop does not qualify. */
bool remat_segment(Arena *a, Inst *loop, int64_t k, bool inner);

/* The loops of f's body (not nested ones), in order, into out[0..cap);
 * returns how many there are (LoopCheckpoint.loop indexes them). */
int remat_top_loops(const Func *f, Inst **out, int cap);

/* grad_func (wrt_input as there) with the loop tapes of the result within
 * max_tape bytes (0: no limit, plain grad_func). When no plan fits, a
 * located error naming the smallest tape found. */
GradResult grad_func_budget(Module *m, Func *f, const bool *wrt_input, size_t max_tape, Diag *d);

#endif
