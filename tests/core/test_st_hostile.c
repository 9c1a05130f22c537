/* test_st_hostile.c - malformed safetensors files and indexes must be
 * refused with a message naming the problem (and the tensor where there is
 * one), never a crash; then a fixed-seed mutation loop flips bytes of a
 * valid file and truncates it, and whatever opens must read back safely
 * (the sanitizer build turns any out-of-bounds access into a failure). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "tests/check.h"
#include "tests/file_util.h"
#include "tests/core/st_write.h"

static char tmpdir[] = "/tmp/nv_st_hostile_XXXXXX";

/* Opens path expecting failure with both substrings in the message. */
static void expect_refused(const char *what, const char *path,
                           const char *want1, const char *want2)
{
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    int refused = st == NULL;
    int named = refused && (!want1 || strstr(err.msg, want1)) &&
                (!want2 || strstr(err.msg, want2));
    if (!refused || !named)
        fprintf(stderr, "case '%s': %s (message: %s)\n", what,
                refused ? "message lacks the expected words" : "accepted",
                err.msg);
    CHECK(refused);
    CHECK(named);
    nv_st_close(st);
}

typedef struct header_case {
    const char *what;
    const char *header;
    size_t data_bytes;
    const char *want1, *want2;
} header_case;

static const header_case header_cases[] = {
    {"header not JSON", "hello world", 0, "not valid JSON", NULL},
    {"truncated JSON",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\"", 4,
     "not valid JSON", NULL},
    {"header an array", "[1, 2, 3]", 0, "not a JSON object", NULL},
    {"header a string", "\"abc\"", 0, "not a JSON object", NULL},
    {"bytes after the object", "{} x", 0, "after the JSON", NULL},
    {"entry not an object", "{\"x\": 5}", 0, "'x'", "not an object"},
    {"unknown dtype",
     "{\"x\": {\"dtype\": \"F8\", \"shape\": [1], \"data_offsets\": [0, 1]}}",
     1, "'x'", "unknown dtype"},
    {"missing dtype", "{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
     "'x'", "dtype"},
    {"negative dim",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, "
     "4]}}",
     4, "'x'", "shape dimension 1"},
    {"fractional dim",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, "
     "4]}}",
     4, "'x'", "shape dimension 0"},
    {"string dim",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, "
     "8]}}",
     8, "'x'", "shape"},
    {"shape not an array",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}",
     16, "'x'", "shape"},
    {"too many dims",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], "
     "\"data_offsets\": [0, 4]}}",
     4, "'x'", "9 dimensions"},
    {"shape product overflow",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], "
     "\"data_offsets\": [0, 4]}}",
     4, "'x'", "overflows"},
    {"dim beyond 2^53",
     "{\"x\": {\"dtype\": \"U8\", \"shape\": [1e300], \"data_offsets\": [0, "
     "1]}}",
     1, "'x'", "shape dimension 0"},
    {"offsets beyond data",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, "
     "12]}}",
     8, "'x'", "outside the data area (8 bytes)"},
    {"end before begin",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}",
     8, "'x'", "end before begin"},
    {"negative offset",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, "
     "0]}}",
     8, "'x'", "data_offsets"},
    {"three offsets",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, "
     "8]}}",
     8, "'x'", "data_offsets"},
    {"missing offsets", "{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
     "'x'", "data_offsets"},
    {"length mismatch",
     "{\"x\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [0, "
     "8]}}",
     8, "'x'", "needs 6"},
    {"overlap",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
     " \"y\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, "
     "12]}}",
     12, "'y'", "overlap tensor 'x'"},
    {"same span twice",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
     " \"y\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
     4, "overlap", NULL},
    {"duplicate name",
     "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
     " \"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
     8, "'x'", "twice"},
    {"metadata not an object", "{\"__metadata__\": [1]}", 0, "__metadata__",
     NULL},
    {"metadata with a number", "{\"__metadata__\": {\"a\": 1}}", 0,
     "__metadata__", "'a'"},
    {"empty header", "", 0, "not valid JSON", NULL},
};

static void check_header_cases(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/case.safetensors", tmpdir);
    static const unsigned char zeros[64];
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0];
         i++) {
        const header_case *c = &header_cases[i];
        CHECK(st_write(path, c->header, zeros, c->data_bytes) == 0);
        expect_refused(c->what, path, c->want1, c->want2);
    }
    unlink(path);
}

