/* test_vit_errors.c - what the encoder, the pixel shuffle and the projector
 * do with bad or inconsistent input: edited copies of the golden configs,
 * mismatched weights, bad sizes. Each must fail with a message naming the
 * problem (and no crash or leak under the sanitizers). Also checks the
 * pixel-shuffle channel order on a hand-built grid, independently of the
 * goldens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/projector.h"
#include "tests/check.h"
#include "vision/pixel_shuffle.h"
#include "vision/vit.h"

typedef struct model_files {
    char dir[4000]; /* golden/hf/<case> */
    char cfg_path[4096];
    cJSON *cfg;
    nv_safetensors *st;
} model_files;

static int open_model(const char *golden, const char *name, model_files *m)
{
    char st_path[4096];
    nv_error err = {{0}};
    snprintf(m->dir, sizeof m->dir, "%s/hf/%s", golden, name);
    snprintf(m->cfg_path, sizeof m->cfg_path, "%s/model/config.json", m->dir);
    snprintf(st_path, sizeof st_path, "%s/model/model.safetensors", m->dir);
    m->cfg = nv_json_load(m->cfg_path, 0, &err);
    m->st = m->cfg ? nv_st_open(st_path, &err) : NULL;
    if (!CHECK(m->cfg && m->st)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static void close_model(model_files *m)
{
    nv_st_close(m->st);
    cJSON_Delete(m->cfg);
}

static cJSON *vision_of(cJSON *cfg)
{
    return cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
}

static void set_number(cJSON *obj, const char *key, double value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddNumberToObject(obj, key, value);
}

static void set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddStringToObject(obj, key, value);
}

static void set_bool(cJSON *obj, const char *key, int value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddBoolToObject(obj, key, value);
}

static void set_architecture(cJSON *cfg, const char *arch)
{
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "architectures");
    cJSON *list = cJSON_AddArrayToObject(cfg, "architectures");
    cJSON_AddItemToArray(list, cJSON_CreateString(arch));
}

/* Loads with an edited copy of the config; expects failure with every one
 * of the NULL-terminated substrings in the message. */
static void expect_load_error(const model_files *m, cJSON *cfg,
                              const char *label, const char *const *needles)
{
    nv_error err = {{0}};
    nv_vit *vit = NULL;
    int rc = nv_vit_load(m->st, cfg, m->cfg_path, &vit, &err);
    printf("%-30s -> %s\n", label, err.msg);
    CHECK(rc < 0 && vit == NULL);
    for (const char *const *n = needles; *n; n++)
        if (!CHECK(strstr(err.msg, *n) != NULL))
            fprintf(stderr, "  '%s' not in the message\n", *n);
    nv_vit_free(vit);
    cJSON_Delete(cfg);
}

static void expect_load_ok(const model_files *m, cJSON *cfg,
                           const char *label)
{
    nv_error err = {{0}};
    nv_vit *vit = NULL;
    int rc = nv_vit_load(m->st, cfg, m->cfg_path, &vit, &err);
    printf("%-30s -> %s\n", label, rc == 0 ? "loads" : err.msg);
    CHECK(rc == 0 && vit != NULL);
    nv_vit_free(vit);
    cJSON_Delete(cfg);
}

/* A copy of cfg with "nvlm_char_probs" = the JSON text (char_head.h). */
static cJSON *with_char_probs(const cJSON *cfg, const char *json)
{
    cJSON *c = cJSON_Duplicate(cfg, 1);
    cJSON_AddItemToObject(c, "nvlm_char_probs", cJSON_Parse(json));
    return c;
}

/* The optional character head: bad settings, and settings whose tensors
 * the file lacks. */
static void char_head_errors(const model_files *m)
{
    expect_load_error(m, with_char_probs(m->cfg, "\"yes\""),
                      "char probs not an object",
                      (const char *[]){"nvlm_char_probs", "object", NULL});
    expect_load_error(m, with_char_probs(m->cfg, "{\"classes\": 5}"),
                      "char probs without slots",
                      (const char *[]){"nvlm_char_probs", "slots",
                                       "config.json", NULL});
    expect_load_error(m, with_char_probs(m->cfg,
                                         "{\"classes\": 1, \"slots\": 2}"),
                      "one class",
                      (const char *[]){"classes", NULL});
    expect_load_error(m, with_char_probs(m->cfg,
                                         "{\"classes\": 9e9, \"slots\": 2}"),
                      "huge class count",
                      (const char *[]){"classes", NULL});
    expect_load_error(m, with_char_probs(m->cfg,
                                         "{\"classes\": 5, \"slots\": 2}"),
                      "char head tensors missing",
                      (const char *[]){"vision_model.char_head.norm.weight",
                                       NULL});
}

