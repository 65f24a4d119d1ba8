/* rt_gemm.c — packed GEMM (BLIS style) for f32 and f64.
 *
 * C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C, all row-major. The loops:
 *
 *   for pc in K by kc:                 depth block (C is updated once per block)
 *     for jc in N by nc:               pack op(B)[pc.., jc..] -> Bp  (L2)
 *       for ic in M by mc:             pack op(A)[ic.., pc..] -> Ap
 *         for ir in mc by mr:          one A micro-panel stays in L1
 *           for jr in nc by nr:        B micro-panels stream from L2
 *             micro-kernel: C[mr,nr] (registers) += Ap[mr,kc] Bp[kc,nr]
 *
 * The micro-kernel broadcasts A and keeps nr columns of C in vector
 * registers: 12x32 (24 zmm) for AVX-512 f32, 12x16 for f64; 6x16 / 6x8 for
 * AVX2; 4x8 / 4x4 in plain C. Packing zero-fills partial panels, so kernels
 * always run full depth; edges are masked (AVX-512) or staged through a
 * small tile (AVX2, C) at store time only. The packers are vectorized for
 * AVX-512 (f32 panels of 12 and 32) and AVX2 (everything else, f64 on
 * AVX-512 too): contiguous lines are copied a few cache lines of several
 * panels at a time, strided ones transposed in register blocks. The file also holds each arch's
 * convolution row kernel and in-place-B kernel (rt_kernels.h).
 *
 * Products of a few rows (M <= RT_GEMM_SMALL_M, f32 on AVX-512 and AVX2,
 * B row-major or prepacked) skip packing: the small-M kernels read A and B in place, with
 * the micro-kernels' per-element arithmetic (same depth blocks, same
 * fused chain), so a row of C has the same bits either way. Portable C
 * has none: a C version (4 x 8 tiles over unpacked strips) measured 1.3-2x
 * slower than packing, its packed tiles being what the compiler vectorizes
 * well.
 *
 * Threads split C into a tm x tn grid (chosen by a small cost model) and
 * each thread runs the loops above on its part with its own buffers. One
 * element's arithmetic depends only on K's blocking, never on the grid, so
 * results are identical for every thread count (see rt_kernels.h).
 *
 * Everything below the arch table is written once over untyped pointers
 * (element size `esz`), so the convolutions reuse it for f32 and f64. */
#include "rt_kernels.h"
#include "rt_simd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define INLINE SIMD_INLINE

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

#if RT_X86 /* the x86 kernels: each runs only where cpu_has() says so */

/* ---- AVX-512 micro-kernels ---------------------------------------------- */

/* f32: MR rows (of a 12-row panel) by 16*NV columns (of a 32-column panel). */
/* With boff != NULL, B is not packed: row p is at b + boff[p] (the
 * convolutions read a channels-last image this way). */
AVX512 INLINE void s512_tile(const int MR, const int NV, int64_t k, const float *a,
                             const float *b, const int64_t *boff, float *c, int64_t ldc, int m,
                             int n, float alpha, float beta) {
  __m512 acc0[12], acc1[12];
  for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    const float *bp = boff ? b + boff[p] : b + 32 * p;
    __m512 b0 = _mm512_loadu_ps(bp);
    __m512 b1 = NV == 2 ? _mm512_loadu_ps(bp + 16) : b0;
    for (int i = 0; i < MR; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      if (NV == 2) acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += 12;
  }
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  __mmask16 k0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
  __mmask16 k1 = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    if (i >= m) continue; /* not `break`: keeps the loop unrolled, acc in registers */
    float *ci = c + i * ldc;
    __m512 r0 = _mm512_mul_ps(acc0[i], va);
    if (beta != 0) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, ci), r0);
    _mm512_mask_storeu_ps(ci, k0, r0);
    if (NV == 2) {
      __m512 r1 = _mm512_mul_ps(acc1[i], va);
      if (beta != 0) r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, ci + 16), r1);
      _mm512_mask_storeu_ps(ci + 16, k1, r1);
    }
  }
}

AVX512 static void skern_avx512(int64_t k, const void *a, const void *b, void *c,
                                int64_t ldc, int m, int n, double alpha, double beta) {
  float al = (float)alpha, be = (float)beta;
  if (n > 16) {
    if (m > 8) s512_tile(12, 2, k, a, b, NULL, c, ldc, m, n, al, be);
    else if (m > 4) s512_tile(8, 2, k, a, b, NULL, c, ldc, m, n, al, be);
    else s512_tile(4, 2, k, a, b, NULL, c, ldc, m, n, al, be);
  } else {
    if (m > 8) s512_tile(12, 1, k, a, b, NULL, c, ldc, m, n, al, be);
    else if (m > 4) s512_tile(8, 1, k, a, b, NULL, c, ldc, m, n, al, be);
    else s512_tile(4, 1, k, a, b, NULL, c, ldc, m, n, al, be);
  }
}

AVX512 static void skern_ib_avx512(int64_t k, const void *a, const void *b, const int64_t *boff,
                                   void *c, int64_t ldc, int m, int n, double alpha,
                                   double beta) {
  float al = (float)alpha, be = (float)beta;
  if (n > 16) {
    if (m > 8) s512_tile(12, 2, k, a, b, boff, c, ldc, m, n, al, be);
    else if (m > 4) s512_tile(8, 2, k, a, b, boff, c, ldc, m, n, al, be);
    else s512_tile(4, 2, k, a, b, boff, c, ldc, m, n, al, be);
  } else {
    if (m > 8) s512_tile(12, 1, k, a, b, boff, c, ldc, m, n, al, be);
    else if (m > 4) s512_tile(8, 1, k, a, b, boff, c, ldc, m, n, al, be);
    else s512_tile(4, 1, k, a, b, boff, c, ldc, m, n, al, be);
  }
}

/* f64: MR rows (of 12) by 8*NV columns (of a 16-column panel). */
AVX512 INLINE void d512_tile(const int MR, const int NV, int64_t k, const double *a,
                             const double *b, double *c, int64_t ldc, int m, int n,
                             double alpha, double beta) {
  __m512d acc0[12], acc1[12];
  for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = _mm512_setzero_pd();
  for (int64_t p = 0; p < k; p++) {
    __m512d b0 = _mm512_loadu_pd(b);
    __m512d b1 = NV == 2 ? _mm512_loadu_pd(b + 8) : b0;
    for (int i = 0; i < MR; i++) {
      __m512d ai = _mm512_set1_pd(a[i]);
      acc0[i] = _mm512_fmadd_pd(ai, b0, acc0[i]);
      if (NV == 2) acc1[i] = _mm512_fmadd_pd(ai, b1, acc1[i]);
    }
    a += 12;
    b += 16;
  }
  __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
  __mmask8 k0 = n >= 8 ? 0xff : (__mmask8)((1u << n) - 1);
  __mmask8 k1 = n >= 16 ? 0xff : n > 8 ? (__mmask8)((1u << (n - 8)) - 1) : 0;
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    if (i >= m) continue;
    double *ci = c + i * ldc;
    __m512d r0 = _mm512_mul_pd(acc0[i], va);
    if (beta != 0) r0 = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(k0, ci), r0);
    _mm512_mask_storeu_pd(ci, k0, r0);
    if (NV == 2) {
      __m512d r1 = _mm512_mul_pd(acc1[i], va);
      if (beta != 0) r1 = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(k1, ci + 8), r1);
      _mm512_mask_storeu_pd(ci + 8, k1, r1);
    }
  }
}

AVX512 static void dkern_avx512(int64_t k, const void *a, const void *b, void *c,
                                int64_t ldc, int m, int n, double alpha, double beta) {
  if (n > 8) {
    if (m > 8) d512_tile(12, 2, k, a, b, c, ldc, m, n, alpha, beta);
    else if (m > 4) d512_tile(8, 2, k, a, b, c, ldc, m, n, alpha, beta);
    else d512_tile(4, 2, k, a, b, c, ldc, m, n, alpha, beta);
  } else {
    if (m > 8) d512_tile(12, 1, k, a, b, c, ldc, m, n, alpha, beta);
    else if (m > 4) d512_tile(8, 1, k, a, b, c, ldc, m, n, alpha, beta);
    else d512_tile(4, 1, k, a, b, c, ldc, m, n, alpha, beta);
  }
}

/* ---- AVX2 micro-kernels ---------------------------------------------------- */

/* f32 MR (2, 4 or 6) rows of a 6-row panel by 16 columns: the first
 * rows of a panel cut short by M (32 = 5 x 6 + 2) cost their own rows,
 * not 6. A partial tile is computed in full and stored through a local
 * 6x16 copy of C, so its arithmetic is exactly that of a full tile (every
 * element's chain is its own, whatever MR). With boff != NULL, B is not
 * packed: row p is at b + boff[p]. */
AVX2 INLINE void s256_tile(const int MR, int64_t k, const float *a, const float *b,
                           const int64_t *boff, float *c, int64_t ldc, int m, int n, float alpha,
                           float beta) {
  __m256 acc0[6], acc1[6];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    const float *bp = boff ? b + boff[p] : b + 16 * p;
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += 6;
  }
  /* The epilogue reads a copy: with the accumulators' last use here, gcc
   * keeps them in registers through the loop (otherwise it stores them on
   * every step). */
  __m256 res0[6], res1[6];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) res0[i] = acc0[i], res1[i] = acc1[i];
  float tile[6 * 16];
  bool edge = m < MR || n < 16;
  float *t = c;
  int64_t ldt = ldc;
  if (edge) {
    t = tile;
    ldt = 16;
    if (beta != 0)
      for (int i = 0; i < m; i++) memcpy(tile + i * 16, c + i * ldc, (size_t)n * sizeof(float));
  }
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) { /* unrolled, no break: acc stays in registers */
    if (!edge && i >= m) continue;
    float *ti = t + i * ldt;
    __m256 r0 = _mm256_mul_ps(res0[i], va), r1 = _mm256_mul_ps(res1[i], va);
    if (beta != 0) {
      r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ti), r0);
      r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ti + 8), r1);
    }
    _mm256_storeu_ps(ti, r0);
    _mm256_storeu_ps(ti + 8, r1);
  }
  if (edge)
    for (int i = 0; i < m; i++) memcpy(c + i * ldc, tile + i * 16, (size_t)n * sizeof(float));
}

AVX2 static void skern_avx2(int64_t k, const void *a, const void *b, void *c, int64_t ldc,
                            int m, int n, double alpha, double beta) {
  float al = (float)alpha, be = (float)beta;
  if (m > 4) s256_tile(6, k, a, b, NULL, c, ldc, m, n, al, be);
  else if (m > 2) s256_tile(4, k, a, b, NULL, c, ldc, m, n, al, be);
  else s256_tile(2, k, a, b, NULL, c, ldc, m, n, al, be);
}

