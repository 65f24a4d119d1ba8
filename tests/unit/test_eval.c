/* test_eval.c — `nnc eval`, run as a program (NNC_EXE) on files this test
 * writes with the runtime's writers:
 *   - every sample at small sizes (-D): the forward function with seeded
 *     parameters (--interp) gives exactly what the interpreter gives on the
 *     same data in this process; the loss with --grad and a parameter file
 *     runs compiled code (the default) and agrees within 1e-5, and with
 *     --f64 (the interpreter) exactly;
 *   - input conversions (f64 -> f32, i64 / u8 -> i32), --seed defaults;
 *   - every malformed or mismatched file and every bad command line: exit
 *     status 1 (files) or 2 (usage), and a message naming the file, the
 *     tensor and both types. */
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <math.h>

#include "unit_main.h"
#include "gradcheck.h"
#include "pipeline.h"
#include "rt_io.h"
#include "tmpdir.h"

extern char **environ;


/* ---- running nnc ------------------------------------------------------------ */

static char err_text[16384], out_text[16384];

static void slurp(const char *path, char *buf, size_t n) {
  buf[0] = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return;
  size_t got = fread(buf, 1, n - 1, f);
  buf[got] = 0;
  fclose(f);
}

/* Run `nnc eval ARGS[0..n)`; returns the exit status, with stdout and
 * stderr in out_text / err_text. */
static int run_eval_v(const char *const *args, int n) {
  const char *argv[128];
  int k = 0;
  argv[k++] = NNC_EXE;
  argv[k++] = "eval";
  for (int i = 0; i < n && k < 127; i++) argv[k++] = args[i];
  argv[k] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, tp("stdout.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, tp("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int rc = posix_spawn(&pid, NNC_EXE, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int st;
  if (waitpid(pid, &st, 0) < 0) return -1;
  slurp(tp("stdout.txt"), out_text, sizeof out_text);
  slurp(tp("stderr.txt"), err_text, sizeof err_text);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The same with a NULL-terminated list. */
static int run_eval(const char *first, ...) {
  const char *args[120];
  int n = 0;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && n < 120; a = va_arg(ap, const char *)) args[n++] = a;
  va_end(ap);
  return run_eval_v(args, n);
}

/* stderr contains every string of a NULL-terminated list */
static bool err_has(const char *first, ...) {
  va_list ap;
  va_start(ap, first);
  bool ok = true;
  for (const char *s = first; s; s = va_arg(ap, const char *))
    if (!strstr(err_text, s)) {
      fprintf(stderr, "  expected \"%s\" in stderr:\n%s\n", s, err_text);
      ok = false;
    }
  va_end(ap);
  return ok;
}

/* ---- files -------------------------------------------------------------------- */

static rt_dtype rt_of(DType d) {
  return d == TY_F32 ? RT_F32 : d == TY_F64 ? RT_F64 : d == TY_I32 ? RT_I32 : RT_BOOL;
}

/* An rt_tensor of the given dtype holding the values of t (doubles). */
static rt_tensor to_rt(const ITensor *t, rt_dtype dt, const char *name) {
  rt_tensor r;
  CU_ASSERT_EQUAL_FATAL(rt_tensor_alloc(&r, name, dt, t->ty.rank, t->ty.dim), NN_OK);
  for (int64_t i = 0; i < type_numel(&t->ty); i++) {
    double v = t->d[i];
    switch (dt) {
    case RT_F32: ((float *)r.data)[i] = (float)v; break;
    case RT_F64: ((double *)r.data)[i] = v; break;
    case RT_I32: ((int32_t *)r.data)[i] = (int32_t)v; break;
    case RT_I64: ((int64_t *)r.data)[i] = (int64_t)v; break;
    case RT_U8: ((uint8_t *)r.data)[i] = (uint8_t)v; break;
    default: ((uint8_t *)r.data)[i] = v != 0; break;
    }
  }
  return r;
}

static void write_npy(const char *path, const ITensor *t, rt_dtype dt) {
  rt_tensor r = to_rt(t, dt, NULL);
  CU_ASSERT_EQUAL(rt_npy_write(path, &r), NN_OK);
  rt_tensor_free(&r);
}

/* The first n bytes of `from` into `to`. */
static void truncate_copy(const char *from, const char *to, long keep_less) {
  char buf[1 << 16];
  FILE *f = fopen(from, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  CU_ASSERT_FATAL(n > (size_t)keep_less);
  write_bytes(to, buf, n - (size_t)keep_less);
}

/* ---- the models ---------------------------------------------------------------- */

typedef struct Sample {
  const char *file;
  const char *fwd;     /* the function that is not the loss */
  Define defs[6];
  int ndefs;
} Sample;

static const Sample samples[] = {
    {"samples/fashion_mlp.nn", "forward", {{"B", "2"}, {"H", "6"}}, 2},
    {"samples/fashion_cnn.nn", "forward", {{"B", "2"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}}, 4},
    {"samples/char_rnn.nn", "logits", {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}}, 5},
    {"samples/char_lstm.nn", "logits", {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}}, 5},
    {"samples/tiny_gpt.nn", "logits", {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}}, 5},
};

