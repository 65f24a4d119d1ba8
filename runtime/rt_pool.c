/* rt_pool.c — 2-D max and average pooling, NCHW, f32 and f64.
 *
 * Every function works plane by plane (one (n, c) image channel), planes
 * split across the pool; a plane's outputs never depend on another plane,
 * so the results are the same for any thread count.
 *
 * Max pooling either recomputes each window's argmax from x in the backward
 * and "pick" functions, or (the _tape variants, f32) records it in the
 * forward as one byte per window (the index inside the window, 255 for a
 * window of padding only) so that the backward reads a quarter-byte per
 * window instead of x: the compiler uses the tape when a function holds
 * both the pooling and its gradient. The argmax is the first
 * maximal element in row-major window order; a NaN beats any number, and
 * the first NaN stays. The common 2x2 stride-2 unpadded f32 case has its
 * own loops (same answers): AVX-512 and AVX2 vectors of 16 / 8 windows,
 * and a branch-free portable one; the rest goes through window bounds.
 *
 * The window loops are written once, in rt_pool_window.h, and included for
 * float and for double. */
#include "rt_kernels.h"
#include "rt_simd.h"

#include <math.h>
#include <string.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

nn_status rt_pool2d_shape_check(const rt_pool2d_shape *s) {
  if (!s) return rt_error(NN_ERR_NULL, "pool2d: shape is NULL");
  if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->KH < 1 || s->KW < 1 ||
      s->SH < 1 || s->SW < 1 || s->PH < 0 || s->PW < 0)
    return rt_error(NN_ERR_ARG, "pool2d: sizes must be >= 1 and padding >= 0");
  return rt_window2d_check("pool2d", "window", s->H, s->W, s->KH, s->KW, s->SH, s->SW, s->PH, s->PW, s->OH,
                           s->OW);
}

nn_status rt_window2d_check(const char *op, const char *what, int64_t H, int64_t W, int64_t KH, int64_t KW,
                            int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t OH, int64_t OW) {
  if (H + 2 * PH < KH || W + 2 * PW < KW)
    return rt_error(NN_ERR_ARG, "%s: %s %lldx%lld larger than padded input", op, what, (long long)KH,
                    (long long)KW);
  int64_t oh = (H + 2 * PH - KH) / SH + 1, ow = (W + 2 * PW - KW) / SW + 1;
  if (OH != oh || OW != ow)
    return rt_error(NN_ERR_ARG, "%s: output %lldx%lld, expected %lldx%lld", op, (long long)OH, (long long)OW,
                    (long long)oh, (long long)ow);
  return NN_OK;
}

/* The part of window (oh, ow) inside the input: rows [h0,h1), cols [w0,w1). */
typedef struct Window {
  int64_t h0, h1, w0, w1;
} Window;

static inline Window window_at(const rt_pool2d_shape *s, int64_t oh, int64_t ow) {
  int64_t ih = oh * s->SH - s->PH, iw = ow * s->SW - s->PW;
  Window w = {max64(ih, 0), min64(ih + s->KH, s->H), max64(iw, 0), min64(iw + s->KW, s->W)};
  return w;
}

static bool is_2x2_s2(const rt_pool2d_shape *s) {
  return s->KH == 2 && s->KW == 2 && s->SH == 2 && s->SW == 2 && s->PH == 0 && s->PW == 0;
}

typedef enum PoolOp {
  MAX_FORWARD, /* y = x[argmax] */
  MAX_BACKWARD, /* dx = 0; dx[argmax] += dy (aux = dy, out = dx) */
  MAX_PICK,    /* y = h[argmax] (aux = h) */
  AVG_FORWARD, /* y = sum / (KH*KW) */
  AVG_BACKWARD, /* dx = 0; dx[window] += dy / (KH*KW) (in = dy, out = dx) */
  MAX_FORWARD_TAPE, /* y = x[argmax], tape = argmax inside the window */
  MAX_BACKWARD_TAPE /* dx = 0; dx[tape] += dy (in = tape, aux = dy, out = dx) */
} PoolOp;

#define NO_ARGMAX 255 /* tape entry of a window that holds only padding */

