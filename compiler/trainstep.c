/* trainstep.c — the training step as an IR function: the gradient of the
 * loss, optional clipping by global norm, and the optimizer's update, all
 * ordinary ops that the backend fuses into a few loops per parameter.
 *
 *   train_step(params, inputs, state, lr, step[, seed])
 *       -> (loss, new params, new state)
 *
 * Optimizers follow PyTorch's definitions (torch.optim):
 *   SGD:   v = mu v + g;  d = nesterov ? g + mu v : v;  p -= lr d
 *          (weight decay: g += wd p; mu = 0 keeps no state)
 *   Adam:  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *          p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)   (wd: g += wd p)
 *   AdamW: the same with decoupled decay: p -= lr wd p first.
 * Clipping: g *= min(1, c / (||g|| + 1e-6)) over all parameters at once.
 *
 * apply_update(params, grads, state, lr, step) -> (new params, new state)
 * is the same update from the gradients in the model's gradient buffer
 * (NAME_grad writes them; a data-parallel program sums them across
 * processes in between). Both are built by one function, so grad followed
 * by apply_update gives train_step's bits (tests/mpi: grad_update).
 *
 * train_step also returns the gradients (before clipping) into the
 * gradient buffer: the backend does not lower its body but calls the
 * gradient function, then apply_update (llvm_module.c gen_train_step), so
 * the gradient code exists once in the library; the body here is what
 * that composition computes, for the interpreter, --emit=grad-ir and dot. */
#include <stdio.h>
#include <string.h>

#include "ptrmap.h"
#include "trainstep.h"

static Value *sc(Builder *b, DType dt, double v) { return ir_scalar(b, dt, v); }
static Value *bin(Builder *b, Op op, Value *x, Value *y) { return ir_binary(b, op, x, y); }

static const char *const slot_names[] = {"m", "v"};

static Value *sum_all(Builder *b, Value *x) {
  int64_t axes[MAX_RANK];
  for (int i = 0; i < x->ty.rank; i++) axes[i] = i;
  return ir_reduce_sum(b, x, axes, x->ty.rank);
}

/* The optimizer's state arguments (slot s of parameter i at s * np + i)
 * and its scalars, appended to f; lr and step (NULL for SGD) are set. */
static Value **add_state_args(Module *m, Func *f, const TrainSpec *t, int nslots, Value **lr, Value **step) {
  Arena *a = m->a;
  int np = m->nparams;
  DType dt = np ? m->params[0].ty.dtype : TY_F32;
  Value **state = NEW_ARRAY(a, Value *, np * nslots + 1);
  for (int s = 0; s < nslots; s++)
    for (int i = 0; i < np; i++) {
      ir_func_add_arg(a, f, m->params[i].ty, arena_printf(a, "%s.%s", m->params[i].name, slot_names[s]),
                      (Role){ARG_STATE, s * np + i});
      state[s * np + i] = f->body->args[f->body->nargs - 1];
    }
  ir_func_add_arg(a, f, type_scalar(dt), "lr", (Role){ARG_SCALAR, SCALAR_LR});
  *lr = f->body->args[f->body->nargs - 1];
  *step = NULL;
  if (t->opt.kind != OPT_SGD) {
    ir_func_add_arg(a, f, type_scalar(dt), "step", (Role){ARG_SCALAR, SCALAR_STEP});
    *step = f->body->args[f->body->nargs - 1];
  }
  return state;
}

static int state_slots(const OptSpec *o) { return o->kind == OPT_SGD ? (o->momentum > 0 ? 1 : 0) : 2; }

/* The update of parameters p from gradients g (clipping, weight decay, the
 * optimizer): fills newp[np] and news[np * nslots]. */
