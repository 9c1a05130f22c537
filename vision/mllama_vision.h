/* mllama_vision.h - the tiled vision encoder of Llama 3.2 Vision
 * (Hugging Face MllamaVisionModel), as the checkpoint stores it under
 * `vision_model.*`.
 *
 * One image is up to max_tiles tiles of S x S pixels (P = patch side,
 * N = (S/P)^2 + 1 tokens per tile, CLS first; D = hidden width). With the
 * image's aspect_ratio_id (which tile grid it was cut into) and the number
 * of real tiles (the rest are padding tiles):
 *   patch conv -> + tanh(g_pre) * pre_tile_embedding[ar][tile]
 *   -> [CLS | patches] -> + (1 - tanh(g)) * pos_embedding
 *                         + tanh(g) * tile_pos_embedding[ar][tile][token]
 *   -> layernorm_pre -> pad every tile to Np = N rounded up to 8 tokens
 *   -> local layers over all tiles' tokens as one sequence, keeping the
 *      inputs of the layers listed in intermediate_layers_indices
 *   -> layernorm_post -> + tanh(g_post) * post_tile_embedding[ar][tile]
 *   -> global layers (attention and MLP branches scaled by tanh of their
 *      gates) -> drop the pad tokens
 *   -> out[tile][token] = [final (D) | intermediates interleaved: channel
 *      c of intermediate k at D + c*K + k].
 * Attention mask (as upstream): a token is "padding" when its tile is a
 * padding tile or it is a pad token; a padding query does not see padding
 * keys, every other pair sees each other.
 *
 * Ownership: the encoder owns its f32 weights; the safetensors handle may
 * be closed after loading. Read-only after loading.
 */
#ifndef NV_VISION_MLLAMA_VISION_H
#define NV_VISION_MLLAMA_VISION_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"

#define NV_MLLAMA_MAX_INTERMEDIATE 32

typedef struct nv_mllama_vision_config {
    int image_size;    /* S */
    int patch_size;    /* P */
    int channels;      /* 3 */
    int hidden;        /* D */
    int heads;
    int intermediate;  /* MLP width */
    int n_layers;      /* local layers */
    int n_global_layers;
    int max_tiles;
    int n_aspect_ratios; /* supported grids; ids 1..n (0 = none) */
    int n_intermediate;
    int intermediate_idx[NV_MLLAMA_MAX_INTERMEDIATE];
    float norm_eps;
} nv_mllama_vision_config;

typedef struct nv_mllama_vision nv_mllama_vision;

/* Reads vision_config (an object of config.json named `file` in errors):
 * required hidden_size, attention_heads, intermediate_size, image_size,
 * num_hidden_layers, num_global_layers, intermediate_layers_indices; the
 * rest take MllamaVisionConfig's defaults. */
int nv_mllama_vision_config_parse(const cJSON *vc, const char *file,
                                  nv_mllama_vision_config *cfg,
                                  nv_error *err);

int nv_mllama_vision_load(const nv_safetensors *st, const cJSON *vc,
                          const char *file, nv_mllama_vision **out,
                          nv_error *err);
void nv_mllama_vision_free(nv_mllama_vision *v);

const nv_mllama_vision_config *
nv_mllama_vision_config_of(const nv_mllama_vision *v);
/* Tokens per tile in the output (CLS included): (S/P)^2 + 1. */
int nv_mllama_vision_tokens(const nv_mllama_vision *v);
/* Width of an output token: hidden * (1 + intermediate layers). */
int nv_mllama_vision_out_dim(const nv_mllama_vision *v);

/* pixels [max_tiles, 3, S, S] (padding tiles included), aspect_ratio_id in
 * 1..n_aspect_ratios, n_real_tiles in 1..max_tiles; writes out
 * [max_tiles, tokens, out_dim]. pool may be NULL. */
int nv_mllama_vision_encode(const nv_mllama_vision *v, nv_pool *pool,
                            const float *pixels, int aspect_ratio_id,
                            int n_real_tiles, float *out, nv_error *err);

#endif
