/* mllama_vision.c - Llama 3.2 Vision's tiled encoder: config, weights and
 * the forward pass; see mllama_vision.h for the data flow. */
#include "vision/mllama_vision.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/matmul.h"
#include "core/tensor.h"
#include "vision/vit_ops.h"

/* Bounds that keep every size product far from int overflow and still
 * hold any real checkpoint (11B / 90B: D 1280, 32 + 8 layers, 560 px). */
enum { MAX_WIDTH = 1 << 16, MAX_LAYERS = 1024, MAX_IMAGE = 1 << 13,
       MAX_TILES = 64 };

/* Queries per attention task (bounds a worker's score rows). */
#define QBLOCK 64

typedef struct vision_layer {
    nv_tensor ln1_w, ln1_b, wq, wk, wv, wo, ln2_w, ln2_b;
    nv_tensor fc1_w, fc1_b, fc2_w, fc2_b;
    float gate_attn; /* tanh of the gate; 1 for the ungated local layers */
    float gate_ffn;
} vision_layer;

struct nv_mllama_vision {
    nv_mllama_vision_config cfg;
    nv_tensor patch_w;      /* [D, 3, P, P] = [D, 3*P*P] */
    nv_tensor class_emb;    /* [D] */
    nv_tensor pos_emb;      /* [N, D] */
    float pos_gate;         /* tanh */
    nv_tensor tile_pos_emb; /* [ar+1, tiles*N*D] */
    nv_tensor pre_tile;     /* [ar+1, tiles*D] */
    float pre_gate;
    nv_tensor post_tile;
    float post_gate;
    nv_tensor ln_pre_w, ln_pre_b, ln_post_w, ln_post_b;
    vision_layer *local;
    vision_layer *global;
};

/* ---- config ----------------------------------------------------------- */

static int get_int(const cJSON *vc, const char *key, const char *file,
                   const int64_t *def, int64_t lo, int64_t hi, int *out,
                   nv_error *err)
{
    int64_t v;
    int rc = def ? nv_json_int_opt(vc, key, file, *def, &v, err)
                 : nv_json_int_req(vc, key, file, &v, err);
    if (rc)
        return nv_fail_prefix(err, "vision_config: ");
    if (v < lo || v > hi)
        return nv_fail(err, "%s: vision_config.%s = %lld is outside [%lld, "
                       "%lld]", file, key, (long long)v, (long long)lo,
                       (long long)hi);
    *out = (int)v;
    return 0;
}

/* Grids (w, h) with w * h <= max_tiles, as get_all_supported_aspect_ratios
 * enumerates them. */
static int count_aspect_ratios(int max_tiles)
{
    int n = 0;
    for (int a = 1; a <= max_tiles; a++)
        for (int b = 1; b <= max_tiles; b++)
            n += a * b <= max_tiles;
    return n;
}

