/* family_idefics3.c - Idefics3ForConditionalGeneration (Idefics3, SmolVLM)
 * as downloaded (paradigm D): the image split into rows x cols frames plus
 * a global frame (vision/idefics3_preprocess.c), each through the SigLIP
 * tower with post_layernorm, Idefics3's pixel shuffle (scale_factor s:
 * output token (i, j) holds patches (s*i + q, s*j + p), q outer, p inner),
 * one bias-free linear map to the LLM width, and the rows in place of the
 * "<image>" tokens of the processor's expansion:
 *   per frame  <fake_token_around_image><row_r_col_c><image>*N, a "\n"
 *   after each row, then "\n<fake_token_around_image><global-img>"
 *   <image>*N "<fake_token_around_image>" (unsplit: only the global part
 *   without the leading "\n").
 * The decoder is "model.text_model.*" with the head "lm_head.weight".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/matmul.h"
#include "fusion/family.h"
#include "fusion/family_hub.h"
#include "vision/clip_vit.h"
#include "vision/idefics3_preprocess.h"
#include "vision/pixel_shuffle.h"

typedef struct idefics3_ctx {
    nv_clip_vit *tower;
    int scale;           /* pixel shuffle factor */
    nv_tensor proj;      /* [H, C * scale^2] */
    int hidden;          /* LLM width */
    int rows_per_frame;  /* image_seq_len */
    nv_idefics3_prep prep;
    char bos[64];
} idefics3_ctx;

static const char image_token[] = "<image>";
static const char fake_token[] = "<fake_token_around_image>";
static const char global_token[] = "<global-img>";

static int idefics3_matches(const cJSON *config)
{
    return nv_hub_matches(config, "Idefics3ForConditionalGeneration",
                          "idefics3");
}

static int idefics3_llm_config(const cJSON *config, const char *file,
                               nv_llm_config *cfg, nv_error *err)
{
    int tie_given = 0, tie = 0;
    if (nv_hub_text_config(config, file, cfg, &tie_given, err))
        return -1;
    /* Idefics3 ties by its own top-level flag (default: untied). */
    if (nv_json_bool_opt(config, "tie_word_embeddings", file,
                         tie_given ? cfg->tie_word_embeddings : 0, &tie, err))
        return -1;
    cfg->tie_word_embeddings = tie;
    cfg->weight_prefix[0] = '\0';
    snprintf(cfg->body_prefix, sizeof cfg->body_prefix, "model.text_model.");
    snprintf(cfg->head_name, sizeof cfg->head_name, "lm_head.weight");
    return 0;
}

static void idefics3_free(void *p)
{
    idefics3_ctx *c = p;
    if (!c)
        return;
    nv_clip_vit_free(c->tower);
    nv_tensor_free(&c->proj);
    free(c);
}

static int load_prep(const char *file, idefics3_ctx *c, int image_size,
                     nv_error *err)
{
    char path[1200];
    cJSON *pp = nv_hub_sibling_json(file, "preprocessor_config.json", path,
                                    sizeof path, err);
    if (!pp)
        return -1;
    int rc = nv_idefics3_prep_parse(pp, path, &c->prep, err);
    cJSON_Delete(pp);
    if (!rc && c->prep.frame != image_size)
        rc = nv_fail(err, "%s: max_image_size.longest_edge %d differs from "
                     "the tower's image_size %d", path, c->prep.frame,
                     image_size);
    return rc;
}

static int idefics3_load(const nv_safetensors *st, const cJSON *config,
                         const char *file, const nv_llm_config *llm,
                         void **ctx, nv_error *err)
{
    *ctx = NULL;
    idefics3_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return nv_fail(err, "out of memory");
    nv_clip_vit_config vc;
    int64_t scale = 2;
    int rc = nv_clip_vit_config_parse(nv_json_get(config, "vision_config"),
                                      file, "vision_config", &vc, err);
    if (!rc)
        rc = nv_json_int_opt(config, "scale_factor", file, 2, &scale, err);
    if (!rc && (scale < 1 || vc.grid % scale != 0))
        rc = nv_fail(err, "%s: scale_factor %lld does not divide the %d x %d "
                     "patch grid", file, (long long)scale, vc.grid, vc.grid);
    if (!rc) {
        c->scale = (int)scale;
        c->hidden = llm->hidden_size;
        c->rows_per_frame = (vc.grid / c->scale) * (vc.grid / c->scale);
        rc = nv_clip_vit_load(st, "model.vision_model.", &vc, vc.layers, 1,
                              &c->tower, err);
    }
    if (!rc) {
        int64_t shape[2] = {llm->hidden_size,
                            (int64_t)vc.hidden * c->scale * c->scale};
        rc = nv_st_get_f32(st, "model.connector.modality_projection.proj."
                           "weight", 2, shape, &c->proj, err);
    }
    if (!rc)
        rc = load_prep(file, c, vc.image_size, err);
    if (!rc)
        rc = nv_hub_bos_text(file, c->bos, sizeof c->bos, err);
    if (rc) {
        idefics3_free(c);
        return -1;
    }
    *ctx = c;
    return 0;
}