static void check_length_field(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/len.safetensors", tmpdir);
    const char *header = "{}      ";

    CHECK(st_write_raw(path, 1000, header, 8, NULL, 0) == 0);
    expect_refused("header length past the file", path, "1000",
                   "past the end of the file (16 bytes)");
    CHECK(st_write_raw(path, (uint64_t)1 << 63, header, 8, NULL, 0) == 0);
    expect_refused("absurd header length", path, "9223372036854775808",
                   "above the limit");
    CHECK(st_write_raw(path, UINT64_MAX, header, 8, NULL, 0) == 0);
    expect_refused("all-ones header length", path, "above the limit", NULL);
    CHECK(st_write_raw(path, 100000001, header, 8, NULL, 0) == 0);
    expect_refused("just over 100 MB", path, "above the limit", NULL);
    /* The header is cut: the length says 64 but only 20 bytes follow. */
    CHECK(st_write_raw(path, 64, "{\"x\": {\"dtype\": \"F3", 20, NULL, 0) == 0);
    expect_refused("truncated header", path, "past the end", NULL);

    CHECK(st_write_raw(path, 0, "", 0, NULL, 0) == 0);
    expect_refused("zero-length header", path, "not valid JSON", NULL);

    FILE *f = fopen(path, "wb");
    CHECK(f && fclose(f) == 0);
    expect_refused("empty file", path, "0 bytes", "too small");
    f = fopen(path, "wb");
    CHECK(f && fwrite("\x08\0\0\0\0\0\0", 1, 7, f) == 7 && fclose(f) == 0);
    expect_refused("7-byte file", path, "7 bytes", "too small");
    unlink(path);

    expect_refused("missing file", path, path, "cannot open");
    expect_refused("directory without model", tmpdir, "model.safetensors",
                   NULL);
}

