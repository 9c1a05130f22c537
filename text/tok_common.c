/* tok_common.c - building an nv_tokenizer: string arena, id tables, merges,
 * regex compilation and the final checks both loaders share. */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "text/bytelevel.h"
#include "text/utf8.h"

const char nv_gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+"
    "|\\s+(?!\\S)|\\s+";

const char nv_qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Blocks start small and double up to 1 MiB: a small tokenizer (tests,
 * the fuzz targets) should not map a megabyte it does not use. */
enum { ARENA_FIRST_BLOCK = 1 << 14, ARENA_BLOCK = 1 << 20 };

char *nv_tok_strdup(nv_tokenizer *tok, const char *s, size_t len)
{
    nv_arena_block *b = tok->arena;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = b ? b->cap * 2 : ARENA_FIRST_BLOCK;
        if (cap > ARENA_BLOCK)
            cap = ARENA_BLOCK;
        if (cap < len + 1)
            cap = len + 1;
        nv_arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        tok->arena = b = nb;
    }
    char *dst = b->data + b->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    b->used += len + 1;
    return dst;
}

nv_tokenizer *nv_tok_new(const char *source, nv_error *err)
{
    nv_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        nv_fail(err, "%s: out of memory", source);
        return NULL;
    }
    tok->source = strdup(source);
    if (!tok->source) {
        free(tok);
        nv_fail(err, "%s: out of memory", source);
        return NULL;
    }
    tok->bos_id = -1;
    tok->eos_id = -1;
    for (int b = 0; b < 256; b++)
        tok->byte_id[b] = -1;
    return tok;
}

int nv_tok_alloc_ids(nv_tokenizer *tok, int32_t vocab_size,
                     size_t max_entries, size_t max_merges, nv_error *err)
{
    size_t n = (size_t)vocab_size;
    tok->vocab_size = vocab_size;
    tok->piece = calloc(n ? n : 1, sizeof *tok->piece);
    tok->piece_len = calloc(n ? n : 1, sizeof *tok->piece_len);
    tok->bytes = calloc(n ? n : 1, sizeof *tok->bytes);
    tok->bytes_len = calloc(n ? n : 1, sizeof *tok->bytes_len);
    tok->is_special = calloc(n ? n : 1, 1);
    if (!tok->piece || !tok->piece_len || !tok->bytes || !tok->bytes_len ||
        !tok->is_special)
        return nv_fail(err, "%s: out of memory for %d tokens", tok->source,
                       vocab_size);
    if (nv_strmap_init(&tok->by_piece, max_entries, err) < 0 ||
        nv_strmap_init(&tok->by_bytes, max_entries, err) < 0 ||
        nv_pairmap_init(&tok->merges, max_merges, err) < 0)
        return nv_fail_prefix(err, "%s: ", tok->source);
    return 0;
}

int nv_tok_set_piece(nv_tokenizer *tok, int32_t id, const char *s,
                     size_t len, int in_bpe_vocab, nv_error *err)
{
    if (id < 0 || id >= tok->vocab_size)
        return nv_fail(err, "%s: token id %d is outside 0..%d", tok->source,
                       id, tok->vocab_size - 1);
    if (len > UINT32_MAX / 2)
        return nv_fail(err, "%s: token %d is too long", tok->source, id);
    char *piece = nv_tok_strdup(tok, s, len);
    /* Byte-level text is never longer than the string spelling it. */
    char *raw = piece ? nv_tok_strdup(tok, s, len) : NULL;
    if (!raw)
        return nv_fail(err, "%s: out of memory", tok->source);
    long nraw = nv_bytelevel_to_bytes(piece, len, raw);
    /* A piece outside the byte alphabet stands for its own text (HF's
     * ByteLevel decoder does the same); BPE can never produce it. */
    int spelled = nraw >= 0;
    if (!spelled)
        nraw = (long)len;
    tok->piece[id] = piece;
    tok->piece_len[id] = (uint32_t)len;
    tok->bytes[id] = raw;
    tok->bytes_len[id] = (uint32_t)nraw;
    nv_strmap_put(&tok->by_piece, piece, len, id);
    if (in_bpe_vocab && spelled)
        nv_strmap_put(&tok->by_bytes, raw, (size_t)nraw, id);
    return 0;
}

int nv_tok_add_merge(nv_tokenizer *tok, const char *left, size_t left_len,
                     const char *right, size_t right_len, int32_t rank,
                     nv_error *err)
{
    int32_t a = nv_strmap_get(&tok->by_piece, left, left_len);
    int32_t b = nv_strmap_get(&tok->by_piece, right, right_len);
    if (a < 0 || b < 0)
        return nv_fail(err, "%s: merge %d names '%.*s', which is not in the "
                            "vocab", tok->source, rank,
                       (int)(a < 0 ? left_len : right_len),
                       a < 0 ? left : right);
    char stack_buf[256];
    size_t n = left_len + right_len;
    char *joined = n <= sizeof stack_buf ? stack_buf : malloc(n);
    if (!joined)
        return nv_fail(err, "%s: out of memory", tok->source);
    memcpy(joined, left, left_len);
    memcpy(joined + left_len, right, right_len);
    int32_t merged = nv_strmap_get(&tok->by_piece, joined, n);
    if (joined != stack_buf)
        free(joined);
    if (merged < 0)
        return nv_fail(err, "%s: merge %d ('%.*s' '%.*s') makes a token "
                            "that is not in the vocab", tok->source, rank,
                       (int)left_len, left, (int)right_len, right);
    /* A later duplicate overrides an earlier one, as in HF and GPT-2. */
    nv_pairmap_put(&tok->merges, a, b, (nv_merge){rank, merged});
    return 0;
}

