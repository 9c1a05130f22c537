/* mllama_preprocess.c - MllamaImageProcessor in C; see mllama_preprocess.h.
 * The bilinear resize is resize.c's Pillow-exact two-pass resampling. */
#include "vision/mllama_preprocess.h"
#include "vision/resize.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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
    if (nv_image_resize(img, new_w, new_h, NV_RESAMPLE_BILINEAR, &small, err))
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
