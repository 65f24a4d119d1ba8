/* check_deriv.c — the checker's rules for derivatives in expressions
 * (docs/language.md, "Derivatives"):
 *
 *   grad(F, wrt = [a, ...])(args)             the gradients, one per name
 *   value_and_grad(F, wrt = [a, ...])(args)   F's value, then the gradients
 *   jvp(F, wrt = [a, ...], tangents = [v, ...])(args)
 *                                             F's value, then its tangent
 *
 * F is a user function, or grad(G, wrt = [x]) of one name (a function
 * with G's arguments returning x's type), so derivatives nest. The names
 * are F's arguments, or the model's parameters when F is a model function;
 * wrt defaults to the first argument. The arguments are checked as in a
 * call of F (the call is also what the recursion check follows). An
 * application giving several values is bound by `let (a, b, ...) = ...`. */
#include <string.h>

#include "check_internal.h"

static const char *const deriv_names[] = {"grad", "value_and_grad", "jvp"};

int deriv_kind(const char *name) {
  for (int k = 0; k < 3; k++)
    if (name && !strcmp(name, deriv_names[k])) return k;
  return -1;
}

/* The names of wrt = (one name or a list of names). */
static bool resolve_wrt(Checker *c, Expr *call, Deriv *dv, Expr *w) {
  FnDecl *f = dv->fn;
  Expr *one[1] = {w};
  Expr **items = one;
  int n = 1;
  if (w && w->kind == EX_LIST) items = w->list.elems, n = w->list.n;
  if (!w) { /* the first argument */
    if (f->nargs == 0) {
      diag_error(c->d, call->loc, "'%s' has no argument to differentiate with respect to", f->name);
      return false;
    }
    dv->nwrt = 1;
    dv->wrt[0] = 0;
    dv->wrt_ty[0] = f->args[0].ty;
    goto types;
  }
  if (n == 0 || n > MAX_WRT) {
    diag_error(c->d, w->loc, "wrt names 1 to %d arguments or parameters", MAX_WRT);
    return false;
  }
  for (int i = 0; i < n; i++) {
    Expr *x = items[i];
    if (x->kind != EX_NAME) {
      diag_error(c->d, x->loc, "wrt lists argument or parameter names of '%s'", f->name);
      return false;
    }
    int idx = INT32_MIN;
    for (int k = 0; k < f->nargs; k++)
      if (!strcmp(f->args[k].name, x->name.id)) idx = k, dv->wrt_ty[i] = f->args[k].ty;
    if (idx == INT32_MIN && f->in_model && c->model)
      for (int k = 0; k < c->model->params.n; k++) {
        ParamDecl *pd = c->model->params.v[k];
        if (!strcmp(pd->name, x->name.id)) idx = -1 - k, dv->wrt_ty[i] = pd->ty;
      }
    if (idx == INT32_MIN) {
      diag_error(c->d, x->loc, "'%s' is not an argument%s of '%s'", x->name.id,
                 f->in_model ? " or a model parameter" : "", f->name);
      diag_note(c->d, f->loc, "'%s' is defined here", f->name);
      return false;
    }
    for (int k = 0; k < i; k++)
      if (dv->wrt[k] == idx) {
        diag_error(c->d, x->loc, "'%s' is named twice in wrt", x->name.id);
        return false;
      }
    dv->wrt[i] = idx;
    dv->nwrt = i + 1;
    if (!dtype_is_float(dv->wrt_ty[i].dtype)) {
      diag_error(c->d, x->loc, "cannot differentiate with respect to '%s': it is %s, and only floating-point "
                 "values have derivatives", x->name.id, tstr(&dv->wrt_ty[i]));
      return false;
    }
  }
  return true;
types:
  if (!dtype_is_float(dv->wrt_ty[0].dtype)) {
    diag_error(c->d, call->loc, "cannot differentiate with respect to '%s', the first argument of '%s': it is %s, "
               "and only floating-point values have derivatives (name others with wrt = [...])",
               f->args[0].name, f->name, tstr(&dv->wrt_ty[0]));
    return false;
  }
  return true;
}

static bool check_tangents(Checker *c, Expr *call, Deriv *dv, Expr *t) {
  if (!t) {
    diag_error(c->d, call->loc, "jvp needs the tangents: jvp(%s, wrt = [...], tangents = [...])", dv->fn->name);
    return false;
  }
  Expr *one[1] = {t};
  Expr **items = one;
  int n = 1;
  if (t->kind == EX_LIST) items = t->list.elems, n = t->list.n;
  if (n != dv->nwrt) {
    diag_error(c->d, t->loc, "jvp needs one tangent per wrt name: %d name%s, %d tangent%s", dv->nwrt,
               dv->nwrt == 1 ? "" : "s", n, n == 1 ? "" : "s");
    return false;
  }
  dv->tangents = NEW_ARRAY(c->a, Expr *, n + 1);
  bool ok = true;
  for (int i = 0; i < n; i++) {
    Expr *v = items[i];
    dv->tangents[i] = v;
    if (!check_tensor(c, v)) {
      ok = false;
      continue;
    }
    const Type *want = &dv->wrt_ty[i];
    bool fits = type_eq(&v->ty, want) || (v->weak && v->ty.rank == 0 && want->rank == 0 && v->ty.dtype != TY_BOOL);
    if (!fits) {
      diag_error(c->d, v->loc, "tangent %d must have the type of what it moves, %s, but this is %s", i + 1,
                 tstr(want), tstr(&v->ty));
      ok = false;
    }
  }
  return ok;
}