AVX2 static void skern_ib_avx2(int64_t k, const void *a, const void *b, const int64_t *boff,
                               void *c, int64_t ldc, int m, int n, double alpha, double beta) {
  float al = (float)alpha, be = (float)beta;
  if (m > 4) s256_tile(6, k, a, b, boff, c, ldc, m, n, al, be);
  else if (m > 2) s256_tile(4, k, a, b, boff, c, ldc, m, n, al, be);
  else s256_tile(2, k, a, b, boff, c, ldc, m, n, al, be);
}

/* f64 6x8, edges as above. */
AVX2 static void dkern_avx2(int64_t k, const void *a_, const void *b_, void *c_,
                            int64_t ldc, int m, int n, double alpha, double beta) {
  const double *a = a_, *b = b_;
  double *c = c_;
  __m256d acc0[6], acc1[6];
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) acc0[i] = acc1[i] = _mm256_setzero_pd();
  for (int64_t p = 0; p < k; p++) {
    __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
      __m256d ai = _mm256_broadcast_sd(a + i);
      acc0[i] = _mm256_fmadd_pd(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_pd(ai, b1, acc1[i]);
    }
    a += 6;
    b += 8;
  }
  /* The epilogue reads a copy: with the accumulators' last use here, gcc
   * keeps them in registers through the loop (otherwise it stores them on
   * every step). */
  __m256d res0[6], res1[6];
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) res0[i] = acc0[i], res1[i] = acc1[i];
  double tile[6 * 8];
  bool edge = m < 6 || n < 8;
  double *t = c;
  int64_t ldt = ldc;
  if (edge) {
    t = tile;
    ldt = 8;
    if (beta != 0)
      for (int i = 0; i < m; i++) memcpy(tile + i * 8, c + i * ldc, (size_t)n * sizeof(double));
  }
  __m256d va = _mm256_set1_pd(alpha), vb = _mm256_set1_pd(beta);
#pragma GCC unroll 6
  for (int i = 0; i < 6; i++) { /* unrolled, no break: acc stays in registers */
    if (!edge && i >= m) continue;
    double *ti = t + i * ldt;
    __m256d r0 = _mm256_mul_pd(res0[i], va), r1 = _mm256_mul_pd(res1[i], va);
    if (beta != 0) {
      r0 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ti), r0);
      r1 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ti + 4), r1);
    }
    _mm256_storeu_pd(ti, r0);
    _mm256_storeu_pd(ti + 4, r1);
  }
  if (edge)
    for (int i = 0; i < m; i++) memcpy(c + i * ldc, tile + i * 8, (size_t)n * sizeof(double));
}

/* ---- small-M kernels (x86) ------------------------------------------------------------ */

/* For a few rows of C (M <= 4 per call), packing B costs more than the
 * product: these kernels read A and B where they are. Row i of op(A) has
 * element p at a[i*ars + p*acs]; element (p, j) of B is at
 * b[(j / pw) * ps + p*ldb + j % pw] (a row-major B: pw past n; prepacked
 * panels: pw = nr, ldb = nr, ps = nr*k). Each element of C gets the
 * micro-kernel's arithmetic: a chain of fused multiply-adds over p from 0,
 * times alpha, then beta*C fused in, so a row comes out with the same bits
 * as from the packed path (see rt_gemm_arch.small).
 *
 * A strip of columns is cut into sub-tiles of MR rows by NV vectors (as
 * many accumulators as fill the registers). With several sub-tiles they
 * take turns every SMALL_PK rows of B, their accumulators kept in memory
 * between turns (a store and a load change no bits): a sub-tile alone
 * reads one or two cache lines per row of B, and running each over all of
 * K before the next measured up to 10x slower when B is not in L2 than
 * reading a row's lines together. Rows past m repeat row 0 (computed, not
 * stored). */
#define SMALL_PK 16

/* B's columns from j on (j a multiple of pw, or pw past n). */
static inline const float *small_b_at(const float *b, int64_t pw, int64_t ps, int64_t j) {
  return b + (j / pw) * ps + j % pw;
}

/* AVX-512 f32: rows p0..p1 of one sub-tile (b at its first column, n
 * columns from there, lanes past n masked), accumulators in acc[MR*NV]. */
AVX512 INLINE void s512_small_run(const int MR, const int NV, int64_t p0, int64_t p1,
                                  const float *const *ap, int64_t acs, const float *b,
                                  int64_t ldb, int64_t pw, int64_t ps, int64_t n, __m512 *acc_io) {
  const float *bp[8];
  __mmask16 km[8];
  for (int v = 0; v < NV; v++) {
    int64_t j = 16 * v, live = n - j < 0 ? 0 : n - j > 16 ? 16 : n - j;
    bp[v] = live ? small_b_at(b, pw, ps, j) : b;
    km[v] = live == 16 ? 0xffff : (__mmask16)((1u << live) - 1);
  }
  __m512 acc[4][8];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[i][v] = acc_io[i * NV + v];
  for (int64_t p = p0; p < p1; p++) {
    __m512 bv[8];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(km[v], bp[v] + p * ldb);
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
      __m512 ai = _mm512_set1_ps(ap[i][p * acs]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc_io[i * NV + v] = acc[i][v];
}

/* C = alpha * acc + beta * C for one sub-tile (m rows, n columns). */
AVX512 INLINE void s512_small_store(const int MR, const int NV, int m, const __m512 *acc, float *c,
                                    int64_t ldc, int64_t n, float alpha, float beta) {
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int i = 0; i < m; i++) {
    float *ci = c + i * ldc;
    for (int v = 0; v < NV && 16 * v < n; v++) {
      int64_t live = n - 16 * v > 16 ? 16 : n - 16 * v;
      __mmask16 km = live == 16 ? 0xffff : (__mmask16)((1u << live) - 1);
      __m512 r = _mm512_mul_ps(acc[i * NV + v], va);
      if (beta != 0) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(km, ci + 16 * v), r);
      _mm512_mask_storeu_ps(ci + 16 * v, km, r);
    }
  }
}

/* One strip in sub-tiles of MR x NV (W = 16*NV columns each). */
#define S512_SMALL(MR, NV)                                                                     \
  do {                                                                                         \
    const int W = 16 * (NV);                                                                   \
    int nsub = (n + W - 1) / W;                                                                \
    int64_t pk = nsub > 1 ? SMALL_PK : k;                                                      \
    for (int s = 0; s < nsub * (MR) * (NV); s++) acc[s] = _mm512_setzero_ps();                 \
    for (int64_t p0 = 0; p0 < k; p0 += pk)                                                     \
      for (int s = 0; s < nsub; s++)                                                           \
        s512_small_run(MR, NV, p0, p0 + pk < k ? p0 + pk : k, ap, acs,                         \
                       small_b_at(b, pw, ps, s * W), ldb, pw, ps, n - s * W,                   \
                       acc + s * (MR) * (NV));                                                 \
    for (int s = 0; s < nsub; s++)                                                             \
      s512_small_store(MR, NV, m, acc + s * (MR) * (NV), c + s * W, ldc, n - s * W, al, be);   \
  } while (0)

/* m <= 4 rows by n <= 128 columns: 8 vectors for 1 or 2 rows, 4 rows x 4
 * vectors for 3 or 4 (16 accumulators); a partial strip 2 vectors at a
 * time. */
AVX512 static void skern_small_avx512(int64_t k, const void *a_, int64_t ars, int64_t acs, int m,
                                      const void *b_, int64_t ldb, int64_t pw, int64_t ps,
                                      void *c_, int64_t ldc, int n, double alpha, double beta) {
  const float *a = a_, *b = b_, *ap[4];
  float *c = c_, al = (float)alpha, be = (float)beta;
  for (int i = 0; i < 4; i++) ap[i] = a + (i < m ? i : 0) * ars;
  __m512 acc[32];
  if (n == 128 && m <= 2) {
    if (m == 1) S512_SMALL(1, 8);
    else S512_SMALL(2, 8);
  } else if (n == 128) S512_SMALL(4, 4);
  else if (m == 1) S512_SMALL(1, 2);
  else if (m == 2) S512_SMALL(2, 2);
  else S512_SMALL(4, 2);
}
#undef S512_SMALL

/* AVX2 f32, as above with vectors of 8; MASK: lanes past n masked (loads),
 * else every vector is whole. */
AVX2 INLINE void s256_small_run(const int MR, const int NV, const bool MASK, int64_t p0, int64_t p1,
                                const float *const *ap, int64_t acs, const float *b, int64_t ldb,
                                int64_t pw, int64_t ps, int64_t n, __m256 *acc_io) {
  const float *bp[8];
  __m256i km[8];
  for (int v = 0; v < NV; v++) {
    int64_t j = 8 * v, live = MASK ? (n - j < 0 ? 0 : n - j > 8 ? 8 : n - j) : 8;
    bp[v] = live ? small_b_at(b, pw, ps, j) : b;
    km[v] = lanes8((int)live);
  }
  __m256 acc[4][8];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[i][v] = acc_io[i * NV + v];
  for (int64_t p = p0; p < p1; p++) {
    __m256 bv[8];
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++)
      bv[v] = MASK ? _mm256_maskload_ps(bp[v] + p * ldb, km[v]) : _mm256_loadu_ps(bp[v] + p * ldb);
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_broadcast_ss(ap[i] + p * acs);
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc_io[i * NV + v] = acc[i][v];
}

AVX2 INLINE void s256_small_store(const int NV, int m, const __m256 *acc, float *c, int64_t ldc,
                                  int64_t n, float alpha, float beta) {
  __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  for (int i = 0; i < m; i++) {
    float *ci = c + i * ldc;
    for (int v = 0; v < NV && 8 * v < n; v++) {
      int live = n - 8 * v > 8 ? 8 : (int)(n - 8 * v);
      __m256 r = _mm256_mul_ps(acc[i * NV + v], va);
      if (beta != 0) r = _mm256_fmadd_ps(vb, load8_part(ci + 8 * v, live), r);
      store8_part(ci + 8 * v, r, live);
    }
  }
}

#define S256_SMALL(MR, NV, MASK)                                                               \
  do {                                                                                         \
    const int W = 8 * (NV);                                                                    \
    int nsub = (n + W - 1) / W;                                                                \
    int64_t pk = nsub > 1 ? SMALL_PK : k;                                                      \
    for (int s = 0; s < nsub * (MR) * (NV); s++) acc[s] = _mm256_setzero_ps();                 \
    for (int64_t p0 = 0; p0 < k; p0 += pk)                                                     \
      for (int s = 0; s < nsub; s++)                                                           \
        s256_small_run(MR, NV, MASK, p0, p0 + pk < k ? p0 + pk : k, ap, acs,                   \
                       small_b_at(b, pw, ps, s * W), ldb, pw, ps, n - s * W,                   \
                       acc + s * (MR) * (NV));                                                 \
    for (int s = 0; s < nsub; s++)                                                             \
      s256_small_store(NV, m, acc + s * (MR) * (NV), c + s * W, ldc, n - s * W, al, be);       \
  } while (0)

