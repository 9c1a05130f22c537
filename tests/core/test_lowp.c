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
 *   - the same for Q8_0 weights (int8, an f16 scale per 32) against
 *     their dequantized values.
 *   - nv_lowp_to_f32 equals the scalar nv_f16_to_f32 / nv_bf16_to_f32 bit
 *     for bit on every 16-bit pattern, on every instruction set.
 *   - Q8_0 pairs (I8 weight + F16 "<name>.q8_scales") load in place or
 *     dequantized; scales of the wrong shape or dtype, or rows not a
 *     multiple of 32 long, are refused with the tensor's name.
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

/* Q8_0 weights: random int8 and f16 scales; the reference dequantizes in
 * double. Same tolerance as the f16 / bf16 products. K is a multiple of 32
 * (the format requires it). */
/* Weight k of row n of a Q8_0 (q4 = 0) or Q4_0 (q4 = 1, packed as
 * core/tensor.h describes) matrix, scale not applied. */
static int quant_value(const void *q, int q4, int K, int n, int k)
{
    if (!q4)
        return ((const int8_t *)q)[(size_t)n * K + k];
    const uint8_t *row = (const uint8_t *)q + (size_t)n * (K / 2);
    uint8_t byte = row[k / 32 * 16 + k % 16];
    return (k % 32 < 16 ? byte & 15 : byte >> 4) - 8;
}

