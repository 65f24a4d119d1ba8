/* rt_kernels.h — the compute kernels generated code calls: a thread pool,
 * GEMM (f32/f64, plain and batched), 2-D convolution and 2-D pooling.
 *
 * Layouts are row-major (C order) throughout; images are NCHW. Kernels
 * never allocate on the call path: GEMM packs into buffers the pool
 * allocated per thread at rt_pool_create (or, with pool == NULL, into one
 * lazily allocated buffer per calling thread that is reused), and
 * convolution uses the pool's buffers plus caller-provided `scratch`.
 *
 * Instruction sets: every kernel runs on AVX-512 (F+VL+BW+DQ), AVX2+FMA
 * and portable C; the best one the CPU supports is chosen at run time
 * (rt_kernels_isa). AVX-512 and AVX2 have the same set of paths (GEMM
 * micro-kernels and packers, the f32 convolution row and few-taps
 * kernels, the 2x2 pooling loops); portable C is the fallback and lacks
 * the f32 row and few-taps convolution kernels. Results differ between
 * instruction sets in the last bits (different blocking and fused
 * multiply-adds), never between runs or thread counts on one of them
 * (see "Determinism").
 *
 * Determinism. With a fixed instruction set:
 *  - rt_sgemm/rt_dgemm and the batched forms give bit-identical results for
 *    any pool (NULL, 1, 2, ... threads): C is partitioned into disjoint
 *    tiles, and each element is summed over k in an order fixed by K alone.
 *  - The convolutions give bit-identical results for any pool as well:
 *    forward and backward-data partition the output; backward-filter sums
 *    the batch in fixed groups of consecutive images (the grouping depends
 *    only on the shape), each group in order n, then the groups in order.
 *  - Pooling is exact per element (max) or summed in a fixed window order.
 * rt_parallel_for itself promises nothing about which thread runs which
 * chunk; its chunk boundaries depend on n, grain and the pool size. */
#ifndef NN_RT_KERNELS_H
#define NN_RT_KERNELS_H

#include "rt_core.h"

/* ---- thread pool --------------------------------------------------------- */

/* Thread pool. nthreads <= 0 means the number of online CPUs (at most 1024
   threads either way). Each thread gets its GEMM/conv buffers
   (rt_thread_scratch_bytes(), about 1.7 MB) at creation. Workers are
   created once; rt_parallel_for runs fn over [0,n) split into chunks of at
   least `grain` items, the caller's thread participating, and returns when
   all are done. pool == NULL or size 1 runs serially on the caller. Not
   reentrant from inside a task (a nested call runs serially). Calls from
   several outside threads on one pool are serialized (each waits its turn).
   Workers spin briefly after a job before sleeping, so back-to-back kernel
   calls do not pay a futex wake-up each. Fails with NN_ERR_NOMEM (nothing
   leaked) when memory or threads cannot be had. */
typedef struct rt_pool rt_pool;
nn_status rt_pool_create(rt_pool **out, int nthreads);
void rt_pool_destroy(rt_pool *p);              /* NULL ok */
int rt_pool_size(const rt_pool *p);            /* 1 for NULL */
/* fn(ctx, begin, end, thread_index): items [begin,end); thread_index in
   [0, rt_pool_size(p)) names the executing thread (0 = the caller), is
   unique among concurrently running chunks, and may index per-thread state.
   A nested call reuses the index of the task that made it. */
typedef void (*rt_task_fn)(void *ctx, int64_t begin, int64_t end, int thread_index);
void rt_parallel_for(rt_pool *p, int64_t n, int64_t grain, rt_task_fn fn, void *ctx);
/* rt_parallel_for with a first stage: prologue(ctx, 0, 1, ti) runs once on
   the calling thread, as the thread index its chunks get (0 outside a
   task), with that thread's scratch (rt_pool_thread_scratch), then fn
   runs over [0,n) as rt_parallel_for; every chunk sees the prologue's
   writes. Jobs of other outside threads cannot run in between (GEMM packs
   A once into thread 0's buffer this way, for all threads to read).
   Nothing runs when n <= 0. */
void rt_parallel_for_staged(rt_pool *p, rt_task_fn prologue, int64_t n, int64_t grain,
                            rt_task_fn fn, void *ctx);
