/* emit_dot.h — --emit=dot: the IR as a Graphviz graph (emit_dot.c). */
#ifndef NNC_EMIT_DOT_H
#define NNC_EMIT_DOT_H
#include <stdio.h>

#include "ir.h"

/* Write every function of m (only the one named `only` when it is not
 * NULL) as one digraph: a cluster per function, a node per instruction,
 * loops as nested clusters, derivative and optimizer code coloured, each
 * adjoint linked to its primal value by a dashed edge. Returns false, and
 * writes nothing, when `only` names no function of m. */
bool emit_dot(FILE *out, const Module *m, const char *only);

#endif