/* m <= 4 rows by n <= 64 columns: 8 accumulators per sub-tile, 1 x 8, 2 x 4
 * or 4 x 2 vectors; a partial strip masked, 2 vectors at a time. */
AVX2 static void skern_small_avx2(int64_t k, const void *a_, int64_t ars, int64_t acs, int m,
                                  const void *b_, int64_t ldb, int64_t pw, int64_t ps, void *c_,
                                  int64_t ldc, int n, double alpha, double beta) {
  const float *a = a_, *b = b_, *ap[4];
  float *c = c_, al = (float)alpha, be = (float)beta;
  for (int i = 0; i < 4; i++) ap[i] = a + (i < m ? i : 0) * ars;
  __m256 acc[32];
  if (n == 64) {
    if (m == 1) S256_SMALL(1, 8, false);
    else if (m == 2) S256_SMALL(2, 4, false);
    else S256_SMALL(4, 2, false);
  } else if (m == 1) S256_SMALL(1, 2, true);
  else if (m == 2) S256_SMALL(2, 2, true);
  else S256_SMALL(4, 2, true);
}
#undef S256_SMALL

#endif /* RT_X86 */

/* ---- portable C micro-kernels ------------------------------------------- */

static void skern_c(int64_t k, const void *a_, const void *b_, void *c_, int64_t ldc,
                    int m, int n, double alpha, double beta) {
  const float *a = a_, *b = b_;
  float *c = c_;
  float acc[4][8] = {{0}};
  for (int64_t p = 0; p < k; p++, a += 4, b += 8)
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
  float al = (float)alpha, be = (float)beta;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      float r = al * acc[i][j];
      c[i * ldc + j] = be != 0 ? be * c[i * ldc + j] + r : r;
    }
}

static void dkern_c(int64_t k, const void *a_, const void *b_, void *c_, int64_t ldc,
                    int m, int n, double alpha, double beta) {
  const double *a = a_, *b = b_;
  double *c = c_;
  double acc[4][4] = {{0}};
  for (int64_t p = 0; p < k; p++, a += 4, b += 4)
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double r = alpha * acc[i][j];
      c[i * ldc + j] = beta != 0 ? beta * c[i * ldc + j] + r : r;
    }
}

/* ---- packing ---------------------------------------------------------------- */

/* Portable packers: element (r, p) at src[contig ? p*ld + r : r*ld + p],
 * or with a table of line offsets src[contig ? off[p] + r : off[r] + p]. */
#define PACK_C(T, NAME)                                                                          \
  static void NAME(bool contig, const void *src_, int64_t ld, const int64_t *off, int64_t rows,  \
                   int64_t k, int w, void *dst_) {                                               \
    const T *src = src_;                                                                         \
    T *dst = dst_;                                                                               \
    for (int64_t r0 = 0; r0 < rows; r0 += w, dst += w * k) {                                     \
      int rr = (int)min64(w, rows - r0);                                                         \
      for (int64_t p = 0; p < k; p++) {                                                          \
        T *d = dst + p * w;                                                                      \
        if (contig) {                                                                            \
          const T *s = src + (off ? off[p] : p * ld) + r0;                                       \
          for (int i = 0; i < rr; i++) d[i] = s[i];                                              \
        } else if (off) {                                                                        \
          for (int i = 0; i < rr; i++) d[i] = src[off[r0 + i] + p];                              \
        } else {                                                                                 \
          const T *s = src + r0 * ld + p;                                                        \
          for (int i = 0; i < rr; i++) d[i] = s[i * ld];                                         \
        }                                                                                        \
        for (int i = rr; i < w; i++) d[i] = 0;                                                   \
      }                                                                                          \
    }                                                                                            \
  }
PACK_C(float, pack_f32_c)
PACK_C(double, pack_f64_c)
#undef PACK_C

#if RT_X86
/* AVX2 packers, any panel width w (f32: 6 and 16 for the micro-kernels,
 * C for the channels-last image). Strided lines are transposed in 8x8
 * (f64: 4x4) register blocks. Contiguous lines go through
 * pack_contig_avx2 below. Every store ends inside its own panel, so
 * nothing past dst's panels is written. */

/* The contiguous layout in 32-bit words (an f64 is two; `scale` words per
 * element, offsets in elements): element-word r of line p is at
 * src[(off ? off[p] * scale : p * ld) + r], rows and w in words. Panels
 * are done a group at a time, up to PACK_GROUP_WORDS words of a line (a
 * few whole cache lines), each line of the group read once and dealt to
 * its panels, its next lines PACK_AHEAD steps on prefetched. Panel by
 * panel instead, a narrow panel (6 floats) read each cache line of a
 * transposed A again for every panel it spans, and with a line stride of
 * a power of two (a [B*T, 256] activation) the kc lines one panel walks
 * share a few L1 sets and are gone by the next panel: a 6-wide pack of
 * X^T took a third of the weight gradient's time. A panel's line is
 * loaded in whole vectors where the source has them (masked only at its
 * last rows, which also zero-fills a partial panel) and stored whole when
 * the vector's end stays inside the panel: lanes past w land in the
 * panel's next lines, stored again later (in order), so a 6-wide line is
 * one load and one store. */
#define PACK_AHEAD 8
#define PACK_GROUP_WORDS 64

/* Line p of the contiguous layout, from its element-word r0 on. */
AVX2 INLINE const uint32_t *contig_line(const uint32_t *src, int64_t ld, const int64_t *off,
                                        int scale, int64_t p, int64_t r0) {
  return src + (off ? off[p] * scale : p * ld) + r0;
}

/* Lines [p0, p1) of panels [q0, q1) of a group (its first word r0,
 * `span` words of it in the source, `avail` words of the source from r0
 * on, panel q at d0 + q * pw), any width w: each vector loaded whole
 * where the source has it, else masked (zeros past the source's rows),
 * and stored whole where it ends inside the panel. */
AVX2 static void contig_lines(const uint32_t *src, int64_t ld, const int64_t *off, int scale,
                              int64_t r0, int64_t avail, int64_t span, int w, int q0, int q1,
                              int64_t p0, int64_t p1, int64_t k, uint32_t *d0, int64_t pw) {
  for (int64_t p = p0; p < p1; p++) {
    const uint32_t *sp = contig_line(src, ld, off, scale, p, r0);
    if (p + PACK_AHEAD < k) {
      const uint32_t *ahead = contig_line(src, ld, off, scale, p + PACK_AHEAD, r0);
      for (int64_t l = 0; l < span; l += 16) __builtin_prefetch(ahead + l);
      __builtin_prefetch(ahead + span - 1);
    }
    for (int q = q0; q < q1; q++) {
      uint32_t *d = d0 + q * pw + p * w;
      const uint32_t *s = sp + q * w;
      for (int i = 0; i < w; i += 8) {
        int64_t left = avail - q * w - i; /* words of this line from s + i on */
        __m256 v = left >= 8 ? _mm256_loadu_ps((const float *)(s + i))
                   : left > 0 ? _mm256_maskload_ps((const float *)(s + i), lanes8((int)left))
                              : _mm256_setzero_ps();
        if (p * w + i + 8 <= pw) _mm256_storeu_ps((float *)(d + i), v);
        else store8_part((float *)(d + i), v, w - i);
      }
    }
  }
}

/* The same for a width W known at compile time, panels [0, np) and lines
 * [0, p1) where every load and store is whole. */
AVX2 INLINE void contig_lines_whole(const int W, const uint32_t *src, int64_t ld,
                                    const int64_t *off, int scale, int64_t r0, int64_t span,
                                    int np, int64_t p1, int64_t k, uint32_t *d0, int64_t pw) {
  for (int64_t p = 0; p < p1; p++) {
    const uint32_t *sp = contig_line(src, ld, off, scale, p, r0);
    if (p + PACK_AHEAD < k) {
      const uint32_t *ahead = contig_line(src, ld, off, scale, p + PACK_AHEAD, r0);
      for (int64_t l = 0; l < span; l += 16) __builtin_prefetch(ahead + l);
    }
    uint32_t *d = d0 + p * W;
    for (int q = 0; q < np; q++)
#pragma GCC unroll 2
      for (int i = 0; i < W; i += 8)
        _mm256_storeu_ps((float *)(d + q * pw + i), _mm256_loadu_ps((const float *)(sp + q * W + i)));
  }
}

AVX2 static void pack_contig_avx2(const uint32_t *src, int64_t ld, const int64_t *off, int scale,
                                  int64_t rows, int64_t k, int w, uint32_t *dst) {
  int gp = w >= PACK_GROUP_WORDS ? 1 : PACK_GROUP_WORDS / w;
  int64_t pw = (int64_t)w * k, w8 = (w + 7) / 8 * 8; /* words per panel; a line in whole vectors */
  /* lines whose stores are all whole: p * w + w8 <= pw */
  int64_t pwhole = k - (w8 + w - 1) / w + 1;
  for (int64_t r0 = 0; r0 < rows; r0 += (int64_t)gp * w) {
    int np = (int)min64(gp, ceil_div(rows - r0, w));
    int64_t avail = rows - r0, span = min64(avail, (int64_t)np * w);
    uint32_t *d0 = dst + r0 / w * pw;
    /* panels whose loads are all whole: q * w + w8 <= avail */
    int nq = avail < w8 ? 0 : (int)min64(np, (avail - w8) / w + 1);
    int64_t p1 = nq && pwhole > 0 ? pwhole : 0;
    if (p1 && (w == 6 || w == 12 || w == 16)) {
      if (w == 6) contig_lines_whole(6, src, ld, off, scale, r0, span, nq, p1, k, d0, pw);
      else if (w == 12) contig_lines_whole(12, src, ld, off, scale, r0, span, nq, p1, k, d0, pw);
      else contig_lines_whole(16, src, ld, off, scale, r0, span, nq, p1, k, d0, pw);
      contig_lines(src, ld, off, scale, r0, avail, span, w, nq, np, 0, p1, k, d0, pw);
      contig_lines(src, ld, off, scale, r0, avail, span, w, 0, np, p1, k, k, d0, pw);
    } else {
      contig_lines(src, ld, off, scale, r0, avail, span, w, 0, np, 0, k, k, d0, pw);
    }
  }
}

/* A whole panel of the strided layout at a width W known at compile time
 * (6 or 16, the f32 micro-kernels'), depths [0, k8), k8 a multiple of 8:
 * every load whole; a 6-wide line is stored as a whole vector too, its
 * two extra lanes landing in the next line's place, stored later (the
 * panel's last line alone in parts). rowp: the panel's W rows. */
