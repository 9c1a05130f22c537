/* xattn.c - gated cross-attention block: loading, per-image keys/values,
 * and the per-chunk query side; see xattn.h for the equations. */
#include "fusion/xattn.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/matmul.h"
#include "core/tensor.h"
#include "vision/vit_ops.h"

struct nv_xattn {
    nv_xattn_dims dims;
    int intermediate;
    nv_tensor input_norm, q_proj, k_proj, v_proj, o_proj, q_norm, k_norm;
    nv_tensor post_norm, gate_proj, up_proj, down_proj;
    float attn_gate_tanh;
    float mlp_gate_tanh;
    int n_keys;
    int key_capacity;
    /* keys_t [n_kv_heads][head_dim][n_keys]: transposed so that scoring one
     * query is a run of contiguous multiply-adds over the keys (vectorises
     * without reordering a reduction). values [n_kv_heads][n_keys][head_dim]
     * so the weighted sum adds contiguous rows. */
    float *keys_t;
    float *values;
};

static const nv_xattn_names default_names = {
    .input_norm = "input_layernorm.weight",
    .q_proj = "q_proj.weight",
    .k_proj = "k_proj.weight",
    .v_proj = "v_proj.weight",
    .o_proj = "o_proj.weight",
    .q_norm = "q_norm.weight",
    .k_norm = "k_norm.weight",
    .attn_gate = "attn_gate",
    .post_norm = "post_attention_layernorm.weight",
    .gate_proj = "mlp.gate_proj.weight",
    .up_proj = "mlp.up_proj.weight",
    .down_proj = "mlp.down_proj.weight",
    .mlp_gate = "mlp_gate",
};

const nv_xattn_names *nv_xattn_default_names(void)
{
    return &default_names;
}

static const nv_xattn_names mllama_names = {
    .input_norm = "input_layernorm.weight",
    .q_proj = "cross_attn.q_proj.weight",
    .k_proj = "cross_attn.k_proj.weight",
    .v_proj = "cross_attn.v_proj.weight",
    .o_proj = "cross_attn.o_proj.weight",
    .q_norm = "cross_attn.q_norm.weight",
    .k_norm = "cross_attn.k_norm.weight",
    .attn_gate = "cross_attn_attn_gate",
    .post_norm = "post_attention_layernorm.weight",
    .gate_proj = "mlp.gate_proj.weight",
    .up_proj = "mlp.up_proj.weight",
    .down_proj = "mlp.down_proj.weight",
    .mlp_gate = "cross_attn_mlp_gate",
};

const nv_xattn_names *nv_xattn_mllama_names(void)
{
    return &mllama_names;
}

/* Loads prefix+suffix; ndim -1 accepts any shape. Vectors (ndim 1) as
 * f32, matrices in their stored precision (core/lowp.h). */
static int load_tensor(const nv_safetensors *st, const char *prefix,
                       const char *suffix, int ndim, const int64_t *shape,
                       nv_tensor *out, nv_error *err)
{
    char name[512];
    int n = snprintf(name, sizeof name, "%s%s", prefix, suffix);
    if (n < 0 || (size_t)n >= sizeof name)
        return nv_fail(err, "xattn: tensor name '%s%s' too long", prefix,
                       suffix);
    if (ndim == 1)
        return nv_st_get_f32(st, name, ndim, shape, out, err);
    return nv_st_get_weight(st, name, ndim, shape, out, err);
}

static void free_weights(nv_xattn *x)
{
    nv_tensor *all[] = {&x->input_norm, &x->q_proj,    &x->k_proj,
                        &x->v_proj,     &x->o_proj,    &x->q_norm,
                        &x->k_norm,     &x->post_norm, &x->gate_proj,
                        &x->up_proj,    &x->down_proj};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        nv_tensor_free(all[i]);
}

void nv_xattn_free(nv_xattn *x)
{
    if (!x)
        return;
    free_weights(x);
    free(x->keys_t);
    free(x->values);
    free(x);
}

