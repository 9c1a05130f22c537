/* test_table_layout.c - the ink map and the table layout on images drawn
 * here: tables whose "glyphs" are drawn rectangles (an 'H' each), so every
 * row, column and cell ink box is known exactly.
 *
 * Tables: plain; grid rules with a shaded header and zebra rows; a dark
 * header band with light text (the page's own level) over horizontal rules;
 * the same in a page twice the table's width; a right-aligned column of two-word entries whose word space is blank on
 * every line (the header settles that it is one column); a long table.
 * Each must give its rows x columns and every cell's ink box exactly, empty
 * cells empty.
 * Not tables (NV_LAYOUT_NO_TABLE with a reason): a blank page, random noise,
 * a photo-like gradient with blobs, one line of text, one column of text.
 * Tiny images (1x1, 2x300, 300x2) are refused as no table, and a 4000x4000
 * blank page is refused within seconds and bounded memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tests/check.h"
#include "vision/image.h"
#include "vision/ink_map.h"
#include "vision/table_layout.h"

#define GLYPH_W 6
#define GLYPH_H 12
#define GLYPH_GAP 2
#define MAX_R 48
#define MAX_C 6

static void fill(nv_image *im, int x0, int y0, int x1, int y1, int v)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < im->height; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < im->width; x++)
            memset(im->rgb + 3 * ((size_t)y * im->width + x), v, 3);
}

static nv_image blank(int w, int h, int v)
{
    nv_image im;
    nv_error err = {{0}};
    if (nv_image_alloc(&im, w, h, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    memset(im.rgb, v, (size_t)w * h * 3);
    return im;
}

/* A cell's text: words of n glyphs each ("3 2": a 3-glyph word, a space,
 * a 2-glyph word); "" is an empty cell. */
static int text_width(const char *t, int space)
{
    int w = 0, first = 1;
    for (const char *p = t; *p; p++) {
        if (*p == ' ')
            continue;
        int n = *p - '0';
        w += (first ? 0 : space) + n * GLYPH_W + (n - 1) * GLYPH_GAP;
        first = 0;
    }
    return w;
}

/* Draws t with its left edge at x, top at y; returns its ink box. */
static nv_box draw_text(nv_image *im, const char *t, int x, int y, int space,
                        int ink)
{
    nv_box b = {0, 0, 0, 0};
    int first = 1;
    for (const char *p = t; *p; p++) {
        if (*p == ' ')
            continue;
        int n = *p - '0';
        if (!first)
            x += space;
        if (first)
            b = (nv_box){x, y, x, y + GLYPH_H};
        for (int g = 0; g < n; g++) {
            /* An 'H': two stems and a bar, so that no pixel row of a line
             * is mostly ink (such a row would be a rule). */
            fill(im, x, y, x + 2, y + GLYPH_H, ink);
            fill(im, x + GLYPH_W - 2, y, x + GLYPH_W, y + GLYPH_H, ink);
            fill(im, x, y + GLYPH_H / 2 - 1, x + GLYPH_W, y + GLYPH_H / 2 + 1,
                 ink);
            x += GLYPH_W + (g + 1 < n ? GLYPH_GAP : 0);
        }
        b.x1 = x;
        first = 0;
    }
    return b;
}

enum { PLAIN, GRID_ZEBRA, DARK_HEADER };

typedef struct {
    int rows, cols; /* rows include the header */
    const char *text[MAX_R][MAX_C];
    char align[MAX_C]; /* 'l', 'r', 'c' */
    int style, pad, space;
    int page_right; /* extra page to the right (a browser window wider than
                       its table) */
} table_spec;

typedef struct {
    nv_image im;
    nv_box cell[MAX_R][MAX_C];
} drawn_table;

static drawn_table draw_table(const table_spec *t)
{
    drawn_table d;
    memset(&d, 0, sizeof d);
    int margin = 12, pad_y = 6, page = 250, ink = 25;
    int pitch = GLYPH_H + 2 * pad_y;
    int widths[MAX_C], xs[MAX_C + 1];
    xs[0] = margin;
    for (int c = 0; c < t->cols; c++) {
        widths[c] = 0;
        for (int r = 0; r < t->rows; r++) {
            int tw = text_width(t->text[r][c], t->space);
            widths[c] = tw > widths[c] ? tw : widths[c];
        }
        widths[c] += 2 * t->pad + 1;
        xs[c + 1] = xs[c] + widths[c];
    }
    int width = xs[t->cols] + margin + t->page_right, height = 2 * margin + pitch * t->rows;
    d.im = blank(width, height, page);
    int right = xs[t->cols];
    if (t->style == GRID_ZEBRA) {
        fill(&d.im, xs[0], margin, right, margin + pitch, 205);
        for (int r = 2; r < t->rows; r += 2)
            fill(&d.im, xs[0], margin + r * pitch, right,
                 margin + (r + 1) * pitch, 228);
        for (int r = 0; r <= t->rows; r++)
            fill(&d.im, xs[0], margin + r * pitch, right + 1,
                 margin + r * pitch + 1, 110);
        for (int c = 0; c <= t->cols; c++)
            fill(&d.im, xs[c], margin, xs[c] + 1, height - margin + 1, 110);
    } else if (t->style == DARK_HEADER) {
        fill(&d.im, xs[0], margin, right, margin + pitch, 35);
        for (int r = 1; r <= t->rows; r++)
            fill(&d.im, xs[0], margin + r * pitch, right,
                 margin + r * pitch + 1, 100);
    }
    for (int r = 0; r < t->rows; r++)
        for (int c = 0; c < t->cols; c++) {
            const char *s = t->text[r][c];
            int tw = text_width(s, t->space);
            int x = t->align[c] == 'l'   ? xs[c] + t->pad
                    : t->align[c] == 'r' ? xs[c + 1] - t->pad - 1 - tw
                                         : xs[c] + (widths[c] - tw) / 2;
            int v = t->style == DARK_HEADER && r == 0 ? page : ink;
            d.cell[r][c] = draw_text(&d.im, s, x, margin + r * pitch + pad_y,
                                     t->space, v);
        }
    return d;
}

