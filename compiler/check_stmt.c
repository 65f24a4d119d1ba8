/* check_stmt.c — the checker's statements and function bodies: let,
 * assignment, indexed assignment, for loops, return; each binding's scope. Part of the
 * checker (check.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

/* ---- statements -------------------------------------------------------- */

typedef struct FnState {
  bool returned;
  Stmt *ret;
  int loop_depth;
} FnState;

/* Does value `v` fit a slot of type `want` (weak scalars adapt)? */
static bool fits(const Expr *v, const Type *want) {
  if (type_eq(&v->ty, want)) return true;
  if (!v->weak) return false;
  if (v->ty.rank != 0 || !weak_adapts(v->ty.dtype, want->dtype)) return false;
  return want->rank == 0;
}

static void check_stmts(Checker *c, Stmt *s, FnState *fs);

/* let (a, b, ...) = T(...)(...): one name per value of the derivative. */
static void check_let_tuple(Checker *c, Stmt *s) {
  Expr *init = s->let.init;
  int n = s->let.nnames;
  c->tuple_init = init;
  bool ok = check_tensor(c, init);
  c->tuple_init = NULL;
  Deriv *dv = init->kind == EX_CALL && init->call.callee ? init->call.callee->call.deriv : NULL;
  if (ok && (!dv || dv->nres != n)) {
    int got = dv ? dv->nres : 1;
    diag_error(c->d, init->loc, "%d name%s bound, but this gives %d value%s", n, n == 1 ? "" : "s", got,
               got == 1 ? "" : "s");
    ok = false;
  }
  s->let.syms = NEW_ARRAY(c->a, Sym *, n + 1);
  for (int i = 0; i < n; i++) {
    const char *name = s->let.names[i];
    Sym *prev = sym_lookup(c, name);
    if (prev) {
      diag_error(c->d, s->let.name_locs[i], prev->kind == SYM_CONST || prev->kind == SYM_PARAM
                 ? "'%s' would hide the %s of the same name" : "redefinition of '%s' (a %s)", name,
                 sym_kind_name(prev->kind));
      diag_note(c->d, prev->loc, "it is declared here");
    }
    Sym *sym = sym_new(c, SYM_LET, name, s->let.name_locs[i]);
    sym->ty = ok ? dv->res[i] : type_scalar(TY_F32);
    if (!ok) sym->used = sym->bad = true;
    s->let.syms[i] = sym;
    sym_bind(c, sym);
  }
  s->let.sym = s->let.syms[0];
}

static void check_let(Checker *c, Stmt *s) {
  if (s->let.nnames) {
    check_let_tuple(c, s);
    return;
  }
  bool ok = check_tensor(c, s->let.init);
  Type ty = s->let.init->ty;
  if (s->let.tyx) {
    Type want;
    if (resolve_type(c, s->let.tyx, &want, TYPE_BODY)) {
      if (ok && !fits(s->let.init, &want)) {
        diag_error(c->d, s->let.init->loc, "'%s' is declared %s, but the value is %s",
                   s->let.name, tstr(&want), tstr(&ty));
      }
      ty = want;
    }
  }
  Sym *prev = sym_lookup(c, s->let.name);
  if (prev && prev->kind != SYM_CONST && prev->kind != SYM_PARAM) {
    diag_error(c->d, s->let.name_loc, "redefinition of '%s'", s->let.name);
    diag_note(c->d, prev->loc, "the previous %s '%s' is here", sym_kind_name(prev->kind), prev->name);
  } else if (prev) {
    diag_error(c->d, s->let.name_loc, "'%s' would hide the %s of the same name", s->let.name,
               sym_kind_name(prev->kind));
    diag_note(c->d, prev->loc, "the %s is declared here", sym_kind_name(prev->kind));
  }
  Sym *sym = sym_new(c, s->kind == ST_LET ? SYM_LET : SYM_VAR, s->let.name, s->let.name_loc);
  sym->ty = ty;
  if (s->let.init->weak && !s->let.tyx && s->kind == ST_VAR) {
    /* a var starting from a literal is a real f32/i32 scalar */
    sym->weak = false;
  } else {
    sym->weak = s->let.init->weak && !s->let.tyx;
  }
  if (!ok) sym->used = sym->bad = true; /* no cascade of errors or warnings */
  s->let.sym = sym;
  sym_bind(c, sym);
}

