/* train_tool.c — the files the training programs' end-to-end tests need
 * (train_tests.sh), made with the runtime's own readers and writers:
 *
 *   train_tool idx-head SRC DST N          the first N items of an IDX file (plain or .gz) as plain IDX
 *   train_tool idx-zeros DST D0 D1 ...     a u8 IDX file of zeros with that shape
 *   train_tool npy-head SRC DST N f32|u8|i64 [SCALE]
 *                                          the first N items of an IDX file as .npy (values times SCALE)
 *   train_tool csv-head IMAGES LABELS DST N  N rows: 784 pixel values, then the label
 *   train_tool ckpt-cmp A B                same tensors, byte for byte (exit 0), else exit 1 naming one
 *   train_tool ckpt-close A B TOL          the same parameters within TOL relative: per tensor,
 *                                          ||A - B|| / ||A|| (prints the worst; the optimizer state,
 *                                          NAME.m and NAME.v, is reported, not checked)
 *   train_tool ckpt-meta A KEY             print a metadata value of a checkpoint (exit 1 if unreadable)
 *   train_tool ckpt-set A B KEY [VALUE]    A with metadata KEY set to VALUE (removed without VALUE) as B
 *   train_tool ckpt-poison A B TENSOR      A with the first value of f32 TENSOR NaN, its data_crc32
 *                                          recomputed (a run that diverged), as B
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_io.h"

static int die(const char *what) {
  fprintf(stderr, "train_tool: %s: %s\n", what, rt_last_error());
  return 1;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Writes a u8 IDX file (only u8 data is needed here). */
static int write_idx_u8(const char *path, int rank, const int64_t *shape, const uint8_t *data) {
  FILE *f = fopen(path, "wb");
  if (!f) return 1;
  uint8_t h[4 + 4 * RT_MAX_RANK] = {0, 0, 0x08, (uint8_t)rank};
  size_t n = 1;
  for (int i = 0; i < rank; i++) be32(h + 4 + 4 * i, (uint32_t)shape[i]), n *= (size_t)shape[i];
  int bad = fwrite(h, 1, 4 + 4 * (size_t)rank, f) != 4 + 4 * (size_t)rank || fwrite(data, 1, n, f) != n;
  return fclose(f) || bad;
}

static int64_t per_item(const rt_tensor *t) {
  int64_t p = 1;
  for (int i = 1; i < t->rank; i++) p *= t->shape[i];
  return p;
}

static int idx_head(const char *src, const char *dst, int64_t n) {
  rt_tensor t;
  if (rt_idx_read(src, &t)) return die(src);
  if (t.dtype != RT_U8 || n > t.shape[0]) return die("need u8 data with enough items");
  t.shape[0] = n;
  int rc = write_idx_u8(dst, t.rank, t.shape, t.data);
  rt_tensor_free(&t);
  return rc;
}

static int idx_zeros(const char *dst, int rank, char **dims) {
  int64_t shape[RT_MAX_RANK];
  size_t n = 1;
  for (int i = 0; i < rank; i++) shape[i] = atoll(dims[i]), n *= (size_t)shape[i];
  uint8_t *z = calloc(n ? n : 1, 1);
  int rc = write_idx_u8(dst, rank, shape, z);
  free(z);
  return rc;
}

static int npy_head(const char *src, const char *dst, int64_t n, const char *type, double scale) {
  rt_tensor t, o;
  if (rt_idx_read(src, &t)) return die(src);
  int64_t per = per_item(&t);
  int64_t shape[2] = {n, per};
  rt_dtype dt = !strcmp(type, "f32") ? RT_F32 : !strcmp(type, "i64") ? RT_I64 : RT_U8;
  if (rt_tensor_alloc(&o, NULL, dt, per > 1 ? 2 : 1, shape)) return die("alloc");
  for (int64_t i = 0; i < n * per; i++) {
    double v = ((uint8_t *)t.data)[i] * scale;
    if (dt == RT_F32) ((float *)o.data)[i] = (float)v;
    else if (dt == RT_I64) ((int64_t *)o.data)[i] = (int64_t)v;
    else ((uint8_t *)o.data)[i] = (uint8_t)v;
  }
  int rc = rt_npy_write(dst, &o) ? die(dst) : 0;
  rt_tensor_free(&t);
  rt_tensor_free(&o);
  return rc;
}

