/* llm_config.c - reading a Llama / Qwen2 config; see llm_config.h. */
#include "text/llm_config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"

/* Dimensions above this are refused: no real decoder comes near it, and it
 * keeps every size product well inside size_t. */
#define NV_LLM_DIM_LIMIT (1 << 20)

static int get_dim(const cJSON *obj, const char *key, const char *file,
                   const char *where, int64_t def, int *out, nv_error *err)
{
    int64_t v = 0;
    int rc = def < 0 ? nv_json_int_req(obj, key, file, &v, err)
                     : nv_json_int_opt(obj, key, file, def, &v, err);
    if (rc)
        return nv_fail_prefix(err, "%s%s", where, *where ? ": " : "");
    if (v < 1 || v > NV_LLM_DIM_LIMIT)
        return nv_fail(err, "%s: %s%s'%s' = %lld is out of range [1, %d]",
                       file, where, *where ? "." : "", key, (long long)v,
                       NV_LLM_DIM_LIMIT);
    *out = (int)v;
    return 0;
}

static int parse_arch(const cJSON *obj, const char *file, const char *where,
                      nv_llm_arch *arch, nv_error *err)
{
    const char *dot = *where ? "." : "";
    const char *model_type = NULL;
    if (nv_json_str_opt(obj, "model_type", file, NULL, &model_type, err))
        return -1;
    int from_type = -1;
    if (model_type) {
        if (!strcmp(model_type, "llama"))
            from_type = NV_LLM_LLAMA;
        else if (!strcmp(model_type, "qwen2"))
            from_type = NV_LLM_QWEN2;
        else
            return nv_fail(err, "%s: %s%smodel_type '%s' is not a supported "
                           "decoder (llama, qwen2)", file, where, dot,
                           model_type);
    }
    int from_arch = -1;
    const cJSON *archs = nv_json_get(obj, "architectures");
    if (archs && !cJSON_IsNull(archs)) {
        if (!cJSON_IsArray(archs))
            return nv_fail(err, "%s: %s%sarchitectures is not an array", file,
                           where, dot);
        const cJSON *a;
        cJSON_ArrayForEach(a, archs) {
            if (!cJSON_IsString(a))
                return nv_fail(err, "%s: %s%sarchitectures holds a "
                               "non-string", file, where, dot);
            int this_arch;
            if (!strcmp(a->valuestring, "LlamaForCausalLM"))
                this_arch = NV_LLM_LLAMA;
            else if (!strcmp(a->valuestring, "Qwen2ForCausalLM"))
                this_arch = NV_LLM_QWEN2;
            else
                return nv_fail(err, "%s: %s%sarchitectures '%s' is not a "
                               "supported decoder (LlamaForCausalLM, "
                               "Qwen2ForCausalLM)", file, where, dot,
                               a->valuestring);
            if (from_arch >= 0 && from_arch != this_arch)
                return nv_fail(err, "%s: %s%sarchitectures lists two "
                               "different decoders", file, where, dot);
            from_arch = this_arch;
        }
    }
    if (from_type < 0 && from_arch < 0)
        return nv_fail(err, "%s: %s%sneither model_type nor architectures "
                       "names the decoder", file, where, dot);
    if (from_type >= 0 && from_arch >= 0 && from_type != from_arch)
        return nv_fail(err, "%s: %s%smodel_type '%s' disagrees with "
                       "architectures", file, where, dot, model_type);
    *arch = (nv_llm_arch)(from_type >= 0 ? from_type : from_arch);
    return 0;
}

