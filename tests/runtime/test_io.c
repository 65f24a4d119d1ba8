/* test_io.c — the runtime's file formats: .npy, safetensors (and its JSON
 * parser), IDX (plain and gzip), CSV, text and vocabularies, atomic writes.
 *
 * Besides round trips and hand-made files with known byte layouts, every
 * reader is run on: a missing file, an empty file, every truncation of a
 * valid file, absurd sizes (which must fail without allocating them),
 * random garbage, mutated valid files, a named pipe and devices (refused
 * at once: only regular files are read), and failing allocations
 * (the k-th allocation fails for every k; the read must fail with
 * NN_ERR_NOMEM or succeed, and free everything). Run it under ASan.
 *
 * All files go to a mkdtemp directory, removed at the end. */
#include "unit_main.h"

#include "rt_io.h"
#include "rt_json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "alloc_hook.h"
#include "tmpdir.h"

/* ---- helpers ----------------------------------------------------------- */


/* The whole file, malloc'd; NULL if it does not exist. */
static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  *n = 0;
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  uint8_t *b = malloc(cap);
  size_t got;
  while ((got = fread(b + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len == cap) b = realloc(b, cap *= 2);
  }
  fclose(f);
  *n = len;
  return b;
}

static void write_gz(const char *path, const void *p, size_t n) {
  unlink(path);
  gzFile gz = gzopen(path, "wb");
  CU_ASSERT_FATAL(gz != NULL);
  CU_ASSERT_FATAL(gzwrite(gz, p, (unsigned)n) == (int)n);
  CU_ASSERT_FATAL(gzclose(gz) == Z_OK);
}

static bool file_equals(const char *path, const void *p, size_t n) {
  size_t len;
  uint8_t *b = slurp(path, &len);
  bool eq = b && len == n && memcmp(b, p, n) == 0;
  free(b);
  return eq;
}

/* Entries of tmp_dir whose name contains `part`. */
static int count_entries(const char *part) {
  DIR *d = opendir(tmp_dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
        strstr(e->d_name, part))
      n++;
  if (d) closedir(d);
  return n;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1Dull;
}

/* Asserts a status and that the message contains the path and `needle`. */
#define EXPECT_ERR(call, want, path, needle) \
  expect_err((call), (want), (path), (needle), __LINE__)
static void expect_err(nn_status got, nn_status want, const char *path,
                       const char *needle, int line) {
  const char *m = rt_last_error();
  bool ok = got == want && (!path || strstr(m, path)) &&
            (!needle || strstr(m, needle));
  if (!ok)
    printf("\n    line %d: got status %d, message \"%s\"; wanted status %d "
           "and \"%s\"\n", line, (int)got, m, (int)want, needle ? needle : "");
  CU_assertImplementation(ok, (unsigned)line, "expected error", __FILE__, "",
                          CU_FALSE);
}

#define EXPECT_OK(call) expect_ok((call), __LINE__)
static void expect_ok(nn_status got, int line) {
  if (got != NN_OK)
    printf("\n    line %d: status %d: %s\n", line, (int)got, rt_last_error());
  CU_assertImplementation(got == NN_OK, (unsigned)line, "NN_OK", __FILE__, "",
                          CU_FALSE);
}

/* ---- reader wrappers: read, check the result is consistent, free ---------- */

static bool consistent(const rt_tensor *t) {
  size_t nb;
  return t->data && rt_shape_nbytes(t->dtype, t->rank, t->shape, &nb) == NN_OK &&
         nb == t->nbytes && rt_tensor_numel(t) >= 0;
}

static nn_status do_npy(const char *path) {
  rt_tensor t;
  nn_status s = rt_npy_read(path, &t);
  if (s == NN_OK && !consistent(&t)) s = NN_ERR_INTERNAL;
  rt_tensor_free(&t);
  return s;
}

static nn_status do_st(const char *path) {
  rt_tensorset ts;
  nn_status s = rt_st_read(path, &ts);
  for (int i = 0; s == NN_OK && i < ts.n; i++)
    if (!consistent(&ts.t[i]) || !ts.t[i].name) s = NN_ERR_INTERNAL;
  rt_ts_free(&ts);
  return s;
}

static nn_status do_idx(const char *path) {
  rt_tensor t;
  nn_status s = rt_idx_read(path, &t);
  if (s == NN_OK && (!consistent(&t) || t.rank < 1)) s = NN_ERR_INTERNAL;
  rt_tensor_free(&t);
  return s;
}

static nn_status do_csv(const char *path) {
  rt_tensor x, y;
  nn_status s = rt_csv_read(path, -1, &x, &y);
  if (s == NN_OK && (!consistent(&x) || !consistent(&y) ||
                     x.shape[0] != y.shape[0]))
    s = NN_ERR_INTERNAL;
  rt_tensor_free(&x);
  rt_tensor_free(&y);
  return s;
}

static nn_status do_text(const char *path) {
  uint8_t *b;
  size_t n;
  nn_status s = rt_text_read(path, &b, &n);
  if (s == NN_OK) rt_free(b);
  return s;
}

/* A reader on a truncated copy of `full`, at every length below full. */
static void truncation_loop(const char *what, const uint8_t *full, size_t n,
                            nn_status (*fn)(const char *), const char *path) {
  for (size_t len = 0; len < n; len++) {
    write_bytes(path, full, len);
    nn_status s = fn(path);
    if (s != NN_ERR_FORMAT || !strstr(rt_last_error(), path))
      printf("\n    %s truncated to %zu of %zu bytes: status %d (%s)\n", what,
             len, n, (int)s, rt_last_error());
    CU_ASSERT_EQUAL(s, NN_ERR_FORMAT);
  }
  write_bytes(path, full, n);
  EXPECT_OK(fn(path));
}

/* Random mutations of a valid file: a reader must either succeed with a
 * consistent result or fail with NN_ERR_FORMAT naming the file. */
static void mutation_loop(const char *what, const uint8_t *full, size_t n,
                          nn_status (*fn)(const char *), const char *path,
                          int iters) {
  uint8_t *b = malloc(n + 16);
  for (int it = 0; it < iters; it++) {
    memcpy(b, full, n);
    size_t len = n;
    int flips = 1 + (int)(rnd() % 4);
    for (int k = 0; k < flips; k++) b[rnd() % n] = (uint8_t)rnd();
    if (rnd() % 8 == 0) len += rnd() % 16; /* trailing garbage */
    for (size_t k = n; k < len; k++) b[k] = (uint8_t)rnd();
    write_bytes(path, b, len);
    nn_status s = fn(path);
    bool ok = s == NN_OK || (s == NN_ERR_FORMAT && strstr(rt_last_error(), path));
    if (!ok)
      printf("\n    %s mutation %d: status %d (%s)\n", what, it, (int)s,
             rt_last_error());
    CU_ASSERT(ok);
  }
  free(b);
}


/* ---- dtypes and tensors --------------------------------------------------- */

/* rt_realloc and rt_grow: contents kept, failures leave the block alone. */
static void test_grow(void) {
  size_t cap = 0;
  int *a = rt_grow(NULL, &cap, 3, sizeof *a);
  CU_ASSERT_FATAL(a != NULL);
  CU_ASSERT(cap >= 16);
  for (int i = 0; i < 16; i++) a[i] = i;
  size_t old = cap;
  CU_ASSERT(rt_grow(a, &cap, old, sizeof *a) == a && cap == old); /* room enough */
  int *b = rt_grow(a, &cap, old + 1, sizeof *a);
  CU_ASSERT_FATAL(b != NULL);
  CU_ASSERT(cap >= 2 * old);
  bool kept = true;
  for (int i = 0; i < 16; i++) kept &= b[i] == i;
  CU_ASSERT(kept);
  hook_on(0); /* the next allocation fails: b and cap stay */
  size_t c2 = cap;
  CU_ASSERT(rt_grow(b, &c2, cap + 1, sizeof *b) == NULL && c2 == cap);
  hook_off();
  CU_ASSERT(b[15] == 15);
  c2 = cap;
  CU_ASSERT(rt_grow(b, &c2, SIZE_MAX / 2, sizeof *b) == NULL && c2 == cap); /* overflows */
  CU_ASSERT(strstr(rt_last_error(), "overflows") != NULL);
  char *r = rt_realloc(b, 16 * sizeof *b, 8);
  CU_ASSERT_FATAL(r != NULL);
  CU_ASSERT(((int *)(void *)r)[1] == 1);
  rt_free(r);
}

/* rt_parse_*: decimal digits only, in range. */
static void test_parse_numbers(void) {
  int64_t i = 7;
  uint64_t u = 7;
  double d = 7;
  CU_ASSERT(rt_parse_i64("-12", -20, 20, &i) && i == -12);
  CU_ASSERT(rt_parse_i64("-9223372036854775808", INT64_MIN, 0, &i) && i == INT64_MIN);
  CU_ASSERT(rt_parse_i64("9223372036854775807", 0, INT64_MAX, &i) && i == INT64_MAX);
  const char *bad_i[] = {"", "-", " 1", "1 ", "+1", "0x1", "1e3", "9223372036854775808", "--1", "21", NULL};
  for (int k = 0; bad_i[k]; k++) CU_ASSERT(!rt_parse_i64(bad_i[k], -20, 20, &i));
  CU_ASSERT(i == INT64_MAX); /* untouched by the failures */
  CU_ASSERT(rt_parse_u64("18446744073709551615", UINT64_MAX, &u) && u == UINT64_MAX);
  CU_ASSERT(!rt_parse_u64("18446744073709551616", UINT64_MAX, &u) && !rt_parse_u64("-0", UINT64_MAX, &u));
  CU_ASSERT(!rt_parse_u64("11", 10, &u) && u == UINT64_MAX);
  CU_ASSERT(rt_parse_f64("-1.5e-3", &d) && d == -1.5e-3);
  CU_ASSERT(rt_parse_f64("0.12345678901234567", &d));
  const char *bad_f[] = {"", " 1", "1 ", "nan", "inf", "-inf", "0x1p3", "1e400", "1,5", "1e", NULL};
  for (int k = 0; bad_f[k]; k++) CU_ASSERT(!rt_parse_f64(bad_f[k], &d));
}