static int csv_head(const char *images, const char *labels, const char *dst, int64_t n) {
  rt_tensor x, y;
  if (rt_idx_read(images, &x)) return die(images);
  if (rt_idx_read(labels, &y)) return die(labels);
  FILE *f = fopen(dst, "w");
  if (!f) return 1;
  int64_t per = per_item(&x);
  for (int64_t k = 0; k < per; k++) fprintf(f, "p%lld,", (long long)k); /* a header: skipped */
  fprintf(f, "label\n");
  for (int64_t i = 0; i < n; i++) {
    for (int64_t k = 0; k < per; k++) fprintf(f, "%u,", ((uint8_t *)x.data)[i * per + k]);
    fprintf(f, "%u\n", ((uint8_t *)y.data)[i]);
  }
  rt_tensor_free(&x);
  rt_tensor_free(&y);
  return fclose(f) != 0;
}

static int ckpt_cmp(const char *a, const char *b) {
  rt_tensorset A, B;
  if (rt_st_read(a, &A)) return die(a);
  if (rt_st_read(b, &B)) return die(b);
  int rc = A.n == B.n ? 0 : 1;
  if (rc) fprintf(stderr, "%s has %d tensors, %s has %d\n", a, A.n, b, B.n);
  for (int i = 0; i < A.n && !rc; i++) {
    const rt_tensor *t = &A.t[i], *u = rt_ts_find(&B, t->name);
    if (!u || u->nbytes != t->nbytes || memcmp(u->data, t->data, t->nbytes)) {
      fprintf(stderr, "tensor '%s' differs between %s and %s\n", t->name, a, b);
      rc = 1;
    }
  }
  if (!rc) printf("%d tensors identical\n", A.n);
  rt_ts_free(&A);
  rt_ts_free(&B);
  return rc;
}

