/* rt_conv.c — 2-D convolution (NCHW), forward, backward data and backward
 * filter, f32 and f64, all as GEMM on the micro-kernels of rt_gemm.c.
 *
 * Notation: taps r = (c, kh, kw), CKK = C*KH*KW of them; w is W[O][CKK];
 * col[r][q] is the input element tap r sees at output pixel q.
 *
 *   forward          y[n]  = W . col[n]
 *   backward data    dx[n] = col2im(W^T . dy[n])
 *   backward filter  dw    = sum over n of dy[n] . col[n]^T
 *
 * No path builds col whole. Five strategies, chosen per call by shape and
 * by what the arch offers (forward_path etc. at the end of the file; the
 * tests ask rt_conv2d_path which one a shape takes):
 *
 * 1. Row kernel (stride 1, archs with row_kernel: AVX-512 and AVX2 f32).
 *    The image is copied once into a zero-padded plane; a tile is one
 *    output row segment x one panel of output channels (AVX-512: <= 14
 *    pixels broadcast x 32 channels in vectors, transposed in registers
 *    into NCHW; AVX2: <= 16 pixels in vectors x 16 channels broadcast),
 *    read straight from the padded plane through the tap offsets, B = W^T
 *    packed once per call, all of K in registers. Backward data at stride
 *    1 is the same thing: a convolution of dy padded by K-1-P with
 *    flipped, transposed weights.
 * 2. Wide columns (stride 1, other archs). Output pixel (y, x) becomes
 *    column y*wp + x of the padded plane, so each row of col is a slice
 *    of it and the ordinary packers read it through the tap offsets; the
 *    wp - OW junk columns per row are computed and dropped at store time.
 *    Also backward filter when C is small (taps x O orientation, dy
 *    spread to the wide layout with zeros in the junk columns).
 * 3. Channels last (backward filter, C >= 16, any stride). Each image is
 *    transposed so a pixel's channels are contiguous; then each tap is one
 *    GEMM dw_tap[O][C] += dy[O][pixels] . x_tap[pixels][C], B read in place
 *    (AVX-512, AVX2) or packed through pixel offsets. Images are summed in fixed
 *    groups (filter_groups) into scratch, groups added in order at the end.
 * 4. Few taps (backward filter, small C, stride 1, f32 AVX-512 and AVX2):
 *    vectors along output rows, accumulators kept across the whole batch.
 * 5. Explicit column blocks (any stride, and images too large for a thread
 *    buffer): im2col into the work buffer, pack, multiply; col2im for
 *    backward data.
 *
 * Measured (AVX-512, one thread, CPU time, the CNN's conv2: batch 64,
 * 32->64 channels, 14x14, 3x3, forward): explicit im2col blocks + GEMM
 * 4.7 ms, wide columns 3.2 ms, row kernel 2.7 ms. The micro-kernel runs
 * near peak in all three; im2col, packing and junk columns make the gap.
 * With AVX2 (Zen 4, NNC_ISA=avx2) the row kernel took conv2's forward
 * from 6.3 ms (wide columns) to 5.4 ms and conv1's from 1.06 to 0.50 ms.
 *
 * Parallel split, never changing results: forward and backward data by
 * (image, part of its output); backward filter by image group and output
 * range (3), by tiles of taps x channels (4), or a grid over dw^T (2, 5),
 * every cell summing its images in order. Weights are packed once per call into the caller's scratch.
 *
 * The backward passes can also take dy as a max-pooling gradient (tape and
 * pooled dy, rt_conv2d_backward_*_pooled): the row, channels-last and
 * few-taps kernels expand each task's planes of dy right before reading
 * them, so the full-size dy is never written.
 *
 * Everything is written over untyped pointers and the element size `esz`;
 * the f64 entry points run the same code with the f64 arch. */
#include "rt_kernels.h"
#include "rt_simd.h"

#include <string.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

#define MAX_MR 12  /* the largest mr of any arch: sizes the shared packs */
#define MAX_NC 512 /* the largest nc of any arch: sizes the piece tables */
#define MAX_TILE_BYTES (12 * 32 * 4) /* the largest mr*nr*esz */

nn_status rt_conv2d_shape_check(const rt_conv2d_shape *s) {
  if (!s) return rt_error(NN_ERR_NULL, "conv2d: shape is NULL");
  if (s->N < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->O < 1 || s->KH < 1 ||
      s->KW < 1 || s->SH < 1 || s->SW < 1 || s->PH < 0 || s->PW < 0)
    return rt_error(NN_ERR_ARG, "conv2d: sizes must be >= 1 and padding >= 0");
  return rt_window2d_check("conv2d", "kernel", s->H, s->W, s->KH, s->KW, s->SH, s->SW, s->PH, s->PW, s->OH,
                           s->OW);
}

/* ---- scratch ---------------------------------------------------------------- */

/* Backward filter by image groups: each group of consecutive images sums
 * into its own dw (scratch), then the groups are added in order. The
 * grouping depends only on the shape, never on the thread count. */
#define MAX_GROUPS 8
#define GROUP_BYTES_CAP ((int64_t)32 << 20)
static int64_t filter_groups(const rt_conv2d_shape *s) {
  int64_t per = s->C * s->KH * s->KW * s->O * (int64_t)sizeof(double);
  int64_t g = min64(s->N, MAX_GROUPS);
  while (g > 1 && g * per > GROUP_BYTES_CAP) g--;
  return g;
}

/* Caller scratch = shared part (packed weights, dw^T or the group sums;
 * sized in f64 for both types) + offset table + one thread buffer for
 * serial runs. */
#define MAX_NR 32
static size_t shared_bytes(const rt_conv2d_shape *s) {
  int64_t ckk = s->C * s->KH * s->KW, okk = s->O * s->KH * s->KW;
  int64_t e = ceil_div(s->O, MAX_MR) * MAX_MR * ckk;        /* forward: W as A */
  e = max64(e, ceil_div(s->O, MAX_NR) * MAX_NR * ckk);     /* forward rows: W^T as B */
  e = max64(e, ceil_div(s->C, MAX_MR) * MAX_MR * okk);     /* stride-1 data: flipped W as A */
  e = max64(e, ceil_div(s->C, MAX_NR) * MAX_NR * okk);     /* data rows: flipped W^T as B */
  e = max64(e, ceil_div(ckk, MAX_MR) * MAX_MR * s->O);     /* col2im data: W^T as A */
  e = max64(e, filter_groups(s) * ckk * s->O);             /* filter: dw^T or group sums */
  return align64((size_t)e * sizeof(double));
}
static size_t offsets_bytes(const rt_conv2d_shape *s) {
  int64_t e = max64(max64(s->C, s->O) * s->KH * s->KW, s->OH * s->OW);
  return align64((size_t)e * sizeof(int64_t));
}

size_t rt_conv2d_scratch_bytes(const rt_conv2d_shape *s, int nthreads) {
  (void)nthreads;
  return shared_bytes(s) + offsets_bytes(s) + rt_thread_scratch_bytes();
}

/* A stride-1 convolution as a GEMM over a padded input: cin planes of h x w
 * are copied into hp x wp planes with (ph, pw) zeros around; output pixel
 * (y, x) is wide column q = y*wp + x, q in [0, nq); tap r = (c, i, j)
 * reads padded element q + off[r], off[r] = c*hp*wp + i*wp + j. Columns
 * with x >= ow are junk. The largest index read is cin*hp*wp - 1. */
typedef struct Wide {
  int64_t cin, h, w, ph, pw; /* input planes, their size, padding */
  int64_t hp, wp;            /* padded plane */
  int64_t kh, kw;            /* kernel */
  int64_t oh, ow, nq;        /* output plane, number of wide columns */
} Wide;

static Wide wide_make(int64_t cin, int64_t h, int64_t w, int64_t ph, int64_t pw, int64_t kh,
                      int64_t kw) {
  Wide d = {cin, h, w, ph, pw, h + 2 * ph, w + 2 * pw, kh, kw, 0, 0, 0};
  d.oh = d.hp - kh + 1, d.ow = d.wp - kw + 1;
  d.nq = (d.oh - 1) * d.wp + d.ow;
  return d;
}

/* One convolution call. */
typedef struct Conv {
  const rt_gemm_arch *ar;
  const rt_conv2d_shape *s;
  rt_pool *pool;
  size_t esz;
  int64_t ckk, ohw, kk;
  const char *in;     /* forward/filter: x; backward data: dy */
  const char *in2;    /* forward/data: w; filter: dy */
  char *out;          /* y, dx or dw */
  char *shared;       /* packed weights or dw^T */
  int64_t *off;       /* stride-1 paths: tap offsets into the padded input */
  char *fallback;     /* thread buffer for serial runs */
  int parts;          /* forward/data: parts per image */
  int tm, tn;         /* filter: grid over dw^T (tm: cells per group) */
  int64_t groups;     /* channels-last filter: image groups */
  Wide wd;            /* stride-1 paths: the padded input */
  int64_t cout;       /* stride-1 forward/data: output channels */
  const rt_pool2d_shape *ps; /* pooled filter gradient: dy = maxpool backward of */
  const uint8_t *tape;       /* the tape and */
  const float *dpool;        /* the pooled gradient (NULL: dy is in2) */
} Conv;

static Conv conv_make(rt_pool *p, const rt_conv2d_shape *s, const void *in, const void *in2,
                      void *out, void *scratch, int esz) {
  Conv cv = {.ar = rt_gemm_arch_get(esz), .s = s, .pool = p, .esz = (size_t)esz,
             .ckk = s->C * s->KH * s->KW, .ohw = s->OH * s->OW, .kk = s->KH * s->KW,
             .in = in, .in2 = in2, .out = out, .shared = scratch,
             .off = (int64_t *)((char *)scratch + shared_bytes(s)),
             .fallback = (char *)scratch + shared_bytes(s) + offsets_bytes(s)};
  return cv;
}

