/**
 * @file dist.h
 * What the process launcher says about this process: its rank among the
 * processes of one job and how many share its machine. No MPI is needed or
 * linked; the probe only reads the variables launchers set.
 *
 * The writer never consults it by itself. A program decides what a rank does
 * (typically: rank 0 writes the run, the others open their writer with
 * opts.discard), so a Slurm array task or a lone srun step is never silently
 * muted.
 */
#ifndef TBW_DIST_H
#define TBW_DIST_H

#include <stddef.h>

#include <tbw/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** This process's place in its job. */
typedef struct tbw_dist_info {
    int rank;           /**< 0..size-1 */
    int size;           /**< processes in the job; 1 when no launcher is seen */
    int local_rank;     /**< 0..local_size-1 among the processes on this machine */
    int local_size;     /**< processes of the job on this machine */
    const char *source; /**< "openmpi", "pmi" (MPICH, Intel MPI), "slurm", "env" or "none"; static text */
} tbw_dist_info;

/**
 * Fills out from the first launcher whose variables are set, in this order:
 *  - Open MPI: OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE;
 *  - PMI (MPICH's Hydra, Intel MPI): PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS;
 *  - Slurm, inside a job step (srun): SLURM_PROCID, SLURM_STEP_NUM_TASKS (or SLURM_NTASKS),
 *    SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE's first count. A batch script alone is not a
 *    step (no SLURM_STEP_ID): its SLURM_NTASKS describes the allocation, not this process;
 *  - torchrun-style: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE.
 * With none of them: {0, 1, 0, 1, "none"}. When a launcher gives no local figures, the whole job
 * is taken to be on this machine (local_rank = rank, local_size = size), which never
 * oversubscribes the cores.
 *
 * @return 0; TBW_EINVAL (out NULL, or a value that is not a decimal integer in range, a rank not
 *         below its size, or a rank without its size); the message names the variable.
 *         On failure *out is {0, 1, 0, 1, "none"}.
 */
TBW_API int tbw_dist_from_env(tbw_dist_info *out, char *errmsg, size_t errmsg_len);

#ifdef __cplusplus
}
#endif

#endif
