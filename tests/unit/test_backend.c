/* test_backend.c — differential tests of the LLVM backend against the
 * reference interpreter, through the JIT: every op case (in f64, and in f32
 * with every f64 replaced) and every sample at small sizes, forward and
 * gradient, at -O0 and -O3. f32 results must agree within a relative error
 * of 1e-5 (norm-wise per result), f64 within 1e-10. */
#include "unit_main.h"
#include "gradcheck.h"
#include "op_cases.h"
#include "backend.h"
#include "rt_model.h"
#include "emit_lib.h"
#include "plan.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

typedef struct Lib {
  Jit *jit;
  void *so;          /* dlopen handle when built as a shared library */
  char sopath[64];
  const rt_model_desc *d;
} Lib;

/* The same code as a shared library: object file, linked with the runtime
 * by cc, loaded with dlopen. */
static bool build_so(Compiled *c, int opt, Lib *lib) {
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  BackendOpts o = {.opt_level = opt, .name = "t", .pic = true};
  CodeGen *cg = codegen_module(c, &o, &d);
  diag_free(&d);
  if (!cg) return false;
  char obj[] = "/tmp/nnc-test-XXXXXX.o";
  int fd = mkstemps(obj, 2);
  if (fd < 0) return false;
  close(fd);
  snprintf(lib->sopath, sizeof lib->sopath, "%s.so", obj);
  char err[512];
  bool ok = codegen_emit(cg, CG_OBJ, obj, err, sizeof err) && link_outputs(obj, lib->sopath, true, NULL, err, sizeof err) == 0;
  if (!ok) fprintf(stderr, "so: %s\n", err);
  codegen_free(cg);
  unlink(obj);
  if (!ok) return false;
  lib->so = dlopen(lib->sopath, RTLD_NOW | RTLD_LOCAL);
  if (!lib->so) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return false;
  }
  const rt_model_desc *(*descf)(void) = (const rt_model_desc *(*)(void))dlsym(lib->so, "t_descriptor");
  lib->d = descf ? descf() : NULL;
  lib->jit = NULL;
  return lib->d != NULL;
}

/* -O3 builds also outline every loop into parallel tasks (par_min = 1),
 * so the thread-pool path is checked against the interpreter too. */
static bool build_lib(Compiled *c, int opt, Lib *lib) {
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  BackendOpts o = {.opt_level = opt, .for_jit = true, .name = "t", .par_min = opt == 3 ? 1 : 0};
  CodeGen *cg = codegen_module(c, &o, &d);
  diag_free(&d);
  if (!cg) return false;
  char err[512];
  lib->jit = jit_create(cg, err, sizeof err);
  if (!lib->jit) {
    fprintf(stderr, "jit: %s\n", err);
    return false;
  }
  const rt_model_desc *(*descf)(void) = (const rt_model_desc *(*)(void))jit_lookup(lib->jit, "t_descriptor");
  if (!descf) return false;
  lib->d = descf();
  return true;
}

/* A Compiled wrapper for a module parsed from text: every function and its
 * gradient with respect to the inputs not named w*. */
static Compiled *compiled_from_text(Arena *a, const char *text) {
  Module *m = gc_parse_ir(a, text);
  if (!m) return NULL;
  Compiled *c = compiled_new(a, m);
  int n = m->nfuncs;
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  PassOpts po = {.verify = true};
  c->ok = true;
  for (int k = 0; k < n; k++) {
    Func *f = m->funcs[k];
    bool wrt[64] = {0};
    for (int i = 0; i < f->body->nargs; i++) {
      const Value *v = f->body->args[i];
      wrt[f->arg_role[i].index] = dtype_is_float(v->ty.dtype) && v->name && v->name[0] != 'w';
    }
    run_passes(m, f, &po);
    c->grads[k] = grad_func(m, f, wrt, &d);
    if (c->grads[k].f) run_passes(m, c->grads[k].f, &po);
    else c->ok = false;
  }
  diag_free(&d);
  return c;
}

static void *to_buffer(const ITensor *t) {
  int64_t n = type_numel(&t->ty);
  size_t es = dtype_size(t->ty.dtype);
  void *p = calloc((size_t)(n ? n : 1), es);
  for (int64_t i = 0; i < n; i++) {
    switch (t->ty.dtype) {
    case TY_F32: ((float *)p)[i] = (float)t->d[i]; break;
    case TY_F64: ((double *)p)[i] = t->d[i]; break;
    case TY_I32: ((int32_t *)p)[i] = (int32_t)t->d[i]; break;
    default: ((uint8_t *)p)[i] = t->d[i] != 0; break;
    }
  }
  return p;
}

