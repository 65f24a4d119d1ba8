/* check.c — the checker: name resolution, constant folding, types and
 * full shape inference; see check.h.
 *
 * Order of work (check_program):
 *   1. bind constants (top level, then the model's) and functions, apply
 *      -D overrides, fold the constants (cycles are errors);
 *   2. check function signatures;
 *   3. check parameter types and initializers;
 *   4. check every function body;
 *   5. refuse recursion (functions are inlined into a static graph);
 *   6. resolve the train block;
 *   7. refuse programs too large or too deep once calls are inlined.
 * This file holds the names, constants, types as written, the recursion
 * and inlining limits and the order above; expressions are typed in
 * check_expr.c, statements and function bodies in check_stmt.c,
 * parameters in check_param.c, builtin calls in builtins.c, derivatives in
 * check_deriv.c, the train block in train.c (check_internal.h). Names live
 * in one hash table with shadow chains (strmap.h); leaving a scope pops
 * the bindings made in it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_internal.h"

/* ---- symbol table ------------------------------------------------------ */

struct Entry {
  const char *name;
  Sym *top;        /* innermost binding, NULL when none is live */
  FnDecl *fn;      /* the function of this name (its first definition), or NULL */
};

/* The entry of `name` in the name table (strmap.h), made when `create`. */
static Entry *entry_for(Checker *c, const char *name, bool create) {
  if (!create) return sm_get(&c->names, name);
  void **slot = sm_slot(&c->names, name);
  if (!*slot) {
    Entry *e = NEW(c->a, Entry);
    e->name = name;
    *slot = e;
  }
  return *slot;
}

Sym *sym_lookup(Checker *c, const char *name) {
  Entry *e = entry_for(c, name, false);
  return e ? e->top : NULL;
}

Sym *sym_new(Checker *c, SymKind k, const char *name, Loc loc) {
  Sym *s = NEW(c->a, Sym);
  s->kind = k;
  s->name = name;
  s->loc = loc;
  s->id = c->next_id++;
  return s;
}

void sym_bind(Checker *c, Sym *s) {
  Entry *e = entry_for(c, s->name, true);
  s->shadowed = e->top;
  e->top = s;
  vec_push(c->a, &c->scope_log, s);
}

int scope_mark(Checker *c) { return c->scope_log.n; }

/* Pop bindings made since `mark`, warning about unused locals in the order
 * they were declared. */
void scope_pop(Checker *c, int mark) {
  for (int i = mark; i < c->scope_log.n; i++) {
    Sym *s = c->scope_log.v[i];
    if ((s->kind == SYM_LET || s->kind == SYM_VAR) && !s->used && s->name[0] != '_')
      diag_warning(c->d, s->loc, "unused variable '%s'", s->name);
  }
  while (c->scope_log.n > mark) {
    Sym *s = c->scope_log.v[--c->scope_log.n];
    entry_for(c, s->name, false)->top = s->shadowed;
  }
}

const char *sym_kind_name(SymKind k) {
  switch (k) {
  case SYM_CONST: return "constant";
  case SYM_PARAM: return "parameter";
  case SYM_ARG: return "argument";
  case SYM_LET: return "'let' binding";
  case SYM_VAR: return "variable";
  case SYM_LOOP: return "loop variable";
  }
  return "name";
}

/* Names that could be meant, for "did you mean" hints. */
const char *suggest_name(Checker *c, const char *name, bool fns) {
  if (diag_full(c->d)) return NULL; /* the message would be dropped anyway */
  PtrVec cands = {0};
  for (int i = 0; i < c->names.cap; i++) {
    Entry *e = c->names.vals[i];
    if (c->names.keys[i] && e && e->top) vec_push(c->a, &cands, (void *)e->name);
  }
  if (fns) {
    for (int i = 0; i < c->prog->fns.n; i++)
      vec_push(c->a, &cands, (void *)((FnDecl *)c->prog->fns.v[i])->name);
    if (c->model)
      for (int i = 0; i < c->model->fns.n; i++)
        vec_push(c->a, &cands, (void *)((FnDecl *)c->model->fns.v[i])->name);
    for (int i = 0; i < BI_COUNT; i++) vec_push(c->a, &cands, (void *)builtin_get(i)->name);
  }
  return diag_closest(name, (const char *const *)cands.v, cands.n);
}

