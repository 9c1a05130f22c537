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
} nv_cell_tile_opts;

/* tile 224, line 24, strips of 28 (two patch rows of 14: one token row
 * after the 2x2 pixel shuffle). */
nv_cell_tile_opts nv_cell_tile_opts_default(void);

/* The tile for cell (row, col) of the layout. The cell must not be empty. */
int nv_cell_tile_make(const nv_ink_map *map, const nv_table_layout *layout,
                      int row, int col, const nv_cell_tile_opts *opts,
                      nv_image *tile, nv_error *err);

#endif
