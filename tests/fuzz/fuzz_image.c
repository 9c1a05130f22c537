/* fuzz_image.c - libFuzzer target for one image format, built once per
 * format (meson: -DFUZZ_FORMAT=...). Inputs of other formats are turned
 * away (-1), so each target's corpus stays on its own decoder; the pixel
 * cap is 4 megapixels so that one input cannot take seconds. */
#include "fuzz_util.h"
#include "vision/image.h"

enum { F_PNG = 1, F_JPEG, F_GIF, F_BMP, F_TGA, F_PNM };

static int starts(const uint8_t *d, size_t n, const char *magic, size_t m)
{
    return n >= m && memcmp(d, magic, m) == 0;
}

static int format_of(const uint8_t *d, size_t n)
{
    if (starts(d, n, "\x89PNG", 4))
        return F_PNG;
    if (starts(d, n, "\xff\xd8", 2))
        return F_JPEG;
    if (starts(d, n, "GIF8", 4))
        return F_GIF;
    if (starts(d, n, "BM", 2))
        return F_BMP;
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7')
        return F_PNM;
    return F_TGA; /* TGA has no magic: whatever is none of the above */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (format_of(data, len) != FUZZ_FORMAT)
        return -1;
    nv_image img = {0};
    nv_error err = {{0}};
    if (nv_image_decode(data, len, "fuzz", 4 * 1000 * 1000, &img, &err) == 0)
        nv_image_free(&img);
    return 0;
}
