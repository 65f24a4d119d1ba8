/* interp.c — the reference interpreter; see interp.h.
 *
 * Values are numbered (Value.id) and held in an array of ITensors. Each op
 * is a direct loop over the result's elements; broadcasting maps a result
 * index to an operand index through strides that are 0 on broadcast axes.
 * Loop bodies run once per iteration; their values are freed after each
 * iteration. Run-time positions (dyn_*, gather) are clamped into range, the
 * same rule the compiled code follows. */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_core.h"

ITensor itensor_new(const Type *t) {
  ITensor r = {*t, NULL};
  size_t n = (size_t)type_numel(t);
  r.d = calloc(n ? n : 1, sizeof(double));
  if (!r.d) die("out of memory in the interpreter (%zu elements)", n);
  return r;
}

ITensor itensor_copy(const ITensor *t) {
  ITensor r = itensor_new(&t->ty);
  memcpy(r.d, t->d, sizeof(double) * (size_t)type_numel(&t->ty));
  return r;
}

void itensor_free(ITensor *t) {
  free(t->d);
  t->d = NULL;
}

typedef struct I {
  ITensor *val;     /* by Value.id */
  int nval;
  InterpMode mode;
  int64_t n;        /* the run-time dimension's size in this call (0: none) */
} I;

/* The type a value has in this call: its run-time axis at the call's size.
 * The interpreter's tensors are dense at that size (the compiled code keeps
 * the bound's layout; both agree on arguments and results, whose run-time
 * axis is the first). */
static Type call_type(const I *s, const Type *t) { return type_concrete(t, s->n); }

/* ---- numbering ------------------------------------------------------------- */

static void number_block(Block *b, int *n) {
  for (int i = 0; i < b->nargs; i++) b->args[i]->id = (*n)++;
  for (Inst *in = b->first; in; in = in->next) {
    for (int i = 0; i < in->nres; i++) in->res[i]->id = (*n)++;
    if (in->body) number_block(in->body, n);
  }
}

/* ---- helpers ---------------------------------------------------------------- */

static double round_to(const Type *t, double v, InterpMode mode) {
  switch (t->dtype) {
  case TY_F32: return mode == INTERP_F32 ? (double)(float)v : v;
  case TY_F64: return v;
  case TY_I32:
    if (isnan(v)) return 0;
    if (v >= 2147483647.0) return 2147483647.0;
    if (v <= -2147483648.0) return -2147483648.0;
    return (double)(int32_t)v;
  case TY_BOOL: return v != 0;
  default: return v;
  }
}

/* Strides of operand `op` indexed by the result's axes (0 where broadcast). */
static void bstrides(const Type *res, const Type *op, int64_t *st) {
  int64_t ost[MAX_RANK];
  type_strides(op, ost);
  for (int i = 0; i < res->rank; i++) {
    int j = i - (res->rank - op->rank);
    st[i] = (j < 0 || op->dim[j] == 1) ? 0 : ost[j];
  }
}

static void unravel(const Type *t, int64_t flat, int64_t *idx) {
  for (int i = t->rank - 1; i >= 0; i--) {
    idx[i] = flat % t->dim[i];
    flat /= t->dim[i];
  }
}

static int64_t dot(const int64_t *idx, const int64_t *st, int r) {
  int64_t o = 0;
  for (int i = 0; i < r; i++) o += idx[i] * st[i];
  return o;
}

static int64_t clampi(double v, int64_t n) {
  if (!(v >= 0)) return 0;
  if (v >= (double)n) return n - 1;
  return (int64_t)v;
}

