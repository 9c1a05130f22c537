/* kv_cache.c - the decoder's key/value store; see kv_cache.h. */
#include "text/kv_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Elements of one of k or v, or 0 when the product overflows. */
static size_t cache_elems(int n_layers, int n_kv_heads, int head_dim,
                          int max_ctx)
{
    if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || max_ctx <= 0)
        return 0;
    size_t n = (size_t)n_layers;
    size_t dims[3] = {(size_t)n_kv_heads, (size_t)head_dim, (size_t)max_ctx};
    for (int i = 0; i < 3; i++) {
        if (n > SIZE_MAX / 8 / dims[i])
            return 0;
        n *= dims[i];
    }
    return n;
}

size_t nv_kv_cache_bytes(int n_layers, int n_kv_heads, int head_dim,
                         int max_ctx)
{
    return 2 * sizeof(float) *
           cache_elems(n_layers, n_kv_heads, head_dim, max_ctx);
}

int nv_kv_cache_init(nv_kv_cache *kv, int n_layers, int n_kv_heads,
                     int head_dim, int max_ctx, nv_error *err)
{
    memset(kv, 0, sizeof *kv);
    size_t n = cache_elems(n_layers, n_kv_heads, head_dim, max_ctx);
    if (n == 0)
        return nv_fail(err, "kv cache: invalid size %d layers x %d heads x "
                       "%d dims x %d positions", n_layers, n_kv_heads,
                       head_dim, max_ctx);
    kv->k = malloc(n * sizeof(float));
    kv->v = malloc(n * sizeof(float));
    if (!kv->k || !kv->v) {
        nv_kv_cache_free(kv);
        return nv_fail(err, "kv cache: out of memory for %zu bytes",
                       2 * n * sizeof(float));
    }
    kv->n_layers = n_layers;
    kv->n_kv_heads = n_kv_heads;
    kv->head_dim = head_dim;
    kv->max_ctx = max_ctx;
    kv->len = 0;
    return 0;
}

void nv_kv_cache_free(nv_kv_cache *kv)
{
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

void nv_kv_cache_reset(nv_kv_cache *kv)
{
    kv->len = 0;
}

int nv_kv_cache_truncate(nv_kv_cache *kv, int new_len, nv_error *err)
{
    if (new_len < 0 || new_len > kv->len)
        return nv_fail(err, "kv cache: cannot truncate %d positions to %d",
                       kv->len, new_len);
    kv->len = new_len;
    return 0;
}

static size_t block_offset(const nv_kv_cache *kv, int layer, int head)
{
    return ((size_t)layer * kv->n_kv_heads + (size_t)head) *
           (size_t)kv->max_ctx * (size_t)kv->head_dim;
}

float *nv_kv_cache_k(const nv_kv_cache *kv, int layer, int head)
{
    return kv->k + block_offset(kv, layer, head);
}

float *nv_kv_cache_v(const nv_kv_cache *kv, int layer, int head)
{
    return kv->v + block_offset(kv, layer, head);
}
