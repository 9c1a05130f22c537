/* tokenizer_slow.c - loads the "slow" transformers layout of a byte-level
 * BPE tokenizer: vocab.json (piece -> id), merges.txt (one "a b" merge per
 * line, an optional "#version" first line), tokenizer_config.json
 * (tokenizer_class and added_tokens_decoder) and added_tokens.json
 * (content -> id). The class picks what transformers' Python code does:
 * Qwen2Tokenizer normalizes to NFC and splits with the Qwen2 regex; the
 * others (GPT2Tokenizer, ...) split with the GPT-2 regex. */
#include "text/tok_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/json.h"

enum { MAX_MERGES_BYTES = 256 << 20 };

/* Present and not a directory; what is not a regular file is refused by
 * name when opened (core/file.h). */
static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static char *read_text_file(const char *path, size_t max_bytes, size_t *len,
                            nv_error *err)
{
    FILE *f = nv_fopen_regular(path, err); /* a FIFO would block */
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap >= max_bytes) {
                nv_fail(err, "%s: larger than %zu bytes", path, max_bytes);
                goto fail;
            }
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                nv_fail(err, "%s: out of memory", path);
                goto fail;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        nv_fail(err, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

/* merges.txt in memory. Lines: an optional "#version" first line, blank
 * lines (skipped) and "a b" merges, possibly ending in "\r". */
typedef struct merges_file {
    char *text;
    size_t len;
    const char *path;
} merges_file;

/* Lines that can hold a merge: not empty once a trailing "\r" is dropped.
 * The merge table is sized from these, never from the line count: 32 MiB
 * of blank lines used to size it for 33 M merges (2.1 GB; issue 17). */
static size_t count_merge_lines(const merges_file *mf)
{
    size_t n = 0, len = 0;
    for (size_t i = 0; i <= mf->len; i++) {
        if (i == mf->len || mf->text[i] == '\n') {
            n += len > 0;
            len = 0;
        } else if (mf->text[i] != '\r' || (i + 1 < mf->len &&
                                             mf->text[i + 1] != '\n')) {
            len++;
        }
    }
    return n;
}

static int load_merges(nv_tokenizer *tok, const merges_file *mf,
                       nv_error *err)
{
    int32_t rank = 0;
    size_t line_no = 0;
    const char *p = mf->text, *end = mf->text + mf->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        size_t len = (size_t)(line_end - p);
        if (len && p[len - 1] == '\r')
            len--;
        line_no++;
        int header = line_no == 1 && len >= 9 && !memcmp(p, "#version:", 9);
        if (!header && len) {
            const char *space = memchr(p, ' ', len);
            if (!space || memchr(space + 1, ' ', len - (size_t)(space + 1 - p)))
                return nv_fail(err, "%s: line %zu is not two tokens "
                                    "separated by one space", mf->path,
                               line_no);
            size_t alen = (size_t)(space - p);
            if (nv_tok_add_merge(tok, p, alen, space + 1, len - alen - 1,
                                 rank, err) < 0)
                return nv_fail_prefix(err, "%s line %zu: ", mf->path,
                                      line_no);
            rank++;
        }
        p = next;
    }
    return 0;
}

static int read_id(const cJSON *it, const char *path, int32_t *out,
                   nv_error *err)
{
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
        it->valuedouble > 2147483647.0 ||
        it->valuedouble != (double)(int32_t)it->valuedouble)
        return nv_fail(err, "%s: '%s' has an id that is not a non-negative "
                            "integer", path, it->string ? it->string : "?");
    *out = (int32_t)it->valuedouble;
    return 0;
}

/* The id in an added_tokens_decoder key ("151643"). */
static int key_id(const char *key, const char *path, int32_t *out,
                  nv_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(key, &end, 10);
    if (!*key || *end || errno || v < 0 || v > 2147483647L)
        return nv_fail(err, "%s: added_tokens_decoder key '%s' is not an id",
                       path, key);
    *out = (int32_t)v;
    return 0;
}

