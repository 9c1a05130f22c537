/* lowp.c - widening f16 / bf16 kernels with run-time ISA choice; see lowp.h.
 *
 * bf16 is the top half of an f32, so widening is a zero-extension and a
 * 16-bit shift; f16 widens with the F16C / AVX-512F conversion (exact, like
 * nv_f16_to_f32). Each ISA level is a function compiled for that level with
 * GCC's target attribute and called only after __builtin_cpu_supports says
 * the CPU has it, so the rest of the build stays baseline x86-64.
 *
 * The decode kernel (M == 1) runs four weight rows against the one
 * activation row: four independent accumulator chains hide the FMA latency
 * and each activation vector is loaded once per four rows. With M > 1 one
 * weight row is widened once per chunk and used for up to four activation
 * rows.
 *
 * Quantized decode products run on int8 against activations quantized
 * per block of 32: vpdpbusd on AVX-512 VNNI CPUs (Q8_0, Q4_0, Q4_K),
 * vpmaddubsw on AVX2 ones (and for Q4_K on AVX-512F CPUs without VNNI).
 */
#include "core/lowp.h"
#include "core/matmul.h" /* NV_LINEAR_GEMV_ROWS */

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NV_LOWP_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ---- ISA choice ---------------------------------------------------------- */

static nv_isa detect_isa(void)
{
#ifdef NV_LOWP_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        /* The top level needs AVX512_BF16 (CPUID leaf 7, sub-leaf 1, EAX
         * bit 5) and AVX512_VNNI, asked directly: older compilers'
         * __builtin_cpu_supports lack them. Every CPU with the first has
         * the second (Cooper Lake, Sapphire Rapids, Zen 4 and 5). The OS
         * saves the ZMM state, or avx512f above would be false. */
        unsigned a, b, c, d, vnni = 0;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
            vnni = c & (1u << 11); /* AVX512_VNNI: leaf 7, ECX bit 11 */
        if (vnni && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") &&
            __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5)))
            return NV_ISA_AVX512BF16;
        return NV_ISA_AVX512;
    }
    /* Every x86 CPU with AVX2 and FMA has F16C (Haswell, Zen on); clang's
     * __builtin_cpu_supports does not know the "f16c" name, so it is not
     * asked separately. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NV_ISA_AVX2;
#endif
    return NV_ISA_C;
}

/* What the CPU has, asked once: CPUID traps to the hypervisor in a virtual
 * machine (tens of microseconds), and the decode asks for every product. */
static nv_isa cpu_isa;
static pthread_once_t cpu_isa_once = PTHREAD_ONCE_INIT;

static void detect_once(void)
{
    cpu_isa = detect_isa();
}

nv_isa nv_lowp_isa(void)
{
    pthread_once(&cpu_isa_once, detect_once);
    nv_isa isa = cpu_isa;
    const char *cap = getenv("NV_LOWP_ISA");
    if (cap && strcmp(cap, "c") == 0)
        return NV_ISA_C;
    if (cap && strcmp(cap, "avx2") == 0 && isa > NV_ISA_AVX2)
        return NV_ISA_AVX2;
    if (cap && strcmp(cap, "avx512") == 0 && isa > NV_ISA_AVX512)
        return NV_ISA_AVX512;
    return isa;
}

const char *nv_isa_name(nv_isa isa)
{
    switch (isa) {
    case NV_ISA_AVX512BF16:
        return "avx512bf16";
    case NV_ISA_AVX512:
        return "avx512";
    case NV_ISA_AVX2:
        return "avx2";
    default:
        return "c";
    }
}

/* ---- plain C ------------------------------------------------------------- */

static float widen1(nv_dtype dt, const unsigned char *p)
{
    uint16_t h;
    switch (dt) {
    case NV_F16:
        memcpy(&h, p, 2);
        return nv_f16_to_f32(h);
    case NV_BF16:
        memcpy(&h, p, 2);
        return nv_bf16_to_f32(h);
    default: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    }
}

/* dot of elements [k0, K) of a weight row with x, in plain C. */
static float dot_tail(nv_dtype dt, const unsigned char *row, const float *x,
                      int k0, int K)
{
    size_t es = nv_dtype_size(dt);
    float s = 0.0f;
    for (int k = k0; k < K; k++)
        s += widen1(dt, row + (size_t)k * es) * x[k];
    return s;
}

static void gemv_c(nv_dtype dt, const unsigned char *w, int K, int n0, int n1,
                   const float *x, int M, float *y, int ldy, int acc)
{
    size_t row_bytes = (size_t)K * nv_dtype_size(dt);
    for (int n = n0; n < n1; n++)
        for (int m = 0; m < M; m++) {
            float s = dot_tail(dt, w + (size_t)n * row_bytes,
                               x + (size_t)m * K, 0, K);
            float *out = y + (size_t)m * ldy + n;
            *out = acc ? *out + s : s;
        }
}

/* Q8_0 and Q4_0: one f16 scale per block of NV_Q8_BLOCK values; Q4_K: a
 * scale and an offset per block from its super-block's record. The k-th
 * value of row n, scale not applied: an int8 for Q8_0; for Q4_0 a nibble
 * minus 8, for Q4_K the nibble itself, value j of a block in the low
 * nibble of its byte j and value j + 16 in the high one (core/tensor.h). */
static inline int quant_value(const void *q, nv_dtype dt, int K, size_t n,
                              int k)
{
    if (dt == NV_Q8_0)
        return ((const int8_t *)q)[n * (size_t)K + (size_t)k];
    const uint8_t *row = (const uint8_t *)q + n * (size_t)(K / 2);
    uint8_t byte = row[(k / NV_Q8_BLOCK) * 16 + k % 16];
    int u = k % NV_Q8_BLOCK < 16 ? byte & 15 : byte >> 4;
    return dt == NV_Q4_0 ? u - 8 : u;
}

/* The Q4_K records of row n. */
static inline const uint8_t *q4k_records(const uint16_t *scales, int K,
                                         size_t n)
{
    return (const uint8_t *)scales +
           n * (size_t)(K / NV_Q4K_SUPER) * NV_Q4K_RECORD;
}

/* Block b of row n stands for value x *d - *m (*m = 0 but for Q4_K). */
static inline void block_affine(const uint16_t *scales, nv_dtype dt, int K,
                                size_t n, int b, float *d, float *m)
{
    if (dt != NV_Q4_K) {
        *d = nv_f16_to_f32(scales[n * (size_t)(K / NV_Q8_BLOCK) + (size_t)b]);
        *m = 0.0f;
        return;
    }
    const uint8_t *r = q4k_records(scales, K, n) +
                       (size_t)(b / 8) * NV_Q4K_RECORD;
    float dsup, msup;
    memcpy(&dsup, r, 4);
    memcpy(&msup, r + 4, 4);
    *d = dsup * (float)r[8 + b % 8];
    *m = msup * (float)r[16 + b % 8];
}

static void gemv_quant_c(const void *q, nv_dtype dt, const uint16_t *scales,
                         int K, int n0, int n1, const float *x, int M,
                         float *y, int ldy, int acc)
{
    int nb = K / NV_Q8_BLOCK;
    for (int n = n0; n < n1; n++)
        for (int m = 0; m < M; m++) {
            const float *xm = x + (size_t)m * K;
            float s = 0.0f;
            for (int b = 0; b < nb; b++) {
                float part = 0.0f, xsum = 0.0f, d, off;
                for (int k = b * NV_Q8_BLOCK; k < (b + 1) * NV_Q8_BLOCK; k++) {
                    part += (float)quant_value(q, dt, K, (size_t)n, k) * xm[k];
                    xsum += xm[k];
                }
                block_affine(scales, dt, K, (size_t)n, b, &d, &off);
                s += part * d - off * xsum;
            }
            float *out = y + (size_t)m * ldy + n;
            *out = acc ? *out + s : s;
        }
}

