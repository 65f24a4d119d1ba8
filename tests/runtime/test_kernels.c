/* test_kernels.c — the runtime's compute kernels against naive loops.
 *
 * Every GEMM/conv case runs on each instruction set this CPU has (C, AVX2,
 * AVX-512) and with pool NULL, a 1-thread and a 2-thread pool; results must
 * be within an error bound of a double-precision reference and bit-identical
 * across the three pools (rt_kernels.h promises that). The conv cases are
 * chosen to reach every strategy of every arch (rt_conv2d_path; a test at
 * the end checks), the pooling cases every step of the vector 2x2 loops.
 * Pooling is compared exactly (max) or to 1e-6 (avg). Allocation failure
 * goes through rt_set_alloc_hook. */
#include "rt_kernels.h"
#include "unit_main.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static rt_pool *pool1, *pool2;

/* The pools every case runs with: NULL, 1 thread, 2 threads. */
static rt_pool *pool_at(int i) { return i == 0 ? NULL : i == 1 ? pool1 : pool2; }

/* Deterministic values in [-1, 1). */
static uint64_t rng_state = 88172645463325252ull;
static double rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Instruction sets this machine can run; RT_ISA_AUTO ends the list. */
static int isa_list(rt_isa out[4]) {
  int n = 0;
  for (int i = RT_ISA_C; i <= RT_ISA_AVX512; i++)
    if (rt_kernels_set_isa((rt_isa)i) == NN_OK) out[n++] = (rt_isa)i;
  rt_kernels_set_isa(RT_ISA_AUTO);
  return n;
}

/* |got - ref| within the error bound of a length-k dot product whose
 * absolute terms sum to absref, at unit roundoff eps. */
static bool within(double got, double ref, double absref, int64_t k, double eps) {
  return fabs(got - ref) <= 2.0 * (double)(k + 4) * eps * absref + 1e-300;
}

/* ---- thread pool ------------------------------------------------------------ */

typedef struct CountCtx {
  atomic_int *hits;
  int64_t n;
  atomic_int bad_index;
  rt_pool *pool;
  atomic_int nested_ok;
} CountCtx;

static void count_task(void *ctx, int64_t b, int64_t e, int ti) {
  CountCtx *c = ctx;
  if (ti < 0 || ti >= rt_pool_size(c->pool)) atomic_fetch_add(&c->bad_index, 1);
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void test_parallel_for_covers(void) {
  for (int pi = 0; pi < 3; pi++) {
    rt_pool *p = pool_at(pi);
    int64_t sizes[] = {1, 2, 3, 7, 100, 1001};
    int64_t grains[] = {1, 3, 64, 5000};
    for (size_t si = 0; si < 6; si++)
      for (size_t gi = 0; gi < 4; gi++) {
        int64_t n = sizes[si];
        atomic_int *hits = calloc((size_t)n, sizeof *hits);
        CountCtx c = {.hits = hits, .n = n, .pool = p};
        rt_parallel_for(p, n, grains[gi], count_task, &c);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += atomic_load(&hits[i]) != 1;
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(atomic_load(&c.bad_index), 0);
        free(hits);
      }
  }
  rt_parallel_for(pool2, 0, 1, count_task, NULL); /* n == 0: fn never called */
  CU_ASSERT_EQUAL(rt_pool_size(NULL), 1);
  CU_ASSERT_EQUAL(rt_pool_size(pool1), 1);
  CU_ASSERT_EQUAL(rt_pool_size(pool2), 2);
}

/* rt_parallel_for_staged: the first stage runs once, on the caller as
 * thread 0 with its scratch (NULL without a pool), before every chunk,
 * and each chunk sees what it wrote. */
typedef struct StagedCtx {
  rt_pool *pool;
  atomic_int stages, bad;
  int written; /* by the first stage, read by the chunks */
  atomic_int *hits;
  int n1;          /* rt_parallel_for_stages: items of the middle stage ... */
  int mid[8];      /* ... each writes its slot (plain stores), after the first stage */
  atomic_int mids; /* middle items run */
} StagedCtx;

static void staged_first(void *ctx, int64_t b, int64_t e, int ti) {
  StagedCtx *c = ctx;
  bool scratch = rt_pool_thread_scratch(c->pool, 0) != NULL;
  if (b != 0 || e != 1 || ti != 0 || scratch != (c->pool != NULL)) atomic_fetch_add(&c->bad, 1);
  atomic_fetch_add(&c->stages, 1);
  c->written = 42;
}

static void staged_mid(void *ctx, int64_t b, int64_t e, int ti) {
  (void)ti;
  StagedCtx *c = ctx;
  if (c->written != 42) atomic_fetch_add(&c->bad, 1);
  for (int64_t i = b; i < e; i++) c->mid[i] = 7 + (int)i;
  atomic_fetch_add(&c->mids, (int)(e - b));
}

static void staged_chunk(void *ctx, int64_t b, int64_t e, int ti) {
  (void)ti;
  StagedCtx *c = ctx;
  if (c->written != 42 || atomic_load(&c->stages) != 1) atomic_fetch_add(&c->bad, 1);
  for (int i = 0; i < c->n1; i++) /* every middle item done, its writes seen */
    if (c->mid[i] != 7 + i) atomic_fetch_add(&c->bad, 1);
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void test_parallel_for_staged(void) {
  for (int pi = 0; pi < 3; pi++)
    for (int64_t n = 1; n <= 100; n *= 10)
      for (int rep = 0; rep < 50; rep++) {
        atomic_int hits[100] = {0};
        StagedCtx c = {.pool = pool_at(pi), .hits = hits};
        rt_parallel_for_staged(c.pool, staged_first, n, 1, staged_chunk, &c);
        int bad = 0;
        for (int64_t i = 0; i < 100; i++) bad += atomic_load(&hits[i]) != (i < n);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(atomic_load(&c.stages), 1);
        CU_ASSERT_EQUAL(atomic_load(&c.bad), 0);
      }
  StagedCtx c = {.pool = pool2};
  rt_parallel_for_staged(pool2, staged_first, 0, 1, staged_chunk, &c); /* n == 0: nothing runs */
  CU_ASSERT_EQUAL(atomic_load(&c.stages), 0);
}

/* rt_parallel_for_stages: the first stage, then n1 middle items (on any
 * thread), then the chunks, which see every middle write. */
static void test_parallel_for_stages(void) {
  for (int pi = 0; pi < 3; pi++)
    for (int n1 = 0; n1 <= 8; n1 += 2)
      for (int rep = 0; rep < 50; rep++) {
        atomic_int hits[100] = {0};
        StagedCtx c = {.pool = pool_at(pi), .hits = hits, .n1 = n1};
        rt_parallel_for_stages(c.pool, staged_first, n1, staged_mid, 37, 1, staged_chunk, &c);
        int bad = 0;
        for (int64_t i = 0; i < 100; i++) bad += atomic_load(&hits[i]) != (i < 37);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(atomic_load(&c.stages), 1);
        CU_ASSERT_EQUAL(atomic_load(&c.mids), n1);
        CU_ASSERT_EQUAL(atomic_load(&c.bad), 0);
      }
}

/* A nested rt_parallel_for runs serially with the outer task's index. */
static void nested_inner(void *ctx, int64_t b, int64_t e, int ti) {
  CountCtx *c = ctx;
  (void)ti;
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&c->hits[i], 1);
}
typedef struct NestCtx {
  rt_pool *pool;
  atomic_int hits[40];
  atomic_int bad;
} NestCtx;
static void nested_inner2(void *ctx, int64_t b, int64_t e, int ti);
static _Thread_local int outer_index;
static void nested_outer(void *ctx, int64_t b, int64_t e, int ti) {
  NestCtx *c = ctx;
  for (int64_t i = b; i < e; i++) {
    outer_index = ti;
    if (rt_pool_thread_scratch(c->pool, ti) == NULL) atomic_fetch_add(&c->bad, 1);
    rt_parallel_for(c->pool, 4, 1, nested_inner2, c);
    (void)i;
  }
}
static void nested_inner2(void *ctx, int64_t b, int64_t e, int ti) {
  NestCtx *c = ctx;
  if (ti != outer_index) atomic_fetch_add(&c->bad, 1);
  /* nested tasks do not get the pool buffer (the outer task may be using it) */
  if (rt_pool_thread_scratch(c->pool, ti) != NULL) atomic_fetch_add(&c->bad, 1);
  if (b != 0 || e != 4) atomic_fetch_add(&c->bad, 1); /* one serial chunk */
  atomic_fetch_add(&c->hits[0], 1);
}

static void test_parallel_for_nested(void) {
  NestCtx c = {.pool = pool2};
  rt_parallel_for(pool2, 10, 1, nested_outer, &c);
  CU_ASSERT_EQUAL(atomic_load(&c.hits[0]), 10);
  CU_ASSERT_EQUAL(atomic_load(&c.bad), 0);
  (void)nested_inner;
}

/* Two outside threads hammering one pool: jobs are serialized, none lost. */
typedef struct Hammer {
  atomic_long sum;
} Hammer;
static void hammer_task(void *ctx, int64_t b, int64_t e, int ti) {
  (void)ti;
  Hammer *h = ctx;
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&h->sum, (long)i);
}
static void *hammer_thread(void *arg) {
  Hammer *h = arg;
  for (int r = 0; r < 200; r++) rt_parallel_for(pool2, 100, 1, hammer_task, h);
  return NULL;
}
static void test_pool_concurrent_callers(void) {
  Hammer h1 = {0}, h2 = {0};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, hammer_thread, &h1);
  pthread_create(&t2, NULL, hammer_thread, &h2);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  CU_ASSERT_EQUAL(atomic_load(&h1.sum), 200L * 4950);
  CU_ASSERT_EQUAL(atomic_load(&h2.sum), 200L * 4950);
}

/* Slow chunks: the caller finishes first and sleeps until the worker's
 * chunk is done; pauses between jobs let the worker fall asleep, so both
 * wake-up paths run. A lost wake-up would hang here. */
static void slow_task(void *ctx, int64_t b, int64_t e, int ti) {
  (void)ti;
  atomic_int *hits = ctx;
  for (int64_t i = b; i < e; i++) {
    struct timespec d = {0, i == 1 ? 1000000 : 0}; /* chunk 1: 1 ms */
    nanosleep(&d, NULL);
    atomic_fetch_add(&hits[i], 1);
  }
}
static void test_pool_sleep_wake(void) {
  for (int r = 0; r < 20; r++) {
    atomic_int hits[2] = {0, 0};
    struct timespec pause = {0, 400000}; /* > the workers' spin time */
    nanosleep(&pause, NULL);
    rt_parallel_for(pool2, 2, 1, slow_task, hits);
    CU_ASSERT(atomic_load(&hits[0]) == 1 && atomic_load(&hits[1]) == 1);
  }
}

