/* The gradient exchange of data-parallel mnist_cnn, alone: an in-place MPI_Allreduce (sum) of the
 * lecture net's 3,274,634 float gradients (13.10 MB) between the job's ranks, against a memcpy of
 * the same buffer. Prints the median of R rounds of one call each. Run under mpiexec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#define FLOATS 3274634

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    if (rounds < 1 || rounds > 10000)
        rounds = 20;
    float *g = malloc(FLOATS * sizeof *g), *copy = malloc(FLOATS * sizeof *copy);
    double *t = malloc((size_t)rounds * sizeof *t), *c = malloc((size_t)rounds * sizeof *c);
    if (!g || !copy || !t || !c) {
        fprintf(stderr, "allreduce_bench: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int i = 0; i < FLOATS; i++)
        g[i] = 1e-6f * (float)(i % 1000);
    MPI_Allreduce(MPI_IN_PLACE, g, FLOATS, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        MPI_Allreduce(MPI_IN_PLACE, g, FLOATS, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = now() - t0;
        t0 = now();
        memcpy(copy, g, FLOATS * sizeof *g);
        c[r] = now() - t0;
    }
    qsort(t, (size_t)rounds, sizeof *t, cmp);
    qsort(c, (size_t)rounds, sizeof *c, cmp);
    if (rank == 0) {
        double mb = FLOATS * 4.0 / 1e6;
        printf("allreduce %d ranks %.2f MB: median %.2f ms (%.1f GB/s algorithm bandwidth), best %.2f ms; "
               "memcpy median %.2f ms; ratio %.2f; %d rounds\n",
               size, mb, t[rounds / 2] * 1e3, mb / 1e3 / t[rounds / 2], t[0] * 1e3, c[rounds / 2] * 1e3,
               t[rounds / 2] / c[rounds / 2], rounds);
    }
    free(g);
    free(copy);
    free(t);
    free(c);
    MPI_Finalize();
    return 0;
}
