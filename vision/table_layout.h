/* table_layout.h - the grid of a table image: its rows, columns and cells,
 * found from the pixels by projection profiles (no model).
 *
 * Production table extractors find the structure first and read each cell
 * afterwards; this is the first half. From the ink map (ink_map.h):
 *   1. vertical ruling lines are removed: an x column whose ink covers most
 *      of the table's height is a rule, never text (a glyph is at most one
 *      line tall, and rows are separated by blank space);
 *   2. rows: the text lines, i.e. runs of pixel rows that hold ink;
 *   3. columns: bands of ink separated by a gap that is blank on every row
 *      and wider than a word space (a fraction of the text height);
 *   4. cells: the ink box of each (row, column) band, empty when blank.
 * The first row is the header. Every row is one line of text (the tables
 * nvlm reads: one line per cell).
 *
 * Not a table: no ink, fewer than 2 rows or 2 columns, ink covering most of
 * the area (a photo), or lines of wildly different heights. These return
 * NV_LAYOUT_NO_TABLE with a message that says which.
 *
 * Ownership: nv_table_layout_find allocates the arrays; free them with
 * nv_table_layout_free.
 */
#ifndef NV_VISION_TABLE_LAYOUT_H
#define NV_VISION_TABLE_LAYOUT_H

#include "core/error.h"
#include "vision/ink_map.h"

/* A pixel rectangle [x0, x1) x [y0, y1). Empty when x0 >= x1. */
typedef struct nv_box {
    int x0, y0, x1, y1;
} nv_box;

typedef struct nv_table_layout {
    int n_rows, n_cols;
    nv_box *rows;  /* [n_rows] the text line of each row, table-wide in x */
    nv_box *cols;  /* [n_cols] each column band, table-high in y */
    nv_box *cells; /* [n_rows * n_cols] ink box, row-major; empty = blank */
    int line_height; /* median height of the rows' text lines */
    int ink_threshold; /* contrast above which a pixel is ink */
} nv_table_layout;

/* Contrast (0..255, ink_map.h) above which a pixel counts as ink: text is
 * dark on light or light on dark by 100 or more. */
#define NV_LAYOUT_INK_THRESHOLD 48

/* Return value of nv_table_layout_find when the image holds no table. */
#define NV_LAYOUT_NO_TABLE 1

/* Most rows and columns a layout may have: far beyond any table a model
 * reads, and keeps every size product small. */
#define NV_LAYOUT_MAX_ROWS 1000
#define NV_LAYOUT_MAX_COLS 100

/* 0 on success, NV_LAYOUT_NO_TABLE (with the reason in err) when the image
 * holds no table, -1 on failure. */
int nv_table_layout_find(const nv_ink_map *map, nv_table_layout *out,
                         nv_error *err);
void nv_table_layout_free(nv_table_layout *layout);

/* The cell at (row, col). */
static inline const nv_box *nv_layout_cell(const nv_table_layout *l, int row,
                                           int col)
{
    return &l->cells[(size_t)row * l->n_cols + col];
}

#endif
