/* test_decoder_rows.c - the decoder's position-wise steps on the pool
 * (text/decoder_rows.h) against references written here, on a pool of two
 * threads and on the caller alone, for a chunk of 37 rows (rows cut
 * unevenly between the threads) and a decode step of 1:
 *   - the residual add and RMSNorm: x against x + add in f32, y against
 *     the norm in double (|error| <= 1e-6 of the row's largest |y|), the
 *     bf16 copy equal to nv_f32_to_bf16 of y bit for bit, y written over
 *     add (as the decoder calls it) the same as into its own buffer, and an
 *     add-only call leaving y untouched;
 *   - the SiLU gating: within 1e-6 relative of silu in double, bf16 copy
 *     exact;
 *   - rotation and the cache store: q and k within 1e-6 of the rotation
 *     in double, the cache rows pos0 .. pos0 + T - 1 of the layer holding
 *     the rotated keys and the values, rows outside untouched.
 * Pool and caller must agree bit for bit: each row is computed the same
 * way wherever it runs.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/lowp.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "text/decoder_rows.h"

enum { H = 70, I = 90, NH = 3, NKV = 1, HD = 16, MAX_T = 37, POS0 = 5,
       CTX = 64, LAYER = 1 };

static uint32_t rng_state = 77;

static float uniform(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) * (4.0 / 16777216.0) - 2.0);
}

static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = uniform();
}

static float x0[MAX_T * H], add0[MAX_T * H], w[H];

/* Returns 1 when the results of a pool (or NULL) match the references;
 * writes y and its bf16 copy to out / out_bf16 for the pool comparison. */
static int check_norm(nv_pool *pool, int T, float *out, uint16_t *out_bf16)
{
    static float x[MAX_T * H], add[MAX_T * H];
    memcpy(x, x0, sizeof x);
    memcpy(add, add0, sizeof add);
    /* y written over add, as the decoder does after o_proj. */
    nv_dec_add_norm(pool, x, add, w, add, out_bf16, T, H, 1e-5f);
    memcpy(out, add, sizeof(float) * (size_t)T * H);
    int ok = 1;
    for (int t = 0; t < T; t++) {
        double sum = 0, max_y = 0;
        for (int i = 0; i < H; i++) {
            float want_x = x0[t * H + i] + add0[t * H + i];
            ok &= memcmp(&want_x, &x[t * H + i], sizeof want_x) == 0;
            sum += (double)want_x * want_x;
        }
        double inv = 1.0 / sqrt(sum / H + 1e-5);
        for (int i = 0; i < H; i++)
            max_y = fmax(max_y, fabs(w[i] * x[t * H + i] * inv));
        for (int i = 0; i < H; i++) {
            double want = w[i] * x[t * H + i] * inv;
            ok &= fabs(out[t * H + i] - want) <= 1e-6 * max_y;
            ok &= out_bf16[t * H + i] == nv_f32_to_bf16(out[t * H + i]);
        }
    }
    /* Into a buffer of its own: the same values. */
    static float x2[MAX_T * H], y2[MAX_T * H];
    memcpy(x2, x0, sizeof x2);
    nv_dec_add_norm(pool, x2, add0, w, y2, NULL, T, H, 1e-5f);
    ok &= memcmp(y2, out, sizeof(float) * (size_t)T * H) == 0;
    /* Add only: x gains add, y is not written. */
    memcpy(x2, x0, sizeof x2);
    memset(y2, 0x7f, sizeof y2);
    nv_dec_add_norm(pool, x2, add0, NULL, y2, NULL, T, H, 1e-5f);
    for (int i = 0; i < T * H; i++) {
        float want = x0[i] + add0[i];
        ok &= memcmp(&want, &x2[i], sizeof want) == 0;
        ok &= y2[i] == y2[0] && !(y2[0] < 1e38f);
    }
    if (!ok)
        printf("FAIL add_norm T=%d pool=%d\n", T, pool != NULL);
    return ok;
}

static int check_gate(nv_pool *pool, int T, float *out, uint16_t *out_bf16)
{
    static float gate0[MAX_T * I], up[MAX_T * I];
    static int made;
    if (!made) {
        fill(gate0, sizeof gate0 / sizeof gate0[0]);
        fill(up, sizeof up / sizeof up[0]);
        made = 1;
    }
    memcpy(out, gate0, sizeof(float) * (size_t)T * I);
    nv_dec_silu_gate(pool, out, up, out_bf16, T, I);
    int ok = 1;
    for (int i = 0; i < T * I; i++) {
        double g = gate0[i], want = g / (1.0 + exp(-g)) * up[i];
        ok &= fabs(out[i] - want) <= 1e-6 * fmax(1.0, fabs(want));
        ok &= out_bf16[i] == nv_f32_to_bf16(out[i]);
    }
    if (!ok)
        printf("FAIL silu_gate T=%d pool=%d\n", T, pool != NULL);
    return ok;
}

/* Rotation of head vector v (width HD) by table row c / s, in double. */
static void rotate(const float *v, const float *c, const float *s,
                   double *out)
{
    for (int i = 0; i < HD / 2; i++) {
        double x1 = v[i], x2 = v[i + HD / 2];
        out[i] = x1 * c[i] - x2 * s[i];
        out[i + HD / 2] = x2 * c[i] + x1 * s[i];
    }
}

