/* train.c — checks the `train { ... }` block and resolves it into a
 * TrainSpec: which function to minimize, the optimizer and its settings,
 * the learning-rate schedule, epochs, clipping, seed, and the data sources,
 * whose shapes must fit the loss function's arguments.
 *
 *   train {
 *     minimize = loss                 // a model function returning a float scalar
 *     predict = forward               // optional: scores for accuracy
 *     generate = forward              // optional: logits for sampling text
 *     optimizer = sgd(lr = 0.05, momentum = 0.9, nesterov = false, weight_decay = 0)
 *               | adam(lr, beta1, beta2, eps, weight_decay) | adamw(...)
 *     schedule = constant() | step(every = 2, gamma = 0.1) | cosine(warmup = 100, min_lr = 0)
 *     epochs = 5   clip_grad_norm = 1.0   seed = 42
 *     data = idx(images, labels, scale = 1/255) | npy(x, y, scale) | csv(path, label = -1, scale)
 *          | text(path, split = 0.1)
 *     test = ... (same forms)
 *   }
 */
#include <math.h>
#include <string.h>

#include "check_internal.h"

/* One setting of a call like sgd(lr = 0.1): name, kind, and where it goes. */
typedef enum { K_NUM, K_INT, K_BOOL, K_STR } SetKind;
typedef struct Setting {
  const char *name;
  SetKind kind;
  void *dst;        /* double*, int64_t*, bool*, const char** */
  bool required;
} Setting;

static bool bind_settings(Checker *c, Expr *call, Setting *set, int n) {
  const char *names[16] = {0};
  Expr *bound[16] = {0};
  for (int j = 0; j < n; j++) names[j] = set[j].name;
  bool ok = bind_args(c, call, "setting", names, n, NULL, bound), given[16] = {0};
  for (int k = 0; k < n; k++) {
    Expr *v = bound[k];
    if (!v) continue;
    given[k] = true;
    switch (set[k].kind) {
    case K_NUM:
      if (!const_float(c, v, set[k].name, set[k].dst)) ok = false;
      break;
    case K_INT:
      if (!const_int(c, v, set[k].name, set[k].dst)) ok = false;
      break;
    case K_BOOL:
      if (!check_const(c, v, set[k].name)) ok = false;
      else if (v->cv.kind != CV_BOOL) {
        diag_error(c->d, v->loc, "'%s' must be true or false", set[k].name);
        ok = false;
      } else {
        *(bool *)set[k].dst = v->cv.i != 0;
      }
      break;
    case K_STR:
      if (v->kind != EX_STRING) {
        diag_error(c->d, v->loc, "'%s' must be a string (a file path in quotes)", set[k].name);
        ok = false;
      } else {
        *(const char **)set[k].dst = v->lit.s;
      }
      break;
    }
  }
  for (int j = 0; j < n && ok; j++)
    if (set[j].required && !given[j]) {
      diag_error(c->d, call->loc, "%s() needs '%s'", call->call.name, set[j].name);
      ok = false;
    }
  return ok;
}

