/* test_vit_ops.c - the polynomial GELU and softmax of vision/vit_ops.c
 * against double-precision references, over every range their piecewise
 * approximations cover (the model-level tests see only the values a few
 * tiny layers produce).
 *
 * GELU: reference 0.5 x (1 + erf(x / sqrt 2)) in double. Our float result
 * follows PyTorch's float expression, so besides its own few-ulp error it
 * carries the rounding of 1 + erf near -1; the bound is therefore
 * 4 * 2^-24 |ref| + |x| * 2^-24 (half an ulp of 1 + erf, times x / 2, with
 * room for the erf error). PyTorch's own float GELU has the same second term.
 * (glibc's erff measures 0.44 of this bound, ours 0.93.)
 * Softmax: reference in double from the float difference x - max (which
 * PyTorch rounds the same way; at |x - max| ~ 100 that rounding alone moves
 * exp by ~4e-6), relative error per element <= 5e-7 (measured 1.5e-7).
 * Attention (nv_self_attention_fused): 2 sequences of 77 tokens, 3 heads of
 * 64, q k v uniform in [-2, 2], against softmax(q k^T / 8) v in double.
 * f32 products: |error| <= 1e-5 (measured 8.5e-7). bf16 products (on CPUs
 * where they run: AVX-512 BF16 and oneDNN): q / 8, k, v and the
 * probabilities each rounded to bf16
 * (2^-9 relative) move a score by up to 2^-8 * sum |q k| / 8 (~0.03 here)
 * and an output by a few 2^-9 |v|; bound |error| <= 0.015, mean <= 1.5e-3
 * (measured 6.3e-3 and 7.0e-4).
 * The pooled norms and GELU that also write a bf16 copy: bit-equal to the
 * plain functions, the copy equal to nv_f32_to_bf16 of the result.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/lowp.h"
#include "core/matmul.h"
#include "core/threads.h"
#include "vision/vit_ops.h"

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static void test_gelu_sweep(void)
{
    /* [-12, 12] in steps of 2^-14: every piece of the erf approximation
     * (|z| < 1, 1 <= |z| < 3.92, beyond) and both signs. */
    long count = 24L << 14;
    float *x = malloc((size_t)(count + 1) * sizeof *x);
    float *y = malloc((size_t)(count + 1) * sizeof *y);
    for (long i = 0; i <= count; i++)
        x[i] = (float)(-12.0 + (double)i / (1 << 14));
    memcpy(y, x, (size_t)(count + 1) * sizeof *y);
    nv_gelu_erf(y, (size_t)count + 1);
    double worst = 0, worst_x = 0;
    int within = 1;
    for (long i = 0; i <= count; i++) {
        double ref = gelu_ref(x[i]);
        double bound = 4.0 * ldexp(fabs(ref), -24) + ldexp(fabs(x[i]), -24);
        double err = fabs((double)y[i] - ref);
        if (!(err <= bound))
            within = 0;
        if (err / bound > worst) {
            worst = err / bound;
            worst_x = x[i];
        }
    }
    printf("gelu sweep: worst error %.3g of its bound (at x = %g)\n", worst,
           worst_x);
    CHECK(within);
    free(x);
    free(y);
}

static void test_gelu_special(void)
{
    float v[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, INFINITY,
                 NAN};
    nv_gelu_erf(v, sizeof v / sizeof v[0]);
    CHECK(v[0] == 0.0f);
    CHECK(v[1] == 0.0f);
    CHECK(fabs(v[2] - 0.5e-30) <= 1e-36);
    CHECK(fabs(v[3] + 0.5e-30) <= 1e-36);
    CHECK(v[4] == 100.0f);
    CHECK(v[5] == 0.0f);
    CHECK(isinf(v[6]) && v[6] > 0);
    CHECK(isnan(v[7]));
}

