/* diag.c — clang-style diagnostics; see diag.h.
 *
 * The source line under a diagnostic is printed sanitized: tabs expand to
 * the next multiple of 8, bytes that are not printable ASCII or valid UTF-8
 * show as <XX>, and very long lines are cut to a window around the caret, so
 * that garbage input never produces garbage output. */
#include "diag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_RED "\033[1;31m"
#define C_MAGENTA "\033[1;35m"
#define C_CYAN "\033[1;36m"
#define C_GREEN "\033[1;32m"

void diag_init(Diag *d, const char *path, const char *src, size_t len,
               FILE *out, DiagColor color) {
  memset(d, 0, sizeof *d);
  d->path = path;
  d->src = src;
  d->len = len;
  d->out = out;
  d->max_errors = 20;
  if (color == COLOR_ALWAYS)
    d->color = true;
  else if (color == COLOR_NEVER)
    d->color = false;
  else {
    const char *nc = getenv("NO_COLOR");
    d->color = isatty(fileno(out)) && !(nc && nc[0]);
  }
}

void diag_free(Diag *d) {
  free(d->line_start);
  d->line_start = NULL;
}

Loc loc_span(Loc a, Loc b) {
  Loc l = {a.line, a.col, b.eline, b.ecol};
  if (!a.line) return b;
  if (!b.line) return a;
  return l;
}

