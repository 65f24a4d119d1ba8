/* rt_simd.h — small SIMD helpers shared by the kernel files (rt_gemm.c,
 * rt_conv.c, rt_pool.c). Private to the runtime: not for generated code.
 *
 * Functions compiled for an instruction set carry its target attribute
 * (AVX2, AVX512) and run only after rt_kernels_isa() said the CPU has it;
 * everything else in the runtime is built for baseline x86-64.
 *
 * AVX2 has no cheap masked store (vmaskmovps stores are slow on AMD), so
 * partial vectors are stored in 4/2/1-element pieces; partial loads use
 * vmaskmovps, which is cheap and never touches the masked-out lanes. */
#ifndef NN_RT_SIMD_H
#define NN_RT_SIMD_H

#include <immintrin.h>
#include <stdint.h>

#define AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))
#define SIMD_INLINE static inline __attribute__((always_inline))

/* 32-bit lane masks: lanes [0, n) set, n in [0, 8] (read at 8 - n). */
__attribute__((unused)) static const int32_t rt_lane_mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

AVX2 SIMD_INLINE __m256i lanes8(int n) {
  return _mm256_loadu_si256((const __m256i *)(const void *)(rt_lane_mask_tab + 8 - n));
}
/* 64-bit lanes [0, n) set, n in [0, 4]. */
AVX2 SIMD_INLINE __m256i lanes4(int n) {
  return _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(const void *)(rt_lane_mask_tab + 8 - n)));
}

/* The first n (0..8) floats at s; the other lanes are 0. */
AVX2 SIMD_INLINE __m256 load8_part(const float *s, int n) {
  return n >= 8 ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, lanes8(n));
}
AVX2 SIMD_INLINE __m256d load4d_part(const double *s, int n) {
  return n >= 4 ? _mm256_loadu_pd(s) : _mm256_maskload_pd(s, lanes4(n));
}

/* Store lanes [0, n) of v at d (n in 0..8); nothing past d + n is written. */
AVX2 SIMD_INLINE void store8_part(float *d, __m256 v, int n) {
  if (n >= 8) {
    _mm256_storeu_ps(d, v);
    return;
  }
  __m128 h = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(d, h);
    d += 4, n -= 4;
    h = _mm256_extractf128_ps(v, 1);
  }
  if (n >= 2) {
    _mm_storel_pi((__m64 *)(void *)d, h);
    d += 2, n -= 2;
    h = _mm_movehl_ps(h, h);
  }
  if (n) _mm_store_ss(d, h);
}
AVX2 SIMD_INLINE void store4d_part(double *d, __m256d v, int n) {
  if (n >= 4) {
    _mm256_storeu_pd(d, v);
    return;
  }
  __m128d h = _mm256_castpd256_pd128(v);
  if (n >= 2) {
    _mm_storeu_pd(d, h);
    d += 2, n -= 2;
    h = _mm256_extractf128_pd(v, 1);
  }
  if (n) _mm_store_sd(d, h);
}

/* In-register transpose of an 8x8 float block: r[a][b] -> r[b][a]. */
AVX2 SIMD_INLINE void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 2; g++) { /* u[4g+c], 128-bit lane l: rows 4g..4g+3 at column 4l+c */
    u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

/* In-register transpose of a 4x4 double block. */
AVX2 SIMD_INLINE void transpose4d(__m256d r[4]) {
  __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
  r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
  r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
  r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

#endif
