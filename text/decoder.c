/* decoder.c - Llama / Qwen2 decoder forward pass; see decoder.h. */
#include "text/decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lowp.h"
#include "core/matmul.h"
#include "core/vec_math.h"
#include "text/causal_attn.h"
#include "text/decoder_rows.h"
#include "text/rope.h"

/* ---- loading ---------------------------------------------------------- */

/* The full tensor name: the head's override when the file has one, else the
 * shared language-model tensor. */
static void weight_name(const nv_safetensors *st, const char *prefix,
                        const char *override, const char *name, char *full,
                        size_t size)
{
    if (override && override[0]) {
        snprintf(full, size, "%s%s", override, name);
        if (nv_st_find(st, full))
            return;
    }
    snprintf(full, size, "%s%s", prefix, name);
}

static int load_weight(const nv_safetensors *st, const char *prefix,
                       const char *override, const char *name, int64_t d0,
                       int64_t d1, nv_tensor *out, nv_error *err)
{
    char full[512];
    weight_name(st, prefix, override, name, full, sizeof full);
    int64_t shape[2] = {d0, d1};
    /* Matrices stay in their stored precision (core/lowp.h); vectors
     * (norms, biases) are small and read as f32. */
    if (d1 > 0)
        return nv_st_get_weight(st, full, 2, shape, out, err);
    return nv_st_get_f32(st, full, 1, shape, out, err);
}

/* Loads a bias if the file has it; absent leaves `out` empty. */
static int load_bias_opt(const nv_safetensors *st, const char *prefix,
                         const char *override, const char *name, int64_t n,
                         nv_tensor *out, nv_error *err)
{
    char full[512];
    weight_name(st, prefix, override, name, full, sizeof full);
    memset(out, 0, sizeof *out);
    if (!nv_st_find(st, full))
        return 0;
    return load_weight(st, prefix, override, name, n, 0, out, err);
}

/* Where the decoder body (embed_tokens, layers, norm) lives: weight_prefix
 * + "model." (and the override's "model."), or the config's body_prefix. */
static void body_prefixes(const nv_llm_config *c, char *p, char *o,
                          size_t size)
{
    if (c->body_prefix[0]) {
        snprintf(p, size, "%s", c->body_prefix);
        o[0] = '\0';
        return;
    }
    snprintf(p, size, "%smodel.", c->weight_prefix);
    if (c->override_prefix[0])
        snprintf(o, size, "%smodel.", c->override_prefix);
    else
        o[0] = '\0';
}

static int load_layer(const nv_safetensors *st, const nv_llm_config *c,
                      int l, nv_decoder_layer *L, nv_error *err)
{
    char p[96], o[96];
    body_prefixes(c, p, o, sizeof p);
    int64_t H = c->hidden_size, I = c->intermediate_size;
    int64_t qd = (int64_t)c->n_heads * c->head_dim;
    int64_t kvd = (int64_t)c->n_kv_heads * c->head_dim;
    char n[16][128];
    const char *parts[16] = {
        "input_layernorm.weight", "self_attn.q_proj.weight",
        "self_attn.k_proj.weight", "self_attn.v_proj.weight",
        "self_attn.o_proj.weight", "post_attention_layernorm.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
        "self_attn.q_proj.bias", "self_attn.k_proj.bias",
        "self_attn.v_proj.bias", "self_attn.o_proj.bias",
        "mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias",
    };
    for (int i = 0; i < 16; i++)
        snprintf(n[i], sizeof n[i], "layers.%d.%s", l, parts[i]);
    if (load_weight(st, p, o, n[0], H, 0, &L->attn_norm, err) ||
        load_weight(st, p, o, n[1], qd, H, &L->wq, err) ||
        load_weight(st, p, o, n[2], kvd, H, &L->wk, err) ||
        load_weight(st, p, o, n[3], kvd, H, &L->wv, err) ||
        load_weight(st, p, o, n[4], H, qd, &L->wo, err) ||
        load_weight(st, p, o, n[5], H, 0, &L->mlp_norm, err) ||
        load_weight(st, p, o, n[6], I, H, &L->w_gate, err) ||
        load_weight(st, p, o, n[7], I, H, &L->w_up, err) ||
        load_weight(st, p, o, n[8], H, I, &L->w_down, err) ||
        load_bias_opt(st, p, o, n[9], qd, &L->bq, err) ||
        load_bias_opt(st, p, o, n[10], kvd, &L->bk, err) ||
        load_bias_opt(st, p, o, n[11], kvd, &L->bv, err) ||
        load_bias_opt(st, p, o, n[12], H, &L->bo, err) ||
        load_bias_opt(st, p, o, n[13], I, &L->b_gate, err) ||
        load_bias_opt(st, p, o, n[14], I, &L->b_up, err) ||
        load_bias_opt(st, p, o, n[15], H, &L->b_down, err))
        return -1;
    /* q, k and v biases come together (Qwen2 always, Llama with
     * attention_bias); a partial set means a damaged file. */
    char qname[512];
    snprintf(qname, sizeof qname, "%s%s", p, n[1]);
    const nv_st_entry *q_entry = nv_st_find(st, qname);
    const char *file = q_entry ? q_entry->file : "weights";
    int nqkv = !!L->bq.data + !!L->bk.data + !!L->bv.data;
    if (nqkv != 0 && nqkv != 3)
        return nv_fail(err, "%s: layer %d has only some of the q/k/v "
                       "projection biases", file, l);
    if (c->arch == NV_LLM_QWEN2 && nqkv == 0)
        return nv_fail(err, "%s: no tensor '%s%s' (Qwen2 attention has "
                       "q/k/v biases)", file, p, n[9]);
    int nmlp = !!L->b_gate.data + !!L->b_up.data + !!L->b_down.data;
    if (nmlp != 0 && nmlp != 3)
        return nv_fail(err, "%s: layer %d has only some of the MLP biases",
                       file, l);
    return 0;
}

