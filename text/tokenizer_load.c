/* tokenizer_load.c - loads a Hugging Face tokenizer.json: the BPE model,
 * added tokens, normalizer, pre-tokenizer and decoder. Anything this runtime
 * cannot reproduce exactly (other models, normalizers, pre-tokenizers) is
 * refused with a message naming it, rather than tokenized differently. */
#include "text/tok_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* Parses the keys of one configuration object that have a "type". */
static const char *type_of(const cJSON *obj)
{
    const cJSON *t = nv_json_get(obj, "type");
    return cJSON_IsString(t) && t->valuestring ? t->valuestring : NULL;
}

/* *steps counts the normalizers seen so far (those inside nested
 * Sequences too, not the Sequences), up to NV_TOK_MAX_STEPS. */
static int load_normalizer(nv_tokenizer *tok, const cJSON *norm,
                           const char *path, int *steps, nv_error *err)
{
    if (!norm || cJSON_IsNull(norm))
        return 0;
    const char *type = type_of(norm);
    if (!type)
        return nv_fail(err, "%s: normalizer has no type", path);
    if (strcmp(type, "Sequence") && ++*steps > NV_TOK_MAX_STEPS)
        return nv_fail(err, "%s: normalizer has more than %d steps (the "
                            "limit)", path, NV_TOK_MAX_STEPS);
    if (!strcmp(type, "NFC")) {
        tok->nfc = 1;
        return 0;
    }
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = nv_json_get(norm, "normalizers");
        if (!cJSON_IsArray(list))
            return nv_fail(err, "%s: normalizer Sequence has no "
                                "'normalizers' list", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            if (load_normalizer(tok, it, path, steps, err) < 0)
                return -1;
        }
        return 0;
    }
    return nv_fail(err, "%s: normalizer type '%s' is not supported (only "
                        "NFC and Sequence)", path, type);
}

static int add_stage(nv_tokenizer *tok, nv_pretok_stage stage,
                     nv_error *err)
{
    if (tok->n_stages >= NV_TOK_MAX_STEPS) {
        pcre2_code_free(stage.regex);
        return nv_fail(err, "%s: pre_tokenizer has more than %d steps (the "
                            "limit)", tok->source, NV_TOK_MAX_STEPS);
    }
    nv_pretok_stage *grown =
        realloc(tok->stages, (tok->n_stages + 1) * sizeof *grown);
    if (!grown) {
        pcre2_code_free(stage.regex);
        return nv_fail(err, "%s: out of memory", tok->source);
    }
    tok->stages = grown;
    tok->stages[tok->n_stages++] = stage;
    return 0;
}

static int parse_behavior(const char *s, nv_split_behavior *out)
{
    static const struct {
        const char *name;
        nv_split_behavior value;
    } names[] = {
        {"Isolated", NV_SPLIT_ISOLATED},
        {"Removed", NV_SPLIT_REMOVED},
        {"MergedWithPrevious", NV_SPLIT_MERGED_WITH_PREVIOUS},
        {"MergedWithNext", NV_SPLIT_MERGED_WITH_NEXT},
        {"Contiguous", NV_SPLIT_CONTIGUOUS},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].value;
            return 0;
        }
    return -1;
}

static int load_split(nv_tokenizer *tok, const cJSON *pt, const char *path,
                      nv_error *err)
{
    const cJSON *pattern;
    if (nv_json_obj_req(pt, "pattern", path, &pattern, err) < 0)
        return nv_fail_prefix(err, "pre_tokenizer Split: ");
    const cJSON *regex = nv_json_get(pattern, "Regex");
    const cJSON *literal = nv_json_get(pattern, "String");
    const cJSON *text = regex ? regex : literal;
    if (!cJSON_IsString(text) || !text->valuestring)
        return nv_fail(err, "%s: pre_tokenizer Split: pattern is neither "
                            "{\"Regex\": string} nor {\"String\": string}",
                       path);
    const char *behavior_name;
    int invert;
    if (nv_json_str_req(pt, "behavior", path, &behavior_name, err) < 0 ||
        nv_json_bool_opt(pt, "invert", path, 0, &invert, err) < 0)
        return -1;
    nv_pretok_stage stage = {.kind = NV_PRETOK_SPLIT, .invert = invert};
    if (parse_behavior(behavior_name, &stage.behavior) < 0)
        return nv_fail(err, "%s: pre_tokenizer Split: unknown behavior '%s'",
                       path, behavior_name);
    char what[512];
    snprintf(what, sizeof what, "%s: pre_tokenizer Split pattern", path);
    stage.regex = nv_tok_compile_regex(text->valuestring, regex == NULL,
                                       what, err);
    if (!stage.regex)
        return -1;
    return add_stage(tok, stage, err);
}