static double from_buffer(const void *p, DType dt, int64_t i) {
  switch (dt) {
  case TY_F32: return ((const float *)p)[i];
  case TY_F64: return ((const double *)p)[i];
  case TY_I32: return ((const int32_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}

/* The random programs' comparisons (test_random_programs): a result
 * whose root mean square is below rms_floor (a gradient that cancels to
 * rounding noise, d sum(softmax(z)) / dz) is measured against the floor,
 * and f32 results within tol_scale times the usual tolerance pass: the
 * programs chain softmaxes and layernorms through loops, and wrong code
 * is off by far more. */
static double rms_floor = 0, tol_scale = 1;

static double rel_err(const ITensor *want, const void *got) {
  int64_t n = type_numel(&want->ty);
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double w = want->d[i], g = from_buffer(got, want->ty.dtype, i);
    if (isnan(w) && isnan(g)) continue;
    num += (w - g) * (w - g);
    den += w * w;
  }
  if (den < rms_floor * rms_floor * (double)n) den = rms_floor * rms_floor * (double)n;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Call function fi: through rt_model_call for the JIT, through the
 * library's exported NAME_fn entry point for a shared library. */
static nn_status invoke(Lib *lib, rt_model *mdl, int fi, void **u, int n, int64_t dn) {
  bool train = !strcmp(lib->d->funcs[fi].name, "train_step");
  if (!strcmp(lib->d->funcs[fi].name, "apply_update") && !lib->so) return rt_model_apply_update(lib->d, mdl);
  if (dn && !lib->so) /* a run-time size: through the runtime, or the .so's API (NAME_fn(m, n, ...)) */
    return train ? rt_model_train_step_n(lib->d, mdl, dn, u, n) : rt_model_call_n(lib->d, mdl, fi, dn, u, n);
  if (!lib->so) return train ? rt_model_train_step(lib->d, mdl, u, n) : rt_model_call(lib->d, mdl, fi, u, n);
  char sym[160];
  snprintf(sym, sizeof sym, "t_%s", lib->d->funcs[fi].name);
  void *f = dlsym(lib->so, sym);
  if (!f) return NN_ERR_INTERNAL;
  typedef int (*f0)(void *);
  if (dn) {
    typedef int (*g2)(void *, int64_t, void *, void *);
    typedef int (*g3)(void *, int64_t, void *, void *, void *);
    typedef int (*g4)(void *, int64_t, void *, void *, void *, void *);
    switch (n) {
    case 2: return (nn_status)((g2)f)(mdl, dn, u[0], u[1]);
    case 3: return (nn_status)((g3)f)(mdl, dn, u[0], u[1], u[2]);
    case 4: return (nn_status)((g4)f)(mdl, dn, u[0], u[1], u[2], u[3]);
    default: return NN_ERR_INTERNAL;
    }
  }
  typedef int (*f1)(void *, void *);
  typedef int (*f2)(void *, void *, void *);
  typedef int (*f3)(void *, void *, void *, void *);
  typedef int (*f4)(void *, void *, void *, void *, void *);
  typedef int (*f5)(void *, void *, void *, void *, void *, void *);
  switch (n) {
  case 0: return (nn_status)((f0)f)(mdl);
  case 1: return (nn_status)((f1)f)(mdl, u[0]);
  case 2: return (nn_status)((f2)f)(mdl, u[0], u[1]);
  case 3: return (nn_status)((f3)f)(mdl, u[0], u[1], u[2]);
  case 4: return (nn_status)((f4)f)(mdl, u[0], u[1], u[2], u[3]);
  case 5: return (nn_status)((f5)f)(mdl, u[0], u[1], u[2], u[3], u[4]);
  default: return NN_ERR_INTERNAL;
  }
}

static uint8_t *lib_buffer(Lib *lib, rt_model *mdl, bool grads) {
  if (!lib->so) return grads ? mdl->grads : mdl->params;
  void *(*f)(void *) = (void *(*)(void *))dlsym(lib->so, grads ? "t_grads" : "t_params");
  return f ? f(mdl) : NULL;
}

/* Run function `fi` of lib with the interpreter's inputs; compare every
 * user-visible output and every gradient written to the grad buffer. */
/* Input ranges by function index (op cases), NULL for defaults. */
static const char *func_ranges[512];

static double compare_func(Lib *lib, rt_model *mdl, Func *f, int fi, const char *what, int64_t dn) {
  const rt_func_desc *fd = &lib->d->funcs[fi];
  ITensor args[128];
  if (!ir_dim_arg(f)) dn = 0;
  gc_inputs_n(f, args, fi < 512 ? func_ranges[fi] : NULL, 4242 + (uint64_t)fi + (uint64_t)dn, dn);
  for (int i = 0; !dn && i < f->body->nargs; i++) /* dn 0 with a run-time batch: its bound */
    if (f->body->args[i] == ir_dim_arg(f)) dn = (int64_t)args[i].d[0];
  /* parameters come from the model's buffer */
  for (int i = 0; i < f->body->nargs; i++)
    if (f->arg_role[i].kind == ARG_PARAM) {
      const rt_param_desc *p = &lib->d->params[f->arg_role[i].index];
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++)
        args[i].d[k] = from_buffer(lib_buffer(lib, mdl, false) + p->byte_offset, args[i].ty.dtype, k);
    }
  /* optimizer state and scalars as the runtime will pass them */
  uint64_t t = mdl->steps_done + 1;
  for (int i = 0; i < f->body->nargs; i++) {
    Role r = f->arg_role[i];
    if (r.kind == ARG_GRAD) { /* apply_update reads the gradient buffer */
      const rt_param_desc *p = &lib->d->params[r.index];
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++)
        args[i].d[k] = from_buffer(lib_buffer(lib, mdl, true) + p->byte_offset, args[i].ty.dtype, k);
    } else if (r.kind == ARG_STATE) {
      int np = lib->d->nparams, slot = r.index / np;
      const rt_param_desc *p = &lib->d->params[r.index % np];
      const uint8_t *src = mdl->state + (size_t)slot * lib->d->param_bytes + p->byte_offset;
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++) args[i].d[k] = from_buffer(src, args[i].ty.dtype, k);
    } else if (r.kind == ARG_SCALAR && r.index != SCALAR_DIM) {
      args[i].d[0] = r.index == SCALAR_LR ? (args[i].ty.dtype == TY_F64 ? mdl->lr_f64 : mdl->lr_f32)
                   : r.index == SCALAR_STEP ? (double)t
                   : (double)(int32_t)(uint32_t)((mdl->seed * 0x9E3779B97F4A7C15ull + t) >> 17);
    }
  }
  void *user[128];
  int nu = 0;
  for (int i = 0; i < f->body->nargs; i++)
    if (f->arg_role[i].kind == ARG_INPUT) user[nu++] = to_buffer(&args[i]);
  int first_out = nu;
  for (int k = 0; k < f->nret; k++) {
    int kind = f->ret_role[k].kind;
    if (kind == RES_OUTPUT || kind == RES_LOSS || kind == RES_INPUT_GRAD)
      user[nu++] = calloc((size_t)type_numel(&f->ret[k]) + 1, dtype_size(f->ret[k].dtype));
  }
  CU_ASSERT_EQUAL(nu, fd->nuser_in + fd->nuser_out);
  nn_status st = invoke(lib, mdl, fi, user, nu, dn);
  CU_ASSERT_EQUAL(st, NN_OK);
  ITensor want[128];
  char err[256];
  /* f32 mode rounds f32 values as compiled code does and leaves f64 exact */
  CU_ASSERT_TRUE_FATAL(interp_run(f, args, f->body->nargs, want, INTERP_F32, err, sizeof err));
  double worst = 0;
  bool failed = false;
  int u = first_out;
  for (int k = 0; k < f->nret; k++) {
    int kind = f->ret_role[k].kind;
    const void *got;
    int pi = f->ret_role[k].index;
    if (kind == RES_GRAD) got = lib_buffer(lib, mdl, true) + lib->d->params[pi].byte_offset;
    else if (kind == RES_NEW_PARAM) got = lib_buffer(lib, mdl, false) + lib->d->params[pi].byte_offset;
    else if (kind == RES_NEW_STATE)
      got = mdl->state + (size_t)(pi / lib->d->nparams) * lib->d->param_bytes + lib->d->params[pi % lib->d->nparams].byte_offset;
    else got = user[u++];
    double e = rel_err(&want[k], got);
    double tol = want[k].ty.dtype == TY_F64 ? 1e-10 : 1e-5 * tol_scale;
    /* Adam's first step divides the gradient by its own magnitude (plus
     * eps): where a gradient is near eps, 1e-7 differences in it become
     * 1e-4 differences in the update. Parameters and moments after a step
     * are compared at 1e-4; gradients and outputs keep 1e-5. */
    if (kind == RES_NEW_PARAM || kind == RES_NEW_STATE) tol = want[k].ty.dtype == TY_F64 ? 1e-9 : 1e-4;
    if (!(e <= tol)) {
      failed = true;
      fprintf(stderr, "%s: @%s result %d: relative error %.3g\n", what, f->name, k, e);
      for (int64_t q = 0; q < 4 && q < type_numel(&want[k].ty); q++)
        fprintf(stderr, "   [%lld] want %g got %g\n", (long long)q, want[k].d[q], from_buffer(got, want[k].ty.dtype, q));
    }
    if (!(e <= worst)) worst = e;
  }
  for (int i = 0; i < nu; i++) free(user[i]);
  gc_free_all(want, f->nret);
  gc_free_all(args, f->body->nargs);
  return failed ? -1 : worst;
}

