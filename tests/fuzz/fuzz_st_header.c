/* fuzz_st_header.c - libFuzzer target: the input is a whole .safetensors
 * file (8-byte length, JSON header, data); opened as nvlm opens weights
 * and every tensor read as f32, as the loaders do. */
#include "core/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char path[512];
    fuzz_write("model.safetensors", data, len, path, sizeof path);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    if (!st)
        return 0;
    for (size_t i = 0; i < nv_st_count(st); i++) {
        const nv_st_entry *e = nv_st_at(st, i);
        nv_tensor t = {0};
        if (nv_st_get_f32(st, e->name, -1, NULL, &t, &err) == 0)
            nv_tensor_free(&t);
    }
    nv_st_close(st);
    return 0;
}
