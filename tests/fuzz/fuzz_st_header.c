/* fuzz_st_header.c - libFuzzer target: the input is a whole .safetensors
 * file (8-byte length, JSON header, data); opened as nvlm opens weights
 * and every tensor read as f32 and as a weight in each --dtype mode (in
 * place, Q8_0 pairs included), as the loaders do; a weight that loads is
 * read back row by row as the kernels read it. */
#include "core/lowp.h"
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
        for (int mode = 0; mode < 4; mode++) {
            nv_st_set_weight_mode(st, (nv_weight_mode)mode);
            if (nv_st_get_weight(st, e->name, -1, NULL, &t, &err) != 0)
                continue;
            int64_t cols = t.ndim > 0 ? t.shape[t.ndim - 1] : 1;
            if (t.ndim >= 1 && cols > 0 && cols <= 4096) {
                float row[4096];
                int64_t rows = nv_tensor_numel(&t) / cols;
                for (int64_t r = 0; r < rows && r < 64; r++)
                    nv_weight_rows_f32(&t, r, 1, row);
            }
            nv_tensor_free(&t);
        }
    }
    nv_st_close(st);
    return 0;
}
