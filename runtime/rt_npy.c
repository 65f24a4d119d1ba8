/* rt_npy.c — NumPy .npy reader and writer.
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE
 * for 2.0/3.0), then the header: a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended with '\n', then the raw C-order data.
 *
 * The header parser accepts exactly that dict: the three keys, each once,
 * in any order, single- or double-quoted keys and strings, a trailing comma,
 * Python 2's "3L" integers. Anything else is a clear NN_ERR_FORMAT. */
#include "rt_io.h"

#include <errno.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* NumPy itself refuses headers over 10000 bytes by default; allow more. */
#define NPY_MAX_HEADER (1u << 20)

/* The parsed header dict. */
typedef struct NpyHeader {
  rt_dtype dtype;      /* from 'descr' */
  bool swap;           /* 'descr' was big-endian: swap bytes after reading */
  bool fortran;        /* 'fortran_order' */
  int rank;            /* len('shape') */
  int64_t shape[RT_MAX_RANK];
} NpyHeader;

/* A cursor over the header text, for parsing and error messages. */
typedef struct Cur {
  const char *path;
  const char *s; /* header text (not NUL-terminated) */
  size_t n, i;   /* length and position */
} Cur;

static void skip_ws(Cur *c) {
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
                         c->s[c->i] == '\n' || c->s[c->i] == '\r'))
    c->i++;
}

/* Describes the character at the cursor for "found ..." messages. */
static const char *found(const Cur *c, char *buf, size_t n) {
  if (c->i >= c->n) return "the end of the header";
  unsigned char ch = (unsigned char)c->s[c->i];
  if (ch >= 0x20 && ch < 0x7f) snprintf(buf, n, "'%c'", ch);
  else snprintf(buf, n, "byte 0x%02x", ch);
  return buf;
}

static nn_status expected(const Cur *c, const char *what) {
  char buf[16];
  return rt_error(NN_ERR_FORMAT, "%s: .npy header, column %zu: expected %s, "
                  "found %s", c->path, c->i + 1, what, found(c, buf, sizeof buf));
}

static bool accept(Cur *c, char ch) {
  skip_ws(c);
  if (c->i < c->n && c->s[c->i] == ch) {
    c->i++;
    return true;
  }
  return false;
}

/* A quoted string without escapes into buf. */
static nn_status parse_str(Cur *c, char *buf, size_t n, const char *what) {
  skip_ws(c);
  if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"'))
    return expected(c, what);
  char q = c->s[c->i++];
  size_t len = 0;
  while (c->i < c->n && c->s[c->i] != q) {
    if (c->s[c->i] == '\\' || len + 1 >= n) return expected(c, what);
    buf[len++] = c->s[c->i++];
  }
  if (c->i >= c->n) return expected(c, "a closing quote");
  c->i++;
  buf[len] = 0;
  return NN_OK;
}

/* Maps a descr such as "<f4" to a dtype. */
static nn_status parse_descr(Cur *c, NpyHeader *h) {
  static const struct { const char *code; rt_dtype dt; } codes[] = {
      {"f4", RT_F32}, {"f8", RT_F64}, {"i4", RT_I32}, {"i8", RT_I64},
      {"u1", RT_U8},  {"i1", RT_I8},  {"i2", RT_I16}, {"b1", RT_BOOL},
  };
  char d[32];
  skip_ws(c);
  if (c->i < c->n && (c->s[c->i] == '[' || c->s[c->i] == '('))
    return rt_error(NN_ERR_FORMAT, "%s: .npy has a structured dtype; expected "
                    "one of <f4 <f8 <i4 <i8 |u1 |i1 <i2 |b1", c->path);
  nn_status s = parse_str(c, d, sizeof d, "the 'descr' string");
  if (s != NN_OK) return s;
  char order = d[0];
  for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
    if (strcmp(d + 1, codes[k].code) != 0) continue;
    bool one_byte = rt_dtype_size(codes[k].dt) == 1;
    if (order == '<' || order == '=' || (order == '|' && one_byte) ||
        order == '>') {
      h->dtype = codes[k].dt;
      h->swap = order == '>' && !one_byte;
      return NN_OK;
    }
  }
  return rt_error(NN_ERR_FORMAT, "%s: .npy dtype '%s' is not supported; "
                  "expected one of <f4 <f8 <i4 <i8 |u1 |i1 <i2 |b1", c->path, d);
}

static nn_status parse_bool(Cur *c, bool *out) {
  skip_ws(c);
  if (c->n - c->i >= 4 && memcmp(c->s + c->i, "True", 4) == 0) {
    c->i += 4;
    *out = true;
    return NN_OK;
  }
  if (c->n - c->i >= 5 && memcmp(c->s + c->i, "False", 5) == 0) {
    c->i += 5;
    *out = false;
    return NN_OK;
  }
  return expected(c, "True or False for 'fortran_order'");
}

