/* rt_json.c — strict JSON parser into a JsonValue tree. See rt_json.h.
 *
 * Recursive descent over the text with a depth limit. Arrays and objects
 * grow by doubling (rt_grow).
 * Every failure path frees what the value being parsed owns, so a caller
 * sees either a complete tree or nothing. */
#include "rt_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Parser {
  const char *s;    /* text; not NUL-terminated */
  size_t n, i;      /* length, position */
  const char *what; /* names the text in messages, e.g. "x.safetensors: header" */
  int depth;        /* current nesting of arrays/objects */
} Parser;

static nn_status parse_value(Parser *p, JsonValue *out);

static nn_status expected(const Parser *p, const char *what) {
  char buf[24];
  const char *f = buf;
  if (p->i >= p->n) f = "the end of the text";
  else {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, sizeof buf, "'%c'", c);
    else snprintf(buf, sizeof buf, "byte 0x%02x", c);
  }
  return rt_error(NN_ERR_FORMAT, "%s: JSON byte %zu: expected %s, found %s",
                  p->what, p->i, what, f);
}

static void skip_ws(Parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                         p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

const char *rt_json_kind_name(JsonKind k) {
  switch (k) {
  case JSON_NULL: return "null";
  case JSON_BOOL: return "boolean";
  case JSON_NUMBER: return "number";
  case JSON_STRING: return "string";
  case JSON_ARRAY: return "array";
  case JSON_OBJECT: return "object";
  }
  return "?";
}

void rt_json_free(JsonValue *v) {
  if (!v) return;
  rt_free(v->s);
  for (int k = 0; k < v->n; k++) {
    if (v->items) rt_json_free(&v->items[k]);
    if (v->keys) rt_free(v->keys[k]);
  }
  rt_free(v->items);
  rt_free(v->keys);
  memset(v, 0, sizeof *v);
}

/* ---- strings --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) len = 3, lo = 0xA0;            /* no overlong */
  else if (c == 0xED) len = 3, hi = 0x9F;            /* no surrogates */
  else if (c >= 0xE1 && c <= 0xEF) len = 3;
  else if (c == 0xF0) len = 4, lo = 0x90;            /* no overlong */
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) len = 4, hi = 0x8F;            /* <= U+10FFFF */
  else return 0;
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  return len;
}

bool rt_utf8_valid(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_len(u + i, n - i);
    if (!k) return false;
    i += k;
  }
  return true;
}

