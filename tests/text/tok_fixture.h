/* tok_fixture.h - small tokenizer files written by the tests into a fresh
 * temporary directory, so that each case states its vocabulary, merges and
 * pipeline next to the ids it expects.
 *
 * MINI_VOCAB / MINI_MERGES: a byte-level BPE over a handful of pieces. Ids:
 *   a0 b1 c2 d3 Ġ4(space) ab5 bc6 abc7 Ġa8 aa9 <10 >11 cd16 x18 Ċ19(\n)
 *   Ã20 ©21 Ã©22(é) s23 -24 --25 a-26 b-27 -b28 -c29 e35 ï36 ¿37 ½38 xd39
 * (ids 12-15 and 17 are unused). Merge ranks, lowest first:
 *   0 "b c", 1 "a b", 2 "a bc", 3 "Ġ a", 4 "a a", 5 "c d", 6 "- -",
 *   7 "a -", 8 "b -", 9 "- b", 10 "- c", 11 "Ã ©"
 * MINI_ADDED: <s>30 special, <L>31 special lstrip, <R>32 special rstrip,
 *   <u>33 not special, <s>x34 special. */
#ifndef NV_TESTS_TOK_FIXTURE_H
#define NV_TESTS_TOK_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MINI_VOCAB                                                         \
    "{\"a\":0,\"b\":1,\"c\":2,\"d\":3,\"\\u0120\":4,\"ab\":5,\"bc\":6,"    \
    "\"abc\":7,\"\\u0120a\":8,\"aa\":9,\"<\":10,\">\":11,\"cd\":16,"       \
    "\"x\":18,\"\\u010a\":19,\"\\u00c3\":20,\"\\u00a9\":21,"               \
    "\"\\u00c3\\u00a9\":22,\"s\":23,\"-\":24,\"--\":25,\"a-\":26,"         \
    "\"b-\":27,\"-b\":28,\"-c\":29,\"e\":35,\"\\u00ef\":36,"               \
    "\"\\u00bf\":37,\"\\u00bd\":38,\"xd\":39}"

#define MINI_MERGES                                                        \
    "[\"b c\",\"a b\",\"a bc\",\"\\u0120 a\",\"a a\",\"c d\",\"- -\","     \
    "\"a -\",\"b -\",\"- b\",\"- c\",\"\\u00c3 \\u00a9\"]"

#define MINI_ADDED                                                         \
    "[{\"id\":30,\"content\":\"<s>\",\"special\":true},"                   \
    "{\"id\":31,\"content\":\"<L>\",\"special\":true,\"lstrip\":true},"    \
    "{\"id\":32,\"content\":\"<R>\",\"special\":true,\"rstrip\":true},"    \
    "{\"id\":33,\"content\":\"<u>\",\"special\":false},"                   \
    "{\"id\":34,\"content\":\"<s>x\",\"special\":true}]"

/* GPT-2 style: ByteLevel with its own regex, no prefix space. */
#define MINI_PRETOK                                                        \
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"                  \
    "\"use_regex\":true}"

/* A whole tokenizer.json from its parts (C strings spliced in). */
#define MINI_JSON(normalizer, pretok, ignore_merges)                       \
    "{\"version\":\"1.0\",\"added_tokens\":" MINI_ADDED                    \
    ",\"normalizer\":" normalizer ",\"pre_tokenizer\":" pretok             \
    ",\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","   \
    "\"ignore_merges\":" ignore_merges ",\"vocab\":" MINI_VOCAB            \
    ",\"merges\":" MINI_MERGES "}}"

typedef struct fixture_dir {
    char path[256];
} fixture_dir;

static inline int fixture_open(fixture_dir *d)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(d->path, sizeof d->path, "%s/nvlm_tok_XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(d->path) ? 0 : -1;
}

/* Writes name inside the directory; fills full with its path. */
static inline int fixture_write(const fixture_dir *d, const char *name,
                                const char *content, size_t len, char *full,
                                size_t full_size)
{
    snprintf(full, full_size, "%s/%s", d->path, name);
    FILE *f = fopen(full, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(content, 1, len, f);
    return fclose(f) == 0 && put == len ? 0 : -1;
}

static inline void fixture_remove(const fixture_dir *d, const char *name)
{
    char full[512];
    snprintf(full, sizeof full, "%s/%s", d->path, name);
    remove(full);
}

static inline void fixture_close(const fixture_dir *d)
{
    const char *names[] = {"tokenizer.json", "vocab.json", "merges.txt",
                           "tokenizer_config.json", "added_tokens.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        fixture_remove(d, names[i]);
    rmdir(d->path);
}

#endif
