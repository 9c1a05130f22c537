/* causal_attn.c - the decoder's causal self-attention; see causal_attn.h. */
#include "text/causal_attn.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnnl_gemm.h"
#include "core/lowp.h"
#include "core/matmul.h"
#include "core/tensor.h"
#include "core/vec_math.h"

static int pad_to_block(int n)
{
    return (n + NV_ATTN_QBLOCK - 1) / NV_ATTN_QBLOCK * NV_ATTN_QBLOCK;
}

/* realloc of a * b * c elements of `size` bytes, with an overflow check. */
static int grow(void **buf, size_t a, size_t b, size_t c, size_t size,
                nv_error *err)
{
    if ((b && a > SIZE_MAX / b) || (c && a * b > SIZE_MAX / c) ||
        (size && a * b * c > SIZE_MAX / size))
        return nv_fail(err, "attention: scratch size overflows");
    size_t n = a * b * c * size;
    void *p = realloc(*buf, n ? n : 1);
    if (!p)
        return nv_fail(err, "attention: out of memory for %zu bytes of "
                       "scratch", n);
    *buf = p;
    return 0;
}

int nv_causal_attn_reserve(nv_causal_attn_scratch *s,
                           const nv_causal_attn_dims *d, int workers,
                           int bf16, int max_T, int max_ctx, nv_error *err)
{
    if (workers < 1 || max_T < 1 || max_ctx < 1)
        return nv_fail(err, "attention: %d workers, chunk %d and context %d "
                       "must be >= 1", workers, max_T, max_ctx);
    if (!s->workers) {
        s->workers = workers;
        s->bf16 = bf16 && nv_dnnl_bf16_ready();
    }
    int T = max_T > s->max_T ? max_T : s->max_T;
    int ctx = max_ctx > s->max_ctx ? max_ctx : s->max_ctx;
    if (ctx > INT32_MAX - NV_ATTN_QBLOCK || T > INT32_MAX - NV_ATTN_QBLOCK)
        return nv_fail(err, "attention: context %d is too large", ctx);
    ctx = pad_to_block(ctx);
    /* The bf16 kernel scores whole blocks; the f32 one no more rows than a
     * chunk holds (1 while generating). */
    int rows = s->bf16 ? NV_ATTN_QBLOCK
                       : (T < NV_ATTN_QBLOCK ? T : NV_ATTN_QBLOCK);
    size_t W = (size_t)s->workers, hd = (size_t)d->head_dim;
    if (ctx > s->max_ctx || rows > s->score_rows) {
        if (grow((void **)&s->scores, W, (size_t)rows, (size_t)ctx,
                 sizeof(float), err))
            return -1;
        if (s->bf16 &&
            (grow((void **)&s->k, (size_t)d->n_kv_heads, (size_t)ctx, hd,
                  sizeof(uint16_t), err) ||
             grow((void **)&s->v, (size_t)d->n_kv_heads, (size_t)ctx, hd,
                  sizeof(uint16_t), err) ||
             grow((void **)&s->p, W, NV_ATTN_QBLOCK, (size_t)ctx,
                  sizeof(uint16_t), err) ||
             grow((void **)&s->o, W, NV_ATTN_QBLOCK, hd, sizeof(float), err)))
            return -1;
        s->max_ctx = ctx;
        s->score_rows = rows;
    }
    if (T > s->max_T) {
        if (s->bf16 &&
            grow((void **)&s->q, (size_t)pad_to_block(T),
                 (size_t)d->n_heads, hd, sizeof(uint16_t), err))
            return -1;
        s->max_T = T;
    }
    return 0;
}

void nv_causal_attn_free(nv_causal_attn_scratch *s)
{
    free(s->scores);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->p);
    free(s->o);
    memset(s, 0, sizeof *s);
}

typedef struct attn_job {
    nv_causal_attn_scratch *s;
    const nv_causal_attn_dims *d;
    const nv_kv_cache *kv;
    int layer;
    const float *q; /* [T][nh * hd], rotated */
    float *out;     /* [T][nh * hd] */
    int T;
    int pos0;
    int n_qblocks;
    int n_tasks;
    int workers;
    atomic_int next; /* the next task a worker takes, in task_order */
} attn_job;

/* The i-th task to hand out: the last query block of every head first,
 * then the one before, ... A later block attends to more keys, so the
 * longest tasks go first and the short ones fill in at the end; with fixed
 * shares (worker w taking w, w + workers, ...) one worker had every second
 * block, the longer of each pair. */
static int task_order(const attn_job *job, int i)
{
    int heads = job->n_tasks / job->n_qblocks;
    int block = job->n_qblocks - 1 - i / heads;
    return (i % heads) * job->n_qblocks + block;
}

static int next_task(attn_job *job)
{
    int i = atomic_fetch_add(&job->next, 1);
    return i < job->n_tasks ? task_order(job, i) : -1;
}

/* The task's head and its queries t0 .. t1-1. */
static void task_span(const attn_job *job, int task, int *head, int *t0,
                      int *t1)
{
    *head = task / job->n_qblocks;
    *t0 = (task % job->n_qblocks) * NV_ATTN_QBLOCK;
    *t1 = *t0 + NV_ATTN_QBLOCK < job->T ? *t0 + NV_ATTN_QBLOCK : job->T;
}

