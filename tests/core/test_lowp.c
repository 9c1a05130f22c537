/* test_lowp.c - weights in their stored precision (issue 15, item 1):
 *   - nv_linear_w on F16 and BF16 weights, through the decode GEMV (M < 8)
 *     and the panel path (M >= 8), with and without bias, on no pool and on
 *     a pool of 3 threads (products below ~4 M multiply-adds run on the
 *     caller; the last three shapes are split over it), for every
 *     instruction set this CPU has (AVX-512 BF16, AVX-512, AVX2, plain C:
 *     NV_LOWP_ISA caps the choice), against a double loop over the same
 *     widened weights (with AVX-512 BF16, products of bf16 weights take
 *     bf16-rounded activations - the decode kernel, and oneDNN for 8 rows
 *     or more - and so does their reference). Each element must satisfy
 *         |got - ref| <= 1e-5 * (sum_k |w_k x_k| + |bias|)
 *     (f32 accumulation, as test_matmul.c); the outputs start as NaN so
 *     that an element not written fails. Odd K and N cover every tail.
 *   - the same for Q8_0 weights (int8, an f16 scale per 32), Q4_0 and
 *     Q4_K against their dequantized values (the test decodes the formats
 *     itself).
 *   - nv_lowp_to_f32 equals the scalar nv_f16_to_f32 / nv_bf16_to_f32 bit
 *     for bit on every 16-bit pattern, on every instruction set.
 *   - Q8_0 pairs (I8 weight + F16 "<name>.q8_scales"), Q4_0 and Q4_K
 *     ones load in place or dequantized; scales of the wrong shape or
 *     dtype, or rows not a multiple of 32 (Q4_K: 256) long, are refused
 *     with the tensor's name.
 *   - Q4_0 and Q4_K quantization round trips (bounds at each function).
 *   - quantized rows as bf16 (the prefill panels), one pass on AVX-512
 *     BF16, equal bit for bit to the f32 value rounded to bf16.
 *   - nv_linear_w_group (q / k / v and gate / up in one pool job, for
 *     decode and for prefill) equals one nv_linear_w per part bit for
 *     bit, and so do the _rounded forms given the input's bf16 rounding.
 *   - nv_dnnl_bf16_gemm with row strides on every operand and an output
 *     whose rows are wider than N (a column range, as the pool's tasks
 *     and the attention write): each element within the bound above, the
 *     columns past N untouched; with AMX kernels (where such an output
 *     goes through a dense buffer) bit-equal to the same product into a
 *     dense output. Weights as rows [N, K] with bias, and as [K, N].
 *   - nv_st_get_weight borrows F16 / BF16 with their dtype, copies
 *     unaligned data, and converts between f32 / f16 / bf16 as the weight
 *     mode asks (exact values chosen so that every conversion is exact).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dnnl_gemm.h"
#include "core/lowp.h"
#include "core/matmul.h"
#include "core/safetensors.h"
#include "tests/check.h"

#define REL_TOL 1e-5

static float next_value(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static uint16_t to_bits(nv_dtype dt, float f)
{
    return dt == NV_F16 ? nv_f32_to_f16(f) : nv_f32_to_bf16(f);
}

static float from_bits(nv_dtype dt, uint16_t h)
{
    return dt == NV_F16 ? nv_f16_to_f32(h) : nv_bf16_to_f32(h);
}

static double worst_rel;

/* One output element against its reference; `scale` is the sum of |terms|
 * it is made of. Prints `what` and the element when it is off. */
static int element_ok(float got, double ref, double scale, const char *what,
                      int m, int n)
{
    double rel = fabs(got - ref) / (scale > 0 ? scale : 1);
    if (!(rel <= REL_TOL)) {
        fprintf(stderr, "%s: y[%d,%d] = %g, want %g\n", what, m, n, got, ref);
        return 0;
    }
    if (rel > worst_rel)
        worst_rel = rel;
    return 1;
}

static void check_linear(nv_pool *pool, nv_dtype dt, int M, int K, int N,
                         int with_bias, const char *isa)
{
    uint64_t state = 777u + (uint64_t)(M * 100000 + K * 100 + N);
    float *x = malloc(sizeof(float) * (size_t)M * K);
    uint16_t *w = malloc(sizeof(uint16_t) * (size_t)N * K);
    float *b = malloc(sizeof(float) * (size_t)N);
    float *y = malloc(sizeof(float) * (size_t)M * N);
    if (!CHECK(x && w && b && y))
        goto done;
    for (long i = 0; i < (long)M * K; i++)
        x[i] = next_value(&state);
    for (long i = 0; i < (long)N * K; i++)
        w[i] = to_bits(dt, next_value(&state));
    for (int i = 0; i < N; i++)
        b[i] = next_value(&state);
    for (long i = 0; i < (long)M * N; i++)
        y[i] = NAN;
    nv_tensor wt = {dt, 2, {N, K}, w, 0, NULL};
    nv_error err = {{0}};
    if (!CHECK(nv_linear_w(pool, y, x, &wt, with_bias ? b : NULL, M, K, N,
                           &err) == 0))
        goto done;
    /* vdpbf16ps multiplies bf16 activations (the decode kernel, and
     * oneDNN for more rows): the reference rounds them the same way (to
     * nearest even), so the bound stays f32 accumulation's. */
    if (strcmp(isa, "avx512bf16") == 0 && dt == NV_BF16 &&
        (M < NV_LINEAR_GEMV_ROWS || nv_dnnl_bf16_ready()))
        for (long i = 0; i < (long)M * K; i++)
            x[i] = nv_bf16_to_f32(nv_f32_to_bf16(x[i]));
    char what[128];
    snprintf(what, sizeof what, "%s %s M=%d K=%d N=%d bias=%d pool=%d", isa,
             nv_dtype_name(dt), M, K, N, with_bias, pool != NULL);
    int bad = 0;
    for (int m = 0; m < M && !bad; m++)
        for (int n = 0; n < N && !bad; n++) {
            double ref = with_bias ? b[n] : 0, scale = with_bias ? fabs(b[n])
                                                                 : 0;
            for (int k = 0; k < K; k++) {
                double t = (double)from_bits(dt, w[(size_t)n * K + k]) *
                           x[(size_t)m * K + k];
                ref += t;
                scale += fabs(t);
            }
            bad = !element_ok(y[(size_t)m * N + n], ref, scale, what, m, n);
        }
    CHECK(!bad);
done:
    free(x);
    free(w);
    free(b);
    free(y);
}

