/* tokenizer.h - byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2/2.5/3 and
 * the byte-level vocabularies of the test checkpoints).
 *
 * Two file layouts load (docs/tokenizer.md describes both):
 *   - Hugging Face `tokenizer.json` (a BPE model with a ByteLevel
 *     pre-tokenizer; normalizer null or NFC; Split / ByteLevel
 *     pre-tokenizers; added tokens);
 *   - the "slow" layout: `vocab.json` + `merges.txt`, with added tokens from
 *     `tokenizer_config.json` (added_tokens_decoder) and `added_tokens.json`;
 *     `tokenizer_class` Qwen2Tokenizer gets NFC and the Qwen2 split regex,
 *     anything else the GPT-2 regex.
 * Encoding reproduces Hugging Face `tokenizers` with add_special_tokens off:
 * added tokens are cut out first (leftmost, longest), the text between them
 * is normalized, split by the pre-tokenizers and merged by BPE.
 *
 * Ownership: nv_tokenizer_load* return a tokenizer freed with
 * nv_tokenizer_free. Strings it returns (pieces) live as long as it does.
 * A loaded tokenizer is never modified, so threads may share it.
 */
#ifndef NV_TOKENIZER_H
#define NV_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct nv_tokenizer nv_tokenizer;

/* path: a model directory (tokenizer.json if present, else vocab.json +
 * merges.txt) or a tokenizer.json file. */
nv_tokenizer *nv_tokenizer_load(const char *path, nv_error *err);
nv_tokenizer *nv_tokenizer_load_dir(const char *dir, nv_error *err);
nv_tokenizer *nv_tokenizer_load_json(const char *tokenizer_json,
                                     nv_error *err);
void nv_tokenizer_free(nv_tokenizer *tok);

/* The byte-level vocabulary of checkpoints that ship no tokenizer (the
 * golden hf/llama and hf/qwen2): ids 0..255 are the bytes, encoding maps
 * each byte of the text to its id as it is; ids from 256 to vocab_size-1
 * have no text. */
nv_tokenizer *nv_tokenizer_bytes(int32_t vocab_size, nv_error *err);

/* Encodes text[0..len) (UTF-8; each invalid sequence is read as U+FFFD)
 * into *ids (malloc'd, caller frees; NULL when *n is 0). No BOS/EOS is
 * added. parse_special = 1 turns special added tokens written in the text
 * ("<|im_end|>") into their ids; 0 treats them as plain text. Added tokens
 * that are not special are always recognised, as in Hugging Face. */
/* One pre-tokenized word (what the pre-tokenizer leaves unsplit, e.g. a
 * run of letters) longer than NV_TOK_MAX_WORD bytes is refused with a
 * message naming the tokenizer file and the limit, rather than split
 * (which would give ids Hugging Face does not): BPE keeps ~30 bytes of
 * state per byte of the word (a 10 MB word took 387 MB and 11 s). */
#define NV_TOK_MAX_WORD (1 << 20)
int nv_tokenizer_encode(const nv_tokenizer *tok, const char *text,
                        size_t len, int parse_special, int32_t **ids,
                        size_t *n, nv_error *err);

/* The text of ids[0..n), malloc'd and NUL-terminated, like Hugging Face
 * decode() with special tokens kept: the bytes of every token joined, then
 * invalid UTF-8 (a character cut between tokens) replaced by U+FFFD. */
char *nv_tokenizer_decode(const nv_tokenizer *tok, const int32_t *ids,
                          size_t n, nv_error *err);

/* The raw bytes of one token (no UTF-8 repair), for streaming output, where
 * a character may span tokens. *len gets the length; NULL for an id outside
 * the vocabulary. Not NUL-terminated. */
const char *nv_tokenizer_token_bytes(const nv_tokenizer *tok, int32_t id,
                                     size_t *len);

/* The vocabulary string of id as written in the file ("Ġworld",
 * "<|im_end|>"), or NULL when id names no token. */
const char *nv_tokenizer_piece(const nv_tokenizer *tok, int32_t id);

/* The id of a vocabulary string or added token, or -1. */
int32_t nv_tokenizer_token_id(const nv_tokenizer *tok, const char *piece);

/* One more than the largest id (vocabulary and added tokens). */
int32_t nv_tokenizer_vocab_size(const nv_tokenizer *tok);

/* 1 when id is an added token marked special. */
int nv_tokenizer_is_special(const nv_tokenizer *tok, int32_t id);

/* BOS / EOS ids named by tokenizer_config.json next to the tokenizer
 * (bos_token, eos_token), or -1 when none is named. */
int32_t nv_tokenizer_bos_id(const nv_tokenizer *tok);
int32_t nv_tokenizer_eos_id(const nv_tokenizer *tok);

#endif