static size_t put_utf8(char *d, unsigned cp) {
  if (cp < 0x80) {
    d[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    d[0] = (char)(0xC0 | cp >> 6);
    d[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    d[0] = (char)(0xE0 | cp >> 12);
    d[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    d[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  d[0] = (char)(0xF0 | cp >> 18);
  d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  d[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  d[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Four hex digits at p->i (after "\u"); -1 if malformed. */
static long hex4(Parser *p) {
  if (p->n - p->i < 4) return -1;
  long v = 0;
  for (int k = 0; k < 4; k++) {
    char c = p->s[p->i + (size_t)k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  p->i += 4;
  return v;
}

/* One escape after the backslash, decoded into d; returns bytes written or
 * 0 after recording an error. */
static size_t parse_escape(Parser *p, char *d, nn_status *st) {
  char c = p->s[p->i++];
  switch (c) {
  case '"': case '\\': case '/': *d = c; return 1;
  case 'b': *d = '\b'; return 1;
  case 'f': *d = '\f'; return 1;
  case 'n': *d = '\n'; return 1;
  case 'r': *d = '\r'; return 1;
  case 't': *d = '\t'; return 1;
  case 'u': break;
  default:
    p->i--;
    *st = expected(p, "an escape character (one of \"\\/bfnrtu)");
    return 0;
  }
  long cp = hex4(p);
  if (cp < 0) {
    *st = expected(p, "4 hex digits after \\u");
    return 0;
  }
  if (cp >= 0xDC00 && cp <= 0xDFFF) {
    *st = expected(p, "a high surrogate before a low surrogate \\u escape");
    return 0;
  }
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
      *st = expected(p, "a \\u low surrogate after a high surrogate");
      return 0;
    }
    p->i += 2;
    long lo = hex4(p);
    if (lo < 0xDC00 || lo > 0xDFFF) {
      *st = expected(p, "a \\u low surrogate (DC00..DFFF) after a high one");
      return 0;
    }
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (cp == 0) {
    *st = rt_error(NN_ERR_FORMAT, "%s: JSON byte %zu: \\u0000 (NUL) in a "
                   "string is not supported", p->what, p->i - 6);
    return 0;
  }
  return put_utf8(d, (unsigned)cp);
}

/* A string at p->i (which is '"') into a fresh C string. */
static nn_status parse_string(Parser *p, char **out) {
  *out = NULL;
  size_t start = ++p->i, end = start;
  while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->n) {
    p->i = p->n;
    return expected(p, "'\"' closing the string");
  }
  /* Decoded text is never longer than the escaped text. */
  char *d = rt_alloc(end - start + 1);
  if (!d) return NN_ERR_NOMEM;
  size_t len = 0;
  nn_status st = NN_OK;
  while (p->i < end) {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '\\') {
      p->i++;
      size_t k = parse_escape(p, d + len, &st);
      if (!k) break;
      len += k;
    } else if (c < 0x20) {
      st = expected(p, "a string character (control characters must be "
                    "escaped)");
      break;
    } else {
      size_t k = utf8_len((const unsigned char *)p->s + p->i, end - p->i);
      if (!k) {
        st = expected(p, "valid UTF-8 in the string");
        break;
      }
      memcpy(d + len, p->s + p->i, k);
      len += k;
      p->i += k;
    }
  }
  if (st != NN_OK) {
    rt_free(d);
    return st;
  }
  p->i = end + 1;
  d[len] = 0;
  *out = d;
  return NN_OK;
}

/* ---- numbers and literals ---------------------------------------------- */

static bool is_digit(const Parser *p) {
  return p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static nn_status parse_number(Parser *p, JsonValue *out) {
  size_t start = p->i;
  if (p->s[p->i] == '-') p->i++;
  if (!is_digit(p)) return expected(p, "a digit");
  if (p->s[p->i] == '0') p->i++;
  else while (is_digit(p)) p->i++;
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    if (!is_digit(p)) return expected(p, "a digit after '.'");
    while (is_digit(p)) p->i++;
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    if (!is_digit(p)) return expected(p, "a digit in the exponent");
    while (is_digit(p)) p->i++;
  }
  size_t len = p->i - start;
  out->s = rt_alloc(len + 1);
  if (!out->s) return NN_ERR_NOMEM;
  memcpy(out->s, p->s + start, len);
  out->s[len] = 0;
  out->kind = JSON_NUMBER;
  return NN_OK;
}

static bool literal(Parser *p, const char *word) {
  size_t len = strlen(word);
  if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0) return false;
  p->i += len;
  return true;
}

/* ---- arrays and objects -------------------------------------------------- */

/* Makes room for one more element in arr (elem bytes each, *cap slots, n
 * used). */
static bool grow(void **arr, size_t *cap, int n, size_t elem) {
  if (n >= (1 << 28)) {
    rt_error(NN_ERR_NOMEM, "JSON array or object too large");
    return false;
  }
  void *na = rt_grow(*arr, cap, (size_t)n + 1, elem);
  if (!na) return false;
  *arr = na;
  return true;
}

static nn_status parse_array(Parser *p, JsonValue *out) {
  out->kind = JSON_ARRAY;
  p->i++; /* '[' */
  size_t cap = 0;
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == ']') {
    p->i++;
    return NN_OK;
  }
  for (;;) {
    if (!grow((void **)&out->items, &cap, out->n, sizeof(JsonValue)))
      return NN_ERR_NOMEM;
    nn_status st = parse_value(p, &out->items[out->n]);
    if (st != NN_OK) return st;
    out->n++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == ']') {
      p->i++;
      return NN_OK;
    }
    return expected(p, "',' or ']' in the array");
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static nn_status check_duplicates(Parser *p, const JsonValue *obj) {
  if (obj->n < 2) return NN_OK;
  char **sorted = rt_alloc((size_t)obj->n * sizeof *sorted);
  if (!sorted) return NN_ERR_NOMEM;
  memcpy(sorted, obj->keys, (size_t)obj->n * sizeof *sorted);
  qsort(sorted, (size_t)obj->n, sizeof *sorted, cmp_str);
  nn_status st = NN_OK;
  for (int k = 1; k < obj->n && st == NN_OK; k++)
    if (strcmp(sorted[k - 1], sorted[k]) == 0)
      st = rt_error(NN_ERR_FORMAT, "%s: JSON object at byte %zu has the key "
                    "\"%.200s\" twice", p->what, obj->pos, sorted[k]);
  rt_free(sorted);
  return st;
}

static nn_status parse_object(Parser *p, JsonValue *out) {
  out->kind = JSON_OBJECT;
  p->i++; /* '{' */
  size_t cap = 0, kcap = 0;
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == '}') {
    p->i++;
    return NN_OK;
  }
  for (;;) {
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '"')
      return expected(p, "'\"' starting an object key");
    if (!grow((void **)&out->items, &cap, out->n, sizeof(JsonValue)) ||
        !grow((void **)&out->keys, &kcap, out->n, sizeof(char *)))
      return NN_ERR_NOMEM;
    char *key;
    nn_status st = parse_string(p, &key);
    if (st != NN_OK) return st;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != ':') {
      rt_free(key);
      return expected(p, "':' after the object key");
    }
    p->i++;
    if ((st = parse_value(p, &out->items[out->n])) != NN_OK) {
      rt_free(key);
      return st;
    }
    out->keys[out->n++] = key;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == '}') {
      p->i++;
      return check_duplicates(p, out);
    }
    return expected(p, "',' or '}' in the object");
  }
}

/* Parses one value into *out; on failure frees what it built and leaves
 * *out zeroed. */
static nn_status parse_value(Parser *p, JsonValue *out) {
  memset(out, 0, sizeof *out);
  skip_ws(p);
  out->pos = p->i;
  if (p->i >= p->n) return expected(p, "a value");
  nn_status st = NN_OK;
  char c = p->s[p->i];
  if (c == '{' || c == '[') {
    if (p->depth >= RT_JSON_MAX_DEPTH)
      return rt_error(NN_ERR_FORMAT, "%s: JSON byte %zu: nesting deeper than "
                      "%d levels", p->what, p->i, RT_JSON_MAX_DEPTH);
    p->depth++;
    st = c == '{' ? parse_object(p, out) : parse_array(p, out);
    p->depth--;
  } else if (c == '"') {
    out->kind = JSON_STRING;
    st = parse_string(p, &out->s);
  } else if (c == '-' || (c >= '0' && c <= '9')) {
    st = parse_number(p, out);
  } else if (literal(p, "true") || literal(p, "false")) {
    out->kind = JSON_BOOL;
    out->b = c == 't';
  } else if (literal(p, "null")) {
    out->kind = JSON_NULL;
  } else {
    return expected(p, "a value (object, array, string, number, true, false "
                    "or null)");
  }
  if (st != NN_OK) rt_json_free(out);
  return st;
}

nn_status rt_json_parse(const char *text, size_t len, const char *what,
                        JsonValue *out) {
  if (!out) return rt_error(NN_ERR_NULL, "rt_json_parse: NULL argument");
  memset(out, 0, sizeof *out);
  if (!text) return rt_error(NN_ERR_NULL, "rt_json_parse: NULL argument");
  Parser p = {text, len, 0, what ? what : "JSON", 0};
  nn_status st = parse_value(&p, out);
  if (st != NN_OK) return st;
  skip_ws(&p);
  if (p.i != p.n) {
    st = expected(&p, "nothing but whitespace after the value");
    rt_json_free(out);
  }
  return st;
}

const JsonValue *rt_json_get(const JsonValue *obj, const char *key) {
  if (!obj || obj->kind != JSON_OBJECT || !key) return NULL;
  for (int k = 0; k < obj->n; k++)
    if (strcmp(obj->keys[k], key) == 0) return &obj->items[k];
  return NULL;
}

bool rt_json_u64(const JsonValue *v, uint64_t *out) {
  if (!v || v->kind != JSON_NUMBER || !v->s) return false;
  uint64_t x = 0;
  for (const char *c = v->s; *c; c++) {
    if (*c < '0' || *c > '9') return false;
    unsigned d = (unsigned)(*c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *out = x;
  return true;
}