static double gelu(double x) {
  return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

double interp_unary(Op op, double x, DType from, DType to) {
  switch (op) {
  case OP_NEG: return -x;
  case OP_EXP: return exp(x);
  case OP_LOG: return log(x);
  case OP_SQRT: return sqrt(x);
  case OP_RSQRT: return 1.0 / sqrt(x);
  case OP_ABS: return fabs(x);
  case OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
  case OP_TANH: return tanh(x);
  case OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case OP_RELU: return x > 0 ? x : 0;
  case OP_GELU: return gelu(x);
  case OP_NOT: return !(x != 0);
  case OP_STOP_GRADIENT: return x;
  case OP_CAST:
    if (to == TY_BOOL) return x != 0;
    if (to == TY_I32 && dtype_is_float(from)) return isnan(x) ? 0 : trunc(x);
    return x;
  default: die("interp: not unary: %s", op_info[op].name);
  }
}

double interp_binary(Op op, double a, double b) {
  switch (op) {
  case OP_ADD: return a + b;
  case OP_SUB: return a - b;
  case OP_MUL: return a * b;
  case OP_DIV: return a / b;
  case OP_POW: return pow(a, b);
  case OP_MAX: return (a > b || isnan(a)) ? a : b;
  case OP_MIN: return (a < b || isnan(a)) ? a : b;
  case OP_LT: return a < b;
  case OP_LE: return a <= b;
  case OP_GT: return a > b;
  case OP_GE: return a >= b;
  case OP_EQ: return a == b;
  case OP_NE: return a != b;
  case OP_AND: return (a != 0) && (b != 0);
  case OP_OR: return (a != 0) || (b != 0);
  default: die("interp: not binary: %s", op_info[op].name);
  }
}

/* ---- ops ---------------------------------------------------------------------- */

static void elementwise(I *s, Inst *in, ITensor *o) {
  const Type *rt = &o->ty;
  int64_t n = type_numel(rt), idx[MAX_RANK], st[3][MAX_RANK];
  const ITensor *a[3];
  for (int k = 0; k < in->nargs; k++) {
    a[k] = &s->val[in->args[k]->id];
    bstrides(rt, &a[k]->ty, st[k]);
  }
  for (int64_t f = 0; f < n; f++) {
    unravel(rt, f, idx);
    double x = in->nargs > 0 ? a[0]->d[dot(idx, st[0], rt->rank)] : 0, r;
    if (in->nargs == 1)
      r = interp_unary(in->op, x, a[0]->ty.dtype, rt->dtype);
    else if (in->op == OP_SELECT)
      r = x != 0 ? a[1]->d[dot(idx, st[1], rt->rank)] : a[2]->d[dot(idx, st[2], rt->rank)];
    else
      r = interp_binary(in->op, x, a[1]->d[dot(idx, st[1], rt->rank)]);
    o->d[f] = r;
  }
}

static void reduce(I *s, Inst *in, ITensor *o) {
  const ITensor *x = &s->val[in->args[0]->id];
  const Type *xt = &x->ty;
  bool red[MAX_RANK] = {0};
  int64_t axis = -1;
  if (in->op == OP_ARGMAX) {
    axis = in->attr.i[0];
    red[axis] = true;
  } else {
    for (int k = 0; k < in->attr.ni; k++) red[in->attr.i[k]] = true;
  }
  int64_t n = type_numel(&o->ty), xn = type_numel(xt);
  double init = in->op == OP_REDUCE_SUM ? 0 : in->op == OP_REDUCE_MIN ? INFINITY : -INFINITY;
  for (int64_t f = 0; f < n; f++) o->d[f] = init;
  double *best = NULL;
  if (in->op == OP_ARGMAX) {
    best = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!best) die("out of memory");
    for (int64_t f = 0; f < n; f++) best[f] = -INFINITY, o->d[f] = 0;
  }
  int64_t idx[MAX_RANK];
  for (int64_t f = 0; f < xn; f++) {
    unravel(xt, f, idx);
    int64_t of = 0;
    for (int i = 0; i < xt->rank; i++)
      if (!red[i]) of = of * xt->dim[i] + idx[i];
    double v = x->d[f];
    switch (in->op) {
    case OP_REDUCE_SUM: o->d[of] += v; break;
    case OP_REDUCE_MAX: if (v > o->d[of] || isnan(v)) o->d[of] = v; break;
    case OP_REDUCE_MIN: if (v < o->d[of] || isnan(v)) o->d[of] = v; break;
    case OP_ARGMAX:
      if (idx[axis] == 0 || v > best[of]) { /* the first maximum wins */
        best[of] = v;
        o->d[of] = (double)idx[axis];
      }
      break;
    default: break;
    }
  }
  free(best);
}

static void transpose(I *s, Inst *in, ITensor *o) {
  const ITensor *x = &s->val[in->args[0]->id];
  int r = x->ty.rank;
  int64_t xst[MAX_RANK], st[MAX_RANK], idx[MAX_RANK];
  type_strides(&x->ty, xst);
  for (int i = 0; i < r; i++) st[i] = xst[in->attr.i[i]];
  int64_t n = type_numel(&o->ty);
  for (int64_t f = 0; f < n; f++) {
    unravel(&o->ty, f, idx);
    o->d[f] = x->d[dot(idx, st, r)];
  }
}

