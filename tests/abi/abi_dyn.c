/* abi_dyn.c — the API of a library with a run-time batch (tests/nn/dyn_mlp.nn,
 * `dim N <= 12`, built as abi_dyn): every function sized by N takes
 * int64_t n after the object; n = 0 and n = bound + 1 are NN_ERR_SHAPE and
 * change nothing, 1..bound work; a batch's rows are computed independently
 * (one image per call gives the rows of a whole-batch call); labels are
 * range-checked over the n rows only. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "abi_dyn.h"

#define SAME_TYPE(a, b) __builtin_types_compatible_p(__typeof__(a), __typeof__(b))
_Static_assert(SAME_TYPE(&abi_dyn_forward, nn_status (*)(abi_dyn *, int64_t, const float *, float *)), "forward");
_Static_assert(SAME_TYPE(&abi_dyn_train_step, nn_status (*)(abi_dyn *, int64_t, const float *, const int32_t *, float *)),
               "train_step");
_Static_assert(ABI_DYN_N_MAX == 12, "the bound macro");

typedef struct DynApi {
  nn_status (*create)(void **out, uint64_t seed);
  void (*destroy)(void *m);
  nn_status (*forward)(void *m, int64_t n, const float *x, float *out);
  nn_status (*loss)(void *m, int64_t n, const float *x, const int32_t *y, float *out);
  nn_status (*train_step)(void *m, int64_t n, const float *x, const int32_t *y, float *loss);
  float *(*params)(void *m);
  const char *(*last_error)(void);
} DynApi;

static DynApi A;
static void *handle;

enum { B = ABI_DYN_N_MAX, IN = 6, OUT = 3 };

static bool load(void) {
  if (handle) return true;
  handle = dlopen(ABI_DIR "/libabi_dyn.so", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fprintf(stderr, "abi_dyn: %s\n", dlerror());
    return false;
  }
  const char *names[] = {"create", "destroy", "forward", "loss", "train_step", "params", "last_error"};
  void **slot = (void **)&A;
  for (int i = 0; i < 7; i++) {
    char nm[64];
    snprintf(nm, sizeof nm, "abi_dyn_%s", names[i]);
    if (!(slot[i] = dlsym(handle, nm))) return false;
  }
  return true;
}

static void batch(float *x, int32_t *y, int n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < n * IN; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
  }
  for (int i = 0; i < n; i++) y[i] = i % OUT;
}

static void test_sizes(void) {
  CU_ASSERT_TRUE_FATAL(load());
  void *m = NULL;
  CU_ASSERT_EQUAL_FATAL(A.create(&m, 3), NN_OK);
  float x[B * IN], out[B * OUT], loss = -1;
  int32_t y[B];
  batch(x, y, B, 1);
  uint8_t before[4096];
  memcpy(before, A.params(m), sizeof before < ABI_DYN_PARAM_BYTES ? sizeof before : ABI_DYN_PARAM_BYTES);
  int64_t bad[] = {0, B + 1, -1};
  for (int k = 0; k < 3; k++) {
    CU_ASSERT_EQUAL(A.forward(m, bad[k], x, out), NN_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(A.last_error(), "n = "));
    CU_ASSERT_EQUAL(A.loss(m, bad[k], x, y, &loss), NN_ERR_SHAPE);
    CU_ASSERT_EQUAL(A.train_step(m, bad[k], x, y, &loss), NN_ERR_SHAPE);
  }
  CU_ASSERT_EQUAL(memcmp(before, A.params(m), sizeof before < ABI_DYN_PARAM_BYTES ? sizeof before : ABI_DYN_PARAM_BYTES), 0);
  CU_ASSERT_EQUAL(A.forward(m, B, x, out), NN_OK);
  CU_ASSERT_EQUAL(A.loss(m, B, x, y, &loss), NN_OK);
  CU_ASSERT(isfinite(loss) && loss > 0);
  CU_ASSERT_EQUAL(A.train_step(m, B, x, y, &loss), NN_OK);
  CU_ASSERT_EQUAL(A.train_step(m, 5, x, y, &loss), NN_OK);
  A.destroy(m);
}

/* One row per call gives the rows of a whole-batch call, bit for bit; the
 * loss over n rows is the mean of the per-row losses. */
static void test_rows(void) {
  CU_ASSERT_TRUE_FATAL(load());
  void *m = NULL;
  CU_ASSERT_EQUAL_FATAL(A.create(&m, 5), NN_OK);
  float x[B * IN], all[B * OUT], one[OUT], sum = 0, l = 0, lall = 0;
  int32_t y[B];
  batch(x, y, B, 2);
  CU_ASSERT_EQUAL_FATAL(A.forward(m, B, x, all), NN_OK);
  for (int i = 0; i < B; i++) {
    CU_ASSERT_EQUAL_FATAL(A.forward(m, 1, x + i * IN, one), NN_OK);
    CU_ASSERT_EQUAL(memcmp(one, all + i * OUT, sizeof one), 0);
  }
  for (int i = 0; i < 7; i++) {
    CU_ASSERT_EQUAL_FATAL(A.loss(m, 1, x + i * IN, y + i, &l), NN_OK);
    sum += l;
  }
  CU_ASSERT_EQUAL_FATAL(A.loss(m, 7, x, y, &lall), NN_OK);
  CU_ASSERT(fabsf(lall - sum / 7) <= 1e-5f * fabsf(lall));
  A.destroy(m);
}

/* Labels past the n rows are not read; a bad label among them is NN_ERR_RANGE. */
static void test_labels(void) {
  CU_ASSERT_TRUE_FATAL(load());
  void *m = NULL;
  CU_ASSERT_EQUAL_FATAL(A.create(&m, 5), NN_OK);
  float x[B * IN], l;
  int32_t y[B];
  batch(x, y, B, 3);
  y[4] = 99;
  CU_ASSERT_EQUAL(A.loss(m, 4, x, y, &l), NN_OK);
  CU_ASSERT_EQUAL(A.loss(m, 5, x, y, &l), NN_ERR_RANGE);
  A.destroy(m);
}

const UnitTest abi_dyn_tests[] = {{"n = 0, bound + 1, -1 fail; 1..bound work", test_sizes},
                                  {"one row per call = the rows of a batch", test_rows},
                                  {"labels checked over n rows", test_labels},
                                  {0, 0}};
