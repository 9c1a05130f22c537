/* family_mllama.c - Llama 3.2 Vision (MllamaForConditionalGeneration) as
 * downloaded: the X-type hub family (fusion/family.h).
 *
 * Parts: the tiled vision encoder (vision/mllama_vision.h), the
 * multi_modal_projector (one Linear with bias from vision_output_dim to the
 * LM width), and gated cross-attention layers that take the place of the
 * text model's layers listed in text_config.cross_attention_layers: the
 * decoder skips those layers (nv_llm_config.skip_layers) and the hook runs
 * the cross-attention layer there (fusion/xattn.h with Mllama's tensor
 * names). Without an image they are skipped altogether, as upstream.
 *
 * Cross-attention mask (MllamaProcessor + _prepare_cross_attention_mask for
 * one image): tokens from the <|image|> token on see the keys of the real
 * tiles (padding tiles masked); a token before it sees no tile, so upstream
 * zeroes its mask row: it attends to every key, padding tiles included,
 * and only its MLP output is dropped (full_text_row_masked_out_mask).
 * Generated tokens use the mask of the last prompt token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "core/matmul.h"
#include "fusion/family.h"
#include "fusion/family_hub.h"
#include "fusion/xattn.h"
#include "vision/mllama_preprocess.h"
#include "vision/mllama_vision.h"

/* Upstream MllamaTextConfig defaults for the keys a config may omit. */
#define MLLAMA_ROPE_THETA 500000.0
#define MLLAMA_RMS_EPS 1e-5
/* The text embedding table has this many rows past vocab_size. */
#define MLLAMA_EXTRA_EMBEDDINGS 8
#define MLLAMA_DEFAULT_IMAGE_TOKEN 128256

typedef struct mllama_ctx {
    nv_mllama_vision *vision;
    nv_tensor proj_w; /* [H, vision out dim] */
    nv_tensor proj_b; /* [H] */
    int hidden;
    nv_mllama_prep_opts prep;
    int n_cross;
    int cross_layer[NV_LLM_MAX_SKIP];
    nv_xattn *xattn[NV_LLM_MAX_SKIP];
    int image_token_id;
    /* The image set by xattn_set_memory. */
    int n_keys;      /* all tiles' rows, padding tiles included */
    int n_real_keys; /* the real tiles' rows (they come first) */
    nv_xattn_scratch scratch;
    int *begin, *end;
    unsigned char *mlp_off;
    int row_capacity;
} mllama_ctx;

static int mllama_matches(const cJSON *config)
{
    return nv_hub_matches(config, "MllamaForConditionalGeneration", "mllama");
}

/* Sets key to a number when the object lacks it. */
static int default_number(cJSON *obj, const char *key, double v)
{
    if (nv_json_get(obj, key))
        return 0;
    return cJSON_AddNumberToObject(obj, key, v) ? 0 : -1;
}

static int parse_cross_layers(const cJSON *tc, const char *file,
                              nv_llm_config *cfg, nv_error *err)
{
    const cJSON *list = nv_json_get(tc, "cross_attention_layers");
    if (!list)
        return nv_fail(err, "%s: text_config: missing key "
                       "'cross_attention_layers'", file);
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1 ||
        cJSON_GetArraySize(list) > NV_LLM_MAX_SKIP)
        return nv_fail(err, "%s: text_config.cross_attention_layers must "
                       "list 1 to %d layer indices", file, NV_LLM_MAX_SKIP);
    int prev = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        char key[64];
        snprintf(key, sizeof key, "text_config.cross_attention_layers[%d]",
                 cfg->n_skip_layers);
        int64_t v;
        if (nv_json_as_int(it, key, file, 0, cfg->n_layers - 1, &v, err))
            return -1;
        if (v <= prev)
            return nv_fail(err, "%s: text_config.cross_attention_layers must "
                           "be strictly increasing integers in [0, %d)",
                           file, cfg->n_layers);
        prev = (int)v;
        cfg->skip_layers[cfg->n_skip_layers++] = prev;
    }
    return 0;
}

