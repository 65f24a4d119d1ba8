/* rt_threads.c — the thread pool the kernels run on.
 *
 * A pool of n threads is the caller plus n-1 workers created once. A job
 * (rt_parallel_for) is published in one atomic word, the ticket:
 * (job sequence number, number of chunks, next chunk). Threads claim chunks
 * by compare-and-swap on the ticket, so a claim succeeds only while its job
 * is current and has chunks left; the job's other fields (fn, ctx, sizes)
 * are read only after a successful claim, when they are known to be stable.
 * The caller claims chunks too and returns when all chunks are *finished*
 * (a `done` counter), never waiting for a worker that took nothing: a
 * descheduled worker costs nothing, the caller just does more chunks.
 *
 * Idle workers spin on the ticket for SPIN_NS before sleeping on a
 * condition variable: kernels are called back to back from generated code,
 * and a futex wake-up per call would cost more than a small GEMM. The
 * caller spins less (CALLER_SPIN_NS) for chunks others claimed: parts are
 * balanced, so a long wait means a worker was preempted. Spinning is pause
 * instructions only, no system call: sched_yield, which the spin loops
 * once called every few microseconds, moves the yielding thread's deadline
 * a whole time slice later under Linux's EEVDF scheduler, so on a busy
 * machine a spinning worker lost its core for milliseconds at a time and
 * took almost no chunks. The spin's time bound is what keeps a shared
 * machine fair. Sleeping is lock-free on the fast path: each side
 * publishes its own flag/counter with a sequentially consistent store,
 * then reads the other's (Dekker), so at least one of them sees the other
 * and no wake-up is lost.
 *
 * Each pool thread owns one scratch buffer of rt_thread_scratch_bytes(),
 * allocated at create, for the GEMM/conv packing (rt_pool_thread_scratch).
 * A thread-local record says which pool/thread a task runs as, which is
 * how nested calls are detected and run serially. */
#include "rt_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 200000       /* how long an idle worker polls before sleeping */
#define CALLER_SPIN_NS 50000 /* how long the caller polls for others' chunks */
#define MAX_CHUNKS 4096 /* chunks per job; fits the ticket's 16-bit fields */

/* ticket = seq << 32 | nchunks << 16 | next */
static inline uint64_t ticket_make(uint32_t seq, uint32_t nchunks, uint32_t next) {
  return (uint64_t)seq << 32 | (uint64_t)nchunks << 16 | next;
}
static inline uint32_t ticket_seq(uint64_t t) { return (uint32_t)(t >> 32); }
static inline uint32_t ticket_nchunks(uint64_t t) { return (uint32_t)(t >> 16) & 0xffff; }
static inline uint32_t ticket_next(uint64_t t) { return (uint32_t)t & 0xffff; }

struct rt_pool {
  int n;                   /* threads including the caller (>= 1) */
  pthread_t *workers;      /* n-1 worker threads */
  void **scratch;          /* n per-thread buffers, index = thread_index */
  pthread_mutex_t submit;  /* serializes jobs from several outside threads */
  pthread_mutex_t lock;    /* pairs with the two condition variables */
  pthread_cond_t wake;     /* workers sleep here waiting for a new job */
  pthread_cond_t done_cv;  /* the caller sleeps here waiting for the last chunk */
  atomic_int sleepers;     /* workers in (or entering) the wake wait */
  atomic_bool caller_sleeping; /* the caller is in (or entering) the done wait */
  atomic_bool stop;        /* set once, by destroy */
  _Atomic uint64_t ticket; /* the current job and its next chunk (see above) */
  atomic_int done;         /* chunks of the current job finished */
  uint32_t seq;            /* the caller's job counter (under `submit`) */
  /* The current job, written by the caller before publishing the ticket. */
  rt_task_fn fn;
  void *ctx;
  int64_t items;           /* n of rt_parallel_for */
  int64_t chunk;           /* items per chunk (the last may be short) */
};

/* What the current thread is doing: running chunks of `pool` as thread
 * `index`, nested `depth` deep (0 = not in a task). */