static void quant_rows_c(const void *q, nv_dtype dt, const uint16_t *scales,
                         int K, int64_t row0, int64_t nrows, float *dst)
{
    int nb = K / NV_Q8_BLOCK;
    for (int64_t r = 0; r < nrows; r++)
        for (int b = 0; b < nb; b++) {
            float d, off;
            block_affine(scales, dt, K, (size_t)(row0 + r), b, &d, &off);
            for (int k = b * NV_Q8_BLOCK; k < (b + 1) * NV_Q8_BLOCK; k++)
                dst[(size_t)r * K + k] =
                    (float)quant_value(q, dt, K, (size_t)(row0 + r), k) * d -
                    off;
        }
}

#ifdef NV_LOWP_X86

/* ---- AVX-512F ------------------------------------------------------------ */

#define T512 __attribute__((target("avx512f")))

T512 static inline __m512 widen16(nv_dtype dt, const unsigned char *p)
{
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (dt == NV_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h),
                                                 16));
}

T512 static void gemv1_avx512(nv_dtype dt, const unsigned char *w, int K,
                              int n0, int n1, const float *x, float *y,
                              int acc)
{
    size_t rb = (size_t)K * 2;
    int kv = K & ~15;
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        const unsigned char *r0 = w + (size_t)n * rb, *r1 = r0 + rb,
                            *r2 = r1 + rb, *r3 = r2 + rb;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int k = 0; k < kv; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            a0 = _mm512_fmadd_ps(widen16(dt, r0 + 2 * k), xv, a0);
            a1 = _mm512_fmadd_ps(widen16(dt, r1 + 2 * k), xv, a1);
            a2 = _mm512_fmadd_ps(widen16(dt, r2 + 2 * k), xv, a2);
            a3 = _mm512_fmadd_ps(widen16(dt, r3 + 2 * k), xv, a3);
        }
        float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1),
                      _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        const unsigned char *rows[4] = {r0, r1, r2, r3};
        for (int i = 0; i < 4; i++) {
            s[i] += dot_tail(dt, rows[i], x, kv, K);
            y[n + i] = acc ? y[n + i] + s[i] : s[i];
        }
    }
    for (; n < n1; n++) {
        const unsigned char *r = w + (size_t)n * rb;
        __m512 a = _mm512_setzero_ps();
        for (int k = 0; k < kv; k += 16)
            a = _mm512_fmadd_ps(widen16(dt, r + 2 * k),
                                _mm512_loadu_ps(x + k), a);
        float s = _mm512_reduce_add_ps(a) + dot_tail(dt, r, x, kv, K);
        y[n] = acc ? y[n] + s : s;
    }
}

/* One weight row against activation rows m0 .. m0+mm (mm <= 4); missing
 * rows repeat row m0 and their sums are dropped. */
T512 static void gemv4_avx512(nv_dtype dt, const unsigned char *w, int K,
                              int n0, int n1, const float *x, int M,
                              float *y, int ldy, int acc)
{
    size_t rb = (size_t)K * 2;
    int kv = K & ~15;
    for (int m0 = 0; m0 < M; m0 += 4) {
        int mm = M - m0 < 4 ? M - m0 : 4;
        const float *xr[4];
        for (int i = 0; i < 4; i++)
            xr[i] = x + (size_t)(m0 + (i < mm ? i : 0)) * K;
        for (int n = n0; n < n1; n++) {
            const unsigned char *r = w + (size_t)n * rb;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
            for (int k = 0; k < kv; k += 16) {
                __m512 wv = widen16(dt, r + 2 * k);
                a0 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xr[0] + k), a0);
                a1 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xr[1] + k), a1);
                a2 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xr[2] + k), a2);
                a3 = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xr[3] + k), a3);
            }
            float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1),
                          _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
            for (int i = 0; i < mm; i++) {
                s[i] += dot_tail(dt, r, xr[i], kv, K);
                float *out = y + (size_t)(m0 + i) * ldy + n;
                *out = acc ? *out + s[i] : s[i];
            }
        }
    }
}

T512 static void to_f32_avx512(nv_dtype dt, const unsigned char *src,
                               float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, widen16(dt, src + 2 * i));
    for (; i < n; i++)
        dst[i] = widen1(dt, src + 2 * i);
}

/* Values 16h .. 16h + 15 of block b of row n as f32, scale not applied:
 * int8 for Q8_0; for Q4_0 (q4) the block's low nibbles (h = 0) or high
 * nibbles (h = 1) of its 16 bytes, minus 8 (the layout of quant_value). */
T512 static inline __m512 quant16(const void *q, int q4, int K, size_t n,
                                  int b, int h)
{
    if (!q4)
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
            (const __m128i *)((const int8_t *)q + n * (size_t)K +
                              NV_Q8_BLOCK * b + 16 * h))));
    const uint8_t *p = (const uint8_t *)q + n * (size_t)(K / 2) + 16 * b;
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    v = h ? _mm512_srli_epi32(v, 4)
          : _mm512_and_si512(v, _mm512_set1_epi32(15));
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(v, _mm512_set1_epi32(8)));
}

/* Q8_0 or Q4_0 (q4) rows against f32 activations, the weights widened in
 * registers (AVX-512F without VNNI / BF16). */
T512 static void gemv_quant_avx512(const void *q, int q4,
                                   const uint16_t *scales, int K, int n0,
                                   int n1, const float *x, int M, float *y,
                                   int ldy, int acc)
{
    int nb = K / NV_Q8_BLOCK;
    if (M == 1) {
        int n = n0;
        for (; n + 4 <= n1; n += 4) {
            __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
                           _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int b = 0; b < nb; b++) {
                __m512 x0 = _mm512_loadu_ps(x + 32 * b);
                __m512 x1 = _mm512_loadu_ps(x + 32 * b + 16);
                for (int i = 0; i < 4; i++) {
                    size_t row = (size_t)(n + i);
                    __m512 t = _mm512_fmadd_ps(
                        quant16(q, q4, K, row, b, 1), x1,
                        _mm512_mul_ps(quant16(q, q4, K, row, b, 0), x0));
                    float d = nv_f16_to_f32(scales[row * nb + b]);
                    a[i] = _mm512_fmadd_ps(t, _mm512_set1_ps(d), a[i]);
                }
            }
            for (int i = 0; i < 4; i++) {
                float s = _mm512_reduce_add_ps(a[i]);
                y[n + i] = acc ? y[n + i] + s : s;
            }
        }
        if (n < n1)
            gemv_quant_c(q, q4 ? NV_Q4_0 : NV_Q8_0, scales, K, n, n1, x, 1,
                         y, ldy, acc);
        return;
    }
    for (int m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * K;
        for (int n = n0; n < n1; n++) {
            __m512 a = _mm512_setzero_ps();
            for (int b = 0; b < nb; b++) {
                __m512 t = _mm512_fmadd_ps(
                    quant16(q, q4, K, (size_t)n, b, 1),
                    _mm512_loadu_ps(xm + 32 * b + 16),
                    _mm512_mul_ps(quant16(q, q4, K, (size_t)n, b, 0),
                                  _mm512_loadu_ps(xm + 32 * b)));
                float d = nv_f16_to_f32(scales[(size_t)n * nb + b]);
                a = _mm512_fmadd_ps(t, _mm512_set1_ps(d), a);
            }
            float s = _mm512_reduce_add_ps(a);
            float *out = y + (size_t)m * ldy + n;
            *out = acc ? *out + s : s;
        }
    }
}

/* Rows row0 .. row0 + nrows of a Q8_0 / Q4_0 matrix as f32 (the panels of
 * the prefill products; quant_rows_c in registers). */
T512 static void quant_rows_avx512(const void *q, int q4,
                                   const uint16_t *scales, int K,
                                   int64_t row0, int64_t nrows, float *dst)
{
    int nb = K / NV_Q8_BLOCK;
    for (int64_t r = 0; r < nrows; r++)
        for (int b = 0; b < nb; b++) {
            size_t row = (size_t)(row0 + r);
            __m512 d = _mm512_set1_ps(nv_f16_to_f32(scales[row * nb + b]));
            float *out = dst + (size_t)r * K + NV_Q8_BLOCK * b;
            _mm512_storeu_ps(out, _mm512_mul_ps(quant16(q, q4, K, row, b, 0), d));
            _mm512_storeu_ps(out + 16,
                             _mm512_mul_ps(quant16(q, q4, K, row, b, 1), d));
        }
}