static void index_lines(Diag *d) {
  if (d->line_start || !d->src) return;
  int n = 1;
  for (size_t i = 0; i < d->len; i++)
    if (d->src[i] == '\n') n++;
  d->line_start = malloc(sizeof(int) * ((size_t)n + 1));
  if (!d->line_start) return;
  int k = 0;
  d->line_start[k++] = 0;
  for (size_t i = 0; i < d->len; i++)
    if (d->src[i] == '\n') d->line_start[k++] = (int)i + 1;
  d->line_start[k] = (int)d->len + 1;
  d->nlines = n;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static int utf8_len(const unsigned char *s, size_t n) {
  int len;
  uint32_t cp;
  if (s[0] < 0x80) return 1;
  if ((s[0] & 0xE0) == 0xC0) len = 2, cp = s[0] & 0x1F;
  else if ((s[0] & 0xF0) == 0xE0) len = 3, cp = s[0] & 0x0F;
  else if ((s[0] & 0xF8) == 0xF0) len = 4, cp = s[0] & 0x07;
  else return 0;
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

enum { WINDOW = 100 };

/* Print line `line` and an underline from byte column c0 to c1 (inclusive). */
static void show_line(Diag *d, int line, int c0, int c1) {
  index_lines(d);
  if (!d->line_start || line < 1 || line > d->nlines) return;
  const unsigned char *s = (const unsigned char *)d->src + d->line_start[line - 1];
  size_t n = (size_t)(d->line_start[line] - 1 - d->line_start[line - 1]);
  if (n > 0 && s[n - 1] == '\r') n--;
  /* Display column of each byte start. */
  char buf[WINDOW * 8 + 64];
  int disp = 0, start_disp = -1, end_disp = -1, caret_disp = 0;
  size_t first = 0;
  /* Cut the line to a window around the caret so huge lines stay short. */
  if (c0 - 1 > WINDOW / 2 && (size_t)(c0 - 1) < n) first = (size_t)(c0 - 1 - WINDOW / 2);
  while (first > 0 && first < n && (s[first] & 0xC0) == 0x80) first++;
  int o = 0;
  if (first > 0) {
    memcpy(buf, "...", 3);
    o = 3;
    disp = 3;
  }
  size_t i = first;
  for (; i < n && o < WINDOW * 8; ) {
    int col = (int)i + 1, w, len;
    if (col <= c1) end_disp = disp;
    if (s[i] == '\t') {
      w = 8 - disp % 8;
      len = 1;
      for (int k = 0; k < w; k++) buf[o++] = ' ';
    } else if (s[i] >= 0x20 && s[i] < 0x7F) {
      buf[o++] = (char)s[i];
      w = 1;
      len = 1;
    } else if (s[i] >= 0x80 && (len = utf8_len(s + i, n - i)) > 0) {
      memcpy(buf + o, s + i, (size_t)len);
      o += len;
      w = 1;
    } else {
      o += sprintf(buf + o, "<%02X>", s[i]);
      w = 4;
      len = 1;
    }
    /* c0 may point into a UTF-8 sequence shown as one character */
    if (start_disp < 0 && c0 < col + len) start_disp = disp;
    if (col <= c1) end_disp = disp + w - 1;
    disp += w;
    i += (size_t)len;
    if (disp > WINDOW + (first ? 3 : 0) && col > c1) break;
  }
  if (i < n) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = 0;
  if (start_disp < 0) start_disp = c0 - 1 >= (int)n ? disp : 0; /* caret past end */
  if (end_disp < start_disp) end_disp = start_disp;
  caret_disp = start_disp;
  /* The underline is built first and written with the line in one call:
   * stderr is unbuffered, and a file may produce many diagnostics. */
  char mark[WINDOW * 10 + 64];
  int m = 0;
  while (m < caret_disp && m < (int)sizeof mark - WINDOW - 2) mark[m++] = ' ';
  mark[m++] = '^';
  for (int k = caret_disp + 1; k <= end_disp && k < caret_disp + WINDOW; k++) mark[m++] = '~';
  int indent = 0;
  while (indent < m && mark[indent] == ' ') indent++;
  char num[16];
  int gw = snprintf(num, sizeof num, "%d", line);
  if (gw < 5) gw = 5; /* the gutter widens for line 100000 and beyond */
  fprintf(d->out, "%*d | %s\n%*s | %.*s%s%.*s%s\n", gw, line, buf, gw, "", indent, mark,
          d->color ? C_GREEN : "", m - indent, mark + indent, d->color ? C_RESET : "");
}

static void emit(Diag *d, Loc loc, const char *kind, const char *color,
                 const char *fmt, va_list ap) {
  if (d->color) fputs(C_BOLD, d->out);
  if (loc.line)
    fprintf(d->out, "%s:%d:%d: ", d->path, loc.line, loc.col);
  else
    fprintf(d->out, "%s: ", d->path ? d->path : "nnc");
  if (d->color) fputs(color, d->out);
  fprintf(d->out, "%s: ", kind);
  if (d->color) fputs(C_RESET C_BOLD, d->out);
  vfprintf(d->out, fmt, ap);
  if (d->color) fputs(C_RESET, d->out);
  fputc('\n', d->out);
  if (loc.line) {
    int c1 = loc.eline == loc.line ? loc.ecol : 1 << 30;
    show_line(d, loc.line, loc.col, c1 < loc.col ? loc.col : c1);
  }
}

void diag_verror(Diag *d, Loc loc, const char *fmt, va_list ap) {
  if (d->capped) {
    d->last_dropped = true;
    return;
  }
  d->nerrors++;
  d->last_dropped = false;
  emit(d, loc, "error", C_RED, fmt, ap);
  if (d->max_errors && d->nerrors >= d->max_errors) {
    d->capped = true;
    fprintf(d->out, "%s: fatal error: too many errors emitted, stopping now\n",
            d->path);
  }
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(d, loc, fmt, ap);
  va_end(ap);
}

void diag_warning(Diag *d, Loc loc, const char *fmt, ...) {
  if (d->capped) {
    d->last_dropped = true;
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  d->nwarnings++;
  d->last_dropped = false;
  emit(d, loc, "warning", C_MAGENTA, fmt, ap);
  va_end(ap);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...) {
  if (d->last_dropped) return;
  va_list ap;
  va_start(ap, fmt);
  emit(d, loc, "note", C_CYAN, fmt, ap);
  va_end(ap);
}

static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1 << 20;
  int prev[65], cur[65];
  for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int c = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < c) c = prev[j] + 1;
      if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
      cur[j] = c;
    }
    memcpy(prev, cur, sizeof(int) * (lb + 1));
  }
  return prev[lb];
}

const char *diag_closest(const char *name, const char *const *cands, int n) {
  const char *best = NULL;
  int bestd = 1 << 20;
  int limit = ((int)strlen(name) + 2) / 3; /* clang's rule: a third of the name */
  if (limit > 3) limit = 3;
  for (int i = 0; i < n; i++) {
    if (!cands[i] || !strcmp(cands[i], name)) continue;
    int dist = edit_distance(name, cands[i]);
    if (dist < bestd) bestd = dist, best = cands[i];
  }
  return bestd <= limit ? best : NULL;
}
