/* eval.h — `nnc eval`: compute a model function on .npy inputs and
 * safetensors parameters without writing C (eval.c).
 *
 *   nnc eval MODEL.nn --fn NAME [--params FILE.safetensors | --seed N]
 *            [--input ARG=FILE.npy ...] [--grad] [--interp] [--f64]
 *            [-D NAME=VALUE ...] -o OUT.safetensors
 *
 * The steps are separate so another way of running a function (compiled
 * code, JIT) plugs in as one more EvalRunner: front end + compile_module,
 * load the parameters and inputs into rt_tensors of the function's argument
 * types, run, write the results. */
#ifndef NNC_EVAL_H
#define NNC_EVAL_H
#include <stdbool.h>
#include <stddef.h>

#include "ir.h"
#include "rt_io.h"

/* One way to run an IR function. `args` holds one tensor per argument of f,
 * in order, with the argument's dtype, except that float arguments are
 * RT_F64 when `f64` is set (the reference interpreter then computes in
 * double precision without rounding the inputs). The runner fills
 * results[0..f->nret) with fresh tensors of the result dtypes (f32 results
 * as RT_F32 even when `f64` is set). Returns false with a message in err. */
typedef struct EvalRunner {
  const char *name;   /* "interp" */
  bool (*run)(const Module *m, const Func *f, const rt_tensor *args, rt_tensor *results, bool f64, char *err,
              size_t errn);
} EvalRunner;

/* The reference interpreter (interp.h): INTERP_F32, or INTERP_F64 with f64. */
extern const EvalRunner eval_interp_runner;
/* Compiled code through the LLVM JIT (the default). */
extern const EvalRunner eval_jit_runner;

/* The rt dtype a value of IR type `t` is held in (floats as RT_F64 when f64). */
rt_dtype eval_rt_dtype(const Type *t, bool f64);

/* argv[0] is "eval". Returns the exit status (0, 1 errors, 2 usage). */
int eval_main(int argc, char **argv);

#endif
