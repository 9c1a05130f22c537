/* table_layout.c - rows, columns and cells from projection profiles; see
 * table_layout.h for the method. */
#include "vision/table_layout.h"

#include <stdlib.h>
#include <string.h>


/* An x column is a vertical rule when its faint ink (contrast above
 * RULE_CONTRAST: a light rule on a shaded band is still there) covers this
 * share of the table's height; a column of glyphs is broken by the blank
 * space between rows and stays well below. */
#define RULE_COVER 0.7
#define RULE_CONTRAST 20

/* A blank gap between ink is a column gap when it is at least this share of
 * the text height (a word space is about a quarter of it) and at least
 * MIN_COL_GAP pixels. */
#define COL_GAP_FRACTION 0.4
#define MIN_COL_GAP 4

/* Lines lower than this are specks of noise, not text. */
#define MIN_LINE_HEIGHT 3

void nv_table_layout_free(nv_table_layout *layout)
{
    free(layout->rows);
    free(layout->cols);
    free(layout->cells);
    memset(layout, 0, sizeof *layout);
}

typedef struct {
    int a, b; /* [a, b) */
} span;

/* Runs of indices whose count is > 0, joining runs separated by gaps of at
 * most `join` blank indices. Returns the number of runs (at most cap; more
 * are counted but not stored). */
