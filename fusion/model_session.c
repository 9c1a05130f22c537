/* model_session.c - one prompt through the model: image -> tiles -> ViT ->
 * projector -> fusion (D rows in the stream, X/H cross-attention memory)
 * -> decoder -> sampled tokens (docs/model-format.md sections 8 and 9). */
#include "fusion/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/sampling.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void set_err(char *buf, size_t len, const nv_error *err)
{
    if (buf && len)
        snprintf(buf, len, "%s", err->msg);
}

void nvlm_gen_params_init(nvlm_gen_params *p)
{
    memset(p, 0, sizeof *p);
    p->max_new_tokens = 256;
    p->top_p = 1.0f;
}

nvlm_session *nvlm_session_new(nvlm_model *m, char *errbuf, size_t errlen)
{
    nvlm_session *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->m = m;
    nv_error err = {{0}};
    s->logits = malloc(sizeof(float) * (size_t)m->llm.vocab_size);
    if (!s->logits ||
        nv_decoder_kv_init(m->dec, &s->kv, m->max_context, &err)) {
        if (!s->logits)
            nv_fail(&err, "out of memory");
        set_err(errbuf, errlen, &err);
        nvlm_session_free(s);
        return NULL;
    }
    return s;
}

void nvlm_session_free(nvlm_session *s)
{
    if (!s)
        return;
    free(s->text);
    nv_tensor_free(&s->pixels);
    nv_family_image_free(&s->family_image);
    free(s->features);
    free(s->memory);
    free(s->ids);
    free(s->rows.begin);
    free(s->rows.end);
    nv_xattn_scratch_free(&s->xscratch);
    nv_kv_cache_free(&s->kv);
    free(s->logits);
    free(s->prompt_logits);
    free(s->prefix_ids);
    free(s);
}

int nvlm_add_text(nvlm_session *s, const char *text, char *errbuf,
                  size_t errlen)
{
    size_t n = strlen(text);
    char *t = realloc(s->text, s->text_len + n + 1);
    if (!t) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    memcpy(t + s->text_len, text, n + 1);
    s->text = t;
    s->text_len += n;
    return 0;
}

static void drop_image(nvlm_session *s)
{
    nv_tensor_free(&s->pixels);
    nv_family_image_free(&s->family_image);
    free(s->features);
    free(s->memory);
    s->features = s->memory = NULL;
    s->n_image_rows = 0;
    s->has_image = 0;
    s->n_tiles = s->n_keys = 0;
}

int nv_session_set_pixels(nvlm_session *s, const float *pixels, int n_tiles,
                          nv_error *err)
{
    const nvlm_model *m = s->m;
    int S = m->prep.tiling.tile_size;
    if (n_tiles < 1 || n_tiles > NV_MAX_TILES_LIMIT + 1)
        return nv_fail(err, "pixel values: %d tiles", n_tiles);
    drop_image(s);
    int64_t shape[4] = {n_tiles, 3, S, S};
    if (nv_tensor_alloc_f32(&s->pixels, 4, shape, err))
        return -1;
    memcpy(s->pixels.data, pixels,
           sizeof(float) * (size_t)nv_tensor_numel(&s->pixels));
    s->has_image = 1;
    s->n_tiles = n_tiles;
    return 0;
}

/* The decoded image as tiles: a hub family's own preprocessing, or
 * nvlm's tiling into s->pixels. */
static int preprocess_image(nvlm_session *s, const nv_image *img,
                            nv_error *err)
{
    const nvlm_model *m = s->m;
    const nv_family *fam = m->family;
    if (!fam) {
        nv_tile_grid grid;
        if (nv_preprocess_image(img, &m->prep, &grid, &s->pixels, err))
            return -1;
        s->n_tiles = grid.num_tiles;
        s->grid_cols = grid.cols;
        s->grid_rows = grid.rows;
        return 0;
    }
    if (fam->paradigm == NV_PARADIGM_TEXT)
        return nv_fail(err, "a %s model (%s) has no vision part", fam->name,
                       m->dir);
    if (fam->preprocess(m->family_ctx, img, &s->family_image, err))
        return -1;
    s->n_tiles = s->family_image.n_tiles;
    s->grid_cols = s->family_image.cols;
    s->grid_rows = s->family_image.rows;
    return 0;
}