static int mllama_llm_config(const cJSON *config, const char *file,
                             nv_llm_config *cfg, nv_error *err)
{
    const cJSON *tc = NULL;
    if (nv_json_obj_req(config, "text_config", file, &tc, err))
        return -1;
    const char *type = NULL;
    if (nv_json_str_opt(tc, "model_type", file, "mllama_text_model", &type,
                        err))
        return -1;
    if (strcmp(type, "mllama_text_model") != 0)
        return nv_fail(err, "%s: text_config.model_type '%s' is not "
                       "mllama_text_model", file, type);
    /* The text model is a Llama decoder with Mllama's defaults; parse a
     * copy that says so. */
    cJSON *copy = cJSON_Duplicate(tc, 1);
    if (!copy)
        return nv_fail(err, "out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "model_type");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "architectures");
    int rc = 0;
    if (!cJSON_AddStringToObject(copy, "model_type", "llama") ||
        default_number(copy, "rope_theta", MLLAMA_ROPE_THETA) ||
        default_number(copy, "rms_norm_eps", MLLAMA_RMS_EPS) ||
        (!nv_json_get(copy, "tie_word_embeddings") &&
         !cJSON_AddFalseToObject(copy, "tie_word_embeddings")))
        rc = nv_fail(err, "out of memory");
    if (!rc)
        rc = nv_llm_config_parse(copy, file, "text_config", cfg, err);
    cJSON_Delete(copy);
    if (rc)
        return -1;
    snprintf(cfg->weight_prefix, sizeof cfg->weight_prefix,
             "language_model.");
    cfg->embed_rows = cfg->vocab_size + MLLAMA_EXTRA_EMBEDDINGS;
    return parse_cross_layers(tc, file, cfg, err);
}

static void mllama_free(void *p)
{
    mllama_ctx *c = p;
    if (!c)
        return;
    nv_mllama_vision_free(c->vision);
    nv_tensor_free(&c->proj_w);
    nv_tensor_free(&c->proj_b);
    for (int i = 0; i < c->n_cross; i++)
        nv_xattn_free(c->xattn[i]);
    nv_xattn_scratch_free(&c->scratch);
    free(c->begin);
    free(c->end);
    free(c->mlp_off);
    free(c);
}

/* Image processor settings: preprocessor_config.json next to config.json
 * when present, else MllamaImageProcessor's defaults for this encoder. */
static int load_prep(mllama_ctx *c, const char *config_file, nv_error *err)
{
    const nv_mllama_vision_config *vc = nv_mllama_vision_config_of(c->vision);
    c->prep.tile_size = vc->image_size;
    c->prep.max_tiles = vc->max_tiles;
    c->prep.rescale = 1.0 / 255.0;
    for (int i = 0; i < 3; i++) {
        c->prep.mean[i] = 0.5f;
        c->prep.std[i] = 0.5f;
    }
    char path[1200];
    nv_hub_sibling_path(config_file, "preprocessor_config.json", path,
                        sizeof path);
    /* Optional: absent means the defaults. Only probed here (an fopen
     * would block on a FIFO); nv_json_load refuses what is not a file. */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;
    cJSON *pc = nv_json_load(path, 1u << 20, err);
    if (!pc)
        return -1;
    int rc = 0;
    int64_t tiles = c->prep.max_tiles, resample = 2;
    const cJSON *size = nv_json_get(pc, "size");
    int64_t h = vc->image_size, w = vc->image_size;
    if (nv_json_int_opt(pc, "max_image_tiles", path, tiles, &tiles, err) ||
        nv_json_num_opt(pc, "rescale_factor", path, c->prep.rescale,
                        &c->prep.rescale, err) ||
        nv_json_int_opt(pc, "resample", path, 2, &resample, err) ||
        (size && (nv_json_int_opt(size, "height", path, h, &h, err) ||
                  nv_json_int_opt(size, "width", path, w, &w, err))))
        rc = -1;
    if (!rc && (h != vc->image_size || w != vc->image_size))
        rc = nv_fail(err, "%s: size %lldx%lld is not the encoder's "
                     "image_size %d", path, (long long)w, (long long)h,
                     vc->image_size);
    if (!rc && (tiles < 1 || tiles > vc->max_tiles))
        rc = nv_fail(err, "%s: max_image_tiles %lld is outside [1, %d]",
                     path, (long long)tiles, vc->max_tiles);
    if (!rc && resample != 2)
        rc = nv_fail(err, "%s: resample %lld is not supported (2, "
                     "bilinear)", path, (long long)resample);
    const char *keys[2] = {"image_mean", "image_std"};
    float *dst[2] = {c->prep.mean, c->prep.std};
    for (int k = 0; k < 2 && !rc; k++) {
        const cJSON *a = nv_json_get(pc, keys[k]);
        if (!a)
            continue;
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3)
            rc = nv_fail(err, "%s: %s must list 3 numbers", path, keys[k]);
        for (int i = 0; i < 3 && !rc; i++) {
            const cJSON *v = cJSON_GetArrayItem(a, i);
            char key[32];
            snprintf(key, sizeof key, "%s[%d]", keys[k], i);
            double x = 0;
            /* Finite and within float range: a wider double does not
             * convert to float (undefined). */
            rc = nv_json_as_num(v, key, path, k ? 1e-30 : -1e30, 1e30, &x,
                                err);
            if (!rc)
                dst[k][i] = (float)x;
        }
    }
    c->prep.max_tiles = (int)tiles;
    cJSON_Delete(pc);
    return rc;
}

