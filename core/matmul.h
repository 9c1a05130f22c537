/* matmul.h - every matrix product in nvlm, through OpenBLAS.
 *
 * Weights are stored as PyTorch's nn.Linear stores them: W is [N, K] (out x
 * in), row-major. nv_linear computes Y[M, N] = X[M, K] W^T (+ bias[N]) with
 * cblas_sgemm, or cblas_sgemv when M == 1 (OpenBLAS 0.3.21 does not switch
 * to gemv by itself, and single-token decode is all M == 1).
 */
#ifndef NV_MATMUL_H
#define NV_MATMUL_H

/* y[M,N] = x[M,K] * w[N,K]^T + bias (bias may be NULL). y must not alias x. */
void nv_linear(float *y, const float *x, const float *w, const float *bias,
               int M, int K, int N);

/* c[M,N] = alpha * a[M,K] * b[K,N] + beta * c, with leading dimensions. */
void nv_gemm_nn(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta);
/* c[M,N] = alpha * a[M,K] * b[N,K]^T + beta * c, with leading dimensions. */
void nv_gemm_nt(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta);

#endif
