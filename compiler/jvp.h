/* jvp.h — forward-mode automatic differentiation, IR to IR (jvp.c).
 *
 * jvp_func(f) builds "<f>.jvp": f's arguments followed by one tangent
 * argument "<x>.tan" (x's type) per differentiated argument x, and f's
 * results followed by the tangent "<r>.tan" of each floating-point result r:
 * the directional derivative of f at its arguments along the given
 * tangents. The primal code is copied and, after each instruction, the
 * op's JVP rule (jvp_rules.c, named in ops.def) emits the tangent of its
 * result from its operands' tangents, as ordinary IR. A loop carries the
 * tangents of its varied carried values next to them and stacks the
 * tangents of its varied stacked outputs: no tape, one pass. */
#ifndef NNC_JVP_H
#define NNC_JVP_H
#include "ir.h"

/* Tangents flow in along the arguments flagged in wrt_arg (indexed by the
 * position in f's argument list, not by role; non-float arguments are
 * skipped). Returns NULL, with located errors in d, when f has no float
 * result or no float argument is flagged. */
Func *jvp_func(Module *m, Func *f, const bool *wrt_arg, Diag *d);

#endif
