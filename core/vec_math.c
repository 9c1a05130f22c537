/* vec_math.c - the element-wise loops of vec_math.h. */
#include "core/vec_math.h"

/* exp(x) for x <= 0 (softmax after subtracting the row maximum) to about
 * 1 ulp, branch-free so that it vectorises: x = n ln2 + r with |r| <=
 * ln2 / 2 (ln2 in two parts so n ln2 is exact), Cephes' expf polynomial for
 * exp(r), and 2^n built in the exponent bits. Below -87 (where expf turns
 * subnormal, < 1.7e-38: nothing next to the row maximum's 1) the result is
 * 0, as for -inf. */
static float exp_nonpositive(float x)
{
    const float round_magic = 12582912.0f; /* 1.5 * 2^23 */
    const uint32_t floor_bits = 0xc2ae0000;  /* -87.0f */
    /* Integer compare as in erf_poly: for negative floats a larger pattern
     * is a larger magnitude. */
    uint32_t underflow = mask_if(float_bits(x) > floor_bits);
    x = select_bits(underflow, -87.0f, x);
    float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* n is in [-126, 0] here, so n + 127 is a normal exponent. */
    float scale = bits_float((uint32_t)((int32_t)n + 127) << 23);
    return select_bits(underflow, 0.0f, p * scale);
}

/* f as bf16, to nearest even (nv_f32_to_bf16 without its NaN case:
 * probabilities are never NaN unless the scores were). */
static inline uint16_t bf16_bits(float f)
{
    uint32_t u = float_bits(f);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* The softmax of one row in place; with out, the result also rounded to
 * bf16 there, while the row is still in L1 (a separate pass over a T x T
 * score matrix reads it back from memory). */
static inline __attribute__((always_inline)) void
softmax_row(float *row, int cols, float scale, uint16_t *out)
{
    enum { LANES = 8 };
    /* Lane-wise partial maxima and sums keep these loops vectorisable
     * without reassociation flags. */
    float lane_max[LANES];
    for (int l = 0; l < LANES; l++)
        lane_max[l] = row[0];
    int body = cols - cols % LANES;
    for (int i = 0; i < body; i += LANES)
        for (int l = 0; l < LANES; l++)
            lane_max[l] = row[i + l] > lane_max[l] ? row[i + l] : lane_max[l];
    float max = lane_max[0];
    for (int l = 1; l < LANES; l++)
        max = lane_max[l] > max ? lane_max[l] : max;
    for (int i = body; i < cols; i++)
        max = row[i] > max ? row[i] : max;
    for (int i = 0; i < cols; i++)
        row[i] = exp_nonpositive((row[i] - max) * scale);
    double lane_sum[LANES] = {0};
    for (int i = 0; i < body; i += LANES)
        for (int l = 0; l < LANES; l++)
            lane_sum[l] += row[i + l];
    double sum = 0;
    for (int l = 0; l < LANES; l++)
        sum += lane_sum[l];
    for (int i = body; i < cols; i++)
        sum += row[i];
    float inv = (float)(1.0 / sum);
    if (out)
        for (int i = 0; i < cols; i++)
            out[i] = bf16_bits(row[i] * inv);
    else
        for (int i = 0; i < cols; i++)
            row[i] *= inv;
}

NV_VECTOR_CLONES void nv_softmax_rows(float *s, int rows, int cols)
{
    for (int r = 0; r < rows; r++)
        softmax_row(s + (size_t)r * cols, cols, 1.0f, NULL);
}

NV_VECTOR_CLONES static void softmax_rows_bf16_any(float *s, int rows,
                                                  int cols, float scale,
                                                  uint16_t *out)
{
    for (int r = 0; r < rows; r++)
        softmax_row(s + (size_t)r * cols, cols, scale,
                    out + (size_t)r * cols);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The bf16-output softmax in AVX-512 intrinsics, for the attention
 * products on oneDNN (only AVX-512 BF16 CPUs take that path). GCC's
 * auto-vectorised softmax_row ran at about 3 cycles a value on a 1025-wide
 * row, its max and sum loops partly scalar: 7 % of a ViT pass. Every
 * operation is softmax_row's, in the same order (the sum over the same 8
 * double lanes, then across them, then the tail; no fused multiply-adds),
 * so the bits are the same; test_vec_math compares the two. */
#define NV_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

NV_AVX512 static inline __m512 exp_nonpositive16(__m512 x)
{
    __mmask16 underflow = _mm512_cmpgt_epu32_mask(
        _mm512_castps_si512(x), _mm512_set1_epi32((int)0xc2ae0000u));
    x = _mm512_mask_blend_ps(underflow, x, _mm512_set1_ps(-87.0f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(
        _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                      magic),
        magic);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_add_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r),
                      _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    return _mm512_mask_blend_ps(underflow, y, _mm512_setzero_ps());
}

NV_AVX512 static void softmax_row_bf16_avx512(float *row, int cols,
                                              float scale, uint16_t *out)
{
    __m512 vmax = _mm512_set1_ps(row[0]);
    int i = 0;
    for (; i + 16 <= cols; i += 16)
        vmax = _mm512_max_ps(_mm512_loadu_ps(row + i), vmax);
    float max = _mm512_reduce_max_ps(vmax);
    for (; i < cols; i++)
        max = row[i] > max ? row[i] : max;
    __m512 vm = _mm512_set1_ps(max), vs = _mm512_set1_ps(scale);
    for (i = 0; i < cols; i += 16) {
        __mmask16 live = cols - i >= 16 ? 0xffff
                                        : (__mmask16)((1u << (cols - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(live, row + i);
        __m512 y = exp_nonpositive16(_mm512_mul_ps(_mm512_sub_ps(x, vm), vs));
        _mm512_mask_storeu_ps(row + i, live, y);
    }
    int body = cols - cols % 8;
    __m512d lanes = _mm512_setzero_pd();
    for (i = 0; i < body; i += 8)
        lanes = _mm512_add_pd(lanes, _mm512_cvtps_pd(_mm256_loadu_ps(row + i)));
    double lane[8];
    _mm512_storeu_pd(lane, lanes);
    double sum = 0;
    for (int l = 0; l < 8; l++)
        sum += lane[l];
    for (i = body; i < cols; i++)
        sum += row[i];
    __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    for (i = 0; i < cols; i += 16) {
        __mmask16 live = cols - i >= 16 ? 0xffff
                                        : (__mmask16)((1u << (cols - i)) - 1);
        __m512i u = _mm512_castps_si512(
            _mm512_mul_ps(_mm512_maskz_loadu_ps(live, row + i), inv));
        __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16),
                                       _mm512_set1_epi32(1));
        __m512i b = _mm512_srli_epi32(
            _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)),
                             odd),
            16);
        _mm256_mask_storeu_epi16(out + i, live, _mm512_cvtepi32_epi16(b));
    }
}