static void test_pool_create_destroy(void) {
  rt_pool *p = NULL;
  CU_ASSERT_EQUAL(rt_pool_create(&p, 0), NN_OK); /* online CPUs */
  CU_ASSERT(rt_pool_size(p) >= 1);
  rt_pool_destroy(p);
  CU_ASSERT_EQUAL(rt_pool_create(&p, 3), NN_OK);
  CU_ASSERT_EQUAL(rt_pool_size(p), 3);
  rt_pool_destroy(p);
  rt_pool_destroy(NULL);
  CU_ASSERT_EQUAL(rt_pool_create(NULL, 2), NN_ERR_NULL);
  CU_ASSERT_EQUAL(rt_kernels_set_isa((rt_isa)99), NN_ERR_ARG);
}

/* NNC_ISA caps the automatic choice; an unknown name or an ISA the CPU
 * lacks leaves the best one. */
static void test_isa_env(void) {
  rt_isa isas[4];
  int n = isa_list(isas);
  rt_isa best = isas[n - 1];
  for (int i = 0; i < n; i++) {
    setenv("NNC_ISA", rt_isa_name(isas[i]), 1);
    rt_kernels_set_isa(RT_ISA_AUTO);
    CU_ASSERT_EQUAL(rt_kernels_isa(), isas[i]);
  }
  setenv("NNC_ISA", "sse9", 1);
  rt_kernels_set_isa(RT_ISA_AUTO);
  CU_ASSERT_EQUAL(rt_kernels_isa(), best);
  setenv("NNC_ISA", "c", 1);
  CU_ASSERT_EQUAL(rt_kernels_set_isa(best), NN_OK); /* an explicit choice wins */
  CU_ASSERT_EQUAL(rt_kernels_isa(), best);
  unsetenv("NNC_ISA");
  rt_kernels_set_isa(RT_ISA_AUTO);
  CU_ASSERT_EQUAL(rt_kernels_isa(), best);
}

/* ---- GEMM -------------------------------------------------------------------- */

/* One GEMM problem in logical form: opA[M][K], opB[K][N], C0[M][N]. */
typedef struct GemmCase {
  int64_t M, N, K;
  double alpha, beta;
  bool nan_c; /* fill C with NaN (only meaningful with beta == 0) */
} GemmCase;

#define SENTINEL 12345.0

/* Which ways of sharing a product over the 2-thread pool (rt_gemm_path)
 * the GEMM tests ran, per ISA and element type. */
static const char *const gemm_paths[] = {"serial", "grid", "panels"};
static bool gemm_seen[4][2][3];

static void saw_gemm(bool f64, int64_t M, int64_t N, int64_t K, bool prepacked) {
  const char *path = rt_gemm_path(f64 ? 8 : 4, M, N, K, rt_pool_size(pool2), prepacked);
  for (int i = 0; i < 3; i++)
    if (!strcmp(path, gemm_paths[i])) gemm_seen[rt_kernels_isa()][f64][i] = true;
}

/* Run `gc` in every layout, ISA and pool with element type f64 or f32. */
static void check_gemm(const GemmCase *gc, bool f64) {
  int64_t M = gc->M, N = gc->N, K = gc->K;
  size_t es = f64 ? sizeof(double) : sizeof(float);
  double *a = malloc(sizeof(double) * (size_t)(M * K + 1));
  double *b = malloc(sizeof(double) * (size_t)(K * N + 1));
  double *c0 = malloc(sizeof(double) * (size_t)(M * N + 1));
  double *ref = malloc(sizeof(double) * (size_t)(M * N + 1));
  double *absref = malloc(sizeof(double) * (size_t)(M * N + 1));
  /* Round inputs to the element type so the reference sees what GEMM sees. */
  for (int64_t i = 0; i < M * K; i++) a[i] = f64 ? rnd() : (float)rnd();
  for (int64_t i = 0; i < K * N; i++) b[i] = f64 ? rnd() : (float)rnd();
  for (int64_t i = 0; i < M * N; i++) c0[i] = gc->nan_c ? NAN : (f64 ? rnd() : (float)rnd());
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0, sa = 0;
      for (int64_t p = 0; p < K; p++) {
        s += a[i * K + p] * b[p * N + j];
        sa += fabs(a[i * K + p] * b[p * N + j]);
      }
      double cb = gc->beta != 0 ? gc->beta * c0[i * N + j] : 0;
      ref[i * N + j] = gc->alpha * s + cb;
      absref[i * N + j] = fabs(gc->alpha) * sa + fabs(cb);
    }
  rt_isa isas[4];
  int nisa = isa_list(isas);
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    int64_t arows = ta ? K : M, brows = tb ? N : K;
    void *A = calloc((size_t)(arows * lda + 1), es), *B = calloc((size_t)(brows * ldb + 1), es);
    void *C = malloc((size_t)(M * ldc + 1) * es), *C_first = malloc((size_t)(M * ldc + 1) * es);
    for (int64_t i = 0; i < M; i++)
      for (int64_t p = 0; p < K; p++) {
        int64_t at = ta ? p * lda + i : i * lda + p;
        if (f64) ((double *)A)[at] = a[i * K + p];
        else ((float *)A)[at] = (float)a[i * K + p];
      }
    for (int64_t p = 0; p < K; p++)
      for (int64_t j = 0; j < N; j++) {
        int64_t at = tb ? j * ldb + p : p * ldb + j;
        if (f64) ((double *)B)[at] = b[p * N + j];
        else ((float *)B)[at] = (float)b[p * N + j];
      }
    for (int ii = 0; ii < nisa; ii++) {
      CU_ASSERT_EQUAL_FATAL(rt_kernels_set_isa(isas[ii]), NN_OK);
      for (int pi = 0; pi < 3; pi++) {
        for (int64_t i = 0; i < M * ldc; i++) {
          int64_t r = i / ldc, col = i % ldc;
          double v = col < N ? c0[r * N + col] : SENTINEL;
          if (f64) ((double *)C)[i] = v;
          else ((float *)C)[i] = (float)v;
        }
        if (pi == 2) saw_gemm(f64, M, N, K, false);
        if (f64)
          rt_dgemm(pool_at(pi), ta, tb, M, N, K, gc->alpha, A, lda, B, ldb, gc->beta, C, ldc);
        else
          rt_sgemm(pool_at(pi), ta, tb, M, N, K, (float)gc->alpha, A, lda, B, ldb,
                   (float)gc->beta, C, ldc);
        int bad = 0;
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = 0; j < ldc; j++) {
            double got = f64 ? ((double *)C)[i * ldc + j] : ((float *)C)[i * ldc + j];
            if (j >= N) bad += got != SENTINEL;
            else bad += !within(got, ref[i * N + j], absref[i * N + j], K,
                                f64 ? DBL_EPSILON : FLT_EPSILON);
          }
        if (bad)
          fprintf(stderr, "\n  %s M=%lld N=%lld K=%lld ta=%d tb=%d isa=%s pool=%d: %d bad\n",
                  f64 ? "dgemm" : "sgemm", (long long)M, (long long)N, (long long)K, ta, tb,
                  rt_isa_name(isas[ii]), pi, bad);
        CU_ASSERT_EQUAL(bad, 0);
        if (pi == 0) memcpy(C_first, C, (size_t)(M * ldc) * es);
        else CU_ASSERT_EQUAL(memcmp(C_first, C, (size_t)(M * ldc) * es), 0);
      }
    }
    rt_kernels_set_isa(RT_ISA_AUTO);
    free(A);
    free(B);
    free(C);
    free(C_first);
  }
  free(a);
  free(b);
  free(c0);
  free(ref);
  free(absref);
}

static const GemmCase gemm_cases[] = {
    {1, 1, 1, 1, 0, true},        {3, 17, 1, 1, 0, true},      {1, 257, 33, 1, 1, false},
    {257, 1, 65, 2, 0.25, false}, {17, 31, 33, -0.5, 1, false}, {31, 33, 17, 1, 0, true},
    {33, 65, 127, 1, 0, false},   {65, 127, 31, 1.5, -2, false}, {127, 255, 3, 1, 1, false},
    {255, 33, 257, 1, 0, true},   {13, 10, 256, 1, 0, false},  {37, 45, 1000, 1, 0.5, false},
    {5, 600, 20, 1, 0, true},     {100, 96, 64, 1, 0, false},
    /* products the 2-thread pool shares by panels on every ISA: a recurrent
       step, its weight gradient (K = 32), several row and depth blocks of
       A packed whole (by every thread, a part each, from 64 KB of packed
       A: also an LSTM's backward step, A [32, 1024]); and a narrow one it
       cuts in a grid */
    {32, 256, 256, 1, 0, false},  {256, 256, 32, 1, 1, false}, {200, 160, 500, -1, 0.5, false},
    {32, 256, 1024, 1, 0, false}, {300, 20, 64, 1, 0, true},
    /* few rows (the small-M kernels): whole and partial strips, several
       depth blocks, beta */
    {2, 300, 800, 1, 0.5, false}, {8, 130, 70, -1, 0, true},  {4, 64, 257, 1, 1, false},
};

static void test_sgemm(void) {
  for (size_t i = 0; i < sizeof gemm_cases / sizeof *gemm_cases; i++)
    check_gemm(&gemm_cases[i], false);
}

static void test_dgemm(void) {
  for (size_t i = 0; i < sizeof gemm_cases / sizeof *gemm_cases; i += 2)
    check_gemm(&gemm_cases[i], true);
}

/* Every ISA's packer gives the portable packer's panels, word for word
 * (zero-filled partial panels included), for both layouts, with and
 * without a table of line offsets, at the micro-kernels' widths and odd
 * ones, rows and depths around and between the widths and vector lengths;
 * it reads only the elements it packs (the source is allocated to the last
 * one) and writes nothing past the panels (a guard after them). */
