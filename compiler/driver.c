/* driver.c — the pipeline behind each nnc command:
 *
 *   read -> parse -> check -> (summary | ast | ...)
 */
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ast.h"
#include "pipeline.h"
#include "plan.h"
#include "backend.h"
#include "emit_dot.h"
#include "emit_lib.h"
#include "emit_python.h"
#include "rt_core.h"
#include "rt_io.h"
#include "trainstep.h"

/* Larger sources are refused outright: no real model is near this. */
#define MAX_SOURCE_BYTES ((size_t)64 << 20)

char *read_file(const char *path, size_t limit, size_t *len, const char **why) {
  struct stat st;
  if (stat(path, &st) != 0) {
    *why = strerror(errno);
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    *why = "is a directory";
    return NULL;
  }
  /* not rt_file_read_all: a source may come from a pipe (`nnc <(gen)`) */
  FILE *f = fopen(path, "rb");
  if (!f) {
    *why = strerror(errno);
    return NULL;
  }
  uint8_t *buf;
  nn_status s = rt_file_read_stream(f, path, limit, S_ISREG(st.st_mode) ? (size_t)st.st_size : 0,
                                    &buf, len);
  fclose(f);
  if (s != NN_OK) {
    *why = s == NN_ERR_RANGE ? "file is too large" : s == NN_ERR_NOMEM ? "out of memory" : "read error";
    return NULL;
  }
  return (char *)buf;
}

int driver_front(const Options *o, Arena *a, Arena *tree, Diag *d, char **src_out, Program **prog) {
  size_t len = 0;
  const char *why = NULL;
  char *src = read_file(o->input, MAX_SOURCE_BYTES, &len, &why);
  *src_out = src;
  diag_init(d, o->input, src, len, stderr, o->color);
  d->max_errors = o->max_errors;
  if (!src) {
    diag_error(d, loc_none(), "cannot read the file: %s", why);
    return 1;
  }
  Program *p = parse_program(tree, a, d, src, len);
  if (d->nerrors) return 1;
  if (!check_program(tree, d, p, o->defs, o->ndefs)) return 1;
  *prog = p;
  return 0;
}

static void print_count(FILE *out, long long n) {
  if (n >= 1000) {
    print_count(out, n / 1000);
    fprintf(out, ",%03lld", n % 1000);
  } else {
    fprintf(out, "%lld", n);
  }
}

static void print_summary(FILE *out, const char *path, const Program *p) {
  const Model *m = p->model;
  long long total = 0;
  size_t bytes = 0;
  for (int i = 0; i < m->params.n; i++) {
    const ParamDecl *pd = m->params.v[i];
    total += type_numel(&pd->ty);
    bytes += type_bytes(&pd->ty);
  }
  fprintf(out, "%s: model %s: %d parameter tensors, ", path, m->name, m->params.n);
  print_count(out, total);
  fprintf(out, " values (%.2f MiB)\n", (double)bytes / (1 << 20));
  int w = 4;
  for (int i = 0; i < m->params.n; i++) {
    int l = (int)strlen(((const ParamDecl *)m->params.v[i])->name);
    if (l > w) w = l;
  }
  for (int i = 0; i < m->params.n; i++) {
    const ParamDecl *pd = m->params.v[i];
    fprintf(out, "  %-*s  %-18s %12lld  %s\n", w, pd->name, tstr(&pd->ty), (long long)type_numel(&pd->ty),
            pd->spec.how);
  }
  for (int i = 0; i < m->fns.n; i++) {
    const FnDecl *f = m->fns.v[i];
    fprintf(out, "  fn %s(", f->name);
    for (int k = 0; k < f->nargs; k++) fprintf(out, "%s%s: %s", k ? ", " : "", f->args[k].name, tstr(&f->args[k].ty));
    fprintf(out, ") -> %s\n", tstr(&f->ret));
  }
  if (m->train) {
    const TrainSpec *t = &m->train->spec;
    fprintf(out, "  train: minimize %s with %s(lr=%g), %lld epoch%s\n", t->loss ? t->loss : "?",
            spec_opt_names[t->opt.kind], t->opt.lr, (long long)t->epochs, t->epochs == 1 ? "" : "s");
  }
}

/* --stats: the static memory plan of every function, as the backend will
 * lay it out (plan.c), and the model's buffers. */
