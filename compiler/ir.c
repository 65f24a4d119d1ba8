/* ir.c — building, editing and querying the IR; see ir.h. */
#include "ir.h"
/* The IR stands alone: ir.h brings what it carries from the checker
 * (spec.h), never the syntax tree. */
#ifdef NNC_AST_H
#error "ir.h must not include ast.h"
#endif

#include <string.h>

#include "ptrmap.h"

const OpInfo op_info[OP_COUNT] = {
#define OP(id, name, nargs, attrs, shape, vjp, jvp, lc, flags, meaning) {name, nargs, attrs, lc, flags, meaning},
#include "ops.def"
#undef OP
};

Op op_by_name(const char *name) {
  for (int i = 0; i < OP_COUNT; i++)
    if (!strcmp(op_info[i].name, name)) return (Op)i;
  return OP_COUNT;
}

/* ---- construction ------------------------------------------------------ */

Module *ir_module_new(Arena *a, const char *name, const char *file) {
  Module *m = NEW(a, Module);
  m->a = a;
  m->name = name;
  m->file = file;
  return m;
}

Func *ir_func_new(Module *m, const char *name) {
  Func *f = NEW(m->a, Func);
  f->name = name;
  f->body = ir_block_new(m->a, NULL);
  if (m->nfuncs == m->capfuncs) {
    int cap = m->capfuncs ? m->capfuncs * 2 : 8;
    Func **nf = NEW_ARRAY(m->a, Func *, cap);
    if (m->nfuncs) memcpy(nf, m->funcs, sizeof(Func *) * (size_t)m->nfuncs);
    m->funcs = nf;
    m->capfuncs = cap;
  }
  m->funcs[m->nfuncs++] = f;
  return f;
}

Func *ir_find_func(const Module *m, const char *name) {
  for (int i = 0; i < m->nfuncs; i++)
    if (!strcmp(m->funcs[i]->name, name)) return m->funcs[i];
  return NULL;
}

Block *ir_block_new(Arena *a, Inst *parent) {
  Block *b = NEW(a, Block);
  b->parent = parent;
  return b;
}

Value *ir_block_add_arg(Arena *a, Block *b, Type ty, const char *name) {
  if (b->nargs == b->cap) {
    int cap = b->cap ? b->cap * 2 : 8;
    Value **nv = NEW_ARRAY(a, Value *, cap);
    if (b->nargs) memcpy(nv, b->args, sizeof(Value *) * (size_t)b->nargs);
    b->args = nv;
    b->cap = cap;
  }
  Value *v = NEW(a, Value);
  v->ty = ty;
  v->block = b;
  v->res = b->nargs;
  v->name = name;
  b->args[b->nargs++] = v;
  return v;
}

/* The role and result arrays double when full: appending is O(1), so a
 * function with 10,000 parameters costs linear time and memory. */
void ir_func_add_arg(Arena *a, Func *f, Type ty, const char *name, Role role) {
  int n = f->body->nargs;
  ir_block_add_arg(a, f->body, ty, name);
  if (n == f->caprole) {
    int cap = f->caprole ? 2 * f->caprole : 16;
    Role *nr = NEW_ARRAY(a, Role, cap);
    if (n) memcpy(nr, f->arg_role, sizeof(Role) * (size_t)n);
    f->arg_role = nr;
    f->caprole = cap;
  }
  f->arg_role[n] = role;
}

void ir_func_add_result(Arena *a, Func *f, Type ty, const char *name, Role role) {
  int n = f->nret;
  if (n == f->capret) {
    int cap = f->capret ? 2 * f->capret : 4;
    Type *nt = NEW_ARRAY(a, Type, cap);
    Role *nr = NEW_ARRAY(a, Role, cap);
    const char **nn = NEW_ARRAY(a, const char *, cap);
    if (n) {
      memcpy(nt, f->ret, sizeof(Type) * (size_t)n);
      memcpy(nr, f->ret_role, sizeof(Role) * (size_t)n);
      memcpy(nn, f->ret_name, sizeof(char *) * (size_t)n);
    }
    f->ret = nt;
    f->ret_role = nr;
    f->ret_name = nn;
    f->capret = cap;
  }
  f->ret[n] = ty;
  f->ret_role[n] = role;
  f->ret_name[n] = name;
  f->nret = n + 1;
}