/* Quantized weights: random values and scales; the reference decodes the
 * format itself (core/tensor.h) and dequantizes in double. Same tolerance
 * as the f16 / bf16 products, relative to the sum of the magnitudes of the
 * terms the kernels add: for Q4_K that is |d_b u x| and |m_b x| apart (the
 * kernels sum d_b x dot(u, x) and m_b x sum(x) separately, as llama.cpp
 * does, so a weight near 0 made of two large parts costs their size). K is
 * a multiple of 32, of 256 for Q4_K (the formats require it). */
enum { KIND_Q8_0, KIND_Q4_0, KIND_Q4_K };

static const char *kind_name(int kind)
{
    return kind == KIND_Q4_K ? "Q4_K" : kind == KIND_Q4_0 ? "Q4_0" : "Q8_0";
}

/* Weight k of row n as (u, d, m): the value is u d - m. */
static void quant_weight(const void *q, const void *scales, int kind, int K,
                         int n, int k, int *u, double *d, double *m)
{
    *m = 0.0;
    if (kind == KIND_Q8_0) {
        *u = ((const int8_t *)q)[(size_t)n * K + k];
        *d = nv_f16_to_f32(((const uint16_t *)scales)[(size_t)n * (K / 32) +
                                                      k / 32]);
        return;
    }
    const uint8_t *row = (const uint8_t *)q + (size_t)n * (K / 2);
    uint8_t byte = row[k / 32 * 16 + k % 16];
    *u = k % 32 < 16 ? byte & 15 : byte >> 4;
    if (kind == KIND_Q4_0) {
        *u -= 8;
        *d = nv_f16_to_f32(((const uint16_t *)scales)[(size_t)n * (K / 32) +
                                                      k / 32]);
        return;
    }
    const uint8_t *rec = (const uint8_t *)scales +
                         ((size_t)n * (K / 256) + (size_t)(k / 256)) * 24;
    float dsup, msup;
    memcpy(&dsup, rec, 4);
    memcpy(&msup, rec + 4, 4);
    int b = k % 256 / 32;
    /* rounded to f32 as the kernels compute them */
    *d = (double)(dsup * (float)rec[8 + b]);
    *m = (double)(msup * (float)rec[16 + b]);
}

/* n random Q4_K records (24 bytes each): d = d0 (1 + |v|), dmin = m0 |v|,
 * then 16 random 8-bit multipliers. */
static void random_q4k_records(uint8_t *rec, size_t n, float d0, float m0,
                               uint64_t *state)
{
    for (size_t r = 0; r < n; r++, rec += 24) {
        float dsup = d0 + d0 * fabsf(next_value(state));
        float msup = m0 * fabsf(next_value(state));
        memcpy(rec, &dsup, 4);
        memcpy(rec + 4, &msup, 4);
        for (int j = 8; j < 24; j++)
            rec[j] = (uint8_t)((next_value(state) + 1.0f) * 127.99f);
    }
}