/* The same with a parallel stage between: after the prologue, fn1 runs
   over [0,n1) (as rt_parallel_for with grain 1), and fn
   starts only when every fn1 chunk is done and sees their writes; still
   one job for other outside threads (GEMM's panels split packs A into
   thread 0's buffer on every thread this way). */
void rt_parallel_for_stages(rt_pool *p, rt_task_fn prologue, int64_t n1, rt_task_fn fn1, int64_t n,
                            int64_t grain, rt_task_fn fn, void *ctx);

/* ---- GEMM ---------------------------------------------------------------- */

/* Row-major GEMM: C[M,N] = alpha * op(A) @ op(B) + beta * C, where op(A) is
   A[M,K] (lda >= K) or, if transA, A is stored [K,M] (lda >= M) and op(A) = A^T;
   likewise B[K,N] (ldb >= N) or stored [N,K] when transB. beta == 0 means C is
   written without being read (NaNs in C are ignored). M, N or K == 0 and
   alpha == 0 are allowed (then C = beta*C, or 0 when beta == 0, without
   reading A or B). No allocation per call (see the top of this file). */
void rt_sgemm(rt_pool *p, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc);
void rt_dgemm(rt_pool *p, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
              double alpha, const double *A, int64_t lda, const double *B, int64_t ldb,
              double beta, double *C, int64_t ldc);
/* Batched: for b in [0,batch): the same with A + b*strideA, B + b*strideB,
   C + b*strideC (strides in elements; the C matrices must not overlap). */
void rt_sgemm_batched(rt_pool *p, bool transA, bool transB, int64_t batch,
                      int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, int64_t strideA,
                      const float *B, int64_t ldb, int64_t strideB, float beta,
                      float *C, int64_t ldc, int64_t strideC);
void rt_dgemm_batched(rt_pool *p, bool transA, bool transB, int64_t batch,
                      int64_t M, int64_t N, int64_t K, double alpha,
                      const double *A, int64_t lda, int64_t strideA,
                      const double *B, int64_t ldb, int64_t strideB, double beta,
                      double *C, int64_t ldc, int64_t strideC);

/* Prepacked B, for a B used by many products (a recurrent weight, h @ Wh
   at every step): rt_sgemm_prepack_b packs op(B)[K,N] (transB as in
   rt_sgemm) once into dst, then rt_sgemm_prepacked computes
   C[M,N] = alpha * op(A) @ op(B) + beta * C from it, with the same result,
   bit for bit, as rt_sgemm on the same instruction set and arguments, for
   any pool (threads split the product as rt_sgemm does; the stored panels
   make a split of N free).
   rt_sgemm_prepacked_bytes(K, N) is the size of dst: an upper bound for
   every instruction set of this build (so it may be computed at compile
   time, on another machine), a multiple of 64; dst must be 64-byte
   aligned. The packed layout depends on the instruction set (process-
   wide, rt_kernels_isa), so packing and multiplying must see the same one:
   do not call rt_kernels_set_isa in between. If they differ anyway, the
   product is still correct (from the packer's layout, recorded in dst) but
   slow and not bit-identical to rt_sgemm. K or N == 0 is allowed (dst is
   then only a header). The packed data does not point back at B: B may
   change or go once it is packed. No allocation per call. */
size_t rt_sgemm_prepacked_bytes(int64_t K, int64_t N);
void rt_sgemm_prepack_b(rt_pool *p, bool transB, int64_t K, int64_t N, const float *B, int64_t ldb,
                        void *dst);
void rt_sgemm_prepacked(rt_pool *p, bool transA, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const void *Bp, float beta, float *C,
                        int64_t ldc);
size_t rt_dgemm_prepacked_bytes(int64_t K, int64_t N);
void rt_dgemm_prepack_b(rt_pool *p, bool transB, int64_t K, int64_t N, const double *B,
                        int64_t ldb, void *dst);
void rt_dgemm_prepacked(rt_pool *p, bool transA, int64_t M, int64_t N, int64_t K, double alpha,
                        const double *A, int64_t lda, const void *Bp, double beta, double *C,
                        int64_t ldc);

/* ---- convolution --------------------------------------------------------- */

/* 2-D convolution, NCHW. x[N,C,H,W], w[O,C,KH,KW], y[N,O,OH,OW] with
   OH = (H + 2*PH - KH)/SH + 1, OW likewise; zero padding; no bias (the compiler
   adds it). Outputs are overwritten, not accumulated. `scratch` is
   caller-provided memory of at least rt_conv2d_scratch_bytes(s, nthreads)
   bytes (64-byte aligned), so no call allocates. One scratch size serves all
   six functions, f32 and f64. The size does not in fact depend on nthreads
   (per-thread buffers come from the pool), so any pool may be passed. Calls
   running at the same time need separate scratch.
   Shapes must satisfy rt_conv2d_shape_check; the kernels do not re-check. */