static int layout_of(const nv_image *im, nv_table_layout *l, char *why,
                     size_t n)
{
    nv_ink_map map;
    nv_error err = {{0}};
    memset(l, 0, sizeof *l);
    int rc = nv_ink_map_make(im, &map, &err);
    if (!rc)
        rc = nv_table_layout_find(&map, l, &err);
    snprintf(why, n, "%s", rc ? err.msg : "");
    nv_ink_map_free(&map);
    return rc;
}

static int same_box(nv_box a, nv_box b)
{
    if (a.x0 >= a.x1 && b.x0 >= b.x1)
        return 1;
    return a.x0 == b.x0 && a.y0 == b.y0 && a.x1 == b.x1 && a.y1 == b.y1;
}

static void check_table(const char *name, const table_spec *t)
{
    drawn_table d = draw_table(t);
    nv_table_layout l;
    char why[1024];
    int rc = layout_of(&d.im, &l, why, sizeof why);
    if (!CHECK(rc == 0)) {
        fprintf(stderr, "  %s: %s\n", name, why);
        nv_image_free(&d.im);
        return;
    }
    int grid = CHECK(l.n_rows == t->rows && l.n_cols == t->cols);
    printf("  %s: %dx%d image, grid %dx%d (drawn %dx%d)\n", name,
           d.im.width, d.im.height, l.n_rows, l.n_cols, t->rows, t->cols);
    if (grid) {
        int bad = 0;
        for (int r = 0; r < t->rows; r++) {
            bad += !CHECK(l.rows[r].y0 == d.cell[r][0].y0 &&
                          l.rows[r].y1 == d.cell[r][0].y1);
            for (int c = 0; c < t->cols; c++) {
                const nv_box *got = nv_layout_cell(&l, r, c);
                nv_box want = d.cell[r][c];
                if (!CHECK(same_box(*got, want))) {
                    fprintf(stderr,
                            "  %s cell (%d,%d): got [%d,%d,%d,%d], drawn "
                            "[%d,%d,%d,%d]\n",
                            name, r, c, got->x0, got->y0, got->x1, got->y1,
                            want.x0, want.y0, want.x1, want.y1);
                    bad++;
                }
                /* Each column holds its cells' ink. */
                if (want.x0 < want.x1)
                    CHECK(l.cols[c].x0 <= want.x0 && want.x1 <= l.cols[c].x1);
            }
        }
        CHECK(bad == 0);
    }
    nv_table_layout_free(&l);
    nv_image_free(&d.im);
}

static void check_no_table(const char *name, const nv_image *im,
                           const char *reason)
{
    nv_table_layout l;
    char why[1024];
    int rc = layout_of(im, &l, why, sizeof why);
    printf("  %s (%dx%d): rc %d, \"%s\"\n", name, im->width, im->height, rc,
           why);
    CHECK(rc == NV_LAYOUT_NO_TABLE);
    CHECK(strstr(why, "no table found") != NULL);
    CHECK(strchr(why, '\n') == NULL);
    if (reason)
        CHECK(strstr(why, reason) != NULL);
    CHECK(l.rows == NULL && l.cols == NULL && l.cells == NULL);
    nv_table_layout_free(&l);
}

static uint32_t lcg = 12345;
static int rnd(int n)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (int)((lcg >> 8) % (uint32_t)n);
}

