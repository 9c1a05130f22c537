/* decoder.h - the Llama / Qwen2 decoder language model.
 *
 * A forward pass takes T new positions (token ids, or embeddings the caller
 * built, e.g. with image features spliced in), starts at the position the
 * KV cache has reached (kv->len), appends their keys and values to the cache
 * and returns logits for all T positions or only the last. Per layer:
 *   x += o_proj(attention(rope(q), rope(k), v))   on rmsnorm(x)
 *   x += down(silu(gate(h)) * up(h))               h = rmsnorm(x)
 * then a final rmsnorm and lm_head (tied to the embeddings or not).
 * Layers the config lists in skip_layers run only the hook (a family's own
 * layer takes their place, e.g. Mllama's cross-attention layers).
 *
 * Memory: all scratch is allocated when the decoder is created, for the
 * chunk length and context given then; a longer chunk or context grows it
 * once. Generating one token allocates nothing.
 *
 * Threads: matrix products go through core/matmul.h (each on the pool);
 * attention (text/causal_attn.h) runs over (head, block of queries) tasks
 * on the pool, in bf16 for prefill chunks where the linear maps round
 * their activations to bf16 too.
 *
 * Ownership: nv_decoder_load copies the weights it needs out of the
 * safetensors handle (which may be closed afterwards) and borrows the pool,
 * which must outlive the decoder. Fields are read-only outside decoder.c.
 */
#ifndef NV_DECODER_H
#define NV_DECODER_H

#include <stdint.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "text/causal_attn.h"
#include "text/kv_cache.h"
#include "text/llm_config.h"

/* Called before decoder layer `layer` (0 .. n_layers-1) and once more with
 * layer == n_layers before the final norm, with the residual stream
 * hidden[T][hidden_size] of positions pos0 .. pos0+T-1, which it may change
 * in place (this is where cross-attention layers run). Returns 0, or -1 with
 * err set to stop the pass. */
typedef int (*nv_layer_hook)(void *ctx, int layer, float *hidden, int T,
                             int pos0, nv_error *err);

typedef struct nv_decoder_layer {
    nv_tensor attn_norm;          /* [H] */
    nv_tensor wq, wk, wv, wo;     /* [nh*hd, H], [nkv*hd, H] x2, [H, nh*hd] */
    nv_tensor bq, bk, bv, bo;     /* biases; data NULL when absent */
    nv_tensor mlp_norm;           /* [H] */
    nv_tensor w_gate, w_up, w_down; /* [I, H], [I, H], [H, I] */
    nv_tensor b_gate, b_up, b_down; /* data NULL when absent */
} nv_decoder_layer;

/* Scratch for one forward chunk; sized by nv_decoder_reserve. */
typedef struct nv_decoder_scratch {
    int max_T;      /* chunk length the buffers hold */
    float *x;       /* [T][H] residual stream */
    float *h;       /* [T][H] normed input of a block */
    float *q;       /* [T][nh*hd] */
    float *k;       /* [T][nkv*hd] */
    float *v;       /* [T][nkv*hd] */
    float *attn;    /* [T][nh*hd] */
    float *gate;    /* [T][I] */
    float *up;      /* [T][I] */
    float *rope_cos; /* [T][hd/2] */
    float *rope_sin; /* [T][hd/2] */
    float *inv_freq; /* [hd/2] */
    /* Only with attn_bf16: h and gate rounded to bf16 for oneDNN. */
    uint16_t *h_bf16;    /* [T][H] */
    uint16_t *gate_bf16; /* [T][I] */
    nv_causal_attn_scratch attention;
} nv_decoder_scratch;

typedef struct nv_decoder {
    nv_llm_config cfg;
    nv_tensor embed;              /* [V, H] */
    nv_tensor lm_head;            /* [V, H]; data NULL when tied */
    nv_tensor final_norm;         /* [H] */
    nv_decoder_layer *layers;     /* [n_layers] */
    nv_pool *pool;                /* borrowed; NULL = run on the caller */
    int n_workers;
    int attn_bf16;                /* prefill attention in bf16 (causal_attn.h) */
    nv_decoder_scratch scratch;
} nv_decoder;

/* One forward pass. Exactly one of ids / embeds is set. */
typedef struct nv_decoder_run {
    const int32_t *ids;       /* [T] token ids */
    const float *embeds;      /* [T][hidden_size] input embeddings */
    int T;
    float *logits;            /* out: [T][V], or [1][V] with last_only;
                                 NULL = no logits */
    int last_only;
    float *hidden_states;     /* out, optional: [n_layers+1][T][H]; index l
                                 is the input of layer l (0 = embeddings,
                                 before the hook), n_layers = after the
                                 final norm, as Hugging Face reports them */
    nv_layer_hook hook;       /* optional */
    void *hook_ctx;
} nv_decoder_run;

/* Loads the decoder weights named cfg->weight_prefix + "model.layers.N..."
 * etc., checking every shape. Scratch is reserved for chunks of max_T
 * positions and a context of max_ctx. */
nv_decoder *nv_decoder_load(const nv_safetensors *st,
                            const nv_llm_config *cfg, nv_pool *pool,
                            int max_T, int max_ctx, nv_error *err);
void nv_decoder_free(nv_decoder *dec);

/* Grows the scratch to hold a chunk of T positions over a context of
 * max_ctx (never shrinks). */
int nv_decoder_reserve(nv_decoder *dec, int T, int max_ctx, nv_error *err);

/* A KV cache shaped for this decoder. */
int nv_decoder_kv_init(const nv_decoder *dec, nv_kv_cache *kv, int max_ctx,
                       nv_error *err);

/* Writes the embeddings of ids[0..T) into out[T][H], so that a caller can
 * overwrite rows (image features) before a forward pass on embeddings.
 * Fails on an id outside the vocabulary. */
int nv_decoder_embed(const nv_decoder *dec, const int32_t *ids, int T,
                     float *out, nv_error *err);

/* Runs T positions starting at kv->len and advances kv->len by T. Fails,
 * leaving the cache unchanged, when the cache cannot hold them. */
int nv_decoder_forward(nv_decoder *dec, nv_kv_cache *kv,
                       const nv_decoder_run *run, nv_error *err);

/* Bytes of f32 weights the decoder holds. */
size_t nv_decoder_weight_bytes(const nv_decoder *dec);

#endif
