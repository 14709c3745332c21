/* A fixed set of worker threads owned by one model. Work is handed out as one call that covers
 * [0, n); each thread takes a fixed contiguous chunk, so the split never depends on timing.
 *
 * A training step hands out about 30 short regions back to back, so both sides first spin briefly on
 * the generation / pending counters before sleeping on the condition variables: a wake-up through the
 * kernel costs tens of microseconds per region, a spin that finds the next region costs almost
 * nothing. The spin is bounded (SPIN_ITERS pauses, tens of microseconds), so idle workers still sleep. */
#include "nn_internal.h"

#include <stdatomic.h>
#include <stdlib.h>


#define SPIN_ITERS 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

struct cnn__workers {
    int threads; /* including the caller */
    pthread_t *tid;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    _Atomic uint64_t gen;
    _Atomic int pending;
    atomic_bool stop;
    cnn__task_fn fn;
    void *ctx;
    size_t n;
};

typedef struct worker_arg {
    cnn__workers *p;
    int index;
} worker_arg;

static void chunk(size_t n, int threads, int i, size_t *b, size_t *e)
{
    *b = n * (size_t)i / (size_t)threads;
    *e = n * (size_t)(i + 1) / (size_t)threads;
}

static void *worker(void *arg)
{
    cnn__workers *p = ((worker_arg *)arg)->p;
    int index = ((worker_arg *)arg)->index;
    free(arg);
    cnn__fp_worker(); /* the engine's own thread keeps denormals flushed for its life */
    uint64_t seen = 0;
    for (;;) {
        /* the caller publishes fn/ctx/n before it bumps gen (release), so an acquire load that sees the
         * new generation also sees the work */
        for (int s = 0; s < SPIN_ITERS && atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
                        !atomic_load_explicit(&p->stop, memory_order_relaxed);
             s++)
            cpu_relax();
        if (atomic_load_explicit(&p->gen, memory_order_acquire) == seen) {
            pthread_mutex_lock(&p->mu);
            while (!atomic_load(&p->stop) && atomic_load(&p->gen) == seen)
                pthread_cond_wait(&p->go, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        cnn__task_fn fn = p->fn;
        void *ctx = p->ctx;
        size_t n = p->n;

        size_t b, e;
        chunk(n, p->threads, index, &b, &e);
        if (b < e)
            fn(ctx, b, e);

        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            /* the caller may be asleep; taking the mutex orders this signal after its check */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int cnn__workers_create(cnn__workers **out, int threads)
{
    *out = NULL;
    cnn__workers *p = calloc(1, sizeof *p);
    if (!p)
        return TBW_ENOMEM;
    p->threads = threads < 1 ? 1 : threads;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return TBW_ENOMEM;
    }
    if (pthread_cond_init(&p->go, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return TBW_ENOMEM;
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->go);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return TBW_ENOMEM;
    }
    if (p->threads > 1) {
        p->tid = calloc((size_t)p->threads - 1, sizeof *p->tid);
        if (!p->tid)
            goto fail;
        for (int i = 1; i < p->threads; i++) {
            worker_arg *a = malloc(sizeof *a);
            if (!a)
                goto fail;
            a->p = p;
            a->index = i;
            if (pthread_create(&p->tid[i - 1], NULL, worker, a) != 0) {
                free(a);
                goto fail;
            }
            p->started++;
        }
    }
    *out = p;
    return TBW_OK;
fail:
    cnn__workers_free(p);
    return TBW_ENOMEM;
}

void cnn__workers_free(cnn__workers *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->tid[i], NULL);
    free(p->tid);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void cnn__workers_run(cnn__workers *p, size_t n, cnn__task_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (!p || p->threads == 1 || p->started != p->threads - 1 || n == 1) {
        fn(ctx, 0, n);
        return;
    }
    /* every worker has finished the previous region (pending reached 0), so nobody reads these now */
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);

    size_t b, e;
    chunk(n, p->threads, 0, &b, &e);
    if (b < e)
        fn(ctx, b, e);

    for (int s = 0; s < SPIN_ITERS && atomic_load_explicit(&p->pending, memory_order_acquire) > 0; s++)
        cpu_relax();
    if (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
