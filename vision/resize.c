/* resize.c - Pillow's two-pass resampling (bicubic, bilinear, Lanczos);
 * see resize.h. */
#include "vision/resize.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fixed-point bits of the coefficients: 8 bits of pixel value and 2 bits
 * of headroom for coefficient sums above 1 stay inside 32 bits, as in
 * Pillow (PRECISION_BITS). */
#define COEFF_BITS 22

/* The filter taps of one axis: output i reads `count[i]` source pixels from
 * `first[i]` on with weights coeffs[i * ksize ...]. */
struct axis_filter {
    int ksize;
    int *first;
    int *count;
    int32_t *coeffs;
};

static void axis_filter_free(struct axis_filter *f)
{
    free(f->first);
    free(f->count);
    free(f->coeffs);
    memset(f, 0, sizeof *f);
}

/* Keys' cubic convolution kernel with a = -0.5. */
static double cubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

/* Lanczos with a = 3: sinc windowed by a sinc three times wider. */
static double lanczos(double x)
{
    if (-3.0 <= x && x < 3.0)
        return sinc(x) * sinc(x / 3);
    return 0.0;
}

typedef double (*filter_fn)(double x);

static int axis_filter_make(int in_size, int out_size,
                            nv_resample_filter which, struct axis_filter *f,
                            nv_error *err)
{
    memset(f, 0, sizeof *f);
    filter_fn filter = which == NV_RESAMPLE_LANCZOS    ? lanczos
                       : which == NV_RESAMPLE_BILINEAR ? triangle
                                                       : cubic;
    double filter_support = which == NV_RESAMPLE_LANCZOS    ? 3.0
                            : which == NV_RESAMPLE_BILINEAR ? 1.0
                                                            : 2.0;
    /* Pillow passes the source box as floats; keep that rounding. */
    double scale = (double)(float)in_size / out_size;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = filter_support * filter_scale;
    double ksize_d = ceil(support) * 2 + 1;
    if (ksize_d > (double)(SIZE_MAX / sizeof(double)) / out_size ||
        ksize_d > INT32_MAX)
        return nv_fail(err, "resize: %d -> %d needs too many coefficients",
                       in_size, out_size);
    f->ksize = (int)ksize_d;
    size_t n = (size_t)out_size * (size_t)f->ksize;
    f->first = malloc(sizeof *f->first * (size_t)out_size);
    f->count = malloc(sizeof *f->count * (size_t)out_size);
    f->coeffs = calloc(n, sizeof *f->coeffs);
    double *weights = malloc(sizeof *weights * (size_t)f->ksize);
    if (!f->first || !f->count || !f->coeffs || !weights) {
        free(weights);
        axis_filter_free(f);
        return nv_fail(err, "resize: out of memory for %d -> %d", in_size,
                       out_size);
    }

    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        double inv_scale = 1.0 / filter_scale;
        /* (int) truncation then clamping, exactly as Pillow rounds. */
        int lo = (int)(center - support + 0.5);
        if (lo < 0)
            lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size)
            hi = in_size;
        int count = hi - lo;
        double sum = 0.0;
        for (int k = 0; k < count; k++) {
            weights[k] = filter((k + lo - center + 0.5) * inv_scale);
            sum += weights[k];
        }
        int32_t *dst = f->coeffs + (size_t)i * (size_t)f->ksize;
        for (int k = 0; k < count; k++) {
            double w = sum != 0.0 ? weights[k] / sum : weights[k];
            double fixed = w * (1 << COEFF_BITS);
            dst[k] = (int32_t)(w < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        f->first[i] = lo;
        f->count[i] = count;
    }
    free(weights);
    return 0;
}

