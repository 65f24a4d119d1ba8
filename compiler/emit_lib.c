/* emit_lib.c — the files of `--emit=lib`: the C header that declares the
 * model's API (every shape as a macro, every function commented), and the
 * shared library linked from the object file and the runtime archive.
 *
 * The runtime is linked in statically with its symbols hidden
 * (-Wl,--exclude-libs,ALL), so a library exports only NAME_* functions and
 * two generated libraries can live in one program. */
#include "emit_lib.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *c_type(DType dt) {
  switch (dt) {
  case TY_F32: return "float";
  case TY_F64: return "double";
  case TY_I32: return "int32_t";
  default: return "uint8_t";
  }
}

static void upper(char *dst, size_t n, const char *s) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) dst[i] = (char)toupper((unsigned char)s[i]);
  dst[i] = 0;
}

static void shape_brackets(FILE *f, const Type *t) {
  if (t->rank == 0) fputs("[1]", f);
  for (int i = 0; i < t->rank; i++) {
    if (axis_dyn(t, i)) fprintf(f, "[n<=%lld]", (long long)t->dim[i]);
    else fprintf(f, "[%lld]", (long long)t->dim[i]);
  }
}

const char *api_module_dim(const CodeGen *cg, int64_t *bound) {
  for (int i = 0; i < codegen_nfuncs(cg); i++) {
    const Func *fn = codegen_func(cg, i)->ir;
    for (int k = 0; k < fn->body->nargs; k++)
      if (type_is_dyn(&fn->body->args[k]->ty)) {
        *bound = type_dyn_bound(&fn->body->args[k]->ty);
        return fn->body->args[k]->ty.dyn_name;
      }
  }
  *bound = 0;
  return NULL;
}

static void shape_list(FILE *f, const Type *t) {
  fputc('{', f);
  for (int i = 0; i < t->rank; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)t->dim[i]);
  if (t->rank == 0) fputc('1', f);
  fputc('}', f);
}

static bool user_out(Role r) { return r.kind == RES_OUTPUT || r.kind == RES_LOSS || r.kind == RES_INPUT_GRAD; }

/* The C name of result k: "loss", the result's name ("x.grad" as x_grad), or "out". */
static void out_name(const Func *fn, int k, char *buf, size_t n) {
  const char *nm = fn->ret_role[k].kind == RES_LOSS ? "loss" : fn->ret_name && fn->ret_name[k] ? fn->ret_name[k] : "out";
  snprintf(buf, n, "%s", nm);
  for (char *q = buf; *q; q++)
    if (*q == '.') *q = '_';
}

/* True if an input argument of fn is called `name` (its shape macro would clash). */
static bool input_named(const Func *fn, const char *name) {
  for (int k = 0; k < fn->body->nargs; k++)
    if (fn->arg_role[k].kind == ARG_INPUT && fn->body->args[k]->name && !strcmp(fn->body->args[k]->name, name))
      return true;
  return false;
}

static void describe(const CgFunc *cf, const Compiled *c, ApiFunc *af) {
  const Func *fn = cf->ir;
  af->name = cf->api_name;
  af->ir = fn;
  af->kind = !strcmp(fn->name, "train_step") ? API_TRAIN : fn->is_grad ? API_GRAD : API_FN;
  af->source = af->kind == API_FN ? fn : NULL;
  for (int i = 0; af->kind == API_GRAD && i < c->nprimal; i++)
    if (c->grads[i].f == fn) af->source = c->m->funcs[i];
  af->takes_n = ir_dim_arg(fn) != NULL;
  af->args = calloc((size_t)(fn->body->nargs + fn->nret) + 1, sizeof *af->args);
  if (!af->args) die("out of memory");
  af->nargs = 0;
  for (int k = 0; k < fn->body->nargs; k++) {
    if (fn->arg_role[k].kind != ARG_INPUT) continue;
    ApiArg *a = &af->args[af->nargs++];
    const Value *v = fn->body->args[k];
    snprintf(a->name, sizeof a->name, "%s", v->name ? v->name : "arg");
    a->ty = &v->ty;
    a->shape_macro = true;
  }
  for (int k = 0; k < fn->nret; k++) {
    if (!user_out(fn->ret_role[k])) continue;
    ApiArg *a = &af->args[af->nargs++];
    out_name(fn, k, a->name, sizeof a->name);
    a->ty = &fn->ret[k];
    a->out = true;
    a->shape_macro = !input_named(fn, a->name);
  }
}

ApiFunc *api_funcs(const CodeGen *cg, const Compiled *c, int *n) {
  *n = codegen_nfuncs(cg);
  ApiFunc *fs = calloc((size_t)*n + 1, sizeof *fs);
  if (!fs) die("out of memory");
  for (int i = 0; i < *n; i++) describe(codegen_func(cg, i), c, &fs[i]);
  return fs;
}

