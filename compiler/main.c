/* main.c — the nnc command line. Reads like the pipeline it drives:
 * read the file; parse; check; then whatever was asked for.
 *
 * Exit status: 0 success, 1 errors diagnosed (in the source or its data),
 * 2 a bad command line. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ast.h"
#include "check.h"
#include "cli.h"
#include "driver.h"
#include "eval.h"
#include "train_cmd.h"
#include "irtool.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: nnc [options] FILE.nn             compile (see --emit)\n"
          "       nnc check [options] FILE.nn       check and print a summary of the model\n"
          "       nnc eval MODEL.nn --fn NAME ...   run a function (see nnc eval --help)\n"
          "       nnc train MODEL.nn [flags]        compile in memory and train (see --help there)\n"
          "       nnc [--passes=LIST] FILE.ir       read IR text: verify, run passes, print\n"
          "\n"
          "options:\n"
          "  --emit=KIND[,KIND...]  what to produce: ast, ir, grad-ir, tape (text), and\n"
          "                         llvm-ir, asm, obj, lib (libNAME.so + NAME.h), exe\n"
          "                         (a training program; see NAME --help), python (the\n"
          "                         library and NAME.py beside it: a NumPy class over it),\n"
          "                         dot (the IR as a Graphviz graph: dot -Tsvg; see\n"
          "                         docs/ir.md)\n"
          "  --dot-fn=NAME          with --emit=dot: draw only function NAME (e.g. loss.grad)\n"
          "  -O0 -O1 -O2 -O3        LLVM optimization level (default -O2)\n"
          "  --target=TRIPLE        generate code for another target (default: this host)\n"
          "  -mcpu=CPU              generate code for CPU (default: this host's CPU)\n"
          "  --name=NAME            prefix of the generated API (default: the model's name)\n"
          "  -ffast-math            let LLVM reassociate floating-point arithmetic\n"
          "  --max-tape-bytes=N     keep each gradient's loop tapes within N bytes (K, M,\n"
          "                         G: 1024^1..3) by checkpointing loops: recomputing\n"
          "                         their values in the backward pass (--emit=tape shows it)\n"
          "  --stats                instruction counts before/after the passes, AD\n"
          "                         expansion, saved bytes, and compile times\n"
          "  -d verify              verify the IR after every pass\n"
          "  -d dump=PASS           print the IR after PASS (fold, simplify, cse,\n"
          "                         licm, dce, or all)\n"
          "  -d no-opt              skip the IR passes\n"
          "  -o PATH                output file (default: standard output for text)\n"
          "  -D NAME=VALUE          override the constant NAME (e.g. -D B=32)\n"
          "  -fsyntax-only          check only; print nothing on success\n"
          "  -fmax-errors=N         stop after N errors (default 20, 0 = no limit)\n"
          "  --color=WHEN           colour diagnostics: auto (default), always, never\n"
          "  -h, --help             show this help\n"
          "  --version              show the version\n"
          "\n"
          "Colour is used on a terminal unless NO_COLOR is set. Exit status: 0 success,\n"
          "1 errors in the program or its files, 2 a bad command line.\n");
}

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "nnc: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  usage(stderr);
  return 2;
}

/* A size: decimal digits, then optionally K, M or G (powers of 1024); at
 * least 1 and at most 2^62. */
static bool parse_bytes(const char *s, size_t *out) {
  uint64_t v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > ((uint64_t)1 << 62)) return false;
  }
  if (p == s) return false;
  int shift = 0;
  if (*p == 'K') shift = 10, p++;
  else if (*p == 'M') shift = 20, p++;
  else if (*p == 'G') shift = 30, p++;
  if (*p || v == 0 || v > ((uint64_t)1 << (62 - shift))) return false;
  *out = (size_t)(v << shift);
  return true;
}

/* Parse argv into opts (the flags every command shares through
 * cli_common). Returns 0, or an exit status (2) after a message. */
static int parse_args(int argc, char **argv, Options *o) {
  int i = 1;
  if (i < argc && !strcmp(argv[i], "check")) {
    o->cmd = CMD_CHECK;
    i++;
  }
  CliCommon common = {o->defs,    &o->ndefs, &o->opt_level, &o->color,    &o->max_errors,
                      &o->triple, &o->cpu,   &o->name,      &o->fast_math};
  for (; i < argc; i++) {
    const char *a = argv[i];
    char err[512];
    CliResult r = cli_common(&common, argc, argv, &i, err, sizeof err);
    if (r == CLI_BAD) return bad_usage("%s", err);
    if (r == CLI_TAKEN) continue;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--version")) {
      printf("nnc %s\n", NNC_VERSION);
      exit(0);
    } else if (!strncmp(a, "--emit=", 7)) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", a + 7);
      for (char *k = strtok(buf, ","); k; k = strtok(NULL, ",")) {
        unsigned bits = cli_emit_kind(k);
        if (!bits) return bad_usage("unknown --emit kind '%s' (try --help)", k);
        o->emit |= bits;
      }
      if (!o->emit) return bad_usage("--emit needs a kind%s", "");
    } else if (!strcmp(a, "-o")) {
      if (++i >= argc) return bad_usage("-o needs a path%s", "");
      o->output = argv[i];
    } else if (!strcmp(a, "-d")) {
      if (++i >= argc) return bad_usage("-d needs verify, dump=PASS or no-opt%s", "");
      const char *dv = argv[i];
      if (!strcmp(dv, "verify")) o->verify = true;
      else if (!strcmp(dv, "no-opt")) o->no_opt = true;
      else if (!strncmp(dv, "dump=", 5) && dv[5]) o->dump = dv + 5;
      else return bad_usage("unknown -d option '%s' (verify, dump=PASS, no-opt)", dv);
    } else if (!strncmp(a, "--dot-fn=", 9) && a[9]) {
      o->dot_fn = a + 9;
    } else if (!strncmp(a, "--max-tape-bytes=", 17)) {
      if (!parse_bytes(a + 17, &o->max_tape_bytes))
        return bad_usage("--max-tape-bytes takes a size in bytes (digits, optionally K, M or G: 1024, 1024^2, 1024^3) of "
                         "at least 1, not '%s'", a + 17);
    } else if (!strcmp(a, "--stats")) {
      o->stats = true;
    } else if (!strcmp(a, "-fsyntax-only")) {
      o->cmd = CMD_SYNTAX_ONLY;
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("unknown option '%s'", a);
    } else {
      if (o->input) return bad_usage("more than one input file ('%s')", a);
      o->input = a;
    }
  }
  if (!o->input) return bad_usage("no input file%s", "");
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "eval")) return eval_main(argc - 1, argv + 1);
  if (argc > 1 && !strcmp(argv[1], "train")) return train_main(argc - 1, argv + 1);
  if (irtool_wants(argc, argv)) return irtool_main(argc, argv); /* FILE.ir: IR text */
  Options o;
  memset(&o, 0, sizeof o);
  o.max_errors = 20;
  o.opt_level = 2;
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  if (o.cmd == CMD_DEFAULT && !o.emit) o.cmd = CMD_CHECK;
  rc = driver_run(&o);
  for (int i = 0; i < o.ndefs; i++) free((char *)o.defs[i].name); /* strndup'd by -D */
  return rc;
}
