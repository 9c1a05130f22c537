/* test_xattn.c - the gated cross-attention block.
 *
 * 1. Against Hugging Face's Mllama (Llama 3.2 Vision) cross-attention
 *    decoder layers in the goldens (hf/mllama: 4 tiles x 17 tokens, every
 *    text row sees every key; hf/mllama_wide: the 4th tile is padding, rows
 *    see keys [0, 51)): layer 1 maps hidden_states[1] to hidden_states[2];
 *    layer 3 followed by the final RMSNorm maps hidden_states[3] to
 *    hidden_states[4]. The Mllama layer is the block of the design with
 *    other tensor names (no row is masked there, and masking is where the
 *    designs differ). Tolerance 1e-6 * max|h| (measured ~2e-7).
 * 2. A hand-derived case: T = 2 rows, one key, so softmax is 1 and the
 *    attention output is o_proj(v_proj(src)); the rest by direct loops.
 * 3. A masked case against a direct double-precision evaluation with a
 *    dense visibility matrix: rows seeing ranges, single keys, nothing.
 *    Masked rows stay bit-identical and finite.
 * 4. Prefill equals row-by-row decode (T = 1, the sgemv path), and a 3
 *    thread pool equals no pool bit for bit.
 * 5. Bad weights, bad rows and a too-small scratch fail with messages.
 * 6. The PyTorch reference's fixture (tests/fixtures/tiny_nvlm, written from
 *    docs/model-format.md): blocks x_xattn.0 / h_xattn.0 given the golden
 *    memory cache the golden keys and values (tolerance 2e-6 * max(1,
 *    max|golden|), tighter than the doc's 1e-4). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/safetensors.h"
#include "core/threads.h"
#include "fusion/xattn.h"
#include "tests/check.h"

/* ---- a minimal safetensors writer for the synthetic cases ---- */

typedef struct test_tensor {
    const char *name;
    int ndim;
    int64_t shape[2];
    const float *data;
} test_tensor;

static int write_safetensors(const char *path, const test_tensor *t, int n)
{
    char header[8192];
    size_t len = 0;
    int64_t offset = 0;
    len += (size_t)snprintf(header + len, sizeof header - len, "{");
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= t[i].shape[d];
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                                i ? "," : "", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            len += (size_t)snprintf(header + len, sizeof header - len,
                                    "%s%lld", d ? "," : "",
                                    (long long)t[i].shape[d]);
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "],\"data_offsets\":[%lld,%lld]}",
                                (long long)offset,
                                (long long)(offset + numel * 4));
        offset += numel * 4;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "}");
    if (len >= sizeof header)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint64_t hlen = len;
    unsigned char le[8];
    for (int b = 0; b < 8; b++)
        le[b] = (unsigned char)(hlen >> (8 * b));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(header, 1, len, f) == len;
    for (int i = 0; i < n && ok; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, 4, numel, f) == numel; /* little-endian host */
    }
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- a random block and a direct evaluation of its equations ---- */

enum { H = 12, NH = 4, NKV = 2, HD = 3, INTER = 10, QW = NH * HD,
       KVW = NKV * HD };
static const float eps = 1e-6f;

typedef struct block_weights {
    float in_norm[H], q[QW * H], k[KVW * H], v[KVW * H], o[H * QW];
    float q_norm[HD], k_norm[HD], post_norm[H];
    float gate[INTER * H], up[INTER * H], down[H * INTER];
    float attn_gate, mlp_gate;
} block_weights;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    const double unit = (double)(rng_state >> 11) / 9007199254740992.0;
    return lo + (hi - lo) * (float)unit;
}

static void fill(float *p, int n, float lo, float hi)
{
    for (int i = 0; i < n; i++)
        p[i] = uniform(lo, hi);
}

static void random_block(block_weights *w)
{
    fill(w->in_norm, H, 0.8f, 1.2f);
    fill(w->q, QW * H, -0.5f, 0.5f);
    fill(w->k, KVW * H, -0.5f, 0.5f);
    fill(w->v, KVW * H, -0.5f, 0.5f);
    fill(w->o, H * QW, -0.5f, 0.5f);
    fill(w->q_norm, HD, 0.8f, 1.2f);
    fill(w->k_norm, HD, 0.8f, 1.2f);
    fill(w->post_norm, H, 0.8f, 1.2f);
    fill(w->gate, INTER * H, -0.5f, 0.5f);
    fill(w->up, INTER * H, -0.5f, 0.5f);
    fill(w->down, H * INTER, -0.5f, 0.5f);
    w->attn_gate = 0.7f;
    w->mlp_gate = -0.4f;
}

