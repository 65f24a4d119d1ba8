/* ad_internal.h — the small vocabulary the VJP rules (vjp.c) use to talk to
 * the AD transformation (grad.c): ask whether an operand needs a gradient,
 * and add a contribution to its adjoint. Rules emit ordinary IR through
 * ad->b, so gradient code can be optimized, printed, interpreted and
 * differentiated again. */
#ifndef NNC_AD_INTERNAL_H
#define NNC_AD_INTERNAL_H
#include "grad.h"
#include "ptrmap.h"

typedef struct AdScope AdScope;

typedef struct Ad {
  Arena *a;         /* the IR built (the module's arena) */
  Arena *tmp;       /* the AD's own maps, stacks and records: dead once the derivative is built */
  Module *m;
  Func *f;          /* the gradient function being built */
  Builder b;        /* where adjoint code goes */
  PtrMap act;       /* Value* -> activity bits (ACT_*) */
  AdScope *scope;   /* innermost adjoint scope */
  Diag *d;
  int errors;
  PtrVec saved;     /* SavedValue* */
  PtrVec blocked;   /* Inst*: float -> integer conversions of varied values */
} Ad;

enum { ACT_VARIED = 1, ACT_USEFUL = 2 };

/* Does v need an adjoint (depends on a differentiated input and reaches
 * the loss)? */
bool ad_active(Ad *ad, const Value *v);
/* Add `c` (of v's type) to v's adjoint. No-op for inactive v. */
void ad_add(Ad *ad, Value *v, Value *c);
/* Add `row` at position `pos` along `axis` of v's adjoint (the adjoint of
 * dyn_slice); accumulates in place rather than building a zero tensor. */
void ad_add_row(Ad *ad, Value *v, Value *row, Value *pos, int64_t axis);

/* Mark, in ad->act, every value of b that depends on an already varied
 * value through differentiable ops (loops to a fixed point). Shared by
 * reverse mode (grad.c) and forward mode (jvp.c). */
void ad_mark_varied(Ad *ad, Block *b);

/* gelu'(x), as IR (vjp.c): both modes multiply by it. */
Value *ad_gelu_slope(Builder *b, Value *x);

/* The rule of `for` lives in grad.c (it needs the whole machinery). */
void ad_vjp_for(Ad *ad, Inst *in, Value *g);

/* The rules, one per op (vjp.c); `g` is the adjoint of in's result. */
typedef void (*VjpFn)(Ad *ad, Inst *in, Value *g);
extern const VjpFn vjp_rules[OP_COUNT];

/* ---- forward mode (jvp.c, jvp_rules.c) ---- */

/* While jvp.c copies a function, `tan` maps each copied value that has a
 * tangent to it; values without one have a zero tangent. */
typedef struct Jvp {
  Arena *a;
  Builder b;        /* where tangent code goes (right after its primal op) */
  PtrMap tan;       /* copied Value* -> its tangent Value* */
  Ad act;           /* activity of the original function's values */
} Jvp;

/* The tangent of v, or NULL when it is zero. */
Value *jvp_tan(Jvp *j, const Value *v);

/* The rules, one per op (jvp_rules.c): `in` is the copied primal
 * instruction; returns the tangent of its result, NULL for zero. */
typedef Value *(*JvpFn)(Jvp *j, Inst *in);
extern const JvpFn jvp_rules[OP_COUNT];

#endif
