/* image_stb.c - BMP, GIF, TGA and PNM decoding with stb_image (JPEG went
 * to libjpeg-turbo, image_jpeg.c, for its bounded work and fuzzing record).
 *
 * Debian's libstb already compiles the stb_image implementation, so only
 * the declarations are included here. stb_image asks for 3 channels, which
 * replicates gray and drops alpha like Pillow's convert("RGB").
 *
 * Bounds: BMP, TGA and PNM are uncompressed or run-length coded, and the
 * structure walk (image_complete.c) makes sure the file holds the data the
 * header promises, so work and memory follow the file size. A GIF's work
 * follows its LZW data, but stb_image's memory follows the logical screen,
 * so a screen much larger than the first frame is refused (below).
 *
 * stb_image decodes a truncated file without complaint (it pads the missing
 * data with zeros), while Pillow refuses it; so the file's structure is
 * first checked to be complete (image_complete.c).
 *
 * GIF transparency: stb_image leaves the transparent pixels of the first
 * frame black (alpha 0); Pillow's convert("RGB") gives them the colour of
 * the transparent palette index. Such GIFs are loaded with alpha and those
 * pixels recoloured.
 */
#include <limits.h>
#include <stb_image.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image_decoders.h"

/* RGBA from stb_image -> RGB, transparent first-frame pixels as Pillow
 * shows them: the palette colour of the transparent index (gray (i, i, i)
 * past the table, as Pillow's palette starts out). */
static void recolour_transparent(const uint8_t *rgba, const nv_gif_frame *gif,
                                 nv_image *out)
{
    int index = gif->transparent_index;
    uint8_t colour[3] = {(uint8_t)index, (uint8_t)index, (uint8_t)index};
    if (gif->palette && index < gif->palette_entries)
        memcpy(colour, gif->palette + index * 3, 3);
    for (int y = 0; y < out->height; y++) {
        for (int x = 0; x < out->width; x++) {
            const uint8_t *src = rgba + ((size_t)y * out->width + x) * 4;
            uint8_t *dst = out->rgb + ((size_t)y * out->width + x) * 3;
            int in_frame = x >= gif->left && x < gif->left + gif->width &&
                           y >= gif->top && y < gif->top + gif->height;
            if (src[3] == 0 && in_frame)
                memcpy(dst, colour, 3);
            else
                memcpy(dst, src, 3);
        }
    }
}

int nv_decode_stb(const uint8_t *bytes, size_t len, const char *name,
                  const char *format, int64_t max_pixels, nv_image *out,
                  nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > INT_MAX)
        return nv_fail(err, "%s: %s: file too large for the decoder", name,
                       format);
    /* stb_image reads an overlong PNM dimension as -1: name it first. */
    if (!strcmp(format, "PNM") &&
        nv_pnm_check_dims(bytes, len, name, err) != 0)
        return -1;
    int width = 0, height = 0, channels = 0;
    if (!stbi_info_from_memory(bytes, (int)len, &width, &height,
                               &channels)) {
        if (!strcmp(format, "TGA"))
            return nv_fail(err, "%s: not a supported image (PNG, JPEG, BMP, "
                                "GIF, TGA or binary PNM)",
                           name);
        return nv_fail(err, "%s: %s: cannot read the header (%s)", name,
                       format, stbi_failure_reason());
    }
    if (nv_image_check_size(width, height, max_pixels, name, err) != 0)
        return -1;
    if (nv_image_check_complete(format, bytes, len, name, err) != 0)
        return -1;
    nv_gif_frame gif = {.transparent_index = -1};
    if (!strcmp(format, "GIF") &&
        nv_gif_first_frame(bytes, len, name, &gif, err) != 0)
        return -1;
    /* stb_image allocates about 12 bytes per pixel of the logical screen
     * (frame, background, history, conversion) whatever the frame holds:
     * a 35-byte GIF with an 8000x8000 screen and a 1x1 frame cost 500 MB. */
    if (!strcmp(format, "GIF")) {
        int64_t screen = (int64_t)width * height;
        int64_t frame = (int64_t)gif.width * gif.height;
        if (screen > NV_GIF_MAX_SPARE_SCREEN &&
            screen > NV_GIF_MAX_SCREEN_RATIO * frame)
            return nv_fail(err, "%s: GIF: logical screen of %dx%d pixels is "
                                "more than %d times its first frame (%dx%d); "
                                "refused above %d pixels",
                           name, width, height, NV_GIF_MAX_SCREEN_RATIO,
                           gif.width, gif.height, NV_GIF_MAX_SPARE_SCREEN);
    }
    int load_channels = gif.transparent_index >= 0 ? 4 : 3;

    int got_w = 0, got_h = 0, got_channels = 0;
    uint8_t *pixels = stbi_load_from_memory(bytes, (int)len, &got_w, &got_h,
                                            &got_channels, load_channels);
    if (!pixels)
        return nv_fail(err, "%s: %s: cannot decode (%s)", name, format,
                       stbi_failure_reason());
    if (got_w != width || got_h != height) {
        stbi_image_free(pixels);
        return nv_fail(err, "%s: %s: decoded size %dx%d differs from the "
                            "header's %dx%d",
                       name, format, got_w, got_h, width, height);
    }
    /* Copied so that every nv_image is freed the same way. */
    if (nv_image_alloc(out, width, height, err) != 0) {
        stbi_image_free(pixels);
        return nv_fail_prefix(err, "%s: ", name);
    }
    if (load_channels == 3)
        memcpy(out->rgb, pixels, (size_t)width * (size_t)height * 3);
    else
        recolour_transparent(pixels, &gif, out);
    stbi_image_free(pixels);
    return 0;
}
