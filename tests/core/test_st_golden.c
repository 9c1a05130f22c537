/* test_st_golden.c - reads the shared golden safetensors files (written by
 * the PyTorch/safetensors reference) and checks shapes, dtypes and that the
 * f64 copy of the logits converts to the f32 logits. */
#include <stdio.h>
#include <string.h>

#include "core/safetensors.h"
#include "tests/check.h"

static void check_internvl_golden(const char *golden)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/hf/internvl_tiles/golden.safetensors",
             golden);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    if (!CHECK(st != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const int64_t logits_shape[3] = {1, 281, 300};
    nv_tensor logits = {0}, logits64 = {0}, ids = {0};
    CHECK(nv_st_get_f32(st, "logits", 3, logits_shape, &logits, &err) == 0);
    CHECK(nv_st_get_f32(st, "logits_f64", 3, logits_shape, &logits64, &err) ==
          0);
    CHECK(nv_st_get_i64(st, "in_input_ids", &ids, &err) == 0);
    const nv_st_entry *e = nv_st_find(st, "in_input_ids");
    CHECK(e && e->dtype == NV_I64 && e->ndim == 2 && e->shape[0] == 1 &&
          e->shape[1] == 281);
    CHECK(ids.dtype == NV_I64 && ids.ndim == 2 && ids.shape[1] == 281);
    e = nv_st_find(st, "logits_f64");
    CHECK(e && e->dtype == NV_F64);

    if (logits.data && logits64.data) {
        long n = (long)nv_tensor_numel(&logits);
        const float *a = nv_tensor_f32(&logits);
        double max_abs = 0;
        for (long i = 0; i < n; i++)
            if (fabs(a[i]) > max_abs)
                max_abs = fabs(a[i]);
        double diff = check_max_abs_diff(a, nv_tensor_f32(&logits64), n);
        printf("logits: max|logit| %.4g, max|f32 - f64->f32| %.3g "
               "(tolerance %.3g)\n",
               max_abs, diff, 1e-4 * max_abs);
        CHECK(max_abs > 0);
        CHECK(diff <= 1e-4 * max_abs);
    }
    if (ids.data) {
        const int64_t *v = ids.data;
        int in_range = 1;
        for (int i = 0; i < 281; i++)
            in_range &= v[i] >= 0 && v[i] < 300;
        CHECK(in_range); /* token ids index the 300-entry vocabulary */
    }

    /* A wrong expected shape is refused with both shapes in the message. */
    const int64_t wrong[2] = {281, 300};
    nv_tensor t = {0};
    CHECK(nv_st_get_f32(st, "logits", 2, wrong, &t, &err) != 0);
    CHECK(strstr(err.msg, "[1, 281, 300]") && strstr(err.msg, "[281, 300]"));
    CHECK(nv_st_get_f32(st, "no_such", -1, NULL, &t, &err) != 0);
    CHECK(strstr(err.msg, "no_such") != NULL);
    CHECK(nv_st_get_f32(st, "in_input_ids", -1, NULL, &t, &err) != 0);
    CHECK(nv_st_get_i64(st, "logits", &t, &err) != 0);

    nv_tensor_free(&logits);
    nv_tensor_free(&logits64);
    nv_tensor_free(&ids);
    nv_st_close(st);
}

static void check_llama_model(const char *golden)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/hf/llama/model", golden);
    nv_error err = {{0}};
    nv_safetensors *st = nv_st_open(path, &err);
    if (!CHECK(st != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(nv_st_count(st) > 0);
    size_t sum = 0;
    int all_f32 = 1;
    for (size_t i = 0; i < nv_st_count(st); i++) {
        const nv_st_entry *e = nv_st_at(st, i);
        sum += e->nbytes;
        all_f32 &= e->dtype == NV_F32;
        CHECK(nv_st_find(st, e->name) == e);
    }
    CHECK(all_f32);
    CHECK(sum == nv_st_data_bytes(st)); /* tensors tile the data area */
    nv_tensor norm = {0};
    CHECK(nv_st_get_f32(st, "model.norm.weight", -1, NULL, &norm, &err) == 0);
    CHECK(norm.ndim == 1 && norm.shape[0] > 0);
    nv_tensor_free(&norm);
    nv_st_close(st);
}

int main(void)
{
    const char *golden = check_golden_dir();
    check_internvl_golden(golden);
    check_llama_model(golden);
    return check_summary("st_golden");
}
