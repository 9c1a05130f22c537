/* clip_vit.c - the CLIP / SigLIP vision transformer; see clip_vit.h.
 *
 * All n images travel as one [n*T, C] matrix so every linear map is one
 * sgemm (q, k and v fused into one [3C, C] product at load); attention is
 * split per (image, head) over the pool.
 */
#include "vision/clip_vit.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/matmul.h"
#include "core/tensor.h"
#include "vision/vit_ops.h"

/* Dimensions above this are refused: no real tower comes near them, and
 * every product of two stays inside int. */
#define DIM_LIMIT (1 << 15)

typedef struct clip_layer {
    nv_tensor ln1_w, ln1_b, ln2_w, ln2_b;
    nv_tensor qkv_w, qkv_b; /* [3C, C], [3C]: q | k | v */
    nv_tensor out_w, out_b;
    nv_tensor fc1_w, fc1_b, fc2_w, fc2_b;
} clip_layer;

struct nv_clip_vit {
    nv_clip_vit_config cfg;
    int n_layers;          /* layers loaded and run */
    nv_tensor patch_w;     /* [C, 3*P*P] */
    nv_tensor patch_b;     /* [C]; empty for CLIP */
    nv_tensor cls;         /* [C]; CLIP only */
    nv_tensor pos;         /* [T, C] */
    nv_tensor pre_w, pre_b;   /* CLIP only */
    nv_tensor post_w, post_b; /* when post_norm */
    clip_layer *layer;
};

/* ---- activations ------------------------------------------------------- */