int nv_session_set_image(nvlm_session *s, const nv_image *img, nv_error *err)
{
    drop_image(s);
    if (preprocess_image(s, img, err)) {
        drop_image(s);
        return -1;
    }
    s->has_image = 1;
    return 0;
}

int nvlm_add_image_file(nvlm_session *s, const char *path, char *errbuf,
                        size_t errlen)
{
    nv_error err = {{0}};
    nv_image img = {0};
    double t0 = now_ms();
    if (nv_image_load(path, s->m->max_pixels, &img, &err)) {
        set_err(errbuf, errlen, &err);
        return -1;
    }
    int rc = nv_session_set_image(s, &img, &err);
    nv_image_free(&img);
    if (rc) {
        nv_fail_prefix(&err, "%s: ", path);
        set_err(errbuf, errlen, &err);
        return -1;
    }
    s->stats.ms_preprocess = now_ms() - t0;
    return 0;
}

int nvlm_add_image_rgb(nvlm_session *s, int width, int height,
                       const uint8_t *rgb, char *errbuf, size_t errlen)
{
    nv_error err = {{0}};
    double t0 = now_ms();
    if (width <= 0 || height <= 0 || !rgb ||
        (int64_t)width * height > s->m->max_pixels) {
        nv_fail(&err, "image of %dx%d pixels: empty or over the cap of %lld",
                width, height, (long long)s->m->max_pixels);
        set_err(errbuf, errlen, &err);
        return -1;
    }
    /* The session only reads the pixels; the cast does not let it write. */
    nv_image img = {width, height, (uint8_t *)rgb};
    if (nv_session_set_image(s, &img, &err)) {
        set_err(errbuf, errlen, &err);
        return -1;
    }
    s->stats.ms_preprocess = now_ms() - t0;
    return 0;
}

/* Runs the ViT and the head's projector over every tile: features
 * [n, T, H]. Once per image. */
static int encode_image(nvlm_session *s, nv_error *err)
{
    const nvlm_model *m = s->m;
    if (s->features)
        return 0;
    if (m->family) {
        double t1 = now_ms();
        int rc = m->family->encode(m->family_ctx, m->pool, &s->family_image,
                                   &s->features, &s->n_image_rows, err);
        s->stats.ms_vision = now_ms() - t1;
        return rc;
    }
    int n = s->n_tiles, T = m->tokens_per_tile;
    int C4 = nv_vit_out_dim(m->vit), H = m->llm.hidden_size;
    double t0 = now_ms();
    float *vis = malloc(sizeof(float) * (size_t)n * T * C4);
    s->features = malloc(sizeof(float) * (size_t)n * T * H);
    if (!vis || !s->features) {
        free(vis);
        return nv_fail(err, "out of memory encoding %d tiles", n);
    }
    int rc = nv_vit_encode(m->vit, m->pool, s->pixels.data, n, vis, err);
    double t_proj = now_ms();
    if (!rc)
        rc = nv_projector_forward(m->proj, m->pool, vis, n * T, s->features,
                                  err);
    free(vis);
    s->stats.ms_projector = now_ms() - t_proj;
    s->stats.ms_vision = now_ms() - t0;
    s->n_image_rows = n * T;
    return rc;
}