static void check_q8(nv_pool *pool, int M, int K, int N, const char *isa,
                     int kind)
{
    uint64_t state = 99u + (uint64_t)(M * 100000 + K * 100 + N);
    int nb = K / NV_Q8_BLOCK;
    size_t q_bytes = kind != KIND_Q8_0 ? (size_t)N * K / 2 : (size_t)N * K;
    size_t s_bytes = kind == KIND_Q4_K ? (size_t)N * (K / 256) * 24
                                       : 2 * (size_t)N * nb;
    float *x = malloc(sizeof(float) * (size_t)M * K);
    int8_t *q = malloc(q_bytes);
    uint16_t *sc = malloc(s_bytes);
    float *y = malloc(sizeof(float) * (size_t)M * N);
    if (!CHECK(x && q && sc && y))
        goto done;
    for (long i = 0; i < (long)M * K; i++)
        x[i] = next_value(&state);
    for (size_t i = 0; i < q_bytes; i++)
        q[i] = kind != KIND_Q8_0
                   ? (int8_t)(uint8_t)((next_value(&state) + 1.0f) * 127.99f)
                   : (int8_t)(next_value(&state) * 127.0f);
    if (kind == KIND_Q4_K) {
        random_q4k_records((uint8_t *)sc, s_bytes / 24, 1e-4f, 1e-4f, &state);
    } else {
        for (long i = 0; i < (long)N * nb; i++)
            sc[i] = nv_f32_to_f16(0.001f + 0.01f * fabsf(next_value(&state)));
    }
    for (long i = 0; i < (long)M * N; i++)
        y[i] = NAN;
    nv_dtype dt = kind == KIND_Q4_K ? NV_Q4_K
                  : kind == KIND_Q4_0 ? NV_Q4_0 : NV_Q8_0;
    nv_tensor wt = {dt, 2, {N, K}, q, 0, sc};
    nv_error err = {{0}};
    if (!CHECK(nv_linear_w(pool, y, x, &wt, NULL, M, K, N, &err) == 0))
        goto done;
    /* With VNNI the decode product quantizes the activations per block of
     * 32 (dx = max |x| / 127, round to nearest, away from zero on ties):
     * the reference takes the same values, so the bound stays f32's.
     * (Quantized x: the block sums are exact integers, so only the scaling
     * and the f32 accumulation round.) */
    /* With oneDNN (8 rows or more) the dequantized weights and the
     * activations are rounded to bf16 instead. */
    int onednn = strcmp(isa, "avx512bf16") == 0 &&
                 M >= NV_LINEAR_GEMV_ROWS && nv_dnnl_bf16_ready();
    if (onednn)
        for (long i = 0; i < (long)M * K; i++)
            x[i] = nv_bf16_to_f32(nv_f32_to_bf16(x[i]));
    /* So do the AVX2 int8 kernels: on AVX2 CPUs, and for Q4_K on every
     * CPU with AVX2 (AVX-512F without VNNI widens Q8_0 and Q4_0). */
    int int8_decode = M < NV_LINEAR_GEMV_ROWS && strcmp(isa, "c") != 0 &&
                      (strcmp(isa, "avx512") != 0 || kind == KIND_Q4_K);
    if (int8_decode)
        for (long b = 0; b < (long)M * nb; b++) {
            float *blk = x + b * 32, amax = 0.0f;
            for (int k = 0; k < 32; k++)
                amax = fabsf(blk[k]) > amax ? fabsf(blk[k]) : amax;
            float dx = amax / 127.0f;
            for (int k = 0; k < 32; k++)
                blk[k] = dx > 0.0f ? roundf(blk[k] * (1.0f / dx)) * dx : 0.0f;
        }
    char what[128];
    snprintf(what, sizeof what, "%s %s M=%d K=%d N=%d pool=%d", isa,
             kind_name(kind), M, K, N, pool != NULL);
    int bad = 0;
    for (int m = 0; m < M && !bad; m++)
        for (int n = 0; n < N && !bad; n++) {
            double ref = 0, scale = 0;
            for (int k = 0; k < K; k++) {
                int u;
                double d, off;
                quant_weight(q, sc, kind, K, n, k, &u, &d, &off);
                double w = u * d - off, xv = x[(size_t)m * K + k];
                if (onednn) {
                    /* the panel's f32 value (one rounding of u d - m, as
                     * the dequantizing kernels' fused multiply-subtract)
                     * rounded to bf16 */
                    w = nv_bf16_to_f32(nv_f32_to_bf16(
                        fmaf((float)u, (float)d, -(float)off)));
                    scale += fabs(w * xv);
                } else {
                    scale += fabs(u * d * xv) + fabs(off * xv);
                }
                ref += w * xv;
            }
            bad = !element_ok(y[(size_t)m * N + n], ref, scale, what, m, n);
        }
    CHECK(!bad);
done:
    free(x);
    free(q);
    free(sc);
    free(y);
}

/* nv_weight_rows_bf16 (the prefill panels of quantized matrices) equals
 * each value u d - m, rounded once to f32 as the f32 kernels round it,
 * then rounded to bf16 (nv_f32_to_bf16): bit for bit, rows 2 .. 6 of 8. */
static void check_rows_bf16(int kind, const char *isa)
{
    enum { N = 8, K = 512, ROW0 = 2, NROWS = 5 };
    static uint8_t q[N * K];
    static uint8_t sc[N * K / 256 * 24]; /* Q4_K records; f16 scales fit */
    static uint16_t got[NROWS * K];
    uint64_t state = 7u + (uint64_t)kind;
    for (size_t i = 0; i < sizeof q; i++)
        q[i] = (uint8_t)((next_value(&state) + 1.0f) * 127.99f);
    if (kind == KIND_Q4_K) {
        random_q4k_records(sc, N * K / 256, 1e-3f, 1e-2f, &state);
    } else {
        uint16_t *f = (uint16_t *)sc;
        for (int i = 0; i < N * K / 32; i++)
            f[i] = nv_f32_to_f16(0.001f + 0.1f * next_value(&state));
    }
    nv_dtype dt = kind == KIND_Q4_K ? NV_Q4_K
                  : kind == KIND_Q4_0 ? NV_Q4_0 : NV_Q8_0;
    nv_tensor wt = {dt, 2, {N, K}, q, 0, (uint16_t *)sc};
    if (!CHECK(nv_weight_rows_bf16(&wt, ROW0, NROWS, got) == 0))
        return;
    int bad = 0;
    for (int r = 0; r < NROWS && !bad; r++)
        for (int k = 0; k < K && !bad; k++) {
            int u;
            double d, m;
            quant_weight(q, sc, kind, K, ROW0 + r, k, &u, &d, &m);
            uint16_t want =
                nv_f32_to_bf16(fmaf((float)u, (float)d, -(float)m));
            if (got[r * K + k] != want) {
                printf("FAIL %s %s bf16 rows: row %d col %d: %04x, want "
                       "%04x\n", isa, kind_name(kind), ROW0 + r, k,
                       got[r * K + k], want);
                bad = 1;
            }
        }
    CHECK(!bad);
}