/* ---- AVX-512 BF16 -------------------------------------------------------- */

#define TBF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

/* K activations rounded to bf16 (to nearest even, as nv_f32_to_bf16),
 * zero-padded to kp, a multiple of 32. */
TBF16 static void x_to_bf16(const float *x, size_t K, size_t kp, uint16_t *xb)
{
    size_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16),
                                         _mm512_loadu_ps(x + k));
        _mm512_storeu_si512(xb + k, (__m512i)v);
    }
    for (; k < K; k++)
        xb[k] = nv_f32_to_bf16(x[k]);
    for (; k < kp; k++)
        xb[k] = 0;
}

/* 32 bf16 weights of a row from element k; past K the lanes are zero (the
 * activations there are zero too, so the sum is exact). */
TBF16 static inline __m512bh wrow32(const unsigned char *r, int k, int K)
{
    if (k + 32 <= K)
        return (__m512bh)_mm512_loadu_si512(r + 2 * k);
    __mmask32 live = (__mmask32)((1ull << (K - k)) - 1);
    return (__m512bh)_mm512_maskz_loadu_epi16(live, r + 2 * k);
}

/* Rows n0..n1 of a bf16 matrix against M activation rows already in bf16
 * (xb, rows kp apart): four weight rows at a time for M == 1, each weight
 * vector used for every activation row otherwise (M < 8). */
TBF16 static void gemv_bf16dot(const unsigned char *w, int K, int n0, int n1,
                               const uint16_t *xb, int kp, int M, float *y,
                               int ldy, int acc)
{
    size_t rb = (size_t)K * 2;
    int n = n0;
    if (M == 1) {
        for (; n + 4 <= n1; n += 4) {
            const unsigned char *r0 = w + (size_t)n * rb, *r1 = r0 + rb,
                                *r2 = r1 + rb, *r3 = r2 + rb;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
            for (int k = 0; k < K; k += 32) {
                __m512bh xv = (__m512bh)_mm512_loadu_si512(xb + k);
                a0 = _mm512_dpbf16_ps(a0, wrow32(r0, k, K), xv);
                a1 = _mm512_dpbf16_ps(a1, wrow32(r1, k, K), xv);
                a2 = _mm512_dpbf16_ps(a2, wrow32(r2, k, K), xv);
                a3 = _mm512_dpbf16_ps(a3, wrow32(r3, k, K), xv);
            }
            float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1),
                          _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
            for (int i = 0; i < 4; i++)
                y[n + i] = acc ? y[n + i] + s[i] : s[i];
        }
    }
    for (; n < n1; n++) {
        const unsigned char *r = w + (size_t)n * rb;
        __m512 a[NV_LINEAR_GEMV_ROWS];
        for (int m = 0; m < M; m++)
            a[m] = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 32) {
            __m512bh wv = wrow32(r, k, K);
            for (int m = 0; m < M; m++)
                a[m] = _mm512_dpbf16_ps(
                    a[m], wv,
                    (__m512bh)_mm512_loadu_si512(xb + (size_t)m * kp + k));
        }
        for (int m = 0; m < M; m++) {
            float s = _mm512_reduce_add_ps(a[m]);
            float *out = y + (size_t)m * ldy + n;
            *out = acc ? *out + s : s;
        }
    }
}

/* Rows row0 .. row0 + nrows of a Q8_0, Q4_0 or Q4_K matrix as bf16, in
 * one pass: each value as the f32 kernels make it (u d, or u d - m in one
 * fused rounding for Q4_K) and then rounded to nearest even, so the
 * result equals nv_weight_rows_f32 followed by nv_lowp_round_bf16 bit
 * for bit, without the f32 panel between them (the prefill panels). */
TBF16 static void quant_rows_bf16(const void *q, nv_dtype dt,
                                  const uint16_t *scales, int K,
                                  int64_t row0, int64_t nrows, uint16_t *dst)
{
    int nb = K / NV_Q8_BLOCK;
    for (int64_t r = 0; r < nrows; r++) {
        size_t row = (size_t)(row0 + r);
        for (int b = 0; b < nb; b++) {
            float dv, mv;
            block_affine(scales, dt, K, row, b, &dv, &mv);
            __m512 d = _mm512_set1_ps(dv), m = _mm512_set1_ps(mv);
            __m512 lo, hi;
            if (dt == NV_Q8_0) {
                const int8_t *p = (const int8_t *)q + row * (size_t)K +
                                  NV_Q8_BLOCK * b;
                lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                       _mm_loadu_si128((const __m128i *)p))),
                                   d);
                hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                       _mm_loadu_si128(
                                           (const __m128i *)(p + 16)))),
                                   d);
            } else {
                const uint8_t *p = (const uint8_t *)q + row * (size_t)(K / 2) +
                                   16 * b;
                __m512i v = _mm512_cvtepu8_epi32(
                    _mm_loadu_si128((const __m128i *)p));
                __m512i l = _mm512_and_si512(v, _mm512_set1_epi32(15));
                __m512i h = _mm512_srli_epi32(v, 4);
                if (dt == NV_Q4_0) {
                    l = _mm512_sub_epi32(l, _mm512_set1_epi32(8));
                    h = _mm512_sub_epi32(h, _mm512_set1_epi32(8));
                    lo = _mm512_mul_ps(_mm512_cvtepi32_ps(l), d);
                    hi = _mm512_mul_ps(_mm512_cvtepi32_ps(h), d);
                } else {
                    lo = _mm512_fmsub_ps(_mm512_cvtepi32_ps(l), d, m);
                    hi = _mm512_fmsub_ps(_mm512_cvtepi32_ps(h), d, m);
                }
            }
            _mm512_storeu_si512(dst + (size_t)r * K + NV_Q8_BLOCK * b,
                                (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

/* The bf16 decode product on vdpbf16ps: 0 done, -1 when the activations'
 * bf16 copy cannot be allocated (the caller then widens instead). */
static int gemv_bf16_rounded(const unsigned char *w, int K, int n0, int n1,
                             const float *x, int M, float *y, int ldy,
                             int acc)
{
    int kp = (K + 31) / 32 * 32;
    uint16_t *xb = malloc(sizeof(uint16_t) * (size_t)kp * (size_t)M);
    if (!xb)
        return -1;
    for (int m = 0; m < M; m++)
        x_to_bf16(x + (size_t)m * K, K, kp, xb + (size_t)m * kp);
    gemv_bf16dot(w, K, n0, n1, xb, kp, M, y, ldy, acc);
    free(xb);
    return 0;
}

/* The Q8_0 decode product on vpdpbusd (AVX-512 VNNI). The activations are
 * quantized like the weights, per block of 32: dx = max |x| / 127 (f32),
 * xq = round(x / dx), so a block's dot product is an exact int32 sum
 * scaled by dw * dx (what llama.cpp's q8_0 x q8_0 path does). vpdpbusd
 * multiplies unsigned by signed bytes, so it is given xq + 128 and the
 * 128 * sum(w) that adds is taken off again (a second vpdpbusd against
 * ones gives sum(w)). */
/* How far ahead in a weight row (or the rows after it: they are
 * contiguous) the VNNI kernel asks for the next lines. Without it this
 * kernel read 6-7 GB/s on one Zen 5 core, the hardware prefetchers
 * apparently not keeping up with its short rows; 12 KiB ahead gave 14-19
 * GB/s (K = 768 .. 2048; 3 KiB 13.5, 6 KiB 14-17). The bf16 kernel gained
 * nothing from the same and has none. Prefetching past the end is
 * harmless. */
#define Q8_PREFETCH_BYTES 12288

#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* x's blocks as xq + 128 (bytes: VNNI's unsigned operand), their scales
 * dx and each block's sum(xq) dx (Q4_K's offsets), sixteen lanes at a
 * time. Rounds half away from zero, as roundf does (the AVX2 quantizer
 * does the same), so every path quantizes x to the same bytes. */
TVNNI static void q8_quantize_x(const float *x, int K, uint8_t *xu, float *dx,
                                float *xsum_dx)
{
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512 lim = _mm512_set1_ps(127.0f), neg_lim = _mm512_set1_ps(-127.0f);
    const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
    for (int b = 0; b < K / NV_Q8_BLOCK; b++) {
        const float *blk = x + (size_t)b * NV_Q8_BLOCK;
        __m512 v[2] = {_mm512_loadu_ps(blk), _mm512_loadu_ps(blk + 16)};
        float d = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v[0]),
                                                     _mm512_abs_ps(v[1]))) /
                  127.0f;
        __m512 inv = _mm512_set1_ps(d > 0.0f ? 1.0f / d : 0.0f);
        __m512i sum = _mm512_setzero_si512();
        for (int i = 0; i < 2; i++) {
            __m512 t = _mm512_mul_ps(v[i], inv);
            __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO |
                                                  _MM_FROUND_NO_EXC);
            __m512 frac = _mm512_abs_ps(_mm512_sub_ps(t, r));
            __m512 away = _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_and_si512(_mm512_castps_si512(t), sign_bit),
                _mm512_castps_si512(one)));
            r = _mm512_mask_add_ps(r, _mm512_cmp_ps_mask(frac, half, _CMP_GE_OQ),
                                   r, away);
            r = _mm512_min_ps(_mm512_max_ps(r, neg_lim), lim);
            __m512i q = _mm512_cvttps_epi32(r);
            sum = _mm512_add_epi32(sum, q);
            _mm_storeu_si128((__m128i *)(xu + (size_t)b * NV_Q8_BLOCK + 16 * i),
                             _mm512_cvtepi32_epi8(_mm512_add_epi32(
                                 q, _mm512_set1_epi32(128))));
        }
        dx[b] = d;
        xsum_dx[b] = (float)_mm512_reduce_add_epi32(sum) * d;
    }
}

