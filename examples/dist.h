/* The collectives mnist_cnn needs for data-parallel training, behind function pointers so that
   train.c (shared with hparam_sweep) links no MPI. dist_mpi.c fills them from MPI when the build
   has it (-Dmpi); dist_none.c is the one-process stand-in, which refuses to run under a launcher
   that started several processes. Every rank calls every collective in the same order; only
   rank 0 writes the shared run. */
#ifndef TBW_EXAMPLES_DIST_H
#define TBW_EXAMPLES_DIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct train_dist {
    int rank, size;          /* this process among the job's */
    int local_size;          /* processes of the job on this machine (for the thread default) */
    const char *kind;        /* "MPI" or "none" */
    /* In-place sums over all ranks; 0 or -1 (message printed). */
    int (*sum_floats)(float *buf, size_t n);
    int (*sum_doubles)(double *buf, size_t n);
    /* Rank 0's bytes into every rank's buf. */
    int (*bcast)(void *buf, size_t bytes);
    /* The largest `failed` over all ranks: how the ranks agree that one of them could not go on. */
    int (*agree)(int failed);
} train_dist;

/* Starts the job's side of this process (MPI_Init) and fills d. Returns 0, or the exit status the
   program should end with (after a message): 2 when a build without MPI is started by a launcher
   as one of several processes. */
int dist_start(int *argc, char ***argv, train_dist *d);
/* Ends it (MPI_Finalize). */
void dist_stop(const train_dist *d);

#endif