/* Every layer the config promises has its first tensor in the file, checked
 * before the per-layer array is sized from num_hidden_layers: 1048576
 * layers allocated 1.4 GB and spent 6 s before "no tensor" (issue 17). The
 * lookups stop at the first missing layer. */
static int check_layers_present(const nv_safetensors *st,
                                const nv_llm_config *c, nv_error *err)
{
    char p[96], o[96], part[64], full[512];
    body_prefixes(c, p, o, sizeof p);
    for (int l = 0; l < c->n_layers; l++) {
        if (nv_llm_config_skips(c, l))
            continue;
        snprintf(part, sizeof part, "layers.%d.input_layernorm.weight", l);
        weight_name(st, p, o, part, full, sizeof full);
        if (!nv_st_find(st, full))
            return nv_fail(err, "%s: no tensor '%s': the config's "
                           "num_hidden_layers is %d but the weights hold "
                           "layers 0-%d at most",
                           nv_st_path(st), full, c->n_layers, l - 1);
    }
    return 0;
}

static void free_layer(nv_decoder_layer *L)
{
    nv_tensor *all[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                        &L->bq, &L->bk, &L->bv, &L->bo, &L->mlp_norm,
                        &L->w_gate, &L->w_up, &L->w_down, &L->b_gate,
                        &L->b_up, &L->b_down};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
}

nv_decoder *nv_decoder_load(const nv_safetensors *st,
                            const nv_llm_config *cfg, nv_pool *pool,
                            int max_T, int max_ctx, nv_error *err)
{
    nv_decoder *dec = calloc(1, sizeof *dec);
    if (!dec) {
        nv_fail(err, "decoder: out of memory");
        return NULL;
    }
    dec->cfg = *cfg;
    dec->pool = pool;
    dec->n_workers = pool ? nv_pool_size(pool) : 1;
    char p[96], o[96];
    body_prefixes(cfg, p, o, sizeof p);
    int64_t V = cfg->vocab_size, H = cfg->hidden_size;
    if (check_layers_present(st, cfg, err))
        goto fail;
    dec->layers = calloc((size_t)cfg->n_layers, sizeof *dec->layers);
    if (!dec->layers) {
        nv_fail(err, "decoder: out of memory");
        goto fail;
    }
    if (load_weight(st, p, o, "embed_tokens.weight",
                    nv_llm_config_input_vocab(cfg), H, &dec->embed, err) ||
        load_weight(st, p, o, "norm.weight", H, 0, &dec->final_norm, err))
        goto fail;
    if (!cfg->tie_word_embeddings &&
        (cfg->head_name[0]
             ? load_weight(st, "", "", cfg->head_name, V, H, &dec->lm_head,
                           err)
             : load_weight(st, cfg->weight_prefix, cfg->override_prefix,
                           "lm_head.weight", V, H, &dec->lm_head, err)))
        goto fail;
    for (int l = 0; l < cfg->n_layers; l++)
        if (!nv_llm_config_skips(cfg, l) &&
            load_layer(st, cfg, l, &dec->layers[l], err))
            goto fail;
    /* Prefill's attention runs in bf16 where the linear maps round their
     * activations to bf16 already (core/matmul.h). */
    for (int l = 0; l < cfg->n_layers; l++)
        if (dec->layers[l].wq.data) {
            dec->attn_bf16 = nv_attention_bf16_for(&dec->layers[l].wq);
            break;
        }
    if (nv_decoder_reserve(dec, max_T, max_ctx, err))
        goto fail;
    return dec;
fail:
    nv_decoder_free(dec);
    return NULL;
}