static char *path_of(const char *rel) {
  static char buf[4][1024];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, sizeof buf[0], "%s/%s", NNC_SOURCE_DIR, rel);
  return b;
}

/* The source text is the caller's to free (*src), after the arena. */
static Compiled *compile_sample(Arena *a, const Sample *s, char **src_out) {
  const char *path = path_of(s->file);
  Diag d;
  Program *p;
  int rc = gc_front(a, path, s->defs, s->ndefs, &d, src_out, &p);
  if (rc != 0) {
    diag_free(&d);
    return NULL;
  }
  Compiled *c = compile_module(a, &d, p, path, &(CompileOpts){0});
  diag_free(&d);
  return c;
}

/* "-D" "B=2" ... into argv[*n..] */
static void push_defs(const Sample *s, const char **argv, int *n, char bufs[][64]) {
  for (int i = 0; i < s->ndefs; i++) {
    snprintf(bufs[i], 64, "%s=%s", s->defs[i].name, s->defs[i].value);
    argv[(*n)++] = "-D";
    argv[(*n)++] = bufs[i];
  }
}

/* Random values for f's arguments (params in [-0.5, 0.5], floats in [-1, 1],
 * i32 in [0, 5): a valid class or character in every sample at these sizes). */
static void random_args(const Func *f, ITensor *args, uint64_t seed) {
  gc_inputs(f, args, "", seed);
  for (int i = 0; i < f->body->nargs; i++)
    if (f->arg_role[i].kind == ARG_PARAM)
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++) args[i].d[k] *= 0.5;
    else if (args[i].ty.dtype == TY_I32 && f->arg_role[i].kind == ARG_INPUT) /* not a run-time batch's n */
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++) args[i].d[k] = (double)((int64_t)(args[i].d[k] * 7 + 7) % 5);
}

/* Compare result k of `f` run in this process on args with the tensor
 * `name` of the output file (as written: f32 results as F32): bit for bit
 * when tol is 0 (the interpreter on both sides), else within a norm-wise
 * relative error of tol (compiled code, the default runner). */
static void compare(const rt_tensorset *ts, const char *name, const ITensor *ref, const char *what, double tol) {
  const rt_tensor *t = rt_ts_find(ts, name);
  CU_ASSERT_PTR_NOT_NULL(t);
  if (!t) {
    fprintf(stderr, "  %s: no tensor '%s' in the output\n", what, name);
    return;
  }
  CU_ASSERT_EQUAL(t->rank, ref->ty.rank);
  CU_ASSERT_EQUAL(t->dtype, rt_of(ref->ty.dtype));
  if (t->rank != ref->ty.rank || t->dtype != rt_of(ref->ty.dtype)) return;
  int64_t n = type_numel(&ref->ty), bad = 0;
  double num = 0, den = 0;
  for (int i = 0; i < t->rank; i++) CU_ASSERT_EQUAL(t->shape[i], ref->ty.dim[i]);
  for (int64_t i = 0; i < n; i++) {
    double got = t->dtype == RT_F32 ? ((float *)t->data)[i] : t->dtype == RT_F64 ? ((double *)t->data)[i]
                                                                                   : ((int32_t *)t->data)[i];
    double want = t->dtype == RT_F32 ? (double)(float)ref->d[i] : ref->d[i];
    num += (got - want) * (got - want);
    den += want * want;
    if (tol == 0 && got != want && bad++ < 3)
      fprintf(stderr, "  %s: %s[%lld] = %.9g, expected %.9g\n", what, name, (long long)i, got, want);
  }
  if (tol > 0 && !(sqrt(num) <= tol * sqrt(den))) {
    bad = 1;
    fprintf(stderr, "  %s: %s differs by a relative %.3g (compiled code)\n", what, name, sqrt(num / (den > 0 ? den : 1)));
  }
  CU_ASSERT_EQUAL(bad, 0);
}

