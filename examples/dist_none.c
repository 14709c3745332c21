/* One process, built without MPI. Started by a launcher as one of several processes, it refuses
   to run: each would train alone and all would append to one run, which TensorBoard draws as
   wrong curves. */
#include <stdio.h>

#include <tbw/dist.h>

#include "dist.h"

static int sum_floats(float *buf, size_t n) { (void)buf, (void)n; return 0; }
static int sum_doubles(double *buf, size_t n) { (void)buf, (void)n; return 0; }
static int bcast(void *buf, size_t bytes) { (void)buf, (void)bytes; return 0; }
static int agree(int failed) { return failed; }

int dist_start(int *argc, char ***argv, train_dist *d)
{
    (void)argc, (void)argv;
    *d = (train_dist){0, 1, 1, "none", sum_floats, sum_doubles, bcast, agree};
    tbw_dist_info info;
    char msg[256];
    if (tbw_dist_from_env(&info, msg, sizeof msg)) {
        fprintf(stderr, "error: %s\n", msg);
        return 2;
    }
    if (info.size > 1) {
        fprintf(stderr,
                "error: built without MPI; rebuild with -Dmpi=enabled (%s started this as rank %d of %d, and "
                "the ranks would train alone and write over one run)\n",
                info.source, info.rank, info.size);
        return 2;
    }
    return 0;
}

void dist_stop(const train_dist *d) { (void)d; }