typedef struct rt_conv2d_shape {
  int64_t N, C, H, W; /* input: batch, channels, height, width (all >= 1) */
  int64_t O;          /* output channels (>= 1) */
  int64_t KH, KW;     /* kernel height, width (>= 1) */
  int64_t SH, SW;     /* strides (>= 1) */
  int64_t PH, PW;     /* zero padding on each side (>= 0) */
  int64_t OH, OW;     /* output size, as computed above (>= 1) */
} rt_conv2d_shape;
/* NN_OK when every field is in range and OH/OW match the formula. */
nn_status rt_conv2d_shape_check(const rt_conv2d_shape *s);
size_t rt_conv2d_scratch_bytes(const rt_conv2d_shape *s, int nthreads);
/* y[N,O,OH,OW] = conv(x[N,C,H,W], w[O,C,KH,KW]) */
void rt_conv2d_forward(rt_pool *p, const rt_conv2d_shape *s, const float *x,
                       const float *w, float *y, void *scratch);
/* dx[N,C,H,W] = d(loss)/dx given dy[N,O,OH,OW] (a transposed convolution) */
void rt_conv2d_backward_data(rt_pool *p, const rt_conv2d_shape *s, const float *dy,
                             const float *w, float *dx, void *scratch);
/* dw[O,C,KH,KW] = sum over the batch of dy (x) x (order: see Determinism).
   With stride 1 and few input channels, a non-finite x next to the padding
   may turn into NaN in more dw entries than exact arithmetic would give
   (junk columns multiply zeros by it); finite inputs are not affected. */
void rt_conv2d_backward_filter(rt_pool *p, const rt_conv2d_shape *s, const float *x,
                               const float *dy, float *dw, void *scratch);
/* f64 versions, same shapes; they run the same blocked algorithm as f32 */
void rt_conv2d_forward_f64(rt_pool *p, const rt_conv2d_shape *s, const double *x,
                           const double *w, double *y, void *scratch);
void rt_conv2d_backward_data_f64(rt_pool *p, const rt_conv2d_shape *s, const double *dy,
                                 const double *w, double *dx, void *scratch);
void rt_conv2d_backward_filter_f64(rt_pool *p, const rt_conv2d_shape *s, const double *x,
                                   const double *dy, double *dw, void *scratch);

/* ---- pooling ------------------------------------------------------------- */

/* Pooling, NCHW: x[N,C,H,W] -> y[N,C,OH,OW], OH = (H + 2*PH - KH)/SH + 1.
   Max pooling treats padding as -infinity; the argmax of a window is the
   FIRST maximal element in row-major window order; a NaN counts as maximal
   (the first NaN wins, as in PyTorch). A window that holds only padding has
   y = -infinity and no argmax (its dy is dropped, its pick is 0). Avg pooling
   divides by KH*KW (padding counts as zeros, like PyTorch's
   count_include_pad=True). Shapes must satisfy rt_pool2d_shape_check. */
typedef struct rt_pool2d_shape {
  int64_t N, C, H, W; /* input (all >= 1) */
  int64_t KH, KW;     /* window (>= 1) */
  int64_t SH, SW;     /* strides (>= 1) */
  int64_t PH, PW;     /* padding on each side (>= 0) */
  int64_t OH, OW;     /* output size, as computed above (>= 1) */
} rt_pool2d_shape;
nn_status rt_pool2d_shape_check(const rt_pool2d_shape *s);

/* The window rule conv2d and pooling share: the KHxKW window fits the
   padded HxW input and the output is ((H + 2 PH - KH) / SH + 1) x (same
   for W). op ("conv2d") and what ("kernel") name them in the message. */
nn_status rt_window2d_check(const char *op, const char *what, int64_t H, int64_t W, int64_t KH, int64_t KW,
                            int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t OH, int64_t OW);
/* y[N,C,OH,OW] = max over each window of x[N,C,H,W] */
void rt_maxpool2d_forward(rt_pool *p, const rt_pool2d_shape *s, const float *x, float *y);
/* dx = 0 everywhere, then dx[argmax of each window] += dy[window] (overlapping windows accumulate) */
void rt_maxpool2d_backward(rt_pool *p, const rt_pool2d_shape *s, const float *x,
                           const float *dy, float *dx);
