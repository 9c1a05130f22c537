/* vit.c - loads InternViT weights and checks them against the config; see
 * vit.h. The forward pass is in vit_forward.c. */
#include "vision/vit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vit_weights.h"

#define PREFIX "vision_model."

/* Loads PREFIX + name with the given shape. */
static int get(const nv_safetensors *st, const char *name, int ndim,
               const int64_t *shape, nv_tensor *out, nv_error *err)
{
    char full[256];
    snprintf(full, sizeof full, PREFIX "%s", name);
    return nv_st_get_f32(st, full, ndim, shape, out, err);
}

static int get1(const nv_safetensors *st, const char *name, int64_t len,
                nv_tensor *out, nv_error *err)
{
    return get(st, name, 1, &len, out, err);
}

/* The one inconsistency worth its own message: the config and the qkv
 * weight disagree on whether this is NVLM-D's encoder with dummy heads. */
static int check_qkv_shape(const nv_safetensors *st, const nv_vit_config *c,
                           int layer, const char *file, nv_error *err)
{
    char name[128];
    snprintf(name, sizeof name, PREFIX "encoder.layers.%d.attn.qkv.weight",
             layer);
    const nv_st_entry *e = nv_st_find(st, name);
    if (!e) {
        /* Let the reader word the error: it knows the file's path. */
        nv_tensor none = {0};
        return nv_st_get_f32(st, name, -1, NULL, &none, err);
    }
    int64_t plain = 3 * (int64_t)c->hidden;
    int64_t dummy = 3 * (int64_t)(c->heads + NV_VIT_NVLM_DUMMY_HEADS) *
                    c->head_dim;
    int64_t want = 3 * (int64_t)nv_vit_config_attn_width(c);
    int64_t cols = e->ndim == 2 ? nv_st_model_dim(st, e, 1) : -1;
    if (e->ndim == 2 && e->shape[0] == want && cols == c->hidden)
        return 0;
    if (e->ndim == 2 && cols == c->hidden &&
        (e->shape[0] == plain || e->shape[0] == dummy))
        return nv_fail(err,
                       "%s: '%s' has %lld rows, the %s layout; %s says %s "
                       "(architectures %s NVLM_D_Model)",
                       e->file, name, (long long)e->shape[0],
                       e->shape[0] == dummy ? "NVLM-D dummy-head"
                                            : "plain InternViT",
                       file,
                       c->nvlm ? "NVLM-D (7 dummy heads)" : "plain InternViT",
                       c->nvlm ? "holds" : "lacks");
    return nv_fail(err, "%s: '%s' has shape [%lld, %lld], expected [%lld, %d]",
                   e->file, name, (long long)e->shape[0], (long long)cols,
                   (long long)want, c->hidden);
}

/* Tensors of layer `index`: PREFIX "encoder.layers.<index>." + suffix. */
static int lget1(const nv_safetensors *st, int index, const char *suffix,
                 int64_t len, nv_tensor *out, nv_error *err)
{
    char name[160];
    snprintf(name, sizeof name, "encoder.layers.%d.%s", index, suffix);
    return get1(st, name, len, out, err);
}

/* A layer's matrix, in its stored precision (core/lowp.h). */
static int lget2(const nv_safetensors *st, int index, const char *suffix,
                 int64_t rows, int64_t cols, nv_tensor *out, nv_error *err)
{
    char name[160];
    snprintf(name, sizeof name, PREFIX "encoder.layers.%d.%s", index,
             suffix);
    const int64_t shape[2] = {rows, cols};
    return nv_st_get_weight(st, name, 2, shape, out, err);
}

static int load_layer(const nv_safetensors *st, const nv_vit_config *c,
                      int i, const char *file, nv_vit_layer *L,
                      nv_error *err)
{
    const int64_t C = c->hidden, I = c->intermediate;
    const int64_t W = nv_vit_config_attn_width(c);
    if (check_qkv_shape(st, c, i, file, err) < 0)
        return -1;
    if (lget1(st, i, "norm1.weight", C, &L->norm1_w, err) < 0 ||
        lget1(st, i, "norm2.weight", C, &L->norm2_w, err) < 0 ||
        lget2(st, i, "attn.qkv.weight", 3 * W, C, &L->qkv_w, err) < 0 ||
        lget2(st, i, "attn.proj.weight", C, W, &L->proj_w, err) < 0 ||
        lget1(st, i, "attn.proj.bias", C, &L->proj_b, err) < 0 ||
        lget1(st, i, "ls1", C, &L->ls1, err) < 0 ||
        lget1(st, i, "ls2", C, &L->ls2, err) < 0 ||
        lget2(st, i, "mlp.fc1.weight", I, C, &L->fc1_w, err) < 0 ||
        lget1(st, i, "mlp.fc1.bias", I, &L->fc1_b, err) < 0 ||
        lget2(st, i, "mlp.fc2.weight", C, I, &L->fc2_w, err) < 0 ||
        lget1(st, i, "mlp.fc2.bias", C, &L->fc2_b, err) < 0)
        return -1;
    if (c->norm == NV_VIT_LAYER_NORM &&
        (lget1(st, i, "norm1.bias", C, &L->norm1_b, err) < 0 ||
         lget1(st, i, "norm2.bias", C, &L->norm2_b, err) < 0))
        return -1;
    /* NVLM-D checkpoints may carry a qkv bias; upstream never adds it. */
    if (c->qkv_bias &&
        lget1(st, i, "attn.qkv.bias", 3 * W, &L->qkv_b, err) < 0)
        return -1;
    if (c->qk_norm &&
        (lget1(st, i, "attn.q_norm.weight", W, &L->q_norm_w, err) < 0 ||
         lget1(st, i, "attn.k_norm.weight", W, &L->k_norm_w, err) < 0))
        return -1;
    return 0;
}