typedef struct PoolJob {
  const rt_pool2d_shape *s;
  PoolOp op;
  const void *in, *aux;
  void *out;
  uint8_t *tape; /* MAX_FORWARD_TAPE */
} PoolJob;

/* ---- any window, f32 and f64 ------------------------------------------------ */

#define POOL_T float
#define POOL_SUF f32
#include "rt_pool_window.h"
#define POOL_T double
#define POOL_SUF f64
#include "rt_pool_window.h"

/* ---- f32, 2x2 stride 2 ------------------------------------------------------- */

/* Does v replace best as the running max (first max wins, NaN beats numbers)? */
static inline bool takes_f32(float v, float best) {
  return (v > best) | ((v != v) & (best == best)); /* no branches: vectorizes */
}

/* Index (0..3, order a b / c d) and value of the max of the window whose
 * rows start at r0 and r1, by the argmax_f32 rule. */
static inline int argmax2x2_f32(const float *r0, const float *r1, float *max) {
  float m = r0[0], v = r0[1];
  int k = 0;
  if (takes_f32(v, m)) m = v, k = 1;
  v = r1[0];
  if (takes_f32(v, m)) m = v, k = 2;
  v = r1[1];
  if (takes_f32(v, m)) m = v, k = 3;
  *max = m;
  return k;
}

/* Writes the window's four dx: g at index k, zero elsewhere. */
static inline void scatter2x2_f32(float *d0, float *d1, int k, float g) {
  d0[0] = k == 0 ? g : 0.0f;
  d0[1] = k == 1 ? g : 0.0f;
  d1[0] = k == 2 ? g : 0.0f;
  d1[1] = k == 3 ? g : 0.0f;
}

/* 2x2 stride 2 without padding, branch-free so that it vectorizes: the
 * window (a b / c d) is scanned a, b, c, d with the same rule as
 * argmax_f32. Backward writes all four dx of each window (windows tile the
 * plane), then zeroes the odd row/column no window covers. */
static void plane2x2_f32(const rt_pool2d_shape *s, PoolOp op, const float *in, const float *aux,
                         float *out, uint8_t *tape) {
  int64_t W = s->W, OW = s->OW;
  for (int64_t oh = 0; oh < s->OH; oh++) {
    const float *r0 = in + 2 * oh * W, *r1 = r0 + W;
    if (op == MAX_FORWARD_TAPE) {
      float *y = out + oh * OW;
      uint8_t *t = tape + oh * OW;
      for (int64_t ow = 0; ow < OW; ow++) {
        float m;
        t[ow] = (uint8_t)argmax2x2_f32(r0 + 2 * ow, r1 + 2 * ow, &m);
        y[ow] = m;
      }
    } else if (op == MAX_BACKWARD_TAPE) {
      const uint8_t *t = (const uint8_t *)in + oh * OW;
      const float *g = aux + oh * OW;
      float *d0 = out + 2 * oh * W, *d1 = d0 + W;
      for (int64_t ow = 0; ow < OW; ow++) scatter2x2_f32(d0 + 2 * ow, d1 + 2 * ow, t[ow], g[ow]);
      if (W > 2 * OW) d0[W - 1] = d1[W - 1] = 0.0f;
    } else if (op == MAX_FORWARD) {
      float *y = out + oh * OW;
      for (int64_t ow = 0; ow < OW; ow++) {
        float m = r0[2 * ow], v = r0[2 * ow + 1];
        m = takes_f32(v, m) ? v : m;
        v = r1[2 * ow];
        m = takes_f32(v, m) ? v : m;
        v = r1[2 * ow + 1];
        y[ow] = takes_f32(v, m) ? v : m;
      }
    } else if (op == MAX_PICK) {
      const float *h0 = aux + 2 * oh * W, *h1 = h0 + W;
      float *y = out + oh * OW;
      for (int64_t ow = 0; ow < OW; ow++) {
        float m = r0[2 * ow], h = h0[2 * ow], v = r0[2 * ow + 1];
        bool t = takes_f32(v, m);
        m = t ? v : m, h = t ? h0[2 * ow + 1] : h;
        v = r1[2 * ow], t = takes_f32(v, m);
        m = t ? v : m, h = t ? h1[2 * ow] : h;
        v = r1[2 * ow + 1], t = takes_f32(v, m);
        y[ow] = t ? h1[2 * ow + 1] : h;
      }
    } else { /* MAX_BACKWARD: aux = dy, out = dx */
      const float *g = aux + oh * OW;
      float *d0 = out + 2 * oh * W, *d1 = d0 + W;
      for (int64_t ow = 0; ow < OW; ow++) {
        float m;
        scatter2x2_f32(d0 + 2 * ow, d1 + 2 * ow, argmax2x2_f32(r0 + 2 * ow, r1 + 2 * ow, &m), g[ow]);
      }
      if (W > 2 * OW) d0[W - 1] = d1[W - 1] = 0.0f; /* odd width: last column */
    }
  }
  if ((op == MAX_BACKWARD || op == MAX_BACKWARD_TAPE) && s->H > 2 * s->OH) /* odd height: last row */
    memset(out + (s->H - 1) * W, 0, (size_t)W * sizeof(float));
}