typedef struct slow_files {
    char vocab[4096], merges[4096], config[4096], added[4096];
    cJSON *vocab_json, *config_json, *added_json; /* config/added optional */
    merges_file mf;
} slow_files;

static int open_files(slow_files *f, const char *dir, nv_error *err)
{
    snprintf(f->vocab, sizeof f->vocab, "%s/vocab.json", dir);
    snprintf(f->merges, sizeof f->merges, "%s/merges.txt", dir);
    snprintf(f->config, sizeof f->config, "%s/tokenizer_config.json", dir);
    snprintf(f->added, sizeof f->added, "%s/added_tokens.json", dir);
    f->vocab_json = nv_json_load(f->vocab, 0, err);
    if (!f->vocab_json)
        return -1;
    if (!cJSON_IsObject(f->vocab_json))
        return nv_fail(err, "%s: not a JSON object", f->vocab);
    f->mf.path = f->merges;
    f->mf.text = read_text_file(f->merges, MAX_MERGES_BYTES, &f->mf.len, err);
    if (!f->mf.text)
        return -1;
    if (file_exists(f->config)) {
        f->config_json = nv_json_load(f->config, 64u << 20, err);
        if (!f->config_json)
            return -1;
        if (!cJSON_IsObject(f->config_json))
            return nv_fail(err, "%s: not a JSON object", f->config);
    }
    if (file_exists(f->added)) {
        f->added_json = nv_json_load(f->added, 64u << 20, err);
        if (!f->added_json)
            return -1;
        if (!cJSON_IsObject(f->added_json))
            return nv_fail(err, "%s: not a JSON object", f->added);
    }
    return 0;
}

static void close_files(slow_files *f)
{
    cJSON_Delete(f->vocab_json);
    cJSON_Delete(f->config_json);
    cJSON_Delete(f->added_json);
    free(f->mf.text);
}

static int size_vocab(nv_tokenizer *tok, slow_files *f,
                      const cJSON *decoder, nv_error *err)
{
    int32_t max_id = -1, id = 0;
    size_t entries = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, f->vocab_json)
    {
        if (read_id(it, f->vocab, &id, err) < 0)
            return -1;
        max_id = id > max_id ? id : max_id;
        entries++;
    }
    cJSON_ArrayForEach(it, decoder)
    {
        if (key_id(it->string, f->config, &id, err) < 0)
            return -1;
        max_id = id > max_id ? id : max_id;
        entries++;
    }
    cJSON_ArrayForEach(it, f->added_json)
    {
        if (read_id(it, f->added, &id, err) < 0)
            return -1;
        max_id = id > max_id ? id : max_id;
        entries++;
    }
    if (entries == 0)
        return nv_fail(err, "%s: empty vocabulary", f->vocab);
    if ((size_t)max_id >= 2 * entries + 1024)
        return nv_fail(err, "%s: token id %d is far beyond the %zu tokens",
                       f->vocab, max_id, entries);
    return nv_tok_alloc_ids(tok, max_id + 1, entries,
                            count_merge_lines(&f->mf), err);
}

static int add_token(nv_tokenizer *tok, int32_t id, const char *content,
                     int special, int lstrip, int rstrip, int single_word,
                     nv_error *err)
{
    for (size_t i = 0; i < tok->n_added; i++)
        if (tok->added[i].id == id)
            return 0; /* added_tokens_decoder came first and wins */
    if (nv_tok_set_piece(tok, id, content, strlen(content), 0, err) < 0)
        return -1;
    tok->added[tok->n_added++] = (nv_added_token){
        .content = tok->piece[id], .len = strlen(content), .id = id,
        .special = special, .lstrip = lstrip, .rstrip = rstrip,
        .single_word = single_word};
    return 0;
}

