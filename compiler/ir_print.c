/* ir_print.c — the IR text format (ir_parse.c reads it back exactly).
 *
 *   module @fashion_mlp "fashion_mlp.nn"
 *   param @W1 : f32[784,256] = normal(0, 0.0505)
 *   func @loss(%W1: f32[784,256] param(0), %x: f32[128,784]) -> (%loss: f32 loss) {
 *     %0 = matmul %x, %W1 {ta=0, tb=0} : f32[128,256]  # 18:19
 *     %h, %hs = for %t = 0 to 64 carry(%h.0 = %3, %hs.0 = %4) : f32[32,256], f32[32,64,256] {  # 22:5
 *       ...
 *       yield %h.1, %hs.1
 *     }
 *     return %9
 *   }
 *
 * Values print by name (made unique within the function with .N suffixes)
 * or by number. `# line:col note` trails an instruction: its .nn position
 * and, in gradient code, which primal instruction it comes from. Floats
 * print in the shortest form that reads back to the same double. The
 * train block, when the module has one, follows the parameters:
 *
 *   train {
 *     minimize = @loss
 *     optimizer = adam(lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-08, weight_decay = 0)
 *     schedule = cosine(warmup = 100, min_lr = 0)
 *     epochs = 5
 *     seed = 42
 *     data = idx(features = "train-images.gz", labels = "train-labels.gz", scale = 0.00392...)
 *   }
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "strmap.h"

/* Shortest %g that round-trips. */
static void fmt_double(char *buf, size_t n, double v) {
  if (isinf(v)) {
    snprintf(buf, n, v > 0 ? "inf" : "-inf");
    return;
  }
  if (isnan(v)) {
    snprintf(buf, n, "nan");
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

/* ---- naming ------------------------------------------------------------ */

/* Names in use (strmap.h), and for each name the next .N suffix to try
 * when it is taken again, so that a name given to thousands of values
 * (a var updated in a long function) is made unique in linear time. */
typedef struct Namer {
  Arena *a;
  StrMap used;         /* printed name -> (void *)1 */
  StrMap next;         /* name -> next suffix to try (as intptr_t) */
  int counter;         /* for unnamed values */
} Namer;

static bool all_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

/* The printed names of one function's values, indexed by Value.id (see
 * ir_names in ir.h). */
struct IrNames {
  Namer nm;
  const char **names;
  int nnames, capnames;
};

static void assign(IrNames *p, Value *v) {
  const char *s;
  if (v->name && !all_digits(v->name)) {
    s = v->name;
    if (sm_get(&p->nm.used, s)) {
      void **next = sm_slot(&p->nm.next, v->name);
      for (intptr_t k = *next ? (intptr_t)*next : 1;; k++) {
        char *t = arena_printf(p->nm.a, "%s.%ld", v->name, (long)k);
        if (!sm_get(&p->nm.used, t)) {
          s = t;
          *next = (void *)(k + 1);
          break;
        }
      }
    }
  } else {
    s = arena_printf(p->nm.a, "%d", p->nm.counter++);
  }
  sm_put(&p->nm.used, s, (void *)1);
  if (p->nnames == p->capnames) {
    int cap = p->capnames ? p->capnames * 2 : 256;
    const char **nn = NEW_ARRAY(p->nm.a, const char *, cap);
    if (p->nnames) memcpy(nn, p->names, sizeof(char *) * (size_t)p->nnames);
    p->names = nn;
    p->capnames = cap;
  }
  v->id = p->nnames;
  p->names[p->nnames++] = s;
}

/* Names are given in print order: the arguments, then each instruction's
 * results (a loop's results, then its body's arguments, then its body). */
static void name_block(IrNames *p, const Block *b) {
  for (const Inst *in = b->first; in; in = in->next) {
    if (op_info[in->op].flags & F_TERMINATOR) continue;
    for (int i = 0; i < in->nres; i++) assign(p, in->res[i]);
    if (in->op != OP_FOR) continue;
    for (int i = 0; i < in->body->nargs; i++) assign(p, in->body->args[i]);
    name_block(p, in->body);
  }
}

IrNames *ir_names(Arena *a, const Func *f) {
  IrNames *p = NEW(a, IrNames);
  p->nm.a = a;
  sm_init(&p->nm.used, a);
  sm_init(&p->nm.next, a);
  for (int i = 0; i < f->body->nargs; i++) assign(p, f->body->args[i]);
  name_block(p, f->body);
  return p;
}

const char *ir_name(const IrNames *p, const Value *v) {
  if (v->id < 0 || v->id >= p->nnames || !p->names) return "<?>";
  return p->names[v->id];
}

typedef struct Printer {
  FILE *out;
  const IrNames *names;
  const Module *m;
} Printer;

static const char *vname(Printer *p, const Value *v) { return ir_name(p->names, v); }

/* ---- pieces -------------------------------------------------------------- */

static void print_type(FILE *out, const Type *t) { fputs(tstr(t), out); }

static void print_attrs(Printer *p, const Inst *in) {
  const char *s = op_info[in->op].attrs;
  if (!*s) return;
  FILE *out = p->out;
  int k = 0;
  bool first = true;
  fputs(" {", out);
  while (*s) {
    while (*s == ' ') s++;
    if (!*s) break;
    const char *e = s;
    while (*e && *e != ' ' && *e != '[' && *e != ':') e++;
    int len = (int)(e - s);
    fprintf(out, "%s%.*s=", first ? "" : ", ", len, s);
    first = false;
    if (*e == ':') {
      char buf[64];
      fmt_double(buf, sizeof buf, in->attr.f);
      fputs(buf, out);
      e += 2;
    } else if (*e == '[') {
      int n;
      if (e[1] == '*') n = in->attr.ni - k;
      else if (e[1] == 'r') n = in->nargs ? in->args[0]->ty.rank : 0;
      else n = e[1] - '0';
      fputc('[', out);
      for (int i = 0; i < n && k < in->attr.ni; i++) fprintf(out, i ? ",%lld" : "%lld", (long long)in->attr.i[k++]);
      fputc(']', out);
      e += 3;
    } else {
      fprintf(out, "%lld", (long long)(k < in->attr.ni ? in->attr.i[k] : 0));
      k++;
    }
    s = e;
  }
  fputc('}', out);
}

static void print_trailer(Printer *p, const Inst *in) {
  if (!in->pos.line && !in->note) return;
  fprintf(p->out, "  # %d:%d", in->pos.line, in->pos.col);
  if (in->note) fprintf(p->out, " %s", in->note);
}

static void indent(FILE *out, int d) {
  for (int i = 0; i < d; i++) fputs("  ", out);
}

static void print_block(Printer *p, const Block *b, int depth);

static void print_inst(Printer *p, const Inst *in, int depth) {
  FILE *out = p->out;
  indent(out, depth);
  if (in->op == OP_FOR) {
    const Block *body = in->body;
    for (int i = 0; i < in->nres; i++) fprintf(out, "%s%%%s", i ? ", " : "", vname(p, in->res[i]));
    fprintf(out, "%sfor%s%s %%%s = %lld to %lld", in->nres ? " = " : "", in->attr.i[3] ? " reverse" : "",
            in->attr.i[4] ? " checkpoint" : "",
            vname(p, body->args[0]), (long long)in->attr.i[0], (long long)in->attr.i[1]);
    if (in->nargs) {
      fputs(" carry(", out);
      for (int i = 0; i < in->nargs; i++)
        fprintf(out, "%s%%%s = %%%s", i ? ", " : "", vname(p, body->args[i + 1]), vname(p, in->args[i]));
      fputc(')', out);
    }
    if (in->nres) {
      fputs(" :", out);
      for (int i = 0; i < in->nres; i++) {
        fputs(i ? ", " : " ", out);
        print_type(out, &in->res[i]->ty);
      }
    }
    fputs(" {", out);
    print_trailer(p, in);
    fputc('\n', out);
    print_block(p, body, depth + 1);
    indent(out, depth);
    fputs("}\n", out);
    return;
  }
  if (op_info[in->op].flags & F_TERMINATOR) {
    fputs(op_info[in->op].name, out);
    for (int i = 0; i < in->nargs; i++) fprintf(out, "%s%%%s", i ? ", " : " ", vname(p, in->args[i]));
    print_trailer(p, in);
    fputc('\n', out);
    return;
  }
  for (int i = 0; i < in->nres; i++) fprintf(out, "%s%%%s", i ? ", " : "", vname(p, in->res[i]));
  fprintf(out, " = %s", op_info[in->op].name);
  for (int i = 0; i < in->nargs; i++) fprintf(out, "%s%%%s", i ? ", " : " ", vname(p, in->args[i]));
  print_attrs(p, in);
  fputs(" : ", out);
  print_type(out, &in->res[0]->ty);
  print_trailer(p, in);
  fputc('\n', out);
}

static void print_block(Printer *p, const Block *b, int depth) {
  for (const Inst *in = b->first; in; in = in->next) print_inst(p, in, depth);
}

static void print_role(FILE *out, Role r, bool result) {
  static const char *const arg_roles[] = {"", "param", "state", "scalar", "grad"};
  static const char *const res_roles[] = {"", "loss", "grad", "input_grad", "new_param", "new_state"};
  if (!result) {
    if (r.kind == ARG_INPUT) return;
    if (r.kind == ARG_SCALAR) fprintf(out, " scalar(%d)", r.index);
    else fprintf(out, " %s(%d)", arg_roles[r.kind], r.index);
  } else {
    if (r.kind == RES_OUTPUT) return;
    if (r.kind == RES_LOSS) fputs(" loss", out);
    else fprintf(out, " %s(%d)", res_roles[r.kind], r.index);
  }
}

void ir_print_func(FILE *out, const Module *m, const Func *f) {
  Arena *a = arena_new();
  Printer p = {.out = out, .names = ir_names(a, f), .m = m};
  fprintf(out, "func @%s(", f->name);
  for (int i = 0; i < f->body->nargs; i++) {
    Value *v = f->body->args[i];
    fprintf(out, "%s%%%s: ", i ? ", " : "", vname(&p, v));
    print_type(out, &v->ty);
    print_role(out, f->arg_role[i], false);
  }
  fputs(") -> (", out);
  for (int i = 0; i < f->nret; i++) {
    if (i) fputs(", ", out);
    if (f->ret_name && f->ret_name[i]) fprintf(out, "%%%s: ", f->ret_name[i]);
    print_type(out, &f->ret[i]);
    print_role(out, f->ret_role[i], true);
  }
  fprintf(out, ")%s {", f->is_grad ? " grad" : "");
  if (f->pos.line) fprintf(out, "  # %d:%d", f->pos.line, f->pos.col);
  fputc('\n', out);
  print_block(&p, f->body, 1);
  fputs("}\n", out);
  arena_free(a);
}

void ir_print_init(FILE *out, const InitSpec *s) {
  char a[64], b[64];
  fmt_double(a, sizeof a, s->a);
  fmt_double(b, sizeof b, s->b);
  switch (s->kind) {
  case INIT_ZEROS: fputs("zeros()", out); break;
  case INIT_ONES: fputs("ones()", out); break;
  case INIT_CONST: fprintf(out, "constant(%s)", a); break;
  case INIT_UNIFORM: fprintf(out, "uniform(%s, %s)", a, b); break;
  case INIT_NORMAL: fprintf(out, "normal(%s, %s)", a, b); break;
  case INIT_TRUNC_NORMAL: fprintf(out, "trunc_normal(%s, %s)", a, b); break;
  }
}

/* ---- the train block ------------------------------------------------------ */

static void print_str(FILE *out, const char *s) {
  fputc('"', out);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

/* " name = V" with V in the shortest form that reads back */
static void print_num(FILE *out, const char *sep, const char *name, double v) {
  char buf[64];
  fmt_double(buf, sizeof buf, v);
  fprintf(out, "%s%s = %s", sep, name, buf);
}

static void print_data(FILE *out, const char *key, const DataSpec *d) {
  if (d->kind == DATA_NONE) return;
  fprintf(out, "  %s = %s(", key, spec_data_names[d->kind]);
  if (d->kind == DATA_IDX || d->kind == DATA_NPY) {
    fputs("features = ", out);
    print_str(out, d->path[0]);
    fputs(", labels = ", out);
    print_str(out, d->path[1]);
    print_num(out, ", ", "scale", d->scale);
  } else {
    fputs("path = ", out);
    print_str(out, d->path[0]);
    if (d->kind == DATA_CSV) fprintf(out, ", label = %lld", (long long)d->label_col), print_num(out, ", ", "scale", d->scale);
    else print_num(out, ", ", "split", d->split);
  }
  fputs(")\n", out);
}

/* The train block as the .nn source writes it, with every setting that
 * reaches the training program (defaults included, so the text says all
 * of it) and functions by @name. */
void ir_print_train(FILE *out, const TrainSpec *t) {
  fputs("train {\n", out);
  fprintf(out, "  minimize = @%s\n", t->loss);
  if (t->predict) fprintf(out, "  predict = @%s\n", t->predict);
  if (t->generate) fprintf(out, "  generate = @%s\n", t->generate);
  const OptSpec *o = &t->opt;
  fprintf(out, "  optimizer = %s(", spec_opt_names[o->kind]);
  print_num(out, "", "lr", o->lr);
  if (o->kind == OPT_SGD) {
    print_num(out, ", ", "momentum", o->momentum);
    fprintf(out, ", nesterov = %s", o->nesterov ? "true" : "false");
  } else {
    print_num(out, ", ", "beta1", o->beta1);
    print_num(out, ", ", "beta2", o->beta2);
    print_num(out, ", ", "eps", o->eps);
  }
  print_num(out, ", ", "weight_decay", o->weight_decay);
  fputs(")\n", out);
  const SchedSpec *s = &t->sched;
  fprintf(out, "  schedule = %s(", spec_sched_names[s->kind]);
  if (s->kind == SCHED_STEP) fprintf(out, "every = %lld", (long long)s->every), print_num(out, ", ", "gamma", s->gamma);
  if (s->kind == SCHED_COSINE) fprintf(out, "warmup = %lld", (long long)s->warmup), print_num(out, ", ", "min_lr", s->min_lr);
  fputs(")\n", out);
  fprintf(out, "  epochs = %lld\n", (long long)t->epochs);
  if (t->clip_norm > 0) print_num(out, "  ", "clip_grad_norm", t->clip_norm), fputc('\n', out);
  if (t->max_tape_bytes > 0) fprintf(out, "  max_tape_bytes = %lld\n", (long long)t->max_tape_bytes);
  fprintf(out, "  seed = %llu\n", (unsigned long long)t->seed);
  print_data(out, "data", &t->data);
  print_data(out, "test", &t->test);
  fputs("}\n", out);
}

void ir_print_module(FILE *out, const Module *m) {
  fprintf(out, "module @%s", m->name);
  if (m->file) {
    fputs(" \"", out);
    for (const char *s = m->file; *s; s++) {
      if (*s == '"' || *s == '\\') fputc('\\', out);
      fputc(*s, out);
    }
    fputc('"', out);
  }
  fputc('\n', out);
  for (int i = 0; i < m->nparams; i++) {
    const IrParam *pa = &m->params[i];
    fprintf(out, "param @%s : ", pa->name);
    print_type(out, &pa->ty);
    fputs(" = ", out);
    ir_print_init(out, &pa->init);
    if (pa->pos.line) fprintf(out, "  # %d:%d", pa->pos.line, pa->pos.col);
    fputc('\n', out);
  }
  if (m->train && m->train->loss) {
    fputc('\n', out);
    ir_print_train(out, m->train);
  }
  for (int i = 0; i < m->nfuncs; i++) {
    fputc('\n', out);
    ir_print_func(out, m, m->funcs[i]);
  }
}