static void test_dtypes_tensors(void) {
  static const char *names[] = {"f32", "f64", "i32", "i64", "u8", "i8", "i16", "bool"};
  static const size_t sizes[] = {4, 8, 4, 8, 1, 1, 2, 1};
  for (int i = 0; i < RT_NUM_DTYPES; i++) {
    CU_ASSERT_STRING_EQUAL(rt_dtype_name((rt_dtype)i), names[i]);
    CU_ASSERT_EQUAL(rt_dtype_size((rt_dtype)i), sizes[i]);
    rt_dtype d;
    CU_ASSERT(rt_dtype_parse(names[i], &d) && d == (rt_dtype)i);
  }
  CU_ASSERT_STRING_EQUAL(rt_dtype_name((rt_dtype)99), "?");
  CU_ASSERT_EQUAL(rt_dtype_size((rt_dtype)-1), 0);
  CU_ASSERT(!rt_dtype_parse("f16", NULL));

  rt_tensor t = {.dtype = RT_F32, .rank = 2, .shape = {128, 784}};
  char buf[64];
  CU_ASSERT_STRING_EQUAL(rt_tensor_shape_str(&t, buf, sizeof buf), "f32[128,784]");
  CU_ASSERT_STRING_EQUAL(rt_tensor_shape_str(&t, buf, 7), "f32[12");
  CU_ASSERT_EQUAL(rt_tensor_numel(&t), 128 * 784);
  rt_tensor s0 = {.dtype = RT_BOOL, .rank = 0};
  CU_ASSERT_STRING_EQUAL(rt_tensor_shape_str(&s0, buf, sizeof buf), "bool[]");
  CU_ASSERT_EQUAL(rt_tensor_numel(&s0), 1);
  rt_tensor big = {.dtype = RT_F64, .rank = 3, .shape = {1ll << 40, 1ll << 40, 2}};
  CU_ASSERT_EQUAL(rt_tensor_numel(&big), -1);
  size_t nb;
  CU_ASSERT_EQUAL(rt_shape_nbytes(RT_F64, 3, big.shape, &nb), NN_ERR_RANGE);
  int64_t neg[1] = {-1};
  CU_ASSERT_EQUAL(rt_shape_nbytes(RT_F32, 1, neg, &nb), NN_ERR_RANGE);
  CU_ASSERT_EQUAL(rt_shape_nbytes(RT_F32, 9, t.shape, &nb), NN_ERR_RANGE);
  int64_t zs[2] = {0, 1ll << 62};
  EXPECT_OK(rt_shape_nbytes(RT_I64, 2, zs, &nb));
  CU_ASSERT_EQUAL(nb, 0);

  rt_tensor a;
  int64_t shp[2] = {3, 5};
  EXPECT_OK(rt_tensor_alloc(&a, "w", RT_I16, 2, shp));
  CU_ASSERT_STRING_EQUAL(a.name, "w");
  CU_ASSERT_EQUAL(a.nbytes, 30);
  CU_ASSERT(a.data != NULL && ((int16_t *)a.data)[14] == 0);
  EXPECT_OK(rt_tensor_check(&a, "x"));
  a.nbytes = 29;
  EXPECT_ERR(rt_tensor_check(&a, "file.st"), NN_ERR_ARG, "file.st", "i16[3,5] (30 bytes)");
  rt_tensor_free(&a);
  CU_ASSERT(a.name == NULL && a.data == NULL && a.rank == 0);
  rt_tensor_free(NULL);
  /* Borrowed data is not freed (ASan would report a double free). */
  int32_t mine[2];
  rt_tensor b = {.dtype = RT_I32, .rank = 1, .shape = {2}, .data = mine,
                 .nbytes = 8, .borrowed = true};
  rt_tensor_free(&b);
  EXPECT_ERR(rt_tensor_alloc(&a, NULL, RT_F32, 1, neg), NN_ERR_ARG, NULL, "negative");
}

/* ---- .npy ---------------------------------------------------------------- */

/* Fills n bytes of random data valid for dtype (bools are 0 or 1). */
static void fill(void *p, size_t n, rt_dtype dt) {
  uint8_t *b = p;
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd();
  if (dt == RT_BOOL)
    for (size_t i = 0; i < n; i++) b[i] &= 1;
}

static const int64_t rt_shapes[][RT_MAX_RANK + 1] = {
    /* rank, dims... */
    {0}, {1, 5}, {3, 2, 3, 4}, {3, 2, 0, 3}, {1, 0}, {8, 1, 2, 1, 2, 1, 2, 1, 2},
};
#define NSHAPES (sizeof rt_shapes / sizeof rt_shapes[0])

static rt_tensor make_tensor(const char *name, rt_dtype dt, const int64_t *rs) {
  rt_tensor t;
  CU_ASSERT_FATAL(rt_tensor_alloc(&t, name, dt, (int)rs[0], rs + 1) == NN_OK);
  fill(t.data, t.nbytes, dt);
  return t;
}

static bool same_tensor(const rt_tensor *a, const rt_tensor *b) {
  if (a->dtype != b->dtype || a->rank != b->rank || a->nbytes != b->nbytes)
    return false;
  for (int i = 0; i < a->rank; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

static void test_npy_roundtrip(void) {
  const char *path = tp("rt.npy");
  for (int dt = 0; dt < RT_NUM_DTYPES; dt++)
    for (size_t k = 0; k < NSHAPES; k++) {
      rt_tensor t = make_tensor("ignored", (rt_dtype)dt, rt_shapes[k]), u;
      EXPECT_OK(rt_npy_write(path, &t));
      EXPECT_OK(rt_npy_read(path, &u));
      char b1[64], b2[64];
      if (!same_tensor(&t, &u))
        printf("\n    npy round trip: wrote %s, read %s\n",
               rt_tensor_shape_str(&t, b1, 64), rt_tensor_shape_str(&u, b2, 64));
      CU_ASSERT(same_tensor(&t, &u));
      CU_ASSERT(u.name == NULL && u.data != NULL && !u.borrowed);
      rt_tensor_free(&t);
      rt_tensor_free(&u);
    }
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);

  /* The exact bytes NumPy writes for np.zeros((2, 3), '<f4'): 64-aligned
   * header, data after it. */
  float z[6] = {0};
  rt_tensor t = {.dtype = RT_F32, .rank = 2, .shape = {2, 3}, .data = z,
                 .nbytes = sizeof z, .borrowed = true};
  EXPECT_OK(rt_npy_write(path, &t));
  size_t n;
  uint8_t *b = slurp(path, &n);
  CU_ASSERT_FATAL(b != NULL);
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  CU_ASSERT_EQUAL(n, 128 + 24);
  CU_ASSERT(memcmp(b, "\x93NUMPY\x01\x00\x76\x00", 10) == 0); /* len 118 */
  CU_ASSERT(memcmp(b + 10, dict, strlen(dict)) == 0);
  CU_ASSERT_EQUAL(b[127], '\n');
  CU_ASSERT_EQUAL(b[126], ' ');
  free(b);
  /* Rank 1 is written "(5,)" as Python does, rank 0 "()". */
  t.rank = 1;
  t.shape[0] = 6;
  EXPECT_OK(rt_npy_write(path, &t));
  b = slurp(path, &n);
  CU_ASSERT_FATAL(b != NULL);
  CU_ASSERT(memmem(b, 128, "'shape': (6,), }", 16) != NULL);
  free(b);

  /* Bad tensors are refused before anything is created. */
  t.nbytes = 20;
  EXPECT_ERR(rt_npy_write(tp("bad.npy"), &t), NN_ERR_ARG, "bad.npy", "nbytes");
  t.nbytes = 24;
  t.dtype = (rt_dtype)42;
  EXPECT_ERR(rt_npy_write(tp("bad.npy"), &t), NN_ERR_ARG, "bad.npy", "dtype");
  CU_ASSERT_EQUAL(count_entries("bad.npy"), 0);
}

/* .npy bytes with a given version and dict text (padded to 16 and '\n'). */
static size_t make_npy(uint8_t *out, int major, const char *dict,
                       const void *data, size_t dlen) {
  size_t pre = major == 1 ? 10 : 12, hl = strlen(dict) + 1;
  while ((pre + hl) % 16) hl++;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (uint8_t)major;
  out[7] = 0;
  for (size_t k = 0; k < pre - 8; k++) out[8 + k] = (uint8_t)(hl >> (8 * k));
  memset(out + pre, ' ', hl);
  memcpy(out + pre, dict, strlen(dict));
  out[pre + hl - 1] = '\n';
  if (dlen) memcpy(out + pre + hl, data, dlen);
  return pre + hl + dlen;
}

static void test_npy_handmade(void) {
  const char *path = tp("hand.npy");
  uint8_t buf[1024];
  rt_tensor t;
  int32_t v[3] = {1, -2, 300000};
  /* Version 2.0 and 3.0, double quotes, keys in another order, Python 2
   * longs, no trailing comma. */
  const char *dicts[] = {
      "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
      "{\"shape\": (3L,), \"fortran_order\": False, \"descr\": \"=i4\"}",
      "{ 'fortran_order' : False , 'descr':'<i4','shape':( 3 , ) }",
  };
  for (int major = 1; major <= 3; major++)
    for (int d = 0; d < 3; d++) {
      write_bytes(path, buf, make_npy(buf, major, dicts[d], v, sizeof v));
      EXPECT_OK(rt_npy_read(path, &t));
      CU_ASSERT(t.dtype == RT_I32 && t.rank == 1 && t.shape[0] == 3 &&
                memcmp(t.data, v, sizeof v) == 0);
      rt_tensor_free(&t);
    }
  /* Big-endian data is converted. */
  uint8_t be[6] = {0x01, 0x02, 0xff, 0xfe, 0x80, 0x00};
  write_bytes(path, buf, make_npy(buf, 1, "{'descr': '>i2', 'fortran_order': "
                                  "False, 'shape': (3,), }", be, 6));
  EXPECT_OK(rt_npy_read(path, &t));
  CU_ASSERT(t.dtype == RT_I16 && ((int16_t *)t.data)[0] == 0x0102 &&
            ((int16_t *)t.data)[1] == -2 && ((int16_t *)t.data)[2] == INT16_MIN);
  rt_tensor_free(&t);
  double d2 = 2.5;
  uint8_t bed[8];
  for (int k = 0; k < 8; k++) bed[k] = ((uint8_t *)&d2)[7 - k];
  write_bytes(path, buf, make_npy(buf, 1, "{'descr': '>f8', 'fortran_order': "
                                  "False, 'shape': (), }", bed, 8));
  EXPECT_OK(rt_npy_read(path, &t));
  CU_ASSERT(t.dtype == RT_F64 && t.rank == 0 && *(double *)t.data == 2.5);
  rt_tensor_free(&t);

  static const struct {
    int major;
    const char *dict;
    size_t dlen;
    const char *needle;
  } bad[] = {
      {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", 12, "Fortran order"},
      {1, "{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }", 6, "'<u2' is not supported"},
      {1, "{'descr': '|f4', 'fortran_order': False, 'shape': (3,), }", 12, "'|f4'"},
      {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 12, "structured"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", 12, "unknown key 'x'"},
      {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 12, "twice"},
      {1, "{'descr': '<f4', 'fortran_order': False}", 12, "lacks the key 'shape'"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} x", 12, "found 'x'"},
      {1, "{'descr': '<f4', 'fortran_order': false, 'shape': (3,)}", 12, "True or False"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", 12, "non-negative integer"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4)}", 12, "',' or ')'"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4, "more than 8"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4, "too large"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 20, "needs 24 data bytes, found 20"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 28, "needs 24 data bytes, found 28"},
      {1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}", 2, "bool element 1 is 7"},
      {1, "['descr', '<f4']", 4, "expected '{'"},
      /* 2^60 elements: fails without allocating it. */
      {1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1073741824, 1073741824)}", 8, "needs 1152921504606846976 data bytes, found 8"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1073741824, 1073741824)}", 8, "too large"},
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}", 8, "too large"},
  };
  uint8_t data[64] = {0};
  data[1] = 7;
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    size_t n = make_npy(buf, bad[k].major, bad[k].dict, data, bad[k].dlen);
    write_bytes(path, buf, n);
    hook_on(-1);
    EXPECT_ERR(rt_npy_read(path, &t), NN_ERR_FORMAT, path, bad[k].needle);
    CU_ASSERT(H.max_size < 4096 && H.live == 0);
    hook_off();
  }
  /* Magic, version and header length. */
  size_t n = make_npy(buf, 1, dicts[0], v, sizeof v);
  buf[0] = 0x92;
  write_bytes(path, buf, n);
  EXPECT_ERR(rt_npy_read(path, &t), NN_ERR_FORMAT, path, "expected the magic");
  buf[0] = 0x93;
  buf[6] = 4;
  write_bytes(path, buf, n);
  EXPECT_ERR(rt_npy_read(path, &t), NN_ERR_FORMAT, path, "version 4.0");
  buf[6] = 2; /* now the 4-byte length reads as huge */
  write_bytes(path, buf, n);
  EXPECT_ERR(rt_npy_read(path, &t), NN_ERR_FORMAT, path, "too large");
  buf[6] = 1;
  buf[8] = buf[9] = 0xff; /* 65535 bytes, past the end */
  write_bytes(path, buf, n);
  hook_on(-1);
  EXPECT_ERR(rt_npy_read(path, &t), NN_ERR_FORMAT, path, "header length 65535 is past the end of the file");
  CU_ASSERT(H.n == 0);
  hook_off();
}