static void *thread_buffer(const Conv *cv, int ti) {
  void *b = rt_pool_thread_scratch(cv->pool, ti);
  return b ? b : cv->fallback;
}

/* dy of image n, output channels [o0, o1): where it lies in memory (dy),
 * or, for a pooled call, expanded from the tape and the pooled gradient
 * into buf. Returns the address of channel o0's plane. */
static const char *dy_planes(const Conv *cv, const char *dy, int64_t n, int64_t o0, int64_t o1, float *buf) {
  int64_t O = cv->s->O;
  if (!cv->dpool) return dy + (size_t)((n * O + o0) * cv->ohw) * cv->esz;
  int64_t pohw = cv->ps->OH * cv->ps->OW;
  for (int64_t o = o0; o < o1; o++)
    rt_maxpool2d_backward_tape_plane(cv->ps, cv->tape + (n * O + o) * pohw, cv->dpool + (n * O + o) * pohw,
                                     buf + (o - o0) * cv->ohw);
  return (const char *)buf;
}

static int64_t work_elems(const Conv *cv) {
  return (int64_t)(rt_gemm_work_bytes(cv->ar) / cv->esz);
}

/* ---- stride 1: padded input, wide columns --------------------------------------- */

static void wide_offsets(const Wide *d, int64_t *off) {
  for (int64_t c = 0; c < d->cin; c++)
    for (int64_t i = 0; i < d->kh; i++)
      for (int64_t j = 0; j < d->kw; j++)
        off[(c * d->kh + i) * d->kw + j] = c * d->hp * d->wp + i * d->wp + j;
}

/* The padded input in two steps: the zero border (once per task: every
 * image of a call has the same shape) and the interior rows (per image). */
static void pad_border(const Wide *d, void *dst, size_t esz) {
  char *o = dst;
  size_t row = (size_t)d->wp * esz, plane = (size_t)(d->hp * d->wp) * esz;
  size_t left = (size_t)d->pw * esz, right = (size_t)(d->wp - d->pw - d->w) * esz;
  for (int64_t c = 0; c < d->cin; c++, o += plane) {
    memset(o, 0, (size_t)d->ph * row);
    for (int64_t y = 0; y < d->h; y++) {
      char *r = o + (size_t)(d->ph + y) * row;
      memset(r, 0, left);
      memset(r + left + (size_t)d->w * esz, 0, right);
    }
    memset(o + (size_t)(d->ph + d->h) * row, 0, plane - (size_t)(d->ph + d->h) * row);
  }
}

#if RT_X86
AVX512 static void pad_interior_f32_avx512(const Wide *d, const float *src, float *dst) {
  for (int64_t c = 0; c < d->cin; c++) {
    float *o = dst + c * d->hp * d->wp + d->ph * d->wp + d->pw;
    for (int64_t y = 0; y < d->h; y++, src += d->w, o += d->wp)
      for (int64_t x = 0; x < d->w; x += 16) {
        __mmask16 m = (__mmask16)(d->w - x >= 16 ? 0xffff : (1u << (d->w - x)) - 1);
        _mm512_mask_storeu_ps(o + x, m, _mm512_maskz_loadu_ps(m, src + x));
      }
  }
}
#endif

/* Ask for `bytes` at p to be brought towards L2 (the next image's input,
 * while the current one computes: the kernels leave memory idle). */
static void prefetch_l2(const void *p, size_t bytes) {
  for (size_t i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i, 0, 2);
}

#if RT_X86
AVX2 static void pad_interior_f32_avx2(const Wide *d, const float *src, float *dst) {
  for (int64_t c = 0; c < d->cin; c++) {
    float *o = dst + c * d->hp * d->wp + d->ph * d->wp + d->pw;
    for (int64_t y = 0; y < d->h; y++, src += d->w, o += d->wp)
      for (int64_t x = 0; x < d->w; x += 8) {
        int n = (int)min64(8, d->w - x);
        store8_part(o + x, load8_part(src + x, n), n);
      }
  }
}
#endif

static void pad_interior(const Wide *d, const void *src, void *dst, size_t esz) {
#if RT_X86
  rt_isa isa = rt_kernels_isa();
  if (esz == 4 && isa == RT_ISA_AVX512) {
    pad_interior_f32_avx512(d, src, dst);
    return;
  }
  if (esz == 4 && isa == RT_ISA_AVX2) {
    pad_interior_f32_avx2(d, src, dst);
    return;
  }
#endif
  const char *s = src;
  size_t row = (size_t)d->w * esz;
  for (int64_t c = 0; c < d->cin; c++) {
    char *o = (char *)dst + (size_t)(c * d->hp * d->wp + d->ph * d->wp + d->pw) * esz;
    for (int64_t y = 0; y < d->h; y++, s += row, o += (size_t)d->wp * esz) memcpy(o, s, row);
  }
}

/* A run of real output pixels inside a tile: tile columns [t0, t0+len)
 * go to output plane offsets [dst, dst+len); len <= 16. */
typedef struct Piece {
  int32_t t0, len;
  int64_t dst;
} Piece;

/* The pieces of wide columns [q, q+n); returns how many (<= n). */
static int wide_pieces(const Wide *d, int64_t q, int n, Piece *pc) {
  int np = 0;
  int64_t y = q / d->wp, x = q % d->wp;
  for (int t = 0; t < n;) {
    int64_t len = x < d->ow ? min64(min64(n - t, d->ow - x), 16) : min64(n - t, d->wp - x);
    if (x < d->ow) pc[np++] = (Piece){t, (int32_t)len, y * d->ow + x};
    t += (int)len;
    x += len;
    if (x == d->wp) x = 0, y++;
  }
  return np;
}

/* out[i*plane + piece.dst ...] (+)= tile[i*ldt + piece.t0 ...] for rows i < m. */
static void scatter_generic(size_t esz, const void *tile, int ldt, int m, const Piece *pc,
                            int np, void *out, int64_t plane, bool acc) {
  for (int i = 0; i < m; i++)
    for (int k = 0; k < np; k++) {
      if (esz == 4) {
        const float *t = (const float *)tile + i * ldt + pc[k].t0;
        float *o = (float *)out + i * plane + pc[k].dst;
        for (int e = 0; e < pc[k].len; e++) o[e] = acc ? o[e] + t[e] : t[e];
      } else {
        const double *t = (const double *)tile + i * ldt + pc[k].t0;
        double *o = (double *)out + i * plane + pc[k].dst;
        for (int e = 0; e < pc[k].len; e++) o[e] = acc ? o[e] + t[e] : t[e];
      }
    }
}

#if RT_X86
AVX512 static void scatter_f32_avx512(const float *tile, int ldt, int m, const Piece *pc, int np,
                                      float *out, int64_t plane, bool acc) {
  for (int i = 0; i < m; i++)
    for (int k = 0; k < np; k++) {
      __mmask16 mk = (__mmask16)((1u << pc[k].len) - 1);
      float *o = out + i * plane + pc[k].dst;
      __m512 v = _mm512_maskz_loadu_ps(mk, tile + i * ldt + pc[k].t0);
      if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, o));
      _mm512_mask_storeu_ps(o, mk, v);
    }
}

AVX2 static void scatter_f32_avx2(const float *tile, int ldt, int m, const Piece *pc, int np,
                                  float *out, int64_t plane, bool acc) {
  for (int i = 0; i < m; i++)
    for (int k = 0; k < np; k++) {
      const float *t = tile + i * ldt + pc[k].t0;
      float *o = out + i * plane + pc[k].dst;
      for (int e = 0; e < pc[k].len; e += 8) {
        int n = pc[k].len - e < 8 ? pc[k].len - e : 8;
        __m256 v = load8_part(t + e, n);
        if (acc) v = _mm256_add_ps(v, load8_part(o + e, n));
        store8_part(o + e, v, n);
      }
    }
}
#endif

/* The tile-to-output copy of the wide-column paths for cv's arch. */
static void scatter(const Conv *cv, const void *tile, int ldt, int m, const Piece *pc, int np,
                    void *out, int64_t plane, bool acc) {
#if RT_X86
  if (cv->esz == 4 && cv->ar->isa == RT_ISA_AVX512) {
    scatter_f32_avx512(tile, ldt, m, pc, np, out, plane, acc);
    return;
  }
  if (cv->esz == 4 && cv->ar->isa == RT_ISA_AVX2) {
    scatter_f32_avx2(tile, ldt, m, pc, np, out, plane, acc);
    return;
  }
#endif
  scatter_generic(cv->esz, tile, ldt, m, pc, np, out, plane, acc);
}

/* Item = (image, part of the wide columns): pad the image, then for each
 * column block and depth block pack the implicit col and multiply with the
 * shared packed weights, tile by tile, storing the real pixels. */