/* nv_linear_w_group equals one nv_linear_w per part bit for bit (the same
 * kernels on the same rows; the group only hands them to the pool as one
 * job, and rounds the input to bf16 once for oneDNN): three bf16 parts of
 * different widths, one with a bias, and a Q8_0 part, on a pool of 3
 * threads and on none, for decode rows (the GEMV) and prefill rows (on an
 * AVX-512 BF16 CPU, oneDNN; 64 rows are split over the pool). The
 * _rounded forms given the input's bf16 rounding give the same bits. */
enum { GROUP_K = 256, GROUP_MAX_M = 64 };
static void check_group(nv_pool *pool, int M, const char *isa)
{
    enum { K = GROUP_K, NQ = 300, NK = 96, NV = 40, MM = GROUP_MAX_M };
    static uint16_t wq[NQ * K], wk[NK * K], wv[NV * K];
    static int8_t q8[NQ * K];
    static uint16_t q8s[NQ * K / 32];
    static float x[MM * K], bias[NK], sep[MM * NQ], grp[MM * NQ];
    static uint16_t xb[MM * K];
    uint64_t state = 5u + (uint64_t)M;
    for (int i = 0; i < NQ * K; i++) {
        wq[i] = nv_f32_to_bf16(next_value(&state));
        q8[i] = (int8_t)(next_value(&state) * 127.0f);
    }
    for (int i = 0; i < NQ * K / 32; i++)
        q8s[i] = nv_f32_to_f16(0.01f * (1.0f + next_value(&state)));
    for (int i = 0; i < NK * K; i++)
        wk[i] = nv_f32_to_bf16(next_value(&state));
    for (int i = 0; i < NV * K; i++)
        wv[i] = nv_f32_to_bf16(next_value(&state));
    for (int i = 0; i < M * K; i++)
        x[i] = next_value(&state);
    for (int i = 0; i < NK; i++)
        bias[i] = next_value(&state);
    nv_lowp_round_bf16(x, xb, (size_t)M * K);
    nv_tensor tq = {NV_BF16, 2, {NQ, K}, wq, 0, NULL};
    nv_tensor tk = {NV_BF16, 2, {NK, K}, wk, 0, NULL};
    nv_tensor tv = {NV_BF16, 2, {NV, K}, wv, 0, NULL};
    nv_tensor t8 = {NV_Q8_0, 2, {NQ, K}, q8, 0, q8s};
    static float gk[MM * NK], gv[MM * NV], g8[MM * NQ];
    static float sk[MM * NK], sv[MM * NV], s8[MM * NQ];
    nv_error err = {{0}};
    nv_linear_part parts[4] = {{grp, &tq, NULL, NQ},
                               {gk, &tk, bias, NK},
                               {gv, &tv, NULL, NV},
                               {g8, &t8, NULL, NQ}};
    for (int given = 0; given < 2; given++) {
        memset(grp, 0xff, sizeof grp); /* NaN: a value not written fails */
        int ok = (given ? nv_linear_w_group_rounded(pool, x, xb, M, K, parts,
                                                    4, &err)
                        : nv_linear_w_group(pool, x, M, K, parts, 4,
                                            &err)) == 0 &&
                 nv_linear_w(pool, sep, x, &tq, NULL, M, K, NQ, &err) == 0 &&
                 nv_linear_w(pool, sk, x, &tk, bias, M, K, NK, &err) == 0 &&
                 nv_linear_w(pool, sv, x, &tv, NULL, M, K, NV, &err) == 0 &&
                 nv_linear_w(pool, s8, x, &t8, NULL, M, K, NQ, &err) == 0;
        if (!CHECK(ok))
            return;
        int same = memcmp(grp, sep, sizeof(float) * (size_t)M * NQ) == 0 &&
                   memcmp(gk, sk, sizeof(float) * (size_t)M * NK) == 0 &&
                   memcmp(gv, sv, sizeof(float) * (size_t)M * NV) == 0 &&
                   memcmp(g8, s8, sizeof(float) * (size_t)M * NQ) == 0;
        if (!same)
            printf("FAIL %s group%s M=%d pool=%d differs from separate "
                   "products\n", isa, given ? " (rounded)" : "", M,
                   pool != NULL);
        CHECK(same);
    }
    /* The bias is added to each sum as the kernel stores it (oneDNN's
     * bias argument for 8+ rows): the bits of adding it afterwards. */
    static float nb[MM * NK];
    CHECK(nv_linear_w(pool, nb, x, &tk, NULL, M, K, NK, &err) == 0);
    int bias_same = 1;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < NK; n++) {
            float want = nb[m * NK + n] + bias[n];
            bias_same &= memcmp(&want, &sk[m * NK + n], sizeof want) == 0;
        }
    if (!CHECK(bias_same))
        printf("FAIL %s M=%d pool=%d: bias not the bits of a separate add\n",
               isa, M, pool != NULL);
    memset(grp, 0xff, sizeof grp);
    CHECK(nv_linear_w_rounded(pool, grp, x, xb, &t8, NULL, M, K, NQ,
                              &err) == 0);
    if (!CHECK(memcmp(grp, s8, sizeof(float) * (size_t)M * NQ) == 0))
        printf("FAIL %s nv_linear_w_rounded M=%d pool=%d differs from "
               "nv_linear_w\n", isa, M, pool != NULL);
}