static int save_block(const char *path, const block_weights *w,
                      int64_t q_rows)
{
    const test_tensor t[] = {
        {"b.input_layernorm.weight", 1, {H}, w->in_norm},
        {"b.q_proj.weight", 2, {q_rows, H}, w->q},
        {"b.k_proj.weight", 2, {KVW, H}, w->k},
        {"b.v_proj.weight", 2, {KVW, H}, w->v},
        {"b.o_proj.weight", 2, {H, QW}, w->o},
        {"b.q_norm.weight", 1, {HD}, w->q_norm},
        {"b.k_norm.weight", 1, {HD}, w->k_norm},
        {"b.attn_gate", 1, {1}, &w->attn_gate},
        {"b.post_attention_layernorm.weight", 1, {H}, w->post_norm},
        {"b.mlp.gate_proj.weight", 2, {INTER, H}, w->gate},
        {"b.mlp.up_proj.weight", 2, {INTER, H}, w->up},
        {"b.mlp.down_proj.weight", 2, {H, INTER}, w->down},
        {"b.mlp_gate", 1, {1}, &w->mlp_gate},
    };
    return write_safetensors(path, t, (int)(sizeof t / sizeof t[0]));
}

static void ref_linear(double *y, const double *x, const float *w, int K,
                       int N)
{
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int k = 0; k < K; k++)
            s += x[k] * w[n * K + k];
        y[n] = s;
    }
}

static void ref_rms(double *y, const double *x, const float *w, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * r * w[i];
}

/* Direct evaluation of the block for one row h[H] against keys from src
 * [nk, H], seeing the keys j with visible[j] != 0. */
static void ref_row(const block_weights *w, const float *src, int nk,
                    const unsigned char *visible, const float *h_in,
                    float *h_out)
{
    double h[H], x[H], q[QW], attn[QW] = {0}, o[H];
    int any = 0;
    for (int j = 0; j < nk; j++)
        any |= visible[j];
    for (int c = 0; c < H; c++)
        h[c] = h_in[c];
    if (any) {
        ref_rms(x, h, w->in_norm, H);
        ref_linear(q, x, w->q, H, QW);
        for (int hh = 0; hh < NH; hh++)
            ref_rms(q + hh * HD, q + hh * HD, w->q_norm, HD);
        for (int hh = 0; hh < NH; hh++) {
            const int g = hh / (NH / NKV);
            double score[64], max = -INFINITY, sum = 0;
            for (int j = 0; j < nk; j++) {
                double s_src[H], kv[KVW];
                for (int c = 0; c < H; c++)
                    s_src[c] = src[j * H + c];
                ref_linear(kv, s_src, w->k, H, KVW);
                ref_rms(kv + g * HD, kv + g * HD, w->k_norm, HD);
                double s = 0;
                for (int c = 0; c < HD; c++)
                    s += q[hh * HD + c] * kv[g * HD + c];
                score[j] = s / sqrt((double)HD);
                if (visible[j] && score[j] > max)
                    max = score[j];
            }
            for (int j = 0; j < nk; j++) {
                score[j] = visible[j] ? exp(score[j] - max) : 0;
                sum += score[j];
            }
            for (int j = 0; j < nk; j++) {
                double s_src[H], vv[KVW];
                for (int c = 0; c < H; c++)
                    s_src[c] = src[j * H + c];
                ref_linear(vv, s_src, w->v, H, KVW);
                for (int c = 0; c < HD; c++)
                    attn[hh * HD + c] += score[j] / sum * vv[g * HD + c];
            }
        }
        ref_linear(o, attn, w->o, QW, H);
        for (int c = 0; c < H; c++)
            h[c] += tanh((double)w->attn_gate) * o[c];
        double gate[INTER], up[INTER], m[H];
        ref_rms(x, h, w->post_norm, H);
        ref_linear(gate, x, w->gate, H, INTER);
        ref_linear(up, x, w->up, H, INTER);
        for (int i = 0; i < INTER; i++)
            gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i];
        ref_linear(m, gate, w->down, INTER, H);
        for (int c = 0; c < H; c++)
            h[c] += tanh((double)w->mlp_gate) * m[c];
    }
    for (int c = 0; c < H; c++)
        h_out[c] = (float)h[c];
}

