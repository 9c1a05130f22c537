/* tokenizer.c - the public tokenizer API: choosing a loader, encoding
 * (added tokens, then normalization, pre-tokenization and BPE on the text
 * between them), decoding and lookups. */
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "text/tok_internal.h"
#include "text/utf8.h"

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Present and not a directory: a FIFO or device named tokenizer.json is
 * then refused by name when opened ("not a regular file") instead of
 * being skipped as if absent. */
static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

nv_tokenizer *nv_tokenizer_load_json(const char *tokenizer_json,
                                     nv_error *err)
{
    return nv_tok_load_hf_json(tokenizer_json, err);
}

nv_tokenizer *nv_tokenizer_load_dir(const char *dir, nv_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (is_file(path))
        return nv_tok_load_hf_json(path, err);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    if (is_file(path))
        return nv_tok_load_slow(dir, err);
    nv_fail(err, "%s: no tokenizer.json and no vocab.json + merges.txt", dir);
    return NULL;
}

nv_tokenizer *nv_tokenizer_load(const char *path, nv_error *err)
{
    if (is_dir(path))
        return nv_tokenizer_load_dir(path, err);
    return nv_tokenizer_load_json(path, err);
}

void nv_tokenizer_free(nv_tokenizer *tok)
{
    if (!tok)
        return;
    for (size_t i = 0; i < tok->n_stages; i++)
        pcre2_code_free(tok->stages[i].regex);
    free(tok->stages);
    free(tok->added);
    free(tok->piece);
    free(tok->piece_len);
    free(tok->bytes);
    free(tok->bytes_len);
    free(tok->is_special);
    nv_strmap_free(&tok->by_piece);
    nv_strmap_free(&tok->by_bytes);
    nv_pairmap_free(&tok->merges);
    while (tok->arena) {
        nv_arena_block *next = tok->arena->next;
        free(tok->arena);
        tok->arena = next;
    }
    free(tok->source);
    free(tok);
}

/* Appends the NFC form of s[0..len) to *buf. */
static int append_nfc(const char *s, size_t len, char **buf, size_t *n,
                      size_t *cap, nv_error *err)
{
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                     &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0)
        return nv_fail(err, "tokenizer: NFC normalization failed: %s",
                       utf8proc_errmsg(m));
    if (*cap - *n < (size_t)m) {
        size_t want = *n + (size_t)m;
        char *grown = realloc(*buf, want);
        if (!grown) {
            free(nfc);
            return nv_fail(err, "tokenizer: out of memory normalizing");
        }
        *buf = grown;
        *cap = want;
    }
    memcpy(*buf + *n, nfc, (size_t)m);
    *n += (size_t)m;
    free(nfc);
    return 0;
}

/* NFC of s[0..len) into a malloc'd buffer. ASCII is left as is without
 * calling utf8proc: an ASCII character never composes with the character
 * before it and is a starter, so NFC only has to see each run of non-ASCII
 * bytes together with the one ASCII character in front of it (e + U+0301
 * composes to é). */
static char *nfc_text(const char *s, size_t len, size_t *out_len,
                      nv_error *err)
{
    size_t cap = len + 16, n = 0, i = 0;
    char *buf = malloc(cap);
    if (!buf) {
        nv_fail(err, "tokenizer: out of memory normalizing");
        return NULL;
    }
    while (i < len) {
        size_t j = i;
        while (j < len && (unsigned char)s[j] < 0x80)
            j++;
        if (j == len) { /* ASCII to the end */
            memcpy(buf + n, s + i, len - i);
            n += len - i;
            break;
        }
        /* ASCII is copied; cap always leaves room for the rest of it */
        size_t run_start = j > i ? j - 1 : j;
        memcpy(buf + n, s + i, run_start - i);
        n += run_start - i;
        size_t k = j;
        while (k < len && (unsigned char)s[k] >= 0x80)
            k++;
        if (append_nfc(s + run_start, k - run_start, &buf, &n, &cap, err) <
            0) {
            free(buf);
            return NULL;
        }
        if (cap - n < len - k) {
            char *grown = realloc(buf, n + (len - k) + 16);
            if (!grown) {
                free(buf);
                nv_fail(err, "tokenizer: out of memory normalizing");
                return NULL;
            }
            buf = grown;
            cap = n + (len - k) + 16;
        }
        i = k;
    }
    *out_len = n;
    return buf;
}