/* The forward and backward with an argmax tape: the forward also writes
   tape[N,C,OH,OW] (one byte per window: the argmax's index kh*KW+kw inside
   the window, 255 for a window of padding only; needs KH*KW < 255) and the
   backward reads it instead of x. Same results as the functions above. */
void rt_maxpool2d_forward_tape(rt_pool *p, const rt_pool2d_shape *s, const float *x, float *y,
                               uint8_t *tape);
void rt_maxpool2d_backward_tape(rt_pool *p, const rt_pool2d_shape *s, const uint8_t *tape,
                                const float *dy, float *dx);
/* One (image, channel) plane of rt_maxpool2d_backward_tape: tape and dy
   are [OH,OW], dx is [H,W]. */
void rt_maxpool2d_backward_tape_plane(const rt_pool2d_shape *s, const uint8_t *tape,
                                      const float *dy, float *dx);
/* rt_conv2d_backward_data and _filter where dy is the max-pooling gradient
   rt_maxpool2d_backward_tape(ps, tape, dpool, dy) (ps's input is the
   convolution's output: ps->N, C, H, W = s->N, O, OH, OW), without
   materializing dy: each task expands the planes it needs next to the
   kernel that consumes them. scratch: rt_conv2d_pooled_scratch_bytes. */
size_t rt_conv2d_pooled_scratch_bytes(const rt_conv2d_shape *s, int nthreads);
void rt_conv2d_backward_data_pooled(rt_pool *p, const rt_conv2d_shape *s,
                                    const rt_pool2d_shape *ps, const uint8_t *tape,
                                    const float *dpool, const float *w, float *dx, void *scratch);
void rt_conv2d_backward_filter_pooled(rt_pool *p, const rt_conv2d_shape *s,
                                      const rt_pool2d_shape *ps, const float *x,
                                      const uint8_t *tape, const float *dpool, float *dw,
                                      void *scratch);
/* Shape thresholds of the convolution paths (rt_conv.c), also read by the
   compiler's memory plan (plan.c), which leaves a pooling gradient on its
   tape only where a kernel above expands it in place:
   - the row kernel (stride 1, forward and backward data) wants output rows
     (backward data: input rows) of at least RT_CONV_ROW_MIN_OW pixels and
     RT_CONV_ROW_MIN_CHANNELS output (backward data: input) channels, along
     which its vectors run;
   - channels last (backward filter, any stride) needs C >= RT_CONV_CL_MIN_C
     to fill the GEMM's vectors;
   - the few-taps kernel (backward filter, stride 1, f32) runs its vectors
     along output rows: at least RT_CONV_DOT_MIN_OW pixels. */
#define RT_CONV_ROW_MIN_OW 6
#define RT_CONV_ROW_MIN_CHANNELS 8
#define RT_CONV_CL_MIN_C 16
#define RT_CONV_DOT_MIN_OW 12
/* y[window] = h[argmax of x in that window], h has x's shape (this is the adjoint of maxpool2d_backward w.r.t. dy) */
void rt_maxpool2d_pick(rt_pool *p, const rt_pool2d_shape *s, const float *x,
                       const float *h, float *y);
/* y[N,C,OH,OW] = mean over each window (divided by KH*KW) */
void rt_avgpool2d_forward(rt_pool *p, const rt_pool2d_shape *s, const float *x, float *y);
/* dx[N,C,H,W] = sum over the windows containing each element of dy/(KH*KW); overwrites dx */
void rt_avgpool2d_backward(rt_pool *p, const rt_pool2d_shape *s, const float *dy, float *dx);
void rt_maxpool2d_forward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x, double *y);
void rt_maxpool2d_backward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x,
                               const double *dy, double *dx);
void rt_maxpool2d_pick_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x,
                           const double *h, double *y);
void rt_avgpool2d_forward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *x, double *y);
void rt_avgpool2d_backward_f64(rt_pool *p, const rt_pool2d_shape *s, const double *dy, double *dx);

/* ---- instruction-set selection -------------------------------------------- */