static const nv_xattn_dims small_dims = {H, NH, NKV, HD, 1e-6f};

/* The block borrows f32 weights from the mapping: *st stays open until
 * the caller is done with the block. */
static nv_xattn *load_block(const char *path, nv_safetensors **st,
                            nv_error *err)
{
    *st = nv_st_open(path, err);
    if (!*st)
        return NULL;
    nv_xattn *x = NULL;
    nv_xattn_load(*st, "b.", NULL, &small_dims, &x, err);
    return x;
}

/* T = 2, one key: softmax is 1, so the attention output of every head is
 * its kv head's value, and o_proj(v) is all that reaches the residual. */
static void check_one_key(const block_weights *w, nv_xattn *x)
{
    nv_error err = {{0}};
    float src[H], hidden[2 * H], expect[2 * H];
    fill(src, H, -1, 1);
    fill(hidden, 2 * H, -1, 1);
    CHECK(nv_xattn_set_image(x, src, 1, &err) == 0);
    CHECK(nv_xattn_n_keys(x) == 1);
    nv_xattn_scratch s = {0};
    CHECK(nv_xattn_scratch_reserve(&s, x, 2, 1, &err) == 0);

    double v[KVW], attn[QW], o[H];
    double src_d[H];
    for (int c = 0; c < H; c++)
        src_d[c] = src[c];
    ref_linear(v, src_d, w->v, H, KVW);
    for (int hh = 0; hh < NH; hh++)
        for (int c = 0; c < HD; c++)
            attn[hh * HD + c] = v[(hh / (NH / NKV)) * HD + c];
    ref_linear(o, attn, w->o, QW, H);
    for (int t = 0; t < 2; t++) {
        double h[H], x_n[H], gate[INTER], up[INTER], m[H];
        for (int c = 0; c < H; c++)
            h[c] = hidden[t * H + c] + tanh((double)w->attn_gate) * o[c];
        ref_rms(x_n, h, w->post_norm, H);
        ref_linear(gate, x_n, w->gate, H, INTER);
        ref_linear(up, x_n, w->up, H, INTER);
        for (int i = 0; i < INTER; i++)
            gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i];
        ref_linear(m, gate, w->down, INTER, H);
        for (int c = 0; c < H; c++)
            expect[t * H + c] =
                (float)(h[c] + tanh((double)w->mlp_gate) * m[c]);
    }
    /* Cached value of kv head 1 is v_proj's rows 3..5. */
    CHECK(fabs(nv_xattn_value(x, 1, 0, 2) - v[HD + 2]) < 1e-6);
    CHECK(nv_xattn_forward(x, NULL, hidden, 2, NULL, &s, &err) == 0);
    double diff = check_max_abs_diff(hidden, expect, 2 * H);
    printf("one key (softmax = 1): max abs err %.3g (tolerance 1e-6)\n",
           diff);
    CHECK(diff <= 1e-6);
    nv_xattn_scratch_free(&s);
}