static void free_scratch(nv_decoder_scratch *s)
{
    float *all[] = {s->x, s->h, s->q, s->k, s->v, s->attn, s->gate,
                    s->up, s->rope_cos, s->rope_sin, s->inv_freq};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(s->h_bf16);
    free(s->gate_bf16);
    nv_causal_attn_free(&s->attention);
    memset(s, 0, sizeof *s);
}

void nv_decoder_free(nv_decoder *dec)
{
    if (!dec)
        return;
    if (dec->layers)
        for (int l = 0; l < dec->cfg.n_layers; l++)
            free_layer(&dec->layers[l]);
    free(dec->layers);
    nv_tensor_free(&dec->embed);
    nv_tensor_free(&dec->lm_head);
    nv_tensor_free(&dec->final_norm);
    free_scratch(&dec->scratch);
    free(dec);
}

size_t nv_decoder_weight_bytes(const nv_decoder *dec)
{
    size_t n = nv_tensor_nbytes(&dec->embed) +
               nv_tensor_nbytes(&dec->final_norm) +
               nv_tensor_nbytes(&dec->lm_head);
    for (int l = 0; l < dec->cfg.n_layers; l++) {
        const nv_decoder_layer *L = &dec->layers[l];
        const nv_tensor *all[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv,
                                  &L->wo, &L->bq, &L->bk, &L->bv, &L->bo,
                                  &L->mlp_norm, &L->w_gate, &L->w_up,
                                  &L->w_down, &L->b_gate, &L->b_up,
                                  &L->b_down};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            n += nv_tensor_nbytes(all[i]);
    }
    return n;
}

static nv_causal_attn_dims attn_dims(const nv_llm_config *c)
{
    nv_causal_attn_dims d = {c->n_heads, c->n_kv_heads, c->head_dim};
    return d;
}

/* ---- scratch ---------------------------------------------------------- */

/* realloc of rows * cols elements of `size` bytes with an overflow
 * check. */
static int grow_elems(void **buf, size_t rows, size_t cols, size_t size,
                      nv_error *err)
{
    if (cols && rows > SIZE_MAX / size / cols)
        return nv_fail(err, "decoder: scratch size overflows");
    size_t n = rows * cols;
    void *p = realloc(*buf, (n ? n : 1) * size);
    if (!p)
        return nv_fail(err, "decoder: out of memory for %zu scratch values "
                       "of %zu bytes", n, size);
    *buf = p;
    return 0;
}

static int grow(float **buf, size_t rows, size_t cols, nv_error *err)
{
    return grow_elems((void **)buf, rows, cols, sizeof(float), err);
}

static int grow_bf16(uint16_t **buf, size_t rows, size_t cols, nv_error *err)
{
    return grow_elems((void **)buf, rows, cols, sizeof(uint16_t), err);
}

