/* family_llava.c - LLaVA 1.5 (LlavaForConditionalGeneration) as downloaded:
 * a CLIP or SigLIP tower, the hidden states of `vision_feature_layer`
 * (CLS dropped for strategy "default", kept for "full"), the two-layer
 * multi_modal_projector, and the rows in place of the "<image>" tokens of
 * the "USER: <image>\n... ASSISTANT:" prompt (paradigm D).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/matmul.h"
#include "fusion/family.h"
#include "fusion/family_hub.h"
#include "vision/clip_vit.h"
#include "vision/llava_preprocess.h"

typedef struct llava_ctx {
    nv_clip_vit *tower;
    int drop_cls;      /* strategy "default": the CLS row is not a feature */
    nv_tensor w1, b1;  /* linear_1 [H, C] */
    nv_tensor w2, b2;  /* linear_2 [H, H] */
    nv_act act;
    int hidden;        /* LLM width */
    int rows_per_image;
    nv_llava_prep prep;
    char bos[64];
} llava_ctx;

static const char image_token[] = "<image>";

static int llava_matches(const cJSON *config)
{
    return nv_hub_matches(config, "LlavaForConditionalGeneration", "llava");
}

static int llava_llm_config(const cJSON *config, const char *file,
                            nv_llm_config *cfg, nv_error *err)
{
    int tie_given = 0;
    if (nv_hub_text_config(config, file, cfg, &tie_given, err))
        return -1;
    /* LlamaConfig / Qwen2Config default to an untied head. */
    if (!tie_given)
        cfg->tie_word_embeddings = 0;
    snprintf(cfg->weight_prefix, sizeof cfg->weight_prefix,
             "language_model.");
    return 0;
}

static void llava_free(void *p)
{
    llava_ctx *c = p;
    if (!c)
        return;
    nv_clip_vit_free(c->tower);
    nv_tensor_free(&c->w1);
    nv_tensor_free(&c->b1);
    nv_tensor_free(&c->w2);
    nv_tensor_free(&c->b2);
    free(c);
}

/* vision_feature_layer -> how many tower layers run (hidden_states index). */
static int feature_layer(const cJSON *config, const char *file, int layers,
                         int *index, nv_error *err)
{
    const cJSON *v = nv_json_get(config, "vision_feature_layer");
    int64_t k = -2;
    if (v && !cJSON_IsNumber(v))
        return nv_fail(err, "%s: vision_feature_layer must be one integer "
                       "(lists of layers are not supported)", file);
    /* The range is the tower's hidden states, counted from either end. */
    if (v && nv_json_as_int(v, "vision_feature_layer", file, -(layers + 1),
                            layers, &k, err))
        return -1;
    *index = k < 0 ? layers + 1 + (int)k : (int)k;
    return 0;
}

static int load_projector(const nv_safetensors *st, const cJSON *config,
                          const char *file, int C, int H, llava_ctx *c,
                          nv_error *err)
{
    const char *act = NULL;
    int bias = 1;
    if (nv_json_str_opt(config, "projector_hidden_act", file, "gelu", &act,
                        err) ||
        nv_json_bool_opt(config, "multimodal_projector_bias", file, 1, &bias,
                         err))
        return -1;
    if (nv_act_parse(act, &c->act))
        return nv_fail(err, "%s: projector_hidden_act '%s' is not supported "
                       "(gelu, gelu_pytorch_tanh, quick_gelu)", file, act);
    int64_t s1[2] = {H, C}, s2[2] = {H, H}, sb[1] = {H};
    const char *p = "multi_modal_projector.";
    char n[4][96];
    snprintf(n[0], sizeof n[0], "%slinear_1.weight", p);
    snprintf(n[1], sizeof n[1], "%slinear_1.bias", p);
    snprintf(n[2], sizeof n[2], "%slinear_2.weight", p);
    snprintf(n[3], sizeof n[3], "%slinear_2.bias", p);
    if (nv_st_get_f32(st, n[0], 2, s1, &c->w1, err) ||
        nv_st_get_f32(st, n[2], 2, s2, &c->w2, err))
        return -1;
    if (bias && (nv_st_get_f32(st, n[1], 1, sb, &c->b1, err) ||
                 nv_st_get_f32(st, n[3], 1, sb, &c->b2, err)))
        return -1;
    return 0;
}