static void s1_forward_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const Wide *d = &cv->wd;
  size_t esz = cv->esz;
  void *Ap, *Bp;
  char *xp;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, (void **)&xp);
  int64_t K = d->cin * d->kh * d->kw, kc = rt_gemm_kblock(ar, K);
  int64_t mpad = ceil_div(cv->cout, ar->mr) * ar->mr, opix = d->oh * d->ow;
  _Alignas(64) unsigned char tile[MAX_TILE_BYTES];
  Piece pieces[MAX_NC];
  int first[MAX_NC + 1]; /* pieces of panel p: [first[p], first[p+1]) */
  bool bordered = false;
  for (int64_t it = begin; it < end; it++) {
    int64_t n = it / cv->parts;
    int part = (int)(it % cv->parts);
    int64_t q0 = rt_split(d->nq, ar->ngran, cv->parts, part);
    int64_t q1 = rt_split(d->nq, ar->ngran, cv->parts, part + 1);
    if (q0 >= q1) continue;
    if (!bordered) pad_border(d, xp, esz), bordered = true; /* once: same shape for all */
    pad_interior(d, cv->in + (size_t)(n * d->cin * d->h * d->w) * esz, xp, esz);
    char *outn = cv->out + (size_t)(n * cv->cout * opix) * esz;
    for (int64_t jc = q0; jc < q1; jc += ar->nc) {
      int64_t nb = min64(ar->nc, q1 - jc);
      int npanel = 0;
      first[0] = 0;
      for (int64_t jr = 0; jr < nb; jr += ar->nr, npanel++)
        first[npanel + 1] = first[npanel] + wide_pieces(d, jc + jr, (int)min64(ar->nr, nb - jr),
                                                        pieces + first[npanel]);
      for (int64_t pc = 0; pc < K; pc += kc) {
        int64_t kb = min64(kc, K - pc);
        ar->pack(true, xp + (size_t)jc * esz, 0, cv->off + pc, nb, kb, ar->nr, Bp);
        const char *A = cv->shared + (size_t)(mpad * pc) * esz;
        for (int64_t ir = 0; ir < cv->cout; ir += ar->mr) {
          int m = (int)min64(ar->mr, cv->cout - ir);
          char *orow = outn + (size_t)(ir * opix) * esz;
          for (int p = 0; p < npanel; p++) {
            int64_t jr = (int64_t)p * ar->nr;
            ar->kernel(kb, A + (size_t)(ir * kb) * esz, (const char *)Bp + (size_t)(jr * kb) * esz,
                       tile, ar->nr, m, (int)min64(ar->nr, nb - jr), 1.0, 0.0);
            const Piece *pp = pieces + first[p];
            int np = first[p + 1] - first[p];
            scatter(cv, tile, ar->nr, m, pp, np, orow, opix, pc > 0);
          }
        }
      }
    }
  }
}

static void s1_run(Conv *cv, int64_t batch) {
  int T = rt_pool_size(cv->pool);
  cv->parts = batch >= T ? 1 : (int)min64(ceil_div(T, batch), ceil_div(cv->wd.nq, cv->ar->ngran));
  rt_parallel_for(cv->pool, batch * cv->parts, 1, s1_forward_task, cv);
}

/* Forward at stride 1: W[O][CKK] is A as it stands. */
static void s1_forward(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  const rt_gemm_arch *ar = cv->ar;
  cv->wd = wide_make(s->C, s->H, s->W, s->PH, s->PW, s->KH, s->KW);
  cv->cout = s->O;
  wide_offsets(&cv->wd, cv->off);
  int64_t kc = rt_gemm_kblock(ar, cv->ckk), mpad = ceil_div(s->O, ar->mr) * ar->mr;
  for (int64_t pc = 0; pc < cv->ckk; pc += kc)
    rt_gemm_pack_a(ar, false, cv->in2 + (size_t)pc * cv->esz, cv->ckk, s->O,
                   min64(kc, cv->ckk - pc), cv->shared + (size_t)(mpad * pc) * cv->esz);
  s1_run(cv, s->N);
}

/* Backward data at stride 1: dx = conv(dy padded by K-1-P, w'), where
 * w'[c][o][i][j] = w[o][c][KH-1-i][KW-1-j]. A = w' as [C][O*KH*KW]: packed
 * here by gathering (once per call). */
static void pack_flipped(const Conv *cv, int64_t pc, int64_t kb, char *dst) {
  const rt_conv2d_shape *s = cv->s;
  int mr = cv->ar->mr;
  for (int64_t c0 = 0; c0 < s->C; c0 += mr)
    for (int64_t p = 0; p < kb; p++)
      for (int i = 0; i < mr; i++) {
        int64_t c = c0 + i, r = pc + p, o = r / cv->kk, t = r % cv->kk;
        int64_t src = ((o * s->C + c) * s->KH + s->KH - 1 - t / s->KW) * s->KW + s->KW - 1 - t % s->KW;
        int64_t at = c0 * kb + p * mr + i;
        if (cv->esz == 4) ((float *)dst)[at] = c < s->C ? ((const float *)cv->in2)[src] : 0.0f;
        else ((double *)dst)[at] = c < s->C ? ((const double *)cv->in2)[src] : 0.0;
      }
}

static void s1_backward_data(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  const rt_gemm_arch *ar = cv->ar;
  cv->wd = wide_make(s->O, s->OH, s->OW, s->KH - 1 - s->PH, s->KW - 1 - s->PW, s->KH, s->KW);
  cv->cout = s->C;
  wide_offsets(&cv->wd, cv->off);
  int64_t K = s->O * cv->kk, kc = rt_gemm_kblock(ar, K), mpad = ceil_div(s->C, ar->mr) * ar->mr;
  for (int64_t pc = 0; pc < K; pc += kc)
    pack_flipped(cv, pc, min64(kc, K - pc), cv->shared + (size_t)(mpad * pc) * cv->esz);
  s1_run(cv, s->N);
}

/* dw[o][r] = dwt[r][o] for r in [r0,r1), o in [o0,o1). */
static void transpose_out(const Conv *cv, int64_t r0, int64_t r1, int64_t o0, int64_t o1) {
  int64_t O = cv->s->O, ckk = cv->ckk;
  for (int64_t o = o0; o < o1; o++)
    for (int64_t r = r0; r < r1; r++) {
      if (cv->esz == 4) ((float *)cv->out)[o * ckk + r] = ((const float *)cv->shared)[r * O + o];
      else ((double *)cv->out)[o * ckk + r] = ((const double *)cv->shared)[r * O + o];
    }
}

#if RT_X86
/* spread_dy for f32 with AVX-512: per row, masked copies then the junk. */
AVX512 static void spread_dy_f32_avx512(const Wide *d, const float *dyn, int64_t o0, int64_t o1,
                                        float *dyw) {
  __m512 z = _mm512_setzero_ps();
  for (int64_t o = o0; o < o1; o++)
    for (int64_t y = 0; y < d->oh; y++) {
      float *w = dyw + (o - o0) * d->nq + y * d->wp;
      const float *g = dyn + (o * d->oh + y) * d->ow;
      for (int64_t x = 0; x < d->ow; x += 16) {
        __mmask16 m = (__mmask16)(d->ow - x >= 16 ? 0xffff : (1u << (d->ow - x)) - 1);
        _mm512_mask_storeu_ps(w + x, m, _mm512_maskz_loadu_ps(m, g + x));
      }
      int64_t junk = y + 1 < d->oh ? d->wp - d->ow : 0;
      for (int64_t x = 0; x < junk; x += 16)
        _mm512_mask_storeu_ps(w + d->ow + x, (__mmask16)(junk - x >= 16 ? 0xffff : (1u << (junk - x)) - 1), z);
    }
}

AVX2 static void spread_dy_f32_avx2(const Wide *d, const float *dyn, int64_t o0, int64_t o1,
                                    float *dyw) {
  __m256 z = _mm256_setzero_ps();
  for (int64_t o = o0; o < o1; o++)
    for (int64_t y = 0; y < d->oh; y++) {
      float *w = dyw + (o - o0) * d->nq + y * d->wp;
      const float *g = dyn + (o * d->oh + y) * d->ow;
      for (int64_t x = 0; x < d->ow; x += 8) {
        int n = (int)min64(8, d->ow - x);
        store8_part(w + x, load8_part(g + x, n), n);
      }
      int64_t junk = y + 1 < d->oh ? d->wp - d->ow : 0;
      for (int64_t x = 0; x < junk; x += 8) store8_part(w + d->ow + x, z, (int)min64(8, junk - x));
    }
}
#endif

/* dyw[o - o0][q] = dy[o][y][x] for wide column q = y*wp + x (0 in junk). */
static void spread_dy(const Conv *cv, const char *dyn, int64_t o0, int64_t o1, char *dyw) {
  const Wide *d = &cv->wd;
#if RT_X86
  if (cv->esz == 4 && cv->ar->isa == RT_ISA_AVX512) {
    spread_dy_f32_avx512(d, (const float *)dyn, o0, o1, (float *)dyw);
    return;
  }
  if (cv->esz == 4 && cv->ar->isa == RT_ISA_AVX2) {
    spread_dy_f32_avx2(d, (const float *)dyn, o0, o1, (float *)dyw);
    return;
  }
#endif
  for (int64_t o = o0; o < o1; o++)
    for (int64_t y = 0; y < d->oh; y++) {
      int64_t q = (o - o0) * d->nq + y * d->wp, src = (o * d->oh + y) * d->ow;
      int64_t junk = y + 1 < d->oh ? d->wp - d->ow : 0;
      if (cv->esz == 4) {
        float *w = (float *)dyw + q;
        const float *g = (const float *)dyn + src;
        for (int64_t x = 0; x < d->ow; x++) w[x] = g[x];
        for (int64_t x = 0; x < junk; x++) w[d->ow + x] = 0;
      } else {
        double *w = (double *)dyw + q;
        const double *g = (const double *)dyn + src;
        for (int64_t x = 0; x < d->ow; x++) w[x] = g[x];
        for (int64_t x = 0; x < junk; x++) w[d->ow + x] = 0;
      }
    }
}

/* Item = one cell of dw^T (taps [r0,r1) x channels [o0,o1)). For each image
 * in order: pad x, spread dy; for each depth block of wide columns: pack
 * dy^T (B) and the implicit col rows (A, through the offsets), accumulate. */
