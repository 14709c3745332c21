/* The collectives of dist.h over MPI: the world communicator, sums in place, rank 0 as root. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

#include "dist.h"

/* MPI counts are int: a larger buffer goes in chunks. */
#define CHUNK ((size_t)1 << 30)

static int report(int err, const char *what)
{
    if (err == MPI_SUCCESS)
        return 0;
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(err, s, &n);
    fprintf(stderr, "error: %s: %s\n", what, s);
    return -1;
}

static int sum_floats(float *buf, size_t n)
{
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        if (report(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                   "MPI_Allreduce of the gradients"))
            return -1;
    }
    return 0;
}

static int sum_doubles(double *buf, size_t n)
{
    return report(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce of the metrics");
}

static int bcast(void *buf, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t k = bytes - off < CHUNK ? bytes - off : CHUNK;
        if (report(MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast"))
            return -1;
    }
    return 0;
}

static int agree(int failed)
{
    int any = failed;
    if (MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return failed ? failed : 1;
    return any;
}

int dist_start(int *argc, char ***argv, train_dist *d)
{
    int provided;
    /* Only the main thread calls MPI; the engine's and the writer's threads never do. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "error: MPI_Init_thread failed\n");
        return 1;
    }
    int rank = 0, size = 1, local = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    /* Errors come back as codes (and are reported), not as an abort inside MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    *d = (train_dist){rank, size, local, "MPI", sum_floats, sum_doubles, bcast, agree};
    return 0;
}

void dist_stop(const train_dist *d)
{
    (void)d;
    MPI_Finalize();
}
