/* test_st_files.c - well-formed safetensors files written by the test: one
 * file holding every dtype (values chosen exact in their dtype, F32 data
 * deliberately unaligned, a scalar and an empty tensor), a sharded
 * directory with an index, and how a directory path is resolved. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safetensors.h"
#include "tests/check.h"
#include "tests/file_util.h"
#include "tests/core/st_write.h"

static char tmpdir[] = "/tmp/nv_st_files_XXXXXX";

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

/* Appends n bytes to the data buffer. */
static size_t put(unsigned char *buf, size_t at, const void *src, size_t n)
{
    memcpy(buf + at, src, n);
    return at + n;
}

static const char *all_dtypes_header =
    "{\"__metadata__\": {\"format\": \"pt\", \"note\": \"test\"},"
    " \"flag\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
    " \"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [1, 25]},"
    " \"b\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [25, 33]},"
    " \"c\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [33, 41]},"
    " \"d\": {\"dtype\": \"F64\", \"shape\": [3], \"data_offsets\": [41, 65]},"
    " \"e\": {\"dtype\": \"I32\", \"shape\": [3], \"data_offsets\": [65, 77]},"
    " \"f\": {\"dtype\": \"I16\", \"shape\": [2], \"data_offsets\": [77, 81]},"
    " \"g\": {\"dtype\": \"I8\", \"shape\": [2], \"data_offsets\": [81, 83]},"
    " \"h\": {\"dtype\": \"BOOL\", \"shape\": [2], \"data_offsets\": [83, 85]},"
    " \"i\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [85, 101]},"
    " \"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [101, 105]},"
    " \"z\": {\"dtype\": \"F32\", \"shape\": [0, 4], \"data_offsets\": [105, 105]}}";

static size_t all_dtypes_data(unsigned char *buf)
{
    size_t at = 0;
    const uint8_t flag = 7;
    const float a[6] = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, -7.0f};
    const uint16_t b[4] = {0x3c00, 0xc000, 0x3555, 0x0001};
    const uint16_t c[4] = {0x3f80, 0xc0a0, 0x4049, 0x0000};
    const double d[3] = {0.1, -1e10, 0x1p-30};
    const int32_t e[3] = {-1, 2147483647, 5};
    const int16_t f[2] = {-300, 12};
    const int8_t g[2] = {-128, 127};
    const uint8_t h[2] = {0, 1};
    const int64_t i[2] = {-((int64_t)1 << 40), 3};
    const float s = 42.0f;
    at = put(buf, at, &flag, 1);
    at = put(buf, at, a, sizeof a);
    at = put(buf, at, b, sizeof b);
    at = put(buf, at, c, sizeof c);
    at = put(buf, at, d, sizeof d);
    at = put(buf, at, e, sizeof e);
    at = put(buf, at, f, sizeof f);
    at = put(buf, at, g, sizeof g);
    at = put(buf, at, h, sizeof h);
    at = put(buf, at, i, sizeof i);
    at = put(buf, at, &s, sizeof s);
    return at;
}

static int floats_equal(const nv_tensor *t, const float *want, int n)
{
    if (t->dtype != NV_F32 || nv_tensor_numel(t) != n)
        return 0;
    for (int k = 0; k < n; k++)
        if (nv_tensor_f32(t)[k] != want[k])
            return 0;
    return 1;
}

static int ints_equal(const nv_tensor *t, const int64_t *want, int n)
{
    if (t->dtype != NV_I64 || nv_tensor_numel(t) != n)
        return 0;
    for (int k = 0; k < n; k++)
        if (((const int64_t *)t->data)[k] != want[k])
            return 0;
    return 1;
}

