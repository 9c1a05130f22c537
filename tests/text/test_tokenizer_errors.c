/* test_tokenizer_errors.c - broken or unsupported tokenizer files must be
 * refused with a message that names the file and the problem (and, under
 * the sanitizer build, without leaks). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/tokenizer.h"
#include "tok_fixture.h"

#define VOCAB_AB "{\"a\":0,\"b\":1,\"ab\":2}"
#define BL "{\"type\":\"ByteLevel\",\"use_regex\":true}"
#define JSON_WITH(model, extra)                                            \
    "{\"pre_tokenizer\":" BL ",\"model\":" model extra "}"

/* Loads json as tokenizer.json; expects failure with `want` in the
 * message and the file named. */
static void expect_json_error(const char *json, const char *want, int line)
{
    fixture_dir d;
    char path[512];
    if (fixture_open(&d) < 0 ||
        fixture_write(&d, "tokenizer.json", json, strlen(json), path,
                      sizeof path) < 0) {
        fprintf(stderr, "cannot write a fixture\n");
        exit(1);
    }
    nv_error err = {{0}};
    nv_tokenizer *tok = nv_tokenizer_load(path, &err);
    int ok = tok == NULL && strstr(err.msg, want) && strstr(err.msg, path);
    if (!check_true(ok, "load fails with the expected message", __FILE__,
                    line))
        fprintf(stderr, "  want '%s' and the path, got '%s'\n", want,
                tok ? "(loaded)" : err.msg);
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

#define EXPECT_ERROR(json, want) expect_json_error(json, want, __LINE__)

static void test_json_errors(void)
{
    EXPECT_ERROR("{\"model\": {\"vocab\": ", "invalid JSON");
    EXPECT_ERROR("[1, 2]", "not a JSON object");
    EXPECT_ERROR("{\"pre_tokenizer\":" BL "}", "missing key 'model'");
    EXPECT_ERROR(JSON_WITH("{\"type\":\"BPE\",\"merges\":[]}", ""),
                 "model.vocab is missing");
    EXPECT_ERROR(JSON_WITH("{\"type\":\"BPE\",\"vocab\":" VOCAB_AB "}", ""),
                 "model.merges is missing");
    EXPECT_ERROR(JSON_WITH("{\"type\":\"WordPiece\",\"vocab\":" VOCAB_AB
                           ",\"merges\":[]}", ""),
                 "model type 'WordPiece' is not supported (only BPE)");
    EXPECT_ERROR(JSON_WITH("{\"type\":\"Unigram\",\"vocab\":[]}", ""),
                 "model type 'Unigram' is not supported");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":{},\"merges\":[]}", ""),
                 "model.vocab is empty");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":{\"a\":-1},\"merges\":[]}", ""),
                 "not a non-negative integer");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":{\"a\":\"x\"},\"merges\":[]}", ""),
                 "not a non-negative integer");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":{\"a\":2000000000},\"merges\":[]}",
                           ""),
                 "far beyond");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[\"a zz\"]}",
                           ""),
                 "merge 0 names 'zz', which is not in the vocab");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB
                           ",\"merges\":[\"a b\",\"b a\"]}", ""),
                 "merge 1 ('b' 'a') makes a token that is not in the vocab");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[\"ab\"]}",
                           ""),
                 "merge 0 'ab' is not two tokens");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[[\"a\"]]}",
                           ""),
                 "merge 0 is neither");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[],"
                           "\"continuing_subword_prefix\":\"##\"}", ""),
                 "continuing_subword_prefix '##' is not supported");
    EXPECT_ERROR("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":"
                 "{\"Regex\":\"(\\\\p{L}\"},\"behavior\":\"Isolated\"},"
                 "\"model\":{\"vocab\":" VOCAB_AB ",\"merges\":[]}}",
                 "invalid regex at offset");
    EXPECT_ERROR("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":"
                 "{\"Regex\":\"a\"},\"behavior\":\"Sideways\"},"
                 "\"model\":{\"vocab\":" VOCAB_AB ",\"merges\":[]}}",
                 "unknown behavior 'Sideways'");
    EXPECT_ERROR("{\"pre_tokenizer\":{\"type\":\"Whitespace\"},"
                 "\"model\":{\"vocab\":" VOCAB_AB ",\"merges\":[]}}",
                 "pre_tokenizer type 'Whitespace' is not supported");
    EXPECT_ERROR("{\"model\":{\"vocab\":" VOCAB_AB ",\"merges\":[]}}",
                 "only byte-level BPE is supported");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[]}",
                           ",\"normalizer\":{\"type\":\"Lowercase\"}"),
                 "normalizer type 'Lowercase' is not supported");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[]}",
                           ",\"decoder\":{\"type\":\"WordPiece\"}"),
                 "decoder type 'WordPiece' is not supported");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[]}",
                           ",\"added_tokens\":{}"),
                 "added_tokens is not a list");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[]}",
                           ",\"added_tokens\":[{\"id\":3}]"),
                 "missing key 'content'");
    EXPECT_ERROR(JSON_WITH("{\"vocab\":" VOCAB_AB ",\"merges\":[]}",
                           ",\"added_tokens\":[{\"id\":3,\"content\":\"\"}]"),
                 "added token 3 is empty");
}

static void test_missing_files(void)
{
    nv_error err = {{0}};
    CHECK(nv_tokenizer_load("/nonexistent/tokenizer.json", &err) == NULL);
    CHECK(strstr(err.msg, "/nonexistent/tokenizer.json: cannot open") !=
          NULL);
    fixture_dir d;
    char path[512];
    if (!CHECK(fixture_open(&d) == 0))
        return;
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    CHECK(strstr(err.msg, "no tokenizer.json and no vocab.json") != NULL);
    /* slow layout: merges.txt missing, then malformed */
    fixture_write(&d, "vocab.json", VOCAB_AB, strlen(VOCAB_AB), path,
                  sizeof path);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    CHECK(strstr(err.msg, "merges.txt: cannot open") != NULL);
    fixture_write(&d, "merges.txt", "#version: 0.2\na b\nab\n", 21, path,
                  sizeof path);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    CHECK(strstr(err.msg, "merges.txt: line 3 is not two tokens") != NULL);
    fixture_write(&d, "merges.txt", "a b\nb b\n", 8, path, sizeof path);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    CHECK(strstr(err.msg, "merges.txt line 2") != NULL &&
          strstr(err.msg, "not in the vocab") != NULL);
    fixture_write(&d, "merges.txt", "a b\n", 4, path, sizeof path);
    const char *bad_config =
        "{\"added_tokens_decoder\":{\"x\":{\"content\":\"<s>\"}}}";
    fixture_write(&d, "tokenizer_config.json", bad_config,
                  strlen(bad_config), path, sizeof path);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    if (!CHECK(strstr(err.msg, "key 'x' is not an id") != NULL))
        fprintf(stderr, "  got '%s'\n", err.msg);
    fixture_write(&d, "tokenizer_config.json", "{}", 2, path, sizeof path);
    fixture_write(&d, "vocab.json", "{\"a\":0,", 7, path, sizeof path);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    CHECK(strstr(err.msg, "vocab.json: invalid JSON") != NULL);
    /* and a good one loads, so the failures above are the files' fault */
    fixture_write(&d, "vocab.json", VOCAB_AB, strlen(VOCAB_AB), path,
                  sizeof path);
    nv_tokenizer *tok = nv_tokenizer_load(d.path, &err);
    CHECK(tok != NULL);
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

int main(void)
{
    test_json_errors();
    test_missing_files();
    return check_summary("test_tokenizer_errors");
}
