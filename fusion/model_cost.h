/* model_cost.h - what one image costs each fusion, computed from a loaded
 * model's dimensions and a tile count, without running anything: token
 * counts, sequence length, floating-point operations and KV-cache bytes.
 *
 * FLOPs are 2 x multiply-adds of the matrix products and attention dot
 * products the runtime performs; norms, softmax, RoPE, GELU/SiLU and the
 * pixel shuffle are left out (they are O(tokens x width), a fraction of a
 * percent at real sizes). The counts follow what the code does, not an
 * idealised model:
 *   - ViT: patch embedding, then only the layers needed for select_layer,
 *     over g*g+1 tokens per tile, attention across all h+dummy heads;
 *   - projector: LN -> Linear(4C -> M) -> Linear(M -> H) per image token;
 *   - decoder prefill: every layer over the N prompt tokens, causal
 *     attention (token t scores t+1 keys), logits of the last token only;
 *   - cross-attention (X, H): per block, keys and values of the M memory
 *     rows (once per image, counted in the prefill), queries, output
 *     projection and MLP for every prompt row (the runtime computes them for
 *     masked rows too and then drops them), attention only over the keys
 *     each row may see; a block with no memory (H with one tile) is skipped;
 *   - one decoded token: the step right after the prompt (position N,
 *     attending N+1 self keys and all M cross keys), with its logits.
 * KV bytes are f32 keys + values: self-attention for the N prompt
 * positions (2 L Nkv d N 4), cross-attention for every block's memory
 * (2 blocks Nkv d M 4).
 *
 * Only nvlm's native layout with the chatml template is covered (the
 * prompt layout of docs/model-format.md 8.2 and 8.4); other models fail
 * with a message.
 */
#ifndef NV_FUSION_MODEL_COST_H
#define NV_FUSION_MODEL_COST_H

#include <stdint.h>

#include "core/error.h"
#include "fusion/model.h"

typedef struct nv_model_cost {
    int tiles;                  /* n, thumbnail included */
    int tokens_per_tile;        /* T */
    int image_tokens_in_stream; /* D: n T; H: T; X: 0 */
    int xattn_tokens;           /* M cross-attention keys per block */
    int xattn_blocks;           /* blocks that run (0 when M = 0) */
    int prompt_tokens;          /* N: decoder prompt length */
    int64_t xattn_row_keys;     /* sum over prompt rows of keys each sees */
    double flops_vit;           /* all tiles */
    double flops_projector;     /* all tiles */
    double flops_prefill;       /* decoder + cross-attention over N rows */
    double flops_decode_token;  /* one token at position N */
    int64_t kv_self_bytes;      /* the prompt's self-attention K and V */
    int64_t kv_cross_bytes;     /* every block's cross-attention K and V */
} nv_model_cost;

/* Fills *out for an image of n_tiles tiles (0: no image) and the user's
 * question, for the head m was loaded with. */
int nv_model_cost_compute(const nvlm_model *m, int n_tiles,
                          const char *question, nv_model_cost *out,
                          nv_error *err);

/* The sequence part of the above (tiles, tokens_per_tile,
 * image_tokens_in_stream, xattn_tokens, prompt_tokens, xattn_row_keys; the
 * rest 0) for nvlm's native layout under any `fusion`, as the session
 * would build it. */
int nv_cost_sequence(const nvlm_model *m, nv_fusion fusion, int n_tiles,
                     const char *question, nv_model_cost *out, nv_error *err);

/* The pieces, exposed so tests can check each against an independent
 * count. FLOPs of the ViT for one tile, of the projector for one tile, of
 * the decoder layers (no cross-attention, no logits) over n_tokens prompt
 * tokens starting at position 0, and of one cross-attention block over
 * `rows` query rows that together score `row_keys` keys against n_keys
 * memory rows (key/value projections included when with_kv). */
double nv_cost_vit_tile(const nvlm_model *m);
double nv_cost_projector_tile(const nvlm_model *m);
double nv_cost_decoder_layers(const nvlm_model *m, int64_t n_tokens,
                              int64_t pos0);
double nv_cost_xattn_block(const nvlm_model *m, int j, int64_t rows,
                           int64_t row_keys, int n_keys, int with_kv);

#endif
