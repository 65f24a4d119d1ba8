/* irtool.c — nnc on IR text; see irtool.h.
 *
 *   nnc [--emit=ir|grad-ir|tape] [--passes=LIST] [-d verify] [-d dump=PASS]
 *       [--stats] [-o OUT] FILE.ir
 *   nnc --emit=llvm-ir|asm|obj|lib|exe [-O0..-O3] [-ffast-math] [--target=TRIPLE]
 *       [-mcpu=CPU] [--name=IDENT] [-o OUT] FILE.ir
 *
 *   read -> ir_parse (located errors) -> ir_verify -> passes -> [grad ->
 *   passes] -> print
 *
 * --passes takes pass names from the pass table, run once each in the
 * given order (`--passes=simplify,dce` tests one rule), or `all`: the table
 * to a fixed point, as the compiler runs it. Without --passes the module is
 * printed as read, so `--emit=ir` round-trips the text. --emit=grad-ir
 * differentiates every function that returns a float scalar and is not a
 * gradient itself, runs the same passes on the gradient and prints it, and
 * then the training step of the module's train block, if it has one;
 * --emit=tape prints what each gradient saves. --emit=llvm-ir, asm, obj,
 * lib or exe run the compiler's stages after irgen (passes, gradients, the
 * training step of the module's train block) and its backend on the
 * module, as on the IR irgen makes from a .nn file. */
#include "rt_core.h"
#include "irtool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "driver.h"
#include "grad.h"
#include "passes.h"
#include "pipeline.h"
#include "trainstep.h"

/* IR text larger than this is refused (no real module is near it). */
#define MAX_IR_BYTES ((size_t)256 << 20)

typedef struct IrOpts {
  const char *input, *output;
  bool emit_ir, emit_grad, emit_tape, stats, verify;
  const char *passes;   /* NULL: none */
  const char *dump;
  DiagColor color;
  Options native;       /* emit: the EMIT_NATIVE kinds asked for; their -O, -ffast-math, -o */
} IrOpts;

bool irtool_wants(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-o") || !strcmp(a, "-d") || !strcmp(a, "-D")) {
      i++;
      continue;
    }
    if (a[0] == '-') continue;
    size_t n = strlen(a);
    if (n > 3 && !strcmp(a + n - 3, ".ir")) return true;
  }
  return false;
}

static int usage_error(const char *fmt, const char *arg) {
  fputs("nnc: error: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nusage: nnc [--emit=ir|grad-ir|tape] [--passes=LIST|all] [-d verify] [-d dump=PASS]\n"
        "           [--stats] [-o OUT] FILE.ir\n"
        "       nnc --emit=llvm-ir|asm|obj|lib|exe [-O0..-O3] [-ffast-math] [--target=TRIPLE] [-mcpu=CPU]\n"
        "           [--name=IDENT] [-d verify] [-o OUT] FILE.ir\n",
        stderr);
  return 2;
}

static const Pass *find_pass(const char *name, size_t n) {
  for (int i = 0; i < pass_count; i++)
    if (strlen(pass_table[i].name) == n && !strncmp(pass_table[i].name, name, n)) return &pass_table[i];
  return NULL;
}

/* The shared flags (cli.h) that apply to IR text: --color, and for
 * native code -O, -ffast-math, --target, -mcpu and --name. */
