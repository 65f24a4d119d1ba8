/* ast.c — printing the checked tree (--emit=ast). One node per line,
 * indented by depth, each expression followed by its type and, for
 * constants, its value. */
#include "ast.h"

#include "check.h"

const char *binop_str(BinOp op) {
  static const char *const s[] = {"+", "-", "*", "/", "%", "**", "@", "==", "!=", "<", "<=", ">", ">=", "&&", "||"};
  return s[op];
}

void cv_print(FILE *out, const ConstVal *v) {
  switch (v->kind) {
  case CV_NONE: fprintf(out, "?"); break;
  case CV_INT: fprintf(out, "%lld", (long long)v->i); break;
  case CV_FLOAT: fprintf(out, "%g", v->f); break;
  case CV_BOOL: fprintf(out, v->i ? "true" : "false"); break;
  case CV_STRING: fprintf(out, "\"%s\"", v->s); break;
  case CV_LIST:
    fprintf(out, "[");
    for (int i = 0; i < v->n; i++) {
      if (i) fprintf(out, ", ");
      cv_print(out, &v->elems[i]);
    }
    fprintf(out, "]");
    break;
  }
}

static void indent(FILE *out, int d) {
  for (int i = 0; i < d; i++) fputs("  ", out);
}

/* The normalized attributes of a checked builtin call; fields that are
 * zero are left out (the reduced axes are printed whenever there are some). */
static void dump_ints(FILE *out, const char *name, const int64_t *v, int n, bool always) {
  bool any = always;
  for (int i = 0; i < n; i++) any |= v[i] != 0;
  if (!any) return;
  fprintf(out, " %s=[", name);
  for (int i = 0; i < n; i++) fprintf(out, i ? ",%lld" : "%lld", (long long)v[i]);
  fputc(']', out);
}

static void dump_attrs(FILE *out, const CallAttrs *at) {
  if (at->naxes) dump_ints(out, "axes", at->axes, at->naxes, true);
  if (at->keepdims) fprintf(out, " keepdims");
  if (at->axis) fprintf(out, " axis=%lld", (long long)at->axis);
  dump_ints(out, "perm", at->perm, MAX_RANK, false);
  dump_ints(out, "window", at->window, 2, false);
  dump_ints(out, "stride", at->stride, 2, false);
  dump_ints(out, "pad", at->pad, 2, false);
  if (at->classes) fprintf(out, " classes=%lld", (long long)at->classes);
  if (at->value) fprintf(out, " value=%g", at->value);
  if (at->eps) fprintf(out, " eps=%g", at->eps);
  if (at->p) fprintf(out, " p=%g", at->p);
}

static void dump_expr(FILE *out, const Expr *e, int d);

static void type_suffix(FILE *out, const Expr *e) {
  fprintf(out, " : %s", tstr(&e->ty));
  if (e->cv.kind != CV_NONE) {
    fprintf(out, " = ");
    cv_print(out, &e->cv);
  }
  fprintf(out, "  @%d:%d\n", e->loc.line, e->loc.col);
}