static FnDecl *fn_named(Checker *c, Model *m, Expr *v, const char *key) {
  if (v->kind != EX_NAME) {
    diag_error(c->d, v->loc, "'%s' must name a function of the model", key);
    return NULL;
  }
  for (int i = 0; i < m->fns.n; i++) {
    FnDecl *f = m->fns.v[i];
    if (!strcmp(f->name, v->name.id)) return f;
  }
  const char *cands[64];
  int n = 0;
  for (int i = 0; i < m->fns.n && n < 64; i++) cands[n++] = ((FnDecl *)m->fns.v[i])->name;
  const char *hint = diag_closest(v->name.id, cands, n);
  diag_error(c->d, v->loc, "'%s' = %s: the model has no function '%s'%s%s%s", key, v->name.id, v->name.id,
             hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
  return NULL;
}

static bool check_optimizer(Checker *c, Expr *v, OptSpec *o) {
  if (v->kind != EX_CALL) {
    diag_error(c->d, v->loc, "optimizer must be sgd(...), adam(...) or adamw(...)");
    return false;
  }
  const char *n = v->call.name;
  if (!strcmp(n, "sgd")) {
    spec_opt_defaults(o, OPT_SGD);
    Setting s[] = {{"lr", K_NUM, &o->lr, false}, {"momentum", K_NUM, &o->momentum, false},
                   {"nesterov", K_BOOL, &o->nesterov, false}, {"weight_decay", K_NUM, &o->weight_decay, false}};
    if (!bind_settings(c, v, s, 4)) return false;
    if (o->nesterov && o->momentum <= 0) {
      diag_error(c->d, v->loc, "Nesterov momentum needs momentum > 0");
      return false;
    }
  } else if (!strcmp(n, "adam") || !strcmp(n, "adamw")) {
    spec_opt_defaults(o, n[4] == 'w' ? OPT_ADAMW : OPT_ADAM);
    Setting s[] = {{"lr", K_NUM, &o->lr, false}, {"beta1", K_NUM, &o->beta1, false},
                   {"beta2", K_NUM, &o->beta2, false}, {"eps", K_NUM, &o->eps, false},
                   {"weight_decay", K_NUM, &o->weight_decay, false}};
    if (!bind_settings(c, v, s, 5)) return false;
    if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1)) {
      diag_error(c->d, v->loc, "%s(): beta1 and beta2 must be in [0, 1)", n);
      return false;
    }
    if (o->eps <= 0) {
      diag_error(c->d, v->loc, "%s(): eps must be positive", n);
      return false;
    }
  } else {
    const char *cands[] = {"sgd", "adam", "adamw"};
    const char *hint = diag_closest(n, cands, 3);
    diag_error(c->d, v->call.name_loc, "unknown optimizer '%s'%s%s%s (sgd, adam, adamw)", n,
               hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    return false;
  }
  if (!(o->lr > 0) || !isfinite(o->lr)) {
    diag_error(c->d, v->loc, "the learning rate must be positive, not %g", o->lr);
    return false;
  }
  if (o->momentum < 0 || o->momentum >= 1 || o->weight_decay < 0) {
    diag_error(c->d, v->loc, "momentum must be in [0, 1) and weight_decay must not be negative");
    return false;
  }
  return true;
}

static bool check_schedule(Checker *c, Expr *v, SchedSpec *s) {
  spec_sched_defaults(s, SCHED_CONSTANT);
  if (v->kind != EX_CALL) {
    diag_error(c->d, v->loc, "schedule must be constant(), step(every, gamma) or cosine(warmup, min_lr)");
    return false;
  }
  const char *n = v->call.name;
  if (!strcmp(n, "constant")) {
    s->kind = SCHED_CONSTANT;
    return bind_settings(c, v, NULL, 0);
  }
  if (!strcmp(n, "step")) {
    spec_sched_defaults(s, SCHED_STEP);
    Setting st[] = {{"every", K_INT, &s->every, false}, {"gamma", K_NUM, &s->gamma, false}};
    if (!bind_settings(c, v, st, 2)) return false;
    if (s->every < 1 || !(s->gamma > 0)) {
      diag_error(c->d, v->loc, "step(): every must be >= 1 epoch and gamma positive");
      return false;
    }
    return true;
  }
  if (!strcmp(n, "cosine")) {
    spec_sched_defaults(s, SCHED_COSINE);
    Setting st[] = {{"warmup", K_INT, &s->warmup, false}, {"min_lr", K_NUM, &s->min_lr, false}};
    if (!bind_settings(c, v, st, 2)) return false;
    if (s->warmup < 0 || s->min_lr < 0) {
      diag_error(c->d, v->loc, "cosine(): warmup and min_lr must not be negative");
      return false;
    }
    return true;
  }
  diag_error(c->d, v->call.name_loc, "unknown schedule '%s' (constant, step, cosine)", n);
  return false;
}

