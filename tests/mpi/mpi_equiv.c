/* Data-parallel training across real MPI processes equals one process on the whole batch: each
 * rank trains its shard of every global batch (loss gradient scaled by n_r / B, one in-place
 * MPI_Allreduce of the flat gradients), while rank 0 also trains a reference model on the whole
 * batch in-process. After 20 steps the weights match within 1e-5 relative, and they are bitwise
 * equal across ranks. Not on the forking case runner (a fork after MPI_Init is not allowed): it
 * prints its cases itself, and rank 0 prints the "N passed, N failed" line for all ranks. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "../nn/dist_net.h"

static cnn_model *net(size_t batch, cnn_optimizer opt, uint64_t seed)
{
    return dist_net(batch, 1, opt, seed);
}

/* The same pseudo-random batches on every rank. */
static float lcg_uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xFFFFFF) / 16777216.0f;
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Returns 1 if the case passed on this rank. */
static int train_case(const char *name, size_t B, cnn_optimizer opt, int rank, int size)
{
    size_t q = B / (size_t)size, extra = B % (size_t)size, ur = (size_t)rank;
    size_t n_r = q + (ur < extra), first = ur * q + (ur < extra ? ur : extra);
    /* a different seed per rank, as mnist_cnn does: the broadcast must make the weights equal */
    cnn_model *m = net(n_r, opt, 11 + (uint64_t)rank), *ref = rank == 0 ? net(B, opt, 11) : NULL;
    int ok = m != NULL && (rank != 0 || ref != NULL);
    size_t count = 0;
    float *w = ok ? cnn_model_params_flat(m, &count) : NULL;
    ok = ok && cnn_model_set_loss_grad_scale(m, (float)n_r / (float)B) == 0;
    ok = ok && MPI_Bcast(w, (int)count, MPI_FLOAT, 0, MPI_COMM_WORLD) == MPI_SUCCESS;
    float *x = malloc(B * PX * sizeof *x);
    int32_t *y = malloc(B * sizeof *y);
    uint64_t s = 42;
    for (int step = 0; ok && step < 20; step++) {
        for (size_t i = 0; i < B * PX; i++)
            x[i] = lcg_uniform(&s);
        for (size_t i = 0; i < B; i++)
            y[i] = (int32_t)((i * 7 + (size_t)step) % 10);
        if (ref)
            ok = ok && cnn_model_train_step(ref, x, y, B, NULL, NULL) == 0;
        ok = ok && cnn_model_forward(m, x + first * PX, n_r, true) == 0 &&
             cnn_model_loss(m, y + first, n_r, NULL, NULL) == 0 && cnn_model_backward(m) == 0;
        float *g = cnn_model_grads_flat(m, NULL);
        ok = ok && MPI_Allreduce(MPI_IN_PLACE, g, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS;
        ok = ok && cnn_model_step(m) == 0;
    }
    double rel = 0;
    if (ok && ref) {
        const float *w0 = cnn_model_params_flat(ref, NULL);
        double worst = 0, biggest = 0;
        for (size_t i = 0; i < count; i++) {
            worst = fmax(worst, fabs((double)w[i] - (double)w0[i]));
            biggest = fmax(biggest, fabs((double)w0[i]));
        }
        rel = worst / biggest;
        if (!(rel <= 1e-5))
            ok = 0;
    }
    /* bitwise equal on every rank: the hash's minimum and maximum agree */
    unsigned long long h = ok ? fnv(w, count * sizeof *w) : 0, lo = 0, hi = 0;
    MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (lo != hi)
        ok = 0;
    if (rank == 0)
        printf("%s %s (global batch %zu over %d ranks; max relative difference %.3g; weights %s across ranks)\n",
               ok ? "ok  " : "FAIL", name, B, size, rel, lo == hi ? "equal" : "DIFFERENT");
    free(x);
    free(y);
    cnn_model_free(m);
    cnn_model_free(ref);
    return ok;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct {
        const char *name;
        size_t batch;
        cnn_optimizer opt;
    } cases[] = {
        {"an_even_global_batch_trains_like_one_process_with_adam", 8, CNN_OPT_ADAM},
        {"an_even_global_batch_trains_like_one_process_with_sgd", 8, CNN_OPT_SGD},
        {"an_uneven_batch_of_7_trains_like_one_process_with_adam", 7, CNN_OPT_ADAM},
        {"an_uneven_batch_of_7_trains_like_one_process_with_sgd", 7, CNN_OPT_SGD},
    };
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int mine = train_case(cases[i].name, cases[i].batch, cases[i].opt, rank, size), all = 0;
        MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (all)
            passed++;
        else
            failed++;
    }
    if (rank == 0)
        printf("%d passed, %d failed\n", passed, failed);
    MPI_Finalize();
    return failed ? 1 : 0;
}