static void dump_expr(FILE *out, const Expr *e, int d) {
  indent(out, d);
  switch (e->kind) {
  case EX_INT: fprintf(out, "int %lld", (long long)e->lit.i); break;
  case EX_FLOAT: fprintf(out, "float %g", e->lit.f); break;
  case EX_BOOL: fprintf(out, "bool %s", e->lit.i ? "true" : "false"); break;
  case EX_STRING: fprintf(out, "string \"%s\"\n", e->lit.s); return;
  case EX_NAME:
    fprintf(out, "name %s", e->name.id);
    break;
  case EX_UNARY:
    fprintf(out, "unary %s", e->un.op == UN_NEG ? "-" : e->un.op == UN_NOT ? "!" : "+");
    type_suffix(out, e);
    dump_expr(out, e->un.x, d + 1);
    return;
  case EX_BINARY:
    fprintf(out, "binary %s", binop_str(e->bin.op));
    type_suffix(out, e);
    dump_expr(out, e->bin.l, d + 1);
    dump_expr(out, e->bin.r, d + 1);
    return;
  case EX_CALL:
    if (e->call.callee) { /* T(...)(args): the derivative, then its arguments */
      fprintf(out, "apply");
      type_suffix(out, e);
      dump_expr(out, e->call.callee, d + 1);
      for (int i = 0; i < e->call.nargs; i++) dump_expr(out, e->call.args[i].value, d + 1);
      return;
    }
    fprintf(out, "call %s%s", e->call.name, e->call.fn ? " (user)" : "");
    if (e->call.attrs) dump_attrs(out, e->call.attrs);
    type_suffix(out, e);
    for (int i = 0; i < e->call.nargs; i++) {
      if (e->call.args[i].name) {
        indent(out, d + 1);
        fprintf(out, "%s =\n", e->call.args[i].name);
        dump_expr(out, e->call.args[i].value, d + 2);
      } else {
        dump_expr(out, e->call.args[i].value, d + 1);
      }
    }
    return;
  case EX_INDEX:
    fprintf(out, "index");
    for (int i = 0; i < e->index.nitems; i++) {
      const IndexItem *it = &e->index.items[i];
      if (it->kind == IX_AT)
        fprintf(out, it->dynamic ? " [dyn]" : " [%lld]", (long long)it->lo);
      else
        fprintf(out, " [%lld:%lld:%lld]", (long long)it->lo, (long long)it->hi, (long long)it->stride);
    }
    type_suffix(out, e);
    dump_expr(out, e->index.base, d + 1);
    for (int i = 0; i < e->index.nitems; i++)
      if (e->index.items[i].dynamic) dump_expr(out, e->index.items[i].start, d + 1);
    return;
  case EX_LIST:
    fprintf(out, "list");
    if (e->cv.kind == CV_LIST) {
      fprintf(out, " ");
      cv_print(out, &e->cv);
      fprintf(out, "\n");
      return;
    }
    fprintf(out, "\n");
    for (int i = 0; i < e->list.n; i++) dump_expr(out, e->list.elems[i], d + 1);
    return;
  }
  type_suffix(out, e);
}

static void dump_stmts(FILE *out, const Stmt *s, int d) {
  for (; s; s = s->next) {
    indent(out, d);
    switch (s->kind) {
    case ST_LET:
    case ST_VAR:
      if (s->let.nnames) {
        fprintf(out, "let (");
        for (int i = 0; i < s->let.nnames; i++)
          fprintf(out, "%s%s : %s", i ? ", " : "", s->let.names[i], s->let.syms ? tstr(&s->let.syms[i]->ty) : "?");
        fprintf(out, ")  @%d:%d\n", s->loc.line, s->loc.col);
      } else {
        fprintf(out, "%s %s : %s  @%d:%d\n", s->kind == ST_LET ? "let" : "var", s->let.name,
                s->let.sym ? tstr(&s->let.sym->ty) : "?", s->loc.line, s->loc.col);
      }
      dump_expr(out, s->let.init, d + 1);
      break;
    case ST_ASSIGN:
      if (s->assign.target->kind == EX_NAME)
        fprintf(out, "assign %s %c=  @%d:%d\n", s->assign.target->name.id,
                s->assign.op == '=' ? ' ' : s->assign.op, s->loc.line, s->loc.col);
      else
        fprintf(out, "assign <index>  @%d:%d\n", s->loc.line, s->loc.col);
      dump_expr(out, s->assign.value, d + 1);
      break;
    case ST_FOR:
      fprintf(out, "%sfor %s in %lld..%lld  @%d:%d\n", s->loop.checkpoint ? "checkpoint " : "", s->loop.var, (long long)s->loop.lo_v,
              (long long)s->loop.hi_v, s->loc.line, s->loc.col);
      dump_stmts(out, s->loop.body, d + 1);
      break;
    case ST_RETURN:
      fprintf(out, "return  @%d:%d\n", s->loc.line, s->loc.col);
      dump_expr(out, s->ret.value, d + 1);
      break;
    case ST_EXPR:
      fprintf(out, "expr  @%d:%d\n", s->loc.line, s->loc.col);
      dump_expr(out, s->expr.e, d + 1);
      break;
    }
  }
}

