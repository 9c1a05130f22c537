/* image_decoders.h - the per-format decoders behind nv_image_decode.
 * Internal to vision/: image.c picks one by the file's signature.
 *
 * Each decoder reads the header first, checks 0 < width * height <=
 * max_pixels (already resolved, > 0) before allocating pixels, and on
 * success fills `out` with an owned RGB image. Messages start with `name`.
 */
#ifndef NV_VISION_IMAGE_DECODERS_H
#define NV_VISION_IMAGE_DECODERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "vision/image.h"

/* vision/image_png.c (libpng). */
int nv_decode_png(const uint8_t *bytes, size_t len, const char *name,
                  int64_t max_pixels, nv_image *out, nv_error *err);

/* vision/image_jpeg.c (libjpeg-turbo). A file with more scans than
 * NV_JPEG_MAX_SCANS is refused while decoding (each scan of a progressive
 * JPEG is a pass over the whole image). */
#define NV_JPEG_MAX_SCANS 100
int nv_decode_jpeg(const uint8_t *bytes, size_t len, const char *name,
                   int64_t max_pixels, nv_image *out, nv_error *err);

/* vision/image_stb.c: BMP, GIF, TGA, PNM through stb_image.
 * `format` is the format name used in messages ("JPEG", ...). */
int nv_decode_stb(const uint8_t *bytes, size_t len, const char *name,
                  const char *format, int64_t max_pixels, nv_image *out,
                  nv_error *err);

/* vision/image_complete.c: refuses a JPEG/BMP/GIF/TGA/PNM whose data ends
 * before its header says (stb_image would pad it with zeros). */
int nv_image_check_complete(const char *format, const uint8_t *bytes,
                            size_t len, const char *name, nv_error *err);

/* vision/image_complete.c: refuses a PNM whose header width or height is
 * beyond 32 bits (stb_image reads such a number as -1), naming the
 * dimension; a header too short to say is left to the other checks. */
int nv_pnm_check_dims(const uint8_t *bytes, size_t len, const char *name,
                      nv_error *err);

/* A GIF whose logical screen has more than NV_GIF_MAX_SPARE_SCREEN pixels
 * and more than NV_GIF_MAX_SCREEN_RATIO times its first frame's pixels is
 * refused before stb_image allocates the screen (image_stb.c). */
#define NV_GIF_MAX_SPARE_SCREEN (1 << 20)
#define NV_GIF_MAX_SCREEN_RATIO 4

/* vision/image_gif.c: the first frame of a GIF. */
typedef struct nv_gif_frame {
    int transparent_index;  /* -1 when none */
    int left, top, width, height;
    const uint8_t *palette; /* active colour table (local, else global) */
    int palette_entries;
} nv_gif_frame;

/* Walks to the end of the first image; fails if it is cut off. */
int nv_gif_first_frame(const uint8_t *bytes, size_t len, const char *name,
                       nv_gif_frame *frame, nv_error *err);

/* Checks a size against the pixel cap; shared by the decoders. */
int nv_image_check_size(int64_t width, int64_t height, int64_t max_pixels,
                        const char *name, nv_error *err);

#endif
