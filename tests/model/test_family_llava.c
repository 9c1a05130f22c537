/* test_family_llava.c - the LLaVA family (fusion/family_llava.c,
 * vision/clip_vit.c, vision/llava_preprocess.c) against the goldens that
 * transformers v4.47.1 made for hf/llava_clip (CLIP tower, quick_gelu,
 * feature layer -2, CLS dropped) and hf/llava_siglip (SigLIP tower,
 * strategy "full"):
 *  - CLIPImageProcessor / SiglipImageProcessor from image.png vs
 *    in_pixel_values within 1e-6 * max|pixel| (Pillow-exact resize,
 *    numpy's float32 normalisation: expected bit-equal);
 *  - every hidden state of the tower vs vision_hidden_states, and the
 *    projector output, within 1e-4 * max|golden|;
 *  - the whole model fed in_pixel_values: prompt ids exactly, logits of
 *    every prompt position within 1e-4 * max|logit|, 8 greedy ids exactly;
 *    then the same from image.png through the C preprocessing;
 *  - refusals: unknown architecture, missing vision_config / text_config /
 *    vision model_type / preprocessor_config.json, --fusion x, an image so
 *    elongated that its resize would not fit.
 */
#include <cjson/cJSON.h>

#include "hub_check.h"
#include "core/json.h"
#include "vision/clip_vit.h"
#include "vision/image.h"

typedef struct capture_ctx {
    const float *want; /* [L+1, 1, T, C] */
    int layers_seen;
    double worst_rel;
} capture_ctx;

static void capture(void *ctx, int k, const float *x, int n, int T, int C)
{
    capture_ctx *c = ctx;
    long count = (long)n * T * C;
    const float *want = c->want + (size_t)k * count;
    double e = check_max_abs_diff(x, want, count);
    double rel = e / check_max_abs(want, count);
    if (rel > c->worst_rel)
        c->worst_rel = rel;
    c->layers_seen++;
}

/* The whole tower (all layers) against vision_hidden_states. */
static void check_tower(const char *model_dir, const nv_safetensors *g,
                        const nv_tensor *pix, const char *label)
{
    char path[1200];
    nv_error e = {{0}};
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    cJSON *cfg = nv_json_load(path, 0, &e);
    nv_safetensors *st = nv_st_open(model_dir, &e);
    nv_tensor hs = {0};
    nv_clip_vit *vit = NULL;
    nv_clip_vit_config vc;
    if (!CHECK(cfg && st &&
               nv_clip_vit_config_parse(nv_json_get(cfg, "vision_config"),
                                        path, "vision_config", &vc,
                                        &e) == 0 &&
               nv_clip_vit_load(st, "vision_tower.vision_model.", &vc,
                                vc.layers, 0, &vit, &e) == 0 &&
               nv_st_get_f32(g, "vision_hidden_states", -1, NULL, &hs,
                             &e) == 0)) {
        fprintf(stderr, "%s: %s\n", label, e.msg);
        goto done;
    }
    int T = nv_clip_vit_tokens(&vc);
    CHECK(hs.shape[0] == vc.layers + 1 && hs.shape[2] == T);
    float *out = malloc(sizeof(float) * (size_t)T * vc.hidden);
    capture_ctx cc = {hs.data, 0, 0};
    CHECK(out && nv_clip_vit_forward(vit, NULL, pix->data, 1, capture, &cc,
                                     out, &e) == 0);
    printf("%s: tower hidden states 0..%d max rel err %.3g (tol 1e-4)\n",
           label, vc.layers, cc.worst_rel);
    CHECK(cc.layers_seen == vc.layers + 1);
    CHECK(cc.worst_rel <= 1e-4);
    free(out);
done:
    nv_clip_vit_free(vit);
    nv_tensor_free(&hs);
    nv_st_close(st);
    cJSON_Delete(cfg);
}

