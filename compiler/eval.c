/* eval.c — `nnc eval`; see eval.h. The steps, in order:
 *
 *   command line -> front end (driver_front) -> compile_module -> the
 *   function (or its gradient) -> parameters (a safetensors file, or the
 *   model's initializers with a seed) -> inputs (.npy) -> run (an
 *   EvalRunner) -> results to a safetensors file
 *
 * A malformed or mismatched file is a user error that names the file, the
 * tensor and both types (exit status 1); every problem with the parameters
 * or inputs is reported before giving up, the way the compiler reports all
 * errors of a source at once. A bad command line is exit status 2. */
#include "eval.h"

#include "backend.h"
#include "rt_model.h"
#include "rt_train.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "interp.h"
#include "pipeline.h"

_Static_assert((int)INIT_ZEROS == (int)RT_INIT_ZEROS && (int)INIT_ONES == (int)RT_INIT_ONES &&
                   (int)INIT_CONST == (int)RT_INIT_CONST && (int)INIT_UNIFORM == (int)RT_INIT_UNIFORM &&
                   (int)INIT_NORMAL == (int)RT_INIT_NORMAL && (int)INIT_TRUNC_NORMAL == (int)RT_INIT_TRUNC_NORMAL,
               "InitKind and rt_init_kind list the initializers in the same order");

/* One --input ARG=FILE. */
typedef struct InputOpt {
  const char *name;   /* ARG (malloc'd) */
  const char *path;   /* FILE (points into argv) */
} InputOpt;

typedef struct EvalOpts {
  const char *model;        /* MODEL.nn */
  const char *fn;           /* --fn */
  const char *params;       /* --params, or NULL */
  bool have_seed;           /* --seed given */
  uint64_t seed;            /* --seed, default 0 */
  InputOpt inputs[256];     /* --input */
  int ninputs;
  bool grad;                /* --grad */
  const char *wrt[64];      /* --wrt ARG: input gradients too (with --grad) */
  int nwrt;
  bool f64;                 /* --f64 */
  const char *out;          /* -o */
  Define defs[MAX_DEFINES]; /* -D (names malloc'd) */
  int ndefs;
  const EvalRunner *runner;
} EvalOpts;

/* ---- messages -------------------------------------------------------------- */

static int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nnc eval: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: nnc eval MODEL.nn --fn NAME [options] -o OUT.safetensors\n"
          "\n"
          "Runs the function NAME of the model and writes its results to OUT\n"
          "(safetensors): \"output\" for a function with one result, else output0,\n"
          "output1, ...; with --grad, \"loss\" and \"<param>.grad\" for every parameter\n"
          "(and \"<ARG>.grad\" for every --wrt ARG). Scalar results are also printed\n"
          "on standard output, as NAME = VALUE.\n"
          "\n"
          "options:\n"
          "  --fn NAME              the function to run\n"
          "  --params FILE          the parameters, from a safetensors file: one tensor\n"
          "                         per `param`, named after it, F32 or F64, exact shape\n"
          "                         (a training checkpoint works: its optimizer moments\n"
          "                         P.m, P.v are skipped)\n"
          "  --seed N               initialize the parameters with the model's\n"
          "                         initializers and seed N instead (default: seed 0)\n"
          "  --input ARG=FILE.npy   the value of argument ARG; every argument needs one\n"
          "                         (float arguments take f32 or f64 data, i32 arguments\n"
          "                         i32, i64 or u8 data, bool arguments bool or u8)\n"
          "  --grad                 run the gradient of NAME (which must return a float\n"
          "                         scalar): the loss and every parameter's gradient\n"
          "  --wrt ARG              with --grad, also the gradient with respect to the\n"
          "                         float argument ARG, written as \"ARG.grad\" (repeatable)\n"
          "  --interp               run in the reference interpreter (default: compiled\n"
          "                         code, JIT, in the model's own precision)\n"
          "  --f64                  compute in double precision (default: f32, rounding\n"
          "                         after every operation as compiled code does)\n"
          "  -D NAME=VALUE          override the constant NAME of the model\n"
          "  -o OUT.safetensors     where to write the results\n"
          "  -h, --help             show this help\n"
          "\n"
          "Exit status: 0 success, 1 errors in the model or its files, 2 a bad command line.\n");
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nnc eval: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n\n", stderr);
  va_end(ap);
  usage(stderr);
  return 2;
}

