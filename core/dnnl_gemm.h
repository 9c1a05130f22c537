/* dnnl_gemm.h - bf16 matrix products through oneDNN (Debian's libdnnl).
 *
 * Prefill and the ViT multiply many activation rows by each weight matrix.
 * For bf16 weights on a CPU with AVX-512 BF16, oneDNN's brgemm matmul runs
 * vdpbf16ps at 83-92 % of its peak on this project's shapes (measured:
 * docs/benchmarks.md, "Weights in their own precision"), where widening
 * panels to f32 for OpenBLAS reached about 30 % of the f32 peak; issue 15
 * asked to use a well-kept library where one reaches the target.
 *
 * The activations are rounded to bf16 (to nearest even) by the caller; the
 * products are exact in f32 and summed in f32, so the result is the f32
 * product of the bf16 values up to summation order.
 *
 * Threads: nvlm's pool owns the cores. Each call here runs on the calling
 * thread alone (its OpenMP thread count is set to 1 first, so oneDNN never
 * starts an OpenMP team of its own); the pool splits a product into
 * column ranges, one call per task.
 */
#ifndef NV_DNNL_GEMM_H
#define NV_DNNL_GEMM_H

#include <stdint.h>

#include "core/error.h"

/* 1 when oneDNN is linked and has a bf16 brgemm kernel for this CPU (it
 * reports an AVX-512 BF16 implementation for a probe product), else 0.
 * Asked once per process. */
int nv_dnnl_bf16_ready(void);

/* 1 when that probe product ran on AMX tiles, which implies
 * nv_dnnl_bf16_ready() (oneDNN picks them on CPUs with AMX-BF16, e.g.
 * Xeons since Sapphire Rapids, where they are several times faster than
 * vdpbf16ps), else 0. */
int nv_dnnl_bf16_amx(void);

/* y[m * ldy + j] = sum_k x[m * K + k] * w[j * K + k] (+ bias[j]), m < M,
 * j < N: bf16 activations x [M, K] and weight rows w [N, K] (as stored in a
 * model file), f32 output with row stride ldy; bias (N floats, may be NULL)
 * is added to the f32 sum as the kernel stores it, not in a pass of its
 * own. Returns 0, or -1 with err set when oneDNN refuses or runs out of
 * memory. */
int nv_dnnl_bf16_gemm_nt(const uint16_t *x, const uint16_t *w,
                         const float *bias, float *y, int M, int K, int N,
                         int ldy, nv_error *err);

/* The same with explicit strides, and the right operand either as weight
 * rows (w [N, K], the product x w^T) or already as [K, N] (w_kn: x w, e.g.
 * attention's probabilities times the values). Rows of x are ldx apart, of
 * w ldw apart, of y ldy apart. */
typedef struct nv_dnnl_bf16_product {
    const uint16_t *x;
    const uint16_t *w;
    const float *bias; /* N values added to every row; NULL: none */
    float *y;
    int M, K, N;
    int ldx, ldw, ldy;
    int w_kn;
} nv_dnnl_bf16_product;

int nv_dnnl_bf16_gemm(const nv_dnnl_bf16_product *p, nv_error *err);

#endif