static int load_prep(const char *file, llava_ctx *c, int image_size,
                     nv_error *err)
{
    char path[1200];
    cJSON *pp = nv_hub_sibling_json(file, "preprocessor_config.json", path,
                                    sizeof path, err);
    if (!pp)
        return -1;
    int rc = nv_llava_prep_parse(pp, path, &c->prep, err);
    cJSON_Delete(pp);
    if (rc)
        return -1;
    int out_w = c->prep.do_center_crop ? c->prep.crop_w : c->prep.resize_w;
    int out_h = c->prep.do_center_crop ? c->prep.crop_h : c->prep.resize_h;
    if (!c->prep.do_resize && !c->prep.do_center_crop)
        return nv_fail(err, "%s: neither do_resize nor do_center_crop: the "
                       "image size would not be fixed", path);
    if ((c->prep.do_center_crop || c->prep.shortest_edge == 0) &&
        (out_w != image_size || out_h != image_size))
        return nv_fail(err, "%s: images come out %dx%d; the tower takes "
                       "%dx%d", path, out_w, out_h, image_size, image_size);
    return 0;
}

static int llava_load(const nv_safetensors *st, const cJSON *config,
                      const char *file, const nv_llm_config *llm, void **ctx,
                      nv_error *err)
{
    *ctx = NULL;
    llava_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return nv_fail(err, "out of memory");
    nv_clip_vit_config vc;
    const char *strategy = NULL;
    int index = 0;
    int rc = nv_clip_vit_config_parse(nv_json_get(config, "vision_config"),
                                      file, "vision_config", &vc, err);
    if (!rc)
        rc = nv_json_str_opt(config, "vision_feature_select_strategy", file,
                             "default", &strategy, err);
    if (!rc && strcmp(strategy, "default") != 0 && strcmp(strategy, "full"))
        rc = nv_fail(err, "%s: vision_feature_select_strategy '%s' is not "
                     "'default' or 'full'", file, strategy);
    if (!rc)
        rc = feature_layer(config, file, vc.layers, &index, err);
    if (!rc) {
        c->drop_cls = !strcmp(strategy, "default");
        c->hidden = llm->hidden_size;
        c->rows_per_image = nv_clip_vit_tokens(&vc) - c->drop_cls;
        if (c->rows_per_image < 1)
            rc = nv_fail(err, "%s: strategy 'default' drops the only token "
                         "of the tower", file);
    }
    if (!rc)
        rc = nv_clip_vit_load(st, "vision_tower.vision_model.", &vc, index, 0,
                              &c->tower, err);
    if (!rc)
        rc = load_projector(st, config, file, vc.hidden, llm->hidden_size, c,
                            err);
    if (!rc)
        rc = load_prep(file, c, vc.image_size, err);
    if (!rc)
        rc = nv_hub_bos_text(file, c->bos, sizeof c->bos, err);
    if (rc) {
        llava_free(c);
        return -1;
    }
    *ctx = c;
    return 0;
}

static int llava_preprocess(void *ctx, const nv_image *img,
                            nv_family_image *out, nv_error *err)
{
    llava_ctx *c = ctx;
    memset(out, 0, sizeof *out);
    const nv_clip_vit_config *vc = nv_clip_vit_config_of(c->tower);
    if (nv_llava_preprocess(img, &c->prep, &out->pixels, err))
        return -1;
    if (out->pixels.shape[2] != vc->image_size ||
        out->pixels.shape[3] != vc->image_size) {
        int h = (int)out->pixels.shape[2], w = (int)out->pixels.shape[3];
        nv_family_image_free(out);
        return nv_fail(err, "llava: the image processor made %dx%d pixels; "
                       "the tower takes %dx%d (a shortest_edge resize needs "
                       "a centre crop)", w, h, vc->image_size,
                       vc->image_size);
    }
    out->n_tiles = 1;
    out->cols = out->rows = 1;
    return 0;
}

