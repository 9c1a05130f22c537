/* test_tokenizer_cases.c - hand-made cases for what the golden files do not
 * cover: merge order, equal-rank ties, ignore_merges, every Split behaviour,
 * added tokens (longest first, lstrip/rstrip, non-special ones, adjacent to
 * text, parse_special off), NFC, invalid UTF-8, empty input, very long
 * words, the slow layout, decode and the lookups. Each expected id list is
 * worked out by hand from the fixture vocabulary documented in
 * tok_fixture.h (or, for llama3, from its vocab with ignore_merges on:
 * every piece named below is a vocab entry). */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "check.h"
#include "text/tokenizer.h"
#include "tok_fixture.h"

#define IDS(...) ((const int32_t[]){__VA_ARGS__})
#define NIDS(...) (sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))
#define EXPECT(tok, text, ps, ...)                                         \
    expect(tok, text, sizeof(text) - 1, ps, IDS(__VA_ARGS__),              \
           NIDS(__VA_ARGS__), __LINE__)

static void expect(const nv_tokenizer *tok, const char *text, size_t len,
                   int parse_special, const int32_t *want, size_t want_n,
                   int line)
{
    nv_error err = {{0}};
    int32_t *got = NULL;
    size_t n = 0;
    int rc = nv_tokenizer_encode(tok, text, len, parse_special, &got, &n,
                                 &err);
    int ok = rc == 0 && n == want_n &&
             (n == 0 || !memcmp(got, want, n * sizeof *want));
    if (!check_true(ok, "encode equals expected ids", __FILE__, line)) {
        fprintf(stderr, "  text '%.*s' rc %d %s\n  want:", (int)len, text, rc,
                err.msg);
        for (size_t i = 0; i < want_n; i++)
            fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n  got: ");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    free(got);
}

static nv_tokenizer *load_json_text(const char *json)
{
    fixture_dir d;
    char path[512];
    nv_error err = {{0}};
    if (fixture_open(&d) < 0 ||
        fixture_write(&d, "tokenizer.json", json, strlen(json), path,
                      sizeof path) < 0) {
        fprintf(stderr, "cannot write a fixture\n");
        exit(1);
    }
    nv_tokenizer *tok = nv_tokenizer_load(path, &err);
    if (!tok)
        fprintf(stderr, "load failed: %s\n", err.msg);
    fixture_close(&d);
    return tok;
}

static void test_merges_and_added(void)
{
    nv_tokenizer *tok = load_json_text(MINI_JSON("null", MINI_PRETOK,
                                                 "false"));
    if (!CHECK(tok))
        return;
    /* merge order: "b c" (rank 0) before "a b" (1), then "a bc" (2) */
    EXPECT(tok, "abc", 1, 7);
    EXPECT(tok, "abcd", 1, 7, 3);     /* c went into bc: "c d" never fires */
    EXPECT(tok, " abc", 1, 4, 7);     /* b c, a bc, then no "Ġ abc" */
    EXPECT(tok, " a", 1, 8);
    EXPECT(tok, "abab", 1, 5, 5);     /* equal ranks, left to right */
    EXPECT(tok, "abc abc abc", 1, 7, 4, 7, 4, 7); /* 2nd " abc" cached */
    EXPECT(tok, "aaa", 1, 9, 0);      /* leftmost "a a" wins */
    EXPECT(tok, "aaaa", 1, 9, 9);
    EXPECT(tok, "xd", 1, 18, 3);      /* in vocab, but no merge makes it */
    /* added tokens */
    EXPECT(tok, "a<s>b", 1, 0, 30, 1);
    EXPECT(tok, "a<s>b", 0, 0, 10, 23, 11, 1); /* special read as text */
    EXPECT(tok, "<s>x", 1, 34);                /* longest first */
    EXPECT(tok, "<s>xa", 1, 34, 0);
    EXPECT(tok, "<s><s>", 1, 30, 30);
    EXPECT(tok, "a <L>b", 1, 0, 31, 1);        /* lstrip eats the space */
    EXPECT(tok, "a<R> b", 1, 0, 32, 1);        /* rstrip eats the space */
    EXPECT(tok, "a <R>b", 1, 0, 4, 32, 1);     /* but not the one before */
    EXPECT(tok, "<u>", 0, 33);                 /* not special: always */
    EXPECT(tok, "a<s", 1, 0, 10, 23);          /* unfinished: text */
    /* invalid UTF-8: each maximal bad sequence becomes U+FFFD = EF BF BD,
     * spelled ï ¿ ½ */
    EXPECT(tok, "a\xff" "b", 1, 0, 36, 37, 38, 1);
    EXPECT(tok, "a\xe4\xbd", 1, 0, 36, 37, 38);      /* cut 3-byte char */
    EXPECT(tok, "\xc0\xaf", 1, 36, 37, 38, 36, 37, 38); /* overlong '/' */
    EXPECT(tok, "\xed\xa0\x80", 1, 36, 37, 38, 36, 37, 38, 36, 37,
           38);                                       /* a surrogate */
    EXPECT(tok, "\xc3\xa9", 1, 22);                   /* é, "Ã ©" */

    /* empty input: no ids, no allocation */
    nv_error err = {{0}};
    int32_t *ids = (int32_t *)&err;
    size_t n = 99;
    CHECK(nv_tokenizer_encode(tok, "", 0, 1, &ids, &n, &err) == 0);
    CHECK(n == 0 && ids == NULL);

    /* decode and lookups */
    char *s = nv_tokenizer_decode(tok, IDS(7, 4, 8, 30, 19), 5, &err);
    CHECK(s && !strcmp(s, "abc  a<s>\n")); /* " " + " a" */
    free(s);
    s = nv_tokenizer_decode(tok, IDS(0, 36), 2, &err); /* lone EF byte */
    CHECK(s && !strcmp(s, "a\xef\xbf\xbd"));
    free(s);
    s = nv_tokenizer_decode(tok, IDS(36, 37, 38), 3, &err);
    CHECK(s && !strcmp(s, "\xef\xbf\xbd"));
    free(s);
    s = nv_tokenizer_decode(tok, NULL, 0, &err);
    CHECK(s && !strcmp(s, ""));
    free(s);
    CHECK(nv_tokenizer_decode(tok, IDS(12), 1, &err) == NULL);
    CHECK(strstr(err.msg, "12") != NULL);
    CHECK(nv_tokenizer_decode(tok, IDS(40), 1, &err) == NULL);
    CHECK(nv_tokenizer_decode(tok, IDS(-1), 1, &err) == NULL);
    size_t blen = 0;
    const char *b = nv_tokenizer_token_bytes(tok, 8, &blen);
    CHECK(b && blen == 2 && !memcmp(b, " a", 2));
    CHECK(nv_tokenizer_token_bytes(tok, 12, &blen) == NULL);
    CHECK(!strcmp(nv_tokenizer_piece(tok, 8), "\xc4\xa0" "a"));
    CHECK(nv_tokenizer_piece(tok, 12) == NULL);
    CHECK(nv_tokenizer_piece(tok, 40) == NULL);
    CHECK(nv_tokenizer_token_id(tok, "<s>") == 30);
    CHECK(nv_tokenizer_token_id(tok, "\xc4\xa0" "a") == 8);
    CHECK(nv_tokenizer_token_id(tok, "zz") == -1);
    CHECK(nv_tokenizer_vocab_size(tok) == 40);
    CHECK(nv_tokenizer_is_special(tok, 30) == 1);
    CHECK(nv_tokenizer_is_special(tok, 33) == 0);
    CHECK(nv_tokenizer_is_special(tok, 0) == 0);
    nv_tokenizer_free(tok);
}

/* A word of n copies of unit: checks the ids are want repeated, then the
 * tail. Long words must neither be slow (O(n^2)) nor overflow a stack. */
static void expect_long(const nv_tokenizer *tok, const char *unit,
                        size_t copies, int32_t want, size_t want_copies,
                        int32_t tail)
{
    size_t ulen = strlen(unit);
    char *text = malloc(ulen * copies);
    for (size_t i = 0; i < copies; i++)
        memcpy(text + i * ulen, unit, ulen);
    nv_error err = {{0}};
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(nv_tokenizer_encode(tok, text, ulen * copies, 1, &ids, &n,
                              &err) == 0);
    size_t want_n = want_copies + (tail >= 0);
    int ok = n == want_n;
    for (size_t i = 0; ok && i < want_copies; i++)
        ok = ids[i] == want;
    if (ok && tail >= 0)
        ok = ids[n - 1] == tail;
    if (!CHECK(ok))
        fprintf(stderr, "  long word '%s' x %zu: %zu ids (%s)\n", unit,
                copies, n, err.msg);
    free(ids);
    free(text);
}

static void test_long_words(void)
{
    nv_tokenizer *tok = load_json_text(MINI_JSON("null", MINI_PRETOK,
                                                 "false"));
    if (!CHECK(tok))
        return;
    expect_long(tok, "a", 200001, 9, 100000, 0); /* aa ... aa a */
    expect_long(tok, "ab", 100000, 5, 100000, -1);
    expect_long(tok, " ", 1000000, 4, 1000000, -1); /* one \s+ piece */
    nv_tokenizer_free(tok);
}

static void test_ignore_merges_and_prefix(void)
{
    nv_tokenizer *tok = load_json_text(MINI_JSON("null", MINI_PRETOK,
                                                 "true"));
    if (CHECK(tok)) {
        EXPECT(tok, "xd", 1, 39); /* the whole word is a vocab entry */
        EXPECT(tok, "abcd", 1, 7, 3);
        nv_tokenizer_free(tok);
    }
    /* ByteLevel add_prefix_space: every stretch between added tokens gets
     * a space in front (HF applies it per piece). */
    tok = load_json_text(MINI_JSON(
        "null",
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
        "\"use_regex\":true}",
        "false"));
    if (CHECK(tok)) {
        EXPECT(tok, "abc", 1, 4, 7);
        EXPECT(tok, "a<s>b", 1, 8, 30, 4, 1);
        EXPECT(tok, " a", 1, 8); /* already starts with a space */
        nv_tokenizer_free(tok);
    }
    /* NFC: e + U+0301 composes to é */
    tok = load_json_text(MINI_JSON(
        "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"}]}",
        MINI_PRETOK, "false"));
    if (CHECK(tok)) {
        EXPECT(tok, "e\xcc\x81", 1, 22);
        EXPECT(tok, "\xc3\xa9", 1, 22);
        EXPECT(tok, "ae\xcc\x81", 1, 0, 22);       /* a é: one word */
        EXPECT(tok, "e\xcc\x81-e\xcc\x81", 1, 22, 24, 22);
        nv_tokenizer_free(tok);
    }
}