/* ---- command line ------------------------------------------------------------ */

/* The shared flags (cli.h) this command takes: -D; its own GNU-style
 * flags through the training program's reader (rt_flag_value). */
static int parse_args(int argc, char **argv, EvalOpts *o) {
  CliCommon common = {.defs = o->defs, .ndefs = &o->ndefs};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    char err[512];
    CliResult cr = cli_common(&common, argc, argv, &i, err, sizeof err);
    if (cr == CLI_BAD) return bad_usage("%s", err);
    if (cr == CLI_TAKEN) continue;
    int r;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return -1;
    } else if ((r = rt_flag_value(argc, argv, &i, "--fn", &v))) {
      if (r < 0 || !*v) return bad_usage("--fn needs a function name");
      o->fn = v;
    } else if ((r = rt_flag_value(argc, argv, &i, "--params", &v))) {
      if (r < 0 || !*v) return bad_usage("--params needs a safetensors file");
      o->params = v;
    } else if ((r = rt_flag_value(argc, argv, &i, "--seed", &v))) {
      if (r < 0) return bad_usage("--seed needs a number");
      char *end;
      errno = 0;
      unsigned long long s = strtoull(v, &end, 10);
      if (!*v || *end || errno || v[0] == '-') return bad_usage("--seed needs a non-negative integer, not '%s'", v);
      o->seed = s;
      o->have_seed = true;
    } else if ((r = rt_flag_value(argc, argv, &i, "--input", &v))) {
      if (r < 0) return bad_usage("--input needs ARG=FILE.npy");
      const char *eq = strchr(v, '=');
      if (!eq || eq == v || !eq[1]) return bad_usage("--input needs ARG=FILE.npy, not '%s'", v);
      if (o->ninputs == (int)(sizeof o->inputs / sizeof o->inputs[0])) return bad_usage("too many --input options");
      char *name = strndup(v, (size_t)(eq - v));
      if (!name) return error("out of memory");
      for (int k = 0; k < o->ninputs; k++)
        if (!strcmp(o->inputs[k].name, name)) {
          int rc = bad_usage("--input %s is given twice", name);
          free(name);
          return rc;
        }
      o->inputs[o->ninputs++] = (InputOpt){name, eq + 1};
    } else if ((r = rt_flag_value(argc, argv, &i, "-o", &v))) {
      if (r < 0 || !*v) return bad_usage("-o needs a path");
      o->out = v;
    } else if (!strcmp(a, "--grad")) {
      o->grad = true;
    } else if ((r = rt_flag_value(argc, argv, &i, "--wrt", &v))) {
      if (r < 0 || !*v) return bad_usage("--wrt needs an argument name");
      if (o->nwrt == 64) return bad_usage("too many --wrt options");
      o->wrt[o->nwrt++] = v;
    } else if (!strcmp(a, "--interp")) {
      o->runner = &eval_interp_runner;
    } else if (!strcmp(a, "--f64")) {
      o->f64 = true;
      o->runner = &eval_interp_runner; /* exact f64 arithmetic is the interpreter's */
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("unknown option '%s'", a);
    } else {
      if (o->model) return bad_usage("more than one model file ('%s' and '%s')", o->model, a);
      o->model = a;
    }
  }
  if (!o->model) return bad_usage("no model file");
  if (!o->fn) return bad_usage("--fn NAME is required");
  if (!o->out) return bad_usage("-o OUT.safetensors is required");
  if (o->params && o->have_seed) return bad_usage("--params and --seed exclude each other");
  return 0;
}

/* ---- tensors ----------------------------------------------------------------- */

rt_dtype eval_rt_dtype(const Type *t, bool f64) {
  switch (t->dtype) {
  case TY_F32: return f64 ? RT_F64 : RT_F32;
  case TY_F64: return RT_F64;
  case TY_I32: return RT_I32;
  case TY_BOOL: return RT_BOOL;
  default: die("eval: dtype %d", (int)t->dtype);
  }
}