static void check_widen(nv_dtype dt, const char *isa)
{
    static uint16_t bits[65536];
    static float got[65536];
    for (int i = 0; i < 65536; i++)
        bits[i] = (uint16_t)i;
    /* From offset 1 too: the weights of a row need not be 32-byte aligned. */
    for (int off = 0; off < 2; off++) {
        size_t n = 65536 - (size_t)off;
        nv_lowp_to_f32(dt, bits + off, got, n);
        int bad = 0;
        for (size_t i = 0; i < n && !bad; i++) {
            float want = from_bits(dt, bits[i + off]);
            if (memcmp(&want, &got[i], sizeof want) != 0 &&
                !(isnan(want) && isnan(got[i]))) {
                fprintf(stderr, "%s %s: 0x%04x widens to %g, want %g\n", isa,
                        nv_dtype_name(dt), bits[i + off], got[i], want);
                bad = 1;
            }
        }
        CHECK(!bad);
    }
}

/* A safetensors file with one [2, 3] tensor "w" of dtype dt, its data
 * starting `pad` bytes into the data area (pad 1: unaligned). */
static int write_file(const char *path, nv_dtype dt, int pad)
{
    char header[256];
    int hn = snprintf(header, sizeof header,
                      "{\"pad\":{\"dtype\":\"U8\",\"shape\":[%d],"
                      "\"data_offsets\":[0,%d]},"
                      "\"w\":{\"dtype\":\"%s\",\"shape\":[2,3],"
                      "\"data_offsets\":[%d,%d]}}",
                      pad, pad, nv_dtype_name(dt), pad, pad + 12);
    while (hn % 8)
        header[hn++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint64_t len = (uint64_t)hn;
    unsigned char data[16] = {0};
    for (int i = 0; i < 6; i++) {
        uint16_t h = to_bits(dt, (float)(i + 1) * 0.5f);
        memcpy(data + pad + 2 * i, &h, 2);
    }
    int ok = fwrite(&len, 8, 1, f) == 1 &&
             fwrite(header, 1, (size_t)hn, f) == (size_t)hn &&
             fwrite(data, 1, (size_t)pad + 12, f) == (size_t)pad + 12;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void check_loading(nv_dtype dt)
{
    char path[] = "/tmp/nv_test_lowp_XXXXXX";
    int fd = mkstemp(path);
    if (!CHECK(fd >= 0))
        return;
    close(fd);
    const int64_t shape[2] = {2, 3};
    for (int pad = 0; pad < 2; pad++) {
        if (!CHECK(write_file(path, dt, pad) == 0))
            break;
        nv_error err = {{0}};
        nv_safetensors *st = nv_st_open(path, &err);
        if (!CHECK(st != NULL))
            break;
        const nv_weight_mode modes[4] = {NV_WEIGHTS_STORED, NV_WEIGHTS_F32,
                                         NV_WEIGHTS_BF16, NV_WEIGHTS_F16};
        const nv_dtype gives[4] = {dt, NV_F32, NV_BF16, NV_F16};
        for (int k = 0; k < 4; k++) {
            nv_st_set_weight_mode(st, modes[k]);
            nv_tensor t;
            if (!CHECK(nv_st_get_weight(st, "w", 2, shape, &t, &err) == 0))
                continue;
            int borrowed = gives[k] == dt && pad == 0;
            CHECK(t.dtype == gives[k]);
            CHECK(t.owned == !borrowed);
            float v[6];
            nv_lowp_to_f32(t.dtype, t.data, v, 6);
            for (int i = 0; i < 6; i++)
                CHECK(v[i] == (float)(i + 1) * 0.5f);
            nv_tensor_free(&t);
        }
        /* Bad shape: the message names the tensor. */
        const int64_t wrong[2] = {3, 2};
        nv_tensor t;
        CHECK(nv_st_get_weight(st, "w", 2, wrong, &t, &err) != 0 &&
              strstr(err.msg, "'w'") != NULL);
        nv_st_close(st);
    }
    unlink(path);
}

/* A Q8_0, Q4_0 or Q4_K pair "w" of 2 rows of `cols` values with scales
 * [srows, scols] of scale_dtype: F16 scales all 0.5; Q4_K records of d =
 * 0.5, dmin = 0.25 (f32), sc = 2, mn = 4 (every block 1 u - 1). Q8_0 values 3;
 * 4-bit bytes 0x93 (nibble 3 in the first 16 values of a block, 9 in the
 * last 16: 3 - 8 and 9 - 8 for Q4_0, 2 and 8 for Q4_K). */
static int write_q8_file(const char *path, int cols, int srows, int scols,
                         const char *scale_dtype, int kind)
{
    char header[512];
    int stored_cols = kind != KIND_Q8_0 ? cols / 2 : cols;
    int ssize = strcmp(scale_dtype, "U8") ? 2 : 1;
    int wbytes = 2 * stored_cols, sbytes = ssize * srows * scols;
    int hn = snprintf(header, sizeof header,
                      "{\"w.%s\":{\"dtype\":\"%s\",\"shape\":[%d,%d],"
                      "\"data_offsets\":[0,%d]},"
                      "\"w\":{\"dtype\":\"%s\",\"shape\":[2,%d],"
                      "\"data_offsets\":[%d,%d]}}",
                      kind == KIND_Q4_K   ? "q4k_scales"
                      : kind == KIND_Q4_0 ? "q4_scales"
                                          : "q8_scales",
                      scale_dtype, srows, scols, sbytes,
                      kind != KIND_Q8_0 ? "U8" : "I8", stored_cols, sbytes,
                      sbytes + wbytes);
    while (hn % 8)
        header[hn++] = ' ';
    unsigned char *data = malloc((size_t)(sbytes + wbytes));
    FILE *f = fopen(path, "wb");
    int ok = data && f;
    if (ok) {
        uint16_t half = nv_f32_to_f16(0.5f);
        if (kind == KIND_Q4_K) {
            float dsup = 0.5f, msup = 0.25f;
            for (int i = 0; i + 24 <= sbytes; i += 24) {
                memcpy(data + i, &dsup, 4);
                memcpy(data + i + 4, &msup, 4);
                memset(data + i + 8, 2, 8);
                memset(data + i + 16, 4, 8);
            }
            memset(data + sbytes / 24 * 24, 0, (size_t)(sbytes % 24));
        } else {
            for (int i = 0; i + 2 <= sbytes; i += 2)
                memcpy(data + i, &half, 2);
        }
        memset(data + sbytes, kind != KIND_Q8_0 ? 0x93 : 3, (size_t)wbytes);
        uint64_t len = (uint64_t)hn;
        ok = fwrite(&len, 8, 1, f) == 1 &&
             fwrite(header, 1, (size_t)hn, f) == (size_t)hn &&
             fwrite(data, 1, (size_t)(sbytes + wbytes), f) ==
                 (size_t)(sbytes + wbytes);
    }
    free(data);
    return f && fclose(f) == 0 && ok ? 0 : -1;
}

/* nv_q4_quantize_row then nv_weight_rows_f32 give back every weight within
 * one step d of its block (half a step, except that +8 d clamps to +7 d),
 * and the block's value of largest magnitude as -8 d, d rounded to f16. */
static void check_q4_round_trip(void)
{
    enum { K = 96 };
    uint64_t state = 4242;
    float w[2 * K], back[2 * K];
    uint8_t q[K];
    uint16_t sc[2 * K / 32];
    for (int i = 0; i < 2 * K; i++)
        w[i] = next_value(&state) * (i < K ? 1.0f : 1e-3f);
    w[5] = 0; /* a block of zeros too */
    for (int k = 64; k < 96; k++)
        w[k] = 0.0f;
    nv_q4_quantize_row(w, K, q, sc);
    nv_q4_quantize_row(w + K, K, q + K / 2, sc + K / 32);
    nv_tensor t = {NV_Q4_0, 2, {2, K}, q, 0, sc};
    nv_weight_rows_f32(&t, 0, 2, back);
    int ok = 1;
    for (int r = 0; r < 2; r++)
        for (int b = 0; b < K / 32; b++) {
            float d = nv_f16_to_f32(sc[r * K / 32 + b]);
            const float *blk = w + r * K + b * 32, *got = back + r * K + b * 32;
            int at = 0;
            for (int k = 0; k < 32; k++) {
                ok &= fabsf(blk[k] - got[k]) <= fabsf(d) * 1.0001f + 1e-12f;
                if (fabsf(blk[k]) > fabsf(blk[at]))
                    at = k;
            }
            ok &= got[at] == -8.0f * d;
        }
    CHECK(ok);
}

/* A good Q8_0, Q4_0 or Q4_K pair loads (in place, or dequantized for f32),
 * and pairs that do not fit are refused with a message naming the tensor. */
static void check_q8_loading(void)
{
    char path[] = "/tmp/nv_test_q8_XXXXXX";
    int fd = mkstemp(path);
    if (!CHECK(fd >= 0))
        return;
    close(fd);
    const struct {
        int cols, srows, scols;
        const char *sdtype, *problem; /* NULL: loads */
        int kind;
    } cases[] = {
        {64, 2, 2, "F16", NULL, KIND_Q8_0},
        {64, 2, 3, "F16", "do not fit", KIND_Q8_0},
        {64, 1, 2, "F16", "do not fit", KIND_Q8_0},
        {64, 2, 2, "BF16", "do not fit", KIND_Q8_0},
        {48, 2, 1, "F16", "multiple of 32", KIND_Q8_0},
        {64, 2, 2, "F16", NULL, KIND_Q4_0},
        {64, 2, 3, "F16", "do not fit", KIND_Q4_0},
        {48, 2, 1, "F16", "multiple of 32", KIND_Q4_0},
        {256, 2, 24, "U8", NULL, KIND_Q4_K},
        {512, 2, 48, "U8", NULL, KIND_Q4_K},
        {256, 2, 25, "U8", "do not fit", KIND_Q4_K},
        {256, 1, 24, "U8", "do not fit", KIND_Q4_K},
        {256, 2, 12, "F16", "do not fit", KIND_Q4_K},
        {288, 2, 24, "U8", "multiple of 256", KIND_Q4_K},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int kind = cases[c].kind, cols = cases[c].cols;
        if (!CHECK(write_q8_file(path, cols, cases[c].srows, cases[c].scols,
                                 cases[c].sdtype, kind) == 0))
            break;
        nv_error err = {{0}};
        nv_safetensors *st = nv_st_open(path, &err);
        if (!CHECK(st != NULL))
            break;
        nv_tensor t;
        int rc = nv_st_get_weight(st, "w", -1, NULL, &t, &err);
        if (!cases[c].problem) {
            float first = kind == KIND_Q4_K ? 2.0f
                          : kind == KIND_Q4_0 ? -2.5f : 1.5f;
            float last = kind == KIND_Q4_K ? 8.0f
                         : kind == KIND_Q4_0 ? 0.5f : 1.5f;
            nv_dtype want = kind == KIND_Q4_K   ? NV_Q4_K
                            : kind == KIND_Q4_0 ? NV_Q4_0
                                                : NV_Q8_0;
            if (CHECK(rc == 0 && t.dtype == want && !t.owned &&
                      t.shape[1] == cols)) {
                float row[512];
                nv_weight_rows_f32(&t, 1, 1, row);
                CHECK(row[0] == first && row[cols - 1] == last);
                nv_tensor_free(&t);
            }
            CHECK(nv_st_get_f32(st, "w", -1, NULL, &t, &err) == 0 &&
                  t.dtype == NV_F32 && t.shape[1] == cols &&
                  ((float *)t.data)[5] == first);
            nv_tensor_free(&t);
            CHECK(nv_st_model_dim(st, nv_st_find(st, "w"), 1) == cols);
        } else {
            CHECK(rc != 0 && strstr(err.msg, cases[c].problem) != NULL &&
                  strstr(err.msg, "'w") != NULL);
            if (rc == 0)
                nv_tensor_free(&t);
        }
        nv_st_close(st);
    }
    unlink(path);
}

/* nv_q4k_quantize_row then nv_weight_rows_f32, on rows of different
 * kinds (spread around 0, all positive, all negative, a block of zeros,
 * one large value among small ones, tiny values): the dequantized row
 * equals what the format's records and nibbles say (the reference decoder
 * above), every weight is within one step d_b of its value (half a step
 * of rounding, plus what the 8-bit multipliers move the block's grid) or,
 * where the grid was clamped, within 4 steps, and over all rows the
 * squared error is below Q4_0's on the same rows. */
static void check_q4k_round_trip(void)
{
    enum { K = 512, R = 6 };
    static float w[R * K], back[R * K], back0[R * K];
    static uint8_t q[R * K / 2], q0[R * K / 2], rec[R * K / 256 * 24];
    static uint16_t sc0[R * K / 32];
    uint64_t state = 777;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++) {
            float v = next_value(&state);
            float *out = &w[r * K + k];
            switch (r) {
            case 0: *out = v; break;
            case 1: *out = 0.5f + 0.5f * v; break;
            case 2: *out = -1.0f + 0.25f * v; break;
            case 3: *out = k / 32 == 3 ? 0.0f : 0.1f * v; break;
            case 4: *out = k % 100 == 7 ? 4.0f : 0.01f * v; break;
            default: *out = 1e-5f * v; break;
            }
        }
    for (int r = 0; r < R; r++) {
        nv_q4k_quantize_row(w + r * K, K, q + r * K / 2, rec + r * K / 256 * 24);
        nv_q4_quantize_row(w + r * K, K, q0 + r * K / 2, sc0 + r * K / 32);
    }
    nv_tensor t = {NV_Q4_K, 2, {R, K}, q, 0, (uint16_t *)rec};
    nv_tensor t0 = {NV_Q4_0, 2, {R, K}, q0, 0, sc0};
    nv_weight_rows_f32(&t, 0, R, back);
    nv_weight_rows_f32(&t0, 0, R, back0);
    int decoded = 1, near = 1;
    double err = 0, err0 = 0;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++) {
            int u;
            double d, m;
            quant_weight(q, rec, KIND_Q4_K, K, r, k, &u, &d, &m);
            double ref = u * d - m, got = back[r * K + k], wv = w[r * K + k];
            decoded &= fabs(got - ref) <= 1e-6 * (fabs(u * d) + fabs(m));
            double e = fabs(got - wv);
            near &= e <= d * 1.0001 + 1e-12 ||
                    ((u == 0 || u == 15) && e <= 4 * d + 1e-12);
            err += e * e;
            err0 += (back0[r * K + k] - wv) * (back0[r * K + k] - wv);
        }
    printf("Q4_K round trip: squared error %.3g (Q4_0 %.3g)\n", err, err0);
    CHECK(decoded);
    CHECK(near);
    CHECK(err < err0);
}

