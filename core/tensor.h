/* tensor.h - the tensor type shared by every part of nvlm.
 *
 * Computation is f32. A tensor remembers the dtype its data is stored in:
 * weight matrices in f16 / bf16 stay as the file stores them
 * (nv_st_get_weight) and the kernels of core/matmul.h and core/lowp.h read
 * them so; everything else is f32.
 *
 * Ownership: a tensor either owns its data (`owned` = 1, freed by
 * nv_tensor_free) or borrows it (a view into a mapped file or another
 * tensor; nv_tensor_free then only forgets it).
 */
#ifndef NV_TENSOR_H
#define NV_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define NV_MAX_DIMS 8

typedef enum nv_dtype {
    NV_F32,
    NV_F16,
    NV_BF16,
    NV_F64,
    NV_I64,
    NV_I32,
    NV_I16,
    NV_I8,
    NV_U8,
    NV_BOOL,
    /* Not a safetensors dtype: int8 weights in blocks of NV_Q8_BLOCK along
     * each row, each block scaled by an f16 (the data is an I8 tensor, the
     * scales an F16 tensor "<name>.q8_scales"; docs/model-format.md). */
    NV_Q8_0,
    /* Not a safetensors dtype either: 4-bit weights in blocks of
     * NV_Q8_BLOCK (32) along each row, each block scaled by an f16. The
     * data is a U8 tensor [rows, cols / 2]: byte j of a block's 16 holds
     * element j in its low nibble and element j + 16 in its high one, a
     * nibble u standing for (u - 8) x the scale; the scales are an F16
     * tensor "<name>.q4_scales" (docs/model-format.md). */
    NV_Q4_0,
    /* Not a safetensors dtype: 4-bit weights packed as for Q4_0, but each
     * nibble u standing for d_b x u - m_b, the block's scale d_b and
     * offset m_b given per super-block of NV_Q4K_SUPER values as two f32
     * (d, dmin) and eight 8-bit multipliers of each (d_b = d x sc[b],
     * m_b = dmin x mn[b]), as llama.cpp's Q4_K does with two f16 and 6-bit
     * multipliers (f16 would make d = max d_b / 255 subnormal for weights
     * of ordinary size). The records are a U8 tensor "<name>.q4k_scales"
     * [rows, cols / 256 x 24] (docs/model-format.md). */
    NV_Q4_K,
} nv_dtype;

#define NV_Q8_BLOCK 32
#define NV_Q4K_SUPER 256 /* values per Q4_K super-block: 8 blocks of 32 */
#define NV_Q4K_RECORD 24 /* bytes: f32 d, f32 dmin, u8 sc[8], u8 mn[8] */

typedef struct nv_tensor {
    nv_dtype dtype;
    int ndim;
    int64_t shape[NV_MAX_DIMS];
    void *data;
    int owned;
    /* Quantized dtypes only, owned or borrowed with the data: Q8_0 and
     * Q4_0 [rows, cols / NV_Q8_BLOCK] f16 scales; Q4_K [rows, cols /
     * NV_Q4K_SUPER] records of NV_Q4K_RECORD bytes. */
    uint16_t *scales;
} nv_tensor;

/* Bytes per element of a dtype (Q8_0: 1, the scales not counted; Q4_0
 * and Q4_K, half a byte: 0, nv_tensor_nbytes counts it). */
size_t nv_dtype_size(nv_dtype dt);
/* Name as written in safetensors headers ("F32", "BF16", ...). */
const char *nv_dtype_name(nv_dtype dt);
/* Parses a safetensors dtype name; returns -1 if unknown. */
int nv_dtype_parse(const char *name, nv_dtype *out);

/* 1 for the quantized weight types (Q8_0, Q4_0, Q4_K). */
static inline int nv_dtype_quantized(nv_dtype dt)
{
    return dt == NV_Q8_0 || dt == NV_Q4_0 || dt == NV_Q4_K;
}

/* Bytes of the scales of a quantized [rows, cols] matrix of dtype dt. */
size_t nv_quant_scale_bytes(nv_dtype dt, int64_t rows, int64_t cols);

/* The type a matrix with rows `cols` long (a multiple of NV_Q8_BLOCK) gets
 * when `to` is asked for: `to`, but Q4_0 for Q4_K where the rows are not
 * a multiple of NV_Q4K_SUPER long. */
static inline nv_dtype nv_quant_type_for(nv_dtype to, int64_t cols)
{
    return to == NV_Q4_K && cols % NV_Q4K_SUPER != 0 ? NV_Q4_0 : to;
}

/* Product of the shape; 0 when any dimension is 0. */
int64_t nv_tensor_numel(const nv_tensor *t);

/* Bytes of the data in its dtype; 0 for an empty tensor (data NULL). */
size_t nv_tensor_nbytes(const nv_tensor *t);

/* Allocates an owned, zero-filled f32 tensor of the given shape. Returns -1
 * (with a message) on overflow or when memory runs out. */
int nv_tensor_alloc_f32(nv_tensor *t, int ndim, const int64_t *shape,
                        nv_error *err);

/* Frees owned data and resets the tensor to empty. Safe on an empty tensor. */
void nv_tensor_free(nv_tensor *t);

/* f32 pointer of an f32 tensor (NULL if the dtype is not f32). */
static inline float *nv_tensor_f32(const nv_tensor *t)
{
    return t->dtype == NV_F32 ? (float *)t->data : NULL;
}

/* Scalar conversions (nv_lowp_to_f32 converts whole rows). */
float nv_f16_to_f32(uint16_t h);
float nv_bf16_to_f32(uint16_t b);
uint16_t nv_f32_to_bf16(float f); /* round to nearest even */
uint16_t nv_f32_to_f16(float f);  /* round to nearest even */

#endif
