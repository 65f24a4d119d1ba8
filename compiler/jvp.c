/* jvp.c — forward-mode AD as an IR-to-IR transformation; see jvp.h.
 *
 *  1. Activity: the flagged arguments are varied, and so is every value
 *     that depends on one through differentiable ops (ad_mark_varied, the
 *     analysis reverse mode uses; loops to a fixed point).
 *  2. One forward walk copies each instruction and, when an operand has a
 *     tangent, emits the tangent of its result right after it with the
 *     op's JVP rule (jvp_rules.c). A zero tangent is no value at all, so
 *     code that does not depend on the direction costs nothing.
 *  3. A loop is copied with extra carried values (the tangents of its
 *     varied carried values, zero at entry when the initial value has
 *     none) and extra stacked outputs (the tangents of its varied stacked
 *     values); its body is walked the same way.
 * Tangents are named after their primal values ("h1.tan"), so
 * --emit=grad-ir reads like the primal code. */
#include <string.h>

#include "ad_internal.h"
#include "jvp.h"

static bool varied(Jvp *j, const Value *v) {
  return ((int)(intptr_t)pm_get(&j->act.act, v) & ACT_VARIED) && dtype_is_float(v->ty.dtype);
}

Value *jvp_tan(Jvp *j, const Value *v) { return pm_get(&j->tan, v); }

static void set_tan(Jvp *j, Value *v, Value *t) {
  if (!t) return;
  if (!type_eq(&t->ty, &v->ty)) die("JVP: tangent %s for a value of type %s", tstr(&t->ty), tstr(&v->ty));
  if (!t->name && !t->block && v->name) t->name = arena_printf(j->a, "%s.tan", v->name);
  pm_put(&j->tan, v, t);
}

static Value *tan_or_zero(Jvp *j, Value *v) {
  Value *t = jvp_tan(j, v);
  return t ? t : ir_const_like(&j->b, &v->ty, 0.0);
}

static Value *mapped(PtrMap *map, Value *v) {
  Value *n = pm_get(map, v);
  if (!n) die("JVP: operand %s not copied yet", v->name ? v->name : "?");
  return n;
}

static void walk_block(Jvp *j, Block *src, PtrMap *map);

/* A loop: the copy carries [primal..., tangents of varied carried values]
 * and stacks [primal..., tangents of varied stacked values]. */
static void jvp_for(Jvp *j, Inst *fin, PtrMap *map) {
  Block *fb = fin->body;
  Inst *fy = fb->last;
  int nc = fin->nargs, ns = fin->nres - nc;
  int tc[256], ntc = 0, ts[256], nts = 0;
  for (int k = 0; k < nc && ntc < 256; k++)
    if (varied(j, fb->args[k + 1])) tc[ntc++] = k;
  for (int s = 0; s < ns && nts < 256; s++)
    if (varied(j, fy->args[nc + s])) ts[nts++] = s;
  j->b.pos = fin->pos;
  j->b.note = fin->note;
  Inst *n = NEW(j->a, Inst);
  *n = *fin;
  n->nargs = nc + ntc;
  Attr at = ir_attr(fin);
  at.i[2] = nc + ntc;
  ir_set_attr(j->a, n, &at);
  n->args = NEW_ARRAY(j->a, Value *, n->nargs + 1);
  for (int k = 0; k < nc; k++) n->args[k] = mapped(map, fin->args[k]);
  j->b.note = "tangent: zero at entry";
  for (int t = 0; t < ntc; t++) n->args[nc + t] = tan_or_zero(j, n->args[tc[t]]);
  n->body = ir_block_new(j->a, n);
  Block *nb = n->body;
  for (int i = 0; i < fb->nargs; i++)
    pm_put(map, fb->args[i], ir_block_add_arg(j->a, nb, fb->args[i]->ty, fb->args[i]->name));
  for (int t = 0; t < ntc; t++) {
    Value *p = nb->args[tc[t] + 1];
    Value *ta = ir_block_add_arg(j->a, nb, p->ty, p->name ? arena_printf(j->a, "%s.tan", p->name) : NULL);
    set_tan(j, p, ta);
  }
  Builder outer = j->b;
  j->b = (Builder){.a = j->a, .block = nb};
  walk_block(j, fb, map);
  j->b.pos = fy->pos;
  j->b.note = NULL;
  int ny = nc + ntc + ns + nts;
  Value **ys = NEW_ARRAY(j->a, Value *, ny + 1);
  int k = 0;
  for (int i = 0; i < nc; i++) ys[k++] = mapped(map, fy->args[i]);
  for (int t = 0; t < ntc; t++) ys[k++] = tan_or_zero(j, mapped(map, fy->args[tc[t]]));
  for (int s = 0; s < ns; s++) ys[k++] = mapped(map, fy->args[nc + s]);
  for (int t = 0; t < nts; t++) ys[k++] = tan_or_zero(j, mapped(map, fy->args[nc + ts[t]]));
  ir_build(&j->b, OP_YIELD, ys, ny, NULL, NULL);
  j->b = outer;
  /* results in the same order as the yield */
  n->nres = ny;
  n->res = NEW_ARRAY(j->a, Value *, ny + 1);
  for (int i = 0; i < ny; i++) {
    Value *r = NEW(j->a, Value);
    r->def = n;
    r->res = i;
    n->res[i] = r;
  }
  k = 0;
  for (int i = 0; i < nc; i++, k++) {
    *n->res[k] = *fin->res[i];
    n->res[k]->def = n, n->res[k]->res = k;
    pm_put(map, fin->res[i], n->res[k]);
  }
  for (int t = 0; t < ntc; t++, k++) n->res[k]->ty = n->res[tc[t]]->ty;
  for (int s = 0; s < ns; s++, k++) {
    *n->res[k] = *fin->res[nc + s];
    n->res[k]->def = n, n->res[k]->res = k;
    pm_put(map, fin->res[nc + s], n->res[k]);
  }
  for (int t = 0; t < nts; t++, k++) n->res[k]->ty = n->res[nc + ntc + ts[t]]->ty;
  if (j->b.before)
    ir_insert_before(j->b.before, n);
  else
    ir_append(j->b.block, n);
  for (int t = 0; t < ntc; t++) set_tan(j, n->res[tc[t]], n->res[nc + t]);
  for (int t = 0; t < nts; t++) set_tan(j, n->res[nc + ntc + ts[t]], n->res[nc + ntc + ns + t]);
}