void api_free(ApiFunc *f, int n) {
  for (int i = 0; f && i < n; i++) free(f[i].args);
  free(f);
}

/* The prototype of entry point af under the name NAME_api. */
static void print_proto(FILE *f, const char *P, const char *api, const ApiFunc *af) {
  fprintf(f, "nn_status %s_%s(%s *m", P, api, P);
  if (af->takes_n) fprintf(f, ", int64_t n");
  for (int k = 0; k < af->nargs; k++) {
    const ApiArg *a = &af->args[k];
    fprintf(f, ", %s%s *%s /* ", a->out ? "" : "const ", c_type(a->ty->dtype), a->name);
    shape_brackets(f, a->ty);
    fprintf(f, " */");
  }
  fprintf(f, ");\n\n");
}

char *header_text(const CodeGen *cg, const Compiled *c, const char *source) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) die("out of memory");
  const char *P = codegen_prefix(cg);
  char U[160];
  upper(U, sizeof U, P);
  const Module *m = c->m;
  size_t pbytes = 0, pcount = 0;
  for (int i = 0; i < m->nparams; i++) {
    pbytes += (type_bytes(&m->params[i].ty) + 63) / 64 * 64;
    pcount += (size_t)type_numel(&m->params[i].ty);
  }
  fprintf(f, "/* %s.h — generated by nnc %s from %s. Do not edit.\n *\n", P, NNC_VERSION, source);
  fprintf(f, " * The model `%s` as a C library. Every call returns an nn_status (NN_OK = 0);\n"
             " * NULL or foreign pointers give an error status, never a crash; %s_last_error()\n"
             " * explains the last failure of the calling thread.\n *\n"
             " * Threading: objects are independent, use one object per thread; calls on one\n"
             " * object must not overlap. Each object runs its kernels on its own thread pool\n"
             " * (%s_create: one thread per core; %s_create_threads: your choice).\n *\n"
             " * Ownership: the caller owns every array it passes; the library never keeps a\n"
             " * pointer to them after a call returns. Arrays are dense, row-major, of the\n"
             " * shapes given below (and as macros). */\n",
          P, P, P, P);
  fprintf(f, "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", U, U);
  fprintf(f, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  fprintf(f, "#ifndef NN_STATUS_DEFINED\n#define NN_STATUS_DEFINED\ntypedef enum nn_status {\n"
             "  NN_OK = 0,            /* success */\n"
             "  NN_ERR_NULL = 1,      /* a required pointer argument was NULL */\n"
             "  NN_ERR_OBJECT = 2,    /* the object was not created by this library, or was destroyed */\n"
             "  NN_ERR_NOMEM = 3,     /* an allocation failed */\n"
             "  NN_ERR_IO = 4,        /* a file could not be opened, read or written */\n"
             "  NN_ERR_FORMAT = 5,    /* a file is malformed: bad magic, truncated, bad header */\n"
             "  NN_ERR_MISMATCH = 6,  /* a well-formed file does not fit: shape, dtype, name, count */\n"
             "  NN_ERR_RANGE = 7,     /* a value is out of range (e.g. a label >= number of classes) */\n"
             "  NN_ERR_NONFINITE = 8, /* a NaN or infinity appeared (e.g. the loss diverged) */\n"
             "  NN_ERR_ARG = 9,       /* an argument is invalid (e.g. a negative size) */\n"
             "  NN_ERR_INTERRUPTED = 10, /* stopped by a signal */\n"
             "  NN_ERR_INTERNAL = 11, /* a bug: please report it */\n"
             "  NN_ERR_SHAPE = 12     /* a run-time size (n) is below 1 or above its bound */\n"
             "} nn_status;\n#endif\n\n");
  fprintf(f, "#ifndef NN_TENSOR_INFO_DEFINED\n#define NN_TENSOR_INFO_DEFINED\n"
             "/* A parameter: name, shape, and where it starts in the flat parameter buffer. */\n"
             "typedef struct nn_tensor_info {\n  const char *name;\n  int rank;\n  int64_t shape[8];\n"
             "  size_t offset;       /* in elements, into %s_params() */\n  size_t numel;\n} nn_tensor_info;\n#endif\n\n",
          P);
  fprintf(f, "#define %s_ABI_VERSION 1\n", U);
  fprintf(f, "#define %s_NUM_PARAMS %d          /* parameter tensors */\n", U, m->nparams);
  fprintf(f, "#define %s_PARAM_COUNT %zu        /* parameter values */\n", U, pcount);
  fprintf(f, "#define %s_PARAM_BYTES %zu        /* the flat buffer (each tensor 64-byte aligned) */\n", U, pbytes);
  fprintf(f, "#define %s_WORKSPACE_BYTES %zu    /* per object, allocated by %s_create */\n", U, codegen_ws_bytes(cg), P);
  int64_t dim_bound;
  const char *dim = api_module_dim(cg, &dim_bound);
  if (dim) {
    char du[160];
    upper(du, sizeof du, dim);
    fprintf(f, "/* `dim %s <= %lld`: functions marked [n<=%lld] take the run-time size n as their\n"
               " * second argument (1 <= n <= %s_%s_MAX, else NN_ERR_SHAPE); arrays hold n rows. The\n"
               " * _SHAPE macros give the bound's shape (the largest arrays). */\n",
            dim, (long long)dim_bound, (long long)dim_bound, U, du);
    fprintf(f, "#define %s_%s_MAX %lld\n", U, du, (long long)dim_bound);
  }
  fputc('\n', f);
  for (int i = 0; i < m->nparams; i++) {
    char pu[160];
    upper(pu, sizeof pu, m->params[i].name);
    fprintf(f, "#define %s_PARAM_%s_SHAPE ", U, pu);
    shape_list(f, &m->params[i].ty);
    fprintf(f, "\n");
  }
  fprintf(f, "\n/* The model object: parameters, gradients, optimizer state, workspace. */\n"
             "typedef struct %s %s;\n\n", P, P);
  fprintf(f, "/* Allocate an object and initialize its parameters from `seed` (the\n"
             " * initializers of the .nn file; the same seed gives the same numbers on any\n"
             " * machine and thread count). *out is NULL on failure. */\n"
             "nn_status %s_create(%s **out, uint64_t seed);\n"
             "nn_status %s_create_threads(%s **out, uint64_t seed, int nthreads); /* 0: one per core */\n"
             "void %s_destroy(%s *m); /* NULL is ignored */\n\n",
          P, P, P, P, P, P);
  int nf;
  ApiFunc *fs = api_funcs(cg, c, &nf);
  for (int i = 0; i < nf; i++) {
    const ApiFunc *af = &fs[i];
    char fu[160];
    upper(fu, sizeof fu, af->name);
    fprintf(f, "/* %s: ", af->name);
    if (!strcmp(af->ir->name, "apply_update"))
      fprintf(f, "the optimizer's update of the parameters from the gradients in\n"
                 " * %s_grads(m) (clipping, weight decay, optimizer state), counting the step:\n"
                 " * the second half of %s_train_step. */\n", P, P);
    else if (af->kind == API_TRAIN)
      fprintf(f, "one training step: the loss, its gradient and the optimizer's update of\n"
                 " * the parameters (learning rate: the train block's, or %s_set_learning_rate):\n"
                 " * %s_grad, then %s_apply_update, so the gradient stays in %s_grads(m). */\n", P, P, P, P);
    else if (af->kind == API_GRAD)
      fprintf(f, "the loss and, written into %s_grads(m), its gradient with respect to\n"
                 " * every parameter. */\n", P);
    else
      fprintf(f, "the function `%s` of the model. */\n", af->ir->name);
    for (int k = 0; k < af->nargs; k++) {
      char au[160];
      if (!af->args[k].shape_macro) continue;
      upper(au, sizeof au, af->args[k].name);
      fprintf(f, "#define %s_%s_%s_SHAPE ", U, fu, au);
      shape_list(f, af->args[k].ty);
      fprintf(f, "\n");
    }
    print_proto(f, P, af->name, af);
    if (i == codegen_train_grad(cg)) {
      fprintf(f, "/* grad: %s_%s under the name a data-parallel loop uses, with the dropout\n"
                 " * seed of the coming step: the first half of %s_train_step. Sum the\n"
                 " * gradients across processes in %s_grads(m), then %s_apply_update. */\n",
              P, af->name, P, P, P);
      print_proto(f, P, "grad", af);
    }
  }
  api_free(fs, nf);
  const char *ft = m->nparams ? c_type(m->params[0].ty.dtype) : "float";
  fprintf(f, "size_t %s_num_params(void);\n"
             "const nn_tensor_info *%s_param_info(size_t i); /* NULL past the end */\n"
             "%s *%s_params(%s *m);  /* the flat parameter buffer, %s_PARAM_BYTES bytes */\n"
             "%s *%s_grads(%s *m);   /* gradients, same layout (written by *_grad and train_step calls) */\n"
             "nn_status %s_init_params(%s *m, uint64_t seed); /* re-initialize; clears optimizer state */\n"
             "nn_status %s_set_learning_rate(%s *m, double lr);\n"
             "/* Gradient announcements, for summing gradients across processes while the\n"
             " * backward pass runs: during every following call, ready(user, i) runs on\n"
             " * the calling thread as soon as parameter i's gradient is final in\n"
             " * %s_grads(m) (nothing later in the call touches it; gradients not announced\n"
             " * are final when the call returns); i = -1 says nothing is new. It must not\n"
             " * call into m. ready NULL: no announcements. */\n"
             "nn_status %s_set_grad_ready(%s *m, void (*ready)(void *user, int param), void *user);\n"
             "/* Checkpoints (safetensors: parameters by name, optimizer state as NAME.m/.v,\n"
             " * step and seed in __metadata__). Saving writes a temporary file and renames it,\n"
             " * so an existing checkpoint is never left half-written. Loading validates every\n"
             " * name, dtype and shape before changing anything. */\n"
             "nn_status %s_save(const %s *m, const char *path);\n"
             "nn_status %s_load(%s *m, const char *path);\n"
             "int %s_abi_version(void);           /* %s_ABI_VERSION of the library */\n"
             "const char *%s_build_info(void);   /* compiler version, flags, target, source hash */\n"
             "const char *%s_status_string(nn_status s);\n"
             "const char *%s_last_error(void);   /* this thread's last error message */\n\n",
          P, P, ft, P, P, U, ft, P, P, P, P, P, P, P, P, P, P, P, P, P, P, U, P, P, P);
  fprintf(f, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
  if (ferror(f) || fclose(f) != 0) die("out of memory");
  return text;
}

bool write_text(const char *path, const char *text, char *err, size_t errn) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errn, "cannot write %s: %s", path, strerror(errno));
    return false;
  }
  bool ok = fputs(text, f) >= 0;
  if (fclose(f) != 0) ok = false;
  if (!ok) snprintf(err, errn, "cannot write %s", path);
  return ok;
}