static void check_packers(bool f64) {
  size_t es = f64 ? sizeof(double) : sizeof(float);
  rt_isa isas[4];
  int nisa = isa_list(isas);
  CU_ASSERT_EQUAL_FATAL(rt_kernels_set_isa(RT_ISA_C), NN_OK);
  const rt_gemm_arch *ref = rt_gemm_arch_get((int)es);
  static const int widths[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, 31, 32, 33, 64, 70};
  static const int64_t rowss[] = {1, 5, 6, 7, 8, 13, 16, 31, 48, 97, 200};
  static const int64_t ks[] = {1, 2, 7, 8, 9, 17, 40};
  enum { GUARD = 64 };
  for (int ii = 0; ii < nisa; ii++) {
    CU_ASSERT_EQUAL_FATAL(rt_kernels_set_isa(isas[ii]), NN_OK);
    const rt_gemm_arch *ar = rt_gemm_arch_get((int)es);
    int bad = 0;
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++)
      for (size_t ri = 0; ri < sizeof rowss / sizeof *rowss; ri++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
          for (int mode = 0; mode < 4; mode++) {
            int w = widths[wi];
            int64_t rows = rowss[ri], k = ks[ki];
            bool contig = mode & 1, table = mode & 2;
            /* lines: k of rows elements (contiguous) or rows of k; the
               table visits them in reverse, one element apart more */
            int64_t nl = contig ? k : rows, len = contig ? rows : k, ld = len + 3;
            int64_t *off = table ? malloc(sizeof(int64_t) * (size_t)nl) : NULL;
            for (int64_t l = 0; table && l < nl; l++) off[l] = (nl - 1 - l) * (ld + 1);
            int64_t last = table ? off[0] + len : (nl - 1) * ld + len; /* elements of src */
            char *src = malloc((size_t)last * es);
            for (int64_t i = 0; i < last; i++) {
              if (f64) ((double *)src)[i] = (double)i + 0.25;
              else ((float *)src)[i] = (float)i + 0.5f;
            }
            size_t bytes = (size_t)((rows + w - 1) / w * w * k) * es;
            unsigned char *got = malloc(bytes + GUARD), *want = malloc(bytes);
            memset(got, 0xa5, bytes + GUARD);
            memset(want, 0x5a, bytes);
            ref->pack(contig, src, ld, off, rows, k, w, want);
            ar->pack(contig, src, ld, off, rows, k, w, got);
            int g = 0;
            for (int i = 0; i < GUARD; i++) g += got[bytes + (size_t)i] != 0xa5;
            if (memcmp(got, want, bytes) || g) {
              if (bad++ < 5)
                fprintf(stderr, "\n  pack %s isa=%s w=%d rows=%lld k=%lld contig=%d table=%d: %s\n",
                        f64 ? "f64" : "f32", rt_isa_name(isas[ii]), w, (long long)rows,
                        (long long)k, contig, table, g ? "wrote past the panels" : "differs");
            }
            free(got), free(want), free(src), free(off);
          }
    CU_ASSERT_EQUAL(bad, 0);
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
}

static void test_gemm_packers(void) {
  check_packers(false);
  check_packers(true);
}

/* Every ISA's convolution row kernel against the contract in rt_kernels.h,
 * bit for bit: y[j*ldy + i] is the chain acc = fma(a[off[p] + i],
 * b[p*nr + j], acc) over p from 0 (whichever tile layout the kernel picks
 * for m, n and k), and nothing else in y is written. Depths on both sides
 * of the AVX2 kernel's layout switch; offsets out of order. */
static void test_conv_row_kernels(void) {
  rt_isa isas[4];
  int nisa = isa_list(isas);
  static const int64_t ks[] = {1, 2, 9, 27, 31, 32, 33, 81, 288};
  for (int ii = 0; ii < nisa; ii++) {
    CU_ASSERT_EQUAL_FATAL(rt_kernels_set_isa(isas[ii]), NN_OK);
    const rt_gemm_arch *ar = rt_gemm_arch_get(4);
    if (!ar->row_kernel) continue;
    int bad = 0, nr = ar->nr, mr = ar->row_mr;
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
      int64_t k = ks[ki], stride = 2 * mr + 3;
      int64_t *off = malloc(sizeof(int64_t) * (size_t)k);
      for (int64_t p = 0; p < k; p++) off[p] = ((p * 7) % k) * stride; /* a permutation */
      size_t na = (size_t)(k * stride + mr);
      float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * (size_t)(k * nr));
      for (size_t i = 0; i < na; i++) a[i] = (float)((i * 37) % 101) / 17.0f - 2.5f;
      for (int64_t i = 0; i < k * nr; i++) b[i] = (float)((i * 53) % 97) / 13.0f - 3.0f;
      int64_t ldy = mr + 5;
      float *y = malloc(sizeof(float) * (size_t)(ldy * (nr + 1)));
      for (int m = 1; m <= mr; m++)
        for (int n = 1; n <= nr; n++) {
          for (int64_t i = 0; i < ldy * (nr + 1); i++) y[i] = -7.0f;
          ar->row_kernel(k, a, off, b, y, ldy, m, n);
          for (int j = 0; j <= nr; j++)
            for (int64_t i = 0; i < ldy; i++) {
              float want = -7.0f;
              if (j < n && i < m) {
                want = 0.0f;
                for (int64_t p = 0; p < k; p++) want = fmaf(a[off[p] + i], b[p * nr + j], want);
              }
              if (memcmp(&y[j * ldy + i], &want, sizeof want) && bad++ < 5)
                fprintf(stderr, "\n  row kernel isa=%s k=%lld m=%d n=%d: y[%d][%lld] %.9g, want %.9g\n",
                        rt_isa_name(isas[ii]), (long long)k, m, n, j, (long long)i, y[j * ldy + i], want);
            }
        }
      free(off), free(a), free(b), free(y);
    }
    CU_ASSERT_EQUAL(bad, 0);
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
}

/* alpha == 0 or K == 0: C = beta*C, and beta == 0 clears NaNs. */
static void test_gemm_degenerate(void) {
  float A[4] = {NAN, NAN, NAN, NAN}, B[4] = {NAN, NAN, NAN, NAN};
  float C[4] = {NAN, NAN, NAN, NAN};
  rt_sgemm(pool2, false, false, 2, 2, 2, 0.0f, A, 2, B, 2, 0.0f, C, 2);
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(C[i], 0.0f);
  float D[4] = {1, 2, 3, 4};
  rt_sgemm(NULL, false, false, 2, 2, 0, 1.0f, A, 2, B, 2, 2.0f, D, 2);
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(D[i], 2.0f * (float)(i + 1));
  double E[2] = {NAN, NAN};
  rt_dgemm(pool1, true, true, 1, 2, 0, 1.0, NULL, 1, NULL, 1, 0.0, E, 2);
  CU_ASSERT(E[0] == 0.0 && E[1] == 0.0);
  rt_sgemm(pool2, false, false, 0, 5, 5, 1.0f, A, 5, B, 5, 0.0f, NULL, 5); /* M == 0 */
}

/* Batched: each matrix of the batch against plain GEMM, which is itself
 * checked above; batch sizes below and above the pool size. */
static void check_batched(int64_t M, int64_t N, int64_t K) {
  int64_t lda = K + 1, ldb = N + 2, ldc = N + 3;
  int64_t sa = M * lda + 5, sb = K * ldb + 7, sc = M * ldc + 11;
  int64_t batches[] = {1, 2, 5};
  for (int bi = 0; bi < 3; bi++) {
    int64_t batch = batches[bi];
    float *A = malloc(sizeof(float) * (size_t)(batch * sa)), *B = malloc(sizeof(float) * (size_t)(batch * sb));
    float *C = malloc(sizeof(float) * (size_t)(batch * sc)), *R = malloc(sizeof(float) * (size_t)(batch * sc));
    double *Ad = malloc(sizeof(double) * (size_t)(batch * sa)), *Bd = malloc(sizeof(double) * (size_t)(batch * sb));
    double *Cd = malloc(sizeof(double) * (size_t)(batch * sc)), *Rd = malloc(sizeof(double) * (size_t)(batch * sc));
    for (int64_t i = 0; i < batch * sa; i++) A[i] = (float)(Ad[i] = rnd());
    for (int64_t i = 0; i < batch * sb; i++) B[i] = (float)(Bd[i] = rnd());
    for (int pi = 0; pi < 3; pi++) {
      for (int64_t i = 0; i < batch * sc; i++) C[i] = R[i] = (float)(Cd[i] = Rd[i] = rnd());
      rt_sgemm_batched(pool_at(pi), false, false, batch, M, N, K, 1.5f, A, lda, sa, B, ldb, sb,
                       0.5f, C, ldc, sc);
      rt_dgemm_batched(pool_at(pi), false, false, batch, M, N, K, 1.5, Ad, lda, sa, Bd, ldb, sb,
                       0.5, Cd, ldc, sc);
      for (int64_t b = 0; b < batch; b++) {
        rt_sgemm(NULL, false, false, M, N, K, 1.5f, A + b * sa, lda, B + b * sb, ldb, 0.5f,
                 R + b * sc, ldc);
        rt_dgemm(NULL, false, false, M, N, K, 1.5, Ad + b * sa, lda, Bd + b * sb, ldb, 0.5,
                 Rd + b * sc, ldc);
      }
      /* identical bits: same arithmetic per element, and gaps untouched */
      CU_ASSERT_EQUAL(memcmp(C, R, sizeof(float) * (size_t)(batch * sc)), 0);
      CU_ASSERT_EQUAL(memcmp(Cd, Rd, sizeof(double) * (size_t)(batch * sc)), 0);
    }
    free(A), free(B), free(C), free(R), free(Ad), free(Bd), free(Cd), free(Rd);
  }
}

static void test_gemm_batched(void) {
  check_batched(19, 37, 23);
  check_batched(32, 130, 64); /* one the 2-thread pool shares by panels */
}

/* Prepacked B: rt_sgemm_prepacked after rt_sgemm_prepack_b gives exactly
 * rt_sgemm's bits for the same ISA, for every pool used to pack and to
 * multiply, both layouts of A and B, alpha/beta, and edge shapes (N not a
 * multiple of any nr, K above every kc, M == 1). The packer stays inside
 * rt_*gemm_prepacked_bytes (a guard after it is untouched). Packing with
 * one ISA and multiplying with another is still correct (to the error
 * bound). */
typedef struct PrepackCase {
  int64_t M, N, K;
  double alpha, beta;
} PrepackCase;

#define GUARD 256

