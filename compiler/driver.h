/* driver.h — options of one nnc invocation and the pipeline that serves
 * them (driver.c). main.c only parses the command line. */
#ifndef NNC_DRIVER_H
#define NNC_DRIVER_H
#include "check.h"
#include "diag.h"

typedef enum Command {
  CMD_DEFAULT,      /* compile: produce what --emit asks for */
  CMD_CHECK,        /* check and print a summary */
  CMD_SYNTAX_ONLY   /* check, print nothing on success */
} Command;

enum {
  EMIT_AST = 1 << 0,      /* the checked tree */
  EMIT_IR = 1 << 1,       /* the IR of every function, optimized */
  EMIT_GRAD_IR = 1 << 2,  /* the gradient functions */
  EMIT_TAPE = 1 << 3,     /* what the gradients save for the backward pass */
  EMIT_LLVM_IR = 1 << 4,  /* NAME.ll */
  EMIT_ASM = 1 << 5,      /* NAME.s */
  EMIT_OBJ = 1 << 6,      /* NAME.o */
  EMIT_LIB = 1 << 7,      /* libNAME.so + NAME.h */
  EMIT_EXE = 1 << 8,      /* a training program */
  EMIT_PYTHON = 1 << 9,   /* NAME.py beside the library (set with EMIT_LIB) */
  EMIT_DOT = 1 << 10,     /* the IR as a Graphviz graph (emit_dot.c) */
  EMIT_TEXT = EMIT_AST | EMIT_IR | EMIT_GRAD_IR | EMIT_TAPE | EMIT_DOT,
  EMIT_NATIVE = EMIT_LLVM_IR | EMIT_ASM | EMIT_OBJ | EMIT_LIB | EMIT_EXE | EMIT_PYTHON,
};

#define MAX_DEFINES 64

typedef struct Options {
  Command cmd;
  unsigned emit;            /* EMIT_* bits */
  const char *input;        /* the .nn file */
  const char *output;       /* -o, or NULL */
  Define defs[MAX_DEFINES]; /* -D */
  int ndefs;
  int max_errors;           /* -fmax-errors */
  DiagColor color;
  bool verify;              /* -d verify: verify the IR after every pass */
  const char *dump;         /* -d dump=PASS: print the IR after PASS */
  bool stats;               /* --stats */
  bool no_opt;              /* -d no-opt: skip the IR passes */
  int opt_level;            /* -O0..-O3 (default 2) */
  const char *triple;       /* --target */
  const char *cpu;          /* -mcpu */
  const char *name;         /* --name: API prefix */
  bool fast_math;           /* -ffast-math */
  size_t max_tape_bytes;    /* --max-tape-bytes (0: none) */
  const char *dot_fn;       /* --dot-fn: the one function --emit=dot draws, or NULL (all) */
} Options;

/* The whole front end on one file: read, parse, check. On success *prog is
 * the checked program and the return value is 0; otherwise 1 (errors were
 * printed). The arenas and diag are the caller's: the tree and the
 * checker's tables go in `tree`, the names in `a` (see parse_program);
 * `tree` may be a. */
int driver_front(const Options *o, Arena *a, Arena *tree, Diag *d, char **src_out, Program **prog);

struct Compiled;
/* The native outputs o->emit asks for (EMIT_NATIVE bits) of the compiled
 * module c, whose source text src[0..len) is hashed into the build info.
 * p is the checked program, or NULL for a module read from IR text (then
 * EMIT_PYTHON, which quotes the .nn source, is not asked). `release`, when
 * not NULL, is the arena of c, freed as soon as the LLVM module is made (c
 * is not read after); the caller must not use it again. Returns the exit
 * status (errors go to d). */
int driver_emit_native(const Options *o, Diag *d, const struct Compiled *c, const Program *p, const char *src,
                       size_t len, Arena *release);

/* Run the command; returns the exit status. */
int driver_run(const Options *o);

/* Reads a whole source file (at most `limit` bytes; pipes too) through the
 * runtime's one reader, rt_file_read_stream. Returns NULL and sets a short
 * message in *why on failure. The buffer is NUL-terminated; free it with
 * rt_free. */
char *read_file(const char *path, size_t limit, size_t *len, const char **why);

#endif
