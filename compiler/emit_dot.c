/* emit_dot.c — --emit=dot: the IR of a module as a Graphviz digraph.
 *
 * One cluster per function; one node per instruction, labelled with the
 * names --emit=ir / grad-ir prints (ir_names: %h.1 in the picture is %h.1
 * in the text), the op and the .nn line; its note (gradient code: which
 * primal instruction it comes from) is the node's tooltip. An edge runs
 * from the node defining a value to each instruction using it, labelled
 * with the value's type. Arguments are nodes of their own: inputs
 * (invhouse), parameters and optimizer state (cylinders), run-time scalars
 * (ellipses); the return is drawn as one node per result (house).
 *
 * A loop is a cluster (nested loops nest) holding its induction variable,
 * its carried values (an `init` edge in from outside, a `next` edge back
 * from the yield) and its body; its results are one node after the
 * cluster, fed by the yield.
 *
 * Colours say what code is for, found from the IR's own links: a value is
 * derivative code when it is an adjoint (Value.primal, set by grad.c), is
 * computed from one, or is used only by derivative code (the slope of
 * tanh, a tape read); optimizer code likewise starts at the train step's
 * optimizer state, learning rate and step. Each adjoint has a dashed edge
 * to its primal value.
 *
 * Graphviz puts a node in every subgraph that mentions it, so nodes are
 * written inside their clusters and all edges at the top level, after
 * them. */
#include "emit_dot.h"

#include <string.h>

#include "ptrmap.h"

enum { K_GRAD = 1, K_OPT = 2 };  /* what a value is for (bits; neither: forward code) */

typedef struct Dot {
  FILE *out;
  Arena *a;
  const Func *f;
  const IrNames *names;
  PtrMap node;      /* Value* -> number of the node defining it, + 1 */
  PtrMap kind;      /* Value* -> K_* bits (as intptr_t) */
  PtrMap users;     /* Value* -> PtrVec* of the Insts using it */
  PtrVec vals;      /* every value of f, in print order */
  PtrVec insts;     /* every instruction of f, in print order */
  PtrVec edges;     /* edge lines (char *), written after the nodes */
  PtrMap linked;    /* (adjoint node, primal node) pairs already joined */
  int nodes;        /* node numbers used so far (the whole graph) */
  int yield_node;   /* node of the last yield written */
} Dot;

/* ---- text ------------------------------------------------------------------ */

/* Inside a DOT "string": quotes and backslashes escaped; control and
 * non-ASCII bytes (only a file name can hold them) become '?', so the
 * output is ASCII whatever the input. */
static void esc(FILE *out, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fputc('\\', out);
    fputc(c < 0x20 || c >= 0x7F ? '?' : c, out);
  }
}

static void indent(Dot *d, int depth) {
  for (int i = 0; i < depth; i++) fputs("  ", d->out);
}

static const char *fill(int kind) {
  if (kind & K_OPT) return "#d8eed3";
  if (kind & K_GRAD) return "#f8d5c8";
  return "#dae7f5";
}

static const char *loop_fill(int kind) {
  if (kind & K_OPT) return "#f1f9ef";
  if (kind & K_GRAD) return "#fdf0eb";
  return "#f2f6fb";
}

/* ---- what each value is for ---------------------------------------------------- */

static int kind(Dot *d, const Value *v) { return (int)(intptr_t)pm_get(&d->kind, v); }

static bool add_kind(Dot *d, const Value *v, int k) {
  int old = kind(d, v);
  if ((old | k) == old) return false;
  pm_put(&d->kind, v, (void *)(intptr_t)(old | k));
  return true;
}

static void collect(Dot *d, Block *b) {
  for (int i = 0; i < b->nargs; i++) vec_push(d->a, &d->vals, b->args[i]);
  for (Inst *in = b->first; in; in = in->next) {
    vec_push(d->a, &d->insts, in);
    for (int i = 0; i < in->nargs; i++) {
      PtrVec *u = pm_get(&d->users, in->args[i]);
      if (!u) {
        u = NEW(d->a, PtrVec);
        pm_put(&d->users, in->args[i], u);
      }
      vec_push(d->a, u, in);
    }
    for (int i = 0; i < in->nres; i++) vec_push(d->a, &d->vals, in->res[i]);
    if (in->body) collect(d, in->body);
  }
}

