/* vit_ops.c - float kernels shared by the vision encoders; see vit_ops.h. */
#include "vision/vit_ops.h"

#include <math.h>
#include <string.h>

#include "core/matmul.h"

void nv_layer_norm_rows(float *y, const float *x, int rows, int dim,
                        const float *w, const float *b, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double sum = 0, sq = 0;
        for (int i = 0; i < dim; i++)
            sum += xr[i];
        double mean = sum / dim;
        for (int i = 0; i < dim; i++)
            sq += (xr[i] - mean) * (xr[i] - mean);
        float rstd = (float)(1.0 / sqrt(sq / dim + eps));
        float fmean = (float)mean;
        for (int i = 0; i < dim; i++)
            yr[i] = (xr[i] - fmean) * rstd * w[i] + b[i];
    }
}

void nv_rms_norm_rows(float *y, const float *x, int rows, int ld, int dim,
                      int var_dim, const float *w, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ld;
        float *yr = y + (size_t)r * ld;
        double sq = 0;
        for (int i = 0; i < var_dim; i++)
            sq += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(sq / var_dim + eps));
        for (int i = 0; i < dim; i++)
            yr[i] = xr[i] * scale * w[i];
    }
}

void nv_gelu_erf(float *x, size_t count)
{
    const float inv_sqrt2 = 0.70710678118654752440f;
    for (size_t i = 0; i < count; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * inv_sqrt2));
}

void nv_softmax_rows(float *s, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * cols;
        float max = row[0];
        for (int i = 1; i < cols; i++)
            if (row[i] > max)
                max = row[i];
        double sum = 0;
        for (int i = 0; i < cols; i++) {
            row[i] = expf(row[i] - max);
            sum += row[i];
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < cols; i++)
            row[i] *= inv;
    }
}

void nv_add_scaled_rows(float *x, const float *delta, const float *scale,
                        int rows, int dim)
{
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int i = 0; i < dim; i++)
            x[r * dim + i] += scale[i] * delta[r * dim + i];
}

/* ---- the same, spread over a pool ------------------------------------- */

/* Work is cut into one contiguous chunk per pool thread: task `part` of
 * `parts` covers [total * part / parts, total * (part + 1) / parts). */
static size_t chunk_start(size_t total, int part, int parts)
{
    return (size_t)((unsigned long long)total * part / parts);
}

static int parts_for(const nv_pool *pool, size_t total)
{
    int parts = pool ? nv_pool_size(pool) : 1;
    return (size_t)parts > total ? (total ? (int)total : 1) : parts;
}

typedef struct gelu_job {
    float *x;
    size_t count;
    int parts;
} gelu_job;

static void gelu_task(void *ctx, int part)
{
    const gelu_job *job = ctx;
    size_t first = chunk_start(job->count, part, job->parts);
    size_t last = chunk_start(job->count, part + 1, job->parts);
    nv_gelu_erf(job->x + first, last - first);
}

void nv_gelu_erf_pooled(nv_pool *pool, float *x, size_t count)
{
    gelu_job job = {x, count, parts_for(pool, count)};
    if (job.parts > 1)
        nv_pool_run(pool, job.parts, gelu_task, &job);
    else
        nv_gelu_erf(x, count);
}

/* b == NULL selects RMSNorm. */
typedef struct norm_job {
    float *y;
    const float *x;
    int rows, ld, dim, var_dim, parts;
    const float *w, *b;
    float eps;
} norm_job;

static void norm_task(void *ctx, int part)
{
    const norm_job *job = ctx;
    int first = (int)chunk_start((size_t)job->rows, part, job->parts);
    int last = (int)chunk_start((size_t)job->rows, part + 1, job->parts);
    float *y = job->y + (size_t)first * job->ld;
    const float *x = job->x + (size_t)first * job->ld;
    if (job->b)
        nv_layer_norm_rows(y, x, last - first, job->dim, job->w, job->b,
                           job->eps);
    else
        nv_rms_norm_rows(y, x, last - first, job->ld, job->dim, job->var_dim,
                         job->w, job->eps);
}

static void run_norm(nv_pool *pool, norm_job *job)
{
    job->parts = parts_for(pool, (size_t)job->rows);
    if (job->parts > 1)
        nv_pool_run(pool, job->parts, norm_task, job);
    else
        norm_task(job, 0);
}

