/* image_complete.c - checks that a JPEG, BMP, GIF, TGA or PNM file holds all
 * the data its header promises.
 *
 * stb_image pads missing data with zeros and reports success (libjpeg only
 * warns and pads with gray), so a cut-off file would silently decode to a
 * partly blank image; Pillow refuses such files ("image file is
 * truncated"). These walks read only the structure (markers, headers,
 * block lengths), every read bounds-checked; the pixels are still decoded
 * by libjpeg-turbo (JPEG) and stb_image (the others). A structure these walks do not know (an
 * RLE BMP, say) is left to stb_image to accept or refuse. PNM headers are
 * also where a maxval other than 255 is refused (see check_pnm).
 */
#include <string.h>

#include "vision/image_decoders.h"

static uint64_t le16(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8;
}

static uint64_t le32(const uint8_t *p)
{
    return le16(p) | le16(p + 2) << 16;
}

/* a * b + c, or UINT64_MAX when that overflows (then surely too long). */
static uint64_t mul_add(uint64_t a, uint64_t b, uint64_t c)
{
    if (a && b > (UINT64_MAX - c) / a)
        return UINT64_MAX;
    return a * b + c;
}

static int fail_truncated(const char *name, const char *format,
                          const char *detail, nv_error *err)
{
    return nv_fail(err, "%s: %s: file is truncated (%s)", name, format,
                   detail);
}

static int check_jpeg(const uint8_t *b, size_t len, const char *name,
                      nv_error *err)
{
    size_t pos = 2; /* after SOI */
    for (;;) {
        /* Like libjpeg, skip stray bytes and fill bytes before a marker. */
        while (pos < len && b[pos] != 0xFF)
            pos++;
        while (pos < len && b[pos] == 0xFF)
            pos++;
        if (pos >= len)
            break;
        uint8_t marker = b[pos++];
        if (marker == 0xD9) /* EOI */
            return 0;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7))
            continue; /* no length field */
        if (len - pos < 2)
            break;
        size_t seg_len = (size_t)b[pos] << 8 | b[pos + 1]; /* big-endian */
        if (seg_len < 2)
            return nv_fail(err, "%s: JPEG: marker 0x%02X has a bad segment "
                                "length %zu at offset %zu",
                           name, marker, seg_len, pos);
        if (seg_len > len - pos)
            break;
        pos += seg_len;
        if (marker != 0xDA) /* not SOS */
            continue;
        /* Entropy-coded data runs until a marker that is neither a stuffed
         * 0xFF00 nor a restart marker. */
        while (pos + 1 < len &&
               !(b[pos] == 0xFF && b[pos + 1] != 0x00 && b[pos + 1] != 0xFF &&
                 !(b[pos + 1] >= 0xD0 && b[pos + 1] <= 0xD7)))
            pos++;
        if (pos + 1 >= len)
            break;
    }
    return fail_truncated(name, "JPEG", "no end-of-image marker", err);
}

static int check_bmp(const uint8_t *b, size_t len, const char *name,
                     nv_error *err)
{
    if (len < 26)
        return fail_truncated(name, "BMP", "short header", err);
    uint64_t data_offset = le32(b + 10);
    uint64_t header_size = le32(b + 14);
    uint64_t width, height, bits, compression;
    if (header_size == 12) { /* OS/2 */
        width = le16(b + 18);
        height = le16(b + 20);
        bits = le16(b + 24);
        compression = 0;
    } else if (header_size >= 40) {
        if (len < 34)
            return fail_truncated(name, "BMP", "short header", err);
        int32_t w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22);
        /* Negative height means top-down rows. */
        width = w < 0 ? 0 : (uint64_t)w;
        height = h < 0 ? (uint64_t)(-(int64_t)h) : (uint64_t)h;
        bits = le16(b + 28);
        compression = le32(b + 30);
    } else {
        return 0;
    }
    /* Only uncompressed and bit-field layouts have a fixed size. */
    if (compression != 0 && compression != 3 && compression != 6)
        return 0;
    uint64_t row_bytes = (mul_add(bits, width, 31) / 32) * 4;
    uint64_t need = mul_add(row_bytes, height, data_offset);
    if (need > len)
        return fail_truncated(name, "BMP", "pixel data ends early", err);
    return 0;
}

