/* rt_core.h — the runtime's foundation: status codes, error messages,
 * the allocation hook, and the counter-based random number generator with
 * the parameter initializers.
 *
 * Every runtime function that can fail returns an nn_status and, on failure,
 * leaves a human-readable message (naming the file, tensor, shapes...) in a
 * thread-local buffer read with rt_last_error(). Runtime code never exits
 * or aborts the caller's process.
 *
 * All memory the runtime allocates goes through rt_alloc/rt_free, which call
 * one replaceable hook, so tests can make any allocation fail. */
#ifndef NN_RT_CORE_H
#define NN_RT_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* The status type shared by the runtime and every generated library's API.
 * Generated headers repeat this exact definition under the same guard. */
#ifndef NN_STATUS_DEFINED
#define NN_STATUS_DEFINED
typedef enum nn_status {
  NN_OK = 0,            /* success */
  NN_ERR_NULL = 1,      /* a required pointer argument was NULL */
  NN_ERR_OBJECT = 2,    /* the object was not created by this library, or was destroyed */
  NN_ERR_NOMEM = 3,     /* an allocation failed */
  NN_ERR_IO = 4,        /* a file could not be opened, read or written */
  NN_ERR_FORMAT = 5,    /* a file is malformed: bad magic, truncated, bad header */
  NN_ERR_MISMATCH = 6,  /* a well-formed file does not fit: shape, dtype, name, count */
  NN_ERR_RANGE = 7,     /* a value is out of range (e.g. a label >= number of classes) */
  NN_ERR_NONFINITE = 8, /* a NaN or infinity appeared (e.g. the loss diverged) */
  NN_ERR_ARG = 9,       /* an argument is invalid (e.g. a negative size) */
  NN_ERR_INTERRUPTED = 10, /* stopped by a signal */
  NN_ERR_INTERNAL = 11  /* a bug: please report it */
} nn_status;
#endif

/* Name of a status, e.g. "NN_ERR_FORMAT: malformed file". Never NULL. */
const char *rt_status_string(nn_status s);

/* Record a formatted message for the calling thread and return `s`, so
 * failures read `return rt_error(NN_ERR_FORMAT, "%s: bad magic", path);`. */
nn_status rt_error(nn_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The calling thread's last message ("" when none). */
const char *rt_last_error(void);
void rt_clear_error(void);

/* ---- allocation ------------------------------------------------------- */

/* Every allocation is 64-byte aligned. rt_alloc returns NULL on failure
 * (and records an NN_ERR_NOMEM message); rt_free(NULL) is a no-op. */
void *rt_alloc(size_t size);
void *rt_calloc(size_t n, size_t size); /* zeroed; NULL on overflow/failure */
void rt_free(void *p);
/* Resizes a block of rt_alloc: a new block of new_size bytes that holds the
 * first min(old_size, new_size) bytes of p, and p is freed (the hook has no
 * realloc, and every block stays 64-byte aligned). NULL on failure, with p
 * left as it was. rt_realloc(NULL, 0, n) is rt_alloc(n). */
void *rt_realloc(void *p, size_t old_size, size_t new_size);
/* The runtime's one grow-by-doubling helper, for arrays and buffers that
 * fill as they go: p holds *cap elements of `elem` bytes; when need > *cap
 * it returns a block of at least max(need, 2 * *cap, 16) elements holding
 * p's *cap elements (p freed) and sets *cap; else p itself. NULL on failure or
 * overflow (NN_ERR_NOMEM recorded), with p and *cap left as they were, so
 * the caller still owns and frees p. */
void *rt_grow(void *p, size_t *cap, size_t need, size_t elem);

/* The hook: alloc(size, align, ud) returns memory or NULL; free(p, ud).
 * Passing NULLs restores the default (aligned_alloc/free). Not thread-safe:
 * set it before creating objects. */
typedef void *(*rt_alloc_hook)(size_t size, size_t align, void *ud);
typedef void (*rt_free_hook)(void *p, void *ud);
void rt_set_alloc_hook(rt_alloc_hook alloc, rt_free_hook free, void *ud);

/* ---- strict numbers ----------------------------------------------------- */

/* The one way the runtime reads numbers from text it did not write itself
 * (command-line flags, checkpoint metadata). An integer is an optional '-'
 * then decimal digits, nothing else (no spaces, '+', hex, exponent), within
 * [lo, hi]; a number is a decimal floating-point literal (no spaces, hex,
 * inf or nan) that is finite. False, *out untouched, otherwise. */
bool rt_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
bool rt_parse_u64(const char *s, uint64_t hi, uint64_t *out);
bool rt_parse_f64(const char *s, double *out);

/* ---- random numbers ---------------------------------------------------- */

/* Philox-4x32-10: a counter-based generator. The output for (key, counter)
 * is a pure function of both, so results never depend on thread count or
 * evaluation order: element i of a tensor uses counter i. */
void rt_philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
               uint32_t out[4]);
/* Uniform in [0,1) from 24 random bits, for element `i` of stream `stream`. */
float rt_rand_uniform(uint64_t seed, uint64_t stream, uint64_t i);
/* Standard normal (Box-Muller on two uniforms) for element `i`. */
float rt_rand_normal(uint64_t seed, uint64_t stream, uint64_t i);

/* Parameter initializers. Fans follow the rule written in
 * docs/language.md: for rank 2 [in, out] fan_in = in, fan_out = out; for
 * rank 4 [O, C, KH, KW] fan_in = C*KH*KW, fan_out = O*KH*KW; rank 1 and
 * others use the element count for both. The compiler computes the fans and
 * passes the final distribution parameters. */
typedef enum rt_init_kind {
  RT_INIT_ZEROS = 0,   /* all 0 */
  RT_INIT_ONES = 1,    /* all 1 */
  RT_INIT_CONST = 2,   /* all a */
  RT_INIT_UNIFORM = 3, /* uniform in [a, b) */
  RT_INIT_NORMAL = 4,  /* normal, mean a, std b */
  RT_INIT_TRUNC_NORMAL = 5 /* normal, mean a, std b, redrawn outside 2 std */
} rt_init_kind;
/* Fill dst[0..n) deterministically from (seed, stream); `stream` is the
 * parameter's index so each parameter gets independent numbers. */
void rt_init_fill(float *dst, size_t n, rt_init_kind kind, double a, double b,
                  uint64_t seed, uint64_t stream);
void rt_init_fill_f64(double *dst, size_t n, rt_init_kind kind, double a,
                      double b, uint64_t seed, uint64_t stream);

#endif
