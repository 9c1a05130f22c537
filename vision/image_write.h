/* image_write.h - writing an 8-bit RGB image as PNG (libpng), for debug
 * overlays and cell tiles that people look at. */
#ifndef NV_VISION_IMAGE_WRITE_H
#define NV_VISION_IMAGE_WRITE_H

#include "core/error.h"
#include "vision/image.h"

/* Writes img to path; the message names the file on failure. */
int nv_image_write_png(const nv_image *img, const char *path, nv_error *err);

#endif