typedef enum rt_isa {
  RT_ISA_AUTO = 0,   /* the best the CPU supports (the default) */
  RT_ISA_C = 1,      /* portable C */
  RT_ISA_AVX2 = 2,   /* AVX2 + FMA */
  RT_ISA_AVX512 = 3  /* AVX-512 F, VL, BW, DQ */
} rt_isa;
/* Force an instruction set (tests and benchmarks use it to reach every
   path). NN_ERR_ARG if the CPU lacks it. Not thread-safe: call it while no
   kernel runs. RT_ISA_AUTO picks the best the CPU has, capped by the
   environment variable NNC_ISA=avx512|avx2|c when it is set to one the CPU
   has (other values are ignored); nnc reads the same variable when it
   targets the host, so the generated loops follow the same cap. */
nn_status rt_kernels_set_isa(rt_isa isa);
rt_isa rt_kernels_isa(void);             /* the one in use, never AUTO */
const char *rt_isa_name(rt_isa isa);     /* "avx512", "avx2", "c", "auto" */

/* ---- internals shared by rt_gemm.c, rt_conv.c and rt_threads.c ----------- */
/* Not for generated code. A "GEMM arch" is one instruction set's micro-kernel
 * with its packing routines and cache blocking, for one element type. The
 * driver (rt_gemm.c) and the convolutions (rt_conv.c) are written against it
 * with untyped pointers so that f32 and f64 share one blocked algorithm.
 *
 * Packed formats: a packed A block (m x k of op(A)) is ceil(m/mr) panels,
 * each k groups of mr consecutive elements (rows i..i+mr-1 at one p),
 * zero-filled past m. A packed B block (k x n of op(B)) is ceil(n/nr)
 * panels, each k groups of nr consecutive elements, zero-filled past n. */
typedef struct rt_gemm_arch {
  rt_isa isa;
  int esz;            /* element size in bytes: 4 (f32) or 8 (f64) */
  int mr, nr;         /* micro-tile: mr rows of C by nr columns */
  int ngran;          /* column split granularity that wastes no work (nr or nr/2) */
  int64_t kc, mc, nc; /* cache blocks: depth, rows of A per pack, columns of B per pack */
  /* C[m,n] (m <= mr, n <= nr) = alpha * Ap.Bp + beta * C over depth k;
     beta == 0: C is not read. The arithmetic of one element does not depend
     on m or n (edge tiles give the same bits as full ones). */
  void (*kernel)(int64_t k, const void *a, const void *b, void *c, int64_t ldc,
                 int m, int n, double alpha, double beta);
  /* Pack rows [0,rows) x depth [0,k) of a matrix whose element (r, p) is at
     src[contig ? p*ld + r : r*ld + p] into panels of width w (= mr or nr).
     With a table `off` (NULL: unused) the lines start at offsets instead:
     src[contig ? off[p] + r : off[r] + p]; the convolutions use it to read
     a padded image as an implicit column matrix. */
  void (*pack)(bool contig, const void *src, int64_t ld, const int64_t *off, int64_t rows,
               int64_t k, int w, void *dst);
  /* Optional (NULL when absent; then row_mr is 0): the convolution row
     kernel. For m <= row_mr output pixels i and n <= nr channels j:
     y[j*ldy + i] = sum over p < k of a[off[p] + i] * b[p*nr + j], b a packed
     nr-wide panel; y is overwritten. It may read a[off[p] + i] for every
     i < row_mr (the extra lanes are dropped), so up to row_mr elements past
     the last one used must be readable. */
  void (*row_kernel)(int64_t k, const void *a, const int64_t *off, const void *b, void *y,
                     int64_t ldy, int m, int n);
  int row_mr;
  /* Optional (NULL when absent): `kernel` with B unpacked, row p of the
     nr-wide B at b + boff[p]. */
  void (*kernel_ib)(int64_t k, const void *a, const void *b, const int64_t *boff, void *c,
                    int64_t ldc, int m, int n, double alpha, double beta);
  /* Optional (NULL when absent): the small-M kernel, for products of a few
     rows (one request served at a time), which read A and B unpacked.
     C[m,n] (m <= small_mr, n <= small_nr) = alpha * op(A).B + beta * C over
     depth k, where row i of op(A) has element p at a[i*ars + p*acs] and
     B's element (p, j) is at b[(j / pw) * ps + p*ldb + j % pw] (a row-major
     B: pw > n, ps = 0; prepacked panels: pw = ldb = nr, ps = nr*k). Each
     element gets `kernel`'s arithmetic over the same depth, so a row of C
     has the same bits whichever of the two computed it. */
  void (*small)(int64_t k, const void *a, int64_t ars, int64_t acs, int m, const void *b,
                int64_t ldb, int64_t pw, int64_t ps, void *c, int64_t ldc, int n, double alpha,
                double beta);
  int small_mr, small_nr; /* small_nr: a multiple of nr */
} rt_gemm_arch;