int nv_mllama_vision_config_parse(const cJSON *vc, const char *file,
                                  nv_mllama_vision_config *c, nv_error *err)
{
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(vc))
        return nv_fail(err, "%s: vision_config is not an object", file);
    const int64_t d_patch = 14, d_channels = 3, d_tiles = 4;
    if (get_int(vc, "hidden_size", file, NULL, 1, MAX_WIDTH, &c->hidden,
                err) ||
        get_int(vc, "attention_heads", file, NULL, 1, 4096, &c->heads,
                err) ||
        get_int(vc, "intermediate_size", file, NULL, 1, MAX_WIDTH,
                &c->intermediate, err) ||
        get_int(vc, "image_size", file, NULL, 1, MAX_IMAGE, &c->image_size,
                err) ||
        get_int(vc, "num_hidden_layers", file, NULL, 1, MAX_LAYERS,
                &c->n_layers, err) ||
        get_int(vc, "num_global_layers", file, NULL, 0, MAX_LAYERS,
                &c->n_global_layers, err) ||
        get_int(vc, "patch_size", file, &d_patch, 1, MAX_IMAGE,
                &c->patch_size, err) ||
        get_int(vc, "num_channels", file, &d_channels, 3, 3, &c->channels,
                err) ||
        get_int(vc, "max_num_tiles", file, &d_tiles, 1, MAX_TILES,
                &c->max_tiles, err))
        return -1;
    if (c->hidden % c->heads)
        return nv_fail(err, "%s: vision_config.hidden_size %d is not a "
                       "multiple of attention_heads %d", file, c->hidden,
                       c->heads);
    if (c->image_size % c->patch_size)
        return nv_fail(err, "%s: vision_config.image_size %d is not a "
                       "multiple of patch_size %d", file, c->image_size,
                       c->patch_size);
    double eps;
    if (nv_json_num_opt(vc, "norm_eps", file, 1e-5, &eps, err))
        return -1;
    if (!(eps > 0 && eps < 1))
        return nv_fail(err, "%s: vision_config.norm_eps %g is out of range",
                       file, eps);
    c->norm_eps = (float)eps;
    const char *act = NULL;
    if (nv_json_str_opt(vc, "hidden_act", file, "gelu", &act, err))
        return -1;
    if (strcmp(act, "gelu") != 0)
        return nv_fail(err, "%s: vision_config.hidden_act '%s' is not "
                       "supported (gelu)", file, act);

    const cJSON *idx = nv_json_get(vc, "intermediate_layers_indices");
    if (!idx)
        return nv_fail(err, "%s: vision_config: missing key "
                       "'intermediate_layers_indices'", file);
    if (!cJSON_IsArray(idx) ||
        cJSON_GetArraySize(idx) > NV_MLLAMA_MAX_INTERMEDIATE)
        return nv_fail(err, "%s: vision_config.intermediate_layers_indices "
                       "must be a list of at most %d layer indices", file,
                       NV_MLLAMA_MAX_INTERMEDIATE);
    const cJSON *it;
    cJSON_ArrayForEach(it, idx) {
        char key[64];
        snprintf(key, sizeof key,
                 "vision_config.intermediate_layers_indices[%d]",
                 c->n_intermediate);
        int64_t v;
        /* Index n_layers is the state after the last local layer. */
        if (nv_json_as_int(it, key, file, 0, c->n_layers, &v, err))
            return -1;
        c->intermediate_idx[c->n_intermediate++] = (int)v;
    }

    c->n_aspect_ratios = count_aspect_ratios(c->max_tiles);
    const cJSON *sar = nv_json_get(vc, "supported_aspect_ratios");
    if (sar && !cJSON_IsNull(sar) &&
        (!cJSON_IsArray(sar) ||
         cJSON_GetArraySize(sar) != c->n_aspect_ratios))
        return nv_fail(err, "%s: vision_config.supported_aspect_ratios must "
                       "list the %d grids of at most max_num_tiles = %d "
                       "tiles", file, c->n_aspect_ratios, c->max_tiles);
    int64_t out_dim;
    int64_t want = (int64_t)c->hidden * (1 + c->n_intermediate);
    if (nv_json_int_opt(vc, "vision_output_dim", file, want, &out_dim, err))
        return -1;
    if (out_dim != want)
        return nv_fail(err, "%s: vision_config.vision_output_dim %lld is not "
                       "hidden_size * (1 + intermediate layers) = %lld", file,
                       (long long)out_dim, (long long)want);
    return 0;
}

/* ---- weights ---------------------------------------------------------- */

static int get_w(const nv_safetensors *st, const char *name, int ndim,
                 int64_t d0, int64_t d1, nv_tensor *out, nv_error *err)
{
    char full[256];
    snprintf(full, sizeof full, "vision_model.%s", name);
    int64_t shape[2] = {d0, d1};
    return nv_st_get_f32(st, full, ndim, shape, out, err);
}

static int get_gate(const nv_safetensors *st, const char *name, float *tanh_g,
                    nv_error *err)
{
    nv_tensor t = {0};
    if (get_w(st, name, 1, 1, 0, &t, err))
        return -1;
    float g = nv_tensor_f32(&t)[0];
    nv_tensor_free(&t);
    if (!isfinite(g))
        return nv_fail(err, "vision_model.%s is not finite", name);
    *tanh_g = tanhf(g);
    return 0;
}

