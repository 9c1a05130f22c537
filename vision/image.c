/* image.c - reading an image file and choosing its decoder by signature;
 * see image.h. The decoders live in image_png.c, image_jpeg.c and
 * image_stb.c. */
#include "vision/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "vision/image_decoders.h"

int nv_image_check_size(int64_t width, int64_t height, int64_t max_pixels,
                        const char *name, nv_error *err)
{
    /* A negative side is a decoder's overflow, not an empty image. */
    if (width < 0 || height < 0)
        return nv_fail(err, "%s: image dimensions %lldx%lld are out of "
                       "range", name, (long long)width, (long long)height);
    if (width == 0 || height == 0)
        return nv_fail(err, "%s: empty image (%lldx%lld)", name,
                       (long long)width, (long long)height);
    /* Both sides fit in 32 bits in every format we read, so the product
     * cannot overflow 64 bits. */
    if (width > INT32_MAX || height > INT32_MAX ||
        width * height > max_pixels)
        return nv_fail(err,
                       "%s: image of %lldx%lld pixels is above the limit of "
                       "%lld pixels",
                       name, (long long)width, (long long)height,
                       (long long)max_pixels);
    return 0;
}

int nv_image_alloc(nv_image *img, int width, int height, nv_error *err)
{
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0)
        return nv_fail(err, "image: cannot allocate %dx%d", width, height);
    size_t bytes = (size_t)width * (size_t)height * 3;
    img->rgb = malloc(bytes);
    if (!img->rgb)
        return nv_fail(err, "image: out of memory for %dx%d pixels", width,
                       height);
    img->width = width;
    img->height = height;
    return 0;
}

void nv_image_free(nv_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

static int starts_with(const uint8_t *bytes, size_t len, const char *magic,
                       size_t magic_len)
{
    return len >= magic_len && memcmp(bytes, magic, magic_len) == 0;
}

int nv_image_decode(const uint8_t *bytes, size_t len, const char *name,
                    int64_t max_pixels, nv_image *out, nv_error *err)
{
    memset(out, 0, sizeof *out);
    if (max_pixels <= 0)
        max_pixels = NV_IMAGE_DEFAULT_MAX_PIXELS;
    if (len == 0)
        return nv_fail(err, "%s: empty file", name);

    if (starts_with(bytes, len, "\x89PNG\r\n\x1a\n", 8))
        return nv_decode_png(bytes, len, name, max_pixels, out, err);
    /* Any file starting with SOI: stb_image (the TGA fallback below) would
     * take one with stray bytes after SOI for a JPEG and decode it with
     * its own, unbounded, decoder; libjpeg skips them with a warning. */
    if (starts_with(bytes, len, "\xff\xd8", 2))
        return nv_decode_jpeg(bytes, len, name, max_pixels, out, err);
    if (starts_with(bytes, len, "BM", 2))
        return nv_decode_stb(bytes, len, name, "BMP", max_pixels, out, err);
    if (starts_with(bytes, len, "GIF87a", 6) ||
        starts_with(bytes, len, "GIF89a", 6))
        return nv_decode_stb(bytes, len, name, "GIF", max_pixels, out, err);
    if (starts_with(bytes, len, "P5", 2) || starts_with(bytes, len, "P6", 2))
        return nv_decode_stb(bytes, len, name, "PNM", max_pixels, out, err);
    if (len >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7')
        return nv_fail(err, "%s: PNM type P%c is not supported (only binary "
                            "P5/P6)",
                       name, bytes[1]);
    /* stb_image also reads PSD, HDR and PIC, which Pillow does not read the
     * same way (or at all); refuse them rather than guess. */
    if (starts_with(bytes, len, "8BPS", 4) ||
        starts_with(bytes, len, "#?RADIANCE", 10) ||
        starts_with(bytes, len, "#?RGBE", 6) ||
        starts_with(bytes, len, "\x53\x80\xf6\x34", 4))
        return nv_fail(err, "%s: image format not supported (PSD/HDR/PIC)",
                       name);
    /* TGA has no signature: let stb_image's header check decide. */
    return nv_decode_stb(bytes, len, name, "TGA", max_pixels, out, err);
}

/* Reads a whole regular file of at most NV_IMAGE_MAX_FILE_BYTES. */
static int read_file(const char *path, uint8_t **data_out, size_t *len_out,
                     nv_error *err)
{
    *data_out = NULL;
    *len_out = 0;
    /* Refuses a FIFO (or device) without blocking in open(). */
    struct stat st;
    int fd = nv_open_regular(path, &st, err);
    if (fd < 0)
        return -1;
    if (st.st_size < 0 || (uint64_t)st.st_size > NV_IMAGE_MAX_FILE_BYTES) {
        close(fd);
        return nv_fail(err, "%s: file of %lld bytes is above the limit of "
                            "%zu bytes",
                       path, (long long)st.st_size, NV_IMAGE_MAX_FILE_BYTES);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        return nv_fail(err, "%s: out of memory reading %zu bytes", path,
                       size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            free(data);
            close(fd);
            return nv_fail(err, "%s: read failed: %s", path,
                           n < 0 ? strerror(saved) : "file shrank");
        }
        got += (size_t)n;
    }
    close(fd);
    *data_out = data;
    *len_out = size;
    return 0;
}

int nv_image_load(const char *path, int64_t max_pixels, nv_image *out,
                  nv_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len, err) != 0)
        return -1;
    int rc = nv_image_decode(data, len, path, max_pixels, out, err);
    free(data);
    return rc;
}
