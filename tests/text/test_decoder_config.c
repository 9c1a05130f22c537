/* test_decoder_config.c - decoder config parsing and rotary frequencies.
 *
 * Configs: the golden llama / qwen2 / NVLM-D configs give the values their
 * files hold; broken configs (unknown architecture, rope type, activation,
 * bad head counts, missing keys) must fail with a message naming the key
 * and the file.
 * Rope: the frequencies are compared with the transformers formulas
 * evaluated here in double precision (tolerance 2e-6 relative, float32
 * rounding of base ** x), and the rotation with the rotate_half definition
 * q * cat(cos, cos) + rotate_half(q) * cat(sin, sin) in double from the
 * same float32 angles (1e-6 abs on values up to 3).
 * The llama3 path is checked end to end by test_decoder (whose golden
 * config has frequencies in all three llama3 bands).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/json.h"
#include "text/llm_config.h"
#include "text/rope.h"

static void load_golden(const char *name, nv_llm_config *cfg)
{
    char path[1024];
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/hf/%s/model/config.json",
             check_golden_dir(), name);
    if (!CHECK(nv_llm_config_load(path, cfg, &err) == 0))
        fprintf(stderr, "%s\n", err.msg);
}

static void test_golden_configs(void)
{
    nv_llm_config c;
    load_golden("llama", &c);
    CHECK(c.arch == NV_LLM_LLAMA && c.hidden_size == 64 &&
          c.intermediate_size == 128 && c.n_layers == 3 && c.n_heads == 4 &&
          c.n_kv_heads == 2 && c.head_dim == 16 && c.vocab_size == 300);
    CHECK(c.rope.type == NV_ROPE_LLAMA3 && c.rope.factor == 32.0 &&
          c.rope.low_freq_factor == 1.0 && c.rope.high_freq_factor == 4.0 &&
          c.rope.original_max_pos == 64 && c.rope.theta == 500000.0);
    CHECK(c.tie_word_embeddings == 1 && c.bos_id == 1 && c.n_eos == 1 &&
          c.eos_ids[0] == 2 && c.rms_norm_eps == 1e-5);
    CHECK(strcmp(c.weight_prefix, "") == 0);

    load_golden("qwen2", &c);
    CHECK(c.arch == NV_LLM_QWEN2 && c.intermediate_size == 160 &&
          c.head_dim == 16 && c.rope.type == NV_ROPE_DEFAULT &&
          c.rope.theta == 1e6 && c.rms_norm_eps == 1e-6);

    load_golden("internvl_tiles", &c);
    CHECK(c.arch == NV_LLM_QWEN2 && c.rope.type == NV_ROPE_DYNAMIC &&
          c.rope.factor == 3.0 && c.rope.max_position == 32768);
    CHECK(strcmp(c.weight_prefix, "language_model.") == 0);
    CHECK(c.tie_word_embeddings == 0 && c.bos_id == 256 &&
          c.eos_ids[0] == 258 && nv_llm_config_is_eos(&c, 258) &&
          !nv_llm_config_is_eos(&c, 2));
}

/* Parses `json` as a root config; returns the error text ("" on success). */
static const char *parse_text(const char *json, nv_error *err)
{
    nv_llm_config c;
    nv_error_clear(err);
    cJSON *root = nv_json_parse(json, strlen(json), "cfg.json", err);
    if (!root)
        return err->msg;
    int rc = nv_llm_config_from_root(root, "cfg.json", &c, err);
    cJSON_Delete(root);
    return rc ? err->msg : "";
}

#define BASE "\"hidden_size\": 64, \"intermediate_size\": 128, " \
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, " \
             "\"vocab_size\": 100"

static void expect_error(const char *json, const char *want1,
                         const char *want2)
{
    nv_error err;
    const char *msg = parse_text(json, &err);
    int ok = msg[0] && strstr(msg, want1) && strstr(msg, "cfg.json") &&
             (!want2 || strstr(msg, want2));
    if (!ok)
        fprintf(stderr, "config %s\n  gave '%s'\n", json, msg);
    check_true(ok, want1, __FILE__, __LINE__);
}

