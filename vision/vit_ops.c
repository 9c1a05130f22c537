/* vit_ops.c - float kernels shared by the vision encoders; see vit_ops.h. */
#include "vision/vit_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnnl_gemm.h"
#include "core/lowp.h"
#include "core/matmul.h"
#include "core/vec_math.h"


NV_VECTOR_CLONES void nv_layer_norm_rows(float *y, const float *x, int rows,
                                         int dim, const float *w,
                                         const float *b, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *yr = y + (size_t)r * dim;
        double mean = nv_sum_f64(xr, (size_t)dim) / dim;
        double sq = nv_sum_sq_f64(xr, (size_t)dim, mean);
        float rstd = (float)(1.0 / sqrt(sq / dim + eps));
        float fmean = (float)mean;
        for (int i = 0; i < dim; i++)
            yr[i] = (xr[i] - fmean) * rstd * w[i] + b[i];
    }
}

NV_VECTOR_CLONES void nv_rms_norm_rows(float *y, const float *x, int rows,
                                       int ld, int dim, int var_dim,
                                       const float *w, float eps)
{
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ld;
        float *yr = y + (size_t)r * ld;
        double sq = nv_sum_sq_f64(xr, (size_t)var_dim, 0.0);
        float scale = (float)(1.0 / sqrt(sq / var_dim + eps));
        for (int i = 0; i < dim; i++)
            yr[i] = xr[i] * scale * w[i];
    }
}

/* erf(z) in float to about 1.5 ulp, branch-free so that the GELU loop
 * vectorises (glibc's erff is a call per value, ~13 ns). |z| < 1: z * A(z^2);
 * 1 <= |z| < 3.92: B(|z| - 2.46) with erf's sign; beyond, erf rounds to +-1
 * in float. A and B are least-squares fits on Chebyshev nodes of erf in
 * double (numpy.polyfit, degrees 6 in z^2 and 12); measured
 * against double erf over [0, 3.92] their float Horner evaluation stays
 * within 3 * 2^-25 relative (A) and 1.7 * 2^-24 absolute (B). */
static float erf_poly(float z)
{
    const uint32_t one_bits = 0x3f800000;   /* 1.0f */
    const uint32_t limit_bits = 0x407ae148; /* 3.92f */
    uint32_t a_bits = float_bits(z) & 0x7fffffff;
    float a = bits_float(a_bits);
    float u = z * z;
    float small = 7.882497448e-05f;
    small = small * u - 8.018855006e-04f;
    small = small * u + 5.189312156e-03f;
    small = small * u - 2.685432881e-02f;
    small = small * u + 1.128359735e-01f;
    small = small * u - 3.761262596e-01f;
    small = small * u + 1.128379107e+00f;
    small *= z;
    float s = a - 2.46f;
    float large = -9.166920790e-06f;
    large = large * s + 2.536314241e-05f;
    large = large * s + 5.189640433e-05f;
    large = large * s - 3.013669630e-04f;
    large = large * s + 3.906787315e-04f;
    large = large * s + 4.615696962e-04f;
    large = large * s - 2.963119885e-03f;
    large = large * s + 6.798153743e-03f;
    large = large * s - 9.904964827e-03f;
    large = large * s + 9.832828306e-03f;
    large = large * s - 6.535748485e-03f;
    large = large * s + 2.656208817e-03f;
    large = large * s + 9.994966984e-01f;
    large = select_bits(mask_if(a_bits >= limit_bits), 1.0f, large);
    large = copysignf(large, z);
    return select_bits(mask_if(a_bits < one_bits), small, large);
}

NV_VECTOR_CLONES void nv_gelu_erf(float *x, size_t count)
{
    /* The same expression as PyTorch's, 1 + erf rounding included, so
     * that large negative inputs give the same (signed) zeros. */
    const float inv_sqrt2 = 0.70710678118654752440f;
    for (size_t i = 0; i < count; i++)
        x[i] = 0.5f * x[i] * (1.0f + erf_poly(x[i] * inv_sqrt2));
}

void nv_add_scaled_rows(float *x, const float *delta, const float *scale,
                        int rows, int dim)
{
    for (size_t r = 0; r < (size_t)rows; r++)
        for (int i = 0; i < dim; i++)
            x[r * dim + i] += scale[i] * delta[r * dim + i];
}

/* ---- the same, spread over a pool ------------------------------------- */

/* Work is cut into one contiguous chunk per pool thread (nv_pool_part). */

static int parts_for(const nv_pool *pool, size_t total)
{
    int parts = pool ? nv_pool_size(pool) : 1;
    return (size_t)parts > total ? (total ? (int)total : 1) : parts;
}