static void config_errors(const model_files *single, const model_files *nvlm)
{
    cJSON *c;

    c = cJSON_Duplicate(single->cfg, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(vision_of(c), "patch_size");
    expect_load_error(single, c, "no patch_size",
                      (const char *[]){"patch_size", "config.json", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(c, "vision_config");
    expect_load_error(single, c, "no vision_config",
                      (const char *[]){"vision_config", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_string(vision_of(c), "hidden_size", "64");
    expect_load_error(single, c, "hidden_size a string",
                      (const char *[]){"hidden_size", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_number(vision_of(c), "hidden_size", 66);
    expect_load_error(single, c, "heads do not divide C",
                      (const char *[]){"num_attention_heads", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_number(c, "select_layer", -5);
    expect_load_error(single, c, "select_layer out of range",
                      (const char *[]){"select_layer", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_string(vision_of(c), "hidden_act", "quick_gelu");
    expect_load_error(single, c, "quick_gelu",
                      (const char *[]){"hidden_act", "quick_gelu", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_string(vision_of(c), "norm_type", "batch_norm");
    expect_load_error(single, c, "unknown norm_type",
                      (const char *[]){"norm_type", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_string(c, "ps_version", "v3");
    expect_load_error(single, c, "ps_version v3",
                      (const char *[]){"ps_version", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_number(c, "downsample_ratio", 0.3);
    expect_load_error(single, c, "downsample_ratio 0.3",
                      (const char *[]){"downsample_ratio", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_number(c, "force_image_size", 50);
    expect_load_error(single, c, "image not whole patches",
                      (const char *[]){"patch_size", NULL});

    /* A 112 px tile on weights made for 56 px: no silent interpolation. */
    c = cJSON_Duplicate(single->cfg, 1);
    set_number(c, "force_image_size", 112);
    expect_load_error(single, c, "position embedding size",
                      (const char *[]){"position_embedding", "17", "65",
                                       "interpolation", NULL});

    /* The NVLM-D flag must agree with the qkv weight layout. */
    c = cJSON_Duplicate(nvlm->cfg, 1);
    set_architecture(c, "InternVLChatModel");
    expect_load_error(nvlm, c, "NVLM weights, plain config",
                      (const char *[]){"qkv.weight", "792", "dummy-head",
                                       "lacks NVLM_D_Model", NULL});

    c = cJSON_Duplicate(single->cfg, 1);
    set_architecture(c, "NVLM_D_Model");
    expect_load_error(single, c, "plain weights, NVLM config",
                      (const char *[]){"qkv.weight", "192",
                                       "plain InternViT", NULL});

    c = cJSON_Duplicate(nvlm->cfg, 1);
    set_number(vision_of(c), "num_attention_heads", 2);
    expect_load_error(nvlm, c, "qkv fits neither layout",
                      (const char *[]){"qkv.weight", "[792, 96]", NULL});

    /* A config asking for q/k norms the file lacks. */
    c = cJSON_Duplicate(single->cfg, 1);
    set_bool(vision_of(c), "qk_normalization", 1);
    expect_load_error(single, c, "qk-norm weights missing",
                      (const char *[]){"q_norm.weight", NULL});

    /* NVLM-D ignores qkv_bias and norm_type: these still load. */
    c = cJSON_Duplicate(nvlm->cfg, 1);
    set_bool(vision_of(c), "qkv_bias", 1);
    set_string(vision_of(c), "norm_type", "layer_norm");
    expect_load_ok(nvlm, c, "NVLM ignores bias/norm_type");

    /* Weights of another model entirely. */
    c = cJSON_Duplicate(nvlm->cfg, 1);
    expect_load_error(single, c, "weights of another model",
                      (const char *[]){"vision_model.", NULL});

    /* A file without any vision weights (the golden arrays). */
    char path[4096];
    nv_error err = {{0}};
    model_files arrays = *single;
    snprintf(path, sizeof path, "%s/golden.safetensors", single->dir);
    arrays.st = nv_st_open(path, &err);
    if (CHECK(arrays.st != NULL))
        expect_load_error(&arrays, cJSON_Duplicate(single->cfg, 1),
                          "no vision weights",
                          (const char *[]){"golden.safetensors",
                                           "vision_model.embeddings", NULL});
    nv_st_close(arrays.st);
}

static void run_errors(const model_files *m)
{
    nv_error err = {{0}};
    nv_vit *vit = NULL;
    if (!CHECK(nv_vit_load(m->st, m->cfg, m->cfg_path, &vit, &err) == 0))
        return;
    const nv_vit_config *c = nv_vit_config_of(vit);
    size_t pixels_len = (size_t)3 * c->image_size * c->image_size;
    float *pixels = calloc(pixels_len, sizeof(float));
    float *out = calloc((size_t)nv_vit_seq_len(vit) * c->hidden,
                        sizeof(float));
    if (CHECK(pixels && out)) {
        CHECK(nv_vit_forward(vit, NULL, pixels, 1, c->layers + 1, NULL, NULL,
                             out, &err) < 0);
        printf("%-30s -> %s\n", "too many layers", err.msg);
        CHECK(strstr(err.msg, "layers") != NULL);
        CHECK(nv_vit_forward(vit, NULL, pixels, 0, -1, NULL, NULL, out,
                             &err) < 0);
        printf("%-30s -> %s\n", "zero tiles", err.msg);
        CHECK(nv_vit_encode(vit, NULL, pixels, 1 << 30, out, &err) < 0);
        printf("%-30s -> %s\n", "2^30 tiles", err.msg);
        CHECK(strstr(err.msg, "tiles") != NULL);
    }
    free(pixels);
    free(out);
    nv_vit_free(vit);
}

static void projector_errors(const model_files *m)
{
    nv_error err = {{0}};
    nv_projector *p = NULL;
    CHECK(nv_projector_load(m->st, "x_mlp1.", 0, 0, NULL, &p, &err) < 0 &&
          !p);
    printf("%-30s -> %s\n", "absent prefix", err.msg);
    CHECK(strstr(err.msg, "x_mlp1.0.weight") != NULL);

    CHECK(nv_projector_load(m->st, "mlp1.", 100, 0, NULL, &p, &err) < 0 &&
          !p);
    printf("%-30s -> %s\n", "wrong input width", err.msg);
    CHECK(strstr(err.msg, "100") != NULL);

    CHECK(nv_projector_load(m->st, "mlp1.", 0, 0, NULL, &p, &err) == 0 &&
          p);
    if (p) {
        /* The single-tile InternVL mlp1 is 256 -> 64 -> 64 with biases. */
        CHECK(nv_projector_in_dim(p) == 256 && nv_projector_mid_dim(p) == 64 &&
              nv_projector_out_dim(p) == 64);
        float in = 0, out = 0;
        CHECK(nv_projector_forward(p, NULL, &in, -1, &out, &err) < 0);
        CHECK(nv_projector_forward(p, NULL, &in, 0, &out, &err) == 0);
    }
    nv_projector_free(p);
}

/* A 4x4 grid of 3-channel patches whose values spell out (patch, channel). */
static void shuffle_order(void)
{
    enum { G = 4, D = 3, R = 2, SIDE = G / R };
    float in[G * G * D], v2[G * G * D], v1[G * G * D];
    for (int p = 0; p < G * G; p++)
        for (int ch = 0; ch < D; ch++)
            in[p * D + ch] = (float)(p * 10 + ch);
    nv_error err = {{0}};
    CHECK(nv_pixel_shuffle(in, 1, G, D, R, 2, v2, &err) == 0);
    CHECK(nv_pixel_shuffle(in, 1, G, D, R, 1, v1, &err) == 0);
    int ok2 = 1, ok1 = 1;
    for (int i = 0; i < SIDE; i++) {
        for (int j = 0; j < SIDE; j++) {
            /* (2i,2j), (2i,2j+1), (2i+1,2j), (2i+1,2j+1) */
            const int src[4] = {2 * i * G + 2 * j, 2 * i * G + 2 * j + 1,
                                (2 * i + 1) * G + 2 * j,
                                (2 * i + 1) * G + 2 * j + 1};
            for (int b = 0; b < 4; b++) {
                for (int ch = 0; ch < D; ch++) {
                    float want = (float)(src[b] * 10 + ch);
                    ok2 &= v2[((i * SIDE + j) * 4 + b) * D + ch] == want;
                    ok1 &= v1[((j * SIDE + i) * 4 + b) * D + ch] == want;
                }
            }
        }
    }
    CHECK(ok2);
    CHECK(ok1);
    CHECK(nv_pixel_shuffle(in, 1, 5, D, 2, 2, v2, &err) < 0);
    printf("%-30s -> %s\n", "odd grid", err.msg);
    CHECK(nv_pixel_shuffle(in, 1, G, D, 2, 3, v2, &err) < 0);
    printf("%-30s -> %s\n", "version 3", err.msg);
}

int main(void)
{
    const char *golden = check_golden_dir();
    model_files single = {0}, nvlm = {0};
    if (open_model(golden, "internvl_single", &single) == 0 &&
        open_model(golden, "internvl_tiles", &nvlm) == 0) {
        config_errors(&single, &nvlm);
        char_head_errors(&single);
        run_errors(&single);
        projector_errors(&single);
    }
    shuffle_order();
    close_model(&single);
    close_model(&nvlm);
    return check_summary("test_vit_errors");
}
