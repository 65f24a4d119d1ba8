/* abi_ckpt.c — checkpoints of a generated library (NAME_save / NAME_load):
 * a save and a load give back the object bit for bit (parameters,
 * optimizer state, step, seed); a truncated, corrupted or unfitting file is
 * refused with a clear status and leaves the object as it was (forged
 * metadata names the field; a flipped data byte fails the checksum); a
 * failed save leaves an existing checkpoint intact.
 *
 * The files are made by the library itself, then edited: bytes by hand,
 * tensors through the runtime's own safetensors reader and writer
 * (rt_io.h), which the test links statically. The object under test has
 * other parameters than the file, so "unchanged" and "loaded" differ. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "rt_io.h"

static const Lib *const L = &lib_mlp;

static void *create(uint64_t seed) {
  void *m = NULL;
  CU_ASSERT_EQUAL_FATAL(L->api.create(&m, seed), NN_OK);
  return m;
}

/* An object after `steps` training steps, so it has optimizer state. */
static void *trained(uint64_t seed, int steps) {
  void *m = create(seed);
  float *x = malloc(L->nx * sizeof *x), loss;
  int32_t *y = malloc(L->ny * sizeof *y);
  make_batch(L, seed, x, y);
  for (int i = 0; i < steps; i++) CU_ASSERT_EQUAL(L->api.train_step(m, L->n, x, y, &loss), NN_OK);
  free(x);
  free(y);
  return m;
}

static bool same_files(const char *a, const char *b) {
  size_t na, nb;
  uint8_t *pa = read_file(a, &na), *pb = read_file(b, &nb);
  bool same = pa && pb && na == nb && !memcmp(pa, pb, na);
  free(pa);
  free(pb);
  return same;
}

/* No temporary file of an atomic save is left in the directory. */
static bool no_temporaries(void) {
  DIR *d = opendir(tmp_dir);
  bool clean = d != NULL;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) {
      fprintf(stderr, "left behind: %s\n", e->d_name);
      clean = false;
    }
  if (d) closedir(d);
  return clean;
}

/* The whole state of m (parameters, optimizer state, step, seed) is what
 * `reference` (a checkpoint of m made earlier) holds. */
static bool state_is(void *m, const char *reference) {
  char again[600];
  tmp_path(again, sizeof again, "state-again.safetensors");
  return L->api.save(m, again) == NN_OK && same_files(again, reference);
}

/* Where a safetensors file's JSON header ends: 8 + its little-endian length. */
static size_t header_end(const uint8_t *file) {
  uint64_t n = 0;
  for (int i = 0; i < 8; i++) n |= (uint64_t)file[i] << (8 * i);
  return 8 + (size_t)n;
}

/* ---- round trip ---------------------------------------------------------------------------- */

static void check_file_contents(void *m, const char *path) {
  rt_tensorset ts;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(path, &ts), NN_OK);
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&ts, "format"), "nnc-checkpoint-2");
  char crc[16];
  snprintf(crc, sizeof crc, "%08x", (unsigned)ts.data_crc32);
  CU_ASSERT(rt_ts_meta(&ts, "data_crc32") && !strcmp(rt_ts_meta(&ts, "data_crc32"), crc));
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&ts, "model"), L->prefix);
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&ts, "step"), "3");
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&ts, "seed"), "31");
  const char *hash = rt_ts_meta(&ts, "source_hash");
  CU_ASSERT(hash && strlen(hash) > 8 && contains(L->api.build_info(), hash));
  CU_ASSERT_EQUAL(ts.n, 2 * (int)L->nparams); /* SGD with momentum: one moment, NAME.m */
  const float *p = L->api.params(m);
  for (size_t i = 0; i < L->nparams; i++) {
    const nn_tensor_info *info = L->api.param_info(i);
    char mname[128];
    snprintf(mname, sizeof mname, "%s.m", info->name);
    const rt_tensor *t = rt_ts_find(&ts, info->name), *mt = rt_ts_find(&ts, mname);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mt);
    CU_ASSERT(t->dtype == RT_F32 && mt->dtype == RT_F32 && t->rank == info->rank && mt->rank == info->rank);
    CU_ASSERT(!memcmp(t->shape, info->shape, sizeof t->shape) && !memcmp(mt->shape, info->shape, sizeof t->shape));
    CU_ASSERT(t->nbytes == info->numel * sizeof(float) && !memcmp(t->data, p + info->offset, t->nbytes));
  }
  rt_ts_free(&ts);
}

