/* table_format.h - making a parsed Markdown table well-formed and writing
 * it back as GitHub Markdown (for `nvlm table`).
 *
 * A model's table may be ragged: a body row with fewer or more cells than
 * the header. nv_table_regularize pads short rows with empty cells and cuts
 * long ones to the header's width, and reports each repair, so a malformed
 * generation is repaired and said so, never printed as if fine.
 * nv_table_write_markdown writes "| a | b |" rows, the "| --- |" separator
 * after the header, and escapes "|" in cells as "\|".
 */
#ifndef NV_FUSION_TABLE_FORMAT_H
#define NV_FUSION_TABLE_FORMAT_H

#include "core/error.h"
#include "fusion/table_metrics.h"

/* Fixes the row widths of t in place (header width wins). Returns the
 * number of rows changed, or -1 on error. `report` (may be NULL) receives
 * one malloc'd line per repair, joined by '\n'; the caller frees it. */
int nv_table_regularize(nv_table *t, char **report, nv_error *err);

/* The table as GitHub Markdown, one row per line, ending in '\n'. The
 * first header_rows rows (at least one) form the header. Caller frees. */
char *nv_table_write_markdown(const nv_table *t, nv_error *err);

#endif
