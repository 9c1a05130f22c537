/* model_cost.c - analytic token counts, FLOPs and KV bytes of one image
 * through the loaded head (see model_cost.h for what is counted). */
#include "fusion/model_cost.h"

#include <stdlib.h>
#include <string.h>

#include "vision/vit_config.h"

double nv_cost_vit_tile(const nvlm_model *m)
{
    const nv_vit_config *vc = nv_vit_config_of(m->vit);
    double C = vc->hidden, W = nv_vit_config_attn_width(vc);
    double I = vc->intermediate, p = vc->patch;
    double g2 = (double)vc->grid * vc->grid, N = g2 + 1;
    double macs = g2 * C * 3.0 * p * p; /* patch embedding */
    double per_layer = N * 3.0 * W * C  /* qkv */
                       + 2.0 * N * N * W /* q k^T and a v, all heads */
                       + N * W * C       /* proj */
                       + 2.0 * N * C * I; /* fc1, fc2 */
    macs += vc->run_layers * per_layer;
    macs += g2 * C * nv_vit_char_width(m->vit); /* character head */
    return 2.0 * macs;
}

double nv_cost_projector_tile(const nvlm_model *m)
{
    double T = m->tokens_per_tile;
    double in = nv_projector_in_dim(m->proj);
    double mid = nv_projector_mid_dim(m->proj);
    double out = nv_projector_out_dim(m->proj);
    return 2.0 * T * (in * mid + mid * out);
}

double nv_cost_decoder_layers(const nvlm_model *m, int64_t n_tokens,
                              int64_t pos0)
{
    const nv_llm_config *c = &m->llm;
    double H = c->hidden_size, I = c->intermediate_size;
    double q = (double)c->n_heads * c->head_dim;
    double kv = (double)c->n_kv_heads * c->head_dim;
    double n = (double)n_tokens;
    double linear = n * (H * q + 2.0 * H * kv + q * H + 3.0 * H * I);
    /* Token at position p attends p + 1 keys (itself and all before). */
    double keys = n * (double)pos0 + n * (n + 1.0) / 2.0;
    double attention = 2.0 * q * keys;
    return 2.0 * c->n_layers * (linear + attention);
}

double nv_cost_xattn_block(const nvlm_model *m, int j, int64_t rows,
                           int64_t row_keys, int n_keys, int with_kv)
{
    const nv_xattn_dims *d = nv_xattn_get_dims(m->xattn[j]);
    double H = d->hidden, I = nv_xattn_intermediate(m->xattn[j]);
    double q = (double)d->n_heads * d->head_dim;
    double kv = (double)d->n_kv_heads * d->head_dim;
    double r = (double)rows;
    double macs = r * (H * q + q * H + 3.0 * H * I) /* q, o, MLP */
                  + 2.0 * q * (double)row_keys;      /* q k^T and a v */
    if (with_kv)
        macs += 2.0 * (double)n_keys * H * kv;
    return 2.0 * macs;
}

static int count_tokens(const nvlm_model *m, const char *text, int *n,
                        nv_error *err)
{
    int32_t *ids = NULL;
    size_t count = 0;
    if (nv_tokenizer_encode(m->tok, text, strlen(text), 1, &ids, &count,
                            err))
        return -1;
    free(ids);
    *n = (int)count;
    return 0;
}

/* Prompt length, memory rows and the keys every prompt row sees, from the
 * same prompt layout the session builds (segments tokenized one by one). */