static void test_roundtrip(void) {
  char a[600], b[600];
  tmp_path(a, sizeof a, "a.safetensors");
  tmp_path(b, sizeof b, "b.safetensors");
  void *m = trained(31, 3), *fresh = create(99);
  CU_ASSERT_EQUAL_FATAL(L->api.save(m, a), NN_OK);
  CU_ASSERT(no_temporaries());
  check_file_contents(m, a);
  uint8_t *sm = snapshot(L, m);
  CU_ASSERT(!same_params(L, fresh, sm));
  CU_ASSERT_EQUAL_FATAL(L->api.load(fresh, a), NN_OK);
  CU_ASSERT(same_params(L, fresh, sm));
  CU_ASSERT(state_is(fresh, a)); /* optimizer state, step and seed came along */
  /* and they act alike from here on */
  float *x = malloc(L->nx * sizeof *x), l1, l2;
  int32_t *y = malloc(L->ny * sizeof *y);
  make_batch(L, 5, x, y);
  CU_ASSERT_EQUAL(L->api.train_step(m, L->n, x, y, &l1), NN_OK);
  CU_ASSERT_EQUAL(L->api.train_step(fresh, L->n, x, y, &l2), NN_OK);
  CU_ASSERT(l1 == l2);
  free(sm);
  sm = snapshot(L, m);
  CU_ASSERT(same_params(L, fresh, sm));
  CU_ASSERT_EQUAL(L->api.save(m, b), NN_OK);
  CU_ASSERT(state_is(fresh, b));
  CU_ASSERT_EQUAL(L->api.save(m, a), NN_OK); /* over an existing file */
  CU_ASSERT(same_files(a, b));
  /* another model's checkpoint */
  void *c = NULL;
  CU_ASSERT_EQUAL_FATAL(lib_cnn.api.create(&c, 1), NN_OK);
  uint8_t *sc = snapshot(&lib_cnn, c);
  CU_ASSERT_EQUAL(lib_cnn.api.load(c, a), NN_ERR_MISMATCH);
  CU_ASSERT(contains(lib_cnn.api.last_error(), "c1w"));
  CU_ASSERT(same_params(&lib_cnn, c, sc));
  lib_cnn.api.destroy(c);
  free(sc);
  free(sm);
  free(x);
  free(y);
  L->api.destroy(m);
  L->api.destroy(fresh);
}

/* ---- truncated files ------------------------------------------------------------------------ */

