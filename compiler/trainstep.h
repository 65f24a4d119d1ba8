/* trainstep.h — builds the "train_step" IR function from a loss's gradient
 * function and the train block's optimizer (trainstep.c). */
#ifndef NNC_TRAINSTEP_H
#define NNC_TRAINSTEP_H
#include "ir.h"

Func *build_train_step(Module *m, Func *grad, const TrainSpec *t);

#endif