/* The forward function with --seed: parameters from the initializers. */
static void check_forward(const Sample *s, bool f64) {
  Arena *a = arena_new();
  char *src;
  Compiled *c = compile_sample(a, s, &src);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *f = ir_find_func(c->m, s->fwd);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  ITensor args[64];
  random_args(f, args, 3);
  const char *argv[48];
  int n = 0;
  char defs[6][64], inb[8][300];
  argv[n++] = path_of(s->file);
  argv[n++] = "--fn";
  argv[n++] = s->fwd;
  argv[n++] = "--seed";
  argv[n++] = "7";
  push_defs(s, argv, &n, defs);
  int ni = 0;
  for (int i = 0; i < f->body->nargs; i++) {
    Role r = f->arg_role[i];
    if (r.kind == ARG_PARAM) {
      /* what --seed 7 gives: the initializer, stream = parameter index */
      const IrParam *pa = &c->m->params[r.index];
      size_t cnt = (size_t)type_numel(&pa->ty);
      float *buf = malloc(cnt * sizeof(float));
      rt_init_fill(buf, cnt, (rt_init_kind)pa->init.kind, pa->init.a, pa->init.b, 7, (uint64_t)r.index);
      for (size_t k = 0; k < cnt; k++) args[i].d[k] = buf[k];
      free(buf);
      continue;
    }
    if (r.kind == ARG_SCALAR) continue; /* a run-time batch: nnc eval takes n from the rows */
    const char *nm = f->body->args[i]->name;
    char file[64];
    snprintf(file, sizeof file, "%s_%s.npy", s->fwd, nm);
    /* floats as f64 files (converted to f32 by nnc eval), i32 as i32 */
    write_npy(tp(file), &args[i], args[i].ty.dtype == TY_I32 ? RT_I32 : RT_F64);
    snprintf(inb[ni], sizeof inb[0], "%s=%s", nm, tp(file));
    argv[n++] = "--input";
    argv[n++] = inb[ni++];
  }
  if (f64) argv[n++] = "--f64";
  argv[n++] = "--interp";
  argv[n++] = "-o";
  argv[n++] = tp("fwd.safetensors");
  int rc = run_eval_v(argv, n);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) fprintf(stderr, "  %s: nnc eval failed:\n%s\n", s->file, err_text);
  ITensor res[8];
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(f, args, f->body->nargs, res, f64 ? INTERP_F64 : INTERP_F32, err, sizeof err));
  rt_tensorset ts;
  if (rc == 0 && rt_st_read(tp("fwd.safetensors"), &ts) == NN_OK) {
    CU_ASSERT_EQUAL(ts.n, 1);
    compare(&ts, "output", &res[0], s->file, 0);
    CU_ASSERT_STRING_EQUAL(rt_ts_meta(&ts, "nnc_function"), s->fwd);
    rt_ts_free(&ts);
  } else {
    CU_FAIL("no output file");
  }
  gc_free_all(res, f->nret);
  gc_free_all(args, f->body->nargs);
  arena_free(a);
  free(src);
}

/* The loss with --grad and a parameter file: the gradient function's
 * results, named loss and <param>.grad. */
