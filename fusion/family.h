/* family.h - how a model family that is not nvlm's native layout plugs
 * into the model (fusion/model*.c), so that hub checkpoints run as
 * downloaded (issue: LLaVA, SmolVLM/Idefics3, Llama 3.2 Vision).
 *
 * nvlm's native layout (NVLM-D / InternVL + the x/h heads) is built in.
 * Another family supplies one nv_family table. The model:
 *   1. picks the family whose `matches` accepts config.json;
 *   2. parses the decoder config with `llm_config` (so the family says
 *      where its text config and weights live) and loads the decoder;
 *   3. calls `load` for the family's own parts (vision tower, connector,
 *      cross-attention layers) and `free` at the end;
 *   4. per image: `preprocess` (its own image processor) then `encode`
 *      (vision tower + connector) into rows of the LLM width;
 *   5. builds the prompt text with `prompt` and tokenizes it as one string
 *      (special tokens parsed);
 *   6. paradigm D: the positions of `image_token` in the ids, in order,
 *      receive the encoded rows (their count must match);
 *      paradigm X: the rows are the cross-attention memory; `xattn_hook`
 *      runs before each decoder layer with the rows each token may see.
 *
 * Ownership: `load` allocates the family context, `free` releases it;
 * nv_family_image buffers are owned by the caller and freed with
 * nv_family_image_free.
 */
#ifndef NV_FUSION_FAMILY_H
#define NV_FUSION_FAMILY_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "text/llm_config.h"
#include "vision/image.h"

/* What a family's image processor made of one image. */
typedef struct nv_family_image {
    nv_tensor pixels;  /* family layout, e.g. [n, 3, S, S] */
    int n_tiles;       /* tiles / crops / frames fed to the tower */
    int cols, rows;    /* the split grid, 1 x 1 when not split */
    int aux[8];        /* family-specific (e.g. mllama aspect_ratio_id) */
} nv_family_image;

void nv_family_image_free(nv_family_image *img);

typedef enum nv_paradigm {
    NV_PARADIGM_TEXT, /* no vision part */
    NV_PARADIGM_D,    /* image rows in the decoder stream */
    NV_PARADIGM_X,    /* image rows through cross-attention */
} nv_paradigm;

typedef struct nv_family {
    const char *name; /* "llava", "idefics3", "mllama", "llama", ... */
    nv_paradigm paradigm;

    /* 1 when config.json belongs to this family. */
    int (*matches)(const cJSON *config);

    /* The decoder settings (text config object, weight name prefix). */
    int (*llm_config)(const cJSON *config, const char *file,
                      nv_llm_config *cfg, nv_error *err);

    /* Loads the family's parts; NULL for text-only families. */
    int (*load)(const nv_safetensors *st, const cJSON *config,
                const char *file, const nv_llm_config *llm, void **ctx,
                nv_error *err);
    void (*free)(void *ctx);

    int (*preprocess)(void *ctx, const nv_image *img, nv_family_image *out,
                      nv_error *err);
    /* rows: malloc'd [n_rows, llm hidden]. */
    int (*encode)(void *ctx, nv_pool *pool, const nv_family_image *img,
                  float **rows, int *n_rows, nv_error *err);

    /* The whole prompt text for `question` (chat template of the family,
     * image tokens expanded as its processor does); img NULL = no image.
     * raw: `question` is the prompt itself, with "<image>" where the image
     * goes. Returns malloc'd text. */
    char *(*prompt)(void *ctx, const nv_family_image *img,
                    const char *question, int raw, nv_error *err);
    /* D: the token whose positions receive the rows. X: the image marker
     * token of the prompt. */
    const char *image_token;

    /* X only: cross-attention before decoder layer `layer` (hidden
     * [T, H] in place, positions pos0..pos0+T-1). The memory is the rows
     * `encode` made; `ids` are the tokens of the whole sequence so far
     * (prompt + generated), so the family can work out its masks. */
    int (*xattn_set_memory)(void *ctx, const float *rows, int n_rows,
                            const nv_family_image *img, nv_error *err);
    int (*xattn_hook)(void *ctx, nv_pool *pool, int layer, float *hidden,
                      int T, int pos0, const int32_t *ids, nv_error *err);
    /* X only: decoder layers the family runs itself in the hook (mllama's
     * cross-attention layers take the place of self-attention layers);
     * 1 = the decoder skips layer l. NULL = none. */
    int (*skips_layer)(void *ctx, int layer);
} nv_family;

/* All families the runtime knows, NULL-terminated (fusion/families.c). */
extern const nv_family *const nv_families[];

#endif
