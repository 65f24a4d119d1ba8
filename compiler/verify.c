/* verify.c — the IR verifier. Recomputes what the IR states and compares:
 *
 *   - every operand is defined before its use, in its block or an enclosing
 *     one (structured SSA dominance), and every value is defined once;
 *   - operand and attribute counts match the op table;
 *   - result types equal what the op's shape rule computes;
 *   - blocks end with exactly one terminator: `return` with the function's
 *     result types, `yield` with a loop's carried and stacked values;
 *   - list links (prev/next/block) are consistent.
 *
 * Uses Value.id as scratch (1 = visible here, 0 = not). */
#include <string.h>

#include "ir.h"

typedef struct V {
  const Module *m;
  const Func *f;
  FILE *out;
  int errors;
} V;

static void report(V *v, const Inst *in, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(V *v, const Inst *in, const char *fmt, ...) {
  if (v->errors++ >= 20) return;
  fprintf(v->out, "verify: @%s", v->f->name);
  if (in) {
    fprintf(v->out, ": %s", op_info[in->op].name);
    if (in->pos.line) fprintf(v->out, " (%d:%d)", in->pos.line, in->pos.col);
  }
  fputs(": ", v->out);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(v->out, fmt, ap);
  va_end(ap);
  fputc('\n', v->out);
}

static void clear_marks(Block *b) {
  for (int i = 0; i < b->nargs; i++) b->args[i]->id = 0;
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nres; i++) in->res[i]->id = 0;
    for (int i = 0; i < in->nargs; i++) in->args[i]->id = 0;
    if (in->body) clear_marks(in->body);
  }
}

static void hide(Block *b) {
  for (int i = 0; i < b->nargs; i++) b->args[i]->id = 0;
  for (Inst *in = b->first; in; in = in->next)
    for (int i = 0; i < in->nres; i++) in->res[i]->id = 0;
}

static void verify_block(V *v, Block *b);

static void verify_for(V *v, Inst *in) {
  Block *body = in->body;
  if (!body || body->parent != in) {
    report(v, in, "loop body missing or not linked to its loop");
    return;
  }
  if (in->attr.ni != 5) {
    report(v, in, "a loop has 5 attributes (lo hi ncarry reverse checkpoint)");
    return;
  }
  int64_t lo = in->attr.i[0], hi = in->attr.i[1], nc = in->attr.i[2];
  if (hi < lo) report(v, in, "bounds %lld..%lld are reversed", (long long)lo, (long long)hi);
  if (nc != in->nargs) report(v, in, "ncarry is %lld but %d initial values are given", (long long)nc, in->nargs);
  if (body->nargs != in->nargs + 1) {
    report(v, in, "the body has %d arguments; expected the index and %d carried values", body->nargs, in->nargs);
    return;
  }
  if (!type_eq(&body->args[0]->ty, &(Type){.dtype = TY_I32})) report(v, in, "the loop index must be an i32 scalar");
  for (int k = 0; k < in->nargs; k++)
    if (!type_eq(&body->args[k + 1]->ty, &in->args[k]->ty))
      report(v, in, "carried value %d: the body argument is %s but the initial value is %s", k,
             tstr(&body->args[k + 1]->ty), tstr(&in->args[k]->ty));
  for (int i = 0; i < body->nargs; i++) body->args[i]->id = 1;
  verify_block(v, body);
  Inst *y = body->last;
  if (!y || y->op != OP_YIELD) {
    report(v, in, "the loop body does not end with yield");
  } else if (y->nargs != in->nres || in->nres < in->nargs) {
    report(v, in, "the loop has %d results but yields %d values", in->nres, y->nargs);
  } else {
    for (int k = 0; k < in->nres; k++) {
      Type want = y->args[k]->ty;
      if (k >= in->nargs) {
        if (want.rank == MAX_RANK) {
          report(v, in, "stacked value %d has the maximum rank", k);
          continue;
        }
        memmove(want.dim + 1, want.dim, sizeof(int64_t) * (size_t)want.rank);
        want.dim[0] = hi - lo;
        want.rank++;
      } else if (!type_eq(&y->args[k]->ty, &body->args[k + 1]->ty)) {
        report(v, in, "carried value %d enters as %s but is yielded as %s", k, tstr(&body->args[k + 1]->ty),
               tstr(&y->args[k]->ty));
      }
      if (!type_eq(&want, &in->res[k]->ty))
        report(v, in, "result %d is %s, but the yield gives %s", k, tstr(&in->res[k]->ty), tstr(&want));
    }
  }
  hide(body);
}

