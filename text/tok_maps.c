/* tok_maps.c - open-addressing hash maps for vocab and merge ranks; see
 * tok_maps.h. */
#include "text/tok_maps.h"

#include <stdlib.h>
#include <string.h>

/* Capacity: a power of two at least twice the entries, so probes stay
 * short and an empty slot always exists. */
static size_t capacity_for(size_t max_entries)
{
    size_t cap = 16;
    while (cap < max_entries * 2)
        cap *= 2;
    return cap;
}

uint64_t nv_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    /* splitmix64 finaliser: spreads consecutive ids over the table */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int nv_strmap_init(nv_strmap *m, size_t max_entries, nv_error *err)
{
    size_t cap = capacity_for(max_entries);
    m->slots = calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    if (!m->slots)
        return nv_fail(err, "tokenizer: out of memory for %zu entries",
                       max_entries);
    return 0;
}

void nv_strmap_free(nv_strmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

void nv_strmap_put(nv_strmap *m, const char *key, size_t len, int32_t value)
{
    size_t i = (size_t)nv_hash_bytes(key, len) & m->mask;
    while (m->slots[i].key) {
        nv_strmap_slot *s = &m->slots[i];
        if (s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return;
        }
        i = (i + 1) & m->mask;
    }
    m->slots[i].key = key;
    m->slots[i].len = (uint32_t)len;
    m->slots[i].value = value;
}

int32_t nv_strmap_get(const nv_strmap *m, const char *key, size_t len)
{
    size_t i = (size_t)nv_hash_bytes(key, len) & m->mask;
    while (m->slots[i].key) {
        const nv_strmap_slot *s = &m->slots[i];
        if (s->len == len && memcmp(s->key, key, len) == 0)
            return s->value;
        i = (i + 1) & m->mask;
    }
    return -1;
}

int nv_pairmap_init(nv_pairmap *m, size_t max_entries, nv_error *err)
{
    size_t cap = capacity_for(max_entries);
    m->slots = malloc(cap * sizeof *m->slots);
    m->mask = cap - 1;
    if (!m->slots)
        return nv_fail(err, "tokenizer: out of memory for %zu merges",
                       max_entries);
    for (size_t i = 0; i < cap; i++)
        m->slots[i].key = UINT64_MAX;
    return 0;
}

void nv_pairmap_free(nv_pairmap *m)
{
    free(m->slots);
    m->slots = NULL;
}

static uint64_t pair_key(int32_t left, int32_t right)
{
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

void nv_pairmap_put(nv_pairmap *m, int32_t left, int32_t right, nv_merge mg)
{
    uint64_t key = pair_key(left, right);
    size_t i = (size_t)hash_u64(key) & m->mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    m->slots[i].key = key;
    m->slots[i].merge = mg;
}

int nv_pairmap_get(const nv_pairmap *m, int32_t left, int32_t right,
                   nv_merge *out)
{
    uint64_t key = pair_key(left, right);
    size_t i = (size_t)hash_u64(key) & m->mask;
    while (m->slots[i].key != UINT64_MAX) {
        if (m->slots[i].key == key) {
            *out = m->slots[i].merge;
            return 1;
        }
        i = (i + 1) & m->mask;
    }
    return 0;
}