#if RT_X86
/* The same 2x2 ops with AVX-512, 16 windows per step: even/odd
 * columns are split with a two-source permute, the scan is done with mask
 * compares, backward interleaves the four outputs back. */
AVX512 static inline __mmask16 takes16(__m512 v, __m512 m) {
  __mmask16 gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
  __mmask16 vnan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  __mmask16 mnum = _mm512_cmp_ps_mask(m, m, _CMP_ORD_Q);
  return gt | (vnan & mnum);
}

/* Backward of 16 windows: dy g goes to the window position whose mask
 * k[0..3] (order a b / c d) is set, zero to the others; d0 is the top row
 * of the first window, W the row stride, ma/mb the column masks. */
AVX512 static inline void scatter16(float *d0, int64_t W, __mmask16 ma, __mmask16 mb,
                                    const __mmask16 k[4], __m512 g) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  __m512 z = _mm512_setzero_ps();
  __m512 ga = _mm512_mask_mov_ps(z, k[0], g), gb = _mm512_mask_mov_ps(z, k[1], g);
  __m512 gc = _mm512_mask_mov_ps(z, k[2], g), gd = _mm512_mask_mov_ps(z, k[3], g);
  float *d1 = d0 + W;
  _mm512_mask_storeu_ps(d0, ma, _mm512_permutex2var_ps(ga, lo, gb));
  _mm512_mask_storeu_ps(d0 + 16, mb, _mm512_permutex2var_ps(ga, hi, gb));
  _mm512_mask_storeu_ps(d1, ma, _mm512_permutex2var_ps(gc, lo, gd));
  _mm512_mask_storeu_ps(d1 + 16, mb, _mm512_permutex2var_ps(gc, hi, gd));
}

/* fn(s, op, ...): body(s, op, ...) compiled once per op it is called with
 * most (the op known inside its loops: no per-window branches on it, and
 * registers for the values that op uses). */
#define PLANE2X2_BY_OP(attr, fn, body)                                                                  \
  attr static void fn(const rt_pool2d_shape *s, PoolOp op, const float *in, const float *aux, float *out, \
                      uint8_t *tape) {                                                                   \
    switch (op) {                                                                                        \
    case MAX_FORWARD: body(s, MAX_FORWARD, in, aux, out, tape); break;                                   \
    case MAX_FORWARD_TAPE: body(s, MAX_FORWARD_TAPE, in, aux, out, tape); break;                         \
    case MAX_BACKWARD_TAPE: body(s, MAX_BACKWARD_TAPE, in, aux, out, tape); break;                       \
    default: body(s, op, in, aux, out, tape); break;                                                     \
    }                                                                                                    \
  }

