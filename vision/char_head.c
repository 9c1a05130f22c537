/* char_head.c - per-patch character probabilities; see char_head.h. */
#include "vision/char_head.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/matmul.h"
#include "core/tensor.h"
#include "vision/vit_ops.h"

#define KEY "nvlm_char_probs"
#define PREFIX "vision_model.char_head."

struct nv_char_head {
    int dim, classes, slots;
    float eps;
    nv_tensor norm_w, norm_b; /* [dim] */
    nv_tensor proj_w, proj_b; /* [slots*classes, dim], [slots*classes] */
};

static int parse(const cJSON *settings, const char *file, nv_char_head *h,
                 nv_error *err)
{
    int64_t classes, slots;
    double eps;
    if (!cJSON_IsObject(settings))
        return nv_fail(err, "%s: '" KEY "' must be an object", file);
    if (nv_json_int_req(settings, "classes", file, &classes, err) < 0 ||
        nv_json_int_req(settings, "slots", file, &slots, err) < 0 ||
        nv_json_num_opt(settings, "layer_norm_eps", file, 1e-5, &eps, err) <
            0)
        return nv_fail_prefix(err, "in '" KEY "': ");
    /* Stage 1's heads have ~100 classes and 1 or 2 slots; the bounds only
     * keep hostile values from overflowing the widths below. */
    if (classes < 2 || classes > 65536 || slots < 1 || slots > 64)
        return nv_fail(err,
                       "%s: '" KEY "' needs 2 <= classes <= 65536 and "
                       "1 <= slots <= 64 (got %lld, %lld)",
                       file, (long long)classes, (long long)slots);
    if (!(eps > 0 && eps < 1))
        return nv_fail(err, "%s: '" KEY ".layer_norm_eps' must be in (0, 1)",
                       file);
    h->classes = (int)classes;
    h->slots = (int)slots;
    h->eps = (float)eps;
    return 0;
}

static int get(const nv_safetensors *st, const char *name, int ndim,
               int64_t rows, int64_t cols, nv_tensor *out, nv_error *err)
{
    char full[128];
    snprintf(full, sizeof full, PREFIX "%s", name);
    const int64_t shape[2] = {rows, cols};
    return nv_st_get_f32(st, full, ndim, ndim == 1 ? &rows : shape, out, err);
}

int nv_char_head_load(const nv_safetensors *st, const cJSON *config,
                      const char *file, int dim, nv_char_head **out,
                      nv_error *err)
{
    *out = NULL;
    const cJSON *settings = nv_json_get(config, KEY);
    if (!settings)
        return 0;
    nv_char_head *h = calloc(1, sizeof *h);
    if (!h)
        return nv_fail(err, "char head: out of memory");
    h->dim = dim;
    if (parse(settings, file, h, err) < 0)
        goto fail;
    int64_t width = (int64_t)h->slots * h->classes;
    if (get(st, "norm.weight", 1, dim, 0, &h->norm_w, err) < 0 ||
        get(st, "norm.bias", 1, dim, 0, &h->norm_b, err) < 0 ||
        get(st, "proj.weight", 2, width, dim, &h->proj_w, err) < 0 ||
        get(st, "proj.bias", 1, width, 0, &h->proj_b, err) < 0)
        goto fail;
    *out = h;
    return 0;
fail:
    nv_char_head_free(h);
    return -1;
}

void nv_char_head_free(nv_char_head *h)
{
    if (!h)
        return;
    nv_tensor_free(&h->norm_w);
    nv_tensor_free(&h->norm_b);
    nv_tensor_free(&h->proj_w);
    nv_tensor_free(&h->proj_b);
    free(h);
}

int nv_char_head_width(const nv_char_head *h)
{
    return h ? h->slots * h->classes : 0;
}

int nv_char_head_append(const nv_char_head *h, nv_pool *pool,
                        const float *x, int rows, float *out, nv_error *err)
{
    int dim = h->dim, width = nv_char_head_width(h);
    if (rows < 1 || (long long)rows * (dim + width) > INT_MAX)
        return nv_fail(err, "char head: cannot run %d rows at once", rows);
    float *normed = malloc(sizeof(float) * (size_t)rows * dim);
    float *probs = malloc(sizeof(float) * (size_t)rows * width);
    if (!normed || !probs) {
        free(normed);
        free(probs);
        return nv_fail(err, "char head: out of memory for %d rows", rows);
    }
    nv_layer_norm_rows_pooled(pool, normed, x, rows, dim,
                              nv_tensor_f32(&h->norm_w),
                              nv_tensor_f32(&h->norm_b), h->eps);
    nv_linear(probs, normed, nv_tensor_f32(&h->proj_w),
              nv_tensor_f32(&h->proj_b), rows, dim, width);
    /* The slots of a row are consecutive runs of `classes` values. */
    nv_softmax_rows(probs, rows * h->slots, h->classes);
    for (int r = 0; r < rows; r++) {
        float *row = out + (size_t)r * (dim + width);
        memcpy(row, x + (size_t)r * dim, sizeof(float) * (size_t)dim);
        memcpy(row + dim, probs + (size_t)r * width,
               sizeof(float) * (size_t)width);
    }
    free(normed);
    free(probs);
    return 0;
}
