/* clip_vit.h - the CLIP / SigLIP vision transformer of the hub families
 * (LLaVA 1.5 with a CLIP or SigLIP tower, Idefics3 / SmolVLM's SigLIP).
 *
 * One implementation serves the three Hugging Face classes, whose encoders
 * are the same pre-norm transformer:
 *   x = patch_conv(pixels) (+ CLS first for CLIP) + position embedding
 *   x = pre_layrnorm(x)                             CLIP only
 *   per layer: x += out_proj(attention(layer_norm1(x)))
 *              x += fc2(act(fc1(layer_norm2(x))))
 *   post_layernorm(x)                               when asked for
 * act is quick_gelu (CLIP), gelu_pytorch_tanh (SigLIP, Idefics3) or exact
 * gelu. `hidden_states[k]` of Hugging Face is the stream after k layers
 * (k = 0: the embeddings, after pre_layrnorm for CLIP).
 *
 * Ownership: nv_clip_vit_load copies the weights it needs (layers
 * 0 .. n_layers-1 only, so an unused last layer costs no memory);
 * nv_clip_vit_free releases them. The pool is borrowed per call.
 */
#ifndef NV_VISION_CLIP_VIT_H
#define NV_VISION_CLIP_VIT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"

typedef enum nv_act {
    NV_ACT_QUICK_GELU, /* x * sigmoid(1.702 x) */
    NV_ACT_GELU_TANH,  /* gelu_pytorch_tanh */
    NV_ACT_GELU_ERF,   /* exact gelu */
} nv_act;

/* Parses a Hugging Face activation name ("quick_gelu", "gelu",
 * "gelu_pytorch_tanh", "gelu_new"); -1 when unknown. */
int nv_act_parse(const char *name, nv_act *out);

/* x = act(x) over count values, spread over the pool (NULL: caller). */
void nv_act_apply(nv_pool *pool, nv_act act, float *x, size_t count);

typedef struct nv_clip_vit_config {
    int hidden, intermediate, layers, heads, head_dim;
    int patch, image_size, grid; /* grid = image_size / patch */
    double norm_eps;
    nv_act act;
    int cls;      /* CLIP: a class token before the patch tokens */
    int pre_norm; /* CLIP: pre_layrnorm on the embeddings */
} nv_clip_vit_config;

/* Reads a `vision_config` object (`where` names it in messages). Its
 * model_type picks the class and so the defaults of absent keys, as the
 * Hugging Face config classes do: "clip_vision_model", "siglip_vision_model"
 * or "idefics3_vision". */
int nv_clip_vit_config_parse(const cJSON *obj, const char *file,
                             const char *where, nv_clip_vit_config *cfg,
                             nv_error *err);

/* Tokens per image: grid^2, plus one for the CLS token. */
int nv_clip_vit_tokens(const nv_clip_vit_config *cfg);

typedef struct nv_clip_vit nv_clip_vit;

/* Loads the tower under `prefix` ("vision_tower.vision_model.",
 * "model.vision_model."): embeddings, layers 0 .. n_layers-1 (n_layers in
 * 0 .. cfg->layers) and post_layernorm when post_norm is set. */
int nv_clip_vit_load(const nv_safetensors *st, const char *prefix,
                     const nv_clip_vit_config *cfg, int n_layers,
                     int post_norm, nv_clip_vit **out, nv_error *err);
void nv_clip_vit_free(nv_clip_vit *vit);
const nv_clip_vit_config *nv_clip_vit_config_of(const nv_clip_vit *vit);

/* Called with the stream after k layers (k = 0: embeddings), x [n, T, C]. */
typedef void (*nv_clip_capture_fn)(void *ctx, int k, const float *x, int n,
                                   int T, int C);

/* pixels [n, 3, S, S] -> out [n, T, C]: the stream after every loaded layer,
 * then post_layernorm if it was loaded. capture may be NULL. */
int nv_clip_vit_forward(const nv_clip_vit *vit, nv_pool *pool,
                        const float *pixels, int n,
                        nv_clip_capture_fn capture, void *capture_ctx,
                        float *out, nv_error *err);

#endif
