/* vit_config.h - the InternViT settings nvlm needs, read from an
 * InternVL / NVLM-D config.json.
 *
 * The encoder's own settings live in the `vision_config` object; the choice
 * of layer, the pixel-shuffle ratio and version and the forced image size
 * live at the top level. The NVLM-D variant (architectures contains
 * "NVLM_D_Model") is NVIDIA's patched InternViT: 7 dummy attention heads,
 * RMSNorm for norm1/norm2 whatever norm_type says, and a qkv bias that is
 * never applied. Its flag is taken from the config here and checked against
 * the qkv weight shape when the weights are loaded (vit.c).
 */
#ifndef NV_VIT_CONFIG_H
#define NV_VIT_CONFIG_H

#include <cjson/cJSON.h>

#include "core/error.h"

/* Dummy heads NVIDIA appended to NVLM-D's InternViT (hard-coded upstream). */
#define NV_VIT_NVLM_DUMMY_HEADS 7

typedef enum nv_vit_norm {
    NV_VIT_LAYER_NORM, /* LayerNorm with weight and bias */
    NV_VIT_RMS_NORM,   /* RMSNorm with weight only */
} nv_vit_norm;

typedef struct nv_vit_config {
    int hidden;       /* C: width of the residual stream */
    int heads;        /* h: real attention heads */
    int dummy_heads;  /* extra heads of the NVLM-D variant, else 0 */
    int head_dim;     /* d = C / h */
    int intermediate; /* MLP width */
    int layers;       /* encoder layers in the checkpoint */
    int patch;        /* P: patch side in pixels */
    int image_size;   /* S: tile side in pixels (force_image_size wins) */
    int grid;         /* g = S / P patches per side */
    nv_vit_norm norm; /* norm1 / norm2 kind */
    float norm_eps;   /* layer_norm_eps: norm1, norm2, q/k norms */
    int qkv_bias;     /* 1 when the qkv bias is applied */
    int qk_norm;      /* 1 when q and k are RMS-normalised */
    int nvlm;         /* 1 for the NVLM-D variant */
    int select_layer; /* as written in config.json */
    int run_layers;   /* layers run to reach select_layer (0..layers) */
    int shuffle;      /* r = 1 / downsample_ratio (2 for 0.5) */
    int ps_version;   /* pixel shuffle version: 1 or 2 */
} nv_vit_config;

/* Reads the config (the whole config.json tree). `file` names it in errors,
 * which name the missing or bad key. */
int nv_vit_config_parse(const cJSON *config, const char *file,
                        nv_vit_config *out, nv_error *err);

/* Width of one attention projection: (h + dummy) * d. */
int nv_vit_config_attn_width(const nv_vit_config *cfg);

/* Tokens per tile after the pixel shuffle: (g / r)^2. */
int nv_vit_config_tokens(const nv_vit_config *cfg);

#endif