/* ---- builder ------------------------------------------------------------ */

Attr ir_attr(const Inst *in) {
  Attr at = {.ni = in->attr.ni, .f = in->attr.f};
  if (in->attr.ni) memcpy(at.i, in->attr.i, sizeof(int64_t) * (size_t)in->attr.ni);
  return at;
}

void ir_set_attr(Arena *a, Inst *in, const Attr *at) {
  if (!at) {
    in->attr = (InstAttr){0};
    return;
  }
  if (at->ni < 0 || at->ni > MAX_IATTR) die("%d integer attributes", at->ni);
  for (int k = at->ni; k < MAX_IATTR; k++)
    if (at->i[k]) die("%s: integer attribute %d set past the %d given", op_info[in->op].name, k, at->ni);
  in->attr.ni = at->ni;
  in->attr.f = at->f;
  in->attr.i = NULL;
  if (at->ni) {
    in->attr.i = NEW_ARRAY(a, int64_t, at->ni);
    memcpy(in->attr.i, at->i, sizeof(int64_t) * (size_t)at->ni);
  }
}

void ir_set_loop_attr(Arena *a, Inst *in, int64_t lo, int64_t hi, int64_t ncarry, bool reverse, bool checkpoint) {
  Attr at = {.i = {lo, hi, ncarry, reverse, checkpoint}, .ni = 5};
  ir_set_attr(a, in, &at);
}

Inst *ir_build_inst(Builder *b, Op op, Value **args, int nargs, const Attr *attr,
                    const Type *res_types, int nres) {
  Inst *in = NEW(b->a, Inst);
  in->op = op;
  in->nargs = nargs;
  in->args = NEW_ARRAY(b->a, Value *, nargs + 1);
  if (nargs) memcpy(in->args, args, sizeof(Value *) * (size_t)nargs);
  ir_set_attr(b->a, in, attr);
  in->pos = b->pos;
  in->note = b->note;
  in->nres = nres;
  in->res = NEW_ARRAY(b->a, Value *, nres + 1);
  Type one, *types = nres <= 1 ? &one : NEW_ARRAY(b->a, Type, nres);
  for (int i = 0; i < nres; i++) types[i] = res_types ? res_types[i] : type_scalar(TY_F32);
  if (op != OP_FOR && !(op_info[op].flags & F_TERMINATOR)) {
    char err[256];
    if (!ir_infer(in, types, nres, err, sizeof err)) die("building ill-typed %s: %s", op_info[op].name, err);
  }
  for (int i = 0; i < nres; i++) {
    Value *v = NEW(b->a, Value);
    v->ty = types[i];
    v->def = in;
    v->res = i;
    in->res[i] = v;
  }
  if (b->before)
    ir_insert_before(b->before, in);
  else
    ir_append(b->block, in);
  return in;
}

Value *ir_build(Builder *b, Op op, Value **args, int nargs, const Attr *attr, const Type *ty) {
  int nres = (op_info[op].flags & F_TERMINATOR) ? 0 : 1;
  Inst *in = ir_build_inst(b, op, args, nargs, attr, ty, nres);
  return nres ? in->res[0] : NULL;
}

Value *ir_unary(Builder *b, Op op, Value *x) { return ir_build(b, op, &x, 1, NULL, NULL); }

Value *ir_binary(Builder *b, Op op, Value *x, Value *y) {
  Value *args[2] = {x, y};
  return ir_build(b, op, args, 2, NULL, NULL);
}

Value *ir_const(Builder *b, DType dt, int rank, const int64_t *dims, double v) {
  Type t = type_make(dt, rank, dims);
  Attr at = {.f = v};
  return ir_build(b, OP_CONST, NULL, 0, &at, &t);
}

Value *ir_const_like(Builder *b, const Type *t, double v) {
  Attr at = {.f = v};
  return ir_build(b, OP_CONST, NULL, 0, &at, t); /* keeps a run-time axis */
}

Value *ir_scalar(Builder *b, DType dt, double v) { return ir_const(b, dt, 0, NULL, v); }

Value *ir_reshape(Builder *b, Value *x, const Type *to) {
  Type t = *to;
  t.dtype = x->ty.dtype;
  if (shape_eq(&t, &x->ty)) return x;
  return ir_build(b, OP_RESHAPE, &x, 1, NULL, &t);
}