AVX2 INLINE void strided_whole(const int W, const float *const *rowp, int64_t k8, int64_t k,
                               float *dst) {
  for (int g = 0; g < W; g += 8) {
    const int gr = W - g < 8 ? W - g : 8;
    for (int64_t p0 = 0; p0 < k8; p0 += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) r[i] = i < gr ? _mm256_loadu_ps(rowp[g + i] + p0) : _mm256_setzero_ps();
      transpose8(r);
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) {
        float *d = dst + (p0 + j) * W + g;
        if (gr == 8 || p0 + j + 1 < k) _mm256_storeu_ps(d, r[j]);
        else store8_part(d, r[j], gr);
      }
    }
  }
}

AVX2 static void pack_f32_avx2(bool contig, const void *src_, int64_t ld, const int64_t *off,
                               int64_t rows, int64_t k, int w, void *dst_) {
  if (contig) {
    pack_contig_avx2(src_, ld, off, 1, rows, k, w, dst_);
    return;
  }
  const float *src = src_;
  float *dst = dst_;
  for (int64_t r0 = 0; r0 < rows; r0 += w, dst += w * k) {
    int rr = (int)min64(w, rows - r0);
    int64_t k8 = 0; /* depths done by strided_whole */
    if (rr == w && (w == 6 || w == 16) && k >= 8) {
      const float *rowp[16];
      for (int i = 0; i < w; i++) rowp[i] = src + (off ? off[r0 + i] : (r0 + i) * ld);
      k8 = k / 8 * 8;
      if (w == 6) strided_whole(6, rowp, k8, k, dst);
      else strided_whole(16, rowp, k8, k, dst);
    }
    for (int g = 0; g < w && k8 < k; g += 8) { /* rows r0+g .. r0+g+7 of the panel */
      int gr = rr - g < 0 ? 0 : rr - g > 8 ? 8 : rr - g, gw = w - g < 8 ? w - g : 8;
      const float *rowp[8];
      for (int i = 0; i < gr; i++) rowp[i] = src + (off ? off[r0 + g + i] : (r0 + g + i) * ld);
      for (int64_t p0 = k8; p0 < k; p0 += 8) {
        int kt = (int)min64(8, k - p0);
        __m256 r[8];
        for (int i = 0; i < 8; i++)
          r[i] = i < gr ? load8_part(rowp[i] + p0, kt) : _mm256_setzero_ps();
        transpose8(r);
        for (int j = 0; j < kt; j++) store8_part(dst + (p0 + j) * w + g, r[j], gw);
      }
    }
  }
}

AVX2 static void pack_f64_avx2(bool contig, const void *src_, int64_t ld, const int64_t *off,
                               int64_t rows, int64_t k, int w, void *dst_) {
  if (contig) {
    pack_contig_avx2(src_, 2 * ld, off, 2, 2 * rows, k, 2 * w, dst_);
    return;
  }
  const double *src = src_;
  double *dst = dst_;
  for (int64_t r0 = 0; r0 < rows; r0 += w, dst += w * k) {
    int rr = (int)min64(w, rows - r0);
    for (int g = 0; g < w; g += 4) {
      int gr = rr - g < 0 ? 0 : rr - g > 4 ? 4 : rr - g, gw = w - g < 4 ? w - g : 4;
      const double *rowp[4];
      for (int i = 0; i < gr; i++) rowp[i] = src + (off ? off[r0 + g + i] : (r0 + g + i) * ld);
      for (int64_t p0 = 0; p0 < k; p0 += 4) {
        int kt = (int)min64(4, k - p0);
        __m256d r[4];
        for (int i = 0; i < 4; i++)
          r[i] = i < gr ? load4d_part(rowp[i] + p0, kt) : _mm256_setzero_pd();
        transpose4d(r);
        for (int j = 0; j < kt; j++) store4d_part(dst + (p0 + j) * w + g, r[j], gw);
      }
    }
  }
}

/* In-register transpose of a 16x16 block: r[a][b] -> r[b][a]. Three rounds
 * (unpack ps, unpack pd, two 128-bit lane shuffles) as in the usual 8x8. */
AVX512 INLINE void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; g++) { /* u[4g+c], lane l: rows 4g..4g+3 at column 4l+c */
    __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
    __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int c = 0; c < 4; c++) { /* 4x4 transpose of 128-bit lanes */
    __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
    __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
    __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
    r[4 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
  }
}

/* AVX-512 f32 packer for panel widths 12 and 32 (others: portable). */
AVX512 static void pack_f32_avx512(bool contig, const void *src_, int64_t ld,
                                   const int64_t *off, int64_t rows, int64_t k, int w,
                                   void *dst_) {
  if (w != 12 && w != 32) {
    pack_f32_avx2(contig, src_, ld, off, rows, k, w, dst_);
    return;
  }
  const float *src = src_;
  float *dst = dst_;
  if (contig && w == 12) { /* a group of 4 panels (3 cache lines) at a time, as pack_contig_avx2 */
    enum { G = 4 };
    for (int64_t r0 = 0; r0 < rows; r0 += G * 12) {
      int np = (int)min64(G, ceil_div(rows - r0, 12));
      __mmask16 m[G];
      for (int q = 0; q < np; q++) {
        int64_t rr = min64(12, rows - r0 - 12 * q);
        m[q] = (__mmask16)((1u << rr) - 1);
      }
      float *d0 = dst + r0 * k;
      for (int64_t p = 0; p < k; p++) {
        const float *sp = src + (off ? off[p] : p * ld) + r0;
        if (p + PACK_AHEAD < k) {
          const float *ahead = src + (off ? off[p + PACK_AHEAD] : (p + PACK_AHEAD) * ld) + r0;
          for (int q = 0; q < np; q++) __builtin_prefetch(ahead + 12 * q);
        }
        for (int q = 0; q < np; q++)
          _mm512_mask_storeu_ps(d0 + q * 12 * k + p * 12, 0x0fff, _mm512_maskz_loadu_ps(m[q], sp + 12 * q));
      }
    }
    return;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += w, dst += w * k) {
    int rr = (int)min64(w, rows - r0);
    if (contig) { /* copy rr (<= 32) consecutive elements per p, zero the rest */
      __mmask16 m0 = rr >= 16 ? 0xffff : (__mmask16)((1u << rr) - 1);
      __mmask16 m1 = rr >= 32 ? 0xffff : rr > 16 ? (__mmask16)((1u << (rr - 16)) - 1) : 0;
      const float *s = src + r0;
      if (w == 12)
        for (int64_t p = 0; p < k; p++)
          _mm512_mask_storeu_ps(dst + p * 12, 0x0fff,
                                _mm512_maskz_loadu_ps(m0, s + (off ? off[p] : p * ld)));
      else
        for (int64_t p = 0; p < k; p++) {
          const float *sp = s + (off ? off[p] : p * ld);
          _mm512_storeu_ps(dst + p * 32, _mm512_maskz_loadu_ps(m0, sp));
          _mm512_storeu_ps(dst + p * 32 + 16, _mm512_maskz_loadu_ps(m1, sp + 16));
        }
      continue;
    }
    /* strided: transpose 16 rows x 16 depths at a time */
    for (int g = 0; g < w; g += 16) {
      int gr = rr - g < 0 ? 0 : rr - g > 16 ? 16 : rr - g; /* live rows here */
      __mmask16 smask = w - g >= 16 ? 0xffff : (__mmask16)((1u << (w - g)) - 1);
      const float *rowp[16];
      for (int i = 0; i < gr; i++) rowp[i] = src + (off ? off[r0 + g + i] : (r0 + g + i) * ld);
      for (int64_t p0 = 0; p0 < k; p0 += 16) {
        int kt = (int)min64(16, k - p0);
        __mmask16 kmask = kt == 16 ? 0xffff : (__mmask16)((1u << kt) - 1);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
          r[i] = i < gr ? _mm512_maskz_loadu_ps(kmask, rowp[i] + p0) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < kt; j++) _mm512_mask_storeu_ps(dst + (p0 + j) * w + g, smask, r[j]);
      }
    }
  }
}

/* ---- AVX-512 f32 convolution row kernel --------------------------------- */

/* A tile of a stride-1 convolution: m <= 14 consecutive output pixels of
 * one row by n <= 32 output channels, over all k taps at once (no depth
 * blocking: the accumulators stay in registers). Pixel i of tap p reads
 * a[off[p] + i] straight from the padded input; b is a packed 32-wide
 * panel of W^T. The epilogue transposes the tile in registers and stores
 * y[j*ldy + i] (channel j, pixel i), i.e. NCHW rows. */
AVX512 INLINE void row_tile(const int MR, const int NV, int64_t k, const float *a,
                            const int64_t *off, const float *b, float *y, int64_t ldy, int n) {
  __m512 acc0[14], acc1[14];
  for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    const float *ap = a + off[p];
    __m512 b0 = _mm512_loadu_ps(b);
    __m512 b1 = NV == 2 ? _mm512_loadu_ps(b + 16) : b0;
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
      __m512 ai = _mm512_set1_ps(ap[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      if (NV == 2) acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    b += 32;
  }
  __mmask16 pm = (__mmask16)((1u << MR) - 1);
  __m512 r[16];
  for (int i = 0; i < 16; i++) r[i] = i < MR ? acc0[i] : _mm512_setzero_ps();
  transpose16(r);
  for (int j = 0; j < 16 && j < n; j++) _mm512_mask_storeu_ps(y + j * ldy, pm, r[j]);
  if (NV == 2 && n > 16) {
    for (int i = 0; i < 16; i++) r[i] = i < MR ? acc1[i] : _mm512_setzero_ps();
    transpose16(r);
    for (int j = 16; j < n; j++) _mm512_mask_storeu_ps(y + j * ldy, pm, r[j - 16]);
  }
}

#define ROW_CASE(M)                                                         \
  case M:                                                                   \
    if (n > 16) row_tile(M, 2, k, a, off, b, y, ldy, n);                    \
    else row_tile(M, 1, k, a, off, b, y, ldy, n);                           \
    break;

AVX512 static void srow_avx512(int64_t k, const void *a_, const int64_t *off, const void *b_,
                               void *y_, int64_t ldy, int m, int n) {
  const float *a = a_, *b = b_;
  float *y = y_;
  switch (m) {
    ROW_CASE(1) ROW_CASE(2) ROW_CASE(3) ROW_CASE(4) ROW_CASE(5) ROW_CASE(6) ROW_CASE(7)
    ROW_CASE(8) ROW_CASE(9) ROW_CASE(10) ROW_CASE(11) ROW_CASE(12) ROW_CASE(13) ROW_CASE(14)
  }
}
#undef ROW_CASE

/* ---- AVX2 f32 convolution row kernel ------------------------------------- */

/* AVX2 has 16 vector registers, too few for the AVX-512 tile (14 pixels
 * by 32 channels). Two layouts, chosen by the depth k; each element is the
 * same chain of FMAs over p in both (bits do not depend on the choice).
 *
 * Deep rows (k >= ROW_DEEP_K; the CNN's second convolution, k = 288, and
 * its data gradient): the AVX-512 layout at half width. A sub-tile is up
 * to 6 consecutive output pixels (each broadcast from the padded plane)
 * by the panel's 16 channels (two vectors loaded from it), 12
 * accumulators; the epilogue transposes each 6x8 half in registers and
 * stores NCHW rows. No load of the plane is a vector one: the other
 * layout's unaligned vector loads split a cache line about half the time.
 *
 * Shallow rows (the first convolution, k = 9): pixels run along vectors
 * instead, up to 16 consecutive pixels (two vectors, loaded straight from
 * the plane at each tap) by NJ <= 6 channels (weights broadcast), 12
 * accumulators, no transpose: with few taps the epilogue dominates and a
 * 6-pixel tile would pay it 3 times as often. The 16-wide panel is done
 * as 6 + 6 + 4 channels. Pixels past m are loaded too (whole vectors;
 * masked loads cost ~10% here) and dropped at the store: the caller
 * leaves row_mr readable elements after the plane. */
#define ROW_DEEP_K 32

AVX2 INLINE void row_tile_avx2(const int MR, const int NV, int64_t k, const float *a,
                               const int64_t *off, const float *b, float *y, int64_t ldy, int n) {
  __m256 acc0[8], acc1[8]; /* 8: the transpose reads rows MR..7 as zeros */
  for (int i = 0; i < 8; i++) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    const float *ap = a + off[p];
    __m256 b0 = _mm256_loadu_ps(b);
    __m256 b1 = NV == 2 ? _mm256_loadu_ps(b + 8) : b0;
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_set1_ps(ap[i]); /* not _mm256_broadcast_ss: GCC then keeps acc in memory */
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      if (NV == 2) acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    b += 16;
  }
  __m256 r[8];
  for (int i = 0; i < 8; i++) r[i] = acc0[i];
  transpose8(r);
  for (int j = 0; j < 8 && j < n; j++) store8_part(y + j * ldy, r[j], MR);
  if (NV == 2 && n > 8) {
    for (int i = 0; i < 8; i++) r[i] = acc1[i];
    transpose8(r);
    for (int j = 8; j < n; j++) store8_part(y + j * ldy, r[j - 8], MR);
  }
}

