/* test_family_mllama.c - the Llama 3.2 Vision family (fusion/family_mllama.c,
 * vision/mllama_vision.c, vision/mllama_preprocess.c) against Hugging Face
 * transformers' own outputs: the shared goldens hf/mllama (image.png, 2x2
 * tiles) and hf/mllama_wide (image_wide.png, 1x3 tiles + a padding tile).
 *
 * Per case:
 *  - vision encoder on in_pixel_values vs vision_last_hidden_state and the
 *    projector output vs cross_attention_states, within 1e-4 * max|golden|;
 *  - the whole model (raw prompt "<|image|>Describe this image in one word:"
 *    fed with in_pixel_values): prompt ids exact, logits of every prompt
 *    position within 1e-4 * max|logit|, 8 greedy ids exact (KV cache on);
 *  - the C image processor on the image file vs in_pixel_values (within
 *    PIX_TOL), aspect_ratio_ids and aspect_ratio_mask exact.
 *  - text BEFORE the image ("Look at this:<|image|> what is it?"), which the
 *    goldens never have: rows that see no tile attend to every key with
 *    their MLP branch dropped (Mllama's full_text_row_masked_out_mask);
 *    against tests/fixtures/mllama_masked, made by
 *    tools/reference/mllama_masked.py (a PyTorch reference that first
 *    reproduces the transformers goldens), same tolerances.
 *  - the bilinear resize (vision/resize.c) vs Pillow 9.4
 *    (tests/fixtures/mllama_resize, made by
 *    tools/make_mllama_resize_fixtures.py): bit-exact; the goldens' images
 *    need no resize, so this is where it is checked;
 *  - extreme image shapes (1x1, 1x300, 300x1) preprocess to valid grids.
 * Plus refusals: an unknown architecture, an Mllama config missing a key
 * the family needs, and a fusion the model lacks, each named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub_check.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "fusion/model.h"
#include "vision/mllama_preprocess.h"
#include "vision/mllama_vision.h"
#include "vision/resize.h"

/* Relative to the largest |golden| value of the array. */
#define REL_TOL 1e-4
/* Pixels after (x/255 - 0.5)/0.5: one uint8 step is 2/255 = 0.0078; the
 * resize is Pillow's integer algorithm, so we expect equality. */
#define PIX_TOL 1e-6

static int check_close(const char *label, const float *got,
                       const float *want, long n, double tol)
{
    double d = check_max_abs_diff(got, want, n);
    printf("%-36s max|diff| %.3g (tolerance %.3g)\n", label, d, tol);
    return CHECK(d <= tol);
}

typedef struct golden {
    nv_safetensors *st;
    nv_tensor pix, arid, armask, ids, logits, gen, vision, cross;
    int n_real;
} golden;

static void golden_free(golden *g)
{
    nv_tensor *all[] = {&g->pix, &g->arid, &g->armask, &g->ids, &g->logits,
                        &g->gen, &g->vision, &g->cross};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
    nv_st_close(g->st);
}

