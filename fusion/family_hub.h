/* family_hub.h - small helpers the hub families (family_llava.c,
 * family_idefics3.c, family_mllama.c) share: recognising their config,
 * files next to config.json, the BOS text their prompts start with, the
 * checks on pixels and raw prompts. Prompts are built with core/strbuf.h.
 */
#ifndef NV_FUSION_FAMILY_HUB_H
#define NV_FUSION_FAMILY_HUB_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "fusion/family.h"
#include "text/llm_config.h"

/* The first entry of config's "architectures" when it is a string, else
 * NULL. */
const char *nv_hub_architecture(const cJSON *config);

/* 1 when config's first architecture is `architecture`, or, when it names
 * none, its model_type is `model_type`. */
int nv_hub_matches(const cJSON *config, const char *architecture,
                   const char *model_type);

/* The path of `name` in the directory of config_file. */
void nv_hub_sibling_path(const char *config_file, const char *name,
                         char *out, size_t size);

/* Parses `name` (e.g. "preprocessor_config.json") from the directory of
 * config_file. Returns NULL with err set when it is missing or bad. */
cJSON *nv_hub_sibling_json(const char *config_file, const char *name,
                           char *path_out, size_t path_size, nv_error *err);

/* The BOS token text ("<s>", "<|begin_of_text|>") named by the
 * tokenizer_config.json next to config_file (bos_token: a string or an
 * object with "content"), or "" when there is none. The prompt starts with
 * it because the session tokenizes without adding special tokens. */
int nv_hub_bos_text(const char *config_file, char *out, size_t size,
                    nv_error *err);

/* Parses the `text_config` object of config_file's tree. A Llama
 * text_config gets LlamaConfig's defaults for the sizes a saved config
 * leaves out (the hub llava-1.5 config names only what differs).
 * *tie_given: 1 when text_config says tie_word_embeddings. */
int nv_hub_text_config(const cJSON *config, const char *file,
                       nv_llm_config *cfg, int *tie_given, nv_error *err);

/* Checks that img holds n_tiles frames as pixels [n_tiles, 3, size, size]
 * (n_tiles >= 1); the error names `family`. */
int nv_hub_check_frames(const nv_family_image *img, int size,
                        const char *family, nv_error *err);

/* Finds the one `image_token` of a raw prompt: *at points at it, or is
 * NULL when there is no image. Fails, naming `family`, when the prompt has
 * it without an image, lacks it with one, or has it more than once. */
int nv_hub_raw_image_at(const char *prompt, const char *image_token,
                        int has_image, const char *family, const char **at,
                        nv_error *err);

#endif