/* One strided oneDNN product against a double loop; see the top. */
static void check_dnnl_strided(int w_kn, int bias)
{
    enum { M = 37, K = 70, N = 45, LDX = K + 6, LDY = N + 7 };
    const int ldw = w_kn ? N + 3 : K + 5;
    const size_t w_rows = w_kn ? K : N;
    uint64_t state = 77u + (uint64_t)w_kn;
    uint16_t *x = malloc(sizeof(uint16_t) * M * LDX);
    uint16_t *w = malloc(sizeof(uint16_t) * w_rows * (size_t)ldw);
    float *b = malloc(sizeof(float) * N);
    float *y = malloc(sizeof(float) * M * LDY);
    float *dense = malloc(sizeof(float) * M * N);
    if (!CHECK(x && w && b && y && dense))
        goto out;
    for (size_t i = 0; i < (size_t)M * LDX; i++)
        x[i] = nv_f32_to_bf16(next_value(&state));
    for (size_t i = 0; i < w_rows * (size_t)ldw; i++)
        w[i] = nv_f32_to_bf16(next_value(&state));
    for (int j = 0; j < N; j++)
        b[j] = next_value(&state);
    const uint32_t sentinel = 0x7fc01234u; /* a NaN no product makes */
    for (size_t i = 0; i < (size_t)M * LDY; i++)
        memcpy(&y[i], &sentinel, sizeof sentinel);
    nv_error err = {{0}};
    nv_dnnl_bf16_product p = {.x = x, .w = w, .bias = bias ? b : NULL,
                              .y = y, .M = M, .K = K, .N = N, .ldx = LDX,
                              .ldw = ldw, .ldy = LDY, .w_kn = w_kn};
    if (!CHECK(nv_dnnl_bf16_gemm(&p, &err) == 0)) {
        fprintf(stderr, "%s\n", err.msg);
        goto out;
    }
    int ok = 1, untouched = 1;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N && ok; n++) {
            double ref = bias ? b[n] : 0.0, scale = bias ? fabs(b[n]) : 0.0;
            for (int k = 0; k < K; k++) {
                size_t wi = w_kn ? (size_t)k * ldw + n : (size_t)n * ldw + k;
                double t = (double)nv_bf16_to_f32(x[m * LDX + k]) *
                           nv_bf16_to_f32(w[wi]);
                ref += t;
                scale += fabs(t);
            }
            ok = element_ok(y[m * LDY + n], ref, scale, "strided oneDNN",
                            m, n);
        }
        for (int n = N; n < LDY; n++)
            untouched &= memcmp(&y[m * LDY + n], &sentinel, 4) == 0;
    }
    CHECK(ok);
    CHECK(untouched);
    if (nv_dnnl_bf16_amx()) {
        nv_dnnl_bf16_product q = p;
        q.y = dense;
        q.ldy = N;
        int same = nv_dnnl_bf16_gemm(&q, &err) == 0;
        for (int m = 0; m < M && same; m++)
            same = memcmp(y + m * LDY, dense + m * N, sizeof(float) * N) == 0;
        CHECK(same);
    }
