/* decoder_rows.h - the decoder's steps that work position by position: the
 * residual add and RMSNorm before each block, SiLU gating, the rotary
 * embedding and the store of keys and values into the cache.
 *
 * For a chunk of NV_LINEAR_GEMV_ROWS positions or more each step is one
 * pool job over ranges of rows: on a 512-token prefill on two threads
 * these loops took a tenth of the time, run by one thread while the other
 * waited. Shorter chunks (decode) run on the caller, where waking the pool
 * would cost more than the loop. The steps whose result feeds a product on
 * oneDNN can also write it rounded to bf16 (nv_lowp_round_bf16's bits), so
 * that the product reads it instead of making its own pass over it
 * (core/matmul.h, nv_linear_w_rounded). Every row is computed as it would
 * be on one thread: the results do not depend on the pool's size.
 *
 * Ownership: every buffer is the caller's, borrowed for the call.
 */
#ifndef NV_DECODER_ROWS_H
#define NV_DECODER_ROWS_H

#include <stdint.h>

#include "core/threads.h"
#include "text/kv_cache.h"

/* For each of T rows of H values: x += add (add may be NULL); then, when
 * weight is not NULL, y = weight * x / sqrt(mean(x^2) + eps) (Llama's
 * RMSNorm, the sum in double) and, when y_bf16 is not NULL, y rounded to
 * bf16 into y_bf16. y may be add: a row is added before it is normed. */
void nv_dec_add_norm(nv_pool *pool, float *x, const float *add,
                     const float *weight, float *y, uint16_t *y_bf16, int T,
                     int H, float eps);

/* gate = silu(gate) * up over T rows of I values (core/vec_math.h's
 * nv_silu_mul) and, when gate_bf16 is not NULL, the result rounded to bf16
 * into gate_bf16. */
void nv_dec_silu_gate(nv_pool *pool, float *gate, const float *up,
                      uint16_t *gate_bf16, int T, int I);

/* One chunk's queries and keys rotated (text/rope.h: q [T][n_heads * hd],
 * k [T][n_kv_heads * hd], tables [T][hd / 2]) and its keys and values
 * stored in the cache's rows pos0 .. pos0 + T - 1 of `layer`. */
typedef struct nv_dec_rope_store {
    float *q, *k;
    const float *v;
    const float *cos_tab, *sin_tab;
    int T, n_heads, n_kv_heads, head_dim;
    nv_kv_cache *kv;
    int layer, pos0;
} nv_dec_rope_store;
void nv_dec_rope_and_store(nv_pool *pool, const nv_dec_rope_store *job);

#endif