/* A value computed from derivative (optimizer) code is derivative
 * (optimizer) code; a carried value and a loop result follow what the
 * loop starts from and yields. */
static bool flow_forward(Dot *d) {
  bool changed = false;
  for (int i = 0; i < d->insts.n; i++) {
    Inst *in = d->insts.v[i];
    if (in->op == OP_FOR) {
      Inst *y = in->body->last;
      for (int k = 0; k < in->nres; k++) {
        int ky = kind(d, y->args[k]) | (k < in->nargs ? kind(d, in->args[k]) : 0);
        changed |= add_kind(d, in->res[k], ky);
        if (k < in->nargs) changed |= add_kind(d, in->body->args[k + 1], ky);
      }
    } else if (!(op_info[in->op].flags & F_TERMINATOR)) {
      int k = 0;
      for (int j = 0; j < in->nargs; j++) k |= kind(d, in->args[j]);
      for (int r = 0; r < in->nres; r++) changed |= add_kind(d, in->res[r], k);
    }
  }
  return changed;
}

static int result_kind(Role r) {
  if (r.kind == RES_GRAD || r.kind == RES_INPUT_GRAD) return K_GRAD;
  if (r.kind == RES_NEW_PARAM || r.kind == RES_NEW_STATE) return K_OPT;
  return 0;
}

/* What the use of v by u is for (the kinds common to every operand slot
 * of u holding v). */
static int use_kind(Dot *d, const Inst *u, const Value *v) {
  int k = K_GRAD | K_OPT;
  for (int j = 0; j < u->nargs; j++) {
    if (u->args[j] != v) continue;
    if (u->op == OP_FOR) {
      k &= kind(d, u->body->args[j + 1]);
    } else if (u->op == OP_YIELD) {
      const Inst *loop = u->block->parent;
      k &= kind(d, loop->res[j]) | (j < loop->nargs ? kind(d, loop->body->args[j + 1]) : 0);
    } else if (u->op == OP_RETURN) {
      k &= result_kind(d->f->ret_role[j]);
    } else {
      k &= u->nres ? kind(d, u->res[0]) : 0;
    }
  }
  return k;
}

/* A value only derivative (optimizer) code uses is derivative (optimizer)
 * code. Function arguments stay what they are. */
static bool flow_backward(Dot *d) {
  bool changed = false;
  for (int i = d->vals.n - 1; i >= 0; i--) {
    Value *v = d->vals.v[i];
    if (!v->def && v->block == d->f->body) continue;
    PtrVec *u = pm_get(&d->users, v);
    if (!u || !u->n) continue;
    int k = K_GRAD | K_OPT;
    for (int j = 0; j < u->n && k; j++) k &= use_kind(d, u->v[j], v);
    if (k) changed |= add_kind(d, v, k);
  }
  return changed;
}

static void classify(Dot *d) {
  const Func *f = d->f;
  for (int i = 0; i < d->vals.n; i++) {
    const Value *v = d->vals.v[i];
    if (v->primal) add_kind(d, v, K_GRAD);
  }
  for (int i = 0; i < f->body->nargs; i++) {
    Role r = f->arg_role[i];
    if (r.kind == ARG_STATE || (r.kind == ARG_SCALAR && (r.index == SCALAR_LR || r.index == SCALAR_STEP)))
      add_kind(d, f->body->args[i], K_OPT);
  }
  /* the kinds only grow: this ends */
  for (bool changed = true; changed;) {
    changed = flow_forward(d);
    changed |= flow_backward(d);
  }
}

/* ---- nodes and edges --------------------------------------------------------------- */

static int new_node(Dot *d) { return d->nodes++; }

static void define(Dot *d, const Value *v, int node) { pm_put(&d->node, v, (void *)(intptr_t)(node + 1)); }

