/* cell_tile.c - a cell's crop, normalised, scaled and laid on a tile; see
 * cell_tile.h. */
#include "vision/cell_tile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/resize.h"

/* A tile column is blank (a place to cut a long line) when every pixel of
 * the strip is at least this light. */
#define BLANK_LEVEL 235

nv_cell_tile_opts nv_cell_tile_opts_default(void)
{
    nv_cell_tile_opts o = {224, 24, 28, 1};
    return o;
}

static int median_of(const uint8_t *gray, int w, nv_box b)
{
    int hist[256] = {0};
    int n = 0;
    for (int y = b.y0; y < b.y1; y++)
        for (int x = b.x0; x < b.x1; x++) {
            hist[gray[(size_t)y * w + x]]++;
            n++;
        }
    int acc = 0;
    for (int v = 0; v < 256; v++) {
        acc += hist[v];
        if (2 * acc >= n)
            return v;
    }
    return 255;
}

/* The crop as black ink on white, RGB. */
static int normalised_crop(const nv_ink_map *map, nv_box b, nv_image *out,
                           nv_error *err)
{
    int cw = b.x1 - b.x0, ch = b.y1 - b.y0;
    if (nv_image_alloc(out, cw, ch, err))
        return -1;
    int bg = median_of(map->gray, map->width, b);
    int peak = 1;
    for (int y = b.y0; y < b.y1; y++)
        for (int x = b.x0; x < b.x1; x++) {
            int d = abs((int)map->gray[(size_t)y * map->width + x] - bg);
            if (d > peak)
                peak = d;
        }
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++) {
            int d = abs((int)map->gray[(size_t)(b.y0 + y) * map->width +
                                       b.x0 + x] - bg);
            int v = 255 - (d * 255 + peak / 2) / peak;
            uint8_t *p = out->rgb + 3 * ((size_t)y * cw + x);
            p[0] = p[1] = p[2] = (uint8_t)(v < 0 ? 0 : v);
        }
    return 0;
}

static int column_blank(const nv_image *img, int x)
{
    for (int y = 0; y < img->height; y++)
        if (img->rgb[3 * ((size_t)y * img->width + x)] < BLANK_LEVEL)
            return 0;
    return 1;
}

int nv_cell_tile_make(const nv_ink_map *map, const nv_table_layout *layout,
                      int row, int col, const nv_cell_tile_opts *opts,
                      nv_image *tile, nv_cell_tile_geom *geom,
                      nv_error *err)
{
    memset(tile, 0, sizeof *tile);
    const nv_box *cell = nv_layout_cell(layout, row, col);
    if (cell->x0 >= cell->x1)
        return nv_fail(err, "cell (%d, %d) is empty", row, col);
    const nv_box *line = &layout->rows[row];
    const nv_box *band = &layout->cols[col];
    nv_box b = {cell->x0 - 1, line->y0 - 1, cell->x1 + 1, line->y1 + 1};
    if (b.x0 < band->x0) b.x0 = band->x0;
    if (b.x1 > band->x1) b.x1 = band->x1;
    if (b.x0 < 0) b.x0 = 0;
    if (b.y0 < 0) b.y0 = 0;
    if (b.x1 > map->width) b.x1 = map->width;
    if (b.y1 > map->height) b.y1 = map->height;

    int S = opts->tile_size, SH = opts->strip_height;
    if (opts->line_height < 1 || SH < 1 || S < SH)
        return nv_fail(err, "cell tile options out of range: line %d px, "
                       "strips %d px, tile %d px", opts->line_height, SH, S);
    double scale = (double)opts->line_height /
                   (layout->line_height > 0 ? layout->line_height : 1);
    int sh = (int)lround((b.y1 - b.y0) * scale);
    if (sh > SH) {
        scale *= (double)SH / sh;
        sh = SH;
    }
    if (sh < 1)
        sh = 1;
    int sw = (int)lround((b.x1 - b.x0) * scale);
    if (sw < 1)
        sw = 1;
    int left = opts->strip_left;
    if (left < 0 || left > S / 2)
        return nv_fail(err, "strip_left %d is outside 0..%d", left, S / 2);
    int n_strips = S / SH, usable = S - 1 - left;
    if (n_strips > NV_CELL_TILE_MAX_STRIPS)
        n_strips = NV_CELL_TILE_MAX_STRIPS;
    if (sw > (long)n_strips * usable)
        return nv_fail(err, "cell (%d, %d) is %d px wide at the reading "
                       "scale; one tile holds %d (%d strips of %d)", row, col,
                       sw, n_strips * usable, n_strips, usable);

    nv_image crop = {0}, scaled = {0};
    if (normalised_crop(map, b, &crop, err))
        return -1;
    int rc = nv_image_resize_bicubic(&crop, sw, sh, &scaled, err);
    nv_image_free(&crop);
    if (rc)
        return -1;
    if (nv_image_alloc(tile, S, S, err)) {
        nv_image_free(&scaled);
        return -1;
    }
    memset(tile->rgb, 255, (size_t)S * S * 3);
    if (geom) {
        memset(geom, 0, sizeof *geom);
        geom->crop = b;
        geom->scaled_w = sw;
        geom->scaled_h = sh;
        geom->strip_left = left;
    }
    int x = 0, strip = 0;
    while (x < sw) {
        if (strip >= n_strips) {
            nv_image_free(&scaled);
            nv_image_free(tile);
            return nv_fail(err, "cell (%d, %d) does not fit %d strips of "
                           "one tile", row, col, n_strips);
        }
        int end = x + usable < sw ? x + usable : sw;
        if (end < sw) { /* cut at the last blank column, if any */
            int cut = end;
            while (cut > x + usable / 2 && !column_blank(&scaled, cut))
                cut--;
            if (cut > x + usable / 2)
                end = cut;
        }
        int y0 = strip * SH + (SH - sh) / 2;
        if (geom) {
            geom->strip_x0[strip] = x;
            geom->strip_x1[strip] = end;
            geom->strip_y[strip] = y0;
            geom->n_strips = strip + 1;
        }
        for (int y = 0; y < sh; y++)
            memcpy(tile->rgb + 3 * ((size_t)(y0 + y) * S + left),
                   scaled.rgb + 3 * ((size_t)y * sw + x), 3 * (size_t)(end - x));
        x = end;
        strip++;
    }
    nv_image_free(&scaled);
    return 0;
}