static int load_pretokenizer(nv_tokenizer *tok, const cJSON *pt,
                             const char *path, int *has_bytelevel,
                             nv_error *err)
{
    if (!pt || cJSON_IsNull(pt))
        return 0;
    const char *type = type_of(pt);
    if (!type)
        return nv_fail(err, "%s: pre_tokenizer has no type", path);
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = nv_json_get(pt, "pretokenizers");
        if (!cJSON_IsArray(list))
            return nv_fail(err, "%s: pre_tokenizer Sequence has no "
                                "'pretokenizers' list", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            if (load_pretokenizer(tok, it, path, has_bytelevel, err) < 0)
                return -1;
        }
        return 0;
    }
    if (!strcmp(type, "Split"))
        return load_split(tok, pt, path, err);
    if (!strcmp(type, "ByteLevel")) {
        int prefix, use_regex;
        if (nv_json_bool_opt(pt, "add_prefix_space", path, 1, &prefix,
                             err) < 0 ||
            nv_json_bool_opt(pt, "use_regex", path, 1, &use_regex, err) < 0)
            return -1;
        nv_pretok_stage stage = {.kind = NV_PRETOK_BYTELEVEL,
                                 .add_prefix_space = prefix};
        if (use_regex) {
            stage.regex = nv_tok_compile_regex(nv_gpt2_pattern, 0,
                                               "ByteLevel regex", err);
            if (!stage.regex)
                return -1;
        }
        *has_bytelevel = 1;
        return add_stage(tok, stage, err);
    }
    return nv_fail(err, "%s: pre_tokenizer type '%s' is not supported (only "
                        "Split, ByteLevel and Sequence)", path, type);
}

static int check_decoder(const cJSON *dec, const char *path, nv_error *err)
{
    if (!dec || cJSON_IsNull(dec))
        return 0;
    const char *type = type_of(dec);
    if (type && !strcmp(type, "ByteLevel"))
        return 0;
    if (type && !strcmp(type, "Sequence")) {
        const cJSON *list = nv_json_get(dec, "decoders");
        if (!cJSON_IsArray(list))
            return nv_fail(err, "%s: decoder Sequence has no 'decoders' list",
                           path);
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            if (check_decoder(it, path, err) < 0)
                return -1;
        }
        return 0;
    }
    return nv_fail(err, "%s: decoder type '%s' is not supported (only "
                        "ByteLevel)", path, type ? type : "(none)");
}

/* Reads one vocab id: a non-negative integer. */
static int vocab_id(const cJSON *it, const char *path, const char *what,
                    int32_t *out, nv_error *err)
{
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
        it->valuedouble > 2147483647.0 ||
        it->valuedouble != (double)(int32_t)it->valuedouble)
        return nv_fail(err, "%s: %s has an id that is not a non-negative "
                            "integer", path, what);
    *out = (int32_t)it->valuedouble;
    return 0;
}

static int check_model(const cJSON *model, const char *path, nv_error *err)
{
    const char *type = type_of(model);
    if (type && strcmp(type, "BPE"))
        return nv_fail(err, "%s: model type '%s' is not supported (only BPE)",
                       path, type);
    const char *affix;
    if (nv_json_str_opt(model, "continuing_subword_prefix", path, "",
                        &affix, err) < 0)
        return -1;
    if (*affix)
        return nv_fail(err, "%s: BPE continuing_subword_prefix '%s' is not "
                            "supported", path, affix);
    if (nv_json_str_opt(model, "end_of_word_suffix", path, "", &affix,
                        err) < 0)
        return -1;
    if (*affix)
        return nv_fail(err, "%s: BPE end_of_word_suffix '%s' is not "
                            "supported", path, affix);
    return 0;
}

/* Sizes the id tables: one past the largest id, refusing files whose ids
 * are so sparse that the tables would dwarf the vocab. */
static int size_vocab(nv_tokenizer *tok, const cJSON *vocab,
                      const cJSON *added, const char *path, size_t n_merges,
                      nv_error *err)
{
    int32_t max_id = -1;
    size_t entries = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        int32_t id = 0;
        if (vocab_id(it, path, "model.vocab", &id, err) < 0)
            return -1;
        max_id = id > max_id ? id : max_id;
        entries++;
    }
    cJSON_ArrayForEach(it, added)
    {
        int32_t id = 0;
        if (vocab_id(nv_json_get(it, "id"), path, "an added token", &id,
                     err) < 0)
            return -1;
        max_id = id > max_id ? id : max_id;
        entries++;
    }
    if (entries == 0)
        return nv_fail(err, "%s: model.vocab is empty", path);
    if ((size_t)max_id >= 2 * entries + 1024)
        return nv_fail(err, "%s: token id %d is far beyond the %zu tokens",
                       path, max_id, entries);
    return nv_tok_alloc_ids(tok, max_id + 1, entries, n_merges, err);
}