static int node_of(Dot *d, const Value *v) { return (int)(intptr_t)pm_get(&d->node, v) - 1; }

static void put_value(Dot *d, const Value *v) {
  fputc('%', d->out);
  esc(d->out, ir_name(d->names, v));
}

/* An edge from v's node to node `to`, labelled with v's type (and
 * `what`), with extra attributes. */
static void edge(Dot *d, const Value *v, int to, const char *what, const char *attrs) {
  int from = node_of(d, v);
  if (from < 0) die("emit_dot: a value used before its definition");
  vec_push(d->a, &d->edges, arena_printf(d->a, "  n%d -> n%d [xlabel=\"%s%s%s\"%s%s];\n", from, to, what ? what : "",
                                         what ? " " : "", tstr(&v->ty), attrs ? ", " : "", attrs ? attrs : ""));
}

static void put_pos(Dot *d, Pos p) {
  if (p.line) fprintf(d->out, "\\nline %d", p.line);
}

static void put_note(Dot *d, const char *note) {
  if (!note) return;
  fputs(", tooltip=\"", d->out);
  esc(d->out, note);
  fputc('"', d->out);
}

/* The dashed edge from an adjoint's node to its primal's, once per pair. */
static void link(Dot *d, int from, int to) {
  if (from < 0 || to < 0 || from == to) return;
  void *key = (void *)(((uintptr_t)(from + 1) << 32) | (uintptr_t)(to + 1));
  if (pm_has(&d->linked, key)) return;
  pm_put(&d->linked, key, (void *)1);
  vec_push(d->a, &d->edges,
           arena_printf(d->a, "  n%d -> n%d [style=dashed, color=\"#c0392b\", arrowhead=onormal, constraint=false];\n",
                        from, to));
}

static void block(Dot *d, const Block *b, int depth);

static void arg_node(Dot *d, const Value *v, Role r, int depth) {
  static const char *const what[] = {"input", "param", "state", "scalar", "grad"};
  static const char *const shape[] = {"invhouse", "cylinder", "cylinder", "ellipse", "cylinder"};
  int n = new_node(d);
  define(d, v, n);
  indent(d, depth);
  fprintf(d->out, "n%d [label=\"", n);
  put_value(d, v);
  fprintf(d->out, "\\n%s", what[r.kind]);
  if (r.kind != ARG_INPUT) fprintf(d->out, "(%d)", r.index);
  fprintf(d->out, " %s\", shape=%s, style=filled, fillcolor=\"%s\"];\n", tstr(&v->ty), shape[r.kind],
          r.kind == ARG_PARAM ? "#fff1c1" : fill(kind(d, v)));
}

static void return_nodes(Dot *d, const Inst *in, int depth) {
  static const char *const what[] = {"output", "loss", "grad", "input grad", "new param", "new state"};
  const Func *f = d->f;
  for (int k = 0; k < in->nargs; k++) {
    int n = new_node(d);
    Role r = k < f->nret ? f->ret_role[k] : (Role){RES_OUTPUT, 0};
    indent(d, depth);
    fprintf(d->out, "n%d [label=\"", n);
    if (k < f->nret && f->ret_name && f->ret_name[k]) {
      fputc('%', d->out);
      esc(d->out, f->ret_name[k]);
      fputs("\\n", d->out);
    }
    fputs(what[r.kind], d->out);
    if (r.kind != RES_OUTPUT && r.kind != RES_LOSS) fprintf(d->out, "(%d)", r.index);
    fprintf(d->out, "\", shape=house, style=filled, fillcolor=\"%s\"];\n", fill(result_kind(r)));
    edge(d, in->args[k], n, NULL, NULL);
    /* a gradient result: to the argument it is the gradient of, unless
     * the value returned already says so */
    if (r.kind != RES_GRAD && r.kind != RES_INPUT_GRAD) continue;
    for (int i = 0; i < f->body->nargs; i++) {
      Role a = f->arg_role[i];
      const Value *wrt = f->body->args[i];
      if (a.index == r.index && a.kind == (r.kind == RES_GRAD ? ARG_PARAM : ARG_INPUT) && in->args[k]->primal != wrt)
        link(d, n, node_of(d, wrt));
    }
  }
}

