/* threads.c - a fixed pthread pool that hands out loop indices; see threads.h.
 *
 * The rule: one owner of the cores at a time. nvlm has two sets of threads,
 * this pool's and OpenBLAS's (the pthreads build keeps its own workers),
 * and each set is sized to the whole machine. They must never run at once:
 *   - while a pool job runs, OpenBLAS is pinned to 1 thread (nv_pool_run
 *     does it for every job, so no caller can forget), so a matrix product
 *     inside a task runs on the worker that called it;
 *   - between jobs the pool's workers sleep on a condition variable (never
 *     a busy loop), so OpenBLAS's threads have the cores to themselves for
 *     the products the calling thread runs outside the pool.
 * Why: OpenBLAS's threads wait for work by spinning, and its callers spin
 * waiting for them. With both sets running (attention's sgemm calls from
 * pool tasks with OpenBLAS at 2 threads: four threads on two cores), most
 * of the time went to that spinning (a 512-token prefill on 2 threads was
 * slower than on 1), and under SCHED_FIFO a spinning thread that holds a
 * core starves the very thread it waits for, so the prefill never ended.
 * The pool's own waits (workers for a job, the caller for the workers)
 * block in pthread_cond_wait for the same reason - after a short, bounded
 * spin (NV_POOL_SPIN pauses, some tens of microseconds): decode runs one
 * job per weight matrix, a hundred per token with microseconds between
 * them, and in a virtual machine each futex sleep and wake costs tens of
 * microseconds, which made that bookkeeping a large share of a token.
 * A bounded spin cannot starve anything for longer than its bound, so
 * under SCHED_FIFO it only delays the thread it shares a core with.
 *
 * Each nv_pool_run publishes one job (fn, ctx, n) under the mutex and bumps
 * a generation counter; the workers wake on it, and they and the caller take
 * indices from a shared atomic counter until it passes n, so uneven tasks
 * (attention heads of different lengths) still spread evenly. The caller
 * then waits until every worker has left the job before returning, so the
 * job's ctx may live on the caller's stack.
 */
#include "core/threads.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More threads than this only adds wake-up cost on any machine we target. */
#define NV_POOL_MAX_THREADS 256
/* Pauses a waiting thread spins before it sleeps (about 30 us on x86). */
#define NV_POOL_SPIN 2000

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

struct nv_pool {
    int nthreads; /* workers + the calling thread */
    int nworkers;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t work_ready; /* a new generation or stop */
    pthread_cond_t work_done;  /* busy_workers reached 0 */
    /* Written under the mutex; read without it only by the spins. */
    atomic_ulong generation;
    atomic_int stopping;
    atomic_int busy_workers; /* workers not yet finished with this job */
    /* The current job; written under the mutex before generation changes. */
    nv_task_fn fn;
    void *ctx;
    int n;
    atomic_int next_index;
};

/* OpenBLAS's thread count is process-wide, and pools of several models may
 * run jobs at once: the first job to start pins it to 1, the last to end
 * puts back the count the rest of nvlm asked for (nv_threads_set_blas). */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_pins;    /* pool jobs running now */
static int blas_threads; /* while pinned: the count to put back */

static void blas_pin(void)
{
    pthread_mutex_lock(&blas_lock);
    if (blas_pins++ == 0) {
        blas_threads = openblas_get_num_threads();
        if (blas_threads > 1)
            openblas_set_num_threads(1);
    }
    pthread_mutex_unlock(&blas_lock);
}

static void blas_unpin(void)
{
    pthread_mutex_lock(&blas_lock);
    if (--blas_pins == 0 && blas_threads > 1)
        openblas_set_num_threads(blas_threads);
    pthread_mutex_unlock(&blas_lock);
}

int nv_threads_available(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0)
            return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

static void run_indices(nv_pool *pool, nv_task_fn fn, void *ctx, int n)
{
    for (;;) {
        int i = atomic_fetch_add(&pool->next_index, 1);
        if (i >= n)
            break;
        fn(ctx, i);
    }
}