/* Copy `small` into `big` (or back) through the strided map start/step. */
static void strided(ITensor *big, ITensor *small, const int64_t *start, const int64_t *step, bool into_big) {
  int r = big->ty.rank;
  int64_t bst[MAX_RANK], idx[MAX_RANK];
  type_strides(&big->ty, bst);
  int64_t n = type_numel(&small->ty);
  for (int64_t f = 0; f < n; f++) {
    unravel(&small->ty, f, idx);
    int64_t o = 0;
    for (int i = 0; i < r; i++) o += (start[i] + idx[i] * step[i]) * bst[i];
    if (into_big)
      big->d[o] = small->d[f];
    else
      small->d[f] = big->d[o];
  }
}

static void dyn_row(ITensor *x, ITensor *row, int64_t axis, int64_t pos, int mode /* 0 read, 1 write, 2 add */) {
  const Type *t = &x->ty;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= t->dim[i];
  for (int i = (int)axis + 1; i < t->rank; i++) inner *= t->dim[i];
  for (int64_t a = 0; a < outer; a++)
    for (int64_t b = 0; b < inner; b++) {
      double *xp = &x->d[(a * t->dim[axis] + pos) * inner + b];
      double *rp = &row->d[a * inner + b];
      if (mode == 0) *rp = *xp;
      else if (mode == 1) *xp = *rp;
      else *xp += *rp;
    }
}

static void matmul(I *s, Inst *in, ITensor *o) {
  const ITensor *a = &s->val[in->args[0]->id], *b = &s->val[in->args[1]->id];
  bool ta = in->attr.i[0], tb = in->attr.i[1];
  int r = o->ty.rank;
  int64_t M = o->ty.dim[r - 2], N = o->ty.dim[r - 1];
  int64_t K = ta ? a->ty.dim[r - 2] : a->ty.dim[r - 1];
  int64_t batch = type_numel(&o->ty) / (M * N);
  for (int64_t q = 0; q < batch; q++) {
    const double *A = a->d + q * M * K, *Bm = b->d + q * K * N;
    double *C = o->d + q * M * N;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++) {
          double av = ta ? A[k * M + i] : A[i * K + k];
          double bv = tb ? Bm[j * K + k] : Bm[k * N + j];
          acc += av * bv;
        }
        C[i * N + j] = acc;
      }
  }
}

/* conv2d and its two gradients share one loop over (n, o, oy, ox, c, ky, kx). */
static void conv(I *s, Inst *in, ITensor *o) {
  const int64_t sh = in->attr.i[0], sw = in->attr.i[1], ph = in->attr.i[2], pw = in->attr.i[3];
  const ITensor *p0 = &s->val[in->args[0]->id], *p1 = &s->val[in->args[1]->id];
  const Type *xt, *wt, *yt;
  const double *x = NULL, *w = NULL, *dy = NULL;
  double *out = o->d;
  if (in->op == OP_CONV2D) {
    xt = &p0->ty; wt = &p1->ty; yt = &o->ty; x = p0->d; w = p1->d;
  } else if (in->op == OP_CONV2D_BWD_X) {
    yt = &p0->ty; wt = &p1->ty; xt = &o->ty; dy = p0->d; w = p1->d;
  } else {
    xt = &p0->ty; yt = &p1->ty; wt = &o->ty; x = p0->d; dy = p1->d;
  }
  int64_t N = xt->dim[0], C = xt->dim[1], H = xt->dim[2], W = xt->dim[3];
  int64_t O = wt->dim[0], KH = wt->dim[2], KW = wt->dim[3], OH = yt->dim[2], OW = yt->dim[3];
  memset(out, 0, sizeof(double) * (size_t)type_numel(&o->ty));
  for (int64_t n = 0; n < N; n++)
    for (int64_t oc = 0; oc < O; oc++)
      for (int64_t oy = 0; oy < OH; oy++)
        for (int64_t ox = 0; ox < OW; ox++) {
          int64_t yi = ((n * O + oc) * OH + oy) * OW + ox;
          for (int64_t c = 0; c < C; c++)
            for (int64_t ky = 0; ky < KH; ky++) {
              int64_t iy = oy * sh - ph + ky;
              if (iy < 0 || iy >= H) continue;
              for (int64_t kx = 0; kx < KW; kx++) {
                int64_t ix = ox * sw - pw + kx;
                if (ix < 0 || ix >= W) continue;
                int64_t xi = ((n * C + c) * H + iy) * W + ix, wi = ((oc * C + c) * KH + ky) * KW + kx;
                if (in->op == OP_CONV2D) out[yi] += x[xi] * w[wi];
                else if (in->op == OP_CONV2D_BWD_X) out[xi] += dy[yi] * w[wi];
                else out[wi] += x[xi] * dy[yi];
              }
            }
        }
}

