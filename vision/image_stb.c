/* image_stb.c - JPEG, BMP, GIF, TGA and PNM decoding with stb_image.
 *
 * Debian's libstb already compiles the stb_image implementation, so only
 * the declarations are included here. stb_image asks for 3 channels, which
 * replicates gray and drops alpha like Pillow's convert("RGB").
 *
 * stb_image decodes a truncated file without complaint (it pads the missing
 * data with zeros), while Pillow refuses it; so the file's structure is
 * first checked to be complete (image_complete.c).
 */
#include <limits.h>
#include <stb_image.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image_decoders.h"

int nv_decode_stb(const uint8_t *bytes, size_t len, const char *name,
                  const char *format, int64_t max_pixels, nv_image *out,
                  nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > INT_MAX)
        return nv_fail(err, "%s: %s: file too large for the decoder", name,
                       format);
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

    int got_w = 0, got_h = 0, got_channels = 0;
    uint8_t *pixels = stbi_load_from_memory(bytes, (int)len, &got_w, &got_h,
                                            &got_channels, 3);
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
    memcpy(out->rgb, pixels, (size_t)width * (size_t)height * 3);
    stbi_image_free(pixels);
    return 0;
}
