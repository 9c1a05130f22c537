/* test_family_idefics3.c - the Idefics3 / SmolVLM family
 * (fusion/family_idefics3.c, vision/clip_vit.c with post_layernorm,
 * vision/idefics3_preprocess.c) against the goldens transformers v4.47.1
 * made for hf/idefics3 (SigLIP tower, pixel shuffle 2, image.png split
 * 2 x 2 + global frame, row/col tokens):
 *  - Idefics3ImageProcessor from image.png vs in_pixel_values (5 frames)
 *    within 1e-6 * max|pixel| (Pillow-exact Lanczos; expected bit-equal),
 *    the 2 x 2 grid, and pixel_attention_mask all ones (what a single
 *    image always gives, so the C side does not materialise it);
 *  - the tower's last_hidden_state and the connector output within
 *    1e-4 * max|golden|;
 *  - the whole model fed in_pixel_values: prompt ids exactly (the
 *    processor's expansion), logits of every prompt position within
 *    1e-4 * max|logit|, 8 greedy ids exactly; again from image.png;
 *  - refusals: --fusion x, missing vision_config, do_image_splitting
 *    false, a scale_factor that does not divide the patch grid.
 */
#include <cjson/cJSON.h>

#include "hub_check.h"
#include "core/json.h"
#include "vision/clip_vit.h"
#include "vision/idefics3_preprocess.h"
#include "vision/image.h"

static void check_tower(const char *model_dir, const nv_safetensors *g,
                        const nv_tensor *pix, int n)
{
    char path[1200];
    nv_error e = {{0}};
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    cJSON *cfg = nv_json_load(path, 0, &e);
    nv_safetensors *st = nv_st_open(model_dir, &e);
    nv_tensor want = {0};
    nv_clip_vit *vit = NULL;
    nv_clip_vit_config vc;
    float *out = NULL;
    if (!CHECK(cfg && st &&
               nv_clip_vit_config_parse(nv_json_get(cfg, "vision_config"),
                                        path, "vision_config", &vc,
                                        &e) == 0 &&
               nv_clip_vit_load(st, "model.vision_model.", &vc, vc.layers, 1,
                                &vit, &e) == 0 &&
               nv_st_get_f32(g, "vision_last_hidden_state", -1, NULL, &want,
                             &e) == 0)) {
        fprintf(stderr, "idefics3 tower: %s\n", e.msg);
        goto done;
    }
    long count = (long)nv_tensor_numel(&want);
    CHECK(count == (long)n * nv_clip_vit_tokens(&vc) * vc.hidden);
    out = malloc(sizeof(float) * (size_t)count);
    if (CHECK(out && nv_clip_vit_forward(vit, NULL, pix->data, n, NULL, NULL,
                                         out, &e) == 0))
        hub_close("idefics3", "tower last_hidden_state", out, want.data,
                  count, 1e-4);
done:
    free(out);
    nv_clip_vit_free(vit);
    nv_tensor_free(&want);
    nv_st_close(st);
    cJSON_Delete(cfg);
}

static void run_case(const char *golden)
{
    char dir[1024], path[1200], err[1024];
    nv_error e = {{0}};
    snprintf(dir, sizeof dir, "%s/hf/idefics3/model", golden);
    snprintf(path, sizeof path, "%s/hf/idefics3/golden.safetensors", golden);
    nv_safetensors *g = nv_st_open(path, &e);
    if (!CHECK(g != NULL)) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    nvlm_model *m = hub_load_model(dir, NULL, 2, "idefics3");
    nvlm_session *s = NULL;
    nv_tensor pix = {0}, conn = {0}, mask = {0};
    nv_image img = {0};
    nv_family_image fi = {0};
    float *rows = NULL;
    if (!m)
        goto done;
    CHECK(!strcmp(m->family->name, "idefics3"));
    if (!CHECK(nv_st_get_f32(g, "in_pixel_values", -1, NULL, &pix, &e) == 0 &&
               nv_st_get_f32(g, "connector_output", -1, NULL, &conn,
                             &e) == 0 &&
               nv_st_get_i64(g, "in_pixel_attention_mask", &mask, &e) == 0)) {
        fprintf(stderr, "idefics3: %s\n", e.msg);
        goto done;
    }
    /* [1, n, 3, S, S] -> [n, 3, S, S] */
    int n = (int)pix.shape[1];
    pix.ndim = 4;
    memmove(pix.shape, pix.shape + 1, sizeof(int64_t) * 4);
    int all_ones = 1;
    for (long i = 0; i < (long)nv_tensor_numel(&mask); i++)
        all_ones &= ((const int64_t *)mask.data)[i] == 1;
    CHECK(all_ones);
    /* preprocessing from image.png: 2 x 2 crops + the global frame */
    snprintf(path, sizeof path, "%s/hf/image.png", golden);
    if (CHECK(nv_image_load(path, 0, &img, &e) == 0 &&
              m->family->preprocess(m->family_ctx, &img, &fi, &e) == 0) &&
        CHECK(fi.n_tiles == n && fi.rows == 2 && fi.cols == 2 &&
              nv_tensor_numel(&fi.pixels) == nv_tensor_numel(&pix)))
        hub_close("idefics3", "preprocessing (image.png, 5 frames)",
                  fi.pixels.data, pix.data, (long)nv_tensor_numel(&pix),
                  1e-6);
    else
        fprintf(stderr, "idefics3 preprocessing: %s\n", e.msg);
    check_tower(dir, g, &pix, n);
    /* tower + pixel shuffle + connector fed the golden pixels */
    nv_family_image_free(&fi);
    fi.pixels = pix;
    fi.n_tiles = n;
    fi.rows = fi.cols = 2;
    int n_rows = 0;
    if (CHECK(m->family->encode(m->family_ctx, m->pool, &fi, &rows, &n_rows,
                                &e) == 0) &&
        CHECK((long)n_rows * m->llm.hidden_size == nv_tensor_numel(&conn)))
        hub_close("idefics3", "connector output", rows, conn.data,
                  (long)nv_tensor_numel(&conn), 1e-4);
    else
        fprintf(stderr, "idefics3 encode: %s\n", e.msg);
    memset(&fi, 0, sizeof fi); /* pix stays owned here */
    s = nvlm_session_new(m, err, sizeof err);
    if (!CHECK(s != NULL))
        goto done;
    CHECK(hub_set_family_pixels(s, &pix, n, 2, 2) == 0);
    CHECK(nvlm_add_text(s, "What is in the image?", err, sizeof err) == 0);
    hub_check_generation(s, g, "idefics3");
    /* A hub family's prompt is not examined for a shared template: the
     * next session takes nothing from this one. */
    nvlm_session *first = s;
    s = nvlm_session_new(m, err, sizeof err);
    if (!CHECK(s != NULL) ||
        !CHECK(nvlm_session_reuse_prefix(s, first, err, sizeof err) == 0)) {
        nvlm_session_free(first);
        goto done;
    }
    nvlm_session_free(first);
    if (CHECK(nvlm_add_image_file(s, path, err, sizeof err) == 0 &&
              nvlm_add_text(s, "What is in the image?", err, sizeof err) ==
                  0)) {
        hub_check_generation(s, g, "idefics3 from image.png");
        CHECK(nvlm_last_stats(s)->prompt_tokens_reused == 0);
    } else {
        fprintf(stderr, "idefics3 from image.png: %s\n", err);
    }
done:
    free(rows);
    nv_family_image_free(&fi);
    nv_image_free(&img);
    nv_tensor_free(&pix);
    nv_tensor_free(&conn);
    nv_tensor_free(&mask);
    nvlm_session_free(s);
    nvlm_free(m);
    nv_st_close(g);
}