Value *ir_reduce_sum(Builder *b, Value *x, const int64_t *axes, int naxes) {
  if (naxes == 0) return x;
  Attr at = {.ni = naxes};
  memcpy(at.i, axes, sizeof(int64_t) * (size_t)naxes);
  return ir_build(b, OP_REDUCE_SUM, &x, 1, &at, NULL);
}

Value *ir_transpose(Builder *b, Value *x, const int64_t *perm) {
  Attr at = {.ni = x->ty.rank};
  bool ident = true;
  for (int i = 0; i < x->ty.rank; i++) {
    at.i[i] = perm[i];
    if (perm[i] != i) ident = false;
  }
  if (ident) return x;
  return ir_build(b, OP_TRANSPOSE, &x, 1, &at, NULL);
}

Value *ir_cast(Builder *b, Value *x, DType to) {
  if (x->ty.dtype == to) return x;
  Type t = x->ty;
  t.dtype = to;
  return ir_build(b, OP_CAST, &x, 1, NULL, &t);
}

Value *ir_broadcast(Builder *b, Value *x, const Type *to) {
  Type t = *to;
  t.dtype = x->ty.dtype;
  if (shape_eq(&t, &x->ty)) return x;
  return ir_build(b, OP_BROADCAST, &x, 1, NULL, &t);
}

Value *ir_unbroadcast(Builder *b, Value *x, const Type *to) {
  if (shape_eq(&x->ty, to)) return x;
  int r = x->ty.rank, k = to->rank;
  int64_t axes[MAX_RANK];
  int n = 0;
  for (int i = 0; i < r; i++) {
    int j = i - (r - k);
    if (j < 0 || (to->dim[j] == 1 && !axis_dyn(to, j) && (x->ty.dim[i] != 1 || axis_dyn(&x->ty, i)))) axes[n++] = i;
  }
  Value *s = ir_reduce_sum(b, x, axes, n);
  return ir_reshape(b, s, to);
}

/* ---- editing ------------------------------------------------------------ */

void ir_append(Block *b, Inst *in) {
  in->block = b;
  in->prev = b->last;
  in->next = NULL;
  if (b->last)
    b->last->next = in;
  else
    b->first = in;
  b->last = in;
}

void ir_insert_before(Inst *pos, Inst *in) {
  Block *b = pos->block;
  in->block = b;
  in->next = pos;
  in->prev = pos->prev;
  if (pos->prev)
    pos->prev->next = in;
  else
    b->first = in;
  pos->prev = in;
}

void ir_remove(Inst *in) {
  Block *b = in->block;
  if (in->prev)
    in->prev->next = in->next;
  else
    b->first = in->next;
  if (in->next)
    in->next->prev = in->prev;
  else
    b->last = in->prev;
  in->prev = in->next = NULL;
  in->block = NULL;
}

void ir_replace_uses(Block *b, Value *from, Value *to) {
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nargs; i++)
      if (in->args[i] == from) in->args[i] = to;
    if (in->body) ir_replace_uses(in->body, from, to);
  }
}

/* ---- queries ------------------------------------------------------------ */

static void clear_uses(Block *b) {
  for (int i = 0; i < b->nargs; i++) b->args[i]->nuse = 0;
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nres; i++) in->res[i]->nuse = 0;
    if (in->body) clear_uses(in->body);
  }
}

static void add_uses(Block *b) {
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nargs; i++) in->args[i]->nuse++;
    if (in->body) add_uses(in->body);
  }
}

void ir_count_uses(Func *f) {
  clear_uses(f->body);
  add_uses(f->body);
}

static int count_block(const Block *b) {
  int n = 0;
  for (const Inst *in = b->first; in; in = in->next) {
    n++;
    if (in->body) n += count_block(in->body);
  }
  return n;
}

int ir_count_insts(const Func *f) { return count_block(f->body); }

bool ir_is_const(const Value *v, double *val) {
  if (!v->def || v->def->op != OP_CONST) return false;
  if (val) *val = v->def->attr.f;
  return true;
}

/* ---- cloning ------------------------------------------------------------ */


static Value *mapped(PtrMap *map, Value *v) {
  Value *n = pm_get(map, v);
  if (!n) die("clone: value used before its definition");
  return n;
}