static void f32_task(const attn_job *job, int task, float *S)
{
    const nv_causal_attn_dims *d = job->d;
    int hd = d->head_dim, q_stride = d->n_heads * hd;
    int group = d->n_heads / d->n_kv_heads;
    int head, t0, t1;
    task_span(job, task, &head, &t0, &t1);
    int rows = t1 - t0;
    /* The last query of the block sees every key up to itself. */
    int n_keys = job->pos0 + t1;
    const float *K = nv_kv_cache_k(job->kv, job->layer, head / group);
    const float *V = nv_kv_cache_v(job->kv, job->layer, head / group);
    const float *Q = job->q + (size_t)t0 * q_stride + (size_t)head * hd;
    nv_gemm_nt(S, Q, K, rows, hd, n_keys, q_stride, hd, n_keys,
               1.0f / sqrtf((float)hd), 0.0f);
    for (int r = 0; r < rows; r++) {
        float *row = S + (size_t)r * n_keys;
        int n_valid = job->pos0 + t0 + r + 1;
        nv_softmax_rows(row, 1, n_valid);
        for (int j = n_valid; j < n_keys; j++)
            row[j] = 0.0f;
    }
    float *O = job->out + (size_t)t0 * q_stride + (size_t)head * hd;
    nv_gemm_nn(O, S, V, rows, n_keys, hd, n_keys, hd, q_stride, 1.0f, 0.0f);
}

/* One task in bf16 on whole blocks: 0, or -1 when oneDNN refused (out is
 * then untouched). Rows of q beyond T are zero, keys and values beyond
 * pos0 + T are zero, and probabilities past each query's own position are
 * zero, so the padding adds nothing. */
static int bf16_task(const attn_job *job, int task, int worker)
{
    nv_causal_attn_scratch *s = job->s;
    const nv_causal_attn_dims *d = job->d;
    int hd = d->head_dim, q_stride = d->n_heads * hd;
    int group = d->n_heads / d->n_kv_heads;
    int head, t0, t1;
    task_span(job, task, &head, &t0, &t1);
    int n_keys = pad_to_block(job->pos0 + t1);
    size_t ctx = (size_t)s->max_ctx;
    float *S = s->scores + (size_t)worker * NV_ATTN_QBLOCK * ctx;
    uint16_t *P = s->p + (size_t)worker * NV_ATTN_QBLOCK * ctx;
    float *O = s->o + (size_t)worker * NV_ATTN_QBLOCK * hd;
    const uint16_t *K = s->k + (size_t)(head / group) * ctx * hd;
    const uint16_t *V = s->v + (size_t)(head / group) * ctx * hd;
    nv_error err = {{0}};
    nv_dnnl_bf16_product qk = {
        .x = s->q + ((size_t)head * (size_t)pad_to_block(job->T) +
                     (size_t)t0) * hd,
        .w = K, .y = S, .M = NV_ATTN_QBLOCK, .K = hd, .N = n_keys,
        .ldx = hd, .ldw = hd, .ldy = n_keys};
    if (nv_dnnl_bf16_gemm(&qk, &err) != 0)
        return -1;
    for (int r = 0; r < NV_ATTN_QBLOCK; r++) {
        float *row = S + (size_t)r * n_keys;
        uint16_t *prow = P + (size_t)r * n_keys;
        int n_valid = t0 + r < job->T ? job->pos0 + t0 + r + 1 : 0;
        if (n_valid > 0)
            nv_softmax_rows_bf16(row, 1, n_valid, prow);
        memset(prow + n_valid, 0, sizeof(uint16_t) * (size_t)(n_keys - n_valid));
    }
    nv_dnnl_bf16_product pv = {
        .x = P, .w = V, .y = O, .M = NV_ATTN_QBLOCK, .K = n_keys, .N = hd,
        .ldx = n_keys, .ldw = hd, .ldy = hd, .w_kn = 1};
    if (nv_dnnl_bf16_gemm(&pv, &err) != 0)
        return -1;
    for (int t = t0; t < t1; t++)
        memcpy(job->out + (size_t)t * q_stride + (size_t)head * hd,
               O + (size_t)(t - t0) * hd, sizeof(float) * (size_t)hd);
    return 0;
}

static void f32_worker(void *ctx, int w)
{
    attn_job *job = ctx;
    float *S = job->s->scores +
               (size_t)w * job->s->score_rows * job->s->max_ctx;
    for (int task = next_task(job); task >= 0; task = next_task(job))
        f32_task(job, task, S);
}

static void bf16_worker(void *ctx, int w)
{
    attn_job *job = ctx;
    float *S = job->s->scores +
               (size_t)w * job->s->score_rows * job->s->max_ctx;
    for (int task = next_task(job); task >= 0; task = next_task(job))
        if (bf16_task(job, task, w) != 0)
            f32_task(job, task, S);
}

