/* test_ir_roundtrip.c — the IR text format prints and parses back exactly.
 *
 * For every sample (the .nn files of samples/) and every model of tests/nn/, at its
 * default sizes and at small ones (-D): compile the whole module (primal
 * functions, their gradients), print it, parse the text back, verify it,
 * print again: the two texts must be identical. At the small sizes every
 * function (gradients included) is also run in the interpreter before and
 * after the round trip on the same random inputs, in f32 and f64, and the
 * results must be bit for bit the same. Then the gradient functions are
 * differentiated again from the parsed text (second order from IR text). */
#include <dirent.h>

#include "unit_main.h"
#include "gradcheck.h"
#include "pipeline.h"

/* Small sizes for the samples (the interpreter runs every function). */
typedef struct Small {
  const char *file;
  Define defs[6];
  int ndefs;
} Small;

static const Small smalls[] = {
    {"fashion_mlp.nn", {{"B", "2"}, {"H", "6"}}, 2},
    {"fashion_cnn.nn", {{"B", "2"}, {"C1", "2"}, {"C2", "3"}, {"HID", "4"}}, 4},
    {"char_rnn.nn", {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}}, 5},
    {"char_lstm.nn", {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"E", "3"}, {"H", "4"}}, 5},
    {"tiny_gpt.nn", {{"B", "2"}, {"T", "4"}, {"V", "5"}, {"D", "8"}, {"NH", "2"}}, 5},
};

static char *print_module(const Module *m, size_t *len) {
  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  ir_print_module(f, m);
  fclose(f);
  return text;
}

/* The source text is the caller's to free (*src), after the arena. */
static Compiled *build(Arena *a, const char *path, const Define *defs, int ndefs, char **src_out) {
  Diag d;
  Program *p;
  int rc = gc_front(a, path, defs, ndefs, &d, src_out, &p);
  if (rc != 0) {
    diag_free(&d);
    return NULL;
  }
  Compiled *c = compile_module(a, &d, p, path, &(CompileOpts){.verify = true});
  diag_free(&d);
  return c;
}

/* Is every element the same double (NaNs by their bits)? */
static bool same_bits(const ITensor *a, const ITensor *b) {
  if (!type_eq(&a->ty, &b->ty)) return false;
  return !memcmp(a->d, b->d, sizeof(double) * (size_t)type_numel(&a->ty));
}

static int64_t args_numel(const Func *f) {
  int64_t n = 0;
  for (int i = 0; i < f->body->nargs; i++) n += type_numel(&f->body->args[i]->ty);
  return n;
}

/* Run f (original) and f2 (parsed back) on the same inputs. */
static void same_results(const Func *f, const Func *f2, const char *what) {
  CU_ASSERT_EQUAL_FATAL(f->body->nargs, f2->body->nargs);
  CU_ASSERT_EQUAL_FATAL(f->nret, f2->nret);
  ITensor args[128], r1[128], r2[128];
  gc_inputs(f, args, "", 17);
  for (int mode = 0; mode < 2; mode++) {
    char err[256];
    InterpMode im = mode ? INTERP_F64 : INTERP_F32;
    CU_ASSERT_TRUE_FATAL(interp_run(f, args, f->body->nargs, r1, im, err, sizeof err));
    CU_ASSERT_TRUE_FATAL(interp_run(f2, args, f2->body->nargs, r2, im, err, sizeof err));
    for (int k = 0; k < f->nret; k++)
      if (!same_bits(&r1[k], &r2[k])) {
        fprintf(stderr, "  %s: @%s result %d differs after the round trip (%s)\n", what, f->name, k, mode ? "f64" : "f32");
        CU_FAIL("results differ after the round trip");
      }
    gc_free_all(r1, f->nret);
    gc_free_all(r2, f2->nret);
  }
  gc_free_all(args, f->body->nargs);
}

/* Round-trip one model; with `interp`, also compare every function's results. */
static void roundtrip(const char *path, const Define *defs, int ndefs, bool interp) {
  Arena *a = arena_new();
  char *src;
  Compiled *c = build(a, path, defs, ndefs, &src);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_TRUE(c->ok);
  size_t n1, n2;
  char *t1 = print_module(c->m, &n1);
  Arena *b = arena_new();
  Diag d;
  diag_init(&d, "printed.ir", t1, n1, stderr, COLOR_NEVER);
  Module *m2 = ir_parse(b, &d, t1, n1);
  diag_free(&d);
  CU_ASSERT_PTR_NOT_NULL(m2);
  if (!m2) {
    fprintf(stderr, "  %s: the printed module does not parse back\n", path);
    goto out;
  }
  CU_ASSERT_TRUE(ir_verify_module(m2, stderr));
  CU_ASSERT_EQUAL(m2->nfuncs, c->m->nfuncs);
  CU_ASSERT_EQUAL(m2->nparams, c->m->nparams);
  char *t2 = print_module(m2, &n2);
  bool same = n1 == n2 && !memcmp(t1, t2, n1);
  CU_ASSERT_TRUE(same);
  if (!same) {
    size_t k = 0;
    while (k < n1 && k < n2 && t1[k] == t2[k]) k++;
    size_t s = k > 200 ? k - 200 : 0;
    fprintf(stderr, "  %s: texts differ at byte %zu:\n--- first\n%.400s\n--- second\n%.400s\n", path, k, t1 + s, t2 + s);
  }
  free(t2);
  if (interp)
    for (int i = 0; i < c->m->nfuncs; i++) {
      Func *f = c->m->funcs[i], *f2 = ir_find_func(m2, f->name);
      CU_ASSERT_PTR_NOT_NULL(f2);
      if (f2 && args_numel(f) < 400000) same_results(f, f2, path);
    }
out:
  free(t1);
  arena_free(b);
  arena_free(a);
  free(src);
}