static int check_rope(nv_pool *pool, int T, float *out_q, float *out_cache)
{
    static float q0[MAX_T * NH * HD], k0[MAX_T * NKV * HD],
        v[MAX_T * NKV * HD], cos_tab[MAX_T * HD / 2], sin_tab[MAX_T * HD / 2];
    static float q[MAX_T * NH * HD], k[MAX_T * NKV * HD];
    static int made;
    if (!made) {
        fill(q0, sizeof q0 / sizeof q0[0]);
        fill(k0, sizeof k0 / sizeof k0[0]);
        fill(v, sizeof v / sizeof v[0]);
        for (int i = 0; i < MAX_T * HD / 2; i++) {
            double angle = uniform() * 3.0;
            cos_tab[i] = (float)cos(angle);
            sin_tab[i] = (float)sin(angle);
        }
        made = 1;
    }
    nv_error err = {{0}};
    nv_kv_cache kv;
    if (!CHECK(nv_kv_cache_init(&kv, 2, NKV, HD, CTX, &err) == 0))
        return 0;
    for (int h = 0; h < NKV; h++)
        for (int i = 0; i < CTX * HD; i++) {
            nv_kv_cache_k(&kv, LAYER, h)[i] = 9.0f;
            nv_kv_cache_v(&kv, LAYER, h)[i] = 9.0f;
        }
    memcpy(q, q0, sizeof q);
    memcpy(k, k0, sizeof k);
    nv_dec_rope_store job = {q, k, v, cos_tab, sin_tab, T, NH, NKV, HD,
                             &kv, LAYER, POS0};
    nv_dec_rope_and_store(pool, &job);
    int ok = 1;
    double want[HD];
    for (int t = 0; t < T; t++) {
        const float *c = cos_tab + t * HD / 2, *s = sin_tab + t * HD / 2;
        for (int h = 0; h < NH; h++) {
            rotate(q0 + (t * NH + h) * HD, c, s, want);
            for (int i = 0; i < HD; i++)
                ok &= fabs(q[(t * NH + h) * HD + i] - want[i]) <= 1e-6;
        }
        for (int h = 0; h < NKV; h++) {
            rotate(k0 + (t * NKV + h) * HD, c, s, want);
            const float *K = nv_kv_cache_k(&kv, LAYER, h) +
                             (size_t)(POS0 + t) * HD;
            const float *V = nv_kv_cache_v(&kv, LAYER, h) +
                             (size_t)(POS0 + t) * HD;
            for (int i = 0; i < HD; i++) {
                ok &= fabs(K[i] - want[i]) <= 1e-6;
                ok &= K[i] == k[(t * NKV + h) * HD + i];
                ok &= V[i] == v[(t * NKV + h) * HD + i];
            }
        }
    }
    for (int h = 0; h < NKV; h++)
        for (int p = 0; p < CTX; p++) {
            if (p >= POS0 && p < POS0 + T)
                continue;
            for (int i = 0; i < HD; i++)
                ok &= nv_kv_cache_k(&kv, LAYER, h)[p * HD + i] == 9.0f &&
                      nv_kv_cache_v(&kv, LAYER, h)[p * HD + i] == 9.0f;
        }
    memcpy(out_q, q, sizeof(float) * (size_t)T * NH * HD);
    memcpy(out_cache, nv_kv_cache_k(&kv, LAYER, 0),
           sizeof(float) * CTX * HD);
    nv_kv_cache_free(&kv);
    if (!ok)
        printf("FAIL rope_and_store T=%d pool=%d\n", T, pool != NULL);
    return ok;
}

int main(void)
{
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(2, &err);
    if (!CHECK(pool != NULL))
        return check_summary("decoder_rows");
    fill(x0, sizeof x0 / sizeof x0[0]);
    fill(add0, sizeof add0 / sizeof add0[0]);
    for (int i = 0; i < H; i++)
        w[i] = 0.5f + 0.25f * uniform();
    static float a[2][MAX_T * I], b[2][CTX * HD];
    static uint16_t ab[2][MAX_T * I];
    const int lengths[2] = {MAX_T, 1};
    for (int l = 0; l < 2; l++) {
        int T = lengths[l];
        for (int p = 0; p < 2; p++)
            CHECK(check_norm(p ? pool : NULL, T, a[p], ab[p]));
        CHECK(memcmp(a[0], a[1], sizeof(float) * (size_t)T * H) == 0);
        CHECK(memcmp(ab[0], ab[1], sizeof(uint16_t) * (size_t)T * H) == 0);
        for (int p = 0; p < 2; p++)
            CHECK(check_gate(p ? pool : NULL, T, a[p], ab[p]));
        CHECK(memcmp(a[0], a[1], sizeof(float) * (size_t)T * I) == 0);
        for (int p = 0; p < 2; p++)
            CHECK(check_rope(p ? pool : NULL, T, a[p], b[p]));
        CHECK(memcmp(a[0], a[1], sizeof(float) * (size_t)T * NH * HD) == 0);
        CHECK(memcmp(b[0], b[1], sizeof b[0]) == 0);
    }
    nv_pool_free(pool);
    return check_summary("decoder_rows");
}
