/* projector.h - InternVL / NVLM-D's `mlp1`: the block that maps
 * pixel-shuffled ViT features (width 4C) into the language model's width.
 *
 *   LayerNorm(4C, eps 1e-5) -> Linear(4C -> I) -> GELU (erf) -> Linear(I -> H)
 *
 * Weights are `<prefix>0.weight|bias` (LayerNorm), `<prefix>1.weight[.bias]`
 * and `<prefix>3.weight[.bias]` (index 2 is the weightless GELU, as in the
 * upstream nn.Sequential). The Linear biases are optional: InternVL has them,
 * NVLM-D does not. The prefix lets the D, X and H heads reuse the block
 * ("mlp1.", "x_mlp1.", "h_mlp1."). The projector owns its f32 weights.
 */
#ifndef NV_PROJECTOR_H
#define NV_PROJECTOR_H

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"

/* nn.LayerNorm's default eps, which the upstream mlp1 keeps. */
#define NV_PROJECTOR_LN_EPS 1e-5f

typedef struct nv_projector nv_projector;

/* Sizes are taken from the weights; in_dim / out_dim, when > 0, must match
 * them: a mismatch names the weights file and `config` (the file that set
 * in_dim / out_dim, e.g. config.json's hidden_size; NULL: "the model"). */
int nv_projector_load(const nv_safetensors *st, const char *prefix,
                      int in_dim, int out_dim, const char *config,
                      nv_projector **out, nv_error *err);
void nv_projector_free(nv_projector *proj);

int nv_projector_in_dim(const nv_projector *proj);
int nv_projector_mid_dim(const nv_projector *proj);
int nv_projector_out_dim(const nv_projector *proj);

/* out[rows, out_dim] = mlp1(in[rows, in_dim]); out must not alias in. The
 * pool (NULL: the calling thread) runs the norm and the GELU. */
int nv_projector_forward(const nv_projector *proj, nv_pool *pool,
                         const float *in, int rows, float *out,
                         nv_error *err);

#endif