static void check_prepacked(const PrepackCase *pc, bool f64) {
  int64_t M = pc->M, N = pc->N, K = pc->K;
  size_t es = f64 ? sizeof(double) : sizeof(float);
  size_t bytes = f64 ? rt_dgemm_prepacked_bytes(K, N) : rt_sgemm_prepacked_bytes(K, N);
  CU_ASSERT_EQUAL(bytes % 64, 0);
  unsigned char *packed = rt_alloc(bytes + GUARD);
  size_t na = (size_t)((M > K ? M : K) + 2) * (size_t)((M > K ? M : K) + 2); /* any layout, ld + 2 */
  size_t nb = (size_t)((N > K ? N : K) + 2) * (size_t)((N > K ? N : K) + 2);
  void *A = malloc(na * es), *B = malloc(nb * es);
  void *C0 = malloc((size_t)(M * (N + 3)) * es), *C1 = malloc((size_t)(M * (N + 3)) * es);
  for (size_t i = 0; i < na; i++) {
    if (f64) ((double *)A)[i] = rnd();
    else ((float *)A)[i] = (float)rnd();
  }
  for (size_t i = 0; i < nb; i++) {
    if (f64) ((double *)B)[i] = rnd();
    else ((float *)B)[i] = (float)rnd();
  }
  int64_t ldc = N + 3;
  rt_isa isas[4];
  int nisa = isa_list(isas), bad = 0;
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2;
    for (int ii = 0; ii < nisa; ii++) {
      for (int pk = 0; pk < 3; pk++) /* pool that packs */
        for (int pm = 0; pm < 3; pm++) { /* pool that multiplies */
          rt_kernels_set_isa(isas[ii]);
          for (int64_t i = 0; i < M * ldc; i++) {
            double v = rnd();
            if (f64) ((double *)C0)[i] = ((double *)C1)[i] = v;
            else ((float *)C0)[i] = ((float *)C1)[i] = (float)v;
          }
          memset(packed, 0xa5, bytes + GUARD);
          if (pm == 2) saw_gemm(f64, M, N, K, true);
          if (f64) {
            rt_dgemm(pool_at(pm), ta, tb, M, N, K, pc->alpha, A, lda, B, ldb, pc->beta, C0, ldc);
            rt_dgemm_prepack_b(pool_at(pk), tb, K, N, B, ldb, packed);
            rt_dgemm_prepacked(pool_at(pm), ta, M, N, K, pc->alpha, A, lda, packed, pc->beta, C1, ldc);
          } else {
            rt_sgemm(pool_at(pm), ta, tb, M, N, K, (float)pc->alpha, A, lda, B, ldb, (float)pc->beta, C0, ldc);
            rt_sgemm_prepack_b(pool_at(pk), tb, K, N, B, ldb, packed);
            rt_sgemm_prepacked(pool_at(pm), ta, M, N, K, (float)pc->alpha, A, lda, packed, (float)pc->beta, C1, ldc);
          }
          int b = memcmp(C0, C1, (size_t)(M * ldc) * es) != 0;
          for (int i = 0; i < GUARD; i++) b += packed[bytes + (size_t)i] != 0xa5;
          if (b)
            fprintf(stderr, "\n  prepacked %s M=%lld N=%lld K=%lld ta=%d tb=%d isa=%s pools %d/%d differs\n",
                    f64 ? "f64" : "f32", (long long)M, (long long)N, (long long)K, ta, tb,
                    rt_isa_name(isas[ii]), pk, pm);
          bad += b;
          /* multiplied with another ISA: the packer's layout, the reference's values */
          if (pk == 0 && pm == 2 && nisa > 1) {
            rt_kernels_set_isa(isas[(ii + 1) % nisa]);
            for (int64_t i = 0; i < M * ldc; i++) {
              double v = rnd();
              if (f64) ((double *)C0)[i] = ((double *)C1)[i] = v;
              else ((float *)C0)[i] = ((float *)C1)[i] = (float)v;
            }
            if (f64) {
              rt_dgemm(pool_at(pm), ta, tb, M, N, K, pc->alpha, A, lda, B, ldb, pc->beta, C0, ldc);
              rt_dgemm_prepacked(pool_at(pm), ta, M, N, K, pc->alpha, A, lda, packed, pc->beta, C1, ldc);
            } else {
              rt_sgemm(pool_at(pm), ta, tb, M, N, K, (float)pc->alpha, A, lda, B, ldb, (float)pc->beta, C0, ldc);
              rt_sgemm_prepacked(pool_at(pm), ta, M, N, K, (float)pc->alpha, A, lda, packed, (float)pc->beta, C1, ldc);
            }
            double eps = f64 ? DBL_EPSILON : FLT_EPSILON;
            for (int64_t i = 0; i < M * ldc; i++) {
              double x = f64 ? ((double *)C0)[i] : ((float *)C0)[i];
              double y = f64 ? ((double *)C1)[i] : ((float *)C1)[i];
              /* both near the exact value: |terms| <= 1, so within 2 bounds of K terms */
              bad += !(fabs(x - y) <= 4.0 * (double)(K + 4) * eps * (fabs(pc->alpha) * (double)K + fabs(pc->beta)) + 1e-300);
            }
          }
        }
    }
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
  CU_ASSERT_EQUAL(bad, 0);
  rt_free(packed);
  free(A), free(B), free(C0), free(C1);
}

static const PrepackCase prepack_cases[] = {
    {32, 256, 256, 1, 0},  /* a recurrent step */
    {1, 37, 19, 1, 1},     /* M = 1, N not a multiple of any nr */
    {13, 70, 500, -0.5, 2},/* K above every kc: several depth blocks */
    {50, 600, 40, 1, 0},   /* N above nc: several column blocks, big enough to split */
    {7, 3, 5, 2, 0.5},     /* tiny */
    {40, 130, 64, 1, 1},   /* N split in panels with a partial last one */
};

static void test_gemm_prepacked(void) {
  for (size_t i = 0; i < sizeof prepack_cases / sizeof *prepack_cases; i++) {
    check_prepacked(&prepack_cases[i], false);
    check_prepacked(&prepack_cases[i], true);
  }
}

/* Few rows (at most RT_GEMM_SMALL_M: the small-M kernels, no packing of
 * B) give a big product's rows bit for bit: the rows of M = 19 (packed
 * path) against the same rows computed r at a time, r = 1 .. SMALL_M,
 * with B as it stands and prepacked, on every ISA, layout and pool.
 * Several strips of columns with a partial last one, K over several
 * depth blocks, beta 0 and not. (The small products' values against the
 * reference: check_gemm's cases with M <= 8.) */
typedef struct SmallCase {
  int64_t N, K;
  double alpha, beta;
} SmallCase;

static void check_small_rows(const SmallCase *sc) {
  const int64_t M = 2 * RT_GEMM_SMALL_M + 3, N = sc->N, K = sc->K;
  const int rs[] = {1, 2, 3, 4, 5, RT_GEMM_SMALL_M};
  float alpha = (float)sc->alpha, beta = (float)sc->beta;
  int64_t ldc = N + 1;
  size_t na = (size_t)((M > K ? M : K) + 2) * (size_t)((M > K ? M : K) + 2);
  size_t nb = (size_t)((N > K ? N : K) + 2) * (size_t)((N > K ? N : K) + 2);
  float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
  float *C0 = malloc((size_t)(M * ldc) * sizeof(float)), *Cbig = malloc((size_t)(M * ldc) * sizeof(float));
  float *C = malloc((size_t)(M * ldc) * sizeof(float));
  void *packed = rt_alloc(rt_sgemm_prepacked_bytes(K, N));
  for (size_t i = 0; i < na; i++) A[i] = (float)rnd();
  for (size_t i = 0; i < nb; i++) B[i] = (float)rnd();
  for (int64_t i = 0; i < M * ldc; i++) C0[i] = (float)rnd();
  rt_isa isas[4];
  int nisa = isa_list(isas), bad = 0;
  for (int t = 0; t < 4; t++) {
    bool ta = t & 1, tb = t & 2;
    int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2;
    for (int ii = 0; ii < nisa; ii++) {
      rt_kernels_set_isa(isas[ii]);
      memcpy(Cbig, C0, (size_t)(M * ldc) * sizeof(float));
      rt_sgemm(pool2, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, Cbig, ldc);
      rt_sgemm_prepack_b(NULL, tb, K, N, B, ldb, packed);
      for (int ri = 0; ri < (int)(sizeof rs / sizeof *rs); ri++)
        for (int pi = 0; pi < 3; pi++)
          for (int pre = 0; pre < 2; pre++) {
            memcpy(C, C0, (size_t)(M * ldc) * sizeof(float));
            for (int64_t i0 = 0; i0 < M; i0 += rs[ri]) {
              int64_t rows = M - i0 < rs[ri] ? M - i0 : rs[ri];
              const float *a = A + (ta ? i0 : i0 * lda);
              if (pre)
                rt_sgemm_prepacked(pool_at(pi), ta, rows, N, K, alpha, a, lda, packed, beta,
                                   C + i0 * ldc, ldc);
              else
                rt_sgemm(pool_at(pi), ta, tb, rows, N, K, alpha, a, lda, B, ldb, beta,
                         C + i0 * ldc, ldc);
            }
            if (memcmp(C, Cbig, (size_t)(M * ldc) * sizeof(float))) {
              fprintf(stderr, "\n  rows %d at a time N=%lld K=%lld ta=%d tb=%d isa=%s pool=%d%s: not the batch's bits\n",
                      rs[ri], (long long)N, (long long)K, ta, tb, rt_isa_name(isas[ii]), pi,
                      pre ? " prepacked" : "");
              bad++;
            }
          }
    }
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
  CU_ASSERT_EQUAL(bad, 0);
  rt_free(packed);
  free(A), free(B), free(C0), free(Cbig), free(C);
}

static const SmallCase small_cases[] = {
    {256, 784, 1, 0},   /* the MLP's first layer: whole strips, 3-4 depth blocks */
    {10, 256, 1, 1},    /* its last: one partial strip, bias-like beta */
    {300, 70, -1.5, 0.5}, /* whole strips and a partial one, N not a multiple of nr */
    {37, 1000, 1, 0},   /* K over every kc */
    {1, 3, 2, 0},       /* one column */
    {129, 1, 1, 0},     /* one step of depth, a strip and one column */
};

static void test_gemm_small_rows(void) {
  for (size_t i = 0; i < sizeof small_cases / sizeof *small_cases; i++)
    check_small_rows(&small_cases[i]);
}

/* K == 0, N == 0, alpha == 0: the degenerate forms rt_sgemm allows. */
static void test_gemm_prepacked_degenerate(void) {
  _Alignas(64) unsigned char packed[1024];
  CU_ASSERT(rt_sgemm_prepacked_bytes(0, 5) == 64); /* a header only */
  CU_ASSERT(rt_dgemm_prepacked_bytes(5, 0) == 64);
  CU_ASSERT_FATAL(rt_sgemm_prepacked_bytes(2, 2) <= sizeof packed);
  float C[4] = {1, 2, 3, 4};
  rt_sgemm_prepack_b(pool2, false, 0, 2, NULL, 2, packed);
  rt_sgemm_prepacked(pool2, false, 2, 2, 0, 1.0f, NULL, 1, packed, 2.0f, C, 2);
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(C[i], 2.0f * (float)(i + 1));
  float B[4] = {1, 2, 3, 4}, A[4] = {NAN, NAN, NAN, NAN}, D[4] = {NAN, NAN, NAN, NAN};
  rt_sgemm_prepack_b(NULL, true, 2, 2, B, 2, packed);
  rt_sgemm_prepacked(NULL, false, 2, 2, 2, 0.0f, A, 2, packed, 0.0f, D, 2);
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(D[i], 0.0f);
  double E[2] = {NAN, NAN};
  rt_dgemm_prepack_b(pool1, false, 3, 0, NULL, 1, packed);
  rt_dgemm_prepacked(pool1, false, 2, 0, 3, 1.0, NULL, 3, packed, 0.0, E, 1); /* N == 0: C untouched */
  CU_ASSERT(isnan(E[0]) && isnan(E[1]));
}

/* ---- convolution ------------------------------------------------------------ */

static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

static rt_conv2d_shape conv_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                                  int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH,
                                  int64_t PW) {
  rt_conv2d_shape s = {N, C, H, W, O, KH, KW, SH, SW, PH, PW, conv_out(H, KH, SH, PH),
                       conv_out(W, KW, SW, PW)};
  return s;
}

