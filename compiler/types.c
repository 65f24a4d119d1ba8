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
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i]) return false;
  return true;
}

bool type_eq(const Type *a, const Type *b) {
  return a->dtype == b->dtype && shape_eq(a, b);
}

int64_t type_numel(const Type *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dim[i];
  return n;
}

size_t type_bytes(const Type *t) {
  return (size_t)type_numel(t) * dtype_size(t->dtype);
}

char *shape_str(const Type *t, char *buf, size_t n) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, n - o, "[");
  for (int i = 0; i < t->rank && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, i ? ",%lld" : "%lld", (long long)t->dim[i]);
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
    int64_t d = from->dim[from->rank - 1 - i], e = to->dim[to->rank - 1 - i];
    if (d != e && d != 1) return false;
  }
  return true;
}