/* Writes a one-tensor shard holding `name` (F32 [1]). */
static int write_shard(const char *dir, const char *file, const char *name)
{
    char path[512], header[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(header, sizeof header,
             "{\"%s\": {\"dtype\": \"F32\", \"shape\": [1], "
             "\"data_offsets\": [0, 4]}}",
             name);
    const float one = 1.0f;
    return st_write(path, header, &one, sizeof one);
}

static void check_index_cases(void)
{
    char dir[256], index[512];
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(write_shard(dir, "s1.safetensors", "a") == 0);
    CHECK(write_shard(dir, "s2.safetensors", "b") == 0);
    CHECK(write_shard(dir, "dup.safetensors", "a") == 0);

    /* Sanity: the valid index opens, so the failures below are real. */
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"s1.safetensors\","
                               " \"b\": \"s2.safetensors\"}}") == 0);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(dir, &err);
    CHECK(st && nv_st_count(st) == 2);
    nv_st_close(st);

    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"s1.safetensors\","
                               " \"b\": \"gone.safetensors\"}}") == 0);
    expect_refused("missing shard", dir, "gone.safetensors", "cannot open");
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": "
                               "\"../sharded/s1.safetensors\"}}") == 0);
    expect_refused("../ shard path", dir, "'a'", "not a plain file name");
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"..\"}}") == 0);
    expect_refused(".. shard path", dir, "not a plain file name", NULL);
    CHECK(test_write_text(index,
                        "{\"weight_map\": {\"a\": \"/etc/passwd\"}}") == 0);
    expect_refused("absolute shard path", dir, "not a plain file name", NULL);
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"\"}}") == 0);
    expect_refused("empty shard name", dir, "not a plain file name", NULL);
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"s1.safetensors\","
                               " \"b\": \"s1.safetensors\"}}") == 0);
    expect_refused("tensor absent from its shard", dir, "'b'",
                   "not in it");
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"s1.safetensors\","
                               " \"c\": \"dup.safetensors\"}}") == 0);
    expect_refused("same tensor in two shards", dir, "'a'", "twice");
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": 3}}") == 0);
    expect_refused("shard name not a string", dir, "'a'", "not a string");
    CHECK(test_write_text(index, "{\"weight_map\": [\"s1.safetensors\"]}") ==
          0);
    expect_refused("weight_map not an object", dir, "weight_map", NULL);
    CHECK(test_write_text(index, "{\"metadata\": {}}") == 0);
    expect_refused("no weight_map", dir, "weight_map", NULL);
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": ") == 0);
    expect_refused("index not JSON", index, index, "JSON");

    /* A shard that is itself malformed is reported through the index. */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    CHECK(st_write_raw(bad, 5, "[1,2]", 5, NULL, 0) == 0);
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": \"bad.safetensors\""
                               "}}") == 0);
    expect_refused("malformed shard", dir, "bad.safetensors",
                   "not a JSON object");

    const char *files[] = {"s1.safetensors", "s2.safetensors",
                           "dup.safetensors", "bad.safetensors",
                           "model.safetensors.index.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* Issue 17: files that hang or stall the reader, and a misleading
 * message. A FIFO named like a weight file blocked open() forever; an
 * index naming 80 000 shards spent 14 s de-duplicating them; a tensor twice
 * in one header was reported "in X and X". */
static void check_hostile_files(void)
{
    char dir[256], path[512], index[512];
    snprintf(dir, sizeof dir, "%s/fifo", tmpdir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    CHECK(mkdir(dir, 0700) == 0);

    /* A FIFO nobody writes: refused at once, by name. */
    CHECK(mkfifo(path, 0600) == 0);
    expect_refused("model.safetensors a FIFO", dir, path,
                   "not a regular file");
    unlink(path);
    CHECK(mkfifo(index, 0600) == 0);
    expect_refused("index a FIFO", dir, index, "not a regular file");
    unlink(index);
    char shard[512];
    snprintf(shard, sizeof shard, "%s/s1.safetensors", dir);
    CHECK(mkfifo(shard, 0600) == 0);
    CHECK(test_write_text(index, "{\"weight_map\": {\"a\": "
                                 "\"s1.safetensors\"}}") == 0);
    expect_refused("shard a FIFO", dir, shard, "not a regular file");
    unlink(shard);

    /* 80 000 distinct shard names: refused before opening any, quickly
     * (CPU time, so a busy machine does not make it flaky). */
    enum { NAMES = 80000 };
    FILE *f = fopen(index, "wb");
    if (!CHECK(f != NULL))
        return;
    fputs("{\"weight_map\": {", f);
    for (int i = 0; i < NAMES; i++)
        fprintf(f, "%s\"t%d\": \"shard-%05d.safetensors\"", i ? ", " : "",
                i, (i * 7919) % NAMES);
    fputs("}}", f);
    CHECK(fclose(f) == 0);
    clock_t t0 = clock();
    expect_refused("80 000 shards", dir, "names 80000 shards",
                   "above the limit of 4096");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("80 000 shard names refused in %.2f s CPU\n", secs);
    CHECK(secs < 2.0);

    /* 80 000 tensors in one (missing) shard: one name after de-duplication,
     * reported as that shard. */
    f = fopen(index, "wb");
    if (!CHECK(f != NULL))
        return;
    fputs("{\"weight_map\": {", f);
    for (int i = 0; i < NAMES; i++)
        fprintf(f, "%s\"t%d\": \"gone.safetensors\"", i ? ", " : "", i);
    fputs("}}", f);
    CHECK(fclose(f) == 0);
    t0 = clock();
    expect_refused("80 000 tensors in one shard", dir, "gone.safetensors",
                   "cannot open");
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 2.0);
    unlink(index);

    /* A tensor twice in one header names the file once. */
    CHECK(st_write(path, "{\"x\": {\"dtype\": \"F32\", \"shape\": [1], "
                         "\"data_offsets\": [0, 4]}, \"x\": {\"dtype\": "
                         "\"F32\", \"shape\": [1], \"data_offsets\": [4, "
                         "8]}}", "\0\0\0\0\0\0\0\0", 8) == 0);
    char want[600];
    snprintf(want, sizeof want, "tensor 'x' appears twice in %s", path);
    expect_refused("tensor twice in one file", dir, want, NULL);

    /* A 20 MiB header of one array of zeros: ~800 MiB as a cJSON tree
     * (845 MB peak before the budget); refused before parsing. */
    size_t n = (size_t)10 << 20;
    char *zeros = malloc(2 * n + 1);
    if (CHECK(zeros != NULL)) {
        zeros[0] = '[';
        for (size_t i = 0; i < n; i++) {
            zeros[1 + 2 * i] = '0';
            zeros[2 + 2 * i] = i + 1 < n ? ',' : ']';
        }
        CHECK(st_write_raw(path, 2 * n + 1, zeros, 2 * n + 1, NULL, 0) == 0);
        free(zeros);
        expect_refused("20 MiB header of zeros", dir, path,
                       "above the limit of 12x its size");
    }
    unlink(path);
    rmdir(dir);
}

/* xorshift64: a fixed, portable random sequence. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* An opened file's tensors must all end inside its data area: measured
 * from the lowest data pointer (which is at or after the area's start),
 * no tensor may reach past data_bytes. */
static int spans_inside(const nv_safetensors *st, size_t data_bytes)
{
    const unsigned char *lowest = NULL;
    for (size_t i = 0; i < nv_st_count(st); i++) {
        const unsigned char *p = nv_st_at(st, i)->data;
        if (!lowest || p < lowest)
            lowest = p;
    }
    for (size_t i = 0; i < nv_st_count(st); i++) {
        const nv_st_entry *e = nv_st_at(st, i);
        const unsigned char *p = e->data;
        if ((size_t)(p - lowest) + e->nbytes > data_bytes)
            return 0;
    }
    return 1;
}

/* Reads every tensor of an opened file so that a bad bound would touch
 * memory outside the mapping. */
static void read_everything(const nv_safetensors *st)
{
    for (size_t i = 0; i < nv_st_count(st); i++) {
        const nv_st_entry *e = nv_st_at(st, i);
        nv_tensor t = {0};
        nv_error err = {{0}};
        if (nv_st_get_f32(st, e->name, -1, NULL, &t, &err) != 0)
            (void)nv_st_get_i64(st, e->name, &t, &err);
        nv_tensor_free(&t);
    }
}

static void check_mutations(void)
{
    const char *header =
        "{\"__metadata__\": {\"format\": \"pt\"},"
        " \"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": "
        "[0, 12]},"
        " \"b\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [12, "
        "24]},"
        " \"n\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [24, "
        "32]},"
        " \"h\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [32, "
        "34]}}";
    unsigned char data[34];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    char path[512];
    snprintf(path, sizeof path, "%s/mut.safetensors", tmpdir);
    if (!CHECK(st_write(path, header, data, sizeof data) == 0))
        return;
    FILE *f = fopen(path, "rb");
    unsigned char orig[1024];
    size_t size = f ? fread(orig, 1, sizeof orig, f) : 0;
    if (f)
        fclose(f);
    CHECK(size > 8 && size < sizeof orig);

    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    CHECK(st && nv_st_count(st) == 4); /* the unmutated file is valid */
    nv_st_close(st);

    uint64_t state = 0x9e3779b97f4a7c15ull;
    int opened = 0, refused = 0, messages_ok = 1, inside = 1;
    unsigned char buf[1024];
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(buf, orig, size);
        size_t len = size;
        int flips = 1 + (int)(next_random(&state) % 4);
        /* A quarter of the runs only change digits into digits: the JSON
         * stays valid and the shape and offset checks get the bad values. */
        int digits_only = next_random(&state) % 4 == 0;
        for (int k = 0; digits_only && k < flips; k++) {
            size_t at = 8 + next_random(&state) % (size - 8);
            while (at < size && (buf[at] < '0' || buf[at] > '9'))
                at++;
            if (at < size)
                buf[at] = (unsigned char)('0' + next_random(&state) % 10);
        }
        for (int k = 0; !digits_only && k < flips; k++) {
            size_t at = next_random(&state) % size;
            unsigned char byte = (unsigned char)next_random(&state);
            /* Half the time write a JSON-significant character, which
             * reaches deeper checks than random bytes do. */
            if (next_random(&state) % 2) {
                static const char special[] = "0123456789-.,:[]{}\"e ";
                byte = (unsigned char)special[next_random(&state) %
                                              (sizeof special - 1)];
            }
            buf[at] = byte;
        }
        if (next_random(&state) % 8 == 0)
            len = next_random(&state) % size; /* truncate as well */
        f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len) {
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        err.msg[0] = '\0';
        st = nv_st_open(path, &err);
        if (st) {
            opened++;
            uint64_t header_bytes = 0;
            for (int i = 7; i >= 0; i--)
                header_bytes = header_bytes << 8 | buf[i];
            inside &= len >= 8 + header_bytes &&
                      spans_inside(st, len - 8 - (size_t)header_bytes);
            read_everything(st);
            nv_st_close(st);
        } else {
            refused++;
            messages_ok &= err.msg[0] != '\0';
        }
    }
    printf("mutations: %d opened and read, %d refused\n", opened, refused);
    CHECK(opened + refused == 2000);
    CHECK(refused > 0);
    CHECK(messages_ok); /* every refusal says why */
    CHECK(inside);      /* every opened tensor lies in its data area */
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    check_header_cases();
    check_length_field();
    check_index_cases();
    check_hostile_files();
    check_mutations();
    rmdir(tmpdir);
    return check_summary("st_hostile");
}