static void build_update(Builder *b, Module *m, const TrainSpec *t, Value **g, Value **p, Value **state, Value *lr,
                         Value *step, Value **newp, Value **news) {
  const OptSpec *o = &t->opt;
  int np = m->nparams, nslots = state_slots(o);
  DType dt = np ? m->params[0].ty.dtype : TY_F32;
  b->note = "optimizer";
  /* clipping by the global norm */
  if (t->clip_norm > 0 && np) {
    Value *total = NULL;
    for (int i = 0; i < np; i++) {
      Value *s = sum_all(b, bin(b, OP_MUL, g[i], g[i]));
      total = total ? bin(b, OP_ADD, total, s) : s;
    }
    Value *norm = ir_unary(b, OP_SQRT, total);
    Value *scale = bin(b, OP_MIN, sc(b, dt, 1.0), bin(b, OP_DIV, sc(b, dt, t->clip_norm), bin(b, OP_ADD, norm, sc(b, dt, 1e-6))));
    for (int i = 0; i < np; i++) g[i] = bin(b, OP_MUL, g[i], scale);
  }
  Value *step_size = lr, *bc2_sqrt = NULL;
  if (o->kind != OPT_SGD) {
    Value *bc1 = bin(b, OP_SUB, sc(b, dt, 1.0), bin(b, OP_POW, sc(b, dt, o->beta1), step));
    Value *bc2 = bin(b, OP_SUB, sc(b, dt, 1.0), bin(b, OP_POW, sc(b, dt, o->beta2), step));
    step_size = bin(b, OP_DIV, lr, bc1);
    bc2_sqrt = ir_unary(b, OP_SQRT, bc2);
  }
  for (int i = 0; i < np; i++) {
    b->pos = m->params[i].pos;
    Value *gi = g[i], *pi = p[i];
    if (o->weight_decay > 0 && o->kind != OPT_ADAMW) gi = bin(b, OP_ADD, gi, bin(b, OP_MUL, pi, sc(b, dt, o->weight_decay)));
    if (o->kind == OPT_SGD) {
      Value *d = gi;
      if (nslots) {
        Value *v = bin(b, OP_ADD, bin(b, OP_MUL, state[i], sc(b, dt, o->momentum)), gi);
        news[i] = v;
        d = o->nesterov ? bin(b, OP_ADD, gi, bin(b, OP_MUL, v, sc(b, dt, o->momentum))) : v;
      }
      newp[i] = bin(b, OP_SUB, pi, bin(b, OP_MUL, d, lr));
    } else {
      Value *mo = bin(b, OP_ADD, bin(b, OP_MUL, state[i], sc(b, dt, o->beta1)), bin(b, OP_MUL, gi, sc(b, dt, 1.0 - o->beta1)));
      Value *ve = bin(b, OP_ADD, bin(b, OP_MUL, state[np + i], sc(b, dt, o->beta2)),
                      bin(b, OP_MUL, bin(b, OP_MUL, gi, gi), sc(b, dt, 1.0 - o->beta2)));
      news[i] = mo;
      news[np + i] = ve;
      Value *denom = bin(b, OP_ADD, bin(b, OP_DIV, ir_unary(b, OP_SQRT, ve), bc2_sqrt), sc(b, dt, o->eps));
      Value *base = pi;
      if (o->kind == OPT_ADAMW && o->weight_decay > 0)
        base = bin(b, OP_SUB, pi, bin(b, OP_MUL, pi, bin(b, OP_MUL, lr, sc(b, dt, o->weight_decay))));
      newp[i] = bin(b, OP_SUB, base, bin(b, OP_MUL, bin(b, OP_DIV, mo, denom), step_size));
    }
  }
  b->note = NULL;
}

/* f's results: new params, new state (after a loss of type loss_ty, if
 * any; then the gradients, if with_grads). */
static void add_results(Module *m, Func *f, const Type *loss_ty, int nslots, bool with_grads) {
  Arena *a = m->a;
  int np = m->nparams;
  if (loss_ty) ir_func_add_result(a, f, *loss_ty, "loss", (Role){RES_LOSS, 0});
  for (int i = 0; i < np; i++)
    ir_func_add_result(a, f, m->params[i].ty, arena_printf(a, "%s.new", m->params[i].name), (Role){RES_NEW_PARAM, i});
  for (int k = 0; k < np * nslots; k++)
    ir_func_add_result(a, f, m->params[k % np].ty,
                       arena_printf(a, "%s.%s.new", m->params[k % np].name, slot_names[k / np]), (Role){RES_NEW_STATE, k});
  for (int i = 0; with_grads && i < np; i++)
    ir_func_add_result(a, f, m->params[i].ty, arena_printf(a, "%s.grad", m->params[i].name), (Role){RES_GRAD, i});
}

/* The return of the results add_results declared. */
static void build_return(Builder *b, Module *m, Value *loss, Value **newp, Value **news, int nslots, Value **grads) {
  Arena *a = m->a;
  int np = m->nparams;
  PtrVec outs = {0};
  if (loss) vec_push(a, &outs, loss);
  for (int i = 0; i < np; i++) vec_push(a, &outs, newp[i]);
  for (int k = 0; k < np * nslots; k++) vec_push(a, &outs, news[k]);
  for (int i = 0; grads && i < np; i++) vec_push(a, &outs, grads[i]);
  ir_build(b, OP_RETURN, (Value **)outs.v, outs.n, NULL, NULL);
}

Func *train_step_grad(const Module *m) {
  const TrainSpec *t = m->train;
  if (!t || !t->loss) return NULL;
  char name[300];
  snprintf(name, sizeof name, "%s.train.grad", t->loss);
  Func *g = ir_find_func(m, name);
  if (g) return g;
  snprintf(name, sizeof name, "%s.grad", t->loss);
  return ir_find_func(m, name);
}