static void set_elem(rt_tensor *t, int64_t i, double v) {
  switch (t->dtype) {
  case RT_F32: ((float *)t->data)[i] = (float)v; break;
  case RT_F64: ((double *)t->data)[i] = v; break;
  case RT_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
  case RT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
  default: die("eval: cannot store into %s", rt_dtype_name(t->dtype));
  }
}

/* "f32[2,3]" for a file's tensor, in the IR's spelling ("f32" for scalars). */
static const char *rt_str(const rt_tensor *t, char *buf, size_t n) {
  int k = snprintf(buf, n, "%s", rt_dtype_name(t->dtype));
  if (t->rank) {
    for (int i = 0; i < t->rank && k > 0 && (size_t)k < n; i++)
      k += snprintf(buf + k, n - (size_t)k, "%c%" PRId64, i ? ',' : '[', t->shape[i]);
    if (k > 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "]");
  }
  return buf;
}

static bool same_shape(const rt_tensor *t, const Type *ty) {
  if (t->rank != ty->rank) return false;
  for (int i = 0; i < ty->rank; i++)
    if (t->shape[i] != ty->dim[i]) return false;
  return true;
}

static bool alloc_like(rt_tensor *t, const Type *ty, bool f64) {
  if (rt_tensor_alloc(t, NULL, eval_rt_dtype(ty, f64), ty->rank, ty->dim) != NN_OK) {
    error("%s", rt_last_error());
    return false;
  }
  return true;
}

static bool is_int(rt_dtype d) { return d == RT_I32 || d == RT_I64 || d == RT_U8 || d == RT_I8 || d == RT_I16; }

/* Which file dtypes an argument of type ty accepts, for messages. */
static const char *accepted(const Type *ty) {
  switch (ty->dtype) {
  case TY_F32: case TY_F64: return "float arguments take f32 or f64 data";
  case TY_I32: return "i32 arguments take i32, i64 or u8 data";
  default: return "bool arguments take bool or u8 data";
  }
}

/* Convert the file tensor src into *dst for an argument of type ty. `what`
 * names the argument in messages ("input 'x' of @loss"). */
static bool convert(const char *path, const char *what, const rt_tensor *src, const Type *ty, bool f64, rt_tensor *dst) {
  char a[64];
  bool ok;
  switch (ty->dtype) {
  case TY_F32: case TY_F64: ok = src->dtype == RT_F32 || src->dtype == RT_F64; break;
  case TY_I32: ok = is_int(src->dtype); break;
  default: ok = src->dtype == RT_BOOL || src->dtype == RT_U8; break;
  }
  if (!ok || !same_shape(src, ty)) {
    error("%s: %s is %s, but the file holds %s%s%s%s", path, what, tstr(ty), rt_str(src, a, sizeof a), ok ? "" : " (",
          ok ? "" : accepted(ty), ok ? "" : ")");
    return false;
  }
  if (!alloc_like(dst, ty, f64)) return false;
  int64_t n = type_numel(ty);
  for (int64_t i = 0; i < n; i++) {
    double v = rt_tensor_get(src, i);
    if (src->dtype == RT_I64) {
      int64_t x = ((const int64_t *)src->data)[i];
      if (x < INT32_MIN || x > INT32_MAX) {
        error("%s: element %" PRId64 " of %s is %" PRId64 ", outside the i32 range", path, i, what, x);
        rt_tensor_free(dst);
        return false;
      }
    }
    if (ty->dtype == TY_BOOL && src->dtype == RT_U8 && v != 0 && v != 1) {
      error("%s: element %" PRId64 " of %s is %g; a bool must be 0 or 1", path, i, what, v);
      rt_tensor_free(dst);
      return false;
    }
    set_elem(dst, i, v);
  }
  return true;
}

/* ---- parameters ---------------------------------------------------------------- */

static void list_params(const Module *m, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < m->nparams && k < n; i++) {
    int w = snprintf(buf + k, n - k, "%s%s", i ? ", " : "", m->params[i].name);
    if (w < 0) break;
    k += (size_t)w;
  }
}