/* Reference: y, dx, dw from x, w, dy by the definition; `abs*` get the
 * sums of absolute terms for the error bound. */
static void conv_reference(const rt_conv2d_shape *s, const double *x, const double *w,
                           const double *dy, double *y, double *ay, double *dx, double *adx,
                           double *dw, double *adw) {
  int64_t ysz = s->N * s->O * s->OH * s->OW, xsz = s->N * s->C * s->H * s->W;
  int64_t wsz = s->O * s->C * s->KH * s->KW;
  memset(y, 0, sizeof(double) * (size_t)ysz), memset(ay, 0, sizeof(double) * (size_t)ysz);
  memset(dx, 0, sizeof(double) * (size_t)xsz), memset(adx, 0, sizeof(double) * (size_t)xsz);
  memset(dw, 0, sizeof(double) * (size_t)wsz), memset(adw, 0, sizeof(double) * (size_t)wsz);
  for (int64_t n = 0; n < s->N; n++)
    for (int64_t o = 0; o < s->O; o++)
      for (int64_t oh = 0; oh < s->OH; oh++)
        for (int64_t ow = 0; ow < s->OW; ow++) {
          int64_t yi = ((n * s->O + o) * s->OH + oh) * s->OW + ow;
          for (int64_t c = 0; c < s->C; c++)
            for (int64_t kh = 0; kh < s->KH; kh++)
              for (int64_t kw = 0; kw < s->KW; kw++) {
                int64_t ih = oh * s->SH - s->PH + kh, iw = ow * s->SW - s->PW + kw;
                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                int64_t xi = ((n * s->C + c) * s->H + ih) * s->W + iw;
                int64_t wi = ((o * s->C + c) * s->KH + kh) * s->KW + kw;
                y[yi] += x[xi] * w[wi], ay[yi] += fabs(x[xi] * w[wi]);
                dx[xi] += dy[yi] * w[wi], adx[xi] += fabs(dy[yi] * w[wi]);
                dw[wi] += dy[yi] * x[xi], adw[wi] += fabs(dy[yi] * x[xi]);
              }
        }
}

typedef void (*ConvFn)(rt_pool *, const rt_conv2d_shape *, const void *, const void *, void *,
                       void *);

/* Which strategies the conv cases reached: seen[isa][f64][pooled][which]
 * holds the path names (rt_conv2d_path) run with that ISA; the coverage
 * test at the end asks for every path each arch has. */
#define MAX_PATHS 8
static const char *seen[4][2][2][3][MAX_PATHS];

static void saw_path(const rt_conv2d_shape *s, int which, bool f64, bool pooled) {
  const char *path = rt_conv2d_path(s, which, f64, pooled);
  const char **row = seen[rt_kernels_isa()][f64][pooled][which];
  for (int i = 0; i < MAX_PATHS; i++) {
    if (row[i] && !strcmp(row[i], path)) return;
    if (!row[i]) {
      row[i] = path;
      return;
    }
  }
}

static bool was_seen(rt_isa isa, bool f64, bool pooled, int which, const char *path) {
  for (int i = 0; i < MAX_PATHS; i++)
    if (seen[isa][f64][pooled][which][i] && !strcmp(seen[isa][f64][pooled][which][i], path))
      return true;
  return false;
}

static void fwd32(rt_pool *p, const rt_conv2d_shape *s, const void *a, const void *b, void *o, void *sc) { rt_conv2d_forward(p, s, a, b, o, sc); }
static void bd32(rt_pool *p, const rt_conv2d_shape *s, const void *a, const void *b, void *o, void *sc) { rt_conv2d_backward_data(p, s, a, b, o, sc); }
static void bf32(rt_pool *p, const rt_conv2d_shape *s, const void *a, const void *b, void *o, void *sc) { rt_conv2d_backward_filter(p, s, a, b, o, sc); }
static void fwd64(rt_pool *p, const rt_conv2d_shape *s, const void *a, const void *b, void *o, void *sc) { rt_conv2d_forward_f64(p, s, a, b, o, sc); }
static void bd64(rt_pool *p, const rt_conv2d_shape *s, const void *a, const void *b, void *o, void *sc) { rt_conv2d_backward_data_f64(p, s, a, b, o, sc); }
static void bf64(rt_pool *p, const rt_conv2d_shape *s, const void *a, const void *b, void *o, void *sc) { rt_conv2d_backward_filter_f64(p, s, a, b, o, sc); }

/* Run one conv function on every ISA and pool; compare to ref within the
 * bound for depth `k`, and across pools bit for bit. Output is pre-filled
 * with NaN to check it is overwritten, not accumulated. */
static int run_conv(const char *what, int which, ConvFn fn, const rt_conv2d_shape *s,
                    const void *in1, const void *in2, int64_t out_n, const double *ref,
                    const double *absref, int64_t k, bool f64) {
  size_t es = f64 ? sizeof(double) : sizeof(float);
  size_t sbytes = rt_conv2d_scratch_bytes(s, 2);
  void *scratch = rt_alloc(sbytes);
  void *out = malloc((size_t)out_n * es), *first = malloc((size_t)out_n * es);
  rt_isa isas[4];
  int nisa = isa_list(isas), failures = 0;
  /* the huge thin shapes only test the fallback paths: one pool suffices */
  int first_pool = out_n > 100000 ? 2 : 0;
  for (int ii = 0; ii < nisa; ii++) {
    /* The portable C arch runs the same conv paths as AVX2 (only kernels
     * differ, and the GEMM tests cover those): big cases skip it. */
    if (isas[ii] == RT_ISA_C && nisa > 1 && out_n * k > 2000000) continue;
    /* f64 takes the same conv paths on AVX2 as on AVX-512 (no f64 row or
     * in-place kernels); the dgemm tests cover its AVX2 kernel. */
    if (f64 && isas[ii] == RT_ISA_AVX2 && isas[nisa - 1] == RT_ISA_AVX512) continue;
    rt_kernels_set_isa(isas[ii]);
    saw_path(s, which, f64, false);
    for (int pi = first_pool; pi < 3; pi++) {
      for (int64_t i = 0; i < out_n; i++) {
        if (f64) ((double *)out)[i] = NAN;
        else ((float *)out)[i] = NAN;
      }
      /* garbage (NaN) scratch must not matter; the head holds the shared part */
      memset(scratch, 0xff, sbytes < (1u << 18) ? sbytes : (1u << 18));
      fn(pool_at(pi), s, in1, in2, out, scratch);
      int bad = 0;
      for (int64_t i = 0; i < out_n; i++) {
        double got = f64 ? ((double *)out)[i] : ((float *)out)[i];
        bad += !within(got, ref[i], absref[i], k, f64 ? DBL_EPSILON : FLT_EPSILON);
      }
      if (bad)
        fprintf(stderr, "\n  %s%s N%lld C%lld %lldx%lld O%lld k%lldx%lld s%lld,%lld p%lld,%lld isa=%s pool=%d: %d bad\n",
                what, f64 ? "_f64" : "", (long long)s->N, (long long)s->C, (long long)s->H,
                (long long)s->W, (long long)s->O, (long long)s->KH, (long long)s->KW,
                (long long)s->SH, (long long)s->SW, (long long)s->PH, (long long)s->PW,
                rt_isa_name(isas[ii]), pi, bad);
      failures += bad;
      if (pi == first_pool) memcpy(first, out, (size_t)out_n * es);
      else failures += memcmp(first, out, (size_t)out_n * es) != 0;
    }
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
  rt_free(scratch);
  free(out);
  free(first);
  return failures;
}

static void check_conv(const rt_conv2d_shape *s, bool f64) {
  CU_ASSERT_EQUAL_FATAL(rt_conv2d_shape_check(s), NN_OK);
  int64_t xsz = s->N * s->C * s->H * s->W, wsz = s->O * s->C * s->KH * s->KW;
  int64_t ysz = s->N * s->O * s->OH * s->OW;
  double *x = malloc(sizeof(double) * (size_t)xsz), *w = malloc(sizeof(double) * (size_t)wsz);
  double *dy = malloc(sizeof(double) * (size_t)ysz);
  double *y = malloc(sizeof(double) * (size_t)ysz), *ay = malloc(sizeof(double) * (size_t)ysz);
  double *dx = malloc(sizeof(double) * (size_t)xsz), *adx = malloc(sizeof(double) * (size_t)xsz);
  double *dw = malloc(sizeof(double) * (size_t)wsz), *adw = malloc(sizeof(double) * (size_t)wsz);
  for (int64_t i = 0; i < xsz; i++) x[i] = f64 ? rnd() : (float)rnd();
  for (int64_t i = 0; i < wsz; i++) w[i] = f64 ? rnd() : (float)rnd();
  for (int64_t i = 0; i < ysz; i++) dy[i] = f64 ? rnd() : (float)rnd();
  conv_reference(s, x, w, dy, y, ay, dx, adx, dw, adw);
  const void *xs = x, *ws = w, *dys = dy;
  float *xf = NULL, *wf = NULL, *dyf = NULL;
  if (!f64) {
    xf = malloc(sizeof(float) * (size_t)xsz), wf = malloc(sizeof(float) * (size_t)wsz);
    dyf = malloc(sizeof(float) * (size_t)ysz);
    for (int64_t i = 0; i < xsz; i++) xf[i] = (float)x[i];
    for (int64_t i = 0; i < wsz; i++) wf[i] = (float)w[i];
    for (int64_t i = 0; i < ysz; i++) dyf[i] = (float)dy[i];
    xs = xf, ws = wf, dys = dyf;
  }
  int64_t ckk = s->C * s->KH * s->KW;
  int bad = run_conv("forward", 0, f64 ? fwd64 : fwd32, s, xs, ws, ysz, y, ay, ckk, f64);
  bad += run_conv("backward_data", 1, f64 ? bd64 : bd32, s, dys, ws, xsz, dx, adx, s->O * s->KH * s->KW, f64);
  bad += run_conv("backward_filter", 2, f64 ? bf64 : bf32, s, xs, dys, wsz, dw, adw, s->N * s->OH * s->OW, f64);
  CU_ASSERT_EQUAL(bad, 0);
  free(x), free(w), free(dy), free(y), free(ay), free(dx), free(adx), free(dw), free(adw);
  free(xf), free(wf), free(dyf);
}

static rt_conv2d_shape conv_cases(int i) {
  switch (i) {
  case 0: return conv_shape(2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1);     /* 3x3 pad 1 */
  case 1: return conv_shape(3, 2, 9, 8, 5, 5, 5, 2, 2, 2, 2);     /* 5x5 stride 2 pad 2 */
  case 2: return conv_shape(1, 4, 6, 6, 3, 1, 1, 1, 1, 0, 0);     /* 1x1 */
  case 3: return conv_shape(2, 3, 8, 11, 7, 3, 5, 2, 1, 0, 2);    /* non-square everything */
  case 4: return conv_shape(1, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1);  /* CNN layer 1, batch 1 */
  case 5: return conv_shape(2, 32, 14, 14, 16, 3, 3, 1, 1, 1, 1); /* CNN layer 2-like */
  case 6: return conv_shape(1, 50, 5, 4, 13, 3, 3, 1, 1, 1, 0);   /* CKK 450 > kc */
  case 7: return conv_shape(1, 2, 3, 3, 400, 1, 1, 1, 1, 0, 0);   /* O 400 > kc */
  case 8: return conv_shape(3, 2, 5, 6, 3, 2, 2, 2, 2, 0, 0);     /* 2x2 stride 2 */
  case 9: return conv_shape(1, 2, 4, 4, 3, 1, 1, 2, 2, 2, 2);     /* padding > kernel: zero rows */
  case 10: return conv_shape(2, 16, 9, 9, 20, 3, 3, 2, 2, 1, 1);  /* channels-last filter, stride 2 */
  case 11: return conv_shape(1, 3, 5, 4, 17, 3, 3, 1, 1, 1, 1);   /* narrow output rows */
  case 12: return conv_shape(1, 4, 6, 7, 3, 1, 1, 1, 1, 1, 1);    /* stride 1, padding > K-1 */
  case 13: return conv_shape(2, 5, 9, 31, 40, 3, 3, 1, 1, 2, 1);  /* O % 32 != 0, 3 row segments */
  case 14: return conv_shape(2, 3, 6, 7, 11, 3, 3, 1, 1, 1, 1);   /* row kernel: 7-pixel rows, 11 channels */
  case 15: return conv_shape(2, 9, 7, 7, 5, 3, 3, 1, 1, 1, 1);    /* backward data rows: 9 channels */
  case 16: return conv_shape(1, 2, 16, 16, 4, 3, 3, 1, 1, 1, 1);  /* few taps, rows a multiple of 16 */
  case 17: return conv_shape(2, 20, 6, 6, 7, 3, 3, 1, 1, 1, 1);   /* channels last, C % 16 != 0 */
  /* inputs larger than a thread's work buffer (196608 f32): the fallbacks */
  case 18: return conv_shape(1, 1, 1, 200000, 2, 1, 3, 1, 1, 0, 1);
  case 19: return conv_shape(1, 16, 1, 12300, 3, 1, 3, 1, 1, 0, 1);
  }
  return conv_shape(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0);
}

#define CONV_CASES 20

static void test_conv_f32(void) {
  for (int i = 0; i < CONV_CASES; i++) {
    rt_conv2d_shape s = conv_cases(i);
    check_conv(&s, false);
  }
}

static void test_conv_f64(void) {
  for (int i = 0; i < CONV_CASES; i++) {
    if (i == 5) continue; /* the slowest; f32 covers it */
    rt_conv2d_shape s = conv_cases(i);
    check_conv(&s, true);
  }
}

static void test_conv_shape_check(void) {
  rt_conv2d_shape s = conv_shape(1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0);
  CU_ASSERT_EQUAL(rt_conv2d_shape_check(&s), NN_OK);
  s.OH = 4;
  CU_ASSERT_EQUAL(rt_conv2d_shape_check(&s), NN_ERR_ARG);
  CU_ASSERT_STRING_EQUAL(rt_last_error(), "conv2d: output 4x3, expected 3x3");
  s = conv_shape(1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0);
  CU_ASSERT_EQUAL(rt_conv2d_shape_check(&s), NN_ERR_ARG);
  CU_ASSERT_STRING_EQUAL(rt_last_error(), "conv2d: kernel 3x3 larger than padded input");
  s = conv_shape(1, 0, 5, 5, 1, 3, 3, 1, 1, 0, 0);
  CU_ASSERT_EQUAL(rt_conv2d_shape_check(&s), NN_ERR_ARG);
  s = conv_shape(1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0);
  s.SW = 0;
  CU_ASSERT_EQUAL(rt_conv2d_shape_check(&s), NN_ERR_ARG);
  CU_ASSERT_EQUAL(rt_conv2d_shape_check(NULL), NN_ERR_NULL);
}

/* ---- pooling ------------------------------------------------------------------ */

static rt_pool2d_shape pool_shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH,
                                  int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW) {
  rt_pool2d_shape s = {N, C, H, W, KH, KW, SH, SW, PH, PW, conv_out(H, KH, SH, PH),
                       conv_out(W, KW, SW, PW)};
  return s;
}

