/* tok_maps.h - the two hash maps the tokenizer needs: piece string -> id
 * (vocab, added tokens) and id pair -> merge (BPE ranks). Open addressing
 * with linear probing; tables are sized at creation and never grow, so the
 * caller passes the number of entries it will insert.
 * Ownership: a nv_strmap copies nothing; its keys must outlive it (they
 * point into the tokenizer's string arena). */
#ifndef NV_TOK_MAPS_H
#define NV_TOK_MAPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct nv_strmap_slot {
    const char *key; /* NULL = empty */
    uint32_t len;
    int32_t value;
} nv_strmap_slot;

typedef struct nv_strmap {
    nv_strmap_slot *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
} nv_strmap;

/* The hash both the vocab map and the word cache use (FNV-1a, mixed). */
uint64_t nv_hash_bytes(const char *s, size_t len);

int nv_strmap_init(nv_strmap *m, size_t max_entries, nv_error *err);
void nv_strmap_free(nv_strmap *m);
/* Inserts or overwrites; the table never fills because init sized it. */
void nv_strmap_put(nv_strmap *m, const char *key, size_t len, int32_t value);
/* The value, or -1 when absent. */
int32_t nv_strmap_get(const nv_strmap *m, const char *key, size_t len);

typedef struct nv_merge {
    int32_t rank;   /* position in the merges list: lower merges first */
    int32_t merged; /* id of the concatenated piece */
} nv_merge;

typedef struct nv_pairmap_slot {
    uint64_t key; /* (left << 32) | right; UINT64_MAX = empty */
    nv_merge merge;
} nv_pairmap_slot;

typedef struct nv_pairmap {
    nv_pairmap_slot *slots;
    size_t mask;
} nv_pairmap;

int nv_pairmap_init(nv_pairmap *m, size_t max_entries, nv_error *err);
void nv_pairmap_free(nv_pairmap *m);
void nv_pairmap_put(nv_pairmap *m, int32_t left, int32_t right, nv_merge mg);
/* 1 and *out set when the pair merges, else 0. */
int nv_pairmap_get(const nv_pairmap *m, int32_t left, int32_t right,
                   nv_merge *out);

#endif