static bool any_tangent(Jvp *j, const Inst *in) {
  for (int i = 0; i < in->nargs; i++)
    if (jvp_tan(j, in->args[i])) return true;
  return false;
}

static const char *describe(Jvp *j, const Inst *in) {
  const Value *r = in->res[0];
  if (r->name) return arena_printf(j->a, "tangent of %%%s = %s", r->name, op_info[in->op].name);
  return arena_printf(j->a, "tangent of %s", op_info[in->op].name);
}

/* Copy src's instructions (not its terminator) with their tangent code. */
static void walk_block(Jvp *j, Block *src, PtrMap *map) {
  for (Inst *in = src->first; in; in = in->next) {
    if (op_info[in->op].flags & F_TERMINATOR) continue;
    if (in->op == OP_FOR) {
      jvp_for(j, in, map);
      continue;
    }
    ir_clone_inst(&j->b, in, map);
    Inst *n = ((Value *)pm_get(map, in->res[0]))->def;
    if (!varied(j, in->res[0]) || !any_tangent(j, n)) continue;
    j->b.pos = in->pos;
    j->b.note = describe(j, n);
    set_tan(j, n->res[0], jvp_rules[n->op](j, n));
    j->b.note = NULL;
  }
}

Func *jvp_func(Module *m, Func *f, const bool *wrt_arg, Diag *d) {
  Arena *a = m->a;
  Inst *ret = f->body->last;
  Loc at = {f->pos.line, f->pos.col, f->pos.line, f->pos.col};
  bool any_float = false, any_wrt = false;
  for (int r = 0; r < f->nret; r++) any_float |= dtype_is_float(f->ret[r].dtype);
  for (int i = 0; i < f->body->nargs; i++) any_wrt |= wrt_arg[i] && dtype_is_float(f->body->args[i]->ty.dtype);
  if (!ret || ret->op != OP_RETURN || !any_float || !any_wrt) {
    diag_error(d, at, "cannot take the JVP of '%s': it needs a floating-point result and a floating-point "
               "argument to push tangents along", f->name);
    return NULL;
  }
  Jvp j = {.a = a};
  pm_init(&j.tan, a);
  j.act = (Ad){.a = a, .tmp = a, .m = m, .d = d};
  pm_init(&j.act.act, a);
  for (int i = 0; i < f->body->nargs; i++)
    if (wrt_arg[i] && dtype_is_float(f->body->args[i]->ty.dtype))
      pm_put(&j.act.act, f->body->args[i], (void *)(intptr_t)ACT_VARIED);
  ad_mark_varied(&j.act, f->body);
  Func *g = ir_func_new(m, arena_printf(a, "%s.jvp", f->name));
  g->pos = f->pos;
  g->is_grad = true;
  PtrMap map;
  pm_init(&map, a);
  int nin = 0;
  for (int i = 0; i < f->body->nargs; i++) {
    Value *v = f->body->args[i];
    ir_func_add_arg(a, g, v->ty, v->name, f->arg_role[i]);
    pm_put(&map, v, g->body->args[i]);
    if (f->arg_role[i].kind == ARG_INPUT) nin++;
  }
  for (int i = 0; i < f->body->nargs; i++) {
    Value *v = f->body->args[i];
    if (!wrt_arg[i] || !dtype_is_float(v->ty.dtype)) continue;
    ir_func_add_arg(a, g, v->ty, arena_printf(a, "%s.tan", v->name ? v->name : "arg"), (Role){ARG_INPUT, nin++});
    set_tan(&j, g->body->args[i], g->body->args[g->body->nargs - 1]);
  }
  j.b = (Builder){.a = a, .block = g->body};
  walk_block(&j, f->body, &map);
  j.b.pos = ret->pos;
  j.b.note = NULL;
  PtrVec outs = {0};
  for (int r = 0; r < f->nret; r++) {
    ir_func_add_result(a, g, f->ret[r], f->ret_name ? f->ret_name[r] : NULL, f->ret_role[r]);
    vec_push(a, &outs, mapped(&map, ret->args[r]));
  }
  int k = f->nret;
  for (int r = 0; r < f->nret; r++) {
    if (!dtype_is_float(f->ret[r].dtype)) continue;
    Value *p = mapped(&map, ret->args[r]);
    j.b.note = jvp_tan(&j, p) ? NULL : "no dependence: zero tangent";
    Value *t = tan_or_zero(&j, p);
    const char *rn = f->ret_name && f->ret_name[r] ? f->ret_name[r] : "out";
    ir_func_add_result(a, g, f->ret[r], arena_printf(a, "%s.tan", rn), (Role){RES_OUTPUT, k++});
    vec_push(a, &outs, t);
  }
  ir_build(&j.b, OP_RETURN, (Value **)outs.v, outs.n, NULL, NULL);
  return g;
}