static void test_softmax(void)
{
    /* Rows of 1025 (a 448-pixel InternViT tile) and of 7 (shorter than the
     * vector lanes), values spread over [-60, 60] so that some exponents
     * underflow. */
    int widths[] = {1025, 7, 1};
    srand(7);
    for (int w = 0; w < 3; w++) {
        int rows = 16, cols = widths[w];
        size_t total = (size_t)rows * cols;
        float *s = malloc(total * sizeof *s);
        for (size_t i = 0; i < total; i++)
            s[i] = (float)(120.0 * rand() / RAND_MAX - 60.0);
        float *orig = malloc(total * sizeof *orig);
        memcpy(orig, s, total * sizeof *s);
        nv_softmax_rows(s, rows, cols);
        double worst = 0;
        for (int r = 0; r < rows; r++) {
            const float *row = orig + (size_t)r * cols;
            float max = row[0];
            double sum = 0;
            for (int i = 1; i < cols; i++)
                max = row[i] > max ? row[i] : max;
            for (int i = 0; i < cols; i++)
                sum += exp((double)(row[i] - max));
            for (int i = 0; i < cols; i++) {
                double ref = exp((double)(row[i] - max)) / sum;
                double got = s[(size_t)r * cols + i];
                /* Below 1e-30 only the absolute error matters. */
                double err = fabs(got - ref) / fmax(ref, 1e-30);
                worst = err > worst ? err : worst;
            }
        }
        printf("softmax rows of %d: worst relative error %.3g (tol 5e-7)\n",
               cols, worst);
        CHECK(worst <= 5e-7);
        free(s);
        free(orig);
    }
}

/* Masked (-inf) and far-below-maximum entries get exactly 0, as expf's
 * underflow gives them. */
static void test_softmax_masked(void)
{
    float row[] = {0.0f, -INFINITY, 1.0f, -200.0f};
    nv_softmax_rows(row, 1, 4);
    double p1 = 1.0 / (1.0 + exp(-1.0));
    CHECK(fabs(row[2] - p1) <= 2e-7 * p1);
    CHECK(fabs(row[0] - (1.0 - p1)) <= 2e-7 * (1.0 - p1));
    CHECK(row[1] == 0.0f);
    CHECK(row[3] == 0.0f);
}

/* softmax(q k^T * scale) v in double for one (sequence, head). */
static void attention_ref(const float *qkv, int T, int W, int d, int head,
                          double scale, double *out)
{
    double *p = malloc(sizeof(double) * (size_t)T);
    for (int i = 0; i < T; i++) {
        const float *q = qkv + (size_t)i * 3 * W + head * d;
        double max = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
            const float *k = qkv + (size_t)j * 3 * W + W + head * d;
            double s = 0;
            for (int c = 0; c < d; c++)
                s += (double)q[c] * k[c];
            p[j] = s * scale;
            max = p[j] > max ? p[j] : max;
        }
        for (int j = 0; j < T; j++)
            sum += p[j] = exp(p[j] - max);
        for (int c = 0; c < d; c++) {
            double o = 0;
            for (int j = 0; j < T; j++)
                o += p[j] * qkv[(size_t)j * 3 * W + 2 * W + head * d + c];
            out[(size_t)i * d + c] = o / sum;
        }
    }
    free(p);
}

static void test_attention(void)
{
    enum { N = 2, T = 77, H = 3, D = 64, W = H * D };
    float *qkv = malloc(sizeof(float) * N * T * 3 * W);
    float *out = malloc(sizeof(float) * N * T * W);
    float *scores = malloc(sizeof(float) * 2 * T * T);
    double *ref = malloc(sizeof(double) * T * D);
    uint32_t state = 12345;
    for (int i = 0; i < N * T * 3 * W; i++) {
        state = state * 1664525u + 1013904223u;
        qkv[i] = (float)((state >> 8) * (4.0 / 16777216.0) - 2.0);
    }
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(2, &err);
    nv_tensor bf16_weights = {.dtype = NV_BF16};
    int can_bf16 = nv_attention_bf16_for(&bf16_weights);
    /* 1/8 (head width 64), and a scale that is not a power of two: the
     * bf16 path applies it in the softmax, after the products. */
    const float scales[2] = {0.125f, 0.1f};
    for (int run = 0; run < 2 * (1 + can_bf16); run++) {
        int bf16 = run / 2;
        float scale = scales[run % 2];
        nv_self_attention_fused(pool, 2, qkv, out, scores, N, T, H, D,
                                scale, bf16);
        double worst = 0, mean = 0;
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                attention_ref(qkv + (size_t)n * T * 3 * W, T, W, D, h, scale,
                              ref);
                for (int t = 0; t < T; t++)
                    for (int c = 0; c < D; c++) {
                        double e = fabs(out[((size_t)n * T + t) * W + h * D +
                                            c] -
                                        ref[(size_t)t * D + c]);
                        worst = e > worst ? e : worst;
                        mean += e;
                    }
            }
        mean /= (double)N * T * W;
        printf("attention, %s products, scale %g: max |error| %.3g, mean "
               "%.3g\n", bf16 ? "bf16" : "f32", scale, worst, mean);
        CHECK(worst <= (bf16 ? 0.015 : 1e-5));
        CHECK(mean <= (bf16 ? 1.5e-3 : 1e-6));
        if (bf16)
            CHECK(worst > 1e-4); /* the bf16 products did run */
    }
    if (!can_bf16)
        printf("attention: no bf16 products on this CPU (f32 only)\n");
    nv_pool_free(pool);
    free(qkv);
    free(out);
    free(scores);
    free(ref);
}