/* Fixed-point sum back to uint8 with Pillow's clipping. */
static uint8_t clip_fixed(int64_t acc)
{
    if (acc <= 0)
        return 0;
    acc >>= COEFF_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* Horizontal pass over source rows [row0, row0 + rows). */
static void resample_rows(const nv_image *src, int row0, int rows,
                          const struct axis_filter *f, int out_width,
                          uint8_t *dst)
{
    const int64_t half = 1 << (COEFF_BITS - 1);
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src->rgb + (size_t)(row0 + y) * src->width * 3;
        uint8_t *out = dst + (size_t)y * out_width * 3;
        for (int x = 0; x < out_width; x++) {
            const int32_t *k = f->coeffs + (size_t)x * f->ksize;
            const uint8_t *p = in + (size_t)f->first[x] * 3;
            int64_t r = half, g = half, b = half;
            for (int t = 0; t < f->count[x]; t++, p += 3) {
                r += p[0] * (int64_t)k[t];
                g += p[1] * (int64_t)k[t];
                b += p[2] * (int64_t)k[t];
            }
            out[x * 3 + 0] = clip_fixed(r);
            out[x * 3 + 1] = clip_fixed(g);
            out[x * 3 + 2] = clip_fixed(b);
        }
    }
}

/* Vertical pass; src row r holds image row r + row0. */
static void resample_columns(const uint8_t *src, int width, int row0,
                             const struct axis_filter *f, int out_height,
                             uint8_t *dst)
{
    const int64_t half = 1 << (COEFF_BITS - 1);
    size_t stride = (size_t)width * 3;
    for (int y = 0; y < out_height; y++) {
        const int32_t *k = f->coeffs + (size_t)y * f->ksize;
        const uint8_t *top = src + (size_t)(f->first[y] - row0) * stride;
        uint8_t *out = dst + (size_t)y * stride;
        for (size_t c = 0; c < stride; c++) {
            int64_t acc = half;
            const uint8_t *p = top + c;
            for (int t = 0; t < f->count[y]; t++, p += stride)
                acc += *p * (int64_t)k[t];
            out[c] = clip_fixed(acc);
        }
    }
}

int nv_image_resize_bicubic(const nv_image *src, int out_width,
                            int out_height, nv_image *out, nv_error *err)
{
    return nv_image_resize(src, out_width, out_height, NV_RESAMPLE_BICUBIC,
                           out, err);
}

int nv_image_resize(const nv_image *src, int out_width, int out_height,
                    nv_resample_filter filter, nv_image *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (!src->rgb || src->width <= 0 || src->height <= 0)
        return nv_fail(err, "resize: empty source image");
    if (out_width <= 0 || out_height <= 0)
        return nv_fail(err, "resize: bad target size %dx%d", out_width,
                       out_height);
    int need_horizontal = out_width != src->width;
    int need_vertical = out_height != src->height;
    if (nv_image_alloc(out, out_width, out_height, err) != 0)
        return -1;
    if (!need_horizontal && !need_vertical) {
        memcpy(out->rgb, src->rgb, (size_t)out_width * out_height * 3);
        return 0;
    }

    struct axis_filter vert = {0}, horiz = {0};
    uint8_t *temp = NULL;
    int rc = -1;
    if (need_vertical &&
        axis_filter_make(src->height, out_height, filter, &vert, err) != 0)
        goto done;
    if (!need_horizontal) {
        resample_columns(src->rgb, src->width, 0, &vert, out_height,
                         out->rgb);
        rc = 0;
        goto done;
    }
    if (axis_filter_make(src->width, out_width, filter, &horiz, err) != 0)
        goto done;
    if (!need_vertical) {
        resample_rows(src, 0, src->height, &horiz, out_width, out->rgb);
        rc = 0;
        goto done;
    }
    /* Only the source rows the vertical pass reads go through the
     * horizontal pass. */
    int row0 = vert.first[0];
    int row_end = vert.first[out_height - 1] + vert.count[out_height - 1];
    temp = malloc((size_t)out_width * (size_t)(row_end - row0) * 3);
    if (!temp) {
        nv_fail(err, "resize: out of memory for %dx%d", out_width,
                row_end - row0);
        goto done;
    }
    resample_rows(src, row0, row_end - row0, &horiz, out_width, temp);
    resample_columns(temp, out_width, row0, &vert, out_height, out->rgb);
    rc = 0;
done:
    free(temp);
    axis_filter_free(&vert);
    axis_filter_free(&horiz);
    if (rc != 0)
        nv_image_free(out);
    return rc;
}