/* Reference argmax (index into the plane, -1 if none): first maximal in
 * row-major window order, NaN beats numbers, first NaN stays. */
static int64_t ref_argmax(const rt_pool2d_shape *s, const double *x, int64_t oh, int64_t ow) {
  int64_t bi = -1;
  double best = 0;
  for (int64_t kh = 0; kh < s->KH; kh++)
    for (int64_t kw = 0; kw < s->KW; kw++) {
      int64_t ih = oh * s->SH - s->PH + kh, iw = ow * s->SW - s->PW + kw;
      if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
      double v = x[ih * s->W + iw];
      if (bi < 0 || v > best || (isnan(v) && !isnan(best))) best = v, bi = ih * s->W + iw;
    }
  return bi;
}

/* Equal, treating two NaNs as equal. */
static bool same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void check_pool(const rt_pool2d_shape *s, bool f64, bool with_nan) {
  CU_ASSERT_EQUAL_FATAL(rt_pool2d_shape_check(s), NN_OK);
  int64_t planes = s->N * s->C, hw = s->H * s->W, ohw = s->OH * s->OW;
  int64_t xn = planes * hw, yn = planes * ohw;
  double *x = malloc(sizeof(double) * (size_t)xn), *h = malloc(sizeof(double) * (size_t)xn);
  double *dy = malloc(sizeof(double) * (size_t)yn);
  double *r_max = malloc(sizeof(double) * (size_t)yn), *r_pick = malloc(sizeof(double) * (size_t)yn);
  double *r_avg = malloc(sizeof(double) * (size_t)yn);
  double *r_mdx = calloc((size_t)xn, sizeof(double)), *r_adx = calloc((size_t)xn, sizeof(double));
  /* small integers: many ties, exact sums */
  for (int64_t i = 0; i < xn; i++) x[i] = (double)((int)(rnd() * 3.0)), h[i] = (double)i;
  if (with_nan) x[5 % xn] = NAN, x[7 % xn] = NAN, x[xn - 1] = NAN, x[2 % xn] = -INFINITY;
  for (int64_t i = 0; i < yn; i++) dy[i] = (double)((int)(rnd() * 8.0));
  double inv = 1.0 / (double)(s->KH * s->KW);
  for (int64_t pl = 0; pl < planes; pl++)
    for (int64_t oh = 0; oh < s->OH; oh++)
      for (int64_t ow = 0; ow < s->OW; ow++) {
        int64_t o = pl * ohw + oh * s->OW + ow;
        int64_t i = ref_argmax(s, x + pl * hw, oh, ow);
        r_max[o] = i < 0 ? -INFINITY : x[pl * hw + i];
        r_pick[o] = i < 0 ? 0.0 : h[pl * hw + i];
        if (i >= 0) r_mdx[pl * hw + i] += dy[o];
        double sum = 0;
        for (int64_t kh = 0; kh < s->KH; kh++)
          for (int64_t kw = 0; kw < s->KW; kw++) {
            int64_t ih = oh * s->SH - s->PH + kh, iw = ow * s->SW - s->PW + kw;
            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
            sum += x[pl * hw + ih * s->W + iw];
            r_adx[pl * hw + ih * s->W + iw] += dy[o] * inv;
          }
        r_avg[o] = sum * inv;
      }
  /* typed copies */
  size_t es = f64 ? sizeof(double) : sizeof(float);
  void *X = malloc((size_t)xn * es), *Hh = malloc((size_t)xn * es), *DY = malloc((size_t)yn * es);
  void *Y = malloc((size_t)(xn > yn ? xn : yn) * es);
  for (int64_t i = 0; i < xn; i++) {
    if (f64) ((double *)X)[i] = x[i], ((double *)Hh)[i] = h[i];
    else ((float *)X)[i] = (float)x[i], ((float *)Hh)[i] = (float)h[i];
  }
  for (int64_t i = 0; i < yn; i++) {
    if (f64) ((double *)DY)[i] = dy[i];
    else ((float *)DY)[i] = (float)dy[i];
  }
#define GET(i) (f64 ? ((double *)Y)[i] : (double)((float *)Y)[i])
  rt_isa isas[4];
  int nisa = isa_list(isas);
  for (int run = 0; run < 3 * nisa; run++) { /* every ISA (2x2 has AVX-512 and AVX2 code) x pool */
    int pi = run % 3;
    rt_kernels_set_isa(isas[run / 3]);
    rt_pool *p = pool_at(pi);
    int bad[7] = {0};
    memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
    if (f64) rt_maxpool2d_forward_f64(p, s, X, Y);
    else rt_maxpool2d_forward(p, s, X, Y);
    for (int64_t i = 0; i < yn; i++) bad[0] += !same(GET(i), r_max[i]);
    memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
    if (f64) rt_maxpool2d_pick_f64(p, s, X, Hh, Y);
    else rt_maxpool2d_pick(p, s, X, Hh, Y);
    for (int64_t i = 0; i < yn; i++) bad[1] += !same(GET(i), r_pick[i]);
    memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
    if (f64) rt_maxpool2d_backward_f64(p, s, X, DY, Y);
    else rt_maxpool2d_backward(p, s, X, DY, Y);
    for (int64_t i = 0; i < xn; i++) bad[2] += !same(GET(i), r_mdx[i]);
    if (!f64) { /* the argmax tape: same y, the reference argmax, same dx */
      uint8_t *tape = malloc((size_t)yn);
      memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
      memset(tape, 0x77, (size_t)yn);
      rt_maxpool2d_forward_tape(p, s, X, Y, tape);
      for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oh = 0; oh < s->OH; oh++)
          for (int64_t ow = 0; ow < s->OW; ow++) {
            int64_t o = pl * ohw + oh * s->OW + ow, i = ref_argmax(s, x + pl * hw, oh, ow);
            int want = i < 0 ? 255 : (int)((i / s->W - (oh * s->SH - s->PH)) * s->KW + (i % s->W - (ow * s->SW - s->PW)));
            bad[5] += !same(GET(o), r_max[o]) || tape[o] != want;
          }
      memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
      rt_maxpool2d_backward_tape(p, s, tape, DY, Y);
      for (int64_t i = 0; i < xn; i++) bad[6] += !same(GET(i), r_mdx[i]);
      free(tape);
    }
    if (!with_nan) {
      memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
      if (f64) rt_avgpool2d_forward_f64(p, s, X, Y);
      else rt_avgpool2d_forward(p, s, X, Y);
      for (int64_t i = 0; i < yn; i++) bad[3] += !(fabs(GET(i) - r_avg[i]) <= 1e-6 * (1 + fabs(r_avg[i])));
      memset(Y, 0xff, (size_t)(xn > yn ? xn : yn) * es);
      if (f64) rt_avgpool2d_backward_f64(p, s, DY, Y);
      else rt_avgpool2d_backward(p, s, DY, Y);
      for (int64_t i = 0; i < xn; i++) bad[4] += !(fabs(GET(i) - r_adx[i]) <= 1e-6 * (1 + fabs(r_adx[i])));
    }
    for (int k = 0; k < 7; k++) {
      if (bad[k])
        fprintf(stderr, "\n  pool op %d %s %s %lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld pool=%d: %d bad\n",
                k, f64 ? "f64" : "f32", rt_isa_name(rt_kernels_isa()), (long long)s->H, (long long)s->W, (long long)s->KH,
                (long long)s->KW, (long long)s->SH, (long long)s->SW, (long long)s->PH,
                (long long)s->PW, pi, bad[k]);
      CU_ASSERT_EQUAL(bad[k], 0);
    }
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
#undef GET
  free(x), free(h), free(dy), free(r_max), free(r_pick), free(r_avg), free(r_mdx), free(r_adx);
  free(X), free(Hh), free(DY), free(Y);
}