/* Normalizes (NFC when configured) and runs pre-tokenizers + BPE on one
 * stretch of text between added tokens. */
static int encode_plain(const nv_tokenizer *tok, const char *s, size_t len,
                        nv_bpe_scratch *scratch, nv_idvec *out,
                        nv_error *err)
{
    if (len == 0)
        return 0;
    if (!tok->nfc)
        return nv_pretokenize_and_merge(tok, s, len, scratch, out, err);
    size_t nfc_len;
    char *nfc = nfc_text(s, len, &nfc_len, err);
    if (!nfc)
        return -1;
    int rc = nv_pretokenize_and_merge(tok, nfc, nfc_len, scratch, out, err);
    free(nfc);
    return rc;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int is_word_byte(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
           (u >= 'A' && u <= 'Z') || u == '_';
}

static int usable(const nv_added_token *t, const char *s, size_t len,
                  size_t pos, int parse_special)
{
    if (t->special && !parse_special)
        return 0;
    return !(t->single_word &&
             ((pos > 0 && is_word_byte(s[pos - 1])) ||
              (pos + t->len < len && is_word_byte(s[pos + t->len]))));
}

/* First k in [lo, hi) with pred(added[k]) true, for a pred that is false
 * then true along the range. */
#define FIRST_WHERE(lo, hi, pred)                                         \
    do {                                                                  \
        size_t hi_ = (hi);                                                \
        while ((lo) < hi_) {                                              \
            size_t mid_ = (lo) + (hi_ - (lo)) / 2;                        \
            const nv_added_token *t_ = &tok->added[mid_];                 \
            if (pred)                                                     \
                hi_ = mid_;                                               \
            else                                                          \
                (lo) = mid_ + 1;                                          \
        }                                                                 \
    } while (0)

/* The longest added token usable at s[pos], or NULL. The tokens are sorted
 * by content, so those that agree with the text on their first d bytes
 * form one range [lo, hi); each further byte narrows it by two binary
 * searches. The work per position is the length of the longest match
 * times log(tokens), not the number of tokens: 200 000 added tokens with
 * a common first byte and a 100 KB prompt took over 60 s (issue 17). */
static const nv_added_token *added_at(const nv_tokenizer *tok,
                                      const char *s, size_t len, size_t pos,
                                      int parse_special)
{
    const nv_added_token *best = NULL;
    size_t lo = 0, hi = tok->n_added;
    for (size_t d = 0; pos + d < len && lo < hi; d++) {
        unsigned char c = (unsigned char)s[pos + d];
        /* tokens of length d (matched at the previous step) come first */
        FIRST_WHERE(lo, hi, t_->len > d);
        FIRST_WHERE(lo, hi, (unsigned char)t_->content[d] >= c);
        size_t end = lo;
        FIRST_WHERE(end, hi, (unsigned char)t_->content[d] > c);
        hi = end;
        /* the tokens of length d + 1 in range match the text exactly */
        for (size_t k = lo; k < hi && tok->added[k].len == d + 1; k++)
            if (usable(&tok->added[k], s, len, pos, parse_special)) {
                best = &tok->added[k];
                break;
            }
    }
    return best;
}

#undef FIRST_WHERE

static int encode_valid(const nv_tokenizer *tok, const char *s, size_t len,
                        int parse_special, nv_idvec *out, nv_error *err)
{
    nv_bpe_scratch scratch = {0};
    size_t plain_start = 0; /* start of the text not yet encoded */
    int rc = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const nv_added_token *t =
            tok->added_first[(unsigned char)s[pos]]
                ? added_at(tok, s, len, pos, parse_special)
                : NULL;
        if (!t) {
            pos++;
            continue;
        }
        /* lstrip / rstrip: the token swallows the whitespace beside it. */
        size_t start = pos, end = pos + t->len;
        if (t->lstrip)
            while (start > plain_start && is_space(s[start - 1]))
                start--;
        if (t->rstrip)
            while (end < len && is_space(s[end]))
                end++;
        rc = encode_plain(tok, s + plain_start, start - plain_start,
                          &scratch, out, err);
        if (rc == 0)
            rc = nv_idvec_push(out, t->id, err);
        plain_start = pos = end;
    }
    if (rc == 0)
        rc = encode_plain(tok, s + plain_start, len - plain_start, &scratch,
                          out, err);
    nv_bpe_scratch_free(&scratch);
    return rc;
}