static void check_grad(const Sample *s, bool f64) {
  Arena *a = arena_new();
  char *src;
  Compiled *c = compile_sample(a, s, &src);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  Func *f = ir_find_func(c->m, "loss"), *g = compiled_grad(c, "loss");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  ITensor args[64];
  random_args(g, args, 5);
  /* the parameter file: the first parameter as F64, the others F32 */
  rt_tensor pt[64];
  int np = 0;
  for (int i = 0; i < g->body->nargs; i++) {
    if (g->arg_role[i].kind != ARG_PARAM) continue;
    int pi = g->arg_role[i].index;
    pt[np++] = to_rt(&args[i], pi == 0 ? RT_F64 : RT_F32, c->m->params[pi].name);
    if (!f64 || pi != 0)
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++) args[i].d[k] = (float)args[i].d[k];
  }
  CU_ASSERT_EQUAL_FATAL(rt_st_write(tp("params.safetensors"), pt, np, NULL, NULL, 0), NN_OK);
  for (int k = 0; k < np; k++) rt_tensor_free(&pt[k]);
  const char *argv[48];
  int n = 0;
  char defs[6][64], inb[8][300];
  argv[n++] = path_of(s->file);
  argv[n++] = "--fn=loss";
  argv[n++] = "--grad";
  argv[n++] = "--params";
  argv[n++] = tp("params.safetensors");
  push_defs(s, argv, &n, defs);
  int ni = 0;
  for (int i = 0; i < g->body->nargs; i++) {
    if (g->arg_role[i].kind == ARG_PARAM || g->arg_role[i].kind == ARG_SCALAR) continue;
    const char *nm = g->body->args[i]->name;
    char file[64];
    snprintf(file, sizeof file, "loss_%s.npy", nm);
    /* labels as i64 (range-checked into i32), other i32 as i32 */
    bool label = !strcmp(nm, "y");
    write_npy(tp(file), &args[i], args[i].ty.dtype == TY_I32 ? (label ? RT_I64 : RT_I32) : RT_F32);
    if (args[i].ty.dtype != TY_I32)
      for (int64_t k = 0; k < type_numel(&args[i].ty); k++) args[i].d[k] = (float)args[i].d[k];
    snprintf(inb[ni], sizeof inb[0], "%s=%s", nm, tp(file));
    argv[n++] = "--input";
    argv[n++] = inb[ni++];
  }
  if (f64) argv[n++] = "--f64";
  argv[n++] = "-o";
  argv[n++] = tp("grad.safetensors");
  int rc = run_eval_v(argv, n);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) fprintf(stderr, "  %s: nnc eval --grad failed:\n%s\n", s->file, err_text);
  ITensor res[64];
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(g, args, g->body->nargs, res, f64 ? INTERP_F64 : INTERP_F32, err, sizeof err));
  rt_tensorset ts;
  if (rc == 0 && rt_st_read(tp("grad.safetensors"), &ts) == NN_OK) {
    CU_ASSERT_EQUAL(ts.n, 1 + c->m->nparams);
    compare(&ts, "loss", &res[0], s->file, f64 ? 0 : 1e-5);
    for (int k = 1; k < g->nret; k++) {
      char name[128];
      snprintf(name, sizeof name, "%s.grad", c->m->params[g->ret_role[k].index].name);
      compare(&ts, name, &res[k], s->file, f64 ? 0 : 1e-5);
    }
    rt_ts_free(&ts);
  } else {
    CU_FAIL("no output file");
  }
  gc_free_all(res, g->nret);
  gc_free_all(args, g->body->nargs);
  arena_free(a);
  free(src);
}

static void test_forward_f32(void) {
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) check_forward(&samples[i], false);
}
static void test_forward_f64(void) { check_forward(&samples[2], true); }
static void test_grad_f32(void) {
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) check_grad(&samples[i], false);
}
static void test_grad_f64(void) {
  check_grad(&samples[0], true);
  check_grad(&samples[4], true);
}

/* ---- a small model for the error cases ---------------------------------------------- */

static const char *small_model =
    "model small {\n"
    "  param W: f32[3, 2] = normal(std = 0.5)\n"
    "  param b: f32[2] = zeros()\n"
    "  fn f(x: f32[4, 3]) -> f32[4, 2] {\n"
    "    return x @ W + b\n"
    "  }\n"
    "  fn loss(x: f32[4, 3], y: i32[4]) -> f32 {\n"
    "    return cross_entropy(f(x), y)\n"
    "  }\n"
    "  fn two(x: f32[4, 3]) -> f32[4, 2] {\n"
    "    return relu(f(x))\n"
    "  }\n"
    "}\n";

static char model_path[1024];