static int parse_args(int argc, char **argv, IrOpts *o) {
  o->native.opt_level = 2;
  CliCommon common = {.color = &o->color,
                      .opt_level = &o->native.opt_level,
                      .triple = &o->native.triple,
                      .cpu = &o->native.cpu,
                      .name = &o->native.name,
                      .fast_math = &o->native.fast_math};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char err[512];
    CliResult r = cli_common(&common, argc, argv, &i, err, sizeof err);
    if (r == CLI_BAD) return usage_error("%s", err);
    if (r == CLI_TAKEN) continue;
    if (!strncmp(a, "--emit=", 7)) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", a + 7);
      for (char *k = strtok(buf, ","); k; k = strtok(NULL, ",")) {
        unsigned bits = cli_emit_kind(k);
        if (bits == EMIT_IR) o->emit_ir = true;
        else if (bits == EMIT_GRAD_IR) o->emit_grad = true;
        else if (bits == EMIT_TAPE) o->emit_tape = true;
        else if (bits && !(bits & ~(EMIT_NATIVE & ~EMIT_PYTHON))) o->native.emit |= bits;
        else return usage_error("--emit on IR text takes ir, grad-ir, tape, llvm-ir, asm, obj, lib or exe, not '%s'", k);
      }
    } else if (!strncmp(a, "--passes=", 9)) {
      const char *s = a + 9;
      if (strcmp(s, "all")) {
        for (const char *p = s; *p;) {
          size_t n = strcspn(p, ",");
          if (!find_pass(p, n)) return usage_error("unknown pass in --passes: '%s' (fold, simplify, cse, licm, dce, all)", s);
          p += n + (p[n] == ',');
        }
      }
      o->passes = s;
    } else if (!strcmp(a, "-d")) {
      if (++i >= argc) return usage_error("-d needs verify or dump=PASS%s", "");
      if (!strcmp(argv[i], "verify")) o->verify = true;
      else if (!strncmp(argv[i], "dump=", 5) && argv[i][5]) o->dump = argv[i] + 5;
      else return usage_error("unknown -d option '%s' for IR text (verify, dump=PASS)", argv[i]);
    } else if (!strcmp(a, "-o")) {
      if (++i >= argc) return usage_error("-o needs a path%s", "");
      o->output = argv[i];
    } else if (!strcmp(a, "--stats")) {
      o->stats = true;
    } else if (a[0] == '-') {
      return usage_error("option '%s' does not apply to IR text", a);
    } else {
      if (o->input) return usage_error("more than one input file ('%s')", a);
      o->input = a;
    }
  }
  if (o->native.emit) {
    if (o->emit_ir || o->emit_grad || o->emit_tape || o->stats || o->passes)
      return usage_error("native code from IR text (--emit=%s) is made alone: without --emit=ir, grad-ir, tape, "
                         "--stats or --passes", "llvm-ir|asm|obj|lib|exe");
    o->native.input = o->input;
    o->native.output = o->output;
    o->native.color = o->color;
    o->native.verify = o->verify;
  } else if (!o->emit_ir && !o->emit_grad && !o->emit_tape && !o->stats) {
    o->emit_ir = true;
  }
  return 0;
}

/* --emit=llvm-ir|asm|obj|lib|exe: the compiler's stages after irgen on the
 * module read (its train block builds train_step), then the backend, as
 * for a .nn file. */
static int run_native(const IrOpts *o, Arena *a, Module *m, Diag *d, const char *src, size_t len) {
  CompileOpts co = {.verify = o->verify, .dump = o->dump};
  Compiled *c = compile_parsed(a, d, m, &co);
  if (!c->ok) return 1;
  return driver_emit_native(&o->native, d, c, NULL, src, len, NULL);
}

/* Run the --passes list on f. False when verification failed. */
static bool optimize(Module *m, Func *f, const IrOpts *o) {
  if (!o->passes) return true;
  PassOpts po = {.verify = o->verify, .dump = o->dump, .dump_out = stderr};
  if (!strcmp(o->passes, "all")) return run_passes(m, f, &po);
  for (const char *p = o->passes; *p;) {
    size_t n = strcspn(p, ",");
    const Pass *pass = find_pass(p, n);
    bool changed = pass->run(m, f);
    if (o->verify && !ir_verify_func(m, f, stderr)) {
      fprintf(stderr, "nnc: the IR of @%s does not verify after pass '%s'\n", f->name, pass->name);
      return false;
    }
    if (o->dump && (!strcmp(o->dump, pass->name) || !strcmp(o->dump, "all"))) {
      fprintf(stderr, "// after %s%s\n", pass->name, changed ? "" : ", unchanged");
      ir_print_func(stderr, m, f);
    }
    p += n + (p[n] == ',');
  }
  return true;
}