static _Thread_local struct {
  rt_pool *pool;
  int index;
  int depth;
} self;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* One poll of a spin loop. */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Claim and run chunks of job `seq` until none is left. */
static void run_chunks(rt_pool *p, uint32_t seq, int index) {
  uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
  for (;;) {
    if (ticket_seq(t) != seq || ticket_next(t) >= ticket_nchunks(t)) return;
    if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue; /* t was reloaded */
    /* Claimed chunk c of a job that cannot finish before we do: its
     * fields are stable until our `done` increment below. */
    int64_t c = ticket_next(t), nchunks = ticket_nchunks(t);
    int64_t b = c * p->chunk, e = b + p->chunk < p->items ? b + p->chunk : p->items;
    p->fn(p->ctx, b, e, index);
    if (atomic_fetch_add(&p->done, 1) + 1 == nchunks && atomic_load(&p->caller_sleeping)) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done_cv);
      pthread_mutex_unlock(&p->lock);
    }
    t = atomic_load_explicit(&p->ticket, memory_order_acquire);
  }
}

/* Wait until the ticket's job differs from `seen` (or the pool stops):
 * spin first, then sleep. Returns the new job's sequence number. */
static uint32_t wait_job(rt_pool *p, uint32_t seen) {
  uint64_t start = now_ns();
  for (int i = 0;; i++) {
    uint32_t s = ticket_seq(atomic_load_explicit(&p->ticket, memory_order_acquire));
    if (s != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return s;
    cpu_relax();
    if ((i & 63) == 63 && now_ns() - start > SPIN_NS) break;
  }
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add(&p->sleepers, 1);
  uint32_t s;
  while ((s = ticket_seq(atomic_load(&p->ticket))) == seen && !atomic_load(&p->stop))
    pthread_cond_wait(&p->wake, &p->lock);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->lock);
  return s;
}

typedef struct WorkerArg {
  rt_pool *pool;
  int index;
} WorkerArg;

static void *worker_main(void *arg) {
  rt_pool *p = ((WorkerArg *)arg)->pool;
  int index = ((WorkerArg *)arg)->index;
  rt_free(arg);
  uint32_t seen = 0;
  self.pool = p;
  self.index = index;
  for (;;) {
    seen = wait_job(p, seen);
    if (atomic_load(&p->stop)) break;
    self.depth = 1;
    run_chunks(p, seen, index);
    self.depth = 0;
  }
  return NULL;
}

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* Stop and join workers [0, started) and free everything. */
static void pool_free(rt_pool *p, int started) {
  pthread_mutex_lock(&p->lock);
  atomic_store(&p->stop, true);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
  if (p->scratch)
    for (int i = 0; i < p->n; i++) rt_free(p->scratch[i]);
  rt_free(p->scratch);
  rt_free(p->workers);
  pthread_cond_destroy(&p->done_cv);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->submit);
  rt_free(p);
}

nn_status rt_pool_create(rt_pool **out, int nthreads) {
  if (!out) return rt_error(NN_ERR_NULL, "rt_pool_create: out is NULL");
  *out = NULL;
  int n = nthreads > 0 ? nthreads : online_cpus();
  if (n > MAX_CHUNKS / 4) n = MAX_CHUNKS / 4;
  rt_pool *p = rt_calloc(1, sizeof *p);
  if (!p) return rt_error(NN_ERR_NOMEM, "thread pool: out of memory");
  p->n = n;
  pthread_mutex_init(&p->submit, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->caller_sleeping, false);
  atomic_init(&p->stop, false);
  atomic_init(&p->ticket, ticket_make(0, 0, 0));
  atomic_init(&p->done, 0);
  p->workers = rt_calloc((size_t)n, sizeof *p->workers);
  p->scratch = rt_calloc((size_t)n, sizeof *p->scratch);
  bool ok = p->workers && p->scratch;
  size_t bytes = rt_thread_scratch_bytes();
  for (int i = 0; ok && i < n; i++) ok = (p->scratch[i] = rt_alloc(bytes)) != NULL;
  if (!ok) {
    pool_free(p, 0);
    return rt_error(NN_ERR_NOMEM, "thread pool of %d threads: out of memory", n);
  }
  for (int i = 1; i < n; i++) {
    WorkerArg *arg = rt_alloc(sizeof *arg); /* the worker frees it */
    if (arg) *arg = (WorkerArg){p, i};
    if (!arg || pthread_create(&p->workers[i - 1], NULL, worker_main, arg) != 0) {
      rt_free(arg);
      pool_free(p, i - 1);
      return rt_error(NN_ERR_NOMEM, "thread pool: could only start %d of %d threads", i - 1,
                      n - 1);
    }
  }
  *out = p;
  return NN_OK;
}