static int cmp_desc(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Every length through the header and a little beyond, then a sample of
 * the data region, and the last bytes: each is NN_ERR_FORMAT. */
static void test_truncated(void) {
  char path[600];
  tmp_path(path, sizeof path, "trunc.safetensors");
  void *src = trained(41, 1), *m = create(42);
  CU_ASSERT_EQUAL_FATAL(L->api.save(src, path), NN_OK);
  size_t size;
  uint8_t *full = read_file(path, &size);
  CU_ASSERT_PTR_NOT_NULL_FATAL(full);
  size_t hdr = header_end(full), n = 0;
  size_t *len = malloc((hdr + 600) * sizeof *len);
  for (size_t k = 0; k < hdr + 256 && k < size; k++) len[n++] = k;
  for (size_t k = 1; k <= 300; k++) len[n++] = hdr + 256 + (size - hdr - 256) * k / 301;
  for (size_t k = 1; k <= 16; k++) len[n++] = size - k;
  qsort(len, n, sizeof *len, cmp_desc);
  uint8_t *snap = snapshot(L, m);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (i && len[i] == len[i - 1]) continue;
    CU_ASSERT_FATAL(truncate(path, (off_t)len[i]) == 0);
    nn_status s = L->api.load(m, path);
    bool ok = s == NN_ERR_FORMAT && contains(L->api.last_error(), "trunc.safetensors") && same_params(L, m, snap);
    if (!ok && bad++ < 5) fprintf(stderr, "\n  %zu of %zu bytes: %d \"%s\"", len[i], size, s, L->api.last_error());
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(write_file(path, full, size));
  CU_ASSERT_EQUAL(L->api.load(m, path), NN_OK); /* the file itself is fine */
  free(len);
  free(full);
  free(snap);
  L->api.destroy(src);
  L->api.destroy(m);
}

/* ---- corrupted files ------------------------------------------------------------------------ */

typedef struct Corruption {
  const char *what;
  enum { REPLACE, SET_LEN, ADD_LEN } kind;
  const char *find, *replace; /* REPLACE: the first `find` in the header by `replace` (as long) */
  uint64_t len;               /* SET_LEN: the 8-byte header length; ADD_LEN: added to it (mod 2^64) */
  nn_status want;
  const char *why;            /* in last_error() */
} Corruption;

static const Corruption corruptions[] = {
    {"header length huge", SET_LEN, NULL, NULL, UINT64_MAX, NN_ERR_FORMAT, "header"},
    {"header length 0", SET_LEN, NULL, NULL, 0, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"header length past the end", SET_LEN, NULL, NULL, 1u << 24, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"header length 8 short", ADD_LEN, NULL, NULL, (uint64_t)-8, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"header length 8 long", ADD_LEN, NULL, NULL, 8, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"not an object", REPLACE, "{\"__metadata__\"", "[\"__metadata__\"", 0, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"unknown dtype", REPLACE, "\"F32\"", "\"X32\"", 0, NN_ERR_FORMAT, "X32"},
    {"dtype of another size", REPLACE, "\"F32\"", "\"F64\"", 0, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"offsets off by one", REPLACE, "[0,802816]", "[0,802817]", 0, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"offsets overlap", REPLACE, "[802816,803840]", "[802812,803836]", 0, NN_ERR_FORMAT, "corrupt.safetensors"},
    {"dtype of the same size", REPLACE, "\"F32\"", "\"I32\"", 0, NN_ERR_MISMATCH, "W1"},
    {"shape transposed", REPLACE, "[784,256]", "[256,784]", 0, NN_ERR_MISMATCH, "W1"},
    {"tensor renamed", REPLACE, "\"b2\":", "\"q2\":", 0, NN_ERR_MISMATCH, "b2"},
};

/* Writes the corrupted copy of `good`; false if the case does not apply. */
static bool corrupt(const Corruption *c, const uint8_t *good, size_t size, const char *path) {
  uint8_t *b = malloc(size);
  memcpy(b, good, size);
  uint64_t hdr = header_end(good) - 8; /* JSON bytes */
  bool ok = hdr <= size - 8;
  if (ok && c->kind != REPLACE) {
    uint64_t v = c->kind == SET_LEN ? c->len : hdr + c->len;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  } else if (ok) {
    char *h = malloc(hdr + 1);
    memcpy(h, good + 8, hdr);
    h[hdr] = 0;
    char *at = strstr(h, c->find);
    ok = at && strlen(c->find) == strlen(c->replace);
    if (ok) memcpy(b + 8 + (at - h), c->replace, strlen(c->replace));
    free(h);
  }
  ok = ok && write_file(path, b, size);
  free(b);
  return ok;
}

static void test_corrupted(void) {
  char good[600], path[600], ref[600];
  tmp_path(good, sizeof good, "good.safetensors");
  tmp_path(path, sizeof path, "corrupt.safetensors");
  tmp_path(ref, sizeof ref, "ref.safetensors");
  void *src = trained(51, 2), *m = trained(52, 1);
  CU_ASSERT_EQUAL_FATAL(L->api.save(src, good), NN_OK);
  CU_ASSERT_EQUAL_FATAL(L->api.save(m, ref), NN_OK);
  size_t size;
  uint8_t *bytes = read_file(good, &size);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
    const Corruption *c = &corruptions[i];
    bool made = corrupt(c, bytes, size, path);
    if (!made) fprintf(stderr, "\n  case '%s' does not apply to this checkpoint", c->what);
    CU_ASSERT_FATAL(made);
    expect_failure(L, L->api.load(m, path), c->want, c->why, c->what, __LINE__);
    CU_ASSERT(state_is(m, ref));
  }
  /* other files altogether */
  CU_ASSERT(write_file(path, "not a checkpoint\n", 17));
  FAILS(L, L->api.load(m, path), NN_ERR_FORMAT, "corrupt.safetensors");
  CU_ASSERT(write_file(path, "", 0));
  FAILS(L, L->api.load(m, path), NN_ERR_FORMAT, "corrupt.safetensors");
  FILE *f = fopen(path, "wb"); /* trailing bytes after the data */
  CU_ASSERT(f && fwrite(bytes, 1, size, f) == size && fwrite("junk", 1, 4, f) == 4);
  if (f) fclose(f);
  FAILS(L, L->api.load(m, path), NN_ERR_FORMAT, "corrupt.safetensors");
  CU_ASSERT(state_is(m, ref));
  free(bytes);
  L->api.destroy(src);
  L->api.destroy(m);
}

