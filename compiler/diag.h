/* diag.h — user-facing diagnostics, printed the way clang prints them:
 *
 *   mlp.nn:12:9: error: matmul needs the inner dimensions to agree: f32[128,784] @ f32[256,10]
 *      12 |   let h = x @ W2
 *         |           ^~~~~~
 *
 * Errors are counted and capped (after `max_errors` the rest are dropped and
 * one line says so); a note attaches to the error or warning before it and
 * is dropped with it. Colour only when the stream is a terminal and NO_COLOR
 * is unset, unless forced by --color. Internal bugs never come here: they
 * use die() (arena.h). */
#ifndef NNC_DIAG_H
#define NNC_DIAG_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A span of source text. Lines and columns are 1-based byte positions; the
 * end is inclusive (ecol is the last byte's column). line == 0 means
 * "no location" (e.g. an error about the command line or the whole file). */
typedef struct Loc {
  int line, col;
  int eline, ecol;
} Loc;

typedef enum DiagColor { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER } DiagColor;

typedef struct Diag {
  const char *path;   /* file name as the user gave it */
  const char *src;    /* the whole source text (may contain NULs) */
  size_t len;
  FILE *out;          /* stderr, or a memory stream in tests */
  bool color;         /* resolved colour decision */
  int max_errors;     /* cap; 0 = unlimited */
  int nerrors, nwarnings;
  bool capped;        /* the cap was reached: later errors are dropped */
  bool last_dropped;  /* the last error was dropped, so drop its notes */
  int *line_start;    /* byte offset of each line's start (lazy) */
  int nlines;
} Diag;

void diag_init(Diag *d, const char *path, const char *src, size_t len,
               FILE *out, DiagColor color);
void diag_free(Diag *d);

void diag_error(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_verror(Diag *d, Loc loc, const char *fmt, va_list ap);

/* True once the error cap is reached: callers may stop early. */
static inline bool diag_full(const Diag *d) { return d->capped; }

/* Helpers for building locations. */
Loc loc_span(Loc a, Loc b); /* from the start of a to the end of b */
static inline Loc loc_none(void) { Loc l = {0, 0, 0, 0}; return l; }

/* The "did you mean" helper: the candidate closest to `name` by edit
 * distance, or NULL when none is close enough. */
const char *diag_closest(const char *name, const char *const *cands, int n);

#endif