/* params[i] for every parameter, from the file. All problems are reported. */
static bool params_from_file(const Module *m, const char *path, bool f64, rt_tensor *params) {
  rt_tensorset ts;
  if (rt_st_read(path, &ts) != NN_OK) return error("the parameters of model %s: %s", m->name, rt_last_error()), false;
  int errors = 0;
  char a[64];
  for (int i = 0; i < m->nparams; i++) {
    const IrParam *pa = &m->params[i];
    const rt_tensor *t = rt_ts_find(&ts, pa->name);
    char what[300];
    snprintf(what, sizeof what, "tensor '%s' (parameter %s)", pa->name, pa->name);
    if (!t) {
      error("%s: no tensor '%s' (parameter %s is %s)", path, pa->name, pa->name, tstr(&pa->ty));
      errors++;
    } else if (t->dtype != RT_F32 && t->dtype != RT_F64) {
      error("%s: tensor '%s' is %s, but parameter %s is %s (parameters are stored as F32 or F64)", path, pa->name,
            rt_str(t, a, sizeof a), pa->name, tstr(&pa->ty));
      errors++;
    } else if (!same_shape(t, &pa->ty)) {
      error("%s: tensor '%s' is %s, but parameter %s is %s", path, pa->name, rt_str(t, a, sizeof a), pa->name,
            tstr(&pa->ty));
      errors++;
    } else if (!convert(path, what, t, &pa->ty, f64, &params[i])) {
      errors++;
    }
  }
  /* a training checkpoint also holds the optimizer's moments (P.m, P.v) */
  const char *format = rt_ts_meta(&ts, "format");
  bool ckpt = format && !strncmp(format, "nnc-checkpoint-", 15);
  for (int k = 0; k < ts.n; k++) {
    bool known = false;
    for (int i = 0; i < m->nparams; i++) {
      const char *nm = ts.t[k].name, *pn = m->params[i].name;
      size_t len = strlen(pn);
      known |= !strcmp(nm, pn) || (ckpt && !strncmp(nm, pn, len) && (!strcmp(nm + len, ".m") || !strcmp(nm + len, ".v")));
    }
    if (!known) {
      char list[1024];
      list_params(m, list, sizeof list);
      error("%s: tensor '%s' (%s) is not a parameter of model %s (its parameters: %s)", path, ts.t[k].name,
            rt_str(&ts.t[k], a, sizeof a), m->name, m->nparams ? list : "none");
      errors++;
    }
  }
  rt_ts_free(&ts);
  return errors == 0;
}

/* params[i] from the model's initializers: stream i of the seed, the
 * numbers the generated code's create function draws. */
static bool params_from_seed(const Module *m, uint64_t seed, bool f64, rt_tensor *params) {
  for (int i = 0; i < m->nparams; i++) {
    const IrParam *pa = &m->params[i];
    if (!alloc_like(&params[i], &pa->ty, f64)) return false;
    size_t n = (size_t)type_numel(&pa->ty);
    rt_init_kind kind = (rt_init_kind)pa->init.kind;
    if (params[i].dtype == RT_F32) {
      rt_init_fill(params[i].data, n, kind, pa->init.a, pa->init.b, seed, (uint64_t)i);
    } else if (pa->ty.dtype == TY_F64) {
      rt_init_fill_f64(params[i].data, n, kind, pa->init.a, pa->init.b, seed, (uint64_t)i);
    } else { /* an f32 parameter held in f64: the f32 numbers, widened */
      float *tmp = malloc(n ? n * sizeof(float) : 1);
      if (!tmp) return error("out of memory"), false;
      rt_init_fill(tmp, n, kind, pa->init.a, pa->init.b, seed, (uint64_t)i);
      for (size_t k = 0; k < n; k++) ((double *)params[i].data)[k] = tmp[k];
      free(tmp);
    }
  }
  return true;
}

/* ---- inputs ---------------------------------------------------------------------- */

static void list_inputs(const Func *f, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  for (int i = 0; i < f->body->nargs && k < n; i++) {
    if (f->arg_role[i].kind == ARG_PARAM) continue;
    const Value *v = f->body->args[i];
    int w = snprintf(buf + k, n - k, "%s%s: %s", k ? ", " : "", v->name ? v->name : "?", tstr(&v->ty));
    if (w < 0) break;
    k += (size_t)w;
  }
}

