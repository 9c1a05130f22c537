/* test_causal_attn.c - the decoder's causal attention (text/causal_attn.h)
 * against a double-precision reference written here: grouped-query heads
 * (4 query heads on 2 key/value heads), a chunk that starts after cached
 * positions (pos0 = 37) and spans three query blocks, the last one short
 * (T = 150), on a pool of two workers and on the caller alone.
 *
 * Tolerances, with q, k, v uniform in [-2, 2) and head width 64 (scores of
 * order 1): f32 products |error| <= 1e-5. bf16 (on CPUs where oneDNN has
 * AVX-512 BF16 kernels): q / 8, keys, values and probabilities each rounded
 * to bf16 (relative 2^-9), the same bounds as the ViT's bf16 attention
 * (tests/vision/test_vit_ops.c): max 0.015, mean 1.5e-3; and the error
 * must be above 1e-4, so a bf16 path that silently fell back to f32 fails.
 * A decode step (T = 1) takes the f32 kernel even with bf16 scratch. The
 * padding is checked too: a garbage value left in the cache just past the
 * chunk must not reach any output.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/dnnl_gemm.h"
#include "core/threads.h"
#include "text/causal_attn.h"
#include "text/kv_cache.h"

enum { NH = 4, NKV = 2, HD = 64, QD = NH * HD, POS0 = 37, T = 150,
       CTX = 200, LAYER = 1 };

static uint32_t rng_state = 2024;

static float uniform(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) * (4.0 / 16777216.0) - 2.0);
}

/* Output of query t (position pos0 + t), head h, in double. */
static void reference(const nv_kv_cache *kv, const float *q, int t, int h,
                      int pos0, double *out)
{
    const float *K = nv_kv_cache_k(kv, LAYER, h / (NH / NKV));
    const float *V = nv_kv_cache_v(kv, LAYER, h / (NH / NKV));
    const float *qt = q + (size_t)t * QD + (size_t)h * HD;
    int n = pos0 + t + 1;
    double *p = malloc(sizeof(double) * (size_t)n), max = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int c = 0; c < HD; c++)
            s += (double)qt[c] * K[(size_t)j * HD + c];
        p[j] = s / 8.0;
        max = p[j] > max ? p[j] : max;
    }
    for (int j = 0; j < n; j++)
        sum += p[j] = exp(p[j] - max);
    for (int c = 0; c < HD; c++) {
        double o = 0;
        for (int j = 0; j < n; j++)
            o += p[j] * V[(size_t)j * HD + c];
        out[c] = o / sum;
    }
    free(p);
}

/* Runs one chunk of `len` queries after `pos0` cached positions and
 * compares every output; returns the largest error, mean in *mean. */
static double run_chunk(nv_causal_attn_scratch *s, nv_pool *pool,
                        const nv_kv_cache *kv, const float *q, int len,
                        int pos0, double *mean)
{
    nv_causal_attn_dims d = {NH, NKV, HD};
    float *out = malloc(sizeof(float) * (size_t)len * QD);
    double ref[HD], worst = 0, total = 0;
    nv_causal_attn(s, &d, pool, kv, LAYER, q, out, len, pos0);
    for (int t = 0; t < len; t++)
        for (int h = 0; h < NH; h++) {
            reference(kv, q, t, h, pos0, ref);
            for (int c = 0; c < HD; c++) {
                double e = fabs(out[(size_t)t * QD + h * HD + c] - ref[c]);
                if (e != e)
                    e = INFINITY;
                worst = e > worst ? e : worst;
                total += e;
            }
        }
    free(out);
    *mean = total / ((double)len * QD);
    return worst;
}

int main(void)
{
    nv_error err = {{0}};
    nv_kv_cache kv;
    if (!CHECK(nv_kv_cache_init(&kv, 2, NKV, HD, CTX, &err) == 0))
        return check_summary("causal_attn");
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < NKV; h++)
            for (int i = 0; i < CTX * HD; i++) {
                nv_kv_cache_k(&kv, l, h)[i] = uniform();
                nv_kv_cache_v(&kv, l, h)[i] = uniform();
            }
    /* Past the chunk: values no output may see. */
    for (int h = 0; h < NKV; h++)
        for (int i = 0; i < HD; i++) {
            nv_kv_cache_k(&kv, LAYER, h)[(size_t)(POS0 + T) * HD + i] = 1e30f;
            nv_kv_cache_v(&kv, LAYER, h)[(size_t)(POS0 + T) * HD + i] = 1e30f;
        }
    kv.len = POS0 + T;
    float *q = malloc(sizeof(float) * T * QD);
    for (int i = 0; i < T * QD; i++)
        q[i] = uniform();

    nv_pool *pool = nv_pool_create(2, &err);
    CHECK(pool != NULL);
    int can_bf16 = nv_dnnl_bf16_ready();
    nv_causal_attn_dims d = {NH, NKV, HD};
    for (int bf16 = 0; bf16 <= can_bf16; bf16++)
        for (int pooled = 0; pooled <= 1; pooled++) {
            nv_causal_attn_scratch s = {0};
            int workers = pooled ? 2 : 1;
            if (!CHECK(nv_causal_attn_reserve(&s, &d, workers, bf16, T, CTX,
                                              &err) == 0))
                continue;
            CHECK(s.bf16 == bf16);
            double mean, worst = run_chunk(&s, pooled ? pool : NULL, &kv, q,
                                           T, POS0, &mean);
            printf("chunk of %d after %d, %s, %d worker(s): max |error| "
                   "%.3g, mean %.3g\n", T, POS0, bf16 ? "bf16" : "f32",
                   workers, worst, mean);
            CHECK(worst <= (bf16 ? 0.015 : 1e-5));
            CHECK(mean <= (bf16 ? 1.5e-3 : 1e-6));
            if (bf16)
                CHECK(worst > 1e-4); /* the bf16 products did run */
            /* One decode step at the last position: f32 whatever the
             * scratch. */
            worst = run_chunk(&s, pooled ? pool : NULL, &kv,
                              q + (size_t)(T - 1) * QD, 1, POS0 + T - 1,
                              &mean);
            printf("  decode step: max |error| %.3g\n", worst);
            CHECK(worst <= 1e-5);
            nv_causal_attn_free(&s);
        }
    if (!can_bf16)
        printf("no bf16 products on this CPU (f32 only)\n");

    /* Bad sizes fail cleanly. */
    nv_causal_attn_scratch s = {0};
    CHECK(nv_causal_attn_reserve(&s, &d, 0, 0, T, CTX, &err) == -1);
    CHECK(nv_causal_attn_reserve(&s, &d, 1, 0, 1, INT32_MAX, &err) == -1);
    nv_causal_attn_free(&s);

    nv_pool_free(pool);
    free(q);
    nv_kv_cache_free(&kv);
    return check_summary("causal_attn");
}