static int load_layer(const nv_safetensors *st, const nv_mllama_vision_config *c,
                      const char *stack, int l, int gated, vision_layer *L,
                      nv_error *err)
{
    int64_t D = c->hidden, I = c->intermediate;
    char n[12][96];
    const char *parts[12] = {
        "input_layernorm.weight", "input_layernorm.bias",
        "self_attn.q_proj.weight", "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "post_attention_layernorm.weight", "post_attention_layernorm.bias",
        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    };
    for (int i = 0; i < 12; i++)
        snprintf(n[i], sizeof n[i], "%s.layers.%d.%s", stack, l, parts[i]);
    if (get_w(st, n[0], 1, D, 0, &L->ln1_w, err) ||
        get_w(st, n[1], 1, D, 0, &L->ln1_b, err) ||
        get_w(st, n[2], 2, D, D, &L->wq, err) ||
        get_w(st, n[3], 2, D, D, &L->wk, err) ||
        get_w(st, n[4], 2, D, D, &L->wv, err) ||
        get_w(st, n[5], 2, D, D, &L->wo, err) ||
        get_w(st, n[6], 1, D, 0, &L->ln2_w, err) ||
        get_w(st, n[7], 1, D, 0, &L->ln2_b, err) ||
        get_w(st, n[8], 2, I, D, &L->fc1_w, err) ||
        get_w(st, n[9], 1, I, 0, &L->fc1_b, err) ||
        get_w(st, n[10], 2, D, I, &L->fc2_w, err) ||
        get_w(st, n[11], 1, D, 0, &L->fc2_b, err))
        return -1;
    L->gate_attn = L->gate_ffn = 1.0f;
    if (!gated)
        return 0;
    char g[96];
    snprintf(g, sizeof g, "%s.layers.%d.gate_attn", stack, l);
    if (get_gate(st, g, &L->gate_attn, err))
        return -1;
    snprintf(g, sizeof g, "%s.layers.%d.gate_ffn", stack, l);
    return get_gate(st, g, &L->gate_ffn, err);
}

