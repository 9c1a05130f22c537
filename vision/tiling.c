/* tiling.c - grid choice and tile cutting of dynamic_preprocess; see
 * tiling.h. */
#include "vision/tiling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/resize.h"

/* Cap on the pixels of all blocks together (tile_size^2 * max_tiles), so
 * that the resized image stays a sane allocation. */
#define MAX_GRID_PIXELS ((int64_t)1 << 28)

nv_tiling_opts nv_tiling_opts_default(void)
{
    nv_tiling_opts opts = {
        .tile_size = 448, .min_tiles = 1, .max_tiles = 6, .use_thumbnail = 1};
    return opts;
}

static int check_opts(const nv_tiling_opts *opts, nv_error *err)
{
    if (opts->tile_size < 1 || opts->tile_size > NV_TILE_SIZE_MAX)
        return nv_fail(err, "tiling: tile size %d is outside 1..%d",
                       opts->tile_size, NV_TILE_SIZE_MAX);
    if (opts->min_tiles < 1 || opts->max_tiles < opts->min_tiles ||
        opts->max_tiles > NV_MAX_TILES_LIMIT)
        return nv_fail(err, "tiling: tile counts %d..%d are not within "
                            "1..%d",
                       opts->min_tiles, opts->max_tiles, NV_MAX_TILES_LIMIT);
    if ((int64_t)opts->tile_size * opts->tile_size * opts->max_tiles >
        MAX_GRID_PIXELS)
        return nv_fail(err, "tiling: %d tiles of %dx%d are above the limit "
                            "of %lld pixels",
                       opts->max_tiles, opts->tile_size, opts->tile_size,
                       (long long)MAX_GRID_PIXELS);
    return 0;
}

int nv_tile_grid_choose(int width, int height, const nv_tiling_opts *opts,
                        nv_tile_grid *grid, nv_error *err)
{
    memset(grid, 0, sizeof *grid);
    if (check_opts(opts, err) != 0)
        return -1;
    if (width <= 0 || height <= 0)
        return nv_fail(err, "tiling: empty image %dx%d", width, height);

    /* Same arithmetic as upstream, in doubles like Python's floats. */
    double aspect = (double)width / height;
    double area = (double)width * height;
    double size = opts->tile_size;
    double best_diff = INFINITY;
    int best_cols = 1, best_rows = 1;
    /* Candidates in order of tile count; within one count any order gives
     * the same answer (no two grids of one count can tie for the best). */
    for (int count = opts->min_tiles; count <= opts->max_tiles; count++) {
        for (int cols = 1; cols <= count; cols++) {
            if (count % cols != 0)
                continue;
            int rows = count / cols;
            double diff = fabs(aspect - (double)cols / rows);
            if (diff < best_diff) {
                best_diff = diff;
                best_cols = cols;
                best_rows = rows;
            } else if (diff == best_diff &&
                       area > 0.5 * size * size * cols * rows) {
                best_cols = cols;
                best_rows = rows;
            }
        }
    }
    grid->cols = best_cols;
    grid->rows = best_rows;
    grid->blocks = best_cols * best_rows;
    grid->thumbnail = opts->use_thumbnail && grid->blocks != 1;
    grid->num_tiles = grid->blocks + grid->thumbnail;
    grid->resized_width = opts->tile_size * best_cols;
    grid->resized_height = opts->tile_size * best_rows;
    return 0;
}

void nv_tiles_free(nv_tiles *tiles)
{
    if (!tiles)
        return;
    free(tiles->rgb);
    memset(tiles, 0, sizeof *tiles);
}

int nv_tiles_make(const nv_image *img, const nv_tile_grid *grid,
                  int tile_size, nv_tiles *tiles, nv_error *err)
{
    memset(tiles, 0, sizeof *tiles);
    if (tile_size < 1 || tile_size > NV_TILE_SIZE_MAX || grid->cols < 1 ||
        grid->rows < 1 || grid->blocks != grid->cols * grid->rows ||
        grid->num_tiles != grid->blocks + (grid->thumbnail ? 1 : 0) ||
        grid->resized_width != tile_size * grid->cols ||
        grid->resized_height != tile_size * grid->rows)
        return nv_fail(err, "tiling: grid %dx%d (%d tiles) does not match "
                            "tile size %d",
                       grid->cols, grid->rows, grid->num_tiles, tile_size);

    size_t tile_bytes = (size_t)tile_size * tile_size * 3;
    size_t row_bytes = (size_t)tile_size * 3;
    tiles->rgb = malloc(tile_bytes * (size_t)grid->num_tiles);
    if (!tiles->rgb)
        return nv_fail(err, "tiling: out of memory for %d tiles of %dx%d",
                       grid->num_tiles, tile_size, tile_size);
    tiles->count = grid->num_tiles;
    tiles->tile_size = tile_size;

    nv_image resized;
    if (nv_image_resize_bicubic(img, grid->resized_width,
                                grid->resized_height, &resized, err) != 0) {
        nv_tiles_free(tiles);
        return -1;
    }
    for (int t = 0; t < grid->blocks; t++) {
        int x0 = (t % grid->cols) * tile_size;
        int y0 = (t / grid->cols) * tile_size;
        uint8_t *dst = tiles->rgb + (size_t)t * tile_bytes;
        for (int y = 0; y < tile_size; y++)
            memcpy(dst + (size_t)y * row_bytes,
                   resized.rgb + ((size_t)(y0 + y) * resized.width + x0) * 3,
                   row_bytes);
    }
    nv_image_free(&resized);

    if (grid->thumbnail) {
        nv_image thumb;
        if (nv_image_resize_bicubic(img, tile_size, tile_size, &thumb,
                                    err) != 0) {
            nv_tiles_free(tiles);
            return -1;
        }
        memcpy(tiles->rgb + (size_t)grid->blocks * tile_bytes, thumb.rgb,
               tile_bytes);
        nv_image_free(&thumb);
    }
    return 0;
}