static void run_all(Compiled *c, int opt, const char *what, int *failures, bool so, int64_t dn) {
  Lib lib;
  memset(&lib, 0, sizeof lib);
  if (!(so ? build_so(c, opt, &lib) : build_lib(c, opt, &lib))) {
    fprintf(stderr, "%s: backend failed\n", what);
    (*failures)++;
    return;
  }
  rt_model *mdl = NULL;
  if (lib.so) {
    int (*create)(void **, uint64_t, int) = (int (*)(void **, uint64_t, int))dlsym(lib.so, "t_create_threads");
    CU_ASSERT_PTR_NOT_NULL_FATAL(create);
    CU_ASSERT_EQUAL_FATAL(create((void **)&mdl, 7, 2), NN_OK);
  } else {
    CU_ASSERT_EQUAL_FATAL(rt_model_create(lib.d, &mdl, 7, 2), NN_OK);
  }
  /* the library's functions are the module's, in order */
  for (int fi = 0; fi < lib.d->nfuncs; fi++) {
    double e = compare_func(&lib, mdl, c->m->funcs[fi], fi, what, dn);
    if (e < 0) (*failures)++;
  }
  if (lib.so) {
    void (*destroy)(void *) = (void (*)(void *))dlsym(lib.so, "t_destroy");
    destroy(mdl);
  } else {
    rt_model_destroy(lib.d, mdl);
  }
  jit_destroy(lib.jit);
  if (lib.so) {
    dlclose(lib.so);
    unlink(lib.sopath);
  }
}