#define SPLIT_DASH(behavior, invert)                                       \
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","       \
    "\"pattern\":{\"String\":\"-\"},\"behavior\":\"" behavior "\","        \
    "\"invert\":" invert "},{\"type\":\"ByteLevel\","                      \
    "\"add_prefix_space\":false,\"use_regex\":false}]}"

static void test_split_behaviors(void)
{
    static const struct {
        const char *json;
        int32_t want[8];
        size_t n;
    } cases[] = {
        /* "a-b--c": matches are the three dashes */
        {MINI_JSON("null", SPLIT_DASH("Isolated", "false"), "false"),
         {0, 24, 1, 24, 24, 2}, 6},
        {MINI_JSON("null", SPLIT_DASH("Removed", "false"), "false"),
         {0, 1, 2}, 3},
        /* a- | b- | - | c */
        {MINI_JSON("null", SPLIT_DASH("MergedWithPrevious", "false"),
                   "false"),
         {26, 27, 24, 2}, 4},
        /* a | -b | - | -c */
        {MINI_JSON("null", SPLIT_DASH("MergedWithNext", "false"), "false"),
         {0, 28, 24, 29}, 4},
        /* a | - | b | -- | c */
        {MINI_JSON("null", SPLIT_DASH("Contiguous", "false"), "false"),
         {0, 24, 1, 25, 2}, 5},
        /* inverted: the letters are the matches and get removed */
        {MINI_JSON("null", SPLIT_DASH("Removed", "true"), "false"),
         {24, 24, 24}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nv_tokenizer *tok = load_json_text(cases[i].json);
        if (!CHECK(tok))
            continue;
        expect(tok, "a-b--c", 6, 1, cases[i].want, cases[i].n,
               __LINE__ + (int)i);
        nv_tokenizer_free(tok);
    }
    /* a Regex pattern: split digits one by one, keep them */
    nv_tokenizer *tok = load_json_text(MINI_JSON(
        "null",
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
        "\"pattern\":{\"Regex\":\"\\\\p{L}\"},\"behavior\":\"Isolated\","
        "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
        "false,\"use_regex\":false}]}",
        "false"));
    if (CHECK(tok)) {
        EXPECT(tok, "abc", 1, 0, 1, 2); /* every letter its own word */
        nv_tokenizer_free(tok);
    }
}

static void test_slow_layout(void)
{
    static const char merges[] =
        "#version: 0.2\nb c\r\na b\n\na bc\n\xc4\xa0 a\na a\nc d\n- -\n"
        "a -\nb -\n- b\n- c\n\xc3\x83 \xc2\xa9\n";
    static const char config_gpt2[] =
        "{\"tokenizer_class\":\"GPT2Tokenizer\",\"eos_token\":\"<s>\","
        "\"bos_token\":{\"content\":\"<u>\"},\"added_tokens_decoder\":{"
        "\"30\":{\"content\":\"<s>\",\"special\":true},"
        "\"31\":{\"content\":\"<L>\",\"special\":true,\"lstrip\":true}}}";
    static const char config_qwen[] =
        "{\"tokenizer_class\":\"Qwen2Tokenizer\",\"added_tokens_decoder\":"
        "{\"30\":{\"content\":\"<s>\",\"special\":true}}}";
    static const char added[] = "{\"<u>\": 40}";
    fixture_dir d;
    char path[512];
    if (!CHECK(fixture_open(&d) == 0))
        return;
    fixture_write(&d, "vocab.json", MINI_VOCAB, strlen(MINI_VOCAB), path,
                  sizeof path);
    fixture_write(&d, "merges.txt", merges, strlen(merges), path,
                  sizeof path);
    fixture_write(&d, "tokenizer_config.json", config_gpt2,
                  strlen(config_gpt2), path, sizeof path);
    fixture_write(&d, "added_tokens.json", added, strlen(added), path,
                  sizeof path);
    nv_error err = {{0}};
    nv_tokenizer *tok = nv_tokenizer_load(d.path, &err);
    if (CHECK(tok)) {
        EXPECT(tok, "abc abcd", 1, 7, 4, 7, 3);
        EXPECT(tok, "a<s>b <L>a<u>", 1, 0, 30, 1, 31, 0, 40);
        EXPECT(tok, "a<s>b", 0, 0, 10, 23, 11, 1);
        EXPECT(tok, "e\xcc\x81", 1, 35); /* no NFC: U+0301 bytes unknown */
        CHECK(nv_tokenizer_vocab_size(tok) == 41);
        CHECK(nv_tokenizer_eos_id(tok) == 30);
        CHECK(nv_tokenizer_bos_id(tok) == 40);
        nv_tokenizer_free(tok);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    fixture_write(&d, "tokenizer_config.json", config_qwen,
                  strlen(config_qwen), path, sizeof path);
    tok = nv_tokenizer_load_dir(d.path, &err);
    if (CHECK(tok)) {
        EXPECT(tok, "e\xcc\x81", 1, 22); /* Qwen2Tokenizer: NFC */
        CHECK(nv_tokenizer_eos_id(tok) == -1);
        nv_tokenizer_free(tok);
    }
    fixture_close(&d);
}

/* The real llama3 vocabulary (ignore_merges on, so a piece that is a vocab
 * entry is one token; ids looked up in its vocab). */
static void test_llama3(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizers/llama3/tokenizer.json",
             check_golden_dir());
    nv_error err = {{0}};
    nv_tokenizer *tok = nv_tokenizer_load(path, &err);
    if (!CHECK(tok)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    /* \p{N}{1,3}: digits in groups of three from the left */
    EXPECT(tok, "1234567", 1, 4513, 10961, 22); /* 123 456 7 */
    EXPECT(tok, "12345", 1, 4513, 1774);        /* 123 45 */
    EXPECT(tok, "hello<|eot_id|>world", 1, 15339, 128009, 14957);
    EXPECT(tok, "<|begin_of_text|>", 1, 128000);
    /* as text: <| begin _of _text |> */
    EXPECT(tok, "<|begin_of_text|>", 0, 27, 91, 7413, 3659, 4424, 91, 29);
    EXPECT(tok, "\n\n\n", 1, 1432);
    CHECK(nv_tokenizer_vocab_size(tok) == 128256);
    CHECK(nv_tokenizer_bos_id(tok) == 128000);
    CHECK(nv_tokenizer_eos_id(tok) == 128001);
    nv_tokenizer_free(tok);
}

/* Deterministic pseudo-random numbers (a 64-bit LCG). */
static uint32_t next_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* Random text drawn from ASCII, whitespace runs, Latin-1, combining marks,
 * Hangul, CJK and emoji, as UTF-8; n characters. */
static char *random_text(uint64_t *state, size_t n, size_t *len)
{
    static const uint32_t ranges[][2] = {
        {0x20, 0x7E},     {0x09, 0x0D},       {0xA0, 0xFF},
        {0x300, 0x36F},   {0xAC00, 0xD7A3},   {0x4E00, 0x9FFF},
        {0x1F300, 0x1F6FF}, {0x1100, 0x11FF}, {0x2000, 0x200D},
    };
    size_t nr = sizeof ranges / sizeof ranges[0];
    char *out = malloc(4 * n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t *r = ranges[next_rand(state) % nr];
        uint32_t cp = r[0] + next_rand(state) % (r[1] - r[0] + 1);
        o += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp,
                                          (utf8proc_uint8_t *)out + o);
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* Round trip on the real vocabularies: decode(encode(text)) gives text back
 * (llama3: no normalizer) or its NFC form by utf8proc (qwen3); random
 * bytes encode without error and decode to valid UTF-8. */
static void test_round_trip(void)
{
    const char *names[] = {"llama3", "qwen3"};
    for (int t = 0; t < 2; t++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tokenizers/%s", check_golden_dir(),
                 names[t]);
        nv_error err = {{0}};
        nv_tokenizer *tok = nv_tokenizer_load(path, &err);
        if (!CHECK(tok))
            continue;
        uint64_t state = 42;
        for (int round = 0; round < 20; round++) {
            size_t len;
            char *text = random_text(&state, 2000, &len);
            char *want = t == 0 ? strdup(text)
                                : (char *)utf8proc_NFC(
                                      (const utf8proc_uint8_t *)text);
            int32_t *ids = NULL;
            size_t n = 0;
            CHECK(nv_tokenizer_encode(tok, text, len, 0, &ids, &n, &err) ==
                  0);
            char *back = nv_tokenizer_decode(tok, ids, n, &err);
            if (!CHECK(back && want && !strcmp(back, want)))
                fprintf(stderr, "  %s round %d: round trip differs\n",
                        names[t], round);
            free(back);
            free(ids);
            free(want);
            free(text);
        }
        char bytes[5000];
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (char)(1 + next_rand(&state) % 255); /* no NUL */
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(nv_tokenizer_encode(tok, bytes, sizeof bytes, 1, &ids, &n,
                                  &err) == 0);
        char *back = nv_tokenizer_decode(tok, ids, n, &err);
        /* every byte survives or becomes U+FFFD (3 bytes) */
        CHECK(back && strlen(back) >= sizeof bytes &&
              strlen(back) <= 3 * sizeof bytes);
        free(back);
        free(ids);
        nv_tokenizer_free(tok);
    }
}

int main(void)
{
    test_merges_and_added();
    test_long_words();
    test_ignore_merges_and_prefix();
    test_split_behaviors();
    test_slow_layout();
    test_llama3();
    test_round_trip();
    return check_summary("test_tokenizer_cases");
}