static void poke(FILE *f, size_t pos, uint8_t v) {
  fseek(f, (long)pos, SEEK_SET);
  fputc(v, f);
  fflush(f);
}

/* Each byte of the header overwritten in turn (with one of a few values
 * that JSON cares about): the load fails with FORMAT or MISMATCH and changes
 * nothing, or succeeds (a byte inside a metadata string) and loads the
 * file's parameters. Never anything else. */
static void test_header_bytes(void) {
  char path[600];
  tmp_path(path, sizeof path, "bytes.safetensors");
  void *src = trained(61, 1), *m = create(62);
  CU_ASSERT_EQUAL_FATAL(L->api.save(src, path), NN_OK);
  uint8_t *want = snapshot(L, src), *orig = snapshot(L, m);
  size_t size;
  uint8_t *bytes = read_file(path, &size);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  size_t hdr = header_end(bytes);
  static const uint8_t values[] = {'#', '"', '}', ',', '9', ' ', 0x00, 0xFF, '['};
  int bad = 0, refused = 0;
  FILE *f = fopen(path, "r+b");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (size_t pos = 0; pos < hdr; pos += pos < 64 ? 1 : 3) {
    uint8_t v = values[pos % sizeof values];
    if (v == bytes[pos]) v = '#' + (v == '#');
    poke(f, pos, v);
    nn_status s = L->api.load(m, path);
    bool ok = s == NN_OK ? same_params(L, m, want) : (s == NN_ERR_FORMAT || s == NN_ERR_MISMATCH) && same_params(L, m, orig);
    if (!ok && bad++ < 5) fprintf(stderr, "\n  byte %zu = 0x%02x: status %d \"%s\"", pos, v, s, L->api.last_error());
    refused += s != NN_OK;
    if (s == NN_OK) memcpy(L->api.params(m), orig, L->param_bytes);
    poke(f, pos, bytes[pos]);
  }
  fclose(f);
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(refused > 100);
  free(bytes);
  free(want);
  free(orig);
  L->api.destroy(src);
  L->api.destroy(m);
}

/* ---- well-formed files that do not fit --------------------------------------------------- */

typedef enum Edit { DROP, ADD, RESHAPE, RETYPE } Edit;

typedef struct Variant {
  const char *what;
  Edit edit;
  const char *tensor; /* the tensor to drop, add, reshape or retype */
  int rank;           /* RESHAPE: the new shape */
  int64_t shape[2];
  rt_dtype dtype;     /* RETYPE, ADD */
  nn_status want;
} Variant;