/* args[i] for every non-parameter argument of f, from the --input files. */
static bool load_inputs(const EvalOpts *o, const Func *f, rt_tensor *args) {
  int errors = 0;
  char list[1024];
  list_inputs(f, list, sizeof list);
  for (int k = 0; k < o->ninputs; k++) {
    bool known = false;
    for (int i = 0; i < f->body->nargs; i++) {
      const Value *v = f->body->args[i];
      known |= f->arg_role[i].kind != ARG_PARAM && v->name && !strcmp(v->name, o->inputs[k].name);
    }
    if (!known) {
      error("--input %s=%s: @%s has no argument '%s' (its arguments: %s)", o->inputs[k].name, o->inputs[k].path,
            o->fn, o->inputs[k].name, *list ? list : "none");
      errors++;
    }
  }
  /* a run-time dimension takes its size from the first input sized by it
   * (the rows of its file); the size argument is not an input */
  int64_t dn = 0;
  const Value *dv = ir_dim_arg(f);
  for (int i = 0; dv && !dn && i < f->body->nargs; i++) {
    const Value *v = f->body->args[i];
    if (f->arg_role[i].kind != ARG_INPUT || !axis_dyn(&v->ty, 0)) continue;
    for (int k = 0; k < o->ninputs && !dn; k++) {
      rt_tensor t;
      if (!v->name || strcmp(v->name, o->inputs[k].name) || rt_npy_read(o->inputs[k].path, &t) != NN_OK) continue;
      if (t.rank == v->ty.rank) dn = t.shape[0];
      if (dn && (dn < 1 || dn > v->ty.dim[0])) {
        error("%s: input '%s' of @%s has %" PRId64 " rows, but %s is at most %" PRId64, o->inputs[k].path, v->name,
              o->fn, dn, v->ty.dyn_name, v->ty.dim[0]);
        errors++;
      }
      rt_tensor_free(&t);
    }
  }
  for (int i = 0; dv && !dn && i < f->body->nargs; i++) dn = type_dyn_bound(&f->body->args[i]->ty); /* no input file */
  for (int i = 0; i < f->body->nargs; i++) {
    if (f->arg_role[i].kind == ARG_PARAM) continue;
    const Value *v = f->body->args[i];
    if (v == dv) {
      Type st = type_scalar(TY_I32);
      if (!alloc_like(&args[i], &st, false)) errors++;
      else set_elem(&args[i], 0, (double)dn);
      continue;
    }
    const InputOpt *in = NULL;
    for (int k = 0; k < o->ninputs; k++)
      if (v->name && !strcmp(v->name, o->inputs[k].name)) in = &o->inputs[k];
    if (!in) {
      error("@%s needs --input %s=FILE.npy (%s: %s)", o->fn, v->name ? v->name : "?", v->name ? v->name : "?",
            tstr(&v->ty));
      errors++;
      continue;
    }
    rt_tensor t;
    if (rt_npy_read(in->path, &t) != NN_OK) {
      error("input '%s' of @%s: %s", v->name, o->fn, rt_last_error());
      errors++;
      continue;
    }
    char what[300];
    snprintf(what, sizeof what, "input '%s' of @%s", v->name, o->fn);
    Type ct = type_concrete(&v->ty, dn);
    if (!convert(in->path, what, &t, &ct, o->f64, &args[i])) errors++;
    rt_tensor_free(&t);
  }
  return errors == 0;
}

/* ---- the interpreter as a runner -------------------------------------------------- */

/* The call's run-time size: the value of f's size argument (0 without one). */
static int64_t call_size(const Func *f, const rt_tensor *args) {
  const Value *dv = ir_dim_arg(f);
  return dv ? (int64_t)rt_tensor_get(&args[dv->res], 0) : 0;
}

