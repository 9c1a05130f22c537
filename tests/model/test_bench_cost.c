/* test_bench_cost.c - fusion/model_cost against independent counts on the
 * tiny_nvlm fixture, for heads d, x, h and 1, 3, 7 tiles:
 *   - prompt length and cross-attention memory rows equal the PyTorch
 *     reference's (cases.json) and the session's after a real prefill;
 *   - image tokens in the stream equal the image-context ids the session
 *     actually placed in the prompt;
 *   - KV bytes equal what the session's KV cache holds after the prefill
 *     (kv.len positions) and the keys each cross-attention block cached;
 *   - FLOPs equal a second count made from the weight shapes stored in the
 *     safetensors file (every matrix: rows x cols x the rows it is applied
 *     to) and, for attention, a loop over every (query, key) pair the
 *     session's causal and cross masks allow. Both are exact integers in
 *     doubles, so they must agree to the last bit (checked to 1e-12). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json.h"
#include "fusion/model.h"
#include "fusion/model_cost.h"

static double numel_of(const nvlm_model *m, const char *name)
{
    const nv_st_entry *e = nv_st_find(m->st, name);
    if (!CHECK(e != NULL)) {
        fprintf(stderr, "missing tensor %s\n", name);
        return 0;
    }
    double n = 1;
    for (int i = 0; i < e->ndim; i++)
        n *= (double)e->shape[i];
    return n;
}

static double rows_of(const nvlm_model *m, const char *name)
{
    const nv_st_entry *e = nv_st_find(m->st, name);
    return e ? (double)e->shape[0] : 0;
}

/* ViT + projector MACs for n tiles, from the stored shapes. */
static double count_vision(const nvlm_model *m, int n, const char *proj)
{
    const nv_st_entry *pos =
        nv_st_find(m->st, "vision_model.embeddings.position_embedding");
    double tokens = (double)pos->shape[1]; /* g*g + 1 */
    double macs = numel_of(m, "vision_model.embeddings.patch_embedding.weight") *
                  (tokens - 1);
    static const char *const mats[] = {"attn.qkv.weight", "attn.proj.weight",
                                       "mlp.fc1.weight", "mlp.fc2.weight"};
    /* select_layer -1: every stored layer runs. */
    for (int i = 0;; i++) {
        char name[128];
        snprintf(name, sizeof name, "vision_model.encoder.layers.%d.%s", i,
                 mats[0]);
        if (!nv_st_find(m->st, name))
            break;
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "vision_model.encoder.layers.%d.%s",
                     i, mats[k]);
            macs += numel_of(m, name) * tokens;
            if (k == 0) /* every token scores every token, over all heads */
                for (int q = 0; q < (int)tokens; q++)
                    for (int kk = 0; kk < (int)tokens; kk++)
                        macs += 2 * rows_of(m, name) / 3;
        }
    }
    macs *= n;
    char name[64];
    snprintf(name, sizeof name, "%s1.weight", proj);
    double pm = numel_of(m, name);
    snprintf(name, sizeof name, "%s3.weight", proj);
    pm += numel_of(m, name);
    return 2 * (macs + pm * n * m->tokens_per_tile);
}

/* Decoder + cross-attention MACs for query rows [t0, t1), keys per row
 * from the session's masks, plus the last row's logits. */
static double count_decoder(const nvlm_model *m, const nvlm_session *s,
                            int t0, int t1)
{
    static const char *const mats[] = {
        "self_attn.q_proj.weight", "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "mlp.gate_proj.weight",    "mlp.up_proj.weight",
        "mlp.down_proj.weight"};
    double rows = t1 - t0, macs = 0;
    for (int l = 0; l < m->llm.n_layers; l++) {
        char name[160];
        for (int k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "language_model.model.layers.%d.%s",
                     l, mats[k]);
            macs += numel_of(m, name) * rows;
        }
        snprintf(name, sizeof name,
                 "language_model.model.layers.%d.self_attn.q_proj.weight", l);
        for (int t = t0; t < t1; t++)
            for (int key = 0; key <= t; key++)
                macs += 2 * rows_of(m, name);
    }
    macs += numel_of(m, "language_model.lm_head.weight");
    for (int j = 0; j < m->n_xattn && s->n_keys > 0; j++) {
        char pre[32], name[160];
        snprintf(pre, sizeof pre, "%s_xattn.%d.", nv_fusion_name(m->fusion), j);
        static const char *const q_side[] = {"q_proj.weight", "o_proj.weight",
                                             "mlp.gate_proj.weight",
                                             "mlp.up_proj.weight",
                                             "mlp.down_proj.weight"};
        for (int k = 0; k < 5; k++) {
            snprintf(name, sizeof name, "%s%s", pre, q_side[k]);
            macs += numel_of(m, name) * rows;
        }
        if (t0 == 0) { /* keys and values of the memory, once per image */
            snprintf(name, sizeof name, "%sk_proj.weight", pre);
            macs += numel_of(m, name) * s->n_keys;
            snprintf(name, sizeof name, "%sv_proj.weight", pre);
            macs += numel_of(m, name) * s->n_keys;
        }
        snprintf(name, sizeof name, "%sq_proj.weight", pre);
        for (int t = t0; t < t1; t++)
            for (int key = s->rows.begin[t]; key < s->rows.end[t]; key++)
                macs += 2 * rows_of(m, name);
    }
    return 2 * macs;
}

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-12 * fabs(b);
}