/* A shape tuple: "()", "(3,)", "(3, 4)", "(3, 4,)". */
static nn_status parse_shape(Cur *c, NpyHeader *h) {
  if (!accept(c, '(')) return expected(c, "'(' starting the shape tuple");
  h->rank = 0;
  for (;;) {
    skip_ws(c);
    if (accept(c, ')')) break;
    if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9')
      return expected(c, "a non-negative integer dimension or ')'");
    if (h->rank == RT_MAX_RANK)
      return rt_error(NN_ERR_FORMAT, "%s: .npy shape has more than %d "
                      "dimensions", c->path, RT_MAX_RANK);
    int64_t v = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
      int dgt = c->s[c->i++] - '0';
      if (v > (INT64_MAX - dgt) / 10)
        return rt_error(NN_ERR_FORMAT, "%s: .npy shape dimension %d is too "
                        "large", c->path, h->rank);
      v = v * 10 + dgt;
    }
    if (c->i < c->n && c->s[c->i] == 'L') c->i++; /* Python 2 long */
    h->shape[h->rank++] = v;
    if (accept(c, ',')) continue;
    if (accept(c, ')')) break;
    return expected(c, "',' or ')' in the shape tuple");
  }
  return NN_OK;
}

static nn_status parse_header(const char *path, const char *text, size_t n,
                              NpyHeader *h) {
  Cur c = {path, text, n, 0};
  bool have_descr = false, have_fortran = false, have_shape = false;
  nn_status s;
  if (!accept(&c, '{')) return expected(&c, "'{' starting the header dict");
  for (;;) {
    if (accept(&c, '}')) break;
    char key[32];
    if ((s = parse_str(&c, key, sizeof key, "a quoted key or '}'")) != NN_OK)
      return s;
    if (!accept(&c, ':')) return expected(&c, "':' after the key");
    bool *seen;
    if (strcmp(key, "descr") == 0) {
      seen = &have_descr;
      s = parse_descr(&c, h);
    } else if (strcmp(key, "fortran_order") == 0) {
      seen = &have_fortran;
      s = parse_bool(&c, &h->fortran);
    } else if (strcmp(key, "shape") == 0) {
      seen = &have_shape;
      s = parse_shape(&c, h);
    } else {
      return rt_error(NN_ERR_FORMAT, "%s: .npy header has unknown key '%s'; "
                      "expected 'descr', 'fortran_order' and 'shape'", path, key);
    }
    if (s != NN_OK) return s;
    if (*seen)
      return rt_error(NN_ERR_FORMAT, "%s: .npy header has key '%s' twice",
                      path, key);
    *seen = true;
    if (accept(&c, ',')) continue;
    if (accept(&c, '}')) break;
    return expected(&c, "',' or '}' in the header dict");
  }
  skip_ws(&c);
  if (c.i != c.n) return expected(&c, "only spaces after the header dict");
  if (!have_descr || !have_fortran || !have_shape)
    return rt_error(NN_ERR_FORMAT, "%s: .npy header lacks the key '%s'", path,
                    !have_descr ? "descr" : !have_fortran ? "fortran_order"
                                                          : "shape");
  if (h->fortran)
    return rt_error(NN_ERR_FORMAT, "%s: .npy data is in Fortran order; only C "
                    "order is supported (save with np.ascontiguousarray)", path);
  return NN_OK;
}

/* Reads exactly n bytes or reports what was found. */
static nn_status read_exact(FILE *f, const char *path, void *p, size_t n,
                            const char *what) {
  size_t got = fread(p, 1, n, f);
  if (got == n) return NN_OK;
  if (ferror(f))
    return rt_error(NN_ERR_IO, "%s: read error: %s", path, strerror(errno));
  return rt_error(NN_ERR_FORMAT, "%s: truncated .npy: %s needs %zu bytes, "
                  "found %zu", path, what, n, got);
}

static void swap_bytes(uint8_t *p, size_t nbytes, size_t size) {
  for (size_t i = 0; i + size <= nbytes; i += size)
    for (size_t a = 0, b = size - 1; a < b; a++, b--) {
      uint8_t t = p[i + a];
      p[i + a] = p[i + b];
      p[i + b] = t;
    }
}

static nn_status check_bools(const char *path, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] > 1)
      return rt_error(NN_ERR_FORMAT, "%s: bool element %zu is %u; expected 0 "
                      "or 1", path, i, p[i]);
  return NN_OK;
}

/* Reads the magic, version and header text; *data_off is where data starts. */
static nn_status read_header(FILE *f, const char *path, int64_t fsize,
                             NpyHeader *h, size_t *data_off) {
  uint8_t pre[12];
  nn_status s = read_exact(f, path, pre, 8, "the magic and version");
  if (s != NN_OK) return s;
  if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
    return rt_error(NN_ERR_FORMAT, "%s: not a .npy file: expected the magic "
                    "\\x93NUMPY, found %02x %02x %02x %02x %02x %02x", path,
                    pre[0], pre[1], pre[2], pre[3], pre[4], pre[5]);
  int major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return rt_error(NN_ERR_FORMAT, "%s: .npy version %d.%d is not supported; "
                    "expected 1.0, 2.0 or 3.0", path, major, minor);
  size_t lensz = major == 1 ? 2 : 4;
  if ((s = read_exact(f, path, pre + 8, lensz, "the header length")) != NN_OK)
    return s;
  size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  if (major != 1) hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  size_t off = 8 + lensz + hlen;
  if (hlen > NPY_MAX_HEADER || off > (uint64_t)fsize)
    return rt_error(NN_ERR_FORMAT, "%s: .npy header length %zu is %s (file "
                    "size %lld bytes)", path, hlen, hlen > NPY_MAX_HEADER ?
                    "too large" : "past the end of the file", (long long)fsize);
  char *text = rt_alloc(hlen + 1);
  if (!text) return NN_ERR_NOMEM;
  s = read_exact(f, path, text, hlen, "the header");
  if (s == NN_OK) s = parse_header(path, text, hlen, h);
  rt_free(text);
  *data_off = off;
  return s;
}

