/* mllama_preprocess.h - Llama 3.2 Vision's image processor
 * (Hugging Face MllamaImageProcessor) for one RGB image.
 *
 * 1. Canvas: among the tile grids (w, h) with w*h <= max_tiles, the scale
 *    that fits the image into (h*S, w*S) without distortion is the smallest
 *    one >= 1 (upscaling) or else the largest one < 1; among the grids with
 *    exactly that scale the smallest canvas area wins (first on a tie).
 * 2. Resize (Pillow bilinear on 8-bit RGB) to the size that fits the canvas
 *    (each side clipped to [S, canvas side], aspect kept, floor, >= 1).
 * 3. Pad with 0 at the bottom and right up to the canvas; pixels become
 *    float32(v / 255) and then (x - mean) / std per channel.
 * 4. Cut into tiles row-major, then append zero tiles up to max_tiles.
 * aspect_ratio_id = 1 + index of (rows, cols) in the grid list above (the
 * upstream lookup uses (tiles high, tiles wide) as the pair).
 *
 * Difference from upstream: an image with alpha is not composited on white
 * (the decoder drops alpha, vision/image.h).
 */
#ifndef NV_VISION_MLLAMA_PREPROCESS_H
#define NV_VISION_MLLAMA_PREPROCESS_H

#include "core/error.h"
#include "core/tensor.h"
#include "vision/image.h"

typedef struct nv_mllama_prep_opts {
    int tile_size;      /* S */
    int max_tiles;
    double rescale;     /* 1/255 */
    float mean[3];
    float std[3];
} nv_mllama_prep_opts;

typedef struct nv_mllama_prep_out {
    nv_tensor pixels;   /* [max_tiles, 3, S, S], owned */
    int rows, cols;     /* the tile grid */
    int n_tiles;        /* rows * cols real tiles */
    int aspect_ratio_id;
} nv_mllama_prep_out;

/* The tile grid for an image of width x height (step 1). */
int nv_mllama_canvas(int width, int height, int tile_size, int max_tiles,
                     int *rows, int *cols, nv_error *err);

/* 1-based id of a grid, 0 when it is not one of the supported grids. */
int nv_mllama_aspect_ratio_id(int rows, int cols, int max_tiles);

int nv_mllama_preprocess(const nv_image *img, const nv_mllama_prep_opts *o,
                         nv_mllama_prep_out *out, nv_error *err);

#endif
