/* types.h — tensor types: a dtype and a shape.
 *
 * Shape is a small struct (not a pointer) so types copy by value. One axis
 * may be the model's run-time dimension (`dim N <= 1024` in the .nn file):
 * its bit is set in `dyn` and dim[] holds its upper bound, so everything
 * that sizes memory (the workspace plan, tapes) reads the bound, and only
 * the code that runs over the axis (loop trip counts, kernels' sizes, the
 * interpreter) asks for the run-time size. Storage is laid out for the
 * bound: strides never depend on the run-time size, and when the run-time
 * axis is the first one a tensor of n rows is a dense prefix. */
#ifndef NNC_TYPES_H
#define NNC_TYPES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum DType {
  TY_F32,   /* 32-bit IEEE float */
  TY_F64,   /* 64-bit IEEE float */
  TY_I32,   /* 32-bit signed integer (labels, indices, loop counters) */
  TY_BOOL,  /* truth value (comparisons, masks); stored as one byte */
  TY_COUNT
} DType;

#define MAX_RANK 8
/* Largest element count of one tensor (2^40); anything larger is refused
 * by the checker rather than overflowing later. */
#define MAX_NUMEL ((int64_t)1 << 40)

typedef struct Type {
  DType dtype;
  int rank;                 /* 0 for scalars */
  int64_t dim[MAX_RANK];    /* dim[0..rank), each >= 0; a run-time axis holds its bound */
  unsigned dyn;             /* bit k: axis k is the run-time dimension (size 1..dim[k] per call) */
  const char *dyn_name;     /* that dimension's name ("N") when dyn != 0, for messages and the IR text */
  int64_t dyn_mul;          /* 0 or 1, or m > 1: the run-time axis holds m*n elements per call and dim[] is
                               m * bound (a reshape merged static axes after it into it; IR only) */
} Type;

const char *dtype_name(DType t);      /* "f32", ... */
size_t dtype_size(DType t);           /* bytes per element */
bool dtype_is_float(DType t);
Type type_scalar(DType t);
Type type_make(DType t, int rank, const int64_t *dims);
bool type_eq(const Type *a, const Type *b);     /* dtype and shape */
bool shape_eq(const Type *a, const Type *b);    /* shape only */
int64_t type_numel(const Type *t);
/* Row-major element strides of t's storage (laid out for the bound of a
 * run-time axis): st[rank-1] = 1, st[i] = st[i+1] * dim[i+1]. */
void type_strides(const Type *t, int64_t *st);
size_t type_bytes(const Type *t);
/* "f32[128,784]" ("f32" for scalars). Returns buf. */
char *type_str(const Type *t, char *buf, size_t n);
/* Same for just the shape: "[128,784]". */
char *shape_str(const Type *t, char *buf, size_t n);

/* Run-time axes. */
static inline bool type_is_dyn(const Type *t) { return t->dyn != 0; }
static inline bool axis_dyn(const Type *t, int k) { return (t->dyn >> k) & 1u; }
/* Axis i of a and axis j of b have the same size (static and equal, or both run-time). */
bool axis_same(const Type *a, int i, const Type *b, int j);
/* Append axis k of x (its size and whether it is run-time) to o. */
void type_push_axis(Type *o, const Type *x, int k);
/* Set axis i of o to axis k of x / to the static size d. */
void type_set_axis(Type *o, int i, const Type *x, int k);
void type_set_static(Type *o, int i, int64_t d);
/* The run-time axis's elements per unit of n: dyn_mul, at least 1. */
static inline int64_t type_dyn_mul(const Type *t) { return t->dyn_mul > 1 ? t->dyn_mul : 1; }
/* The run-time axis of t, or -1. */
int type_dyn_axis(const Type *t);
/* t with its run-time axis at size n (static; n * dyn_mul for a merged axis). */
Type type_concrete(const Type *t, int64_t n);
/* The bound of t's run-time dimension (0 when it has none): a merged
 * axis's dim[] divided by its dyn_mul. */
int64_t type_dyn_bound(const Type *t);

/* NumPy broadcasting of the shapes of a and b into out (dtype left to the
 * caller). Returns false when they do not broadcast. */
bool broadcast_shapes(const Type *a, const Type *b, Type *out);
/* True when `from` broadcasts to exactly `to`. */
bool broadcasts_to(const Type *from, const Type *to);

/* A buffer big enough for any type_str. */
#define TYPE_STR_MAX (8 + MAX_RANK * 42 + 2 * 260)
/* Convenience for messages: a static rotating buffer (4 slots), so that
 * printf("%s and %s", tstr(&a), tstr(&b)) works. Not thread-safe. */
const char *tstr(const Type *t);

#endif