static char *replace_all(const char *s, const char *from, const char *to) {
  static char out[65536];
  size_t o = 0, lf = strlen(from), lt = strlen(to);
  while (*s && o + lt + 1 < sizeof out) {
    if (!strncmp(s, from, lf)) {
      memcpy(out + o, to, lt);
      o += lt;
      s += lf;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = 0;
  return out;
}

/* All op cases in one module (one function each, @f0, @f1...), compiled
 * once per variant: f64 and f32 (every f64 replaced), at -O0 and -O3. */
static void test_ops(void) {
  int failures = 0;
  size_t cap = 1 << 20;
  char *all = malloc(cap);
  for (int variant = 0; variant < 2; variant++) {
    size_t len = (size_t)snprintf(all, cap, "module @t\n");
    for (int k = 0; k < NUM_OP_CASES; k++) {
      char text[8192];
      op_case_text(&op_cases[k], text, sizeof text);
      const char *body = strstr(text, "func @f(") + strlen("func @f(");
      len += (size_t)snprintf(all + len, cap - len, "func @f%d(%s", k, variant ? replace_all(body, "f64", "f32") : body);
      func_ranges[k] = func_ranges[NUM_OP_CASES + k] = op_cases[k].ranges; /* the case, then its gradient */
    }
    for (int opt = 0; opt <= 3; opt += 3) {
      Arena *a = arena_new();
      Compiled *c = compiled_from_text(a, all);
      CU_ASSERT_PTR_NOT_NULL_FATAL(c);
      CU_ASSERT_TRUE(c->ok);
      char what[128];
      snprintf(what, sizeof what, "op cases (%s, -O%d)", variant ? "f32" : "f64", opt);
      run_all(c, opt, what, &failures, false, 0);
      arena_free(a);
    }
  }
  free(all);
  memset(func_ranges, 0, sizeof func_ranges);
  CU_ASSERT_EQUAL(failures, 0);
}


/* Each sample through the JIT at -O0 and -O3, and through a shared
 * library at -O3 (the model runs in the .so's own copy of the runtime:
 * the object must be created there too). */
static void check_sample_budget(const char *rel, const Define *defs, int n, size_t max_tape) {
  int failures = 0;
  for (int variant = 0; variant < 3; variant++) {
    int opt = variant == 0 ? 0 : 3;
    bool so = variant == 2;
    Arena *a = arena_new();
    Compiled *c = gc_compiled_budget(a, rel, defs, n, max_tape);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    char what[256];
    snprintf(what, sizeof what, "%s -O%d %s", rel, opt, so ? ".so" : "JIT");
    run_all(c, opt, what, &failures, so, 0);
    arena_free(a);
  }
  CU_ASSERT_EQUAL(failures, 0);
}

static void check_sample(const char *rel, const Define *defs, int n) { check_sample_budget(rel, defs, n, 0); }

/* Checkpointed loops: tests/nn/checkpoint.nn (whole loops, nested), and
 * the LSTM with its loop tapes limited, so that the loop is split into
 * checkpointed segments. */
static void test_checkpoint(void) {
  check_sample("tests/nn/checkpoint.nn", NULL, 0);
  Define d[] = {{"B", "3"}, {"T", "32"}, {"V", "7"}, {"E", "4"}, {"H", "8"}};
  check_sample_budget("samples/char_lstm.nn", d, 5, 2600);
}

/* Loop carries read through a reshape (a view of the carry's buffer):
 * after a new value computed in the carry's buffer, or a row written there
 * in place, by an inner loop carried in it, and as a gradient's tape row
 * (tests/nn/loop_views.nn); forward, gradient, and a gradient penalty. */
static void test_loop_views(void) { check_sample("tests/nn/loop_views.nn", NULL, 0); }

/* A group's later member must not share bytes with a value the group
 * still reads (tests/nn/group_overlap.nn): forward, gradient, a gradient
 * penalty and a forward-over-reverse product through a loop. */
static void test_group_overlap(void) { check_sample("tests/nn/group_overlap.nn", NULL, 0); }

/* More prepacked weights than the plan's reserve (tests/nn/many_prepacks.nn). */
static void test_many_prepacks(void) { check_sample("tests/nn/many_prepacks.nn", NULL, 0); }

static void test_mlp(void) {
  Define d[] = {{"B", "4"}, {"H", "16"}};
  check_sample("samples/fashion_mlp.nn", d, 2);
}
static void test_cnn(void) {
  Define d[] = {{"B", "2"}, {"C1", "4"}, {"C2", "6"}, {"HID", "8"}};
  check_sample("samples/fashion_cnn.nn", d, 4);
}
static void test_rnn(void) {
  Define d[] = {{"B", "3"}, {"T", "5"}, {"V", "7"}, {"E", "4"}, {"H", "8"}};
  check_sample("samples/char_rnn.nn", d, 5);
}
static void test_lstm(void) {
  Define d[] = {{"B", "3"}, {"T", "5"}, {"V", "7"}, {"E", "4"}, {"H", "8"}};
  check_sample("samples/char_lstm.nn", d, 5);
}
static void test_gpt(void) {
  Define d[] = {{"B", "2"}, {"T", "6"}, {"V", "7"}, {"D", "16"}, {"NH", "2"}};
  check_sample("samples/tiny_gpt.nn", d, 5);
}

/* The descriptor marks i32 inputs used only as indices with their bound:
 * labels (one_hot's classes) and character ids (embed's table rows),
 * including through the RNN's per-step slicing. */
static void test_index_bounds(void) {
  struct { const char *file; const char *fn; const char *arg; int64_t bound; } want[] = {
      {"samples/fashion_mlp.nn", "loss", "y", 10}, {"samples/fashion_mlp.nn", "loss", "x", 0},
      {"samples/char_rnn.nn", "loss", "x", 96},    {"samples/char_rnn.nn", "loss", "y", 96},
      {"samples/char_lstm.nn", "loss_grad", "x", 96}, {"samples/tiny_gpt.nn", "loss", "idx", 96},
      {"samples/tiny_gpt.nn", "train_step", "y", 96},
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    Arena *a = arena_new();
    Define d[] = {{"B", "2"}, {"T", "4"}};
    Compiled *c = gc_compiled(a, want[k].file, d, strstr(want[k].file, "char") || strstr(want[k].file, "gpt") ? 2 : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    Lib lib;
    memset(&lib, 0, sizeof lib);
    CU_ASSERT_TRUE_FATAL(build_lib(c, 0, &lib));
    int64_t got = -1;
    for (int i = 0; i < lib.d->nfuncs; i++) {
      const rt_func_desc *f = &lib.d->funcs[i];
      if (strcmp(f->name, want[k].fn)) continue;
      for (int j = 0; j < f->nargs; j++)
        if (f->args[j].name && !strcmp(f->args[j].name, want[k].arg)) got = f->args[j].index_bound;
    }
    if (got != want[k].bound)
      fprintf(stderr, "%s %s %s: bound %lld, expected %lld\n", want[k].file, want[k].fn, want[k].arg, (long long)got,
              (long long)want[k].bound);
    CU_ASSERT_EQUAL(got, want[k].bound);
    jit_destroy(lib.jit);
    arena_free(a);
  }
}

/* Models with a run-time batch (bound 12): every function through the
 * JIT at -O0 and -O3 (every loop a parallel task), at n = 1, 7 and the
 * bound, against the interpreter at the same n. */
static void check_dyn_defs(const char *rel, const Define *defs, int ndefs) {
  static const int64_t sizes[] = {1, 7, 12};
  int failures = 0;
  for (int opt = 0; opt <= 3; opt += 3)
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      Arena *a = arena_new();
      Compiled *c = gc_compiled(a, rel, defs, ndefs);
      CU_ASSERT_PTR_NOT_NULL_FATAL(c);
      char what[256];
      snprintf(what, sizeof what, "%s -O%d n=%lld", rel, opt, (long long)sizes[k]);
      run_all(c, opt, what, &failures, false, sizes[k]);
      arena_free(a);
    }
  CU_ASSERT_EQUAL(failures, 0);
}

static void check_dyn(const char *rel) { check_dyn_defs(rel, NULL, 0); }

/* The samples with a run-time batch, their bound set to 12 (-D B=12) and
 * small layers: n = 1, 7 (a prime) and the bound. The character models'
 * [n, T, K] @ W products run as GEMMs of n*T rows and their recurrent
 * weight gradients as one product over the zero-padded tapes. */
static void test_dyn_samples(void) {
  Define mlp[] = {{"B", "12"}, {"H", "8"}}, cnn[] = {{"B", "12"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}};
  Define ch[] = {{"B", "12"}, {"T", "5"}, {"V", "7"}, {"E", "4"}, {"H", "8"}};
  Define gpt[] = {{"B", "12"}, {"T", "6"}, {"V", "7"}, {"D", "16"}, {"NH", "2"}};
  check_dyn_defs("samples/fashion_mlp.nn", mlp, 2);
  check_dyn_defs("samples/fashion_robust.nn", mlp, 2);
  check_dyn_defs("samples/fashion_cnn.nn", cnn, 4);
  check_dyn_defs("samples/char_rnn.nn", ch, 5);
  check_dyn_defs("samples/char_lstm.nn", ch, 5);
  check_dyn_defs("samples/tiny_gpt.nn", gpt, 5);
}

/* The pads that fill a tape's run-time axis to its bound for a recurrent
 * weight's gradient product (loops.c) write over the tape: only the
 * padding rows are zeroed, nothing is copied (at n = bound nothing is done). */
static void test_dyn_pad_in_place(void) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, "tests/nn/dyn_rnn.nn", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *g = compiled_grad(c, "loss");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  Plan *pl = compiled_plan(c, g);
  int pads = 0;
  for (Inst *in = g->body->first; in; in = in->next)
    if (in->op == OP_PAD) {
      pads++;
      const ValPlan *vp = plan_of(pl, in->res[0]);
      CU_ASSERT_TRUE(vp->inplace && plan_root(pl, in->res[0]) == plan_root(pl, in->args[0]));
    }
  CU_ASSERT_EQUAL(pads, 2); /* Wh.grad's two operands */
  arena_free(a);
}

static void test_dyn_mlp(void) { check_dyn("tests/nn/dyn_mlp.nn"); }
static void test_dyn_ops(void) { check_dyn("tests/nn/dyn_ops.nn"); }
static void test_dyn_cnn(void) { check_dyn("tests/nn/dyn_cnn.nn"); }
static void test_dyn_rnn(void) { check_dyn("tests/nn/dyn_rnn.nn"); }
static void test_dyn_deriv(void) { check_dyn("tests/nn/dyn_deriv.nn"); }

/* A chain of n parameters, h = tanh(h * p_i): one single-use elementwise
 * chain, which the plan fuses into trees of bounded size (plan.c,
 * FUSE_MAX_TREE). Written to a temporary file; its path in `path`. */
static void write_chain(char *path, size_t cap, int n) {
  snprintf(path, cap, "/tmp/nnc-chain-XXXXXX.nn");
  int fd = mkstemps(path, 3);
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "model chain {\n");
  for (int i = 0; i < n; i++) fprintf(f, "  param p%d: f32[8] = normal(1.0, 0.1)\n", i);
  fprintf(f, "  fn forward(x: f32[4, 8]) -> f32[4, 8] {\n    var h = x\n");
  for (int i = 0; i < n; i++) fprintf(f, "    h = tanh(h * p%d)\n", i);
  fprintf(f, "    return h\n  }\n");
  fprintf(f, "  fn loss(x: f32[4, 8], y: f32[4, 8]) -> f32 { return mean((forward(x) - y) * (forward(x) - y)) }\n}\n");
  fclose(f);
}