static int check_dims(const nv_xattn_dims *d, nv_error *err)
{
    if (d->hidden <= 0 || d->n_heads <= 0 || d->n_kv_heads <= 0 ||
        d->head_dim <= 0)
        return nv_fail(err, "xattn: dimensions must be positive (hidden %d, "
                       "heads %d, kv heads %d, head_dim %d)", d->hidden,
                       d->n_heads, d->n_kv_heads, d->head_dim);
    if (d->n_heads % d->n_kv_heads)
        return nv_fail(err, "xattn: %d heads is not a multiple of %d kv "
                       "heads", d->n_heads, d->n_kv_heads);
    if ((int64_t)d->n_heads * d->head_dim > (1 << 24) || d->hidden > (1 << 24))
        return nv_fail(err, "xattn: dimensions too large");
    if (!(d->rms_eps > 0))
        return nv_fail(err, "xattn: rms eps must be positive");
    return 0;
}

/* Reads a [1] gate and returns tanh of it. */
static int load_gate(const nv_safetensors *st, const char *prefix,
                     const char *suffix, float *tanh_out, nv_error *err)
{
    const int64_t one[1] = {1};
    nv_tensor t = {0};
    if (load_tensor(st, prefix, suffix, 1, one, &t, err))
        return -1;
    float g = nv_tensor_f32(&t)[0];
    nv_tensor_free(&t);
    if (!isfinite(g))
        return nv_fail(err, "xattn: gate '%s%s' is not finite", prefix,
                       suffix);
    *tanh_out = tanhf(g);
    return 0;
}

int nv_xattn_load(const nv_safetensors *st, const char *prefix,
                  const nv_xattn_names *names, const nv_xattn_dims *dims,
                  nv_xattn **out, nv_error *err)
{
    *out = NULL;
    if (!names)
        names = &default_names;
    if (check_dims(dims, err))
        return -1;
    nv_xattn *x = calloc(1, sizeof *x);
    if (!x)
        return nv_fail(err, "xattn: out of memory");
    x->dims = *dims;
    const int64_t H = dims->hidden, D = dims->head_dim;
    const int64_t q_width = (int64_t)dims->n_heads * D;
    const int64_t kv_width = (int64_t)dims->n_kv_heads * D;
    const int64_t s_h[1] = {H}, s_d[1] = {D};
    const int64_t s_q[2] = {q_width, H}, s_kv[2] = {kv_width, H};
    const int64_t s_o[2] = {H, q_width};

    if (load_tensor(st, prefix, names->input_norm, 1, s_h, &x->input_norm,
                    err) ||
        load_tensor(st, prefix, names->q_proj, 2, s_q, &x->q_proj, err) ||
        load_tensor(st, prefix, names->k_proj, 2, s_kv, &x->k_proj, err) ||
        load_tensor(st, prefix, names->v_proj, 2, s_kv, &x->v_proj, err) ||
        load_tensor(st, prefix, names->o_proj, 2, s_o, &x->o_proj, err) ||
        load_tensor(st, prefix, names->q_norm, 1, s_d, &x->q_norm, err) ||
        load_tensor(st, prefix, names->k_norm, 1, s_d, &x->k_norm, err) ||
        load_tensor(st, prefix, names->post_norm, 1, s_h, &x->post_norm,
                    err) ||
        load_gate(st, prefix, names->attn_gate, &x->attn_gate_tanh, err) ||
        load_gate(st, prefix, names->mlp_gate, &x->mlp_gate_tanh, err) ||
        load_tensor(st, prefix, names->gate_proj, -1, NULL, &x->gate_proj,
                    err))
        goto fail;

    if (x->gate_proj.ndim != 2 || x->gate_proj.shape[1] != H ||
        x->gate_proj.shape[0] <= 0 || x->gate_proj.shape[0] > (1 << 24)) {
        nv_fail(err, "xattn: tensor '%s%s' must be [intermediate, %lld]",
                prefix, names->gate_proj, (long long)H);
        goto fail;
    }
    x->intermediate = (int)x->gate_proj.shape[0];
    const int64_t s_up[2] = {x->intermediate, H};
    const int64_t s_down[2] = {H, x->intermediate};
    if (load_tensor(st, prefix, names->up_proj, 2, s_up, &x->up_proj, err) ||
        load_tensor(st, prefix, names->down_proj, 2, s_down, &x->down_proj,
                    err))
        goto fail;
    *out = x;
    return 0;
fail:
    nv_fail_prefix(err, "loading cross-attention block '%s': ", prefix);
    nv_xattn_free(x);
    return -1;
}

