/* test_ir_docs.c — docs/ir.md describes the IR as the code defines it:
 *   - every op of the op table has its row in the op table of the document,
 *     exactly as generated from ops.def (name, operands, attributes,
 *     lowering class, flags, meaning);
 *   - every pass of the pass table is named there;
 *   - every simplification rule written above its code in passes.c (the
 *     comments "... => ...") is listed there.
 * `test_ir_docs --print-op-table` prints the generated table, to paste
 * into the document after changing ops.def. */
#include <stdlib.h>
#include <string.h>

#include "unit_main.h"
#include "ir.h"
#include "passes.h"

static char *doc;

static char *slurp(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", NNC_SOURCE_DIR, rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

static const char *class_name(LowerClass lc) {
  static const char *const names[] = {"none", "elem", "reduce", "shape", "matmul", "conv", "pool", "gather", "loop"};
  return names[lc];
}

/* The markdown row of op i. */
static void op_row(int i, char *buf, size_t n) {
  const OpInfo *o = &op_info[i];
  char arity[16], flags[128] = "", meaning[512];
  if (o->nargs < 0) snprintf(arity, sizeof arity, "any");
  else snprintf(arity, sizeof arity, "%d", o->nargs);
  static const struct { unsigned bit; const char *name; } fl[] = {
      {F_TYPED, "typed"}, {F_NODIFF, "nodiff"}, {F_COMMUTATIVE, "commutative"}, {F_TERMINATOR, "terminator"}, {F_REGION, "region"}};
  for (size_t k = 0; k < sizeof fl / sizeof fl[0]; k++)
    if (o->flags & fl[k].bit) {
      if (*flags) strcat(flags, ", ");
      strcat(flags, fl[k].name);
    }
  size_t m = 0;
  for (const char *s = o->meaning; *s && m + 2 < sizeof meaning; s++) {
    if (*s == '|') meaning[m++] = '\\';
    meaning[m++] = *s;
  }
  meaning[m] = 0;
  snprintf(buf, n, "| `%s` | %s | %s | %s | %s | %s |", o->name, arity, *o->attrs ? o->attrs : "", class_name(o->lc),
           flags, meaning);
}

static void test_ops(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  int missing = 0;
  for (int i = 0; i < OP_COUNT; i++) {
    char row[1024];
    op_row(i, row, sizeof row);
    if (!strstr(doc, row)) {
      fprintf(stderr, "  docs/ir.md lacks the row (or it is out of date):\n%s\n", row);
      missing++;
    }
  }
  if (missing) fprintf(stderr, "  regenerate with: test_ir_docs --print-op-table\n");
  CU_ASSERT_EQUAL(missing, 0);
}

static void test_passes(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  for (int i = 0; i < pass_count; i++) {
    char key[128];
    snprintf(key, sizeof key, "| `%s` |", pass_table[i].name);
    if (!strstr(doc, key)) fprintf(stderr, "  docs/ir.md does not list the pass %s\n", pass_table[i].name);
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, key));
  }
}

/* Every rule comment of passes.c ("... => ...") appears in the doc. */
static void test_rules(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  char *src = slurp("compiler/passes.c");
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  int rules = 0, missing = 0;
  for (char *p = src; (p = strstr(p, "/* "));) {
    char *e = strstr(p, "*/");
    if (!e) break;
    /* one comment may hold several rules separated by " ; " */
    char rule[512];
    size_t n = (size_t)(e - p - 3);
    if (n >= sizeof rule) n = sizeof rule - 1;
    memcpy(rule, p + 3, n);
    rule[n] = 0;
    while (n && rule[n - 1] == ' ') rule[--n] = 0;
    if (strstr(rule, "=>")) {
      for (char *r = strtok(rule, ";"); r; r = strtok(NULL, ";")) {
        while (*r == ' ') r++;
        size_t k = strlen(r);
        while (k && r[k - 1] == ' ') r[--k] = 0;
        if (!*r) continue;
        rules++;
        if (!strstr(doc, r)) {
          fprintf(stderr, "  docs/ir.md lacks the rule: %s\n", r);
          missing++;
        }
      }
    }
    p = e;
  }
  fprintf(stderr, "  %d rules of passes.c\n", rules);
  CU_ASSERT(rules > 20);
  CU_ASSERT_EQUAL(missing, 0);
  free(src);
}

static UnitTest tests[] = {
    {"every op of ops.def in docs/ir.md", test_ops},
    {"every pass of the pass table in docs/ir.md", test_passes},
    {"every simplification rule in docs/ir.md", test_rules},
    {0, 0}};

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--print-op-table")) {
    printf("| op | operands | attributes | class | flags | meaning |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < OP_COUNT; i++) {
      char row[1024];
      op_row(i, row, sizeof row);
      printf("%s\n", row);
    }
    return 0;
  }
  doc = slurp("docs/ir.md");
  int rc = unit_run("ir_docs", tests);
  free(doc);
  return rc;
}
