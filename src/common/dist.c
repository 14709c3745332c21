/* tbw_dist_from_env: the launcher's variables, parsed strictly. */
#include <tbw/dist.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define DIST_MAX (1 << 24) /* more processes than any job has; a larger value is a typo */

/* A launcher's four variables; local ones may be NULL (not offered). */
typedef struct launcher {
    const char *source, *rank, *size, *local_rank, *local_size;
} launcher;

/* The decimal integer in variable name, 0..DIST_MAX: 1 and *v, 0 if unset, -1 if malformed. */
static int env_int(tbw__err e, const char *name, int *v)
{
    const char *s = name ? getenv(name) : NULL;
    if (!s)
        return 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        goto bad;
    errno = 0;
    char *end;
    long x = strtol(p, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end || x > DIST_MAX)
        goto bad;
    *v = (int)x;
    return 1;
bad:
    tbw__fail(e, TBW_EINVAL, "%s='%.40s' is not a process count or rank (0..%d)", name, s, DIST_MAX);
    return -1;
}

/* The first count of a Slurm tasks-per-node list such as "2(x3),1": 1 and *v, 0 if unset, -1 if
   malformed. */
static int slurm_first_count(tbw__err e, const char *name, int *v)
{
    const char *s = getenv(name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long x = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : -1;
    if (x < 1 || errno || x > DIST_MAX || (*end && *end != '(' && *end != ',')) {
        tbw__fail(e, TBW_EINVAL, "%s='%.40s' is not a Slurm tasks-per-node list", name, s);
        return -1;
    }
    *v = (int)x;
    return 1;
}

static int from(tbw__err e, const launcher *l, tbw_dist_info *out, bool *found)
{
    int rank = 0, size = 1, lrank = 0, lsize = 0;
    int hr = env_int(e, l->rank, &rank), hs = env_int(e, l->size, &size);
    if (hr < 0 || hs < 0)
        return TBW_EINVAL;
    if (!hr && !hs)
        return TBW_OK;
    if (!hs)
        return tbw__fail(e, TBW_EINVAL, "%s is set but %s is not", l->rank, l->size);
    if (!hr)
        return tbw__fail(e, TBW_EINVAL, "%s is set but %s is not", l->size, l->rank);
    if (size < 1 || rank >= size)
        return tbw__fail(e, TBW_EINVAL, "%s=%d is not below %s=%d", l->rank, rank, l->size, size);
    int hlr = env_int(e, l->local_rank, &lrank);
    int hls = strcmp(l->source, "slurm") == 0 ? slurm_first_count(e, l->local_size, &lsize)
                                               : env_int(e, l->local_size, &lsize);
    if (hlr < 0 || hls < 0)
        return TBW_EINVAL;
    if (hlr && hls) {
        if (lsize < 1 || lrank >= lsize || lsize > size)
            return tbw__fail(e, TBW_EINVAL, "%s=%d, %s=%d do not fit a job of %d", l->local_rank, lrank,
                             l->local_size, lsize, size);
    } else {
        lrank = rank; /* no local figures: the whole job counts as this machine's */
        lsize = size;
    }
    *out = (tbw_dist_info){rank, size, lrank, lsize, l->source};
    *found = true;
    return TBW_OK;
}

int tbw_dist_from_env(tbw_dist_info *out, char *errmsg, size_t errmsg_len)
{
    tbw__err e = TBW__ERR_BUF(errmsg, errmsg_len);
    tbw__fail(e, TBW_OK, "%s", "");
    if (!out)
        return tbw__fail(e, TBW_EINVAL, "out is NULL");
    *out = (tbw_dist_info){0, 1, 0, 1, "none"};
    /* In a Slurm step SLURM_STEP_NUM_TASKS is the step's size; SLURM_NTASKS is used only inside a
       step, never in a batch script, where it is the allocation's. */
    const char *slurm_size = getenv("SLURM_STEP_NUM_TASKS")       ? "SLURM_STEP_NUM_TASKS"
                             : getenv("SLURM_STEP_ID") ? "SLURM_NTASKS"
                                                       : NULL;
    const launcher ls[] = {
        {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
         "OMPI_COMM_WORLD_LOCAL_SIZE"},
        {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
        {"slurm", slurm_size ? "SLURM_PROCID" : NULL, slurm_size, "SLURM_LOCALID", "SLURM_STEP_TASKS_PER_NODE"},
        {"env", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    };
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) {
        bool found = false;
        tbw_dist_info got;
        int rc = from(e, &ls[i], &got, &found);
        if (rc) {
            *out = (tbw_dist_info){0, 1, 0, 1, "none"};
            return rc;
        }
        if (found) {
            *out = got;
            return TBW_OK;
        }
    }
    return TBW_OK;
}