/* `v[...] = value` updates part of a var: sugar for building the new tensor
 * and rebinding v. The value broadcasts to the selected region. */
static void check_index_assign(Checker *c, Stmt *s) {
  Expr *t = s->assign.target;
  Expr *base = t->index.base;
  bool okv = check_tensor(c, s->assign.value);
  if (base->kind != EX_NAME) {
    diag_error(c->d, t->loc, "only one level of indexing can be assigned: v[i, j] = value");
    return;
  }
  Sym *sym = sym_lookup(c, base->name.id);
  if (sym && sym->kind != SYM_VAR) {
    diag_error(c->d, base->loc, "cannot assign to part of %s '%s'", sym_kind_name(sym->kind), sym->name);
    if (sym->kind == SYM_LET)
      diag_note(c->d, sym->loc, "'%s' is declared with 'let' here; use 'var' to make it assignable", sym->name);
    else
      diag_note(c->d, sym->loc, "'%s' is declared here", sym->name);
    return;
  }
  if (!check_tensor(c, t) || !okv) return;
  Expr *v = s->assign.value;
  Type region = t->ty, out;
  if (s->assign.op != '=') {
    Expr cur = *t;
    cur.weak = false;
    cur.cv.kind = CV_NONE;
    if (!binary_type(c, s->assign.op_loc, "update", &cur, v, s->assign.op != '/', false, &out)) return;
  } else {
    bool mix = v->weak ? weak_adapts(v->ty.dtype, region.dtype) : v->ty.dtype == region.dtype;
    if (!mix) {
      diag_error(c->d, v->loc, "cannot store %s into %s, a part of '%s' (%s)", tstr(&v->ty), tstr(&region),
                 sym->name, tstr(&sym->ty));
      return;
    }
    out = region;
    if (!broadcasts_to(&v->ty, &region)) out.rank = -1;
  }
  if (out.rank < 0 || !shape_eq(&out, &region)) {
    diag_error(c->d, v->loc, "cannot store %s into %s, a part of '%s' (%s)", tstr(&v->ty), tstr(&region),
               sym->name, tstr(&sym->ty));
  }
}

static void check_assign(Checker *c, Stmt *s) {
  Expr *t = s->assign.target;
  if (t->kind == EX_INDEX) {
    check_index_assign(c, s);
    return;
  }
  Sym *sym = sym_lookup(c, t->name.id);
  bool okv = check_tensor(c, s->assign.value);
  if (!sym) {
    const char *hint = suggest_name(c, t->name.id, false);
    if (hint)
      diag_error(c->d, t->loc, "unknown name '%s'; did you mean '%s'?", t->name.id, hint);
    else
      diag_error(c->d, t->loc, "unknown name '%s'", t->name.id);
    return;
  }
  t->name.sym = sym;
  t->ty = sym->ty;
  if (sym->kind != SYM_VAR) {
    diag_error(c->d, t->loc, "cannot assign to %s '%s'", sym_kind_name(sym->kind), sym->name);
    if (sym->kind == SYM_LET)
      diag_note(c->d, sym->loc, "'%s' is declared with 'let' here; use 'var' to make it assignable", sym->name);
    else
      diag_note(c->d, sym->loc, "'%s' is declared here", sym->name);
    return;
  }
  if (!okv) return;
  Expr *v = s->assign.value;
  if (s->assign.op != '=') {
    /* h op= v means h = h op v: the result must keep h's type */
    Type out;
    Expr cur = *t;
    cur.weak = false;
    cur.cv.kind = CV_NONE;
    const char *verb = s->assign.op == '+' ? "add" : s->assign.op == '-' ? "subtract"
                     : s->assign.op == '*' ? "multiply" : "divide";
    if (!binary_type(c, s->assign.op_loc, verb, &cur, v, s->assign.op != '/', false, &out)) return;
    if (!shape_eq(&out, &sym->ty)) {
      diag_error(c->d, v->loc, "'%s %c= ...' would change the shape of '%s' from %s to %s", sym->name,
                 s->assign.op, sym->name, tstr(&sym->ty), tstr(&out));
      diag_note(c->d, sym->loc, "'%s' is declared here", sym->name);
    }
    return;
  }
  if (!fits(v, &sym->ty)) {
    diag_error(c->d, v->loc, "cannot assign %s to '%s', which is %s", tstr(&v->ty), sym->name, tstr(&sym->ty));
    diag_note(c->d, sym->loc, "'%s' is declared here; a variable keeps its type", sym->name);
  }
}