/* Two Q4_0 blocks (32 packed bytes at p; only the first 16 when !whole)
 * as 64 nibbles 0..15 in element order: each block's low nibbles (its
 * elements 0-15) then its high nibbles (16-31). */
TVNNI static inline __m512i q4_unpack(const uint8_t *p, int whole)
{
    __m256i v = whole ? _mm256_loadu_si256((const __m256i *)p)
                      : _mm256_zextsi128_si256(
                            _mm_loadu_si128((const __m128i *)p));
    __m256i low4 = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(v, low4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    /* 128-bit lanes: lo0 lo1 hi0 hi1 -> lo0 hi0 lo1 hi1 */
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* The three block formats the VNNI kernel reads. */
enum { VNNI_Q8_0, VNNI_Q4_0, VNNI_Q4_K };

/* Blocks [b0, b0 + nblk) of one Q4_K row's records (b0 a multiple of 16,
 * nblk 8 or 16: one or two super-blocks) as sixteen lanes: the blocks'
 * scales d_b and offsets m_b (lanes past nblk 0). */
TVNNI static inline void q4k_factors16(const uint8_t *records, int b0,
                                       int nblk, __m512 *d, __m512 *m)
{
    const uint8_t *r = records + (size_t)(b0 / 8) * NV_Q4K_RECORD;
    float dsup[2] = {0.0f, 0.0f}, msup[2] = {0.0f, 0.0f};
    __m128i sc = _mm_loadl_epi64((const __m128i *)(r + 8));
    __m128i mn = _mm_loadl_epi64((const __m128i *)(r + 16));
    memcpy(&dsup[0], r, 4);
    memcpy(&msup[0], r + 4, 4);
    if (nblk > 8) {
        const uint8_t *r1 = r + NV_Q4K_RECORD;
        sc = _mm_unpacklo_epi64(sc, _mm_loadl_epi64((const __m128i *)(r1 + 8)));
        mn = _mm_unpacklo_epi64(mn, _mm_loadl_epi64((const __m128i *)(r1 + 16)));
        memcpy(&dsup[1], r1, 4);
        memcpy(&msup[1], r1 + 4, 4);
    }
    __m512 dv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(dsup[0]),
                                     _mm512_set1_ps(dsup[1]));
    __m512 mv = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(msup[0]),
                                     _mm512_set1_ps(msup[1]));
    *d = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sc)), dv);
    *m = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mn)), mv);
}

/* For R weight rows (R <= 4) over the blocks [b0, b0 + nblk) (nblk <= 16):
 * acc[r] += dw * dx * dot(w, xq) lane-wise. Two blocks fill a vector:
 * lanes 0-7 hold the first block's partial sums, 8-15 the second's, so
 * each pair's scales are spread with one permute. Several rows at once
 * keep several weight streams in flight and load each x vector once.
 * Q4_0 and Q4_K rows (packed nibbles u; Q4_0's u = q + 8): vpdpbusd takes
 * the nibbles as the unsigned operand and xq as the signed one; Q4_0's
 * 8 * sum(xq) comes off per pair, Q4_K's offsets m_b sum(xq_b) dx_b per
 * sixteen blocks (only the lanes' total matters). Q8_0 rows as described
 * above. ws[r]: row r's f16 scales, or its Q4_K records. */
TVNNI static inline __attribute__((always_inline)) void
q8_rows_blocks(const int8_t *const *w, const void *const *ws, int R,
               const uint8_t *xu, const float *dx, const float *xsum_dx,
               int b0, int nblk, __m512 *acc, int kind)
{
    __mmask16 live = (__mmask16)((1u << nblk) - 1);
    __m512 x_scale = _mm512_maskz_loadu_ps(live, dx + b0);
    __m512 scale[4];
    for (int r = 0; r < R; r++) {
        if (kind == VNNI_Q4_K) {
            __m512 d, m;
            q4k_factors16(ws[r], b0, nblk, &d, &m);
            scale[r] = _mm512_mul_ps(d, x_scale);
            acc[r] = _mm512_fnmadd_ps(
                m, _mm512_maskz_loadu_ps(live, xsum_dx + b0), acc[r]);
        } else {
            scale[r] = _mm512_mul_ps(
                _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(
                    live, (const uint16_t *)ws[r] + b0)),
                x_scale);
        }
    }
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i two = _mm512_set1_epi32(2);
    __m512i pick = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
                                    0, 0);
    int q4 = kind != VNNI_Q8_0;
    for (int j = 0; 2 * j < nblk; j++, pick = _mm512_add_epi32(pick, two)) {
        size_t at = (size_t)(b0 + 2 * j) * NV_Q8_BLOCK;
        /* A masked load only for a last odd block: a masked load that
         * splits cache lines is slow on AMD, and rows need not be aligned. */
        int whole = 2 * j + 1 < nblk;
        __m512i xv = whole ? _mm512_loadu_si512(xu + at)
                           : _mm512_zextsi256_si512(
                                 _mm256_loadu_si256((const __m256i *)(xu + at)));
        /* q4: xq itself (the +128 flipped off); Q4_0: and 8 * sum(xq) */
        __m512i xs = _mm512_setzero_si512(), x_off = _mm512_setzero_si512();
        if (q4)
            xs = _mm512_maskz_xor_epi32(whole ? 0xffff : 0x00ff, xv,
                                        _mm512_set1_epi8((char)0x80));
        if (kind == VNNI_Q4_0)
            x_off = _mm512_slli_epi32(
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, xs), 3);
        size_t w_at = q4 ? at / 2 : at;
        for (int r = 0; r < R; r++) {
            _mm_prefetch((const char *)(w[r] + w_at + Q8_PREFETCH_BYTES),
                         _MM_HINT_T0);
            __m512i dot;
            if (q4) {
                __m512i wv = q4_unpack((const uint8_t *)w[r] + w_at, whole);
                dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xs);
                if (kind == VNNI_Q4_0)
                    dot = _mm512_sub_epi32(dot, x_off);
            } else {
                __m512i wv = whole ? _mm512_loadu_si512(w[r] + at)
                                   : _mm512_zextsi256_si512(_mm256_loadu_si256(
                                         (const __m256i *)(w[r] + at)));
                dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), xv, wv);
                __m512i sum =
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, wv);
                dot = _mm512_sub_epi32(dot, _mm512_slli_epi32(sum, 7));
            }
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot),
                                     _mm512_permutexvar_ps(pick, scale[r]),
                                     acc[r]);
        }
    }
}