int nv_act_parse(const char *name, nv_act *out)
{
    if (!strcmp(name, "quick_gelu"))
        *out = NV_ACT_QUICK_GELU;
    else if (!strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_new"))
        *out = NV_ACT_GELU_TANH;
    else if (!strcmp(name, "gelu"))
        *out = NV_ACT_GELU_ERF;
    else
        return -1;
    return 0;
}

typedef struct act_job {
    nv_act act;
    float *x;
    size_t count;
    int parts;
} act_job;

static void act_part(void *ctx, int part)
{
    const act_job *job = ctx;
    size_t lo = job->count * (size_t)part / (size_t)job->parts;
    size_t hi = job->count * (size_t)(part + 1) / (size_t)job->parts;
    float *x = job->x;
    /* double inside: our rounding stays below PyTorch's float kernels. */
    for (size_t i = lo; i < hi; i++) {
        double v = x[i];
        if (job->act == NV_ACT_QUICK_GELU)
            x[i] = (float)(v / (1.0 + exp(-1.702 * v)));
        else if (job->act == NV_ACT_GELU_TANH)
            x[i] = (float)(0.5 * v *
                           (1.0 + tanh(0.7978845608028654 *
                                       (v + 0.044715 * v * v * v))));
        else
            x[i] = (float)(0.5 * v * (1.0 + erf(v * 0.7071067811865476)));
    }
}

void nv_act_apply(nv_pool *pool, nv_act act, float *x, size_t count)
{
    int parts = pool ? nv_pool_size(pool) : 1;
    act_job job = {act, x, count, parts};
    if (parts > 1 && count >= 4096)
        nv_pool_run(pool, parts, act_part, &job);
    else {
        job.parts = 1;
        act_part(&job, 0);
    }
}

/* ---- config ------------------------------------------------------------ */

typedef struct tower_defaults {
    const char *model_type;
    int hidden, intermediate, layers, heads, image_size, patch;
    double eps;
    const char *act;
    int cls, pre_norm;
} tower_defaults;

/* The Hugging Face config classes' defaults (a saved config.json leaves out
 * values equal to them). */
static const tower_defaults towers[] = {
    {"clip_vision_model", 768, 3072, 12, 12, 224, 32, 1e-5, "quick_gelu", 1,
     1},
    {"siglip_vision_model", 768, 3072, 12, 12, 224, 16, 1e-6,
     "gelu_pytorch_tanh", 0, 0},
    {"idefics3_vision", 1152, 3072, 12, 16, 224, 32, 1e-6,
     "gelu_pytorch_tanh", 0, 0},
    /* some SmolVLM configs name their tower after the whole model */
    {"idefics3", 1152, 3072, 12, 16, 224, 32, 1e-6, "gelu_pytorch_tanh", 0,
     0},
};

static int get_dim(const cJSON *obj, const char *key, const char *file,
                   const char *where, int def, int *out, nv_error *err)
{
    int64_t v = 0;
    if (nv_json_int_opt(obj, key, file, def, &v, err))
        return nv_fail_prefix(err, "%s: ", where);
    if (v < 1 || v > DIM_LIMIT)
        return nv_fail(err, "%s: %s.%s = %lld is out of range [1, %d]", file,
                       where, key, (long long)v, DIM_LIMIT);
    *out = (int)v;
    return 0;
}

int nv_clip_vit_config_parse(const cJSON *obj, const char *file,
                             const char *where, nv_clip_vit_config *cfg,
                             nv_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(obj))
        return nv_fail(err, "%s: no '%s' object", file, where);
    const char *type = NULL;
    if (nv_json_str_req(obj, "model_type", file, &type, err))
        return nv_fail_prefix(err, "%s: ", where);
    const tower_defaults *d = NULL;
    for (size_t i = 0; i < sizeof towers / sizeof towers[0]; i++)
        if (!strcmp(type, towers[i].model_type))
            d = &towers[i];
    if (!d)
        return nv_fail(err, "%s: %s.model_type '%s' is not a supported vision "
                       "tower (clip_vision_model, siglip_vision_model, "
                       "idefics3_vision)", file, where, type);
    const char *act = NULL;
    if (get_dim(obj, "hidden_size", file, where, d->hidden, &cfg->hidden,
                err) ||
        get_dim(obj, "intermediate_size", file, where, d->intermediate,
                &cfg->intermediate, err) ||
        get_dim(obj, "num_hidden_layers", file, where, d->layers,
                &cfg->layers, err) ||
        get_dim(obj, "num_attention_heads", file, where, d->heads,
                &cfg->heads, err) ||
        get_dim(obj, "image_size", file, where, d->image_size,
                &cfg->image_size, err) ||
        get_dim(obj, "patch_size", file, where, d->patch, &cfg->patch, err) ||
        nv_json_num_opt(obj, "layer_norm_eps", file, d->eps, &cfg->norm_eps,
                        err) ||
        nv_json_str_opt(obj, "hidden_act", file, d->act, &act, err))
        return -1;
    if (cfg->hidden % cfg->heads != 0)
        return nv_fail(err, "%s: %s.hidden_size %d is not a multiple of "
                       "num_attention_heads %d", file, where, cfg->hidden,
                       cfg->heads);
    if (cfg->image_size % cfg->patch != 0)
        return nv_fail(err, "%s: %s.image_size %d is not a multiple of "
                       "patch_size %d", file, where, cfg->image_size,
                       cfg->patch);
    if (!(cfg->norm_eps >= 0 && cfg->norm_eps < 1))
        return nv_fail(err, "%s: %s.layer_norm_eps %g is out of range", file,
                       where, cfg->norm_eps);
    if (nv_act_parse(act, &cfg->act))
        return nv_fail(err, "%s: %s.hidden_act '%s' is not supported "
                       "(quick_gelu, gelu, gelu_pytorch_tanh)", file, where,
                       act);
    cfg->head_dim = cfg->hidden / cfg->heads;
    cfg->grid = cfg->image_size / cfg->patch;
    cfg->cls = d->cls;
    cfg->pre_norm = d->pre_norm;
    if ((long long)cfg->grid * cfg->grid > DIM_LIMIT)
        return nv_fail(err, "%s: %s: %d x %d patches is too many", file,
                       where, cfg->grid, cfg->grid);
    return 0;
}

int nv_clip_vit_tokens(const nv_clip_vit_config *cfg)
{
    return cfg->grid * cfg->grid + (cfg->cls ? 1 : 0);
}

/* ---- loading ----------------------------------------------------------- */

static int get(const nv_safetensors *st, const char *prefix, const char *name,
               int64_t d0, int64_t d1, nv_tensor *out, nv_error *err)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int64_t shape[2] = {d0, d1};
    return nv_st_get_f32(st, full, d1 > 0 ? 2 : 1, shape, out, err);
}

