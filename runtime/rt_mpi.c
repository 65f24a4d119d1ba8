/* rt_mpi.c — rt_mpi.h on MPI (compiled when CMake finds MPI; the runtime
 * then defines NNC_HAVE_MPI and programs link libmpi).
 *
 * MPI is initialized only when a launcher started several ranks, so a
 * program run on its own pays nothing. Only the main thread calls MPI
 * (MPI_THREAD_FUNNELED); the thread pool's workers never do.
 *
 * Timeouts: MPI's blocking collectives wait forever for a rank that hangs.
 * Here every wait is a nonblocking call polled (with short sleeps, so a
 * waiting rank leaves the core to a computing one) until a deadline. A
 * rank that is dead makes mpirun end the job on its own (it names the
 * rank); one that hangs or is stopped is named by rt_dist_any, whose
 * point-to-point messages show who did not answer, and the job is
 * aborted with MPI_Abort. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rt_model.h"
#include "rt_mpi.h"

typedef struct Impl {
  MPI_Comm comm;       /* a duplicate of MPI_COMM_WORLD: our messages only */
  int *flags;          /* rt_dist_any's receive buffer, one per rank */
  MPI_Request *reqs;   /* room for 2 * size requests */
  int seq;             /* rt_dist_any calls so far (the message tag) */
} Impl;