static const Variant variants[] = {
    {"missing parameter", DROP, "b3", 0, {0}, RT_F32, NN_ERR_MISMATCH},
    {"extra tensor", ADD, "extra", 1, {4}, RT_F32, NN_ERR_MISMATCH},
    {"moment the optimizer does not have", ADD, "W1.v", 2, {784, 256}, RT_F32, NN_ERR_MISMATCH},
    {"wrong shape", RESHAPE, "W2", 2, {256, 255}, RT_F32, NN_ERR_MISMATCH},
    {"wrong rank", RESHAPE, "b1", 2, {1, 256}, RT_F32, NN_ERR_MISMATCH},
    {"wrong moment shape", RESHAPE, "W3.m", 2, {10, 256}, RT_F32, NN_ERR_MISMATCH},
    {"f64 instead of f32", RETYPE, "W1", 0, {0}, RT_F64, NN_ERR_MISMATCH},
    {"i32 instead of f32", RETYPE, "b2", 0, {0}, RT_I32, NN_ERR_MISMATCH},
};

/* The checkpoint `ts` with one edit, written to path (data zeroed where new). */
static nn_status write_variant(const rt_tensorset *ts, const Variant *v, const char *path) {
  rt_tensor t[64], extra;
  int n = 0;
  CU_ASSERT_FATAL(ts->n < 63);
  memset(&extra, 0, sizeof extra);
  for (int i = 0; i < ts->n; i++) {
    bool hit = !strcmp(ts->t[i].name, v->tensor);
    if (hit && v->edit == DROP) continue;
    t[n] = ts->t[i];
    t[n].borrowed = true;
    if (hit) {
      int64_t shape[8] = {0};
      memcpy(shape, v->edit == RESHAPE ? v->shape : ts->t[i].shape, sizeof(int64_t) * 2);
      int rank = v->edit == RESHAPE ? v->rank : ts->t[i].rank;
      if (rt_tensor_alloc(&extra, v->tensor, v->edit == RETYPE ? v->dtype : RT_F32, rank, shape)) return NN_ERR_NOMEM;
      t[n] = extra;
    }
    n++;
  }
  if (v->edit == ADD) {
    int64_t shape[8] = {v->shape[0], v->shape[1]};
    if (rt_tensor_alloc(&extra, v->tensor, v->dtype, v->rank, shape)) return NN_ERR_NOMEM;
    t[n++] = extra;
  }
  nn_status s = rt_st_write(path, t, n, (const char *const *)ts->meta_key, (const char *const *)ts->meta_val, ts->nmeta);
  rt_tensor_free(&extra);
  return s;
}

static void test_mismatch(void) {
  char good[600], path[600], ref[600];
  tmp_path(good, sizeof good, "fit.safetensors");
  tmp_path(path, sizeof path, "unfit.safetensors");
  tmp_path(ref, sizeof ref, "fit-ref.safetensors");
  void *src = trained(71, 2), *m = trained(72, 1);
  CU_ASSERT_EQUAL_FATAL(L->api.save(src, good), NN_OK);
  CU_ASSERT_EQUAL_FATAL(L->api.save(m, ref), NN_OK);
  rt_tensorset ts;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(good, &ts), NN_OK);
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    const Variant *v = &variants[i];
    CU_ASSERT_EQUAL_FATAL(write_variant(&ts, v, path), NN_OK);
    expect_failure(L, L->api.load(m, path), v->want, v->tensor, v->what, __LINE__);
    CU_ASSERT(state_is(m, ref));
  }
  rt_ts_free(&ts);
  L->api.destroy(src);
  L->api.destroy(m);
}

/* Parameters without optimizer state (e.g. exported for inference) load,
 * with the state and the step reset. */