/* The longest basic block (lines) of the module's LLVM IR before LLVM's
 * passes, at -O0. */
static long longest_block(Compiled *c) {
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  BackendOpts o = {.opt_level = 0, .name = "t"};
  CodeGen *cg = codegen_module(c, &o, &d);
  diag_free(&d);
  if (!cg) return -1;
  char path[] = "/tmp/nnc-test-XXXXXX.ll";
  int fd = mkstemps(path, 3);
  if (fd < 0) return -1;
  close(fd);
  char err[512];
  bool ok = codegen_emit(cg, CG_LLVM_IR, path, err, sizeof err);
  codegen_free(cg);
  long best = -1, cur = 0;
  FILE *f = ok ? fopen(path, "r") : NULL;
  char line[4096];
  while (f && fgets(line, sizeof line, f)) {
    bool label = line[0] != ' ' && line[0] != '\n' && strchr(line, ':') && !strchr(line, '=') && strncmp(line, "define", 6);
    if (label || line[0] == '}' || !strncmp(line, "define", 6)) cur = 0;
    else if (line[0] == ' ' && ++cur > best) best = cur;
  }
  if (f) fclose(f);
  unlink(path);
  return best;
}

/* A long elementwise chain: no basic block grows with the chain (one
 * fused tree over the whole chain made a block LLVM took super-linear
 * time on: 1,000 parameters, 39 s), and the bounded trees and their
 * groups (many leaves each) compute what the interpreter does. */
static void test_long_chain(void) {
  char p100[64], p400[64], p120[64];
  write_chain(p100, sizeof p100, 100);
  write_chain(p400, sizeof p400, 400);
  write_chain(p120, sizeof p120, 120); /* within compare_func's 128 arguments */
  Arena *a = arena_new();
  Compiled *c100 = gc_compiled(a, p100, NULL, 0), *c400 = gc_compiled(a, p400, NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c100);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c400);
  long b100 = longest_block(c100), b400 = longest_block(c400);
  if (b400 > b100 + b100 / 4) fprintf(stderr, "longest block: %ld lines at 100 parameters, %ld at 400\n", b100, b400);
  CU_ASSERT_TRUE(b100 > 0 && b400 <= b100 + b100 / 4);
  arena_free(a);
  check_sample(p120, NULL, 0);
  unlink(p100);
  unlink(p400);
  unlink(p120);
}

/* ---- random programs: compiled code against the interpreter ------------------------ */

/* A small deterministic generator (xorshift) of valid programs over
 * [N, H] values: chains of elementwise ops, layernorm, softmax, matmuls,
 * row reductions broadcast back, slices and concatenations, in a loop
 * carrying two values and at the top level, with a gradient penalty and a
 * forward-over-reverse product of the function. The memory plan's
 * decisions (fusion, groups, in-place updates, carries, tape rows) meet
 * in combinations no hand-written case lists; every function of every
 * program must match the interpreter (compare_func's tolerance). */
