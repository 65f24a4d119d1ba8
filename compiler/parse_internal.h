/* parse_internal.h — state shared by the lexer and the parser only. */
#ifndef NNC_PARSE_INTERNAL_H
#define NNC_PARSE_INTERNAL_H
#include <stdbool.h>
#include <stdint.h>

#include "ast.h"

/* Deeper bracket nesting than this is refused, which also bounds every
 * recursion over the tree (checker, irgen). */
#define MAX_NESTING 200

typedef struct LexState {
  Arena *a;
  Diag *d;
  int line, col;          /* position of the next byte */
  int depth;              /* open brackets */
  struct { Loc loc; char ch; } open[MAX_NESTING]; /* their positions */
  Loc comment_start;
  bool fatal;             /* stop parsing (nesting, error cap) */
} LexState;

const char *lex_string(LexState *ls, Loc loc, const char *s, size_t n);

#endif