int nv_decoder_reserve(nv_decoder *dec, int T, int max_ctx, nv_error *err)
{
    nv_decoder_scratch *s = &dec->scratch;
    const nv_llm_config *c = &dec->cfg;
    if (T < 1 || max_ctx < 1)
        return nv_fail(err, "decoder: chunk %d and context %d must be >= 1",
                       T, max_ctx);
    if (T > s->max_T) {
        size_t t = (size_t)T;
        size_t qd = (size_t)c->n_heads * (size_t)c->head_dim;
        size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim;
        if (grow(&s->x, t, (size_t)c->hidden_size, err) ||
            grow(&s->h, t, (size_t)c->hidden_size, err) ||
            grow(&s->q, t, qd, err) || grow(&s->k, t, kvd, err) ||
            grow(&s->v, t, kvd, err) || grow(&s->attn, t, qd, err) ||
            grow(&s->gate, t, (size_t)c->intermediate_size, err) ||
            grow(&s->up, t, (size_t)c->intermediate_size, err) ||
            grow(&s->rope_cos, t, (size_t)c->head_dim / 2, err) ||
            grow(&s->rope_sin, t, (size_t)c->head_dim / 2, err) ||
            grow(&s->inv_freq, 1, (size_t)c->head_dim / 2, err))
            return -1;
        if (dec->attn_bf16 &&
            (grow_bf16(&s->h_bf16, t, (size_t)c->hidden_size, err) ||
             grow_bf16(&s->gate_bf16, t, (size_t)c->intermediate_size, err)))
            return -1;
        s->max_T = T;
    }
    nv_causal_attn_dims d = attn_dims(c);
    if (nv_causal_attn_reserve(&s->attention, &d, dec->n_workers,
                               dec->attn_bf16, s->max_T, max_ctx, err))
        return -1;
    return 0;
}

int nv_decoder_kv_init(const nv_decoder *dec, nv_kv_cache *kv, int max_ctx,
                       nv_error *err)
{
    return nv_kv_cache_init(kv, dec->cfg.n_layers, dec->cfg.n_kv_heads,
                            dec->cfg.head_dim, max_ctx, err);
}

/* ---- building blocks -------------------------------------------------- */

int nv_decoder_embed(const nv_decoder *dec, const int32_t *ids, int T,
                     float *out, nv_error *err)
{
    int H = dec->cfg.hidden_size;
    int rows = nv_llm_config_input_vocab(&dec->cfg);
    for (int t = 0; t < T; t++) {
        if (ids[t] < 0 || ids[t] >= rows)
            return nv_fail(err, "decoder: token id %d at position %d is "
                           "outside the vocabulary of %d", (int)ids[t], t,
                           rows);
        nv_weight_rows_f32(&dec->embed, ids[t], 1, out + (size_t)t * H);
    }
    return 0;
}

static const float *bias_of(const nv_tensor *t)
{
    return t->data ? nv_tensor_f32(t) : NULL;
}

static int layer_forward(nv_decoder *dec, nv_kv_cache *kv, int l, int T,
                         int pos0, nv_error *err)
{
    const nv_llm_config *c = &dec->cfg;
    const nv_decoder_layer *L = &dec->layers[l];
    nv_decoder_scratch *s = &dec->scratch;
    int H = c->hidden_size, I = c->intermediate_size, hd = c->head_dim;
    int qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    float eps = (float)c->rms_norm_eps;
    nv_pool *pool = dec->pool;
    /* Where the products run on oneDNN, the norms and the gating hand
     * them their inputs already rounded to bf16. */
    int rounded = dec->attn_bf16 && T >= NV_LINEAR_GEMV_ROWS;
    uint16_t *h_bf16 = rounded ? s->h_bf16 : NULL;
    uint16_t *gate_bf16 = rounded ? s->gate_bf16 : NULL;

    nv_dec_add_norm(pool, s->x, NULL, nv_tensor_f32(&L->attn_norm), s->h,
                    h_bf16, T, H, eps);
    nv_linear_part qkv[3] = {{s->q, &L->wq, bias_of(&L->bq), qd},
                             {s->k, &L->wk, bias_of(&L->bk), kvd},
                             {s->v, &L->wv, bias_of(&L->bv), kvd}};
    if (nv_linear_w_group_rounded(pool, s->h, h_bf16, T, H, qkv, 3, err))
        return -1;
    nv_dec_rope_store rs = {s->q, s->k, s->v, s->rope_cos, s->rope_sin, T,
                            c->n_heads, c->n_kv_heads, hd, kv, l, pos0};
    nv_dec_rope_and_store(pool, &rs);
    nv_causal_attn_dims d = attn_dims(c);
    nv_causal_attn(&s->attention, &d, pool, kv, l, s->q, s->attn, T, pos0);
    /* o_proj's output goes to h (free again), then joins the residual
     * stream in the next norm's job. */
    if (nv_linear_w(pool, s->h, s->attn, &L->wo, bias_of(&L->bo), T, qd, H,
                    err))
        return -1;
    nv_dec_add_norm(pool, s->x, s->h, nv_tensor_f32(&L->mlp_norm), s->h,
                    h_bf16, T, H, eps);
    nv_linear_part gate_up[2] = {
        {s->gate, &L->w_gate, bias_of(&L->b_gate), I},
        {s->up, &L->w_up, bias_of(&L->b_up), I}};
    if (nv_linear_w_group_rounded(pool, s->h, h_bf16, T, H, gate_up, 2, err))
        return -1;
    nv_dec_silu_gate(pool, s->gate, s->up, gate_bf16, T, I);
    if (nv_linear_w_rounded(pool, s->h, s->gate, gate_bf16, &L->w_down,
                            bias_of(&L->b_down), T, I, H, err))
        return -1;
    nv_dec_add_norm(pool, s->x, s->h, NULL, NULL, NULL, T, H, eps);
    return 0;
}