typedef struct Rng {
  uint64_t s;
} Rng;
static unsigned rnd(Rng *r, unsigned n) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return (unsigned)(r->s % n);
}

typedef struct Src {
  char *buf;
  size_t n, cap;
} Src;
static void put(Src *s, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(s->buf + s->n, s->cap - s->n, fmt, ap);
    va_end(ap);
    if (k >= 0 && s->n + (size_t)k < s->cap) {
      s->n += (size_t)k;
      return;
    }
    s->cap = s->cap * 2 + (size_t)(k > 0 ? k : 0) + 256;
    s->buf = realloc(s->buf, s->cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s->buf);
  }
}

/* An expression of type f32[N, H] over the names vars[0..nv); in the
 * loop (rand_in_loop) also the row u[t] of a parameter. */
static bool rand_in_loop;
static void rand_expr(Rng *r, Src *s, const char *const *vars, int nv, int depth) {
  if (depth <= 0) {
    put(s, "%s", vars[rnd(r, (unsigned)nv)]);
    return;
  }
  switch (rnd(r, 16)) {
  case 11: put(s, "("); rand_expr(r, s, vars, nv, depth - 1); put(s, " @ transpose(w))"); break;
  case 12:
    put(s, "(");
    rand_expr(r, s, vars, nv, depth - 1);
    put(s, rand_in_loop ? " + u[t])" : " + u[0])");
    break;
  case 0: put(s, "tanh("); rand_expr(r, s, vars, nv, depth - 1); put(s, ")"); break;
  case 1: put(s, "sigmoid("); rand_expr(r, s, vars, nv, depth - 1); put(s, ")"); break;
  case 2: case 3:
    put(s, "(");
    rand_expr(r, s, vars, nv, depth - 1);
    put(s, rnd(r, 3) == 0 ? " - " : rnd(r, 2) ? " + " : " * ");
    rand_expr(r, s, vars, nv, depth - 1);
    put(s, ")");
    break;
  case 4: put(s, "layernorm("); rand_expr(r, s, vars, nv, depth - 1); put(s, ", g, b)"); break;
  case 5: put(s, "softmax("); rand_expr(r, s, vars, nv, depth - 1); put(s, ")"); break;
  case 6: put(s, "("); rand_expr(r, s, vars, nv, depth - 1); put(s, " @ w)"); break;
  case 7: /* a row reduction broadcast back */
    put(s, "(");
    rand_expr(r, s, vars, nv, depth - 1);
    put(s, " * %s(", rnd(r, 2) ? "mean" : "sum");
    rand_expr(r, s, vars, nv, depth - 1);
    put(s, ", axis = 1, keepdims = true))");
    break;
  case 8: /* halves swapped: slices (views) read at other elements */
    put(s, "concat([%s[:, HH:H], %s[:, 0:HH]], axis = 1)", vars[rnd(r, (unsigned)nv)], vars[rnd(r, (unsigned)nv)]);
    break;
  case 9: put(s, "("); rand_expr(r, s, vars, nv, depth - 1); put(s, " * 0.5 + b)"); break;
  case 10: put(s, "(%s * %s)", vars[rnd(r, (unsigned)nv)], vars[rnd(r, (unsigned)nv)]); break;
  default: put(s, "%s", vars[rnd(r, (unsigned)nv)]); break;
  }
}

/* `INDENT let NAME = EXPR` with NAME = prefix and number (into name, 16
 * bytes), which joins vars[0..*nv) for what follows. */
static void rand_let(Rng *r, Src *s, const char *indent, char prefix, char *name, int number, const char **vars,
                     int *nv, int depth) {
  snprintf(name, 16, "%c%d", prefix, number);
  put(s, "%slet %s = ", indent, name);
  rand_expr(r, s, vars, *nv, depth);
  put(s, "\n");
  vars[(*nv)++] = name;
}

/* Program `seed` into a temporary file (its path in path). */
static void write_random_program(uint64_t seed, char *path, size_t cap) {
  Rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
  Src s = {0};
  put(&s, "// random program %llu (tests/unit/test_backend.c, write_random_program)\n", (unsigned long long)seed);
  put(&s, "const N = %u\nconst H = %u\nconst HH = H / 2\nconst T = %u\n", 2 + rnd(&r, 2), 4 + 2 * rnd(&r, 3), 1 + rnd(&r, 3));
  put(&s, "model fz {\n  param w: f32[H, H] = normal(std = 0.4)\n  param b: f32[H] = normal(std = 0.3)\n"
          "  param u: f32[T, H] = normal(std = 0.5)\n"
          "  param g: f32[H] = normal(mean = 1, std = 0.2)\n");
  put(&s, "  fn f(x: f32[N, H]) -> f32 {\n    var h = tanh(x)\n    var c = x * 0.5\n    var hs = zeros([N, T, H])\n");
  bool rows = rnd(&r, 2); /* the loop writes a row of hs at every step */
  const char *vars[16] = {"x", "h", "c"};
  int nv = 3, nlet = 0;
  static char names[16][16];
  for (int k = 0, n = 1 + (int)rnd(&r, 3); k < n; k++) /* before the loop */
    rand_let(&r, &s, "    ", 'p', names[nlet], nlet, vars, &nv, 2), nlet++;
  put(&s, "    for t in 0..T {\n");
  rand_in_loop = true;
  int outer = nv;
  for (int k = 0, n = 2 + (int)rnd(&r, 4); k < n; k++) {
    int what = (int)rnd(&r, 4);
    if (what == 0) {
      put(&s, "      h = ");
      rand_expr(&r, &s, vars, nv, 2);
      put(&s, "\n");
    } else if (what == 1) {
      put(&s, "      c = %s + ", rnd(&r, 2) ? "c" : "h");
      rand_expr(&r, &s, vars, nv, 2);
      put(&s, "\n");
    } else if (nv < 16) {
      rand_let(&r, &s, "      ", 'q', names[nlet], nlet, vars, &nv, 3), nlet++;
    }
  }
  put(&s, "      h = h + tanh(c) * 0.5");
  for (int k = outer; k < nv; k++) put(&s, " + %s * 0.1", vars[k]); /* every let is used */
  put(&s, "\n");
  if (rows) put(&s, "      hs[:, t] = %s\n", rnd(&r, 2) ? "h" : "c * 0.5");
  put(&s, "    }\n");
  rand_in_loop = false;
  nv = outer; /* the loop's lets end with it */
  put(&s, "    return sum(h * h) * 0.5 + sum(");
  rand_expr(&r, &s, vars, nv, 2);
  put(&s, ") * 0.25");
  for (int k = 3; k < outer; k++) put(&s, " + sum(%s) * 0.1", vars[k]);
  put(&s, " + sum(hs * hs) * 0.1");
  put(&s, "\n  }\n");
  put(&s, "  fn gp(x: f32[N, H]) -> f32 {\n    let d = grad(f, wrt = [x])(x)\n    return f(x) + 0.1 * sum(d * d)\n  }\n");
  put(&s, "  fn hv(x: f32[N, H], v: f32[N, H]) -> f32[N, H] {\n"
          "    let (_d, t) = jvp(grad(f, wrt = [x]), wrt = [x], tangents = [v])(x)\n    return t\n  }\n");
  put(&s, "  fn df(x: f32[N, H]) -> f32[N, H] {\n    return grad(f, wrt = [x])(x)\n  }\n}\n");
  snprintf(path, cap, "/tmp/nnc-fuzz-%llu-XXXXXX.nn", (unsigned long long)seed);
  int fd = mkstemps(path, 3);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_FATAL(write(fd, s.buf, s.n) == (ssize_t)s.n);
  close(fd);
  free(s.buf);
}

