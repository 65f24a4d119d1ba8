/* abi_main.c — the ABI test of nnc's generated libraries: loads both
 * libraries into one process with dlopen (RTLD_GLOBAL, the setting in which
 * a leaked runtime symbol would be shared between them) and runs the test
 * groups of abi_api.c and abi_ckpt.c. Here: the library tables, the
 * helpers the groups share, and the checks of what a library is (version,
 * build information, exported symbols, status strings).
 *
 * The libraries and headers are made at build time by tests/abi.cmake in
 * ABI_DIR; the test writes its files into a fresh directory under $TMPDIR
 * and removes it, so it runs from any working directory. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abi.h"

/* ---- the libraries, as their headers describe them -------------------------------- */

static const int64_t mlp_w1[] = FASHION_MLP_PARAM_W1_SHAPE, mlp_b1[] = FASHION_MLP_PARAM_B1_SHAPE,
                     mlp_w2[] = FASHION_MLP_PARAM_W2_SHAPE, mlp_b2[] = FASHION_MLP_PARAM_B2_SHAPE,
                     mlp_w3[] = FASHION_MLP_PARAM_W3_SHAPE, mlp_b3[] = FASHION_MLP_PARAM_B3_SHAPE;
#define EXPECT(name, shape) {name, (int)(sizeof shape / sizeof shape[0]), shape}
static const ExpectParam mlp_expect[] = {EXPECT("W1", mlp_w1), EXPECT("b1", mlp_b1), EXPECT("W2", mlp_w2),
                                         EXPECT("b2", mlp_b2), EXPECT("W3", mlp_w3), EXPECT("b3", mlp_b3)};
static const int64_t cnn_c1w[] = ABI_CNN_PARAM_C1W_SHAPE, cnn_c1b[] = ABI_CNN_PARAM_C1B_SHAPE,
                     cnn_c2w[] = ABI_CNN_PARAM_C2W_SHAPE, cnn_c2b[] = ABI_CNN_PARAM_C2B_SHAPE,
                     cnn_w1[] = ABI_CNN_PARAM_W1_SHAPE, cnn_b1[] = ABI_CNN_PARAM_B1_SHAPE,
                     cnn_w2[] = ABI_CNN_PARAM_W2_SHAPE, cnn_b2[] = ABI_CNN_PARAM_B2_SHAPE;
static const ExpectParam cnn_expect[] = {EXPECT("c1w", cnn_c1w), EXPECT("c1b", cnn_c1b), EXPECT("c2w", cnn_c2w),
                                         EXPECT("c2b", cnn_c2b), EXPECT("W1", cnn_w1),   EXPECT("b1", cnn_b1),
                                         EXPECT("W2", cnn_w2),   EXPECT("b2", cnn_b2)};
#undef EXPECT

static size_t numel(const int64_t *shape, size_t rank) {
  size_t n = 1;
  for (size_t i = 0; i < rank; i++) n *= (size_t)shape[i];
  return n;
}
#define NUMEL(macro) numel((const int64_t[])macro, sizeof((const int64_t[])macro) / sizeof(int64_t))

/* The header's prototypes are the ones the Api table assumes (with the
 * object type spelled void * there). */
#define SAME_TYPE(a, b) __builtin_types_compatible_p(__typeof__(a), b)
_Static_assert(SAME_TYPE(&fashion_mlp_forward, nn_status (*)(fashion_mlp *, int64_t, const float *, float *)), "forward");
_Static_assert(SAME_TYPE(&fashion_mlp_loss_grad, nn_status (*)(fashion_mlp *, int64_t, const float *, const int32_t *, float *)),
               "loss_grad");
_Static_assert(SAME_TYPE(&fashion_mlp_train_step, nn_status (*)(fashion_mlp *, int64_t, const float *, const int32_t *, float *)),
               "train_step");