static bool differentiable(const Func *f) {
  return !f->is_grad && f->nret == 1 && f->ret[0].rank == 0 && dtype_is_float(f->ret[0].dtype);
}

static int run(const IrOpts *o, Module *m, Diag *d, FILE *out) {
  int nprimal = m->nfuncs, rc = 0;
  int *before = calloc((size_t)nprimal + 1, sizeof(int));
  if (!before) die("out of memory");
  for (int i = 0; i < nprimal; i++) {
    before[i] = ir_count_insts(m->funcs[i]);
    if (!optimize(m, m->funcs[i], o)) rc = 1;
  }
  if (o->emit_ir) ir_print_module(out, m);
  if (o->stats) {
    fprintf(o->emit_ir ? stderr : out, "%-24s %8s %8s\n", "function", "before", "after");
    for (int i = 0; i < nprimal; i++)
      fprintf(o->emit_ir ? stderr : out, "%-24s %8d %8d\n", m->funcs[i]->name, before[i], ir_count_insts(m->funcs[i]));
  }
  if (o->emit_grad || o->emit_tape) {
    for (int i = 0; i < nprimal; i++) {
      Func *f = m->funcs[i];
      if (!differentiable(f)) continue;
      GradResult g = grad_func(m, f, NULL, d);
      if (!g.f) {
        rc = 1;
        continue;
      }
      if (o->verify && !ir_verify_func(m, g.f, stderr)) die("the gradient of %s does not verify", f->name);
      if (!optimize(m, g.f, o)) rc = 1;
      if (o->emit_grad) {
        fputc('\n', out);
        ir_print_func(out, m, g.f);
      }
      if (o->emit_tape) grad_print_saved(out, m, &g);
    }
    /* the training step of the module's train block, as nnc FILE.nn --emit=grad-ir prints it */
    Func *g = o->emit_grad && m->train && m->train->loss ? train_step_grad(m) : NULL;
    if (g) {
      Func *ts = build_train_step(m, g, m->train);
      if (o->verify && !ir_verify_func(m, ts, stderr)) die("train_step does not verify");
      if (!optimize(m, ts, o)) rc = 1;
      fputc('\n', out);
      ir_print_func(out, m, ts);
    }
  }
  free(before);
  return rc;
}

Module *irtool_read(Arena *a, Diag *d, const char *path, DiagColor color, char **src_out, size_t *len_out) {
  size_t len = 0;
  const char *why = NULL;
  char *src = read_file(path, MAX_IR_BYTES, &len, &why);
  *src_out = src;
  *len_out = len;
  diag_init(d, path, src ? src : "", src ? len : 0, stderr, color);
  if (!src) {
    diag_error(d, loc_none(), "cannot read the file: %s", why);
    return NULL;
  }
  Module *m = ir_parse(a, d, src, len);
  if (m && !ir_verify_module(m, stderr)) {
    fprintf(stderr, "%s: error: the module does not verify\n", path);
    m = NULL;
  }
  return m;
}

int irtool_main(int argc, char **argv) {
  IrOpts o = {0};
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  if (!o.input) return usage_error("no input file%s", "");
  size_t len = 0;
  char *src = NULL;
  Diag d;
  Arena *a = arena_new();
  rc = 1;
  Module *m = irtool_read(a, &d, o.input, o.color, &src, &len);
  if (m && o.native.emit) {
    rc = run_native(&o, a, m, &d, src, len);
  } else if (m) {
    FILE *out = stdout;
    if (o.output && !(out = fopen(o.output, "w"))) {
      fprintf(stderr, "nnc: error: cannot write '%s': %s\n", o.output, strerror(errno));
    } else {
      rc = run(&o, m, &d, out);
      if (out != stdout) fclose(out);
    }
  }
  diag_free(&d);
  arena_free(a);
  rt_free(src);
  return rc;
}