nn_status rt_npy_read(const char *path, rt_tensor *out) {
  if (!path || !out) return rt_error(NN_ERR_NULL, "rt_npy_read: NULL argument");
  memset(out, 0, sizeof *out);
  FILE *f;
  int64_t fsize = -1;
  nn_status s = rt_file_open_read(path, &f, &fsize);
  if (s != NN_OK) return s;
  NpyHeader h = {0};
  size_t off = 0, nbytes = 0;
  if ((s = read_header(f, path, fsize, &h, &off)) != NN_OK) goto done;
  if (rt_shape_nbytes(h.dtype, h.rank, h.shape, &nbytes) != NN_OK) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", rt_last_error());
    s = rt_error(NN_ERR_FORMAT, "%s: .npy shape is too large: %s", path, msg);
    goto done;
  }
  /* Check the size before allocating, so absurd shapes fail fast. */
  if ((uint64_t)fsize - off != nbytes) {
    char shp[128];
    rt_tensor tmp = {.dtype = h.dtype, .rank = h.rank};
    memcpy(tmp.shape, h.shape, sizeof h.shape);
    s = rt_error(NN_ERR_FORMAT, "%s: %s .npy: shape %s needs %zu data bytes, "
                 "found %llu", path, (uint64_t)fsize - off < nbytes ?
                 "truncated" : "trailing data in", rt_tensor_shape_str(&tmp,
                 shp, sizeof shp), nbytes, (unsigned long long)(fsize - off));
    goto done;
  }
  uint8_t *data;
  s = rt_file_read_exact(f, path, "the .npy data", nbytes, &data);
  if (s != NN_OK) goto done;
  out->dtype = h.dtype;
  out->rank = h.rank;
  memcpy(out->shape, h.shape, sizeof h.shape);
  out->data = data;
  out->nbytes = nbytes;
  if (fgetc(f) != EOF) {
    s = rt_error(NN_ERR_FORMAT, "%s: trailing data in .npy after %zu data "
                 "bytes", path, nbytes);
    goto done;
  }
  if (h.swap) swap_bytes(out->data, nbytes, rt_dtype_size(h.dtype));
  if (h.dtype == RT_BOOL) s = check_bools(path, out->data, nbytes);
done:
  fclose(f);
  if (s != NN_OK) rt_tensor_free(out);
  return s;
}

static const char *npy_descr(rt_dtype t) {
  switch (t) {
  case RT_F32: return "<f4";
  case RT_F64: return "<f8";
  case RT_I32: return "<i4";
  case RT_I64: return "<i8";
  case RT_U8: return "|u1";
  case RT_I8: return "|i1";
  case RT_I16: return "<i2";
  case RT_BOOL: return "|b1";
  }
  return "?";
}

nn_status rt_npy_write(const char *path, const rt_tensor *t) {
  if (!path || !t) return rt_error(NN_ERR_NULL, "rt_npy_write: NULL argument");
  nn_status s = rt_tensor_check(t, path);
  if (s != NN_OK) return s;
  char dict[400];
  int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
                     "False, 'shape': (", npy_descr(t->dtype));
  for (int i = 0; i < t->rank; i++)
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%s%lld",
                    i ? ", " : "", (long long)t->shape[i]);
  len += snprintf(dict + len, sizeof dict - (size_t)len, "%s), }",
                  t->rank == 1 ? "," : "");
  /* 10 bytes of preamble (1.0) + header padded with spaces and '\n' to a
   * multiple of 64, so the data is aligned. Rank <= 8 keeps it < 64 KB. */
  size_t total = ((size_t)10 + (size_t)len + 1 + 63) / 64 * 64;
  size_t hlen = total - 10;
  uint8_t pre[10 + sizeof dict + 64];
  memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
  pre[6] = 1;
  pre[7] = 0;
  pre[8] = (uint8_t)(hlen & 0xff);
  pre[9] = (uint8_t)(hlen >> 8);
  memset(pre + 10, ' ', hlen);
  memcpy(pre + 10, dict, (size_t)len);
  pre[total - 1] = '\n';
  rt_atomic_file af;
  if ((s = rt_atomic_begin(&af, path)) != NN_OK) return s;
  if ((s = rt_atomic_write(&af, pre, total)) != NN_OK) return s;
  if ((s = rt_atomic_write(&af, t->data, t->nbytes)) != NN_OK) return s;
  return rt_atomic_commit(&af);
}
