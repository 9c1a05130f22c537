/* kv_cache.h - keys and values of the positions a decoder has seen.
 *
 * Layout: k and v are each f32 [n_layers][n_kv_heads][max_ctx][head_dim], so
 * that the keys of one head form a contiguous [len][head_dim] matrix that
 * attention multiplies directly (no gather per step). Keys are stored after
 * the rotary embedding, as Hugging Face caches them. `len` counts the
 * positions filled; the next forward pass starts at position `len`.
 * Memory: 2 * n_layers * n_kv_heads * max_ctx * head_dim * 4 bytes.
 */
#ifndef NV_KV_CACHE_H
#define NV_KV_CACHE_H

#include <stddef.h>

#include "core/error.h"

typedef struct nv_kv_cache {
    int n_layers;
    int n_kv_heads;
    int head_dim;
    int max_ctx;
    int len;
    float *k; /* owned */
    float *v; /* owned */
} nv_kv_cache;

/* Allocates an empty cache; fails (no crash) if the size overflows or memory
 * runs out. */
int nv_kv_cache_init(nv_kv_cache *kv, int n_layers, int n_kv_heads,
                     int head_dim, int max_ctx, nv_error *err);
void nv_kv_cache_free(nv_kv_cache *kv);

/* Forgets every position (len = 0); the memory is kept. */
void nv_kv_cache_reset(nv_kv_cache *kv);
/* Drops positions from len down to new_len (<= len), e.g. to re-run a
 * suffix. */
int nv_kv_cache_truncate(nv_kv_cache *kv, int new_len, nv_error *err);

/* Start of head `head`'s [max_ctx][head_dim] block in layer `layer`. */
float *nv_kv_cache_k(const nv_kv_cache *kv, int layer, int head);
float *nv_kv_cache_v(const nv_kv_cache *kv, int layer, int head);

/* Bytes held by a cache of these dimensions (both k and v). */
size_t nv_kv_cache_bytes(int n_layers, int n_kv_heads, int head_dim,
                         int max_ctx);

#endif
