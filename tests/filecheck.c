/* filecheck.c — golden IR tests in the style of LLVM's FileCheck, for the
 * files of tests/ir/ (one ctest per file, registered by tests/ir.cmake):
 *
 *   filecheck [-v] NNC TEST.nn|TEST.ir
 *
 * A test file is split into cases at lines `// -----`. Each case is written
 * to a file of its own and compiled separately; positions in its output
 * (`# 12:5`) count lines from the case's first line (the line after the
 * separator), so CHECK lines written below a case's code never move it:
 *
 *   // RUN: nnc --emit=ir %s        run nnc (the word "nnc" is optional);
 *                                   %s is the case's file. A case without
 *                                   RUN lines uses the first case's.
 *   // RUN: not nnc ... %s          the command must fail (nonzero status;
 *                                   a signal is a crash either way)
 *   // RUN: nnc ... %s 2>&1         also check stderr (appended to stdout)
 *   // CHECK: text                  text occurs, after the previous match
 *   // CHECK-NEXT: text             ... on the line after the previous match
 *   // CHECK-NOT: text              text does not occur between the previous
 *                                   match and the next one (or the end)
 *   // CHECK-LABEL: text            splits the output: the other directives
 *                                   are checked between consecutive labels
 *
 * Text matches literally, except {{regex}} (POSIX extended, within a line).
 * A case must have at least one directive. With -v every case's command
 * and output are printed: the way to see what to write in CHECK lines. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <regex.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef enum Kind { D_CHECK, D_NEXT, D_NOT, D_LABEL } Kind;

typedef struct Directive {
  Kind kind;
  char *text;    /* as written */
  regex_t re;
  int line;      /* in the test file */
} Directive;

typedef struct Case {
  int first_line;       /* 1-based line of the case's first line */
  char *text;           /* the case's lines */
  char *runs[8];
  int nruns;
  int run_line[8];
  Directive *d;
  int nd, capd;
} Case;

static const char *test_path;
static bool verbose;
static int failures;

static void fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%d: error: ", test_path, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  failures++;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) {
    perror("filecheck");
    exit(2);
  }
  return p;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = xrealloc(NULL, cap + 1);
  for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) buf = xrealloc(buf, (cap *= 2) + 1);
  }
  fclose(f);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* ---- patterns ------------------------------------------------------------- */

/* The directive text as a POSIX extended regex: literal parts escaped,
 * {{...}} parts as written. */
static bool compile_pattern(Directive *d) {
  size_t n = strlen(d->text);
  char *re = xrealloc(NULL, 2 * n + 8);
  size_t k = 0;
  for (const char *s = d->text; *s;) {
    if (s[0] == '{' && s[1] == '{') {
      const char *e = strstr(s + 2, "}}");
      if (!e) {
        free(re);
        fail(d->line, "unterminated {{regex}}");
        return false;
      }
      re[k++] = '(';
      memcpy(re + k, s + 2, (size_t)(e - s - 2));
      k += (size_t)(e - s - 2);
      re[k++] = ')';
      s = e + 2;
      continue;
    }
    if (strchr(".[]()*+?{}|^$\\", *s)) re[k++] = '\\';
    re[k++] = *s++;
  }
  re[k] = 0;
  int rc = regcomp(&d->re, re, REG_EXTENDED | REG_NEWLINE);
  free(re);
  if (rc) {
    fail(d->line, "bad regex in '%s'", d->text);
    return false;
  }
  return true;
}

/* First match of d in out[from, to) that lies within one line; the match
 * is [*ms, *me). */
static bool find(const Directive *d, const char *out, size_t from, size_t to, size_t *ms, size_t *me) {
  size_t ls = from;
  while (ls < to) {
    size_t le = ls;
    while (le < to && out[le] != '\n') le++;
    char *line = strndup(out + ls, le - ls);
    regmatch_t m;
    int rc = regexec(&d->re, line, 1, &m, ls == 0 || out[ls - 1] == '\n' ? 0 : REG_NOTBOL);
    free(line);
    if (rc == 0) {
      *ms = ls + (size_t)m.rm_so;
      *me = ls + (size_t)m.rm_eo;
      return true;
    }
    ls = le + 1;
  }
  return false;
}

static size_t line_end(const char *out, size_t pos, size_t to) {
  while (pos < to && out[pos] != '\n') pos++;
  return pos;
}