static void s1_filter_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const rt_conv2d_shape *s = cv->s;
  const Wide *d = &cv->wd;
  size_t esz = cv->esz;
  void *Ap, *Bp;
  char *xp;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, (void **)&xp);
  char *dyw = xp + align64((size_t)(d->cin * d->hp * d->wp) * esz);
  int64_t kc = rt_gemm_kblock(ar, d->nq);
  for (int64_t it = begin; it < end; it++) {
    int a = (int)(it / cv->tn), b = (int)(it % cv->tn);
    int64_t r0 = rt_split(cv->ckk, ar->mr, cv->tm, a), r1 = rt_split(cv->ckk, ar->mr, cv->tm, a + 1);
    int64_t o0 = rt_split(s->O, ar->ngran, cv->tn, b), o1 = rt_split(s->O, ar->ngran, cv->tn, b + 1);
    if (r0 >= r1 || o0 >= o1) continue;
    pad_border(d, xp, esz);
    size_t xbytes = (size_t)(s->C * s->H * s->W) * esz, dybytes = (size_t)(s->O * cv->ohw) * esz;
    for (int64_t n = 0; n < s->N; n++) {
      pad_interior(d, cv->in + n * xbytes, xp, esz);
      spread_dy(cv, cv->in2 + n * dybytes, o0, o1, dyw);
      if (n + 1 < s->N) { /* next image's inputs, while this one computes */
        prefetch_l2(cv->in + (n + 1) * xbytes, xbytes);
        prefetch_l2(cv->in2 + (n + 1) * dybytes + (size_t)(o0 * cv->ohw) * esz,
                    (size_t)((o1 - o0) * cv->ohw) * esz);
      }
      for (int64_t pc = 0; pc < d->nq; pc += kc) {
        int64_t kb = min64(kc, d->nq - pc);
        double beta = n == 0 && pc == 0 ? 0.0 : 1.0;
        for (int64_t jc = o0; jc < o1; jc += ar->nc) {
          int64_t nb = min64(ar->nc, o1 - jc);
          rt_gemm_pack_b(ar, true, dyw + (size_t)((jc - o0) * d->nq + pc) * esz, d->nq, kb, nb, Bp);
          for (int64_t ib = r0; ib < r1; ib += ar->mc) {
            int64_t mb = min64(ar->mc, r1 - ib);
            ar->pack(false, xp + (size_t)pc * esz, 0, cv->off + ib, mb, kb, ar->mr, Ap);
            rt_gemm_macro(ar, mb, nb, kb, Ap, Bp, cv->shared + (size_t)(ib * s->O + jc) * esz,
                          s->O, 1.0, beta);
          }
        }
      }
    }
    transpose_out(cv, r0, r1, o0, o1);
  }
}

static void s1_backward_filter(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  cv->wd = wide_make(s->C, s->H, s->W, s->PH, s->PW, s->KH, s->KW);
  wide_offsets(&cv->wd, cv->off);
  rt_gemm_grid(cv->ar, cv->ckk, s->O, s->N * cv->wd.nq, rt_pool_size(cv->pool), &cv->tm, &cv->tn);
  rt_parallel_for(cv->pool, cv->tm * cv->tn, 1, s1_filter_task, cv);
}

/* ---- stride 1 with the row kernel --------------------------------------------- */

/* Item = (image, part of the output rows): pad the image; then for each
 * nr-channel panel of the packed W^T, each output row and each segment of
 * at most row_mr pixels, one row-kernel call writes that part of out. */
static void row_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const Wide *d = &cv->wd;
  size_t esz = cv->esz;
  void *Ap, *Bp;
  char *xp;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, (void **)&xp);
  int64_t K = d->cin * d->kh * d->kw, opix = d->oh * d->ow;
  int nseg = (int)ceil_div(d->ow, ar->row_mr);
  bool bordered = false;
  for (int64_t it = begin; it < end; it++) {
    int64_t n = it / cv->parts;
    int part = (int)(it % cv->parts);
    int64_t y0 = rt_split(d->oh, 1, cv->parts, part), y1 = rt_split(d->oh, 1, cv->parts, part + 1);
    if (y0 >= y1) continue;
    size_t in_bytes = (size_t)(d->cin * d->h * d->w) * esz;
    if (!bordered) pad_border(d, xp, esz), bordered = true; /* once: same shape for all */
    if (cv->dpool) /* backward data from a pooling gradient: expand dy[n] after xp */
      pad_interior(d, dy_planes(cv, NULL, n, 0, d->cin, (float *)(xp + align64((size_t)(d->cin * d->hp * d->wp) * esz))),
                   xp, esz);
    else
      pad_interior(d, cv->in + n * in_bytes, xp, esz);
    if (!cv->dpool && it + 1 < end && (it + 1) / cv->parts != n)
      prefetch_l2(cv->in + (n + 1) * in_bytes, in_bytes);
    char *outn = cv->out + (size_t)(n * cv->cout * opix) * esz;
    for (int64_t o0 = 0; o0 < cv->cout; o0 += ar->nr) {
      const char *B = cv->shared + (size_t)(o0 * K) * esz;
      int nn = (int)min64(ar->nr, cv->cout - o0);
      for (int64_t y = y0; y < y1; y++)
        for (int sg = 0; sg < nseg; sg++) {
          int64_t x0 = rt_split(d->ow, 1, nseg, sg), x1 = rt_split(d->ow, 1, nseg, sg + 1);
          ar->row_kernel(K, xp + (size_t)(y * d->wp + x0) * esz, cv->off, B,
                         outn + (size_t)(o0 * opix + y * d->ow + x0) * esz, opix,
                         (int)(x1 - x0), nn);
        }
    }
  }
}

static void row_run(Conv *cv, int64_t batch) {
  int T = rt_pool_size(cv->pool);
  cv->parts = batch >= T ? 1 : (int)min64(ceil_div(T, batch), cv->wd.oh);
  rt_parallel_for(cv->pool, batch * cv->parts, 1, row_task, cv);
}

/* Forward: W stored [O][CKK] is B^T, packed as nr-wide panels of W^T. */
static void row_forward(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  cv->wd = wide_make(s->C, s->H, s->W, s->PH, s->PW, s->KH, s->KW);
  cv->cout = s->O;
  wide_offsets(&cv->wd, cv->off);
  rt_gemm_pack_b(cv->ar, true, cv->in2, cv->ckk, cv->ckk, s->O, cv->shared);
  row_run(cv, s->N);
}

/* Backward data: the flipped weights w'[c][o][i][j] = w[o][c][KH-1-i][KW-1-j]
 * as nr-wide panels of w'^T (rows r' = (o, i, j), columns c), gathered
 * once per call. */
static void pack_flipped_b(const Conv *cv, char *dst) {
  const rt_conv2d_shape *s = cv->s;
  int nr = cv->ar->nr;
  int64_t K = s->O * cv->kk;
  for (int64_t c0 = 0; c0 < s->C; c0 += nr)
    for (int64_t r = 0; r < K; r++)
      for (int j = 0; j < nr; j++) {
        int64_t c = c0 + j, o = r / cv->kk, t = r % cv->kk;
        int64_t src = ((o * s->C + c) * s->KH + s->KH - 1 - t / s->KW) * s->KW + s->KW - 1 - t % s->KW;
        int64_t at = c0 * K + r * nr + j;
        if (cv->esz == 4) ((float *)dst)[at] = c < s->C ? ((const float *)cv->in2)[src] : 0.0f;
        else ((double *)dst)[at] = c < s->C ? ((const double *)cv->in2)[src] : 0.0;
      }
}

static void row_backward_data(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  cv->wd = wide_make(s->O, s->OH, s->OW, s->KH - 1 - s->PH, s->KW - 1 - s->PW, s->KH, s->KW);
  cv->cout = s->C;
  wide_offsets(&cv->wd, cv->off);
  pack_flipped_b(cv, cv->shared);
  row_run(cv, s->N);
}

/* ---- backward filter, channels last ----------------------------------------------- */

/* xt[(y*wp + x)*C + c] = padded x[c][y][x]: the image transposed so that
 * the C channels of one pixel are contiguous (the GEMM's N). */
static void to_channels_last(const Conv *cv, const char *xn, char *xt) {
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz, row = (size_t)((s->W + 2 * s->PW) * s->C) * esz;
  size_t side = (size_t)(s->PW * s->C) * esz;
  memset(xt, 0, (size_t)s->PH * row);
  for (int64_t y = 0; y < s->H; y++) {
    char *r = xt + (size_t)(s->PH + y) * row;
    memset(r, 0, side);
    /* the C x W block at row y, transposed: a packer with panel width C */
    cv->ar->pack(false, xn + (size_t)(y * s->W) * esz, s->H * s->W, NULL, s->C, s->W,
                 (int)s->C, r + side);
    memset(r + row - side, 0, side);
  }
  memset(xt + (size_t)(s->PH + s->H) * row, 0, (size_t)s->PH * row);
}

/* Item = (image group, range of output channels): for each image of the
 * group in order, dw_g[tap][o][c] += dy[o][.] . xt[pixel of tap][c] over
 * the output pixels, one GEMM per tap: A = dy rows (packed once per depth
 * block), B = channel rows of xt read through the pixel offsets. */