static const int64_t pool_cases[][10] = {
    /* N C H W KH KW SH SW PH PW */
    {2, 3, 7, 9, 3, 3, 2, 2, 1, 1},   /* overlapping 3x3 stride 2, padded */
    {2, 3, 6, 8, 2, 2, 2, 2, 0, 0},   /* the 2x2 fast path */
    {1, 2, 7, 7, 2, 2, 2, 2, 0, 0},   /* 2x2 on odd sizes (last row/col dropped) */
    {2, 2, 5, 6, 3, 2, 1, 2, 1, 0},   /* non-square window and strides */
    {1, 1, 2, 3, 1, 1, 1, 1, 1, 1},   /* padding > window: all-padding windows */
    {3, 5, 12, 12, 3, 3, 2, 2, 1, 1}, /* enough planes to split across threads */
    {2, 3, 4, 68, 2, 2, 2, 2, 0, 0},  /* 2x2, 34 windows a row: whole and partial vectors */
    {1, 2, 5, 35, 2, 2, 2, 2, 0, 0},  /* 2x2, 17 windows a row, odd sizes */
};

static void test_pool_f32(void) {
  for (size_t i = 0; i < sizeof pool_cases / sizeof *pool_cases; i++) {
    const int64_t *c = pool_cases[i];
    rt_pool2d_shape s = pool_shape(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]);
    check_pool(&s, false, false);
    check_pool(&s, false, true);
  }
}

static void test_pool_f64(void) {
  for (size_t i = 0; i < sizeof pool_cases / sizeof *pool_cases; i++) {
    const int64_t *c = pool_cases[i];
    rt_pool2d_shape s = pool_shape(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]);
    check_pool(&s, true, false);
    check_pool(&s, true, true);
  }
}

/* A hand-checked tie: window values 1,2,2 / 2,0,0 -> the first 2 (index 1). */
/* Elements of got[0..n) off ref by more than k terms' rounding (printed). */
static int pooled_bad(const char *what, const rt_conv2d_shape *s, const rt_pool2d_shape *ps, const float *got,
                      const double *ref, const double *aref, int64_t n, int64_t k, rt_isa isa, int pi) {
  int b = 0;
  for (int64_t i = 0; i < n; i++) b += !within(got[i], ref[i], aref[i], k, FLT_EPSILON);
  if (b)
    fprintf(stderr, "\n  pooled %s C%lld O%lld %lldx%lld s%lld pool %lld/%lld/%lld isa=%s pool=%d: %d bad\n", what,
            (long long)s->C, (long long)s->O, (long long)s->H, (long long)s->W, (long long)s->SH, (long long)ps->KH,
            (long long)ps->SH, (long long)ps->PH, rt_isa_name(isa), pi, b);
  return b;
}

/* The data and filter gradients read straight from a max-pooling gradient
 * equal those of the expanded dy (naive f64 sums), on every ISA and pool,
 * for the kernels that expand dy in place and the image-by-image fallback. */
static void check_conv_pooled(const rt_conv2d_shape *s, int64_t pk, int64_t pstride, int64_t ppad) {
  rt_pool2d_shape ps = pool_shape(s->N, s->O, s->OH, s->OW, pk, pk, pstride, pstride, ppad, ppad);
  CU_ASSERT_EQUAL_FATAL(rt_conv2d_shape_check(s), NN_OK);
  CU_ASSERT_EQUAL_FATAL(rt_pool2d_shape_check(&ps), NN_OK);
  int64_t xn = s->N * s->C * s->H * s->W, yn = s->N * s->O * s->OH * s->OW;
  int64_t pn = s->N * s->O * ps.OH * ps.OW, wn = s->O * s->C * s->KH * s->KW;
  float *x = malloc(sizeof(float) * (size_t)xn), *z = malloc(sizeof(float) * (size_t)yn);
  float *dy = malloc(sizeof(float) * (size_t)yn), *zp = malloc(sizeof(float) * (size_t)pn);
  float *dpool = malloc(sizeof(float) * (size_t)pn), *dw = malloc(sizeof(float) * (size_t)wn);
  float *w = malloc(sizeof(float) * (size_t)wn), *dx = malloc(sizeof(float) * (size_t)xn);
  uint8_t *tape = malloc((size_t)pn);
  double *ref = calloc((size_t)wn, sizeof(double)), *aref = calloc((size_t)wn, sizeof(double));
  double *xref = calloc((size_t)xn, sizeof(double)), *axref = calloc((size_t)xn, sizeof(double));
  for (int64_t i = 0; i < wn; i++) w[i] = (float)rnd();
  for (int64_t i = 0; i < xn; i++) x[i] = (float)rnd();
  for (int64_t i = 0; i < yn; i++) z[i] = (float)(int)(rnd() * 4.0); /* ties */
  for (int64_t i = 0; i < pn; i++) dpool[i] = (float)(int)(rnd() * 8.0);
  rt_maxpool2d_forward_tape(NULL, &ps, z, zp, tape);
  rt_maxpool2d_backward_tape(NULL, &ps, tape, dpool, dy);
  for (int64_t n = 0; n < s->N; n++)
    for (int64_t o = 0; o < s->O; o++)
      for (int64_t c = 0; c < s->C; c++)
        for (int64_t i = 0; i < s->KH; i++)
          for (int64_t j = 0; j < s->KW; j++)
            for (int64_t oy = 0; oy < s->OH; oy++)
              for (int64_t ox = 0; ox < s->OW; ox++) {
                int64_t iy = oy * s->SH - s->PH + i, ix = ox * s->SW - s->PW + j;
                if (iy < 0 || iy >= s->H || ix < 0 || ix >= s->W) continue;
                double t = (double)dy[((n * s->O + o) * s->OH + oy) * s->OW + ox] *
                           x[((n * s->C + c) * s->H + iy) * s->W + ix];
                int64_t k = ((o * s->C + c) * s->KH + i) * s->KW + j;
                ref[k] += t, aref[k] += fabs(t);
                int64_t xi = ((n * s->C + c) * s->H + iy) * s->W + ix;
                double u = (double)dy[((n * s->O + o) * s->OH + oy) * s->OW + ox] * w[k];
                xref[xi] += u, axref[xi] += fabs(u);
              }
  size_t sbytes = rt_conv2d_pooled_scratch_bytes(s, 2);
  void *scratch = rt_alloc(sbytes);
  rt_isa isas[4];
  int nisa = isa_list(isas), bad = 0;
  for (int ii = 0; ii < nisa; ii++) {
    rt_kernels_set_isa(isas[ii]);
    saw_path(s, 1, false, true);
    saw_path(s, 2, false, true);
    for (int pi = 0; pi < 3; pi++) {
      for (int64_t i = 0; i < wn; i++) dw[i] = NAN;
      memset(scratch, 0xff, sbytes);
      rt_conv2d_backward_filter_pooled(pool_at(pi), s, &ps, x, tape, dpool, dw, scratch);
      bad += pooled_bad("filter", s, &ps, dw, ref, aref, wn, s->N * s->OH * s->OW, isas[ii], pi);
      for (int64_t i = 0; i < xn; i++) dx[i] = NAN;
      memset(scratch, 0xff, sbytes);
      rt_conv2d_backward_data_pooled(pool_at(pi), s, &ps, tape, dpool, w, dx, scratch);
      bad += pooled_bad("data", s, &ps, dx, xref, axref, xn, s->O * s->KH * s->KW, isas[ii], pi);
    }
  }
  rt_kernels_set_isa(RT_ISA_AUTO);
  CU_ASSERT_EQUAL(bad, 0);
  rt_free(scratch);
  free(x), free(z), free(dy), free(zp), free(dpool), free(dw), free(tape), free(ref), free(aref);
  free(w), free(dx), free(xref), free(axref);
}

static void test_conv_pooled_filter(void) {
  rt_conv2d_shape a = conv_shape(3, 1, 12, 12, 5, 3, 3, 1, 1, 1, 1); /* few taps, 2x2 pool */
  check_conv_pooled(&a, 2, 2, 0);
  rt_conv2d_shape b = conv_shape(2, 3, 14, 13, 7, 3, 3, 1, 1, 1, 1); /* overlapping padded windows */
  check_conv_pooled(&b, 3, 2, 1);
  rt_conv2d_shape c = conv_shape(2, 20, 6, 6, 4, 3, 3, 1, 1, 1, 1); /* C >= 16: image by image */
  check_conv_pooled(&c, 2, 2, 0);
  rt_conv2d_shape d = conv_shape(2, 2, 9, 9, 3, 3, 3, 2, 2, 1, 1); /* stride 2, odd pooled size */
  check_conv_pooled(&d, 2, 2, 0);
  rt_conv2d_shape e = conv_shape(2, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1); /* the CNN's first layer */
  check_conv_pooled(&e, 2, 2, 0);
  rt_conv2d_shape f = conv_shape(3, 8, 12, 12, 6, 3, 3, 1, 1, 1, 1); /* data: the row kernel */
  check_conv_pooled(&f, 2, 2, 0);
  rt_conv2d_shape g = conv_shape(2, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1); /* the CNN's second layer */
  check_conv_pooled(&g, 2, 2, 0);
  rt_conv2d_shape h = conv_shape(1, 16, 8, 8, 40, 3, 3, 1, 1, 1, 1); /* one image: channels split */
  check_conv_pooled(&h, 2, 2, 0);
}