#define ROW_CASE(M)                                                         \
  case M:                                                                   \
    if (n > 8) row_tile_avx2(M, 2, k, a, off, b, y, ldy, n);                \
    else row_tile_avx2(M, 1, k, a, off, b, y, ldy, n);                      \
    break;

AVX2 INLINE void row_sub_avx2(const int NJ, const int MV, int64_t k, const float *a,
                              const int64_t *off, const float *b, float *y, int64_t ldy, int m) {
  __m256 acc0[6], acc1[6];
  for (int j = 0; j < NJ; j++) acc0[j] = acc1[j] = _mm256_setzero_ps();
  for (int64_t p = 0; p < k; p++) {
    const float *ap = a + off[p];
    __m256 x0 = _mm256_loadu_ps(ap);
    __m256 x1 = MV == 2 ? _mm256_loadu_ps(ap + 8) : x0;
#pragma GCC unroll 6
    for (int j = 0; j < NJ; j++) {
      __m256 bj = _mm256_broadcast_ss(b + p * 16 + j);
      acc0[j] = _mm256_fmadd_ps(x0, bj, acc0[j]);
      if (MV == 2) acc1[j] = _mm256_fmadd_ps(x1, bj, acc1[j]);
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < NJ; j++) {
    store8_part(y + j * ldy, acc0[j], m);
    if (MV == 2) store8_part(y + j * ldy + 8, acc1[j], m - 8);
  }
}

#define ROW_SUB(NJ)                                                               \
  case NJ:                                                                        \
    if (m > 8) row_sub_avx2(NJ, 2, k, a, off, b + j0, y + j0 * ldy, ldy, m);      \
    else row_sub_avx2(NJ, 1, k, a, off, b + j0, y + j0 * ldy, ldy, m);            \
    break;

AVX2 static void srow_avx2(int64_t k, const void *a_, const int64_t *off, const void *b_,
                           void *y_, int64_t ldy, int m, int n) {
  const float *a = a_, *b = b_;
  float *y = y_;
  if (k >= ROW_DEEP_K) { /* m <= 16 pixels as ceil(m/6) near-equal sub-tiles */
    int parts = (m + 5) / 6;
    for (int s = 0, i0 = 0; s < parts; s++) {
      int i1 = (int)rt_split(m, 1, parts, s + 1), mm = i1 - i0;
      switch (mm) { ROW_CASE(1) ROW_CASE(2) ROW_CASE(3) ROW_CASE(4) ROW_CASE(5) ROW_CASE(6) }
      a = (const float *)a + mm, y = (float *)y + mm, i0 = i1;
    }
    return;
  }
  for (int j0 = 0; j0 < n; j0 += 6) {
    switch (n - j0 < 6 ? n - j0 : 6) {
      ROW_SUB(1) ROW_SUB(2) ROW_SUB(3) ROW_SUB(4) ROW_SUB(5) ROW_SUB(6)
    }
  }
}
#undef ROW_CASE
#undef ROW_SUB
#endif /* RT_X86 */

/* ---- the arch table and instruction-set selection ----------------------- */

static const rt_gemm_arch arch_f32[4] = {
    [RT_ISA_C] = {RT_ISA_C, 4, 4, 8, 8, 256, 64, 256, skern_c, pack_f32_c, NULL, 0, NULL, NULL, 0, 0},
#if RT_X86 /* elsewhere the AVX rows stay zero: cpu_has() never picks them */
    [RT_ISA_AVX2] = {RT_ISA_AVX2, 4, 6, 16, 16, 256, 192, 512, skern_avx2, pack_f32_avx2, srow_avx2, 16, skern_ib_avx2,
                     skern_small_avx2, 4, 64},
    [RT_ISA_AVX512] = {RT_ISA_AVX512, 4, 12, 32, 16, 384, 96, 512, skern_avx512,
                       pack_f32_avx512, srow_avx512, 14, skern_ib_avx512, skern_small_avx512, 4, 128},
#endif
};
static const rt_gemm_arch arch_f64[4] = {
    [RT_ISA_C] = {RT_ISA_C, 8, 4, 4, 4, 256, 64, 256, dkern_c, pack_f64_c, NULL, 0, NULL, NULL, 0, 0},
#if RT_X86
    [RT_ISA_AVX2] = {RT_ISA_AVX2, 8, 6, 8, 8, 192, 96, 512, dkern_avx2, pack_f64_avx2, NULL, 0, NULL, NULL, 0, 0},
    [RT_ISA_AVX512] = {RT_ISA_AVX512, 8, 12, 16, 8, 192, 96, 512, dkern_avx512, pack_f64_avx2,
                       NULL, 0, NULL, NULL, 0, 0},
#endif
};

static atomic_int current_isa; /* 0 (RT_ISA_AUTO) until first use */

/* Off x86 only the portable kernels exist. */
static bool cpu_has(rt_isa isa) {
  if (isa == RT_ISA_AUTO || isa == RT_ISA_C) return true;
#if RT_X86
  __builtin_cpu_init();
  switch (isa) {
  case RT_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case RT_ISA_AVX512:
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  default: break;
  }
#endif
  return false;
}

nn_status rt_kernels_set_isa(rt_isa isa) {
  if (isa < RT_ISA_AUTO || isa > RT_ISA_AVX512)
    return rt_error(NN_ERR_ARG, "rt_kernels_set_isa: unknown instruction set %d", (int)isa);
  if (!cpu_has(isa))
    return rt_error(NN_ERR_ARG, "rt_kernels_set_isa: this CPU lacks %s", rt_isa_name(isa));
  atomic_store(&current_isa, isa == RT_ISA_AUTO ? 0 : (int)isa);
  return NN_OK;
}

/* NNC_ISA=avx512|avx2|c caps the automatic choice (benchmarks and users
 * reach the AVX2 paths on an AVX-512 machine this way). A name the runtime
 * does not know, or an ISA the CPU lacks, is ignored: the best one is used. */
static rt_isa env_isa(void) {
  const char *e = getenv("NNC_ISA");
  if (!e || !*e) return RT_ISA_AUTO;
  for (int i = RT_ISA_C; i <= RT_ISA_AVX512; i++)
    if (!strcmp(e, rt_isa_name((rt_isa)i))) return cpu_has((rt_isa)i) ? (rt_isa)i : RT_ISA_AUTO;
  return RT_ISA_AUTO;
}

rt_isa rt_kernels_isa(void) {
  int isa = atomic_load_explicit(&current_isa, memory_order_relaxed);
  if (isa) return (rt_isa)isa;
  isa = env_isa();
  if (!isa)
    isa = cpu_has(RT_ISA_AVX512) ? RT_ISA_AVX512 : cpu_has(RT_ISA_AVX2) ? RT_ISA_AVX2 : RT_ISA_C;
  atomic_store_explicit(&current_isa, isa, memory_order_relaxed);
  return (rt_isa)isa;
}

const char *rt_isa_name(rt_isa isa) {
  switch (isa) {
  case RT_ISA_AUTO: return "auto";
  case RT_ISA_C: return "c";
  case RT_ISA_AVX2: return "avx2";
  case RT_ISA_AVX512: return "avx512";
  }
  return "?";
}

const rt_gemm_arch *rt_gemm_arch_get(int esz) {
  rt_isa isa = rt_kernels_isa();
  return esz == 8 ? &arch_f64[isa] : &arch_f32[isa];
}

/* ---- buffers --------------------------------------------------------------- */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t rt_gemm_pack_a_bytes(const rt_gemm_arch *ar) {
  return (size_t)(ceil_div(ar->mc, ar->mr) * ar->mr * ar->kc) * (size_t)ar->esz;
}
size_t rt_gemm_pack_b_bytes(const rt_gemm_arch *ar) {
  return (size_t)(ceil_div(ar->nc, ar->nr) * ar->nr * ar->kc) * (size_t)ar->esz;
}
/* At least WORK_MIN_BYTES whatever the blocking, so that which images fit
 * the convolutions' stride-1 paths (the padded input lives here) does not
 * change with an arch's cache blocks. */
#define WORK_MIN_BYTES ((size_t)768 << 10)

size_t rt_gemm_work_bytes(const rt_gemm_arch *ar) {
  int64_t e = ar->kc * ar->nc;
  if (ar->mc * ar->nc > e) e = ar->mc * ar->nc;
  if (ar->mc * ar->kc > e) e = ar->mc * ar->kc;
  size_t b = (size_t)e * (size_t)ar->esz;
  return b > WORK_MIN_BYTES ? b : WORK_MIN_BYTES;
}

static size_t arch_bytes(const rt_gemm_arch *ar) {
  return align64(rt_gemm_pack_a_bytes(ar)) + align64(rt_gemm_pack_b_bytes(ar)) +
         align64(rt_gemm_work_bytes(ar));
}

size_t rt_thread_scratch_bytes(void) {
  size_t m = 0;
  for (int i = RT_ISA_C; i <= RT_ISA_AVX512; i++) {
    if (arch_bytes(&arch_f32[i]) > m) m = arch_bytes(&arch_f32[i]);
    if (arch_bytes(&arch_f64[i]) > m) m = arch_bytes(&arch_f64[i]);
  }
  return m;
}

void rt_thread_buffers(const rt_gemm_arch *ar, void *scratch, void **pack_a,
                       void **pack_b, void **work) {
  char *s = scratch;
  *pack_a = s;
  s += align64(rt_gemm_pack_a_bytes(ar));
  *pack_b = s;
  s += align64(rt_gemm_pack_b_bytes(ar));
  *work = s;
}

/* With pool == NULL GEMM packs into one buffer per calling thread, made on
 * first use and freed when the thread exits (the main thread's lives until
 * exit). */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static _Thread_local void *tls_buf;

static void tls_destroy(void *p) { rt_free(p); }
static void tls_key_init(void) { pthread_key_create(&tls_key, tls_destroy); }

static void *thread_local_buffer(void) {
  if (!tls_buf) {
    pthread_once(&tls_once, tls_key_init);
    tls_buf = rt_alloc(rt_thread_scratch_bytes());
    if (tls_buf) pthread_setspecific(tls_key, tls_buf);
  }
  return tls_buf;
}

/* ---- blocked driver ------------------------------------------------------- */

void rt_gemm_pack_a(const rt_gemm_arch *ar, bool transA, const void *A, int64_t lda,
                    int64_t m, int64_t k, void *dst) {
  ar->pack(transA, A, lda, NULL, m, k, ar->mr, dst);
}

void rt_gemm_pack_b(const rt_gemm_arch *ar, bool transB, const void *B, int64_t ldb,
                    int64_t k, int64_t n, void *dst) {
  ar->pack(!transB, B, ldb, NULL, n, k, ar->nr, dst);
}

/* The macro-kernel's loop order. A B micro-panel (k x nr) that fits half
 * of a 32 KB L1 stays there while every A panel of the block passes under
 * it (BLIS order; the A block, mc x kc, then lives in L2): AVX2 (kc 256:
 * 16 KB) and C. The AVX-512 panels (kc 384 x 32 floats, 48 KB) do not
 * fit, so there one A panel stays in L1 and the kc x nc B block streams
 * from L2 (768 KB: fine in Zen 4's 1 MB L2, but it would not be in Zen 2's
 * 512 KB, which is why AVX2 uses the other order). Measured on Zen 4 the
 * two orders are within noise of each other for AVX2. */
#define B_PANEL_L1 16384

void rt_gemm_macro(const rt_gemm_arch *ar, int64_t m, int64_t n, int64_t k,
                   const void *Ap, const void *Bp, void *C, int64_t ldc,
                   double alpha, double beta) {
  const char *a = Ap, *b = Bp;
  char *c = C;
  size_t esz = (size_t)ar->esz;
  if ((size_t)(k * ar->nr) * esz <= B_PANEL_L1) { /* B panel in L1, A block streams from L2 */
    for (int64_t jr = 0; jr < n; jr += ar->nr)
      for (int64_t ir = 0; ir < m; ir += ar->mr)
        ar->kernel(k, a + (size_t)(ir * k) * esz, b + (size_t)(jr * k) * esz,
                   c + (size_t)(ir * ldc + jr) * esz, ldc, (int)min64(ar->mr, m - ir),
                   (int)min64(ar->nr, n - jr), alpha, beta);
    return;
  }
  for (int64_t ir = 0; ir < m; ir += ar->mr) /* A panel in L1, B block streams from L2 */
    for (int64_t jr = 0; jr < n; jr += ar->nr)
      ar->kernel(k, a + (size_t)(ir * k) * esz, b + (size_t)(jr * k) * esz,
                 c + (size_t)(ir * ldc + jr) * esz, ldc, (int)min64(ar->mr, m - ir),
                 (int)min64(ar->nr, n - jr), alpha, beta);
}

int64_t rt_gemm_kblock(const rt_gemm_arch *ar, int64_t K) {
  if (K <= 0) return 1;
  return ceil_div(K, ceil_div(K, ar->kc));
}

int64_t rt_split(int64_t n, int64_t gran, int parts, int i) {
  int64_t units = ceil_div(n, gran);
  int64_t x = units * i / parts * gran;
  return x < n ? x : n;
}

/* One GEMM call, typed only by ar->esz. */
typedef struct Gemm {
  const rt_gemm_arch *ar;
  bool ta, tb;
  int64_t M, N, K;
  double alpha, beta;
  const char *A, *B;
  char *C;
  int64_t lda, ldb, ldc;
  const char *Bp;          /* prepacked B (its panels; NULL: B as it stands) */
  const rt_gemm_arch *bar; /* the arch that packed Bp */
} Gemm;

/* ---- prepacked B: layout ------------------------------------------------------ */

/* rt_sgemm_prepack_b's output: a 64-byte header naming the arch that
 * packed it, then op(B) as the blocked driver would pack it, whole: for
 * each depth block (rt_gemm_kblock) all ceil(N/nr) panels of kb x nr, so
 * the block at depth pc starts at element pc * npad (npad = N rounded up
 * to nr) and column j's panel at pc * npad + (j / nr) * nr * kb. */
#define PREPACK_MAGIC 0x42706e6eu /* "nnpB" */
#define PREPACK_HEADER 64
typedef struct PrepackHeader {
  uint32_t magic;
  int32_t isa, esz;
} PrepackHeader;

static int64_t npad_of(const rt_gemm_arch *ar, int64_t N) { return ceil_div(N, ar->nr) * ar->nr; }

/* Element (p, j) of op(B) from panels packed by `bar` (the slow paths). */
static double prepacked_at(const rt_gemm_arch *bar, const char *Bp, int64_t K, int64_t N,
                           int64_t p, int64_t j) {
  int64_t kc = rt_gemm_kblock(bar, K), pc = p / kc * kc, kb = min64(kc, K - pc);
  int64_t at = pc * npad_of(bar, N) + j / bar->nr * bar->nr * kb + (p - pc) * bar->nr + j % bar->nr;
  return bar->esz == 4 ? (double)((const float *)Bp)[at] : ((const double *)Bp)[at];
}

/* op(A) packed whole (the panels split's first stage): for each depth
 * block, all M rows in mr-panels, so the block at depth pc starts at
 * element pc * mpad (mpad = M rounded up to mr) and row i's panel (i a
 * multiple of mr) at pc * mpad + i * kb: the same panels gemm_block packs
 * per row block, row blocks starting at multiples of mc (a multiple of mr
 * in every arch). */
static int64_t mpad_of(const rt_gemm_arch *ar, int64_t M) { return ceil_div(M, ar->mr) * ar->mr; }

/* The packed A block of rows [ic, ic+mb) at depth [pc, pc+kb): from A
 * packed whole (Aw, NULL: none), else packed now into Ap. */
static const char *a_block(const Gemm *g, const char *Aw, void *Ap, int64_t pc, int64_t kb,
                           int64_t ic, int64_t mb) {
  size_t esz = (size_t)g->ar->esz;
  if (Aw) return Aw + (size_t)(pc * mpad_of(g->ar, g->M) + ic * kb) * esz;
  int64_t aoff = g->ta ? pc * g->lda + ic : ic * g->lda + pc;
  rt_gemm_pack_a(g->ar, g->ta, g->A + (size_t)aoff * esz, g->lda, mb, kb, Ap);
  return Ap;
}

/* C[m0:m1, n0:n1] from prepacked B: per depth block and row block, pack A
 * once (or take it from Aw) and run it against the stored panels; n0 is a
 * multiple of nr. The kernel sees the same panels and depth blocks as
 * gemm_block's, so every element gets the same arithmetic as from
 * rt_sgemm. */
static void gemm_block_prepacked(const Gemm *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                                 const char *Aw, void *buf) {
  const rt_gemm_arch *ar = g->ar;
  size_t esz = (size_t)ar->esz;
  void *Ap = NULL, *unused, *work;
  if (!Aw) rt_thread_buffers(ar, buf, &Ap, &unused, &work);
  int64_t kc = rt_gemm_kblock(ar, g->K), npad = npad_of(ar, g->N);
  for (int64_t pc = 0; pc < g->K; pc += kc) {
    int64_t kb = min64(kc, g->K - pc);
    double beta = pc == 0 ? g->beta : 1.0;
    for (int64_t ic = m0; ic < m1; ic += ar->mc) {
      int64_t mb = min64(ar->mc, m1 - ic);
      const char *a = a_block(g, Aw, Ap, pc, kb, ic, mb);
      for (int64_t jc = n0; jc < n1; jc += ar->nc)
        rt_gemm_macro(ar, mb, min64(ar->nc, n1 - jc), kb, a,
                      g->Bp + (size_t)(pc * npad + jc * kb) * esz,
                      g->C + (size_t)(ic * g->ldc + jc) * esz, g->ldc, g->alpha, beta);
    }
  }
}

/* C[m0:m1, n0:n1] through the blocked loops, packing into `buf` (A only
 * when Aw, A packed whole, is NULL). */
static void gemm_block(const Gemm *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       const char *Aw, void *buf) {
  const rt_gemm_arch *ar = g->ar;
  size_t esz = (size_t)ar->esz;
  void *Ap, *Bp, *work;
  rt_thread_buffers(ar, buf, &Ap, &Bp, &work);
  int64_t kc = rt_gemm_kblock(ar, g->K);
  for (int64_t pc = 0; pc < g->K; pc += kc) {
    int64_t kb = min64(kc, g->K - pc);
    double beta = pc == 0 ? g->beta : 1.0;
    for (int64_t jc = n0; jc < n1; jc += ar->nc) {
      int64_t nb = min64(ar->nc, n1 - jc);
      int64_t boff = g->tb ? jc * g->ldb + pc : pc * g->ldb + jc;
      rt_gemm_pack_b(ar, g->tb, g->B + (size_t)boff * esz, g->ldb, kb, nb, Bp);
      for (int64_t ic = m0; ic < m1; ic += ar->mc) {
        int64_t mb = min64(ar->mc, m1 - ic);
        rt_gemm_macro(ar, mb, nb, kb, a_block(g, Aw, Ap, pc, kb, ic, mb), Bp,
                      g->C + (size_t)(ic * g->ldc + jc) * esz, g->ldc, g->alpha, beta);
      }
    }
  }
}

/* Last resort when no packing buffer can be had (pool == NULL and the
 * thread's buffer failed to allocate), or when B was prepacked for another
 * instruction set: plain loops, correct but slow. */
static void gemm_unpacked(const Gemm *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  for (int64_t i = m0; i < m1; i++)
    for (int64_t j = n0; j < n1; j++) {
      double acc = 0;
      for (int64_t p = 0; p < g->K; p++) {
        int64_t ai = g->ta ? p * g->lda + i : i * g->lda + p;
        int64_t bi = g->tb ? j * g->ldb + p : p * g->ldb + j;
        double b = g->Bp                ? prepacked_at(g->bar, g->Bp, g->K, g->N, p, j)
                   : g->ar->esz == 4 ? (double)((const float *)g->B)[bi]
                                     : ((const double *)g->B)[bi];
        if (g->ar->esz == 4) acc += (double)((const float *)g->A)[ai] * b;
        else acc += ((const double *)g->A)[ai] * b;
      }
      if (g->ar->esz == 4) {
        float *c = (float *)g->C + i * g->ldc + j;
        *c = (float)(g->alpha * acc + (g->beta != 0 ? g->beta * *c : 0.0));
      } else {
        double *c = (double *)g->C + i * g->ldc + j;
        *c = g->alpha * acc + (g->beta != 0 ? g->beta * *c : 0.0);
      }
    }
}

/* C = beta*C (0 when beta == 0, without reading C): alpha == 0 or K == 0. */
static void scale_c(const Gemm *g) {
  for (int64_t i = 0; i < g->M; i++) {
    if (g->ar->esz == 4) {
      float *c = (float *)g->C + i * g->ldc, b = (float)g->beta;
      for (int64_t j = 0; j < g->N; j++) c[j] = b != 0 ? b * c[j] : 0.0f;
    } else {
      double *c = (double *)g->C + i * g->ldc;
      for (int64_t j = 0; j < g->N; j++) c[j] = g->beta != 0 ? g->beta * c[j] : 0.0;
    }
  }
}

/* Whether g goes through the small-M kernel: at most RT_GEMM_SMALL_M
 * rows, B row-major as it stands or prepacked by this arch (a transposed
 * B is packed, as for big products). */
static bool small_m(const Gemm *g) {
  return g->ar->small && g->M <= RT_GEMM_SMALL_M && (g->Bp ? g->bar == g->ar : !g->tb);
}

/* C[m0:m1, n0:n1] through ar->small, nothing packed: per strip of
 * small_nr columns and group of small_mr rows, the depth blocks of
 * gemm_block in order (C updated after each), so every element gets the
 * packed path's arithmetic. n0 is a multiple of nr (prepacked B: where a
 * panel starts). */
static void gemm_small(const Gemm *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const rt_gemm_arch *ar = g->ar;
  size_t esz = (size_t)ar->esz;
  int64_t kc = rt_gemm_kblock(ar, g->K), npad = npad_of(ar, g->N);
  int64_t ars = g->ta ? 1 : g->lda, acs = g->ta ? g->lda : 1;
  for (int64_t jc = n0; jc < n1; jc += ar->small_nr) {
    int nb = (int)min64(ar->small_nr, n1 - jc);
    for (int64_t ir = m0; ir < m1; ir += ar->small_mr) {
      int mb = (int)min64(ar->small_mr, m1 - ir);
      for (int64_t pc = 0; pc < g->K; pc += kc) {
        int64_t kb = min64(kc, g->K - pc);
        double beta = pc == 0 ? g->beta : 1.0;
        const char *a = g->A + (size_t)(ir * ars + pc * acs) * esz;
        char *c = g->C + (size_t)(ir * g->ldc + jc) * esz;
        if (g->Bp)
          ar->small(kb, a, ars, acs, mb, g->Bp + (size_t)(pc * npad + jc * kb) * esz, ar->nr,
                    ar->nr, ar->nr * kb, c, g->ldc, nb, g->alpha, beta);
        else
          ar->small(kb, a, ars, acs, mb, g->B + (size_t)(pc * g->ldb + jc) * esz, g->ldb,
                    INT64_MAX, 0, c, g->ldc, nb, g->alpha, beta);
      }
    }
  }
}

/* C[m0:m1, n0:n1] of g with `buf` (NULL: the unpacked fallback) and A
 * packed whole in Aw (NULL: packed block by block into buf). */
static void gemm_part(const Gemm *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                      const char *Aw, void *buf) {
  if (small_m(g)) gemm_small(g, m0, m1, n0, n1);
  else if (g->Bp && g->bar != g->ar) gemm_unpacked(g, m0, m1, n0, n1);
  else if (g->Bp && (Aw || buf)) gemm_block_prepacked(g, m0, m1, n0, n1, Aw, buf);
  else if (buf) gemm_block(g, m0, m1, n0, n1, Aw, buf);
  else gemm_unpacked(g, m0, m1, n0, n1);
}

/* A whole GEMM on one thread with `buf` (may be NULL: unpacked fallback). */
static void gemm_serial(const Gemm *g, void *buf) {
  if (g->M <= 0 || g->N <= 0) return;
  if (g->K <= 0 || g->alpha == 0) scale_c(g);
  else gemm_part(g, 0, g->M, 0, g->N, NULL, buf);
}

/* How threads share one product (more than one thread, big enough):
 *  - panels: when op(A) packed whole fits the caller's work block and N
 *    has at least PANELS_MIN_PER_THREAD nr-panels per thread, the caller
 *    packs A once (the job's first stage) and the threads claim runs of
 *    whole panels of C's columns as they come (up to 4 per thread), each
 *    packing only its B columns (none when B is prepacked). No packing is
 *    done twice, and a thread that starts late (a busy machine) just
 *    takes fewer columns: the small products of recurrent steps
 *    (M = 32) are cut this way.
 *  - grid: otherwise C is cut into tm x tn parts, one per thread.
 * In the grid, per-thread cost in units of one multiply-add: the padded
 * tile work plus packing, where one packed element costs about as much as
 * PACK_COST multiply-adds. */
#define PACK_COST 16
#define MIN_PARALLEL_MNK (64 * 64 * 48) /* below this one thread is faster */
#define PANELS_MIN_PER_THREAD 2

/* prepacked: B's panels are ready (no B packing; N splits at whole panels). */
static void grid(const rt_gemm_arch *ar, int64_t M, int64_t N, int64_t K, int T, bool prepacked,
                 int *tm, int *tn) {
  *tm = *tn = 1;
  if (T <= 1 || M * N * K < MIN_PARALLEL_MNK) return;
  int ngran = prepacked ? ar->nr : ar->ngran;
  double best = 0;
  for (int a = 1; a <= T; a++)
    for (int b = 1; a * b <= T; b++) {
      double rows = (double)(ceil_div(ceil_div(M, ar->mr), a) * ar->mr);
      double cols = (double)(ceil_div(ceil_div(N, ngran), b) * ngran);
      double cost = rows * cols * (double)K + PACK_COST * (double)K * (rows + (prepacked ? 0 : cols));
      if (best == 0 || cost < best * 0.999) {
        best = cost;
        *tm = a;
        *tn = b;
      }
    }
}

void rt_gemm_grid(const rt_gemm_arch *ar, int64_t M, int64_t N, int64_t K, int T,
                  int *tm, int *tn) {
  grid(ar, M, N, K, T, false, tm, tn);
}

/* Whether T threads share a product by panels (see above). */
static bool by_panels(const rt_gemm_arch *ar, int64_t M, int64_t N, int64_t K, int T) {
  return T > 1 && M * N * K >= MIN_PARALLEL_MNK && !(ar->small && M <= RT_GEMM_SMALL_M) &&
         ceil_div(N, ar->nr) >= PANELS_MIN_PER_THREAD * (int64_t)T &&
         (size_t)(mpad_of(ar, M) * K) * (size_t)ar->esz <= rt_gemm_work_bytes(ar);
}

const char *rt_gemm_path(int esz, int64_t M, int64_t N, int64_t K, int T, bool prepacked) {
  const rt_gemm_arch *ar = rt_gemm_arch_get(esz);
  if (by_panels(ar, M, N, K, T)) return "panels";
  int tm, tn;
  grid(ar, M, N, K, T, prepacked, &tm, &tn);
  return tm * tn > 1 ? "grid" : "serial";
}

typedef struct GemmJob {
  rt_pool *pool;
  const Gemm *g;   /* one GEMM split into a grid or panels ... */
  int tm, tn;
  const char *Aw;  /* panels: op(A) packed whole by the first stages (NULL: failed) */
  int pack_parts;  /* panels: threads packing a part of it each (1: the caller alone) */
  int64_t batch;   /* ... or `batch` whole GEMMs, one per item */
  int64_t sa, sb, sc; /* batch strides, elements */
} GemmJob;

static void *task_buffer(rt_pool *pool, int ti) {
  void *buf = rt_pool_thread_scratch(pool, ti);
  return buf ? buf : thread_local_buffer();
}

static void grid_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const GemmJob *j = ctx;
  const Gemm *g = j->g;
  void *buf = task_buffer(j->pool, ti);
  for (int64_t t = begin; t < end; t++) {
    int a = (int)(t / j->tn), b = (int)(t % j->tn);
    int64_t m0 = rt_split(g->M, g->ar->mr, j->tm, a), m1 = rt_split(g->M, g->ar->mr, j->tm, a + 1);
    int gran = g->Bp ? g->ar->nr : g->ar->ngran; /* prepacked: whole panels */
    int64_t n0 = rt_split(g->N, gran, j->tn, b), n1 = rt_split(g->N, gran, j->tn, b + 1);
    if (m0 >= m1 || n0 >= n1) continue;
    gemm_part(g, m0, m1, n0, n1, NULL, buf);
  }
}