static void cl_filter_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz;
  void *Ap, *Bp;
  char *xt;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, (void **)&xt);
  int64_t wp = s->W + 2 * s->PW, kc = rt_gemm_kblock(ar, cv->ohw), C = s->C, O = s->O;
  for (int64_t it = begin; it < end; it++) {
    int g = (int)(it / cv->tm), cell = (int)(it % cv->tm);
    int64_t n0 = rt_split(s->N, 1, (int)cv->groups, g), n1 = rt_split(s->N, 1, (int)cv->groups, g + 1);
    int64_t o0 = rt_split(O, ar->mr, cv->tm, cell), o1 = rt_split(O, ar->mr, cv->tm, cell + 1);
    if (n0 >= n1 || o0 >= o1) continue;
    char *P = cv->shared + (size_t)(g * cv->kk * O * C) * esz;
    size_t xbytes = (size_t)(C * s->H * s->W) * esz, dybytes = (size_t)(O * cv->ohw) * esz;
    float *dyl = (float *)(xt + align64((size_t)((s->H + 2 * s->PH) * (s->W + 2 * s->PW) * C) * esz));
    for (int64_t n = n0; n < n1; n++) {
      to_channels_last(cv, cv->in + n * xbytes, xt);
      const char *dyn = dy_planes(cv, cv->in2, n, o0, o1, dyl); /* channel o0 */
      if (n + 1 < n1) { /* next image's inputs, while this one computes */
        prefetch_l2(cv->in + (n + 1) * xbytes, xbytes);
        if (!cv->dpool)
          prefetch_l2(cv->in2 + (n + 1) * dybytes + (size_t)(o0 * cv->ohw) * esz,
                      (size_t)((o1 - o0) * cv->ohw) * esz);
      }
      for (int64_t pc = 0; pc < cv->ohw; pc += kc) {
        int64_t kb = min64(kc, cv->ohw - pc);
        double beta = n == n0 && pc == 0 ? 0.0 : 1.0;
        for (int64_t ic = o0; ic < o1; ic += ar->mc) {
          int64_t mb = min64(ar->mc, o1 - ic);
          rt_gemm_pack_a(ar, false, dyn + (size_t)((ic - o0) * cv->ohw + pc) * esz, cv->ohw, mb, kb, Ap);
          for (int64_t tap = 0; tap < cv->kk; tap++) {
            int64_t toff = (tap / s->KW * wp + tap % s->KW) * C;
            char *Pt = P + (size_t)((tap * O + ic) * C) * esz;
            if (ar->kernel_ib) { /* B rows read in place from xt */
              for (int64_t ir = 0; ir < mb; ir += ar->mr)
                for (int64_t jr = 0; jr < C; jr += ar->nr)
                  ar->kernel_ib(kb, (const char *)Ap + (size_t)(ir * kb) * esz,
                                xt + (size_t)(toff + jr) * esz, cv->off + pc,
                                Pt + (size_t)(ir * C + jr) * esz, C, (int)min64(ar->mr, mb - ir),
                                (int)min64(ar->nr, C - jr), 1.0, beta);
              continue;
            }
            for (int64_t jc = 0; jc < C; jc += ar->nc) {
              int64_t nb = min64(ar->nc, C - jc);
              ar->pack(true, xt + (size_t)(toff + jc) * esz, 0, cv->off + pc, nb, kb, ar->nr, Bp);
              rt_gemm_macro(ar, mb, nb, kb, Ap, Bp, Pt + (size_t)jc * esz, C, 1.0, beta);
            }
          }
        }
      }
    }
  }
}

/* dw[o][c][tap] = sum over groups g in order of dw_g[tap][o][c]. Reads
 * run along c (contiguous in every dw_g); writes are strided by KH*KW. */
static void cl_reduce_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  const Conv *cv = ctx;
  int64_t C = cv->s->C, O = cv->s->O, kk = cv->kk, per = kk * O * C;
  for (int64_t o = begin; o < end; o++)
    for (int64_t tap = 0; tap < kk; tap++) {
      int64_t at = (tap * O + o) * C;
      if (cv->esz == 4) {
        const float *P = (const float *)cv->shared + at;
        float *d = (float *)cv->out + o * C * kk + tap;
        for (int64_t c = 0; c < C; c++) {
          float sum = P[c];
          for (int64_t g = 1; g < cv->groups; g++) sum += P[g * per + c];
          d[c * kk] = sum;
        }
      } else {
        const double *P = (const double *)cv->shared + at;
        double *d = (double *)cv->out + o * C * kk + tap;
        for (int64_t c = 0; c < C; c++) {
          double sum = P[c];
          for (int64_t g = 1; g < cv->groups; g++) sum += P[g * per + c];
          d[c * kk] = sum;
        }
      }
    }
}

static void cl_backward_filter(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  int64_t wp = s->W + 2 * s->PW;
  for (int64_t y = 0; y < s->OH; y++) /* pixel offsets into xt */
    for (int64_t x = 0; x < s->OW; x++)
      cv->off[y * s->OW + x] = (y * s->SH * wp + x * s->SW) * s->C;
  int T = rt_pool_size(cv->pool);
  cv->groups = filter_groups(s);
  cv->tm = cv->groups >= T ? 1 : (int)min64(ceil_div(T, cv->groups), ceil_div(s->O, cv->ar->mr));
  rt_parallel_for(cv->pool, cv->groups * cv->tm, 1, cl_filter_task, cv);
  rt_parallel_for(cv->pool, s->O, 8, cl_reduce_task, cv);
}

/* ---- backward filter with few taps: vectors along output pixels ------------------- */

/* For small C (conv1 of an image model: C*KH*KW = 9), neither orientation
 * of the GEMM fills the vectors. Here a tile holds `r` taps x `o` output
 * channels, each accumulator a vector of `lanes` output pixels of one
 * row: per step r shifted loads of the padded image and o loads of dy
 * feed r*o multiply-adds. The accumulators persist across all images
 * (kept in `state` between them) and are summed across lanes once at the
 * end, so every dw element's sum has a fixed order. f32, AVX-512 (9 x 3
 * tiles of 16 lanes: 27 of the 32 registers) and AVX2 (3 x 3 tiles of 8
 * lanes: 9 of 16 registers, and as many loads per multiply-add as the
 * GEMM micro-kernel). */
typedef struct DotTile {
  int r, o, lanes;
} DotTile;
#define DOT_MAX_R 9
#define DOT_O 3 /* both kernels spell out 3 dy rows */

static DotTile dot_tile(rt_isa isa) {
  return isa == RT_ISA_AVX512 ? (DotTile){9, DOT_O, 16} : (DotTile){3, DOT_O, 8};
}

/* Accumulator state of all tiles, in floats. */
static int64_t dot_state_elems(const rt_conv2d_shape *s, DotTile t) {
  return ceil_div(s->C * s->KH * s->KW, t.r) * ceil_div(s->O, t.o) * t.r * t.o * t.lanes;
}

#if RT_X86 /* the few-taps path exists on x86 only (filter_path never picks it elsewhere) */
/* state[(r*DOT_O + j)*16 ...] += sum over pixels of xp[toff[r] + pixel] *
 * dy[j*ohw + pixel] for one image; xp is the padded image. */
AVX512 static void dot_image_avx512(const Wide *d, const float *xp, const int64_t *toff,
                                    const float *const *dyo, float *state) {
  __m512 acc[9][DOT_O]; /* every loop over it fully unrolled: registers only */
#pragma GCC unroll 9
  for (int r = 0; r < 9; r++)
#pragma GCC unroll 3
    for (int j = 0; j < DOT_O; j++) acc[r][j] = _mm512_loadu_ps(state + (r * DOT_O + j) * 16);
  /* one flat loop over (row, 16-pixel step): keeps acc in registers */
  const int64_t ow = d->ow, wp = d->wp, steps_per_row = (ow + 15) / 16;
  const int64_t steps = d->oh * steps_per_row;
  const float *g0 = dyo[0], *g1 = dyo[1], *g2 = dyo[2];
  int64_t y = 0, x0 = 0;
  for (int64_t st = 0; st < steps; st++) {
    __mmask16 m = (__mmask16)(ow - x0 >= 16 ? 0xffff : (1u << (ow - x0)) - 1);
    int64_t gi = y * ow + x0;
    __m512 g[DOT_O] = {_mm512_maskz_loadu_ps(m, g0 + gi), _mm512_maskz_loadu_ps(m, g1 + gi),
                       _mm512_maskz_loadu_ps(m, g2 + gi)};
    const float *xr = xp + y * wp + x0;
#pragma GCC unroll 9
    for (int r = 0; r < 9; r++) {
      __m512 xv = _mm512_maskz_loadu_ps(m, xr + toff[r]); /* masked: no junk enters */
#pragma GCC unroll 3
      for (int j = 0; j < DOT_O; j++) acc[r][j] = _mm512_fmadd_ps(xv, g[j], acc[r][j]);
    }
    x0 += 16;
    if (x0 >= ow) x0 = 0, y++;
  }
#pragma GCC unroll 9
  for (int r = 0; r < 9; r++)
#pragma GCC unroll 3
    for (int j = 0; j < DOT_O; j++) _mm512_storeu_ps(state + (r * DOT_O + j) * 16, acc[r][j]);
}

/* The AVX2 tile, state[(r*DOT_O + j)*8 ...]: whole 8-pixel steps, then one
 * masked step for the rest of the row (no junk enters). */
AVX2 static void dot_image_avx2(const Wide *d, const float *xp, const int64_t *toff,
                                const float *const *dyo, float *state) {
  __m256 acc[3][DOT_O];
#pragma GCC unroll 3
  for (int r = 0; r < 3; r++)
#pragma GCC unroll 3
    for (int j = 0; j < DOT_O; j++) acc[r][j] = _mm256_loadu_ps(state + (r * DOT_O + j) * 8);
  const int64_t ow = d->ow, wp = d->wp, full = ow / 8 * 8;
  const __m256i tm = lanes8((int)(ow - full));
  const float *g0 = dyo[0], *g1 = dyo[1], *g2 = dyo[2];
  const int64_t t0 = toff[0], t1 = toff[1], t2 = toff[2];
  for (int64_t y = 0; y < d->oh; y++) {
    const float *xr = xp + y * wp;
    int64_t gi = y * ow;
    for (int64_t x0 = 0; x0 <= full; x0 += 8) {
      __m256 g[DOT_O], xv[3];
      if (x0 < full) {
        g[0] = _mm256_loadu_ps(g0 + gi + x0), g[1] = _mm256_loadu_ps(g1 + gi + x0);
        g[2] = _mm256_loadu_ps(g2 + gi + x0);
        xv[0] = _mm256_loadu_ps(xr + t0 + x0), xv[1] = _mm256_loadu_ps(xr + t1 + x0);
        xv[2] = _mm256_loadu_ps(xr + t2 + x0);
      } else {
        if (full == ow) break;
        g[0] = _mm256_maskload_ps(g0 + gi + x0, tm), g[1] = _mm256_maskload_ps(g1 + gi + x0, tm);
        g[2] = _mm256_maskload_ps(g2 + gi + x0, tm);
        xv[0] = _mm256_maskload_ps(xr + t0 + x0, tm), xv[1] = _mm256_maskload_ps(xr + t1 + x0, tm);
        xv[2] = _mm256_maskload_ps(xr + t2 + x0, tm);
      }
#pragma GCC unroll 3
      for (int r = 0; r < 3; r++)
#pragma GCC unroll 3
        for (int j = 0; j < DOT_O; j++) acc[r][j] = _mm256_fmadd_ps(xv[r], g[j], acc[r][j]);
    }
  }
#pragma GCC unroll 3
  for (int r = 0; r < 3; r++)
#pragma GCC unroll 3
    for (int j = 0; j < DOT_O; j++) _mm256_storeu_ps(state + (r * DOT_O + j) * 8, acc[r][j]);
}