/* T = grad / value_and_grad / jvp (F, wrt = ..., tangents = ...). */
static bool check_transform(Checker *c, Expr *T, bool as_function) {
  int kind = deriv_kind(T->call.name);
  Deriv *dv = NEW(c->a, Deriv);
  dv->kind = (DerivKind)kind;
  T->call.deriv = dv;
  Expr *w = NULL, *tans = NULL;
  for (int i = 0; i < T->call.nargs; i++) {
    Arg *a = &T->call.args[i];
    if (!a->name && i == 0) {
      dv->of = a->value;
    } else if (a->name && !strcmp(a->name, "wrt") && !w) {
      w = a->value;
    } else if (a->name && !strcmp(a->name, "tangents") && kind == DV_JVP && !tans) {
      tans = a->value;
    } else {
      diag_error(c->d, a->name ? a->name_loc : a->value->loc, "%s takes a function, then wrt = [...]%s", T->call.name,
                 kind == DV_JVP ? " and tangents = [...]" : "");
      return false;
    }
  }
  Expr *of = dv->of;
  if (!of) {
    diag_error(c->d, T->loc, "%s needs the function to differentiate first: %s(f, wrt = [x])", T->call.name,
               T->call.name);
    return false;
  }
  if (of->kind == EX_NAME && check_find_fn(c, of->name.id)) {
    dv->fn = check_find_fn(c, of->name.id);
    if (!dv->fn->sig_ok) return false;
    dv->ret = dv->fn->ret;
  } else if (of->kind == EX_CALL && !of->call.callee && deriv_kind(of->call.name) == DV_GRAD) {
    if (!check_transform(c, of, true)) return false;
    dv->fn = of->call.deriv->fn;
    dv->ret = of->call.deriv->res[0];
  } else {
    diag_error(c->d, of->loc, "%s differentiates a function: a function's name, or grad(f, wrt = [x]) of one "
               "argument", T->call.name);
    return false;
  }
  if (!resolve_wrt(c, T, dv, w)) return false;
  const char *what = of->kind == EX_NAME ? of->name.id : "this gradient";
  if (kind != DV_JVP && (dv->ret.rank != 0 || !dtype_is_float(dv->ret.dtype))) {
    diag_error(c->d, of->loc, "%s needs a function with a floating-point scalar result, but %s%s%s returns %s "
               "(use jvp for the derivative of a tensor result)", T->call.name, of->kind == EX_NAME ? "'" : "", what,
               of->kind == EX_NAME ? "'" : "", tstr(&dv->ret));
    if (of->kind == EX_NAME && dv->fn->ret_tyx) diag_note(c->d, dv->fn->ret_tyx->loc, "the result type is declared here");
    return false;
  }
  if (kind == DV_JVP && !dtype_is_float(dv->ret.dtype)) {
    diag_error(c->d, of->loc, "jvp needs a function with a floating-point result, but this one returns %s",
               tstr(&dv->ret));
    return false;
  }
  if (kind == DV_JVP && !check_tangents(c, T, dv, tans)) return false;
  if (as_function && (kind != DV_GRAD || dv->nwrt != 1)) {
    diag_error(c->d, T->loc, "only grad(f, wrt = [x]) of one name can be differentiated again");
    return false;
  }
  dv->nres = 0;
  if (kind != DV_GRAD) dv->res[dv->nres++] = dv->ret;
  if (kind == DV_JVP) dv->res[dv->nres++] = dv->ret;
  else
    for (int i = 0; i < dv->nwrt; i++) dv->res[dv->nres++] = dv->wrt_ty[i];
  return true;
}

bool check_deriv_apply(Checker *c, Expr *e) {
  Expr *T = e->call.callee;
  if (T->kind != EX_CALL || T->call.callee || deriv_kind(T->call.name) < 0 || check_find_fn(c, T->call.name)) {
    diag_error(c->d, T->loc, "only grad(...), value_and_grad(...) and jvp(...) give functions to apply to arguments");
    return false;
  }
  c->prog->derivs = true;
  if (!check_transform(c, T, false)) return false;
  Deriv *dv = T->call.deriv;
  /* the arguments, as in a call of F's function (and an edge of the call graph) */
  Expr *call = NEW(c->a, Expr);
  *call = *e;
  call->call.callee = NULL;
  call->call.name = dv->fn->name;
  call->call.name_loc = dv->of->loc;
  if (!check_user_call(c, call, dv->fn)) return false;
  e->ty = dv->res[0];
  if (dv->nres > 1 && c->tuple_init != e) {
    diag_error(c->d, e->loc, "%s(...)(...) gives %d values: bind them with let (a, b%s) = ...", T->call.name, dv->nres,
               dv->nres > 2 ? ", ..." : "");
    return false;
  }
  return true;
}

bool check_deriv_unapplied(Checker *c, Expr *e) {
  diag_error(c->d, e->loc, "%s(...) is a function: apply it to the arguments, as in %s(f, wrt = [x])(x, y)",
             e->call.name, e->call.name);
  return false;
}
