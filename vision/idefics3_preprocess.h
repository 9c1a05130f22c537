/* idefics3_preprocess.h - Idefics3ImageProcessor (SmolVLM / Idefics3) as
 * preprocessor_config.json sets it up, for one image:
 *   1. resize so the longest edge is size.longest_edge (the other edge
 *      int(long / aspect), rounded up to even; at most 4096 per side as
 *      in transformers >= 4.48, where 4.47 refuses longest_edge > 1820);
 *   2. resize both edges up to multiples of M = max_image_size.longest_edge
 *      (the short edge from int(new_long / aspect));
 *   3. when larger than M x M: cut into rows x cols crops of M x M in
 *      row-major order, then add the whole image resized to M x M (the
 *      "global" frame, last); else the single M x M image, rows = cols = 0;
 *   4. rescale (x * rescale_factor in double, stored as float32) and
 *      normalise ((x - mean) / std in float32), channels first.
 * Every resize uses Pillow's filter `resample` (1 = Lanczos by default).
 * All frames are M x M, so the pixel_attention_mask of a single image is
 * all ones and is not materialised.
 *
 * Not reproduced: RGBA inputs are composited on white upstream after the
 * resizes; nvlm's decoder drops alpha when it reads the file.
 */
#ifndef NV_VISION_IDEFICS3_PREPROCESS_H
#define NV_VISION_IDEFICS3_PREPROCESS_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/tensor.h"
#include "vision/image.h"
#include "vision/resize.h"

typedef struct nv_idefics3_prep {
    int do_resize;
    int longest_edge;   /* size.longest_edge */
    int frame;          /* max_image_size.longest_edge: M */
    nv_resample_filter filter;
    int do_rescale;
    double rescale_factor;
    int do_normalize;
    float mean[3], std[3];
} nv_idefics3_prep;

/* Reads a preprocessor_config.json object (Idefics3ImageProcessor). */
int nv_idefics3_prep_parse(const cJSON *obj, const char *file,
                           nv_idefics3_prep *prep, nv_error *err);

/* Sizes of steps 1 and 2 for a w x h image. */
void nv_idefics3_resize_size(int w, int h, int longest_edge, int *out_w,
                             int *out_h);
void nv_idefics3_frame_size(int w, int h, int frame, int *out_w, int *out_h);

/* The whole processor: out [n, 3, M, M] (n = rows * cols + 1, or 1), and
 * the split grid (0 x 0 when not split). */
int nv_idefics3_preprocess(const nv_image *img, const nv_idefics3_prep *prep,
                           nv_tensor *out, int *rows, int *cols,
                           nv_error *err);

#endif