/* ---- functions table --------------------------------------------------- */

/* The function named `name` (bind_fns registers them), or NULL. */
FnDecl *check_find_fn(Checker *c, const char *name) {
  Entry *e = entry_for(c, name, false);
  return e ? e->fn : NULL;
}


/* ---- arguments of calls to builtins, initializers and train settings ---- */

bool bind_args(Checker *c, const Expr *call, const char *what, const char *const *names, int n,
               const char *rule, Expr **out) {
  const char *fname = call->call.name;
  bool ok = true;
  int pos = 0;
  for (int i = 0; i < call->call.nargs; i++) {
    const Arg *g = &call->call.args[i];
    int k = -1;
    if (g->name) {
      for (int j = 0; j < n; j++)
        if (!strcmp(names[j], g->name)) k = j;
      if (k < 0) {
        const char *hint = diag_closest(g->name, names, n);
        diag_error(c->d, g->name_loc, "%s() has no %s named '%s'%s%s%s", fname, what, g->name,
                   hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
        ok = false;
        continue;
      }
    } else {
      k = pos++;
      if (k >= n) {
        if (n == 0) diag_error(c->d, g->value->loc, "%s() takes no arguments", fname);
        else diag_error(c->d, g->value->loc, "too many arguments: %s() takes at most %d", fname, n);
        if (rule) diag_note(c->d, call->call.name_loc, "%s", rule);
        return false; /* the later positional ones are too many as well */
      }
    }
    if (out[k]) {
      diag_error(c->d, g->name ? g->name_loc : g->value->loc, "%s '%s' of %s() is given twice", what, names[k],
                 fname);
      ok = false;
      continue;
    }
    out[k] = g->value;
  }
  return ok;
}

/* ---- constants --------------------------------------------------------- */


bool check_const(Checker *c, Expr *e, const char *what) {
  FnDecl *saved = c->fn;
  bool ok;
  if (e->kind == EX_LIST) {
    ok = true;
    e->cv.kind = CV_LIST;
    e->cv.n = e->list.n;
    e->cv.elems = NEW_ARRAY(c->a, ConstVal, e->list.n + 1);
    for (int i = 0; i < e->list.n; i++) {
      if (!check_const(c, e->list.elems[i], what)) {
        ok = false;
        continue;
      }
      e->cv.elems[i] = e->list.elems[i]->cv;
    }
    if (!ok) e->cv.kind = CV_NONE;
    return ok;
  }
  if (e->kind == EX_STRING) {
    e->cv.kind = CV_STRING;
    e->cv.s = e->lit.s;
    return true;
  }
  ok = check_tensor(c, e);
  c->fn = saved;
  if (!ok) return false;
  if (e->cv.kind == CV_NONE) {
    ConstDecl *k = dim_named(c, e);
    if (k) /* its value is the call's size: known only at run time */
      diag_error(c->d, e->loc, "%s must be a constant, but '%s' is sized at run time (dim %s <= %lld)", what,
                 k->name, k->name, (long long)k->val.i);
    else
      diag_error(c->d, e->loc, "%s must be a constant", what);
    return false;
  }
  return true;
}

/* The one check of shape arithmetic: is the product of n non-negative
 * factors (dimensions, a padded extent, a window) at most MAX_NUMEL? Every
 * factor is at most MAX_NUMEL too, so a caller may add two of them (a
 * dimension and its paddings) before multiplying: 3 * 2^40 cannot
 * overflow, and nothing past the checker can (plan.c, the kernels and the
 * interpreter compute with sizes it has bounded). The product goes to
 * *out when out is not NULL. */
bool size_fits(const int64_t *f, int n, int64_t *out) {
  int64_t p = 1;
  for (int i = 0; i < n; i++) {
    if (f[i] < 0 || f[i] > MAX_NUMEL) return false;
    if (__builtin_mul_overflow(p, f[i], &p) || p > MAX_NUMEL) return false;
  }
  if (out) *out = p;
  return true;
}

bool const_int(Checker *c, Expr *e, const char *what, int64_t *out) {
  if (!check_const(c, e, what)) return false;
  if (e->cv.kind == CV_INT) {
    *out = e->cv.i;
    return true;
  }
  if (e->cv.kind == CV_BOOL) { /* f32[true] is a mistake, not a 1 */
    diag_error(c->d, e->loc, "%s must be an integer, but this is %s (a bool)", what, e->cv.i ? "true" : "false");
    return false;
  }
  if (e->cv.kind == CV_FLOAT && e->cv.f == floor(e->cv.f) && fabs(e->cv.f) < 9e15) {
    *out = (int64_t)e->cv.f;
    return true;
  }
  if (e->cv.kind == CV_FLOAT)
    diag_error(c->d, e->loc, "%s must be an integer, but this is %g", what, e->cv.f);
  else
    diag_error(c->d, e->loc, "%s must be an integer", what);
  return false;
}

bool const_float(Checker *c, Expr *e, const char *what, double *out) {
  if (!check_const(c, e, what)) return false;
  if (!cv_is_num(&e->cv)) {
    diag_error(c->d, e->loc, "%s must be a number", what);
    return false;
  }
  *out = cv_num(&e->cv);
  return true;
}

bool const_int_list(Checker *c, Expr *e, const char *what, int64_t *out, int *n, int cap) {
  if (e->kind != EX_LIST) {
    int64_t v;
    if (!const_int(c, e, what, &v)) return false;
    out[0] = v;
    *n = 1;
    return true;
  }
  if (e->list.n > cap) {
    diag_error(c->d, e->loc, "%s has %d entries; at most %d are allowed", what, e->list.n, cap);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < e->list.n; i++)
    if (!const_int(c, e->list.elems[i], what, &out[i])) ok = false;
  *n = e->list.n;
  return ok;
}

bool norm_axis(Checker *c, Loc loc, int64_t axis, int rank, const Type *t, int64_t *out) {
  if (axis < -rank || axis >= rank) {
    if (rank == 0)
      diag_error(c->d, loc, "axis %lld is out of range: %s is a scalar", (long long)axis, tstr(t));
    else
      diag_error(c->d, loc, "axis %lld is out of range for %s (rank %d: axes %d..%d)",
                 (long long)axis, tstr(t), rank, -rank, rank - 1);
    return false;
  }
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

/* `dim N <= B`: B is an integer in 1..2^31-1 (the size is passed as an i32). */
static void check_dim_bound(Checker *c, ConstDecl *k) {
  bool is_int = k->val.kind == CV_INT || (k->val.kind == CV_FLOAT && k->val.f == floor(k->val.f) && fabs(k->val.f) < 9e15);
  int64_t b = k->val.kind == CV_INT ? k->val.i : is_int ? (int64_t)k->val.f : 0;
  if (!is_int || b < 1 || b > INT32_MAX) {
    diag_error(c->d, k->overridden ? loc_none() : k->value->loc,
               "the bound of the run-time dimension '%s' must be an integer in 1..%d", k->name, INT32_MAX);
    b = 1;
  }
  k->val.kind = CV_INT;
  k->val.i = b;
}

void resolve_const(Checker *c, ConstDecl *k) {
  if (k->state == 2) return;
  if (k->state == 1) {
    diag_error(c->d, k->loc, "constant '%s' is defined in terms of itself", k->name);
    k->val.kind = CV_INT;
    k->val.i = 1;
    k->state = 2;
    return;
  }
  k->state = 1;
  if (!k->overridden) {
    if (check_const(c, k->value, "the value of a constant")) {
      if (k->value->cv.kind == CV_LIST || k->value->cv.kind == CV_STRING) {
        diag_error(c->d, k->value->loc, "a constant must be a number or a boolean");
        k->val.kind = CV_INT;
        k->val.i = 1;
      } else {
        k->val = k->value->cv;
      }
    } else {
      k->val.kind = CV_INT;
      k->val.i = 1; /* keep going with a harmless value */
    }
  }
  if (k->is_dim) check_dim_bound(c, k);
  k->state = 2;
}

static bool parse_define_value(const char *s, ConstVal *v) {
  char *end;
  errno = 0;
  if (!strcmp(s, "true") || !strcmp(s, "false")) {
    v->kind = CV_BOOL;
    v->i = s[0] == 't';
    return true;
  }
  /* decimal only, as documented: strtod would also take 0x10, 1p4, " 7" */
  if (strspn(s, "0123456789+-.eE") != strlen(s)) return false;
  long long i = strtoll(s, &end, 10);
  if (*s && !*end && errno != ERANGE) {
    v->kind = CV_INT;
    v->i = i;
    return true;
  }
  errno = 0;
  double f = strtod(s, &end);
  if (*s && !*end && errno != ERANGE && isfinite(f)) {
    v->kind = CV_FLOAT;
    v->f = f;
    return true;
  }
  return false;
}

static void bind_const(Checker *c, ConstDecl *k) {
  Sym *prev = sym_lookup(c, k->name);
  if (prev) {
    diag_error(c->d, k->loc, "redefinition of '%s'", k->name);
    diag_note(c->d, prev->loc, "the previous definition is here");
    return;
  }
  Sym *s = sym_new(c, SYM_CONST, k->name, k->loc);
  s->cdecl = k;
  s->weak = true;
  sym_bind(c, s);
}

/* ---- types as written ---------------------------------------------------- */

/* The run-time dimension `e` names (a bare name declared by `dim`), or NULL. */
ConstDecl *dim_named(Checker *c, const Expr *e) {
  if (e->kind != EX_NAME) return NULL;
  Sym *s = sym_lookup(c, e->name.id);
  if (!s || s->kind != SYM_CONST || !s->cdecl->is_dim) return NULL;
  s->used = true;
  resolve_const(c, s->cdecl);
  return s->cdecl;
}

/* Does f take an argument sized by the run-time dimension? Only such a
 * function knows its size, so only it may make values of that size. */
bool fn_takes_dyn(const FnDecl *f) {
  for (int i = 0; f && i < f->nargs; i++)
    if (type_is_dyn(&f->args[i].ty)) return true;
  return false;
}

bool dyn_allowed_here(Checker *c, const Expr *e, const ConstDecl *k) {
  if (c->fn && fn_takes_dyn(c->fn)) return true;
  if (c->fn)
    diag_error(c->d, e->loc, "'%s' is sized at run time, but '%s' takes no argument sized by it, so its size is unknown here",
               k->name, c->fn->name);
  else
    diag_error(c->d, e->loc, "'%s' is sized at run time; a static size is needed here", k->name);
  return false;
}

/* One entry of a type or a shape list: a constant integer, or the name of
 * the run-time dimension (*dyn set to its declaration, *v to its bound). */
bool const_dim(Checker *c, Expr *e, const char *what, int64_t *v, ConstDecl **dyn) {
  ConstDecl *k = dim_named(c, e);
  *dyn = k;
  if (k) {
    *v = k->val.i;
    return true;
  }
  return const_int(c, e, what, v);
}

/* `where` says whether a run-time dimension may appear: TYPE_STATIC
 * (parameters), TYPE_ARG (a signature: the first axis only), TYPE_BODY
 * (inside a function that takes one). */
bool resolve_type(Checker *c, TypeExpr *tx, Type *out, TypeWhere where) {
  *out = type_scalar(tx->dtype);
  if (tx->rank > MAX_RANK) {
    diag_error(c->d, tx->loc, "a tensor has at most %d dimensions; this type has %d", MAX_RANK, tx->rank);
    return false;
  }
  out->rank = tx->rank;
  bool ok = true;
  int64_t numel = 1;
  for (int i = 0; i < tx->rank; i++) {
    int64_t v;
    ConstDecl *k;
    if (!const_dim(c, tx->dims[i], "a dimension", &v, &k)) {
      ok = false;
      out->dim[i] = 1;
      continue;
    }
    if (k) {
      if (where == TYPE_STATIC) {
        diag_error(c->d, tx->dims[i]->loc, "a parameter's shape must be static, but '%s' is sized at run time (dim %s <= %lld)",
                   k->name, k->name, (long long)k->val.i);
        ok = false;
      } else if (where == TYPE_ARG && i != 0) {
        diag_error(c->d, tx->dims[i]->loc, "the run-time dimension '%s' must be the first axis of an argument or result",
                   k->name);
        ok = false;
      } else if (where == TYPE_BODY && !dyn_allowed_here(c, tx->dims[i], k)) {
        ok = false;
      }
      if (ok) {
        out->dyn |= 1u << i;
        out->dyn_name = k->name;
      }
    }
    if (v <= 0) {
      diag_error(c->d, tx->dims[i]->loc, "a dimension must be positive, but this one is %lld", (long long)v);
      ok = false;
      v = 1;
    }
    out->dim[i] = v;
    int64_t f[2] = {numel, v};
    if (!size_fits(f, 2, &numel)) {
      if (ok) diag_error(c->d, tx->loc, "this tensor type is too large (more than 2^40 elements)");
      ok = false;
      numel = 1;
    }
  }
  return ok;
}


/* Recursion: functions are inlined, so a call cycle can never be compiled.
 * Depth-first search over the recorded calls (color 0 white, 1 on the
 * path, 2 done), with an explicit stack: a generated file may chain
 * thousands of functions. */
typedef struct CallFrame {
  FnDecl *f;
  int next;        /* index of the next call of f to follow */
} CallFrame;

static bool find_cycle(Checker *c, FnDecl *root, CallFrame *stack) {
  int sp = 0;
  stack[sp++] = (CallFrame){root, 0};
  root->color = 1;
  while (sp > 0) {
    CallFrame *fr = &stack[sp - 1];
    if (fr->next == fr->f->calls.n) {
      fr->f->color = 2;
      sp--;
      continue;
    }
    Expr *call = fr->f->calls.v[fr->next++];
    FnDecl *g = call->call.fn;
    if (g->color == 1) {
      diag_error(c->d, call->call.name_loc, "recursive call of '%s': recursion is not allowed "
                 "because calls are inlined into a static graph", g->name);
      if (g != fr->f) diag_note(c->d, g->loc, "'%s' is defined here", g->name);
      while (sp > 0) stack[--sp].f->color = 2;
      return true;
    }
    if (g->color == 0) {
      g->color = 1;
      stack[sp++] = (CallFrame){g, 0}; /* each function is on the path at most once */
    }
  }
  return false;
}

static void check_recursion(Checker *c, PtrVec *fns) {
  int total = c->prog->fns.n + (c->model ? c->model->fns.n : 0);
  CallFrame *stack = NEW_ARRAY(c->a, CallFrame, total + 1);
  for (int i = 0; i < fns->n; i++) {
    FnDecl *f = fns->v[i];
    if (f->color == 0 && find_cycle(c, f, stack)) f->ok = false;
  }
}

/* ---- inlining ------------------------------------------------------------ */

/* irgen inlines every call, so what it walks is a function's body with
 * each call replaced by the callee's: the loops and expressions a call
 * nests (its C stack) and the expressions it generates are counted like
 * those of a file, against MAX_EXPR_DEPTH and MAX_EXPRS. A chain of 5,000
 * functions each calling the previous, or a short file where each calls
 * the previous twice (2^N inlined bodies), gets a located error here.
 * Post-order over the call graph, which check_recursion found acyclic,
 * each function once and with an explicit stack. */
static void inline_cost(Checker *c, FnDecl *f) {
  int64_t size = f->size;
  int height = f->height;
  for (int i = 0; i < f->calls.n; i++) {
    Expr *call = f->calls.v[i];
    FnDecl *g = call->call.fn;
    f->dropout |= g->dropout;
    if (f->inl_bad) continue;
    if (g->inl_bad) {
      f->inl_bad = true; /* reported in g */
      continue;
    }
    int h = call->call.nest + g->inl_height;
    if (h > MAX_EXPR_DEPTH) {
      diag_error(c->d, call->call.name_loc, "calls nested too deeply: inlining '%s' here nests loops and "
                 "expressions %d levels deep (the limit is %d, counting the bodies of the functions called)",
                 g->name, h, MAX_EXPR_DEPTH);
      diag_note(c->d, g->loc, "'%s' is defined here", g->name);
      f->inl_bad = true;
      continue;
    }
    if (h > height) height = h;
    size += g->inl_size;
    if (size > MAX_EXPRS) {
      diag_error(c->d, call->call.name_loc, "'%s' is too large once its calls are inlined: with this call of "
                 "'%s' (%lld expressions), it has more than %d expressions", f->name, g->name,
                 (long long)g->inl_size, MAX_EXPRS);
      diag_note(c->d, g->loc, "'%s' is defined here", g->name);
      f->inl_bad = true;
    }
  }
  f->inl_height = height;
  f->inl_size = size;
  f->inl_done = true;
}

static void inline_costs(Checker *c, FnDecl *root, CallFrame *stack) {
  if (root->inl_done) return;
  int sp = 0;
  stack[sp++] = (CallFrame){root, 0};
  while (sp > 0) {
    CallFrame *fr = &stack[sp - 1];
    if (fr->next == fr->f->calls.n) {
      inline_cost(c, fr->f);
      sp--;
      continue;
    }
    Expr *call = fr->f->calls.v[fr->next++];
    FnDecl *g = call->call.fn;
    if (!g->inl_done) stack[sp++] = (CallFrame){g, 0}; /* acyclic: g is not on the stack */
  }
}

/* Every model function becomes an IR function of its own (and the loss a
 * second one when it uses dropout): their inlined sizes add up. Runs on a
 * program without errors (so the call graph is acyclic). */
static void check_inlining(Checker *c) {
  int total = c->prog->fns.n + (c->model ? c->model->fns.n : 0);
  CallFrame *stack = NEW_ARRAY(c->a, CallFrame, total + 1);
  for (int i = 0; c->model && i < c->model->fns.n; i++) inline_costs(c, c->model->fns.v[i], stack);
  for (int i = 0; i < c->prog->fns.n; i++) inline_costs(c, c->prog->fns.v[i], stack);
  if (!c->model || c->d->nerrors) return;
  const FnDecl *loss = c->model->train ? c->model->train->loss : NULL;
  int64_t sum = loss && loss->dropout ? loss->inl_size : 0;
  for (int i = 0; i < c->model->fns.n; i++) {
    FnDecl *f = c->model->fns.v[i];
    sum += f->inl_size;
    if (sum > MAX_EXPRS) {
      diag_error(c->d, f->loc, "the model is too large once calls are inlined: with '%s', its functions "
                 "have more than %d expressions", f->name, MAX_EXPRS);
      return;
    }
  }
}

/* ---- the train block ------------------------------------------------------ */


/* ---- the program ------------------------------------------------------- */

static void bind_fns(Checker *c, PtrVec *fns) {
  for (int i = 0; i < fns->n; i++) {
    FnDecl *f = fns->v[i];
    Entry *e = entry_for(c, f->name, true);
    if (e->fn) {
      diag_error(c->d, f->loc, "redefinition of function '%s'", f->name);
      diag_note(c->d, e->fn->loc, "the previous definition is here");
      f->state = 2;
      continue;
    }
    e->fn = f;
    if (builtin_find(f->name)) {
      diag_error(c->d, f->loc, "'%s' is a builtin function and cannot be redefined", f->name);
      f->state = 2;
      continue;
    }
    Sym *s = sym_lookup(c, f->name);
    if (s) {
      diag_error(c->d, f->loc, "function '%s' has the same name as a %s", f->name, sym_kind_name(s->kind));
      diag_note(c->d, s->loc, "the %s is declared here", sym_kind_name(s->kind));
    }
  }
}

/* A model has at most one run-time dimension: the generated API passes
 * one size per call. */
static void check_one_dim(Checker *c, Program *p) {
  ConstDecl *first = NULL;
  PtrVec *lists[2] = {&p->consts, c->model ? &c->model->consts : NULL};
  for (int l = 0; l < 2; l++)
    for (int i = 0; lists[l] && i < lists[l]->n; i++) {
      ConstDecl *k = lists[l]->v[i];
      if (!k->is_dim) continue;
      if (!first) {
        first = k;
        continue;
      }
      diag_error(c->d, k->loc, "a model has at most one run-time dimension; '%s' is a second one", k->name);
      diag_note(c->d, first->loc, "'%s' is declared here", first->name);
    }
}

bool check_program(Arena *a, Diag *d, Program *p, const Define *defs, int ndefs) {
  Checker c = {.a = a, .d = d, .prog = p, .defs = defs, .ndefs = ndefs};
  sm_init(&c.names, a);
  if (p->models.n == 0) {
    diag_error(d, loc_none(), "no model in this file: write 'model NAME { ... }'");
  } else {
    if (p->models.n > 1) {
      Model *m2 = p->models.v[1];
      diag_error(d, m2->loc, "a file holds one model; this is a second one");
      diag_note(d, ((Model *)p->models.v[0])->loc, "the first model is here");
    }
    c.model = p->model = p->models.v[0];
  }
  /* 1. constants */
  for (int i = 0; i < p->consts.n; i++) bind_const(&c, p->consts.v[i]);
  if (c.model)
    for (int i = 0; i < c.model->consts.n; i++) bind_const(&c, c.model->consts.v[i]);
  bind_fns(&c, &p->fns); /* before folding: a constant must not call one */
  if (c.model) bind_fns(&c, &c.model->fns);
  for (int i = 0; i < ndefs; i++) {
    Sym *s = sym_lookup(&c, defs[i].name);
    if (!s || s->kind != SYM_CONST) {
      diag_error(d, loc_none(), "-D %s=%s: there is no constant named '%s' to override", defs[i].name,
                 defs[i].value, defs[i].name);
      continue;
    }
    ConstVal v = {0};
    if (!parse_define_value(defs[i].value, &v)) {
      diag_error(d, loc_none(), "-D %s=%s: the value must be a decimal number or true/false", defs[i].name, defs[i].value);
      continue;
    }
    s->cdecl->val = v;
    s->cdecl->overridden = true;
    s->cdecl->state = 2;
    if (s->cdecl->is_dim) check_dim_bound(&c, s->cdecl); /* -D N=64 sets the bound */
  }
  check_one_dim(&c, p);
  for (int i = 0; i < p->consts.n; i++) resolve_const(&c, p->consts.v[i]);
  if (c.model)
    for (int i = 0; i < c.model->consts.n; i++) resolve_const(&c, c.model->consts.v[i]);
  /* 2. function signatures */
  for (int i = 0; i < p->fns.n; i++) check_signature(&c, p->fns.v[i]);
  if (c.model)
    for (int i = 0; i < c.model->fns.n; i++) check_signature(&c, c.model->fns.v[i]);
  /* 3. parameters */
  if (c.model) check_params(&c, c.model);
  /* 4. bodies */
  for (int i = 0; i < p->fns.n && !diag_full(d); i++) {
    FnDecl *f = p->fns.v[i];
    if (f->state != 2) check_fn_body(&c, f);
  }
  if (c.model)
    for (int i = 0; i < c.model->fns.n && !diag_full(d); i++) {
      FnDecl *f = c.model->fns.v[i];
      if (f->state != 2) check_fn_body(&c, f);
    }
  /* 5. recursion */
  check_recursion(&c, &p->fns);
  if (c.model) check_recursion(&c, &c.model->fns);

  /* 6. train block */
  if (c.model && c.model->train && !diag_full(d)) check_train(&c, c.model);
  if (d->nerrors == 0) check_inlining(&c);
  p->nsyms = c.next_id;
  return d->nerrors == 0;
}