/* ---- forward ---------------------------------------------------------- */

int nv_decoder_forward(nv_decoder *dec, nv_kv_cache *kv,
                       const nv_decoder_run *run, nv_error *err)
{
    const nv_llm_config *c = &dec->cfg;
    nv_decoder_scratch *s = &dec->scratch;
    int T = run->T, H = c->hidden_size, V = c->vocab_size;
    if (T < 1)
        return nv_fail(err, "decoder: forward needs at least one position");
    if (!run->ids == !run->embeds)
        return nv_fail(err, "decoder: give either token ids or embeddings");
    if (kv->n_layers != c->n_layers || kv->n_kv_heads != c->n_kv_heads ||
        kv->head_dim != c->head_dim)
        return nv_fail(err, "decoder: kv cache shaped %d x %d x %d does not "
                       "fit the model (%d x %d x %d)", kv->n_layers,
                       kv->n_kv_heads, kv->head_dim, c->n_layers,
                       c->n_kv_heads, c->head_dim);
    int pos0 = kv->len;
    if (T > kv->max_ctx - pos0)
        return nv_fail(err, "decoder: context full: %d cached + %d new "
                       "positions exceed the cache's %d", pos0, T,
                       kv->max_ctx);
    if (nv_decoder_reserve(dec, T, kv->max_ctx, err))
        return -1;

    if (run->ids) {
        if (nv_decoder_embed(dec, run->ids, T, s->x, err))
            return -1;
    } else {
        memcpy(s->x, run->embeds, (size_t)T * H * sizeof(float));
    }
    /* One rotary table serves every layer. The dynamic type rescales by the
     * sequence length seen so far, as transformers does per call. */
    nv_rope_inv_freq(&c->rope, c->head_dim, (int64_t)pos0 + T, s->inv_freq);
    nv_rope_tables(s->inv_freq, c->head_dim, pos0, T, s->rope_cos,
                   s->rope_sin);

    size_t plane = (size_t)T * H;
    for (int l = 0; l < c->n_layers; l++) {
        if (run->hidden_states)
            memcpy(run->hidden_states + (size_t)l * plane, s->x,
                   plane * sizeof(float));
        if (run->hook && run->hook(run->hook_ctx, l, s->x, T, pos0, err))
            return nv_fail_prefix(err, "decoder layer %d hook: ", l);
        if (!nv_llm_config_skips(c, l) &&
            layer_forward(dec, kv, l, T, pos0, err))
            return nv_fail_prefix(err, "decoder layer %d: ", l);
    }
    if (run->hook && run->hook(run->hook_ctx, c->n_layers, s->x, T, pos0, err))
        return nv_fail_prefix(err, "decoder final hook: ");
    kv->len = pos0 + T;

    nv_dec_add_norm(dec->pool, s->x, NULL, nv_tensor_f32(&dec->final_norm),
                    s->h, NULL, T, H, (float)c->rms_norm_eps);
    if (run->hidden_states)
        memcpy(run->hidden_states + (size_t)c->n_layers * plane, s->h,
               plane * sizeof(float));
    if (run->logits) {
        const nv_tensor *head = dec->lm_head.data ? &dec->lm_head
                                                  : &dec->embed;
        int rows = run->last_only ? 1 : T;
        const float *from = s->h + (size_t)(T - rows) * H;
        if (nv_linear_w(dec->pool, run->logits, from, head, NULL, rows, H, V,
                        err))
            return -1;
    }
    return 0;
}
