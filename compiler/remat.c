/* remat.c — checkpointing plans for the AD; see remat.h. */
#include "remat.h"

#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "ptrmap.h"

static Inst *new_loop(Arena *a, Pos pos, int64_t lo, int64_t hi, Value **inits, int nc, bool checkpoint) {
  Inst *in = NEW(a, Inst);
  in->op = OP_FOR;
  in->pos = pos;
  ir_set_loop_attr(a, in, lo, hi, nc, false, checkpoint);
  in->nargs = nc;
  in->args = NEW_ARRAY(a, Value *, nc + 1);
  if (nc) memcpy(in->args, inits, sizeof(Value *) * (size_t)nc);
  in->body = ir_block_new(a, in);
  in->nres = nc;
  in->res = NEW_ARRAY(a, Value *, nc + 1);
  for (int k = 0; k < nc; k++) {
    Value *r = NEW(a, Value);
    r->ty = inits[k]->ty;
    r->def = in;
    r->res = k;
    in->res[k] = r;
  }
  return in;
}

bool remat_segment(Arena *a, Inst *loop, int64_t k, bool inner_ck) {
  int64_t lo = loop->attr.i[0], hi = loop->attr.i[1], T = hi - lo;
  if (loop->op != OP_FOR || loop->attr.i[3] || loop->nres != loop->nargs || k < 2 || k >= T || T % k) return false;
  Block *fb = loop->body;
  int nc = loop->nargs;
  const char *iname = fb->args[0]->name ? fb->args[0]->name : "i";
  /* the loop over segments, carrying the loop's values */
  Inst *outer = new_loop(a, loop->pos, 0, T / k, loop->args, nc, true);
  Block *ob = outer->body;
  Value *seg = ir_block_add_arg(a, ob, type_scalar(TY_I32), arena_printf(a, "%s.segment", iname));
  Value **oargs = NEW_ARRAY(a, Value *, nc + 1);
  for (int j = 0; j < nc; j++) oargs[j] = ir_block_add_arg(a, ob, fb->args[j + 1]->ty, fb->args[j + 1]->name);
  /* the loop over one segment */
  Inst *in = new_loop(a, loop->pos, 0, k, oargs, nc, inner_ck);
  Block *ib = in->body;
  Value *step = ir_block_add_arg(a, ib, type_scalar(TY_I32), arena_printf(a, "%s.step", iname));
  PtrMap map;
  pm_init(&map, a);
  for (int j = 0; j < nc; j++) pm_put(&map, fb->args[j + 1], ir_block_add_arg(a, ib, fb->args[j + 1]->ty, fb->args[j + 1]->name));
  PtrVec fv = {0};
  ir_free_values(a, loop, &fv);
  for (int i = 0; i < fv.n; i++) pm_put(&map, fv.v[i], fv.v[i]);
  Builder b = {.a = a, .block = ib, .pos = loop->pos, .note = "checkpoint segments: the iteration's index"};
  Value *t = ir_binary(&b, OP_MUL, seg, ir_scalar(&b, TY_I32, (double)k));
  if (lo) t = ir_binary(&b, OP_ADD, t, ir_scalar(&b, TY_I32, (double)lo));
  t = ir_binary(&b, OP_ADD, t, step);
  t->name = iname;
  pm_put(&map, fb->args[0], t);
  ir_clone_block(&b, fb, &map);
  ir_append(ob, in);
  Builder ob_b = {.a = a, .block = ob, .pos = loop->pos, .note = "checkpoint segments"};
  ir_build(&ob_b, OP_YIELD, in->res, nc, NULL, NULL);
  ir_insert_before(loop, outer);
  for (int j = 0; j < nc; j++) {
    outer->res[j]->name = loop->res[j]->name;
    ir_replace_uses(loop->block, loop->res[j], outer->res[j]);
  }
  ir_remove(loop);
  return true;
}

/* ---- the budget ---------------------------------------------------------------- */

int remat_top_loops(const Func *f, Inst **out, int cap) {
  int n = 0;
  for (Inst *in = f->body->first; in; in = in->next)
    if (in->op == OP_FOR) {
      if (n < cap) out[n] = in;
      n++;
    }
  return n;
}