int nvlm_encode_sessions(nvlm_session **sessions, int n, char *errbuf,
                         size_t errlen)
{
    nv_error err = {{0}};
    if (n <= 0)
        return 0;
    const nvlm_model *m = sessions[0]->m;
    int total = 0;
    for (int i = 0; i < n; i++) {
        if (sessions[i]->m != m) {
            nv_fail(&err, "nvlm_encode_sessions: sessions of different models");
            set_err(errbuf, errlen, &err);
            return -1;
        }
        if (!sessions[i]->has_image || sessions[i]->features)
            continue;
        if (m->family || sessions[i]->n_tiles > NV_MAX_TILES_LIMIT + 1) {
            total = -1; /* a hub family encodes its own way: one by one */
            break;
        }
        total += sessions[i]->n_tiles;
    }
    if (total < 0) {
        for (int i = 0; i < n; i++)
            if (sessions[i]->has_image && encode_image(sessions[i], &err)) {
                set_err(errbuf, errlen, &err);
                return -1;
            }
        return 0;
    }
    if (total == 0)
        return 0;
    int S = m->prep.tiling.tile_size, T = m->tokens_per_tile;
    int C4 = nv_vit_out_dim(m->vit), H = m->llm.hidden_size;
    size_t tile_floats = (size_t)3 * S * S;
    double t0 = now_ms();
    float *pixels = malloc(sizeof(float) * tile_floats * total);
    float *vis = malloc(sizeof(float) * (size_t)total * T * C4);
    float *feat = malloc(sizeof(float) * (size_t)total * T * H);
    int rc = 0;
    if (!pixels || !vis || !feat) {
        rc = nv_fail(&err, "out of memory encoding %d tiles", total);
    } else {
        int at = 0;
        for (int i = 0; i < n; i++) {
            nvlm_session *s = sessions[i];
            if (!s->has_image || s->features)
                continue;
            memcpy(pixels + tile_floats * at, s->pixels.data,
                   sizeof(float) * tile_floats * s->n_tiles);
            at += s->n_tiles;
        }
        rc = nv_vit_encode(m->vit, m->pool, pixels, total, vis, &err);
        if (!rc)
            rc = nv_projector_forward(m->proj, m->pool, vis, total * T, feat,
                                      &err);
    }
    double ms = now_ms() - t0;
    for (int i = 0, at = 0; i < n && !rc; i++) {
        nvlm_session *s = sessions[i];
        if (!s->has_image || s->features)
            continue;
        size_t rows = (size_t)s->n_tiles * T;
        s->features = malloc(sizeof(float) * rows * H);
        if (!s->features) {
            rc = nv_fail(&err, "out of memory");
            break;
        }
        memcpy(s->features, feat + (size_t)at * T * H, sizeof(float) * rows * H);
        s->n_image_rows = (int)rows;
        /* The batch's time, shared out by tiles. */
        s->stats.ms_vision = ms * s->n_tiles / total;
        at += s->n_tiles;
    }
    free(pixels);
    free(vis);
    free(feat);
    if (rc)
        set_err(errbuf, errlen, &err);
    return rc;
}

static int ids_reserve(nvlm_session *s, int n, nv_error *err)
{
    if (n <= s->cap_ids)
        return 0;
    int cap = s->cap_ids ? s->cap_ids : 256;
    while (cap < n)
        cap *= 2;
    int32_t *ids = realloc(s->ids, sizeof(int32_t) * (size_t)cap);
    if (!ids)
        return nv_fail(err, "out of memory");
    s->ids = ids;
    s->cap_ids = cap;
    return 0;
}

static int ids_append(nvlm_session *s, const int32_t *ids, int n,
                      nv_error *err)
{
    if (ids_reserve(s, s->n_ids + n, err))
        return -1;
    memcpy(s->ids + s->n_ids, ids, sizeof(int32_t) * (size_t)n);
    s->n_ids += n;
    return 0;
}

static int rows_reserve(nv_prompt_rows *r, int n, nv_error *err)
{
    if (n <= r->capacity)
        return 0;
    int *b = realloc(r->begin, sizeof(int) * (size_t)n);
    if (b)
        r->begin = b;
    int *e = b ? realloc(r->end, sizeof(int) * (size_t)n) : NULL;
    if (!b || !e)
        return nv_fail(err, "out of memory");
    r->end = e;
    r->capacity = n;
    return 0;
}

/* The text of the user's turn split at "<image>" for --raw-prompt. */
static int tokenize_text(const nvlm_model *m, const char *text, size_t len,
                         int32_t **ids, size_t *n, nv_error *err)
{
    if (nv_tokenizer_encode(m->tok, text, len, 1, ids, n, err))
        return -1;
    int vocab = nv_llm_config_input_vocab(&m->llm);
    for (size_t i = 0; i < *n; i++)
        if ((*ids)[i] < 0 || (*ids)[i] >= vocab) {
            int32_t bad = (*ids)[i];
            free(*ids);
            *ids = NULL;
            return nv_fail(err, "token id %d is outside the model's "
                           "vocabulary of %d", bad, vocab);
        }
    return 0;
}