static void check_all_dtypes(void)
{
    char path[512];
    path_in(path, sizeof path, "all.safetensors");
    unsigned char data[128];
    size_t nbytes = all_dtypes_data(data);
    CHECK(nbytes == 105);
    CHECK(st_write(path, all_dtypes_header, data, nbytes) == 0);

    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    if (!CHECK(st != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(nv_st_count(st) == 12); /* __metadata__ is not a tensor */
    CHECK(nv_st_find(st, "__metadata__") == NULL);
    CHECK(nv_st_data_bytes(st) == 105);
    CHECK(nv_st_at(st, 12) == NULL);
    const nv_st_entry *first = nv_st_at(st, 0);
    CHECK(first && !strcmp(first->name, "flag")); /* header order kept */
    const nv_st_entry *a = nv_st_find(st, "a");
    CHECK(a && a->dtype == NV_F32 && a->ndim == 2 && a->shape[0] == 2 &&
          a->shape[1] == 3 && a->nbytes == 24 && !strcmp(a->file, path));
    CHECK(a && (const unsigned char *)a->data ==
                   (const unsigned char *)first->data + 1);

    nv_tensor t = {0};
    const int64_t shape_a[2] = {2, 3};
    const float want_a[6] = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, -7.0f};
    CHECK(nv_st_get_f32(st, "a", 2, shape_a, &t, &err) == 0);
    CHECK(floats_equal(&t, want_a, 6) && t.ndim == 2 && t.owned);
    nv_tensor_free(&t);

    const float want_b[4] = {1.0f, -2.0f, 0.333251953125f, 0x1p-24f};
    CHECK(nv_st_get_f32(st, "b", -1, NULL, &t, &err) == 0);
    CHECK(floats_equal(&t, want_b, 4));
    nv_tensor_free(&t);

    const int64_t shape_c[2] = {2, 2};
    const float want_c[4] = {1.0f, -5.0f, 3.140625f, 0.0f};
    CHECK(nv_st_get_f32(st, "c", 2, shape_c, &t, &err) == 0);
    CHECK(floats_equal(&t, want_c, 4));
    nv_tensor_free(&t);

    const float want_d[3] = {(float)0.1, -1e10f, 0x1p-30f};
    CHECK(nv_st_get_f32(st, "d", -1, NULL, &t, &err) == 0);
    CHECK(floats_equal(&t, want_d, 3));
    nv_tensor_free(&t);

    const float want_s[1] = {42.0f};
    CHECK(nv_st_get_f32(st, "s", 0, NULL, &t, &err) == 0);
    CHECK(t.ndim == 0 && floats_equal(&t, want_s, 1));
    nv_tensor_free(&t);

    const int64_t shape_z[2] = {0, 4};
    CHECK(nv_st_get_f32(st, "z", 2, shape_z, &t, &err) == 0);
    CHECK(t.ndim == 2 && nv_tensor_numel(&t) == 0);
    nv_tensor_free(&t);

    const int64_t want_e[3] = {-1, 2147483647, 5};
    const int64_t want_f[2] = {-300, 12};
    const int64_t want_g[2] = {-128, 127};
    const int64_t want_h[2] = {0, 1};
    const int64_t want_i[2] = {-((int64_t)1 << 40), 3};
    const int64_t want_flag[1] = {7};
    CHECK(nv_st_get_i64(st, "e", &t, &err) == 0 && ints_equal(&t, want_e, 3));
    nv_tensor_free(&t);
    CHECK(nv_st_get_i64(st, "f", &t, &err) == 0 && ints_equal(&t, want_f, 2));
    nv_tensor_free(&t);
    CHECK(nv_st_get_i64(st, "g", &t, &err) == 0 && ints_equal(&t, want_g, 2));
    nv_tensor_free(&t);
    CHECK(nv_st_get_i64(st, "h", &t, &err) == 0 && ints_equal(&t, want_h, 2));
    nv_tensor_free(&t);
    CHECK(nv_st_get_i64(st, "i", &t, &err) == 0 && ints_equal(&t, want_i, 2));
    nv_tensor_free(&t);
    CHECK(nv_st_get_i64(st, "flag", &t, &err) == 0 &&
          ints_equal(&t, want_flag, 1));
    nv_tensor_free(&t);

    /* Wrong kind or shape: refused, naming the file, tensor and shapes. */
    CHECK(nv_st_get_f32(st, "e", -1, NULL, &t, &err) != 0);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "'e'") &&
          strstr(err.msg, "I32"));
    CHECK(nv_st_get_i64(st, "b", &t, &err) != 0);
    CHECK(strstr(err.msg, "'b'") != NULL);
    const int64_t wrong[2] = {3, 2};
    CHECK(nv_st_get_f32(st, "a", 2, wrong, &t, &err) != 0);
    CHECK(strstr(err.msg, "'a'") && strstr(err.msg, "[2, 3]") &&
          strstr(err.msg, "[3, 2]"));
    CHECK(nv_st_get_f32(st, "a", 1, wrong, &t, &err) != 0);
    CHECK(nv_st_get_f32(st, "nope", -1, NULL, &t, &err) != 0);
    CHECK(strstr(err.msg, "'nope'") != NULL);
    CHECK(t.data == NULL);
    nv_st_close(st);
    nv_st_close(NULL);
}