/* The pooled norms and GELU with a bf16 copy (what the ViT hands its
 * products on oneDNN): on a pool of 2 and on the caller, the f32 result
 * equals the plain single-thread function bit for bit and the copy is
 * nv_f32_to_bf16 of it, for LayerNorm and RMSNorm over 37 rows (cut
 * unevenly) and GELU over more values than one piece of its rounding. */
static void test_pooled_bf16(void)
{
    enum { ROWS = 37, DIM = 70, N_GELU = 9000 };
    static float x[ROWS * DIM], w[DIM], b[DIM], want[ROWS * DIM],
        got[ROWS * DIM], g0[N_GELU], gw[N_GELU], gg[N_GELU];
    static uint16_t yb[ROWS * DIM], gb[N_GELU];
    uint32_t state = 99;
    for (int i = 0; i < ROWS * DIM; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)((state >> 8) * (4.0 / 16777216.0) - 2.0);
    }
    for (int i = 0; i < DIM; i++) {
        w[i] = 0.5f + x[i] * 0.1f;
        b[i] = x[DIM + i] * 0.3f;
    }
    for (int i = 0; i < N_GELU; i++)
        g0[i] = (float)(i - N_GELU / 2) * 0.002f;
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(2, &err);
    for (int p = 0; p < 2; p++) {
        nv_pool *use = p ? pool : NULL;
        for (int layer = 0; layer < 2; layer++) {
            if (layer)
                nv_layer_norm_rows(want, x, ROWS, DIM, w, b, 1e-6f);
            else
                nv_rms_norm_rows(want, x, ROWS, DIM, DIM, DIM, w, 1e-6f);
            memset(yb, 0, sizeof yb);
            nv_norm_rows_pooled_bf16(use, got, yb, x, ROWS, DIM, w,
                                     layer ? b : NULL, 1e-6f);
            int ok = memcmp(got, want, sizeof got) == 0;
            for (int i = 0; i < ROWS * DIM; i++)
                ok &= yb[i] == nv_f32_to_bf16(got[i]);
            if (!ok)
                printf("FAIL %s norm with bf16 copy, pool %d\n",
                       layer ? "layer" : "rms", p);
            CHECK(ok);
        }
        memcpy(gw, g0, sizeof gw);
        nv_gelu_erf(gw, N_GELU);
        memcpy(gg, g0, sizeof gg);
        memset(gb, 0, sizeof gb);
        nv_gelu_erf_pooled_bf16(use, gg, gb, N_GELU);
        int ok = memcmp(gg, gw, sizeof gg) == 0;
        for (int i = 0; i < N_GELU; i++)
            ok &= gb[i] == nv_f32_to_bf16(gg[i]);
        if (!ok)
            printf("FAIL gelu with bf16 copy, pool %d\n", p);
        CHECK(ok);
    }
    nv_pool_free(pool);
}

int main(void)
{
    test_pooled_bf16();
    test_attention();
    test_gelu_sweep();
    test_gelu_special();
    test_softmax();
    test_softmax_masked();
    return check_summary("vit_ops");
}