/* Packing A on every thread (pack_a_part) costs one more stage of the
 * job (a handoff to the workers): worth it from this size of packed A
 * (bench_kernels, 2 threads, 20% quantile: lstm.step.dX+pp, A [32,1024],
 * 2-3% faster under AVX2 and AVX-512; lstm.step.fwd+pp and rnn.step.*+pp,
 * A [32,256], 1-2% slower when split). */
#define PANELS_SPLIT_PACK_BYTES (64 << 10)

/* Part i of `parts` of op(A) packed whole into j->Aw: its share of A's
 * mr-panels (rows rt_split(M, mr, parts, i)), every depth block, at the
 * places the layout above gives them. Split on panel boundaries, the
 * panels are the same bytes whoever packs them. */
static void pack_a_part(const GemmJob *j, int i, int parts) {
  const Gemm *g = j->g;
  const rt_gemm_arch *ar = g->ar;
  size_t esz = (size_t)ar->esz;
  int64_t kc = rt_gemm_kblock(ar, g->K), mpad = mpad_of(ar, g->M);
  int64_t i0 = rt_split(g->M, ar->mr, parts, i), i1 = rt_split(g->M, ar->mr, parts, i + 1);
  for (int64_t pc = 0; i0 < i1 && pc < g->K; pc += kc) {
    int64_t kb = min64(kc, g->K - pc), aoff = g->ta ? pc * g->lda + i0 : i0 * g->lda + pc;
    rt_gemm_pack_a(ar, g->ta, g->A + (size_t)aoff * esz, g->lda, i1 - i0, kb,
                   (char *)j->Aw + (size_t)(pc * mpad + i0 * kb) * esz);
  }
}