static void run_case(const char *golden, const char *name)
{
    char dir[1024], path[1200], err[1024];
    nv_error e = {{0}};
    snprintf(dir, sizeof dir, "%s/hf/%s/model", golden, name);
    snprintf(path, sizeof path, "%s/hf/%s/golden.safetensors", golden, name);
    nv_safetensors *g = nv_st_open(path, &e);
    if (!CHECK(g != NULL)) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    nvlm_model *m = hub_load_model(dir, NULL, 2, name);
    nvlm_session *s = NULL;
    nv_tensor pix = {0}, proj = {0};
    nv_image img = {0};
    nv_family_image fi = {0};
    float *rows = NULL;
    if (!m)
        goto done;
    CHECK(!strcmp(m->family->name, "llava"));
    CHECK(!strcmp(nvlm_fusion(m), "d"));
    if (!CHECK(nv_st_get_f32(g, "in_pixel_values", -1, NULL, &pix, &e) == 0 &&
               nv_st_get_f32(g, "projector_output", -1, NULL, &proj,
                             &e) == 0)) {
        fprintf(stderr, "%s: %s\n", name, e.msg);
        goto done;
    }
    /* preprocessing from image.png */
    snprintf(path, sizeof path, "%s/hf/image.png", golden);
    if (CHECK(nv_image_load(path, 0, &img, &e) == 0 &&
              m->family->preprocess(m->family_ctx, &img, &fi, &e) == 0) &&
        CHECK(nv_tensor_numel(&fi.pixels) == nv_tensor_numel(&pix)))
        hub_close(name, "preprocessing (image.png)", fi.pixels.data,
                  pix.data, (long)nv_tensor_numel(&pix), 1e-6);
    else
        fprintf(stderr, "%s: %s\n", name, e.msg);
    check_tower(dir, g, &pix, name);
    /* vision tower + projector fed the golden pixels */
    nv_family_image_free(&fi);
    fi.pixels = pix;
    fi.n_tiles = 1;
    int n_rows = 0;
    if (CHECK(m->family->encode(m->family_ctx, m->pool, &fi, &rows, &n_rows,
                                &e) == 0) &&
        CHECK((long)n_rows * m->llm.hidden_size == nv_tensor_numel(&proj)))
        hub_close(name, "projector output", rows, proj.data,
                  (long)nv_tensor_numel(&proj), 1e-4);
    memset(&fi, 0, sizeof fi); /* pix stays owned here */
    /* the whole model, golden pixels */
    s = nvlm_session_new(m, err, sizeof err);
    if (!CHECK(s != NULL))
        goto done;
    CHECK(hub_set_family_pixels(s, &pix, 1, 1, 1) == 0);
    CHECK(nvlm_add_text(s, "What is shown?", err, sizeof err) == 0);
    hub_check_generation(s, g, name);
    nvlm_session_free(s);
    /* the whole model from image.png */
    s = nvlm_session_new(m, err, sizeof err);
    if (!CHECK(s != NULL))
        goto done;
    char label[128];
    snprintf(label, sizeof label, "%s from image.png", name);
    if (CHECK(nvlm_add_image_file(s, path, err, sizeof err) == 0 &&
              nvlm_add_text(s, "What is shown?", err, sizeof err) == 0))
        hub_check_generation(s, g, label);
    else
        fprintf(stderr, "%s: %s\n", label, err);
done:
    free(rows);
    nv_family_image_free(&fi);
    nv_image_free(&img);
    nv_tensor_free(&pix);
    nv_tensor_free(&proj);
    nvlm_session_free(s);
    nvlm_free(m);
    nv_st_close(g);
}

/* A scratch copy of hf/llava_clip/model whose config.json went through
 * `edit`, expecting a refusal naming `needle`. */
