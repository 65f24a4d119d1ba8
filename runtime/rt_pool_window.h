/* rt_pool_window.h — the window loops of one pooling plane, for one element
 * type. rt_pool.c includes it once per type, after defining POOL_T (float
 * or double) and POOL_SUF (f32 or f64); it defines
 *
 *   argmax_SUF(s, x, w)                      index of the window's argmax
 *   window_plane_SUF(s, op, in, aux, out, tape)   one plane of op
 *
 * and undefines both macros. Not a public header: it relies on rt_pool.c's
 * Window, window_at, PoolOp and NO_ARGMAX. */
#if !defined(POOL_T) || !defined(POOL_SUF)
#error "define POOL_T and POOL_SUF before including rt_pool_window.h"
#endif

#define POOL_CAT_(a, b) a##_##b
#define POOL_CAT(a, b) POOL_CAT_(a, b)

/* Index (in the plane) of the window's argmax, -1 if it has no element. */
static inline int64_t POOL_CAT(argmax, POOL_SUF)(const rt_pool2d_shape *s, const POOL_T *x, Window w) {
  int64_t best_i = -1;
  POOL_T best = 0;
  for (int64_t h = w.h0; h < w.h1; h++)
    for (int64_t c = w.w0; c < w.w1; c++) {
      POOL_T v = x[h * s->W + c];
      if (best_i < 0 || v > best || (isnan(v) && !isnan(best))) {
        best = v;
        best_i = h * s->W + c;
      }
    }
  return best_i;
}

/* op over one plane through each window's bounds (any shape, padding and
 * stride). The _TAPE ops read or write tape bytes (in is the tape for
 * MAX_BACKWARD_TAPE). */
static void POOL_CAT(window_plane, POOL_SUF)(const rt_pool2d_shape *s, PoolOp op, const POOL_T *in,
                                             const POOL_T *aux, POOL_T *out, uint8_t *tape) {
  int64_t HW = s->H * s->W;
  POOL_T inv = (POOL_T)1 / (POOL_T)(s->KH * s->KW);
  if (op == MAX_BACKWARD || op == AVG_BACKWARD || op == MAX_BACKWARD_TAPE)
    memset(out, 0, (size_t)HW * sizeof(POOL_T));
  for (int64_t oh = 0; oh < s->OH; oh++)
    for (int64_t ow = 0; ow < s->OW; ow++) {
      int64_t o = oh * s->OW + ow;
      Window w = window_at(s, oh, ow);
      switch (op) {
      case MAX_FORWARD: {
        int64_t i = POOL_CAT(argmax, POOL_SUF)(s, in, w);
        out[o] = i < 0 ? (POOL_T)-INFINITY : in[i];
        break;
      }
      case MAX_BACKWARD: {
        int64_t i = POOL_CAT(argmax, POOL_SUF)(s, in, w);
        if (i >= 0) out[i] += aux[o];
        break;
      }
      case MAX_FORWARD_TAPE: {
        int64_t i = POOL_CAT(argmax, POOL_SUF)(s, in, w);
        out[o] = i < 0 ? (POOL_T)-INFINITY : in[i];
        int64_t ih = oh * s->SH - s->PH, iw = ow * s->SW - s->PW;
        tape[o] = i < 0 ? NO_ARGMAX : (uint8_t)((i / s->W - ih) * s->KW + (i % s->W - iw));
        break;
      }
      case MAX_BACKWARD_TAPE: {
        int k = ((const uint8_t *)in)[o];
        if (k == NO_ARGMAX) break;
        int64_t h = oh * s->SH - s->PH + k / s->KW, c = ow * s->SW - s->PW + k % s->KW;
        out[h * s->W + c] += aux[o];
        break;
      }
      case MAX_PICK: {
        int64_t i = POOL_CAT(argmax, POOL_SUF)(s, in, w);
        out[o] = i < 0 ? (POOL_T)0 : aux[i];
        break;
      }
      case AVG_FORWARD: {
        POOL_T sum = 0;
        for (int64_t h = w.h0; h < w.h1; h++)
          for (int64_t c = w.w0; c < w.w1; c++) sum += in[h * s->W + c];
        out[o] = sum * inv;
        break;
      }
      case AVG_BACKWARD: {
        POOL_T g = in[o] * inv;
        for (int64_t h = w.h0; h < w.h1; h++)
          for (int64_t c = w.w0; c < w.w1; c++) out[h * s->W + c] += g;
        break;
      }
      }
    }
}

#undef POOL_CAT
#undef POOL_CAT_
#undef POOL_T
#undef POOL_SUF
