/* test_tensor.c - dtype table, allocation limits and the f16/bf16 scalar
 * conversions. The conversions are checked against hand-derived IEEE bit
 * patterns (zeros, subnormals, infinities, NaN, round-to-nearest-even ties),
 * by exhaustive round trips, and - where the compiler has _Float16 - against
 * the compiler's own f32 <-> f16 conversion over every f16 value, every tie
 * between neighbouring f16 values and a stride through all f32 bit
 * patterns. bf16 rounding is checked against a reference that picks the
 * nearer of the two truncation neighbours in double precision. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/tensor.h"
#include "tests/check.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int is_f16_nan(uint16_t h)
{
    return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
}

static int is_bf16_nan(uint16_t b)
{
    return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0;
}

static void check_dtypes(void)
{
    nv_dtype dt;
    CHECK(nv_dtype_parse("BF16", &dt) == 0 && dt == NV_BF16);
    CHECK(nv_dtype_parse("F64", &dt) == 0 && dt == NV_F64);
    CHECK(nv_dtype_parse("BOOL", &dt) == 0 && dt == NV_BOOL);
    CHECK(nv_dtype_parse("f32", &dt) != 0); /* names are case-sensitive */
    CHECK(nv_dtype_parse("F8_E4M3", &dt) != 0);
    CHECK(nv_dtype_parse("", &dt) != 0);
    CHECK(nv_dtype_size(NV_F32) == 4 && nv_dtype_size(NV_F16) == 2 &&
          nv_dtype_size(NV_BF16) == 2 && nv_dtype_size(NV_F64) == 8 &&
          nv_dtype_size(NV_I64) == 8 && nv_dtype_size(NV_I32) == 4 &&
          nv_dtype_size(NV_I16) == 2 && nv_dtype_size(NV_I8) == 1 &&
          nv_dtype_size(NV_U8) == 1 && nv_dtype_size(NV_BOOL) == 1);
    CHECK(!strcmp(nv_dtype_name(NV_I16), "I16"));
}

static void check_alloc(void)
{
    nv_error err = {{0}};
    nv_tensor t;
    const int64_t shape[3] = {2, 3, 4};
    CHECK(nv_tensor_alloc_f32(&t, 3, shape, &err) == 0);
    CHECK(t.owned && t.dtype == NV_F32 && nv_tensor_numel(&t) == 24);
    int zero = 1;
    for (int i = 0; i < 24; i++)
        zero &= nv_tensor_f32(&t)[i] == 0.0f;
    CHECK(zero);
    nv_tensor_free(&t);
    CHECK(t.data == NULL && t.ndim == 0);
    nv_tensor_free(&t); /* safe twice */

    const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    CHECK(nv_tensor_alloc_f32(&t, 2, huge, &err) != 0);
    CHECK(strstr(err.msg, "overflow") != NULL);
    CHECK(t.data == NULL);
    const int64_t max1[1] = {INT64_MAX};
    CHECK(nv_tensor_alloc_f32(&t, 1, max1, &err) != 0);
    const int64_t negative[2] = {4, -1};
    CHECK(nv_tensor_alloc_f32(&t, 2, negative, &err) != 0);
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(nv_tensor_alloc_f32(&t, 9, nine, &err) != 0);
    const int64_t empty[2] = {0, 5};
    CHECK(nv_tensor_alloc_f32(&t, 2, empty, &err) == 0 &&
          nv_tensor_numel(&t) == 0);
    nv_tensor_free(&t);
    CHECK(nv_tensor_alloc_f32(&t, 0, NULL, &err) == 0 &&
          nv_tensor_numel(&t) == 1); /* a scalar */
    nv_tensor_free(&t);

    /* A borrowed view is only forgotten, never freed. */
    float outside[2] = {1, 2};
    nv_tensor view = {.dtype = NV_F32, .ndim = 1, .shape = {2},
                      .data = outside, .owned = 0};
    nv_tensor_free(&view);
    CHECK(outside[1] == 2.0f && view.data == NULL);
}