/* Tokenizes text onto the end of the prompt; *count (when not NULL) gets
 * how many ids it added. */
static int append_text(nvlm_session *s, const char *text, int *count,
                       nv_error *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tokenize_text(s->m, text, strlen(text), &ids, &n, err);
    if (!rc)
        rc = ids_append(s, ids, (int)n, err);
    free(ids);
    if (count)
        *count = (int)n;
    return rc;
}

/* Builds s->ids (the prompt) and the cross-attention rows of every prompt
 * position from the layout of the chosen fusion. Image slots become runs
 * of the image-context token, filled with features later. */
static int build_from_layout(nvlm_session *s, const nv_prompt_layout *lay,
                             nv_error *err)
{
    const nvlm_model *m = s->m;
    int *seg_tokens = calloc((size_t)lay->n_segments + 1, sizeof(int));
    if (!seg_tokens)
        return nv_fail(err, "out of memory");
    int rc = 0;
    for (int i = 0; i < lay->n_segments && !rc; i++) {
        const nv_prompt_segment *seg = &lay->segments[i];
        if (seg->kind == NV_SEGMENT_IMAGE) {
            rc = ids_reserve(s, s->n_ids + seg->count, err);
            for (int k = 0; k < seg->count && !rc; k++)
                s->ids[s->n_ids++] = m->image_token_id;
            seg_tokens[i] = seg->count;
            continue;
        }
        rc = append_text(s, seg->text, &seg_tokens[i], err);
    }
    if (!rc && m->fusion != NV_FUSION_D && s->has_image) {
        rc = rows_reserve(&s->rows, m->max_context, err);
        if (!rc && s->n_ids > m->max_context)
            rc = nv_fail(err, "the prompt has %d tokens, above the context "
                         "of %d", s->n_ids, m->max_context);
        if (!rc)
            rc = nv_prompt_layout_cross_rows(lay, seg_tokens, s->n_keys,
                                             s->rows.begin, s->rows.end,
                                             s->n_ids, err);
    }
    free(seg_tokens);
    return rc;
}

/* Cross-attention memory of heads x and h (section 8.4): X all tiles'
 * features; H for each regular tile its tag embeddings then its features. */
static int build_memory(nvlm_session *s, const nv_prompt_layout *lay,
                        nv_error *err)
{
    const nvlm_model *m = s->m;
    int T = m->tokens_per_tile, H = m->llm.hidden_size;
    free(s->memory);
    s->memory = NULL;
    s->n_keys = 0;
    if (m->fusion == NV_FUSION_D || !s->has_image)
        return 0;
    if (m->fusion == NV_FUSION_X) {
        size_t bytes = sizeof(float) * (size_t)s->n_tiles * T * H;
        s->memory = malloc(bytes);
        if (!s->memory)
            return nv_fail(err, "out of memory");
        memcpy(s->memory, s->features, bytes);
        s->n_keys = s->n_tiles * T;
        return 0;
    }
    int n_kv = lay->n_kv_tags;
    int32_t **tag_ids = calloc((size_t)n_kv + 1, sizeof *tag_ids);
    int *tag_n = calloc((size_t)n_kv + 1, sizeof *tag_n);
    int rc = (!tag_ids || !tag_n) ? nv_fail(err, "out of memory") : 0;
    int total = 0;
    for (int k = 0; k < n_kv && !rc; k++) {
        size_t n = 0;
        rc = tokenize_text(m, lay->kv_tags[k], strlen(lay->kv_tags[k]),
                           &tag_ids[k], &n, err);
        tag_n[k] = (int)n;
        total += (int)n + T;
    }
    if (!rc && total > 0) {
        s->memory = malloc(sizeof(float) * (size_t)total * H);
        if (!s->memory)
            rc = nv_fail(err, "out of memory");
        float *row = s->memory;
        for (int k = 0; k < n_kv && !rc; k++) {
            rc = nv_decoder_embed(m->dec, tag_ids[k], tag_n[k], row, err);
            row += (size_t)tag_n[k] * H;
            memcpy(row, s->features + (size_t)k * T * H,
                   sizeof(float) * (size_t)T * H);
            row += (size_t)T * H;
        }
        s->n_keys = total;
    }
    for (int k = 0; tag_ids && k < n_kv; k++)
        free(tag_ids[k]);
    free(tag_ids);
    free(tag_n);
    return rc;
}

