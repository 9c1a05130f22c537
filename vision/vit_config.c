/* vit_config.c - reads InternViT settings from config.json; see vit_config.h.
 *
 * Optional keys take the defaults of the upstream configuration classes
 * (InternVisionConfig, InternVLChatConfig) so a config that omits them means
 * what it means upstream. */
#include "vision/vit_config.h"

#include <math.h>
#include <string.h>

#include "core/json.h"

/* Upper bounds that keep every size product far from int overflow while
 * leaving room for any real ViT (InternViT-6B: C 3200, 45 layers, 448 px). */
enum { MAX_WIDTH = 1 << 16, MAX_LAYERS = 1024, MAX_IMAGE = 1 << 13 };

static int get_int_in(const cJSON *obj, const char *key, const char *file,
                      const int64_t *def, int64_t lo, int64_t hi, int *out,
                      nv_error *err)
{
    int64_t v;
    int rc = def ? nv_json_int_opt(obj, key, file, *def, &v, err)
                 : nv_json_int_req(obj, key, file, &v, err);
    if (rc < 0)
        return -1;
    if (v < lo || v > hi)
        return nv_fail(err, "%s: '%s' = %lld is outside [%lld, %lld]", file,
                       key, (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

static int is_nvlm(const cJSON *config)
{
    const cJSON *archs = nv_json_get(config, "architectures");
    const cJSON *it;
    cJSON_ArrayForEach(it, archs)
    {
        if (cJSON_IsString(it) && it->valuestring &&
            !strcmp(it->valuestring, "NVLM_D_Model"))
            return 1;
    }
    return 0;
}

static int parse_vision(const cJSON *vc, const char *file, nv_vit_config *c,
                        nv_error *err)
{
    int channels;
    const int64_t three = 3;
    if (get_int_in(vc, "hidden_size", file, NULL, 1, MAX_WIDTH, &c->hidden,
                   err) < 0 ||
        get_int_in(vc, "num_attention_heads", file, NULL, 1, 4096, &c->heads,
                   err) < 0 ||
        get_int_in(vc, "intermediate_size", file, NULL, 1, MAX_WIDTH,
                   &c->intermediate, err) < 0 ||
        get_int_in(vc, "num_hidden_layers", file, NULL, 1, MAX_LAYERS,
                   &c->layers, err) < 0 ||
        get_int_in(vc, "patch_size", file, NULL, 1, 1024, &c->patch, err) < 0 ||
        get_int_in(vc, "image_size", file, NULL, 1, MAX_IMAGE,
                   &c->image_size, err) < 0 ||
        get_int_in(vc, "num_channels", file, &three, 3, 3, &channels, err) < 0)
        return -1;
    if (c->hidden % c->heads)
        return nv_fail(err,
                       "%s: vision_config hidden_size %d is not a multiple of "
                       "num_attention_heads %d",
                       file, c->hidden, c->heads);
    c->head_dim = c->hidden / c->heads;

    const char *norm_type, *act;
    double eps;
    if (nv_json_str_opt(vc, "norm_type", file, "rms_norm", &norm_type, err) <
            0 ||
        nv_json_num_opt(vc, "layer_norm_eps", file, 1e-6, &eps, err) < 0 ||
        nv_json_bool_opt(vc, "qkv_bias", file, 0, &c->qkv_bias, err) < 0 ||
        nv_json_bool_opt(vc, "qk_normalization", file, 0, &c->qk_norm, err) <
            0 ||
        nv_json_str_opt(vc, "hidden_act", file, "gelu", &act, err) < 0)
        return -1;
    if (!strcmp(norm_type, "layer_norm"))
        c->norm = NV_VIT_LAYER_NORM;
    else if (!strcmp(norm_type, "rms_norm"))
        c->norm = NV_VIT_RMS_NORM;
    else
        return nv_fail(err,
                       "%s: vision_config norm_type '%s' is neither "
                       "'layer_norm' nor 'rms_norm'",
                       file, norm_type);
    if (!(eps > 0 && eps < 1))
        return nv_fail(err, "%s: vision_config layer_norm_eps %g is not in "
                       "(0, 1)", file, eps);
    c->norm_eps = (float)eps;
    /* InternViT's ACT2FN["gelu"] is the exact erf GELU; nothing else is
     * implemented, so refuse rather than compute something different. */
    if (strcmp(act, "gelu"))
        return nv_fail(err, "%s: vision_config hidden_act '%s' is not "
                       "supported (only 'gelu')", file, act);
    return 0;
}

static int parse_top(const cJSON *config, const char *file, nv_vit_config *c,
                     nv_error *err)
{
    const int64_t last = -1, unset = 0;
    int forced = 0;
    if (get_int_in(config, "select_layer", file, &last, -(c->layers + 1),
                   c->layers, &c->select_layer, err) < 0 ||
        get_int_in(config, "force_image_size", file, &unset, 0, MAX_IMAGE,
                   &forced, err) < 0)
        return -1;
    if (forced > 0)
        c->image_size = forced;
    /* hidden_states[k] is the output after k layers (0 = embeddings), and a
     * negative index counts from the end of the layers + 1 entries. */
    c->run_layers = c->select_layer >= 0 ? c->select_layer
                                         : c->layers + 1 + c->select_layer;

    double ratio;
    const char *ps;
    if (nv_json_num_opt(config, "downsample_ratio", file, 0.5, &ratio, err) <
            0 ||
        nv_json_str_opt(config, "ps_version", file, "v1", &ps, err) < 0)
        return -1;
    double inv = ratio > 0 ? 1.0 / ratio : 0;
    c->shuffle = (int)lround(inv);
    if (!(ratio > 0 && ratio <= 1) || fabs(inv - c->shuffle) > 1e-6)
        return nv_fail(err,
                       "%s: downsample_ratio %g is not 1/r for a whole r",
                       file, ratio);
    if (!strcmp(ps, "v1"))
        c->ps_version = 1;
    else if (!strcmp(ps, "v2"))
        c->ps_version = 2;
    else
        return nv_fail(err, "%s: ps_version '%s' is neither 'v1' nor 'v2'",
                       file, ps);

    if (c->image_size % c->patch)
        return nv_fail(err,
                       "%s: image size %d is not a multiple of patch_size %d",
                       file, c->image_size, c->patch);
    c->grid = c->image_size / c->patch;
    if (c->grid % c->shuffle)
        return nv_fail(err,
                       "%s: the %dx%d patch grid does not divide by the "
                       "pixel-shuffle factor %d",
                       file, c->grid, c->grid, c->shuffle);
    return 0;
}

int nv_vit_config_parse(const cJSON *config, const char *file,
                        nv_vit_config *out, nv_error *err)
{
    nv_vit_config c;
    memset(&c, 0, sizeof c);
    const cJSON *vc;
    if (nv_json_obj_req(config, "vision_config", file, &vc, err) < 0)
        return -1;
    if (parse_vision(vc, file, &c, err) < 0 ||
        parse_top(config, file, &c, err) < 0)
        return -1;
    c.nvlm = is_nvlm(config);
    if (c.nvlm) {
        /* NVIDIA's modeling_intern_vit.py ignores norm_type and never adds
         * the qkv bias (its naive attention multiplies by the weight only). */
        c.dummy_heads = NV_VIT_NVLM_DUMMY_HEADS;
        c.norm = NV_VIT_RMS_NORM;
        c.qkv_bias = 0;
    }
    *out = c;
    return 0;
}

int nv_vit_config_attn_width(const nv_vit_config *cfg)
{
    return (cfg->heads + cfg->dummy_heads) * cfg->head_dim;
}

int nv_vit_config_tokens(const nv_vit_config *cfg)
{
    int side = cfg->grid / cfg->shuffle;
    return side * side;
}