static void run_case(const char *dir, const char *head, int n_tiles,
                     const char *question, int want_prompt, int want_memory)
{
    char err[1024];
    nv_error e = {{0}};
    nvlm_options opt;
    nvlm_options_init(&opt);
    opt.fusion = head;
    opt.threads = 1;
    nvlm_model *m = nvlm_load(dir, &opt, err, sizeof err);
    if (!CHECK(m != NULL)) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    nvlm_session *s = nvlm_session_new(m, err, sizeof err);
    CHECK(s != NULL);
    int S = m->prep.tiling.tile_size;
    size_t n_pix = (size_t)n_tiles * 3 * S * S;
    float *pix = malloc(sizeof(float) * n_pix);
    for (size_t i = 0; i < n_pix; i++)
        pix[i] = (float)((i * 7919) % 255) / 127.0f - 1.0f;
    CHECK(nv_session_set_pixels(s, pix, n_tiles, &e) == 0);
    CHECK(nvlm_add_text(s, question, err, sizeof err) == 0);
    CHECK(nv_session_prefill(s, 0, &e) == 0);

    nv_model_cost c;
    if (!CHECK(nv_model_cost_compute(m, n_tiles, question, &c, &e) == 0)) {
        fprintf(stderr, "%s\n", e.msg);
        goto done;
    }
    int T = m->tokens_per_tile;
    /* Counts: the reference's numbers, then the session's. */
    CHECK(c.tiles == n_tiles);
    CHECK(c.prompt_tokens == want_prompt);
    CHECK(c.xattn_tokens == want_memory);
    CHECK(c.prompt_tokens == s->n_prompt);
    CHECK(c.xattn_tokens == s->n_keys);
    int placed = 0;
    for (int i = 0; i < s->n_prompt; i++)
        placed += s->ids[i] == m->image_token_id;
    CHECK(c.image_tokens_in_stream == placed);
    CHECK(c.image_tokens_in_stream ==
          (!strcmp(head, "d") ? n_tiles * T : !strcmp(head, "h") ? T : 0));
    int64_t row_keys = 0;
    for (int t = 0; s->n_keys && t < s->n_prompt; t++)
        row_keys += s->rows.end[t] - s->rows.begin[t];
    CHECK(c.xattn_row_keys == row_keys);

    /* KV bytes: the self cache holds exactly the prompt after a prefill. */
    CHECK(s->kv.len == s->n_prompt);
    CHECK(c.kv_self_bytes ==
          (int64_t)nv_kv_cache_bytes(m->llm.n_layers, m->llm.n_kv_heads,
                                     m->llm.head_dim, s->kv.len));
    int64_t cross = 0;
    for (int j = 0; j < m->n_xattn; j++) {
        const nv_xattn_dims *d = nv_xattn_get_dims(m->xattn[j]);
        cross += 2LL * nv_xattn_n_keys(m->xattn[j]) * d->n_kv_heads *
                 d->head_dim * (int64_t)sizeof(float);
    }
    CHECK(c.kv_cross_bytes == cross);
    CHECK(c.xattn_blocks == (s->n_keys > 0 ? m->n_xattn : 0));

    /* FLOPs, the second way. */
    const char *proj = !strcmp(head, "d") ? "mlp1." : !strcmp(head, "x")
                                                         ? "x_mlp1."
                                                         : "h_mlp1.";
    double vision = count_vision(m, n_tiles, proj);
    CHECK(close_to(c.flops_vit + c.flops_projector, vision));
    CHECK(close_to(c.flops_projector,
                   n_tiles * nv_cost_projector_tile(m)));
    double prefill = count_decoder(m, s, 0, s->n_prompt);
    if (!CHECK(close_to(c.flops_prefill, prefill)))
        fprintf(stderr, "%s/%d prefill %.17g vs %.17g\n", head, n_tiles,
                c.flops_prefill, prefill);
    /* The first decoded token: row N sees all keys (set by the prefill). */
    double decode = count_decoder(m, s, s->n_prompt, s->n_prompt + 1);
    if (!CHECK(close_to(c.flops_decode_token, decode)))
        fprintf(stderr, "%s/%d decode %.17g vs %.17g\n", head, n_tiles,
                c.flops_decode_token, decode);
done:
    free(pix);
    nvlm_session_free(s);
    nvlm_free(m);
}

int main(void)
{
    const char *fx = getenv("NV_FIXTURE_DIR");
    if (!fx) {
        fprintf(stderr, "NV_FIXTURE_DIR is not set\n");
        return 1;
    }
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/tiny_nvlm", fx);
    snprintf(path, sizeof path, "%s/cases.json", dir);
    nv_error e = {{0}};
    cJSON *cases = nv_json_load(path, 0, &e);
    if (!CHECK(cases != NULL)) {
        fprintf(stderr, "%s\n", e.msg);
        return check_summary("bench_cost");
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(cases, "question");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(cases, "cases");
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, list) {
        const cJSON *head = cJSON_GetObjectItemCaseSensitive(it, "head");
        const cJSON *tiles = cJSON_GetObjectItemCaseSensitive(it, "tiles");
        const cJSON *np = cJSON_GetObjectItemCaseSensitive(it,
                                                           "num_prompt_ids");
        const cJSON *mem = cJSON_GetObjectItemCaseSensitive(it, "memory_rows");
        if (!CHECK(cJSON_IsString(head) && cJSON_IsNumber(tiles) &&
                   cJSON_IsNumber(np) && cJSON_IsNumber(mem) &&
                   cJSON_IsString(q)))
            continue;
        run_case(dir, head->valuestring, tiles->valueint, q->valuestring,
                 np->valueint, mem->valueint);
        n++;
    }
    CHECK(n == 9);
    /* A text-only prompt: no image rows, no memory, no cross blocks. */
    cJSON_Delete(cases);
    return check_summary("bench_cost");
}
