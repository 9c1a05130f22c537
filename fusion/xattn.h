/* xattn.h - the gated cross-attention block of the X and H fusions.
 *
 * One block (like Llama 3.2 Vision's cross-attention layer, no RoPE) runs
 * before a decoder layer and updates the hidden states in place:
 *
 *   x    = RMSNorm(h; input_layernorm)
 *   q    = q_norm(q_proj(x))                  per head, RMSNorm over head_dim
 *   k, v = k_norm(k_proj(src)), v_proj(src)   src = image tokens [Nk, H]
 *   a    = softmax(q k^T / sqrt(head_dim)) v  over the keys the row may see
 *   h   += tanh(attn_gate) * o_proj(a) * row_mask
 *   h   += tanh(mlp_gate) * down(silu(gate(y)) * up(y)) * row_mask,
 *          y = RMSNorm(h; post_attention_layernorm)
 *
 * Heads and kv heads (GQA) are the LLM's. row_mask is 0 for a row that sees
 * no key; such a row is left exactly as it was (no NaN from an empty
 * softmax).
 *
 * Keys and values depend only on the image, so nv_xattn_set_image computes
 * them once per image and keeps them; nv_xattn_forward then runs only the
 * query side, for a prompt chunk (T rows) or one decoded token (T = 1, where
 * nv_linear takes its sgemv path). Nothing is allocated per call: buffers
 * live in an nv_xattn_scratch the caller reserves beforehand.
 *
 * Ownership: nv_xattn_load returns a block that owns its weights (converted
 * to f32) and its key/value cache; free it with nv_xattn_free. The
 * safetensors handle may be closed after loading.
 */
#ifndef NV_FUSION_XATTN_H
#define NV_FUSION_XATTN_H

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"

typedef struct nv_xattn_dims {
    int hidden;     /* LLM hidden size H */
    int n_heads;    /* query heads */
    int n_kv_heads; /* key/value heads; divides n_heads */
    int head_dim;
    float rms_eps;  /* the LLM's rms_norm_eps, used by all four norms */
} nv_xattn_dims;

/* Tensor names inside one block, appended to the prefix given to the
 * loader. nv_xattn_default_names() is the nvlm checkpoint layout
 * (docs/model-format.md), nv_xattn_mllama_names() Mllama's; other
 * layouts pass their own table. */
typedef struct nv_xattn_names {
    const char *input_norm;
    const char *q_proj;
    const char *k_proj;
    const char *v_proj;
    const char *o_proj;
    const char *q_norm;
    const char *k_norm;
    const char *attn_gate;
    const char *post_norm;
    const char *gate_proj;
    const char *up_proj;
    const char *down_proj;
    const char *mlp_gate;
} nv_xattn_names;

const nv_xattn_names *nv_xattn_default_names(void);
/* Hugging Face Mllama's layout (MllamaCrossAttentionDecoderLayer). */
const nv_xattn_names *nv_xattn_mllama_names(void);

/* Which keys each query row may see: row t sees keys [begin[t], end[t]).
 * begin[t] == end[t] means it sees none (row_mask 0). This covers every
 * mask the fusions need (X: a tile tag sees its tile's range, other rows
 * all keys or none; H: all or none) without a dense T x Nk matrix.
 * fusion/prompt_layout builds these arrays from a prompt layout. */
typedef struct nv_xattn_rows {
    const int *begin;
    const int *end;
} nv_xattn_rows;

typedef struct nv_xattn nv_xattn;

/* Buffers for nv_xattn_forward, shared by all blocks of a model (they run
 * one after another). Zero-initialise, then reserve. */
typedef struct nv_xattn_scratch {
    int max_tokens;  /* rows one forward call may process */
    int max_keys;    /* keys per block it can score */
    int max_workers; /* threads of the pool it was sized for */
    int q_width;     /* n_heads * head_dim it was sized for */
    int hidden;
    int intermediate;
    float *normed;   /* [max_tokens, hidden] */
    float *q;        /* [max_tokens, q_width] */
    float *attn;     /* [max_tokens, q_width] */
    float *out;      /* [max_tokens, hidden] */
    float *gate;     /* [max_tokens, intermediate] */
    float *up;       /* [max_tokens, intermediate] */
    float *scores;   /* [max_workers, max_keys] */
} nv_xattn_scratch;

/* Loads block weights named prefix + names->... (names NULL = default
 * names), checking every shape against dims. The MLP width is taken from
 * gate_proj and checked against up_proj and down_proj. */
int nv_xattn_load(const nv_safetensors *st, const char *prefix,
                  const nv_xattn_names *names, const nv_xattn_dims *dims,
                  nv_xattn **out, nv_error *err);
void nv_xattn_free(nv_xattn *x);

const nv_xattn_dims *nv_xattn_get_dims(const nv_xattn *x);
int nv_xattn_intermediate(const nv_xattn *x);

/* Computes and keeps the keys and values of the image tokens kv_src
 * [n_keys, hidden]. n_keys = 0 drops the image: forward then changes
 * nothing. Allocates only when n_keys exceeds what an earlier image used. */
int nv_xattn_set_image(nv_xattn *x, const float *kv_src, int n_keys,
                       nv_error *err);
int nv_xattn_n_keys(const nv_xattn *x);
/* Cached keys of kv head g, key j, channel c (after k_norm) and values;
 * for tests against reference key/value dumps. */
float nv_xattn_key(const nv_xattn *x, int g, int j, int c);
float nv_xattn_value(const nv_xattn *x, int g, int j, int c);

/* Grows s (never shrinks) so it can serve forward calls of x with up to
 * max_tokens rows, x's current number of keys, and a pool of n_workers
 * threads (pass nv_pool_size(pool), or 1 without a pool). */
int nv_xattn_scratch_reserve(nv_xattn_scratch *s, const nv_xattn *x,
                             int max_tokens, int n_workers, nv_error *err);
void nv_xattn_scratch_free(nv_xattn_scratch *s);

/* hidden [T, hidden] is updated in place. rows NULL = every row sees every
 * key. pool may be NULL (runs on the caller). Fails, leaving hidden
 * untouched, when the scratch is too small or a row range lies outside
 * [0, n_keys]. With no image set this is a no-op. */
int nv_xattn_forward(const nv_xattn *x, nv_pool *pool, float *hidden, int T,
                     const nv_xattn_rows *rows, nv_xattn_scratch *s,
                     nv_error *err);

/* nv_xattn_forward where the rows with mlp_off[t] != 0 (mlp_off may be
 * NULL) keep their attention over [begin, end) but drop their MLP branch:
 * Mllama's full_text_row_masked_out_mask, for a row that sees no tile and
 * attends to every key instead (docs/model-format.md 6.2). */
int nv_xattn_forward_mlp_masked(const nv_xattn *x, nv_pool *pool,
                                float *hidden, int T,
                                const nv_xattn_rows *rows,
                                const unsigned char *mlp_off,
                                nv_xattn_scratch *s, nv_error *err);

#endif
