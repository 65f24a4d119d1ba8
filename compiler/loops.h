/* loops.h — loop rewrites (loops.c), one pass of the table in passes.c:
 *
 *   1. a carried tensor read and updated only at row i reads its initial
 *      value (its rows are written once, each at its own iteration), so
 *      a carry the loop's result does not need disappears;
 *   2. stacking a row the loop reads from a [T, ...] tensor gives back that
 *      tensor (the backward loop's tapes are not copied again);
 *   3. an accumulator of products, a = a + op(p_t) op(q_t), becomes one
 *      product after the loop over stacked p and q, T times deeper;
 *   4. a carry of zeros that gets one row added per iteration, at the
 *      iteration's row of an axis the loop covers, is the stack of those
 *      rows moved to that axis (no carry read, added to and written back).
 *
 * Rules 1, 3 and 4 are what the backward loop of a recurrent network needs:
 * the weight gradient of h @ Wh is one GEMM with K = B*T, as cuDNN does,
 * and the input gradient is the stack of the steps' gate gradients. */
#ifndef NNC_LOOPS_H
#define NNC_LOOPS_H
#include "ir.h"

bool pass_loops(Module *m, Func *f);

/* Add v, a value of loop's body, as a new stacked output [T, v...] (row r
 * is v at iteration lo + r); returns the loop's new result. */
Value *loop_add_stacked(Arena *a, Inst *loop, Value *v, const char *name);

#endif