Func *build_train_step_decl(Module *m, Func *grad, const TrainSpec *t) {
  Arena *a = m->a;
  Func *ts = ir_func_new(m, "train_step");
  ts->pos = grad->pos;
  /* arguments: the gradient function's, then state, then scalars */
  for (int i = 0; i < grad->body->nargs; i++) {
    Value *v = grad->body->args[i];
    ir_func_add_arg(a, ts, v->ty, v->name, grad->arg_role[i]);
  }
  Value *lr, *step;
  add_state_args(m, ts, t, state_slots(&t->opt), &lr, &step);
  add_results(m, ts, &grad->ret[0], state_slots(&t->opt), true);
  return ts;
}

void build_train_step_body(Module *m, Func *ts, Func *grad, const TrainSpec *t) {
  Arena *a = m->a;
  int np = m->nparams, nslots = state_slots(&t->opt), na = grad->body->nargs;
  /* the gradient's arguments are train_step's first; state and scalars follow */
  PtrMap map;
  pm_init(&map, a);
  for (int i = 0; i < na; i++) pm_put(&map, grad->body->args[i], ts->body->args[i]);
  Value **state = NEW_ARRAY(a, Value *, np * nslots + 1);
  Value **p = NEW_ARRAY(a, Value *, np + 1);
  Value *lr = NULL, *step = NULL;
  for (int i = 0; i < ts->body->nargs; i++) {
    Role r = ts->arg_role[i];
    Value *v = ts->body->args[i];
    if (r.kind == ARG_PARAM) p[r.index] = v;
    else if (r.kind == ARG_STATE && i >= na) state[r.index] = v;
    else if (r.kind == ARG_SCALAR && i >= na && r.index == SCALAR_LR) lr = v;
    else if (r.kind == ARG_SCALAR && i >= na && r.index == SCALAR_STEP) step = v;
  }
  /* the gradient computation */
  Builder b = {.a = a, .block = ts->body, .pos = grad->pos};
  Inst *ret = grad->body->last;
  for (Inst *in = grad->body->first; in != ret; in = in->next) ir_clone_inst(&b, in, &map);
  Value *loss = pm_get(&map, ret->args[0]);
  Value **g = NEW_ARRAY(a, Value *, np + 1), **g0 = NEW_ARRAY(a, Value *, np + 1);
  for (int k = 1; k < grad->nret; k++)
    if (grad->ret_role[k].kind == RES_GRAD) g[grad->ret_role[k].index] = pm_get(&map, ret->args[k]);
  memcpy(g0, g, sizeof *g * (size_t)np); /* build_update clips g in place */
  Value **newp = NEW_ARRAY(a, Value *, np + 1);
  Value **news = NEW_ARRAY(a, Value *, np * nslots + 1);
  build_update(&b, m, t, g, p, state, lr, step, newp, news);
  b.pos = ret->pos;
  build_return(&b, m, loss, newp, news, nslots, g0);
}

Func *build_train_step(Module *m, Func *grad, const TrainSpec *t) {
  Func *ts = build_train_step_decl(m, grad, t);
  build_train_step_body(m, ts, grad, t);
  return ts;
}

Func *build_apply_update(Module *m, const TrainSpec *t, Pos pos) {
  Arena *a = m->a;
  Func *f = ir_func_new(m, "apply_update");
  f->pos = pos;
  int np = m->nparams, nslots = state_slots(&t->opt);
  Value **g = NEW_ARRAY(a, Value *, np + 1);
  Value **p = NEW_ARRAY(a, Value *, np + 1);
  for (int i = 0; i < np; i++) {
    ir_func_add_arg(a, f, m->params[i].ty, m->params[i].name, (Role){ARG_PARAM, i});
    p[i] = f->body->args[f->body->nargs - 1];
  }
  for (int i = 0; i < np; i++) {
    ir_func_add_arg(a, f, m->params[i].ty, arena_printf(a, "%s.grad", m->params[i].name), (Role){ARG_GRAD, i});
    g[i] = f->body->args[f->body->nargs - 1];
  }
  Value *lr, *step;
  Value **state = add_state_args(m, f, t, nslots, &lr, &step);
  Builder b = {.a = a, .block = f->body, .pos = pos};
  Value **newp = NEW_ARRAY(a, Value *, np + 1);
  Value **news = NEW_ARRAY(a, Value *, np * nslots + 1);
  build_update(&b, m, t, g, p, state, lr, step, newp, news);
  b.pos = pos;
  add_results(m, f, NULL, nslots, false);
  build_return(&b, m, NULL, newp, news, nslots, NULL);
  return f;
}