/* Products of at most RT_GEMM_SMALL_M rows (a batch of one or a few)
   whose B is row-major or prepacked go through the arch's `small` kernel
   when it has one (f32 on AVX-512 and AVX2): B is read where it is
   instead of being packed whole for a few rows. The bits are those of the packed path, so rows
   computed one call at a time equal a batch call's rows. */
#define RT_GEMM_SMALL_M 8

/* The arch in use for f32 (esz 4) or f64 (esz 8). */
const rt_gemm_arch *rt_gemm_arch_get(int esz);
/* Bytes of packed A block, packed B block, and the extra work block
   (max(kc*nc, mc*nc, mc*kc) elements, and at least 768 KB) for `ar`. */
size_t rt_gemm_pack_a_bytes(const rt_gemm_arch *ar);
size_t rt_gemm_pack_b_bytes(const rt_gemm_arch *ar);
size_t rt_gemm_work_bytes(const rt_gemm_arch *ar);
/* Bytes of one thread's buffer: enough for pack A + pack B + work of every
   arch (f32 and f64), each part 64-byte aligned. The pool allocates one per
   thread; rt_thread_buffers splits one into its three parts. */
size_t rt_thread_scratch_bytes(void);
void rt_thread_buffers(const rt_gemm_arch *ar, void *scratch, void **pack_a,
                       void **pack_b, void **work);
/* The calling task's per-thread buffer of pool p, or NULL when the caller
   is not running a (non-nested) task of p as thread `thread_index`. */
void *rt_pool_thread_scratch(rt_pool *p, int thread_index);
/* Pack op(A) rows [0,m) x depth [0,k) (A points at the block's first
   element; trans as in rt_sgemm) into mr-panels; op(B) depth [0,k) x
   columns [0,n) into nr-panels. */
void rt_gemm_pack_a(const rt_gemm_arch *ar, bool transA, const void *A, int64_t lda,
                    int64_t m, int64_t k, void *dst);
void rt_gemm_pack_b(const rt_gemm_arch *ar, bool transB, const void *B, int64_t ldb,
                    int64_t k, int64_t n, void *dst);
/* C[m,n] = alpha * Ap.Bp + beta * C for packed blocks of depth k. */
void rt_gemm_macro(const rt_gemm_arch *ar, int64_t m, int64_t n, int64_t k,
                   const void *Ap, const void *Bp, void *C, int64_t ldc,
                   double alpha, double beta);
/* Depth blocking used everywhere: K is cut into equal blocks of at most
   ar->kc; returns the block size (the last block may be shorter). */
int64_t rt_gemm_kblock(const rt_gemm_arch *ar, int64_t K);
/* The tm x tn grid (tm*tn <= T) that threads split an M x N x K product
   into: 1 x 1 when the product is too small to be worth waking threads. */
void rt_gemm_grid(const rt_gemm_arch *ar, int64_t M, int64_t N, int64_t K, int T,
                  int *tm, int *tn);
/* How rt_sgemm (esz 4) or rt_dgemm (8) shares an M x N x K product among
   T threads with the arch in use, prepacked B or not: "serial", "grid"
   (C cut into one part per thread) or "panels" (A packed once, threads
   claim runs of B's panels). Tests use it to reach every path. */
const char *rt_gemm_path(int esz, int64_t M, int64_t N, int64_t K, int T, bool prepacked);
/* The strategy the convolutions take for shape s with the arch in use
   (rt_conv.c): which = 0 forward, 1 backward data, 2 backward filter; f64
   or f32; pooled: the _pooled variant (f32). One of "row", "wide",
   "channels-last", "dot", "columns", "by-image". Tests use it to make
   sure their shapes reach every path on every instruction set. */
const char *rt_conv2d_path(const rt_conv2d_shape *s, int which, bool f64, bool pooled);
/* Split [0,n) into `parts` ranges at multiples of `gran` (balanced);
   returns the start of range `i` (i == parts gives n). */
int64_t rt_split(int64_t n, int64_t gran, int parts, int i);

#endif
