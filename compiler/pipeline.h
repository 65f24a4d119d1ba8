/* pipeline.h — the middle of the compiler, in order (pipeline.c):
 *
 *   irgen -> verify -> passes -> grad (each float-scalar function) -> passes
 *
 * The front end (parse, check) is before it and the backend after. */
#ifndef NNC_PIPELINE_H
#define NNC_PIPELINE_H
#include <stdio.h>

#include "ast.h"
#include "grad.h"
#include "ir.h"
#include "passes.h"
#include "ptrmap.h"

typedef struct CompileOpts {
  bool verify;          /* -d verify */
  const char *dump;     /* -d dump=PASS */
  bool no_opt;          /* skip the passes (tests compare with and without) */
  bool no_grad;         /* do not differentiate */
  bool no_train_step;   /* do not build train_step */
  bool no_train_step_body; /* build train_step's arguments and results only: all the
                              backend needs (it lowers train_step as calls of the
                              gradient and apply_update); its body is a copy of the
                              gradient's, what the interpreter, --emit=grad-ir and
                              --stats show */
  size_t max_tape_bytes; /* --max-tape-bytes (0: the train block's max_tape_bytes, if any) */
  const char *name;     /* --name: the prefix of the generated C API (NULL: the model's name) */
} CompileOpts;

typedef struct FuncStats {
  const char *name;
  int before, after;    /* instruction counts around the passes */
  const char *primal;   /* gradient functions: the function differentiated */
} FuncStats;

typedef struct Compiled {
  Module *m;
  int nprimal;          /* m->funcs[0..nprimal) are the user's functions */
  GradResult *grads;    /* per primal function; .f == NULL when not differentiated */
  FuncStats *stats;     /* per function of m (room for primal, gradients, train_step) */
  double ms_irgen, ms_passes, ms_grad;
  bool ok;
  PtrMap *plans;        /* Func -> its Plan, made once by compiled_plan */
} Compiled;

/* An empty result for module m, its tables sized for m's functions, their
 * gradients and a training step; compile_module and the callers that build
 * a module themselves (nnc eval's JIT, tests from IR text) start here. */
Compiled *compiled_new(Arena *a, Module *m);

/* The memory plan of f (a function of c->m), computed the first time it is
 * asked for (after plan_prepare) and kept: the backend and --stats read
 * the same one. */
struct Plan *compiled_plan(const Compiled *c, Func *f);
/* The plan of f for one use, the backend's code generation: the kept one
 * if --stats asked for it already, else one made in `scratch` and not
 * kept (the caller frees it with the scratch arena after lowering f). A
 * long model's plans are as large as its IR. */
struct Plan *compiled_plan_once(const Compiled *c, Func *f, Arena *scratch);

/* Build the IR of a checked program and everything derived from it.
 * Errors (constructs that cannot be differentiated) go to d. */
Compiled *compile_module(Arena *a, Diag *d, const Program *p, const char *file, const CompileOpts *o);

/* The same stages on a module read from IR text (ir_parse, verified):
 * its functions are the user's, its train block (if any) gives the
 * training step, as irgen's module would. */
Compiled *compile_parsed(Arena *a, Diag *d, Module *m, const CompileOpts *o);

/* The C name of IR function n in the generated API (without the prefix):
 * its '.' become '_' (loss.grad -> loss_grad). */
const char *api_c_name(Arena *a, const char *n);

/* One C name per function of m: a user function `loss_grad` and the
 * gradient `loss.grad` would both be PREFIX_loss_grad (the header declared
 * both; the library exported one under the other's name). False after an
 * error at the user function. prefix: --name, or NULL for the model's. */
bool check_c_names(const Module *m, const char *prefix, Diag *d);

/* The gradient of the function named `name`, or NULL. */
Func *compiled_grad(const Compiled *c, const char *name);

void print_stats(FILE *out, const Compiled *c);
/* Multiply-add work (2 flops each) of the matmuls and convolutions of f. */
double func_flops(const Func *f);

#endif
