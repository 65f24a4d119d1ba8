/* rt_csv.c — CSV of numbers: one sample per line, features plus a label.
 *
 * The file is read whole, then scanned twice: once to find the header and
 * count the rows, once to parse them into features f32 [N, F] and labels
 * i32 [N]. Every error names file:line:column (1-based, the column of the
 * offending field) and shows the field. */
#include "rt_io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_BYTES ((size_t)1 << 31)

/* The file and what the first scan learned about it. */
typedef struct Csv {
  const char *path;
  const char *text;  /* file contents, NUL-terminated */
  size_t len;
  bool header;       /* line 1 is a header */
  int ncols;         /* fields per line, from line 1 */
  int label;         /* label column, 0..ncols) */
  int64_t nrows;     /* data lines */
} Csv;

/* One line, without its '\n' or a trailing '\r'. */
typedef struct Line {
  const char *p;
  size_t len;
  int64_t no; /* 1-based line number */
} Line;

static bool next_line(const Csv *c, size_t *pos, Line *l) {
  if (*pos >= c->len) return false;
  const char *s = c->text + *pos;
  const char *nl = memchr(s, '\n', c->len - *pos);
  size_t n = nl ? (size_t)(nl - s) : c->len - *pos;
  *pos += n + (nl ? 1 : 0);
  l->p = s;
  l->len = n && s[n - 1] == '\r' ? n - 1 : n;
  l->no++;
  return true;
}

static bool blank(const Line *l) {
  for (size_t i = 0; i < l->len; i++)
    if (l->p[i] != ' ' && l->p[i] != '\t') return false;
  return true;
}

/* Field [*a, *b) starting at *a: trims spaces; *next is past the comma (or
 * SIZE_MAX at the end of the line). */
static void field(const Line *l, size_t start, size_t *a, size_t *b,
                  size_t *next) {
  const char *comma = memchr(l->p + start, ',', l->len - start);
  size_t end = comma ? (size_t)(comma - l->p) : l->len;
  *next = comma ? end + 1 : SIZE_MAX;
  while (start < end && (l->p[start] == ' ' || l->p[start] == '\t')) start++;
  while (end > start && (l->p[end - 1] == ' ' || l->p[end - 1] == '\t')) end--;
  *a = start;
  *b = end;
}

/* A finite decimal number that fits f32. Refuses nan, inf, hex, and
 * whatever strtod would accept beyond plain decimal notation. */
static bool parse_f32(const char *s, size_t n, float *out) {
  char buf[128];
  if (n == 0 || n >= sizeof buf) return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789+-.eE", s[i])) return false;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  if (end != buf + n || !isfinite(v) || fabs(v) > FLT_MAX) return false;
  *out = (float)v;
  return true;
}

/* A non-negative decimal integer < 2^31. */
static bool parse_label(const char *s, size_t n, int32_t *out) {
  if (n == 0) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
    if (v > INT32_MAX) return false;
  }
  *out = (int32_t)v;
  return true;
}

static nn_status field_error(const Csv *c, const Line *l, size_t a, size_t b,
                             int k, const char *what) {
  return rt_error(NN_ERR_FORMAT, "%s:%lld:%zu: field %d: expected %s, found "
                  "'%.*s'", c->path, (long long)l->no, a + 1, k + 1, what,
                  (int)(b - a > 60 ? 60 : b - a), l->p + a);
}