/* The lanes of v summed in a fixed order. */
AVX512 static float lane_sum16(const float *v) { return _mm512_reduce_add_ps(_mm512_loadu_ps(v)); }
AVX2 static float lane_sum8(const float *v) {
  __m128 h = _mm_add_ps(_mm_loadu_ps(v), _mm_loadu_ps(v + 4));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* Item = one tile (taps [r0, r0+t.r) x channels [o0, o0+DOT_O)); a task
 * pads each image once for all its tiles. Taps/channels past the end are
 * stand-ins (tap r0, channel o0) whose sums are dropped. */
static void dot_filter_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_conv2d_shape *s = cv->s;
  const Wide *d = &cv->wd;
  DotTile tl = dot_tile(cv->ar->isa);
  bool avx512 = cv->ar->isa == RT_ISA_AVX512;
  void *Ap, *Bp;
  char *xp;
  rt_thread_buffers(cv->ar, thread_buffer(cv, ti), &Ap, &Bp, (void **)&xp);
  float *state = (float *)(xp + align64((size_t)(d->cin * d->hp * d->wp) * sizeof(float)));
  int64_t otiles = ceil_div(s->O, DOT_O), per = tl.r * DOT_O * tl.lanes;
  memset(state, 0, (size_t)((end - begin) * per) * sizeof(float));
  /* this task's channels [olo, ohi) of dy (pooled: expanded into dyl) */
  float *dyl = state + dot_state_elems(s, tl);
  int64_t olo = s->O, ohi = 0;
  for (int64_t t = begin; t < end; t++) {
    olo = min64(olo, t % otiles * DOT_O);
    ohi = max64(ohi, min64(t % otiles * DOT_O + DOT_O, s->O));
  }
  pad_border(d, xp, sizeof(float));
  size_t xbytes = (size_t)(s->C * s->H * s->W) * sizeof(float);
  for (int64_t n = 0; n < s->N; n++) {
    pad_interior(d, cv->in + n * xbytes, xp, sizeof(float));
    if (n + 1 < s->N) prefetch_l2(cv->in + (n + 1) * xbytes, xbytes);
    const float *dyn = (const float *)dy_planes(cv, cv->in2, n, olo, ohi, dyl); /* channel olo */
    for (int64_t t = begin; t < end; t++) {
      int64_t r0 = t / otiles * tl.r, o0 = t % otiles * DOT_O;
      int64_t toff[DOT_MAX_R];
      const float *dyo[DOT_O];
      for (int r = 0; r < tl.r; r++) toff[r] = cv->off[r0 + r < cv->ckk ? r0 + r : r0];
      for (int j = 0; j < DOT_O; j++) dyo[j] = dyn + ((o0 + j < s->O ? o0 + j : o0) - olo) * cv->ohw;
      float *st = state + (t - begin) * per;
      if (avx512) dot_image_avx512(d, (const float *)xp, toff, dyo, st);
      else dot_image_avx2(d, (const float *)xp, toff, dyo, st);
    }
  }
  for (int64_t t = begin; t < end; t++) {
    int64_t r0 = t / otiles * tl.r, o0 = t % otiles * DOT_O;
    for (int r = 0; r < tl.r && r0 + r < cv->ckk; r++)
      for (int j = 0; j < DOT_O && o0 + j < s->O; j++) {
        const float *v = state + (t - begin) * per + (r * DOT_O + j) * tl.lanes;
        ((float *)cv->out)[(o0 + j) * cv->ckk + r0 + r] = avx512 ? lane_sum16(v) : lane_sum8(v);
      }
  }
}

static void dot_backward_filter(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  cv->wd = wide_make(s->C, s->H, s->W, s->PH, s->PW, s->KH, s->KW);
  wide_offsets(&cv->wd, cv->off);
  int64_t tiles = ceil_div(cv->ckk, dot_tile(cv->ar->isa).r) * ceil_div(s->O, DOT_O);
  int T = rt_pool_size(cv->pool);
  /* one chunk per thread: each chunk pads every image once */
  rt_parallel_for(cv->pool, tiles, ceil_div(tiles, T), dot_filter_task, cv);
}
#endif

/* Do the stride-1 paths fit? (padded input [+ wide dy] in one work buffer) */
static bool s1_fits_input(const Conv *cv, int64_t cin, int64_t hp, int64_t wp, int64_t extra) {
  return (int64_t)align64((size_t)(cin * hp * wp) * cv->esz) / (int64_t)cv->esz + extra <=
         work_elems(cv);
}

/* ---- other strides: explicit column blocks -------------------------------------------------------- */

/* The range [lo, hi) of output columns ow whose input column
 * ow*SW - PW + kw lies inside [0, W). */
static void valid_ow(const rt_conv2d_shape *s, int64_t kw, int64_t *lo, int64_t *hi) {
  int64_t first = s->PW - kw; /* need ow*SW >= first */
  *lo = first <= 0 ? 0 : min64(s->OW, ceil_div(first, s->SW));
  int64_t last = s->W - 1 + s->PW - kw; /* need ow*SW <= last */
  *hi = last < 0 ? 0 : min64(s->OW, last / s->SW + 1);
  if (*hi < *lo) *hi = *lo;
}

/* out[(r-r0)*ld + (q-q0)] = col[r][q] of image xn, for r in [r0,r1), q in [q0,q1). */
static void im2col(const Conv *cv, const char *xn, int64_t r0, int64_t r1, int64_t q0,
                   int64_t q1, char *out, int64_t ld) {
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz;
  for (int64_t r = r0; r < r1; r++) {
    int64_t c = r / cv->kk, kh = r / s->KW % s->KH, kw = r % s->KW;
    const char *xc = xn + (size_t)(c * s->H * s->W) * esz;
    char *o = out + (size_t)((r - r0) * ld) * esz;
    int64_t lo, hi;
    valid_ow(s, kw, &lo, &hi);
    for (int64_t q = q0; q < q1;) {
      int64_t oh = q / s->OW, ow = q % s->OW, end = min64(s->OW, ow + (q1 - q));
      int64_t seg = end - ow, ih = oh * s->SH - s->PH + kh;
      if (ih < 0 || ih >= s->H) {
        memset(o, 0, (size_t)seg * esz);
      } else {
        int64_t a = max64(ow, lo), b = min64(end, hi);
        if (b < a) b = a;
        memset(o, 0, (size_t)(a - ow) * esz);
        const char *src = xc + (size_t)(ih * s->W + a * s->SW - s->PW + kw) * esz;
        char *d = o + (size_t)(a - ow) * esz;
        if (s->SW == 1) memcpy(d, src, (size_t)(b - a) * esz);
        else if (esz == 4)
          for (int64_t t = 0; t < b - a; t++) ((float *)d)[t] = ((const float *)src)[t * s->SW];
        else
          for (int64_t t = 0; t < b - a; t++) ((double *)d)[t] = ((const double *)src)[t * s->SW];
        memset(o + (size_t)(b - ow) * esz, 0, (size_t)(end - b) * esz);
      }
      o += (size_t)seg * esz;
      q += seg;
    }
  }
}

/* dxn += col2im(dcol) for dcol rows [r0,r1), columns [q0,q1) (row stride ld).
 * Each dx element receives its terms in the order (row, column). */
static void col2im_add(const Conv *cv, const char *dcol, int64_t ld, int64_t r0, int64_t r1,
                       int64_t q0, int64_t q1, char *dxn) {
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz;
  for (int64_t r = r0; r < r1; r++) {
    int64_t c = r / cv->kk, kh = r / s->KW % s->KH, kw = r % s->KW;
    char *xc = dxn + (size_t)(c * s->H * s->W) * esz;
    const char *g = dcol + (size_t)((r - r0) * ld) * esz;
    int64_t lo, hi;
    valid_ow(s, kw, &lo, &hi);
    for (int64_t q = q0; q < q1;) {
      int64_t oh = q / s->OW, ow = q % s->OW, end = min64(s->OW, ow + (q1 - q));
      int64_t seg = end - ow, ih = oh * s->SH - s->PH + kh;
      int64_t a = max64(ow, lo), b = min64(end, hi);
      if (ih >= 0 && ih < s->H && b > a) {
        int64_t off = ih * s->W + a * s->SW - s->PW + kw, n = b - a, st = s->SW;
        if (esz == 4) {
          float *d = (float *)xc + off;
          const float *v = (const float *)g + (a - ow);
          for (int64_t t = 0; t < n; t++) d[t * st] += v[t];
        } else {
          double *d = (double *)xc + off;
          const double *v = (const double *)g + (a - ow);
          for (int64_t t = 0; t < n; t++) d[t * st] += v[t];
        }
      }
      g += (size_t)seg * esz;
      q += seg;
    }
  }
}

/* ---- forward --------------------------------------------------------------- */

/* Item = (image, column part). For each column block: build col rows by
 * depth block, pack, multiply with the shared packed W into y. */
