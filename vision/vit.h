/* vit.h - the InternViT image encoder of InternVL and NVLM-D.
 *
 * Data flow for n tiles of S x S pixels (P = patch side, g = S / P,
 * T = 1 + g*g tokens per tile, C = hidden width):
 *   pixels [n,3,S,S] -> patch embedding (im2col + one matrix product for all
 *   tiles) -> [CLS | patches] + position embedding -> [n, T, C]
 *   -> layers (each: x += ls1 * attn(norm1(x)); x += ls2 * mlp(norm2(x)))
 *   -> the state after the layer select_layer names
 *   -> drop CLS, [optional: append per-patch character probabilities, width
 *   K, char_head.h], pixel shuffle -> [n, (g/r)^2, r*r*(C+K)]  (nv_vit_encode)
 * Every layer runs all n*T rows through each linear map as one product;
 * attention runs per (tile, head) on the thread pool. docs/vision-encoder.md
 * has the details of both variants and the cost formulas.
 *
 * Weights are read from `vision_model.*` in a safetensors file and converted
 * to f32; the nv_vit owns them. An encoder is read-only after loading, so
 * one can serve several callers that each bring their own pool.
 */
#ifndef NV_VIT_H
#define NV_VIT_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"
#include "vision/vit_config.h"

typedef struct nv_vit nv_vit;

/* Called by nv_vit_forward with index 0 for the embeddings and k after layer
 * k; states is [n, tokens, dim] and only valid during the call. */
typedef void (*nv_vit_capture_fn)(void *ctx, int index, const float *states,
                                  int n, int tokens, int dim);

/* config: the whole config.json tree (`file` names it in errors). Checks the
 * weights against the config, including the NVLM-D dummy heads against the
 * qkv weight shape. */
int nv_vit_load(const nv_safetensors *st, const cJSON *config,
                const char *file, nv_vit **out, nv_error *err);
void nv_vit_free(nv_vit *vit);

const nv_vit_config *nv_vit_config_of(const nv_vit *vit);
/* Tokens per tile before the shuffle, CLS included: 1 + g*g. */
int nv_vit_seq_len(const nv_vit *vit);
/* Values appended to each patch row by the character head (char_head.h;
 * 0 without one): the shuffle's input is C + this wide. */
int nv_vit_char_width(const nv_vit *vit);
/* Per tile after nv_vit_encode: tokens (g/r)^2 and their width
 * r*r*(C + nv_vit_char_width). */
int nv_vit_out_tokens(const nv_vit *vit);
int nv_vit_out_dim(const nv_vit *vit);

/* Runs the embeddings and the first n_layers layers (n_layers < 0: the
 * layers select_layer needs) on pixels [n,3,S,S] and writes the final state
 * [n, 1+g*g, C] to out. capture may be NULL. pool may be NULL (run on the
 * calling thread). */
int nv_vit_forward(const nv_vit *vit, nv_pool *pool, const float *pixels,
                   int n, int n_layers, nv_vit_capture_fn capture,
                   void *capture_ctx, float *out, nv_error *err);

/* The encoder as InternVL's extract_feature uses it, up to the projector:
 * the select_layer state without CLS, pixel-shuffled into out
 * [n, nv_vit_out_tokens, nv_vit_out_dim]. */
int nv_vit_encode(const nv_vit *vit, nv_pool *pool, const float *pixels,
                  int n, float *out, nv_error *err);

#endif