static void test_bad_configs(void)
{
    nv_error err;
    CHECK(strcmp(parse_text("{\"model_type\": \"llama\", " BASE "}", &err),
                 "") == 0);
    /* Defaults: kv heads = heads, head_dim = hidden / heads. */
    nv_llm_config c;
    cJSON *root = cJSON_Parse("{\"model_type\": \"llama\", " BASE "}");
    CHECK(nv_llm_config_from_root(root, "cfg.json", &c, &err) == 0);
    CHECK(c.n_kv_heads == 4 && c.head_dim == 16 && c.n_eos == 0 &&
          c.bos_id == -1);
    cJSON_Delete(root);

    expect_error("{\"model_type\": \"gemma\", " BASE "}", "model_type",
                 "gemma");
    expect_error("{\"architectures\": [\"MistralForCausalLM\"], " BASE "}",
                 "architectures", "MistralForCausalLM");
    expect_error("{\"model_type\": \"llava\", \"text_config\": {}}",
                 "model_type", "llava");
    expect_error("{\"model_type\": \"internvl_chat\", \"llm_config\": "
                 "{\"model_type\": \"internlm2\", " BASE "}}",
                 "llm_config", "internlm2");
    expect_error("{\"model_type\": \"llama\", \"architectures\": "
                 "[\"Qwen2ForCausalLM\"], " BASE "}", "disagrees", NULL);
    expect_error("{" BASE "}", "model_type", NULL);
    expect_error("{\"model_type\": \"llama\", \"intermediate_size\": 128, "
                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                 "\"vocab_size\": 100}", "hidden_size", NULL);
    expect_error("{\"model_type\": \"llama\", \"num_key_value_heads\": 3, "
                 BASE "}", "num_key_value_heads", NULL);
    expect_error("{\"model_type\": \"llama\", \"head_dim\": 15, " BASE "}",
                 "head_dim", NULL);
    expect_error("{\"model_type\": \"llama\", \"hidden_size\": -4, "
                 "\"intermediate_size\": 128, \"num_hidden_layers\": 2, "
                 "\"num_attention_heads\": 4, \"vocab_size\": 100}",
                 "hidden_size", NULL);
    expect_error("{\"model_type\": \"llama\", \"hidden_act\": \"gelu\", "
                 BASE "}", "hidden_act", "gelu");
    expect_error("{\"model_type\": \"llama\", \"rope_scaling\": "
                 "{\"rope_type\": \"yarn\", \"factor\": 4}, " BASE "}",
                 "rope_type", "yarn");
    expect_error("{\"model_type\": \"llama\", \"rope_scaling\": "
                 "{\"rope_type\": \"llama3\", \"factor\": 8, "
                 "\"high_freq_factor\": 4, "
                 "\"original_max_position_embeddings\": 8192}, " BASE "}",
                 "low_freq_factor", NULL);
    expect_error("{\"model_type\": \"llama\", \"rope_scaling\": "
                 "{\"type\": \"dynamic\"}, " BASE "}", "factor", NULL);
    expect_error("{\"model_type\": \"qwen2\", \"use_sliding_window\": true, "
                 BASE "}", "use_sliding_window", NULL);
    expect_error("{\"model_type\": \"llama\", \"eos_token_id\": [5, 100], "
                 BASE "}", "eos_token_id", NULL);
    /* Issue 17: numbers that are no integer, or no finite float, are
     * refused naming the key rather than cast (1e300 to int is undefined)
     * or truncated (274.7 read as 274). */
    expect_error("{\"model_type\": \"llama\", \"eos_token_id\": 1e300, "
                 BASE "}", "key 'eos_token_id' = 1e+300 is out of range",
                 NULL);
    expect_error("{\"model_type\": \"llama\", \"eos_token_id\": 74.7, "
                 BASE "}", "key 'eos_token_id' = 74.7 is not a whole number",
                 NULL);
    expect_error("{\"model_type\": \"llama\", \"eos_token_id\": [5, "
                 "-1e300], " BASE "}", "key 'eos_token_id[1]' = -1e+300",
                 "out of range");
    expect_error("{\"model_type\": \"internvl_chat\", \"llm_config\": "
                 "{\"model_type\": \"llama\", \"eos_token_id\": 5.5, " BASE
                 "}}", "key 'llm_config.eos_token_id' = 5.5", NULL);
    expect_error("{\"model_type\": \"llama\", \"rope_theta\": 1e999, "
                 BASE "}", "key 'rope_theta' is not a finite number", NULL);
    expect_error("{\"model_type\": \"llama\", \"rms_norm_eps\": -1e999, "
                 BASE "}", "key 'rms_norm_eps' is not a finite number",
                 NULL);
    expect_error("{\"model_type\": \"llama\", \"num_hidden_layers\": 2.5, "
                 "\"hidden_size\": 64, \"intermediate_size\": 128, "
                 "\"num_attention_heads\": 4, \"vocab_size\": 100}",
                 "key 'num_hidden_layers' = 2.5 is not a whole number", NULL);
    expect_error("{\"model_type\": \"llama\", \"bos_token_id\": 1e19, "
                 BASE "}", "key 'bos_token_id' = 1e+19 is out of range",
                 NULL);
    expect_error("{\"model_type\": \"llama\", \"vocab_size\": \"big\", "
                 "\"hidden_size\": 64, \"intermediate_size\": 128, "
                 "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
                 "vocab_size", NULL);

    /* Older configs spell rope_type as type; eos may be a list. */
    root = cJSON_Parse("{\"model_type\": \"llama\", \"rope_scaling\": "
                       "{\"type\": \"linear\", \"factor\": 2.0}, "
                       "\"eos_token_id\": [7, 9], " BASE "}");
    CHECK(nv_llm_config_from_root(root, "cfg.json", &c, &err) == 0);
    CHECK(c.rope.type == NV_ROPE_LINEAR && c.rope.factor == 2.0 &&
          c.n_eos == 2 && nv_llm_config_is_eos(&c, 9));
    cJSON_Delete(root);
}