/* Scratch copy of hf/idefics3/model; edit_cfg / edit_prep change
 * config.json / preprocessor_config.json. */
static void refusal(const char *golden, void (*edit_cfg)(cJSON *),
                    void (*edit_prep)(cJSON *), const char *fusion,
                    const char *needle, const char *label)
{
    char src[1024], path[1200];
    snprintf(src, sizeof src, "%s/hf/idefics3/model", golden);
    const char *edited[2] = {"config.json", "preprocessor_config.json"};
    void (*edits[2])(cJSON *) = {edit_cfg, edit_prep};
    hub_tmp t;
    if (!CHECK(hub_tmp_make(&t) == 0))
        return;
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        snprintf(path, sizeof path, "%s/%s", src, edited[i]);
        char *text = test_read_file(path, NULL);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (j && edits[i])
            edits[i](j);
        char *out = j ? cJSON_Print(j) : NULL;
        ok = out && hub_tmp_write(&t, edited[i], out) == 0;
        free(out);
        cJSON_Delete(j);
    }
    const char *files[] = {"model.safetensors", "vocab.json", "merges.txt",
                           "tokenizer_config.json",
                           "special_tokens_map.json"};
    for (size_t i = 0; ok && i < sizeof files / sizeof files[0]; i++)
        ok = hub_tmp_link(&t, src, files[i]) == 0;
    if (CHECK(ok))
        hub_expect_refusal(t.dir, fusion, needle, label);
    hub_tmp_clean(&t);
}

static void no_vision_config(cJSON *c)
{
    cJSON_DeleteItemFromObject(c, "vision_config");
}

static void bad_scale(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "scale_factor", cJSON_CreateNumber(3));
}

static void no_split(cJSON *c)
{
    cJSON_ReplaceItemInObject(c, "do_image_splitting", cJSON_CreateFalse());
}

/* The whole-image frame sizes of the processor for a few shapes (worked
 * by hand from transformers' formulas). */
static void check_sizes(void)
{
    int w, h;
    nv_idefics3_resize_size(100, 75, 128, &w, &h);
    CHECK(w == 128 && h == 96);
    nv_idefics3_resize_size(120, 50, 128, &w, &h); /* 53.33 -> 53 -> 54 */
    CHECK(w == 128 && h == 54);
    nv_idefics3_resize_size(50, 120, 128, &w, &h);
    CHECK(w == 54 && h == 128);
    nv_idefics3_frame_size(128, 96, 64, &w, &h);
    CHECK(w == 128 && h == 128);
    nv_idefics3_frame_size(128, 54, 64, &w, &h);
    CHECK(w == 128 && h == 64);
    nv_idefics3_frame_size(40, 30, 64, &w, &h);
    CHECK(w == 64 && h == 64);
}

int main(void)
{
    const char *golden = check_golden_dir();
    check_sizes();
    run_case(golden);
    refusal(golden, NULL, NULL, "x", "no 'x' fusion", "--fusion x");
    refusal(golden, no_vision_config, NULL, NULL, "vision_config",
            "no vision_config");
    refusal(golden, bad_scale, NULL, NULL, "scale_factor",
            "scale_factor 3");
    refusal(golden, NULL, no_split, NULL, "do_image_splitting",
            "do_image_splitting false");
    return check_summary("family_idefics3");
}
