/* word_cache.h - remembers the BPE result of words already seen during one
 * encode call: text repeats words constantly, and a hash lookup is much
 * cheaper than merging again. Only short words are kept and the table
 * stops growing at a fixed size, so memory stays bounded on any input.
 * Lives in the per-call scratch, so a shared tokenizer is never written. */
#ifndef NV_WORD_CACHE_H
#define NV_WORD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum { NV_WORD_CACHE_MAX_WORD = 64 };

typedef struct nv_word_slot {
    uint64_t hash;
    uint32_t key_off, key_len; /* key_len 0: empty slot */
    uint32_t ids_off, ids_n;
} nv_word_slot;

typedef struct nv_word_cache {
    nv_word_slot *slots;
    size_t mask, used;
    char *keys;
    size_t keys_len, keys_cap;
    int32_t *ids;
    size_t ids_len, ids_cap;
} nv_word_cache;

/* 1 and *ids / *n set (pointing into the cache, valid until the next put)
 * when word is cached; 0 otherwise. */
int nv_word_cache_get(const nv_word_cache *c, const char *word, size_t len,
                      const int32_t **ids, size_t *n);

/* Remembers word -> ids[0..n). Words longer than NV_WORD_CACHE_MAX_WORD
 * and words arriving when the cache is full are silently not kept. */
int nv_word_cache_put(nv_word_cache *c, const char *word, size_t len,
                      const int32_t *ids, size_t n, nv_error *err);

void nv_word_cache_free(nv_word_cache *c);

#endif