static void test_npy_robust(void) {
  const char *path = tp("r.npy");
  float v[6] = {1, 2, 3, 4, 5, 6};
  rt_tensor t = {.dtype = RT_F32, .rank = 2, .shape = {2, 3}, .data = v,
                 .nbytes = sizeof v, .borrowed = true};
  EXPECT_OK(rt_npy_write(path, &t));
  size_t n;
  uint8_t *full = slurp(path, &n);
  CU_ASSERT_FATAL(full != NULL);
  truncation_loop("npy", full, n, do_npy, tp("trunc.npy"));
  mutation_loop("npy", full, n, do_npy, tp("mut.npy"), 400);
  alloc_fail_loop("npy", do_npy, path);
  free(full);
}

/* ---- JSON ---------------------------------------------------------------- */

static void test_json(void) {
  const char *ok = " {\"a\": [1, -2.5e+3, 0, true, false, null, \"x\\\"\\\\\\/"
                   "\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\u20AC\"], \"\": {}} ";
  JsonValue v;
  EXPECT_OK(rt_json_parse(ok, strlen(ok), "t", &v));
  CU_ASSERT(v.kind == JSON_OBJECT && v.n == 2);
  const JsonValue *a = rt_json_get(&v, "a");
  CU_ASSERT_FATAL(a && a->kind == JSON_ARRAY && a->n == 7);
  CU_ASSERT_STRING_EQUAL(a->items[1].s, "-2.5e+3");
  CU_ASSERT(a->items[3].kind == JSON_BOOL && a->items[3].b);
  CU_ASSERT(a->items[4].kind == JSON_BOOL && !a->items[4].b);
  CU_ASSERT(a->items[5].kind == JSON_NULL);
  CU_ASSERT_STRING_EQUAL(a->items[6].s, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac");
  CU_ASSERT(rt_json_get(&v, "")->kind == JSON_OBJECT);
  CU_ASSERT(rt_json_get(&v, "b") == NULL);
  uint64_t u;
  CU_ASSERT(rt_json_u64(&a->items[0], &u) && u == 1);
  CU_ASSERT(!rt_json_u64(&a->items[1], &u));
  rt_json_free(&v);

  JsonValue w;
  const char *max = "18446744073709551615", *over = "18446744073709551616";
  EXPECT_OK(rt_json_parse(max, strlen(max), "t", &w));
  CU_ASSERT(rt_json_u64(&w, &u) && u == UINT64_MAX);
  rt_json_free(&w);
  EXPECT_OK(rt_json_parse(over, strlen(over), "t", &w));
  CU_ASSERT(!rt_json_u64(&w, &u));
  rt_json_free(&w);

  static const struct { const char *text; const char *needle; } bad[] = {
      {"", "expected a value"}, {"{", "'\"' starting an object key"},
      {"[1,]", "expected a value"}, {"01", "nothing but whitespace"},
      {"1.", "digit after '.'"}, {"-", "expected a digit"}, {".5", "a value"},
      {"1e", "exponent"}, {"\"abc", "closing the string"},
      {"\"\\x\"", "escape character"}, {"\"\t\"", "control characters"},
      {"[1] [2]", "nothing but whitespace"}, {"tru", "a value"},
      {"{\"a\" 1}", "':'"}, {"{\"a\":1,}", "'\"' starting an object key"},
      {"{\"a\":1 \"b\":2}", "',' or '}'"}, {"[1 2]", "',' or ']'"},
      {"\"\\ud800\"", "low surrogate"}, {"\"\\udc00\"", "high surrogate"},
      {"\"\\ud800\\u0041\"", "low surrogate"}, {"\"\\u12g4\"", "4 hex digits"},
      {"\"\xc0\xaf\"", "UTF-8"}, {"\"\xed\xa0\x80\"", "UTF-8"},
      {"\"\xf4\x90\x80\x80\"", "UTF-8"}, {"\"\xe2\x82\"", "UTF-8"},
      {"\"\x80\"", "UTF-8"}, {"\"a\\u0000b\"", "NUL"},
      {"{\"k\":1,\"j\":2,\"k\":3}", "key \"k\" twice"}, {"{1:2}", "object key"},
      {"nul", "a value"}, {"[-01]", "',' or ']'"}, {"+1", "a value"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    EXPECT_ERR(rt_json_parse(bad[k].text, strlen(bad[k].text), "hdr", &w),
               NN_ERR_FORMAT, "hdr: JSON", bad[k].needle);
    CU_ASSERT(w.kind == JSON_NULL && w.n == 0 && w.s == NULL);
  }
  /* A raw NUL byte inside the text is not a JSON character. */
  EXPECT_ERR(rt_json_parse("[\"a\0\"]", 6, "hdr", &w), NN_ERR_FORMAT, "hdr", "control");
  /* Nesting: 64 levels parse, 65 are refused (no stack overflow). */
  char deep[200];
  memset(deep, '[', 64);
  memset(deep + 64, ']', 64);
  EXPECT_OK(rt_json_parse(deep, 128, "hdr", &w));
  rt_json_free(&w);
  memset(deep, '[', 65);
  memset(deep + 65, ']', 65);
  EXPECT_ERR(rt_json_parse(deep, 130, "hdr", &w), NN_ERR_FORMAT, "hdr", "nesting");
  CU_ASSERT(rt_utf8_valid("a\xc3\xa9", 3) && !rt_utf8_valid("\xc3", 1));
}

/* ---- safetensors ------------------------------------------------------------ */

/* A safetensors file from header text (N = strlen) and data bytes. */
static size_t make_st(uint8_t *out, const char *json, const void *data,
                      size_t dlen) {
  uint64_t n = strlen(json);
  for (int k = 0; k < 8; k++) out[k] = (uint8_t)(n >> (8 * k));
  memcpy(out + 8, json, n);
  if (dlen) memcpy(out + 8 + n, data, dlen);
  return 8 + n + dlen;
}

static void test_st_roundtrip(void) {
  const char *path = tp("rt.safetensors");
  rt_tensor ts[RT_NUM_DTYPES * NSHAPES];
  int n = 0;
  char name[64];
  for (int dt = 0; dt < RT_NUM_DTYPES; dt++)
    for (size_t k = 0; k < NSHAPES; k++) {
      /* Names with quotes, backslashes, a newline and non-ASCII. */
      snprintf(name, sizeof name, "layer%d.\"%s\"\\%zu\n\xc3\xa9", n,
               rt_dtype_name((rt_dtype)dt), k);
      ts[n++] = make_tensor(name, (rt_dtype)dt, rt_shapes[k]);
    }
  ts[3].borrowed = false;
  const char *mk[] = {"step", "note", "vocab"};
  const char *mv[] = {"1200", "tab\there \"q\" \\ \x01 \xe6\x97\xa5\xe6\x9c\xac", ""};
  EXPECT_OK(rt_st_write(path, ts, n, mk, mv, 3));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  rt_tensorset s;
  EXPECT_OK(rt_st_read(path, &s));
  CU_ASSERT_EQUAL_FATAL(s.n, n);
  for (int i = 0; i < n; i++) {
    CU_ASSERT_STRING_EQUAL(s.t[i].name, ts[i].name);
    CU_ASSERT(same_tensor(&s.t[i], &ts[i]));
    CU_ASSERT(((uintptr_t)s.t[i].data & 63) == 0);
  }
  CU_ASSERT_EQUAL(s.nmeta, 3);
  for (int i = 0; i < 3; i++) CU_ASSERT_STRING_EQUAL(rt_ts_meta(&s, mk[i]), mv[i]);
  CU_ASSERT(rt_ts_meta(&s, "absent") == NULL);
  CU_ASSERT(rt_ts_find(&s, ts[7].name) == &s.t[7]);
  CU_ASSERT(rt_ts_find(&s, "absent") == NULL);
  rt_ts_free(&s);
  CU_ASSERT(s.n == 0 && s.t == NULL);
  rt_ts_free(NULL);

  /* The header is space-padded to a multiple of 8. */
  size_t len;
  uint8_t *b = slurp(path, &len);
  CU_ASSERT_FATAL(b != NULL && len > 16);
  uint64_t hn = 0;
  for (int k = 7; k >= 0; k--) hn = hn << 8 | b[k];
  CU_ASSERT(hn % 8 == 0 && hn < len);
  CU_ASSERT(b[8] == '{');
  size_t end = 8 + hn;
  while (end > 8 && b[end - 1] == ' ') end--;
  CU_ASSERT(b[end - 1] == '}' && 8 + hn - end < 8);
  free(b);

  /* Nothing at all, and metadata only. */
  EXPECT_OK(rt_st_write(path, NULL, 0, NULL, NULL, 0));
  CU_ASSERT(file_equals(path, "\x08\0\0\0\0\0\0\0{}      ", 16));
  EXPECT_OK(rt_st_read(path, &s));
  CU_ASSERT(s.n == 0 && s.nmeta == 0);
  rt_ts_free(&s);
  EXPECT_OK(rt_st_write(path, NULL, 0, mk, mv, 1));
  EXPECT_OK(rt_st_read(path, &s));
  CU_ASSERT(s.n == 0 && s.nmeta == 1 && strcmp(rt_ts_meta(&s, "step"), "1200") == 0);
  rt_ts_free(&s);
  for (int i = 0; i < n; i++) rt_tensor_free(&ts[i]);
}

/* A file written by hand with a known layout, in an order the writer would
 * not produce: entries out of offset order, metadata in the middle, escapes,
 * padding that is not a multiple of 8, a scalar and an empty tensor. */
static void test_st_handmade(void) {
  const char *path = tp("hand.safetensors");
  const char *json =
      "{\"b\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[8,12]},"
      "\"__metadata__\":{\"format\":\"pt\",\"k\\u00e9\":\"v\\ud83d\\ude00\"},"
      "\"a\":{\"shape\":[2],\"dtype\":\"F32\",\"data_offsets\":[0,8]},"
      " \"s\" : {\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[12,20]},\n"
      "\"z\":{\"dtype\":\"U8\",\"shape\":[0,3],\"data_offsets\":[20,20]}}   ";
  const uint8_t data[20] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
                            0x02, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f};
  uint8_t buf[1024];
  size_t n = make_st(buf, json, data, sizeof data);
  write_bytes(path, buf, n);
  rt_tensorset s;
  EXPECT_OK(rt_st_read(path, &s));
  CU_ASSERT_EQUAL_FATAL(s.n, 4);
  CU_ASSERT_STRING_EQUAL(s.t[0].name, "b");
  CU_ASSERT_STRING_EQUAL(s.t[1].name, "a");
  CU_ASSERT_STRING_EQUAL(s.t[2].name, "s");
  CU_ASSERT_STRING_EQUAL(s.t[3].name, "z");
  const rt_tensor *a = rt_ts_find(&s, "a"), *bt = rt_ts_find(&s, "b");
  CU_ASSERT(a->dtype == RT_F32 && a->rank == 1 && a->shape[0] == 2);
  CU_ASSERT(((float *)a->data)[0] == 1.0f && ((float *)a->data)[1] == -2.0f);
  CU_ASSERT(bt->dtype == RT_I16 && ((int16_t *)bt->data)[0] == 0x0102 &&
            ((int16_t *)bt->data)[1] == -1);
  CU_ASSERT(s.t[2].dtype == RT_F64 && s.t[2].rank == 0 &&
            *(double *)s.t[2].data == 1.5);
  CU_ASSERT(s.t[3].dtype == RT_U8 && s.t[3].rank == 2 && s.t[3].nbytes == 0 &&
            s.t[3].shape[1] == 3);
  CU_ASSERT_EQUAL(s.nmeta, 2);
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&s, "format"), "pt");
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&s, "k\xc3\xa9"), "v\xf0\x9f\x98\x80");
  rt_ts_free(&s);

  /* The writer's bytes for a known input, checked byte for byte. */
  int16_t bv[2] = {0x0102, -1};
  rt_tensor w = {.name = "b", .dtype = RT_I16, .rank = 1, .shape = {2},
                 .data = bv, .nbytes = 4, .borrowed = true};
  const char *k1[] = {"k"}, *v1[] = {"v"};
  EXPECT_OK(rt_st_write(path, &w, 1, k1, v1, 1));
  const char *want_json = "{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":"
                          "\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
  /* 79 bytes of JSON, padded with one space to 80 */
  CU_ASSERT_EQUAL(strlen(want_json), 79);
  uint8_t want[8 + 80 + 4];
  memcpy(want, "\x50\0\0\0\0\0\0\0", 8);
  memcpy(want + 8, want_json, 79);
  memcpy(want + 87, " \x02\x01\xff\xff", 5);
  CU_ASSERT(file_equals(path, want, sizeof want));
}

