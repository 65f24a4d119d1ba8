/* irgen.h — lowering a checked program to the IR (irgen.c). */
#ifndef NNC_IRGEN_H
#define NNC_IRGEN_H
#include "ast.h"
#include "ir.h"

/* One IR function per model function (params first, then its arguments);
 * plus "LOSS.train" when the loss uses dropout (an extra i32 seed scalar
 * argument). `file` names the source for positions. */
Module *irgen(Arena *a, const Program *p, const char *file);
/* The same, reporting derivatives that cannot be taken (grad, jvp in the
 * program) to d; NULL after such an error. */
Module *irgen_diag(Arena *a, const Program *p, const char *file, Diag *d);

#endif
