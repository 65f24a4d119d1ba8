/* parse.c — runs the flex scanner and the bison parser over one source. */
#include <string.h>

#include "ast.h"
#include "parse_internal.h"
#include "parser.h"
#include "lexer.h"

Program *parse_program(Arena *a, Arena *names, Diag *d, const char *src, size_t len) {
  LexState *ls = NEW(a, LexState);
  ls->a = a;
  ls->names = names;
  ls->d = d;
  ls->line = 1;
  ls->col = 1;
  Parser p = {.a = a, .d = d, .ls = ls, .prog = NEW(a, Program)};
  if (nn_yylex_init_extra(ls, &p.scanner)) die("cannot create the scanner");
  YY_BUFFER_STATE buf = nn_yy_scan_bytes(src, (int)len, p.scanner);
  int rc = nn_yyparse(&p);
  nn_yy_delete_buffer(buf, p.scanner);
  nn_yylex_destroy(p.scanner);
  if (rc != 0 && d->nerrors == 0)
    diag_error(d, loc_none(), "could not parse the file");
  return p.prog;
}
