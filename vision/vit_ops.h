/* vit_ops.h - the row-wise float kernels of the vision encoder and its
 * projector: LayerNorm, RMSNorm (with a partial-width variance, for NVLM-D's
 * q/k norms), exact GELU, softmax and the layer-scale residual add.
 *
 * Reductions accumulate in double, so our rounding stays well below the
 * float32 noise of the reference we are checked against.
 */
#ifndef NV_VIT_OPS_H
#define NV_VIT_OPS_H

#include <stddef.h>

#include "core/threads.h"

/* y[r] = (x[r] - mean) / sqrt(var + eps) * w + b over rows of dim values;
 * y may equal x. */
void nv_layer_norm_rows(float *y, const float *x, int rows, int dim,
                        const float *w, const float *b, float eps);

/* y[r] = x[r] / sqrt(mean(x[r][0..var_dim)^2) + eps) * w over dim values:
 * the mean square covers only the first var_dim values (NVLM-D's q/k norms
 * span its dummy heads, their statistics only the real ones). Rows are ld
 * floats apart in both x and y; y may equal x. */
void nv_rms_norm_rows(float *y, const float *x, int rows, int ld, int dim,
                      int var_dim, const float *w, float eps);

/* x = x * Phi(x), the exact (erf) GELU of PyTorch's nn.GELU(). */
void nv_gelu_erf(float *x, size_t count);

/* nv_gelu_erf spread over the pool (NULL: the calling thread). GELU is the
 * one element-wise step whose cost rivals the matrix products (an erff per
 * MLP activation). */
void nv_gelu_erf_pooled(nv_pool *pool, float *x, size_t count);

/* nv_layer_norm_rows / nv_rms_norm_rows with their rows spread over the pool
 * (NULL: the calling thread). */
void nv_layer_norm_rows_pooled(nv_pool *pool, float *y, const float *x,
                               int rows, int dim, const float *w,
                               const float *b, float eps);
void nv_rms_norm_rows_pooled(nv_pool *pool, float *y, const float *x,
                             int rows, int ld, int dim, int var_dim,
                             const float *w, float eps);

/* Softmax of each row, in place. */
void nv_softmax_rows(float *s, int rows, int cols);

/* x[r] += scale * delta[r] element-wise (InternViT's ls1 / ls2). */
void nv_add_scaled_rows(float *x, const float *delta, const float *scale,
                        int rows, int dim);

#endif
