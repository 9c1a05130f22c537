/* image.h - decoding image files into 8-bit RGB.
 *
 * The result equals what Pillow gives for Image.open(path).convert("RGB"):
 * alpha is dropped (not composited), gray is replicated, palette indices are
 * looked up (an index past the palette reads as gray (i, i, i), as in
 * Pillow), 16-bit RGB/RGBA/gray+alpha samples keep their high byte and
 * 16-bit gray is clipped to 0..255 (Pillow's mode "I" -> "RGB").
 *
 * PNG goes through libpng (every bit depth and color type, tRNS, Adam7
 * interlace); JPEG through libjpeg-turbo (pixels equal Pillow's, which uses
 * it too; at most 100 scans); BMP, GIF (first frame), TGA and binary PNM
 * (P5/P6, maxval 255 only) through stb_image. See docs/preprocessing.md
 * and, for what bounds each decoder, docs/formats.md.
 *
 * Untrusted input: the header is read first and an image that is empty or
 * larger than max_pixels is refused before any pixel memory is allocated.
 * Corrupt or truncated files give an error naming the file and the problem.
 *
 * Ownership: a loaded nv_image owns its pixels; free with nv_image_free.
 */
#ifndef NV_VISION_IMAGE_H
#define NV_VISION_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Default cap on width * height: 64 megapixels. */
#define NV_IMAGE_DEFAULT_MAX_PIXELS ((int64_t)64 * 1000 * 1000)

/* Files larger than this are refused before reading them. */
#define NV_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

typedef struct nv_image {
    int width;
    int height;
    uint8_t *rgb; /* width * height * 3 bytes, row-major, R G B */
} nv_image;

/* Reads and decodes an image file. max_pixels <= 0 means the default cap. */
int nv_image_load(const char *path, int64_t max_pixels, nv_image *out,
                  nv_error *err);

/* Decodes an image held in memory; `name` is only used in messages. */
int nv_image_decode(const uint8_t *bytes, size_t len, const char *name,
                    int64_t max_pixels, nv_image *out, nv_error *err);

/* Allocates an uninitialised width x height image (both > 0). */
int nv_image_alloc(nv_image *img, int width, int height, nv_error *err);

/* Frees the pixels and resets the image. Safe on an empty image. */
void nv_image_free(nv_image *img);

#endif
