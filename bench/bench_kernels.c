/* bench_kernels.c — speed of the runtime kernels on the shapes of the two
 * reference models (a benchmark, not a test; bench/kernels.sh runs it next
 * to PyTorch):
 *
 *   MLP 784-256-256-10, batch 128: per dense layer the forward x.W, the
 *       weight gradient x^T.g and the input gradient g.W^T.
 *   CNN, batch 64: conv3x3 1->32 on 28x28 (pad 1), maxpool 2; conv3x3
 *       32->64 on 14x14, maxpool 2; dense 3136->128->10.
 *   Recurrent steps (char_rnn, char_lstm: batch 32, hidden 256): the
 *       per-step h @ Wh, its input and weight gradients, and the first two
 *       again with Wh prepacked (+pp); whole-sequence products of
 *       char_rnn and tiny_gpt (seq.*: the output layer, the weight
 *       gradients X^T dY over K = B*T rows); M = 32 products around the size
 *       from which GEMM uses more than one thread (min.*); a 1024^3
 *       product for the peak.
 *
 *   The pool itself: an empty job, one whose two chunks must run at once
 *       (the handoff to a worker), elementwise adds of 64K and 256K floats.
 *
 * Output, one line per op and thread count, "key threads ms gflops"
 * (gflops is 0 for pooling and the pool ops, which move data rather than
 * computing).
 *
 *   bench_kernels [-t THREADS,...] [-i avx512|avx2|c] [-m MIN_SECONDS] [-k KEY-PREFIX]
 *                 [-c cpu|wall] [-q QUANTILE]
 * -c cpu times 1-thread runs in thread CPU time (more-thread runs stay
 * wall-clock: CPU time cannot show a speedup). -q Q times every call on
 * its own and prints the Q-quantile (0.5 the median) instead of the best
 * mean of 5 rounds: on a shared machine, -q 0.1 shows what 2 threads do
 * when both get a core.
 */
#include "rt_kernels.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum OpKind {
  GEMM, CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER, MAXPOOL_FWD, MAXPOOL_BWD,
  PAR_EMPTY, /* rt_parallel_for over M items of grain K, the task does nothing */
  PAR_MEET,  /* the same, but each of the 2 chunks waits (up to 1 ms) for the
                other to start: the latency of handing a job to a worker */
  PAR_ADD    /* rt_parallel_for as generated elementwise loops: c = a + b over M floats */
} OpKind;

/* One benchmarked op. GEMM: C[M,N] = op(A) op(B) with op(A) [M,K]. Conv
 * and pool: NCHW input [n,c,h,w], o output channels, 3x3 pad 1 / 2x2 s2. */
typedef struct Op {
  const char *key;
  OpKind kind;
  int64_t M, N, K;
  bool ta, tb;
  bool prepacked; /* GEMM with B packed once beforehand (rt_sgemm_prepacked) */
  int64_t n, c, h, w, o;
} Op;

