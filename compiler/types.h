/* types.h — tensor types: a dtype and a static shape.
 *
 * Shape is a small struct (not a pointer) so types copy by value; a future
 * symbolic batch dimension would be one more field here, not a rewrite. */
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
  int64_t dim[MAX_RANK];    /* dim[0..rank), each >= 0 */
} Type;

const char *dtype_name(DType t);      /* "f32", ... */
size_t dtype_size(DType t);           /* bytes per element */
bool dtype_is_float(DType t);
Type type_scalar(DType t);
Type type_make(DType t, int rank, const int64_t *dims);
bool type_eq(const Type *a, const Type *b);     /* dtype and shape */
bool shape_eq(const Type *a, const Type *b);    /* shape only */
int64_t type_numel(const Type *t);
size_t type_bytes(const Type *t);
/* "f32[128,784]" ("f32" for scalars). Returns buf. */
char *type_str(const Type *t, char *buf, size_t n);
/* Same for just the shape: "[128,784]". */
char *shape_str(const Type *t, char *buf, size_t n);

/* NumPy broadcasting of the shapes of a and b into out (dtype left to the
 * caller). Returns false when they do not broadcast. */
bool broadcast_shapes(const Type *a, const Type *b, Type *out);
/* True when `from` broadcasts to exactly `to`. */
bool broadcasts_to(const Type *from, const Type *to);

/* A buffer big enough for any type_str. */
#define TYPE_STR_MAX (8 + MAX_RANK * 21)
/* Convenience for messages: a static rotating buffer (4 slots), so that
 * printf("%s and %s", tstr(&a), tstr(&b)) works. Not thread-safe. */
const char *tstr(const Type *t);

#endif