static GradResult attempt(Module *m, Func *f, const bool *wrt, const LoopCheckpoint *ck, int n, Diag *quiet) {
  int before = m->nfuncs;
  GradResult r = grad_func_with(m, f, wrt, ck, n, quiet);
  if (r.f && m->nfuncs == before + 1 && m->funcs[before] == r.f) m->nfuncs = before; /* a trial: not kept */
  return r;
}

enum { MAX_PLAN_LOOPS = 64 };

GradResult grad_func_budget(Module *m, Func *f, const bool *wrt, size_t max_tape, Diag *d) {
  GradResult plain = grad_func(m, f, wrt, d);
  if (!max_tape || !plain.f || plain.tape_bytes <= max_tape) return plain;
  /* trials report nothing (the plain gradient has reported its warnings) */
  FILE *null = fopen("/dev/null", "w");
  if (!null) return plain;
  Diag quiet;
  diag_init(&quiet, d->path, d->src, d->len, null, COLOR_NEVER);
  Inst *loops[MAX_PLAN_LOOPS];
  int nl = remat_top_loops(f, loops, MAX_PLAN_LOOPS);
  if (nl > MAX_PLAN_LOOPS) nl = MAX_PLAN_LOOPS;
  LoopCheckpoint plan[MAX_PLAN_LOOPS];
  int np = 0;
  /* the loops by tape size: one trial each, that loop alone checkpointed */
  size_t gain[MAX_PLAN_LOOPS];
  for (int i = 0; i < nl; i++) {
    LoopCheckpoint one = {.loop = i};
    GradResult r = attempt(m, f, wrt, &one, 1, &quiet);
    gain[i] = r.f && r.tape_bytes < plain.tape_bytes ? plain.tape_bytes - r.tape_bytes : 0;
  }
  bool used[MAX_PLAN_LOOPS] = {0};
  GradResult best = plain;
  for (;;) {
    int pick = -1;
    for (int i = 0; i < nl; i++)
      if (!used[i] && gain[i] && (pick < 0 || gain[i] > gain[pick])) pick = i;
    if (pick < 0) break;
    used[pick] = true;
    /* the cheapest way to checkpoint this loop that fits; else the one
     * with the fewest bytes, and on to the next loop */
    int64_t T = loops[pick]->attr.i[1] - loops[pick]->attr.i[0];
    GradResult fit = {0}, least = {0};
    LoopCheckpoint fit_c = {0}, least_c = {0};
    for (int level = 0; level < 3 && !fit.f; level++) {
      for (int64_t k = level ? 2 : 0; k < (level ? T : 1); k++) {
        if (level && T % k) continue;
        LoopCheckpoint c = {.loop = pick, .segment = k, .inner = level == 2};
        plan[np] = c;
        GradResult r = attempt(m, f, wrt, plan, np + 1, &quiet);
        if (!r.f) continue;
        if (r.tape_bytes <= max_tape && (!fit.f || r.tape_bytes > fit.tape_bytes)) {
          fit = r; /* of those that fit, the fewest segments to loop over... */
          fit_c = c;
        }
        if (!least.f || r.tape_bytes < least.tape_bytes) {
          least = r;
          least_c = c;
        }
      }
    }
    plan[np++] = fit.f ? fit_c : least_c;
    best = fit.f ? fit : least;
    if (fit.f) break;
  }
  diag_free(&quiet);
  fclose(null);
  if (best.tape_bytes > max_tape) {
    diag_error(d, (Loc){f->pos.line, f->pos.col, f->pos.line, f->pos.col},
               "the gradient of '%s' cannot keep its loop tapes within %zu bytes: the smallest plan found needs %zu "
               "(%zu with only the loops the source marks checkpointed)", f->name, max_tape, best.tape_bytes, plain.tape_bytes);
    diag_note(d, loc_none(), "raise --max-tape-bytes (or the train block's max_tape_bytes); nnc --emit=tape shows what "
              "each loop keeps");
    return (GradResult){0};
  }
  /* the plan, made for real: the plain gradient's function gives way */
  int at = -1;
  for (int i = 0; i < m->nfuncs; i++)
    if (m->funcs[i] == plain.f) at = i;
  GradResult r = grad_func_with(m, f, wrt, plan, np, d);
  if (at >= 0 && r.f && m->funcs[m->nfuncs - 1] == r.f) {
    m->funcs[at] = r.f;
    m->nfuncs--;
  }
  r.plain_tape_bytes = plain.tape_bytes;
  r.max_tape_bytes = max_tape;
  return r;
}
