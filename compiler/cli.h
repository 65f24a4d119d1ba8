/* cli.h — the flags the nnc commands share (nnc, nnc check, nnc eval,
 * nnc train, nnc FILE.ir), read by one function so that each means the
 * same, and is refused with the same message, wherever it is taken:
 *
 *   -D NAME=VALUE, -DNAME=VALUE   override a constant of the model
 *   -O0 .. -O3                    LLVM optimization level
 *   --color=auto|always|never     colour of diagnostics
 *   -fmax-errors=N                stop after N errors (0: no limit)
 *   --target=TRIPLE, -mcpu=CPU    the machine native code is made for
 *   --name=IDENT                  the prefix of a library's C names
 *   -ffast-math                   LLVM's fast-math flags on float code
 *
 * A command takes a flag by giving the field it goes to; a NULL field
 * leaves that flag to the command (which then calls it unknown, or, for
 * nnc train, passes it to the training program).
 *
 * How each command reads the rest: nnc eval and the training program take
 * GNU-style flags (--fn NAME or --fn=NAME) through one reader,
 * rt_flag_value (rt_train.h), which matches names exactly: a training
 * program refuses --epoch (no getopt_long abbreviations), and the resume
 * command it prints repeats the flags as given. nnc, nnc check, nnc train
 * and nnc FILE.ir take GCC-style flags (-fmax-errors=N, -mcpu=CPU, -O2,
 * -DNAME=V), which getopt_long would read as clusters of short options or
 * abbreviations of long ones, and nnc train hands every flag it does not
 * know, in order, to the training program: each loops over argv asking
 * cli_common first.
 */
#ifndef NNC_CLI_H
#define NNC_CLI_H
#include <stdbool.h>
#include <stddef.h>

#include "driver.h"

typedef struct CliCommon {
  Define *defs;       /* -D: up to MAX_DEFINES; names strndup'd, the caller frees them */
  int *ndefs;
  int *opt_level;     /* -O0..-O3 */
  DiagColor *color;   /* --color= */
  int *max_errors;    /* -fmax-errors= */
  const char **triple, **cpu, **name; /* --target=, -mcpu=, --name= (a C identifier) */
  bool *fast_math;    /* -ffast-math */
} CliCommon;

typedef enum CliResult {
  CLI_OTHER,  /* argv[*i] is none of c's flags */
  CLI_TAKEN,  /* stored (a separate -D value advanced *i) */
  CLI_BAD     /* a bad value: err holds the message, which names the flag */
} CliResult;

CliResult cli_common(const CliCommon *c, int argc, char **argv, int *i, char *err, size_t errn);

/* The EMIT_* bits (driver.h) of one --emit kind ("ir", "exe", "python"...),
 * or 0 for a name that is none: the one list of kinds, for nnc and for
 * nnc FILE.ir (which takes a part of them). */
unsigned cli_emit_kind(const char *name);

#endif
