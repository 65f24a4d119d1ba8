/* check_param.c — the checker's parameters: their types and initializers
 * (keyword arguments bound, fan-in and fan-out of the named schemes). Part
 * of the checker (check.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

/* ---- parameters --------------------------------------------------------- */

void param_fans(const Type *t, double *fan_in, double *fan_out) {
  if (t->rank == 2) {
    *fan_in = (double)t->dim[0];
    *fan_out = (double)t->dim[1];
  } else if (t->rank >= 3) {
    double rf = 1;
    for (int i = 2; i < t->rank; i++) rf *= (double)t->dim[i];
    *fan_in = (double)t->dim[1] * rf;
    *fan_out = (double)t->dim[0] * rf;
  } else {
    *fan_in = *fan_out = (double)type_numel(t);
  }
}

typedef struct InitDef {
  const char *name;
  const char *params;  /* names of optional keyword/positional parameters */
} InitDef;

static const InitDef init_defs[] = {
    {"zeros", ""}, {"ones", ""}, {"constant", "value"}, {"normal", "mean,std"},
    {"uniform", "low,high"}, {"trunc_normal", "mean,std"},
    {"glorot_uniform", "gain"}, {"glorot_normal", "gain"}, {"xavier_uniform", "gain"},
    {"xavier_normal", "gain"}, {"he_normal", "gain"}, {"he_uniform", "gain"},
    {"kaiming_normal", "gain"}, {"kaiming_uniform", "gain"},
};

/* Bind an initializer's (all-optional, numeric) arguments by name. */
static bool init_args(Checker *c, Expr *call, const char *params, double *vals, bool *given) {
  const char *names[4];
  int n = 0;
  char buf[64];
  snprintf(buf, sizeof buf, "%s", params);
  for (char *tok = strtok(buf, ","); tok && n < 4; tok = strtok(NULL, ",")) names[n++] = arena_strdup(c->a, tok);
  Expr *bound[4] = {0};
  bool ok = bind_args(c, call, "argument", names, n, NULL, bound);
  for (int k = 0; k < n; k++) {
    if (!bound[k]) continue;
    given[k] = true;
    if (!const_float(c, bound[k], "an initializer argument", &vals[k])) ok = false;
  }
  return ok;
}

static void check_param_init(Checker *c, ParamDecl *pd) {
  InitSpec *sp = &pd->spec;
  sp->kind = INIT_ZEROS;
  sp->how = "zeros()";
  Expr *e = pd->init;
  if (!e) return;
  if (e->kind != EX_CALL) {
    double v;
    if (const_float(c, e, "a parameter initializer", &v)) {
      sp->kind = INIT_CONST;
      sp->a = v;
      sp->how = arena_printf(c->a, "constant(%g)", v);
    }
    return;
  }
  const InitDef *def = NULL;
  for (size_t i = 0; i < sizeof init_defs / sizeof *init_defs; i++)
    if (!strcmp(init_defs[i].name, e->call.name)) def = &init_defs[i];
  if (!def) {
    const char *names[sizeof init_defs / sizeof *init_defs];
    for (size_t i = 0; i < sizeof init_defs / sizeof *init_defs; i++) names[i] = init_defs[i].name;
    const char *hint = diag_closest(e->call.name, names, (int)(sizeof names / sizeof *names));
    if (hint)
      diag_error(c->d, e->call.name_loc, "unknown initializer '%s'; did you mean '%s'?", e->call.name, hint);
    else
      diag_error(c->d, e->call.name_loc, "unknown initializer '%s' (try zeros, ones, normal, uniform, "
                 "glorot_uniform, he_normal...)", e->call.name);
    return;
  }
  double v[4] = {0};
  bool given[4] = {0};
  if (!init_args(c, e, def->params, v, given)) return;
  double fan_in, fan_out;
  param_fans(&pd->ty, &fan_in, &fan_out);
  double gain = given[0] ? v[0] : 1.0;
  const char *n = def->name;
  sp->how = arena_printf(c->a, "%s()", n);
  if (!strcmp(n, "zeros")) {
    sp->kind = INIT_ZEROS;
  } else if (!strcmp(n, "ones")) {
    sp->kind = INIT_ONES;
  } else if (!strcmp(n, "constant")) {
    sp->kind = INIT_CONST;
    sp->a = v[0];
  } else if (!strcmp(n, "normal") || !strcmp(n, "trunc_normal")) {
    sp->kind = n[0] == 'n' ? INIT_NORMAL : INIT_TRUNC_NORMAL;
    sp->a = given[0] ? v[0] : 0.0;
    sp->b = given[1] ? v[1] : (n[0] == 'n' ? 1.0 : 0.02);
    if (sp->b < 0) diag_error(c->d, e->loc, "the standard deviation must not be negative");
  } else if (!strcmp(n, "uniform")) {
    sp->kind = INIT_UNIFORM;
    sp->a = given[0] ? v[0] : 0.0;
    sp->b = given[1] ? v[1] : 1.0;
    if (sp->b < sp->a) diag_error(c->d, e->loc, "uniform(low, high) needs low <= high");
  } else {
    /* Glorot & Bengio: Var = 2 / (fan_in + fan_out); He et al.: Var = 2 /
     * fan_in (ReLU gain). Either as a uniform of that variance or a normal. */
    bool glorot = strstr(n, "glorot") || strstr(n, "xavier");
    double var = gain * gain * 2.0 / (glorot ? fan_in + fan_out : fan_in);
    if (strstr(n, "uniform")) {
      sp->kind = INIT_UNIFORM;
      sp->a = -sqrt(3.0 * var);
      sp->b = sqrt(3.0 * var);
    } else {
      sp->kind = INIT_NORMAL;
      sp->b = sqrt(var);
    }
  }
  if (strcmp(n, "zeros") && strcmp(n, "ones")) {
    if (sp->kind == INIT_UNIFORM)
      sp->how = arena_printf(c->a, "%s: uniform(%.4g, %.4g)", n, sp->a, sp->b);
    else if (sp->kind == INIT_CONST)
      sp->how = arena_printf(c->a, "constant(%g)", sp->a);
    else
      sp->how = arena_printf(c->a, "%s: %snormal(mean=%.4g, std=%.4g)", n, sp->kind == INIT_TRUNC_NORMAL ? "truncated " : "",
                             sp->a, sp->b);
  }
}

void check_params(Checker *c, Model *m) {
  for (int i = 0; i < m->params.n; i++) {
    ParamDecl *pd = m->params.v[i];
    pd->index = i;
    bool ok = resolve_type(c, pd->tyx, &pd->ty, TYPE_STATIC);
    if (ok && !dtype_is_float(pd->ty.dtype)) {
      diag_error(c->d, pd->tyx->loc, "parameters must be f32 or f64, not %s", dtype_name(pd->ty.dtype));
      ok = false;
    }
    if (ok) check_param_init(c, pd);
    Sym *prev = sym_lookup(c, pd->name);
    if (prev) {
      diag_error(c->d, pd->loc, "redefinition of '%s'", pd->name);
      diag_note(c->d, prev->loc, "the previous definition is here");
      continue;
    }
    FnDecl *fn = check_find_fn(c, pd->name);
    if (fn) { /* as bind_fns refuses for constants */
      diag_error(c->d, pd->loc, "parameter '%s' has the same name as a function", pd->name);
      diag_note(c->d, fn->loc, "the function is declared here");
    }
    Sym *s = sym_new(c, SYM_PARAM, pd->name, pd->loc);
    s->ty = pd->ty;
    s->bad = !ok;
    s->param = pd;
    pd->sym = s;
    sym_bind(c, s);
  }
}