/* InternVL's own chat prompt (template internvl2_5, section 8.3): no tile
 * tags, one run of image-context tokens, tokenized as one string. */
static const char internvl_system[] =
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合"
    "开发的多模态大语言模型。";

char *nv_internvl_prompt_text(int n_image_tokens, const char *question,
                              nv_error *err)
{
    const char *imgc = "<IMG_CONTEXT>";
    size_t len = strlen(internvl_system) + strlen(question) +
                 (size_t)n_image_tokens * strlen(imgc) + 256;
    char *text = malloc(len);
    if (!text) {
        nv_fail(err, "out of memory");
        return NULL;
    }
    size_t at = (size_t)snprintf(text, len, "<|im_start|>system\n%s"
                                 "<|im_end|>\n<|im_start|>user\n",
                                 internvl_system);
    if (n_image_tokens) {
        at += (size_t)snprintf(text + at, len - at, "<img>");
        for (int i = 0; i < n_image_tokens; i++)
            at += (size_t)snprintf(text + at, len - at, "%s", imgc);
        at += (size_t)snprintf(text + at, len - at, "</img>\n");
    }
    snprintf(text + at, len - at, "%s<|im_end|>\n<|im_start|>assistant\n",
             question);
    return text;
}

static int build_internvl_prompt(nvlm_session *s, const char *question,
                                 nv_error *err)
{
    const nvlm_model *m = s->m;
    int n_img = s->has_image ? s->n_tiles * m->tokens_per_tile : 0;
    char *text = nv_internvl_prompt_text(n_img, question, err);
    if (!text)
        return -1;
    int rc = append_text(s, text, NULL, err);
    free(text);
    s->n_prompt = s->n_ids;
    return rc;
}

/* A hub family's prompt: its own template, tokenized as one string. */
static int build_family_prompt(nvlm_session *s, const char *question,
                               int raw, nv_error *err)
{
    const nvlm_model *m = s->m;
    const nv_family *fam = m->family;
    char *text = fam->prompt(m->family_ctx,
                             s->has_image ? &s->family_image : NULL, question,
                             raw, err);
    if (!text)
        return -1;
    int rc = append_text(s, text, NULL, err);
    free(text);
    s->n_prompt = s->n_ids;
    return rc;
}

int nv_session_build_prompt(nvlm_session *s, int raw, nv_error *err)
{
    const nvlm_model *m = s->m;
    s->n_ids = s->n_prompt = 0;
    const char *question = s->text ? s->text : "";
    if (s->has_image && encode_image(s, err))
        return -1;
    if (m->family)
        return build_family_prompt(s, question, raw, err);
    nv_prompt_layout lay;
    int n_tiles = s->has_image ? s->n_tiles : 0;
    if (m->internvl_template && !raw)
        return build_internvl_prompt(s, question, err);
    if (raw ? nv_prompt_layout_build_raw(&lay, m->fusion, n_tiles,
                                         m->tokens_per_tile, question, err)
            : nv_prompt_layout_build(&lay, m->fusion, n_tiles,
                                     m->tokens_per_tile, question, NULL, err))
        return -1;
    int rc = build_memory(s, &lay, err);
    if (!rc)
        rc = build_from_layout(s, &lay, err);
    nv_prompt_layout_free(&lay);
    s->n_prompt = s->n_ids;
    return rc;
}

static int uses_hook(const nvlm_model *m)
{
    if (m->family)
        return m->family->paradigm == NV_PARADIGM_X &&
               m->family->xattn_hook != NULL;
    return m->n_xattn > 0;
}

/* Decoder hook: the cross-attention block that runs before `layer`. */
static int xattn_hook(void *ctx, int layer, float *hidden, int T, int pos0,
                      nv_error *err)
{
    nvlm_session *s = ctx;
    const nvlm_model *m = s->m;
    if (m->family)
        return m->family->xattn_hook(m->family_ctx, m->pool, layer, hidden, T,
                                     pos0, s->ids, err);
    if (layer >= m->llm.n_layers || m->xattn_at_layer[layer] < 0 ||
        s->n_keys == 0)
        return 0;
    nv_xattn_rows rows = {s->rows.begin + pos0, s->rows.end + pos0};
    return nv_xattn_forward(m->xattn[m->xattn_at_layer[layer]], m->pool,
                            hidden, T, &rows, &s->xscratch, err);
}

