/* mllama_preprocess.c - MllamaImageProcessor in C; see mllama_preprocess.h.
 * The bilinear resize follows Pillow's ImagingResample like resize.c does
 * for bicubic (triangle filter, support 1, widened when shrinking; 22-bit
 * fixed-point coefficients; horizontal pass then vertical pass). */
#include "vision/mllama_preprocess.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define COEFF_BITS 22

/* ---- Pillow bilinear -------------------------------------------------- */

typedef struct taps {
    int ksize;
    int *first;
    int *count;
    int32_t *coeffs; /* [out][ksize] */
} taps;

static void taps_free(taps *t)
{
    free(t->first);
    free(t->count);
    free(t->coeffs);
    memset(t, 0, sizeof *t);
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int taps_make(int in_size, int out_size, taps *t, nv_error *err)
{
    memset(t, 0, sizeof *t);
    /* Pillow passes the source box as floats; keep that rounding. */
    double scale = (double)(float)in_size / out_size;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filter_scale;
    double ksize = ceil(support) * 2 + 1;
    if (ksize > (double)INT32_MAX / 4 ||
        ksize * out_size > (double)(SIZE_MAX / sizeof(double)))
        return nv_fail(err, "resize: %d -> %d needs too many coefficients",
                       in_size, out_size);
    t->ksize = (int)ksize;
    t->first = malloc(sizeof *t->first * (size_t)out_size);
    t->count = malloc(sizeof *t->count * (size_t)out_size);
    t->coeffs = calloc((size_t)out_size * (size_t)t->ksize,
                       sizeof *t->coeffs);
    double *w = malloc(sizeof *w * (size_t)t->ksize);
    if (!t->first || !t->count || !t->coeffs || !w) {
        free(w);
        taps_free(t);
        return nv_fail(err, "resize: out of memory for %d -> %d", in_size,
                       out_size);
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0)
            lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size)
            hi = in_size;
        int n = hi - lo;
        double sum = 0, inv_scale = 1.0 / filter_scale;
        for (int k = 0; k < n; k++) {
            w[k] = triangle((k + lo - center + 0.5) * inv_scale);
            sum += w[k];
        }
        int32_t *dst = t->coeffs + (size_t)i * t->ksize;
        for (int k = 0; k < n; k++) {
            double v = sum != 0.0 ? w[k] / sum : w[k];
            double fixed = v * (1 << COEFF_BITS);
            dst[k] = (int32_t)(v < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
    free(w);
    return 0;
}

static uint8_t clip8(int64_t acc)
{
    if (acc <= 0)
        return 0;
    acc >>= COEFF_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* One pass along x (step 3 bytes within a row) or y (step = row bytes):
 * out has `lines` lines of out_n pixels; src line l starts at
 * src + l * src_line, pixel i of a line at i * step. */
static void pass(const uint8_t *src, size_t src_line, size_t step,
                 int lines, const taps *t, int out_n, uint8_t *dst,
                 size_t dst_line, size_t dst_step)
{
    const int64_t half = (int64_t)1 << (COEFF_BITS - 1);
    for (int l = 0; l < lines; l++)
        for (int i = 0; i < out_n; i++) {
            const int32_t *k = t->coeffs + (size_t)i * t->ksize;
            const uint8_t *p = src + (size_t)l * src_line +
                               (size_t)t->first[i] * step;
            int64_t acc[3] = {half, half, half};
            for (int j = 0; j < t->count[i]; j++, p += step)
                for (int c = 0; c < 3; c++)
                    acc[c] += p[c] * (int64_t)k[j];
            uint8_t *o = dst + (size_t)l * dst_line + (size_t)i * dst_step;
            for (int c = 0; c < 3; c++)
                o[c] = clip8(acc[c]);
        }
}

int nv_mllama_resize_bilinear(const nv_image *src, int out_width,
                              int out_height, nv_image *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (!src->rgb || src->width <= 0 || src->height <= 0 || out_width <= 0 ||
        out_height <= 0)
        return nv_fail(err, "resize: bad sizes %dx%d -> %dx%d", src->width,
                       src->height, out_width, out_height);
    if (nv_image_alloc(out, out_width, out_height, err))
        return -1;
    int W = src->width, H = src->height;
    if (W == out_width && H == out_height) {
        memcpy(out->rgb, src->rgb, (size_t)W * H * 3);
        return 0;
    }
    taps th = {0}, tv = {0};
    uint8_t *mid = NULL;
    int rc = -1;
    if (W != out_width && taps_make(W, out_width, &th, err))
        goto done;
    if (H != out_height && taps_make(H, out_height, &tv, err))
        goto done;
    if (H == out_height) {
        pass(src->rgb, (size_t)W * 3, 3, H, &th, out_width, out->rgb,
             (size_t)out_width * 3, 3);
        rc = 0;
        goto done;
    }
    /* Horizontal pass only over the rows the vertical pass reads. */
    int row0 = tv.first[0];
    int row_end = tv.first[out_height - 1] + tv.count[out_height - 1];
    int mid_w = W == out_width ? W : out_width;
    mid = malloc((size_t)mid_w * (size_t)(row_end - row0) * 3 + 1);
    if (!mid) {
        nv_fail(err, "resize: out of memory");
        goto done;
    }
    if (W == out_width)
        memcpy(mid, src->rgb + (size_t)row0 * W * 3,
               (size_t)W * (size_t)(row_end - row0) * 3);
    else
        pass(src->rgb + (size_t)row0 * W * 3, (size_t)W * 3, 3,
             row_end - row0, &th, out_width, mid, (size_t)out_width * 3, 3);
    /* Vertical: lines are columns (3 bytes apart), pixels rows apart. The
     * taps index image rows, so shift the source up by row0. */
    for (int i = 0; i < out_height; i++)
        tv.first[i] -= row0;
    pass(mid, 3, (size_t)mid_w * 3, mid_w, &tv, out_height, out->rgb, 3,
         (size_t)out_width * 3);
    rc = 0;
done:
    free(mid);
    taps_free(&th);
    taps_free(&tv);
    if (rc)
        nv_image_free(out);
    return rc;
}

/* ---- tiling ----------------------------------------------------------- */

int nv_mllama_aspect_ratio_id(int rows, int cols, int max_tiles)
{
    int id = 0;
    for (int a = 1; a <= max_tiles; a++)
        for (int b = 1; b <= max_tiles; b++) {
            if (a * b > max_tiles)
                continue;
            id++;
            if (a == rows && b == cols)
                return id;
        }
    return 0;
}

int nv_mllama_canvas(int width, int height, int tile_size, int max_tiles,
                     int *rows, int *cols, nv_error *err)
{
    if (width < 1 || height < 1 || tile_size < 1 || max_tiles < 1)
        return nv_fail(err, "mllama tiling: bad sizes (image %dx%d, tile %d, "
                       "%d tiles)", width, height, tile_size, max_tiles);
    double best_up = INFINITY, best_down = -INFINITY;
    /* Pass 1: the selected scale; pass 2: the smallest canvas with it. */
    for (int a = 1; a <= max_tiles; a++)
        for (int b = 1; b * a <= max_tiles; b++) {
            double sh = (double)(a * tile_size) / height;
            double sw = (double)(b * tile_size) / width;
            double s = sw > sh ? sh : sw;
            if (s >= 1 && s < best_up)
                best_up = s;
            if (s < 1 && s > best_down)
                best_down = s;
        }
    double want = isfinite(best_up) ? best_up : best_down;
    long long best_area = -1;
    for (int a = 1; a <= max_tiles; a++)
        for (int b = 1; b * a <= max_tiles; b++) {
            double sh = (double)(a * tile_size) / height;
            double sw = (double)(b * tile_size) / width;
            double s = sw > sh ? sh : sw;
            long long area = (long long)a * b;
            if (s == want && (best_area < 0 || area < best_area)) {
                best_area = area;
                *rows = a;
                *cols = b;
            }
        }
    return 0;
}

/* get_image_size_fit_to_canvas. */
static void fit_to_canvas(int width, int height, int canvas_w, int canvas_h,
                          int tile, int *new_w, int *new_h)
{
    int tw = width < tile ? tile : width > canvas_w ? canvas_w : width;
    int th = height < tile ? tile : height > canvas_h ? canvas_h : height;
    double sh = (double)th / height, sw = (double)tw / width;
    if (sw < sh) {
        long v = (long)floor(height * sw);
        *new_w = tw;
        *new_h = (int)((v ? v : 1) < th ? (v ? v : 1) : th);
    } else {
        long v = (long)floor(width * sh);
        *new_h = th;
        *new_w = (int)((v ? v : 1) < tw ? (v ? v : 1) : tw);
    }
}

int nv_mllama_preprocess(const nv_image *img, const nv_mllama_prep_opts *o,
                         nv_mllama_prep_out *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    int S = o->tile_size, rows = 0, cols = 0;
    if (nv_mllama_canvas(img->width, img->height, S, o->max_tiles, &rows,
                         &cols, err))
        return -1;
    int new_w, new_h;
    fit_to_canvas(img->width, img->height, cols * S, rows * S, S, &new_w,
                  &new_h);
    nv_image small = {0};
    if (nv_mllama_resize_bilinear(img, new_w, new_h, &small, err))
        return -1;
    int64_t shape[4] = {o->max_tiles, 3, S, S};
    if (nv_tensor_alloc_f32(&out->pixels, 4, shape, err)) {
        nv_image_free(&small);
        return -1;
    }
    float *px = out->pixels.data;
    memset(px, 0, sizeof(float) * (size_t)nv_tensor_numel(&out->pixels));
    /* The zero padding is normalised like the image: (0 - mean) / std. */
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            for (int ch = 0; ch < 3; ch++) {
                float *plane = px + (((size_t)r * cols + c) * 3 + ch) * S * S;
                for (int y = 0; y < S; y++)
                    for (int x = 0; x < S; x++) {
                        int iy = r * S + y, ix = c * S + x;
                        int v = iy < new_h && ix < new_w
                                    ? small.rgb[((size_t)iy * new_w + ix) * 3 +
                                                ch]
                                    : 0;
                        float f = (float)(v * o->rescale);
                        plane[(size_t)y * S + x] =
                            (f - o->mean[ch]) / o->std[ch];
                    }
            }
    nv_image_free(&small);
    out->rows = rows;
    out->cols = cols;
    out->n_tiles = rows * cols;
    out->aspect_ratio_id = nv_mllama_aspect_ratio_id(rows, cols,
                                                     o->max_tiles);
    return 0;
}