static const Op ops[] = {
    /* MLP, batch 128: x[128,784] W1[784,256] W2[256,256] W3[256,10] */
    {"mlp.l1.fwd", GEMM, .M = 128, .N = 256, .K = 784, .ta = false, .tb = false},
    {"mlp.l1.dW", GEMM, .M = 784, .N = 256, .K = 128, .ta = true, .tb = false},   /* x^T g */
    {"mlp.l1.dX", GEMM, .M = 128, .N = 784, .K = 256, .ta = false, .tb = true},   /* g W^T (not needed in training) */
    {"mlp.l2.fwd", GEMM, .M = 128, .N = 256, .K = 256, .ta = false, .tb = false},
    {"mlp.l2.dW", GEMM, .M = 256, .N = 256, .K = 128, .ta = true, .tb = false},
    {"mlp.l2.dX", GEMM, .M = 128, .N = 256, .K = 256, .ta = false, .tb = true},
    {"mlp.l3.fwd", GEMM, .M = 128, .N = 10, .K = 256, .ta = false, .tb = false},
    {"mlp.l3.dW", GEMM, .M = 256, .N = 10, .K = 128, .ta = true, .tb = false},
    {"mlp.l3.dX", GEMM, .M = 128, .N = 256, .K = 10, .ta = false, .tb = true},
    /* CNN, batch 64 */
    {"cnn.conv1.fwd", CONV_FWD, .n = 64, .c = 1, .h = 28, .w = 28, .o = 32},
    {"cnn.conv1.bwd_data", CONV_BWD_DATA, .n = 64, .c = 1, .h = 28, .w = 28, .o = 32},
    {"cnn.conv1.bwd_filter", CONV_BWD_FILTER, .n = 64, .c = 1, .h = 28, .w = 28, .o = 32},
    {"cnn.pool1.fwd", MAXPOOL_FWD, .n = 64, .c = 32, .h = 28, .w = 28},
    {"cnn.pool1.bwd", MAXPOOL_BWD, .n = 64, .c = 32, .h = 28, .w = 28},
    {"cnn.conv2.fwd", CONV_FWD, .n = 64, .c = 32, .h = 14, .w = 14, .o = 64},
    {"cnn.conv2.bwd_data", CONV_BWD_DATA, .n = 64, .c = 32, .h = 14, .w = 14, .o = 64},
    {"cnn.conv2.bwd_filter", CONV_BWD_FILTER, .n = 64, .c = 32, .h = 14, .w = 14, .o = 64},
    {"cnn.pool2.fwd", MAXPOOL_FWD, .n = 64, .c = 64, .h = 14, .w = 14},
    {"cnn.pool2.bwd", MAXPOOL_BWD, .n = 64, .c = 64, .h = 14, .w = 14},
    {"cnn.d1.fwd", GEMM, .M = 64, .N = 128, .K = 3136, .ta = false, .tb = false},
    {"cnn.d1.dW", GEMM, .M = 3136, .N = 128, .K = 64, .ta = true, .tb = false},
    {"cnn.d1.dX", GEMM, .M = 64, .N = 3136, .K = 128, .ta = false, .tb = true},
    {"cnn.d2.fwd", GEMM, .M = 64, .N = 10, .K = 128, .ta = false, .tb = false},
    {"cnn.d2.dW", GEMM, .M = 128, .N = 10, .K = 64, .ta = true, .tb = false},
    {"cnn.d2.dX", GEMM, .M = 64, .N = 128, .K = 10, .ta = false, .tb = true},
    /* recurrent steps, batch 32, hidden 256: h[32,256] @ Wh (char_rnn: Wh[256,256];
       char_lstm: Wh[256,1024]), the input gradient g Wh^T, the weight gradient h^T g */
    {"rnn.step.fwd", GEMM, .M = 32, .N = 256, .K = 256, .ta = false, .tb = false},
    {"rnn.step.dX", GEMM, .M = 32, .N = 256, .K = 256, .ta = false, .tb = true},
    {"rnn.step.dW", GEMM, .M = 256, .N = 256, .K = 32, .ta = true, .tb = false},
    {"lstm.step.fwd", GEMM, .M = 32, .N = 1024, .K = 256, .ta = false, .tb = false},
    {"lstm.step.dX", GEMM, .M = 32, .N = 256, .K = 1024, .ta = false, .tb = true},
    {"lstm.step.dW", GEMM, .M = 256, .N = 1024, .K = 32, .ta = true, .tb = false},
    /* whole-sequence products (char_rnn: B*T = 2048 rows of hidden 256, vocabulary 96;
       tiny_gpt: B*T = 1024 rows of width 128, qkv 384, MLP 512): the output layer and
       the weight gradients X^T dY, summed over every step (K = B*T) */
    {"seq.rnn.Wy.fwd", GEMM, .M = 2048, .N = 96, .K = 256, .ta = false, .tb = false},
    {"seq.rnn.Wy.dX", GEMM, .M = 2048, .N = 256, .K = 96, .ta = false, .tb = true},
    {"seq.rnn.Wy.dW", GEMM, .M = 256, .N = 96, .K = 2048, .ta = true, .tb = false},
    {"seq.rnn.Wh.dW", GEMM, .M = 256, .N = 256, .K = 2048, .ta = true, .tb = false},
    {"seq.gpt.qkv.fwd", GEMM, .M = 1024, .N = 384, .K = 128, .ta = false, .tb = false},
    {"seq.gpt.qkv.dW", GEMM, .M = 128, .N = 384, .K = 1024, .ta = true, .tb = false},
    {"seq.gpt.fc.dX", GEMM, .M = 1024, .N = 128, .K = 512, .ta = false, .tb = true},
    {"seq.gpt.fc.dW", GEMM, .M = 128, .N = 512, .K = 1024, .ta = true, .tb = false},
    {"seq.gpt.proj.dW", GEMM, .M = 512, .N = 128, .K = 1024, .ta = true, .tb = false},
    /* the same with Wh prepacked once (what a loop-invariant weight allows) */
    {"rnn.step.fwd+pp", GEMM, .M = 32, .N = 256, .K = 256, .ta = false, .tb = false, .prepacked = true},
    {"rnn.step.dX+pp", GEMM, .M = 32, .N = 256, .K = 256, .ta = false, .tb = true, .prepacked = true},
    {"lstm.step.fwd+pp", GEMM, .M = 32, .N = 1024, .K = 256, .ta = false, .tb = false, .prepacked = true},
    {"lstm.step.dX+pp", GEMM, .M = 32, .N = 256, .K = 1024, .ta = false, .tb = true, .prepacked = true},
    /* the pool's dispatch cost: an empty job of 2 chunks, and an elementwise
       add at the size from which generated code goes parallel (65536
       elements, chunks of 16384: llvm_gen.c's PAR_MIN_ELEMS) and 4x that */
    {"par.empty", PAR_EMPTY, .M = 2, .K = 1},
    {"par.meet", PAR_MEET, .M = 2, .K = 1},
    {"par.add.64k", PAR_ADD, .M = 65536, .K = 16384},
    {"par.add.256k", PAR_ADD, .M = 262144, .K = 16384},
    /* around the size below which GEMM stays on one thread (rt_gemm.c's
       MIN_PARALLEL_MNK, 64*64*48): M = 32 products of 64K to 1M
       multiply-adds, where a 2-thread pool starts paying for itself */
    {"min.32x64x32", GEMM, .M = 32, .N = 64, .K = 32, .ta = false, .tb = false},
    {"min.32x128x48", GEMM, .M = 32, .N = 128, .K = 48, .ta = false, .tb = false},
    {"min.32x128x96", GEMM, .M = 32, .N = 128, .K = 96, .ta = false, .tb = false},
    {"min.32x256x128", GEMM, .M = 32, .N = 256, .K = 128, .ta = false, .tb = false},
    /* a large square product: the micro-kernel's sustained rate */
    {"sq.1024", GEMM, .M = 1024, .N = 1024, .K = 1024, .ta = false, .tb = false},
};