static void test_params_only(void) {
  char good[600], path[600];
  tmp_path(good, sizeof good, "full.safetensors");
  tmp_path(path, sizeof path, "params-only.safetensors");
  void *src = trained(81, 2), *m = trained(82, 2);
  CU_ASSERT_EQUAL_FATAL(L->api.save(src, good), NN_OK);
  rt_tensorset ts;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(good, &ts), NN_OK);
  rt_tensor kept[64];
  int n = 0;
  for (int i = 0; i < ts.n && n < 64; i++)
    if (!strchr(ts.t[i].name, '.')) kept[n++] = ts.t[i]; /* the moments are NAME.m */
  CU_ASSERT_EQUAL(n, (int)L->nparams);
  /* as another tool would write them: no format, no checksum */
  const char *mk[64], *mv[64];
  int nm = 0;
  for (int i = 0; i < ts.nmeta && nm < 64; i++)
    if (strcmp(ts.meta_key[i], "format") && strcmp(ts.meta_key[i], "data_crc32"))
      mk[nm] = ts.meta_key[i], mv[nm++] = ts.meta_val[i];
  CU_ASSERT_EQUAL_FATAL(rt_st_write(path, kept, n, mk, mv, nm), NN_OK);
  rt_ts_free(&ts);
  CU_ASSERT_EQUAL(L->api.load(m, path), NN_OK);
  uint8_t *want = snapshot(L, src);
  CU_ASSERT(same_params(L, m, want));
  CU_ASSERT_EQUAL_FATAL(L->api.save(m, good), NN_OK);
  CU_ASSERT_EQUAL_FATAL(rt_st_read(good, &ts), NN_OK);
  CU_ASSERT_STRING_EQUAL(rt_ts_meta(&ts, "step"), "0");
  int moments = 0;
  size_t nonzero = 0;
  for (int i = 0; i < ts.n; i++)
    if (strchr(ts.t[i].name, '.')) {
      moments++;
      for (size_t k = 0; k < ts.t[i].nbytes; k++) nonzero += ((uint8_t *)ts.t[i].data)[k] != 0;
    }
  CU_ASSERT_EQUAL(moments, (int)L->nparams);
  CU_ASSERT_EQUAL(nonzero, 0);
  rt_ts_free(&ts);
  free(want);
  L->api.destroy(src);
  L->api.destroy(m);
}

/* ---- metadata and the checksum ---------------------------------------------------------- */

/* `ts` written to path with metadata `key` set to `val` (NULL: removed), the
 * tensors as they are (so data_crc32 still fits them unless it is the key). */
static nn_status write_meta(const rt_tensorset *ts, const char *key, const char *val, const char *path) {
  const char *k[64], *v[64];
  int n = 0;
  bool done = false;
  for (int i = 0; i < ts->nmeta && n < 63; i++) {
    if (!strcmp(ts->meta_key[i], key)) {
      done = true;
      if (!val) continue;
      k[n] = key, v[n++] = val;
    } else {
      k[n] = ts->meta_key[i], v[n++] = ts->meta_val[i];
    }
  }
  if (!done && val) k[n] = key, v[n++] = val;
  return rt_st_write(path, ts->t, ts->n, k, v, n);
}

typedef struct MetaCase {
  const char *key, *val; /* val NULL: the key removed */
  const char *why;       /* in last_error(); NULL: the file loads */
} MetaCase;

static const MetaCase meta_cases[] = {
    {"step", "-1", "metadata 'step': expected an integer 0..2147483646, found '-1'"},
    {"step", "abc", "metadata 'step'"},
    {"step", "", "metadata 'step'"},
    {"step", "1e3", "metadata 'step'"},
    {"step", " 5", "metadata 'step'"},
    {"step", "+5", "metadata 'step'"},
    {"step", "0x10", "metadata 'step'"},
    {"step", "2147483647", "metadata 'step'"},
    {"step", "18446744073709551616", "metadata 'step'"},
    {"step", "2147483646", NULL},
    {"seed", "-1", "metadata 'seed': expected an integer 0..18446744073709551615, found '-1'"},
    {"seed", "12a", "metadata 'seed'"},
    {"seed", "18446744073709551616", "metadata 'seed'"},
    {"seed", "18446744073709551615", NULL},
    {"format", "nnc-checkpoint-9", "metadata 'format': expected nnc-checkpoint-2 (or nnc-checkpoint-1), found 'nnc-checkpoint-9'"},
    {"format", NULL, NULL}, /* another tool's file: no format, the checksum still checked */
    {"data_crc32", "00000000", "corrupted: the tensor data has CRC-32"},
    {"data_crc32", "xyz", "metadata 'data_crc32': expected 8 hex digits, found 'xyz'"},
    {"data_crc32", "123456789", "metadata 'data_crc32'"},
    {"data_crc32", NULL, "metadata 'data_crc32' is missing"},
};

