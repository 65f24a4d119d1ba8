/* arena.h — bump allocation for one compilation.
 *
 * Every AST node, type, IR instruction and string of a compilation lives in
 * one Arena and is freed at once with arena_free; nothing is freed one by
 * one (chibicc, QBE). Allocation never returns NULL: running out of memory
 * is reported by die() as an internal failure. */
#ifndef NNC_ARENA_H
#define NNC_ARENA_H
#include <stdarg.h>
#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);   /* zeroed, 16-byte aligned */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *arena_vprintf(Arena *a, const char *fmt, va_list ap);
size_t arena_bytes(const Arena *a);         /* total bytes reserved */
/* Frees p now if it was one allocation of 1 MiB or more (a grown hash
 * table's or vector's old storage); anything else stays until arena_free.
 * p must not be used after. */
void arena_release(Arena *a, void *p);

/* A growable array of pointers, built in an arena (old storage is
 * abandoned when it grows, and freed when large: arena_release). */
typedef struct PtrVec {
  void **v;
  int n, cap;
} PtrVec;
void vec_push(Arena *a, PtrVec *vec, void *p);

#define NEW(a, T) ((T *)arena_alloc((a), sizeof(T)))
#define NEW_ARRAY(a, T, n) ((T *)arena_alloc((a), sizeof(T) * (size_t)(n)))

/* Internal failure: print file:line and the message, then abort. Never for
 * user errors. */
_Noreturn void die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
#define unreachable() die_at(__FILE__, __LINE__, "unreachable")

#endif
