/* table_format.c - regularising and writing Markdown tables; see
 * table_format.h. */
#include "fusion/table_format.h"

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

int nv_table_regularize(nv_table *t, char **report, nv_error *err)
{
    nv_strbuf rep = {0};
    if (report)
        *report = NULL;
    if (t->n_rows < 1)
        return nv_fail(err, "the table has no rows");
    int width = t->row_cells[0];
    if (width < 1)
        return nv_fail(err, "the table's header has no cells");
    int changed = 0;
    int hdr = t->header_rows > 0 ? t->header_rows : 1;
    for (int r = 1; r < t->n_rows; r++) {
        int have = t->row_cells[r];
        if (have == width)
            continue;
        /* Cells past the header's width go before the array shrinks. */
        for (int c = width; c < have; c++)
            free(t->cells[r][c]);
        if (have > width)
            t->row_cells[r] = width;
        char **cells = realloc(t->cells[r], sizeof(char *) * (size_t)width);
        if (!cells) {
            free(rep.s);
            return nv_fail(err, "out of memory");
        }
        t->cells[r] = cells;
        for (int c = have; c < width; c++) {
            cells[c] = calloc(1, 1);
            if (!cells[c]) {
                t->row_cells[r] = c;
                free(rep.s);
                return nv_fail(err, "out of memory");
            }
        }
        t->row_cells[r] = width;
        changed++;
        if (report)
            nv_strbuf_addf(&rep, "%sbody row %d had %d cells, the header %d: "
                           "%s", rep.len ? "\n" : "", r - hdr + 1, have,
                           width, have < width ? "padded with empty cells"
                                               : "extra cells dropped");
        if (rep.failed) {
            free(rep.s);
            return nv_fail(err, "out of memory");
        }
    }
    if (report)
        *report = rep.s;
    else
        free(rep.s);
    return changed;
}

static void append_cell(nv_strbuf *b, const char *s)
{
    nv_strbuf_add(b, " ");
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            /* Control bytes (line breaks among them) have no place in a
             * Markdown cell. */
            nv_strbuf_add(b, " ");
        else if (*s == '|')
            nv_strbuf_add(b, "\\|");
        else
            nv_strbuf_addn(b, s, 1);
    }
    nv_strbuf_add(b, " |");
}

char *nv_table_write_markdown(const nv_table *t, nv_error *err)
{
    nv_strbuf b = {0};
    int header = t->header_rows > 0 ? t->header_rows : 1;
    for (int r = 0; r < t->n_rows; r++) {
        nv_strbuf_add(&b, "|");
        for (int c = 0; c < t->row_cells[r]; c++)
            append_cell(&b, t->cells[r][c]);
        nv_strbuf_add(&b, "\n");
        if (r == header - 1) {
            nv_strbuf_add(&b, "|");
            nv_strbuf_repeat(&b, " --- |", t->row_cells[0]);
            nv_strbuf_add(&b, "\n");
        }
    }
    if (b.failed || !b.s) {
        free(b.s);
        nv_fail(err, b.failed ? "out of memory" : "the table has no rows");
        return NULL;
    }
    return b.s;
}