/* What a loop is for: what all its results are for. */
static int loop_kind(Dot *d, const Inst *loop) {
  int k = loop->nres ? K_GRAD | K_OPT : 0;
  for (int r = 0; r < loop->nres; r++) k &= kind(d, loop->res[r]);
  return k;
}

/* Start the node of instruction `in` (a loop: of its results): a new node
 * defining its results, its label up to the .nn line ("%a, %b = op 1.5\nline
 * 3"). The caller adds the colour and closes it. */
static int open_inst_node(Dot *d, const Inst *in, int depth) {
  int n = new_node(d);
  for (int r = 0; r < in->nres; r++) define(d, in->res[r], n);
  indent(d, depth);
  fprintf(d->out, "n%d [label=\"", n);
  for (int r = 0; r < in->nres; r++) {
    if (r) fputs(", ", d->out);
    put_value(d, in->res[r]);
  }
  fprintf(d->out, "%s%s", in->nres ? " = " : "", op_info[in->op].name);
  if (in->op == OP_CONST) fprintf(d->out, " %.6g", in->attr.f);
  put_pos(d, in->pos);
  return n;
}

static void loop(Dot *d, const Inst *in, int depth) {
  const Block *body = in->body;
  int k = loop_kind(d, in);
  indent(d, depth);
  fprintf(d->out, "subgraph cluster_%d {\n", new_node(d));
  indent(d, depth + 1);
  fputs("label=\"for ", d->out);
  put_value(d, body->args[0]);
  fprintf(d->out, " = %lld to %lld%s%s", (long long)in->attr.i[0], (long long)in->attr.i[1],
          in->attr.i[3] ? " reverse" : "", in->attr.i[4] ? " checkpoint" : "");
  put_pos(d, in->pos);
  fprintf(d->out, "\"; style=\"rounded,filled\"; fillcolor=\"%s\"; color=\"#8c9bab\";\n", loop_fill(k));
  int iv = new_node(d);
  define(d, body->args[0], iv);
  indent(d, depth + 1);
  fprintf(d->out, "n%d [label=\"", iv);
  put_value(d, body->args[0]);
  fprintf(d->out, "\", shape=ellipse, style=filled, fillcolor=\"%s\", fontsize=9];\n", fill(kind(d, body->args[0])));
  int *carry = NEW_ARRAY(d->a, int, in->nargs + 1);
  for (int j = 0; j < in->nargs; j++) {
    const Value *c = body->args[j + 1];
    carry[j] = new_node(d);
    define(d, c, carry[j]);
    indent(d, depth + 1);
    fprintf(d->out, "n%d [label=\"", carry[j]);
    put_value(d, c);
    fprintf(d->out, "\\ncarried\", shape=ellipse, style=filled, fillcolor=\"%s\"];\n", fill(kind(d, c)));
    edge(d, in->args[j], carry[j], "init", NULL);
  }
  block(d, body, depth + 1);
  int y = d->yield_node;
  const Inst *yi = body->last;
  for (int j = 0; j < in->nargs; j++)
    vec_push(d->a, &d->edges, arena_printf(d->a, "  n%d -> n%d [xlabel=\"next %s\", style=bold, constraint=false];\n", y,
                                           carry[j], tstr(&yi->args[j]->ty)));
  indent(d, depth);
  fputs("}\n", d->out);
  /* the results: final carried values, then the stacked ones */
  int n = open_inst_node(d, in, depth);
  fprintf(d->out, "\", shape=box3d, style=filled, fillcolor=\"%s\"", fill(k));
  put_note(d, in->note);
  fputs("];\n", d->out);
  char *types = arena_printf(d->a, "%s", "");
  for (int r = 0; r < in->nres; r++)
    types = arena_printf(d->a, "%s%s%s %s", types, r ? "\\n" : "", r < in->nargs ? "final" : "stacked", tstr(&in->res[r]->ty));
  vec_push(d->a, &d->edges, arena_printf(d->a, "  n%d -> n%d [xlabel=\"%s\"];\n", y, n, types));
}

