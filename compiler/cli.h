/* cli.h — the flags the nnc commands share (nnc, nnc check, nnc eval,
 * nnc train, nnc FILE.ir), read by one function so that each means the
 * same, and is refused with the same message, wherever it is taken:
 *
 *   -D NAME=VALUE, -DNAME=VALUE   override a constant of the model
 *   -O0 .. -O3                    LLVM optimization level
 *   --color=auto|always|never     colour of diagnostics
 *   -fmax-errors=N                stop after N errors (0: no limit)
 *
 * A command takes a flag by giving the field it goes to; a NULL field
 * leaves that flag to the command (which then calls it unknown, or, for
 * nnc train, passes it to the training program). */
#ifndef NNC_CLI_H
#define NNC_CLI_H
#include <stddef.h>

#include "driver.h"

typedef struct CliCommon {
  Define *defs;       /* -D: up to MAX_DEFINES; names strndup'd, the caller frees them */
  int *ndefs;
  int *opt_level;     /* -O0..-O3 */
  DiagColor *color;   /* --color= */
  int *max_errors;    /* -fmax-errors= */
} CliCommon;

typedef enum CliResult {
  CLI_OTHER,  /* argv[*i] is none of c's flags */
  CLI_TAKEN,  /* stored (a separate -D value advanced *i) */
  CLI_BAD     /* a bad value: err holds the message, which names the flag */
} CliResult;

CliResult cli_common(const CliCommon *c, int argc, char **argv, int *i, char *err, size_t errn);

#endif