static void tables(void)
{
    table_spec plain = {
        .rows = 5, .cols = 3, .align = {'l', 'r', 'c'}, .style = PLAIN,
        .pad = 8, .space = 5,
        .text = {{"4", "3", "5"}, {"6", "4", "3"}, {"3 4", "", "2"},
                 {"5", "6", "4 1"}, {"2", "1", ""}}};
    check_table("plain", &plain);

    table_spec grid = plain;
    grid.style = GRID_ZEBRA;
    grid.pad = 4; /* 9 px between columns' text, 4 px from the rules */
    check_table("grid, shaded header, zebra", &grid);

    table_spec dark = plain;
    dark.style = DARK_HEADER;
    check_table("dark header, light text, horizontal rules", &dark);

    /* The same in a page as wide again to its right: each row of the dark
     * band is then half page level, half band, and the band must still be
     * the header's background (a browser screenshot read as one column
     * before the rows were judged over the content's span only). */
    table_spec wide_dark = dark;
    wide_dark.page_right = 140;
    check_table("dark header, page twice the table's width", &wide_dark);

    /* Column 1 is right-aligned "N 2" entries: the word space before the
     * last word is blank on every line and wider than MIN_COL_GAP, but the
     * header sits over the last word only: one column. */
    table_spec words = {
        .rows = 4, .cols = 3, .align = {'l', 'r', 'l'}, .style = PLAIN,
        .pad = 8, .space = 6,
        .text = {{"4", "2", "3"}, {"3", "3 2", "4"}, {"5", "1 2", "2"},
                 {"2", "4 2", "5"}}};
    check_table("right-aligned two-word column", &words);

    table_spec longer = {.rows = 40, .cols = 4, .align = {'l', 'r', 'c', 'r'},
                         .style = GRID_ZEBRA, .pad = 6, .space = 5};
    static const char *const pool[] = {"3", "5", "2 3", "6", "4", "1", "7"};
    for (int r = 0; r < longer.rows; r++)
        for (int c = 0; c < longer.cols; c++)
            longer.text[r][c] = r == 0 ? "4" : pool[(r * 3 + c * 5) % 7];
    check_table("40 rows, 4 columns", &longer);
}

static void not_tables(void)
{
    nv_image im = blank(300, 200, 255);
    check_no_table("blank page", &im, "blank");
    nv_image_free(&im);

    im = blank(240, 160, 0);
    for (size_t i = 0; i < (size_t)240 * 160 * 3; i++)
        im.rgb[i] = (uint8_t)rnd(256);
    check_no_table("random noise", &im, NULL);
    nv_image_free(&im);

    /* A photo: a diagonal gradient, JPEG-like noise and a few dark blobs. */
    im = blank(320, 240, 0);
    for (int y = 0; y < 240; y++)
        for (int x = 0; x < 320; x++) {
            int v = 30 + (x + 2 * y) * 200 / (320 + 480) + rnd(9) - 4;
            memset(im.rgb + 3 * ((size_t)y * 320 + x), v, 3);
        }
    for (int k = 0; k < 6; k++) {
        int cx = 20 + rnd(280), cy = 20 + rnd(200), r = 8 + rnd(25);
        for (int y = cy - r; y < cy + r; y++)
            for (int x = cx - r; x < cx + r; x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r)
                    fill(&im, x, y, x + 1, y + 1, 10 + rnd(30));
    }
    check_no_table("photo (gradient, blobs)", &im, NULL);
    nv_image_free(&im);

    table_spec line = {.rows = 1, .cols = 3, .align = {'l', 'l', 'l'},
                       .style = PLAIN, .pad = 8, .space = 5,
                       .text = {{"4 3", "5", "2 6"}}};
    drawn_table d = draw_table(&line);
    check_no_table("one line of text", &d.im, "one line");
    nv_image_free(&d.im);

    table_spec column = {.rows = 6, .cols = 1, .align = {'l'},
                         .style = PLAIN, .pad = 8, .space = 5,
                         .text = {{"5"}, {"3 4"}, {"6 2"}, {"2 5 3"}, {"4"},
                                  {"7 1"}}};
    d = draw_table(&column);
    check_no_table("one column of text", &d.im, "one column");
    nv_image_free(&d.im);
}

static void tiny_and_large(void)
{
    nv_image im = blank(1, 1, 255);
    check_no_table("1x1 white", &im, NULL);
    fill(&im, 0, 0, 1, 1, 0);
    check_no_table("1x1 black", &im, NULL);
    nv_image_free(&im);

    im = blank(2, 300, 255);
    check_no_table("2x300 white", &im, NULL);
    for (int y = 0; y < 300; y += 3)
        fill(&im, y % 2, y, y % 2 + 1, y + 1, 0);
    check_no_table("2x300 specks", &im, NULL);
    nv_image_free(&im);

    im = blank(300, 2, 255);
    fill(&im, 10, 0, 290, 2, 0);
    check_no_table("300x2 bar", &im, NULL);
    nv_image_free(&im);

    /* A large blank page: refused quickly, memory bounded by a few bytes a
     * pixel (the RGB image is 48 MB). */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    im = blank(4000, 4000, 250);
    check_no_table("4000x4000 blank", &im, "blank");
    nv_image_free(&im);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  4000x4000 blank: %.2f s, peak resident %ld MB\n", s,
           ru.ru_maxrss / 1024);
    CHECK(s < 15.0);
    CHECK(ru.ru_maxrss / 1024 < 600);
}

int main(void)
{
    tables();
    not_tables();
    tiny_and_large();
    return check_summary("table_layout");
}
