/* rt_safetensors.c — safetensors reader and writer (checkpoints, parameters
 * for `nnc eval`).
 *
 * Layout: u64 LE header size N; N bytes of JSON
 *   {"__metadata__": {"k": "v"}, "w": {"dtype": "F32", "shape": [2, 3],
 *    "data_offsets": [0, 24]}, ...}
 * padded with spaces; then the data region, offsets relative to its start.
 *
 * Reading: header size checks, JSON parse (rt_json.c), then the entries are
 * converted and checked against each other (sizes, overlaps, coverage of
 * the data region, whose size the file's size gives) before any tensor
 * data is allocated. Data is then read in offset order, which is
 * sequential because the regions tile the data region exactly. */
#include "rt_io.h"
#include "rt_json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB */
#define ST_META "__metadata__"

static const char *st_names[RT_NUM_DTYPES] = {
    [RT_F32] = "F32", [RT_F64] = "F64", [RT_I32] = "I32", [RT_I64] = "I64",
    [RT_U8] = "U8",   [RT_I8] = "I8",   [RT_I16] = "I16", [RT_BOOL] = "BOOL",
};

void rt_ts_free(rt_tensorset *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) rt_tensor_free(&s->t[i]);
  for (int i = 0; i < s->nmeta; i++) {
    if (s->meta_key) rt_free(s->meta_key[i]);
    if (s->meta_val) rt_free(s->meta_val[i]);
  }
  rt_free(s->t);
  rt_free(s->meta_key);
  rt_free(s->meta_val);
  memset(s, 0, sizeof *s);
}

const rt_tensor *rt_ts_find(const rt_tensorset *s, const char *name) {
  if (!s || !name) return NULL;
  for (int i = 0; i < s->n; i++)
    if (s->t[i].name && strcmp(s->t[i].name, name) == 0) return &s->t[i];
  return NULL;
}

const char *rt_ts_meta(const rt_tensorset *s, const char *key) {
  if (!s || !key) return NULL;
  for (int i = 0; i < s->nmeta; i++)
    if (strcmp(s->meta_key[i], key) == 0) return s->meta_val[i];
  return NULL;
}

static nn_status bad_meta(const char *path, const char *key, const char *want, const char *found) {
  return rt_error(NN_ERR_FORMAT, "%s: metadata '%.100s': expected %s, found '%.60s'%s", path, key, want, found,
                  strlen(found) > 60 ? "..." : "");
}

nn_status rt_ts_meta_i64(const rt_tensorset *s, const char *path, const char *key, int64_t lo, int64_t hi,
                         int64_t *out, bool *present) {
  const char *v = rt_ts_meta(s, key);
  if (present) *present = v != NULL;
  if (!v || rt_parse_i64(v, lo, hi, out)) return NN_OK;
  char want[96];
  snprintf(want, sizeof want, "an integer %lld..%lld", (long long)lo, (long long)hi);
  return bad_meta(path, key, want, v);
}

nn_status rt_ts_meta_u64(const rt_tensorset *s, const char *path, const char *key, uint64_t hi, uint64_t *out,
                         bool *present) {
  const char *v = rt_ts_meta(s, key);
  if (present) *present = v != NULL;
  if (!v || rt_parse_u64(v, hi, out)) return NN_OK;
  char want[96];
  snprintf(want, sizeof want, "an integer 0..%llu", (unsigned long long)hi);
  return bad_meta(path, key, want, v);
}

nn_status rt_ts_meta_f64(const rt_tensorset *s, const char *path, const char *key, double lo, double hi,
                         bool nan_ok, double *out, bool *present) {
  const char *v = rt_ts_meta(s, key);
  if (present) *present = v != NULL;
  if (!v) return NN_OK;
  double x;
  if (nan_ok && !strcmp(v, "nan")) {
    *out = NAN;
    return NN_OK;
  }
  if (rt_parse_f64(v, &x) && x >= lo && x <= hi) {
    *out = x;
    return NN_OK;
  }
  char want[128];
  snprintf(want, sizeof want, "a number %g..%g%s", lo, hi, nan_ok ? " or nan" : "");
  return bad_meta(path, key, want, v);
}

nn_status rt_ts_meta_hex(const rt_tensorset *s, const char *path, const char *key, int digits, uint64_t *out,
                         bool *present) {
  const char *v = rt_ts_meta(s, key);
  if (present) *present = v != NULL;
  if (!v) return NN_OK;
  bool ok = digits > 0 && digits <= 16 && strlen(v) == (size_t)digits && strspn(v, "0123456789abcdefABCDEF") == (size_t)digits;
  if (ok) {
    *out = strtoull(v, NULL, 16);
    return NN_OK;
  }
  char want[64];
  snprintf(want, sizeof want, "%d hex digits", digits);
  return bad_meta(path, key, want, v);
}