static void check_for(Checker *c, Stmt *s, FnState *fs) {
  int64_t lo = 0, hi = 0;
  bool ok = const_int(c, s->loop.lo, "a loop bound", &lo);
  ok = const_int(c, s->loop.hi, "a loop bound", &hi) && ok;
  if (ok && hi < lo) {
    diag_error(c->d, loc_span(s->loop.lo->loc, s->loop.hi->loc), "the loop range %lld..%lld is reversed",
               (long long)lo, (long long)hi);
    ok = false;
  }
  if (ok && (uint64_t)hi - (uint64_t)lo > 100000000u) { /* hi >= lo: exact, no overflow */
    diag_error(c->d, loc_span(s->loop.lo->loc, s->loop.hi->loc), "the loop runs %llu times; the limit is 10^8",
               (unsigned long long)((uint64_t)hi - (uint64_t)lo));
    ok = false;
  }
  if (ok && hi == lo)
    diag_warning(c->d, loc_span(s->loop.lo->loc, s->loop.hi->loc), "this loop never runs (%lld..%lld is empty)",
                 (long long)lo, (long long)hi);
  if (!ok) { /* go on with one iteration, for the body's messages */
    lo = 0;
    hi = 1;
  }
  s->loop.lo_v = lo;
  s->loop.hi_v = hi;
  int mark = scope_mark(c);
  Sym *prev = sym_lookup(c, s->loop.var);
  if (prev && prev->kind != SYM_CONST && prev->kind != SYM_PARAM) {
    diag_error(c->d, s->loop.var_loc, "redefinition of '%s'", s->loop.var);
    diag_note(c->d, prev->loc, "the previous %s '%s' is here", sym_kind_name(prev->kind), prev->name);
  }
  Sym *v = sym_new(c, SYM_LOOP, s->loop.var, s->loop.var_loc);
  v->ty = type_scalar(TY_I32);
  v->lo = lo;
  v->hi = hi - 1;
  s->loop.sym = v;
  sym_bind(c, v);
  fs->loop_depth++;
  c->loops++;
  check_stmts(c, s->loop.body, fs);
  c->loops--;
  fs->loop_depth--;
  scope_pop(c, mark);
}