pcre2_code *nv_tok_compile_regex(const char *pattern, int literal,
                                 const char *what, nv_error *err)
{
    int code_err;
    PCRE2_SIZE offset;
    /* PCRE2 refuses UCP together with LITERAL, and a literal needs none. */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   opts, &code_err, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        nv_fail(err, "%s: invalid regex at offset %zu: %s", what,
                (size_t)offset, (const char *)msg);
        return NULL;
    }
    /* JIT is only a speed-up: without it (unsupported CPU) the interpreter
     * gives the same matches. */
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Byte order (a prefix before its extensions), then id: the order
 * nv_tok_added_at narrows by binary search. */
static int by_content(const void *pa, const void *pb)
{
    const nv_added_token *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->content, b->content, n);
    if (c != 0)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int same_behaviour(const nv_added_token *a, const nv_added_token *b)
{
    return a->len == b->len && !memcmp(a->content, b->content, a->len) &&
           a->special == b->special && a->lstrip == b->lstrip &&
           a->rstrip == b->rstrip && a->single_word == b->single_word;
}

/* Drops an added token whose content and flags repeat one with a lower id:
 * the search always takes the lower id, so the later one is never matched,
 * and 200 000 copies of one special token would be tried one by one at
 * every position of a text that spells it (parse_special off). Each
 * content keeps at most 16 entries (the flag combinations). Sorted input:
 * equal contents are adjacent, by id. */
static void drop_shadowed_added(nv_tokenizer *tok)
{
    size_t kept = 0, group = 0;
    for (size_t i = 0; i < tok->n_added; i++) {
        const nv_added_token *t = &tok->added[i];
        if (kept > group && (tok->added[group].len != t->len ||
                             memcmp(tok->added[group].content, t->content,
                                    t->len) != 0))
            group = kept; /* a new content */
        int shadowed = 0;
        for (size_t k = group; k < kept && !shadowed; k++)
            shadowed = same_behaviour(&tok->added[k], t);
        if (!shadowed)
            tok->added[kept++] = *t;
    }
    tok->n_added = kept;
}

int nv_tok_finish(nv_tokenizer *tok, nv_error *err)
{
    if (tok->n_added)
        qsort(tok->added, tok->n_added, sizeof *tok->added, by_content);
    for (size_t i = 0; i < tok->n_added; i++) {
        if (tok->added[i].len == 0)
            return nv_fail(err, "%s: added token %d is empty", tok->source,
                           tok->added[i].id);
        /* The text is valid UTF-8 when it is matched (encode repairs it),
         * so a valid token can only match whole characters; one like
         * "\xbd" cut U+FFFD in two, and PCRE2 (told the pieces are valid)
         * read past the half it was given. JSON strings are UTF-8. */
        if (!nv_utf8_valid(tok->added[i].content, tok->added[i].len))
            return nv_fail(err, "%s: added token %d is not valid UTF-8",
                           tok->source, tok->added[i].id);
        if (tok->added[i].special)
            tok->is_special[tok->added[i].id] = 1;
        tok->added_first[(unsigned char)tok->added[i].content[0]] = 1;
    }
    drop_shadowed_added(tok);
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tok->byte_id[b] = nv_strmap_get(&tok->by_bytes, &c, 1);
    }
    return 0;
}

/* bos_token / eos_token are a string, an AddedToken object or null. */
static int config_token(nv_tokenizer *tok, const cJSON *cfg, const char *key,
                        const char *path, int32_t *out, nv_error *err)
{
    const cJSON *it = nv_json_get(cfg, key);
    if (!it || cJSON_IsNull(it))
        return 0;
    if (cJSON_IsObject(it))
        it = nv_json_get(it, "content");
    if (!cJSON_IsString(it) || !it->valuestring)
        return nv_fail(err, "%s: '%s' is not a string or token object", path,
                       key);
    *out = nv_strmap_get(&tok->by_piece, it->valuestring,
                         strlen(it->valuestring));
    return 0;
}

int nv_tok_read_config_specials(nv_tokenizer *tok, const char *config_path,
                                nv_error *err)
{
    struct stat st;
    if (stat(config_path, &st) != 0)
        return 0;
    cJSON *cfg = nv_json_load(config_path, 64u << 20, err);
    if (!cfg)
        return -1;
    int rc = 0;
    if (!cJSON_IsObject(cfg))
        rc = nv_fail(err, "%s: not a JSON object", config_path);
    if (rc == 0)
        rc = config_token(tok, cfg, "bos_token", config_path, &tok->bos_id,
                          err);
    if (rc == 0)
        rc = config_token(tok, cfg, "eos_token", config_path, &tok->eos_id,
                          err);
    cJSON_Delete(cfg);
    return rc;
}
