/* test_tokenizer_hostile.c - tokenizer.json files built to break the
 * runtime rather than describe a tokenizer (issue 17): each is made here,
 * small or generated, and must either work or be refused with a message
 * naming the file and the limit (merges.txt of blank lines, 200 000 added
 * tokens, a 10 MB word among them). The overread case needs the sanitizer
 * build (CI) to fail loudly; here it only has to run through. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "core/strbuf.h"
#include "text/tokenizer.h"
#include "tok_fixture.h"

/* Writes json as tokenizer.json in a fresh directory and loads it; the
 * error (when it fails) is left in *err, the path in path. */
static nv_tokenizer *load_text(fixture_dir *d, const char *json, char *path,
                               size_t path_size, nv_error *err)
{
    if (fixture_open(d) < 0 ||
        fixture_write(d, "tokenizer.json", json, strlen(json), path,
                      path_size) < 0) {
        fprintf(stderr, "cannot write a fixture\n");
        exit(1);
    }
    return nv_tokenizer_load(path, err);
}

/* A Split whose regex matches empty at the end of the text (`$`) after a
 * ByteLevel step that copies the text with a prefix space: the empty match
 * at offset len used to read s[len], one byte past the copy. */
static void test_empty_match_at_end(void)
{
    static const char *patterns[] = {"$", "\\\\z", "(?=$)", "x*"};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        char json[4096];
        char pretok[512];
        snprintf(pretok, sizeof pretok,
                 "{\"type\":\"Sequence\",\"pretokenizers\":["
                 "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                 "\"use_regex\":false},"
                 "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},"
                 "\"behavior\":\"Isolated\"}]}",
                 patterns[i]);
        snprintf(json, sizeof json, "%s%s%s",
                 "{\"version\":\"1.0\",\"added_tokens\":" MINI_ADDED
                 ",\"normalizer\":null,\"pre_tokenizer\":",
                 pretok,
                 ",\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":"
                 "\"BPE\",\"vocab\":" MINI_VOCAB ",\"merges\":" MINI_MERGES
                 "}}");
        fixture_dir d;
        char path[512];
        nv_error err = {{0}};
        nv_tokenizer *tok = load_text(&d, json, path, sizeof path, &err);
        if (!check_true(tok != NULL, "Split after prefixed ByteLevel loads",
                        __FILE__, __LINE__))
            fprintf(stderr, "  pattern %s: %s\n", patterns[i], err.msg);
        if (tok) {
            /* " a" -> Ġa (8); "ab" -> " ab" -> Ġ ab (4 5) whatever the
             * empty matches do, since they split nothing */
            int32_t *ids = NULL;
            size_t n = 0;
            CHECK(nv_tokenizer_encode(tok, "a", 1, 0, &ids, &n, &err) == 0);
            CHECK(n == 1 && ids && ids[0] == 8);
            free(ids);
            ids = NULL;
            CHECK(nv_tokenizer_encode(tok, "ab", 2, 0, &ids, &n, &err) == 0);
            CHECK(n == 2 && ids && ids[0] == 4 && ids[1] == 5);
            free(ids);
        }
        nv_tokenizer_free(tok);
        fixture_close(&d);
    }
}

/* A Sequence (list is "normalizers" or "pretokenizers") of `count`
 * copies of step, then `last` when not NULL; malloc'd. */