/* Wall clock, or with -c and one thread the calling thread's CPU time
 * (robust to being descheduled on a shared machine). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void) {
  struct timespec t;
  clock_gettime(bench_clock, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(int64_t n) {
  float *p = rt_alloc((size_t)n * sizeof(float));
  if (!p) {
    fprintf(stderr, "bench_kernels: out of memory\n");
    exit(1);
  }
  for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
  return p;
}

/* Buffers and shapes of one op, ready to run. */
typedef struct Prepared {
  const Op *op;
  rt_conv2d_shape cs;
  rt_pool2d_shape ps;
  float *a, *b, *c;
  void *scratch; /* conv scratch, or the prepacked B */
  double flops;
} Prepared;

static void prepare(Prepared *p, const Op *op) {
  memset(p, 0, sizeof *p);
  p->op = op;
  if (op->kind == PAR_EMPTY || op->kind == PAR_MEET || op->kind == PAR_ADD) {
    p->a = filled(op->M), p->b = filled(op->M), p->c = filled(op->M);
  } else if (op->kind == GEMM) {
    p->a = filled(op->M * op->K), p->b = filled(op->K * op->N), p->c = filled(op->M * op->N);
    p->flops = 2.0 * (double)op->M * (double)op->N * (double)op->K;
    if (op->prepacked) {
      p->scratch = rt_alloc(rt_sgemm_prepacked_bytes(op->K, op->N));
      rt_sgemm_prepack_b(NULL, op->tb, op->K, op->N, p->b, op->tb ? op->K : op->N, p->scratch);
    }
  } else if (op->kind == MAXPOOL_FWD || op->kind == MAXPOOL_BWD) {
    rt_pool2d_shape s = {op->n, op->c, op->h, op->w, 2, 2, 2, 2, 0, 0, op->h / 2, op->w / 2};
    p->ps = s;
    int64_t xn = op->n * op->c * op->h * op->w;
    p->a = filled(xn), p->b = filled(xn / 4), p->c = filled(xn);
  } else {
    rt_conv2d_shape s = {op->n, op->c, op->h, op->w, op->o, 3, 3, 1, 1, 1, 1, op->h, op->w};
    p->cs = s;
    int64_t xn = op->n * op->c * op->h * op->w, yn = op->n * op->o * op->h * op->w;
    int64_t wn = op->o * op->c * 9;
    p->scratch = rt_alloc(rt_conv2d_scratch_bytes(&s, 2));
    if (op->kind == CONV_FWD) p->a = filled(xn), p->b = filled(wn), p->c = filled(yn);
    if (op->kind == CONV_BWD_DATA) p->a = filled(yn), p->b = filled(wn), p->c = filled(xn);
    if (op->kind == CONV_BWD_FILTER) p->a = filled(xn), p->b = filled(yn), p->c = filled(wn);
    p->flops = 2.0 * (double)(op->n * op->o * op->h * op->w) * (double)(op->c * 9);
  }
}

