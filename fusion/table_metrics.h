/* table_metrics.h - how close a predicted Markdown table is to the truth:
 * exact match, cell accuracy and TEDS (used by `nvlm bench --labels` and
 * `nvlm eval`).
 *
 * Parsing: the first run of consecutive lines that contain '|' is the
 * table. Each line is split at '|' ("\|" is a literal bar), one leading and
 * one trailing bar are dropped, cells are trimmed of spaces and tabs. A
 * delimiter row (cells of only '-', ':' and spaces) makes the rows above
 * it header rows and is not a row itself. Text with no such line is an
 * empty table (no rows).
 *
 * Metrics of a prediction P against the truth G:
 *   exact match   1 when P and G have the same rows, the same header rows
 *                 and equal cells, else 0 (so spacing and the dashes of the
 *                 delimiter row do not matter);
 *   cell accuracy the fraction of G's cells whose text equals P's cell at
 *                 the same (row, column) (a missing cell counts as wrong);
 *                 1 when G and P are both empty, 0 when only G is;
 *   TEDS          tree-edit-distance similarity (Zhong et al. 2020, the
 *                 PubTabNet metric) over the HTML tree the table would be:
 *                 <table> with <thead> (when there are header rows) and
 *                 <tbody> (when there are body rows), each holding <tr>s of
 *                 <td>s. Inserting or deleting a node costs 1; renaming
 *                 costs 1 between different tags, 0 between equal non-cell
 *                 tags, and the Levenshtein distance of the texts (in code
 *                 points) over the longer text's length between two cells.
 *                 TEDS = 1 - distance / max(nodes(P), nodes(G)); an empty
 *                 table scores 0 against a non-empty one, two empty tables 1.
 */
#ifndef NV_FUSION_TABLE_METRICS_H
#define NV_FUSION_TABLE_METRICS_H

#include <stddef.h>

#include "core/error.h"

/* Trees larger than this are refused (the distance needs n1 x n2 memory). */
#define NV_TABLE_MAX_NODES 3000

typedef struct nv_table {
    int n_rows;
    int header_rows; /* the first header_rows rows are the header */
    int *row_cells;  /* [n_rows] cells in each row */
    char ***cells;   /* [n_rows][row_cells[r]] NUL-terminated, owned */
} nv_table;

/* Parses the first Markdown table in text[0..len). An empty table is not
 * an error. Free with nv_table_free. */
int nv_table_parse_markdown(const char *text, size_t len, nv_table *out,
                            nv_error *err);
void nv_table_free(nv_table *t);

typedef struct nv_table_scores {
    double exact_match;
    double cell_accuracy;
    double teds;
} nv_table_scores;

int nv_table_score(const nv_table *pred, const nv_table *truth,
                   nv_table_scores *out, nv_error *err);

/* Same, from Markdown text. */
int nv_table_score_markdown(const char *pred, size_t pred_len,
                            const char *truth, size_t truth_len,
                            nv_table_scores *out, nv_error *err);

#endif
