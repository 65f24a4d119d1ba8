/* backend.h — native code through LLVM (compiler/backend/). The only
 * compiler header that talks about the backend; no llvm-c type leaks out.
 *
 *   CodeGen *cg = codegen_module(compiled, &opts, diag);  IR -> LLVM IR
 *   codegen_emit(cg, EMIT_OBJ, "m.o")                       files
 *   Jit *j = jit_create(cg, ...); jit_lookup(j, "m_desc")   in memory
 */
#ifndef NNC_BACKEND_H
#define NNC_BACKEND_H
#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"

typedef struct BackendOpts {
  int opt_level;          /* 0..3 */
  const char *triple;     /* NULL: the host */
  const char *cpu;        /* NULL: the host CPU */
  const char *features;   /* NULL: the host CPU's features */
  bool fast_math;         /* -ffast-math */
  const char *name;       /* API prefix (--name); NULL: the model's name */
  const char *build_info; /* recorded in the library */
  const char *source_hash;
  bool pic;               /* position-independent code (shared libraries) */
  bool with_main;         /* add main() running the training program */
  long par_min;           /* loops of at least this much work (elements x llvm_gen.c's
                             elem_work) run on the thread pool (0: the default, 65536);
                             tests use 1 to exercise it */
  bool for_jit;
} BackendOpts;

typedef struct CodeGen CodeGen;

/* One compiled function of the generated library, as the API sees it. */
typedef struct CgFunc {
  const char *api_name;   /* "forward", "loss_grad", "train_step" */
  Func *ir;
  size_t ws_bytes;
} CgFunc;

/* Lower every function of c (primal, gradients, and the training step when
 * built) into one LLVM module with the model descriptor and the C API.
 * Returns NULL after reporting to d. */
CodeGen *codegen_module(const Compiled *c, const BackendOpts *o, Diag *d);

/* The scratch bytes the kernel lowering `in` needs (0 for most): what the
 * memory plan reserves for it (compiled_plan passes it to plan_func). */
size_t backend_scratch_for(const Inst *in);
void codegen_free(CodeGen *cg);
int codegen_nfuncs(const CodeGen *cg);
const CgFunc *codegen_func(const CodeGen *cg, int i);
size_t codegen_ws_bytes(const CodeGen *cg);
const char *codegen_prefix(const CodeGen *cg);
/* The index of the gradient train_step computes (exported also as
 * NAME_grad), -1 without a train block. */
int codegen_train_grad(const CodeGen *cg);

typedef enum CgOutput { CG_LLVM_IR, CG_ASM, CG_OBJ } CgOutput;
/* Optimize (once) and write. Returns false with a message in err. */
bool codegen_emit(CodeGen *cg, CgOutput kind, const char *path, char *err, size_t errn);

/* JIT: compiles the module in memory (the CodeGen is consumed). */
typedef struct Jit Jit;
Jit *jit_create(CodeGen *cg, char *err, size_t errn);
void *jit_lookup(Jit *j, const char *symbol);
void jit_destroy(Jit *j);

/* The structs of rt_model.h the backend rebuilds as LLVM types, in the
 * order of their definitions there. */
typedef enum CgAbiStruct {
  CG_ABI_SLOT,        /* rt_slot */
  CG_ABI_TENSOR_INFO, /* nn_tensor_info */
  CG_ABI_PARAM,       /* rt_param_desc */
  CG_ABI_FUNC,        /* rt_func_desc */
  CG_ABI_TRAIN,       /* rt_train_desc */
  CG_ABI_MODEL,       /* rt_model_desc */
  CG_ABI_NSTRUCTS
} CgAbiStruct;
/* The LLVM struct type `which` laid out by the host's data layout: writes
 * its size and the offsets and sizes of its first `max` elements; returns
 * its element count (-1 when the host target is unknown). For the layout
 * test. */
int codegen_abi_layout(CgAbiStruct which, size_t *size, size_t *offsets, size_t *sizes, int max);

/* The host's target triple, CPU name and features (for --stats, build info). */
void backend_host(char *triple, size_t nt, char *cpu, size_t nc);

#endif