static int load_merges(nv_tokenizer *tok, const cJSON *merges,
                       const char *path, nv_error *err)
{
    int32_t rank = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges)
    {
        const char *a, *b;
        size_t alen, blen;
        if (cJSON_IsString(it) && it->valuestring) {
            const char *s = it->valuestring;
            const char *space = strchr(s, ' ');
            if (!space || strchr(space + 1, ' '))
                return nv_fail(err, "%s: merge %d '%s' is not two tokens "
                                    "separated by one space", path, rank, s);
            a = s;
            alen = (size_t)(space - s);
            b = space + 1;
            blen = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                   cJSON_IsString(it->child) &&
                   cJSON_IsString(it->child->next)) {
            a = it->child->valuestring;
            b = it->child->next->valuestring;
            alen = strlen(a);
            blen = strlen(b);
        } else {
            return nv_fail(err, "%s: merge %d is neither \"a b\" nor "
                                "[\"a\", \"b\"]", path, rank);
        }
        if (nv_tok_add_merge(tok, a, alen, b, blen, rank, err) < 0)
            return -1;
        rank++;
    }
    return 0;
}

static int load_added(nv_tokenizer *tok, const cJSON *added,
                      const char *path, nv_error *err)
{
    size_t n = (size_t)cJSON_GetArraySize(added);
    tok->added = calloc(n ? n : 1, sizeof *tok->added);
    if (!tok->added)
        return nv_fail(err, "%s: out of memory", path);
    const cJSON *it;
    cJSON_ArrayForEach(it, added)
    {
        nv_added_token *t = &tok->added[tok->n_added];
        const char *content;
        int32_t id = 0;
        if (vocab_id(nv_json_get(it, "id"), path, "an added token", &id,
                     err) < 0 ||
            nv_json_str_req(it, "content", path, &content, err) < 0 ||
            nv_json_bool_opt(it, "special", path, 0, &t->special, err) < 0 ||
            nv_json_bool_opt(it, "lstrip", path, 0, &t->lstrip, err) < 0 ||
            nv_json_bool_opt(it, "rstrip", path, 0, &t->rstrip, err) < 0 ||
            nv_json_bool_opt(it, "single_word", path, 0, &t->single_word,
                             err) < 0)
            return nv_fail_prefix(err, "added_tokens: ");
        size_t len = strlen(content);
        if (nv_tok_set_piece(tok, id, content, len, 0, err) < 0)
            return -1;
        t->content = tok->piece[id];
        t->len = len;
        t->id = id;
        tok->n_added++;
    }
    return 0;
}

static int load_root(nv_tokenizer *tok, const cJSON *root, const char *path,
                     nv_error *err)
{
    if (!cJSON_IsObject(root))
        return nv_fail(err, "%s: not a JSON object", path);
    const cJSON *model;
    if (nv_json_obj_req(root, "model", path, &model, err) < 0)
        return -1;
    if (check_model(model, path, err) < 0)
        return -1;
    const cJSON *vocab = nv_json_get(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return nv_fail(err, "%s: model.vocab is missing or not an object",
                       path);
    const cJSON *merges = nv_json_get(model, "merges");
    if (!cJSON_IsArray(merges))
        return nv_fail(err, "%s: model.merges is missing or not a list",
                       path);
    const cJSON *added = nv_json_get(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return nv_fail(err, "%s: added_tokens is not a list", path);
    if (added && cJSON_IsNull(added))
        added = NULL;
    if (nv_json_bool_opt(model, "ignore_merges", path, 0,
                         &tok->ignore_merges, err) < 0)
        return -1;
    size_t n_merges = (size_t)cJSON_GetArraySize(merges);
    if (size_vocab(tok, vocab, added, path, n_merges, err) < 0)
        return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab)
    {
        if (nv_tok_set_piece(tok, (int32_t)it->valuedouble, it->string,
                             strlen(it->string), 1, err) < 0)
            return -1;
    }
    if (load_merges(tok, merges, path, err) < 0)
        return -1;
    if (load_added(tok, added, path, err) < 0)
        return -1;
    int norm_steps = 0;
    if (load_normalizer(tok, nv_json_get(root, "normalizer"), path,
                        &norm_steps, err) < 0)
        return -1;
    int has_bytelevel = 0;
    if (load_pretokenizer(tok, nv_json_get(root, "pre_tokenizer"), path,
                          &has_bytelevel, err) < 0)
        return -1;
    if (!has_bytelevel)
        return nv_fail(err, "%s: the pre_tokenizer has no ByteLevel step; "
                            "only byte-level BPE is supported", path);
    if (check_decoder(nv_json_get(root, "decoder"), path, err) < 0)
        return -1;
    return nv_tok_finish(tok, err);
}

/* The directory part of path, for the tokenizer_config.json beside it. */
static void sibling_path(const char *path, const char *name, char *out,
                         size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, size, "%s", name);
    else
        snprintf(out, size, "%.*s/%s", (int)(slash - path), path, name);
}

nv_tokenizer *nv_tok_load_hf_json(const char *path, nv_error *err)
{
    cJSON *root = nv_json_load(path, 0, err);
    if (!root)
        return NULL;
    nv_tokenizer *tok = nv_tok_new(path, err);
    if (!tok) {
        cJSON_Delete(root);
        return NULL;
    }
    int rc = load_root(tok, root, path, err);
    cJSON_Delete(root);
    char config[4096];
    sibling_path(path, "tokenizer_config.json", config, sizeof config);
    if (rc == 0)
        rc = nv_tok_read_config_specials(tok, config, err);
    if (rc < 0) {
        nv_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}