/* Run argv; returns the exit status or -1. */
static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The runtime archive generated code links: $NNC_RUNTIME_LIB; else the
 * installed one, NNC_RUNTIME_LIB_REL relative to the directory of this nnc
 * (bin/../lib/nnc/libnnrt.a, so an installed prefix can move); else the
 * build tree's (NNC_RUNTIME_LIB, an absolute path). */
const char *runtime_archive(void) {
  const char *env = getenv("NNC_RUNTIME_LIB");
  if (env && *env) return env;
#ifdef NNC_RUNTIME_LIB_REL
  static char installed[4096];
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      int len = snprintf(installed, sizeof installed, "%s/%s", exe, NNC_RUNTIME_LIB_REL);
      if (len > 0 && (size_t)len < sizeof installed && access(installed, R_OK) == 0) return installed;
    }
  }
#endif
  return NNC_RUNTIME_LIB;
}

int link_outputs(const char *obj, const char *out, bool shared, const char *extra_obj, char *err, size_t errn) {
  const char *rt = runtime_archive();
  if (access(rt, R_OK) != 0) {
    snprintf(err, errn, "the runtime library %s is missing (set NNC_RUNTIME_LIB)", rt);
    return -1;
  }
  const char *cc = getenv("CC");
  if (!cc || !*cc) cc = "cc";
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)cc;
  if (shared) argv[n++] = "-shared";
  argv[n++] = "-o";
  argv[n++] = (char *)out;
  argv[n++] = (char *)obj;
  if (extra_obj) argv[n++] = (char *)extra_obj;
  argv[n++] = (char *)rt;
  argv[n++] = "-Wl,--exclude-libs,ALL";
#ifdef NNC_RUNTIME_LINK_FLAGS
  argv[n++] = NNC_RUNTIME_LINK_FLAGS;
#endif
  argv[n++] = "-lz";
  argv[n++] = "-lm";
  argv[n++] = "-lpthread";
#ifdef NNC_MPI_LIBS
  /* the runtime was built with MPI: its data-parallel training needs the
   * MPI libraries (only NEEDED by what uses them: a library without the
   * training program does not) */
  char mpi_libs[1024];
  snprintf(mpi_libs, sizeof mpi_libs, "%s", NNC_MPI_LIBS);
  argv[n++] = "-Wl,--as-needed";
  for (char *save = NULL, *lib = strtok_r(mpi_libs, ";", &save); lib && n < 30; lib = strtok_r(NULL, ";", &save))
    argv[n++] = lib;
#endif
  argv[n] = NULL;
  int rc = run(argv);
  if (rc != 0) {
    snprintf(err, errn, "linking %s failed (%s exited with %d)", out, cc, rc);
    return -1;
  }
  return 0;
}