static bool interp_runner_run(const Module *m, const Func *f, const rt_tensor *args, rt_tensor *results, bool f64,
                              char *err, size_t errn) {
  (void)m;
  int n = f->body->nargs;
  int64_t dn = call_size(f, args);
  ITensor *ia = calloc((size_t)n + 1, sizeof *ia), *ir = calloc((size_t)f->nret + 1, sizeof *ir);
  bool ok = ia && ir;
  for (int i = 0; ok && i < n; i++) {
    Type cty = type_concrete(&f->body->args[i]->ty, dn);
    const Type *ty = &cty;
    ia[i] = itensor_new(ty);
    if (!same_shape(&args[i], ty) || args[i].dtype != eval_rt_dtype(ty, f64)) {
      snprintf(err, errn, "argument %d of @%s must be %s", i, f->name, tstr(ty));
      ok = false;
      break;
    }
    for (int64_t k = 0; k < type_numel(ty); k++) ia[i].d[k] = rt_tensor_get(&args[i], k);
  }
  bool ran = ok && interp_run(f, ia, n, ir, f64 ? INTERP_F64 : INTERP_F32, err, errn);
  ok = ran;
  int made = 0;
  for (int k = 0; ok && k < f->nret; k++, made++) {
    Type rt = type_concrete(&f->ret[k], dn);
    if (rt_tensor_alloc(&results[k], NULL, eval_rt_dtype(&rt, false), rt.rank, rt.dim) != NN_OK) {
      snprintf(err, errn, "%s", rt_last_error());
      ok = false;
      break;
    }
    for (int64_t e = 0; e < type_numel(&rt); e++) set_elem(&results[k], e, ir[k].d[e]);
  }
  if (!ok)
    for (int k = 0; k < made; k++) rt_tensor_free(&results[k]);
  if (ia)
    for (int i = 0; i < n; i++) itensor_free(&ia[i]);
  if (ran)
    for (int k = 0; k < f->nret; k++) itensor_free(&ir[k]);
  if (!ia || !ir) snprintf(err, errn, "out of memory");
  free(ia);
  free(ir);
  return ok;
}

const EvalRunner eval_interp_runner = {"interp", interp_runner_run};

/* ---- compiled code (LLVM JIT) as a runner ------------------------------------------ */

/* Compile the module in memory and call the function's entry point with
 * the argument buffers directly: bufs[i] = argument i, bufs[n + k] =
 * result k. Compiled code computes in the model's own dtypes, so --f64
 * (exact double arithmetic) stays with the interpreter. */
static bool jit_runner_run(const Module *m, const Func *f, const rt_tensor *args, rt_tensor *results, bool f64,
                           char *err, size_t errn) {
  if (f64) {
    snprintf(err, errn, "--f64 runs in the interpreter (add --interp)");
    return false;
  }
  Arena *a = arena_new();
  Compiled *c = compiled_new(a, (Module *)m);
  Diag d;
  diag_init(&d, "nnc eval", "", 0, stderr, COLOR_AUTO);
  BackendOpts bo = {.opt_level = 2, .name = "eval", .for_jit = true, .build_info = "nnc eval (JIT)"};
  CodeGen *cg = codegen_module(c, &bo, &d);
  diag_free(&d);
  bool ok = false;
  Jit *jit = NULL;
  void *ws = NULL;
  rt_pool *pool = NULL;
  int made = 0;
  if (!cg) {
    snprintf(err, errn, "code generation failed");
    goto done;
  }
  if (!(jit = jit_create(cg, err, errn))) goto done;
  const rt_model_desc *(*descf)(void) = (const rt_model_desc *(*)(void))jit_lookup(jit, "eval_descriptor");
  const rt_model_desc *desc = descf ? descf() : NULL;
  const rt_func_desc *fd = NULL;
  for (int i = 0; desc && i < m->nfuncs; i++)
    if (m->funcs[i] == f) fd = &desc->funcs[i];
  if (!fd) {
    snprintf(err, errn, "internal: @%s was not compiled", f->name);
    goto done;
  }
  int n = f->body->nargs;
  int64_t dn = call_size(f, args);
  void **bufs = NEW_ARRAY(a, void *, n + f->nret + 1);
  for (int i = 0; i < n; i++) {
    Type cty = type_concrete(&f->body->args[i]->ty, dn);
    const Type *ty = &cty;
    if (!same_shape(&args[i], ty) || args[i].dtype != eval_rt_dtype(ty, false)) {
      snprintf(err, errn, "argument %d of @%s must be %s", i, f->name, tstr(ty));
      goto done;
    }
    bufs[i] = args[i].data;
  }
  for (; made < f->nret; made++) {
    Type rt = type_concrete(&f->ret[made], dn);
    if (rt_tensor_alloc(&results[made], NULL, eval_rt_dtype(&rt, false), rt.rank, rt.dim) != NN_OK) {
      snprintf(err, errn, "%s", rt_last_error());
      goto done;
    }
    bufs[n + made] = results[made].data;
  }
  ws = rt_alloc(fd->ws_bytes ? fd->ws_bytes : 64);
  if (!ws || rt_pool_create(&pool, 0) != NN_OK) {
    snprintf(err, errn, "%s", rt_last_error());
    goto done;
  }
  fd->impl(ws, pool, bufs);
  ok = true;
done:
  if (!ok)
    for (int k = 0; k < made; k++) rt_tensor_free(&results[k]);
  rt_pool_destroy(pool);
  rt_free(ws);
  jit_destroy(jit);
  arena_free(a);
  return ok;
}