static int load_cross_layers(mllama_ctx *c, const nv_safetensors *st,
                             const nv_llm_config *llm, nv_error *err)
{
    nv_xattn_dims dims = {
        .hidden = llm->hidden_size,
        .n_heads = llm->n_heads,
        .n_kv_heads = llm->n_kv_heads,
        .head_dim = llm->head_dim,
        .rms_eps = (float)llm->rms_norm_eps,
    };
    for (int i = 0; i < llm->n_skip_layers; i++) {
        char prefix[96];
        snprintf(prefix, sizeof prefix, "%smodel.layers.%d.",
                 llm->weight_prefix, llm->skip_layers[i]);
        c->cross_layer[i] = llm->skip_layers[i];
        if (nv_xattn_load(st, prefix, nv_xattn_mllama_names(), &dims,
                          &c->xattn[i], err))
            return -1;
        c->n_cross = i + 1;
    }
    return 0;
}

static int mllama_load(const nv_safetensors *st, const cJSON *config,
                       const char *file, const nv_llm_config *llm,
                       void **out, nv_error *err)
{
    *out = NULL;
    mllama_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return nv_fail(err, "out of memory");
    c->hidden = llm->hidden_size;
    const cJSON *vc = NULL;
    int64_t image_token = 0;
    if (nv_json_obj_req(config, "vision_config", file, &vc, err) ||
        nv_json_int_opt(config, "image_token_index", file,
                        MLLAMA_DEFAULT_IMAGE_TOKEN, &image_token, err) ||
        nv_mllama_vision_load(st, vc, file, &c->vision, err) ||
        load_prep(c, file, err))
        goto fail;
    if (image_token < 0 || image_token >= nv_llm_config_input_vocab(llm)) {
        nv_fail(err, "%s: image_token_index %lld is outside the embedding "
                "table of %d rows", file, (long long)image_token,
                nv_llm_config_input_vocab(llm));
        goto fail;
    }
    c->image_token_id = (int)image_token;
    int64_t od = nv_mllama_vision_out_dim(c->vision);
    int64_t pw[2] = {llm->hidden_size, od}, pb[1] = {llm->hidden_size};
    if (nv_st_get_f32(st, "multi_modal_projector.weight", 2, pw, &c->proj_w,
                      err) ||
        nv_st_get_f32(st, "multi_modal_projector.bias", 1, pb, &c->proj_b,
                      err) ||
        load_cross_layers(c, st, llm, err))
        goto fail;
    *out = c;
    return 0;
fail:
    mllama_free(c);
    return -1;
}

static int mllama_preprocess(void *ctx, const nv_image *img,
                             nv_family_image *out, nv_error *err)
{
    mllama_ctx *c = ctx;
    nv_mllama_prep_out p;
    memset(out, 0, sizeof *out);
    if (nv_mllama_preprocess(img, &c->prep, &p, err))
        return -1;
    out->pixels = p.pixels;
    out->n_tiles = p.n_tiles;
    out->cols = p.cols;
    out->rows = p.rows;
    out->aux[0] = p.aspect_ratio_id;
    return 0;
}