static int have_avx512(void)
{
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}
#endif

void nv_softmax_rows_bf16_scaled(float *s, int rows, int cols, float scale,
                                 uint16_t *out)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_avx512()) {
        for (int r = 0; r < rows; r++)
            softmax_row_bf16_avx512(s + (size_t)r * cols, cols, scale,
                                    out + (size_t)r * cols);
        return;
    }
#endif
    softmax_rows_bf16_any(s, rows, cols, scale, out);
}

void nv_softmax_rows_bf16(float *s, int rows, int cols, uint16_t *out)
{
    nv_softmax_rows_bf16_scaled(s, rows, cols, 1.0f, out);
}

NV_VECTOR_CLONES void nv_silu_mul(float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        uint32_t negative = mask_if(float_bits(g) >> 31);
        float e = exp_nonpositive(bits_float(float_bits(g) | 0x80000000u));
        /* g >= 0: g / (1 + e^-g); g < 0: g e^g / (1 + e^g) */
        float num = select_bits(negative, g * e, g);
        gate[i] = num / (1.0f + e) * up[i];
    }
}

/* Eight independent chains the compiler can vectorise: one running double
 * sum is a dependent add per value, about 4 cycles each (the norms had
 * been 2 % of a ViT pass). The order differs from a sequential sum by
 * ~1e-16 relative, far below the float the callers round to. */
enum { SUM_LANES = 8 };

NV_VECTOR_CLONES double nv_sum_f64(const float *x, size_t n)
{
    double lane[SUM_LANES] = {0};
    size_t body = n - n % SUM_LANES;
    for (size_t i = 0; i < body; i += SUM_LANES)
        for (int l = 0; l < SUM_LANES; l++)
            lane[l] += x[i + l];
    double sum = 0;
    for (int l = 0; l < SUM_LANES; l++)
        sum += lane[l];
    for (size_t i = body; i < n; i++)
        sum += x[i];
    return sum;
}

NV_VECTOR_CLONES double nv_sum_sq_f64(const float *x, size_t n,
                                      double center)
{
    double lane[SUM_LANES] = {0};
    size_t body = n - n % SUM_LANES;
    for (size_t i = 0; i < body; i += SUM_LANES)
        for (int l = 0; l < SUM_LANES; l++)
            lane[l] += (x[i + l] - center) * (x[i + l] - center);
    double sum = 0;
    for (int l = 0; l < SUM_LANES; l++)
        sum += lane[l];
    for (size_t i = body; i < n; i++)
        sum += (x[i] - center) * (x[i] - center);
    return sum;
}