static int parse_rope(const cJSON *obj, const char *file, const char *where,
                      nv_rope_config *rope, nv_error *err)
{
    const char *dot = *where ? "." : "";
    rope->type = NV_ROPE_DEFAULT;
    rope->factor = 1.0;
    if (nv_json_num_opt(obj, "rope_theta", file, 10000.0, &rope->theta, err))
        return -1;
    if (!(rope->theta > 1.0))
        return nv_fail(err, "%s: %s%srope_theta must be > 1", file, where,
                       dot);
    const cJSON *rs = nv_json_get(obj, "rope_scaling");
    if (!rs || cJSON_IsNull(rs))
        return 0;
    if (!cJSON_IsObject(rs))
        return nv_fail(err, "%s: %s%srope_scaling is not an object", file,
                       where, dot);
    /* Newer configs say rope_type, older ones type. */
    const char *type = NULL;
    if (nv_json_str_opt(rs, "rope_type", file, NULL, &type, err))
        return -1;
    if (!type && nv_json_str_opt(rs, "type", file, NULL, &type, err))
        return -1;
    if (!type)
        return nv_fail(err, "%s: %s%srope_scaling has no rope_type", file,
                       where, dot);
    if (!strcmp(type, "default"))
        return 0;
    if (!strcmp(type, "linear"))
        rope->type = NV_ROPE_LINEAR;
    else if (!strcmp(type, "dynamic"))
        rope->type = NV_ROPE_DYNAMIC;
    else if (!strcmp(type, "llama3"))
        rope->type = NV_ROPE_LLAMA3;
    else
        return nv_fail(err, "%s: %s%srope_scaling.rope_type '%s' is not "
                       "supported (default, linear, dynamic, llama3)", file,
                       where, dot, type);
    if (nv_json_num_req(rs, "factor", file, &rope->factor, err))
        return nv_fail_prefix(err, "%s%srope_scaling: ", where, dot);
    if (!(rope->factor >= 1.0 && rope->factor < 1e6))
        return nv_fail(err, "%s: %s%srope_scaling.factor %g is out of range "
                       "[1, 1e6)", file, where, dot, rope->factor);
    if (rope->type != NV_ROPE_LLAMA3)
        return 0;
    if (nv_json_num_req(rs, "low_freq_factor", file, &rope->low_freq_factor,
                        err) ||
        nv_json_num_req(rs, "high_freq_factor", file,
                        &rope->high_freq_factor, err) ||
        nv_json_int_req(rs, "original_max_position_embeddings", file,
                        &rope->original_max_pos, err))
        return nv_fail_prefix(err, "%s%srope_scaling: ", where, dot);
    if (!(rope->low_freq_factor > 0 &&
          rope->high_freq_factor > rope->low_freq_factor) ||
        rope->original_max_pos < 1)
        return nv_fail(err, "%s: %s%srope_scaling: llama3 needs 0 < "
                       "low_freq_factor < high_freq_factor and "
                       "original_max_position_embeddings >= 1", file, where,
                       dot);
    return 0;
}

/* eos_token_id is an integer, a list of integers, or null; each must be a
 * whole number (not 274.7, not 1e300) and a token of the vocabulary. */
static int parse_eos(const cJSON *obj, const char *file, const char *where,
                     nv_llm_config *cfg, nv_error *err)
{
    const char *dot = *where ? "." : "";
    cfg->n_eos = 0;
    const cJSON *eos = nv_json_get(obj, "eos_token_id");
    if (!eos || cJSON_IsNull(eos))
        return 0;
    char name[96];
    if (cJSON_IsNumber(eos)) {
        snprintf(name, sizeof name, "%s%seos_token_id", where, dot);
        return nv_json_as_int(eos, name, file, 0, cfg->vocab_size - 1,
                              &cfg->eos_ids[cfg->n_eos++], err);
    }
    if (!cJSON_IsArray(eos))
        return nv_fail(err, "%s: %s%seos_token_id is not an integer or a "
                       "list", file, where, dot);
    if (cJSON_GetArraySize(eos) > NV_LLM_MAX_EOS)
        return nv_fail(err, "%s: %s%seos_token_id must list at most %d "
                       "integers", file, where, dot, NV_LLM_MAX_EOS);
    const cJSON *e;
    cJSON_ArrayForEach(e, eos) {
        snprintf(name, sizeof name, "%s%seos_token_id[%d]", where, dot,
                 cfg->n_eos);
        if (nv_json_as_int(e, name, file, 0, cfg->vocab_size - 1,
                           &cfg->eos_ids[cfg->n_eos++], err))
            return -1;
    }
    return 0;
}