static int llava_encode(void *ctx, nv_pool *pool, const nv_family_image *img,
                        float **rows, int *n_rows, nv_error *err)
{
    llava_ctx *c = ctx;
    const nv_clip_vit_config *vc = nv_clip_vit_config_of(c->tower);
    int n = img->n_tiles;
    *rows = NULL;
    *n_rows = 0;
    if (nv_hub_check_frames(img, vc->image_size, "llava", err))
        return -1;
    int T = nv_clip_vit_tokens(vc), C = vc->hidden, H = c->hidden;
    int R = c->rows_per_image;
    float *states = malloc(sizeof(float) * (size_t)n * T * C);
    float *mid = malloc(sizeof(float) * (size_t)n * R * H);
    float *out = malloc(sizeof(float) * (size_t)n * R * H);
    int rc = (!states || !mid || !out)
                 ? nv_fail(err, "llava: out of memory encoding the image")
                 : 0;
    if (!rc)
        rc = nv_clip_vit_forward(c->tower, pool, img->pixels.data, n, NULL,
                                 NULL, states, err);
    if (!rc) {
        /* Pack the feature rows of every image (CLS dropped) together;
         * each destination lies before its source. */
        for (int t = 0; t < n; t++)
            memmove(states + (size_t)t * R * C,
                    states + ((size_t)t * T + c->drop_cls) * C,
                    sizeof(float) * (size_t)R * C);
        nv_linear(mid, states, c->w1.data, c->b1.data, n * R, C, H);
        nv_act_apply(pool, c->act, mid, (size_t)n * R * H);
        nv_linear(out, mid, c->w2.data, c->b2.data, n * R, H, H);
    }
    free(states);
    free(mid);
    if (rc) {
        free(out);
        return -1;
    }
    *rows = out;
    *n_rows = n * R;
    return 0;
}

/* raw: the user's text with its "<image>" expanded; else LLaVA 1.5's
 * "USER: <image>\n{question} ASSISTANT:" after the BOS text. */
static char *llava_prompt(void *ctx, const nv_family_image *img,
                          const char *question, int raw, nv_error *err)
{
    llava_ctx *c = ctx;
    int count = img ? img->n_tiles * c->rows_per_image : 0;
    nv_strbuf b = {0};
    if (raw) {
        const char *at = NULL;
        if (nv_hub_raw_image_at(question, image_token, img != NULL, "llava",
                                &at, err))
            return NULL;
        if (!at) {
            nv_strbuf_add(&b, question);
        } else {
            nv_strbuf_addn(&b, question, (size_t)(at - question));
            nv_strbuf_repeat(&b, image_token, count);
            nv_strbuf_add(&b, at + strlen(image_token));
        }
        return nv_strbuf_finish(&b, err);
    }
    nv_strbuf_add(&b, c->bos);
    nv_strbuf_add(&b, "USER: ");
    if (img) {
        nv_strbuf_repeat(&b, image_token, count);
        nv_strbuf_add(&b, "\n");
    }
    nv_strbuf_add(&b, question);
    nv_strbuf_add(&b, " ASSISTANT:");
    return nv_strbuf_finish(&b, err);
}

const nv_family nv_family_llava = {
    .name = "llava",
    .paradigm = NV_PARADIGM_D,
    .matches = llava_matches,
    .llm_config = llava_llm_config,
    .load = llava_load,
    .free = llava_free,
    .preprocess = llava_preprocess,
    .encode = llava_encode,
    .prompt = llava_prompt,
    .image_token = image_token,
};