AVX512 SIMD_INLINE void plane2x2_f32_avx512_op(const rt_pool2d_shape *s, PoolOp op, const float *in,
                                            const float *aux, float *out, uint8_t *tape) {
  int64_t W = s->W, OW = s->OW;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t oh = 0; oh < s->OH; oh++) {
    const float *r0 = in + 2 * oh * W, *r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      int64_t n = OW - ow < 16 ? OW - ow : 16; /* windows this step */
      __mmask16 m1 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1); /* one per window */
      /* 2n input columns: first 16 in mask a, rest in mask b */
      __mmask16 ma = 2 * n >= 16 ? 0xffff : (__mmask16)((1u << (2 * n)) - 1);
      __mmask16 mb = 2 * n > 16 ? (__mmask16)((1u << (2 * n - 16)) - 1) : 0;
      if (2 * n >= 32) mb = 0xffff;
      if (op == MAX_BACKWARD_TAPE) { /* the winner k of each window from the tape */
        __m512i k = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m1, (const uint8_t *)in + oh * OW + ow));
        __mmask16 ka = _mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(0));
        __mmask16 kb = _mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(1));
        __mmask16 kc = _mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(2));
        __mmask16 kd = _mm512_cmpeq_epi32_mask(k, _mm512_set1_epi32(3));
        __m512 g = _mm512_maskz_loadu_ps(m1, aux + oh * OW + ow);
        scatter16(out + 2 * oh * W + 2 * ow, W, ma, mb, (__mmask16[4]){ka, kb, kc, kd}, g);
        continue;
      }
      const float *p0 = r0 + 2 * ow, *p1 = r1 + 2 * ow;
      __m512 x0a = _mm512_maskz_loadu_ps(ma, p0), x0b = _mm512_maskz_loadu_ps(mb, p0 + 16);
      __m512 x1a = _mm512_maskz_loadu_ps(ma, p1), x1b = _mm512_maskz_loadu_ps(mb, p1 + 16);
      __m512 a = _mm512_permutex2var_ps(x0a, even, x0b), b = _mm512_permutex2var_ps(x0a, odd, x0b);
      __m512 c = _mm512_permutex2var_ps(x1a, even, x1b), d = _mm512_permutex2var_ps(x1a, odd, x1b);
      __mmask16 tb = takes16(b, a);
      __m512 m = _mm512_mask_mov_ps(a, tb, b);
      __mmask16 tc = takes16(c, m);
      m = _mm512_mask_mov_ps(m, tc, c);
      __mmask16 td = takes16(d, m);
      if (op == MAX_FORWARD) {
        _mm512_mask_storeu_ps(out + oh * OW + ow, m1, _mm512_mask_mov_ps(m, td, d));
      } else if (op == MAX_FORWARD_TAPE) {
        _mm512_mask_storeu_ps(out + oh * OW + ow, m1, _mm512_mask_mov_ps(m, td, d));
        __m512i k = _mm512_setzero_si512(); /* the last taker wins */
        k = _mm512_mask_mov_epi32(k, tb, _mm512_set1_epi32(1));
        k = _mm512_mask_mov_epi32(k, tc, _mm512_set1_epi32(2));
        k = _mm512_mask_mov_epi32(k, td, _mm512_set1_epi32(3));
        _mm512_mask_cvtepi32_storeu_epi8(tape + oh * OW + ow, m1, k);
      } else if (op == MAX_PICK) {
        const float *h0 = aux + 2 * oh * W + 2 * ow, *h1 = h0 + W;
        __m512 h0a = _mm512_maskz_loadu_ps(ma, h0), h0b = _mm512_maskz_loadu_ps(mb, h0 + 16);
        __m512 h1a = _mm512_maskz_loadu_ps(ma, h1), h1b = _mm512_maskz_loadu_ps(mb, h1 + 16);
        __m512 h = _mm512_permutex2var_ps(h0a, even, h0b);
        h = _mm512_mask_mov_ps(h, tb, _mm512_permutex2var_ps(h0a, odd, h0b));
        h = _mm512_mask_mov_ps(h, tc, _mm512_permutex2var_ps(h1a, even, h1b));
        h = _mm512_mask_mov_ps(h, td, _mm512_permutex2var_ps(h1a, odd, h1b));
        _mm512_mask_storeu_ps(out + oh * OW + ow, m1, h);
      } else { /* MAX_BACKWARD: the winner of each window is the last taker */
        __m512 g = _mm512_maskz_loadu_ps(m1, aux + oh * OW + ow);
        __mmask16 kd = td, kc = tc & ~td, kb = tb & ~tc & ~td, ka = ~(tb | tc | td);
        scatter16(out + 2 * oh * W + 2 * ow, W, ma, mb, (__mmask16[4]){ka, kb, kc, kd}, g);
      }
    }
    if ((op == MAX_BACKWARD || op == MAX_BACKWARD_TAPE) && W > 2 * OW) /* odd width: last column */
      out[2 * oh * W + W - 1] = out[(2 * oh + 1) * W + W - 1] = 0.0f;
  }
  if ((op == MAX_BACKWARD || op == MAX_BACKWARD_TAPE) && s->H > 2 * s->OH) /* odd height: last row */
    memset(out + (s->H - 1) * W, 0, (size_t)W * sizeof(float));
}

