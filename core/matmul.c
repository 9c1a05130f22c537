/* matmul.c - OpenBLAS wrappers; see matmul.h. */
#include "core/matmul.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnnl_gemm.h"
#include "core/lowp.h"
#include "core/vec_math.h"

void nv_linear(float *y, const float *x, const float *w, const float *bias,
               int M, int K, int N)
{
    if (M == 1) {
        if (bias) {
            for (int n = 0; n < N; n++)
                y[n] = bias[n];
        }
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, x, 1,
                    bias ? 1.0f : 0.0f, y, 1);
        return;
    }
    if (bias) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++)
                y[(long)m * N + n] = bias[n];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K,
                w, K, bias ? 1.0f : 0.0f, y, N);
}

/* One row of a (decode: one query against the cache) goes to sgemv:
 * OpenBLAS 0.3.21 runs an M = 1 sgemm through its packing routines, which
 * took most of decode's attention time. */
void nv_gemm_nn(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta)
{
    if (M == 1) {
        cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, b, ldb, a, 1,
                    beta, c, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

void nv_gemm_nt(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta)
{
    if (M == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, b, ldb, a, 1,
                    beta, c, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

/* ---- weights in their stored precision ---------------------------------- */

typedef struct lowp_job {
    const float *x;
    const uint16_t *x_bf16; /* x rounded to bf16, for the oneDNN tasks */
    const nv_tensor *w;
    const float *bias;
    float *y;
    int M, K, N;
    int rows_per_task;
    int failed; /* a panel buffer could not be allocated */
} lowp_job;

static void fill_bias(float *y, const float *bias, int M, int N, int n0,
                      int n1)
{
    for (int m = 0; m < M; m++)
        memcpy(y + (size_t)m * N + n0, bias + n0,
               sizeof(float) * (size_t)(n1 - n0));
}

static void gemv_task(void *ctx, int index)
{
    lowp_job *j = ctx;
    int n0 = index * j->rows_per_task;
    int n1 = n0 + j->rows_per_task < j->N ? n0 + j->rows_per_task : j->N;
    if (j->bias)
        fill_bias(j->y, j->bias, j->M, j->N, n0, n1);
    nv_lowp_gemv_rows(j->w, n0, n1, j->x, j->M, j->y, j->N, j->bias != NULL);
}

static void panel_task(void *ctx, int index)
{
    lowp_job *j = ctx;
    int n0 = index * j->rows_per_task;
    int n1 = n0 + j->rows_per_task < j->N ? n0 + j->rows_per_task : j->N;
    float *panel = malloc(sizeof(float) * (size_t)(n1 - n0) * (size_t)j->K);
    if (!panel) {
        j->failed = 1;
        return;
    }
    nv_weight_rows_f32(j->w, n0, n1 - n0, panel);
    if (j->bias)
        fill_bias(j->y, j->bias, j->M, j->N, n0, n1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->M, n1 - n0, j->K,
                1.0f, j->x, j->K, panel, j->K, j->bias ? 1.0f : 0.0f,
                j->y + n0, j->N);
    free(panel);
}

/* A bf16 matrix against many rows on oneDNN (core/dnnl_gemm.h); a Q8_0 or
 * Q4_0 matrix the same way after its panel of rows is dequantized and
 * rounded to bf16 (a rounding of 2^-9 relative, well under a quantization
 * step). A task oneDNN refuses, or without memory for its panel, runs the
 * widening panel path instead. */
static void dnnl_task(void *ctx, int index)
{
    lowp_job *j = ctx;
    int n0 = index * j->rows_per_task;
    int n1 = n0 + j->rows_per_task < j->N ? n0 + j->rows_per_task : j->N;
    size_t panel_n = (size_t)(n1 - n0) * (size_t)j->K;
    const uint16_t *w = (const uint16_t *)j->w->data + (size_t)n0 * j->K;
    uint16_t *panel = NULL;
    if (nv_dtype_quantized(j->w->dtype)) {
        panel = malloc(sizeof(uint16_t) * panel_n);
        if (!panel || nv_weight_rows_bf16(j->w, n0, n1 - n0, panel) != 0) {
            free(panel);
            panel_task(ctx, index);
            return;
        }
        w = panel;
    }
    nv_error err = {{0}};
    int rc = nv_dnnl_bf16_gemm_nt(j->x_bf16, w, j->bias ? j->bias + n0 : NULL,
                                  j->y + n0, j->M, j->K, n1 - n0, j->N, &err);
    free(panel);
    if (rc != 0)
        panel_task(ctx, index);
}

/* Rows of w per task: a few tasks per worker so uneven cores still even
 * out; a multiple of 16 so every task's kernels run whole vectors of rows;
 * panels of at most 8 MiB of f32. */
static int task_rows(int N, int K, int workers, int panels)
{
    int tasks = workers > 1 ? 2 * workers : 1;
    int rows = (N + tasks - 1) / tasks;
    rows = (rows + 15) / 16 * 16;
    if (panels) {
        int cap = (int)((8u << 20) / (sizeof(float) * (size_t)K));
        cap = cap < 16 ? 16 : cap / 16 * 16;
        if (rows > cap)
            rows = cap;
    }
    return rows < 1 ? 1 : rows;
}

/* Rows of w per task of one product: task_rows, or all N when the
 * product is too small to share. Waking the pool costs tens of
 * microseconds: a product smaller than about that much work (a 512 x 512
 * f16 matrix read once, ~4 M multiply-adds) runs on the caller alone. */
static int job_rows(int M, int K, int N, int workers, int panels)
{
    int gemv = M < NV_LINEAR_GEMV_ROWS;
    double work = gemv ? (double)N * K : (double)M * N * K;
    if (work < (gemv ? 262144.0 : 4194304.0))
        return N;
    return task_rows(N, K, workers, panels);
}

/* 1 when products of 8+ rows with w go to oneDNN as bf16 on this CPU. */
static int dnnl_takes(const nv_tensor *w)
{
    return (w->dtype == NV_BF16 || nv_dtype_quantized(w->dtype)) &&
           nv_lowp_isa() == NV_ISA_AVX512BF16 && nv_dnnl_bf16_ready();
}

int nv_attention_bf16_for(const nv_tensor *w)
{
    return dnnl_takes(w);
}

const char *nv_linear_kernels(void)
{
    nv_isa isa = nv_lowp_isa();
    if (isa == NV_ISA_AVX512BF16 && nv_dnnl_bf16_amx())
        return "avx512bf16 (bf16, q8_0, q4_0, q4_k x 8+ rows: oneDNN on "
               "AMX tiles)";
    if (isa == NV_ISA_AVX512BF16 && nv_dnnl_bf16_ready())
        return "avx512bf16 (bf16, q8_0, q4_0, q4_k x 8+ rows: oneDNN)";
    return nv_isa_name(isa);
}

/* x rounded to bf16 for the oneDNN tasks: spread over the pool when it is
 * large (the whole input of a 512-token product is 0.4-1 M values, a
 * quarter to half a millisecond on one thread while the other waits). */
typedef struct round_job {
    const float *x;
    uint16_t *out;
    size_t n;
    int parts;
} round_job;

static void round_task(void *ctx, int part)
{
    const round_job *j = ctx;
    size_t first, last;
    nv_pool_part(j->n, part, j->parts, &first, &last);
    nv_lowp_round_bf16(j->x + first, j->out + first, last - first);
}

static void round_pooled(nv_pool *pool, const float *x, uint16_t *out,
                         size_t n)
{
    int workers = pool ? nv_pool_size(pool) : 1;
    round_job job = {x, out, n, workers};
    if (workers > 1 && n >= 65536)
        nv_pool_run(pool, workers, round_task, &job);
    else
        nv_lowp_round_bf16(x, out, n);
}

/* x [M, K] rounded to bf16 into a buffer of its own (*out, the caller
 * frees it). */
static int round_input(nv_pool *pool, const float *x, int M, int K,
                       uint16_t **out, nv_error *err)
{
    *out = malloc(sizeof(uint16_t) * (size_t)M * (size_t)K);
    if (!*out)
        return nv_fail(err, "linear: out of memory for %d x %d bf16 "
                       "activations", M, K);
    round_pooled(pool, x, *out, (size_t)M * (size_t)K);
    return 0;
}

/* The job of one product, its task function and its task count. */
static void plan_product(lowp_job *job, nv_task_fn *fn, int *tasks,
                         int workers)
{
    int gemv = job->M < NV_LINEAR_GEMV_ROWS;
    int dnnl = job->x_bf16 != NULL;
    int quantized = nv_dtype_quantized(job->w->dtype);
    job->rows_per_task = job_rows(job->M, job->K, job->N, workers,
                                  !gemv && (!dnnl || quantized));
    *tasks = (job->N + job->rows_per_task - 1) / job->rows_per_task;
    *fn = gemv ? gemv_task : dnnl ? dnnl_task : panel_task;
}

int nv_linear_w_rounded(nv_pool *pool, float *y, const float *x,
                        const uint16_t *x_bf16, const nv_tensor *w,
                        const float *bias, int M, int K, int N, nv_error *err)
{
    if (w->dtype == NV_F32) {
        nv_linear(y, x, w->data, bias, M, K, N);
        return 0;
    }
    int workers = pool ? nv_pool_size(pool) : 1;
    int dnnl = M >= NV_LINEAR_GEMV_ROWS && dnnl_takes(w);
    uint16_t *own = NULL;
    if (dnnl && !x_bf16 && round_input(pool, x, M, K, &own, err))
        return -1;
    if (own)
        x_bf16 = own;
    lowp_job job = {x, dnnl ? x_bf16 : NULL, w, bias, y, M, K, N, 0, 0};
    nv_task_fn fn;
    int tasks;
    plan_product(&job, &fn, &tasks, workers);
    if (pool && tasks > 1)
        nv_pool_run(pool, tasks, fn, &job);
    else
        for (int i = 0; i < tasks; i++)
            fn(&job, i);
    free(own);
    if (job.failed)
        return nv_fail(err, "linear: out of memory for a %d x %d weight "
                       "panel", job.rows_per_task, K);
    return 0;
}

int nv_linear_w(nv_pool *pool, float *y, const float *x, const nv_tensor *w,
                const float *bias, int M, int K, int N, nv_error *err)
{
    return nv_linear_w_rounded(pool, y, x, NULL, w, bias, M, K, N, err);
}

/* The products of a group in one pool job: task t belongs to the first
 * part whose first_task[] + its task count passes t. */
typedef struct group_job {
    lowp_job parts[NV_LINEAR_GROUP_MAX];
    nv_task_fn fn[NV_LINEAR_GROUP_MAX];
    int first_task[NV_LINEAR_GROUP_MAX + 1];
    int n_parts;
} group_job;

static void group_task(void *ctx, int index)
{
    group_job *g = ctx;
    int p = 0;
    while (index >= g->first_task[p + 1])
        p++;
    g->fn[p](&g->parts[p], index - g->first_task[p]);
}

int nv_linear_w_group_rounded(nv_pool *pool, const float *x,
                              const uint16_t *x_bf16, int M, int K,
                              const nv_linear_part *parts, int n_parts,
                              nv_error *err)
{
    int gemv = M < NV_LINEAR_GEMV_ROWS;
    int grouped = pool && nv_pool_size(pool) > 1 && n_parts > 1 &&
                  n_parts <= NV_LINEAR_GROUP_MAX;
    /* Decode: every part on the GEMV; prefill: every part on oneDNN. */
    for (int p = 0; grouped && p < n_parts; p++)
        grouped = gemv ? parts[p].w->dtype != NV_F32 : dnnl_takes(parts[p].w);
    if (!grouped) {
        for (int p = 0; p < n_parts; p++)
            if (nv_linear_w_rounded(pool, parts[p].y, x, x_bf16, parts[p].w,
                                    parts[p].bias, M, K, parts[p].N, err))
                return -1;
        return 0;
    }
    uint16_t *own = NULL;
    if (!gemv && !x_bf16 && round_input(pool, x, M, K, &own, err))
        return -1;
    if (own)
        x_bf16 = own;
    int workers = nv_pool_size(pool);
    group_job g = {.n_parts = n_parts};
    for (int p = 0; p < n_parts; p++) {
        lowp_job *j = &g.parts[p];
        *j = (lowp_job){x, gemv ? NULL : x_bf16, parts[p].w, parts[p].bias,
                        parts[p].y, M, K, parts[p].N, 0, 0};
        int tasks;
        plan_product(j, &g.fn[p], &tasks, workers);
        g.first_task[p + 1] = g.first_task[p] + tasks;
    }
    nv_pool_run(pool, g.first_task[n_parts], group_task, &g);
    free(own);
    for (int p = 0; p < n_parts; p++)
        if (g.parts[p].failed)
            return nv_fail(err, "linear: out of memory for a %d x %d weight "
                           "panel", g.parts[p].rows_per_task, K);
    return 0;
}

int nv_linear_w_group(nv_pool *pool, const float *x, int M, int K,
                      const nv_linear_part *parts, int n_parts, nv_error *err)
{
    return nv_linear_w_group_rounded(pool, x, NULL, M, K, parts, n_parts,
                                     err);
}