out:
    free(x);
    free(w);
    free(b);
    free(y);
    free(dense);
}

int main(void)
{
    const char *isas[] = {"avx512bf16", "avx512", "avx2", "c"};
    nv_error err = {{0}};
    nv_pool *pool = nv_pool_create(3, &err);
    if (!CHECK(pool != NULL))
        return check_summary("lowp");
    const int shapes[][3] = {{1, 1, 1},   {1, 16, 4},  {1, 17, 5},
                             {1, 64, 67}, {1, 300, 33}, {2, 31, 9},
                             {3, 48, 20}, {5, 33, 17},  {7, 129, 40},
                             {8, 16, 16}, {9, 77, 35},  {40, 100, 130},
                             /* big enough to be split over the pool */
                             {1, 1031, 300}, {3, 777, 401}, {64, 301, 250}};
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        setenv("NV_LOWP_ISA", isas[i], 1);
        const char *ran = nv_isa_name(nv_lowp_isa());
        if (i == 0)
            printf("this CPU runs: %s\n", ran);
        if (strcmp(ran, isas[i]) != 0)
            continue; /* the CPU lacks it: the lower levels still run */
        /* K of 32 .. 1024: 1 to 32 blocks, whole and partial groups of 16
         * blocks and a last odd block on the VNNI path; K a multiple of
         * 256 (Q4_K's too): one super-block, and a last group of 8 blocks. */
        const int q8_shapes[][3] = {{1, 32, 1},  {1, 64, 7},   {1, 96, 9},
                                    {1, 544, 5}, {2, 1056, 3}, {1, 512, 2},
                                    {2, 32, 5},  {5, 128, 11}, {8, 64, 16},
                                    {40, 96, 33}, {1, 1024, 300},
                                    {3, 512, 600}, {64, 320, 250},
                                    {1, 256, 3}, {1, 768, 13}, {3, 1280, 6},
                                    {9, 256, 24}, {64, 768, 250}};
        for (size_t q = 0; q < sizeof q8_shapes / sizeof q8_shapes[0]; q++) {
            for (int kind = KIND_Q8_0; kind <= KIND_Q4_K; kind++) {
                if (kind == KIND_Q4_K && q8_shapes[q][1] % 256 != 0)
                    continue;
                check_q8(NULL, q8_shapes[q][0], q8_shapes[q][1],
                         q8_shapes[q][2], ran, kind);
                check_q8(pool, q8_shapes[q][0], q8_shapes[q][1],
                         q8_shapes[q][2], ran, kind);
            }
        }
        for (int kind = KIND_Q8_0; kind <= KIND_Q4_K; kind++)
            check_rows_bf16(kind, ran);
        const int group_rows[] = {1, 4, 16, GROUP_MAX_M};
        for (int g = 0; g < 4; g++) {
            check_group(pool, group_rows[g], ran);
            check_group(NULL, group_rows[g], ran);
        }
        nv_dtype types[2] = {NV_F16, NV_BF16};
        for (int d = 0; d < 2; d++) {
            check_widen(types[d], ran);
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int bias = 0; bias < 2; bias++) {
                    check_linear(NULL, types[d], shapes[s][0], shapes[s][1],
                                 shapes[s][2], bias, ran);
                    check_linear(pool, types[d], shapes[s][0], shapes[s][1],
                                 shapes[s][2], bias, ran);
                }
        }
    }
    unsetenv("NV_LOWP_ISA");
    nv_pool_free(pool);
    if (nv_dnnl_bf16_ready()) {
        check_dnnl_strided(0, 1);
        check_dnnl_strided(0, 0);
        check_dnnl_strided(1, 0);
    }
    check_loading(NV_F16);
    check_loading(NV_BF16);
    check_q8_loading();
    check_q4_round_trip();
    check_q4k_round_trip();
    printf("oneDNN bf16 products: %s\n",
           nv_dnnl_bf16_ready() ? "yes" : "no (widened panels)");
    printf("worst relative error %.2e (tolerance %.0e)\n", worst_rel,
           REL_TOL);
    return check_summary("lowp");
}
