/* rt_mpi_none.c — rt_mpi.h without MPI (the runtime was built without
 * libopenmpi-dev, or with -DNNC_MPI=OFF): one process of one; a program
 * started as several ranks says MPI support was not built rather than
 * training P independent copies. */
#include <stdlib.h>

#include "rt_mpi.h"

bool rt_dist_built(void) { return false; }

nn_status rt_dist_init(rt_dist *d, const char *prog, double timeout) {
  *d = (rt_dist){.rank = 0, .size = 1, .local_size = 1, .timeout = timeout, .prog = prog};
  int n = rt_dist_launched();
  if (n > 1)
    return rt_error(NN_ERR_ARG, "started as %d MPI ranks, but MPI support was not built into this program (nnc's "
                    "runtime was compiled without Open MPI: install libopenmpi-dev and rebuild nnc)", n);
  return NN_OK;
}

void rt_dist_finalize(rt_dist *d) { (void)d; }

void rt_dist_sum(rt_dist *d, void *buf, size_t n, int dtype, size_t bucket_bytes) {
  (void)d, (void)buf, (void)n, (void)dtype, (void)bucket_bytes;
}

int rt_dist_any(rt_dist *d, int flag, const char *what) {
  (void)d, (void)what;
  return flag;
}

void rt_dist_abort(rt_dist *d, int code) {
  (void)d;
  exit(code);
}

/* One process has nothing to sum: rt_train.c does not call these then. */
nn_status rt_dist_grad_init(rt_dist_grad *g, rt_dist *d, void *buf, int dtype, int n, const size_t *off,
                            size_t bytes, size_t bucket_bytes) {
  (void)off, (void)bytes, (void)bucket_bytes;
  *g = (rt_dist_grad){.d = d, .buf = buf, .dtype = dtype, .nparams = n};
  return NN_OK;
}

void rt_dist_grad_free(rt_dist_grad *g) { (void)g; }
void rt_dist_grad_begin(rt_dist_grad *g) { (void)g; }
void rt_dist_grad_ready(void *g, int param) { (void)g, (void)param; }
void rt_dist_grad_finish(rt_dist_grad *g) { (void)g; }
