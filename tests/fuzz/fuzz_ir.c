/* fuzz_ir.c — libFuzzer target for the IR text parser and the verifier.
 *
 * Each input is IR text: it is parsed (errors to a memory stream, so the
 * diagnostics code runs too) and, when it parses, verified. A module that
 * parses and verifies must also print and parse back, and printing that
 * must give the same text (print -> parse -> print is the identity): the
 * round trip the golden tests rely on. Everything lives in one arena freed
 * at the end, so the leak checker sees anything the parser forgets. The
 * input is copied to a buffer of its exact size: the parser must never read
 * past `len`.
 *
 * Build and run (see docs/ir.md, "Fuzzing the parser"):
 *   CC=clang-19 cmake -S . -B build-fuzz-ir -DNNC_FUZZ=ON
 *   cmake --build build-fuzz-ir --target fuzz_ir
 *   build-fuzz-ir/tests/fuzz_ir -max_total_time=300 corpus/ tests/fuzz/ir_corpus/ */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print(const Module *m, size_t *len) {
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  if (!f) abort();
  ir_print_module(f, m);
  fclose(f);
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *src = malloc(size ? size : 1);
  if (!src) return 0;
  if (size) memcpy(src, data, size);
  char *msgs = NULL;
  size_t msgs_len = 0;
  FILE *out = open_memstream(&msgs, &msgs_len);
  if (!out) abort();
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, "fuzz.ir", src, size, out, COLOR_NEVER);
  Module *m = ir_parse(a, &d, src, size);
  /* a NULL module comes with exactly one located error */
  if (!m && (d.nerrors != 1)) abort();
  if (m && ir_verify_module(m, out)) {
    size_t n1, n2;
    char *t1 = print(m, &n1);
    Diag d2;
    diag_init(&d2, "printed.ir", t1, n1, out, COLOR_NEVER);
    Module *m2 = ir_parse(a, &d2, t1, n1);
    if (!m2) {
      fprintf(stderr, "printed module does not parse back:\n%s\n", t1);
      abort();
    }
    char *t2 = print(m2, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1)) {
      fprintf(stderr, "print -> parse -> print differs:\n%s\n----\n%s\n", t1, t2);
      abort();
    }
    diag_free(&d2);
    free(t1);
    free(t2);
  }
  diag_free(&d);
  fclose(out);
  free(msgs);
  arena_free(a);
  free(src);
  return 0;
}
