/* matmul.c - OpenBLAS wrappers; see matmul.h. */
#include "core/matmul.h"

#include <cblas.h>

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

void nv_gemm_nn(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, a,
                lda, b, ldb, beta, c, ldc);
}

void nv_gemm_nt(float *c, const float *a, const float *b, int M, int K, int N,
                int lda, int ldb, int ldc, float alpha, float beta)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, a,
                lda, b, ldb, beta, c, ldc);
}
