/* types.c — dtype facts, shape printing and NumPy broadcasting. */
#include "types.h"

#include <stdio.h>
#include <string.h>

static const char *const names[TY_COUNT] = {"f32", "f64", "i32", "bool"};
static const size_t sizes[TY_COUNT] = {4, 8, 4, 1};

const char *dtype_name(DType t) { return t < TY_COUNT ? names[t] : "?"; }
size_t dtype_size(DType t) { return t < TY_COUNT ? sizes[t] : 0; }
bool dtype_is_float(DType t) { return t == TY_F32 || t == TY_F64; }

Type type_scalar(DType t) {
  Type ty;
  memset(&ty, 0, sizeof ty);
  ty.dtype = t;
  return ty;
}

Type type_make(DType t, int rank, const int64_t *dims) {
  Type ty = type_scalar(t);
  ty.rank = rank;
  for (int i = 0; i < rank; i++) ty.dim[i] = dims[i];
  return ty;
}

bool shape_eq(const Type *a, const Type *b) {
  if (a->rank != b->rank || a->dyn != b->dyn || (a->dyn && type_dyn_mul(a) != type_dyn_mul(b))) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i]) return false;
  return true;
}

bool type_eq(const Type *a, const Type *b) {
  return a->dtype == b->dtype && shape_eq(a, b);
}

void type_strides(const Type *t, int64_t *st) {
  int64_t s = 1;
  for (int i = t->rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= t->dim[i];
  }
}

int64_t type_numel(const Type *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dim[i];
  return n;
}

size_t type_bytes(const Type *t) {
  return (size_t)type_numel(t) * dtype_size(t->dtype);
}

bool axis_same(const Type *a, int i, const Type *b, int j) {
  return a->dim[i] == b->dim[j] && axis_dyn(a, i) == axis_dyn(b, j) &&
         (!axis_dyn(a, i) || type_dyn_mul(a) == type_dyn_mul(b));
}

void type_set_axis(Type *o, int i, const Type *x, int k) {
  o->dim[i] = x->dim[k];
  if (axis_dyn(x, k)) {
    o->dyn |= 1u << i;
    o->dyn_name = x->dyn_name;
    o->dyn_mul = x->dyn_mul;
  } else {
    o->dyn &= ~(1u << i);
  }
}

void type_push_axis(Type *o, const Type *x, int k) { type_set_axis(o, o->rank++, x, k); }

void type_set_static(Type *o, int i, int64_t d) {
  o->dim[i] = d;
  o->dyn &= ~(1u << i);
}

int type_dyn_axis(const Type *t) {
  for (int k = 0; k < t->rank; k++)
    if (axis_dyn(t, k)) return k;
  return -1;
}

int64_t type_dyn_bound(const Type *t) {
  int k = type_dyn_axis(t);
  return k < 0 ? 0 : t->dim[k] / type_dyn_mul(t);
}

Type type_concrete(const Type *t, int64_t n) {
  Type c = *t;
  for (int k = 0; k < t->rank; k++)
    if (axis_dyn(t, k)) c.dim[k] = n * type_dyn_mul(t);
  c.dyn = 0;
  c.dyn_name = NULL;
  c.dyn_mul = 0;
  return c;
}

char *shape_str(const Type *t, char *buf, size_t n) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, n - o, "[");
  for (int i = 0; i < t->rank && o < n; i++) {
    if (axis_dyn(t, i) && type_dyn_mul(t) > 1) /* a merged axis: B*64<=2048 */
      o += (size_t)snprintf(buf + o, n - o, "%s%s*%lld<=%lld", i ? "," : "", t->dyn_name ? t->dyn_name : "?",
                            (long long)type_dyn_mul(t), (long long)t->dim[i]);
    else if (axis_dyn(t, i))
      o += (size_t)snprintf(buf + o, n - o, "%s%s<=%lld", i ? "," : "", t->dyn_name ? t->dyn_name : "?",
                            (long long)t->dim[i]);
    else
      o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)t->dim[i]);
  }
  if (o < n) snprintf(buf + o, n - o, "]");
  return buf;
}

char *type_str(const Type *t, char *buf, size_t n) {
  if (t->rank == 0) {
    snprintf(buf, n, "%s", dtype_name(t->dtype));
    return buf;
  }
  size_t o = (size_t)snprintf(buf, n, "%s", dtype_name(t->dtype));
  if (o < n) shape_str(t, buf + o, n - o);
  return buf;
}

const char *tstr(const Type *t) {
  static char bufs[4][TYPE_STR_MAX];
  static int k;
  k = (k + 1) & 3;
  return type_str(t, bufs[k], sizeof bufs[k]);
}

bool broadcast_shapes(const Type *a, const Type *b, Type *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  Type o = type_scalar(a->dtype);
  o.rank = r;
  for (int i = 0; i < r; i++) {
    int ia = a->rank - r + i, ib = b->rank - r + i;
    int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
    bool ya = ia >= 0 && axis_dyn(a, ia), yb = ib >= 0 && axis_dyn(b, ib);
    if (ya || yb) { /* a run-time size agrees with itself and with a static 1 only */
      if ((ya && yb && axis_same(a, ia, b, ib)) || (ya && !yb && db == 1) || (yb && !ya && da == 1)) {
        o.dim[i] = ya ? da : db;
        o.dyn |= 1u << i;
        o.dyn_name = ya ? a->dyn_name : b->dyn_name;
        o.dyn_mul = ya ? a->dyn_mul : b->dyn_mul;
        continue;
      }
      return false;
    }
    if (da == db || db == 1)
      o.dim[i] = da;
    else if (da == 1)
      o.dim[i] = db;
    else
      return false;
  }
  *out = o;
  return true;
}

bool broadcasts_to(const Type *from, const Type *to) {
  if (from->rank > to->rank) return false;
  for (int i = 0; i < from->rank; i++) {
    int fi = from->rank - 1 - i, ti = to->rank - 1 - i;
    int64_t d = from->dim[fi], e = to->dim[ti];
    if (axis_dyn(from, fi)) {
      if (!axis_same(from, fi, to, ti)) return false;
      continue;
    }
    if (d == 1) continue;
    if (d != e || axis_dyn(to, ti)) return false;
  }
  return true;
}