void rt_pool_destroy(rt_pool *p) {
  if (p) pool_free(p, p->n - 1);
}

int rt_pool_size(const rt_pool *p) { return p ? p->n : 1; }

void *rt_pool_thread_scratch(rt_pool *p, int thread_index) {
  if (!p || self.pool != p || self.index != thread_index || self.depth != 1) return NULL;
  return p->scratch[thread_index];
}

/* Run fn over [0,n) on the calling thread as thread `index` of p. */
static void run_serial(rt_pool *p, int index, int64_t n, rt_task_fn fn, void *ctx) {
  rt_pool *saved_pool = self.pool;
  int saved_index = self.index;
  self.pool = p;
  self.index = index;
  self.depth++;
  fn(ctx, 0, n, index);
  self.depth--;
  self.pool = saved_pool;
  self.index = saved_index;
}

void rt_parallel_for(rt_pool *p, int64_t n, int64_t grain, rt_task_fn fn, void *ctx) {
  rt_parallel_for_staged(p, NULL, n, grain, fn, ctx);
}

/* One job of fn over [0,n) on p, run by the caller (p->submit held) and
 * the workers; returns when every chunk is done. */
static void job_locked(rt_pool *p, int64_t n, int64_t grain, rt_task_fn fn, void *ctx) {
  if (grain < 1) grain = 1;
  int64_t nchunks = (n + grain - 1) / grain;
  if (nchunks > 4 * (int64_t)p->n) nchunks = 4 * (int64_t)p->n;
  if (p->n == 1 || nchunks <= 1) {
    run_serial(p, 0, n, fn, ctx);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->items = n;
  p->chunk = (n + nchunks - 1) / nchunks;
  nchunks = (n + p->chunk - 1) / p->chunk;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  uint32_t seq = ++p->seq;
  if (seq == 0) seq = ++p->seq; /* 0 means "no job yet" to the workers */
  atomic_store(&p->ticket, ticket_make(seq, (uint32_t)nchunks, 0)); /* publish */
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
  }

  self.pool = p;
  self.index = 0;
  self.depth = 1;
  run_chunks(p, seq, 0);
  self.depth = 0;
  self.pool = NULL;

  /* Wait for chunks other threads claimed. */
  uint64_t start = now_ns();
  for (int i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < nchunks; i++) {
    cpu_relax();
    if ((i & 63) == 63 && now_ns() - start > CALLER_SPIN_NS) {
      pthread_mutex_lock(&p->lock);
      atomic_store(&p->caller_sleeping, true);
      while (atomic_load(&p->done) < nchunks) pthread_cond_wait(&p->done_cv, &p->lock);
      atomic_store(&p->caller_sleeping, false);
      pthread_mutex_unlock(&p->lock);
      break;
    }
  }
}

void rt_parallel_for_staged(rt_pool *p, rt_task_fn prologue, int64_t n, int64_t grain,
                            rt_task_fn fn, void *ctx) {
  rt_parallel_for_stages(p, prologue, 0, NULL, n, grain, fn, ctx);
}

void rt_parallel_for_stages(rt_pool *p, rt_task_fn prologue, int64_t n1, rt_task_fn fn1, int64_t n,
                            int64_t grain, rt_task_fn fn, void *ctx) {
  if (n <= 0) return;
  if (!p) {
    if (prologue) prologue(ctx, 0, 1, 0);
    if (fn1 && n1 > 0) fn1(ctx, 0, n1, 0);
    fn(ctx, 0, n, 0);
    return;
  }
  if (self.depth > 0) { /* nested: serial, keeping our thread's identity */
    rt_pool *q = self.pool == p ? p : NULL;
    int index = self.pool == p ? self.index : 0;
    if (prologue) run_serial(q, index, 1, prologue, ctx);
    if (fn1 && n1 > 0) run_serial(q, index, n1, fn1, ctx);
    run_serial(q, index, n, fn, ctx);
    return;
  }
  pthread_mutex_lock(&p->submit);
  if (prologue) run_serial(p, 0, 1, prologue, ctx);
  if (fn1 && n1 > 0) job_locked(p, n1, 1, fn1, ctx);
  job_locked(p, n, grain, fn, ctx);
  pthread_mutex_unlock(&p->submit);
}