static void test_st_malformed(void) {
  const char *path = tp("bad.safetensors");
  static const struct {
    const char *json;
    size_t dlen;
    const char *needle;
  } bad[] = {
#define E(name, dt, shape, b, e) \
  "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"
      {"{" E("a", "F32", "[2]", 0, 8) "," E("b", "F32", "[2]", 4, 12) "}", 12, "'a' and 'b' overlap"},
      {"{" E("a", "F32", "[2]", 0, 8) "," E("b", "F32", "[2]", 12, 20) "}", 20, "bytes [8, 12) of the data region belong to no tensor"},
      {"{" E("a", "F32", "[2]", 4, 12) "}", 12, "bytes [0, 4)"},
      {"{" E("a", "F32", "[2]", 0, 4) "}", 4, "should span 8 bytes for f32[2]"},
      {"{" E("a", "F32", "[2]", 8, 0) "}", 8, "data_offsets [8, 0]"},
      {"{" E("a", "F32", "[2]", 0, 8) "}", 6, "need a data region of 8 bytes, found 6"},
      {"{" E("a", "F32", "[2]", 0, 8) "}", 10, "has 10 bytes but the tensors cover only 8"},
      {"{" E("a", "F16", "[2]", 0, 4) "}", 4, "\"F16\""},
      {"{" E("a", "f32", "[2]", 0, 8) "}", 8, "\"f32\""},
      {"{" E("a", "F32", "[-1]", 0, 8) "}", 8, "found -1"},
      {"{" E("a", "F32", "[2.0]", 0, 8) "}", 8, "found 2.0"},
      {"{" E("a", "F32", "[\"2\"]", 0, 8) "}", 8, "found string"},
      {"{" E("a", "F32", "2", 0, 8) "}", 8, "\"shape\" array"},
      {"{" E("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "rank 9"},
      {"{" E("a", "F32", "[4294967296,4294967296,4294967296]", 0, 8) "}", 8, "overflows"},
      {"{" E("a", "U8", "[1152921504606846976]", 0, 1152921504606846976) "}", 8, "found 8"},
      {"{" E("a", "F32", "[2]", 0, 18446744073709551616) "}", 8, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets"},
      {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"dtype\" string, found nothing"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unknown key \"x\""},
      {"{\"a\":[1]}", 0, "'a': expected an object"},
      {"{" E("a", "U8", "[1]", 0, 1) "," E("a", "U8", "[1]", 1, 2) "}", 2, "key \"a\" twice"},
      {"{" E("a", "BOOL", "[2]", 0, 2) "}", 2, "bool element 0 is 2"},
      {"{" E("a", "U8", "[01]", 0, 1) "}", 1, "JSON byte"},
      {"{\"__metadata__\":{\"k\":1}}", 0, "metadata \"k\" must be a string, found number"},
      {"{\"__metadata__\":\"x\"}", 0, "\"__metadata__\" must be an object"},
      {"{\"__metadata__\":{\"k\":\"\\udc00\"}}", 0, "high surrogate"},
      {"{\"__metadata__\":{},}", 0, "starting an object key"},
      {"{\"__metadata__\":{\"k\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
       "[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 0, "nesting"},
      {"{\"\xff\":{}}", 0, "UTF-8"},
      {"{\"a\x01\":{}}", 0, "control"},
      {"{\"a\\u0000\":{}}", 0, "NUL"},
      {"{}x", 0, "nothing but whitespace"},
      {"[]      ", 0, "start with '{'"},
      {"{}", 3, "has 3 bytes but the tensors cover only 0"},
#undef E
  };
  uint8_t buf[2048];
  uint8_t data[64];
  memset(data, 2, sizeof data);
  rt_tensorset s;
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    write_bytes(path, buf, make_st(buf, bad[k].json, data, bad[k].dlen));
    hook_on(-1);
    EXPECT_ERR(rt_st_read(path, &s), NN_ERR_FORMAT, path, bad[k].needle);
    long live = H.live;
    size_t max = H.max_size;
    hook_off();
    CU_ASSERT(live == 0 && max < 4096);
    CU_ASSERT(s.n == 0 && s.t == NULL && s.nmeta == 0);
  }
  /* The header size: 0, huge (2^60), past the end of the file, too short. */
  static const struct { uint8_t n[8]; const char *needle; } sizes[] = {
      {{0, 0, 0, 0, 0, 0, 0, 0}, "too small"},
      {{0, 0, 0, 0, 0, 0, 0, 0x10}, "over 100 MB"},
      {{0, 0, 0, 6, 0, 0, 0, 0}, "over 100 MB"},
      {{40, 0, 0, 0, 0, 0, 0, 0}, "past the end of the file"},
  };
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    memcpy(buf, sizes[k].n, 8);
    memcpy(buf + 8, "{}      ", 8);
    write_bytes(path, buf, 16);
    EXPECT_ERR(rt_st_read(path, &s), NN_ERR_FORMAT, path, sizes[k].needle);
  }
  write_bytes(path, buf, 5);
  EXPECT_ERR(rt_st_read(path, &s), NN_ERR_FORMAT, path, "8-byte header size, found 5");
}

static void test_st_robust(void) {
  const char *path = tp("r.safetensors");
  float w[6] = {1, 2, 3, 4, 5, 6};
  int64_t idx[2] = {7, -7};
  rt_tensor t[2] = {
      {.name = "w", .dtype = RT_F32, .rank = 2, .shape = {2, 3}, .data = w,
       .nbytes = sizeof w, .borrowed = true},
      {.name = "i", .dtype = RT_I64, .rank = 1, .shape = {2}, .data = idx,
       .nbytes = sizeof idx, .borrowed = true},
  };
  const char *mk[] = {"seed"}, *mv[] = {"42"};
  EXPECT_OK(rt_st_write(path, t, 2, mk, mv, 1));
  size_t n;
  uint8_t *full = slurp(path, &n);
  CU_ASSERT_FATAL(full != NULL);
  truncation_loop("safetensors", full, n, do_st, tp("trunc.safetensors"));
  mutation_loop("safetensors", full, n, do_st, tp("mut.safetensors"), 1500);
  alloc_fail_loop("safetensors", do_st, path);
  free(full);
}

/* ---- atomic writes ---------------------------------------------------------- */

/* The tensors the write wrappers below write. */
static const rt_tensor *g_t;
static int g_n;
static nn_status write_st_global(const char *path) {
  const char *mk[] = {"a", "b"}, *mv[] = {"1", "2"};
  return rt_st_write(path, g_t, g_n, mk, mv, 2);
}
static nn_status write_npy_global(const char *path) { return rt_npy_write(path, g_t); }

/* A pid that no longer exists: a child that has exited and been reaped. */
static pid_t dead_pid(void) {
  fflush(stdout);
  pid_t pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  return pid;
}

/* A write removes the temporaries of the same path that dead processes
 * left (a kill during a save), and nothing else. */
static void test_stale_temporaries(void) {
  float v[2] = {1, 2};
  rt_tensor t = {.name = "v", .dtype = RT_F32, .rank = 1, .shape = {2}, .data = v, .nbytes = sizeof v,
                 .borrowed = true};
  char dead[64], live[64], init[64], other[64], dir[64];
  pid_t d = dead_pid();
  snprintf(dead, sizeof dead, "s.st.tmp.%ld", (long)d);
  snprintf(live, sizeof live, "s.st.tmp.%ld", (long)getppid()); /* alive (kill may say EPERM) */
  snprintf(other, sizeof other, "t.st.tmp.%ld", (long)d);          /* another path's */
  snprintf(dir, sizeof dir, "s.st.tmp.%ld", (long)dead_pid());     /* a directory */
  snprintf(init, sizeof init, "s.st.tmp.1"); /* init: always alive */
  const char *keep[] = {live, other, init, "s.st.tmp.12x", "s.st.tmp.", "xs.st.tmp.99999999", "s.st.tmp.0"};
  write_bytes(tp(dead), "stale", 5);
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) write_bytes(tp(keep[i]), "keep", 4);
  CU_ASSERT_FATAL(mkdir(tp(dir), 0700) == 0);
  EXPECT_OK(rt_st_write(tp("s.st"), &t, 1, NULL, NULL, 0));
  struct stat st;
  CU_ASSERT(stat(tp(dead), &st) != 0 && errno == ENOENT);
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
    bool kept = stat(tp(keep[i]), &st) == 0;
    if (!kept) printf("\n    %s was removed\n", keep[i]);
    CU_ASSERT(kept);
    unlink(tp(keep[i]));
  }
  CU_ASSERT(stat(tp(dir), &st) == 0 && S_ISDIR(st.st_mode));
  rmdir(tp(dir));
  /* the same for every atomic writer, e.g. .npy */
  snprintf(dead, sizeof dead, "n.npy.tmp.%ld", (long)dead_pid());
  write_bytes(tp(dead), "stale", 5);
  EXPECT_OK(rt_npy_write(tp("n.npy"), &t));
  CU_ASSERT(stat(tp(dead), &st) != 0);
  unlink(tp("n.npy"));
  unlink(tp("s.st"));
}