/* Scan 1: header, column count, label column, number of data rows. */
static nn_status scan(Csv *c, int label_col) {
  size_t pos = 0;
  Line l = {0};
  if (!next_line(c, &pos, &l) || blank(&l))
    return rt_error(NN_ERR_FORMAT, "%s:1:1: empty %s; expected a line of "
                    "comma-separated numbers", c->path,
                    c->len ? "first line" : "file");
  c->ncols = 0;
  c->header = false;
  for (size_t at = 0; at != SIZE_MAX; c->ncols++) {
    size_t a, b;
    float v;
    field(&l, at, &a, &b, &at);
    if (!parse_f32(l.p + a, b - a, &v)) c->header = true;
  }
  if (c->ncols < 2)
    return rt_error(NN_ERR_FORMAT, "%s:1:1: expected at least 2 columns (features "
                    "and a label), found 1", c->path);
  if (label_col < -1 || label_col >= c->ncols)
    return rt_error(NN_ERR_ARG, "%s: label column %d does not exist; the "
                    "file has %d columns (0..%d, or -1 for the last)", c->path,
                    label_col, c->ncols, c->ncols - 1);
  c->label = label_col < 0 ? c->ncols - 1 : label_col;
  /* Count data rows; blank lines are allowed only at the end. */
  int64_t rows = c->header ? 0 : 1, blank_at = 0;
  while (next_line(c, &pos, &l)) {
    if (blank(&l)) {
      if (!blank_at) blank_at = l.no;
      continue;
    }
    if (blank_at)
      return rt_error(NN_ERR_FORMAT, "%s:%lld:1: empty line; expected %d "
                      "comma-separated fields", c->path, (long long)blank_at,
                      c->ncols);
    rows++;
  }
  if (rows == 0)
    return rt_error(NN_ERR_FORMAT, "%s: no data rows after the header line",
                    c->path);
  c->nrows = rows;
  return NN_OK;
}

/* Scan 2 for one line: features into feat[0..ncols-1), label into *lab. */
static nn_status parse_row(const Csv *c, const Line *l, float *feat,
                           int32_t *lab) {
  int k = 0, j = 0;
  size_t at = 0;
  for (; at != SIZE_MAX; k++) {
    size_t a, b;
    size_t start = at;
    field(l, at, &a, &b, &at);
    if (k >= c->ncols)
      return rt_error(NN_ERR_FORMAT, "%s:%lld:%zu: expected %d fields (as in "
                      "line 1), found more: '%.*s'", c->path, (long long)l->no,
                      start + 1, c->ncols, (int)(b - a > 60 ? 60 : b - a),
                      l->p + a);
    if (k == c->label) {
      if (!parse_label(l->p + a, b - a, lab))
        return field_error(c, l, a, b, k, "a non-negative integer label");
    } else if (!parse_f32(l->p + a, b - a, &feat[j++])) {
      return field_error(c, l, a, b, k, "a finite decimal number");
    }
  }
  if (k != c->ncols)
    return rt_error(NN_ERR_FORMAT, "%s:%lld:%zu: expected %d fields (as in "
                    "line 1), found %d", c->path, (long long)l->no, l->len + 1,
                    c->ncols, k);
  return NN_OK;
}

nn_status rt_csv_read(const char *path, int label_col, rt_tensor *features,
                      rt_tensor *labels) {
  if (!path || !features || !labels)
    return rt_error(NN_ERR_NULL, "rt_csv_read: NULL argument");
  memset(features, 0, sizeof *features);
  memset(labels, 0, sizeof *labels);
  uint8_t *text;
  size_t len;
  nn_status s = rt_file_read_all(path, CSV_MAX_BYTES, &text, &len);
  if (s != NN_OK) return s;
  Csv c = {path, (const char *)text, len, false, 0, 0, 0};
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 BOM */
    c.text += 3;
    c.len -= 3;
  }
  if ((s = scan(&c, label_col)) != NN_OK) goto done;
  int64_t fshape[2] = {c.nrows, c.ncols - 1};
  if ((s = rt_tensor_alloc(features, NULL, RT_F32, 2, fshape)) != NN_OK ||
      (s = rt_tensor_alloc(labels, NULL, RT_I32, 1, &c.nrows)) != NN_OK)
    goto done;
  size_t pos = 0;
  Line l = {0};
  if (c.header) next_line(&c, &pos, &l);
  float *feat = features->data;
  int32_t *lab = labels->data;
  for (int64_t r = 0; r < c.nrows; r++) {
    next_line(&c, &pos, &l);
    s = parse_row(&c, &l, feat + r * (c.ncols - 1), lab + r);
    if (s != NN_OK) goto done;
  }
done:
  rt_free(text);
  if (s != NN_OK) {
    rt_tensor_free(features);
    rt_tensor_free(labels);
  }
  return s;
}