/* Pooling: windows over x (or the result, for avgpool2d_bwd). */
static void pool(I *s, Inst *in, ITensor *o) {
  const int64_t kh = in->attr.i[0], kw = in->attr.i[1], sh = in->attr.i[2], sw = in->attr.i[3];
  const int64_t ph = in->attr.i[4], pw = in->attr.i[5];
  const ITensor *a0 = &s->val[in->args[0]->id];
  const ITensor *a1 = in->nargs > 1 ? &s->val[in->args[1]->id] : NULL;
  const Type *xt = in->op == OP_AVGPOOL2D_BWD ? &o->ty : &a0->ty;
  int64_t N = xt->dim[0], C = xt->dim[1], H = xt->dim[2], W = xt->dim[3];
  int64_t OH = (H + 2 * ph - kh) / sh + 1, OW = (W + 2 * pw - kw) / sw + 1;
  bool scatter = in->op == OP_MAXPOOL2D_BWD || in->op == OP_AVGPOOL2D_BWD;
  if (scatter) memset(o->d, 0, sizeof(double) * (size_t)type_numel(&o->ty));
  for (int64_t nc = 0; nc < N * C; nc++)
    for (int64_t oy = 0; oy < OH; oy++)
      for (int64_t ox = 0; ox < OW; ox++) {
        int64_t yi = (nc * OH + oy) * OW + ox, arg = -1;
        double best = -INFINITY, sum = 0;
        for (int64_t ky = 0; ky < kh; ky++)
          for (int64_t kx = 0; kx < kw; kx++) {
            int64_t iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            int64_t xi = (nc * H + iy) * W + ix;
            if (in->op == OP_AVGPOOL2D) sum += a0->d[xi];
            else if (in->op == OP_AVGPOOL2D_BWD) o->d[xi] += a0->d[yi] / (double)(kh * kw);
            else if (arg < 0 || a0->d[xi] > best) { /* the first maximum wins */
              best = a0->d[xi];
              arg = xi;
            }
          }
        switch (in->op) {
        case OP_AVGPOOL2D: o->d[yi] = sum / (double)(kh * kw); break;
        case OP_MAXPOOL2D: o->d[yi] = arg >= 0 ? best : -INFINITY; break;
        case OP_MAXPOOL2D_BWD: if (arg >= 0) o->d[arg] += a1->d[yi]; break;
        case OP_MAXPOOL2D_PICK: o->d[yi] = arg >= 0 ? a1->d[arg] : 0; break;
        default: break;
        }
      }
}

static void run_block(I *s, Block *b);

static void run_for(I *s, Inst *in) {
  Block *body = in->body;
  int64_t lo = in->attr.i[0], hi = in->attr.i[1];
  int nc = in->nargs;
  bool rev = in->attr.i[3];
  ITensor *carry = calloc((size_t)nc + 1, sizeof(ITensor));
  ITensor *stack = calloc((size_t)(in->nres - nc) + 1, sizeof(ITensor));
  ITensor *next = calloc((size_t)nc + 1, sizeof(ITensor));
  if (!carry || !stack || !next) die("out of memory");
  for (int k = 0; k < nc; k++) carry[k] = itensor_copy(&s->val[in->args[k]->id]);
  for (int k = nc; k < in->nres; k++) {
    Type st = call_type(s, &in->res[k]->ty);
    stack[k - nc] = itensor_new(&st);
  }
  for (int64_t step = 0; step < hi - lo; step++) {
    int64_t i = rev ? hi - 1 - step : lo + step;
    ITensor iv = itensor_new(&body->args[0]->ty);
    iv.d[0] = (double)i;
    s->val[body->args[0]->id] = iv;
    for (int k = 0; k < nc; k++) s->val[body->args[k + 1]->id] = carry[k];
    run_block(s, body);
    Inst *y = body->last;
    for (int k = 0; k < nc; k++) next[k] = itensor_copy(&s->val[y->args[k]->id]);
    for (int k = nc; k < y->nargs; k++) {
      ITensor *row = &s->val[y->args[k]->id];
      int64_t rn = type_numel(&row->ty);
      memcpy(stack[k - nc].d + (i - lo) * rn, row->d, sizeof(double) * (size_t)rn);
    }
    /* free everything the iteration made (carried inputs included) */
    for (Inst *bi = body->first; bi; bi = bi->next)
      for (int r = 0; r < bi->nres; r++) itensor_free(&s->val[bi->res[r]->id]);
    for (int k = 0; k < body->nargs; k++) itensor_free(&s->val[body->args[k]->id]);
    for (int k = 0; k < nc; k++) carry[k] = next[k];
  }
  for (int k = 0; k < nc; k++) s->val[in->res[k]->id] = carry[k];
  for (int k = nc; k < in->nres; k++) s->val[in->res[k]->id] = stack[k - nc];
  free(carry);
  free(stack);
  free(next);
}