/* R rows from n (R a constant at each call below, so that the
 * accumulators stay in registers) over the whole row. */
TVNNI static inline __attribute__((always_inline)) void
q8_rows(const int8_t *q, const uint8_t *scales, int K, int n, int R,
        const uint8_t *xu, const float *dx, const float *xsum_dx, float *out,
        int kind)
{
    int nb = K / NV_Q8_BLOCK;
    size_t row_bytes = kind != VNNI_Q8_0 ? (size_t)K / 2 : (size_t)K;
    size_t scale_bytes = kind == VNNI_Q4_K
                             ? (size_t)(K / NV_Q4K_SUPER) * NV_Q4K_RECORD
                             : 2 * (size_t)nb;
    const int8_t *w[4];
    const void *ws[4];
    __m512 a[4];
    for (int r = 0; r < R; r++) {
        w[r] = q + (size_t)(n + r) * row_bytes;
        ws[r] = scales + (size_t)(n + r) * scale_bytes;
        a[r] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nb; b += 16)
        q8_rows_blocks(w, ws, R, xu, dx, xsum_dx, b, nb - b < 16 ? nb - b : 16,
                       a, kind);
    for (int r = 0; r < R; r++)
        out[r] = _mm512_reduce_add_ps(a[r]);
}

TVNNI static void gemv_q8_vnni(const int8_t *q, const uint8_t *scales, int K,
                               int n0, int n1, const uint8_t *xu,
                               const float *dx, const float *xsum_dx,
                               float *y, int acc, int kind)
{
    for (int n = n0; n < n1;) {
        int R = n1 - n >= 4 ? 4 : 1;
        float v[4];
        if (R == 4 && kind == VNNI_Q8_0)
            q8_rows(q, scales, K, n, 4, xu, dx, xsum_dx, v, VNNI_Q8_0);
        else if (R == 4 && kind == VNNI_Q4_0)
            q8_rows(q, scales, K, n, 4, xu, dx, xsum_dx, v, VNNI_Q4_0);
        else if (R == 4)
            q8_rows(q, scales, K, n, 4, xu, dx, xsum_dx, v, VNNI_Q4_K);
        else if (kind == VNNI_Q8_0)
            q8_rows(q, scales, K, n, 1, xu, dx, xsum_dx, v, VNNI_Q8_0);
        else if (kind == VNNI_Q4_0)
            q8_rows(q, scales, K, n, 1, xu, dx, xsum_dx, v, VNNI_Q4_0);
        else
            q8_rows(q, scales, K, n, 1, xu, dx, xsum_dx, v, VNNI_Q4_K);
        for (int r = 0; r < R; r++)
            y[n + r] = acc ? y[n + r] + v[r] : v[r];
        n += R;
    }
}

/* The quantized decode product on VNNI for M activation rows (each row's
 * quantized copy made here; the weights are read once per row): 0 done,
 * -1 when the copies cannot be allocated (the caller widens instead). */
static int gemv_q8_quantized(const void *q, nv_dtype dt, const void *scales,
                             int K, int n0, int n1, const float *x, int M,
                             float *y, int ldy, int acc)
{
    int nb = K / NV_Q8_BLOCK;
    int kind = dt == NV_Q4_K ? VNNI_Q4_K : dt == NV_Q4_0 ? VNNI_Q4_0
                                                          : VNNI_Q8_0;
    uint8_t *xu = malloc((size_t)K);
    float *dx = malloc(sizeof(float) * 2 * (size_t)(nb > 0 ? nb : 1));
    if (!xu || !dx) {
        free(xu);
        free(dx);
        return -1;
    }
    float *xsum_dx = dx + nb;
    for (int m = 0; m < M; m++) {
        q8_quantize_x(x + (size_t)m * K, K, xu, dx, xsum_dx);
        gemv_q8_vnni(q, scales, K, n0, n1, xu, dx, xsum_dx,
                     y + (size_t)m * ldy, acc, kind);
    }
    free(xu);
    free(dx);
    return 0;
}

/* ---- AVX2 + FMA + F16C --------------------------------------------------- */

#define T256 __attribute__((target("avx2,fma,f16c")))

T256 static inline __m256 widen8(nv_dtype dt, const unsigned char *p)
{
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (dt == NV_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h),
                                                 16));
}

T256 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
                          _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T256 static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v),
                          _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

T256 static inline int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
                              _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

T256 static void gemv_avx2(nv_dtype dt, const unsigned char *w, int K, int n0,
                           int n1, const float *x, int M, float *y, int ldy,
                           int acc)
{
    size_t rb = (size_t)K * 2;
    int kv = K & ~7;
    for (int m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * K;
        for (int n = n0; n < n1; n++) {
            const unsigned char *r = w + (size_t)n * rb;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int k = 0;
            for (; k + 16 <= kv; k += 16) {
                a0 = _mm256_fmadd_ps(widen8(dt, r + 2 * k),
                                     _mm256_loadu_ps(xm + k), a0);
                a1 = _mm256_fmadd_ps(widen8(dt, r + 2 * k + 16),
                                     _mm256_loadu_ps(xm + k + 8), a1);
            }
            for (; k < kv; k += 8)
                a0 = _mm256_fmadd_ps(widen8(dt, r + 2 * k),
                                     _mm256_loadu_ps(xm + k), a0);
            float s = hsum8(_mm256_add_ps(a0, a1)) +
                      dot_tail(dt, r, xm, kv, K);
            float *out = y + (size_t)m * ldy + n;
            *out = acc ? *out + s : s;
        }
    }
}

T256 static void to_f32_avx2(nv_dtype dt, const unsigned char *src,
                             float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, widen8(dt, src + 2 * i));
    for (; i < n; i++)
        dst[i] = widen1(dt, src + 2 * i);
}

/* Values 8e .. 8e + 7 (e = 0..3) of block b of row n as f32, scale not
 * applied (quant16 for AVX2): Q4_0's and Q4_K's values 0-15 are the low
 * nibbles of the block's bytes 0-15, values 16-31 the high ones. */
T256 static inline __m256 quant8(const void *q, nv_dtype dt, int K, size_t n,
                                 int b, int e)
{
    if (dt == NV_Q8_0)
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
            (const __m128i *)((const int8_t *)q + n * (size_t)K +
                              NV_Q8_BLOCK * b + 8 * e))));
    const uint8_t *p =
        (const uint8_t *)q + n * (size_t)(K / 2) + 16 * b + 8 * (e & 1);
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    v = e >= 2 ? _mm256_srli_epi32(v, 4)
               : _mm256_and_si256(v, _mm256_set1_epi32(15));
    if (dt == NV_Q4_0)
        v = _mm256_sub_epi32(v, _mm256_set1_epi32(8));
    return _mm256_cvtepi32_ps(v);
}

T256 static void gemv_quant_avx2(const void *q, nv_dtype dt,
                                 const uint16_t *scales, int K, int n0,
                                 int n1, const float *x, int M, float *y,
                                 int ldy, int acc)
{
    int nb = K / NV_Q8_BLOCK;
    int affine = dt == NV_Q4_K;
    for (int m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * K;
        for (int n = n0; n < n1; n++) {
            __m256 a = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++) {
                const float *xb = xm + 32 * b;
                __m256 xv = _mm256_loadu_ps(xb);
                __m256 t = _mm256_mul_ps(quant8(q, dt, K, (size_t)n, b, 0), xv);
                __m256 xs = xv;
                for (int e = 1; e < 4; e++) {
                    xv = _mm256_loadu_ps(xb + 8 * e);
                    t = _mm256_fmadd_ps(quant8(q, dt, K, (size_t)n, b, e), xv,
                                        t);
                    xs = _mm256_add_ps(xs, xv);
                }
                float d, off;
                block_affine(scales, dt, K, (size_t)n, b, &d, &off);
                a = _mm256_fmadd_ps(t, _mm256_set1_ps(d), a);
                if (affine)
                    a = _mm256_fnmadd_ps(xs, _mm256_set1_ps(off), a);
            }
            float s = hsum8(a);
            float *out = y + (size_t)m * ldy + n;
            *out = acc ? *out + s : s;
        }
    }
}

