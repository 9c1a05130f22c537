/* tiling.h - InternVL / NVLM-D dynamic tiling ("dynamic_preprocess").
 *
 * The image is matched to a grid of cols x rows square tiles of side S:
 * among the grids with min_tiles <= cols * rows <= max_tiles, ordered by
 * cols * rows, the one whose aspect ratio cols/rows is closest to
 * width/height wins; on an exact tie a later grid replaces the current one
 * only if width * height > 0.5 * S * S * cols * rows. (Grids with the same
 * tile count can never tie for the best, so their relative order, which
 * upstream leaves to Python's set iteration, does not matter; see
 * docs/preprocessing.md.) The image is then resized (Pillow bicubic) to
 * (S * cols, S * rows) and cut row-major into the tiles; when there is more
 * than one tile and the thumbnail is on, the whole image resized to S x S
 * is appended.
 */
#ifndef NV_VISION_TILING_H
#define NV_VISION_TILING_H

#include <stdint.h>

#include "core/error.h"
#include "vision/image.h"

/* Limits on the options, to keep sizes far from overflow. */
#define NV_TILE_SIZE_MAX 4096
#define NV_MAX_TILES_LIMIT 256

typedef struct nv_tile_grid {
    int cols;      /* tiles across (width) */
    int rows;      /* tiles down */
    int blocks;    /* cols * rows */
    int thumbnail; /* 1 if a thumbnail tile follows the blocks */
    int num_tiles; /* blocks + thumbnail */
    int resized_width;  /* tile_size * cols */
    int resized_height; /* tile_size * rows */
} nv_tile_grid;

typedef struct nv_tiling_opts {
    int tile_size;     /* S, e.g. 448 */
    int min_tiles;     /* usually 1 */
    int max_tiles;     /* e.g. 6 or 12 */
    int use_thumbnail; /* 1 = append the thumbnail when blocks != 1 */
} nv_tiling_opts;

/* tile_size 448, min_tiles 1, max_tiles 6, thumbnail on. */
nv_tiling_opts nv_tiling_opts_default(void);

/* Chooses the grid for an image of width x height. */
int nv_tile_grid_choose(int width, int height, const nv_tiling_opts *opts,
                        nv_tile_grid *grid, nv_error *err);

/* num_tiles RGB tiles of tile_size x tile_size, stored one after another
 * (tile-major, then row-major HWC). Owned; free with nv_tiles_free. */
typedef struct nv_tiles {
    int count;
    int tile_size;
    uint8_t *rgb;
} nv_tiles;

/* Cuts the image into the grid's tiles (plus thumbnail). */
int nv_tiles_make(const nv_image *img, const nv_tile_grid *grid,
                  int tile_size, nv_tiles *tiles, nv_error *err);

void nv_tiles_free(nv_tiles *tiles);

#endif
