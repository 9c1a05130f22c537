/* matmul.h - every matrix product in nvlm, through OpenBLAS.
 *
 * Weights are stored as PyTorch's nn.Linear stores them: W is [N, K] (out x
 * in), row-major. nv_linear computes Y[M, N] = X[M, K] W^T (+ bias[N]) with
 * cblas_sgemm, or cblas_sgemv when M == 1 (OpenBLAS 0.3.21 does not switch
 * to gemv by itself, and single-token decode is all M == 1).
 */
#ifndef NV_MATMUL_H
#define NV_MATMUL_H

#include <stdint.h>

#include "core/tensor.h"
#include "core/threads.h"

/* y[M,N] = x[M,K] * w[N,K]^T + bias (bias may be NULL). y must not alias x. */
void nv_linear(float *y, const float *x, const float *w, const float *bias,
               int M, int K, int N);

/* y[M,N] = x[M,K] * w^T + bias for a weight tensor [N, K] stored as F32,
 * F16, BF16, Q8_0, Q4_0 or Q4_K (borrowed from the mapped file;
 * core/lowp.h).
 *   - F32: nv_linear (OpenBLAS).
 *   - others, M < NV_LINEAR_GEMV_ROWS (decode, short chunks): the GEMV of
 *     lowp.c, rows of w split over the pool, each weight byte read once
 *     (with AVX-512 BF16 + VNNI: bf16 on vdpbf16ps with bf16-rounded
 *     activations, Q8_0 / Q4_0 on vpdpbusd with activations quantized per
 *     block of 32; with AVX2, Q8_0 / Q4_0 / Q4_K on vpmaddubsw likewise;
 *     see lowp.h).
 *   - larger M (prefill, ViT), BF16 and quantized types where oneDNN has a
 *     bf16 kernel (core/dnnl_gemm.h): each pool task multiplies a range of w's
 *     rows (quantized ones dequantized into a bf16 panel first) by the
 *     bf16-rounded activations on oneDNN, one thread each.
 *   - larger M otherwise: the pool's tasks each widen a panel of w's rows
 *     into an f32 buffer and multiply it with OpenBLAS (one thread each
 *     inside the job), so only a few panels are ever f32 at once instead
 *     of the whole model.
 * pool may be NULL (everything on the caller). Returns -1 only when a
 * buffer cannot be allocated (y is then undefined). */
#define NV_LINEAR_GEMV_ROWS 8
int nv_linear_w(nv_pool *pool, float *y, const float *x, const nv_tensor *w,
                const float *bias, int M, int K, int N, nv_error *err);

/* nv_linear_w with x's bf16 rounding made by the caller: x_bf16 (may be
 * NULL) holds nv_lowp_round_bf16(x) for all M * K values, and a product
 * that goes to oneDNN reads it instead of rounding x again. A caller that
 * writes x element by element (a norm, a gating) rounds as it goes, so no
 * product makes its own pass over its input. x is still read by the
 * other paths. */
int nv_linear_w_rounded(nv_pool *pool, float *y, const float *x,
                        const uint16_t *x_bf16, const nv_tensor *w,
                        const float *bias, int M, int K, int N, nv_error *err);

/* Several products of one input (a layer's q, k and v; gate and up):
 * parts[p].y = x * parts[p].w^T + parts[p].bias, as nv_linear_w computes
 * each, bit for bit. On a pool of 2+ threads, when every part runs on the
 * decode GEMV (M < NV_LINEAR_GEMV_ROWS, weights other than f32) or every
 * part goes to oneDNN (8+ rows), all of them run as one pool job, the
 * input rounded to bf16 once: a pool job's hand-over costs microseconds,
 * a decoder layer ran eight of them per token, and the group's rows also
 * spread more evenly over the threads. Otherwise, and for more than
 * NV_LINEAR_GROUP_MAX parts, one nv_linear_w call per part. Returns -1
 * only when a buffer cannot be allocated. */
#define NV_LINEAR_GROUP_MAX 4
typedef struct nv_linear_part {
    float *y;
    const nv_tensor *w; /* [N, K] */
    const float *bias;  /* NULL for none */
    int N;
} nv_linear_part;
int nv_linear_w_group(nv_pool *pool, const float *x, int M, int K,
                      const nv_linear_part *parts, int n_parts,
                      nv_error *err);
/* The same with x's bf16 rounding given (as nv_linear_w_rounded). */
int nv_linear_w_group_rounded(nv_pool *pool, const float *x,
                              const uint16_t *x_bf16, int M, int K,
                              const nv_linear_part *parts, int n_parts,
                              nv_error *err);

/* 1 when attention next to a matrix stored as w should multiply in bf16
 * too (vision/vit_ops.h): w is bf16 or quantized and nv_linear_w takes
 * such products to oneDNN on this CPU; 0 for f32 weights, which keep f32
 * attention. */
int nv_attention_bf16_for(const nv_tensor *w);

/* Which kernels nv_linear_w runs for weights other than f32: the ISA level
 * of core/lowp.c, and whether oneDNN takes the bf16 and quantized products
 * of 8 rows or more ("avx512bf16 (bf16, q8_0, q4_0, q4_k x 8+ rows:
 * oneDNN)", "avx512", "avx2", "c"). */
const char *nv_linear_kernels(void);

/* c[M,N] = alpha * a[M,K] * b[K,N] + beta * c, with leading dimensions. */
void nv_gemm_nn(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta);

/* c[M,N] = alpha * a[M,K] * b[N,K]^T + beta * c, with leading dimensions. */
void nv_gemm_nt(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta);

#endif