static void forward_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz;
  void *Ap, *Bp, *work;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, &work);
  int64_t kc = rt_gemm_kblock(ar, cv->ckk), mpad = ceil_div(s->O, ar->mr) * ar->mr;
  for (int64_t it = begin; it < end; it++) {
    int64_t n = it / cv->parts;
    int part = (int)(it % cv->parts);
    int64_t j0 = rt_split(cv->ohw, ar->ngran, cv->parts, part);
    int64_t j1 = rt_split(cv->ohw, ar->ngran, cv->parts, part + 1);
    const char *xn = cv->in + (size_t)(n * s->C * s->H * s->W) * esz;
    char *yn = cv->out + (size_t)(n * s->O * cv->ohw) * esz;
    for (int64_t jc = j0; jc < j1; jc += ar->nc) {
      int64_t nb = min64(ar->nc, j1 - jc);
      for (int64_t pc = 0; pc < cv->ckk; pc += kc) {
        int64_t kb = min64(kc, cv->ckk - pc);
        im2col(cv, xn, pc, pc + kb, jc, jc + nb, work, nb);
        rt_gemm_pack_b(ar, false, work, nb, kb, nb, Bp);
        rt_gemm_macro(ar, s->O, nb, kb, cv->shared + (size_t)(mpad * pc) * esz, Bp,
                      yn + (size_t)jc * esz, cv->ohw, 1.0, pc == 0 ? 0.0 : 1.0);
      }
    }
  }
}

static void im2col_forward(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  const rt_gemm_arch *ar = cv->ar;
  /* W[O][CKK] as A (not transposed), one packed block per depth block. */
  int64_t kc = rt_gemm_kblock(ar, cv->ckk), mpad = ceil_div(s->O, ar->mr) * ar->mr;
  for (int64_t pc = 0; pc < cv->ckk; pc += kc)
    rt_gemm_pack_a(ar, false, cv->in2 + (size_t)pc * cv->esz, cv->ckk, s->O,
                   min64(kc, cv->ckk - pc), cv->shared + (size_t)(mpad * pc) * cv->esz);
  int T = rt_pool_size(cv->pool);
  cv->parts = s->N >= T ? 1 : (int)min64(ceil_div(T, s->N), ceil_div(cv->ohw, ar->ngran));
  rt_parallel_for(cv->pool, s->N * cv->parts, 1, forward_task, cv);
}

/* ---- backward data --------------------------------------------------------- */

/* Item = (image, channel group). dx[n][group] = 0, then for each column
 * block and row block: dcol = W^T . DY (rows of the group), col2im-add. */
static void data_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz;
  void *Ap, *Bp, *work;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, &work);
  int64_t kc = rt_gemm_kblock(ar, s->O), mpad = ceil_div(cv->ckk, ar->mr) * ar->mr;
  int64_t work_elems = (int64_t)(rt_gemm_work_bytes(ar) / esz);
  int64_t nbmax = min64(ar->nc, cv->ohw);
  bool shared = cv->parts == 1; /* the packed W^T rows start at panel 0 */
  int64_t mbmax = shared ? work_elems / nbmax / ar->mr * ar->mr : ar->mc;
  if (mbmax < ar->mr) mbmax = ar->mr;
  for (int64_t it = begin; it < end; it++) {
    int64_t n = it / cv->parts;
    int g = (int)(it % cv->parts);
    int64_t c0 = rt_split(s->C, 1, cv->parts, g), c1 = rt_split(s->C, 1, cv->parts, g + 1);
    if (c0 >= c1) continue;
    const char *dyn = cv->in + (size_t)(n * s->O * cv->ohw) * esz;
    char *dxn = cv->out + (size_t)(n * s->C * s->H * s->W) * esz;
    memset(dxn + (size_t)(c0 * s->H * s->W) * esz, 0, (size_t)((c1 - c0) * s->H * s->W) * esz);
    int64_t r0 = c0 * cv->kk, r1 = c1 * cv->kk;
    for (int64_t jc = 0; jc < cv->ohw; jc += nbmax) {
      int64_t nb = min64(nbmax, cv->ohw - jc);
      for (int64_t ib = r0; ib < r1; ib += mbmax) {
        int64_t mb = min64(mbmax, r1 - ib);
        for (int64_t pc = 0; pc < s->O; pc += kc) {
          int64_t kb = min64(kc, s->O - pc);
          /* DY block is the same for every row block when O fits one depth block */
          if (ib == r0 || kc < s->O)
            rt_gemm_pack_b(ar, false, dyn + (size_t)(pc * cv->ohw + jc) * esz, cv->ohw, kb, nb, Bp);
          const char *A;
          if (shared) {
            A = cv->shared + (size_t)(mpad * pc + ib * kb) * esz;
          } else {
            rt_gemm_pack_a(ar, true, cv->in2 + (size_t)(pc * cv->ckk + ib) * esz, cv->ckk, mb,
                           kb, Ap);
            A = Ap;
          }
          rt_gemm_macro(ar, mb, nb, kb, A, Bp, work, nb, 1.0, pc == 0 ? 0.0 : 1.0);
        }
        col2im_add(cv, work, nb, ib, ib + mb, jc, jc + nb, dxn);
      }
    }
  }
}

static void col2im_backward_data(Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  const rt_gemm_arch *ar = cv->ar;
  int T = rt_pool_size(cv->pool);
  cv->parts = s->N >= T ? 1 : (int)min64(ceil_div(T, s->N), s->C);
  if (cv->parts == 1) { /* W^T: A stored [K=O][M=CKK], packed once per depth block */
    int64_t kc = rt_gemm_kblock(ar, s->O), mpad = ceil_div(cv->ckk, ar->mr) * ar->mr;
    for (int64_t pc = 0; pc < s->O; pc += kc)
      rt_gemm_pack_a(ar, true, cv->in2 + (size_t)(pc * cv->ckk) * cv->esz, cv->ckk, cv->ckk,
                     min64(kc, s->O - pc), cv->shared + (size_t)(mpad * pc) * cv->esz);
  }
  rt_parallel_for(cv->pool, s->N * cv->parts, 1, data_task, cv);
}

/* ---- backward filter ------------------------------------------------------- */


/* Item = one cell (rows [r0,r1) of dw^T, channels [o0,o1)): for n in
 * order, for each depth block of positions: pack DY^T, build col rows,
 * pack them as A, accumulate into dw^T. */
static void filter_task(void *ctx, int64_t begin, int64_t end, int ti) {
  const Conv *cv = ctx;
  const rt_gemm_arch *ar = cv->ar;
  const rt_conv2d_shape *s = cv->s;
  size_t esz = cv->esz;
  void *Ap, *Bp, *work;
  rt_thread_buffers(ar, thread_buffer(cv, ti), &Ap, &Bp, &work);
  int64_t kc = rt_gemm_kblock(ar, cv->ohw);
  for (int64_t it = begin; it < end; it++) {
    int a = (int)(it / cv->tn), b = (int)(it % cv->tn);
    int64_t r0 = rt_split(cv->ckk, ar->mr, cv->tm, a), r1 = rt_split(cv->ckk, ar->mr, cv->tm, a + 1);
    int64_t o0 = rt_split(s->O, ar->ngran, cv->tn, b), o1 = rt_split(s->O, ar->ngran, cv->tn, b + 1);
    if (r0 >= r1 || o0 >= o1) continue;
    for (int64_t n = 0; n < s->N; n++) {
      const char *xn = cv->in + (size_t)(n * s->C * s->H * s->W) * esz;
      const char *dyn = cv->in2 + (size_t)(n * s->O * cv->ohw) * esz;
      for (int64_t pc = 0; pc < cv->ohw; pc += kc) {
        int64_t kb = min64(kc, cv->ohw - pc);
        double beta = n == 0 && pc == 0 ? 0.0 : 1.0;
        for (int64_t jc = o0; jc < o1; jc += ar->nc) {
          int64_t nb = min64(ar->nc, o1 - jc);
          /* DY^T: B stored [N=O][K=OHW] */
          rt_gemm_pack_b(ar, true, dyn + (size_t)(jc * cv->ohw + pc) * esz, cv->ohw, kb, nb, Bp);
          for (int64_t ib = r0; ib < r1; ib += ar->mc) {
            int64_t mb = min64(ar->mc, r1 - ib);
            im2col(cv, xn, ib, ib + mb, pc, pc + kb, work, kb);
            rt_gemm_pack_a(ar, false, work, kb, mb, kb, Ap);
            rt_gemm_macro(ar, mb, nb, kb, Ap, Bp, cv->shared + (size_t)(ib * s->O + jc) * esz,
                          s->O, 1.0, beta);
          }
        }
      }
    }
    transpose_out(cv, r0, r1, o0, o1);
  }
}

static void im2col_backward_filter(Conv *cv) {
  rt_gemm_grid(cv->ar, cv->ckk, cv->s->O, cv->s->N * cv->ohw, rt_pool_size(cv->pool), &cv->tm,
               &cv->tn);
  rt_parallel_for(cv->pool, cv->tm * cv->tn, 1, filter_task, cv);
}

/* ---- entry points ----------------------------------------------------------- */

/* Path choice (the thresholds RT_CONV_*_MIN_* are in rt_kernels.h, where
 * the compiler's memory plan reads them too): the row kernel wants rows of
 * at least a few pixels; every stride-1 path needs the padded input in one
 * thread's work buffer, the row kernel with row_mr readable elements after
 * it (rt_kernels.h). Channels last needs C wide enough to fill the GEMM's
 * vectors; with few channels the taps x O orientation (stride 1) or
 * explicit columns win. */

/* The strategies (see the top of the file); BY_IMAGE: a pooled call that
 * none of the fusing kernels takes, done image by image. */
typedef enum ConvPath { PATH_ROW, PATH_WIDE, PATH_CL, PATH_DOT, PATH_COLUMNS, PATH_BY_IMAGE } ConvPath;

