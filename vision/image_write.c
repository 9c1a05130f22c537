/* image_write.c - PNG output through libpng; see image_write.h. */
#include "vision/image_write.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

int nv_image_write_png(const nv_image *img, const char *path, nv_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return nv_fail(err, "cannot write %s: %s", path, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return nv_fail(err, "cannot write %s: out of memory", path);
    }
    /* libpng reports write errors by longjmp; nothing here needs freeing
     * beyond what the handler frees. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return nv_fail(err, "cannot write %s: libpng failed", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height,
                 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->rgb + (size_t)y * img->width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return nv_fail(err, "cannot write %s: %s", path, strerror(errno));
    return 0;
}