T256 static void quant_rows_avx2(const void *q, nv_dtype dt,
                                 const uint16_t *scales, int K, int64_t row0,
                                 int64_t nrows, float *dst)
{
    int nb = K / NV_Q8_BLOCK;
    for (int64_t r = 0; r < nrows; r++)
        for (int b = 0; b < nb; b++) {
            size_t row = (size_t)(row0 + r);
            float dv, off;
            block_affine(scales, dt, K, row, b, &dv, &off);
            __m256 d = _mm256_set1_ps(dv), m = _mm256_set1_ps(off);
            float *out = dst + (size_t)r * K + NV_Q8_BLOCK * b;
            for (int e = 0; e < 4; e++)
                _mm256_storeu_ps(out + 8 * e,
                                 _mm256_fmsub_ps(quant8(q, dt, K, row, b, e),
                                                 d, m));
        }
}

/* ---- AVX2 int8 decode products ------------------------------------------ */

/* The decode product of Q8_0, Q4_0 and Q4_K rows on AVX2 without widening
 * the weights (what llama.cpp's AVX2 paths do): the activation row is
 * quantized per block of 32 as for VNNI (xq = round(x / dx), dx = max |x| /
 * 127) and each block's dot product is an exact integer sum from
 * vpmaddubsw (unsigned x signed bytes, pairs added into int16: |u x| <=
 * 127 x 127, so a pair stays below 32767) and vpmaddwd. Q8_0 weights
 * are signed, so the sign moves onto the activations (|w| x sign(w) xq);
 * Q4_0's and Q4_K's nibbles are unsigned already, and the offsets (Q4_0:
 * 8 d) are taken off with the block sums of xq. */

/* Block b of row `row` (packed nibbles) as 32 bytes in element order. */
T256 static inline __m256i q4_bytes32(const uint8_t *row, int b)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(row + 16 * b));
    __m128i low4 = _mm_set1_epi8(15);
    __m128i lo = _mm_and_si128(v, low4);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* sum over pairs of u * s (u unsigned, s signed bytes) as 8 int32 lanes */
T256 static inline __m256i dot_u8s8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s),
                             _mm256_set1_epi16(1));
}

/* The factors of blocks [g, g + ng) of row n (ng <= 8) against the
 * quantized activations: scale[j] = d_b dx_b for the integer dot and
 * offset[j] = m_b dx_b sum(xq_b) to take off, m_b being Q4_K's offset or,
 * for Q4_0 read as unsigned nibbles, 8 d_b. Eight f16 scales convert in
 * one vcvtph2ps; the scalar path covers a last partial group. */
T256 static inline void block_factors8(const uint16_t *scales, nv_dtype dt,
                                       int K, size_t n, int g, int ng,
                                       const float *dx, const float *xsum_dx,
                                       float *scale, float *offset)
{
    if (ng == 8 && dt != NV_Q4_K) {
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(
            (const __m128i *)(scales + n * (size_t)(K / NV_Q8_BLOCK) + g)));
        _mm256_storeu_ps(scale, _mm256_mul_ps(d, _mm256_loadu_ps(dx + g)));
        __m256 m = dt == NV_Q4_0 ? _mm256_mul_ps(d, _mm256_set1_ps(8.0f))
                                 : _mm256_setzero_ps();
        _mm256_storeu_ps(offset, _mm256_mul_ps(m, _mm256_loadu_ps(xsum_dx + g)));
        return;
    }
    if (ng == 8) { /* a Q4_K super-block: g is a multiple of 8 */
        const uint8_t *r = q4k_records(scales, K, n) +
                           (size_t)(g / 8) * NV_Q4K_RECORD;
        float dsup, msup;
        memcpy(&dsup, r, 4);
        memcpy(&msup, r + 4, 4);
        __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
            _mm_loadl_epi64((const __m128i *)(r + 8))));
        __m256 mn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
            _mm_loadl_epi64((const __m128i *)(r + 16))));
        _mm256_storeu_ps(scale, _mm256_mul_ps(
                                    _mm256_mul_ps(sc, _mm256_set1_ps(dsup)),
                                    _mm256_loadu_ps(dx + g)));
        _mm256_storeu_ps(offset, _mm256_mul_ps(
                                     _mm256_mul_ps(mn, _mm256_set1_ps(msup)),
                                     _mm256_loadu_ps(xsum_dx + g)));
        return;
    }
    for (int j = 0; j < ng; j++) {
        float d, m;
        block_affine(scales, dt, K, n, g + j, &d, &m);
        if (dt == NV_Q4_0)
            m = 8.0f * d;
        scale[j] = d * dx[g + j];
        offset[j] = m * xsum_dx[g + j];
    }
}

/* R weight rows (R <= 4; a constant at each call) against one quantized
 * activation row: out[r] = sum over blocks of d_b dx_b x the integer dot,
 * minus m_b dx_b sum(xq) (Q4_0's nibbles are read unsigned, m_b = 8 d_b;
 * Q8_0 has no offset). The offsets add up as vectors of eight blocks, and
 * each row is prefetched Q8_PREFETCH_BYTES ahead: without either the
 * kernel read 14 GB/s of Q8_0 on one core of an AVX2 EPYC, a quarter of
 * its time in the per-group bookkeeping. */
T256 static inline __attribute__((always_inline)) void
int8_rows_avx2(const void *q, nv_dtype dt, const uint16_t *scales, int K,
               int n, int R, const int8_t *xq, const float *dx,
               const float *xsum_dx, float *out)
{
    int nb = K / NV_Q8_BLOCK;
    size_t row_bytes = dt == NV_Q8_0 ? (size_t)K : (size_t)K / 2;
    int block_bytes = dt == NV_Q8_0 ? 32 : 16;
    __m256 acc[4], offs[4];
    const uint8_t *rows[4];
    for (int r = 0; r < R; r++) {
        acc[r] = _mm256_setzero_ps();
        offs[r] = _mm256_setzero_ps();
        rows[r] = (const uint8_t *)q + (size_t)(n + r) * row_bytes;
    }
    for (int g = 0; g < nb; g += 8) {
        int ng = nb - g < 8 ? nb - g : 8;
        float scale[4][8], offset[4][8];
        for (int r = 0; r < R; r++) {
            for (int at = 0; at < 8 * block_bytes; at += 64)
                _mm_prefetch((const char *)(rows[r] + (size_t)g * block_bytes +
                                            at + Q8_PREFETCH_BYTES),
                             _MM_HINT_T0);
            block_factors8(scales, dt, K, (size_t)(n + r), g, ng, dx, xsum_dx,
                           scale[r], offset[r]);
            if (dt == NV_Q8_0)
                continue;
            for (int j = ng; j < 8; j++)
                offset[r][j] = 0.0f;
            offs[r] = _mm256_add_ps(offs[r], _mm256_loadu_ps(offset[r]));
        }
        for (int j = 0; j < ng; j++) {
            int b = g + j;
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
            for (int r = 0; r < R; r++) {
                __m256i dot;
                if (dt == NV_Q8_0) {
                    __m256i w = _mm256_loadu_si256(
                        (const __m256i *)(rows[r] + 32 * b));
                    dot = dot_u8s8(_mm256_sign_epi8(w, w),
                                   _mm256_sign_epi8(xv, w));
                } else {
                    dot = dot_u8s8(q4_bytes32(rows[r], b), xv);
                }
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                                         _mm256_broadcast_ss(&scale[r][j]),
                                         acc[r]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        out[r] = hsum8(_mm256_sub_ps(acc[r], offs[r]));
}

/* q8_quantize_x without the +128, eight lanes at a time, and each block's
 * sum(xq) dx as well (Q4's offsets). Rounds half away from zero as roundf
 * does, so both give the same bytes: the scalar loop's roundf calls were
 * a tenth of a q8_0 decode's time. */
T256 static void q8_quantize_x_avx2(const float *x, int nb, int8_t *xq,
                                    float *dx, float *xsum_dx)
{
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    const __m256 lim = _mm256_set1_ps(127.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < nb; b++) {
        const float *blk = x + (size_t)b * NV_Q8_BLOCK;
        __m256 v[4];
        __m256 amax = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(blk + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[i]));
        }
        float d = hmax8(amax) / 127.0f;
        __m256 inv = _mm256_set1_ps(d > 0.0f ? 1.0f / d : 0.0f);
        __m256i q[4];
        __m256i sum = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            __m256 t = _mm256_mul_ps(v[i], inv);
            __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO |
                                              _MM_FROUND_NO_EXC);
            __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(t, r));
            __m256 away = _mm256_or_ps(_mm256_and_ps(t, sign_bit), one);
            r = _mm256_add_ps(r, _mm256_and_ps(
                                     _mm256_cmp_ps(frac, half, _CMP_GE_OQ),
                                     away));
            r = _mm256_min_ps(_mm256_max_ps(r, _mm256_sub_ps(
                                                   _mm256_setzero_ps(), lim)),
                              lim);
            q[i] = _mm256_cvttps_epi32(r);
            sum = _mm256_add_epi32(sum, q[i]);
        }
        __m256i w16a = _mm256_packs_epi32(q[0], q[1]);
        __m256i w16b = _mm256_packs_epi32(q[2], q[3]);
        __m256i bytes = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(w16a, w16b), order);
        _mm256_storeu_si256((__m256i *)(xq + (size_t)b * NV_Q8_BLOCK), bytes);
        dx[b] = d;
        xsum_dx[b] = (float)hsum8i(sum) * d;
    }
}