static void run_inst(I *s, Inst *in) {
  if (in->op == OP_FOR) {
    run_for(s, in);
    return;
  }
  if (op_info[in->op].flags & F_TERMINATOR) return;
  Type rt = call_type(s, &in->res[0]->ty);
  ITensor o = itensor_new(&rt);
  ITensor *a0 = in->nargs ? &s->val[in->args[0]->id] : NULL;
  int64_t n = type_numel(&o.ty);
  switch (op_info[in->op].lc) {
  case LC_ELEM:
    switch (in->op) {
    case OP_CONST:
      for (int64_t f = 0; f < n; f++) o.d[f] = in->attr.f;
      break;
    case OP_IOTA: {
      int64_t idx[MAX_RANK];
      for (int64_t f = 0; f < n; f++) {
        unravel(&o.ty, f, idx);
        o.d[f] = (double)idx[in->attr.i[0]];
      }
      break;
    }
    case OP_RNG_UNIFORM: {
      uint64_t seed = (uint64_t)(int64_t)a0->d[0];
      for (int64_t f = 0; f < n; f++) o.d[f] = rt_rand_uniform(seed, (uint64_t)in->attr.i[0], (uint64_t)f);
      break;
    }
    case OP_ONE_HOT: {
      int64_t c = o.ty.dim[o.ty.rank - 1];
      for (int64_t f = 0; f < n; f++) o.d[f] = (double)(f % c) == a0->d[f / c] ? 1 : 0;
      break;
    }
    case OP_BROADCAST: {
      int64_t st[MAX_RANK], idx[MAX_RANK];
      bstrides(&o.ty, &a0->ty, st);
      for (int64_t f = 0; f < n; f++) {
        unravel(&o.ty, f, idx);
        o.d[f] = a0->d[dot(idx, st, o.ty.rank)];
      }
      break;
    }
    default:
      elementwise(s, in, &o);
    }
    break;
  case LC_REDUCE:
    reduce(s, in, &o);
    break;
  case LC_SHAPE:
    switch (in->op) {
    case OP_RESHAPE: memcpy(o.d, a0->d, sizeof(double) * (size_t)n); break;
    case OP_TRANSPOSE: transpose(s, in, &o); break;
    case OP_SLICE: strided(a0, &o, in->attr.i, in->attr.i + a0->ty.rank, false); break;
    case OP_PAD: strided(&o, a0, in->attr.i, in->attr.i + o.ty.rank, true); break;
    case OP_UPDATE_SLICE:
      memcpy(o.d, a0->d, sizeof(double) * (size_t)n);
      strided(&o, &s->val[in->args[1]->id], in->attr.i, in->attr.i + o.ty.rank, true);
      break;
    case OP_CONCAT: {
      int64_t ax = in->attr.i[0], outer = 1, inner = 1, off = 0;
      for (int i = 0; i < ax; i++) outer *= o.ty.dim[i];
      for (int i = (int)ax + 1; i < o.ty.rank; i++) inner *= o.ty.dim[i];
      for (int k = 0; k < in->nargs; k++) {
        const ITensor *p = &s->val[in->args[k]->id];
        int64_t len = p->ty.dim[ax];
        for (int64_t a = 0; a < outer; a++)
          memcpy(o.d + (a * o.ty.dim[ax] + off) * inner, p->d + a * len * inner, sizeof(double) * (size_t)(len * inner));
        off += len;
      }
      break;
    }
    case OP_DYN_SLICE: {
      int64_t ax = in->attr.i[0];
      dyn_row(a0, &o, ax, clampi(s->val[in->args[1]->id].d[0], a0->ty.dim[ax]), 0);
      break;
    }
    case OP_DYN_UPDATE:
    case OP_DYN_UPDATE_ADD: {
      int64_t ax = in->attr.i[0];
      memcpy(o.d, a0->d, sizeof(double) * (size_t)n);
      dyn_row(&o, &s->val[in->args[1]->id], ax, clampi(s->val[in->args[2]->id].d[0], o.ty.dim[ax]),
              in->op == OP_DYN_UPDATE ? 1 : 2);
      break;
    }
    default: die("interp: %s", op_info[in->op].name);
    }
    break;
  case LC_MATMUL:
    matmul(s, in, &o);
    break;
  case LC_CONV:
    conv(s, in, &o);
    break;
  case LC_POOL:
    pool(s, in, &o);
    break;
  case LC_GATHER:
    if (in->op == OP_GATHER) {
      const ITensor *idx = &s->val[in->args[1]->id];
      int64_t V = a0->ty.dim[0], D = a0->ty.dim[1], S = type_numel(&idx->ty);
      for (int64_t q = 0; q < S; q++)
        memcpy(o.d + q * D, a0->d + clampi(idx->d[q], V) * D, sizeof(double) * (size_t)D);
    } else {
      const ITensor *g = &s->val[in->args[1]->id];
      int64_t V = o.ty.dim[0], D = o.ty.dim[1], S = type_numel(&a0->ty);
      for (int64_t q = 0; q < S; q++) {
        int64_t row = clampi(a0->d[q], V);
        for (int64_t d = 0; d < D; d++) o.d[row * D + d] += g->d[q * D + d];
      }
    }
    break;
  default:
    die("interp: cannot run %s", op_info[in->op].name);
  }
  for (int64_t f = 0; f < n; f++) o.d[f] = round_to(&o.ty, o.d[f], s->mode);
  s->val[in->res[0]->id] = o;
}

