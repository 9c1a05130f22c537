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

/* Resizes src to out_width x out_height into a new owned image. */
int nv_image_resize_bicubic(const nv_image *src, int out_width,
                            int out_height, nv_image *out, nv_error *err);

#endif
