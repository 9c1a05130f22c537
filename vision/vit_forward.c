/* vit_forward.c - the InternViT forward pass: patch embedding, encoder
 * layers, and the CLS-drop (+ character probabilities, char_head.h) + pixel
 * shuffle that ends nv_vit_encode.
 *
 * All n tiles travel together as one [n*T, C] matrix so that every linear
 * map is a single sgemm; only attention is split per (tile, head), spread
 * over the thread pool.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/matmul.h"
#include "vision/pixel_shuffle.h"
#include "vision/vit.h"
#include "vision/vit_ops.h"
#include "vision/vit_weights.h"

/* Working buffers for one forward pass over n tiles (M = n*T rows). */
typedef struct scratch {
    float *x;      /* [M, C] residual stream */
    float *normed; /* [M, C] norm1 / norm2 output */
    float *qkv;    /* [M, 3W] */
    float *attn;   /* [M, W] attention output, heads side by side */
    float *mlp;    /* [M, I] fc1 output; [n*g*g, 3*P*P] im2col at the start */
    float *delta;  /* [M, C] attention or MLP branch output */
    float *scores; /* [workers, T, T] */
    /* Where the products run on oneDNN (bf16 or quantized weights on an
     * AVX-512 BF16 CPU), normed and mlp rounded to bf16 by the norm and
     * GELU jobs that write them; NULL otherwise. */
    uint16_t *normed_bf16; /* [M, C] */
    uint16_t *mlp_bf16;    /* [M, I] */
    int workers;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->x);
    free(s->normed);
    free(s->qkv);
    free(s->attn);
    free(s->mlp);
    free(s->delta);
    free(s->scores);
    free(s->normed_bf16);
    free(s->mlp_bf16);
    memset(s, 0, sizeof *s);
}

static float *alloc_floats(size_t count)
{
    return malloc((count ? count : 1) * sizeof(float));
}

static int scratch_alloc(scratch *s, const nv_vit_config *c, int n,
                         int workers, int rounded, nv_error *err)
{
    memset(s, 0, sizeof *s);
    size_t T = 1 + (size_t)c->grid * c->grid;
    size_t M = (size_t)n * T;
    size_t W = (size_t)nv_vit_config_attn_width(c);
    size_t im2col = (size_t)n * c->grid * c->grid * 3 * c->patch * c->patch;
    size_t mlp = M * (size_t)c->intermediate;
    s->workers = workers;
    s->x = alloc_floats(M * c->hidden);
    s->normed = alloc_floats(M * c->hidden);
    s->qkv = alloc_floats(M * 3 * W);
    s->attn = alloc_floats(M * W);
    s->mlp = alloc_floats(mlp > im2col ? mlp : im2col);
    s->delta = alloc_floats(M * c->hidden);
    s->scores = alloc_floats((size_t)workers * T * T);
    if (rounded) {
        s->normed_bf16 = malloc(M * (size_t)c->hidden * sizeof(uint16_t));
        s->mlp_bf16 = malloc(M * (size_t)c->intermediate * sizeof(uint16_t));
    }
    if (!s->x || !s->normed || !s->qkv || !s->attn || !s->mlp || !s->delta ||
        !s->scores || (rounded && (!s->normed_bf16 || !s->mlp_bf16))) {
        scratch_free(s);
        return nv_fail(err, "vit: out of memory for %d tiles", n);
    }
    return 0;
}

static void norm_rows(const nv_vit_config *c, nv_pool *pool, float *y,
                      uint16_t *y_bf16, const float *x, int rows,
                      const nv_tensor *w, const nv_tensor *b)
{
    nv_norm_rows_pooled_bf16(pool, y, y_bf16, x, rows, c->hidden,
                             nv_tensor_f32(w),
                             c->norm == NV_VIT_LAYER_NORM ? nv_tensor_f32(b)
                                                          : NULL,
                             c->norm_eps);
}

/* ---- layers ------------------------------------------------------------- */

static int run_layer(const nv_vit_config *c, const nv_vit_layer *L,
                     nv_pool *pool, scratch *s, int n, nv_error *err)
{
    int M = n * (1 + c->grid * c->grid);
    int C = c->hidden, I = c->intermediate;
    int W = nv_vit_config_attn_width(c);

    norm_rows(c, pool, s->normed, s->normed_bf16, s->x, M, &L->norm1_w,
              &L->norm1_b);
    if (nv_linear_w_rounded(pool, s->qkv, s->normed, s->normed_bf16,
                            &L->qkv_w, nv_tensor_f32(&L->qkv_b), M, C, 3 * W,
                            err))
        return -1;
    if (c->qk_norm) {
        int real = c->heads * c->head_dim;
        nv_rms_norm_rows_pooled(pool, s->qkv, s->qkv, M, 3 * W, W, real,
                                nv_tensor_f32(&L->q_norm_w), c->norm_eps);
        nv_rms_norm_rows_pooled(pool, s->qkv + W, s->qkv + W, M, 3 * W, W,
                                real, nv_tensor_f32(&L->k_norm_w),
                                c->norm_eps);
    }
    nv_self_attention_fused(pool, s->workers, s->qkv, s->attn, s->scores, n,
                            1 + c->grid * c->grid, c->heads + c->dummy_heads,
                            c->head_dim, 1.0f / sqrtf((float)c->head_dim),
                            nv_attention_bf16_for(&L->qkv_w));
    if (nv_linear_w(pool, s->delta, s->attn, &L->proj_w,
                    nv_tensor_f32(&L->proj_b), M, W, C, err))
        return -1;
    nv_add_scaled_rows(s->x, s->delta, nv_tensor_f32(&L->ls1), M, C);

    norm_rows(c, pool, s->normed, s->normed_bf16, s->x, M, &L->norm2_w,
              &L->norm2_b);
    if (nv_linear_w_rounded(pool, s->mlp, s->normed, s->normed_bf16,
                            &L->fc1_w, nv_tensor_f32(&L->fc1_b), M, C, I,
                            err))
        return -1;
    nv_gelu_erf_pooled_bf16(pool, s->mlp, s->mlp_bf16, (size_t)M * I);
    if (nv_linear_w_rounded(pool, s->delta, s->mlp, s->mlp_bf16, &L->fc2_w,
                            nv_tensor_f32(&L->fc2_b), M, I, C, err))
        return -1;
    nv_add_scaled_rows(s->x, s->delta, nv_tensor_f32(&L->ls2), M, C);
    return 0;
}