void nv_layer_norm_rows_pooled(nv_pool *pool, float *y, const float *x,
                               int rows, int dim, const float *w,
                               const float *b, float eps)
{
    norm_job job = {.y = y, .x = x, .rows = rows, .ld = dim, .dim = dim,
                    .var_dim = dim, .w = w, .b = b, .eps = eps};
    run_norm(pool, &job);
}

void nv_rms_norm_rows_pooled(nv_pool *pool, float *y, const float *x,
                             int rows, int ld, int dim, int var_dim,
                             const float *w, float eps)
{
    norm_job job = {.y = y, .x = x, .rows = rows, .ld = ld, .dim = dim,
                    .var_dim = var_dim, .w = w, .b = NULL, .eps = eps};
    run_norm(pool, &job);
}

void nv_patch_im2col(const float *pixels, int n, int image_size, int patch,
                     float *cols)
{
    int P = patch, S = image_size, g = S / P, K = 3 * P * P;
    for (int t = 0; t < n; t++)
        for (int py = 0; py < g; py++)
            for (int px = 0; px < g; px++) {
                float *dst = cols + ((size_t)t * g * g + py * g + px) * K;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < P; ky++) {
                        const float *src =
                            pixels +
                            (((size_t)t * 3 + ch) * S + (size_t)py * P + ky) *
                                S +
                            (size_t)px * P;
                        memcpy(dst + (ch * P + ky) * P, src,
                               sizeof(float) * (size_t)P);
                    }
            }
}

void nv_place_patch_tokens(const float *embedded, const float *cls,
                           const float *pos, int n, int patches, int dim,
                           float *x)
{
    int first = cls ? 1 : 0, T = first + patches;
    for (int t = 0; t < n; t++) {
        float *xt = x + (size_t)t * T * dim;
        if (cls)
            for (int i = 0; i < dim; i++)
                xt[i] = cls[i] + pos[i];
        for (int k = 0; k < patches; k++) {
            const float *e = embedded + ((size_t)t * patches + k) * dim;
            float *xr = xt + (size_t)(first + k) * dim;
            const float *pr = pos + (size_t)(first + k) * dim;
            for (int i = 0; i < dim; i++)
                xr[i] = e[i] + pr[i];
        }
    }
}

/* One pool task per worker, each taking a contiguous run of (sequence,
 * head) pairs, so that each worker owns exactly one [T, T] scores
 * buffer. */
typedef struct attn_job {
    const float *qkv;
    float *out;
    float *scores;
    int tokens, heads, head_dim, width, pairs, workers;
    float scale;
} attn_job;

static void attn_task(void *ctx, int worker)
{
    const attn_job *job = ctx;
    int T = job->tokens, d = job->head_dim, W = job->width;
    float *scores = job->scores + (size_t)worker * T * T;
    int first = (int)((long long)job->pairs * worker / job->workers);
    int last = (int)((long long)job->pairs * (worker + 1) / job->workers);
    for (int p = first; p < last; p++) {
        int seq = p / job->heads, head = p % job->heads;
        const float *q = job->qkv + (size_t)seq * T * 3 * W +
                         (size_t)head * d;
        float *o = job->out + (size_t)seq * T * W + (size_t)head * d;
        nv_gemm_nt(scores, q, q + W, T, d, T, 3 * W, 3 * W, T, job->scale,
                   0.0f);
        nv_softmax_rows(scores, T, T);
        nv_gemm_nn(o, scores, q + 2 * W, T, T, d, T, 3 * W, W, 1.0f, 0.0f);
    }
}

void nv_self_attention_fused(nv_pool *pool, int workers, const float *qkv,
                             float *out, float *scores, int n, int tokens,
                             int heads, int head_dim, float scale)
{
    attn_job job = {
        .qkv = qkv,
        .out = out,
        .scores = scores,
        .tokens = tokens,
        .heads = heads,
        .head_dim = head_dim,
        .width = heads * head_dim,
        .pairs = n * heads,
        .workers = workers,
        .scale = scale,
    };
    if (pool && workers > 1)
        nv_pool_run(pool, workers, attn_task, &job);
    else
        attn_task(&job, 0);
}