/* The bf16 operands of one chunk: q / sqrt(hd) for T rows then zero rows
 * to the block, and each key/value head's positions 0 .. pos0+T-1 then
 * zero rows to the block. A 512-token chunk of llama-134m has 1.2 M such
 * values a layer; rounded on one thread, the other waited, so this is a
 * pool job of its own: a few tasks of q rows, then one per key head and
 * one per value head. */
typedef struct round_job {
    nv_causal_attn_scratch *s;
    const nv_causal_attn_dims *d;
    const nv_kv_cache *kv;
    int layer;
    const float *q;
    int T, pos0;
    int q_tasks;
} round_job;

/* Rows t0 .. t1-1 of q, scaled and rounded, into head-major blocks
 * ([head][T_pad][hd]) so that each task's q k^T reads a dense matrix: read
 * in place with the rows' n_heads * hd stride, oneDNN 2.6 runs that
 * product on its gemm:jit kernel instead of brgemm, 2.1-2.6x slower on a
 * Xeon with AMX (64 x 64 x 64-1024, one thread). */
static void round_q_rows(const round_job *job, int t0, int t1)
{
    size_t hd = (size_t)job->d->head_dim, heads = (size_t)job->d->n_heads;
    size_t T_pad = (size_t)pad_to_block(job->T);
    float scale = 1.0f / sqrtf((float)hd);
    float piece[64];
    for (int t = t0; t < t1; t++) {
        const float *qt = job->q + (size_t)t * heads * hd;
        for (size_t h = 0; h < heads; h++) {
            uint16_t *out = job->s->q + (h * T_pad + (size_t)t) * hd;
            for (size_t i = 0; i < hd; i += 64) {
                size_t n = hd - i < 64 ? hd - i : 64;
                for (size_t j = 0; j < n; j++)
                    piece[j] = qt[h * hd + i + j] * scale;
                nv_lowp_round_bf16(piece, out + i, n);
            }
        }
    }
}

static void round_task(void *ctx, int index)
{
    const round_job *job = ctx;
    nv_causal_attn_scratch *s = job->s;
    size_t hd = (size_t)job->d->head_dim;
    if (index < job->q_tasks) {
        size_t t0, t1;
        nv_pool_part((size_t)job->T, index, job->q_tasks, &t0, &t1);
        round_q_rows(job, (int)t0, (int)t1);
        if (index == job->q_tasks - 1) {
            size_t T = (size_t)job->T, T_pad = (size_t)pad_to_block(job->T);
            for (size_t h = 0; h < (size_t)job->d->n_heads; h++)
                memset(s->q + (h * T_pad + T) * hd, 0,
                       sizeof(uint16_t) * (T_pad - T) * hd);
        }
        return;
    }
    int h = (index - job->q_tasks) / 2, values = (index - job->q_tasks) % 2;
    size_t len = (size_t)(job->pos0 + job->T);
    size_t len_pad = (size_t)pad_to_block(job->pos0 + job->T);
    size_t at = (size_t)h * (size_t)s->max_ctx * hd;
    uint16_t *dst = values ? s->v + at : s->k + at;
    const float *src = values ? nv_kv_cache_v(job->kv, job->layer, h)
                              : nv_kv_cache_k(job->kv, job->layer, h);
    nv_lowp_round_bf16(src, dst, len * hd);
    memset(dst + len * hd, 0, sizeof(uint16_t) * (len_pad - len) * hd);
}

static void round_operands(nv_causal_attn_scratch *s,
                           const nv_causal_attn_dims *d, nv_pool *pool,
                           const nv_kv_cache *kv, int layer, const float *q,
                           int T, int pos0)
{
    int workers = pool ? nv_pool_size(pool) : 1;
    round_job job = {s, d, kv, layer, q, T, pos0,
                     T < 2 * workers ? 1 : 2 * workers};
    int tasks = job.q_tasks + 2 * d->n_kv_heads;
    if (pool && workers > 1)
        nv_pool_run(pool, tasks, round_task, &job);
    else
        for (int i = 0; i < tasks; i++)
            round_task(&job, i);
}

void nv_causal_attn(nv_causal_attn_scratch *s, const nv_causal_attn_dims *d,
                    nv_pool *pool, const nv_kv_cache *kv, int layer,
                    const float *q, float *out, int T, int pos0)
{
    attn_job job = {
        .s = s, .d = d, .kv = kv, .layer = layer, .q = q, .out = out,
        .T = T, .pos0 = pos0,
        .n_qblocks = (T + NV_ATTN_QBLOCK - 1) / NV_ATTN_QBLOCK,
        .workers = s->workers,
    };
    atomic_init(&job.next, 0);
    job.n_tasks = job.n_qblocks * d->n_heads;
    int workers = job.n_tasks < job.workers ? job.n_tasks : job.workers;
    job.workers = workers;
    int bf16 = s->bf16 && T >= NV_LINEAR_GEMV_ROWS;
    if (bf16)
        round_operands(s, d, pool, kv, layer, q, T, pos0);
    nv_task_fn fn = bf16 ? bf16_worker : f32_worker;
    if (pool && workers > 1)
        nv_pool_run(pool, workers, fn, &job);
    else
        for (int w = 0; w < workers; w++)
            fn(&job, w);
}
