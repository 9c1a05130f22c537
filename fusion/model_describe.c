/* model_describe.c - nvlm_describe_json: what a model is made of, and what
 * an image costs under each of its fusion heads (for `nvlm info -m`). The
 * counts come from the same prompt layout and tokenizer the session uses,
 * so they are what a run would see, without running the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/matmul.h"
#include "core/safetensors.h"
#include "fusion/family_hub.h"
#include "fusion/model.h"
#include "fusion/model_cost.h"

/* Parameters per part, grouped by the first component of the tensor name;
 * per-head LM overrides (x_language_model.*) are counted apart. */
static cJSON *parameter_counts(const nvlm_model *m)
{
    cJSON *o = cJSON_CreateObject();
    double total = 0;
    for (size_t i = 0; o && i < nv_st_count(m->st); i++) {
        const nv_st_entry *e = nv_st_at(m->st, i);
        double n = 1;
        for (int d = 0; d < e->ndim; d++)
            n *= (double)e->shape[d];
        char part[64];
        size_t len = strcspn(e->name, ".");
        if (len >= sizeof part)
            len = sizeof part - 1;
        memcpy(part, e->name, len);
        part[len] = '\0';
        cJSON *have = cJSON_GetObjectItemCaseSensitive(o, part);
        if (have)
            cJSON_SetNumberValue(have, have->valuedouble + n);
        else
            cJSON_AddNumberToObject(o, part, n);
        total += n;
    }
    if (o)
        cJSON_AddNumberToObject(o, "total", total);
    return o;
}

/* Prompt length, stream image tokens and cross-attention tokens of the
 * native layout under `fusion` for an image of n_tiles tiles. */
static int plan_native(const nvlm_model *m, nv_fusion fusion, int n_tiles,
                       const char *question, cJSON *out, nv_error *err)
{
    nv_model_cost c;
    if (nv_cost_sequence(m, fusion, n_tiles, question, &c, err))
        return -1;
    cJSON_AddNumberToObject(out, "image_tokens_in_stream",
                            c.image_tokens_in_stream);
    cJSON_AddNumberToObject(out, "xattn_tokens", c.xattn_tokens);
    cJSON_AddNumberToObject(out, "prompt_tokens", c.prompt_tokens);
    return 0;
}

/* A hub family: what its own session builds for the image (decoded once,
 * by describe_image). */
static int plan_family(nvlm_model *m, const char *path, const nv_image *img,
                       const char *question, cJSON *out, nv_error *err)
{
    char buf[1024];
    nvlm_session *s = nvlm_session_new(m, buf, sizeof buf);
    if (!s)
        return nv_fail(err, "%s", buf);
    int rc = nv_session_set_image(s, img, err);
    if (rc)
        nv_fail_prefix(err, "%s: ", path);
    if (!rc && question && nvlm_add_text(s, question, buf, sizeof buf))
        rc = nv_fail(err, "%s", buf);
    if (!rc)
        rc = nv_session_build_prompt(s, 0, err);
    if (!rc) {
        int xattn = m->fusion == NV_FUSION_X;
        cJSON_AddNumberToObject(out, "image_tokens_in_stream",
                                xattn ? 0 : s->n_image_rows);
        cJSON_AddNumberToObject(out, "xattn_tokens",
                                xattn ? s->n_image_rows : 0);
        cJSON_AddNumberToObject(out, "prompt_tokens", s->n_prompt);
    }
    nvlm_session_free(s);
    return rc;
}

static int describe_image(nvlm_model *m, const char *path,
                          const char *question, cJSON *root, nv_error *err)
{
    nv_image img = {0};
    if (nv_image_load(path, m->max_pixels, &img, err))
        return -1;
    cJSON *o = cJSON_AddObjectToObject(root, "image");
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "width", img.width);
    cJSON_AddNumberToObject(o, "height", img.height);
    cJSON *per = NULL;
    int rc = 0;
    if (!m->family) {
        nv_tile_grid grid;
        rc = nv_tile_grid_choose(img.width, img.height, &m->prep.tiling,
                                 &grid, err);
        if (!rc) {
            cJSON_AddNumberToObject(o, "cols", grid.cols);
            cJSON_AddNumberToObject(o, "rows", grid.rows);
            cJSON_AddNumberToObject(o, "num_tiles", grid.num_tiles);
            cJSON_AddNumberToObject(o, "tokens_per_tile", m->tokens_per_tile);
            per = cJSON_AddObjectToObject(o, "per_fusion");
        }
        for (int f = 0; !rc && f < 3; f++) {
            if (!m->heads_present[f])
                continue;
            cJSON *h = cJSON_AddObjectToObject(per, nv_fusion_name(f));
            rc = plan_native(m, (nv_fusion)f, grid.num_tiles, question, h,
                             err);
        }
    } else if (m->family->paradigm != NV_PARADIGM_TEXT) {
        per = cJSON_AddObjectToObject(o, "per_fusion");
        cJSON *h = cJSON_AddObjectToObject(per, nv_fusion_name(m->fusion));
        rc = plan_family(m, path, &img, question, h, err);
    }
    nv_image_free(&img);
    return rc;
}