PLANE2X2_BY_OP(AVX512, plane2x2_f32_avx512, plane2x2_f32_avx512_op)

/* The same 2x2 ops with AVX2, 8 windows per step (the last step of a row
 * takes what is left: partial loads and stores). Even/odd columns are
 * split with a shuffle and a 64-bit permute, the scan uses compare masks
 * and blends, backward interleaves the four outputs back. */
AVX2 static inline __m256 takes8(__m256 v, __m256 m) {
  __m256 gt = _mm256_cmp_ps(v, m, _CMP_GT_OQ);
  __m256 vnan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q), mnum = _mm256_cmp_ps(m, m, _CMP_ORD_Q);
  return _mm256_or_ps(gt, _mm256_and_ps(vnan, mnum));
}

/* Elements 0, 2, .. 14 (odd: 1, 3, .. 15) of the 16 in u:v, in order. */
AVX2 static inline __m256 even8(__m256 u, __m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(u, v, 0x88)), 0xd8));
}
AVX2 static inline __m256 odd8(__m256 u, __m256 v) {
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(u, v, 0xdd)), 0xd8));
}

/* Backward of n <= 8 windows: g to the position whose mask k[0..3] (order
 * a b / c d) is set, zero to the others; d0 is the top row of the first
 * window, W the row stride. */
AVX2 static inline void scatter8(float *d0, int64_t W, int n, const __m256 k[4], __m256 g) {
  __m256 ga = _mm256_and_ps(k[0], g), gb = _mm256_and_ps(k[1], g);
  __m256 gc = _mm256_and_ps(k[2], g), gd = _mm256_and_ps(k[3], g);
  __m256 lo = _mm256_unpacklo_ps(ga, gb), hi = _mm256_unpackhi_ps(ga, gb);
  int n0 = 2 * n < 8 ? 2 * n : 8, n1 = 2 * n - n0;
  store8_part(d0, _mm256_permute2f128_ps(lo, hi, 0x20), n0);
  store8_part(d0 + 8, _mm256_permute2f128_ps(lo, hi, 0x31), n1);
  lo = _mm256_unpacklo_ps(gc, gd), hi = _mm256_unpackhi_ps(gc, gd);
  store8_part(d0 + W, _mm256_permute2f128_ps(lo, hi, 0x20), n0);
  store8_part(d0 + W + 8, _mm256_permute2f128_ps(lo, hi, 0x31), n1);
}

/* The n (1..8) tape bytes at t in the low lanes, the rest 0; and the low
 * n bytes of v stored at t. Eight at a time when n is 8, else byte by byte
 * through a register: a libc memcpy into a stack buffer then read back as
 * one 8-byte load stalled on store forwarding (a quarter of the CNN's
 * pooled-gradient time under AVX2). */
static inline __m128i tape_bytes8(const uint8_t *t, int n) {
  uint64_t v = 0;
  if (n >= 8) memcpy(&v, t, 8);
  else
    for (int i = 0; i < n; i++) v |= (uint64_t)t[i] << (8 * i);
  return _mm_cvtsi64_si128((long long)v);
}

static inline void put_tape_bytes8(uint8_t *t, uint64_t v, int n) {
  if (n >= 8) memcpy(t, &v, 8);
  else
    for (int i = 0; i < n; i++) t[i] = (uint8_t)(v >> (8 * i));
}

