/* table_readers.h - the model loaded once more per thread, so that the
 * cells of a table are read side by side.
 *
 * Why: a cell is a small job (a 224 px tile through a 6-layer ViT, a
 * prompt of ~100 tokens, an answer of ~8), and splitting each of its
 * matrix products over two threads gains little (the decoder's products
 * have ~100 rows, its decode is one row). Two readers of one thread each,
 * each reading its own cells, keep both cores busy with whole jobs. A
 * model's scratch (decoder, cross-attention keys, thread pool) belongs to
 * one caller at a time, so each reader is its own nvlm_model; the weights
 * are mapped from the same file, so the pages are shared.
 *
 * Ownership: table_readers_open loads the models, table_readers_close
 * frees them; the caller passes them to table_run (table_run_opts.readers)
 * while they are open.
 */
#ifndef NV_CLI_TABLE_READERS_H
#define NV_CLI_TABLE_READERS_H

#include <stddef.h>

#include "cli/table_cells.h"
#include "nvlm.h"

typedef struct table_readers {
    nvlm_model *models[TABLE_MAX_READERS];
    int n; /* 0: none (the main model reads alone) */
} table_readers;

/* Loads `dir` with `opt` once per thread that opt->threads asks for (<= 0:
 * every core; at most TABLE_MAX_READERS), each model with one thread. One
 * thread asked for: nothing is loaded (r->n = 0). -1 with a message when
 * a model cannot be loaded (nothing is left loaded). OpenBLAS's thread
 * count is put back as it was (each load sets it). */
int table_readers_open(table_readers *r, const char *dir,
                       const nvlm_options *opt, char *err, size_t errlen);
void table_readers_close(table_readers *r);

#endif