/* rows: [max_tiles * tokens, H], padding tiles included (they are keys
 * that the mask hides). */
static int mllama_encode(void *ctx, nv_pool *pool, const nv_family_image *img,
                         float **rows, int *n_rows, nv_error *err)
{
    mllama_ctx *c = ctx;
    const nv_mllama_vision_config *vc = nv_mllama_vision_config_of(c->vision);
    int T = vc->max_tiles, N = nv_mllama_vision_tokens(c->vision);
    int OD = nv_mllama_vision_out_dim(c->vision), S = vc->image_size;
    const nv_tensor *px = &img->pixels;
    if (px->ndim != 4 || px->shape[1] != 3 || px->shape[2] != S ||
        px->shape[3] != S || px->shape[0] < 1 || px->shape[0] > T)
        return nv_fail(err, "mllama: pixel values must be [<= %d, 3, %d, %d]",
                       T, S, S);
    if (img->n_tiles < 1 || img->n_tiles > px->shape[0])
        return nv_fail(err, "mllama: %d real tiles in %lld", img->n_tiles,
                       (long long)px->shape[0]);
    size_t plane = (size_t)3 * S * S;
    float *pixels = calloc((size_t)T * plane, sizeof(float));
    float *vis = malloc(sizeof(float) * (size_t)T * N * OD);
    float *out = malloc(sizeof(float) * (size_t)T * N * c->hidden);
    int rc = 0;
    if (!pixels || !vis || !out) {
        rc = nv_fail(err, "mllama: out of memory encoding %d tiles", T);
        goto done;
    }
    /* Fewer tiles than max_tiles: the rest are zero padding tiles. */
    memcpy(pixels, px->data, sizeof(float) * (size_t)px->shape[0] * plane);
    rc = nv_mllama_vision_encode(c->vision, pool, pixels, img->aux[0],
                                 img->n_tiles, vis, err);
    if (!rc)
        nv_linear(out, vis, nv_tensor_f32(&c->proj_w),
                  nv_tensor_f32(&c->proj_b), T * N, OD, c->hidden);
done:
    free(pixels);
    free(vis);
    if (rc) {
        free(out);
        return -1;
    }
    *rows = out;
    *n_rows = T * N;
    return 0;
}

static int count_markers(const char *text, const char *marker)
{
    int n = 0;
    for (const char *p = strstr(text, marker); p;
         p = strstr(p + strlen(marker), marker))
        n++;
    return n;
}

/* raw: the question itself, with Llama 3.2 Vision's own marker
 * "<|image|>" where the image goes, as MllamaProcessor takes it: one marker
 * per image (none without one; "<image>" is plain text to this model), and
 * BOS placed after the leading image markers unless the text already holds
 * one. Otherwise the Llama 3.2 Vision chat template for one user turn. */
static char *mllama_prompt(void *ctx, const nv_family_image *img,
                           const char *question, int raw, nv_error *err)
{
    (void)ctx;
    const char *bos = "<|begin_of_text|>", *image = "<|image|>";
    size_t image_len = strlen(image);
    nv_strbuf b = {0};
    if (!raw) {
        nv_strbuf_add(&b, bos);
        nv_strbuf_add(&b, "<|start_header_id|>user<|end_header_id|>\n\n");
        if (img)
            nv_strbuf_add(&b, image);
        nv_strbuf_add(&b, question);
        nv_strbuf_add(&b, "<|eot_id|><|start_header_id|>assistant"
                          "<|end_header_id|>\n\n");
        return nv_strbuf_finish(&b, err);
    }
    int markers = count_markers(question, image);
    if (markers != (img ? 1 : 0)) {
        nv_fail(err, "mllama: the raw prompt has %d \"%s\" but %d image "
                "is given (Llama 3.2 Vision marks the image with %s, one "
                "per image)", markers, image, img ? 1 : 0, image);
        return NULL;
    }
    if (strstr(question, bos)) {
        nv_strbuf_add(&b, question);
        return nv_strbuf_finish(&b, err);
    }
    /* Leading image markers, then BOS, then the rest of the text. */
    const char *rest = question;
    while (!strncmp(rest, image, image_len)) {
        nv_strbuf_add(&b, image);
        rest += image_len;
    }
    nv_strbuf_add(&b, bos);
    nv_strbuf_add(&b, rest);
    return nv_strbuf_finish(&b, err);
}

