/* image_gif.c - walks a GIF up to the end of its first image.
 *
 * Used twice: to refuse a file whose first image is cut off (stb_image
 * would pad it), and to learn the first frame's transparent index and
 * colour table, because stb_image leaves transparent pixels black where
 * Pillow's convert("RGB") shows the palette colour of that index.
 */
#include <string.h>

#include "vision/image_decoders.h"

static int skip_sub_blocks(const uint8_t *b, size_t len, size_t *pos)
{
    for (;;) {
        if (*pos >= len)
            return -1;
        size_t n = b[(*pos)++];
        if (n == 0)
            return 0;
        if (n > len - *pos)
            return -1;
        *pos += n;
    }
}

static int fail_truncated(const char *name, const char *detail,
                          nv_error *err)
{
    return nv_fail(err, "%s: GIF: file is truncated (%s)", name, detail);
}

/* Colour table of 2^(n+1) entries at *pos, if it fits. */
static int read_table(const uint8_t *b, size_t len, size_t *pos,
                      uint8_t flags, nv_gif_frame *frame)
{
    if (!(flags & 0x80))
        return 0;
    size_t entries = (size_t)1 << ((flags & 7) + 1);
    if (entries * 3 > len - *pos)
        return -1;
    frame->palette = b + *pos;
    frame->palette_entries = (int)entries;
    *pos += entries * 3;
    return 0;
}

int nv_gif_first_frame(const uint8_t *b, size_t len, const char *name,
                       nv_gif_frame *frame, nv_error *err)
{
    memset(frame, 0, sizeof *frame);
    frame->transparent_index = -1;
    if (len < 13)
        return fail_truncated(name, "short header", err);
    size_t pos = 13;
    if (read_table(b, len, &pos, b[10], frame) != 0)
        return fail_truncated(name, "global colour table", err);
    for (;;) {
        if (pos >= len)
            return fail_truncated(name, "no image data", err);
        uint8_t intro = b[pos++];
        if (intro == 0x21) { /* extension: label, then sub-blocks */
            if (pos >= len)
                return fail_truncated(name, "extension", err);
            uint8_t label = b[pos++];
            /* Graphic control: size 4, flags, delay (2), index, 0. */
            if (label == 0xF9 && len - pos >= 6 && b[pos] == 4) {
                frame->transparent_index =
                    (b[pos + 1] & 1) ? b[pos + 4] : -1;
            }
            if (skip_sub_blocks(b, len, &pos) != 0)
                return fail_truncated(name, "extension ends early", err);
        } else if (intro == 0x2C) { /* image descriptor */
            if (len - pos < 10)
                return fail_truncated(name, "image header", err);
            frame->left = (int)(b[pos] | b[pos + 1] << 8);
            frame->top = (int)(b[pos + 2] | b[pos + 3] << 8);
            frame->width = (int)(b[pos + 4] | b[pos + 5] << 8);
            frame->height = (int)(b[pos + 6] | b[pos + 7] << 8);
            uint8_t flags = b[pos + 8];
            pos += 9;
            if (read_table(b, len, &pos, flags, frame) != 0)
                return fail_truncated(name, "local colour table", err);
            pos++; /* LZW minimum code size */
            if (skip_sub_blocks(b, len, &pos) != 0)
                return fail_truncated(name, "image data ends early", err);
            return 0;
        } else if (intro == 0x3B) {
            return nv_fail(err, "%s: GIF: no image before the trailer",
                           name);
        } else {
            return nv_fail(err, "%s: GIF: unknown block 0x%02X at offset "
                                "%zu",
                           name, intro, pos - 1);
        }
    }
}
