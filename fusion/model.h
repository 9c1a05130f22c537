/* model.h - the model that assembles vision + fusion + text at load time,
 * and the session that runs one prompt through it (implements nvlm.h).
 *
 * Internal: the CLI and tests outside the library use nvlm.h; tests that
 * must feed reference inputs directly (pixel values instead of an image
 * file, all prompt logits) use the nv_session_* calls declared here.
 *
 * Ownership: nvlm_model owns every part it loads (mapped weights, encoder,
 * projector, decoder, cross-attention blocks, tokenizer, thread pool).
 * nvlm_session borrows its model and owns its buffers and KV cache.
 */
#ifndef NV_FUSION_MODEL_H
#define NV_FUSION_MODEL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"
#include "fusion/family.h"
#include "fusion/projector.h"
#include "fusion/prompt_layout.h"
#include "fusion/xattn.h"
#include "nvlm.h"
#include "text/decoder.h"
#include "text/kv_cache.h"
#include "text/llm_config.h"
#include "text/tokenizer.h"
#include "vision/preprocess.h"
#include "vision/vit.h"

#define NV_MODEL_MAX_XATTN 64

struct nvlm_model {
    char dir[1024];
    char config_path[1100];
    cJSON *config;
    nv_safetensors *st;
    nv_pool *pool;
    nv_tokenizer *tok;
    nv_vit *vit;
    nv_projector *proj; /* the chosen head's projector */
    nv_decoder *dec;
    nv_llm_config llm;
    nv_fusion fusion;
    int heads_present[3]; /* indexed by nv_fusion */
    /* A hub family (fusion/family.h); NULL for nvlm's native layout. */
    const nv_family *family;
    void *family_ctx;
    /* Cross-attention blocks of heads x and h, and which decoder layer
     * each runs before. */
    int n_xattn;
    int xattn_layer[NV_MODEL_MAX_XATTN];
    nv_xattn *xattn[NV_MODEL_MAX_XATTN];
    int *xattn_at_layer; /* [n_layers]: block index or -1 */
    nv_preprocess_opts prep;
    int tokens_per_tile;
    int internvl_template;  /* 1: template internvl2_5 (section 8.3) */
    int32_t image_token_id; /* <|vision_pad|>, or <IMG_CONTEXT> */
    int32_t im_end_id;
    int64_t max_pixels;
    int max_context;
};

typedef struct nv_prompt_rows {
    int *begin; /* [capacity] cross-attention keys each row sees */
    int *end;
    int capacity;
} nv_prompt_rows;

struct nvlm_session {
    nvlm_model *m;
    char *text; /* the user's text, appended by nvlm_add_text */
    size_t text_len;
    /* The image: normalised tiles and their projected features. */
    int has_image;
    nv_tensor pixels;   /* [n, 3, S, S] */
    nv_family_image family_image; /* a hub family's preprocessed image */
    int n_tiles;
    int grid_cols, grid_rows;
    float *features;    /* [n, T, H] projector output, NULL until encoded
                           (a hub family: its encoded rows [rows, H]) */
    int n_image_rows;   /* rows of features */
    float *memory;      /* cross-attention keys source [n_keys, H] */
    int n_keys;
    /* The last run. */
    int32_t *ids;       /* prompt then generated ids */
    int n_prompt, n_ids, cap_ids;
    nv_prompt_rows rows;
    nv_xattn_scratch xscratch;
    nv_kv_cache kv;
    float *logits;      /* [V] of the last position */
    float *prompt_logits; /* [n_prompt, V] when keep_prompt_logits */
    int keep_prompt_logits;
    /* > 0: the prompt runs in chunks of this many positions, each through
     * the KV cache like decode (1: every product goes through the decode
     * kernels; tests check those against the prefill goldens). */
    int prefill_chunk;
    /* Keys and values of leading prompt tokens copied from another session
     * (nvlm_session_reuse_prefix): kv positions 0 .. n_prefix-1 hold them,
     * computed for the ids prefix_ids (owned). */
    int32_t *prefix_ids;
    int n_prefix;
    /* Leading positions of the last prompt that no image touched (what
     * this session can give to another); 0 before its first prefill. */
    int n_clean;
    nvlm_stats stats;
};

/* Feeds normalised tiles directly ([n, 3, S, S], thumbnail last), as the
 * reference fixtures give them, instead of an image file. */
int nv_session_set_pixels(nvlm_session *s, const float *pixels, int n_tiles,
                          nv_error *err);

/* Preprocesses an already decoded image as the session's image (what
 * nvlm_add_image_file does after reading the file). */
int nv_session_set_image(nvlm_session *s, const nv_image *img, nv_error *err);

/* InternVL's own chat prompt (template internvl2_5, docs/model-format.md
 * 8.3) with n_image_tokens image-context tokens. Caller frees. */
char *nv_internvl_prompt_text(int n_image_tokens, const char *question,
                              nv_error *err);

/* Builds the prompt ids of the current text and image (no generation). */
int nv_session_build_prompt(nvlm_session *s, int raw, nv_error *err);

/* Runs the prompt (encoding the image if needed) and keeps the logits of
 * every prompt position in s->prompt_logits when keep_prompt_logits is set. */
int nv_session_prefill(nvlm_session *s, int raw, nv_error *err);

#endif