static void refusal(const char *golden, void (*edit)(cJSON *), int link_prep,
                    const char *fusion, const char *needle, const char *label)
{
    char src[1024], path[1200];
    snprintf(src, sizeof src, "%s/hf/llava_clip/model", golden);
    snprintf(path, sizeof path, "%s/config.json", src);
    hub_tmp t;
    char *text = test_read_file(path, NULL);
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!CHECK(cfg && hub_tmp_make(&t) == 0)) {
        cJSON_Delete(cfg);
        return;
    }
    if (edit)
        edit(cfg);
    char *out = cJSON_Print(cfg);
    const char *files[] = {"model.safetensors", "vocab.json", "merges.txt",
                           "tokenizer_config.json",
                           "special_tokens_map.json"};
    int ok = out && hub_tmp_write(&t, "config.json", out) == 0;
    for (size_t i = 0; ok && i < sizeof files / sizeof files[0]; i++)
        ok = hub_tmp_link(&t, src, files[i]) == 0;
    if (ok && link_prep)
        ok = hub_tmp_link(&t, src, "preprocessor_config.json") == 0;
    if (CHECK(ok))
        hub_expect_refusal(t.dir, fusion, needle, label);
    free(out);
    cJSON_Delete(cfg);
    hub_tmp_clean(&t);
}

static void no_vision_config(cJSON *c)
{
    cJSON_DeleteItemFromObject(c, "vision_config");
}

static void no_text_config(cJSON *c)
{
    cJSON_DeleteItemFromObject(c, "text_config");
}

static void no_vision_type(cJSON *c)
{
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(c, "vision_config"),
                               "model_type");
}

static void beit_tower(cJSON *c)
{
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(c, "vision_config"),
                              "model_type", cJSON_CreateString("beit"));
}

static void unknown_arch(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "architectures",
                              cJSON_CreateStringArray(
                                  (const char *[]){"FooForImageChat"}, 1));
    cJSON_DeleteItemFromObject(c, "model_type");
}

static void bad_feature_layer(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "vision_feature_layer",
                              cJSON_CreateNumber(-9));
}

/* A 1 x 30000 image would resize to 56 x 1.68M for a shortest edge of
 * 56: refused with a message instead of allocating it. */
static void elongated(const char *golden)
{
    char dir[1024];
    nv_error e = {{0}};
    snprintf(dir, sizeof dir, "%s/hf/llava_clip/model", golden);
    nvlm_model *m = hub_load_model(dir, NULL, 1, "llava_clip");
    nv_image img = {0};
    nv_family_image fi = {0};
    if (m && CHECK(nv_image_alloc(&img, 1, 30000, &e) == 0)) {
        memset(img.rgb, 128, (size_t)30000 * 3);
        CHECK(m->family->preprocess(m->family_ctx, &img, &fi, &e) != 0);
        CHECK(strstr(e.msg, "elongated") != NULL);
        printf("1x30000 image refused: %s\n", e.msg);
    }
    nv_family_image_free(&fi);
    nv_image_free(&img);
    nvlm_free(m);
}

int main(void)
{
    const char *golden = check_golden_dir();
    run_case(golden, "llava_clip");
    run_case(golden, "llava_siglip");
    elongated(golden);
    refusal(golden, NULL, 1, "x", "no 'x' fusion", "--fusion x");
    refusal(golden, unknown_arch, 1, NULL, "FooForImageChat",
            "unknown architecture");
    refusal(golden, no_vision_config, 1, NULL, "vision_config",
            "no vision_config");
    refusal(golden, no_text_config, 1, NULL, "text_config",
            "no text_config");
    refusal(golden, no_vision_type, 1, NULL, "model_type",
            "no vision model_type");
    refusal(golden, beit_tower, 1, NULL, "beit", "unknown tower");
    refusal(golden, bad_feature_layer, 1, NULL, "vision_feature_layer",
            "feature layer out of range");
    refusal(golden, NULL, 0, NULL, "preprocessor_config.json",
            "no preprocessor_config.json");
    return check_summary("family_llava");
}