/* Embeddings of the prompt with the image rows filled: D every tile in
 * order, H the thumbnail (the last tile). */
static int embed_prompt(nvlm_session *s, float *emb, nv_error *err)
{
    const nvlm_model *m = s->m;
    int H = m->llm.hidden_size, T = m->tokens_per_tile;
    if (nv_decoder_embed(m->dec, s->ids, s->n_prompt, emb, err))
        return -1;
    if (!s->has_image || m->fusion == NV_FUSION_X)
        return 0;
    int want = m->fusion == NV_FUSION_D ? s->n_image_rows : T;
    const float *src = m->fusion == NV_FUSION_D
                           ? s->features
                           : s->features + (size_t)(s->n_tiles - 1) * T * H;
    int filled = 0;
    for (int i = 0; i < s->n_prompt; i++) {
        if (s->ids[i] != m->image_token_id)
            continue;
        if (filled < want)
            memcpy(emb + (size_t)i * H, src + (size_t)filled * H,
                   sizeof(float) * (size_t)H);
        filled++;
    }
    if (filled != want)
        return nv_fail(err, "the prompt holds %d image-context tokens for "
                       "%d image rows", filled, want);
    return 0;
}

/* The cross-attention keys and values of the image, in every block:
 * nvlm's x/h blocks read s->memory, an X hub family the encoded rows. */
static int prepare_xattn(nvlm_session *s, int max_tokens, nv_error *err)
{
    const nvlm_model *m = s->m;
    const nv_family *fam = m->family;
    if (fam)
        return fam->paradigm == NV_PARADIGM_X && fam->xattn_set_memory
                   ? fam->xattn_set_memory(
                         m->family_ctx, s->has_image ? s->features : NULL,
                         s->has_image ? s->n_image_rows : 0,
                         s->has_image ? &s->family_image : NULL, err)
                   : 0;
    for (int j = 0; j < m->n_xattn; j++) {
        if (nv_xattn_set_image(m->xattn[j], s->memory, s->n_keys, err))
            return -1;
        if (s->n_keys > 0 &&
            nv_xattn_scratch_reserve(&s->xscratch, m->xattn[j], max_tokens,
                                     nv_pool_size(m->pool), err))
            return -1;
    }
    return 0;
}

/* Leading positions of s's prompt that no image touches: before the first
 * image-context token (D, H) and before the first position that sees
 * cross-attention keys (X, H). Their keys and values depend on the ids
 * alone. A hub family's prompt is not examined (0). */
static int clean_prefix(const nvlm_session *s)
{
    const nvlm_model *m = s->m;
    if (m->family)
        return 0;
    int keyed = s->has_image && s->n_keys > 0 && m->fusion != NV_FUSION_D;
    if (keyed && !s->rows.begin)
        return 0;
    for (int i = 0; i < s->n_prompt; i++)
        if (s->ids[i] == m->image_token_id ||
            (keyed && s->rows.end[i] > s->rows.begin[i]))
            return i;
    return s->n_prompt;
}

/* Leading positions of s's prompt whose keys and values equal those of
 * the prefix copied by nvlm_session_reuse_prefix: the ids they share,
 * within the first n_clean (no image reaches them). */
static int shared_prefix(const nvlm_session *s, int n_clean)
{
    int n = s->n_prefix < n_clean ? s->n_prefix : n_clean;
    int same = 0;
    while (same < n && s->ids[same] == s->prefix_ids[same])
        same++;
    return same;
}

