/* lowp.h - f16, bf16, Q8_0, Q4_0 and Q4_K weights read as they are stored.
 *
 * Model weights in f16 or bf16 stay in the mapped file (issue 15): the
 * kernels here widen them to f32 in registers as they stream past, so a
 * weight byte is read once and never copied. Products are accumulated in
 * f32 against f32 activations, so the result equals the f32 product of the
 * widened weights up to summation order (no activation is rounded) - with
 * one exception: on a CPU with AVX-512 BF16, a bf16 matrix against fewer
 * than NV_LINEAR_GEMV_ROWS activation rows (decode) runs on vdpbf16ps,
 * which multiplies bf16 by bf16, so those activations are rounded to bf16
 * (to nearest even; a relative error of at most 2^-9 per activation, what
 * llama.cpp's bf16 path does too) and the products are exact in f32.
 *
 * Q8_0 weights (nvlm quantize) are int8 in blocks of 32 with an f16 scale
 * each, Q4_0 ones 4-bit values likewise, Q4_K ones 4-bit values with a
 * scale and an offset per block from 8-bit multipliers of two f32 per
 * super-block of 256 (core/tensor.h has the layouts).
 * With AVX-512 VNNI (the same CPUs) the decode product quantizes each
 * activation row per block of 32 the same way (dx = max |x| / 127) and sums
 * exact int8 products with vpdpbusd, as llama.cpp's q8_0 / q4_0 paths do
 * (Q8_0, Q4_0, Q4_K); with AVX2 likewise on vpmaddubsw (and Q4_K on
 * AVX-512F CPUs without VNNI); elsewhere the weights are widened and each
 * block's sum scaled.
 *
 * Which instructions run is chosen at run time from CPUID, so one binary
 * runs on any x86-64: AVX-512 BF16 + VNNI (the decode products above),
 * AVX-512F (vcvtph2ps / a 16-bit shift for bf16, 16 lanes), AVX2 + FMA +
 * F16C (8 lanes), or plain C elsewhere. NV_LOWP_ISA=avx512|avx2|c in the environment caps the
 * choice (tests use it to check every path on one machine; benchmarks to
 * compare them).
 */
#ifndef NV_LOWP_H
#define NV_LOWP_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

typedef enum nv_isa {
    NV_ISA_C,
    NV_ISA_AVX2,
    NV_ISA_AVX512,
    NV_ISA_AVX512BF16, /* AVX-512F + BW + VL + BF16 + VNNI */
} nv_isa;

/* The instruction set the kernels use on this CPU (after NV_LOWP_ISA). */
nv_isa nv_lowp_isa(void);
/* "avx512bf16", "avx512", "avx2" or "c". */
const char *nv_isa_name(nv_isa isa);

/* dst[i] = src[i] widened to f32, for n elements of dtype dt (F32, F16 or
 * BF16; src may be unaligned). */
void nv_lowp_to_f32(nv_dtype dt, const void *src, float *dst, size_t n);

/* out[i] = x[i] rounded to bf16 (to nearest even, as nv_f32_to_bf16),
 * for n values. */
void nv_lowp_round_bf16(const float *x, uint16_t *out, size_t n);

/* Rows [row0, row0 + nrows) of a weight matrix or embedding table (F32,
 * F16, BF16 or a quantized type; rows of shape[ndim - 1] elements) as f32
 * in dst. */
void nv_weight_rows_f32(const nv_tensor *w, int64_t row0, int64_t nrows,
                        float *dst);

/* The same rows rounded to bf16 (as nv_lowp_round_bf16 rounds them):
 * equal bit for bit to nv_weight_rows_f32 then nv_lowp_round_bf16, in one
 * pass for quantized matrices on AVX-512 BF16 CPUs. 0 done, -1 out of
 * memory. */
int nv_weight_rows_bf16(const nv_tensor *w, int64_t row0, int64_t nrows,
                        uint16_t *dst);

/* For the weight rows [n0, n1) of w (F32, F16, BF16, Q8_0, Q4_0 or Q4_K;
 * [N, K]) and the M activation rows x[m * K ...]:
 *     y[m * ldy + n] = dot(w row n, x row m)   (+= when accumulate)
 * This is the decode-time GEMV (M small): each weight row is read once
 * from memory for all M rows of x. Quantized rows are summed per block of
 * 32 and each block sum scaled (and, for Q4_K, its offset times the
 * block's sum of x taken off). */
void nv_lowp_gemv_rows(const nv_tensor *w, int n0, int n1, const float *x,
                       int M, float *y, int ldy, int accumulate);

/* Q4_0 of one row of K values (K a multiple of 32): per block, the value
 * of largest magnitude v gives d = f16(v / -8) (so v itself is -8 x d) and
 * each value u = round(w / d) + 8, clamped to 0..15, packed two a byte as
 * core/tensor.h describes (K / 2 bytes, K / 32 scales). As llama.cpp's
 * q4_0, with the scale rounded before it is used. */
void nv_q4_quantize_row(const float *w, int64_t K, uint8_t *q,
                        uint16_t *scales);

/* Q4_K of one row of K values (K a multiple of NV_Q4K_SUPER): per block
 * of 32 a scale d_b > 0 and an offset m_b >= 0 fitted by least squares
 * over the block's 4-bit rounding (a few scales tried); per super-block of
 * 256, d = max d_b / 255 and dmin = max m_b / 255 (f32), the blocks'
 * multipliers sc = round(d_b / d), mn = round(m_b / dmin) (8-bit), and the
 * nibbles u = round((w + dmin mn) / (d sc)) in 0..15 from the rounded
 * factors. q: K / 2 bytes packed as for Q4_0; records: K / 256 records of
 * NV_Q4K_RECORD bytes (core/tensor.h). */
void nv_q4k_quantize_row(const float *w, int64_t K, uint8_t *q,
                         uint8_t *records);

/* One row of K values as `to` (Q8_0, Q4_0 or Q4_K: the three functions
 * below); q and scales as those take them. */
void nv_quantize_row(nv_dtype to, const float *w, int64_t K, void *q,
                     void *scales);

/* Q8_0 of one row of K values (K a multiple of NV_Q8_BLOCK): per block,
 * d = f16(max |w| / 127) and q = round(w / d) in [-127, 127], the scale
 * rounded first so that q * d is what the kernels compute. */
void nv_q8_quantize_row(const float *w, int64_t K, int8_t *q,
                        uint16_t *scales);

#endif
