/* passes.h — IR-to-IR optimizations, in one table, run in its order until
 * nothing changes (before and after AD: Enzyme's lesson).
 *
 *   fold      constant folding of splat constants
 *   simplify  algebraic rules, each written above its code
 *   cse       common subexpressions (scoped through loop bodies)
 *   licm      loop-invariant code moves out of loop bodies
 *   loops     loop rewrites for backward loops (loops.h)
 *   dce       dead instructions, and dead carried/stacked loop values
 */
#ifndef NNC_PASSES_H
#define NNC_PASSES_H
#include <stdio.h>

#include "ir.h"

typedef bool (*PassFn)(Module *m, Func *f);   /* true when f changed */

typedef struct Pass {
  const char *name;
  PassFn run;
  const char *what;
} Pass;

extern const Pass pass_table[];
extern const int pass_count;

typedef struct PassOpts {
  bool verify;          /* -d verify: verify after every pass */
  const char *dump;     /* -d dump=NAME: print the function after pass NAME ("all") */
  FILE *dump_out;
} PassOpts;

/* Run the table to a fixed point on f. Returns false if verification
 * failed (the message was printed). */
bool run_passes(Module *m, Func *f, const PassOpts *o);

bool pass_fold(Module *m, Func *f);
bool pass_simplify(Module *m, Func *f);
bool pass_cse(Module *m, Func *f);
bool pass_licm(Module *m, Func *f);
bool pass_dce(Module *m, Func *f);

#endif
