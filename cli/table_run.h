/* table_run.h - one table image through a model into a well-formed
 * Markdown table. Shared by `nvlm table`, `nvlm eval` and `nvlm serve`. Two ways:
 *   cells (default): the layout finds the grid and the model reads each
 *          cell from its own tile (cli/table_cells.h);
 *   whole (--whole): the model writes the whole table for
 *          nvlm_table_prompt in one generation (NVLM's own setting), which
 *          is parsed and repaired. */
#ifndef NV_CLI_TABLE_RUN_H
#define NV_CLI_TABLE_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "nvlm.h"
#include "vision/image.h"

typedef struct table_run_opts {
    int whole;          /* 1: one generation for the whole image */
    int max_new;        /* most tokens per generation (table or cell) */
    int64_t max_pixels; /* image cap (<= 0: the default) */
    float temperature;  /* 0: greedy (the default) */
    uint64_t seed;      /* sampling seed when temperature > 0 */
} table_run_opts;

typedef struct table_result {
    int no_table;   /* cells: the layout found no table (why: in raw) */
    int rows, cols; /* cells: the layout's grid */
    int cells_read, cells_empty, cells_failed, cells_truncated;
    double ms_layout;
    char *raw;      /* whole: what the model generated (UTF-8 as generated);
                       cells: why there is no table, else NULL */
    size_t raw_len;
    char *markdown; /* the well-formed table; NULL when none was found */
    char *repairs;  /* lines describing repairs, NULL when none */
    const char *stop_reason; /* whole: why the generation stopped
                                (nvlm_stats.stop_reason); a table cut at
                                "limit" or "context" is truncated */
    int truncated;  /* whole: the generation did not end by itself;
                       cells: cells_truncated > 0 */
    int n_repairs;
    double ms_total;
} table_result;

/* Greedy generation unless opts->temperature > 0. Returns -1 with a message (and `out` emptied) only
 * when the image cannot be read or the model cannot run; no table (no grid
 * found, or a generation without a table) is not an error here: markdown
 * is NULL and raw says what there was. Notes on cells that were not read
 * or were cut go to `repairs`. */
int table_run(nvlm_model *m, const char *image, const table_run_opts *opts,
              table_result *out, char *err, size_t errlen);
/* The same for an image already decoded (`name` only names it in
 * messages): the server's /v1/tables. */
int table_run_image(nvlm_model *m, const char *name, const nv_image *img,
                    const table_run_opts *opts, table_result *out, char *err,
                    size_t errlen);
void table_result_free(table_result *r);

#endif