/* A failing program stays in /tmp, named on stderr (1); a passing one is
 * removed (0). */
static int keep_if_failed(const char *path, bool failed, const char *what) {
  if (!failed) {
    unlink(path);
    return 0;
  }
  fprintf(stderr, "%s: %s (kept)\n", path, what);
  return 1;
}

/* NNC_FUZZ_PROGRAMS=N (default 24) programs from NNC_FUZZ_SEED (default 1)
 * on: each compiled at -O3 (groups, every loop a parallel task) and run
 * against the interpreter; a failing program stays in /tmp, named. The
 * first 80 found two wrong-code bugs of the memory plan (a group's member
 * sharing bytes with a value the group still read; a pad computed into a
 * carry's buffer taken for a pad over its operand). */
static void test_random_programs(void) {
  const char *ns = getenv("NNC_FUZZ_PROGRAMS"), *ss = getenv("NNC_FUZZ_SEED");
  int n = ns ? atoi(ns) : 24;
  uint64_t first = ss ? strtoull(ss, NULL, 10) : 1;
  int bad = 0;
  rms_floor = 1e-4;
  tol_scale = 10;
  for (int k = 0; k < n; k++) {
    char path[128];
    write_random_program(first + (uint64_t)k, path, sizeof path);
    Arena *a = arena_new();
    Compiled *c = gc_compiled(a, path, NULL, 0);
    int failures = 0;
    if (!c) {
      failures = 1;
      fprintf(stderr, "%s: does not compile\n", path);
    } else {
      run_all(c, 3, path, &failures, false, 0);
    }
    arena_free(a);
    bad += keep_if_failed(path, failures > 0, "compiled code differs from the interpreter");
  }
  rms_floor = 0;
  tol_scale = 1;
  CU_ASSERT_EQUAL(bad, 0);
}

/* The random programs again, with their loop tapes limited: each is
 * compiled with the smallest of a few --max-tape-bytes budgets it fits in
 * (so the AD checkpoints loops, in segments where it can), and its
 * functions, run by the interpreter in f64, must give what the fully
 * taped compilation gives, to 1e-12 relative (the recomputed forward
 * values are the taped ones). NNC_FUZZ_PROGRAMS / NNC_FUZZ_SEED as above;
 * 8 programs by default. */
