/* table_cells.h - `nvlm table`'s default path: the layout finds the grid
 * (vision/table_layout.h), the model reads each non-empty cell from its own
 * tile (vision/cell_tile.h), and the grid and the texts make the Markdown
 * table. Also the layout as JSON (`--layout`) and the cell tiles as files
 * (`--dump-cells`, what the cell reader is trained on). */
#ifndef NV_CLI_TABLE_CELLS_H
#define NV_CLI_TABLE_CELLS_H

#include <stdio.h>

#include "fusion/table_metrics.h"
#include "nvlm.h"
#include "vision/cell_tile.h"
#include "vision/image.h"
#include "vision/ink_map.h"
#include "vision/table_layout.h"

/* The context a cell reader's model is loaded with: a cell's prompt and
 * answer are a few hundred tokens, and every session of a batch holds a KV
 * cache this long. */
#define TABLE_CELLS_CONTEXT 1024

/* An image with its ink map and layout. */
typedef struct table_page {
    nv_image image;
    nv_ink_map map;
    nv_table_layout layout;
} table_page;

/* Loads the image and finds its layout. Returns 0, NV_LAYOUT_NO_TABLE
 * (message in err; the image and its ink map are kept, the layout is
 * empty) or -1 (the page is emptied). Messages name the file. The caller
 * frees the page in every case. */
int table_page_load(const char *path, int64_t max_pixels, table_page *page,
                    char *err, size_t errlen);
/* The same for an image already decoded (copied; `name` only names it in
 * messages): what the server reads from a request body. */
int table_page_from_image(const nv_image *image, const char *name,
                          table_page *page, char *err, size_t errlen);
void table_page_free(table_page *page);

/* The layout as a JSON object: image size, rows, cols, line height, row
 * and column bands, cell boxes ([x0, y0, x1, y1], null when empty).
 * Caller frees. */
char *table_layout_json(const table_page *page, const char *path);

/* The image with what the layout saw drawn over it, as PNG: ink in red,
 * row lines in blue, column bands in green, cell boxes in magenta. */
int table_debug_png(const table_page *page, const char *path, char *err,
                    size_t errlen);

/* Writes each non-empty cell's tile as DIR/PREFIX_rRR_cCC.ppm (binary
 * PPM). Returns the number written, or -1 with a message. */
int table_dump_cells(const table_page *page, const nv_cell_tile_opts *opts,
                     const char *dir, const char *prefix, char *err,
                     size_t errlen);

/* Cell statistics of one table read. */
typedef struct cells_read_stats {
    int cells, empty, read, failed, truncated;
    int reread; /* cells read again because the model doubted them */
    /* prompt tokens of all readings, and those taken from the first
     * reading's chat template instead of run again */
    long prompt_tokens, prompt_tokens_reused;
    double ms_layout, ms_read;
} cells_read_stats;

/* How cells are read. */
typedef struct cells_read_opts {
    int max_new;        /* most tokens per cell */
    float temperature;  /* 0: greedy */
    uint64_t seed;      /* sampling seed (+ the cell's index) */
    /* Greedy only: a cell whose least likely answer token had a probability
     * below this is read again from its tile moved 1-2 px and with taller
     * and shorter text lines (REREAD_VIEWS in table_cells.c), and the likeliest
     * of its readings is kept (benchmarks.md, "Re-reading doubted cells").
     * 0: every cell is read once. */
    double reread_below;
    /* Models that read cells side by side, one thread each (the same
     * model loaded once per reader: table_readers_open); the readings are
     * the same as one reader's. n_readers 0: the model given reads alone. */
    nvlm_model *const *readers;
    int n_readers;
} cells_read_opts;

/* Most readers side by side. */
#define TABLE_MAX_READERS 64

/* The default of cells_read_opts.reread_below, chosen on generated val
 * tables (not the test split): it re-reads about a tenth of the cells. */
#define TABLE_REREAD_BELOW 0.7

/* Reads every non-empty cell with the model into a table (header row
 * first). Cells that cannot be read (too long for a tile) are left empty
 * and counted in stats->failed with a line each in *notes (malloc'd,
 * caller frees; NULL when none). */
int table_read_cells(nvlm_model *m, const table_page *page,
                     const cells_read_opts *ro, nv_table *out,
                     cells_read_stats *stats, char **notes, char *err,
                     size_t errlen);

/* The model's cell-reading tile options; -1 with a message when the model
 * has no cell reader (config.json `nvlm_cell_reader`). */
int table_cell_opts(const nvlm_model *m, nv_cell_tile_opts *opts, char *err,
                    size_t errlen);

#endif
