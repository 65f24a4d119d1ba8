/* mpi_allreduce.c — the time of one MPI_Allreduce (sum, f32, in place) of
 * a buffer of each given size, the median of REPS calls after a warm-up,
 * as bench/mpi.sh's projection needs it. Rank 0 prints "BYTES SECONDS".
 *
 *   mpirun -np 2 ./mpi_allreduce REPS BYTES... */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int reps = argc > 1 ? atoi(argv[1]) : 50;
  if (reps < 1) reps = 1;
  double *t = malloc(sizeof *t * (size_t)reps);
  for (int a = 2; a < argc; a++) {
    size_t bytes = (size_t)atoll(argv[a]), n = bytes / 4 ? bytes / 4 : 1;
    float *buf = calloc(n, sizeof *buf);
    for (int i = 0; i < 5; i++) MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < reps; i++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      t[i] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    if (rank == 0) printf("%zu %.9f\n", n * 4, t[reps / 2]);
    free(buf);
  }
  free(t);
  MPI_Finalize();
  return 0;
}