int nv_llm_config_parse(const cJSON *obj, const char *file, const char *where,
                        nv_llm_config *cfg, nv_error *err)
{
    const char *dot = *where ? "." : "";
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(obj))
        return nv_fail(err, "%s: %s is not an object", file,
                       *where ? where : "the config");
    if (parse_arch(obj, file, where, &cfg->arch, err))
        return -1;

    const char *act = NULL;
    if (nv_json_str_opt(obj, "hidden_act", file, "silu", &act, err))
        return -1;
    if (strcmp(act, "silu") != 0)
        return nv_fail(err, "%s: %s%shidden_act '%s' is not supported "
                       "(silu)", file, where, dot, act);
    int sliding = 0;
    if (nv_json_bool_opt(obj, "use_sliding_window", file, 0, &sliding, err))
        return -1;
    if (sliding)
        return nv_fail(err, "%s: %s%suse_sliding_window is not supported",
                       file, where, dot);

    if (get_dim(obj, "hidden_size", file, where, -1, &cfg->hidden_size,
                err) ||
        get_dim(obj, "intermediate_size", file, where, -1,
                &cfg->intermediate_size, err) ||
        get_dim(obj, "num_hidden_layers", file, where, -1, &cfg->n_layers,
                err) ||
        get_dim(obj, "num_attention_heads", file, where, -1, &cfg->n_heads,
                err) ||
        get_dim(obj, "num_key_value_heads", file, where, cfg->n_heads,
                &cfg->n_kv_heads, err) ||
        get_dim(obj, "head_dim", file, where,
                cfg->hidden_size / cfg->n_heads > 0
                    ? cfg->hidden_size / cfg->n_heads : 1,
                &cfg->head_dim, err) ||
        get_dim(obj, "vocab_size", file, where, -1, &cfg->vocab_size, err))
        return -1;
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return nv_fail(err, "%s: %s%snum_attention_heads %d is not a multiple "
                       "of num_key_value_heads %d", file, where, dot,
                       cfg->n_heads, cfg->n_kv_heads);
    if (cfg->head_dim % 2 != 0)
        return nv_fail(err, "%s: %s%shead_dim %d is odd (rotary embedding "
                       "pairs halves)", file, where, dot, cfg->head_dim);
    if ((int64_t)cfg->n_heads * cfg->head_dim > NV_LLM_DIM_LIMIT)
        return nv_fail(err, "%s: %s%snum_attention_heads * head_dim is too "
                       "large", file, where, dot);

    if (nv_json_num_opt(obj, "rms_norm_eps", file, 1e-6, &cfg->rms_norm_eps,
                        err))
        return -1;
    if (!(cfg->rms_norm_eps >= 0 && cfg->rms_norm_eps < 1))
        return nv_fail(err, "%s: %s%srms_norm_eps %g is out of range", file,
                       where, dot, cfg->rms_norm_eps);
    int64_t max_pos = 0;
    if (nv_json_int_opt(obj, "max_position_embeddings", file, 2048, &max_pos,
                        err))
        return -1;
    if (max_pos < 1)
        return nv_fail(err, "%s: %s%smax_position_embeddings must be >= 1",
                       file, where, dot);
    if (parse_rope(obj, file, where, &cfg->rope, err))
        return -1;
    cfg->rope.max_position = max_pos;

    if (nv_json_bool_opt(obj, "tie_word_embeddings", file, 1,
                         &cfg->tie_word_embeddings, err) ||
        nv_json_int_opt(obj, "bos_token_id", file, -1, &cfg->bos_id, err) ||
        parse_eos(obj, file, where, cfg, err))
        return -1;
    return 0;
}

int nv_llm_config_from_root(const cJSON *root, const char *file,
                            nv_llm_config *cfg, nv_error *err)
{
    const cJSON *llm = nv_json_get(root, "llm_config");
    if (llm && !cJSON_IsNull(llm)) {
        if (nv_llm_config_parse(llm, file, "llm_config", cfg, err))
            return -1;
        snprintf(cfg->weight_prefix, sizeof cfg->weight_prefix,
                 "language_model.");
        return 0;
    }
    return nv_llm_config_parse(root, file, "", cfg, err);
}

int nv_llm_config_load(const char *path, nv_llm_config *cfg, nv_error *err)
{
    char file[4096];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(file, sizeof file, "%s/config.json", path);
    else
        snprintf(file, sizeof file, "%s", path);
    cJSON *root = nv_json_load(file, 16u << 20, err);
    if (!root)
        return -1;
    int rc = nv_llm_config_from_root(root, file, cfg, err);
    cJSON_Delete(root);
    return rc;
}

int nv_llm_config_is_eos(const nv_llm_config *cfg, int64_t id)
{
    for (int i = 0; i < cfg->n_eos; i++)
        if (cfg->eos_ids[i] == id)
            return 1;
    return 0;
}

int nv_llm_config_skips(const nv_llm_config *cfg, int layer)
{
    for (int i = 0; i < cfg->n_skip_layers; i++)
        if (cfg->skip_layers[i] == layer)
            return 1;
    return 0;
}

int nv_llm_config_input_vocab(const nv_llm_config *cfg)
{
    return cfg->embed_rows > cfg->vocab_size ? cfg->embed_rows
                                             : cfg->vocab_size;
}