static void test_atomic(void) {
  /* Missing directory: NN_ERR_IO, nothing created. */
  int before = count_entries("");
  float v[4] = {1, 2, 3, 4};
  rt_tensor t = {.name = "v", .dtype = RT_F32, .rank = 1, .shape = {4},
                 .data = v, .nbytes = sizeof v, .borrowed = true};
  EXPECT_ERR(rt_npy_write(tp("nodir/x.npy"), &t), NN_ERR_IO, "nodir/x.npy",
             strerror(ENOENT));
  EXPECT_ERR(rt_st_write(tp("nodir/x.st"), &t, 1, NULL, NULL, 0), NN_ERR_IO,
             "nodir/x.st", strerror(ENOENT));
  CU_ASSERT_EQUAL(count_entries(""), before);
  struct stat st;
  CU_ASSERT(stat(tp("nodir"), &st) != 0);

  /* An existing checkpoint survives every failed overwrite. */
  const char *path = tp("ckpt.safetensors");
  EXPECT_OK(rt_st_write(path, &t, 1, NULL, NULL, 0));
  size_t old_n;
  uint8_t *old = slurp(path, &old_n);
  CU_ASSERT_FATAL(old != NULL);
  rt_tensor bad = t;
  bad.nbytes = 12; /* inconsistent */
  EXPECT_ERR(rt_st_write(path, &bad, 1, NULL, NULL, 0), NN_ERR_ARG, path, "nbytes");
  rt_tensor two[2] = {t, t}; /* duplicate names */
  EXPECT_ERR(rt_st_write(path, two, 2, NULL, NULL, 0), NN_ERR_ARG, path, "two tensors are named 'v'");
  two[1].name = "__metadata__";
  EXPECT_ERR(rt_st_write(path, two, 2, NULL, NULL, 0), NN_ERR_ARG, path, "__metadata__");
  two[1].name = NULL;
  EXPECT_ERR(rt_st_write(path, two, 2, NULL, NULL, 0), NN_ERR_ARG, path, "needs a UTF-8 name");
  two[1].name = "bad\xff";
  EXPECT_ERR(rt_st_write(path, two, 2, NULL, NULL, 0), NN_ERR_ARG, path, "needs a UTF-8 name");
  const char *dk[] = {"k", "k"}, *dv[] = {"1", "2"};
  EXPECT_ERR(rt_st_write(path, &t, 1, dk, dv, 2), NN_ERR_ARG, path, "'k' appears twice");
  CU_ASSERT(file_equals(path, old, old_n));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);

  /* A real I/O failure in the middle of the write: a file size limit makes
   * write() fail with EFBIG after the temporary has been created. */
  static float bigdata[1 << 18]; /* 1 MB */
  rt_tensor big = {.name = "big", .dtype = RT_F32, .rank = 1,
                   .shape = {1 << 18}, .data = bigdata,
                   .nbytes = sizeof bigdata, .borrowed = true};
  struct rlimit lim, small;
  CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &lim) == 0);
  small = lim;
  small.rlim_cur = 1 << 16;
  signal(SIGXFSZ, SIG_IGN);
  fflush(stdout);
  CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &small) == 0);
  nn_status s1 = rt_st_write(path, &big, 1, NULL, NULL, 0);
  char msg1[1024];
  snprintf(msg1, sizeof msg1, "%s", rt_last_error());
  nn_status s2 = rt_npy_write(tp("ckpt.npy"), &big);
  setrlimit(RLIMIT_FSIZE, &lim);
  signal(SIGXFSZ, SIG_DFL);
  EXPECT_ERR(s2, NN_ERR_IO, "ckpt.npy", strerror(EFBIG));
  rt_error(NN_ERR_IO, "%s", msg1);
  EXPECT_ERR(s1, NN_ERR_IO, path, strerror(EFBIG));
  CU_ASSERT(file_equals(path, old, old_n));
  CU_ASSERT_EQUAL(count_entries("ckpt.npy"), 0);
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);

  /* Failures at commit time: a small file stays in the stdio buffer until
   * fflush, which then fails; a rename over a directory fails. */
  int32_t small_v[100] = {0};
  rt_tensor st_small = {.name = "s", .dtype = RT_I32, .rank = 1,
                        .shape = {100}, .data = small_v,
                        .nbytes = sizeof small_v, .borrowed = true};
  small.rlim_cur = 100;
  signal(SIGXFSZ, SIG_IGN);
  fflush(stdout);
  CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &small) == 0);
  s1 = rt_st_write(path, &st_small, 1, NULL, NULL, 0);
  setrlimit(RLIMIT_FSIZE, &lim);
  signal(SIGXFSZ, SIG_DFL);
  EXPECT_ERR(s1, NN_ERR_IO, path, strerror(EFBIG));
  CU_ASSERT(file_equals(path, old, old_n));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  const char *adir = tp("adir");
  CU_ASSERT_FATAL(mkdir(adir, 0700) == 0);
  EXPECT_ERR(rt_npy_write(adir, &st_small), NN_ERR_IO, adir, "is a directory; expected a regular file to replace");
  CU_ASSERT(stat(adir, &st) == 0 && S_ISDIR(st.st_mode));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  rmdir(adir);

  /* Allocation failures during the write, for every allocation. */
  int16_t d16[3] = {1, 2, 3};
  rt_tensor nw[2] = {
      t, {.name = "w2", .dtype = RT_I16, .rank = 1, .shape = {3}, .data = d16,
          .nbytes = sizeof d16, .borrowed = true}};
  g_t = nw;
  g_n = 2;
  for (int which = 0; which < 2; which++) {
    const char *p = which ? tp("ckpt2.npy") : path;
    nn_status (*fn)(const char *) = which ? write_npy_global : write_st_global;
    if (which) write_bytes(p, old, old_n);
    long k;
    for (k = 0; k < 1000; k++) {
      hook_on(k);
      nn_status s = fn(p);
      long live = H.live;
      hook_off();
      CU_ASSERT(s == NN_OK || s == NN_ERR_NOMEM);
      CU_ASSERT_EQUAL(live, 0);
      CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
      if (s == NN_OK) break;
      CU_ASSERT(file_equals(p, old, old_n));
    }
    CU_ASSERT(k >= 1);
  }
  rt_tensorset got;
  EXPECT_OK(rt_st_read(path, &got));
  CU_ASSERT(got.n == 2 && same_tensor(&got.t[1], &nw[1]) &&
            strcmp(rt_ts_meta(&got, "b"), "2") == 0);
  rt_ts_free(&got);
  rt_tensor r;
  EXPECT_OK(rt_npy_read(tp("ckpt2.npy"), &r));
  CU_ASSERT(same_tensor(&r, &t));
  rt_tensor_free(&r);
  free(old);

  /* The helpers directly: abort leaves nothing, commit replaces. */
  rt_atomic_file af;
  const char *p = tp("direct.txt");
  write_bytes(p, "old", 3);
  EXPECT_OK(rt_atomic_begin(&af, p));
  EXPECT_OK(rt_atomic_write(&af, "new!", 4));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 1);
  rt_atomic_abort(&af);
  CU_ASSERT(file_equals(p, "old", 3));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  EXPECT_OK(rt_atomic_begin(&af, p));
  EXPECT_OK(rt_atomic_write(&af, "new!", 4));
  EXPECT_OK(rt_atomic_commit(&af));
  CU_ASSERT(file_equals(p, "new!", 4));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  rt_atomic_abort(&af); /* after commit: a no-op */
  CU_ASSERT(file_equals(p, "new!", 4));
}