/* 0 done, -1 when the activations' copies cannot be allocated. */
T256 static int gemv_int8_avx2(const void *q, nv_dtype dt,
                               const uint16_t *scales, int K, int n0, int n1,
                               const float *x, int M, float *y, int ldy,
                               int acc)
{
    int nb = K / NV_Q8_BLOCK;
    uint8_t *xu = malloc((size_t)K);
    float *dx = malloc(sizeof(float) * 2 * (size_t)(nb > 0 ? nb : 1));
    if (!xu || !dx) {
        free(xu);
        free(dx);
        return -1;
    }
    float *xsum_dx = dx + nb;
    int8_t *xq = (int8_t *)xu;
    for (int m = 0; m < M; m++) {
        q8_quantize_x_avx2(x + (size_t)m * K, nb, xq, dx, xsum_dx);
        float *ym = y + (size_t)m * ldy;
        for (int n = n0; n < n1;) {
            float v[4];
            int R = n1 - n >= 4 ? 4 : 1;
            if (R == 4 && dt == NV_Q8_0)
                int8_rows_avx2(q, NV_Q8_0, scales, K, n, 4, xq, dx, xsum_dx, v);
            else if (R == 4 && dt == NV_Q4_0)
                int8_rows_avx2(q, NV_Q4_0, scales, K, n, 4, xq, dx, xsum_dx, v);
            else if (R == 4)
                int8_rows_avx2(q, NV_Q4_K, scales, K, n, 4, xq, dx, xsum_dx, v);
            else if (dt == NV_Q8_0)
                int8_rows_avx2(q, NV_Q8_0, scales, K, n, 1, xq, dx, xsum_dx, v);
            else if (dt == NV_Q4_0)
                int8_rows_avx2(q, NV_Q4_0, scales, K, n, 1, xq, dx, xsum_dx, v);
            else
                int8_rows_avx2(q, NV_Q4_K, scales, K, n, 1, xq, dx, xsum_dx, v);
            for (int r = 0; r < R; r++)
                ym[n + r] = acc ? ym[n + r] + v[r] : v[r];
            n += R;
        }
    }
    free(xu);
    free(dx);
    return 0;
}

#endif /* NV_LOWP_X86 */

/* ---- dispatch ------------------------------------------------------------ */