static const Small *small_of(const char *name) {
  for (size_t i = 0; i < sizeof smalls / sizeof smalls[0]; i++)
    if (!strcmp(smalls[i].file, name)) return &smalls[i];
  return NULL;
}

/* Every .nn file of a directory of the source tree. */
static void each_model(const char *rel, bool small_sizes) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", NNC_SOURCE_DIR, rel);
  DIR *dp = opendir(dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL(dp);
  int n = 0;
  for (struct dirent *e; (e = readdir(dp));) {
    size_t l = strlen(e->d_name);
    if (l < 4 || strcmp(e->d_name + l - 3, ".nn")) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    const Small *s = small_of(e->d_name);
    if (small_sizes && s) roundtrip(path, s->defs, s->ndefs, true);
    else if (small_sizes) roundtrip(path, NULL, 0, true); /* tests/nn: small already */
    else roundtrip(path, NULL, 0, false);
    n++;
  }
  closedir(dp);
  CU_ASSERT(n > 0);
}

static void test_samples_default(void) { each_model("samples", false); }
static void test_samples_small(void) { each_model("samples", true); }
static void test_nn_models(void) { each_model("tests/nn", true); }

/* Differentiate the gradient of a parsed module again (the Hessian-vector
 * test does this from the compiler's IR; here from IR text): the second
 * gradient verifies and also round-trips. */
static void second_order(const char *rel, const char *fn) {
  Arena *a = arena_new();
  char path[1024], gname[256];
  snprintf(path, sizeof path, "%s/%s", NNC_SOURCE_DIR, rel);
  snprintf(gname, sizeof gname, "%s.grad", fn);
  char *src;
  Compiled *c = build(a, path, NULL, 0, &src);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  size_t n1;
  char *t1 = print_module(c->m, &n1);
  Arena *b = arena_new();
  Diag d;
  diag_init(&d, "printed.ir", t1, n1, stderr, COLOR_NEVER);
  Module *m2 = ir_parse(b, &d, t1, n1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m2);
  Func *g = ir_find_func(m2, gname);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  /* a scalar of the gradient: its first result is the loss, so grad_func
   * differentiates the loss again through the gradient's forward part */
  GradResult gg = grad_func(m2, g, NULL, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gg.f);
  CU_ASSERT_TRUE(ir_verify_func(m2, gg.f, stderr));
  CU_ASSERT_TRUE(run_passes(m2, gg.f, &(PassOpts){.verify = true}));
  /* d(loss)/d(params) computed through the gradient function's copy of the
   * forward code equals the first gradient */
  ITensor args[16], r1[16], r2[16];
  gc_inputs(g, args, "", 3);
  char err[256];
  CU_ASSERT_TRUE_FATAL(interp_run(g, args, g->body->nargs, r1, INTERP_F64, err, sizeof err));
  CU_ASSERT_TRUE_FATAL(interp_run(gg.f, args, gg.f->body->nargs, r2, INTERP_F64, err, sizeof err));
  CU_ASSERT_EQUAL_FATAL(g->nret, gg.f->nret);
  for (int k = 0; k < g->nret; k++)
    for (int64_t i = 0; i < type_numel(&r1[k].ty); i++) CU_ASSERT_DOUBLE_EQUAL(r1[k].d[i], r2[k].d[i], 1e-12);
  gc_free_all(args, g->body->nargs);
  gc_free_all(r1, g->nret);
  gc_free_all(r2, gg.f->nret);
  diag_free(&d);
  free(t1);
  arena_free(b);
  arena_free(a);
  free(src);
}

static void test_second_order_from_text(void) {
  second_order("tests/nn/mlp_tanh.nn", "loss");
  second_order("tests/nn/rnn_twins.nn", "looped");
}

static UnitTest tests[] = {
    {"samples at default sizes: print, parse, print", test_samples_default},
    {"samples at small sizes: text and interpreter results", test_samples_small},
    {"tests/nn models: text and interpreter results", test_nn_models},
    {"differentiating a parsed gradient function", test_second_order_from_text},
    {0, 0}};

int main(void) { return unit_run("ir_roundtrip", tests); }