/* What the weights are stored as (MiB per dtype in the file), what the
 * weight matrices were loaded as (--dtype), and which kernels read them. */
static cJSON *weights_info(const nvlm_model *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *file = cJSON_AddObjectToObject(o, "file_mib");
    const nv_dtype types[] = {NV_F32, NV_BF16, NV_F16, NV_F64, NV_I64,
                              NV_I32, NV_I16,  NV_I8,  NV_U8,  NV_BOOL};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t bytes = 0;
        for (size_t i = 0; i < nv_st_count(m->st); i++) {
            const nv_st_entry *e = nv_st_at(m->st, i);
            if (e->dtype == types[t])
                bytes += e->nbytes;
        }
        if (bytes)
            cJSON_AddNumberToObject(file, nv_dtype_name(types[t]),
                                    (double)bytes / (1 << 20));
    }
    cJSON_AddStringToObject(o, "loaded_as",
                            nv_weight_mode_name(nv_st_weight_mode(m->st)));
    cJSON_AddStringToObject(o, "lowp_kernels", nv_linear_kernels());
    cJSON_AddStringToObject(o, "blas_kernels", nvlm_blas_kernels());
    return o;
}

char *nvlm_describe_json(nvlm_model *m, const char *image_path,
                         const char *question, char *errbuf, size_t errlen)
{
    nv_error err = {{0}};
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    const char *arch = nv_hub_architecture(m->config);
    cJSON_AddStringToObject(root, "model", m->dir);
    cJSON_AddStringToObject(root, "architecture", arch ? arch : "?");
    cJSON_AddStringToObject(root, "family",
                            m->family ? m->family->name : "nvlm");
    const char *paradigm =
        !m->family ? "nvlm: fusion heads (D, X, H: those listed) over one ViT and LLM"
        : m->family->paradigm == NV_PARADIGM_TEXT ? "text only"
        : m->family->paradigm == NV_PARADIGM_X
            ? "X: image through cross-attention"
            : "D: image tokens in the decoder stream";
    cJSON_AddStringToObject(root, "paradigm", paradigm);
    if (nvlm_model_warning(m))
        cJSON_AddStringToObject(root, "warning", nvlm_model_warning(m));
    cJSON_AddItemToObject(root, "weights", weights_info(m));
    cJSON *heads = cJSON_AddArrayToObject(root, "fusion_heads");
    for (int f = 0; f < 3; f++)
        if (m->heads_present[f])
            cJSON_AddItemToArray(heads,
                                 cJSON_CreateString(nv_fusion_name(f)));
    int text_only = m->family && m->family->paradigm == NV_PARADIGM_TEXT;
    cJSON_AddStringToObject(root, "loaded_head",
                            text_only ? "none" : nv_fusion_name(m->fusion));
    if (m->vit) {
        const nv_vit_config *vc = nv_vit_config_of(m->vit);
        cJSON *v = cJSON_AddObjectToObject(root, "vision");
        cJSON_AddStringToObject(v, "encoder", vc->nvlm ? "InternViT (NVLM-D)"
                                                       : "InternViT");
        cJSON_AddNumberToObject(v, "layers_run", vc->run_layers);
        cJSON_AddNumberToObject(v, "hidden", vc->hidden);
        cJSON_AddNumberToObject(v, "heads", vc->heads);
        cJSON_AddNumberToObject(v, "patch", vc->patch);
        cJSON_AddNumberToObject(v, "tile_size", vc->image_size);
        cJSON_AddNumberToObject(v, "tokens_per_tile", m->tokens_per_tile);
        if (nv_vit_char_width(m->vit))
            cJSON_AddNumberToObject(v, "char_probs_per_patch",
                                    nv_vit_char_width(m->vit));
        cJSON_AddNumberToObject(v, "max_tiles", m->prep.tiling.max_tiles);
    }
    cJSON *l = cJSON_AddObjectToObject(root, "llm");
    cJSON_AddNumberToObject(l, "layers", m->llm.n_layers);
    cJSON_AddNumberToObject(l, "hidden", m->llm.hidden_size);
    cJSON_AddNumberToObject(l, "heads", m->llm.n_heads);
    cJSON_AddNumberToObject(l, "kv_heads", m->llm.n_kv_heads);
    cJSON_AddNumberToObject(l, "vocab", m->llm.vocab_size);
    if (m->n_xattn) {
        cJSON *x = cJSON_AddArrayToObject(root, "xattn_before_layers");
        for (int j = 0; j < m->n_xattn; j++)
            cJSON_AddItemToArray(x, cJSON_CreateNumber(m->xattn_layer[j]));
    }
    cJSON_AddItemToObject(root, "parameters", parameter_counts(m));
    if (image_path &&
        describe_image(m, image_path, question ? question : "", root, &err)) {
        snprintf(errbuf, errlen, "%s", err.msg);
        cJSON_Delete(root);
        return NULL;
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        snprintf(errbuf, errlen, "out of memory");
    return text;
}
