/* rt_text.c — text for character models: reading the bytes, building a
 * byte vocabulary, encoding with it, and storing it as a hex string in
 * checkpoint metadata. */
#include "rt_io.h"

#include <string.h>

#define TEXT_MAX_BYTES ((size_t)1 << 30) /* 1 GB */

nn_status rt_text_read(const char *path, uint8_t **bytes, size_t *len) {
  if (!path || !bytes || !len)
    return rt_error(NN_ERR_NULL, "rt_text_read: NULL argument");
  nn_status s = rt_file_read_all(path, TEXT_MAX_BYTES, bytes, len);
  if (s != NN_OK) return s;
  if (*len == 0) {
    rt_free(*bytes);
    *bytes = NULL;
    return rt_error(NN_ERR_FORMAT, "%s: empty file; expected some text", path);
  }
  return NN_OK;
}

void rt_vocab_build(rt_vocab *v, const uint8_t *bytes, size_t len) {
  if (!v) return;
  bool seen[256] = {false};
  for (size_t i = 0; bytes && i < len; i++) seen[bytes[i]] = true;
  memset(v, 0, sizeof *v);
  for (int b = 0; b < 256; b++) {
    v->id[b] = seen[b] ? (int16_t)v->n : -1;
    if (seen[b]) v->chars[v->n++] = (uint8_t)b;
  }
}

nn_status rt_vocab_encode(const rt_vocab *v, const uint8_t *bytes, size_t len,
                          int32_t *ids) {
  if (!v || (len && (!bytes || !ids)))
    return rt_error(NN_ERR_NULL, "rt_vocab_encode: NULL argument");
  for (size_t i = 0; i < len; i++) {
    int id = v->id[bytes[i]];
    if (id < 0)
      return rt_error(NN_ERR_RANGE, "byte %u (0x%02x) at offset %zu is not in "
                      "the vocabulary of %d characters", bytes[i], bytes[i], i,
                      v->n);
    ids[i] = id;
  }
  return NN_OK;
}

char *rt_vocab_to_string(const rt_vocab *v) {
  static const char hex[] = "0123456789abcdef";
  if (!v || v->n < 0 || v->n > 256) {
    rt_error(NN_ERR_ARG, "rt_vocab_to_string: invalid vocabulary");
    return NULL;
  }
  char *s = rt_alloc(2 * (size_t)v->n + 1);
  if (!s) return NULL;
  for (int i = 0; i < v->n; i++) {
    s[2 * i] = hex[v->chars[i] >> 4];
    s[2 * i + 1] = hex[v->chars[i] & 15];
  }
  s[2 * v->n] = 0;
  return s;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

nn_status rt_vocab_from_string(const char *s, rt_vocab *v) {
  if (!s || !v) return rt_error(NN_ERR_NULL, "rt_vocab_from_string: NULL argument");
  rt_vocab_build(v, NULL, 0);
  size_t n = strlen(s);
  if (n % 2 || n > 512)
    return rt_error(NN_ERR_FORMAT, "vocabulary string has %zu characters; "
                    "expected an even number up to 512 (2 hex digits per "
                    "byte)", n);
  rt_vocab tmp;
  rt_vocab_build(&tmp, NULL, 0);
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(s[i]), lo = hexval(s[i + 1]);
    if (hi < 0 || lo < 0)
      return rt_error(NN_ERR_FORMAT, "vocabulary string: character %zu is not "
                      "a hex digit: '%.2s'", hi < 0 ? i : i + 1, s + i);
    int b = hi * 16 + lo;
    if (tmp.n && b <= tmp.chars[tmp.n - 1])
      return rt_error(NN_ERR_FORMAT, "vocabulary string: byte %d (0x%02x) at "
                      "position %d is not greater than the one before; expected "
                      "strictly increasing bytes", b, b, tmp.n);
    tmp.id[b] = (int16_t)tmp.n;
    tmp.chars[tmp.n++] = (uint8_t)b;
  }
  *v = tmp;
  return NN_OK;
}