int nv_tokenizer_encode(const nv_tokenizer *tok, const char *text,
                        size_t len, int parse_special, int32_t **ids,
                        size_t *n, nv_error *err)
{
    *ids = NULL;
    *n = 0;
    if (tok->raw_bytes) {
        *ids = malloc(sizeof(int32_t) * (len ? len : 1));
        if (!*ids)
            return nv_fail(err, "tokenizer: out of memory");
        for (size_t i = 0; i < len; i++)
            (*ids)[i] = (unsigned char)text[i];
        *n = len;
        if (!len) {
            free(*ids);
            *ids = NULL;
        }
        return 0;
    }
    nv_idvec out = {0};
    char *repaired = NULL;
    if (!nv_utf8_valid(text, len)) {
        repaired = nv_utf8_repair(text, len, &len, err);
        if (!repaired)
            return -1;
        text = repaired;
    }
    int rc = encode_valid(tok, text, len, parse_special, &out, err);
    free(repaired);
    if (rc < 0) {
        free(out.ids);
        return -1;
    }
    *ids = out.ids;
    *n = out.n;
    return 0;
}

const char *nv_tokenizer_token_bytes(const nv_tokenizer *tok, int32_t id,
                                     size_t *len)
{
    if (id < 0 || id >= tok->vocab_size || !tok->piece[id])
        return NULL;
    *len = tok->bytes_len[id];
    return tok->bytes[id];
}

char *nv_tokenizer_decode(const nv_tokenizer *tok, const int32_t *ids,
                          size_t n, nv_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (!nv_tokenizer_token_bytes(tok, ids[i], &len)) {
            nv_fail(err, "%s: token id %d (at %zu) is not in the vocabulary",
                    tok->source, ids[i], i);
            return NULL;
        }
        total += len;
    }
    char *joined = malloc(total + 1);
    if (!joined) {
        nv_fail(err, "tokenizer: out of memory decoding %zu tokens", n);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(joined + o, tok->bytes[ids[i]], tok->bytes_len[ids[i]]);
        o += tok->bytes_len[ids[i]];
    }
    joined[o] = '\0';
    if (nv_utf8_valid(joined, o))
        return joined;
    size_t fixed_len;
    char *fixed = nv_utf8_repair(joined, o, &fixed_len, err);
    free(joined);
    return fixed;
}

const char *nv_tokenizer_piece(const nv_tokenizer *tok, int32_t id)
{
    if (id < 0 || id >= tok->vocab_size)
        return NULL;
    return tok->piece[id];
}

int32_t nv_tokenizer_token_id(const nv_tokenizer *tok, const char *piece)
{
    return nv_strmap_get(&tok->by_piece, piece, strlen(piece));
}

int32_t nv_tokenizer_vocab_size(const nv_tokenizer *tok)
{
    return tok->vocab_size;
}

int nv_tokenizer_is_special(const nv_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->vocab_size && tok->is_special[id];
}

int32_t nv_tokenizer_bos_id(const nv_tokenizer *tok)
{
    return tok->bos_id;
}

int32_t nv_tokenizer_eos_id(const nv_tokenizer *tok)
{
    return tok->eos_id;
}