static void dump_fn(FILE *out, const FnDecl *f, int d) {
  indent(out, d);
  fprintf(out, "fn %s(", f->name);
  for (int i = 0; i < f->nargs; i++)
    fprintf(out, "%s%s: %s", i ? ", " : "", f->args[i].name, tstr(&f->args[i].ty));
  fprintf(out, ") -> %s  @%d:%d\n", tstr(&f->ret), f->loc.line, f->loc.col);
  dump_stmts(out, f->body, d + 1);
}

static void dump_const(FILE *out, const ConstDecl *k, int d) {
  indent(out, d);
  fprintf(out, "const %s = ", k->name);
  cv_print(out, &k->val);
  fprintf(out, "%s  @%d:%d\n", k->overridden ? " (from -D)" : "", k->loc.line, k->loc.col);
}

void ast_dump(FILE *out, const Program *p) {
  for (int i = 0; i < p->consts.n; i++) dump_const(out, p->consts.v[i], 0);
  for (int i = 0; i < p->fns.n; i++) dump_fn(out, p->fns.v[i], 0);
  for (int m = 0; m < p->models.n; m++) {
    const Model *md = p->models.v[m];
    fprintf(out, "model %s  @%d:%d\n", md->name, md->loc.line, md->loc.col);
    for (int i = 0; i < md->consts.n; i++) dump_const(out, md->consts.v[i], 1);
    for (int i = 0; i < md->params.n; i++) {
      const ParamDecl *pd = md->params.v[i];
      fprintf(out, "  param %s : %s = %s  @%d:%d\n", pd->name, tstr(&pd->ty), pd->spec.how ? pd->spec.how : "?",
              pd->loc.line, pd->loc.col);
    }
    for (int i = 0; i < md->fns.n; i++) dump_fn(out, md->fns.v[i], 1);
    if (md->train) {
      const TrainSpec *t = &md->train->spec;
      fprintf(out, "  train  @%d:%d\n", md->train->loc.line, md->train->loc.col);
      fprintf(out, "    minimize = %s\n", t->loss ? t->loss : "?");
      if (t->predict) fprintf(out, "    predict = %s\n", t->predict);
      if (t->generate) fprintf(out, "    generate = %s\n", t->generate);
      static const char *const opt[] = {"sgd", "adam", "adamw"};
      fprintf(out, "    optimizer = %s(lr=%g, momentum=%g, nesterov=%s, weight_decay=%g, beta1=%g, beta2=%g, eps=%g)\n",
              opt[t->opt.kind], t->opt.lr, t->opt.momentum, t->opt.nesterov ? "true" : "false",
              t->opt.weight_decay, t->opt.beta1, t->opt.beta2, t->opt.eps);
      fprintf(out, "    epochs = %lld\n", (long long)t->epochs);
      static const char *const dk[] = {"none", "idx", "npy", "csv", "text"};
      if (t->data.kind) fprintf(out, "    data = %s(\"%s\"%s%s%s)\n", dk[t->data.kind], t->data.path[0],
                                t->data.path[1] ? ", \"" : "", t->data.path[1] ? t->data.path[1] : "",
                                t->data.path[1] ? "\"" : "");
      if (t->test.kind) fprintf(out, "    test = %s(\"%s\"%s%s%s)\n", dk[t->test.kind], t->test.path[0],
                                t->test.path[1] ? ", \"" : "", t->test.path[1] ? t->test.path[1] : "",
                                t->test.path[1] ? "\"" : "");
    }
  }
}