static double value(const rt_tensor *t, size_t i) {
  return t->dtype == RT_F64 ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

static int ckpt_close(const char *a, const char *b, double tol) {
  rt_tensorset A, B;
  if (rt_st_read(a, &A)) return die(a);
  if (rt_st_read(b, &B)) return die(b);
  int rc = A.n == B.n ? 0 : 1;
  if (rc) fprintf(stderr, "%s has %d tensors, %s has %d\n", a, A.n, b, B.n);
  double worst = 0, state_worst = 0;
  const char *wname = "";
  for (int i = 0; i < A.n && !rc; i++) {
    const rt_tensor *t = &A.t[i], *u = rt_ts_find(&B, t->name);
    if (!u || u->nbytes != t->nbytes || u->dtype != t->dtype || (t->dtype != RT_F32 && t->dtype != RT_F64)) {
      fprintf(stderr, "tensor '%s' is missing or differs in type or size between %s and %s\n", t->name, a, b);
      rc = 1;
      break;
    }
    size_t n = t->nbytes / rt_dtype_size(t->dtype);
    double diff = 0, mag = 0; /* squared norms of the difference and of A's tensor */
    for (size_t k = 0; k < n; k++) {
      double x = value(t, k), y = value(u, k);
      diff += (x - y) * (x - y);
      mag += x * x;
    }
    double rel = mag > 0 ? sqrt(diff / mag) : sqrt(diff);
    size_t len = strlen(t->name);
    if (len > 2 && t->name[len - 2] == '.' && (t->name[len - 1] == 'm' || t->name[len - 1] == 'v')) {
      state_worst = rel > state_worst ? rel : state_worst; /* optimizer state: reported, not checked */
      continue;
    }
    if (getenv("CKPT_CLOSE_ALL")) printf("  %s: %.3g\n", t->name, rel);
    if (!(rel <= worst)) worst = rel, wname = t->name;
  }
  if (!rc) {
    printf("%d tensors; the largest relative difference of a parameter is %.3g (%s), of the optimizer state %.3g\n",
           A.n, worst, wname, state_worst);
    if (!(worst <= tol)) {
      fprintf(stderr, "tensor '%s' differs by %.3g relative, more than %g\n", wname, worst, tol);
      rc = 1;
    }
  }
  rt_ts_free(&A);
  rt_ts_free(&B);
  return rc;
}

static int ckpt_meta(const char *a, const char *key) {
  rt_tensorset A;
  if (rt_st_read(a, &A)) return die(a);
  const char *v = rt_ts_meta(&A, key);
  if (v) printf("%s\n", v);
  rt_ts_free(&A);
  return v ? 0 : 1;
}

/* Writes A's tensors to b with A's metadata, KEY set to VALUE (NULL: removed). */
static int write_with_meta(const rt_tensorset *A, const char *b, const char *key, const char *val) {
  const char *k[128], *v[128];
  int n = 0;
  bool done = false;
  for (int i = 0; i < A->nmeta && n < 127; i++) {
    bool hit = !strcmp(A->meta_key[i], key);
    done |= hit;
    if (hit && !val) continue;
    k[n] = A->meta_key[i], v[n++] = hit ? val : A->meta_val[i];
  }
  if (!done && val) k[n] = key, v[n++] = val;
  return rt_st_write(b, A->t, A->n, k, v, n) ? die(b) : 0;
}

static int ckpt_set(const char *a, const char *b, const char *key, const char *val) {
  rt_tensorset A;
  if (rt_st_read(a, &A)) return die(a);
  int rc = write_with_meta(&A, b, key, val);
  rt_ts_free(&A);
  return rc;
}

static int ckpt_poison(const char *a, const char *b, const char *tensor) {
  rt_tensorset A;
  if (rt_st_read(a, &A)) return die(a);
  rt_tensor *t = (rt_tensor *)rt_ts_find(&A, tensor);
  int rc = 1;
  if (!t || t->dtype != RT_F32 || !t->nbytes) {
    fprintf(stderr, "train_tool: %s: no f32 tensor '%s'\n", a, tensor);
  } else {
    float nan = __builtin_nanf("");
    memcpy(t->data, &nan, sizeof nan);
    char crc[16];
    snprintf(crc, sizeof crc, "%08x", (unsigned)rt_st_data_crc32(A.t, A.n));
    rc = write_with_meta(&A, b, "data_crc32", crc);
  }
  rt_ts_free(&A);
  return rc;
}

int main(int argc, char **argv) {
  const char *c = argc > 1 ? argv[1] : "";
  if (!strcmp(c, "idx-head") && argc == 5) return idx_head(argv[2], argv[3], atoll(argv[4]));
  if (!strcmp(c, "idx-zeros") && argc >= 4) return idx_zeros(argv[2], argc - 3, argv + 3);
  if (!strcmp(c, "npy-head") && argc >= 6)
    return npy_head(argv[2], argv[3], atoll(argv[4]), argv[5], argc > 6 ? atof(argv[6]) : 1.0);
  if (!strcmp(c, "csv-head") && argc == 6) return csv_head(argv[2], argv[3], argv[4], atoll(argv[5]));
  if (!strcmp(c, "ckpt-cmp") && argc == 4) return ckpt_cmp(argv[2], argv[3]);
  if (!strcmp(c, "ckpt-close") && argc == 5) return ckpt_close(argv[2], argv[3], atof(argv[4]));
  if (!strcmp(c, "ckpt-meta") && argc == 4) return ckpt_meta(argv[2], argv[3]);
  if (!strcmp(c, "ckpt-set") && (argc == 5 || argc == 6)) return ckpt_set(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
  if (!strcmp(c, "ckpt-poison") && argc == 5) return ckpt_poison(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: see the comment at the top of train_tool.c\n");
  return 2;
}
