/* parse_internal.h — state shared by the lexer and the parser only. */
#ifndef NNC_PARSE_INTERNAL_H
#define NNC_PARSE_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "ast.h"

/* Deeper bracket nesting than this is refused; with MAX_EXPR_DEPTH (ast.h)
 * it bounds every recursion over the tree (checker, irgen). */
#define MAX_NESTING 200

typedef struct OpenBracket {
  Loc loc;
  char ch;                /* '(', '[' or '{' */
} OpenBracket;

typedef struct LexState {
  Arena *a;
  Arena *names;           /* identifiers and string literals (see parse_program) */
  Diag *d;
  int line, col;          /* position of the next byte */
  int depth;              /* open brackets */
  OpenBracket open[MAX_NESTING]; /* their positions */
  OpenBracket unclosed;   /* the innermost bracket a mismatched closer ended */
  Loc unclosed_by;        /* that closer (line 0: none yet) */
  Loc comment_start;
  bool fatal;             /* stop parsing (a limit was hit, error cap): the
                             parser then sees end of file */
} LexState;

const char *lex_string(LexState *ls, Loc loc, const char *s, size_t n);

#endif