static void check_q8(nv_pool *pool, int M, int K, int N, const char *isa,
                     int q4)
{
    uint64_t state = 99u + (uint64_t)(M * 100000 + K * 100 + N);
    int nb = K / NV_Q8_BLOCK;
    size_t q_bytes = q4 ? (size_t)N * K / 2 : (size_t)N * K;
    float *x = malloc(sizeof(float) * (size_t)M * K);
    int8_t *q = malloc(q_bytes);
    uint16_t *sc = malloc(sizeof(uint16_t) * (size_t)N * nb);
    float *y = malloc(sizeof(float) * (size_t)M * N);
    if (!CHECK(x && q && sc && y))
        goto done;
    for (long i = 0; i < (long)M * K; i++)
        x[i] = next_value(&state);
    for (size_t i = 0; i < q_bytes; i++)
        q[i] = q4 ? (int8_t)(uint8_t)((next_value(&state) + 1.0f) * 127.99f)
                  : (int8_t)(next_value(&state) * 127.0f);
    for (long i = 0; i < (long)N * nb; i++)
        sc[i] = nv_f32_to_f16(0.001f + 0.01f * fabsf(next_value(&state)));
    for (long i = 0; i < (long)M * N; i++)
        y[i] = NAN;
    nv_tensor wt = {q4 ? NV_Q4_0 : NV_Q8_0, 2, {N, K}, q, 0, sc};
    nv_error err = {{0}};
    if (!CHECK(nv_linear_w(pool, y, x, &wt, NULL, M, K, N, &err) == 0))
        goto done;
    /* With VNNI the decode product quantizes the activations per block of
     * 32 (dx = max |x| / 127, round to nearest, away from zero on ties):
     * the reference takes the same values, so the bound stays f32's. */
    /* With oneDNN (8 rows or more) the dequantized weights and the
     * activations are rounded to bf16 instead. */
    int onednn = strcmp(isa, "avx512bf16") == 0 &&
                 M >= NV_LINEAR_GEMV_ROWS && nv_dnnl_bf16_ready();
    if (onednn)
        for (long i = 0; i < (long)M * K; i++)
            x[i] = nv_bf16_to_f32(nv_f32_to_bf16(x[i]));
    if (strcmp(isa, "avx512bf16") == 0 && M < NV_LINEAR_GEMV_ROWS)
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
             q4 ? "Q4_0" : "Q8_0", M, K, N, pool != NULL);
    int bad = 0;
    for (int m = 0; m < M && !bad; m++)
        for (int n = 0; n < N && !bad; n++) {
            double ref = 0, scale = 0;
            for (int k = 0; k < K; k++) {
                double w = (double)quant_value(q, q4, K, n, k) *
                           nv_f16_to_f32(sc[(size_t)n * nb + k / 32]);
                if (onednn)
                    w = nv_bf16_to_f32(nv_f32_to_bf16((float)w));
                ref += w * x[(size_t)m * K + k];
                scale += fabs(w * x[(size_t)m * K + k]);
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

/* "w": I8 [2, cols] and "w.q8_scales": F16 [srows, scols], all weights 3
 * and all scales 0.5. */
/* A Q8_0 (q4 = 0) or Q4_0 pair "w" of 2 rows of `cols` values with scales
 * [srows, scols] of scale_dtype, all 0.5; Q8_0 values 3, Q4_0 bytes 0x93
 * (values 3 - 8 in the first 16 of a block, 9 - 8 in the last 16). */
static int write_q8_file(const char *path, int cols, int srows, int scols,
                         const char *scale_dtype, int q4)
{
    char header[512];
    int stored_cols = q4 ? cols / 2 : cols;
    int wbytes = 2 * stored_cols, sbytes = 2 * srows * scols;
    int hn = snprintf(header, sizeof header,
                      "{\"w.%s\":{\"dtype\":\"%s\",\"shape\":[%d,%d],"
                      "\"data_offsets\":[0,%d]},"
                      "\"w\":{\"dtype\":\"%s\",\"shape\":[2,%d],"
                      "\"data_offsets\":[%d,%d]}}",
                      q4 ? "q4_scales" : "q8_scales", scale_dtype, srows,
                      scols, sbytes, q4 ? "U8" : "I8", stored_cols, sbytes,
                      sbytes + wbytes);
    while (hn % 8)
        header[hn++] = ' ';
    unsigned char *data = malloc((size_t)(sbytes + wbytes));
    FILE *f = fopen(path, "wb");
    int ok = data && f;
    if (ok) {
        uint16_t half = nv_f32_to_f16(0.5f);
        for (int i = 0; i < srows * scols; i++)
            memcpy(data + 2 * i, &half, 2);
        memset(data + sbytes, q4 ? 0x93 : 3, (size_t)wbytes);
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

/* A good Q8_0 or Q4_0 pair loads (in place, or dequantized for f32), and
 * pairs that do not fit are refused with a message naming the tensor. */
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
        int q4;
    } cases[] = {
        {64, 2, 2, "F16", NULL, 0},
        {64, 2, 3, "F16", "do not fit", 0},
        {64, 1, 2, "F16", "do not fit", 0},
        {64, 2, 2, "BF16", "do not fit", 0},
        {48, 2, 1, "F16", "multiple of 32", 0},
        {64, 2, 2, "F16", NULL, 1},
        {64, 2, 3, "F16", "do not fit", 1},
        {48, 2, 1, "F16", "multiple of 32", 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int q4 = cases[c].q4;
        if (!CHECK(write_q8_file(path, cases[c].cols, cases[c].srows,
                                 cases[c].scols, cases[c].sdtype, q4) == 0))
            break;
        nv_error err = {{0}};
        nv_safetensors *st = nv_st_open(path, &err);
        if (!CHECK(st != NULL))
            break;
        nv_tensor t;
        int rc = nv_st_get_weight(st, "w", -1, NULL, &t, &err);
        if (!cases[c].problem) {
            float first = q4 ? -2.5f : 1.5f, last = q4 ? 0.5f : 1.5f;
            if (CHECK(rc == 0 && t.dtype == (q4 ? NV_Q4_0 : NV_Q8_0) &&
                      !t.owned && t.shape[1] == 64)) {
                float row[64];
                nv_weight_rows_f32(&t, 1, 1, row);
                CHECK(row[0] == first && row[63] == last);
                nv_tensor_free(&t);
            }
            CHECK(nv_st_get_f32(st, "w", -1, NULL, &t, &err) == 0 &&
                  t.dtype == NV_F32 && t.shape[1] == 64 &&
                  ((float *)t.data)[5] == first);
            nv_tensor_free(&t);
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
         * blocks and a last odd block on the VNNI path. */
        const int q8_shapes[][3] = {{1, 32, 1},  {1, 64, 7},   {1, 96, 9},
                                    {1, 544, 5}, {2, 1056, 3}, {1, 512, 2},
                                    {2, 32, 5},  {5, 128, 11}, {8, 64, 16},
                                    {40, 96, 33}, {1, 1024, 300},
                                    {3, 512, 600}, {64, 320, 250}};
        for (size_t q = 0; q < sizeof q8_shapes / sizeof q8_shapes[0]; q++) {
            for (int q4 = 0; q4 < 2; q4++) {
                check_q8(NULL, q8_shapes[q][0], q8_shapes[q][1],
                         q8_shapes[q][2], ran, q4);
                check_q8(pool, q8_shapes[q][0], q8_shapes[q][1],
                         q8_shapes[q][2], ran, q4);
            }
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
    check_loading(NV_F16);
    check_loading(NV_BF16);
    check_q8_loading();
    check_q4_round_trip();
    printf("oneDNN bf16 products: %s\n",
           nv_dnnl_bf16_ready() ? "yes" : "no (widened panels)");
    printf("worst relative error %.2e (tolerance %.0e)\n", worst_rel,
           REL_TOL);
    return check_summary("lowp");
}
