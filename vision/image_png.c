/* image_png.c - PNG decoding with libpng into Pillow-equal 8-bit RGB.
 *
 * libpng reports errors by longjmp. All state that must survive the jump
 * (the structs, the buffers) lives in a `png_job` owned by the caller of
 * the function that calls setjmp, so nothing is left indeterminate and the
 * caller frees everything on both paths.
 *
 * libpng only unpacks samples (png_set_packing); the conversion to RGB is
 * done here so that it follows Pillow exactly, including its quirks:
 * 16-bit gray is clipped (mode "I" -> "RGB"), other 16-bit samples keep the
 * high byte, and palette indices past the PLTE entries read as gray.
 */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image_decoders.h"

struct png_job {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t len;
    size_t pos;
    const char *name;
    int64_t max_pixels;
    char libpng_msg[256]; /* set by on_png_error before it jumps */
    char last_warning[256];
    uint8_t *samples;     /* unpacked rows as libpng delivers them */
    png_bytep *rows;
    nv_image image;
};

static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_job *job = png_get_error_ptr(png);
    /* libpng often explains an error in the warning just before it
     * ("Image width is zero in IHDR" before "Invalid IHDR data"). */
    if (job->last_warning[0])
        snprintf(job->libpng_msg, sizeof job->libpng_msg, "%s (%.200s)", msg,
                 job->last_warning);
    else
        snprintf(job->libpng_msg, sizeof job->libpng_msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    /* Warnings (bad ancillary chunks, benign errors) do not stop Pillow
     * either; the last one is kept to explain a following error. */
    struct png_job *job = png_get_error_ptr(png);
    snprintf(job->last_warning, sizeof job->last_warning, "%s", msg);
}

static void read_png_bytes(png_structp png, png_bytep dst, size_t n)
{
    struct png_job *job = png_get_io_ptr(png);
    if (n > job->len - job->pos)
        png_error(png, "file is truncated");
    memcpy(dst, job->data + job->pos, n);
    job->pos += n;
}

/* One sample scaled to 8 bits the way Pillow's unpackers do it. */
static uint8_t gray_to_8bit(const uint8_t *p, int depth)
{
    switch (depth) {
    case 1:
        return p[0] ? 255 : 0;
    case 2:
        return (uint8_t)(p[0] * 85);
    case 4:
        return (uint8_t)(p[0] * 17);
    case 16: {
        unsigned v = (unsigned)p[0] << 8 | p[1];
        return v > 255 ? 255 : (uint8_t)v; /* Pillow "I" -> "RGB" clips */
    }
    default:
        return p[0];
    }
}

static void convert_row(const uint8_t *src, uint8_t *dst, int width,
                        int color_type, int depth,
                        const uint8_t palette[256][3])
{
    /* Bytes per sample: 16-bit samples are big-endian pairs, and for all
     * but gray Pillow keeps only their high byte (the first). */
    size_t bps = depth == 16 ? 2 : 1;
    for (int x = 0; x < width; x++, dst += 3) {
        switch (color_type) {
        case PNG_COLOR_TYPE_GRAY: {
            uint8_t g = gray_to_8bit(src + (size_t)x * bps, depth);
            dst[0] = dst[1] = dst[2] = g;
            break;
        }
        case PNG_COLOR_TYPE_GRAY_ALPHA: {
            uint8_t g = src[(size_t)x * 2 * bps];
            dst[0] = dst[1] = dst[2] = g;
            break;
        }
        case PNG_COLOR_TYPE_PALETTE:
            memcpy(dst, palette[src[x]], 3);
            break;
        case PNG_COLOR_TYPE_RGB:
        case PNG_COLOR_TYPE_RGB_ALPHA: {
            size_t channels = color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
            const uint8_t *p = src + (size_t)x * channels * bps;
            dst[0] = p[0];
            dst[1] = p[bps];
            dst[2] = p[2 * bps];
            break;
        }
        default:
            break;
        }
    }
}

/* Pillow's palette: entries past PLTE keep its initial gray ramp. */
static void build_palette(png_structp png, png_infop info,
                          uint8_t palette[256][3])
{
    for (int i = 0; i < 256; i++)
        palette[i][0] = palette[i][1] = palette[i][2] = (uint8_t)i;
    png_colorp entries = NULL;
    int count = 0;
    if (png_get_PLTE(png, info, &entries, &count) == 0 || !entries)
        return;
    for (int i = 0; i < count && i < 256; i++) {
        palette[i][0] = entries[i].red;
        palette[i][1] = entries[i].green;
        palette[i][2] = entries[i].blue;
    }
}

/* Runs libpng. Returns 0, -1 with job->libpng_msg set (libpng failed) or -2
 * with err set (we refused the image). */
static int run_libpng(struct png_job *job, nv_error *err)
{
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png)))
        return -1;

    png_set_read_fn(png, job, read_png_bytes);
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color_type, &interlace,
                 NULL, NULL);
    if (nv_image_check_size(width, height, job->max_pixels, job->name,
                            err) != 0)
        return -2;

    if (depth < 8)
        png_set_packing(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    size_t bps = depth == 16 ? 2 : 1;
    if (channels < 1 || channels > 4 ||
        row_bytes != (size_t)width * channels * bps) {
        nv_fail(err, "%s: PNG: unexpected row layout (%zu bytes for %u "
                     "pixels of %zu channels)",
                job->name, row_bytes, (unsigned)width, channels);
        return -2;
    }
    job->samples = malloc(row_bytes * height);
    job->rows = malloc(sizeof *job->rows * height);
    if (!job->samples || !job->rows) {
        nv_fail(err, "%s: PNG: out of memory for %ux%u pixels", job->name,
                (unsigned)width, (unsigned)height);
        return -2;
    }
    for (png_uint_32 y = 0; y < height; y++)
        job->rows[y] = job->samples + (size_t)y * row_bytes;
    png_read_image(png, job->rows);
    /* The chunks after the image data are not read: Pillow ignores a
     * missing or damaged tail too. */

    uint8_t palette[256][3];
    build_palette(png, info, palette);
    if (nv_image_alloc(&job->image, (int)width, (int)height, err) != 0)
        return -2;
    for (png_uint_32 y = 0; y < height; y++)
        convert_row(job->rows[y], job->image.rgb + (size_t)y * width * 3,
                    (int)width, color_type, depth,
                    (const uint8_t(*)[3])palette);
    return 0;
}

int nv_decode_png(const uint8_t *bytes, size_t len, const char *name,
                  int64_t max_pixels, nv_image *out, nv_error *err)
{
    struct png_job job;
    memset(&job, 0, sizeof job);
    job.data = bytes;
    job.len = len;
    job.name = name;
    job.max_pixels = max_pixels;

    job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job,
                                     on_png_error, on_png_warning);
    if (job.png)
        job.info = png_create_info_struct(job.png);
    if (!job.png || !job.info) {
        png_destroy_read_struct(&job.png, NULL, NULL);
        return nv_fail(err, "%s: PNG: out of memory", name);
    }

    int rc = run_libpng(&job, err);
    png_destroy_read_struct(&job.png, &job.info, NULL);
    free(job.rows);
    free(job.samples);
    if (rc == -1)
        nv_fail(err, "%s: PNG: %s", name, job.libpng_msg);
    if (rc != 0) {
        nv_image_free(&job.image);
        return -1;
    }
    *out = job.image;
    return 0;
}