_Static_assert(SAME_TYPE(&fashion_mlp_save, nn_status (*)(const fashion_mlp *, const char *)), "save");
_Static_assert(SAME_TYPE(&fashion_mlp_param_info, const nn_tensor_info *(*)(size_t)), "param_info");
_Static_assert(SAME_TYPE(&abi_cnn_forward, nn_status (*)(abi_cnn *, int64_t, const float *, float *)), "cnn forward");

Lib lib_mlp = {
    .path = ABI_DIR "/libfashion_mlp.so", .prefix = "fashion_mlp", .source = NNC_SOURCE_DIR "/samples/fashion_mlp.nn",
    .abi_version = FASHION_MLP_ABI_VERSION, .nparams = FASHION_MLP_NUM_PARAMS,
    .param_count = FASHION_MLP_PARAM_COUNT, .param_bytes = FASHION_MLP_PARAM_BYTES, .expect = mlp_expect};
Lib lib_cnn = {
    .path = ABI_DIR "/libabi_cnn.so", .prefix = "abi_cnn", .source = NNC_SOURCE_DIR "/samples/fashion_cnn.nn",
    .abi_version = ABI_CNN_ABI_VERSION, .nparams = ABI_CNN_NUM_PARAMS, .param_count = ABI_CNN_PARAM_COUNT,
    .param_bytes = ABI_CNN_PARAM_BYTES, .expect = cnn_expect};

static void set_sizes(void) {
  lib_mlp.n = FASHION_MLP_B_MAX;
  lib_cnn.n = ABI_CNN_B_MAX;
  lib_mlp.nx = NUMEL(FASHION_MLP_FORWARD_X_SHAPE);
  lib_mlp.ny = NUMEL(FASHION_MLP_LOSS_Y_SHAPE);
  lib_mlp.nout = NUMEL(FASHION_MLP_FORWARD_OUT_SHAPE);
  lib_cnn.nx = NUMEL(ABI_CNN_FORWARD_X_SHAPE);
  lib_cnn.ny = NUMEL(ABI_CNN_LOSS_Y_SHAPE);
  lib_cnn.nout = NUMEL(ABI_CNN_FORWARD_OUT_SHAPE);
}

/* Every documented entry point, in Api's order. */
static const char *const api_names[] = {
    "create", "create_threads", "destroy", "forward", "loss", "loss_grad", "train_step", "num_params",
    "param_info", "params", "grads", "init_params", "set_learning_rate", "save", "load", "abi_version",
    "build_info", "status_string", "last_error", "set_grad_ready"};
enum { NAPI = sizeof api_names / sizeof api_names[0] };
_Static_assert(sizeof(Api) == NAPI * sizeof(void (*)(void)), "api_names lists every Api field");

static bool load_lib(Lib *L) {
  L->handle = dlopen(L->path, RTLD_NOW | RTLD_GLOBAL);
  if (!L->handle) {
    fprintf(stderr, "abi_test: dlopen %s: %s\n", L->path, dlerror());
    return false;
  }
  void **slot = (void **)&L->api; /* POSIX: function pointers convert to void * (see dlsym(3)) */
  for (int i = 0; i < NAPI; i++) {
    char name[128];
    snprintf(name, sizeof name, "%s_%s", L->prefix, api_names[i]);
    slot[i] = dlsym(L->handle, name);
    if (!slot[i]) {
      fprintf(stderr, "abi_test: %s does not export %s\n", L->path, name);
      return false;
    }
  }
  return true;
}

/* ---- helpers ------------------------------------------------------------------------ */

char tmp_dir[512];

void make_batch(const Lib *L, uint64_t seed, float *x, int32_t *y) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < L->nx; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)(s >> 40) / (float)(1 << 24);
  }
  for (size_t i = 0; i < L->ny; i++) y[i] = (int32_t)((i * 7 + seed) % 10);
}

uint8_t *snapshot(const Lib *L, void *m) {
  float *p = L->api.params(m);
  uint8_t *s = p ? malloc(L->param_bytes) : NULL;
  if (s) memcpy(s, p, L->param_bytes);
  return s;
}