static int sequence_counts(const nvlm_model *m, nv_fusion fusion,
                           const nv_prompt_layout *lay, nv_model_cost *out,
                           nv_error *err)
{
    int *seg_tokens = calloc((size_t)lay->n_segments + 1, sizeof(int));
    int *tag_tokens = calloc((size_t)lay->n_kv_tags + 1, sizeof(int));
    int rc = (!seg_tokens || !tag_tokens) ? nv_fail(err, "out of memory") : 0;
    int N = 0;
    for (int i = 0; i < lay->n_segments && !rc; i++) {
        const nv_prompt_segment *seg = &lay->segments[i];
        if (seg->kind == NV_SEGMENT_IMAGE)
            seg_tokens[i] = seg->count;
        else
            rc = count_tokens(m, seg->text, &seg_tokens[i], err);
        N += seg_tokens[i];
    }
    for (int k = 0; k < lay->n_kv_tags && !rc; k++)
        rc = count_tokens(m, lay->kv_tags[k], &tag_tokens[k], err);
    int n_keys = 0;
    if (!rc && fusion != NV_FUSION_D && lay->n_tiles > 0) {
        n_keys = nv_prompt_layout_n_keys(lay, tag_tokens, err);
        rc = n_keys < 0 ? -1 : 0;
    }
    out->prompt_tokens = N;
    out->xattn_tokens = n_keys;
    out->xattn_row_keys = 0;
    if (!rc && n_keys > 0) {
        int *begin = malloc(sizeof(int) * (size_t)N);
        int *end = malloc(sizeof(int) * (size_t)N);
        rc = (!begin || !end) ? nv_fail(err, "out of memory")
                              : nv_prompt_layout_cross_rows(
                                    lay, seg_tokens, n_keys, begin, end, N,
                                    err);
        for (int t = 0; t < N && !rc; t++)
            out->xattn_row_keys += end[t] - begin[t];
        free(begin);
        free(end);
    }
    free(seg_tokens);
    free(tag_tokens);
    return rc;
}

int nv_cost_sequence(const nvlm_model *m, nv_fusion fusion, int n_tiles,
                     const char *question, nv_model_cost *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_tiles < 0 || n_tiles > NV_MAX_TILES_LIMIT + 1)
        return nv_fail(err, "cost: %d tiles", n_tiles);
    int T = m->tokens_per_tile;
    if (m->internvl_template) {
        /* InternVL's prompt: one run of image tokens, no tags, no memory. */
        char *text = nv_internvl_prompt_text(n_tiles * T, question, err);
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = text ? nv_tokenizer_encode(m->tok, text, strlen(text), 1,
                                            &ids, &n, err)
                      : -1;
        free(text);
        free(ids);
        if (rc)
            return -1;
        out->tiles = n_tiles;
        out->tokens_per_tile = T;
        out->prompt_tokens = (int)n;
        out->image_tokens_in_stream = n_tiles * T;
        return 0;
    }
    nv_prompt_layout lay;
    if (nv_prompt_layout_build(&lay, fusion, n_tiles, T, question, NULL, err))
        return -1;
    int rc = sequence_counts(m, fusion, &lay, out, err);
    nv_prompt_layout_free(&lay);
    if (rc)
        return -1;
    out->tiles = n_tiles;
    out->tokens_per_tile = T;
    out->image_tokens_in_stream = n_tiles == 0 ? 0
                                  : fusion == NV_FUSION_D ? n_tiles * T
                                  : fusion == NV_FUSION_H ? T
                                                          : 0;
    return 0;
}

int nv_model_cost_compute(const nvlm_model *m, int n_tiles,
                          const char *question, nv_model_cost *out,
                          nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (m->family || m->internvl_template)
        return nv_fail(err, "%s: costs are computed for nvlm's own layout "
                       "with the chatml template only", m->dir);
    if (nv_cost_sequence(m, m->fusion, n_tiles, question, out, err))
        return -1;
    const nv_llm_config *c = &m->llm;
    int64_t N = out->prompt_tokens, M = out->xattn_tokens;
    out->xattn_blocks = M > 0 ? m->n_xattn : 0;
    out->flops_vit = n_tiles * nv_cost_vit_tile(m);
    out->flops_projector = n_tiles * nv_cost_projector_tile(m);
    double logits = 2.0 * (double)c->vocab_size * c->hidden_size;
    out->flops_prefill = nv_cost_decoder_layers(m, N, 0) + logits;
    out->flops_decode_token = nv_cost_decoder_layers(m, 1, N) + logits;
    for (int j = 0; j < out->xattn_blocks; j++) {
        out->flops_prefill +=
            nv_cost_xattn_block(m, j, N, out->xattn_row_keys, (int)M, 1);
        out->flops_decode_token += nv_cost_xattn_block(m, j, 1, M, (int)M, 0);
    }
    int64_t per_pos = 2LL * c->n_kv_heads * c->head_dim * (int64_t)sizeof(float);
    out->kv_self_bytes = per_pos * c->n_layers * N;
    out->kv_cross_bytes = per_pos * out->xattn_blocks * M;
    return 0;
}