/* The panels split's first stage, on the caller: the work block that op(A)
 * is packed whole into (j->Aw; NULL: no buffer, the panels fall back to
 * unpacked loops), packed here unless every thread packs a part next. */
static void pack_a_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)begin, (void)end;
  GemmJob *j = ctx;
  void *buf = task_buffer(j->pool, ti), *Ap, *Bp, *work;
  j->Aw = NULL;
  if (!buf) return;
  rt_thread_buffers(j->g->ar, buf, &Ap, &Bp, &work);
  j->Aw = work;
  if (j->pack_parts <= 1) pack_a_part(j, 0, 1);
}

/* The optional second stage: part `begin` of j->pack_parts on each thread
 * (a recurrent step's A, [32, 1024] in an LSTM's backward, was packed by
 * the caller alone while the other threads waited). */
static void pack_a_part_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  const GemmJob *j = ctx;
  for (int64_t i = begin; j->Aw && i < end; i++) pack_a_part(j, (int)i, j->pack_parts);
}

/* C's columns of panels [begin, end), every row. */
static void panels_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const GemmJob *j = ctx;
  const Gemm *g = j->g;
  int64_t n0 = begin * g->ar->nr, n1 = min64(g->N, end * g->ar->nr);
  gemm_part(g, 0, g->M, n0, n1, j->Aw, j->Aw ? task_buffer(j->pool, ti) : NULL);
}