/* Rows seeing ranges, one key, nothing; vs the dense direct evaluation. */
static void check_masked(const block_weights *w, nv_xattn *x, nv_pool *pool)
{
    enum { T = 6, NK = 7 };
    nv_error err = {{0}};
    float src[NK * H], hidden[T * H], expect[T * H];
    fill(src, NK * H, -2, 2);
    fill(hidden, T * H, -1, 1);
    hidden[5 * H] = 1e30f; /* a masked row with a huge value stays as is */
    const int begin[T] = {0, 0, 2, 6, 3, 4};
    const int end[T] = {0, 7, 5, 7, 3, 4};
    const nv_xattn_rows rows = {begin, end};
    for (int t = 0; t < T; t++) {
        unsigned char visible[NK];
        for (int j = 0; j < NK; j++)
            visible[j] = j >= begin[t] && j < end[t];
        ref_row(w, src, NK, visible, hidden + t * H, expect + t * H);
    }
    CHECK(nv_xattn_set_image(x, src, NK, &err) == 0);
    nv_xattn_scratch s = {0};
    CHECK(nv_xattn_scratch_reserve(&s, x, T, nv_pool_size(pool), &err) == 0);

    float got[T * H], got_pool[T * H], got_decode[T * H];
    memcpy(got, hidden, sizeof got);
    memcpy(got_pool, hidden, sizeof got);
    memcpy(got_decode, hidden, sizeof got);
    CHECK(nv_xattn_forward(x, NULL, got, T, &rows, &s, &err) == 0);
    CHECK(nv_xattn_forward(x, pool, got_pool, T, &rows, &s, &err) == 0);
    for (int t = 0; t < T; t++) {
        const nv_xattn_rows one = {begin + t, end + t};
        CHECK(nv_xattn_forward(x, pool, got_decode + t * H, 1, &one, &s,
                               &err) == 0);
    }
    double diff = check_max_abs_diff(got, expect, T * H);
    printf("masked rows vs direct loops: max abs err %.3g (tolerance "
           "1e-6)\n", diff);
    CHECK(diff <= 1e-6);
    CHECK(memcmp(got, got_pool, sizeof got) == 0);
    double decode_diff = check_max_abs_diff(got, got_decode, T * H);
    printf("prefill vs row-by-row decode: max abs diff %.3g (tolerance "
           "1e-6)\n", decode_diff);
    CHECK(decode_diff <= 1e-6);
    /* Rows 0, 4, 5 see nothing: bit-identical, finite apart from the
     * planted value. */
    CHECK(memcmp(got, hidden, H * sizeof(float)) == 0);
    CHECK(memcmp(got + 4 * H, hidden + 4 * H, 2 * H * sizeof(float)) == 0);
    int finite = 1;
    for (int i = 0; i < 5 * H; i++)
        finite &= isfinite(got[i]) != 0;
    CHECK(finite);
    /* Rows 1..3 do change. */
    CHECK(memcmp(got + H, hidden + H, 3 * H * sizeof(float)) != 0);

    /* Bad rows and a too-small scratch are refused; hidden untouched. */
    float before[T * H];
    memcpy(before, got, sizeof got);
    const int bad_end[T] = {0, 8, 5, 7, 3, 4};
    const nv_xattn_rows bad = {begin, bad_end};
    CHECK(nv_xattn_forward(x, NULL, got, T, &bad, &s, &err) != 0);
    CHECK(strstr(err.msg, "row 1") != NULL);
    const int reversed_begin[T] = {0, 0, 5, 6, 3, 4};
    const int reversed_end[T] = {0, 7, 2, 7, 3, 4};
    const nv_xattn_rows reversed = {reversed_begin, reversed_end};
    CHECK(nv_xattn_forward(x, NULL, got, T, &reversed, &s, &err) != 0);
    CHECK(nv_xattn_forward(x, NULL, got, T + 1, NULL, &s, &err) != 0);
    CHECK(strstr(err.msg, "scratch") != NULL);
    float more_src[(NK + 1) * H];
    fill(more_src, (NK + 1) * H, -1, 1);
    CHECK(nv_xattn_set_image(x, more_src, NK + 1, &err) == 0);
    CHECK(nv_xattn_forward(x, NULL, got, T, NULL, &s, &err) != 0);
    CHECK(memcmp(before, got, sizeof got) == 0);

    /* No image: nothing changes. */
    CHECK(nv_xattn_set_image(x, NULL, 0, &err) == 0);
    CHECK(nv_xattn_forward(x, NULL, got, T, NULL, &s, &err) == 0);
    CHECK(memcmp(before, got, sizeof got) == 0);
    CHECK(nv_xattn_set_image(x, NULL, -1, &err) != 0);
    CHECK(nv_xattn_set_image(x, NULL, 3, &err) != 0);
    CHECK(nv_xattn_n_keys(x) == 0);
    nv_xattn_scratch_free(&s);
}