AVX2 SIMD_INLINE void plane2x2_f32_avx2_op(const rt_pool2d_shape *s, PoolOp op, const float *in,
                                        const float *aux, float *out, uint8_t *tape) {
  int64_t W = s->W, OW = s->OW;
  const __m256 one = _mm256_castsi256_ps(_mm256_set1_epi32(1));
  const __m256 two = _mm256_castsi256_ps(_mm256_set1_epi32(2));
  const __m256 three = _mm256_castsi256_ps(_mm256_set1_epi32(3));
  for (int64_t oh = 0; oh < s->OH; oh++) {
    const float *r0 = in + 2 * oh * W, *r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ow += 8) {
      int n = OW - ow < 8 ? (int)(OW - ow) : 8; /* windows this step */
      int n0 = 2 * n < 8 ? 2 * n : 8, n1 = 2 * n - n0; /* input columns in each half */
      if (op == MAX_BACKWARD_TAPE) { /* the winner k of each window from the tape */
        __m256i k = _mm256_cvtepu8_epi32(tape_bytes8((const uint8_t *)in + oh * OW + ow, n));
        __m256 kk[4];
        for (int i = 0; i < 4; i++) kk[i] = _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(i)));
        scatter8(out + 2 * oh * W + 2 * ow, W, n, kk, load8_part(aux + oh * OW + ow, n));
        continue;
      }
      const float *p0 = r0 + 2 * ow, *p1 = r1 + 2 * ow;
      __m256 x0a = load8_part(p0, n0), x0b = load8_part(p0 + 8, n1);
      __m256 x1a = load8_part(p1, n0), x1b = load8_part(p1 + 8, n1);
      __m256 a = even8(x0a, x0b), b = odd8(x0a, x0b), c = even8(x1a, x1b), d = odd8(x1a, x1b);
      __m256 tb = takes8(b, a);
      __m256 m = _mm256_blendv_ps(a, b, tb);
      __m256 tc = takes8(c, m);
      m = _mm256_blendv_ps(m, c, tc);
      __m256 td = takes8(d, m);
      if (op == MAX_FORWARD) {
        store8_part(out + oh * OW + ow, _mm256_blendv_ps(m, d, td), n);
      } else if (op == MAX_FORWARD_TAPE) {
        store8_part(out + oh * OW + ow, _mm256_blendv_ps(m, d, td), n);
        __m256 k = _mm256_and_ps(tb, one); /* the last taker wins */
        k = _mm256_blendv_ps(k, two, tc);
        k = _mm256_blendv_ps(k, three, td);
        __m256i k16 = _mm256_packus_epi32(_mm256_castps_si256(k), _mm256_castps_si256(k));
        __m256i k8 = _mm256_packus_epi16(k16, k16); /* bytes 0-3 of each 128-bit lane */
        uint64_t lo = (uint32_t)_mm256_cvtsi256_si32(k8);
        uint64_t hi = (uint32_t)_mm_cvtsi128_si32(_mm256_extracti128_si256(k8, 1));
        put_tape_bytes8(tape + oh * OW + ow, lo | hi << 32, n);
      } else if (op == MAX_PICK) {
        const float *h0 = aux + 2 * oh * W + 2 * ow, *h1 = h0 + W;
        __m256 h0a = load8_part(h0, n0), h0b = load8_part(h0 + 8, n1);
        __m256 h1a = load8_part(h1, n0), h1b = load8_part(h1 + 8, n1);
        __m256 h = even8(h0a, h0b);
        h = _mm256_blendv_ps(h, odd8(h0a, h0b), tb);
        h = _mm256_blendv_ps(h, even8(h1a, h1b), tc);
        h = _mm256_blendv_ps(h, odd8(h1a, h1b), td);
        store8_part(out + oh * OW + ow, h, n);
      } else { /* MAX_BACKWARD: the winner of each window is the last taker */
        __m256 kd = td, kc = _mm256_andnot_ps(td, tc), kb = _mm256_andnot_ps(_mm256_or_ps(tc, td), tb);
        __m256 ka = _mm256_andnot_ps(_mm256_or_ps(tb, _mm256_or_ps(tc, td)), _mm256_castsi256_ps(_mm256_set1_epi32(-1)));
        scatter8(out + 2 * oh * W + 2 * ow, W, n, (__m256[4]){ka, kb, kc, kd}, load8_part(aux + oh * OW + ow, n));
      }
    }
    if ((op == MAX_BACKWARD || op == MAX_BACKWARD_TAPE) && W > 2 * OW) /* odd width: last column */
      out[2 * oh * W + W - 1] = out[(2 * oh + 1) * W + W - 1] = 0.0f;
  }
  if ((op == MAX_BACKWARD || op == MAX_BACKWARD_TAPE) && s->H > 2 * s->OH) /* odd height: last row */
    memset(out + (s->H - 1) * W, 0, (size_t)W * sizeof(float));
}