uint32_t rt_st_data_crc32(const rt_tensor *t, int n) {
  uLong c = crc32_z(0L, Z_NULL, 0);
  for (int i = 0; i < n; i++)
    if (t[i].nbytes) c = crc32_z(c, t[i].data, t[i].nbytes);
  return (uint32_t)c;
}

/* ---- reading --------------------------------------------------------------- */

/* One tensor entry of the header, checked, before its data is read. */
typedef struct Entry {
  const char *name;  /* borrowed from the JSON tree */
  rt_dtype dtype;
  int rank;
  int64_t shape[RT_MAX_RANK];
  uint64_t begin, end; /* data_offsets */
} Entry;

static char *dup_str(const char *s) {
  size_t n = strlen(s);
  char *d = rt_alloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

static nn_status bad_entry(const char *path, const char *name,
                           const char *what, const JsonValue *found) {
  const char *f = !found ? "nothing"
                  : found->kind == JSON_NUMBER ? found->s
                  : rt_json_kind_name(found->kind);
  return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s': expected %s, found "
                  "%.100s", path, name, what, f);
}

/* Converts one {"dtype", "shape", "data_offsets"} object into *e. */
static nn_status parse_entry(const char *path, const char *name,
                             const JsonValue *v, Entry *e) {
  e->name = name;
  if (v->kind != JSON_OBJECT)
    return bad_entry(path, name, "an object with dtype, shape and "
                     "data_offsets", v);
  for (int k = 0; k < v->n; k++)
    if (strcmp(v->keys[k], "dtype") && strcmp(v->keys[k], "shape") &&
        strcmp(v->keys[k], "data_offsets"))
      return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s' has unknown key "
                      "\"%.100s\"; expected only dtype, shape, data_offsets",
                      path, name, v->keys[k]);
  const JsonValue *dt = rt_json_get(v, "dtype");
  if (!dt || dt->kind != JSON_STRING)
    return bad_entry(path, name, "a \"dtype\" string", dt);
  int d = 0;
  while (d < RT_NUM_DTYPES && strcmp(dt->s, st_names[d]) != 0) d++;
  if (d == RT_NUM_DTYPES)
    return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s' has dtype \"%.50s\"; "
                    "expected one of F32 F64 I32 I64 U8 I8 I16 BOOL", path,
                    name, dt->s);
  e->dtype = (rt_dtype)d;
  const JsonValue *sh = rt_json_get(v, "shape");
  if (!sh || sh->kind != JSON_ARRAY)
    return bad_entry(path, name, "a \"shape\" array", sh);
  if (sh->n > RT_MAX_RANK)
    return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s' has rank %d; at most "
                    "%d is supported", path, name, sh->n, RT_MAX_RANK);
  e->rank = sh->n;
  for (int k = 0; k < sh->n; k++) {
    uint64_t x;
    if (!rt_json_u64(&sh->items[k], &x) || x > INT64_MAX)
      return bad_entry(path, name, "non-negative integers in \"shape\"",
                       &sh->items[k]);
    e->shape[k] = (int64_t)x;
  }
  const JsonValue *off = rt_json_get(v, "data_offsets");
  if (!off || off->kind != JSON_ARRAY || off->n != 2 ||
      !rt_json_u64(&off->items[0], &e->begin) ||
      !rt_json_u64(&off->items[1], &e->end))
    return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s': expected "
                    "\"data_offsets\": [begin, end] with two non-negative "
                    "integers", path, name);
  size_t nbytes;
  if (rt_shape_nbytes(e->dtype, e->rank, e->shape, &nbytes) != NN_OK)
    return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s': the shape's size "
                    "overflows", path, name);
  if (e->end < e->begin || e->end - e->begin != nbytes) {
    char shp[128];
    rt_tensor tmp = {.dtype = e->dtype, .rank = e->rank};
    memcpy(tmp.shape, e->shape, sizeof e->shape);
    return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s': data_offsets [%llu, "
                    "%llu] should span %zu bytes for %s", path, name,
                    (unsigned long long)e->begin, (unsigned long long)e->end,
                    nbytes, rt_tensor_shape_str(&tmp, shp, sizeof shp));
  }
  return NN_OK;
}

