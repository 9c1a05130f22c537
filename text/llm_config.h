/* llm_config.h - the settings of a Llama / Qwen2 decoder, read from JSON.
 *
 * The object is either a top-level Hugging Face config.json (weights named
 * "model.layers.N...", "lm_head.weight") or the `llm_config` object inside an
 * InternVL / NVLM config (weights under "language_model."). Unknown
 * architectures, activations and rope types are refused with a message that
 * names the key and the file, rather than run with a guess.
 */
#ifndef NV_LLM_CONFIG_H
#define NV_LLM_CONFIG_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "core/error.h"

typedef enum nv_llm_arch {
    NV_LLM_LLAMA,
    NV_LLM_QWEN2,
} nv_llm_arch;

typedef enum nv_rope_type {
    NV_ROPE_DEFAULT,
    NV_ROPE_LINEAR,  /* positions divided by factor */
    NV_ROPE_DYNAMIC, /* NTK base growth once seq_len > max_position */
    NV_ROPE_LLAMA3,  /* per-frequency smooth interpolation */
} nv_rope_type;

typedef struct nv_rope_config {
    nv_rope_type type;
    double theta;
    double factor;               /* linear, dynamic, llama3 */
    double low_freq_factor;      /* llama3 */
    double high_freq_factor;     /* llama3 */
    int64_t original_max_pos;    /* llama3 */
    int64_t max_position;        /* max_position_embeddings (dynamic) */
} nv_rope_config;

#define NV_LLM_MAX_EOS 8
/* Most decoder layers a config may hand to the hook (nv_llm_config). */
#define NV_LLM_MAX_SKIP 64

typedef struct nv_llm_config {
    nv_llm_arch arch;
    int hidden_size;
    int intermediate_size;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int vocab_size;
    double rms_norm_eps;
    nv_rope_config rope;
    int tie_word_embeddings;
    int64_t bos_id;              /* -1 when absent */
    int n_eos;
    int64_t eos_ids[NV_LLM_MAX_EOS];
    /* "" for a plain LlamaForCausalLM file, "language_model." when the
     * config came from an InternVL / NVLM llm_config. */
    char weight_prefix[32];
    /* Per-head override (docs/model-format.md 3.3): when not empty, a tensor
     * named override_prefix + name replaces weight_prefix + name. */
    char override_prefix[48];
    /* Layers the decoder leaves to its layer hook (Mllama's cross-attention
     * layers sit in the text model's numbering): for these no weights are
     * loaded, no self-attention runs and no keys/values are cached. Set by
     * a family after parsing; 0 for every plain decoder. */
    int n_skip_layers;
    int skip_layers[NV_LLM_MAX_SKIP];
    /* Rows of the input embedding table when it holds more than the
     * vocab_size the LM head scores (Mllama: 8 more, <|image|> among
     * them); 0 = vocab_size. */
    int embed_rows;
    /* Hub families whose decoder is not "<weight_prefix>model.*" (Idefics3:
     * "model.text_model.layers.N..." and "lm_head.weight"). When not empty,
     * body_prefix replaces weight_prefix + "model." for embed_tokens, layers
     * and norm, and head_name replaces weight_prefix + "lm_head.weight". */
    char body_prefix[48];
    char head_name[64];
} nv_llm_config;

/* Parses one decoder config object. `file` is used in messages; `where` names
 * the object inside the file ("" or "llm_config"). */
int nv_llm_config_parse(const cJSON *obj, const char *file, const char *where,
                        nv_llm_config *cfg, nv_error *err);

/* Picks the decoder config from a parsed config.json: its `llm_config`
 * object when present (prefix "language_model."), else the top level. */
int nv_llm_config_from_root(const cJSON *root, const char *file,
                            nv_llm_config *cfg, nv_error *err);

/* Reads `path` (a config.json, or a directory holding one). */
int nv_llm_config_load(const char *path, nv_llm_config *cfg, nv_error *err);

/* 1 when decoder layer `layer` is one of cfg->skip_layers. */
int nv_llm_config_skips(const nv_llm_config *cfg, int layer);

/* Token ids the embedding table accepts: embed_rows, or vocab_size. */
int nv_llm_config_input_vocab(const nv_llm_config *cfg);

/* 1 when id is one of the config's end-of-sequence ids. */
int nv_llm_config_is_eos(const nv_llm_config *cfg, int64_t id);

#endif
