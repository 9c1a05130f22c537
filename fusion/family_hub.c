/* family_hub.c - helpers shared by the hub families; see family_hub.h. */
#include "fusion/family_hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"

/* Small JSON side files (preprocessor / tokenizer configs) only. */
#define SIDE_JSON_LIMIT (16u << 20)

const char *nv_hub_architecture(const cJSON *config)
{
    const cJSON *a = nv_json_get(config, "architectures");
    const cJSON *first = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : NULL;
    return cJSON_IsString(first) ? first->valuestring : NULL;
}

int nv_hub_matches(const cJSON *config, const char *architecture,
                   const char *model_type)
{
    const char *first = nv_hub_architecture(config);
    if (first)
        return !strcmp(first, architecture);
    const cJSON *t = nv_json_get(config, "model_type");
    return cJSON_IsString(t) && !strcmp(t->valuestring, model_type);
}

void nv_hub_sibling_path(const char *config_file, const char *name,
                         char *out, size_t size)
{
    const char *slash = strrchr(config_file, '/');
    int dir_len = slash ? (int)(slash - config_file) : 1;
    snprintf(out, size, "%.*s/%s", dir_len, slash ? config_file : ".", name);
}

cJSON *nv_hub_sibling_json(const char *config_file, const char *name,
                           char *path_out, size_t path_size, nv_error *err)
{
    char path[1200];
    nv_hub_sibling_path(config_file, name, path, sizeof path);
    if (path_out)
        snprintf(path_out, path_size, "%s", path);
    return nv_json_load(path, SIDE_JSON_LIMIT, err);
}

int nv_hub_bos_text(const char *config_file, char *out, size_t size,
                    nv_error *err)
{
    char path[1200];
    struct stat sb;
    out[0] = '\0';
    nv_hub_sibling_path(config_file, "tokenizer_config.json", path,
                        sizeof path);
    if (stat(path, &sb) != 0)
        return 0;
    cJSON *cfg = nv_json_load(path, SIDE_JSON_LIMIT, err);
    if (!cfg)
        return -1;
    const cJSON *bos = nv_json_get(cfg, "bos_token");
    if (cJSON_IsObject(bos))
        bos = nv_json_get(bos, "content");
    int rc = 0;
    if (cJSON_IsString(bos)) {
        if (strlen(bos->valuestring) >= size)
            rc = nv_fail(err, "%s: bos_token is too long", path);
        else
            snprintf(out, size, "%s", bos->valuestring);
    } else if (bos && !cJSON_IsNull(bos)) {
        rc = nv_fail(err, "%s: bos_token is not a string", path);
    }
    cJSON_Delete(cfg);
    return rc;
}

static void add_llama_defaults(cJSON *text)
{
    static const struct {
        const char *key;
        double value;
    } defaults[] = {
        {"hidden_size", 4096},     {"intermediate_size", 11008},
        {"num_hidden_layers", 32}, {"num_attention_heads", 32},
        {"vocab_size", 32000},     {"rms_norm_eps", 1e-6},
        {"max_position_embeddings", 2048},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!cJSON_GetObjectItemCaseSensitive(text, defaults[i].key))
            cJSON_AddNumberToObject(text, defaults[i].key, defaults[i].value);
}

int nv_hub_text_config(const cJSON *config, const char *file,
                       nv_llm_config *cfg, int *tie_given, nv_error *err)
{
    const cJSON *text = NULL;
    if (nv_json_obj_req(config, "text_config", file, &text, err))
        return -1;
    cJSON *filled = cJSON_Duplicate(text, 1);
    if (!filled)
        return nv_fail(err, "out of memory");
    const cJSON *type = nv_json_get(filled, "model_type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "llama"))
        add_llama_defaults(filled);
    int rc = nv_llm_config_parse(filled, file, "text_config", cfg, err);
    *tie_given = nv_json_get(filled, "tie_word_embeddings") != NULL;
    cJSON_Delete(filled);
    return rc;
}

int nv_hub_check_frames(const nv_family_image *img, int size,
                        const char *family, nv_error *err)
{
    const nv_tensor *px = &img->pixels;
    if (px->ndim != 4 || img->n_tiles < 1 || px->shape[0] != img->n_tiles ||
        px->shape[1] != 3 || px->shape[2] != size || px->shape[3] != size)
        return nv_fail(err, "%s: pixel values must be [n, 3, %d, %d]",
                       family, size, size);
    return 0;
}

int nv_hub_raw_image_at(const char *prompt, const char *image_token,
                        int has_image, const char *family, const char **at,
                        nv_error *err)
{
    *at = strstr(prompt, image_token);
    if (has_image && !*at)
        return nv_fail(err, "%s: the raw prompt has no \"%s\" for the "
                       "image", family, image_token);
    if (!has_image && *at)
        return nv_fail(err, "%s: the raw prompt has \"%s\" but no image "
                       "was given", family, image_token);
    if (*at && strstr(*at + 1, image_token))
        return nv_fail(err, "%s: the raw prompt has more than one \"%s\"",
                       family, image_token);
    return 0;
}