int nvlm_session_reuse_prefix(nvlm_session *s, const nvlm_session *from,
                              char *errbuf, size_t errlen)
{
    if (s->m != from->m) {
        snprintf(errbuf, errlen, "nvlm_session_reuse_prefix: the sessions "
                 "belong to different models");
        return -1;
    }
    int n = from->n_clean;
    free(s->prefix_ids);
    s->prefix_ids = NULL;
    s->n_prefix = 0;
    if (n <= 0 || s == from)
        return 0;
    s->prefix_ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!s->prefix_ids) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    memcpy(s->prefix_ids, from->ids, sizeof(int32_t) * (size_t)n);
    /* Both caches have the model's dimensions: the same block layout. */
    const nv_kv_cache *src = &from->kv;
    size_t row = sizeof(float) * (size_t)src->head_dim;
    for (int l = 0; l < src->n_layers; l++)
        for (int h = 0; h < src->n_kv_heads; h++) {
            memcpy(nv_kv_cache_k(&s->kv, l, h), nv_kv_cache_k(src, l, h),
                   row * (size_t)n);
            memcpy(nv_kv_cache_v(&s->kv, l, h), nv_kv_cache_v(src, l, h),
                   row * (size_t)n);
        }
    s->n_prefix = n;
    return 0;
}

int nv_session_prefill(nvlm_session *s, int raw, nv_error *err)
{
    nvlm_model *m = s->m;
    if (nv_session_build_prompt(s, raw, err))
        return -1;
    int N = s->n_prompt, H = m->llm.hidden_size, V = m->llm.vocab_size;
    if (N == 0)
        return nv_fail(err, "the prompt is empty");
    if (N >= m->max_context)
        return nv_fail(err, "the prompt has %d tokens; the context holds %d",
                       N, m->max_context);
    nv_kv_cache_reset(&s->kv);
    /* The prefill time includes the cross-attention keys and values: they
     * are computed here, once per image, as part of reading the prompt. */
    double t0 = now_ms();
    if (prepare_xattn(s, N, err))
        return -1;
    if (s->n_keys > 0 && m->fusion != NV_FUSION_D)
        for (int i = N; i < m->max_context; i++) {
            s->rows.begin[i] = 0;
            s->rows.end[i] = s->n_keys;
        }
    float *emb = malloc(sizeof(float) * (size_t)N * H);
    free(s->prompt_logits);
    s->prompt_logits = NULL;
    if (s->keep_prompt_logits)
        s->prompt_logits = malloc(sizeof(float) * (size_t)N * V);
    if (!emb || (s->keep_prompt_logits && !s->prompt_logits)) {
        free(emb);
        return nv_fail(err, "out of memory for a prompt of %d tokens", N);
    }
    int rc = embed_prompt(s, emb, err);
    /* The positions shared with a copied prefix are in the cache already;
     * at least the last one runs again, for its logits, and a run that
     * keeps every prompt logit runs them all. */
    int n_clean = clean_prefix(s);
    int shared = shared_prefix(s, n_clean);
    int reused = s->keep_prompt_logits ? 0
                 : shared < N - 1    ? shared
                                     : N - 1;
    s->kv.len = reused;
    s->stats.prompt_tokens_reused = reused;
    /* This prompt now owns the cache rows from `reused` on; those below
     * `shared` are computed from the same ids and still hold the prefix. */
    s->n_prefix = shared;
    s->n_clean = 0; /* set once the whole prompt has run */
    int chunk = s->prefill_chunk > 0 && s->prefill_chunk < N - reused
                    ? s->prefill_chunk
                    : N - reused;
    if (!rc)
        rc = nv_decoder_reserve(m->dec, chunk, m->max_context, err);
    for (int at = reused; !rc && at < N; at += chunk) {
        int T = N - at < chunk ? N - at : chunk;
        nv_decoder_run run = {
            .embeds = emb + (size_t)at * H,
            .T = T,
            .logits = s->keep_prompt_logits
                          ? s->prompt_logits + (size_t)at * V
                          : s->logits,
            .last_only = !s->keep_prompt_logits,
            .hook = uses_hook(m) ? xattn_hook : NULL,
            .hook_ctx = s,
        };
        rc = nv_decoder_forward(m->dec, &s->kv, &run, err);
    }
    if (!rc && s->keep_prompt_logits)
        memcpy(s->logits, s->prompt_logits + (size_t)(N - 1) * V,
               sizeof(float) * (size_t)V);
    free(emb);
    if (!rc)
        s->n_clean = n_clean;
    s->stats.ms_prefill = now_ms() - t0;
    return rc;
}

