/* table_layout.h - the grid of a table image: its rows, columns and cells,
 * found from the pixels by projection profiles (no model).
 *
 * Production table extractors find the structure first and read each cell
 * afterwards; this is the first half. From the ink map (ink_map.h):
 *   1. vertical ruling lines are removed: an x column whose faint ink
 *      covers much of the table's height and that also shows in the blank
 *      gaps between the text lines is a rule (text never reaches into those
 *      gaps; a rule can vanish where it crosses a band of its own colour,
 *      and right-aligned digits cover as much height as a broken rule);
 *   2. rows: the text lines, i.e. runs of pixel rows that hold ink, without
 *      specks far lower than the median line;
 *   3. columns: bands of ink separated by x ranges that are blank on every
 *      line. Every column has a header (the first line), so a band without
 *      header ink belongs to its neighbour across the narrower gap (word
 *      spaces and digit gaps that line up on every body line, a date's
 *      year under a right-aligned header); between two headed bands the
 *      gap must be wider than a word's letter gaps, and where one band has
 *      no body text, the header itself must be broken widely (a header
 *      word over a blank body can be split by a letter gap);
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