static void check_stmts(Checker *c, Stmt *s, FnState *fs) {
  for (; s; s = s->next) {
    if (diag_full(c->d)) return;
    if (fs->returned) {
      diag_error(c->d, s->loc, "code after 'return' never runs");
      fs->returned = false; /* report once */
      fs->ret = NULL;
    }
    switch (s->kind) {
    case ST_LET:
    case ST_VAR:
      check_let(c, s);
      break;
    case ST_ASSIGN:
      check_assign(c, s);
      break;
    case ST_FOR:
      check_for(c, s, fs);
      break;
    case ST_RETURN:
      if (fs->loop_depth) {
        diag_error(c->d, s->loc, "'return' inside a loop is not allowed: loops run a fixed number of times");
        check_tensor(c, s->ret.value);
        break;
      }
      if (check_tensor(c, s->ret.value) && !fits(s->ret.value, &c->fn->ret)) {
        diag_error(c->d, s->ret.value->loc, "'%s' returns %s, but this value is %s", c->fn->name,
                   tstr(&c->fn->ret), tstr(&s->ret.value->ty));
        if (c->fn->ret_tyx) diag_note(c->d, c->fn->ret_tyx->loc, "the result type is declared here");
      }
      fs->returned = true;
      fs->ret = s;
      break;
    case ST_EXPR:
      if (s->expr.e->kind == EX_NAME && !sym_lookup(c, s->expr.e->name.id)) {
        static const char *const kw[] = {"return", "let", "var", "for"};
        const char *hint = diag_closest(s->expr.e->name.id, kw, 4);
        if (hint) {
          diag_error(c->d, s->expr.e->loc, "unknown name '%s'; did you mean '%s'?", s->expr.e->name.id, hint);
          if (s->next && s->next->kind == ST_EXPR) s = s->next; /* its operand, misparsed */
          if (!strcmp(hint, "return")) fs->ret = s; /* do not also complain of a missing return */
          break;
        }
      }
      if (check_tensor(c, s->expr.e))
        diag_error(c->d, s->loc, "the value of this expression is not used (tensors are values: "
                   "bind it with 'let' or return it)");
      break;
    }
  }
}

/* ---- functions --------------------------------------------------------- */

void check_signature(Checker *c, FnDecl *f) {
  f->sig_ok = true;
  for (int i = 0; i < f->nargs; i++) {
    if (!resolve_type(c, f->args[i].tyx, &f->args[i].ty, TYPE_ARG)) f->sig_ok = false;
  }
  if (f->ret_tyx && !resolve_type(c, f->ret_tyx, &f->ret, TYPE_ARG)) f->sig_ok = false;
  if (f->sig_ok && type_is_dyn(&f->ret) && !fn_takes_dyn(f)) {
    diag_error(c->d, f->ret_tyx->loc, "'%s' returns a value sized at run time (%s) but takes no argument sized by it",
               f->name, tstr(&f->ret));
    f->sig_ok = false;
  }
}

void check_fn_body(Checker *c, FnDecl *f) {
  c->fn = f;
  int mark = scope_mark(c);
  for (int i = 0; i < f->nargs; i++) {
    FnArg *a = &f->args[i];
    Sym *prev = sym_lookup(c, a->name);
    if (prev && prev->kind == SYM_ARG) { /* bound just above: found by hash, not by a quadratic scan */
      diag_error(c->d, a->loc, "two arguments of '%s' are named '%s'", f->name, a->name);
      diag_note(c->d, prev->loc, "the first one is here");
    } else if (prev && (prev->kind == SYM_CONST || prev->kind == SYM_PARAM) &&
               (f->in_model || prev->kind == SYM_CONST)) {
      diag_error(c->d, a->loc, "argument '%s' would hide the %s of the same name", a->name,
                 sym_kind_name(prev->kind));
      diag_note(c->d, prev->loc, "the %s is declared here", sym_kind_name(prev->kind));
    }
    Sym *s = sym_new(c, SYM_ARG, a->name, a->loc);
    s->ty = a->ty;
    s->bad = !f->sig_ok;
    s->index = i;
    s->used = true;
    a->sym = s;
    sym_bind(c, s);
  }
  FnState fs = {0};
  int errs = c->d->nerrors;
  check_stmts(c, f->body, &fs);
  if (!fs.ret && !diag_full(c->d)) {
    diag_error(c->d, f->body_end, "function '%s' ends without returning a value", f->name);
    diag_note(c->d, f->loc, "'%s' is declared to return %s", f->name, tstr(&f->ret));
  }
  scope_pop(c, mark);
  f->ok = c->d->nerrors == errs;
  c->fn = NULL;
}