/* Every library metadata field forged: refused with NN_ERR_FORMAT naming the
 * field, the object untouched; a flipped data byte is refused by the
 * checksum; an old (format 1) checkpoint without one still loads. */
static void test_metadata(void) {
  char good[600], path[600], ref[600];
  tmp_path(good, sizeof good, "meta-good.safetensors");
  tmp_path(path, sizeof path, "meta.safetensors");
  tmp_path(ref, sizeof ref, "meta-ref.safetensors");
  void *src = trained(111, 2), *m = trained(112, 1);
  CU_ASSERT_EQUAL_FATAL(L->api.save(src, good), NN_OK);
  CU_ASSERT_EQUAL_FATAL(L->api.save(m, ref), NN_OK);
  rt_tensorset ts;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(good, &ts), NN_OK);
  for (size_t i = 0; i < sizeof meta_cases / sizeof meta_cases[0]; i++) {
    const MetaCase *c = &meta_cases[i];
    CU_ASSERT_EQUAL_FATAL(write_meta(&ts, c->key, c->val, path), NN_OK);
    char what[160];
    snprintf(what, sizeof what, "metadata %s = '%s'", c->key, c->val ? c->val : "(none)");
    if (c->why) {
      expect_failure(L, L->api.load(m, path), NN_ERR_FORMAT, c->why, what, __LINE__);
      CU_ASSERT(state_is(m, ref));
    } else {
      nn_status s = L->api.load(m, path);
      if (s) fprintf(stderr, "\n  %s: %s", what, L->api.last_error());
      CU_ASSERT_EQUAL(s, NN_OK);
      CU_ASSERT_EQUAL_FATAL(L->api.load(m, ref), NN_OK);
    }
  }
  /* a checkpoint at the step limit loads, and refuses to count further */
  CU_ASSERT_EQUAL_FATAL(write_meta(&ts, "step", "2147483646", path), NN_OK);
  CU_ASSERT_EQUAL_FATAL(L->api.load(m, path), NN_OK);
  float *x = malloc(L->nx * sizeof *x), loss;
  int32_t *y = malloc(L->ny * sizeof *y);
  make_batch(L, 5, x, y);
  FAILS(L, L->api.train_step(m, L->n, x, y, &loss), NN_ERR_RANGE, "step counter is at its limit");
  free(x);
  free(y);
  /* one flipped bit in the data region, anywhere: refused */
  size_t size;
  uint8_t *bytes = read_file(good, &size);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  size_t hdr = header_end(bytes);
  CU_ASSERT_EQUAL_FATAL(L->api.load(m, ref), NN_OK);
  int bad = 0;
  for (size_t pos = hdr; pos < size; pos += (size - hdr) / 97 + 1) {
    bytes[pos] ^= (uint8_t)(1u << (pos % 8));
    CU_ASSERT(write_file(path, bytes, size));
    nn_status s = L->api.load(m, path);
    if ((s != NN_ERR_FORMAT || !contains(L->api.last_error(), "corrupted")) && bad++ < 3)
      fprintf(stderr, "\n  bit flipped at byte %zu: status %d \"%s\"", pos, s, L->api.last_error());
    bytes[pos] ^= (uint8_t)(1u << (pos % 8));
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT(state_is(m, ref));
  free(bytes);
  /* an nnc-checkpoint-1 file (no checksum) loads, unchecked */
  CU_ASSERT_EQUAL_FATAL(write_meta(&ts, "data_crc32", NULL, path), NN_OK);
  rt_tensorset old;
  CU_ASSERT_EQUAL_FATAL(rt_st_read(path, &old), NN_OK);
  CU_ASSERT_EQUAL_FATAL(write_meta(&old, "format", "nnc-checkpoint-1", path), NN_OK);
  rt_ts_free(&old);
  CU_ASSERT_EQUAL(L->api.load(m, path), NN_OK);
  uint8_t *want = snapshot(L, src);
  CU_ASSERT(same_params(L, m, want));
  free(want);
  rt_ts_free(&ts);
  L->api.destroy(src);
  L->api.destroy(m);
}