void nv_lowp_to_f32(nv_dtype dt, const void *src, float *dst, size_t n)
{
    const unsigned char *s = src;
    if (dt == NV_F32) {
        memcpy(dst, s, n * sizeof(float));
        return;
    }
#ifdef NV_LOWP_X86
    switch (nv_lowp_isa()) {
    case NV_ISA_AVX512BF16:
    case NV_ISA_AVX512:
        to_f32_avx512(dt, s, dst, n);
        return;
    case NV_ISA_AVX2:
        to_f32_avx2(dt, s, dst, n);
        return;
    default:
        break;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dst[i] = widen1(dt, s + 2 * i);
}

void nv_lowp_round_bf16(const float *x, uint16_t *out, size_t n)
{
#ifdef NV_LOWP_X86
    if (nv_lowp_isa() == NV_ISA_AVX512BF16) {
        x_to_bf16(x, n, n, out);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        out[i] = nv_f32_to_bf16(x[i]);
}

int nv_weight_rows_bf16(const nv_tensor *w, int64_t row0, int64_t nrows,
                        uint16_t *dst)
{
    int K = (int)w->shape[w->ndim - 1];
#ifdef NV_LOWP_X86
    if (nv_dtype_quantized(w->dtype) && nv_lowp_isa() == NV_ISA_AVX512BF16) {
        quant_rows_bf16(w->data, w->dtype, w->scales, K, row0, nrows, dst);
        return 0;
    }
#endif
    /* a row at a time through f32 */
    float *wide = malloc(sizeof(float) * (size_t)K);
    if (!wide)
        return -1;
    for (int64_t r = 0; r < nrows; r++) {
        nv_weight_rows_f32(w, row0 + r, 1, wide);
        nv_lowp_round_bf16(wide, dst + (size_t)r * K, (size_t)K);
    }
    free(wide);
    return 0;
}

void nv_weight_rows_f32(const nv_tensor *w, int64_t row0, int64_t nrows,
                        float *dst)
{
    int K = (int)w->shape[w->ndim - 1];
    nv_dtype dt = w->dtype;
    if (nv_dtype_quantized(dt)) {
        int q4 = dt == NV_Q4_0;
#ifdef NV_LOWP_X86
        nv_isa isa = nv_lowp_isa();
        /* Q4_K's f32 rows come from the AVX2 kernel on AVX-512 CPUs too:
         * with AVX-512 BF16 its prefill panels are made by
         * nv_weight_rows_bf16 instead, so these are a fallback there. */
        if (isa >= NV_ISA_AVX512 && dt != NV_Q4_K) {
            quant_rows_avx512(w->data, q4, w->scales, K, row0, nrows, dst);
            return;
        }
        if (isa >= NV_ISA_AVX2) {
            quant_rows_avx2(w->data, dt, w->scales, K, row0, nrows, dst);
            return;
        }
#endif
        quant_rows_c(w->data, dt, w->scales, K, row0, nrows, dst);
        return;
    }
    size_t es = nv_dtype_size(w->dtype);
    nv_lowp_to_f32(w->dtype, (const unsigned char *)w->data +
                                 (size_t)row0 * (size_t)K * es,
                   dst, (size_t)nrows * (size_t)K);
}

void nv_lowp_gemv_rows(const nv_tensor *w, int n0, int n1, const float *x,
                       int M, float *y, int ldy, int accumulate)
{
    int K = (int)w->shape[w->ndim - 1];
    nv_dtype dt = w->dtype;
    const unsigned char *wb = w->data;
    nv_isa isa = nv_lowp_isa();
    if (nv_dtype_quantized(dt)) {
        int q4 = dt == NV_Q4_0;
#ifdef NV_LOWP_X86
        if (isa == NV_ISA_AVX512BF16 &&
            gemv_q8_quantized(w->data, dt, w->scales, K, n0, n1, x, M, y,
                              ldy, accumulate) == 0)
            return;
        if (dt != NV_Q4_K) {
            if (isa >= NV_ISA_AVX512) {
                gemv_quant_avx512(w->data, q4, w->scales, K, n0, n1, x, M, y,
                                  ldy, accumulate);
                return;
            }
        }
        /* AVX2 CPUs, and Q4_K on AVX-512F ones without VNNI: the int8
         * kernel, or widened weights when its copies cannot be allocated */
        if (isa >= NV_ISA_AVX2 &&
            gemv_int8_avx2(w->data, dt, w->scales, K, n0, n1, x, M, y, ldy,
                           accumulate) == 0)
            return;
        if (isa >= NV_ISA_AVX2) {
            gemv_quant_avx2(w->data, dt, w->scales, K, n0, n1, x, M, y, ldy,
                            accumulate);
            return;
        }
#endif
        gemv_quant_c(w->data, dt, w->scales, K, n0, n1, x, M, y, ldy,
                     accumulate);
        return;
    }
#ifdef NV_LOWP_X86
    if (dt == NV_F16 || dt == NV_BF16) {
        switch (isa) {
        case NV_ISA_AVX512BF16:
            if (dt == NV_BF16 && M < NV_LINEAR_GEMV_ROWS &&
                gemv_bf16_rounded(wb, K, n0, n1, x, M, y, ldy,
                                  accumulate) == 0)
                return;
            /* fall through - f16, or no memory for the activations */
        case NV_ISA_AVX512:
            if (M == 1)
                gemv1_avx512(dt, wb, K, n0, n1, x, y, accumulate);
            else
                gemv4_avx512(dt, wb, K, n0, n1, x, M, y, ldy, accumulate);
            return;
        case NV_ISA_AVX2:
            gemv_avx2(dt, wb, K, n0, n1, x, M, y, ldy, accumulate);
            return;
        default:
            break;
        }
    }
#endif
    gemv_c(dt, wb, K, n0, n1, x, M, y, ldy, accumulate);
}

void nv_q4_quantize_row(const float *w, int64_t K, uint8_t *q,
                        uint16_t *scales)
{
    for (int64_t b = 0; b < K / NV_Q8_BLOCK; b++) {
        const float *blk = w + b * NV_Q8_BLOCK;
        float extreme = 0.0f; /* the value of largest magnitude, signed */
        for (int k = 0; k < NV_Q8_BLOCK; k++)
            if (fabsf(blk[k]) > fabsf(extreme))
                extreme = blk[k];
        uint16_t d16 = nv_f32_to_f16(extreme / -8.0f);
        float d = nv_f16_to_f32(d16);
        float inv = d != 0.0f ? 1.0f / d : 0.0f;
        uint8_t *out = q + b * 16;
        for (int k = 0; k < 16; k++) {
            int lo = (int)roundf(blk[k] * inv) + 8;
            int hi = (int)roundf(blk[k + 16] * inv) + 8;
            lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
            hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
            out[k] = (uint8_t)(lo | hi << 4);
        }
        scales[b] = d16;
    }
}

void nv_q8_quantize_row(const float *w, int64_t K, int8_t *q,
                        uint16_t *scales)
{
    for (int64_t b = 0; b < K / NV_Q8_BLOCK; b++) {
        const float *blk = w + b * NV_Q8_BLOCK;
        float amax = 0.0f;
        for (int k = 0; k < NV_Q8_BLOCK; k++)
            if (fabsf(blk[k]) > amax)
                amax = fabsf(blk[k]);
        uint16_t d16 = nv_f32_to_f16(amax / 127.0f);
        float d = nv_f16_to_f32(d16);
        float inv = d > 0.0f ? 1.0f / d : 0.0f;
        for (int k = 0; k < NV_Q8_BLOCK; k++) {
            float v = roundf(blk[k] * inv);
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
            q[b * NV_Q8_BLOCK + k] = (int8_t)v;
        }
        scales[b] = d16;
    }
}

/* v rounded to the nearest of 0..15 (halves up; NaN gives 0, so that no
 * float-to-int conversion is ever out of range). */
static inline int q4k_nibble(float v)
{
    if (!(v > 0.0f))
        return 0;
    return v >= 15.0f ? 15 : (int)(v + 0.5f);
}

/* One block of 32 as u = round((w + m) / d) in 0..15 with d > 0 and m >= 0
 * (offsets are stored as unsigned multipliers; the range starts at
 * min(0, min w), as llama.cpp's Q4_K does):
 * starting from the block's range, a few scales around it are tried and,
 * for each rounding they give, the least-squares d and m; the pair of
 * smallest squared error is kept. */
static void q4k_fit_block(const float *w, float *d_out, float *m_out)
{
    float lo = 0.0f, hi = 0.0f;
    for (int k = 0; k < NV_Q8_BLOCK; k++) {
        lo = w[k] < lo ? w[k] : lo;
        hi = w[k] > hi ? w[k] : hi;
    }
    *d_out = 0.0f;
    *m_out = -lo;
    if (hi <= lo)
        return;
    float best_err = INFINITY;
    for (int step = 0; step <= 20; step++) {
        /* 15 levels over the range, and a little more or less */
        float inv = (15.0f + 0.1f * (float)(step - 10)) / (hi - lo);
        float su = 0, suu = 0, sw = 0, suw = 0;
        uint8_t u[NV_Q8_BLOCK];
        for (int k = 0; k < NV_Q8_BLOCK; k++) {
            /* q4k_nibble, not lrintf: a libm call per value, and this loop
             * is most of nvlm quantize's time */
            u[k] = (uint8_t)q4k_nibble((w[k] - lo) * inv);
            su += u[k];
            suu += (float)u[k] * u[k];
            sw += w[k];
            suw += u[k] * w[k];
        }
        /* w ~ d u - m: the normal equations of the two unknowns */
        float n = (float)NV_Q8_BLOCK, det = n * suu - su * su;
        if (det <= 0.0f)
            continue;
        float d = (n * suw - su * sw) / det;
        float m = (su * suw - suu * sw) / det; /* -intercept */
        if (m < 0.0f) { /* the offset must stay >= 0: refit d alone */
            m = 0.0f;
            d = suu > 0.0f ? suw / suu : 0.0f;
        }
        if (d <= 0.0f)
            continue;
        float err = 0.0f;
        for (int k = 0; k < NV_Q8_BLOCK; k++) {
            float e = d * u[k] - m - w[k];
            err += e * e;
        }
        if (err < best_err) {
            best_err = err;
            *d_out = d;
            *m_out = m;
        }
    }
}

void nv_q4k_quantize_row(const float *w, int64_t K, uint8_t *q,
                         uint8_t *records)
{
    for (int64_t s = 0; s < K / NV_Q4K_SUPER; s++) {
        const float *sw = w + s * NV_Q4K_SUPER;
        uint8_t *rec = records + s * NV_Q4K_RECORD;
        float d[8], m[8], d_max = 0.0f, m_max = 0.0f;
        for (int b = 0; b < 8; b++) {
            q4k_fit_block(sw + b * NV_Q8_BLOCK, &d[b], &m[b]);
            d_max = d[b] > d_max ? d[b] : d_max;
            m_max = m[b] > m_max ? m[b] : m_max;
        }
        /* the super-block's two scales */
        float dsup = d_max / 255.0f, msup = m_max / 255.0f;
        memcpy(rec, &dsup, 4);
        memcpy(rec + 4, &msup, 4);
        for (int b = 0; b < 8; b++) {
            long sc = dsup > 0.0f ? lrintf(d[b] / dsup) : 0;
            long mn = msup > 0.0f ? lrintf(m[b] / msup) : 0;
            rec[8 + b] = (uint8_t)(sc < 0 ? 0 : sc > 255 ? 255 : sc);
            rec[16 + b] = (uint8_t)(mn < 0 ? 0 : mn > 255 ? 255 : mn);
            /* the nibbles from the factors the kernels will use */
            float db = dsup * rec[8 + b], mb = msup * rec[16 + b];
            float inv = db > 0.0f ? 1.0f / db : 0.0f;
            const float *blk = sw + b * NV_Q8_BLOCK;
            uint8_t *out = q + (s * 8 + b) * 16;
            for (int k = 0; k < 16; k++) {
                out[k] = (uint8_t)(q4k_nibble((blk[k] + mb) * inv) |
                                   q4k_nibble((blk[k + 16] + mb) * inv) << 4);
            }
        }
    }
}

void nv_quantize_row(nv_dtype to, const float *w, int64_t K, void *q,
                     void *scales)
{
    if (to == NV_Q4_K)
        nv_q4k_quantize_row(w, K, q, scales);
    else if (to == NV_Q4_0)
        nv_q4_quantize_row(w, K, q, scales);
    else
        nv_q8_quantize_row(w, K, q, scales);
}