bool rt_dist_built(void) { return true; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Open MPI moves a large message only inside MPI calls, so a wait polls
 * without pause at first (a 1 MB sum takes a few thousand polls); a long
 * wait (a slower rank, a checkpoint being written) sleeps between polls
 * and leaves the core to others. */
static void nap(int polls) {
  if (polls < 8192) return;
  struct timespec ts = {0, polls < 65536 ? 10000 : 200000};
  nanosleep(&ts, NULL);
}

nn_status rt_dist_init(rt_dist *d, const char *prog, double timeout) {
  *d = (rt_dist){.rank = 0, .size = 1, .local_size = 1, .timeout = timeout, .prog = prog};
  if (rt_dist_launched() <= 1) return NN_OK;
  int provided = 0;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return rt_error(NN_ERR_IO, "MPI_Init_thread failed");
  Impl *im = rt_alloc(sizeof *im);
  if (!im) return rt_error(NN_ERR_NOMEM, "out of memory");
  memset(im, 0, sizeof *im);
  MPI_Comm_dup(MPI_COMM_WORLD, &im->comm);
  MPI_Comm_rank(im->comm, &d->rank);
  MPI_Comm_size(im->comm, &d->size);
  MPI_Comm local;
  MPI_Comm_split_type(im->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &d->local_size);
  MPI_Comm_free(&local);
  im->flags = rt_alloc(sizeof(int) * (size_t)d->size);
  im->reqs = rt_alloc(sizeof(MPI_Request) * 2 * (size_t)d->size);
  if (!im->flags || !im->reqs) return rt_error(NN_ERR_NOMEM, "out of memory");
  d->impl = im;
  d->active = true;
  return NN_OK;
}

void rt_dist_finalize(rt_dist *d) {
  if (!d->active) return;
  Impl *im = d->impl;
  MPI_Comm_free(&im->comm);
  rt_free(im->flags);
  rt_free(im->reqs);
  rt_free(im);
  d->impl = NULL;
  d->active = false;
  MPI_Finalize();
}

void rt_dist_abort(rt_dist *d, int code) {
  fflush(stdout);
  fflush(stderr);
  if (d->active) MPI_Abort(MPI_COMM_WORLD, code);
  exit(code);
}

/* Polls reqs[0..n) until all are done or the deadline passes; returns
 * whether they are done. */
static bool wait_all(rt_dist *d, int n, MPI_Request *reqs) {
  double deadline = now() + d->timeout;
  for (int polls = 0;; polls++) {
    int done = 0;
    MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
    if (done) return true;
    if (now() > deadline) return false;
    nap(polls);
  }
}

/* Sends flag to every other rank and receives theirs into im->flags with
 * tag `tag`, waiting at most `secs`. Returns true when all answered; else
 * writes the ranks that did not ("1, 3") to who. */
static bool exchange(rt_dist *d, int flag, int tag, double secs, char *who, size_t nwho) {
  Impl *im = d->impl;
  int P = d->size, nr = 0;
  for (int r = 0; r < P; r++) {
    im->flags[r] = r == d->rank ? flag : 0;
    if (r != d->rank) MPI_Irecv(&im->flags[r], 1, MPI_INT, r, tag, im->comm, &im->reqs[nr++]);
  }
  for (int r = 0; r < P; r++)
    if (r != d->rank) MPI_Isend(&flag, 1, MPI_INT, r, tag, im->comm, &im->reqs[nr++]);
  double saved = d->timeout;
  d->timeout = secs;
  bool ok = wait_all(d, nr, im->reqs);
  d->timeout = saved;
  if (ok) return true;
  /* the receives come first, one per other rank in order */
  size_t k = 0;
  int i = 0, missing = 0;
  who[0] = 0;
  for (int r = 0; r < P; r++) {
    if (r == d->rank) continue;
    int done = 0;
    MPI_Test(&im->reqs[i++], &done, MPI_STATUS_IGNORE);
    if (!done && k + 16 < nwho) k += (size_t)snprintf(who + k, nwho - k, "%s%d", missing++ ? ", " : "", r);
  }
  return false;
}

/* The tag of the probe that names the missing ranks after a timeout. */
#define PROBE_TAG 0x7fff

/* A sum that did not complete in time: names the ranks that do not
 * answer and stops the job. */
static void sum_failed(rt_dist *d) {
  /* the ranks that are alive time out too: those that do not answer a
   * probe within a few seconds are the ones to name */
  char who[256];
  bool all = exchange(d, 0, PROBE_TAG, d->timeout < 5 ? d->timeout : 5, who, sizeof who);
  fprintf(stderr, "%s: rank %d: error: the gradient sum did not complete within %g s (--mpi-timeout): %s%s%s; "
          "stopping all ranks\n", d->prog, d->rank, d->timeout, all ? "a rank is dead or hung" : "no answer from rank ",
          all ? "" : who, all ? "" : " (dead or hung)");
  rt_dist_abort(d, 1);
}

void rt_dist_sum(rt_dist *d, void *buf, size_t n, int dtype, size_t bucket_bytes) {
  if (!d->active || d->size == 1 || !n) return;
  Impl *im = d->impl;
  double t0 = now();
  size_t es = dtype == RT_DT_F64 ? 8 : 4, per = bucket_bytes / es ? bucket_bytes / es : 1;
  MPI_Datatype mt = dtype == RT_DT_F64 ? MPI_DOUBLE : MPI_FLOAT;
  enum { MAXB = 256 };
  MPI_Request reqs[MAXB];
  size_t nb = (n + per - 1) / per;
  if (nb > MAXB) per = (n + MAXB - 1) / MAXB, nb = (n + per - 1) / per;
  for (size_t b = 0; b < nb; b++) {
    size_t off = b * per, cnt = n - off < per ? n - off : per;
    MPI_Iallreduce(MPI_IN_PLACE, (char *)buf + off * es, (int)cnt, mt, MPI_SUM, im->comm, &reqs[b]);
  }
  if (!wait_all(d, (int)nb, reqs)) sum_failed(d);
  d->comm_time += now() - t0;
}

nn_status rt_dist_grad_init(rt_dist_grad *g, rt_dist *d, void *buf, int dtype, int n, const size_t *off,
                            size_t bytes, size_t bucket_bytes) {
  *g = (rt_dist_grad){.d = d, .buf = buf, .dtype = dtype, .nparams = n};
  size_t m = n > 0 ? (size_t)n : 1;
  g->bucket = rt_calloc(m, sizeof *g->bucket);
  g->lo = rt_calloc(m, sizeof *g->lo);
  g->hi = rt_calloc(m, sizeof *g->hi);
  g->size = rt_calloc(m, sizeof *g->size);
  g->left = rt_calloc(m, sizeof *g->left);
  g->reqs = rt_calloc(m, sizeof(MPI_Request));
  if (!g->bucket || !g->lo || !g->hi || !g->size || !g->left || !g->reqs) {
    rt_dist_grad_free(g);
    return rt_error(NN_ERR_NOMEM, "out of memory");
  }
  /* from the last parameter backwards: parameter i spans [off[i], end) */
  size_t end = bytes;
  for (int i = n - 1; i >= 0; end = off[i--]) {
    int b = g->nb - 1;
    if (b < 0 || g->hi[b] - off[i] > bucket_bytes) {
      b = g->nb++;
      g->hi[b] = end;
    }
    g->lo[b] = off[i];
    g->bucket[i] = b;
    g->size[b]++;
  }
  return NN_OK;
}

void rt_dist_grad_free(rt_dist_grad *g) {
  rt_free(g->bucket);
  rt_free(g->lo);
  rt_free(g->hi);
  rt_free(g->size);
  rt_free(g->left);
  rt_free(g->reqs);
  memset(g, 0, sizeof *g);
}

void rt_dist_grad_begin(rt_dist_grad *g) {
  for (int b = 0; b < g->nb; b++) g->left[b] = g->size[b];
  g->nstarted = 0;
}

static void start_bucket(rt_dist_grad *g, int b) {
  Impl *im = g->d->impl;
  size_t es = g->dtype == RT_DT_F64 ? 8 : 4;
  g->left[b] = -1; /* started */
  MPI_Iallreduce(MPI_IN_PLACE, g->buf + g->lo[b], (int)((g->hi[b] - g->lo[b]) / es),
                 g->dtype == RT_DT_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, im->comm,
                 (MPI_Request *)g->reqs + g->nstarted++);
}

void rt_dist_grad_ready(void *gp, int param) {
  rt_dist_grad *g = gp;
  if (param >= g->nparams) return;
  int b = param >= 0 ? g->bucket[param] : -1; /* -1: no news, progress only */
  if (b >= 0 && g->left[b] > 0 && --g->left[b] == 0) {
    start_bucket(g, b);
    g->early++;
  }
  int done;
  if (g->nstarted) MPI_Testall(g->nstarted, g->reqs, &done, MPI_STATUSES_IGNORE); /* progress */
}

void rt_dist_grad_finish(rt_dist_grad *g) {
  rt_dist *d = g->d;
  double t0 = now();
  for (int b = 0; b < g->nb; b++)
    if (g->left[b] >= 0) start_bucket(g, b);
  g->total += g->nb;
  if (!wait_all(d, g->nstarted, g->reqs)) sum_failed(d);
  d->comm_time += now() - t0;
}

int rt_dist_any(rt_dist *d, int flag, const char *what) {
  if (!d->active || d->size == 1) return flag;
  Impl *im = d->impl;
  char who[256];
  if (!exchange(d, flag, im->seq++ % PROBE_TAG, d->timeout, who, sizeof who)) {
    fprintf(stderr, "%s: rank %d: error: no answer from rank %s within %g s (--mpi-timeout) %s: dead or hung; "
            "stopping all ranks\n", d->prog, d->rank, who, d->timeout, what);
    rt_dist_abort(d, 1);
  }
  int any = 0;
  for (int r = 0; r < d->size; r++) any |= im->flags[r];
  return any;
}
