/* causal_attn.h - multi-head causal attention of new positions over the
 * KV cache (the decoder's self-attention).
 *
 * T new positions pos0 .. pos0+T-1 of one layer, their queries rotated and
 * their keys and values already stored in the cache, each attend to the
 * cache's positions 0 .. itself: softmax(q k^T / sqrt(hd)) v, query head h
 * reading key/value head h / (n_heads / n_kv_heads) (grouped-query).
 * The work is split into (head, block of NV_ATTN_QBLOCK queries) tasks on
 * the pool; each worker owns one slice of the scratch and takes the next
 * task from a shared counter, the longest (the last blocks) first.
 *
 * Two kernels:
 *   - f32: OpenBLAS sgemm per task (single-threaded inside the pool job),
 *     softmax in f32. Decode and every model whose products are f32.
 *   - bf16 (`bf16` set at reserve time and a chunk of at least
 *     NV_LINEAR_GEMV_ROWS positions): q / sqrt(hd), the keys, the values
 *     and the probabilities are rounded to bf16 and oneDNN multiplies them
 *     with f32 sums (core/dnnl_gemm.h). The decoder asks for it when its
 *     linear maps already round their activations to bf16 (bf16 and
 *     quantized weights on an AVX-512 BF16 CPU, nv_attention_bf16_for),
 *     so prefill's attention runs at the speed of its linear maps instead
 *     of f32 sgemm's. Key counts are padded to multiples of
 *     NV_ATTN_QBLOCK (zero keys, zero probabilities) and query blocks to
 *     NV_ATTN_QBLOCK rows, so oneDNN compiles one pair of kernels per 64
 *     positions of context, not one per prompt length.
 *
 * Ownership: the scratch belongs to its caller (nv_causal_attn_reserve
 * grows it, nv_causal_attn_free releases it); q, the cache and out are
 * borrowed for one call.
 */
#ifndef NV_CAUSAL_ATTN_H
#define NV_CAUSAL_ATTN_H

#include <stdint.h>

#include "core/error.h"
#include "core/threads.h"
#include "text/kv_cache.h"

/* Queries per task: bounds a worker's score scratch to 64 x context while
 * giving long prefills several tasks per head. */
#define NV_ATTN_QBLOCK 64

typedef struct nv_causal_attn_scratch {
    int workers;
    int max_T;      /* chunk length the buffers hold */
    int max_ctx;    /* context the buffers hold (padded to the block) */
    int score_rows; /* query rows per worker: min(max_T, block), f32 only */
    int bf16;       /* 1: the bf16 buffers exist and prefill uses them */
    float *scores;  /* [workers][rows][max_ctx] */
    /* bf16 only: */
    uint16_t *q;    /* [n_heads][pad(T)][hd] for a chunk of T, q / sqrt(hd)
                       (room for pad(max_T)) */
    uint16_t *k;    /* [n_kv_heads][max_ctx][hd] this layer's keys */
    uint16_t *v;    /* [n_kv_heads][max_ctx][hd] this layer's values */
    uint16_t *p;    /* [workers][block][max_ctx] probabilities */
    float *o;       /* [workers][block][hd] one block's output */
} nv_causal_attn_scratch;

/* The dimensions of one decoder's attention. */
typedef struct nv_causal_attn_dims {
    int n_heads;
    int n_kv_heads;
    int head_dim;
} nv_causal_attn_dims;

/* Grows the scratch for `workers` workers, chunks of max_T positions and a
 * context of max_ctx (never shrinks). bf16 = 1 asks for the bf16 kernel:
 * kept only when oneDNN has AVX-512 BF16 kernels on this CPU. The first
 * call fixes workers and bf16. 0, or -1 with err set (overflow, memory). */
int nv_causal_attn_reserve(nv_causal_attn_scratch *s,
                           const nv_causal_attn_dims *d, int workers,
                           int bf16, int max_T, int max_ctx, nv_error *err);
void nv_causal_attn_free(nv_causal_attn_scratch *s);

/* out[t][h * hd ..] = attention of query q[t][h * hd ..] (t < T, rows
 * n_heads * hd apart, position pos0 + t) over the cache's layer `layer`,
 * positions 0 .. pos0 + t. The scratch must have been reserved for T and
 * pos0 + T. Runs on the pool when it has more than one worker. */
void nv_causal_attn(nv_causal_attn_scratch *s, const nv_causal_attn_dims *d,
                    nv_pool *pool, const nv_kv_cache *kv, int layer,
                    const float *q, float *out, int T, int pos0);

#endif