static void check_bad_weights(const block_weights *w, const char *path)
{
    nv_error err = {{0}};
    /* q_proj with a wrong row count. */
    CHECK(save_block(path, w, QW - 1) == 0);
    nv_safetensors *bad_st = NULL;
    nv_xattn *x = load_block(path, &bad_st, &err);
    nv_st_close(bad_st);
    CHECK(x == NULL);
    CHECK(strstr(err.msg, "b.q_proj.weight") != NULL);
    CHECK(save_block(path, w, QW) == 0);
    nv_safetensors *st = nv_st_open(path, &err);
    if (!CHECK(st != NULL))
        return;
    /* A missing tensor (wrong prefix) is named. */
    CHECK(nv_xattn_load(st, "c.", NULL, &small_dims, &x, &err) != 0);
    CHECK(x == NULL && strstr(err.msg, "c.input_layernorm.weight") != NULL);
    /* Heads that kv heads do not divide. */
    nv_xattn_dims bad = small_dims;
    bad.n_kv_heads = 3;
    CHECK(nv_xattn_load(st, "b.", NULL, &bad, &x, &err) != 0);
    bad = small_dims;
    bad.head_dim = 0;
    CHECK(nv_xattn_load(st, "b.", NULL, &bad, &x, &err) != 0);
    nv_st_close(st);
}

/* ---- Hugging Face Mllama goldens ---- */

/* rms_norm_eps is not in the config: MllamaTextConfig's default 1e-5. */
static const nv_xattn_dims mllama_dims = {64, 4, 2, 16, 1e-5f};

static void check_mllama(const char *golden, const char *case_name,
                         int visible_keys, nv_pool *pool)
{
    char path[4096];
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/hf/%s/golden.safetensors", golden,
             case_name);
    nv_safetensors *gold = nv_st_open(path, &err);
    snprintf(path, sizeof path, "%s/hf/%s/model", golden, case_name);
    nv_safetensors *model = gold ? nv_st_open(path, &err) : NULL;
    if (!CHECK(model != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        nv_st_close(gold);
        return;
    }
    enum { T = 34, HID = 64, NK = 68 };
    const int64_t hs_shape[4] = {5, 1, T, HID};
    const int64_t kv_shape[5] = {1, 1, 4, 17, HID};
    const int64_t norm_shape[1] = {HID};
    nv_tensor hs = {0}, kv = {0}, final_norm = {0};
    nv_xattn *layer1 = NULL, *layer3 = NULL;
    nv_xattn_scratch s = {0};
    if (!CHECK(nv_st_get_f32(gold, "hidden_states", 4, hs_shape, &hs, &err) ==
                   0 &&
               nv_st_get_f32(gold, "cross_attention_states", 5, kv_shape, &kv,
                             &err) == 0 &&
               nv_st_get_f32(model, "language_model.model.norm.weight", 1,
                             norm_shape, &final_norm, &err) == 0 &&
               nv_xattn_load(model, "language_model.model.layers.1.",
                             nv_xattn_mllama_names(), &mllama_dims,
                             &layer1, &err) == 0 &&
               nv_xattn_load(model, "language_model.model.layers.3.",
                             nv_xattn_mllama_names(), &mllama_dims,
                             &layer3, &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        goto done;
    }
    const float *states = nv_tensor_f32(&hs);
    CHECK(nv_xattn_set_image(layer1, nv_tensor_f32(&kv), NK, &err) == 0);
    CHECK(nv_xattn_set_image(layer3, nv_tensor_f32(&kv), NK, &err) == 0);
    CHECK(nv_xattn_scratch_reserve(&s, layer1, T, nv_pool_size(pool), &err) ==
          0);
    int begin[T], end[T];
    for (int t = 0; t < T; t++) {
        begin[t] = 0;
        end[t] = visible_keys;
    }
    const nv_xattn_rows rows = {begin, end};

    /* Layer 1: hidden_states[1] -> hidden_states[2]. */
    float h[T * HID];
    memcpy(h, states + 1 * T * HID, sizeof h);
    CHECK(nv_xattn_forward(layer1, pool, h, T, &rows, &s, &err) == 0);
    const float *want = states + 2 * T * HID;
    double scale = check_max_abs(want, T * HID);
    double diff = check_max_abs_diff(h, want, T * HID);
    printf("%s layer 1: max abs err %.3g, max|h| %.3g (tolerance %.3g)\n",
           case_name, diff, scale, 1e-6 * scale);
    CHECK(diff <= 1e-6 * scale);

    /* Decode path: each row alone (T = 1). */
    float h1[T * HID];
    memcpy(h1, states + 1 * T * HID, sizeof h1);
    for (int t = 0; t < T; t++) {
        const nv_xattn_rows one = {begin + t, end + t};
        CHECK(nv_xattn_forward(layer1, pool, h1 + t * HID, 1, &one, &s,
                               &err) == 0);
    }
    diff = check_max_abs_diff(h1, want, T * HID);
    printf("%s layer 1 row by row: max abs err %.3g (tolerance %.3g)\n",
           case_name, diff, 1e-6 * scale);
    CHECK(diff <= 1e-6 * scale);

    /* Layer 3 + final norm: hidden_states[3] -> hidden_states[4]. */
    memcpy(h, states + 3 * T * HID, sizeof h);
    CHECK(nv_xattn_forward(layer3, pool, h, T, &rows, &s, &err) == 0);
    const float *norm_w = nv_tensor_f32(&final_norm);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int c = 0; c < HID; c++)
            ss += (double)h[t * HID + c] * h[t * HID + c];
        const double r = 1.0 / sqrt(ss / HID + 1e-5);
        for (int c = 0; c < HID; c++)
            h[t * HID + c] = (float)(h[t * HID + c] * r * norm_w[c]);
    }
    want = states + 4 * T * HID;
    scale = check_max_abs(want, T * HID);
    diff = check_max_abs_diff(h, want, T * HID);
    printf("%s layer 3 + norm: max abs err %.3g, max|h| %.3g (tolerance "
           "%.3g)\n", case_name, diff, scale, 1e-6 * scale);
    CHECK(diff <= 1e-6 * scale);
    if (err.msg[0] && check_failures)
        fprintf(stderr, "last error: %s\n", err.msg);
done:
    nv_xattn_scratch_free(&s);
    nv_xattn_free(layer1);
    nv_xattn_free(layer3);
    nv_tensor_free(&hs);
    nv_tensor_free(&kv);
    nv_tensor_free(&final_norm);
    nv_st_close(model);
    nv_st_close(gold);
}