static int check_tga(const uint8_t *b, size_t len, const char *name,
                     nv_error *err)
{
    if (len < 18)
        return fail_truncated(name, "TGA", "short header", err);
    unsigned type = b[2];
    uint64_t pos = 18 + (uint64_t)b[0];
    if (b[1]) /* color map entries */
        pos = mul_add(le16(b + 5), ((uint64_t)b[7] + 7) / 8, pos);
    uint64_t pixel_bytes = ((uint64_t)b[16] + 7) / 8;
    uint64_t pixels = le16(b + 12) * le16(b + 14);
    if (type == 1 || type == 2 || type == 3) {
        if (mul_add(pixels, pixel_bytes, pos) > len)
            return fail_truncated(name, "TGA", "pixel data ends early", err);
        return 0;
    }
    if (type != 9 && type != 10 && type != 11)
        return 0;
    /* Run-length packets: a header byte, then one pixel (run) or
     * count pixels (raw). */
    uint64_t done = 0;
    while (done < pixels) {
        if (pos >= len)
            return fail_truncated(name, "TGA", "run-length data ends early",
                                  err);
        uint64_t header = b[pos++];
        uint64_t count = (header & 0x7F) + 1;
        pos += header & 0x80 ? pixel_bytes : count * pixel_bytes;
        if (pos > len)
            return fail_truncated(name, "TGA", "run-length data ends early",
                                  err);
        done += count;
    }
    return 0;
}

/* Reads one PNM header number, skipping whitespace and # comments. */
static int pnm_number(const uint8_t *b, size_t len, size_t *pos,
                      uint64_t *out)
{
    for (;;) {
        while (*pos < len && strchr(" \t\r\n\v\f", b[*pos]) && b[*pos])
            (*pos)++;
        if (*pos < len && b[*pos] == '#') {
            while (*pos < len && b[*pos] != '\n' && b[*pos] != '\r')
                (*pos)++;
            continue;
        }
        break;
    }
    if (*pos >= len || b[*pos] < '0' || b[*pos] > '9')
        return -1;
    uint64_t v = 0;
    while (*pos < len && b[*pos] >= '0' && b[*pos] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(b[*pos] - '0');
        (*pos)++;
    }
    *out = v;
    return 0;
}

static int check_pnm(const uint8_t *b, size_t len, const char *name,
                     nv_error *err)
{
    size_t pos = 2;
    uint64_t width, height, maxval;
    if (pnm_number(b, len, &pos, &width) != 0 ||
        pnm_number(b, len, &pos, &height) != 0 ||
        pnm_number(b, len, &pos, &maxval) != 0 || pos >= len)
        return fail_truncated(name, "PNM", "incomplete header", err);
    /* Pillow rescales other maxvals (and clips 16-bit gray) while
     * stb_image keeps the raw samples: refuse rather than differ. */
    if (maxval != 255)
        return nv_fail(err, "%s: PNM: maxval %llu is not supported (only "
                            "255)",
                       name, (unsigned long long)maxval);
    pos++; /* the single whitespace byte before the samples */
    uint64_t channels = b[1] == '6' ? 3 : 1; /* one byte per sample */
    uint64_t need = mul_add(mul_add(width, height, 0), channels, pos);
    if (need > len)
        return fail_truncated(name, "PNM", "pixel data ends early", err);
    return 0;
}

int nv_pnm_check_dims(const uint8_t *b, size_t len, const char *name,
                      nv_error *err)
{
    static const char *what[2] = {"width", "height"};
    size_t pos = 2;
    for (int i = 0; i < 2; i++) {
        size_t start = pos;
        uint64_t v = 0;
        int rc = pnm_number(b, len, &pos, &v);
        /* pnm_number fails on a missing number (left to check_pnm) and on
         * one too long for 64 bits: told apart by whether digits came. */
        int digits = rc != 0 && pos > start && pos < len &&
                     b[pos] >= '0' && b[pos] <= '9';
        if (rc != 0 && !digits)
            return 0;
        if (digits || v > INT32_MAX)
            return nv_fail(err, "%s: PNM: %s is out of range (at most %d)",
                           name, what[i], INT32_MAX);
    }
    return 0;
}

int nv_image_check_complete(const char *format, const uint8_t *bytes,
                            size_t len, const char *name, nv_error *err)
{
    if (!strcmp(format, "JPEG"))
        return check_jpeg(bytes, len, name, err);
    if (!strcmp(format, "BMP"))
        return check_bmp(bytes, len, name, err);
    if (!strcmp(format, "GIF")) {
        nv_gif_frame frame;
        return nv_gif_first_frame(bytes, len, name, &frame, err);
    }
    if (!strcmp(format, "TGA"))
        return check_tga(bytes, len, name, err);
    if (!strcmp(format, "PNM"))
        return check_pnm(bytes, len, name, err);
    return 0;
}