static void verify_block(V *v, Block *b) {
  Inst *prev = NULL;
  for (Inst *in = b->first; in; prev = in, in = in->next) {
    if (in->block != b || in->prev != prev) report(v, in, "instruction list links are broken");
    if ((int)in->op < 0 || in->op >= OP_COUNT) {
      report(v, NULL, "invalid opcode %d", (int)in->op);
      return;
    }
    for (int i = 0; i < in->nargs; i++) {
      if (!in->args[i]) report(v, in, "operand %d is missing", i);
      else if (in->args[i]->id != 1)
        report(v, in, "operand %d (%s) is used before it is defined or outside its scope", i,
               in->args[i]->name ? in->args[i]->name : "unnamed");
    }
    bool term = op_info[in->op].flags & F_TERMINATOR;
    if (term && in->next) report(v, in, "a terminator must end its block");
    if (in->op == OP_FOR) {
      verify_for(v, in);
    } else if (!term) {
      if (in->nres != 1) {
        report(v, in, "has %d results, not 1", in->nres);
      } else {
        Type t = in->res[0]->ty;
        char msg[256];
        if (!ir_infer(in, &t, 1, msg, sizeof msg)) report(v, in, "%s", msg);
        else if (!type_eq(&t, &in->res[0]->ty))
          report(v, in, "the result is %s but the shape rule gives %s", tstr(&in->res[0]->ty), tstr(&t));
      }
    } else if (in->op == OP_YIELD && !b->parent) {
      report(v, in, "yield outside a loop");
    } else if (in->op == OP_RETURN) {
      if (b->parent) report(v, in, "return inside a loop");
      if (in->nargs != v->f->nret) report(v, in, "returns %d values, the function has %d results", in->nargs, v->f->nret);
      else
        for (int k = 0; k < in->nargs; k++)
          if (in->args[k] && !type_eq(&in->args[k]->ty, &v->f->ret[k]))
            report(v, in, "result %d is declared %s but %s is returned", k, tstr(&v->f->ret[k]), tstr(&in->args[k]->ty));
    }
    for (int i = 0; i < in->nres; i++) {
      if (in->res[i]->id == 1) report(v, in, "result %d is defined twice", i);
      if (in->res[i]->def != in || in->res[i]->res != i) report(v, in, "result %d is not linked to its instruction", i);
      in->res[i]->id = 1;
    }
  }
  if (!b->last || !(op_info[b->last->op].flags & F_TERMINATOR))
    report(v, b->last, "the block does not end with %s", b->parent ? "yield" : "return");
}

bool ir_verify_func(const Module *m, const Func *f, FILE *out) {
  V v = {m, f, out, 0};
  clear_marks(f->body);
  for (int i = 0; i < f->body->nargs; i++) f->body->args[i]->id = 1;
  verify_block(&v, f->body);
  if (v.errors > 20) fprintf(out, "verify: @%s: %d more problems\n", f->name, v.errors - 20);
  return v.errors == 0;
}

bool ir_verify_module(const Module *m, FILE *out) {
  bool ok = true;
  for (int i = 0; i < m->nfuncs; i++)
    if (!ir_verify_func(m, m->funcs[i], out)) ok = false;
  return ok;
}