/* ---- the PyTorch reference's tiny_nvlm fixture ---- */

/* Block 0 of head x or h, fed the golden memory, must cache the golden
 * keys (after k_norm) and values [M, Nkv, d]. */
static void check_fixture_case(const char *dir, nv_safetensors *model,
                               const nv_xattn_dims *dims, const char *head,
                               int n_tiles)
{
    char path[4096], prefix[32];
    nv_error err = {{0}};
    snprintf(path, sizeof path, "%s/golden_%s_%d.safetensors", dir, head,
             n_tiles);
    snprintf(prefix, sizeof prefix, "%s_xattn.0.", head);
    nv_safetensors *gold = nv_st_open(path, &err);
    nv_tensor memory = {0}, keys = {0}, values = {0};
    nv_xattn *x = NULL;
    if (!CHECK(gold &&
               nv_st_get_f32(gold, "xattn_memory", -1, NULL, &memory, &err) ==
                   0 &&
               memory.ndim == 2 && memory.shape[1] == dims->hidden &&
               nv_xattn_load(model, prefix, NULL, dims, &x, &err) == 0)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        goto done;
    }
    const int M = (int)memory.shape[0], G = dims->n_kv_heads;
    const int D = dims->head_dim;
    const int64_t kv_shape[3] = {M, G, D};
    if (!CHECK(nv_st_get_f32(gold, "xattn0_k", 3, kv_shape, &keys, &err) ==
                   0 &&
               nv_st_get_f32(gold, "xattn0_v", 3, kv_shape, &values, &err) ==
                   0 &&
               nv_xattn_set_image(x, nv_tensor_f32(&memory), M, &err) == 0)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        goto done;
    }
    const float *k = nv_tensor_f32(&keys), *v = nv_tensor_f32(&values);
    double k_err = 0, v_err = 0;
    for (int j = 0; j < M; j++)
        for (int g = 0; g < G; g++)
            for (int c = 0; c < D; c++) {
                const size_t i = ((size_t)j * G + g) * D + c;
                k_err = fmax(k_err, fabs(nv_xattn_key(x, g, j, c) - k[i]));
                v_err = fmax(v_err, fabs(nv_xattn_value(x, g, j, c) - v[i]));
            }
    const double k_tol = 2e-6 * fmax(1, check_max_abs(k, (long)M * G * D));
    const double v_tol = 2e-6 * fmax(1, check_max_abs(v, (long)M * G * D));
    printf("fixture %s, %d tiles: %d keys; block 0 keys max err %.3g "
           "(tolerance %.3g), values %.3g (tolerance %.3g)\n", head, n_tiles,
           M, k_err, k_tol, v_err, v_tol);
    CHECK(k_err <= k_tol);
    CHECK(v_err <= v_tol);
done:
    nv_xattn_free(x);
    nv_tensor_free(&memory);
    nv_tensor_free(&keys);
    nv_tensor_free(&values);
    nv_st_close(gold);
}