PLANE2X2_BY_OP(AVX2, plane2x2_f32_avx2, plane2x2_f32_avx2_op)
#endif /* RT_X86 */

static void plane_f32(const rt_pool2d_shape *s, PoolOp op, const float *in, const float *aux,
                      float *out, uint8_t *tape);

void rt_maxpool2d_backward_tape_plane(const rt_pool2d_shape *s, const uint8_t *tape,
                                      const float *dy, float *dx) {
  plane_f32(s, MAX_BACKWARD_TAPE, (const float *)tape, dy, dx, NULL);
}

static void plane_f32(const rt_pool2d_shape *s, PoolOp op, const float *in, const float *aux,
                      float *out, uint8_t *tape) {
  if (is_2x2_s2(s) && op != AVG_FORWARD && op != AVG_BACKWARD) {
#if RT_X86
    rt_isa isa = rt_kernels_isa();
    if (isa == RT_ISA_AVX512) {
      plane2x2_f32_avx512(s, op, in, aux, out, tape);
      return;
    }
    if (isa == RT_ISA_AVX2) {
      plane2x2_f32_avx2(s, op, in, aux, out, tape);
      return;
    }
#endif
    plane2x2_f32(s, op, in, aux, out, tape);
    return;
  }
  window_plane_f32(s, op, in, aux, out, tape);
}

static void plane_f64(const rt_pool2d_shape *s, PoolOp op, const double *in, const double *aux,
                      double *out) {
  window_plane_f64(s, op, in, aux, out, NULL); /* the tape variants are f32 only */
}

/* ---- driver ------------------------------------------------------------------ */

/* Element counts per plane of the op's in / aux / out tensors. */
static void plane_sizes(const PoolJob *j, int64_t *in, int64_t *aux, int64_t *out) {
  int64_t hw = j->s->H * j->s->W, o = j->s->OH * j->s->OW;
  *in = *aux = *out = 0;
  switch (j->op) {
  case MAX_FORWARD: *in = hw, *aux = 0, *out = o; break;
  case MAX_BACKWARD: *in = hw, *aux = o, *out = hw; break;
  case MAX_PICK: *in = hw, *aux = hw, *out = o; break;
  case AVG_FORWARD: *in = hw, *aux = 0, *out = o; break;
  case AVG_BACKWARD: *in = o, *aux = 0, *out = hw; break;
  case MAX_FORWARD_TAPE: *in = hw, *aux = 0, *out = o; break;
  case MAX_BACKWARD_TAPE: *in = o, *aux = o, *out = hw; break; /* in: bytes */
  }
}

/* Plane `pl` of the job's input: floats, or the tape's bytes. */
static const float *plane_in(const PoolJob *j, int64_t pl, int64_t n) {
  if (j->op == MAX_BACKWARD_TAPE) return (const float *)(const void *)((const uint8_t *)j->in + pl * n);
  return (const float *)j->in + pl * n;
}

