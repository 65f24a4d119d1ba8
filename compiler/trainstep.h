/* trainstep.h — builds the "train_step" IR function from a loss's gradient
 * function and the train block's optimizer, and "apply_update", the same
 * update alone (trainstep.c). The backend compiles train_step as a call of
 * the gradient function, then apply_update. */
#ifndef NNC_TRAINSTEP_H
#define NNC_TRAINSTEP_H
#include "ir.h"

Func *build_train_step(Module *m, Func *grad, const TrainSpec *t);
/* The same in two steps: the function's arguments and results (all the
 * backend reads of it: it lowers train_step as calls), then its body
 * (for the interpreter, --emit=grad-ir, --stats, dot). */
Func *build_train_step_decl(Module *m, Func *grad, const TrainSpec *t);
void build_train_step_body(Module *m, Func *ts, Func *grad, const TrainSpec *t);
/* The gradient function train_step runs (and is built from): that of the
 * loss's training version with dropout, NAME.train.grad, if there is one,
 * else NAME.grad; NULL when m has neither (or no train block). */
Func *train_step_grad(const Module *m);
/* "apply_update": train_step's update from the gradient buffer (ARG_GRAD
 * arguments) instead of a gradient computed in the function. */
Func *build_apply_update(Module *m, const TrainSpec *t, Pos pos);

#endif
