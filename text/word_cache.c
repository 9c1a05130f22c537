/* word_cache.c - per-call cache of BPE results; see word_cache.h. */
#include "text/word_cache.h"

#include <stdlib.h>
#include <string.h>

#include "text/tok_maps.h"

enum {
    FIRST_SLOTS = 1 << 8, /* 6 KiB: most prompts are short; the table doubles */
    MAX_SLOTS = 1 << 20, /* at most 512Ki words: ~60 MiB worst case */
};

int nv_word_cache_get(const nv_word_cache *c, const char *word, size_t len,
                      const int32_t **ids, size_t *n)
{
    if (!c->slots || len == 0 || len > NV_WORD_CACHE_MAX_WORD)
        return 0;
    uint64_t h = nv_hash_bytes(word, len);
    for (size_t i = (size_t)h & c->mask; c->slots[i].key_len;
         i = (i + 1) & c->mask) {
        const nv_word_slot *s = &c->slots[i];
        if (s->hash == h && s->key_len == len &&
            !memcmp(c->keys + s->key_off, word, len)) {
            /* a word whose bytes are all outside the vocab cached no
             * ids, and c->ids may still be NULL (NULL + 0 is undefined;
             * found by tests/fuzz/fuzz_tokenizer_json) */
            *ids = s->ids_n ? c->ids + s->ids_off : NULL;
            *n = s->ids_n;
            return 1;
        }
    }
    return 0;
}

static void insert_slot(nv_word_slot *slots, size_t mask, nv_word_slot s)
{
    size_t i = (size_t)s.hash & mask;
    while (slots[i].key_len)
        i = (i + 1) & mask;
    slots[i] = s;
}

/* Keeps the table at most half full; 0 when it may not grow further. */
static int make_room(nv_word_cache *c, nv_error *err)
{
    size_t cap = c->slots ? c->mask + 1 : 0;
    if (c->slots && (c->used + 1) * 2 <= cap)
        return 1;
    if (cap >= MAX_SLOTS)
        return 0;
    size_t new_cap = cap ? cap * 2 : FIRST_SLOTS;
    nv_word_slot *grown = calloc(new_cap, sizeof *grown);
    if (!grown)
        return nv_fail(err, "tokenizer: out of memory for the word cache");
    for (size_t i = 0; i < cap; i++)
        if (c->slots[i].key_len)
            insert_slot(grown, new_cap - 1, c->slots[i]);
    free(c->slots);
    c->slots = grown;
    c->mask = new_cap - 1;
    return 1;
}

static int reserve(void **buf, size_t *cap, size_t need, size_t elem,
                   nv_error *err)
{
    if (need <= *cap)
        return 0;
    size_t new_cap = *cap ? *cap : 4096;
    while (new_cap < need)
        new_cap *= 2;
    void *grown = realloc(*buf, new_cap * elem);
    if (!grown)
        return nv_fail(err, "tokenizer: out of memory for the word cache");
    *buf = grown;
    *cap = new_cap;
    return 0;
}

int nv_word_cache_put(nv_word_cache *c, const char *word, size_t len,
                      const int32_t *ids, size_t n, nv_error *err)
{
    if (len == 0 || len > NV_WORD_CACHE_MAX_WORD)
        return 0;
    int room = make_room(c, err);
    if (room <= 0)
        return room;
    void *keys = c->keys, *id_store = c->ids;
    if (reserve(&keys, &c->keys_cap, c->keys_len + len, 1, err) < 0)
        return -1;
    c->keys = keys;
    if (reserve(&id_store, &c->ids_cap, c->ids_len + n, sizeof *c->ids,
                err) < 0)
        return -1;
    c->ids = id_store;
    memcpy(c->keys + c->keys_len, word, len);
    if (n) /* a word of unknown bytes only has no ids (and ids is NULL) */
        memcpy(c->ids + c->ids_len, ids, n * sizeof *ids);
    insert_slot(c->slots, c->mask,
                (nv_word_slot){nv_hash_bytes(word, len),
                               (uint32_t)c->keys_len, (uint32_t)len,
                               (uint32_t)c->ids_len, (uint32_t)n});
    c->keys_len += len;
    c->ids_len += n;
    c->used++;
    return 0;
}

void nv_word_cache_free(nv_word_cache *c)
{
    free(c->slots);
    free(c->keys);
    free(c->ids);
    memset(c, 0, sizeof *c);
}
