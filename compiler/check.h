/* check.h — the checker: names, types, constants and shapes.
 *
 * After check_program returns true, every expression of every function in
 * the program has a dtype and a static shape (Expr.ty), every name is
 * resolved (Expr.name.sym, Expr.call.bi / .fn), every constant is folded
 * and the train block is resolved into a TrainSpec. Errors are reported to
 * the Diag, as many as possible in one run. */
#ifndef NNC_CHECK_H
#define NNC_CHECK_H
#include "ast.h"

/* A -D NAME=VALUE override of a constant. */
typedef struct Define {
  const char *name;
  const char *value;
} Define;

bool check_program(Arena *a, Diag *d, Program *p, const Define *defs, int ndefs);

/* Builtins, in the order of builtins.def. */
typedef enum BuiltinId {
#define B(id, name, params, check, lower, op, rule) BI_##id,
#include "builtins.def"
#undef B
  BI_COUNT
} BuiltinId;

struct Builtin {
  BuiltinId id;
  const char *name;
  const char *params;   /* "x,w,b?,stride?" */
  const char *rule;     /* one-line shape rule for docs and messages */
};

const Builtin *builtin_find(const char *name);
const Builtin *builtin_get(BuiltinId id);

/* Fans of a parameter shape, the rule documented in docs/language.md. */
void param_fans(const Type *t, double *fan_in, double *fan_out);

#endif