const EvalRunner eval_jit_runner = {"jit", jit_runner_run};

/* ---- the command ---------------------------------------------------------------------- */

/* The primal function named `name`, or NULL after a message. */
static Func *find_function(const Compiled *c, const char *name) {
  for (int i = 0; i < c->nprimal; i++)
    if (!strcmp(c->m->funcs[i]->name, name)) return c->m->funcs[i];
  char list[1024];
  size_t k = 0;
  list[0] = 0;
  for (int i = 0; i < c->nprimal && k < sizeof list; i++) {
    int w = snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", c->m->funcs[i]->name);
    if (w < 0) break;
    k += (size_t)w;
  }
  error("model %s has no function '%s' (its functions: %s)", c->m->name, name, c->nprimal ? list : "none");
  return NULL;
}

/* Result k's tensor name. */
static const char *result_name(Arena *a, const Module *m, const Func *f, int k) {
  Role r = f->ret_role[k];
  if (r.kind == RES_LOSS) return "loss";
  if (r.kind == RES_GRAD && r.index >= 0 && r.index < m->nparams) return arena_printf(a, "%s.grad", m->params[r.index].name);
  if (r.kind == RES_INPUT_GRAD && f->ret_name && f->ret_name[k]) return f->ret_name[k];
  return f->nret == 1 ? "output" : arena_printf(a, "output%d", k);
}

static int write_results(Arena *a, const EvalOpts *o, const Module *m, const Func *f, rt_tensor *res) {
  rt_tensor *views = NEW_ARRAY(a, rt_tensor, f->nret + 1);
  for (int k = 0; k < f->nret; k++) {
    views[k] = res[k];
    views[k].name = (char *)result_name(a, m, f, k);
    views[k].borrowed = true;
  }
  const char *keys[] = {"nnc_model", "nnc_function", "nnc_runner"};
  const char *vals[] = {m->name, f->name, arena_printf(a, "%s-%s", o->runner->name, o->f64 ? "f64" : "f32")};
  if (rt_st_write(o->out, views, f->nret, keys, vals, 3) != NN_OK) return error("%s", rt_last_error());
  /* scalar results (a loss, an error figure) are also printed */
  for (int k = 0; k < f->nret; k++) {
    const rt_tensor *t = &views[k];
    if (t->rank != 0) continue;
    if (t->dtype == RT_F32) printf("%s = %.9g\n", t->name, (double)*(const float *)t->data);
    else if (t->dtype == RT_F64) printf("%s = %.17g\n", t->name, *(const double *)t->data);
    else if (t->dtype == RT_I32) printf("%s = %d\n", t->name, (int)*(const int32_t *)t->data);
  }
  return 0;
}

/* The gradient of f with respect to the parameters and the --wrt inputs,
 * optimized like the compiler's own; NULL after an error. */
