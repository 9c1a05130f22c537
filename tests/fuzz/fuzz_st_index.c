/* fuzz_st_index.c - libFuzzer target: the input is
 * model.safetensors.index.json beside two valid shards (s1 holds "a", s2
 * holds "b"); opened through the directory, every tensor read. */
#include "core/safetensors.h"
#include "fuzz_util.h"

/* A one-tensor shard: F32 [1] named `name`, header padded to 8 bytes. */
static void write_shard(const char *file, const char *name)
{
    char header[64], buf[128], path[512];
    int n = snprintf(header, sizeof header,
                     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],"
                     "\"data_offsets\":[0,4]}}", name);
    while (n % 8)
        header[n++] = ' ';
    for (int i = 0; i < 8; i++)
        buf[i] = (char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, (size_t)n);
    memset(buf + 8 + n, 0, 4);
    fuzz_write(file, buf, (size_t)n + 12, path, sizeof path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int ready;
    if (!ready) {
        write_shard("s1.safetensors", "a");
        write_shard("s2.safetensors", "b");
        ready = 1;
    }
    char path[512];
    fuzz_write("model.safetensors.index.json", data, len, path, sizeof path);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(fuzz_scratch(), &err);
    if (!st)
        return 0;
    for (size_t i = 0; i < nv_st_count(st); i++) {
        nv_tensor t = {0};
        if (nv_st_get_f32(st, nv_st_at(st, i)->name, -1, NULL, &t, &err) == 0)
            nv_tensor_free(&t);
    }
    nv_st_close(st);
    return 0;
}