static void small_files(void) {
  snprintf(model_path, sizeof model_path, "%s", tp("small.nn"));
  write_bytes(model_path, small_model, strlen(small_model));
  Type tw = type_make(TY_F32, 2, (int64_t[]){3, 2}), tb = type_make(TY_F32, 1, (int64_t[]){2});
  Type tx = type_make(TY_F32, 2, (int64_t[]){4, 3}), ty = type_make(TY_I32, 1, (int64_t[]){4});
  ITensor w = itensor_new(&tw), b = itensor_new(&tb), x = itensor_new(&tx), y = itensor_new(&ty);
  for (int i = 0; i < 6; i++) w.d[i] = 0.1 * i;
  for (int i = 0; i < 12; i++) x.d[i] = 0.5 - 0.1 * i;
  for (int i = 0; i < 4; i++) y.d[i] = i % 2;
  rt_tensor p[3] = {to_rt(&w, RT_F32, "W"), to_rt(&b, RT_F32, "b")};
  CU_ASSERT_EQUAL(rt_st_write(tp("p_ok.safetensors"), p, 2, NULL, NULL, 0), NN_OK);
  /* wrong shape: W transposed */
  p[0].shape[0] = 2, p[0].shape[1] = 3;
  CU_ASSERT_EQUAL(rt_st_write(tp("p_shape.safetensors"), p, 2, NULL, NULL, 0), NN_OK);
  p[0].shape[0] = 3, p[0].shape[1] = 2;
  /* missing b */
  CU_ASSERT_EQUAL(rt_st_write(tp("p_missing.safetensors"), p, 1, NULL, NULL, 0), NN_OK);
  /* an extra tensor */
  p[2] = to_rt(&b, RT_F32, "bias2");
  CU_ASSERT_EQUAL(rt_st_write(tp("p_extra.safetensors"), p, 3, NULL, NULL, 0), NN_OK);
  rt_tensor_free(&p[2]);
  /* wrong dtype: b as i32 */
  rt_tensor_free(&p[1]);
  p[1] = to_rt(&b, RT_I32, "b");
  CU_ASSERT_EQUAL(rt_st_write(tp("p_dtype.safetensors"), p, 2, NULL, NULL, 0), NN_OK);
  rt_tensor_free(&p[0]);
  rt_tensor_free(&p[1]);
  truncate_copy(tp("p_ok.safetensors"), tp("p_trunc.safetensors"), 4);
  write_bytes(tp("garbage.bin"), "this is not a tensor file at all", 32);
  write_npy(tp("x.npy"), &x, RT_F32);
  write_npy(tp("y.npy"), &y, RT_I32);
  write_npy(tp("y_u8.npy"), &y, RT_U8);
  write_npy(tp("x_i32.npy"), &x, RT_I32);   /* wrong dtype for x */
  write_npy(tp("y_f32.npy"), &y, RT_F32);   /* wrong dtype for y */
  truncate_copy(tp("x.npy"), tp("x_trunc.npy"), 5);
  Type tx2 = type_make(TY_F32, 2, (int64_t[]){3, 4});
  ITensor x2 = itensor_new(&tx2);
  write_npy(tp("x_shape.npy"), &x2, RT_F32);
  /* an i64 label beyond i32 */
  rt_tensor big;
  CU_ASSERT_EQUAL(rt_tensor_alloc(&big, NULL, RT_I64, 1, (int64_t[]){4}), NN_OK);
  ((int64_t *)big.data)[2] = (int64_t)1 << 33;
  CU_ASSERT_EQUAL(rt_npy_write(tp("y_big.npy"), &big), NN_OK);
  rt_tensor_free(&big);
  itensor_free(&w), itensor_free(&b), itensor_free(&x), itensor_free(&y), itensor_free(&x2);
}

static const char *in_x(const char *file) {
  static char buf[4][1024];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, sizeof buf[0], "x=%s", tp(file));
  return b;
}
static const char *in_y(const char *file) {
  static char buf[4][1024];
  static int k;
  char *b = buf[k++ % 4];
  snprintf(b, sizeof buf[0], "y=%s", tp(file));
  return b;
}

static void test_small_ok(void) {
  small_files();
  /* u8 labels, a parameter file */
  int rc = run_eval(model_path, "--fn", "loss", "--grad", "--params", tp("p_ok.safetensors"), "--input",
                    in_x("x.npy"), "--input", in_y("y_u8.npy"), "-o", tp("out.safetensors"), NULL);
  CU_ASSERT_EQUAL(rc, 0);
  rt_tensorset ts;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("out.safetensors"), &ts), NN_OK);
  CU_ASSERT_EQUAL(ts.n, 3);
  CU_ASSERT_PTR_NOT_NULL(rt_ts_find(&ts, "loss"));
  CU_ASSERT_PTR_NOT_NULL(rt_ts_find(&ts, "W.grad"));
  CU_ASSERT_PTR_NOT_NULL(rt_ts_find(&ts, "b.grad"));
  const rt_tensor *l = rt_ts_find(&ts, "loss");
  if (l) CU_ASSERT_EQUAL(l->rank, 0);
  rt_ts_free(&ts);
  /* no --seed means --seed 0; another seed gives other parameters */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--input", in_x("x.npy"), "-o", tp("s_default.safetensors"), NULL), 0);
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--seed", "0", "--input", in_x("x.npy"), "-o", tp("s0.safetensors"), NULL), 0);
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--seed=1", "--input", in_x("x.npy"), "-o", tp("s1.safetensors"), NULL), 0);
  rt_tensorset a, b, c;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("s_default.safetensors"), &a), NN_OK);
  CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("s0.safetensors"), &b), NN_OK);
  CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("s1.safetensors"), &c), NN_OK);
  CU_ASSERT_EQUAL(a.n, 1);
  CU_ASSERT_STRING_EQUAL(a.t[0].name, "output");
  CU_ASSERT_EQUAL(memcmp(a.t[0].data, b.t[0].data, a.t[0].nbytes), 0);
  CU_ASSERT_NOT_EQUAL(memcmp(a.t[0].data, c.t[0].data, a.t[0].nbytes), 0);
  rt_ts_free(&a), rt_ts_free(&b), rt_ts_free(&c);
}