static void batch_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const GemmJob *j = ctx;
  void *buf = task_buffer(j->pool, ti);
  size_t esz = (size_t)j->g->ar->esz;
  for (int64_t t = begin; t < end; t++) {
    Gemm g = *j->g;
    g.A += (size_t)(t * j->sa) * esz;
    g.B += (size_t)(t * j->sb) * esz;
    g.C += (size_t)(t * j->sc) * esz;
    gemm_serial(&g, buf);
  }
}

static void gemm_run(rt_pool *p, const Gemm *g) {
  if (g->M <= 0 || g->N <= 0) return;
  if (g->K <= 0 || g->alpha == 0) {
    scale_c(g);
    return;
  }
  if (!p) {
    gemm_serial(g, thread_local_buffer());
    return;
  }
  GemmJob j = {.pool = p, .g = g};
  int T = rt_pool_size(p);
  if (by_panels(g->ar, g->M, g->N, g->K, T) && !(g->Bp && g->bar != g->ar)) {
    bool split = (size_t)(mpad_of(g->ar, g->M) * g->K) * (size_t)g->ar->esz >= PANELS_SPLIT_PACK_BYTES;
    j.pack_parts = split ? T : 1;
    rt_parallel_for_stages(p, pack_a_task, split ? T : 0, pack_a_part_task, ceil_div(g->N, g->ar->nr), 1,
                           panels_task, &j);
    return;
  }
  grid(g->ar, g->M, g->N, g->K, T, g->Bp != NULL, &j.tm, &j.tn);
  rt_parallel_for(p, j.tm * j.tn, 1, grid_task, &j);
}

static void gemm_run_batched(rt_pool *p, const Gemm *g, int64_t batch, int64_t sa,
                             int64_t sb, int64_t sc) {
  if (batch <= 0 || g->M <= 0 || g->N <= 0) return;
  int T = rt_pool_size(p);
  int tm, tn;
  rt_gemm_grid(g->ar, g->M, g->N, g->K, T, &tm, &tn);
  if (batch == 1 || (batch < T && (tm * tn > 1 || by_panels(g->ar, g->M, g->N, g->K, T)))) {
    size_t esz = (size_t)g->ar->esz;
    for (int64_t b = 0; b < batch; b++) {
      Gemm gb = *g;
      gb.A += (size_t)(b * sa) * esz;
      gb.B += (size_t)(b * sb) * esz;
      gb.C += (size_t)(b * sc) * esz;
      gemm_run(p, &gb);
    }
    return;
  }
  GemmJob j = {.pool = p, .g = g, .batch = batch, .sa = sa, .sb = sb, .sc = sc};
  rt_parallel_for(p, batch, 1, batch_task, &j);
}

/* ---- public entry points ---------------------------------------------------- */

void rt_sgemm(rt_pool *p, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc) {
  Gemm g = {rt_gemm_arch_get(4), transA, transB, M, N, K, alpha, beta,
            (const char *)A, (const char *)B, (char *)C, lda, ldb, ldc, NULL, NULL};
  gemm_run(p, &g);
}

void rt_dgemm(rt_pool *p, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
              double alpha, const double *A, int64_t lda, const double *B, int64_t ldb,
              double beta, double *C, int64_t ldc) {
  Gemm g = {rt_gemm_arch_get(8), transA, transB, M, N, K, alpha, beta,
            (const char *)A, (const char *)B, (char *)C, lda, ldb, ldc, NULL, NULL};
  gemm_run(p, &g);
}

void rt_sgemm_batched(rt_pool *p, bool transA, bool transB, int64_t batch,
                      int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, int64_t strideA,
                      const float *B, int64_t ldb, int64_t strideB, float beta,
                      float *C, int64_t ldc, int64_t strideC) {
  Gemm g = {rt_gemm_arch_get(4), transA, transB, M, N, K, alpha, beta,
            (const char *)A, (const char *)B, (char *)C, lda, ldb, ldc, NULL, NULL};
  gemm_run_batched(p, &g, batch, strideA, strideB, strideC);
}

void rt_dgemm_batched(rt_pool *p, bool transA, bool transB, int64_t batch,
                      int64_t M, int64_t N, int64_t K, double alpha,
                      const double *A, int64_t lda, int64_t strideA,
                      const double *B, int64_t ldb, int64_t strideB, double beta,
                      double *C, int64_t ldc, int64_t strideC) {
  Gemm g = {rt_gemm_arch_get(8), transA, transB, M, N, K, alpha, beta,
            (const char *)A, (const char *)B, (char *)C, lda, ldb, ldc, NULL, NULL};
  gemm_run_batched(p, &g, batch, strideA, strideB, strideC);
}

/* ---- prepacked B: entry points --------------------------------------------------- */

static size_t prepacked_bytes(int esz, int64_t K, int64_t N) {
  size_t m = 0;
  if (K > 0 && N > 0)
    for (int i = RT_ISA_C; i <= RT_ISA_AVX512; i++) {
      const rt_gemm_arch *ar = esz == 8 ? &arch_f64[i] : &arch_f32[i];
      size_t e = (size_t)(npad_of(ar, N) * K) * (size_t)esz;
      if (e > m) m = e;
    }
  return PREPACK_HEADER + align64(m);
}

typedef struct PackJob {
  const rt_gemm_arch *ar;
  bool tb;
  int64_t K, N, ldb;
  const char *B;
  char *dst;     /* the panels, after the header */
  int parts;
} PackJob;

/* Parts [begin,end) of the columns (whole panels), every depth block. */
static void prepack_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  const PackJob *j = ctx;
  const rt_gemm_arch *ar = j->ar;
  size_t esz = (size_t)ar->esz;
  int64_t kc = rt_gemm_kblock(ar, j->K), npad = npad_of(ar, j->N);
  for (int64_t part = begin; part < end; part++) {
    int64_t n0 = rt_split(j->N, ar->nr, j->parts, (int)part), n1 = rt_split(j->N, ar->nr, j->parts, (int)part + 1);
    if (n0 >= n1) continue;
    for (int64_t pc = 0; pc < j->K; pc += kc) {
      int64_t kb = min64(kc, j->K - pc), boff = j->tb ? n0 * j->ldb + pc : pc * j->ldb + n0;
      rt_gemm_pack_b(ar, j->tb, j->B + (size_t)boff * esz, j->ldb, kb, n1 - n0,
                     j->dst + (size_t)(pc * npad + n0 * kb) * esz);
    }
  }
}

#define PREPACK_MIN_PARALLEL 65536 /* elements of B below which one thread packs */

static void prepack(rt_pool *p, int esz, bool transB, int64_t K, int64_t N, const void *B,
                    int64_t ldb, void *dst) {
  const rt_gemm_arch *ar = rt_gemm_arch_get(esz);
  PrepackHeader h = {PREPACK_MAGIC, (int32_t)ar->isa, esz};
  memset(dst, 0, PREPACK_HEADER);
  memcpy(dst, &h, sizeof h);
  if (K <= 0 || N <= 0) return;
  int T = rt_pool_size(p);
  PackJob j = {ar, transB, K, N, ldb, B, (char *)dst + PREPACK_HEADER,
               K * N >= PREPACK_MIN_PARALLEL ? T : 1};
  rt_parallel_for(p, j.parts, 1, prepack_task, &j);
}

static void prepacked_run(rt_pool *p, Gemm *g, const void *Bp) {
  PrepackHeader h;
  memcpy(&h, Bp, sizeof h);
  g->Bp = (const char *)Bp + PREPACK_HEADER;
  g->bar = h.magic == PREPACK_MAGIC && h.esz == g->ar->esz && h.isa >= RT_ISA_C && h.isa <= RT_ISA_AVX512
               ? (g->ar->esz == 8 ? &arch_f64[h.isa] : &arch_f32[h.isa])
               : g->ar;
  gemm_run(p, g);
}

size_t rt_sgemm_prepacked_bytes(int64_t K, int64_t N) { return prepacked_bytes(4, K, N); }
size_t rt_dgemm_prepacked_bytes(int64_t K, int64_t N) { return prepacked_bytes(8, K, N); }

void rt_sgemm_prepack_b(rt_pool *p, bool transB, int64_t K, int64_t N, const float *B, int64_t ldb,
                        void *dst) {
  prepack(p, 4, transB, K, N, B, ldb, dst);
}
void rt_dgemm_prepack_b(rt_pool *p, bool transB, int64_t K, int64_t N, const double *B,
                        int64_t ldb, void *dst) {
  prepack(p, 8, transB, K, N, B, ldb, dst);
}

void rt_sgemm_prepacked(rt_pool *p, bool transA, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const void *Bp, float beta, float *C,
                        int64_t ldc) {
  Gemm g = {rt_gemm_arch_get(4), transA, false, M, N, K, alpha, beta,
            (const char *)A, NULL, (char *)C, lda, 0, ldc, NULL, NULL};
  prepacked_run(p, &g, Bp);
}
void rt_dgemm_prepacked(rt_pool *p, bool transA, int64_t M, int64_t N, int64_t K, double alpha,
                        const double *A, int64_t lda, const void *Bp, double beta, double *C,
                        int64_t ldc) {
  Gemm g = {rt_gemm_arch_get(8), transA, false, M, N, K, alpha, beta,
            (const char *)A, NULL, (char *)C, lda, 0, ldc, NULL, NULL};
  prepacked_run(p, &g, Bp);
}
