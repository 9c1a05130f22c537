/* test_threads.c - the pool runs every index exactly once, for empty, tiny
 * and large ranges, on 1, 2 and 4 threads, over many repeated runs of the
 * same pool; plus the CPU count and the OpenBLAS thread setting, and the
 * rule that OpenBLAS runs 1 thread while a pool job runs (threads.c); and
 * nv_pool_part's ranges tile [0, total) in order, sizes within one. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "tests/check.h"

typedef struct count_job {
    atomic_int *hits; /* hits[i]: how often index i ran */
    int n;
    atomic_int out_of_range;
} count_job;

static void count_index(void *ctx, int index)
{
    count_job *job = ctx;
    if (index < 0 || index >= job->n) {
        atomic_fetch_add(&job->out_of_range, 1);
        return;
    }
    atomic_fetch_add(&job->hits[index], 1);
    /* Uneven work, so that threads finish at different times. */
    volatile double sink = 0;
    for (int k = 0; k < (index % 7) * 50; k++)
        sink += k;
    (void)sink;
}

/* Runs n indices `repeats` times on pool; returns 1 when every index ran
 * exactly once per run. */
static int runs_each_once(nv_pool *pool, int n, int repeats)
{
    atomic_int *hits = calloc(n > 0 ? (size_t)n : 1, sizeof *hits);
    if (!hits)
        return 0;
    int ok = 1;
    for (int r = 0; r < repeats && ok; r++) {
        for (int i = 0; i < n; i++)
            atomic_init(&hits[i], 0);
        count_job job = {.hits = hits, .n = n};
        atomic_init(&job.out_of_range, 0);
        nv_pool_run(pool, n, count_index, &job);
        /* nv_pool_run has returned: every call must already be counted. */
        for (int i = 0; i < n; i++)
            ok &= atomic_load(&hits[i]) == 1;
        ok &= atomic_load(&job.out_of_range) == 0;
    }
    free(hits);
    return ok;
}

static void check_pool(void)
{
    const int thread_counts[3] = {1, 2, 4};
    const int sizes[4] = {0, 1, 7, 1000};
    for (int t = 0; t < 3; t++) {
        nv_error err = {{0}};
        nv_pool *pool = nv_pool_create(thread_counts[t], &err);
        if (!CHECK(pool != NULL)) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        CHECK(nv_pool_size(pool) == thread_counts[t]);
        for (int s = 0; s < 4; s++) {
            if (!CHECK(runs_each_once(pool, sizes[s], 20)))
                fprintf(stderr, "threads %d, n %d: an index ran %s\n",
                        thread_counts[t], sizes[s],
                        "other than exactly once");
        }
        /* Many short runs back to back exercise the wake-up handshake. */
        CHECK(runs_each_once(pool, 3, 2000));
        nv_pool_free(pool);
    }
    nv_pool_free(NULL);
}

static void check_counts(void)
{
    int available = nv_threads_available();
    printf("threads available: %d\n", available);
    CHECK(available >= 1);
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(0, &err);
    CHECK(pool && nv_pool_size(pool) == available);
    CHECK(runs_each_once(pool, 100, 3));
    nv_pool_free(pool);

    const char *core = nv_threads_set_blas(1);
    printf("OpenBLAS core: %s\n", core ? core : "(null)");
    CHECK(core != NULL && core[0] != '\0');
}

/* Each task records OpenBLAS's thread count as it sees it. */
typedef struct blas_job {
    atomic_int max_seen;
    int set_to; /* > 0: task 0 calls nv_threads_set_blas(set_to) */
} blas_job;

static void note_blas(void *ctx, int index)
{
    blas_job *job = ctx;
    if (index == 0 && job->set_to > 0)
        nv_threads_set_blas(job->set_to);
    int n = openblas_get_num_threads();
    int seen = atomic_load(&job->max_seen);
    while (n > seen && !atomic_compare_exchange_weak(&job->max_seen, &seen, n))
        ;
}

static void check_blas_pinned(void)
{
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(2, &err);
    if (!CHECK(pool != NULL))
        return;
    nv_threads_set_blas(2);
    CHECK(nv_threads_get_blas() == 2);
    blas_job job = {.set_to = 0};
    atomic_init(&job.max_seen, 0);
    nv_pool_run(pool, 64, note_blas, &job);
    if (!CHECK(atomic_load(&job.max_seen) == 1))
        fprintf(stderr, "a pool task saw OpenBLAS at %d threads\n",
                atomic_load(&job.max_seen));
    CHECK(openblas_get_num_threads() == 2); /* put back after the job */

    /* A count set during a job applies when the job ends. */
    blas_job during = {.set_to = 3};
    atomic_init(&during.max_seen, 0);
    nv_pool_run(pool, 64, note_blas, &during);
    CHECK(atomic_load(&during.max_seen) == 1);
    CHECK(openblas_get_num_threads() == 3);
    CHECK(nv_threads_get_blas() == 3);
    nv_threads_set_blas(2);
    nv_pool_free(pool);
}

/* For each total and part count, the parts' ranges follow one another
 * from 0 to total, and no two sizes differ by more than one. */
static void check_parts(void)
{
    const size_t totals[] = {0, 1, 2, 3, 7, 8, 63, 64, 65, 1000, 4097,
                             (size_t)1 << 33};
    const int part_counts[] = {1, 2, 3, 4, 7, 16, 64};
    for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++)
        for (size_t p = 0; p < sizeof part_counts / sizeof part_counts[0];
             p++) {
            size_t total = totals[t];
            int parts = part_counts[p];
            size_t next = 0, smallest = (size_t)-1, largest = 0;
            int ok = 1;
            for (int i = 0; i < parts; i++) {
                size_t first, last;
                nv_pool_part(total, i, parts, &first, &last);
                ok &= first == next && last >= first;
                size_t size = last - first;
                smallest = size < smallest ? size : smallest;
                largest = size > largest ? size : largest;
                next = last;
            }
            ok &= next == total && largest - smallest <= 1;
            if (!ok)
                printf("nv_pool_part: total %zu in %d parts\n", total,
                       parts);
            CHECK(ok);
        }
}

int main(void)
{
    check_parts();
    check_pool();
    check_counts();
    check_blas_pinned();
    return check_summary("threads");
}
