/* table_format.c - regularising and writing Markdown tables; see
 * table_format.h. */
#include "fusion/table_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int append(char **buf, size_t *len, size_t *cap, const char *s,
                  size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b)
            return -1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

int nv_table_regularize(nv_table *t, char **report, nv_error *err)
{
    char *rep = NULL;
    size_t len = 0, cap = 0;
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
            free(rep);
            return nv_fail(err, "out of memory");
        }
        t->cells[r] = cells;
        for (int c = have; c < width; c++) {
            cells[c] = calloc(1, 1);
            if (!cells[c]) {
                t->row_cells[r] = c;
                free(rep);
                return nv_fail(err, "out of memory");
            }
        }
        t->row_cells[r] = width;
        changed++;
        char line[160];
        int n = snprintf(line, sizeof line,
                         "%sbody row %d had %d cells, the header %d: %s",
                         len ? "\n" : "", r - hdr + 1, have, width,
                         have < width ? "padded with empty cells"
                                      : "extra cells dropped");
        if (report && append(&rep, &len, &cap, line, (size_t)n)) {
            free(rep);
            return nv_fail(err, "out of memory");
        }
    }
    if (report)
        *report = rep;
    else
        free(rep);
    return changed;
}

static int append_cell(char **buf, size_t *len, size_t *cap, const char *s)
{
    if (append(buf, len, cap, " ", 1))
        return -1;
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            /* Control bytes (line breaks among them) have no place in a
             * Markdown cell. */
            if (append(buf, len, cap, " ", 1))
                return -1;
        } else if (*s == '|') {
            if (append(buf, len, cap, "\\|", 2))
                return -1;
        } else if (append(buf, len, cap, s, 1)) {
            return -1;
        }
    }
    return append(buf, len, cap, " |", 2);
}

char *nv_table_write_markdown(const nv_table *t, nv_error *err)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int header = t->header_rows > 0 ? t->header_rows : 1;
    int rc = 0;
    for (int r = 0; r < t->n_rows && !rc; r++) {
        rc = append(&buf, &len, &cap, "|", 1);
        for (int c = 0; c < t->row_cells[r] && !rc; c++)
            rc = append_cell(&buf, &len, &cap, t->cells[r][c]);
        if (!rc)
            rc = append(&buf, &len, &cap, "\n", 1);
        if (!rc && r == header - 1) {
            rc = append(&buf, &len, &cap, "|", 1);
            for (int c = 0; c < t->row_cells[0] && !rc; c++)
                rc = append(&buf, &len, &cap, " --- |", 6);
            if (!rc)
                rc = append(&buf, &len, &cap, "\n", 1);
        }
    }
    if (rc || !buf) {
        free(buf);
        nv_fail(err, rc ? "out of memory" : "the table has no rows");
        return NULL;
    }
    return buf;
}