/* A link to another value (Value.primal) follows the copy when that value
 * was copied too. */
static Value *mapped_or_null(PtrMap *map, Value *v) { return v ? pm_get(map, v) : NULL; }

void ir_clone_inst(Builder *b, Inst *in, PtrMap *map) {
  /* A `for` keeps its operand array; ir_build_inst copies the others', and
   * the result types: on the stack when they fit, not garbage in the arena. */
  Value *args_here[8];
  Type types_here[2];
  Value **args = in->op != OP_FOR && in->nargs <= 8 ? args_here : NEW_ARRAY(b->a, Value *, in->nargs + 1);
  for (int i = 0; i < in->nargs; i++) args[i] = mapped(map, in->args[i]);
  Type *types = in->nres <= 2 ? types_here : NEW_ARRAY(b->a, Type, in->nres);
  for (int i = 0; i < in->nres; i++) types[i] = in->res[i]->ty;
  b->pos = in->pos;
  b->note = in->note;
  if (in->op == OP_FOR) {
    Inst *n = NEW(b->a, Inst);
    *n = *in;
    Attr at = ir_attr(in); /* its own copy: passes change a loop's attributes in place */
    ir_set_attr(b->a, n, &at);
    n->args = args;
    n->body = ir_block_new(b->a, n);
    for (int i = 0; i < in->body->nargs; i++) {
      Value *arg = ir_block_add_arg(b->a, n->body, in->body->args[i]->ty, in->body->args[i]->name);
      arg->primal = mapped_or_null(map, in->body->args[i]->primal);
      pm_put(map, in->body->args[i], arg);
    }
    Builder inner = {.a = b->a, .block = n->body};
    ir_clone_block(&inner, in->body, map);
    n->res = NEW_ARRAY(b->a, Value *, in->nres + 1);
    for (int i = 0; i < in->nres; i++) {
      Value *r = NEW(b->a, Value);
      *r = *in->res[i];
      r->def = n;
      r->primal = mapped_or_null(map, in->res[i]->primal);
      n->res[i] = r;
      pm_put(map, in->res[i], r);
    }
    if (b->before)
      ir_insert_before(b->before, n);
    else
      ir_append(b->block, n);
    return;
  }
  Attr at = ir_attr(in);
  Inst *n = ir_build_inst(b, in->op, args, in->nargs, &at, types, in->nres);
  for (int i = 0; i < in->nres; i++) {
    n->res[i]->name = in->res[i]->name;
    n->res[i]->primal = mapped_or_null(map, in->res[i]->primal);
    pm_put(map, in->res[i], n->res[i]);
  }
}

/* Values defined anywhere inside b (arguments and results, nested too). */
static void defined_in(Arena *a, const Block *b, PtrMap *out) {
  for (int i = 0; i < b->nargs; i++) pm_put(out, b->args[i], (void *)1);
  for (const Inst *in = b->first; in; in = in->next) {
    for (int r = 0; r < in->nres; r++) pm_put(out, in->res[r], (void *)1);
    if (in->body) defined_in(a, in->body, out);
  }
}

void ir_free_values(Arena *a, Inst *in, PtrVec *out) {
  PtrMap inner, seen;
  pm_init(&inner, a);
  pm_init(&seen, a);
  if (in->body) defined_in(a, in->body, &inner);
  PtrVec stack = {0};
  vec_push(a, &stack, in);
  while (stack.n) {
    Inst *x = stack.v[--stack.n];
    for (int i = 0; i < x->nargs; i++) {
      Value *v = x->args[i];
      if (pm_has(&inner, v) || pm_has(&seen, v)) continue;
      pm_put(&seen, v, (void *)1);
      vec_push(a, out, v);
    }
    if (x->body)
      for (Inst *y = x->body->first; y; y = y->next) vec_push(a, &stack, y);
  }
}

void ir_clone_block(Builder *b, Block *src, PtrMap *map) {
  for (Inst *in = src->first; in; in = in->next) ir_clone_inst(b, in, map);
}


Value *ir_dim_arg(const Func *f) {
  for (int i = 0; i < f->body->nargs; i++)
    if (f->arg_role[i].kind == ARG_SCALAR && f->arg_role[i].index == SCALAR_DIM) return f->body->args[i];
  return NULL;
}
