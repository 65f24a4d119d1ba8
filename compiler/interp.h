/* interp.h — the reference interpreter: runs any IR function with plain
 * loops, in f64 (every float computed in double precision: the oracle for
 * gradient checks) or f32 (f32 values rounded to float after every op, as
 * compiled code computes them: the oracle for the backend). Clarity over
 * speed. */
#ifndef NNC_INTERP_H
#define NNC_INTERP_H
#include "ir.h"

typedef enum InterpMode { INTERP_F32, INTERP_F64 } InterpMode;

/* A tensor of the interpreter: every dtype is held as doubles (i32 and bool
 * values are exact). `d` is malloc'd. */
typedef struct ITensor {
  Type ty;
  double *d;
} ITensor;

ITensor itensor_new(const Type *t);      /* zero-filled; dies on OOM */
ITensor itensor_copy(const ITensor *t);
void itensor_free(ITensor *t);

/* Run f on args[0..nargs) (types must match f's arguments), filling
 * results[0..f->nret). Returns false with a message in err on a type
 * mismatch. */
bool interp_run(const Func *f, const ITensor *args, int nargs, ITensor *results, InterpMode mode,
                char *err, size_t errn);

/* The scalar meaning of elementwise ops (shared with constant folding). */
double interp_unary(Op op, double x, DType from, DType to);
double interp_binary(Op op, double a, double b);

#endif
