/* irtool.h — nnc on IR text (irtool.c): `nnc [options] FILE.ir` parses,
 * verifies and re-prints a module, optionally running passes or the AD on
 * it. Golden tests of passes and of the AD are written this way. */
#ifndef NNC_IRTOOL_H
#define NNC_IRTOOL_H
#include <stdbool.h>

/* Does the command line name an input file ending in ".ir"? */
bool irtool_wants(int argc, char **argv);

#include "diag.h"
#include "ir.h"

/* Read, parse and verify the IR text at path: the module, or NULL after
 * located errors through d, which this initializes (the caller frees it,
 * and *src with rt_free). nnc train FILE.ir reads its module this way. */
Module *irtool_read(Arena *a, Diag *d, const char *path, DiagColor color, char **src, size_t *len);

/* The whole command (argv as main's). Returns the exit status. */
int irtool_main(int argc, char **argv);

#endif