static Func *input_grad(const EvalOpts *o, Compiled *c, Func *f, Diag *d) {
  bool wrt[256] = {0};
  bool ok = true;
  for (int k = 0; k < o->nwrt; k++) {
    int found = -1;
    for (int i = 0; i < f->body->nargs; i++)
      if (f->arg_role[i].kind == ARG_INPUT && f->body->args[i]->name && !strcmp(f->body->args[i]->name, o->wrt[k]))
        found = i;
    if (found < 0) {
      error("--wrt %s: @%s has no argument named '%s'", o->wrt[k], f->name, o->wrt[k]);
      ok = false;
    } else if (!dtype_is_float(f->body->args[found]->ty.dtype)) {
      error("--wrt %s: the argument is %s; only float arguments have gradients", o->wrt[k],
            tstr(&f->body->args[found]->ty));
      ok = false;
    } else if (f->arg_role[found].index < 256) {
      wrt[f->arg_role[found].index] = true;
    }
  }
  if (!ok) return NULL;
  GradResult g = grad_func(c->m, f, wrt, d);
  if (!g.f) return NULL;
  PassOpts po = {0};
  run_passes(c->m, g.f, &po);
  return g.f;
}

static int run(const EvalOpts *o, Arena *a, Diag *d, Program *p) {
  CompileOpts co = {.no_grad = !o->grad};
  Compiled *c = compile_module(a, d, p, o->model, &co);
  if (!c->m) return 1; /* a derivative in the program cannot be taken: reported */
  Func *f = find_function(c, o->fn);
  if (!f) return 1;
  const Module *m = c->m;
  if (o->nwrt && !o->grad) return bad_usage("--wrt needs --grad");
  if (o->grad) {
    if (f->nret != 1 || f->ret[0].rank != 0 || !dtype_is_float(f->ret[0].dtype))
      return error("--grad: @%s returns %s, not a float scalar: only a loss can be differentiated", f->name,
                   f->nret == 1 ? tstr(&f->ret[0]) : "several values");
    Func *g = o->nwrt ? input_grad(o, c, f, d) : compiled_grad(c, o->fn);
    if (!g) return error("--grad: @%s cannot be differentiated (see the errors above)", f->name);
    f = g;
  }
  int n = f->body->nargs;
  rt_tensor *params = NEW_ARRAY(a, rt_tensor, m->nparams + 1);
  rt_tensor *args = NEW_ARRAY(a, rt_tensor, n + 1);
  rt_tensor *res = NEW_ARRAY(a, rt_tensor, f->nret + 1);
  int rc = 1;
  bool ok = o->params ? params_from_file(m, o->params, o->f64, params) : params_from_seed(m, o->seed, o->f64, params);
  ok = load_inputs(o, f, args) && ok;
  if (ok) {
    for (int i = 0; i < n; i++)
      if (f->arg_role[i].kind == ARG_PARAM) {
        args[i] = params[f->arg_role[i].index];
        args[i].borrowed = true;
      }
    char err[512];
    if (!o->runner->run(m, f, args, res, o->f64, err, sizeof err)) {
      error("running @%s: %s", f->name, err);
    } else {
      rc = write_results(a, o, m, f, res);
      for (int k = 0; k < f->nret; k++) rt_tensor_free(&res[k]);
    }
  }
  for (int i = 0; i < n; i++)
    if (!args[i].borrowed) rt_tensor_free(&args[i]);
  for (int i = 0; i < m->nparams; i++) rt_tensor_free(&params[i]);
  return rc;
}

int eval_main(int argc, char **argv) {
  static EvalOpts zero;
  EvalOpts *o = malloc(sizeof *o);
  if (!o) return error("out of memory");
  *o = zero;
  /* compiled code by default; --interp (or --f64) for the interpreter */
  o->runner = &eval_jit_runner;
  int rc = parse_args(argc, argv, o);
  if (rc == 0) {
    Options fo;
    memset(&fo, 0, sizeof fo);
    fo.input = o->model;
    fo.max_errors = 20;
    fo.color = COLOR_AUTO;
    memcpy(fo.defs, o->defs, sizeof(Define) * (size_t)o->ndefs);
    fo.ndefs = o->ndefs;
    Arena *a = arena_new();
    Diag d;
    char *src = NULL;
    Program *p = NULL;
    rc = driver_front(&fo, a, a, &d, &src, &p);
    if (rc == 0) rc = run(o, a, &d, p);
    diag_free(&d);
    rt_free(src);
    arena_free(a);
  } else if (rc < 0) {
    rc = 0; /* --help */
  }
  for (int k = 0; k < o->ninputs; k++) free((char *)o->inputs[k].name);
  for (int k = 0; k < o->ndefs; k++) free((char *)o->defs[k].name);
  free(o);
  return rc;
}
