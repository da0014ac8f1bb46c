/* The reference for `prunesweep bench allreduce`: in-place MPI_Allreduce of
 * floats with MPI_SUM, each timed alone after a barrier; prints the median
 * time and bytes/time as GB/s (10^9), from rank 0.
 * Build: mpicc -O2 -o allreduce bench/allreduce.c
 * Run:   mpirun -np 2 ./allreduce MIB [REPEATS]   (or FLOATS with a leading '=': =61706) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 2) {
        if (rank == 0) fprintf(stderr, "usage: allreduce MIB|=FLOATS [REPEATS]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    long count = argv[1][0] == '=' ? atol(argv[1] + 1) : (long)(atof(argv[1]) * 1048576.0) / 4;
    int repeats = argc > 2 ? atoi(argv[2]) : 50;
    if (count < 1 || count > 0x7fffffffL || repeats < 1) {
        if (rank == 0) fprintf(stderr, "allreduce: the buffer must hold 1 to 2^31-1 floats and repeats be >= 1\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    float *buf = malloc(count * sizeof(float));   /* [count] */
    double *times = malloc(repeats * sizeof(double));
    if (!buf || !times) MPI_Abort(MPI_COMM_WORLD, 1);

    /* the sum is right: every rank contributes rank + 1 */
    for (long i = 0; i < count; i++) buf[i] = (float)(rank + 1);
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (long i = 0; i < count; i++)
        if (buf[i] != (float)(size * (size + 1) / 2)) { fprintf(stderr, "allreduce: wrong sum on rank %d\n", rank); MPI_Abort(MPI_COMM_WORLD, 1); }

    for (long i = 0; i < count; i++) buf[i] = 0;
    for (int r = 0; r < 3; r++) MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);  /* warm-up */
    for (int r = 0; r < repeats; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        times[r] = MPI_Wtime() - t;
    }
    qsort(times, repeats, sizeof(double), by_value);
    double t = times[repeats / 2], bytes = 4.0 * count;
    if (rank == 0)
        printf("c MPI_Allreduce %.2f MiB (%ld floats) x %d on %d ranks: median %.3f ms  %.2f GB/s\n",
               bytes / 1048576, count, repeats, size, t * 1e3, bytes / t / 1e9);
    free(buf); free(times);
    MPI_Finalize();
    return 0;
}
