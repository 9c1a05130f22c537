/* tok_internal.h - the inside of nv_tokenizer, shared by the files that
 * build it (tok_common.c, tokenizer_load.c, tokenizer_slow.c), split text
 * (pretokenize.c), merge (bpe.c) and drive encoding (tokenizer.c).
 * Nothing outside text/ includes it. */
#ifndef NV_TOK_INTERNAL_H
#define NV_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "text/tok_maps.h"
#include "text/tokenizer.h"
#include "text/word_cache.h"

/* How a Split pre-tokenizer treats the regex matches (HF names). */
typedef enum nv_split_behavior {
    NV_SPLIT_ISOLATED,
    NV_SPLIT_REMOVED,
    NV_SPLIT_MERGED_WITH_PREVIOUS,
    NV_SPLIT_MERGED_WITH_NEXT,
    NV_SPLIT_CONTIGUOUS,
} nv_split_behavior;

typedef enum nv_pretok_kind {
    NV_PRETOK_SPLIT,     /* split by `regex` with `behavior`, `invert` */
    NV_PRETOK_BYTELEVEL, /* optional prefix space, then GPT-2 regex split */
} nv_pretok_kind;

/* Most normalizer steps and most pre-tokenizer steps a tokenizer.json may
 * list (each counted alone). Real ones use two or three; encoding recurses
 * once per pre-tokenizer step, so a hostile file with 100 000 of them would
 * overflow the stack. */
enum { NV_TOK_MAX_STEPS = 64 };

typedef struct nv_pretok_stage {
    nv_pretok_kind kind;
    pcre2_code *regex; /* owned; NULL for ByteLevel without use_regex */
    nv_split_behavior behavior;
    int invert;
    int add_prefix_space;
} nv_pretok_stage;

typedef struct nv_added_token {
    const char *content; /* in the arena */
    size_t len;
    int32_t id;
    int special;
    int lstrip, rstrip, single_word;
} nv_added_token;

/* Blocks of string storage freed together with the tokenizer. */
typedef struct nv_arena_block {
    struct nv_arena_block *next;
    size_t used, cap;
    char data[];
} nv_arena_block;

struct nv_tokenizer {
    char *source; /* file or dir it came from, for messages */
    int32_t vocab_size;
    /* Per id: the vocab string, and the bytes it stands for (the
     * byte-level decoding, or the string itself for added tokens). */
    const char **piece;
    uint32_t *piece_len;
    const char **bytes;
    uint32_t *bytes_len;
    unsigned char *is_special;
    nv_strmap by_piece; /* vocab string -> id (vocab and added tokens) */
    nv_strmap by_bytes; /* raw bytes -> id, BPE vocabulary only */
    int32_t byte_id[256]; /* id of each single byte, -1 if none */
    nv_pairmap merges;
    int ignore_merges; /* a whole word found in the vocab is one token */
    int nfc;           /* normalizer: Unicode NFC */
    nv_pretok_stage *stages;
    size_t n_stages; /* at most NV_TOK_MAX_STEPS */
    nv_added_token *added; /* sorted by content bytes, then id */
    size_t n_added;
    unsigned char added_first[256]; /* 1: some added token starts so */
    int32_t bos_id, eos_id;
    int raw_bytes; /* byte-level vocabulary: each byte is its own id */
    nv_arena_block *arena;
};

/* Copies s[0..len) into the arena with a trailing NUL; NULL when out of
 * memory. */
char *nv_tok_strdup(nv_tokenizer *tok, const char *s, size_t len);

/* An empty tokenizer for the loaders to fill; source names it in errors. */
nv_tokenizer *nv_tok_new(const char *source, nv_error *err);

/* Allocates the per-id tables once the vocab size is known (all ids start
 * without a piece) and the maps for at most max_entries pieces and
 * max_merges merges. */
int nv_tok_alloc_ids(nv_tokenizer *tok, int32_t vocab_size,
                     size_t max_entries, size_t max_merges, nv_error *err);

/* Records piece s for id (tables and maps). in_bpe_vocab: BPE may produce
 * it (model vocab, not an added token). Fails on an id out of range. A later
 * call for the same id replaces the piece; the old string keeps mapping to
 * the id, as in HF. */
int nv_tok_set_piece(nv_tokenizer *tok, int32_t id, const char *s,
                     size_t len, int in_bpe_vocab, nv_error *err);

/* Adds a merge "left right" (vocab strings) with the given rank. Fails when
 * left, right or their concatenation is not in the vocab. */
int nv_tok_add_merge(nv_tokenizer *tok, const char *left, size_t left_len,
                     const char *right, size_t right_len, int32_t rank,
                     nv_error *err);

/* Compiles a pre-tokenizer regex (PCRE2, UTF + UCP, JIT when available);
 * literal: match the pattern as plain text. what names it in errors. */
pcre2_code *nv_tok_compile_regex(const char *pattern, int literal,
                                 const char *what, nv_error *err);

/* Sorts the added tokens by content (for text/tokenizer.c's search) and finds single-byte ids; called
 * by the loaders once everything is in. */
int nv_tok_finish(nv_tokenizer *tok, nv_error *err);

/* Reads bos_token / eos_token from a tokenizer_config.json if it exists. */
int nv_tok_read_config_specials(nv_tokenizer *tok, const char *config_path,
                                nv_error *err);

/* The GPT-2 split regex used by ByteLevel(use_regex) and slow GPT-2. */
extern const char nv_gpt2_pattern[];
/* The Qwen2 split regex used by the slow Qwen2Tokenizer. */
extern const char nv_qwen2_pattern[];

/* Loaders of the two layouts. */
nv_tokenizer *nv_tok_load_hf_json(const char *path, nv_error *err);
nv_tokenizer *nv_tok_load_slow(const char *dir, nv_error *err);

/* --- encoding --- */

/* Growable id list. */
typedef struct nv_idvec {
    int32_t *ids;
    size_t n, cap;
} nv_idvec;

int nv_idvec_push(nv_idvec *v, int32_t id, nv_error *err);

/* Scratch memory one encode call reuses for every word. */
typedef struct nv_bpe_scratch {
    int32_t *sym_id, *sym_prev, *sym_next;
    struct nv_bpe_cand *heap;
    size_t cap_syms, cap_heap;
    nv_word_cache cache;
} nv_bpe_scratch;

void nv_bpe_scratch_free(nv_bpe_scratch *s);

/* Appends the BPE tokens of one pre-tokenized word (raw bytes). */
int nv_bpe_word(const nv_tokenizer *tok, const char *word, size_t len,
                nv_bpe_scratch *scratch, nv_idvec *out, nv_error *err);

/* Runs the pre-tokenizer stages over text[0..len) (valid, normalized
 * UTF-8) and BPE over each piece, appending ids to out. */
int nv_pretokenize_and_merge(const nv_tokenizer *tok, const char *text,
                             size_t len, nv_bpe_scratch *scratch,
                             nv_idvec *out, nv_error *err);

#endif
