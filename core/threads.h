/* threads.h - a small fixed pthread pool for work that is not one large
 * matrix product (attention heads, element-wise loops). Large products go
 * through OpenBLAS, whose own threads are set by nv_threads_set_blas().
 *
 * nv_pool_run(pool, n, fn, ctx) calls fn(ctx, i) for i in [0, n) spread over
 * the pool's threads (the calling thread works too) and returns when all are
 * done. A pool of 1 thread runs everything on the caller. Not reentrant:
 * fn must not call nv_pool_run on the same pool.
 *
 * One owner of the cores (the rule, and why, at the top of threads.c):
 * while a job with more than one index runs on a pool of more than one
 * thread, OpenBLAS is pinned to 1 thread, so tasks may call BLAS freely
 * and each call runs on its own worker; between jobs the workers sleep,
 * and OpenBLAS may use its threads.
 */
#ifndef NV_THREADS_H
#define NV_THREADS_H

#include <stddef.h>

#include "core/error.h"

typedef struct nv_pool nv_pool;
typedef void (*nv_task_fn)(void *ctx, int index);

/* Number of CPUs this process may run on (sched_getaffinity), at least 1. */
int nv_threads_available(void);

/* nthreads <= 0 means nv_threads_available(). */
nv_pool *nv_pool_create(int nthreads, nv_error *err);
void nv_pool_free(nv_pool *pool);
int nv_pool_size(const nv_pool *pool);
void nv_pool_run(nv_pool *pool, int n, nv_task_fn fn, void *ctx);

/* The items [*first, *last) of part `part` (0 <= part < parts) when
 * `total` items are cut into `parts` contiguous ranges whose sizes differ
 * by at most one: the split every row-wise pool job uses. */
void nv_pool_part(size_t total, int part, int parts, size_t *first,
                  size_t *last);

/* Sets OpenBLAS's thread count; returns the name of its kernel set
 * (openblas_get_corename()). */
const char *nv_threads_set_blas(int nthreads);

/* OpenBLAS's thread count outside pool jobs (inside one it runs 1). */
int nv_threads_get_blas(void);

/* The kernel set OpenBLAS runs (openblas_get_corename(); the environment's
 * OPENBLAS_CORETYPE decides it), for benchmark reports. */
const char *nv_threads_blas_kernels(void);

#endif
