/* vec_math.h - element-wise float functions written to vectorise: the
 * softmax and SiLU of the decoder, the ViTs and the cross-attention
 * layers, and the bit-level helpers their polynomials (and GELU's erf in
 * vision/vit_ops.c) select with.
 */
#ifndef NV_VEC_MATH_H
#define NV_VEC_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Element-wise loops (softmax's exp, SiLU, GELU's erf in vision/vit_ops.c)
 * are written to vectorise; the build targets baseline x86-64 (SSE2, 4 lanes), so they
 * are also compiled for AVX2 and AVX-512 and the CPU picks one at load
 * time (GCC's function multi-versioning). ISO C mode compiles with
 * -ffp-contract=off, so every version computes the same bits. Not with
 * clang (the fuzz build): clang 14 leaves such a function of a static
 * library undefined for the linker. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NV_VECTOR_CLONES \
    __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NV_VECTOR_CLONES
#endif

static inline uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static inline float bits_float(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* Picks a where mask is all ones, b where it is zero. The selects below are
 * written as bit masks from integer comparisons of bit patterns: with float
 * ternaries GCC (under its default -ftrapping-math) sinks the float work
 * into branches and the loop no longer vectorises. For non-negative floats
 * the integer order of the patterns is the float order. */
static inline float select_bits(uint32_t mask, float a, float b)
{
    return bits_float((float_bits(a) & mask) | (float_bits(b) & ~mask));
}

static inline uint32_t mask_if(int condition)
{
    return 0u - (uint32_t)condition;
}

/* Softmax of each row, in place (exp from a vectorisable polynomial, about
 * 1 ulp; values more than 87 below the row maximum give 0; sums in
 * double). */
void nv_softmax_rows(float *s, int rows, int cols);

/* The same softmax, its result rounded to bf16 (to nearest even, as
 * nv_f32_to_bf16 rounds a number) into out[rows * cols] instead; s is
 * left holding the unnormalised exponentials. */
void nv_softmax_rows_bf16(float *s, int rows, int cols, uint16_t *out);

/* The same softmax of scale * s (scale > 0) for scores not yet scaled:
 * exp((s - max) * scale), so a power-of-two scale gives the bits of
 * scaling the scores first. */
void nv_softmax_rows_bf16_scaled(float *s, int rows, int cols, float scale,
                                 uint16_t *out);

/* The sum of x[0 .. n) and the sum of (x[i] - center)^2, in double (the
 * norms' statistics), accumulated over 8 lanes and then across them. */
double nv_sum_f64(const float *x, size_t n);
double nv_sum_sq_f64(const float *x, size_t n, double center);

/* gate[i] = silu(gate[i]) * up[i] for n values, silu(g) = g / (1 + e^-g)
 * with the same exp (written with e^-|g| so it never overflows). */
void nv_silu_mul(float *gate, const float *up, size_t n);

#endif