/* Every strategy of every arch ran in the cases above: f32 and f64,
 * plain and pooled (rt_conv2d_path names them). The row kernel and the
 * few-taps filter exist for f32 on AVX2 and AVX-512. f64 is tested on
 * AVX2 only where AVX-512 is absent (run_conv). */
static void test_conv_paths_covered(void) {
  rt_isa isas[4];
  int nisa = isa_list(isas), missing = 0;
  for (int ii = 0; ii < nisa; ii++) {
    rt_isa isa = isas[ii];
    bool simd = isa != RT_ISA_C;
    for (int f64 = 0; f64 < 2; f64++) {
      if (f64 && isa == RT_ISA_AVX2 && isas[nisa - 1] == RT_ISA_AVX512) continue;
      const char *want[3][4] = {{"wide", "columns", simd && !f64 ? "row" : NULL},
                                {"wide", "columns", simd && !f64 ? "row" : NULL},
                                {"wide", "columns", "channels-last", simd && !f64 ? "dot" : NULL}};
      for (int w = 0; w < 3; w++)
        for (int i = 0; i < 4 && want[w][i]; i++)
          if (!was_seen(isa, f64, false, w, want[w][i])) {
            fprintf(stderr, "\n  conv %s %s: path %s never ran\n", rt_isa_name(isa), f64 ? "f64" : "f32", want[w][i]);
            missing++;
          }
    }
    const char *pooled[3][4] = {{NULL}, {"by-image", simd ? "row" : NULL}, {"by-image", "channels-last", simd ? "dot" : NULL}};
    for (int w = 1; w < 3; w++)
      for (int i = 0; i < 4 && pooled[w][i]; i++)
        if (!was_seen(isa, false, true, w, pooled[w][i])) {
          fprintf(stderr, "\n  pooled conv %s: path %s never ran\n", rt_isa_name(isa), pooled[w][i]);
          missing++;
        }
  }
  CU_ASSERT_EQUAL(missing, 0);
}

/* Every way of sharing a product ran on every ISA, f32 and f64. */
static void test_gemm_paths_covered(void) {
  rt_isa isas[4];
  int nisa = isa_list(isas), missing = 0;
  for (int ii = 0; ii < nisa; ii++)
    for (int f64 = 0; f64 < 2; f64++)
      for (int i = 0; i < 3; i++)
        if (!gemm_seen[isas[ii]][f64][i]) {
          fprintf(stderr, "\n  gemm %s %s: path %s never ran\n", rt_isa_name(isas[ii]), f64 ? "f64" : "f32",
                  gemm_paths[i]);
          missing++;
        }
  CU_ASSERT_EQUAL(missing, 0);
}

static void test_pool_tie_by_hand(void) {
  float x[6] = {1, 2, 2, 2, 0, 0}, y[1], dx[6], h[6] = {10, 11, 12, 13, 14, 15}, pk[1];
  float dy[1] = {5};
  rt_pool2d_shape s = pool_shape(1, 1, 2, 3, 2, 3, 1, 1, 0, 0);
  rt_maxpool2d_forward(NULL, &s, x, y);
  rt_maxpool2d_backward(NULL, &s, x, dy, dx);
  rt_maxpool2d_pick(NULL, &s, x, h, pk);
  CU_ASSERT_EQUAL(y[0], 2.0f);
  CU_ASSERT_EQUAL(pk[0], 11.0f);
  float want[6] = {0, 5, 0, 0, 0, 0};
  CU_ASSERT_EQUAL(memcmp(dx, want, sizeof want), 0);
}

static void test_pool_shape_check(void) {
  rt_pool2d_shape s = pool_shape(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
  CU_ASSERT_EQUAL(rt_pool2d_shape_check(&s), NN_OK);
  s.OW = 3;
  CU_ASSERT_EQUAL(rt_pool2d_shape_check(&s), NN_ERR_ARG);
  CU_ASSERT_STRING_EQUAL(rt_last_error(), "pool2d: output 2x3, expected 2x2");
  s = pool_shape(1, 1, 2, 2, 3, 3, 1, 1, 0, 0);
  CU_ASSERT_EQUAL(rt_pool2d_shape_check(&s), NN_ERR_ARG);
  CU_ASSERT_STRING_EQUAL(rt_last_error(), "pool2d: window 3x3 larger than padded input");
  s = pool_shape(1, 1, 2, 2, 3, 3, 1, 1, 1, 1); /* padding makes it fit */
  CU_ASSERT_EQUAL(rt_pool2d_shape_check(&s), NN_OK);
  s = pool_shape(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
  s.SH = 0; /* zero stride */
  CU_ASSERT_EQUAL(rt_pool2d_shape_check(&s), NN_ERR_ARG);
  s = pool_shape(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
  s.PW = -1;
  CU_ASSERT_EQUAL(rt_pool2d_shape_check(&s), NN_ERR_ARG);
}

/* ---- allocation failure ------------------------------------------------------ */

static atomic_int live_allocs, allow_allocs;

static void *failing_alloc(size_t size, size_t align, void *ud) {
  (void)ud;
  if (atomic_fetch_sub(&allow_allocs, 1) <= 0) return NULL;
  void *p = aligned_alloc(align, (size + align - 1) / align * align);
  if (p) atomic_fetch_add(&live_allocs, 1);
  return p;
}
static void counting_free(void *p, void *ud) {
  (void)ud;
  if (p) atomic_fetch_sub(&live_allocs, 1);
  free(p);
}

static void test_pool_create_nomem(void) {
  /* fail the k-th allocation for every k until creation succeeds */
  bool succeeded = false;
  for (int k = 0; k < 64 && !succeeded; k++) {
    atomic_store(&live_allocs, 0);
    atomic_store(&allow_allocs, k);
    rt_set_alloc_hook(failing_alloc, counting_free, NULL);
    rt_pool *p = (rt_pool *)&live_allocs; /* must be reset to NULL on failure */
    nn_status st = rt_pool_create(&p, 2);
    if (st == NN_OK) {
      succeeded = true;
      CU_ASSERT(k > 0);
      CU_ASSERT_PTR_NOT_NULL(p);
      CU_ASSERT(atomic_load(&live_allocs) > 0);
      rt_pool_destroy(p);
    } else {
      CU_ASSERT_EQUAL(st, NN_ERR_NOMEM);
      CU_ASSERT_PTR_NULL(p);
      CU_ASSERT(strlen(rt_last_error()) > 0);
    }
    rt_set_alloc_hook(NULL, NULL, NULL);
    CU_ASSERT_EQUAL(atomic_load(&live_allocs), 0); /* nothing leaked */
  }
  CU_ASSERT(succeeded);
}

/* With pool == NULL and no buffer obtainable, GEMM still computes (via its
 * unpacked fallback). Runs in a fresh thread, which has no buffer yet. */
static void *gemm_nomem_thread(void *arg) {
  float *out = arg, A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 0.5f, 1};
  rt_sgemm(NULL, false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, out, 2);
  return NULL;
}

static void test_gemm_nomem(void) {
  float out[4] = {NAN, NAN, NAN, NAN};
  atomic_store(&allow_allocs, 0);
  atomic_store(&live_allocs, 0);
  rt_set_alloc_hook(failing_alloc, counting_free, NULL);
  pthread_t t;
  pthread_create(&t, NULL, gemm_nomem_thread, out);
  pthread_join(t, NULL);
  rt_set_alloc_hook(NULL, NULL, NULL);
  /* [1 2 3; 4 5 6] x [1 0; -1 2; .5 1] */
  CU_ASSERT_EQUAL(out[0], 0.5f);
  CU_ASSERT_EQUAL(out[1], 7.0f);
  CU_ASSERT_EQUAL(out[2], 2.0f);
  CU_ASSERT_EQUAL(out[3], 16.0f);
  CU_ASSERT_EQUAL(atomic_load(&live_allocs), 0);
}

int main(void) {
  if (rt_pool_create(&pool1, 1) != NN_OK || rt_pool_create(&pool2, 2) != NN_OK) return 2;
  static const UnitTest tests[] = {
      {"parallel_for covers every item once", test_parallel_for_covers},
      {"parallel_for_staged: first stage once, before every chunk", test_parallel_for_staged},
      {"parallel_for_stages: a parallel middle stage, done before every chunk", test_parallel_for_stages},
      {"nested parallel_for runs serially", test_parallel_for_nested},
      {"concurrent callers on one pool", test_pool_concurrent_callers},
      {"pool sleeps and wakes", test_pool_sleep_wake},
      {"pool create/destroy", test_pool_create_destroy},
      {"NNC_ISA", test_isa_env},
      {"sgemm vs reference, all layouts/ISAs/pools", test_sgemm},
      {"dgemm vs reference", test_dgemm},
      {"gemm packers: the portable packer's panels, every ISA/layout/width", test_gemm_packers},
      {"conv row kernels: the FMA chain of the contract, bit for bit, every ISA", test_conv_row_kernels},
      {"gemm alpha=0, K=0, M=0", test_gemm_degenerate},
      {"gemm batched", test_gemm_batched},
      {"gemm prepacked B: rt_sgemm's bits, every ISA/pool", test_gemm_prepacked},
      {"gemm prepacked B: K=0, N=0, alpha=0", test_gemm_prepacked_degenerate},
      {"gemm of few rows: a batch's rows bit for bit, every ISA/pool", test_gemm_small_rows},
      {"gemm: every way of sharing a product ran on every ISA", test_gemm_paths_covered},
      {"conv2d f32 fwd/bwd-data/bwd-filter", test_conv_f32},
      {"conv2d f64", test_conv_f64},
      {"conv2d shape check", test_conv_shape_check},
      {"pooling f32, all five and the argmax tape", test_pool_f32},
      {"pooling f64, all five", test_pool_f64},
      {"conv2d data and filter gradients from a max-pooling tape", test_conv_pooled_filter},
      {"conv2d: every path of every ISA was reached", test_conv_paths_covered},
      {"max pooling tie by hand", test_pool_tie_by_hand},
      {"pool2d shape check", test_pool_shape_check},
      {"pool create fails cleanly without memory", test_pool_create_nomem},
      {"gemm without a packing buffer", test_gemm_nomem},
      {0, 0}};
  int rc = unit_run("kernels", tests);
  rt_pool_destroy(pool1);
  rt_pool_destroy(pool2);
  return rc;
}
