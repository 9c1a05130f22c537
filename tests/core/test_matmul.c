/* test_matmul.c - nv_linear (the M == 1 sgemv path and the sgemm path,
 * with and without bias) and nv_gemm_nn / nv_gemm_nt (leading dimensions
 * wider than the matrices, alpha and beta) against a naive double-precision
 * loop. Each output element must satisfy
 *     |got - ref| <= 1e-5 * (sum_k |a_k b_k| + |bias| or |beta c|)
 * i.e. 1e-5 relative to the magnitude of the terms it sums; the output
 * buffers start as NaN so that any element not written shows up. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/matmul.h"
#include "tests/check.h"

#define REL_TOL 1e-5

static float next_value(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static void fill(float *v, long n, uint64_t *state)
{
    for (long i = 0; i < n; i++)
        v[i] = next_value(state);
}

static double worst_rel = 0;

/* Compares one element; `scale` is the sum of |terms| it is made of. */
static int element_ok(float got, double ref, double scale)
{
    double rel = fabs((double)got - ref) / (scale > 0 ? scale : 1.0);
    if (!(rel <= REL_TOL))
        return 0;
    if (rel > worst_rel)
        worst_rel = rel;
    return 1;
}

static void check_linear(int M, int K, int N, int with_bias)
{
    uint64_t state = 12345u + (uint64_t)(M * 1000 + K * 10 + N);
    float *x = malloc(sizeof(float) * (size_t)M * K);
    float *w = malloc(sizeof(float) * (size_t)N * K);
    float *b = malloc(sizeof(float) * (size_t)N);
    float *y = malloc(sizeof(float) * (size_t)M * N);
    if (!CHECK(x && w && b && y))
        goto done;
    fill(x, (long)M * K, &state);
    fill(w, (long)N * K, &state);
    fill(b, N, &state);
    for (long i = 0; i < (long)M * N; i++)
        y[i] = NAN;

    nv_linear(y, x, w, with_bias ? b : NULL, M, K, N);

    int ok = 1;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double ref = with_bias ? b[n] : 0.0;
            double scale = fabs(ref);
            for (int k = 0; k < K; k++) {
                double term = (double)x[(long)m * K + k] * w[(long)n * K + k];
                ref += term;
                scale += fabs(term);
            }
            ok &= element_ok(y[(long)m * N + n], ref, scale);
        }
    if (!CHECK(ok))
        fprintf(stderr, "nv_linear M=%d K=%d N=%d bias=%d off\n", M, K, N,
                with_bias);
done:
    free(x);
    free(w);
    free(b);
    free(y);
}

/* transposed_b = 0: c = alpha a b + beta c with b [K, N];
 * transposed_b = 1: c = alpha a b^T + beta c with b [N, K]. */
static void check_gemm(int transposed_b, int M, int K, int N, float alpha,
                       float beta)
{
    const int pad = 3;
    int lda = K + pad, ldc = N + pad;
    int ldb = transposed_b ? K + pad : N + pad;
    int brows = transposed_b ? N : K;
    uint64_t state = 777u + (uint64_t)(transposed_b * 100000 + M * 100 + N);
    float *a = malloc(sizeof(float) * (size_t)M * lda);
    float *b = malloc(sizeof(float) * (size_t)brows * ldb);
    float *c = malloc(sizeof(float) * (size_t)M * ldc);
    float *c0 = malloc(sizeof(float) * (size_t)M * ldc);
    if (!CHECK(a && b && c && c0))
        goto done;
    fill(a, (long)M * lda, &state);
    fill(b, (long)brows * ldb, &state);
    fill(c0, (long)M * ldc, &state);
    for (long i = 0; i < (long)M * ldc; i++)
        c[i] = beta == 0.0f ? NAN : c0[i];
    /* Padding columns must be left alone. */
    for (int m = 0; m < M; m++)
        for (int j = N; j < ldc; j++)
            c[(long)m * ldc + j] = c0[(long)m * ldc + j];

    if (transposed_b)
        nv_gemm_nt(c, a, b, M, K, N, lda, ldb, ldc, alpha, beta);
    else
        nv_gemm_nn(c, a, b, M, K, N, lda, ldb, ldc, alpha, beta);

    int ok = 1, padding_kept = 1;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double dot = 0, scale = 0;
            for (int k = 0; k < K; k++) {
                double bv = transposed_b ? b[(long)n * ldb + k]
                                         : b[(long)k * ldb + n];
                double term = (double)a[(long)m * lda + k] * bv;
                dot += term;
                scale += fabs(term);
            }
            double prior =
                beta == 0.0f ? 0.0 : (double)beta * c0[(long)m * ldc + n];
            double ref = alpha * dot + prior;
            ok &= element_ok(c[(long)m * ldc + n], ref,
                             fabs((double)alpha) * scale + fabs(prior));
        }
        for (int j = N; j < ldc; j++)
            padding_kept &= c[(long)m * ldc + j] == c0[(long)m * ldc + j];
    }
    if (!CHECK(ok && padding_kept))
        fprintf(stderr, "gemm_%s M=%d K=%d N=%d alpha=%g beta=%g off\n",
                transposed_b ? "nt" : "nn", M, K, N, alpha, beta);
done:
    free(a);
    free(b);
    free(c);
    free(c0);
}

int main(void)
{
    const int shapes[][3] = {{1, 1, 1},   {1, 37, 19}, {1, 256, 300},
                             {2, 5, 3},   {5, 37, 19}, {17, 64, 33},
                             {64, 96, 128}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int bias = 0; bias < 2; bias++)
            check_linear(shapes[s][0], shapes[s][1], shapes[s][2], bias);

    for (int t = 0; t < 2; t++) {
        check_gemm(t, 1, 40, 7, 1.0f, 0.0f); /* M = 1: the sgemv path */
        check_gemm(t, 1, 64, 300, 0.125f, 0.0f);
        check_gemm(t, 1, 33, 21, -1.5f, 2.0f);
        check_gemm(t, 9, 33, 21, 1.0f, 0.0f);
        check_gemm(t, 9, 33, 21, 0.5f, 2.0f);
        check_gemm(t, 31, 70, 45, -1.5f, 1.0f);
    }
    printf("matmul: worst relative error %.3g (tolerance %.0e)\n", worst_rel,
           REL_TOL);
    return check_summary("matmul");
}