static int is_stop(const nvlm_model *m, int32_t id)
{
    return id == m->im_end_id || nv_llm_config_is_eos(&m->llm, id);
}

int nvlm_generate(nvlm_session *s, const nvlm_gen_params *p,
                  nvlm_token_fn fn, void *user, char *errbuf, size_t errlen)
{
    nvlm_model *m = s->m;
    nv_error err = {{0}};
    nvlm_gen_params defaults;
    if (!p) {
        nvlm_gen_params_init(&defaults);
        p = &defaults;
    }
    nv_sampler sampler;
    if (nv_sampler_init(&sampler, m->llm.vocab_size, p->temperature,
                        p->top_k, p->top_p, p->seed, &err)) {
        set_err(errbuf, errlen, &err);
        return -1;
    }
    double ms_pre = s->stats.ms_preprocess;
    memset(&s->stats, 0, sizeof s->stats);
    s->stats.ms_preprocess = ms_pre;
    s->stats.logprob = p->want_logprob ? 0.0 : NAN;
    s->stats.min_token_prob = p->want_logprob ? 1.0 : NAN;
    double t_start = now_ms();
    int rc = nv_session_prefill(s, p->raw_prompt, &err);
    double t0 = now_ms();
    int max_new = p->max_new_tokens;
    /* Running out of context rather than of max_new_tokens is its own stop
     * reason. Written as a difference: max_new_tokens may be INT_MAX. */
    const char *at_max = "limit";
    if (!rc && max_new > m->max_context - s->n_prompt) {
        max_new = m->max_context - s->n_prompt;
        at_max = "context";
    }
    const char *stop = at_max; /* also when max_new is 0 */
    if (!rc)
        rc = ids_reserve(s, s->n_prompt + max_new, &err);
    for (int i = 0; !rc && i < max_new; i++) {
        int32_t next = nv_sampler_pick(&sampler, s->logits);
        if (p->want_logprob) {
            double lp = nv_log_softmax_at(s->logits, m->llm.vocab_size, next);
            s->stats.logprob += lp;
            s->stats.min_token_prob = fmin(s->stats.min_token_prob, exp(lp));
        }
        if (i == 0)
            s->stats.ms_first_token = now_ms() - t_start;
        s->ids[s->n_ids++] = next;
        s->stats.generated_tokens++;
        if (!p->ignore_eos && is_stop(m, next)) {
            stop = "eos";
            break;
        }
        if (fn) {
            size_t len = 0;
            const char *bytes = nv_tokenizer_token_bytes(m->tok, next, &len);
            if (fn(user, next, bytes ? bytes : "", bytes ? len : 0)) {
                stop = "callback";
                break;
            }
        }
        if (i + 1 == max_new)
            break;
        nv_decoder_run run = {
            .ids = &next,
            .T = 1,
            .logits = s->logits,
            .last_only = 1,
            .hook = uses_hook(m) ? xattn_hook : NULL,
            .hook_ctx = s,
        };
        rc = nv_decoder_forward(m->dec, &s->kv, &run, &err);
    }
    s->stats.ms_decode = now_ms() - t0;
    s->stats.prompt_tokens = s->n_prompt;
    s->stats.tiles = s->has_image ? s->n_tiles : 0;
    s->stats.xattn_tokens = s->n_keys;
    s->stats.image_tokens_in_stream =
        !s->has_image || m->fusion == NV_FUSION_X ? 0
        : m->fusion == NV_FUSION_D ? s->n_image_rows
                                   : m->tokens_per_tile;
    if (m->family && m->fusion == NV_FUSION_X && s->has_image)
        s->stats.xattn_tokens = s->n_image_rows;
    s->stats.stop_reason = rc ? NULL : stop;
    nv_sampler_free(&sampler);
    if (rc)
        set_err(errbuf, errlen, &err);
    return rc;
}

const int32_t *nvlm_prompt_ids(const nvlm_session *s, int *n)
{
    *n = s->n_prompt;
    return s->ids;
}

const int32_t *nvlm_generated_ids(const nvlm_session *s, int *n)
{
    *n = s->n_ids - s->n_prompt;
    return s->ids + s->n_prompt;
}

const nvlm_stats *nvlm_last_stats(const nvlm_session *s)
{
    return &s->stats;
}