static void print_memory(FILE *out, const Compiled *c) {
  const Module *m = c->m;
  size_t pbytes = 0;
  for (int i = 0; i < m->nparams; i++) pbytes += (type_bytes(&m->params[i].ty) + 63) / 64 * 64;
  size_t ws = 0, tapes = 0;
  int nstate = 0;
  fprintf(out, "%-24s %14s\n", "function", "workspace");
  for (int i = 0; i < m->nfuncs; i++) {
    if (!strcmp(m->funcs[i]->name, "train_step")) {
      for (int k = 0; k < m->funcs[i]->body->nargs; k++) nstate += m->funcs[i]->arg_role[k].kind == ARG_STATE;
      /* the backend does not lower its body (llvm_module.c gen_train_step) */
      const Func *g = train_step_grad(m);
      fprintf(out, "%-24s %14d bytes (runs %s, then apply_update)\n", "train_step", 0, g ? g->name : "?");
      continue;
    }
    const Plan *pl = compiled_plan(c, m->funcs[i]);
    fprintf(out, "%-24s %14zu bytes (%d buffers, %zu bytes kernel scratch", m->funcs[i]->name, pl->ws_bytes,
            pl->nvalues, pl->scratch_bytes);
    if (pl->tape_bytes) fprintf(out, ", %zu bytes pooling argmax tapes", pl->tape_bytes);
    if (pl->ngroups) {
      int nm = 0;
      for (int k = 0; k < pl->groups.cap; k++)
        if (pl->groups.keys[k]) nm += ((const PlanGroup *)pl->groups.vals[k])->n;
      fprintf(out, ", %d elementwise loops computing %d values", pl->ngroups, nm);
    }
    if (pl->nprepack)
      fprintf(out, ", %d loop-invariant matmul operand%s packed once per loop", pl->nprepack, pl->nprepack == 1 ? "" : "s");
    if (pl->npooled)
      fprintf(out, ", %d pooling gradient%s expanded inside convolution gradients", pl->npooled,
              pl->npooled == 1 ? "" : "s");
    fprintf(out, ")\n");
    if (pl->ws_bytes > ws) ws = pl->ws_bytes;
  }
  for (int i = 0; i < c->nprimal; i++) tapes += c->grads[i].tape_bytes;
  fprintf(out, "memory per object: parameters %zu bytes, gradients %zu, optimizer state %zu, workspace %zu "
               "(loop tapes inside it: %zu)\n",
          pbytes, pbytes, m->nparams ? (size_t)(nstate / m->nparams) * pbytes : 0, ws, tapes);
}

