/* tensor.c - dtype facts, allocation and scalar conversions; see tensor.h. */
#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    nv_dtype dtype;
    const char *name;
    size_t size;
} dtype_table[] = {
    {NV_F32, "F32", 4}, {NV_F16, "F16", 2}, {NV_BF16, "BF16", 2},
    {NV_F64, "F64", 8}, {NV_I64, "I64", 8}, {NV_I32, "I32", 4},
    {NV_I16, "I16", 2}, {NV_I8, "I8", 1},   {NV_U8, "U8", 1},
    {NV_BOOL, "BOOL", 1},
};

/* Q8_0, Q4_0 and Q4_K have names but are never parsed from a header. */
static const char q8_name[] = "Q8_0";
static const char q4_name[] = "Q4_0";
static const char q4k_name[] = "Q4_K";

size_t nv_dtype_size(nv_dtype dt)
{
    if (dt == NV_Q8_0)
        return 1;
    if (dt == NV_Q4_0 || dt == NV_Q4_K)
        return 0;
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dtype == dt)
            return dtype_table[i].size;
    return 0;
}

const char *nv_dtype_name(nv_dtype dt)
{
    if (dt == NV_Q8_0)
        return q8_name;
    if (dt == NV_Q4_0)
        return q4_name;
    if (dt == NV_Q4_K)
        return q4k_name;
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dtype == dt)
            return dtype_table[i].name;
    return "?";
}

int nv_dtype_parse(const char *name, nv_dtype *out)
{
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (!strcmp(dtype_table[i].name, name)) {
            *out = dtype_table[i].dtype;
            return 0;
        }
    return -1;
}

int64_t nv_tensor_numel(const nv_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t nv_tensor_nbytes(const nv_tensor *t)
{
    if (!t->data)
        return 0;
    size_t n = (size_t)nv_tensor_numel(t);
    if (nv_dtype_quantized(t->dtype) && t->ndim >= 1 && n > 0) {
        int64_t cols = t->shape[t->ndim - 1];
        return (t->dtype == NV_Q8_0 ? n : n / 2) +
               nv_quant_scale_bytes(t->dtype, (int64_t)n / cols, cols);
    }
    return n * nv_dtype_size(t->dtype);
}

size_t nv_quant_scale_bytes(nv_dtype dt, int64_t rows, int64_t cols)
{
    if (dt == NV_Q4_K)
        return (size_t)rows * (size_t)(cols / NV_Q4K_SUPER) * NV_Q4K_RECORD;
    return (size_t)rows * (size_t)(cols / NV_Q8_BLOCK) * 2;
}

int nv_tensor_alloc_f32(nv_tensor *t, int ndim, const int64_t *shape,
                        nv_error *err)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > NV_MAX_DIMS)
        return nv_fail(err, "tensor with %d dimensions (at most %d)", ndim,
                       NV_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > INT64_MAX / 4 / shape[i]))
            return nv_fail(err, "tensor shape overflows");
        n *= shape[i];
        t->shape[i] = shape[i];
    }
    void *data = calloc(n > 0 ? (size_t)n : 1, sizeof(float));
    if (!data)
        return nv_fail(err, "out of memory allocating %lld floats",
                       (long long)n);
    t->dtype = NV_F32;
    t->ndim = ndim;
    t->data = data;
    t->owned = 1;
    return 0;
}

void nv_tensor_free(nv_tensor *t)
{
    if (t->owned) {
        free(t->data);
        free(t->scales);
    }
    memset(t, 0, sizeof *t);
}

float nv_bf16_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t nv_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays a quiet NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float nv_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) |
                ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t nv_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (absu >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (absu < 0x38800000u) { /* below the smallest normal f16: subnormal */
        if (absu < 0x33000000u)
            return (uint16_t)sign;
        uint32_t man = (absu & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absu >> 23); /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = absu + 0xfffu + ((absu >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}