static bool check_data(Checker *c, Expr *v, DataSpec *d) {
  spec_data_defaults(d);
  d->loc = v->loc;
  if (v->kind != EX_CALL) {
    diag_error(c->d, v->loc, "a data source is idx(...), npy(...), csv(...) or text(...)");
    return false;
  }
  const char *n = v->call.name;
  if (!strcmp(n, "idx") || !strcmp(n, "npy")) {
    d->kind = n[0] == 'i' ? DATA_IDX : DATA_NPY;
    Setting s[] = {{"features", K_STR, &d->path[0], true}, {"labels", K_STR, &d->path[1], true},
                   {"scale", K_NUM, &d->scale, false}};
    return bind_settings(c, v, s, 3);
  }
  if (!strcmp(n, "csv")) {
    d->kind = DATA_CSV;
    Setting s[] = {{"path", K_STR, &d->path[0], true}, {"label", K_INT, &d->label_col, false},
                   {"scale", K_NUM, &d->scale, false}};
    return bind_settings(c, v, s, 3);
  }
  if (!strcmp(n, "text")) {
    d->kind = DATA_TEXT;
    Setting s[] = {{"path", K_STR, &d->path[0], true}, {"split", K_NUM, &d->split, false}};
    if (!bind_settings(c, v, s, 2)) return false;
    if (!(d->split > 0 && d->split < 1)) {
      diag_error(c->d, v->loc, "text(): split must be between 0 and 1");
      return false;
    }
    return true;
  }
  const char *cands[] = {"idx", "npy", "csv", "text"};
  const char *hint = diag_closest(n, cands, 4);
  diag_error(c->d, v->call.name_loc, "unknown data source '%s'%s%s%s (idx, npy, csv, text)", n,
             hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
  return false;
}

/* The loss function's arguments must be what the data source delivers. */
static void check_data_fits(Checker *c, const FnDecl *f, const DataSpec *d, const char *key) {
  if (!f || d->kind == DATA_NONE) return;
  if (f->nargs != 2) {
    diag_error(c->d, d->loc, "'%s' delivers (inputs, targets), so '%s' must take 2 arguments, not %d", key,
               f->name, f->nargs);
    diag_note(c->d, f->loc, "'%s' is declared here", f->name);
    return;
  }
  const Type *x = &f->args[0].ty, *y = &f->args[1].ty;
  if (x->rank < 1 || y->rank < 1 || x->dim[0] != y->dim[0]) {
    diag_error(c->d, d->loc, "the arguments of '%s' must share their first (batch) dimension: %s and %s",
               f->name, tstr(x), tstr(y));
    return;
  }
  if (d->kind == DATA_TEXT) {
    if (x->dtype != TY_I32 || y->dtype != TY_I32 || x->rank != 2 || !shape_eq(x, y)) {
      diag_error(c->d, d->loc, "text() delivers character ids: '%s' must take (x: i32[B, T], y: i32[B, T]), "
                 "not (%s, %s)", f->name, tstr(x), tstr(y));
      diag_note(c->d, f->loc, "'%s' is declared here", f->name);
    }
    return;
  }
  if (!dtype_is_float(x->dtype)) {
    diag_error(c->d, d->loc, "%s() delivers floating-point features, but the first argument of '%s' is %s",
               d->kind == DATA_IDX ? "idx" : d->kind == DATA_NPY ? "npy" : "csv", f->name, tstr(x));
    diag_note(c->d, f->args[0].loc, "declared here");
  }
  if (y->dtype == TY_BOOL) {
    diag_error(c->d, d->loc, "the targets argument of '%s' must be i32 (classes) or float, not %s", f->name,
               tstr(y));
    diag_note(c->d, f->args[1].loc, "declared here");
  }
}

void check_train(Checker *c, Model *m) {
  TrainDecl *td = m->train;
  TrainSpec *t = &td->spec;
  spec_train_defaults(t);
  static const char *const keys[] = {"minimize", "predict", "generate", "optimizer", "schedule",
                                     "epochs", "clip_grad_norm", "seed", "data", "test", "max_tape_bytes"};
  enum { NKEYS = sizeof keys / sizeof *keys };
  TrainItem *seen[NKEYS] = {0};
  for (int i = 0; i < td->nitems; i++) {
    TrainItem *it = &td->items[i];
    int k = -1;
    for (int j = 0; j < NKEYS; j++)
      if (!strcmp(keys[j], it->key)) k = j;
    if (k < 0) {
      const char *hint = diag_closest(it->key, keys, NKEYS);
      diag_error(c->d, it->loc, "unknown train setting '%s'%s%s%s", it->key, hint ? "; did you mean '" : "",
                 hint ? hint : "", hint ? "'?" : "");
      continue;
    }
    if (seen[k]) {
      diag_error(c->d, it->loc, "'%s' is set twice", it->key);
      diag_note(c->d, seen[k]->loc, "the first setting is here");
      continue;
    }
    seen[k] = it;
    Expr *v = it->value;
    switch (k) {
    case 0: td->loss = fn_named(c, m, v, "minimize"); break;
    case 1: td->predict = fn_named(c, m, v, "predict"); break;
    case 2: td->generate = fn_named(c, m, v, "generate"); break;
    case 3: check_optimizer(c, v, &t->opt); break;
    case 4: check_schedule(c, v, &t->sched); break;
    case 5:
      if (const_int(c, v, "epochs", &t->epochs) && t->epochs < 1) diag_error(c->d, v->loc, "epochs must be at least 1");
      break;
    case 6:
      if (const_float(c, v, "clip_grad_norm", &t->clip_norm) && !(t->clip_norm > 0))
        diag_error(c->d, v->loc, "clip_grad_norm must be positive");
      break;
    case 7: {
      int64_t s;
      if (const_int(c, v, "seed", &s)) {
        if (s < 0) diag_error(c->d, v->loc, "the seed must not be negative");
        t->seed = (uint64_t)s;
      }
      break;
    }
    case 8: check_data(c, v, &t->data); break;
    case 9: check_data(c, v, &t->test); break;
    case 10:
      if (const_int(c, v, "max_tape_bytes", &t->max_tape_bytes) && t->max_tape_bytes < 1)
        diag_error(c->d, v->loc, "max_tape_bytes must be at least 1");
      break;
    }
  }
  if (!seen[0]) {
    diag_error(c->d, td->loc, "the train block needs 'minimize = FUNCTION' (the loss to minimize)");
    return;
  }
  FnDecl *f = td->loss;
  if (f && f->ok && (f->ret.rank != 0 || !dtype_is_float(f->ret.dtype))) {
    diag_error(c->d, seen[0]->value->loc, "'%s' returns %s, but the loss to minimize must be a float scalar",
               f->name, tstr(&f->ret));
    diag_note(c->d, f->loc, "'%s' is declared here", f->name);
  }
  if (f && f->nargs == 0) {
    diag_error(c->d, seen[0]->value->loc, "'%s' takes no inputs, so there is nothing to train on", f->name);
  }
  t->loss = f ? f->name : NULL;
  t->predict = td->predict ? td->predict->name : NULL;
  t->generate = td->generate ? td->generate->name : NULL;
  check_data_fits(c, f, &t->data, "data");
  check_data_fits(c, f, &t->test, "test");
  if (td->predict && f && f->nargs >= 1) {
    FnDecl *p = td->predict;
    if (p->nargs != 1 || !type_eq(&p->args[0].ty, &f->args[0].ty)) {
      diag_error(c->d, seen[1]->value->loc, "'%s' must take one argument like the first of '%s' (%s)", p->name,
                 f->name, tstr(&f->args[0].ty));
      diag_note(c->d, p->loc, "'%s' is declared here", p->name);
    } else if (!dtype_is_float(p->ret.dtype) || p->ret.rank < 2 || p->ret.dim[0] != f->args[0].ty.dim[0]) {
      diag_error(c->d, seen[1]->value->loc, "'%s' must return class scores [batch, ..., classes], not %s", p->name,
                 tstr(&p->ret));
    }
  }
  if (td->generate) {
    FnDecl *g = td->generate;
    if (g->nargs != 1 || g->args[0].ty.dtype != TY_I32 || g->args[0].ty.rank != 2 || g->ret.rank != 3 ||
        g->ret.dim[0] != g->args[0].ty.dim[0] || g->ret.dim[1] != g->args[0].ty.dim[1]) {
      diag_error(c->d, seen[2]->value->loc, "'%s' must map character ids i32[N, T] to logits f32[N, T, V]",
                 g->name);
      diag_note(c->d, g->loc, "'%s' is declared here", g->name);
    }
  }
}