static int find_runs(const int *count, int n, int join, span *runs, int cap)
{
    int k = 0;
    int i = 0;
    while (i < n) {
        while (i < n && count[i] == 0)
            i++;
        if (i >= n)
            break;
        int a = i;
        while (i < n && count[i] > 0)
            i++;
        if (k > 0 && k <= cap && a - runs[k - 1].b <= join) {
            runs[k - 1].b = i;
            continue;
        }
        if (k < cap)
            runs[k] = (span){a, i};
        k++;
    }
    return k;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Clears the ink of x columns that are vertical rules over [y0, y1), and
 * of the columns beside them (a blurred rule spreads, and text keeps at
 * least its cell padding away from a rule). */
static void remove_vertical_rules(uint8_t *ink, const uint8_t *contrast,
                                  int w, int y0, int y1)
{
    int height = y1 - y0;
    if (height < 8)
        return;
    for (int x = 0; x < w; x++) {
        int n = 0;
        for (int y = y0; y < y1; y++)
            n += contrast[(size_t)y * w + x] > RULE_CONTRAST;
        if (n < RULE_COVER * height)
            continue;
        for (int dx = -1; dx <= 1; dx++)
            if (x + dx >= 0 && x + dx < w)
                for (int y = y0; y < y1; y++)
                    ink[(size_t)y * w + x + dx] = 0;
    }
}

static int no_table(nv_error *err, const char *why)
{
    nv_fail(err, "no table found: %s", why);
    return NV_LAYOUT_NO_TABLE;
}

/* Ink box of the region [x0, x1) x [y0, y1). */
static nv_box ink_box(const uint8_t *ink, int w, int x0, int y0, int x1,
                      int y1)
{
    nv_box b = {x1, y1, x0, y0};
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (ink[(size_t)y * w + x]) {
                if (x < b.x0) b.x0 = x;
                if (x + 1 > b.x1) b.x1 = x + 1;
                if (y < b.y0) b.y0 = y;
                if (y + 1 > b.y1) b.y1 = y + 1;
            }
    if (b.x0 >= b.x1)
        return (nv_box){0, 0, 0, 0};
    return b;
}

static int layout_from_ink(uint8_t *ink, const uint8_t *contrast, int w,
                           int h, nv_table_layout *out, nv_error *err)
{
    int *prof = calloc((size_t)(w > h ? w : h), sizeof(int));
    span *lines = malloc(sizeof(span) * (NV_LAYOUT_MAX_ROWS + 1));
    span *bands = malloc(sizeof(span) * (NV_LAYOUT_MAX_COLS + 1));
    int *heights = malloc(sizeof(int) * (NV_LAYOUT_MAX_ROWS + 1));
    int rc = -1;
    if (!prof || !lines || !bands || !heights) {
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    /* The table's vertical extent, then its rules, then its lines. */
    int top = -1, bottom = -1;
    for (int y = 0; y < h; y++) {
        int n = 0;
        for (int x = 0; x < w; x++)
            n += ink[(size_t)y * w + x];
        if (n) {
            if (top < 0)
                top = y;
            bottom = y + 1;
        }
    }
    if (top < 0) {
        rc = no_table(err, "the image is blank (no ink)");
        goto done;
    }
    remove_vertical_rules(ink, contrast, w, top, bottom);
    for (int y = 0; y < h; y++) {
        int n = 0;
        for (int x = 0; x < w; x++)
            n += ink[(size_t)y * w + x];
        prof[y] = n;
    }
    int n_runs = find_runs(prof, h, 1, lines, NV_LAYOUT_MAX_ROWS + 1);
    int n_lines = 0;
    for (int i = 0; i < n_runs && i <= NV_LAYOUT_MAX_ROWS; i++)
        if (lines[i].b - lines[i].a >= MIN_LINE_HEIGHT)
            lines[n_lines++] = lines[i];
    /* Specks left by blur or JPEG along a rule are far lower than text. */
    if (n_lines > 2) {
        for (int i = 0; i < n_lines; i++)
            heights[i] = lines[i].b - lines[i].a;
        qsort(heights, (size_t)n_lines, sizeof(int), cmp_int);
        int median = heights[n_lines / 2], kept = 0;
        for (int i = 0; i < n_lines; i++)
            if (2 * (lines[i].b - lines[i].a) >= median)
                lines[kept++] = lines[i];
        n_lines = kept;
    }
    if (n_lines > NV_LAYOUT_MAX_ROWS) {
        nv_fail(err, "layout: more than %d text lines: too large a table",
                NV_LAYOUT_MAX_ROWS);
        goto done;
    }
    if (n_lines == 0) {
        rc = no_table(err, "no line of text (only specks)");
        goto done;
    }
    if (n_lines < 2) {
        rc = no_table(err, "one line of text, not a header and a row");
        goto done;
    }
    for (int i = 0; i < n_lines; i++)
        heights[i] = lines[i].b - lines[i].a;
    qsort(heights, (size_t)n_lines, sizeof(int), cmp_int);
    int line_h = heights[n_lines / 2];
    if (heights[n_lines - 1] > 3 * line_h + 4) {
        rc = no_table(err, "ink regions of very different heights "
                           "(a picture, not rows of text)");
        goto done;
    }
    /* Columns: ink over the lines only. */
    memset(prof, 0, sizeof(int) * (size_t)w);
    long total_ink = 0, line_area = 0;
    for (int i = 0; i < n_lines; i++) {
        line_area += (long)(lines[i].b - lines[i].a) * w;
        for (int y = lines[i].a; y < lines[i].b; y++)
            for (int x = 0; x < w; x++) {
                prof[x] += ink[(size_t)y * w + x];
                total_ink += ink[(size_t)y * w + x];
            }
    }
    int gap = (int)(COL_GAP_FRACTION * line_h + 0.5);
    if (gap < MIN_COL_GAP)
        gap = MIN_COL_GAP;
    int n_bands = find_runs(prof, w, gap - 1, bands, NV_LAYOUT_MAX_COLS + 1);
    if (n_bands > NV_LAYOUT_MAX_COLS) {
        nv_fail(err, "layout: more than %d columns: too large a table",
                NV_LAYOUT_MAX_COLS);
        goto done;
    }
    if (n_bands < 2) {
        rc = no_table(err, "one column of text, not a table");
        goto done;
    }
    int x_left = bands[0].a, x_right = bands[n_bands - 1].b;
    if (total_ink > 0.6 * (double)line_area * (x_right - x_left) / w) {
        rc = no_table(err, "ink covers most of the area (a picture, not "
                           "text)");
        goto done;
    }

    out->n_rows = n_lines;
    out->n_cols = n_bands;
    out->line_height = line_h;
    out->ink_threshold = NV_LAYOUT_INK_THRESHOLD;
    out->rows = malloc(sizeof(nv_box) * n_lines);
    out->cols = malloc(sizeof(nv_box) * n_bands);
    out->cells = malloc(sizeof(nv_box) * (size_t)n_lines * n_bands);
    if (!out->rows || !out->cols || !out->cells) {
        nv_table_layout_free(out);
        nv_fail(err, "layout: out of memory");
        goto done;
    }
    int y_top = lines[0].a, y_bottom = lines[n_lines - 1].b;
    for (int r = 0; r < n_lines; r++)
        out->rows[r] = (nv_box){x_left, lines[r].a, x_right, lines[r].b};
    for (int c = 0; c < n_bands; c++) {
        /* A column owns the blank space up to the middle of its gaps. */
        int a = c == 0 ? x_left : (bands[c - 1].b + bands[c].a) / 2;
        int b = c == n_bands - 1 ? x_right : (bands[c].b + bands[c + 1].a) / 2;
        out->cols[c] = (nv_box){a, y_top, b, y_bottom};
    }
    for (int r = 0; r < n_lines; r++)
        for (int c = 0; c < n_bands; c++)
            out->cells[(size_t)r * n_bands + c] =
                ink_box(ink, w, out->cols[c].x0, out->rows[r].y0,
                        out->cols[c].x1, out->rows[r].y1);
    rc = 0;
done:
    free(prof);
    free(lines);
    free(bands);
    free(heights);
    return rc;
}

int nv_table_layout_find(const nv_ink_map *map, nv_table_layout *out,
                         nv_error *err)
{
    memset(out, 0, sizeof *out);
    int w = map->width, h = map->height;
    size_t n = (size_t)w * h;
    uint8_t *ink = malloc(n ? n : 1);
    if (!ink)
        return nv_fail(err, "layout: out of memory for %dx%d", w, h);
    for (size_t i = 0; i < n; i++)
        ink[i] = map->contrast[i] > NV_LAYOUT_INK_THRESHOLD;
    int rc = layout_from_ink(ink, map->contrast, w, h, out, err);
    free(ink);
    return rc;
}
