/* emit_lib.h — the generated header and linking (emit_lib.c), and the table
 * of the library's entry points that the header and the Python module
 * (emit_python.c) are both written from. */
#ifndef NNC_EMIT_LIB_H
#define NNC_EMIT_LIB_H
#include "backend.h"

/* What an entry point of the generated library computes. */
typedef enum ApiKind {
  API_FN,    /* a function of the .nn file */
  API_GRAD,  /* NAME_fn_grad: the loss, and its parameter gradient written into NAME_grads */
  API_TRAIN  /* NAME_train_step: one step of the train block's optimizer */
} ApiKind;

/* One array argument of an entry point, in the C order: the inputs (in the
 * .nn order), then the results the call writes. */
typedef struct ApiArg {
  char name[128];    /* the C parameter name: the input's name, or "loss", "out", "x_grad" */
  const Type *ty;    /* dtype and shape; a run-time axis holds its bound */
  bool out;          /* a result (written), else an input (read) */
  bool shape_macro;  /* the header defines UNAME_FN_ARG_SHAPE for it (false when a
                        result's name is an input's too) */
} ApiArg;

/* One entry point, NAME_<name>(m, [int64_t n,] arrays...). */
typedef struct ApiFunc {
  const char *name;    /* without the prefix: "forward", "loss_grad", "train_step" */
  ApiKind kind;
  const Func *ir;
  const Func *source;  /* the .nn function it computes (a gradient's primal); NULL for train_step */
  bool takes_n;        /* the run-time size n follows the object */
  ApiArg *args;
  int nargs;
} ApiFunc;

/* The entry points of cg, in codegen_func order; *n gets their count.
 * malloc'd: free with api_free. */
ApiFunc *api_funcs(const CodeGen *cg, const Compiled *c, int *n);
void api_free(ApiFunc *f, int n);
/* The run-time dimension of the module's functions (`dim N <= 12`): its
 * name, and its bound in *bound; NULL (and 0) when every shape is static. */
const char *api_module_dim(const CodeGen *cg, int64_t *bound);

/* The C header of cg's library (c: the module it was made from), as
 * malloc'd text; `source` is the .nn file it names. */
char *header_text(const CodeGen *cg, const Compiled *c, const char *source);
/* Write text to path: true, or false with a message in err. */
bool write_text(const char *path, const char *text, char *err, size_t errn);
/* The runtime archive generated code links against. */
const char *runtime_archive(void);
/* Link obj (+ extra_obj) with the runtime into a shared library or an
 * executable at out. Returns 0, or -1 with a message. */
int link_outputs(const char *obj, const char *out, bool shared, const char *extra_obj, char *err, size_t errn);

#endif
