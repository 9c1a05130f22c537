/* image_stb.c - JPEG, BMP, GIF, TGA and PNM decoding with stb_image.
 *
 * Debian's libstb already compiles the stb_image implementation, so only
 * the declarations are included here. stb_image asks for 3 channels, which
 * replicates gray and drops alpha like Pillow's convert("RGB").
 *
 * stb_image decodes a truncated JPEG without complaint (it pads the missing
 * entropy-coded data with zeros), while Pillow refuses it; so a JPEG is
 * first walked marker by marker and must reach its EOI marker.
 */
#include <limits.h>
#include <stb_image.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image_decoders.h"

/* Returns 0 when the JPEG marker structure reaches EOI inside the data. */
static int check_jpeg_complete(const uint8_t *bytes, size_t len,
                               const char *name, nv_error *err)
{
    size_t pos = 2; /* after SOI */
    for (;;) {
        /* Like libjpeg, skip stray bytes and fill 0xFF bytes before a
         * marker. */
        while (pos < len && bytes[pos] != 0xFF)
            pos++;
        while (pos < len && bytes[pos] == 0xFF)
            pos++;
        if (pos >= len)
            break;
        uint8_t marker = bytes[pos++];
        if (marker == 0xD9) /* EOI */
            return 0;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7))
            continue; /* no length field */
        if (len - pos < 2)
            break;
        size_t seg_len = (size_t)bytes[pos] << 8 | bytes[pos + 1];
        if (seg_len < 2)
            return nv_fail(err, "%s: JPEG: marker 0x%02X has a bad segment "
                                "length %zu at offset %zu",
                           name, marker, seg_len, pos);
        if (seg_len > len - pos)
            break;
        pos += seg_len;
        if (marker != 0xDA) /* not SOS */
            continue;
        /* Entropy-coded data: runs until a marker other than a stuffed
         * 0xFF00 or a restart marker. */
        while (pos + 1 < len) {
            if (bytes[pos] == 0xFF && bytes[pos + 1] != 0x00 &&
                !(bytes[pos + 1] >= 0xD0 && bytes[pos + 1] <= 0xD7) &&
                bytes[pos + 1] != 0xFF)
                break;
            pos++;
        }
        if (pos + 1 >= len)
            break;
    }
    return nv_fail(err, "%s: JPEG: file is truncated (no end-of-image "
                        "marker)",
                   name);
}

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
    if (!strcmp(format, "JPEG") &&
        check_jpeg_complete(bytes, len, name, err) != 0)
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