static void test_random_checkpoints(void) {
  const char *ns = getenv("NNC_FUZZ_PROGRAMS"), *ss = getenv("NNC_FUZZ_SEED");
  int n = ns ? atoi(ns) / 3 : 8;
  uint64_t first = ss ? strtoull(ss, NULL, 10) : 1;
  static const char *const fns[] = {"f", "df", "gp", "hv"};
  int bad = 0, limited = 0;
  for (int k = 0; k < n; k++) {
    char path[128];
    write_random_program(first + (uint64_t)k, path, sizeof path);
    Arena *a = arena_new();
    Compiled *c0 = gc_compiled(a, path, NULL, 0), *c1 = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(c0);
    /* the budgets that do not fit report why on stderr: kept quiet */
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    if (saved >= 0 && null >= 0) dup2(null, 2);
    size_t budget = 0;
    for (size_t b = 128; b <= 8192 && !c1; b *= 2) {
      c1 = gc_compiled_budget(a, path, NULL, 0, b);
      budget = b;
    }
    fflush(stderr);
    if (saved >= 0) dup2(saved, 2), close(saved);
    if (null >= 0) close(null);
    bool diff = false, planned = false;
    for (int i = 0; c1 && i < c1->nprimal; i++) planned |= c1->grads[i].f && c1->grads[i].nplan > 0;
    if (c1 && planned) { /* the budget made the AD checkpoint something */
      limited++;
      for (size_t q = 0; q < sizeof fns / sizeof *fns; q++) {
        Func *f0 = ir_find_func(c0->m, fns[q]), *f1 = ir_find_func(c1->m, fns[q]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(f1);
        CU_ASSERT_EQUAL_FATAL(f0->body->nargs, f1->body->nargs);
        ITensor args[16], r0[8], r1[8];
        char err[256];
        gc_inputs_n(f0, args, NULL, 777 + (uint64_t)q, 0);
        CU_ASSERT_TRUE_FATAL(interp_run(f0, args, f0->body->nargs, r0, INTERP_F64, err, sizeof err));
        CU_ASSERT_TRUE_FATAL(interp_run(f1, args, f1->body->nargs, r1, INTERP_F64, err, sizeof err));
        for (int r = 0; r < f0->nret; r++) {
          double num = 0, den = 0;
          for (int64_t i = 0; i < type_numel(&f0->ret[r]); i++) {
            double x = r0[r].d[i], y = r1[r].d[i];
            num += (x - y) * (x - y);
            den += x * x;
          }
          double e = den > 0 ? sqrt(num / den) : sqrt(num);
          if (!(e <= 1e-12)) {
            diff = true;
            fprintf(stderr, "%s: @%s result %d with --max-tape-bytes=%zu: relative error %.3g against the taped gradient\n",
                    path, fns[q], r, budget, e);
          }
        }
        gc_free_all(r0, f0->nret);
        gc_free_all(r1, f1->nret);
        gc_free_all(args, f0->body->nargs);
      }
    }
    arena_free(a);
    bad += keep_if_failed(path, diff, "checkpointed gradient differs");
  }
  if (n > 0 && limited == 0) fprintf(stderr, "random checkpoints: no program was checkpointed\n");
  if (getenv("NNC_FUZZ_VERBOSE")) fprintf(stderr, "random checkpoints: %d of %d programs checkpointed\n", limited, n);
  CU_ASSERT_TRUE(n == 0 || limited > 0);
  CU_ASSERT_EQUAL(bad, 0);
}

/* The module's LLVM IR before LLVM's passes (-O0), read back from a
 * temporary file; malloc'd, NULL on failure. */
static char *llvm_ir_text(Compiled *c) {
  Diag d;
  diag_init(&d, "<test>", "", 0, stderr, COLOR_NEVER);
  BackendOpts o = {.opt_level = 0, .name = "t"};
  CodeGen *cg = codegen_module(c, &o, &d);
  diag_free(&d);
  if (!cg) return NULL;
  char path[] = "/tmp/nnc-test-XXXXXX.ll";
  int fd = mkstemps(path, 3);
  if (fd < 0) return NULL;
  close(fd);
  char err[512];
  bool ok = codegen_emit(cg, CG_LLVM_IR, path, err, sizeof err);
  codegen_free(cg);
  FILE *f = ok ? fopen(path, "r") : NULL;
  char *text = NULL;
  if (f) {
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc((size_t)n + 1, 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) text[0] = 0;
    fclose(f);
  }
  unlink(path);
  return text;
}

/* The backend lowers train_step as calls of the gradient and apply_update:
 * compiled without train_step's body (CompileOpts.no_train_step_body, as
 * nnc does for native outputs only), the LLVM IR is the same. */
static void test_train_step_body(void) {
  struct { const char *file; Define d[5]; int n; } cases[] = {
      {"samples/fashion_mlp.nn", {{"B", "4"}, {"H", "16"}}, 2},
      {"samples/char_rnn.nn", {{"B", "3"}, {"T", "5"}, {"V", "7"}, {"E", "4"}, {"H", "8"}}, 5},
      {"samples/tiny_gpt.nn", {{"B", "2"}, {"T", "6"}, {"V", "7"}, {"D", "16"}, {"NH", "2"}}, 5},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char *ir[2] = {NULL, NULL};
    int insts[2] = {-1, -1};
    for (int body = 0; body < 2; body++) {
      static char path[1024];
      snprintf(path, sizeof path, "%s/%s", NNC_SOURCE_DIR, cases[k].file);
      Arena *a = arena_new();
      Diag d;
      char *src;
      Program *p;
      CU_ASSERT_EQUAL_FATAL(gc_front(a, path, cases[k].d, cases[k].n, &d, &src, &p), 0);
      CompileOpts co = {.verify = true, .no_train_step_body = !body};
      Compiled *c = compile_module(a, &d, p, path, &co);
      diag_free(&d);
      free(src);
      CU_ASSERT_TRUE_FATAL(c->ok);
      Func *ts = ir_find_func(c->m, "train_step");
      CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
      insts[body] = ir_count_insts(ts);
      ir[body] = llvm_ir_text(c);
      arena_free(a);
    }
    CU_ASSERT_EQUAL(insts[0], 0);
    CU_ASSERT_TRUE(insts[1] > 0);
    CU_ASSERT_PTR_NOT_NULL(ir[0]);
    CU_ASSERT_PTR_NOT_NULL(ir[1]);
    bool same = ir[0] && ir[1] && !strcmp(ir[0], ir[1]);
    if (!same) fprintf(stderr, "%s: LLVM IR differs without train_step's body\n", cases[k].file);
    CU_ASSERT_TRUE(same);
    free(ir[0]);
    free(ir[1]);
  }
}

static UnitTest tests[] = {{"index inputs carry their bounds", test_index_bounds},
                           {"run-time batch: MLP at n = 1, 7, 12", test_dyn_mlp},
                           {"run-time batch: ops at n = 1, 7, 12", test_dyn_ops},
                           {"run-time batch: CNN at n = 1, 7, 12", test_dyn_cnn},
                           {"run-time batch: RNN at n = 1, 7, 12", test_dyn_rnn},
                           {"run-time batch: the tapes' pads to the bound in place", test_dyn_pad_in_place},
                           {"run-time batch: a gradient penalty at n = 1, 7, 12", test_dyn_deriv},
                           {"run-time batch: the samples at n = 1, 7, 12", test_dyn_samples},{"every op case: JIT vs interpreter", test_ops},
                           {"fashion_mlp", test_mlp},
                           {"fashion_cnn", test_cnn},
                           {"char_rnn", test_rnn},
                           {"char_lstm", test_lstm},
                           {"checkpointed loops (whole, nested, segments of the LSTM)", test_checkpoint},
                           {"tiny_gpt", test_gpt},
                           {"loop carries read through views", test_loop_views},
                           {"group members do not overlap what the group reads", test_group_overlap},
                           {"more prepacked weights than the plan reserves", test_many_prepacks},
                           {"random programs: compiled code against the interpreter", test_random_programs},
                           {"random programs: checkpointed gradients equal taped ones", test_random_checkpoints},
                           {"a long elementwise chain: bounded blocks, JIT vs interpreter", test_long_chain},
                           {"train_step's body does not change the LLVM IR", test_train_step_body},
                           {0, 0}};

int main(void) { return unit_run("backend", tests); }
