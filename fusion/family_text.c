/* family_text.c - text-only decoders (LlamaForCausalLM, Qwen2ForCausalLM)
 * as downloaded: no vision part, the prompt is the user's text as given
 * (no chat template; the tokenizer adds no BOS). */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "fusion/family.h"
#include "fusion/family_hub.h"

static int text_matches(const cJSON *config)
{
    if (nv_json_get(config, "vision_config") ||
        nv_json_get(config, "text_config"))
        return 0;
    const char *first = nv_hub_architecture(config);
    return first && (!strcmp(first, "LlamaForCausalLM") ||
                     !strcmp(first, "Qwen2ForCausalLM"));
}

static int text_llm_config(const cJSON *config, const char *file,
                           nv_llm_config *cfg, nv_error *err)
{
    return nv_llm_config_from_root(config, file, cfg, err);
}

static char *text_prompt(void *ctx, const nv_family_image *img,
                         const char *question, int raw, nv_error *err)
{
    (void)ctx;
    (void)raw;
    if (img) {
        nv_fail(err, "a text-only model takes no image");
        return NULL;
    }
    char *t = strdup(question);
    if (!t)
        nv_fail(err, "out of memory");
    return t;
}

const nv_family nv_family_text = {
    .name = "text-only decoder",
    .paradigm = NV_PARADIGM_TEXT,
    .matches = text_matches,
    .llm_config = text_llm_config,
    .prompt = text_prompt,
};
