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

#include "ast.h"
#include "pipeline.h"

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
  FILE *f = fopen(path, "rb");
  if (!f) {
    *why = strerror(errno);
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    fclose(f);
    *why = "out of memory";
    return NULL;
  }
  for (;;) {
    if (n == cap) {
      if (cap >= limit) {
        free(buf);
        fclose(f);
        *why = "file is too large";
        return NULL;
      }
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb) {
        free(buf);
        fclose(f);
        *why = "out of memory";
        return NULL;
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    fclose(f);
    *why = "read error";
    return NULL;
  }
  fclose(f);
  if (n > limit) {
    free(buf);
    *why = "file is too large";
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

int driver_front(const Options *o, Arena *a, Diag *d, char **src_out, Program **prog) {
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
  Program *p = parse_program(a, d, src, len);
  if (d->nerrors) return 1;
  if (!check_program(a, d, p, o->defs, o->ndefs)) return 1;
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
    static const char *const opt[] = {"sgd", "adam", "adamw"};
    fprintf(out, "  train: minimize %s with %s(lr=%g), %lld epoch%s\n", t->loss ? t->loss->name : "?",
            opt[t->opt.kind], t->opt.lr, (long long)t->epochs, t->epochs == 1 ? "" : "s");
  }
}

int driver_run(const Options *o) {
  Arena *a = arena_new();
  Diag d;
  char *src = NULL;
  Program *p = NULL;
  int rc = driver_front(o, a, &d, &src, &p);
  if (rc == 0) {
    FILE *out = stdout;
    if (o->output) {
      out = fopen(o->output, "w");
      if (!out) {
        fprintf(stderr, "nnc: error: cannot write '%s': %s\n", o->output, strerror(errno));
        rc = 1;
      }
    }
    if (out) {
      if (o->emit & EMIT_AST) ast_dump(out, p);
      if (o->emit & (EMIT_IR | EMIT_GRAD_IR | EMIT_TAPE) || o->stats) {
        CompileOpts co = {.verify = o->verify, .dump = o->dump, .no_opt = o->no_opt};
        Compiled *c = compile_module(a, &d, p, o->input, &co);
        if (!c->ok) rc = 1;
        if (o->emit & EMIT_IR) {
          fputs("// nnc IR\n", out);
          Module view = *c->m;
          view.nfuncs = c->nprimal;
          ir_print_module(out, &view);
        }
        for (int i = 0; i < c->nprimal; i++) {
          GradResult *g = &c->grads[i];
          if (!g->f) continue;
          if (o->emit & EMIT_GRAD_IR) {
            fputc('\n', out);
            ir_print_func(out, c->m, g->f);
          }
          if (o->emit & EMIT_TAPE) grad_print_saved(out, c->m, g);
        }
        if (o->stats) print_stats(o->emit ? stderr : out, c);
      }
      if (o->cmd == CMD_CHECK && !o->emit && !o->stats) print_summary(out, o->input, p);
      if (out != stdout) fclose(out);
    }
  }
  diag_free(&d);
  free(src);
  arena_free(a);
  return rc;
}
