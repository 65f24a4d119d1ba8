/* rt_mpi.h — what data-parallel training needs from MPI, behind a small
 * interface so the runtime builds without MPI: rt_mpi.c (Open MPI, built
 * when CMake finds it; NNC_HAVE_MPI) or rt_mpi_none.c (a stub that runs
 * one process and refuses to run as several).
 *
 * Every collective waits at most `timeout` seconds: nonblocking MPI calls
 * polled against a deadline. A rank that does not answer in time (dead,
 * hung, stopped) makes the waiting ranks print an error naming it and
 * abort the whole job (MPI_Abort), so no rank hangs. */
#ifndef NN_RT_MPI_H
#define NN_RT_MPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "rt_core.h"

typedef struct rt_dist {
  int rank, size;     /* this process's rank of `size`; 0 and 1 without MPI */
  int local_size;     /* ranks on this machine (for the default thread count) */
  bool active;        /* MPI was initialized (size may still be 1) */
  double timeout;     /* seconds a collective may wait for the other ranks */
  const char *prog;   /* for messages */
  double comm_time;   /* seconds spent in rt_dist_sum so far */
  void *impl;         /* rt_mpi.c's state (the communicator) */
} rt_dist;

/* True when this runtime was built with MPI. */
bool rt_dist_built(void);
/* The number of ranks the launcher (Open MPI's mpirun, MPICH's or
 * Slurm's PMI) started, from its environment: 1 when not launched by one.
 * Needs no MPI: a program run on its own never initializes MPI. */
static inline int rt_dist_launched(void) {
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && atoi(v) > 0) return atoi(v);
  }
  return 1;
}
/* Joins the job when launched with more than one rank (MPI_Init); else
 * d is one process of one. Without MPI support, more than one rank is
 * NN_ERR_ARG saying that MPI support was not built. */
nn_status rt_dist_init(rt_dist *d, const char *prog, double timeout);
void rt_dist_finalize(rt_dist *d);
/* Sums n values of `dtype` (RT_DT_F32 or RT_DT_F64) in place over all
 * ranks: MPI_Iallreduce on buckets of at most bucket_bytes, all started at
 * once, then waited for. Every rank gets the same sum. */
void rt_dist_sum(rt_dist *d, void *buf, size_t n, int dtype, size_t bucket_bytes);
/* The gradient buffer summed as it becomes final: a step calls
 * rt_dist_grad_begin, the gradient function calls rt_dist_grad_ready
 * (through rt_call_ctx.grad_ready) for each parameter whose gradient it
 * has finished, and rt_dist_grad_finish starts what is left and waits.
 * The buffer splits into buckets of whole parameters of at most
 * bucket_bytes (a larger parameter alone), formed from the last parameter
 * backwards: the backward pass finishes the last layer's gradients first.
 * A bucket's MPI_Iallreduce starts when its last parameter is announced;
 * every rank runs the same code, so all start the buckets in the same
 * order, as MPI requires. Open MPI moves data only inside MPI calls, so
 * each announcement also tests the sums under way. */
typedef struct rt_dist_grad {
  rt_dist *d;
  unsigned char *buf;
  int dtype;
  int nparams, nb;        /* parameters, buckets */
  int *bucket;            /* the bucket of parameter i */
  size_t *lo, *hi;        /* bucket b: bytes [lo, hi) of buf */
  int *size, *left;       /* parameters in bucket b; of them not announced this step */
  int nstarted;           /* buckets started this step */
  void *reqs;             /* MPI_Request per started bucket */
  int64_t early, total;   /* buckets started before rt_dist_grad_finish, of all, over the steps */
} rt_dist_grad;
/* Buckets over n parameters at byte offsets off[0..n) (increasing) of a
 * buffer of `bytes`, elements of `dtype`. */
nn_status rt_dist_grad_init(rt_dist_grad *g, rt_dist *d, void *buf, int dtype, int n, const size_t *off,
                            size_t bytes, size_t bucket_bytes);
void rt_dist_grad_free(rt_dist_grad *g);
void rt_dist_grad_begin(rt_dist_grad *g);
/* Parameter `param`'s gradient is final (g is a rt_dist_grad *); -1: nothing new,
 * only test the sums under way. */
void rt_dist_grad_ready(void *g, int param);
/* Starts the buckets not started yet, in bucket order, and waits for all
 * (--mpi-timeout); the wait adds to d->comm_time. */
void rt_dist_grad_finish(rt_dist_grad *g);
/* The OR of every rank's flag. Each rank tells every other one, so a rank
 * that does not answer is named when the time is up. `what` names the
 * point of the program in that message. */
int rt_dist_any(rt_dist *d, int flag, const char *what);
/* Aborts every rank with exit status `code` (single process: exit). */
void rt_dist_abort(rt_dist *d, int code);

#endif