static char *sequence(const char *list, const char *step, int count,
                      const char *last)
{
    nv_strbuf b = {0};
    nv_strbuf_add(&b, "{\"type\":\"Sequence\",\"");
    nv_strbuf_add(&b, list);
    nv_strbuf_add(&b, "\":[");
    for (int i = 0; i < count; i++) {
        nv_strbuf_add(&b, i ? "," : "");
        nv_strbuf_add(&b, step);
    }
    if (last) {
        nv_strbuf_add(&b, count ? "," : "");
        nv_strbuf_add(&b, last);
    }
    nv_strbuf_add(&b, "]}");
    nv_error err = {{0}};
    char *s = nv_strbuf_finish(&b, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return s;
}

/* tokenizer.json around a normalizer and a pre_tokenizer; malloc'd. */
static char *with_steps(const char *normalizer, const char *pretok)
{
    nv_strbuf b = {0};
    nv_strbuf_add(&b, "{\"normalizer\":");
    nv_strbuf_add(&b, normalizer);
    nv_strbuf_add(&b, ",\"pre_tokenizer\":");
    nv_strbuf_add(&b, pretok);
    nv_strbuf_add(&b, ",\"model\":{\"type\":\"BPE\",\"vocab\":" MINI_VOCAB
                      ",\"merges\":" MINI_MERGES "}}");
    nv_error err = {{0}};
    char *s = nv_strbuf_finish(&b, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return s;
}

/* Loads json (freed here); expects it refused naming the file and `want`. */
static void expect_refused(char *json, const char *want, int line)
{
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    nv_tokenizer *tok = load_text(&d, json, path, sizeof path, &err);
    int ok = !tok && strstr(err.msg, path) && strstr(err.msg, want);
    if (!check_true(ok, "the file is refused at load", __FILE__, line))
        fprintf(stderr, "  want '%s', got '%s'\n", want,
                tok ? "(loaded)" : err.msg);
    nv_tokenizer_free(tok);
    fixture_close(&d);
    free(json);
}

/* 100 000 Split steps (about 7 MB) overflowed the stack while encoding:
 * one recursion per step. The loader refuses more than 64 steps (of each
 * kind); 64 still load and encode. */
static void test_step_limit(void)
{
    const char *split = "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},"
                        "\"behavior\":\"Isolated\"}";
    const char *nfc = "{\"type\":\"NFC\"}";
    char *seq = sequence("pretokenizers", split, 100000, MINI_PRETOK);
    expect_refused(with_steps("null", seq),
                   "pre_tokenizer has more than 64 steps (the limit)",
                   __LINE__);
    free(seq);
    seq = sequence("pretokenizers", MINI_PRETOK, 65, NULL);
    expect_refused(with_steps("null", seq),
                   "pre_tokenizer has more than 64 steps (the limit)",
                   __LINE__);
    free(seq);
    /* nested Sequences count their steps together */
    char *inner = sequence("normalizers", nfc, 40, NULL);
    seq = sequence("normalizers", inner, 1, inner);
    expect_refused(with_steps(seq, MINI_PRETOK),
                   "normalizer has more than 64 steps (the limit)",
                   __LINE__);
    free(seq);
    free(inner);

    /* at the limit: 64 NFC steps, 63 Splits and the ByteLevel step */
    char *norm = sequence("normalizers", nfc, 64, NULL);
    seq = sequence("pretokenizers", split, 63, MINI_PRETOK);
    char *json = with_steps(norm, seq);
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    nv_tokenizer *tok = load_text(&d, json, path, sizeof path, &err);
    if (!CHECK(tok != NULL))
        fprintf(stderr, "  64 steps: %s\n", err.msg);
    if (tok) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(nv_tokenizer_encode(tok, "a-b", 3, 0, &ids, &n, &err) == 0);
        CHECK(n == 3 && ids && ids[0] == 0 && ids[1] == 24 && ids[2] == 1);
        free(ids);
    }
    nv_tokenizer_free(tok);
    fixture_close(&d);
    free(json);
    free(seq);
    free(norm);
}

/* A FIFO nobody writes, as tokenizer.json or as the slow layout's
 * merges.txt: open() used to block forever; now refused by name. */
static void test_fifos(void)
{
    fixture_dir d;
    char path[512];
    if (!CHECK(fixture_open(&d) == 0))
        return;
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/tokenizer.json", d.path);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "not a regular file"));
    unlink(path);
    fixture_write(&d, "vocab.json", MINI_VOCAB, strlen(MINI_VOCAB), path,
                  sizeof path);
    snprintf(path, sizeof path, "%s/merges.txt", d.path);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK(nv_tokenizer_load(d.path, &err) == NULL);
    if (!CHECK(strstr(err.msg, path) &&
               strstr(err.msg, "not a regular file")))
        fprintf(stderr, "  got '%s'\n", err.msg);
    fixture_close(&d);
}

/* merges.txt of 32 MiB of blank lines around two real merges: the merge
 * table was sized from the line count (33 M; 2.1 GB); now from the lines
 * that hold a merge. The peak RSS of this whole test stays small. */
static void test_blank_merges(void)
{
    fixture_dir d;
    char path[512];
    if (!CHECK(fixture_open(&d) == 0))
        return;
    size_t n = (size_t)32 << 20;
    char *merges = malloc(n);
    if (!CHECK(merges != NULL))
        return;
    memset(merges, '\n', n);
    memcpy(merges, "#version: 0.2\na b\n", 18);
    memcpy(merges + n / 2, "\r\nb c\r\n", 7);
    fixture_write(&d, "vocab.json", MINI_VOCAB, strlen(MINI_VOCAB), path,
                  sizeof path);
    fixture_write(&d, "merges.txt", merges, n, path, sizeof path);
    free(merges);
    nv_error err = {{0}};
    clock_t t0 = clock();
    nv_tokenizer *tok = nv_tokenizer_load(d.path, &err);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    printf("32 MiB of blank merge lines: %.2f s CPU, peak RSS %ld KiB\n",
           secs, ru.ru_maxrss);
    if (!CHECK(tok != NULL))
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(ru.ru_maxrss < 200 * 1024); /* was 2.1 GB */
    CHECK(secs < 2.0);
    if (tok) {
        int32_t *ids = NULL;
        size_t k = 0;
        CHECK(nv_tokenizer_encode(tok, "abc", 3, 0, &ids, &k, &err) == 0);
        CHECK(k == 2 && ids[0] == 5 && ids[1] == 2); /* "a b" first: ab c */
        free(ids);
        nv_tokenizer_free(tok);
    }
    fixture_close(&d);
}

/* 200 000 added tokens starting with the same byte and a 100 KB prompt of
 * that byte: every added token was compared at every position (over 60 s).
 * Now a sorted search; the matches are the longest usable ones as before
 * (a special token only with parse_special, single_word only between
 * non-word bytes). */
static void test_many_added(void)
{
    enum { NADDED = 200000 };
    nv_strbuf b = {0};
    nv_strbuf_add(&b, "{\"added_tokens\":[");
    char item[160];
    for (int i = 0; i < NADDED; i++) {
        snprintf(item, sizeof item, "%s{\"id\":%d,\"content\":\"a%d\","
                 "\"special\":%s}", i ? "," : "", 100 + i, i,
                 i == 7 ? "true" : "false");
        nv_strbuf_add(&b, item);
    }
    nv_strbuf_add(&b, ",{\"id\":300100,\"content\":\"a12q\","
                      "\"single_word\":true}");
    nv_strbuf_add(&b, "],\"normalizer\":null,\"pre_tokenizer\":" MINI_PRETOK
                      ",\"model\":{\"type\":\"BPE\",\"vocab\":" MINI_VOCAB
                      ",\"merges\":" MINI_MERGES "}}");
    nv_error err = {{0}};
    char *json = nv_strbuf_finish(&b, &err);
    fixture_dir d;
    char path[512];
    nv_tokenizer *tok = json ? load_text(&d, json, path, sizeof path, &err)
                             : NULL;
    free(json);
    if (!CHECK(tok != NULL)) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    size_t len = 100000;
    char *text = malloc(len);
    if (!CHECK(text != NULL))
        return;
    memset(text, 'a', len);
    for (size_t i = 2; i + 1 < len; i += 50)
        text[i] = ' '; /* words of the BPE model between the a's */
    int32_t *ids = NULL;
    size_t n = 0;
    clock_t t0 = clock();
    CHECK(nv_tokenizer_encode(tok, text, len, 1, &ids, &n, &err) == 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("200 000 added tokens, 100 KB prompt: %.2f s CPU\n", secs);
    CHECK(secs < 3.0);
    free(ids);
    free(text);
    /* longest match first; "a7" is special; "a12q" single-word */
    static const struct {
        const char *text;
        int parse_special;
        int n;
        int32_t ids[4];
    } cases[] = {
        {"a12345b", 1, 2, {100 + 12345, 1}},
        {"a199999a", 1, 2, {100 + 199999, 0}},
        {"a7", 1, 1, {107}},
        {"a70", 1, 1, {170}},
        {"a7", 0, 1, {0}}, /* a, then "7" (in no vocab) dropped */
        {"a12q", 1, 1, {300100}},
        {"ba12q", 1, 2, {1, 112}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ids = NULL;
        n = 0;
        int rc = nv_tokenizer_encode(tok, cases[i].text,
                                     strlen(cases[i].text),
                                     cases[i].parse_special, &ids, &n, &err);
        int ok = rc == 0 && n == (size_t)cases[i].n;
        for (int k = 0; k < cases[i].n; k++)
                ok = ok && ids[k] == cases[i].ids[k];
        if (!check_true(ok, "added-token match", __FILE__, __LINE__)) {
            fprintf(stderr, "  '%s': %zu ids:", cases[i].text, n);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n");
        }
        free(ids);
    }
    nv_tokenizer_free(tok);
    fixture_close(&d);

    /* 200 000 copies of one special token "ab", and a 100 KB text spelling
     * it with parse_special off: each copy was tried at every position. */
    b = (nv_strbuf){0};
    nv_strbuf_add(&b, "{\"added_tokens\":[");
    for (int i = 0; i < NADDED; i++) {
        snprintf(item, sizeof item, "%s{\"id\":%d,\"content\":\"ab\","
                 "\"special\":true}", i ? "," : "", 100 + i);
        nv_strbuf_add(&b, item);
    }
    nv_strbuf_add(&b, "],\"normalizer\":null,\"pre_tokenizer\":" MINI_PRETOK
                      ",\"model\":{\"type\":\"BPE\",\"vocab\":" MINI_VOCAB
                      ",\"merges\":" MINI_MERGES "}}");
    json = nv_strbuf_finish(&b, &err);
    tok = json ? load_text(&d, json, path, sizeof path, &err) : NULL;
    free(json);
    if (!CHECK(tok != NULL))
        return;
    text = malloc(len);
    if (!CHECK(text != NULL))
        return;
    for (size_t i = 0; i < len; i++)
        text[i] = i % 2 ? 'b' : 'a';
    t0 = clock();
    ids = NULL;
    CHECK(nv_tokenizer_encode(tok, text, len, 0, &ids, &n, &err) == 0);
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("200 000 copies of one special token, 100 KB: %.2f s CPU\n",
           secs);
    CHECK(secs < 3.0);
    CHECK(n == len / 2 && ids && ids[0] == 5); /* BPE's "ab", not a copy */
    free(ids);
    ids = NULL;
    CHECK(nv_tokenizer_encode(tok, "ab", 2, 1, &ids, &n, &err) == 0 &&
          n == 1 && ids[0] == 100); /* the lowest id wins */
    free(ids);
    free(text);
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

/* A 10 MB prompt of one word: BPE keeps ~30 bytes per byte of a word (a
 * 10 MB word took 387 MB and 11 s with Qwen3's tokenizer). A word above
 * NV_TOK_MAX_WORD is refused, naming the tokenizer file and the limit; one
 * at the limit still encodes. */
static void test_long_word(void)
{
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    char *json = with_steps("null", MINI_PRETOK);
    nv_tokenizer *tok = load_text(&d, json, path, sizeof path, &err);
    free(json);
    if (!CHECK(tok != NULL))
        return;
    size_t len = 10 * 1000 * 1000;
    char *text = malloc(len);
    if (!CHECK(text != NULL))
        return;
    memset(text, 'b', len);
    int32_t *ids = NULL;
    size_t n = 0;
    clock_t t0 = clock();
    CHECK(nv_tokenizer_encode(tok, text, len, 1, &ids, &n, &err) < 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (!CHECK(strstr(err.msg, path) &&
               strstr(err.msg, "word of 10000000 bytes is above the limit "
                               "of 1048576 bytes")))
        fprintf(stderr, "  got '%s'\n", err.msg);
    CHECK(secs < 2.0);
    free(ids);
    ids = NULL;
    CHECK(nv_tokenizer_encode(tok, text, NV_TOK_MAX_WORD, 1, &ids, &n,
                              &err) == 0 &&
          n == NV_TOK_MAX_WORD);
    free(ids);
    free(text);
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

/* A word none of whose bytes is in the vocab encodes to nothing, and is
 * cached as such: the second "zz" came from the cache as NULL + 0
 * (undefined; UBSan, found by tests/fuzz/fuzz_tokenizer_json). */
static void test_cached_empty_word(void)
{
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    char *json = with_steps("null", MINI_PRETOK);
    nv_tokenizer *tok = load_text(&d, json, path, sizeof path, &err);
    free(json);
    if (!CHECK(tok != NULL))
        return;
    int32_t *ids = NULL;
    size_t n = 99;
    CHECK(nv_tokenizer_encode(tok, "zz,zz,zz", 8, 0, &ids, &n, &err) == 0 &&
          n == 0);
    free(ids);
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

/* A Split whose repeated group keeps a backtracking frame per character
 * overflows PCRE2's default 32 KiB JIT stack on a long run; the 8 MiB
 * stack is made then (lazily: mapping it costs more than encoding a short
 * prompt) and the match goes on. The run must split into one word. */
static void test_jit_stack_grows(void)
{
    char *json = with_steps(
        "null", "{\"type\":\"Sequence\",\"pretokenizers\":["
                "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?:x|b)+\"},"
                "\"behavior\":\"Isolated\"},"
                "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                "\"use_regex\":false}]}");
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    nv_tokenizer *tok = load_text(&d, json, path, sizeof path, &err);
    free(json);
    if (!check_true(tok != NULL, "Split (?:x|b)+ loads", __FILE__, __LINE__)) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    size_t len = 200 * 1000;
    char *text = malloc(len);
    if (!CHECK(text != NULL))
        return;
    memset(text, 'b', len);
    for (int round = 0; round < 2; round++) { /* short first, then long */
        size_t n_text = round ? len : 3;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = nv_tokenizer_encode(tok, text, n_text, 0, &ids, &n, &err);
        if (!CHECK(rc == 0))
            fprintf(stderr, "  %zu bytes: %s\n", n_text, err.msg);
        /* 'b' is id 1 and has no merge with itself: one id per byte */
        CHECK(rc != 0 || (n == n_text && ids[0] == 1 && ids[n - 1] == 1));
        free(ids);
    }
    free(text);
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

/* An added token whose content is a lone UTF-8 continuation byte (raw in
 * the JSON, which cJSON passes through) split the U+FFFD that encode puts
 * for an invalid byte, and PCRE2 then matched past the end of the half
 * character it was given (found by fuzz_tokenizer_json, session 14). Such
 * a token is refused at load; a valid one next to U+FFFD still encodes. */
static void test_added_not_utf8(void)
{
    char *json = malloc(4096);
    if (!CHECK(json != NULL))
        return;
    snprintf(json, 4096,
             "{\"added_tokens\":[{\"id\":300,\"content\":\"\xbd\"}],"
             "\"normalizer\":null,\"pre_tokenizer\":%s,\"model\":{\"type\":"
             "\"BPE\",\"vocab\":%s,\"merges\":%s}}",
             MINI_PRETOK, MINI_VOCAB, MINI_MERGES);
    expect_refused(json, "added token 300 is not valid UTF-8", __LINE__);

    char valid[4096];
    snprintf(valid, sizeof valid,
             "{\"added_tokens\":[{\"id\":300,\"content\":\"\xc2\xbd\"}],"
             "\"normalizer\":null,\"pre_tokenizer\":%s,\"model\":{\"type\":"
             "\"BPE\",\"vocab\":%s,\"merges\":%s}}",
             MINI_PRETOK, MINI_VOCAB, MINI_MERGES);
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    nv_tokenizer *tok = load_text(&d, valid, path, sizeof path, &err);
    if (CHECK(tok != NULL)) {
        /* "a\xff\xc2\xbd": the invalid byte becomes U+FFFD (ef bf bd),
         * whose last byte is not the token; the token itself is found */
        static const char text[] = "a\xff\xc2\xbd";
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(nv_tokenizer_encode(tok, text, sizeof text - 1, 0, &ids, &n,
                                  &err) == 0);
        CHECK(n >= 2 && ids && ids[n - 1] == 300);
        free(ids);
    } else {
        fprintf(stderr, "  %s\n", err.msg);
    }
    nv_tokenizer_free(tok);
    fixture_close(&d);
}

int main(void)
{
    test_jit_stack_grows();
    test_cached_empty_word();
    test_blank_merges(); /* first: it checks the peak RSS */
    test_many_added();
    test_long_word();
    test_fifos();
    test_empty_match_at_end();
    test_step_limit();
    test_added_not_utf8();
    return check_summary("test_tokenizer_hostile");
}