/* ---- IDX ------------------------------------------------------------------ */

/* IDX bytes: header for (type, dims) then the data given in host order,
 * converted to big-endian. */
static size_t make_idx(uint8_t *out, int type, int rank, const uint32_t *dims,
                       const void *host, size_t esize, size_t count) {
  out[0] = out[1] = 0;
  out[2] = (uint8_t)type;
  out[3] = (uint8_t)rank;
  size_t at = 4;
  for (int i = 0; i < rank; i++, at += 4)
    for (int k = 0; k < 4; k++) out[at + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
  const uint8_t *h = host;
  for (size_t e = 0; e < count; e++)
    for (size_t k = 0; k < esize; k++) out[at + e * esize + k] = h[e * esize + esize - 1 - k];
  return at + count * esize;
}

static void test_idx(void) {
  static const uint8_t u8[3] = {0, 127, 255};
  static const int8_t i8[3] = {-128, 0, 127};
  static const int16_t i16[4] = {-2, 258, 32767, -32768};
  static const int32_t i32[2] = {-5, 100000};
  static const float f32[2] = {1.5f, -0.25f};
  static const double f64[2] = {3.25, -1e300};
  static const struct { int type; rt_dtype dt; int rank; uint32_t dims[3];
                        const void *v; size_t esize, count; } cases[] = {
      {0x08, RT_U8, 1, {3}, u8, 1, 3},     {0x09, RT_I8, 1, {3}, i8, 1, 3},
      {0x0B, RT_I16, 2, {2, 2}, i16, 2, 4}, {0x0C, RT_I32, 1, {2}, i32, 4, 2},
      {0x0D, RT_F32, 3, {1, 2, 1}, f32, 4, 2}, {0x0E, RT_F64, 1, {2}, f64, 8, 2},
  };
  uint8_t buf[256];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
    for (int gz = 0; gz < 2; gz++) {
      /* Content decides, not the name: the gzip one has no .gz suffix. */
      const char *path = gz ? tp("data.idx") : tp("data.idx.gz");
      size_t n = make_idx(buf, cases[c].type, cases[c].rank, cases[c].dims,
                          cases[c].v, cases[c].esize, cases[c].count);
      if (gz) write_gz(path, buf, n);
      else write_bytes(path, buf, n);
      rt_tensor t;
      EXPECT_OK(rt_idx_read(path, &t));
      CU_ASSERT(t.dtype == cases[c].dt && t.rank == cases[c].rank &&
                t.nbytes == cases[c].esize * cases[c].count && t.name == NULL);
      for (int i = 0; i < t.rank; i++) CU_ASSERT(t.shape[i] == cases[c].dims[i]);
      CU_ASSERT(memcmp(t.data, cases[c].v, t.nbytes) == 0);
      rt_tensor_free(&t);
    }

  /* Errors, plain and gzip. */
  static const struct { uint8_t h[12]; size_t hlen, dlen; const char *needle; } bad[] = {
      {{1, 0, 8, 1, 0, 0, 0, 3}, 8, 3, "found 01 00 08 01"},
      {{0, 0, 0x0A, 1, 0, 0, 0, 3}, 8, 3, "found 00 00 0a 01"},
      {{0, 0, 8, 0}, 4, 3, "RANK 1..8"},
      {{0, 0, 8, 9}, 4, 40, "found 00 00 08 09"},
      {{0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 0}, 12, 3, "dimension 1 is 0"},
      {{0, 0, 0x0E, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 12, 8, "4 GB"},
      {{0, 0, 8, 1, 0, 0, 0, 5}, 8, 3, "expected 5 bytes, found 3"},
      {{0, 0, 8, 1, 0, 0, 0, 5}, 8, 7, "trailing bytes after the IDX data: expected 5 bytes, found "},
      {{0, 0, 8, 2, 0, 0, 0, 5}, 8, 0, "2 dimensions need 8 bytes, found 4"},
      {{0, 0, 8}, 3, 0, "expected 4 bytes, found 3"},
      {{0}, 0, 0, "empty file"},
  };
  const char *path = tp("bad.idx");
  for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++)
    for (int gz = 0; gz < 2; gz++) {
      memset(buf, 1, sizeof buf);
      memcpy(buf, bad[c].h, bad[c].hlen);
      size_t n = bad[c].hlen + bad[c].dlen;
      if (gz) write_gz(path, buf, n);
      else write_bytes(path, buf, n);
      rt_tensor t;
      EXPECT_ERR(rt_idx_read(path, &t), NN_ERR_FORMAT, path, bad[c].needle);
    }

  /* A tiny file claiming 2^31 bytes fails without allocating them. */
  uint8_t huge[8 + 16] = {0, 0, 8, 2, 0, 0, 0x80, 0, 0, 1, 0, 0};
  rt_tensor t;
  for (int gz = 0; gz < 2; gz++) {
    if (gz) write_gz(path, huge, sizeof huge);
    else write_bytes(path, huge, sizeof huge);
    hook_on(-1);
    EXPECT_ERR(rt_idx_read(path, &t), NN_ERR_FORMAT, path, "expected 2147483648 bytes, found 12");
    CU_ASSERT(H.max_size <= (1u << 20) && H.live == 0);
    hook_off();
  }

  /* A valid file: truncations, a corrupt gzip stream, allocation failure,
   * mutations. */
  uint16_t vals[40];
  for (int i = 0; i < 40; i++) vals[i] = (uint16_t)(i * 977);
  uint32_t dims[2] = {4, 10};
  size_t n = make_idx(buf, 0x0B, 2, dims, vals, 2, 40);
  const char *plain = tp("good.idx"), *gzp = tp("good.idx.gz");
  write_bytes(plain, buf, n);
  write_gz(gzp, buf, n);
  size_t gn;
  uint8_t *gzb = slurp(gzp, &gn);
  CU_ASSERT_FATAL(gzb != NULL);
  truncation_loop("idx", buf, n, do_idx, tp("trunc.idx"));
  truncation_loop("idx.gz", gzb, gn, do_idx, tp("trunc.idx.gz"));
  /* Every byte of the deflate data and trailer, inverted. */
  const char *cp = tp("corrupt.idx.gz");
  for (size_t k = 10; k < gn; k++) {
    gzb[k] ^= 0xff;
    write_bytes(cp, gzb, gn);
    nn_status s = do_idx(cp);
    if (s != NN_ERR_FORMAT) printf("\n    gzip byte %zu inverted: %d %s\n", k, s, rt_last_error());
    CU_ASSERT_EQUAL(s, NN_ERR_FORMAT);
    gzb[k] ^= 0xff;
  }
  gzb[gn / 2] ^= 0xff;
  write_bytes(cp, gzb, gn);
  EXPECT_ERR(do_idx(cp), NN_ERR_FORMAT, cp, "gzip");
  gzb[gn / 2] ^= 0xff;
  alloc_fail_loop("idx", do_idx, plain);
  alloc_fail_loop("idx.gz", do_idx, gzp);
  mutation_loop("idx", buf, n, do_idx, tp("mut.idx"), 300);
  mutation_loop("idx.gz", gzb, gn, do_idx, tp("mut.idx.gz"), 300);
  free(gzb);

  /* A gzip file bigger than the first 1 MB buffer grows it correctly. */
  size_t bn = (size_t)3 << 20;
  uint8_t *bigb = malloc(bn + 8);
  uint32_t bd[1] = {(uint32_t)bn};
  make_idx(bigb, 0x08, 1, bd, NULL, 1, 0);
  for (size_t i = 0; i < bn; i++) bigb[8 + i] = (uint8_t)(i * 31 + (i >> 12));
  write_gz(gzp, bigb, bn + 8);
  EXPECT_OK(rt_idx_read(gzp, &t));
  CU_ASSERT(t.nbytes == bn && memcmp(t.data, bigb + 8, bn) == 0);
  rt_tensor_free(&t);
  free(bigb);
}

/* The real Fashion-MNIST files from Debian's dataset-fashion-mnist. */
static void test_fashion_mnist(void) {
  const char *dir = "/usr/share/datasets/fashion-mnist/";
  char p[256];
  snprintf(p, sizeof p, "%strain-labels-idx1-ubyte.gz", dir);
  if (access(p, R_OK) != 0) {
    printf("\n    note: %s is absent (package dataset-fashion-mnist); skipping "
           "the real-data check\n", p);
    return;
  }
  rt_tensor t;
  EXPECT_OK(rt_idx_read(p, &t));
  CU_ASSERT(t.dtype == RT_U8 && t.rank == 1 && t.shape[0] == 60000);
  int count[256] = {0};
  for (int64_t i = 0; i < t.shape[0]; i++) count[((uint8_t *)t.data)[i]]++;
  for (int c = 0; c < 10; c++) CU_ASSERT_EQUAL(count[c], 6000); /* balanced */
  rt_tensor_free(&t);
  snprintf(p, sizeof p, "%st10k-images-idx3-ubyte.gz", dir);
  EXPECT_OK(rt_idx_read(p, &t));
  CU_ASSERT(t.dtype == RT_U8 && t.rank == 3 && t.shape[0] == 10000 &&
            t.shape[1] == 28 && t.shape[2] == 28 && t.nbytes == 7840000);
  uint64_t sum = 0;
  uint8_t mx = 0;
  for (size_t i = 0; i < t.nbytes; i++) {
    sum += ((uint8_t *)t.data)[i];
    if (((uint8_t *)t.data)[i] > mx) mx = ((uint8_t *)t.data)[i];
  }
  CU_ASSERT(mx == 255 && sum > 0);
  rt_tensor_free(&t);
  snprintf(p, sizeof p, "%st10k-labels-idx1-ubyte.gz", dir);
  EXPECT_OK(rt_idx_read(p, &t));
  CU_ASSERT(t.rank == 1 && t.shape[0] == 10000);
  rt_tensor_free(&t);
}

/* ---- CSV ---------------------------------------------------------------------- */

static void test_csv(void) {
  const char *path = tp("d.csv");
  rt_tensor x, y;
  /* Header, CRLF, spaces, trailing blank lines, label last. */
  const char *a = "x1,x2,label\r\n1.5, -2 ,3\r\n0,1e-3,0\r\n\r\n\n";
  write_bytes(path, a, strlen(a));
  EXPECT_OK(rt_csv_read(path, -1, &x, &y));
  float fa[4] = {1.5f, -2.0f, 0.0f, 0.001f};
  int32_t la[2] = {3, 0};
  CU_ASSERT(x.dtype == RT_F32 && x.rank == 2 && x.shape[0] == 2 && x.shape[1] == 2);
  CU_ASSERT(y.dtype == RT_I32 && y.rank == 1 && y.shape[0] == 2);
  CU_ASSERT(memcmp(x.data, fa, sizeof fa) == 0 && memcmp(y.data, la, sizeof la) == 0);
  rt_tensor_free(&x);
  rt_tensor_free(&y);
  /* No header, label first, no final newline, UTF-8 BOM. */
  const char *b = "\xEF\xBB\xBF" "7,0.5,0.25\n2,1,2";
  write_bytes(path, b, strlen(b));
  EXPECT_OK(rt_csv_read(path, 0, &x, &y));
  float fb[4] = {0.5f, 0.25f, 1, 2};
  int32_t lb[2] = {7, 2};
  CU_ASSERT(x.shape[0] == 2 && x.shape[1] == 2 && memcmp(x.data, fb, sizeof fb) == 0 &&
            memcmp(y.data, lb, sizeof lb) == 0);
  rt_tensor_free(&x);
  rt_tensor_free(&y);
  /* Label in the middle. */
  write_bytes(path, "1,2,3\n4,5,6\n", 12);
  EXPECT_OK(rt_csv_read(path, 1, &x, &y));
  float fc[4] = {1, 3, 4, 6};
  int32_t lc[2] = {2, 5};
  CU_ASSERT(memcmp(x.data, fc, sizeof fc) == 0 && memcmp(y.data, lc, sizeof lc) == 0);
  rt_tensor_free(&x);
  rt_tensor_free(&y);

  static const struct { const char *text; int label; nn_status st; const char *needle; } bad[] = {
      {"1,2,3\n4,5,6,7\n", -1, NN_ERR_FORMAT, "d.csv:2:7: expected 3 fields (as in line 1), found more: '7'"},
      {"1,2,3\n4,5\n", -1, NN_ERR_FORMAT, "d.csv:2:4: expected 3 fields (as in line 1), found 2"},
      {"1,2,3\n4, abc ,6\n", -1, NN_ERR_FORMAT, "d.csv:2:4: field 2: expected a finite decimal number, found 'abc'"},
      {"a,b,c\n1,2,3\n4,x,6\n", -1, NN_ERR_FORMAT, "d.csv:3:3: field 2"},
      {"", -1, NN_ERR_FORMAT, "empty file"},
      {"\n1,2\n", -1, NN_ERR_FORMAT, "empty first line"},
      {"a,b\n", -1, NN_ERR_FORMAT, "no data rows"},
      {"1,2.5\n", -1, NN_ERR_FORMAT, "d.csv:1:3: field 2: expected a non-negative integer label, found '2.5'"},
      {"1,-1\n", -1, NN_ERR_FORMAT, "found '-1'"},
      {"1,99999999999\n", -1, NN_ERR_FORMAT, "found '99999999999'"},
      {"1,1\nnan,1\n", -1, NN_ERR_FORMAT, "found 'nan'"},
      {"1,1\n-inf,1\n", -1, NN_ERR_FORMAT, "found '-inf'"},
      {"1,1\n0x10,1\n", -1, NN_ERR_FORMAT, "found '0x10'"},
      {"1,1\n1e39,1\n", -1, NN_ERR_FORMAT, "found '1e39'"},
      {"1,1\n1..2,1\n", -1, NN_ERR_FORMAT, "found '1..2'"},
      {"1,1\n,1\n", -1, NN_ERR_FORMAT, "d.csv:2:1: field 1: expected a finite decimal number, found ''"},
      {"1,2\n\n3,4\n", -1, NN_ERR_FORMAT, "d.csv:2:1: empty line"},
      {"1\n2\n", -1, NN_ERR_FORMAT, "at least 2 columns"},
      {"1,2,3\n", 3, NN_ERR_ARG, "label column 3 does not exist; the file has 3 columns"},
      {"1,2,3\n", -2, NN_ERR_ARG, "label column -2"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    write_bytes(path, bad[k].text, strlen(bad[k].text));
    EXPECT_ERR(rt_csv_read(path, bad[k].label, &x, &y), bad[k].st, path, bad[k].needle);
    CU_ASSERT(x.data == NULL && y.data == NULL);
  }

  /* A bigger file, and allocation failure. */
  size_t cap = 1 << 16, len = 0;
  char *big = malloc(cap);
  len += (size_t)snprintf(big, cap, "f0,f1,f2,y\n");
  for (int r = 0; r < 2000; r++)
    len += (size_t)snprintf(big + len, cap - len, "%d,%d.5,-%d,%d\n", r, r, r, r % 10);
  write_bytes(path, big, len);
  EXPECT_OK(rt_csv_read(path, -1, &x, &y));
  CU_ASSERT(x.shape[0] == 2000 && x.shape[1] == 3 && ((float *)x.data)[3 * 1999 + 1] == 1999.5f &&
            ((int32_t *)y.data)[1999] == 9);
  rt_tensor_free(&x);
  rt_tensor_free(&y);
  free(big);
  write_bytes(path, a, strlen(a));
  alloc_fail_loop("csv", do_csv, path);
}

/* ---- files that are not regular files ------------------------------------------------- */

static nn_status do_read_all(const char *path) {
  uint8_t *b;
  size_t n;
  nn_status s = rt_file_read_all(path, 1 << 20, &b, &n);
  if (s == NN_OK) rt_free(b);
  return s;
}

/* Every reader refuses a named pipe (with or without a writer), a device
 * and a directory at once, naming the file, and reads through a symlink to
 * a regular file. Before, a FIFO without a writer blocked in open() forever
 * and /dev/zero was read up to the size limit: the alarm turns a hang into
 * a failure. */
static void test_not_regular(void) {
  static const struct {
    const char *name;
    nn_status (*fn)(const char *);
  } readers[] = {{"npy", do_npy}, {"safetensors", do_st}, {"idx", do_idx}, {"csv", do_csv},
                 {"text", do_text}, {"whole file", do_read_all}};
  const char *fifo = tp("a.fifo");
  unlink(fifo);
  CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
  alarm(60);
  for (size_t r = 0; r < sizeof readers / sizeof readers[0]; r++) {
    hook_on(-1);
    EXPECT_ERR(readers[r].fn(fifo), NN_ERR_IO, fifo, "cannot read a named pipe (FIFO); expected a regular file");
    EXPECT_ERR(readers[r].fn("/dev/zero"), NN_ERR_IO, "/dev/zero", "a character device; expected a regular file");
    EXPECT_ERR(readers[r].fn("/dev/null"), NN_ERR_IO, "/dev/null", "a character device");
    EXPECT_ERR(readers[r].fn(tmp_dir), NN_ERR_IO, tmp_dir, "cannot read a directory");
    CU_ASSERT(H.n == 0); /* refused before anything was allocated */
    hook_off();
  }
  /* a FIFO whose writer is waiting, with data: refused all the same */
  fflush(stdout);
  pid_t pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) {
    int fd = open(fifo, O_WRONLY);
    if (fd >= 0 && write(fd, "1,2\n", 4) == 4) pause();
    _exit(0);
  }
  EXPECT_ERR(do_csv(fifo), NN_ERR_IO, fifo, "named pipe");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  /* a symlink to a regular file is a regular file */
  write_bytes(tp("real.csv"), "1,2\n3,4\n", 8);
  unlink(tp("link.csv"));
  CU_ASSERT_FATAL(symlink(tp("real.csv"), tp("link.csv")) == 0);
  EXPECT_OK(do_csv(tp("link.csv")));
  alarm(0);
  unlink(fifo);
}

/* Writers never replace what is not a regular file: the rename would put
 * a regular file in place of a FIFO or a device (as root, of /dev/null),
 * and fail late over a directory. rt_atomic_check finds it (and a missing
 * directory) before anything is written; rt_path_same knows one file by
 * two names. */
static int16_t g_small[3] = {1, 2, 3};
static const rt_tensor g_small_t = {.name = "s", .dtype = RT_I16, .rank = 1, .shape = {3}, .data = g_small,
                                    .nbytes = sizeof g_small, .borrowed = true};
static nn_status write_npy_small(const char *p) { return rt_npy_write(p, &g_small_t); }
static nn_status write_st_small(const char *p) { return rt_st_write(p, &g_small_t, 1, NULL, NULL, 0); }

static void test_write_not_regular(void) {
  nn_status (*writers[])(const char *) = {write_npy_small, write_st_small, rt_atomic_check};
  char fifo[1200], dir[1200], dev[1200], f[1200];
  snprintf(fifo, sizeof fifo, "%s", tp("out.fifo"));
  snprintf(dir, sizeof dir, "%s", tp("out.dir"));
  snprintf(dev, sizeof dev, "%s", tp("out.null"));
  snprintf(f, sizeof f, "%s", tp("out.txt"));
  unlink(fifo);
  CU_ASSERT_FATAL(mkfifo(fifo, 0600) == 0);
  CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
  /* a copy of /dev/null in the scratch directory: replacing it harms nothing */
  bool have_dev = mknod(dev, S_IFCHR | 0600, makedev(1, 3)) == 0;
  if (!have_dev) printf("\n  (no device node: mknod needs root; the device case is skipped)\n");
  struct stat st;
  for (size_t w = 0; w < sizeof writers / sizeof writers[0]; w++) {
    EXPECT_ERR(writers[w](fifo), NN_ERR_IO, fifo, "is a named pipe (FIFO); expected a regular file to replace");
    CU_ASSERT(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    EXPECT_ERR(writers[w](dir), NN_ERR_IO, dir, "is a directory");
    CU_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    if (have_dev) {
      EXPECT_ERR(writers[w](dev), NN_ERR_IO, dev, "is a character device");
      CU_ASSERT(stat(dev, &st) == 0 && S_ISCHR(st.st_mode));
    }
    EXPECT_ERR(writers[w](tp("no-such-dir/x")), NN_ERR_IO, "no-such-dir/x", "cannot create the temporary file");
  }
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  /* rt_atomic_check on a new name or a regular file: OK, nothing changed */
  unlink(f);
  EXPECT_OK(rt_atomic_check(f));
  CU_ASSERT(stat(f, &st) != 0);
  write_bytes(f, "kept", 4);
  EXPECT_OK(rt_atomic_check(f));
  CU_ASSERT(file_equals(f, "kept", 4));
  CU_ASSERT_EQUAL(count_entries(".tmp."), 0);
  /* one file, several names */
  char a[1200], b[1200], c[1200];
  snprintf(a, sizeof a, "%s/new.csv", tmp_dir);
  snprintf(b, sizeof b, "%s/./new.csv", tmp_dir);
  snprintf(c, sizeof c, "%s/out.dir/../new.csv", tmp_dir);
  CU_ASSERT(rt_path_same(a, b) && rt_path_same(a, c)); /* neither exists */
  CU_ASSERT(!rt_path_same(a, f));
  unlink(tp("hard.txt"));
  CU_ASSERT_FATAL(link(f, tp("hard.txt")) == 0);
  CU_ASSERT(rt_path_same(f, tp("hard.txt")));
  CU_ASSERT(!rt_path_same(f, tp("new.csv")) && !rt_path_same(tp("no-such-dir/a"), tp("no-such-dir/a/.")));
  unlink(tp("hard.txt"));
  unlink(f);
  unlink(fifo);
  unlink(dev);
  rmdir(dir);
}

/* ---- text and vocabularies ------------------------------------------------------ */

static void test_text_vocab(void) {
  const char *path = tp("t.txt");
  const char *text = "hello world\n";
  write_bytes(path, text, strlen(text));
  uint8_t *b;
  size_t n;
  EXPECT_OK(rt_text_read(path, &b, &n));
  CU_ASSERT(n == strlen(text) && memcmp(b, text, n) == 0 && b[n] == 0);
  rt_vocab v;
  rt_vocab_build(&v, b, n);
  CU_ASSERT_EQUAL(v.n, 9);
  CU_ASSERT(memcmp(v.chars, "\n dehlorw", 9) == 0);
  CU_ASSERT(v.id['h'] == 4 && v.id['\n'] == 0 && v.id['z'] == -1 && v.id[0] == -1);
  int32_t ids[32];
  EXPECT_OK(rt_vocab_encode(&v, b, n, ids));
  for (size_t i = 0; i < n; i++) CU_ASSERT(v.chars[ids[i]] == b[i]);
  char *s = rt_vocab_to_string(&v);
  CU_ASSERT_STRING_EQUAL(s, "0a206465686c6f7277");
  rt_vocab w;
  EXPECT_OK(rt_vocab_from_string(s, &w));
  CU_ASSERT(memcmp(&v, &w, sizeof v) == 0);
  rt_free(s);
  EXPECT_OK(rt_vocab_from_string("0A20", &w));
  CU_ASSERT(w.n == 2 && w.chars[0] == '\n' && w.id[' '] == 1);
  EXPECT_ERR(rt_vocab_encode(&v, (const uint8_t *)"hez", 3, ids), NN_ERR_RANGE,
             NULL, "byte 122 (0x7a) at offset 2");
  rt_free(b);

  static const char *bad[] = {"0a2", "zz", "2020", "200a", "0a 2"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    EXPECT_ERR(rt_vocab_from_string(bad[k], &w), NN_ERR_FORMAT, NULL, "vocabulary string");
    CU_ASSERT(w.n == 0 && w.id['a'] == -1);
  }
  /* Every byte value. */
  uint8_t all[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)(255 - i);
  rt_vocab_build(&v, all, 256);
  CU_ASSERT(v.n == 256 && v.chars[255] == 255 && v.id[255] == 255);
  s = rt_vocab_to_string(&v);
  CU_ASSERT(strlen(s) == 512);
  EXPECT_OK(rt_vocab_from_string(s, &w));
  CU_ASSERT(memcmp(&v, &w, sizeof v) == 0);
  rt_free(s);
  rt_vocab_build(&v, NULL, 0);
  s = rt_vocab_to_string(&v);
  CU_ASSERT_STRING_EQUAL(s, "");
  rt_free(s);

  write_bytes(path, "", 0);
  EXPECT_ERR(rt_text_read(path, &b, &n), NN_ERR_FORMAT, path, "empty file");
  /* Over 1 GB (a sparse file): refused before reading or allocating. */
  const char *hp = tp("huge.txt");
  int fd = open(hp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT(ftruncate(fd, ((off_t)1 << 30) + 1) == 0);
  close(fd);
  hook_on(-1);
  EXPECT_ERR(rt_text_read(hp, &b, &n), NN_ERR_RANGE, hp, "1073741825 bytes");
  CU_ASSERT(H.n == 0);
  hook_off();
  unlink(hp);
  write_bytes(path, text, strlen(text));
  alloc_fail_loop("text", do_text, path);
}

/* ---- every reader on hostile input ----------------------------------------------- */

static nn_status do_csv_first(const char *path) {
  rt_tensor x, y;
  nn_status s = rt_csv_read(path, 0, &x, &y);
  rt_tensor_free(&x);
  rt_tensor_free(&y);
  return s;
}

static void test_hostile(void) {
  static const struct { const char *name; nn_status (*fn)(const char *); } readers[] = {
      {"npy", do_npy}, {"safetensors", do_st}, {"idx", do_idx},
      {"csv", do_csv}, {"text", do_text}, {"csv0", do_csv_first},
  };
  const char *missing = tp("does-not-exist");
  const char *empty = tp("empty");
  write_bytes(empty, "", 0);
  for (size_t r = 0; r < sizeof readers / sizeof readers[0]; r++) {
    EXPECT_ERR(readers[r].fn(missing), NN_ERR_IO, missing, strerror(ENOENT));
    EXPECT_ERR(readers[r].fn(tmp_dir), NN_ERR_IO, tmp_dir, "cannot read a directory");
    EXPECT_ERR(readers[r].fn(empty), NN_ERR_FORMAT, empty, NULL);
  }
  /* Random garbage, raw and behind each format's magic. The binary formats
   * must refuse it; CSV must not crash and must name the file if it fails. */
  const char *gp = tp("garbage");
  uint8_t buf[600];
  for (int it = 0; it < 600; it++) {
    size_t n = 1 + rnd() % 500;
    for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)rnd();
    int kind = it % 4;
    if (kind == 1) memcpy(buf, "\x93NUMPY\x01\x00", n < 8 ? n : 8);
    if (kind == 2) {
      uint64_t hn = n > 8 ? rnd() % (n - 8 + 1) : 0;
      for (int k = 0; k < 8 && (size_t)k < n; k++) buf[k] = (uint8_t)(hn >> (8 * k));
      if (n > 8) buf[8] = '{';
    }
    if (kind == 3) memcpy(buf, "\0\0\x08\x01", n < 4 ? n : 4);
    write_bytes(gp, buf, n);
    for (int r = 0; r < 3; r++) {
      nn_status s = readers[r].fn(gp);
      if (s != NN_ERR_FORMAT || !strstr(rt_last_error(), gp))
        printf("\n    %s on garbage %d: %d %s\n", readers[r].name, it, s, rt_last_error());
      CU_ASSERT_EQUAL(s, NN_ERR_FORMAT);
    }
    nn_status s = do_csv(gp);
    CU_ASSERT(s == NN_OK || (s == NN_ERR_FORMAT && strstr(rt_last_error(), gp)));
  }
  /* NULL arguments. */
  rt_tensor t;
  rt_tensorset ts;
  CU_ASSERT_EQUAL(rt_npy_read(NULL, &t), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_npy_read(empty, NULL), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_st_read(NULL, &ts), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_idx_read(empty, NULL), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_csv_read(empty, -1, &t, NULL), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_npy_write(empty, NULL), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_st_write(NULL, NULL, 0, NULL, NULL, 0), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_st_write(empty, NULL, 1, NULL, NULL, 0), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_vocab_from_string(NULL, NULL), NN_ERR_NULL);
  CU_ASSERT(rt_ts_find(NULL, "x") == NULL && rt_ts_meta(NULL, "x") == NULL);
}

/* ---- main ------------------------------------------------------------------ */

int main(void) {
  const char *base = getenv("TMPDIR");
  char templ[512];
  snprintf(templ, sizeof templ, "%s/nnc_test_io.XXXXXX", base && *base ? base : "/tmp");
  if (!tmp_make(templ)) return 2;
  static const UnitTest tests[] = {
      {"grow and realloc", test_grow},
      {"strict numbers", test_parse_numbers},
      {"pipes, devices and directories refused", test_not_regular},
      {"writers replace only regular files", test_write_not_regular},
      {"stale temporaries removed", test_stale_temporaries},
      {"dtypes and tensors", test_dtypes_tensors},
      {"npy round trip", test_npy_roundtrip},
      {"npy hand-made files", test_npy_handmade},
      {"npy truncation, mutation, allocation failure, pipe", test_npy_robust},
      {"json parser", test_json},
      {"safetensors round trip", test_st_roundtrip},
      {"safetensors hand-made file", test_st_handmade},
      {"safetensors malformed headers", test_st_malformed},
      {"safetensors truncation, mutation, allocation failure", test_st_robust},
      {"atomic writes", test_atomic},
      {"idx plain and gzip", test_idx},
      {"fashion-mnist", test_fashion_mnist},
      {"csv", test_csv},
      {"text and vocabulary", test_text_vocab},
      {"hostile input for every reader", test_hostile},
      {0, 0},
  };
  int rc = unit_run("rt_io", tests);
  tmp_remove();
  return rc;
}