static void inst(Dot *d, const Inst *in, int depth) {
  if (in->op == OP_FOR) {
    loop(d, in, depth);
    return;
  }
  if (in->op == OP_RETURN) {
    return_nodes(d, in, depth);
    return;
  }
  int n = open_inst_node(d, in, depth);
  int k = in->nres ? kind(d, in->res[0]) : 0;
  if (in->op == OP_YIELD) {
    k = loop_kind(d, in->block->parent);
    d->yield_node = n;
  }
  fprintf(d->out, "\", fillcolor=\"%s\"", fill(k));
  if (in->op == OP_CONST) fputs(", shape=ellipse, fontsize=8", d->out);
  put_note(d, in->note);
  fputs("];\n", d->out);
  for (int j = 0; j < in->nargs; j++) edge(d, in->args[j], n, NULL, NULL);
}

static void block(Dot *d, const Block *b, int depth) {
  for (const Inst *in = b->first; in; in = in->next) inst(d, in, depth);
}

/* Every adjoint drawn in this function, to its primal value when that is
 * drawn too (a pass may have removed it). */
static void primal_links(Dot *d) {
  for (int i = 0; i < d->vals.n; i++) {
    const Value *v = d->vals.v[i];
    if (v->primal) link(d, node_of(d, v), node_of(d, v->primal));
  }
}

static void func(Dot *d, const Func *f) {
  d->f = f;
  d->names = ir_names(d->a, f);
  pm_init(&d->node, d->a);
  pm_init(&d->kind, d->a);
  pm_init(&d->users, d->a);
  pm_init(&d->linked, d->a);
  d->vals = (PtrVec){0};
  d->insts = (PtrVec){0};
  collect(d, f->body);
  classify(d);
  fprintf(d->out, "  subgraph cluster_%d {\n    label=\"func @", new_node(d));
  esc(d->out, f->name);
  put_pos(d, f->pos);
  fputs("\"; style=rounded; color=\"#5b6b7b\"; fontsize=12;\n", d->out);
  for (int i = 0; i < f->body->nargs; i++) arg_node(d, f->body->args[i], f->arg_role[i], 2);
  block(d, f->body, 2);
  fputs("  }\n", d->out);
  primal_links(d);
}

/* Above this many instructions dot's full crossing minimization takes
 * minutes (tiny_gpt's 2,000): a bigger graph asks for a rougher layout. */
#define BIG_GRAPH 400

bool emit_dot(FILE *out, const Module *m, const char *only) {
  if (only && !ir_find_func(m, only)) return false;
  int ninst = 0;
  for (int i = 0; i < m->nfuncs; i++)
    if (!only || !strcmp(m->funcs[i]->name, only)) ninst += ir_count_insts(m->funcs[i]);
  Dot d = {.out = out, .a = arena_new()};
  fputs("digraph \"", out);
  esc(out, m->name ? m->name : "module");
  fputs("\" {\n  graph [label=\"model ", out);
  esc(out, m->name ? m->name : "?");
  if (m->file) {
    fputs(" (", out);
    esc(out, m->file);
    fputc(')', out);
  }
  fputs(": blue forward, red derivative, green optimizer code; dashed: adjoint to its primal\", labelloc=t, "
        "fontname=\"Helvetica\", fontsize=14, newrank=true, nodesep=0.3, ranksep=0.35];\n",
        out);
  if (ninst > BIG_GRAPH) fputs("  graph [mclimit=0.2, nslimit=2, nslimit1=2];\n", out);
  fputs("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, color=\"#5b6b7b\"];\n"
        "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#66707a\", fontcolor=\"#44505c\"];\n",
        out);
  for (int i = 0; i < m->nfuncs; i++)
    if (!only || !strcmp(m->funcs[i]->name, only)) func(&d, m->funcs[i]);
  for (int i = 0; i < d.edges.n; i++) fputs(d.edges.v[i], out);
  fputs("}\n", out);
  arena_free(d.a);
  return true;
}
