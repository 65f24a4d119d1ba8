/* rt_core.c — status strings, thread-local error messages, the allocation
 * hook, Philox-4x32-10 and the initializers. See rt_core.h. */
#include "rt_core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rt_status_string(nn_status s) {
  switch (s) {
  case NN_OK: return "NN_OK: success";
  case NN_ERR_NULL: return "NN_ERR_NULL: a required pointer was NULL";
  case NN_ERR_OBJECT: return "NN_ERR_OBJECT: not a valid object of this library";
  case NN_ERR_NOMEM: return "NN_ERR_NOMEM: out of memory";
  case NN_ERR_IO: return "NN_ERR_IO: input/output error";
  case NN_ERR_FORMAT: return "NN_ERR_FORMAT: malformed file";
  case NN_ERR_MISMATCH: return "NN_ERR_MISMATCH: file does not fit the model";
  case NN_ERR_RANGE: return "NN_ERR_RANGE: value out of range";
  case NN_ERR_NONFINITE: return "NN_ERR_NONFINITE: NaN or infinity";
  case NN_ERR_ARG: return "NN_ERR_ARG: invalid argument";
  case NN_ERR_INTERRUPTED: return "NN_ERR_INTERRUPTED: interrupted";
  case NN_ERR_INTERNAL: return "NN_ERR_INTERNAL: internal error";
  }
  return "unknown status";
}

static _Thread_local char last_error[1024];

nn_status rt_error(nn_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return s;
}

const char *rt_last_error(void) { return last_error; }
void rt_clear_error(void) { last_error[0] = 0; }

/* ---- allocation ------------------------------------------------------- */

static void *default_alloc(size_t size, size_t align, void *ud) {
  (void)ud;
  size = (size + align - 1) / align * align; /* aligned_alloc wants a multiple */
  return aligned_alloc(align, size ? size : align);
}
static void default_free(void *p, void *ud) {
  (void)ud;
  free(p);
}

static rt_alloc_hook alloc_hook = default_alloc;
static rt_free_hook free_hook = default_free;
static void *hook_ud;

void rt_set_alloc_hook(rt_alloc_hook a, rt_free_hook f, void *ud) {
  alloc_hook = a ? a : default_alloc;
  free_hook = f ? f : default_free;
  hook_ud = a ? ud : NULL;
}

void *rt_alloc(size_t size) {
  if (size > ((size_t)1 << 46)) {
    rt_error(NN_ERR_NOMEM, "allocation of %zu bytes refused (too large)", size);
    return NULL;
  }
  void *p = alloc_hook(size, 64, hook_ud);
  if (!p) rt_error(NN_ERR_NOMEM, "out of memory allocating %zu bytes", size);
  return p;
}

void *rt_calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) {
    rt_error(NN_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", n, size);
    return NULL;
  }
  void *p = rt_alloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

void rt_free(void *p) {
  if (p) free_hook(p, hook_ud);
}

void *rt_realloc(void *p, size_t old_size, size_t new_size) {
  void *np = rt_alloc(new_size);
  if (!np) return NULL;
  if (p) memcpy(np, p, old_size < new_size ? old_size : new_size);
  rt_free(p);
  return np;
}

void *rt_grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return p;
  size_t ncap = *cap < 8 ? 16 : *cap;
  while (ncap < need && ncap <= SIZE_MAX / 2) ncap *= 2;
  if (ncap < need) ncap = need;
  if (elem && ncap > SIZE_MAX / elem) {
    rt_error(NN_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", ncap, elem);
    return NULL;
  }
  void *np = rt_realloc(p, *cap * elem, ncap * elem);
  if (np) *cap = ncap;
  return np;
}

/* ---- strict numbers ----------------------------------------------------- */

bool rt_parse_u64(const char *s, uint64_t hi, uint64_t *out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v > hi) return false;
  *out = v;
  return true;
}

bool rt_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  if (!s) return false;
  bool neg = *s == '-';
  uint64_t m;
  if (!rt_parse_u64(s + neg, (uint64_t)INT64_MAX + neg, &m)) return false;
  int64_t v = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
  if (v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool rt_parse_f64(const char *s, double *out) {
  if (!s || !*s) return false;
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789+-.eE", *p)) return false; /* no spaces, hex, inf, nan */
  char *end;
  double v = strtod(s, &end);
  if (*end || !isfinite(v)) return false;
  *out = v;
  return true;
}

/* ---- Philox-4x32-10 (Salmon et al., SC'11) ------------------------------ */

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

void rt_philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo,
               uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
  uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

float rt_rand_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
  uint32_t r[4];
  rt_philox(seed, stream, i, r);
  return (float)(r[0] >> 8) * (1.0f / 16777216.0f);
}

/* Box-Muller with a (0,1] first uniform so log never sees 0. Uses 2 of the
 * 4 words of one Philox block; both numbers depend only on (seed,stream,i). */
static double normal_pair(uint64_t seed, uint64_t stream, uint64_t i,
                          unsigned which) {
  uint32_t r[4];
  rt_philox(seed, stream, i, r);
  double u1 = ((double)(r[2 * which] >> 8) + 1.0) * (1.0 / 16777216.0);
  double u2 = (double)(r[2 * which + 1] >> 8) * (1.0 / 16777216.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

float rt_rand_normal(uint64_t seed, uint64_t stream, uint64_t i) {
  return (float)normal_pair(seed, stream, i, 0);
}

static double init_value(rt_init_kind kind, double a, double b, uint64_t seed,
                         uint64_t stream, uint64_t i) {
  switch (kind) {
  case RT_INIT_ZEROS: return 0.0;
  case RT_INIT_ONES: return 1.0;
  case RT_INIT_CONST: return a;
  case RT_INIT_UNIFORM:
    return a + (b - a) * (double)rt_rand_uniform(seed, stream, i);
  case RT_INIT_NORMAL: return a + b * normal_pair(seed, stream, i, 0);
  case RT_INIT_TRUNC_NORMAL: {
    /* Redraw from later words/blocks until inside 2 std: deterministic per
     * element because the redraw counter is derived from i. */
    for (uint64_t k = 0;; k++) {
      double z = normal_pair(seed, stream ^ (k << 40), i, (unsigned)(k & 1));
      if (fabs(z) <= 2.0 || k == 64) return a + b * (fabs(z) <= 2.0 ? z : 0.0);
    }
  }
  }
  return 0.0;
}

void rt_init_fill(float *dst, size_t n, rt_init_kind kind, double a, double b,
                  uint64_t seed, uint64_t stream) {
  for (size_t i = 0; i < n; i++)
    dst[i] = (float)init_value(kind, a, b, seed, stream, i);
}

void rt_init_fill_f64(double *dst, size_t n, rt_init_kind kind, double a,
                      double b, uint64_t seed, uint64_t stream) {
  for (size_t i = 0; i < n; i++)
    dst[i] = init_value(kind, a, b, seed, stream, i);
}
