/* rt_data.c — datasets for the training program; see rt_data.h.
 *
 * Loading reads the files with the rt_io readers, then checks the result
 * against the model (rt_data_shape: the loss function's two inputs):
 * features and labels have the same number of samples, each sample has
 * the element count of the model's input without its batch axis, labels
 * are whole numbers in [0, nclasses) when the model takes class indices,
 * float features are finite. Labels are converted once to the model's
 * dtype (they are small); features stay as stored and are converted per
 * batch. */
#include "rt_data.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEXT_MAX_TOTAL ((size_t)1 << 30) /* 1 GB of text at most */

const char *rt_data_kind_name(int kind) {
  switch (kind) {
  case RT_DATA_IDX: return "idx";
  case RT_DATA_NPY: return "npy";
  case RT_DATA_CSV: return "csv";
  case RT_DATA_TEXT: return "text";
  }
  return "none";
}

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

bool rt_source_same(const rt_source *a, const rt_source *b) {
  return a->kind == b->kind && a->kind != RT_DATA_NONE && same_str(a->path[0], b->path[0]) &&
         same_str(a->path[1], b->path[1]) && a->scale == b->scale && a->label_col == b->label_col;
}

uint64_t rt_fnv1a(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* ---- the model's inputs ------------------------------------------------------- */

static const char *dt_name(int dt) {
  switch (dt) {
  case RT_DT_F32: return "f32";
  case RT_DT_F64: return "f64";
  case RT_DT_I32: return "i32";
  case RT_DT_BOOL: return "bool";
  }
  return "?";
}

static size_t dt_size(int dt) { return dt == RT_DT_F64 ? 8 : dt == RT_DT_BOOL ? 1 : 4; }

char *rt_slot_str(const rt_slot *s, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "%s[", dt_name(s->dtype));
  for (int i = 0; i < s->rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? "," : "", s->shape[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

static int64_t per_sample(const rt_slot *s) {
  int64_t p = 1;
  for (int i = 1; i < s->rank; i++) p *= s->shape[i];
  return p;
}

nn_status rt_data_shape_of(const rt_model_desc *d, rt_data_shape *sh) {
  memset(sh, 0, sizeof *sh);
  if (!d->train || d->train->loss_fn < 0 || d->train->loss_fn >= d->nfuncs)
    return rt_error(NN_ERR_ARG, "%s has no train block with a loss function", d->name);
  const rt_func_desc *f = &d->funcs[d->train->loss_fn];
  bool have[2] = {false, false};
  for (int i = 0; i < f->nargs; i++) {
    const rt_slot *a = &f->args[i];
    if (a->role != RT_IN_INPUT || a->index > 1) continue;
    if (a->index == 0) sh->x = *a;
    else sh->y = *a;
    have[a->index] = true;
  }
  if (f->nuser_in != 2 || !have[0] || !have[1])
    return rt_error(NN_ERR_MISMATCH, "%s: the loss function '%s' must take two inputs (features, targets), not %d",
                    d->name, f->name, f->nuser_in);
  if (sh->x.rank < 1 || sh->y.rank < 1 || sh->x.shape[0] != sh->y.shape[0] || sh->x.shape[0] < 1)
    return rt_error(NN_ERR_MISMATCH, "%s: the inputs of '%s' must share their first (batch) axis", d->name, f->name);
  if (sh->x.dtype == RT_DT_BOOL || sh->y.dtype == RT_DT_BOOL)
    return rt_error(NN_ERR_MISMATCH, "%s: '%s' takes bool inputs, which no data source delivers", d->name, f->name);
  sh->batch = sh->x.shape[0];
  sh->x_per = per_sample(&sh->x);
  sh->y_per = per_sample(&sh->y);
  sh->nclasses = d->train->nclasses;
  return NN_OK;
}

/* ---- idx, npy, csv -------------------------------------------------------------- */

void rt_data_free(rt_dataset *ds) {
  if (!ds) return;
  rt_tensor_free(&ds->x);
  rt_tensor_free(&ds->y);
  memset(ds, 0, sizeof *ds);
}

/* "28x28x3" (the shape without the first axis), or "1 (one value)". */
static void sample_shape(const rt_tensor *t, char *buf, size_t n) {
  if (t->rank <= 1) {
    snprintf(buf, n, "1 (one value per sample: %s)", t->rank ? "a vector of samples" : "a scalar");
    return;
  }
  size_t k = 0;
  for (int i = 1; i < t->rank && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i > 1 ? "x" : "", t->shape[i]);
}

static int64_t tensor_per(const rt_tensor *t) {
  int64_t p = 1;
  for (int i = 1; i < t->rank; i++) p *= t->shape[i];
  return p;
}

/* The features: per-sample count, finiteness. */
static nn_status check_features(const rt_tensor *x, const char *path, const rt_data_shape *sh, int64_t n) {
  char want[128], got[128];
  if (tensor_per(x) != sh->x_per) {
    sample_shape(x, got, sizeof got);
    return rt_error(NN_ERR_MISMATCH, "%s: expected %" PRId64 " values per sample (%s without the batch axis), found %s",
                    path, sh->x_per, rt_slot_str(&sh->x, want, sizeof want), got);
  }
  if (x->dtype == RT_F32 || x->dtype == RT_F64) {
    size_t total = (size_t)(n * sh->x_per);
    for (size_t i = 0; i < total; i++) {
      double v = rt_tensor_get(x, i);
      if (!isfinite(v))
        return rt_error(NN_ERR_RANGE, "%s: value %zu (sample %" PRId64 ") is %g; expected finite numbers", path, i,
                        (int64_t)(i / (size_t)sh->x_per), v);
    }
  }
  return NN_OK;
}

/* The labels: per-sample count, whole numbers in range for class targets;
 * converted into a fresh tensor of the model's dtype, [n, y_per]. */
static nn_status convert_labels(const rt_tensor *y, const char *path, const rt_data_shape *sh, int64_t n,
                                rt_tensor *out) {
  char want[128], got[128];
  if (tensor_per(y) != sh->y_per) {
    sample_shape(y, got, sizeof got);
    return rt_error(NN_ERR_MISMATCH, "%s: expected %" PRId64 " label%s per sample (%s without the batch axis), found %s",
                    path, sh->y_per, sh->y_per == 1 ? "" : "s", rt_slot_str(&sh->y, want, sizeof want), got);
  }
  int64_t shape[2] = {n, sh->y_per};
  rt_dtype dt = sh->y.dtype == RT_DT_I32 ? RT_I32 : sh->y.dtype == RT_DT_F64 ? RT_F64 : RT_F32;
  nn_status s = rt_tensor_alloc(out, NULL, dt, 2, shape);
  if (s) return s;
  size_t total = (size_t)(n * sh->y_per);
  for (size_t i = 0; i < total; i++) {
    double v = rt_tensor_get(y, i);
    if (dt != RT_I32) {
      if (!isfinite(v)) {
        rt_tensor_free(out);
        return rt_error(NN_ERR_RANGE, "%s: target %zu is %g; expected finite numbers", path, i, v);
      }
      if (dt == RT_F64) ((double *)out->data)[i] = v;
      else ((float *)out->data)[i] = (float)v;
      continue;
    }
    bool bad = !(v >= 0) || v != floor(v) || v > INT32_MAX || (sh->nclasses > 0 && v >= (double)sh->nclasses);
    if (bad) {
      rt_tensor_free(out);
      char range[64];
      if (sh->nclasses > 0) snprintf(range, sizeof range, "0..%" PRId64 " (%" PRId64 " classes)", sh->nclasses - 1, sh->nclasses);
      else snprintf(range, sizeof range, "a whole number >= 0");
      return rt_error(NN_ERR_RANGE, "%s: label %g at index %zu is out of range; expected %s", path, v, i, range);
    }
    ((int32_t *)out->data)[i] = (int32_t)v;
  }
  return NN_OK;
}

nn_status rt_data_load(const rt_source *src, const rt_data_shape *sh, int64_t limit, rt_dataset *out) {
  memset(out, 0, sizeof *out);
  rt_tensor x = {0}, y = {0};
  nn_status s;
  const char *xp = src->path[0], *yp = src->path[1] ? src->path[1] : src->path[0];
  if (!xp || (src->kind != RT_DATA_CSV && !src->path[1]))
    return rt_error(NN_ERR_ARG, "%s() needs %s", rt_data_kind_name(src->kind),
                    src->kind == RT_DATA_CSV ? "a file" : "two files (features, labels)");
  switch (src->kind) {
  case RT_DATA_IDX:
    s = rt_idx_read(xp, &x);
    if (!s) s = rt_idx_read(yp, &y);
    break;
  case RT_DATA_NPY:
    s = rt_npy_read(xp, &x);
    if (!s) s = rt_npy_read(yp, &y);
    break;
  case RT_DATA_CSV: s = rt_csv_read(xp, (int)src->label_col, &x, &y); break;
  default: return rt_error(NN_ERR_ARG, "data source kind %d is not idx, npy or csv", src->kind);
  }
  if (!s && x.rank == 0) s = rt_error(NN_ERR_MISMATCH, "%s: a scalar; expected an array of samples", xp);
  if (!s && y.rank == 0) s = rt_error(NN_ERR_MISMATCH, "%s: a scalar; expected an array of labels", yp);
  if (!s && x.shape[0] != y.shape[0])
    s = rt_error(NN_ERR_MISMATCH, "%s has %" PRId64 " samples but %s has %" PRId64 " labels; expected the same count",
                 xp, x.shape[0], yp, y.shape[0]);
  if (!s && x.shape[0] == 0) s = rt_error(NN_ERR_MISMATCH, "%s: no samples", xp);
  int64_t n = s ? 0 : x.shape[0];
  if (limit > 0 && n > limit) n = limit;
  if (!s) s = check_features(&x, xp, sh, n);
  rt_tensor yc = {0};
  if (!s) s = convert_labels(&y, yp, sh, n, &yc);
  rt_tensor_free(&y);
  if (s) {
    rt_tensor_free(&x);
    return s;
  }
  out->x = x;
  out->y = yc;
  out->n = n;
  out->scale = src->scale;
  if (src->kind == RT_DATA_CSV) snprintf(out->what, sizeof out->what, "%s", xp);
  else snprintf(out->what, sizeof out->what, "%s, %s", xp, yp);
  uint64_t h = RT_FNV_INIT;
  h = rt_fnv1a(h, x.data, (size_t)n * (size_t)sh->x_per * rt_dtype_size(x.dtype));
  h = rt_fnv1a(h, yc.data, yc.nbytes);
  h = rt_fnv1a(h, &out->scale, sizeof out->scale);
  out->fingerprint = h;
  return NN_OK;
}

/* ---- text ------------------------------------------------------------------------ */

size_t rt_text_normalize(uint8_t *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c == '\t') c = ' ';
    if (c == '\n' || (c >= 0x20 && c < 0x7f)) s[k++] = c;
  }
  return k;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends a file's normalized text to c (growing c->text), ending it with
 * a newline so files do not run into each other. */
static nn_status append_text(rt_text_corpus *c, size_t *cap, const uint8_t *b, size_t n) {
  uint8_t *nt = rt_grow(c->text, cap, c->len + n + 2, 1);
  if (!nt) return NN_ERR_NOMEM;
  c->text = nt;
  memcpy(c->text + c->len, b, n);
  c->len += n;
  if (n && b[n - 1] != '\n') c->text[c->len++] = '\n';
  c->text[c->len] = 0;
  return NN_OK;
}

/* The regular, non-hidden, non-symlink files of dir, sorted by name. */
static nn_status list_dir(const char *dir, char ***names, int *count) {
  *names = NULL;
  *count = 0;
  DIR *dp = opendir(dir);
  if (!dp) return rt_error(NN_ERR_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
  int n = 0;
  size_t cap = 0;
  char **v = NULL;
  nn_status s = NN_OK;
  struct dirent *e;
  while (!s && (e = readdir(dp))) {
    if (e->d_name[0] == '.') continue;
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    char *p = rt_alloc(len);
    if (!p) {
      s = NN_ERR_NOMEM;
      break;
    }
    snprintf(p, len, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
      rt_free(p);
      continue;
    }
    char **nv = rt_grow(v, &cap, (size_t)n + 1, sizeof *v);
    if (!nv) {
      rt_free(p);
      s = NN_ERR_NOMEM;
      break;
    }
    v = nv;
    v[n++] = p;
  }
  closedir(dp);
  if (s) {
    for (int i = 0; i < n; i++) rt_free(v[i]);
    rt_free(v);
    return s;
  }
  if (n) qsort(v, (size_t)n, sizeof *v, cmp_names);
  *names = v;
  *count = n;
  return NN_OK;
}

/* Reads one file into c; NUL bytes make it skipped when `skip_binary`,
 * an error otherwise. */
static nn_status add_file(rt_text_corpus *c, size_t *cap, const char *path, bool skip_binary) {
  uint8_t *b = NULL;
  size_t n = 0;
  nn_status s = rt_file_read_all(path, TEXT_MAX_TOTAL, &b, &n);
  if (s) return s;
  if (memchr(b, 0, n)) {
    rt_free(b);
    if (skip_binary) {
      c->nskipped++;
      return NN_OK;
    }
    return rt_error(NN_ERR_FORMAT, "%s: contains NUL bytes; expected text", path);
  }
  if (c->len + n > TEXT_MAX_TOTAL) {
    rt_free(b);
    return rt_error(NN_ERR_RANGE, "%s: the text is larger than the limit of 1 GB", path);
  }
  n = rt_text_normalize(b, n);
  s = append_text(c, cap, b, n);
  rt_free(b);
  if (!s) c->nfiles++;
  return s;
}

nn_status rt_text_load(const char *path, rt_text_corpus *c) {
  memset(c, 0, sizeof *c);
  struct stat st;
  if (!path) return rt_error(NN_ERR_ARG, "text(): no path");
  if (stat(path, &st) != 0) return rt_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 0;
  nn_status s = NN_OK;
  if (S_ISDIR(st.st_mode)) {
    char **names;
    int n;
    s = list_dir(path, &names, &n);
    if (s) return s;
    for (int i = 0; i < n && !s; i++) s = add_file(c, &cap, names[i], true);
    for (int i = 0; i < n; i++) rt_free(names[i]);
    rt_free(names);
  } else {
    s = add_file(c, &cap, path, false);
  }
  if (!s && c->len == 0)
    s = rt_error(NN_ERR_FORMAT, "%s: no text: expected printable ASCII characters (after dropping control bytes, "
                 "bytes >= 0x80%s)", path, S_ISDIR(st.st_mode) ? " and files with NUL bytes" : "");
  if (s) rt_text_free(c);
  return s;
}

nn_status rt_text_encode(rt_text_corpus *c, const rt_vocab *v, const char *what, const char *vocab_from) {
  rt_free(c->ids);
  c->ids = rt_alloc((c->len ? c->len : 1) * sizeof *c->ids);
  if (!c->ids) return NN_ERR_NOMEM;
  for (size_t i = 0; i < c->len; i++) {
    int id = v->id[c->text[i]];
    if (id < 0) {
      uint8_t ch = c->text[i];
      rt_free(c->ids);
      c->ids = NULL;
      char show[16];
      if (ch == '\n') snprintf(show, sizeof show, "'\\n'");
      else snprintf(show, sizeof show, "'%c'", ch);
      return rt_error(NN_ERR_MISMATCH, "%s: character %s at offset %zu is not in the vocabulary of %d characters "
                      "the model was trained with%s%s%s", what, show, i, v->n, vocab_from ? " (" : "",
                      vocab_from ? vocab_from : "", vocab_from ? ")" : "");
    }
    c->ids[i] = id;
  }
  return NN_OK;
}

void rt_text_free(rt_text_corpus *c) {
  if (!c) return;
  rt_free(c->text);
  rt_free(c->ids);
  memset(c, 0, sizeof *c);
}

size_t rt_text_split_point(size_t len, double split) { return (size_t)floor((double)len * (1.0 - split)); }

int64_t rt_text_windows(int64_t n, int64_t T) { return n > 1 && T > 0 ? (n - 1) / T : 0; }

nn_status rt_data_text(const int32_t *ids, int64_t n, const rt_data_shape *sh, const char *what, rt_dataset *out) {
  memset(out, 0, sizeof *out);
  char xs[128], ys[128];
  if (sh->x.dtype != RT_DT_I32 || sh->y.dtype != RT_DT_I32 || sh->x.rank != 2 || sh->y.rank != 2 ||
      sh->x.shape[1] != sh->y.shape[1])
    return rt_error(NN_ERR_MISMATCH, "text() delivers character ids: the loss function must take x: i32[B, T] and "
                    "y: i32[B, T], not %s and %s", rt_slot_str(&sh->x, xs, sizeof xs), rt_slot_str(&sh->y, ys, sizeof ys));
  int64_t T = sh->x.shape[1];
  int64_t w = rt_text_windows(n, T);
  if (w < 1)
    return rt_error(NN_ERR_MISMATCH, "%s: %" PRId64 " characters; expected at least %" PRId64
                    " (one window of T = %" PRId64 " plus the next character)", what, n, T + 1, T);
  snprintf(out->what, sizeof out->what, "%s", what);
  out->ids = ids;
  out->nids = n;
  out->T = T;
  out->n = w;
  out->scale = 1;
  out->fingerprint = rt_fnv1a(RT_FNV_INIT, ids, (size_t)n * sizeof *ids);
  return NN_OK;
}

/* ---- batches --------------------------------------------------------------------- */

void rt_data_order(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch) {
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    uint32_t r[4];
    rt_philox(seed ^ 0x53485546464c4531ull /* "SHUFFLE1" */, (uint64_t)epoch, (uint64_t)i, r);
    uint64_t u = ((uint64_t)r[0] << 32) | r[1];
    /* j uniform in [0, i]: the high word of a 64x64 product, done in two halves */
    uint64_t m = (uint64_t)i + 1;
    uint64_t hi = (u >> 32) * m, lo = (u & 0xffffffffu) * m;
    int64_t j = (int64_t)((hi + (lo >> 32)) >> 32);
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

/* dst[0..count) (dtype dt) = src elements [off, off+count) * scale. */
static void convert_row(void *dst, int dt, const rt_tensor *src, size_t off, size_t count, double scale) {
  if (dt == RT_DT_F32 && src->dtype == RT_U8) {
    const uint8_t *s = (const uint8_t *)src->data + off;
    float *d = dst, sc = (float)scale;
    for (size_t i = 0; i < count; i++) d[i] = (float)s[i] * sc;
    return;
  }
  if (dt == RT_DT_F32 && src->dtype == RT_F32 && scale == 1.0) {
    memcpy(dst, (const float *)src->data + off, count * sizeof(float));
    return;
  }
  for (size_t i = 0; i < count; i++) {
    double v = rt_tensor_get(src, off + i);
    if (dt == RT_DT_F32) ((float *)dst)[i] = (float)(v * scale);
    else if (dt == RT_DT_F64) ((double *)dst)[i] = v * scale;
    else ((int32_t *)dst)[i] = (int32_t)v;
  }
}

void rt_data_batch(const rt_dataset *ds, const rt_data_shape *sh, const int64_t *idx, int64_t nrows, void *x,
                   void *y) {
  size_t xe = dt_size(sh->x.dtype), ye = dt_size(sh->y.dtype);
  for (int64_t r = 0; r < sh->batch; r++) {
    int64_t i = idx[r < nrows ? r : 0];
    uint8_t *xr = (uint8_t *)x + (size_t)r * (size_t)sh->x_per * xe;
    uint8_t *yr = (uint8_t *)y + (size_t)r * (size_t)sh->y_per * ye;
    if (ds->ids) {
      const int32_t *w = ds->ids + i * ds->T;
      memcpy(xr, w, (size_t)ds->T * sizeof *w);
      memcpy(yr, w + 1, (size_t)ds->T * sizeof *w);
      continue;
    }
    convert_row(xr, sh->x.dtype, &ds->x, (size_t)i * (size_t)sh->x_per, (size_t)sh->x_per, ds->scale);
    memcpy(yr, (const uint8_t *)ds->y.data + (size_t)i * (size_t)sh->y_per * ye, (size_t)sh->y_per * ye);
  }
}