bool same_params(const Lib *L, void *m, const uint8_t *snap) {
  float *p = L->api.params(m);
  return p && snap && !memcmp(p, snap, L->param_bytes);
}

const char *tmp_path(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmp_dir, name);
  return buf;
}

uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) {
    b[n] = 0;
    *len = (size_t)n;
  }
  return b;
}

bool write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

bool contains(const char *haystack, const char *needle) { return haystack && strstr(haystack, needle); }

void expect_failure(const Lib *L, nn_status got, nn_status want, const char *why, const char *what, int line) {
  const char *msg = L->api.last_error();
  bool ok = got == want && contains(msg, why);
  if (!ok) fprintf(stderr, "\n  line %d: %s gave %d \"%s\", wanted %d mentioning \"%s\"\n", line, what, got, msg, want, why);
  CU_ASSERT(ok);
}

/* ---- what a library is ---------------------------------------------------------------- */

static uint64_t fnv1a(const uint8_t *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

static void check_info(const Lib *L) {
  CU_ASSERT_EQUAL(L->api.abi_version(), L->abi_version);
  CU_ASSERT_EQUAL(L->api.num_params(), L->nparams);
  const char *info = L->api.build_info();
  CU_ASSERT_PTR_NOT_NULL_FATAL(info);
  CU_ASSERT(contains(info, "nnc " NNC_VERSION));
  const char *base = strrchr(L->source, '/') + 1;
  CU_ASSERT(contains(info, base));
  size_t len;
  uint8_t *src = read_file(L->source, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  char hash[40];
  snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)fnv1a(src, len));
  CU_ASSERT(contains(info, hash)); /* the hash of the source it was built from */
  free(src);
}

static void test_version_and_build_info(void) {
  check_info(&lib_mlp);
  check_info(&lib_cnn);
}

static bool listed(const char *prefix, const char *name) {
  size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) || name[n] != '_') return false;
  for (int i = 0; i < NAPI; i++)
    if (!strcmp(name + n + 1, api_names[i])) return true;
  /* the split training step (tested by tests/mpi/grad_update.c) */
  if (!strcmp(name + n + 1, "grad") || !strcmp(name + n + 1, "apply_update")) return true;
  return !strcmp(name + n + 1, "descriptor"); /* for nnc's own tools (bench, tests) */
}

/* Exported: the API and nothing else. Needed: no runtime symbol (the runtime
 * is linked in), and nothing of the other library. */
static void check_exports(const Lib *L, const Lib *other) {
  char err[256];
  DynSym *s = NULL;
  int n = elf_dynsyms(L->path, &s, err, sizeof err);
  if (n < 0) fprintf(stderr, "%s\n", err);
  CU_ASSERT_FATAL(n > 0);
  int found = 0;
  for (int i = 0; i < n; i++) {
    bool ok = s[i].defined ? listed(L->prefix, s[i].name) && s[i].func
                           : strncmp(s[i].name, "rt_", 3) && strncmp(s[i].name, "nn_", 3) &&
                                 strncmp(s[i].name, other->prefix, strlen(other->prefix));
    if (!ok) fprintf(stderr, "%s: unexpected %s symbol %s\n", L->path, s[i].defined ? "exported" : "needed", s[i].name);
    CU_ASSERT(ok);
    found += s[i].defined;
  }
  CU_ASSERT(found >= NAPI); /* and load_lib found each by name */
  free(s);
}

static void test_exports(void) {
  check_exports(&lib_mlp, &lib_cnn);
  check_exports(&lib_cnn, &lib_mlp);
}