static void check_fixture(void)
{
    const char *fixtures = getenv("NV_FIXTURE_DIR");
    if (!CHECK(fixtures != NULL))
        return;
    char dir[4096], path[4200];
    nv_error err = {{0}};
    snprintf(dir, sizeof dir, "%s/tiny_nvlm", fixtures);
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *config = nv_json_load(path, 0, &err);
    const cJSON *llm = NULL;
    int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0;
    double rms_eps = 0;
    if (!CHECK(config &&
               nv_json_obj_req(config, "llm_config", path, &llm, &err) == 0 &&
               nv_json_int_req(llm, "hidden_size", path, &hidden, &err) == 0 &&
               nv_json_int_req(llm, "num_attention_heads", path, &heads,
                               &err) == 0 &&
               nv_json_int_req(llm, "num_key_value_heads", path, &kv_heads,
                               &err) == 0 &&
               heads > 0 &&
               nv_json_int_opt(llm, "head_dim", path, hidden / heads,
                               &head_dim, &err) == 0 &&
               nv_json_num_req(llm, "rms_norm_eps", path, &rms_eps,
                               &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        cJSON_Delete(config);
        return;
    }
    cJSON_Delete(config);
    const nv_xattn_dims dims = {(int)hidden, (int)heads, (int)kv_heads,
                                (int)head_dim, (float)rms_eps};
    nv_safetensors *model = nv_st_open(dir, &err);
    if (!CHECK(model != NULL)) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    check_fixture_case(dir, model, &dims, "x", 1);
    check_fixture_case(dir, model, &dims, "x", 3);
    check_fixture_case(dir, model, &dims, "x", 7);
    check_fixture_case(dir, model, &dims, "h", 3);
    check_fixture_case(dir, model, &dims, "h", 7);

    /* Both blocks of both heads load; there is no third. */
    const char *prefixes[4] = {"x_xattn.1.", "h_xattn.0.", "h_xattn.1.",
                               "x_xattn.2."};
    for (int i = 0; i < 4; i++) {
        nv_xattn *x = NULL;
        int rc = nv_xattn_load(model, prefixes[i], NULL, &dims, &x, &err);
        CHECK(i < 3 ? rc == 0 : rc != 0);
        if (i == 3)
            CHECK(strstr(err.msg, "x_xattn.2.input_layernorm.weight") != NULL);
        nv_xattn_free(x);
    }
    nv_st_close(model);
}

int main(void)
{
    const char *golden = check_golden_dir();
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(3, &err);
    if (!CHECK(pool != NULL))
        return check_summary("xattn");

    check_mllama(golden, "mllama", 68, pool);
    check_mllama(golden, "mllama_wide", 51, pool);

    char path[] = "/tmp/nv_test_xattn_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    block_weights *w = calloc(1, sizeof *w);
    random_block(w);
    CHECK(save_block(path, w, QW) == 0);
    nv_safetensors *block_st = NULL;
    nv_xattn *x = load_block(path, &block_st, &err);
    if (CHECK(x != NULL)) {
        CHECK(nv_xattn_intermediate(x) == INTER);
        check_one_key(w, x);
        check_masked(w, x, pool);
        nv_xattn_free(x);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    nv_st_close(block_st);
    check_bad_weights(w, path);
    check_fixture();
    unlink(path);
    free(w);
    nv_pool_free(pool);
    return check_summary("xattn");
}
