/* train_cmd.c — `nnc train`: the edit-train loop without files. The
 * compiler's own options (-D, -O, --color, -fmax-errors: read as nnc reads
 * them, by cli_common; and -ffast-math) are taken here; every other flag
 * goes to the training program, exactly as it would to a program built
 * with --emit=exe. */
#include "train_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cli.h"
#include "driver.h"
#include "irtool.h"
#include "pipeline.h"
#include "rt_train.h"

static int usage(FILE *out, int rc) {
  fprintf(out,
          "usage: nnc train MODEL.nn [-D NAME=VALUE] [-O0..-O3] [-ffast-math] [--color=WHEN]\n"
          "                          [-fmax-errors=N] [program flags...]\n"
          "       nnc train MODEL.ir [-O0..-O3] [-ffast-math] [--color=WHEN] [program flags...]\n"
          "Compiles MODEL.nn (or its IR text, which holds its train block) in memory and\n"
          "runs its training program; the program\n"
          "flags are those of a program built with --emit=exe (nnc train MODEL.nn --help).\n");
  return rc;
}

int train_main(int argc, char **argv) {
  Options o;
  memset(&o, 0, sizeof o);
  o.max_errors = 20;
  o.opt_level = 2;
  char **rest = calloc((size_t)argc + 2, sizeof *rest);
  if (!rest) return 1;
  int nrest = 1;
  CliCommon common = {.defs = o.defs, .ndefs = &o.ndefs, .opt_level = &o.opt_level, .color = &o.color,
                      .max_errors = &o.max_errors};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char err[512];
    CliResult r = cli_common(&common, argc, argv, &i, err, sizeof err);
    if (r == CLI_BAD) {
      fprintf(stderr, "nnc train: error: %s\n", err);
      for (int k = 0; k < o.ndefs; k++) free((char *)o.defs[k].name);
      free(rest);
      return usage(stderr, 2);
    }
    if (r == CLI_TAKEN) continue;
    if (!strcmp(a, "-ffast-math")) {
      o.fast_math = true;
    } else if (!o.input && a[0] != '-') {
      o.input = a;
    } else {
      rest[nrest++] = argv[i];
    }
  }
  if (!o.input) {
    bool help = false;
    for (int i = 1; i < nrest; i++) help |= !strcmp(rest[i], "--help") || !strcmp(rest[i], "-h");
    free(rest);
    return usage(help ? stdout : stderr, help ? 0 : 2);
  }
  /* the program's name, shown in its usage and in the command that resumes
     an interrupted run: it must rebuild the same model, so it keeps the
     compiler's options */
  char prog[4096];
  size_t len = (size_t)snprintf(prog, sizeof prog, "nnc train %s", o.input);
  for (int i = 0; i < o.ndefs && len < sizeof prog; i++)
    len += (size_t)snprintf(prog + len, sizeof prog - len, " -D %s=%s", o.defs[i].name, o.defs[i].value);
  if (o.opt_level != 2 && len < sizeof prog) len += (size_t)snprintf(prog + len, sizeof prog - len, " -O%d", o.opt_level);
  if (o.fast_math && len < sizeof prog) snprintf(prog + len, sizeof prog - len, " -ffast-math");
  rest[0] = prog;
  Arena *a = arena_new();
  Diag d;
  char *src = NULL;
  Program *p = NULL;
  size_t n = strlen(o.input), srclen;
  Compiled *c = NULL;
  CompileOpts co = {0};
  int rc;
  if (n > 3 && !strcmp(o.input + n - 3, ".ir")) { /* IR text, its train block included (docs/ir.md) */
    Module *m = o.ndefs ? NULL : irtool_read(a, &d, o.input, o.color, &src, &srclen);
    if (o.ndefs) { /* its constants are folded into it */
      diag_init(&d, o.input, "", 0, stderr, o.color);
      diag_error(&d, loc_none(), "-D does not apply to IR text (its constants are resolved)");
    }
    rc = !m || (c = compile_parsed(a, &d, m, &co), !c->ok);
  } else {
    rc = driver_front(&o, a, a, &d, &src, &p);
    if (!rc && !(c = compile_module(a, &d, p, o.input, &co))->ok) rc = 1;
  }
  if (!rc && !(c->m->train && c->m->train->loss)) {
    diag_error(&d, loc_none(), "the model has no train block to run");
    rc = 1;
  }
  Jit *jit = NULL;
  if (!rc) {
    BackendOpts bo = {.opt_level = o.opt_level, .fast_math = o.fast_math, .name = "model", .for_jit = true,
                      .build_info = "nnc train (JIT)"};
    CodeGen *cg = codegen_module(c, &bo, &d);
    char err[512];
    if (!cg || !(jit = jit_create(cg, err, sizeof err))) {
      if (cg) diag_error(&d, loc_none(), "%s", err);
      rc = 1;
    }
  }
  if (!rc) {
    const rt_model_desc *(*descf)(void) = (const rt_model_desc *(*)(void))jit_lookup(jit, "model_descriptor");
    if (!descf) {
      diag_error(&d, loc_none(), "internal: the compiled model has no descriptor");
      rc = 1;
    } else {
      rc = rt_train_main(descf(), nrest, rest);
    }
  }
  jit_destroy(jit);
  diag_free(&d);
  rt_free(src);
  arena_free(a);
  for (int i = 0; i < o.ndefs; i++) free((char *)o.defs[i].name);
  free(rest);
  return rc;
}