/* --grad --wrt x: the input gradient, compiled and in the interpreter,
 * equals grad(f, wrt = [x]) written in the model (tests/nn/deriv.nn). */
static void test_wrt(void) {
  char model[1024], X[1024], Y[1024];
  snprintf(model, sizeof model, "%s/tests/nn/deriv.nn", NNC_SOURCE_DIR);
  Type tx = type_make(TY_F64, 2, (int64_t[]){2, 3}), ty = type_make(TY_F64, 2, (int64_t[]){2, 4});
  ITensor x = itensor_new(&tx), y = itensor_new(&ty);
  uint64_t s = 9;
  for (int i = 0; i < 6; i++) x.d[i] = 2 * gc_rand(&s) - 1;
  for (int i = 0; i < 8; i++) y.d[i] = 2 * gc_rand(&s) - 1;
  write_npy(tp("dx.npy"), &x, RT_F64);
  write_npy(tp("dy.npy"), &y, RT_F64);
  snprintf(X, sizeof X, "x=%s", tp("dx.npy"));
  snprintf(Y, sizeof Y, "y=%s", tp("dy.npy"));
  const char *runs[][2] = {{"--f64", "w_interp.safetensors"}, {"--seed=0", "w_jit.safetensors"}};
  for (int r = 0; r < 2; r++) {
    CU_ASSERT_EQUAL(run_eval(model, "--fn", "f", "--grad", "--wrt", "x", runs[r][0], "--input", X, "--input", Y,
                             "-o", tp(runs[r][1]), NULL), 0);
    CU_ASSERT_EQUAL(run_eval(model, "--fn", "gx", runs[r][0], "--input", X, "--input", Y, "-o", tp("w_gx.safetensors"),
                             NULL), 0);
    rt_tensorset a, b;
    CU_ASSERT_EQUAL_FATAL(rt_st_read(tp(runs[r][1]), &a), NN_OK);
    CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("w_gx.safetensors"), &b), NN_OK);
    CU_ASSERT_EQUAL(a.n, 4); /* loss, W.grad, U.grad, x.grad */
    const rt_tensor *g = rt_ts_find(&a, "x.grad"), *o = rt_ts_find(&b, "output");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL_FATAL(g->nbytes, o->nbytes);
    double worst = 0;
    for (int i = 0; i < 6; i++) worst = fmax(worst, fabs(((double *)g->data)[i] - ((double *)o->data)[i]));
    CU_ASSERT(worst <= 1e-12);
    rt_ts_free(&a), rt_ts_free(&b);
  }
  CU_ASSERT_EQUAL(run_eval(model, "--fn", "f", "--grad", "--wrt", "z", "--input", X, "--input", Y, "-o",
                           tp("w_err.safetensors"), NULL), 1);
  CU_ASSERT(err_has("--wrt z: @f has no argument named 'z'", NULL));
  CU_ASSERT_EQUAL(run_eval(model, "--fn", "f", "--wrt", "x", "--input", X, "--input", Y, "-o",
                           tp("w_err.safetensors"), NULL), 2);
  CU_ASSERT(err_has("--wrt needs --grad", NULL));
  itensor_free(&x), itensor_free(&y);
}

/* Every file problem: exit status 1 and a message naming the file, the
 * tensor and both types. */
