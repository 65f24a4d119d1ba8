/* test_fitset.c — plan.c's first-fit allocator (fitset.c) against the
 * list it replaced: every live block scanned in offset order, the block
 * placed at the first gap that fits, else after the last. Random
 * sequences of sizes and lifetimes; the offsets must be the same (the
 * memory plans, and so the generated code, do not change). */
#include "unit_main.h"
#include "fitset.h"

#include <stdlib.h>

typedef struct Ref {
  size_t off, size;
  int end;
} Ref;

/* the old allocator: release, sort by offset, scan */
static size_t ref_place(Ref *live, int *n, size_t size, int start, int end) {
  int w = 0;
  for (int k = 0; k < *n; k++)
    if (live[k].end >= start) live[w++] = live[k];
  *n = w;
  for (int a = 1; a < *n; a++)
    for (int b = a; b > 0 && live[b - 1].off > live[b].off; b--) {
      Ref t = live[b];
      live[b] = live[b - 1];
      live[b - 1] = t;
    }
  size_t off = 0;
  for (int k = 0; k < *n; k++) {
    if (live[k].off >= off + size) break;
    if (live[k].off + live[k].size > off) off = live[k].off + live[k].size;
  }
  live[(*n)++] = (Ref){off, size, end};
  return off;
}

static void check_sequence(unsigned seed, int count, int maxlife, int maxsize) {
  srand(seed);
  Arena *a = arena_new();
  FitSet *s = fit_new(a);
  Ref *live = calloc((size_t)count, sizeof *live);
  int n = 0, bad = 0;
  for (int pos = 0; pos < count; pos++) {
    size_t size = 64 * (size_t)(1 + rand() % maxsize);
    int end = pos + rand() % maxlife;
    if (rand() % 8 == 0) end = pos + count; /* lives to the end, as a gradient's tape */
    size_t want = ref_place(live, &n, size, pos, end);
    fit_release(s, pos);
    size_t got = fit_place(s, size, end);
    if (got != want && !bad++) printf("seed %u, block %d: offset %zu, the list gives %zu\n", seed, pos, got, want);
  }
  CU_ASSERT_EQUAL(bad, 0);
  free(live);
  arena_free(a);
}

static void test_fit_random(void) {
  for (unsigned seed = 1; seed <= 40; seed++) check_sequence(seed, 600, 1 + (int)seed % 50, 1 + (int)seed % 9);
}

static void test_fit_edges(void) {
  Arena *a = arena_new();
  FitSet *s = fit_new(a);
  CU_ASSERT_EQUAL(fit_place(s, 64, 5), 0);    /* empty: at 0 */
  CU_ASSERT_EQUAL(fit_place(s, 128, 1), 64);  /* after it */
  CU_ASSERT_EQUAL(fit_place(s, 64, 9), 192);
  fit_release(s, 2);                           /* the 128 bytes at 64 die */
  CU_ASSERT_EQUAL(fit_place(s, 192, 9), 256);  /* the gap is too small */
  CU_ASSERT_EQUAL(fit_place(s, 128, 9), 64);   /* exactly fits */
  fit_release(s, 100);                         /* all die */
  CU_ASSERT_EQUAL(fit_place(s, 64, 200), 0);
  arena_free(a);
}

int main(void) {
  static const UnitTest tests[] = {
      {"fitset random sequences", test_fit_random},
      {"fitset edges", test_fit_edges},
      {0, 0},
  };
  return unit_run("fitset", tests);
}
