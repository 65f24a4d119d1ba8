/* test_grad_loops.c — gradients through loops nested in loops, against
 * central differences in f64 (<= 1e-6): tests/nn/nested_loops.nn has two
 * and three levels, loops starting at 1, work before and after an inner
 * loop and row writes. The gradient IR must verify (every value used in
 * its scope: an inner tape is taped again by the outer loop). */
#include "unit_main.h"
#include "gradcheck.h"
#include "pipeline.h"

static void check(const char *fn) {
  Arena *a = arena_new();
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/nn/nested_loops.nn", NNC_SOURCE_DIR);
  Diag d;
  char *src;
  Program *p;
  CU_ASSERT_EQUAL_FATAL(gc_front(a, path, NULL, 0, &d, &src, &p), 0);
  /* -d verify: compile_module dies if a gradient does not verify */
  Compiled *c = compile_module(a, &d, p, path, &(CompileOpts){.verify = true});
  CU_ASSERT_TRUE_FATAL(c->ok);
  Func *f = ir_find_func(c->m, fn), *g = compiled_grad(c, fn);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_TRUE(ir_verify_func(c->m, g, stderr));
  ITensor args[16];
  gc_inputs(f, args, "", 23);
  double err = gc_check(f, g, args, 1e-6, 0, fn);
  fprintf(stderr, "  %s: worst relative gradient error %.2e\n", fn, err);
  CU_ASSERT(err <= 1e-6);
  gc_free_all(args, f->body->nargs);
  diag_free(&d);
  free(src);
  arena_free(a);
}

static void test_two(void) { check("two"); }
static void test_mixed(void) { check("mixed"); }
static void test_three(void) { check("three"); }

static UnitTest tests[] = {
    {"two nested loops", test_two},
    {"nested loops with work around the inner loop, from 1", test_mixed},
    {"three nested loops", test_three},
    {0, 0}};

int main(void) { return unit_run("grad_loops", tests); }
