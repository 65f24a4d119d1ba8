/* test_grad_loops.c — gradients through loops nested in loops, against
 * central differences in f64 (<= 1e-6): tests/nn/nested_loops.nn has two
 * and three levels, loops starting at 1, work before and after an inner
 * loop and row writes. The gradient IR must verify (every value used in
 * its scope: an inner tape is taped again by the outer loop).
 * tests/nn/checkpoint.nn: checkpointed loops (recomputed, not taped). */
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

/* A checkpointed loop's gradient against central differences, and bit for
 * bit (f64 interpreter) against the taped function's, with fewer bytes of
 * tape. */
static void check_checkpoint(const char *taped, const char *ck) {
  Arena *a = arena_new();
  Compiled *c = gc_compiled(a, "tests/nn/checkpoint.nn", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_TRUE_FATAL(c->ok);
  Func *f = ir_find_func(c->m, ck), *g = compiled_grad(c, ck), *gt = compiled_grad(c, taped);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gt);
  ITensor args[16];
  gc_inputs(f, args, "", 29);
  double err = gc_check(f, g, args, 1e-6, 0, ck);
  fprintf(stderr, "  %s: worst relative gradient error %.2e\n", ck, err);
  CU_ASSERT(err <= 1e-6);
  ITensor r1[16], r2[16];
  char msg[256];
  CU_ASSERT_FATAL(g->nret == gt->nret && g->nret <= 16);
  CU_ASSERT_TRUE_FATAL(interp_run(g, args, g->body->nargs, r1, INTERP_F64, msg, sizeof msg));
  CU_ASSERT_TRUE_FATAL(interp_run(gt, args, gt->body->nargs, r2, INTERP_F64, msg, sizeof msg));
  for (int i = 0; i < g->nret; i++) {
    int64_t n = type_numel(&g->ret[i]);
    CU_ASSERT_EQUAL(memcmp(r1[i].d, r2[i].d, sizeof(double) * (size_t)n), 0);
  }
  gc_free_all(r1, g->nret);
  gc_free_all(r2, gt->nret);
  size_t tb = 0, tt = 0;
  for (int i = 0; i < c->nprimal; i++) {
    if (c->grads[i].f == g) tb = c->grads[i].tape_bytes;
    if (c->grads[i].f == gt) tt = c->grads[i].tape_bytes;
  }
  fprintf(stderr, "  %s: %zu bytes of loop tapes, %s %zu\n", ck, tb, taped, tt);
  CU_ASSERT(tb < tt);
  gc_free_all(args, f->body->nargs);
  arena_free(a);
}

static void test_ck_rnn(void) { check_checkpoint("rnn", "rnn_ck"); }
static void test_ck_outer(void) { check_checkpoint("outer", "outer_ck"); }
static void test_ck_inner(void) { check_checkpoint("outer", "inner_ck"); }
static void test_ck_both(void) { check_checkpoint("outer", "both_ck"); }

/* A limit on the loop tapes (--max-tape-bytes): the LSTM's loop split into
 * checkpointed segments, within the limit, the same bits as without. */
static void test_budget(void) {
  Define d[] = {{"B", "3"}, {"T", "32"}, {"V", "7"}, {"E", "4"}, {"H", "8"}};
  Arena *a = arena_new();
  Compiled *plain = gc_compiled(a, "samples/char_lstm.nn", d, 5);
  Compiled *lim = gc_compiled_budget(a, "samples/char_lstm.nn", d, 5, 2600);
  CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
  CU_ASSERT_PTR_NOT_NULL_FATAL(lim);
  CU_ASSERT_TRUE_FATAL(plain->ok && lim->ok);
  Func *f = ir_find_func(lim->m, "loss"), *g = compiled_grad(lim, "loss"), *gp = compiled_grad(plain, "loss");
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gp);
  const GradResult *r = NULL, *rp = NULL;
  for (int i = 0; i < lim->nprimal; i++)
    if (lim->grads[i].f == g) r = &lim->grads[i];
  for (int i = 0; i < plain->nprimal; i++)
    if (plain->grads[i].f == gp) rp = &plain->grads[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_PTR_NOT_NULL_FATAL(rp);
  fprintf(stderr, "  loop tapes %zu bytes within 2600 (%zu without), plan: %d loop(s), segments of %lld\n", r->tape_bytes,
          rp->tape_bytes, r->nplan, r->nplan ? (long long)r->plan[0].segment : 0LL);
  CU_ASSERT(r->tape_bytes <= 2600 && rp->tape_bytes > 2600);
  CU_ASSERT_EQUAL_FATAL(r->nplan, 1);
  CU_ASSERT(r->plan[0].segment > 1);
  ITensor args[16];
  gc_inputs(f, args, "x=0:7,y=0:7", 31);
  double err = gc_check(f, g, args, 1e-6, 40, "loss (limited tapes)");
  CU_ASSERT(err <= 1e-6);
  ITensor r1[16], r2[16];
  char msg[256];
  CU_ASSERT_TRUE_FATAL(interp_run(g, args, g->body->nargs, r1, INTERP_F64, msg, sizeof msg));
  CU_ASSERT_TRUE_FATAL(interp_run(gp, args, gp->body->nargs, r2, INTERP_F64, msg, sizeof msg));
  for (int i = 0; i < g->nret; i++)
    CU_ASSERT_EQUAL(memcmp(r1[i].d, r2[i].d, sizeof(double) * (size_t)type_numel(&g->ret[i])), 0);
  gc_free_all(r1, g->nret);
  gc_free_all(r2, gp->nret);
  gc_free_all(args, f->body->nargs);
  arena_free(a);
}

static void test_two(void) { check("two"); }
static void test_mixed(void) { check("mixed"); }
static void test_three(void) { check("three"); }

static UnitTest tests[] = {
    {"two nested loops", test_two},
    {"nested loops with work around the inner loop, from 1", test_mixed},
    {"three nested loops", test_three},
    {"checkpointed recurrent loop: same bits, fewer tape bytes", test_ck_rnn},
    {"checkpointed outer loop around a loop", test_ck_outer},
    {"checkpointed inner loop", test_ck_inner},
    {"checkpointed outer and inner loops", test_ck_both},
    {"loop tapes within --max-tape-bytes: segments, same bits", test_budget},
    {0, 0}};

int main(void) { return unit_run("grad_loops", tests); }
