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
  Arena *a;
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

/* The rule of `for` lives in grad.c (it needs the whole machinery). */
void ad_vjp_for(Ad *ad, Inst *in, Value *g);

/* The rules, one per op (vjp.c); `g` is the adjoint of in's result. */
typedef void (*VjpFn)(Ad *ad, Inst *in, Value *g);
extern const VjpFn vjp_rules[OP_COUNT];

#endif