static ConvPath forward_path(const Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  int64_t hp = s->H + 2 * s->PH, wp = s->W + 2 * s->PW;
  bool s1 = s->SH == 1 && s->SW == 1 && s1_fits_input(cv, s->C, hp, wp, 0);
  if (s1 && cv->ar->row_kernel && s->OW >= RT_CONV_ROW_MIN_OW && s->O >= RT_CONV_ROW_MIN_CHANNELS &&
      s1_fits_input(cv, s->C, hp, wp, cv->ar->row_mr))
    return PATH_ROW;
  return s1 ? PATH_WIDE : PATH_COLUMNS;
}

/* A pooled cv (dy expanded from a pooling tape) only takes the row kernel. */
static ConvPath data_path(const Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  int64_t ph = s->KH - 1 - s->PH, pw = s->KW - 1 - s->PW; /* padding of dy */
  int64_t extra = cv->dpool ? s->O * cv->ohw : 0;        /* expanded dy[n] */
  int64_t hp = s->OH + 2 * ph, wp = s->OW + 2 * pw;
  bool s1 = s->SH == 1 && s->SW == 1 && ph >= 0 && pw >= 0 && s1_fits_input(cv, s->O, hp, wp, extra);
  if (s1 && cv->ar->row_kernel && s->W >= RT_CONV_ROW_MIN_OW && s->C >= RT_CONV_ROW_MIN_CHANNELS &&
      s1_fits_input(cv, s->O, hp, wp, extra + cv->ar->row_mr))
    return PATH_ROW;
  if (cv->dpool) return PATH_BY_IMAGE;
  return s1 && s->C >= cv->ar->mr ? PATH_WIDE : PATH_COLUMNS;
}

/* A pooled cv takes the channels-last or the few-taps path. */
static ConvPath filter_path(const Conv *cv) {
  const rt_conv2d_shape *s = cv->s;
  Wide d = wide_make(s->C, s->H, s->W, s->PH, s->PW, s->KH, s->KW);
  int64_t extra = cv->dpool ? s->O * cv->ohw : 0; /* expanded dy[n] */
  bool s1 = s->SH == 1 && s->SW == 1;
  if (s->C >= RT_CONV_CL_MIN_C && s1_fits_input(cv, s->C, d.hp, d.wp, extra)) return PATH_CL;
  if (cv->esz == 4 && cv->ar->isa != RT_ISA_C && s1 && s->OW >= RT_CONV_DOT_MIN_OW &&
      s1_fits_input(cv, s->C, d.hp, d.wp, dot_state_elems(s, dot_tile(cv->ar->isa)) + extra))
    return PATH_DOT;
  if (cv->dpool) return PATH_BY_IMAGE;
  return s1 && s1_fits_input(cv, s->C, d.hp, d.wp, s->O * d.nq) ? PATH_WIDE : PATH_COLUMNS;
}

static void conv_forward(rt_pool *p, const rt_conv2d_shape *s, const void *x, const void *w,
                         void *y, void *scratch, int esz) {
  Conv cv = conv_make(p, s, x, w, y, scratch, esz);
  switch (forward_path(&cv)) {
  case PATH_ROW: row_forward(&cv); break;
  case PATH_WIDE: s1_forward(&cv); break;
  default: im2col_forward(&cv); break;
  }
}

/* Runs backward data on cv's path; false for a pooled cv that must go
 * image by image. */
static bool backward_data_run(Conv *cv) {
  switch (data_path(cv)) {
  case PATH_ROW: row_backward_data(cv); break;
  case PATH_BY_IMAGE: return false;
  case PATH_WIDE: s1_backward_data(cv); break;
  default: col2im_backward_data(cv); break;
  }
  return true;
}

static void conv_backward_data(rt_pool *p, const rt_conv2d_shape *s, const void *dy,
                               const void *w, void *dx, void *scratch, int esz) {
  Conv cv = conv_make(p, s, dy, w, dx, scratch, esz);
  backward_data_run(&cv);
}

/* Runs backward filter on cv's path; false for a pooled cv that must go
 * image by image. */
static bool backward_filter_run(Conv *cv) {
  switch (filter_path(cv)) {
  case PATH_CL: cl_backward_filter(cv); break;
#if RT_X86
  case PATH_DOT: dot_backward_filter(cv); break;
#endif
  case PATH_BY_IMAGE: return false;
  case PATH_WIDE: s1_backward_filter(cv); break;
  default: im2col_backward_filter(cv); break;
  }
  return true;
}

static void conv_backward_filter(rt_pool *p, const rt_conv2d_shape *s, const void *x,
                                 const void *dy, void *dw, void *scratch, int esz) {
  Conv cv = conv_make(p, s, x, dy, dw, scratch, esz);
  backward_filter_run(&cv);
}

const char *rt_conv2d_path(const rt_conv2d_shape *s, int which, bool f64, bool pooled) {
  static const char *const names[] = {"row", "wide", "channels-last", "dot", "columns", "by-image"};
  static const float marker; /* a non-NULL dpool: the pooled variant */
  Conv cv = {.ar = rt_gemm_arch_get(f64 ? 8 : 4), .s = s, .esz = f64 ? 8 : 4,
             .ckk = s->C * s->KH * s->KW, .ohw = s->OH * s->OW, .kk = s->KH * s->KW,
             .dpool = pooled ? &marker : NULL};
  ConvPath path = which == 0 ? forward_path(&cv) : which == 1 ? data_path(&cv) : filter_path(&cv);
  return names[path];
}

/* Backward data and filter from a max-pooling gradient (rt_kernels.h). The
 * row, channels-last and few-taps kernels expand each task's planes of dy
 * into its thread buffer, image by image, just before they read them (same
 * sums in the same order as the unfused pair). Other shapes and archs go
 * image by image: expand dy[n] into scratch, then dx[n] = backward data of
 * image n, or dw = sum in order of the backward filter of each image. */
size_t rt_conv2d_pooled_scratch_bytes(const rt_conv2d_shape *s, int nthreads) {
  rt_conv2d_shape one = *s;
  one.N = 1;
  size_t a = rt_conv2d_scratch_bytes(s, nthreads), b = rt_conv2d_scratch_bytes(&one, nthreads);
  return (a > b ? a : b) + align64((size_t)(s->O * s->OH * s->OW) * sizeof(float)) +
         align64((size_t)(s->O * s->C * s->KH * s->KW) * sizeof(float));
}

/* The image-by-image fallback, in scratch after the convolution's own
 * part: dy[n] expanded, then dx[n] = backward data of image n (x == NULL),
 * or dw = sum in order of the backward filter of each image. */
static void pooled_by_image(Conv *cv, const float *x, const float *w, float *out, void *scratch) {
  const rt_conv2d_shape *s = cv->s;
  rt_conv2d_shape one = *s;
  one.N = 1;
  size_t conv_bytes = rt_conv2d_scratch_bytes(s, 1), one_bytes = rt_conv2d_scratch_bytes(&one, 1);
  float *dyi = (float *)((char *)scratch + (conv_bytes > one_bytes ? conv_bytes : one_bytes));
  float *dwi = dyi + align64((size_t)(s->O * cv->ohw) * sizeof(float)) / sizeof(float);
  int64_t ndw = s->O * cv->ckk, xn = s->C * s->H * s->W;
  for (int64_t n = 0; n < s->N; n++) {
    dy_planes(cv, NULL, n, 0, s->O, dyi);
    if (!x) {
      conv_backward_data(cv->pool, &one, dyi, w, out + n * xn, scratch, 4);
      continue;
    }
    conv_backward_filter(cv->pool, &one, x + n * xn, dyi, n ? dwi : out, scratch, 4);
    if (n)
      for (int64_t i = 0; i < ndw; i++) out[i] += dwi[i];
  }
}

void rt_conv2d_backward_data_pooled(rt_pool *p, const rt_conv2d_shape *s, const rt_pool2d_shape *ps,
                                    const uint8_t *tape, const float *dpool, const float *w, float *dx,
                                    void *scratch) {
  Conv cv = conv_make(p, s, NULL, w, dx, scratch, 4);
  cv.ps = ps, cv.tape = tape, cv.dpool = dpool;
  if (!backward_data_run(&cv)) pooled_by_image(&cv, NULL, w, dx, scratch);
}

void rt_conv2d_backward_filter_pooled(rt_pool *p, const rt_conv2d_shape *s,
                                      const rt_pool2d_shape *ps, const float *x,
                                      const uint8_t *tape, const float *dpool, float *dw,
                                      void *scratch) {
  Conv cv = conv_make(p, s, x, NULL, dw, scratch, 4);
  cv.ps = ps, cv.tape = tape, cv.dpool = dpool;
  if (!backward_filter_run(&cv)) pooled_by_image(&cv, x, NULL, dw, scratch);
}

void rt_conv2d_forward(rt_pool *p, const rt_conv2d_shape *s, const float *x, const float *w,
                       float *y, void *scratch) {
  conv_forward(p, s, x, w, y, scratch, 4);
}
void rt_conv2d_backward_data(rt_pool *p, const rt_conv2d_shape *s, const float *dy,
                             const float *w, float *dx, void *scratch) {
  conv_backward_data(p, s, dy, w, dx, scratch, 4);
}
void rt_conv2d_backward_filter(rt_pool *p, const rt_conv2d_shape *s, const float *x,
                               const float *dy, float *dw, void *scratch) {
  conv_backward_filter(p, s, x, dy, dw, scratch, 4);
}
void rt_conv2d_forward_f64(rt_pool *p, const rt_conv2d_shape *s, const double *x,
                           const double *w, double *y, void *scratch) {
  conv_forward(p, s, x, w, y, scratch, 8);
}
void rt_conv2d_backward_data_f64(rt_pool *p, const rt_conv2d_shape *s, const double *dy,
                                 const double *w, double *dx, void *scratch) {
  conv_backward_data(p, s, dy, w, dx, scratch, 8);
}
void rt_conv2d_backward_filter_f64(rt_pool *p, const rt_conv2d_shape *s, const double *x,
                                   const double *dy, double *dw, void *scratch) {
  conv_backward_filter(p, s, x, dy, dw, scratch, 8);
}