/* ---- failed saves and loads ------------------------------------------------------------------ */

static void test_save_errors(void) {
  char path[600], keep[600], copy[600], tmp[700];
  void *m1 = trained(91, 1), *m2 = create(92);
  tmp_path(path, sizeof path, "no-such-dir/x.safetensors");
  FAILS(L, L->api.save(m1, path), NN_ERR_IO, "no-such-dir");
  FAILS(L, L->api.load(m1, path), NN_ERR_IO, "no-such-dir");
  tmp_path(path, sizeof path, "a-directory");
  CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
  FAILS(L, L->api.save(m1, path), NN_ERR_IO, "a-directory");
  FAILS(L, L->api.load(m1, path), NN_ERR_IO, "a-directory");
  CU_ASSERT(no_temporaries());
  rmdir(path);
  /* a named pipe (without a writer, opening it used to wait forever: the
   * alarm makes that a failure) and a device are refused at once */
  tmp_path(path, sizeof path, "a-fifo");
  CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
  alarm(60);
  FAILS(L, L->api.load(m1, path), NN_ERR_IO, "a-fifo: cannot read a named pipe (FIFO); expected a regular file");
  FAILS(L, L->api.load(m1, "/dev/zero"), NN_ERR_IO, "/dev/zero: cannot read a character device");
  alarm(0);
  /* save never replaces what is not a regular file (the rename would put a
   * regular file in the FIFO's place, or, as root, in /dev/null's) */
  FAILS(L, L->api.save(m1, path), NN_ERR_IO, "a-fifo: is a named pipe (FIFO); expected a regular file to replace");
  struct stat fst;
  CU_ASSERT(stat(path, &fst) == 0 && S_ISFIFO(fst.st_mode));
  CU_ASSERT(no_temporaries());
  unlink(path);
  /* an existing checkpoint survives a save that fails: its temporary cannot
   * be created (a directory has its name, see rt_io.h)... */
  tmp_path(keep, sizeof keep, "keep.safetensors");
  tmp_path(copy, sizeof copy, "keep-copy.safetensors");
  CU_ASSERT_EQUAL_FATAL(L->api.save(m1, keep), NN_OK);
  CU_ASSERT_EQUAL_FATAL(L->api.save(m1, copy), NN_OK);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", keep, (long)getpid());
  CU_ASSERT_FATAL(mkdir(tmp, 0700) == 0);
  FAILS(L, L->api.save(m2, keep), NN_ERR_IO, "keep.safetensors");
  rmdir(tmp);
  CU_ASSERT(same_files(keep, copy));
  /* ...or cannot be written in full (the file size limit, which binds root too) */
  struct rlimit old, small;
  CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &old) == 0);
  small = old;
  small.rlim_cur = 64 * 1024;
  void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
  CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &small) == 0);
  nn_status s = L->api.save(m2, keep);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, was);
  expect_failure(L, s, NN_ERR_IO, "keep.safetensors", "save under a 64 KB file size limit", __LINE__);
  CU_ASSERT(same_files(keep, copy));
  CU_ASSERT(no_temporaries());
  CU_ASSERT_EQUAL(L->api.save(m2, keep), NN_OK); /* and saving works again */
  CU_ASSERT(!same_files(keep, copy));
  L->api.destroy(m1);
  L->api.destroy(m2);
}

const UnitTest abi_ckpt_tests[] = {{"save and load round trip", test_roundtrip},
                                   {"truncated files", test_truncated},
                                   {"corrupted files", test_corrupted},
                                   {"every header byte", test_header_bytes},
                                   {"files that do not fit", test_mismatch},
                                   {"parameters without optimizer state", test_params_only},
                                   {"forged metadata, flipped data bytes", test_metadata},
                                   {"failed saves and loads", test_save_errors},
                                   {0, 0}};