typedef struct gelu_job {
    float *x;
    uint16_t *x_bf16; /* NULL: no rounded copy */
    size_t count;
    int parts;
} gelu_job;

/* Pieces of this many values are rounded right after their GELU, while
 * they are still in L1/L2. */
enum { GELU_PIECE = 4096 };

static void gelu_task(void *ctx, int part)
{
    const gelu_job *job = ctx;
    size_t first, last;
    nv_pool_part(job->count, part, job->parts, &first, &last);
    if (!job->x_bf16) {
        nv_gelu_erf(job->x + first, last - first);
        return;
    }
    for (size_t at = first; at < last; at += GELU_PIECE) {
        size_t n = last - at < GELU_PIECE ? last - at : GELU_PIECE;
        nv_gelu_erf(job->x + at, n);
        nv_lowp_round_bf16(job->x + at, job->x_bf16 + at, n);
    }
}

void nv_gelu_erf_pooled_bf16(nv_pool *pool, float *x, uint16_t *x_bf16,
                             size_t count)
{
    gelu_job job = {x, x_bf16, count, parts_for(pool, count)};
    if (job.parts > 1)
        nv_pool_run(pool, job.parts, gelu_task, &job);
    else
        gelu_task(&job, 0);
}

void nv_gelu_erf_pooled(nv_pool *pool, float *x, size_t count)
{
    nv_gelu_erf_pooled_bf16(pool, x, NULL, count);
}

/* b == NULL selects RMSNorm. */
typedef struct norm_job {
    float *y;
    uint16_t *y_bf16; /* NULL: no rounded copy; else rows dim apart */
    const float *x;
    int rows, ld, dim, var_dim, parts;
    const float *w, *b;
    float eps;
} norm_job;

static void norm_some(const norm_job *job, int first, int last)
{
    float *y = job->y + (size_t)first * job->ld;
    const float *x = job->x + (size_t)first * job->ld;
    if (job->b)
        nv_layer_norm_rows(y, x, last - first, job->dim, job->w, job->b,
                           job->eps);
    else
        nv_rms_norm_rows(y, x, last - first, job->ld, job->dim, job->var_dim,
                         job->w, job->eps);
}