static int load_embeddings(const nv_safetensors *st, const nv_vit_config *c,
                           nv_vit *vit, nv_error *err)
{
    const int64_t C = c->hidden, P = c->patch;
    const int64_t seq = 1 + (int64_t)c->grid * c->grid;
    const int64_t patch_shape[4] = {C, 3, P, P};
    const int64_t cls_shape[3] = {1, 1, C};
    const int64_t pos_shape[3] = {1, seq, C};
    const nv_st_entry *pos = nv_st_find(st, PREFIX "embeddings.position_"
                                            "embedding");
    /* Upstream NVLM-D never interpolates the position embedding; refuse a
     * tile size it was not trained for instead of guessing. */
    if (pos && pos->ndim == 3 && pos->shape[1] != seq)
        return nv_fail(err,
                       "%s: '%s' has %lld positions but %dx%d tiles of "
                       "patch %d need %lld (interpolation is not supported)",
                       pos->file, pos->name, (long long)pos->shape[1], c->image_size,
                       c->image_size, c->patch, (long long)seq);
    if (get(st, "embeddings.patch_embedding.weight", 4, patch_shape,
            &vit->patch_w, err) < 0 ||
        get1(st, "embeddings.patch_embedding.bias", C, &vit->patch_b, err) <
            0 ||
        get(st, "embeddings.class_embedding", 3, cls_shape, &vit->cls, err) <
            0 ||
        get(st, "embeddings.position_embedding", 3, pos_shape, &vit->pos,
            err) < 0)
        return -1;
    return 0;
}

int nv_vit_load(const nv_safetensors *st, const cJSON *config,
                const char *file, nv_vit **out, nv_error *err)
{
    *out = NULL;
    nv_vit *vit = calloc(1, sizeof *vit);
    if (!vit)
        return nv_fail(err, "vit: out of memory");
    if (nv_vit_config_parse(config, file, &vit->cfg, err) < 0) {
        free(vit);
        return -1;
    }
    vit->layers = calloc((size_t)vit->cfg.layers, sizeof *vit->layers);
    if (!vit->layers) {
        free(vit);
        return nv_fail(err, "vit: out of memory");
    }
    if (load_embeddings(st, &vit->cfg, vit, err) < 0)
        goto fail;
    for (int i = 0; i < vit->cfg.layers; i++)
        if (load_layer(st, &vit->cfg, i, file, &vit->layers[i], err) < 0)
            goto fail;
    if (nv_char_head_load(st, config, file, vit->cfg.hidden, &vit->chars,
                          err) < 0)
        goto fail;
    *out = vit;
    return 0;
fail:
    nv_vit_free(vit);
    return -1;
}

static void free_layer(nv_vit_layer *L)
{
    nv_tensor *all[] = {&L->norm1_w, &L->norm1_b, &L->qkv_w,    &L->qkv_b,
                        &L->q_norm_w, &L->k_norm_w, &L->proj_w, &L->proj_b,
                        &L->ls1,      &L->ls2,      &L->norm2_w, &L->norm2_b,
                        &L->fc1_w,    &L->fc1_b,    &L->fc2_w,  &L->fc2_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
}

void nv_vit_free(nv_vit *vit)
{
    if (!vit)
        return;
    if (vit->layers)
        for (int i = 0; i < vit->cfg.layers; i++)
            free_layer(&vit->layers[i]);
    free(vit->layers);
    nv_tensor_free(&vit->patch_w);
    nv_tensor_free(&vit->patch_b);
    nv_tensor_free(&vit->cls);
    nv_tensor_free(&vit->pos);
    nv_char_head_free(vit->chars);
    free(vit);
}

const nv_vit_config *nv_vit_config_of(const nv_vit *vit)
{
    return &vit->cfg;
}

int nv_vit_seq_len(const nv_vit *vit)
{
    return 1 + vit->cfg.grid * vit->cfg.grid;
}

int nv_vit_out_tokens(const nv_vit *vit)
{
    return nv_vit_config_tokens(&vit->cfg);
}

int nv_vit_char_width(const nv_vit *vit)
{
    return nv_char_head_width(vit->chars);
}

int nv_vit_out_dim(const nv_vit *vit)
{
    return vit->cfg.shuffle * vit->cfg.shuffle *
           (vit->cfg.hidden + nv_char_head_width(vit->chars));
}