static void test_file_errors(void) {
  char X[1024], Y[1024], O[1024], P[1024];
  snprintf(X, sizeof X, "%s", in_x("x.npy"));
  snprintf(Y, sizeof Y, "%s", in_y("y.npy"));
  snprintf(O, sizeof O, "%s", tp("err.safetensors"));
  snprintf(P, sizeof P, "%s", tp("p_ok.safetensors"));
  /* parameter file: wrong magic, truncated */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("garbage.bin"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("garbage.bin", "safetensors", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("p_trunc.safetensors"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("p_trunc.safetensors", "truncated", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("nonexistent.safetensors"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("nonexistent.safetensors", NULL));
  /* parameter file: shape, dtype, missing and extra tensors */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("p_shape.safetensors"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("p_shape.safetensors", "tensor 'W'", "f32[2,3]", "f32[3,2]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("p_dtype.safetensors"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("p_dtype.safetensors", "tensor 'b'", "i32[2]", "f32[2]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("p_missing.safetensors"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("p_missing.safetensors", "no tensor 'b'", "f32[2]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("p_extra.safetensors"), "--input", X, "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("p_extra.safetensors", "tensor 'bias2'", "f32[2]", "not a parameter", NULL));
  /* inputs: wrong magic, truncated, missing file */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", in_x("garbage.bin"), "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("garbage.bin", "input 'x'", "magic", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", in_x("x_trunc.npy"), "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("x_trunc.npy", "input 'x'", "truncated", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", in_x("none.npy"), "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("none.npy", "input 'x'", NULL));
  /* inputs: shape and dtype */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", in_x("x_shape.npy"), "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("x_shape.npy", "input 'x' of @loss", "f32[4,3]", "f32[3,4]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", in_x("x_i32.npy"), "--input", Y, "-o", O, NULL), 1);
  CU_ASSERT(err_has("x_i32.npy", "input 'x' of @loss", "f32[4,3]", "i32[4,3]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", X, "--input", in_y("y_f32.npy"), "-o", O, NULL), 1);
  CU_ASSERT(err_has("y_f32.npy", "input 'y' of @loss", "i32[4]", "f32[4]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", X, "--input", in_y("y_big.npy"), "-o", O, NULL), 1);
  CU_ASSERT(err_has("y_big.npy", "input 'y'", "8589934592", "i32 range", NULL));
  /* unknown and missing inputs */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", X, "--input", Y, "--input", "z=foo.npy", "-o", O, NULL), 1);
  CU_ASSERT(err_has("--input z", "no argument 'z'", "x: f32[4,3]", "y: i32[4]", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", P, "--input", X, "-o", O, NULL), 1);
  CU_ASSERT(err_has("needs --input y=", "i32[4]", NULL));
  /* several problems are all reported */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "loss", "--params", tp("p_shape.safetensors"), "--input", in_x("x_shape.npy"), "-o", O, NULL), 1);
  CU_ASSERT(err_has("tensor 'W'", "input 'x'", "needs --input y=", NULL));
  /* nothing was written */
  CU_ASSERT_NOT_EQUAL(access(O, F_OK), 0);
  /* function problems */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "nope", "--input", X, "-o", O, NULL), 1);
  CU_ASSERT(err_has("no function 'nope'", "f, loss, two", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--grad", "--input", X, "-o", O, NULL), 1);
  CU_ASSERT(err_has("--grad", "@f returns f32[4,2]", NULL));
  /* an unwritable output */
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--input", X, "-o", tp("no/such/dir/out.safetensors"), NULL), 1);
  CU_ASSERT(err_has("no/such/dir/out.safetensors", NULL));
  /* the model itself has errors: the compiler's diagnostics */
  const char *bad = "model m {\n  fn f(x: f32[2]) -> f32[3] {\n    return x\n  }\n}\n";
  write_bytes(tp("bad.nn"), bad, strlen(bad));
  CU_ASSERT_EQUAL(run_eval(tp("bad.nn"), "--fn", "f", "-o", O, NULL), 1);
  CU_ASSERT(err_has("bad.nn:", "error", NULL));
  CU_ASSERT_EQUAL(run_eval(tp("missing.nn"), "--fn", "f", "-o", O, NULL), 1);
  CU_ASSERT(err_has("missing.nn", NULL));
}

static void test_usage(void) {
  char X[1024], O[1024];
  snprintf(X, sizeof X, "%s", in_x("x.npy"));
  snprintf(O, sizeof O, "%s", tp("u.safetensors"));
  CU_ASSERT_EQUAL(run_eval("--help", NULL), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out_text, "usage: nnc eval"));
  CU_ASSERT_EQUAL(run_eval(NULL), 2);
  CU_ASSERT(err_has("no model file", "usage: nnc eval", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--input", X, "-o", O, NULL), 2);
  CU_ASSERT(err_has("--fn NAME is required", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--input", X, NULL), 2);
  CU_ASSERT(err_has("-o OUT.safetensors is required", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--bogus", "-o", O, NULL), 2);
  CU_ASSERT(err_has("unknown option '--bogus'", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--seed", "1", "--params", "p", "-o", O, NULL), 2);
  CU_ASSERT(err_has("exclude each other", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--seed", "-3", "-o", O, NULL), 2);
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--seed", "x", "-o", O, NULL), 2);
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--input", "x.npy", "-o", O, NULL), 2);
  CU_ASSERT(err_has("ARG=FILE.npy", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "--input", X, "--input", X, "-o", O, NULL), 2);
  CU_ASSERT(err_has("given twice", NULL));
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", NULL), 2);
  CU_ASSERT_EQUAL(run_eval(model_path, model_path, "--fn", "f", "-o", O, NULL), 2);
  CU_ASSERT_EQUAL(run_eval(model_path, "--fn", "f", "-D", "noequals", "-o", O, NULL), 2);
}

/* A run-time batch: n comes from the inputs' rows; compiled code and the
 * interpreter agree at n = 1, 7 and the bound; more rows than the bound is
 * an error naming the file. */
static void test_dyn_batch(void) {
  char model[1024];
  snprintf(model, sizeof model, "%s/tests/nn/dyn_mlp.nn", NNC_SOURCE_DIR);
  static const int64_t sizes[] = {1, 7, 12, 13};
  for (int k = 0; k < 4; k++) {
    Type tx = type_make(TY_F32, 2, (int64_t[]){sizes[k], 6}), ty = type_make(TY_I32, 1, (int64_t[]){sizes[k]});
    ITensor x = itensor_new(&tx), y = itensor_new(&ty);
    uint64_t s = 5 + (uint64_t)k;
    for (int64_t i = 0; i < type_numel(&tx); i++) x.d[i] = gc_rand(&s) - 0.5;
    for (int64_t i = 0; i < sizes[k]; i++) y.d[i] = (double)(i % 3);
    write_npy(tp("dx.npy"), &x, RT_F32);
    write_npy(tp("dy.npy"), &y, RT_I32);
    itensor_free(&x), itensor_free(&y);
    char ix[1100], iy[1100];
    snprintf(ix, sizeof ix, "x=%s", tp("dx.npy"));
    snprintf(iy, sizeof iy, "y=%s", tp("dy.npy"));
    int rj = run_eval(model, "--fn", "loss", "--grad", "--input", ix, "--input", iy, "-o", tp("dj.safetensors"), NULL);
    if (sizes[k] > 12) {
      CU_ASSERT_EQUAL(rj, 1);
      CU_ASSERT(err_has("dx.npy: input 'x' of @loss has 13 rows, but N is at most 12", NULL));
      continue;
    }
    CU_ASSERT_EQUAL_FATAL(rj, 0);
    CU_ASSERT_EQUAL_FATAL(run_eval(model, "--fn", "loss", "--grad", "--interp", "--input", ix, "--input", iy, "-o",
                                   tp("di.safetensors"), NULL), 0);
    CU_ASSERT_EQUAL_FATAL(run_eval(model, "--fn", "forward", "--input", ix, "-o", tp("df.safetensors"), NULL), 0);
    rt_tensorset a, b, f;
    CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("dj.safetensors"), &a), NN_OK);
    CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("di.safetensors"), &b), NN_OK);
    CU_ASSERT_EQUAL_FATAL(rt_st_read(tp("df.safetensors"), &f), NN_OK);
    CU_ASSERT_EQUAL(a.n, b.n);
    for (int t = 0; t < a.n; t++) {
      const rt_tensor *u = &a.t[t], *v = rt_ts_find(&b, u->name);
      CU_ASSERT_FATAL(v && u->nbytes == v->nbytes);
      for (size_t e = 0; e < u->nbytes / 4; e++) {
        float p = ((const float *)u->data)[e], q = ((const float *)v->data)[e];
        CU_ASSERT(fabsf(p - q) <= 1e-5f * (fabsf(q) > 1 ? fabsf(q) : 1));
      }
    }
    const rt_tensor *o = rt_ts_find(&f, "output");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(o->rank == 2 && o->shape[0] == sizes[k] && o->shape[1] == 3);
    rt_ts_free(&a), rt_ts_free(&b), rt_ts_free(&f);
  }
}

static UnitTest tests[] = {
    {"a run-time batch: n from the inputs, compiled = interpreter", test_dyn_batch},
    {"every sample's forward function, seeded parameters (f32)", test_forward_f32},
    {"a forward function in f64", test_forward_f64},
    {"every sample's loss with --grad and a parameter file (f32, compiled code)", test_grad_f32},
    {"--grad in f64", test_grad_f64},
    {"conversions, names, --seed", test_small_ok},
    {"--grad --wrt ARG: input gradients", test_wrt},
    {"malformed and mismatched files", test_file_errors},
    {"bad command lines", test_usage},
    {0, 0}};

int main(void) {
  if (!tmp_make(NNC_BINARY_DIR "/tests/eval.XXXXXX")) return 2;
  int rc = unit_run("eval", tests);
  if (rc == 0) tmp_remove(); /* kept for a look when something failed */
  return rc;
}