static void pool_task_f32(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  const PoolJob *j = ctx;
  int64_t ni, na, no;
  plane_sizes(j, &ni, &na, &no);
  const rt_pool2d_shape *s = j->s;
  if (is_2x2_s2(s) && s->H % 2 == 0 && s->W % 2 == 0 && j->op != AVG_FORWARD &&
      j->op != AVG_BACKWARD) {
    /* Windows tile each plane exactly, so planes [begin,end) stacked are
     * one tall plane: one call instead of one per small plane. */
    rt_pool2d_shape tall = *s;
    tall.H = s->H * (end - begin), tall.OH = s->OH * (end - begin);
    plane_f32(&tall, j->op, plane_in(j, begin, ni), j->aux ? (const float *)j->aux + begin * na : NULL,
              (float *)j->out + begin * no, j->tape ? j->tape + begin * no : NULL);
    return;
  }
  for (int64_t pl = begin; pl < end; pl++)
    plane_f32(s, j->op, plane_in(j, pl, ni), j->aux ? (const float *)j->aux + pl * na : NULL,
              (float *)j->out + pl * no, j->tape ? j->tape + pl * no : NULL);
}

static void pool_task_f64(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  const PoolJob *j = ctx;
  int64_t ni, na, no;
  plane_sizes(j, &ni, &na, &no);
  for (int64_t pl = begin; pl < end; pl++)
    plane_f64(j->s, j->op, (const double *)j->in + pl * ni,
              j->aux ? (const double *)j->aux + pl * na : NULL, (double *)j->out + pl * no);
}

static void run_tape(rt_pool *p, const rt_pool2d_shape *s, PoolOp op, const void *in,
                     const void *aux, void *out, uint8_t *tape, bool f64) {
  PoolJob j = {s, op, in, aux, out, tape};
  /* at least ~32K window elements per chunk, so small layers stay serial */
  int64_t per_plane = s->OH * s->OW * s->KH * s->KW + s->H * s->W;
  int64_t grain = max64(1, 32768 / max64(per_plane, 1));
  rt_parallel_for(p, s->N * s->C, grain, f64 ? pool_task_f64 : pool_task_f32, &j);
}

static void run(rt_pool *p, const rt_pool2d_shape *s, PoolOp op, const void *in,
                const void *aux, void *out, bool f64) {
  run_tape(p, s, op, in, aux, out, NULL, f64);
}

void rt_maxpool2d_forward_tape(rt_pool *p, const rt_pool2d_shape *s, const float *x, float *y,
                               uint8_t *tape) {
  run_tape(p, s, MAX_FORWARD_TAPE, x, NULL, y, tape, false);
}
void rt_maxpool2d_backward_tape(rt_pool *p, const rt_pool2d_shape *s, const uint8_t *tape,
                                const float *dy, float *dx) {
  run_tape(p, s, MAX_BACKWARD_TAPE, tape, dy, dx, NULL, false);
}
void rt_maxpool2d_forward(rt_pool *p, const rt_pool2d_shape *s, const float *x, float *y) {
  run(p, s, MAX_FORWARD, x, NULL, y, false);
}
void rt_maxpool2d_backward(rt_pool *p, const rt_pool2d_shape *s, const float *x,
                           const float *dy, float *dx) {
  run(p, s, MAX_BACKWARD, x, dy, dx, false);
}
void rt_maxpool2d_pick(rt_pool *p, const rt_pool2d_shape *s, const float *x, const float *h,
                       float *y) {
  run(p, s, MAX_PICK, x, h, y, false);
}
void rt_avgpool2d_forward(rt_pool *p, const rt_pool2d_shape *s, const float *x, float *y) {
  run(p, s, AVG_FORWARD, x, NULL, y, false);
}
void rt_avgpool2d_backward(rt_pool *p, const rt_pool2d_shape *s, const float *dy, float *dx) {
  run(p, s, AVG_BACKWARD, dy, NULL, dx, false);
}
void rt_maxpool2d_forward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x,
                              double *y) {
  run(p, s, MAX_FORWARD, x, NULL, y, true);
}
void rt_maxpool2d_backward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x,
                               const double *dy, double *dx) {
  run(p, s, MAX_BACKWARD, x, dy, dx, true);
}
void rt_maxpool2d_pick_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x,
                           const double *h, double *y) {
  run(p, s, MAX_PICK, x, h, y, true);
}
void rt_avgpool2d_forward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x,
                              double *y) {
  run(p, s, AVG_FORWARD, x, NULL, y, true);
}
void rt_avgpool2d_backward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *dy,
                               double *dx) {
  run(p, s, AVG_BACKWARD, dy, NULL, dx, true);
}