/* FNV-1a, recorded in libraries so a checkpoint can name its source. */
static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static const char *basename_of(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Where an output of kind `ext` goes: -o when it is the only output, else
 * NAME.ext (libNAME.so for libraries) in the current directory. */
static char *out_path(const Options *o, const char *name, const char *ext, bool single) {
  char buf[1024];
  if (o->output && single) return strdup(o->output);
  if (!strcmp(ext, "so")) snprintf(buf, sizeof buf, "lib%s.so", name);
  else snprintf(buf, sizeof buf, "%s.%s", name, ext);
  return strdup(buf);
}

/* The module as an object file in /tmp, linked into `out` (an executable,
 * or a shared library): 0, or 1 with the error reported. */
static int emit_linked(CodeGen *cg, const char *out, bool shared, Diag *d) {
  char err[512], obj[] = "/tmp/nnc-XXXXXX.o";
  int fd = mkstemps(obj, 2);
  if (fd < 0) {
    diag_error(d, loc_none(), "cannot create a temporary file: %s", strerror(errno));
    return 1;
  }
  close(fd);
  int rc = 0;
  if (!codegen_emit(cg, CG_OBJ, obj, err, sizeof err) || link_outputs(obj, out, shared, NULL, err, sizeof err)) {
    diag_error(d, loc_none(), "%s", err);
    rc = 1;
  }
  unlink(obj);
  return rc;
}

int driver_emit_native(const Options *o, Diag *d, const Compiled *c, const Program *p, const char *src, size_t len,
                       Arena *release) {
  char hash[32], info[512], triple[128], cpu[64];
  snprintf(hash, sizeof hash, "fnv1a64:%016llx", (unsigned long long)fnv1a(src, len));
  backend_host(triple, sizeof triple, cpu, sizeof cpu);
  snprintf(info, sizeof info, "nnc %s; -O%d%s; target %s; cpu %s; source %s %s", NNC_VERSION, o->opt_level,
           o->fast_math ? " -ffast-math" : "", o->triple ? o->triple : triple, o->cpu ? o->cpu : cpu,
           basename_of(o->input), hash);
  BackendOpts bo = {.opt_level = o->opt_level, .triple = o->triple, .cpu = o->cpu, .fast_math = o->fast_math,
                    .name = o->name, .build_info = info, .source_hash = hash, .pic = true,
                    .with_main = (o->emit & EMIT_EXE) != 0};
  if ((o->emit & EMIT_EXE) && !(c->m->train && c->m->train->loss)) {
    diag_error(d, loc_none(), "--emit=exe needs a model with a train block");
    arena_free(release);
    return 1;
  }
  if ((o->emit & EMIT_EXE) && (o->emit & EMIT_LIB)) {
    diag_error(d, loc_none(), "--emit=exe and --emit=%s cannot be combined (the program defines main)",
               o->emit & EMIT_PYTHON ? "python" : "lib");
    arena_free(release);
    return 1;
  }
  CodeGen *cg = codegen_module(c, &bo, d);
  if (!cg) {
    arena_free(release);
    return 1;
  }
  /* what the library's header says comes from the IR: made now, so that
   * the IR can go before LLVM's passes and code generation need memory */
  char *header = o->emit & EMIT_LIB ? header_text(cg, c, basename_of(o->input)) : NULL;
  if (release) {
    arena_free(release);
    c = NULL;
  }
  const char *name = codegen_prefix(cg);
  int kinds = 0;
  for (unsigned k = EMIT_LLVM_IR; k <= EMIT_EXE; k <<= 1) kinds += (o->emit & k) != 0;
  bool single = kinds == 1;
  char err[512];
  int rc = 0;
  struct { unsigned bit; CgOutput kind; const char *ext; } files[] = {
      {EMIT_LLVM_IR, CG_LLVM_IR, "ll"}, {EMIT_ASM, CG_ASM, "s"}, {EMIT_OBJ, CG_OBJ, "o"}};
  for (int i = 0; i < 3 && !rc; i++) {
    if (!(o->emit & files[i].bit)) continue;
    char *path = out_path(o, name, files[i].ext, single);
    if (!codegen_emit(cg, files[i].kind, path, err, sizeof err)) {
      diag_error(d, loc_none(), "%s", err);
      rc = 1;
    }
    free(path);
  }
  if (!rc && (o->emit & EMIT_EXE)) {
    char *exe = o->output && single ? strdup(o->output) : strdup(name);
    rc = emit_linked(cg, exe, false, d);
    free(exe);
  }
  if (!rc && (o->emit & EMIT_LIB)) {
    char *so = out_path(o, name, "so", single);
    rc = emit_linked(cg, so, true, d);
    if (!rc) {
      /* the header goes beside the library */
      char hdr[1200];
      const char *slash = strrchr(so, '/');
      if (slash) snprintf(hdr, sizeof hdr, "%.*s/%s.h", (int)(slash - so), so, name);
      else snprintf(hdr, sizeof hdr, "%s.h", name);
      if (!write_text(hdr, header, err, sizeof err)) {
        diag_error(d, loc_none(), "%s", err);
        rc = 1;
      }
      if (!rc && (o->emit & EMIT_PYTHON)) {
        /* and the module NAME.py, which loads the library by its file name */
        char py[1200];
        snprintf(py, sizeof py, "%.*s.py", (int)(strlen(hdr) - 2), hdr);
        PySource ps = {basename_of(o->input), src, len, p->model->loc.line};
        if (!write_python(cg, c, py, basename_of(so), &ps, err, sizeof err)) {
          diag_error(d, loc_none(), "%s", err);
          rc = 1;
        }
      }
    }
    free(so);
  }
  free(header);
  codegen_free(cg);
  return rc;
}

int driver_run(const Options *o) {
  Arena *a = arena_new();
  Arena *tree = arena_new(); /* the tree and the checker's tables: freed once irgen has read them */
  Diag d;
  char *src = NULL;
  Program *p = NULL;
  int rc = driver_front(o, a, tree, &d, &src, &p);
  Compiled *c = NULL;
  if (rc == 0 && (o->emit & ~EMIT_AST || o->stats)) {
    CompileOpts co = {.verify = o->verify,
                      .dump = o->dump,
                      .no_opt = o->no_opt,
                      .max_tape_bytes = o->max_tape_bytes,
                      .name = o->name};
    /* only the text outputs and --stats show train_step's body */
    co.no_train_step_body = !(o->emit & EMIT_TEXT) && !o->stats;
    c = compile_module(a, &d, p, o->input, &co);
    if (!c->ok) rc = 1;
  }
  /* a derivative that cannot be taken is found while lowering, and a C
   * name taken twice once the gradients exist: check compiles (unoptimized) */
  if (rc == 0 && !c) {
    CompileOpts co = {.no_opt = true, .no_train_step_body = true, .max_tape_bytes = o->max_tape_bytes, .name = o->name};
    if (!compile_module(a, &d, p, o->input, &co)->ok) rc = 1;
  }
  /* only --emit=ast, python (which quotes the model) and check's summary
   * read the tree from here on */
  if (!(o->emit & (EMIT_AST | EMIT_PYTHON)) && !(o->cmd == CMD_CHECK && !o->emit && !o->stats)) {
    arena_free(tree);
    tree = NULL;
    p = NULL;
  }
  bool text = (o->emit & EMIT_TEXT) || o->stats || (o->cmd == CMD_CHECK && !o->emit);
  if (rc == 0 && (o->emit & EMIT_NATIVE)) {
    /* only the text outputs and python's read the module after LLVM has
     * it: without them, driver_emit_native frees it (arena a) then */
    bool release = !text && !(o->emit & EMIT_PYTHON);
    rc = driver_emit_native(o, &d, c, p, src, d.len, release ? a : NULL);
    if (release) a = NULL, c = NULL;
  }
  if (rc == 0 && text) {
    FILE *out = stdout;
    bool to_file = o->output && !(o->emit & EMIT_NATIVE);
    if (to_file) {
      out = fopen(o->output, "w");
      if (!out) {
        fprintf(stderr, "nnc: error: cannot write '%s': %s\n", o->output, strerror(errno));
        rc = 1;
      }
    }
    if (out) {
      if (o->emit & EMIT_AST) ast_dump(out, p);
      if (c && (o->emit & EMIT_IR)) {
        fputs("// nnc IR\n", out);
        Module view = *c->m;
        view.nfuncs = c->nprimal;
        ir_print_module(out, &view);
      }
      for (int i = 0; c && i < c->nprimal; i++) {
        /* a function holding derivatives: its tangent and adjoint code */
        if ((o->emit & EMIT_GRAD_IR) && !(o->emit & EMIT_IR) && c->m->funcs[i]->has_deriv) {
          fputc('\n', out);
          ir_print_func(out, c->m, c->m->funcs[i]);
        }
        GradResult *g = &c->grads[i];
        if (!g->f) continue;
        if (o->emit & EMIT_GRAD_IR) {
          fputc('\n', out);
          ir_print_func(out, c->m, g->f);
        }
        if (o->emit & EMIT_TAPE) grad_print_saved(out, c->m, g);
      }
      if (c && (o->emit & EMIT_GRAD_IR)) {
        Func *ts = ir_find_func(c->m, "train_step");
        if (ts) {
          fputc('\n', out);
          ir_print_func(out, c->m, ts);
        }
      }
      if (c && (o->emit & EMIT_DOT) && !emit_dot(out, c->m, o->dot_fn)) {
        fprintf(stderr, "nnc: error: --dot-fn=%s: no such function; the module has:", o->dot_fn);
        for (int i = 0; i < c->m->nfuncs; i++) fprintf(stderr, " %s", c->m->funcs[i]->name);
        fputc('\n', stderr);
        rc = 1;
      }
      if (c && o->stats) {
        FILE *so = o->emit & EMIT_TEXT ? stderr : out;
        print_stats(so, c);
        print_memory(so, c);
      }
      if (o->cmd == CMD_CHECK && !o->emit && !o->stats) print_summary(out, o->input, p);
      if (to_file) fclose(out);
    }
  }
  diag_free(&d);
  rt_free(src);
  arena_free(tree);
  arena_free(a);
  return rc;
}
