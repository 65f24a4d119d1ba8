/* irtool.h — nnc on IR text (irtool.c): `nnc [options] FILE.ir` parses,
 * verifies and re-prints a module, optionally running passes or the AD on
 * it. Golden tests of passes and of the AD are written this way. */
#ifndef NNC_IRTOOL_H
#define NNC_IRTOOL_H
#include <stdbool.h>

/* Does the command line name an input file ending in ".ir"? */
bool irtool_wants(int argc, char **argv);

/* The whole command (argv as main's). Returns the exit status. */
int irtool_main(int argc, char **argv);

#endif
