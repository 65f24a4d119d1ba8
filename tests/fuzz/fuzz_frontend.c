/* fuzz_frontend.c — libFuzzer target for the whole front end.
 *
 * Each input is a .nn source: it is lexed, parsed and checked exactly as
 * `nnc check` does, with diagnostics written to a memory stream (so their
 * formatting code runs too) and the checked tree dumped when the check
 * passes. Everything lives in one arena, freed at the end, so the leak
 * checker sees any allocation the front end forgets. The input is copied to
 * a buffer of its exact size: the front end must never read past `len`.
 *
 * Built only with -DNNC_FUZZ=ON (tests/fuzz.cmake); run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *src = malloc(size ? size : 1);
  if (!src) return 0;
  if (size) memcpy(src, data, size);
  char *text = NULL;
  size_t text_len = 0;
  FILE *out = open_memstream(&text, &text_len);
  if (!out) {
    free(src);
    return 0;
  }
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, "fuzz.nn", src, size, out, COLOR_NEVER);
  Program *p = parse_program(a, a, &d, src, size);
  if (d.nerrors == 0 && check_program(a, &d, p, NULL, 0)) ast_dump(out, p);
  diag_free(&d);
  fclose(out);
  free(text);
  arena_free(a);
  free(src);
  return 0;
}