static void *worker_main(void *arg)
{
    nv_pool *pool = arg;
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < NV_POOL_SPIN && atomic_load(&pool->generation) == seen &&
                        !atomic_load(&pool->stopping);
             i++)
            cpu_relax();
        pthread_mutex_lock(&pool->mutex);
        while (atomic_load(&pool->generation) == seen &&
               !atomic_load(&pool->stopping))
            pthread_cond_wait(&pool->work_ready, &pool->mutex);
        if (atomic_load(&pool->stopping)) {
            pthread_mutex_unlock(&pool->mutex);
            break;
        }
        seen = atomic_load(&pool->generation);
        nv_task_fn fn = pool->fn;
        void *ctx = pool->ctx;
        int n = pool->n;
        pthread_mutex_unlock(&pool->mutex);

        run_indices(pool, fn, ctx, n);

        pthread_mutex_lock(&pool->mutex);
        if (atomic_fetch_sub(&pool->busy_workers, 1) == 1)
            pthread_cond_signal(&pool->work_done);
        pthread_mutex_unlock(&pool->mutex);
    }
    return NULL;
}

/* Stops and joins the first `started` workers. */
static void stop_workers(nv_pool *pool, int started)
{
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < started; i++)
        pthread_join(pool->workers[i], NULL);
}

nv_pool *nv_pool_create(int nthreads, nv_error *err)
{
    if (nthreads <= 0)
        nthreads = nv_threads_available();
    if (nthreads > NV_POOL_MAX_THREADS)
        nthreads = NV_POOL_MAX_THREADS;

    nv_pool *pool = calloc(1, sizeof *pool);
    if (!pool) {
        nv_fail(err, "threads: out of memory creating a pool");
        return NULL;
    }
    pool->nthreads = nthreads;
    pool->nworkers = nthreads - 1;
    atomic_init(&pool->next_index, 0);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->stopping, 0);
    atomic_init(&pool->busy_workers, 0);
    if (pool->nworkers > 0) {
        pool->workers = calloc((size_t)pool->nworkers, sizeof *pool->workers);
        if (!pool->workers) {
            free(pool);
            nv_fail(err, "threads: out of memory creating a pool");
            return NULL;
        }
    }
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_cond_init(&pool->work_done, NULL);

    for (int i = 0; i < pool->nworkers; i++) {
        int rc = pthread_create(&pool->workers[i], NULL, worker_main, pool);
        if (rc != 0) {
            stop_workers(pool, i);
            pthread_cond_destroy(&pool->work_done);
            pthread_cond_destroy(&pool->work_ready);
            pthread_mutex_destroy(&pool->mutex);
            free(pool->workers);
            free(pool);
            nv_fail(err, "threads: cannot start thread %d of %d: %s", i + 2,
                    nthreads, strerror(rc));
            return NULL;
        }
    }
    return pool;
}

void nv_pool_free(nv_pool *pool)
{
    if (!pool)
        return;
    stop_workers(pool, pool->nworkers);
    pthread_cond_destroy(&pool->work_done);
    pthread_cond_destroy(&pool->work_ready);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

int nv_pool_size(const nv_pool *pool)
{
    return pool ? pool->nthreads : 1;
}

void nv_pool_part(size_t total, int part, int parts, size_t *first,
                  size_t *last)
{
    /* total * parts stays far inside 64 bits: totals are counts of
     * values in memory, parts a count of threads. */
    unsigned long long t = total;
    *first = (size_t)(t * (unsigned)part / (unsigned)parts);
    *last = (size_t)(t * (unsigned)(part + 1) / (unsigned)parts);
}

void nv_pool_run(nv_pool *pool, int n, nv_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    /* Waking workers for a single index costs more than it saves. */
    if (!pool || pool->nworkers == 0 || n == 1) {
        for (int i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    blas_pin();
    pthread_mutex_lock(&pool->mutex);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    atomic_store(&pool->next_index, 0);
    atomic_store(&pool->busy_workers, pool->nworkers);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->mutex);

    run_indices(pool, fn, ctx, n);

    for (int i = 0; i < NV_POOL_SPIN && atomic_load(&pool->busy_workers) > 0;
         i++)
        cpu_relax();
    pthread_mutex_lock(&pool->mutex);
    while (atomic_load(&pool->busy_workers) > 0)
        pthread_cond_wait(&pool->work_done, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
    blas_unpin();
}

const char *nv_threads_set_blas(int nthreads)
{
    if (nthreads <= 0)
        nthreads = nv_threads_available();
    pthread_mutex_lock(&blas_lock);
    /* During a pool job the pin stays; the count applies when it ends. */
    if (blas_pins > 0)
        blas_threads = nthreads;
    else
        openblas_set_num_threads(nthreads);
    pthread_mutex_unlock(&blas_lock);
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
}

const char *nv_threads_blas_kernels(void)
{
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
}

int nv_threads_get_blas(void)
{
    pthread_mutex_lock(&blas_lock);
    int n = blas_pins > 0 ? blas_threads : openblas_get_num_threads();
    pthread_mutex_unlock(&blas_lock);
    return n;
}