static int cmp_entry(const void *a, const void *b) {
  const Entry *x = *(Entry *const *)a, *y = *(Entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* The regions, sorted by offset, must tile [0, data_size) exactly. */
static nn_status check_tiling(const char *path, Entry **sorted, int n,
                              uint64_t data_size) {
  uint64_t at = 0;
  for (int i = 0; i < n; i++) {
    const Entry *e = sorted[i];
    if (e->begin < at)
      return rt_error(NN_ERR_FORMAT, "%s: tensors '%.200s' and '%.200s' "
                      "overlap: data_offsets [%llu, %llu] start before %llu",
                      path, sorted[i - 1]->name, e->name,
                      (unsigned long long)e->begin, (unsigned long long)e->end,
                      (unsigned long long)at);
    if (e->begin > at)
      return rt_error(NN_ERR_FORMAT, "%s: bytes [%llu, %llu) of the data "
                      "region belong to no tensor", path,
                      (unsigned long long)at, (unsigned long long)e->begin);
    at = e->end;
  }
  if (at > data_size)
    return rt_error(NN_ERR_FORMAT, "%s: truncated: the tensors need a data "
                    "region of %llu bytes, found %llu", path,
                    (unsigned long long)at, (unsigned long long)data_size);
  if (at < data_size)
    return rt_error(NN_ERR_FORMAT, "%s: the data region has %llu bytes but "
                    "the tensors cover only %llu (trailing data)", path,
                    (unsigned long long)data_size, (unsigned long long)at);
  return NN_OK;
}

/* Copies the "__metadata__" object into out. */
static nn_status take_meta(const char *path, const JsonValue *m,
                           rt_tensorset *out) {
  if (m->kind != JSON_OBJECT)
    return rt_error(NN_ERR_FORMAT, "%s: \"__metadata__\" must be an object of "
                    "strings, found %s", path, rt_json_kind_name(m->kind));
  if (m->n == 0) return NN_OK;
  out->meta_key = rt_calloc((size_t)m->n, sizeof(char *));
  out->meta_val = rt_calloc((size_t)m->n, sizeof(char *));
  if (!out->meta_key || !out->meta_val) return NN_ERR_NOMEM;
  for (int k = 0; k < m->n; k++) {
    if (m->items[k].kind != JSON_STRING)
      return rt_error(NN_ERR_FORMAT, "%s: metadata \"%.200s\" must be a "
                      "string, found %s", path, m->keys[k],
                      rt_json_kind_name(m->items[k].kind));
    out->nmeta = k + 1; /* so rt_ts_free frees what is filled in */
    if (!(out->meta_key[k] = dup_str(m->keys[k])) ||
        !(out->meta_val[k] = dup_str(m->items[k].s)))
      return NN_ERR_NOMEM;
  }
  return NN_OK;
}

/* Reads and parses the header; *data_size is the data region's size. */
static nn_status read_header(FILE *f, const char *path, int64_t fsize,
                             JsonValue *root, uint64_t *data_size) {
  uint8_t b[8];
  size_t got = fread(b, 1, 8, f);
  if (got != 8)
    return ferror(f) ? rt_error(NN_ERR_IO, "%s: read error: %s", path,
                                strerror(errno))
                     : rt_error(NN_ERR_FORMAT, "%s: not a safetensors file: "
                                "expected an 8-byte header size, found %zu "
                                "bytes", path, got);
  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = n << 8 | b[k];
  if (n < 2 || n >= ST_MAX_HEADER || n > (uint64_t)fsize - 8)
    return rt_error(NN_ERR_FORMAT, "%s: not a valid safetensors file: header "
                    "size %llu is %s (file size %lld bytes)", path,
                    (unsigned long long)n, n < 2 ? "too small" : n >=
                    ST_MAX_HEADER ? "over 100 MB" : "past the end of the file",
                    (long long)fsize);
  char *text = rt_alloc((size_t)n);
  if (!text) return NN_ERR_NOMEM;
  got = fread(text, 1, (size_t)n, f);
  nn_status s = NN_OK;
  if (got != n)
    s = rt_error(NN_ERR_FORMAT, "%s: truncated: the header needs %llu bytes, "
                 "found %zu", path, (unsigned long long)n, got);
  else if (text[0] != '{')
    s = rt_error(NN_ERR_FORMAT, "%s: not a safetensors file: the header "
                 "should start with '{'", path);
  if (s == NN_OK) {
    char what[600];
    snprintf(what, sizeof what, "%.500s: header", path);
    s = rt_json_parse(text, (size_t)n, what, root);
  }
  rt_free(text);
  *data_size = (uint64_t)fsize - 8 - n;
  return s;
}

/* Builds the entries from the parsed header and checks them. */
static nn_status collect(const char *path, const JsonValue *root,
                         uint64_t data_size, Entry *ents, int *nents,
                         Entry **sorted, rt_tensorset *out) {
  *nents = 0;
  for (int k = 0; k < root->n; k++) {
    nn_status s;
    if (strcmp(root->keys[k], ST_META) == 0)
      s = take_meta(path, &root->items[k], out);
    else
      s = parse_entry(path, root->keys[k], &root->items[k], &ents[(*nents)++]);
    if (s != NN_OK) return s;
  }
  for (int i = 0; i < *nents; i++) sorted[i] = &ents[i];
  qsort(sorted, (size_t)*nents, sizeof *sorted, cmp_entry);
  return check_tiling(path, sorted, *nents, data_size);
}

/* Fills in every tensor but its data, then reads the data in offset order
 * (the sizes were checked against the file's). */
static nn_status read_data(FILE *f, const char *path, Entry *ents,
                           Entry **sorted, int n, rt_tensorset *out) {
  out->t = rt_calloc((size_t)(n ? n : 1), sizeof(rt_tensor));
  if (!out->t) return NN_ERR_NOMEM;
  out->n = n;
  for (int i = 0; i < n; i++) {
    rt_tensor *t = &out->t[i];
    if (!(t->name = dup_str(ents[i].name))) return NN_ERR_NOMEM;
    t->dtype = ents[i].dtype;
    t->rank = ents[i].rank;
    memcpy(t->shape, ents[i].shape, sizeof t->shape);
    t->nbytes = (size_t)(ents[i].end - ents[i].begin);
  }
  uLong crc = crc32_z(0L, Z_NULL, 0);
  for (int i = 0; i < n; i++) {
    rt_tensor *t = &out->t[sorted[i] - ents];
    char what[256];
    snprintf(what, sizeof what, "tensor '%.200s'", t->name);
    uint8_t *data;
    nn_status s = rt_file_read_exact(f, path, what, t->nbytes, &data);
    if (s != NN_OK) return s;
    t->data = data;
    crc = crc32_z(crc, data, t->nbytes);
    if (t->dtype == RT_BOOL)
      for (size_t b = 0; b < t->nbytes; b++)
        if (data[b] > 1)
          return rt_error(NN_ERR_FORMAT, "%s: tensor '%.200s': bool element "
                          "%zu is %u; expected 0 or 1", path, t->name, b,
                          data[b]);
  }
  if (fgetc(f) != EOF)
    return rt_error(NN_ERR_FORMAT, "%s: trailing data after the last tensor",
                    path);
  out->data_crc32 = (uint32_t)crc;
  return NN_OK;
}

nn_status rt_st_read(const char *path, rt_tensorset *out) {
  if (!path || !out) return rt_error(NN_ERR_NULL, "rt_st_read: NULL argument");
  memset(out, 0, sizeof *out);
  FILE *f;
  int64_t fsize = -1;
  nn_status s = rt_file_open_read(path, &f, &fsize);
  if (s != NN_OK) return s;
  JsonValue root = {0};
  uint64_t data_size = 0;
  Entry *ents = NULL;
  Entry **sorted = NULL;
  int n = 0;
  if ((s = read_header(f, path, fsize, &root, &data_size)) != NN_OK) goto done;
  if (root.kind != JSON_OBJECT) {
    s = rt_error(NN_ERR_FORMAT, "%s: the header should be a JSON object, "
                 "found %s", path, rt_json_kind_name(root.kind));
    goto done;
  }
  ents = rt_calloc((size_t)root.n + 1, sizeof *ents);
  sorted = rt_calloc((size_t)root.n + 1, sizeof *sorted);
  if (!ents || !sorted) {
    s = NN_ERR_NOMEM;
    goto done;
  }
  if ((s = collect(path, &root, data_size, ents, &n, sorted, out)) != NN_OK)
    goto done;
  s = read_data(f, path, ents, sorted, n, out);
done:
  fclose(f);
  rt_free(ents);
  rt_free(sorted);
  rt_json_free(&root);
  if (s != NN_OK) rt_ts_free(out);
  return s;
}

/* ---- writing -------------------------------------------------------------- */

/* A growable byte buffer for the header. */
typedef struct Buf {
  char *p;
  size_t n, cap;
  bool oom; /* an allocation failed; later appends are ignored */
} Buf;

static void put(Buf *b, const char *s, size_t n) {
  if (b->oom) return;
  char *np = rt_grow(b->p, &b->cap, b->n + n + 1, 1);
  if (!np) {
    b->oom = true;
    return;
  }
  b->p = np;
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal. Callers have checked s is valid UTF-8. */
static void put_json_str(Buf *b, const char *s) {
  puts_(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[8];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      put(b, esc, 2);
    } else if (*c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *c);
      puts_(b, esc);
    } else {
      put(b, (const char *)c, 1);
    }
  }
  puts_(b, "\"");
}

/* Whether s is valid UTF-8 (the reader refuses anything else). */
static bool valid_utf8(const char *s) { return rt_utf8_valid(s, strlen(s)); }

static nn_status check_args(const char *path, const rt_tensor *t, int n,
                            const char *const *mk, const char *const *mv,
                            int nmeta) {
  if (n < 0 || nmeta < 0 || (n && !t) || (nmeta && (!mk || !mv)))
    return rt_error(NN_ERR_NULL, "%s: rt_st_write: bad tensor or metadata "
                    "arrays", path);
  for (int i = 0; i < n; i++) {
    nn_status s = rt_tensor_check(&t[i], path);
    if (s != NN_OK) return s;
    if (!t[i].name || strcmp(t[i].name, ST_META) == 0 || !valid_utf8(t[i].name))
      return rt_error(NN_ERR_ARG, "%s: tensor %d needs a UTF-8 name other "
                      "than __metadata__", path, i);
    for (int j = 0; j < i; j++)
      if (strcmp(t[i].name, t[j].name) == 0)
        return rt_error(NN_ERR_ARG, "%s: two tensors are named '%.200s'",
                        path, t[i].name);
  }
  for (int i = 0; i < nmeta; i++) {
    if (!mk[i] || !mv[i] || !valid_utf8(mk[i]) || !valid_utf8(mv[i]))
      return rt_error(NN_ERR_ARG, "%s: metadata entry %d needs a UTF-8 key and "
                      "value", path, i);
    for (int j = 0; j < i; j++)
      if (strcmp(mk[i], mk[j]) == 0)
        return rt_error(NN_ERR_ARG, "%s: metadata key '%.200s' appears twice",
                        path, mk[i]);
  }
  return NN_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes. */
static void build_header(Buf *b, const rt_tensor *t, int n,
                         const char *const *mk, const char *const *mv,
                         int nmeta) {
  char num[96];
  puts_(b, "{");
  if (nmeta) {
    puts_(b, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) puts_(b, ",");
      put_json_str(b, mk[i]);
      puts_(b, ":");
      put_json_str(b, mv[i]);
    }
    puts_(b, "}");
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    if (i || nmeta) puts_(b, ",");
    put_json_str(b, t[i].name);
    puts_(b, ":{\"dtype\":\"");
    puts_(b, st_names[t[i].dtype]);
    puts_(b, "\",\"shape\":[");
    for (int k = 0; k < t[i].rank; k++) {
      snprintf(num, sizeof num, "%s%lld", k ? "," : "",
               (long long)t[i].shape[k]);
      puts_(b, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}",
             (unsigned long long)off, (unsigned long long)(off + t[i].nbytes));
    puts_(b, num);
    off += t[i].nbytes;
  }
  puts_(b, "}");
  while (!b->oom && b->n % 8) puts_(b, " ");
}

nn_status rt_st_write(const char *path, const rt_tensor *t, int n,
                      const char *const *meta_key,
                      const char *const *meta_val, int nmeta) {
  if (!path) return rt_error(NN_ERR_NULL, "rt_st_write: NULL path");
  nn_status s = check_args(path, t, n, meta_key, meta_val, nmeta);
  if (s != NN_OK) return s;
  Buf b = {0};
  build_header(&b, t, n, meta_key, meta_val, nmeta);
  if (b.oom) {
    rt_free(b.p);
    return NN_ERR_NOMEM;
  }
  if (b.n >= ST_MAX_HEADER) {
    rt_free(b.p);
    return rt_error(NN_ERR_ARG, "%s: the safetensors header would be %zu "
                    "bytes, over the 100 MB limit", path, b.n);
  }
  uint8_t len[8];
  for (int k = 0; k < 8; k++) len[k] = (uint8_t)((uint64_t)b.n >> (8 * k));
  rt_atomic_file af;
  s = rt_atomic_begin(&af, path);
  if (s == NN_OK) s = rt_atomic_write(&af, len, 8);
  if (s == NN_OK) s = rt_atomic_write(&af, b.p, b.n);
  for (int i = 0; i < n && s == NN_OK; i++)
    s = rt_atomic_write(&af, t[i].data, t[i].nbytes);
  rt_free(b.p);
  if (s == NN_OK) s = rt_atomic_commit(&af);
  return s;
}