const nv_xattn_dims *nv_xattn_get_dims(const nv_xattn *x)
{
    return &x->dims;
}

int nv_xattn_intermediate(const nv_xattn *x)
{
    return x->intermediate;
}

int nv_xattn_n_keys(const nv_xattn *x)
{
    return x->n_keys;
}

float nv_xattn_key(const nv_xattn *x, int g, int j, int c)
{
    return x->keys_t[((size_t)g * x->dims.head_dim + c) * x->n_keys + j];
}

float nv_xattn_value(const nv_xattn *x, int g, int j, int c)
{
    return x->values[((size_t)g * x->n_keys + j) * x->dims.head_dim + c];
}

/* y = x / sqrt(mean(x^2) + eps) * w over n values (HF RMSNorm). */
static void rms_norm(float *y, const float *x, const float *w, int n,
                     float eps)
{
    double sum_sq = 0;
    for (int i = 0; i < n; i++)
        sum_sq += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(sum_sq / n + eps));
    for (int i = 0; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

/* Multiplying sizes that each fit an int can overflow size_t only on
 * 32-bit hosts; check anyway since key counts come from images. */
static float *alloc_floats(size_t a, size_t b, nv_error *err)
{
    if (b && a > SIZE_MAX / sizeof(float) / b) {
        nv_fail(err, "xattn: buffer size overflows");
        return NULL;
    }
    float *p = malloc(a * b * sizeof(float) + 1);
    if (!p)
        nv_fail(err, "xattn: out of memory for %zu floats", a * b);
    return p;
}

int nv_xattn_set_image(nv_xattn *x, const float *kv_src, int n_keys,
                       nv_error *err)
{
    if (n_keys < 0)
        return nv_fail(err, "xattn: negative key count %d", n_keys);
    x->n_keys = 0;
    if (n_keys == 0)
        return 0;
    if (!kv_src)
        return nv_fail(err, "xattn: no image tokens given for %d keys",
                       n_keys);
    const int D = x->dims.head_dim, G = x->dims.n_kv_heads;
    const size_t kv_width = (size_t)G * D;
    if (n_keys > x->key_capacity) {
        float *keys_t = alloc_floats((size_t)n_keys, kv_width, err);
        float *values = keys_t ? alloc_floats((size_t)n_keys, kv_width, err)
                               : NULL;
        if (!values) {
            free(keys_t);
            return -1;
        }
        free(x->keys_t);
        free(x->values);
        x->keys_t = keys_t;
        x->values = values;
        x->key_capacity = n_keys;
    }
    /* Projections in token-major layout first, then rearranged. */
    float *k_rows = alloc_floats((size_t)n_keys, kv_width, err);
    float *v_rows = k_rows ? alloc_floats((size_t)n_keys, kv_width, err)
                           : NULL;
    if (!v_rows) {
        free(k_rows);
        return -1;
    }
    if (nv_linear_w(NULL, k_rows, kv_src, &x->k_proj, NULL, n_keys,
                    x->dims.hidden, (int)kv_width, err) ||
        nv_linear_w(NULL, v_rows, kv_src, &x->v_proj, NULL, n_keys,
                    x->dims.hidden, (int)kv_width, err)) {
        free(k_rows);
        free(v_rows);
        return -1;
    }
    const float *k_norm_w = nv_tensor_f32(&x->k_norm);
    for (int j = 0; j < n_keys; j++) {
        for (int g = 0; g < G; g++) {
            float *k = k_rows + (size_t)j * kv_width + (size_t)g * D;
            rms_norm(k, k, k_norm_w, D, x->dims.rms_eps);
            const float *v = v_rows + (size_t)j * kv_width + (size_t)g * D;
            for (int c = 0; c < D; c++) {
                x->keys_t[((size_t)g * D + c) * n_keys + j] = k[c];
                x->values[((size_t)g * n_keys + j) * D + c] = v[c];
            }
        }
    }
    free(k_rows);
    free(v_rows);
    x->n_keys = n_keys;
    return 0;
}

void nv_xattn_scratch_free(nv_xattn_scratch *s)
{
    free(s->normed);
    free(s->q);
    free(s->attn);
    free(s->out);
    free(s->gate);
    free(s->up);
    free(s->scores);
    memset(s, 0, sizeof *s);
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

int nv_xattn_scratch_reserve(nv_xattn_scratch *s, const nv_xattn *x,
                             int max_tokens, int n_workers, nv_error *err)
{
    if (max_tokens <= 0 || n_workers <= 0)
        return nv_fail(err, "xattn: scratch for %d tokens and %d workers",
                       max_tokens, n_workers);
    nv_xattn_scratch want = {
        .max_tokens = max_int(s->max_tokens, max_tokens),
        .max_keys = max_int(s->max_keys, max_int(x->n_keys, 1)),
        .max_workers = max_int(s->max_workers, n_workers),
        .q_width = max_int(s->q_width, x->dims.n_heads * x->dims.head_dim),
        .hidden = max_int(s->hidden, x->dims.hidden),
        .intermediate = max_int(s->intermediate, x->intermediate),
    };
    if (want.max_tokens == s->max_tokens && want.max_keys == s->max_keys &&
        want.max_workers == s->max_workers && want.q_width == s->q_width &&
        want.hidden == s->hidden && want.intermediate == s->intermediate)
        return 0;
    size_t T = (size_t)want.max_tokens;
    want.normed = alloc_floats(T, (size_t)want.hidden, err);
    want.q = alloc_floats(T, (size_t)want.q_width, err);
    want.attn = alloc_floats(T, (size_t)want.q_width, err);
    want.out = alloc_floats(T, (size_t)want.hidden, err);
    want.gate = alloc_floats(T, (size_t)want.intermediate, err);
    want.up = alloc_floats(T, (size_t)want.intermediate, err);
    want.scores = alloc_floats((size_t)want.max_workers,
                               (size_t)want.max_keys, err);
    if (!want.normed || !want.q || !want.attn || !want.out || !want.gate ||
        !want.up || !want.scores) {
        nv_xattn_scratch_free(&want);
        return -1;
    }
    nv_xattn_scratch_free(s);
    *s = want;
    return 0;
}

/* One attention job: every (row, head) pair p with p % n_workers ==
 * worker, each using the worker's own score buffer. */
typedef struct attn_job {
    const nv_xattn *x;
    const nv_xattn_rows *rows;
    nv_xattn_scratch *s;
    int T;
    int n_workers;
} attn_job;

static void attend_row_head(const attn_job *job, int t, int h, float *scores)
{
    const nv_xattn *x = job->x;
    const int D = x->dims.head_dim, NH = x->dims.n_heads;
    const int nk = x->n_keys;
    const int g = h / (NH / x->dims.n_kv_heads);
    int begin = 0, end = nk;
    if (job->rows) {
        begin = job->rows->begin[t];
        end = job->rows->end[t];
    }
    const int n = end - begin;
    const size_t q_width = (size_t)NH * D;
    const float *q = job->s->q + (size_t)t * q_width + (size_t)h * D;
    float *o = job->s->attn + (size_t)t * q_width + (size_t)h * D;
    for (int c = 0; c < D; c++)
        o[c] = 0;
    if (n <= 0)
        return;

    const float scale = 1.0f / sqrtf((float)D);
    const float *keys_t = x->keys_t + (size_t)g * D * nk + begin;
    for (int j = 0; j < n; j++)
        scores[j] = 0;
    for (int c = 0; c < D; c++) {
        const float qc = q[c];
        const float *krow = keys_t + (size_t)c * nk;
        for (int j = 0; j < n; j++)
            scores[j] += qc * krow[j];
    }
    for (int j = 0; j < n; j++)
        scores[j] *= scale;
    nv_softmax_rows(scores, 1, n);
    const float *v = x->values + ((size_t)g * nk + begin) * D;
    for (int j = 0; j < n; j++) {
        const float p = scores[j];
        const float *vrow = v + (size_t)j * D;
        for (int c = 0; c < D; c++)
            o[c] += p * vrow[c];
    }
}

static void attn_task(void *ctx, int worker)
{
    const attn_job *job = ctx;
    const int NH = job->x->dims.n_heads;
    float *scores = job->s->scores + (size_t)worker * job->s->max_keys;
    const int pairs = job->T * NH;
    for (int p = worker; p < pairs; p += job->n_workers)
        attend_row_head(job, p / NH, p % NH, scores);
}

static int row_sees_keys(const nv_xattn_rows *rows, int t)
{
    return !rows || rows->end[t] > rows->begin[t];
}

int nv_xattn_forward(const nv_xattn *x, nv_pool *pool, float *hidden, int T,
                     const nv_xattn_rows *rows, nv_xattn_scratch *s,
                     nv_error *err)
{
    return nv_xattn_forward_mlp_masked(x, pool, hidden, T, rows, NULL, s,
                                       err);
}

int nv_xattn_forward_mlp_masked(const nv_xattn *x, nv_pool *pool,
                                float *hidden, int T,
                                const nv_xattn_rows *rows,
                                const unsigned char *mlp_off,
                                nv_xattn_scratch *s, nv_error *err)
{
    if (T < 0)
        return nv_fail(err, "xattn: negative row count %d", T);
    if (x->n_keys == 0 || T == 0)
        return 0;
    const int H = x->dims.hidden, D = x->dims.head_dim;
    const int NH = x->dims.n_heads, I = x->intermediate;
    const int q_width = NH * D;
    const int n_workers = pool ? nv_pool_size(pool) : 1;
    if (T > s->max_tokens || x->n_keys > s->max_keys ||
        n_workers > s->max_workers || q_width > s->q_width ||
        H > s->hidden || I > s->intermediate)
        return nv_fail(err, "xattn: scratch reserved for %d rows, %d keys, "
                       "%d workers is too small for %d rows, %d keys, %d "
                       "workers (or other dimensions)", s->max_tokens,
                       s->max_keys, s->max_workers, T, x->n_keys, n_workers);
    if (rows) {
        for (int t = 0; t < T; t++)
            if (rows->begin[t] < 0 || rows->begin[t] > rows->end[t] ||
                rows->end[t] > x->n_keys)
                return nv_fail(err, "xattn: row %d sees keys [%d, %d) outside "
                               "[0, %d)", t, rows->begin[t], rows->end[t],
                               x->n_keys);
    }

    /* Attention half. */
    const float *in_w = nv_tensor_f32(&x->input_norm);
    for (int t = 0; t < T; t++)
        rms_norm(s->normed + (size_t)t * H, hidden + (size_t)t * H, in_w, H,
                 x->dims.rms_eps);
    if (nv_linear_w(pool, s->q, s->normed, &x->q_proj, NULL, T, H, q_width,
                    err))
        return -1;
    const float *q_norm_w = nv_tensor_f32(&x->q_norm);
    for (size_t r = 0; r < (size_t)T * NH; r++) {
        float *q = s->q + r * D;
        rms_norm(q, q, q_norm_w, D, x->dims.rms_eps);
    }
    attn_job job = {x, rows, s, T, n_workers};
    if (pool)
        nv_pool_run(pool, n_workers, attn_task, &job);
    else
        attn_task(&job, 0);
    if (nv_linear_w(pool, s->out, s->attn, &x->o_proj, NULL, T, q_width, H,
                    err))
        return -1;
    for (int t = 0; t < T; t++) {
        if (!row_sees_keys(rows, t))
            continue;
        float *h = hidden + (size_t)t * H;
        const float *o = s->out + (size_t)t * H;
        for (int c = 0; c < H; c++)
            h[c] += x->attn_gate_tanh * o[c];
    }

    /* MLP half. */
    const float *post_w = nv_tensor_f32(&x->post_norm);
    for (int t = 0; t < T; t++)
        rms_norm(s->normed + (size_t)t * H, hidden + (size_t)t * H, post_w, H,
                 x->dims.rms_eps);
    nv_linear_part gate_up[2] = {{s->gate, &x->gate_proj, NULL, I},
                                 {s->up, &x->up_proj, NULL, I}};
    if (nv_linear_w_group(pool, s->normed, T, H, gate_up, 2, err))
        return -1;
    nv_silu_mul(s->gate, s->up, (size_t)T * I);
    if (nv_linear_w(pool, s->out, s->gate, &x->down_proj, NULL, T, I, H, err))
        return -1;
    for (int t = 0; t < T; t++) {
        if (!row_sees_keys(rows, t) || (mlp_off && mlp_off[t]))
            continue;
        float *h = hidden + (size_t)t * H;
        const float *m = s->out + (size_t)t * H;
        for (int c = 0; c < H; c++)
            h[c] += x->mlp_gate_tanh * m[c];
    }
    return 0;
}