static int mllama_set_memory(void *ctx, const float *rows, int n_rows,
                             const nv_family_image *img, nv_error *err)
{
    mllama_ctx *c = ctx;
    int N = nv_mllama_vision_tokens(c->vision);
    c->n_keys = c->n_real_keys = 0;
    if (!rows || n_rows == 0 || !img) {
        for (int i = 0; i < c->n_cross; i++)
            if (nv_xattn_set_image(c->xattn[i], NULL, 0, err))
                return -1;
        return 0;
    }
    if (img->n_tiles < 1 || (int64_t)img->n_tiles * N > n_rows)
        return nv_fail(err, "mllama: %d real tiles for %d image rows",
                       img->n_tiles, n_rows);
    for (int i = 0; i < c->n_cross; i++)
        if (nv_xattn_set_image(c->xattn[i], rows, n_rows, err))
            return -1;
    c->n_keys = n_rows;
    c->n_real_keys = img->n_tiles * N;
    return 0;
}

static int layer_index(const mllama_ctx *c, int layer)
{
    for (int i = 0; i < c->n_cross; i++)
        if (c->cross_layer[i] == layer)
            return i;
    return -1;
}

static int mllama_skips_layer(void *ctx, int layer)
{
    return layer_index(ctx, layer) >= 0;
}

static int reserve_rows(mllama_ctx *c, int T, nv_error *err)
{
    if (T <= c->row_capacity)
        return 0;
    int *b = realloc(c->begin, sizeof(int) * (size_t)T);
    if (b)
        c->begin = b;
    int *e = b ? realloc(c->end, sizeof(int) * (size_t)T) : NULL;
    if (e)
        c->end = e;
    unsigned char *m = e ? realloc(c->mlp_off, (size_t)T) : NULL;
    if (!m)
        return nv_fail(err, "out of memory");
    c->mlp_off = m;
    c->row_capacity = T;
    return 0;
}

static int mllama_hook(void *ctx, nv_pool *pool, int layer, float *hidden,
                       int T, int pos0, const int32_t *ids, nv_error *err)
{
    mllama_ctx *c = ctx;
    int j = layer_index(c, layer);
    if (j < 0 || c->n_keys == 0)
        return 0;
    /* The first <|image|> among the tokens so far; positions from it on
     * see the real tiles. */
    int image_pos = -1;
    for (int i = 0; i < pos0 + T && image_pos < 0; i++)
        if (ids[i] == c->image_token_id)
            image_pos = i;
    if (reserve_rows(c, T, err) ||
        nv_xattn_scratch_reserve(&c->scratch, c->xattn[j], T,
                                 pool ? nv_pool_size(pool) : 1, err))
        return -1;
    for (int t = 0; t < T; t++) {
        int sees = image_pos >= 0 && pos0 + t >= image_pos;
        c->begin[t] = 0;
        c->end[t] = sees ? c->n_real_keys : c->n_keys;
        c->mlp_off[t] = !sees;
    }
    nv_xattn_rows rows = {c->begin, c->end};
    return nv_xattn_forward_mlp_masked(c->xattn[j], pool, hidden, T, &rows,
                                       c->mlp_off, &c->scratch, err);
}

const nv_family nv_family_mllama = {
    .name = "Llama 3.2 Vision (mllama)",
    .paradigm = NV_PARADIGM_X,
    .matches = mllama_matches,
    .llm_config = mllama_llm_config,
    .load = mllama_load,
    .free = mllama_free,
    .preprocess = mllama_preprocess,
    .encode = mllama_encode,
    .prompt = mllama_prompt,
    .image_token = "<|image|>",
    .xattn_set_memory = mllama_set_memory,
    .xattn_hook = mllama_hook,
    .skips_layer = mllama_skips_layer,
};
