/* decoder_rows.c - the decoder's position-wise steps on the pool; see
 * decoder_rows.h. */
#include "text/decoder_rows.h"

#include <math.h>
#include <string.h>

#include "core/lowp.h"
#include "core/matmul.h"
#include "core/vec_math.h"
#include "text/rope.h"

/* Rows [first, last) of part `part` when T rows are cut into `parts`. */
static void row_range(int T, int part, int parts, int *first, int *last)
{
    size_t lo, hi;
    nv_pool_part((size_t)T, part, parts, &lo, &hi);
    *first = (int)lo;
    *last = (int)hi;
}

/* The number of parts a job of T rows is cut into: one per pool thread,
 * or 1 (run on the caller) for decode-sized chunks. */
static int parts_for(const nv_pool *pool, int T)
{
    int workers = pool ? nv_pool_size(pool) : 1;
    return T >= NV_LINEAR_GEMV_ROWS && workers > 1 ? workers : 1;
}

static void run_parts(nv_pool *pool, int parts, nv_task_fn fn, void *job)
{
    if (parts > 1)
        nv_pool_run(pool, parts, fn, job);
    else
        fn(job, 0);
}

/* ---- residual add and RMSNorm ---------------------------------------- */

typedef struct norm_job {
    float *x;
    const float *add, *weight;
    float *y;
    uint16_t *y_bf16;
    int T, H, parts;
    float eps;
} norm_job;

static void norm_task(void *ctx, int part)
{
    const norm_job *j = ctx;
    int first, last;
    row_range(j->T, part, j->parts, &first, &last);
    size_t H = (size_t)j->H;
    for (int t = first; t < last; t++) {
        float *xr = j->x + (size_t)t * H;
        if (j->add) {
            const float *ar = j->add + (size_t)t * H;
            for (size_t i = 0; i < H; i++)
                xr[i] += ar[i];
        }
        if (!j->weight)
            continue;
        float *yr = j->y + (size_t)t * H;
        double sum = nv_sum_sq_f64(xr, H, 0.0);
        float inv = 1.0f / sqrtf((float)(sum / (double)H) + j->eps);
        for (size_t i = 0; i < H; i++)
            yr[i] = j->weight[i] * (xr[i] * inv);
        if (j->y_bf16)
            nv_lowp_round_bf16(yr, j->y_bf16 + (size_t)t * H, H);
    }
}

void nv_dec_add_norm(nv_pool *pool, float *x, const float *add,
                     const float *weight, float *y, uint16_t *y_bf16, int T,
                     int H, float eps)
{
    norm_job job = {x, add, weight, y, y_bf16, T, H, parts_for(pool, T), eps};
    run_parts(pool, job.parts, norm_task, &job);
}

/* ---- SiLU gating ------------------------------------------------------ */

typedef struct gate_job {
    float *gate;
    const float *up;
    uint16_t *gate_bf16;
    int T, I, parts;
} gate_job;

static void gate_task(void *ctx, int part)
{
    const gate_job *j = ctx;
    int first, last;
    row_range(j->T, part, j->parts, &first, &last);
    size_t at = (size_t)first * (size_t)j->I;
    size_t n = (size_t)(last - first) * (size_t)j->I;
    nv_silu_mul(j->gate + at, j->up + at, n);
    if (j->gate_bf16)
        nv_lowp_round_bf16(j->gate + at, j->gate_bf16 + at, n);
}

void nv_dec_silu_gate(nv_pool *pool, float *gate, const float *up,
                      uint16_t *gate_bf16, int T, int I)
{
    gate_job job = {gate, up, gate_bf16, T, I, parts_for(pool, T)};
    run_parts(pool, job.parts, gate_task, &job);
}

/* ---- rotary embedding and the cache store ------------------------------ */

typedef struct rope_job {
    const nv_dec_rope_store *d;
    int parts;
} rope_job;

static void rope_task(void *ctx, int part)
{
    const rope_job *j = ctx;
    const nv_dec_rope_store *d = j->d;
    int first, last;
    row_range(d->T, part, j->parts, &first, &last);
    int hd = d->head_dim, rows = last - first;
    size_t qd = (size_t)d->n_heads * hd, kvd = (size_t)d->n_kv_heads * hd;
    size_t table = (size_t)first * (size_t)(hd / 2);
    nv_rope_apply(d->q + (size_t)first * qd, rows, d->n_heads, hd, (int)qd,
                  d->cos_tab + table, d->sin_tab + table);
    nv_rope_apply(d->k + (size_t)first * kvd, rows, d->n_kv_heads, hd,
                  (int)kvd, d->cos_tab + table, d->sin_tab + table);
    for (int h = 0; h < d->n_kv_heads; h++) {
        size_t at = (size_t)(d->pos0 + first) * hd;
        float *K = nv_kv_cache_k(d->kv, d->layer, h) + at;
        float *V = nv_kv_cache_v(d->kv, d->layer, h) + at;
        for (int t = 0; t < rows; t++) {
            size_t src = (size_t)(first + t) * kvd + (size_t)h * hd;
            memcpy(K + (size_t)t * hd, d->k + src, sizeof(float) * (size_t)hd);
            memcpy(V + (size_t)t * hd, d->v + src, sizeof(float) * (size_t)hd);
        }
    }
}

void nv_dec_rope_and_store(nv_pool *pool, const nv_dec_rope_store *job)
{
    rope_job j = {job, parts_for(pool, job->T)};
    run_parts(pool, j.parts, rope_task, &j);
}