static void free_layer(clip_layer *L)
{
    nv_tensor *all[] = {&L->ln1_w, &L->ln1_b, &L->ln2_w, &L->ln2_b,
                        &L->qkv_w, &L->qkv_b, &L->out_w, &L->out_b,
                        &L->fc1_w, &L->fc1_b, &L->fc2_w, &L->fc2_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
}

/* q, k and v side by side in one [3C, C] weight and [3C] bias. */
static int load_qkv(const nv_safetensors *st, const char *lp, int C,
                    clip_layer *L, nv_error *err)
{
    int64_t wshape[2] = {3 * (int64_t)C, C}, bshape[1] = {3 * (int64_t)C};
    if (nv_tensor_alloc_f32(&L->qkv_w, 2, wshape, err) ||
        nv_tensor_alloc_f32(&L->qkv_b, 1, bshape, err))
        return -1;
    const char *names[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        char wname[96], bname[96];
        snprintf(wname, sizeof wname, "self_attn.%s.weight", names[i]);
        snprintf(bname, sizeof bname, "self_attn.%s.bias", names[i]);
        nv_tensor w = {0}, b = {0};
        int rc = get(st, lp, wname, C, C, &w, err);
        if (!rc)
            rc = get(st, lp, bname, C, 0, &b, err);
        if (!rc) {
            memcpy((float *)L->qkv_w.data + (size_t)i * C * C, w.data,
                   sizeof(float) * (size_t)C * C);
            memcpy((float *)L->qkv_b.data + (size_t)i * C, b.data,
                   sizeof(float) * (size_t)C);
        }
        nv_tensor_free(&w);
        nv_tensor_free(&b);
        if (rc)
            return -1;
    }
    return 0;
}

static int load_layer(const nv_safetensors *st, const char *prefix,
                      const nv_clip_vit_config *c, int l, clip_layer *L,
                      nv_error *err)
{
    char lp[400];
    snprintf(lp, sizeof lp, "%sencoder.layers.%d.", prefix, l);
    int C = c->hidden, I = c->intermediate;
    return get(st, lp, "layer_norm1.weight", C, 0, &L->ln1_w, err) ||
           get(st, lp, "layer_norm1.bias", C, 0, &L->ln1_b, err) ||
           load_qkv(st, lp, C, L, err) ||
           get(st, lp, "self_attn.out_proj.weight", C, C, &L->out_w, err) ||
           get(st, lp, "self_attn.out_proj.bias", C, 0, &L->out_b, err) ||
           get(st, lp, "layer_norm2.weight", C, 0, &L->ln2_w, err) ||
           get(st, lp, "layer_norm2.bias", C, 0, &L->ln2_b, err) ||
           get(st, lp, "mlp.fc1.weight", I, C, &L->fc1_w, err) ||
           get(st, lp, "mlp.fc1.bias", I, 0, &L->fc1_b, err) ||
           get(st, lp, "mlp.fc2.weight", C, I, &L->fc2_w, err) ||
           get(st, lp, "mlp.fc2.bias", C, 0, &L->fc2_b, err)
               ? -1
               : 0;
}

static int load_embeddings(const nv_safetensors *st, const char *prefix,
                           nv_clip_vit *v, nv_error *err)
{
    const nv_clip_vit_config *c = &v->cfg;
    char name[512];
    int64_t C = c->hidden, P = c->patch;
    int64_t conv[4] = {C, 3, P, P};
    snprintf(name, sizeof name, "%sembeddings.patch_embedding.weight",
             prefix);
    if (nv_st_get_f32(st, name, 4, conv, &v->patch_w, err))
        return -1;
    /* Conv2d weights [C, 3, P, P] are already the [C, 3*P*P] matrix of an
     * im2col product. */
    v->patch_w.ndim = 2;
    v->patch_w.shape[1] = 3 * P * P;
    /* CLIP's patch convolution has no bias, SigLIP's has one. */
    if (!c->cls && get(st, prefix, "embeddings.patch_embedding.bias", C, 0,
                       &v->patch_b, err))
        return -1;
    if (c->cls &&
        get(st, prefix, "embeddings.class_embedding", C, 0, &v->cls, err))
        return -1;
    if (get(st, prefix, "embeddings.position_embedding.weight",
            nv_clip_vit_tokens(c), C, &v->pos, err))
        return -1;
    if (c->pre_norm &&
        (get(st, prefix, "pre_layrnorm.weight", C, 0, &v->pre_w, err) ||
         get(st, prefix, "pre_layrnorm.bias", C, 0, &v->pre_b, err)))
        return -1;
    return 0;
}

int nv_clip_vit_load(const nv_safetensors *st, const char *prefix,
                     const nv_clip_vit_config *cfg, int n_layers,
                     int post_norm, nv_clip_vit **out, nv_error *err)
{
    *out = NULL;
    if (n_layers < 0 || n_layers > cfg->layers)
        return nv_fail(err, "vision tower: %d layers asked, it has %d",
                       n_layers, cfg->layers);
    nv_clip_vit *v = calloc(1, sizeof *v);
    if (!v)
        return nv_fail(err, "vision tower: out of memory");
    v->cfg = *cfg;
    v->layer = calloc((size_t)(n_layers > 0 ? n_layers : 1),
                      sizeof *v->layer);
    int rc = v->layer ? 0 : nv_fail(err, "vision tower: out of memory");
    if (!rc)
        rc = load_embeddings(st, prefix, v, err);
    for (int l = 0; l < n_layers && !rc; l++) {
        rc = load_layer(st, prefix, cfg, l, &v->layer[l], err);
        v->n_layers = l + 1;
    }
    if (!rc && post_norm)
        rc = get(st, prefix, "post_layernorm.weight", cfg->hidden, 0,
                 &v->post_w, err) ||
             get(st, prefix, "post_layernorm.bias", cfg->hidden, 0,
                 &v->post_b, err);
    if (rc) {
        nv_clip_vit_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

void nv_clip_vit_free(nv_clip_vit *v)
{
    if (!v)
        return;
    for (int l = 0; v->layer && l < v->n_layers; l++)
        free_layer(&v->layer[l]);
    free(v->layer);
    nv_tensor *all[] = {&v->patch_w, &v->patch_b, &v->cls,   &v->pos,
                        &v->pre_w,   &v->pre_b,   &v->post_w, &v->post_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
    free(v);
}

const nv_clip_vit_config *nv_clip_vit_config_of(const nv_clip_vit *v)
{
    return &v->cfg;
}

/* ---- forward ----------------------------------------------------------- */

typedef struct scratch {
    float *x;      /* [M, C] residual stream */
    float *normed; /* [M, C] */
    float *qkv;    /* [M, 3C] */
    float *attn;   /* [M, C] */
    float *wide;   /* [M, I] fc1 output; the im2col matrix at the start */
    float *delta;  /* [M, C] */
    float *scores; /* [workers, T, T] */
    int workers;
} scratch;

static void scratch_free(scratch *s)
{
    float *all[] = {s->x, s->normed, s->qkv, s->attn, s->wide, s->delta,
                    s->scores};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    memset(s, 0, sizeof *s);
}

static int scratch_alloc(scratch *s, const nv_clip_vit_config *c, int n,
                         int workers, nv_error *err)
{
    memset(s, 0, sizeof *s);
    size_t T = (size_t)nv_clip_vit_tokens(c), M = (size_t)n * T;
    size_t C = (size_t)c->hidden;
    size_t cols = (size_t)n * c->grid * c->grid * 3 * c->patch * c->patch;
    size_t wide = M * (size_t)c->intermediate;
    s->workers = workers;
    s->x = malloc(sizeof(float) * M * C);
    s->normed = malloc(sizeof(float) * M * C);
    s->qkv = malloc(sizeof(float) * M * 3 * C);
    s->attn = malloc(sizeof(float) * M * C);
    s->wide = malloc(sizeof(float) * (wide > cols ? wide : cols));
    s->delta = malloc(sizeof(float) * M * C);
    s->scores = malloc(sizeof(float) * (size_t)workers * T * T);
    if (!s->x || !s->normed || !s->qkv || !s->attn || !s->wide ||
        !s->delta || !s->scores) {
        scratch_free(s);
        return nv_fail(err, "vision tower: out of memory for %d images", n);
    }
    return 0;
}

static void add_rows(float *x, const float *delta, size_t count)
{
    for (size_t i = 0; i < count; i++)
        x[i] += delta[i];
}

static void run_layer(const nv_clip_vit *v, const clip_layer *L,
                      nv_pool *pool, scratch *s, int n)
{
    const nv_clip_vit_config *c = &v->cfg;
    int T = nv_clip_vit_tokens(c), M = n * T;
    int C = c->hidden, I = c->intermediate;
    float eps = (float)c->norm_eps;

    nv_layer_norm_rows_pooled(pool, s->normed, s->x, M, C, L->ln1_w.data,
                              L->ln1_b.data, eps);
    nv_linear(s->qkv, s->normed, L->qkv_w.data, L->qkv_b.data, M, C, 3 * C);
    nv_self_attention_fused(pool, s->workers, s->qkv, s->attn, s->scores, n,
                            T, c->heads, c->head_dim,
                            1.0f / sqrtf((float)c->head_dim), 0);
    nv_linear(s->delta, s->attn, L->out_w.data, L->out_b.data, M, C, C);
    add_rows(s->x, s->delta, (size_t)M * C);

    nv_layer_norm_rows_pooled(pool, s->normed, s->x, M, C, L->ln2_w.data,
                              L->ln2_b.data, eps);
    nv_linear(s->wide, s->normed, L->fc1_w.data, L->fc1_b.data, M, C, I);
    nv_act_apply(pool, c->act, s->wide, (size_t)M * I);
    nv_linear(s->delta, s->wide, L->fc2_w.data, L->fc2_b.data, M, I, C);
    add_rows(s->x, s->delta, (size_t)M * C);
}

/* Conv2d(3, C, P, stride P) as im2col and one product over all images'
 * patches, then [CLS |] patches + position embedding into s->x. */
static void embed(const nv_clip_vit *v, const float *pixels, int n,
                  scratch *s)
{
    const nv_clip_vit_config *c = &v->cfg;
    int P = c->patch, g = c->grid, C = c->hidden;
    float *cols = s->wide;
    float *embedded = s->qkv; /* [n*g*g, C]: free until the first layer */
    nv_patch_im2col(pixels, n, c->image_size, P, cols);
    nv_linear(embedded, cols, v->patch_w.data, v->patch_b.data, n * g * g,
              3 * P * P, C);
    nv_place_patch_tokens(embedded, c->cls ? v->cls.data : NULL, v->pos.data,
                          n, g * g, C, s->x);
}

int nv_clip_vit_forward(const nv_clip_vit *v, nv_pool *pool,
                        const float *pixels, int n,
                        nv_clip_capture_fn capture, void *capture_ctx,
                        float *out, nv_error *err)
{
    const nv_clip_vit_config *c = &v->cfg;
    int T = nv_clip_vit_tokens(c), C = c->hidden;
    long long widest = c->intermediate > 3 * C ? c->intermediate : 3 * C;
    if (3LL * c->patch * c->patch > widest)
        widest = 3LL * c->patch * c->patch;
    /* BLAS takes int sizes: keep every [rows, width] product inside int. */
    if (n < 1 || (long long)n * T * widest > INT_MAX)
        return nv_fail(err, "vision tower: cannot encode %d images at once",
                       n);
    int workers = pool ? nv_pool_size(pool) : 1;
    if (workers > n * c->heads)
        workers = n * c->heads;
    scratch s;
    if (scratch_alloc(&s, c, n, workers, err))
        return -1;
    embed(v, pixels, n, &s);
    int M = n * T;
    if (c->pre_norm)
        nv_layer_norm_rows_pooled(pool, s.x, s.x, M, C, v->pre_w.data,
                                  v->pre_b.data, (float)c->norm_eps);
    if (capture)
        capture(capture_ctx, 0, s.x, n, T, C);
    for (int l = 0; l < v->n_layers; l++) {
        run_layer(v, &v->layer[l], pool, &s, n);
        if (capture)
            capture(capture_ctx, l + 1, s.x, n, T, C);
    }
    if (v->post_w.data)
        nv_layer_norm_rows_pooled(pool, s.x, s.x, M, C, v->post_w.data,
                                  v->post_b.data, (float)c->norm_eps);
    memcpy(out, s.x, sizeof(float) * (size_t)M * C);
    scratch_free(&s);
    return 0;
}