static int load_added(nv_tokenizer *tok, slow_files *f, const cJSON *decoder,
                      nv_error *err)
{
    size_t n = (size_t)cJSON_GetArraySize(decoder) +
               (size_t)cJSON_GetArraySize(f->added_json);
    tok->added = calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added)
        return nv_fail(err, "%s: out of memory", f->config);
    const cJSON *it;
    cJSON_ArrayForEach(it, decoder)
    {
        int32_t id = 0;
        const char *content;
        int special, lstrip, rstrip, single_word;
        if (key_id(it->string, f->config, &id, err) < 0)
            return -1;
        if (nv_json_str_req(it, "content", f->config, &content, err) < 0 ||
            nv_json_bool_opt(it, "special", f->config, 0, &special, err) < 0 ||
            nv_json_bool_opt(it, "lstrip", f->config, 0, &lstrip, err) < 0 ||
            nv_json_bool_opt(it, "rstrip", f->config, 0, &rstrip, err) < 0 ||
            nv_json_bool_opt(it, "single_word", f->config, 0, &single_word,
                             err) < 0)
            return nv_fail_prefix(err, "added_tokens_decoder '%s': ",
                                  it->string);
        if (add_token(tok, id, content, special, lstrip, rstrip, single_word,
                      err) < 0)
            return -1;
    }
    cJSON_ArrayForEach(it, f->added_json)
    {
        if (add_token(tok, (int32_t)it->valuedouble, it->string, 0, 0, 0, 0,
                      err) < 0)
            return -1;
    }
    return 0;
}

static int load_stages(nv_tokenizer *tok, const cJSON *config,
                       const char *config_path, nv_error *err)
{
    const char *cls = "";
    if (config &&
        nv_json_str_opt(config, "tokenizer_class", config_path, "", &cls,
                        err) < 0)
        return -1;
    int qwen2 = !strncmp(cls, "Qwen2Tokenizer", 14);
    tok->nfc = qwen2;
    tok->stages = calloc(2, sizeof *tok->stages);
    if (!tok->stages)
        return nv_fail(err, "%s: out of memory", tok->source);
    pcre2_code *re = nv_tok_compile_regex(
        qwen2 ? nv_qwen2_pattern : nv_gpt2_pattern, 0, "split regex", err);
    if (!re)
        return -1;
    tok->stages[0] = (nv_pretok_stage){.kind = NV_PRETOK_SPLIT, .regex = re,
                                       .behavior = NV_SPLIT_ISOLATED};
    tok->stages[1] = (nv_pretok_stage){.kind = NV_PRETOK_BYTELEVEL};
    tok->n_stages = 2;
    return 0;
}

static int load_all(nv_tokenizer *tok, slow_files *f, const char *dir,
                    nv_error *err)
{
    if (open_files(f, dir, err) < 0)
        return -1;
    const cJSON *decoder = nv_json_get(f->config_json, "added_tokens_decoder");
    if (decoder && !cJSON_IsObject(decoder))
        return nv_fail(err, "%s: added_tokens_decoder is not an object",
                       f->config);
    if (size_vocab(tok, f, decoder, err) < 0)
        return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, f->vocab_json)
    {
        if (nv_tok_set_piece(tok, (int32_t)it->valuedouble, it->string,
                             strlen(it->string), 1, err) < 0)
            return -1;
    }
    if (load_merges(tok, &f->mf, err) < 0 ||
        load_added(tok, f, decoder, err) < 0 ||
        load_stages(tok, f->config_json, f->config, err) < 0 ||
        nv_tok_finish(tok, err) < 0)
        return -1;
    return nv_tok_read_config_specials(tok, f->config, err);
}

nv_tokenizer *nv_tok_load_slow(const char *dir, nv_error *err)
{
    nv_tokenizer *tok = nv_tok_new(dir, err);
    if (!tok)
        return NULL;
    slow_files f = {0};
    int rc = load_all(tok, &f, dir, err);
    close_files(&f);
    if (rc < 0) {
        nv_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}