static void norm_task(void *ctx, int part)
{
    const norm_job *job = ctx;
    size_t lo, hi;
    nv_pool_part((size_t)job->rows, part, job->parts, &lo, &hi);
    int first = (int)lo, last = (int)hi;
    if (!job->y_bf16) {
        norm_some(job, first, last);
        return;
    }
    /* Row by row, each rounded while it is still in L1. */
    for (int r = first; r < last; r++) {
        norm_some(job, r, r + 1);
        nv_lowp_round_bf16(job->y + (size_t)r * job->ld,
                           job->y_bf16 + (size_t)r * job->dim,
                           (size_t)job->dim);
    }
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

void nv_norm_rows_pooled_bf16(nv_pool *pool, float *y, uint16_t *y_bf16,
                              const float *x, int rows, int dim,
                              const float *w, const float *b, float eps)
{
    norm_job job = {.y = y, .y_bf16 = y_bf16, .x = x, .rows = rows,
                    .ld = dim, .dim = dim, .var_dim = dim, .w = w, .b = b,
                    .eps = eps};
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
 * buffer. (Query blocks that keep the scores in L2 measured no faster.) */
typedef struct attn_job {
    const float *qkv;
    const uint16_t *qkv_bf16; /* qkv rounded to bf16 (bf16 products) */
    float *out;
    float *scores;
    int tokens, heads, head_dim, width, pairs, workers;
    float scale;
} attn_job;

/* One pair in bf16 from the rounded q | k | v (head-major: this pair's q,
 * k and v each [T, d], dense): 0, or -1 when oneDNN refused (o is then
 * untouched). The scale goes into the softmax; with a power-of-two scale
 * (head width 64: 1/8) that gives the same bits as scaling q before its
 * rounding did. */
static int attn_pair_bf16(const attn_job *job, const uint16_t *q,
                          const uint16_t *k, const uint16_t *v, uint16_t *p,
                          float *scores, float *o)
{
    int T = job->tokens, d = job->head_dim, W = job->width;
    nv_error err = {{0}};
    nv_dnnl_bf16_product qk = {.x = q, .w = k, .y = scores, .M = T, .K = d,
                               .N = T, .ldx = d, .ldw = d, .ldy = T};
    if (nv_dnnl_bf16_gemm(&qk, &err) != 0)
        return -1;
    nv_softmax_rows_bf16_scaled(scores, T, T, job->scale, p);
    /* P V with V as it lies, [T, d]: no transposed copy. */
    nv_dnnl_bf16_product pv = {.x = p, .w = v, .y = o, .M = T, .K = T,
                               .N = d, .ldx = T, .ldw = d, .ldy = W,
                               .w_kn = 1};
    return nv_dnnl_bf16_gemm(&pv, &err);
}

static void attn_task(void *ctx, int worker)
{
    const attn_job *job = ctx;
    int T = job->tokens, d = job->head_dim, W = job->width;
    float *scores = job->scores + (size_t)worker * T * T;
    size_t lo, hi;
    nv_pool_part((size_t)job->pairs, worker, job->workers, &lo, &hi);
    int first = (int)lo, last = (int)hi;
    uint16_t *probs = NULL;
    if (job->qkv_bf16 && first < last)
        probs = malloc(sizeof(uint16_t) * (size_t)T * T);
    for (int p = first; p < last; p++) {
        int seq = p / job->heads, head = p % job->heads;
        size_t at = (size_t)seq * T * 3 * W + (size_t)head * d;
        const float *q = job->qkv + at;
        float *o = job->out + (size_t)seq * T * W + (size_t)head * d;
        if (probs) {
            /* head-major blocks: [seq][q | k | v][head][T][d] */
            size_t block = (size_t)T * d, part = (size_t)job->heads * block;
            const uint16_t *qh = job->qkv_bf16 + (size_t)seq * 3 * part +
                                 (size_t)head * block;
            if (attn_pair_bf16(job, qh, qh + part, qh + 2 * part, probs,
                               scores, o) == 0)
                continue;
        }
        nv_gemm_nt(scores, q, q + W, T, d, T, 3 * W, 3 * W, T, job->scale,
                   0.0f);
        nv_softmax_rows(scores, T, T);
        nv_gemm_nn(o, scores, q + 2 * W, T, T, d, T, 3 * W, W, 1.0f, 0.0f);
    }
    free(probs);
}

/* q | k | v of every token rounded to bf16 in one pass over rows, on the
 * pool, into head-major blocks ([seq][q | k | v][head][T][d]) so that each
 * pair's products read dense matrices. Read in place with the rows' 3W
 * stride instead, oneDNN 2.6 runs q k^T on its gemm:jit kernel, not
 * brgemm: 2.1x slower on a Xeon with AMX (1025 x 64 x 1025, one thread).
 * Gathering per pair instead (three 64-value rows 3W floats apart per
 * token, for every head) took 5 % of a ViT pass. */
typedef struct qkv_round_job {
    const float *qkv;
    uint16_t *out;
    size_t rows; /* n * tokens */
    int tokens, heads, head_dim;
    int parts;
} qkv_round_job;

static void qkv_round_task(void *ctx, int part)
{
    const qkv_round_job *j = ctx;
    size_t first, last;
    nv_pool_part(j->rows, part, j->parts, &first, &last);
    size_t T = (size_t)j->tokens, d = (size_t)j->head_dim;
    size_t W = (size_t)j->heads * d, block = T * d;
    for (size_t r = first; r < last; r++) {
        size_t seq = r / T, t = r % T;
        const float *row = j->qkv + r * 3 * W;
        uint16_t *dst = j->out + seq * 3 * W * T + t * d;
        /* the row's 3 * heads pieces of d values (q's heads, then k's,
         * then v's) go to the blocks of the same order */
        for (size_t b = 0; b < 3 * (size_t)j->heads; b++)
            nv_lowp_round_bf16(row + b * d, dst + b * block, d);
    }
}

void nv_self_attention_fused(nv_pool *pool, int workers, const float *qkv,
                             float *out, float *scores, int n, int tokens,
                             int heads, int head_dim, float scale, int bf16)
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
    uint16_t *rounded = NULL;
    if (bf16) {
        qkv_round_job r = {qkv, NULL, (size_t)n * tokens, tokens, heads,
                           head_dim, parts_for(pool, (size_t)n * tokens)};
        /* Without memory for the copy every pair runs in f32. */
        rounded = malloc(sizeof(uint16_t) * r.rows * 3 * (size_t)job.width);
        r.out = rounded;
        if (rounded && r.parts > 1)
            nv_pool_run(pool, r.parts, qkv_round_task, &r);
        else if (rounded)
            qkv_round_task(&r, 0);
    }
    job.qkv_bf16 = rounded;
    /* Each task's products run single-threaded, side by side (nv_pool_run
     * pins OpenBLAS to 1 thread for the job). */
    if (pool && workers > 1)
        nv_pool_run(pool, workers, attn_task, &job);
    else
        attn_task(&job, 0);
    free(rounded);
}
