/* cell_tile.h - one table cell cut out and laid on a model tile, the input
 * of the cell reader (the D, X and H heads read one cell at a time).
 *
 * What the reader sees is made the same whatever the table looks like:
 *   - the cell's ink box, 1 px of margin, over the full height of its row's
 *     text line (so that the baseline sits where it sits in the row);
 *   - polarity and colour removed: each pixel becomes its contrast against
 *     the crop's median (its background), stretched so the darkest ink is
 *     black, on white: dark headers, shades and tints all read alike;
 *   - scaled so the table's text line is `line_height` pixels high (all
 *     cells of a table by the same factor; the aspect ratio is kept: never
 *     stretched), with Pillow-compatible bicubic resampling;
 *   - laid from the tile's top-left corner in strips `strip_height` high:
 *     a line wider than the tile continues on the next strip, cut at a blank
 *     pixel column where there is one, so every strip reads left to right
 *     and the strips top to bottom, like the image tokens.
 * A cell longer than all the strips of one tile is refused (the error says
 * its width and the limit): nothing is dropped silently.
 *
 * Ownership: the tile is a new image the caller frees with nv_image_free.
 */
#ifndef NV_VISION_CELL_TILE_H
#define NV_VISION_CELL_TILE_H

#include "core/error.h"
#include "vision/image.h"
#include "vision/ink_map.h"
#include "vision/table_layout.h"

typedef struct nv_cell_tile_opts {
    int tile_size;    /* the model's tile side, e.g. 224 */
    int line_height;  /* text line height on the tile, pixels */
    int strip_height; /* height of one strip of text on the tile */
    int strip_left;   /* tile x of each strip's first column (default 1) */
} nv_cell_tile_opts;

/* Where the crop went, so that a point of the image can be found on the
 * tile (training targets: tools/train/cells.py). */
#define NV_CELL_TILE_MAX_STRIPS 64
typedef struct nv_cell_tile_geom {
    nv_box crop;          /* the crop in image pixels */
    int scaled_w, scaled_h; /* its size after scaling */
    int n_strips;
    int strip_x0[NV_CELL_TILE_MAX_STRIPS]; /* scaled x where strip k starts */
    int strip_x1[NV_CELL_TILE_MAX_STRIPS]; /* and ends (exclusive) */
    int strip_y[NV_CELL_TILE_MAX_STRIPS];  /* tile y of its top row */
    int strip_left;       /* tile x of each strip's first column */
} nv_cell_tile_geom;

/* tile 224, line 24, strips of 28 (two patch rows of 14: one token row
 * after the 2x2 pixel shuffle). */
nv_cell_tile_opts nv_cell_tile_opts_default(void);

/* The tile for cell (row, col) of the layout. The cell must not be empty.
 * geom (may be NULL) receives where the crop went. */
int nv_cell_tile_make(const nv_ink_map *map, const nv_table_layout *layout,
                      int row, int col, const nv_cell_tile_opts *opts,
                      nv_image *tile, nv_cell_tile_geom *geom,
                      nv_error *err);

#endif