static void check_status_strings(const Lib *L) {
  const char *seen[NN_ERR_INTERNAL + 1];
  for (int s = NN_OK; s <= NN_ERR_INTERNAL; s++) {
    seen[s] = L->api.status_string((nn_status)s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen[s]);
    CU_ASSERT(strlen(seen[s]) > 0);
    for (int k = 0; k < s; k++) CU_ASSERT(strcmp(seen[k], seen[s]) != 0);
  }
  CU_ASSERT(contains(seen[NN_ERR_FORMAT], "NN_ERR_FORMAT"));
  CU_ASSERT_PTR_NOT_NULL(L->api.status_string((nn_status)-1));
  CU_ASSERT_PTR_NOT_NULL(L->api.status_string((nn_status)12));
  CU_ASSERT_PTR_NOT_NULL(L->api.status_string((nn_status)1000000));
}

static void test_status_strings(void) {
  check_status_strings(&lib_mlp);
  check_status_strings(&lib_cnn);
}

/* fashion_mlp's forward result (parameters and batch from seed 1) before abi_cnn was loaded. */
static float *mlp_alone;

static float *mlp_forward_seed1(void) {
  const Api *A = &lib_mlp.api;
  void *m = NULL;
  float *x = malloc(lib_mlp.nx * sizeof *x), *out = calloc(lib_mlp.nout, sizeof *out);
  int32_t *y = malloc(lib_mlp.ny * sizeof *y);
  make_batch(&lib_mlp, 1, x, y);
  if (A->create(&m, 1) || A->forward(m, lib_mlp.n, x, out)) {
    free(out);
    out = NULL;
  }
  A->destroy(m);
  free(x);
  free(y);
  return out;
}

/* Both libraries in one process: fashion_mlp computes what it did alone,
 * and each keeps its own last error (their runtimes are separate copies). */
static void test_two_libraries(void) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(mlp_alone);
  float *now = mlp_forward_seed1();
  CU_ASSERT_PTR_NOT_NULL_FATAL(now);
  CU_ASSERT(!memcmp(now, mlp_alone, lib_mlp.nout * sizeof *now));
  free(now);
  CU_ASSERT_EQUAL(lib_mlp.api.create(NULL, 1), NN_ERR_NULL);
  char mlp_msg[1024];
  snprintf(mlp_msg, sizeof mlp_msg, "%s", lib_mlp.api.last_error());
  CU_ASSERT_EQUAL(lib_cnn.api.load(NULL, "x"), NN_ERR_NULL);
  CU_ASSERT_STRING_EQUAL(lib_mlp.api.last_error(), mlp_msg);
  CU_ASSERT(strcmp(lib_cnn.api.last_error(), mlp_msg) != 0);
}

static const UnitTest lib_tests[] = {{"version and build info", test_version_and_build_info},
                                     {"only NAME_* exported", test_exports},
                                     {"status strings", test_status_strings},
                                     {"two libraries in one process", test_two_libraries},
                                     {0, 0}};

/* ---- main ---------------------------------------------------------------------------- */

static void remove_tmp_dir(void) {
  DIR *d = opendir(tmp_dir);
  if (!d) return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
      if (unlink(p) != 0) rmdir(p);
    }
  closedir(d);
  rmdir(tmp_dir);
}

int main(void) {
  set_sizes();
  const char *t = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof tmp_dir, "%s/nnc-abi-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmp_dir)) {
    perror("abi_test: mkdtemp");
    return 2;
  }
  int rc = 2;
  if (load_lib(&lib_mlp)) {
    mlp_alone = mlp_forward_seed1(); /* before the other library exists */
    if (load_lib(&lib_cnn)) {
      rc = unit_run("library", lib_tests);
      rc |= unit_run("api", abi_api_tests);
      rc |= unit_run("checkpoints", abi_ckpt_tests);
      rc |= unit_run("run-time batch", abi_dyn_tests);
      rc |= unit_run("gradient announcements", abi_hook_tests);
    }
  }
  remove_tmp_dir();
  free(mlp_alone);
  /* the handles stay open: ASan's leak report needs the libraries' symbols */
  return rc;
}