static int line_of(const char *out, size_t pos) {
  int l = 1;
  for (size_t i = 0; i < pos; i++) l += out[i] == '\n';
  return l;
}

/* The output near pos, to show where a search started. */
static void show_context(const char *out, size_t pos, size_t to) {
  size_t s = pos;
  while (s > 0 && out[s - 1] != '\n') s--;
  fprintf(stderr, "  searched from output line %d:\n", line_of(out, pos));
  int lines = 0;
  for (size_t i = s; i < to && lines < 8; i++) {
    if (i == s || out[i - 1] == '\n') fputs("  > ", stderr);
    fputc(out[i], stderr);
    if (out[i] == '\n') lines++;
  }
  if (lines < 8) fputc('\n', stderr);
}

/* Check directives d[0..n) (no labels) against out[from, to); after a
 * label, CHECK-NEXT refers to the label's line. */
static void check_block(Directive *d, int n, const char *out, size_t from, size_t to, bool after_label) {
  size_t pos = from;
  bool matched_any = after_label;
  size_t last_line_end = line_end(out, from, to);
  for (int i = 0; i < n; i++) {
    if (d[i].kind == D_NOT) {
      /* the region ends at the next positive match (or the block's end) */
      int j = i;
      while (j < n && d[j].kind == D_NOT) j++;
      size_t end = to, ms, me;
      if (j < n && find(&d[j], out, pos, to, &ms, &me)) end = ms;
      for (int k = i; k < j; k++)
        if (find(&d[k], out, pos, end, &ms, &me)) {
          fail(d[k].line, "CHECK-NOT: '%s' found at output line %d", d[k].text, line_of(out, ms));
          show_context(out, ms, to);
        }
      i = j - 1;
      continue;
    }
    size_t ms, me;
    if (d[i].kind == D_NEXT) {
      if (!matched_any) {
        fail(d[i].line, "CHECK-NEXT without a previous match");
        return;
      }
      size_t ns = last_line_end + 1;
      if (ns > to) {
        fail(d[i].line, "CHECK-NEXT: '%s': no next line", d[i].text);
        return;
      }
      size_t ne = line_end(out, ns, to);
      if (!find(&d[i], out, ns, ne, &ms, &me)) {
        fail(d[i].line, "CHECK-NEXT: '%s' not found on the next line", d[i].text);
        show_context(out, ns, to);
        return;
      }
    } else if (!find(&d[i], out, pos, to, &ms, &me)) {
      fail(d[i].line, "CHECK: '%s' not found", d[i].text);
      show_context(out, pos, to);
      return;
    }
    pos = me;
    last_line_end = line_end(out, me, to);
    matched_any = true;
  }
}

/* Labels first, then the other directives between them. */
static void check_output(Case *c, const char *out, size_t len) {
  size_t pos = 0;
  int nl = 0;
  size_t lstart[256], lend[256];
  int lidx[256];
  for (int i = 0; i < c->nd && nl < 256; i++) {
    if (c->d[i].kind != D_LABEL) continue;
    size_t ms, me;
    if (!find(&c->d[i], out, pos, len, &ms, &me)) {
      fail(c->d[i].line, "CHECK-LABEL: '%s' not found", c->d[i].text);
      show_context(out, pos, len);
      return;
    }
    lstart[nl] = ms;
    lend[nl] = me;
    lidx[nl++] = i;
    pos = me;
  }
  /* block b runs from label b-1's end to label b's start */
  int start = 0;
  for (int b = 0; b <= nl; b++) {
    int stop = b < nl ? lidx[b] : c->nd;
    size_t from = b ? lend[b - 1] : 0, to = b < nl ? lstart[b] : len;
    check_block(c->d + start, stop - start, out, from, to, b > 0);
    start = stop + 1;
  }
}

/* ---- running ------------------------------------------------------------------ */

/* Split a RUN line into argv (single quotes group words). */
static int split(char *s, char **argv, int max) {
  int n = 0;
  while (*s && n < max - 1) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    char *w = s, *o = s;
    while (*s && *s != ' ' && *s != '\t') {
      if (*s == '\'') {
        s++;
        while (*s && *s != '\'') *o++ = *s++;
        if (*s) s++;
      } else {
        *o++ = *s++;
      }
    }
    if (*s) s++;
    *o = 0;
    argv[n++] = w;
  }
  argv[n] = NULL;
  return n;
}

