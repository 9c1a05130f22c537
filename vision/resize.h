/* resize.h - Pillow-equal bicubic resizing of 8-bit RGB images.
 *
 * Follows Pillow's ImagingResample for Image.resize(size, BICUBIC) with the
 * default box: the cubic filter with a = -0.5, support 2 widened by the
 * scale when shrinking, coefficients normalised to sum 1 and rounded to
 * 22-bit fixed point, a horizontal pass (only over the source rows the
 * vertical pass reads) clipped to uint8, then a vertical pass clipped to
 * uint8. A pass whose size does not change is skipped, and an unchanged
 * size is a plain copy, as in Pillow. The result is bit-exact with Pillow
 * 9.4 (tests/vision/test_resize.c).
 */
#ifndef NV_VISION_RESIZE_H
#define NV_VISION_RESIZE_H

#include "core/error.h"
#include "vision/image.h"

typedef enum nv_resample_filter {
    NV_RESAMPLE_BICUBIC,  /* PIL.Image.BICUBIC (3) */
    NV_RESAMPLE_BILINEAR, /* PIL.Image.BILINEAR (2): triangle, support 1 */
    NV_RESAMPLE_LANCZOS,  /* PIL.Image.LANCZOS (1): a = 3, support 3 */
} nv_resample_filter;

/* The same two passes with another of Pillow's filters (the hub image
 * processors' `resample`), equally bit-exact. */
int nv_image_resize(const nv_image *src, int out_width, int out_height,
                    nv_resample_filter filter, nv_image *out, nv_error *err);

/* Resizes src to out_width x out_height into a new owned image. */
int nv_image_resize_bicubic(const nv_image *src, int out_width,
                            int out_height, nv_image *out, nv_error *err);

#endif
