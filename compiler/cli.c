/* cli.c — the shared flags of the nnc commands (see cli.h). Each parser
 * asks here first for every argument, then handles its own flags. */
#include "cli.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CliResult bad(char *err, size_t errn, const char *fmt, const char *arg) {
  snprintf(err, errn, fmt, arg);
  return CLI_BAD;
}

static CliResult define(const CliCommon *c, int argc, char **argv, int *i, char *err, size_t errn) {
  const char *a = argv[*i];
  const char *def = a[2] ? a + 2 : (*i + 1 < argc ? argv[++*i] : NULL);
  if (!def) return bad(err, errn, "-D needs NAME=VALUE%s", "");
  const char *eq = strchr(def, '=');
  if (!eq || eq == def) return bad(err, errn, "-D needs NAME=VALUE, not '%s'", def);
  if (*c->ndefs == MAX_DEFINES) return bad(err, errn, "too many -D options%s", "");
  char *name = strndup(def, (size_t)(eq - def));
  if (!name) return bad(err, errn, "out of memory%s", "");
  c->defs[(*c->ndefs)++] = (Define){name, eq + 1};
  return CLI_TAKEN;
}

static bool is_identifier(const char *s) {
  for (const char *q = s; *q; q++)
    if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' || (q > s && *q >= '0' && *q <= '9')))
      return false;
  return *s != 0;
}

CliResult cli_common(const CliCommon *c, int argc, char **argv, int *i, char *err, size_t errn) {
  const char *a = argv[*i];
  if (c->defs && !strncmp(a, "-D", 2)) return define(c, argc, argv, i, err, errn);
  if (c->opt_level && a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
    *c->opt_level = a[2] - '0';
    return CLI_TAKEN;
  }
  if (c->color && !strncmp(a, "--color=", 8)) {
    const char *w = a + 8;
    if (!strcmp(w, "auto")) *c->color = COLOR_AUTO;
    else if (!strcmp(w, "always")) *c->color = COLOR_ALWAYS;
    else if (!strcmp(w, "never")) *c->color = COLOR_NEVER;
    else return bad(err, errn, "--color takes auto, always or never, not '%s'", w);
    return CLI_TAKEN;
  }
  if (c->max_errors && !strncmp(a, "-fmax-errors=", 13)) {
    char *end;
    long n = strtol(a + 13, &end, 10);
    if (*end || n < 0 || n > INT_MAX) return bad(err, errn, "bad value in '%s'", a);
    *c->max_errors = (int)n;
    return CLI_TAKEN;
  }
  if (c->fast_math && !strcmp(a, "-ffast-math")) {
    *c->fast_math = true;
    return CLI_TAKEN;
  }
  static const struct {
    const char *prefix;
    size_t off; /* of the field in CliCommon */
  } texts[] = {{"--target=", offsetof(CliCommon, triple)},
               {"-mcpu=", offsetof(CliCommon, cpu)},
               {"--name=", offsetof(CliCommon, name)}};
  for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
    const char **field = *(const char **const *)((const char *)c + texts[k].off);
    size_t n = strlen(texts[k].prefix);
    if (!field || strncmp(a, texts[k].prefix, n)) continue;
    const char *v = a + n;
    if (!*v) return bad(err, errn, "%s needs a value", a);
    if (field == c->name && !is_identifier(v)) return bad(err, errn, "--name must be a C identifier, not '%s'", v);
    *field = v;
    return CLI_TAKEN;
  }
  return CLI_OTHER;
}

unsigned cli_emit_kind(const char *name) {
  static const struct {
    const char *name;
    unsigned bits;
  } kinds[] = {{"ast", EMIT_AST},         {"ir", EMIT_IR},   {"grad-ir", EMIT_GRAD_IR}, {"tape", EMIT_TAPE},
               {"llvm-ir", EMIT_LLVM_IR}, {"asm", EMIT_ASM}, {"obj", EMIT_OBJ},         {"lib", EMIT_LIB},
               {"exe", EMIT_EXE},         {"python", EMIT_PYTHON | EMIT_LIB},           {"dot", EMIT_DOT}};
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
    if (!strcmp(kinds[k].name, name)) return kinds[k].bits;
  return 0;
}