static void check_f16_patterns(void)
{
    /* f16 -> f32 */
    CHECK(to_bits(nv_f16_to_f32(0x0000)) == 0x00000000u);
    CHECK(to_bits(nv_f16_to_f32(0x8000)) == 0x80000000u);
    CHECK(nv_f16_to_f32(0x3c00) == 1.0f);
    CHECK(nv_f16_to_f32(0xc000) == -2.0f);
    CHECK(nv_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(nv_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(nv_f16_to_f32(0x0400) == ldexpf(1, -14));       /* min normal */
    CHECK(nv_f16_to_f32(0x0001) == ldexpf(1, -24));       /* min subnormal */
    CHECK(nv_f16_to_f32(0x03ff) == ldexpf(1023, -24));    /* max subnormal */
    CHECK(nv_f16_to_f32(0x8200) == -ldexpf(1, -15));
    CHECK(to_bits(nv_f16_to_f32(0x7c00)) == 0x7f800000u); /* +inf */
    CHECK(to_bits(nv_f16_to_f32(0xfc00)) == 0xff800000u); /* -inf */
    CHECK(isnan(nv_f16_to_f32(0x7e00)));
    CHECK(isnan(nv_f16_to_f32(0x7c01))); /* signalling NaN stays NaN */
    CHECK(isnan(nv_f16_to_f32(0xfe00)));

    /* f32 -> f16, including ties to even */
    CHECK(nv_f32_to_f16(1.0f) == 0x3c00);
    CHECK(nv_f32_to_f16(-0.0f) == 0x8000);
    CHECK(nv_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(nv_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(nv_f32_to_f16(65520.0f) == 0x7c00); /* tie with 65536: to inf */
    CHECK(nv_f32_to_f16(1e10f) == 0x7c00);
    CHECK(nv_f32_to_f16(-1e10f) == 0xfc00);
    CHECK(nv_f32_to_f16(INFINITY) == 0x7c00);
    CHECK(nv_f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(is_f16_nan(nv_f32_to_f16(NAN)));
    CHECK(is_f16_nan(nv_f32_to_f16(from_bits(0x7f800001u))));
    CHECK(nv_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);     /* tie, even */
    CHECK(nv_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02); /* tie, up */
    CHECK(nv_f32_to_f16(from_bits(to_bits(1.0f + ldexpf(1, -11)) + 1)) ==
          0x3c01); /* just above the tie */
    CHECK(nv_f32_to_f16(ldexpf(1, -24)) == 0x0001);
    CHECK(nv_f32_to_f16(ldexpf(1, -25)) == 0x0000);     /* tie to 0 */
    CHECK(nv_f32_to_f16(-ldexpf(1, -25)) == 0x8000);
    CHECK(nv_f32_to_f16(ldexpf(3, -25)) == 0x0002);     /* tie to even 2 */
    CHECK(nv_f32_to_f16(ldexpf(5, -25)) == 0x0002);     /* tie to even 2 */
    CHECK(nv_f32_to_f16(from_bits(to_bits(ldexpf(1, -25)) + 1)) == 0x0001);
    CHECK(nv_f32_to_f16(ldexpf(1, -26)) == 0x0000);
    CHECK(nv_f32_to_f16(ldexpf(2047, -25)) == 0x0400); /* max sub -> normal */
    CHECK(nv_f32_to_f16(ldexpf(1, -14)) == 0x0400);
    CHECK(nv_f32_to_f16(from_bits(1)) == 0x0000); /* f32 subnormal */
}

static void check_bf16_patterns(void)
{
    CHECK(nv_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(nv_bf16_to_f32(0xc0a0) == -5.0f);
    CHECK(nv_bf16_to_f32(0x0001) == ldexpf(1, -133)); /* subnormal */
    CHECK(to_bits(nv_bf16_to_f32(0x8000)) == 0x80000000u);
    CHECK(to_bits(nv_bf16_to_f32(0x7f80)) == 0x7f800000u);
    CHECK(to_bits(nv_bf16_to_f32(0xff80)) == 0xff800000u);
    CHECK(isnan(nv_bf16_to_f32(0x7fc0)));
    CHECK(isnan(nv_bf16_to_f32(0x7f81)));

    CHECK(nv_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(nv_f32_to_bf16(-0.0f) == 0x8000);
    CHECK(nv_f32_to_bf16(1.0f + ldexpf(1, -8)) == 0x3f80);     /* tie, even */
    CHECK(nv_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)) == 0x3f82); /* tie, up */
    CHECK(nv_f32_to_bf16(1.0f + ldexpf(1, -8) + ldexpf(1, -23)) == 0x3f81);
    CHECK(nv_f32_to_bf16(from_bits(0x7f7fffffu)) == 0x7f80); /* max -> inf */
    CHECK(nv_f32_to_bf16(INFINITY) == 0x7f80);
    CHECK(nv_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(is_bf16_nan(nv_f32_to_bf16(NAN)));
    CHECK(is_bf16_nan(nv_f32_to_bf16(from_bits(0x7f800001u)))); /* low bits */
    CHECK(is_bf16_nan(nv_f32_to_bf16(from_bits(0xff800001u))));
    CHECK(nv_f32_to_bf16(from_bits(0x00008000u)) == 0x0000); /* sub tie */
    CHECK(nv_f32_to_bf16(from_bits(0x00018000u)) == 0x0002);
    CHECK(nv_f32_to_bf16(from_bits(0x00008001u)) == 0x0001);
}

static void check_round_trips(void)
{
    int f16_ok = 1, bf16_ok = 1;
    for (uint32_t h = 0; h <= 0xffffu; h++) {
        uint16_t back = nv_f32_to_f16(nv_f16_to_f32((uint16_t)h));
        if (is_f16_nan((uint16_t)h))
            f16_ok &= is_f16_nan(back) && (back & 0x8000u) == (h & 0x8000u);
        else
            f16_ok &= back == h;
        uint16_t bback = nv_f32_to_bf16(nv_bf16_to_f32((uint16_t)h));
        if (is_bf16_nan((uint16_t)h))
            bf16_ok &= is_bf16_nan(bback) &&
                       (bback & 0x8000u) == (h & 0x8000u);
        else
            bf16_ok &= bback == h;
    }
    CHECK(f16_ok);
    CHECK(bf16_ok);
}

/* Reference bf16 rounding: the nearer of the two truncation neighbours,
 * measured in double; ties go to the even one. Finite, non-NaN input whose
 * rounding does not overflow. */
static uint16_t ref_f32_to_bf16(uint32_t u)
{
    uint32_t lo = u & 0xffff0000u;
    uint32_t hi = lo + 0x10000u;
    double x = fabs((double)from_bits(u));
    double dlo = x - fabs((double)from_bits(lo));
    double dhi = fabs((double)from_bits(hi)) - x;
    if (dlo < dhi || (dlo == dhi && !((lo >> 16) & 1u)))
        return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

static void check_bf16_reference(void)
{
    long bad = 0, checked = 0;
    for (uint64_t u = 0; u <= 0xffffffffu; u += 65521) {
        uint32_t bits = (uint32_t)u;
        /* Also exercise the exact tie and its neighbours near this value. */
        uint32_t probes[4] = {bits, (bits & 0xffff0000u) | 0x8000u,
                              (bits & 0xffff0000u) | 0x7fffu,
                              (bits & 0xffff0000u) | 0x8001u};
        for (int p = 0; p < 4; p++) {
            uint32_t b = probes[p];
            if ((b & 0x7f800000u) == 0x7f800000u ||
                (b & 0x7fffffffu) >= 0x7f7f8000u)
                continue; /* inf/NaN and overflow checked by pattern */
            checked++;
            bad += nv_f32_to_bf16(from_bits(b)) != ref_f32_to_bf16(b);
        }
    }
    printf("bf16 rounding: %ld values vs reference, %ld differ\n", checked,
           bad);
    CHECK(checked > 200000 && bad == 0);
}

#if defined(__FLT16_MAX__)
/* The compiler's f16 conversion (IEEE, round to nearest even) is an
 * independent reference. */
static uint16_t compiler_f32_to_f16(float f)
{
    __extension__ _Float16 h = (_Float16)f;
    uint16_t bits;
    memcpy(&bits, &h, sizeof bits);
    return bits;
}

static float compiler_f16_to_f32(uint16_t bits)
{
    __extension__ _Float16 h;
    memcpy(&h, &bits, sizeof h);
    return (float)h;
}

static int same_f16(uint16_t a, uint16_t b)
{
    return a == b || (is_f16_nan(a) && is_f16_nan(b));
}

static void check_f16_reference(void)
{
    long bad = 0, checked = 0;
    for (uint32_t h = 0; h <= 0xffffu; h++) {
        float mine = nv_f16_to_f32((uint16_t)h);
        float ref = compiler_f16_to_f32((uint16_t)h);
        checked++;
        bad += !(to_bits(mine) == to_bits(ref) || (isnan(mine) && isnan(ref)));
        /* Ties between h and h+1 (same sign, finite), and one ulp around. */
        if ((h & 0x7fffu) >= 0x7bffu)
            continue;
        double mid = ((double)nv_f16_to_f32((uint16_t)h) +
                      (double)nv_f16_to_f32((uint16_t)(h + 1))) / 2;
        uint32_t tie = to_bits((float)mid);
        for (uint32_t b = tie - 1; b <= tie + 1; b++) {
            checked++;
            bad += !same_f16(nv_f32_to_f16(from_bits(b)),
                             compiler_f32_to_f16(from_bits(b)));
        }
    }
    for (uint64_t u = 0; u <= 0xffffffffu; u += 4099) {
        float f = from_bits((uint32_t)u);
        checked++;
        bad += !same_f16(nv_f32_to_f16(f), compiler_f32_to_f16(f));
    }
    printf("f16 conversions: %ld values vs compiler _Float16, %ld differ\n",
           checked, bad);
    CHECK(bad == 0);
}
#endif

int main(void)
{
    check_dtypes();
    check_alloc();
    check_f16_patterns();
    check_bf16_patterns();
    check_round_trips();
    check_bf16_reference();
#if defined(__FLT16_MAX__)
    check_f16_reference();
#else
    printf("no _Float16 in this compiler: f16 checked by patterns only\n");
#endif
    return check_summary("tensor");
}
