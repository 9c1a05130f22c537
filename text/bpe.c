/* bpe.c - byte-pair merging of one pre-tokenized word.
 *
 * The word starts as one symbol per byte. Candidate merges of neighbouring
 * symbols sit in a min-heap ordered by (rank, position), so the lowest-rank
 * pair merges first and equal ranks merge left to right, as in Hugging Face
 * `tokenizers`. Symbols form a linked list; a heap entry remembers the two
 * ids it would merge and is skipped when popped if either side has changed
 * since. Each merge pushes at most two new candidates, so a word of n bytes
 * costs O(n log n). */
#include "text/tok_internal.h"

#include <stdlib.h>

typedef struct nv_bpe_cand {
    int32_t rank;
    int32_t pos; /* index of the left symbol (= its first byte) */
    int32_t left, right, merged;
} nv_bpe_cand;

int nv_idvec_push(nv_idvec *v, int32_t id, nv_error *err)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *grown = realloc(v->ids, cap * sizeof *grown);
        if (!grown)
            return nv_fail(err, "tokenizer: out of memory for %zu ids", cap);
        v->ids = grown;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

void nv_bpe_scratch_free(nv_bpe_scratch *s)
{
    free(s->sym_id);
    free(s->sym_prev);
    free(s->sym_next);
    free(s->heap);
    nv_word_cache_free(&s->cache);
}

static int reserve(nv_bpe_scratch *s, size_t len, nv_error *err)
{
    if (len > INT32_MAX / 4)
        return nv_fail(err, "tokenizer: word of %zu bytes is too long", len);
    if (s->cap_syms < len) {
        free(s->sym_id);
        free(s->sym_prev);
        free(s->sym_next);
        s->sym_id = malloc(len * sizeof *s->sym_id);
        s->sym_prev = malloc(len * sizeof *s->sym_prev);
        s->sym_next = malloc(len * sizeof *s->sym_next);
        s->cap_syms = len;
        if (!s->sym_id || !s->sym_prev || !s->sym_next) {
            s->cap_syms = 0;
            return nv_fail(err, "tokenizer: out of memory for a word of %zu "
                                "bytes", len);
        }
    }
    /* n - 1 initial pairs, then at most two per merge (n - 1 merges). */
    size_t heap_need = 3 * len;
    if (s->cap_heap < heap_need) {
        free(s->heap);
        s->heap = malloc(heap_need * sizeof *s->heap);
        s->cap_heap = s->heap ? heap_need : 0;
        if (!s->heap)
            return nv_fail(err, "tokenizer: out of memory for a word of %zu "
                                "bytes", len);
    }
    return 0;
}

static int cand_less(const nv_bpe_cand *a, const nv_bpe_cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(nv_bpe_cand *heap, size_t *n, nv_bpe_cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = c;
}

static nv_bpe_cand heap_pop(nv_bpe_cand *heap, size_t *n)
{
    nv_bpe_cand top = heap[0];
    nv_bpe_cand last = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n)
            break;
        if (child + 1 < *n && cand_less(&heap[child + 1], &heap[child]))
            child++;
        if (!cand_less(&heap[child], &last))
            break;
        heap[i] = heap[child];
        i = child;
    }
    if (*n)
        heap[i] = last;
    return top;
}

/* Pushes the merge of symbol pos with its right neighbour, if one exists. */
static void offer(const nv_tokenizer *tok, nv_bpe_scratch *s, size_t *nheap,
                  int32_t pos)
{
    if (pos < 0)
        return;
    int32_t next = s->sym_next[pos];
    if (next < 0)
        return;
    nv_merge mg;
    if (nv_pairmap_get(&tok->merges, s->sym_id[pos], s->sym_id[next], &mg))
        heap_push(s->heap, nheap,
                  (nv_bpe_cand){mg.rank, pos, s->sym_id[pos],
                                s->sym_id[next], mg.merged});
}

int nv_bpe_word(const nv_tokenizer *tok, const char *word, size_t len,
                nv_bpe_scratch *s, nv_idvec *out, nv_error *err)
{
    if (len == 0)
        return 0;
    if (len > NV_TOK_MAX_WORD)
        return nv_fail(err, "%s: a pre-tokenized word of %zu bytes is above "
                       "the limit of %d bytes (NV_TOK_MAX_WORD); the text "
                       "needs spaces or punctuation",
                       tok->source, len, NV_TOK_MAX_WORD);
    if (tok->ignore_merges || len == 1) {
        int32_t whole = nv_strmap_get(&tok->by_bytes, word, len);
        if (whole >= 0)
            return nv_idvec_push(out, whole, err);
    }
    const int32_t *cached;
    size_t n_cached;
    if (nv_word_cache_get(&s->cache, word, len, &cached, &n_cached)) {
        for (size_t i = 0; i < n_cached; i++)
            if (nv_idvec_push(out, cached[i], err) < 0)
                return -1;
        return 0;
    }
    if (reserve(s, len, err) < 0)
        return -1;
    size_t first_out = out->n;
    /* Bytes without a vocab entry are dropped, as HF does for a BPE with
     * no unk_token; their neighbours then become adjacent. */
    int32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = tok->byte_id[(unsigned char)word[i]];
        if (id < 0)
            continue;
        s->sym_id[n] = id;
        s->sym_prev[n] = n - 1;
        s->sym_next[n] = n + 1;
        n++;
    }
    if (n == 0)
        return nv_word_cache_put(&s->cache, word, len, NULL, 0, err);
    s->sym_next[n - 1] = -1;
    size_t nheap = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        offer(tok, s, &nheap, i);
    while (nheap) {
        nv_bpe_cand c = heap_pop(s->heap, &nheap);
        int32_t next = s->sym_next[c.pos];
        /* Stale: the left symbol was absorbed (its id is then -1) or grew,
         * or its neighbour changed. */
        if (s->sym_id[c.pos] != c.left || next < 0 ||
            s->sym_id[next] != c.right)
            continue;
        s->sym_id[c.pos] = c.merged;
        s->sym_id[next] = -1;
        int32_t after = s->sym_next[next];
        s->sym_next[c.pos] = after;
        if (after >= 0)
            s->sym_prev[after] = c.pos;
        offer(tok, s, &nheap, s->sym_prev[c.pos]);
        offer(tok, s, &nheap, c.pos);
    }
    for (int32_t i = 0; i >= 0; i = s->sym_next[i])
        if (nv_idvec_push(out, s->sym_id[i], err) < 0)
            return -1;
    return nv_word_cache_put(&s->cache, word, len, out->ids + first_out,
                             out->n - first_out, err);
}