static void run_block(I *s, Block *b) {
  for (Inst *in = b->first; in; in = in->next) run_inst(s, in);
}

static void free_block(I *s, Block *b, bool args) {
  if (args)
    for (int i = 0; i < b->nargs; i++) itensor_free(&s->val[b->args[i]->id]);
  for (Inst *in = b->first; in; in = in->next)
    for (int r = 0; r < in->nres; r++) itensor_free(&s->val[in->res[r]->id]);
}

bool interp_run(const Func *f, const ITensor *args, int nargs, ITensor *results, InterpMode mode, char *err,
                size_t errn) {
  Block *body = f->body;
  if (nargs != body->nargs) {
    snprintf(err, errn, "@%s takes %d arguments, not %d", f->name, body->nargs, nargs);
    return false;
  }
  /* the run-time size comes with the SCALAR_DIM argument */
  int64_t dn = 0;
  Value *dv = ir_dim_arg(f);
  if (dv) {
    const ITensor *t = &args[dv->res];
    if (t->ty.rank != 0 || t->ty.dtype != TY_I32) {
      snprintf(err, errn, "the run-time size of @%s must be an i32 scalar", f->name);
      return false;
    }
    dn = (int64_t)t->d[0];
  }
  for (int i = 0; i < nargs; i++) {
    const Type *want = &body->args[i]->ty;
    int64_t bound = type_dyn_bound(want);
    if (bound && (dn < 1 || dn > bound)) {
      snprintf(err, errn, "argument %d of @%s is %s, but the run-time size is %lld", i, f->name, tstr(want),
               (long long)dn);
      return false;
    }
    Type wc = type_concrete(want, dn);
    if (!type_eq(&args[i].ty, &wc)) {
      snprintf(err, errn, "argument %d of @%s must be %s, not %s", i, f->name, tstr(&wc), tstr(&args[i].ty));
      return false;
    }
  }
  int n = 0;
  number_block(body, &n);
  I s = {.mode = mode, .nval = n, .n = dn};
  s.val = calloc((size_t)n + 1, sizeof(ITensor));
  if (!s.val) die("out of memory");
  for (int i = 0; i < nargs; i++) {
    s.val[body->args[i]->id] = itensor_copy(&args[i]);
    for (int64_t k = 0; k < type_numel(&args[i].ty); k++)
      s.val[body->args[i]->id].d[k] = round_to(&args[i].ty, args[i].d[k], mode);
  }
  run_block(&s, body);
  Inst *ret = body->last;
  for (int k = 0; k < ret->nargs; k++) results[k] = itensor_copy(&s.val[ret->args[k]->id]);
  free_block(&s, body, true);
  free(s.val);
  return true;
}