static int golden_open(const char *case_dir, golden *g)
{
    memset(g, 0, sizeof *g);
    char path[1200];
    nv_error e = {{0}};
    snprintf(path, sizeof path, "%s/golden.safetensors", case_dir);
    g->st = nv_st_open(path, &e);
    if (!CHECK(g->st != NULL)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    if (!CHECK(nv_st_get_f32(g->st, "in_pixel_values", -1, NULL, &g->pix,
                             &e) == 0 &&
               nv_st_get_i64(g->st, "in_aspect_ratio_ids", &g->arid, &e) ==
                   0 &&
               nv_st_get_i64(g->st, "in_aspect_ratio_mask", &g->armask,
                             &e) == 0 &&
               nv_st_get_i64(g->st, "in_input_ids", &g->ids, &e) == 0 &&
               nv_st_get_f32(g->st, "logits", -1, NULL, &g->logits, &e) ==
                   0 &&
               nv_st_get_i64(g->st, "generated_ids", &g->gen, &e) == 0 &&
               nv_st_get_f32(g->st, "vision_last_hidden_state", -1, NULL,
                             &g->vision, &e) == 0 &&
               nv_st_get_f32(g->st, "cross_attention_states", -1, NULL,
                             &g->cross, &e) == 0)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    const int64_t *mask = g->armask.data;
    for (int64_t i = 0; i < nv_tensor_numel(&g->armask); i++)
        g->n_real += mask[i] != 0;
    return 0;
}

/* The vision encoder alone, from the checkpoint and its config. */
static void check_vision(const char *case_dir, const golden *g,
                         const char *name)
{
    char path[1200];
    nv_error e = {{0}};
    snprintf(path, sizeof path, "%s/model/config.json", case_dir);
    cJSON *config = nv_json_load(path, 0, &e);
    snprintf(path, sizeof path, "%s/model", case_dir);
    nv_safetensors *st = nv_st_open(path, &e);
    nv_mllama_vision *v = NULL;
    if (!CHECK(config && st &&
               nv_mllama_vision_load(st, nv_json_get(config, "vision_config"),
                                     "config.json", &v, &e) == 0)) {
        fprintf(stderr, "%s\n", e.msg);
        goto done;
    }
    long n = (long)nv_tensor_numel(&g->vision);
    CHECK(n == (long)nv_tensor_numel(&g->pix) / (3 * 56 * 56) *
                   nv_mllama_vision_tokens(v) *
                   nv_mllama_vision_out_dim(v));
    float *out = malloc(sizeof(float) * (size_t)n);
    if (CHECK(out != NULL) &&
        CHECK(nv_mllama_vision_encode(v, NULL, g->pix.data,
                                      (int)((int64_t *)g->arid.data)[0],
                                      g->n_real, out, &e) == 0)) {
        char label[128];
        snprintf(label, sizeof label, "%s vision_last_hidden_state", name);
        check_close(label, out, g->vision.data, n,
                    REL_TOL * check_max_abs(g->vision.data, n));
    } else {
        fprintf(stderr, "%s\n", e.msg);
    }
    free(out);
    /* A bad aspect ratio id is refused, not read out of bounds. */
    CHECK(nv_mllama_vision_encode(v, NULL, g->pix.data, 99, 1, NULL, &e) ==
          -1);
done:
    nv_mllama_vision_free(v);
    nv_st_close(st);
    cJSON_Delete(config);
}

/* Gives the session the golden pixel values as the family's image. */
static int set_golden_image(nvlm_session *s, const golden *g)
{
    nv_error e = {{0}};
    nv_family_image *fi = &s->family_image;
    nv_family_image_free(fi);
    if (nv_tensor_alloc_f32(&fi->pixels, 4, g->pix.shape + 2, &e))
        return -1;
    memcpy(fi->pixels.data, g->pix.data,
           sizeof(float) * (size_t)nv_tensor_numel(&g->pix));
    fi->n_tiles = g->n_real;
    fi->aux[0] = (int)((int64_t *)g->arid.data)[0];
    s->has_image = 1;
    s->n_tiles = g->n_real;
    return 0;
}

/* Loads the case's model and runs `text` (raw prompt) on the golden
 * pixel values, 8 greedy tokens; NULL on failure. */
static nvlm_session *run_raw(const char *case_dir, const golden *g,
                             const char *text, nvlm_model **model)
{
    char dir[1200], err[1024];
    snprintf(dir, sizeof dir, "%s/model", case_dir);
    nvlm_model *m = hub_load_model(dir, NULL, 2, case_dir);
    *model = m;
    if (!m)
        return NULL;
    nvlm_session *s = nvlm_session_new(m, err, sizeof err);
    if (!CHECK(s != NULL) || !CHECK(set_golden_image(s, g) == 0) ||
        !CHECK(nvlm_add_text(s, text, err, sizeof err) == 0)) {
        nvlm_session_free(s);
        return NULL;
    }
    if (hub_generate(s, 1, case_dir)) {
        nvlm_session_free(s);
        return NULL;
    }
    return s;
}

static void check_text_before_image(const char *case_dir, const golden *g,
                                    const char *name)
{
    char path[1200], label[128];
    nv_error e = {{0}};
    const char *fixtures = getenv("NV_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/mllama_masked/%s.safetensors",
             fixtures ? fixtures : "tests/fixtures", name);
    nv_safetensors *fx = nv_st_open(path, &e);
    nv_tensor ids = {0}, logits = {0}, gen = {0};
    nvlm_model *m = NULL;
    nvlm_session *s = NULL;
    if (!CHECK(fx != NULL) ||
        !CHECK(nv_st_get_i64(fx, "input_ids", &ids, &e) == 0 &&
               nv_st_get_f32(fx, "logits", -1, NULL, &logits, &e) == 0 &&
               nv_st_get_i64(fx, "generated_ids", &gen, &e) == 0)) {
        fprintf(stderr, "%s\n", e.msg);
        goto done;
    }
    s = run_raw(case_dir, g, "Look at this:<|image|> what is it?", &m);
    snprintf(label, sizeof label, "%s text before image", name);
    if (s)
        hub_compare_run(s, ids.data, (int)ids.shape[0], logits.data,
                        (long)nv_tensor_numel(&logits), gen.data,
                        (int)gen.shape[0], REL_TOL, label);
done:
    nvlm_session_free(s);
    nvlm_free(m);
    nv_tensor_free(&ids);
    nv_tensor_free(&logits);
    nv_tensor_free(&gen);
    nv_st_close(fx);
}

static void check_model(const char *case_dir, const golden *g,
                        const char *name)
{
    char label[128];
    nvlm_model *m = NULL;
    nvlm_session *s =
        run_raw(case_dir, g, "<|image|>Describe this image in one word:", &m);
    if (m)
        CHECK(!strcmp(nvlm_fusion(m), "x"));
    if (!s)
        goto done;
    /* Projector output = cross-attention states [tiles * tokens, H]. */
    long nc = (long)nv_tensor_numel(&g->cross);
    if (CHECK(s->features != NULL) &&
        CHECK((long)s->n_image_rows * m->llm.hidden_size == nc)) {
        snprintf(label, sizeof label, "%s cross_attention_states", name);
        check_close(label, s->features, g->cross.data, nc,
                    REL_TOL * check_max_abs(g->cross.data, nc));
    }
    hub_compare_run(s, g->ids.data, (int)g->ids.shape[1], g->logits.data,
                    (long)nv_tensor_numel(&g->logits), g->gen.data,
                    (int)g->gen.shape[1], REL_TOL, name);
done:
    nvlm_session_free(s);
    nvlm_free(m);
}

/* The C image processor through the family, on the image file. */
static void check_preprocess(const char *case_dir, const char *image,
                             const golden *g, const char *name)
{
    char dir[1200], path[1200], label[128];
    nv_error e = {{0}};
    snprintf(dir, sizeof dir, "%s/model", case_dir);
    snprintf(path, sizeof path, "%s/hf/%s", check_golden_dir(), image);
    nvlm_model *m = hub_load_model(dir, NULL, 1, name);
    nv_image img = {0};
    nv_family_image fi = {0};
    if (!m || !CHECK(nv_image_load(path, 0, &img, &e) == 0) ||
        !CHECK(m->family->preprocess(m->family_ctx, &img, &fi, &e) == 0)) {
        fprintf(stderr, "%s: %s\n", name, e.msg);
        goto done;
    }
    CHECK(fi.aux[0] == (int)((int64_t *)g->arid.data)[0]);
    CHECK(fi.n_tiles == g->n_real);
    long n = (long)nv_tensor_numel(&g->pix);
    if (CHECK(nv_tensor_numel(&fi.pixels) == n)) {
        snprintf(label, sizeof label, "%s preprocess (%s)", name, image);
        check_close(label, fi.pixels.data, g->pix.data, n, PIX_TOL);
    }
done:
    nv_family_image_free(&fi);
    nv_image_free(&img);
    nvlm_free(m);
}

static void check_bilinear(void)
{
    const char *fixtures = getenv("NV_FIXTURE_DIR");
    char path[1200];
    nv_error e = {{0}};
    if (!CHECK(fixtures != NULL))
        return;
    snprintf(path, sizeof path, "%s/images/resize_src.png", fixtures);
    nv_image src = {0};
    if (!CHECK(nv_image_load(path, 0, &src, &e) == 0)) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    snprintf(path, sizeof path, "%s/mllama_resize/manifest.json", fixtures);
    cJSON *man = nv_json_load(path, 0, &e);
    const cJSON *list = nv_json_get(man, "resize");
    CHECK(cJSON_GetArraySize(list) >= 9);
    const cJSON *it;
    int exact = 0, total = 0;
    cJSON_ArrayForEach(it, list) {
        int w = (int)cJSON_GetObjectItem(it, "width")->valuedouble;
        int h = (int)cJSON_GetObjectItem(it, "height")->valuedouble;
        snprintf(path, sizeof path, "%s/mllama_resize/%s", fixtures,
                 cJSON_GetObjectItem(it, "expected")->valuestring);
        size_t n = (size_t)w * h * 3, got = 0;
        unsigned char *want = (unsigned char *)test_read_file(path, &got);
        int ok = want && got == n;
        nv_image out = {0};
        total++;
        if (CHECK(ok) &&
            CHECK(nv_image_resize(&src, w, h, NV_RESAMPLE_BILINEAR, &out,
                                  &e) == 0)) {
            int same = !memcmp(out.rgb, want, n);
            exact += same;
            if (!CHECK(same))
                fprintf(stderr, "bilinear %dx%d differs from Pillow\n", w,
                        h);
        }
        nv_image_free(&out);
        free(want);
    }
    printf("%-36s %d of %d sizes bit-exact with Pillow\n", "bilinear resize",
           exact, total);
    cJSON_Delete(man);
    nv_image_free(&src);
}

static void check_extreme_shapes(void)
{
    nv_mllama_prep_opts o = {.tile_size = 56, .max_tiles = 4,
                             .rescale = 1.0 / 255.0,
                             .mean = {0.5f, 0.5f, 0.5f},
                             .std = {0.5f, 0.5f, 0.5f}};
    int sizes[3][2] = {{1, 1}, {1, 300}, {300, 1}};
    for (int i = 0; i < 3; i++) {
        nv_error e = {{0}};
        nv_image img = {0};
        nv_mllama_prep_out out;
        if (!CHECK(nv_image_alloc(&img, sizes[i][0], sizes[i][1], &e) == 0))
            continue;
        memset(img.rgb, 200, (size_t)sizes[i][0] * sizes[i][1] * 3);
        if (CHECK(nv_mllama_preprocess(&img, &o, &out, &e) == 0)) {
            CHECK(out.aspect_ratio_id >= 1 && out.aspect_ratio_id <= 8);
            CHECK(out.n_tiles >= 1 && out.n_tiles <= 4);
            long n = (long)nv_tensor_numel(&out.pixels);
            CHECK(n == 4L * 3 * 56 * 56);
            int finite = 1;
            for (long j = 0; j < n; j++)
                finite &= isfinite(((float *)out.pixels.data)[j]);
            CHECK(finite);
            nv_tensor_free(&out.pixels);
        }
        nv_image_free(&img);
    }
}

/* Loading a config must fail with a message holding `needle`. */
static void expect_refused(const char *config, const char *needle,
                           const char *fusion)
{
    hub_tmp t;
    if (CHECK(hub_tmp_make(&t) == 0) &&
        CHECK(hub_tmp_write(&t, "config.json", config) == 0))
        hub_expect_refusal(t.dir, fusion, needle, "mllama");
    hub_tmp_clean(&t);
}

static void check_refusals(void)
{
    expect_refused("{\"architectures\": [\"FancyVisionModel\"]}",
                   "FancyVisionModel", NULL);
    /* Missing cross_attention_layers (the family needs it). */
    expect_refused("{\"architectures\": [\"MllamaForConditionalGeneration\"],"
                   "\"text_config\": {\"hidden_size\": 64, "
                   "\"intermediate_size\": 128, \"num_hidden_layers\": 4, "
                   "\"num_attention_heads\": 4, \"vocab_size\": 300},"
                   "\"vision_config\": {}}",
                   "cross_attention_layers", NULL);
    /* Missing text_config.hidden_size. */
    expect_refused("{\"architectures\": [\"MllamaForConditionalGeneration\"],"
                   "\"text_config\": {\"cross_attention_layers\": [1], "
                   "\"intermediate_size\": 128, \"num_hidden_layers\": 4, "
                   "\"num_attention_heads\": 4, \"vocab_size\": 300}}",
                   "hidden_size", NULL);
    /* No text_config at all. */
    expect_refused("{\"architectures\": [\"MllamaForConditionalGeneration\"]}",
                   "text_config", NULL);
    /* A fusion the model lacks. */
    expect_refused("{\"architectures\": [\"MllamaForConditionalGeneration\"]}",
                   "'d'", "d");
}

/* The vision config is checked key by key as well. */
static void check_vision_config(void)
{
    nv_error e = {{0}};
    nv_mllama_vision_config c;
    const char *text = "{\"hidden_size\": 64, \"attention_heads\": 4, "
                       "\"intermediate_size\": 128, \"image_size\": 56, "
                       "\"num_hidden_layers\": 3, \"num_global_layers\": 2}";
    cJSON *vc = cJSON_Parse(text);
    CHECK(nv_mllama_vision_config_parse(vc, "config.json", &c, &e) == -1);
    CHECK(strstr(e.msg, "intermediate_layers_indices") != NULL);
    cJSON_AddItemToObject(vc, "intermediate_layers_indices",
                          cJSON_Parse("[0, 2]"));
    CHECK(nv_mllama_vision_config_parse(vc, "config.json", &c, &e) == 0);
    CHECK(c.n_aspect_ratios == 8 && c.patch_size == 14);
    cJSON_DeleteItemFromObject(vc, "attention_heads");
    CHECK(nv_mllama_vision_config_parse(vc, "config.json", &c, &e) == -1);
    CHECK(strstr(e.msg, "attention_heads") != NULL);
    cJSON_Delete(vc);
}

int main(void)
{
    const char *root = check_golden_dir();
    struct {
        const char *name, *image;
    } cases[] = {{"mllama", "image.png"}, {"mllama_wide", "image_wide.png"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/hf/%s", root, cases[i].name);
        golden g;
        if (golden_open(dir, &g) == 0) {
            check_vision(dir, &g, cases[i].name);
            check_model(dir, &g, cases[i].name);
            check_preprocess(dir, cases[i].image, &g, cases[i].name);
            check_text_before_image(dir, &g, cases[i].name);
        }
        golden_free(&g);
    }
    check_bilinear();
    check_extreme_shapes();
    check_refusals();
    check_vision_config();
    return check_summary("family_mllama");
}