static void release(Prepared *p) {
  rt_free(p->a), rt_free(p->b), rt_free(p->c), rt_free(p->scratch);
}

static void empty_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ctx, (void)begin, (void)end, (void)ti;
}

/* Chunk 0 and 1 meet: each says it started, then waits for the other (a
 * pool of 1 runs both in one call and does not wait). */
static void meet_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  atomic_int *started = ctx;
  int n = atomic_fetch_add(started, (int)(end - begin)) + (int)(end - begin);
  for (int i = 0; n < 2 && i < 1000000; i++) n = atomic_load(started);
}

static void add_task(void *ctx, int64_t begin, int64_t end, int ti) {
  (void)ti;
  const Prepared *p = ctx;
  for (int64_t i = begin; i < end; i++) p->c[i] = p->a[i] + p->b[i];
}

static void run_once(rt_pool *pool, const Prepared *p) {
  const Op *op = p->op;
  switch (op->kind) {
  case GEMM:
    if (op->prepacked)
      rt_sgemm_prepacked(pool, op->ta, op->M, op->N, op->K, 1.0f, p->a, op->ta ? op->M : op->K,
                         p->scratch, 0.0f, p->c, op->N);
    else
      rt_sgemm(pool, op->ta, op->tb, op->M, op->N, op->K, 1.0f, p->a, op->ta ? op->M : op->K,
               p->b, op->tb ? op->K : op->N, 0.0f, p->c, op->N);
    break;
  case CONV_FWD: rt_conv2d_forward(pool, &p->cs, p->a, p->b, p->c, p->scratch); break;
  case CONV_BWD_DATA: rt_conv2d_backward_data(pool, &p->cs, p->a, p->b, p->c, p->scratch); break;
  case CONV_BWD_FILTER: rt_conv2d_backward_filter(pool, &p->cs, p->a, p->b, p->c, p->scratch); break;
  case MAXPOOL_FWD: rt_maxpool2d_forward(pool, &p->ps, p->a, p->b); break;
  case MAXPOOL_BWD: rt_maxpool2d_backward(pool, &p->ps, p->a, p->b, p->c); break;
  case PAR_EMPTY: rt_parallel_for(pool, op->M, op->K, empty_task, NULL); break;
  case PAR_MEET: {
    atomic_int started = 0;
    rt_parallel_for(pool, 2, 1, meet_task, &started);
    break;
  }
  case PAR_ADD: rt_parallel_for(pool, op->M, op->K, add_task, (void *)p); break;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile of single-call times over about min_time (at most 100000
 * calls): on a loaded machine a low quantile is the speed the op has when
 * all its threads run, the mean mostly says how loaded the machine was. */
static double time_op_quantile(rt_pool *pool, const Prepared *p, double min_time, double q) {
  enum { MAX_SAMPLES = 100000 };
  static double t[MAX_SAMPLES];
  for (int i = 0; i < 3; i++) run_once(pool, p);
  int n = 0;
  for (double t0 = now(); n < MAX_SAMPLES && (n < 5 || now() - t0 < min_time); n++) {
    double s = now();
    run_once(pool, p);
    t[n] = now() - s;
  }
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return t[(int)(q * (n - 1))];
}

/* Best mean time per call over 5 rounds of about min_time/5 each. */
static double time_op(rt_pool *pool, const Prepared *p, double min_time) {
  for (int i = 0; i < 3; i++) run_once(pool, p);
  double t0 = now();
  int64_t reps = 0;
  while (now() - t0 < 0.02) run_once(pool, p), reps++;
  double per = (now() - t0) / (double)reps;
  int64_t n = (int64_t)(min_time / 5 / per) + 1;
  double best = 1e30;
  for (int round = 0; round < 5; round++) {
    double s = now();
    for (int64_t i = 0; i < n; i++) run_once(pool, p);
    double t = (now() - s) / (double)n;
    if (t < best) best = t;
  }
  return best;
}

int main(int argc, char **argv) {
  const char *threads = "1,2", *prefix = "";
  double min_time = 0.25, quantile = -1;
  bool cpu_clock = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-t")) threads = argv[i + 1];
    else if (!strcmp(argv[i], "-m")) min_time = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "-q")) quantile = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "-k")) prefix = argv[i + 1];
    else if (!strcmp(argv[i], "-c")) cpu_clock = !strcmp(argv[i + 1], "cpu");
    else if (!strcmp(argv[i], "-i")) {
      rt_isa isa = !strcmp(argv[i + 1], "avx512") ? RT_ISA_AVX512
                   : !strcmp(argv[i + 1], "avx2") ? RT_ISA_AVX2
                   : !strcmp(argv[i + 1], "c")    ? RT_ISA_C
                                                  : RT_ISA_AUTO;
      if (rt_kernels_set_isa(isa) != NN_OK) {
        fprintf(stderr, "bench_kernels: %s\n", rt_last_error());
        return 1;
      }
    } else {
      fprintf(stderr, "usage: bench_kernels [-t 1,2] [-i avx512|avx2|c] [-m seconds] "
                      "[-k prefix] [-c cpu|wall] [-q quantile]\n");
      return 2;
    }
  }
  printf("# isa %s\n", rt_isa_name(rt_kernels_isa()));
  for (const char *t = threads; *t;) {
    int nt = atoi(t);
    bench_clock = cpu_clock && nt == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    rt_pool *pool;
    if (rt_pool_create(&pool, nt) != NN_OK) {
      fprintf(stderr, "bench_kernels: %s\n", rt_last_error());
      return 1;
    }
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
      if (strncmp(ops[i].key, prefix, strlen(prefix))) continue;
      Prepared p;
      prepare(&p, &ops[i]);
      double s = quantile >= 0 && quantile <= 1 ? time_op_quantile(pool, &p, min_time, quantile)
                                                : time_op(pool, &p, min_time);
      printf("%-22s %d %10.5f %8.1f\n", ops[i].key, nt, s * 1e3, p.flops / s * 1e-9);
      fflush(stdout);
      release(&p);
    }
    rt_pool_destroy(pool);
    const char *comma = strchr(t, ',');
    t = comma ? comma + 1 : t + strlen(t);
  }
  return 0;
}