/* Two shards and an index; "w" goes to shard 1, "v" and "u" to shard 2. */
static void check_sharded(void)
{
    char dir[256], shard1[512], shard2[512], index[512];
    path_in(dir, sizeof dir, "sharded");
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(shard1, sizeof shard1, "%s/model-00001-of-00002.safetensors",
             dir);
    snprintf(shard2, sizeof shard2, "%s/model-00002-of-00002.safetensors",
             dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);

    const float w[4] = {1, 2, 3, 4};
    const uint16_t v[2] = {0x4000, 0xbf80}; /* bf16 2, -1 */
    const uint16_t u[3] = {0x3800, 0x7bff, 0x8000}; /* f16 0.5, 65504, -0 */
    unsigned char data2[16];
    size_t n2 = put(data2, 0, v, sizeof v);
    n2 = put(data2, n2, u, sizeof u);
    CHECK(st_write(shard1,
                   "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], "
                   "\"data_offsets\": [0, 16]}}",
                   w, sizeof w) == 0);
    CHECK(st_write(shard2,
                   "{\"v\": {\"dtype\": \"BF16\", \"shape\": [2], "
                   "\"data_offsets\": [0, 4]}, \"u\": {\"dtype\": \"F16\", "
                   "\"shape\": [3], \"data_offsets\": [4, 10]}}",
                   data2, n2) == 0);
    CHECK(test_write_text(index,
                        "{\"metadata\": {\"total_size\": 26}, \"weight_map\": "
                        "{\"w\": \"model-00001-of-00002.safetensors\", "
                        "\"v\": \"model-00002-of-00002.safetensors\", "
                        "\"u\": \"model-00002-of-00002.safetensors\"}}") == 0);

    const char *paths[2] = {dir, index};
    for (int p = 0; p < 2; p++) {
        nv_error err = {{0}};
        nv_safetensors *st = nv_st_open(paths[p], &err);
        if (!CHECK(st != NULL)) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        CHECK(nv_st_count(st) == 3);
        CHECK(nv_st_data_bytes(st) == 26);
        const nv_st_entry *ew = nv_st_find(st, "w");
        const nv_st_entry *ev = nv_st_find(st, "v");
        CHECK(ew && !strcmp(ew->file, shard1));
        CHECK(ev && !strcmp(ev->file, shard2));
        nv_tensor t = {0};
        const int64_t shape_w[2] = {2, 2};
        CHECK(nv_st_get_f32(st, "w", 2, shape_w, &t, &err) == 0 &&
              floats_equal(&t, w, 4));
        nv_tensor_free(&t);
        const float want_v[2] = {2.0f, -1.0f};
        CHECK(nv_st_get_f32(st, "v", -1, NULL, &t, &err) == 0 &&
              floats_equal(&t, want_v, 2));
        nv_tensor_free(&t);
        const float want_u[3] = {0.5f, 65504.0f, -0.0f};
        CHECK(nv_st_get_f32(st, "u", -1, NULL, &t, &err) == 0 &&
              floats_equal(&t, want_u, 3) && signbit(nv_tensor_f32(&t)[2]));
        nv_tensor_free(&t);
        nv_st_close(st);
    }

    /* With model.safetensors present the directory opens that file. */
    char single[512];
    snprintf(single, sizeof single, "%s/model.safetensors", dir);
    const float one = 9.0f;
    CHECK(st_write(single,
                   "{\"only\": {\"dtype\": \"F32\", \"shape\": [1], "
                   "\"data_offsets\": [0, 4]}}",
                   &one, sizeof one) == 0);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(dir, &err);
    CHECK(st && nv_st_count(st) == 1 && nv_st_find(st, "only"));
    nv_st_close(st);
    unlink(single);
    unlink(shard1);
    unlink(shard2);
    unlink(index);

    /* A directory with neither file. */
    CHECK(nv_st_open(dir, &err) == NULL);
    CHECK(strstr(err.msg, dir) && strstr(err.msg, "model.safetensors"));
    rmdir(dir);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    check_all_dtypes();
    check_sharded();
    char path[512];
    path_in(path, sizeof path, "all.safetensors");
    unlink(path);
    rmdir(tmpdir);
    return check_summary("st_files");
}
