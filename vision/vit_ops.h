/* vit_ops.h - the float kernels the vision encoders (vit_forward.c,
 * clip_vit.c, mllama_vision.c) and the projector share: LayerNorm, RMSNorm
 * (with a partial-width variance, for NVLM-D's q/k norms), exact GELU,
 * softmax, the layer-scale residual add, the patch embedding's im2col and
 * token placement, and unmasked multi-head self-attention.
 *
 * Reductions accumulate in double, so our rounding stays well below the
 * float32 noise of the reference we are checked against.
 */
#ifndef NV_VIT_OPS_H
#define NV_VIT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/threads.h"
#include "core/vec_math.h" /* nv_softmax_rows */

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

/* x = x * Phi(x), the exact (erf) GELU of PyTorch's nn.GELU(), with erf
 * from a vectorisable polynomial accurate to about 1.5 ulp. */
void nv_gelu_erf(float *x, size_t count);

/* nv_gelu_erf spread over the pool (NULL: the calling thread). */
void nv_gelu_erf_pooled(nv_pool *pool, float *x, size_t count);

/* The same, and when x_bf16 is not NULL the result also rounded to bf16
 * there (nv_lowp_round_bf16's bits) piece by piece, for a product on
 * oneDNN to read (core/matmul.h, nv_linear_w_rounded). */
void nv_gelu_erf_pooled_bf16(nv_pool *pool, float *x, uint16_t *x_bf16,
                             size_t count);

/* nv_layer_norm_rows / nv_rms_norm_rows with their rows spread over the pool
 * (NULL: the calling thread). */
void nv_layer_norm_rows_pooled(nv_pool *pool, float *y, const float *x,
                               int rows, int dim, const float *w,
                               const float *b, float eps);
void nv_rms_norm_rows_pooled(nv_pool *pool, float *y, const float *x,
                             int rows, int ld, int dim, int var_dim,
                             const float *w, float eps);

/* nv_layer_norm_rows (b not NULL) or full-width nv_rms_norm_rows (b NULL)
 * on the pool, each row also rounded to bf16 into y_bf16 (rows dim apart;
 * NULL: none) while it is still in cache. */
void nv_norm_rows_pooled_bf16(nv_pool *pool, float *y, uint16_t *y_bf16,
                              const float *x, int rows, int dim,
                              const float *w, const float *b, float eps);

/* nv_softmax_rows: core/vec_math.h */

/* x[r] += scale * delta[r] element-wise (InternViT's ls1 / ls2). */
void nv_add_scaled_rows(float *x, const float *delta, const float *scale,
                        int rows, int dim);

/* Conv2d(3, C, P, stride P) as a matrix product, step 1: the patches of n
 * channels-first images [n, 3, S, S] (S = image_size, a multiple of
 * P = patch; g = S / P) as the rows of cols [n * g * g, 3 * P * P], patches
 * row-major, each row ordered (channel, ky, kx) as a conv weight
 * [C, 3, P, P] is laid out. */
void nv_patch_im2col(const float *pixels, int n, int image_size, int patch,
                     float *cols);

/* The tokens of n images into x [n, T, dim] (T = first + patches):
 * with cls (first = 1) x[t][0] = cls + pos[0]; then
 * x[t][first + k] = embedded[t * patches + k] + pos[first + k]. cls may be
 * NULL (first = 0, no CLS token). */
void nv_place_patch_tokens(const float *embedded, const float *cls,
                           const float *pos, int n, int patches, int dim,
                           float *x);

/* Multi-head self-attention, no mask, for n sequences of `tokens` tokens
 * from a fused q | k | v matrix qkv [n * tokens, 3 * width] (each part
 * `heads` heads of head_dim side by side, width = heads * head_dim) into
 * out [n * tokens, width]: softmax(q k^T * scale) v per (sequence, head).
 * The (sequence, head) pairs are spread over `workers` pool tasks (pool
 * NULL or workers 1: the calling thread); scores holds
 * workers * tokens * tokens floats.
 *
 * bf16 = 1 runs the two products as bf16 x bf16 -> f32 on oneDNN (q, k, v
 * rounded to bf16 once for all pairs, to nearest even, and read in place;
 * the scale applied in the f32 softmax, whose probabilities are rounded to
 * bf16), as llama.cpp does for f16 models: for an encoder whose weights
 * are bf16 or quantized (nv_attention_bf16_for). Without memory for the
 * rounded copy, or where oneDNN refuses a product, the pairs run in f32. */
void nv_self_attention_fused(nv_pool *pool, int workers, const float *qkv,
                             float *out, float *scores, int n, int tokens,
                             int heads, int head_dim, float scale, int bf16);

#endif