static int idefics3_preprocess(void *ctx, const nv_image *img,
                               nv_family_image *out, nv_error *err)
{
    idefics3_ctx *c = ctx;
    memset(out, 0, sizeof *out);
    int rows = 0, cols = 0;
    if (nv_idefics3_preprocess(img, &c->prep, &out->pixels, &rows, &cols,
                               err))
        return -1;
    out->n_tiles = (int)out->pixels.shape[0];
    out->rows = rows;
    out->cols = cols;
    return 0;
}

static int idefics3_encode(void *ctx, nv_pool *pool,
                           const nv_family_image *img, float **rows,
                           int *n_rows, nv_error *err)
{
    idefics3_ctx *c = ctx;
    const nv_clip_vit_config *vc = nv_clip_vit_config_of(c->tower);
    int n = img->n_tiles;
    *rows = NULL;
    *n_rows = 0;
    if (nv_hub_check_frames(img, vc->image_size, "idefics3", err))
        return -1;
    if (img->rows * img->cols + (img->rows ? 1 : 0) != n &&
        !(img->rows == 0 && n == 1))
        return nv_fail(err, "idefics3: %d frames for a %d x %d split", n,
                       img->rows, img->cols);
    int T = nv_clip_vit_tokens(vc), C = vc->hidden, H = c->hidden;
    int R = c->rows_per_frame, wide = C * c->scale * c->scale;
    float *states = malloc(sizeof(float) * (size_t)n * T * C);
    float *shuffled = malloc(sizeof(float) * (size_t)n * R * wide);
    float *out = malloc(sizeof(float) * (size_t)n * R * H);
    int rc = (!states || !shuffled || !out)
                 ? nv_fail(err, "idefics3: out of memory encoding %d frames",
                           n)
                 : 0;
    if (!rc)
        rc = nv_clip_vit_forward(c->tower, pool, img->pixels.data, n, NULL,
                                 NULL, states, err);
    /* Idefics3's view / permute / reshape sequence lands on the same order
     * as InternVL's version-2 shuffle. */
    if (!rc)
        rc = nv_pixel_shuffle(states, n, vc->grid, C, c->scale, 2, shuffled,
                              err);
    if (!rc)
        nv_linear(out, shuffled, c->proj.data, NULL, n * R, wide, H);
    free(states);
    free(shuffled);
    if (rc) {
        free(out);
        return -1;
    }
    *rows = out;
    *n_rows = n * R;
    return 0;
}

/* The processor's expansion of one "<image>". */
static void expand_image(const idefics3_ctx *c, const nv_family_image *img,
                         nv_strbuf *b)
{
    int N = c->rows_per_frame;
    for (int r = 0; r < img->rows; r++) {
        for (int col = 0; col < img->cols; col++) {
            nv_strbuf_add(b, fake_token);
            nv_strbuf_addf(b, "<row_%d_col_%d>", r + 1, col + 1);
            nv_strbuf_repeat(b, image_token, N);
        }
        nv_strbuf_add(b, "\n");
    }
    if (img->rows > 0)
        nv_strbuf_add(b, "\n");
    nv_strbuf_add(b, fake_token);
    nv_strbuf_add(b, global_token);
    nv_strbuf_repeat(b, image_token, N);
    nv_strbuf_add(b, fake_token);
}

/* raw: the user's text with its "<image>" expanded; else the chat template
 * "User:<image>{question}<end_of_utterance>\nAssistant:" after the BOS
 * text ("User: {question}..." without an image). */
static char *idefics3_prompt(void *ctx, const nv_family_image *img,
                             const char *question, int raw, nv_error *err)
{
    idefics3_ctx *c = ctx;
    nv_strbuf b = {0};
    if (raw) {
        const char *at = NULL;
        if (nv_hub_raw_image_at(question, image_token, img != NULL,
                                "idefics3", &at, err))
            return NULL;
        if (!at) {
            nv_strbuf_add(&b, question);
        } else {
            nv_strbuf_addn(&b, question, (size_t)(at - question));
            expand_image(c, img, &b);
            nv_strbuf_add(&b, at + strlen(image_token));
        }
        return nv_strbuf_finish(&b, err);
    }
    nv_strbuf_add(&b, c->bos);
    nv_strbuf_add(&b, "User:");
    if (img)
        expand_image(c, img, &b);
    else
        nv_strbuf_add(&b, " ");
    nv_strbuf_add(&b, question);
    nv_strbuf_add(&b, "<end_of_utterance>\nAssistant:");
    return nv_strbuf_finish(&b, err);
}

const nv_family nv_family_idefics3 = {
    .name = "idefics3",
    .paradigm = NV_PARADIGM_D,
    .matches = idefics3_matches,
    .llm_config = idefics3_llm_config,
    .load = idefics3_load,
    .free = idefics3_free,
    .preprocess = idefics3_preprocess,
    .encode = idefics3_encode,
    .prompt = idefics3_prompt,
    .image_token = image_token,
};