/* Run one RUN line; append its output to *out. Returns false on a failure
 * (reported). */
static bool run_line(const char *nnc, const char *run, int line, const char *case_path, const char *tmpdir,
                     char **out, size_t *len) {
  /* %s -> the case file */
  size_t uses = 0;
  for (const char *s = run; (s = strstr(s, "%s")); s += 2) uses++;
  size_t cap = strlen(run) + uses * strlen(case_path) + 1;
  char *cmd = xrealloc(NULL, cap), *o = cmd;
  for (const char *s = run; *s;) {
    if (s[0] == '%' && s[1] == 's') {
      o += sprintf(o, "%s", case_path);
      s += 2;
    } else {
      *o++ = *s++;
    }
  }
  *o = 0;
  char *words[64];
  int n = split(cmd, words, 64);
  bool expect_fail = false, with_stderr = false;
  int k = 0;
  if (k < n && !strcmp(words[k], "not")) expect_fail = true, k++;
  if (k < n && !strcmp(words[k], "nnc")) k++;
  if (n > k && !strcmp(words[n - 1], "2>&1")) with_stderr = true, n--;
  char *argv[66];
  int an = 0;
  argv[an++] = (char *)nnc;
  for (int i = k; i < n; i++) argv[an++] = words[i];
  argv[an] = NULL;
  char so[1024], se[1024];
  snprintf(so, sizeof so, "%s/stdout", tmpdir);
  snprintf(se, sizeof se, "%s/stderr", tmpdir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, so, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, se, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  int rc = posix_spawn(&pid, nnc, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (verbose) {
    fprintf(stderr, "RUN (line %d):", line);
    for (int i = 0; i < an; i++) fprintf(stderr, " %s", argv[i]);
    fputc('\n', stderr);
  }
  free(cmd);
  if (rc) {
    fail(line, "cannot run %s", nnc);
    return false;
  }
  int st;
  waitpid(pid, &st, 0);
  size_t nso = 0, nse = 0;
  char *tso = read_all(so, &nso), *tse = read_all(se, &nse);
  bool ok = true;
  if (!WIFEXITED(st)) {
    fail(line, "nnc crashed (signal %d)", WTERMSIG(st));
    fprintf(stderr, "%s", tse ? tse : "");
    ok = false;
  } else if (expect_fail != (WEXITSTATUS(st) != 0)) {
    fail(line, "nnc exited with status %d, expected %s", WEXITSTATUS(st), expect_fail ? "a failure" : "success");
    fprintf(stderr, "%s", tse ? tse : "");
    ok = false;
  }
  size_t add = nso + (with_stderr ? nse : 0);
  *out = xrealloc(*out, *len + add + 1);
  memcpy(*out + *len, tso ? tso : "", nso);
  if (with_stderr) memcpy(*out + *len + nso, tse ? tse : "", nse);
  *len += add;
  (*out)[*len] = 0;
  free(tso);
  free(tse);
  return ok;
}

/* ---- parsing the test file -------------------------------------------------------- */

static void add_directive(Case *c, Kind k, const char *text, int line) {
  if (c->nd == c->capd) c->d = xrealloc(c->d, sizeof(Directive) * (size_t)(c->capd = c->capd ? 2 * c->capd : 16));
  while (*text == ' ' || *text == '\t') text++;
  size_t n = strlen(text);
  while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r')) n--;
  Directive *d = &c->d[c->nd];
  d->kind = k;
  d->text = strndup(text, n);
  d->line = line;
  if (!n) {
    fail(line, "empty directive");
    free(d->text);
    return;
  }
  if (compile_pattern(d)) c->nd++;
  else free(d->text);
}

/* Directives in one line of the case, if any. */
static void scan_line(Case *c, const char *l, int line) {
  static const struct { const char *tag; Kind k; } tags[] = {
      {"CHECK-NEXT:", D_NEXT}, {"CHECK-NOT:", D_NOT}, {"CHECK-LABEL:", D_LABEL}, {"CHECK:", D_CHECK}};
  const char *p = strstr(l, "//");
  if (!p) return;
  p += 2;
  while (*p == ' ') p++;
  if (!strncmp(p, "RUN:", 4)) {
    if (c->nruns == 8) {
      fail(line, "too many RUN lines");
      return;
    }
    c->run_line[c->nruns] = line;
    c->runs[c->nruns++] = strdup(p + 4);
    return;
  }
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
    if (!strncmp(p, tags[i].tag, strlen(tags[i].tag))) {
      add_directive(c, tags[i].k, p + strlen(tags[i].tag), line);
      return;
    }
  if (!strncmp(p, "CHECK", 5)) fail(line, "unknown directive '%.20s'", p);
}

int main(int argc, char **argv) {
  int ai = 1;
  if (ai < argc && !strcmp(argv[ai], "-v")) verbose = true, ai++;
  if (argc - ai != 2) {
    fprintf(stderr, "usage: filecheck [-v] NNC TEST.nn|TEST.ir\n");
    return 2;
  }
  const char *nnc = argv[ai];
  test_path = argv[ai + 1];
  size_t len;
  char *src = read_all(test_path, &len);
  if (!src) {
    perror(test_path);
    return 2;
  }
  const char *ext = strrchr(test_path, '.');
  if (!ext) ext = ".nn";
  char tmpdir[] = "/tmp/filecheck.XXXXXX";
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  /* split into cases */
  Case cases[256];
  int ncases = 0;
  memset(cases, 0, sizeof cases);
  int line = 1;
  size_t case_start = 0;
  cases[0].first_line = 1;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && src[i] != '\n') continue;
    size_t ls = i;
    while (ls > 0 && src[ls - 1] != '\n') ls--;
    char *l = strndup(src + ls, i - ls);
    bool sep = !strncmp(l, "// -----", 8);
    if (sep || i == len) {
      Case *c = &cases[ncases];
      size_t end = sep ? ls : len;
      c->text = strndup(src + case_start, end - case_start);
      if (++ncases == 256) {
        free(l);
        fail(line, "too many cases");
        break;
      }
      case_start = i + 1;
      cases[ncases].first_line = line + 1;
    } else {
      scan_line(&cases[ncases], l, line);
    }
    free(l);
    line++;
  }
  if (ncases && !cases[ncases - 1].nd && !cases[ncases - 1].nruns && strspn(cases[ncases - 1].text, " \n\t") == strlen(cases[ncases - 1].text))
    ncases--; /* an empty tail after the last separator */
  for (int ci = 0; ci < ncases; ci++) {
    Case *c = &cases[ci];
    Case *runs = c->nruns ? c : &cases[0];
    if (!runs->nruns) {
      fail(c->first_line, "case without RUN lines");
      continue;
    }
    if (!c->nd) {
      fail(c->first_line, "case without CHECK directives");
      continue;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/case%d%s", tmpdir, ci, ext);
    FILE *f = fopen(path, "w");
    if (!f) {
      perror(path);
      return 2;
    }
    fputs(c->text, f);
    fclose(f);
    char *out = NULL;
    size_t olen = 0;
    bool ok = true;
    for (int r = 0; r < runs->nruns; r++) ok &= run_line(nnc, runs->runs[r], runs->run_line[r], path, tmpdir, &out, &olen);
    if (verbose) fprintf(stderr, "---- output of the case at line %d ----\n%s----\n", c->first_line, out ? out : "");
    int before = failures;
    if (ok) check_output(c, out ? out : "", olen);
    if (failures > before) fprintf(stderr, "%s:%d: note: in the case starting here\n", test_path, c->first_line);
    free(out);
    unlink(path);
  }
  char p[1100];
  snprintf(p, sizeof p, "%s/stdout", tmpdir);
  unlink(p);
  snprintf(p, sizeof p, "%s/stderr", tmpdir);
  unlink(p);
  rmdir(tmpdir);
  for (int ci = 0; ci <= ncases && ci < 256; ci++) {
    for (int k = 0; k < cases[ci].nd; k++) {
      regfree(&cases[ci].d[k].re);
      free(cases[ci].d[k].text);
    }
    free(cases[ci].d);
    for (int r = 0; r < cases[ci].nruns; r++) free(cases[ci].runs[r]);
    free(cases[ci].text);
  }
  free(src);
  if (failures) fprintf(stderr, "%s: %d failure%s\n", test_path, failures, failures == 1 ? "" : "s");
  else printf("%s: %d case%s passed\n", test_path, ncases, ncases == 1 ? "" : "s");
  return failures ? 1 : 0;
}