/* Conv2d(3, C, P, stride P) as im2col + one product over all tiles' patches,
 * then [CLS | patches] + position embedding into s->x. */
static void embed(const nv_vit *vit, const float *pixels, int n, scratch *s)
{
    const nv_vit_config *c = &vit->cfg;
    int P = c->patch, g = c->grid, C = c->hidden;
    float *cols = s->mlp;
    /* [n*g*g, C]: qkv is free until the first layer and 3W >= C wide. */
    float *embedded = s->qkv;
    nv_patch_im2col(pixels, n, c->image_size, P, cols);
    nv_linear(embedded, cols, nv_tensor_f32(&vit->patch_w),
              nv_tensor_f32(&vit->patch_b), n * g * g, 3 * P * P, C);
    nv_place_patch_tokens(embedded, nv_tensor_f32(&vit->cls),
                          nv_tensor_f32(&vit->pos), n, g * g, C, s->x);
}

int nv_vit_forward(const nv_vit *vit, nv_pool *pool, const float *pixels,
                   int n, int n_layers, nv_vit_capture_fn capture,
                   void *capture_ctx, float *out, nv_error *err)
{
    const nv_vit_config *c = &vit->cfg;
    int T = 1 + c->grid * c->grid;
    int W = nv_vit_config_attn_width(c);
    int widest = 3 * W > c->intermediate ? 3 * W : c->intermediate;
    if (3 * c->patch * c->patch > widest)
        widest = 3 * c->patch * c->patch;
    if (n_layers < 0)
        n_layers = c->run_layers;
    if (n_layers > c->layers)
        return nv_fail(err, "vit: %d layers asked, the encoder has %d",
                       n_layers, c->layers);
    /* BLAS takes int sizes: keep every [rows, width] product inside int. */
    if (n < 1 || (long long)n * T * widest > INT_MAX)
        return nv_fail(err, "vit: cannot encode %d tiles at once", n);

    int heads = c->heads + c->dummy_heads;
    int workers = pool ? nv_pool_size(pool) : 1;
    if (workers > n * heads)
        workers = n * heads;
    /* The first layer's fc1 says whether the norms and GELU also write
     * bf16 copies. A layer stored otherwise still computes right: only
     * products on oneDNN read the copies. */
    int rounded = n_layers > 0 && nv_attention_bf16_for(&vit->layers[0].fc1_w);
    scratch s;
    if (scratch_alloc(&s, c, n, workers, rounded, err) < 0)
        return -1;
    embed(vit, pixels, n, &s);
    if (capture)
        capture(capture_ctx, 0, s.x, n, T, c->hidden);
    for (int i = 0; i < n_layers; i++) {
        if (run_layer(c, &vit->layers[i], pool, &s, n, err)) {
            scratch_free(&s);
            return nv_fail_prefix(err, "vit layer %d: ", i);
        }
        if (capture)
            capture(capture_ctx, i + 1, s.x, n, T, c->hidden);
    }
    memcpy(out, s.x, (size_t)n * T * c->hidden * sizeof(float));
    scratch_free(&s);
    return 0;
}

int nv_vit_encode(const nv_vit *vit, nv_pool *pool, const float *pixels,
                  int n, float *out, nv_error *err)
{
    const nv_vit_config *c = &vit->cfg;
    int g = c->grid, C = c->hidden, T = 1 + g * g;
    int wide = C + nv_char_head_width(vit->chars);
    if (n < 1 || (long long)n * T * wide > INT_MAX)
        return nv_fail(err, "vit: cannot encode %d tiles at once", n);
    float *states = alloc_floats((size_t)n * T * C);
    if (!states)
        return nv_fail(err, "vit: out of memory for %d tiles", n);
    if (nv_vit_forward(vit, pool, pixels, n, -1, NULL, NULL, states, err) <
        0) {
        free(states);
        return -1;
    }
    /* Drop each tile's CLS row by packing the patch rows together; every
     * destination lies before its source, so memmove in tile order is safe. */
    for (int t = 0; t < n; t++)
        memmove(states + (size_t)t * g * g * C,
                states + ((size_t)t * T + 1) * C,
                (size_t)g * g * C * sizeof(float));
    if (!vit->chars) {
        int rc = nv_pixel_shuffle(states, n, g, C, c->shuffle, c->ps_version,
                                  out, err);
        free(states);
        return rc;
    }
    float *rows = alloc_floats((size_t)n * g * g * wide);
    int rc = rows ? nv_char_head_append(vit->chars, pool, states, n * g * g,
                                        rows, err)
                  : nv_fail(err, "vit: out of memory for %d tiles", n);
    free(states);
    if (!rc)
        rc = nv_pixel_shuffle(rows, n, g, wide, c->shuffle, c->ps_version, out,
                              err);
    free(rows);
    return rc;
}