static void free_layer(vision_layer *L)
{
    nv_tensor *all[] = {&L->ln1_w, &L->ln1_b, &L->wq,    &L->wk,
                        &L->wv,    &L->wo,    &L->ln2_w, &L->ln2_b,
                        &L->fc1_w, &L->fc1_b, &L->fc2_w, &L->fc2_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
}

void nv_mllama_vision_free(nv_mllama_vision *v)
{
    if (!v)
        return;
    for (int l = 0; v->local && l < v->cfg.n_layers; l++)
        free_layer(&v->local[l]);
    for (int l = 0; v->global && l < v->cfg.n_global_layers; l++)
        free_layer(&v->global[l]);
    free(v->local);
    free(v->global);
    nv_tensor *all[] = {&v->patch_w,  &v->class_emb, &v->pos_emb,
                        &v->tile_pos_emb, &v->pre_tile, &v->post_tile,
                        &v->ln_pre_w, &v->ln_pre_b,  &v->ln_post_w,
                        &v->ln_post_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
    free(v);
}

int nv_mllama_vision_load(const nv_safetensors *st, const cJSON *vc,
                          const char *file, nv_mllama_vision **out,
                          nv_error *err)
{
    *out = NULL;
    nv_mllama_vision *v = calloc(1, sizeof *v);
    if (!v)
        return nv_fail(err, "mllama vision: out of memory");
    nv_mllama_vision_config *c = &v->cfg;
    if (nv_mllama_vision_config_parse(vc, file, c, err))
        goto fail;
    int64_t D = c->hidden, P = c->patch_size, g = c->image_size / P;
    int64_t N = g * g + 1, AR = c->n_aspect_ratios + 1, T = c->max_tiles;
    int64_t patch_shape[4] = {D, 3, P, P};
    v->local = calloc((size_t)c->n_layers, sizeof *v->local);
    v->global = calloc((size_t)c->n_global_layers + 1, sizeof *v->global);
    if (!v->local || !v->global) {
        nv_fail(err, "mllama vision: out of memory");
        goto fail;
    }
    if (nv_st_get_f32(st, "vision_model.patch_embedding.weight", 4,
                      patch_shape, &v->patch_w, err) ||
        get_w(st, "class_embedding", 1, D, 0, &v->class_emb, err) ||
        get_w(st, "gated_positional_embedding.embedding", 2, N, D,
              &v->pos_emb, err) ||
        get_gate(st, "gated_positional_embedding.gate", &v->pos_gate, err) ||
        get_w(st, "gated_positional_embedding.tile_embedding.weight", 2, AR,
              T * N * D, &v->tile_pos_emb, err) ||
        get_w(st, "pre_tile_positional_embedding.embedding.weight", 2, AR,
              T * D, &v->pre_tile, err) ||
        get_gate(st, "pre_tile_positional_embedding.gate", &v->pre_gate,
                 err) ||
        get_w(st, "post_tile_positional_embedding.embedding.weight", 2, AR,
              T * D, &v->post_tile, err) ||
        get_gate(st, "post_tile_positional_embedding.gate", &v->post_gate,
                 err) ||
        get_w(st, "layernorm_pre.weight", 1, D, 0, &v->ln_pre_w, err) ||
        get_w(st, "layernorm_pre.bias", 1, D, 0, &v->ln_pre_b, err) ||
        get_w(st, "layernorm_post.weight", 1, D, 0, &v->ln_post_w, err) ||
        get_w(st, "layernorm_post.bias", 1, D, 0, &v->ln_post_b, err))
        goto fail;
    for (int l = 0; l < c->n_layers; l++)
        if (load_layer(st, c, "transformer", l, 0, &v->local[l], err))
            goto fail;
    for (int l = 0; l < c->n_global_layers; l++)
        if (load_layer(st, c, "global_transformer", l, 1, &v->global[l],
                       err))
            goto fail;
    *out = v;
    return 0;
fail:
    nv_mllama_vision_free(v);
    return -1;
}

const nv_mllama_vision_config *
nv_mllama_vision_config_of(const nv_mllama_vision *v)
{
    return &v->cfg;
}

int nv_mllama_vision_tokens(const nv_mllama_vision *v)
{
    int g = v->cfg.image_size / v->cfg.patch_size;
    return g * g + 1;
}

int nv_mllama_vision_out_dim(const nv_mllama_vision *v)
{
    return v->cfg.hidden * (1 + v->cfg.n_intermediate);
}

/* ---- forward ---------------------------------------------------------- */

/* Buffers of one encode call; L = tiles * padded tokens. */
typedef struct vision_run {
    const nv_mllama_vision *v;
    nv_pool *pool;
    int L;
    int n_workers;
    const unsigned char *pad; /* [L] 1 = padding token */
    float *x, *h, *q, *k, *v_, *attn, *mlp; /* [L, D] x6, [L, I] */
    float *scores;             /* [workers][QBLOCK][L] */
} vision_run;

typedef struct attn_job {
    vision_run *r;
    int n_qblocks;
    int n_tasks;
} attn_job;

static void attn_worker(void *ctx, int w)
{
    const attn_job *job = ctx;
    vision_run *r = job->r;
    int D = r->v->cfg.hidden, hd = D / r->v->cfg.heads, L = r->L;
    float scale = 1.0f / sqrtf((float)hd);
    float *S = r->scores + (size_t)w * QBLOCK * L;
    for (int task = w; task < job->n_tasks; task += r->n_workers) {
        int head = task / job->n_qblocks;
        int t0 = (task % job->n_qblocks) * QBLOCK;
        int rows = L - t0 < QBLOCK ? L - t0 : QBLOCK;
        size_t off = (size_t)head * hd;
        nv_gemm_nt(S, r->q + (size_t)t0 * D + off, r->k + off, rows, hd, L,
                   D, D, L, scale, 0.0f);
        /* A padding query does not see padding keys (upstream's mask is
         * the outer product of the padding flags). */
        for (int i = 0; i < rows; i++)
            if (r->pad[t0 + i])
                for (int j = 0; j < L; j++)
                    if (r->pad[j])
                        S[(size_t)i * L + j] = -INFINITY;
        nv_softmax_rows(S, rows, L);
        nv_gemm_nn(r->attn + (size_t)t0 * D + off, S, r->v_ + off, rows, L,
                   hd, L, D, D, 1.0f, 0.0f);
    }
}

static void layer_forward(vision_run *r, const vision_layer *Lw)
{
    const nv_mllama_vision_config *c = &r->v->cfg;
    int D = c->hidden, I = c->intermediate, L = r->L;
    size_t n = (size_t)L * D;
    nv_layer_norm_rows_pooled(r->pool, r->h, r->x, L, D,
                              nv_tensor_f32(&Lw->ln1_w),
                              nv_tensor_f32(&Lw->ln1_b), c->norm_eps);
    nv_linear(r->q, r->h, nv_tensor_f32(&Lw->wq), NULL, L, D, D);
    nv_linear(r->k, r->h, nv_tensor_f32(&Lw->wk), NULL, L, D, D);
    nv_linear(r->v_, r->h, nv_tensor_f32(&Lw->wv), NULL, L, D, D);
    attn_job job = {.r = r, .n_qblocks = (L + QBLOCK - 1) / QBLOCK};
    job.n_tasks = job.n_qblocks * c->heads;
    if (r->pool && r->n_workers > 1)
        nv_pool_run(r->pool, r->n_workers, attn_worker, &job);
    else
        attn_worker(&job, 0);
    nv_linear(r->h, r->attn, nv_tensor_f32(&Lw->wo), NULL, L, D, D);
    for (size_t i = 0; i < n; i++)
        r->x[i] += Lw->gate_attn * r->h[i];

    nv_layer_norm_rows_pooled(r->pool, r->h, r->x, L, D,
                              nv_tensor_f32(&Lw->ln2_w),
                              nv_tensor_f32(&Lw->ln2_b), c->norm_eps);
    nv_linear(r->mlp, r->h, nv_tensor_f32(&Lw->fc1_w),
              nv_tensor_f32(&Lw->fc1_b), L, D, I);
    nv_gelu_erf_pooled(r->pool, r->mlp, (size_t)L * I);
    nv_linear(r->h, r->mlp, nv_tensor_f32(&Lw->fc2_w),
              nv_tensor_f32(&Lw->fc2_b), L, I, D);
    for (size_t i = 0; i < n; i++)
        r->x[i] += Lw->gate_ffn * r->h[i];
}

/* Patch conv + tile embeddings + CLS + position embeddings + layernorm_pre
 * into r->x, pad tokens zero. */
static void embed(vision_run *r, const float *pixels, int ar, float *cols,
                  int Np)
{
    const nv_mllama_vision *v = r->v;
    const nv_mllama_vision_config *c = &v->cfg;
    int D = c->hidden, P = c->patch_size, S = c->image_size, g = S / P;
    int N = g * g + 1, T = c->max_tiles, K = 3 * P * P;
    nv_patch_im2col(pixels, T, S, P, cols);
    /* Patch features land in r->h, then move to tokens 1.. of each tile. */
    nv_linear(r->h, cols, nv_tensor_f32(&v->patch_w), NULL, T * g * g, K, D);
    memset(r->x, 0, sizeof(float) * (size_t)r->L * D);
    const float *pre = nv_tensor_f32(&v->pre_tile) + (size_t)ar * T * D;
    const float *pos = nv_tensor_f32(&v->pos_emb);
    const float *tile_pos =
        nv_tensor_f32(&v->tile_pos_emb) + (size_t)ar * T * N * D;
    const float *cls = nv_tensor_f32(&v->class_emb);
    for (int t = 0; t < T; t++) {
        float *xt = r->x + (size_t)t * Np * D;
        memcpy(xt, cls, sizeof(float) * (size_t)D);
        for (int p = 0; p < g * g; p++) {
            const float *src = r->h + ((size_t)t * g * g + p) * D;
            float *dst = xt + (size_t)(p + 1) * D;
            /* The pre-tile embedding reaches the patches, not the CLS
             * token, which is added after it. */
            for (int d = 0; d < D; d++)
                dst[d] = src[d] + v->pre_gate * pre[(size_t)t * D + d];
        }
        for (int p = 0; p < N; p++) {
            float *dst = xt + (size_t)p * D;
            const float *tp = tile_pos + ((size_t)t * N + p) * D;
            const float *pp = pos + (size_t)p * D;
            for (int d = 0; d < D; d++)
                dst[d] = dst[d] + (1.0f - v->pos_gate) * pp[d] +
                         v->pos_gate * tp[d];
        }
        nv_layer_norm_rows(xt, xt, N, D, nv_tensor_f32(&v->ln_pre_w),
                           nv_tensor_f32(&v->ln_pre_b), c->norm_eps);
    }
}

static float *alloc_f(size_t a, size_t b)
{
    return malloc(sizeof(float) * a * b + 1);
}

int nv_mllama_vision_encode(const nv_mllama_vision *v, nv_pool *pool,
                            const float *pixels, int aspect_ratio_id,
                            int n_real_tiles, float *out, nv_error *err)
{
    const nv_mllama_vision_config *c = &v->cfg;
    if (aspect_ratio_id < 1 || aspect_ratio_id > c->n_aspect_ratios)
        return nv_fail(err, "mllama vision: aspect ratio id %d is outside "
                       "[1, %d]", aspect_ratio_id, c->n_aspect_ratios);
    if (n_real_tiles < 1 || n_real_tiles > c->max_tiles)
        return nv_fail(err, "mllama vision: %d real tiles (1 .. %d)",
                       n_real_tiles, c->max_tiles);
    int D = c->hidden, I = c->intermediate, T = c->max_tiles;
    int g = c->image_size / c->patch_size, N = g * g + 1;
    int Np = (N + 7) / 8 * 8, K = c->n_intermediate;
    int OD = D * (1 + K);
    vision_run r = {.v = v, .pool = pool, .L = T * Np,
                    .n_workers = pool ? nv_pool_size(pool) : 1};
    size_t L = (size_t)r.L;
    unsigned char *pad = malloc(L);
    float *cols = alloc_f((size_t)T * g * g, (size_t)3 * c->patch_size *
                                                 c->patch_size);
    float *inter = alloc_f((size_t)(K ? K : 1) * L, (size_t)D);
    r.x = alloc_f(L, (size_t)D);
    r.h = alloc_f(L, (size_t)D);
    r.q = alloc_f(L, (size_t)D);
    r.k = alloc_f(L, (size_t)D);
    r.v_ = alloc_f(L, (size_t)D);
    r.attn = alloc_f(L, (size_t)D);
    r.mlp = alloc_f(L, (size_t)I);
    r.scores = alloc_f((size_t)r.n_workers * QBLOCK, L);
    int rc = 0;
    if (!pad || !cols || !inter || !r.x || !r.h || !r.q || !r.k || !r.v_ ||
        !r.attn || !r.mlp || !r.scores) {
        rc = nv_fail(err, "mllama vision: out of memory for %d tiles", T);
        goto done;
    }
    for (int t = 0; t < T; t++)
        for (int p = 0; p < Np; p++)
            pad[(size_t)t * Np + p] = t >= n_real_tiles || p >= N;
    r.pad = pad;

    embed(&r, pixels, aspect_ratio_id, cols, Np);
    for (int l = 0; l <= c->n_layers; l++) {
        for (int k = 0; k < K; k++)
            if (c->intermediate_idx[k] == l)
                memcpy(inter + (size_t)k * L * D, r.x,
                       sizeof(float) * L * D);
        if (l < c->n_layers)
            layer_forward(&r, &v->local[l]);
    }
    nv_layer_norm_rows_pooled(pool, r.x, r.x, r.L, D,
                              nv_tensor_f32(&v->ln_post_w),
                              nv_tensor_f32(&v->ln_post_b), c->norm_eps);
    const float *post =
        nv_tensor_f32(&v->post_tile) + (size_t)aspect_ratio_id * T * D;
    for (int t = 0; t < T; t++)
        for (int p = 0; p < Np; p++) {
            float *x = r.x + ((size_t)t * Np + p) * D;
            for (int d = 0; d < D; d++)
                x[d] += v->post_gate * post[(size_t)t * D + d];
        }
    for (int l = 0; l < c->n_global_layers; l++)
        layer_forward(&r, &v->global[l]);

    for (int t = 0; t < T; t++)
        for (int p = 0; p < N; p++) {
            size_t src = ((size_t)t * Np + p) * D;
            float *o = out + ((size_t)t * N + p) * OD;
            memcpy(o, r.x + src, sizeof(float) * (size_t)D);
            for (int d = 0; d < D; d++)
                for (int k = 0; k < K; k++)
                    o[D + d * K + k] = inter[(size_t)k * L * D + src + d];
        }
done:
    free(pad);
    free(cols);
    free(inter);
    free(r.x);
    free(r.h);
    free(r.q);
    free(r.k);
    free(r.v_);
    free(r.attn);
    free(r.mlp);
    free(r.scores);
    return rc;
}