static double rel_diff(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

static void test_inv_freq(void)
{
    enum { D = 64 };
    float got[D / 2], plain[D / 2];
    nv_rope_config r = {.type = NV_ROPE_DEFAULT, .theta = 10000.0,
                        .factor = 1.0, .max_position = 4096};
    nv_rope_inv_freq(&r, D, 100, plain);
    double worst = 0;
    for (int i = 0; i < D / 2; i++) {
        double want = 1.0 / pow(10000.0, 2.0 * i / D);
        worst = fmax(worst, rel_diff(plain[i], want));
    }
    printf("  default inv_freq rel err %.3g (tol 2e-6)\n", worst);
    CHECK(worst <= 2e-6);

    r.type = NV_ROPE_LINEAR;
    r.factor = 4.0;
    nv_rope_inv_freq(&r, D, 100, got);
    worst = 0;
    for (int i = 0; i < D / 2; i++)
        worst = fmax(worst, rel_diff(got[i], plain[i] / 4.0));
    CHECK(worst <= 1e-7);

    /* Dynamic NTK: identical up to max_position, then a larger base. */
    r.type = NV_ROPE_DYNAMIC;
    r.factor = 3.0;
    nv_rope_inv_freq(&r, D, 4096, got);
    CHECK(memcmp(got, plain, sizeof got) == 0);
    nv_rope_inv_freq(&r, D, 1, got);
    CHECK(memcmp(got, plain, sizeof got) == 0);
    int64_t lens[2] = {4097, 3 * 4096 + 17};
    for (int k = 0; k < 2; k++) {
        nv_rope_inv_freq(&r, D, lens[k], got);
        double base = 10000.0 * pow(3.0 * (double)lens[k] / 4096.0 - 2.0,
                                    (double)D / (D - 2));
        worst = 0;
        for (int i = 0; i < D / 2; i++)
            worst = fmax(worst, rel_diff(got[i], 1.0 / pow(base, 2.0 * i / D)));
        printf("  dynamic inv_freq at seq_len %lld rel err %.3g (tol 2e-6)\n",
               (long long)lens[k], worst);
        CHECK(worst <= 2e-6);
        CHECK(got[1] < plain[1]);
    }
}

static void test_rotation(void)
{
    enum { D = 8, NH = 3, T = 4, STRIDE = NH * D + 5 };
    float inv[D / 2], cs[T * D / 2], sn[T * D / 2];
    float x[T * STRIDE], orig[T * STRIDE];
    nv_rope_config r = {.type = NV_ROPE_DEFAULT, .theta = 100.0,
                        .max_position = 64};
    nv_rope_inv_freq(&r, D, 64, inv);
    int64_t pos0 = 37;
    nv_rope_tables(inv, D, pos0, T, cs, sn);
    for (int i = 0; i < T * STRIDE; i++)
        orig[i] = x[i] = (float)sin(0.37 * i + 0.1) * 3.0f;
    nv_rope_apply(x, T, NH, D, STRIDE, cs, sn);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < NH; h++) {
            const float *q = orig + t * STRIDE + h * D;
            for (int i = 0; i < D; i++) {
                /* PyTorch forms the angle as a float32 product too. */
                double ang = (float)(pos0 + t) * inv[i % (D / 2)];
                double rot = i < D / 2 ? -q[i + D / 2] : q[i - D / 2];
                double want = q[i] * cos(ang) + rot * sin(ang);
                worst = fmax(worst, fabs(x[t * STRIDE + h * D + i] - want));
            }
        }
        /* The padding after the heads is left alone. */
        for (int i = NH * D; i < STRIDE; i++)
            CHECK(x[t * STRIDE + i] == orig[t * STRIDE + i]);
    }
    printf("  rotate_half rotation max abs err %.3g (tol 1e-6)\n", worst);
    CHECK(worst <= 1e-6);
}

int main(void)
{
    test_golden_configs();
    test_bad_configs();
    test_inv_freq();
    test_rotation();
    return check_summary("test_decoder_config");
}
