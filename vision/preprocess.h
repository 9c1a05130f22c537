/* preprocess.h - image -> normalised tile tensor for the vision encoder.
 *
 * The InternVL / NVLM-D data path: dynamic tiling (tiling.h), then per
 * tile torchvision's ToTensor (x / 255 in f32) and Normalize
 * ((x - mean) / std in f32), giving a tensor [num_tiles, 3, S, S] in CHW
 * order. (The per-tile T.Resize((S, S), BICUBIC) of upstream is a no-op:
 * tiles already are S x S and Pillow returns a copy.)
 */
#ifndef NV_VISION_PREPROCESS_H
#define NV_VISION_PREPROCESS_H

#include "core/error.h"
#include "core/tensor.h"
#include "vision/image.h"
#include "vision/tiling.h"

typedef struct nv_preprocess_opts {
    nv_tiling_opts tiling;
    float mean[3]; /* per channel, R G B */
    float std[3];  /* per channel, all > 0 */
} nv_preprocess_opts;

/* Default tiling (448, 1..6 tiles, thumbnail) and ImageNet mean/std. */
nv_preprocess_opts nv_preprocess_opts_default(void);

/* Normalises tiles into an owned f32 tensor [count, 3, S, S]. */
int nv_tiles_normalize(const nv_tiles *tiles, const float mean[3],
                       const float std[3], nv_tensor *out, nv_error *err);

/* The whole path; `grid` (may be NULL) receives the chosen grid. */
int nv_preprocess_image(const nv_image *img, const nv_preprocess_opts *opts,
                        nv_tile_grid *grid, nv_tensor *out, nv_error *err);

#endif
